//! Noticing what changed in `/etc/pve`, and keeping what it was before.
//!
//! pmxcfs is a FUSE file system that never notifies, and a change made on another node of the
//! cluster reaches this one without any event (`../shared/docs/pve-sources.md` §3). What it
//! does keep is a version counter per file it tracks, in `.version` (pve-cluster
//! `src/pmxcfs/status.c`, `cfs_create_version_msg`, `memdb_change_array`), and one per guest
//! config in `.vmlist`, bumped on every write. So a look reads those two small files, re-reads
//! only the files whose counter moved, and compares them with the content it kept from the last
//! look. The files pmxcfs keeps no counter for (guest and node firewalls, `nodes/NODE/config`)
//! are compared by their stat (inode, size, modification time). A directory without `.version`
//! (a copy) is compared by stat throughout.
//!
//! Only the tracked files are read, never `priv/`; paths are built from `.vmlist` and directory
//! listings with every component checked to be a plain name, files are opened `O_NOFOLLOW`,
//! regular files only, capped in size. The content kept is the whole file (guest configs are a
//! few KiB; 2,000 guests are a few MiB), counted in [`ConfigWatch::bytes`].

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{plain, read_capped};

/// The largest tracked file kept; a bigger one is named once and left out.
const MAX_FILE: u64 = 4 << 20;
/// `.vmlist` and `.version` of a large cluster are a few hundred KiB.
const MAX_INDEX: u64 = 16 << 20;
/// The most kept of all files together: 2,000 guests are about 1 MiB; past this, files not
/// kept yet are named once and left out.
const MAX_KEPT: usize = 256 << 20;

/// The files with a counter in `.version` that are tracked (ha/manager_status and
/// ha/crm_commands are the HA stack's own state, changed every few seconds; the sdn/*.json and
/// `.running-config` files are SDN's derived state).
const VERSIONED: &[&str] = &[
    "user.cfg",
    "storage.cfg",
    "datacenter.cfg",
    "jobs.cfg",
    "vzdump.cron",
    "replication.cfg",
    "ha/resources.cfg",
    "ha/groups.cfg",
    "ha/rules.cfg",
    "ha/fence.cfg",
    "sdn/vnets.cfg",
    "sdn/zones.cfg",
    "sdn/controllers.cfg",
    "sdn/subnets.cfg",
    "sdn/ipams.cfg",
    "sdn/dns.cfg",
    "sdn/fabrics.cfg",
    "sdn/route-maps.cfg",
    "sdn/prefix-lists.cfg",
    "firewall/cluster.fw",
    "mapping/directory.cfg",
    "mapping/pci.cfg",
    "mapping/usb.cfg",
];

/// One file that is not what it was: `None` for absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileChange {
    /// Relative to `/etc/pve`: `nodes/pve1/qemu-server/100.conf`, `user.cfg`.
    pub(crate) file: String,
    /// The guest, for a guest config.
    pub(crate) vmid: Option<String>,
    pub(crate) lxc: bool,
    pub(crate) old: Option<Vec<u8>>,
    pub(crate) new: Option<Vec<u8>>,
}

/// What a file was when last read: how to tell it changed, and its content.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Kept {
    /// `.version`'s or `.vmlist`'s counter, when there is one.
    version: Option<u64>,
    /// (inode, size, mtime in ns), for the files compared by stat.
    stamp: Option<(u64, u64, i128)>,
    /// The content; the state file keeps it as text (PVE writes its configs as UTF-8).
    text: String,
}

/// What the watcher keeps, as `--state` saves it beside the state file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Saved {
    files: BTreeMap<String, Kept>,
    /// vmid → (file, lxc).
    guests: BTreeMap<String, (String, bool)>,
}

