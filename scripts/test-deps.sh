#!/usr/bin/env bash
# What `make test` needs beyond the Rust toolchain, installed with apt-get when missing, so that
# the README's two commands pass on a fresh Debian machine. Silent when everything is there.
#
#   file, script (bsdutils), bash, dash    the quoting and static-binary tests
#   logrotate                              follow_files::real_logrotate_with_the_pve_stanza
#   localedef + /usr/share/i18n (locales)  tests/integration/locales.rs (old logs' month names)
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

need=()
command -v file >/dev/null || need+=(file)
command -v script >/dev/null || need+=(bsdutils)
command -v bash >/dev/null || need+=(bash)
command -v dash >/dev/null || need+=(dash)
command -v logrotate >/dev/null || need+=(logrotate)
{ test -d /usr/share/i18n/locales && command -v localedef >/dev/null; } || need+=(locales)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "test-deps: installing ${need[*]} for the tests" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
