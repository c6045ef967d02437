#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run give it:
#   1. g++, AddressSanitizer + UndefinedBehaviorSanitizer, -Werror: every test (unit,
#      integration over loopback, fuzz-corpus replay, header self-containment,
#      find_package / add_subdirectory consumers), run with CTest.
#   2. clang++, ThreadSanitizer, -Werror: the tests of modules where threads meet
#      (labels "<module>-threaded"; zero selected tests is an error); this build also proves clang is warning-clean on the library.
# Build trees: build/asan and build/tsan. JOBS=N overrides the parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=${JOBS:-$(nproc)}
start=$(date +%s)

echo "== [1/2] g++ + ASan/UBSan: configure and build"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=g++ -DCMAKE_C_COMPILER=gcc \
  -DKHZ_SANITIZE=address,undefined -DKHZ_WERROR=ON -DKHZ_BUILD_BENCH=ON -DKHZ_BUILD_EXAMPLES=ON >/dev/null
cmake --build build/asan --parallel "$jobs"

echo "== [1/2] g++ + ASan/UBSan: run"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build/asan --output-on-failure --parallel "$jobs" --no-tests=error

echo "== [2/2] clang++ + TSan: configure and build the threaded tests"
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DKHZ_SANITIZE=thread -DKHZ_WERROR=ON -DKHZ_BUILD_BENCH=OFF -DKHZ_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/tsan --parallel "$jobs" --target khz khz_threaded_tests

echo "== [2/2] clang++ + TSan: run"
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
ctest --test-dir build/tsan --output-on-failure --parallel "$jobs" -L threaded --no-tests=error

echo "== all tests passed in $(( $(date +%s) - start )) s"
