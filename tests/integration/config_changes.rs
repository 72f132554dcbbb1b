//! Issue 14: what changed in /etc/pve, seen by follow and joined with the request that made it.
//!
//! A fake /etc/pve (a plain directory with `.version`, `.vmlist`, `.members` and real-format
//! files, shapes from upstream: qemu-server `src/test/cfg2cmd/*.conf`, pve-access-control
//! `src/test/test1.cfg`) is changed the way pmxcfs shows changes, by a live writer: a file is
//! written under a temporary name and renamed, its counter in `.version` or the guest's in
//! `.vmlist` is bumped, and then the request's access.log line is appended.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::follower::{BACKENDS, Follower, append};

/// The fake pmxcfs: files, their counters, the guests' versions.
struct Pmxcfs {
    dir: PathBuf,
    versions: BTreeMap<String, u64>,
    /// vmid → (type, version)
    guests: BTreeMap<String, (&'static str, u64)>,
    vmlist: u64,
}

const VM100: &str = "\
boot: order=scsi0;net0
cores: 2
memory: 2048
name: web01
net0: virtio=A2:C0:43:77:08:A0,bridge=vmbr0
ostype: l26
scsi0: local-lvm:vm-100-disk-0,size=32G
smbios1: uuid=7b10d7af-b932-4c66-b2c3-3996152ec465
sockets: 1
vmgenid: c773c261-d800-4348-9f5d-167fadd53cf8
";

const USER_CFG: &str = "\
user:root@pam:1:0:::root@example.com:::
user:joe@pve:1:0:::::
group:testgroup1:joe@pve:
role:customer:VM.Audit,VM.PowerMgmt:
acl:1:/vms:@testgroup1:PVEVMUser:
";

const STORAGE_CFG: &str = "\
dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup

lvmthin: local-lvm
\tthinpool data
\tvgname pve
\tcontent rootdir,images
";

impl Pmxcfs {
    fn new(dir: &Path) -> Pmxcfs {
        let dir = dir.join("etc-pve");
        for sub in [
            "nodes/pve1/qemu-server",
            "nodes/pve1/lxc",
            "firewall",
            "priv",
        ] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        fs::write(dir.join("priv/shadow.cfg"), "joe:$5$secret\n").unwrap();
        fs::write(
            dir.join(".members"),
            r#"{"nodename": "pve1", "version": 3, "cluster": {"name": "c", "version": 1, "nodes": 1, "quorate": 1}, "nodelist": {"pve1": {"id": 1, "online": 1, "ip": "192.0.2.1"}}}"#,
        )
        .unwrap();
        let mut fs_ = Pmxcfs {
            dir,
            versions: BTreeMap::new(),
            guests: BTreeMap::new(),
            vmlist: 1,
        };
        fs_.put("user.cfg", USER_CFG);
        fs_.put("storage.cfg", STORAGE_CFG);
        fs_.put("datacenter.cfg", "keyboard: en-us\n");
        fs_.guest("100", "qemu", VM100);
        fs_
    }

    /// As `PVE::Tools::file_set_contents` writes: a temporary file renamed over the file.
    fn write_file(&self, rel: &str, text: &str) {
        let path = self.dir.join(rel);
        let tmp = path.with_extension("tmp.4242");
        fs::write(&tmp, text).unwrap();
        fs::rename(&tmp, &path).unwrap();
    }

    /// A file pmxcfs counts in `.version`.
    fn put(&mut self, rel: &str, text: &str) {
        self.write_file(rel, text);
        *self.versions.entry(rel.to_string()).or_insert(0) += 1;
        self.write_indexes();
    }

    /// A guest's config, its version in `.vmlist` bumped.
    fn guest(&mut self, vmid: &str, kind: &'static str, text: &str) {
        let dir = if kind == "lxc" { "lxc" } else { "qemu-server" };
        self.write_file(&format!("nodes/pve1/{dir}/{vmid}.conf"), text);
        let entry = self.guests.entry(vmid.to_string()).or_insert((kind, 0));
        entry.1 += 1;
        self.vmlist += 1;
        self.write_indexes();
    }

