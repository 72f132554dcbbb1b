//! Lines read the way pveproxy meant them (issue 9): routing as PVE routes, the request line and
//! query as `AnyEvent.pm` reads them, users as PVE splits them, outcomes from the logged status
//! and length, objects for every event, and what cannot be replayed. Each log line is shaped as
//! the web UI or pveproxy really writes it; response lengths are computed from the body pveproxy
//! sends (`Formatter/Standard.pm`), never typed in.

use std::path::Path;

use serde_json::Value;

use crate::util::*;

const NODE: &str = "pve";
/// 24/06/2026 14:00:00 +0200.
const T0: i64 = 0x6A3B_C580;

/// An access.log time field for `t` (UTC offset +0200, as the node's local time).
fn log_time(t: i64) -> String {
    let ts = jiff::Timestamp::from_second(t + 7200).unwrap();
    ts.strftime("%d/%m/%Y:%H:%M:%S +0200").to_string()
}

/// A UPID of [`NODE`] started at `t`.
fn upid(pid: u32, t: i64, kind: &str, id: &str, user: &str) -> String {
    format!("UPID:{NODE}:{pid:08X}:01A2B3C4:{t:08X}:{kind}:{id}:{user}:")
}

/// The extjs answer of a started task: `{"data":"<UPID>","success":1}`.
fn extjs_upid(upid: &str) -> usize {
    format!(r#"{{"data":"{upid}","success":1}}"#).len()
}

/// The extjs answer of an error: `{"data":null,"message":"…","status":500,"success":0}`.
fn extjs_error(message: &str) -> usize {
    let message = serde_json::to_string(message).unwrap();
    format!(r#"{{"data":null,"message":{message},"status":500,"success":0}}"#).len()
}

/// `{"data":null,"success":1}`.
const EXTJS_NULL: usize = 25;

/// One access.log line of `user` at `t`.
fn line(t: i64, user: &str, request: &str, status: u16, length: Option<usize>) -> String {
    let length = length.map_or("-".to_string(), |l| l.to_string());
    format!(
        "::ffff:192.168.1.5 - {user} [{}] \"{request}\" {status} {length}",
        log_time(t)
    )
}

/// A line before the tasks start: a task is shown on its own only within the span of the log.
fn early_line() -> String {
    line(
        T0 - 1,
        "root@pam",
        "GET /api2/json/version HTTP/1.1",
        200,
        Some(80),
    )
}

/// A scene: access.log and a task index in a temporary directory.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new(log: &[String], index: &[String]) -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let tasks = dir.path().join("tasks");
        std::fs::create_dir(&tasks).unwrap();
        std::fs::write(dir.path().join("access.log"), log.join("\n") + "\n").unwrap();
        let index = if index.is_empty() {
            String::new()
        } else {
            index.join("\n") + "\n"
        };
        std::fs::write(tasks.join("index"), index).unwrap();
        std::fs::write(tasks.join("active"), "").unwrap();
        Scene { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> String {
        stdout_of(
            pverec()
                .current_dir(self.path())
                .args(["convert", "--node", NODE, "--tasks", "tasks"])
                .args(args)
                .arg("access.log"),
        )
    }

    fn records(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["-f", "json"];
        all.extend_from_slice(args);
        self.run(&all)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect()
    }
}

/// A finished task's index line.
fn ended(upid: &str, end: i64, status: &str) -> String {
    format!("{upid} {end:08X} {status}")
}

#[test]
fn a_raw_volume_delete_joins_its_failing_imgdel_task() {
    // The web UI deletes a backup with the raw volume id in the path and `?delay=5`
    // (proxmox-widget-toolkit StdRemoveButton): the call waits for its imgdel task and, when
    // that fails, answers the task's error.
    let volume = "local:backup/vzdump-qemu-100-2026_06_24-13_00_00.vma.zst";
    let task = upid(0x2000, T0, "imgdel", "100@local", "root@pam");
    let error = "volume deletion failed: backup is protected";
    let log = [
        line(
            T0 + 2,
            "root@pam",
            &format!(
                "DELETE /api2/extjs/nodes/{NODE}/storage/local/content/{volume}?delay=5 HTTP/1.1"
            ),
            200,
            Some(extjs_error(error)),
        ),
        // The same delete, percent-encoded (older UIs, API clients).
        line(
            T0 + 12,
            "root@pam",
            &format!(
                "DELETE /api2/json/nodes/{NODE}/storage/local/content/{} HTTP/1.1",
                volume.replace('/', "%2F").replace(':', "%3A")
            ),
            200,
            Some(upid(0x2001, T0 + 11, "imgdel", "100@local", "root@pam").len() + 11),
        ),
    ];
    let index = [
        ended(&task, T0 + 1, error),
        ended(
            &upid(0x2001, T0 + 11, "imgdel", "100@local", "root@pam"),
            T0 + 12,
            "OK",
        ),
    ];
    let scene = Scene::new(&log, &index);
    let recs = scene.records(&["--all"]);
    assert_eq!(recs.len(), 2, "no stray task: {recs:#?}");
    for (r, outcome) in recs.iter().zip(["failure", "success"]) {
        assert_eq!(
            r["template"],
            "/nodes/{node}/storage/{storage}/content/{volume}"
        );
        assert_eq!(r["action"], "delete");
        assert_eq!(r["object"]["type"], "volume");
        assert_eq!(r["object"]["id"], volume);
        assert_eq!(r["outcome"], outcome);
        assert_eq!(r["task"]["type"], "imgdel");
    }
    assert_eq!(recs[0]["task"]["upid"], task);
    assert_eq!(recs[0]["task"]["status"], error);
    // A failed delete is no line to replay.
    let script = scene.run(&["-f", "script"]);
    assert!(
        script.contains(&format!(
            "# pvesh delete /nodes/{NODE}/storage/local/content/{volume} --delay 5"
        )),
        "{script}"
    );
    let pvesh = scene.run(&[]);
    assert!(pvesh.contains(&format!("# failed: {error}")), "{pvesh}");
}

#[test]
fn localhost_is_the_serving_node() {
    let task = upid(0x2100, T0, "qmstart", "100", "alice@pve");
    let log = [line(
        T0 + 1,
        "alice@pve",
        "POST /api2/extjs/nodes/localhost/qemu/100/status/start HTTP/1.1",
        200,
        Some(extjs_upid(&task)),
    )];
    let scene = Scene::new(&log, &[ended(&task, T0 + 3, "OK")]);
    let r = &scene.records(&[])[0];
    assert_eq!(r["task"]["upid"], task);
    assert_eq!(r["outcome"], "success");
    assert_eq!(r["path"], "/nodes/localhost/qemu/100/status/start");
}

#[test]
fn request_lines_as_pveproxy_reads_them() {
    let stop = "/api2/json/nodes/pve/qemu/100/status/stop";
    let requests = [
        format!("GARBAGE POST {stop} HTTP/1.1"),
        "X\tDELETE /api2/json/nodes/pve/qemu/100 HTTP/1.1".to_string(),
        format!("POST {stop} HTTP/1.1 junk"),
        format!("POST http://pve:8006{stop} HTTP/1.1"),
        // A line that starts like the UI's polling but is a POST for pveproxy.
        format!("GET x POST {stop} HTTP/1.1"),
        "POST /%61pi2/%6Ason/nodes/pve/qemu/106%2Fstatus%2Fstop HTTP/1.1".to_string(),
        "POST /api2%2Fjson/nodes/pve/qemu/107/status/stop HTTP/1.1".to_string(),
        // Never served: no version, HTTP/2, an @ before the first slash.
        "POST /api2/json/nodes/pve/qemu/100/status/stop".to_string(),
        format!("POST {stop} HTTP/2.0"),
        "POST u@h/api2/json/nodes/pve/qemu/100/status/stop HTTP/1.1".to_string(),
    ];
    let log: Vec<String> = requests
        .iter()
        .map(|r| line(T0, "root@pam", r, 200, Some(80)))
        .collect();
    let scene = Scene::new(&log, &[]);
    // The default selection (writes) shows every real write, and only those.
    let out = scene.run(&["--no-comments"]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "pvesh create /nodes/pve/qemu/100/status/stop",
            "pvesh delete /nodes/pve/qemu/100",
            "pvesh create /nodes/pve/qemu/100/status/stop",
            "pvesh create /nodes/pve/qemu/100/status/stop",
            "pvesh create /nodes/pve/qemu/100/status/stop",
            "pvesh create /nodes/pve/qemu/106/status/stop",
            "pvesh create /nodes/pve/qemu/107/status/stop",
        ]
    );
    let recs = scene.records(&["--all"]);
    for r in &recs[7..] {
        assert_eq!(r["class"], "other", "{r}");
        assert!(r["pvesh"].is_null());
    }
}

#[test]
fn the_query_as_decode_urlencoded_reads_it() {
    let log = [line(
        T0,
        "root@pam",
        "DELETE /api2/json/nodes/pve/qemu/105?purge&destroy-unreferenced-disks=1;skiplock=1=x&purge HTTP/1.1",
        200,
        Some(80),
    )];
    let scene = Scene::new(&log, &[]);
    // A bare key is absent (never `--purge ''`, which pvesh would run as purge=1); `;` splits
    // pairs; a value ends at a second `=`.
    assert_eq!(
        scene.run(&["--no-comments"]).trim_end(),
        "pvesh delete /nodes/pve/qemu/105 --destroy-unreferenced-disks 1 --skiplock 1"
    );
}

#[test]
fn users_are_split_after_the_realm() {
    let req = "DELETE /api2/json/nodes/pve/qemu/105 HTTP/1.1";
    let log = [
        line(T0, "bang!user@pve", req, 200, Some(80)),
        line(T0, "bang!user@pve!ci", req, 200, Some(80)),
        line(T0, "alice@pve!ci", req, 200, Some(80)),
    ];
    let scene = Scene::new(&log, &[]);
    let recs = scene.records(&[]);
    let users: Vec<(Value, Value)> = recs
        .iter()
        .map(|r| (r["user"].clone(), r["token"].clone()))
        .collect();
    assert_eq!(
        users,
        [
            (Value::from("bang!user@pve"), Value::Null),
            (Value::from("bang!user@pve"), Value::from("ci")),
            (Value::from("alice@pve"), Value::from("ci")),
        ]
    );
    let bang = scene.records(&["--user", "bang!user@pve"]);
    assert_eq!(bang.len(), 2, "the user and its token");
    assert!(scene.records(&["--user", "bang"]).is_empty());
}

#[test]
fn outcomes_from_the_status_and_the_length() {
    let start =
        |vmid: u32, pid: u32, t: i64| upid(pid, t, "qmstart", &vmid.to_string(), "alice@pve");
    let started = start(101, 0x2200, T0);
    let timed_out = start(102, 0x2201, T0);
    let aborted = start(103, 0x2202, T0);
    let refused = start(104, 0x2203, T0);
    let vm = |vmid: u32| format!("POST /api2/extjs/nodes/pve/qemu/{vmid}/status/start HTTP/1.1");
    let options = "PUT /api2/extjs/cluster/options HTTP/1.1";
    let log = [
        // 0: the log starts before the tasks (a task is shown alone only within the log's span).
        early_line(),
        // 1-3: a null-returning write: success, an error answer, a (maybe compressed) big one.
        line(T0 + 1, "alice@pve", options, 200, Some(EXTJS_NULL)),
        line(
            T0 + 1,
            "alice@pve",
            options,
            200,
            Some(extjs_error("permission denied")),
        ),
        line(T0 + 1, "alice@pve", options, 200, Some(1500)),
        // 4: a redirect to HTTPS never ran, even a login.
        line(
            T0 + 1,
            "-",
            "POST /api2/extjs/access/ticket HTTP/1.1",
            301,
            None,
        ),
        // 5: a started task: its UPID fits the length.
        line(
            T0 + 1,
            "alice@pve",
            &vm(101),
            200,
            Some(extjs_upid(&started)),
        ),
        // 6, 7: no answer from the proxy in time, a client that went away: the task still joins.
        line(T0 + 31, "alice@pve", &vm(102), 596, Some(34)),
        line(T0 + 2, "alice@pve", &vm(103), 500, None),
        // 8: an error before any fork: its task (started by someone at that second, with the
        // same type and guest) is not this request's.
        line(
            T0 + 1,
            "alice@pve",
            &vm(104),
            200,
            Some(extjs_error("VM 104 is locked (backup)")),
        ),
    ];
    let index = [
        ended(&started, T0 + 4, "OK"),
        ended(&timed_out, T0 + 5, "OK"),
        ended(&aborted, T0 + 5, "start failed: QEMU exited with code 1"),
        ended(&refused, T0 + 5, "OK"),
    ];
    let scene = Scene::new(&log, &index);
    let recs = scene.records(&["--all"]);
    let requests: Vec<&Value> = recs
        .iter()
        .filter(|r| r["class"] != "task" && r["class"] != "read")
        .collect();
    let outcomes: Vec<&str> = requests
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "success",
            "failure",
            "unknown",
            "not_executed",
            "success",
            "success",
            "failure",
            "failure"
        ]
    );
    let task_of = |i: usize| requests[i]["task"]["upid"].as_str().map(str::to_string);
    assert_eq!(task_of(4), Some(started));
    assert_eq!(task_of(5), Some(timed_out));
    assert_eq!(task_of(6), Some(aborted));
    assert_eq!(task_of(7), None);
    let lone: Vec<&Value> = recs.iter().filter(|r| r["class"] == "task").collect();
    assert_eq!(lone.len(), 1);
    assert_eq!(lone[0]["task"]["upid"], refused);
    // A redirect is neither a failure nor a success.
    let failures = scene.records(&["--all", "--outcome", "failure"]);
    assert!(failures.iter().all(|r| r["http_status"] != 301));
    let notes = scene.run(&["--all"]);
    assert!(
        notes.contains("not executed: HTTP 301, a redirect to HTTPS"),
        "{notes}"
    );
    assert!(
        notes.contains(&format!(
            "failed: an error answer ({} bytes)",
            extjs_error("permission denied")
        )),
        "{notes}"
    );
    assert!(
        notes.contains("HTTP 596: no answer, the call may have run"),
        "{notes}"
    );
    let script = scene.run(&["--all", "-f", "script"]);
    assert!(
        script.contains("# pvesh create /access/ticket"),
        "not replayed: {script}"
    );
}

