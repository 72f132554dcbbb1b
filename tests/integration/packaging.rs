//! The always-on audit trail as an admin installs it (issue 16, items 4 and 5):
//! `dist/pverec-audit.service` as `make install` puts it (systemd-analyze verify with the
//! installed binary, `systemd-analyze security` with a score no worse than the README says),
//! the README's drop-ins for the TCP collector and the JSON file, its rsyslog forwarding under
//! `rsyslogd -N1`, `dist/pverec.logrotate` under a real logrotate, and the system calls of
//! `pverec follow` and its journalctl (strace) against the unit's SystemCallFilter=. The .deb itself is checked by scripts/deb-check.sh, which `make test`
//! runs after these tests (lintian, dpkg install, remove, purge).

use crate::follow_files::user_and_group;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;

const UNIT: &str = "pverec-audit.service";

/// The worst `systemd-analyze security` exposure the unit may have (0 best, 10 worst; 1.0 is the
/// top of "SAFE"). The README states the score measured.
const WORST_EXPOSURE: f64 = 1.0;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn readme() -> String {
    fs::read_to_string(repo().join("README.md")).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// `make install DESTDIR=ROOT PREFIX=prefix` (then `uninstall` when `target` is "uninstall")
/// with this test binary's pverec standing in for the `make static` build, and a cargo that
/// fails if anything tries to build.
fn make(dir: &Path, target: &str, root: &Path, prefix: &str) -> Output {
    let built = dir.join("target/x86_64-unknown-linux-gnu/release/pverec");
    if !built.exists() {
        fs::create_dir_all(built.parent().unwrap()).unwrap();
        fs::copy(bin(), &built).unwrap();
    }
    let out = Command::new(require_tool("make"))
        .arg("-C")
        .arg(repo())
        .arg(target)
        .arg(format!("DESTDIR={}", root.display()))
        .arg(format!("PREFIX={prefix}"))
        .arg("CARGO=false")
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("make runs");
    assert!(
        out.status.success(),
        "make {target}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// A root holding pverec as `make install` installs it for `prefix`, and the system's own
/// targets (sysinit.target, multi-user.target…), which systemd-analyze needs to load a unit
/// with default dependencies.
fn installed_root(dir: &Path, prefix: &str) -> PathBuf {
    let root = dir.join(format!("root{}", prefix.replace('/', "-")));
    make(dir, "install", &root, prefix);
    let units = root.join("usr/lib/systemd/system");
    fs::create_dir_all(&units).unwrap();
    let system = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .find(|d| Path::new(d).join("multi-user.target").exists())
        .expect("systemd's units: run `make test-deps` (systemd)");
    for entry in fs::read_dir(system).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".target") {
            fs::copy(entry.path(), units.join(&name)).unwrap();
        }
    }
    root
}

/// Where `make install` put the unit for `prefix`: Debian 12's /lib/systemd/system for /usr.
fn unit_dir(prefix: &str) -> String {
    if prefix == "/usr" {
        "/lib/systemd/system".to_string()
    } else {
        format!("{prefix}/lib/systemd/system")
    }
}

fn systemd_analyze(root: &Path, args: &[&str]) -> Output {
    Command::new(require_tool("systemd-analyze"))
        .args(args)
        .arg(format!("--root={}", root.display()))
        .arg(UNIT)
        // The man page the unit's Documentation= names, as installed into the root.
        .env(
            "MANPATH",
            format!(
                "{}:{}",
                root.join("usr/share/man").display(),
                root.join("usr/local/share/man").display()
            ),
        )
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .output()
        .expect("systemd-analyze runs")
}

/// `systemd-analyze verify`: it fails on a missing ExecStart binary or man page, and only warns
/// (exit 0) on an unknown setting or a value it cannot parse; both count here.
fn verify(root: &Path) {
    let out = systemd_analyze(root, &["verify"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify {UNIT} in {}:\n{said}",
        root.display()
    );
}

/// `systemd-analyze security --offline=yes`: its table and the overall exposure ("0.6 SAFE").
fn security(root: &Path) -> (String, f64, String) {
    let out = systemd_analyze(root, &["security", "--offline=yes", "--no-pager"]);
    let table = text(&out.stdout);
    assert!(
        out.status.success(),
        "systemd-analyze security: {table}{}",
        text(&out.stderr)
    );
    let marker = format!("Overall exposure level for {UNIT}: ");
    let rating = table
        .lines()
        .find_map(|l| l.split_once(&marker).map(|(_, r)| r.trim().to_string()))
        .unwrap_or_else(|| panic!("no overall exposure in:\n{table}"));
    let mut words = rating.split_whitespace();
    let score: f64 = words.next().unwrap().parse().unwrap();
    let grade = words.next().unwrap_or_default().to_string();
    (table, score, format!("{score:.1} {grade}"))
}

/// Whether the security table has the line of `setting` marked passed (✓) or failed (✗).
fn rated(table: &str, setting: &str) -> Option<bool> {
    table.lines().find_map(|l| {
        let l = l.trim();
        if l.split_whitespace().nth(1) != Some(setting) {
            return None;
        }
        Some(l.starts_with('✓'))
    })
}

#[test]
fn make_install_puts_a_unit_that_systemd_verifies_and_uninstall_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    for prefix in ["/usr/local", "/usr"] {
        let root = installed_root(dir.path(), prefix);
        let unit_path = root
            .join(unit_dir(prefix).trim_start_matches('/'))
            .join(UNIT);
        let unit = fs::read_to_string(&unit_path).unwrap();
        assert_eq!(mode(&unit_path), 0o644);
        // The installed unit names the installed binary.
        assert!(
            unit.lines().any(|l| l
                == format!(
                    "ExecStart={prefix}/bin/pverec follow --state /var/lib/pverec/follow.state -f ecs --to journal"
                )),
            "{unit}"
        );
        assert!(!unit.contains("@BINDIR@"), "{unit}");
        let logrotate = root.join("etc/logrotate.d/pverec");
        assert_eq!(mode(&logrotate), 0o644);
        assert_eq!(
            fs::read(&logrotate).unwrap(),
            fs::read(repo().join("dist/pverec.logrotate")).unwrap()
        );
        assert!(root.join("var/log/pverec").is_dir());
        verify(&root);

        // Without the binary, verify fails: the check above did look for it.
        let binary = root.join(prefix.trim_start_matches('/')).join("bin/pverec");
        fs::rename(&binary, binary.with_extension("away")).unwrap();
        let out = systemd_analyze(&root, &["verify"]);
        assert!(
            !out.status.success() && text(&out.stderr).contains("is not executable"),
            "{}",
            text(&out.stderr)
        );
        fs::rename(binary.with_extension("away"), &binary).unwrap();

        make(dir.path(), "uninstall", &root, prefix);
        for gone in [
            &unit_path,
            &logrotate,
            &binary,
            &root.join("var/log/pverec"),
        ] {
            assert!(!gone.exists(), "make uninstall left {}", gone.display());
        }
    }
}

#[test]
fn unit_hardening_scores_as_the_readme_says() {
    let dir = tempfile::tempdir().unwrap();
    let root = installed_root(dir.path(), "/usr");
    let (table, score, rating) = security(&root);
    println!("systemd-analyze security {UNIT}: {rating}");
    assert!(
        score <= WORST_EXPOSURE,
        "exposure {rating}, worse than {WORST_EXPOSURE}:\n{table}"
    );
    for setting in [
        "RestrictAddressFamilies=~AF_(INET|INET6)",
        "CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)",
        "CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)",
        "NoNewPrivileges=",
        "ProtectSystem=",
        "ProtectHome=",
        "PrivateNetwork=",
        "PrivateTmp=",
        "PrivateDevices=",
        "MemoryDenyWriteExecute=",
        "SystemCallFilter=~@privileged",
        "UMask=",
    ] {
        assert_eq!(rated(&table, setting), Some(true), "{setting}:\n{table}");
    }
    let readme = readme();
    assert!(
        readme.contains(&format!("**{rating}**")),
        "the README does not give the score measured, **{rating}**"
    );
}

/// The README's drop-ins: each a code block whose first line names its file,
/// `# /etc/systemd/system/pverec-audit.service.d/NAME.conf`.
fn readme_drop_ins() -> Vec<(String, String)> {
    let marker = format!("# /etc/systemd/system/{UNIT}.d/");
    readme_blocks()
        .into_iter()
        .filter_map(|block| {
            let (first, rest) = block.split_first()?;
            let name = first.strip_prefix(&marker)?;
            Some((name.to_string(), rest.join("\n") + "\n"))
        })
        .collect()
}

/// The README's fenced code blocks, each as its lines.
fn readme_blocks() -> Vec<Vec<String>> {
    let readme = readme();
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(l) = lines.next() {
        if l.starts_with("```") {
            let block = lines.by_ref().take_while(|l| !l.starts_with("```"));
            blocks.push(block.map(str::to_string).collect());
        }
    }
    blocks
}

#[test]
fn readme_drop_ins_verify_and_open_only_what_they_say() {
    let drop_ins = readme_drop_ins();
    let names: Vec<&str> = drop_ins.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["syslog-tcp.conf", "json-file.conf"]);
    for (name, body) in &drop_ins {
        let dir = tempfile::tempdir().unwrap();
        let root = installed_root(dir.path(), "/usr");
        let d = root.join(format!("etc/systemd/system/{UNIT}.d"));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(name), body).unwrap();
        verify(&root);
        let (table, score, rating) = security(&root);
        println!("{UNIT} with {name}: {rating}");
        let inet = rated(&table, "RestrictAddressFamilies=~AF_(INET|INET6)");
        match name.as_str() {
            "syslog-tcp.conf" => {
                assert!(body.contains("--to syslog+tcp://"), "{body}");
                assert_eq!(inet, Some(false), "{name} opens no IP:\n{table}");
                assert_eq!(rated(&table, "PrivateNetwork="), Some(false), "{table}");
                // Still limited to the collector's address.
                assert!(body.contains("IPAddressAllow="), "{body}");
            }
            _ => {
                assert!(
                    body.contains("--to stdout")
                        && body.contains("StandardOutput=append:/var/log/pverec/audit.json"),
                    "{body}"
                );
                assert_eq!(inet, Some(true), "{name} opens IP:\n{table}");
                let stanza = fs::read_to_string(repo().join("dist/pverec.logrotate")).unwrap();
                assert!(stanza.contains("/var/log/pverec/audit.json {"), "{stanza}");
            }
        }
        assert!(score <= 2.0, "{name}: {rating}:\n{table}");
    }
}

