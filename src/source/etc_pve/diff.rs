//! What changed in a file under `/etc/pve`: the difference between two versions of it, at the
//! level its format has (`../shared/docs/pve-sources.md` §3).
//!
//! A line diff would say "line 7 changed"; an auditor wants "`memory` went from 2048 to 4096 in
//! VM 100", and a replay needs the keys. So each format is read the way PVE reads it (the
//! parsers cite the Proxmox code they follow) into [`Section`]s of unique keys in file order,
//! and two such readings are compared key by key:
//!
//! * guest configs ([`super::guest`]): keys per section, the main part, `[PENDING]` /
//!   `[pve:pending]`, `[special:cloudinit]` and snapshots being sections;
//! * `user.cfg` ([`super::user_cfg`]): records by type and id;
//! * section-config files ([`super::sections`]): sections `TYPE: ID` and their keys;
//! * `key: value` files ([`key_value`]): keys;
//! * firewall files ([`super::firewall`]): options, aliases, ipset entries, and rules by position.
//!
//! What PVE itself ignores when it reads a file (an unparsable line, a line outside any section)
//! is ignored here too: it has no effect, so it is no change. Values are UTF-8 text, lossily
//! decoded; nothing here panics on any bytes. Secrets are *not* redacted here (the renderer does
//! that, by key name and by value shape); [`is_secret_key`] says which keys PVE keeps secrets in.

use std::collections::{HashMap, HashSet};

use super::{firewall, guest, sections, user_cfg};

/// How a tracked file under /etc/pve is written, and so how it is diffed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// qemu-server/VMID.conf, lxc/VMID.conf (`lxc: true`): leading `#` lines = `description`, `key: value`,
    /// sections `[PENDING]` (lxc: `[pve:pending]`), `[special:cloudinit]`, `[SNAPNAME]`.
    Guest { lxc: bool },
    /// user.cfg: colon records `user:`, `token:`, `group:`, `pool:`, `role:`, `acl:`.
    UserCfg,
    /// SectionConfig (storage.cfg, jobs.cfg, ha/*.cfg, sdn/*.cfg, replication.cfg, mapping/*.cfg, notifications.cfg,
    /// domains.cfg, virtual-guest/*.cfg...): `TYPE: ID` then indented `key value` lines.
    Sections,
    /// datacenter.cfg, nodes/NODE/config, vzdump.conf: `key: value` lines.
    KeyValue,
    /// firewall/cluster.fw, firewall/VMID.fw, nodes/NODE/host.fw: `[OPTIONS]`, `[ALIASES]`, `[IPSET name]`,
    /// `[RULES]`, `[group name]`.
    Firewall,
}

/// One difference between two versions of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// The path relative to /etc/pve as the watcher names it (`nodes/pve1/qemu-server/100.conf`, `user.cfg`).
    pub(crate) file: String,
    /// Guest config: None for the main section, `PENDING` / `pve:pending`, `special:cloudinit`, a snapshot name.
    /// user.cfg: the record type (`user`, `group`, `pool`, `role`, `token`, `acl`).
    /// Sections: `TYPE: ID` (e.g. `dir: local`). KeyValue: None.
    /// Firewall: `OPTIONS`, `ALIASES`, `RULES`, `IPSET name`, `group name` (as in the header, without brackets).
    pub(crate) section: Option<String>,
    /// Guest/Sections/KeyValue/OPTIONS: the key. user.cfg: the record id (`alice@pve`; acl: the path, e.g. `/vms/100`).
    /// ALIASES: the alias name; IPSET: the cidr; RULES / group: the rule's position, `0`, `1`…
    pub(crate) key: String,
    /// Before and after, `None` = absent. user.cfg: the record's fields after the id as written (acl: all acl
    /// lines of that path, sorted, joined with `\n`). A section added or removed: one Change per key (a section
    /// without keys: one Change with key `""`).
    pub(crate) old: Option<String>,
    pub(crate) new: Option<String>,
}

#[cfg(test)]
impl Change {
    /// (section, key, old, new), for the format tests' expectations.
    pub(crate) fn parts(&self) -> (&str, &str, Option<&str>, Option<&str>) {
        (
            self.section.as_deref().unwrap_or(""),
            self.key.as_str(),
            self.old.as_deref(),
            self.new.as_deref(),
        )
    }
}

/// The most changes [`diff`] gives for one file, the marker of the cut included.
pub(crate) const MAX_CHANGES: usize = 4096;

impl Change {
    /// Whether this is the last change of a diff that was cut at [`MAX_CHANGES`]: section None
    /// and key `""`, which no parser makes (the main section of a guest config and a
    /// `key: value` file never have an empty key; every other format's keys are in a section).
    /// Its `new` says how many changes were left out (`"N more changes"`), `old` is None.
    pub(crate) fn is_cut(&self) -> bool {
        self.section.is_none() && self.key.is_empty()
    }
}

/// A part of a file: a name (None for what comes before any section header) and its keys,
/// unique, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Section {
    pub(crate) name: Option<String>,
    pub(crate) keys: Vec<(String, String)>,
}