#[derive(Debug)]
pub(crate) struct ConfigWatch {
    dir: PathBuf,
    files: HashMap<String, Kept>,
    /// Where each guest's config is: vmid → (file, lxc).
    guests: HashMap<String, (String, bool)>,
    /// `.vmlist`'s own version at the last look.
    vmlist: Option<u64>,
    /// `.version` and `.vmlist` as last read: a look that finds them unchanged parses nothing.
    version_raw: Option<Vec<u8>>,
    vmlist_raw: Option<Vec<u8>>,
    /// Files named once as too large or unreadable.
    told: std::collections::HashSet<String>,
    /// The bytes kept, for the memory report.
    pub(crate) bytes: usize,
    /// Whether something changed since the last [`ConfigWatch::save`].
    pub(crate) dirty: bool,
}

impl ConfigWatch {
    /// The first look at `dir`: everything tracked is read and kept; nothing is a change yet.
    /// With `saved` (a restart), the first look is a look like any other: what changed while
    /// pverec was stopped comes out of it.
    pub(crate) fn open(dir: PathBuf, saved: Option<Saved>) -> (ConfigWatch, Vec<FileChange>) {
        let mut watch = ConfigWatch {
            dir,
            files: HashMap::new(),
            guests: HashMap::new(),
            vmlist: None,
            version_raw: None,
            vmlist_raw: None,
            told: Default::default(),
            bytes: 0,
            dirty: false,
        };
        match saved {
            Some(saved) => {
                watch.files = saved.files.into_iter().collect();
                watch.guests = saved.guests.into_iter().collect();
                watch.bytes = watch.files.values().map(|k| k.text.len()).sum();
                let changes = watch.look();
                (watch, changes)
            }
            None => {
                watch.look();
                // The first look is what a restart compares with.
                watch.dirty = true;
                (watch, Vec::new())
            }
        }
    }

