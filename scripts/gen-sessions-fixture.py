#!/usr/bin/env python3
"""Write the sessions fixture under tests/data/sessions/ (issue 13): one afternoon on node pve1.

Why: `pverec sessions` builds consoles, web UI logins and API token use from access.log, the
task index and the journal. Its tests need every case shaped as PVE writes it (see
../shared/docs/pve-sources.md section 5, and the Proxmox code cited there), each with a known
expected session. This script is the single place the scenario is written down; the expected
records are in tests/integration/sessions.rs, derived from the table in README.md, which this
script also writes.

Shapes (from Proxmox's code):
- POST .../vncproxy|termproxy|spiceproxy (and the node's termproxy/vncshell/spiceshell) is
  answered after the task is forked and its port is up: the log time is at or just after the
  task's start; the vncticket's time (`PVEVNC:%08X`, pve-common PVE/Ticket.pm) is the handler's
  time, at or just before the task start.
- The websocket upgrade is logged once, at the 101 (pve-http-server AnyEvent.pm log_request),
  within the 10 s the task waits for its client (qemu-server API2/Qemu.pm: $timeout = 10); no
  client: the task ends `connection timed out`.
- SPICE: `CONNECT pvespiceproxy:%08x:<vmid>:<node>:<port>::<sig>:<port>` with user `-`, logged
  at 200 when it connects (AnyEvent.pm handle_spice_proxy_request: "log early").
- A login line has user `-`; its user is in the journal (`successful auth for user '...'`).
  The UI renews its ticket every 15 minutes (POST /api2/json/access/ticket, also user `-`).
- The login window loads the realm list without a ticket (GET /api2/json/access/domains, `-`).
- Tasks: index lines `UPID ENDTIME STATUS` (%08X); active lines `UPID 0` for running tasks.

Usage: gen-sessions-fixture.py [OUTDIR]   (default: tests/data/sessions)
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

TZ = dt.timezone(dt.timedelta(hours=2))
DAY = dt.datetime(2026, 6, 24, tzinfo=TZ)
NODE = "pve1"


def at(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return int((DAY + dt.timedelta(hours=h, minutes=m, seconds=s)).timestamp())


def stamp(t: int) -> str:
    return dt.datetime.fromtimestamp(t, TZ).strftime("%d/%m/%Y:%H:%M:%S %z")


class Node:
    def __init__(self):
        self.lines: list[tuple[int, int, str]] = []   # (time, order, text)
        self.index: list[str] = []
        self.active: list[str] = []
        self.journal: list[tuple[int, str, int, str]] = []  # (µs, ident, pid, message)
        self.pid = 0x3000
        self.order = 0

    def log(self, t, ip, user, request, status, length):
        self.order += 1
        self.lines.append((t, self.order, f'{ip} - {user} [{stamp(t)}] "{request} HTTP/1.1" {status} {length}'))

    def task(self, start, kind, tid, user, end=None, status="OK"):
        self.pid += 0x11
        upid = f"UPID:{NODE}:{self.pid:08X}:{0x00400000 + self.pid * 16:08X}:{start:08X}:{kind}:{tid}:{user}:"
        if end is None:
            self.active.append(f"{upid} 0")
        else:
            self.index.append(f"{upid} {end:08X} {status}")
        self.journal.append((start * 1_000_000 + 2000, "pvedaemon", 2201, f"<{user}> starting task {upid}"))
        if end is not None:
            self.journal.append((end * 1_000_000 + 3000, "pvedaemon", 2201, f"<{user}> end task {upid} {status}"))
        return upid

    def auth(self, t, user):
        # pvedaemon logs the success just before pveproxy writes the line.
        self.journal.append((t * 1_000_000 - 200_000, "pvedaemon", 2202,
                             f"<root@pam> successful auth for user '{user}'"))

    def login(self, t, ip, user):
        self.log(t - 6, ip, "-", "GET /api2/json/access/domains", 200, 212)
        self.auth(t, user)
        self.log(t, ip, "-", "POST /api2/extjs/access/ticket", 200, 1521)

    def renew(self, t, ip, user):
        self.auth(t, user)
        self.log(t, ip, "-", "POST /api2/json/access/ticket", 200, 1497)

    def console(self, t, ip, user, path, kind, tid, ws_after=None, end=None, status="OK",
                spice=None, ticket_time=None):
        """A console: its task (forked at t), the POST (logged at t), the client's connection."""
        upid = self.task(t, kind, tid, user, end, status)
        self.log(t, ip, user, f"POST /api2/extjs/nodes/{NODE}/{path}", 200, 190)
        if ws_after is not None and spice is None:
            ws_path = path.rsplit("/", 1)[0] + "/vncwebsocket" if "/" in path else "vncwebsocket"
            tt = ticket_time if ticket_time is not None else t
            self.log(t + ws_after, ip, user,
                     f"GET /api2/json/nodes/{NODE}/{ws_path}?port=5900&vncticket=PVEVNC%3A{tt:08X}%3A%3AsIgNaTuRe",
                     101, "-")
        if ws_after is not None and spice is not None:
            self.log(t + ws_after, ip, "-",
                     f"CONNECT pvespiceproxy:{t:08x}:{spice}:{NODE}:61000::0123456789abcdef0123456789abcdef01234567:61000",
                     200, "-")
        return upid


