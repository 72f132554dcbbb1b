//! `-f ocsf`: one Open Cybersecurity Schema Framework event per record, for SIEMs and data
//! lakes that map OCSF (Amazon Security Lake, Splunk, Sentinel's OCSF tables, …).
//!
//! Each event is made from the event's JSON record ([`super::json`]), as `-f ecs` is, and
//! carries that record whole under `unmapped.proxmox`, so nothing pverec knows is lost to the
//! mapping (the journal and syslog sinks find the record there). Classes, attributes, types and
//! enum values are those of OCSF 1.2.0 (github:ocsf/ocsf-schema tag v1.2.0, commit 7234a336dd;
//! the test checks every event of the fixtures against `tests/data/ocsf/`, which
//! scripts/gen-ocsf-defs.py resolves from the schema). No profile is used (`metadata.profiles`
//! is absent), so no profile's attribute is emitted (`device` of Authentication is the host
//! profile's: the node is `dst_endpoint` there).
//!
//! The classes, and why:
//! - a request (every class but `auth`), a task no request started (`task`) and a task's end
//!   (`task_end`) are **API Activity** (6003): PVE's API is where they happen (a task is the
//!   asynchronous part of an API call, or the API's own scheduler's work). `activity_id` comes
//!   from the method: POST Create, GET Read, PUT Update, DELETE Delete, anything else (a
//!   console's CONNECT) Other; a task without request and a task's end are Other, named `Task`
//!   and `Task End` (the method is not known: the request came before, its record has it), with
//!   `api.operation` the task's type and `metadata.correlation_uid` the UPID, which the
//!   request that started the task carries too.
//! - a login, a ticket renewal, a console ticket (class `auth`) are **Authentication** (3002):
//!   a login Logon (1), with `auth_protocol_id` OpenID (4) for an OpenID realm, else Other (99,
//!   `auth_protocol` `password`); a renewal and a console ticket are Other (99): OCSF's ticket
//!   activities are Kerberos's.
//! - a change in /etc/pve no request claimed (`change`) is **File System Activity** (1001),
//!   Update (3), `file.path` `/etc/pve/…`: what pverec saw is a file that changed. Its actor is
//!   not known (no request claimed it): `actor.app_name` is `pmxcfs`, through which every write
//!   to /etc/pve goes. The changes, redacted as in the record, are `file_diff` lines; `device`
//!   (required) is the node pverec saw it on, else the node whose file it is (`nodes/NAME/…`).
//! - a session (`sessions -f ocsf`, and `session_open`/`session_close` of follow) is
//!   **Authentication** (3002) with `session`: an opening Logon (1), a closing Logoff (2); a
//!   whole session as `sessions` lists it is a Logoff once closed (`time` its close,
//!   `start_time`/`end_time`/`duration` its span), else a Logon.
//!
//! `status_id` is the record's outcome: success Success (1), failure Failure (2), anything else
//! (pending, unknown, not executed) Unknown (0) with pverec's word in `status_detail`, so an
//! `/api2/extjs` 200 whose outcome is unknown is no success. `severity_id` is Informational (1),
//! Low (2) for a failure: one failed call or login is worth a look, not an alarm; a SIEM
//! correlates. `http_request.url.path` is the request's path without its query: a query may hold
//! secrets (a vncticket). The record is already redacted unless `--show-secrets`.
//!
//! Where the schema said otherwise than the plan, the schema won: API Activity 1.2.0 has no
//! `http_response`, so the answer's status is `api.response.code` (an Authentication's,
//! `status_code`); OCSF's `user` has no token attribute, so an API token's id is the user's
//! `credential_uid`; `http_request.http_method` is an enum, so a method outside it (none PVE
//! answers) stays out of `http_request`.

use serde_json::{Map, Value, json};

use super::record_text as text;

/// The OCSF version the events follow.
pub(crate) const VERSION: &str = "1.2.0";

/// The methods OCSF 1.2.0's `http_request.http_method` enumerates (objects/http_request.json);
/// another method is left out of `http_request` (the record under `unmapped` keeps it).
const HTTP_METHODS: [&str; 8] = [
    "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "TRACE",
];

