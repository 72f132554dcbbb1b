#!/usr/bin/env python3
"""`make fuzz`: seed each fuzz target's corpus from the fixtures, run every target for a set
time with cargo-fuzz (libFuzzer, nightly), and print execs/s and findings per target.

    scripts/fuzz.py [--seconds N] [TARGET ...]

The corpus (fuzz/corpus/TARGET/) is seeded from tests/data each run (seeds are named by their
hash, so re-seeding adds nothing twice) and keeps what libFuzzer finds between runs; crashes go to
fuzz/artifacts/TARGET/. Exit status 1 when a target found a crash (or failed to run).
"""

import argparse
import gzip
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
DATA = ROOT / "tests" / "data"

TIME_FORMS = [
    "now", "today", "yesterday", "tomorrow", "-2h", "+1h", "1h30m", "@1782302594", "2 hours ago",
    "2h ago", "5s left", "2026-06-24", "2026-06-24 14:00", "2026-06-24 14:00:05", "26-06-24",
    "14:00", "Wed 2026-06-24 14:00", "2026-06-24 14:00 UTC", "2026-06-24 14:00 +02:00",
    "2026-06-24 14:00 Europe/Vienna", "2026-06-24T12:00:00Z", "2026-06-24T14:00:00+02:00",
    "Jun 24 14:00:05", "90s", "30m", "7d", "2w", "1.5h ago", "5m", "30s",
]
QUOTE_WORDS = [
    b"\x01\xe3\x81\x81'; echo INJECTED", b"\x81\\'x", b"\xa2\xe39'", b"caf\xc3\xa9", b"\x1b[31m",
    b"it's", b"--skiplock", b"a b", b"$(id)", b"`id`", b"\u00ad", "\u202e".encode(), b"\xff\xfe",
]
GLOBS = [
    "/nodes/*/qemu/*/config\n/nodes/pve1/qemu/100/config",
    "/nodes/{node}/qemu/{vmid}/config\n/nodes/{node}/qemu/{vmid}/config",
    "/access/**\n/access/users/alice@pve",
    "/api2/json/nodes/?ve1/**\n/nodes/pve1/storage/local/content/local:iso/x.iso",
    "/nodes/\\*\n/nodes/*",
]


def log_lines():
    """Every line of the access.log fixtures, as bytes."""
    for path in sorted(DATA.rglob("access.log*")) + [DATA / "odd-forms.log"]:
        if not path.is_file():
            continue
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        yield from (line for line in raw.split(b"\n") if line)