fn logrotate(conf: &Path, state: &Path, path: &std::ffi::OsStr, args: &[&str]) -> Output {
    Command::new(require_tool("logrotate"))
        .args(args)
        .arg("-s")
        .arg(state)
        .arg(conf)
        .env("PATH", path)
        .output()
        .expect("logrotate runs")
}

#[test]
fn logrotate_rotates_the_json_file_and_restarts_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let stanza = fs::read_to_string(repo().join("dist/pverec.logrotate")).unwrap();
    let state = dir.path().join("logrotate.state");
    let path = std::env::var_os("PATH").unwrap_or_default();

    // The stanza as shipped: logrotate accepts it (-d: check, change nothing).
    let out = logrotate(
        &repo().join("dist/pverec.logrotate"),
        &state,
        &path,
        &["-d"],
    );
    let said = text(&out.stderr);
    assert!(out.status.success(), "logrotate -d: {said}");
    assert!(
        !said.to_lowercase().contains("error"),
        "logrotate -d: {said}"
    );

    // A real run, on a file of its own, with a systemctl that notes how it was called.
    let logs = dir.path().join("log");
    fs::create_dir(&logs).unwrap();
    let audit = logs.join("audit.json");
    let bin_dir = dir.path().join("bin");
    fs::create_dir(&bin_dir).unwrap();
    let calls = dir.path().join("systemctl.calls");
    let systemctl = bin_dir.join("systemctl");
    fs::write(
        &systemctl,
        format!("#!/bin/sh\necho \"$*\" >> '{}'\n", calls.display()),
    )
    .unwrap();
    fs::set_permissions(&systemctl, fs::Permissions::from_mode(0o755)).unwrap();
    let (user, group) = user_and_group();
    assert!(stanza.contains("create 0600 root root"), "{stanza}");
    let conf = dir.path().join("pverec.logrotate");
    fs::write(
        &conf,
        stanza
            .replace("/var/log/pverec/audit.json", &audit.display().to_string())
            .replace(
                "create 0600 root root",
                &format!("create 0600 {user} {group}"),
            ),
    )
    .unwrap();
    let mut path_with_fake = std::ffi::OsString::from(bin_dir.as_os_str());
    path_with_fake.push(":");
    path_with_fake.push(&path);

    fs::write(&audit, "{\"first\":1}\n").unwrap();
    for round in 1..=2 {
        let out = logrotate(&conf, &state, &path_with_fake, &["-f"]);
        assert!(
            out.status.success(),
            "logrotate -f (round {round}): {}",
            text(&out.stderr)
        );
        assert_eq!(fs::read_to_string(&audit).unwrap(), "", "round {round}");
        assert_eq!(mode(&audit), 0o600, "round {round}");
        fs::write(&audit, format!("{{\"round\":{round}}}\n")).unwrap();
    }
    // delaycompress: the newest rotated file stays plain, the one before is gzipped.
    assert_eq!(
        fs::read_to_string(logs.join("audit.json.1")).unwrap(),
        "{\"round\":1}\n"
    );
    let old = fs::read(logs.join("audit.json.2.gz")).unwrap();
    let mut first = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&old[..]), &mut first).unwrap();
    assert_eq!(first, "{\"first\":1}\n");
    // Each rotation restarted the unit, so that systemd opens the new file.
    assert_eq!(
        fs::read_to_string(&calls).unwrap(),
        "try-restart pverec-audit.service\n".repeat(2)
    );
}

