#!/usr/bin/env bash
# Failover of the kv guest from primary to backup, three times: each round a fresh pair in the
# netns testbed (`ftd --role backup` on B, `--role primary` on A, replicating over the repl link
# with mutual TLS, a file arbiter), ping every 10 ms and `ftkv load --clients 4` from the
# client, SIGKILL the primary after a random 1-3 s. The backup must print "live at generation 2"
# within 10 s with status state "live"; ping replies must resume; `ftkv check` must find the
# history clean (no acknowledged write lost, nothing applied twice); the key set before the kill
# must be there and new writes must work; the arbiter holds generations 1 and 2. Prints the
# ping gap and the kv gap (the longest silences seen by the client) of each kill. Rounds 1 and 2
# use replicated disks (each host its own image); round 3 one shared image (--disk-mode shared:
# the backup opens it only at go-live, and the primary's writes to it wait for their acks).
#
#   pair_failover_test.sh BUILD_DIR SOURCE_DIR
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless FTD_REQUIRE_KVM=1.
set -uo pipefail
TESTBED_PREFIX_BASE=pfo
# shellcheck source=pair_lib.sh
source "$(dirname "$0")/pair_lib.sh"

for k in 1 2 3; do
  PAIR_DISK_MODE=replicated
  [ "$k" != 3 ] || PAIR_DISK_MODE=shared
  failover_round "r$k"
  echo "kill $k ($PAIR_DISK_MODE disk): SIGKILL of the primary ${fo_delay_ms} ms into the load; live line after ${fo_live_ms} ms" \
    "(status failover_ms ${fo_failover_ms:-?}); ping gap ${fo_ping_gap_ms} ms; kv gap ${fo_kv_gap_ms} ms"
done
pair_down
echo "PASS"
