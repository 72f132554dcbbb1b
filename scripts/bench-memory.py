#!/usr/bin/env python3
"""Peak memory of pverec on hostile or huge inputs (`make bench-memory`).

Why: issue 11 (finding 6) budgets memory, not time: a gzip bomb (10 GB of zeros in a 10 MB
gzip) and `/dev/zero` under 32 MB RSS, a 500,000-line task index under 64 MB, and a large
recorder spool bounded. Like `make bench`, this only measures and reports (exit 1 only when a
command fails unexpectedly); the integration tests (hardening_memory.rs) hold the budgets on
smaller inputs.

Each row is one run, its peak RSS taken from os.wait4 (the child's own), its wall time, and
its exit status. Inputs are generated deterministically into --dir and reused.

Usage: bench-memory.py --pverec PATH [--dir target/bench-memory]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

MIB = 1024 * 1024
GIB = 1024 * MIB


def become_subreaper() -> bool:
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to us."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def gzip_of_zeros(path: Path, size: int) -> None:
    """One gzip member of `size` zero bytes, then a newline and one real line."""
    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        chunk = bytes(16 * MIB)
        for _ in range(size // len(chunk)):
            out.write(comp.compress(chunk))
        out.write(comp.compress(
            b'\n::1 - root@pam [24/06/2026:14:00:00 +0200] '
            b'"DELETE /api2/json/nodes/pve1/qemu/100 HTTP/1.1" 200 80\n'))
        out.write(comp.flush())
    tmp.rename(path)


def task_index(dir: Path, count: int, start: int) -> Path:
    """A task directory with `count` finished tasks, one every 6 s, and an access.log with a
    line every 600 s over the same span (the same shape as hardening_memory.rs)."""
    tasks = dir / f"tasks-{count}"
    log = dir / f"tasks-{count}.log"
    if log.exists():
        return tasks
    tasks.mkdir(parents=True, exist_ok=True)
    kinds = ["qmstart", "vzdump", "qmstop", "aptupdate", "qmconfig"]
    users = ["root@pam", "alice@pve", "automation@pve!ci"]
    with open(tasks / "index", "w") as f:
        for i in range(count):
            t = start + i * 6
            kind = kinds[i % len(kinds)]
            vmid = "" if kind == "aptupdate" else str(100 + i % 50)
            f.write(f"UPID:pve1:{1000 + i % 60000:08X}:{(i * 37) % 0xFFFFFFFF:08X}:{t:08X}:"
                    f"{kind}:{vmid}:{users[i % len(users)]}: {t + 5:08X} OK\n")
    (tasks / "active").write_text("")
    with open(log, "w") as f:
        for t in range(start, start + count * 6 + 1, 600):
            stamp = time.strftime("%d/%m/%Y:%H:%M:%S +0000", time.gmtime(t))
            f.write(f'::1 - root@pam [{stamp}] "GET /api2/json/version HTTP/1.1" 200 80\n')
    return tasks


def spool_events(path: Path, count: int) -> None:
    """`count` recorder events (pve-formats.md §5) of about 2 KB each, for requests no
    access.log line matches: every one is held until the end of the run."""
    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for i in range(count):
            event = {
                "method": "PUT", "path": f"/nodes/pve1/qemu/{100 + i % 900}/config",
                "params": {"description": "x" * 2000, "cores": str(i % 8 + 1)},
                "userid": "root@pam", "format": "json", "client_ip": "192.0.2.10", "proxied": 0,
            }
            f.write(json.dumps(event, separators=(",", ":")) + "\n")
    tmp.rename(path)


def run(name: str, argv: list[str], stop_after_bytes: int | None = None) -> None:
    """Runs argv (stdout to /dev/null), optionally stopping it with SIGTERM once it has read
    `stop_after_bytes`; prints peak RSS and time.

    The command is started by a small `sh` and reaped by us as its subreaper (as bench.py's
    rss_as_orphan does): a child forked from this Python process would count Python's
    resident pages in its peak."""
    script = 'err=$1; shift; "$@" >/dev/null 2>"$err" </dev/null & exec echo $!'
    with tempfile.NamedTemporaryFile() as err:
        start = time.monotonic()
        sh = subprocess.Popen(["sh", "-c", script, "sh", err.name, *argv],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        pid = int(sh.communicate()[0])
        if stop_after_bytes is not None:
            while True:
                try:
                    io = Path(f"/proc/{pid}/io").read_text()
                    read = int(next(l for l in io.splitlines() if l.startswith("rchar:")).split()[1])
                except (OSError, StopIteration, ValueError):
                    break
                if read >= stop_after_bytes:
                    os.kill(pid, signal.SIGTERM)
                    break
                time.sleep(0.01)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.monotonic() - start
        stderr = Path(err.name).read_bytes()
    code = os.waitstatus_to_exitcode(status)
    first = stderr.decode(errors="replace").strip().splitlines()[:1]
    print(f"{name:<44} {usage.ru_maxrss / 1024:>8.1f} MiB {seconds:>7.2f} s  exit {code:>4}"
          f"  {first[0][:60] if first else ''}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pverec", required=True)
    parser.add_argument("--dir", default="target/bench-memory")
    args = parser.parse_args()
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    pverec = args.pverec
    if not become_subreaper():
        sys.exit("bench-memory: prctl(PR_SET_CHILD_SUBREAPER) failed; peak RSS cannot be measured")
    print("generating inputs (once) ...", file=sys.stderr, flush=True)
    bomb = out / "bomb-10g.log.gz"
    gzip_of_zeros(bomb, 10 * GIB)
    tasks = task_index(out, 500_000, 1_779_000_000)
    events = out / "spool-100k.events"
    spool_events(events, 100_000)
    access = out / "one-line.log"
    access.write_text('::1 - root@pam [24/06/2026:14:00:00 +0200] '
                      '"GET /api2/json/version HTTP/1.1" 200 80\n')
    print(f"{'run':<44} {'peak RSS':>12} {'time':>9}  status  first message")
    run(f"convert {bomb.name} ({bomb.stat().st_size // MIB} MiB gz, 10 GiB)",
        [pverec, "convert", str(bomb)])
    run("convert /dev/zero (stopped after 2 GiB)", [pverec, "convert", "/dev/zero"],
        stop_after_bytes=2 * GIB)
    run("convert --all --tasks (500,000 lines)",
        [pverec, "convert", "--all", "--tasks", str(tasks), str(tasks) + ".log"])
    run("convert --all -f json --tasks (500,000 lines)",
        [pverec, "convert", "--all", "-f", "json", "--tasks", str(tasks), str(tasks) + ".log"])
    run(f"convert --events ({events.stat().st_size // MIB} MiB spool, no match)",
        [pverec, "convert", "--all", "--events", str(events), str(access)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
