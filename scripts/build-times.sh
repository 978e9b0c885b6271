#!/usr/bin/env bash
# Measures clean (no ccache), clean (warm ccache) and incremental build times into build-times/.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${FRATMAE_JOBS:-$(nproc)}
dir=build-times
t() { local s; s=$(date +%s%N); "$@" > /dev/null; echo "$(( ($(date +%s%N) - s) / 1000000000 ))"; }
rm -rf "$dir"; cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
echo "clean, no ccache: $(CCACHE_DISABLE=1 t cmake --build "$dir" -j "$jobs") s"
rm -rf "$dir"; cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
echo "clean, warm ccache: $(t cmake --build "$dir" -j "$jobs") s"
touch src/io/convert.cpp
echo "incremental (src/io/convert.cpp touched): $(t cmake --build "$dir" -j "$jobs") s"
rm -rf "$dir"
