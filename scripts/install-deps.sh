#!/usr/bin/env bash
# Installs what khz needs to build, test and benchmark, from Debian's archive only.
# Idempotent: does nothing (not even `apt-get update`) when everything is present.
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --bench    also the benchmark peers and tools
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  g++ clang libclang-rt-dev llvm
  libfmt-dev liburing-dev node-llhttp
  libgtest-dev libgmock-dev googletest libbenchmark-dev
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(wrk nginx-light libnginx-mod-http-js nodejs gnuplot-nox procps util-linux curl)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