/// The README's code block whose first line is `# PATH`, whole.
fn readme_block(path: &str) -> String {
    let first = format!("# {path}");
    readme_blocks()
        .into_iter()
        .find(|block| block.first() == Some(&first))
        .map(|block| block.join("\n") + "\n")
        .unwrap_or_else(|| panic!("no README block starting with {first}"))
}

fn rsyslogd_check(dir: &Path, conf: &str) -> Output {
    let file = dir.join("rsyslog.conf");
    // Debian's rsyslog.conf sets the work directory the disk-assisted queue needs.
    fs::write(
        &file,
        format!("global(workDirectory=\"{}\")\n{conf}", dir.display()),
    )
    .unwrap();
    Command::new(require_tool("rsyslogd"))
        .arg("-N1")
        .arg("-f")
        .arg(&file)
        .output()
        .expect("rsyslogd runs")
}

#[test]
fn readme_rsyslog_forwarding_is_valid_rsyslog() {
    let dir = tempfile::tempdir().unwrap();
    let conf = readme_block("/etc/rsyslog.d/60-pverec.conf");
    for needed in [
        "$programname == \"pverec\"",
        "type=\"omfwd\"",
        "protocol=\"tcp\"",
        // RFC 5424, octet-counted as RFC 6587 says for TCP.
        "RSYSLOG_SyslogProtocol23Format",
        "TCP_Framing=\"octet-counted\"",
    ] {
        assert!(conf.contains(needed), "{needed} not in:\n{conf}");
    }
    let out = rsyslogd_check(dir.path(), &conf);
    assert!(
        out.status.success(),
        "rsyslogd -N1:\n{conf}\n{}",
        text(&out.stderr)
    );
    // The check does look at parameters: a wrong one fails it.
    let wrong = conf.replace("TCP_Framing=", "TCP_Frameing=");
    assert!(!rsyslogd_check(dir.path(), &wrong).status.success());
}

