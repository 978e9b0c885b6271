#!/bin/sh
# Issue #8's GPU measurements in one run on the device machine (one H200, PyTorch with CUDA,
# none of the Debian packages), from the repo root:
#
#   bench/device/gpu_bench.sh [STAGE...]
#
# Stages, in this order by default (each appends to $OUT/log.txt; a stage that fails is
# reported and the next one runs):
#   build     the ITK-free core and the benchmark programs against python3's CUDA LibTorch
#             (bench/device/build_core.sh; headers from $INC, made here by make_include.sh)
#   peak      the card's dense bf16 matrix rate, and FLOPs per pre-training sample of the model
#             (bench/device/peak_and_flops.py)
#   step      fratmae's pre-training step (bench/pretrain_step.cpp), paper preset, bf16,
#             synthetic inputs, at batch $BATCHES
#   eager     the PyTorch reference's same step (bench/reference/pretrain_step.py), bf16 eager
#   compile   the reference with torch.compile
#   pipeline  the pre-training engine on a phantom cache, GPU-resident batches and CPU loader
#             (bench/device/pretrain_gpu.cpp)
#   infer     sliding-window segmentation of a whole body, fratmae against the reference
#             (bench/infer_vs_pytorch.sh, DEVICE=cuda BF16=1)
#   summary   bench/device/summarize.py: $OUT/summary.md (table, ratios, MFU, projection)
# Each program's peak GPU memory is sampled with nvidia-smi every 100 ms (whole process:
# context, caching allocator and tensors) and logged as "MEM <tag> <MiB>".
#
# Environment: INC (build-devcheck/include), OUT (/tmp/fratmae-gpu-bench), BATCHES ("24 128"),
# STEPS (20), WARMUP (5), PRESET (paper), DEVICE (cuda; cpu for a dry run of the flow here, with
# TORCH_INCLUDE/TORCH_LIB/TORCH_LIBS for the Debian LibTorch, PRESET=tiny, PYTHON=/usr/bin/python3).
set -u
INC=${INC:-build-devcheck/include}
OUT=${OUT:-/tmp/fratmae-gpu-bench}
BATCHES=${BATCHES:-24 128}
STEPS=${STEPS:-20}
WARMUP=${WARMUP:-5}
PRESET=${PRESET:-paper}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
export OBJ=${OBJ:-${TMPDIR:-/tmp}/fratmae-gpu-obj}
STAGES=${*:-build peak step eager compile pipeline infer summary}
mkdir -p "$OUT"
LOG=$OUT/log.txt
BF16=--bf16
[ "$DEVICE" = cuda ] || BF16=
export PYTHONUNBUFFERED=1

say() { echo "$*" | tee -a "$LOG"; }
# measure TAG CMD...: runs CMD with its output in the log and its peak GPU memory sampled.
measure() {
  tag=$1
  shift
  smi=""
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$OUT/mem.tmp" 2>/dev/null &
    smi=$!
  fi
  echo "== $tag: $*" >> "$LOG"
  t0=$(date +%s)
  "$@" > "$OUT/cmd.tmp" 2>&1
  rc=$?
  cat "$OUT/cmd.tmp" >> "$LOG"
  [ -n "$smi" ] && kill "$smi" 2>/dev/null && wait "$smi" 2>/dev/null
  [ -n "$smi" ] && echo "MEM $tag $(sort -n "$OUT/mem.tmp" | tail -1)" >> "$LOG"
  echo "RC $tag $rc ($(( $(date +%s) - t0 )) s)" >> "$LOG"
  echo "-- $tag: rc $rc, $(( $(date +%s) - t0 )) s: $(tail -n 1 "$OUT/cmd.tmp" | cut -c1-300)"
  return 0
}

say "gpu_bench $(date -u '+%Y-%m-%d %H:%M:%S') UTC, stages: $STAGES"
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$LOG"
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$LOG"
for stage in $STAGES; do
  case $stage in
    build)
      measure build sh bench/device/build_core.sh "$INC" bench/pretrain_step.cpp bench/sliding_window_bench.cpp \
        bench/device/pretrain_gpu.cpp ;;
    peak)
      measure peak "$PY" bench/device/peak_and_flops.py --preset "$PRESET" --device "$DEVICE" ;;
    step)
      for b in $BATCHES; do
        measure "step-fratmae-$b" "$OBJ/pretrain_step" --preset "$PRESET" --batch "$b" --steps "$STEPS" \
          --warmup "$WARMUP" --device "$DEVICE" $BF16
      done ;;
    eager)
      for b in $BATCHES; do
        measure "step-eager-$b" "$PY" bench/reference/pretrain_step.py --preset "$PRESET" --batch "$b" \
          --steps "$STEPS" --warmup "$WARMUP" --device "$DEVICE" $BF16
      done ;;
    compile)
      for b in $BATCHES; do
        measure "step-compile-$b" "$PY" bench/reference/pretrain_step.py --preset "$PRESET" --batch "$b" \
          --steps "$STEPS" --warmup "$WARMUP" --device "$DEVICE" $BF16 --compile
      done ;;
    pipeline)
      for b in $BATCHES; do
        measure "pipeline-resident-$b" "$OBJ/pretrain_gpu" 48 30 "$b" "${TMPDIR:-/tmp}/fratmae-gpu-$b" 1 8
      done
      first=${BATCHES%% *}
      measure "pipeline-loader-$first" "$OBJ/pretrain_gpu" 48 30 "$first" "${TMPDIR:-/tmp}/fratmae-gpu-l" 0 8 ;;
    infer)
      measure infer env DEVICE="$DEVICE" BF16=$([ -n "$BF16" ] && echo 1 || echo 0) PRESETS="$PRESET:16" \
        SHAPE="${INFER_SHAPE:-128 192 448}" BATCH=8 PYTHON="$PY" SLIDING_WINDOW_BENCH="$OBJ/sliding_window_bench" \
        bash bench/infer_vs_pytorch.sh ;;
    summary)
      "$PY" bench/device/summarize.py "$LOG" "$OUT/summary.md" | tee -a "$LOG" ;;
    *)
      say "unknown stage $stage" ;;
  esac
done
rm -f "$OUT/mem.tmp" "$OUT/cmd.tmp"
