//! The body of a config write rebuilt from the change it made (issue 14, item 3): when neither
//! the spool nor the journal gave a `PUT …/config` its parameters, the file it changed under
//! `/etc/pve` still tells what was asked, and a replay without them is no equivalent at all.
//!
//! [`rebuild`] takes the call (template, method, path), the file's content before and after it
//! and the watcher's diff, and gives the parameters that, sent to the same endpoint on the
//! before state, make the after state (the model replay tests below check exactly that). What it
//! rebuilds, per endpoint (the README's table says the same):
//!
//! - guest config `PUT`/`POST /nodes/{node}/qemu/{vmid}/config`, `PUT …/lxc/{vmid}/config`:
//!   changed keys of the main section and of `[PENDING]` / `[pve:pending]` as options, keys
//!   removed (or newly in the pending `delete:`) as `delete=a,b` (`force=1` for a `!key`), a
//!   pending change that went away unapplied as `revert`. What PVE derives is left out: `unusedN`
//!   entries of detached or re-attached disks, `digest`, snapshot and lock bookkeeping,
//!   `[special:cloudinit]`. A new disk is given back in allocation form, a new NIC without its
//!   generated MAC (see [`new_volume_request`], [`strip_generated_mac`]);
//! - guest create `POST /nodes/{node}/qemu`, `POST …/lxc`: `vmid` and the keys of the new
//!   config without what PVE generates (qemu-server `src/PVE/API2/Qemu.pm` `create_vm`: `meta`,
//!   `vmgenid`, the `smbios1` uuid, MACs; disks as above);
//! - `user.cfg` (pve-access-control `src/PVE/AccessControl.pm` `parse_user_config` /
//!   `write_user_config`): ACL set and delete, user, group, role create and update, pool create
//!   and update;
//! - `storage.cfg` (pve-common `src/PVE/SectionConfig.pm`): storage add and update;
//! - firewall files (pve-firewall `src/PVE/Firewall.pm` `parse_fw_rule`, `$format_rules`;
//!   `src/PVE/API2/Firewall/Rules.pm`): rule add (always at position 0), update, move
//!   (`moveto`) and delete, for the cluster, node and guest firewalls.
//!
//! Secrets are never rebuilt: a password is not in these files at all (`priv/` is never read),
//! and what is (`cipassword`'s hash, a user's `keys`) is named in [`Rebuilt::not_rebuilt`]
//! instead of given. Values are the files' text, so whatever shows or runs them must redact and
//! quote them like every other parameter.
//!
//! The files are read with [`crate::source::etc_pve`]'s parsers, the ones the diff uses, so a
//! rebuilt body and the `changes` it stands beside agree on what the file says. Everything here
//! is pure and linear in the files' sizes, takes any bytes (UTF-8 lossy) and never panics.

use std::collections::{BTreeMap, BTreeSet};

use crate::source::etc_pve::diff::{self, Change, Format, decode_text};
use crate::source::etc_pve::{firewall as fw, guest, sections, user_cfg};

/// A call's parameters, rebuilt from the change it made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Rebuilt {
    /// `(name, value)` sorted by name, as pverec renders any body; the path's own parameters
    /// (`node`, `vmid` of a config write…) are not among them, a create's `vmid` and a
    /// storage's `storage` and `type` are.
    pub(crate) params: Vec<(String, String)>,
    /// Parameters the call may have had whose value the files do not tell (a password), or
    /// keys whose value is not given back (a hash of one): a replay lacks them.
    pub(crate) not_rebuilt: Vec<String>,
}

impl Rebuilt {
    fn of(params: BTreeMap<String, String>, not_rebuilt: BTreeSet<String>) -> Rebuilt {
        Rebuilt {
            params: params.into_iter().collect(),
            not_rebuilt: not_rebuilt.into_iter().collect(),
        }
    }
}

/// The parameters of a config write, rebuilt from its effect on `file` (relative to /etc/pve,
/// as the watcher names it): `before` and `after` are the file's content around the call
/// (empty when it did not exist), `changes` the watcher's diff of the two: no change, nothing
/// to rebuild; the body itself comes from the whole files, which a diff cut at
/// [`crate::source::etc_pve::diff::MAX_CHANGES`] does not hurt. `template` is the
/// call's API path template (`/nodes/{node}/qemu/{vmid}/config`), `path` its path as events
/// carry it (decoded, with or without `/api2/FMT`).
///
/// `None` when the endpoint is not one this knows, the file is not the one it writes, nothing
/// changed, or the change is not one such call could have made (two ACL paths at once, a rule
/// moved and edited): a guess is worse than no body.
pub(crate) fn rebuild(
    template: &str,
    method: &str,
    path: &[u8],
    file: &str,
    before: &[u8],
    after: &[u8],
    changes: &[Change],
) -> Option<Rebuilt> {
    if changes.is_empty() || changes.iter().any(|c| c.file != file) {
        return None;
    }
    let vars = path_vars(template, path)?;
    let var = |name: &str| var(&vars, name);
    let rebuilt = match (method, template) {
        ("PUT" | "POST", "/nodes/{node}/qemu/{vmid}/config")
        | ("PUT", "/nodes/{node}/lxc/{vmid}/config") => {
            let lxc = template.contains("/lxc/");
            let vmid = var("vmid")?;
            (guest_file(file, lxc)? == vmid).then_some(())?;
            guest_update(Kind::of(lxc), vmid, before, after)
        }
        ("POST", "/nodes/{node}/qemu" | "/nodes/{node}/lxc") => {
            let lxc = template.ends_with("/lxc");
            let vmid = guest_file(file, lxc)?;
            guest_create(Kind::of(lxc), vmid, before, after)
        }
        _ if file == "user.cfg" => user_cfg(template, method, &vars, before, after),
        ("POST", "/storage") | ("PUT", "/storage/{storage}") if file == "storage.cfg" => {
            storage(var("storage"), before, after)
        }
        _ if template.contains("/firewall/rules") && firewall_file(template, &vars, file) => {
            firewall(method, var("pos"), before, after)
        }
        _ => None,
    }?;
    takes_all(template, method, path, &rebuilt).then_some(rebuilt)
}

/// Whether the endpoint takes every rebuilt parameter as an option (the API schema,
/// [`crate::api`]): a change no call of it can make (a storage's `path`, which
/// `PUT /storage/{storage}` refuses) was not made by it alone, and is not given a body.
fn takes_all(template: &str, method: &str, path: &[u8], rebuilt: &Rebuilt) -> bool {
    let segments: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|s| !s.is_empty())
        .collect();
    let segments = match segments.as_slice() {
        [b"api2", _, rest @ ..] => rest,
        all => all,
    };
    let Some(matched) = crate::api::match_path(segments) else {
        return false;
    };
    let Some(endpoint) = matched.template.endpoint(method.as_bytes()) else {
        return false;
    };
    matched.template.path() == template
        && rebuilt.params.iter().all(|(name, _)| {
            endpoint
                .param(name.as_bytes())
                .is_some_and(|p| !p.in_path())
        })
}

/// A template's `{var}`s and their values in the call's path.
type Vars = BTreeMap<String, String>;

fn var<'v>(vars: &'v Vars, name: &str) -> Option<&'v str> {
    vars.get(name).map(String::as_str)
}

/// The values of a template's `{var}`s in a path. The path may carry its `/api2/FMT` prefix.
fn path_vars(template: &str, path: &[u8]) -> Option<Vars> {
    let text = String::from_utf8_lossy(path);
    let mut segments: Vec<&str> = text.split('/').filter(|s| !s.is_empty()).collect();
    if segments.first() == Some(&"api2") && segments.len() >= 2 {
        segments.drain(..2);
    }
    let names: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    if names.len() != segments.len() {
        return None;
    }
    let mut vars = BTreeMap::new();
    for (name, segment) in names.iter().zip(&segments) {
        match name.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            Some(var) => {
                vars.insert(var.to_owned(), (*segment).to_owned());
            }
            None if name == segment => {}
            None => return None,
        }
    }
    Some(vars)
}

/// The VMID of a guest config's path as the watcher names it (`nodes/NODE/qemu-server/VMID.conf`,
/// `nodes/NODE/lxc/VMID.conf`).
fn guest_file(file: &str, lxc: bool) -> Option<&str> {
    let dir = if lxc { "lxc" } else { "qemu-server" };
    let parts: Vec<&str> = file.split('/').collect();
    let (parent, name) = match parts.as_slice() {
        ["nodes", _, parent, name] => (*parent, *name),
        _ => return None,
    };
    let vmid = name.strip_suffix(".conf")?;
    (parent == dir && !vmid.is_empty() && vmid.bytes().all(|b| b.is_ascii_digit())).then_some(vmid)
}

