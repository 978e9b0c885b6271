#!/bin/sh
# Makes the header folder the GPU machine needs (it has PyTorch but none of the Debian
# packages): nlohmann-json, spdlog, fmt, CLI11, stb, zlib and gloo headers from this machine's
# /usr/include, and fratmae/version.h from a configured build. Run here, from the repo root,
# then name the folder in the device run's `carry`.
# Usage: bench/device/make_include.sh [INCLUDE_DIR=build-devcheck/include] [BUILD_DIR=build]
set -e
INC=${1:-build-devcheck/include}
BUILD=${2:-build}
[ -f "$BUILD/generated/fratmae/version.h" ] || { echo "configure $BUILD first (cmake)" >&2; exit 1; }
mkdir -p "$INC/fratmae"
for d in nlohmann spdlog fmt CLI stb gloo; do
  [ -d "/usr/include/$d" ] || { echo "/usr/include/$d missing: run scripts/install-deps.sh" >&2; exit 1; }
  rm -rf "${INC:?}/$d" && cp -r "/usr/include/$d" "$INC/"
done
cp /usr/include/zlib.h /usr/include/zconf.h "$INC/"
cp "$BUILD/generated/fratmae/version.h" "$INC/fratmae/"
du -sh "$INC"