/// The system calls `filter` (the unit's `SystemCallFilter=` lines, in order) lets through, as
/// `systemd-analyze syscall-filter` expands its groups.
fn allowed_syscalls(filter: &[&str]) -> std::collections::BTreeSet<String> {
    let out = Command::new(require_tool("systemd-analyze"))
        .arg("syscall-filter")
        .output()
        .expect("systemd-analyze runs");
    let mut groups: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut current = None;
    for l in text(&out.stdout).lines() {
        let word = l.trim();
        if l.starts_with('@') {
            current = Some(word.to_string());
            groups.insert(word.to_string(), Vec::new());
        } else if let Some(group) = &current
            && !word.is_empty()
            && !word.starts_with('#')
        {
            groups.get_mut(group).unwrap().push(word.to_string());
        }
    }
    fn expand(
        groups: &std::collections::HashMap<String, Vec<String>>,
        name: &str,
        into: &mut std::collections::BTreeSet<String>,
    ) {
        match groups.get(name) {
            Some(members) => members.iter().for_each(|m| expand(groups, m, into)),
            None => {
                assert!(!name.starts_with('@'), "unknown group {name}");
                into.insert(name.to_string());
            }
        }
    }
    let mut allowed = std::collections::BTreeSet::new();
    for (n, line) in filter.iter().enumerate() {
        let (deny, names) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, *line),
        };
        assert!(
            deny == (n > 0),
            "an allow list first, then deny lists: {filter:?}"
        );
        let mut set = std::collections::BTreeSet::new();
        names
            .split_whitespace()
            .for_each(|name| expand(&groups, name, &mut set));
        if deny {
            allowed.retain(|s| !set.contains(s));
        } else {
            allowed.extend(set);
        }
    }
    allowed
}

/// strace with the pverec it traces: whatever way the test ends (a timeout panics), neither
/// outlives it. A killed strace leaves its tracees running, so they are killed first, pverec's
/// own children (journalctl) with them.
struct Traced(std::process::Child);

