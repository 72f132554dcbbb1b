//! Issue 10, items 8–10: choosing what to see as an admin expects to on the first day. Users
//! without a realm, comma lists and a warning with the nearest user for a misspelt one; times as
//! journalctl takes them; `--outcome` lists, `--vmid` and `--path`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::follower::{BACKENDS, Backend, Follower, Scene, append};
use crate::util::{convert_lines, data, pverec, records, stdout_of};

/// JSON records of the task fixture (tests/data/tasks/), joined with its task index, plus
/// `extra`.
fn fixture(extra: &[&str]) -> Vec<Value> {
    let text = stdout_of(
        pverec()
            .current_dir(data("tasks"))
            .args(["convert", "-f", "json", "--node", "pve1", "--tasks", "."])
            .args(extra)
            .arg("access.log"),
    );
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn field<'a>(records: &'a [Value], name: &str) -> Vec<&'a str> {
    records
        .iter()
        .map(|r| r[name].as_str().unwrap_or("-"))
        .collect()
}

/// `user` and `token` of each record, as logged: `alice@pve!ci`.
fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| match r["token"].as_str() {
            Some(token) => format!("{}!{token}", r["user"].as_str().unwrap_or("-")),
            None => r["user"].as_str().unwrap_or("-").to_string(),
        })
        .collect()
}

fn lines_of(records: &[Value]) -> Vec<u64> {
    records
        .iter()
        .filter_map(|r| r["source"]["line"].as_u64())
        .collect()
}

/// An access.log line of `user` at `time` (access.log form) asking `METHOD /api2/json<path>`.
fn logged(user: &str, time: &str, method: &str, path: &str, status: u16) -> String {
    format!(
        "::ffff:192.168.10.31 - {user} [{time}] \"{method} /api2/json{path} HTTP/1.1\" {status} 13"
    )
}

// Item 8: users.

#[test]
fn a_user_without_realm_matches_that_name_in_every_realm() {
    let t = "24/06/2026:14:00:00 +0200";
    let log = [
        logged("alice@pve", t, "PUT", "/cluster/options", 200),
        logged("alice@pam", t, "PUT", "/cluster/options", 200),
        logged("alice@pve!ci", t, "PUT", "/cluster/options", 200),
        logged("malice@pve", t, "PUT", "/cluster/options", 200),
        logged("bob@alice", t, "PUT", "/cluster/options", 200),
        logged("root@pam", t, "PUT", "/cluster/options", 200),
    ];
    let log: Vec<&str> = log.iter().map(String::as_str).collect();
    let r = records(&log, &["--user", "alice"]);
    assert_eq!(ids(&r), ["alice@pve", "alice@pam", "alice@pve!ci"]);
    // With a realm, it stays that user and its tokens.
    let r = records(&log, &["--user", "alice@pve"]);
    assert_eq!(ids(&r), ["alice@pve", "alice@pve!ci"]);
}

#[test]
fn a_comma_list_of_users_is_like_repeated_user_options() {
    let run = |args: &[&str]| {
        stdout_of(
            pverec()
                .args(["convert", "-f", "json"])
                .args(args)
                .arg(data("access.log")),
        )
    };
    let listed = run(&["--user", "alice@pve,automation@pve!ci"]);
    let repeated = run(&["--user", "alice@pve", "--user", "automation@pve!ci"]);
    assert_eq!(listed, repeated);
    let records: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let users: BTreeSet<String> = ids(&records).into_iter().collect();
    assert_eq!(
        users.into_iter().collect::<Vec<_>>(),
        ["alice@pve", "automation@pve!ci"]
    );
}

