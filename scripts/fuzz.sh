#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, the library instrumented with
# -fsanitize=fuzzer-no-link) and runs each one for a set time.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#     seconds-per-target   default 60
#     target               default: every tests/fuzz/*_fuzz.cpp
#   BUILD_DIR=...   build tree (default build-fuzz)
#   JOBS=N          build and fuzzing parallelism (default: nproc)
#   MERGE=1         afterwards, merge what the run found into the committed corpus
#                   (tests/fuzz/corpus/<target>, minimised with -merge=1)
#
# Each run starts from the committed corpus, works in a scratch corpus under the build
# tree (so the repository does not grow), and stops at the first crash, leaving the
# reproducer (crash-*, leak-*, timeout-*) in the build tree's fuzz-artifacts/<target>/.
# Replay one with: <build>/fuzz/<target> <file>.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
build=${BUILD_DIR:-build-fuzz}
jobs=${JOBS:-$(nproc)}

targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link \
  -DKHZ_BUILD_FUZZ=ON -DKHZ_SANITIZE=address,undefined \
  -DKHZ_BUILD_TESTS=OFF -DKHZ_BUILD_BENCH=OFF -DKHZ_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --parallel "$jobs" --target "${targets[@]}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$t
  work=$build/fuzz-corpus/$t
  artifacts=$build/fuzz-artifacts/$t
  mkdir -p "$work" "$artifacts" "$seeds"
  echo "== $t: ${seconds}s"
  if ! "$build/fuzz/$t" "$work" "$seeds" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" 2>"$build/fuzz-$t.log"; then
    echo "!! $t failed: see $build/fuzz-$t.log and $artifacts/"
    tail -n 30 "$build/fuzz-$t.log"
    status=1
    continue
  fi
  grep -E "stat::number_of_executed_units|cov:" "$build/fuzz-$t.log" | tail -n 2
  if [[ "${MERGE:-0}" == 1 ]]; then
    "$build/fuzz/$t" -merge=1 -max_len=4096 "$seeds" "$work" >/dev/null 2>&1
    echo "   corpus: $(ls "$seeds" | wc -l) files in $seeds"
  fi
done
exit $status
