//! `-f ecs`: one Elastic Common Schema document per event, for SIEMs that map ECS.
//!
//! Each document is made from the event's JSON record ([`super::json`], through
//! [`super::push_derived`], as OCSF's), so both say the same:
//! the ECS fields a SIEM knows (`@timestamp`, `event.*`, `user.*`, `source.ip`, `host.name`,
//! `http.*`, `url.path`, `process.*`, `related.*`, `message`), and everything PVE-specific
//! under `proxmox.` (the record's own fields: template, params, task, object, changes, proxy,
//! session, source). Field names, types and the `event.*` values are those of ECS 9.4.0
//! (github:elastic/ecs, tag v9.4.0; the test checks them against `tests/data/ecs/`).
//!
//! `url.path` is the request's path without its query: a query may hold secrets (a vncticket),
//! which is where the Elastic integration's pipeline puts them. An `/api2/extjs` answer of 200
//! is no success by itself: `event.outcome` is the record's outcome, from the task or the
//! answer's length, `unknown` where neither tells.

use serde_json::{Map, Value, json};

use super::record_text as text;

/// The ECS version the documents follow.
pub(crate) const VERSION: &str = "9.4.0";

/// `event.category` and `event.type` of a record.
fn categories(record: &Map<String, Value>) -> (Vec<&'static str>, Vec<&'static str>) {
    let event = record.get("event").and_then(Value::as_str).unwrap_or("");
    let class = record.get("class").and_then(Value::as_str).unwrap_or("");
    let method = record.get("method").and_then(Value::as_str).unwrap_or("");
    let path = record.get("path").and_then(Value::as_str).unwrap_or("");
    let by_method = match method {
        "POST" => "creation",
        "PUT" => "change",
        "DELETE" => "deletion",
        _ => "access",
    };
    match (event, class) {
        ("session_open", _) => (vec!["session"], vec!["start"]),
        // A whole session, opened and closed, as `sessions` lists it.
        ("session", _) => (vec!["session"], vec!["info"]),
        ("session_close", _) => (vec!["session"], vec!["end"]),
        ("task_end", _) => (vec!["process"], vec!["end"]),
        ("task", _) | (_, "task") => {
            let running = record
                .get("task")
                .and_then(|t| t.get("end"))
                .is_none_or(Value::is_null);
            (vec!["process"], vec![if running { "start" } else { "end" }])
        }
        ("change", _) => (vec!["configuration"], vec!["change"]),
        (_, "auth") => (vec!["authentication"], vec!["start"]),
        (_, "console") => (vec!["session"], vec!["start"]),
        (_, "write") => {
            // Users, groups, tokens, ACLs and realms are identity and access management.
            let iam = [
                "/access/users",
                "/access/groups",
                "/access/acl",
                "/access/domains",
                "/access/roles",
            ]
            .iter()
            .any(|p| path.starts_with(p));
            let mut category = vec!["api", "configuration"];
            let mut kinds = vec![by_method];
            if iam {
                category.push("iam");
                if path.starts_with("/access/groups") && !kinds.contains(&"group") {
                    kinds.push("group");
                } else if path.starts_with("/access/users") {
                    kinds.push("user");
                }
            }
            (category, kinds)
        }
        (_, "read") => (vec!["api"], vec!["access"]),
        _ => (vec!["web"], vec!["access"]),
    }
}

