//! Conversion of real-format lines: pve-formats.md §1.3 samples, every peer/user/date form,
//! classes, filters, and the three output formats.

use serde_json::{Value, json};

use crate::util::*;

/// The example lines of pve-formats.md §1.3, verbatim (the spiceproxy signature made concrete).
const SAMPLES: [&str; 8] = [
    r#"::ffff:192.168.10.23 - - [24/06/2026:14:02:51 +0200] "POST /api2/extjs/access/ticket HTTP/1.1" 200 1521"#,
    r#"::ffff:192.168.10.23 - root@pam [24/06/2026:14:03:14 +0200] "POST /api2/extjs/nodes/pve1/qemu/100/status/start HTTP/1.1" 200 81"#,
    r#"::ffff:192.168.10.40 - automation@pve!ci [24/06/2026:14:05:02 +0200] "DELETE /api2/json/nodes/pve1/qemu/105?purge=1&destroy-unreferenced-disks=1 HTTP/1.1" 200 77"#,
    r#"::ffff:192.168.10.23 - root@pam [24/06/2026:14:03:20 +0200] "GET /api2/json/nodes/pve1/qemu/100/vncwebsocket?port=5900&vncticket=PVEVNC%3A6A3BC788%3A%3A... HTTP/1.1" 101 -"#,
    r#"::ffff:192.168.10.23 - - [24/06/2026:14:02:50 +0200] "GET /pve2/ext6/ext-all.js?ver=7.0.0 HTTP/1.1" 304 -"#,
    r#"::ffff:192.168.10.23 - - [24/06/2026:16:10:03 +0200] "GET /api2/json/cluster/resources HTTP/1.1" 401 -"#,
    r#"::ffff:10.0.0.11 - root@pam [24/06/2026:14:06:40 +0200] "POST /api2/extjs/nodes/pve2/qemu/200/status/start HTTP/1.1" 200 81"#,
    r#"::ffff:192.168.10.23 - - [24/06/2026:14:07:12 +0200] "CONNECT pvespiceproxy:6a3bc8b0:100:pve1:61000::8d0c9e6f55e0a13bcd0b1e2f3a4b5c6d7e8f9a0b:61000 HTTP/1.1" 200 -"#,
];

#[test]
fn samples_default_shows_writes_only() {
    assert_eq!(
        convert_lines(&SAMPLES, &[]),
        [
            "# 2026-06-24 12:03:14+00:00 root@pam from 192.168.10.23",
            "pvesh create /nodes/pve1/qemu/100/status/start  # body not recorded",
            "# 2026-06-24 12:05:02+00:00 automation@pve!ci from 192.168.10.40",
            "pvesh delete /nodes/pve1/qemu/105 --purge 1 --destroy-unreferenced-disks 1",
            "# 2026-06-24 12:06:40+00:00 root@pam from 10.0.0.11",
            "pvesh create /nodes/pve2/qemu/200/status/start  # body not recorded",
        ]
    );
}

#[test]
fn samples_all_classes_as_pvesh() {
    assert_eq!(
        convert_lines(&SAMPLES, &["--all"]),
        [
            "# 2026-06-24 12:02:51+00:00 - from 192.168.10.23",
            "pvesh create /access/ticket  # body not recorded",
            "# 2026-06-24 12:03:14+00:00 root@pam from 192.168.10.23",
            "pvesh create /nodes/pve1/qemu/100/status/start  # body not recorded",
            "# 2026-06-24 12:05:02+00:00 automation@pve!ci from 192.168.10.40",
            "pvesh delete /nodes/pve1/qemu/105 --purge 1 --destroy-unreferenced-disks 1",
            "# 2026-06-24 12:03:20+00:00 root@pam from 192.168.10.23",
            r#"# not replayable, a websocket upgrade checks a ticket, it is no action: pvesh get /nodes/pve1/qemu/100/vncwebsocket --port 5900 --vncticket "${PVE_SECRET_VNCTICKET:?redacted}""#,
            "# 2026-06-24 12:02:50+00:00 - from 192.168.10.23",
            "# no pvesh form: GET /pve2/ext6/ext-all.js?ver=7.0.0 HTTP/1.1",
            // Over ten minutes later: a new session, although the same user and client.
            "# 2026-06-24 14:10:03+00:00 - from 192.168.10.23",
            "pvesh get /cluster/resources  # HTTP 401",
            "# 2026-06-24 12:06:40+00:00 root@pam from 10.0.0.11",
            "pvesh create /nodes/pve2/qemu/200/status/start  # body not recorded",
            "# 2026-06-24 12:07:12+00:00 - from 192.168.10.23",
            "# no pvesh form: CONNECT pvespiceproxy:6a3bc8b0:100:pve1:61000::<redacted> HTTP/1.1",
        ]
    );
}

