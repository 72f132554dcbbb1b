#!/usr/bin/env python3
"""Generate the logs of a whole Proxmox VE cluster, with proxied requests on both nodes.

Why: issue 15 reads every node of a cluster and folds a request proxied from one node to
another into the origin's line. How many hops pverec folds, and what a cluster read costs
in time and memory (`make bench-cluster`, scripts/bench-cluster.py), can only be measured on
logs whose proxied requests are known. A single node's generator (gen-tasks.py) writes the
hop of one side only; this one writes every node, and every proxied request twice, the way PVE
writes it (../shared/docs/pve-formats.md §1.4 "Requests proxied to another node",
pve-sources.md §6):

- A client (a browser, a token) talks to node A. A call for `/nodes/B/...` whose API method
  has `proxyto => 'node'` (read from ../shared/data/pve-api-schema.json, not guessed) is
  proxied by A's pveproxy to B (pve-manager `PVE/HTTPServer.pm` rest_handler: permissions are
  checked on A first, `check_api2_permissions`, then `resolve_proxyto`; pve-http-server
  `src/PVE/APIServer/AnyEvent.pm` proxy_request). A logs the real client; B logs A's address
  (`::ffff:<A's ip>`: it overwrites PVEClientIP with the peer, `trusted_env => 0`), the same
  user (it re-authenticates the forwarded ticket or token) and the same request line with its
  query string; the status and length are B's answer, which A relays.
- B answers first, so B's line is 0 to 2 s before A's (or in the same second). A task the call
  started has node B in its UPID and is only in B's task index.
- A call refused by A's permission check is never proxied: it is on A only.
- Methods without `proxyto` (`/cluster/*`, the rrd graphs read from pmxcfs) are answered by A
  itself, whichever node the path names: they are on A only.

What: nodes pve1..pveN (address NET.K, `--net`, default 10.214.0), each with its own guests
(QEMU 100K..100K+7, containers 100K+50..100K+52), its own browser sessions and, on pve1, a CI
token. Per node R client requests (`--requests`): mostly the web UI's polling GETs under
/api2/json (85 % about the node itself, the rest about guests of other nodes, so proxied where
the schema says so), static files, logins, expired tickets, and about 4 % writes through
/api2/extjs (UI) or /api2/json (token); 30 % of the writes are for a guest of another node.
Writes that start a task answer its UPID (length len(UPID) + 23 in extjs, + 11 in json,
Formatter/Standard.pm), PUT config answers null (25 / 13); 3 % are refused (403) on the
origin; 8 % of the tasks fail. The task directory of each node is written the way
RESTEnvironment::active_workers writes it (pve-formats.md §2.2, §2.3; formats shared with
gen-tasks.py): appends of the tasks found finished, newest first by starttime, `index` renamed to
`index.1` after an append that found it over 50,000 bytes, `active` with the running tasks and up
to 25 recent finished ones.

Output (OUTDIR), a function of (--nodes, --requests, --seed, --net) only:
  pveK/access.log           R client requests + the hops proxied to pveK, time order
  pveK/tasks/index, index.1, active
  pveK/etc-pve/.members     pmxcfs' format (pve-cluster src/pmxcfs/status.c, as
                            tests/integration/cluster_util.rs write_members), nodename pveK
  truth.json                counts: per node (client requests, lines, bytes, writes, tasks, hops
                            received and sent, hops received by origin) and for the cluster:
                            "proxied": {"total", "writes", "reads"} = the hops a read of every
                            node folds (writes: POST/PUT/DELETE only), "proxied_by_origin",
                            "pairs" {"pveA>pveB": n} (for a read of only some nodes: a hop is
                            folded when both its origin and its target are read).

--check re-reads what was written and validates it: §1.2 line format, time order per node,
each hop's origin line on the origin node (same user and request line, 0 to 2 s later), every
UPID in the files of the node it names and decodable (§2.1), the counts of truth.json, and that
a second generation is identical. Pure stdlib.

Usage: gen-cluster.py OUTDIR [--nodes 3] [--requests 20000] [--seed 1] [--net 10.214.0]
                      [--check]
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import random
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMA = HERE.parent.parent / "shared" / "data" / "pve-api-schema.json"

TZ, TZ_SECONDS = "+0200", 2 * 3600          # as gen-access-log.py: the nodes' local time, CEST
START = calendar.timegm((2026, 6, 24, 0, 0, 0)) - TZ_SECONDS
RATE = 4                                    # client requests per second and node, on average
MAXSIZE = 50000                             # RESTEnvironment::active_workers: rotate past this
MAX_FINISHED = 25                           # finished tasks kept in `active`
HZ = 100                                    # clock ticks per second (pstart unit)
PROXIED_WRITE_SHARE = 0.30                  # writes for a guest of another node
OTHER_NODE_POLL_SHARE = 0.15                # UI polls about another node's guest or status
REFUSED_SHARE = 0.03                        # writes refused by the origin's permission check
FAILED_SHARE = 0.08                         # tasks ending in an error
USERS = ["root@pam", "alice@pve", "bob@pve", "carol@pve"]
TOKEN = ("::ffff:192.168.10.40", "automation@pve!ci")   # a CI pipeline, on pve1
STORAGES = ["local", "local-lvm", "ceph-vm"]

# pve-formats.md §1.2, §2.1, §2.2, §2.3 (the same expressions as gen-tasks.py's --check)
ACCESS_RE = re.compile(
    r'^(?P<ip>\S+) - (?P<user>\S+) \[(?P<day>\d\d)/(?P<mon>\d\d)/(?P<year>\d{4}):'
    r'(?P<time>\d\d:\d\d:\d\d) (?P<tz>[+-]\d{4})\] "(?P<req>.*)" (?P<status>\d{3}) '
    r'(?P<len>\d+|-)$')
UPID_RE = re.compile(r'^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):'
                     r'([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$')
INDEX_RE = re.compile(r'^(\S+)(\s([0-9A-Za-z]{8})(\s(\S.*))?)?$')
ACTIVE_RE = re.compile(r'^(\S+)\s(0|1)(\s([0-9A-Za-z]{8})(\s(\s*\S.*))?)?$')

# The web UI's store loads (GET /api2/json...): template, (min, max) length, weight.
# {node} is the node the view is about: the origin itself, or another node (then proxied when
# the schema's method has proxyto).
POLL = [
    ("/cluster/resources", (2500, 9000), 22),
    ("/cluster/tasks", (900, 3500), 14),
    ("/cluster/status", (400, 700), 10),
    ("/nodes/{node}/status", (700, 950), 10),
    ("/nodes/{node}/qemu/{vmid}/status/current", (500, 800), 14),
    ("/nodes/{node}/qemu/{vmid}/rrddata?timeframe=hour&cf=AVERAGE", (3000, 9000), 8),
    ("/nodes/{node}/rrddata?timeframe=hour&cf=AVERAGE", (3000, 9000), 4),
    ("/nodes/{node}/lxc/{ctid}/status/current", (400, 700), 5),
    ("/nodes/{node}/qemu/{vmid}/config", (400, 1200), 3),
    ("/nodes/{node}/qemu/{vmid}/pending", (500, 1500), 2),
    ("/nodes/{node}/storage/{storage}/status", (200, 400), 2),
    ("/nodes/{node}/tasks?start=0&limit=50&vmid={vmid}", (300, 2500), 1),
    ("/nodes", (300, 600), 1),
    ("/version", (80, 120), 1),
]

# Writes: method, template, weight. Task types come from the schema.
WRITES = [
    ("POST", "/nodes/{node}/qemu/{vmid}/status/start", 14),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown", 8),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/stop", 4),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/reboot", 3),
    ("PUT", "/nodes/{node}/qemu/{vmid}/config", 8),
    ("POST", "/nodes/{node}/qemu/{vmid}/config", 4),
    ("POST", "/nodes/{node}/qemu/{vmid}/snapshot", 4),
    ("DELETE", "/nodes/{node}/qemu/{vmid}/snapshot/{snap}", 2),
    ("DELETE", "/nodes/{node}/qemu/{vmid}?purge=1&destroy-unreferenced-disks=1", 2),
    ("POST", "/nodes/{node}/qemu/{vmid}/migrate", 1),
    ("POST", "/nodes/{node}/lxc/{ctid}/status/start", 4),
    ("POST", "/nodes/{node}/lxc/{ctid}/status/shutdown", 2),
    ("PUT", "/nodes/{node}/lxc/{ctid}/config", 2),
    ("POST", "/nodes/{node}/vzdump", 1),
]

STATIC = ["/pve2/ext6/ext-all.js?ver=7.0.0", "/pve2/js/pvemanagerlib.js?ver=8.2.4",
          "/pwt/css/ext6-pmx.css?ver=4.2.3", "/pve2/css/ext6-pve.css?ver=8.2.4",
          "/favicon.ico", "/"]

# Task error messages (PVE::UPID::read_status: the TASK ERROR text), by task type prefix.
ERRORS = {
    "qmstart": "VM {id} already running", "qmshutdown": "VM quit/powerdown failed - got timeout",
    "qmstop": "VM {id} not running", "qmreboot": "VM {id} not running",
    "qmconfig": "can't lock file '/var/lock/qemu-server/lock-{id}.conf' - got timeout",
    "qmsnapshot": "snapshot feature is not available", "qmdelsnapshot": "snapshot 'snap1' does not exist",
    "qmdestroy": "VM {id} is running - destroy failed", "qmigrate": "migration aborted",
    "vzstart": "CT {id} already running", "vzshutdown": "CT {id} not running",
    "vzdump": "job errors",
}


# --------------------------------------------------------------------------- the schema

class Schema:
    """The API methods of ../shared/data/pve-api-schema.json: proxyto and task types."""

    def __init__(self, path: Path):
        data = json.loads(path.read_text())
        self.methods = []
        for m in data["methods"]:
            rx = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(m["path"])) + "$")
            self.methods.append((m["method"], rx, m))
        self.cache = {}

    def find(self, method: str, path: str):
        """The schema's method for METHOD and a path under /api2/<fmt> (no query)."""
        key = (method, re.sub(r"/\d+", "/1", path))
        if key not in self.cache:
            hits = [m for meth, rx, m in self.methods if meth == method and rx.match(path)]
            # The most specific match: the template with the fewest parameters.
            hits.sort(key=lambda m: m["path"].count("{"))
            self.cache[key] = hits[0] if hits else None
        return self.cache[key]

    def proxied(self, method: str, path: str) -> bool:
        m = self.find(method, path)
        return m is not None and m.get("proxyto") == "node"


