//! `/etc/pve/.members`: the nodes of the cluster, by name and address.
//!
//! pmxcfs writes it (pve-cluster `src/pmxcfs/status.c`, `cfs_create_memberlist_msg`) as JSON:
//! `{"nodename": "pve1", "version": N, "cluster": {...}, "nodelist": {"pve1": {"id": 1,
//! "online": 1, "ip": "10.0.0.1"}, ...}}`. A node outside a cluster has no `nodelist`. `--cluster`
//! reads every node listed; the addresses also tell a proxied hop (a line whose client is another
//! node: `../shared/docs/pve-sources.md` §6). The file is written by the cluster, which any node
//! of it can change, so every name and address is checked before it goes near ssh.

use std::net::IpAddr;
use std::path::Path;

/// One node of `.members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    /// Its cluster address (corosync's ring0 address as pmxcfs knows it).
    pub(crate) ip: Option<IpAddr>,
    pub(crate) online: bool,
}

/// What `.members` says: this node's name and every node of the cluster, in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Members {
    pub(crate) local: Option<String>,
    pub(crate) nodes: Vec<Member>,
}

/// Whether `name` is a node name as PVE allows it (pve-common `src/PVE/JSONSchema.pm`,
/// `pve_verify_node_name`: a DNS name, labels of letters, digits and inner hyphens). Such a
/// name can neither start an option nor hold a byte a shell or a terminal reads.
pub(crate) fn valid_node_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').all(|label| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 63
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    })
}

/// Parses `.members`; `Err` says what is wrong (for `FILE: ...`). Nodes with a name PVE would
/// refuse are an error too: such a file was not written by pmxcfs.
pub(crate) fn parse(text: &[u8]) -> Result<Members, String> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("not JSON: {e}"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let local = match object.get("nodename") {
        Some(serde_json::Value::String(name)) if valid_node_name(name) => Some(name.clone()),
        Some(_) => return Err("\"nodename\" is not a node name".into()),
        None => None,
    };
    let mut nodes = Vec::new();
    if let Some(list) = object.get("nodelist") {
        let list = list.as_object().ok_or("\"nodelist\" is not an object")?;
        for (name, node) in list {
            if !valid_node_name(name) {
                return Err(format!(
                    "\"nodelist\" holds a name that is not a node name: {:?}",
                    name.escape_debug().to_string()
                ));
            }
            let ip = match node.get("ip") {
                Some(serde_json::Value::String(ip)) => Some(
                    ip.parse::<IpAddr>()
                        .map_err(|_| format!("node {name}: \"ip\" is not an address"))?,
                ),
                _ => None,
            };
            let online = node.get("online").and_then(serde_json::Value::as_u64) == Some(1);
            nodes.push(Member {
                name: name.clone(),
                ip,
                online,
            });
        }
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Members { local, nodes })
}

/// Reads `DIR/.members`.
pub(crate) fn read(etc_pve: &Path) -> Result<Members, String> {
    let path = etc_pve.join(".members");
    let text = std::fs::read(&path).map_err(|e| crate::messages::os_error(&path, &e))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// As pmxcfs writes it (pve-cluster `src/pmxcfs/status.c`).
    const THREE: &str = r#"{
"nodename": "pve2",
"version": 5,
"cluster": { "name": "lab", "version": 3, "nodes": 3, "quorate": 1 },
"nodelist": {
  "pve1": { "id": 1, "online": 1, "ip": "10.0.0.11"},
  "pve2": { "id": 2, "online": 1, "ip": "10.0.0.12"},
  "pve3": { "id": 3, "online": 0, "ip": "fd00::13"}
  }
}
"#;

    #[test]
    fn a_cluster_of_three() {
        let members = parse(THREE.as_bytes()).unwrap();
        assert_eq!(members.local.as_deref(), Some("pve2"));
        let names: Vec<&str> = members.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["pve1", "pve2", "pve3"]);
        assert_eq!(members.nodes[2].ip, Some("fd00::13".parse().unwrap()));
        assert!(!members.nodes[2].online);
    }

    #[test]
    fn a_node_outside_a_cluster_has_only_its_name() {
        let members = parse(br#"{"nodename": "pve1", "version": 1}"#).unwrap();
        assert_eq!(members.local.as_deref(), Some("pve1"));
        assert!(members.nodes.is_empty());
    }

    #[test]
    fn hostile_names_and_addresses_are_refused() {
        for bad in [
            r#"{"nodelist": {"-oProxyCommand=x": {"ip": "10.0.0.1"}}}"#,
            r#"{"nodelist": {"pve1;reboot": {"ip": "10.0.0.1"}}}"#,
            r#"{"nodelist": {"pve\u001b]0;x": {"ip": "10.0.0.1"}}}"#,
            r#"{"nodelist": {"pve1": {"ip": "10.0.0.1 -oProxyCommand=x"}}}"#,
            r#"{"nodename": "a b"}"#,
            "[]",
            "{",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_names_as_pve_allows_them() {
        for good in ["pve1", "PVE-a1", "node.example.com", "a"] {
            assert!(valid_node_name(good), "{good}");
        }
        for bad in ["", "-x", "x-", "a..b", "a_b", "a b", "a/b", "ä"] {
            assert!(!valid_node_name(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn a_valid_name_holds_only_safe_bytes(name in "\\PC{0,40}") {
            if valid_node_name(&name) {
                prop_assert!(!name.starts_with('-'));
                prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }
    }
}
