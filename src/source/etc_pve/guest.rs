//! Guest configs, `nodes/NODE/qemu-server/VMID.conf` and `nodes/NODE/lxc/VMID.conf`, read as
//! qemu-server `src/PVE/QemuServer.pm` `parse_vm_config` and pve-container
//! `src/PVE/LXC/Config.pm` `parse_pct_config` read them: the keys of the main part, and of each
//! section (`[PENDING]`, `[pve:pending]`, `[special:cloudinit]`, `[special:fleecing]`, snapshots).

use super::diff::{Again, Builder, Reopen, Section, decode_text, trim_end};

/// A guest config: its sections in file order, the main part (name None) first when it has
/// keys. Keys are unique in a section; values as written (trimmed), except `description`, which
/// is the `#` lines (and `description:` lines) decoded and joined with `\n`, without trailing
/// whitespace, at the place of its first line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct GuestConfig {
    pub(crate) sections: Vec<Section>,
    /// Read as a container's (`Some(true)`), a VM's, or either (None): which name the pending
    /// section has.
    lxc: Option<bool>,
}

/// The name of a qemu config's pending section, as [`GuestConfig`] names it.
pub(crate) const QEMU_PENDING: &str = "PENDING";
/// The name of a container config's pending section.
pub(crate) const LXC_PENDING: &str = "pve:pending";
/// The cloud-init section of a qemu config (the values last given to the cloud-init drive).
pub(crate) const CLOUDINIT: &str = "special:cloudinit";

impl GuestConfig {
    /// The section named `name` (None: the main part).
    pub(crate) fn section(&self, name: Option<&str>) -> Option<&Section> {
        self.sections.iter().find(|s| s.name.as_deref() == name)
    }

    /// The value of `key` in the main part.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.section(None).and_then(|s| s.get(key))
    }

    /// Whether `name` is this config's pending section.
    fn is_pending(&self, name: &str) -> bool {
        match self.lxc {
            Some(true) => name == LXC_PENDING,
            Some(false) => name == QEMU_PENDING,
            None => name == LXC_PENDING || name == QEMU_PENDING,
        }
    }

    /// The pending changes (`[PENDING]` or `[pve:pending]`), with their `delete:` key.
    pub(crate) fn pending(&self) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.as_deref().is_some_and(|n| self.is_pending(n)))
    }

    /// The snapshots, in file order (each with `snaptime`, maybe `parent`, `vmstate`).
    pub(crate) fn snapshots(&self) -> impl Iterator<Item = &Section> {
        self.sections.iter().filter(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| !self.is_pending(n) && !n.contains(':'))
        })
    }
}

/// Reads a guest config of either kind: the section headers of both are known (a qemu config
/// has no `[pve:pending]`, a container none of `[PENDING]` or `[special:…]`), and a key is
/// read by the wider rule of the two (qemu's, plus raw `lxc.*` keys).
pub(crate) fn parse_guest(data: &[u8]) -> GuestConfig {
    parse(data, None)
}

/// Reads a guest config as qemu-server (`lxc: false`) or pve-container (`lxc: true`) reads it.
pub(crate) fn parse_guest_as(data: &[u8], lxc: bool) -> GuestConfig {
    parse(data, Some(lxc))
}

/// What a section header line is.
enum Header {
    /// A section PVE reads, by the name [`GuestConfig`] gives it.
    Known(String),
    /// A header PVE skips, with the lines under it (qemu-server: "skipping unknown section").
    Unknown,
}

fn header(line: &str, lxc: Option<bool>) -> Option<Header> {
    let inner = trim_end(line).strip_prefix('[')?.strip_suffix(']')?;
    if lxc != Some(false) && inner.eq_ignore_ascii_case(LXC_PENDING) {
        return Some(Header::Known(LXC_PENDING.to_string()));
    }
    if lxc != Some(true) {
        if inner.eq_ignore_ascii_case(QEMU_PENDING) {
            return Some(Header::Known(QEMU_PENDING.to_string()));
        }
        if let Some(kind) = inner
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("special:"))
            .map(|_| &inner[8..])
        {
            for known in ["cloudinit", "fleecing"] {
                if kind.eq_ignore_ascii_case(known) {
                    return Some(Header::Known(format!("special:{known}")));
                }
            }
        }
    }
    // `[a-z][a-z0-9_\-]+`, case-insensitive: a snapshot.
    let mut bytes = inner.bytes();
    let snapshot = inner.len() >= 2
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if snapshot {
        return Some(Header::Known(inner.to_string()));
    }
    // A container config has no rule for other headers: the line is a line it cannot parse.
    (lxc != Some(true) && !inner.contains(']')).then_some(Header::Unknown)
}

