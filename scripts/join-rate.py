#!/usr/bin/env python3
"""Measure how well pverec joins access.log requests with the PVE task index.

Why: scripts/gen-tasks.py writes an access.log, a task directory (index, index.1,
active) and the ground truth of which request started which task. This script runs
pverec on them and compares its JSON records with that truth, so the join's quality
is a number, not an impression.

What it runs:
  PVEREC convert --all -f json --node pve1 --tasks OUTDIR/tasks OUTDIR/access.log
and reads one JSON record per line: a request record has `source.line` (its
access.log line) and `task` (null, or an object with `upid`); a task that no
request started is a record with `class: "task"` and `task.upid`.

What it reports:
  - task-creating requests (truth `upid` non-null): joined correctly / joined to
    another task (wrong; double-click twins, which differ only in pid, are counted
    apart) / not joined;
  - false joins: records that got a task although the truth has none for that line
    (proxied, rejected, no-task endpoints, tasks lost from the index, and every GET
    or other line), by reason;
  - a UPID joined to more than one request;
  - tasks without a request: those in truth-tasks.jsonl that pverec reported as
    class "task", missed, and class "task" records that are not in that list (the
    task of a request, or a UPID in no truth file);
  - outcomes: shown records per `outcome` value (success/failure/unknown/pending and
    whatever else pverec prints, all records and writes only), writes pverec calls
    `unknown`, and wrong outcomes: writes whose outcome differs from the truth's
    `outcome` where the truth knows it (from the task, the HTTP status or the extjs
    length), by where the truth has it and as want->got. Writes whose truth outcome is
    null (a task on pve2 or lost from the index, a compressed extjs object) are not
    scored, only counted.

  - parameters (issue 12): write requests, those whose parameters the generated journal
    holds (truth `journal_params`), and those pverec shows with `params_source: "journal"`
    (it is given `--journal-file OUTDIR/journal.json` when its `convert --help` has that
    option); an output without any `params_source` field counts 0: the "before" figure.

Exit status: 0 when there is no wrong and no false join, 1 when there is (wrong
outcomes are reported but do not fail the run: the outcome rules are work in
progress; --strict-outcomes makes them count), 2 when
pverec cannot be run (missing, no --tasks option yet, failed, unreadable output).

Usage: join-rate.py OUTDIR [--pverec PATH] [--json] [--examples N] [--strict-outcomes]
  --pverec  default target/release/pverec (from the current directory, else from
            the repository root; $CARGO_TARGET_DIR/release/pverec when that is set)
  --json    print the figures as one JSON object instead of the table
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def fail(msg: str) -> int:
    print(f"join-rate: {msg}", file=sys.stderr)
    return 2


def find_pverec(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    rel = Path("target/release/pverec")
    if os.environ.get("CARGO_TARGET_DIR"):
        rel = Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "pverec"
    if rel.is_absolute() or rel.exists():
        return rel
    return REPO / rel


def twin(a: str, b: str) -> bool:
    """Same node, starttime, type, id and user: only pid and pstart differ."""
    pa, pb = a.split(":"), b.split(":")
    return len(pa) == len(pb) and pa[1] == pb[1] and pa[4:] == pb[4:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", metavar="OUTDIR", help="a directory written by gen-tasks.py")
    ap.add_argument("--pverec", metavar="PATH", help="pverec binary (default target/release/pverec)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--examples", type=int, default=3, metavar="N",
                    help="show N example lines per failure kind on stderr (default 3)")
    ap.add_argument("--strict-outcomes", action="store_true",
                    help="exit 1 when an outcome contradicts the truth, too")
    args = ap.parse_args(argv)

    out = Path(args.outdir)
    for name in ("access.log", "truth.jsonl", "truth-tasks.jsonl", "tasks"):
        if not (out / name).exists():
            return fail(f"{out / name} is missing: run scripts/gen-tasks.py {out} first")
    pverec = find_pverec(args.pverec)
    if not pverec.exists():
        return fail(f"{pverec} does not exist: build it with `cargo build --release`, "
                    f"or pass --pverec PATH")

    try:
        helptext = subprocess.run([str(pverec), "convert", "--help"], capture_output=True,
                                  text=True, errors="replace", timeout=60)
    except OSError as e:
        return fail(f"cannot run {pverec}: {e}")
    if "--tasks" not in helptext.stdout + helptext.stderr:
        return fail(f"{pverec} has no `convert --tasks` option: this build does not join the "
                    f"task index yet. Rebuild (cargo build --release) once the join has "
                    f"landed, then run this again.")

    cmd = [str(pverec), "convert", "--all", "-f", "json", "--node", "pve1",
           "--tasks", str(out / "tasks"), str(out / "access.log")]
    # the journal (issue 12), once pverec reads one: the generator's journalctl -o json export
    journal = out / "journal.json"
    with_journal = "--journal-file" in helptext.stdout and journal.exists()
    if with_journal:
        cmd[-1:-1] = ["--journal-file", str(journal)]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
        return fail(f"exit {proc.returncode}: {' '.join(cmd)}")

    truth = {}
    for text in (out / "truth.jsonl").read_text().splitlines():
        r = json.loads(text)
        truth[r["line"]] = r
    truth_tasks = {}
    for text in (out / "truth-tasks.jsonl").read_text().splitlines():
        r = json.loads(text)
        truth_tasks[r["upid"]] = r
    request_task = {r["upid"]: n for n, r in truth.items() if r["upid"]}
    all_lines = sum(1 for _ in (out / "access.log").open("rb"))

    joined_at: dict[int, str | None] = {}     # access.log line -> upid pverec joined
    outcome_at: dict[int, str] = {}           # access.log line -> outcome pverec showed
    params_at: dict[int, object] = {}         # access.log line -> params_source pverec showed
    params_field_seen = False                 # any record with a params_source field
    outcomes_all = Counter()                  # every shown record, by outcome
    task_records: list[str] = []
    bad = 0
    for i, text in enumerate(proc.stdout.decode("utf-8", "replace").splitlines(), 1):
        if not text.strip():
            continue
        try:
            rec = json.loads(text)
            outcome = rec.get("outcome")
            outcome = outcome if isinstance(outcome, str) else json.dumps(outcome)
            outcomes_all[outcome] += 1
            task = rec.get("task")
            upid = task.get("upid") if isinstance(task, dict) else None
            if rec.get("class") == "task":
                if upid is None:
                    raise ValueError("class task without task.upid")
                task_records.append(upid)
                continue
            line = rec["source"]["line"]
            if line is None:
                # An event with no access.log line (work on the shell, a login known from the
                # journal alone): not one of the log's writes.
                continue
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            bad += 1
            if bad <= 3:
                print(f"join-rate: output line {i}: {e}: {text[:200]}", file=sys.stderr)
            continue
        if line in joined_at:
            bad += 1
            if bad <= 3:
                print(f"join-rate: output line {i}: a second record for access.log line {line}",
                      file=sys.stderr)
            continue
        joined_at[line] = upid
        outcome_at[line] = outcome
        if "params_source" in rec:
            params_field_seen = True
            params_at[line] = rec["params_source"]
    if bad:
        return fail(f"{bad} output record(s) could not be read (see above)")

    examples: dict[str, list[str]] = {}

    def example(kind, text):
        examples.setdefault(kind, [])
        if len(examples[kind]) < args.examples:
            examples[kind].append(text)

    # requests that started a task pverec can see
    wanted = {n: r for n, r in truth.items() if r["upid"]}
    ok = wrong = twins = missing = no_record = 0
    missed_where = Counter()
    missed_type = Counter()
    for n, r in wanted.items():
        if n not in joined_at:
            no_record += 1
            missing += 1
            missed_where[r["where"]] += 1
            missed_type[r["type"]] += 1
            example("no record", f"line {n}: {r['method']} {r['path']} -> {r['upid']}")
            continue
        got = joined_at[n]
        if got == r["upid"]:
            ok += 1
        elif got is None:
            missing += 1
            missed_where[r["where"]] += 1
            missed_type[r["type"]] += 1
            example("not joined", f"line {n}: {r['method']} {r['path']} ({r['user']}) "
                                  f"-> {r['upid']} in {r['where']}")
        else:
            wrong += 1
            if twin(got, r["upid"]):
                twins += 1
            example("wrong join", f"line {n}: {r['method']} {r['path']}: got {got}, "
                                  f"want {r['upid']}")

    # lines that must not get a task
    false_by = Counter()
    for n, got in joined_at.items():
        if got is None:
            continue
        r = truth.get(n)
        if r is None:
            false_by["GET or other"] += 1
            example("false join", f"line {n} (not a write): got {got}")
        elif r["upid"] is None:
            false_by[r["why"]] += 1
            example("false join", f"line {n}: {r['method']} {r['path']} ({r['why']}): got {got}")
    false_joins = sum(false_by.values())

    multi = Counter(u for u in joined_at.values() if u)
    multi_joined = sum(1 for c in multi.values() if c > 1)
    for u, c in multi.items():
        if c > 1:
            example("upid joined twice", f"{u}: {c} requests")

    # tasks without a request
    reported = Counter(task_records)
    tt_found = sum(1 for u in truth_tasks if u in reported)
    tt_missed = len(truth_tasks) - tt_found
    tt_missed_outside = sum(1 for u, r in truth_tasks.items()
                            if u not in reported and r.get("in_log_span") is False)
    for u, r in truth_tasks.items():
        if u not in reported:
            example("task without request not reported", f"{u} ({r['why']}, in {r['where']})")
    extra_request = extra_unknown = 0
    for u in reported:
        if u in truth_tasks:
            continue
        if u in request_task:
            extra_request += 1
            example("class task for a request's task",
                    f"{u}: started by line {request_task[u]}"
                    f"{' (joined there too)' if joined_at.get(request_task[u]) == u else ''}")
        else:
            extra_unknown += 1
            example("class task with unknown UPID", u)
    dup_task_records = sum(c - 1 for c in reported.values() if c > 1)

    # outcomes of the writes against the truth's
    outcomes_writes = Counter()
    wrong_outcome_by_from = Counter()
    wrong_outcome_pairs = Counter()
    scored = unscored = 0
    for n, r in truth.items():
        got = outcome_at.get(n)
        if got is None:
            continue                      # no record: counted as "no record" above
        outcomes_writes[got] += 1
        want = r.get("outcome")
        if want is None:
            unscored += 1
            continue
        scored += 1
        if got != want:
            wrong_outcome_by_from[r.get("outcome_from")] += 1
            wrong_outcome_pairs[f"{want}->{got}"] += 1
            example("wrong outcome", f"line {n}: {r['method']} {r['path']} {r['status']} "
                                     f"{r.get('length')} ({r['why']}, from "
                                     f"{r.get('outcome_from')}): want {want}, got {got}")
    wrong_outcomes = sum(wrong_outcome_by_from.values())
    unknown_writes = outcomes_writes.get("unknown", 0)
    unknown_writes_knowable = sum(1 for n, r in truth.items()
                                  if outcome_at.get(n) == "unknown"
                                  and r.get("outcome") not in (None, "unknown"))
    unknown_status_writes = [n for n, r in truth.items() if r.get("unknown_status")]
    unknown_status_joinable = [n for n in unknown_status_writes if truth[n]["upid"]]
    unknown_status_joined = sum(1 for n in unknown_status_joinable
                                if joined_at.get(n) == truth[n]["upid"])

    # parameters (issue 12): the share of write requests whose parameters pverec shows, from
    # the journal (params_source "journal"), against the generator's truth of which writes
    # have them there. No params_source field at all: pverec does not read them yet (0).
    params_avail = sum(1 for r in truth.values() if r.get("journal_params"))
    params_got = sum(1 for n, r in truth.items()
                     if params_at.get(n) == "journal" and r.get("journal_params"))
    params_extra = sum(1 for n, r in truth.items()
                       if params_at.get(n) == "journal" and not r.get("journal_params"))
    params_any = sum(1 for n in truth if params_at.get(n) not in (None, "none"))
    if params_extra:
        example("params from the journal where the truth has none",
                ", ".join(str(n) for n, r in truth.items()
                          if params_at.get(n) == "journal" and not r.get("journal_params")))

    figures = {
        "access_log_lines": all_lines,
        "records": len(joined_at) + len(task_records),
        "request_records": len(joined_at),
        "task_creating_requests": len(wanted),
        "joined_correctly": ok,
        "joined_wrongly": wrong,
        "joined_wrongly_twin_swaps": twins,
        "not_joined": missing,
        "not_joined_no_record": no_record,
        "not_joined_by_where": dict(sorted((str(k), v) for k, v in missed_where.items())),
        "not_joined_by_type": dict(missed_type.most_common()),
        "join_rate": round(ok / len(wanted), 4) if wanted else None,
        "requests_without_task": sum(1 for r in truth.values() if not r["upid"]),
        "false_joins": false_joins,
        "false_joins_by_why": dict(sorted(false_by.items())),
        "upids_joined_to_several_requests": multi_joined,
        "tasks_without_request": len(truth_tasks),
        "tasks_without_request_reported": tt_found,
        "tasks_without_request_missed": tt_missed,
        "tasks_without_request_missed_outside_log_span": tt_missed_outside,
        "class_task_records": len(task_records),
        "class_task_records_duplicate": dup_task_records,
        "class_task_for_request_task": extra_request,
        "class_task_unknown_upid": extra_unknown,
        "outcomes_all_records": dict(outcomes_all.most_common()),
        "outcomes_write_requests": dict(outcomes_writes.most_common()),
        "unknown_write_requests": unknown_writes,
        "unknown_write_requests_where_truth_knows": unknown_writes_knowable,
        "outcomes_scored": scored,
        "outcomes_unscored": unscored,
        "wrong_outcomes": wrong_outcomes,
        "wrong_outcomes_by_truth_source": dict(sorted((str(k), v) for k, v in
                                                      wrong_outcome_by_from.items())),
        "wrong_outcomes_want_got": dict(wrong_outcome_pairs.most_common()),
        "unknown_status_writes": len(unknown_status_writes),
        "unknown_status_writes_with_task": len(unknown_status_joinable),
        "unknown_status_writes_joined": unknown_status_joined,
        "write_requests": len(truth),
        "write_requests_params_in_journal": params_avail,
        "write_requests_params_from_journal": params_got,
        "write_requests_params_from_journal_not_in_truth": params_extra,
        "write_requests_params_any_source": params_any,
        "params_share": round(params_got / len(truth), 4) if truth else None,
        "params_source_field": params_field_seen,
        "journal_read": with_journal,
        "pass": wrong == 0 and false_joins == 0 and (not args.strict_outcomes
                                                     or wrong_outcomes == 0),
    }

    for kind, lines in examples.items():
        for text in lines:
            print(f"join-rate: {kind}: {text}", file=sys.stderr)

    if args.json:
        print(json.dumps(figures, sort_keys=False))
    else:
        w = len(wanted) or 1
        t = len(truth_tasks) or 1
        rows = [
            ("task-creating requests (truth upid set)", len(wanted), ""),
            ("  joined correctly", ok, f"{100 * ok / w:.1f}%"),
            ("  joined to another task (WRONG)", wrong,
             f"{twins} double-click twin swaps" if twins else ""),
            ("  not joined", missing,
             ", ".join(f"{k} {v}" for k, v in sorted(missed_where.items(), key=str)) or ""),
            ("requests with no task (truth upid null)", figures["requests_without_task"], ""),
            ("false joins (a task where none is)", false_joins,
             ", ".join(f"{k} {v}" for k, v in sorted(false_by.items())) or ""),
            ("UPIDs joined to several requests", multi_joined, ""),
            ("tasks without a request (truth-tasks)", len(truth_tasks), ""),
            ("  reported as class task", tt_found, f"{100 * tt_found / t:.1f}%"),
            ("  missed", tt_missed,
             f"{tt_missed_outside} started outside the log's time span" if tt_missed_outside
             else ""),
            ("class task records, other", extra_request + extra_unknown,
             f"request's task {extra_request}, unknown UPID {extra_unknown}"),
            ("595-599 / 500 - writes (task joins anyway)", len(unknown_status_writes),
             f"{len(unknown_status_joinable)} with a task, {unknown_status_joined} joined"),
            ("outcomes, all records", sum(outcomes_all.values()),
             " ".join(f"{k} {v}" for k, v in outcomes_all.most_common())),
            ("outcomes, write requests", sum(outcomes_writes.values()),
             " ".join(f"{k} {v}" for k, v in outcomes_writes.most_common())),
            ("  unknown", unknown_writes,
             f"{unknown_writes_knowable} where the truth knows the outcome"),
            ("  scored against the truth", scored, f"{unscored} not knowable, not scored"),
            ("  wrong outcome", wrong_outcomes,
             ", ".join(f"{k} {v}" for k, v in wrong_outcome_pairs.most_common())),
            ("    by truth source", wrong_outcomes,
             ", ".join(f"{k} {v}" for k, v in sorted(wrong_outcome_by_from.items(), key=str))),
            ("write requests", len(truth), ""),
            ("  parameters in the journal (truth)", params_avail,
             f"{100 * params_avail / (len(truth) or 1):.1f}%"),
            ("  parameters shown from the journal", params_got,
             (f"{100 * params_got / (len(truth) or 1):.1f}% of writes, "
              f"{100 * params_got / (params_avail or 1):.1f}% of those in the journal"
              + (f"; {params_extra} where the truth has none" if params_extra else "")
              + ("" if with_journal else "; journal not read: no --journal-file")
              + ("" if params_field_seen else "; no params_source field in the output"))),
            ("  parameters shown from any source", params_any,
             "params_source other than none (query, spool, journal)"),
        ]
        print(f"pverec join rate on {out} ({all_lines} access.log lines, "
              f"{len(joined_at)} request records, {len(task_records)} task records)")
        for label, n, note in rows:
            print(f"  {label:<44} {n:>7}  {note}".rstrip())
        print("  result: " + ("PASS" if figures["pass"] else
                              "FAIL (wrong or false joins" +
                              (", or wrong outcomes)" if args.strict_outcomes else ")")))
    return 0 if figures["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