    /// What the state file keeps.
    pub(crate) fn save(&mut self) -> Saved {
        self.dirty = false;
        Saved {
            files: self
                .files
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            guests: self
                .guests
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// How many files are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.files.len()
    }

    /// One look: the files whose counter or stat moved are read again, and those whose content
    /// differs from what was kept are the changes.
    pub(crate) fn look(&mut self) -> Vec<FileChange> {
        self.look_at(None)
    }

    /// A look for a write request: the counted files and the guests (`.version` and `.vmlist`
    /// unchanged since the last look cost a read and a comparison), and of the files compared
    /// by stat only those in `only` (the request's firewall file, not every guest's; no
    /// directory is listed). `None`: all of them.
    pub(crate) fn look_at(&mut self, only: Option<&[String]>) -> Vec<FileChange> {
        let mut changes = Vec::new();
        let raw = read_capped(&self.dir.join(".version"), MAX_INDEX).ok();
        if raw.is_none() || raw != self.version_raw {
            let versions = raw
                .as_deref()
                .and_then(|r| serde_json::from_slice::<Value>(r).ok())
                .and_then(|v| {
                    v.as_object().map(|o| {
                        o.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                            .collect::<HashMap<String, u64>>()
                    })
                });
            for file in VERSIONED {
                match versions.as_ref().and_then(|v| v.get(*file).copied()) {
                    // pmxcfs counts this file: read it when its counter moved.
                    Some(version) => {
                        self.by_version(file, Some(version), None, false, &mut changes);
                    }
                    None => self.by_stat(file, None, false, &mut changes),
                }
            }
            self.version_raw = raw;
        }
        self.look_guests(&mut changes);
        let unversioned = match only {
            None => self.unversioned(),
            Some(paths) => paths
                .iter()
                .filter(|p| is_unversioned(p) && p.split('/').all(plain))
                .cloned()
                .collect(),
        };
        for file in &unversioned {
            self.by_stat(file, None, false, &mut changes);
        }
        // Files of this kind that are gone (by_stat above saw those looked at).
        let gone: Vec<String> = match only {
            Some(_) => Vec::new(),
            None => self
                .files
                .keys()
                .filter(|f| is_unversioned(f) && !self.dir.join(f).exists())
                .cloned()
                .collect(),
        };
        for file in gone {
            self.forget(&file, None, false, &mut changes);
        }
        if !changes.is_empty() {
            self.dirty = true;
        }
        changes
    }

    /// Guest configs: by `.vmlist`'s per-guest version, or by stat without `.vmlist`.
    fn look_guests(&mut self, changes: &mut Vec<FileChange>) {
        let raw = read_capped(&self.dir.join(".vmlist"), MAX_INDEX).ok();
        if raw.is_some() && raw == self.vmlist_raw {
            return;
        }
        let Some(vmlist) = raw
            .as_deref()
            .and_then(|r| serde_json::from_slice::<Value>(r).ok())
        else {
            for (vmid, file, lxc) in self.listed_guests() {
                self.guests.insert(vmid.clone(), (file.clone(), lxc));
                self.by_stat(&file, Some(&vmid), lxc, changes);
            }
            return;
        };
        self.vmlist_raw = raw;
        let version = vmlist.get("version").and_then(Value::as_u64);
        if version.is_some() && version == self.vmlist {
            return;
        }
        self.vmlist = version;
        let mut now: HashMap<String, (String, bool, Option<u64>)> = HashMap::new();
        if let Some(ids) = vmlist.get("ids").and_then(Value::as_object) {
            for (vmid, guest) in ids {
                let node = guest.get("node").and_then(Value::as_str).unwrap_or("");
                let lxc = match guest.get("type").and_then(Value::as_str) {
                    Some("qemu") => false,
                    Some("lxc") => true,
                    _ => continue,
                };
                if !plain(node) || vmid.is_empty() || !vmid.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                let dir = if lxc { "lxc" } else { "qemu-server" };
                let file = format!("nodes/{node}/{dir}/{vmid}.conf");
                let v = guest.get("version").and_then(Value::as_u64);
                now.insert(vmid.clone(), (file, lxc, v));
            }
        }
        let removed: Vec<(String, (String, bool))> = self
            .guests
            .iter()
            .filter(|(vmid, _)| !now.contains_key(*vmid))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (vmid, (file, lxc)) in removed {
            self.guests.remove(&vmid);
            self.forget(&file, Some(&vmid), lxc, changes);
        }
        for (vmid, (file, lxc, version)) in now {
            match self.guests.get(&vmid).cloned() {
                // Moved to another node (a migration): the same guest, its config elsewhere.
                Some((old_file, _)) if old_file != file => {
                    if let Some(kept) = self.files.remove(&old_file) {
                        self.files.insert(
                            file.clone(),
                            Kept {
                                version: None,
                                ..kept
                            },
                        );
                    }
                }
                _ => {}
            }
            self.guests.insert(vmid.clone(), (file.clone(), lxc));
            match version {
                Some(v) => self.by_version(&file, Some(v), Some(&vmid), lxc, changes),
                None => self.by_stat(&file, Some(&vmid), lxc, changes),
            }
        }
    }

    /// Guest configs found by listing `nodes/*/{qemu-server,lxc}` (a directory without
    /// `.vmlist`).
    fn listed_guests(&self) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        for node in self.list("nodes") {
            for (dir, lxc) in [("qemu-server", false), ("lxc", true)] {
                for name in self.list(&format!("nodes/{node}/{dir}")) {
                    if let Some(vmid) = name.strip_suffix(".conf") {
                        if !vmid.is_empty() && vmid.bytes().all(|b| b.is_ascii_digit()) {
                            out.push((vmid.to_string(), format!("nodes/{node}/{dir}/{name}"), lxc));
                        }
                    }
                }
            }
        }
        out
    }

    /// The files pmxcfs keeps no counter for: guest firewalls, node firewalls and configs.
    fn unversioned(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .list("firewall")
            .into_iter()
            .filter(|n| n.ends_with(".fw") && n != "cluster.fw")
            .map(|n| format!("firewall/{n}"))
            .collect();
        for node in self.list("nodes") {
            for file in ["host.fw", "config"] {
                let path = format!("nodes/{node}/{file}");
                if self.dir.join(&path).is_file() {
                    out.push(path);
                }
            }
        }
        out
    }

