// Order-preserving float -> uint32 keys shared by the selection kernels.
#ifndef USMOE_SRC_SELECT_SELECT_KEYS_H_
#define USMOE_SRC_SELECT_SELECT_KEYS_H_

#include <cstdint>
#include <cstring>

namespace usmoe {

// Larger float -> larger key; -0.0 and +0.0 map to the same key because the
// tie rule treats them as equal scores. NaN never reaches selection (capi
// rejects it), so its keys need no meaning.
inline uint32_t OrderedKey(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  if (bits == 0x80000000u) bits = 0;
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// Inverse of OrderedKey (the +0.0 representative for the zero key).
inline float KeyToFloat(uint32_t key) {
  const uint32_t bits = (key & 0x80000000u) ? (key & 0x7FFFFFFFu) : ~key;
  float v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

}  // namespace usmoe

#endif  // USMOE_SRC_SELECT_SELECT_KEYS_H_
