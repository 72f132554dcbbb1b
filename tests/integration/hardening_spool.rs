//! Issue 11, finding 8 (second half) and finding 6 (spool part): the recorder spool is written
//! by www-data, so nothing in it is trusted. A spool event that disagrees with its log line is
//! refused, parameters off the schema are marked and not replayed, a replaced `<pid>.req` is
//! made again, `<pid>.events` is freed as it is read, writes to other files of the spool do not
//! wake follow, and the spool events held waiting for their line are capped.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::follower::{BACKENDS, Backend, Follower, Scene, append};
use super::util::pverec;

/// A spool event line as pveproxy writes it (`format` as given, `None` to leave it out).
fn event(method: &str, path: &str, user: &str, format: Option<&str>, params: Value) -> String {
    let mut e = json!({
        "method": method,
        "path": path,
        "params": params,
        "userid": user,
        "client_ip": "::ffff:192.168.1.5",
        "proxied": 0,
    });
    if let Some(format) = format {
        e["format"] = json!(format);
    }
    e.to_string()
}

/// An access.log line of `user` calling `METHOD TARGET` (`/api2/...`) at second `s` of a fixed
/// minute, answered 200 with `length` bytes.
fn logged(user: &str, method: &str, target: &str, s: u32, length: usize) -> String {
    format!(
        "::ffff:192.168.1.5 - {user} [24/06/2026:14:03:{s:02} +0200] \"{method} {target} HTTP/1.1\" 200 {length}"
    )
}

