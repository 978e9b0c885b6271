#!/bin/sh
# fratmae's data path against a plain-PyTorch reference of it, same machine, same threads, same
# run: preprocessing one case (bench/data_ref_bench preprocess vs bench/reference/data_ref.py
# preprocess, the same raw phantom arrays) and the pre-training sampler over one fratmae cache
# (data::BatchLoader vs a torch.utils.data DataLoader over numpy memmaps of the cache files),
# interleaved (fratmae, then PyTorch, per configuration and round). Prints a table, the
# parity of the preprocessed int16 codes, and ends with
#   fratmae/pytorch preprocess time ratio: X      (ms per case; below 1 = fratmae faster)
#   fratmae/pytorch loader throughput ratio: Y    (samples/s; the WORST (smallest) over the
#                                                  loader configurations; above 1 = fratmae faster)
# Exit status 1 when the preprocessing parity fails (a code more than 1 apart, or a mask /
# lesion voxel / spacing different), when the sampler check fails (a fratmae batch that the
# reference's Dataset does not reproduce from the draws that explain it: h0, flip, CT/PET
# scale and shift within their ranges; images within 1e-5, masks and text ids exactly), or
# when a step fails.
#
#   bench/data_vs_pytorch.sh [BUILD_DIR]
#     BUILD_DIR (default build-bench) holds bench/data_ref_bench; this script builds nothing:
#       cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRATMAE_WITH_ITK=OFF \
#             -DFRATMAE_BUILD_TESTS=OFF -DFRATMAE_BUILD_BENCH=ON
#       ninja -C build-bench data_ref_bench
# Environment:
#   THREADS    intra-op threads of both sides (default: nproc); loader workers use 1 each on
#              both sides (BatchLoader's workers and PyTorch's DataLoader workers set it)
#   CASES      phantom cases in the loader's cache (default 20, `small` preset, `autopet`)
#   DATA_CACHE the cache folder (default $TMPDIR/fratmae-bench-cache-small<CASES>, the one
#              bench_data builds; built here when missing, kept when current)
#   PRE_CASES  phantom cases preprocessed per pass (default 4); REPS timed passes (3)
#   LOADERS    "batch:workers ..." (default "4:2 12:2 4:0"; 0 workers = in the calling thread)
#   MIN_TIME   seconds per loader measurement, at least (default 3; and >= 20 batches)
#   ROUNDS     interleaved rounds (default 2); the table keeps each side's best round
#   PYTHON     a python3 with torch (default: the first of python3, /usr/bin/python3 that has it)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${1:-$root/build-bench}
exe=$build/bench/data_ref_bench
if [ ! -x "$exe" ]; then
  echo "data_vs_pytorch: $exe is not built; ninja -C $build data_ref_bench (cmake -DFRATMAE_BUILD_BENCH=ON)" >&2
  exit 1
fi
threads=${THREADS:-$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)}
cases=${CASES:-20}
cache=${DATA_CACHE:-${TMPDIR:-/tmp}/fratmae-bench-cache-small$cases}
pre_cases=${PRE_CASES:-4}
reps=${REPS:-3}
loaders=${LOADERS:-4:2 12:2 4:0}
min_time=${MIN_TIME:-3}
rounds=${ROUNDS:-2}

py=$(sh "$here/reference/torch_python.sh")  # $PYTHON, python3 or /usr/bin/python3 with torch
"$py" -c 'import torch, numpy' || { echo "data_vs_pytorch: $py cannot import torch and numpy" >&2; exit 1; }
ref=$here/reference/data_ref.py

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

