//! Issue 11, findings 3 and 4, through the real binary: a printed pvesh command does no more
//! than the logged request did (its argv, as bash splits it, read by a model of pvesh's
//! Getopt::Long option parsing, `tests/data/pvesh-getopt.pl`, gives back the logged
//! parameters), and no secret of the listed shapes and names reaches any output.

use std::process::Command;

use serde_json::Value;

use crate::util::{data, pverec, require_tool};

/// A log line of root's from 10.0.0.7.
fn log_line(method: &str, target: &str) -> String {
    format!(
        "::ffff:10.0.0.7 - root@pam [24/06/2026:14:00:05 +0200] \"{method} {target} HTTP/1.1\" 200 81"
    )
}

/// Every byte but letters and digits as `%XX`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn spool_event(method: &str, path: &str, params: Value) -> Value {
    serde_json::json!({
        "method": method, "path": path, "params": params,
        "userid": "root@pam", "format": "json", "client_ip": "::ffff:10.0.0.7",
    })
}

/// `convert --all -f FORMAT` of `log` (and `events`), with `extra` arguments: (stdout, stderr).
fn run(log: &[String], events: Option<&Value>, format: &str, extra: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("access.log"), log.join("\n") + "\n").unwrap();
    let mut cmd = pverec();
    cmd.current_dir(dir.path())
        .args(["convert", "--all", "-f", format]);
    if let Some(events) = events {
        std::fs::write(dir.path().join("spool.events"), format!("{events}\n")).unwrap();
        cmd.args(["--events", "spool.events"]);
    }
    let out = cmd.args(extra).arg("access.log").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON record of the one request.
fn record(log: &[String], events: Option<&Value>) -> Value {
    let (out, _) = run(log, events, "json", &[]);
    let line = out.lines().next().unwrap();
    serde_json::from_str(line).unwrap()
}

/// The argv bash makes of a command line.
fn bash_argv(command: &str) -> Vec<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("printf '%s\\0' {command}"))
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.strip_suffix('\0')
        .unwrap_or(&text)
        .split('\0')
        .map(str::to_string)
        .collect()
}

/// What pvesh makes of `args` (after `pvesh <verb>`) with the option spec of `spec`
/// (`name:type,…`): `Ok(parameters)` or `Err(why it refuses)`.
fn pvesh_reads(spec: &str, args: &[String]) -> Result<serde_json::Map<String, Value>, String> {
    let perl = require_tool("perl");
    let out = Command::new(perl)
        .arg(data("pvesh-getopt.pl"))
        .arg(spec)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    match (&result["ok"], &result["error"]) {
        (Value::Object(map), _) => Ok(map.clone()),
        (_, Value::String(e)) => Err(e.clone()),
        _ => panic!("{result}"),
    }
}

/// The values every option shape is tried with.
const HOSTILE: [&str; 12] = [
    "--skiplock",
    "-1",
    "-",
    "--",
    "=x",
    "",
    "1",
    "0",
    "--purge=1",
    "-skiplock",
    "yes",
    "x y",
];

/// (method, path, the endpoint's options as `name:type`) for each shape tried: boolean,
/// string, integer, enum and a `*-list` format.
const ENDPOINTS: [(&str, &str, &str); 2] = [
    (
        "DELETE",
        "/nodes/pve1/qemu/100",
        "purge:boolean,skiplock:boolean,destroy-unreferenced-disks:boolean",
    ),
    (
        "PUT",
        "/nodes/pve1/qemu/100/config",
        "description:string,cores:integer,ostype:enum,delete:list,skiplock:boolean,force:boolean",
    ),
];

