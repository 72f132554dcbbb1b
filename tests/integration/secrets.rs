//! Secrets found by the shape of a value (src/secret.rs), through the real binary: only the
//! secret part is hidden, the rest stays readable, in pvesh, JSON and script output alike, and
//! `--show-secrets` shows it all.

use std::process::Command;

use serde_json::Value;

use crate::util::{percent_encode_all, pverec, stdout_of};

const TOKEN: &str = "0b8a5a57-2d2c-4b4e-9f83-1e6d2b7a9c01";
const ENDPOINT_REST: [&str; 3] = [
    "host=10.0.0.5",
    "apitoken=PVEAPIToken=root@pam!mig=",
    ",fingerprint=AA:BB:CC",
];

fn endpoint() -> String {
    format!("host=10.0.0.5,apitoken=PVEAPIToken=root@pam!mig={TOKEN},fingerprint=AA:BB:CC")
}

/// A log line of alice's from 10.0.0.7.
fn log_line(method: &str, target: &str, status: u16) -> String {
    format!(
        "::ffff:10.0.0.7 - alice@pve [24/06/2026:14:00:05 +0200] \"{method} {target} HTTP/1.1\" {status} 81"
    )
}

/// The outputs of `convert` on `log` (and `events`, a spool events file, when given):
/// `[pvesh, json, script]`, with `extra` arguments.
fn convert(log: &[String], events: Option<&Value>, extra: &[&str]) -> [String; 3] {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("access.log"), log.join("\n") + "\n").unwrap();
    if let Some(events) = events {
        std::fs::write(dir.path().join("spool.events"), format!("{events}\n")).unwrap();
    }
    ["pvesh", "json", "script"].map(|format| {
        let mut cmd = pverec();
        cmd.current_dir(dir.path())
            .args(["convert", "--all", "-f", format]);
        if events.is_some() {
            cmd.args(["--events", "spool.events"]);
        }
        stdout_of(cmd.args(extra).arg("access.log"))
    })
}

fn spool_event(method: &str, path: &str, params: Value) -> Value {
    serde_json::json!({
        "method": method, "path": path, "params": params,
        "userid": "alice@pve", "format": "json", "client_ip": "::ffff:10.0.0.7",
    })
}

/// Checks that no output holds `secret` and every one holds each of `readable`, and that
/// with `--show-secrets` they all hold `secret`.
fn check(log: &[String], events: Option<&Value>, secret: &str, readable: &[&str]) -> [String; 3] {
    let outs = convert(log, events, &[]);
    for out in &outs {
        assert!(!out.contains(secret), "{secret} shown: {out}");
        for part in readable {
            assert!(out.contains(part), "{part} missing: {out}");
        }
    }
    for out in convert(log, events, &["--show-secrets"]) {
        assert!(out.contains(secret), "{secret} not shown: {out}");
        assert!(
            !out.contains("<redacted>") && !out.contains("PVE_SECRET_T"),
            "{out}"
        );
    }
    outs
}

fn record(json: &str) -> Value {
    serde_json::from_str(json.lines().next().unwrap()).unwrap()
}

