#!/bin/sh
# Builds bench/data_device_check against the Python PyTorch's LibTorch (CUDA) without CMake's
# package lookups, then runs it: for GPU machines that have PyTorch but not the Debian
# packages. Headers of nlohmann-json, spdlog, fmt and zlib come from INCLUDE_DIR.
# Make INCLUDE_DIR on a Debian machine with the project's dependencies installed:
#   mkdir -p build-devcheck/include/fratmae && cp -r /usr/include/{nlohmann,spdlog,fmt,zlib.h,zconf.h} \
#     build-devcheck/include/ && cp build/generated/fratmae/version.h build-devcheck/include/fratmae/
# Usage: bench/device_check.sh [INCLUDE_DIR=build-devcheck/include] [CASES=24] [DEVICE=cuda]
# (TORCH_INCLUDE / TORCH_LIB / TORCH_LIBS override the LibTorch found through python3.)
set -e
INC=${1:-build-devcheck/include}
CASES=${2:-24}
DEVICE=${3:-cuda}
if [ -z "$TORCH_INCLUDE" ]; then
  T=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
  ABI=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
  TORCH_INCLUDE="-isystem $T/include -isystem $T/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=$ABI"
  TORCH_LIB=$T/lib
  TORCH_LIBS="-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed -ltorch -ltorch_cpu -lc10"
fi
OBJ=${TMPDIR:-/tmp}/fratmae-devcheck-obj
mkdir -p "$OBJ"
FLAGS="-std=c++17 -O2 -DFMT_HEADER_ONLY -DFRATMAE_ASSETS_DIR='\"$PWD/assets\"' -Isrc -I$INC $TORCH_INCLUDE"
SRCS="$(ls src/data/*.cpp src/phantom/*.cpp) src/core/volume.cpp src/core/atomic_output.cpp src/core/progress.cpp src/text/clip_tokenizer.cpp bench/data_device_check.cpp"
echo "$SRCS" | tr ' ' '\n' | xargs -P "$(nproc)" -I{} sh -c "o=$OBJ/\$(echo {} | tr / _).o; [ \$o -nt {} ] || c++ $FLAGS -c {} -o \$o"
c++ -o "$OBJ/data_device_check" "$OBJ"/*.o -L"$TORCH_LIB" -Wl,-rpath,"$TORCH_LIB" $TORCH_LIBS -l:libz.so.1 -lpthread
"$OBJ/data_device_check" "$DEVICE" "$CASES"
