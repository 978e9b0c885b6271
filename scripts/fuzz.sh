#!/usr/bin/env bash
# Fuzzes fratmae's parsers with libFuzzer (Debian's clang), AddressSanitizer and UBSan.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, every target)
#
# One binary per target of tests/fuzz/fuzz_targets.h, built into build-fuzz/ from the parser
# sources alone (instrumented) against Debian's LibTorch, spdlog and zlib. Each runs from a
# copy of its seed corpus (tests/fuzz/corpus/<target>/); what it finds is left in
# build-fuzz/crash-<target>-* and printed. A found input belongs in the corpus folder once the
# bug is fixed: the normal test suite replays it (FuzzCorpus.EveryTargetReadsItsCorpus).
# Prints "fuzz: <target>: <executions> runs, <coverage> edges, <crashes> crash(es)" per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
all=(csv_metadata clip_tokenizer safetensors nnunet_dataset_json cache_index checkpoint_state)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
command -v clang++ >/dev/null || { echo "fuzz: clang++ is needed (Debian: apt-get install clang)" >&2; exit 1; }

out=build-fuzz
mkdir -p "$out/obj" "$out/generated/fratmae"
# fratmae/version.h as CMake makes it (configure_file of src/core/version.h.in).
version=$(sed -n 's/^project(fratmae VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
sed "s/@PROJECT_VERSION@/$version/" src/core/version.h.in > "$out/generated/fratmae/version.h"
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -D_GLIBCXX_USE_CXX11_ABI=1 -DFMT_SHARED -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -DSPDLOG_SHARED_LIB
       -DFRATMAE_ASSETS_DIR=\"$(pwd)/assets\" -Isrc -I"$out/generated" -Itests/fuzz -isystem /usr/include/torch/csrc/api/include)
sources=(src/data/csv_table.cpp src/data/metadata.cpp src/io/autopet_layout.cpp src/core/atomic_output.cpp
         src/text/clip_tokenizer.cpp src/core/safetensors.cpp src/data/cache.cpp src/data/mapped_file.cpp
         src/data/preprocess.cpp src/data/normalize.cpp src/data/case_arrays.cpp src/core/volume.cpp
         src/train/checkpoint.cpp src/core/provenance.cpp tests/fuzz/fuzz_targets.cpp)
objs=()
for s in "${sources[@]}"; do
  o="$out/obj/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ]; then
    echo "fuzz: compiling $s"
    clang++ "${flags[@]}" -fsanitize=fuzzer-no-link -c "$s" -o "$o"
  fi
  objs+=("$o")
done
libs=(-ltorch -ltorch_cpu -lc10 -lspdlog -lfmt -lz -lcrypto -lpthread)
summary=()
for t in "${targets[@]}"; do
  bin="$out/fuzz_$t"
  clang++ "${flags[@]}" -fsanitize=fuzzer -DFRATMAE_FUZZ_TARGET="$t" tests/fuzz/fuzz_main.cpp "${objs[@]}" \
          "${libs[@]}" -o "$bin"
  corpus="$out/corpus_$t"
  mkdir -p "$corpus"
  cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  log="$out/$t.log"
  echo "fuzz: $t for $seconds s"
  set +e
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "$bin" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -max_len=65536 -artifact_prefix="$out/crash-$t-" -print_final_stats=1 > "$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  crashes=$(find "$out" -maxdepth 1 -name "crash-$t-*" | wc -l)  # (ls of no file fails the pipeline under set -e)
  line="fuzz: $t: $runs runs, $cov edges, $crashes crash(es) (exit $rc; log $log)"
  echo "$line"
  summary+=("$line")
done
printf '%s\n' "${summary[@]}" > "$out/summary.txt"
for l in "${summary[@]}"; do case "$l" in *" 0 crash(es) (exit 0;"*) ;; *) exit 1 ;; esac; done