#[test]
fn samples_all_classes_no_comments() {
    assert_eq!(
        convert_lines(&SAMPLES, &["--all", "--no-comments"]),
        [
            "pvesh create /access/ticket",
            "pvesh create /nodes/pve1/qemu/100/status/start",
            "pvesh delete /nodes/pve1/qemu/105 --purge 1 --destroy-unreferenced-disks 1",
            // HTTP 401: it failed, so even without notes it is no command.
            "# failed: pvesh get /cluster/resources",
            "pvesh create /nodes/pve2/qemu/200/status/start",
        ]
    );
}

#[test]
fn samples_as_json_records() {
    let recs = records(&SAMPLES, &["--all", "--node", "pve1"]);
    assert_eq!(recs.len(), 8);
    let start = &recs[1];
    assert_eq!(
        *start,
        json!({
            "event": "request",
            "time": "2026-06-24T12:03:14Z", "node": "pve1", "source_ip": "192.168.10.23",
            "user": "root@pam", "token": null, "method": "POST",
            "path": "/nodes/pve1/qemu/100/status/start", "api_format": "extjs", "class": "write",
            "template": "/nodes/{node}/qemu/{vmid}/status/start", "action": "vm_start",
            "object": {"type": "qemu", "id": "100", "name": null}, "params": {}, "params_source": "none",
            "http_status": 200, "bytes": 81, "outcome": "unknown", "task": null,
            "pvesh": "pvesh create /nodes/pve1/qemu/100/status/start",
            "not_replayable": null,
            "argv": ["pvesh", "create", "/nodes/pve1/qemu/100/status/start"],
            "request": null,
            "origin": "api", "program": null, "process": null, "auth": null,
            "source": {"file": start["source"]["file"], "line": 2},
        })
    );
    assert!(
        start["source"]["file"]
            .as_str()
            .unwrap()
            .ends_with("access.log")
    );

    let delete = &recs[2];
    assert_eq!(delete["user"], "automation@pve");
    assert_eq!(delete["token"], "ci");
    assert_eq!(delete["action"], "destroy_vm");
    assert_eq!(
        delete["object"],
        json!({"type": "qemu", "id": "105", "name": null})
    );
    assert_eq!(
        delete["params"],
        json!({"purge": "1", "destroy-unreferenced-disks": "1"})
    );
    assert_eq!(delete["params_source"], "query");
    assert_eq!(
        delete["outcome"], "unknown",
        "returns a task: the task decides"
    );

    let ws = &recs[3];
    assert_eq!(ws["class"], "console");
    assert_eq!(
        ws["params"],
        json!({"port": "5900", "vncticket": "<redacted>"})
    );
    assert_eq!(ws["redacted"], json!(["vncticket"]));
    assert_eq!(
        ws["argv"],
        json!([
            "pvesh",
            "get",
            "/nodes/pve1/qemu/100/vncwebsocket",
            "--port",
            "5900",
            "--vncticket",
            "<redacted>"
        ])
    );
    assert_eq!(ws["bytes"], Value::Null);
    assert_eq!(ws["http_status"], 101);
    assert!(
        !ws.to_string().contains("PVEVNC"),
        "the ticket never appears"
    );

    let stat = &recs[4];
    assert_eq!(
        (
            stat["class"].as_str(),
            stat["api_format"].is_null(),
            stat["pvesh"].is_null()
        ),
        (Some("other"), true, true)
    );
    assert_eq!(stat["path"], "/pve2/ext6/ext-all.js");
    assert_eq!(
        stat["request"],
        "GET /pve2/ext6/ext-all.js?ver=7.0.0 HTTP/1.1"
    );
    assert_eq!(stat["outcome"], "success");

    assert_eq!(recs[5]["outcome"], "failure");
    assert_eq!(recs[5]["user"], Value::Null);
    assert_eq!(recs[6]["source_ip"], "10.0.0.11");
    assert_eq!(recs[7]["class"], "console");
    assert_eq!(recs[7]["method"], "CONNECT");
    assert_eq!(recs[7]["path"], Value::Null);
    assert!(
        recs.iter().all(|r| r.get("redacted").is_none() || r == ws),
        "redacted only where something was"
    );
    for rec in &recs {
        for field in [
            "time",
            "node",
            "source_ip",
            "user",
            "token",
            "method",
            "path",
            "api_format",
            "class",
            "template",
            "action",
            "object",
            "params",
            "params_source",
            "http_status",
            "bytes",
            "outcome",
            "task",
            "pvesh",
            "argv",
            "source",
        ] {
            assert!(rec.get(field).is_some(), "{field} missing in {rec}");
        }
    }
}

