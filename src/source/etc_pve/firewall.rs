//! Firewall files (`firewall/cluster.fw`, `firewall/VMID.fw`, `nodes/NODE/host.fw`,
//! `sdn/firewall/VNET.fw`), read as pve-firewall `src/PVE/Firewall.pm`
//! `generic_fw_config_parser` reads them:
//!
//! ```text
//! [OPTIONS]
//! enable: 1
//! [ALIASES]
//! web 10.0.0.10 # the web server
//! [IPSET admins] # admin hosts
//! 10.0.0.0/24
//! ! 10.0.0.7
//! [RULES]
//! IN SSH(ACCEPT) -i net0 -source +admins # ssh
//! |OUT ACCEPT -p tcp -dport 80
//! GROUP webservers -i net0
//! [group webservers]
//! IN ACCEPT -p tcp -dport 443
//! ```
//!
//! Lines are trimmed; `#` lines, empty lines and lines before any section are skipped. Headers
//! are case-insensitive; ipset and group names are lower-cased as PVE does. Rules are numbered
//! by their position among the rules PVE can read (the `pos` of the API: a line
//! [`parse_fw_rule`] refuses is skipped, as PVE skips it). Which sections a file may have depends
//! on its kind (a host has no aliases); here every kind reads all of them.

use std::collections::HashMap;

use super::diff::{Again, Builder, Reopen, Section};

/// A firewall rule as `parse_fw_rule` reads it, with the API's names
/// (`/cluster/firewall/rules`, `…/firewall/rules/{pos}`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct FwRule {
    /// `in`, `out`, `forward` or `group` (lower-cased).
    pub(crate) kind: String,
    /// `ACCEPT`, `DROP`, `REJECT`, a security group's name (for `group`), or what the file says.
    pub(crate) action: String,
    /// `SSH` of `SSH(ACCEPT)`.
    pub(crate) macro_name: Option<String>,
    pub(crate) iface: Option<String>,
    pub(crate) proto: Option<String>,
    pub(crate) dport: Option<String>,
    pub(crate) sport: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) dest: Option<String>,
    pub(crate) log: Option<String>,
    pub(crate) icmp_type: Option<String>,
    /// The text after `#`, trimmed.
    pub(crate) comment: Option<String>,
    /// False for a rule written `|…`.
    pub(crate) enable: bool,
}

impl FwRule {
    /// The rule's fields by their API parameter names, in the order of the rule line (`type`,
    /// `action`, `macro`, `iface`, `proto`, `dport`, `sport`, `source`, `dest`, `log`,
    /// `icmp-type`, `comment`), absent ones left out; `enable` is always given (`0` or `1`).
    pub(crate) fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("type", self.kind.clone()), ("action", self.action.clone())];
        let optional = [
            ("macro", &self.macro_name),
            ("iface", &self.iface),
            ("proto", &self.proto),
            ("dport", &self.dport),
            ("sport", &self.sport),
            ("source", &self.source),
            ("dest", &self.dest),
            ("log", &self.log),
            ("icmp-type", &self.icmp_type),
            ("comment", &self.comment),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                out.push((name, value.clone()));
            }
        }
        out.push(("enable", u8::from(self.enable).to_string()));
        out
    }
}

