#!/usr/bin/env bash
# Installs the Debian packages Trellis needs (ARCHITECTURE.md §2), and only the missing ones.
# Idempotent: when everything is present it runs no apt command at all and returns in well under
# a second. Run as root (or with sudo available).
#
#   scripts/install-deps.sh          what building and testing need
#   scripts/install-deps.sh --bench  also the benchmark peers and load generators (make bench)
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config ccache
  clang-14 libclang-rt-14-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libssl-dev
  libvalijson-dev libre2-dev libsqlite3-dev libhiredis-dev redis-server
  libcli11-dev libtomlplusplus-dev libjemalloc-dev
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev
  git curl ca-certificates xz-utils
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(wrk nginx-light)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