def seeds():
    """(target, seed bytes) pairs from the fixtures."""
    users = set()
    for line in log_lines():
        yield "access_line", line
        m = re.search(rb'"(.*)" \d{3} ', line)
        if m:
            request = m.group(1)
            yield "request_line", request
            target = request.split(b" ")[1] if request.count(b" ") >= 2 else b""
            if b"?" in target:
                yield "query", target.split(b"?", 1)[1]
        m = re.match(rb"\S+ - (\S+) \[", line)
        if m:
            users.add(m.group(1))
    for user in sorted(users):
        yield "user_id", user
    tasks = DATA / "tasks"
    for name, target in [("index", "task_index_line"), ("index.1", "task_index_line"),
                         ("active", "task_active_line")]:
        path = tasks / name
        if path.is_file():
            for line in path.read_bytes().split(b"\n"):
                if line:
                    yield target, line
                    yield "upid", line.split(b" ")[0]
    events = tasks / "spool.events"
    if events.is_file():
        for line in events.read_bytes().split(b"\n"):
            if line:
                yield "spool_event", line
    for path in sorted(DATA.glob("access.log*")) + [tasks / "access.log"]:
        yield "input_file", path.read_bytes()
    # Generations of a rotated log, oldest first, at NUL bytes: the history fixture's (which
    # overlap in time and hold a late write and a malformed line), and the sample set's.
    history = DATA / "history"
    yield "history_merge", b"\0".join([
        gzip.decompress((history / "access.log.2.gz").read_bytes()),
        (history / "access.log.1").read_bytes(), (history / "access.log").read_bytes()])
    yield "history_merge", b"\0".join([
        gzip.decompress((DATA / "access.log.2.gz").read_bytes()),
        (DATA / "access.log.1").read_bytes(), (DATA / "access.log").read_bytes()])
    for word in QUOTE_WORDS:
        yield "quote_word", word
    for line in log_lines():
        for part in re.split(rb"[ ?&=]", line):
            if part and b"\0" not in part:
                yield "quote_word", part[:64]
    journal = DATA / "journal"
    for name in ["entries.json", "syslog", "syslog.rfc3339"]:
        path = journal / name
        if path.is_file():
            for line in path.read_bytes().split(b"\n"):
                if line:
                    yield "journal_entry", line
    entries = journal / "entries.json"
    if entries.is_file():
        import json
        for line in entries.read_text().splitlines():
            message = json.loads(line).get("MESSAGE")
            if isinstance(message, str):
                yield "said_message", message.encode()
    for path in sorted((DATA / "journal" / "tasks").rglob("UPID:*")):
        for line in path.read_bytes().split(b"\n"):
            if line.startswith(b"INFO: starting new backup job: vzdump"):
                yield "task_log_job", line[len(b"INFO: starting new backup job: vzdump"):]
    for path in sorted((DATA / "etc-pve").rglob("*")):
        if path.is_file() and "priv" not in path.parts:
            yield "etc_pve_files", path.read_bytes()
    yield from etc_pve_diff_seeds()
    # A --to value, then a record line (the JSON of tests/data/tasks rendered by pverec would
    # do; a hand-made record keeps the seed independent of a build).
    for target in [b"syslog+tcp://127.0.0.1:6514", b"syslog+udp://[2001:db8::1]:514",
                   b"journal", b"journal:/run/x.sock", b"stdout"]:
        yield "sink_message", target + b'\n{"event":"request","time":"2026-06-24T12:00:05Z",' \
            b'"user":"alice@pve","object":{"type":"qemu","id":"100"},"outcome":"failure",' \
            b'"proxmox":{"user":"e\\u001b]0;x\\u0007@pve","node":"pve 1"}}'
    # config_rebuild splits its input in two halves, before and after: pairs of the fixture's
    # guest configs, the shorter padded with newlines (blank lines change nothing).
    configs = [p.read_bytes() for p in sorted((DATA / "etc-pve" / "nodes").rglob("*.conf"))]
    for a in configs:
        for b in configs:
            width = max(len(a), len(b))
            yield "config_rebuild", a.ljust(width, b"\n") + b.ljust(width, b"\n")
    yield "session_lines", (DATA / "sessions" / "access.log").read_bytes()
    # A node's answer to the cluster read's script (src/source/node.rs), and the cluster's
    # .members and --host forms; two nodes' lines for the fold of proxied hops.
    log = b'::ffff:192.0.2.10 - alice@pve [24/06/2026:12:00:05 +0000] "GET / HTTP/1.1" 200 1\n'
    yield "node_answer", (b"pverec-node 1 pve2\nlog access.log %d\n" % len(log)) + log + (
        b"task index 0\njournal\n{}\n")
    yield "node_answer", b"pverec-node 1 pve2\nend\n"
    yield "cluster_members", (b'{"nodename": "pve1", "version": 5, "nodelist": {"pve1": '
                              b'{"id": 1, "online": 1, "ip": "10.0.0.1"}}}\n'
                              b"pve2\npve2=10.0.0.2\nroot@fd00::2\npve3=admin@pve3.lab\n")
    start = b"POST /api2/extjs/nodes/pve2/qemu/105/status/start HTTP/1.1"
    yield "proxied_hops", (
        b'192.0.2.10 - alice@pve [24/06/2026:12:00:05 +0000] "' + start + b'" 200 82\n'
        b'::ffff:10.0.0.1 - alice@pve [24/06/2026:12:00:04 +0000] "' + start + b'" 200 82\n')
    for form in TIME_FORMS:
        yield "time_arg", form.encode()
    for glob in GLOBS:
        yield "path_glob", glob.encode()


def etc_pve_diff_seeds():
    """Two versions of a file under /etc/pve, as the etc_pve_diff target splits its input: the
    halves, the shorter padded with newlines (which no format reads). Each file against itself,
    and files of one kind against each other (a snapshot taken, rules of two firewalls...)."""
    formats = DATA / "etc-pve-formats"
    files = sorted(p for p in formats.iterdir() if p.is_file() and p.name != "README.md")
    files += sorted(p for p in (DATA / "etc-pve").rglob("*.conf") if "priv" not in p.parts)

    def pair(a, b):
        width = max(len(a), len(b))
        return a.ljust(width, b"\n") + b.ljust(width, b"\n")

    for path in files:
        data = path.read_bytes()
        yield "etc_pve_diff", pair(data, data)
    kinds = {}
    for path in files:
        kinds.setdefault(path.suffix + path.name.split("-")[0], []).append(path.read_bytes())
    for same in kinds.values():
        for a, b in zip(same, same[1:]):
            yield "etc_pve_diff", pair(a, b)


