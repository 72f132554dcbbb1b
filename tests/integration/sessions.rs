//! Issue 13: `pverec sessions`. The fixture `tests/data/sessions/` (written by
//! `scripts/gen-sessions-fixture.py`) is one afternoon on pve1 shaped as PVE writes it: a noVNC
//! console on a VM, xterm.js on a container, a node shell, a container's SPICE console, a
//! console that timed out before a client came, one still open (its task in `active`), two
//! consoles of one user on two guests at once, two of one user on one guest in one second
//! (ambiguous), UI sessions (renewed over two hours and expired; logged out) and an API token's
//! two bursts. Each session's expected record is written here from the scenario, the evidence
//! lines and UPIDs looked up in the fixture's files.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::follower::{Backend, DEADLINE, append};
use crate::util::{bin, copy_dir, data, pverec, require_tool};

fn fixture(name: &str) -> std::path::PathBuf {
    data("sessions").join(name)
}

/// The sessions of the fixture, as JSON, with `args` added.
fn sessions(args: &[&str]) -> (Vec<Value>, String) {
    let out = pverec()
        .current_dir(data("sessions"))
        .args([
            "sessions",
            "-f",
            "json",
            "--tasks",
            "tasks",
            "--journal-file",
            "entries.json",
        ])
        .args(["--etc-pve", "etc-pve"])
        .args(args)
        .arg("access.log")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let records = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (records, stderr)
}

/// `access.log:N` of the one line holding every part.
fn line(parts: &[&str]) -> String {
    let text = fs::read_to_string(fixture("access.log")).unwrap();
    let found: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| parts.iter().all(|p| l.contains(p)))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(found.len(), 1, "{parts:?} in {found:?}");
    format!("access.log:{}", found[0])
}

/// Every `access.log:N` holding every part, in order.
fn lines(parts: &[&str]) -> Vec<String> {
    let text = fs::read_to_string(fixture("access.log")).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| parts.iter().all(|p| l.contains(p)))
        .map(|(i, _)| format!("access.log:{}", i + 1))
        .collect()
}

/// The UPID of the one task of this type, id and user in the task files.
fn upid(kind: &str, id: &str, user: &str) -> String {
    let mut found = Vec::new();
    for file in ["index", "active"] {
        let text = fs::read_to_string(fixture("tasks").join(file)).unwrap();
        for l in text.lines() {
            let upid = l.split(' ').next().unwrap();
            if upid.ends_with(&format!(":{kind}:{id}:{user}:")) {
                found.push(upid.to_string());
            }
        }
    }
    assert_eq!(found.len(), 1, "{kind} {id} {user}: {found:?}");
    found.remove(0)
}

fn console(
    kind: &str,
    user: &str,
    client: &str,
    guest: Option<(&str, &str)>,
    times: (&str, Option<&str>, Option<i64>),
    (ended, connected): (Option<&str>, Option<&str>),
    evidence: (Vec<String>, Vec<String>),
) -> Value {
    let (opened, closed, duration) = times;
    json!({
        "event": "session", "kind": kind, "user": user, "token": null, "client": client,
        "node": "pve1", "vmid": guest.map(|g| g.0), "name": guest.map(|g| g.1),
        "opened": opened, "closed": closed, "duration": duration,
        "status": if closed.is_some() { "completed" } else { "ongoing" },
        "ended": ended, "connected": connected,
        "requests": null, "writes": null, "renewals": null,
        "first_action": null, "last_action": null,
        "evidence": {"lines": evidence.0, "upids": evidence.1},
    })
}

/// The records of the fixture by (kind, user, vmid, opened).
fn by_key(records: &[Value]) -> BTreeMap<String, Value> {
    records
        .iter()
        .map(|r| {
            let key = format!(
                "{} {}{} {} {}",
                r["kind"].as_str().unwrap(),
                r["user"].as_str().unwrap(),
                r["token"]
                    .as_str()
                    .map(|t| format!("!{t}"))
                    .unwrap_or_default(),
                r["vmid"].as_str().unwrap_or("-"),
                r["opened"].as_str().unwrap()
            );
            (key, r.clone())
        })
        .collect()
}

