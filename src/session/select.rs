//! Which sessions are shown: coder's connection-log filters (status, kind, user, client, guest,
//! open time, node), applied to whole sessions, never to the events they are made of: a UI
//! session that began before `--since` is still built from its login.

use jiff::Timestamp;

use super::{Kind, Session, Status};
use crate::source::access::strip_v4_mapped;
use crate::userid;

#[derive(Debug, Default)]
pub(crate) struct Select {
    pub(crate) status: Vec<Status>,
    pub(crate) kinds: Vec<Kind>,
    pub(crate) users: Vec<Vec<u8>>,
    pub(crate) clients: Vec<String>,
    pub(crate) vmids: Vec<String>,
    pub(crate) nodes: Vec<String>,
    pub(crate) since: Option<Timestamp>,
    pub(crate) until: Option<Timestamp>,
}

impl Select {
    /// `--client` as pverec prints clients: an IPv4-mapped address without `::ffff:`.
    pub(crate) fn client(arg: &str) -> String {
        String::from_utf8_lossy(strip_v4_mapped(arg.trim().as_bytes())).into_owned()
    }

    pub(crate) fn wants(&self, s: &Session) -> bool {
        let any = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|w| w == v))
        };
        (self.status.is_empty() || self.status.contains(&s.status))
            && (self.kinds.is_empty() || self.kinds.contains(&s.kind))
            && (self.users.is_empty()
                || self
                    .users
                    .iter()
                    .any(|want| userid::selects(want, s.user_id().as_bytes())))
            && any(&self.clients, s.client.as_deref())
            && any(&self.vmids, s.vmid.as_deref())
            && any(&self.nodes, s.node.as_deref())
            && self.since.is_none_or(|t| s.opened >= t.as_second())
            && self.until.is_none_or(|t| s.opened < t.as_second())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_compared_as_printed() {
        assert_eq!(Select::client("::ffff:192.0.2.10"), "192.0.2.10");
        assert_eq!(Select::client("2001:db8::1"), "2001:db8::1");
    }
}
