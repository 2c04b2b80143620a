# Sourced by the kv testbed tests: skip rules, the testbed (unique prefix), a work dir,
# cleanup on every exit, failure reports, and ftkv helpers. Expects $1=BUILD_DIR, $2=SOURCE_DIR
# and $TESTBED_PREFIX_BASE (a short name) to be set by the sourcing script.
# Exit codes of the tests: 0 pass, 1 fail, 77 skip (no /dev/kvm or not root) unless
# FTD_REQUIRE_KVM=1, when a skip is a failure.
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)

skip() {
  if [ "${FTD_REQUIRE_KVM:-}" = 1 ]; then echo "FAIL: $* (FTD_REQUIRE_KVM=1)"; exit 1; fi
  echo "SKIP: $*"; exit 77
}
[ -e /dev/kvm ] || skip "needs /dev/kvm"
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"

export FTD_TESTBED_PREFIX="${TESTBED_PREFIX_BASE}$$"
tb="$src/deploy/testbed.sh"
work=$(mktemp -d)
ftd_pid=
cleanup() {
  [ -n "$ftd_pid" ] && kill -9 "$ftd_pid" 2>/dev/null
  "$tb" down >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  # FTD_KEEP_FAILED=DIR: keep the work dir (logs, disks, consoles) for a post-mortem.
  if [ -n "${FTD_KEEP_FAILED:-}" ]; then mkdir -p "$FTD_KEEP_FAILED" && cp -a "$work" "$FTD_KEEP_FAILED/" && echo "kept $work in $FTD_KEEP_FAILED"; fi
  for f in "$work"/*.out "$work"/*.err; do [ -e "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
  exit 1
}
in_a() { ip netns exec "$FTD_TESTBED_PREFIX-a" "$@"; }
in_client() { ip netns exec "$FTD_TESTBED_PREFIX-client" "$@"; }
guest=198.18.0.10
ftkv() { in_client timeout 20 "$build/ftkv" "$guest" "$@"; }
expect() {  # expect "OUTPUT" EXIT_CODE ftkv-args...
  local want=$1 code=$2; shift 2
  local got rc
  got=$(ftkv "$@"); rc=$?
  [ "$got" = "$want" ] && [ "$rc" = "$code" ] || fail "ftkv $*: got '$got' (exit $rc), want '$want' (exit $code)"
}

# stop_bg VAR: kills and reaps the background job whose pid is in $VAR (if any); clears VAR.
stop_bg() {
  local pid=${!1}
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  printf -v "$1" '%s' ''
}

# record_kv LOG DISK NAME [FTD-RECORD-OPTION...]: `ftd record` the kv guest on host A (the
# disk, the tap), console to $work/NAME.out and ftd's messages to $work/NAME.err; sets ftd_pid
# (`ip netns exec` execs ftd itself) and returns once the guest said "kv ready" (fails after
# 60 s).
record_kv() {
  ip netns exec "$FTD_TESTBED_PREFIX-a" "$build/ftd" record --guest "$build/guest/kv.elf" --log "$1" \
    --disk "$2" --net tap:ftdtap0 --cmdline "ip=$guest/15" --no-stdin "${@:4}" \
    >"$work/$3.out" 2>"$work/$3.err" &
  ftd_pid=$!
  for _ in $(seq 1 120); do
    grep -q "kv ready" "$work/$3.out" && return 0
    kill -0 "$ftd_pid" 2>/dev/null || fail "$3: ftd record exited during boot"
    sleep 0.5
  done
  fail "$3: no 'kv ready' within 60 s"
}