#[test]
fn every_kind_of_console_has_its_exact_record() {
    let (records, stderr) = sessions(&[]);
    let got = by_key(&records);
    let want = [
        // noVNC on a VM: opened by the websocket, closed by the task's end.
        console(
            "vnc",
            "alice@pve",
            "192.0.2.10",
            Some(("100", "web01")),
            (
                "2026-06-24T12:00:12Z",
                Some("2026-06-24T12:20:00Z"),
                Some(1188),
            ),
            (Some("OK"), Some("2026-06-24T12:00:12Z")),
            (
                vec![
                    line(&["192.0.2.10 ", "qemu/100/vncproxy"]),
                    line(&["192.0.2.10 ", "qemu/100/vncwebsocket"]),
                ],
                vec![upid("vncproxy", "100", "alice@pve")],
            ),
        ),
        // No client within 10 s: the task's start and its end, no connection.
        console(
            "vnc",
            "alice@pve",
            "192.0.2.10",
            Some(("101", "app01")),
            (
                "2026-06-24T12:15:00Z",
                Some("2026-06-24T12:15:10Z"),
                Some(10),
            ),
            (Some("connection timed out"), None),
            (
                vec![line(&["192.0.2.10 ", "qemu/101/vncproxy"])],
                vec![upid("vncproxy", "101", "alice@pve")],
            ),
        ),
        // xterm.js on a container (termproxy forks a `vncproxy` task).
        console(
            "term",
            "bob@pve",
            "192.0.2.20",
            Some(("200", "db01")),
            (
                "2026-06-24T12:05:01Z",
                Some("2026-06-24T12:35:30Z"),
                Some(1829),
            ),
            (Some("OK"), Some("2026-06-24T12:05:01Z")),
            (
                vec![
                    line(&["lxc/200/termproxy"]),
                    line(&["lxc/200/vncwebsocket"]),
                ],
                vec![upid("vncproxy", "200", "bob@pve")],
            ),
        ),
        // Still open: the task is in `active`.
        console(
            "vnc",
            "bob@pve",
            "192.0.2.20",
            Some(("100", "web01")),
            ("2026-06-24T13:00:02Z", None, None),
            (None, Some("2026-06-24T13:00:02Z")),
            (
                vec![
                    line(&["192.0.2.20 ", "qemu/100/vncproxy"]),
                    line(&["192.0.2.20 ", "qemu/100/vncwebsocket"]),
                ],
                vec![upid("vncproxy", "100", "bob@pve")],
            ),
        ),
        // The node's shell: no guest.
        console(
            "shell",
            "root@pam",
            "192.0.2.1",
            None,
            (
                "2026-06-24T12:10:02Z",
                Some("2026-06-24T13:02:00Z"),
                Some(3118),
            ),
            (Some("OK"), Some("2026-06-24T12:10:02Z")),
            (
                vec![
                    line(&["nodes/pve1/termproxy"]),
                    line(&["nodes/pve1/vncwebsocket"]),
                ],
                vec![upid("vncshell", "", "root@pam")],
            ),
        ),
        // SPICE on a container: the CONNECT line (user `-`) is the connection.
        console(
            "spice",
            "carol@pve",
            "192.0.2.30",
            Some(("201", "files")),
            (
                "2026-06-24T12:12:05Z",
                Some("2026-06-24T12:40:00Z"),
                Some(1675),
            ),
            (Some("OK"), Some("2026-06-24T12:12:05Z")),
            (
                vec![
                    line(&["lxc/201/spiceproxy"]),
                    line(&["CONNECT pvespiceproxy:"]),
                ],
                vec![upid("spiceproxy", "201", "carol@pve")],
            ),
        ),
        // One user, two guests at once: each websocket finds its own request.
        console(
            "vnc",
            "dave@pve",
            "192.0.2.40",
            Some(("100", "web01")),
            (
                "2026-06-24T12:30:02Z",
                Some("2026-06-24T12:45:00Z"),
                Some(898),
            ),
            (Some("OK"), Some("2026-06-24T12:30:02Z")),
            (
                vec![
                    line(&["192.0.2.40 ", "qemu/100/vncproxy"]),
                    line(&["192.0.2.40 ", "qemu/100/vncwebsocket"]),
                ],
                vec![upid("vncproxy", "100", "dave@pve")],
            ),
        ),
        console(
            "vnc",
            "dave@pve",
            "192.0.2.40",
            Some(("101", "app01")),
            (
                "2026-06-24T12:30:03Z",
                Some("2026-06-24T12:50:00Z"),
                Some(1197),
            ),
            (Some("OK"), Some("2026-06-24T12:30:03Z")),
            (
                vec![
                    line(&["192.0.2.40 ", "qemu/101/vncproxy"]),
                    line(&["192.0.2.40 ", "qemu/101/vncwebsocket"]),
                ],
                vec![upid("vncproxy", "101", "dave@pve")],
            ),
        ),
    ];
    for want in want {
        let key = by_key(std::slice::from_ref(&want))
            .into_keys()
            .next()
            .unwrap();
        assert_eq!(got.get(&key), Some(&want), "{key}\nall: {got:#?}");
    }
    // erin's two tabs on VM 102 in one second: each websocket fits both requests, so neither
    // is joined; both consoles are listed, unconnected, from their tasks.
    let erin: Vec<&Value> = records
        .iter()
        .filter(|r| r["user"] == "erin@pve" && r["kind"] == "vnc")
        .collect();
    assert_eq!(erin.len(), 2, "{erin:?}");
    assert!(
        erin.iter()
            .all(|r| r["connected"].is_null() && r["opened"] == "2026-06-24T12:40:00Z")
    );
    assert!(
        stderr.contains("2 console connections were left unjoined: two console requests fitted"),
        "{stderr}"
    );
    // alice's refused request for VM 102's console (no task where the index would have it).
    assert!(
        !records
            .iter()
            .any(|r| r["user"] == "alice@pve" && r["vmid"] == "102")
    );
    assert!(
        stderr.contains("1 console request has no task where the task index would hold it"),
        "{stderr}"
    );
    // Sorted by opening time.
    let opened: Vec<&str> = records
        .iter()
        .map(|r| r["opened"].as_str().unwrap())
        .collect();
    let mut sorted = opened.clone();
    sorted.sort();
    assert_eq!(opened, sorted);
}

