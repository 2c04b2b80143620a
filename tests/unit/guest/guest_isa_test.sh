#!/usr/bin/env bash
# GuestIsaTest: keeps the guest kit inside what PVM (the KVM of these machines) can run.
# Disassembles every guest image and fails, naming the rule, on:
#   R1 (anywhere) syscall/sysret/sysenter/sysexit: on PVM SYSCALL does not leave CPL 3; the
#      kit enters ring 0 through `int $0x30` (guest/README.md "System calls").
#   R2 (anywhere) `int n` other than `int $0x30`, int3, into, icebp: on PVM `int n` from ring 3
#      raises #UD (only the system-call vector is recognised by the #UD stub), and in ring 0
#      int n / int3 end in KVM_EXIT_INTERNAL_ERROR.
#   R3 (ring 0: ftd_ring0_start..ftd_ring0_end) SSE/MMX/x87/AVX: the PVM ring-0 emulator does
#      not implement them (KVM_EXIT_INTERNAL_ERROR).
#   R4 (anywhere but the nondet image) rdtsc/rdtscp/rdrand/rdseed/rdpid: nothing traps them
#      on PVM, so they would break record/replay (determinism contract, rule 4).
# A self-check first proves that each rule fires on an image that breaks it.
#
#   guest_isa_test.sh GUEST_DIR
set -uo pipefail
guest_dir=${1:?usage: guest_isa_test.sh GUEST_DIR}
OBJDUMP=${OBJDUMP:-objdump}
NM=${NM:-nm}

