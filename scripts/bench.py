#!/usr/bin/env python3
"""Benchmark pverec against design.md's performance budget (`make bench`).

Why: the budget (convert >= 1.5 GB/s on one core and within 3x `wc -l`, peak RSS
under 32 MB, start-up under 5 ms, static binary under 8 MB) is checked by
measurement, never by a timed test. This script makes the measurement repeatable:
the same generated input (scripts/gen-access-log.py, fixed seed, reused while the
generator is unchanged), a warm page cache, one pinned core, best-of-N wall time,
and each child's own peak RSS (os.wait4). The reference rows (`wc -l`, `grep -c`,
an awk converter in scripts/bench-awk.awk, `gzip -dc`) put the figures in context.
The history rows (a week of rotated generations made from FILE.gz's lines, logrotate's
layout: two plain, five gzip) run on every core, and say how many were used (CPU time
over wall time) and the peak RSS from one generation to seven and thirty. The join rows read FILE with
a task index of 50,000 and of 500,000 tasks (a year) and a journal of 100,000 and of a
million entries: time and RSS that grow with the join's size, not faster.

It only reports: exit 0 even when the budget is missed; exit 1 when a command
fails, after printing that command's stderr.

Usage: bench.py --pverec PATH [--size-mb 256] [--gz-size-mb 64] [--dir target/bench]
"""

from __future__ import annotations

import argparse
import gzip
import ctypes
import hashlib
import json
import random
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "gen-access-log.py"
AWK_CONVERTER = HERE / "bench-awk.awk"
SEED = 1
MIB = 1024 * 1024
PR_SET_CHILD_SUBREAPER = 36

# design.md, "Performance budget"
BUDGET_MBPS = 1500          # MB/s (10^6 bytes), pvesh format, plain file from page cache
BUDGET_WC_RATIO = 3.0       # convert time / `wc -l` time
BUDGET_RSS_MIB = 32
BUDGET_STARTUP_MS = 5.0
BUDGET_BINARY_MIB = 8


@dataclass
class Row:
    """One benchmarked command: best wall time and highest peak RSS over its runs."""
    name: str
    argv: list[str]
    runs: int
    data_bytes: int                 # bytes of log the command processes (uncompressed)
    ok_codes: tuple[int, ...] = (0,)
    stdout_to_file: bool = False    # GNU grep stops at the first match when stdout is /dev/null
    seconds: float = float("inf")
    rss_kib: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    pinned: bool = True             # run under the one-core pin (else on every core)
    cpu_seconds: float = 0.0        # user + system time of the best run (shown when not pinned)

    @property
    def mbps(self) -> float:
        """Throughput in MB/s (10^6 bytes) of log data."""
        return self.data_bytes / 1e6 / self.seconds


# ---------------------------------------------------------------- input files

def generator_digest() -> str:
    return hashlib.sha256(GENERATOR.read_bytes()).hexdigest()


