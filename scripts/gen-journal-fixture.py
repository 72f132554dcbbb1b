#!/usr/bin/env python3
"""Write the journal fixtures under tests/data/journal/ (issue 12): one scenario on node pve1.

Why: pverec's fourth source is the node's journal; its tests need the same entries in every
form a node or an admin hands over (a `journalctl -o json` export, rsyslog's syslog with the
classic and the RFC 3339 stamps, a gzip-rotated daemon.log), beside the access.log and the
task files the entries belong to, so that the expected joins can be written down once
(tests/data/journal/README.md). The shapes follow PVE's code; each entry below names the file
that writes it. tests/integration/journal_util.rs builds the same forms from entries.json and
its self-test compares them with these files byte for byte, so the two cannot drift apart.

Usage: gen-journal-fixture.py [OUTDIR]   (default tests/data/journal; deterministic)
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

# The same constants as tests/integration/journal_util.rs.
BOOT_ID = "5c2f1e0a9b8d4c3e8f7a6b5c4d3e2f10"
MACHINE_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SEQNUM_ID = "8a3e0c54d6f14b0c9b3f2a1e0d9c8b7a"
BOOT_REALTIME_US = 1_782_280_800_000_000  # 2026-06-24T06:00:00Z
TZ = ZoneInfo("Europe/Vienna")
NODE = "pve1"
HZ = 100

# pve-common src/PVE/Daemon.pm names the workers "$name worker"; /proc/PID/comm keeps 15 bytes.
COMM = {"pvedaemon": "pvedaemon worke", "pveproxy": "pveproxy worker"}

ALICE = "::ffff:192.0.2.10"
BOB = "::ffff:192.0.2.20"
CAROL = "::ffff:192.0.2.30"
STALE = "::ffff:192.0.2.40"
MALLORY = "::ffff:192.0.2.66"


def us(local: str) -> int:
    """µs of a local (Europe/Vienna) time `2026-06-24 14:00:05.123`."""
    t = datetime.fromisoformat(local).replace(tzinfo=TZ)
    return int(round(t.timestamp() * 1_000_000))


def body_len(obj) -> int:
    """Length of Perl's to_json of obj (no spaces; key order does not change the length)."""
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


# pve-http-server src/PVE/APIServer/Formatter/Standard.pm prepare_response_data: a failed
# login through /api2/extjs is an HTTP 200 with success 0; through /api2/json a 401.
AUTH_FAIL_EXTJS = body_len({"data": None, "message": "authentication failure\n", "status": 401, "success": 0})
AUTH_FAIL_JSON = body_len({"data": None, "message": "authentication failure\n"})
NULL_EXTJS = body_len({"data": None, "success": 1})  # 25