/// `^([a-z][a-z_\-]*\d*):\s*(.+?)\s*$` (qemu; a container's has no `-`): the key and value.
fn key_value(line: &str, lxc: Option<bool>) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let letters = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let mut bytes = letters.bytes();
    let ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b == b'_' || (b == b'-' && lxc != Some(true)));
    let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
    (ok && !value.is_empty()).then_some((key, value))
}

/// A raw `lxc.*` key of a container (`^(lxc\.[a-z0-9_\-\.]+)(:|\s*=)\s*(.*?)\s*$`).
fn raw_lxc(line: &str) -> Option<(&str, &str)> {
    let end = line
        .bytes()
        .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b)))
        .unwrap_or(line.len());
    let key = &line[..end];
    if !key.starts_with("lxc.") || key.len() == 4 {
        return None;
    }
    let rest = &line[end..];
    let value = match rest.strip_prefix(':') {
        Some(value) => value,
        None => rest
            .trim_start_matches(|c: char| c.is_ascii_whitespace())
            .strip_prefix('=')?,
    };
    Some((key, value.trim_matches(|c: char| c.is_ascii_whitespace())))
}

/// The description of the section being read, which takes the place of its first line.
#[derive(Default)]
struct Description(Option<String>);

impl Description {
    fn add(&mut self, builder: &mut Builder, text: &str) {
        match &mut self.0 {
            Some(description) => description.push_str(text),
            None => {
                builder.push("description".to_string(), String::new(), Again::Replace);
                self.0 = Some(text.to_string());
            }
        }
    }

    /// Ends the section: the description gets its value (qemu-server: `s/\s+$//`; a container's
    /// trailing newline is dropped the same way, so that both read alike).
    fn finish(&mut self, builder: &mut Builder) {
        if let Some(text) = self.0.take() {
            builder.push(
                "description".to_string(),
                trim_end(&text).to_string(),
                Again::Replace,
            );
        }
    }
}

fn parse(data: &[u8], lxc: Option<bool>) -> GuestConfig {
    let text = String::from_utf8_lossy(data);
    let mut builder = Builder::new();
    let mut description = Description::default();
    let mut main = true;
    for line in text.split('\n') {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with('[') {
            match header(line, lxc) {
                Some(Header::Known(name)) => {
                    description.finish(&mut builder);
                    // A section seen twice: PVE reads the later one (a new hash).
                    builder.open(Some(name), Reopen::Reset);
                    main = false;
                    continue;
                }
                Some(Header::Unknown) => {
                    description.finish(&mut builder);
                    builder.close();
                    main = false;
                    continue;
                }
                None => {}
            }
        }
        if !builder.is_open() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            description.add(&mut builder, &format!("{}\n", decode_text(comment)));
            continue;
        }
        if lxc != Some(false) {
            if let Some((key, value)) = raw_lxc(line) {
                // Kept in order as a list (`push @{ $conf->{lxc} }`); lxc.environment.runtime too.
                builder.push(key.to_string(), value.to_string(), Again::Join);
                continue;
            }
        }
        if let Some(value) = line
            .strip_prefix("description:")
            .map(|v| v.trim_matches(|c: char| c.is_ascii_whitespace()))
            .filter(|v| !v.is_empty())
        {
            description.add(&mut builder, &decode_text(value));
            continue;
        }
        if let Some(state) = snapstate(line) {
            // `delete $res->{snapstate}`: never kept in the main part.
            if !main {
                builder.push("snapstate".to_string(), state.to_string(), Again::Replace);
            }
            continue;
        }
        if let Some(value) = line
            .strip_prefix("delete:")
            .map(|v| v.trim_matches(|c: char| c.is_ascii_whitespace()))
        {
            // Only a pending section has `delete` (PVE refuses it elsewhere).
            let pending = builder_pending(&builder, lxc);
            if pending && !value.is_empty() {
                builder.push("delete".to_string(), value.to_string(), Again::Replace);
            }
            continue;
        }
        if let Some((key, value)) = key_value(line, lxc) {
            // qemu-server: `$key = 'ide2' if $key eq 'cdrom'`.
            let key = if key == "cdrom" && lxc != Some(true) {
                "ide2"
            } else {
                key
            };
            builder.push(key.to_string(), value.to_string(), Again::Replace);
        }
    }
    description.finish(&mut builder);
    GuestConfig {
        sections: builder.finish(),
        lxc,
    }
}