    /// The plain names in a directory under `dir` (none for a missing one).
    fn list(&self, sub: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| plain(n))
            .collect();
        names.sort();
        names
    }

    /// A file with a counter: read again when the counter is not the one kept.
    fn by_version(
        &mut self,
        file: &str,
        version: Option<u64>,
        vmid: Option<&str>,
        lxc: bool,
        changes: &mut Vec<FileChange>,
    ) {
        let kept = self.files.get(file);
        if version.is_some() && kept.is_some_and(|k| k.version == version) {
            return;
        }
        if version.is_none() && kept.is_none() && !self.dir.join(file).exists() {
            return;
        }
        self.reread(file, version, None, vmid, lxc, changes);
    }

    /// A file without a counter: read again when its stat is not the one kept.
    fn by_stat(
        &mut self,
        file: &str,
        vmid: Option<&str>,
        lxc: bool,
        changes: &mut Vec<FileChange>,
    ) {
        let stamp = std::fs::symlink_metadata(self.dir.join(file))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| {
                let mtime = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
                (m.ino(), m.size(), mtime)
            });
        let Some(stamp) = stamp else {
            if self.files.contains_key(file) {
                self.forget(file, vmid, lxc, changes);
            }
            return;
        };
        if self.files.get(file).is_some_and(|k| k.stamp == Some(stamp)) {
            return;
        }
        self.reread(file, None, Some(stamp), vmid, lxc, changes);
    }

    fn reread(
        &mut self,
        file: &str,
        version: Option<u64>,
        stamp: Option<(u64, u64, i128)>,
        vmid: Option<&str>,
        lxc: bool,
        changes: &mut Vec<FileChange>,
    ) {
        let data = match read_capped(&self.dir.join(file), MAX_FILE + 1) {
            Ok(data) if data.len() as u64 > MAX_FILE => {
                self.tell(
                    file,
                    &format!("larger than {MAX_FILE} bytes; its changes are not followed"),
                );
                return;
            }
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.forget(file, vmid, lxc, changes);
                return;
            }
            Err(e) => {
                self.tell(file, &e.to_string());
                return;
            }
        };
        let text = String::from_utf8_lossy(&data).into_owned();
        if !self.files.contains_key(file) && self.bytes + text.len() > MAX_KEPT {
            self.tell(
                file,
                &format!("not followed: the {MAX_KEPT} bytes kept of /etc/pve are used up"),
            );
            return;
        }
        let old = self.files.insert(
            file.to_string(),
            Kept {
                version,
                stamp,
                text: text.clone(),
            },
        );
        let old_text = old.map(|k| k.text);
        self.bytes = self.bytes + text.len() - old_text.as_ref().map_or(0, String::len);
        if old_text.as_deref() != Some(text.as_str()) {
            changes.push(FileChange {
                file: file.to_string(),
                vmid: vmid.map(str::to_string),
                lxc,
                old: old_text.map(String::into_bytes),
                new: Some(data),
            });
        }
    }

    fn forget(&mut self, file: &str, vmid: Option<&str>, lxc: bool, changes: &mut Vec<FileChange>) {
        if let Some(kept) = self.files.remove(file) {
            self.bytes -= kept.text.len();
            changes.push(FileChange {
                file: file.to_string(),
                vmid: vmid.map(str::to_string),
                lxc,
                old: Some(kept.text.into_bytes()),
                new: None,
            });
        }
    }

    fn tell(&mut self, file: &str, why: &str) {
        if self.told.insert(file.to_string()) {
            crate::messages::message(&format!("{}: {why}", self.dir.join(file).display()));
        }
    }
}