/// One OCSF class: its uid, name and category.
struct Class {
    uid: u64,
    name: &'static str,
    category_uid: u64,
    category_name: &'static str,
}

const API_ACTIVITY: Class = Class {
    uid: 6003,
    name: "API Activity",
    category_uid: 6,
    category_name: "Application Activity",
};
const AUTHENTICATION: Class = Class {
    uid: 3002,
    name: "Authentication",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
const FILE_ACTIVITY: Class = Class {
    uid: 1001,
    name: "File System Activity",
    category_uid: 1,
    category_name: "System Activity",
};

/// Milliseconds since the epoch of an RFC 3339 time.
fn millis(value: Option<&Value>) -> Option<i64> {
    value?
        .as_str()?
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// The class, activity id and activity name of a record.
fn classify(record: &Map<String, Value>) -> (&'static Class, u64, &'static str) {
    let event = text(record, "event").unwrap_or("");
    let class = text(record, "class").unwrap_or("");
    match event {
        "change" => return (&FILE_ACTIVITY, 3, "Update"),
        "session_open" => return (&AUTHENTICATION, 1, "Logon"),
        "session_close" => return (&AUTHENTICATION, 2, "Logoff"),
        "session" => {
            return if record.get("closed").is_some_and(Value::is_string) {
                (&AUTHENTICATION, 2, "Logoff")
            } else {
                (&AUTHENTICATION, 1, "Logon")
            };
        }
        "task_end" => return (&API_ACTIVITY, 99, "Task End"),
        "task" => return (&API_ACTIVITY, 99, "Task"),
        _ => {}
    }
    if class == "auth" {
        return match auth_kind(record) {
            "login" | "openid" => (&AUTHENTICATION, 1, "Logon"),
            "renewal" => (&AUTHENTICATION, 99, "Ticket Renewal"),
            "console" => (&AUTHENTICATION, 99, "Console Ticket"),
            "password" => (&AUTHENTICATION, 99, "Password Change"),
            _ => (&AUTHENTICATION, 99, "Ticket Check"),
        };
    }
    match text(record, "method") {
        Some("POST") => (&API_ACTIVITY, 1, "Create"),
        Some("GET") => (&API_ACTIVITY, 2, "Read"),
        Some("PUT") => (&API_ACTIVITY, 3, "Update"),
        Some("DELETE") => (&API_ACTIVITY, 4, "Delete"),
        _ => (&API_ACTIVITY, 99, "Other"),
    }
}

/// What kind of authentication a class `auth` record is: the journal's word (`auth.kind`), else
/// the path's (/access/ticket a login, /access/vncticket a console ticket, /access/openid/* an
/// OpenID login; src/request.rs).
fn auth_kind(record: &Map<String, Value>) -> &str {
    if let Some(kind) = record
        .get("auth")
        .and_then(|a| a.get("kind"))
        .and_then(Value::as_str)
    {
        return kind;
    }
    match text(record, "path") {
        Some(p) if p.starts_with("/access/openid/") => "openid",
        Some("/access/vncticket") => "console",
        _ => "login",
    }
}

/// The OCSF `user` of a PVE user id (`alice@pve`) and its API token's name, if any.
fn user(userid: &str, token: Option<&str>) -> Value {
    let mut u = Map::new();
    u.insert("name".into(), json!(userid));
    u.insert("uid".into(), json!(userid));
    if let Some((_, realm)) = userid.rsplit_once('@').filter(|(_, r)| !r.is_empty()) {
        u.insert("domain".into(), json!(realm));
    }
    // The token's id (`USER@REALM!TOKENID`, as PVE names it), never its secret: OCSF's
    // "identifier of the user's credential" (an AWS access key id, its example).
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        u.insert("credential_uid".into(), json!(format!("{userid}!{token}")));
    }
    Value::Object(u)
}

/// The source endpoint: the client's address; else, for what ran on the node itself (the CLI,
/// a task worker), the node.
fn src_endpoint(record: &Map<String, Value>) -> Option<Value> {
    let client = text(record, "source_ip").or_else(|| text(record, "client"));
    if let Some(ip) = client.filter(|ip| ip.parse::<std::net::IpAddr>().is_ok()) {
        return Some(json!({ "ip": ip }));
    }
    let mut e = Map::new();
    if let Some(node) = text(record, "node") {
        e.insert("hostname".into(), json!(node));
    }
    if let Some(program) = text(record, "program") {
        e.insert("svc_name".into(), json!(program));
    }
    (!e.is_empty()).then_some(Value::Object(e))
}

/// The record's outcome as `status_id`, `status` and, for what is neither success nor
/// failure, pverec's word.
fn status(record: &Map<String, Value>) -> (u64, &'static str, Option<String>) {
    let outcome = text(record, "outcome");
    let detail = || {
        record
            .get("auth")
            .and_then(|a| a.get("reason"))
            .and_then(Value::as_str)
            .or_else(|| {
                record
                    .get("task")
                    .and_then(|t| t.get("status"))
                    .and_then(Value::as_str)
                    .filter(|s| *s != "OK")
            })
            .map(str::to_string)
    };
    match outcome {
        Some("success") => (1, "Success", detail()),
        Some("failure") => (2, "Failure", detail()),
        Some(other) => (0, "Unknown", Some(other.to_string())),
        None => (0, "Unknown", None),
    }
}

/// The OCSF event of one JSON record (`pverec convert -f json`'s line, parsed).
pub(crate) fn document(record: Map<String, Value>) -> Value {
    let (class, activity_id, activity_name) = classify(&record);
    let event = text(&record, "event").unwrap_or("");
    let mut doc = Map::new();
    doc.insert("class_uid".into(), json!(class.uid));
    doc.insert("class_name".into(), json!(class.name));
    doc.insert("category_uid".into(), json!(class.category_uid));
    doc.insert("category_name".into(), json!(class.category_name));
    doc.insert("activity_id".into(), json!(activity_id));
    doc.insert("activity_name".into(), json!(activity_name));
    doc.insert("type_uid".into(), json!(class.uid * 100 + activity_id));
    // The type's caption, as OCSF makes it: an Other activity's own name is `activity_name`.
    let type_activity = if activity_id == 99 {
        "Other"
    } else {
        activity_name
    };
    doc.insert(
        "type_name".into(),
        json!(format!("{}: {type_activity}", class.name)),
    );

    // When: a whole session's close (its logoff), else the record's time or opening.
    let closed = millis(record.get("closed"));
    let opened = millis(record.get("opened"));
    let time = match event {
        "session" | "session_close" => closed.or(opened),
        _ => millis(record.get("time")).or(opened),
    };
    doc.insert("time".into(), json!(time.unwrap_or(0)));
    // A task's run, a session's length, in milliseconds.
    let task = record.get("task").filter(|t| t.is_object());
    let span = match task {
        Some(t) => millis(t.get("start")).zip(millis(t.get("end"))),
        None => opened.zip(closed),
    };
    if let Some((start, end)) = span.filter(|(s, e)| e >= s) {
        doc.insert("start_time".into(), json!(start));
        doc.insert("end_time".into(), json!(end));
        doc.insert("duration".into(), json!(end - start));
    }

    let (status_id, status_name, detail) = if event.starts_with("session") || event == "change" {
        // A session that was opened, a change that was made: it happened.
        (
            1,
            "Success",
            text(&record, "ended")
                .or_else(|| text(&record, "origin"))
                .map(str::to_string),
        )
    } else {
        status(&record)
    };
    doc.insert("status_id".into(), json!(status_id));
    doc.insert("status".into(), json!(status_name));
    if let Some(detail) = detail {
        doc.insert("status_detail".into(), json!(detail));
    }
    let (severity_id, severity) = if status_id == 2 {
        (2, "Low")
    } else {
        (1, "Informational")
    };
    doc.insert("severity_id".into(), json!(severity_id));
    doc.insert("severity".into(), json!(severity));

    let mut metadata = Map::new();
    metadata.insert("version".into(), json!(VERSION));
    metadata.insert(
        "product".into(),
        json!({
            "name": "pverec",
            "vendor_name": "pverec",
            "version": env!("CARGO_PKG_VERSION"),
        }),
    );
    if !event.is_empty() {
        metadata.insert("event_code".into(), json!(event));
    }
    if let Some(file) = record
        .get("source")
        .and_then(|s| s.get("file"))
        .and_then(Value::as_str)
    {
        metadata.insert("log_name".into(), json!(file));
    }
    let upid = task
        .and_then(|t| t.get("upid"))
        .and_then(Value::as_str)
        .or_else(|| text(&record, "upid"));
    if let Some(upid) = upid {
        metadata.insert("correlation_uid".into(), json!(upid));
    }
    doc.insert("metadata".into(), Value::Object(metadata));

    let userid = text(&record, "user");
    let token = text(&record, "token");
    let node = text(&record, "node");
    let src = src_endpoint(&record);
    let dst = node.map(|n| json!({ "hostname": n }));

    if class.uid == FILE_ACTIVITY.uid {
        let path = text(&record, "file").map(|f| format!("/etc/pve/{f}"));
        let path = path.unwrap_or_else(|| "/etc/pve".to_string());
        let name = path.rsplit('/').next().unwrap_or("").to_string();
        doc.insert(
            "file".into(),
            json!({ "name": name, "path": path, "type_id": 1, "type": "Regular File" }),
        );
        doc.insert("actor".into(), json!({ "app_name": "pmxcfs" }));
        // The node pverec saw it on; else the node whose file it is (nodes/NAME/…).
        let owner = path
            .strip_prefix("/etc/pve/nodes/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(name, _)| name)
            .filter(|name| !name.is_empty());
        let device = match node.or(owner) {
            Some(n) => json!({ "hostname": n, "name": n, "type_id": 1, "type": "Server" }),
            None => json!({ "name": "unknown", "type_id": 0, "type": "Unknown" }),
        };
        doc.insert("device".into(), device);
        let diff = file_diff(&record);
        if !diff.is_empty() {
            doc.insert("file_diff".into(), json!(diff));
        }
    } else if class.uid == AUTHENTICATION.uid {
        doc.insert("user".into(), user(userid.unwrap_or("unknown"), token));
        if let Some(src) = src {
            doc.insert("src_endpoint".into(), src);
        }
        if let Some(dst) = dst {
            doc.insert("dst_endpoint".into(), dst);
        }
        doc.insert("is_remote".into(), json!(true));
        if event.starts_with("session") {
            let kind = text(&record, "kind").unwrap_or("");
            let service = match kind {
                "ui" => "Proxmox VE web interface",
                "api" => "Proxmox VE API",
                _ => "Proxmox VE console",
            };
            doc.insert("service".into(), json!({ "name": service }));
            let mut session = Map::new();
            if let Some(opened) = opened {
                session.insert("created_time".into(), json!(opened));
            }
            session.insert("is_remote".into(), json!(true));
            if let (Some(u), Some(t)) = (userid, token.filter(|t| !t.is_empty())) {
                session.insert("credential_uid".into(), json!(format!("{u}!{t}")));
            }
            if let Some(ended) = text(&record, "ended") {
                session.insert("expiration_reason".into(), json!(ended));
            }
            doc.insert("session".into(), Value::Object(session));
            // A console is a remote interactive logon; the UI and the API log on over the
            // network.
            let (logon_type_id, logon_type) = match kind {
                "ui" | "api" => (3, "Network"),
                _ => (10, "Remote Interactive"),
            };
            doc.insert("logon_type_id".into(), json!(logon_type_id));
            doc.insert("logon_type".into(), json!(logon_type));
        } else {
            doc.insert("service".into(), json!({ "name": "Proxmox VE API" }));
            let (protocol_id, protocol) = match auth_kind(&record) {
                "openid" => (4, "OpenID"),
                "login" => (99, "password"),
                _ => (99, "PVE ticket"),
            };
            doc.insert("auth_protocol_id".into(), json!(protocol_id));
            doc.insert("auth_protocol".into(), json!(protocol));
            // A second factor that failed was asked for: MFA was in use. Otherwise the record
            // does not tell.
            let reason = record
                .get("auth")
                .and_then(|a| a.get("reason"))
                .and_then(Value::as_str);
            if reason.is_some_and(|r| r.contains("2nd factor")) {
                doc.insert("is_mfa".into(), json!(true));
            }
            if let Some(code) = record.get("http_status").and_then(Value::as_u64) {
                doc.insert("status_code".into(), json!(code.to_string()));
            }
            if let Some(http) = http_request(&record) {
                doc.insert("http_request".into(), http);
            }
        }
    } else {
        let mut actor = Map::new();
        if let Some(u) = userid {
            actor.insert("user".into(), user(u, token));
        }
        if let Some(Value::Object(p)) = record.get("process") {
            let mut process = Map::new();
            if let Some(name) = p.get("name").filter(|n| n.is_string()) {
                process.insert("name".into(), name.clone());
            }
            if let Some(pid) = p.get("pid").filter(|n| n.is_u64()) {
                process.insert("pid".into(), pid.clone());
            }
            if process.contains_key("pid") {
                actor.insert("process".into(), Value::Object(process));
            }
        }
        if actor.is_empty() {
            // No user (a refused ticket): the request came to pveproxy, no more is known.
            actor.insert("app_name".into(), json!("pveproxy"));
        }
        doc.insert("actor".into(), Value::Object(actor));
        let operation = text(&record, "action")
            .map(str::to_string)
            .or_else(|| {
                task.and_then(|t| t.get("type"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| {
                let method = text(&record, "method")?;
                let path = text(&record, "template").or_else(|| text(&record, "path"))?;
                Some(format!("{method} {path}"))
            })
            .unwrap_or_else(|| event.to_string());
        let mut api = json!({ "operation": operation, "service": { "name": "Proxmox VE API" } });
        // OCSF 1.2.0's API Activity has no http_response: the answer's code is the API's
        // response's.
        if let Some(code) = record.get("http_status").and_then(Value::as_u64) {
            api["response"] = json!({ "code": code });
        }
        doc.insert("api".into(), api);
        doc.insert(
            "src_endpoint".into(),
            src.unwrap_or_else(|| json!({ "name": "unknown" })),
        );
        if let Some(dst) = dst {
            doc.insert("dst_endpoint".into(), dst);
        }
        if let Some(http) = http_request(&record) {
            doc.insert("http_request".into(), http);
        }
        if let Some(resource) = resource(&record) {
            doc.insert("resources".into(), json!([resource]));
        }
    }

    let message = text(&record, "pvesh")
        .map(str::to_string)
        .unwrap_or_else(|| match (event, text(&record, "file")) {
            ("change", Some(file)) => format!("/etc/pve/{file} changed"),
            _ => format!("{activity_name} by {}", userid.unwrap_or("-")),
        });
    doc.insert("message".into(), json!(message));
    // Everything of the record, PVE's own words, in one place.
    doc.insert(
        "unmapped".into(),
        json!({ "proxmox": Value::Object(record) }),
    );
    Value::Object(doc)
}

/// `http_request`: the method (one OCSF knows) and the path as pveproxy was asked it, without
/// the query.
fn http_request(record: &Map<String, Value>) -> Option<Value> {
    let mut http = Map::new();
    if let Some(method) = text(record, "method").filter(|m| HTTP_METHODS.contains(m)) {
        http.insert("http_method".into(), json!(method));
    }
    if let Some(path) = super::url_path(record) {
        http.insert("url".into(), json!({ "path": path }));
    }
    (!http.is_empty()).then_some(Value::Object(http))
}

/// The object a request acted on: `{"uid": "qemu/100", "type": "qemu", "name": "web01"}`.
fn resource(record: &Map<String, Value>) -> Option<Value> {
    let object = record.get("object")?.as_object()?;
    let kind = object.get("type").and_then(Value::as_str)?;
    let id = object.get("id").and_then(Value::as_str)?;
    let mut r = Map::new();
    r.insert("uid".into(), json!(format!("{kind}/{id}")));
    r.insert("type".into(), json!(kind));
    match object.get("name").and_then(Value::as_str) {
        Some(name) => r.insert("name".into(), json!(name)),
        // A node is named by its id.
        None if kind == "node" => r.insert("name".into(), json!(id)),
        None => None,
    };
    Some(Value::Object(r))
}

/// A change record's differences, one `[section] key: old -> new` line each (as redacted as
/// the record).
fn file_diff(record: &Map<String, Value>) -> String {
    let Some(changes) = record.get("changes").and_then(Value::as_array) else {
        return String::new();
    };
    let mut out = String::new();
    for c in changes {
        let get = |k: &str| c.get(k).and_then(Value::as_str);
        if let Some(section) = get("section") {
            out.push_str(&format!("[{section}] "));
        }
        if let Some(key) = get("key").filter(|k| !k.is_empty()) {
            out.push_str(key);
            out.push_str(": ");
        }
        match (get("old"), get("new")) {
            (Some(old), Some(new)) => out.push_str(&format!("{old} -> {new}")),
            (None, Some(new)) => out.push_str(&format!("(added) {new}")),
            (Some(old), None) => out.push_str(&format!("(removed) {old}")),
            (None, None) => out.push_str("(changed)"),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else { unreachable!() };
        m
    }

    #[test]
    fn a_write_with_its_task() {
        let record = json!({
            "event": "request", "time": "2026-06-24T12:00:05Z", "node": "pve1",
            "source_ip": "192.0.2.10", "user": "automation@pve", "token": "ci", "method": "POST",
            "path": "/nodes/pve1/qemu/100/status/start", "api_format": "extjs", "class": "write",
            "template": "/nodes/{node}/qemu/{vmid}/status/start",
            "action": "vm_start", "http_status": 200, "outcome": "success",
            "object": {"type": "qemu", "id": "100", "name": "web01"},
            "task": {"upid": "UPID:x", "type": "qmstart", "pid": 4242,
                     "start": "2026-06-24T12:00:05Z", "end": "2026-06-24T12:00:08Z",
                     "status": "OK"},
            "process": {"name": "pvedaemon", "pid": 2201},
            "pvesh": "pvesh create /nodes/pve1/qemu/100/status/start",
            "source": {"file": "access.log", "line": 1}
        });
        let doc = document(object(record.clone()));
        assert_eq!(doc["class_uid"], 6003);
        assert_eq!(doc["category_uid"], 6);
        assert_eq!(doc["activity_id"], 1);
        assert_eq!(doc["type_uid"], 600301);
        assert_eq!(doc["type_name"], "API Activity: Create");
        assert_eq!(doc["time"], 1_782_302_405_000i64);
        assert_eq!(doc["duration"], 3000);
        assert_eq!(doc["status_id"], 1);
        assert_eq!(doc["status"], "Success");
        assert_eq!(doc["severity_id"], 1);
        assert_eq!(
            doc["actor"]["user"],
            json!({"name": "automation@pve", "uid": "automation@pve", "domain": "pve",
                   "credential_uid": "automation@pve!ci"})
        );
        assert_eq!(
            doc["actor"]["process"],
            json!({"name": "pvedaemon", "pid": 2201})
        );
        assert_eq!(doc["api"]["operation"], "vm_start");
        assert_eq!(doc["src_endpoint"], json!({"ip": "192.0.2.10"}));
        assert_eq!(doc["dst_endpoint"], json!({"hostname": "pve1"}));
        assert_eq!(
            doc["http_request"],
            json!({"http_method": "POST",
                   "url": {"path": "/api2/extjs/nodes/pve1/qemu/100/status/start"}})
        );
        assert_eq!(doc["api"]["response"], json!({"code": 200}));
        assert_eq!(
            doc["resources"],
            json!([{"uid": "qemu/100", "type": "qemu", "name": "web01"}])
        );
        assert_eq!(doc["metadata"]["version"], "1.2.0");
        assert_eq!(doc["metadata"]["product"]["name"], "pverec");
        assert_eq!(doc["metadata"]["correlation_uid"], "UPID:x");
        assert_eq!(doc["unmapped"]["proxmox"], record);

        // Its task's end: the same UPID, Other, the task's type as the operation.
        let end = json!({
            "event": "task_end", "time": "2026-06-24T12:00:08Z", "node": "pve1",
            "user": "automation@pve", "token": "ci", "upid": "UPID:x", "outcome": "failure",
            "task": {"upid": "UPID:x", "type": "qmstart", "pid": 4242,
                     "start": "2026-06-24T12:00:05Z", "end": "2026-06-24T12:00:08Z",
                     "status": "VM 100 failed"},
            "request": {"file": "access.log", "line": 1}
        });
        let doc = document(object(end));
        assert_eq!(doc["type_uid"], 600399);
        assert_eq!(doc["activity_name"], "Task End");
        assert_eq!(doc["api"]["operation"], "qmstart");
        assert_eq!(doc["metadata"]["correlation_uid"], "UPID:x");
        assert_eq!(doc["status_id"], 2);
        assert_eq!(doc["status_detail"], "VM 100 failed");
        assert_eq!(doc["severity_id"], 2);
        assert_eq!(doc["src_endpoint"], json!({"hostname": "pve1"}));
    }

    #[test]
    fn sessions_log_on_and_off() {
        let open = json!({"event": "session_open", "kind": "vnc", "user": "alice@pve",
                          "client": "192.0.2.10", "node": "pve1",
                          "opened": "2026-06-24T12:00:00Z", "closed": null});
        let doc = document(object(open));
        assert_eq!(
            (doc["class_uid"].clone(), doc["activity_id"].clone()),
            (json!(3002), json!(1))
        );
        assert_eq!(doc["logon_type_id"], 10);
        let whole = json!({"event": "session", "kind": "ui", "user": "alice@pve",
                           "client": "192.0.2.10", "opened": "2026-06-24T12:00:00Z",
                           "closed": "2026-06-24T12:10:00Z", "ended": "logged out"});
        let doc = document(object(whole));
        assert_eq!(doc["type_uid"], 300202);
        assert_eq!(doc["time"], 1_782_302_400_000i64 + 600_000);
        assert_eq!(doc["duration"], 600_000);
        assert_eq!(doc["session"]["expiration_reason"], "logged out");
    }

    /// Whatever a field holds (pverec writes the records, but a record is no contract), an
    /// event comes out, with its class and the record under unmapped.proxmox.
    #[test]
    fn odd_values_make_no_panic() {
        let keys = [
            "event",
            "class",
            "method",
            "path",
            "api_format",
            "time",
            "opened",
            "closed",
            "user",
            "token",
            "node",
            "source_ip",
            "client",
            "outcome",
            "action",
            "template",
            "task",
            "object",
            "process",
            "auth",
            "http_status",
            "file",
            "changes",
            "kind",
            "ended",
            "program",
            "pvesh",
            "source",
            "upid",
        ];
        let odd = [
            json!(null),
            json!(-1),
            json!(""),
            json!("@"),
            json!("x!y@"),
            json!([1, "a"]),
            json!({"type": 1, "id": [], "start": "2026-06-24T12:00:08Z", "end": "x"}),
            json!(u64::MAX),
        ];
        for event in [
            "request",
            "task",
            "task_end",
            "change",
            "session",
            "session_open",
            "x",
        ] {
            for class in ["auth", "write", "console"] {
                for value in &odd {
                    let mut record = Map::new();
                    record.insert("event".into(), json!(event));
                    record.insert("class".into(), json!(class));
                    for key in keys.iter().skip(2) {
                        record.insert((*key).into(), value.clone());
                    }
                    let doc = document(record.clone());
                    assert!(doc["class_uid"].is_u64());
                    assert_eq!(doc["unmapped"]["proxmox"], Value::Object(record));
                    let (mut out, mut scratch) = (Vec::new(), Vec::new());
                    let line = doc["unmapped"]["proxmox"].to_string();
                    super::super::push_derived(
                        &mut out,
                        &mut scratch,
                        super::super::Derived::Ocsf,
                        |l| l.extend_from_slice(line.as_bytes()),
                    );
                    assert!(out.ends_with(b"\n"));
                }
            }
        }
    }

    #[test]
    fn a_query_never_reaches_the_path() {
        let record = json!({"event": "request", "method": "GET", "class": "console",
                            "path": "/nodes/pve1/vncwebsocket", "api_format": "json"});
        let doc = document(object(record));
        assert_eq!(
            doc["http_request"]["url"]["path"],
            "/api2/json/nodes/pve1/vncwebsocket"
        );
        // Odd methods stay out of http_method's enum.
        let doc = document(object(json!({"event": "request", "method": "BREW"})));
        assert!(doc.get("http_request").is_none());
        assert_eq!(doc["activity_id"], 99);
    }
}
