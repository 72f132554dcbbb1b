#!/usr/bin/env bash
# Checks the package `make deb` built, as `make test` (and so CI) runs it after the tests:
#  1. lintian reports nothing, at every level down to pedantic, beyond the overrides the package
#     carries (dist/debian/lintian-overrides, each explained there);
#  2. a second build of the same tree gives the same bytes (reproducible);
#  3. dpkg installs it into a scratch root (dpkg --root, maintainer scripts run without chroot
#     with DPKG_ROOT set, as Debian's installers do; this machine's own systemd is not touched):
#     each file where Debian wants it, with its mode, the unit naming the installed binary and
#     enabled; `dpkg -r` leaves the conffile and nothing else of the package; `dpkg -P` leaves
#     nothing at all, not the state pverec-audit.service would have written either.
#
#   scripts/deb-check.sh DEB      (make deb-check builds DEB first)
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DEB" >&2; exit 2; }
deb=$(realpath "$1")
here=$(cd "$(dirname "$0")/.." && pwd)
PATH="$PATH:/usr/sbin:/sbin"

fail() { echo "deb-check: $*" >&2; exit 1; }
for tool in lintian dpkg dpkg-deb; do
  command -v "$tool" >/dev/null || fail "$tool is not installed: run make test-deps"
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/pverec-deb-check.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# 1. lintian. It warns when run as root (CI is root); that line is no finding.
findings=$(lintian --pedantic --display-info --fail-on error,warning,info,pedantic "$deb" 2>&1) \
  || { echo "$findings" >&2; fail "lintian: findings on $deb (above)"; }
findings=$(grep -v '^running with root privileges is not recommended!$' <<<"$findings" || true)
[ -z "$findings" ] || { echo "$findings" >&2; fail "lintian said something about $deb"; }

# 2. Reproducible: the same tree, packed again elsewhere.
make --no-print-directory -C "$here" deb DEB="$scratch/again.deb" DEBROOT="$scratch/again" \
  >"$scratch/again.log" 2>&1 || { cat "$scratch/again.log" >&2; fail "make deb (again) failed"; }
cmp -s "$deb" "$scratch/again.deb" || fail "two builds of $deb differ (not reproducible)"

# 3. Install, remove, purge in a scratch root.
root=$scratch/root
admin=$root/var/lib/dpkg
mkdir -p "$admin/info" "$admin/updates" "$admin/triggers"
# systemd's own directories, there on every system this package is for (deb-systemd-helper
# would make them, and no purge of pverec should remove them).
mkdir -p "$root/etc/systemd/system" "$root/var/lib/systemd"
: > "$admin/status"
: > "$admin/available"
before=$(cd "$root" && find . | LC_ALL=C sort)
dpkg_() {
  dpkg --root="$root" --force-script-chrootless --force-not-root --log=/dev/null "$@"
}

dpkg_ -i "$deb" >"$scratch/install.log" 2>&1 || { cat "$scratch/install.log" >&2; fail "dpkg -i failed"; }
status=$(dpkg-query --root="$root" -W -f='${db:Status-Abbrev}' pverec)
[ "$status" = "ii " ] || fail "after dpkg -i, pverec's status is '$status', not installed"

mode() { stat -c %a "$root$1" 2>/dev/null || echo missing; }
expect_mode() {
  local path=$1 want=$2 got
  got=$(mode "$path")
  [ "$got" = "$want" ] || fail "$path: mode $got, expected $want"
  if [ "$want" != missing ]; then
    [ "$(stat -c %u:%g "$root$path")" = "$(id -u):$(id -g)" ] \
      || fail "$path: not owned by the installing user"
  fi
}
files="
/usr/bin/pverec 755
/usr/share/man/man1/pverec.1.gz 644
/usr/share/bash-completion/completions/pverec 644
/usr/share/zsh/vendor-completions/_pverec 644
/usr/share/fish/vendor_completions.d/pverec.fish 644
/lib/systemd/system/pverec-audit.service 644
/etc/logrotate.d/pverec 644
/usr/share/doc/pverec/copyright 644
/usr/share/doc/pverec/changelog.gz 644
/usr/share/lintian/overrides/pverec 644
/var/log/pverec 755
"
while read -r path want; do
  [ -n "$path" ] && expect_mode "$path" "$want"
done <<<"$files"
# In the package, owned by root (dpkg-deb --root-owner-group), whoever built it.
owners=$(dpkg-deb --fsys-tarfile "$deb" | tar -t -v | awk '{ print $2 }' | sort -u)
[ "$owners" = "root/root" ] || fail "files in $deb owned by $owners, not root/root"

"$root/usr/bin/pverec" --version >/dev/null || fail "the installed pverec does not run"
cmp -s <(gzip -dc "$root/usr/share/man/man1/pverec.1.gz") "$here/man/pverec.1" \
  || fail "the installed man page is not man/pverec.1"
grep -qx 'ExecStart=/usr/bin/pverec follow --state /var/lib/pverec/follow.state -f ecs --to journal' \
  "$root/lib/systemd/system/pverec-audit.service" || fail "the installed unit does not run /usr/bin/pverec"
grep -q '@BINDIR@' "$root/lib/systemd/system/pverec-audit.service" && fail "the installed unit still says @BINDIR@"
link=$root/etc/systemd/system/multi-user.target.wants/pverec-audit.service
[ "$(readlink "$link")" = /lib/systemd/system/pverec-audit.service ] \
  || fail "postinst did not enable pverec-audit.service ($link)"
[ "$(dpkg-query --root="$root" -W -f='${Conffiles}' pverec | awk 'NF { print $1 }')" = /etc/logrotate.d/pverec ] \
  || fail "/etc/logrotate.d/pverec is not the package's one conffile"

# What the running service would leave: its checkpoint, a JSON-file log and its rotation.
mkdir -p "$root/var/lib/pverec"
echo '{}' > "$root/var/lib/pverec/follow.state"
echo '{}' > "$root/var/log/pverec/audit.json"
echo '{}' | gzip > "$root/var/log/pverec/audit.json.2.gz"

dpkg_ -r pverec >"$scratch/remove.log" 2>&1 || { cat "$scratch/remove.log" >&2; fail "dpkg -r failed"; }
status=$(dpkg-query --root="$root" -W -f='${db:Status-Abbrev}' pverec)
[ "$status" = "rc " ] || fail "after dpkg -r, pverec's status is '$status', not removed with config files"
expect_mode /etc/logrotate.d/pverec 644
expect_mode /usr/bin/pverec missing
expect_mode /lib/systemd/system/pverec-audit.service missing
[ -e "$link" ] && fail "dpkg -r left $link"

dpkg_ -P pverec >"$scratch/purge.log" 2>&1 || { cat "$scratch/purge.log" >&2; fail "dpkg -P failed"; }
dpkg-query --root="$root" -W pverec >/dev/null 2>&1 && fail "after dpkg -P, dpkg still knows pverec"
# Nothing left outside dpkg's own database (its status files, the package's list gone).
after=$(cd "$root" && find . -path ./var/lib/dpkg -prune -o -print | LC_ALL=C sort)
wanted=$(grep -v '^./var/lib/dpkg/' <<<"$before")
left=$(comm -13 <(echo "$wanted") <(echo "$after"))
[ -z "$left" ] || fail "dpkg -P left: $(echo $left)"
[ -z "$(ls "$admin/info" | grep '^pverec\.' || true)" ] || fail "dpkg -P left pverec's files in $admin/info"