    fn config(&self, vmid: &str) -> String {
        fs::read_to_string(self.dir.join(format!("nodes/pve1/qemu-server/{vmid}.conf"))).unwrap()
    }

    fn write_indexes(&self) {
        let mut version = serde_json::Map::new();
        version.insert("starttime".into(), json!(1_782_300_000));
        version.insert("vmlist".into(), json!(self.vmlist));
        for (file, v) in &self.versions {
            version.insert(file.clone(), json!(v));
        }
        self.write_file(".version", &Value::Object(version).to_string());
        let ids: serde_json::Map<String, Value> = self
            .guests
            .iter()
            .map(|(vmid, (kind, v))| {
                (
                    vmid.clone(),
                    json!({"node": "pve1", "type": kind, "version": v}),
                )
            })
            .collect();
        self.write_file(
            ".vmlist",
            &json!({"version": self.vmlist, "ids": ids}).to_string(),
        );
    }
}

fn line(method: &str, path: &str, status: u16, length: u32) -> String {
    let now = jiff::Timestamp::now().strftime("%d/%m/%Y:%H:%M:%S +0000");
    format!(
        "::ffff:192.0.2.10 - alice@pve [{now}] \"{method} /api2/extjs{path} HTTP/1.1\" {status} {length}\n"
    )
}

fn records(f: &Follower) -> Vec<Value> {
    f.output()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The (section, key, old, new) of a record's changes.
fn changes(record: &Value) -> Vec<(Value, String, Value, Value)> {
    record["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["section"].clone(),
                        c["key"].as_str().unwrap().to_string(),
                        c["old"].clone(),
                        c["new"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn start(dir: &Path, etc: &Path, extra: &[&str]) -> Follower {
    let log = dir.join("access.log");
    if !log.exists() {
        fs::write(&log, "").unwrap();
    }
    let mut args = vec![
        "-f",
        "json",
        "--all",
        "--no-journal",
        "--no-spool",
        "--etc-pve",
    ];
    let etc = etc.to_str().unwrap().to_string();
    let etc: &'static str = Box::leak(etc.into_boxed_str());
    args.push(etc);
    args.extend_from_slice(extra);
    Follower::start(dir, &log, BACKENDS[0], &args)
}

/// Waits for the record of the request at `path` (its `changes` filled in), up to `within`.
fn request_record(f: &Follower, path: &str) -> Value {
    f.wait_until(&format!("the record of {path}"), || {
        records(f).iter().any(|r| r["path"] == path)
    });
    records(f).into_iter().find(|r| r["path"] == path).unwrap()
}

#[test]
fn each_write_gets_the_changes_it_made() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut etc = Pmxcfs::new(dir);
    let f = start(dir, &etc.dir.clone(), &[]);
    let log = dir.join("access.log");

    // Memory and cores edited (PUT …/config is synchronous: the file is written before the
    // answer).
    etc.guest(
        "100",
        "qemu",
        &etc.config("100")
            .replace("cores: 2", "cores: 4")
            .replace("memory: 2048", "memory: 4096"),
    );
    append(&log, &line("PUT", "/nodes/pve1/qemu/100/config", 200, 25));
    let put = request_record(&f, "/nodes/pve1/qemu/100/config");
    let got = changes(&put);
    assert!(
        got.contains(&(Value::Null, "cores".into(), json!("2"), json!("4"))),
        "{put}"
    );
    assert!(
        got.contains(&(Value::Null, "memory".into(), json!("2048"), json!("4096"))),
        "{put}"
    );
    assert_eq!(got.len(), 2, "{put}");
    assert_eq!(put["changes"][0]["file"], "nodes/pve1/qemu-server/100.conf");
    // Its body was not logged: rebuilt from the change.
    assert_eq!(put["params_source"], "config", "{put}");
    assert_eq!(
        put["params"],
        json!({"cores": "4", "memory": "4096"}),
        "{put}"
    );
    assert_eq!(
        put["pvesh"],
        "pvesh set /nodes/pve1/qemu/100/config --cores 4 --memory 4096"
    );

    // A disk added (the config POST of the web UI's "Add hard disk" runs a qmconfig task, so
    // its change may come after the line: here it is there before).
    etc.guest(
        "100",
        "qemu",
        &etc.config("100").replace(
            "scsi0: local-lvm:vm-100-disk-0,size=32G\n",
            "scsi0: local-lvm:vm-100-disk-0,size=32G\nscsi1: local-lvm:vm-100-disk-1,iothread=1,size=16G\n",
        ),
    );
    append(&log, &line("POST", "/nodes/pve1/qemu/100/config", 200, 87));
    let disk = records(&f);
    f.wait_until("the disk's record", || {
        records(&f)
            .iter()
            .filter(|r| r["path"] == "/nodes/pve1/qemu/100/config")
            .count()
            == 2
    });
    let disk = records(&f)
        .into_iter()
        .filter(|r| r["path"] == "/nodes/pve1/qemu/100/config")
        .nth(1)
        .unwrap_or_else(|| panic!("{disk:?}"));
    assert_eq!(
        changes(&disk),
        [(
            Value::Null,
            "scsi1".into(),
            Value::Null,
            json!("local-lvm:vm-100-disk-1,iothread=1,size=16G")
        )],
        "{disk}"
    );

    // A snapshot taken: a section of its own.
    let snap = format!(
        "{}parent: \n\n[before-upgrade]\n{}snaptime: 1782300500\n",
        etc.config("100")
            .replace("vmgenid", "parent: before-upgrade\nvmgenid"),
        etc.config("100")
    );
    etc.guest("100", "qemu", &snap);
    append(
        &log,
        &line("POST", "/nodes/pve1/qemu/100/snapshot", 200, 87),
    );
    let record = request_record(&f, "/nodes/pve1/qemu/100/snapshot");
    assert!(
        changes(&record)
            .iter()
            .any(|c| c.0 == "before-upgrade" && c.1 == "snaptime"),
        "{record}"
    );

    // An ACL set and a user created: records of user.cfg.
    etc.put(
        "user.cfg",
        &format!("{USER_CFG}acl:1:/vms/100:joe@pve:PVEVMAdmin:\n"),
    );
    append(&log, &line("PUT", "/access/acl", 200, 25));
    let acl = request_record(&f, "/access/acl");
    assert!(
        changes(&acl)
            .iter()
            .any(|c| c.0 == "acl" && c.1 == "/vms/100" && c.2.is_null()),
        "{acl}"
    );
    assert_eq!(
        acl["params"],
        json!({"path": "/vms/100", "propagate": "1", "roles": "PVEVMAdmin", "users": "joe@pve"}),
        "{acl}"
    );
    etc.put(
        "user.cfg",
        &format!("{USER_CFG}acl:1:/vms/100:joe@pve:PVEVMAdmin:\nuser:bob@pve:1:0:Bob:::::\n"),
    );
    append(&log, &line("POST", "/access/users", 200, 25));
    let user = request_record(&f, "/access/users");
    assert!(
        changes(&user)
            .iter()
            .any(|c| c.0 == "user" && c.1 == "bob@pve" && c.2.is_null()),
        "{user}"
    );

    // A storage added: a section of storage.cfg.
    etc.put(
        "storage.cfg",
        &format!("{STORAGE_CFG}\nnfs: backup\n\tserver 192.0.2.50\n\texport /srv/backup\n\tpath /mnt/pve/backup\n\tcontent backup\n"),
    );
    append(&log, &line("POST", "/storage", 200, 25));
    let storage = request_record(&f, "/storage");
    assert!(
        changes(&storage)
            .iter()
            .any(|c| c.0 == "nfs: backup" && c.1 == "server" && c.3 == "192.0.2.50"),
        "{storage}"
    );

    // A firewall rule added, then moved (guest firewall: no counter, seen by its stat).
    etc.write_file(
        "firewall/100.fw",
        "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -p tcp -dport 22\n",
    );
    append(
        &log,
        &line("POST", "/nodes/pve1/qemu/100/firewall/rules", 200, 25),
    );
    let rule = request_record(&f, "/nodes/pve1/qemu/100/firewall/rules");
    assert!(
        changes(&rule)
            .iter()
            .any(|c| c.0 == "RULES" && c.1 == "0" && c.3 == "IN ACCEPT -p tcp -dport 22"),
        "{rule}"
    );
    etc.write_file(
        "firewall/100.fw",
        "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -p tcp -dport 443\nIN ACCEPT -p tcp -dport 22\n",
    );
    append(
        &log,
        &line("PUT", "/nodes/pve1/qemu/100/firewall/rules/1", 200, 25),
    );
    let moved = request_record(&f, "/nodes/pve1/qemu/100/firewall/rules/1");
    // By position: rule 0 is now the new one, rule 1 the old one.
    assert!(
        changes(&moved).contains(&(
            json!("RULES"),
            "0".into(),
            json!("IN ACCEPT -p tcp -dport 22"),
            json!("IN ACCEPT -p tcp -dport 443")
        )),
        "{moved}"
    );
    assert!(
        changes(&moved)
            .iter()
            .any(|c| c.0 == "RULES" && c.1 == "1" && c.2.is_null()),
        "{moved}"
    );

    // A VM created: a new config, joined with the create (its vmid is in the body).
    etc.guest(
        "101",
        "qemu",
        "cores: 1\nmemory: 512\nname: new\nscsi0: local-lvm:vm-101-disk-0,size=8G\n",
    );
    append(&log, &line("POST", "/nodes/pve1/qemu", 200, 87));
    let create = request_record(&f, "/nodes/pve1/qemu");
    assert!(
        changes(&create)
            .iter()
            .any(|c| c.1 == "memory" && c.2.is_null() && c.3 == "512"),
        "{create}"
    );
    assert_eq!(
        create["changes"][0]["file"],
        "nodes/pve1/qemu-server/101.conf"
    );
    assert_eq!(create["params_source"], "config", "{create}");
    assert_eq!(create["params"]["vmid"], "101", "{create}");
    assert_eq!(
        create["params"]["scsi0"], "local-lvm:8",
        "allocation form: {create}"
    );
    // Nothing was left over as a change without a request.
    assert!(!records(&f).iter().any(|r| r["event"] == "change"));
}

/// Waits longer than the follower's default: a change no request claims is shown after it
/// waited 10 s for a line, and polls come every 2 s.
fn wait_long(f: &Follower, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "timed out waiting for {what}\n{:#?}\n{}",
            f.output(),
            f.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_change_with_no_request_is_a_record_of_its_own_and_so_is_one_made_while_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut etc = Pmxcfs::new(dir);
    let state = dir.join("state");
    let state_arg: &'static str = Box::leak(state.display().to_string().into_boxed_str());
    let mut f = start(dir, &etc.dir.clone(), &["--state", state_arg]);

    // `qm set` on another node: the config changes, no line comes.
    etc.guest(
        "100",
        "qemu",
        &etc.config("100").replace("memory: 2048", "memory: 8192"),
    );
    wait_long(&f, "the change record", || {
        records(&f).iter().any(|r| r["event"] == "change")
    });
    let change = records(&f)
        .into_iter()
        .find(|r| r["event"] == "change")
        .unwrap();
    assert_eq!(change["origin"], "unattributed");
    assert_eq!(change["class"], "change");
    assert_eq!(
        change["object"],
        json!({"type": "qemu", "id": "100", "name": "web01"})
    );
    assert_eq!(
        changes(&change),
        [(Value::Null, "memory".into(), json!("2048"), json!("8192"))]
    );
    f.stop();
    // The snapshots are beside the state file, private.
    let saved = PathBuf::from(format!("{}.etc-pve", state.display()));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // While pverec is stopped: a storage is removed from storage.cfg.
    etc.put(
        "storage.cfg",
        "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n",
    );
    let f = start(dir, &etc.dir.clone(), &["--state", state_arg]);
    wait_long(&f, "the change made while stopped", || {
        records(&f)
            .iter()
            .any(|r| r["event"] == "change" && r["file"] == "storage.cfg")
    });
    let meanwhile = records(&f)
        .into_iter()
        .find(|r| r["file"] == "storage.cfg")
        .unwrap();
    assert!(
        changes(&meanwhile)
            .iter()
            .any(|c| c.0 == "lvmthin: local-lvm" && c.1 == "vgname" && c.3.is_null()),
        "{meanwhile}"
    );
    // The old change is not reported again.
    assert_eq!(
        records(&f)
            .iter()
            .filter(|r| r["event"] == "change")
            .count(),
        1
    );
}

#[test]
fn secrets_in_a_change_are_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut etc = Pmxcfs::new(dir);
    let f = start(dir, &etc.dir.clone(), &[]);
    let log = dir.join("access.log");
    etc.guest(
        "100",
        "qemu",
        &format!(
            "{}cipassword: $5$rounds=5000$abcdefgh$0123456789\nciuser: admin\n",
            etc.config("100")
        ),
    );
    append(&log, &line("PUT", "/nodes/pve1/qemu/100/config", 200, 25));
    let put = request_record(&f, "/nodes/pve1/qemu/100/config");
    let text = put.to_string();
    assert!(!text.contains("abcdefgh"), "{text}");
    assert!(
        changes(&put)
            .iter()
            .any(|c| c.1 == "cipassword" && c.3 == "<redacted>")
    );
    assert!(
        changes(&put)
            .iter()
            .any(|c| c.1 == "ciuser" && c.3 == "admin")
    );
}

#[test]
fn class_change_shows_only_the_changes_no_request_explains() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut etc = Pmxcfs::new(dir);
    let log = dir.join("access.log");
    fs::write(&log, "").unwrap();
    let etc_dir = etc.dir.display().to_string();
    let f = Follower::start(
        dir,
        &log,
        BACKENDS[0],
        &[
            "-f",
            "json",
            "--class",
            "change",
            "--no-journal",
            "--no-spool",
            "--etc-pve",
            &etc_dir,
        ],
    );
    // A change with its request: the request is not of class change, and its change is its.
    etc.put("datacenter.cfg", "keyboard: de\n");
    append(&log, &line("PUT", "/cluster/options", 200, 25));
    // Then one no request explains.
    etc.guest(
        "100",
        "qemu",
        &etc.config("100").replace("cores: 2", "cores: 8"),
    );
    wait_long(&f, "the change record", || !records(&f).is_empty());
    let all = records(&f);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0]["file"], "nodes/pve1/qemu-server/100.conf");
    assert_eq!(all[0]["origin"], "unattributed");

