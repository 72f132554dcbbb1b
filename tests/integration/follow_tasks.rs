//! `pverec follow` joined with the PVE task directory and the request recorder's spool
//! (pve-formats.md §2 and §5): a request's task and its end, request bodies from the spool, the
//! registration in the spool, and `--outcome` holding back requests whose task still runs. Each
//! scenario runs with inotify and with --poll.
//!
//! Log lines carry the current time (follow joins tasks relative to now), and every UPID starts
//! in the second of its request's log line.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::follower::{BACKENDS, Backend, Follower, Scene, append};

/// The node everything runs on (`--node`, the path's `{node}`, the UPIDs' node).
const NODE: &str = "pve1";

/// `path` as a `&str` argument.
fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Now, in Unix seconds.
fn now() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// The access.log time of Unix second `t`, in UTC: `24/06/2026:12:00:05 +0000`.
fn log_time(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{day:02}/{month:02}/{year}:{:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[test]
fn log_time_is_the_access_log_form() {
    // The qmstart of tests/data/tasks: UPID start 6A3BC6C5, logged at 14:00:05 +0200.
    assert_eq!(log_time(0x6A3B_C6C5), "24/06/2026:12:00:05 +0000");
    assert_eq!(log_time(0), "01/01/1970:00:00:00 +0000");
    assert_eq!(log_time(951_782_400), "29/02/2000:00:00:00 +0000");
}

/// An access.log line (with its newline) of `user` calling `METHOD /api2/extjs<path>` at `t`,
/// answered with 200 and `length` bytes (25: `{"data":null,"success":1}`).
fn logged(t: i64, user: &str, method: &str, path: &str, length: usize) -> String {
    format!(
        "::ffff:192.168.1.5 - {user} [{}] \"{method} /api2/extjs{path} HTTP/1.1\" 200 {length}\n",
        log_time(t)
    )
}

/// alice's `POST …/qemu/<vmid>/status/start` at `t`.
/// The pvesh format's "who and when" line before alice's first request at `t` (TZ=UTC).
fn who(t: i64) -> String {
    let time = jiff::Timestamp::from_second(t).unwrap();
    format!(
        "# {} alice@pve from 192.168.1.5",
        time.strftime("%Y-%m-%d %H:%M:%S+00:00")
    )
}

fn vm_start(t: i64, vmid: u32) -> String {
    logged(
        t,
        "alice@pve",
        "POST",
        &format!("/nodes/{NODE}/qemu/{vmid}/status/start"),
        // The extjs answer of a started task: `{"data":"<UPID>","success":1}`.
        qmstart(0, t, vmid).len() + 23,
    )
}

/// alice's `PUT /nodes/pve1/qemu/100/config` at `t` (synchronous: no task).
fn vm_config(t: i64) -> String {
    logged(
        t,
        "alice@pve",
        "PUT",
        &format!("/nodes/{NODE}/qemu/100/config"),
        25,
    )
}

/// A UPID on [`NODE`]: `UPID:pve1:<pid>:01A2B3C4:<start>:<kind>:<id>:<user>:`.
fn upid(pid: u32, start: i64, kind: &str, id: &str, user: &str) -> String {
    format!("UPID:{NODE}:{pid:08X}:01A2B3C4:{start:08X}:{kind}:{id}:{user}:")
}

/// alice's `qmstart` of `vmid`, started at `t` by worker `pid`.
fn qmstart(pid: u32, t: i64, vmid: u32) -> String {
    upid(pid, t, "qmstart", &vmid.to_string(), "alice@pve")
}

/// The `active` line of a running task.
fn running(upid: &str) -> String {
    format!("{upid} 0")
}

/// The `active` line of a finished task (already saved to `index`).
fn ended(upid: &str, end: i64, status: &str) -> String {
    format!("{upid} 1 {end:08X} {status}")
}

/// A spool event line as pveproxy writes it, for alice through the GUI.
fn event(method: &str, path: &str, params: &Value) -> String {
    json!({
        "method": method,
        "path": path,
        "params": params,
        "userid": "alice@pve",
        "format": "extjs",
        "client_ip": "::ffff:192.168.1.5",
        "proxied": 0,
    })
    .to_string()
}

/// Standard output so far, one JSON value per line.
fn records(f: &Follower) -> Vec<Value> {
    f.output()
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// A scene with a task directory (empty `index` and `active`, as on a node where no task ran
/// yet), a spool directory and an empty access.log.
struct Node {
    scene: Scene,
    tasks: PathBuf,
    spool: PathBuf,
}

impl Node {
    fn new(backend: Backend) -> Node {
        let scene = Scene::new(backend);
        let tasks = scene.dir.path().join("tasks");
        let spool = scene.dir.path().join("spool");
        fs::create_dir(&tasks).unwrap();
        fs::create_dir(&spool).unwrap();
        File::create(tasks.join("index")).unwrap();
        File::create(tasks.join("active")).unwrap();
        File::create(&scene.log).unwrap();
        Node {
            scene,
            tasks,
            spool,
        }
    }

    fn log(&self) -> &Path {
        &self.scene.log
    }

    /// `pverec follow --tasks T --spool S --node pve1 EXTRA` (with the harness's
    /// `--no-comments`), registered in the spool and waiting.
    fn start(&self, backend: Backend, extra: &[&str]) -> Follower {
        self.launch(backend, &self.args(true, extra), false)
    }

    /// Like [`Node::start`], with the `# …` notes and comment lines.
    fn start_commented(&self, backend: Backend, extra: &[&str]) -> Follower {
        self.launch(backend, &self.args(true, extra), true)
    }

    /// `--tasks T [--spool S] --node pve1 EXTRA`.
    fn args<'a>(&'a self, spool: bool, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["--tasks", s(&self.tasks)];
        if spool {
            args.extend(["--spool", s(&self.spool)]);
        }
        args.extend(["--node", NODE]);
        args.extend_from_slice(extra);
        args
    }

    /// Starts pverec with `args`; when they name the spool, waits until it is registered
    /// there; then until it waits for changes.
    fn launch(&self, backend: Backend, args: &[&str], comments: bool) -> Follower {
        let dir = self.scene.dir.path();
        let f = if comments {
            Follower::spawn_with(dir, self.log(), backend, args, keep_comments(dir))
        } else {
            Follower::spawn(dir, self.log(), backend, args)
        };
        if args.contains(&"--spool") {
            let req = self.req(&f);
            f.wait_until("pverec to register in the spool", || req.exists());
        }
        f.wait_ready();
        f
    }

    /// `<spool>/<pid>.req` of this follower.
    fn req(&self, f: &Follower) -> PathBuf {
        self.spool.join(format!("{}.req", f.pid()))
    }

    /// `<spool>/<pid>.events` of this follower.
    fn events(&self, f: &Follower) -> PathBuf {
        self.spool.join(format!("{}.events", f.pid()))
    }

    /// pveproxy's first write to the follower's events file: creates it with `lines` (one
    /// write), then waits until pverec has it open, which it does in the same look that reads
    /// it; log lines appended from now on are read after these events.
    fn first_events(&self, f: &Follower, lines: &[String]) {
        let path = self.events(f);
        assert!(!path.exists(), "{} exists already", path.display());
        append(
            &path,
            &lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        );
        f.wait_until("pverec to open the events file", || f.has_open(&path));
    }

    /// Replaces `active` as PVE does: written as `active.tmp.<pid>`, then renamed.
    fn set_active(&self, lines: &[String]) {
        let tmp = self
            .tasks
            .join(format!("active.tmp.{}", std::process::id()));
        fs::write(
            &tmp,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
        fs::rename(&tmp, self.tasks.join("active")).unwrap();
    }

    /// Appends a finished task to `index` (`<UPID> <END> <status>`).
    fn archive(&self, upid: &str, end: i64, status: &str) {
        append(
            &self.tasks.join("index"),
            &format!("{upid} {end:08X} {status}\n"),
        );
    }

    /// A task ends as PVE records it: its line appended to `index`, then `active` rewritten to
    /// `rest` plus the task as finished.
    fn finish(&self, upid: &str, end: i64, status: &str, rest: &[String]) {
        self.archive(upid, end, status);
        let mut active = rest.to_vec();
        active.push(ended(upid, end, status));
        self.set_active(&active);
    }
}

/// A `spawn_with` setup that takes the harness's `--no-comments` off again (pverec has no flag
/// to undo it): the command is rebuilt without it, with the same program, environment and the
/// output files the harness made in `dir`. Call it right before `spawn_with`: the harness names
/// those files after the number of entries in `dir` at that moment.
fn keep_comments(dir: &Path) -> impl FnOnce(&mut Command) {
    let n = fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    let out = dir.join(format!("follow-{n}.out"));
    let err = dir.join(format!("follow-{n}.err"));
    move |cmd| {
        let open = |path: &Path| {
            OpenOptions::new()
                .write(true)
                .open(path)
                .unwrap_or_else(|e| panic!("the harness made {}: {e}", path.display()))
        };
        let mut plain = Command::new(cmd.get_program());
        plain.args(cmd.get_args().filter(|a| *a != "--no-comments"));
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => plain.env(key, value),
                None => plain.env_remove(key),
            };
        }
        plain
            .stdin(Stdio::null())
            .stdout(open(&out))
            .stderr(open(&err));
        *cmd = plain;
    }
}

/// A request whose task runs is shown at once as pending, with the task; when the task ends, a
/// `task_end` record follows with the same UPID, its outcome and the request's source.
#[test]
fn task_end_follows_a_pending_request() {
    for backend in BACKENDS {
        let node = Node::new(backend);
        let f = node.start(backend, &["-f", "json"]);
        let t = now();
        let ok = qmstart(0x1000, t, 100);
        let bad = qmstart(0x1001, t, 101);
        node.set_active(&[running(&ok), running(&bad)]);
        append(node.log(), &(vm_start(t, 100) + &vm_start(t, 101)));
        f.wait_lines(2);
        let out = records(&f);
        for (record, upid) in out.iter().zip([&ok, &bad]) {
            assert_eq!(record["outcome"], "pending", "{backend:?}: {record}");
            assert_eq!(
                record["task"]["upid"],
                upid.as_str(),
                "{backend:?}: {record}"
            );
            assert_eq!(record["task"]["type"], "qmstart", "{backend:?}: {record}");
            assert_eq!(
                record["task"]["status"],
                Value::Null,
                "{backend:?}: {record}"
            );
            assert_eq!(record["task"]["end"], Value::Null, "{backend:?}: {record}");
        }

        node.finish(&ok, t + 1, "OK", &[running(&bad)]);
        f.wait_lines(3);
        let end = &records(&f)[2];
        assert_eq!(end["event"], "task_end", "{backend:?}: {end}");
        assert_eq!(end["upid"], ok.as_str(), "{backend:?}: {end}");
        assert_eq!(end["outcome"], "success", "{backend:?}: {end}");
        assert_eq!(end["task"]["upid"], ok.as_str(), "{backend:?}: {end}");
        assert_eq!(end["task"]["status"], "OK", "{backend:?}: {end}");
        assert_eq!(end["request"]["file"], s(node.log()), "{backend:?}: {end}");
        assert_eq!(end["request"]["line"], 1, "{backend:?}: {end}");

        node.finish(&bad, t + 2, "VM 101 failed - x", &[ended(&ok, t + 1, "OK")]);
        f.wait_lines(4);
        let end = &records(&f)[3];
        assert_eq!(end["event"], "task_end", "{backend:?}: {end}");
        assert_eq!(end["upid"], bad.as_str(), "{backend:?}: {end}");
        assert_eq!(end["outcome"], "failure", "{backend:?}: {end}");
        assert_eq!(
            end["task"]["status"], "VM 101 failed - x",
            "{backend:?}: {end}"
        );
        assert_eq!(end["request"]["line"], 2, "{backend:?}: {end}");

        // A request without a task comes next, and nothing else (no second task_end).
        append(node.log(), &vm_config(t));
        f.wait_lines(5);
        let out = records(&f);
        assert_eq!(out.len(), 5, "{backend:?}: {out:?}");
        assert_eq!(out[4]["method"], "PUT", "{backend:?}: {}", out[4]);
        assert_eq!(out[4]["task"], Value::Null, "{backend:?}: {}", out[4]);
    }
}

/// pvesh: the pending request carries `# running: <UPID>`; its task's end is the note line
/// `# task <UPID>: <status>`.
#[test]
fn pvesh_note_when_the_task_ends() {
    for backend in BACKENDS {
        let node = Node::new(backend);
        let f = node.start_commented(backend, &[]);
        let t = now();
        let task = qmstart(0x2000, t, 100);
        node.set_active(&[running(&task)]);
        append(node.log(), &vm_start(t, 100));
        let pending = format!(
            "pvesh create /nodes/{NODE}/qemu/100/status/start  # body not recorded; running: {task}"
        );
        f.expect_output(&[who(t), pending.clone()]);

        node.finish(&task, t + 1, "VM 100 failed - x", &[]);
        // The UPID's own final `:` separates it from the status.
        let end = format!("# task {task} VM 100 failed - x");
        f.expect_output(&[who(t), pending.clone(), end.clone()]);

        append(node.log(), &vm_config(t));
        let config = format!("pvesh set /nodes/{NODE}/qemu/100/config  # body not recorded");
        f.expect_output(&[who(t), pending, end, config]);
    }
}

/// The spool events written before the log lines give the requests their parameters: pvesh
/// options in sorted key order, secrets redacted.
#[test]
fn spool_body_becomes_options() {
    for backend in BACKENDS {
        for json in [false, true] {
            let node = Node::new(backend);
            let format: &[&str] = if json { &["-f", "json"] } else { &[] };
            let f = node.start(backend, format);
            let config = format!("/nodes/{NODE}/qemu/100/config");
            let t = now();
            node.first_events(
                &f,
                &[
                    event("PUT", &config, &json!({"memory": "4096", "delete": "ide2"})),
                    event(
                        "POST",
                        "/access/users",
                        &json!({"userid": "carol@pve", "password": "s3cret-pw"}),
                    ),
                ],
            );
            append(
                node.log(),
                &(vm_config(t) + &logged(t, "alice@pve", "POST", "/access/users", 25)),
            );
            let set = format!("pvesh set {config} --delete ide2 --memory 4096");
            let create = "pvesh create /access/users --password \"${PVE_SECRET_PASSWORD:?redacted}\" \
                 --userid carol@pve";
            if json {
                f.wait_lines(2);
                let out = records(&f);
                assert_eq!(out.len(), 2, "{backend:?}: {out:?}");
                let (put, post) = (&out[0], &out[1]);
                assert_eq!(put["params_source"], "spool", "{backend:?}: {put}");
                assert_eq!(
                    put["params"],
                    json!({"memory": "4096", "delete": "ide2"}),
                    "{backend:?}: {put}"
                );
                assert_eq!(
                    put["argv"],
                    json!([
                        "pvesh", "set", config, "--delete", "ide2", "--memory", "4096"
                    ]),
                    "{backend:?}: {put}"
                );
                assert_eq!(put["pvesh"], set.as_str(), "{backend:?}: {put}");
                assert_eq!(post["params_source"], "spool", "{backend:?}: {post}");
                assert_eq!(
                    post["params"],
                    json!({"userid": "carol@pve", "password": "<redacted>"}),
                    "{backend:?}: {post}"
                );
                assert_eq!(post["redacted"], json!(["password"]), "{backend:?}: {post}");
                assert_eq!(
                    post["argv"],
                    json!([
                        "pvesh",
                        "create",
                        "/access/users",
                        "--password",
                        "<redacted>",
                        "--userid",
                        "carol@pve"
                    ]),
                    "{backend:?}: {post}"
                );
                assert_eq!(post["pvesh"], create, "{backend:?}: {post}");
            } else {
                f.expect_output(&[set, create.to_string()]);
            }
            let everything = format!("{}{}", f.output().join("\n"), f.stderr());
            assert!(!everything.contains("s3cret"), "{backend:?}: {everything}");
        }
    }
}

/// While pverec runs, `<pid>.req` holds the filter (mode 0640) under an exclusive lock; both
/// `<pid>.req` and `<pid>.events` are gone after SIGTERM and after SIGINT. `--no-spool` creates
/// nothing.
#[test]
fn registers_and_cleans_up_in_the_spool() {
    let cases: [(&[&str], Value, i32, i32); 3] = [
        (
            &["-u", "alice@pve"],
            json!({"all": 0, "userid": "alice@pve"}),
            libc::SIGTERM,
            0,
        ),
        (
            &["--all", "-u", "alice@pve", "-u", "bob@pve"],
            json!({"all": 1, "userid": null}),
            libc::SIGINT,
            130,
        ),
        (
            &["--class", "write,read"],
            json!({"all": 1, "userid": null}),
            libc::SIGTERM,
            0,
        ),
    ];
    for backend in BACKENDS {
        for (extra, filter, signal, code) in &cases {
            let node = Node::new(backend);
            let mut f = node.start(backend, extra);
            let (req, events) = (node.req(&f), node.events(&f));
            let meta = fs::symlink_metadata(&req).unwrap();
            assert!(meta.file_type().is_file(), "{backend:?} {extra:?}");
            assert_eq!(
                meta.permissions().mode() & 0o7777,
                0o640,
                "{backend:?} {extra:?}"
            );
            let text = fs::read(&req).unwrap();
            let got: Value = serde_json::from_slice(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&text)));
            assert_eq!(&got, filter, "{backend:?} {extra:?}");

            // pveproxy's liveness test: the lock is taken.
            let file = File::open(&req).unwrap();
            // SAFETY: flock(2) on a descriptor that `file` owns and keeps open; no memory passed.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            let e = std::io::Error::last_os_error();
            assert_eq!(rc, -1, "{backend:?} {extra:?}: the lock was free");
            assert_eq!(
                e.raw_os_error(),
                Some(libc::EWOULDBLOCK),
                "{backend:?} {extra:?}"
            );
            drop(file);

            node.first_events(
                &f,
                &[event("PUT", "/nodes/pve1/qemu/100/config", &json!({}))],
            );
            let status = f.stop_with(*signal);
            assert_eq!(
                status.code(),
                Some(*code),
                "{backend:?} {extra:?}: {status:?}\n{}",
                f.stderr()
            );
            assert!(
                !req.exists() && !events.exists(),
                "{backend:?} {extra:?}: left {:?}",
                fs::read_dir(&node.spool)
                    .unwrap()
                    .flatten()
                    .collect::<Vec<_>>()
            );
        }

        let node = Node::new(backend);
        let mut f = node.launch(backend, &node.args(false, &["--no-spool"]), false);
        append(node.log(), &vm_config(now()));
        f.wait_lines(1);
        assert_eq!(fs::read_dir(&node.spool).unwrap().count(), 0, "{backend:?}");
        f.stop();
        assert_eq!(fs::read_dir(&node.spool).unwrap().count(), 0, "{backend:?}");
    }
}

