#!/bin/sh
# Builds fratmae's ITK-free core and the given programs against the LibTorch of python3's torch
# (CUDA on the GPU machine), without CMake's package lookups: for machines that have PyTorch but
# not the Debian packages. Objects are cached in $OBJ (default $TMPDIR/fratmae-gpu-obj)
# and reused while newer than their source (headers are not tracked: remove $OBJ after a header change).
# Usage: bench/device/build_core.sh INCLUDE_DIR MAIN.cpp...   (from the repo root)
#   -> $OBJ/<name of MAIN without .cpp> for each MAIN
# TORCH_INCLUDE / TORCH_LIB / TORCH_LIBS override the LibTorch found through python3 (e.g. the
# Debian one, to try the script on a CPU machine).
set -e
INC=$1
shift
OBJ=${OBJ:-${TMPDIR:-/tmp}/fratmae-gpu-obj}
mkdir -p "$OBJ/core" "$OBJ/main"
if [ -z "$TORCH_INCLUDE" ]; then
  T=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')
  ABI=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
  TORCH_INCLUDE="-isystem $T/include -isystem $T/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=$ABI"
  TORCH_LIB=$T/lib
  TORCH_LIBS="-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed -ltorch -ltorch_cpu -lc10"
fi
FLAGS="-std=c++17 -O2 -DNDEBUG -DFMT_HEADER_ONLY -DUSE_C10D_GLOO -DUSE_DISTRIBUTED -DFRATMAE_ASSETS_DIR='\"$PWD/assets\"' -Isrc -I$INC $TORCH_INCLUDE"
# The core as CMake builds it: src/** except src/io and src/cli, plus the two ITK-free io files.
SRCS="$(ls src/core/*.cpp src/data/*.cpp src/phantom/*.cpp src/text/*.cpp src/model/*.cpp src/train/*.cpp \
         src/infer/*.cpp src/eval/*.cpp src/viz/*.cpp) src/io/suv.cpp src/io/dicom_time.cpp"
# One compile: SOURCE OBJECT (skipped when the object is newer). A source that fails is tried
# once more without the optional LibTorch-2 fast paths of core/torch_compat.h
# (-DFRATMAE_NO_FUSED_ADAMW), and the first error is shown either way.
cat > "$OBJ/cc.sh" <<EOS
#!/bin/sh
[ "\$2" -nt "\$1" ] && exit 0
c++ $FLAGS -c "\$1" -o "\$2" 2> "\$2.err" && exit 0
cat "\$2.err" >&2
c++ $FLAGS -DFRATMAE_NO_FUSED_ADAMW -c "\$1" -o "\$2" 2> "\$2.err2" || { cat "\$2.err2" >&2; exit 1; }
echo "build_core: WARNING \$1 compiled only with -DFRATMAE_NO_FUSED_ADAMW (see the error above)" >&2
EOS
chmod +x "$OBJ/cc.sh"
start=$(date +%s)
for s in $SRCS; do echo "$s $OBJ/core/$(echo "$s" | tr / _).o"; done |
  xargs -P "$(nproc)" -n 2 "$OBJ/cc.sh" || { echo "build_core: compilation failed" >&2; exit 1; }
rm -f "$OBJ/libcore.a"
ar rcs "$OBJ/libcore.a" "$OBJ"/core/*.o
for m in "$@"; do
  name=$(basename "$m" .cpp)
  "$OBJ/cc.sh" "$m" "$OBJ/main/$name.o"
  # shellcheck disable=SC2086
  c++ -o "$OBJ/$name" "$OBJ/main/$name.o" "$OBJ/libcore.a" -L"$TORCH_LIB" -Wl,-rpath,"$TORCH_LIB" $TORCH_LIBS \
      -l:libz.so.1 -lpthread -ldl
done
echo "build_core: $(echo "$SRCS" | wc -w) core sources and $# programs in $(( $(date +%s) - start )) s -> $OBJ"
