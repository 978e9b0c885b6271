#!/bin/sh
# GPU machine check (PyTorch with CUDA, no Debian packages): builds fratmae's ITK-free core
# against PyTorch's LibTorch with the headers in INCLUDE_DIR (see bench/device_check.sh for how
# to make it), then pre-trains the `paper` preset in bf16 on a phantom cache and reports the
# metrics and the GPU memory peak (nvidia-smi, sampled every 100 ms).
# Usage: bench/device/pretrain_gpu.sh [INCLUDE_DIR=build-devcheck/include] [CASES] [STEPS] [BATCH]
set -e
INC=${1:-build-devcheck/include}
CASES=${2:-48}
STEPS=${3:-30}
BATCH=${4:-24}
T=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
ABI=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'
OBJ=${TMPDIR:-/tmp}/fratmae-gpu-obj
mkdir -p "$OBJ"
FLAGS="-std=c++17 -O2 -DFMT_HEADER_ONLY -DUSE_C10D_GLOO -DUSE_DISTRIBUTED -DFRATMAE_ASSETS_DIR='\"$PWD/assets\"' -Isrc -I$INC -isystem $T/include -isystem $T/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=$ABI"
SRCS="$(ls src/core/*.cpp src/data/*.cpp src/phantom/*.cpp src/text/*.cpp src/model/*.cpp src/train/*.cpp) src/viz/plot.cpp bench/device/pretrain_gpu.cpp"
start=$(date +%s)
echo "$SRCS" | tr ' ' '\n' | xargs -P "$(nproc)" -I{} sh -c "o=$OBJ/\$(echo {} | tr / _).o; [ \$o -nt {} ] || c++ $FLAGS -c {} -o \$o 2> \$o.err || { cat \$o.err; exit 255; }"
c++ -o "$OBJ/pretrain_gpu" "$OBJ"/*.o -L"$T/lib" -Wl,-rpath,"$T/lib" -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed -ltorch -ltorch_cpu -lc10 -l:libz.so.1 -lpthread
echo "build: $(( $(date +%s) - start )) s"
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OBJ/mem.log" 2>/dev/null &
SMI=$!
"$OBJ/pretrain_gpu" "$CASES" "$STEPS" "$BATCH" "${TMPDIR:-/tmp}/fratmae-gpu"
kill $SMI 2>/dev/null || true
echo "GPU memory used, peak (MiB, nvidia-smi): $(sort -n "$OBJ/mem.log" | tail -1)"