#[test]
fn ui_and_api_sessions_have_their_exact_record() {
    let (records, _) = sessions(&["--kind", "ui,api"]);
    let got = by_key(&records);
    // frank: a login, nine renewals every 15 minutes, polls and one start; then the page was
    // closed: the ticket expired two hours after the last renewal, before the log's end.
    let frank = &got["ui frank@pve - 2026-06-24T11:30:00Z"];
    let login = line(&["192.0.2.60 - - [24/06/2026:13:30:00", "extjs/access/ticket"]);
    let renewals = lines(&["192.0.2.60 - - ", "json/access/ticket"]);
    assert_eq!(renewals.len(), 9);
    let write = line(&["192.0.2.60 ", "qemu/100/status/start"]);
    let mut want_lines = vec![login];
    want_lines.extend(renewals);
    want_lines.push(line(&["192.0.2.60 ", "13:30:02", "cluster/resources"]));
    want_lines.push(write.clone());
    want_lines.sort_by_key(|l| l[11..].parse::<usize>().unwrap());
    assert_eq!(
        frank,
        &json!({
            "event": "session", "kind": "ui", "user": "frank@pve", "token": null,
            "client": "192.0.2.60", "node": null, "vmid": null, "name": null,
            "opened": "2026-06-24T11:30:00Z", "closed": "2026-06-24T13:45:30Z",
            "duration": 8130, "status": "completed", "ended": "expired", "connected": null,
            "requests": 137, "writes": 1, "renewals": 9,
            "first_action": "POST /nodes/{node}/qemu/{vmid}/status/start",
            "last_action": "POST /nodes/{node}/qemu/{vmid}/status/start",
            "evidence": {"lines": want_lines, "upids": [upid("qmstart", "100", "frank@pve")]},
        })
    );
    // grace: logged out (the login window came back on her client while her ticket was good).
    assert_eq!(
        got["ui grace@pve - 2026-06-24T12:50:00Z"],
        json!({
            "event": "session", "kind": "ui", "user": "grace@pve", "token": null,
            "client": "192.0.2.70", "node": null, "vmid": null, "name": null,
            "opened": "2026-06-24T12:50:00Z", "closed": "2026-06-24T12:58:00Z",
            "duration": 480, "status": "completed", "ended": "logged out", "connected": null,
            "requests": 3, "writes": 1, "renewals": 0,
            "first_action": "PUT /nodes/{node}/qemu/{vmid}/config",
            "last_action": "PUT /nodes/{node}/qemu/{vmid}/config",
            "evidence": {"lines": [
                line(&["192.0.2.70 - - [24/06/2026:14:50:00", "access/ticket"]),
                line(&["192.0.2.70 ", "14:50:02", "cluster/resources"]),
                line(&["192.0.2.70 ", "qemu/101/config"]),
                line(&["192.0.2.70 - - [24/06/2026:14:58:30", "access/domains"]),
            ], "upids": []},
        })
    );
    // The CI token: two bursts over an hour apart are two sessions, each ended by going idle.
    let api = |opened: &str| got[&format!("api automation@pve!ci - {opened}")].clone();
    assert_eq!(
        api("2026-06-24T12:00:00Z"),
        json!({
            "event": "session", "kind": "api", "user": "automation@pve", "token": "ci",
            "client": "198.51.100.5", "node": null, "vmid": null, "name": null,
            "opened": "2026-06-24T12:00:00Z", "closed": "2026-06-24T12:03:00Z",
            "duration": 180, "status": "completed", "ended": "idle", "connected": null,
            "requests": 4, "writes": 1, "renewals": 0,
            "first_action": "POST /nodes/{node}/qemu/{vmid}/status/shutdown",
            "last_action": "POST /nodes/{node}/qemu/{vmid}/status/shutdown",
            "evidence": {"lines": [
                line(&["198.51.100.5 ", "14:00:00"]),
                line(&["198.51.100.5 ", "status/shutdown"]),
            ], "upids": [upid("qmshutdown", "101", "automation@pve!ci")]},
        })
    );
    let second = api("2026-06-24T13:10:00Z");
    assert_eq!(second["closed"], "2026-06-24T13:12:00Z");
    assert_eq!(second["requests"], 2);
    assert_eq!(
        second["last_action"],
        "DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}"
    );
    // alice logged out at 14:21 (the login window on her client): closed at her last call.
    let alice = &got["ui alice@pve - 2026-06-24T11:59:50Z"];
    assert_eq!(alice["ended"], "logged out");
    assert_eq!(
        alice["closed"], "2026-06-24T12:16:00Z",
        "her refused console request"
    );
    assert_eq!(
        alice["last_action"],
        "POST /nodes/{node}/qemu/{vmid}/vncproxy"
    );
}

