#!/usr/bin/env bash
# The main job: build khz in Release and run the bundled echo benchmark, printing its
# table. Extra arguments go to the benchmark driver (see bench/echo/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --bench
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DKHZ_BUILD_TESTS=OFF \
  -DKHZ_BUILD_EXAMPLES=OFF -DKHZ_BUILD_BENCH=ON >/dev/null
cmake --build build/release --parallel "$(nproc)"
exec bench/echo/run.sh build/release "$@"