/// A rule line (trimmed, as in the file), or None where `parse_fw_rule` dies ("unable to parse
/// rule"). What `verify_rule` would complain about (an unknown macro, a bad address) still makes
/// a rule: PVE keeps it with its errors, at its position.
pub(crate) fn parse_fw_rule(line: &str) -> Option<FwRule> {
    let mut rule = FwRule::default();
    // `s/#\s*(.*?)\s*$//`: from the first `#`.
    let mut line = match line.split_once('#') {
        Some((rule_part, comment)) => {
            rule.comment = Some(comment.trim().to_string());
            rule_part
        }
        None => line,
    };
    rule.enable = match line.strip_prefix('|') {
        Some(rest) => {
            line = rest;
            false
        }
        None => true,
    };
    // `s/^(\S+)\s+(\S+)\s*//`
    let (kind, rest) = word(line)?;
    let rest = rest.strip_prefix(is_space)?.trim_start_matches(is_space);
    let (action, mut rest) = word(rest)?;
    rest = rest.trim_start_matches(is_space);
    rule.kind = kind.to_lowercase();
    rule.action = action.to_string();
    if matches!(rule.kind.as_str(), "in" | "out" | "forward") {
        if let Some((name, inner)) = action.strip_suffix(')').and_then(|a| a.rsplit_once('(')) {
            if matches!(inner, "ACCEPT" | "DROP" | "REJECT") && !name.is_empty() {
                rule.macro_name = Some(name.to_string());
                rule.action = inner.to_string();
            }
        }
    }
    const LEVELS: [&str; 9] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog",
    ];
    while !rest.is_empty() {
        let Some((option, after)) = rest.split_once(' ') else {
            break;
        };
        let Some((value, after)) = word(after) else {
            break;
        };
        let single = option.strip_prefix('-').unwrap_or("");
        let name = single.strip_prefix('-').unwrap_or(single);
        let slot = match (option, name) {
            ("-i", _) => &mut rule.iface,
            _ if rule.kind == "group" => break,
            ("-p" | "-proto" | "--proto", _) => &mut rule.proto,
            (_, "dport") => &mut rule.dport,
            (_, "sport") => &mut rule.sport,
            (_, "source") => &mut rule.source,
            (_, "dest") => &mut rule.dest,
            (_, "log") if LEVELS.contains(&value) => &mut rule.log,
            (_, "icmp-type") => &mut rule.icmp_type,
            _ => break,
        };
        *slot = Some(value.to_string());
        rest = after.trim_start_matches(is_space);
    }
    // "unable to parse rule parameters"
    rest.is_empty().then_some(rule)
}

/// The first word (`\S+`) of `s` and what follows it.
fn word(s: &str) -> Option<(&str, &str)> {
    let end = s.find(is_space).unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

/// Perl's `\s`, ASCII part.
fn is_space(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\x0b'
}

/// A section header line.
enum Header {
    /// The name [`parse_firewall`] gives it, how a second one reads, and for an ipset or group
    /// its comment.
    Section(String, Reopen, Option<String>),
    /// An ipset or group header with a name PVE refuses: the lines up to the next header are
    /// skipped (`$section = undef`).
    Refused,
}

fn header(line: &str) -> Option<Header> {
    let inner_end = line.find(']')?;
    let inner = line.strip_prefix('[')?.get(..inner_end - 1)?;
    let after = line[inner_end + 1..].trim_start_matches(is_space);
    let comment = match after {
        "" => None,
        _ => Some(after.strip_prefix('#')?.trim().to_string()),
    };
    let plain = |name: &str| comment.is_none() && inner.eq_ignore_ascii_case(name);
    for (name, section) in [
        ("options", "OPTIONS"),
        ("aliases", "ALIASES"),
        ("rules", "RULES"),
    ] {
        if plain(name) {
            return Some(Header::Section(section.into(), Reopen::Continue, None));
        }
    }
    // `^\[(group|ipset)\s+(\S+)\]\s*(?:#\s*(.*?)\s*)?$`i
    let (kind, name) = word(inner)?;
    let name = name.strip_prefix(is_space)?.trim_start_matches(is_space);
    if name.is_empty() || name.contains(is_space) {
        return None;
    }
    let (kind, longest) = if kind.eq_ignore_ascii_case("group") {
        ("group", 18)
    } else if kind.eq_ignore_ascii_case("ipset") {
        ("IPSET", 64)
    } else {
        return None;
    };
    // `$security_group_name_pattern`, `$ipset_name_pattern`: `[A-Za-z][A-Za-z0-9\-\_]+`, and
    // `$max_group_name_length` 18, `$max_ipset_name_length` 64.
    let mut bytes = name.bytes();
    let valid = name.len() >= 2
        && name.len() <= longest
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Some(Header::Refused);
    }
    Some(Header::Section(
        format!("{kind} {}", name.to_ascii_lowercase()),
        Reopen::Reset,
        Some(comment.unwrap_or_default()),
    ))
}

