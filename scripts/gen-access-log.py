#!/usr/bin/env python3
"""Generate a large, deterministic, realistic pveproxy access.log for benchmarks.

Why: pverec's performance budget (docs/design.md) is measured on a plain access.log
of a few hundred MB, and the figures only mean something if the input looks like
what a busy Proxmox VE node writes (docs/pve-formats.md section 1): mostly web-UI
polling GETs under /api2/json, a few percent of writes through /api2/extjs, logins,
consoles, static files, API tokens, IPv4-mapped and IPv6 clients, errors, and
numeric-month timestamps that never go backwards.

How: the output is a function of (--seed, --size-mb) only: no wall clock, no
environment. To stay fast in pure Python (about 100+ MB/s), a pool of request
"entries" is sampled once from the traffic model below; each entry is a line
without its timestamp. Lines then pick entries uniformly from that pool (which
keeps the model's proportions) and get a clock that advances by whole seconds,
several lines per second, with occasional idle gaps. Output is written in
multi-MB chunks, optionally through gzip (mtime 0, no file name: reproducible).

Usage: gen-access-log.py [--size-mb 256] [--seed 1] [--gzip] OUT
A one-line summary (lines, bytes, write share) goes to stderr.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import random
import sys
import time

MIB = 1024 * 1024
POOL_SIZE = 1 << 17          # distinct timestamp-less lines sampled from the model
CHUNK_BYTES = 8 * MIB        # write granularity
TZ = "+0200"                 # fixed offset: the node's local time, CEST
TZ_SECONDS = 2 * 3600
START_LOCAL = (2026, 6, 24, 0, 0, 0)   # local wall time of the first line

NODE = "pve1"
QEMU_IDS = [100, 101, 102, 103, 104, 105, 110, 111, 120, 121]
LXC_IDS = [200, 201, 202, 210]
VM_NAMES = {100: "web01", 101: "web02", 102: "db01", 103: "ci-runner", 104: "mail",
            105: "win11", 110: "k8s-cp1", 111: "k8s-w1", 120: "backup", 121: "dev"}
STORAGES = ["local", "local-lvm", "nfs-backup", "ceph-vm"]
HEX = "0123456789ABCDEF"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

# Browser sessions: (client ip, user). Weights are a share of the UI traffic.
UI_SESSIONS = [
    (("::ffff:192.168.10.23", "root@pam"), 45),
    (("::ffff:192.168.10.31", "alice@pve"), 25),
    (("2001:db8::17", "bob@pve"), 12),
    (("::ffff:192.168.10.57", "alice@pve"), 8),
    (("10.20.0.5", "root@pam"), 5),             # behind a reverse proxy: plain IPv4
    (("::ffff:10.0.0.12", "root@pam"), 5),      # proxied from node pve2
]
TOKENS = [
    (("::ffff:192.168.10.40", "automation@pve!ci"), 60),
    (("192.168.20.5", "monitor@pve!grafana"), 40),
]


def weighted(rng: random.Random, table):
    """Pick a row from [(..., weight), ...]; the weight is the last element."""
    return rng.choices(table, [row[-1] for row in table])[0]


def hexid(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(HEX) for _ in range(n))


def upid(rng: random.Random, kind: str, vmid, user: str) -> str:
    """A UPID, percent-encoded the way the GUI's encodeURIComponent() sends it."""
    raw = (f"UPID:{NODE}:{hexid(rng, 8)}:{hexid(rng, 8)}:{hexid(rng, 8)}:"
           f"{kind}:{vmid}:{user}:")
    return raw.replace(":", "%3A").replace("@", "%40").replace("!", "%21")


def vncticket(rng: random.Random) -> str:
    body = "".join(rng.choice(B64) for _ in range(120))
    body = body.replace("a", "%2F", 3).replace("b", "%2B", 3)
    return f"PVEVNC%3A{hexid(rng, 8)}%3A%3A{body}%3D%3D"


def fill(rng: random.Random, template: str, user: str) -> str:
    """Fill the {placeholders} of a path template with plausible values."""
    vmid = rng.choice(QEMU_IDS)
    values = {
        "node": NODE if rng.random() < 0.9 else rng.choice(["pve2", "pve3"]),
        "vmid": vmid,
        "ctid": rng.choice(LXC_IDS),
        "storage": rng.choice(STORAGES),
        "snap": f"snap{rng.randint(1, 40)}",
        "newid": rng.randint(1000, 1999),
        "verb": rng.choices(["start", "stop", "shutdown", "reboot"], [4, 2, 3, 1])[0],
    }
    if "{upid_" in template:
        values["upid_qmstart"] = upid(rng, "qmstart", vmid, user)
        values["upid_vzdump"] = upid(rng, "vzdump", vmid, user)
    return template.format(**values)