def upid(pid: int, start_local: str, dtype: str, vmid: str, user: str) -> tuple[str, int]:
    start = us(start_local) // 1_000_000
    pstart = (start - BOOT_REALTIME_US // 1_000_000) * HZ
    return f"UPID:{NODE}:{pid:08X}:{pstart:08X}:{start:08X}:{dtype}:{vmid}:{user}:", start


def make_entry(t_us, ident, pid, message, priority=6, comm=None, cmdline=None) -> dict:
    """One entry as journald stores a syslog message of `ident[pid]` on pve1: {"t": µs,
    "fields": [(name, value)]} (value str, or bytes when not UTF-8)."""
    e = {
        "t": t_us,
        "fields": [
            ("_BOOT_ID", BOOT_ID),
            ("_MACHINE_ID", MACHINE_ID),
            ("_HOSTNAME", NODE),
            ("_TRANSPORT", "syslog"),
            ("PRIORITY", str(priority)),
            ("SYSLOG_FACILITY", "3"),
            ("SYSLOG_IDENTIFIER", ident),
            ("SYSLOG_PID", str(pid)),
            ("_PID", str(pid)),
            ("_UID", "0"),
            ("_GID", "0"),
            ("_COMM", comm or COMM.get(ident, ident)),
            ("MESSAGE", message),
        ],
    }
    if cmdline:
        e["fields"].insert(-1, ("_CMDLINE", cmdline))
    return e


class Scenario:
    def __init__(self):
        self.entries: list[dict] = []
        self.access: list[tuple[int, str]] = []
        self.index: list[tuple[int, str]] = []  # (end, line)
        self.task_logs: dict[str, list[str]] = {}

    def entry(self, local, ident, pid, message, priority=6, comm=None, cmdline=None):
        self.entries.append(make_entry(us(local), ident, pid, message, priority, comm, cmdline))

    def line(self, local, client, user, request, status, length):
        """An access.log line (pve-http-server AnyEvent.pm log_request)."""
        t = us(local) // 1_000_000
        stamp = datetime.fromtimestamp(t, TZ).strftime("%d/%m/%Y:%H:%M:%S %z")
        self.access.append((t, f'{client} - {user} [{stamp}] "{request} HTTP/1.1" {status} {length}'))

    def task(self, upid_: str, end_local: str, status: str):
        end = us(end_local) // 1_000_000
        self.index.append((end, f"{upid_} {end:08X} {status}"))


def build() -> Scenario:
    s = Scenario()
    auth_ok = "<root@pam> successful auth for user '{}'"  # AccessControl.pm, log_msg ident root@pam

    def fail(client, user, reason):
        # pve-access-control src/PVE/API2/AccessControl.pm create_ticket: syslog('err', …)
        return f"authentication failure; rhost={client} user={user} msg={reason}"

    # 1. alice logs in through the UI (LoginWindow.js: POST /api2/extjs/access/ticket).
    s.entry("2026-06-24 14:00:05.201", "pvedaemon", 2201, auth_ok.format("alice@pve"))
    s.line("2026-06-24 14:00:05", ALICE, "-", "POST /api2/extjs/access/ticket", 200, 1521)
    s.line("2026-06-24 14:00:06", ALICE, "alice@pve", "GET /api2/json/cluster/resources", 200, 2104)

    # 2. bob fails twice: in the UI (extjs: 200 with the short error body), then with curl
    #    (/api2/json: 401). The line is logged after pvedaemon's 3-second delay of a 401.
    s.entry("2026-06-24 14:01:10.512", "pvedaemon", 2202, fail(BOB, "bob@pve", "invalid credentials"), 3)
    s.line("2026-06-24 14:01:13", BOB, "-", "POST /api2/extjs/access/ticket", 200, AUTH_FAIL_EXTJS)
    s.entry("2026-06-24 14:01:30.090", "pvedaemon", 2203, fail(BOB, "bob@pve", "invalid credentials"), 3)
    s.line("2026-06-24 14:01:33", BOB, "-", "POST /api2/json/access/ticket", 401, AUTH_FAIL_JSON)

    # 3. A user name crafted to look like the end of the message: the user is everything
    #    between "user=" and the " msg=" whose reason names that same user.
    crafted = "mallory msg=invalid credentials@pve"
    s.entry("2026-06-24 14:02:00.004", "pvedaemon", 2201,
            fail(MALLORY, crafted, f"no such user ('{crafted}')"), 3)
    s.line("2026-06-24 14:02:03", MALLORY, "-", "POST /api2/extjs/access/ticket", 200, AUTH_FAIL_EXTJS)

    # 4. carol (TOTP): the first factor succeeds (logged), the second fails.
    s.entry("2026-06-24 14:03:00.310", "pvedaemon", 2202, auth_ok.format("carol@pve"))
    s.line("2026-06-24 14:03:00", CAROL, "-", "POST /api2/extjs/access/ticket", 200, 842)
    s.entry("2026-06-24 14:03:20.777", "pvedaemon", 2203, fail(CAROL, "carol@pve", "failed 2nd factor"), 3)
    s.line("2026-06-24 14:03:23", CAROL, "-", "POST /api2/extjs/access/ticket", 200, AUTH_FAIL_EXTJS)

    # 5. A user name that is not UTF-8 (syslog() writes the bytes as they came).
    raw = b"\xc3\x28x@pve"
    s.entry("2026-06-24 14:04:00.050", "pvedaemon", 2201,
            b"authentication failure; rhost=" + MALLORY.encode() + b" user=" + raw
            + b" msg=no such user ('" + raw + b"')", 3)
    s.line("2026-06-24 14:04:03", MALLORY, "-", "POST /api2/extjs/access/ticket", 200, AUTH_FAIL_EXTJS)

    # 6. alice edits VM 100 (qemu-server src/PVE/API2/Qemu.pm $update_vm_api: keys sorted,
    #    logged by the pvedaemon worker before the config is written; PUT is synchronous).
    s.entry("2026-06-24 14:05:00.402", "pvedaemon", 2201,
            "<alice@pve> update VM 100: -cores 4 -delete balloon -memory 8192"
            " -net0 virtio=BC:24:11:00:00:01,bridge=vmbr0")
    s.line("2026-06-24 14:05:00", ALICE, "alice@pve", "PUT /api2/extjs/nodes/pve1/qemu/100/config", 200, NULL_EXTJS)
    # A description with spaces, and cloud-init's password as `<hidden>`.
    s.entry("2026-06-24 14:06:00.118", "pvedaemon", 2202,
            "<alice@pve> update VM 100: -cipassword <hidden> -ciuser admin"
            " -description Web server for the team wiki")
    s.line("2026-06-24 14:06:00", ALICE, "alice@pve", "PUT /api2/extjs/nodes/pve1/qemu/100/config", 200, NULL_EXTJS)
    # An ambiguous split: " -name " occurs inside the description as well.
    s.entry("2026-06-24 14:07:00.640", "pvedaemon", 2203,
            "<alice@pve> update VM 101: -description was -name web1 -name web2")
    s.line("2026-06-24 14:07:00", ALICE, "alice@pve", "PUT /api2/extjs/nodes/pve1/qemu/101/config", 200, NULL_EXTJS)

    # 7. A resize: a task; the worker logs the line after the UPID went out.
    u, _ = upid(4160, "2026-06-24 14:08:00", "resize", "100", "alice@pve")
    s.entry("2026-06-24 14:08:00.210", "pvedaemon", 2201, f"<alice@pve> starting task {u}")
    s.line("2026-06-24 14:08:00", ALICE, "alice@pve", "PUT /api2/extjs/nodes/pve1/qemu/100/resize", 200, len(u) + 23)
    s.entry("2026-06-24 14:08:00.290", "pvedaemon", 4160,
            "<alice@pve> update VM 100: resize --disk scsi0 --size +10G", comm="task UPID:pve1:")
    s.entry("2026-06-24 14:08:02.001", "pvedaemon", 2201, f"<alice@pve> end task {u} OK")
    s.task(u, "2026-06-24 14:08:02", "OK")

    # 8. A snapshot (Qemu.pm snapshot: logged inside the worker).
    u, _ = upid(4170, "2026-06-24 14:09:00", "qmsnapshot", "100", "alice@pve")
    s.entry("2026-06-24 14:09:00.150", "pvedaemon", 2202, f"<alice@pve> starting task {u}")
    s.line("2026-06-24 14:09:00", ALICE, "alice@pve", "POST /api2/extjs/nodes/pve1/qemu/100/snapshot", 200, len(u) + 23)
    s.entry("2026-06-24 14:09:00.230", "pvedaemon", 4170, "<alice@pve> snapshot VM 100: before-upgrade",
            comm="task UPID:pve1:")
    s.entry("2026-06-24 14:09:04.500", "pvedaemon", 2202, f"<alice@pve> end task {u} OK")
    s.task(u, "2026-06-24 14:09:04", "OK")

    # 9. root on the shell: `qm set` (no access.log line) and `qm start` (a synchronous CLI task:
    #    pve-common src/PVE/RESTEnvironment.pm fork_worker logs start and end from qm itself).
    s.entry("2026-06-24 14:10:00.333", "qm", 4242, "<root@pam> update VM 100: -memory 4096",
            cmdline="/usr/bin/perl /usr/sbin/qm set 100 --memory 4096")
    u, _ = upid(4251, "2026-06-24 14:11:00", "qmstart", "100", "root@pam")
    s.entry("2026-06-24 14:11:00.100", "qm", 4250, f"<root@pam> starting task {u}",
            cmdline="/usr/bin/perl /usr/sbin/qm start 100")
    s.entry("2026-06-24 14:11:00.180", "qm", 4251, f"start VM 100: {u}", comm="task UPID:pve1:")
    s.entry("2026-06-24 14:11:02.950", "qm", 4250, f"<root@pam> end task {u} OK",
            cmdline="/usr/bin/perl /usr/sbin/qm start 100")
    s.task(u, "2026-06-24 14:11:02", "OK")

    # 10. A backup from the UI: POST /nodes/pve1/vzdump; the worker's first task-log line
    #     (pve-manager PVE/VZDump.pm exec_backup, the command line from pve-guest-common
    #     src/PVE/VZDump/Common.pm command_line: the VMIDs, then the other keys in Perl's hash
    #     order, `node` included, values shell-quoted) is also syslogged.
    u, start = upid(4300, "2026-06-24 14:15:00", "vzdump", "100", "alice@pve")
    cmdline = ("vzdump 100 --mode snapshot --storage local --node pve1 --compress zstd --remove 0"
               " --notes-template '{{guestname}}' --notification-mode auto")
    s.entry("2026-06-24 14:15:00.080", "pvedaemon", 2203, f"<alice@pve> starting task {u}")
    s.line("2026-06-24 14:15:00", ALICE, "alice@pve", "POST /api2/extjs/nodes/pve1/vzdump", 200, len(u) + 23)
    s.entry("2026-06-24 14:15:00.160", "pvedaemon", 4300, f"INFO: starting new backup job: {cmdline}",
            comm="task UPID:pve1:")
    s.entry("2026-06-24 14:15:00.420", "pvedaemon", 4300, "INFO: Starting Backup of VM 100 (qemu)",
            comm="task UPID:pve1:")
    # 11. alice's UI renews its ticket every 15 minutes (pve-manager www/manager6/Workspace.js).
    s.entry("2026-06-24 14:15:05.611", "pvedaemon", 2201, auth_ok.format("alice@pve"))
    s.line("2026-06-24 14:15:05", ALICE, "-", "POST /api2/json/access/ticket", 200, 1497)
    s.entry("2026-06-24 14:15:42.300", "pvedaemon", 4300, "INFO: Finished Backup of VM 100 (00:00:42)",
            comm="task UPID:pve1:")
    s.entry("2026-06-24 14:15:42.310", "pvedaemon", 4300, "INFO: Backup job finished successfully",
            comm="task UPID:pve1:")
    s.entry("2026-06-24 14:15:42.900", "pvedaemon", 2203, f"<alice@pve> end task {u} OK")
    s.task(u, "2026-06-24 14:15:42", "OK")
    s.task_logs[u] = [
        f"INFO: starting new backup job: {cmdline}",
        "INFO: Starting Backup of VM 100 (qemu)",
        "INFO: Backup started at 2026-06-24 14:15:00",
        "INFO: status = running",
        "INFO: VM Name: web1",
        "INFO: include disk 'scsi0' 'local-lvm:vm-100-disk-0' 42G",
        "INFO: backup mode: snapshot",
        "INFO: ionice priority: 7",
        "INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-qemu-100-2026_06_24-14_15_00.vma.zst'",
        "INFO: started backup task 'c1d2e3f4-0000-4000-8000-000000000100'",
        "INFO: 100% (42.0 GiB of 42.0 GiB) in 40s, read: 1.1 GiB/s, write: 312.4 MiB/s",
        "INFO: backup is sparse: 30.12 GiB (71%) total zero data",
        "INFO: transferred 42.00 GiB in 40 seconds (1.1 GiB/s)",
        "INFO: archive file size: 4.81GB",
        "INFO: adding notes to backup",
        "INFO: Finished Backup of VM 100 (00:00:42)",
        "INFO: Backup finished at 2026-06-24 14:15:42",
        "INFO: Backup job finished successfully",
        "TASK OK",
    ]

    # 12. A stale browser tab: its expired ticket is refused by pveproxy (pve-manager
    #     PVE/HTTPServer.pm auth_handler warns; bin/pveproxy's __WARN__ handler syslogs it),
    #     each warning beside a 401 line. A call without any ticket ("No ticket") is a 401
    #     without a warning.
    warn = "authentication failure: permission denied - invalid PVE ticket"
    s.entry("2026-06-24 14:20:00.015", "pveproxy", 2301, warn, 4)
    s.line("2026-06-24 14:20:00", STALE, "-", "GET /api2/json/cluster/resources", 401, "-")
    s.entry("2026-06-24 14:20:30.020", "pveproxy", 2302, warn, 4)
    s.line("2026-06-24 14:20:30", STALE, "-", "GET /api2/json/cluster/tasks", 401, "-")
    s.line("2026-06-24 14:21:00", STALE, "-", "GET /api2/json/version", 401, "-")

    # 13. alice opens the node's shell: termproxy checks its ticket directly with pvedaemon
    #     (POST /api2/json/access/vncticket on 127.0.0.1:85): a successful auth with no
    #     access.log line of its own.
    u, _ = upid(4400, "2026-06-24 14:25:00", "vncshell", "", "alice@pve")
    s.entry("2026-06-24 14:25:00.300", "pvedaemon", 2202, f"<alice@pve> starting task {u}")
    s.line("2026-06-24 14:25:00", ALICE, "alice@pve", "POST /api2/extjs/nodes/pve1/termproxy", 200, len(u) + 69)
    s.line("2026-06-24 14:25:01", ALICE, "alice@pve",
           "GET /api2/json/nodes/pve1/vncwebsocket?port=5900&vncticket=PVEVNC%3A6A3BCC9C%3A%3AxXxX", 101, "-")
    s.entry("2026-06-24 14:25:01.450", "pvedaemon", 2203, auth_ok.format("alice@pve"))
    s.entry("2026-06-24 14:29:10.800", "pvedaemon", 2202, f"<alice@pve> end task {u} OK")
    s.task(u, "2026-06-24 14:29:10", "OK")

    # 14. The next renewal.
    s.entry("2026-06-24 14:30:05.702", "pvedaemon", 2201, auth_ok.format("alice@pve"))
    s.line("2026-06-24 14:30:05", ALICE, "-", "POST /api2/json/access/ticket", 200, 1497)
    return s


def fnv(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def as_bytes(v) -> bytes:
    return v if isinstance(v, bytes) else v.encode()


def printable(b: bytes) -> bool:
    """journalctl -o json prints a string when the value is UTF-8 without control characters
    but newline and tab (systemd's utf8_is_printable), else an array of bytes."""
    try:
        s = b.decode()
    except UnicodeDecodeError:
        return False
    return all(c in "\n\t" or not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) for c in s)


def json_export(entries) -> str:
    out = []
    for i, e in enumerate(entries, 1):
        t = e["t"]
        mono = max(t - BOOT_REALTIME_US, 0)
        msg = as_bytes(dict(e["fields"])["MESSAGE"])
        h = fnv(msg + t.to_bytes(8, "little"))
        fields = [("__CURSOR", f"s={SEQNUM_ID};i={i:x};b={BOOT_ID};m={mono:x};t={t:x};x={h:x}"),
                  ("__REALTIME_TIMESTAMP", str(t)), ("__MONOTONIC_TIMESTAMP", str(mono))] + e["fields"]
        members = []
        for k, v in fields:
            b = as_bytes(v)
            val = b.decode() if printable(b) else list(b)
            members.append(json.dumps(k) + ":" + json.dumps(val, ensure_ascii=False, separators=(",", ":")))
        out.append("{" + ",".join(members) + "}\n")
    return "".join(out)


def export_text(entries) -> bytes:
    """The journal export format (https://systemd.io/JOURNAL_EXPORT_FORMATS/), as
    tests/integration/journal_util.rs export_text writes it: a value that is not plain text
    length-prefixed."""
    out = io.BytesIO()
    for e in entries:
        t = e["t"]
        fields = [("__REALTIME_TIMESTAMP", str(t)),
                  ("__MONOTONIC_TIMESTAMP", str(max(t - BOOT_REALTIME_US, 0)))] + e["fields"]
        for k, v in fields:
            b = as_bytes(v)
            try:
                plain = not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in b.decode())
            except UnicodeDecodeError:
                plain = False
            if plain:
                out.write(k.encode() + b"=" + b + b"\n")
            else:
                out.write(k.encode() + b"\n" + len(b).to_bytes(8, "little") + b + b"\n")
        out.write(b"\n")
    return out.getvalue()


