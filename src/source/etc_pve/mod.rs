//! Guest names from `/etc/pve` (`../shared/docs/pve-sources.md` §3): people want `web01`, not
//! `100`.
//!
//! `.vmlist` (`{"version":N,"ids":{"100":{"node":"pve1","type":"qemu",…}}}`) says where each
//! guest's config is; the config's `name:` (qemu) or `hostname:` (lxc) line before its first
//! section is the name. Names are looked up when an event is made and cached; the cache is
//! dropped when `.vmlist`'s version changes (looked at no more than once a second). Only
//! `.vmlist` and `nodes/NODE/{qemu-server,lxc}/VMID.conf` are read, with NODE and VMID checked
//! to be plain names, never `priv/`; every file is opened `O_NOFOLLOW`, regular files only, and
//! read no further than a size cap. A name is the guest owner's text: it is only ever shown
//! through the renderers' quoting and escaping.

pub(crate) mod diff;
pub(crate) mod firewall;
pub(crate) mod guest;
pub(crate) mod members;
pub(crate) mod sections;
pub(crate) mod user_cfg;

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) mod watch;

/// Where PVE mounts its cluster file system.
pub(crate) const DEFAULT_DIR: &str = "/etc/pve";
/// `.vmlist` of a large cluster is a few hundred KiB.
const MAX_VMLIST: u64 = 16 << 20;
/// A guest config with its snapshots; only the part before the first section is used.
const MAX_CONFIG: u64 = 1 << 20;
/// The longest name believed (PVE allows DNS names: 63 per label, 255 in all).
const MAX_NAME: usize = 255;
/// How often `.vmlist`'s version is looked at, at most.
const RECHECK: Duration = Duration::from_secs(1);

/// Where a guest's config is, from `.vmlist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    node: String,
    kind: GuestKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GuestKind {
    Qemu,
    Lxc,
}

/// The names of the guests, looked up on demand.
#[derive(Debug)]
pub(crate) struct GuestNames {
    dir: PathBuf,
    version: Option<u64>,
    places: HashMap<String, Place>,
    names: HashMap<String, Option<String>>,
    checked: Option<Instant>,
    told: bool,
}

/// Opens a file under `/etc/pve` as this module reads them.
fn read_capped(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(crate::input::not_regular(file.metadata()?.file_type()));
    }
    let mut data = Vec::new();
    file.take(cap).read_to_end(&mut data)?;
    Ok(data)
}

/// A node name or a VMID that may be a path component: letters, digits, `-`, `_`, `.` (not
/// `.` or `..`).
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `.vmlist`: its version and where each guest's config is.
pub(crate) fn parse_vmlist(data: &[u8]) -> Option<(u64, HashMap<String, Place>)> {
    let value: Value = serde_json::from_slice(data).ok()?;
    let version = value.get("version")?.as_u64()?;
    let mut places = HashMap::new();
    for (vmid, guest) in value.get("ids")?.as_object()? {
        let (Some(node), Some(kind)) = (
            guest.get("node").and_then(Value::as_str),
            guest.get("type").and_then(Value::as_str),
        ) else {
            continue;
        };
        let kind = match kind {
            "qemu" => GuestKind::Qemu,
            "lxc" => GuestKind::Lxc,
            _ => continue,
        };
        if plain(node) && !vmid.is_empty() && vmid.bytes().all(|b| b.is_ascii_digit()) {
            places.insert(
                vmid.clone(),
                Place {
                    node: node.to_string(),
                    kind,
                },
            );
        }
    }
    Some((version, places))
}

/// The `name:` (qemu) or `hostname:` (lxc) of a config, before its first section.
pub(crate) fn config_name(data: &[u8], lxc: bool) -> Option<String> {
    let key = if lxc { "hostname:" } else { "name:" };
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if line.starts_with('[') {
            break;
        }
        if let Some(value) = line.strip_prefix(key) {
            let value = value.trim();
            return (!value.is_empty() && value.len() <= MAX_NAME).then(|| value.to_string());
        }
    }
    None
}

