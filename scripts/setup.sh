#!/usr/bin/env bash
# Installs the Debian packages ftd needs (only those missing) and builds ftd and
# the guest images into build/. Idempotent; quick when nothing is missing.
#
#   scripts/setup.sh            install + build
#   scripts/setup.sh demo       ... then run the bundled guests (the main job)
#   scripts/setup.sh test       ... then run the whole test suite (what CI runs)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

packages=(
  build-essential cmake ninja-build pkg-config ccache git
  protobuf-compiler libprotobuf-dev libgrpc++-dev protobuf-compiler-grpc
  libssl-dev libgtest-dev libgmock-dev libcli11-dev libabsl-dev
  libspdlog-dev libfmt-dev libxxhash-dev libzstd-dev zlib1g-dev libsystemd-dev systemd
  qemu-system-x86 iproute2 iputils-ping python3 gnuplot-nox gdb
  redis-server redis-tools
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root to install packages (run as root or with sudo)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The RESP test starts its own redis-server on a port of its own: no packaged service.
  if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    systemctl disable --now redis-server >/dev/null 2>&1 ||
      { service redis-server stop && update-rc.d redis-server disable; } >/dev/null 2>&1 || true
  fi
fi

build=${FTD_BUILD_DIR:-build}
jobs=${FTD_JOBS:-$(nproc)}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j "$jobs"

case "${1:-}" in
  "") ;;
  demo) exec "$here/scripts/demo.sh" "$build" ;;
  test) exec "$here/scripts/test.sh" "$build" ;;
  *) echo "usage: scripts/setup.sh [demo|test]" >&2; exit 64 ;;
esac