def parse_entries(text: str) -> list[dict]:
    """The entries of a json_export text (the cursor and the time stamps dropped, byte
    arrays back to bytes)."""
    entries = []
    for line in text.splitlines():
        obj = json.loads(line)
        fields = [(k, bytes(v) if isinstance(v, list) else v) for k, v in obj.items()
                  if k not in ("__CURSOR", "__REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP")]
        entries.append({"t": int(obj["__REALTIME_TIMESTAMP"]), "fields": fields})
    return entries


def escaped(msg: bytes) -> bytes:
    """rsyslog's $EscapeControlCharactersOnReceive (default on): a control byte as #ooo."""
    return b"".join(b"#%03o" % c if c < 0x20 or c == 0x7F else bytes([c]) for c in msg)


def syslog(entries, rfc3339: bool) -> bytes:
    out = io.BytesIO()
    for e in entries:
        f = dict(e["fields"])
        t = datetime.fromtimestamp(e["t"] // 1_000_000, TZ).replace(microsecond=e["t"] % 1_000_000)
        if rfc3339:
            stamp = t.isoformat(timespec="microseconds")
        else:
            stamp = f"{t:%b} {t.day:2d} {t:%H:%M:%S}"
        out.write(f"{stamp} {f['_HOSTNAME']} {f['SYSLOG_IDENTIFIER']}[{f['_PID']}]: ".encode())
        out.write(escaped(as_bytes(f["MESSAGE"])) + b"\n")
    return out.getvalue()


def main(argv) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "tests/data/journal"
    if len(argv) > 2 or (len(argv) > 1 and argv[1] in ("-h", "--help")):
        print(__doc__, file=sys.stderr)
        return 2
    s = build()
    entries = sorted(s.entries, key=lambda e: e["t"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "entries.json").write_text(json_export(entries), encoding="utf-8")
    classic = syslog(entries, False)
    (out / "syslog").write_bytes(classic)
    (out / "syslog.rfc3339").write_bytes(syslog(entries, True))
    # daemon.log.1.gz: the older part, up to 14:06, as logrotate's compress leaves it
    # (deterministic: no name, no time in the gzip header).
    head = syslog([e for e in entries if e["t"] < us("2026-06-24 14:06:00")], False)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", filename="", mtime=0) as gz:
        gz.write(head)
    (out / "daemon.log.1.gz").write_bytes(buf.getvalue())
    access = sorted(s.access, key=lambda a: a[0])
    (out / "access.log").write_text("".join(line + "\n" for _, line in access))
    tasks = out / "tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "index").write_text("".join(line + "\n" for _, line in sorted(s.index)))
    for u, lines in s.task_logs.items():
        # pve-common src/PVE/UPID.pm decode: the subdirectory is the last hex digit of starttime.
        sub = tasks / u.split(":")[4][-1]
        sub.mkdir(exist_ok=True)
        (sub / u).write_text("".join(line + "\n" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