def build() -> Node:
    n = Node()
    alice, bob, root, carol, dave, erin, frank, grace = (
        "::ffff:192.0.2.10", "::ffff:192.0.2.20", "::ffff:192.0.2.1", "::ffff:192.0.2.30",
        "::ffff:192.0.2.40", "::ffff:192.0.2.50", "::ffff:192.0.2.60", "::ffff:192.0.2.70")
    ci = "::ffff:198.51.100.5"

    # frank: a UI session over two hours, renewed every 15 minutes, with a start; then the page
    # is closed (no more calls or renewals) and the ticket expires at 15:45:00 + 2 h.
    n.login(at("13:30:00"), frank, "frank@pve")
    # (The GUI polls every few seconds; once a minute is enough to keep the page "open".)
    t = at("13:30:02")
    while t < at("15:45:00"):
        n.log(t, frank, "frank@pve", "GET /api2/json/cluster/resources", 200, 4210)
        t += 60
    for k in range(1, 10):
        n.renew(at("13:30:00") + k * 900, frank, "frank@pve")
    upid = n.task(at("14:02:00"), "qmstart", "100", "frank@pve", at("14:02:03"))
    # A started task answers its UPID: {"data":"UPID…","success":1} is 23 bytes more in extjs.
    n.log(at("14:02:00"), frank, "frank@pve", "POST /api2/extjs/nodes/pve1/qemu/100/status/start", 200, len(upid) + 23)
    n.log(at("15:45:30"), frank, "frank@pve", "GET /api2/json/nodes/pve1/status", 200, 900)

    # 1. alice: noVNC on VM 100, 14:00:10 to 14:20:00.
    n.login(at("13:59:50"), alice, "alice@pve")
    n.console(at("14:00:10"), alice, "alice@pve", "qemu/100/vncproxy", "vncproxy", "100",
              ws_after=2, end=at("14:20:00"))
    # 5. alice: a console on VM 101 that no client connected to: timed out after 10 s.
    n.console(at("14:15:00"), alice, "alice@pve", "qemu/101/vncproxy", "vncproxy", "101",
              end=at("14:15:10"), status="connection timed out")
    # alice may not open VM 102's console: the extjs error answer is HTTP 200, and no task is
    # forked; the task index holds every task that ended since 14:02, so this is no session.
    n.log(at("14:16:00"), alice, "alice@pve", "POST /api2/extjs/nodes/pve1/qemu/102/vncproxy", 200, 103)
    # alice logs out: her browser shows the login window again, which loads the realm list.
    n.log(at("14:21:00"), alice, "-", "GET /api2/json/access/domains", 200, 212)

    # 2. bob: xterm.js on container 200, 14:05:00 to 14:35:30.
    n.login(at("14:04:40"), bob, "bob@pve")
    n.console(at("14:05:00"), bob, "bob@pve", "lxc/200/termproxy", "vncproxy", "200",
              ws_after=1, end=at("14:35:30"))
    # 6. bob: a console on VM 100 still open at the end (its task in `active`).
    n.console(at("15:00:00"), bob, "bob@pve", "qemu/100/vncproxy", "vncproxy", "100", ws_after=2)

    # 3. root: the node's shell through xterm.js, 14:10:00 to 15:02:00.
    n.login(at("14:09:30"), root, "root@pam")
    n.console(at("14:10:00"), root, "root@pam", "termproxy", "vncshell", "", ws_after=2,
              end=at("15:02:00"))

    # 4. carol: SPICE on container 201 (spiceproxy task), 14:12:00, client at 14:12:05, to 14:40:00.
    n.login(at("14:11:40"), carol, "carol@pve")
    n.console(at("14:12:00"), carol, "carol@pve", "lxc/201/spiceproxy", "spiceproxy", "201",
              ws_after=5, end=at("14:40:00"), spice="201")

    # 7. dave: two consoles at once, VM 100 and VM 101.
    n.login(at("14:29:40"), dave, "dave@pve")
    n.console(at("14:30:00"), dave, "dave@pve", "qemu/100/vncproxy", "vncproxy", "100",
              ws_after=2, end=at("14:45:00"))
    n.console(at("14:30:01"), dave, "dave@pve", "qemu/101/vncproxy", "vncproxy", "101",
              ws_after=2, end=at("14:50:00"))

    # erin: two consoles of VM 102 in the same second (two tabs): each websocket fits both
    # requests, so neither joins (counted as ambiguous).
    n.login(at("14:39:40"), erin, "erin@pve")
    n.console(at("14:40:00"), erin, "erin@pve", "qemu/102/vncproxy", "vncproxy", "102",
              ws_after=2, end=at("14:41:00"))
    n.console(at("14:40:00"), erin, "erin@pve", "qemu/102/vncproxy", "vncproxy", "102",
              ws_after=3, end=at("14:42:00"))

    # grace: a short UI session, logged out (the login window is shown again).
    n.login(at("14:50:00"), grace, "grace@pve")
    n.log(at("14:50:02"), grace, "grace@pve", "GET /api2/json/cluster/resources", 200, 4210)
    n.log(at("14:55:00"), grace, "grace@pve", "PUT /api2/extjs/nodes/pve1/qemu/101/config", 200, 25)
    n.log(at("14:58:00"), grace, "grace@pve", "GET /api2/json/cluster/resources", 200, 4210)
    n.log(at("14:58:30"), grace, "-", "GET /api2/json/access/domains", 200, 212)

    # 9. the CI token: two bursts an hour apart: two api sessions.
    for k, t in enumerate([at("14:00:00"), at("14:01:00"), at("14:03:00")]):
        n.log(t, ci, "automation@pve!ci", "GET /api2/json/cluster/resources?type=vm", 200, 1800 + k)
    upid = n.task(at("14:02:00"), "qmshutdown", "101", "automation@pve!ci", at("14:02:30"))
    # {"data":"UPID…"}: 11 bytes more in json.
    n.log(at("14:02:00"), ci, "automation@pve!ci", "POST /api2/json/nodes/pve1/qemu/101/status/shutdown", 200, len(upid) + 11)
    n.log(at("15:10:00"), ci, "automation@pve!ci", "GET /api2/json/cluster/resources?type=vm", 200, 1802)
    upid = n.task(at("15:12:00"), "qmdelsnapshot", "101", "automation@pve!ci", at("15:12:20"))
    n.log(at("15:12:00"), ci, "automation@pve!ci", "DELETE /api2/json/nodes/pve1/qemu/101/snapshot/nightly", 200, len(upid) + 11)

    # The log runs on past frank's expiry (and the CI token's idle time): the node's own polling.
    n.log(at("17:50:00"), "::ffff:192.0.2.99", "-", "GET /pve2/ext6/ext-all.js?ver=7.4.2", 304, "-")
    return n