/// The argv bash makes of a pvesh line (`pvesh` replaced by printf), with `env` set.
fn bash_argv(line: &str, env: &[(&str, &str)]) -> Option<Vec<String>> {
    let command = line.strip_prefix("pvesh ").unwrap();
    let command = command.split("  # ").next().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("printf '%s\\0' {command}"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    out.status.success().then(|| {
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end_matches('\0')
            .split('\0')
            .map(str::to_string)
            .collect()
    })
}

#[test]
fn remote_migrate_target_endpoint_in_a_spool_body() {
    let path = "/nodes/pve1/qemu/100/remote_migrate";
    let log = [log_line("POST", &format!("/api2/json{path}"), 200)];
    let body = spool_event(
        "POST",
        path,
        serde_json::json!({"target-endpoint": endpoint(), "target-vmid": 200}),
    );
    let [pvesh, json, script] = check(&log, Some(&body), TOKEN, &ENDPOINT_REST);
    let word = |name: &str| {
        format!(
            "'host=10.0.0.5,apitoken=PVEAPIToken=root@pam!mig='\
             \"${{{name}:?redacted}}\",fingerprint=AA:BB:CC"
        )
    };
    let pvesh_word = word("PVE_SECRET_TARGET_ENDPOINT");
    assert!(
        pvesh.contains(&format!("--target-endpoint {pvesh_word}")),
        "{pvesh}"
    );
    // The script numbers its secret variables.
    let script_word = word("PVE_SECRET_1_TARGET_ENDPOINT");
    assert!(
        script.contains(&format!("--target-endpoint {script_word}")),
        "{script}"
    );
    let record = record(&json);
    assert_eq!(
        record["params"]["target-endpoint"],
        "host=10.0.0.5,apitoken=PVEAPIToken=root@pam!mig=<redacted>,fingerprint=AA:BB:CC"
    );
    assert_eq!(record["params"]["target-vmid"], 200);
    assert_eq!(record["redacted"], serde_json::json!(["target-endpoint"]));
    // One shell word: it fails without the secret, and is the whole value with it.
    let line = pvesh.lines().find(|l| l.starts_with("pvesh ")).unwrap();
    assert_eq!(bash_argv(line, &[]), None);
    let argv = bash_argv(line, &[("PVE_SECRET_TARGET_ENDPOINT", TOKEN)]).unwrap();
    assert_eq!(
        argv,
        [
            "create",
            path,
            "--target-endpoint",
            &endpoint(),
            "--target-vmid",
            "200"
        ]
    );
}

#[test]
fn remote_migrate_target_endpoint_in_the_query_and_nested() {
    let path = "/nodes/pve1/qemu/100/remote_migrate";
    let query = format!(
        "/api2/json{path}?target-endpoint={}",
        percent_encode_all(&endpoint())
    );
    check(
        &[log_line("POST", &query, 200)],
        None,
        TOKEN,
        &ENDPOINT_REST,
    );
    // Nested in a body (an unknown endpoint's array of objects): its JSON shape is kept.
    let hook = "/cluster/custom/hook";
    let body = spool_event(
        "POST",
        hook,
        serde_json::json!({"remotes": [{"endpoint": endpoint()}]}),
    );
    let log = [log_line("POST", &format!("/api2/json{hook}"), 200)];
    let [_, json, _] = check(&log, Some(&body), TOKEN, &ENDPOINT_REST);
    assert_eq!(
        record(&json)["params"]["remotes"][0]["endpoint"],
        "host=10.0.0.5,apitoken=PVEAPIToken=root@pam!mig=<redacted>,fingerprint=AA:BB:CC"
    );
}

#[test]
fn download_url_with_credentials() {
    let path = "/nodes/pve1/storage/local/download-url";
    let url = "https://mirror:Sup3rS3cretPassw0rd@downloads.example.com/isos/debian.iso";
    let body = spool_event(
        "POST",
        path,
        serde_json::json!({"url": url, "content": "iso", "filename": "debian.iso"}),
    );
    let log = [log_line("POST", &format!("/api2/json{path}"), 200)];
    let readable = ["https://mirror:", "@downloads.example.com/isos/debian.iso"];
    let [pvesh, json, _] = check(&log, Some(&body), "Sup3rS3cretPassw0rd", &readable);
    assert!(
        pvesh.contains("--url https://mirror:\"${PVE_SECRET_URL:?redacted}\"@downloads"),
        "{pvesh}"
    );
    assert_eq!(
        record(&json)["params"]["url"],
        "https://mirror:<redacted>@downloads.example.com/isos/debian.iso"
    );
    // In the query too (an API client that sends it there).
    let query = format!(
        "/api2/json{path}?content=iso&url={}",
        percent_encode_all(url)
    );
    check(
        &[log_line("POST", &query, 200)],
        None,
        "Sup3rS3cretPassw0rd",
        &readable,
    );
    // No credentials: untouched.
    let plain = "https://downloads.example.com/isos/debian.iso";
    let query = format!("/api2/json{path}?url={}", percent_encode_all(plain));
    let [pvesh, json, _] = convert(&[log_line("POST", &query, 200)], None, &[]);
    assert!(pvesh.contains(&format!("--url {plain}")), "{pvesh}");
    assert!(record(&json).get("redacted").is_none(), "{json}");
}

#[test]
fn vncwebsocket_ticket_in_the_query() {
    let ticket = "PVEVNC:6650A1B2::c2lnbmF0dXJlT2ZUaGVWbmNUaWNrZXQ+/x==";
    let target = format!(
        "/api2/json/nodes/pve1/qemu/100/vncwebsocket?port=5900&vncticket={}",
        percent_encode_all(ticket)
    );
    let [pvesh, json, _] = check(
        &[log_line("GET", &target, 101)],
        None,
        "c2lnbmF0dXJlT2ZUaGVWbmNUaWNrZXQ",
        &["--port 5900"],
    );
    // A schema secret: redacted whole.
    assert!(
        pvesh.contains("--vncticket \"${PVE_SECRET_VNCTICKET:?redacted}\""),
        "{pvesh}"
    );
    assert_eq!(record(&json)["params"]["vncticket"], "<redacted>");
    // The same ticket in a parameter that says nothing: only its signature goes.
    let target = format!(
        "/api2/json/nodes/pve1/qemu/100/vncwebsocket?port=5900&note={}",
        percent_encode_all(&percent_encode_all(ticket))
    );
    let [_, json, _] = check(
        &[log_line("GET", &target, 101)],
        None,
        "c2lnbmF0dXJlT2ZUaGVWbmNUaWNrZXQ",
        &["PVEVNC%3A6650A1B2%3A%3A"],
    );
    assert_eq!(
        record(&json)["params"]["note"],
        "PVEVNC%3A6650A1B2%3A%3A<redacted>"
    );
}

#[test]
fn openid_login_code_and_state() {
    let path = "/access/openid/login";
    let code = "SplxlOBeZQQYbYS6WxSbIA";
    let state = "af0ifjsldkj8f3bc5d2e";
    let body = spool_event(
        "POST",
        path,
        serde_json::json!({"code": code, "state": state, "redirect-url": "https://pve:8006"}),
    );
    let log = [log_line("POST", &format!("/api2/json{path}"), 200)];
    for secret in [code, state] {
        let [pvesh, json, _] = check(&log, Some(&body), secret, &["https://pve:8006"]);
        assert!(
            pvesh.contains("--code \"${PVE_SECRET_CODE:?redacted}\""),
            "{pvesh}"
        );
        assert!(
            pvesh.contains("--state \"${PVE_SECRET_STATE:?redacted}\""),
            "{pvesh}"
        );
        assert_eq!(
            record(&json)["redacted"],
            serde_json::json!(["code", "state"])
        );
    }
    let query = format!("/api2/json{path}?code={code}&state={state}");
    for secret in [code, state] {
        check(
            &[log_line("POST", &query, 200)],
            None,
            secret,
            &["--code", "--state"],
        );
    }
}

#[test]
fn openid_redirect_to_the_ui_outside_the_api() {
    let target = "/?state=af0ifjsldkj8f3bc5d2e&session_state=s1&code=SplxlOBeZQQYbYS6WxSbIA";
    let log = [log_line("GET", target, 200)];
    for secret in ["af0ifjsldkj8f3bc5d2e", "SplxlOBeZQQYbYS6WxSbIA"] {
        let outs = convert(&log, None, &[]);
        for out in &outs {
            assert!(!out.contains(secret), "{secret} shown: {out}");
            assert!(out.contains("session_state=s1"), "{out}");
        }
    }
    let [_, json, _] = convert(&log, None, &[]);
    assert_eq!(
        record(&json)["request"],
        "GET /?state=<redacted>&session_state=s1&code=<redacted> HTTP/1.1"
    );
}
