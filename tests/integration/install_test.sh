#!/usr/bin/env bash
# deploy/install.sh into temporary directories (no root, no KVM):
# 1. staged (--destdir): the binary runs, the guest images, units, docs, config and the
#    certificates are where they belong; the installed config parses for both roles (ftd reads
#    it before --help); a second run keeps an edited config (the sample goes to ftd.conf.dist)
#    and the certificates;
# 2. installed for real into a temporary prefix/sysconfdir/unitdir: `systemd-analyze verify`
#    on both units must pass and print nothing (it reports a bad directive or a missing
#    ExecStart binary only as a warning; any line fails the test).
#
#   install_test.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# 1. Staged.
d=$work/stage
"$src/deploy/install.sh" --build "$build" --destdir "$d" --certs 198.19.0.1 198.19.0.2 \
  >"$work/install1.out" 2>&1 || fail "install.sh: $(cat "$work/install1.out")"
for f in usr/local/bin/ftd usr/local/share/ftd/guest/kv.elf usr/local/share/doc/ftd/pair.md \
  etc/ftd/ftd.conf etc/systemd/system/ftd-primary.service etc/systemd/system/ftd-backup.service \
  etc/ftd/certs/ca.crt etc/ftd/certs/198.19.0.1.crt etc/ftd/certs/198.19.0.1.key \
  etc/ftd/certs/198.19.0.2.crt; do
  [ -s "$d/$f" ] || fail "install.sh did not install /$f"
done
[ -x "$d/usr/local/bin/ftd" ] || fail "ftd is not executable"
"$d/usr/local/bin/ftd" --help >/dev/null 2>&1 || fail "the installed ftd does not run"
grep -qx "ExecStart=/usr/local/bin/ftd --role primary --config /etc/ftd/ftd.conf" \
  "$d/etc/systemd/system/ftd-primary.service" || fail "the primary unit's ExecStart names other paths"
grep -q "$d" "$d/etc/systemd/system/ftd-backup.service" "$d/etc/ftd/ftd.conf" &&
  fail "an installed file names the staging directory"
for role in primary backup; do
  "$d/usr/local/bin/ftd" --role "$role" --config "$d/etc/ftd/ftd.conf" --help >"$work/help.out" 2>&1 ||
    fail "the installed config does not parse ($role): $(head -3 "$work/help.out")"
done
# A second run: the edited config and the certificates stay.
echo "# edited by the operator" >>"$d/etc/ftd/ftd.conf"
sum_conf=$(md5sum <"$d/etc/ftd/ftd.conf")
sum_cert=$(md5sum <"$d/etc/ftd/certs/198.19.0.1.crt")
"$src/deploy/install.sh" --build "$build" --destdir "$d" --certs 198.19.0.1 198.19.0.2 \
  >"$work/install2.out" 2>&1 || fail "install.sh (again): $(cat "$work/install2.out")"
[ "$(md5sum <"$d/etc/ftd/ftd.conf")" = "$sum_conf" ] || fail "a second install replaced the config"
[ -s "$d/etc/ftd/ftd.conf.dist" ] || fail "a second install did not leave the sample as ftd.conf.dist"
[ "$(md5sum <"$d/etc/ftd/certs/198.19.0.1.crt")" = "$sum_cert" ] || fail "a second install replaced a certificate"
echo "staged install: $(find "$d" -type f | wc -l) files; config kept on reinstall"

# 2. Real paths in a temporary root, for systemd-analyze.
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: no systemd-analyze"
  exit 77
fi
r=$work/root
"$src/deploy/install.sh" --build "$build" --prefix "$r/usr" --sysconfdir "$r/etc" --unitdir "$r/units" \
  >"$work/install3.out" 2>&1 || fail "install.sh (prefix): $(cat "$work/install3.out")"
grep -qx "ExecStart=$r/usr/bin/ftd --role backup --config $r/etc/ftd/ftd.conf" "$r/units/ftd-backup.service" ||
  fail "the backup unit does not name the prefix: $(grep ExecStart "$r/units/ftd-backup.service")"
grep -qx "guest = $r/usr/share/ftd/guest/kv.elf" "$r/etc/ftd/ftd.conf" || fail "the config does not name the prefix's guest"
systemd-analyze verify "$r/units/ftd-primary.service" "$r/units/ftd-backup.service" >"$work/verify.out" 2>&1
rc=$?
[ "$rc" = 0 ] && [ ! -s "$work/verify.out" ] ||
  fail "systemd-analyze verify (exit $rc): $(cat "$work/verify.out")"
# The check can fail: a unit with a bad directive prints a warning.
sed 's/^Type=notify$/Type=notifie/' "$r/units/ftd-primary.service" >"$r/units/ftd-broken.service"
systemd-analyze verify "$r/units/ftd-broken.service" >"$work/verify-broken.out" 2>&1
[ -s "$work/verify-broken.out" ] || fail "systemd-analyze verify did not report a broken unit"
echo "systemd-analyze verify: both units clean"
echo "PASS"
