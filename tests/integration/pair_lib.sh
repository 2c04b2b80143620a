# shellcheck shell=bash
# Sourced by the primary/backup pair tests and bench/failover_bench.sh. Adds to
# kv_testbed_lib.sh (skip rules, unique testbed prefix, work dir, cleanup, fail, ftkv helpers):
# an ftd pair (`ftd --role backup` on one host, `--role primary` on the other) replicating over
# the testbed's repl link (198.19.0.1 <-> 198.19.0.2, port 7411) with mutual TLS, a file arbiter
# in the work dir, status-file helpers, traffic from the client (ping every 10 ms + ftkv load)
# and the gap measurements. Expects $1=BUILD_DIR, $2=SOURCE_DIR and $TESTBED_PREFIX_BASE.
#
# Every round (pair_up NAME) gets a fresh testbed, fresh disks, a fresh arbiter dir and fresh
# processes; its files are $work/NAME-ROLE.{err,con.out,status,disk} (ROLE primary|backup:
# the role it started in; .err has ftd's stderr and stdout, .con.out the guest console),
# $work/NAME-{ping,load,check}.out, $work/NAME-h.txt (the ftkv history), $work/NAME.arbiter/.
# shellcheck source=kv_testbed_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/kv_testbed_lib.sh"

kv="$build/guest/kv.elf"
port=7411
vm_id=kv
certs="$work/certs"
round='' arb='' primary_pid='' backup_pid='' ping_pid='' load_pid='' sampler_pid='' sample_file=''
died='' last_state=''
trap 'sample_stop; cleanup' EXIT  # ftd, ping and ftkv run in the namespaces: `testbed.sh down` stops them

"$src/deploy/make-certs.sh" "$certs" 198.19.0.1 198.19.0.2 >"$work/certs.out" 2>&1 || fail "make-certs.sh"
rm -f "$work/certs.out"

repl_addr() { case $1 in a) echo 198.19.0.1 ;; b) echo 198.19.0.2 ;; *) fail "no host '$1'" ;; esac; }