    // POST …/config runs a qmconfig task, which writes the config after the answer: the change
    // comes after the line, and is that request's.
    append(&log, &line("POST", "/nodes/pve1/qemu/100/config", 200, 87));
    etc.guest(
        "100",
        "qemu",
        &etc.config("100").replace("memory: 2048", "memory: 1024"),
    );
    wait_long(&f, "the task's change", || records(&f).len() == 2);
    let late = &records(&f)[1];
    assert_eq!(late["origin"], "request", "{late}");
    assert_eq!(late["request"]["line"], 2, "{late}");
    // The body that line did not have, rebuilt from the change its task made.
    assert_eq!(late["params_source"], "config", "{late}");
    assert_eq!(late["params"], json!({"memory": "1024"}), "{late}");
    assert_eq!(
        late["pvesh"],
        "pvesh create /nodes/pve1/qemu/100/config --memory 1024"
    );
    assert_eq!(
        changes(late),
        [(Value::Null, "memory".into(), json!("2048"), json!("1024"))]
    );
}

#[test]
fn the_script_says_what_each_command_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut etc = Pmxcfs::new(dir);
    let log = dir.join("access.log");
    fs::write(&log, "").unwrap();
    let etc_dir = etc.dir.display().to_string();
    let f = Follower::start(
        dir,
        &log,
        BACKENDS[0],
        &[
            "-f",
            "script",
            "--no-journal",
            "--no-spool",
            "--etc-pve",
            &etc_dir,
        ],
    );
    etc.guest(
        "100",
        "qemu",
        &etc.config("100").replace("cores: 2", "cores: 4"),
    );
    append(&log, &line("PUT", "/nodes/pve1/qemu/100/config", 200, 25));
    f.wait_until("the command and its change", || {
        f.output().iter().any(|l| l == "#   changed cores: 2 -> 4")
    });
    let out = f.output();
    let command = out
        .iter()
        .position(|l| l.starts_with("pvesh set /nodes/pve1/qemu/100/config --cores 4"))
        .unwrap_or_else(|| panic!("{out:#?}"));
    assert_eq!(out[command + 1], "#   changed cores: 2 -> 4", "{out:#?}");
}