#[test]
fn every_event_has_its_object() {
    let lone = [
        (
            upid(0x2300, T0, "qmstart", "100", "root@pam"),
            "qemu",
            "100",
        ),
        (upid(0x2301, T0, "vzstart", "300", "root@pam"), "lxc", "300"),
        (
            upid(0x2302, T0, "qmmove", "100-scsi0>101-scsi1", "root@pam"),
            "qemu",
            "100",
        ),
        (
            upid(0x2303, T0, "srvrestart", "pveproxy", "root@pam"),
            "service",
            "pveproxy",
        ),
        (
            upid(0x2304, T0, "imgdel", "100@local-lvm", "root@pam"),
            "storage",
            "local-lvm",
        ),
        (upid(0x2305, T0, "aptupdate", "", "root@pam"), "node", NODE),
        (upid(0x2306, T0, "vzdump", "", "root@pam"), "node", NODE),
        (
            upid(0x2307, T0, "download", "debian-12.iso", "root@pam"),
            "file",
            "debian-12.iso",
        ),
        (
            upid(0x2308, T0, "auth-realm-sync", "ldap", "root@pam"),
            "realm",
            "ldap",
        ),
    ];
    let log = [
        early_line(),
        line(
            T0 + 1,
            "alice@pve",
            "DELETE /api2/json/access/tfa/alice@pve/totp1?password=x HTTP/1.1",
            200,
            Some(13),
        ),
        line(
            T0 + 120,
            "root@pam",
            "GET /api2/json/version HTTP/1.1",
            200,
            Some(80),
        ),
    ];
    let index: Vec<String> = lone
        .iter()
        .map(|(u, _, _)| ended(u, T0 + 1, "OK"))
        .collect();
    let scene = Scene::new(&log, &index);
    let recs = scene.records(&["--all"]);
    let tfa = recs.iter().find(|r| r["action"] == "delete_tfa").unwrap();
    assert_eq!(
        tfa["object"],
        serde_json::json!({"type": "userid", "id": "alice@pve"})
    );
    for (u, kind, id) in &lone {
        let r = recs
            .iter()
            .find(|r| r["task"]["upid"] == *u)
            .unwrap_or_else(|| panic!("{u} not shown"));
        // Guests have a name field (null: no /etc/pve here).
        let expected = if matches!(*kind, "qemu" | "lxc" | "vmid") {
            serde_json::json!({"type": kind, "id": id, "name": null})
        } else {
            serde_json::json!({"type": kind, "id": id})
        };
        assert_eq!(r["object"], expected, "{u}");
    }
}