/// What kind of section is being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Options,
    Aliases,
    Rules,
    Ipset,
}

/// The sections of a firewall file, named as in their headers (`OPTIONS`, `ALIASES`, `RULES`,
/// `IPSET name`, `group name`), with their keys:
///
/// * `OPTIONS`: `key: value`, the key lower-cased, the value trimmed;
/// * `ALIASES`: the alias name (lower-cased), the value the rest of the line (`CIDR # comment`);
/// * `IPSET name`: key `""` the header's comment (`""` when it has none), then per entry its
///   cidr (without a `!`), the value the entry's line (`! 10.0.0.0/8 # comment`);
/// * `RULES`: the position (`0`, `1`…) of each rule PVE reads, the value its line;
/// * `group name`: key `""` the header's comment, then its rules as in `RULES`.
///
/// A second `[RULES]`, `[OPTIONS]` or `[ALIASES]` adds to the first (PVE keeps one list); a
/// second `[IPSET x]` or `[group x]` replaces it (a new list).
pub(crate) fn parse_firewall(data: &[u8]) -> Vec<Section> {
    let text = String::from_utf8_lossy(data);
    let mut builder = Builder::without_main();
    let mut kind = Kind::Options;
    let mut rules = Vec::<usize>::new();
    let mut place: Option<usize> = None;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in text.split('\n') {
        let line = line.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            match header(line) {
                Some(Header::Refused) => {
                    builder.close();
                    place = None;
                    continue;
                }
                Some(Header::Section(name, reopen, comment)) => {
                    kind = match name.as_str() {
                        "OPTIONS" => Kind::Options,
                        "ALIASES" => Kind::Aliases,
                        "RULES" => Kind::Rules,
                        n if n.starts_with("group ") => Kind::Rules,
                        _ => Kind::Ipset,
                    };
                    let next = rules.len();
                    let at = *seen.entry(name.clone()).or_insert(next);
                    if at == next {
                        rules.push(0);
                    }
                    if reopen == Reopen::Reset {
                        rules[at] = 0;
                    }
                    place = Some(at);
                    builder.open(Some(name), reopen);
                    if let Some(comment) = comment {
                        builder.push(String::new(), comment, Again::Replace);
                    }
                    continue;
                }
                None => {}
            }
        }
        let Some(at) = place else {
            // "skip line - no section"
            continue;
        };
        match kind {
            Kind::Options => {
                if let Some((key, value)) = line.split_once(':') {
                    let key = key.trim_matches(is_space);
                    if !key.is_empty() && !key.contains(is_space) {
                        builder.push(
                            key.to_lowercase(),
                            value.trim_matches(is_space).to_string(),
                            Again::Replace,
                        );
                    }
                }
            }
            Kind::Aliases => {
                // `parse_alias`: the comment off, then `^(\S+)\s(\S+)$` (the address is not
                // checked again).
                let alias = line.split_once('#').map_or(line, |(a, _)| a);
                let alias = alias.trim_end_matches(is_space);
                if let Some((name, rest)) = word(alias) {
                    let cidr = rest.strip_prefix(is_space).unwrap_or("");
                    if !cidr.is_empty() && !cidr.contains(is_space) {
                        let value = line[name.len()..].trim_start_matches(is_space);
                        builder.push(name.to_lowercase(), value.to_string(), Again::Replace);
                    }
                }
            }
            Kind::Ipset => {
                let entry = line.split_once('#').map_or(line, |(e, _)| e);
                let entry = entry
                    .strip_prefix('!')
                    .unwrap_or(entry)
                    .trim_matches(is_space);
                if !entry.is_empty() && !entry.contains(is_space) {
                    builder.push(entry.to_string(), line.to_string(), Again::Replace);
                }
            }
            Kind::Rules => {
                if parse_fw_rule(line).is_some() {
                    builder.push(rules[at].to_string(), line.to_string(), Again::Replace);
                    rules[at] += 1;
                }
            }
        }
    }
    builder.finish()
}

