#!/usr/bin/env bash
# deploy/install.sh: installs ftd on a host of a pair: the binary, the guest images, the
# systemd units, the config file and (optionally) the replication certificates.
#
#   deploy/install.sh [--build DIR] [--prefix DIR] [--sysconfdir DIR] [--unitdir DIR]
#                     [--destdir DIR] [--certs HOST...]
#
#   --build DIR       the build directory with ftd and guest/*.elf (default: build)
#   --prefix DIR      default /usr/local: DIR/bin/ftd, DIR/share/ftd/guest/*.elf,
#                     DIR/share/doc/ftd/
#   --sysconfdir DIR  default /etc: DIR/ftd/ftd.conf, DIR/ftd/certs/
#   --unitdir DIR     default SYSCONFDIR/systemd/system: ftd-primary.service, ftd-backup.service
#   --destdir DIR     stage everything under DIR (as DESTDIR does; also from $DESTDIR); the
#                     installed files name the paths without it
#   --certs HOST...   make (deploy/make-certs.sh) the pair's CA and a certificate per HOST (an
#                     address or name the peer dials) in SYSCONFDIR/ftd/certs; existing ones
#                     are kept. Copy the other host's HOST.crt/.key and ca.crt to it, then
#                     move ca.key off both hosts. Must come last.
#
# The config file is installed only when there is none: an existing ftd.conf is never
# replaced (the new sample goes beside it as ftd.conf.dist). The units and the config name
# the installed paths (the prefix and sysconfdir given). Afterwards: edit ftd.conf, then
# `systemctl daemon-reload` and `systemctl enable --now ftd-backup` (or ftd-primary).
set -euo pipefail

usage() {
  sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=$src/build prefix=/usr/local sysconfdir=/etc unitdir='' destdir=${DESTDIR:-}
certs=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=${2:?}; shift 2 ;;
    --prefix) prefix=${2:?}; shift 2 ;;
    --sysconfdir) sysconfdir=${2:?}; shift 2 ;;
    --unitdir) unitdir=${2:?}; shift 2 ;;
    --destdir) destdir=${2:?}; shift 2 ;;
    --certs) shift; certs=("$@"); [ ${#certs[@]} -gt 0 ] || usage; break ;;
    -h|--help) usage ;;
    *) echo "install: unknown option '$1'" >&2; usage ;;
  esac
done
unitdir=${unitdir:-$sysconfdir/systemd/system}
for d in "$prefix" "$sysconfdir" "$unitdir"; do
  case $d in /*) ;; *) echo "install: '$d' is not an absolute path" >&2; exit 2 ;; esac
done
[ -x "$build/ftd" ] || { echo "install: no $build/ftd (build first, or give --build DIR)" >&2; exit 1; }
images=("$build"/guest/*.elf)
[ -e "${images[0]}" ] || { echo "install: no guest images in $build/guest" >&2; exit 1; }

bindir=$prefix/bin guestdir=$prefix/share/ftd/guest docdir=$prefix/share/doc/ftd
confdir=$sysconfdir/ftd

# The installed paths in the files that name them (the sources name the defaults).
paths() {
  sed -e "s|/usr/local/bin/|$bindir/|g" -e "s|/usr/local/share/ftd/guest/|$guestdir/|g" \
    -e "s|/usr/local/share/doc/ftd/|$docdir/|g" -e "s|/etc/ftd/|$confdir/|g" "$1"
}

install -d "$destdir$bindir" "$destdir$guestdir" "$destdir$docdir" "$destdir$unitdir"
install -d -m 0755 "$destdir$confdir"
install -m 0755 "$build/ftd" "$destdir$bindir/ftd"
install -m 0644 "${images[@]}" "$destdir$guestdir/"
install -m 0644 "$src/docs/pair.md" "$src/README.md" "$destdir$docdir/"
for unit in ftd-primary.service ftd-backup.service; do
  paths "$here/systemd/$unit" >"$destdir$unitdir/$unit.tmp"
  chmod 0644 "$destdir$unitdir/$unit.tmp"
  mv "$destdir$unitdir/$unit.tmp" "$destdir$unitdir/$unit"
done
conf=$destdir$confdir/ftd.conf
if [ -e "$conf" ]; then
  paths "$here/ftd.conf" >"$conf.dist"
  echo "install: kept $confdir/ftd.conf (the new sample is ftd.conf.dist beside it)"
else
  paths "$here/ftd.conf" >"$conf.tmp"
  chmod 0644 "$conf.tmp"
  mv "$conf.tmp" "$conf"
  echo "install: $confdir/ftd.conf installed: edit it for this host"
fi
if [ ${#certs[@]} -gt 0 ]; then
  "$here/make-certs.sh" "$destdir$confdir/certs" "${certs[@]}" >/dev/null
  echo "install: certificates for ${certs[*]} in $confdir/certs (move ca.key off this host once" \
    "the other host has its pair)"
fi
echo "install: ftd in $bindir, ${#images[@]} guest images in $guestdir, units in $unitdir${destdir:+ (staged under $destdir)}"