#[test]
fn lines_that_cannot_be_replayed_say_so() {
    let cases = [
        (
            "GET /api2/json/nodes/pve/qemu/100/vncwebsocket?port=5900&vncticket=PVEVNC%3A6A3BC788%3A%3Asig HTTP/1.1",
            101,
            "a websocket upgrade checks a ticket, it is no action",
        ),
        (
            "POST /api2/json/nodes/pve/storage/local/upload HTTP/1.1",
            200,
            "an upload needs the uploaded file",
        ),
        (
            "POST /api2/extjs/cluster/options HTTP/1.1",
            200,
            "no create handler for this path in PVE 9",
        ),
        (
            "POST /api2/extjs/nodes/pve/qemu/100/migrate-old HTTP/1.1",
            200,
            "no such path in the PVE 9 API",
        ),
        (
            "DELETE /api2/json/nodes/pve/qemu/105?quiet=1 HTTP/1.1",
            200,
            "pvesh takes --quiet as its own output option",
        ),
    ];
    let log: Vec<String> = cases
        .iter()
        .map(|(r, status, _)| line(T0, "root@pam", r, *status, None))
        .collect();
    let scene = Scene::new(&log, &[]);
    let recs = scene.records(&["--all"]);
    let pvesh = without_who(&scene.run(&["--all"]));
    let script = scene.run(&["--all", "-f", "script"]);
    for (i, (_, _, reason)) in cases.iter().enumerate() {
        assert_eq!(recs[i]["not_replayable"], *reason);
        assert!(
            pvesh[i].starts_with(&format!("# not replayable, {reason}: pvesh ")),
            "{}",
            pvesh[i]
        );
        assert!(
            script.contains(&format!("not replayable: {reason}")),
            "{script}"
        );
    }
    // Commands only: none of these is a command.
    assert_eq!(scene.run(&["--all", "--no-comments"]), "");
    // The script runs no pvesh at all.
    assert!(!script.lines().any(|l| l.starts_with("pvesh ")), "{script}");
}