/// Whether a firewall file is the one a rules endpoint writes: `firewall/cluster.fw`,
/// `nodes/NODE/host.fw`, `firewall/VMID.fw` (pve-firewall `src/PVE/Firewall.pm`).
fn firewall_file(template: &str, vars: &Vars, file: &str) -> bool {
    let var = |name: &str| var(vars, name);
    let base = template.split("/firewall/rules").next().unwrap_or_default();
    match base {
        "/cluster" => file == "firewall/cluster.fw",
        "/nodes/{node}" => var("node").is_some_and(|node| file == format!("nodes/{node}/host.fw")),
        "/nodes/{node}/qemu/{vmid}" | "/nodes/{node}/lxc/{vmid}" => {
            var("vmid").is_some_and(|vmid| file == format!("firewall/{vmid}.fw"))
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Guest configs

/// What differs between a VM's and a container's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kind {
    lxc: bool,
}

impl Kind {
    fn of(lxc: bool) -> Kind {
        Kind { lxc }
    }

    /// The pending section's name: qemu-server `src/PVE/QemuServer.pm` `parse_vm_config`,
    /// pve-container `src/PVE/LXC/Config.pm` `parse_pct_config`.
    fn pending(self) -> &'static str {
        if self.lxc { "pve:pending" } else { "PENDING" }
    }

    /// A key that holds a volume: qemu drives (qemu-server `src/PVE/QemuServer/Drive.pm`
    /// `is_valid_drivename`), container `rootfs` and `mpN`.
    fn is_disk(self, key: &str) -> bool {
        if self.lxc {
            return key == "rootfs" || indexed(key, "mp");
        }
        key == "efidisk0"
            || key == "tpmstate0"
            || ["ide", "sata", "scsi", "virtio"]
                .iter()
                .any(|base| indexed(key, base))
    }

    /// The volume of a disk key's value: its first option when that has no `=`, else `file=`
    /// (qemu) / `volume=` (lxc).
    fn volume(self, value: &str) -> Option<String> {
        let named = if self.lxc { "volume" } else { "file" };
        let first = value.split(',').next()?;
        if !first.contains('=') {
            return (!first.is_empty()).then(|| first.to_owned());
        }
        value
            .split(',')
            .find_map(|o| o.strip_prefix(named).and_then(|v| v.strip_prefix('=')))
            .map(str::to_owned)
    }
}

/// `key` is `base` followed by a decimal index (`scsi0`, `mp12`).
fn indexed(key: &str, base: &str) -> bool {
    key.strip_prefix(base)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A guest config as sections of ordered `key: value` pairs; the main section (name `None`)
/// first, even when empty; `description` decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct GuestConf {
    pub(crate) sections: Vec<Section>,
}

/// A section's name (`None`: the main one) and its `key: value` pairs in file order.
pub(crate) type Section = (Option<String>, Vec<(String, String)>);

impl GuestConf {
    /// Reads a guest config as qemu-server `parse_vm_config` / pve-container
    /// `parse_pct_config` do ([`guest::parse_guest_as`]).
    fn parse(kind: Kind, data: &[u8]) -> GuestConf {
        let config = guest::parse_guest_as(data, kind.lxc);
        let mut sections: Vec<Section> = config
            .sections
            .into_iter()
            .map(|section| (section.name, section.keys))
            .collect();
        if sections.first().is_none_or(|(name, _)| name.is_some()) {
            sections.insert(0, (None, Vec::new()));
        }
        GuestConf { sections }
    }

    /// A section by name (`None`: the main one).
    pub(crate) fn section(&self, name: Option<&str>) -> BTreeMap<String, String> {
        self.sections
            .iter()
            .filter(|(n, _)| n.as_deref() == name)
            .flat_map(|(_, keys)| keys.iter().cloned())
            .collect()
    }

    /// Every volume the config names anywhere (any section, disks and `unusedN`).
    fn volumes(&self, kind: Kind) -> BTreeSet<String> {
        self.sections
            .iter()
            .flat_map(|(_, keys)| keys.iter())
            .filter(|(key, _)| kind.is_disk(key) || indexed(key, "unused"))
            .filter_map(|(_, value)| kind.volume(value))
            .collect()
    }
}

/// Keys a guest config write never asks for: PVE writes them itself (`digest` is not even
/// stored, `parent`/`snaptime`/`vmstate`/`running*` are snapshot and suspend bookkeeping,
/// `lock` a running task's, `meta` the creation's), or the API cannot set them (raw `lxc.*`).
fn derived_key(key: &str) -> bool {
    matches!(
        key,
        "digest"
            | "parent"
            | "snaptime"
            | "snapstate"
            | "vmstate"
            | "lock"
            | "meta"
            | "runningmachine"
            | "runningcpu"
            | "running-nets-host-mtu"
    ) || key.starts_with("lxc.")
}

/// Keys whose stored value must not be given back ([`diff::is_secret_key`]): `cipassword` is
/// stored as a crypt hash (qemu-server `src/PVE/API2/Qemu.pm` `$update_vm_api`).
fn withheld_key(kind: Kind, key: &str) -> bool {
    diff::is_secret_key(Format::Guest { lxc: kind.lxc }, None, key)
}

/// The parameters of a guest config update: main-section and pending changes.
fn guest_update(kind: Kind, vmid: &str, before: &[u8], after: &[u8]) -> Option<Rebuilt> {
    let old = GuestConf::parse(kind, before);
    let new = GuestConf::parse(kind, after);
    let volumes = old.volumes(kind);
    let new_volumes = new.volumes(kind);
    let (old_main, new_main) = (old.section(None), new.section(None));
    let pending = kind.pending();
    let (old_pending, new_pending) = (old.section(Some(pending)), new.section(Some(pending)));
    let known = |key: &str| old_main.contains_key(key) || old_pending.contains_key(key);

    let mut params = BTreeMap::new();
    let mut not_rebuilt = BTreeSet::new();
    let mut delete: BTreeSet<String> = BTreeSet::new();
    let mut revert: BTreeSet<String> = BTreeSet::new();
    let mut force = false;
    let mut set = |key: &str, value: &str, params: &mut BTreeMap<String, String>| {
        if withheld_key(kind, key) {
            not_rebuilt.insert(key.to_owned());
        } else {
            let value = guest_value(kind, vmid, key, value, &volumes, known(key));
            params.insert(key.to_owned(), value);
        }
    };

    for key in keys_of(&old_main, &new_main) {
        if derived_key(&key) {
            continue;
        }
        match (old_main.get(&key), new_main.get(&key)) {
            // An unusedN that appears is a disk detached or replaced by this call.
            (_, Some(value)) if old_main.get(&key) != Some(value) && !indexed(&key, "unused") => {
                set(&key, value, &mut params);
            }
            (Some(value), None) => {
                // An unusedN that goes because its volume was attached again is no delete.
                let attached = indexed(&key, "unused")
                    && kind.volume(value).is_some_and(|v| {
                        new_main.iter().any(|(k, val)| {
                            kind.is_disk(k) && kind.volume(val).as_deref() == Some(v.as_str())
                        })
                    });
                // A disk of its own whose volume is gone from the config was destroyed, not
                // detached to unusedN: `force` (Qemu.pm `vmconfig_delete_or_detach_drive`).
                let destroyed = kind.is_disk(&key)
                    && !value.split(',').any(|o| o == "media=cdrom")
                    && kind
                        .volume(value)
                        .is_some_and(|v| owned_volume(&v, vmid) && !new_volumes.contains(&v));
                force |= destroyed;
                if !attached {
                    delete.insert(key);
                }
            }
            _ => {}
        }
    }

    let pending_deletes = |conf: &BTreeMap<String, String>| -> BTreeMap<String, bool> {
        conf.get("delete")
            .map(|list| {
                split_list(list)
                    .into_iter()
                    .map(|k| match k.strip_prefix('!') {
                        Some(k) => (k.to_owned(), true),
                        None => (k, false),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old_deletes, new_deletes) = (pending_deletes(&old_pending), pending_deletes(&new_pending));
    for (key, forced) in &new_deletes {
        if old_deletes.get(key) != Some(forced) {
            delete.insert(key.clone());
            force |= forced;
        }
    }
    for key in old_deletes.keys() {
        let still_there = new_main.contains_key(key) && new_main.get(key) == old_main.get(key);
        if !new_deletes.contains_key(key) && still_there && !new_pending.contains_key(key) {
            revert.insert(key.clone());
        }
    }
    for key in keys_of(&old_pending, &new_pending) {
        if key == "delete" || derived_key(&key) {
            continue;
        }
        match (old_pending.get(&key), new_pending.get(&key)) {
            (_, Some(value))
                if old_pending.get(&key) != Some(value) && !indexed(&key, "unused") =>
            {
                set(&key, value, &mut params);
            }
            (Some(value), None) => {
                let applied = new_main.get(&key) == Some(value);
                if !applied && !delete.contains(&key) && !new_deletes.contains_key(&key) {
                    revert.insert(key);
                }
            }
            _ => {}
        }
    }
    if !delete.is_empty() {
        params.insert("delete".to_owned(), join(&delete));
    }
    if force {
        params.insert("force".to_owned(), "1".to_owned());
    }
    if !revert.is_empty() {
        params.insert("revert".to_owned(), join(&revert));
    }
    (!params.is_empty() || !not_rebuilt.is_empty()).then(|| Rebuilt::of(params, not_rebuilt))
}

/// The parameters of a guest create: the new config's main section without what PVE made.
fn guest_create(kind: Kind, vmid: &str, before: &[u8], after: &[u8]) -> Option<Rebuilt> {
    if !GuestConf::parse(kind, before).section(None).is_empty() {
        return None;
    }
    let new = GuestConf::parse(kind, after);
    let main = new.section(None);
    if main.is_empty() {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut not_rebuilt = BTreeSet::new();
    params.insert("vmid".to_owned(), vmid.to_owned());
    let none = BTreeSet::new();
    for (key, value) in &main {
        if derived_key(key) || indexed(key, "unused") {
            continue;
        }
        if withheld_key(kind, key) {
            not_rebuilt.insert(key.clone());
            continue;
        }
        if !kind.lxc && key == "vmgenid" && is_uuid(value) {
            continue; // generated when absent or `1` (Qemu.pm create_vm)
        }
        if !kind.lxc && key == "smbios1" && value.strip_prefix("uuid=").is_some_and(is_uuid) {
            continue; // generated only when smbios1 is absent altogether (Qemu.pm create_vm)
        }
        params.insert(
            key.clone(),
            guest_value(kind, vmid, key, value, &none, false),
        );
    }
    if kind.lxc {
        // pve-container `src/PVE/API2/LXC.pm` `create_vm`: the template is unpacked, never
        // stored; the root password and SSH keys go into the container, not its config.
        not_rebuilt.extend(["ostemplate", "password", "ssh-public-keys"].map(String::from));
    }
    Some(Rebuilt::of(params, not_rebuilt))
}

/// A key's value as the call gave it: a new disk in allocation form, a new NIC without its
/// generated MAC, a description as text; anything else as stored.
fn guest_value(
    kind: Kind,
    vmid: &str,
    key: &str,
    value: &str,
    volumes: &BTreeSet<String>,
    known: bool,
) -> String {
    if kind.is_disk(key) {
        if let Some(request) = new_volume_request(kind, vmid, key, value, volumes) {
            return request;
        }
    } else if indexed(key, "net") && !known {
        return strip_generated_mac(kind, value);
    }
    value.to_owned()
}

/// The datacenter's default `mac_prefix`, the Proxmox OUI (pve-cluster
/// `src/PVE/DataCenterConfig.pm`); PVE fills a NIC's missing MAC with it and random bits
/// (pve-common `src/PVE/Tools.pm` `random_ether_addr`).
const GENERATED_MAC_PREFIX: &str = "BC:24:11:";

/// A NIC that this call added without a MAC got one from PVE (qemu-server
/// `src/PVE/QemuServer/Network.pm` `parse_net`, pve-container `src/PVE/LXC/Config.pm`
/// `parse_lxc_network`): a MAC with the default prefix on a NIC new in this call is taken as
/// generated and dropped (`virtio=BC:24:11:…,bridge=vmbr0` → `virtio,bridge=vmbr0`; lxc drops
/// `hwaddr=`). A MAC of another prefix is kept: a replay then sets that same MAC.
fn strip_generated_mac(kind: Kind, value: &str) -> String {
    let generated =
        |mac: &str| mac.len() == 17 && mac.to_ascii_uppercase().starts_with(GENERATED_MAC_PREFIX);
    let options: Vec<String> = value
        .split(',')
        .enumerate()
        .filter_map(|(i, option)| {
            if kind.lxc {
                match option.strip_prefix("hwaddr=") {
                    Some(mac) if generated(mac) => None,
                    _ => Some(option.to_owned()),
                }
            } else {
                match option.split_once('=') {
                    // qemu: the first option is `MODEL=MAC` (or `macaddr=`, never generated).
                    Some((model, mac)) if i == 0 && generated(mac) => Some(model.to_owned()),
                    _ => Some(option.to_owned()),
                }
            }
        })
        .collect();
    options.join(",")
}

/// A disk whose volume this call allocated, in the form that asked for it: `STORAGE:SIZE_GiB`
/// (`local-lvm:vm-101-disk-0,size=32G` → `local-lvm:32`), other options kept, `size` dropped,
/// `format=EXT` added when the volume name has one (qemu-server `src/PVE/API2/Qemu.pm`
/// `create_disks` drops the asked format and names the file by it); a cloud-init drive
/// `STORAGE:vm-101-cloudinit` → `STORAGE:cloudinit`. `efidisk0` and `tpmstate0` get a fixed
/// size whatever is asked, so `1`. A volume is new when the before config did not name it and
/// its name is the one PVE gives a new disk of this guest (`vm-VMID-disk-N`, `base-…`,
/// lxc also `subvol-…`, optionally under `VMID/`): an existing volume attached is kept as is.
fn new_volume_request(
    kind: Kind,
    vmid: &str,
    key: &str,
    value: &str,
    volumes: &BTreeSet<String>,
) -> Option<String> {
    let volume = kind.volume(value)?;
    if volumes.contains(&volume) {
        return None;
    }
    let (storage, name) = volume.split_once(':')?;
    let name = name.strip_prefix(&format!("{vmid}/")).unwrap_or(name);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if matches!(ext, "raw" | "qcow2" | "vmdk" | "subvol") => {
            (stem, Some(ext))
        }
        _ => (name, None),
    };
    let cloudinit = stem == format!("vm-{vmid}-cloudinit");
    let disk = ["vm", "base", "subvol"].iter().any(|prefix| {
        stem.strip_prefix(&format!("{prefix}-{vmid}-disk-"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    if !cloudinit && !disk {
        return None;
    }
    let mut size = None;
    let mut rest = Vec::new();
    for (i, option) in value.split(',').enumerate() {
        if i == 0 && !option.contains('=') {
            continue;
        }
        if option
            .strip_prefix(if kind.lxc { "volume=" } else { "file=" })
            .is_some()
        {
            continue;
        }
        match option.strip_prefix("size=") {
            Some(s) => size = Some(s.to_owned()),
            None => rest.push(option.to_owned()),
        }
    }
    let amount = if cloudinit {
        "cloudinit".to_owned()
    } else if key == "efidisk0" || key == "tpmstate0" {
        "1".to_owned()
    } else {
        gib(size.as_deref()?)?
    };
    if let Some(ext) = ext.filter(|e| !kind.lxc && *e != "subvol") {
        if !rest.iter().any(|o| o.starts_with("format=")) {
            rest.push(format!("format={ext}"));
        }
    }
    let mut out = format!("{storage}:{amount}");
    for option in rest {
        out.push(',');
        out.push_str(&option);
    }
    Some(out)
}

/// A PVE size (`32G`, `512M`, `1T`, `4096K`, bytes without unit; pve-common `JSONSchema.pm`
/// `parse_size`) in GiB, exactly, as the allocation form takes it (`32`, `0.5`).
fn gib(size: &str) -> Option<String> {
    let (digits, unit) = size.split_at(
        size.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(size.len()),
    );
    let n: u128 = digits.parse().ok()?;
    let bytes = match unit {
        "" => n,
        "K" => n << 10,
        "M" => n << 20,
        "G" => n << 30,
        "T" => n << 40,
        _ => return None,
    };
    let whole = bytes >> 30;
    let mut fraction = bytes & ((1 << 30) - 1);
    let mut out = whole.to_string();
    if fraction != 0 {
        out.push('.');
        // A binary fraction ends in decimal: at most 30 digits.
        while fraction != 0 {
            fraction *= 10;
            out.push(char::from(b'0' + (fraction >> 30) as u8));
            fraction &= (1 << 30) - 1;
        }
    }
    Some(out)
}

/// A volume PVE named for this guest (`STORAGE:[VMID/](vm|base|subvol)-VMID-disk-N[.EXT]`),
/// the kind it registers as `unusedN` when detached (qemu-server `vm_is_volid_owner`).
fn owned_volume(volume: &str, vmid: &str) -> bool {
    let Some((_, name)) = volume.split_once(':') else {
        return false;
    };
    let name = name.strip_prefix(&format!("{vmid}/")).unwrap_or(name);
    ["vm", "base", "subvol"]
        .iter()
        .any(|prefix| name.starts_with(&format!("{prefix}-{vmid}-disk-")))
}

/// A UUID as PVE writes one (`[a-f0-9]{8}(-[a-f0-9]{4}){3}-[a-f0-9]{12}`).
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

// ---------------------------------------------------------------------------------------------
// user.cfg

/// The records of `user.cfg` by type and id, each with its fields after the id (trailing empty
/// fields dropped, as Perl's `split(/:/)` does), read as `parse_user_config` reads them. ACLs
/// are kept as `path → member → role → propagate`.
#[derive(Debug, Default, PartialEq, Eq)]
struct UserCfg {
    records: BTreeMap<(String, String), Vec<String>>,
    acl: BTreeMap<String, BTreeMap<String, BTreeMap<String, bool>>>,
}

impl UserCfg {
    /// From [`user_cfg::parse_user_cfg`]: each record's fields, each ACL line into the tree.
    fn parse(data: &[u8]) -> UserCfg {
        let mut cfg = UserCfg::default();
        for record in user_cfg::parse_user_cfg(data) {
            if record.kind != "acl" {
                let mut fields = user_cfg::fields(&record.value);
                if record.kind == "user" {
                    // `parse_user_config`: `$enable = $enable ? 1 : 0`, `$expire = 0 if !$expire`.
                    fields.resize(fields.len().max(2), String::new());
                    let enable = !matches!(fields[0].as_str(), "" | "0");
                    fields[0] = if enable { "1" } else { "0" }.to_owned();
                    if fields[1].is_empty() {
                        fields[1] = "0".to_owned();
                    }
                }
                cfg.records.insert((record.kind, record.id), fields);
                continue;
            }
            let node = cfg.acl.entry(record.id).or_default();
            for line in record.value.split('\n') {
                let fields = user_cfg::fields(line);
                let field = |i: usize| fields.get(i).map(String::as_str).unwrap_or_default();
                let propagate = !matches!(field(1), "" | "0");
                for member in split_list(field(3)) {
                    for role in split_list(field(4)) {
                        let roles = node.entry(member.clone()).or_default();
                        roles.insert(role, propagate);
                    }
                }
            }
        }
        cfg
    }

    fn record(&self, kind: &str, id: &str) -> Option<&Vec<String>> {
        self.records.get(&(kind.to_owned(), id.to_owned()))
    }

    fn ids(&self, kind: &str) -> BTreeSet<String> {
        self.records
            .keys()
            .filter(|(k, _)| k == kind)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// The groups `user` is a member of.
    fn groups_of(&self, user: &str) -> BTreeSet<String> {
        self.records
            .iter()
            .filter(|((kind, _), fields)| {
                kind == "group"
                    && fields
                        .first()
                        .is_some_and(|m| split_list(m).iter().any(|u| u == user))
            })
            .map(|((_, id), _)| id.clone())
            .collect()
    }
}

/// The one record of a type that a create added: `None` unless exactly one.
fn added_id(old: &UserCfg, new: &UserCfg, kind: &str) -> Option<String> {
    let added: Vec<String> = new.ids(kind).difference(&old.ids(kind)).cloned().collect();
    match added.as_slice() {
        [id] => Some(id.clone()),
        _ => None,
    }
}

fn field(fields: Option<&Vec<String>>, i: usize) -> String {
    fields.and_then(|f| f.get(i)).cloned().unwrap_or_default()
}

fn user_cfg(
    template: &str,
    method: &str,
    vars: &Vars,
    before: &[u8],
    after: &[u8],
) -> Option<Rebuilt> {
    let var = |name: &str| var(vars, name);
    let old = UserCfg::parse(before);
    let new = UserCfg::parse(after);
    match (method, template) {
        ("PUT", "/access/acl") => acl(&old, &new),
        ("POST", "/access/users") => user(&old, &new, &added_id(&old, &new, "user")?, true),
        ("PUT", "/access/users/{userid}") => user(&old, &new, var("userid")?, false),
        ("POST", "/access/groups") => group(&old, &new, &added_id(&old, &new, "group")?, true),
        ("PUT", "/access/groups/{groupid}") => group(&old, &new, var("groupid")?, false),
        ("POST", "/access/roles") => role(&old, &new, &added_id(&old, &new, "role")?, true),
        ("PUT", "/access/roles/{roleid}") => role(&old, &new, var("roleid")?, false),
        ("POST", "/pools") => pool(&old, &new, &added_id(&old, &new, "pool")?, true, false),
        ("PUT", "/pools") => pool(&old, &new, &changed_pool(&old, &new)?, false, true),
        ("PUT", "/pools/{poolid}") => pool(&old, &new, var("poolid")?, false, false),
        _ => None,
    }
}

/// The one pool whose record changed, not counting a pool that only lost guests to another
/// (`allow-move`).
fn changed_pool(old: &UserCfg, new: &UserCfg) -> Option<String> {
    let vms = |cfg: &UserCfg, id: &str| -> BTreeSet<String> {
        split_list(&field(cfg.record("pool", id), 1))
            .into_iter()
            .collect()
    };
    let changed: Vec<String> = new
        .ids("pool")
        .into_iter()
        .filter(|id| old.record("pool", id) != new.record("pool", id))
        .filter(|id| {
            let (was, is) = (vms(old, id), vms(new, id));
            let mut rest_same = old.record("pool", id).cloned().unwrap_or_default();
            let mut now = new.record("pool", id).cloned().unwrap_or_default();
            rest_same.resize(3, String::new());
            now.resize(3, String::new());
            let only_lost = is.is_subset(&was)
                && rest_same[0] == now[0]
                && rest_same[2] == now[2]
                && was
                    .difference(&is)
                    .all(|vm| !new.pools_of_vm(vm).is_empty());
            !only_lost
        })
        .collect();
    match changed.as_slice() {
        [id] => Some(id.clone()),
        _ => None,
    }
}

/// `PUT /access/acl` (pve-access-control `src/PVE/API2/ACL.pm` `update_acl`): one path, the
/// product of some members and some roles set with one propagate flag, or removed
/// (`delete=1`). Members are `@group`, `user@realm` or `user@realm!token`.
fn acl(old: &UserCfg, new: &UserCfg) -> Option<Rebuilt> {
    let paths: Vec<&String> = old
        .acl
        .keys()
        .chain(new.acl.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|p| old.acl.get(*p) != new.acl.get(*p))
        .collect();
    let [path] = paths.as_slice() else {
        return None;
    };
    let empty = BTreeMap::new();
    let before = old.acl.get(*path).unwrap_or(&empty);
    let after = new.acl.get(*path).unwrap_or(&empty);
    let entries =
        |tree: &BTreeMap<String, BTreeMap<String, bool>>| -> BTreeMap<(String, String), bool> {
            tree.iter()
                .flat_map(|(m, roles)| roles.iter().map(move |(r, p)| ((m.clone(), r.clone()), *p)))
                .collect()
        };
    let (before, after) = (entries(before), entries(after));
    let set: Vec<(&(String, String), &bool)> = after
        .iter()
        .filter(|(k, p)| before.get(*k) != Some(*p))
        .collect();
    let removed: Vec<&(String, String)> =
        before.keys().filter(|k| !after.contains_key(*k)).collect();
    let (members, roles, propagate, deleting) = match (set.is_empty(), removed.is_empty()) {
        (false, true) => {
            let flags: BTreeSet<bool> = set.iter().map(|(_, p)| **p).collect();
            let [propagate] = flags.into_iter().collect::<Vec<_>>()[..] else {
                return None;
            };
            let members: BTreeSet<&String> = set.iter().map(|((m, _), _)| m).collect();
            let roles: BTreeSet<&String> = set.iter().map(|((_, r), _)| r).collect();
            let all = members.iter().all(|m| {
                roles
                    .iter()
                    .all(|r| after.get(&((*m).clone(), (*r).clone())) == Some(&propagate))
            });
            all.then_some(())?;
            (members, roles, Some(propagate), false)
        }
        (true, false) => {
            let members: BTreeSet<&String> = removed.iter().map(|(m, _)| m).collect();
            let roles: BTreeSet<&String> = removed.iter().map(|(_, r)| r).collect();
            let all = members.iter().all(|m| {
                roles
                    .iter()
                    .all(|r| !after.contains_key(&((*m).clone(), (*r).clone())))
            });
            all.then_some(())?;
            (members, roles, None, true)
        }
        _ => return None,
    };
    let mut params = BTreeMap::new();
    let (mut users, mut groups, mut tokens) = (Vec::new(), Vec::new(), Vec::new());
    for member in members {
        if let Some(group) = member.strip_prefix('@') {
            groups.push(group.to_owned());
        } else if member.contains('!') && member.rfind('!') > member.rfind('@') {
            tokens.push(member.clone());
        } else {
            users.push(member.clone());
        }
    }
    for (name, list) in [("users", users), ("groups", groups), ("tokens", tokens)] {
        if !list.is_empty() {
            params.insert(name.to_owned(), list.join(","));
        }
    }
    params.insert("path".to_owned(), (*path).clone());
    params.insert(
        "roles".to_owned(),
        roles.into_iter().cloned().collect::<Vec<_>>().join(","),
    );
    if deleting {
        params.insert("delete".to_owned(), "1".to_owned());
    }
    if let Some(propagate) = propagate {
        params.insert(
            "propagate".to_owned(),
            if propagate { "1" } else { "0" }.to_owned(),
        );
    }
    Some(Rebuilt::of(params, BTreeSet::new()))
}

/// The text fields of a `user:` record after the id: `ENABLE:EXPIRE:FIRST:LAST:EMAIL:COMMENT:KEYS`
/// (`write_user_config`), by their API parameter; names and comment are `encode_text`ed.
const USER_FIELDS: [(&str, bool); 5] = [
    ("firstname", true),
    ("lastname", true),
    ("email", false),
    ("comment", true),
    ("keys", false),
];

/// `POST /access/users`, `PUT /access/users/{userid}` (pve-access-control
/// `src/PVE/API2/User.pm`): the record's fields, and `groups` from the `group:` records'
/// member lists (the whole new list: an update without `append` replaces the membership).
/// `keys` may hold OATH secrets (`parse_user_config`), so it is named, never given; a `@pve`
/// user's password is in `priv/shadow.cfg`, never read.
fn user(old: &UserCfg, new: &UserCfg, id: &str, create: bool) -> Option<Rebuilt> {
    let before = old.record("user", id);
    let after = new.record("user", id)?;
    if create == before.is_some() {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut not_rebuilt = BTreeSet::new();
    let changed = |i: usize| create || field(before, i) != field(Some(after), i);
    let enable = !matches!(field(Some(after), 0).as_str(), "" | "0");
    if changed(0) && !(create && enable) {
        params.insert(
            "enable".to_owned(),
            if enable { "1" } else { "0" }.to_owned(),
        );
    }
    let expire = field(Some(after), 1);
    if changed(1) && !(create && matches!(expire.as_str(), "" | "0")) {
        params.insert(
            "expire".to_owned(),
            if expire.is_empty() {
                "0".to_owned()
            } else {
                expire
            },
        );
    }
    for (i, (name, encoded)) in USER_FIELDS.iter().enumerate() {
        let value = field(Some(after), i + 2);
        if !changed(i + 2) || (create && value.is_empty()) {
            continue;
        }
        if *name == "keys" {
            not_rebuilt.insert((*name).to_owned());
        } else {
            params.insert(
                (*name).to_owned(),
                if *encoded { decode_text(&value) } else { value },
            );
        }
    }
    let groups = new.groups_of(id);
    if groups != old.groups_of(id) && !(create && groups.is_empty()) {
        params.insert("groups".to_owned(), join(&groups));
    }
    if create {
        params.insert("userid".to_owned(), id.to_owned());
        if id.ends_with("@pve") {
            not_rebuilt.insert("password".to_owned());
        }
    }
    (create || !params.is_empty() || !not_rebuilt.is_empty())
        .then(|| Rebuilt::of(params, not_rebuilt))
}

/// `POST /access/groups`, `PUT /access/groups/{groupid}`: `group:G:MEMBERS:COMMENT:`. Members
/// change through the users' calls, not these.
fn group(old: &UserCfg, new: &UserCfg, id: &str, create: bool) -> Option<Rebuilt> {
    let before = old.record("group", id);
    let after = new.record("group", id)?;
    if create == before.is_some() {
        return None;
    }
    let mut params = BTreeMap::new();
    let comment = decode_text(&field(Some(after), 1));
    if create {
        params.insert("groupid".to_owned(), id.to_owned());
        if !comment.is_empty() {
            params.insert("comment".to_owned(), comment);
        }
    } else if field(before, 1) != field(Some(after), 1) {
        params.insert("comment".to_owned(), comment);
    }
    (create || !params.is_empty()).then(|| Rebuilt::of(params, BTreeSet::new()))
}

/// `POST /access/roles`, `PUT /access/roles/{roleid}` (`src/PVE/API2/Role.pm`):
/// `role:R:PRIVS:`; an update gives the whole new list (no `append`).
fn role(old: &UserCfg, new: &UserCfg, id: &str, create: bool) -> Option<Rebuilt> {
    let before = old.record("role", id);
    let after = new.record("role", id)?;
    if create == before.is_some() {
        return None;
    }
    let privs: BTreeSet<String> = split_list(&field(Some(after), 0)).into_iter().collect();
    let old_privs: BTreeSet<String> = split_list(&field(before, 0)).into_iter().collect();
    let mut params = BTreeMap::new();
    if create {
        params.insert("roleid".to_owned(), id.to_owned());
    } else if privs == old_privs {
        return None;
    }
    if !privs.is_empty() || !create {
        params.insert("privs".to_owned(), join(&privs));
    }
    Some(Rebuilt::of(params, BTreeSet::new()))
}

/// `POST /pools`, `PUT /pools` (`poolid` a parameter) and the older `PUT /pools/{poolid}`
/// (pve-manager `PVE/API2/Pool.pm`): `pool:P:COMMENT:VMS:STORAGES:`. An update adds guests
/// and storages, or removes them with `delete=1`, not both; a guest taken from another pool
/// needs `allow-move=1`.
fn pool(old: &UserCfg, new: &UserCfg, id: &str, create: bool, id_param: bool) -> Option<Rebuilt> {
    let before = old.record("pool", id);
    let after = new.record("pool", id)?;
    if create == before.is_some() {
        return None;
    }
    let mut params = BTreeMap::new();
    let comment = decode_text(&field(Some(after), 0));
    if create || id_param {
        params.insert("poolid".to_owned(), id.to_owned());
    }
    if create {
        if !comment.is_empty() {
            params.insert("comment".to_owned(), comment);
        }
        // A pool is created empty; members come with an update.
        let members = !field(Some(after), 1).is_empty() || !field(Some(after), 2).is_empty();
        return (!members).then(|| Rebuilt::of(params, BTreeSet::new()));
    }
    if field(before, 0) != field(Some(after), 0) {
        params.insert("comment".to_owned(), comment);
    }
    let mut adding = false;
    let mut removing = false;
    for (i, name) in [(1, "vms"), (2, "storage")] {
        let was: BTreeSet<String> = split_list(&field(before, i)).into_iter().collect();
        let is: BTreeSet<String> = split_list(&field(Some(after), i)).into_iter().collect();
        let added: BTreeSet<String> = is.difference(&was).cloned().collect();
        let gone: BTreeSet<String> = was.difference(&is).cloned().collect();
        adding |= !added.is_empty();
        removing |= !gone.is_empty();
        let list = if added.is_empty() { gone } else { added };
        if !list.is_empty() {
            params.insert(name.to_owned(), join(&list));
        }
        if i == 1
            && is
                .difference(&was)
                .any(|vm| old.pools_of_vm(vm).iter().any(|p| p != id))
        {
            params.insert("allow-move".to_owned(), "1".to_owned());
        }
    }
    if adding && removing {
        return None;
    }
    if removing {
        params.insert("delete".to_owned(), "1".to_owned());
    }
    let rebuilt = params.len() > usize::from(id_param);
    rebuilt.then(|| Rebuilt::of(params, BTreeSet::new()))
}

impl UserCfg {
    fn pools_of_vm(&self, vm: &str) -> Vec<String> {
        self.records
            .iter()
            .filter(|((kind, _), fields)| {
                kind == "pool"
                    && fields
                        .get(1)
                        .is_some_and(|vms| split_list(vms).iter().any(|v| v == vm))
            })
            .map(|((_, id), _)| id.clone())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// storage.cfg

/// A section-config file by section id: its type and keys ([`sections::parse_sections`]); a
/// bare key (`disable`) is a flag set, `1`.
fn parse_sections(data: &[u8]) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    sections::parse_sections(data)
        .into_iter()
        .map(|section| {
            let keys = section
                .keys
                .into_iter()
                .map(|(k, v)| {
                    if v.is_empty() {
                        (k, "1".to_owned())
                    } else {
                        (k, v)
                    }
                })
                .collect();
            (section.id, (section.kind, keys))
        })
        .collect()
}

/// Storage keys whose values are secrets kept in `priv/` (pve-storage `src/PVE/Storage/
/// PBSPlugin.pm`, `CIFSPlugin.pm`, `ESXiPlugin.pm`, `RBDPlugin.pm`, `CephFSPlugin.pm`): an add
/// of such a type may have had them; they are never in storage.cfg.
fn storage_secrets(kind: &str, keys: &BTreeMap<String, String>) -> Vec<&'static str> {
    match kind {
        "pbs" => vec!["password", "encryption-key", "master-pubkey"],
        "cifs" | "esxi" if keys.contains_key("username") => vec!["password"],
        "rbd" | "cephfs" if keys.contains_key("monhost") => vec!["keyring"],
        _ => vec![],
    }
}

/// `POST /storage` (`storage`, `type` and the keys) and `PUT /storage/{storage}` (changed keys,
/// removed ones as `delete`): pve-storage `src/PVE/API2/Storage/Config.pm`.
fn storage(id: Option<&str>, before: &[u8], after: &[u8]) -> Option<Rebuilt> {
    let old = parse_sections(before);
    let new = parse_sections(after);
    let mut params = BTreeMap::new();
    let mut not_rebuilt = BTreeSet::new();
    match id {
        None => {
            let added: Vec<&String> = new.keys().filter(|id| !old.contains_key(*id)).collect();
            let [id] = added.as_slice() else {
                return None;
            };
            let (kind, keys) = new.get(*id)?;
            params.insert("storage".to_owned(), (*id).clone());
            params.insert("type".to_owned(), kind.clone());
            let section = format!("{kind}: {id}");
            for (key, value) in keys {
                if diff::is_secret_key(Format::Sections, Some(&section), key) {
                    not_rebuilt.insert(key.clone());
                } else {
                    params.insert(key.clone(), value.clone());
                }
            }
            not_rebuilt.extend(storage_secrets(kind, keys).into_iter().map(String::from));
        }
        Some(id) => {
            let (kind, was) = old.get(id)?;
            let (new_kind, is) = new.get(id)?;
            (kind == new_kind).then_some(())?;
            let mut delete = BTreeSet::new();
            let section = format!("{kind}: {id}");
            for key in keys_of(was, is) {
                match is.get(&key) {
                    // A secret an old or hand-edited file holds (PVE keeps them in `priv/`).
                    Some(value) if was.get(&key) != Some(value) => {
                        if diff::is_secret_key(Format::Sections, Some(&section), &key) {
                            not_rebuilt.insert(key);
                        } else {
                            params.insert(key, value.clone());
                        }
                    }
                    None => {
                        delete.insert(key);
                    }
                    _ => {}
                }
            }
            if !delete.is_empty() {
                params.insert("delete".to_owned(), join(&delete));
            }
            if params.is_empty() && not_rebuilt.is_empty() {
                return None;
            }
        }
    }
    Some(Rebuilt::of(params, not_rebuilt))
}

// ---------------------------------------------------------------------------------------------
// Firewall rules

/// The rules of a firewall file's `[RULES]` section, in order, each by its API parameters
/// ([`fw::rules`]; a line pve-firewall `parse_fw_rule` refuses is skipped, as PVE skips it, so
/// positions are the API's).
fn parse_rules(data: &[u8]) -> Option<Vec<BTreeMap<&'static str, String>>> {
    let sections = fw::parse_firewall(data);
    let rules = fw::rules(&sections, "RULES");
    Some(
        rules
            .into_iter()
            .map(|(_, rule)| rule.params().into_iter().collect())
            .collect(),
    )
}

/// Rule fields the API can clear on update (`delete`; pve-firewall `delete_rule_properties`).
const RULE_DELETABLE: [&str; 9] = [
    "comment",
    "dest",
    "dport",
    "icmp-type",
    "iface",
    "log",
    "macro",
    "proto",
    "source",
];

/// `POST …/firewall/rules` (the rule, which PVE always puts first: `Rules.pm` `create_rule`
/// `unshift`s it; `enable` given since an absent one is 0), `PUT …/rules/{pos}` (changed fields,
/// cleared ones as `delete`; or `moveto` when the rule only moved) and `DELETE …/rules/{pos}`
/// (no parameters).
fn firewall(method: &str, pos: Option<&str>, before: &[u8], after: &[u8]) -> Option<Rebuilt> {
    let old = parse_rules(before)?;
    let new = parse_rules(after)?;
    let mut params = BTreeMap::new();
    match method {
        "POST" => {
            (new.len() == old.len() + 1 && new.get(1..) == Some(&old[..])).then_some(())?;
            for (key, value) in new.first()? {
                params.insert((*key).to_owned(), value.clone());
            }
        }
        "DELETE" => {
            let pos: usize = pos?.parse().ok()?;
            let mut expected = old.clone();
            (pos < expected.len()).then_some(())?;
            expected.remove(pos);
            (expected == new).then_some(())?;
        }
        "PUT" => {
            let pos: usize = pos?.parse().ok()?;
            let rule = old.get(pos)?;
            // Not `new[pos] == rule`: with equal rules, a move can leave an equal one there.
            (new.len() == old.len() && new != old).then_some(())?;
            let mut rest = old.clone();
            rest.remove(pos);
            let moved = (0..new.len()).find(|&j| {
                let mut expected = rest.clone();
                expected.insert(j, rule.clone());
                expected == new
            });
            if let Some(j) = moved {
                // `moveto` counts in the old list: the rule goes before the old rule there.
                let moveto = if j > pos { j + 1 } else { j };
                params.insert("moveto".to_owned(), moveto.to_string());
            } else {
                let mut others = new.clone();
                let edited = others.remove(pos);
                (others == rest).then_some(())?;
                let mut delete = BTreeSet::new();
                for key in keys_of(rule, &edited) {
                    match edited.get(key.as_str()) {
                        Some(value) if rule.get(key.as_str()) != Some(value) => {
                            params.insert(key.clone(), value.clone());
                        }
                        None if RULE_DELETABLE.contains(&key.as_str()) => {
                            delete.insert(key.clone());
                        }
                        None => return None,
                        _ => {}
                    }
                }
                if !delete.is_empty() {
                    params.insert("delete".to_owned(), join(&delete));
                }
            }
        }
        _ => return None,
    }
    Some(Rebuilt::of(params, BTreeSet::new()))
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The keys of two maps, once each, sorted.
fn keys_of<K: Ord + Clone + ToString, V>(a: &BTreeMap<K, V>, b: &BTreeMap<K, V>) -> Vec<String> {
    a.keys()
        .chain(b.keys())
        .map(ToString::to_string)
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect()
}

/// pve-common `src/PVE/Tools.pm` `split_list`: items separated by `,`, `;`, white space or NUL.
fn split_list(list: &str) -> Vec<String> {
    list.split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join(items: &BTreeSet<String>) -> String {
    items
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    //! The model replay tests (issue 14's acceptance): a before file, the after file as PVE
    //! writes it for a request, the body rebuilt from the two, and a small model of what PVE
    //! does with those parameters, applied to the before file: its result must be the after
    //! file's parsed form. The models follow the upstream code cited at each; what PVE makes up
    //! (MACs, uuids, `meta`) the model takes from the after file, as its random source.

    use super::*;
    use proptest::prelude::*;

    /// The watcher's diff (helper A's `source::etc_pve::diff`).
    fn changes(file: &str, before: &str, after: &str) -> Vec<Change> {
        let format = crate::source::etc_pve::diff::format_of(file).expect("tracked");
        crate::source::etc_pve::diff::diff(format, file, before.as_bytes(), after.as_bytes())
    }

    /// `rebuild` with the watcher's diff; every parameter it gives is checked against the API
    /// schema: an option of that endpoint, never one of the path's.
    fn call(
        template: &str,
        method: &str,
        path: &str,
        file: &str,
        before: &str,
        after: &str,
    ) -> Option<Rebuilt> {
        let rebuilt = rebuild(
            template,
            method,
            path.as_bytes(),
            file,
            before.as_bytes(),
            after.as_bytes(),
            &changes(file, before, after),
        )?;
        let segments: Vec<&[u8]> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::as_bytes)
            .collect();
        let segments = if segments.first() == Some(&b"api2".as_slice()) {
            &segments[2..]
        } else {
            &segments[..]
        };
        let matched = crate::api::match_path(segments).expect("a known path");
        assert_eq!(matched.template.path(), template);
        let endpoint = matched
            .template
            .endpoint(method.as_bytes())
            .expect("a known method");
        for (name, _) in &rebuilt.params {
            let param = endpoint.param(name.as_bytes());
            assert!(
                param.is_some_and(|p| !p.in_path()),
                "{method} {template}: no option {name}"
            );
        }
        Some(rebuilt)
    }

    fn params(rebuilt: &Rebuilt) -> Vec<(&str, &str)> {
        rebuilt
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // The guest model

    /// A guest config as compared: section → key → value.
    type Norm = BTreeMap<Option<String>, BTreeMap<String, String>>;

    fn norm(conf: &GuestConf) -> Norm {
        let mut out = Norm::new();
        for (name, keys) in &conf.sections {
            let section = out.entry(name.clone()).or_default();
            section.extend(keys.iter().cloned());
        }
        out.retain(|name, keys| name.is_none() || !keys.is_empty());
        out.entry(None).or_default();
        out
    }

    /// What PVE makes up while it writes, taken from the after file.
    struct Random {
        macs: BTreeMap<String, String>,
        main: BTreeMap<String, String>,
    }

    impl Random {
        fn of(kind: Kind, after: &GuestConf) -> Random {
            let mut macs = BTreeMap::new();
            for (_, keys) in &after.sections {
                for (key, value) in keys {
                    if !indexed(key, "net") {
                        continue;
                    }
                    let mac = value.split(',').find_map(|o| {
                        let (k, v) = o.split_once('=')?;
                        let hit = if kind.lxc {
                            k == "hwaddr"
                        } else {
                            v.len() == 17 && v.contains(':')
                        };
                        hit.then(|| v.to_owned())
                    });
                    if let Some(mac) = mac {
                        macs.insert(key.clone(), mac);
                    }
                }
            }
            Random {
                macs,
                main: after.section(None),
            }
        }
    }

    /// Options of a property string after its first, sorted by name (PVE prints drives so).
    fn print_options(first: &str, mut options: Vec<String>) -> String {
        options.sort();
        std::iter::once(first.to_owned())
            .chain(options)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// PVE's answer to one asked value: qemu-server `create_disks` allocates `STORAGE:SIZE`
    /// (the first free `vm-VMID-disk-N`; `format=` names the file on a directory storage) and
    /// `STORAGE:cloudinit`; `parse_net` / `parse_lxc_network` add a MAC (and `type=veth`).
    fn materialize(
        kind: Kind,
        vmid: &str,
        key: &str,
        value: &str,
        taken: &BTreeSet<String>,
        random: &Random,
    ) -> String {
        let mut options: Vec<String> = value.split(',').map(str::to_owned).collect();
        let first = options.remove(0);
        if kind.is_disk(key) {
            let Some((storage, amount)) = first.split_once(':') else {
                return value.to_owned();
            };
            if amount == "cloudinit" {
                if !options.iter().any(|o| o == "media=cdrom") {
                    options.push("media=cdrom".to_owned());
                }
                return print_options(&format!("{storage}:vm-{vmid}-cloudinit"), options);
            }
            let Ok(gib) = amount.parse::<f64>() else {
                return value.to_owned();
            };
            let format = options
                .iter()
                .position(|o| o.starts_with("format="))
                .map(|i| options.remove(i));
            // The first free name on that storage (pve-storage `find_free_diskname`; the
            // model knows only the config's volumes).
            let on_storage = format!("{storage}:");
            let n = (0..)
                .find(|n| {
                    let name = format!("-{vmid}-disk-{n}");
                    !taken
                        .iter()
                        .any(|v| v.starts_with(&on_storage) && v.contains(&name))
                })
                .unwrap_or(0);
            let name = match format {
                Some(f) => format!("{vmid}/vm-{vmid}-disk-{n}.{}", &f["format=".len()..]),
                None => format!("vm-{vmid}-disk-{n}"),
            };
            let size = match key {
                "efidisk0" | "tpmstate0" => "4M".to_owned(),
                _ if gib.fract() == 0.0 => format!("{gib}G"),
                _ => format!("{}M", gib * 1024.0),
            };
            options.push(format!("size={size}"));
            // A container's `mp=` is required, and required options come first
            // (pve-common `JSONSchema.pm` `print_property_string`).
            let mount = options
                .iter()
                .position(|o| o.starts_with("mp="))
                .map(|i| options.remove(i));
            let first = [Some(format!("{storage}:{name}")), mount]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(",");
            return print_options(&first, options);
        }
        if indexed(key, "net") {
            let mac = random.macs.get(key).cloned().unwrap_or_default();
            if kind.lxc {
                options.insert(0, first);
                if !options.iter().any(|o| o.starts_with("hwaddr=")) {
                    options.push(format!("hwaddr={mac}"));
                }
                if !options.iter().any(|o| o.starts_with("type=")) {
                    options.push("type=veth".to_owned());
                }
                let name = options
                    .iter()
                    .position(|o| o.starts_with("name="))
                    .map(|i| options.remove(i));
                return print_options(&name.unwrap_or_default(), options);
            }
            if !first.contains('=') {
                options.insert(0, format!("{first}={mac}"));
                return options.join(",");
            }
        }
        value.to_owned()
    }

    /// `add_unused_volume` (pve-guest-common `AbstractConfig.pm`): the first free `unusedN`,
    /// once per volume; only for a volume the guest owns and no CD-ROM
    /// (qemu-server `vmconfig_register_unused_drive`).
    fn register_unused(kind: Kind, vmid: &str, main: &mut BTreeMap<String, String>, value: &str) {
        let Some(volume) = kind.volume(value) else {
            return;
        };
        if value.split(',').any(|o| o == "media=cdrom") || !owned_volume(&volume, vmid) {
            return;
        }
        if main
            .iter()
            .any(|(k, v)| indexed(k, "unused") && *v == volume)
        {
            return;
        }
        let n = (0..)
            .find(|n| !main.contains_key(&format!("unused{n}")))
            .unwrap_or(0);
        main.insert(format!("unused{n}"), volume);
    }

    /// `$update_vm_api` (qemu-server `src/PVE/API2/Qemu.pm`) and `update_pct_config`
    /// (pve-container `src/PVE/LXC/Config.pm`): every change goes to the pending section first,
    /// then a stopped guest gets all of it applied (`vmconfig_apply_pending`), a running one
    /// the keys in `hotplug` (`vmconfig_hotplug_pending`); the rest stays pending.
    fn model_update(
        kind: Kind,
        vmid: &str,
        before: &GuestConf,
        rebuilt: &Rebuilt,
        running: bool,
        hotplug: &[&str],
        random: &Random,
    ) -> Norm {
        let mut conf = norm(before);
        let pending_name = Some(kind.pending().to_owned());
        let mut main = conf.remove(&None).unwrap_or_default();
        let mut pending = conf.remove(&pending_name).unwrap_or_default();
        let mut deletes: BTreeMap<String, bool> = pending
            .remove("delete")
            .map(|l| {
                split_list(&l)
                    .into_iter()
                    .map(|k| match k.strip_prefix('!') {
                        Some(k) => (k.to_owned(), true),
                        None => (k, false),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let get = |name: &str| {
            rebuilt
                .params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let force = get("force").is_some_and(|f| f == "1");
        for key in split_list(&get("revert").unwrap_or_default()) {
            pending.remove(&key);
            deletes.remove(&key);
        }
        for key in split_list(&get("delete").unwrap_or_default()) {
            pending.remove(&key);
            deletes.insert(key, force);
        }
        let mut taken = before.volumes(kind);
        for (key, value) in &rebuilt.params {
            if matches!(key.as_str(), "delete" | "revert" | "force") {
                continue;
            }
            let value = materialize(kind, vmid, key, value, &taken, random);
            taken.extend(kind.volume(&value));
            pending.insert(key.clone(), value);
            deletes.remove(key);
        }
        // `cleanup_pending`: a pending value equal to the current one goes.
        pending.retain(|k, v| main.get(k) != Some(v));
        let applies = |key: &str| !running || hotplug.contains(&key);
        for (key, forced) in deletes.clone() {
            if !applies(&key) {
                continue;
            }
            deletes.remove(&key);
            if let Some(old) = main.remove(&key) {
                if kind.is_disk(&key) && !forced {
                    register_unused(kind, vmid, &mut main, &old);
                }
            }
        }
        for (key, value) in pending.clone() {
            if !applies(&key) {
                continue;
            }
            pending.remove(&key);
            if let Some(old) = main.get(&key).cloned() {
                if kind.is_disk(&key) && kind.volume(&old) != kind.volume(&value) {
                    register_unused(kind, vmid, &mut main, &old);
                }
            }
            main.insert(key, value);
        }
        if !deletes.is_empty() {
            let list: Vec<String> = deletes
                .iter()
                .map(|(k, f)| if *f { format!("!{k}") } else { k.clone() })
                .collect();
            pending.insert("delete".to_owned(), list.join(","));
        }
        conf.insert(None, main);
        if !pending.is_empty() {
            conf.insert(pending_name, pending);
        }
        conf
    }

    /// qemu-server `create_vm` / pve-container `create_vm`: the asked keys, disks allocated,
    /// MACs added; for a VM `meta`, `vmgenid` (absent or `1`) and the `smbios1` uuid (only when
    /// smbios1 is absent) generated.
    fn model_create(kind: Kind, vmid: &str, rebuilt: &Rebuilt, random: &Random) -> Norm {
        let mut main = BTreeMap::new();
        let mut taken = BTreeSet::new();
        // Volumes are allocated in key order, a container's rootfs first (qemu-server
        // `$foreach_volume_with_alloc`, pve-container `foreach_volume`).
        let mut asked: Vec<&(String, String)> = rebuilt.params.iter().collect();
        asked.sort_by_key(|(key, _)| (!(kind.lxc && key == "rootfs"), key.clone()));
        for (key, value) in asked {
            if key == "vmid" {
                continue;
            }
            let value = materialize(kind, vmid, key, value, &taken, random);
            taken.extend(kind.volume(&value));
            main.insert(key.clone(), value);
        }
        if !kind.lxc {
            for key in ["meta", "vmgenid"] {
                if let Some(value) = random.main.get(key) {
                    if main.get(key).is_none_or(|v| v == "1") {
                        main.insert(key.to_owned(), value.clone());
                    }
                }
            }
            if !main.contains_key("smbios1") {
                main.extend(
                    random
                        .main
                        .get("smbios1")
                        .map(|v| ("smbios1".to_owned(), v.clone())),
                );
            }
        }
        Norm::from([(None, main)])
    }

    const QEMU: Kind = Kind { lxc: false };
    const LXC: Kind = Kind { lxc: true };
    const VM_CONFIG: &str = "/nodes/{node}/qemu/{vmid}/config";
    const CT_CONFIG: &str = "/nodes/{node}/lxc/{vmid}/config";
    const VM_FILE: &str = "nodes/pve1/qemu-server/100.conf";
    const CT_FILE: &str = "nodes/pve1/lxc/101.conf";

    /// Rebuilds a guest config update and replays it on the model; returns the body.
    fn replay_update(
        kind: Kind,
        before: &str,
        after: &str,
        running: bool,
        hotplug: &[&str],
    ) -> Rebuilt {
        let vmid = if kind.lxc { "101" } else { "100" };
        replay_update_of(kind, vmid, before, after, running, hotplug)
    }

    fn replay_update_of(
        kind: Kind,
        vmid: &str,
        before: &str,
        after: &str,
        running: bool,
        hotplug: &[&str],
    ) -> Rebuilt {
        let (template, dir, config_dir) = if kind.lxc {
            (CT_CONFIG, "lxc", "lxc")
        } else {
            (VM_CONFIG, "qemu", "qemu-server")
        };
        let path = format!("/nodes/pve1/{dir}/{vmid}/config");
        let file = format!("nodes/pve1/{config_dir}/{vmid}.conf");
        let rebuilt = call(template, "PUT", &path, &file, before, after).expect("rebuilt");
        let (before, after) = (
            GuestConf::parse(kind, before.as_bytes()),
            GuestConf::parse(kind, after.as_bytes()),
        );
        let random = Random::of(kind, &after);
        let replayed = model_update(kind, vmid, &before, &rebuilt, running, hotplug, &random);
        assert_eq!(replayed, norm(&after), "replay of {rebuilt:?}");
        rebuilt
    }

    fn replay_create(kind: Kind, after: &str) -> Rebuilt {
        let (template, path, file, vmid) = if kind.lxc {
            ("/nodes/{node}/lxc", "/nodes/pve1/lxc", CT_FILE, "101")
        } else {
            ("/nodes/{node}/qemu", "/nodes/pve1/qemu", VM_FILE, "100")
        };
        let rebuilt = call(template, "POST", path, file, "", after).expect("rebuilt");
        let after = GuestConf::parse(kind, after.as_bytes());
        let replayed = model_create(kind, vmid, &rebuilt, &Random::of(kind, &after));
        assert_eq!(replayed, norm(&after), "replay of {rebuilt:?}");
        rebuilt
    }

    /// A VM as qemu-server writes it (shapes of qemu-server `src/test/cfg2cmd/*.conf`).
    const VM: &str = "\
#web%20server
#second line
boot: order=scsi0;ide2;net0
cores: 2
cpu: x86-64-v2-AES
ide2: local:iso/debian-12.5.0-amd64-netinst.iso,media=cdrom,size=628M
memory: 2048
meta: creation-qemu=9.0.2,ctime=1733050000
name: web01
net0: virtio=BC:24:11:2E:91:3A,bridge=vmbr0,firewall=1
numa: 0
ostype: l26
scsi0: local-lvm:vm-100-disk-0,iothread=1,size=32G
scsihw: virtio-scsi-single
smbios1: uuid=5d3e4a1c-2b7f-4e8a-9c1d-0f6e3b2a1c4d
sockets: 1
vmgenid: 2a4c6e8f-1b3d-4f5a-8c7e-9d0b1a2c3e4f
";

    fn with(base: &str, edits: &[(&str, Option<&str>)], extra: &str) -> String {
        let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
        for (key, value) in edits {
            let at = lines.iter().position(|l| l.starts_with(&format!("{key}:")));
            match (at, value) {
                (Some(i), Some(v)) => lines[i] = format!("{key}: {v}"),
                (Some(i), None) => {
                    lines.remove(i);
                }
                (None, Some(v)) => {
                    let i = lines
                        .iter()
                        .position(|l| !l.starts_with('#') && l.as_str() > &format!("{key}:")[..])
                        .unwrap_or(lines.len());
                    lines.insert(i, format!("{key}: {v}"));
                }
                (None, None) => {}
            }
        }
        lines.join("\n") + "\n" + extra
    }

    #[test]
    fn vm_memory_and_cores_edited() {
        let after = with(VM, &[("cores", Some("4")), ("memory", Some("4096"))], "");
        let rebuilt = replay_update(QEMU, VM, &after, false, &[]);
        assert_eq!(params(&rebuilt), [("cores", "4"), ("memory", "4096")]);
        assert!(rebuilt.not_rebuilt.is_empty());
    }

    #[test]
    fn vm_disk_added_in_allocation_form() {
        let after = with(
            VM,
            &[(
                "scsi1",
                Some("local-lvm:vm-100-disk-1,discard=on,iothread=1,size=16G"),
            )],
            "",
        );
        let rebuilt = replay_update(QEMU, VM, &after, false, &[]);
        assert_eq!(
            params(&rebuilt),
            [("scsi1", "local-lvm:16,discard=on,iothread=1")]
        );
        // On a directory storage the file names the format that was asked.
        let after = with(
            VM,
            &[("virtio1", Some("local:100/vm-100-disk-0.qcow2,size=512M"))],
            "",
        );
        let rebuilt = replay_update(QEMU, VM, &after, false, &[]);
        assert_eq!(params(&rebuilt), [("virtio1", "local:0.5,format=qcow2")]);
    }

    #[test]
    fn vm_existing_volume_attached_is_kept_and_unused_goes() {
        let before = with(VM, &[("unused0", Some("local-lvm:vm-100-disk-1"))], "");
        let after = with(
            VM,
            &[("scsi1", Some("local-lvm:vm-100-disk-1,size=8G"))],
            "",
        );
        let rebuilt = call(
            VM_CONFIG,
            "PUT",
            "/nodes/pve1/qemu/100/config",
            VM_FILE,
            &before,
            &after,
        )
        .unwrap();
        assert_eq!(
            params(&rebuilt),
            [("scsi1", "local-lvm:vm-100-disk-1,size=8G")]
        );
    }

    #[test]
    fn vm_disk_detached_to_unused_and_unused_destroyed() {
        let before = with(
            VM,
            &[
                ("scsi1", Some("local-lvm:vm-100-disk-1,size=8G")),
                ("unused0", Some("local-lvm:vm-100-disk-2")),
            ],
            "",
        );
        let after = with(VM, &[("unused1", Some("local-lvm:vm-100-disk-1"))], "");
        let rebuilt = replay_update(QEMU, &before, &after, false, &[]);
        assert_eq!(params(&rebuilt), [("delete", "scsi1,unused0")]);
    }

    #[test]
    fn vm_disk_destroyed_is_a_forced_delete() {
        let before = with(
            VM,
            &[("scsi1", Some("local-lvm:vm-100-disk-1,size=8G"))],
            "",
        );
        let rebuilt = replay_update(QEMU, &before, VM, false, &[]);
        assert_eq!(params(&rebuilt), [("delete", "scsi1"), ("force", "1")]);
    }

    #[test]
    fn vm_running_changes_are_pending_and_hotplug_applies() {
        // cores wants a restart: [PENDING]; a NIC is hot-plugged (hotplug defaults to
        // network,disk,usb: qemu-server `QemuServer.pm` `vmconfig_hotplug_pending`); numa's
        // removal waits as `delete:`.
        let after = with(
            VM,
            &[("net1", Some("e1000=BC:24:11:7A:0C:55,bridge=vmbr1"))],
            "\n[PENDING]\ncores: 8\ndelete: numa\n",
        );
        let rebuilt = replay_update(QEMU, VM, &after, true, &["net1"]);
        assert_eq!(
            params(&rebuilt),
            [
                ("cores", "8"),
                ("delete", "numa"),
                ("net1", "e1000,bridge=vmbr1")
            ]
        );
    }

    #[test]
    fn vm_running_forced_delete_waits_as_bang_key() {
        // A disk not hot-unplugged waits in `delete:` with `!` for force (pve-guest-common
        // `AbstractConfig.pm` `add_to_pending_delete`).
        let before = with(
            VM,
            &[("sata1", Some("local-lvm:vm-100-disk-1,size=8G"))],
            "",
        );
        let after = format!("{before}\n[PENDING]\ndelete: !sata1\n");
        let rebuilt = replay_update(QEMU, &before, &after, true, &[]);
        assert_eq!(params(&rebuilt), [("delete", "sata1"), ("force", "1")]);
    }

    #[test]
    fn vm_pending_change_reverted() {
        let before = with(VM, &[], "\n[PENDING]\nmemory: 8192\ndelete: numa\n");
        let rebuilt = replay_update(QEMU, &before, VM, true, &[]);
        assert_eq!(params(&rebuilt), [("revert", "memory,numa")]);
    }

    #[test]
    fn vm_description_tags_name_and_cipassword() {
        let after = with(
            VM,
            &[
                ("name", Some("web02")),
                ("tags", Some("prod;web")),
                ("cipassword", Some("$5$abc$hashhashhash")),
            ],
            "",
        )
        .replace("#second line\n", "#2nd%3A line\n");
        let rebuilt = call(
            VM_CONFIG,
            "PUT",
            "/nodes/pve1/qemu/100/config",
            VM_FILE,
            VM,
            &after,
        )
        .unwrap();
        assert_eq!(
            params(&rebuilt),
            [
                ("description", "web server\n2nd: line"),
                ("name", "web02"),
                ("tags", "prod;web")
            ]
        );
        assert_eq!(rebuilt.not_rebuilt, ["cipassword"]);
    }

    #[test]
    fn vm_snapshot_rebuilds_nothing() {
        let after = with(
            VM,
            &[("parent", Some("before-upgrade"))],
            "\n[before-upgrade]\ncores: 2\nmemory: 2048\nsnaptime: 1733050500\n",
        );
        assert_eq!(
            call(
                VM_CONFIG,
                "PUT",
                "/nodes/pve1/qemu/100/config",
                VM_FILE,
                VM,
                &after
            ),
            None
        );
    }

    #[test]
    fn vm_created_without_what_pve_generates() {
        // Disks are allocated in key order: efidisk0 before scsi0.
        let after = format!(
            "{VM}efidisk0: local-lvm:vm-100-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M\nide0: local-lvm:vm-100-cloudinit,media=cdrom\n"
        )
        .replace("scsi0: local-lvm:vm-100-disk-0", "scsi0: local-lvm:vm-100-disk-1");
        let rebuilt = replay_create(QEMU, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("boot", "order=scsi0;ide2;net0"),
                ("cores", "2"),
                ("cpu", "x86-64-v2-AES"),
                ("description", "web server\nsecond line"),
                ("efidisk0", "local-lvm:1,efitype=4m,pre-enrolled-keys=1"),
                ("ide0", "local-lvm:cloudinit,media=cdrom"),
                (
                    "ide2",
                    "local:iso/debian-12.5.0-amd64-netinst.iso,media=cdrom,size=628M"
                ),
                ("memory", "2048"),
                ("name", "web01"),
                ("net0", "virtio,bridge=vmbr0,firewall=1"),
                ("numa", "0"),
                ("ostype", "l26"),
                ("scsi0", "local-lvm:32,iothread=1"),
                ("scsihw", "virtio-scsi-single"),
                ("sockets", "1"),
                ("vmid", "100"),
            ]
        );
    }

    #[test]
    fn vm_created_with_smbios1_fields_keeps_them_all() {
        // PVE generates a uuid only when smbios1 is absent: one given with other fields was
        // given whole (Qemu.pm `create_vm`).
        let after = VM.replace(
            "smbios1: uuid=5d3e4a1c-2b7f-4e8a-9c1d-0f6e3b2a1c4d",
            "smbios1: manufacturer=QUNNRQ==,base64=1,uuid=5d3e4a1c-2b7f-4e8a-9c1d-0f6e3b2a1c4d",
        );
        let rebuilt = replay_create(QEMU, &after);
        assert!(params(&rebuilt).contains(&(
            "smbios1",
            "manufacturer=QUNNRQ==,base64=1,uuid=5d3e4a1c-2b7f-4e8a-9c1d-0f6e3b2a1c4d"
        )));
    }

    /// A container as pve-container writes it (shapes of its `src/test/` configs).
    const CT: &str = "\
arch: amd64
cores: 2
features: nesting=1
hostname: ct101
memory: 1024
net0: name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:D3:4A:1E,ip=dhcp,type=veth
ostype: debian
rootfs: local-lvm:vm-101-disk-0,size=8G
swap: 512
unprivileged: 1
";

    #[test]
    fn ct_memory_edited_and_mount_point_added() {
        let after = with(
            CT,
            &[
                ("memory", Some("2048")),
                (
                    "mp0",
                    Some("local-lvm:vm-101-disk-1,mp=/srv/data,backup=1,size=20G"),
                ),
            ],
            "",
        );
        let rebuilt = replay_update(LXC, CT, &after, false, &[]);
        assert_eq!(
            params(&rebuilt),
            [
                ("memory", "2048"),
                ("mp0", "local-lvm:20,mp=/srv/data,backup=1")
            ]
        );
    }

    #[test]
    fn ct_running_pending_and_new_nic() {
        let after = with(
            CT,
            &[
                ("cores", Some("4")),
                (
                    "net1",
                    Some(
                        "name=eth1,bridge=vmbr1,hwaddr=BC:24:11:00:AB:CD,ip=10.0.0.5/24,type=veth",
                    ),
                ),
            ],
            "\n[pve:pending]\ndelete: swap\nfeatures: nesting=1,keyctl=1\n",
        );
        let rebuilt = replay_update(LXC, CT, &after, true, &["cores", "net1"]);
        assert_eq!(
            params(&rebuilt),
            [
                ("cores", "4"),
                ("delete", "swap"),
                ("features", "nesting=1,keyctl=1"),
                ("net1", "name=eth1,bridge=vmbr1,ip=10.0.0.5/24,type=veth")
            ]
        );
    }

    #[test]
    fn ct_created_without_what_pve_generates() {
        let rebuilt = replay_create(LXC, CT);
        assert_eq!(
            params(&rebuilt),
            [
                ("arch", "amd64"),
                ("cores", "2"),
                ("features", "nesting=1"),
                ("hostname", "ct101"),
                ("memory", "1024"),
                (
                    "net0",
                    "name=eth0,bridge=vmbr0,firewall=1,ip=dhcp,type=veth"
                ),
                ("ostype", "debian"),
                ("rootfs", "local-lvm:8"),
                ("swap", "512"),
                ("unprivileged", "1"),
                ("vmid", "101"),
            ]
        );
        assert_eq!(
            rebuilt.not_rebuilt,
            ["ostemplate", "password", "ssh-public-keys"]
        );
    }

    #[test]
    fn guest_calls_on_another_file_or_nothing_changed_rebuild_nothing() {
        let after = with(VM, &[("cores", Some("4"))], "");
        assert_eq!(
            call(
                VM_CONFIG,
                "PUT",
                "/nodes/pve1/qemu/101/config",
                VM_FILE,
                VM,
                &after
            ),
            None
        );
        assert_eq!(
            call(
                VM_CONFIG,
                "PUT",
                "/nodes/pve1/qemu/100/config",
                VM_FILE,
                VM,
                VM
            ),
            None
        );
        assert_eq!(
            call(
                "/nodes/{node}/qemu",
                "POST",
                "/nodes/pve1/qemu",
                VM_FILE,
                VM,
                &after
            ),
            None
        );
        let path = "/api2/json/nodes/pve1/qemu/100/config";
        assert!(call(VM_CONFIG, "POST", path, VM_FILE, VM, &after).is_some());
        assert_eq!(
            rebuild(
                VM_CONFIG,
                "PUT",
                path.as_bytes(),
                VM_FILE,
                VM.as_bytes(),
                after.as_bytes(),
                &[]
            ),
            None
        );
    }

    #[test]
    fn sizes_in_gib_exactly() {
        assert_eq!(gib("32G").as_deref(), Some("32"));
        assert_eq!(gib("1536M").as_deref(), Some("1.5"));
        assert_eq!(gib("1T").as_deref(), Some("1024"));
        assert_eq!(gib("4M").as_deref(), Some("0.00390625"));
        assert_eq!(gib("1073741824").as_deref(), Some("1"));
        assert_eq!(gib("12Q"), None);
        assert_eq!(gib(""), None);
    }

    // -----------------------------------------------------------------------------------------
    // The user.cfg model

    /// pve-common `src/PVE/ParseUtils.pm` `encode_text`: control and high bytes, `:` and `%`.
    fn encode_text(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                0x20..=0x24 | 0x26..=0x39 | 0x3b..=0x7e => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// A record as `write_user_config` writes it, read back (trailing empty fields dropped).
    fn record(fields: Vec<String>) -> Vec<String> {
        let mut fields = fields;
        while fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        fields
    }

    fn get<'r>(rebuilt: &'r Rebuilt, name: &str) -> Option<&'r str> {
        rebuilt
            .params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn set_members(cfg: &mut UserCfg, group: &str, change: impl FnOnce(&mut BTreeSet<String>)) {
        if let Some(fields) = cfg.records.get_mut(&("group".to_owned(), group.to_owned())) {
            let mut members: BTreeSet<String> =
                split_list(fields.first().map(String::as_str).unwrap_or_default())
                    .into_iter()
                    .collect();
            change(&mut members);
            let comment = fields.get(1).cloned().unwrap_or_default();
            *fields = record(vec![join(&members), comment]);
        }
    }

    /// What pve-access-control's `src/PVE/API2/{ACL,User,Group,Role}.pm` and pve-manager's
    /// `PVE/API2/Pool.pm` do to user.cfg with these parameters.
    fn model_user_cfg(
        before: &UserCfg,
        template: &str,
        path_id: Option<&str>,
        rebuilt: &Rebuilt,
    ) -> UserCfg {
        let mut cfg = UserCfg {
            records: before.records.clone(),
            acl: before.acl.clone(),
        };
        let p = |name: &str| get(rebuilt, name).map(str::to_owned);
        match template {
            "/access/acl" => {
                let path = p("path").unwrap();
                let propagate = p("propagate").is_none_or(|v| v == "1");
                let delete = p("delete").is_some_and(|v| v == "1");
                let mut members = split_list(&p("users").unwrap_or_default());
                members.extend(
                    split_list(&p("groups").unwrap_or_default())
                        .into_iter()
                        .map(|g| format!("@{g}")),
                );
                members.extend(split_list(&p("tokens").unwrap_or_default()));
                let node = cfg.acl.entry(path.clone()).or_default();
                for member in members {
                    for role in split_list(&p("roles").unwrap()) {
                        let roles = node.entry(member.clone()).or_default();
                        if delete {
                            roles.remove(&role);
                        } else {
                            roles.insert(role, propagate);
                        }
                    }
                }
                node.retain(|_, roles| !roles.is_empty());
                if node.is_empty() {
                    cfg.acl.remove(&path);
                }
            }
            "/access/users" | "/access/users/{userid}" => {
                let id = p("userid").or(path_id.map(str::to_owned)).unwrap();
                let key = ("user".to_owned(), id.clone());
                let mut fields = cfg
                    .records
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| vec!["1".to_owned()]);
                fields.resize(7, String::new());
                for (i, name) in [
                    "enable",
                    "expire",
                    "firstname",
                    "lastname",
                    "email",
                    "comment",
                    "keys",
                ]
                .iter()
                .enumerate()
                {
                    if let Some(value) = p(name) {
                        fields[i] = if matches!(*name, "firstname" | "lastname" | "comment") {
                            encode_text(&value)
                        } else {
                            value
                        };
                    }
                }
                if fields[1].is_empty() {
                    fields[1] = "0".to_owned();
                }
                cfg.records.insert(key, record(fields));
                if let Some(groups) = p("groups") {
                    for group in cfg.ids("group") {
                        set_members(&mut cfg, &group, |m| {
                            m.remove(&id);
                        });
                    }
                    for group in split_list(&groups) {
                        set_members(&mut cfg, &group, |m| {
                            m.insert(id.clone());
                        });
                    }
                }
            }
            "/access/groups" | "/access/groups/{groupid}" => {
                let id = p("groupid").or(path_id.map(str::to_owned)).unwrap();
                let key = ("group".to_owned(), id);
                let mut fields = cfg.records.get(&key).cloned().unwrap_or_default();
                fields.resize(2, String::new());
                if let Some(comment) = p("comment") {
                    fields[1] = encode_text(&comment);
                }
                cfg.records.insert(key, record(fields));
            }
            "/access/roles" | "/access/roles/{roleid}" => {
                let id = p("roleid").or(path_id.map(str::to_owned)).unwrap();
                let privs: BTreeSet<String> = split_list(&p("privs").unwrap_or_default())
                    .into_iter()
                    .collect();
                cfg.records
                    .insert(("role".to_owned(), id), record(vec![join(&privs)]));
            }
            "/pools" | "/pools/{poolid}" => {
                let id = p("poolid").or(path_id.map(str::to_owned)).unwrap();
                let key = ("pool".to_owned(), id.clone());
                let mut fields = cfg.records.get(&key).cloned().unwrap_or_default();
                fields.resize(3, String::new());
                if let Some(comment) = p("comment") {
                    fields[0] = encode_text(&comment);
                }
                let delete = p("delete").is_some_and(|v| v == "1");
                for (i, name) in [(1, "vms"), (2, "storage")] {
                    let mut list: BTreeSet<String> = split_list(&fields[i]).into_iter().collect();
                    for item in split_list(&p(name).unwrap_or_default()) {
                        if delete {
                            list.remove(&item);
                        } else {
                            if i == 1 {
                                assert!(
                                    p("allow-move").is_some()
                                        || before.pools_of_vm(&item).is_empty(),
                                    "VM {item} in another pool"
                                );
                                for other in before.pools_of_vm(&item) {
                                    let other_key = ("pool".to_owned(), other);
                                    if let Some(f) = cfg.records.get_mut(&other_key) {
                                        f.resize(3, String::new());
                                        let vms: BTreeSet<String> = split_list(&f[1])
                                            .into_iter()
                                            .filter(|v| *v != item)
                                            .collect();
                                        f[1] = join(&vms);
                                        *f = record(f.clone());
                                    }
                                }
                            }
                            list.insert(item);
                        }
                    }
                    fields[i] = join(&list);
                }
                cfg.records.insert(key, record(fields));
            }
            other => panic!("no model for {other}"),
        }
        cfg
    }

    /// A user.cfg as PVE writes it (shapes of pve-access-control `src/test/test8.cfg`).
    const USERS: &str = "\
user:root@pam:1:0:::root@example.com:::
user:alice@pve:1:0:Alice:Smith:alice@example.com:Ops%3A on-call::
user:bob@pve:1:1767225600:::::
token:alice@pve!ci:0:1::

group:admins:alice@pve:Cluster admins:
group:ops:alice@pve,bob@pve::

pool:prod:Production:100,101:local-lvm:
pool:test::102::

role:Auditor:Sys.Audit,VM.Audit:

acl:1:/:@admins:Administrator:
acl:1:/vms/100:bob@pve:PVEVMUser:
acl:0:/vms/100:bob@pve:PVEAuditor:
";

    fn replay_user_cfg(
        template: &str,
        method: &str,
        path: &str,
        before: &str,
        after: &str,
    ) -> Rebuilt {
        let rebuilt = call(template, method, path, "user.cfg", before, after).expect("rebuilt");
        let vars = path_vars(template, path.as_bytes()).unwrap();
        let id = vars.values().next().map(String::as_str);
        let replayed = model_user_cfg(&UserCfg::parse(before.as_bytes()), template, id, &rebuilt);
        assert_eq!(
            replayed,
            UserCfg::parse(after.as_bytes()),
            "replay of {rebuilt:?}"
        );
        rebuilt
    }

    fn edit(base: &str, replace: &[(&str, &str)]) -> String {
        let mut out = base.to_owned();
        for (old, new) in replace {
            assert!(out.contains(old), "{old}");
            out = out.replacen(old, new, 1);
        }
        out
    }

    #[test]
    fn acl_set() {
        let after = format!("{USERS}acl:1:/vms/101:alice@pve:PVEVMAdmin:\n");
        let rebuilt = replay_user_cfg("/access/acl", "PUT", "/access/acl", USERS, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("path", "/vms/101"),
                ("propagate", "1"),
                ("roles", "PVEVMAdmin"),
                ("users", "alice@pve")
            ]
        );
        // Groups and tokens, not propagated, several roles.
        let after =
            format!("{USERS}acl:0:/storage/local:@ops,alice@pve!ci:PVEDatastoreUser,PVEAuditor:\n");
        let rebuilt = replay_user_cfg("/access/acl", "PUT", "/access/acl", USERS, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("groups", "ops"),
                ("path", "/storage/local"),
                ("propagate", "0"),
                ("roles", "PVEAuditor,PVEDatastoreUser"),
                ("tokens", "alice@pve!ci")
            ]
        );
    }

    #[test]
    fn acl_set_where_part_was_there_already() {
        // bob already had PVEVMUser on /vms/100 with propagation: a call for bob and alice
        // with that role wrote only alice's.
        let after = edit(
            USERS,
            &[(
                "acl:1:/vms/100:bob@pve:PVEVMUser:",
                "acl:1:/vms/100:alice@pve,bob@pve:PVEVMUser:",
            )],
        );
        let rebuilt = replay_user_cfg("/access/acl", "PUT", "/access/acl", USERS, &after);
        assert_eq!(get(&rebuilt, "users"), Some("alice@pve"));
    }

    #[test]
    fn acl_delete() {
        let after = edit(USERS, &[("acl:0:/vms/100:bob@pve:PVEAuditor:\n", "")]);
        let rebuilt = replay_user_cfg("/access/acl", "PUT", "/access/acl", USERS, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("delete", "1"),
                ("path", "/vms/100"),
                ("roles", "PVEAuditor"),
                ("users", "bob@pve")
            ]
        );
    }

    #[test]
    fn acl_changes_no_one_call_makes_rebuild_nothing() {
        let two_paths = format!(
            "{USERS}acl:1:/vms/101:alice@pve:PVEVMAdmin:\nacl:1:/vms/102:alice@pve:PVEVMAdmin:\n"
        );
        assert_eq!(
            call(
                "/access/acl",
                "PUT",
                "/access/acl",
                "user.cfg",
                USERS,
                &two_paths
            ),
            None
        );
        let set_and_delete = edit(
            USERS,
            &[(
                "acl:0:/vms/100:bob@pve:PVEAuditor:",
                "acl:0:/vms/100:alice@pve:PVEAuditor:",
            )],
        );
        assert_eq!(
            call(
                "/access/acl",
                "PUT",
                "/access/acl",
                "user.cfg",
                USERS,
                &set_and_delete
            ),
            None
        );
    }

    #[test]
    fn user_created() {
        let after = edit(
            USERS,
            &[
                (
                    "user:bob@pve:",
                    "user:carol@pve:0:1798761600:Carol:D%C3%BCrr:carol@example.com:Temp%3A 50%25 contractor::\nuser:bob@pve:",
                ),
                (
                    "group:ops:alice@pve,bob@pve::",
                    "group:ops:alice@pve,bob@pve,carol@pve::",
                ),
            ],
        );
        let rebuilt = replay_user_cfg("/access/users", "POST", "/access/users", USERS, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("comment", "Temp: 50% contractor"),
                ("email", "carol@example.com"),
                ("enable", "0"),
                ("expire", "1798761600"),
                ("firstname", "Carol"),
                ("groups", "ops"),
                ("lastname", "Dürr"),
                ("userid", "carol@pve"),
            ]
        );
        assert_eq!(rebuilt.not_rebuilt, ["password"]);
    }

    #[test]
    fn user_updated() {
        let after = edit(
            USERS,
            &[
                (
                    "user:bob@pve:1:1767225600:::::",
                    "user:bob@pve:1:0:::bob@example.com:::",
                ),
                ("group:admins:alice@pve:", "group:admins:alice@pve,bob@pve:"),
                ("group:ops:alice@pve,bob@pve::", "group:ops:alice@pve::"),
            ],
        );
        let rebuilt = replay_user_cfg(
            "/access/users/{userid}",
            "PUT",
            "/access/users/bob@pve",
            USERS,
            &after,
        );
        assert_eq!(
            params(&rebuilt),
            [
                ("email", "bob@example.com"),
                ("expire", "0"),
                ("groups", "admins")
            ]
        );
        // A user's `keys` may be OATH secrets: named, never given.
        let after = edit(
            USERS,
            &[(
                "user:bob@pve:1:1767225600:::::",
                "user:bob@pve:1:1767225600:::::x4ac8f2e:",
            )],
        );
        let rebuilt = call(
            "/access/users/{userid}",
            "PUT",
            "/access/users/bob@pve",
            "user.cfg",
            USERS,
            &after,
        )
        .unwrap();
        assert!(rebuilt.params.is_empty());
        assert_eq!(rebuilt.not_rebuilt, ["keys"]);
    }

    #[test]
    fn group_created_and_updated() {
        let after = edit(
            USERS,
            &[(
                "group:ops:",
                "group:dev::Developers %26 testers:\ngroup:ops:",
            )],
        );
        let after = after.replace("%26", "&");
        let rebuilt = replay_user_cfg("/access/groups", "POST", "/access/groups", USERS, &after);
        assert_eq!(
            params(&rebuilt),
            [("comment", "Developers & testers"), ("groupid", "dev")]
        );
        let after = edit(
            USERS,
            &[(
                "group:admins:alice@pve:Cluster admins:",
                "group:admins:alice@pve:Cluster%3A admins:",
            )],
        );
        let rebuilt = replay_user_cfg(
            "/access/groups/{groupid}",
            "PUT",
            "/access/groups/admins",
            USERS,
            &after,
        );
        assert_eq!(params(&rebuilt), [("comment", "Cluster: admins")]);
    }

    #[test]
    fn role_created_and_updated() {
        let after = edit(
            USERS,
            &[(
                "role:Auditor:",
                "role:Backup:Datastore.AllocateSpace,VM.Backup:\nrole:Auditor:",
            )],
        );
        let rebuilt = replay_user_cfg("/access/roles", "POST", "/access/roles", USERS, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("privs", "Datastore.AllocateSpace,VM.Backup"),
                ("roleid", "Backup")
            ]
        );
        let after = edit(
            USERS,
            &[(
                "role:Auditor:Sys.Audit,VM.Audit:",
                "role:Auditor:Datastore.Audit,Sys.Audit,VM.Audit:",
            )],
        );
        let rebuilt = replay_user_cfg(
            "/access/roles/{roleid}",
            "PUT",
            "/access/roles/Auditor",
            USERS,
            &after,
        );
        assert_eq!(
            params(&rebuilt),
            [("privs", "Datastore.Audit,Sys.Audit,VM.Audit")]
        );
    }

    #[test]
    fn pool_created_and_updated() {
        let after = edit(
            USERS,
            &[("pool:test:", "pool:staging:Staging%3A next:::\npool:test:")],
        );
        let rebuilt = replay_user_cfg("/pools", "POST", "/pools", USERS, &after);
        assert_eq!(
            params(&rebuilt),
            [("comment", "Staging: next"), ("poolid", "staging")]
        );
        // VM 102 moves from test to prod.
        let after = edit(
            USERS,
            &[
                (
                    "pool:prod:Production:100,101:",
                    "pool:prod:Production:100,101,102:",
                ),
                ("pool:test::102::", "pool:test::::"),
            ],
        );
        let rebuilt = replay_user_cfg("/pools", "PUT", "/pools", USERS, &after);
        assert_eq!(
            params(&rebuilt),
            [("allow-move", "1"), ("poolid", "prod"), ("vms", "102")]
        );
        let after = edit(
            USERS,
            &[(
                "pool:prod:Production:100,101:local-lvm:",
                "pool:prod:Production:100,101::",
            )],
        );
        let rebuilt = replay_user_cfg("/pools/{poolid}", "PUT", "/pools/prod", USERS, &after);
        assert_eq!(
            params(&rebuilt),
            [("delete", "1"), ("storage", "local-lvm")]
        );
    }

    // -----------------------------------------------------------------------------------------
    // The storage.cfg model

    /// pve-storage `src/PVE/API2/Storage/Config.pm` `create` / `update`: a new section with the
    /// keys; keys set and `delete`d.
    fn model_storage(
        before: &str,
        template: &str,
        path_id: Option<&str>,
        rebuilt: &Rebuilt,
    ) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
        let mut cfg = parse_sections(before.as_bytes());
        if template == "/storage" {
            let mut keys: BTreeMap<String, String> = rebuilt.params.iter().cloned().collect();
            let id = keys.remove("storage").unwrap();
            let kind = keys.remove("type").unwrap();
            cfg.insert(id, (kind, keys));
        } else {
            let (_, keys) = cfg.get_mut(path_id.unwrap()).unwrap();
            for (key, value) in &rebuilt.params {
                if key == "delete" {
                    for k in split_list(value) {
                        keys.remove(&k);
                    }
                } else {
                    keys.insert(key.clone(), value.clone());
                }
            }
        }
        cfg
    }

    /// A stock node's storage.cfg (pve-manager's installer defaults).
    const STORAGE: &str = "\
dir: local
\tpath /var/lib/vz
\tcontent iso,vztmpl,backup

lvmthin: local-lvm
\tthinpool data
\tvgname pve
\tcontent rootdir,images
";

    fn replay_storage(
        template: &str,
        method: &str,
        path: &str,
        before: &str,
        after: &str,
    ) -> Rebuilt {
        let rebuilt = call(template, method, path, "storage.cfg", before, after).expect("rebuilt");
        let id = path_vars(template, path.as_bytes())
            .unwrap()
            .remove("storage");
        let replayed = model_storage(before, template, id.as_deref(), &rebuilt);
        assert_eq!(
            replayed,
            parse_sections(after.as_bytes()),
            "replay of {rebuilt:?}"
        );
        rebuilt
    }

    #[test]
    fn storage_added() {
        let after = format!(
            "{STORAGE}\nnfs: backup\n\texport /srv/backup\n\tpath /mnt/pve/backup\n\tserver 10.0.0.20\n\tcontent backup\n\tprune-backups keep-daily=7,keep-last=3\n\tdisable\n"
        );
        let rebuilt = replay_storage("/storage", "POST", "/storage", STORAGE, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("content", "backup"),
                ("disable", "1"),
                ("export", "/srv/backup"),
                ("path", "/mnt/pve/backup"),
                ("prune-backups", "keep-daily=7,keep-last=3"),
                ("server", "10.0.0.20"),
                ("storage", "backup"),
                ("type", "nfs"),
            ]
        );
        assert!(rebuilt.not_rebuilt.is_empty());
        let after = format!(
            "{STORAGE}\npbs: pbs1\n\tdatastore store1\n\tserver 10.0.0.30\n\tcontent backup\n\tfingerprint 1f:2e:3d\n\tusername backup@pbs\n"
        );
        let rebuilt = replay_storage("/storage", "POST", "/storage", STORAGE, &after);
        assert_eq!(
            rebuilt.not_rebuilt,
            ["encryption-key", "master-pubkey", "password"]
        );
    }

    #[test]
    fn storage_secret_in_the_file_is_not_given() {
        // PVE moves it to priv/storage/ID.pw; an old or hand-edited file may still hold it.
        let after = format!(
            "{STORAGE}\ncifs: share\n\tpath /mnt/pve/share\n\tserver 10.0.0.9\n\tshare data\n\tusername svc\n\tpassword hunter2\n"
        );
        let rebuilt = call(
            "/storage",
            "POST",
            "/storage",
            "storage.cfg",
            STORAGE,
            &after,
        )
        .unwrap();
        assert!(
            !rebuilt
                .params
                .iter()
                .any(|(k, v)| k == "password" || v == "hunter2")
        );
        assert_eq!(rebuilt.not_rebuilt, ["password"]);
    }

    #[test]
    fn storage_updated() {
        let after = STORAGE.replace(
            "\tcontent iso,vztmpl,backup\n",
            "\tcontent iso,vztmpl,backup,snippets\n\tnodes pve1,pve2\n",
        );
        let rebuilt = replay_storage(
            "/storage/{storage}",
            "PUT",
            "/storage/local",
            STORAGE,
            &after,
        );
        assert_eq!(
            params(&rebuilt),
            [
                ("content", "iso,vztmpl,backup,snippets"),
                ("nodes", "pve1,pve2")
            ]
        );
        let rebuilt = replay_storage(
            "/storage/{storage}",
            "PUT",
            "/storage/local",
            &after,
            STORAGE,
        );
        assert_eq!(
            params(&rebuilt),
            [("content", "iso,vztmpl,backup"), ("delete", "nodes")]
        );
    }

    // -----------------------------------------------------------------------------------------
    // The firewall model

    type Rule = BTreeMap<&'static str, String>;

    const RULE_FIELDS: [&str; 12] = [
        "action",
        "comment",
        "dest",
        "dport",
        "enable",
        "icmp-type",
        "iface",
        "log",
        "macro",
        "proto",
        "source",
        "sport",
    ];

    /// pve-firewall `src/PVE/API2/Firewall/Rules.pm`: `create_rule` (`copy_rule_data`, enable 0
    /// when absent, `unshift`), `update_rule` (`moveto`'s loop, or `copy_rule_data` and
    /// `delete_rule_properties`), `delete_rule` (`splice`).
    fn model_rules(
        before: &[Rule],
        method: &str,
        pos: Option<usize>,
        rebuilt: &Rebuilt,
    ) -> Vec<Rule> {
        let mut rules = before.to_vec();
        let copy = |rule: &mut Rule| {
            for (key, value) in &rebuilt.params {
                let Some(field) = RULE_FIELDS.iter().chain(&["type"]).find(|f| **f == key) else {
                    continue;
                };
                if value.is_empty() || value == "-" {
                    rule.remove(field);
                } else {
                    rule.insert(field, value.clone());
                }
            }
        };
        match method {
            "POST" => {
                let mut rule = Rule::new();
                copy(&mut rule);
                rule.entry("enable").or_insert_with(|| "0".to_owned());
                rules.insert(0, rule);
            }
            "DELETE" => {
                rules.remove(pos.unwrap());
            }
            _ => {
                let pos = pos.unwrap();
                let rule = rules[pos].clone();
                if let Some(moveto) = get(rebuilt, "moveto") {
                    let moveto: usize = moveto.parse().unwrap();
                    let mut moved = Vec::new();
                    for (i, other) in rules.iter().enumerate() {
                        if i == pos {
                            continue;
                        }
                        if i == moveto {
                            moved.push(rule.clone());
                        }
                        moved.push(other.clone());
                    }
                    if moveto >= rules.len() {
                        moved.push(rule);
                    }
                    rules = moved;
                } else {
                    copy(&mut rules[pos]);
                    for key in split_list(get(rebuilt, "delete").unwrap_or_default()) {
                        rules[pos].retain(|k, _| **k != key);
                    }
                }
            }
        }
        rules
    }

    /// pve-firewall `$format_rules`.
    fn format_rule(rule: &Rule) -> String {
        let field = |k: &str| rule.get(k).cloned().unwrap_or_default();
        let mut out = String::new();
        if field("enable") == "0" {
            out.push('|');
        }
        out.push_str(&field("type").to_ascii_uppercase());
        match rule.get("macro") {
            Some(m) => out.push_str(&format!(" {m}({})", field("action"))),
            None => out.push_str(&format!(" {}", field("action"))),
        }
        for (flag, key) in [
            ("-i", "iface"),
            ("-source", "source"),
            ("-dest", "dest"),
            ("-p", "proto"),
            ("-dport", "dport"),
            ("-sport", "sport"),
            ("-log", "log"),
            ("-icmp-type", "icmp-type"),
        ] {
            if let Some(v) = rule.get(key) {
                out.push_str(&format!(" {flag} {v}"));
            }
        }
        if let Some(c) = rule.get("comment") {
            out.push_str(&format!(" # {c}"));
        }
        out
    }

    fn fw_file(rules: &[Rule]) -> String {
        let lines: Vec<String> = rules.iter().map(format_rule).collect();
        format!(
            "[OPTIONS]\n\nenable: 1\n\n[IPSET ipfilter-net0] # only these\n\n192.168.2.10\n\n[RULES]\n\n{}\n",
            lines.join("\n")
        )
    }

    fn replay_rules(
        base: &str,
        method: &str,
        pos: Option<usize>,
        before: &str,
        after: &str,
    ) -> Rebuilt {
        let (template, path) = match pos {
            Some(pos) => (
                format!("{base}/rules/{{pos}}"),
                format!(
                    "{}/rules/{pos}",
                    base.replace("{node}", "pve1").replace("{vmid}", "100")
                ),
            ),
            None => (
                format!("{base}/rules"),
                format!(
                    "{}/rules",
                    base.replace("{node}", "pve1").replace("{vmid}", "100")
                ),
            ),
        };
        let file = match base {
            "/cluster/firewall" => "firewall/cluster.fw",
            "/nodes/{node}/firewall" => "nodes/pve1/host.fw",
            _ => "firewall/100.fw",
        };
        let rebuilt = call(&template, method, &path, file, before, after).expect("rebuilt");
        let old = parse_rules(before.as_bytes()).unwrap();
        assert_eq!(
            model_rules(&old, method, pos, &rebuilt),
            parse_rules(after.as_bytes()).unwrap(),
            "replay of {rebuilt:?}"
        );
        rebuilt
    }

    /// The rules of pve-firewall's `debian/example/100.fw`, a few of them.
    const RULES: &str = "\
[OPTIONS]

enable: 1

[RULES]

#TYPE ACTION [OPTIONS]
IN SSH(ACCEPT) -i net0
IN SSH(ACCEPT) -i net0 -source 192.168.2.192 # only allow SSH from 192.168.2.192
IN ACCEPT -i net0 -p icmpv6
|IN SSH(ACCEPT) -i net0 # disabled rule
GROUP group1 -i net0
OUT DNS(ACCEPT) -i net0
";

    #[test]
    fn firewall_rule_added_on_every_level() {
        let after = RULES.replace(
            "#TYPE ACTION [OPTIONS]\n",
            "IN ACCEPT -source +trusted -p tcp -dport 8006 -log info # web UI\n",
        );
        for base in [
            "/cluster/firewall",
            "/nodes/{node}/firewall",
            "/nodes/{node}/qemu/{vmid}/firewall",
            "/nodes/{node}/lxc/{vmid}/firewall",
        ] {
            let rebuilt = replay_rules(base, "POST", None, RULES, &after);
            assert_eq!(
                params(&rebuilt),
                [
                    ("action", "ACCEPT"),
                    ("comment", "web UI"),
                    ("dport", "8006"),
                    ("enable", "1"),
                    ("log", "info"),
                    ("proto", "tcp"),
                    ("source", "+trusted"),
                    ("type", "in")
                ]
            );
        }
        // A disabled macro rule.
        let after = RULES.replace("#TYPE ACTION [OPTIONS]\n", "|OUT HTTP(REJECT) -i net1\n");
        let rebuilt = replay_rules("/cluster/firewall", "POST", None, RULES, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("action", "REJECT"),
                ("enable", "0"),
                ("iface", "net1"),
                ("macro", "HTTP"),
                ("type", "out")
            ]
        );
    }

    #[test]
    fn firewall_rule_moved_updated_deleted() {
        let rules = parse_rules(RULES.as_bytes()).unwrap();
        let mut moved = rules.clone();
        let rule = moved.remove(0);
        moved.insert(3, rule);
        let rebuilt = replay_rules("/cluster/firewall", "PUT", Some(0), RULES, &fw_file(&moved));
        assert_eq!(params(&rebuilt), [("moveto", "4")]);
        let rebuilt = replay_rules("/cluster/firewall", "PUT", Some(3), &fw_file(&moved), RULES);
        assert_eq!(params(&rebuilt), [("moveto", "0")]);

        let after = RULES.replace(
            "IN SSH(ACCEPT) -i net0 -source 192.168.2.192 # only allow SSH from 192.168.2.192",
            "IN SSH(DROP) -i net0 -log nolog",
        );
        let rebuilt = replay_rules("/nodes/{node}/firewall", "PUT", Some(1), RULES, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("action", "DROP"),
                ("delete", "comment,source"),
                ("log", "nolog")
            ]
        );

        let after = RULES.replace("GROUP group1 -i net0\n", "");
        let rebuilt = replay_rules(
            "/nodes/{node}/qemu/{vmid}/firewall",
            "DELETE",
            Some(4),
            RULES,
            &after,
        );
        assert!(rebuilt.params.is_empty());
        // Not that rule: nothing.
        assert_eq!(
            call(
                "/cluster/firewall/rules/{pos}",
                "DELETE",
                "/cluster/firewall/rules/3",
                "firewall/cluster.fw",
                RULES,
                &after
            ),
            None
        );
    }

    fn arb_rule() -> impl Strategy<Value = Rule> {
        (
            prop::sample::select(vec!["in", "out", "group"]),
            prop::sample::select(vec!["ACCEPT", "DROP", "REJECT"]),
            prop::option::of(prop::sample::select(vec!["SSH", "HTTP", "DNS"])),
            prop::option::of(prop::sample::select(vec!["net0", "net1"])),
            prop::option::of(prop::sample::select(vec![
                "10.0.0.1",
                "+trusted",
                "dc/servers",
            ])),
            prop::option::of(prop::sample::select(vec!["22", "80:90", "443"])),
            prop::option::of("[a-z]{1,8}( [a-z]{1,5})?"),
            any::<bool>(),
        )
            .prop_map(
                |(kind, action, macro_name, iface, source, dport, comment, enable)| {
                    let mut rule = Rule::new();
                    rule.insert("type", kind.to_owned());
                    rule.insert("enable", if enable { "1" } else { "0" }.to_owned());
                    if kind == "group" {
                        rule.insert("action", "group1".to_owned());
                    } else {
                        rule.insert("action", action.to_owned());
                        if let Some(m) = macro_name {
                            rule.insert("macro", m.to_owned());
                        }
                        if let Some(s) = source {
                            rule.insert("source", s.to_owned());
                        }
                        if let Some(d) = dport {
                            rule.insert("proto", "tcp".to_owned());
                            rule.insert("dport", d.to_owned());
                        }
                    }
                    if let Some(i) = iface {
                        rule.insert("iface", i.to_owned());
                    }
                    if let Some(c) = comment {
                        rule.insert("comment", c);
                    }
                    rule
                },
            )
    }

    /// What a random call did: `(method, pos, after)`.
    fn arb_rules_call() -> impl Strategy<Value = (Vec<Rule>, &'static str, Option<usize>, Vec<Rule>)>
    {
        (
            prop::collection::vec(arb_rule(), 1..6),
            arb_rule(),
            0usize..8,
            0usize..8,
            0u8..4,
        )
            .prop_map(|(before, rule, a, b, op)| {
                let n = before.len();
                let (pos, to) = (a % n, b % n);
                let mut after = before.clone();
                match op {
                    0 => {
                        after.insert(0, rule);
                        (before, "POST", None, after)
                    }
                    1 => {
                        after.remove(pos);
                        (before, "DELETE", Some(pos), after)
                    }
                    2 => {
                        let moved = after.remove(pos);
                        after.insert(to, moved);
                        (before, "PUT", Some(pos), after)
                    }
                    _ => {
                        after[pos] = rule;
                        (before, "PUT", Some(pos), after)
                    }
                }
            })
    }

    proptest! {
        /// Any add, delete, move or edit of a rule: the rebuilt call replays to the same rules
        /// (or nothing is rebuilt when the call changed nothing, or a rule equal to another
        /// makes the edit a move: both replay the same).
        #[test]
        fn firewall_calls_replay((before, method, pos, after) in arb_rules_call()) {
            let (old, new) = (fw_file(&before), fw_file(&after));
            let template = if pos.is_some() { "/cluster/firewall/rules/{pos}" } else { "/cluster/firewall/rules" };
            let path = pos.map_or("/cluster/firewall/rules".to_owned(), |p| format!("/cluster/firewall/rules/{p}"));
            let rebuilt = call(template, method, &path, "firewall/cluster.fw", &old, &new);
            let old_rules = parse_rules(old.as_bytes()).unwrap();
            let new_rules = parse_rules(new.as_bytes()).unwrap();
            prop_assert_eq!(&old_rules, &before);
            match rebuilt {
                Some(rebuilt) => prop_assert_eq!(model_rules(&old_rules, method, pos, &rebuilt), new_rules),
                None => prop_assert_eq!(old_rules, new_rules),
            }
        }

        /// A stopped VM's main-section keys set and removed at random: the rebuilt update
        /// replays to the after file.
        #[test]
        fn vm_updates_replay(
            before in prop::collection::btree_map(prop::sample::select(vec!["cores", "memory", "name", "onboot", "tags", "balloon", "sockets", "agent"]), "[a-z0-9=;]{1,6}", 0..8),
            after in prop::collection::btree_map(prop::sample::select(vec!["cores", "memory", "name", "onboot", "tags", "balloon", "sockets", "agent"]), "[a-z0-9=;]{1,6}", 0..8),
        ) {
            let print = |keys: &BTreeMap<&str, String>| keys.iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>();
            let (old, new) = (print(&before), print(&after));
            let rebuilt = call(VM_CONFIG, "PUT", "/nodes/pve1/qemu/100/config", VM_FILE, &old, &new);
            let (old, new) = (GuestConf::parse(QEMU, old.as_bytes()), GuestConf::parse(QEMU, new.as_bytes()));
            match rebuilt {
                Some(rebuilt) => {
                    let random = Random::of(QEMU, &new);
                    prop_assert_eq!(model_update(QEMU, "100", &old, &rebuilt, false, &[], &random), norm(&new));
                }
                None => prop_assert_eq!(norm(&old), norm(&new)),
            }
        }

        /// Storage keys changed at random: the rebuilt update replays, or a change of `path`
        /// (which `PUT /storage/{storage}` does not take) gets no body.
        #[test]
        fn storage_updates_replay(
            before in prop::collection::btree_map(prop::sample::select(vec!["content", "nodes", "shared", "disable", "path", "prune-backups"]), "[a-z0-9,=]{1,8}", 0..6),
            after in prop::collection::btree_map(prop::sample::select(vec!["content", "nodes", "shared", "disable", "path", "prune-backups"]), "[a-z0-9,=]{1,8}", 0..6),
        ) {
            let print = |keys: &BTreeMap<&str, String>| format!("dir: store\n{}", keys.iter().map(|(k, v)| format!("\t{k} {v}\n")).collect::<String>());
            let (old, new) = (print(&before), print(&after));
            match call("/storage/{storage}", "PUT", "/storage/store", "storage.cfg", &old, &new) {
                Some(rebuilt) => prop_assert_eq!(model_storage(&old, "/storage/{storage}", Some("store"), &rebuilt), parse_sections(new.as_bytes())),
                // `path` is fixed once a storage exists: no update changes it.
                None => prop_assert!(before.get("path") != after.get("path") || parse_sections(old.as_bytes()) == parse_sections(new.as_bytes())),
            }
        }

        /// Whatever the bytes, nothing panics and an unchanged file rebuilds nothing.
        #[test]
        fn any_bytes(before in prop::collection::vec(any::<u8>(), 0..400), after in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut data = before.clone();
            data.extend(&after);
            crate::fuzzing::config_rebuild(&data);
        }
    }

    // -----------------------------------------------------------------------------------------
    // On Proxmox's own files (tests/data/etc-pve-formats/, see its README)

    fn upstream(name: &str) -> String {
        let path = format!(
            "{}/tests/data/etc-pve-formats/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).expect(&path)
    }

    #[test]
    fn upstream_vm_with_snapshots_edited() {
        // qemu-server's parse-config-input/snapshots.conf: VM 111 with snapshots, an unused
        // rbd disk, disks on three storages. Cores up, a disk added on lvmthinbig (its second),
        // the unused disk destroyed, numa's line removed.
        let before = upstream("qemu-snapshots.conf");
        let after = before
            .replacen("cores: 4\n", "cores: 8\n", 1)
            .replacen("numa: 0\n", "", 1)
            .replacen("unused0: rbd:vm-111-disk-0\n", "", 1)
            .replacen(
                "scsihw:",
                "scsi2: lvmthinbig:vm-111-disk-1,discard=on,size=64G\nscsihw:",
                1,
            );
        let rebuilt = replay_update_of(QEMU, "111", &before, &after, false, &[]);
        assert_eq!(
            params(&rebuilt),
            [
                ("cores", "8"),
                ("delete", "numa,unused0"),
                ("scsi2", "lvmthinbig:64,discard=on")
            ]
        );
    }

    #[test]
    fn upstream_snapshot_is_no_config_write() {
        // pve-container's snapshot test: before and after `pct snapshot`.
        let (before, after) = (
            upstream("lxc-snapshot-before.conf"),
            upstream("lxc-snapshot-after.conf"),
        );
        assert_eq!(
            call(
                CT_CONFIG,
                "PUT",
                "/nodes/pve1/lxc/101/config",
                CT_FILE,
                &before,
                &after
            ),
            None
        );
    }

    #[test]
    fn upstream_user_cfg_acl_and_user() {
        let before = upstream("user-test8.cfg");
        let after = format!("{before}acl:0:/storage/nfs1:@testgroup1,joe@pve:storage_manager:\n");
        let rebuilt = replay_user_cfg("/access/acl", "PUT", "/access/acl", &before, &after);
        assert_eq!(
            params(&rebuilt),
            [
                ("groups", "testgroup1"),
                ("path", "/storage/nfs1"),
                ("propagate", "0"),
                ("roles", "storage_manager"),
                ("users", "joe@pve")
            ]
        );
        let after = before.replacen("user:joe@pve:1:", "user:joe@pve:0:", 1);
        let rebuilt = replay_user_cfg(
            "/access/users/{userid}",
            "PUT",
            "/access/users/joe@pve",
            &before,
            &after,
        );
        assert_eq!(params(&rebuilt), [("enable", "0")]);
    }

    #[test]
    fn upstream_storage_updated() {
        let before = upstream("storage.cfg");
        let after = before.replacen(
            "\tprune-backups keep-last=3\n",
            "\tprune-backups keep-daily=7\n\tnodes pve1\n",
            1,
        );
        let rebuilt = replay_storage(
            "/storage/{storage}",
            "PUT",
            "/storage/nfs1",
            &before,
            &after,
        );
        assert_eq!(
            params(&rebuilt),
            [("nodes", "pve1"), ("prune-backups", "keep-daily=7")]
        );
    }

    #[test]
    fn upstream_firewall_rule_added_and_moved() {
        // pve-firewall's debian/example/100.fw, its comment lines and all.
        let before = upstream("fw-100.fw");
        let rules = parse_rules(before.as_bytes()).unwrap();
        assert!(rules.len() > 5, "{rules:?}");
        let new_rule = parse_rules(b"[RULES]\nIN HTTPS(ACCEPT) -i net0 -source +admins\n")
            .unwrap()
            .remove(0);
        let added: Vec<Rule> = std::iter::once(new_rule)
            .chain(rules.iter().cloned())
            .collect();
        let after = fw_file(&added);
        let rebuilt = replay_rules(
            "/nodes/{node}/qemu/{vmid}/firewall",
            "POST",
            None,
            &before,
            &after,
        );
        assert_eq!(
            params(&rebuilt),
            [
                ("action", "ACCEPT"),
                ("enable", "1"),
                ("iface", "net0"),
                ("macro", "HTTPS"),
                ("source", "+admins"),
                ("type", "in")
            ]
        );
        let mut moved = added.clone();
        let rule = moved.remove(0);
        moved.insert(2, rule);
        let rebuilt = replay_rules(
            "/nodes/{node}/qemu/{vmid}/firewall",
            "PUT",
            Some(0),
            &after,
            &fw_file(&moved),
        );
        assert_eq!(params(&rebuilt), [("moveto", "3")]);
    }
}
