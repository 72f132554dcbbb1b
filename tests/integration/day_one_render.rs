//! Issue 10, the output side of an admin's first hour: `--no-comments` never makes a failed
//! command look like one that worked (item 5), the pvesh format says who and when (6), a
//! `-f script` runs as it stands (7), human-read times are local with their offset while JSON
//! stays UTC (9), pvesh's `-o/--output-format` and `json-pretty` (12), the JSON `event` field
//! and UPIDs without a doubled `::` in notes (18).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::follower::{BACKENDS, Follower, Scene, append};
use crate::util::{data, is_who_line, pverec, stdout_of};

/// The repository's task fixture converted with its tasks (`extra` added), with `TZ`.
fn tasks_fixture(tz: &str, extra: &[&str]) -> std::process::Output {
    pverec()
        .env("TZ", tz)
        .current_dir(data("tasks"))
        .args(["convert", "--node", "pve1", "--tasks", "."])
        .args(extra)
        .arg("access.log")
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A directory with a fake `pvesh` that appends its argv to `calls` (one call per line, the
/// arguments separated by a tab), and nothing else.
fn fake_pvesh(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let pvesh = bin.join("pvesh");
    fs::write(
        &pvesh,
        "#!/bin/sh\nIFS=\"$(printf '\\t')\"\nprintf '%s\\n' \"$*\" >> \"$PVESH_CALLS\"\n",
    )
    .unwrap();
    fs::set_permissions(&pvesh, fs::Permissions::from_mode(0o755)).unwrap();
    (bin, dir.join("calls"))
}

/// Runs `script` with bash, the fake pvesh first in PATH and `env` set; returns the exit
/// status, stderr and the pvesh calls (each as its argv).
fn run_with_fake_pvesh(
    dir: &Path,
    script: &str,
    env: &[(&str, &str)],
) -> (bool, String, Vec<Vec<String>>) {
    let (bin, calls) = fake_pvesh(dir);
    let _ = fs::remove_file(&calls);
    let file = dir.join("replay.sh");
    fs::write(&file, script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}\n{script}",
        String::from_utf8_lossy(&check.stderr)
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = Command::new("bash")
        .arg(&file)
        .env_clear()
        .env("PATH", path)
        .env("PVESH_CALLS", &calls)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let calls = fs::read_to_string(&calls)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    (
        run.status.success(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
        calls,
    )
}

// --- item 5: --no-comments --------------------------------------------------------------------

/// The fixture's failed starts and the refused destroy are commented out without notes, and
/// the output piped to a shell runs only what may have worked.
#[test]
fn no_comments_keeps_failed_commands_out_of_the_shell() {
    let out = text(&tasks_fixture("UTC", &["--no-comments"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"# failed: pvesh create /nodes/pve1/qemu/104/status/start"),
        "{out}"
    );
    assert!(
        lines.contains(&"# failed: pvesh delete /nodes/pve1/qemu/105"),
        "{out}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("pvesh") && l.contains("/qemu/104/")),
        "a failed command printed as a runnable line: {out}"
    );
    // Nothing else is a comment: no notes, no who-and-when lines.
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("pvesh ") || l.starts_with("# failed: pvesh ")),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr, calls) = run_with_fake_pvesh(dir.path(), &out, &[]);
    assert!(ok, "{stderr}");
    let paths: Vec<&str> = calls.iter().map(|c| c[1].as_str()).collect();
    assert_eq!(
        calls.len(),
        lines.iter().filter(|l| l.starts_with("pvesh")).count()
    );
    for failed in [
        "/nodes/pve1/qemu/104/status/start",
        "/nodes/pve1/qemu/101/status/stop",
        "/nodes/pve1/qemu/105",
    ] {
        assert!(!paths.contains(&failed), "{failed} ran: {calls:?}");
    }
}

/// A request that never ran (a redirect to HTTPS) says so, commented out.
#[test]
fn no_comments_marks_a_request_that_never_ran() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    fs::write(
        &log,
        "::ffff:10.0.0.7 - root@pam [24/06/2026:14:00:05 +0200] \"POST /api2/json/nodes/pve1/qemu/100/status/reset HTTP/1.1\" 308 -\n\
         ::ffff:10.0.0.7 - root@pam [24/06/2026:14:00:06 +0200] \"PUT /api2/json/cluster/options?keyboard=de HTTP/1.1\" 200 13\n",
    )
    .unwrap();
    let out = stdout_of(pverec().args(["convert", "--no-comments"]).arg(&log));
    assert_eq!(
        out,
        "# not executed: pvesh create /nodes/pve1/qemu/100/status/reset\n\
         pvesh set /cluster/options --keyboard de\n"
    );
}

/// `--no-comments` with a format it does not apply to is a usage error, as clap reports them.
#[test]
fn no_comments_with_another_format_is_a_usage_error() {
    for (command, format, input) in [
        ("convert", "json", "/nonexistent/access.log"),
        ("convert", "json-pretty", "/nonexistent/access.log"),
        ("convert", "script", "/nonexistent/access.log"),
        ("follow", "json", "--access-log=/nonexistent/access.log"),
    ] {
        let out = pverec()
            .args([command, "--no-comments", "-f", format, input])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{command} -f {format}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!(
                "error: the argument '--no-comments' cannot be used with '--format {format}'"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("Usage: pverec {command} [OPTIONS]")),
            "{stderr}"
        );
    }
}

