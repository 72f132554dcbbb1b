#!/usr/bin/env python3
"""How many sessions `pverec sessions` rebuilds exactly, on a generated node, against the truth.

Why: issue 13 asks how well consoles, web UI logins and API token use are rebuilt as sessions.
That can only be measured on a node whose sessions are known: scripts/gen-tasks.py simulates
one (access.log, task index, journal) and writes truth-sessions.jsonl from what it simulated.

What: generates OUTDIR with gen-tasks.py (unless --no-generate), runs
  pverec sessions -f json --tasks OUTDIR/tasks --journal-file OUTDIR/journal.json
         --no-etc-pve OUTDIR/access.log
and pairs its records with the truth: consoles by UPID, else by the POST line in the
evidence; ui and api sessions by (kind, user, token, client, opened). Per kind it prints the
sessions in the truth, those rebuilt exactly (every compared field equal), those rebuilt with
differences (which fields, how often), missing ones, extra ones (pverec sessions without a
truth counterpart), and what pverec said on stderr (connections left unjoined, ambiguous).

Compared fields: kind, user, token, client, node, vmid, opened, closed, duration, status,
ended, connected (all kinds); upid, the POST and connection lines (consoles); requests,
writes, renewals (ui, api). The node of ui and api sessions is expected null: the log is
read as a copy, so pverec does not know which node wrote it (the contract: "else null"). UI sessions whose login is not in this log (a GUI on pve2 proxied
here, or a login before the log) are scored on their own row, on user, client and opened only:
without a login nobody can know where such a ticket ends. Consoles opened twice by a double
click (two windows, the same guest, the same second) are also shown on their own: their
connections fit both requests, so pverec rightly joins neither (and which task is whose
cannot be told either). The column "but counts" says how many sessions are right in every
compared field except the counts (requests, writes, renewals).

Usage: session-rate.py [OUTDIR] [--requests 200000] [--seed 1] [--pverec PATH]
                       [--no-generate] [--examples N]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ("vnc", "term", "spice", "shell", "ui", "api")
COMMON = ("kind", "user", "token", "client", "node", "vmid", "opened", "closed", "duration",
          "status", "ended", "connected")
CONSOLE = ("upid", "post_line", "connect_line")
COUNTS = ("requests", "writes", "renewals")
NO_LOGIN = ("kind", "user", "token", "client", "opened")


def line_no(ev: str) -> int | None:
    m = re.search(r"(?:^|/)access\.log:(\d+)$", ev)
    return int(m[1]) if m else None


def got_fields(rec: dict, truth: dict) -> dict:
    """pverec's record in the truth's terms: the console's POST and connection lines are the
    evidence lines that are the truth's (the POST is the first; the connection the other)."""
    out = {k: rec.get(k) for k in COMMON + COUNTS}
    upids = rec.get("evidence", {}).get("upids") or []
    out["upid"] = upids[0] if upids else None
    lines = [n for n in (line_no(e) for e in rec.get("evidence", {}).get("lines") or [])
             if n is not None]
    out["post_line"] = lines[0] if lines else None
    out["connect_line"] = lines[1] if len(lines) > 1 else None
    out["_lines"] = lines
    return out


def compared(truth: dict) -> tuple:
    if truth["kind"] == "ui" and not truth.get("login"):
        return NO_LOGIN
    if truth["kind"] in ("ui", "api"):
        return COMMON + COUNTS
    return COMMON + CONSOLE


def row_of(truth: dict) -> str:
    if truth["kind"] == "ui" and not truth.get("login"):
        return "ui (no login in log)"
    if truth.get("twin"):
        return truth["kind"] + " (double click)"
    return truth["kind"]