def main(argv) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "tests/data/sessions"
    n = build()
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    lines = [text for _, _, text in sorted(n.lines)]
    (out / "access.log").write_text("".join(l + "\n" for l in lines))
    # index: newest first by end time, as PVE appends (pve-common RESTEnvironment active_workers).
    (out / "tasks" / "index").write_text("".join(l + "\n" for l in n.index))
    (out / "tasks" / "active").write_text("".join(l + "\n" for l in n.active))
    with (out / "entries.json").open("w") as f:
        for i, (us, ident, pid, msg) in enumerate(sorted(n.journal)):
            f.write(json.dumps({
                "__CURSOR": f"s=5e551045;i={i + 1};b=b007;m={us:x};t={us:x};x={i:x}",
                "__REALTIME_TIMESTAMP": str(us),
                "_HOSTNAME": NODE, "PRIORITY": "6", "SYSLOG_IDENTIFIER": ident,
                "SYSLOG_PID": str(pid), "_PID": str(pid), "_COMM": "pvedaemon worke",
                "MESSAGE": msg,
            }, separators=(",", ":")) + "\n")
    etc = out / "etc-pve"
    (etc / "nodes/pve1/qemu-server").mkdir(parents=True, exist_ok=True)
    (etc / "nodes/pve1/lxc").mkdir(parents=True, exist_ok=True)
    guests = {"100": ("qemu", "web01"), "101": ("qemu", "app01"),
              "102": ("qemu", "build-runner-with-a-very-long-name"),
              "200": ("lxc", "db01"), "201": ("lxc", "files")}
    ids = ",\n".join(f'"{v}": {{ "node": "pve1", "type": "{k}", "version": 1 }}'
                     for v, (k, _) in guests.items())
    (etc / ".vmlist").write_text(f'{{\n"version": 3,\n"ids": {{\n{ids}}}\n\n}}\n')
    for vmid, (kind, name) in guests.items():
        if kind == "qemu":
            (etc / f"nodes/pve1/qemu-server/{vmid}.conf").write_text(f"cores: 2\nmemory: 2048\nname: {name}\n")
        else:
            (etc / f"nodes/pve1/lxc/{vmid}.conf").write_text(f"arch: amd64\nhostname: {name}\nmemory: 512\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
