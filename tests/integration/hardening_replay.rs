//! Issue 11, findings 3 and 4, through the real binary: a printed pvesh command does no more
//! than the logged request did (its argv, as bash splits it, read by a model of pvesh's
//! Getopt::Long option parsing, `tests/data/pvesh-getopt.pl`, gives back the logged
//! parameters), and no secret of the listed shapes and names reaches any output.

use std::process::Command;

use serde_json::Value;

use crate::util::{data, percent_encode_all, pverec, require_tool};

/// A log line of root's from 10.0.0.7.
fn log_line(method: &str, target: &str) -> String {
    format!(
        "::ffff:10.0.0.7 - root@pam [24/06/2026:14:00:05 +0200] \"{method} {target} HTTP/1.1\" 200 81"
    )
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
                // A DELETE has no body: its spool event holds the logged query, where an empty
                // value cannot be written (`name=` is pveproxy's undef), so it is not tried.
                if method == "DELETE" && value.is_empty() {
                    continue;
                }
                let target = if method == "DELETE" {
                    format!("/api2/json{path}?{name}={}", percent_encode_all(value))
                } else {
                    format!("/api2/json{path}")
                };
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
        percent_encode_all("--skiplock")
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
    // `tag` is no option of the cluster options, `tag-style` is: the replay would set it.
    let log = [log_line("PUT", "/api2/json/cluster/options?tag=x")];
    let reason = record(&log, None)["not_replayable"].clone();
    assert_eq!(
        reason,
        "pvesh reads --tag as --tag-style, not in the schema"
    );
    // An indexed option in another case is that option; a prefix of one is ambiguous.
    let log = [log_line(
        "PUT",
        "/api2/json/nodes/pve1/qemu/100/config?NET0=virtio",
    )];
    let reason = record(&log, None)["not_replayable"].clone();
    assert_eq!(reason, "pvesh reads --NET0 as --net0, not in the schema");
    let log = [log_line(
        "PUT",
        "/api2/json/nodes/pve1/qemu/100/config?virti=1",
    )];
    assert_eq!(record(&log, None)["not_replayable"], Value::Null);
    // A JSON `true` in a body is what the API takes too.
    let path = "/nodes/pve1/qemu/100";
    let body = spool_event("DELETE", path, serde_json::json!({"purge": true}));
    let record = record(
        &[log_line("DELETE", &format!("/api2/json{path}"))],
        Some(&body),
    );
    assert_eq!(record["not_replayable"], Value::Null, "{record}");
}

/// The formats every secret is looked for in.
const FORMATS: [&str; 3] = ["pvesh", "json", "script"];

/// Checks that `secret` is in no output (stdout and stderr, every format) of `log` (and
/// `events`), and in every output with `--show-secrets`; returns the outputs of the formats.
fn hidden(log: &[String], events: Option<&Value>, secret: &str, readable: &[&str]) -> Vec<String> {
    let mut outs = Vec::new();
    for format in FORMATS {
        let (out, err) = run(log, events, format, &[]);
        assert!(!out.contains(secret), "{secret} shown in {format}: {out}");
        assert!(!err.contains(secret), "{secret} shown on stderr: {err}");
        for part in readable {
            assert!(out.contains(part), "{part} missing in {format}: {out}");
        }
        let (shown, _) = run(log, events, format, &["--show-secrets"]);
        assert!(
            shown.contains(secret),
            "{secret} not shown in {format}: {shown}"
        );
        outs.push(out);
    }
    outs
}

/// `secret` hidden in `name` of `method path`, given in the query and in a spool body.
fn hidden_in_param(
    method: &str,
    path: &str,
    name: &str,
    value: &str,
    secret: &str,
    readable: &[&str],
) {
    let query = format!("/api2/json{path}?{name}={}", percent_encode_all(value));
    hidden(&[log_line(method, &query)], None, secret, readable);
    // A GET or DELETE has no body: its spool event holds the logged query (hardening_spool).
    let target = if matches!(method, "GET" | "DELETE") {
        query
    } else {
        format!("/api2/json{path}")
    };
    let log = [log_line(method, &target)];
    let body = spool_event(method, path, serde_json::json!({ name: value }));
    hidden(&log, Some(&body), secret, readable);
}

#[test]
fn api_token_inside_target_endpoint() {
    let value =
        "host=10.0.0.5,apitoken=PVEAPIToken=user@realm!id=Tok3nSecretValue,fingerprint=AA:BB";
    let path = "/nodes/pve1/qemu/100/remote_migrate";
    hidden_in_param(
        "POST",
        path,
        "target-endpoint",
        value,
        "Tok3nSecretValue",
        &["apitoken=PVEAPIToken=user@realm!id=", ",fingerprint=AA:BB"],
    );
}

