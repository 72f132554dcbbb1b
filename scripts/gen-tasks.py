#!/usr/bin/env python3
"""Generate a realistic pveproxy access.log plus the PVE task directory, with ground truth.

Why: pverec joins access.log requests with the task index (/var/log/pve/tasks/index,
index.1, active) so that a write's audit record names the task it started. How well
that works can only be measured against a log and a task directory whose pairing is
known. This script makes both, the way a node writes them (docs: shared
pve-formats.md sections 1 and 2), and says for every write which task it started.

What: node pve1 over a few days. Mostly web-UI polling GETs; UI writes through
/api2/extjs by root@pam, alice@pve and bob@pve (bob lacks permissions for some
guests); a CI pipeline's API token automation@pve!ci through /api2/json (raw UPIDs
in its task-status polls); a monitoring token; consoles (vncproxy/vncshell tasks
with websocket upgrades); calls on node pve2's guests proxied by pve1 (their tasks
are only in pve2's index); a user on pve2's GUI acting on pve1 guests (logged on
pve1 with pve2's address, task in pve1's index); double clicks (two tasks, same
second, increasing pids); rejections (extjs 200 with success 0, 403, 401, 500);
synchronous PUT config (no task) and async POST config (qmconfig) with
background_delay (logged up to 30 s after the task started, sometimes returning
null although a task ran); tasks without a request (nightly vzdump jobs and
pveupdate's aptupdate from the scheduler, root's CLI, HA LRM follow-ups of
hastart/hastop/hamigrate, stopall/startall around a node reboot); failed tasks;
tasks killed by the reboot ("unexpected status") or stopped from the GUI; tasks
still running at the end (in `active` only). The node's uptime passes 497 days
during the log, so pstart grows from 8 to 9 hex digits, then the reboot brings it
back to 8; pids wrap at pid_max.

The task directory is simulated call by call: every task start, every reap by the
parent and pvestatd's 10 s tick run RESTEnvironment::active_workers, which appends
the newly finished tasks (endtime = detection time, newest first by starttime) to
`index`, renames `index` to `index.1` when `-s $fh` after the append says more than
50,000 bytes, and rewrites `active` (running tasks + up to 25 recent finished ones).
Note: `-s` runs before close, with the appended text still in PerlIO's 8 KiB buffer,
so it sees the size *before* the append (plus whole flushed 8 KiB blocks): the rename
happens one append later than pve-formats.md §2.2 says, and `index` may rest a little
over 50,000 bytes (checked with perl's IO::File; see seen_size()). The index
size at the log's start is chosen so that the generation holding the log's first
~3 % of tasks has been clobbered: those requests' tasks are lost, as on a real node.

Output (OUTDIR):
  access.log          exactly N lines (--requests), timestamps non-decreasing
  tasks/index, tasks/index.1, tasks/active
                      (index may be absent if the very last append rotated it)
  truth.jsonl         one object per POST/PUT/DELETE line of access.log:
                      {"line": n, "upid": UPID|null, "why": ..., "task": UPID|null,
                       "where": "index"|"index.1"|"active"|null, "method", "path",
                       "user", "status", "type"}
                      `upid` is the join pverec should make (null when none is
                      possible); `task` is the task the request really started on
                      pve1, also when it fell out of the index (why
                      "lost-from-index"). why: joined | proxied | rejected |
                      no-task-endpoint | lost-from-index.
                      Also "length" (as logged: bytes or "-"), "format" (extjs, json),
                      "started" (the call started a task, here or on pve2),
                      "unknown_status" (595-599 or 500 -: the answer never arrived; a task
                      started behind it still joins), and "outcome": what the log plus
                      the task files can tell (success | failure | pending | unknown, or
                      null when nothing can: a task on pve2 or lost from the index, an extjs
                      object answer) with "outcome_from": task | status | length | null.

Response lengths are those of the body pveproxy would send, built as Perl's JSON
encodes it (Formatter/Standard.pm prepare_response_data): extjs {"data":…,"success":1}
or {"data":null,"message":…,"status":N,"success":0[,"errors":{…}]} in an HTTP 200, json
{"data":…} or {"data":null} with the error's HTTP code; a started task answers its UPID
(len(UPID) + 23 in extjs, + 11 in json); bodies over 1024 bytes (ticket, spiceproxy,
resource lists) are gzip-compressed, so their length is drawn, not computed.
  truth-tasks.jsonl   one object per task in the task files that no access.log line
                      started: {"upid", "why": cli|scheduler|ha, "where", "in_log_span",
                      "note"}; in_log_span: it started between the first and the last
                      access.log line (false only in short logs)

  journal.json        the node's journal for the same span, as `journalctl -o json` prints
                      it (shapes as in tests/data/journal/, scripts/gen-journal-fixture.py):
                      for every VM config write that pve1 carried out (PUT, or the qmconfig
                      task of a POST) an `<USER> update VM N: -key value …` entry from the
                      pvedaemon worker (PUT) or the task worker (POST), keys sorted, values
                      with spaces; `resize`, `snapshot VM` and vzdump's `starting new backup
                      job` lines for those calls; each login's `successful auth` or
                      `authentication failure` entry; pveproxy's `authentication failure:
                      permission denied - invalid PVE ticket` warning beside each other 401;
                      `<USER> starting task` / `end task`
                      for every task on pve1, forked by pvedaemon (API), qm/pct/vzdump (CLI),
                      pvescheduler or pve-ha-lrm; and root's `qm set` on the shell (no
                      access.log line). truth.jsonl then says per write "journal_params":
                      whether the journal holds its parameters (false: containers, proxied
                      and refused calls, endpoints that log none), and "params": those
                      parameters (an object) or null.
  journal.export      with --journal-export: the same entries in the journal export format
                      (for systemd-journal-remote)
  truth-journal.jsonl one object per CLI change that only the journal shows: {"t": µs,
                      "program", "pid", "user", "vmid", "message", "pvesh"}

  truth-sessions.jsonl one object per session, in the terms of `pverec sessions` (its JSON fields
                      kind, user, token, client, node, vmid, opened, closed, duration, status,
                      ended, connected), from what the generator did, not from the log:
                      consoles (vnc, term, spice, shell) also give "upid" (null when the task is
                      in no task file), "task", "post_line", "connect_line" (the 101 or the first
                      CONNECT) and "twin" (a double click: two windows of one guest); ui sessions
                      (a ticket: login, renewals, the user's lines from that client) give
                      "requests", "writes", "renewals", "login" (false for a GUI logged in
                      elsewhere: "hop", pve2's GUI proxied here, or before the log) and
                      "login_line"; api sessions (a token's lines from one client, split at
                      15 minutes idle) give the counts. scripts/session-rate.py scores pverec
                      against it.

The output is a function of (--requests, --seed) only. Pure stdlib; 20,000 lines
take well under a second. --check re-reads what was written and validates it
(formats from pve-formats.md, schema consistency, truth completeness,
reproducibility); a summary goes to stderr.

Usage: gen-tasks.py OUTDIR [--requests 20000] [--seed 1] [--check]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import sys
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA = HERE.parent.parent / "shared" / "data" / "pve-api-schema.json"


def _load_gen_access_log():
    """scripts/gen-access-log.py as a module: its constants and time format are reused."""
    sys.dont_write_bytecode = True
    spec = importlib.util.spec_from_file_location("gen_access_log", HERE / "gen-access-log.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GAL = _load_gen_access_log()


def _load_journal_fixture():
    """scripts/gen-journal-fixture.py as a module: the journal's JSON and export forms."""
    spec = importlib.util.spec_from_file_location("gen_journal_fixture",
                                                  HERE / "gen-journal-fixture.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GJF = _load_journal_fixture()
TZ, TZ_SECONDS, NODE = GAL.TZ, GAL.TZ_SECONDS, GAL.NODE
LOG_START = __import__("calendar").timegm(GAL.START_LOCAL) - TZ_SECONDS
DAY = 86400
SPAN_DAYS = 3             # the log's span for up to 75,000 lines; longer logs span more days
                          # (span_days), so that a client's browser sessions need not overlap
MAXSIZE = 50000           # RESTEnvironment::active_workers: rotate index past this size
PERLIO_BUFSIZ = 8192      # PerlIO's buffer: what `-s $fh` does not see yet
MAX_FINISHED = 25         # finished tasks kept in `active`
PID_MAX = 4194304         # /proc/sys/kernel/pid_max on a 64-bit systemd host
HZ = 100                  # clock ticks per second (pstart unit)
LOST_SHARE = 0.03         # share of the log's tasks whose index generation is clobbered

# Guests. pve1 per gen-access-log.py; VMIDs are cluster-wide, so pve2's are others.
QEMU = list(GAL.QEMU_IDS)                 # 100..105, 110, 111, 120, 121
LXC = list(GAL.LXC_IDS)                   # 200, 201, 202, 210
HA_VMS = (110, 111)                       # HA-managed: start/stop/migrate go through HA
TEMPLATE = 9000                           # CI clones this template
ONBOOT = (100, 101, 102, 104, 120, 200, 201)
PVE2_QEMU = [300, 301, 302]
PVE2_LXC = [310]
BOB_POOL = (103, 121, 210)                # bob@pve is PVEVMUser on these only
SERVICES = [("pveproxy", 5), ("pvedaemon", 2), ("chrony", 1), ("postfix", 1), ("pvestatd", 1)]

# Browser sessions (gen-access-log.py's UI_SESSIONS): (ip, user), weight
UI_SESSIONS = GAL.UI_SESSIONS
VIA_PVE2 = "::ffff:10.0.0.12"             # GUI opened on pve2, calls for pve1 proxied here
CI_IP, CI_USER = GAL.TOKENS[0][0]         # automation@pve!ci
MON_IP, MON_USER = GAL.TOKENS[1][0]       # monitor@pve!grafana
SCRIPT_IP, SCRIPT_USER = "::ffff:192.168.10.50", "deploy@pve"   # a playbook with a password

# §1.2 and §2.1/2.2/2.3 of pve-formats.md, used by --check
ACCESS_RE = re.compile(
    r'^(?P<ip>\S+) - (?P<user>\S+) \[(?P<day>\d\d)/(?P<mon>\d\d)/(?P<year>\d{4}):'
    r'(?P<time>\d\d:\d\d:\d\d) (?P<tz>[+-]\d{4})\] "(?P<req>.*)" (?P<status>\d{3}) '
    r'(?P<len>\d+|-)$')
REQ_RE = re.compile(r'^(\S+) (\S+) HTTP/(\d+)\.(\d+)$')
UPID_RE = re.compile(r'^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):'
                     r'([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$')
INDEX_RE = re.compile(r'^(\S+)(\s([0-9A-Za-z]{8})(\s(\S.*))?)?$')
ACTIVE_RE = re.compile(r'^(\S+)\s(0|1)(\s([0-9A-Za-z]{8})(\s(\s*\S.*))?)?$')


# --------------------------------------------------------------------------- model objects

class Task:
    __slots__ = ("seq", "node", "start", "type", "id", "user", "dur", "status", "exit",
                 "immediate", "pid", "pstart", "frac", "why", "note", "line", "endtime",
                 "saved", "where", "parent", "_upid")

    def __init__(self, seq, node, start, ttype, tid, user, dur, status, immediate, why, note):
        self.seq, self.node, self.start, self.type = seq, node, start, ttype
        self.id, self.user, self.dur, self.status = str(tid), user, dur, status
        self.exit = start + dur
        self.immediate = immediate        # reaped by its parent at once (a call at exit)
        self.why, self.note = why, note   # why: None = started by an access.log request
        self.line = None                  # the Line that started it
        self.pid = self.pstart = None
        self.frac = 0.0
        self.endtime = None
        self.saved = False
        self.where = None
        self.parent = None                # HA LRM follow-ups: the task that caused them
        self._upid = None

    def upid(self) -> str:
        if self._upid is None:
            self._upid = (f"UPID:{self.node}:{self.pid:08X}:{self.pstart:08X}:{self.start:08X}:"
                          f"{self.type}:{self.id}:{self.user}:")
        return self._upid


class Line:
    __slots__ = ("t", "seq", "ip", "user", "method", "target", "status", "length",
                 "task", "why", "ttype", "ref", "no", "outcome", "started")

    def __init__(self, seq, t, ip, user, method, target, status, length, task, why, ttype):
        self.seq, self.t, self.ip, self.user = seq, t, ip, user
        self.method, self.target, self.status, self.length = method, target, status, length
        self.task, self.why, self.ttype = task, why, ttype
        self.ref = None                   # a task whose UPID is in the path (status polls)
        self.no = None
        self.outcome = None               # what the response itself tells (see line_outcome)
        self.started = False              # the response carries the UPID of a started task

    def render(self, stamp) -> str:
        target = self.target() if callable(self.target) else self.target
        length = self.length() if callable(self.length) else self.length
        return (f'{self.ip} - {self.user} [{stamp(self.t)} {TZ}] '
                f'"{self.method} {target} HTTP/1.1" {self.status} {length}\n')


class Console:
    """A console the generator opened: the POST, the client's websocket 101 or first SPICE
    CONNECT (None when no client came), the task (None for QEMU SPICE)."""
    __slots__ = ("kind", "user", "ip", "vmid", "post", "conn", "task", "twin")

    def __init__(self, kind, user, ip, vmid, post, conn, task, twin=False):
        self.kind, self.user, self.ip, self.vmid = kind, user, ip, vmid
        self.post, self.conn, self.task, self.twin = post, conn, task, twin


class UISession:
    """One web UI ticket as the generator used it: its login window (the unauthenticated
    GET /access/domains), the login, the renewals, the user's own lines from the client, and
    the logout (the login window shown again) when the user clicked Logout. `login` is None
    for a GUI whose login is not in this log (opened on pve2 and proxied here: `hop`; or
    logged in before the log's start)."""
    __slots__ = ("ip", "user", "window", "login", "renewals", "lines", "logout", "hop")

    def __init__(self, ip, user, hop=False):
        self.ip, self.user, self.hop = ip, user, hop
        self.window = self.login = self.logout = None
        self.renewals: list[Line] = []
        self.lines: list[Line] = []


def encode_uri_component(text: str) -> str:
    """JavaScript's encodeURIComponent(), as the GUI builds the websocket URL."""
    return urllib.parse.quote(text, safe="-_.!~*'()")


SIG_B64 = GAL.B64 + "+/"
VNC_TIMEOUT = 10          # vncproxy/termproxy/vncshell: `my $timeout = 10` (accept or give up)
SPICE_TIMEOUT = 40        # pve-manager PVE/API2Tools.pm run_spiceterm: spiceterm --timeout 40
SPICE_PORT0 = 61000       # PVE::Tools::next_spice_port's range; qemu's spice_port is the VM's


def vnc_ticket(rng, ts: int, password: bool) -> str:
    """The vncticket query value of a websocket upgrade: encodeURIComponent(ticket), ticket =
    `PVEVNC:<8 hex: time()>::<base64 RSA-2048 signature>` (pve-access-control
    src/PVE/AccessControl.pm assemble_vnc_ticket, pve-common src/PVE/Ticket.pm
    assemble_rsa_ticket), assembled before the worker is forked, so ts <= task start. QEMU
    vncproxy (non-serial display), and vncshell/LXC vncproxy with `websocket`, prefix the
    8-character VNC password: `PASSWORD:PVEVNC:…` (qemu-server src/PVE/API2/Qemu.pm vncproxy:
    "FIXME: MAJOR VERSION: Avoid this hack"; verify_vnc_ticket strips `^.{8}:`)."""
    ticket = f"PVEVNC:{ts:08X}::" + "".join(rng.choice(SIG_B64) for _ in range(342)) + "=="
    if password:   # PVE::Ticket::generate_vnc_password: 8 bytes in '!' .. '`'
        ticket = "".join(chr(rng.randint(0x21, 0x60)) for _ in range(8)) + ":" + ticket
    return encode_uri_component(ticket)


def spice_proxyticket(rng, ts: int, vmid, port: int) -> str:
    """pve-common src/PVE/Ticket.pm assemble_spice_ticket: `pvespiceproxy:<8 lower hex>:VMID:
    NODE:PORT::<40 hex sig>`; the viewer connects with "$proxyticket:$port"."""
    sig = "".join(rng.choice("0123456789abcdef") for _ in range(40))
    return f"pvespiceproxy:{ts:08x}:{vmid}:{NODE.lower()}:{port}::{sig}:{port}"


def enc(upid: str) -> str:
    """encodeURIComponent() of a UPID, as the GUI puts it in a URL ('!' is not encoded)."""
    return upid.replace(":", "%3A").replace("@", "%40")


def js(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


# Response bodies as pve-http-server's Formatter/Standard.pm prepare_response_data builds them
# and Perl's JSON encodes them (compact, `success` and `status` as numbers, strings escaped like
# JSON::XS: for ASCII text the same bytes as json.dumps). Key order is Perl's hash order, which
# varies; the byte length does not, so the lengths below are right by construction.
#   extjs/htmljs: {"data":D,"success":1}   error: {"data":null,"message":M,"status":N,"success":0}
#                 (plus "errors":{...} for parameter errors), always HTTP 200
#   json:         {"data":D}               error: {"data":null} (plus "errors"), the message goes
#                 into the HTTP status line, the code into the status
EXTJS = ("extjs", "htmljs")


def body_ok(fmt, data=None) -> str:
    if fmt in EXTJS:
        return js({"data": data, "success": 1})
    return js({"data": data})


def body_err(fmt, code, msg, errors=None) -> str:
    """An API error: `msg` as PVE::Exception has it (ending in a newline)."""
    if fmt in EXTJS:
        body = {"data": None, "message": msg, "status": code, "success": 0}
    else:
        body = {"data": None}
    if errors:
        body["errors"] = errors
    return js(body)


def err_status(fmt, code) -> int:
    """The HTTP status logged for an API error: extjs/htmljs turn every error into 200."""
    return 200 if fmt in EXTJS else code


def is_unknown_status(status, length) -> bool:
    """595-599 (AnyEvent::HTTP's pseudo-codes of a proxied call) or 500 without a body (the
    client went away, log_aborted_request): the outcome of the call is unknown."""
    return 595 <= status <= 599 or (status == 500 and length == "-")


def task_outcome(status, running) -> str:
    """pverec's reading of a task's end status (README, Outcomes and bodies)."""
    if running:
        return "pending"
    return "success" if status == "OK" or status.startswith("WARNINGS") else "failure"


# --------------------------------------------------------------------------- the world

class World:
    def __init__(self, seed: int, requests: int):
        self.rng = random.Random(seed)
        self.n = requests
        self.seq = 0
        self.lines: list[Line] = []
        self.tasks: list[Task] = []          # pve1
        self.remote: list[Task] = []         # pve2, only for their UPID text
        self.q_here = [v for v in QEMU]      # qemu guests on pve1
        self.q_pve2 = list(PVE2_QEMU)
        self.ct_here = list(LXC)
        self.running = set(ONBOOT) | set(HA_VMS) | {103}
        self.snaps: dict[int, list[str]] = {}
        self.next_vmid = 130
        self.next_ctid = 230
        self.next_ci = 1000
        self.created: list[int] = []         # UI-created VMs, the usual destroy targets
        self.reboot = None                   # (t_request, t_down, t_boot, t_proxy_up)
        self.session_long: list[Task] = []   # this session's long tasks (consoles, backups)
        self.cli_n = 0
        self.consoles: list[Console] = []
        self.uis: list[UISession] = []
        self.cur_ui: UISession | None = None  # the UI session whose user's lines are recorded

    # ---- helpers

    def nseq(self) -> int:
        self.seq += 1
        return self.seq

    def add(self, t, ip, user, method, target, status, length, task=None, why=None,
            ttype=None, ref=None, outcome=None, started=False) -> Line:
        ln = Line(self.nseq(), t, ip, user, method, target, status, length, task, why, ttype)
        ln.ref = ref
        ln.outcome = outcome
        ln.started = started or task is not None
        if task is not None:
            task.line = ln
        self.lines.append(ln)
        ui = self.cur_ui
        if ui is not None and ip == ui.ip and user == ui.user:
            ui.lines.append(ln)
        return ln

    def task(self, start, ttype, tid, user, dur, status="OK", why=None, note=None,
             immediate=None, node=NODE) -> Task:
        if immediate is None:
            immediate = self.rng.random() < (0.8 if why is None else 0.55)
        tk = Task(self.nseq(), node, start, ttype, tid, user, max(0, dur), status, immediate,
                  why, note)
        (self.tasks if node == NODE else self.remote).append(tk)
        return tk

    def lag(self) -> int:
        """Seconds between task start (request arrival) and the response being written."""
        return 0 if self.rng.random() < 0.72 else 1

    @staticmethod
    def ok_len(fmt, tk):
        """A started task's answer: its UPID as the data (len(UPID) + 23 in extjs, + 11 in json)."""
        return lambda: len(body_ok(fmt, tk.upid()))

    @staticmethod
    def null_len(fmt):
        return len(body_ok(fmt, None))          # 25 in extjs, 13 in json

    def unknown_status(self, t, tk):
        """A task-starting call whose answer never reached the client, though pvedaemon forked
        the task: pveproxy's proxied call to pvedaemon (localhost:85) timed out waiting for
        the response (596, logged 30 s after the request, or 597 while reading the body) or
        the client went away first (500, no length). Returns (log time, status)."""
        r = self.rng.random()
        if r < 0.55:
            return t + 30, 596
        if r < 0.65:
            return t + 30, 597
        return t + self.rng.randint(1, 8), 500

    def treq(self, t, ip, user, method, path, ttype, tid, dur, status="OK", fmt="extjs",
             bg=None, length=None):
        """A request that starts a task on pve1 at t (its arrival)."""
        tk = self.task(t, ttype, tid, user, dur, status)
        wait = 0 if bg is None else min(tk.dur, bg)
        if length is None:
            # background_delay: a task that ended within the delay answers null
            length = self.ok_len(fmt, tk) if (bg is None or tk.dur > bg) else self.null_len(fmt)
        if bg is None and self.rng.random() < 0.02:
            at, code = self.unknown_status(t, tk)
            self.add(at, ip, user, method, f"/api2/{fmt}{path}", code, "-", task=tk,
                     ttype=ttype)
            return tk
        self.add(t + wait + self.lag(), ip, user, method, f"/api2/{fmt}{path}", 200, length,
                 task=tk, ttype=ttype)
        return tk

    def notask(self, t, ip, user, method, path, fmt="extjs", data=None, error=None):
        """A write that starts no task. `data`: what it returns on success (null for most);
        `error`: (code, message[, errors]) when it fails."""
        if error is not None:
            code, msg = error[0], error[1]
            body = body_err(fmt, code, msg, error[2] if len(error) > 2 else None)
            self.add(t + self.lag(), ip, user, method, f"/api2/{fmt}{path}",
                     err_status(fmt, code), len(body), why="no-task-endpoint",
                     outcome="failure")
            return
        self.add(t + self.lag(), ip, user, method, f"/api2/{fmt}{path}", 200,
                 len(body_ok(fmt, data)), why="no-task-endpoint", outcome="success")

    def reject(self, t, ip, user, method, path, msg, code=403, fmt="extjs", ttype=None,
               errors=None):
        """An API error before any fork: extjs says so in a 200, json in the status code."""
        body = body_err(fmt, code, msg + "\n", errors)
        self.add(t + self.lag(), ip, user, method, f"/api2/{fmt}{path}", err_status(fmt, code),
                 len(body), why="rejected", ttype=ttype, outcome="failure")

    def aborted(self, t, ip, user, method, path, fmt="extjs", ttype=None):
        """The client went away before the request was handled: 500 and no length."""
        self.add(t + self.rng.randint(0, 2), ip, user, method, f"/api2/{fmt}{path}", 500, "-",
                 why="rejected", ttype=ttype, outcome="unknown")

    def proxied(self, t, ip, user, method, path, ttype, tid, dur, fmt="extjs"):
        """A call for pve2 logged on pve1: the task is in pve2's index, or pve2 is down."""
        if self.rng.random() < 0.06:
            self.add(t + self.rng.randint(0, 3), ip, user, method, f"/api2/{fmt}{path}",
                     self.rng.choice([595, 596]), "-", why="proxied", ttype=ttype,
                     outcome="unknown")
            return None
        tk = self.task(t, ttype, tid, user, dur, node="pve2")
        self.add(t + self.lag() + self.rng.randint(0, 1), ip, user, method,
                 f"/api2/{fmt}{path}", 200, self.ok_len(fmt, tk), why="proxied", ttype=ttype,
                 started=True)
        return tk

    # ---- GETs

    def get(self, t, ip, user, target, lo, hi, ref=None, length=None):
        """A GET: 200 with a body of lo..hi bytes (or `length`, a callable computing the real
        one), sometimes 403 (json: {"data":null}) or 500 without a body (client gone)."""
        r = self.rng.random()
        if r < 0.988:
            status, length = 200, (length if length is not None else self.rng.randint(lo, hi))
        elif r < 0.994:
            status, length = 403, len(body_err("json", 403, "Permission check failed\n"))
        else:
            status, length = 500, "-"
        self.add(t, ip, user, "GET", target, status, length, ref=ref)

    def viewer(self, t, ip, user, tk, raw=False, every=1, cap=20, node=NODE):
        """Task viewer / client polling of a task's status (and the GUI's log view)."""
        rng = self.rng
        n = min(cap, max(1, (tk.dur + every - 1) // every + 1))
        for i in range(n):
            at = t + 1 + i * every
            if raw:
                self.get(at, ip, user,
                         lambda tk=tk: f"/api2/json/nodes/{node}/tasks/{tk.upid()}/status",
                         0, 0, ref=tk, length=lambda tk=tk, at=at: status_len(tk, at))
            else:
                self.get(at, ip, user,
                         lambda tk=tk: f"/api2/json/nodes/{node}/tasks/{enc(tk.upid())}/status",
                         0, 0, ref=tk, length=lambda tk=tk, at=at: status_len(tk, at))
                if rng.random() < 0.8:
                    self.get(at, ip, user,
                             lambda tk=tk: (f"/api2/json/nodes/{node}/tasks/{enc(tk.upid())}"
                                            f"/log?start=0&limit=500"), 200, 4000, ref=tk)
        return t + n * every

    # ---- UI polling

    def poll(self, t, ip, user, view, tick, via_pve2):
        rng = self.rng
        if via_pve2:
            # Only what names pve1 reaches pve1; pve2 answers cluster-wide calls itself.
            if rng.random() < 0.6:
                kind, vmid = view
                if kind == "qemu" and vmid in self.q_here:
                    self.get(t, ip, user, f"/api2/json/nodes/pve1/qemu/{vmid}/status/current",
                             500, 800)
                else:
                    self.get(t, ip, user, "/api2/json/nodes/pve1/status", 700, 950)
            return
        self.get(t, ip, user, "/api2/json/cluster/resources", 2500, 9000)
        if tick % 3 == 0:
            self.get(t, ip, user, "/api2/json/cluster/tasks", 900, 3500)
        if tick % 5 == 2:
            self.get(t, ip, user, "/api2/json/cluster/status", 400, 700)
        kind, vmid = view
        node = "pve2" if vmid in self.q_pve2 or vmid in PVE2_LXC else "pve1"
        if tick % 2:
            return                      # the panel's own store polls at half that rate
        if kind == "node":
            self.get(t + rng.randint(0, 1), ip, user, "/api2/json/nodes/pve1/status", 700, 950)
            if tick % 10 == 0:
                self.get(t + 1, ip, user,
                         "/api2/json/nodes/pve1/rrddata?timeframe=hour&cf=AVERAGE", 3000, 9000)
        elif kind == "qemu":
            self.get(t + rng.randint(0, 1), ip, user,
                     f"/api2/json/nodes/{node}/qemu/{vmid}/status/current", 500, 800)
            if tick % 10 == 0:
                self.get(t + 1, ip, user,
                         f"/api2/json/nodes/{node}/qemu/{vmid}/rrddata?timeframe=hour&cf=AVERAGE",
                         3000, 9000)
            if tick % 20 == 7:
                self.get(t + 1, ip, user, f"/api2/json/nodes/{node}/qemu/{vmid}/pending",
                         500, 1500)
        else:
            self.get(t + rng.randint(0, 1), ip, user,
                     f"/api2/json/nodes/{node}/lxc/{vmid}/status/current", 400, 700)

    def pick_view(self):
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            return ("node", None)
        if r < 0.85:
            return ("qemu", rng.choice(self.q_here + self.q_pve2))
        return ("lxc", rng.choice(self.ct_here + PVE2_LXC))

    # ---- UI session

    def login(self, t, ip, ui=None, page=True):
        """The login window and the login (`page`: the GUI's page is loaded first). Records
        the window (GET /access/domains) and the login line on `ui`."""
        rng = self.rng
        if page:
            self.add(t, ip, "-", "GET", "/", 200, rng.randint(2400, 2600))
            for _ in range(rng.randint(3, 8)):
                path = GAL.weighted(rng, GAL.STATIC)[0]
                if path == "/":
                    continue
                if rng.random() < 0.15:
                    self.add(t, ip, "-", "GET", path, 200, rng.randint(2000, 400000))
                else:
                    self.add(t, ip, "-", "GET", path, 304, "-")
        window = self.add(t + 1, ip, "-", "GET", "/api2/json/access/domains", 200,
                          rng.randint(150, 300))
        t += rng.randint(3, 12)
        if rng.random() < 0.08:      # mistyped password: 401, logged at once
            self.add(t, ip, "-", "POST", "/api2/extjs/access/ticket", 401, "-",
                     why="no-task-endpoint")
            t += rng.randint(5, 10)
        ln = self.add(t, ip, "-", "POST", "/api2/extjs/access/ticket", 200,
                      rng.randint(1480, 1600), why="no-task-endpoint")
        if ui is not None:
            ui.window, ui.login = window, ln
        return t + 1

    def ui_session(self, t0, ip, user, minutes):
        """A browser session: login, polling, actions, and the ticket renewal that
        www/manager6/Workspace.js runs every 15 minutes from the page load (POST
        /api2/json/access/ticket, user `-`). It ends by closing the browser (the session
        cookie goes, the ticket just expires) or by Logout (the login window again). Rarely the
        laptop sleeps for over 2 h: no polls, no renewals; on waking the polls and the overdue
        renewal get 401 and the user logs in again (a new ticket, a new session). Returns the
        time of its last line."""
        rng = self.rng
        via_pve2 = ip == VIA_PVE2
        ui = UISession(ip, user, hop=via_pve2)
        self.uis.append(ui)
        self.cur_ui = ui
        t = t0 if via_pve2 else self.login(t0, ip, ui)
        end = t0 + minutes * 60
        renew = t0 + 900
        view = self.pick_view()
        tick = 0
        p_act = 0.14
        sleep_at = t0 + rng.randint(60, minutes * 60) if rng.random() < 0.05 else None
        while t < end:
            while not via_pve2 and renew <= t:
                ui.renewals.append(self.add(renew + rng.randint(0, 1), ip, "-", "POST",
                                            "/api2/json/access/ticket", 200,
                                            rng.randint(1480, 1600), why="no-task-endpoint"))
                renew += 900
            self.poll(t, ip, user, view, tick, via_pve2)
            tick += 1
            if rng.random() < 0.07:
                view = self.pick_view()
            if rng.random() < p_act:
                t = self.ui_action(t + rng.randint(0, 2), ip, user, via_pve2)
            t += rng.randint(3, 5)
            if not via_pve2 and sleep_at is not None and t >= sleep_at:
                sleep_at = None                          # the laptop sleeps; the ticket expires
                gap = rng.randint(7300, 12000)
                t += gap
                end += gap
                self.add(t, ip, "-", "GET", "/api2/json/cluster/resources", 401, "-")
                self.add(t, ip, "-", "POST", "/api2/json/access/ticket", 401, "-",
                         why="no-task-endpoint")
                if rng.random() < 0.3:
                    self.add(t + 1, ip, "-", "POST",
                             f"/api2/extjs/nodes/pve1/qemu/{rng.choice(self.q_here)}/status/start",
                             401, "-", why="rejected", ttype="qmstart")
                ui = UISession(ip, user)
                self.uis.append(ui)
                self.cur_ui = ui
                t = self.login(t + 4, ip, ui, page=False)
                renew = t + 900
        if not via_pve2 and rng.random() < 0.35:     # Logout: the login window again
            ui.logout = self.add(t, ip, "-", "GET", "/api2/json/access/domains", 200,
                                 rng.randint(150, 300))
        self.cur_ui = None
        return t

    # ---- UI actions: each returns the session's time after it

    def ui_action(self, t, ip, user, via_pve2):
        rng = self.rng
        table = [
            (self.a_power_vm, 30), (self.a_power_ct, 9), (self.a_put_config, 10),
            (self.a_post_config, 5), (self.a_snapshot, 8), (self.a_delsnapshot, 3),
            (self.a_rollback, 2), (self.a_destroy, 2.5), (self.a_create, 2.5),
            (self.a_create_ct, 1), (self.a_migrate, 2), (self.a_vzdump, 3),
            (self.a_console, 8), (self.a_misc, 5), (self.a_resize, 1),
            (self.a_spice, 1.5), (self.a_stoptask, 0.7), (self.a_two_consoles, 1.2),
        ]
        if user == "root@pam":
            table += [(self.a_shell, 1.5), (self.a_service, 1.2), (self.a_aptupdate, 1.2)]
        else:
            table += [(self.a_shell, 0.2), (self.a_service, 0.2), (self.a_aptupdate, 0.2)]
        if not via_pve2:
            table += [(self.a_pve2, 5)]
        action = rng.choices([a for a, _ in table], [w for _, w in table])[0]
        return action(t, ip, user)

    def denied(self, user, vmid=None, node_priv=None) -> str | None:
        """bob@pve may only touch his pool; nobody but root has Sys.Modify/Sys.Console."""
        if node_priv and user != "root@pam":
            return f"Permission check failed (/nodes/pve1, {node_priv})"
        if user == "bob@pve" and vmid is not None and vmid not in BOB_POOL:
            return f"Permission check failed (/vms/{vmid}, VM.PowerMgmt)"
        return None

    def a_power_vm(self, t, ip, user):
        rng = self.rng
        vmid = rng.choice(self.q_here)
        path = f"/nodes/pve1/qemu/{vmid}/status/"
        running = vmid in self.running
        verb = "start" if not running else rng.choices(
            ["shutdown", "stop", "reboot", "suspend"], [5, 2, 2, 0.3])[0]
        ttype = {"start": "qmstart", "shutdown": "qmshutdown", "stop": "qmstop",
                 "reboot": "qmreboot", "suspend": "qmpause"}[verb]
        if vmid in HA_VMS and verb in ("start", "shutdown", "stop"):
            ttype = "hastart" if verb == "start" else "hastop"
        msg = self.denied(user, vmid)
        if msg:
            self.reject(t, ip, user, "POST", path + verb, msg, ttype=ttype)
            return t + 2
        if rng.random() < 0.01:
            self.aborted(t, ip, user, "POST", path + verb, ttype=ttype)
            return t + 2
        if verb in ("shutdown", "reboot", "suspend") and not ttype.startswith("ha") \
                and rng.random() < 0.03:
            # a stale view: the guest stopped meanwhile; checked before the fork
            self.reject(t, ip, user, "POST", path + verb, f"VM {vmid} not running", code=500,
                        ttype=ttype)
            self.running.discard(vmid)
            return t + 2
        dur = {"qmstart": (1, 8), "qmshutdown": (4, 70), "qmstop": (1, 4), "qmreboot": (10, 60),
               "qmpause": (0, 1), "hastart": (0, 1), "hastop": (0, 1)}[ttype]
        status = "OK"
        d = rng.randint(*dur)
        if ttype == "qmshutdown" and rng.random() < 0.04:
            d, status = 180, "VM quit/powerdown failed - got timeout"
        elif ttype == "qmstart" and rng.random() < 0.02:
            status = "start failed: QEMU exited with code 1"
        tk = self.treq(t, ip, user, "POST", path + verb, ttype, vmid, d, status)
        if ttype in ("hastart", "hastop"):      # the LRM does the work as root@pam
            lt = "qmstart" if ttype == "hastart" else "qmshutdown"
            self.task(t + rng.randint(4, 14), lt, vmid, "root@pam", rng.randint(2, 30),
                      why="ha", note=f"HA LRM after {ttype}").parent = tk
        if verb == "start" and ttype == "qmstart" and rng.random() < 0.05:
            # double click: the same request twice in the same second; the second one waits
            # for the config lock and then finds the VM running
            tk2 = self.task(t, ttype, vmid, user, d + rng.randint(0, 2),
                            f"VM {vmid} already running")
            tk2.frac = -1.0                      # marker: pid right after the first
            lt2 = max(tk.line.t, t + self.lag())
            self.add(lt2, ip, user, "POST", f"/api2/extjs{path}start", 200,
                     self.ok_len("extjs", tk2), task=tk2, ttype=ttype)
        if verb == "start":
            self.running.add(vmid)
        elif status == "OK" and verb != "reboot":
            self.running.discard(vmid)
        if rng.random() < 0.15 and not ttype.startswith("ha"):
            return self.viewer(t, ip, user, tk, cap=8)
        return t + 2

    def a_power_ct(self, t, ip, user):
        rng = self.rng
        ct = rng.choice(self.ct_here)
        running = ct in self.running
        verb = "start" if not running else rng.choices(["shutdown", "stop", "reboot"], [5, 2, 2])[0]
        ttype = {"start": "vzstart", "shutdown": "vzshutdown", "stop": "vzstop",
                 "reboot": "vzreboot"}[verb]
        path = f"/nodes/pve1/lxc/{ct}/status/{verb}"
        msg = self.denied(user, ct)
        if msg:
            self.reject(t, ip, user, "POST", path, msg, ttype=ttype)
            return t + 2
        d = rng.randint(*{"vzstart": (1, 5), "vzshutdown": (2, 30), "vzstop": (1, 3),
                          "vzreboot": (4, 20)}[ttype])
        status = "OK"
        if ttype == "vzstart" and rng.random() < 0.03:
            status = f"startup for container '{ct}' failed"
        self.treq(t, ip, user, "POST", path, ttype, ct, d, status)
        if verb == "start":
            self.running.add(ct)
        elif verb != "reboot":
            self.running.discard(ct)
        return t + 2

    def a_put_config(self, t, ip, user):
        rng = self.rng
        if rng.random() < 0.7:
            path = f"/nodes/pve1/qemu/{rng.choice(self.q_here)}/config"
        else:
            path = f"/nodes/pve1/lxc/{rng.choice(self.ct_here)}/config"
        r = rng.random()
        if r < 0.04:
            self.notask(t, ip, user, "PUT", path, error=(500, "VM is locked (backup)\n"))
        elif r < 0.07:           # a typo in an edit window: raise_param_exc, with `errors`
            key, why = rng.choice([
                ("memory", "value must have a minimum value of 16"),
                ("net0", "invalid format - format error\nnet0.model: property is missing "
                         "and it is not optional\n"),
                ("cores", "type check ('integer') failed - got 'four'"),
                ("hostname", "value does not match the regex pattern"),
            ])
            self.notask(t, ip, user, "PUT", path,
                        error=(400, "Parameter verification failed.\n", {key: why}))
        else:
            self.notask(t, ip, user, "PUT", path)
        return t + 3

    def a_post_config(self, t, ip, user):
        """Hardware edits: POST config with background_delay=5 (GUI)."""
        rng = self.rng
        vmid = rng.choice(self.q_here)
        path = f"/nodes/pve1/qemu/{vmid}/config"
        msg = self.denied(user, vmid)
        if msg:
            self.reject(t, ip, user, "POST", path, msg.replace("PowerMgmt", "Config.Disk"),
                        ttype="qmconfig")
            return t + 2
        d = rng.randint(0, 3) if rng.random() < 0.6 else rng.randint(4, 40)
        status = "OK" if rng.random() < 0.95 else "hotplug problem - unable to hotplug scsi1"
        self.treq(t, ip, user, "POST", path, "qmconfig", vmid, d, status, bg=5)
        return t + min(d, 5) + 2

    def a_snapshot(self, t, ip, user):
        rng = self.rng
        lxc = rng.random() < 0.2
        vmid = rng.choice(self.ct_here if lxc else self.q_here)
        kind, ttype = ("lxc", "vzsnapshot") if lxc else ("qemu", "qmsnapshot")
        path = f"/nodes/pve1/{kind}/{vmid}/snapshot"
        msg = self.denied(user, vmid)
        if msg:
            self.reject(t, ip, user, "POST", path, msg.replace("PowerMgmt", "Snapshot"),
                        ttype=ttype)
            return t + 2
        snaps = self.snaps.setdefault(vmid, [])
        name = rng.choice(["before-upgrade", "pre-patch", "daily", "test", "clean"])
        status = "OK"
        if name in snaps:
            status = f"snapshot name '{name}' already used"
        else:
            snaps.append(name)
        d = rng.randint(2, 25) if rng.random() < 0.8 else rng.randint(30, 200)  # with RAM
        tk = self.treq(t, ip, user, "POST", path, ttype, vmid, d, status)
        if rng.random() < 0.5:
            return self.viewer(t, ip, user, tk, cap=12)
        return t + 2

    def a_delsnapshot(self, t, ip, user):
        rng = self.rng
        have = [v for v in self.q_here + self.ct_here if self.snaps.get(v)]
        if not have:
            return self.a_snapshot(t, ip, user)
        vmid = rng.choice(have)
        snap = self.snaps[vmid].pop(0)
        kind, ttype = ("lxc", "vzdelsnapshot") if vmid in self.ct_here else ("qemu", "qmdelsnapshot")
        tk = self.treq(t, ip, user, "DELETE", f"/nodes/pve1/{kind}/{vmid}/snapshot/{snap}",
                       ttype, vmid, rng.randint(1, 20))
        return self.viewer(t, ip, user, tk, cap=6) if rng.random() < 0.4 else t + 2

    def a_rollback(self, t, ip, user):
        rng = self.rng
        have = [v for v in self.q_here + self.ct_here if self.snaps.get(v)]
        if not have:
            return self.a_snapshot(t, ip, user)
        vmid = rng.choice(have)
        snap = rng.choice(self.snaps[vmid])
        kind, ttype = ("lxc", "vzrollback") if vmid in self.ct_here else ("qemu", "qmrollback")
        tk = self.treq(t, ip, user, "POST",
                       f"/nodes/pve1/{kind}/{vmid}/snapshot/{snap}/rollback",
                       ttype, vmid, rng.randint(3, 60))
        return self.viewer(t, ip, user, tk, cap=10)

    def a_destroy(self, t, ip, user):
        rng = self.rng
        made_cts = [c for c in self.ct_here if c not in LXC]
        if made_cts and rng.random() < 0.3:
            return self.destroy_ct(t, ip, user, made_cts[0])
        if self.created and rng.random() < 0.8:
            vmid = self.created[0]
        else:
            vmid = rng.choice([v for v in self.q_here if v not in HA_VMS] or [105])
        path = f"/nodes/pve1/qemu/{vmid}?purge=1&destroy-unreferenced-disks=1"
        msg = self.denied(user, vmid)
        if msg or user == "bob@pve":
            self.reject(t, ip, user, "DELETE", path,
                        f"Permission check failed (/vms/{vmid}, VM.Allocate)", ttype="qmdestroy")
            return t + 2
        if vmid in self.running and rng.random() < 0.6:     # stop it first
            stop = self.treq(t, ip, user, "POST", f"/nodes/pve1/qemu/{vmid}/status/stop",
                             "qmstop", vmid, rng.randint(1, 4))
            self.running.discard(vmid)
            t += stop.dur + rng.randint(3, 10)
        if vmid in self.running:
            tk = self.treq(t, ip, user, "DELETE", path, "qmdestroy", vmid, rng.randint(0, 1),
                           f"VM {vmid} is running - destroy failed")
        else:
            tk = self.treq(t, ip, user, "DELETE", path, "qmdestroy", vmid, rng.randint(2, 20))
            if vmid in self.created:
                self.created.remove(vmid)
                self.q_here.remove(vmid)
            # destroying one of the long-lived VMs: it comes back from backup later
        return self.viewer(t, ip, user, tk, cap=10)

    def destroy_ct(self, t, ip, user, ct):
        rng = self.rng
        path = f"/nodes/pve1/lxc/{ct}?purge=1&force=1"
        if user == "bob@pve":
            self.reject(t, ip, user, "DELETE", path,
                        f"Permission check failed (/vms/{ct}, VM.Allocate)", ttype="vzdestroy")
            return t + 2
        if ct in self.running and rng.random() < 0.5:    # force=1 stops it first, in the task
            self.running.discard(ct)
        if ct in self.running:
            tk = self.treq(t, ip, user, "DELETE", path.replace("&force=1", ""), "vzdestroy", ct,
                           0, f"CT {ct} is running - destroy failed")
        else:
            tk = self.treq(t, ip, user, "DELETE", path, "vzdestroy", ct, rng.randint(1, 10))
            self.ct_here.remove(ct)
            self.running.discard(ct)
        return self.viewer(t, ip, user, tk, cap=8)

    def a_create(self, t, ip, user):
        rng = self.rng
        self.get(t, ip, user, "/api2/json/cluster/nextid", 20, 40)
        self.get(t, ip, user, "/api2/json/nodes/pve1/storage?format=1&content=images", 300, 900)
        t += rng.randint(20, 120)          # the wizard
        vmid = self.next_vmid
        if user == "bob@pve":
            self.reject(t, ip, user, "POST", "/nodes/pve1/qemu",
                        "Permission check failed (/vms/%d, VM.Allocate)" % vmid, ttype="qmcreate")
            return t + 2
        if rng.random() < 0.05:
            self.reject(t, ip, user, "POST", "/nodes/pve1/qemu", "Parameter verification failed.",
                        code=400, ttype="qmcreate",
                        errors={"scsi0": "invalid format - unable to parse drive options"})
            return t + 3
        self.next_vmid += 1
        if rng.random() < 0.12:
            tk = self.treq(t, ip, user, "POST", "/nodes/pve1/qemu", "qmrestore", vmid,
                           rng.randint(60, 600))
        else:
            tk = self.treq(t, ip, user, "POST", "/nodes/pve1/qemu", "qmcreate", vmid,
                           rng.randint(2, 20))
        self.q_here.append(vmid)
        self.created.append(vmid)
        return self.viewer(t, ip, user, tk, cap=15)

    def a_create_ct(self, t, ip, user):
        rng = self.rng
        self.get(t, ip, user, "/api2/json/cluster/nextid", 20, 40)
        t += rng.randint(20, 90)
        ct = self.next_ctid
        if user == "bob@pve":
            self.reject(t, ip, user, "POST", "/nodes/pve1/lxc",
                        f"Permission check failed (/vms/{ct}, VM.Allocate)", ttype="vzcreate")
            return t + 2
        self.next_ctid += 1
        tk = self.treq(t, ip, user, "POST", "/nodes/pve1/lxc", "vzcreate", ct,
                       rng.randint(8, 90))
        self.ct_here.append(ct)
        if rng.random() < 0.2:     # made into a template: the API returns null, a task runs
            t2 = t + tk.dur + rng.randint(20, 60)
            tk2 = self.task(t2, "vztemplate", ct, user, rng.randint(1, 5))
            self.add(t2 + self.lag(), ip, user, "POST",
                     f"/api2/extjs/nodes/pve1/lxc/{ct}/template", 200, self.null_len("extjs"), task=tk2,
                     ttype="vztemplate")
            self.ct_here.remove(ct)
            return t2 + 2
        return self.viewer(t, ip, user, tk, cap=15)

    def a_migrate(self, t, ip, user):
        rng = self.rng
        cands = [v for v in self.q_here if v not in self.created]
        away = [v for v in self.q_pve2 if v not in PVE2_QEMU]
        if away and (rng.random() < 0.6 or len(cands) < 6):
            vmid = away[0]                 # bring it back: pve2 runs that migration
            tk = self.proxied(t, ip, user, "POST", f"/nodes/pve2/qemu/{vmid}/migrate",
                              "qmigrate", vmid, rng.randint(20, 200))
            if tk is not None:
                self.q_pve2.remove(vmid)
                self.q_here.append(vmid)
            return t + 3
        vmid = rng.choice(cands)
        path = f"/nodes/pve1/qemu/{vmid}/migrate"
        self.get(t, ip, user, f"/api2/json/nodes/pve1/qemu/{vmid}/migrate?target=pve2",
                 200, 600)
        t += rng.randint(3, 15)
        msg = self.denied(user, vmid)
        if msg or user == "bob@pve":
            self.reject(t, ip, user, "POST", path,
                        f"Permission check failed (/vms/{vmid}, VM.Migrate)", ttype="qmigrate")
            return t + 2
        if vmid in HA_VMS:
            tk = self.treq(t, ip, user, "POST", path, "hamigrate", vmid, rng.randint(0, 1))
            self.task(t + rng.randint(3, 12), "qmigrate", vmid, "root@pam",
                      rng.randint(20, 200), why="ha", note="HA LRM after hamigrate").parent = tk
        else:
            status = "OK" if rng.random() < 0.94 else "migration aborted"
            tk = self.treq(t, ip, user, "POST", path, "qmigrate", vmid,
                           rng.randint(15, 300), status)
            if status != "OK":
                return self.viewer(t, ip, user, tk, cap=10)
        self.q_here.remove(vmid)
        self.q_pve2.append(vmid)
        return self.viewer(t, ip, user, tk, cap=10)

    def a_vzdump(self, t, ip, user):
        rng = self.rng
        path = "/nodes/pve1/vzdump"
        if rng.random() < 0.85:
            vmid = rng.choice(self.q_here + self.ct_here)
            tid = vmid
        else:
            vmid, tid = None, ""          # several guests ("Run now" of a job): empty id
        msg = self.denied(user, vmid)
        if msg:
            self.reject(t, ip, user, "POST", path, msg.replace("PowerMgmt", "Backup"),
                        ttype="vzdump")
            return t + 2
        status = rng.choices(["OK", "WARNINGS: 1", "job errors"], [90, 6, 4])[0]
        d = rng.randint(60, 900) if tid != "" else rng.randint(600, 3000)
        tk = self.treq(t, ip, user, "POST", path, "vzdump", tid, d, status)
        self.session_long.append(tk)
        return self.viewer(t, ip, user, tk, cap=15)

    # ---- consoles (pve-sources.md §5)

    def vnc_console(self, t, ip, user, api, vmid=None, dur=60, comes=True, twin=False,
                    after=None):
        """A noVNC or xterm.js console whose POST arrives at t. api: qemu-vncproxy,
        lxc-termproxy, node-termproxy, node-vncshell. The handler assembles the ticket, forks
        the worker (task vncproxy, id vmid; vncshell, empty id) and answers once the port
        listens (PVE::Tools::wait_for_vnc_port); the page then opens the websocket, logged at the
        101. No client within 10 s: the worker gives up (`connection timed out` for QEMU's
        vncproxy; termproxy exits 1, so run_command's error; vncshell's vncterm error is caught
        and the task ends OK). Inferred, not read: termproxy's own 10 s wait for the client
        (pve-xtermjs is not mirrored here) and so the text of its timeout."""
        rng = self.rng
        guest, call = api.split("-")
        if guest == "node":
            path, ws = f"/nodes/{NODE}/{call}", f"/api2/json/nodes/{NODE}/vncwebsocket"
            ttype, tid, kind = "vncshell", "", "shell"
        else:
            path = f"/nodes/{NODE}/{guest}/{vmid}/{call}"
            ws = f"/api2/json/nodes/{NODE}/{guest}/{vmid}/vncwebsocket"
            ttype, tid, kind = "vncproxy", vmid, ("vnc" if call == "vncproxy" else "term")
        start = t + (1 if rng.random() < 0.05 else 0)     # the ticket's second, then the fork
        post_t = start + self.lag()
        if after is not None:     # a double click's second window: forked and answered after
            start = after.start
            post_t = max(post_t, after.line.t)
        port = 5900 + rng.randint(0, 20)
        if comes:
            conn_t = post_t + rng.randint(0, 2)
            d = max(dur, conn_t - start + 1)
            status = "OK"
            if call == "vncproxy" and rng.random() < 0.04:
                status = "Failed to run vncproxy."
        else:
            d = VNC_TIMEOUT
            if call == "vncproxy":
                status = "connection timed out"
            elif call == "termproxy":
                shcmd = (f"/usr/bin/dtach -A /var/run/dtach/vzctlconsole{vmid} -r winch -z "
                         f"lxc-console -n {vmid} -e -1" if guest == "lxc" else
                         "/bin/login -f root" if user == "root@pam" else "/bin/login")
                perm = "Sys.Console" if guest == "node" else "VM.Console"
                where = f"/nodes/{NODE}" if guest == "node" else f"/vms/{vmid}"
                status = (f"command '/usr/bin/termproxy {port} --path {where} --perm {perm} "
                          f"--vncticket-endpoint --verify-port --ticket-fd 11 -- {shcmd}' "
                          f"failed: exit code 1")
            else:
                status = "OK"
        tk = self.task(start, ttype, tid, user, d, status)
        post = self.add(post_t, ip, user, "POST", f"/api2/json{path}", 200,
                        lambda tk=tk: rng_len(tk), task=tk, ttype=ttype)
        conn = None
        if comes:
            ticket = vnc_ticket(rng, t, password=call in ("vncproxy", "vncshell"))
            conn = self.add(conn_t, ip, user, "GET", f"{ws}?port={port}&vncticket={ticket}",
                            101, "-")
        self.consoles.append(Console(kind, user, ip, None if guest == "node" else vmid, post,
                                     conn, tk, twin))
        self.session_long.append(tk)
        return tk

    def spice_console(self, t, ip, user, guest, vmid=None, comes=True):
        """SPICE (remote-viewer with the downloaded .vv file). guest: qemu (proxied to the VM's
        node, no task; the ticket is the VM's SPICE password for 30 s), lxc (spiceproxy task,
        id vmid) or None (node shell, spiceshell task): both run spiceterm, which waits 40 s
        for the viewer and whose failures are caught (the task ends OK). spiceproxy logs one
        `CONNECT <proxyticket>:<port>` (user `-`) per SPICE channel, main first: each channel
        is its own TCP connection through the proxy (pve-http-server AnyEvent.pm
        handle_spice_proxy_request logs each at its 200; that remote-viewer opens 4-7 channels
        is from spice-gtk's design, inferred, not read here)."""
        rng = self.rng
        if guest is None:
            path, ttype, tid, tv, kind = f"/nodes/{NODE}/spiceshell", "spiceshell", "", 0, "shell"
        else:
            path = f"/nodes/{NODE}/{guest}/{vmid}/spiceproxy"
            ttype, tid, tv, kind = (None if guest == "qemu" else "spiceproxy"), vmid, vmid, "spice"
        if guest == "qemu":
            port = SPICE_PORT0 + (QEMU.index(vmid) if vmid in QEMU else vmid % 100)
        else:
            port = SPICE_PORT0 + rng.randint(0, 99)
        post_t = t + self.lag()
        conn_t = post_t + rng.randint(2, 20) if comes else None
        tk = None
        if ttype is None:
            post = self.add(post_t, ip, user, "POST", f"/api2/extjs{path}", 200,
                            rng.randint(1100, 1300), why="no-task-endpoint")
        else:
            d = (conn_t - t + rng.randint(30, 1800)) if comes else SPICE_TIMEOUT
            tk = self.task(t, ttype, tid, user, d, "OK")
            post = self.add(post_t, ip, user, "POST", f"/api2/extjs{path}", 200,
                            rng.randint(1100, 1300), task=tk, ttype=ttype)
            self.session_long.append(tk)
        conn = None
        if comes:
            target = spice_proxyticket(rng, t, tv, port)
            conn = self.add(conn_t, ip, "-", "CONNECT", target, 200, "-")
            for _ in range(rng.randint(3, 6)):        # display, inputs, cursor, playback, …
                self.add(conn_t + rng.randint(0, 2), ip, "-", "CONNECT", target, 200, "-")
        self.consoles.append(Console(kind, user, ip, None if guest is None else vmid, post,
                                     conn, tk))
        return tk

    def a_console(self, t, ip, user):
        rng = self.rng
        lxc = rng.random() < 0.2
        vmid = rng.choice(self.ct_here if lxc else self.q_here)
        if lxc:
            page = f"/?console=lxc&xtermjs=1&vmid={vmid}&vmname=ct{vmid}&node=pve1&cmd="
            post = f"/nodes/pve1/lxc/{vmid}/termproxy"
        else:
            name = GAL.VM_NAMES.get(vmid, f"vm{vmid}")
            page = f"/?console=kvm&novnc=1&vmid={vmid}&vmname={name}&node=pve1&resize=off&cmd="
            post = f"/nodes/pve1/qemu/{vmid}/vncproxy"
        twin = not lxc and rng.random() < 0.03       # a double click: two console windows
        for _ in range(2 if twin else 1):
            if ip != VIA_PVE2:
                self.add(t, ip, "-", "GET", page, 200, rng.randint(2400, 2600))
                for static in ("/novnc/app.js?ver=1.4.0-3", "/xtermjs/xterm.js?ver=4.16.0-3"):
                    if rng.random() < 0.5:
                        self.add(t, ip, "-", "GET", static, 304, "-")
        t += 1
        msg = self.denied(user, vmid)
        if msg:
            self.reject(t, ip, user, "POST", post, msg.replace("PowerMgmt", "Console"),
                        code=403, fmt="json", ttype="vncproxy")
            return t + 2
        comes = rng.random() >= 0.06      # else the window was closed at once: no client
        api = "lxc-termproxy" if lxc else "qemu-vncproxy"
        first = self.vnc_console(t, ip, user, api, vmid, rng.randint(20, 1800), comes, twin)
        if twin:
            self.vnc_console(t, ip, user, api, vmid, rng.randint(20, 1800), True, twin, first)
        return t + 3

    def a_two_consoles(self, t, ip, user):
        """Consoles of two guests open side by side (the same user, the same client)."""
        rng = self.rng
        pool = [v for v in self.q_here if not self.denied(user, v)]
        if len(pool) < 2:
            return self.a_console(t, ip, user)
        a, b = rng.sample(pool, 2)
        self.vnc_console(t, ip, user, "qemu-vncproxy", a, rng.randint(300, 3600))
        self.vnc_console(t + rng.randint(0, 3), ip, user, "qemu-vncproxy", b,
                         rng.randint(60, 1800))
        return t + 5

    def a_shell(self, t, ip, user):
        rng = self.rng
        novnc = rng.random() < 0.3           # the noVNC shell (vncshell) instead of xterm.js
        call = "vncshell" if novnc else "termproxy"
        if ip != VIA_PVE2:
            page = ("/?console=shell&novnc=1&node=pve1&resize=off&cmd=" if novnc else
                    "/?console=shell&xtermjs=1&vmid=0&vmname=&node=pve1&cmd=")
            self.add(t, ip, "-", "GET", page, 200, rng.randint(2400, 2600))
        t += 1
        msg = self.denied(user, node_priv="Sys.Console")
        if msg:
            self.reject(t, ip, user, "POST", f"/nodes/pve1/{call}", msg, fmt="json",
                        ttype="vncshell")
            return t + 2
        self.vnc_console(t, ip, user, f"node-{call}", None, rng.randint(30, 2400),
                         rng.random() >= 0.05)
        return t + 3

    def a_service(self, t, ip, user):
        rng = self.rng
        svc = GAL.weighted(rng, SERVICES)[0]
        verb = rng.choices(["restart", "reload", "start", "stop"], [8, 2, 1, 0.5])[0]
        path = f"/nodes/pve1/services/{svc}/{verb}"
        ttype = {"restart": "srvrestart", "reload": "srvreload", "start": "srvstart",
                 "stop": "srvstop"}[verb]
        msg = self.denied(user, node_priv="Sys.Modify")
        if msg:
            self.reject(t, ip, user, "POST", path, msg, ttype=ttype)
            return t + 2
        tk = self.treq(t, ip, user, "POST", path, ttype, svc, rng.randint(1, 6))
        return self.viewer(t, ip, user, tk, cap=5)

    def a_aptupdate(self, t, ip, user):
        rng = self.rng
        path = "/nodes/pve1/apt/update"
        msg = self.denied(user, node_priv="Sys.Modify")
        if msg:
            self.reject(t, ip, user, "POST", path, msg, ttype="aptupdate")
            return t + 2
        status = "OK" if rng.random() < 0.9 else "command 'apt-get update' failed: exit code 100"
        tk = self.treq(t, ip, user, "POST", path, "aptupdate", "", rng.randint(4, 40), status)
        t = self.viewer(t, ip, user, tk, cap=20)
        self.get(t + 1, ip, user, "/api2/json/nodes/pve1/apt/update", 300, 6000)
        return t + 2

    def a_misc(self, t, ip, user):
        """Writes that never start a task."""
        rng = self.rng
        vmid = rng.choice(self.q_here)
        choices = [
            ("PUT", "/access/acl", 3), ("POST", "/access/users", 1),
            ("PUT", "/access/users/bob%40pve", 1), ("PUT", "/cluster/options", 1),
            ("POST", f"/nodes/pve1/qemu/{vmid}/firewall/rules", 2),
            ("PUT", f"/nodes/pve1/qemu/{vmid}/firewall/options", 1),
            ("POST", "/pools", 0.5), ("PUT", "/nodes/pve1/dns", 0.3),
            ("DELETE", f"/nodes/pve1/qemu/{vmid}/firewall/rules/0", 1),
            ("DELETE", "/access/tfa/alice%40pve/totp1?password=Winter2026%21", 0.2),
            ("POST", f"/nodes/pve1/qemu/{vmid}/agent/ping", 0.5),
            ("PUT", f"/nodes/pve1/qemu/{vmid}/sendkey", 0.5),
        ]
        method, path, _ = GAL.weighted(rng, choices)
        if user != "root@pam" and path.startswith(("/access", "/cluster", "/pools", "/nodes/pve1/dns")):
            where = ("/access" if path.startswith("/access/acl") else "/access/groups"
                     if path.startswith("/access/users") else "/pool" if path == "/pools"
                     else "/nodes/pve1" if path.startswith("/nodes") else "/")
            priv = {"/access": "Permissions.Modify", "/access/groups": "User.Modify",
                    "/pool": "Pool.Allocate", "/nodes/pve1": "Sys.Modify", "/": "Sys.Modify"}
            self.notask(t, ip, user, method, path,
                        error=(403, f"Permission check failed ({where}, {priv[where]})\n"))
        elif path.endswith(("/agent/ping", "/sendkey")) and vmid not in self.running:
            self.notask(t, ip, user, method, path, error=(500, f"VM {vmid} not running\n"))
        elif path.endswith("/agent/ping"):
            if rng.random() < 0.3:
                self.notask(t, ip, user, method, path,
                            error=(500, "QEMU guest agent is not running\n"))
            else:                # returns an object: {"result": {}}
                self.notask(t, ip, user, method, path, data={"result": {}})
        elif method == "POST" and path == "/pools" and rng.random() < 0.3:
            self.notask(t, ip, user, method, path, error=(500, "pool 'dev' already exists\n"))
        else:
            self.notask(t, ip, user, method, path)
        return t + 2

    def a_resize(self, t, ip, user):
        rng = self.rng
        vmid = rng.choice(self.q_here)
        path = f"/nodes/pve1/qemu/{vmid}/resize"
        msg = self.denied(user, vmid)
        if msg:
            self.reject(t, ip, user, "PUT", path, msg.replace("PowerMgmt", "Config.Disk"),
                        ttype="resize")
            return t + 2
        self.treq(t, ip, user, "PUT", path, "resize", vmid, rng.randint(1, 5))
        return t + 3

    def a_spice(self, t, ip, user):
        rng = self.rng
        kind = rng.choices(["qemu", "lxc", "shell"], [6, 3, 1.5])[0]
        running = [c for c in self.ct_here if c in self.running and not self.denied(user, c)]
        if kind == "lxc" and not running:
            kind = "qemu"
        comes = rng.random() >= 0.1          # else the .vv file was never opened
        if kind == "shell":
            msg = self.denied(user, node_priv="Sys.Console")
            if msg:
                self.reject(t, ip, user, "POST", "/nodes/pve1/spiceshell", msg,
                            ttype="spiceshell")
                return t + 2
            self.spice_console(t, ip, user, None, None, comes)
        elif kind == "lxc":
            self.spice_console(t, ip, user, "lxc", rng.choice(running), comes)
        else:
            # an object of ~2.5 KiB (the .vv settings): gzip-compressed, the length tells nothing
            self.spice_console(t, ip, user, "qemu", rng.choice(self.q_here), comes)
        return t + 2

    def a_stoptask(self, t, ip, user):
        """Stop one of this session's running long tasks from the GUI."""
        live = [tk for tk in self.session_long if tk.user == user and tk.start < t < tk.exit
                and tk.node == NODE]
        if not live:
            return self.a_console(t, ip, user)
        tk = live[-1]
        self.add(t + self.lag(), ip, user, "DELETE",
                 lambda tk=tk: f"/api2/extjs/nodes/pve1/tasks/{enc(tk.upid())}", 200,
                 self.null_len("extjs"), why="no-task-endpoint", ref=tk, outcome="success")
        tk.exit = t + self.rng.randint(0, 2)
        tk.dur = tk.exit - tk.start
        tk.status = "received interrupt"
        return t + 2

    def a_pve2(self, t, ip, user):
        """Actions on pve2's guests: pve1 logs them, pve2 runs the task."""
        rng = self.rng
        r = rng.random()
        if r < 0.7:
            vmid = rng.choice(self.q_pve2)
            verb = rng.choice(["start", "shutdown", "stop", "reboot"])
            ttype = {"start": "qmstart", "shutdown": "qmshutdown", "stop": "qmstop",
                     "reboot": "qmreboot"}[verb]
            tk = self.proxied(t, ip, user, "POST", f"/nodes/pve2/qemu/{vmid}/status/{verb}",
                              ttype, vmid, rng.randint(1, 40))
        elif r < 0.8:
            ct = rng.choice(PVE2_LXC)
            tk = self.proxied(t, ip, user, "POST", f"/nodes/pve2/lxc/{ct}/status/start",
                              "vzstart", ct, rng.randint(1, 5))
        elif r < 0.9:
            vmid = rng.choice(self.q_pve2)
            tk = self.proxied(t, ip, user, "POST", f"/nodes/pve2/qemu/{vmid}/snapshot",
                              "qmsnapshot", vmid, rng.randint(2, 30))
        else:
            back = [v for v in self.q_pve2 if v not in PVE2_QEMU]
            vmid = rng.choice(back or self.q_pve2)
            tk = self.proxied(t, ip, user, "POST", f"/nodes/pve2/qemu/{vmid}/migrate",
                              "qmigrate", vmid, rng.randint(20, 200))
            if tk is not None and vmid not in PVE2_QEMU:
                self.q_pve2.remove(vmid)
                self.q_here.append(vmid)
        if tk is not None and rng.random() < 0.3:
            return self.viewer(t, ip, user, tk, cap=6, node="pve2")
        return t + 2

    # ---- API token scenarios

    def ci_run(self, t):
        """A CI pipeline: clone the template, configure, start, test, stop, destroy."""
        rng = self.rng
        ip, user = CI_IP, CI_USER
        n = self.next_ci
        self.next_ci += 1
        self.get(t, ip, user, "/api2/json/version", 80, 120)
        t += 1
        clone = f"/nodes/pve1/qemu/{TEMPLATE}/clone?newid={n}&name=ci-{n}&full=1"
        if rng.random() < 0.03:
            self.reject(t, ip, user, "POST", clone,
                        f"Permission check failed (/vms/{n}, VM.Allocate)", fmt="json",
                        ttype="qmclone")
            return
        tk = self.treq(t, ip, user, "POST", clone, "qmclone", TEMPLATE, rng.randint(25, 150),
                       fmt="json")

        def wait(tk, t, every=2):
            return self.viewer(t, ip, user, tk, raw=True, every=every, cap=40) + 1

        t = wait(tk, t)
        if rng.random() < 0.3:      # async config with background_delay=30
            d = rng.randint(2, 60)
            tk = self.treq(t, ip, user, "POST", f"/nodes/pve1/qemu/{n}/config", "qmconfig", n,
                           d, fmt="json", bg=30)
            t += min(d, 30) + 2
        else:
            self.notask(t, ip, user, "PUT", f"/nodes/pve1/qemu/{n}/config", fmt="json")
            t += 2
        if rng.random() < 0.015:
            self.add(t + 1, ip, user, "POST", f"/api2/json/nodes/pve1/qemu/{n}/status/start",
                     500, len(body_err("json", 500, f"VM {n} is locked (clone)\n")),
                     why="rejected", ttype="qmstart")
            t += 5
        tk = self.treq(t, ip, user, "POST", f"/nodes/pve1/qemu/{n}/status/start", "qmstart", n,
                       rng.randint(1, 6), fmt="json")
        t = wait(tk, t)
        for _ in range(rng.randint(3, 12)):
            t += 5
            if rng.random() < 0.4:
                self.add(t, ip, user, "GET",
                         f"/api2/json/nodes/pve1/qemu/{n}/agent/network-get-interfaces",
                         500, rng.randint(40, 80))
            else:
                self.get(t, ip, user,
                         f"/api2/json/nodes/pve1/qemu/{n}/agent/network-get-interfaces",
                         400, 1500)
        t += rng.randint(10, 300)    # the tests run
        if rng.random() < 0.2:
            tk = self.treq(t, ip, user, "POST",
                           f"/nodes/pve1/qemu/{n}/snapshot?snapname=pre-deploy-{n}"
                           f"&description=CI+run+%23{n}", "qmsnapshot", n, rng.randint(2, 20),
                           fmt="json")
            t = wait(tk, t)
        if rng.random() < 0.02:      # pipeline bug: also pokes a pve2 guest
            self.proxied(t, ip, user, "POST", f"/nodes/pve2/qemu/{PVE2_QEMU[0]}/status/start",
                         "qmstart", PVE2_QEMU[0], rng.randint(1, 6), fmt="json")
            t += 3
        destroy = f"/nodes/pve1/qemu/{n}?purge=1&destroy-unreferenced-disks=1"
        if rng.random() < 0.03:      # forgot to stop it first
            tk = self.treq(t, ip, user, "DELETE", destroy, "qmdestroy", n, 0,
                           f"VM {n} is running - destroy failed", fmt="json")
            t = wait(tk, t)
        if rng.random() < 0.02:
            self.reject(t, ip, user, "POST", f"/nodes/pve1/qemu/{n}/status/stop",
                        f"Permission check failed (/vms/{n}, VM.PowerMgmt)", fmt="json",
                        ttype="qmstop")
            return
        tk = self.treq(t, ip, user, "POST", f"/nodes/pve1/qemu/{n}/status/stop", "qmstop", n,
                       rng.randint(1, 4), fmt="json")
        t = wait(tk, t)
        tk = self.treq(t, ip, user, "DELETE", destroy, "qmdestroy", n, rng.randint(2, 15),
                       fmt="json")
        wait(tk, t)

    def script_run(self, t):
        """A playbook that logs in with a user's password (POST /api2/json/access/ticket, as
        API clients do), reads, changes one guest and stops: each run is a new ticket, and the
        previous run's, still valid, is abandoned (the contract's "new login")."""
        rng = self.rng
        ip, user = SCRIPT_IP, SCRIPT_USER
        ui = UISession(ip, user)
        self.uis.append(ui)
        self.cur_ui = ui
        ui.login = self.add(t, ip, "-", "POST", "/api2/json/access/ticket", 200,
                            rng.randint(600, 900), why="no-task-endpoint")
        t += 1
        self.get(t, ip, user, "/api2/json/version", 80, 120)
        self.get(t + 1, ip, user, "/api2/json/cluster/resources?type=vm", 2000, 8000)
        vmid = rng.choice(self.q_here)
        for i in range(rng.randint(1, 4)):
            self.get(t + 2 + i, ip, user, f"/api2/json/nodes/pve1/qemu/{vmid}/config", 600, 1500)
        t += 6
        if rng.random() < 0.6:
            self.notask(t, ip, user, "PUT", f"/nodes/pve1/qemu/{vmid}/config", fmt="json")
        else:
            tk = self.treq(t, ip, user, "POST", f"/nodes/pve1/qemu/{vmid}/snapshot", "qmsnapshot",
                           vmid, rng.randint(2, 20), fmt="json")
            self.viewer(t, ip, user, tk, raw=True, every=2, cap=10)
        self.cur_ui = None

    def monitor(self, t):
        self.get(t, MON_IP, MON_USER, "/api2/json/cluster/resources?type=vm", 2000, 8000)
        self.get(t + self.rng.randint(0, 1), MON_IP, MON_USER, "/api2/json/nodes/pve1/status",
                 700, 950)

    # ---- tasks without a request

    def cli(self, t):
        """root on a shell: qm/pct/vzdump run handlers in-process, as root@pam."""
        rng = self.rng
        self.cli_n += 1
        r = (self.cli_n % 5) / 5 + 0.01       # each kind in turn: all show in a default run
        if r < 0.2:
            vmid = rng.choice(self.q_here)
            self.task(t, "qmsnapshot", vmid, "root@pam", rng.randint(2, 30), why="cli",
                      note=f"qm snapshot {vmid}")
        elif r < 0.4:
            vmid = rng.choice(HA_VMS)
            tk = self.task(t, "hastart", vmid, "root@pam", rng.randint(0, 1), why="cli",
                           note=f"qm start {vmid} (HA-managed)")
            self.task(t + rng.randint(4, 14), "qmstart", vmid, "root@pam", rng.randint(2, 10),
                      why="ha", note="HA LRM after hastart").parent = tk
        elif r < 0.6:
            vmid = rng.choice(self.q_here)
            self.task(t, "vzdump", vmid, "root@pam", rng.randint(60, 900),
                      rng.choices(["OK", "WARNINGS: 1"], [9, 1])[0], why="cli",
                      note=f"vzdump {vmid}")
        elif r < 0.8:
            ct = rng.choice(self.ct_here)
            self.task(t, "vzstart", ct, "root@pam", rng.randint(1, 5),
                      rng.choices(["OK", f"CT {ct} already running"], [3, 1])[0], why="cli",
                      note=f"pct start {ct}")
        else:
            vmid = rng.choice(self.q_here)
            self.task(t, "qmmove", vmid, "root@pam", rng.randint(20, 400), why="cli",
                      note=f"qm disk move {vmid} scsi0 local-lvm")

    def scheduled(self, day0):
        rng = self.rng
        # backup job at 01:00: several guests, so an empty id
        t = day0 + 3600 + rng.randint(0, 30)
        status = rng.choices(["OK", "WARNINGS: 1", "job errors"], [6, 3, 1])[0]
        self.task(t, "vzdump", "", "root@pam", rng.randint(1800, 5400), status,
                  why="scheduler", note="backup job (pvescheduler)")
        # a second job for a single guest: its vmid is the id
        t = day0 + 2 * 3600 + 30 * 60 + rng.randint(0, 30)
        self.task(t, "vzdump", 120, "root@pam", rng.randint(300, 1200), why="scheduler",
                  note="backup job (pvescheduler), one guest")
        # pve-daily-update: pveupdate refreshes the package lists
        t = day0 + 4 * 3600 + rng.randint(0, 3 * 3600)
        self.task(t, "aptupdate", "", "root@pam", rng.randint(5, 40), why="scheduler",
                  note="pveupdate (pve-daily-update.timer)")

    def do_reboot(self, t):
        """root reboots pve1 from the GUI: stopall, down, boot, startall, HA starts."""
        rng = self.rng
        # left running over the reboot: killed without a TASK line, "unexpected status"
        # (GUIs whose login is older than what they do here: their own clients, so that
        # their sessions are not mixed with the generated ones)
        ip, user = "::ffff:192.168.10.33", "alice@pve"
        tc = t - 1500
        self.cur_ui = self.ui_without_login(ip, user)
        self.vnc_console(tc, ip, user, "lxc-termproxy", 201, 7200)
        self.task(t - 400, "qmmove", 102, "root@pam", 1200, why="cli",
                  note="qm disk move 102 scsi1 ceph-vm")
        ip, user = "::ffff:192.168.10.24", "root@pam"
        self.cur_ui = self.ui_without_login(ip, user)
        self.add(t + self.lag(), ip, user, "POST", "/api2/extjs/nodes/pve1/status", 200,
                 self.null_len("extjs"), why="no-task-endpoint", outcome="success")
        self.cur_ui = None
        ts = t + 3
        self.task(ts, "stopall", "", "root@pam", 40, why="cli",
                  note="pve-guests.service stop: pvesh create /nodes/localhost/stopall")
        for i, vmid in enumerate(sorted(v for v in self.running if v not in HA_VMS)):
            kind = "vzshutdown" if vmid in LXC or vmid in self.ct_here else "qmshutdown"
            self.task(ts + 1 + i, kind, vmid, "root@pam", rng.randint(3, 30), why="cli",
                      note="stopall")
        for vmid in HA_VMS:
            self.task(ts + 2, "qmshutdown", vmid, "root@pam", rng.randint(3, 20), why="ha",
                      note="HA LRM stops its services on reboot")
        down = ts + 60
        boot = down + 70
        up = boot + 35                            # pveproxy writes lines again
        self.reboot = (t, down, boot, up)
        self.task(boot + 25, "startall", "", "root@pam", 30, why="cli",
                  note="pve-guests.service: pvesh create /nodes/localhost/startall")
        for i, vmid in enumerate(ONBOOT):
            kind = "vzstart" if vmid in LXC else "qmstart"
            self.task(boot + 26 + 3 * i, kind, vmid, "root@pam", rng.randint(1, 5), why="cli",
                      note="startall (onboot)")
        for i, vmid in enumerate(HA_VMS):
            self.task(boot + 40 + i, "qmstart", vmid, "root@pam", rng.randint(2, 8), why="ha",
                      note="HA LRM after boot")
        self.running = set(ONBOOT) | set(HA_VMS)

    def ui_without_login(self, ip, user) -> UISession:
        ui = UISession(ip, user)
        self.uis.append(ui)
        return ui

    def endgame(self, tc):
        """The last minutes: tasks still running when the files are copied.

        Always ENDGAME_LINES lines, so the background can be cut to N minus that."""
        rng = self.rng
        n0 = len(self.lines)
        ip, user = "::ffff:192.168.10.34", "alice@pve"        # a console left open
        self.cur_ui = self.ui_without_login(ip, user)
        t = tc - 520
        self.add(t, ip, "-", "GET", "/?console=kvm&novnc=1&vmid=103&vmname=ci-runner&node=pve1"
                 "&resize=off&cmd=", 200, rng.randint(2400, 2600))
        self.vnc_console(t + 1, ip, user, "qemu-vncproxy", 103, 7200)
        ip, user = "::ffff:192.168.10.26", "root@pam"          # a GUI backup, 40 min
        self.cur_ui = self.ui_without_login(ip, user)
        tk = self.treq(tc - 300, ip, user, "POST", "/nodes/pve1/vzdump", "vzdump", 120, 2400)
        for i in range(10):
            self.get(tc - 299 + i, ip, user,
                     lambda tk=tk: f"/api2/json/nodes/pve1/tasks/{enc(tk.upid())}/status",
                     0, 0, ref=tk, length=lambda tk=tk, at=tc - 299 + i: status_len(tk, at))
        self.task(tc - 200, "vzdump", 104, "root@pam", 3000, why="cli", note="vzdump 104")
        n = self.next_ci                                       # a CI clone, 400 s
        tk = self.treq(tc - 40, CI_IP, CI_USER, "POST",
                       f"/nodes/pve1/qemu/{TEMPLATE}/clone?newid={n}&name=ci-{n}&full=1",
                       "qmclone", TEMPLATE, 400, fmt="json")
        for i in range(19):
            self.get(tc - 39 + 2 * i, CI_IP, CI_USER,
                     lambda tk=tk: f"/api2/json/nodes/pve1/tasks/{tk.upid()}/status",
                     0, 0, ref=tk, length=lambda tk=tk, at=tc - 39 + 2 * i: status_len(tk, at))
        self.treq(tc - 8, ip, user, "POST", "/nodes/pve1/qemu/101/status/reboot", "qmreboot",
                  101, 45)
        self.cur_ui = None
        assert len(self.lines) - n0 == ENDGAME_LINES


ENDGAME_LINES = 35


def status_len(tk, at) -> int:
    """GET .../tasks/{upid}/status (pve-manager PVE/API2/Tasks.pm read_task_status): the
    decoded UPID plus `upid`, `status` (running/stopped) and, once stopped, `exitstatus`; a
    token's UPID user is split into `user` and `tokenid`. Numbers are JSON numbers."""
    data = {"id": tk.id, "node": tk.node, "pid": tk.pid, "pstart": tk.pstart,
            "starttime": tk.start, "type": tk.type, "upid": tk.upid(), "user": tk.user}
    if "!" in tk.user:
        data["user"], data["tokenid"] = tk.user.split("!", 1)
    if at < tk.exit:
        data["status"] = "running"
    else:
        data["status"] = "stopped"
        data["exitstatus"] = tk.status
    return len(body_ok("json", data))


def rng_len(tk) -> int:
    """Length of a vncproxy/termproxy response: cert, port, ticket, upid, user."""
    base = 1620 if tk.type == "vncproxy" else 460
    return base + len(tk.upid()) + (len(tk.user) - 8) + (tk.start % 7)


# --------------------------------------------------------------------------- planning

HOUR_WEIGHTS_UI = [0.15, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 1, 3, 4, 4, 3.5, 2, 3, 4, 4, 3.5,
                   2.5, 1.5, 1, 0.8, 0.6, 0.4, 0.25]
HOUR_WEIGHTS_CI = [0.5, 0.3, 1.5, 0.3, 0.2, 0.2, 0.3, 1, 2, 3, 3, 3, 2, 3, 3, 3, 3, 2.5, 2, 1,
                   0.8, 0.6, 0.5, 0.5]


def span_days(n: int) -> int:
    return max(SPAN_DAYS, -(-n // 25000))


def draw_time(rng, weights, days=SPAN_DAYS) -> int:
    day = rng.randrange(days)
    hour = rng.choices(range(24), weights)[0]
    local = day * DAY + hour * 3600 + rng.randrange(3600)
    return LOG_START + local


def plan(w: World, budget: int):
    """Scenario specs (time, kind, args) whose expected lines add up to ~1.3 x budget."""
    rng = w.rng
    days = span_days(w.n)
    specs = []
    expected = 0.0
    mon_lines = budget * 0.05
    mon_every = max(60, int(days * DAY / max(1.0, mon_lines / 2)))
    for t in range(LOG_START + rng.randint(0, mon_every), LOG_START + days * DAY,
                   mon_every):
        specs.append((t, 1, "monitor", None))
        expected += 2
    for d in range(days):
        specs.append((LOG_START + d * DAY, 2, "scheduled", None))
        # the playbook's morning runs, every 25-50 minutes
        t = LOG_START + d * DAY + 9 * 3600 - TZ_SECONDS + rng.randint(0, 600)
        for _ in range(rng.randint(2, 5)):
            specs.append((t, 6, "script", None))
            expected += 15
            t += rng.randint(25, 50) * 60
    specs.append((LOG_START + DAY + 6 * 3600 + 12 * 60 + rng.randint(0, 59), 0, "reboot", None))
    while expected < budget * 1.12:
        r = rng.random()
        if r < 0.80:
            specs.append((draw_time(rng, HOUR_WEIGHTS_CI, days), 3, "ci", None))
            expected += 60
        elif r < 0.85:
            specs.append((draw_time(rng, HOUR_WEIGHTS_UI, days), 4, "cli", None))
        else:
            session = GAL.weighted(rng, UI_SESSIONS)[0]
            minutes = rng.choice([3, 5, 8, 10, 15, 20, 30, 45, 60])
            if rng.random() < 0.04:      # a GUI left open all morning: renewals, over 2 h
                minutes = rng.choice([130, 150, 180, 240])
            specs.append((draw_time(rng, HOUR_WEIGHTS_UI, days), 5, "ui", (session, minutes)))
            per_min = 35 if session[0] != VIA_PVE2 else 15
            expected += minutes * per_min + 12
    specs.sort(key=lambda s: (s[0], s[1]))
    return specs


def run_specs(w: World, specs):
    busy = {}                 # a client's browser session in progress: the next one waits
    for t, _, kind, arg in specs:
        if kind == "monitor":
            w.monitor(t)
        elif kind == "scheduled":
            w.scheduled(t)
        elif kind == "reboot":
            w.do_reboot(t)
        elif kind == "ci":
            w.ci_run(t)
        elif kind == "cli":
            w.cli(t)
        elif kind == "script":
            w.script_run(t)
        else:
            (ip, user), minutes = arg
            if t < busy.get(ip, t):
                t = busy[ip] + 60 + t % 900
            w.session_long = []
            busy[ip] = w.ui_session(t, ip, user, minutes) + 5


# --------------------------------------------------------------------------- task files

def assign_pids(w: World, tasks):
    """pids in start order (wrapping at pid_max), pstart from each boot's uptime."""
    rng = w.rng
    _, down, boot, _ = w.reboot
    boot1 = LOG_START - (2 ** 32 // HZ - int(10.5 * 3600)) + 0.37   # uptime passes 497 days
    boot2 = boot + 0.81
    pid = PID_MAX - 40000 + rng.randint(0, 9999)
    last = None
    rebooted = False
    for tk in sorted(tasks, key=lambda x: (x.start, x.seq)):
        if not rebooted and tk.start >= boot:
            rebooted = True
            pid = 1100 + rng.randint(0, 200)
            last = None
        twin = tk.frac == -1.0
        if twin:
            pid += rng.randint(1, 3)
            tk.frac = min(0.99, last.frac + 0.01 * rng.randint(1, 4))
        else:
            gap = tk.start - last.start if last is not None else 0
            pid += 1 + rng.randint(0, 40) + min(gap, 60000) // 3
            tk.frac = rng.randint(0, 89) / 100.0
        if pid >= PID_MAX - 4 and not twin:      # wrap (never between double-click twins)
            pid = 300 + pid % PID_MAX
        tk.pid = pid
        b = boot2 if rebooted else boot1
        tk.pstart = int(round((tk.start + tk.frac - b) * HZ))
        last = tk
    for i, tk in enumerate(sorted(w.remote, key=lambda x: (x.start, x.seq))):
        tk.pid = 0x2000 + 37 * i + rng.randint(0, 30)
        tk.pstart = int((tk.start - (LOG_START - 40 * DAY)) * HZ) + rng.randint(0, 99)


def simulate_calls(w: World, tasks, snap: int):
    """Run active_workers at every start, reap and pvestatd tick; return the appends."""
    _, down, boot, _ = w.reboot
    events = []
    phase1, phase2 = 7, (boot + 20) % 10
    for tk in tasks:
        events.append((tk.start, 0, tk.seq, tk))
        if tk.immediate:
            events.append((tk.exit, 1, tk.seq, tk))
        else:
            e = tk.exit
            phase = phase1 if e < down else phase2
            tick = e + 1 + ((phase - (e + 1)) % 10)
            if down <= tick < boot + 20:
                tick = boot + 20
            events.append((tick, 2, 0, None))
    events = [ev for ev in events if ev[0] <= snap and not (down <= ev[0] < boot + 20)]
    events.sort(key=lambda ev: (ev[0], ev[1], ev[2]))
    active: list[Task] = []
    appends = []                       # [(T, [tasks newest first])]
    last_tick = None
    for T, kind, _, new in events:
        if kind == 2:
            if T == last_tick:
                continue
            last_tick = T
        running, finished = [], []
        for tk in active:
            if tk.endtime is None and (tk.exit > T or tk is new):
                running.append(tk)
            else:
                finished.append(tk)
        if kind == 0:
            running.append(new)
        finished.sort(key=lambda tk: -tk.start)      # stable: ties keep the file order
        batch = []
        for tk in finished:
            if tk.endtime is None:
                tk.endtime = T
            if not tk.saved:
                tk.saved = True
                batch.append(tk)
        if batch:
            appends.append((T, batch))
        keep = max(0, MAX_FINISHED - len(running))
        active = running + finished[:keep]
    return appends, active


def line_of(tk) -> str:
    return f"{tk.upid()} {tk.endtime:08X} {tk.status}\n"


def seen_size(before: int, added: int) -> int:
    """What `-s $fh` returns right after `print $fh $archive` on the IO::File opened '>>':
    the data is still in PerlIO's 8 KiB buffer, so only whole buffers that print flushed
    count. Checked with perl 5.36: 0 + 100 -> 0, 100 + 20000 -> 16484."""
    return before + (added // PERLIO_BUFSIZ) * PERLIO_BUFSIZ


def rotation(sizes, s0):
    """Generations of the index for appends of `sizes` bytes, from an index of s0 bytes of
    older tasks. Returns (index.1 as (first, last) append or None, first append of index,
    whether any older (pre-log) task would still be visible)."""
    size, start, has_old = s0, 0, s0 > 0
    prev = None
    for i, b in enumerate(sizes):
        seen = seen_size(size, b)
        size += b
        if seen > MAXSIZE:
            prev = (start, i, has_old)
            start, size, has_old = i + 1, 0, False
    visible = has_old or (prev is not None and prev[2])
    return (prev[:2] if prev else None), start, visible


def choose_s0(appends, sizes, n_tasks):
    """The index size at the log's start that makes ~LOST_SHARE of the log's tasks lost,
    with no older task visible (else 0: a node whose index was empty then)."""
    target = max(1, round(LOST_SHARE * n_tasks))
    counts = [len(batch) for _, batch in appends]
    cands, cum = [0], 0
    for b in sizes:
        cum += b
        if cum > MAXSIZE:
            break
        cands.append(MAXSIZE - cum + 1)
    best = None
    for s0 in cands:
        prev, start, visible = rotation(sizes, s0)
        if visible:
            continue
        lost = sum(counts[:prev[0]]) if prev else 0
        score = abs(lost - target)
        if best is None or score < best[0]:
            best = (score, s0)
    return best[1] if best else 0


# --------------------------------------------------------------------------- generate

def generate(n: int, seed: int):
    w = World(seed, n)
    budget = n - ENDGAME_LINES

    specs = plan(w, budget)
    run_specs(w, specs)
    t_req, down, boot, up = w.reboot
    # the outage: nothing reaches pveproxy while the node is down; requests that were not
    # made start no task, and nobody polls the status of a task that was not started
    gone = {id(ln.task) for ln in w.lines if t_req + 20 <= ln.t < up and ln.task is not None}
    w.lines = [ln for ln in w.lines if not (t_req + 20 <= ln.t < up)
               and not (ln.ref is not None and id(ln.ref) in gone)]
    while len(w.lines) < budget:           # rare: the plan fell short; add late sessions
        t = max(ln.t for ln in w.lines) + 60 if w.lines else LOG_START
        w.session_long = []
        w.ui_session(t, "::ffff:192.168.10.23", "root@pam", 30)
    w.lines.sort(key=lambda ln: (ln.t, ln.seq))
    kept = w.lines[:budget]
    t_cut = kept[-1].t if kept else LOG_START + 3600
    cut = w.lines[budget:]
    w.lines = kept
    # the endgame, now at its real place
    w.endgame(t_cut)
    w.lines.sort(key=lambda ln: (ln.t, ln.seq))
    t_end = w.lines[-1].t
    snap = t_end + 2                      # the moment the task directory is copied
    cut_ids = {id(ln.task) for ln in cut if ln.task is not None} | gone
    if any(ln.ref is not None and id(ln.ref) in cut_ids for ln in w.lines):
        raise AssertionError("a kept line polls a task whose request was cut")
    tasks = []
    kept_ids = set()
    for tk in sorted(w.tasks, key=lambda x: (x.start, x.seq)):
        if id(tk) in cut_ids:
            continue                       # its request was never made
        if tk.parent is not None and id(tk.parent) not in kept_ids:
            continue                       # nor the HA request it followed
        if tk.start > snap:
            continue
        if down <= tk.start < boot:
            continue
        if tk.start < down < tk.exit:      # killed by the reboot: no TASK line
            tk.exit, tk.dur, tk.status, tk.immediate = down, down - tk.start, "unexpected status", False
        tasks.append(tk)
        kept_ids.add(id(tk))
    assign_pids(w, tasks)
    appends, active = simulate_calls(w, tasks, snap)
    n_log_tasks = len(tasks)
    texts = [[line_of(tk) for tk in batch] for _, batch in appends]
    sizes = [sum(len(x) for x in t) for t in texts]
    s0 = choose_s0(appends, sizes, n_log_tasks)
    prev, start, _ = rotation(sizes, s0)
    index = [x for t in texts[start:] for x in t]
    index1 = [x for t in texts[prev[0]:prev[1] + 1] for x in t] if prev else None
    # where each task ended up
    in_index = {x.split(" ", 1)[0] for x in index}
    in_index1 = {x.split(" ", 1)[0] for x in (index1 or [])}
    act_text = []
    for tk in active:
        if tk.endtime is None or tk.endtime > snap:
            act_text.append(f"{tk.upid()} 0\n")
        else:
            act_text.append(f"{tk.upid()} 1 {tk.endtime:08X} {tk.status}\n")
    in_active = {tk.upid() for tk in active}
    for tk in tasks:
        u = tk.upid()
        tk.where = ("index" if u in in_index else "index.1" if u in in_index1
                    else "active" if u in in_active else None)
        if tk.endtime is not None and tk.where == "active":
            raise AssertionError("a finished task is only in active: " + u)

    stamps: dict[int, str] = {}

    def stamp(t):
        s = stamps.get(t)
        if s is None:
            tm = time.gmtime(t + TZ_SECONDS)
            s = (f"{tm.tm_mday:02d}/{tm.tm_mon:02d}/{tm.tm_year}:"
                 f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}")
            stamps[t] = s
        return s

    task_ids = {id(tk) for tk in tasks}
    jentries, jparams, jcli = journal(w, tasks, snap, seed)
    log = []
    truth = []
    for no, ln in enumerate(w.lines, 1):
        ln.no = no
        text = ln.render(stamp)
        log.append(text)
        if ln.method not in ("POST", "PUT", "DELETE"):
            continue
        target = ln.target() if callable(ln.target) else ln.target
        tk = ln.task if ln.task is not None and id(ln.task) in task_ids else None
        if ln.task is not None and tk is None:
            raise AssertionError(f"line {no}: its task was dropped")
        if tk is not None:
            why = "joined" if tk.where else "lost-from-index"
            rec = {"line": no, "upid": tk.upid() if tk.where else None, "why": why,
                   "task": tk.upid(), "where": tk.where}
        else:
            rec = {"line": no, "upid": None, "why": ln.why or "no-task-endpoint",
                   "task": None, "where": None}
        length = ln.length() if callable(ln.length) else ln.length
        outcome, how = line_outcome(ln, target, length, tk, snap)
        rec.update({"method": ln.method, "path": target, "user": ln.user,
                    "status": ln.status, "type": tk.type if tk else ln.ttype,
                    "length": length, "format": api_format(target),
                    "started": ln.started,
                    "unknown_status": is_unknown_status(ln.status, length),
                    "outcome": outcome, "outcome_from": how,
                    "journal_params": id(ln) in jparams,
                    "params": jparams.get(id(ln))})
        truth.append(js(rec) + "\n")
    truth_sessions = sessions_truth(w, task_ids, snap, t_end)
    truth_tasks = []
    for tk in sorted(tasks, key=lambda x: (x.start, x.seq)):
        if tk.why is not None and tk.where is not None:
            span = w.lines[0].t <= tk.start <= t_end
            truth_tasks.append(js({"upid": tk.upid(), "why": tk.why, "where": tk.where,
                                   "in_log_span": span, "note": tk.note}) + "\n")
        if tk.why is None and tk.line is None:
            raise AssertionError("task without request or why")
    files = {"access.log": "".join(log), "truth.jsonl": "".join(truth),
             "truth-tasks.jsonl": "".join(truth_tasks),
             "truth-sessions.jsonl": "".join(js(x) + "\n" for x in truth_sessions),
             "tasks/index.1": "".join(index1) if index1 is not None else None,
             "tasks/index": "".join(index) if index else None,
             "tasks/active": "".join(act_text),
             "journal.json": GJF.json_export(jentries),
             "truth-journal.jsonl": "".join(js(x) + "\n" for x in jcli)}
    stats = {
        "lines": len(log), "writes": len(truth),
        "first": stamp(w.lines[0].t), "last": stamp(t_end),
        "tasks": len(tasks),
        "tasks_with_request": sum(1 for tk in tasks if tk.why is None),
        "joinable": sum(1 for x in truth if '"why":"joined"' in x),
        "lost": sum(1 for x in truth if '"why":"lost-from-index"' in x),
        "no_request_in_files": len(truth_tasks),
        "lost_total": sum(1 for tk in tasks if tk.where is None),
        "running": sum(1 for x in act_text if x.endswith(" 0\n")),
        "index_bytes": len(files["tasks/index"] or ""),
        "index1_bytes": len(files["tasks/index.1"] or ""),
        "s0": s0, "appends": len(appends),
    }
    for kind in ("vnc", "term", "spice", "shell", "ui", "api"):
        stats["sessions_" + kind] = sum(1 for x in truth_sessions if x["kind"] == kind)
    stats["journal"] = len(jentries)
    stats["journal_params"] = len(jparams)
    stats["journal_cli"] = len(jcli)
    for why in ("proxied", "rejected", "no-task-endpoint"):
        stats[why] = sum(1 for x in truth if f'"why":"{why}"' in x)
    return files, stats

# --------------------------------------------------------------------------- sessions

TICKET_LIFETIME = 7200    # pve-access-control: a ticket is valid for 2 hours
API_IDLE = 900            # the contract: an API token's session ends after 15 minutes idle
CONSOLE_CALLS = re.compile(r"/(vncproxy|termproxy|spiceproxy|vncshell|spiceshell)$")


def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def client_of(ip: str) -> str:
    return ip[7:] if ip.startswith("::ffff:") else ip


def target_of(ln) -> str:
    return ln.target() if callable(ln.target) else ln.target


def is_write(ln) -> bool:
    """class write: POST/PUT/DELETE that are not auth (access/ticket) nor console requests."""
    if ln.method not in ("POST", "PUT", "DELETE"):
        return False
    path = target_of(ln).split("?", 1)[0]
    return not TICKET_RE.match(path) and not CONSOLE_CALLS.search(path)


def sessions_truth(w: World, task_ids, snap: int, t_end: int) -> list[dict]:
    """truth-sessions.jsonl: one object per session the generator made, with the fields of
    the `pverec sessions` contract that the generator knows (what it did, and the task files
    it wrote), restricted to what is in the files: lines cut from the log do not count.

    consoles: opened = the 101/first CONNECT, else the task's start, else the POST; closed =
    the task's end time in the index (the moment active_workers saw it end); status ongoing
    while it runs, unknown without a task in the files (QEMU SPICE, a task lost from the
    index). ui: a ticket (login, renewals, the user's lines from the client); it ends by
    Logout or a new login window while the ticket is valid ("logged out"), by a new login
    ("new login") or by expiry (2 h after the last login/renewal), else it is ongoing. api:
    a token's lines from one client, split at 15 minutes idle."""
    out = []
    kept = lambda ln: ln is not None and ln.no is not None   # noqa: E731

    def rec(kind, user, client, opened, closed, status, ended, **extra):
        token = None
        if "!" in user:
            user, token = user.split("!", 1)
        r = {"kind": kind, "user": user, "token": token, "client": client_of(client),
             "node": NODE, "vmid": extra.pop("vmid", None), "opened": iso(opened),
             "closed": iso(closed) if closed is not None else None,
             "duration": closed - opened if closed is not None else None,
             "status": status, "ended": ended}
        r.update(extra)
        return r

    for c in w.consoles:
        if not kept(c.post):
            continue
        conn = c.conn if kept(c.conn) else None
        tk = c.task if c.task is not None and id(c.task) in task_ids else None
        if c.task is not None and tk is None:
            raise AssertionError("a console's task was dropped, its POST kept")
        in_files = tk is not None and tk.where is not None
        if conn is not None:
            opened = conn.t
        elif in_files:
            opened = tk.start
        else:
            opened = c.post.t
        if not in_files:
            closed, status, ended = None, "unknown", None
        elif tk.endtime is None or tk.endtime > snap:
            closed, status, ended = None, "ongoing", None
        else:
            closed, status, ended = tk.endtime, "completed", tk.status
        out.append(rec(c.kind, c.user, c.ip, opened, closed, status, ended,
                       vmid=None if c.vmid is None else str(c.vmid),
                       connected=iso(conn.t) if conn is not None else None,
                       upid=tk.upid() if in_files else None,
                       task=tk.upid() if tk is not None else None,
                       post_line=c.post.no, connect_line=conn.no if conn else None,
                       twin=c.twin, first_line=c.post.no))

    # ui: the next session of the same client and user ends a ticket
    by_client: dict[tuple, list] = {}
    for u in w.uis:
        lines = [ln for ln in u.lines if kept(ln) and target_of(ln).startswith("/api2/")]
        login = u.login if kept(u.login) else None
        if login is None and u.login is not None:
            continue                       # its login was cut: a session of the cut part
        renewals = [ln for ln in u.renewals if kept(ln)]
        evidence = ([login] if login else []) + renewals + lines
        if not evidence:
            continue
        opened = login.t if login else min(ln.t for ln in lines)
        first_no = login.no if login else min(ln.no for ln in lines)
        last = max(ln.t for ln in evidence)
        auths = ([login.t] if login else []) + [ln.t for ln in renewals]
        by_client.setdefault((u.ip, u.user), []).append(
            (opened, first_no, u, login, renewals, lines, last, max(auths) if auths else None))
    for (ip, user), sess in by_client.items():
        sess.sort(key=lambda x: (x[0], x[1]))
        for i, (opened, first_no, u, login, renewals, lines, last, auth) in enumerate(sess):
            nxt = sess[i + 1][2] if i + 1 < len(sess) else None
            expiry = auth + TICKET_LIFETIME if auth is not None else None
            window = u.logout if kept(u.logout) else None
            if window is None and nxt is not None and kept(nxt.window):
                window = nxt.window
            relogin = nxt.login if nxt is not None and kept(nxt.login) else None
            if expiry is None:             # no login in this log: its ticket is not known
                status, ended = ("completed", "expired") if last + TICKET_LIFETIME <= t_end \
                    else ("ongoing", None)
            elif window is not None and window.t < expiry:
                status, ended = "completed", "logged out"
            elif relogin is not None and relogin.t < expiry:
                status, ended = "completed", "new login"
            elif expiry <= t_end:
                status, ended = "completed", "expired"
            else:
                status, ended = "ongoing", None
            out.append(rec("ui", user, ip, opened, last if status == "completed" else None,
                           status, ended, connected=None, requests=len(lines),
                           writes=sum(1 for ln in lines if is_write(ln)),
                           renewals=len(renewals), login=login is not None, hop=u.hop,
                           login_line=login.no if login else None, first_line=first_no))

    # api: a token's calls from one client, split at 15 minutes idle
    calls: dict[tuple, list] = {}
    for ln in w.lines:
        if kept(ln) and "!" in ln.user and target_of(ln).startswith("/api2/"):
            calls.setdefault((ln.user, ln.ip), []).append(ln)
    for (user, ip), lns in calls.items():
        lns.sort(key=lambda ln: ln.no)
        groups = [[lns[0]]]
        for ln in lns[1:]:
            if ln.t - groups[-1][-1].t > API_IDLE:
                groups.append([])
            groups[-1].append(ln)
        for g in groups:
            done = t_end - g[-1].t > API_IDLE
            out.append(rec("api", user, ip, g[0].t, g[-1].t if done else None,
                           "completed" if done else "ongoing", "idle" if done else None,
                           connected=None, requests=len(g),
                           writes=sum(1 for ln in g if is_write(ln)), renewals=0,
                           first_line=g[0].no))
    out.sort(key=lambda r: (r["opened"], r["first_line"]))
    return out


# --------------------------------------------------------------------------- the journal

PVEDAEMON_PIDS = (1471, 1472, 1473)       # pvedaemon's three workers
PVEPROXY_PIDS = (1480, 1481, 1482)        # pveproxy's
PVESCHEDULER_PID, LRM_PID = 1390, 1302
QEMU_CONFIG_RE = re.compile(r"^/api2/(extjs|json)/nodes/pve1/qemu/(\d+)/(config|resize|snapshot)$")
VZDUMP_RE = re.compile(r"^/api2/(extjs|json)/nodes/pve1/vzdump$")
TICKET_RE = re.compile(r"^/api2/(extjs|json)/access/ticket$")


def vm_params(rng) -> dict:
    """The parameters of one VM config edit, as the GUI's edit windows send them."""
    pool = {
        "cores": lambda: str(rng.choice([1, 2, 4, 8])),
        "memory": lambda: str(rng.choice([1024, 2048, 4096, 8192, 16384])),
        "sockets": lambda: str(rng.choice([1, 2])),
        "name": lambda: rng.choice(["web1", "db1", "ci-runner", "mail"]),
        "description": lambda: rng.choice(["Web server for the team wiki",
                                           "do not stop: payroll runs here",
                                           "Migrated from the old host"]),
        "net0": lambda: (f"virtio=BC:24:11:{rng.randint(0, 255):02X}:{rng.randint(0, 255):02X}:"
                         f"{rng.randint(0, 255):02X},bridge=vmbr0"
                         + (",firewall=1" if rng.random() < 0.5 else "")),
        "delete": lambda: rng.choice(["balloon", "tags", "ide2", "balloon,shares"]),
        "onboot": lambda: "1",
        "tags": lambda: rng.choice(["prod;web", "test", "db;prod"]),
        "cipassword": lambda: "<hidden>",
        "ciuser": lambda: rng.choice(["admin", "debian"]),
        "boot": lambda: "order=scsi0;net0",
        "scsi1": lambda: "local-lvm:32,discard=on,iothread=1",
    }
    keys = rng.sample(sorted(pool), rng.choice([1, 1, 2, 2, 3]))
    if "cipassword" in keys and "ciuser" not in keys and rng.random() < 0.5:
        keys.append("ciuser")
    return {k: pool[k]() for k in sorted(keys)}


def update_vm_message(user, vmid, params) -> str:
    """qemu-server src/PVE/API2/Qemu.pm $update_vm_api: keys sorted, joined with spaces; the
    user is $authuser (a token's full id, `automation@pve!ci`)."""
    return f"<{user}> update VM {vmid}: " + " ".join(f"-{k} {v}" for k, v in sorted(params.items()))


def journal(w: World, tasks, snap: int, seed: int):
    """The journal of pve1 for the generated log (see the module doc, journal.json).

    Returns (entries in time order as gen-journal-fixture.py's make_entry builds them,
    {id(line): params} for the writes whose parameters the journal holds, the CLI changes
    that only the journal shows). A separate random stream, so that access.log and the task
    files stay what they were without the journal."""
    rng = random.Random(seed * 1_000_003 + 12)
    out = []

    def add(t_us, ident, pid, msg, prio=6, comm=None, cmdline=None):
        out.append(GJF.make_entry(int(t_us), ident, pid, msg, prio, comm, cmdline))

    def frac():
        return rng.randint(2_000, 600_000)

    task_ids = {id(tk) for tk in tasks}
    params_at: dict[int, dict] = {}
    lines = w.lines
    # the user of a login: the next line from the same client that names one
    next_user = {}
    for i, ln in enumerate(lines):
        if ln.method == "POST" and TICKET_RE.match(str(ln.target)):
            for later in lines[i + 1:i + 400]:
                if later.ip == ln.ip and later.user != "-":
                    next_user[id(ln)] = later.user.split("!")[0]   # a token's user
                    break
    for ln in lines:
        if ln.status == 401 and not TICKET_RE.match(str(ln.target)):
            # an expired ticket: pve-manager PVE/HTTPServer.pm auth_handler warns, bin/pveproxy's
            # __WARN__ handler syslogs it (one warning beside each 401 line)
            add(ln.t * 1_000_000 + rng.randint(1_000, 200_000), "pveproxy",
                rng.choice(PVEPROXY_PIDS),
                "authentication failure: permission denied - invalid PVE ticket", 4)
        if ln.method not in ("POST", "PUT"):
            continue
        target = ln.target() if callable(ln.target) else ln.target
        path = target.split("?", 1)[0]
        length = ln.length() if callable(ln.length) else ln.length
        tk = ln.task if ln.task is not None and id(ln.task) in task_ids else None
        t_us = ln.t * 1_000_000
        if TICKET_RE.match(path):
            user = next_user.get(id(ln), "root@pam")
            if ln.status == 200:
                # pve-access-control src/PVE/API2/AccessControl.pm create_ticket
                add(t_us + frac(), "pvedaemon", rng.choice(PVEDAEMON_PIDS),
                    f"<root@pam> successful auth for user '{user}'")
            else:
                add(t_us - rng.randint(100_000, 2_900_000), "pvedaemon",
                    rng.choice(PVEDAEMON_PIDS),
                    f"authentication failure; rhost={ln.ip} user={user} msg=invalid credentials", 3)
            continue
        m = QEMU_CONFIG_RE.match(path)
        if m and m[3] == "config":
            vmid = int(m[2])
            if ln.method == "PUT" and tk is None and ln.status == 200 and \
                    ln.outcome in (None, "success") and ln.why not in ("rejected", "proxied"):
                params = vm_params(rng)
                add(t_us + frac(), "pvedaemon", rng.choice(PVEDAEMON_PIDS),
                    update_vm_message(ln.user, vmid, params))
                params_at[id(ln)] = params
            elif ln.method == "POST" and tk is not None and tk.type == "qmconfig":
                params = vm_params(rng)     # logged by the task worker, under the lock
                add(tk.start * 1_000_000 + frac(), "pvedaemon", tk.pid,
                    update_vm_message(tk.user, vmid, params),
                    comm="task UPID:pve1:")
                params_at[id(ln)] = params
        elif m and m[3] == "resize" and tk is not None:
            disk, size = "scsi0", f"+{rng.choice([4, 8, 10, 32])}G"
            add(tk.start * 1_000_000 + frac(), "pvedaemon", tk.pid,
                f"<{tk.user}> update VM {m[2]}: resize --disk {disk} --size {size}",
                comm="task UPID:pve1:")
            params_at[id(ln)] = {"disk": disk, "size": size}
        elif m and m[3] == "snapshot" and tk is not None:
            name = rng.choice(["before-upgrade", "pre-patch", "daily", "test", "clean"])
            add(tk.start * 1_000_000 + frac(), "pvedaemon", tk.pid,
                f"<{tk.user}> snapshot VM {m[2]}: {name}", comm="task UPID:pve1:")
            params_at[id(ln)] = {"snapname": name}
        elif VZDUMP_RE.match(path) and tk is not None:
            params = {"mode": "snapshot", "storage": "local", "node": "pve1",
                      "compress": "zstd", "remove": "0"}
            if tk.id:
                params["vmid"] = tk.id
            params_at[id(ln)] = params
    vzdump_params = {id(ln.task): params_at[id(ln)] for ln in lines
                     if id(ln) in params_at and ln.task is not None and ln.task.type == "vzdump"}

    # task start and end, from the process that forked the worker (pve-common
    # src/PVE/RESTEnvironment.pm fork_worker, $log_task_result)
    for tk in tasks:
        if tk.why is None:
            ident, pid = "pvedaemon", rng.choice(PVEDAEMON_PIDS)
        elif tk.why == "cli":
            ident = (tk.note or "qm").split()[0]
            ident = ident if ident in ("qm", "pct", "vzdump") else "qm"
            pid = max(tk.pid - 1, 2)
        elif tk.why == "scheduler":
            ident, pid = "pvescheduler", PVESCHEDULER_PID
        else:
            ident, pid = "pve-ha-lrm", LRM_PID
        user = tk.user
        add(tk.start * 1_000_000 + rng.randint(1_000, 300_000), ident, pid,
            f"<{user}> starting task {tk.upid()}")
        if tk.type == "vzdump":
            # pve-manager PVE/VZDump.pm exec_backup; the command line as
            # pve-guest-common src/PVE/VZDump/Common.pm command_line builds it
            p = vzdump_params.get(id(tk)) or {"mode": "snapshot", "storage": "local",
                                              "compress": "zstd"}
            args = (f" {p['vmid']}" if p.get("vmid") else " --all 1" if not tk.id else f" {tk.id}")
            args += "".join(f" --{k} {v}" for k, v in p.items() if k != "vmid")
            add(tk.start * 1_000_000 + 400_000, ident, tk.pid,
                f"INFO: starting new backup job: vzdump{args}", comm="task UPID:pve1:")
        if tk.endtime is not None and tk.endtime <= snap and tk.status != "unexpected status":
            failed = task_outcome(tk.status, False) == "failure"
            add(tk.endtime * 1_000_000 + rng.randint(1_000, 900_000), ident, pid,
                f"<{user}> end task {tk.upid()} {tk.status}", 3 if failed else 6)

    # root's `qm set` on the shell: an update VM line and nothing else
    cli = []
    t0, t1 = lines[0].t, lines[-1].t
    for _ in range(max(3, len(lines) // 2000)):
        t_us = rng.randint(t0, t1) * 1_000_000 + frac()
        vmid = rng.choice(QEMU)
        params = vm_params(rng)
        pid = rng.randint(20_000, 900_000)
        msg = update_vm_message("root@pam", vmid, params)
        opts = " ".join(f"--{k} {GAL_quote(v)}" for k, v in params.items())
        add(t_us, "qm", pid, msg,
            cmdline=f"/usr/bin/perl /usr/sbin/qm set {vmid} {opts}")
        cli.append({"t": t_us, "program": "qm", "pid": pid, "user": "root@pam",
                    "vmid": vmid, "message": msg,
                    "pvesh": f"pvesh set /nodes/pve1/qemu/{vmid}/config {opts}"})
    out.sort(key=lambda e: e["t"])
    return out, params_at, cli


def GAL_quote(v: str) -> str:
    """A value as a shell word (single quotes when it holds anything but a safe character)."""
    return v if re.fullmatch(r"[A-Za-z0-9_=,:./+@-]+", v) else "'" + v.replace("'", "'\\''") + "'"


def api_format(target: str) -> str | None:
    m = re.match(r"^/api2/+([a-z][a-z0-9]+)(/|$)", target)
    return m.group(1) if m else None


def line_outcome(ln, target, length, tk, snap):
    """The outcome a reader of access.log and the task files can know for a write line, and
    from what: ("success"|"failure"|"pending"|"unknown", "task"|"status"|"length"), or
    (None, None) when neither tells it (a task started elsewhere or lost from the index; an
    extjs answer that is not null or a UPID, such as a gzip-compressed object).

    - a joined task (also behind a 596/597/500 -: pvedaemon forked it): the task's end
      status, `pending` while it runs;
    - 595-599 and 500 without a length: `unknown`;
    - any other 4xx/5xx: `failure`; a json/html 200: `success` (unless it started a task);
    - an extjs/htmljs 200: what the generator built the body from (null data: 25 bytes is
      success, an error body failure)."""
    if tk is not None and tk.where is not None:
        running = tk.endtime is None or tk.endtime > snap
        return task_outcome(tk.status, running), "task"
    if is_unknown_status(ln.status, length):
        return "unknown", "status"
    if ln.status >= 400:
        return "failure", "status"
    if ln.started:
        return None, None
    fmt = api_format(target)
    if fmt in EXTJS and ln.status == 200:
        return (ln.outcome, "length") if ln.outcome is not None else (None, None)
    if 200 <= ln.status < 300:
        return "success", "status"
    return None, None


def write(outdir: Path, files):
    (outdir / "tasks").mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = outdir / name
        if text is None:
            if path.exists():
                path.unlink()
            continue
        path.write_bytes(text.encode("ascii"))


# --------------------------------------------------------------------------- --check

def schema_methods():
    if not SCHEMA.exists():
        return None
    data = json.loads(SCHEMA.read_text())
    out = []
    for m in data["methods"]:
        rx = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(m["path"])) + "$")
        out.append((m["method"], rx, m))
    return out


def check(outdir: Path, n: int, seed: int, files) -> list[str]:
    errs = []

    def err(msg):
        if len(errs) < 50:
            errs.append(msg)

    # 1. access.log: §1 format, N lines, non-decreasing time, same time text as gen-access-log
    log = (outdir / "access.log").read_bytes().decode("ascii").split("\n")
    if log[-1] != "":
        err("access.log does not end in a newline")
    log = log[:-1]
    if len(log) != n:
        err(f"access.log has {len(log)} lines, not {n}")
    prev = None
    parsed = []
    for i, text in enumerate(log, 1):
        m = ACCESS_RE.match(text)
        if not m:
            err(f"access.log:{i}: does not match §1.2: {text}")
            parsed.append(None)
            continue
        if m["tz"] != TZ:
            err(f"access.log:{i}: zone {m['tz']}")
        r = REQ_RE.match(m["req"])
        if not r:
            err(f"access.log:{i}: request line {m['req']!r}")
        key = (m["year"], m["mon"], m["day"], m["time"])
        if prev is not None and key < prev:
            err(f"access.log:{i}: time goes backwards")
        prev = key
        parsed.append((m, r))
    probe = GAL.seconds(random.Random(0), LOG_START + 12345)
    ts, _ = next(probe)
    mine = time.gmtime(LOG_START + 12345 + TZ_SECONDS)
    want = (f"{mine.tm_mday:02d}/{mine.tm_mon:02d}/{mine.tm_year}:"
            f"{mine.tm_hour:02d}:{mine.tm_min:02d}:{mine.tm_sec:02d}")
    if ts != want:
        err(f"time text differs from gen-access-log.py: {ts} vs {want}")
    sample = GAL.build_pool(random.Random(seed), 200)
    for head, tail, _, _ in sample:
        if not ACCESS_RE.match(head + want + tail.rstrip("\n")):
            err("a gen-access-log.py line does not match §1.2 (regex check is wrong)")

    # 2. task files: reader regexes and UPID decode
    upids = {}
    for name in ("tasks/index", "tasks/index.1"):
        path = outdir / name
        if not path.exists():
            continue
        data = path.read_bytes().decode("ascii")
        if name == "tasks/index.1" and len(data) <= MAXSIZE:
            err(f"{name}: {len(data)} bytes: it was renamed when over {MAXSIZE}")
        if name == "tasks/index" and len(data) > MAXSIZE:
            # allowed only by its last append (renamed by the next one): drop the lines of
            # the last detection time and it must be back under the limit
            lines = data.split("\n")[:-1]
            last = lines[-1].split(" ")[1]
            while lines and lines[-1].split(" ")[1] == last:
                lines.pop()
            if sum(len(x) + 1 for x in lines) > MAXSIZE:
                err(f"{name}: {len(data)} bytes: it should have been renamed")
        for i, text in enumerate(data.split("\n")[:-1], 1):
            m = INDEX_RE.match(text)
            if not m or m.group(3) is None or m.group(5) is None:
                err(f"{name}:{i}: does not match the §2.2 reader: {text}")
                continue
            if not UPID_RE.match(m.group(1)):
                err(f"{name}:{i}: UPID does not decode: {m.group(1)}")
            if m.group(1) in upids:
                err(f"{name}:{i}: UPID twice: {m.group(1)}")
            upids[m.group(1)] = name
    running = set()
    finished = 0
    for i, text in enumerate((outdir / "tasks/active").read_bytes().decode("ascii")
                             .split("\n")[:-1], 1):
        m = ACTIVE_RE.match(text)
        if not m:
            err(f"tasks/active:{i}: does not match the §2.3 reader: {text}")
            continue
        if not UPID_RE.match(m.group(1)):
            err(f"tasks/active:{i}: UPID does not decode: {m.group(1)}")
        if m.group(2) == "0":
            running.add(m.group(1))
            if m.group(1) in upids:
                err(f"tasks/active:{i}: running task is in an index")
        else:
            finished += 1
            if m.group(1) not in upids:
                err(f"tasks/active:{i}: saved task is in no index")
    if len(running) + finished > max(MAX_FINISHED, len(running)):
        err("tasks/active: more than 25 finished tasks")
    for u in running:
        upids[u] = "tasks/active"
    for u in upids:
        m = UPID_RE.match(u)
        if m and m.group(1) != NODE:
            err(f"UPID of another node: {u}")

    # 3. truth: one record per write line; every UPID accounted for exactly once
    truth = [json.loads(x) for x in (outdir / "truth.jsonl").read_text().splitlines()]
    tt = [json.loads(x) for x in (outdir / "truth-tasks.jsonl").read_text().splitlines()]
    writes = [i for i, p in enumerate(parsed, 1)
              if p and p[1] and p[1].group(1) in ("POST", "PUT", "DELETE")]
    if [r["line"] for r in truth] != writes:
        err("truth.jsonl does not have exactly one record per POST/PUT/DELETE line")
    seen = {}
    methods = schema_methods()
    for r in truth:
        m, req = parsed[r["line"] - 1]
        u = r["upid"]
        if (u is None) != (r["why"] != "joined"):
            err(f"truth line {r['line']}: upid/why mismatch")
        if r["why"] == "lost-from-index" and (r["task"] is None or r["task"] in upids):
            err(f"truth line {r['line']}: lost task is present")
        if u is None:
            continue
        if u not in upids:
            err(f"truth line {r['line']}: {u} in no task file")
            continue
        if u in seen:
            err(f"truth line {r['line']}: {u} also for line {seen[u]}")
        seen[u] = r["line"]
        d = UPID_RE.match(u)
        if d.group(8) != m["user"]:
            err(f"truth line {r['line']}: UPID user {d.group(8)} vs log user {m['user']}")
        start = int(d.group(5), 16)
        lt = time.strptime(f"{m['day']}/{m['mon']}/{m['year']}:{m['time']}", "%d/%m/%Y:%H:%M:%S")
        logt = __import__("calendar").timegm(lt) - TZ_SECONDS
        if not 0 <= logt - start <= 31:
            err(f"truth line {r['line']}: log time - starttime = {logt - start}")
        if methods is not None:
            path = req.group(2).split("?", 1)[0]
            path = re.sub(r"^/api2/[a-z][a-z0-9]+", "", path)
            hits = [mm for meth, rx, mm in methods if meth == req.group(1) and rx.match(path)]
            types = {t for mm in hits for t in (mm.get("task_types") or [])}
            if d.group(6) not in types:
                err(f"truth line {r['line']}: type {d.group(6)} not in the schema's "
                    f"task_types {sorted(types)} for {req.group(1)} {path}")
    if methods is not None:
        for r in truth:
            if r["why"] != "no-task-endpoint":
                continue
            _, req = parsed[r["line"] - 1]
            path = re.sub(r"^/api2/[a-z][a-z0-9]+", "", req.group(2).split("?", 1)[0])
            hits = [mm for meth, rx, mm in methods if meth == req.group(1) and rx.match(path)]
            if any(mm.get("task_types") for mm in hits):
                err(f"truth line {r['line']}: no-task-endpoint, but the schema lists "
                    f"task types for {req.group(1)} {path}")
    # 3b. lengths and outcomes: what the schema's return type says a length means (pve-sources
    # §1 "The length tells the outcome of an extjs call") agrees with the truth's outcome
    rtype = {}
    for r in truth:
        m, req = parsed[r["line"] - 1]
        length = None if m["len"] == "-" else int(m["len"])
        if r["length"] != (m["len"] if length is None else length):
            err(f"truth line {r['line']}: length {r['length']} vs log {m['len']}")
        if r["outcome"] not in (None, "success", "failure", "pending", "unknown"):
            err(f"truth line {r['line']}: outcome {r['outcome']}")
        if (r["outcome"] is None) != (r["outcome_from"] is None):
            err(f"truth line {r['line']}: outcome/outcome_from mismatch")
        if length is None and m["status"] == "200":
            err(f"truth line {r['line']}: 200 without a length")
        if r["unknown_status"] != (595 <= int(m["status"]) <= 599
                                   or (m["status"] == "500" and length is None)):
            err(f"truth line {r['line']}: unknown_status is wrong")
        if r["unknown_status"] and r["outcome"] not in ("unknown",) and r["outcome_from"] != "task":
            err(f"truth line {r['line']}: unknown status, outcome {r['outcome']}")
        if m["status"] != "200" or length is None or methods is None:
            continue
        path = re.sub(r"^/api2/[a-z][a-z0-9]+", "", req.group(2).split("?", 1)[0])
        key = (req.group(1), path)
        if key not in rtype:
            hits = [mm for meth, rx, mm in methods if meth == req.group(1) and rx.match(path)]
            rtype[key] = hits[0] if hits else None
        mm = rtype[key]
        if mm is None:
            err(f"truth line {r['line']}: {req.group(1)} {path} is not in the schema")
            continue
        extjs = r["format"] in ("extjs", "htmljs")
        if mm.get("returns_type") == "null" and extjs:
            want = "success" if length == 25 else "failure"
            if r["outcome_from"] == "length" and r["outcome"] != want:
                err(f"truth line {r['line']}: null return, {length} bytes, outcome {r['outcome']}")
            if r["outcome_from"] is None and r["task"] is None:
                err(f"truth line {r['line']}: null return in extjs, but no outcome")
        if mm.get("returns_upid") == "yes" and r["task"] is not None:
            ok = len(r["task"]) + (23 if extjs else 11)
            null_ok = r["type"] == "qmconfig" and length == (25 if extjs else 13)
            if length != ok and not null_ok:
                err(f"truth line {r['line']}: started {r['task']} but {length} bytes, not {ok}")
        if mm.get("returns_upid") == "yes" and r["task"] is None and r["why"] != "proxied" \
                and extjs and r["outcome"] != "failure":
            err(f"truth line {r['line']}: no task, yet not a failure")
    for r in tt:
        if r["upid"] not in upids:
            err(f"truth-tasks: {r['upid']} in no task file")
        if r["upid"] in seen:
            err(f"truth-tasks: {r['upid']} also started by line {seen[r['upid']]}")
        seen[r["upid"]] = "truth-tasks"
        if r["why"] not in ("cli", "scheduler", "ha"):
            err(f"truth-tasks: why {r['why']}")
    for u in upids:
        if u not in seen:
            err(f"{upids[u]}: {u} is in neither truth file")

    # 4. the journal: journalctl -o json shape, time order, and an entry for every write the
    #    truth says has its parameters there (same VMID and user, within the call's time)
    line_time = {}
    for i, pr in enumerate(parsed, 1):
        if pr:
            hh, mi, ss = pr[0]["time"].split(":")
            line_time[i] = __import__("calendar").timegm(
                (int(pr[0]["year"]), int(pr[0]["mon"]), int(pr[0]["day"]),
                 int(hh), int(mi), int(ss))) - TZ_SECONDS
    jtext = (outdir / "journal.json").read_text()
    jmsgs = []
    last = 0
    for i, text in enumerate(jtext.splitlines(), 1):
        try:
            e = json.loads(text)
            t = int(e["__REALTIME_TIMESTAMP"])
            msg, ident = e["MESSAGE"], e["SYSLOG_IDENTIFIER"]
            if not (e["__CURSOR"].startswith("s=") and e["_PID"].isdigit()):
                raise ValueError("cursor or pid")
        except (ValueError, KeyError, TypeError) as x:
            err(f"journal.json:{i}: {x}: {text[:120]}")
            continue
        if t < last:
            err(f"journal.json:{i}: earlier than the entry before it")
        last = t
        jmsgs.append((t, ident, msg))
    by_vm = {}
    for t, ident, msg in jmsgs:
        m = re.match(r"^<(\S+)> (?:update|snapshot) VM (\d+): ", msg)
        if m:
            by_vm.setdefault((m[1], m[2]), []).append(t)
        m = re.match(r"^INFO: starting new backup job: vzdump", msg)
        if m:
            by_vm.setdefault(("vzdump", ""), []).append(t)
    for r in truth:
        if not r.get("journal_params"):
            continue
        m = re.search(r"/qemu/(\d+)/", r["path"])
        key = (r["user"], m[1]) if m else ("vzdump", "")
        when = [t for t in by_vm.get(key, []) if abs(t / 1e6 - line_time[r["line"]]) < 90]
        if not when:
            err(f"truth line {r['line']}: journal_params, but no journal entry for {key}")
    cli = [json.loads(x) for x in (outdir / "truth-journal.jsonl").read_text().splitlines()]
    qm = [m for _, ident, m in jmsgs if ident == "qm" and " update VM " in m]
    if sorted(c["message"] for c in cli) != sorted(qm):
        err("truth-journal.jsonl and the journal's qm update lines differ")

    # 5. sessions: every console POST is one console session, its lines are what they say,
    #    tickets are not newer than the POST, and every ticket POST has its journal entry
    sessions = [json.loads(x) for x in (outdir / "truth-sessions.jsonl").read_text().splitlines()]
    req = {i: (p[1].group(1), p[1].group(2), p[0]) for i, p in enumerate(parsed, 1)
           if p and p[1]}
    refused = {r["line"] for r in truth if r["why"] == "rejected"}
    posts = {i for i, (meth, uri, m) in req.items() if meth == "POST" and m["status"] == "200"
             and CONSOLE_CALLS.search(uri.split("?", 1)[0]) and i not in refused}
    seen_posts = set()
    for r in sessions:
        if r["kind"] in ("ui", "api"):
            if r["kind"] == "ui" and r["login"]:
                meth, uri, _ = req[r["login_line"]]
                if meth != "POST" or not TICKET_RE.match(uri):
                    err(f"truth-sessions: ui login line {r['login_line']} is {meth} {uri}")
            continue
        pl = r["post_line"]
        if pl in seen_posts or pl not in posts:
            err(f"truth-sessions: console POST line {pl} twice or not a console POST")
        seen_posts.add(pl)
        if r["upid"] is not None and r["upid"] not in upids:
            err(f"truth-sessions: {r['upid']} in no task file")
        c = r["connect_line"]
        if c is None:
            continue
        meth, uri, m = req[c]
        post_t, conn_t = line_time[pl], line_time[c]
        if meth == "CONNECT":
            ts = int(uri.split(":")[1], 16)
            ok = m["status"] == "200" and m["user"] == "-" and 0 <= post_t - ts <= 10 \
                and 0 <= conn_t - post_t <= 40
        else:
            q = urllib.parse.parse_qs(uri.split("?", 1)[1])
            ticket = re.sub(r"^.{8}:(?=PVEVNC:)", "", q["vncticket"][0])
            tm = re.match(r"^PVEVNC:([0-9A-F]{8})::", ticket)
            ok = tm is not None and m["status"] == "101" and "/vncwebsocket?" in uri \
                and 0 <= post_t - int(tm[1], 16) <= 10 and 0 <= conn_t - post_t <= 10
        if not ok:
            err(f"truth-sessions: line {c} does not fit console POST line {pl}")
    if seen_posts != posts:
        err(f"truth-sessions: console POST lines without a session: {sorted(posts - seen_posts)[:5]}")
    auth_at = sorted(t for t, ident, msg in jmsgs if "successful auth for user" in msg)
    import bisect
    for i, (meth, uri, m) in req.items():
        if meth == "POST" and TICKET_RE.match(uri) and m["status"] == "200":
            k = bisect.bisect_left(auth_at, line_time[i] * 1_000_000)
            if k == len(auth_at) or auth_at[k] >= (line_time[i] + 1) * 1_000_000:
                err(f"access.log:{i}: a login or renewal without its `successful auth` entry")

    # 6. reproducibility
    again, _ = generate(n, seed)
    if again != files:
        err("a second generation with the same seed differs")
    return errs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", metavar="OUTDIR")
    ap.add_argument("--requests", type=int, default=20000,
                    help="access.log lines (default 20000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--journal-export", action="store_true",
                    help="also write journal.export (the journal export format, for "
                         "systemd-journal-remote --output=FILE.journal -)")
    ap.add_argument("--check", action="store_true",
                    help="validate the written files (formats, truth, reproducibility)")
    args = ap.parse_args(argv)
    if args.requests < 100:
        ap.error("--requests must be at least 100")
    t0 = time.perf_counter()
    files, st = generate(args.requests, args.seed)
    outdir = Path(args.outdir)
    write(outdir, files)
    if args.journal_export:
        entries = GJF.parse_entries(files["journal.json"])
        (outdir / "journal.export").write_bytes(GJF.export_text(entries))
    dt = time.perf_counter() - t0
    print(f"gen-tasks: {outdir}: {st['lines']} lines [{st['first']} .. {st['last']} {TZ}], "
          f"{st['writes']} POST/PUT/DELETE: {st['joinable']} joinable, {st['lost']} lost from "
          f"the index, {st['proxied']} proxied, {st['rejected']} rejected, "
          f"{st['no-task-endpoint']} no-task endpoints; {st['tasks']} tasks "
          f"({st['tasks_with_request']} with a request, {st['no_request_in_files']} without "
          f"one in the files, {st['lost_total']} lost, {st['running']} running); index "
          f"{st['index_bytes']} B, index.1 {st['index1_bytes']} B, {st['appends']} appends, "
          f"index at start {st['s0']} B; journal {st['journal']} entries, parameters of "
          f"{st['journal_params']} writes, {st['journal_cli']} CLI changes; sessions: "
          f"{st['sessions_vnc']} vnc, {st['sessions_term']} term, {st['sessions_spice']} spice, "
          f"{st['sessions_shell']} shell, {st['sessions_ui']} ui, {st['sessions_api']} api; "
          f"seed {args.seed}, {dt:.2f} s", file=sys.stderr)
    if args.check:
        errs = check(outdir, args.requests, args.seed, files)
        for e in errs:
            print(f"gen-tasks: check: {e}", file=sys.stderr)
        if errs:
            return 1
        print("gen-tasks: check: OK", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