impl GuestNames {
    /// The directory the names are read from.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names from `dir` (`/etc/pve`); nothing is read until a name is asked for.
    pub(crate) fn new(dir: PathBuf) -> GuestNames {
        GuestNames {
            dir,
            version: None,
            places: HashMap::new(),
            names: HashMap::new(),
            checked: None,
            told: false,
        }
    }

    /// Reads `.vmlist` again when it may have changed; the names cached are dropped when its
    /// version did.
    fn refresh(&mut self) {
        if self.checked.is_some_and(|t| t.elapsed() < RECHECK) {
            return;
        }
        self.checked = Some(Instant::now());
        let path = self.dir.join(".vmlist");
        match read_capped(&path, MAX_VMLIST).map(|d| parse_vmlist(&d)) {
            Ok(Some((version, places))) => {
                if self.version != Some(version) {
                    self.version = Some(version);
                    self.places = places;
                    self.names.clear();
                }
            }
            Ok(None) => self.tell(&format!(
                "{}: not a .vmlist pverec can read",
                path.display()
            )),
            Err(e) => self.tell(&crate::messages::os_error(&path, &e)),
        }
    }

    fn tell(&mut self, text: &str) {
        if !self.told {
            self.told = true;
            crate::messages::message(&format!("{text}; guests are shown without their names"));
        }
    }

    /// The name of guest `vmid`, if `/etc/pve` has one.
    pub(crate) fn name(&mut self, vmid: &[u8]) -> Option<String> {
        let vmid = std::str::from_utf8(vmid).ok()?;
        if vmid.is_empty() || !vmid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.refresh();
        if let Some(name) = self.names.get(vmid) {
            return name.clone();
        }
        let name = self.places.get(vmid).and_then(|place| {
            let sub = match place.kind {
                GuestKind::Qemu => "qemu-server",
                GuestKind::Lxc => "lxc",
            };
            let path = self
                .dir
                .join("nodes")
                .join(&place.node)
                .join(sub)
                .join(format!("{vmid}.conf"));
            let data = read_capped(&path, MAX_CONFIG).ok()?;
            config_name(&data, place.kind == GuestKind::Lxc)
        });
        if self.names.len() < 100_000 {
            self.names.insert(vmid.to_string(), name.clone());
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_vmlist_and_the_configs() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(
            d.join(".vmlist"),
            r#"{"version":3,"ids":{"100":{"node":"pve1","type":"qemu","version":1},"200":{"node":"pve2","type":"lxc","version":2},"300":{"node":"../priv","type":"qemu","version":1}}}"#,
        )
        .unwrap();
        std::fs::create_dir_all(d.join("nodes/pve1/qemu-server")).unwrap();
        std::fs::create_dir_all(d.join("nodes/pve2/lxc")).unwrap();
        std::fs::write(
            d.join("nodes/pve1/qemu-server/100.conf"),
            "#web server\ncores: 2\nname: web01\n[snap1]\nname: old\n",
        )
        .unwrap();
        std::fs::write(
            d.join("nodes/pve2/lxc/200.conf"),
            "hostname: db01\nmemory: 512\n",
        )
        .unwrap();
        let mut names = GuestNames::new(d.to_path_buf());
        assert_eq!(names.name(b"100").as_deref(), Some("web01"));
        assert_eq!(names.name(b"200").as_deref(), Some("db01"));
        assert_eq!(
            names.name(b"300"),
            None,
            "a node name that is a path is not followed"
        );
        assert_eq!(names.name(b"999"), None);
        assert_eq!(names.name(b"../x"), None);
    }

    #[test]
    fn a_config_name_is_before_the_first_section() {
        assert_eq!(config_name(b"[PENDING]\nname: x\n", false), None);
        assert_eq!(config_name(b"name: a b\n", false).as_deref(), Some("a b"));
        assert_eq!(config_name(b"name: web\n", true), None);
    }
}
