//! Day one on a node (issue 10, items 2, 3, 4 and 14): which log is the node's own, piped input,
//! `--since` across rotated generations, and messages that say what to do.
//!
//! The node's default paths are resolved under `PVEREC_SYSROOT` (a test seam), so a temp
//! directory stands in for `/` with its own `/var/log/pveproxy`, `/var/log/pve/tasks`,
//! `/run/pve-api-record` and host name; the real `/var/log` is never touched.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::follower::{self, Backend, Follower};
use crate::util::{bin, data, gzip};

const NO_TASKS_NOTE: &str = "no task index is read, so the outcomes of task-starting calls";

/// A temp directory laid out like a node's `/`: the task fixture's log as
/// `/var/log/pveproxy/access.log`, its task index in `/var/log/pve/tasks`, host name `pve1`.
struct Node {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let node = Node { dir, root };
        fs::create_dir_all(node.log_dir()).unwrap();
        fs::create_dir_all(node.tasks()).unwrap();
        fs::create_dir_all(node.root.join("proc/sys/kernel")).unwrap();
        fs::write(
            node.root.join("proc/sys/kernel/hostname"),
            "pve1.example.com\n",
        )
        .unwrap();
        fs::copy(data("tasks/access.log"), node.log()).unwrap();
        for f in ["index", "index.1", "active"] {
            fs::copy(data(&format!("tasks/{f}")), node.tasks().join(f)).unwrap();
        }
        node
    }

    /// A root with nothing in it: not a PVE node.
    fn bare() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(&root).unwrap();
        Node { dir, root }
    }

    fn log_dir(&self) -> PathBuf {
        self.root.join("var/log/pveproxy")
    }

    fn log(&self) -> PathBuf {
        self.log_dir().join("access.log")
    }

    fn tasks(&self) -> PathBuf {
        self.root.join("var/log/pve/tasks")
    }

    fn spool(&self) -> PathBuf {
        self.root.join("run/pve-api-record")
    }

    /// `pverec ARGS` on this node, standard input /dev/null (as from cron or a terminal-less
    /// shell: not a pipe).
    fn pverec(&self, args: &[&str]) -> Command {
        let mut cmd = plain();
        cmd.env("PVEREC_SYSROOT", &self.root).args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.pverec(args).output().unwrap()
    }
}

/// `pverec` with the harness's environment and standard input /dev/null. (assert_cmd always
/// gives a pipe, which `convert` without FILE now reads.)
fn plain() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env_remove("PVEREC_SYSROOT")
        .stdin(Stdio::null());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_records(out: &Output) -> Vec<serde_json::Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn count_outcome(records: &[serde_json::Value], outcome: &str) -> usize {
    records.iter().filter(|r| r["outcome"] == outcome).count()
}

fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

// Item 2: naming the default log keeps the node's sources.

#[test]
fn the_nodes_log_named_is_read_as_the_default_log() {
    let node = Node::new();
    let default = node.run(&["convert", "--rotated", "-f", "json"]);
    assert!(default.status.success(), "{}", text(&default.stderr));
    let default_records = json_records(&default);
    let failures = count_outcome(&default_records, "failure");
    assert!(failures >= 4, "the task index gives failures: {failures}");
    assert!(default_records.iter().all(|r| r["node"] == "pve1"));
    assert!(!text(&default.stderr).contains(NO_TASKS_NOTE));

    // The exact reproduction: the same file by its name, by `./`, through a symlinked
    // directory, and by a `..` detour.
    let link = node.dir.path().join("logs");
    std::os::unix::fs::symlink(node.log_dir(), &link).unwrap();
    let spellings: Vec<(PathBuf, PathBuf)> = vec![
        (node.dir.path().to_path_buf(), node.log()),
        (node.log_dir(), PathBuf::from("./access.log")),
        (node.log_dir(), PathBuf::from("access.log")),
        (node.dir.path().to_path_buf(), link.join("access.log")),
        (
            node.dir.path().to_path_buf(),
            node.root.join("var/log/pve/../pveproxy/access.log"),
        ),
    ];
    for (cwd, file) in spellings {
        let out = node
            .pverec(&["convert", "--rotated", "-f", "json"])
            .arg(&file)
            .current_dir(&cwd)
            .output()
            .unwrap();
        assert!(out.status.success(), "{file:?}: {}", text(&out.stderr));
        let records = json_records(&out);
        assert_eq!(
            count_outcome(&records, "failure"),
            failures,
            "{file:?} finds the failures the default log finds"
        );
        assert!(
            records.iter().all(|r| r["node"] == "pve1"),
            "{file:?}: node is this host's name"
        );
        assert!(!text(&out.stderr).contains(NO_TASKS_NOTE), "{file:?}");
    }
}