impl Section {
    /// The value of `key`, if the section has it.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What a second value for a key already seen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Again {
    /// The later value wins (a Perl hash), at the first one's place.
    Replace,
    /// The values are kept, joined with `\n` (a list, like raw `lxc.*` keys).
    Join,
}

/// What opening a section already seen does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reopen {
    /// Its keys so far are dropped (PVE makes a new hash), its place kept.
    Reset,
    /// More keys are added to it.
    Continue,
}

/// Builds the [`Section`]s of a file as a parser reads it, keeping keys and section names
/// unique.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    sections: Vec<Section>,
    places: HashMap<Option<String>, usize>,
    keys: Vec<HashMap<String, usize>>,
    current: usize,
}

impl Builder {
    /// A file with its main (unnamed) section open.
    pub(crate) fn new() -> Builder {
        let mut builder = Builder::default();
        builder.open(None, Reopen::Continue);
        builder
    }

    /// A file without a main section: keys go nowhere until a section is opened.
    pub(crate) fn without_main() -> Builder {
        Builder {
            current: usize::MAX,
            ..Builder::default()
        }
    }

    /// Makes `name` the section that keys go to.
    pub(crate) fn open(&mut self, name: Option<String>, reopen: Reopen) {
        if let Some(&place) = self.places.get(&name) {
            if reopen == Reopen::Reset {
                self.sections[place].keys.clear();
                self.keys[place].clear();
            }
            self.current = place;
            return;
        }
        self.current = self.sections.len();
        self.places.insert(name.clone(), self.current);
        self.sections.push(Section {
            name,
            keys: Vec::new(),
        });
        self.keys.push(HashMap::new());
    }

    /// Keys go nowhere until the next [`Builder::open`] (an unknown section PVE skips).
    pub(crate) fn close(&mut self) {
        self.current = usize::MAX;
    }

    /// Whether a section is open.
    pub(crate) fn is_open(&self) -> bool {
        self.current != usize::MAX
    }

    /// The name of the open section (None: none is open; `Some(None)`: the main one).
    pub(crate) fn current_name(&self) -> Option<Option<&str>> {
        self.sections.get(self.current).map(|s| s.name.as_deref())
    }

    /// Adds `key` to the open section (nothing when none is).
    pub(crate) fn push(&mut self, key: String, value: String, again: Again) {
        let Some(section) = self.sections.get_mut(self.current) else {
            return;
        };
        let keys = &mut self.keys[self.current];
        match keys.get(&key) {
            Some(&at) => {
                let slot = &mut section.keys[at].1;
                match again {
                    Again::Replace => *slot = value,
                    Again::Join => {
                        slot.push('\n');
                        slot.push_str(&value);
                    }
                }
            }
            None => {
                keys.insert(key.clone(), section.keys.len());
                section.keys.push((key, value));
            }
        }
    }

    /// The sections, in the order they were first opened; an empty main section is dropped.
    pub(crate) fn finish(mut self) -> Vec<Section> {
        if self
            .sections
            .first()
            .is_some_and(|s| s.name.is_none() && s.keys.is_empty())
        {
            self.sections.remove(0);
        }
        self.sections
    }
}

/// PVE's `decode_text` (pve-common `src/PVE/ParseUtils.pm`: `uri_unescape`, then UTF-8), for
/// descriptions and comments, which PVE writes with `encode_text` (control and non-ASCII
/// characters, `:` and `%` percent-escaped). Invalid UTF-8 is replaced, not refused.
pub(crate) fn decode_text(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// `s` without trailing whitespace (Perl's `s/\s+$//`).
pub(crate) fn trim_end(s: &str) -> &str {
    s.trim_end_matches(|c: char| c.is_ascii_whitespace())
}

/// Reads `data` as `format` is read: the form [`diff`] compares.
pub(crate) fn parse(format: Format, data: &[u8]) -> Vec<Section> {
    match format {
        Format::Guest { lxc } => guest::parse_guest_as(data, lxc).sections,
        Format::UserCfg => user_cfg::sections(user_cfg::parse_user_cfg(data)),
        Format::Sections => sections::as_sections(sections::parse_sections(data)),
        Format::KeyValue => key_value::parse(data),
        Format::Firewall => firewall::parse_firewall(data),
    }
}

/// Every key of every section of `data`, with a pseudo key `""` (value `""`) for a named section
/// that has none, so that an empty section still shows.
fn keyed(format: Format, data: &[u8]) -> Vec<Section> {
    let mut parsed = parse(format, data);
    for section in &mut parsed {
        if section.name.is_some() && section.keys.is_empty() {
            section.keys.push((String::new(), String::new()));
        }
    }
    parsed
}

/// The differences from `old` to `new`, two versions of `file` written in `format`.
///
/// Order: the sections of `new` in file order, each with its changed and added keys in file
/// order, then its removed keys in the old order; then the sections only `old` has, in its order.
/// A section added or removed gives one change per key; a named section without keys one change
/// with key `""` and value `""`. At most [`MAX_CHANGES`] changes: past that the last one is a
/// marker ([`Change::is_cut`]) counting the rest. Never panics; the cost is linear in the sizes.
pub(crate) fn diff(format: Format, file: &str, old: &[u8], new: &[u8]) -> Vec<Change> {
    if old == new {
        return Vec::new();
    }
    diff_sections(file, &keyed(format, old), &keyed(format, new))
}

/// [`diff`] of two readings.
pub(crate) fn diff_sections(file: &str, old: &[Section], new: &[Section]) -> Vec<Change> {
    let mut out = Changes {
        file,
        list: Vec::new(),
        more: 0,
    };
    let old_places: HashMap<&Option<String>, usize> =
        old.iter().enumerate().map(|(i, s)| (&s.name, i)).collect();
    for section in new {
        let Some(&at) = old_places.get(&section.name) else {
            for (key, value) in &section.keys {
                out.push(&section.name, key, None, Some(value));
            }
            continue;
        };
        let before = &old[at];
        let old_keys: HashMap<&str, &str> = before
            .keys
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut new_keys = HashSet::with_capacity(section.keys.len());
        for (key, value) in &section.keys {
            new_keys.insert(key.as_str());
            match old_keys.get(key.as_str()) {
                Some(was) if *was == value => {}
                was => out.push(&section.name, key, was.copied(), Some(value)),
            }
        }
        for (key, value) in &before.keys {
            if !new_keys.contains(key.as_str()) {
                out.push(&section.name, key, Some(value), None);
            }
        }
    }
    let new_names: HashSet<&Option<String>> = new.iter().map(|s| &s.name).collect();
    for section in old {
        if !new_names.contains(&section.name) {
            for (key, value) in &section.keys {
                out.push(&section.name, key, Some(value), None);
            }
        }
    }
    out.finish()
}

/// Changes being gathered, cut at [`MAX_CHANGES`].
struct Changes<'a> {
    file: &'a str,
    list: Vec<Change>,
    more: usize,
}

