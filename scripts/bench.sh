#!/usr/bin/env bash
# The main job: build khz in Release and run the bundled HTTP echo benchmark — khz
# (epoll and io_uring) side by side with the hand-written limit responder, nginx and
# Node.js under wrk — printing its table and writing CSV + PNG under build/release/bench-results.
#   scripts/bench.sh [options for scripts/http-echo-bench.sh]
#   scripts/bench.sh --tcp [options for bench/echo/run.sh]   the network-layer TCP echo benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DKHZ_BUILD_TESTS=OFF \
  -DKHZ_BUILD_EXAMPLES=OFF -DKHZ_BUILD_BENCH=ON >/dev/null
cmake --build build/release --parallel "$(nproc)"
if [[ "${1:-}" == "--tcp" ]]; then
  shift
  exec bench/echo/run.sh build/release "$@"
fi
exec scripts/http-echo-bench.sh build/release "$@"