#[test]
fn without_etc_pve_nothing_is_watched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut etc = Pmxcfs::new(dir);
    let log = dir.join("access.log");
    fs::write(&log, "").unwrap();
    let f = Follower::start(
        dir,
        &log,
        BACKENDS[0],
        &["-f", "json", "--no-journal", "--no-etc-pve"],
    );
    etc.guest(
        "100",
        "qemu",
        &etc.config("100").replace("cores: 2", "cores: 4"),
    );
    append(&log, &line("PUT", "/nodes/pve1/qemu/100/config", 200, 25));
    let put = request_record(&f, "/nodes/pve1/qemu/100/config");
    assert!(put.get("changes").is_none(), "{put}");
    assert_eq!(put["params_source"], "none");
    // Nothing of /etc/pve is open, and follow sleeps without a timer (no poll of /etc/pve).
    assert!(!f.has_open(&etc.dir.join(".vmlist")));
}

#[test]
fn a_write_held_for_its_outcome_keeps_its_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut etc = Pmxcfs::new(dir);
    let tasks = dir.join("tasks");
    fs::create_dir(&tasks).unwrap();
    fs::write(tasks.join("index"), "").unwrap();
    fs::write(tasks.join("active"), "").unwrap();
    let log = dir.join("access.log");
    fs::write(&log, "").unwrap();
    let etc_dir = etc.dir.display().to_string();
    let tasks_dir = tasks.display().to_string();
    // --outcome holds a line whose task still runs until the task ends.
    let f = Follower::start(
        dir,
        &log,
        BACKENDS[0],
        &[
            "-f",
            "json",
            "--outcome",
            "success",
            "--no-journal",
            "--no-spool",
            "--tasks",
            &tasks_dir,
            "--etc-pve",
            &etc_dir,
        ],
    );
    let now = jiff::Timestamp::now().as_second();
    let upid = format!("UPID:pve1:00004E02:01A2C9C0:{now:08X}:qmconfig:100:alice@pve:");
    fs::write(tasks.join("active.tmp"), format!("{upid} 0\n")).unwrap();
    fs::rename(tasks.join("active.tmp"), tasks.join("active")).unwrap();
    etc.guest(
        "100",
        "qemu",
        &etc.config("100").replace("cores: 2", "cores: 6"),
    );
    append(
        &log,
        &line(
            "POST",
            "/nodes/pve1/qemu/100/config",
            200,
            (upid.len() + 23) as u32,
        ),
    );
    // A line after it, shown at once (a synchronous PUT): the POST before it was read, held.
    append(&log, &line("PUT", "/nodes/pve1/qemu/101/config", 200, 25));
    request_record(&f, "/nodes/pve1/qemu/101/config");
    assert_eq!(records(&f).len(), 1, "the POST is held until its task ends");
    // The task ends: the held line is shown, with the change it claimed before.
    fs::write(tasks.join("index"), format!("{upid} {:08X} OK\n", now + 1)).unwrap();
    fs::write(
        tasks.join("active.tmp"),
        format!("{upid} 1 {:08X} OK\n", now + 1),
    )
    .unwrap();
    fs::rename(tasks.join("active.tmp"), tasks.join("active")).unwrap();
    let record = request_record(&f, "/nodes/pve1/qemu/100/config");
    assert_eq!(record["outcome"], "success", "{record}");
    assert_eq!(
        changes(&record),
        [(Value::Null, "cores".into(), json!("2"), json!("6"))],
        "{record}"
    );
}