# The state_file target's log: the same path and line as fuzz/fuzz_targets/state_file.rs.
STATE_DIR = FUZZ / "state-dir"
STATE_LINE = b'::1 - root@pam [24/06/2026:14:00:00 +0200] "GET /api2/json/version HTTP/1.1" 200 80\n'


def state_seeds():
    """States a real `pverec follow --state` writes for the state_file target's log: after
    reading the whole log, and after reading part of it."""
    STATE_DIR.mkdir(exist_ok=True)
    log = STATE_DIR / "access.log"
    (STATE_DIR / "access.log.1").write_bytes(STATE_LINE * 2)
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    pverec = target_dir / "release" / "pverec"
    states = []
    for lines in (1, 3):
        log.write_bytes(STATE_LINE * lines)
        state = STATE_DIR / f"seed-state-{lines}"
        state.unlink(missing_ok=True)
        follow = subprocess.Popen(
            [str(pverec), "follow", "--no-spool", "--no-tasks", "--state", str(state), "--since",
             "2026-06-01", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        follow.send_signal(signal.SIGTERM)
        follow.wait(timeout=10)
        if state.exists():
            states.append(state.read_bytes())
            state.unlink()
    log.write_bytes(STATE_LINE * 3)
    return states


def seed_corpus(targets):
    if "state_file" in targets:
        for data in state_seeds():
            directory = FUZZ / "corpus" / "state_file"
            directory.mkdir(parents=True, exist_ok=True)
            (directory / ("seed-" + hashlib.sha1(data).hexdigest())).write_bytes(data)
    for target, data in seeds():
        if target not in targets:
            continue
        directory = FUZZ / "corpus" / target
        directory.mkdir(parents=True, exist_ok=True)
        (directory / ("seed-" + hashlib.sha1(data).hexdigest())).write_bytes(data)


def run(target, seconds):
    """Runs one target; returns (runs, seconds, execs/s, corpus size, crashed)."""
    corpus = FUZZ / "corpus" / target
    artifacts = FUZZ / "artifacts" / target
    artifacts.mkdir(parents=True, exist_ok=True)
    cmd = [
        "cargo", "+nightly", "fuzz", "run", "--release", target, str(corpus), "--",
        f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-max_len=65536",
        f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
    ]
    proc = subprocess.run(cmd, cwd=FUZZ, capture_output=True, text=True, errors="replace")
    log = proc.stderr
    (FUZZ / "artifacts" / f"{target}.log").write_text(log)
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    secs = re.search(r"Done \d+ runs in (\d+) second", log)
    execs = re.search(r"stat::average_exec_per_sec:\s*(\d+)", log)
    size = len(list(corpus.iterdir())) if corpus.is_dir() else 0
    crashed = proc.returncode != 0
    return (int(runs.group(1)) if runs else 0, int(secs.group(1)) if secs else 0,
            int(execs.group(1)) if execs else 0, size, crashed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "60")))
    parser.add_argument("targets", nargs="*")
    args = parser.parse_args()
    every = sorted(p.stem for p in (FUZZ / "fuzz_targets").glob("*.rs"))
    targets = args.targets or every
    unknown = set(targets) - set(every)
    if unknown:
        sys.exit(f"fuzz: no such target: {', '.join(sorted(unknown))} (targets: {', '.join(every)})")
    for check, install in [
        (["rustup", "run", "nightly", "rustc", "--version"], "rustup toolchain install nightly"),
        (["cargo", "+nightly", "fuzz", "--version"], "cargo install --locked cargo-fuzz"),
    ]:
        try:
            ok = subprocess.run(check, capture_output=True).returncode == 0
        except FileNotFoundError:
            ok = False
        if not ok:
            sys.exit(f"fuzz: `{' '.join(check)}` does not run; install it: {install}")
    seed_corpus(set(targets))
    build = subprocess.run(["cargo", "+nightly", "fuzz", "build", "--release"], cwd=FUZZ)
    if build.returncode != 0:
        sys.exit("fuzz: the targets do not build (cargo +nightly fuzz build)")
    print(f"{'target':<18} {'runs':>12} {'s':>6} {'execs/s':>9} {'corpus':>7}  result")
    failed = []
    for target in targets:
        runs, secs, execs, size, crashed = run(target, args.seconds)
        result = f"CRASH: see fuzz/artifacts/{target}/ and {target}.log" if crashed else "ok"
        print(f"{target:<18} {runs:>12} {secs:>6} {execs:>9} {size:>7}  {result}", flush=True)
        if crashed:
            failed.append(target)
    if failed:
        sys.exit(f"fuzz: {len(failed)} target(s) crashed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