def read_status(rng: random.Random, size: int):
    """Status and length of an authenticated GET: mostly 200, a few errors."""
    r = rng.random()
    if r < 0.985:
        return 200, str(size)
    if r < 0.991:
        return 403, str(rng.randint(60, 120))
    if r < 0.996:
        return 500, "-"                          # client went away
    return 596, "-"                              # proxy to another node failed


# GUI store loads, polled every few seconds: (path under /api2/json, (min, max) length, weight)
POLL = [
    ("/cluster/resources", (2500, 9000), 22),
    ("/cluster/tasks", (900, 3500), 14),
    ("/cluster/status", (400, 700), 10),
    ("/nodes/{node}/status", (700, 950), 10),
    ("/nodes/{node}/qemu/{vmid}/status/current", (500, 800), 12),
    ("/nodes/{node}/qemu/{vmid}/rrddata?timeframe=hour&cf=AVERAGE", (3000, 9000), 8),
    ("/nodes/{node}/rrddata?timeframe=hour&cf=AVERAGE", (3000, 9000), 4),
    ("/nodes/{node}/lxc/{ctid}/status/current", (400, 700), 4),
    ("/nodes/{node}/lxc/{ctid}/rrddata?timeframe=day&cf=AVERAGE", (3000, 9000), 2),
    ("/nodes/{node}/qemu/{vmid}/config", (400, 1200), 3),
    ("/nodes/{node}/qemu/{vmid}/pending", (500, 1500), 2),
    ("/nodes/{node}/storage/{storage}/status", (200, 400), 2),
    ("/nodes/{node}/storage/{storage}/content?content=images", (300, 3000), 1),
    ("/nodes/{node}/tasks?start=0&limit=50&vmid={vmid}", (300, 2500), 1),
    ("/nodes/{node}/tasks/{upid_qmstart}/status", (250, 400), 2),
    ("/nodes/{node}/tasks/{upid_vzdump}/log?start=0&limit=500", (300, 4000), 1),
    ("/nodes", (300, 600), 1),
    ("/version", (80, 120), 1),
    ("/cluster/nextid", (20, 40), 0.5),
    ("/nodes/{node}/network?type=any_bridge", (300, 900), 0.5),
]

# Monitoring and automation tokens reading
TOKEN_POLL = [
    ("/cluster/resources?type=vm", (2000, 8000), 5),
    ("/nodes/pve1/status", (700, 950), 3),
    ("/nodes/pve1/qemu/{vmid}/status/current", (500, 800), 2),
    ("/cluster/metrics/export?history=0", (5000, 20000), 1),
]

# GUI actions and edits, sent through /api2/extjs: (method, path, returns a UPID, weight)
GUI_WRITES = [
    ("POST", "/nodes/pve1/qemu/{vmid}/status/{verb}", True, 30),
    ("POST", "/nodes/pve1/lxc/{ctid}/status/{verb}", True, 10),
    ("PUT", "/nodes/pve1/qemu/{vmid}/config", False, 10),
    ("POST", "/nodes/pve1/qemu/{vmid}/config", True, 4),
    ("PUT", "/nodes/pve1/lxc/{ctid}/config", False, 4),
    ("POST", "/nodes/pve1/qemu/{vmid}/snapshot", True, 8),
    ("DELETE", "/nodes/pve1/qemu/{vmid}/snapshot/{snap}", True, 4),
    ("POST", "/nodes/pve1/qemu/{vmid}/snapshot/{snap}/rollback", True, 2),
    ("DELETE", "/nodes/pve1/qemu/{vmid}?purge=1&destroy-unreferenced-disks=1", True, 2),
    ("DELETE", "/nodes/pve1/lxc/{ctid}?purge=1&force=1", True, 1),
    ("POST", "/nodes/pve1/qemu", True, 2),
    ("POST", "/nodes/pve1/lxc", True, 1),
    ("POST", "/nodes/pve1/qemu/{vmid}/migrate", True, 2),
    ("POST", "/nodes/pve1/vzdump", True, 3),
    ("PUT", "/nodes/pve1/qemu/{vmid}/resize", True, 1),
    ("POST", "/access/users", False, 1),
    ("PUT", "/access/users/bob%40pve", False, 1),
    ("PUT", "/access/acl", False, 1),
    ("DELETE", "/access/tfa/alice%40pve/totp1?password=Winter2026%21", False, 0.3),
    ("DELETE", "/nodes/pve1/storage/local/content/local%3Aiso%2Fdebian-12.5.0-amd64-netinst.iso",
     True, 0.5),
    ("PUT", "/cluster/options", False, 0.5),
    ("POST", "/cluster/backup", False, 0.5),
]