/// follow in `format` (ECS or OCSF, whose documents hold the pverec record at `record`, a JSON
/// pointer): a change no request explains, then a write and the change it made. The documents,
/// once both are there.
fn a_change_and_a_write(format: &str, record: &str) -> Vec<Value> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut etc = Pmxcfs::new(dir);
    let log = dir.join("access.log");
    fs::write(&log, "").unwrap();
    let etc_dir = etc.dir.display().to_string();
    let args = [
        "-f",
        format,
        "--all",
        "--no-journal",
        "--no-spool",
        "--etc-pve",
        &etc_dir,
    ];
    let f = Follower::start(dir, &log, BACKENDS[0], &args);
    let field = |doc: &Value, key: &str| doc.pointer(&format!("{record}/{key}")).cloned();
    etc.guest(
        "100",
        "qemu",
        &etc.config("100").replace("memory: 2048", "memory: 8192"),
    );
    wait_long(&f, "the change's document", || {
        records(&f)
            .iter()
            .any(|r| field(r, "event") == Some(json!("change")))
    });
    // As PVE does it: the config is written, then the answer goes out and is logged.
    etc.guest(
        "100",
        "qemu",
        &etc.config("100").replace("cores: 2", "cores: 4"),
    );
    append(&log, &line("PUT", "/nodes/pve1/qemu/100/config", 200, 25));
    wait_long(&f, "the write's document with its change", || {
        records(&f).iter().any(|r| {
            field(r, "action") == Some(json!("update_vm"))
                && field(r, "changes").is_some_and(|c| c.is_array())
        })
    });
    records(&f)
}