// --- item 6: who and when -----------------------------------------------------------------------

fn logged(time: &str, user: &str, client: &str, vmid: u32) -> String {
    format!(
        "::ffff:{client} - {user} [{time}] \"DELETE /api2/json/nodes/pve1/qemu/{vmid}/snapshot/old HTTP/1.1\" 200 13\n"
    )
}

/// Three sessions of the same clicks: a who-and-when line for each, in local time with its
/// offset, and another where the user or the client changes; none with `--no-comments`.
#[test]
fn pvesh_format_says_who_and_when() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut text = String::new();
    for session in ["14:03:14", "15:10:00", "16:20:00"] {
        text += &logged(
            &format!("24/06/2026:{session} +0200"),
            "alice@pve",
            "192.168.10.23",
            100,
        );
        text += &logged(
            &format!("24/06/2026:{session} +0200"),
            "alice@pve",
            "192.168.10.23",
            101,
        );
    }
    text += &logged("24/06/2026:16:21:00 +0200", "bob@pve", "192.168.10.23", 102);
    text += &logged("24/06/2026:16:22:00 +0200", "bob@pve", "192.168.10.99", 103);
    fs::write(&log, text).unwrap();
    let run = |tz: &str, extra: &[&str]| {
        stdout_of(pverec().env("TZ", tz).arg("convert").args(extra).arg(&log))
    };
    let command = |vmid: u32| format!("pvesh delete /nodes/pve1/qemu/{vmid}/snapshot/old");
    assert_eq!(
        run("Europe/Berlin", &[]),
        [
            "# 2026-06-24 14:03:14+02:00 alice@pve from 192.168.10.23".to_string(),
            command(100),
            command(101),
            "# 2026-06-24 15:10:00+02:00 alice@pve from 192.168.10.23".to_string(),
            command(100),
            command(101),
            "# 2026-06-24 16:20:00+02:00 alice@pve from 192.168.10.23".to_string(),
            command(100),
            command(101),
            "# 2026-06-24 16:21:00+02:00 bob@pve from 192.168.10.23".to_string(),
            command(102),
            "# 2026-06-24 16:22:00+02:00 bob@pve from 192.168.10.99".to_string(),
            command(103),
        ]
        .map(|l| l + "\n")
        .concat()
    );
    let utc = run("UTC", &[]);
    assert!(
        utc.starts_with("# 2026-06-24 12:03:14+00:00 alice@pve from 192.168.10.23\n"),
        "{utc}"
    );
    assert_eq!(utc.lines().filter(|l| is_who_line(l)).count(), 5, "{utc}");
    let bare = run("Europe/Berlin", &["--no-comments"]);
    assert!(!bare.contains('#'), "{bare}");
    assert_eq!(bare.lines().count(), 8);
}

