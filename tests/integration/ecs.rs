//! Issue 16, `-f ecs`: every document pverec writes for the fixtures' events (requests, tasks,
//! logins, consoles, sessions; changes in `config_changes.rs`) is checked against ECS 9.4.0
//! itself: its flat field list and the allowed values of `event.*`, as `tests/data/ecs/` keeps
//! them (scripts/gen-ecs-defs.py, from github:elastic/ecs tag v9.4.0).

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::util::{data, pverec};

/// One ECS field: its type and whether it holds an array.
struct Field {
    kind: String,
    array: bool,
}

fn fields() -> HashMap<String, Field> {
    let text = std::fs::read_to_string(data("ecs/fields-9.4.0.csv")).unwrap();
    let mut reader = csv_rows(&text);
    let head = reader.remove(0);
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let (field, kind, norm) = (col("Field"), col("Type"), col("Normalization"));
    reader
        .into_iter()
        .map(|row| {
            (
                row[field].clone(),
                Field {
                    kind: row[kind].clone(),
                    array: row[norm].contains("array"),
                },
            )
        })
        .collect()
}

/// A small CSV reader (RFC 4180 quoting), enough for ECS's fields.csv.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    rows
}

fn allowed() -> Value {
    serde_json::from_str(&std::fs::read_to_string(data("ecs/allowed-9.4.0.json")).unwrap()).unwrap()
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

fn type_ok(kind: &str, value: &Value) -> bool {
    match kind {
        "keyword" | "wildcard" | "match_only_text" | "text" | "constant_keyword" => {
            value.is_string()
        }
        "long" | "integer" => value.is_i64() || value.is_u64(),
        "ip" => value
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        "date" => value
            .as_str()
            .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok()),
        _ => false,
    }
}

