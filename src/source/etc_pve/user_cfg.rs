//! `user.cfg`: users, API tokens, groups, pools, roles and ACLs, one colon record a line, read
//! as pve-access-control `src/PVE/AccessControl.pm` `parse_user_config` reads it (and written by
//! `write_user_config` in the same file):
//!
//! ```text
//! user:USERID:ENABLE:EXPIRE:FIRSTNAME:LASTNAME:EMAIL:COMMENT:KEYS:
//! token:USERID!TOKENID:EXPIRE:PRIVSEP:COMMENT:
//! group:GROUPID:MEMBERS:COMMENT:
//! pool:POOLID:COMMENT:VMIDS:STORAGES:
//! role:ROLEID:PRIVS:
//! acl:PROPAGATE:PATH:UGIDS:ROLES:
//! ```
//!
//! Each line is trimmed and split at `:`, each field trimmed. Names are not checked again
//! (PVE warns about invalid ones and skips them; a file PVE wrote has none); lines of other types
//! are ignored, as PVE ignores them. Secrets are elsewhere (`priv/shadow.cfg`, `priv/token.cfg`)
//! except a user's `KEYS` (yubico ids or OATH secrets): see [`super::diff::is_secret_key`].

use std::collections::HashMap;

use super::diff::Section;

/// The record types PVE reads (`write_user_config` writes them in this order).
pub(crate) const KINDS: [&str; 6] = ["user", "token", "group", "pool", "role", "acl"];

/// One record: for `acl`, every line of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserRecord {
    /// `user`, `token`, `group`, `pool`, `role`, `acl`.
    pub(crate) kind: String,
    /// The id: user id, full token id (`USER@REALM!TOKEN`), group, pool, role; for `acl` the
    /// path, normalized as `normalize_path` does (`/vms/100/` is `/vms/100`).
    pub(crate) id: String,
    /// What follows the id as written (`1:0:Alice::alice@example.com:::`); for `acl` the whole
    /// lines of that path, trimmed, sorted, joined with `\n`.
    pub(crate) value: String,
}

/// The fields of a record's value, split at `:` and trimmed as PVE splits them (trailing
/// empty fields dropped, as Perl's `split` drops them): for a `user`, `[ENABLE, EXPIRE,
/// FIRSTNAME, LASTNAME, EMAIL, COMMENT, KEYS]`; text fields (names, comments) are still
/// encoded: see [`super::diff::decode_text`]. For one `acl` line (not a record's whole value):
/// `[acl, PROPAGATE, PATH, UGIDS, ROLES]`.
pub(crate) fn fields(value: &str) -> Vec<String> {
    let mut fields: Vec<String> = value
        .split(':')
        .map(|f| {
            f.trim_matches(|c: char| c.is_ascii_whitespace())
                .to_string()
        })
        .collect();
    while fields.last().is_some_and(String::is_empty) {
        fields.pop();
    }
    fields
}

/// `normalize_path`: `//` collapsed, no trailing `/`, a leading `/`, only `[[:alnum:].-_/]`.
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    if path.is_empty() || path == "0" {
        return None;
    }
    let mut out = String::with_capacity(path.len() + 1);
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    if out.ends_with('/') {
        out.pop();
    }
    if out.is_empty() {
        out.push('/');
    }
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out.chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
        .then_some(out)
}

/// The records of `user.cfg`, in file order (an ACL path at its first line). A record given
/// twice: the later one, at the earlier's place.
pub(crate) fn parse_user_cfg(data: &[u8]) -> Vec<UserRecord> {
    let text = String::from_utf8_lossy(data);
    let mut records: Vec<UserRecord> = Vec::new();
    let mut places: HashMap<(String, String), usize> = HashMap::new();
    let mut acl_lines: HashMap<usize, Vec<String>> = HashMap::new();
    for line in text.split('\n') {
        let line = line.trim_matches(|c: char| c.is_ascii_whitespace());
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let kind = parts.next().unwrap_or("").trim();
        if !KINDS.contains(&kind) {
            continue;
        }
        let (id, value) = if kind == "acl" {
            let all = fields(line);
            match all.get(2).and_then(|p| normalize_path(p)) {
                Some(path) => (path, line.to_string()),
                None => continue,
            }
        } else {
            let id = parts.next().unwrap_or("").trim().to_string();
            (id, parts.next().unwrap_or("").to_string())
        };
        let place = (kind.to_string(), id.clone());
        match places.get(&place) {
            Some(&at) if kind == "acl" => acl_lines.entry(at).or_default().push(value),
            Some(&at) => records[at].value = value,
            None => {
                places.insert(place, records.len());
                if kind == "acl" {
                    acl_lines.insert(records.len(), vec![value.clone()]);
                }
                records.push(UserRecord {
                    kind: kind.to_string(),
                    id,
                    value,
                });
            }
        }
    }
    for (at, mut lines) in acl_lines {
        lines.sort();
        records[at].value = lines.join("\n");
    }
    records
}

/// The records as [`super::diff`] compares them: a section per type (in the order the types
/// first appear), a key per id.
pub(crate) fn sections(records: &[UserRecord]) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for record in records {
        let at = match out
            .iter()
            .position(|s| s.name.as_deref() == Some(record.kind.as_str()))
        {
            Some(at) => at,
            None => {
                out.push(Section {
                    name: Some(record.kind.clone()),
                    keys: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[at].keys.push((record.id.clone(), record.value.clone()));
    }
    out
}