/// A new local day starts a new line even after a short pause: the day is the local one.
#[test]
fn who_line_when_the_local_day_changes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    fs::write(
        &log,
        logged("24/06/2026:21:55:00 +0000", "alice@pve", "10.0.0.7", 100)
            + &logged("24/06/2026:22:01:00 +0000", "alice@pve", "10.0.0.7", 101),
    )
    .unwrap();
    let who = |tz: &str| -> Vec<String> {
        stdout_of(pverec().env("TZ", tz).arg("convert").arg(&log))
            .lines()
            .filter(|l| is_who_line(l))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        who("UTC"),
        ["# 2026-06-24 21:55:00+00:00 alice@pve from 10.0.0.7"]
    );
    assert_eq!(
        who("Europe/Berlin"),
        [
            "# 2026-06-24 23:55:00+02:00 alice@pve from 10.0.0.7",
            "# 2026-06-25 00:01:00+02:00 alice@pve from 10.0.0.7",
        ]
    );
}

// --- item 7: a script that runs as it stands ------------------------------------------------

const ALICE: &str = "::ffff:10.0.0.7 - alice@pve [24/06/2026:14:00:05 +0200]";

fn request(line: &str, status: u16) -> String {
    format!("{ALICE} \"{line} HTTP/1.1\" {status} 13\n")
}

fn body(method: &str, path: &str, params: Value) -> String {
    json!({
        "method": method, "path": path, "params": params,
        "userid": "alice@pve", "format": "json", "client_ip": "::ffff:10.0.0.7",
    })
    .to_string()
        + "\n"
}

/// A log with every kind of request the script must not run, and four it must.
fn script_scene() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let log = [
        request("POST /api2/json/nodes/pve1/qemu/100/snapshot", 200),
        request("POST /api2/json/nodes/pve1/qemu/101/snapshot", 200),
        request("POST /api2/json/nodes/pve1/qemu/100/clone", 200),
        request("POST /api2/json/nodes/pve1/qemu", 200),
        request("PUT /api2/json/access/password", 200),
        request("POST /api2/json/access/users", 200),
        request("POST /api2/json/nodes/pve1/qemu/100/vncproxy", 200),
        request("POST /api2/json/nodes/pve1/lxc/300/termproxy", 200),
        request("POST /api2/json/nodes/pve1/qemu/100/spiceproxy", 200),
        request(
            "GET /api2/json/nodes/pve1/qemu/100/vncwebsocket?port=5900&vncticket=PVEVNC%3A6A3BC788%3A%3Asig",
            101,
        ),
        request("DELETE /api2/json/nodes/pve1/qemu/105", 403),
        request("POST /api2/json/nodes/pve1/qemu/100/status/start", 200),
    ]
    .concat();
    fs::write(dir.path().join("access.log"), log).unwrap();
    let events = [
        body(
            "POST",
            "/nodes/pve1/qemu/100/snapshot",
            json!({"snapname": "before-upgrade"}),
        ),
        body(
            "POST",
            "/nodes/pve1/qemu/100/clone",
            json!({"name": "copy"}),
        ),
        body(
            "PUT",
            "/access/password",
            json!({"userid": "bob@pve", "password": "pw-one"}),
        ),
        body(
            "POST",
            "/access/users",
            json!({"userid": "carol@pve", "password": "pw-two"}),
        ),
    ]
    .concat();
    fs::write(dir.path().join("spool.events"), events).unwrap();
    dir
}

fn script_of(dir: &Path, tz: &str) -> String {
    stdout_of(
        pverec()
            .env("TZ", tz)
            .current_dir(dir)
            .args([
                "convert",
                "-f",
                "script",
                "--all",
                "--events",
                "spool.events",
            ])
            .arg("access.log"),
    )
}