def want_of(truth: dict, field: str):
    if field == "node" and truth["kind"] in ("ui", "api"):
        return None
    return truth.get(field)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", nargs="?", default=str(ROOT / "target" / "session-rate"),
                    help="where the generated node goes (default target/session-rate)")
    ap.add_argument("--requests", type=int, default=200000,
                    help="access.log lines to generate (default 200000)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    ap.add_argument("--pverec", default=str(ROOT / "target" / "release" / "pverec"),
                    help="the binary (default target/release/pverec)")
    ap.add_argument("--no-generate", action="store_true",
                    help="use what is in OUTDIR (written by gen-tasks.py)")
    ap.add_argument("--examples", type=int, default=2,
                    help="examples shown per differing field (default 2)")
    args = ap.parse_args(argv)
    out = Path(args.outdir)
    if not args.no_generate:
        r = subprocess.run([sys.executable, str(HERE / "gen-tasks.py"), str(out),
                            "--requests", str(args.requests), "--seed", str(args.seed)])
        if r.returncode != 0:
            return r.returncode
    for name in ("access.log", "journal.json", "truth-sessions.jsonl"):
        if not (out / name).exists():
            print(f"session-rate: {out / name} is missing: run scripts/gen-tasks.py {out}",
                  file=sys.stderr)
            return 2
    cmd = [args.pverec, "sessions", "-f", "json", "--tasks", str(out / "tasks"),
           "--journal-file", str(out / "journal.json"), "--no-etc-pve", str(out / "access.log")]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        print(f"session-rate: cannot run {args.pverec}: {e}", file=sys.stderr)
        return 2
    if r.returncode != 0:
        print(f"session-rate: {' '.join(cmd)} exited {r.returncode}:\n{r.stderr}",
              file=sys.stderr)
        return 1
    got = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    truth = [json.loads(x) for x in (out / "truth-sessions.jsonl").read_text().splitlines()]

    # pairing
    by_upid, by_post, by_key = {}, {}, defaultdict(list)
    for i, g in enumerate(got):
        if g.get("kind") in ("ui", "api"):
            by_key[(g["kind"], g["user"], g["token"], g["client"], g["opened"])].append(i)
            continue
        for u in g.get("evidence", {}).get("upids") or []:
            by_upid[u] = i
        lines = [line_no(e) for e in g.get("evidence", {}).get("lines") or []]
        if lines and lines[0] is not None:
            by_post[lines[0]] = i
    used = set()
    rows = defaultdict(Counter)
    diffs = defaultdict(Counter)
    examples = defaultdict(list)
    missing = defaultdict(list)
    for t in truth:
        row = row_of(t)
        rows[row]["truth"] += 1
        if t["kind"] in ("ui", "api"):
            cands = [i for i in by_key.get((t["kind"], t["user"], t["token"], t["client"],
                                            t["opened"]), []) if i not in used]
            i = cands[0] if cands else None
        else:
            i = by_upid.get(t["upid"]) if t["upid"] else None
            if i is None:
                i = by_post.get(t["post_line"])
            if i is not None and i in used:
                i = None
        if i is None:
            rows[row]["missing"] += 1
            missing[row].append(t)
            continue
        used.add(i)
        g = got_fields(got[i], t)
        want = dict(t)
        if t["kind"] in ("ui", "api"):
            want["node"] = None       # a copied log: pverec is not told which node wrote it
        bad = [k for k in compared(t) if g.get(k) != want.get(k)]
        if not [k for k in bad if k not in COUNTS]:
            rows[row]["frame"] += 1
        if not bad:
            rows[row]["exact"] += 1
            continue
        rows[row]["differ"] += 1
        for k in bad:
            diffs[row][k] += 1
            if len(examples[(row, k)]) < args.examples:
                examples[(row, k)].append((t, g))
    extra = defaultdict(list)
    for i, g in enumerate(got):
        if i not in used:
            extra[g.get("kind", "?")].append(g)

    # report
    ambiguous = 0
    notes = [ln for ln in r.stderr.splitlines() if ln.strip()]
    for ln in notes:
        m = re.search(r"(\d+) console connections? (?:was|were) left unjoined: two console "
                      r"requests fitted", ln)
        if m:
            ambiguous += int(m[1])
    with open(out / "access.log", "rb") as f:
        n_lines = sum(1 for _ in f)
    print(f"pverec sessions on {out} ({n_lines} lines): "
          f"{len(truth)} sessions in the truth, {len(got)} from pverec")
    print(f"  {'kind':<22}{'truth':>7}{'exact':>7}{'differ':>8}{'missing':>9}{'extra':>7}"
          f"{'exact %':>9}{'but counts':>12}")
    order = [k for k in KINDS] + sorted(set(rows) - set(KINDS))
    tot = Counter()
    for row in order:
        c = rows.get(row)
        x = len(extra.get(row, [])) if row in KINDS else 0
        if not c and not x:
            continue
        c = c or Counter()
        tot.update(c)
        tot["extra"] += x
        pct = f"{100 * c['exact'] / c['truth']:.1f}" if c["truth"] else "-"
        print(f"  {row:<22}{c['truth']:>7}{c['exact']:>7}{c['differ']:>8}{c['missing']:>9}"
              f"{x:>7}{pct:>9}{c['frame']:>12}")
    pct = f"{100 * tot['exact'] / tot['truth']:.1f}" if tot["truth"] else "-"
    print(f"  {'all':<22}{tot['truth']:>7}{tot['exact']:>7}{tot['differ']:>8}"
          f"{tot['missing']:>9}{tot['extra']:>7}{pct:>9}{tot['frame']:>12}")
    print("  (but counts: equal in every compared field other than requests, writes, renewals)")
    print(f"  ambiguous connections (pverec stderr)  {ambiguous}")
    for ln in notes:
        print(f"  stderr: {ln}")
    for row in order:
        if diffs.get(row):
            print(f"  {row}: fields that differ: "
                  + ", ".join(f"{k} {n}" for k, n in diffs[row].most_common()))
            for k, _ in diffs[row].most_common():
                for t, g in examples[(row, k)]:
                    where = (f"POST line {t['post_line']}" if t.get("post_line")
                             else f"line {t.get('first_line')}")
                    print(f"    {k}: {where}: want {want_of(t, k)!r}, pverec {g.get(k)!r}")
    for row in order:
        for t in missing.get(row, [])[:args.examples]:
            print(f"  {row}: missing: {json.dumps(t)}")
    for kind in sorted(extra):
        for g in extra[kind][:args.examples]:
            print(f"  {kind}: extra: {json.dumps(g)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