#[test]
fn replay_reads_back_as_the_logged_parameters() {
    require_tool("perl");
    for (method, path, spec) in ENDPOINTS {
        for option in spec.split(',') {
            let (name, kind) = option.split_once(':').unwrap();
            for value in HOSTILE {
                let target = format!("/api2/json{path}");
                let log = [log_line(method, &target)];
                let body = spool_event(method, path, serde_json::json!({ name: value }));
                let record = record(&log, Some(&body));
                let case = format!("{method} {path} {name}={value:?}: {record}");
                assert_eq!(record["params"][name], value, "{case}");
                let official = value == "0" || value == "1";
                if let Value::String(why) = &record["not_replayable"] {
                    // Only a boolean value that pvesh would read as another one.
                    assert_eq!(kind, "boolean", "{case}");
                    assert!(["", "yes"].contains(&value), "{case}");
                    assert!(why.contains("pvesh reads"), "{case}");
                    continue;
                }
                let line = record["pvesh"].as_str().expect(&case);
                let argv = bash_argv(line.strip_prefix("pvesh ").unwrap());
                assert_eq!(argv[1], path, "{case}");
                match pvesh_reads(spec, &argv[1..]) {
                    Ok(mut read) => {
                        assert_eq!(read.remove("api_path"), Some(Value::from(path)), "{case}");
                        let expected = serde_json::json!({ name: value });
                        assert_eq!(Value::Object(read), expected, "{case}: {line}");
                    }
                    // pvesh refusing it is doing no more, where the API refused it too: a
                    // boolean is exactly 0 or 1 (pve-common JSONSchema.pm `check_type`).
                    Err(e) => assert!(kind == "boolean" && !official, "{case}: {line}: {e}"),
                }
            }
        }
    }
}

#[test]
fn a_value_like_an_option_is_written_in_the_option_word() {
    let target = format!(
        "/api2/json/nodes/pve1/qemu/100?purge={}",
        encode("--skiplock")
    );
    let (out, _) = run(&[log_line("DELETE", &target)], None, "pvesh", &[]);
    assert!(
        out.contains("pvesh delete /nodes/pve1/qemu/100 --purge=--skiplock"),
        "{out}"
    );
    let record = record(&[log_line("DELETE", &target)], None);
    assert_eq!(
        record["argv"],
        serde_json::json!([
            "pvesh",
            "delete",
            "/nodes/pve1/qemu/100",
            "--purge=--skiplock"
        ])
    );
    // Script format: the same word.
    let (script, _) = run(&[log_line("DELETE", &target)], None, "script", &[]);
    assert!(script.contains("--purge=--skiplock"), "{script}");
    assert!(!script.contains("--purge --skiplock"), "{script}");
}

#[test]
fn options_pvesh_would_read_as_others_are_not_replayed() {
    for (query, why) in [
        ("purge=yes", "pvesh reads --purge=\"yes\" as 1"),
        ("purge=", "pvesh reads --purge=\"\" as 1"),
        ("skiplock=OFF", "pvesh reads --skiplock=\"OFF\" as 0"),
        ("purg=1", "pvesh reads --purg as --purge"),
        ("SKIPLOCK=1", "pvesh reads --SKIPLOCK as --skiplock"),
    ] {
        let target = format!("/api2/json/nodes/pve1/qemu/100?{query}");
        let log = [log_line("DELETE", &target)];
        let record = record(&log, None);
        if query == "purge=" && record["params"].get("purge").is_none() {
            continue; // an empty query value is not a parameter
        }
        let reason = record["not_replayable"].as_str().unwrap_or_default();
        assert!(reason.contains(why), "{query}: {record}");
        let (out, _) = run(&log, None, "pvesh", &[]);
        assert!(out.contains("# not replayable, pvesh reads"), "{out}");
    }
    // A JSON `true` in a body is what the API takes too.
    let path = "/nodes/pve1/qemu/100";
    let body = spool_event("DELETE", path, serde_json::json!({"purge": true}));
    let record = record(
        &[log_line("DELETE", &format!("/api2/json{path}"))],
        Some(&body),
    );
    assert_eq!(record["not_replayable"], Value::Null, "{record}");
}
