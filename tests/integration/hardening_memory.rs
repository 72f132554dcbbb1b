//! Issue 11, finding 6: memory stays bounded on hostile or merely huge inputs.
//!
//! Each test runs the real binary and reads its peak resident set from the kernel
//! (`getrusage(RUSAGE_CHILDREN)`: nextest runs every test in a process of its own, so the only
//! children are the ones the test waited for). The budgets are the issue's: 32 MB for a gzip
//! bomb and for `/dev/zero`, 64 MB for a 500,000-line task index; issue 17: 40 MB for a journal
//! of 300,000 entries of interest. Before the fixes these runs took hundreds of megabytes (or
//! aborted on allocation).

use std::fs;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{bin, pverec};

const MB: u64 = 1000 * 1000;

/// The largest peak resident set of the children waited for so far, in bytes.
fn children_peak_rss() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    // SAFETY: initialised by the successful call above.
    let usage = unsafe { usage.assume_init() };
    usage.ru_maxrss as u64 * 1024
}

/// One gzip member of `len` zero bytes and no newline: a few hundred KiB on disk.
fn zeros_gz(len: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..len / chunk.len() {
        enc.write_all(&chunk).unwrap();
    }
    enc.finish().unwrap()
}

#[test]
fn gzip_bomb_is_read_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = tmp.path().join("access.log.2.gz");
    // 128 MiB of zeros in one line (a run without a line cap holds all of it), then a real
    // line that must still be read.
    let mut data = zeros_gz(128 << 20);
    data.extend(crate::util::gzip(
        b"\n::1 - root@pam [24/06/2026:14:00:00 +0200] \"DELETE /api2/json/nodes/pve1/qemu/100 HTTP/1.1\" 200 80\n",
    ));
    fs::write(&bomb, &data).unwrap();
    let out = pverec()
        .args(["convert", "-f", "json"])
        .arg(&bomb)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:1: line longer than 1048576 bytes",
            bomb.display()
        )),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"DELETE\""),
        "the line after the bomb is read: {stdout}"
    );
    let peak = children_peak_rss();
    assert!(peak < 32 * MB, "peak RSS {} MB", peak / MB);
}