/// The rules of `section` (`RULES` or `group NAME`) of a parsed firewall file, in order.
pub(crate) fn rules<'a>(sections: &'a [Section], section: &str) -> Vec<(&'a str, FwRule)> {
    sections
        .iter()
        .filter(|s| s.name.as_deref() == Some(section))
        .flat_map(|s| s.keys.iter())
        .filter(|(k, _)| !k.is_empty())
        .filter_map(|(_, line)| parse_fw_rule(line).map(|rule| (line.as_str(), rule)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::etc_pve::diff::tests::{apply, canonical, data};
    use crate::source::etc_pve::diff::{Format, diff};

    fn names(sections: &[Section]) -> Vec<&str> {
        sections.iter().filter_map(|s| s.name.as_deref()).collect()
    }

    #[test]
    fn the_cluster_example_of_pve_firewall() {
        let parsed = parse_firewall(&data("fw-cluster.fw"));
        assert_eq!(
            names(&parsed),
            [
                "OPTIONS",
                "ALIASES",
                "RULES",
                "group group1",
                "group group3",
                "IPSET myipset",
                "IPSET blacklist"
            ]
        );
        let options = &parsed[0];
        assert_eq!(options.get("policy_in"), Some("DROP"));
        assert_eq!(
            parsed[1].get("myserveraliasipv6short"),
            Some("2001:db8:0:85a3::ac1f:8001")
        );
        let ipset = &parsed[5];
        assert_eq!(ipset.get(""), Some(""));
        assert_eq!(ipset.get("192.168.0.1"), Some("192.168.0.1 #mycomment"));
        assert_eq!(
            ipset.get("10.0.0.0/8"),
            Some("! 10.0.0.0/8  #nomatch - needs kernel 3.7 or newer")
        );
        let group3 = rules(&parsed, "group group3");
        assert_eq!(group3.len(), 7);
        assert_eq!(group3[3].1.source.as_deref(), Some("+mynetgroup"));
        let rule = &rules(&parsed, "RULES")[0].1;
        assert_eq!(
            rule.params(),
            [
                ("type", "in".to_string()),
                ("action", "ACCEPT".to_string()),
                ("macro", "SSH".to_string()),
                ("iface", "vmbr0".to_string()),
                ("enable", "1".to_string()),
            ]
        );
    }

    #[test]
    fn the_guest_and_host_examples() {
        let parsed = parse_firewall(&data("fw-100.fw"));
        assert_eq!(names(&parsed), ["OPTIONS", "IPSET ipfilter-net0", "RULES"]);
        assert_eq!(parsed[0].get("ips_queues"), Some("0:3"));
        assert_eq!(parsed[1].get(""), Some("only allow specified IPs on net0"));
        let rules = rules(&parsed, "RULES");
        assert_eq!(rules.len(), 14);
        assert_eq!(rules[1].1.comment.as_deref(), Some("a comment"));
        let disabled = &rules[9].1;
        assert!(!disabled.enable);
        assert_eq!(disabled.comment.as_deref(), Some("disabled rule"));
        let group = &rules[10].1;
        assert_eq!(
            (
                group.kind.as_str(),
                group.action.as_str(),
                group.iface.as_deref()
            ),
            ("group", "group1", Some("net0"))
        );
        let host = parse_firewall(&data("fw-host.fw"));
        assert_eq!(host[0].get("nf_conntrack_max"), Some("196608"));
        assert_eq!(host[1].keys.len(), 2);
    }

    #[test]
    fn a_rule_added_at_the_top_and_moved() {
        let before = data("fw-host.fw");
        let text = String::from_utf8(before.clone()).unwrap();
        let added = text.replace(
            "[RULES]\n\n",
            "[RULES]\n\nIN ACCEPT -source 10.0.0.0/24 -p tcp -dport 8006 -log nolog # web ui\n",
        );
        let changes = diff(
            Format::Firewall,
            "nodes/pve1/host.fw",
            &before,
            added.as_bytes(),
        );
        let got: Vec<_> = changes
            .iter()
            .map(crate::source::etc_pve::diff::Change::parts)
            .collect();
        assert_eq!(
            got,
            [
                (
                    "RULES",
                    "0",
                    Some("IN  SSH(ACCEPT)"),
                    Some("IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 8006 -log nolog # web ui")
                ),
                (
                    "RULES",
                    "1",
                    Some("OUT SSH(ACCEPT)"),
                    Some("IN  SSH(ACCEPT)")
                ),
                ("RULES", "2", None, Some("OUT SSH(ACCEPT)")),
            ]
        );
        let rule = parse_fw_rule(changes[0].new.as_deref().unwrap()).unwrap();
        assert_eq!(
            rule.params(),
            [
                ("type", "in".to_string()),
                ("action", "ACCEPT".to_string()),
                ("proto", "tcp".to_string()),
                ("dport", "8006".to_string()),
                ("source", "10.0.0.0/24".to_string()),
                ("log", "nolog".to_string()),
                ("comment", "web ui".to_string()),
                ("enable", "1".to_string()),
            ]
        );
        // Moved to the end: three positions change.
        let moved = added.replace(
            "IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 8006 -log nolog # web ui\n",
            "",
        ) + "IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 8006 -log nolog # web ui\n";
        let changes = diff(
            Format::Firewall,
            "nodes/pve1/host.fw",
            added.as_bytes(),
            moved.as_bytes(),
        );
        assert_eq!(changes.len(), 3);
        assert_eq!(
            apply(canonical(Format::Firewall, added.as_bytes()), &changes),
            canonical(Format::Firewall, moved.as_bytes())
        );
    }

    #[test]
    fn rules_pve_refuses_take_no_position() {
        for (line, ok) in [
            ("IN ACCEPT", true),
            ("in accept", true),
            ("|OUT DROP -p udp --dport 53", true),
            ("IN ACCEPT -x y", false),
            ("IN", false),
            ("| IN ACCEPT", false),
            ("IN ACCEPT -p  tcp", false),
            ("IN ACCEPT -log verbose", false),
            ("GROUP g -i net0", true),
            ("GROUP g -p tcp", false),
            ("IN ACCEPT -icmp-type echo-request -p icmp", true),
            ("FORWARD Web(DROP) -dest 10.0.0.1", true),
        ] {
            assert_eq!(parse_fw_rule(line).is_some(), ok, "{line}");
        }
        let rule = parse_fw_rule("FORWARD Web(DROP) -dest 10.0.0.1").unwrap();
        assert_eq!(
            (
                rule.kind.as_str(),
                rule.macro_name.as_deref(),
                rule.action.as_str()
            ),
            ("forward", Some("Web"), "DROP")
        );
        assert_eq!(parse_fw_rule("GROUP g(ACCEPT)").unwrap().macro_name, None);
        let parsed = parse_firewall(b"[RULES]\nIN ACCEPT\nbad\nOUT DROP\n[group Bad name]\nIN ACCEPT\n[group toolongname-for-a-group]\nIN DROP\n[RULES]\nIN REJECT\n");
        assert_eq!(names(&parsed), ["RULES"]);
        let keys: Vec<_> = parsed[0]
            .keys
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // `[group Bad name]` is no header (a rule line PVE cannot read), so the rule after it is
        // one of `[RULES]`; the lines under a refused name are skipped; a second `[RULES]` adds.
        assert_eq!(
            keys,
            [
                ("0", "IN ACCEPT"),
                ("1", "OUT DROP"),
                ("2", "IN ACCEPT"),
                ("3", "IN REJECT")
            ]
        );
    }

    #[test]
    fn aliases_as_parse_alias_reads_them() {
        let parsed = parse_firewall(
            b"[ALIASES]\nWeb 10.0.0.10 # the web server\ndb  10.0.0.20\nlone\nx 10.0.0.1 10.0.0.2\ny 10.0.0.3#c\n",
        );
        let keys: Vec<_> = parsed[0]
            .keys
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Two spaces, one word or three: PVE refuses the line.
        assert_eq!(
            keys,
            [("web", "10.0.0.10 # the web server"), ("y", "10.0.0.3#c")]
        );
    }
}
