//! Inputs: plain, gzip (by magic, multi-member), stdin, several files, rotated sets, odd bytes.

use crate::util::*;

const WRITE: &str = r#"::1 - root@pam [24/06/2026:14:00:00 +0200] "PUT /api2/json/nodes/pve1/qemu/1/config HTTP/1.1" 200 5"#;

fn write_line(vmid: u32, time: &str) -> String {
    format!(
        r#"::1 - root@pam [{time} +0200] "PUT /api2/json/nodes/pve1/qemu/{vmid}/config HTTP/1.1" 200 5"#
    )
}

#[test]
fn odd_forms_fixture_crlf_bom_empty_lines() {
    let recs: Vec<serde_json::Value> = stdout_of(
        pverec()
            .args(["convert", "-f", "json", "--all"])
            .arg(data("odd-forms.log")),
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let lines: Vec<u64> = recs
        .iter()
        .map(|r| r["source"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        [1, 3, 4, 5, 6, 7],
        "line 2 and 8 are empty, the BOM is not part of line 1"
    );
    assert_eq!(recs[0]["source_ip"], "192.168.1.10");
    assert_eq!(recs[1]["time"], "2014-07-29T18:32:26Z");
    assert_eq!(
        recs[1]["template"],
        serde_json::Value::Null,
        "openvz is long gone from the schema"
    );
    assert_eq!(recs[2]["http_status"], 308);
    assert_eq!(
        recs[3]["params"]["description"],
        "café \u{fffd}\u{fffd} bell\u{7}"
    );
    assert_eq!(recs[4]["http_status"], 596);
    assert_eq!(
        recs[5]["pvesh"],
        serde_json::Value::Null,
        "a NUL byte cannot be an argument"
    );
    let text = stdout_of(
        pverec()
            .args(["convert", "--all"])
            .arg(data("odd-forms.log")),
    );
    let lines = without_who(&text);
    assert_eq!(
        lines[3],
        // Inside $'…' every non-ASCII byte is \xHH, é too: a CJK locale reads raw bytes there
        // differently (issue 11).
        r"pvesh set /nodes/pve1/qemu/100/config --description $'caf\xc3\xa9 \xff\xfe bell\x07'  # body not recorded"
    );
    assert_eq!(
        lines[5],
        r"# not replayable, an argument holds a NUL byte: pvesh delete /nodes/pve1/qemu/100/snapshot/s1 --x $'\\x00y'"
    );
}

#[test]
fn gzip_detected_by_magic_and_multi_member() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = gzip(
        format!(
            "{}\n{}\n",
            write_line(1, "24/06/2026:14:00:00"),
            write_line(2, "24/06/2026:14:00:01")
        )
        .as_bytes(),
    );
    data.extend(gzip(
        format!("{}\n", write_line(3, "24/06/2026:14:00:02")).as_bytes(),
    ));
    let file = dir.path().join("no-gz-suffix.log");
    std::fs::write(&file, &data).unwrap();
    let out = stdout_of(pverec().args(["convert", "--no-comments"]).arg(&file));
    assert_eq!(
        out,
        "pvesh set /nodes/pve1/qemu/1/config\npvesh set /nodes/pve1/qemu/2/config\npvesh set /nodes/pve1/qemu/3/config\n"
    );
    let out = stdout_of(
        pverec()
            .args(["convert", "--no-comments", "-"])
            .write_stdin(data),
    );
    assert_eq!(out.lines().count(), 3, "gzip on stdin too");
}

#[test]
fn stdin_and_several_files_in_the_order_given() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::write(&a, write_line(1, "24/06/2026:14:00:09") + "\n").unwrap();
    std::fs::write(&b, write_line(2, "24/06/2026:14:00:00") + "\n").unwrap();
    let out = stdout_of(
        pverec()
            .args(["convert", "--no-comments"])
            .arg(&a)
            .arg("-")
            .arg(&b)
            .write_stdin(write_line(3, "24/06/2026:14:00:05")),
    );
    assert_eq!(
        out,
        "pvesh set /nodes/pve1/qemu/1/config\npvesh set /nodes/pve1/qemu/3/config\npvesh set /nodes/pve1/qemu/2/config\n"
    );
    let recs: Vec<serde_json::Value> = stdout_of(
        pverec()
            .args(["convert", "-f", "json", "-"])
            .write_stdin(WRITE),
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(
        recs[0]["source"],
        serde_json::json!({"file": "-", "line": 1})
    );
}

#[test]
fn rotated_set_oldest_first_and_late_writes_merged_by_time() {
    let out = stdout_of(
        pverec()
            .args(["convert", "--rotated", "-f", "json"])
            .arg(data("access.log")),
    );
    let got: Vec<(String, String)> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|r| {
            let file = r["source"]["file"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            (r["time"].as_str().unwrap().to_string(), file)
        })
        .collect();
    let files: Vec<&str> = got.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(&files[..2], ["access.log.2.gz", "access.log.2.gz"]);
    assert!(files.contains(&"access.log.1"));
    let times: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "merged by time");
    // The late write to access.log.1 (after rotation) sits between lines of access.log.
    let late = got
        .iter()
        .position(|(t, _)| t == "2026-06-23T22:00:02Z")
        .unwrap();
    assert_eq!(got[late].1, "access.log.1");
    assert_eq!(got[late + 1].1, "access.log");
    // Without --rotated, only the file itself.
    let plain = stdout_of(
        pverec()
            .args(["convert", "-f", "json"])
            .arg(data("access.log")),
    );
    assert!(
        plain
            .lines()
            .all(|l| l.contains("/tests/data/access.log\""))
    );
}

#[test]
fn rotated_set_in_a_temp_dir_with_gz_generations() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("access.log");
    std::fs::write(
        dir.path().join("access.log.3.gz"),
        gzip((write_line(1, "21/06/2026:10:00:00") + "\n").as_bytes()),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("access.log.2.gz"),
        gzip((write_line(2, "22/06/2026:10:00:00") + "\n").as_bytes()),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("access.log.1"),
        write_line(3, "23/06/2026:10:00:00") + "\n" + &write_line(5, "24/06/2026:10:00:05") + "\n",
    )
    .unwrap();
    std::fs::write(
        &base,
        write_line(4, "24/06/2026:10:00:00") + "\n" + &write_line(6, "24/06/2026:10:00:06") + "\n",
    )
    .unwrap();
    let out = stdout_of(
        pverec()
            .args(["convert", "--no-comments", "--rotated"])
            .arg(&base),
    );
    let vmids: Vec<&str> = out.lines().map(|l| l.split('/').nth(4).unwrap()).collect();
    assert_eq!(vmids, ["1", "2", "3", "4", "5", "6"]);
}

#[test]
fn dev_null_and_empty_input_print_nothing() {
    let out = pverec().args(["convert", "/dev/null"]).output().unwrap();
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
    let out = pverec()
        .args(["convert", "-"])
        .write_stdin("")
        .output()
        .unwrap();
    assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
}