fn is_unversioned(file: &str) -> bool {
    (file.starts_with("firewall/") && file != "firewall/cluster.fw")
        || (file.starts_with("nodes/") && (file.ends_with("/host.fw") || file.ends_with("/config")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    fn node(dir: &Path) {
        fs::create_dir_all(dir.join("nodes/pve1/qemu-server")).unwrap();
        fs::create_dir_all(dir.join("nodes/pve1/lxc")).unwrap();
        fs::create_dir_all(dir.join("firewall")).unwrap();
        fs::create_dir_all(dir.join("priv")).unwrap();
        fs::write(dir.join("priv/shadow.cfg"), "alice:secret\n").unwrap();
        fs::write(dir.join("user.cfg"), "user:root@pam:1:0:::::\n").unwrap();
        fs::write(
            dir.join("nodes/pve1/qemu-server/100.conf"),
            "memory: 2048\n",
        )
        .unwrap();
        fs::write(
            dir.join(".version"),
            r#"{"starttime": 1, "vmlist": 1, "user.cfg": 1, "storage.cfg": 0}"#,
        )
        .unwrap();
        fs::write(
            dir.join(".vmlist"),
            r#"{"version": 1, "ids": {"100": {"node": "pve1", "type": "qemu", "version": 1}}}"#,
        )
        .unwrap();
    }

    #[test]
    fn a_change_is_seen_when_its_counter_moves_and_only_then() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        node(dir);
        let (mut watch, first) = ConfigWatch::open(dir.to_path_buf(), None);
        assert!(first.is_empty());
        assert_eq!(watch.len(), 2, "user.cfg and the guest; never priv/");
        // Written, but the counter did not move: pmxcfs would have bumped it; not looked at.
        fs::write(
            dir.join("nodes/pve1/qemu-server/100.conf"),
            "memory: 4096\n",
        )
        .unwrap();
        assert!(watch.look().is_empty());
        fs::write(
            dir.join(".vmlist"),
            r#"{"version": 2, "ids": {"100": {"node": "pve1", "type": "qemu", "version": 2}}}"#,
        )
        .unwrap();
        let changes = watch.look();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].file, "nodes/pve1/qemu-server/100.conf");
        assert_eq!(changes[0].vmid.as_deref(), Some("100"));
        assert_eq!(changes[0].old.as_deref(), Some(&b"memory: 2048\n"[..]));
        assert_eq!(changes[0].new.as_deref(), Some(&b"memory: 4096\n"[..]));
        assert!(watch.look().is_empty(), "nothing new");
    }

    #[test]
    fn a_restart_reports_what_changed_meanwhile() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        node(dir);
        let (mut watch, _) = ConfigWatch::open(dir.to_path_buf(), None);
        let saved = serde_json::to_string(&watch.save()).unwrap();
        fs::write(
            dir.join("user.cfg"),
            "user:root@pam:1:0:::::\nuser:bob@pve:1:0:::::\n",
        )
        .unwrap();
        fs::write(dir.join(".version"), r#"{"vmlist": 1, "user.cfg": 2}"#).unwrap();
        let (_, changes) = ConfigWatch::open(dir.to_path_buf(), serde_json::from_str(&saved).ok());
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].file, "user.cfg");
    }

    #[test]
    fn files_without_a_counter_are_compared_by_stat() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        node(dir);
        let (mut watch, _) = ConfigWatch::open(dir.to_path_buf(), None);
        fs::write(
            dir.join("firewall/100.fw"),
            "[RULES]\nIN ACCEPT -p tcp -dport 22\n",
        )
        .unwrap();
        let changes = watch.look();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].file, "firewall/100.fw");
        assert!(changes[0].old.is_none());
        fs::remove_file(dir.join("firewall/100.fw")).unwrap();
        let changes = watch.look();
        assert_eq!(changes.len(), 1);
        assert!(changes[0].new.is_none());
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        node(dir);
        std::os::unix::fs::symlink(dir.join("priv/shadow.cfg"), dir.join("storage.cfg")).unwrap();
        fs::write(
            dir.join(".version"),
            r#"{"vmlist": 1, "user.cfg": 1, "storage.cfg": 1}"#,
        )
        .unwrap();
        let (watch, _) = ConfigWatch::open(dir.to_path_buf(), None);
        assert!(!watch.files.contains_key("storage.cfg"));
        assert!(watch.files.values().all(|k| !k.text.contains("secret")));
    }
}
