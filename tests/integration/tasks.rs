//! `convert` joined with the task directory and a saved spool: the fixture in `tests/data/tasks/`
//! is one afternoon on node pve1 (access.log, index.1, index, active, spool.events) with every
//! case issue 4 names: start/stop/destroy that worked and that failed, a config PUT whose body
//! only the spool has, a create with nested JSON, a token, a request proxied to pve2, two
//! identical clicks in one second, a task no request started, a running task, a secret in a
//! body and a spool event whose log line never came.

use serde_json::Value;

use crate::util::{data, pverec, require_tool, stdout_of};

/// JSON records of the fixture, with the tasks and the spool, plus extra arguments.
fn fixture_records(extra: &[&str]) -> Vec<Value> {
    let dir = data("tasks");
    let text = stdout_of(
        pverec()
            .current_dir(&dir)
            .args(["convert", "-f", "json", "--node", "pve1", "--tasks", "."])
            .args(["--events", "spool.events"])
            .args(extra)
            .arg("access.log"),
    );
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// The record of access.log line `n`.
fn at_line(records: &[Value], n: u64) -> &Value {
    records
        .iter()
        .find(|r| r["source"]["file"] == "access.log" && r["source"]["line"] == n)
        .unwrap_or_else(|| panic!("no record for line {n}"))
}

fn upid(record: &Value) -> &str {
    record["task"]["upid"].as_str().unwrap_or("")
}

#[test]
fn start_stop_destroy_take_their_task_outcome() {
    let r = fixture_records(&[]);
    let cases = [
        (
            1,
            "success",
            "UPID:pve1:00001000:01A2B3C4:6A3BC6C5:qmstart:100:alice@pve:",
        ),
        (
            2,
            "failure",
            "UPID:pve1:00001010:01A2B3C4:6A3BC6D4:qmstart:104:alice@pve:",
        ),
        (
            3,
            "success",
            "UPID:pve1:00001020:01A2B3C4:6A3BC6E8:qmstop:100:alice@pve:",
        ),
        (
            4,
            "failure",
            "UPID:pve1:00001030:01A2B3C4:6A3BC6F2:qmstop:101:alice@pve:",
        ),
        (
            5,
            "success",
            "UPID:pve1:00001040:01A2B3C4:6A3BC6FC:qmdestroy:102:alice@pve:",
        ),
        (
            6,
            "failure",
            "UPID:pve1:00001050:01A2B3C4:6A3BC706:qmdestroy:105:automation@pve!ci:",
        ),
    ];
    for (line, outcome, expected) in cases {
        let record = at_line(&r, line);
        assert_eq!(record["outcome"], outcome, "line {line}");
        assert_eq!(upid(record), expected, "line {line}");
    }
    // The task record carries what an audit needs: type, id, worker pid, times, status.
    let destroy = &at_line(&r, 6)["task"];
    assert_eq!(destroy["type"], "qmdestroy");
    assert_eq!(destroy["id"], "105");
    assert_eq!(destroy["pid"], 0x1050);
    assert_eq!(destroy["start"], "2026-06-24T12:01:10Z");
    assert_eq!(destroy["end"], "2026-06-24T12:01:12Z");
    assert_eq!(destroy["status"], "VM 105 is running - destroy failed");
    // WARNINGS: N is a success.
    assert_eq!(at_line(&r, 5)["task"]["status"], "WARNINGS: 1");
}

#[test]
fn pvesh_notes_say_why_a_task_failed() {
    let dir = data("tasks");
    let text = stdout_of(pverec().current_dir(&dir).args([
        "convert",
        "--node",
        "pve1",
        "--tasks",
        ".",
        "access.log",
    ]));
    let lines = crate::util::without_who(&text);
    assert_eq!(
        lines[5],
        "pvesh delete /nodes/pve1/qemu/105  # failed: VM 105 is running - destroy failed"
    );
    assert!(lines[1].ends_with("failed: start failed: QEMU exited with code 1"));
    assert!(lines[4].ends_with("# WARNINGS: 1"));
    assert!(lines[0].starts_with("pvesh create /nodes/pve1/qemu/100/status/start"));
    assert!(!lines[0].contains("failed"));
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("# body not recorded; running: UPID:pve1:00001090:01A2B3C4:6A3BC74C:qmstart:103:alice@pve:")),
        "{text}"
    );
}

#[test]
fn config_put_takes_its_body_from_the_spool() {
    let r = fixture_records(&[]);
    let put = at_line(&r, 7);
    assert_eq!(put["params_source"], "spool");
    assert_eq!(put["params"]["memory"], "4096");
    assert_eq!(
        put["pvesh"],
        "pvesh set /nodes/pve1/qemu/100/config --delete ide2 --digest abc --memory 4096 \
         --net0 virtio=BC:24:11:00:00:01,bridge=vmbr0"
    );
    // A synchronous PUT starts no task.
    assert!(put["task"].is_null());
}

