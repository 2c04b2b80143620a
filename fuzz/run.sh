#!/bin/sh
# Builds the libFuzzer targets with clang in build-fuzz (separate from build/) and runs
# each for a short time (FUZZ_SECONDS, default 20). For CI: exits non-zero on any crash.
# Usage: fuzz/run.sh [seconds]
set -eu
cd "$(dirname "$0")/.."
secs="${1:-${FUZZ_SECONDS:-20}}"
jobs="${FUZZ_BUILD_JOBS:-1}"
cmake -S . -B build-fuzz -G Ninja -DFTD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j"$jobs" --target virtio_mmio_fuzz virtqueue_fuzz sparse_image_fuzz log_reader_fuzz replication_message_fuzz gdb_packet_fuzz elf_symbols_fuzz assert_expr_fuzz tcp_input_fuzz resp_fuzz
for t in virtio_mmio_fuzz virtqueue_fuzz sparse_image_fuzz log_reader_fuzz replication_message_fuzz gdb_packet_fuzz elf_symbols_fuzz assert_expr_fuzz tcp_input_fuzz resp_fuzz; do
  corpus="build-fuzz/corpus/$t"
  mkdir -p "$corpus"
  echo "== $t (${secs}s)"
  "build-fuzz/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="build-fuzz/$t-" "$corpus"
done