# check_image ELF ALLOW_NONDET -> prints one line per violation, returns 1 if any.
check_image() {
  local elf=$1 allow_nondet=$2 r0s r0e
  r0s=$($NM "$elf" | awk '$3 == "ftd_ring0_start" { print $1 }')
  r0e=$($NM "$elf" | awk '$3 == "ftd_ring0_end" { print $1 }')
  if [ -z "$r0s" ] || [ -z "$r0e" ]; then
    echo "$elf: no ftd_ring0_start/ftd_ring0_end symbols: the ring-0 code cannot be told apart"
    return 1
  fi
  $OBJDUMP -d --no-show-raw-insn "$elf" | awk -F'\t' -v elf="$elf" -v allow_nondet="$allow_nondet" \
    -v r0s=$((16#$r0s)) -v r0e=$((16#$r0e)) '
    function hex(s,   i, c, v) {
      v = 0; s = tolower(s)
      for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
      return v
    }
    function bad(rule, why) { printf "%s: %s at 0x%x (%s): %s\n", elf, rule, addr, ins, why; n++ }
    /^ *[0-9a-f]+:\t/ {
      a = $1; sub(/^ */, "", a); sub(/:$/, "", a); addr = hex(a)
      ins = $2; gsub(/ +/, " ", ins)
      # the mnemonic is the first word after any prefixes
      split(ins, w, " "); m = w[1]; k = 1
      while (m ~ /^(lock|rep|repz|repe|repnz|repne|cs|ds|es|fs|gs|ss|data16|addr32|notrack|bnd|rex(\.[WRXB]+)?)$/ && k < length(w)) { k++; m = w[k] }
      ring0 = addr >= r0s && addr < r0e
      if (m ~ /^(syscall|sysretq?|sysretl|sysenter|sysexitq?|sysexitl)$/)
        bad("R1 no SYSCALL/SYSRET/SYSENTER", "on PVM SYSCALL stays at CPL 3; enter ring 0 with int $0x30")
      if (m == "int" && ins !~ /^int \$0x30$/)
        bad("R2 no int n but the system-call vector", "on PVM int n raises #UD; only int $0x30 is recognised")
      if (m ~ /^(int3|into|icebp|int1)$/)
        bad("R2 no int3/into/icebp", "breakpoint-style traps are not part of the kit (PVM: wrong RIP, or internal error in ring 0)")
      if (ring0 && (ins ~ /%[xyz]mm[0-9]/ || ins ~ /%mm[0-7]/ || ins ~ /%st/ || m ~ /^f/ || \
                    m ~ /^(ldmxcsr|stmxcsr|emms|xsave|xsaveopt|xrstor|vzeroupper|movnti)$/))
        bad("R3 ring 0 is integer-only", "SSE/x87/MMX are not emulated in ring 0 on PVM")
      if (allow_nondet != 1 && m ~ /^(rdtscp?|rdrand|rdseed|rdpid)$/)
        bad("R4 no rdtsc/rdtscp/rdrand/rdseed/rdpid", "nothing traps them on PVM: the replay would diverge")
      if (ring0) r0n++
    }
    END {
      if (r0n < 20) { printf "%s: only %d instructions between ftd_ring0_start and ftd_ring0_end\n", elf, r0n; n++ }
      exit n ? 1 : 0
    }'
}

fail=0

# --- self-check: each rule must fire on an image that breaks it ------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
selfcheck() { # RULE ASM...
  local rule=$1; shift
  printf '%s\n' ".text" ".globl _start" "_start:" "ftd_ring0_start:" "$@" \
    $(for i in $(seq 24); do echo "nop"; done) "ftd_ring0_end:" "ret" >"$tmp/t.s"
  # the instruction under test sits in the ring-0 window (R3 applies only there)
  gcc -c -o "$tmp/t.o" "$tmp/t.s" 2>"$tmp/err" && ld -o "$tmp/t.elf" -e _start "$tmp/t.o" 2>>"$tmp/err" || {
    echo "self-check: cannot build a test image: $(cat "$tmp/err")"; fail=1; return; }
  local out
  out=$(check_image "$tmp/t.elf" 0)
  if [ $? = 0 ] || ! grep -q "$rule" <<<"$out"; then
    echo "self-check: rule $rule did not fire on: $*"; echo "$out"; fail=1
  fi
}
selfcheck R1 "syscall"
selfcheck R1 "sysretq"
selfcheck R2 "int \$0x80"
selfcheck R2 "int3"
selfcheck R3 "movaps %xmm0, %xmm1"
selfcheck R3 "fninit"
selfcheck R4 "rdtsc"
selfcheck R4 "rdrand %eax"
[ $fail = 0 ] && echo "self-check: rules R1-R4 fire on images that break them, and a clean image passes"
# and a clean one passes
printf '%s\n' ".text" ".globl _start" "_start:" "ftd_ring0_start:" \
  $(for i in $(seq 24); do echo "nop"; done) "ftd_ring0_end:" "int \$0x30" "movaps %xmm0, %xmm1" "ret" >"$tmp/ok.s"
gcc -c -o "$tmp/ok.o" "$tmp/ok.s" && ld -o "$tmp/ok.elf" -e _start "$tmp/ok.o" && check_image "$tmp/ok.elf" 0 >"$tmp/out" \
  || { echo "self-check: a clean image was refused:"; cat "$tmp/out"; fail=1; }

# --- the guest images -------------------------------------------------------------------------
shopt -s nullglob
images=("$guest_dir"/*.elf)
if [ ${#images[@]} -lt 5 ]; then
  echo "GuestIsaTest: expected the guest images in $guest_dir, found ${#images[@]}"
  exit 1
fi
for elf in "${images[@]}"; do
  allow=0
  [ "$(basename "$elf")" = nondet.elf ] && allow=1
  if check_image "$elf" "$allow"; then
    echo "ok: $(basename "$elf")"
  else
    fail=1
  fi
done
# The deliberate exception must really contain what it is excused for (else R4 is untested).
if ! $OBJDUMP -d "$guest_dir/nondet.elf" 2>/dev/null | grep -qw rdtsc; then
  echo "GuestIsaTest: nondet.elf has no rdtsc: the divergence test would not test anything"
  fail=1
fi
[ $fail = 0 ] && echo "GuestIsaTest: every image keeps to the PVM rules (R1-R4)"
exit $fail