#[test]
fn without_the_journal_a_login_line_still_opens_its_session() {
    // Login lines have user `-`: without the journal, the session of the first user whose
    // calls come from that client within a minute takes it.
    let out = pverec()
        .current_dir(data("sessions"))
        .args([
            "sessions",
            "-f",
            "json",
            "--tasks",
            "tasks",
            "--no-journal",
            "--kind",
            "ui",
        ])
        .args(["--user", "grace@pve", "access.log"])
        .output()
        .unwrap();
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["opened"], "2026-06-24T12:50:00Z");
    assert_eq!(records[0]["ended"], "logged out");
}

/// The (kind, user, vmid, opened) of what `args` selects, sorted.
fn selected(args: &[&str]) -> Vec<String> {
    let (records, _) = sessions(args);
    let mut keys: Vec<String> = records
        .iter()
        .flat_map(|r| by_key(std::slice::from_ref(r)).into_keys())
        .collect();
    keys.sort();
    keys
}

#[test]
fn each_filter_selects_sessions() {
    let all = selected(&[]);
    assert_eq!(all.len(), 20, "{all:#?}");
    assert_eq!(
        selected(&["--status", "ongoing"]),
        ["vnc bob@pve 100 2026-06-24T13:00:02Z"]
    );
    assert_eq!(selected(&["--status", "completed,ongoing"]).len(), 20);
    assert_eq!(
        selected(&["--kind", "shell,spice"]),
        [
            "shell root@pam - 2026-06-24T12:10:02Z",
            "spice carol@pve 201 2026-06-24T12:12:05Z"
        ]
    );
    assert_eq!(
        selected(&["--user", "alice@pve"]),
        [
            "ui alice@pve - 2026-06-24T11:59:50Z",
            "vnc alice@pve 100 2026-06-24T12:00:12Z",
            "vnc alice@pve 101 2026-06-24T12:15:00Z"
        ]
    );
    // A user selects its tokens; a token only itself; a name without realm every realm.
    assert_eq!(selected(&["--user", "automation@pve"]).len(), 2);
    assert_eq!(selected(&["--user", "automation@pve!ci"]).len(), 2);
    assert_eq!(selected(&["--user", "root"]).len(), 2);
    let dave = [
        "ui dave@pve - 2026-06-24T12:29:40Z",
        "vnc dave@pve 100 2026-06-24T12:30:02Z",
        "vnc dave@pve 101 2026-06-24T12:30:03Z",
    ];
    assert_eq!(selected(&["--client", "192.0.2.40"]), dave);
    assert_eq!(selected(&["--client", "::ffff:192.0.2.40"]), dave);
    assert_eq!(
        selected(&["--vmid", "101"]),
        [
            "vnc alice@pve 101 2026-06-24T12:15:00Z",
            "vnc dave@pve 101 2026-06-24T12:30:03Z"
        ]
    );
    // On the time a session opened: frank's began before 14:00 and is not selected, though it
    // went on for hours after.
    let afternoon = selected(&[
        "--since",
        "2026-06-24T12:30:00Z",
        "--until",
        "2026-06-24T12:45:00Z",
    ]);
    assert_eq!(
        afternoon,
        [
            "ui erin@pve - 2026-06-24T12:39:40Z",
            "vnc dave@pve 100 2026-06-24T12:30:02Z",
            "vnc dave@pve 101 2026-06-24T12:30:03Z",
            "vnc erin@pve 102 2026-06-24T12:40:00Z",
            "vnc erin@pve 102 2026-06-24T12:40:00Z"
        ]
    );
    // --node: consoles name their guest's node; UI sessions of a log that is not the node's
    // own have none.
    let on_pve1 = selected(&["--node", "pve1"]);
    assert_eq!(on_pve1.len(), 10, "{on_pve1:#?}");
    assert!(selected(&["--node", "pve2"]).is_empty());
    // Told which node wrote the log, they have it.
    assert_eq!(
        selected(&["--node", "pve1", "--log-node", "pve1"]).len(),
        20
    );
}

