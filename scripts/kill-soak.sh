#!/usr/bin/env bash
# SIGKILL soak of `preprocess`, `pretrain` and `finetune`: each is killed KILLS times at random
# moments and run again (the training commands with --resume) after every kill; the cache must
# equal, and the final weights must equal byte for byte, those of the same run done without
# interruption.
#
#   scripts/kill-soak.sh [KILLS] [FRATMAE] [STEPS]   (default 20 kills each, build/fratmae, 150 steps)
#
# A small phantom cohort (8 cases, tiny preset) is made in a temporary folder; a checkpoint is
# written every step, so each kill loses at most the step in flight. The kill moment is drawn
# uniformly from 0.2-2.5 s after the start (some fall before the first checkpoint, during start
# up, or while a checkpoint is being written). Prints one line per kill and, per command,
# "kill-soak: <command>: <kills> kills, <resumes> resumes, final weights identical" or the
# difference; exits 1 when a run did not end equal to the uninterrupted one.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-20}
bin=$(realpath "${2:-build/fratmae}")
steps=${3:-150}
[ -x "$bin" ] || { echo "kill-soak: no fratmae binary at $bin (build first)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" -q phantom --out "$tmp/cohort" --cases 8 --seed 5
"$bin" -q preprocess --data "$tmp/cohort" --out "$tmp/cache" --size 32 32 48
"$bin" -q pretrain --cache "$tmp/cache" --out "$tmp/pre" --preset tiny --steps 6 --batch 2 --workers 1

# The two commands soaked (the run folder is appended); long enough that kills land mid-run.
pretrain=("$bin" -q pretrain --cache "$tmp/cache" --preset tiny --steps $steps --batch 2 --workers 1
          --checkpoint-every 1 --out)
finetune=("$bin" -q finetune --task seg --cache "$tmp/cache" --init "$tmp/pre" --preset tiny --steps $steps
          --batch 2 --workers 1 --checkpoint-every 1 --val-fraction 0.25 --test-fraction 0.25 --out)

final_weights() {  # the newest checkpoint's model.safetensors of run folder $1
  echo "$1/checkpoints/$(cat "$1/checkpoints/latest")/model.safetensors"
}

soak() {
  local name=$1; shift
  local -a cmd=("$@")
  "${cmd[@]}" "$tmp/$name-ref" > "$tmp/$name-ref.log" 2>&1
  local run=$tmp/$name-soak n=0 resumes=0 finished=0
  while [ "$finished" = 0 ]; do
    local -a args=("${cmd[@]}" "$run")
    [ -e "$run/config.json" ] && { args+=(--resume); resumes=$((resumes + 1)); }
    "${args[@]}" >> "$tmp/$name-soak.log" 2>&1 &
    local pid=$!
    if [ "$n" -lt "$kills" ]; then
      sleep "$(awk -v s=$RANDOM 'BEGIN { printf "%.2f", 0.2 + 2.3 * s / 32767 }')"
      if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        n=$((n + 1))
        local at=none
        [ -e "$run/checkpoints/latest" ] && at=$(cat "$run/checkpoints/latest")
        echo "kill-soak: $name: kill $n, latest checkpoint $at"
        continue
      fi
    fi
    if wait "$pid"; then finished=1; else
      echo "kill-soak: $name: a resume failed (log: the lines below)" >&2
      tail -5 "$tmp/$name-soak.log" >&2
      return 1
    fi
  done
  if [ "$n" -lt "$kills" ]; then
    echo "kill-soak: $name: the run finished after $n of $kills kills; give more STEPS" >&2
    return 1
  fi
  if cmp -s "$(final_weights "$tmp/$name-ref")" "$(final_weights "$run")"; then
    echo "kill-soak: $name: $n kills, $resumes resumes, final weights identical ($(sha256sum < "$(final_weights "$run")" | cut -c1-16))"
  else
    echo "kill-soak: $name: $n kills, $resumes resumes, final weights DIFFER from the uninterrupted run" >&2
    return 1
  fi
}

# preprocess: killed while it writes cases (and, every other time, while it rebuilds them all with
# --overwrite), then run again until it finishes; the cache must equal one made without
# interruption: the same index entries and every case file byte for byte. (Issue #4 saw a
# segfault once when a cache was rebuilt over a folder an aborted run had left.)
cache_digest() {  # the cases of cache $1: each index entry (less where it was made) and its file's sha256
  python3 - "$1" <<'PY'
import hashlib, json, sys
d = sys.argv[1]
for c in sorted(json.load(open(d + "/index.json"))["cases"], key=lambda c: c["id"]):
    c.pop("source", None)
    print(json.dumps(c, sort_keys=True), hashlib.sha256(open(d + "/" + c["file"], "rb").read()).hexdigest())
PY
}
soak_preprocess() {
  local ref=$tmp/prep-ref run=$tmp/prep-soak n=0 runs=0 rebuild=0
  local -a cmd=("$bin" -q preprocess --data "$tmp/cohort" --size 32 32 48 --workers 1 --out)
  local t0 t1 span
  t0=$(date +%s.%N)
  "${cmd[@]}" "$ref" > "$tmp/prep-ref.log" 2>&1
  t1=$(date +%s.%N)
  # Kill moments drawn over the whole length of an uninterrupted run (start-up, every case, the
  # index), not only its first cases.
  span=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  while :; do
    local -a args=("${cmd[@]}" "$run")
    { [ $((n % 2)) = 1 ] || [ "$rebuild" = 1 ]; } && [ "$n" -lt "$kills" ] && args+=(--overwrite)
    rebuild=0
    runs=$((runs + 1))
    "${args[@]}" >> "$tmp/prep-soak.log" 2>&1 &
    local pid=$!
    if [ "$n" -lt "$kills" ]; then
      sleep "$(awk -v s=$RANDOM -v t="$span" 'BEGIN { printf "%.2f", 0.05 + t * s / 32767 }')"
      kill -9 "$pid" 2>/dev/null || true
    fi
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    if [ "$rc" = 137 ]; then  # killed (a process that had already exited keeps its own status)
      n=$((n + 1))
      echo "kill-soak: preprocess: kill $n, $(find "$run/cases" -name '*.bin' ! -name '.*' 2>/dev/null | wc -l) case files"
      continue
    fi
    if [ "$rc" = 0 ]; then
      # Finished before its kill moment: go on until every kill is made, rebuilding the whole
      # cache next time so that there is something to kill.
      [ "$n" -lt "$kills" ] || break
      rebuild=1
      echo "kill-soak: preprocess: a run finished before its kill; rebuilding with --overwrite"
    else
      echo "kill-soak: preprocess: a run after a kill failed (exit $rc; log: the lines below)" >&2
      tail -5 "$tmp/prep-soak.log" >&2
      return 1
    fi
  done
  if [ "$(cache_digest "$ref")" = "$(cache_digest "$run")" ]; then
    echo "kill-soak: preprocess: $n kills, $runs runs, cache identical to the uninterrupted one"
  else
    echo "kill-soak: preprocess: $n kills, $runs runs, cache DIFFERS from the uninterrupted one" >&2
    diff <(cache_digest "$ref") <(cache_digest "$run") | head -5 >&2
    return 1
  fi
}

status=0
soak_preprocess || status=1
soak pretrain "${pretrain[@]}" || status=1
soak finetune "${finetune[@]}" || status=1
exit $status
