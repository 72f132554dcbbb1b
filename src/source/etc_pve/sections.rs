//! Section-config files (`storage.cfg`, `jobs.cfg`, `replication.cfg`, `ha/*.cfg`, `sdn/*.cfg`,
//! `mapping/*.cfg`, …), read as pve-common `src/PVE/SectionConfig.pm` `parse_config` reads them:
//!
//! ```text
//! dir: local
//!         path /var/lib/vz
//!         content iso,vztmpl,backup
//!
//! lvmthin: local-lvm
//! ```
//!
//! A header `TYPE: ID` (`^(\S+):\s*(\S+)\s*$`, `parse_section_header`), then indented
//! `KEY VALUE` lines (`^\s+(\S+)(\s+(.*\S))?\s*$`) up to the next empty line; `#` lines are
//! skipped anywhere, other lines ignored. Plugins may read their headers differently; those in
//! the tracked files use the default (pve-storage, pve-guest-common `src/PVE/Job/Registry.pm`,
//! pve-ha-manager, pve-network all keep `TYPE: ID`).

use std::collections::HashMap;

use super::diff::Section;

/// One section of a section-config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ConfigSection {
    /// The plugin type (`dir`, `lvmthin`, `vzdump`, `local` (a replication job), `vnet`…).
    pub(crate) kind: String,
    /// The section id (storage id, job id, `vm:100`…).
    pub(crate) id: String,
    /// Its keys in file order, unique: a key given more than once (an array property, e.g. a
    /// PCI mapping's `map`) is one key whose values are joined with `\n` in file order. A key
    /// without a value (`KEY` alone) has value `""`.
    pub(crate) keys: Vec<(String, String)>,
}

impl ConfigSection {
    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The section's name in a [`super::diff::Change`]: `TYPE: ID`.
    pub(crate) fn name(&self) -> String {
        format!("{}: {}", self.kind, self.id)
    }
}

/// The sections of a file, in file order. An id given twice: the later section replaces the
/// earlier (`$ids->{$sectionId} = $config`), at the earlier's place.
pub(crate) fn parse_sections(data: &[u8]) -> Vec<ConfigSection> {
    let text = String::from_utf8_lossy(data);
    let mut out: Vec<ConfigSection> = Vec::new();
    let mut places: HashMap<String, usize> = HashMap::new();
    let mut current: Option<(ConfigSection, HashMap<String, usize>)> = None;
    let mut finish = |current: Option<(ConfigSection, HashMap<String, usize>)>,
                      out: &mut Vec<ConfigSection>| {
        if let Some((section, _)) = current {
            match places.get(&section.id) {
                Some(&at) => out[at] = section,
                None => {
                    places.insert(section.id.clone(), out.len());
                    out.push(section);
                }
            }
        }
    };
    // `$nextline` skips `#` lines; an empty line (or a line `0`, false in Perl) ends a section.
    for line in text.split('\n') {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if line.is_empty() || line == "0" {
            finish(current.take(), &mut out);
            continue;
        }
        if let Some((section, keys)) = &mut current {
            if let Some((key, value)) = key_line(line) {
                match keys.get(key) {
                    Some(&at) => {
                        let slot = &mut section.keys[at].1;
                        slot.push('\n');
                        slot.push_str(value);
                    }
                    None => {
                        keys.insert(key.to_string(), section.keys.len());
                        section.keys.push((key.to_string(), value.to_string()));
                    }
                }
            }
            continue;
        }
        if let Some((kind, id)) = header(line) {
            current = Some((
                ConfigSection {
                    kind: kind.to_string(),
                    id: id.to_string(),
                    keys: Vec::new(),
                },
                HashMap::new(),
            ));
        }
    }
    finish(current.take(), &mut out);
    out
}

/// `^(\S+):\s*(\S+)\s*$`: the type and id of a header. Perl's `\S+` is greedy and may hold a
/// `:` itself (`a:b: c` is type `a:b`), so the type ends at the last `:` before the id.
fn header(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_end_matches(is_space);
    let id_start = line.rfind(is_space).map_or(0, |i| i + 1);
    let (head, id) = line.split_at(id_start);
    let head = head.trim_end_matches(is_space);
    let (kind, id) = match head.strip_suffix(':') {
        // `TYPE: ID`
        Some(kind) if !id.is_empty() => (kind, id),
        // `TYPE:ID`: no space, the type ends at a `:` that leaves an id behind.
        _ if head.is_empty() => {
            // The last `:` that is not the last byte (`a:b:` is type `a`, id `b:`).
            let last = id.rfind(':')?;
            let at = if last + 1 == id.len() {
                id[..last].rfind(':')?
            } else {
                last
            };
            (&id[..at], &id[at + 1..])
        }
        _ => return None,
    };
    (!kind.is_empty() && !kind.contains(is_space) && !id.is_empty()).then_some((kind, id))
}

