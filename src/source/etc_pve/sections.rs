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
pub(crate) fn as_sections(parsed: &[ConfigSection]) -> Vec<Section> {
    parsed
        .iter()
        .map(|s| Section {
            name: Some(s.name()),
            keys: s.keys.clone(),
        })
        .collect()
}
