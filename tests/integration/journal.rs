//! Issue 12: the journal as pverec's fourth source, read in every form a node has it: a real
//! `.journal` file through real `journalctl --file`, a `journalctl -o json` export, rsyslog text
//! with classic and RFC 3339 stamps, a rotated gzip generation. The scenario is
//! tests/data/journal/ (its README says what each entry should come out as).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::journal_util::{fixture_entries, journal_file};
use crate::util::{data, pverec};

fn dir() -> PathBuf {
    data("journal")
}

/// `convert --all --node pve1 ARGS --journal-file FILE… access.log` on the scenario (in its
/// time zone): stdout and stderr.
fn convert(args: &[&str], files: &[&Path]) -> (String, String) {
    let mut cmd = pverec();
    cmd.env("TZ", "Europe/Vienna")
        .current_dir(dir())
        .args(["convert", "--all", "--node", "pve1"])
        .args(args);
    for file in files {
        cmd.arg("--journal-file").arg(file);
    }
    let out = cmd.arg("access.log").output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// JSON records of [`convert`] with the scenario's task directory (or `args`).
fn json(args: &[&str], files: &[&Path]) -> Vec<Value> {
    let args: Vec<&str> = ["-f", "json"].iter().chain(args).copied().collect();
    convert(&args, files)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn records(files: &[&Path]) -> Vec<Value> {
    json(&["--tasks", "tasks"], files)
}

fn commands(files: &[&Path]) -> (String, String) {
    convert(&["--tasks", "tasks"], files)
}

fn at<'r>(records: &'r [Value], time: &str, path: &str) -> Vec<&'r Value> {
    records
        .iter()
        .filter(|r| r["time"] == time && r["path"] == path)
        .collect()
}