/// `--outcome success`: a request whose task still runs is held back and shown when its task
/// ends well; one whose task fails is never shown.
#[test]
fn outcome_success_holds_pending_requests() {
    for backend in BACKENDS {
        let node = Node::new(backend);
        let f = node.start(backend, &["-f", "json", "--outcome", "success"]);
        let t = now();
        let (good, bad, done) = (
            qmstart(0x3000, t, 100),
            qmstart(0x3001, t, 101),
            qmstart(0x3002, t, 102),
        );
        node.archive(&done, t, "OK");
        node.set_active(&[running(&good), running(&bad), ended(&done, t, "OK")]);
        // 102's task has ended well: it is shown at once, so 100 and 101 before it were read.
        append(
            node.log(),
            &(vm_start(t, 100) + &vm_start(t, 101) + &vm_start(t, 102)),
        );
        f.wait_lines(1);
        let out = records(&f);
        assert_eq!(out.len(), 1, "{backend:?}: {out:?}");
        assert_eq!(
            out[0]["task"]["upid"],
            done.as_str(),
            "{backend:?}: {}",
            out[0]
        );
        assert_eq!(out[0]["outcome"], "success", "{backend:?}: {}", out[0]);

        let done_line = ended(&done, t, "OK");
        node.finish(
            &bad,
            t + 1,
            "VM 101 failed - x",
            &[running(&good), done_line.clone()],
        );
        let bad_line = ended(&bad, t + 1, "VM 101 failed - x");
        node.finish(&good, t + 2, "OK", &[bad_line.clone(), done_line.clone()]);
        f.wait_lines(2);
        let out = records(&f);
        assert_eq!(out.len(), 2, "{backend:?}: {out:?}");
        let held = &out[1];
        assert_eq!(
            held["path"], "/nodes/pve1/qemu/100/status/start",
            "{backend:?}: {held}"
        );
        assert_eq!(held["outcome"], "success", "{backend:?}: {held}");
        assert_eq!(held["task"]["upid"], good.as_str(), "{backend:?}: {held}");
        assert_eq!(held["task"]["status"], "OK", "{backend:?}: {held}");
        assert_eq!(held["source"]["line"], 1, "{backend:?}: {held}");

        // One more request with a task that ended well: it comes next, and 101's never came.
        let last = qmstart(0x3003, t, 103);
        node.finish(
            &last,
            t + 3,
            "OK",
            &[bad_line, done_line, ended(&good, t + 2, "OK")],
        );
        append(node.log(), &vm_start(t, 103));
        f.wait_lines(3);
        let out = records(&f);
        let upids: Vec<&str> = out
            .iter()
            .filter_map(|r| r["task"]["upid"].as_str())
            .collect();
        assert_eq!(upids, [&done, &good, &last], "{backend:?}: {out:?}");
        assert!(
            out.iter()
                .all(|r| r["event"] == "request" && r["outcome"] == "success"),
            "{backend:?}: {out:?}"
        );
    }
}

