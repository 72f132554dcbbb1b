# pverec — build, test, install. `make demo` and `make test` are the README's quick start.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man/man1
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
# Where Debian's zsh looks: site-functions for local installs, vendor-completions for packages.
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
# pverec-audit.service: /lib/systemd/system for PREFIX=/usr (Debian 12's place for a package's
# units), PREFIX/lib/systemd/system otherwise (/usr/local/lib/systemd/system is on systemd's
# unit path). The logrotate stanza goes where logrotate reads, whatever PREFIX is.
UNITDIR = $(DESTDIR)$(if $(filter /usr,$(PREFIX)),,$(PREFIX))/lib/systemd/system
SYSCONFDIR ?= /etc
LOGROTATEDIR = $(DESTDIR)$(SYSCONFDIR)/logrotate.d
# Where the JSON-file alternative of the unit writes (README, "Always-on audit trail").
AUDITLOGDIR = $(DESTDIR)/var/log/pverec

CARGO ?= cargo
TARGET = x86_64-unknown-linux-gnu
# Cargo's output directory (honours CARGO_TARGET_DIR, like cargo itself).
TARGET_DIR = $(or $(CARGO_TARGET_DIR),target)
RELEASE = $(TARGET_DIR)/release/pverec
STATIC = $(TARGET_DIR)/$(TARGET)/release/pverec
SAMPLES = tests/data/access.log tests/data/access.log.1 tests/data/access.log.2.gz

.PHONY: all release static deb deb-check demo test test-deps lint fmt man completions schema install uninstall bench bench-memory bench-follow bench-cluster join-rate session-rate fuzz clean

all: release

release:
	$(CARGO) build --release --locked

# A fully static binary: glibc's static libc, so it runs on any x86_64 PVE node.
static:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked --target $(TARGET)
	@file $(STATIC) | grep -q 'static' || { echo "$(STATIC) is not static" >&2; exit 1; }

demo: release
	@echo '== pverec convert --rotated tests/data/access.log   (writes, as pvesh commands)'
	@echo '   (line 20 of the sample log is malformed on purpose: the "not an access.log line" report on stderr is expected)'
	@$(RELEASE) convert --rotated tests/data/access.log
	@echo
	@echo '== pverec convert -f json --user alice@pve tests/data/access.log   (JSON audit records; the same deliberate malformed line)'
	@$(RELEASE) convert -f json --user alice@pve tests/data/access.log
	@echo
	@echo '== pverec convert --tasks DIR --events FILE   (joined with the task index and a saved recorder spool: outcomes, bodies)'
	@cd tests/data/tasks && $(abspath $(RELEASE)) convert --node pve1 --tasks . --events spool.events access.log
	@echo
	@echo '== pverec convert --class write,auth --journal-file entries.json --tasks DIR   (with the journal: logins with their user, VM changes with their parameters, work on the shell; one ambiguous split reported on stderr)'
	@cd tests/data/journal && TZ=Europe/Vienna $(abspath $(RELEASE)) convert --node pve1 --class write,auth --tasks tasks --journal-file entries.json access.log
	@echo
	@echo '== pverec sessions --tasks DIR --journal-file entries.json --etc-pve DIR   (consoles, web UI logins, API token use; two ambiguous websocket lines and a refused console request reported on stderr)'
	@cd tests/data/sessions && TZ=Europe/Vienna $(abspath $(RELEASE)) sessions --tasks tasks --journal-file entries.json --etc-pve etc-pve access.log
	@echo
	@echo '== pverec follow --since 2026-06-01 --access-log COPY/access.log   (history, then live: a line appended after 0.5 s; SIGTERM after 1.5 s)'
	@d=$$(mktemp -d); cp tests/data/access.log.1 tests/data/access.log $$d/ || exit 1; \
	  { sleep 0.5; tail -n 1 tests/data/access.log.1 | sed 's/24\/06\/2026:00/25\/06\/2026:09/' >> $$d/access.log; } & \
	  timeout -s TERM 1.5 $(RELEASE) follow --access-log $$d/access.log --since 2026-06-01 --node pve1 2>/dev/null; \
	  status=$$?; rm -rf $$d; [ $$status -eq 124 ] || [ $$status -eq 0 ]

test: test-deps lint
	$(CARGO) nextest run --locked --no-fail-fast
	$(MAKE) deb-check