/// What the scenario must give, whichever form the journal was read in.
fn check_scenario(records: &[Value]) {
    // alice's login: the log has `-`, the journal the user; process of the worker.
    let login = at(records, "2026-06-24T12:00:05Z", "/access/ticket");
    assert_eq!(login.len(), 1, "{records:#?}");
    assert_eq!(login[0]["user"], "alice@pve");
    assert_eq!(login[0]["outcome"], "success");
    assert_eq!(login[0]["auth"]["kind"], "login");
    assert_eq!(login[0]["process"]["name"], "pvedaemon");
    assert_eq!(login[0]["process"]["pid"], 2201);
    // bob fails twice (extjs 200 and json 401), joined by client and time.
    for time in ["2026-06-24T12:01:13Z", "2026-06-24T12:01:33Z"] {
        let fail = at(records, time, "/access/ticket");
        assert_eq!(fail.len(), 1, "{time}");
        assert_eq!(fail[0]["user"], "bob@pve");
        assert_eq!(fail[0]["source_ip"], "192.0.2.20");
        assert_eq!(fail[0]["outcome"], "failure");
        assert_eq!(fail[0]["auth"]["reason"], "invalid credentials");
    }
    // A user name crafted to look like `msg=` does not fool the reader.
    let mallory = at(records, "2026-06-24T12:02:03Z", "/access/ticket");
    assert_eq!(mallory[0]["user"], "mallory msg=invalid credentials@pve");
    assert_eq!(
        mallory[0]["auth"]["reason"],
        "no such user ('mallory msg=invalid credentials@pve')"
    );
    let carol = at(records, "2026-06-24T12:03:23Z", "/access/ticket");
    assert_eq!(carol[0]["auth"]["reason"], "failed 2nd factor");
    // The config write gets the journal's parameters, in its order.
    let put = at(
        records,
        "2026-06-24T12:05:00Z",
        "/nodes/pve1/qemu/100/config",
    );
    assert_eq!(put[0]["params_source"], "journal");
    assert_eq!(
        put[0]["pvesh"],
        "pvesh set /nodes/pve1/qemu/100/config --cores 4 --delete balloon --memory 8192 --net0 virtio=BC:24:11:00:00:01,bridge=vmbr0"
    );
    // A description with spaces; cipassword stays redacted and the call is not replayable.
    let ci = at(
        records,
        "2026-06-24T12:06:00Z",
        "/nodes/pve1/qemu/100/config",
    );
    assert_eq!(
        ci[0]["params"]["description"],
        "Web server for the team wiki"
    );
    assert_eq!(ci[0]["params"]["cipassword"], "<redacted>");
    assert!(
        ci[0]["not_replayable"]
            .as_str()
            .unwrap()
            .contains("<hidden>")
    );
    // An ambiguous split is not guessed.
    let amb = at(
        records,
        "2026-06-24T12:07:00Z",
        "/nodes/pve1/qemu/101/config",
    );
    assert_eq!(amb[0]["params_source"], "none");
    // Resize and snapshot from their workers' entries.
    let resize = at(
        records,
        "2026-06-24T12:08:00Z",
        "/nodes/pve1/qemu/100/resize",
    );
    assert_eq!(resize[0]["params"]["size"], "+10G");
    let snap = at(
        records,
        "2026-06-24T12:09:00Z",
        "/nodes/pve1/qemu/100/snapshot",
    );
    assert_eq!(snap[0]["params"]["snapname"], "before-upgrade");
    // `qm set` on the shell: an event of its own.
    let cli: Vec<&Value> = records.iter().filter(|r| r["origin"] == "cli").collect();
    let set = cli
        .iter()
        .find(|r| r["class"] == "write")
        .expect("the shell's qm set");
    assert_eq!(set["program"], "qm");
    assert_eq!(set["user"], "root@pam");
    assert_eq!(set["process"]["pid"], 4242);
    assert_eq!(
        set["pvesh"],
        "pvesh set /nodes/pve1/qemu/100/config --memory 4096"
    );
    // `qm start` on the shell: the call it stands for, with its task and outcome.
    let start = cli
        .iter()
        .find(|r| r["task"]["type"] == "qmstart")
        .expect("the shell's qm start");
    assert_eq!(start["program"], "qm");
    assert_eq!(start["class"], "write");
    assert_eq!(start["outcome"], "success");
    assert_eq!(
        start["pvesh"],
        "pvesh create /nodes/pve1/qemu/100/status/start"
    );
    // The backup job's parameters from its task log's first line.
    let backup = at(records, "2026-06-24T12:15:00Z", "/nodes/pve1/vzdump");
    assert_eq!(backup[0]["params_source"], "task_log");
    assert_eq!(
        backup[0]["pvesh"],
        "pvesh create /nodes/pve1/vzdump --compress zstd --mode snapshot --notes-template '{{guestname}}' --notification-mode auto --remove 0 --storage local --vmid 100"
    );
    // Renewals, refused tickets, the console's ticket check.
    let renewal = at(records, "2026-06-24T12:15:05Z", "/access/ticket");
    assert_eq!(renewal[0]["auth"]["kind"], "renewal");
    let refused = at(records, "2026-06-24T12:20:00Z", "/cluster/resources");
    assert_eq!(refused[0]["auth"]["kind"], "ticket");
    assert_eq!(
        refused[0]["auth"]["reason"],
        "permission denied - invalid PVE ticket"
    );
    assert_eq!(
        at(records, "2026-06-24T12:21:00Z", "/version")[0]["auth"],
        Value::Null
    );
    let console = at(records, "2026-06-24T12:25:01Z", "/access/vncticket");
    assert_eq!(console[0]["auth"]["kind"], "console");
}

#[test]
fn a_json_export_gives_logins_parameters_and_shell_work() {
    check_scenario(&records(&[Path::new("entries.json")]));
}

#[test]
fn a_real_journal_file_through_journalctl_gives_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let file = journal_file(tmp.path(), &fixture_entries());
    let from_file = records(&[&file]);
    check_scenario(&from_file);
    assert_eq!(from_file, records(&[Path::new("entries.json")]));
}

/// A copy of a syslog fixture, last written when the scenario ended (classic stamps take their
/// year from it).
fn syslog_copy(tmp: &Path, name: &str) -> PathBuf {
    let copy = tmp.join(name);
    fs::copy(dir().join(name), &copy).unwrap();
    let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_782_304_400);
    fs::File::options()
        .write(true)
        .open(&copy)
        .unwrap()
        .set_modified(end)
        .unwrap();
    copy
}

#[test]
fn syslog_text_in_both_stamp_forms_gives_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let classic = records(&[&syslog_copy(tmp.path(), "syslog")]);
    let rfc3339 = records(&[&syslog_copy(tmp.path(), "syslog.rfc3339")]);
    check_scenario(&classic);
    check_scenario(&rfc3339);
    // Syslog has no PRIORITY and no cursor, nothing pverec shows: the records are the same
    // as from the journal itself.
    let json = records(&[Path::new("entries.json")]);
    assert_eq!(classic, json);
    assert_eq!(rfc3339, json);
}

