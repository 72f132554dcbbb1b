#!/usr/bin/env bash
# What `make test` needs beyond the Rust toolchain, so that the README's two commands pass on a
# fresh Debian machine: installed with apt-get when missing (as root, or through sudo), silent
# when everything is there. What apt cannot give (cargo-nextest, rustup components), or anything
# when apt-get cannot be run, stops the run at once, naming what to install (exit 1).
#
#   scripts/test-deps.sh            install what is missing
#   scripts/test-deps.sh --check    only name what is missing (stderr, exit 1); install nothing
#
# `make test` and `.ci/run` (through `make test`) run this one list; the integration tests that
# run one of these programs say "run `make test-deps`" when it is missing (util::require_tool).
set -euo pipefail

check=0
case "${1-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# logrotate lives in /usr/sbin, which a user's PATH lacks, and systemd-journal-remote in
# /usr/lib/systemd, on no PATH at all (the tests look there too).
# TEST_DEPS_SBIN replaces these directories; tests/integration/day_one_docs.rs empties it.
PATH="$PATH:${TEST_DEPS_SBIN-/usr/sbin:/sbin:/usr/lib/systemd:/lib/systemd}"

# command     Debian package  what runs it
programs="
bash          bash            the quoting, secrets, script-format and bash completion tests
dash          dash            src/render/quote.rs (sh), scripts written by the tests (#!/bin/sh)
script        bsdutils        errors.rs: progress on a terminal (a pty from script(1))
file          file            make static (file must say the binary is static)
logrotate     logrotate       follow_files::real_logrotate_with_the_pve_stanza
gzip          gzip            logrotate's compress in that test
localedef     libc-bin        locales.rs: compiles glibc's locale sources
locale        libc-bin        locales.rs: checks that a compiled locale loads
iconv         libc-bin        locales.rs: reads old month names back
date          coreutils       locales.rs: glibc's %b in each locale
python3       python3         src/api (schema staleness), tasks.rs (scripts/gen-tasks.py)
groff         groff-base      day_one_docs.rs: the man page renders without warnings
man           man-db          day_one_docs.rs: man -l reads the page
zsh           zsh             day_one_docs.rs: the zsh completion loads and completes
fish          fish            day_one_docs.rs: the fish completion completes
make          make            make test itself; day_one_docs.rs: make install
journalctl    systemd         journal_util.rs: reads the journal files the tests build
systemd-analyze systemd       packaging.rs: verify and security of pverec-audit.service
lintian       lintian         make deb-check: the package is lintian clean
dpkg-deb      dpkg            make deb (scripts/make-deb.sh); make deb-check installs with dpkg --root
strip         binutils        make deb: strips .comment and .note, as dh_strip would
rsyslogd      rsyslog         packaging.rs: the README's rsyslog forwarding passes rsyslogd -N1; sinks.rs: a real collector of the syslog+tcp:// sink
strace        strace          packaging.rs: the system calls pverec and journalctl make pass the unit's filter
systemd-journal-remote systemd-journal-remote journal_util.rs: builds a real journal file from export text
sshd          openssh-server  cluster_util.rs: a real sshd per node of a test cluster
ssh           openssh-client  cluster_util.rs: the client pverec runs, and the harness's checks
ssh-keygen    openssh-client  cluster_util.rs: the nodes' host keys and the client key
ip            iproute2        cluster_util.rs: a network namespace, veth and bridge per node
unshare       util-linux      cluster_util.rs: each node's mount, UTS and pid namespaces
setpriv       util-linux      cluster_util.rs: a node dies with the test that started it
nsenter       util-linux      cluster_util.rs: Node::command runs a program on a node
systemd-journald systemd     sinks.rs: a real journald takes --to journal entries
"

packages=()
while read -r command package _; do
  [ -n "$command" ] || continue
  command -v "$command" >/dev/null 2>&1 || packages+=("$package")
done <<<"$programs"
# glibc's locale sources, which localedef compiles (locales.rs).
test -d /usr/share/i18n/locales || packages+=(locales)
# Each package once, in the order found.
if [ ${#packages[@]} -gt 0 ]; then
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | awk '!seen[$0]++')
fi

# What apt does not ship: cargo's test runner and the lint components.
cargo=${CARGO:-cargo}
other=()
if ! command -v "$cargo" >/dev/null 2>&1; then
  other+=("cargo (the Rust toolchain: https://rustup.rs)")
else
  "$cargo" nextest --version >/dev/null 2>&1 || other+=("cargo-nextest (cargo install --locked cargo-nextest)")
  components=()
  "$cargo" clippy --version >/dev/null 2>&1 || components+=(clippy)
  "$cargo" fmt --version >/dev/null 2>&1 || components+=(rustfmt)
  if [ ${#components[@]} -gt 0 ]; then
    if [ $check -eq 0 ] && command -v rustup >/dev/null 2>&1; then
      echo "test-deps: adding ${components[*]} to the Rust toolchain" >&2
      rustup component add "${components[@]}" >&2
    else
      other+=("${components[*]} (rustup component add ${components[*]})")
    fi
  fi
fi

[ ${#packages[@]} -eq 0 ] && [ ${#other[@]} -eq 0 ] && exit 0

if [ ${#other[@]} -gt 0 ]; then
  for what in "${other[@]}"; do
    echo "test-deps: missing $what" >&2
  done
fi
sudo=()
if [ ${#packages[@]} -gt 0 ]; then
  why=""
  if [ $check -eq 1 ]; then
    why="--check: nothing installed"
  elif ! command -v apt-get >/dev/null 2>&1; then
    why="no apt-get on this machine"
  elif [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else why="not root and no sudo"; fi
  fi
  if [ -n "$why" ] || [ ${#other[@]} -gt 0 ]; then
    echo "test-deps: missing Debian packages: ${packages[*]} (apt-get install ${packages[*]})${why:+; $why}" >&2
    exit 1
  fi
else
  exit 1
fi

echo "test-deps: installing ${packages[*]} for the tests" >&2
# openssh-server's postinst would start a system-wide sshd on this machine's port 22, rsyslog's a
# system-wide rsyslogd; the tests start their own sshd, inside namespaces, and only check rsyslog
# configuration. A policy-rc.d saying "not allowed" (101) for the length of this install stops
# those starts (invoke-rc.d and deb-systemd-invoke both honour it).
policy=/usr/sbin/policy-rc.d
if printf '%s\n' "${packages[@]}" | grep -qxE 'openssh-server|rsyslog' && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# scripts/test-deps.sh, while it installs daemons the tests only use\nexit 101\n' \
    | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
# What the packages were for is there now, or this list is wrong: say so rather than let a test
# fail later with a less clear message.
missing=()
while read -r command package _; do
  [ -n "$command" ] || continue
  command -v "$command" >/dev/null 2>&1 || missing+=("$command")
done <<<"$programs"
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-deps: still missing after apt-get install: ${missing[*]}" >&2
  exit 1
fi