#[test]
fn peers_users_and_dates() {
    let recs = records(
        &[
            r#"::ffff:192.168.1.10 - root@pam [24/06/2026:14:03:14 +0200] "PUT /api2/json/nodes/pve1/qemu/1/config HTTP/1.1" 200 5"#,
            r#"10.1.2.3 - alice@pve [24/06/2026:14:03:14 -0500] "PUT /api2/json/nodes/pve1/qemu/2/config HTTP/1.1" 200 5"#,
            r#"::1 - bob@pve!tok-1 [24/06/2026:14:03:14 +0000] "PUT /api2/json/nodes/pve1/qemu/3/config HTTP/1.1" 200 5"#,
            r#"2001:db8::17 - - [29/Jul/2014:14:32:26 -0400] "PUT /api2/json/nodes/pve1/qemu/4/config HTTP/1.1" 200 -"#,
            r#"- - - [24/06/2026:14:03:14 +0200] "PUT /api2/json/nodes/pve1/qemu/5/config HTTP/1.1" 500 -"#,
        ],
        &[],
    );
    let got: Vec<_> = recs
        .iter()
        .map(|r| {
            (
                r["source_ip"].clone(),
                r["user"].clone(),
                r["token"].clone(),
                r["time"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                json!("192.168.1.10"),
                json!("root@pam"),
                Value::Null,
                json!("2026-06-24T12:03:14Z")
            ),
            (
                json!("10.1.2.3"),
                json!("alice@pve"),
                Value::Null,
                json!("2026-06-24T19:03:14Z")
            ),
            (
                json!("::1"),
                json!("bob@pve"),
                json!("tok-1"),
                json!("2026-06-24T14:03:14Z")
            ),
            (
                json!("2001:db8::17"),
                Value::Null,
                Value::Null,
                json!("2014-07-29T18:32:26Z")
            ),
            (
                Value::Null,
                Value::Null,
                Value::Null,
                json!("2026-06-24T12:03:14Z")
            ),
        ]
    );
}

#[test]
fn every_api_format_and_status() {
    let formats = ["json", "extjs", "html", "htmljs", "spiceconfig", "png"];
    let lines: Vec<String> = formats
        .iter()
        .zip([200, 101, 308, 401, 500, 596])
        .map(|(f, s)| format!(r#"::1 - root@pam [24/06/2026:14:03:14 +0200] "POST /api2/{f}/nodes/pve1/qemu/100/status/reset HTTP/1.1" {s} -"#))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let recs = records(&lines, &[]);
    let got: Vec<_> = recs
        .iter()
        .map(|r| {
            (
                r["api_format"].clone(),
                r["http_status"].clone(),
                r["outcome"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (json!("json"), json!(200), json!("unknown")),
            (json!("extjs"), json!(101), json!("unknown")),
            // A redirect to HTTPS never ran; `500 -` (the client went away) and 596 (a proxied
            // call without an answer) may have run.
            (json!("html"), json!(308), json!("not_executed")),
            (json!("htmljs"), json!(401), json!("failure")),
            (json!("spiceconfig"), json!(500), json!("unknown")),
            (json!("png"), json!(596), json!("unknown")),
        ]
    );
    assert!(
        recs.iter()
            .all(|r| r["pvesh"] == "pvesh create /nodes/pve1/qemu/100/status/reset")
    );
    let notes = without_who(&convert_lines(&lines, &[]).join("\n"));
    assert_eq!(
        notes[2],
        "pvesh create /nodes/pve1/qemu/100/status/reset  # body not recorded; not executed: HTTP 308, a redirect to HTTPS"
    );
    assert_eq!(
        notes[5],
        "pvesh create /nodes/pve1/qemu/100/status/reset  # body not recorded; HTTP 596: no answer, the call may have run"
    );
}

#[test]
fn json_format_200_without_task_is_success_but_extjs_is_told_by_its_length() {
    let recs = records(
        &[
            r#"::1 - root@pam [24/06/2026:14:03:14 +0200] "PUT /api2/json/cluster/options HTTP/1.1" 200 13"#,
            r#"::1 - root@pam [24/06/2026:14:03:14 +0200] "PUT /api2/extjs/cluster/options HTTP/1.1" 200 5"#,
            r#"::1 - root@pam [24/06/2026:14:03:14 +0200] "PUT /api2/extjs/cluster/options HTTP/1.1" 200 25"#,
            r#"::1 - root@pam [24/06/2026:14:03:14 +0200] "PUT /api2/extjs/cluster/options HTTP/1.1" 200 2000"#,
        ],
        &[],
    );
    let outcomes: Vec<_> = recs.iter().map(|r| r["outcome"].as_str()).collect();
    // `{"data":null,"success":1}` is 25 bytes; anything else (up to 1024) is an error answer; a
    // longer body may be compressed and tells nothing.
    assert_eq!(
        outcomes,
        [
            Some("success"),
            Some("failure"),
            Some("success"),
            Some("unknown")
        ]
    );
    assert_eq!(recs[0]["action"], "set_options");
}

#[test]
fn path_decoding_and_query_parameters() {
    let out = convert_lines(
        &[
            r#"::1 - root@pam [24/06/2026:14:03:14 +0200] "DELETE /api2/extjs/nodes/pve1/storage/local/content/local:iso%2Fdebian-12.iso?_dc=1719230000&delay=5 HTTP/1.1" 200 5"#,
            r#"::1 - root@pam [24/06/2026:14:03:14 +0200] "PUT /api2//json//cluster/options/?keyboard=de&description=a+b%2Bc&tags=x&tags=y HTTP/1.1" 200 5"#,
            r#"::1 - root@pam [24/06/2026:14:03:14 +0200] "POST /api2/json/nodes/pve1/qemu/100/status/start?node=pve1&vmid=100&timeout=5&vmid=101 HTTP/1.1" 200 5"#,
        ],
        &["--no-comments"],
    );
    assert_eq!(
        out,
        [
            // An extjs error answer (5 bytes): a failure, commented out.
            "# failed: pvesh delete /nodes/pve1/storage/local/content/local:iso/debian-12.iso --delay 5",
            "pvesh set /cluster/options --keyboard de --description 'a b+c' --tags x --tags y",
            // Values of one key stay together (pveproxy decodes into a hash of arrays).
            "pvesh create /nodes/pve1/qemu/100/status/start --vmid 101 --timeout 5",
        ]
    );
}

#[test]
fn off_schema_paths_are_kept_and_secret_names_redacted() {
    let recs = records(
        &[
            r#"::1 - root@pam [24/06/2026:14:03:14 +0200] "POST /api2/json/plugin/thing/42?api-password=x&name=n HTTP/1.1" 200 5"#,
        ],
        &[],
    );
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["template"], Value::Null);
    assert_eq!(recs[0]["action"], Value::Null);
    assert_eq!(
        recs[0]["params"],
        json!({"api-password": "<redacted>", "name": "n"})
    );
    assert_eq!(
        recs[0]["pvesh"],
        r#"pvesh create /plugin/thing/42 --api-password "${PVE_SECRET_API_PASSWORD:?redacted}" --name n"#
    );
}

#[test]
fn schema_secrets_redacted_unless_shown() {
    let lines = [
        r#"::1 - alice@pve [24/06/2026:14:04:31 +0200] "GET /api2/json/nodes/pve1/scan/cifs?server=fs1&username=alice&password=hunter2 HTTP/1.1" 200 150"#,
        r#"::1 - root@pam [24/06/2026:14:11:00 +0200] "DELETE /api2/json/access/tfa/root@pam/totp1?password=Tr0ub4dor HTTP/1.1" 200 9"#,
    ];
    let out = convert_lines(&lines, &["--all"]).join("\n");
    assert!(
        !out.contains("hunter2") && !out.contains("Tr0ub4dor"),
        "{out}"
    );
    assert!(out.contains(r#"--password "${PVE_SECRET_PASSWORD:?redacted}""#));
    let shown = convert_lines(&lines, &["--all", "--show-secrets"]).join("\n");
    assert!(
        shown.contains("--password hunter2") && shown.contains("--password Tr0ub4dor"),
        "{shown}"
    );
    let recs = records(&lines, &["--all", "--show-secrets"]);
    assert_eq!(recs[0]["params"]["password"], "hunter2");
    assert!(recs[0].get("redacted").is_none());
}

#[test]
fn a_redacted_command_fails_when_run_and_works_with_the_variable() {
    let line = convert_lines(
        &[r#"::1 - root@pam [24/06/2026:14:11:00 +0200] "DELETE /api2/json/access/tfa/root@pam/totp1?password=Tr0ub4dor HTTP/1.1" 200 9"#],
        &["--no-comments"],
    )
    .remove(0);
    let script = line.replacen("pvesh", "printf '%s\\n'", 1);
    let unset = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env_remove("PVE_SECRET_PASSWORD")
        .output()
        .unwrap();
    assert!(!unset.status.success());
    assert!(String::from_utf8_lossy(&unset.stderr).contains("PVE_SECRET_PASSWORD: redacted"));
    let set = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PVE_SECRET_PASSWORD", "s3cret")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        "delete\n/access/tfa/root@pam/totp1\n--password\ns3cret\n"
    );
}

#[test]
fn hostile_request_lines_never_reach_shell_or_terminal_raw() {
    let line = b"::1 - root@pam [24/06/2026:14:03:14 +0200] \"PUT /api2/json/nodes/$(reboot)/qemu/x';rm${IFS}-rf${IFS}~;'/config?q1=%1b%5b2J%07&v1=%C2%9B31m&w1=\xff\xfe\x1b[1m HTTP/1.1\" 200 5\n";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, line).unwrap();
    for format in ["pvesh", "json", "script"] {
        let out = pverec()
            .args(["convert", "-f", format])
            .arg(&log)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(!out.stdout.is_empty());
        let text = std::str::from_utf8(&out.stdout).expect("valid UTF-8 even for invalid input");
        assert!(
            !text
                .chars()
                .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{format}: raw control character in {text:?}"
        );
    }
    let cmd = stdout_of(pverec().args(["convert", "--no-comments"]).arg(&log));
    let cmd = cmd.trim_end().replacen("pvesh", "printf '%s\\0'", 1);
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&cmd)
        .output()
        .unwrap();
    let argv: Vec<&[u8]> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(
        argv,
        [
            &b"set"[..],
            b"/nodes/$(reboot)/qemu/x';rm${IFS}-rf${IFS}~;'/config",
            b"--q1",
            b"\x1b[2J\x07",
            b"--v1",
            "\u{9b}31m".as_bytes(),
            b"--w1",
            b"\xff\xfe\x1b[1m",
        ]
    );
}

#[test]
fn classes_and_user_filters() {
    let lines = [
        r#"::1 - alice@pve [24/06/2026:14:00:00 +0200] "PUT /api2/json/nodes/pve1/qemu/1/config HTTP/1.1" 200 5"#,
        r#"::1 - alice@pve!ci [24/06/2026:14:00:01 +0200] "PUT /api2/json/nodes/pve1/qemu/2/config HTTP/1.1" 200 5"#,
        r#"::1 - bob@pve [24/06/2026:14:00:02 +0200] "PUT /api2/json/nodes/pve1/qemu/3/config HTTP/1.1" 200 5"#,
        r#"::1 - alice@pve [24/06/2026:14:00:03 +0200] "GET /api2/json/nodes/pve1/qemu/4/config HTTP/1.1" 200 5"#,
        r#"::1 - - [24/06/2026:14:00:04 +0200] "POST /api2/extjs/access/ticket HTTP/1.1" 200 5"#,
        r#"::1 - alice@pve [24/06/2026:14:00:05 +0200] "POST /api2/json/nodes/pve1/qemu/6/vncproxy HTTP/1.1" 200 5"#,
        r#"::1 - - [24/06/2026:14:00:06 +0200] "GET /favicon.ico HTTP/1.1" 200 5"#,
    ];
    let ids = |args: &[&str]| -> Vec<u64> {
        records(&lines, args)
            .iter()
            .map(|r| r["source"]["line"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&[]), [1, 2, 3]);
    assert_eq!(ids(&["--user", "alice@pve"]), [1, 2]);
    assert_eq!(ids(&["-u", "alice@pve!ci"]), [2]);
    assert_eq!(ids(&["-u", "alice@pve!ci", "-u", "bob@pve"]), [2, 3]);
    assert_eq!(ids(&["--class", "read"]), [4]);
    assert_eq!(ids(&["--class", "auth,console"]), [5, 6]);
    assert_eq!(ids(&["--class", "other"]), [7]);
    assert_eq!(ids(&["--all"]), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(ids(&["--all", "-u", "alice@pve"]), [1, 2, 4, 6]);
    assert_eq!(ids(&["--since", "2026-06-24T12:00:02Z"]), [3]);
    assert_eq!(ids(&["--until", "2026-06-24T12:00:01Z"]), [1]);
    assert_eq!(
        ids(&[
            "--all",
            "--since",
            "2026-06-24 12:00:03",
            "--until",
            "2026-06-24 12:00:06"
        ]),
        [4, 5, 6]
    );
    assert_eq!(
        ids(&["--since", "1d"]),
        Vec::<u64>::new(),
        "the fixture is older than a day"
    );
    assert_eq!(ids(&["--since", "100000d"]), [1, 2, 3]);
}

#[test]
fn script_format_is_a_runnable_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_of(
        pverec()
            .args(["convert", "-f", "script", "--rotated"])
            .arg(data("access.log")),
    );
    let expected_start = "#!/bin/bash\n# Generated by pverec ";
    assert!(out.starts_with(expected_start), "{out}");
    assert!(out.contains("\nset -euo pipefail\n"));
    assert!(out.contains(
        "\n# 2026-06-24 12:03:14+00:00 root@pam from 192.168.10.23: HTTP 200, outcome unknown; body not recorded\npvesh create /nodes/pve1/qemu/100/status/start\n"
    ), "{out}");
    assert!(out.contains(
        "\n# 2026-06-24 12:05:40+00:00 alice@pve from 192.168.10.31: HTTP 403, outcome failure; not replayed: it failed\n# pvesh delete /nodes/pve1/storage/local/content/local:iso/debian-12.iso\n"
    ), "{out}");
    // Run it with a pvesh that records its arguments: every active command runs, in order.
    let fake = dir.path().join("pvesh");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf '%s ' \"$@\" >> \"$PVESH_LOG\"; echo >> \"$PVESH_LOG\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = dir.path().join("replay.sh");
    std::fs::write(&script, &out).unwrap();
    let log = dir.path().join("calls");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let run = std::process::Command::new("bash")
        .arg(&script)
        .env("PATH", path)
        .env("PVESH_LOG", &log)
        .env("PVE_SECRET_1_PASSWORD", "pw")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let active = out.lines().filter(|l| l.starts_with("pvesh ")).count();
    assert_eq!(calls.lines().count(), active);
    assert!(
        calls.lines().last().unwrap().contains("--password pw"),
        "{calls}"
    );
}