def ensure_input(path: Path, size_mb: float, gzipped: bool) -> dict:
    """(Re)generate `path` unless its stamp says it is current. Returns the stamp."""
    stamp_path = path.with_name(path.name + ".stamp")
    want = {"generator_sha256": generator_digest(), "size_mb": size_mb, "seed": SEED,
            "gzip": gzipped}
    try:
        stamp = json.loads(stamp_path.read_text())
        if all(stamp.get(k) == v for k, v in want.items()) \
                and stamp.get("file_bytes") == path.stat().st_size:
            print(f"reusing {path} (stamp matches)")
            return stamp
    except (OSError, ValueError):
        pass
    print(f"generating {path} ({size_mb:g} MiB{', gzip' if gzipped else ''}) ...", flush=True)
    stamp_path.unlink(missing_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    cmd = [sys.executable, str(GENERATOR), "--size-mb", f"{size_mb:g}", "--seed", str(SEED)]
    if gzipped:
        cmd.append("--gzip")
    subprocess.run(cmd + [str(tmp)], check=True)
    tmp.replace(path)
    stamp = dict(want, file_bytes=path.stat().st_size,
                 data_bytes=gzip_isize(path) if gzipped else path.stat().st_size)
    stamp_path.write_text(json.dumps(stamp, indent=1) + "\n")
    return stamp


def gzip_isize(path: Path) -> int:
    """Uncompressed size from the gzip trailer (mod 2^32: fine below 4 GiB)."""
    with open(path, "rb") as f:
        f.seek(-4, os.SEEK_END)
        return int.from_bytes(f.read(4), "little")


def warm(path: Path) -> None:
    """Read the file once so every timed run reads from the page cache."""
    buf = bytearray(MIB)                 # small: our own RSS leaks into direct children's
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


# ---------------------------------------------------------------- running

def pin_prefix() -> tuple[list[str], str]:
    """`taskset -c N` on the first CPU we may use, when util-linux taskset exists."""
    taskset = shutil.which("taskset")
    if not taskset:
        return [], "not pinned (no taskset)"
    cpu = min(os.sched_getaffinity(0))
    prefix = [taskset, "-c", str(cpu)]
    if subprocess.run(prefix + ["true"], capture_output=True).returncode != 0:
        return [], f"not pinned (taskset -c {cpu} failed)"
    return prefix, f"pinned to CPU {cpu} with taskset -c {cpu}"


def run_once(argv: list[str], stdout_to_file: bool = False
             ) -> tuple[float, int, int, str, float]:
    """Run argv as our child, stdout to /dev/null: (wall s, ru_maxrss KiB, exit code, stderr).

    The ru_maxrss of a direct child is not the command's own: exec() folds the
    high-water mark of the pre-exec memory (our vfork()ed Python) into it, so even
    `true` reports Python's size. rss_as_orphan() gives the clean figure.
    """
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=out if stdout_to_file else subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        dt = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return (dt, usage.ru_maxrss, proc.returncode, err.read().decode(errors="replace"),
                usage.ru_utime + usage.ru_stime)


def become_subreaper() -> bool:
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to us."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def rss_as_orphan(argv: list[str], stdout_to_file: bool = False) -> int | None:
    """Peak RSS (KiB) of argv started by a small `sh` and reaped by us, as its subreaper.

    sh forks the command (its pre-exec image is sh's, well under 1 MiB), then exec()s
    echo to tell us the pid; the orphan is re-parented to us and os.wait4() returns
    its own ru_maxrss. None if sh reaped it first (a rare race) three times running.
    """
    script = 'out=$1; shift; "$@" >"$out" 2>/dev/null & exec echo $!'
    with tempfile.NamedTemporaryFile() as out:
        target = out.name if stdout_to_file else os.devnull
        for _ in range(3):
            sh = subprocess.Popen(["sh", "-c", script, "sh", target, *argv],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            pid = int(sh.communicate()[0])
            try:
                _, _, usage = os.wait4(pid, 0)
                return usage.ru_maxrss
            except ChildProcessError:
                continue
    return None


def measure(row: Row, clean_rss: bool) -> None:
    """Best-of-N wall time; peak RSS from one extra orphaned run when clean_rss."""
    for _ in range(row.runs):
        dt, rss, rc, err, cpu = run_once(row.argv, row.stdout_to_file)
        if rc not in row.ok_codes:
            row.error = f"exit status {rc}\n{err.strip()}"
            return
        if dt < row.seconds:
            row.cpu_seconds = cpu
        row.seconds = min(row.seconds, dt)
        row.rss_kib = max(row.rss_kib, rss)
    if clean_rss:
        rss = rss_as_orphan(row.argv, row.stdout_to_file)
        if rss is not None:
            row.rss_kib = rss
        else:
            row.notes.append("RSS includes the harness")


def count_output_lines(argv: list[str]) -> int | str:
    """Lines a command writes to stdout (its stderr is discarded)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    n = 0
    while chunk := proc.stdout.read(4 * MIB):
        n += chunk.count(b"\n")
    proc.stdout.close()
    rc = proc.wait()
    return n if rc == 0 else f"{n} (exit status {rc})"


def log_start(log: Path) -> float:
    """The time of the log's first line, in seconds since the epoch."""
    with open(log, "rb") as f:
        first = f.readline().decode(errors="replace")
    return time.mktime(time.strptime(first.split("[", 1)[1][:19], "%d/%m/%Y:%H:%M:%S"))


def ensure_journal(work: Path, log: Path, name: str = "journal-day.json", days: int = 1,
                   scale: int = 1) -> Path:
    """A node's journal (`journalctl -o json`) from the log's first day on: each day,
    pvedaemon's task start/end pairs every 20 s, logins and renewals, an `update VM` every 2
    min, root's `qm set` now and then; 9,660 entries a day, `scale` times as dense, over
    `days` days. Deterministic, written once per log."""
    out = work / name
    if out.exists() and out.stat().st_mtime >= log.stat().st_mtime:
        return out
    start = log_start(log)
    rng = random.Random(SEED)
    lines: list[tuple[int, str]] = []

    def entry(t: float, ident: str, pid: int, message: str) -> None:
        us = int(t * 1e6)
        lines.append((us, json.dumps({"__REALTIME_TIMESTAMP": str(us), "_HOSTNAME": "pve1",
                                      "SYSLOG_IDENTIFIER": ident, "_PID": str(pid),
                                      "PRIORITY": "6", "MESSAGE": message},
                                     separators=(",", ":"))))

    for day in range(days):
        for k in range(scale):
            base = start + day * 86400 + k / scale
            n = (day * scale + k) * 4320
            for i in range(4320):  # every 20 s
                t = base + i * 20
                upid = (f"UPID:pve1:{0x1000 + (n + i) % 0xFFFFF:08X}:{n + i:08X}:{int(t):08X}:"
                        f"qmstart:{100 + i % 50}:root@pam:")
                entry(t, "pvedaemon", 2201, f"<root@pam> starting task {upid}")
                entry(t + 2, "pvedaemon", 2201, f"<root@pam> end task {upid} OK")
            for i in range(720):  # every 2 min
                t = base + i * 120 + rng.random()
                entry(t, "pvedaemon", 2202,
                      f"<alice@pve> update VM {100 + i % 50}: -cores {1 + i % 8} "
                      f"-memory {1024 * (1 + i % 8)}")
            for i in range(288):  # every 5 min
                entry(base + i * 300 + 3, "pvedaemon", 2203,
                      "<root@pam> successful auth for user 'alice@pve'")
            for i in range(12):
                entry(base + i * 7200 + 7, "qm", 4242, f"<root@pam> update VM {200 + i}: -memory 4096")
    lines.sort(key=lambda l: l[0])
    with open(out, "w") as f:
        for _, line in lines:
            f.write(line + "\n")
    return out


# Task types of the writes that start one, by the path's last segments (pve-manager's and
# qemu-server's API: what `pverec` joins them with).
TASK_TYPES = [("/status/start", "start"), ("/status/shutdown", "shutdown"),
              ("/status/stop", "stop"), ("/status/reboot", "reboot"), ("/snapshot", "snapshot"),
              ("/config", "config"), ("/clone", "clone"), ("/vncproxy", "vncproxy")]


def ensure_tasks(work: Path, log: Path, count: int) -> Path:
    """A task directory of `count` finished tasks over the log's span (500,000 is a year of a
    busy node's): one task for each task-starting write of the log, started in the second of
    its request, by its user, on its guest, so that the join has work to do; the rest are the
    scheduler's `aptupdate`s between them. One `index`, in the order PVE appends (by end),
    and an empty `active`. Written once per log."""
    out = work / f"tasks-{count}"
    stamp = out / "stamp"
    want = f"{log.stat().st_size} {log.stat().st_mtime_ns} {count}\n"
    if stamp.exists() and stamp.read_text() == want:
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    import datetime
    tasks: list[tuple[int, str, str, str]] = []  # start, type, id, user
    with open(log, "rb") as f:
        for raw in f:
            if b'"POST ' not in raw and b'"DELETE ' not in raw:
                continue
            line = raw.decode(errors="replace")
            try:
                user = line.split(" ", 3)[2]
                stamp_text = line.split("[", 1)[1].split("]", 1)[0]
                path = line.split('"', 2)[1].split(" ")[1].split("?", 1)[0]
            except IndexError:
                continue
            if " 200 " not in line.rsplit('"', 1)[1] + " ":
                continue
            parts = path.split("/")
            if len(parts) < 7 or parts[3] != "nodes" or parts[5] not in ("qemu", "lxc"):
                continue
            kind = next((k for suffix, k in TASK_TYPES if path.endswith(suffix)), None)
            if kind is None:
                continue
            prefix = "qm" if parts[5] == "qemu" else "vz"
            task = {"config": "qmconfig" if prefix == "qm" else "vzconfig",
                    "vncproxy": "vncproxy"}.get(kind, prefix + kind)
            t = int(datetime.datetime.strptime(stamp_text, "%d/%m/%Y:%H:%M:%S %z").timestamp())
            tasks.append((t, task, parts[6], user))
            if len(tasks) >= count:
                break
    start = int(log_start(log))
    span = max(1, (tasks[-1][0] if tasks else start + 86400) - start)
    fill = count - len(tasks)
    for i in range(fill):
        tasks.append((start + i * span // max(1, fill), "aptupdate", "", "root@pam"))
    tasks.sort()
    with open(out / "index", "w") as f:
        for i, (t, task, vmid, user) in enumerate(tasks):
            f.write(f"UPID:pve1:{0x1000 + i % 0x3FFFFF:08X}:{i:08X}:{t:08X}:{task}:{vmid}:"
                    f"{user}: {t + 3:08X} OK\n")
    (out / "active").write_text("")
    stamp.write_text(want)
    return out


HISTORY_GENERATIONS = 7


def write_history(out: Path, data: bytes, generations: int, level: int) -> bytes:
    """Rotated generations in `out` as logrotate leaves them (`access.log`, `access.log.1`
    plain, `.2.gz` on, gzip `level`): generation N is `data` N years earlier. Returns the
    oldest generation's text."""
    text = data
    for n in range(generations):
        text = data if n == 0 else data.replace(b"/2026:", f"/{2026 - n}:".encode())
        if n < 2:
            (out / ("access.log" if n == 0 else "access.log.1")).write_bytes(text)
        else:
            with open(out / f"access.log.{n}.gz", "wb") as f:
                with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=level, mtime=0) as z:
                    z.write(text)
    return text


def ensure_history(work: Path, gz: Path) -> tuple[Path, Path, int, int]:
    """A week of rotated history from FILE.gz's lines, as logrotate leaves it (PVE's stanza:
    `access.log`, `access.log.1` plain, `.2.gz` on): generation N is the same lines N years
    earlier, so the generations follow each other in time. Also the oldest generation alone,
    the "1 generation" row. Returns (history's access.log, the one-generation access.log,
    uncompressed bytes of the history, of the one generation). Written once per FILE.gz."""
    out = work / "history"
    single = work / "history-1"
    data = gzip.decompress(gz.read_bytes())
    stamp = out / "stamp"
    want = f"{gz.stat().st_size} {gz.stat().st_mtime_ns} {HISTORY_GENERATIONS}\n"
    if not (stamp.exists() and stamp.read_text() == want):
        for d in (out, single):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        oldest = write_history(out, data, HISTORY_GENERATIONS, 6)
        with open(single / "access.log", "wb") as f:
            with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=6, mtime=0) as z:
                z.write(oldest)
        stamp.write_text(want)
    return (out / "access.log", single / "access.log", len(data) * HISTORY_GENERATIONS,
            len(data))


@dataclass
class Joins:
    """The join inputs at two sizes: task directories, journal exports; and the long history."""
    tasks_small: Path
    tasks_year: Path
    journal_small: Path
    journal_million: Path
    long_history: tuple[Path, int]


LONG_HISTORY_GENERATIONS = 30


def ensure_long_history(work: Path, gz: Path) -> tuple[Path, int]:
    """A month of rotated history, laid out as ensure_history's week (generation N is FILE.gz's
    lines N years earlier; gzip level 1, to write it in seconds): memory must not grow with the
    generations. Returns (its access.log, uncompressed bytes). Written once per FILE.gz."""
    out = work / f"history-{LONG_HISTORY_GENERATIONS}"
    data = gzip.decompress(gz.read_bytes())
    stamp = out / "stamp"
    want = f"{gz.stat().st_size} {gz.stat().st_mtime_ns} {LONG_HISTORY_GENERATIONS}\n"
    if not (stamp.exists() and stamp.read_text() == want):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        write_history(out, data, LONG_HISTORY_GENERATIONS, 1)
        stamp.write_text(want)
    return out / "access.log", len(data) * LONG_HISTORY_GENERATIONS


def make_rows(pverec: str, log: Path, plain: int, gz: Path, gz_data: int,
              journal: Path, history: tuple[Path, Path, int, int], joins: Joins) -> list[Row]:
    """The commands, in table order."""
    awk = shutil.which("awk") or "awk"
    gz_note = ["MB/s of uncompressed data"]
    return [
        Row("wc -l FILE", ["wc", "-l", str(log)], 5, plain),
        Row("grep -c -E '\"(POST|PUT|DELETE) ' FILE",
            ["grep", "-c", "-E", '"(POST|PUT|DELETE) ', str(log)], 5, plain, ok_codes=(0, 1),
            stdout_to_file=True, notes=["stdout to a file, not /dev/null"]),
        Row("awk -f scripts/bench-awk.awk FILE", [awk, "-f", str(AWK_CONVERTER), str(log)],
            5, plain),
        Row("pverec convert FILE", [pverec, "convert", str(log)], 5, plain),
        Row("pverec convert -f json FILE", [pverec, "convert", "-f", "json", str(log)], 5, plain),
        Row("pverec convert --all -f json FILE",
            [pverec, "convert", "--all", "-f", "json", str(log)], 5, plain),
        Row("gzip -dc FILE.gz", ["gzip", "-dc", str(gz)], 3, gz_data, notes=list(gz_note)),
        Row("pverec convert FILE.gz", [pverec, "convert", str(gz)], 3, gz_data,
            notes=list(gz_note)),
        Row("true (harness baseline)", [shutil.which("true") or "true"], 20, 0),
        Row("pverec convert /dev/null", [pverec, "convert", "/dev/null"], 20, 0),
        Row("pverec convert --journal-file DAY FILE",
            [pverec, "convert", "--journal-file", str(journal), str(log)], 5, plain,
            notes=["DAY: a day of journal, 9,660 entries (ensure_journal)"]),
        Row("pverec convert --all -f json --journal-file DAY FILE",
            [pverec, "convert", "--all", "-f", "json", "--journal-file", str(journal), str(log)],
            5, plain),
        Row("pverec sessions -f json FILE",
            [pverec, "sessions", "-f", "json", "--no-journal", str(log)], 5, plain,
            notes=["every line becomes an event, fed to the sessions book instead of a renderer"]),
        Row("pverec convert --rotated HISTORY (1 gen, .gz)",
            [pverec, "convert", "--rotated", str(history[1])], 3, history[3],
            pinned=False),
        Row(f"pverec convert --rotated HISTORY ({HISTORY_GENERATIONS} gens)",
            [pverec, "convert", "--rotated", str(history[0])], 3, history[2],
            pinned=False, notes=["2 plain + 5 .gz"]),
        Row(f"pverec convert --rotated --all -f json HISTORY ({HISTORY_GENERATIONS})",
            [pverec, "convert", "--rotated", "--all", "-f", "json", str(history[0])], 1,
            history[2], pinned=False),
        Row(f"pverec convert --rotated HISTORY ({LONG_HISTORY_GENERATIONS} gens)",
            [pverec, "convert", "--rotated", str(joins.long_history[0])], 1,
            joins.long_history[1], pinned=False, notes=["2 plain + 28 .gz (level 1)"]),
        Row("pverec convert --tasks 50K FILE",
            [pverec, "convert", "--tasks", str(joins.tasks_small), str(log)], 3, plain,
            notes=["50,000 tasks: the log's task-starting writes, then aptupdates"]),
        Row("pverec convert --tasks YEAR FILE",
            [pverec, "convert", "--tasks", str(joins.tasks_year), str(log)], 3, plain,
            notes=["YEAR: 500,000 tasks (ensure_tasks)"]),
        Row("pverec convert --all -f json --tasks YEAR FILE",
            [pverec, "convert", "--all", "-f", "json", "--tasks", str(joins.tasks_year),
             str(log)], 1, plain),
        Row("pverec convert --journal-file 100K FILE",
            [pverec, "convert", "--journal-file", str(joins.journal_small), str(log)], 3, plain,
            notes=["96,600 entries over 10 days"]),
        Row("pverec convert --journal-file MILLION FILE",
            [pverec, "convert", "--journal-file", str(joins.journal_million), str(log)], 3,
            plain, notes=["MILLION: 1,043,280 entries over the log's 18 days (ensure_journal)"]),
        Row("pverec convert --all -f json --journal-file MILLION FILE",
            [pverec, "convert", "--all", "-f", "json", "--journal-file",
             str(joins.journal_million), str(log)], 1, plain),
    ]


# ---------------------------------------------------------------- reporting

def print_table(rows: list[Row], wc: Row) -> None:
    wc_rate = wc.seconds / wc.data_bytes if wc.error is None else None
    head = f"{'command':<48} {'seconds':>9} {'MB/s':>8} {'x wc -l':>8} {'peak RSS MiB':>13}"
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.error is not None:
            print(f"{r.name:<48} {'FAILED':>9}")
            continue
        secs = f"{r.seconds * 1000:.2f} ms" if r.data_bytes == 0 else f"{r.seconds:.3f}"
        if r.data_bytes:
            mbps = f"{r.mbps:.0f}"
            ratio = f"{r.seconds / r.data_bytes / wc_rate:.2f}" if wc_rate else "-"
        else:
            mbps = ratio = "-"
        notes = f"  {'; '.join(r.notes)}" if r.notes else ""
        print(f"{r.name:<48} {secs:>9} {mbps:>8} {ratio:>8} {r.rss_kib / 1024:>13.1f}{notes}")


def binary_facts(pverec: str) -> tuple[int, str]:
    size = os.path.getsize(pverec)
    file_cmd = shutil.which("file")
    if not file_cmd:
        return size, "unknown (`file` is not installed)"
    out = subprocess.run([file_cmd, "-L", pverec], capture_output=True, text=True).stdout
    kind = "static" if "static" in out else "dynamic"
    return size, f"{kind}: {out.split(':', 1)[-1].strip()}"


def check(label: str, row: Row, ok, figure) -> None:
    """One budget line: PASS/MISS with the figure, FAIL when the command failed."""
    if row.error is not None:
        print(f"  FAIL  {label}: `{row.name}` failed")
        return
    print(f"  {'PASS' if ok(row) else 'MISS'}  {label}: {figure(row)}")


def print_budget(conv: Row, wc: Row, pverec_rows: list[Row], startup: Row, true_row: Row,
                 bin_size: int, linkage: str) -> None:
    print("\nbudget (design.md):")
    check(f"convert (pvesh) >= {BUDGET_MBPS} MB/s", conv,
          lambda r: r.mbps >= BUDGET_MBPS, lambda r: f"{r.mbps:.0f} MB/s")
    if wc.error is None:
        check(f"convert (pvesh) <= {BUDGET_WC_RATIO:g}x wc -l", conv,
              lambda r: r.seconds <= BUDGET_WC_RATIO * wc.seconds,
              lambda r: f"{r.seconds / wc.seconds:.2f}x ({r.seconds:.3f} s vs {wc.seconds:.3f} s)")
    for r in pverec_rows:
        check(f"peak RSS < {BUDGET_RSS_MIB} MiB, `{r.name}`", r,
              lambda r: r.rss_kib < BUDGET_RSS_MIB * 1024, lambda r: f"{r.rss_kib / 1024:.1f} MiB")
    base = f" (`true` via the same harness: {true_row.seconds * 1000:.2f} ms)" \
        if true_row.error is None else ""
    check(f"start-up (convert /dev/null) < {BUDGET_STARTUP_MS:g} ms", startup,
          lambda r: r.seconds * 1000 < BUDGET_STARTUP_MS,
          lambda r: f"{r.seconds * 1000:.2f} ms{base}")
    verdict = "PASS" if bin_size < BUDGET_BINARY_MIB * MIB else "MISS"
    print(f"  {verdict}  binary < {BUDGET_BINARY_MIB} MiB: {bin_size / MIB:.2f} MiB")
    if linkage.startswith(("static", "dynamic")):
        verdict = "PASS" if linkage.startswith("static") else "MISS"
        print(f"  {verdict}  static binary: {linkage.split(':')[0]}")
    else:
        print(f"  ----  static binary: {linkage}")


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pverec", required=True, help="the pverec binary to measure")
    ap.add_argument("--size-mb", type=float, default=256,
                    help="plain access.log size in MiB (default 256)")
    ap.add_argument("--gz-size-mb", type=float, default=64,
                    help="uncompressed size of access.log.gz in MiB (default 64)")
    ap.add_argument("--dir", default="target/bench", help="work directory (default target/bench)")
    args = ap.parse_args(argv)

    pverec = shutil.which(args.pverec) if os.sep not in args.pverec else args.pverec
    if not pverec or not os.access(pverec, os.X_OK):
        print(f"bench: {args.pverec}: not an executable", file=sys.stderr)
        return 1
    pverec = os.path.abspath(pverec)
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    log, gz = work / "access.log", work / "access.log.gz"
    log_stamp = ensure_input(log, args.size_mb, gzipped=False)
    gz_stamp = ensure_input(gz, args.gz_size_mb, gzipped=True)
    warm(log)
    warm(gz)

    pin, pin_note = pin_prefix()
    journal = ensure_journal(work, log)
    history = ensure_history(work, gz)
    joins = Joins(tasks_small=ensure_tasks(work, log, 50_000),
                  tasks_year=ensure_tasks(work, log, 500_000),
                  journal_small=ensure_journal(work, log, "journal-100k.json", days=10),
                  journal_million=ensure_journal(work, log, "journal-million.json", days=18,
                                                 scale=6),
                  long_history=ensure_long_history(work, gz))
    rows = make_rows(pverec, log, log_stamp["data_bytes"], gz, gz_stamp["data_bytes"], journal,
                     history, joins)
    wc, grep, awk_row, conv, conv_json, conv_all, _, conv_gz, true_row, startup = rows[:10]
    plain, gz_data = wc.data_bytes, conv_gz.data_bytes
    clean_rss = become_subreaper()
    rss_note = ("RSS = the command's own ru_maxrss (one extra run, reaped as orphan; "
                "`true` shows the floor)" if clean_rss else
                "RSS = ru_maxrss of a direct child (no PR_SET_CHILD_SUBREAPER: includes the "
                "harness's own size, see `true`)")
    for row in rows:
        if row.pinned:
            row.argv = pin + row.argv
        measure(row, clean_rss)
        if not row.pinned and row.error is None:
            # How many cores the history used: CPU time over wall time of the best run.
            row.notes.insert(0, f"every core; CPU {row.cpu_seconds:.2f} s = "
                                f"{row.cpu_seconds / row.seconds:.2f} x wall")

    bin_size, linkage = binary_facts(pverec)
    print()
    print(f"pverec:  {pverec} ({bin_size / MIB:.2f} MiB, {linkage})")
    print(f"FILE:    {log} ({plain / MIB:.0f} MiB, {plain} bytes, generator seed {SEED})")
    print(f"FILE.gz: {gz} ({gz_data / MIB:.0f} MiB uncompressed, {gz_stamp['file_bytes']} bytes)")
    print(f"runs:    best of 5 (plain), 3 (gz), 20 (start-up); stdout to /dev/null (grep: a "
          f"file, as GNU grep -c quits early on /dev/null); "
          f"page cache warm; {pin_note}")
    print("units:   MB/s = 10^6 bytes/s of log read; 'x wc -l' = time per byte relative to "
          "wc -l")
    print(f"         {rss_note}\n")
    print_table(rows, wc)

    grep_count = subprocess.run(grep.argv, capture_output=True, text=True).stdout.strip()
    print("\noutput lines (sanity check, once):")
    print(f"  pverec convert FILE:           {count_output_lines(conv.argv)}")
    print(f"  awk -f scripts/bench-awk.awk:  {count_output_lines(awk_row.argv)}")
    print(f"  grep -c (all POST/PUT/DELETE, logins and consoles included): {grep_count}")
    print_budget(conv, wc, [conv, conv_json, conv_all, conv_gz, startup], startup, true_row,
                 bin_size, linkage)

    failed = [r for r in rows if r.error is not None]
    for r in failed:
        print(f"\nbench: FAILED: {' '.join(r.argv)}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