/// Panics, naming the field, where `doc` is no ECS 9.4.0 document.
pub(crate) fn check_ecs(doc: &Value) {
    let fields = fields();
    let allowed = allowed();
    let mut flat = Vec::new();
    let mut outer = doc.clone();
    let proxmox = outer.as_object_mut().unwrap().remove("proxmox");
    assert!(
        proxmox.is_some_and(|p| p.is_object()),
        "no proxmox object: {doc}"
    );
    flatten("", &outer, &mut flat);
    for (name, value) in &flat {
        let field = fields
            .get(name)
            .unwrap_or_else(|| panic!("{name} is no ECS 9.4.0 field: {doc}"));
        let ok = match value {
            Value::Array(items) => field.array && items.iter().all(|i| type_ok(&field.kind, i)),
            single => type_ok(&field.kind, single),
        };
        assert!(
            ok,
            "{name} = {value} is not of ECS type {} (array: {}): {doc}",
            field.kind, field.array
        );
    }
    assert_eq!(doc["ecs"]["version"], "9.4.0");
    let kinds = &allowed["allowed"];
    assert!(
        kinds["event.kind"]
            .get(doc["event"]["kind"].as_str().unwrap())
            .is_some()
    );
    assert!(
        kinds["event.outcome"]
            .get(doc["event"]["outcome"].as_str().unwrap())
            .is_some()
    );
    let categories: Vec<&str> = doc["event"]["category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let types: Vec<&str> = doc["event"]["type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(!categories.is_empty() && !types.is_empty(), "{doc}");
    let expected = |c: &str| -> Vec<String> {
        kinds["event.category"][c]
            .as_array()
            .unwrap_or_else(|| panic!("event.category {c} is not allowed: {doc}"))
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    for t in &types {
        assert!(
            kinds["event.type"].get(*t).is_some(),
            "event.type {t}: {doc}"
        );
        assert!(
            categories
                .iter()
                .any(|c| expected(c).iter().any(|e| e == t)),
            "event.type {t} fits none of {categories:?}: {doc}"
        );
    }
    for c in &categories {
        assert!(
            types.iter().any(|t| expected(c).iter().any(|e| e == t)),
            "event.category {c} has none of its types in {types:?}: {doc}"
        );
    }
    if let Some(path) = doc["url"]["path"].as_str() {
        assert!(!path.contains('?'), "a query in url.path: {doc}");
    }
}

pub(crate) fn lines(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// convert of the journal fixture (requests, tasks without a request, logins, consoles, the
/// shell's work) in `format`. The OCSF tests read the same.
pub(crate) fn journal_fixture(format: &str) -> Vec<Value> {
    let mut all = fixture(
        "journal",
        &["--tasks", "tasks", "--journal-file", "entries.json"],
        format,
    );
    // The task fixture: tasks without a request, failed tasks, a spool's bodies.
    all.extend(fixture(
        "tasks",
        &["--tasks", ".", "--events", "spool.events"],
        format,
    ));
    all
}

/// `pverec sessions` of the sessions fixture (consoles, UI logins, API tokens) in `format`.
pub(crate) fn sessions_fixture(format: &str) -> Vec<Value> {
    let out = pverec()
        .current_dir(data("sessions"))
        .args(["sessions", "-f", format, "--tasks", "tasks"])
        .args([
            "--journal-file",
            "entries.json",
            "--etc-pve",
            "etc-pve",
            "access.log",
        ])
        .output()
        .unwrap();
    lines(&out)
}

pub(crate) fn fixture(name: &str, args: &[&str], format: &str) -> Vec<Value> {
    let out = pverec()
        .env("TZ", "Europe/Vienna")
        .current_dir(data(name))
        .args(["convert", "--all", "--node", "pve1", "-f", format])
        .args(args)
        .arg("access.log")
        .output()
        .unwrap();
    lines(&out)
}

#[test]
fn every_record_of_the_fixtures_is_an_ecs_document_with_the_record_under_proxmox() {
    let ecs = journal_fixture("ecs");
    let json = journal_fixture("json");
    assert_eq!(ecs.len(), json.len());
    let mut seen: Vec<String> = Vec::new();
    let mut timed = 0;
    for (doc, record) in ecs.iter().zip(&json) {
        check_ecs(doc);
        assert_eq!(&doc["proxmox"], record, "the record, whole, under proxmox");
        assert_eq!(doc["@timestamp"], record["time"]);
        for c in doc["event"]["category"].as_array().unwrap() {
            let c = c.as_str().unwrap().to_string();
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        if let Some(user) = record["user"].as_str() {
            let (name, domain) = user.rsplit_once('@').unwrap();
            assert_eq!(doc["user"]["name"], name);
            assert_eq!(doc["user"]["domain"], domain);
            assert!(
                doc["related"]["user"]
                    .as_array()
                    .unwrap()
                    .contains(&record["user"])
            );
        }
        if record["source_ip"].is_string() {
            assert_eq!(doc["source"]["ip"], record["source_ip"]);
        }
        if record["outcome"] == "success" || record["outcome"] == "failure" {
            assert_eq!(doc["event"]["outcome"], record["outcome"]);
        } else {
            assert_eq!(doc["event"]["outcome"], "unknown");
        }
        let at = |v: &Value| {
            v.as_str()
                .map(|s| s.parse::<jiff::Timestamp>().unwrap().as_second())
        };
        if let (Some(start), Some(end)) = (at(&record["task"]["start"]), at(&record["task"]["end"]))
        {
            assert_eq!(
                doc["event"]["duration"].as_i64(),
                Some((end - start) * 1_000_000_000)
            );
            timed += 1;
        }
    }
    assert!(timed > 5, "tasks' durations: {timed}");
    // Logins, the API, configuration, tasks (process) and consoles (session) are all there.
    for c in [
        "authentication",
        "api",
        "configuration",
        "process",
        "session",
    ] {
        assert!(seen.iter().any(|s| s == c), "no {c} document: {seen:?}");
    }
    // An extjs 200 whose outcome is not known is no success.
    assert!(ecs.iter().any(|d| {
        d["url"]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/api2/extjs/"))
            && d["http"]["response"]["status_code"] == 200
            && d["event"]["outcome"] == "unknown"
    }));
}

#[test]
fn sessions_are_ecs_documents_too() {
    let run = sessions_fixture;
    let ecs = run("ecs");
    let json = run("json");
    assert_eq!(ecs.len(), json.len());
    assert!(!ecs.is_empty());
    for (doc, record) in ecs.iter().zip(&json) {
        check_ecs(doc);
        assert_eq!(doc["event"]["category"], serde_json::json!(["session"]));
        assert_eq!(&doc["proxmox"], record);
        match record["duration"].as_i64() {
            Some(seconds) => {
                assert_eq!(
                    doc["event"]["duration"].as_i64(),
                    Some(seconds * 1_000_000_000)
                )
            }
            None => assert!(doc["event"].get("duration").is_none()),
        }
    }
}

#[test]
fn a_query_secret_never_reaches_url_path() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(
        &log,
        "::ffff:192.0.2.10 - alice@pve [24/06/2026:14:00:12 +0200] \"GET /api2/json/nodes/pve1/qemu/100/vncwebsocket?port=5900&vncticket=PVEVNC%3A6A3BC6CA%3A%3AsIgNaTuRe HTTP/1.1\" 101 -\n",
    )
    .unwrap();
    let out = pverec()
        .args(["convert", "--all", "-f", "ecs", "--no-tasks"])
        .arg(Path::new(&log))
        .output()
        .unwrap();
    let docs = lines(&out);
    assert_eq!(docs.len(), 1);
    check_ecs(&docs[0]);
    assert_eq!(
        docs[0]["url"]["path"],
        "/api2/json/nodes/pve1/qemu/100/vncwebsocket"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sIgNaTuRe"));
}