# running PID: true while PID exists and is not a zombie.
running() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null &&
    [ "$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# poll SECONDS CMD...: runs CMD every 50 ms until it succeeds (return 0) or SECONDS (an integer)
# have passed (return 1). Bounded in count (20 per second) and in time.
poll() {
  local secs=$1 end
  shift
  end=$(($(date +%s%N) + secs * 1000000000))
  for _ in $(seq 1 $((secs * 20 + 1))); do
    "$@" && return 0
    [ "$(date +%s%N)" -lt "$end" ] || return 1
    sleep 0.05
  done
  return 1
}

ms_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%d\n", (b - a) * 1000 + 0.5 }'; }

# random_sleep MIN_MS MAX_MS: sleeps a uniformly random time in [MIN, MAX] ms; sets slept_ms.
random_sleep() {
  slept_ms=$(($1 + RANDOM % ($2 - $1 + 1)))
  sleep "$(printf '%d.%03d' $((slept_ms / 1000)) $((slept_ms % 1000)))"
}

# --- status ---------------------------------------------------------------------------------
# status_json ROLE: `ftd status --json` of this round's ROLE (its --status-file).
status_json() { timeout 5 "$build/ftd" status --status-file "$work/$round-$1.status" --json 2>/dev/null; }
# json_field NAME: the value of a string or number field NAME of the JSON on stdin (no quotes).
json_field() { sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\{0,1\}\([^",}[:space:]]*\).*/\1/p' | head -1; }
status_field() { status_json "$1" | json_field "$2"; }

# state_in ROLE STATE...: true when ROLE's state is one of STATEs, or (setting died) its ftd is gone.
state_in() {
  local role=$1 pidvar="$1_pid" s
  shift
  running "${!pidvar}" || { died=$role; return 0; }
  last_state=$(status_field "$role" state)
  for s; do [ "$last_state" = "$s" ] && return 0; done
  return 1
}
# wait_state ROLE SECONDS STATE...: fails unless ROLE reaches one of STATEs within SECONDS.
wait_state() {
  local role=$1 secs=$2
  shift 2
  died='' last_state=''
  poll "$secs" state_in "$role" "$@" || pfail "$role: state '$last_state', not $*, after $secs s"
  [ -z "$died" ] || pfail "$role: ftd exited (last state '$last_state') before reaching $*"
}

# has_text FILE TEXT PID...: true when FILE contains TEXT, or (setting died) a PID is gone.
has_text() {
  local file=$1 text=$2 p
  shift 2
  grep -qF -- "$text" "$file" 2>/dev/null && return 0
  for p; do running "$p" || { died=$p; return 0; }; done
  return 1
}
# wait_for FILE TEXT SECONDS [PID...]: fails unless FILE shows TEXT within SECONDS while PIDs run.
wait_for() {
  local file=$1 text=$2 secs=$3
  shift 3
  died=''
  poll "$secs" has_text "$file" "$text" "$@" || pfail "no '$text' in ${file##*/} within $secs s"
  grep -qF -- "$text" "$file" 2>/dev/null || pfail "pid $died exited before '$text' appeared in ${file##*/}"
}

# pfail MSG: fail, with both roles' status (as `ftd status --json` sees it) among the dumped files.
pfail() {
  local r
  for r in primary backup; do status_json "$r" >"$work/$round-$r.status.out" 2>&1; done
  fail "$round: $*"
}

# --- the pair ---------------------------------------------------------------------------------
# start_ftd ROLE NODE ARGS...: `ftd --role ROLE ARGS...` on host NODE (a|b) in the background
# with this round's files, TLS as NODE's repl address, the arbiter, 50 ms heartbeats and a 500 ms
# peer timeout ($PAIR_PEER_TIMEOUT_MS overrides it).
# The disk: $PAIR_DISK_MODE replicated (the default: each role its own image, $f.disk) or
# shared (both roles one image, $work/$round-shared.disk, as a SAN volume would be).
# $PAIR_AS names the files instead of ROLE (a second process of a role: its own files).
start_ftd() {
  local role=$1 node=$2 f="$work/$round-${PAIR_AS:-$1}" addr disk_mode=${PAIR_DISK_MODE:-replicated} disk
  shift 2
  addr=$(repl_addr "$node")
  disk="$f.disk"
  [ "$disk_mode" = replicated ] || disk="$work/$round-shared.disk"
  truncate -s 8M "$disk"  # (an existing 8 MiB image keeps its contents)
  # `ip netns exec` execs ftd itself, so $! is ftd's pid.
  ip netns exec "$FTD_TESTBED_PREFIX-$node" "$build/ftd" --role "$role" "$@" \
    --disk "$disk" --disk-mode "$disk_mode" --net tap:ftdtap0 --node "$node" --vm-id "$vm_id" \
    --arbiter "file:$arb" --ca "$certs/ca.crt" --cert "$certs/$addr.crt" --key "$certs/$addr.key" \
    --heartbeat-ms 50 --peer-timeout-ms "${PAIR_PEER_TIMEOUT_MS:-500}" --status-file "$f.status" --console "file:$f.con.out" \
    --no-stdin >"$f.err" 2>&1 &
}
start_backup() {  # start_backup NODE [ARGS...]: sets backup_pid
  start_ftd backup "$1" --listen "$(repl_addr "$1"):$port" "${@:2}"
  backup_pid=$!
}
start_primary() {  # start_primary NODE PEER_NODE [ARGS...]: the kv guest; sets primary_pid
  start_ftd primary "$1" --peer "$(repl_addr "$2"):$port" --guest "$kv" --cmdline "ip=$guest/15" \
    --peer-wait-s "${PAIR_PEER_WAIT_S:-60}" --log "$work/$round-${PAIR_AS:-primary}.log" "${@:3}"
  primary_pid=$!
}

# pair_up NAME [FUNC]: a fresh round: testbed, arbiter dir, (FUNC, when given), backup on B, then
# primary on A; returns once the guest ($kv; it prints $PAIR_READY_TEXT, default "kv ready") is
# ready on the primary and the pair is protected.
pair_up() {
  pair_down
  round=$1
  arb="$work/$round.arbiter"
  mkdir -p "$arb"
  "$tb" up >/dev/null || pfail "testbed up"
  [ -z "${2:-}" ] || "$2"
  start_backup b
  wait_state backup 30 waiting receiving-state replaying
  start_primary a b
  wait_for "$work/$round-primary.con.out" "${PAIR_READY_TEXT:-kv ready}" 120 "$primary_pid" "$backup_pid"
  wait_state primary 60 protected
  wait_state backup 30 replaying
}
# pair_down: ends the current round (its processes, testbed and files).
pair_down() {
  [ -n "$round" ] || return 0
  sample_stop
  "$tb" down >/dev/null 2>&1
  local p
  for p in $primary_pid $backup_pid $ping_pid $load_pid; do wait "$p" 2>/dev/null; done  # reap
  primary_pid='' backup_pid='' ping_pid='' load_pid=''
  rm -rf "$work/$round".* "$work/$round"-*
  round=''
}

# arbiter_generations: the generation numbers of the arbiter's files (ftd names them
# generation-<N, 20 digits>; here: the last run of digits in each name, leading zeros dropped,
# subdirectories included, hidden files such as .tmp-* ignored), sorted, space-separated.
arbiter_generations() {
  find "$arb" -type f ! -name '.*' -printf '%f\n' | sed -nE 's/^(.*[^0-9])?([0-9]+)[^0-9]*$/\2/p' |
    sed -E 's/^0+([0-9])/\1/' | sort -n | paste -sd' '
}
check_arbiter() {  # exactly the files of generations 1 and 2
  local g
  g=$(arbiter_generations)
  [ "$g" = "1 2" ] || pfail "arbiter generations '$g', want '1 2' ($(find "$arb" -printf '%P ' 2>/dev/null))"
}

# --- traffic and gaps -------------------------------------------------------------------------
# traffic_start SECONDS [LOAD-ARGS...]: from the client, in the background: ping the guest every
# 10 ms, and `ftkv load` for SECONDS (+ 3 s grace for requests outstanding at the end).
traffic_start() {
  local secs=$1
  shift
  # SIGINT: ping prints (and flushes) what it got.
  ip netns exec "$FTD_TESTBED_PREFIX-client" timeout -s INT -k 2 "$((secs + 3))" \
    ping -n -D -i 0.01 -W 1 "$guest" >"$work/$round-ping.out" 2>&1 &
  ping_pid=$!
  ip netns exec "$FTD_TESTBED_PREFIX-client" timeout -k 2 "$((secs + 30))" \
    "$build/ftkv" "$guest" load --duration "$secs" --grace 3 --history "$work/$round-h.txt" "$@" \
    >"$work/$round-load.out" 2>&1 &
  load_pid=$!
}
# traffic_wait: waits for the load and the ping to end; fails unless the load ran cleanly and
# `ftkv check` finds the history linearizable (no acknowledged write lost, nothing applied twice).
traffic_wait() {
  local rc
  wait "$load_pid"
  rc=$?
  wait "$ping_pid"
  load_pid='' ping_pid=''
  [ "$rc" = 0 ] || pfail "ftkv load exited $rc"
  "$build/ftkv" check "$work/$round-h.txt" >"$work/$round-check.out" 2>&1 ||
    pfail "ftkv check: $(tail -2 "$work/$round-check.out")"
}

# ping_gap_ms FILE: the largest gap between consecutive replies in `ping -D` output, in ms.
ping_gap_ms() {
  awk '/bytes from/ { t = substr($1, 2, length($1) - 2) + 0; if (n++ && t - p > m) m = t - p; p = t }
       END { printf "%d\n", m * 1000 + 0.5 }' "$1"
}
# ping_replies_after FILE EPOCH_S: how many replies arrived after EPOCH_S (date +%s.%N).
ping_replies_after() {
  awk -v k="$2" '/bytes from/ && substr($1, 2, length($1) - 2) + 0 > k { n++ } END { print n + 0 }' "$1"
}
# kv_gap_ms HISTORY: the largest gap between successful (OK or NOTFOUND) kv completions, in ms,
# by reply time (field 7, CLOCK_REALTIME ns).
kv_gap_ms() {
  awk '$8 == "OK" || $8 == "NOTFOUND" { print $7 }' "$1" | sort -n |
    awk 'NR > 1 && $1 - p > m { m = $1 - p } { p = $1 } END { printf "%d\n", m / 1e6 + 0.5 }'
}

# sample_start: every 100 ms (at most 600 times), appends "lag_ms lag_entries" of the backup's
# status to $sample_file. sample_stop ends it.
sample_start() {
  (
    for _ in $(seq 1 600); do
      j=$(status_json backup)
      lm=$(json_field lag_ms <<<"$j")
      le=$(json_field lag_entries <<<"$j")
      [ -n "$lm$le" ] && echo "${lm:-?} ${le:-?}"
      sleep 0.1
    done
  ) >>"$sample_file" &
  sampler_pid=$!
}
sample_stop() { stop_bg sampler_pid; }

# kill_and_take_over VICTIM SURVIVOR TEXT STATE: SIGKILL VICTIM's ftd (primary|backup; sets
# t_kill); SURVIVOR must print TEXT within 10 s and reach STATE at generation 2. Sets took_ms
# (kill to TEXT).
kill_and_take_over() {
  local victim=$1 survivor=$2 vpid="$1_pid" spid="$2_pid" n
  running "${!vpid}" || pfail "the $victim exited before the kill"
  t_kill=$(date +%s.%N)
  kill -KILL "${!vpid}"
  wait "${!vpid}" 2>/dev/null  # reaped at once: no "Killed" notice from bash
  wait_for "$work/$round-$survivor.err" "$3" 10 "${!spid}"
  took_ms=$(ms_since "$t_kill")
  wait_state "$survivor" 2 "$4"
  n=$(status_field "$survivor" generation)
  [ "$n" = 2 ] || pfail "$survivor status generation '$n', want 2"
}

# settled: at most one ftd runs, and a running one has announced that it serves at generation 2
# (the primary "continuing unprotected at generation 2", the backup "live at generation 2").
settled() {
  if running "$primary_pid"; then
    running "$backup_pid" && return 1
    grep -qF "continuing unprotected at generation 2" "$work/$round-primary.err"
  elif running "$backup_pid"; then
    grep -qF "live at generation 2" "$work/$round-backup.err"
  fi
}

# silence_primary HOW: ends the primary's contact with its backup, and returns once exactly one
# side serves at generation 2. HOW: kill (SIGKILL: the backup must go live), stop (SIGSTOP past
# the peer timeout: the backup must go live; then SIGCONT after the announcements, and the old
# primary must halt with 75, having released nothing: docs/pair.md "A primary that was silent"),
# cut (`testbed.sh cut` of the replication link: both race at the arbiter; the loser must halt
# with 75 after "halted: lost the arbiter"). Sets t_silent (date +%s.%N), winner and loser
# (primary|backup), took_ms (silence to the winner's line), t_cont (stop only).
# shellcheck disable=SC2034  # t_cont, took_ms: for the caller
silence_primary() {
  local how=$1 lpid rc
  running "$primary_pid" || pfail "the primary exited before it was silenced ($how)"
  t_silent=$(date +%s.%N)
  case $how in
    kill)
      kill -KILL "$primary_pid"
      wait "$primary_pid" 2>/dev/null  # reaped at once: no "Killed" notice from bash
      ;;
    stop) kill -STOP "$primary_pid" ;;
    cut) "$tb" cut >/dev/null || pfail "testbed.sh cut" ;;
    *) pfail "silence_primary: no way '$how'" ;;
  esac
  if [ "$how" = cut ]; then
    poll 10 settled || pfail "cut: not settled 10 s after the cut (primary running:" \
      "$(running "$primary_pid" && echo yes || echo no), backup running: $(running "$backup_pid" && echo yes || echo no))"
    took_ms=$(ms_since "$t_silent")
    if running "$primary_pid"; then winner=primary loser=backup; else winner=backup loser=primary; fi
    lpid="${loser}_pid"
    wait "${!lpid}" 2>/dev/null
    rc=$?
    [ "$rc" = 75 ] || pfail "cut: the $loser exited $rc, want 75 (lost the arbiter)"
    grep -qF "halted: lost the arbiter" "$work/$round-$loser.err" ||
      pfail "cut: the $loser did not print 'halted: lost the arbiter'"
  else
    winner=backup loser=primary
    wait_for "$work/$round-backup.err" "live at generation 2" 10 "$backup_pid"
    took_ms=$(ms_since "$t_silent")
  fi
  if [ "$how" = stop ]; then
    sleep 1.5  # the announcements end 800 ms after go-live
    # What the primary says from here on (a slow host may have made it confirm its generation
    # after a silence before the stop, legitimately: the backup had not taken over then).
    said_before=$(wc -l <"$work/$round-primary.err")
    t_cont=$(date +%s.%N)
    kill -CONT "$primary_pid"
    poll 10 eval '! running "$primary_pid"' || pfail "stop: the resumed primary still runs 10 s after SIGCONT"
    wait "$primary_pid" 2>/dev/null
    rc=$?
    [ "$rc" = 75 ] || pfail "stop: the resumed primary exited $rc, want 75"
    grep -qF "halted:" "$work/$round-primary.err" || pfail "stop: the resumed primary did not print 'halted:'"
    ! tail -n +"$((said_before + 1))" "$work/$round-primary.err" | grep -qF "releasing outputs again" ||
      pfail "stop: the resumed primary confirmed a generation it no longer holds"
  fi
  if [ "$winner" = backup ]; then wait_state backup 2 live; else wait_state primary 2 unprotected; fi
  local n
  n=$(status_field "$winner" generation)
  [ "$n" = 2 ] || pfail "the $winner's status generation is '$n', want 2"
}

