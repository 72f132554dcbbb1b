#!/usr/bin/env bash
# Builds the Debian package of pverec from a tree `make install DESTDIR=ROOT PREFIX=/usr` filled
# (the static binary, man page, completions, the unit in /lib/systemd/system, the logrotate
# conffile): adds what a .deb has beyond the files (the man page gzipped, copyright, changelog.gz
# (the package's version is Cargo.toml's, with no Debian revision: a native package, whose
# changelog lintian wants under that name, not changelog.Debian.gz), control, md5sums, conffiles, maintainer scripts from dist/debian/) and
# packs it with dpkg-deb, everything owned by root. No debhelper, no network.
#
#   scripts/make-deb.sh ROOT VERSION OUT.deb
#
# Reproducible: every mtime is SOURCE_DATE_EPOCH (from the environment, else the last commit's
# time, else 0), which dpkg-deb also uses for its ar and tar headers; gzip -9n stores no name or
# time; dpkg-deb sorts the tar members. Two builds of one commit are the same bytes
# (scripts/deb-check.sh builds twice and compares).
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 ROOT VERSION OUT.deb" >&2; exit 2; }
root=$1 version=$2 out=$3
here=$(cd "$(dirname "$0")/.." && pwd)
debian=$here/dist/debian

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$here" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
maintainer=${DEB_MAINTAINER:-The pverec developers <maintainers@pverec.invalid>}
# The changelog's date, in the form Debian's changelog wants (RFC 5322).
date=$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")

[ -x "$root/usr/bin/pverec" ] || { echo "$0: $root/usr/bin/pverec missing: run make install DESTDIR=$root PREFIX=/usr first" >&2; exit 1; }

# What dh_strip would do: `make static` strips symbols already (Cargo.toml, strip = "symbols");
# the compiler's .comment and .note sections go too.
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/pverec"

# Debian's places: the man page compressed, the docs, lintian's overrides (each explained there).
man=$root/usr/share/man/man1/pverec.1
if [ -f "$man" ]; then
  gzip -9n -f "$man"
fi
doc=$root/usr/share/doc/pverec
install -d -m 0755 "$doc"
install -m 0644 "$debian/copyright" "$doc/copyright"
{
  printf 'pverec (%s) unstable; urgency=medium\n\n' "$version"
  printf '  * Built from the pverec sources (make deb); the project'"'"'s history is its\n'
  printf '    git log.\n\n'
  printf ' -- %s  %s\n' "$maintainer" "$date"
} | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
install -D -m 0644 "$debian/lintian-overrides" "$root/usr/share/lintian/overrides/pverec"

# Control area.
control=$root/DEBIAN
rm -rf "$control"
install -d -m 0755 "$control"
for script in postinst prerm postrm; do
  install -m 0755 "$debian/$script" "$control/$script"
done
# Every file under /etc is a conffile (Debian policy 10.7.2): dpkg keeps the administrator's
# edits on upgrade and the file on remove; purge removes it.
(cd "$root" && find etc -type f | LC_ALL=C sort | sed 's|^|/|') > "$control/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum) > "$control/md5sums"
# Installed-Size in KiB, as dpkg-gencontrol counts it: each file's size rounded up, a directory 1.
size=$(cd "$root" && find . -path ./DEBIAN -prune -o \( -type f -printf '%s\n' \) -o \( -type d -printf '1024\n' \) \
  | awk '{ kib += int(($1 + 1023) / 1024) } END { print kib }')
sed -e "s|@VERSION@|$version|" -e "s|@MAINTAINER@|$maintainer|" -e "s|@INSTALLED_SIZE@|$size|" \
  "$debian/control.in" > "$control/control"
chmod 0644 "$control/control" "$control/md5sums" "$control/conffiles"

# Modes as Debian wants them whatever the umask was; every mtime the same.
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