/// Whether the section being read is a pending one (the only kind of header a config of the
/// other kind's pending name can be is a snapshot's).
fn builder_pending(builder: &Builder, lxc: Option<bool>) -> bool {
    match builder.current_name() {
        Some(Some(QEMU_PENDING)) => lxc != Some(true),
        Some(Some(LXC_PENDING)) => lxc != Some(false),
        _ => false,
    }
}

/// `snapstate:\s*(prepare|delete)\s*$`, unanchored at the start as in PVE.
fn snapstate(line: &str) -> Option<&'static str> {
    let at = line.rfind("snapstate:")?;
    match line[at + "snapstate:".len()..].trim() {
        "prepare" => Some("prepare"),
        "delete" => Some("delete"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::etc_pve::diff::tests::{apply, canonical, data};
    use crate::source::etc_pve::diff::{Format, diff};

    const QEMU: Format = Format::Guest { lxc: false };

    fn names(config: &GuestConfig) -> Vec<Option<&str>> {
        config.sections.iter().map(|s| s.name.as_deref()).collect()
    }

    #[test]
    fn qemu_sections_as_qemu_server_reads_them() {
        let config = parse_guest_as(&data("qemu-cloudinit-snapshot.conf"), false);
        assert_eq!(
            names(&config),
            [None, Some("special:cloudinit"), Some("cloudinit")]
        );
        assert_eq!(config.get("name"), Some("deb1223"));
        assert_eq!(config.get("parent"), Some("cloudinit"));
        let cloudinit = config.section(Some(CLOUDINIT)).unwrap();
        assert_eq!(cloudinit.get("ipconfig0"), Some("ip=dhcp,ip6=dhcp"));
        let snapshots: Vec<_> = config.snapshots().map(|s| s.name.as_deref()).collect();
        assert_eq!(snapshots, [Some("cloudinit")]);
        assert_eq!(
            config.section(Some("cloudinit")).unwrap().get("snaptime"),
            Some("1737549549")
        );
        // The same through the reader for both kinds.
        assert_eq!(
            parse_guest(&data("qemu-cloudinit-snapshot.conf")).sections,
            config.sections
        );
    }

    #[test]
    fn duplicate_sections_the_later_wins() {
        // qemu-server's parse-config-expected/duplicate-sections.conf keeps the later ones.
        let config = parse_guest_as(&data("qemu-duplicate-sections.conf"), false);
        assert_eq!(
            names(&config),
            [
                None,
                Some("PENDING"),
                Some("special:cloudinit"),
                Some("foo")
            ]
        );
        let pending = config.pending().unwrap();
        assert_eq!(pending.keys, [("vga".to_string(), "qxl".to_string())]);
        assert_eq!(
            config.section(Some(CLOUDINIT)).unwrap().get("name"),
            Some("deb123")
        );
        let foo = config.section(Some("foo")).unwrap();
        assert_eq!(
            (foo.get("cores"), foo.get("cpu")),
            (Some("4"), Some("host"))
        );
    }

    #[test]
    fn unknown_sections_are_skipped() {
        // parse-config-expected/unknown-sections.conf: `[special:unknown…]` and `[:3]` dropped.
        let config = parse_guest_as(&data("qemu-unknown-sections.conf"), false);
        assert_eq!(
            names(&config),
            [
                None,
                Some("PENDING"),
                Some("special:cloudinit"),
                Some("foo")
            ]
        );
        assert_eq!(config.pending().unwrap().get("bios"), Some("ovmf"));
        assert_eq!(config.section(Some("foo")).unwrap().get("cat"), None);
        let fleecing = parse_guest_as(&data("qemu-fleecing-section.conf"), false);
        assert_eq!(
            fleecing
                .section(Some("special:fleecing"))
                .unwrap()
                .get("fleecing-images"),
            Some("zfs:vm-120-fleece-0")
        );
    }

    #[test]
    fn description_cdrom_delete_snapstate() {
        let text = b"#first line %3A colon\n#second\ncdrom: none\ncores: 2\nsnapstate: prepare\n\
            description: more\n[PENDING]\ndelete: cores\nmemory: 4096\n[snap1]\nsnapstate: delete\n\
            delete: net0\n#snapshot note\n";
        let config = parse_guest_as(text, false);
        let main = config.section(None).unwrap();
        assert_eq!(
            main.keys,
            [
                (
                    "description".to_string(),
                    "first line : colon\nsecond\nmore".to_string()
                ),
                ("ide2".to_string(), "none".to_string()),
                ("cores".to_string(), "2".to_string()),
            ]
        );
        assert_eq!(config.pending().unwrap().get("delete"), Some("cores"));
        let snap = config.section(Some("snap1")).unwrap();
        assert_eq!(snap.get("snapstate"), Some("delete"));
        assert_eq!(snap.get("delete"), None, "delete only in a pending section");
        assert_eq!(snap.get("description"), Some("snapshot note"));
    }

    #[test]
    fn container_configs() {
        let text = b"arch: amd64\nhostname: ct1\nlxc.idmap: u 0 100000 1005\nlxc.idmap = g 0 100000 1007\n\
            lxc.apparmor.profile: unconfined\n[pve:pending]\nmemory: 1024\ndelete: swap\n\
            [PENDING]\nmemory: 1\n";
        let config = parse_guest_as(text, true);
        let main = config.section(None).unwrap();
        assert_eq!(
            main.get("lxc.idmap"),
            Some("u 0 100000 1005\ng 0 100000 1007")
        );
        assert_eq!(main.get("lxc.apparmor.profile"), Some("unconfined"));
        let pending = config.pending().unwrap();
        assert_eq!(pending.name.as_deref(), Some(LXC_PENDING));
        assert_eq!(pending.get("delete"), Some("swap"));
        // `[PENDING]` is a snapshot named so in a container config.
        assert_eq!(config.snapshots().count(), 1);
    }

    #[test]
    fn a_snapshot_taken_of_a_container() {
        // pve-container's snapshot test: the config before and after `snapshot create test`.
        let before = data("lxc-snapshot-before.conf");
        let after = data("lxc-snapshot-after.conf");
        let f = Format::Guest { lxc: true };
        let changes = diff(f, "nodes/pve1/lxc/101.conf", &before, &after);
        assert_eq!(changes[0].section, None);
        assert_eq!(
            (changes[0].key.as_str(), changes[0].new.as_deref()),
            ("parent", Some("test"))
        );
        let snapshot: Vec<&str> = changes[1..]
            .iter()
            .inspect(|c| {
                assert_eq!(
                    (c.section.as_deref(), c.old.as_deref()),
                    (Some("test"), None)
                )
            })
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(
            snapshot,
            [
                "description",
                "arch",
                "cpulimit",
                "cpuunits",
                "hostname",
                "memory",
                "net0",
                "ostype",
                "rootfs",
                "snaptime",
                "swap"
            ]
        );
        assert_eq!(changes[1].new.as_deref(), Some("test comment"));
        assert_eq!(apply(canonical(f, &before), &changes), canonical(f, &after));
    }

    #[test]
    fn memory_and_cores_edited_a_disk_added_a_snapshot_removed() {
        let before = data("qemu-snapshots.conf");
        let text = String::from_utf8(before.clone()).unwrap();
        let (main, rest) = text.split_once("\n[").unwrap();
        let main = main
            .replace("memory: 4096", "memory: 8192")
            .replace("cores: 4", "cores: 8")
            + "\nvirtio1: local-lvm:vm-111-disk-3,size=32G";
        let rest: Vec<&str> = rest.splitn(2, "\n[").collect();
        let after = format!("{main}\n[{}", rest.get(1).copied().unwrap_or(""));
        let changes = diff(
            QEMU,
            "nodes/pve1/qemu-server/111.conf",
            &before,
            after.as_bytes(),
        );
        let main_changes: Vec<_> = changes
            .iter()
            .filter(|c| c.section.is_none())
            .map(|c| (c.key.as_str(), c.old.as_deref(), c.new.as_deref()))
            .collect();
        assert_eq!(
            main_changes,
            [
                ("cores", Some("4"), Some("8")),
                ("memory", Some("4096"), Some("8192")),
                ("virtio1", None, Some("local-lvm:vm-111-disk-3,size=32G")),
            ]
        );
        let gone = changes
            .iter()
            .filter(|c| c.section.as_deref() == Some("machine_version_5_1"));
        assert!(gone.clone().count() > 5);
        assert!(gone.clone().all(|c| c.new.is_none()));
        assert_eq!(
            apply(canonical(QEMU, &before), &changes),
            canonical(QEMU, after.as_bytes())
        );
    }
}