#[test]
fn a_change_and_a_write_with_its_changes_are_ecs_documents() {
    let docs = a_change_and_a_write("ecs", "/proxmox");
    for doc in &docs {
        crate::ecs::check_ecs(doc);
    }
    let change = docs
        .iter()
        .find(|r| r["proxmox"]["event"] == "change")
        .unwrap();
    assert_eq!(change["event"]["category"], json!(["configuration"]));
    assert_eq!(change["event"]["type"], json!(["change"]));
    let write = docs
        .iter()
        .find(|r| r["proxmox"]["action"] == "update_vm")
        .unwrap();
    assert_eq!(
        write["url"]["path"],
        "/api2/extjs/nodes/pve1/qemu/100/config"
    );
    assert_eq!(write["event"]["type"], json!(["change"]));
}

#[test]
fn a_change_and_a_write_with_its_changes_are_ocsf_events() {
    let defs = crate::ocsf::defs();
    let docs = a_change_and_a_write("ocsf", "/unmapped/proxmox");
    for doc in &docs {
        crate::ocsf::check_ocsf(doc, &defs);
    }
    let change = docs
        .iter()
        .find(|r| r["unmapped"]["proxmox"]["event"] == "change")
        .unwrap();
    assert_eq!(change["class_uid"], 1001, "{change}");
    assert_eq!(change["type_uid"], 100103, "{change}");
    assert_eq!(
        change["file"]["path"], "/etc/pve/nodes/pve1/qemu-server/100.conf",
        "{change}"
    );
    assert_eq!(change["file"]["name"], "100.conf", "{change}");
    assert_eq!(change["device"]["hostname"], "pve1", "{change}");
    assert!(
        change["file_diff"]
            .as_str()
            .is_some_and(|d| d.contains("memory: 2048 -> 8192")),
        "{change}"
    );
    let write = docs
        .iter()
        .find(|r| r["unmapped"]["proxmox"]["action"] == "update_vm")
        .unwrap();
    assert_eq!(write["type_uid"], 600303, "{write}");
    assert_eq!(
        write["http_request"]["url"]["path"],
        "/api2/extjs/nodes/pve1/qemu/100/config"
    );
    assert_eq!(write["resources"][0]["uid"], "qemu/100", "{write}");
}