# --------------------------------------------------------------------------- the model

class Node:
    def __init__(self, k: int, net: str, rng: random.Random):
        self.k = k
        self.name = f"pve{k}"
        self.addr = f"{net}.{k}"
        self.qemu = [100 * k + i for i in range(8)]
        self.lxc = [100 * k + 50 + i for i in range(3)]
        # Browser sessions on this node: (client, user, weight)
        self.sessions = [(f"::ffff:192.168.{10 + k // 200}.{(k * 7 + i) % 200 + 20}",
                          USERS[(k + i) % len(USERS)], w)
                         for i, w in enumerate((45, 30, 15, 10))]
        self.lines = []            # (t, seq, text)
        self.tasks = []            # Task
        self.pid = 20000 + rng.randrange(100000)
        self.boot = START - rng.randrange(2 * 86400, 300 * 86400)
        self.stats = {"requests": 0, "writes": 0, "refused": 0, "hops_received": 0,
                      "hops_sent": 0, "hops_received_by_origin": {}}


class Task:
    __slots__ = ("upid", "start", "end", "status")

    def __init__(self, upid, start, end, status):
        self.upid, self.start, self.end, self.status = upid, start, end, status


def stamp_cache():
    cache = {}

    def stamp(t: int) -> str:
        s = cache.get(t)
        if s is None:
            tm = time.gmtime(t + TZ_SECONDS)
            s = (f"{tm.tm_mday:02d}/{tm.tm_mon:02d}/{tm.tm_year}:"
                 f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {TZ}")
            if len(cache) > 100000:
                cache.clear()
            cache[t] = s
        return s
    return stamp


def weighted(rng, table):
    return rng.choices(table, [row[-1] for row in table])[0]


def fill(rng, template: str, node: Node) -> str:
    return template.format(node=node.name, vmid=rng.choice(node.qemu), ctid=rng.choice(node.lxc),
                           storage=rng.choice(STORAGES), snap=f"snap{rng.randint(1, 9)}")


def extjs_error(message: str, status: int) -> int:
    """Length of an extjs error body (Formatter/Standard.pm, Perl's JSON: keys sorted)."""
    return len(json.dumps({"data": None, "message": message + "\n", "status": status,
                           "success": 0}, separators=(",", ":")))


def generate(nodes_n: int, requests: int, seed: int, net: str, schema: Schema):
    """Returns ({relative path: bytes}, truth)."""
    rng = random.Random(seed)
    nodes = [Node(k, net, rng) for k in range(1, nodes_n + 1)]
    stamp = stamp_cache()
    span = max(60, requests // RATE)
    seq = 0
    pairs = {}
    proxied = {"total": 0, "writes": 0, "reads": 0}

    def log(node: Node, t: int, ip: str, user: str, request: str, status: int, length):
        nonlocal seq
        seq += 1
        node.lines.append((t, seq, f'{ip} - {user} [{stamp(t)}] "{request}" {status} {length}\n'))

    def hop(origin: Node, target: Node, bt: int, user: str, request: str, status, length,
            write: bool):
        """The target's copy of a call proxied from origin: origin's address, same user and
        request line, the target's answer, at the target's time bt (0-2 s before origin's)."""
        log(target, bt, f"::ffff:{origin.addr}", user, request, status, length)
        origin.stats["hops_sent"] += 1
        target.stats["hops_received"] += 1
        by = target.stats["hops_received_by_origin"]
        by[origin.name] = by.get(origin.name, 0) + 1
        key = f"{origin.name}>{target.name}"
        pairs[key] = pairs.get(key, 0) + 1
        proxied["total"] += 1
        proxied["writes" if write else "reads"] += 1

    def ahead() -> int:
        """How much earlier the target's line is: B answers first."""
        return rng.choices((0, 1, 2), (5, 3, 1))[0]

    def other(node: Node) -> Node:
        if nodes_n == 1:
            return node
        k = rng.randrange(nodes_n - 1)
        return nodes[k if k < node.k - 1 else k + 1]

    def write(origin: Node, t: int, ip: str, user: str, fmt: str):
        target = other(origin) if rng.random() < PROXIED_WRITE_SHARE else origin
        method, template, _ = weighted(rng, WRITES)
        uri = f"/api2/{fmt}{fill(rng, template, target)}"
        path = uri.split("?", 1)[0][len(f"/api2/{fmt}"):]
        m = schema.find(method, path)
        if m is None:
            raise SystemExit(f"gen-cluster: {method} {path} is not in {SCHEMA}")
        request = f"{method} {uri} HTTP/1.1"
        origin.stats["writes"] += 1
        if rng.random() < REFUSED_SHARE:
            # PVE/HTTPServer.pm: check_api2_permissions runs on the origin, before the proxy.
            vmid = re.search(r"/(?:qemu|lxc)/(\d+)", path)
            msg = (f"Permission check failed (/vms/{vmid[1]}, VM.PowerMgmt)" if vmid
                   else "Permission check failed (/storage/local, Datastore.AllocateSpace)")
            if fmt == "extjs":
                log(origin, t, ip, user, request, 200, extjs_error(msg, 403))
            else:
                log(origin, t, ip, user, request, 403, len('{"data":null}'))
            origin.stats["refused"] += 1
            return
        is_hop = target is not origin and m.get("proxyto") == "node"
        doer = target if is_hop else origin
        types = [x for x in (m.get("task_types") or []) if not x.startswith("ha")]
        if m.get("returns_upid") == "yes" and types:
            vmid = re.search(r"/(?:qemu|lxc)/(\d+)", path)
            tid = vmid[1] if vmid else ""
            ttype = types[0]
            answered = t - (ahead() if is_hop else 0)
            start = answered - rng.choice((0, 0, 1))
            pstart = (start - doer.boot) * HZ + rng.randrange(HZ)
            # The pid is given in time order once all calls are made (task_files); its
            # %08X has a fixed width, so the answer's length is known now.
            upid = f"UPID:{doer.name}:{{pid}}:{pstart:08X}:{start:08X}:{ttype}:{tid}:{user}:"
            dur = rng.choice((1, 2, 3, 5, 8, 13, 30, 90))
            status = "OK"
            if rng.random() < FAILED_SHARE:
                status = ERRORS.get(ttype, "command failed").format(id=tid or 0)
            # Found finished by the parent's reap (at once) or pvestatd's 10 s tick.
            end = start + dur + rng.choice((0, 0, rng.randrange(10)))
            doer.tasks.append(Task(upid, start, end, status))
            length = len(upid) - len("{pid}") + 8 + (23 if fmt == "extjs" else 11)
        else:
            answered = t - (ahead() if is_hop else 0)
            length = 25 if fmt == "extjs" else 13      # {"data":null,"success":1} / {"data":null}
        if is_hop:
            hop(origin, target, answered, user, request, 200, length, write=True)
        log(origin, t, ip, user, request, 200, length)

    kinds = ["poll", "static", "login", "unauth", "write", "token"]
    kind_w = [88.0, 3.5, 1.0, 0.5, 3.6, 0.4]
    for node in nodes:
        times = sorted(START + rng.randrange(span) for _ in range(requests))
        sessions = [(ip, user, w) for ip, user, w in node.sessions]
        for t, kind in zip(times, rng.choices(kinds, kind_w, k=requests)):
            node.stats["requests"] += 1
            ip, user, _ = weighted(rng, sessions)
            if kind == "poll":
                template, (lo, hi), _ = weighted(rng, POLL)
                about = other(node) if rng.random() < OTHER_NODE_POLL_SHARE else node
                uri = "/api2/json" + fill(rng, template, about)
                request = f"GET {uri} HTTP/1.1"
                r = rng.random()
                status, length = (200, rng.randint(lo, hi)) if r < 0.99 else (500, "-")
                path = uri.split("?", 1)[0][len("/api2/json"):]
                if about is not node and schema.proxied("GET", path):
                    hop(node, about, t - ahead(), user, request, status, length, write=False)
                log(node, t, ip, user, request, status, length)
            elif kind == "static":
                path = rng.choice(STATIC)
                if path == "/" or rng.random() < 0.1:
                    log(node, t, ip, "-", f"GET {path} HTTP/1.1", 200, rng.randint(2000, 400000))
                else:
                    log(node, t, ip, "-", f"GET {path} HTTP/1.1", 304, "-")
            elif kind == "login":
                ok = rng.random() < 0.9
                log(node, t, ip, "-", "POST /api2/extjs/access/ticket HTTP/1.1",
                    200 if ok else 401, rng.randint(1480, 1600) if ok else "-")
            elif kind == "unauth":
                log(node, t, ip, "-", "GET /api2/json/cluster/resources HTTP/1.1", 401, "-")
            elif kind == "write":
                write(node, t, ip, user, "extjs")
            else:
                if node.k == 1:
                    write(node, t, TOKEN[0], TOKEN[1], "json")
                else:
                    write(node, t, ip, user, "extjs")

    files = {}
    end_of_log = START + span
    truth_nodes = {}
    for node in nodes:
        node.lines.sort()
        text = "".join(line for _, _, line in node.lines).encode("ascii")
        files[f"{node.name}/access.log"] = text
        # Worker pids grow with time (forks of pvedaemon), a few hundred apart.
        for task in sorted(node.tasks, key=lambda t: t.start):
            node.pid += rng.randint(1, 400)
            task.upid = task.upid.replace("{pid}", f"{node.pid:08X}")
        index, index1, active, kept, lost, running = task_files(node.tasks, end_of_log)
        files[f"{node.name}/tasks/index"] = index
        if index1 is not None:
            files[f"{node.name}/tasks/index.1"] = index1
        files[f"{node.name}/tasks/active"] = active
        files[f"{node.name}/etc-pve/.members"] = members(nodes, node).encode("ascii")
        st = dict(node.stats)
        st.update({"addr": node.addr, "lines": len(node.lines), "bytes": len(text),
                   "tasks": len(node.tasks), "tasks_in_files": kept, "tasks_lost": lost,
                   "tasks_running": running})
        truth_nodes[node.name] = st
    truth = {
        "generator": "scripts/gen-cluster.py", "seed": seed, "nodes": nodes_n,
        "requests_per_node": requests, "net": net,
        "first": stamp(START), "last": stamp(end_of_log),
        "bytes": sum(n["bytes"] for n in truth_nodes.values()),
        "lines": sum(n["lines"] for n in truth_nodes.values()),
        "writes": sum(n["writes"] for n in truth_nodes.values()),
        "proxied": proxied,
        "proxied_by_origin": {n.name: n.stats["hops_sent"] for n in nodes},
        "pairs": dict(sorted(pairs.items())),
        "node": truth_nodes,
    }
    files["truth.json"] = (json.dumps(truth, indent=1) + "\n").encode("ascii")
    return files, truth


def task_files(tasks, end_of_log):
    """index, index.1 (or None), active, as active_workers leaves them at end_of_log; and the
    counts of tasks kept in the files, lost to index.1's clobbering, still running."""
    finished = sorted((t for t in tasks if t.end <= end_of_log), key=lambda t: t.end)
    running = [t for t in tasks if t.end > end_of_log]
    gens = []           # finished generations, oldest first (only the last survives as index.1)
    index = []
    size = 0
    i = 0
    while i < len(finished):
        j = i
        while j < len(finished) and finished[j].end == finished[i].end:
            j += 1
        batch = sorted(finished[i:j], key=lambda t: t.start, reverse=True)
        seen = size                               # `-s $fh` before the buffered append
        for t in batch:
            line = f"{t.upid} {t.end:08X} {t.status}\n"
            index.append(line)
            size += len(line)
        if seen > MAXSIZE:
            gens.append(index)
            index, size = [], 0
        i = j
    index1 = gens[-1] if gens else None
    lost = sum(len(g) for g in gens[:-1])
    recent = sorted(finished, key=lambda t: t.end)[-MAX_FINISHED:]
    active = [f"{t.upid} 0\n" for t in sorted(running, key=lambda t: t.start)]
    active += [f"{t.upid} 1 {t.end:08X} {t.status}\n" for t in reversed(recent)]
    kept = len(index) + (len(index1) if index1 else 0) + len(running)
    return ("".join(index).encode("ascii"),
            None if index1 is None else "".join(index1).encode("ascii"),
            "".join(active).encode("ascii"), kept, lost, len(running))


def members(nodes, me: Node) -> str:
    """/etc/pve/.members as pmxcfs writes it (pve-cluster src/pmxcfs/status.c,
    cfs_create_memberlist_msg; same text as cluster_util.rs write_members)."""
    body = ",\n".join(f'  "{n.name}": {{ "id": {n.k}, "online": 1, "ip": "{n.addr}"}}'
                      for n in nodes)
    return (f'{{\n"nodename": "{me.name}",\n"version": {len(nodes) + 2},\n'
            f'"cluster": {{ "name": "bench", "version": {len(nodes)}, "nodes": {len(nodes)}, '
            f'"quorate": 1 }},\n"nodelist": {{\n{body}\n  }}\n}}\n')


def write(outdir: Path, files) -> None:
    for rel, data in files.items():
        path = outdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for k in range(1, 10_000):       # a stale index.1 of an earlier run would be read
        d = outdir / f"pve{k}"
        if not d.exists():
            break
        if f"pve{k}/tasks/index.1" not in files:
            (d / "tasks/index.1").unlink(missing_ok=True)


# --------------------------------------------------------------------------- --check

def check(outdir: Path, args, files, truth, schema: Schema) -> list[str]:
    errs = []

    def err(msg):
        if len(errs) < 50:
            errs.append(msg)

    addrs = {n["addr"]: name for name, n in truth["node"].items()}
    origin_lines = {}       # (node, user, request) -> [times]
    hops = []               # (target, origin, user, request, t, status, length)
    counts = {name: 0 for name in truth["node"]}
    for name in truth["node"]:
        raw = (outdir / name / "access.log").read_bytes().decode("ascii")
        if not raw.endswith("\n"):
            err(f"{name}/access.log does not end in a newline")
        prev = 0
        for i, text in enumerate(raw.split("\n")[:-1], 1):
            m = ACCESS_RE.match(text)
            if not m:
                err(f"{name}/access.log:{i}: not a §1.2 line: {text}")
                continue
            counts[name] += 1
            t = calendar.timegm(time.strptime(f"{m['day']}/{m['mon']}/{m['year']}:{m['time']}",
                                              "%d/%m/%Y:%H:%M:%S")) - TZ_SECONDS
            if t < prev:
                err(f"{name}/access.log:{i}: earlier than the line before it")
            prev = t
            ip = m["ip"].removeprefix("::ffff:")
            if ip in addrs:
                hops.append((name, addrs[ip], m["user"], m["req"], t, m["status"], m["len"], i))
            else:
                origin_lines.setdefault((name, m["user"], m["req"]), []).append(
                    (t, m["status"], m["len"]))
    for name, n in counts.items():
        if n != truth["node"][name]["lines"]:
            err(f"{name}: {n} lines, truth says {truth['node'][name]['lines']}")
    found = {"total": 0, "writes": 0, "reads": 0}
    for target, origin, user, req, t, status, length, i in hops:
        meth, uri = req.split(" ")[:2]
        path = re.sub(r"^/api2/[a-z]+", "", uri.split("?", 1)[0])
        if not path.startswith(f"/nodes/{target}/"):
            err(f"{target}/access.log:{i}: a hop from {origin} for another node: {req}")
        if not schema.proxied(meth, path):
            err(f"{target}/access.log:{i}: {meth} {path} has no proxyto in the schema")
        if origin == target:
            err(f"{target}/access.log:{i}: a hop from the node itself")
        cands = origin_lines.get((origin, user, req), [])
        if not any(0 <= ot - t <= 2 and os == status and ol == length for ot, os, ol in cands):
            err(f"{target}/access.log:{i}: no origin line on {origin} 0-2 s later: {req}")
        found["total"] += 1
        found["writes" if meth in ("POST", "PUT", "DELETE") else "reads"] += 1
    if found != truth["proxied"]:
        err(f"hops in the logs {found}, truth says {truth['proxied']}")
    upids = set()
    for name in truth["node"]:
        tasks = outdir / name / "tasks"
        n = 0
        for fname in ("index", "index.1"):
            if not (tasks / fname).exists():
                continue
            for i, text in enumerate((tasks / fname).read_text().split("\n")[:-1], 1):
                m = INDEX_RE.match(text)
                u = UPID_RE.match(m[1]) if m else None
                if not u or m[3] is None:
                    err(f"{name}/tasks/{fname}:{i}: not a §2.2 line: {text}")
                    continue
                if u[1] != name:
                    err(f"{name}/tasks/{fname}:{i}: a task of {u[1]}")
                if m[1] in upids:
                    err(f"{name}/tasks/{fname}:{i}: UPID twice")
                upids.add(m[1])
                n += 1
        for i, text in enumerate((tasks / "active").read_text().split("\n")[:-1], 1):
            m = ACTIVE_RE.match(text)
            if not m or not UPID_RE.match(m[1]):
                err(f"{name}/tasks/active:{i}: not a §2.3 line: {text}")
            elif m[2] == "0":
                n += 1
            elif m[1] not in upids:
                err(f"{name}/tasks/active:{i}: a finished task in no index")
        if n != truth["node"][name]["tasks_in_files"]:
            err(f"{name}: {n} tasks in the files, truth says "
                f"{truth['node'][name]['tasks_in_files']}")
        mem = json.loads((outdir / name / "etc-pve/.members").read_text())
        if mem["nodename"] != name or {k: v["ip"] for k, v in mem["nodelist"].items()} != \
                {k: v["addr"] for k, v in truth["node"].items()}:
            err(f"{name}/etc-pve/.members: wrong node list")
    again, _ = generate(args.nodes, args.requests, args.seed, args.net, schema)
    if again != files:
        err("a second generation with the same arguments differs")
    return errs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", metavar="OUTDIR")
    ap.add_argument("--nodes", type=int, default=3, help="nodes pve1..pveN (default 3)")
    ap.add_argument("--requests", type=int, default=20000,
                    help="client requests per node (default 20000); each node's log also holds "
                         "the hops proxied to it")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--net", default="10.214.0",
                    help="the first three octets of the nodes' addresses: pveK is NET.K "
                         "(default 10.214.0)")
    ap.add_argument("--check", action="store_true",
                    help="validate the written files (formats, hops, truth, reproducibility)")
    args = ap.parse_args(argv)
    if not 1 <= args.nodes <= 253:
        ap.error("--nodes must be 1 to 253")
    if args.requests < 10:
        ap.error("--requests must be at least 10")
    if not re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})", args.net) or \
            any(int(x) > 255 for x in args.net.split(".")):
        ap.error("--net must be three octets, e.g. 10.214.0")
    if not SCHEMA.exists():
        print(f"gen-cluster: {SCHEMA} is missing (the API schema: proxyto, task types)",
              file=sys.stderr)
        return 2
    schema = Schema(SCHEMA)
    t0 = time.perf_counter()
    files, truth = generate(args.nodes, args.requests, args.seed, args.net, schema)
    outdir = Path(args.outdir)
    write(outdir, files)
    dt = time.perf_counter() - t0
    p = truth["proxied"]
    digest = hashlib.sha256(b"".join(files[k] for k in sorted(files))).hexdigest()[:12]
    print(f"gen-cluster: {outdir}: {args.nodes} nodes, {truth['lines']} lines "
          f"({truth['bytes'] / 1048576:.1f} MiB) [{truth['first']} .. {truth['last']}], "
          f"{truth['writes']} writes, {p['total']} proxied hops ({p['writes']} writes, "
          f"{p['reads']} reads); seed {args.seed}, sha256 {digest}, {dt:.1f} s", file=sys.stderr)
    if args.check:
        errs = check(outdir, args, files, truth, schema)
        for e in errs:
            print(f"gen-cluster: check: {e}", file=sys.stderr)
        if errs:
            return 1
        print("gen-cluster: check: OK", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
