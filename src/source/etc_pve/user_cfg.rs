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

/// Where the `KEYS` field (the 7th after the id: yubico ids or OATH secrets) is in the value of
/// a `user` record, when it is not empty: the bytes up to the next `:` (or the end), trimmed.
pub(crate) fn keys_span(value: &str) -> Option<std::ops::Range<usize>> {
    let mut start = 0;
    for _ in 0..6 {
        start += value[start..].find(':')? + 1;
    }
    let end = value[start..].find(':').map_or(value.len(), |i| start + i);
    let field = &value[start..end];
    let lead = field.len() - field.trim_start().len();
    let trail = field.len() - field.trim_end().len();
    (start + lead < end - trail).then_some(start + lead..end - trail)
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
            let path = line.split(':').nth(2).map(|p| p.trim());
            match path.and_then(normalize_path) {
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
pub(crate) fn sections(records: Vec<UserRecord>) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for record in records {
        let at = match out
            .iter()
            .position(|s| s.name.as_deref() == Some(record.kind.as_str()))
        {
            Some(at) => at,
            None => {
                out.push(Section {
                    name: Some(record.kind),
                    keys: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[at].keys.push((record.id, record.value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::etc_pve::diff::tests::{apply, canonical, data};
    use crate::source::etc_pve::diff::{Format, diff};

    #[test]
    fn records_of_the_access_control_test_config() {
        let records = parse_user_cfg(&data("user-test8.cfg"));
        let find = |kind: &str, id: &str| {
            records
                .iter()
                .find(|r| r.kind == kind && r.id == id)
                .map(|r| r.value.as_str())
        };
        assert_eq!(find("user", "joe@pve"), Some("1:"));
        assert_eq!(find("token", "max@pve!token2"), Some(":1:"));
        assert_eq!(find("token", "carol@pam!token"), Some(""));
        assert_eq!(
            find("group", "testgroup1"),
            Some("joe@pve,max@pve,sue@pve:")
        );
        assert_eq!(find("role", "customer"), Some("VM.Audit,VM.PowerMgmt:"));
        // Every acl line of a path, sorted; `/vms/100/` is `/vms/100`.
        assert_eq!(
            find("acl", "/vms/300"),
            Some(
                "acl:0:/vms/300:max@pve:customer:\nacl:1:/vms/300:max@pve!token2:Administrator\n\
                 acl:1:/vms/300:max@pve:vm_admin:"
            )
        );
        assert_eq!(
            find("acl", "/vms/100"),
            Some("acl:1:/vms/100/:alex@pve,max@pve:customer:")
        );
        let sections = sections(records);
        let kinds: Vec<&str> = sections.iter().filter_map(|s| s.name.as_deref()).collect();
        assert_eq!(kinds, ["user", "token", "group", "role", "acl"]);
    }

    #[test]
    fn a_user_created_and_an_acl_set() {
        let before = data("user-test1.cfg");
        let text = String::from_utf8(before.clone()).unwrap();
        let after = text
            .replacen(
                "user:carol@pam:1:\n",
                "user:carol@pam:1:\nuser:dave@pve:1:0:Dave:Smith:dave@example.com:ops%3Ateam::\n",
                1,
            )
            .replace(
                "acl:1:/vms/300:alex@pve:PVEVMAdmin:\n",
                "acl:1:/vms/300:alex@pve:PVEVMAdmin:\nacl:0:/vms/300:@testgroup2:PVEAuditor:\n",
            );
        let changes = diff(Format::UserCfg, "user.cfg", &before, after.as_bytes());
        let got: Vec<_> = changes
            .iter()
            .map(crate::source::etc_pve::diff::Change::parts)
            .collect();
        assert_eq!(
            got,
            [
                (
                    "user",
                    "dave@pve",
                    None,
                    Some("1:0:Dave:Smith:dave@example.com:ops%3Ateam::")
                ),
                (
                    "acl",
                    "/vms/300",
                    Some("acl:1:/vms/300:alex@pve:PVEVMAdmin:"),
                    Some(
                        "acl:0:/vms/300:@testgroup2:PVEAuditor:\nacl:1:/vms/300:alex@pve:PVEVMAdmin:"
                    )
                ),
            ]
        );
        let fields = fields(changes[0].new.as_deref().unwrap());
        assert_eq!(
            fields,
            ["1", "0", "Dave", "Smith", "dave@example.com", "ops%3Ateam"]
        );
        assert_eq!(
            apply(canonical(Format::UserCfg, &before), &changes),
            canonical(Format::UserCfg, after.as_bytes())
        );
    }

    #[test]
    fn the_keys_field_of_a_user_is_found() {
        let value = "1:0:Ann:Lee:ann@example.com:note: x!oath :";
        let span = keys_span(value).unwrap();
        assert_eq!(&value[span], "x!oath");
        assert_eq!(
            keys_span("1:0:Ann:Lee:ann@example.com:note:SECRET"),
            Some(33..39)
        );
        assert_eq!(keys_span("1:0:Ann:Lee:ann@example.com:note::"), None);
        assert_eq!(keys_span("1:"), None);
        assert_eq!(keys_span("1:0:\u{e9}:::::"), None);
        let spans =
            crate::source::etc_pve::diff::secret_spans(Format::UserCfg, Some("user"), value);
        assert_eq!(spans.len(), 1);
        assert!(
            crate::source::etc_pve::diff::secret_spans(Format::UserCfg, Some("group"), value)
                .is_empty()
        );
    }

    #[test]
    fn paths_normalized_as_pve_does() {
        assert_eq!(normalize_path("/vms/100/").as_deref(), Some("/vms/100"));
        assert_eq!(normalize_path("//").as_deref(), Some("/"));
        assert_eq!(normalize_path("vms").as_deref(), Some("/vms"));
        assert_eq!(normalize_path("/a b"), None);
        assert_eq!(normalize_path(""), None);
        // A line PVE ignores is no record; a later user record replaces the earlier.
        let records =
            parse_user_cfg(b"acl:1:/a b:x@pve:R:\nuser:x@pve:1:\nuser:x@pve:0:\nrealm:y\n");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].value, "0:");
    }
}