# A CI pipeline's token, through /api2/json, sometimes with parameters in the query string
TOKEN_WRITES = [
    ("POST", "/nodes/pve1/qemu/{vmid}/status/start", 4),
    ("POST", "/nodes/pve1/qemu/{vmid}/status/stop", 2),
    ("POST", "/nodes/pve1/qemu/9000/clone?newid={newid}&name=ci-{newid}&full=1", 3),
    ("DELETE", "/nodes/pve1/qemu/{newid}?purge=1&destroy-unreferenced-disks=1", 3),
    ("PUT", "/nodes/pve1/qemu/{vmid}/config", 1),
    ("POST", "/nodes/pve1/qemu/{vmid}/snapshot?snapname=pre-deploy-{newid}"
     "&description=CI+run+%23{newid}", 1),
]


# --- traffic model: each kind returns (ip, user, request line, status, length) ---

def k_poll(rng):
    ip, user = weighted(rng, UI_SESSIONS)[0]
    template, (lo, hi), _ = weighted(rng, POLL)
    status, length = read_status(rng, rng.randint(lo, hi))
    return ip, user, f"GET /api2/json{fill(rng, template, user)} HTTP/1.1", status, length


def k_token_read(rng):
    ip, user = weighted(rng, TOKENS)[0]
    template, (lo, hi), _ = weighted(rng, TOKEN_POLL)
    status, length = read_status(rng, rng.randint(lo, hi))
    return ip, user, f"GET /api2/json{fill(rng, template, user)} HTTP/1.1", status, length


def k_write(rng):
    ip, user = weighted(rng, UI_SESSIONS)[0]
    method, template, task, _ = weighted(rng, GUI_WRITES)
    status, length = 200, str(rng.randint(78, 92) if task else 30)  # extjs: errors are 200 too
    r = rng.random()
    if r < 0.01:
        status, length = 500, "-"
    elif r < 0.015:
        status, length = 596, "-"
    return ip, user, f"{method} /api2/extjs{fill(rng, template, user)} HTTP/1.1", status, length


def k_upload(rng):
    ip, user = weighted(rng, UI_SESSIONS)[0]
    path = f"/nodes/{NODE}/storage/local/upload"
    return ip, user, f"POST /api2/json{path} HTTP/1.1", 200, str(rng.randint(78, 92))


def k_token_write(rng):
    ip, user = TOKENS[0][0]
    method, template, _ = weighted(rng, TOKEN_WRITES)
    r = rng.random()
    if r < 0.95:
        status, length = 200, str(rng.randint(78, 92))
    elif r < 0.99:
        status, length = 403, str(rng.randint(60, 120))
    else:
        status, length = 500, str(rng.randint(40, 90))
    return ip, user, f"{method} /api2/json{fill(rng, template, user)} HTTP/1.1", status, length


def k_login(rng):
    ip = rng.choice([s[0][0] for s in UI_SESSIONS] + [f"::ffff:192.168.10.{rng.randint(2, 254)}"])
    if rng.random() < 0.85:
        return ip, "-", "POST /api2/extjs/access/ticket HTTP/1.1", 200, str(rng.randint(1480, 1600))
    if rng.random() < 0.5:
        return ip, "-", "POST /api2/extjs/access/ticket HTTP/1.1", 401, "-"
    return ip, "-", "GET /api2/json/access/domains HTTP/1.1", 200, str(rng.randint(150, 300))