#[test]
fn a_user_that_matches_nothing_is_reported_with_the_nearest_users() {
    let out = pverec()
        .args(["convert", "--user", "alise@pve,root@pam"])
        .arg(data("access.log"))
        .arg(data("access.log.1"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pverec: --user alise@pve matched no request; did you mean alice@pve?"),
        "{stderr}"
    );
    // root@pam did match: it is not reported, and its requests are shown.
    assert!(!stderr.contains("--user root@pam"), "{stderr}");
    assert!(!out.stdout.is_empty());

    // A realm-less name is compared with the names seen.
    let out = pverec()
        .args(["convert", "--user", "bobb"])
        .arg(data("access.log"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--user bobb matched no request; did you mean bob?"),
        "{stderr}"
    );
}

/// A user whose lines are all filtered out by class is no typo: no warning.
#[test]
fn a_user_seen_only_on_lines_not_shown_is_not_reported() {
    let t = "24/06/2026:14:00:00 +0200";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    fs::write(
        &log,
        logged("carol@pve", t, "GET", "/cluster/resources", 200) + "\n",
    )
    .unwrap();
    let out = pverec()
        .args(["convert", "--user", "carol@pve"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// follow says it when it stops (SIGTERM), and registers with the recorder for one exact user
/// id only: a realm-less name or a list registers for every user.
#[test]
fn follow_reports_an_unmatched_user_at_exit_and_registers_only_user_ids() {
    for backend in BACKENDS {
        let scene = Scene::new(backend);
        let spool = scene.dir.path().join("spool");
        fs::create_dir(&spool).unwrap();
        fs::write(&scene.log, "").unwrap();
        let registered = |args: &[&str]| {
            let mut all = vec!["--spool", spool.to_str().unwrap()];
            all.extend_from_slice(args);
            let f = Follower::start(scene.dir.path(), &scene.log, backend, &all);
            let req = spool.join(format!("{}.req", f.pid()));
            f.wait_until("pverec to register in the spool", || {
                fs::read_to_string(&req).is_ok_and(|t| t.ends_with('}') || t.ends_with("}\n"))
            });
            let filter: Value = serde_json::from_str(&fs::read_to_string(&req).unwrap()).unwrap();
            (f, filter)
        };

        let (mut f, filter) = registered(&["--user", "alise@pve"]);
        assert_eq!(filter["userid"], "alise@pve", "{backend:?}");
        append(
            &scene.log,
            &(logged(
                "alice@pve",
                "24/06/2026:14:00:00 +0200",
                "PUT",
                "/cluster/options",
                200,
            ) + "\n"),
        );
        // SIGTERM: the last look reads the line, then pverec says it and exits.
        f.stop();
        assert!(
            f.stderr()
                .contains("--user alise@pve matched no request; did you mean alice@pve?"),
            "{backend:?}: {}",
            f.stderr()
        );

        for users in [&["--user", "alice"][..], &["--user", "alice@pve,bob@pam"]] {
            let (mut f, filter) = registered(users);
            assert_eq!(filter["userid"], Value::Null, "{backend:?} {users:?}");
            f.stop();
        }
    }
}

// Item 9: times.

/// The task fixture's lines from 14:01:00 +02:00 (line 5) on, written in every absolute form.
#[test]
fn absolute_times_in_every_form_select_the_same_window() {
    let expected = lines_of(&fixture(&["--all", "--since", "2026-06-24T12:01:00Z"]));
    assert_eq!(expected.first(), Some(&5), "{expected:?}");
    for form in [
        "@1782302460",
        "2026-06-24 12:01 UTC",
        "2026-06-24 12:01:00 UTC",
        "2026-06-24 14:01:00 +02:00",
        "2026-06-24T14:01+02:00",
        "Wed 2026-06-24 12:01:00",
        "26-06-24 12:01",
        "2026-06-24 14:01 Europe/Vienna",
    ] {
        if form.contains("Vienna") && !Path::new("/usr/share/zoneinfo/Europe/Vienna").exists() {
            continue;
        }
        let got = lines_of(&fixture(&["--all", "--since", form]));
        assert_eq!(got, expected, "--since {form:?}");
    }
    // --until is exclusive, in the same forms.
    let before = lines_of(&fixture(&["--all", "--until", "@1782302460"]));
    assert_eq!(before, [1, 2, 3, 4]);
}

/// Relative forms, against a log written relative to now (TZ is UTC in the harness).
#[test]
fn relative_times_as_journalctl_takes_them() {
    let now = jiff::Timestamp::now();
    let at = |ago_minutes: i64| {
        let t = now - jiff::SignedDuration::from_mins(ago_minutes);
        t.strftime("%d/%m/%Y:%H:%M:%S +0000").to_string()
    };
    // Line 1: 3 h ago, line 2: 100 min ago, line 3: 1 h ago, line 4: 10 min ago.
    let log: Vec<String> = [180, 100, 60, 10]
        .iter()
        .map(|&m| logged("alice@pve", &at(m), "PUT", "/cluster/options", 200))
        .collect();
    let log: Vec<&str> = log.iter().map(String::as_str).collect();
    let lines = |args: &[&str]| lines_of(&records(&log, args));
    for (args, expected) in [
        (&["--since", "-2h"][..], &[2, 3, 4][..]),
        (&["--since", "2 hours ago"], &[2, 3, 4]),
        (&["--since", "2h ago"], &[2, 3, 4]),
        (&["--since", "1h30m"], &[3, 4]),
        (&["--since", "-1h30min"], &[3, 4]),
        (&["--since", "90 min ago"], &[3, 4]),
        (&["--since", "30m"], &[4]),
        (&["--since", "yesterday"], &[1, 2, 3, 4]),
        (&["--since", "now"], &[]),
        (&["--until", "now"], &[1, 2, 3, 4]),
        (&["--until", "+1h"], &[1, 2, 3, 4]),
        (&["--until", "tomorrow"], &[1, 2, 3, 4]),
        (&["--since", "-2h", "--until", "-30m"], &[2, 3]),
    ] {
        assert_eq!(lines(args), expected, "{args:?}");
    }
    // today: local midnight (UTC here).
    let midnight = now
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_zoned(jiff::tz::TimeZone::UTC);
    let midnight = midnight.unwrap().timestamp();
    let today: Vec<u64> = [180, 100, 60, 10]
        .iter()
        .zip(1..)
        .filter(|(m, _)| {
            let t = now - jiff::SignedDuration::from_mins(**m);
            t.as_second() >= midnight.as_second()
        })
        .map(|(_, n)| n)
        .collect();
    assert_eq!(lines(&["--since", "today"]), today);
}

#[test]
fn since_after_until_is_a_usage_error_in_local_time() {
    for command in ["convert", "follow"] {
        let out = pverec()
            .env("TZ", "Europe/Vienna")
            .args([
                command,
                "--since",
                "2026-06-25T00:00:00Z",
                "--until",
                "2026-06-24",
            ])
            .arg(if command == "convert" {
                "/nonexistent/access.log"
            } else {
                "--no-spool"
            })
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}: {out:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let vienna = Path::new("/usr/share/zoneinfo/Europe/Vienna").exists();
        let since = if vienna {
            "2026-06-25 02:00:00+02:00"
        } else {
            "2026-06-25 00:00:00+00:00"
        };
        assert!(
            stderr.contains(&format!("--since {since} is not before --until")),
            "{command}: {stderr}"
        );
        // The usage line is the subcommand's, as for clap's own errors.
        assert!(
            stderr.contains(&format!("Usage: pverec {command} ")),
            "{command}: {stderr}"
        );
    }
    let out = pverec()
        .args(["convert", "--since", "now", "--until", "-1h", "x.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = pverec()
        .args(["convert", "--since", "2 fortnights ago", "x.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'2 fortnights ago' is not a time"));
}

// Item 10: outcome, vmid, path.

#[test]
fn outcome_takes_every_outcome_and_lists() {
    let all = fixture(&["--all"]);
    let outcomes: BTreeSet<&str> = field(&all, "outcome").into_iter().collect();
    assert_eq!(
        outcomes.into_iter().collect::<Vec<_>>(),
        ["failure", "pending", "success", "unknown"]
    );
    for outcome in ["success", "failure", "unknown", "pending"] {
        let r = fixture(&["--all", "--outcome", outcome]);
        assert!(!r.is_empty(), "{outcome}");
        assert!(
            field(&r, "outcome").iter().all(|o| *o == outcome),
            "{outcome}: {r:?}"
        );
        let expected = all.iter().filter(|r| r["outcome"] == outcome).count();
        assert_eq!(r.len(), expected, "{outcome}");
    }
    // The running qmstart of VM 103 is the pending one.
    let pending = fixture(&["--outcome", "pending"]);
    assert_eq!(lines_of(&pending), [13]);
    let listed = fixture(&["--all", "--outcome", "failure,pending"]);
    let repeated = fixture(&["--all", "--outcome", "failure", "--outcome", "pending"]);
    assert_eq!(listed, repeated);
    let n = |o: &str| all.iter().filter(|r| r["outcome"] == o).count();
    assert_eq!(listed.len(), n("failure") + n("pending"));
    assert_eq!(fixture(&["--all", "--outcome", "any"]), all);

    // not_executed: a request pveproxy redirected to HTTPS.
    let t = "24/06/2026:14:00:00 +0200";
    let redirected = logged("alice@pve", t, "PUT", "/cluster/options", 301);
    let worked = logged("alice@pve", t, "PUT", "/cluster/options", 200);
    let r = records(&[&redirected, &worked], &["--outcome", "not_executed"]);
    assert_eq!(field(&r, "outcome"), ["not_executed"]);
    let r = records(
        &[&redirected, &worked],
        &["--outcome", "not-executed,success"],
    );
    assert_eq!(field(&r, "outcome"), ["not_executed", "success"]);
}

#[test]
fn vmid_matches_object_path_task_and_parameter() {
    // The path's guest: starts, stops, config of VM 100, and CT 300's starts.
    let r = fixture(&["--vmid", "100,300"]);
    let paths: Vec<&str> = field(&r, "path");
    assert_eq!(
        paths,
        [
            "/nodes/pve1/qemu/100/status/start",
            "/nodes/pve1/qemu/100/status/stop",
            "/nodes/pve1/qemu/100/config",
            "/nodes/pve1/lxc/300/status/start",
            "/nodes/pve1/lxc/300/status/start",
        ]
    );
    assert_eq!(fixture(&["--vmid", "100", "--vmid", "300"]), r);
    // The create of VM 110 names it only in its task (qmcreate:110)…
    let r = fixture(&["--vmid", "110"]);
    assert_eq!(field(&r, "path"), ["/nodes/pve1/qemu"]);
    assert_eq!(r[0]["task"]["id"], "110");
    // … or, without the task index, in its body's vmid parameter (the recorder's spool).
    let text = stdout_of(
        pverec()
            .current_dir(data("tasks"))
            .args(["convert", "-f", "json", "--node", "pve1", "--no-tasks"])
            .args(["--events", "spool.events", "--vmid", "110", "access.log"]),
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\"path\":\"/nodes/pve1/qemu\""), "{text}");
    // Not a guest id.
    for bad in ["99", "0100", "abc", "1000000000"] {
        let out = pverec()
            .args(["convert", "--vmid", bad, "x.log"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a guest id"),
            "{bad}"
        );
    }
}

#[test]
fn path_globs_match_the_path_or_its_template() {
    let paths = |args: &[&str]| -> Vec<String> {
        fixture(args)
            .iter()
            .map(|r| r["path"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    assert_eq!(
        paths(&["--path", "/nodes/*/qemu/*/config"]),
        ["/nodes/pve1/qemu/100/config"]
    );
    // The schema's template, braces and all.
    assert_eq!(
        paths(&["--path", "/nodes/{node}/lxc/{vmid}/status/start"]),
        [
            "/nodes/pve1/lxc/300/status/start",
            "/nodes/pve1/lxc/300/status/start"
        ]
    );
    // `*` stays within a segment, `**` crosses them; repeated patterns add up.
    assert!(paths(&["--path", "/nodes/*/stop"]).is_empty());
    assert_eq!(
        paths(&["--path", "/nodes/**/stop", "--path", "/access/**"]),
        [
            "/nodes/pve1/qemu/100/status/stop",
            "/nodes/pve1/qemu/101/status/stop",
            "/access/users",
        ]
    );
    // As access.log shows it, /api2/FORMAT in front.
    assert_eq!(
        paths(&["--path", "/api2/extjs/access/users"]),
        ["/access/users"]
    );
    // Decoded: a volume id's %2F is a '/' of the path.
    let lines = convert_lines(
        &[
            "::ffff:192.168.10.31 - alice@pve [24/06/2026:14:05:40 +0200] \"DELETE \
             /api2/extjs/nodes/pve1/storage/local/content/local:iso%2Fdebian-12.iso HTTP/1.1\" 200 25",
        ],
        &[
            "--path",
            "/nodes/*/storage/*/content/local:iso/*.iso",
            "--no-comments",
        ],
    );
    assert_eq!(
        lines,
        ["pvesh delete /nodes/pve1/storage/local/content/local:iso/debian-12.iso"]
    );
}

/// follow with a task directory: alice starts VMs 100 and 101 (both tasks running), then
/// [`MARKER`] is logged; both tasks end well, then [`MARKER`] again. Returns every record
/// pverec printed (`-f json` and `extra`, which must show the marker).
fn two_starts(backend: Backend, extra: &[&str]) -> Vec<Value> {
    let scene = Scene::new(backend);
    let tasks = scene.dir.path().join("tasks");
    fs::create_dir(&tasks).unwrap();
    fs::write(tasks.join("index"), "").unwrap();
    fs::write(tasks.join("active"), "").unwrap();
    fs::write(&scene.log, "").unwrap();
    let mut args = vec![
        "-f",
        "json",
        "--node",
        "pve1",
        "--tasks",
        tasks.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut f = Follower::start(scene.dir.path(), &scene.log, backend, &args);
    let now = jiff::Timestamp::now();
    let t = now.as_second();
    let upid = |pid: u32, vmid: u32| {
        format!("UPID:pve1:{pid:08X}:01A2B3C4:{t:08X}:qmstart:{vmid}:alice@pve:")
    };
    let (a, b) = (upid(0x1000, 100), upid(0x1001, 101));
    fs::write(tasks.join("active"), format!("{a} 0\n{b} 0\n")).unwrap();
    let time = now.strftime("%d/%m/%Y:%H:%M:%S +0000").to_string();
    let start = |vmid: u32| {
        format!(
            "::ffff:192.168.1.5 - alice@pve [{time}] \"POST \
             /api2/extjs/nodes/pve1/qemu/{vmid}/status/start HTTP/1.1\" 200 {}\n",
            a.len() + 23
        )
    };
    let marker = format!("{}\n", MARKER.replace("TIME", &time));
    let markers = |f: &Follower| {
        f.output()
            .iter()
            .filter(|l| l.contains("/qemu/999"))
            .count()
    };
    // The marker, shown by every filter here, comes out once both starts are read.
    append(&scene.log, &(start(100) + &start(101) + &marker));
    f.wait_until("the first marker", || markers(&f) == 1);
    // Both tasks end (index first, then active replaced, as PVE writes them).
    let end = t + 1;
    fs::write(
        tasks.join("index"),
        format!("{a} {end:08X} OK\n{b} {end:08X} OK\n"),
    )
    .unwrap();
    let tmp = tasks.join("active.tmp");
    fs::write(&tmp, format!("{a} 1 {end:08X} OK\n{b} 1 {end:08X} OK\n")).unwrap();
    fs::rename(&tmp, tasks.join("active")).unwrap();
    // The tasks are read before the log in each look: the second marker comes after their ends.
    append(&scene.log, &marker);
    f.wait_until("the second marker", || markers(&f) == 2);
    f.stop();
    f.output()
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// alice's DELETE of VM 999 (JSON API, a task-starting call without its task: outcome unknown).
const MARKER: &str = "::ffff:192.168.1.5 - alice@pve [TIME] \"DELETE /api2/json/nodes/pve1/qemu/999 \
                      HTTP/1.1\" 200 80";

fn summary(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| match r["event"].as_str() {
            Some("task_end") => format!("end {}", r["task"]["id"].as_str().unwrap_or("-")),
            _ => format!(
                "{} {}",
                r["path"].as_str().unwrap_or("-"),
                r["outcome"].as_str().unwrap_or("-")
            ),
        })
        .collect()
}

/// follow: a request that --vmid does not show is not shown when its task ends either, and one
/// it shows gets its task_end.
#[test]
fn follow_filters_by_vmid_and_hides_the_end_of_tasks_not_shown() {
    for backend in BACKENDS {
        let out = two_starts(backend, &["--vmid", "101,999"]);
        assert_eq!(
            summary(&out),
            [
                "/nodes/pve1/qemu/101/status/start pending",
                "/nodes/pve1/qemu/999 unknown",
                "end 101",
                "/nodes/pve1/qemu/999 unknown",
            ],
            "{backend:?}"
        );
    }
}

/// follow and the new --outcome values: "pending" in the list shows a running task's request at
/// once (its end follows); without pending or a task outcome there is nothing to hold, and
/// the end of what is not shown is not shown either.
#[test]
fn follow_outcome_lists_and_pending_requests() {
    for backend in BACKENDS {
        let out = two_starts(backend, &["--outcome", "failure,pending,unknown"]);
        assert_eq!(
            summary(&out),
            [
                "/nodes/pve1/qemu/100/status/start pending",
                "/nodes/pve1/qemu/101/status/start pending",
                "/nodes/pve1/qemu/999 unknown",
                "end 100",
                "end 101",
                "/nodes/pve1/qemu/999 unknown",
            ],
            "{backend:?}"
        );
        let out = two_starts(backend, &["--outcome", "unknown"]);
        assert_eq!(
            summary(&out),
            [
                "/nodes/pve1/qemu/999 unknown",
                "/nodes/pve1/qemu/999 unknown"
            ],
            "{backend:?}"
        );
        // Held until the end, then shown by the task's outcome.
        let out = two_starts(backend, &["--outcome", "success,unknown"]);
        assert_eq!(
            summary(&out),
            [
                "/nodes/pve1/qemu/999 unknown",
                "/nodes/pve1/qemu/100/status/start success",
                "/nodes/pve1/qemu/101/status/start success",
                "/nodes/pve1/qemu/999 unknown",
            ],
            "{backend:?}"
        );
    }
}