#[test]
fn a_copy_elsewhere_is_not_the_nodes_log_and_says_once_that_outcomes_stay_unknown() {
    let node = Node::new();
    let copy = node.dir.path().join("access.log");
    fs::copy(node.log(), &copy).unwrap();
    let out = node
        .pverec(&["convert", "-f", "json"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success());
    let records = json_records(&out);
    assert_eq!(count_outcome(&records, "failure"), 0);
    assert!(records.iter().all(|r| r["node"].is_null()));
    let err = text(&out.stderr);
    assert_eq!(occurrences(&err, NO_TASKS_NOTE), 1, "{err}");
    assert!(err.contains("--tasks DIR"), "{err}");

    // The same note with --no-tasks on the node's own log, and when the node has no index.
    let out = node.run(&["convert", "--no-tasks"]);
    assert_eq!(occurrences(&text(&out.stderr), NO_TASKS_NOTE), 1);
    fs::remove_dir_all(node.tasks()).unwrap();
    let out = node.run(&["convert"]);
    assert_eq!(occurrences(&text(&out.stderr), NO_TASKS_NOTE), 1);

    // A log of reads only has nothing whose outcome a task would give: no note.
    let reads = node.dir.path().join("reads.log");
    fs::write(
        &reads,
        "::1 - root@pam [24/06/2026:14:00:00 +0200] \"GET /api2/json/version HTTP/1.1\" 200 5\n",
    )
    .unwrap();
    let out = node
        .pverec(&["convert", "--all"])
        .arg(&reads)
        .output()
        .unwrap();
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn follow_of_the_nodes_log_by_name_uses_the_nodes_tasks_spool_and_name() {
    for (nodes_own, backend) in [(true, Backend::Inotify), (false, Backend::Poll)] {
        let node = Node::new();
        fs::create_dir_all(node.spool()).unwrap();
        let log = if nodes_own {
            node.log()
        } else {
            let other = node.dir.path().join("other");
            fs::create_dir(&other).unwrap();
            other.join("access.log")
        };
        fs::write(&log, "").unwrap();
        let f = Follower::spawn_with(node.dir.path(), &log, backend, &["-f", "json"], |cmd| {
            cmd.env("PVEREC_SYSROOT", &node.root);
        });
        f.wait_ready();
        let registered = node.spool().join(format!("{}.req", f.pid()));
        assert_eq!(registered.exists(), nodes_own, "registered with the spool");
        follower::append(&log, &(follower::line(1) + &follower::line(2)));
        let out = f.wait_lines(2);
        for l in &out {
            let record: serde_json::Value = serde_json::from_str(l).unwrap();
            let want = if nodes_own { "pve1" } else { "" };
            assert_eq!(record["node"].as_str().unwrap_or(""), want, "{l}");
        }
        if nodes_own {
            assert!(!f.stderr().contains(NO_TASKS_NOTE), "{}", f.stderr());
        } else {
            f.wait_stderr(NO_TASKS_NOTE);
            assert_eq!(occurrences(&f.stderr(), NO_TASKS_NOTE), 1);
        }
    }
}

// Item 3: piped input.

#[test]
fn a_pipe_or_a_file_on_stdin_is_read_instead_of_the_default_log() {
    let node = Node::new();
    let write = "::1 - root@pam [24/06/2026:14:00:00 +0200] \
                 \"PUT /api2/json/nodes/pve9/qemu/999/config HTTP/1.1\" 200 5\n";
    // `zcat access.log.2.gz | pverec convert`: a pipe (here of gzip itself, also recognised).
    let mut child = Command::new(bin())
        .env("PVEREC_SYSROOT", &node.root)
        .args(["convert", "-f", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = gzip(write.as_bytes());
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let records = json_records(&out);
    assert_eq!(records.len(), 1, "only the piped line: {records:?}");
    assert_eq!(records[0]["path"], "/nodes/pve9/qemu/999/config");
    assert_eq!(records[0]["source"]["file"], "-");
    assert!(records[0]["node"].is_null(), "a pipe is not the node's log");

    // `pverec convert < file`.
    let file = node.dir.path().join("saved.log");
    fs::write(&file, write).unwrap();
    let out = Command::new(bin())
        .env("PVEREC_SYSROOT", &node.root)
        .args(["convert", "--no-comments"])
        .stdin(fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "pvesh set /nodes/pve9/qemu/999/config\n");

    // An empty pipe (what cron attaches) is read too, but pverec says how to read the log.
    let out = Command::new(bin())
        .env("PVEREC_SYSROOT", &node.root)
        .arg("convert")
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "pverec: standard input was empty: without FILE, pverec reads standard input when it \
             is a pipe, as under cron and in CI too; name the log to read, e.g. {}\n",
            node.log().display()
        )
    );

    // An empty file on stdin is an empty log, not the default one, and nothing to say.
    let empty = node.dir.path().join("empty.log");
    fs::write(&empty, "").unwrap();
    let out = Command::new(bin())
        .env("PVEREC_SYSROOT", &node.root)
        .arg("convert")
        .stdin(fs::File::open(&empty).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn dev_null_on_stdin_reads_the_default_log_or_says_it_is_missing() {
    let node = Node::new();
    let out = node.run(&["convert", "--no-comments"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("pvesh create /nodes/pve1/qemu/104/status/start"),
        "the default log is read"
    );

    let bare = Node::bare();
    let out = bare.run(&["convert"]);
    assert_eq!(out.status.code(), Some(2));
    let log = bare.root.join("var/log/pveproxy/access.log");
    assert_eq!(
        text(&out.stderr),
        format!(
            "pverec: {}: No such file or directory (os error 2) (is this a Proxmox VE node? \
             give the access.log to read as FILE)\n",
            log.display()
        )
    );
}

// Item 4: --since reaches into the rotated generations.

/// A node whose log directory holds the three sample generations (22, 23 and 24 June 2026).
fn node_with_generations() -> Node {
    let node = Node::new();
    for f in ["access.log", "access.log.1", "access.log.2.gz"] {
        fs::copy(data(f), node.log_dir().join(f)).unwrap();
    }
    node
}

/// The files the records came from, in order of first appearance, by file name.
fn files_read(out: &Output) -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for r in json_records(out).iter().filter(|r| r["class"] != "task") {
        let file = r["source"]["file"].as_str().unwrap_or("").to_string();
        let name = Path::new(&file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !files.contains(&name) {
            files.push(name);
        }
    }
    files
}

#[test]
fn since_on_the_nodes_log_reaches_back_as_far_as_it_asks() {
    let node = node_with_generations();
    let log = node.log().display().to_string();
    for (since, want) in [
        (
            "2026-06-01",
            &["access.log.2.gz", "access.log.1", "access.log"][..],
        ),
        ("2026-06-23T12:00:00Z", &["access.log.1", "access.log"]),
        ("2026-06-24T00:00:00Z", &["access.log"]),
    ] {
        for named in [false, true] {
            let mut args = vec!["convert", "-f", "json", "--all", "--since", since];
            if named {
                args.push(&log);
            }
            let out = node.run(&args);
            assert!(out.status.success(), "{}", text(&out.stderr));
            assert_eq!(files_read(&out), want, "--since {since} (named: {named})");
            assert!(!text(&out.stderr).contains("--rotated reads them"));
        }
    }
    // A generation named as well is not read twice.
    let one = node.log_dir().join("access.log.1");
    let out = node
        .pverec(&["convert", "-f", "json", "--all", "--since", "2026-06-01"])
        .arg(&one)
        .arg(node.log())
        .output()
        .unwrap();
    let records = json_records(&out);
    let from_one = records
        .iter()
        .filter(|r| {
            r["source"]["file"]
                .as_str()
                .unwrap_or("")
                .ends_with("access.log.1")
        })
        .count();
    let alone =
        json_records(&node.run(&["convert", "-f", "json", "--all", &one.display().to_string()]));
    assert_eq!(from_one, alone.len(), "access.log.1 read once");
}

#[test]
fn since_on_another_file_says_which_older_generations_exist() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["access.log", "access.log.1", "access.log.2.gz"] {
        fs::copy(data(f), dir.path().join(f)).unwrap();
    }
    let log = dir.path().join("access.log");
    let run = |args: &[&str]| {
        plain()
            .args(["convert", "-f", "json", "--all"])
            .args(args)
            .arg(&log)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["--since", "2026-06-01"]);
    assert!(out.status.success());
    assert_eq!(
        files_read(&out),
        ["access.log"],
        "only the file named is read"
    );
    let err = text(&out.stderr);
    let hint = format!(
        "pverec: {} begins at 2026-06-23 22:00:01+00:00, after --since; older generations are \
         beside it (access.log.1, access.log.2.gz): --rotated reads them\n",
        log.display()
    );
    assert_eq!(occurrences(&err, &hint), 1, "{err}");

    // --since within the file, or --rotated: nothing to say.
    for args in [
        &["--since", "2026-06-24T00:00:00Z"][..],
        &["--since", "2026-06-01", "--rotated"],
        &[],
    ] {
        let out = run(args);
        assert!(
            !text(&out.stderr).contains("--rotated reads them"),
            "{args:?}"
        );
    }
    let out = run(&["--since", "2026-06-01", "--rotated"]);
    assert_eq!(
        files_read(&out),
        ["access.log.2.gz", "access.log.1", "access.log"]
    );
}

// Item 14: messages that help.

/// Runs `pverec ARGS` as an unprivileged user (nobody, no groups): directly when the tests
/// are not root, else through setpriv(1) (util-linux), else runuser(1).
fn unprivileged(root: &Path, args: &[&std::ffi::OsStr]) -> Output {
    unprivileged_command(root, args).output().unwrap()
}

/// [`unprivileged`], not yet run.
fn unprivileged_command(root: &Path, args: &[&std::ffi::OsStr]) -> Command {
    // SAFETY: geteuid(2) has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let mut cmd = if euid != 0 {
        Command::new(bin())
    } else if which("setpriv") {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(bin());
        c
    } else {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(bin());
        c
    };
    cmd.env("PVEREC_SYSROOT", root)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .args(args)
        .current_dir("/")
        .stdin(Stdio::null());
    cmd
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

#[test]
fn permission_denied_on_a_pve_path_says_who_may_read_it() {
    use std::os::unix::fs::PermissionsExt;
    let node = Node::new();
    // The test user (nobody) must reach the root; the PVE directories are locked as on a node:
    // /var/log/pveproxy is www-data's, mode 0700, the task directory is kept from others here.
    fs::set_permissions(node.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(node.log_dir(), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(node.tasks(), fs::Permissions::from_mode(0o700)).unwrap();
    let other = node.dir.path().join("elsewhere.log");
    fs::write(&other, "").unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o600)).unwrap();

    // The default log, and the node's task directory that goes with it.
    let out = unprivileged(&node.root, &["convert".as_ref()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "pverec: {}: cannot read the task directory: Permission denied (os error 13) (run as \
             root or as a member of group www-data)\n\
             pverec: {}: Permission denied (os error 13) (run as root, or as user www-data: sudo \
             -u www-data pverec ...)\n",
            node.tasks().display(),
            node.log().display()
        )
    );

    let tasks = node.tasks();
    let out = unprivileged(
        &node.root,
        &[
            "convert".as_ref(),
            "--tasks".as_ref(),
            tasks.as_os_str(),
            other.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "pverec: {}: cannot read the task directory: Permission denied (os error 13) (run as \
             root or as a member of group www-data)\n",
            tasks.display()
        )),
        "{err}"
    );
    // Not a PVE path: the plain error, no hint.
    assert!(
        err.contains(&format!(
            "pverec: {}: Permission denied (os error 13)\n",
            other.display()
        )),
        "{err}"
    );
}

#[test]
fn no_message_names_its_path_twice() {
    let node = Node::new();
    let dir = node.dir.path();
    let file = dir.join("a-file");
    fs::write(&file, "").unwrap();
    let missing = dir.join("missing");
    let log = dir.join("access.log");
    fs::write(&log, "").unwrap();
    let runs: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["convert".into(), missing.clone().into()],
        vec!["convert".into(), dir.into()],
        vec![
            "convert".into(),
            "--rotated".into(),
            missing.join("access.log").into(),
        ],
        vec![
            "convert".into(),
            "--tasks".into(),
            missing.clone().into(),
            log.clone().into(),
        ],
        vec![
            "convert".into(),
            "--events".into(),
            missing.clone().into(),
            log.clone().into(),
        ],
        vec![
            "follow".into(),
            "--access-log".into(),
            log.clone().into(),
            "--spool".into(),
            missing.clone().into(),
        ],
        vec![
            "follow".into(),
            "--access-log".into(),
            log.clone().into(),
            "--spool".into(),
            file.clone().into(),
        ],
    ];
    for args in runs {
        let out = node.pverec(&[]).args(&args).output().unwrap();
        let err = text(&out.stderr);
        assert!(!err.is_empty(), "{args:?} says something");
        for line in err.lines() {
            for path in [&missing, &file, &log, &dir.to_path_buf()] {
                let p = path.display().to_string();
                // Count whole mentions: the path not followed by more of a longer path.
                let n = line
                    .match_indices(&p)
                    .filter(|(i, _)| {
                        !line[i + p.len()..].starts_with('/')
                            && !line[i + p.len()..]
                                .starts_with(|c: char| c.is_alphanumeric() || c == '-' || c == '.')
                    })
                    .count();
                assert!(n <= 1, "{args:?}: {p} named {n} times in {line:?}");
            }
        }
    }
}

#[test]
fn a_file_without_a_single_access_log_line_is_an_error_with_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let syslog = dir.path().join("syslog");
    fs::write(
        &syslog,
        "\nJun 24 14:00:01 pve1 systemd[1]: Started \x1b[31mpvescheduler\x1b[0m.service.\n\
         Jun 24 14:00:02 pve1 pveproxy[1234]: worker 5678 started\n",
    )
    .unwrap();
    let out = plain()
        .args(["convert"])
        .arg(&syslog)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    let want = format!(
        "pverec: {}: not an access.log: no line is one; line 2 is \"Jun 24 14:00:01 pve1 \
         systemd[1]: Started \\x1b[31mpvescheduler\\x1b[0m.service.\"\n",
        syslog.display()
    );
    assert!(err.ends_with(&want), "{err}");
    assert!(
        !err.bytes().any(|b| b.is_ascii_control() && b != b'\n'),
        "no raw control bytes: {err:?}"
    );

    // On standard input, and in a rotated set, the same.
    let out = Command::new(bin())
        .arg("convert")
        .stdin(fs::File::open(&syslog).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("pverec: -: not an access.log: no line is one; line 2 is"));

    // An empty file, or one of empty lines, is an empty log: exit 0, nothing said.
    for (name, content) in [("empty", ""), ("blank", "\n\r\n\n")] {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        let out = plain()
            .arg("convert")
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert_eq!(text(&out.stderr), "", "{name}");
    }

    // One access.log line among garbage: a log with malformed lines, exit 0.
    let mixed = dir.path().join("mixed.log");
    fs::write(
        &mixed,
        "garbage\n::1 - root@pam [24/06/2026:14:00:00 +0200] \"GET /api2/json/version HTTP/1.1\" 200 5\n",
    )
    .unwrap();
    let out = plain()
        .arg("convert")
        .arg(&mixed)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn make_demo_says_its_malformed_line_is_deliberate() {
    // `make demo` as it stands, with this binary for the release build it would make first
    // (`-o release`: building a release binary inside a test would take minutes).
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "make --no-print-directory -o release demo RELEASE={} 2>&1",
            bin().display()
        ))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = text(&out.stdout);
    assert!(out.status.success(), "{all}");
    let malformed = all
        .find("not an access.log line")
        .expect("the demo shows a malformed line");
    let said = all
        .find("malformed on purpose")
        .expect("the demo says that it is deliberate");
    assert!(said < malformed, "said before it is shown:\n{all}");
}