impl Changes<'_> {
    fn push(&mut self, section: &Option<String>, key: &str, old: Option<&str>, new: Option<&str>) {
        if self.list.len() < MAX_CHANGES {
            self.list.push(Change {
                file: self.file.to_string(),
                section: section.clone(),
                key: key.to_string(),
                old: old.map(str::to_string),
                new: new.map(str::to_string),
            });
        } else {
            self.more += 1;
        }
    }

    fn finish(mut self) -> Vec<Change> {
        if self.more > 0 {
            // The last change kept gives its place to the marker.
            self.list.truncate(MAX_CHANGES - 1);
            self.list.push(Change {
                file: self.file.to_string(),
                section: None,
                key: String::new(),
                old: None,
                new: Some(format!("{} more changes", self.more + 1)),
            });
        }
        self.list
    }
}

/// The format of the file at `path` (relative to /etc/pve, as the watcher names it), or None
/// when pverec does not track it. Never anything with a `priv` component: secrets live there
/// (`priv/shadow.cfg`, `priv/token.cfg`, `priv/storage/ID.pw`) and are never read.
///
/// Tracked (issue 14 item 1, the files pmxcfs versions in pve-cluster `src/pmxcfs/status.c`):
/// `nodes/NODE/qemu-server/VMID.conf`, `nodes/NODE/lxc/VMID.conf` (guest configs of every node;
/// the links `qemu-server/`, `lxc/` and `local/` name the same files and are not tracked twice),
/// `user.cfg`; section configs `storage.cfg`, `jobs.cfg`, `replication.cfg`, `ha/resources.cfg`,
/// `ha/groups.cfg`, `ha/rules.cfg`, `sdn/*.cfg`, `mapping/*.cfg`; `key: value` files
/// `datacenter.cfg`, `nodes/NODE/config`, and as such `vzdump.cron` (legacy backup jobs: its
/// `#` header is a description, `PATH=…` a key, each job line a key `#N` by its position, as
/// pve-guest-common `src/PVE/VZDump/Common.pm` `parse_vzdump_cron_config` numbers them) and
/// `ha/fence.cfg` (`device`/`connect` lines, by position); firewall files `firewall/*.fw`,
/// `nodes/NODE/host.fw`, `sdn/firewall/VNET.fw`. Not tracked: state that changes without
/// anyone asking (`ha/manager_status`, `ha/crm_commands`, `sdn/*.json`, `nodes/NODE/lrm_status`),
/// dot files, certificates and keys.
pub(crate) fn format_of(path: &str) -> Option<Format> {
    let parts: Vec<&str> = path.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == ".." || *p == "priv" || p.starts_with('.'))
    {
        return None;
    }
    let name = |file: &str, ext: &str| {
        file.strip_suffix(ext)
            .is_some_and(|stem| !stem.is_empty() && stem.bytes().all(plain_byte))
    };
    match parts.as_slice() {
        ["user.cfg"] => Some(Format::UserCfg),
        ["storage.cfg" | "jobs.cfg" | "replication.cfg"] => Some(Format::Sections),
        ["datacenter.cfg" | "vzdump.cron"] => Some(Format::KeyValue),
        ["ha", "resources.cfg" | "groups.cfg" | "rules.cfg"] => Some(Format::Sections),
        ["ha", "fence.cfg"] => Some(Format::KeyValue),
        ["sdn" | "mapping", file] if name(file, ".cfg") => Some(Format::Sections),
        ["firewall", file] | ["sdn", "firewall", file] if name(file, ".fw") => {
            Some(Format::Firewall)
        }
        ["nodes", node, rest @ ..] if node.bytes().all(plain_byte) => match rest {
            ["host.fw"] => Some(Format::Firewall),
            ["config"] => Some(Format::KeyValue),
            [kind @ ("qemu-server" | "lxc"), file] => {
                let vmid = file.strip_suffix(".conf")?;
                (!vmid.is_empty() && vmid.len() <= 10 && vmid.bytes().all(|b| b.is_ascii_digit()))
                    .then_some(Format::Guest {
                        lxc: *kind == "lxc",
                    })
            }
            _ => None,
        },
        _ => None,
    }
}

