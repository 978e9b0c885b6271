#!/usr/bin/env bash
# Numerical parity of fratmae (C++) and the PyTorch reference (bench/reference/fratmae_ref.py):
# for each case, bench/reference_parity writes weights, inputs, the drawn masking noise, loss,
# MSE, InfoNCE, masks and gradients; bench/reference/parity.py loads the same weights into the
# reference, runs the same step and compares (loss within 1e-4 relative, gradients within 1e-3
# of each tensor's largest entry; masks and the redrawn noise exactly). One case uses LibTorch's
# own GEMM instead of oneDNN (src/core/gemm.h); one starts fratmae from the reference's own
# initial weights (the names load both ways).
#
#   bench/reference/parity.sh [BUILD_DIR]     (default build-bench; needs the reference_parity
#                                               target: -DFRATMAE_BUILD_BENCH=ON)
# Environment: PYTHON (a python3 with torch; default: the first of python3, /usr/bin/python3
# that imports torch), PARITY_OUT (work folder; default a temporary one, removed at the end).
# Exit status 0 when every case is within tolerance, 77 when no Python with torch is found
# (ctest's skip code), 1 otherwise.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build-bench}"
exe="$build/bench/reference_parity"
[[ -x "$exe" ]] || { echo "parity: $exe not built (cmake -DFRATMAE_BUILD_BENCH=ON; ninja reference_parity)" >&2; exit 1; }

py="$("$here/torch_python.sh" 2>/dev/null)" || py=""
if [[ -z "$py" ]]; then echo "parity: SKIP (no python3 with torch; apt-get install python3-torch)"; exit 77; fi

out="${PARITY_OUT:-}"
if [[ -z "$out" ]]; then out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT; fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

cases=()
run() {  # name, reference_parity arguments...
  local name="$1"; shift
  "$exe" --out "$out/$name" "$@"
  cases+=("$out/$name")
}
run tiny-fratmae-pet     --preset tiny  --method fratmae         --batch 4 --seed 1 --target pet
run tiny-fratmae-ct      --preset tiny  --method fratmae         --batch 4 --seed 2 --target ct
run tiny-fratmae-sample  --preset tiny  --method fratmae         --batch 6 --seed 3 --target draw --mask-draw sample
run tiny-noalign-draw    --preset tiny  --method fratmae-noalign --batch 4 --seed 4 --target draw
run tiny-mae             --preset tiny  --method mae             --batch 3 --seed 5
run tiny-mae-align       --preset tiny  --method mae-align       --batch 3 --seed 6
run small-fratmae-draw   --preset small --method fratmae         --batch 2 --seed 7 --target draw
run small-mae-align      --preset small --method mae-align       --batch 2 --seed 8
# The cases above use fratmae's "auto" GEMM backend (oneDNN on Debian's LibTorch); this one
# LibTorch's own products (the library default, src/core/gemm.h).
run tiny-fratmae-libtorch --preset tiny --method fratmae         --batch 4 --seed 10 --target draw --gemm libtorch
# The reference's own initialisation loaded into fratmae.
"$py" "$here/parity.py" --export "$out/ref-init.safetensors" --preset tiny --method fratmae --seed 9
run tiny-fratmae-refinit --preset tiny --method fratmae --batch 4 --seed 9 --target draw --weights "$out/ref-init.safetensors"
"$py" "$here/parity.py" "${cases[@]}"