/// A symlink planted as `<pid>.events` is refused (with a warning), not read: the request comes
/// out without a body, and the file it points to is left as it was.
#[test]
fn a_symlink_planted_as_events_is_not_followed() {
    for backend in BACKENDS {
        let node = Node::new(backend);
        let mut f = node.start_commented(backend, &[]);
        let outside = node.scene.dir.path().join("outside.events");
        let body = event(
            "PUT",
            &format!("/nodes/{NODE}/qemu/100/config"),
            &json!({"memory": "4096"}),
        ) + "\n";
        fs::write(&outside, &body).unwrap();
        let events = node.events(&f);
        std::os::unix::fs::symlink(&outside, &events).unwrap();
        f.wait_stderr(&format!("{}: a symbolic link", events.display()));

        let t = now();
        append(node.log(), &vm_config(t));
        f.expect_output(&[
            who(t),
            format!("pvesh set /nodes/{NODE}/qemu/100/config  # body not recorded"),
        ]);
        f.stop();
        assert_eq!(fs::read_to_string(&outside).unwrap(), body, "{backend:?}");
        assert!(fs::symlink_metadata(&events).is_err(), "{backend:?}");
    }
}

/// PVE renames `index` to `index.1` right after the append that takes it past 50,000 bytes, and
/// the next append creates a new `index`: a task whose end line went into the renamed file, and
/// one whose end line opens the new file, both end for pverec. `active` says nothing here (the
/// tasks drop out of it), so only the index can tell.
#[test]
fn task_ends_survive_the_index_rename() {
    for backend in BACKENDS {
        let node = Node::new(backend);
        // A full generation already there, read at start.
        let filler: String = (0..700)
            .map(|i| {
                let u = upid(0x100 + i, now() - 7200, "qmstart", "900", "root@pam");
                format!("{u} {:08X} OK\n", now() - 7000)
            })
            .collect();
        append(&node.tasks.join("index"), &filler);
        let f = node.start(backend, &["-f", "json"]);
        let t = now();
        let first = qmstart(0x2000, t, 100);
        let second = qmstart(0x2001, t, 101);
        node.set_active(&[running(&first), running(&second)]);
        append(node.log(), &(vm_start(t, 100) + &vm_start(t, 101)));
        f.wait_lines(2);

        node.archive(&first, t + 1, "OK");
        fs::rename(node.tasks.join("index"), node.tasks.join("index.1")).unwrap();
        node.set_active(&[running(&second)]);
        node.archive(&second, t + 2, "VM 101 failed - x");
        node.set_active(&[]);
        f.wait_lines(4);
        let out = records(&f);
        let ends: Vec<(&str, &str)> = out[2..]
            .iter()
            .map(|r| (r["upid"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
            .collect();
        assert!(
            ends.contains(&(first.as_str(), "success")),
            "{backend:?}: {out:?}"
        );
        assert!(
            ends.contains(&(second.as_str(), "failure")),
            "{backend:?}: {out:?}"
        );
        assert!(
            out[2..].iter().all(|r| r["event"] == "task_end"),
            "{backend:?}: {out:?}"
        );
    }
}

/// `-f ocsf`: the pending request and its task's end are OCSF API Activity events that the
/// validator takes; the end is Other ("Task End"), with the request's UPID to correlate them.
#[test]
fn a_task_end_is_an_ocsf_event() {
    let defs = crate::ocsf::defs();
    let backend = BACKENDS[0];
    let node = Node::new(backend);
    let f = node.start(backend, &["-f", "ocsf"]);
    let t = now();
    let bad = qmstart(0x1001, t, 101);
    node.set_active(&[running(&bad)]);
    append(node.log(), &vm_start(t, 101));
    f.wait_lines(1);
    node.finish(&bad, t + 2, "VM 101 failed - x", &[]);
    f.wait_lines(2);
    let out = records(&f);
    for doc in &out {
        crate::ocsf::check_ocsf(doc, &defs);
        assert_eq!(doc["metadata"]["correlation_uid"], bad.as_str(), "{doc}");
    }
    let (start, end) = (&out[0], &out[1]);
    assert_eq!(start["type_uid"], 600301, "{start}");
    assert_eq!(start["status_id"], 0, "pending: {start}");
    assert_eq!(end["unmapped"]["proxmox"]["event"], "task_end", "{end}");
    assert_eq!(end["type_uid"], 600399, "{end}");
    assert_eq!(end["activity_name"], "Task End", "{end}");
    assert_eq!(end["api"]["operation"], "qmstart", "{end}");
    assert_eq!(end["status_id"], 2, "{end}");
    assert_eq!(end["status_detail"], "VM 101 failed - x", "{end}");
    assert_eq!(end["duration"], 2000, "{end}");
    assert_eq!(end["actor"]["user"]["name"], "alice@pve", "{end}");
}
