#!/usr/bin/env bash
# Builds the core, the I/O library and their tests with AddressSanitizer and UBSan
# (-fsanitize=address,undefined, GCC) into build-asan/ and runs the test suite there.
#
#   scripts/sanitize.sh [CTEST_REGEX]        (a full build: about 40 minutes on two cores)
#
# LibTorch, ITK and DCMTK are Debian's own, not instrumented: errors are reported in fratmae's
# code and in what it passes to them. Leak checking is on; ODR checks are off (LibTorch's
# shared libraries define some symbols twice, which is not fratmae's to fix).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${FRATMAE_JOBS:-$(nproc)}
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRATMAE_BUILD_TESTS=ON -DFRATMAE_BUILD_BENCH=OFF \
      -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
cmake --build build-asan -j "$jobs"
export ASAN_OPTIONS=detect_leaks=1:detect_odr_violation=0:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j "$jobs" ${1:+-R "$1"}