/// `pverec convert -f FORMAT --all --node pve1 --events EVENTS LOG` in a temporary directory:
/// (stdout, stderr).
fn convert(events: &[String], log: &[String], format: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (ev, lg) = (dir.path().join("events"), dir.path().join("access.log"));
    fs::write(&ev, events.join("\n") + "\n").unwrap();
    fs::write(&lg, log.join("\n") + "\n").unwrap();
    let out = pverec()
        .current_dir(dir.path())
        .args([
            "convert",
            "--no-tasks",
            "--node",
            "pve1",
            "--all",
            "-f",
            format,
        ])
        .args(["--events", "events", "access.log"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json_records(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Item A1: a spool event that the join would give to a real request, but that disagrees with
/// what its log line shows (no format, a GET/DELETE with parameters beyond its query, a logged
/// query value changed, a path matched only through percent escapes), is refused with one
/// `FILE:LINE` warning per cause, and the request is shown as if no body was recorded. A
/// matching event is still taken.
#[test]
fn a_spool_event_that_disagrees_with_its_line_is_refused() {
    let config = "/nodes/pve1/qemu/100/config";
    let evil = json!({"hookscript": "local:snippets/evil.sh", "args": "-no-reboot"});
    let events = [
        // 1: no format, forged for root's config change.
        event("PUT", config, "root@pam", None, evil.clone()),
        // 2: a DELETE has no body: skiplock is not in its query.
        event(
            "DELETE",
            "/nodes/pve1/qemu/101",
            "root@pam",
            Some("json"),
            json!({"purge": "1", "skiplock": "1"}),
        ),
        // 3: the logged digest is another.
        event(
            "PUT",
            config,
            "root@pam",
            Some("extjs"),
            json!({"digest": "forged", "hookscript": "local:snippets/evil.sh"}),
        ),
        // 4: the path only matches once decoded (pveproxy writes it decoded).
        event(
            "PUT",
            "/nodes/pve1/qemu/10%30/config",
            "root@pam",
            Some("extjs"),
            evil.clone(),
        ),
        // 5: a second event without a format: counted, not reported again in full.
        event("PUT", config, "root@pam", None, evil),
        // 6: a real one.
        event(
            "PUT",
            config,
            "root@pam",
            Some("extjs"),
            json!({"memory": "4096"}),
        ),
    ];
    let put = format!("/api2/extjs{config}");
    let log = [
        logged("root@pam", "PUT", &put, 1, 25),
        logged(
            "root@pam",
            "DELETE",
            "/api2/json/nodes/pve1/qemu/101?purge=1",
            2,
            70,
        ),
        logged("root@pam", "PUT", &format!("{put}?digest=abc"), 3, 25),
        logged("root@pam", "PUT", &put, 4, 25),
        logged("root@pam", "PUT", &put, 5, 25),
        logged("root@pam", "PUT", &put, 6, 25),
    ];
    let (out, err) = convert(&events, &log, "json");
    let records = json_records(&out);
    assert_eq!(records.len(), 6, "{out}\n{err}");
    for (i, r) in records[..5].iter().enumerate() {
        assert_ne!(r["params_source"], "spool", "record {i}: {r}\n{err}");
        let argv = r["argv"].to_string();
        assert!(
            !argv.contains("hookscript") && !argv.contains("skiplock"),
            "record {i}: {r}"
        );
    }
    assert_eq!(
        records[1]["argv"],
        json!(["pvesh", "delete", "/nodes/pve1/qemu/101", "--purge", "1"])
    );
    assert_eq!(records[5]["params_source"], "spool", "{}", records[5]);
    assert_eq!(records[5]["params"], json!({"memory": "4096"}));
    // One full warning per cause, naming the events line and the log line.
    for (line, log_line, what) in [
        (1, 1, "no format"),
        (2, 2, "\"skiplock\""),
        (3, 3, "\"digest\""),
        (4, 4, "10%30"),
    ] {
        let wanted =
            format!("events:{line}: spool event refused as the body of access.log:{log_line}");
        let warning = err
            .lines()
            .find(|l| l.contains(&wanted))
            .unwrap_or_else(|| panic!("no {wanted:?} in\n{err}"));
        assert!(warning.contains(what), "{warning}");
        assert!(warning.contains("as if no body was recorded"), "{warning}");
    }
    assert!(!err.contains("events:5: spool event refused"), "{err}");
    assert!(err.contains("5 spool events refused in all"), "{err}");
    // Nothing was left over to be shown alone: the refused events were used up.
    assert!(!err.contains("no access.log line came"), "{err}");

    // The pvesh form: the note a request without its body has.
    let (out, _) = convert(&events[..1], &log[..1], "pvesh");
    let line = out
        .lines()
        .find(|l| l.starts_with("pvesh"))
        .unwrap_or_default();
    assert_eq!(
        line,
        format!("pvesh set {config}  # body not recorded"),
        "{out}"
    );
}

/// Item A2: parameters of a spool body that the endpoint's schema does not have are kept and
/// marked: `unknown_params` in JSON, and the call is not replayable (a comment in the pvesh and
/// script forms, never a command).
#[test]
fn spool_parameters_off_the_schema_are_marked_not_replayed() {
    let config = "/nodes/pve1/qemu/100/config";
    let events = [event(
        "PUT",
        config,
        "alice@pve",
        Some("extjs"),
        json!({"memory": "4096", "frobnicate": "1", "zz-extra": "x"}),
    )];
    let log = [logged(
        "alice@pve",
        "PUT",
        &format!("/api2/extjs{config}"),
        1,
        25,
    )];
    let (out, err) = convert(&events, &log, "json");
    let records = json_records(&out);
    assert_eq!(records.len(), 1, "{out}\n{err}");
    let r = &records[0];
    assert_eq!(
        r["unknown_params"],
        json!(["frobnicate", "zz-extra"]),
        "{r}"
    );
    assert_eq!(
        r["params"],
        json!({"memory": "4096", "frobnicate": "1", "zz-extra": "x"}),
        "{r}"
    );
    let why = r["not_replayable"].as_str().unwrap_or_default();
    assert!(
        why.contains("not in the PVE 9 schema") && why.contains("frobnicate"),
        "{r}"
    );

    let (out, _) = convert(&events, &log, "pvesh");
    let line = out.lines().find(|l| l.contains(config)).unwrap_or_default();
    assert!(
        line.starts_with("# not replayable, the spool body has parameters")
            && line.contains("frobnicate"),
        "{out}"
    );
    let (out, _) = convert(&events, &log, "script");
    assert!(!out.lines().any(|l| l.starts_with("pvesh")), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("# pvesh set ") && l.contains("--frobnicate 1")),
        "{out}"
    );
    assert!(
        out.contains("0 commands, 1 request left as comments"),
        "{out}"
    );

    // A body without such parameters has no mark.
    let good = [event(
        "PUT",
        config,
        "alice@pve",
        Some("extjs"),
        json!({"memory": "4096", "net0": "virtio,bridge=vmbr0"}),
    )];
    let (out, _) = convert(&good, &log, "json");
    let r = &json_records(&out)[0];
    assert!(r.get("unknown_params").is_none(), "{r}");
    assert!(r["not_replayable"].is_null(), "{r}");
}

/// A scene with a spool directory and an empty log.
struct Spool {
    scene: Scene,
    spool: PathBuf,
}

impl Spool {
    fn new(backend: Backend) -> Spool {
        let scene = Scene::new(backend);
        let spool = scene.dir.path().join("spool");
        fs::create_dir(&spool).unwrap();
        File::create(&scene.log).unwrap();
        Spool { scene, spool }
    }

    /// `pverec follow --no-tasks --node pve1 --spool S EXTRA`, registered and waiting.
    fn start(&self, backend: Backend, extra: &[&str]) -> Follower {
        let mut args = vec!["--no-tasks", "--node", "pve1", "--spool"];
        args.push(self.spool.to_str().unwrap());
        args.extend_from_slice(extra);
        let f = Follower::spawn(self.scene.dir.path(), &self.scene.log, backend, &args);
        let req = self.req(&f);
        f.wait_until("pverec to register in the spool", || req.exists());
        f.wait_ready();
        f
    }

    fn req(&self, f: &Follower) -> PathBuf {
        self.spool.join(format!("{}.req", f.pid()))
    }

    fn events(&self, f: &Follower) -> PathBuf {
        self.spool.join(format!("{}.events", f.pid()))
    }
}

/// Whether someone holds the `flock` of `path`.
fn locked(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    // SAFETY: flock(2) on a descriptor `file` owns and keeps open; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    rc == -1
}

/// Item A3: a `<pid>.req` removed, or replaced by a file of someone else (whose lock pveproxy
/// can take, so it reaps it), stops the recording silently; follow notices it, makes the
/// request file again with its filter and lock, and says so.
#[test]
fn a_replaced_request_file_is_registered_again() {
    for backend in BACKENDS {
        for replace in [false, true] {
            let node = Spool::new(backend);
            let f = node.start(backend, &["-u", "alice@pve"]);
            let req = node.req(&f);
            let filter = fs::read(&req).unwrap();
            let before = fs::metadata(&req).unwrap().ino();
            if replace {
                let planted = node.spool.join("planted");
                fs::write(&planted, br#"{"userid":"nobody@pve","all":0}"#).unwrap();
                fs::rename(&planted, &req).unwrap();
            } else {
                fs::remove_file(&req).unwrap();
            }
            // The planted file is neither locked nor has the filter.
            f.wait_until("pverec to make its request file again", || {
                fs::metadata(&req).is_ok_and(|m| m.ino() != before)
                    && locked(&req)
                    && fs::read(&req).is_ok_and(|t| t == filter)
            });
            f.wait_stderr("registered again");
            assert!(
                f.stderr().contains(&format!("{}.req", f.pid())),
                "{}",
                f.stderr()
            );

            // The recording goes on.
            let config = "/nodes/pve1/qemu/100/config";
            append(
                &node.events(&f),
                &(event(
                    "PUT",
                    config,
                    "alice@pve",
                    Some("extjs"),
                    json!({"memory": "512"}),
                ) + "\n"),
            );
            let events = node.events(&f);
            f.wait_until("pverec to open the events file", || f.has_open(&events));
            append(
                &node.scene.log,
                &(logged("alice@pve", "PUT", &format!("/api2/extjs{config}"), 1, 25) + "\n"),
            );
            f.expect_output(&[format!("pvesh set {config} --memory 512")]);
        }
    }
}

/// Item A4: what follow has read of `<pid>.events` is freed (the file lives in /run, a tmpfs),
/// without truncating it under pveproxy's appends: its blocks go, its size and the lines
/// written afterwards stay.
#[test]
fn the_events_file_is_freed_as_it_is_read() {
    for backend in BACKENDS {
        let node = Spool::new(backend);
        let f = node.start(backend, &["-f", "json"]);
        let events = node.events(&f);
        let pad = "x".repeat(900);
        let mut writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&events)
            .unwrap();
        // 4 MB in 4000 events, one write each, as pveproxy writes them.
        for i in 0..4000 {
            let line = event(
                "PUT",
                &format!("/nodes/pve1/qemu/{}/config", 1000 + i),
                "alice@pve",
                Some("extjs"),
                json!({"description": pad}),
            );
            writer.write_all(format!("{line}\n").as_bytes()).unwrap();
        }
        let size = fs::metadata(&events).unwrap().len();
        assert!(size > 3_600_000, "{size}");
        f.wait_until("pverec to free what it read of the events file", || {
            let m = fs::metadata(&events).unwrap();
            m.blocks() * 512 < 512 * 1024
        });
        assert_eq!(fs::metadata(&events).unwrap().len(), size);
        // What is appended after the freeing is read, and joins its line.
        let config = "/nodes/pve1/qemu/100/config";
        writer
            .write_all(
                (event(
                    "PUT",
                    config,
                    "alice@pve",
                    Some("extjs"),
                    json!({"memory": "2048"}),
                ) + "\n")
                    .as_bytes(),
            )
            .unwrap();
        append(
            &node.scene.log,
            &(logged("alice@pve", "PUT", &format!("/api2/extjs{config}"), 1, 25) + "\n"),
        );
        let out = f.wait_lines(1);
        let r: Value = serde_json::from_str(&out[0]).unwrap();
        assert_eq!(r["params"], json!({"memory": "2048"}), "{backend:?}: {r}");
        assert!(!f.stderr().contains("cannot free"), "{}", f.stderr());
    }
}

/// `voluntary_ctxt_switches` of `pid`: how often it went to sleep and was woken.
fn wake_ups(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a voluntary_ctxt_switches line")
}

/// Item A5: other clients' events files in the spool are written all the time on a busy node
/// (and www-data may write there as it likes): a burst of such writes does not wake follow,
/// let alone make it look at its files once per write. Its own events still do.
#[test]
fn writes_to_other_files_of_the_spool_do_not_wake_follow() {
    let backend = Backend::Inotify;
    let node = Spool::new(backend);
    let f = node.start(backend, &[]);
    let others = [node.spool.join("4242.events"), node.spool.join("planted")];
    let mut writers: Vec<File> = others
        .iter()
        .map(|p| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap()
        })
        .collect();
    f.wait_until("pverec to sleep", || f.is_sleeping());
    let before = wake_ups(f.pid());
    // Two files in turn, so that the kernel cannot merge the events; paced, so that each could
    // wake pverec on its own.
    let started = Instant::now();
    for i in 0..300u64 {
        writers[usize::from(i % 2 == 1)].write_all(b"{}\n").unwrap();
        let next = started + Duration::from_micros(1000 * (i + 1));
        while Instant::now() < next {
            std::hint::spin_loop();
        }
    }
    f.wait_until("pverec to sleep", || f.is_sleeping());
    let woken = wake_ups(f.pid()) - before;
    assert!(
        woken < 20,
        "pverec woke {woken} times for 300 writes to other files"
    );

    // Its own events file still wakes it.
    let config = "/nodes/pve1/qemu/100/config";
    append(
        &node.events(&f),
        &(event(
            "PUT",
            config,
            "alice@pve",
            Some("extjs"),
            json!({"memory": "1024"}),
        ) + "\n"),
    );
    let events = node.events(&f);
    f.wait_until("pverec to open the events file", || f.has_open(&events));
    append(
        &node.scene.log,
        &(logged("alice@pve", "PUT", &format!("/api2/extjs{config}"), 1, 25) + "\n"),
    );
    f.expect_output(&[format!("pvesh set {config} --memory 1024")]);
}

/// Item B: the spool events held waiting for their log line are capped (10,000 events, 8 MiB of
/// lines): the ones beyond are dropped, said once when the first is dropped and once with their
/// count and lines, and their requests are shown as if no body was recorded. The first ones
/// still join their lines.
#[test]
fn held_spool_events_are_capped() {
    let small = |i: usize| {
        event(
            "PUT",
            &format!("/nodes/pve1/qemu/{}/config", 100 + i),
            "alice@pve",
            Some("extjs"),
            json!({"memory": "512"}),
        )
    };
    let put = |i: usize, s: u32| {
        logged(
            "alice@pve",
            "PUT",
            &format!("/api2/extjs/nodes/pve1/qemu/{}/config", 100 + i),
            s,
            25,
        )
    };
    // By count: 10,050 events, lines for the first and the last.
    let events: Vec<String> = (0..10_050).map(small).collect();
    let log = [put(0, 1), put(10_049, 2)];
    let (out, err) = convert(&events, &log, "json");
    let records = json_records(&out);
    let requests: Vec<&Value> = records
        .iter()
        .filter(|r| r["source"]["file"] == "access.log")
        .collect();
    assert_eq!(requests.len(), 2, "{err}");
    assert_eq!(requests[0]["params_source"], "spool");
    assert_eq!(requests[1]["params_source"], "none", "{}", requests[1]);
    assert!(
        err.contains("events:10001: spool event PUT /nodes/pve1/qemu/10100/config not kept"),
        "{err}"
    );
    assert!(
        err.contains("events: 50 spool events dropped for want of room (lines 10001"),
        "{err}"
    );
    assert_eq!(err.matches("not kept").count(), 1, "{err}");

    // By bytes: ten events of 1 MiB.
    let big = "y".repeat(1 << 20);
    let events: Vec<String> = (0..10)
        .map(|i| {
            event(
                "PUT",
                &format!("/nodes/pve1/qemu/{}/config", 100 + i),
                "alice@pve",
                Some("extjs"),
                json!({"description": big}),
            )
        })
        .collect();
    let (_, err) = convert(&events, &[put(0, 1)], "json");
    assert!(err.contains("events:8: spool event PUT"), "{err}");
    assert!(
        err.contains("3 spool events dropped for want of room (lines 8"),
        "{err}"
    );
}
