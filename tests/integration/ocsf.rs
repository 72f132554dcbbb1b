//! Issue 16, `-f ocsf`: every event pverec writes for the fixtures' records (requests, tasks,
//! logins, consoles, sessions; a task's end in `follow_tasks.rs`, changes in
//! `config_changes.rs`) is checked against OCSF 1.2.0 itself: its classes, with `extends`,
//! includes and the dictionary resolved, and the objects they hold, as `tests/data/ocsf/` keeps
//! them (scripts/gen-ocsf-defs.py, from github:ocsf/ocsf-schema tag v1.2.0).

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::ecs::{journal_fixture, lines};
use crate::util::{data, pverec};

/// The pinned definitions: classes, objects, types.
pub(crate) fn defs() -> Value {
    let text = std::fs::read_to_string(data("ocsf/ocsf-1.2.0.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The base type (`string_t`, `integer_t`, `long_t`, `boolean_t`, `float_t`, `json_t`) of an
/// OCSF type, or None for an object.
fn base_type<'d>(defs: &'d Value, kind: &'d str) -> Option<&'d str> {
    let mut kind = kind;
    loop {
        let next = defs["types"].get(kind)?.as_str()?;
        if next == kind {
            return Some(kind);
        }
        kind = next;
    }
}

/// Checks one value of an attribute of type `kind` (not an array), at `path`.
fn check_value(
    defs: &Value,
    path: &str,
    kind: &str,
    value: &Value,
    profiles: &[&str],
    doc: &Value,
) {
    match base_type(defs, kind) {
        Some("string_t") => {
            assert!(value.is_string(), "{path} = {value} is no {kind}: {doc}");
            let s = value.as_str().unwrap();
            match kind {
                "ip_t" => assert!(
                    s.parse::<std::net::IpAddr>().is_ok(),
                    "{path} = {s} is no IP address: {doc}"
                ),
                "hostname_t" => assert!(
                    !s.is_empty()
                        && s.split('.').all(|label| !label.is_empty()
                            && !label.starts_with('-')
                            && !label.ends_with('-')
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')),
                    "{path} = {s} is no hostname: {doc}"
                ),
                _ => {}
            }
        }
        Some("integer_t") | Some("long_t") => {
            assert!(
                value.is_i64() || value.is_u64(),
                "{path} = {value} is no integer ({kind}): {doc}"
            );
            if kind == "timestamp_t" {
                // Milliseconds since the epoch: 2001-09-09 to 2286-11-20.
                let ms = value.as_i64().unwrap();
                assert!(
                    (1_000_000_000_000..10_000_000_000_000).contains(&ms),
                    "{path} = {ms} is no time in milliseconds: {doc}"
                );
            }
        }
        Some("boolean_t") => assert!(value.is_boolean(), "{path} = {value} is no boolean: {doc}"),
        Some("float_t") => assert!(value.is_number(), "{path} = {value} is no number: {doc}"),
        Some("json_t") => {}
        Some(other) => panic!("{path}: base type {other} is not known to the test"),
        None if kind == "object" => {
            assert!(value.is_object(), "{path} = {value} is no object: {doc}")
        }
        None => {
            let object = defs["objects"].get(kind).unwrap_or_else(|| {
                panic!("{path}: object {kind} is not kept in tests/data/ocsf (gen-ocsf-defs.py)")
            });
            let map = value
                .as_object()
                .unwrap_or_else(|| panic!("{path} = {value} is no {kind} object: {doc}"));
            check_object(defs, path, map, object, profiles, doc);
        }
    }
}

/// Checks the attributes of `map` against `def` (a class's or an object's): each one defined,
/// of its type, array or not, in its enum, its sibling its caption; every required one present;
/// the `at_least_one` and `just_one` constraints.
fn check_object(
    defs: &Value,
    path: &str,
    map: &Map<String, Value>,
    def: &Value,
    profiles: &[&str],
    doc: &Value,
) {
    let attrs = def["attributes"].as_object().unwrap();
    let usable = |attr: &Value| {
        attr.get("profile")
            .and_then(Value::as_str)
            .is_none_or(|p| profiles.contains(&p))
    };
    for (name, value) in map {
        let at = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let attr = attrs
            .get(name)
            .unwrap_or_else(|| panic!("{at} is no OCSF 1.2.0 attribute here: {doc}"));
        assert!(
            usable(attr),
            "{at} belongs to profile {}, not in metadata.profiles: {doc}",
            attr["profile"]
        );
        assert!(!value.is_null(), "{at} is null (leave it out): {doc}");
        if at == "unmapped" {
            // Free-form, by definition; the record is in it.
            assert!(value.is_object(), "unmapped is no object: {doc}");
            continue;
        }
        let kind = attr["type"].as_str().unwrap();
        if attr.get("is_array").and_then(Value::as_bool) == Some(true) {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{at} = {value} is no array: {doc}"));
            for (i, item) in items.iter().enumerate() {
                check_value(defs, &format!("{at}[{i}]"), kind, item, profiles, doc);
            }
        } else {
            assert!(!value.is_array(), "{at} = {value} is an array: {doc}");
            check_value(defs, &at, kind, value, profiles, doc);
        }
        if let Some(values) = attr.get("enum").and_then(Value::as_object) {
            let key = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let caption = values
                .get(&key)
                .unwrap_or_else(|| panic!("{at} = {value} is none of {values:?}: {doc}"))
                .as_str()
                .unwrap();
            // An id's sibling (activity_id's activity_name…) is its caption, but for Other,
            // whose sibling says what the source calls it.
            if let Some(sibling) = attr.get("sibling").and_then(Value::as_str)
                && let Some(named) = map.get(sibling)
                && caption != "Other"
            {
                assert_eq!(named, caption, "{at} = {value}: its {sibling}: {doc}");
            }
        }
    }
    for (name, attr) in attrs {
        if attr["requirement"] == "required" && usable(attr) {
            assert!(
                map.get(name).is_some_and(|v| !v.is_null()),
                "{path}: required {name} is missing: {doc}"
            );
        }
    }
    let constraints = &def["constraints"];
    if let Some(any) = constraints.get("at_least_one").and_then(Value::as_array) {
        assert!(
            any.iter().any(|n| map.contains_key(n.as_str().unwrap())),
            "{path}: none of {any:?}: {doc}"
        );
    }
    if let Some(one) = constraints.get("just_one").and_then(Value::as_array) {
        let n = one
            .iter()
            .filter(|n| map.contains_key(n.as_str().unwrap()))
            .count();
        assert_eq!(n, 1, "{path}: not just one of {one:?}: {doc}");
    }
}

/// Panics, naming the attribute, where `doc` is no OCSF 1.2.0 event of the classes kept.
pub(crate) fn check_ocsf(doc: &Value, defs: &Value) {
    let map = doc
        .as_object()
        .unwrap_or_else(|| panic!("no object: {doc}"));
    let class_uid = doc["class_uid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no class_uid: {doc}"));
    let class = defs["classes"]
        .get(class_uid.to_string())
        .unwrap_or_else(|| panic!("class {class_uid} is not kept in tests/data/ocsf: {doc}"));
    assert_eq!(
        doc["category_uid"], class["category_uid"],
        "category: {doc}"
    );
    let activity = doc["activity_id"]
        .as_u64()
        .unwrap_or_else(|| panic!("no activity_id: {doc}"));
    assert_eq!(
        doc["type_uid"].as_u64(),
        Some(class_uid * 100 + activity),
        "type_uid: {doc}"
    );
    assert_eq!(doc["metadata"]["version"], "1.2.0", "{doc}");
    let profiles: Vec<&str> = doc["metadata"]["profiles"]
        .as_array()
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    check_object(defs, "", map, class, &profiles, doc);
    assert!(
        doc["unmapped"]["proxmox"].is_object(),
        "no unmapped.proxmox: {doc}"
    );
    if let Some(path) = doc["http_request"]["url"]["path"].as_str() {
        assert!(!path.contains('?'), "a query in url.path: {doc}");
    }
}

/// The validator refuses what OCSF refuses: without these, it would prove nothing.
#[test]
fn the_validator_refuses_what_ocsf_refuses() {
    let defs = defs();
    let good = json!({
        "class_uid": 6003, "category_uid": 6, "activity_id": 2, "type_uid": 600302,
        "activity_name": "Read", "severity_id": 1, "time": 1_782_302_405_000i64,
        "metadata": {"version": "1.2.0", "product": {"name": "pverec", "vendor_name": "pverec"}},
        "actor": {"user": {"name": "alice@pve"}}, "api": {"operation": "resources"},
        "src_endpoint": {"ip": "192.0.2.10"}, "unmapped": {"proxmox": {}}
    });
    check_ocsf(&good, &defs);
    let refused = |change: &dyn Fn(&mut Value)| {
        let mut doc = good.clone();
        change(&mut doc);
        let defs = defs.clone();
        std::panic::catch_unwind(move || check_ocsf(&doc, &defs)).is_err()
    };
    // Required: api (a class's), metadata.product.vendor_name (an object's).
    assert!(refused(&|d| {
        d.as_object_mut().unwrap().remove("api");
    }));
    assert!(refused(&|d| {
        d["metadata"]["product"]
            .as_object_mut()
            .unwrap()
            .remove("vendor_name");
    }));
    // Undefined, at the top and in an object.
    assert!(refused(&|d| d["url_path"] = json!("/x")));
    assert!(refused(&|d| d["actor"]["user"]["realm"] = json!("pve")));
    // Enum values, siblings, uids.
    assert!(refused(&|d| d["activity_id"] = json!(7)));
    assert!(refused(&|d| d["activity_name"] = json!("Create")));
    assert!(refused(&|d| d["type_uid"] = json!(600301)));
    assert!(refused(&|d| d["category_uid"] = json!(3)));
    // Types: seconds are no timestamp_t, a string no integer, an IP an IP, arrays arrays.
    assert!(refused(&|d| d["time"] = json!(1_782_302_405i64)));
    assert!(refused(&|d| d["severity_id"] = json!("1")));
    assert!(refused(&|d| d["src_endpoint"]["ip"] = json!("pve1")));
    assert!(refused(&|d| d["resources"] = json!({"uid": "qemu/100"})));
    // A profile's attribute without the profile; constraints.
    assert!(refused(&|d| d["cloud"] = json!({"provider": "x"})));
    assert!(refused(&|d| d["actor"] = json!({})));
}

fn millis(v: &Value) -> Option<i64> {
    v.as_str()
        .map(|s| s.parse::<jiff::Timestamp>().unwrap().as_millisecond())
}

#[test]
fn every_record_of_the_fixtures_is_an_ocsf_event_with_the_record_under_unmapped() {
    let defs = defs();
    let ocsf = journal_fixture("ocsf");
    let json = journal_fixture("json");
    assert_eq!(ocsf.len(), json.len());
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut timed = 0;
    for (doc, record) in ocsf.iter().zip(&json) {
        check_ocsf(doc, &defs);
        assert_eq!(
            &doc["unmapped"]["proxmox"], record,
            "the record, whole, under unmapped.proxmox"
        );
        assert_eq!(doc["time"].as_i64(), millis(&record["time"]));
        assert_eq!(doc["metadata"]["product"]["name"], "pverec");
        let key = (
            doc["class_uid"].as_u64().unwrap(),
            doc["activity_id"].as_u64().unwrap(),
        );
        if !seen.contains(&key) {
            seen.push(key);
        }
        // Logins are Authentication, everything else of convert API Activity, its activity
        // from the method.
        if record["class"] == "auth" {
            assert_eq!(doc["class_uid"], 3002, "{doc}");
            assert_eq!(doc["user"]["name"], record["user"], "{doc}");
        } else {
            assert_eq!(doc["class_uid"], 6003, "{doc}");
            let activity = match record["method"].as_str() {
                _ if record["event"] != "request" => 99,
                Some("POST") => 1,
                Some("GET") => 2,
                Some("PUT") => 3,
                Some("DELETE") => 4,
                _ => 99,
            };
            assert_eq!(doc["activity_id"], activity, "{doc}");
            assert_eq!(doc["actor"]["user"]["name"], record["user"], "{doc}");
            let operation = record["action"]
                .as_str()
                .or(record["task"]["type"].as_str())
                .unwrap();
            assert_eq!(doc["api"]["operation"], operation, "{doc}");
            if let Some(kind) = record["object"]["type"].as_str() {
                let resource = &doc["resources"][0];
                let id = record["object"]["id"].as_str().unwrap();
                assert_eq!(resource["uid"], format!("{kind}/{id}"), "{doc}");
                assert_eq!(resource["type"], kind, "{doc}");
            }
            if let Some(code) = record["http_status"].as_u64() {
                assert_eq!(doc["api"]["response"]["code"], code, "{doc}");
            }
        }
        if let Some(user) = record["user"].as_str() {
            let realm = user.rsplit_once('@').unwrap().1;
            let u = if record["class"] == "auth" {
                &doc["user"]
            } else {
                &doc["actor"]["user"]
            };
            assert_eq!(u["domain"], realm, "{doc}");
            match record["token"].as_str() {
                Some(token) => assert_eq!(u["credential_uid"], format!("{user}!{token}")),
                None => assert!(u.get("credential_uid").is_none()),
            }
        }
        if record["source_ip"].is_string() {
            assert_eq!(doc["src_endpoint"]["ip"], record["source_ip"]);
        }
        let status = match record["outcome"].as_str() {
            Some("success") => 1,
            Some("failure") => 2,
            _ => 0,
        };
        assert_eq!(doc["status_id"], status, "{doc}");
        if let (Some(start), Some(end)) = (
            millis(&record["task"]["start"]),
            millis(&record["task"]["end"]),
        ) {
            assert_eq!(doc["duration"].as_i64(), Some(end - start), "{doc}");
            assert_eq!(doc["metadata"]["correlation_uid"], record["task"]["upid"]);
            timed += 1;
        }
    }
    assert!(timed > 5, "tasks' durations: {timed}");
    // Logons, the other logins, and the API's create, read, update, delete and other (a
    // console's CONNECT, a task without request) are all there.
    for key in [
        (3002, 1),
        (3002, 99),
        (6003, 1),
        (6003, 2),
        (6003, 3),
        (6003, 4),
        (6003, 99),
    ] {
        assert!(seen.contains(&key), "no event {key:?}: {seen:?}");
    }
    // An extjs 200 whose outcome is not known is no success.
    assert!(ocsf.iter().any(|d| {
        d["http_request"]["url"]["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("/api2/extjs/"))
            && d["api"]["response"]["code"] == 200
            && d["status_id"] == 0
    }));
    // A failed second factor says MFA was in use.
    assert!(
        ocsf.iter()
            .any(|d| d["is_mfa"] == true && d["status_id"] == 2)
    );
}

#[test]
fn sessions_are_ocsf_events_too() {
    let defs = defs();
    let run = crate::ecs::sessions_fixture;
    let ocsf = run("ocsf");
    let json = run("json");
    assert_eq!(ocsf.len(), json.len());
    assert!(!ocsf.is_empty());
    let mut logons = 0;
    for (doc, record) in ocsf.iter().zip(&json) {
        check_ocsf(doc, &defs);
        assert_eq!(doc["class_uid"], 3002, "{doc}");
        assert_eq!(&doc["unmapped"]["proxmox"], record);
        assert_eq!(doc["user"]["name"], record["user"]);
        assert_eq!(
            doc["session"]["created_time"].as_i64(),
            millis(&record["opened"])
        );
        match record["duration"].as_i64() {
            Some(seconds) => {
                assert_eq!(doc["activity_id"], 2, "a closed session: Logoff: {doc}");
                assert_eq!(doc["duration"].as_i64(), Some(seconds * 1000));
                assert_eq!(doc["time"].as_i64(), millis(&record["closed"]));
            }
            None => {
                assert_eq!(doc["activity_id"], 1, "an open session: Logon: {doc}");
                assert!(doc.get("duration").is_none());
                assert_eq!(doc["time"].as_i64(), millis(&record["opened"]));
                logons += 1;
            }
        }
    }
    assert!(logons > 0, "the fixture's ongoing session");
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
        .args(["convert", "--all", "-f", "ocsf", "--no-tasks"])
        .arg(Path::new(&log))
        .output()
        .unwrap();
    let docs = lines(&out);
    assert_eq!(docs.len(), 1);
    check_ocsf(&docs[0], &defs());
    assert_eq!(
        docs[0]["http_request"]["url"]["path"],
        "/api2/json/nodes/pve1/qemu/100/vncwebsocket"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sIgNaTuRe"));
}