# dup_pings_after EPOCH_S: ping replies that arrived twice after EPOCH_S (only an old primary
# releasing what it held can send a second reply: the new one answered each request once).
dup_pings_after() {
  awk -v t="$1" '/DUP!/ { ts = substr($1, 2, length($1) - 2); if (ts + 0 > t + 0) n++ } END { print n + 0 }' \
    "$work/$round-ping.out"
}

# failover_round NAME [HOW]: pair up, ping + `ftkv load --clients 4` for 8 s, silence the primary
# after a random 1-3 s (silence_primary HOW, default kill); one side must serve at generation 2,
# ping replies must resume (none twice after a stopped primary resumes), the history must check, the state from before must be
# there and new writes must work. Sets fo_delay_ms (load start to the silence), fo_live_ms (the
# silence to the winner's line), fo_winner, fo_failover_ms (the backup's status, when it won),
# fo_pause_ms (first_transfer_pause_ms), fo_ping_gap_ms, fo_kv_gap_ms. With $sample_file set,
# samples the backup's lag until the silence.
# shellcheck disable=SC2034  # the fo_* results are for the sourcing script
failover_round() {
  local name=$1 how=${2:-kill} n
  pair_up "$name"
  fo_pause_ms=$(status_field primary first_transfer_pause_ms)
  [ -n "$fo_pause_ms" ] || fo_pause_ms=$(status_field backup first_transfer_pause_ms)
  expect "OK" 0 set before "$name"
  traffic_start 8 --clients 4
  [ -z "$sample_file" ] || sample_start
  random_sleep 1000 3000
  fo_delay_ms=$slept_ms
  sample_stop
  silence_primary "$how"
  fo_live_ms=$took_ms
  fo_winner=$winner
  fo_failover_ms=''
  [ "$winner" = primary ] || fo_failover_ms=$(status_field backup failover_ms)
  traffic_wait
  n=$(ping_replies_after "$work/$round-ping.out" "$t_silent")
  [ "$n" -gt 0 ] || pfail "no ping reply after the primary went silent ($how)"
  if [ "$how" = stop ]; then  # (after a kill the new primary may repeat an output: docs/pair.md)
    n=$(dup_pings_after "$t_cont")
    [ "$n" = 0 ] || pfail "stop: $n ping replies arrived twice after the old primary resumed"
  fi
  expect "OK $name" 0 get before
  expect "OK" 0 set after "$name"
  expect "OK $name" 0 get after
  local wpid="${winner}_pid"
  running "${!wpid}" || pfail "the $winner exited after winning"
  check_arbiter
  fo_ping_gap_ms=$(ping_gap_ms "$work/$round-ping.out")
  fo_kv_gap_ms=$(kv_gap_ms "$work/$round-h.txt")
}