def k_console(rng):
    ip, user = weighted(rng, UI_SESSIONS)[0]
    vmid = rng.choice(QEMU_IDS)
    port = 5900 + rng.randint(0, 9)
    r = rng.random()
    if r < 0.35:
        return ip, user, f"POST /api2/extjs/nodes/{NODE}/qemu/{vmid}/vncproxy HTTP/1.1", \
            200, str(rng.randint(480, 560))
    if r < 0.45:
        return ip, user, f"POST /api2/extjs/nodes/{NODE}/termproxy HTTP/1.1", \
            200, str(rng.randint(480, 560))
    if r < 0.85:
        return ip, user, (f"GET /api2/json/nodes/{NODE}/qemu/{vmid}/vncwebsocket?port={port}"
                          f"&vncticket={vncticket(rng)} HTTP/1.1"), 101, "-"
    return ip, "-", (f"GET /?console=kvm&novnc=1&vmid={vmid}&vmname={VM_NAMES[vmid]}"
                     f"&node={NODE}&resize=off&cmd= HTTP/1.1"), 200, str(rng.randint(2400, 2600))


STATIC = [
    ("/pve2/ext6/ext-all.js?ver=7.0.0", 10),
    ("/pve2/js/pvemanagerlib.js?ver=8.2.4", 8),
    ("/pwt/css/ext6-pmx.css?ver=4.2.3", 6),
    ("/pve2/css/ext6-pve.css?ver=8.2.4", 6),
    ("/pwt/proxmoxlib.js?ver=4.2.3", 6),
    ("/pve2/ext6/charts.js?ver=7.0.0", 4),
    ("/pve2/ext6/theme-crisp/resources/theme-crisp-all.css?ver=7.0.0", 4),
    ("/pve2/images/logo-128.png", 2),
    ("/pve2/fa/css/font-awesome.css", 3),
    ("/pve2/fa/fonts/fontawesome-webfont.woff2?v=4.7.0", 2),
    ("/pve2/images/icon-cpu.svg", 1),
    ("/novnc/app.js?ver=1.4.0-3", 2),
    ("/novnc/app/ui.js", 1),
    ("/xtermjs/xterm.js?ver=4.16.0-3", 1),
    ("/favicon.ico", 2),
    ("/qrcode.min.js", 1),
    ("/", 4),
]


def k_static(rng):
    ip = weighted(rng, UI_SESSIONS)[0][0]
    path = weighted(rng, STATIC)[0]
    if path == "/" or rng.random() < 0.1:
        return ip, "-", f"GET {path} HTTP/1.1", 200, str(rng.randint(2000, 400000))
    return ip, "-", f"GET {path} HTTP/1.1", 304, "-"


def k_unauth(rng):
    """Expired tickets: 401 without a user, logged before the 3 s delay."""
    ip = weighted(rng, UI_SESSIONS)[0][0]
    path = rng.choice(["/cluster/resources", "/cluster/tasks", f"/nodes/{NODE}/status"])
    return ip, "-", f"GET /api2/json{path} HTTP/1.1", 401, "-"


def k_odd(rng):
    """Rare lines: spiceproxy CONNECT, denied hosts, unparsable requests."""
    r = rng.random()
    if r < 0.5:
        vmid = rng.choice(QEMU_IDS)
        return "::ffff:192.168.10.23", "-", (
            f"CONNECT pvespiceproxy:{hexid(rng, 8).lower()}:{vmid}:{NODE}:61000::"
            f"{hexid(rng, 40).lower()}:61000 HTTP/1.1"), 200, "-"
    if r < 0.8:
        return "::ffff:203.0.113.9", "-", "GET / HTTP/1.1", 403, "-"
    return "::ffff:203.0.113.9", "-", "-", 400, "-"


# kind -> share of all lines (normalized by random.choices)
MODEL = [
    (k_poll, 84.5),
    (k_token_read, 3.0),
    (k_static, 3.5),
    (k_write, 3.2),
    (k_token_write, 0.6),
    (k_upload, 0.1),
    (k_login, 1.2),
    (k_console, 1.3),
    (k_unauth, 1.0),
    (k_odd, 0.05),
]

AUTH_OR_CONSOLE = ("/access/ticket", "/access/vncticket", "/access/openid/", "/vncproxy",
                   "/termproxy", "/spiceproxy", "/vncwebsocket", "/mtunnel", "/vncshell",
                   "/spiceshell")


def is_write(request: str) -> bool:
    """POST/PUT/DELETE, as `grep -E '"(POST|PUT|DELETE) '` counts them."""
    return request.startswith(("POST ", "PUT ", "DELETE "))