#[test]
fn script_header_counts_and_lists_each_secret() {
    let dir = script_scene();
    let script = script_of(dir.path(), "Europe/Berlin");
    let header: Vec<&str> = script.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(
        header,
        [
            "#!/bin/bash",
            "# Generated by pverec 0.1.0 from access.log.",
            "# 4 commands, 8 requests left as comments:",
            "#   3 lacking a required parameter",
            "#   4 console or websocket requests",
            "#   1 failed",
            "# Secrets are not in this script. Export each of these variables before running it \
             (the script stops at once, before any command, if one is unset):",
            "#   PVE_SECRET_1_PASSWORD: parameter password of PUT /access/password by alice@pve \
             (access.log line 5)",
            "#   PVE_SECRET_2_PASSWORD: parameter password of POST /access/users by alice@pve \
             (access.log line 6)",
            "#   PVE_SECRET_3_VNCTICKET: parameter vncticket of GET \
             /nodes/pve1/qemu/100/vncwebsocket by alice@pve (access.log line 10) (only in a \
             commented-out request: not needed)",
            "set -euo pipefail",
            ": \"${PVE_SECRET_1_PASSWORD:?is not set: export it (see the list at the top of this script)}\"",
            ": \"${PVE_SECRET_2_PASSWORD:?is not set: export it (see the list at the top of this script)}\"",
        ]
    );
    // What is missing is said where the request stands, with local times.
    for (vmid, what) in [
        (
            "101/snapshot",
            "lacks the required snapname (its body was not recorded)",
        ),
        ("100/clone", "lacks the required newid"),
    ] {
        assert!(
            script.contains(&format!(
                "# 2026-06-24 14:00:05+02:00 alice@pve from 10.0.0.7: HTTP 200, outcome unknown; \
                 {}not replayed: {what}\n# pvesh create /nodes/pve1/qemu/{vmid}",
                if what.contains("body") {
                    "body not recorded; "
                } else {
                    ""
                }
            )),
            "{vmid}: {script}"
        );
    }
    assert!(
        script.contains("not replayed: lacks the required vmid (its body was not recorded)\n# pvesh create /nodes/pve1/qemu\n"),
        "{script}"
    );
    // Console and websocket requests are never commands.
    for console in ["vncproxy", "termproxy", "spiceproxy", "vncwebsocket"] {
        assert!(
            !script
                .lines()
                .any(|l| l.starts_with("pvesh") && l.contains(console)),
            "{console}: {script}"
        );
    }
    // The script header's times are local; JSON stays UTC.
    let json = stdout_of(
        pverec()
            .env("TZ", "Europe/Berlin")
            .current_dir(dir.path())
            .args(["convert", "-f", "json"])
            .arg("access.log"),
    );
    let first: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["time"], "2026-06-24T12:00:05Z");
}

/// The script passes `bash -n`, replays exactly the commands it counts with the secrets given,
/// and stops before any command when one is missing.
#[test]
fn script_replays_exactly_its_commands() {
    let dir = script_scene();
    let script = script_of(dir.path(), "UTC");
    let secrets = [
        ("PVE_SECRET_1_PASSWORD", "pw-one"),
        ("PVE_SECRET_2_PASSWORD", "pw-two"),
    ];
    let (ok, stderr, calls) = run_with_fake_pvesh(dir.path(), &script, &secrets);
    assert!(ok, "{stderr}\n{script}");
    let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    assert_eq!(
        calls,
        [
            argv(&[
                "create",
                "/nodes/pve1/qemu/100/snapshot",
                "--snapname",
                "before-upgrade"
            ]),
            argv(&[
                "set",
                "/access/password",
                "--password",
                "pw-one",
                "--userid",
                "bob@pve"
            ]),
            argv(&[
                "create",
                "/access/users",
                "--password",
                "pw-two",
                "--userid",
                "carol@pve"
            ]),
            argv(&["create", "/nodes/pve1/qemu/100/status/start"]),
        ]
    );
    assert!(script.contains("\n# 4 commands, 8 requests left as comments:\n"));

    // One secret unset: a clear message naming it, and not one command ran.
    let (ok, stderr, calls) = run_with_fake_pvesh(dir.path(), &script, &secrets[..1]);
    assert!(!ok);
    assert!(
        stderr.contains("PVE_SECRET_2_PASSWORD: is not set: export it"),
        "{stderr}"
    );
    assert!(calls.is_empty(), "{calls:?}");
}

