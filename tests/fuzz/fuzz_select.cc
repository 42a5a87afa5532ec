// libFuzzer harness: the selection entry points of the C ABI on raw float bit
// patterns — usmoe_topc_global, usmoe_topk_rows, usmoe_topc_cols.
//
// Each call either returns the documented error status (and then every output
// slot still holds the sentinel written before the call) or a result equal to
// a brute-force reference: sort by (value desc, index asc, -0.0 == +0.0).
// Build and run: tests/run_fuzz.sh.
#include <cstdint>
#include <vector>

#include "fuzz_common.h"

namespace {

constexpr int64_t kSentinelId = -0x5A5A5A5A5A5Bll;
constexpr uint32_t kSentinelBits = 0x7FBADBADu;  // a NaN no kernel produces

bool HasNaN(const std::vector<float>& v) {
  for (float f : v)
    if (std::isnan(f)) return true;
  return false;
}

// A size that is usually valid, sometimes 0 or negative.
int64_t Size(fuzz::ByteReader& r, int64_t max) {
  const uint8_t b = r.U8();
  if (b == 255) return 0;
  if (b == 254) return -1 - r.U8();
  return 1 + (b | (r.U8() << 8)) % max;
}

void TopCGlobal(fuzz::ByteReader& r) {
  const int64_t n = Size(r, 2048);
  const int64_t nv = n > 0 ? n : 1;
  std::vector<float> v(static_cast<size_t>(nv));
  for (float& f : v) f = fuzz::NextFloat(r);
  if (r.U8() < 200)  // mostly no NaN, so that the selection itself is exercised
    for (float& f : v)
      if (std::isnan(f)) f = -0.0f;
  int64_t c;
  const uint8_t cm = r.U8();
  if (cm < 8) c = 0;
  else if (cm < 16) c = n;
  else if (cm == 16) c = n + 1;
  else if (cm == 17) c = -1;
  else c = r.U16() % (nv + 1);
  int64_t cap = c;
  const uint8_t capm = r.U8();
  if (capm < 20) cap = c - 1;
  else if (capm < 60) cap = c + 1 + r.U8() % 8;
  const bool null_indices = r.U8() < 6;
  std::vector<int64_t> out(static_cast<size_t>(cap > 0 ? cap : 1) + 1, kSentinelId);

  FUZZ_LOG("topc_global n=%lld c=%lld cap=%lld null=%d\n", (long long)n, (long long)c,
           (long long)cap, null_indices);
  const usmoe_status s =
      usmoe_topc_global(v.data(), n, c, null_indices ? nullptr : out.data(), cap);

  const bool bad_arg = n < 1 || c < 0 || c > n || (c > 0 && null_indices);
  const bool too_small = cap < c;
  const bool nan = HasNaN(v);
  if (bad_arg || too_small || nan) {
    FUZZ_CHECK(s != USMOE_STATUS_SUCCESS);
    FUZZ_CHECK((bad_arg && s == USMOE_STATUS_INVALID_ARGUMENT) ||
               (too_small && s == USMOE_STATUS_BUFFER_TOO_SMALL) ||
               (nan && s == USMOE_STATUS_NON_FINITE_INPUT));
    for (int64_t x : out) FUZZ_CHECK(x == kSentinelId);
    return;
  }
  FUZZ_CHECK(s == USMOE_STATUS_SUCCESS);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  fuzz::SortByRule(v.data(), idx);
  std::vector<bool> chosen(static_cast<size_t>(n), false);
  for (int64_t i = 0; i < c; ++i) chosen[idx[i]] = true;
  int64_t j = 0;
  for (int64_t i = 0; i < n; ++i)
    if (chosen[i]) {
      FUZZ_CHECK(out[j] == i);  // the reference winners, in ascending order
      ++j;
    }
  for (size_t i = static_cast<size_t>(c); i < out.size(); ++i) FUZZ_CHECK(out[i] == kSentinelId);
}

// Row top-k (cols = false) or column top-C (cols = true) of a T×N matrix.
void TopRowsOrCols(fuzz::ByteReader& r, bool cols) {
  const int64_t T = Size(r, 64), N = Size(r, 32);
  const int64_t tv = T > 0 ? T : 1, nv = N > 0 ? N : 1;
  std::vector<float> m(static_cast<size_t>(tv * nv));
  for (float& f : m) f = fuzz::NextFloat(r);
  if (r.U8() < 200)
    for (float& f : m)
      if (std::isnan(f)) f = 0.0f;
  const int64_t lines = cols ? N : T, len = cols ? T : N;  // select `kk` of `len` per line
  const int64_t lenv = len > 0 ? len : 1;
  int64_t kk;
  const uint8_t km = r.U8();
  if (km < 10) kk = 0;
  else if (km < 14) kk = len + 1;
  else if (km < 30) kk = len;
  else kk = 1 + r.U8() % lenv;
  const uint8_t nulls = r.U8();
  const bool null_in = nulls == 0, null_ids = nulls == 1, null_vals = nulls == 2;
  const size_t out_n = static_cast<size_t>((lines > 0 ? lines : 1) * (kk > 0 ? kk : 1)) + 1;
  std::vector<int64_t> ids(out_n, kSentinelId);
  std::vector<float> vals(out_n, fuzz::FromBits(kSentinelBits));

  FUZZ_LOG("%s T=%lld N=%lld k=%lld nulls=%d\n", cols ? "topc_cols" : "topk_rows",
           (long long)T, (long long)N, (long long)kk, nulls);
  for (int64_t t = 0; t < T && FuzzVerbose(); ++t) {
    for (int64_t e = 0; e < N; ++e) FUZZ_LOG(" %g", m[t * N + e]);
    FUZZ_LOG("\n");
  }
  const float* in = null_in ? nullptr : m.data();
  int64_t* pi = null_ids ? nullptr : ids.data();
  float* pv = null_vals ? nullptr : vals.data();
  const usmoe_status s = cols ? usmoe_topc_cols(in, T, N, kk, pi, pv)
                              : usmoe_topk_rows(in, T, N, kk, pi, pv);

  const bool bad_arg = T < 1 || N < 1 || kk < 1 || kk > len || null_in || null_ids || null_vals;
  const bool nan = HasNaN(m);
  if (bad_arg || nan) {
    FUZZ_CHECK((bad_arg && s == USMOE_STATUS_INVALID_ARGUMENT) ||
               (nan && s == USMOE_STATUS_NON_FINITE_INPUT));
    for (int64_t x : ids) FUZZ_CHECK(x == kSentinelId);
    for (float x : vals) FUZZ_CHECK(fuzz::ToBits(x) == kSentinelBits);
    return;
  }
  FUZZ_CHECK(s == USMOE_STATUS_SUCCESS);
  std::vector<float> line(static_cast<size_t>(len));
  std::vector<int64_t> idx(static_cast<size_t>(len));
  for (int64_t l = 0; l < lines; ++l) {
    for (int64_t i = 0; i < len; ++i) {
      line[i] = cols ? m[i * N + l] : m[l * N + i];
      idx[i] = i;
    }
    fuzz::SortByRule(line.data(), idx);
    for (int64_t i = 0; i < kk; ++i)
      FUZZ_LOG("line %lld #%lld: got %lld want %lld\n", (long long)l, (long long)i,
               (long long)ids[l * kk + i], (long long)idx[i]);
    for (int64_t i = 0; i < kk; ++i) {
      FUZZ_CHECK(ids[l * kk + i] == idx[i]);  // same winners, same order
      FUZZ_CHECK(fuzz::ToBits(vals[l * kk + i]) == fuzz::ToBits(line[idx[i]]));
    }
  }
  FUZZ_CHECK(ids[lines * kk] == kSentinelId);  // nothing written past the end
  FUZZ_CHECK(fuzz::ToBits(vals[lines * kk]) == kSentinelBits);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  usmoe_set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::ByteReader r(data, size);
  const uint8_t op = r.U8();
  fuzz::PickTarget(r.U8());
  FUZZ_CHECK(usmoe_set_num_threads(1 + (op >> 7)) == USMOE_STATUS_SUCCESS);
  switch (op % 3) {
    case 0: TopCGlobal(r); break;
    case 1: TopRowsOrCols(r, false); break;
    default: TopRowsOrCols(r, true); break;
  }
  return 0;
}
