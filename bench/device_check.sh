#!/bin/sh
# Builds bench/data_device_check against the Python PyTorch's LibTorch (CUDA) with
# bench/device/build_core.sh (no CMake package lookups: for GPU machines that have PyTorch but
# not the Debian packages), then runs it. Headers come from INCLUDE_DIR, made on a Debian
# machine with the project's dependencies by bench/device/make_include.sh.
# Usage: bench/device_check.sh [INCLUDE_DIR=build-devcheck/include] [CASES=24] [DEVICE=cuda]
# (TORCH_INCLUDE / TORCH_LIB / TORCH_LIBS override the LibTorch found through python3.)
set -e
INC=${1:-build-devcheck/include}
CASES=${2:-24}
DEVICE=${3:-cuda}
export OBJ=${OBJ:-${TMPDIR:-/tmp}/fratmae-gpu-obj}
sh bench/device/build_core.sh "$INC" bench/data_device_check.cpp
"$OBJ/data_device_check" "$DEVICE" "$CASES"