/// The action of a record: its API action name, else `auth_<kind>` for a login, the task's type
/// for a task, `<kind>_session` for a session, the event otherwise (`change`). The ECS
/// `event.action`, and the `PVEREC_ACTION` of the journal and syslog sinks.
pub(crate) fn action(record: &Map<String, Value>) -> Option<String> {
    text(record, "action")
        .map(str::to_string)
        .or_else(|| {
            record
                .get("auth")
                .and_then(|a| a.get("kind"))
                .and_then(Value::as_str)
                .map(|k| format!("auth_{k}"))
        })
        .or_else(|| {
            record
                .get("task")
                .and_then(|t| t.get("type"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| text(record, "kind").map(|k| format!("{k}_session")))
        .or_else(|| text(record, "event").map(str::to_string))
}

/// The ECS document of one JSON record (`pverec convert -f json`'s line, parsed).
pub(crate) fn document(record: Map<String, Value>) -> Value {
    let (category, kinds) = categories(&record);
    let mut doc = Map::new();
    let time = text(&record, "time")
        .or_else(|| text(&record, "opened"))
        .unwrap_or("")
        .to_string();
    doc.insert("@timestamp".into(), Value::String(time));
    doc.insert("ecs".into(), json!({ "version": VERSION }));
    let outcome = match text(&record, "outcome") {
        Some("success") => "success",
        Some("failure") => "failure",
        _ => "unknown",
    };
    let action = action(&record);
    let mut event = Map::new();
    event.insert("kind".into(), json!("event"));
    event.insert("category".into(), json!(category));
    event.insert("type".into(), json!(kinds));
    if let Some(action) = action {
        event.insert("action".into(), Value::String(action));
    }
    event.insert("outcome".into(), json!(outcome));
    event.insert("module".into(), json!("proxmox"));
    event.insert("dataset".into(), json!("proxmox.audit"));
    // Nanoseconds: a task's run, a session's length.
    let seconds = |v: &Value| {
        v.as_str()?
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_second())
    };
    let duration = record
        .get("task")
        .and_then(|t| Some(seconds(t.get("end")?)? - seconds(t.get("start")?)?))
        .or_else(|| record.get("duration").and_then(Value::as_i64));
    if let Some(seconds) = duration.filter(|d| *d >= 0) {
        event.insert(
            "duration".into(),
            json!(seconds.saturating_mul(1_000_000_000)),
        );
    }
    doc.insert("event".into(), Value::Object(event));
    let mut related_users: Vec<Value> = Vec::new();
    let mut related_ips: Vec<Value> = Vec::new();
    if let Some(user) = text(&record, "user") {
        let (name, domain) = user.rsplit_once('@').unwrap_or((user, ""));
        let mut u = Map::new();
        u.insert("name".into(), json!(name));
        if !domain.is_empty() {
            u.insert("domain".into(), json!(domain));
        }
        doc.insert("user".into(), Value::Object(u));
        related_users.push(json!(user));
    }
    let client = text(&record, "source_ip").or_else(|| text(&record, "client"));
    if let Some(ip) = client.filter(|ip| ip.parse::<std::net::IpAddr>().is_ok()) {
        doc.insert("source".into(), json!({ "ip": ip }));
        related_ips.push(json!(ip));
    }
    if let Some(node) = text(&record, "node") {
        doc.insert("host".into(), json!({ "name": node }));
    }
    if let Some(method) = text(&record, "method") {
        let mut http = json!({ "request": { "method": method } });
        if let Some(status) = record.get("http_status").and_then(Value::as_u64) {
            http["response"] = json!({ "status_code": status });
        }
        doc.insert("http".into(), http);
    }
    if let Some(path) = super::url_path(&record) {
        doc.insert("url".into(), json!({ "path": path }));
    }
    let process = record.get("process").cloned().or_else(|| {
        let task = record.get("task")?;
        Some(json!({ "pid": task.get("pid")? }))
    });
    if let Some(Value::Object(p)) = process {
        let mut out = Map::new();
        if let Some(name) = p.get("name").filter(|n| n.is_string()) {
            out.insert("name".into(), name.clone());
        }
        if let Some(pid) = p.get("pid").filter(|n| n.is_u64()) {
            out.insert("pid".into(), pid.clone());
        }
        if !out.is_empty() {
            doc.insert("process".into(), Value::Object(out));
        }
    }
    if !related_users.is_empty() || !related_ips.is_empty() {
        let mut related = Map::new();
        if !related_users.is_empty() {
            related.insert("user".into(), Value::Array(related_users));
        }
        if !related_ips.is_empty() {
            related.insert("ip".into(), Value::Array(related_ips));
        }
        doc.insert("related".into(), Value::Object(related));
    }
    let message = text(&record, "pvesh").map(str::to_string).or_else(|| {
        let user = text(&record, "user").unwrap_or("-");
        let what = doc["event"]["action"]
            .as_str()
            .unwrap_or("event")
            .to_string();
        Some(format!("{what} by {user}"))
    });
    if let Some(message) = message {
        doc.insert("message".into(), Value::String(message));
    }
    // Everything of the record, PVE's own words, under one object.
    doc.insert("proxmox".into(), Value::Object(record));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_with_its_task() {
        let record = json!({
            "event": "request", "time": "2026-06-24T12:00:05Z", "node": "pve1",
            "source_ip": "192.0.2.10", "user": "alice@pve", "method": "POST",
            "path": "/nodes/pve1/qemu/100/status/start", "api_format": "extjs", "class": "write",
            "action": "vm_start", "http_status": 200, "outcome": "success",
            "task": {"upid": "UPID:x", "type": "qmstart", "pid": 4242,
                     "start": "2026-06-24T12:00:05Z", "end": "2026-06-24T12:00:08Z"},
            "pvesh": "pvesh create /nodes/pve1/qemu/100/status/start"
        });
        let Value::Object(record) = record else {
            unreachable!()
        };
        let doc = document(record);
        assert_eq!(doc["event"]["category"], json!(["api", "configuration"]));
        assert_eq!(doc["event"]["type"], json!(["creation"]));
        assert_eq!(doc["event"]["duration"], json!(3_000_000_000i64));
        assert_eq!(doc["user"], json!({"name": "alice", "domain": "pve"}));
        assert_eq!(
            doc["url"]["path"],
            "/api2/extjs/nodes/pve1/qemu/100/status/start"
        );
        assert_eq!(doc["process"]["pid"], 4242);
        assert_eq!(doc["proxmox"]["action"], "vm_start");
        assert_eq!(
            doc["message"],
            "pvesh create /nodes/pve1/qemu/100/status/start"
        );
    }
}