#[test]
fn bad_filter_values_are_usage_errors() {
    for args in [
        &["--status", "open"][..],
        &["--kind", "rdp"],
        &["--vmid", "12"],
        &[
            "--since",
            "2026-06-24T13:00:00Z",
            "--until",
            "2026-06-24T12:00:00Z",
        ],
        &["--state", "x"],
    ] {
        let out = pverec().arg("sessions").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn csv_reads_back_with_pythons_csv_module() {
    let tmp = tempfile::tempdir().unwrap();
    // A guest name a spreadsheet would run as a formula, with a control byte in it.
    let etc = tmp.path().join("etc-pve");
    copy_dir(&fixture("etc-pve"), &etc);
    fs::write(
        etc.join("nodes/pve1/lxc/201.conf"),
        "hostname: =HYPERLINK(\"http://x\",\"y\")\x1b[2J\n",
    )
    .unwrap();
    let run = |format: &str| {
        pverec()
            .current_dir(data("sessions"))
            .args([
                "sessions",
                "-f",
                format,
                "--tasks",
                "tasks",
                "--journal-file",
            ])
            .arg("entries.json")
            .arg("--etc-pve")
            .arg(&etc)
            .arg("access.log")
            .output()
            .unwrap()
            .stdout
    };
    let csv = run("csv");
    let mut python = Command::new(require_tool("python3"))
        .args([
            "-c",
            "import csv, json, sys; print(json.dumps(list(csv.DictReader(sys.stdin))))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    python.stdin.take().unwrap().write_all(&csv).unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(out.status.success());
    let rows: Vec<BTreeMap<String, String>> = serde_json::from_slice(&out.stdout).unwrap();
    let json: Vec<Value> = String::from_utf8(run("json"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), json.len());
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (row, record) in rows.iter().zip(&json) {
        for field in [
            "kind", "user", "client", "opened", "closed", "duration", "status", "ended",
        ] {
            assert_eq!(row[field], text(&record[field]), "{field}: {row:?}");
        }
        let lines: Vec<String> = record["evidence"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(text)
            .collect();
        assert_eq!(row["evidence_lines"], lines.join(" "));
    }
    let spice = rows.iter().find(|r| r["kind"] == "spice").unwrap();
    assert_eq!(
        spice["name"], "'=HYPERLINK(\"http://x\",\"y\")\\x1b[2J",
        "a formula is defused and the escape byte shown, not sent"
    );
    assert!(!csv.contains(&0x1b));
}

#[test]
fn the_table_on_a_terminal_is_aligned_in_local_time() {
    // A guest name with a terminal's escape sequence in it (a config edited by hand).
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc-pve");
    copy_dir(&fixture("etc-pve"), &etc);
    fs::write(
        etc.join("nodes/pve1/lxc/201.conf"),
        "hostname: fi\x1b]0;pwned\x07les\n",
    )
    .unwrap();
    let tty = on_a_terminal(160, &etc);
    assert!(
        tty.contains("201 (fi\\x1b]0;pwned\\x07"),
        "shown, not sent: {tty}"
    );
    let table: Vec<&str> = tty
        .lines()
        .filter(|l| !l.starts_with("pverec:") && !l.trim().is_empty())
        .collect();
    assert!(
        !tty.contains('\x1b') && !tty.contains('\x07'),
        "no escape sequences: {tty:?}"
    );
    let header = table[0];
    for column in [
        "KIND", "USER", "CLIENT", "GUEST", "OPENED", "DURATION", "STATUS", "ENDED",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert_eq!(table.len(), 21, "a header and 20 sessions: {tty}");
    // Aligned: every row's OPENED value starts under the header's OPENED (local time, +02:00).
    // (In characters: a cut name's `…` is one column on the terminal, three bytes.)
    let at = header.find("OPENED").unwrap();
    let from = |row: &str, n: usize| row.chars().skip(at).take(n).collect::<String>();
    let alice = table
        .iter()
        .find(|l| l.contains("alice@pve") && l.contains("100 (web01)"))
        .unwrap();
    assert_eq!(from(alice, 19), "2026-06-24 14:00:12", "{tty}");
    assert!(
        alice.contains("19m 48s") && alice.contains("completed"),
        "{alice}"
    );
    for row in &table[1..] {
        assert!(from(row, 12) == "2026-06-24 1", "{row}");
    }
    assert!(tty.contains("2h 15m"), "frank's UI session: {tty}");
    // A long name is cut, not wrapped.
    assert!(tty.contains("102 (build-runner-with-a…)"), "{tty}");
    assert!(table.iter().all(|l| l.chars().count() <= 160), "{tty}");

    // 110 columns: the counts and the node are left out, the free text wraps but is never
    // cut to single letters, each time stays whole on its line.
    let narrow = on_a_terminal(110, &etc);
    assert!(
        narrow
            .lines()
            .filter(|l| !l.starts_with("pverec:"))
            .all(|l| l.chars().count() <= 110),
        "{narrow}"
    );
    assert_eq!(narrow.matches("2026-06-24 1").count(), 20, "{narrow}");
    assert!(
        !narrow.contains("REQS") && narrow.contains("frank@pve"),
        "{narrow}"
    );
}

/// The table as a terminal `columns` wide shows it: script(1) gives pverec a pty as stdout.
fn on_a_terminal(columns: u16, etc: &Path) -> String {
    let cmd = format!(
        "stty cols {columns}; cd {}; {} sessions --tasks tasks --journal-file entries.json --etc-pve {} access.log",
        data("sessions").display(),
        bin().display(),
        etc.display()
    );
    let out = Command::new(require_tool("script"))
        .args(["-qec", &cmd, "/dev/null"])
        .env("TZ", "Europe/Vienna")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().replace('\r', "")
}

/// `pverec sessions --follow` on a log, a task directory that a test writes like PVE does.
struct Live {
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl Live {
    fn start(dir: tempfile::TempDir, extra: &[&str]) -> Live {
        Live::start_as(dir, "json", extra)
    }

    /// [`Live::start`] with output format `format`.
    fn start_as(dir: tempfile::TempDir, format: &str, extra: &[&str]) -> Live {
        let n = fs::read_dir(dir.path()).unwrap().count();
        let out = dir.path().join(format!("out-{n}"));
        let err = dir.path().join(format!("err-{n}"));
        let child = Command::new(bin())
            .env("TZ", "UTC")
            .args([
                "sessions",
                "--follow",
                "-f",
                format,
                "--no-journal",
                "--tasks",
            ])
            .arg(dir.path().join("tasks"))
            .arg("--no-etc-pve")
            .args(extra)
            .arg(dir.path().join("access.log"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let live = Live {
            dir,
            child: Some(child),
            out,
            err,
        };
        live.wait("pverec to wait", || live.sleeping());
        live
    }

    fn sleeping(&self) -> bool {
        let pid = self.child.as_ref().unwrap().id();
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('S'))
        })
    }

    fn records(&self) -> Vec<Value> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn wait(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}\nout: {:?}\nerr: {}",
                self.records(),
                fs::read_to_string(&self.err).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn wait_records(&self, n: usize) -> Vec<Value> {
        self.wait(&format!("{n} records"), || self.records().len() >= n);
        self.records()
    }

    fn stop(&mut self) -> tempfile::TempDir {
        let mut child = self.child.take().unwrap();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        assert!(child.wait().unwrap().success());
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Now, in the access.log's form, and as the task files' hex.
fn now_stamp(offset: i64) -> (String, String, i64) {
    let now = jiff::Timestamp::now().as_second() + offset;
    let ts = jiff::Timestamp::from_second(now).unwrap();
    let text = ts.strftime("%d/%m/%Y:%H:%M:%S +0000").to_string();
    (text, format!("{now:08X}"), now)
}

/// `active` rewritten as PVE does: a temporary file renamed over it.
fn write_active(tasks: &Path, text: &str) {
    let tmp = tasks.join("active.tmp.4242");
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, tasks.join("active")).unwrap();
}

#[test]
fn follow_prints_the_open_when_the_client_connects_and_the_close_when_the_task_ends() {
    for backend in [Backend::Inotify, Backend::Poll] {
        let dir = tempfile::tempdir().unwrap();
        let tasks = dir.path().join("tasks");
        fs::create_dir(&tasks).unwrap();
        fs::write(tasks.join("index"), "").unwrap();
        fs::write(tasks.join("active"), "").unwrap();
        let log = dir.path().join("access.log");
        fs::write(&log, "").unwrap();
        let poll: &[&str] = if backend == Backend::Poll {
            &["--poll"]
        } else {
            &[]
        };
        let mut state_args = vec!["--state".to_string()];
        state_args.push(dir.path().join("state").display().to_string());
        let mut args: Vec<&str> = poll.to_vec();
        args.extend(state_args.iter().map(String::as_str));
        let live = Live::start(dir, &args);

        // The console starts: its task is forked, then the request is answered.
        let (post, hex, start) = now_stamp(0);
        let upid = format!("UPID:pve1:00004E02:01A2C9C0:{hex}:vncproxy:100:alice@pve:");
        write_active(&tasks, &format!("{upid} 0\n"));
        append(
            &log,
            &format!(
                "::ffff:192.0.2.10 - alice@pve [{post}] \"POST /api2/extjs/nodes/pve1/qemu/100/vncproxy HTTP/1.1\" 200 190\n"
            ),
        );
        // The client connects.
        append(
            &log,
            &format!(
                "::ffff:192.0.2.10 - alice@pve [{post}] \"GET /api2/json/nodes/pve1/qemu/100/vncwebsocket?port=5900&vncticket=PVEVNC%3A{hex}%3A%3Asig HTTP/1.1\" 101 -\n"
            ),
        );
        let records = live.wait_records(2);
        let open = records.iter().find(|r| r["kind"] == "vnc").unwrap();
        assert_eq!(open["event"], "session_open");
        assert_eq!(open["status"], "ongoing");
        assert_eq!(open["user"], "alice@pve");
        assert_eq!(open["evidence"]["upids"], json!([upid]));
        assert!(open["closed"].is_null());
        // The ui session of alice opened with her first call (no journal, no login line).
        assert!(
            records
                .iter()
                .any(|r| r["kind"] == "ui" && r["event"] == "session_open")
        );

        // pverec restarts: the open console is in the state file, and its close still comes.
        let mut live = live;
        let dir = live.stop();
        let state = fs::read_to_string(dir.path().join("state")).unwrap();
        assert!(state.contains(&upid), "{state}");
        let live = Live::start(dir, &args);

        // The task ends: PVE moves it to the index with its end and status.
        let end = start + 42;
        append(&tasks.join("index"), &format!("{upid} {end:08X} OK\n"));
        write_active(&tasks, &format!("{upid} 1 {end:08X} OK\n"));
        live.wait("the close", || {
            live.records()
                .iter()
                .any(|r| r["event"] == "session_close" && r["kind"] == "vnc")
        });
        let close = live
            .records()
            .into_iter()
            .find(|r| r["event"] == "session_close")
            .unwrap();
        assert_eq!(close["status"], "completed");
        assert_eq!(close["ended"], "OK");
        assert_eq!(close["duration"], 42);
        assert_eq!(
            close["opened"], open["opened"],
            "opened as before the restart"
        );
        assert!(
            !live
                .records()
                .iter()
                .any(|r| r["event"] == "session_open" && r["kind"] == "vnc"),
            "the console is not opened twice"
        );
    }
}

#[test]
fn a_console_that_times_out_in_follow_gives_its_open_and_close_together() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("tasks");
    fs::create_dir(&tasks).unwrap();
    fs::write(tasks.join("index"), "").unwrap();
    fs::write(tasks.join("active"), "").unwrap();
    let log = dir.path().join("access.log");
    fs::write(&log, "").unwrap();
    let live = Live::start(dir, &[]);
    // Nine seconds ago: the 10 s the task waited for a client are over soon.
    let (post, hex, start) = now_stamp(-9);
    let upid = format!("UPID:pve1:00004E03:01A2C9C0:{hex}:vncshell::root@pam:");
    write_active(&tasks, &format!("{upid} 0\n"));
    append(
        &log,
        &format!(
            "::ffff:192.0.2.1 - root@pam [{post}] \"POST /api2/extjs/nodes/pve1/vncshell HTTP/1.1\" 200 190\n"
        ),
    );
    let end = start + 10;
    append(
        &tasks.join("index"),
        &format!("{upid} {end:08X} connection timed out\n"),
    );
    write_active(&tasks, "");
    live.wait("open and close", || {
        live.records()
            .iter()
            .filter(|r| r["kind"] == "shell")
            .count()
            == 2
    });
    let shell: Vec<Value> = live
        .records()
        .into_iter()
        .filter(|r| r["kind"] == "shell")
        .collect();
    assert_eq!(shell[0]["event"], "session_open");
    assert_eq!(shell[1]["event"], "session_close");
    assert_eq!(shell[1]["ended"], "connection timed out");
    assert!(shell[1]["connected"].is_null());
}

/// A `journalctl -o json` line of pvedaemon's `successful auth` at `us`.
fn auth_entry(i: usize, us: i64, user: &str) -> String {
    json!({
        "__CURSOR": format!("s=1;i={i}"), "__REALTIME_TIMESTAMP": us.to_string(),
        "_HOSTNAME": "pve1", "PRIORITY": "6", "SYSLOG_IDENTIFIER": "pvedaemon",
        "SYSLOG_PID": "2202", "_PID": "2202", "_COMM": "pvedaemon worke",
        "MESSAGE": format!("<root@pam> successful auth for user '{user}'"),
    })
    .to_string()
}

#[test]
fn a_password_login_after_a_pause_is_a_new_session_and_spice_channels_are_one() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("access.log");
    let svc = "::ffff:203.0.113.9";
    let lines = [
        // A script logs in with its password through /api2/json, calls, and half an hour
        // later logs in again: not a renewal of an open page, a new login.
        format!("{svc} - - [24/06/2026:10:00:00 +0200] \"POST /api2/json/access/ticket HTTP/1.1\" 200 1497"),
        format!("{svc} - svc@pve [24/06/2026:10:00:05 +0200] \"GET /api2/json/cluster/resources HTTP/1.1\" 200 900"),
        format!("{svc} - - [24/06/2026:10:30:00 +0200] \"POST /api2/json/access/ticket HTTP/1.1\" 200 1497"),
        format!("{svc} - svc@pve [24/06/2026:10:30:05 +0200] \"GET /api2/json/cluster/resources HTTP/1.1\" 200 900"),
        // Refused calls are the session's calls all the same.
        format!("{svc} - svc@pve [24/06/2026:10:30:06 +0200] \"GET /api2/json/nodes/pve1/qemu/100/config HTTP/1.1\" 403 -"),
        // QEMU's SPICE: no task; the client opens one connection per channel.
        "::ffff:192.0.2.10 - alice@pve [24/06/2026:11:00:00 +0200] \"POST /api2/extjs/nodes/pve1/qemu/100/spiceproxy HTTP/1.1\" 200 1300".to_string(),
        "::ffff:192.0.2.10 - - [24/06/2026:11:00:03 +0200] \"CONNECT pvespiceproxy:6a3b9c90:100:pve1::0123456789abcdef:61000 HTTP/1.1\" 200 -".to_string(),
        "::ffff:192.0.2.10 - - [24/06/2026:11:00:03 +0200] \"CONNECT pvespiceproxy:6a3b9c90:100:pve1::0123456789abcdef:61000 HTTP/1.1\" 200 -".to_string(),
        "::ffff:192.0.2.10 - - [24/06/2026:11:00:04 +0200] \"CONNECT pvespiceproxy:6a3b9c90:100:pve1::0123456789abcdef:61000 HTTP/1.1\" 200 -".to_string(),
    ];
    fs::write(&log, lines.join("\n") + "\n").unwrap();
    let at = |hms: &str| {
        let ts: jiff::Timestamp = format!("2026-06-24T{hms}+02:00").parse().unwrap();
        ts.as_microsecond() - 200_000
    };
    let journal = tmp.path().join("entries.json");
    fs::write(
        &journal,
        [
            auth_entry(1, at("10:00:00"), "svc@pve"),
            auth_entry(2, at("10:30:00"), "svc@pve"),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let out = pverec()
        .args(["sessions", "-f", "json", "--no-tasks", "--journal-file"])
        .arg(&journal)
        .arg(&log)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let svc: Vec<&Value> = records.iter().filter(|r| r["user"] == "svc@pve").collect();
    assert_eq!(svc.len(), 2, "{records:#?}");
    assert_eq!(svc[0]["ended"], "new login");
    assert_eq!(svc[0]["closed"], "2026-06-24T08:00:05Z");
    assert_eq!(svc[0]["renewals"], 0);
    assert_eq!(svc[1]["opened"], "2026-06-24T08:30:00Z");
    assert_eq!(svc[1]["requests"], 2, "the 403 counts");
    let spice: Vec<&Value> = records.iter().filter(|r| r["kind"] == "spice").collect();
    assert_eq!(spice.len(), 1, "{records:#?}");
    assert_eq!(
        spice[0]["status"], "unknown",
        "QEMU's SPICE has no task to end"
    );
    assert_eq!(spice[0]["connected"], "2026-06-24T09:00:03Z");
    assert!(
        !stderr.contains("console connections"),
        "channels are no orphans: {stderr}"
    );
}

/// `sessions --follow -f ocsf`: a console's opening and closing are OCSF Authentication
/// events (Logon, then Logoff with the session's span) that the validator takes.
#[test]
fn follow_ocsf_logs_a_console_on_and_off() {
    let defs = crate::ocsf::defs();
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("tasks");
    fs::create_dir(&tasks).unwrap();
    fs::write(tasks.join("index"), "").unwrap();
    fs::write(tasks.join("active"), "").unwrap();
    let log = dir.path().join("access.log");
    fs::write(&log, "").unwrap();
    let live = Live::start_as(dir, "ocsf", &[]);
    let (post, hex, start) = now_stamp(0);
    let upid = format!("UPID:pve1:00004E02:01A2C9C0:{hex}:vncproxy:100:alice@pve:");
    write_active(&tasks, &format!("{upid} 0\n"));
    append(
        &log,
        &format!(
            "::ffff:192.0.2.10 - alice@pve [{post}] \"POST /api2/extjs/nodes/pve1/qemu/100/vncproxy HTTP/1.1\" 200 190\n"
        ),
    );
    append(
        &log,
        &format!(
            "::ffff:192.0.2.10 - alice@pve [{post}] \"GET /api2/json/nodes/pve1/qemu/100/vncwebsocket?port=5900&vncticket=PVEVNC%3A{hex}%3A%3Asig HTTP/1.1\" 101 -\n"
        ),
    );
    live.wait_records(2);
    let end = start + 42;
    append(&tasks.join("index"), &format!("{upid} {end:08X} OK\n"));
    write_active(&tasks, &format!("{upid} 1 {end:08X} OK\n"));
    let vnc = |event: &str| {
        live.records().into_iter().find(|r| {
            r["unmapped"]["proxmox"]["event"] == event && r["unmapped"]["proxmox"]["kind"] == "vnc"
        })
    };
    live.wait("the close", || vnc("session_close").is_some());
    for doc in live.records() {
        crate::ocsf::check_ocsf(&doc, &defs);
        assert_eq!(doc["class_uid"], 3002, "{doc}");
    }
    let open = vnc("session_open").unwrap();
    assert_eq!(open["type_uid"], 300201, "{open}");
    assert_eq!(open["time"], start * 1000, "{open}");
    assert_eq!(open["logon_type_id"], 10, "{open}");
    assert_eq!(open["user"]["name"], "alice@pve", "{open}");
    assert_eq!(open["src_endpoint"]["ip"], "192.0.2.10", "{open}");
    let close = vnc("session_close").unwrap();
    assert_eq!(close["type_uid"], 300202, "{close}");
    assert_eq!(close["time"], end * 1000, "{close}");
    assert_eq!(close["duration"], 42_000, "{close}");
    assert_eq!(close["session"]["created_time"], start * 1000, "{close}");
}