#[test]
fn a_rotated_gzip_daemon_log_is_read_too() {
    let tmp = tempfile::tempdir().unwrap();
    let rotated = syslog_copy(tmp.path(), "daemon.log.1.gz");
    let recs = records(&[&rotated]);
    let login = at(&recs, "2026-06-24T12:00:05Z", "/access/ticket");
    assert_eq!(login[0]["user"], "alice@pve");
    let put = at(&recs, "2026-06-24T12:05:00Z", "/nodes/pve1/qemu/100/config");
    assert_eq!(put[0]["params_source"], "journal");
    // The generation holds only the entries before 14:06: later lines have no journal.
    let later = at(&recs, "2026-06-24T12:06:00Z", "/nodes/pve1/qemu/100/config");
    assert_eq!(later[0]["params_source"], "none");
}

#[test]
fn the_pvesh_form_has_the_parameters_and_an_ambiguous_split_is_reported() {
    let (out, err) = commands(&[Path::new("entries.json")]);
    assert!(
        out.contains("\npvesh set /nodes/pve1/qemu/100/config --cores 4 --delete balloon --memory 8192 --net0 virtio=BC:24:11:00:00:01,bridge=vmbr0\n"),
        "{out}"
    );
    assert!(
        out.contains("--description 'Web server for the team wiki'"),
        "{out}"
    );
    assert!(
        out.contains("pvesh set /nodes/pve1/qemu/100/config --memory 4096  # on the shell: qm"),
        "{out}"
    );
    assert!(
        err.contains("access.log:11: the journal's parameters of this change are not used"),
        "{err}"
    );
    // The failed logins' users are shown, the invalid UTF-8 one made printable.
    assert!(out.contains("login failed: invalid credentials"), "{out}");
    assert!(!out.as_bytes().contains(&0xc3), "no raw invalid UTF-8");
}

#[test]
fn no_journal_leaves_the_log_alone() {
    let mut cmd = pverec();
    let out = cmd
        .current_dir(dir())
        .args([
            "convert",
            "--all",
            "-f",
            "json",
            "--no-journal",
            "--tasks",
            "tasks",
        ])
        .arg("access.log")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("\"params_source\":\"journal\""));
    assert!(!text.contains("\"origin\":\"cli\""));
}

#[test]
fn without_a_task_directory_the_shells_task_starts_come_from_the_journal() {
    let records = json(&["--no-tasks"], &[Path::new("entries.json")]);
    let start = records
        .iter()
        .find(|r| r["task"]["type"] == "qmstart")
        .expect("qm start from the journal alone");
    assert_eq!(start["origin"], "cli");
    assert_eq!(start["outcome"], "success", "its end entry says OK");
    assert_eq!(
        start["pvesh"],
        "pvesh create /nodes/pve1/qemu/100/status/start"
    );
}

/// `vzdump 100` on the shell: its own program logs the task start, the job line and the end.
#[test]
fn a_backup_on_the_shell_is_shown_as_vzdumps_work() {
    use crate::journal_util::{Entry, micros};
    let tmp = tempfile::tempdir().unwrap();
    let upid = "UPID:pve1:00001300:00226000:6A3BCB00:vzdump:100:root@pam:";
    let mut entries = fixture_entries();
    entries.extend([
        Entry::new(
            micros("2026-06-24T14:18:08+02:00"),
            "vzdump",
            4864,
            format!("<root@pam> starting task {upid}"),
        ),
        Entry::new(
            micros("2026-06-24T14:18:08.2+02:00"),
            "vzdump",
            4864,
            "INFO: starting new backup job: vzdump 100 --storage local --mode stop",
        ),
        Entry::new(
            micros("2026-06-24T14:18:40+02:00"),
            "vzdump",
            4864,
            format!("<root@pam> end task {upid} OK"),
        ),
    ]);
    entries.sort_by_key(|e| e.realtime_us);
    let file = journal_file(tmp.path(), &entries);
    let records = json(&["--no-tasks"], &[&file]);
    let backup = records
        .iter()
        .find(|r| r["task"]["upid"] == upid)
        .expect("the shell's backup task");
    assert_eq!(backup["origin"], "cli");
    assert_eq!(backup["program"], "vzdump");
    assert_eq!(backup["outcome"], "success");
    assert_eq!(backup["user"], "root@pam");
}
