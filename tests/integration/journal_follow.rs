//! Issue 12 in follow: the journal read live through real `journalctl --follow --file` on a real
//! journal file that grows as the test appends to it (systemd-journal-remote, which appends to
//! an existing file), its cursor kept in `--state`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::follower::{BACKENDS, Follower, Scene, append};
use crate::journal_util::{Entry, export_text, journal_remote};

/// Appends `entries` to the journal file `file` (creating it), as journald would.
fn append_journal(file: &Path, entries: &[Entry]) {
    let mut child = Command::new(journal_remote())
        .arg(format!("--output={}", file.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-journal-remote runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&export_text(entries))
        .unwrap();
    assert!(child.wait().unwrap().success());
}

fn now_us() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    now.as_micros() as u64
}

/// An access.log line of now.
fn log_line(user: &str, method: &str, path: &str) -> String {
    let stamp = jiff::Timestamp::now().strftime("%d/%m/%Y:%H:%M:%S +0000");
    format!("::1 - {user} [{stamp}] \"{method} /api2/json{path} HTTP/1.1\" 200 25\n")
}

/// `--since` five seconds ago, as `@SECONDS`.
fn since_a_moment_ago() -> String {
    format!("@{}", jiff::Timestamp::now().as_second() - 5)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn an_entry_written_after_its_line_still_joins_and_shell_work_comes_out() {
    for backend in BACKENDS {
        let Scene { dir, log, .. } = Scene::new(backend);
        std::fs::write(&log, "").unwrap();
        let journal = dir.path().join("node.journal");
        append_journal(
            &journal,
            &[Entry::new(
                now_us() - 10_000_000,
                "pvedaemon",
                7,
                "starting",
            )],
        );
        // From a few seconds ago: what is appended from now on is read whenever journalctl
        // gets to it, however late it started.
        let since = since_a_moment_ago();
        let mut f = Follower::spawn_with(
            dir.path(),
            &log,
            backend,
            &[
                "--no-tasks",
                "--no-spool",
                "--journal-file",
                s(&journal),
                "--since",
                &since,
            ],
            |_| {},
        );
        f.wait_ready();
        // The line first, its entry a moment later (a task worker logs a resize just after
        // the answer went out).
        append(
            &log,
            &log_line("bob@pve", "PUT", "/nodes/pve1/qemu/102/config"),
        );
        append_journal(
            &journal,
            &[Entry::new(
                now_us(),
                "pvedaemon",
                2202,
                "<bob@pve> update VM 102: -description late entry -name web2",
            )],
        );
        f.wait_until("the write with its journal parameters", || {
            f.output().iter().any(|l| {
                l == "pvesh set /nodes/pve1/qemu/102/config --description 'late entry' --name web2"
            })
        });
        // Work on the shell: no line at all.
        append_journal(
            &journal,
            &[Entry::new(
                now_us(),
                "qm",
                4242,
                "<root@pam> update VM 100: -memory 4096",
            )],
        );
        // Shown when journalctl has passed it on (a stop right after the append raced it).
        f.wait_until("the work on the shell", || {
            f.output()
                .iter()
                .any(|l| l == "pvesh set /nodes/pve1/qemu/100/config --memory 4096")
        });
        let status = f.stop_with(libc::SIGTERM);
        assert!(status.success(), "{status:?}\n{}", f.stderr());
    }
}

#[test]
fn a_restart_from_state_resumes_the_journal_at_its_cursor() {
    let backend = BACKENDS[0];
    let Scene { dir, log, state } = Scene::new(backend);
    std::fs::write(&log, "").unwrap();
    let journal = dir.path().join("node.journal");
    let shell = |vmid: u32, memory: u32, ago_us: u64| {
        Entry::new(
            now_us() - ago_us,
            "qm",
            4000 + vmid,
            format!("<root@pam> update VM {vmid}: -memory {memory}"),
        )
    };
    append_journal(&journal, &[shell(100, 1024, 10_000_000)]);
    let since = since_a_moment_ago();
    let args = [
        "--no-tasks",
        "--no-spool",
        "--journal-file",
        s(&journal),
        "--state",
        s(&state),
        "--since",
        &since,
    ];
    let expect = |vmid: u32, memory: u32| {
        format!("pvesh set /nodes/pve1/qemu/{vmid}/config --memory {memory}")
    };
    let mut f = Follower::spawn_with(dir.path(), &log, backend, &args, |_| {});
    f.wait_ready();
    append_journal(&journal, &[shell(101, 2048, 0)]);
    // Started from --since, the entry before it is not shown; the one after it is (work on
    // the shell waits for no line). The restart takes the state's cursor, not --since.
    f.wait_until("the shell's change", || {
        f.output().contains(&expect(101, 2048))
    });
    f.stop_with(libc::SIGTERM);
    let first = f.output();
    assert!(
        first.contains(&expect(101, 2048)),
        "{first:?}\n{}",
        f.stderr()
    );
    assert!(!first.contains(&expect(100, 1024)), "{first:?}");
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.contains("\"journal_cursor\""), "{saved}");
    // Written while pverec is stopped: the restart shows it, and nothing of before again.
    append_journal(&journal, &[shell(102, 4096, 0)]);
    let mut g = Follower::spawn_with(dir.path(), &log, backend, &args, |_| {});
    g.wait_until("the entry written while stopped", || {
        g.output().contains(&expect(102, 4096))
    });
    g.stop_with(libc::SIGTERM);
    let second = g.output();
    assert!(!second.contains(&expect(101, 2048)), "repeated: {second:?}");
    assert_eq!(
        second.iter().filter(|l| **l == expect(102, 4096)).count(),
        1,
        "{second:?}"
    );
}