/// Runs follow until its stderr has a line containing `want` (10 s at most), then stops it with
/// SIGTERM; returns that stderr line.
fn follow_says(mut cmd: Command, want: &str) -> String {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            if send.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(want) => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let line = found.unwrap_or_else(|| panic!("no {want:?} on stderr: {seen:#?}"));
    assert_eq!(status.code(), Some(0), "SIGTERM ends follow with 0");
    line
}

/// follow names a log it cannot read or that is missing with the same hints as convert, and
/// waits for it.
#[test]
fn follow_says_what_to_do_about_an_unreadable_or_missing_default_log() {
    use std::os::unix::fs::PermissionsExt;
    let node = Node::new();
    fs::set_permissions(node.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(node.log_dir(), fs::Permissions::from_mode(0o700)).unwrap();
    let cmd = unprivileged_command(&node.root, &["follow".as_ref(), "--no-tasks".as_ref()]);
    let line = follow_says(cmd, "waiting for it");
    assert_eq!(
        line,
        format!(
            "pverec: {}: cannot be read (Permission denied (os error 13) (run as root, or as \
             user www-data: sudo -u www-data pverec ...)); waiting for it",
            node.log().display()
        )
    );

    let bare = Node::bare();
    let mut cmd = Command::new(bin());
    cmd.env("PVEREC_SYSROOT", &bare.root)
        .args(["follow", "--no-spool"])
        .stdin(Stdio::null());
    let line = follow_says(cmd, "waiting for it");
    assert_eq!(
        line,
        format!(
            "pverec: {}: does not exist (is this a Proxmox VE node? give the access.log to \
             read as FILE); waiting for it",
            bare.root.join("var/log/pveproxy/access.log").display()
        )
    );
}