/// A byte of a node, VNET, ipset or mapping file name.
fn plain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Whether PVE keeps a secret in `key` of `section` in a file of `format` (for redaction by the
/// renderer, beside [`crate::api::secret_by_name`] and the value shapes of [`crate::secret`]):
///
/// * guest configs: `cipassword` (qemu-server `src/PVE/QemuServer.pm`, the cloud-init password,
///   in the main part, `[PENDING]`, snapshots and `[special:cloudinit]`); containers store none
///   (pve-container's `password` is a create parameter only);
/// * section configs, by the section's type: storage `password` (cifs, esxi, pbs), `keyring`
///   (rbd, cephfs), `encryption-key` and `master-pubkey` (pbs), the `sensitive-properties` of
///   pve-storage `src/PVE/Storage/*Plugin.pm`, which PVE moves to `priv/` but an older or hand
///   edited file may hold, and for any other type too (`sensitive_properties`' fallback list in
///   `src/PVE/Storage/Plugin.pm`); SDN `key` of `powerdns` (pve-network
///   `src/PVE/Network/SDN/Dns/PowerdnsPlugin.pm`, stored in `sdn/dns.cfg`), `token` of `netbox`
///   and `phpipam` (`src/PVE/Network/SDN/Ipams/*Plugin.pm`, in `sdn/ipams.cfg`); openid
///   `client-key` (pve-access-control `src/PVE/Auth/OpenId.pm`, `domains.cfg`);
/// * user.cfg: field name `keys` of a `user` record (`AccessControl.pm` `parse_user_config`:
///   "allowed yubico key ids or oath secrets (base32 encoded)"), the last field of the record's
///   value `ENABLE:EXPIRE:FIRST:LAST:EMAIL:COMMENT:KEYS:`; true when called with the record
///   type as section and the field name as key. A [`Change`] of a user names the user, not the
///   field: [`secret_spans`] finds the field in its value;
/// * `key: value` files and firewall files: none.
pub(crate) fn is_secret_key(format: Format, section: Option<&str>, key: &str) -> bool {
    match format {
        Format::Guest { .. } => key == "cipassword",
        Format::Sections => {
            let kind = section
                .and_then(|s| s.split_once(':'))
                .map_or("", |(t, _)| t.trim());
            matches!(
                key,
                "password" | "keyring" | "encryption-key" | "master-pubkey"
            ) || (kind == "powerdns" && key == "key")
                || (matches!(kind, "netbox" | "phpipam") && key == "token")
                || (kind == "openid" && key == "client-key")
        }
        Format::UserCfg => section == Some("user") && key == "keys",
        Format::KeyValue | Format::Firewall => false,
    }
}

/// The byte ranges of `value` (a [`Change`]'s `old` or `new` in `section` of a file of `format`)
/// that hold a secret although its key is no secret key: the `KEYS` field of a `user.cfg` user
/// record (the change's key is the user id; see [`is_secret_key`]). Empty for everything else.
pub(crate) fn secret_spans(
    format: Format,
    section: Option<&str>,
    value: &str,
) -> Vec<std::ops::Range<usize>> {
    match (format, section) {
        (Format::UserCfg, Some("user")) => user_cfg::keys_span(value).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// `key: value` files: datacenter.cfg (pve-cluster `src/PVE/DataCenterConfig.pm`
/// `parse_datacenter_config`), `nodes/NODE/config` (pve-manager `PVE/NodeConfig.pm`
/// `parse_node_config`), both through pve-common `src/PVE/JSONSchema.pm` `parse_config`.
pub(crate) mod key_value {
    use super::{Again, Builder, Section, decode_text, trim_end};

    /// The keys of a `key: value` file, in one unnamed section.
    ///
    /// Each line is trimmed; `#` lines are the `description` (decoded, joined with `\n`, at the
    /// place of its first line), as is a `description:` line; `KEY: VALUE` (`^(\S+?):\s*(.*)$`)
    /// is a key, a later one replacing an earlier. Beyond what `parse_config` reads, so that
    /// `vzdump.cron` and `ha/fence.cfg` diff line by line: `NAME=VALUE` (a cron variable) is key
    /// `NAME`, and any other line is key `#N`, N its position among such lines from 1 (a
    /// `vzdump.cron` job, numbered as PVE numbers them).
    pub(crate) fn parse(data: &[u8]) -> Vec<Section> {
        let text = String::from_utf8_lossy(data);
        let mut builder = Builder::new();
        let mut description: Option<String> = None;
        let mut lines = 0usize;
        for line in text.split('\n') {
            let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                describe(&mut builder, &mut description, &decode_text(comment));
                continue;
            }
            if let Some(name) = variable(line) {
                let value = &line[name.len() + 1..];
                builder.push(name.to_string(), value.to_string(), Again::Replace);
                continue;
            }
            match line.split_once(':') {
                Some((key, value)) if !key.is_empty() && !key.contains(char::is_whitespace) => {
                    let value = value.trim_start_matches(|c: char| c.is_ascii_whitespace());
                    if key == "description" {
                        describe(&mut builder, &mut description, &decode_text(value));
                    } else {
                        builder.push(key.to_string(), value.to_string(), Again::Replace);
                    }
                }
                _ => {
                    lines += 1;
                    builder.push(format!("#{lines}"), line.to_string(), Again::Replace);
                }
            }
        }
        if let Some(text) = description {
            builder.push(
                "description".to_string(),
                trim_end(&text).to_string(),
                Again::Replace,
            );
        }
        builder.finish()
    }

    /// Adds a line to the description, which takes its place at its first line.
    fn describe(builder: &mut Builder, description: &mut Option<String>, line: &str) {
        match description {
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {
                // Holds the place; the value is set at the end.
                builder.push("description".to_string(), String::new(), Again::Replace);
                *description = Some(format!("{line}\n"));
            }
        }
    }

    /// The name of a `NAME=VALUE` line (`[A-Za-z_][A-Za-z0-9_]*`).
    fn variable(line: &str) -> Option<&str> {
        let (name, _) = line.split_once('=')?;
        let mut bytes = name.bytes();
        let first = bytes.next()?;
        ((first.is_ascii_alphabetic() || first == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    /// A file read by [`super::diff`]'s rules, as a map: what applying changes must give back.
    pub(crate) type Canonical = BTreeMap<Option<String>, BTreeMap<String, String>>;

    pub(crate) fn canonical(format: Format, data: &[u8]) -> Canonical {
        keyed(format, data)
            .into_iter()
            .filter(|s| !s.keys.is_empty())
            .map(|s| (s.name, s.keys.into_iter().collect()))
            .collect()
    }

    /// `changes` applied to `state`: set or removed keys; a section left without keys goes.
    pub(crate) fn apply(mut state: Canonical, changes: &[Change]) -> Canonical {
        for change in changes {
            assert!(!change.is_cut(), "a cut diff cannot be applied");
            let section = state.entry(change.section.clone()).or_default();
            assert_eq!(
                section.get(&change.key),
                change.old.as_ref(),
                "the old value of {change:?}"
            );
            match &change.new {
                Some(value) => section.insert(change.key.clone(), value.clone()),
                None => section.remove(&change.key),
            };
        }
        state.retain(|_, keys| !keys.is_empty());
        state
    }

    pub(crate) fn data(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/data/etc-pve-formats/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    pub(crate) fn change(
        section: Option<&str>,
        key: &str,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Change {
        Change {
            file: "f".to_string(),
            section: section.map(str::to_string),
            key: key.to_string(),
            old: old.map(str::to_string),
            new: new.map(str::to_string),
        }
    }

    const ALL: [Format; 6] = [
        Format::Guest { lxc: false },
        Format::Guest { lxc: true },
        Format::UserCfg,
        Format::Sections,
        Format::KeyValue,
        Format::Firewall,
    ];

    #[test]
    fn formats_by_path() {
        let cases = [
            (
                "nodes/pve1/qemu-server/100.conf",
                Some(Format::Guest { lxc: false }),
            ),
            (
                "nodes/pve-2.lab/lxc/200.conf",
                Some(Format::Guest { lxc: true }),
            ),
            ("user.cfg", Some(Format::UserCfg)),
            ("storage.cfg", Some(Format::Sections)),
            ("jobs.cfg", Some(Format::Sections)),
            ("replication.cfg", Some(Format::Sections)),
            ("ha/resources.cfg", Some(Format::Sections)),
            ("ha/groups.cfg", Some(Format::Sections)),
            ("ha/rules.cfg", Some(Format::Sections)),
            ("ha/fence.cfg", Some(Format::KeyValue)),
            ("sdn/vnets.cfg", Some(Format::Sections)),
            ("sdn/dns.cfg", Some(Format::Sections)),
            ("mapping/pci.cfg", Some(Format::Sections)),
            ("datacenter.cfg", Some(Format::KeyValue)),
            ("vzdump.cron", Some(Format::KeyValue)),
            ("nodes/pve1/config", Some(Format::KeyValue)),
            ("firewall/cluster.fw", Some(Format::Firewall)),
            ("firewall/100.fw", Some(Format::Firewall)),
            ("nodes/pve1/host.fw", Some(Format::Firewall)),
            ("sdn/firewall/vnet0.fw", Some(Format::Firewall)),
            // never priv/, nor anything that is not a plain relative path
            ("priv/shadow.cfg", None),
            ("priv/token.cfg", None),
            ("priv/storage/nfs1.pw", None),
            ("nodes/pve1/priv/x.cfg", None),
            ("sdn/priv.cfg", Some(Format::Sections)),
            ("/user.cfg", None),
            ("./user.cfg", None),
            ("nodes/../user.cfg", None),
            ("nodes//pve1/config", None),
            ("nodes/pve1/qemu-server/../../../priv/x.conf", None),
            // links and state
            ("qemu-server/100.conf", None),
            ("lxc/100.conf", None),
            ("local/qemu-server/100.conf", None),
            ("nodes/pve1/qemu-server/100.conf.tmp.123", None),
            ("nodes/pve1/qemu-server/abc.conf", None),
            ("nodes/pve1/qemu-server/.conf", None),
            ("ha/manager_status", None),
            ("ha/crm_commands", None),
            ("sdn/pve-ipam-state.json", None),
            ("sdn/.running-config", None),
            (".version", None),
            (".vmlist", None),
            ("nodes/pve1/lrm_status", None),
            ("nodes/pve1/pve-ssl.key", None),
            ("corosync.conf", None),
            ("domains.cfg", None),
            ("", None),
        ];
        for (path, format) in cases {
            assert_eq!(format_of(path), format, "{path}");
        }
    }

    #[test]
    fn key_value_files_diff_by_key() {
        let old = data("datacenter.cfg");
        let parsed = parse(Format::KeyValue, &old);
        assert_eq!(
            parsed[0].keys,
            [
                (
                    "description".to_string(),
                    "Cluster of the lab\nsecond line with a colon: here".to_string()
                ),
                ("keyboard".to_string(), "de".to_string()),
                (
                    "migration".to_string(),
                    "type=secure,network=10.0.0.0/24".to_string()
                ),
                ("ha".to_string(), "shutdown_policy=migrate".to_string()),
                ("console".to_string(), "html5".to_string()),
            ]
        );
        let new = String::from_utf8(old.clone())
            .unwrap()
            .replace("keyboard: de", "keyboard: en-us")
            .replace("console: html5\n", "")
            + "email_from: root@example.com\n";
        let changes = diff(Format::KeyValue, "datacenter.cfg", &old, new.as_bytes());
        let mut want = vec![
            change(None, "keyboard", Some("de"), Some("en-us")),
            change(None, "email_from", None, Some("root@example.com")),
            change(None, "console", Some("html5"), None),
        ];
        for c in &mut want {
            c.file = "datacenter.cfg".to_string();
        }
        assert_eq!(changes, want);
    }

    #[test]
    fn vzdump_cron_jobs_are_keys_by_position() {
        let old = data("vzdump.cron");
        let parsed = parse(Format::KeyValue, &old);
        let keys: Vec<&str> = parsed[0].keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["description", "PATH", "#1", "#2"]);
        assert_eq!(
            parsed[0].get("PATH"),
            Some("\"/usr/sbin:/usr/bin:/sbin:/bin\"")
        );
        assert!(
            parsed[0]
                .get("#2")
                .unwrap()
                .contains("root #vzdump --all 1")
        );
        // The first job disabled and the second removed.
        let text = String::from_utf8(old.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let new = format!(
            "{}\n{}\n\n{}\n",
            lines[..4].join("\n"),
            "",
            lines[5].replace("root vzdump", "root #vzdump")
        );
        let changes = diff(Format::KeyValue, "vzdump.cron", &old, new.as_bytes());
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].key, "#1");
        assert!(
            changes[0]
                .new
                .as_deref()
                .unwrap()
                .contains("root #vzdump 100")
        );
        assert_eq!(
            (changes[1].key.as_str(), changes[1].new.as_ref()),
            ("#2", None)
        );
    }

    #[test]
    fn empty_and_added_sections() {
        let f = Format::Sections;
        // A section without keys, added, emptied and removed.
        let changes = diff(f, "x", b"", b"dir: a\n");
        assert_eq!(
            changes,
            [change(Some("dir: a"), "", None, Some(""))].map(|mut c| {
                c.file = "x".into();
                c
            })
        );
        let changes = diff(f, "x", b"dir: a\n\tpath /x\n", b"dir: a\n");
        let keys: Vec<_> = changes
            .iter()
            .map(|c| (c.key.as_str(), c.old.is_some(), c.new.is_some()))
            .collect();
        assert_eq!(keys, [("", false, true), ("path", true, false)]);
        let changes = diff(f, "x", b"dir: a\n\tpath /x\n\tshared 1\n", b"");
        assert_eq!(changes.len(), 2);
        assert!(
            changes
                .iter()
                .all(|c| c.new.is_none() && c.section.as_deref() == Some("dir: a"))
        );
        // Guest: an empty config is no section at all.
        assert!(diff(Format::Guest { lxc: false }, "x", b"", b"\n\n").is_empty());
        let changes = diff(Format::Guest { lxc: false }, "x", b"", b"[snap]\n");
        assert_eq!((changes.len(), changes[0].key.as_str()), (1, ""));
    }

    #[test]
    fn the_order_is_the_new_files_then_what_went() {
        let old = b"a: 1\nb: 2\nc: 3\n[s1]\nx: 1\n[s2]\ny: 1\n";
        let new = b"c: 4\nd: 5\na: 1\n[s2]\ny: 2\nz: 1\n";
        let changes = diff(Format::Guest { lxc: false }, "x", old, new);
        let got: Vec<(Option<&str>, &str)> = changes
            .iter()
            .map(|c| (c.section.as_deref(), c.key.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (None, "c"),
                (None, "d"),
                (None, "b"),
                (Some("s2"), "y"),
                (Some("s2"), "z"),
                (Some("s1"), "x"),
            ]
        );
    }

    #[test]
    fn a_diff_is_cut_at_the_cap() {
        let old: String = (0..5000).map(|i| format!("k{i}: 1\n")).collect();
        let new: String = (0..5000).map(|i| format!("k{i}: 2\n")).collect();
        let changes = diff(Format::KeyValue, "x", old.as_bytes(), new.as_bytes());
        assert_eq!(changes.len(), MAX_CHANGES);
        assert!(changes[..MAX_CHANGES - 1].iter().all(|c| !c.is_cut()));
        let last = &changes[MAX_CHANGES - 1];
        assert!(last.is_cut());
        assert_eq!(last.new.as_deref(), Some("905 more changes"));
        // Exactly at the cap: no marker.
        let old: String = (0..MAX_CHANGES).map(|i| format!("k{i}: 1\n")).collect();
        let new: String = (0..MAX_CHANGES).map(|i| format!("k{i}: 2\n")).collect();
        let changes = diff(Format::KeyValue, "x", old.as_bytes(), new.as_bytes());
        assert_eq!(changes.len(), MAX_CHANGES);
        assert!(!changes.iter().any(Change::is_cut));
    }

    #[test]
    fn secret_keys_from_upstream() {
        let qemu = Format::Guest { lxc: false };
        assert!(is_secret_key(qemu, None, "cipassword"));
        assert!(is_secret_key(qemu, Some("special:cloudinit"), "cipassword"));
        assert!(is_secret_key(qemu, Some("PENDING"), "cipassword"));
        assert!(!is_secret_key(qemu, None, "ciuser"));
        assert!(is_secret_key(
            Format::Sections,
            Some("cifs: share"),
            "password"
        ));
        assert!(is_secret_key(
            Format::Sections,
            Some("pbs: backup"),
            "encryption-key"
        ));
        assert!(is_secret_key(
            Format::Sections,
            Some("rbd: ceph"),
            "keyring"
        ));
        assert!(is_secret_key(
            Format::Sections,
            Some("powerdns: dns1"),
            "key"
        ));
        assert!(!is_secret_key(Format::Sections, Some("dir: local"), "key"));
        assert!(is_secret_key(
            Format::Sections,
            Some("netbox: ipam"),
            "token"
        ));
        assert!(is_secret_key(
            Format::Sections,
            Some("phpipam: ipam"),
            "token"
        ));
        assert!(is_secret_key(
            Format::Sections,
            Some("openid: sso"),
            "client-key"
        ));
        assert!(!is_secret_key(
            Format::Sections,
            Some("pbs: backup"),
            "fingerprint"
        ));
        assert!(is_secret_key(Format::UserCfg, Some("user"), "keys"));
        assert!(!is_secret_key(Format::UserCfg, Some("user"), "alice@pve"));
        assert!(!is_secret_key(Format::KeyValue, None, "keyboard"));
        assert!(!is_secret_key(Format::Firewall, Some("OPTIONS"), "enable"));
    }

    /// Lines of each format, with the collisions that matter: keys again, sections again,
    /// headers of the other kind, lines PVE ignores.
    fn lines(format: Format) -> Vec<&'static str> {
        match format {
            Format::Guest { .. } => vec![
                "#desc %3A one",
                "#",
                "description: d",
                "name: web",
                "name: db",
                "cores: 2",
                "cores: 4",
                "memory: 2048",
                "cdrom: none",
                "ide2: local:iso/x.iso,media=cdrom",
                "net0: virtio=BC:24:11:00:00:01,bridge=vmbr0",
                "delete: cores,memory",
                "snapstate: prepare",
                "snaptime: 1700000000",
                "parent: snap1",
                "lxc.idmap: u 0 100000 65536",
                "lxc.idmap = g 0 100000 65536",
                "lxc.apparmor.profile: unconfined",
                "[PENDING]",
                "[pve:pending]",
                "[special:cloudinit]",
                "[special:fleecing]",
                "[snap1]",
                "[snap2]",
                "[special:unknown]",
                "[:3]",
                "[a]",
                "",
                "   ",
                "garbage line",
                "cipassword: x",
                "Key: upper",
                "hostname: ct1",
                "cores:",
                "fleecing-images: zfs:x",
                "\r",
                "name: web\r",
                "[PENDING] ",
                "[pending]",
            ],
            Format::UserCfg => vec![
                "user:alice@pve:1:0:Alice::alice@example.com:::",
                "user:alice@pve:0:0:Alice::alice@example.com:::",
                "user:bob@pam:1:",
                "token:alice@pve!ci:0:1:build%3Abot:",
                "token:alice@pve!ci:0:0::",
                "group:admins:alice@pve,bob@pam:Admins:",
                "group:admins::",
                "pool:web:Web servers:100,101:local:",
                "role:Auditor:Sys.Audit,VM.Audit:",
                "role:Auditor:Sys.Audit:",
                "acl:1:/vms/100:alice@pve:PVEVMAdmin:",
                "acl:0:/vms/100/:@admins:PVEAuditor:",
                "acl:1://:bob@pam:Administrator:",
                "acl:1:/bad path:bob@pam:Administrator:",
                "realm:x:y",
                "",
                "  user : carol@pve : 1 ",
                "user",
                "acl",
                "acl:1",
                ":::",
            ],
            Format::Sections => vec![
                "dir: local",
                "dir: local2",
                "nfs: local",
                "lvmthin: local-lvm",
                "dir:local",
                "\tpath /var/lib/vz",
                "\tpath /srv",
                "\tcontent iso,backup",
                "\tshared",
                "\tshared 1",
                "    nodes pve1,pve2",
                "\tmap id=8086:1234,node=pve1",
                "\tmap id=8086:1234,node=pve2",
                "# comment",
                "\t# indented comment",
                "",
                "0",
                "not a header",
                " dir: indented",
                "a:b: c",
                "\t",
                "  \t  ",
            ],
            Format::KeyValue => vec![
                "#desc",
                "# more %25",
                "description: d",
                "keyboard: de",
                "keyboard: en",
                "migration: type=secure",
                "PATH=\"/usr/bin:/bin\"",
                "0 1 * * 6 root vzdump 100",
                "30 2 * * * root #vzdump --all 1",
                "device fence1 fence_ipmilan ip=1",
                "  spaced: value  ",
                "",
                ":",
                "k:",
                "a b: c",
            ],
            Format::Firewall => vec![
                "[OPTIONS]",
                "[options]",
                "[ALIASES]",
                "[RULES]",
                "[rules]",
                "[IPSET admins]",
                "[ipset Admins] # admin hosts",
                "[group web]",
                "[group web] # web servers",
                "[group bad name]",
                "[group x]",
                "[ipset 9bad]",
                "enable: 1",
                "enable: 0",
                "policy_in: DROP",
                "web 10.0.0.10",
                "web 10.0.0.11 # other",
                "db 10.0.0.20",
                "10.0.0.0/24",
                "! 10.0.0.7 # not this one",
                "10.0.0.7",
                "IN SSH(ACCEPT) -i net0",
                "OUT ACCEPT -p tcp -dport 80",
                "|IN DROP # off",
                "GROUP web -i net0",
                "IN ACCEPT -x y",
                "IN",
                "# comment",
                "",
                "  ",
            ],
        }
    }

    fn file(format: Format) -> impl Strategy<Value = Vec<u8>> {
        let pool = lines(format);
        prop::collection::vec(prop::sample::select(pool), 0..24).prop_map(|l| {
            let mut text = l.join("\n");
            text.push('\n');
            text.into_bytes()
        })
    }

    fn any_format() -> impl Strategy<Value = Format> {
        prop::sample::select(ALL.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics_on_bytes(format in any_format(), old in prop::collection::vec(any::<u8>(), 0..512), new in prop::collection::vec(any::<u8>(), 0..512)) {
            let changes = diff(format, "x", &old, &new);
            prop_assert!(changes.len() <= MAX_CHANGES);
            for change in &changes {
                for value in [&change.old, &change.new].into_iter().flatten() {
                    for span in secret_spans(format, change.section.as_deref(), value) {
                        prop_assert!(value.get(span).is_some());
                    }
                }
            }
            let text = String::from_utf8_lossy(&old);
            let _ = format_of(&text);
            let _ = super::firewall::parse_fw_rule(&text);
            let _ = super::user_cfg::keys_span(&text);
        }

        #[test]
        fn a_file_against_itself_is_no_change((format, text) in any_format().prop_flat_map(|f| (Just(f), file(f)))) {
            // Not the shortcut for equal bytes: the readings compared.
            let parsed = keyed(format, &text);
            prop_assert!(diff_sections("x", &parsed, &parsed).is_empty());
            // Blank lines at the end change nothing.
            let mut longer = text.clone();
            longer.extend_from_slice(b"\n\n");
            prop_assert!(diff(format, "x", &text, &longer).is_empty());
        }

        #[test]
        fn changes_applied_give_the_new_file((format, old, new) in any_format().prop_flat_map(|f| (Just(f), file(f), file(f)))) {
            let changes = diff(format, "x", &old, &new);
            for change in &changes {
                prop_assert!(change.old != change.new, "{:?}", change);
            }
            let applied = apply(canonical(format, &old), &changes);
            prop_assert_eq!(applied, canonical(format, &new));
            // And back.
            let back = diff(format, "x", &new, &old);
            prop_assert_eq!(apply(canonical(format, &new), &back), canonical(format, &old));
            prop_assert!(diff(format, "x", &old, &old).is_empty());
        }
    }
}
