#!/usr/bin/env bash
# Sets up (Debian packages), builds and runs the whole test suite. The README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=${FRATMAE_JOBS:-$(nproc)}
# With the benchmarks: the parity test against the PyTorch reference (ReferenceParity) needs them.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRATMAE_BUILD_TESTS=ON -DFRATMAE_BUILD_BENCH=ON
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"