/// How many bytes a process has read so far (`rchar` of /proc/PID/io).
fn bytes_read(pid: u32) -> u64 {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn dev_zero_is_read_in_bounded_memory_until_stopped() {
    let mut child = std::process::Command::new(bin())
        .args(["convert", "/dev/zero"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until it has read 96 MiB (one endless line), then stop it: a run without a line cap
    // holds all of it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while bytes_read(child.id()) < 96 << 20 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "convert /dev/zero ended by itself"
        );
        assert!(Instant::now() < deadline, "convert /dev/zero reads nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    let peak = children_peak_rss();
    assert!(peak < 32 * MB, "peak RSS {} MB", peak / MB);
}

/// A task index of `count` finished tasks, one every 6 s from `start`, and an access.log with a
/// line every 600 s over the same time, so that every task is in the time the log covers.
fn big_task_index(dir: &std::path::Path, count: i64, start: i64) {
    let kinds = ["qmstart", "vzdump", "qmstop", "aptupdate", "qmconfig"];
    let users = ["root@pam", "alice@pve", "automation@pve!ci"];
    let mut index = String::with_capacity(count as usize * 80);
    for i in 0..count {
        let t = start + i * 6;
        let kind = kinds[i as usize % kinds.len()];
        let id = if kind == "aptupdate" {
            String::new()
        } else {
            (100 + i % 50).to_string()
        };
        let user = users[i as usize % users.len()];
        let pid = 1000 + i % 60000;
        index.push_str(&format!(
            "UPID:pve1:{pid:08X}:{:08X}:{t:08X}:{kind}:{id}:{user}: {:08X} OK\n",
            (i * 37) % 0xffff_ffff,
            t + 5
        ));
    }
    fs::write(dir.join("index"), index).unwrap();
    fs::write(dir.join("active"), "").unwrap();
}

/// Unix seconds as access.log writes them, in UTC (`24/06/2026:14:00:00 +0000`).
fn access_time(t: i64) -> String {
    // Days to a civil date: Howard Hinnant's `civil_from_days`.
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
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
fn access_time_is_the_logs_form() {
    assert_eq!(access_time(1_782_302_400), "24/06/2026:12:00:00 +0000");
    assert_eq!(access_time(951_782_400), "29/02/2000:00:00:00 +0000");
}

/// A log of one polling line every 10 minutes from `start` to `end` (seconds, inclusive).
fn polling_log(dir: &std::path::Path, start: i64, end: i64) -> std::path::PathBuf {
    let mut log = String::new();
    for t in (start..=end).step_by(600) {
        log.push_str(&format!(
            "::1 - root@pam [{}] \"GET /api2/json/version HTTP/1.1\" 200 80\n",
            access_time(t)
        ));
    }
    let access = dir.join("access.log");
    fs::write(&access, log).unwrap();
    access
}

/// `pverec convert --all ARGS LOG`, its output counted as it comes (it may be millions of
/// lines): how many lines `counted` takes; the run must succeed.
fn convert_counting(
    args: &[&std::ffi::OsStr],
    log: &std::path::Path,
    counted: impl Fn(&[u8]) -> bool,
) -> usize {
    let mut child = std::process::Command::new(bin())
        .args(["convert", "--all"])
        .args(args)
        .arg(log)
        .env("TZ", "UTC")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut n = 0;
    for line in std::io::BufRead::split(stdout, b'\n') {
        if counted(&line.unwrap()) {
            n += 1;
        }
    }
    assert!(child.wait().unwrap().success());
    n
}

#[test]
fn half_a_million_task_lines_are_joined_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let tasks = tmp.path().join("tasks");
    fs::create_dir(&tasks).unwrap();
    let count = 500_000;
    let start = 1_779_000_000;
    big_task_index(&tasks, count, start);
    let access = polling_log(tmp.path(), start, start + count * 6);
    let shown = convert_counting(&["--tasks".as_ref(), tasks.as_ref()], &access, |line| {
        line.starts_with(b"# task without a request: UPID:pve1:")
    });
    assert_eq!(shown, count as usize, "every task is shown once");
    let peak = children_peak_rss();
    assert!(peak < 64 * MB, "peak RSS {} MB", peak / MB);
}

#[test]
fn a_long_journal_is_joined_as_the_log_goes_by_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    // 300,000 logins a second apart (three and a half days) and a log line every 10 minutes
    // over the same span: every entry is one to show, and the journal is 60 MB.
    let count: i64 = 300_000;
    let start: i64 = 1_782_302_400;
    let journal = tmp.path().join("journal.json");
    let mut out = std::io::BufWriter::new(fs::File::create(&journal).unwrap());
    for i in 0..count {
        writeln!(
            out,
            "{{\"__REALTIME_TIMESTAMP\":\"{}\",\"_HOSTNAME\":\"pve1\",\"SYSLOG_IDENTIFIER\":\"pvedaemon\",\"_PID\":\"7\",\"MESSAGE\":\"<root@pam> successful auth for user 'user{}@pve'\"}}",
            (start + i) * 1_000_000,
            i % 1000
        )
        .unwrap();
    }
    out.into_inner().unwrap().sync_all().unwrap();
    let access = polling_log(tmp.path(), start, start + count - 1);
    let logins = convert_counting(
        &["--journal-file".as_ref(), journal.as_ref()],
        &access,
        |line| line.ends_with(b"pvesh create /access/ticket  # from the journal"),
    );
    assert_eq!(logins, count as usize, "every login is shown once");
    // Read whole, the entries took 133 MB (130,368 KiB, the release before).
    let peak = children_peak_rss();
    assert!(peak < 40 * MB, "peak RSS {} MB", peak / MB);
}