# What the tests need beyond cargo (logrotate, glibc's locale sources, …): installed with
# apt-get when missing, silent when present; what apt cannot give (cargo-nextest) stops the run,
# named (scripts/test-deps.sh).
test-deps:
	@bash scripts/test-deps.sh

# Every fuzz target under fuzz/ for FUZZ_SECONDS each (cargo-fuzz, libFuzzer, the nightly
# toolchain), seeded from tests/data; prints execs/s and findings per target (scripts/fuzz.py).
FUZZ_SECONDS ?= 60
fuzz:
	python3 scripts/fuzz.py --seconds $(FUZZ_SECONDS)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

man: release
	$(RELEASE) man > man/pverec.1

completions: release
	$(RELEASE) completions bash > completions/pverec.bash
	$(RELEASE) completions zsh > completions/_pverec
	$(RELEASE) completions fish > completions/pverec.fish

# Regenerate the embedded API schema from ../shared/data/pve-api-schema.json.
schema:
	python3 scripts/gen-api.py > src/api/schema.rs

# Installs the binary `make static` built, as it is: run as root, this builds nothing (a build
# as root would leave root-owned files in the tree and the cargo cache).
install:
	@test -f $(STATIC) || { echo "make install: no static build at $(STATIC): run make static first" >&2; exit 1; }
	install -Dm755 $(STATIC) $(BINDIR)/pverec
	install -Dm644 man/pverec.1 $(MANDIR)/pverec.1
	install -Dm644 completions/pverec.bash $(BASHDIR)/pverec
	install -Dm644 completions/_pverec $(ZSHDIR)/_pverec
	install -Dm644 completions/pverec.fish $(FISHDIR)/pverec.fish
	install -d $(UNITDIR)
	sed 's|@BINDIR@|$(PREFIX)/bin|g' dist/pverec-audit.service.in > $(UNITDIR)/pverec-audit.service
	chmod 644 $(UNITDIR)/pverec-audit.service
	install -Dm644 dist/pverec.logrotate $(LOGROTATEDIR)/pverec
	install -d -m 755 $(AUDITLOGDIR)

uninstall:
	rm -f $(BINDIR)/pverec $(MANDIR)/pverec.1 $(BASHDIR)/pverec $(ZSHDIR)/_pverec $(FISHDIR)/pverec.fish
	rm -f $(UNITDIR)/pverec-audit.service $(LOGROTATEDIR)/pverec
	-rmdir $(AUDITLOGDIR) 2>/dev/null

# The Debian package, from the `make static` binary: $(DEB). scripts/make-deb.sh says what is in it.
VERSION = $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
DEB = $(TARGET_DIR)/pverec_$(VERSION)_amd64.deb
DEBROOT = $(TARGET_DIR)/deb/root
deb: static
	rm -rf $(DEBROOT)
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEBROOT)) PREFIX=/usr SYSCONFDIR=/etc
	bash scripts/make-deb.sh $(DEBROOT) $(VERSION) $(DEB)
	@echo $(DEB)

# lintian on the package, then installs, removes and purges it in a scratch root
# (scripts/deb-check.sh); `make test` runs it after the tests.
deb-check: deb
	bash scripts/deb-check.sh $(DEB)

bench: static
	python3 scripts/bench.py --pverec $(STATIC)

# How many task-starting requests get their task, on a generated log with a task index and
# the truth of what each request started (scripts/gen-tasks.py).
join-rate: release
	python3 scripts/gen-tasks.py $(TARGET_DIR)/join-rate --check
	python3 scripts/join-rate.py $(TARGET_DIR)/join-rate --pverec $(RELEASE)

# How many sessions `pverec sessions` rebuilds exactly, on a generated node with consoles, UI
# logins and API tokens, against the generator's truth-sessions.jsonl (scripts/session-rate.py).
session-rate: release
	python3 scripts/session-rate.py $(TARGET_DIR)/session-rate --pverec $(RELEASE)

bench-memory: static
	python3 scripts/bench-memory.py --pverec $(STATIC)

bench-follow: static
	python3 scripts/bench-follow.py --pverec $(STATIC)

# A cluster read over SSH (issue 15): 3 and 16 nodes, each a real sshd in its own network, mount
# and pid namespaces (10.214.Y.0/24, bridge pvbench-brY), logs from scripts/gen-cluster.py with
# proxied requests on both nodes; wall time, peak RSS and folded hops. Needs root.
bench-cluster: static
	python3 scripts/bench-cluster.py --pverec $(STATIC) --dir $(TARGET_DIR)/bench-cluster

clean:
	$(CARGO) clean