/// The RFC client's rendering of a spool event (pve-formats.md §5), written here independently
/// as the oracle: `pvesh <verb> <path>`, then the params in sorted key order, one option per
/// array element, nested values as compact JSON, scalars as text; a boolean is JSON `true`/`false`
/// on its own (a blessed reference in Perl, which the client encodes) and `1`/`0` in an array.
fn rfc_argv(event: &Value) -> Vec<String> {
    let verb = match event["method"].as_str().unwrap() {
        "GET" => "get",
        "POST" => "create",
        "PUT" => "set",
        "DELETE" => "delete",
        other => panic!("no verb for {other}"),
    };
    let mut argv = vec![
        "pvesh".to_string(),
        verb.to_string(),
        event["path"].as_str().unwrap().to_string(),
    ];
    let params = event["params"].as_object().unwrap();
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    for key in keys {
        match &params[key] {
            Value::Array(items) => {
                for item in items {
                    argv.push(format!("--{key}"));
                    argv.push(scalar(item));
                }
            }
            Value::Bool(b) => {
                argv.push(format!("--{key}"));
                argv.push(b.to_string());
            }
            value => {
                argv.push(format!("--{key}"));
                argv.push(scalar(value));
            }
        }
    }
    argv
}

#[test]
fn spool_argv_equals_the_rfc_rendering_except_secrets() {
    let events: Vec<Value> = std::fs::read_to_string(data("tasks/spool.events"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let r = fixture_records(&["--show-secrets"]);
    let redacted = fixture_records(&[]);
    let spool_records: Vec<(&Value, &Value)> = r
        .iter()
        .zip(&redacted)
        .filter(|(x, _)| x["params_source"] == "spool")
        .collect();
    assert_eq!(spool_records.len(), events.len());
    for ((shown, hidden), event) in spool_records.into_iter().zip(&events) {
        let expected = rfc_argv(event);
        let argv: Vec<String> = serde_json::from_value(shown["argv"].clone()).unwrap();
        assert_eq!(argv, expected);
        // Redacted: the same argv but the secret values.
        let hidden: Vec<String> = serde_json::from_value(hidden["argv"].clone()).unwrap();
        assert_eq!(hidden.len(), expected.len());
        for (i, (h, e)) in hidden.iter().zip(&expected).enumerate() {
            if expected[i.saturating_sub(1)] == "--password" && i > 0 {
                assert_eq!(h, "<redacted>");
            } else {
                assert_eq!(h, e);
            }
        }
    }
}

#[test]
fn create_with_nested_json_by_a_token() {
    let r = fixture_records(&[]);
    let create = at_line(&r, 8);
    assert_eq!(create["user"], "automation@pve");
    assert_eq!(create["token"], "ci");
    assert_eq!(create["outcome"], "success");
    assert_eq!(create["task"]["type"], "qmcreate");
    assert_eq!(create["task"]["id"], "110");
    // Params keep their JSON shape in the record.
    assert_eq!(create["params"]["tags"], serde_json::json!(["web", "prod"]));
    assert_eq!(
        create["params"]["meta"]["ports"],
        serde_json::json!([80, 443])
    );
    assert_eq!(create["params"]["onboot"], true);
    let argv: Vec<&str> = create["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let meta = argv.iter().position(|a| *a == "--meta").unwrap();
    assert_eq!(argv[meta + 1], r#"{"owner":"ops","ports":[80,443]}"#);
    assert_eq!(argv.iter().filter(|a| **a == "--tags").count(), 2);
}

#[test]
fn a_proxied_request_stays_unknown() {
    let r = fixture_records(&[]);
    let proxied = at_line(&r, 9);
    assert_eq!(proxied["path"], "/nodes/pve2/qemu/200/status/start");
    assert!(proxied["task"].is_null());
    assert_eq!(proxied["outcome"], "unknown");
}

#[test]
fn two_identical_clicks_join_their_tasks_in_order() {
    let r = fixture_records(&[]);
    let (first, second) = (at_line(&r, 10), at_line(&r, 11));
    assert_eq!(first["time"], second["time"]);
    assert_eq!(
        upid(first),
        "UPID:pve1:00001070:01A2B3C4:6A3BC72E:vzstart:300:bob@pve:"
    );
    assert_eq!(first["outcome"], "success");
    assert_eq!(
        upid(second),
        "UPID:pve1:00001071:01A2B3C4:6A3BC72E:vzstart:300:bob@pve:"
    );
    assert_eq!(second["outcome"], "failure");
}

#[test]
fn a_task_without_a_request_is_class_task() {
    let r = fixture_records(&["--class", "write,task"]);
    let tasks: Vec<&Value> = r.iter().filter(|x| x["class"] == "task").collect();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = tasks[0];
    assert_eq!(
        upid(task),
        "UPID:pve1:00001080:01A2B3C4:6A3BC738:vzdump::root@pam:"
    );
    assert_eq!(task["user"], "root@pam");
    assert_eq!(task["time"], "2026-06-24T12:02:00Z");
    assert_eq!(task["outcome"], "success");
    assert!(task["pvesh"].is_null() && task["argv"].is_null());
    // Not shown by default, and every joined task is not shown again on its own.
    assert!(fixture_records(&[]).iter().all(|x| x["class"] != "task"));
    let all = fixture_records(&["--all"]);
    assert_eq!(all.iter().filter(|x| x["class"] == "task").count(), 1);
}

#[test]
fn outcome_filter_keeps_what_worked_or_what_failed() {
    let success = fixture_records(&["--outcome", "success"]);
    let lines: Vec<u64> = success
        .iter()
        .map(|r| r["source"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 3, 5, 7, 8, 10, 12]);
    let failure = fixture_records(&["--outcome", "failure"]);
    let lines: Vec<u64> = failure
        .iter()
        .map(|r| r["source"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 4, 6, 11]);
}

#[test]
fn a_spool_event_without_its_log_line_is_shown_with_a_warning() {
    let out = pverec()
        .current_dir(data("tasks"))
        .args([
            "convert",
            "-f",
            "json",
            "--tasks",
            ".",
            "--events",
            "spool.events",
        ])
        .arg("access.log")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "no access.log line came for the spool event POST /nodes/pve1/qemu/106/status/reboot"
        ),
        "{stderr}"
    );
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["path"], "/nodes/pve1/qemu/106/status/reboot");
    assert_eq!(last["params_source"], "spool");
    assert!(last["http_status"].is_null());
    assert_eq!(last["source"]["file"], "spool.events");
}

#[test]
fn malformed_task_and_spool_lines_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let src = data("tasks");
    for name in ["access.log", "index.1", "active"] {
        std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    let index = std::fs::read_to_string(src.join("index")).unwrap();
    let mut lines: Vec<&str> = index.lines().collect();
    lines.insert(
        1,
        "UPID:pve1:nothex:01A2B3C4:6A3BC6F2:qmstop:101:alice@pve: 6A3BC6F3 OK",
    );
    std::fs::write(dir.path().join("index"), lines.join("\n") + "\n").unwrap();
    let events = std::fs::read_to_string(src.join("spool.events")).unwrap();
    std::fs::write(
        dir.path().join("spool.events"),
        format!("{{not json\n{events}"),
    )
    .unwrap();
    let out = pverec()
        .current_dir(dir.path())
        .args(["convert", "-f", "json", "--node", "pve1", "--tasks", "."])
        .args(["--events", "spool.events", "access.log"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("index:2:"), "{stderr}");
    assert!(stderr.contains("spool.events:1:"), "{stderr}");
    // Everything else still joins.
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(at_line(&records, 6)["outcome"], "failure");
    assert_eq!(at_line(&records, 7)["params_source"], "spool");
}

#[test]
fn a_missing_task_directory_is_an_input_error() {
    let out = pverec()
        .args(["convert", "--tasks", "/nonexistent/tasks"])
        .arg(data("tasks/access.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/tasks"), "{stderr}");
    // The log is still converted, without outcomes.
    assert!(String::from_utf8_lossy(&out.stdout).contains("pvesh delete /nodes/pve1/qemu/105"));
}

#[test]
fn no_tasks_means_no_join() {
    let text = stdout_of(pverec().current_dir(data("tasks")).args([
        "convert",
        "-f",
        "json",
        "--no-tasks",
        "access.log",
    ]));
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(records.iter().all(|x| x["task"].is_null()));
    assert_eq!(at_line(&records, 6)["outcome"], "unknown");
}

/// The join on a generated two-and-a-half-day log of node pve1 (scripts/gen-tasks.py: UI
/// polling, several users and a token, double clicks, background_delay calls, requests proxied
/// to pve2, refused requests, CLI/scheduler/HA tasks, tasks clobbered out of the index), against
/// the generator's record of which task each request started.
#[test]
fn a_generated_log_joins_every_task_it_still_has() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = std::process::Command::new(require_tool("python3"))
        .arg(root.join("scripts/gen-tasks.py"))
        .arg(dir.path())
        .args(["--requests", "20000", "--seed", "7"])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let text = stdout_of(
        pverec()
            .args([
                "convert", "--all", "-f", "json", "--node", "pve1", "--tasks",
            ])
            .arg(dir.path().join("tasks"))
            .arg(dir.path().join("access.log")),
    );
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_line: std::collections::HashMap<u64, &Value> = records
        .iter()
        .filter(|r| r["class"] != "task")
        .map(|r| (r["source"]["line"].as_u64().unwrap(), r))
        .collect();
    let truth = std::fs::read_to_string(dir.path().join("truth.jsonl")).unwrap();
    let (mut expected, mut joined) = (0, 0);
    for entry in truth
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
    {
        let record = by_line[&entry["line"].as_u64().unwrap()];
        let got = record["task"]["upid"].as_str();
        match entry["upid"].as_str() {
            // 595-599 or `500 -`: the answer never came, the task ran anyway. Joining those
            // is wanted (scripts/join-rate.py counts it) but not yet done; never a wrong task.
            Some(upid) if entry["unknown_status"] == true => {
                assert!(got.is_none() || got == Some(upid), "line {}", entry["line"]);
            }
            Some(upid) => {
                expected += 1;
                assert_eq!(got, Some(upid), "line {}", entry["line"]);
                joined += 1;
            }
            None => assert_eq!(got, None, "a false join at line {}", entry["line"]),
        }
    }
    assert!(
        expected > 500,
        "the generated log has {expected} task-starting requests"
    );
    assert_eq!(joined, expected);
    // Every task no request started, within the log's span, shows as class task.
    let lone: std::collections::HashSet<&str> = records
        .iter()
        .filter(|r| r["class"] == "task")
        .map(|r| r["task"]["upid"].as_str().unwrap())
        .collect();
    let tasks = std::fs::read_to_string(dir.path().join("truth-tasks.jsonl")).unwrap();
    for entry in tasks
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
    {
        if entry["in_log_span"] == true {
            assert!(lone.contains(entry["upid"].as_str().unwrap()), "{entry}");
        }
    }
}

#[test]
fn a_task_without_a_request_in_script_and_pvesh_formats() {
    let run = |format: &str| {
        stdout_of(
            pverec()
                .current_dir(data("tasks"))
                .args(["convert", "-f", format, "--class", "task", "--node", "pve1"])
                .args(["--tasks", ".", "access.log"]),
        )
    };
    let upid = "UPID:pve1:00001080:01A2B3C4:6A3BC738:vzdump::root@pam:";
    let script = run("script");
    assert!(
        script.contains(&format!(
            "# 2026-06-24 12:02:00+00:00 root@pam from -: not in access.log, outcome success; not replayed: a task no logged request started\n# task {upid} OK\n"
        )),
        "{script}"
    );
    // Nothing in the script runs for it.
    assert!(!script.lines().any(|l| l.starts_with("pvesh")), "{script}");
    // The UPID ends with its own `:`, which separates it from the status: no `::`.
    assert_eq!(
        run("pvesh"),
        format!("# 2026-06-24 12:02:00+00:00 root@pam\n# task without a request: {upid} OK\n")
    );
}

#[test]
fn secrets_nested_in_a_spool_body_are_redacted_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("access.log"),
        "::ffff:10.0.0.7 - alice@pve [24/06/2026:14:00:05 +0200] \"POST /api2/json/cluster/custom/hook HTTP/1.1\" 200 81\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("spool.events"),
        r#"{"method":"POST","path":"/cluster/custom/hook","params":{"name":"x","auth":{"user":"u","password":"hunter2"},"list":[{"token":"t0p"}]},"userid":"alice@pve","format":"json"}"#
            .to_string()
            + "\n",
    )
    .unwrap();
    let run = |format: &str| {
        stdout_of(pverec().current_dir(dir.path()).args([
            "convert",
            "-f",
            format,
            "--events",
            "spool.events",
            "access.log",
        ]))
    };
    let json = run("json");
    let pvesh = run("pvesh");
    for out in [&json, &pvesh] {
        assert!(!out.contains("hunter2") && !out.contains("t0p"), "{out}");
    }
    let record: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(record["params"]["auth"], "<redacted>");
    assert_eq!(record["params"]["list"], "<redacted>");
    assert_eq!(record["params"]["name"], "x");
    assert_eq!(record["redacted"], serde_json::json!(["auth", "list"]));
    assert!(pvesh.contains("--name x"), "{pvesh}");
    assert!(pvesh.contains("PVE_SECRET_AUTH"), "{pvesh}");
}