load() { uptime | sed 's/.*load average: */load /'; }
load1() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo ?; }  # 1-minute load, for the table
num() { sed -n "s|.*: \([0-9.]*\) $1.*|\1|p"; }  # the number before unit $1 in a result line
best() { # best <min|max> <current> <new>
  if [ -z "$2" ]; then echo "$3"; else awk -v m="$1" -v a="$2" -v b="$3" \
    'BEGIN { print ((m == "min" && b + 0 < a + 0) || (m == "max" && b + 0 > a + 0)) ? b : a }'; fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

echo "data_vs_pytorch: $threads threads, $rounds round(s), $(load) at start"
"$exe" cache --out "$cache" --cases "$cases"

# Preprocessing: fratmae dumps inputs and outputs in round 1; the reference checks parity on them.
pre_c=; pre_p=; parity=; parity_rc=0
pre_load=$(load1)
r=1
while [ "$r" -le "$rounds" ]; do
  if [ "$r" -eq 1 ]; then
    line=$("$exe" preprocess --cases "$pre_cases" --reps "$reps" --threads "$threads" --dump "$work/pre")
  else
    line=$("$exe" preprocess --cases "$pre_cases" --reps "$reps" --threads "$threads")
  fi
  echo "$line"
  pre_c=$(best min "$pre_c" "$(echo "$line" | num ms/case)")
  if [ "$r" -eq 1 ]; then
    out=$("$py" "$ref" preprocess --dump "$work/pre" --reps "$reps" --threads "$threads" --check) || parity_rc=$?
    echo "$out"
    # "PASS, max code difference 0 over 4 cases" (the table cell; no "|" in it)
    parity=$(echo "$out" | sed -n \
      's/^parity \([A-Z]*\): \([0-9]*\) cases, max |code difference| \([-0-9]*\).*/\1, max code difference \3 over \2 cases/p')
    [ -n "$parity" ] || parity="FAIL, no parity result (exit status $parity_rc)"
    [ "$parity_rc" -eq 0 ] || parity_rc=1
    line=$(echo "$out" | grep '^pytorch preprocess' || true)
  else
    line=$("$py" "$ref" preprocess --dump "$work/pre" --reps "$reps" --threads "$threads")
    echo "$line"
  fi
  [ -n "$line" ] && pre_p=$(best min "$pre_p" "$(echo "$line" | num ms/case)")
  r=$((r + 1))
done

# The sampler's semantics: a fratmae batch reproduced by the reference from the draws that explain it.
"$exe" loader --cache "$cache" --batch 4 --workers 0 --threads "$threads" --min-time 0 --min-batches 1 \
  --warmup-epochs 1 --dump "$work/batch.safetensors" >/dev/null
sampler_rc=0
out=$("$py" "$ref" sampler-check --cache "$cache" --batch-file "$work/batch.safetensors" --threads "$threads") ||
  sampler_rc=1
echo "$out"
sampler=$(echo "$out" | sed -n \
  's/^sampler-check \([A-Z]*\): \([0-9]*\) samples.*; \([0-9]*\) flipped); max |difference| \(.*\)/\1, \2 samples (\3 flipped), max difference \4/p')
[ -n "$sampler" ] || { sampler="FAIL, no result"; sampler_rc=1; }

# Loaders: per configuration, rounds of fratmae then PyTorch.
rows=$work/rows
: >"$rows"
worst=
for bw in $loaders; do
  batch=${bw%%:*}; workers=${bw##*:}
  c=; p=
  at=$(load1)
  r=1
  while [ "$r" -le "$rounds" ]; do
    line=$("$exe" loader --cache "$cache" --batch "$batch" --workers "$workers" --threads "$threads" --min-time "$min_time")
    echo "$line"
    c=$(best max "$c" "$(echo "$line" | num samples/s)")
    line=$("$py" "$ref" loader --cache "$cache" --batch "$batch" --workers "$workers" --threads "$threads" \
           --min-time "$min_time")
    echo "$line"
    p=$(best max "$p" "$(echo "$line" | num samples/s)")
    r=$((r + 1))
  done
  x=$(ratio "$c" "$p")
  worst=$(best min "$worst" "$x")
  if [ "$workers" -eq 0 ]; then how="in the calling thread"; else how="$workers workers"; fi
  printf '| loader, batch %s, %s (samples/s) | %s | %s | %s | %s |\n' "$batch" "$how" "$c" "$p" "$x" "$at" >>"$rows"
done

if [ -z "$pre_c" ] || [ -z "$pre_p" ]; then echo "data_vs_pytorch: a preprocessing run gave no time" >&2; exit 1; fi
pre_ratio=$(ratio "$pre_c" "$pre_p")
echo
echo "fratmae vs PyTorch (torch $("$py" -c 'import torch; print(torch.__version__)')), $threads threads, best of $rounds" \
     "interleaved round(s), $(date -u +%Y-%m-%d), $(load) at the end"
echo "| what | fratmae | pytorch | fratmae/pytorch | load before |"
echo "|---|---|---|---|---|"
printf '| preprocess one case, ms (cases/s) | %s (%s) | %s (%s) | %s (time) | %s |\n' \
  "$pre_c" "$(awk -v a="$pre_c" 'BEGIN { printf "%.2f", 1000 / a }')" \
  "$pre_p" "$(awk -v a="$pre_p" 'BEGIN { printf "%.2f", 1000 / a }')" "$pre_ratio" "$pre_load"
cat "$rows"
echo "| preprocessing parity (int16 codes; masks, lesion voxels exactly) | $parity | | | |"
echo "| sampler check (a fratmae batch redone by the reference from its draws) | $sampler | | | |"
echo
echo "fratmae/pytorch preprocess time ratio: $pre_ratio"
echo "fratmae/pytorch loader throughput ratio: $worst"
[ "$parity_rc" -eq 0 ] && [ "$sampler_rc" -eq 0 ]