#[test]
fn a_journalctl_that_fails_is_said_once_and_follow_goes_on() {
    let backend = BACKENDS[0];
    let Scene { dir, log, .. } = Scene::new(backend);
    std::fs::write(&log, "").unwrap();
    // Not a journal file: journalctl fails at once, and again at each restart.
    let bogus = dir.path().join("bogus.journal");
    std::fs::write(&bogus, b"LPKSHHRH but nothing else").unwrap();
    let mut f = Follower::spawn_with(
        dir.path(),
        &log,
        backend,
        &["--no-tasks", "--no-spool", "--journal-file", s(&bogus)],
        |_| {},
    );
    f.wait_until("the journal's failure", || {
        f.stderr().contains("the journal: ")
    });
    append(
        &log,
        &log_line("alice@pve", "DELETE", "/nodes/pve1/qemu/100"),
    );
    f.wait_until("the log's line all the same", || {
        f.output()
            .iter()
            .any(|l| l == "pvesh delete /nodes/pve1/qemu/100")
    });
    // Restarted with back-off (1 s, 2 s…): still one warning, and pverec sleeps meanwhile.
    f.wait_until("a restart of journalctl", || {
        f.stderr().contains("the journal: ") && f.is_sleeping()
    });
    f.stop_with(libc::SIGTERM);
    assert_eq!(
        f.stderr().matches("the journal: ").count(),
        1,
        "{}",
        f.stderr()
    );
}

/// `--since`: the history's lines find their entries (journalctl's history is taken in first,
/// not waited for line by line).
#[test]
fn history_from_since_joins_its_entries() {
    let backend = BACKENDS[0];
    let Scene { dir, log, .. } = Scene::new(backend);
    let then = jiff::Timestamp::now().as_second() - 60;
    let stamp = jiff::Timestamp::from_second(then)
        .unwrap()
        .strftime("%d/%m/%Y:%H:%M:%S +0000");
    std::fs::write(
        &log,
        format!(
            "::1 - alice@pve [{stamp}] \"PUT /api2/json/nodes/pve1/qemu/100/config HTTP/1.1\" 200 25\n"
        ),
    )
    .unwrap();
    let journal = dir.path().join("node.journal");
    append_journal(
        &journal,
        &[Entry::new(
            then as u64 * 1_000_000 - 300_000,
            "pvedaemon",
            2201,
            "<alice@pve> update VM 100: -cores 2",
        )],
    );
    let since = format!("@{}", then - 60);
    let mut f = Follower::spawn_with(
        dir.path(),
        &log,
        backend,
        &[
            "--no-tasks",
            "--no-spool",
            "--journal-file",
            s(&journal),
            "--since",
            &since,
        ],
        |_| {},
    );
    f.wait_until("the history's write with its parameters", || {
        f.output()
            .iter()
            .any(|l| l == "pvesh set /nodes/pve1/qemu/100/config --cores 2")
    });
    f.stop_with(libc::SIGTERM);
}
