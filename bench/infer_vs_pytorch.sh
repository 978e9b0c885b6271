#!/usr/bin/env bash
# Sliding-window segmentation of a whole-body volume, fratmae against the PyTorch reference:
# bench/sliding_window_bench (C++: infer::segment_volume, the path of `fratmae predict`) and
# bench/reference/segmentation_ref.py (the same SegmentationNet in PyTorch with MONAI-style
# sliding-window inference: full-volume accumulators), same weights, same volume, same threads.
#
#   1. parity: a small volume with the probability map kept; the reference loads fratmae's
#      weights and volume and its probabilities must agree within 1e-4 (exit 1 otherwise; with
#      bf16 within 2e-2, and a miss is reported without stopping the timing);
#   2. timing: one whole-body volume per preset (mask only), each side in its own process,
#      seconds, windows/s, memory before inference and the process's peak (VmHWM).
# Ends with
#   fratmae/pytorch sliding-window time ratio: X        (worst preset)
#   fratmae/pytorch sliding-window peak-memory ratio: Y (worst preset)
#
#   bench/infer_vs_pytorch.sh [BUILD_DIR]     (BUILD_DIR holds bench/sliding_window_bench;
#                                              default build-bench, configured and built when missing)
# Environment: PRESETS (default "tiny:16"; preset:feature_size), SHAPE (default "128 128 320",
# H W D: a whole body at 4-5 mm), OVERLAP (0.5), BATCH (4), THREADS (nproc), DEVICE (cpu;
# cuda on a GPU machine), BF16 (1 = bf16 autocast, with cuda), CONV_ENCODER (1 = the network with
# its convolutional encoder, model/unetr.h), PYTHON, FRATMAE_GEMM.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
build="${1:-$root/build-bench}"
presets="${PRESETS:-tiny:16}"
shape="${SHAPE:-128 128 320}"
overlap="${OVERLAP:-0.5}"
batch="${BATCH:-4}"
threads="${THREADS:-$(nproc)}"
device="${DEVICE:-cpu}"
bf16=()
[[ "${BF16:-0}" == 1 ]] && bf16=(--bf16)

exe="${SLIDING_WINDOW_BENCH:-$build/bench/sliding_window_bench}"
if [[ ! -x "$exe" ]]; then
  echo "building sliding_window_bench in $build" >&2
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRATMAE_WITH_ITK=OFF \
    -DFRATMAE_BUILD_TESTS=OFF -DFRATMAE_BUILD_BENCH=ON >&2
  ninja -C "$build" sliding_window_bench >&2
fi
py="$("$here/reference/torch_python.sh")" || exit 1
work="$(mktemp -d "${TMPDIR:-/tmp}/fratmae-infer-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
field() { "$py" -c 'import json, sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }

# 1. Parity: both sides' probability maps on a small volume (padding and several windows per axis).
first="${presets%% *}"
conv=()
[[ "${CONV_ENCODER:-0}" == 1 ]] && conv=(--conv-encoder)
"$exe" --preset "${first%%:*}" --feature-size "${first##*:}" --shape 20 70 100 --overlap "$overlap" \
  --batch "$batch" --threads "$threads" --device "$device" "${bf16[@]}" "${conv[@]}" --probability --out "$work/parity" >/dev/null
p_line="$("$py" "$here/reference/segmentation_ref.py" --dir "$work/parity" --threads "$threads" --device "$device" \
  "${bf16[@]}" --compare)"
diff="$(field max_abs_prob_diff <<<"$p_line")"
tol=1e-4
[[ ${#bf16[@]} -gt 0 ]] && tol=2e-2
echo "parity (${first%%:*}, 20 x 70 x 100): largest probability difference $diff (tolerance $tol), masks differ in $(field mask_disagreements <<<"$p_line") voxels"
if ! awk -v d="$diff" -v t="$tol" 'BEGIN { exit !(d <= t) }'; then
  echo "PARITY FAILED" >&2
  # In float32 the two must agree; in bf16 they round differently, so the timing still runs.
  [[ ${#bf16[@]} -gt 0 ]] || exit 1
fi

# 2. Timing and memory.
rows=()
t_ratios=()
m_ratios=()
for pf in $presets; do
  preset="${pf%%:*}"; fs="${pf##*:}"
  # shellcheck disable=SC2086
  c_line="$("$exe" --preset "$preset" --feature-size "$fs" --shape $shape --overlap "$overlap" --batch "$batch" \
            --threads "$threads" --device "$device" "${bf16[@]}" "${conv[@]}" --out "$work/$preset")"
  echo "$c_line"
  p_line="$("$py" "$here/reference/segmentation_ref.py" --dir "$work/$preset" --threads "$threads" --device "$device" \
            "${bf16[@]}" --compare)"
  echo "$p_line"
  c_s="$(field seconds <<<"$c_line")"; p_s="$(field seconds <<<"$p_line")"
  c_m="$(field peak_rss_mib <<<"$c_line")"; p_m="$(field peak_rss_mib <<<"$p_line")"
  c_b="$(field rss_before_mib <<<"$c_line")"; p_b="$(field rss_before_mib <<<"$p_line")"
  n="$(field windows <<<"$c_line")"
  tr="$(awk -v a="$c_s" -v b="$p_s" 'BEGIN { printf "%.3f", a / b }')"
  mr="$(awk -v a="$c_m" -v b="$p_m" 'BEGIN { printf "%.3f", a / b }')"
  rows+=("$(awk -v p="$preset" -v n="$n" -v cs="$c_s" -v ps="$p_s" -v tr="$tr" -v cb="$c_b" -v cm="$c_m" -v pb="$p_b" -v pm="$p_m" -v mr="$mr" \
    'BEGIN { printf "| %s | %d | %.2f (%.1f/s) | %.2f (%.1f/s) | %s | %.0f / %.0f | %.0f / %.0f | %s |", p, n, cs, n / cs, ps, n / ps, tr, cb, cm, pb, pm, mr }')")
  t_ratios+=("$tr")
  m_ratios+=("$mr")
done
echo
echo "volume $shape, overlap $overlap, batch $batch, $threads threads, device $device${bf16:+ bf16}, $(date -u +%Y-%m-%d)"
echo "| preset | windows | fratmae s (windows/s) | pytorch s (windows/s) | time ratio | fratmae MiB before / peak | pytorch MiB before / peak | peak ratio |"
echo "|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do echo "$r"; done
echo "fratmae/pytorch sliding-window time ratio: $(printf '%s\n' "${t_ratios[@]}" | sort -g | tail -1)"
echo "fratmae/pytorch sliding-window peak-memory ratio: $(printf '%s\n' "${m_ratios[@]}" | sort -g | tail -1)"