def is_write_class(request: str) -> bool:
    """pverec's default `write` class: writes under /api2/ that are not auth or console."""
    if not is_write(request):
        return False
    uri = request.split(" ", 2)[1]
    return uri.startswith("/api2/") and not any(s in uri for s in AUTH_OR_CONSOLE)


def build_pool(rng: random.Random, size: int):
    """Sample `size` timestamp-less lines from MODEL: (head, tail, write, write_class)."""
    kinds, weights = zip(*MODEL)
    pool = []
    for kind in rng.choices(kinds, weights, k=size):
        ip, user, request, status, length = kind(rng)
        pool.append((f"{ip} - {user} [", f' {TZ}] "{request}" {status} {length}\n',
                     is_write(request), is_write_class(request)))
    return pool


def seconds(rng: random.Random, start: int):
    """Yield (timestamp text, lines in that second), forever, non-decreasing."""
    t = start
    counts = list(range(1, 13))
    weights = [6, 10, 14, 16, 14, 11, 8, 6, 5, 4, 3, 3]
    while True:
        for n in rng.choices(counts, weights, k=4096):
            tm = time.gmtime(t + TZ_SECONDS)
            yield (f"{tm.tm_mday:02d}/{tm.tm_mon:02d}/{tm.tm_year}:"
                   f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"), n
            t += 1
            r = rng.random()
            if r < 0.02:
                t += rng.randint(1, 30)          # short pause
            elif r < 0.0205:
                t += rng.randint(300, 3 * 3600)  # nobody logged in


def generate(out, target: int, seed: int):
    """Write at least `target` bytes of log lines to binary file `out`. Returns stats."""
    rng = random.Random(seed)
    pool = build_pool(rng, POOL_SIZE)
    heads = [p[0] for p in pool]
    tails = [p[1] for p in pool]
    writes = [p[2] for p in pool]
    write_class = [p[3] for p in pool]
    start = calendar.timegm(START_LOCAL) - TZ_SECONDS
    clock = seconds(rng, start)
    stats = {"lines": 0, "bytes": 0, "writes": 0, "write_class": 0,
             "first": None, "last": None}
    picks_per_chunk = CHUNK_BYTES // 100
    while stats["bytes"] < target:
        picks = rng.choices(range(POOL_SIZE), k=picks_per_chunk)
        lines = []
        pos = 0
        while pos < len(picks):
            ts, n = next(clock)
            if stats["first"] is None:
                stats["first"] = ts
            stats["last"] = ts
            lines += [heads[i] + ts + tails[i] for i in picks[pos:pos + n]]
            pos += n
        used = len(lines)
        data = "".join(lines)
        if stats["bytes"] + len(data) >= target:      # last chunk: stop at the crossing line
            need = target - stats["bytes"]
            acc = 0
            for used, line in enumerate(lines, 1):
                acc += len(line)
                if acc >= need:
                    break
            data = "".join(lines[:used])
        used_picks = picks[:used]
        stats["lines"] += used
        stats["bytes"] += len(data)
        stats["writes"] += sum(writes[i] for i in used_picks)
        stats["write_class"] += sum(write_class[i] for i in used_picks)
        out.write(data.encode("ascii"))
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=256,
                    help="minimum uncompressed size in MiB (default 256)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--gzip", action="store_true", help="write gzip (level 6) instead of plain")
    ap.add_argument("out", metavar="OUT", help="output file")
    args = ap.parse_args(argv)

    target = int(args.size_mb * MIB)
    t0 = time.perf_counter()
    with open(args.out, "wb") as raw:
        if args.gzip:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6,
                               mtime=0) as gz:
                stats = generate(gz, target, args.seed)
        else:
            stats = generate(raw, target, args.seed)
        on_disk = raw.tell()
    dt = time.perf_counter() - t0
    lines = stats["lines"]
    gz_note = f", {on_disk} bytes gzip" if args.gzip else ""
    print(f"gen-access-log: {args.out}: {lines} lines, {stats['bytes']} bytes{gz_note}, "
          f"POST/PUT/DELETE {100 * stats['writes'] / lines:.2f}% "
          f"(write class {stats['write_class']}, {100 * stats['write_class'] / lines:.2f}%), "
          f"[{stats['first']} .. {stats['last']} {TZ}], seed {args.seed}, {dt:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
