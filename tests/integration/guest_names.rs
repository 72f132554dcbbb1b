//! Issue 13, item 5: guest names from /etc/pve (`.vmlist` and the configs' `name:` or
//! `hostname:`) in every event, untrusted text quoted like the rest; re-read in follow when
//! `.vmlist`'s version changes.

use std::fs;

use serde_json::Value;

use super::follower::{BACKENDS, Follower, Scene, append};
use crate::util::{copy_dir, data, pverec};

#[test]
fn guests_are_named_in_json_and_in_the_pvesh_notes() {
    let etc = data("etc-pve");
    let out = pverec()
        .args(["convert", "-f", "json", "--all", "--etc-pve"])
        .arg(&etc)
        .arg(data("access.log"))
        .output()
        .unwrap();
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let name_of = |id: &str| {
        records
            .iter()
            .find(|r| r["object"]["id"] == id)
            .map(|r| r["object"]["name"].clone())
    };
    assert_eq!(
        name_of("100"),
        Some(Value::from("web01")),
        "not a snapshot's name"
    );
    assert_eq!(name_of("105"), Some(Value::from("ci-runner-05")));
    assert_eq!(name_of("102"), Some(Value::Null), "not in .vmlist");
    let out = pverec()
        .args(["convert", "--etc-pve"])
        .arg(&etc)
        .arg(data("access.log"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "pvesh create /nodes/pve1/qemu/100/status/start  # body not recorded; VM 100 (web01)"
        ),
        "{text}"
    );
    // Without --etc-pve (a log that is not the node's): no names.
    let plain = pverec()
        .args(["convert", "-f", "json"])
        .arg(data("access.log"))
        .output()
        .unwrap();
    assert!(!String::from_utf8(plain.stdout).unwrap().contains("web01"));
}

#[test]
fn a_hostile_guest_name_reaches_neither_terminal_nor_shell_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc-pve");
    copy_dir(&data("etc-pve"), &etc);
    fs::write(
        etc.join("nodes/pve1/qemu-server/100.conf"),
        "name: web\x1b]0;pwned\x07'$(id)\u{202e}\n",
    )
    .unwrap();
    for format in ["pvesh", "json", "script"] {
        let out = pverec()
            .args(["convert", "-f", format, "--etc-pve"])
            .arg(&etc)
            .arg(data("access.log"))
            .output()
            .unwrap();
        let bytes = out.stdout;
        assert!(!bytes.contains(&0x1b), "{format}: raw ESC");
        assert!(!bytes.contains(&0x07), "{format}: raw BEL");
        assert!(
            !String::from_utf8_lossy(&bytes).contains('\u{202e}'),
            "{format}: raw bidi override"
        );
    }
}

#[test]
fn follow_names_a_guest_anew_when_vmlist_changes() {
    let backend = BACKENDS[0];
    let Scene { dir, log, .. } = Scene::new(backend);
    fs::write(&log, "").unwrap();
    let etc = dir.path().join("etc-pve");
    copy_dir(&data("etc-pve"), &etc);
    let mut f = Follower::spawn_with(
        dir.path(),
        &log,
        backend,
        &[
            "-f",
            "json",
            "--no-tasks",
            "--no-spool",
            "--no-journal",
            "--etc-pve",
            etc.to_str().unwrap(),
        ],
        |_| {},
    );
    f.wait_ready();
    let line = |n: u32| {
        let stamp = jiff::Timestamp::now().strftime("%d/%m/%Y:%H:%M:%S +0000");
        format!(
            "::1 - root@pam [{stamp}] \"POST /api2/json/nodes/pve1/qemu/100/status/start?n={n} HTTP/1.1\" 200 80\n"
        )
    };
    append(&log, &line(0));
    f.wait_until("the first name", || {
        f.output().iter().any(|l| l.contains("\"name\":\"web01\""))
    });
    fs::write(etc.join("nodes/pve1/qemu-server/100.conf"), "name: web02\n").unwrap();
    let vmlist = fs::read_to_string(etc.join(".vmlist")).unwrap();
    fs::write(
        etc.join(".vmlist"),
        vmlist.replace("\"version\": 7", "\"version\": 8"),
    )
    .unwrap();
    // Lines until one is named anew (.vmlist is looked at once a second at most).
    let mut n = 1;
    f.wait_until("the new name", || {
        append(&log, &line(n));
        n += 1;
        std::thread::sleep(std::time::Duration::from_millis(100));
        f.output().iter().any(|l| l.contains("\"name\":\"web02\""))
    });
    f.stop_with(libc::SIGTERM);
}