impl Drop for Traced {
    fn drop(&mut self) {
        let children = |pid: u32| -> Vec<i32> {
            fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        };
        for pid in children(self.0.id()) {
            for grandchild in children(pid as u32) {
                // SAFETY: kill(2) of a process this test started, through strace and pverec.
                unsafe { libc::kill(grandchild, libc::SIGKILL) };
            }
            // SAFETY: as above, the traced pverec.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every system call `pverec follow` and the `journalctl` it runs make, from the start through
/// history, live lines and a SIGTERM, passes the unit's SystemCallFilter= (traced with strace:
/// a call the filter refuses would fail with EPERM under the unit, SystemCallErrorNumber=).
#[test]
fn pverec_and_its_journalctl_make_no_system_call_the_unit_refuses() {
    let unit = fs::read_to_string(repo().join("dist/pverec-audit.service.in")).unwrap();
    let filter: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("SystemCallFilter="))
        .collect();
    let allowed = allowed_syscalls(&filter);
    assert!(allowed.contains("inotify_add_watch") && !allowed.contains("setuid"));

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    fs::copy(data("access.log"), &log).unwrap();
    let journal =
        crate::journal_util::journal_file(dir.path(), &crate::journal_util::fixture_entries());
    let trace = dir.path().join("strace.log");
    let out = dir.path().join("follow.out");
    // Its sink as in the unit, ECS to the journal, here a socket the test binds: the sends, and
    // the memfd of an entry too large for a datagram, pass the filter too.
    let sock = dir.path().join("journal.sock");
    let journal_socket = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    journal_socket.set_nonblocking(true).unwrap();
    let received = std::cell::Cell::new(0usize);
    let drain = || {
        let mut buf = vec![0u8; 1 << 20];
        while journal_socket.recv(&mut buf).is_ok() {
            received.set(received.get() + 1);
        }
        received.get()
    };
    let mut strace = Traced(
        Command::new(require_tool("strace"))
            .args(["-f", "-qq", "-o"])
            .arg(&trace)
            .arg("--")
            .arg(bin())
            .args([
                "follow",
                "--node",
                "pve1",
                "--since",
                "2026-06-01",
                "--access-log",
            ])
            .arg(&log)
            .arg("--journal-file")
            .arg(&journal)
            .arg("--state")
            .arg(dir.path().join("state/follow.state"))
            .args(["-f", "ecs", "--to"])
            .arg(format!("journal:{}", sock.display()))
            .env("TZ", "UTC")
            .stdin(std::process::Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(dir.path().join("follow.err")).unwrap())
            .spawn()
            .expect("strace starts"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                fs::read_to_string(dir.path().join("follow.err")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let traced = || fs::read_to_string(&trace).unwrap_or_default();
    wait("the history and journalctl", &|| {
        let t = traced();
        drain();
        t.contains("inotify_add_watch") && t.contains("execve(\"/usr/bin/journalctl\"")
    });
    wait("the history's entries", &|| drain() > 0);
    // A write whose query makes its record larger than a datagram: it goes in a memfd.
    let huge = format!(
        "::ffff:192.168.10.23 - root@pam [24/06/2026:14:30:00 +0200] \
         \"POST /api2/json/nodes/pve1/qemu/100/status/start?note={} HTTP/1.1\" 200 81\n",
        "a".repeat(400_000)
    );
    let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, huge.as_bytes()).unwrap();
    wait("the large entry, in a memfd", &|| {
        drain();
        traced().contains("memfd_create(")
    });
    let before = drain();
    let line = "::ffff:192.168.10.23 - root@pam [24/06/2026:14:31:00 +0200] \
                \"POST /api2/json/nodes/pve1/qemu/101/status/start HTTP/1.1\" 200 81";
    std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()).unwrap();
    wait("the live line", &|| drain() > before);
    assert!(
        fs::read(&out).unwrap().is_empty(),
        "records go to the journal, not stdout"
    );
    // pverec is strace's child; SIGTERM is its normal end.
    let children =
        fs::read_to_string(format!("/proc/{0}/task/{0}/children", strace.0.id())).unwrap();
    let pid: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: kill(2) on the pid of our own traced child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(status) = strace.0.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "pverec did not stop");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "pverec under strace: {status:?}");

    let mut used = std::collections::BTreeSet::new();
    for l in traced().lines() {
        // `PID name(args) = …`, `PID name(args <unfinished ...>`; not `PID <... name resumed>`,
        // `PID +++ exited …` or `PID --- SIGTERM …`.
        let Some((_, call)) = l.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        if let Some((name, _)) = call.split_once('(')
            && !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            used.insert(name.to_string());
        }
    }
    assert!(
        ["inotify_add_watch", "execve", "memfd_create", "sendmsg"]
            .iter()
            .all(|call| used.contains(*call)),
        "{used:?}"
    );
    let refused: Vec<&String> = used.iter().filter(|s| !allowed.contains(*s)).collect();
    println!("{} system calls made, all allowed: {used:?}", used.len());
    assert!(
        refused.is_empty(),
        "refused by the unit's filter: {refused:?}"
    );
}