/// `^\s+(\S+)(\s+(.*\S))?\s*$`: an indented key and its value.
fn key_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(is_space)?.trim_matches(is_space);
    if rest.is_empty() {
        return None;
    }
    Some(match rest.find(is_space) {
        Some(at) => (&rest[..at], rest[at..].trim_start_matches(is_space)),
        None => (rest, ""),
    })
}

/// Perl's `\s`, ASCII part.
fn is_space(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\x0b'
}

/// The sections as [`super::diff`] compares them, named `TYPE: ID`.
pub(crate) fn as_sections(parsed: Vec<ConfigSection>) -> Vec<Section> {
    parsed
        .into_iter()
        .map(|s| Section {
            name: Some(s.name()),
            keys: s.keys,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::etc_pve::diff::tests::{apply, canonical, data};
    use crate::source::etc_pve::diff::{Format, diff};

    #[test]
    fn ha_rules_of_the_ha_manager_tests() {
        let parsed = parse_sections(&data("ha-rules.cfg"));
        let names: Vec<String> = parsed.iter().map(ConfigSection::name).collect();
        assert_eq!(
            names,
            [
                "node-affinity: node-affinity-defaults",
                "node-affinity: node-affinity-disabled",
                "node-affinity: node-affinity-disabled-explicit",
                "node-affinity: node-affinity-strict",
            ]
        );
        assert_eq!(parsed[1].get("disable"), Some(""), "a key without a value");
        assert_eq!(parsed[2].get("disable"), Some("1"));
        assert_eq!(parsed[3].get("resources"), Some("vm:104"));
    }

    #[test]
    fn a_storage_added_and_one_changed() {
        let before = data("storage.cfg");
        let after = String::from_utf8(before.clone()).unwrap().replace(
            "\tprune-backups keep-last=3\n",
            "\tprune-backups keep-last=5\n\tnodes pve1\n",
        ) + "cifs: share\n\tpath /mnt/pve/share\n\tserver 10.0.0.7\n\tshare backups\n\tcontent backup\n\tusername backup\n";
        let changes = diff(Format::Sections, "storage.cfg", &before, after.as_bytes());
        let got: Vec<_> = changes
            .iter()
            .map(|c| {
                let (section, key, _, new) = c.parts();
                (section, key, new)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("nfs: nfs1", "prune-backups", Some("keep-last=5")),
                ("nfs: nfs1", "nodes", Some("pve1")),
                ("cifs: share", "path", Some("/mnt/pve/share")),
                ("cifs: share", "server", Some("10.0.0.7")),
                ("cifs: share", "share", Some("backups")),
                ("cifs: share", "content", Some("backup")),
                ("cifs: share", "username", Some("backup")),
            ]
        );
        assert_eq!(changes[0].old.as_deref(), Some("keep-last=3"));
        assert_eq!(
            apply(canonical(Format::Sections, &before), &changes),
            canonical(Format::Sections, after.as_bytes())
        );
    }

    #[test]
    fn headers_keys_and_the_end_of_a_section() {
        let text = b"# comment\ndir: a\n\tpath /x\n# inside\n\tpath /y\nstray line\n\tshared 1  \n\nnot: a header\
            \n\tpath /z\n\nlvm:b\n\tvgname pve\n\ndir: a\n\tpath /w\n";
        let parsed = parse_sections(text);
        // `not: a header` is none (two words after the colon): its keys belong nowhere.
        assert_eq!(parsed.len(), 2, "{parsed:?}");
        // `dir: a` again: the later one, at the first one's place.
        assert_eq!(parsed[0].name(), "dir: a");
        assert_eq!(parsed[0].keys, [("path".to_string(), "/w".to_string())]);
        assert_eq!(parsed[1].name(), "lvm: b");
        let first =
            parse_sections(b"dir: a\n\tpath /x\n# inside\n\tpath /y\nstray\n\tshared 1  \n");
        assert_eq!(first[0].get("path"), Some("/x\n/y"));
        assert_eq!(first[0].get("shared"), Some("1"));
        assert_eq!(header("a:b: c"), Some(("a:b", "c")));
        assert_eq!(header("a:b:"), Some(("a", "b:")));
        assert_eq!(header("dir : x"), None);
        assert_eq!(header("dir: x y"), None);
    }
}