/// follow cannot hold the script until the end: its header comes first, without counts; each
/// secret variable is checked just before its first command; the counts come in a trailer
/// when it stops.
#[test]
fn follow_script_ends_with_its_counts() {
    let backend = BACKENDS[0];
    let Scene { dir, log, .. } = Scene::new(backend);
    fs::write(&log, "").unwrap();
    let mut f = Follower::start(
        dir.path(),
        &log,
        backend,
        &["-f", "script", "--all", "--no-spool"],
    );
    append(
        &log,
        &(request(
            "PUT /api2/json/access/password?userid=bob%40pve&password=pw-one",
            200,
        ) + &request("POST /api2/json/nodes/pve1/qemu/101/snapshot", 200)
            + &request("POST /api2/json/nodes/pve1/qemu/100/vncproxy", 200)),
    );
    f.wait_until("the three requests", || {
        f.output()
            .iter()
            .filter(|l| l.contains("alice@pve from"))
            .count()
            == 3
    });
    assert!(
        !f.output().iter().any(|l| l.contains(" commands,")),
        "no counts before the end: {:?}",
        f.output()
    );
    f.stop();
    let script = f.output().join("\n") + "\n";
    assert!(script.starts_with("#!/bin/bash\n"), "{script}");
    let check = ": \"${PVE_SECRET_1_PASSWORD:?is not set";
    let check_at = script.find(check).expect("the check");
    let command_at = script
        .find("\npvesh set /access/password")
        .expect("the command");
    assert!(check_at < command_at, "{script}");
    assert!(
        script.ends_with(&format!(
            "\n# End of the requests pverec follow saw.\n\
             # 1 command, 2 requests left as comments:\n\
             #   1 lacking a required parameter\n\
             #   1 console or websocket requests\n\
             # Secrets are not in this script. Export each of these variables before running it \
             (the script stops at once, before any command, if one is unset):\n\
             #   PVE_SECRET_1_PASSWORD: parameter password of PUT /access/password by alice@pve \
             ({} line 1)\n",
            log.display()
        )),
        "{script}"
    );
    let (ok, stderr, calls) =
        run_with_fake_pvesh(dir.path(), &script, &[("PVE_SECRET_1_PASSWORD", "pw-one")]);
    assert!(ok, "{stderr}");
    assert_eq!(calls.len(), 1, "{calls:?}");
}

// --- item 12: -o/--output-format, json-pretty ------------------------------------------------

#[test]
fn pvesh_output_format_flag_and_json_pretty() {
    let records = |format: &[&str]| text(&tasks_fixture("UTC", &[&["--all"], format].concat()));
    let json = records(&["-f", "json"]);
    assert_eq!(records(&["-o", "json"]), json);
    assert_eq!(records(&["--output-format", "json"]), json);
    let pretty = records(&["--output-format", "json-pretty"]);
    assert_eq!(records(&["-o", "json-pretty"]), pretty);
    assert!(
        pretty.starts_with("{\n  \"event\": \"request\",\n"),
        "{pretty}"
    );
    // A stream of JSON values (as jq reads it), the same records as JSON Lines.
    let stream: Vec<Value> = serde_json::Deserializer::from_str(&pretty)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap();
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(stream, lines);
    assert!(pretty.lines().count() > 10 * lines.len());
}

// --- item 18: the event field, UPIDs in notes ------------------------------------------------

#[test]
fn json_records_name_their_event() {
    let out = text(&tasks_fixture("UTC", &["--all", "-f", "json"]));
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for r in &records {
        let expected = if r["class"] == "task" {
            "task"
        } else {
            "request"
        };
        assert_eq!(r["event"], expected, "{r}");
    }
    assert!(records.iter().any(|r| r["event"] == "task"));
    assert!(records.iter().any(|r| r["event"] == "request"));
}

#[test]
fn upids_in_notes_are_not_doubled() {
    let out = text(&tasks_fixture("UTC", &["--all"]));
    assert!(
        out.contains(
            "# task without a request: UPID:pve1:00001080:01A2B3C4:6A3BC738:vzdump::root@pam: OK\n"
        ),
        "{out}"
    );
    assert!(
        !out.contains("@pam::") && !out.contains("@pve::") && !out.contains("!ci::"),
        "{out}"
    );
    let script = text(&tasks_fixture("UTC", &["--all", "-f", "script"]));
    assert!(
        script.contains("\n# task UPID:pve1:00001080:01A2B3C4:6A3BC738:vzdump::root@pam: OK\n"),
        "{script}"
    );
}