#[test]
fn proxy_credentials_in_http_proxy() {
    hidden_in_param(
        "PUT",
        "/cluster/options",
        "http_proxy",
        "http://puser:Pr0xyPassw0rd@proxy.example.com:3128",
        "Pr0xyPassw0rd",
        &["http://puser:", "@proxy.example.com:3128"],
    );
}

#[test]
fn webhook_url_header_and_secret() {
    for (method, path) in [
        ("POST", "/cluster/notifications/endpoints/webhook"),
        ("PUT", "/cluster/notifications/endpoints/webhook/hook1"),
    ] {
        hidden_in_param(
            method,
            path,
            "url",
            "https://hooks.example.com/services/T000/B000/WebhookT0kenXYZ?x=1",
            "WebhookT0kenXYZ",
            &["https://hooks.example.com/"],
        );
        let header = "name=Authorization,value=QmVhcmVyIHNlY3JldA==";
        hidden_in_param(
            method,
            path,
            "header",
            header,
            "QmVhcmVyIHNlY3JldA",
            &["name=Authorization,value="],
        );
        hidden_in_param(
            method,
            path,
            "secret",
            "name=token,value=c2VjcmV0VmFsdWU=",
            "c2VjcmV0VmFsdWU",
            &[],
        );
        // Several headers in a body: an array, each entry redacted in its place.
        let log = [log_line(method, &format!("/api2/json{path}"))];
        let body = spool_event(
            method,
            path,
            serde_json::json!({"header": ["name=X-A,value=Rmlyc3RTZWNyZXQ=", "name=X-B,value=U2Vjb25kU2VjcmV0"]}),
        );
        for secret in ["Rmlyc3RTZWNyZXQ", "U2Vjb25kU2VjcmV0"] {
            let outs = hidden(
                &log,
                Some(&body),
                secret,
                &["name=X-A,value=", "name=X-B,value="],
            );
            let record: Value = serde_json::from_str(outs[1].lines().next().unwrap()).unwrap();
            assert_eq!(
                record["params"]["header"],
                serde_json::json!(["name=X-A,value=<redacted>", "name=X-B,value=<redacted>"])
            );
        }
    }
}

#[test]
fn url_credentials_of_download_url_and_query_url_metadata() {
    for (method, path) in [
        ("POST", "/nodes/pve1/storage/local/download-url"),
        ("GET", "/nodes/pve1/query-url-metadata"),
    ] {
        hidden_in_param(
            method,
            path,
            "url",
            "https://mirror:D0wnl0adPass@downloads.example.com/x.iso",
            "D0wnl0adPass",
            &["https://mirror:", "@downloads.example.com/x.iso"],
        );
    }
}

#[test]
fn guest_payloads() {
    for (path, name, value, secret) in [
        (
            "/nodes/pve1/qemu/100/agent/file-write",
            "content",
            "root:Fil3Secret\n",
            "Fil3Secret",
        ),
        (
            "/nodes/pve1/qemu/100/agent/exec",
            "input-data",
            "Inpu7Secret",
            "Inpu7Secret",
        ),
        (
            "/nodes/pve1/qemu/100/monitor",
            "command",
            "set_password vnc M0nitorSecret",
            "M0nitorSecret",
        ),
    ] {
        hidden_in_param("POST", path, name, value, secret, &[&format!("--{name}")]);
    }
}

#[test]
fn openid_code_and_state() {
    for (name, secret) in [("code", "C0deSplxlOBeZQQ"), ("state", "St4teaf0ifjsldkj")] {
        hidden_in_param("POST", "/access/openid/login", name, secret, secret, &[]);
    }
}

#[test]
fn secrets_in_lines_that_are_not_api_calls() {
    for (target, secret) in [
        (
            "//api2/json/access/ticket?username=root@pam&password=Passw0rdSlash",
            "Passw0rdSlash",
        ),
        (
            "/api2/JSON/access/ticket?username=root@pam&password=Passw0rdUpper",
            "Passw0rdUpper",
        ),
        (
            "/?console=kvm&novnc=1&vncticket=Vnct1cketRaw&vmid=100",
            "Vnct1cketRaw",
        ),
        (
            "/?console=kvm&vncticket=PVEVNC%3A6650A1B2%3A%3AVncS1gnature",
            "VncS1gnature",
        ),
    ] {
        for method in ["GET", "POST"] {
            let outs = hidden(&[log_line(method, target)], None, secret, &[]);
            let record: Value = serde_json::from_str(outs[1].lines().next().unwrap()).unwrap();
            assert!(
                record["request"]
                    .as_str()
                    .is_some_and(|r| r.contains("<redacted>")),
                "{record}"
            );
        }
    }
}
