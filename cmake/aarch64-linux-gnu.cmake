# Cross-compiling usmoe for 64-bit Arm Linux (aarch64) on a Debian 12 x86-64 host.
#
#   apt-get install g++-aarch64-linux-gnu qemu-user
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install libhwy-dev:arm64 libgtest-dev:arm64 libgomp1:arm64
#   cmake -S . -B build-arm -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DUSMOE_MINIMAL=ON -DUSMOE_BUILD_TESTS=ON
#
# tests/run_arm.sh does all of this and runs the tests under qemu (NEON and
# SVE/SVE2 CPU models). GCC, not clang: Highway 1.0.3 has runtime dispatch on
# Arm only with GCC. oneDNN stays off (libdnnl-dev:arm64 is not
# co-installable with the amd64 one; USMOE_MINIMAL turns it off).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Finds /usr/lib/aarch64-linux-gnu/cmake/{hwy,GTest} from the :arm64 packages.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# Test binaries (gtest discovery included) run under user-mode qemu; binfmt_misc
# may be absent, so qemu is named explicitly. Override the CPU with
# -DUSMOE_QEMU_CPU=cortex-a72 (NEON only) etc.
if(NOT DEFINED USMOE_QEMU_CPU)
  set(USMOE_QEMU_CPU max)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-cpu;${USMOE_QEMU_CPU})
