//! Proxied hops: one request that two nodes logged, folded into one event.
//!
//! A call on pve1 for `/nodes/pve2/…` (an endpoint with `proxyto`) is handed by pve1's pveproxy
//! to pve2's, so both log it: pve1 with the real client, pve2 with pve1's address as the client,
//! the same user and the same request line (pve-http-server `src/PVE/APIServer/AnyEvent.pm`
//! `proxy_request`; `../shared/docs/pve-formats.md` §1.4, `../shared/docs/pve-sources.md` §6).
//! pve2 answers first, so its line is written first, and the whole call (pveproxy's proxy
//! timeout) takes at most [`WINDOW`] seconds.
//!
//! In a cluster read, lines of all nodes come merged by time ([`crate::cluster`]). A line whose
//! client is another node's address (`.members`) is a hop from that node:
//!
//! - when that node is read, the hop waits (at most [`WINDOW`] seconds of log time) for its
//!   origin: a line of that node with the same user and request line. The origin is passed on
//!   as the event, marked with the node it was proxied to; the hop is folded (counted, not
//!   shown). An origin that came first (the nodes' clocks differ by a second) is remembered for
//!   the same window, so a hop after it folds too. A hop whose origin never comes is passed on
//!   late, marked as proxied from that node;
//! - when that node is not read, the hop is passed on at once, marked as proxied from it.
//!
//! The origin's event then joins the task, the journal entry and the config change of the node
//! that did the work, since those joins go by the path's node ([`crate::event::Event::task_node`]).
//! What is held is bounded: at most [`MAX_HELD`] hops and origins; beyond that the oldest is
//! passed on as it is.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::rc::Rc;

use crate::source::access::{self, strip_v4_mapped};

/// How far apart (seconds of log time) a hop and its origin may be: pveproxy's proxy timeout.
pub(crate) const WINDOW: i64 = 30;
/// At most this many hops (and as many origins) wait at once.
const MAX_HELD: usize = 100_000;

/// What a line's event says of the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Proxy {
    /// The origin's line, whose hop on `to` was folded into it (`file:line` of the hop).
    Folded {
        to: Rc<str>,
        file: Rc<str>,
        line: u64,
    },
    /// A hop from node `from`: its origin's log was not read (`origin_read` false), or held no
    /// such line.
    From { from: Rc<str>, origin_read: bool },
}

/// What to do with a line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Pass it on, with what is known of its proxy.
    Pass(Option<Proxy>),
    /// A hop, held until its origin comes; given back by [`Hops::due`] if none does.
    Held,
    /// A hop whose origin was already passed on: folded, not shown.
    Folded,
}

/// A hop held for its origin.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) time: i64,
    pub(crate) from: Rc<str>,
    /// Where it was logged.
    pub(crate) node: Rc<str>,
    pub(crate) file: Rc<str>,
    pub(crate) number: u64,
    pub(crate) text: Vec<u8>,
    user: Vec<u8>,
    request: Vec<u8>,
}

/// An origin passed on, remembered for a hop that comes after it.
#[derive(Debug)]
struct Origin {
    time: i64,
    node: Rc<str>,
    user: Vec<u8>,
    request: Vec<u8>,
}

/// The fold of a cluster read.
#[derive(Debug, Default)]
pub(crate) struct Hops {
    by_addr: HashMap<IpAddr, Rc<str>>,
    read: Vec<Rc<str>>,
    held: VecDeque<Held>,
    origins: VecDeque<Origin>,
    /// Hops folded into their origin.
    pub(crate) folded: u64,
    /// Hops passed on as events of their own (origin not read, or not found).
    pub(crate) alone: u64,
    /// The latest log time a line taken had (convert's clock for [`Hops::due`]).
    pub(crate) last: Option<i64>,
}

/// The node a request line's path names: `/api2/json/nodes/NAME/…`.
pub(crate) fn path_node(request: &[u8]) -> Option<&[u8]> {
    let at = memchr::memmem::find(request, b"/nodes/")?;
    let rest = &request[at + 7..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b' ' | b'?'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

impl Hops {
    /// `members`: every node's name and address; `read`: the nodes whose logs are read.
    pub(crate) fn new(members: &[(Rc<str>, IpAddr)], read: &[Rc<str>]) -> Hops {
        let mut by_addr = HashMap::new();
        for (name, addr) in members {
            by_addr.insert(*addr, Rc::clone(name));
        }
        Hops {
            by_addr,
            read: read.to_vec(),
            ..Hops::default()
        }
    }

    fn node_of(&self, client: &[u8]) -> Option<&Rc<str>> {
        let text = std::str::from_utf8(strip_v4_mapped(client)).ok()?;
        self.by_addr.get(&text.parse::<IpAddr>().ok()?)
    }

    fn is_read(&self, node: &[u8]) -> Option<&Rc<str>> {
        self.read.iter().find(|n| n.as_bytes() == node)
    }

    /// Takes one line of `node` (its time in seconds, when it has one).
    pub(crate) fn take(
        &mut self,
        node: &Rc<str>,
        file: &Rc<str>,
        number: u64,
        text: &[u8],
    ) -> Step {
        let Ok(line) = access::parse(text) else {
            return Step::Pass(None);
        };
        let Some(time) = line.timestamp().map(|t| t.as_second()) else {
            return Step::Pass(None);
        };
        self.last = Some(self.last.map_or(time, |l| l.max(time)));
        let user = line.user;
        let request = line.request;
        if let Some(from) = self
            .node_of(line.client)
            .filter(|f| f.as_ref() != node.as_ref())
            .cloned()
        {
            if self.is_read(from.as_bytes()).is_none() {
                self.alone += 1;
                return Step::Pass(Some(Proxy::From {
                    from,
                    origin_read: false,
                }));
            }
            let found = self.origins.iter().position(|o| {
                o.node == from
                    && o.user == user
                    && o.request == request
                    && (o.time - time).abs() <= WINDOW
            });
            if let Some(i) = found {
                self.origins.remove(i);
                self.folded += 1;
                return Step::Folded;
            }
            if self.held.len() >= MAX_HELD {
                // Bounded: the oldest is given back by `due` at once.
                if let Some(front) = self.held.front_mut() {
                    front.time = i64::MIN;
                }
            }
            self.held.push_back(Held {
                time,
                from,
                node: Rc::clone(node),
                file: Rc::clone(file),
                number,
                text: text.to_vec(),
                user: user.to_vec(),
                request: request.to_vec(),
            });
            return Step::Held;
        }
        let found = self.held.iter().position(|h| {
            h.from == *node
                && h.user == user
                && h.request == request
                && (time - h.time).abs() <= WINDOW
        });
        if let Some(i) = found {
            if let Some(hop) = self.held.remove(i) {
                self.folded += 1;
                return Step::Pass(Some(Proxy::Folded {
                    to: hop.node,
                    file: hop.file,
                    line: hop.number,
                }));
            }
        }
        let elsewhere = path_node(request)
            .and_then(|n| self.is_read(n))
            .is_some_and(|n| n != node);
        if elsewhere && user != b"-" {
            if self.origins.len() >= MAX_HELD {
                self.origins.pop_front();
            }
            self.origins.push_back(Origin {
                time,
                node: Rc::clone(node),
                user: user.to_vec(),
                request: request.to_vec(),
            });
        }
        Step::Pass(None)
    }

    /// Whether a hop is held.
    pub(crate) fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// A held hop whose origin can no longer come, the log being at `now` (`None`: the end),
    /// with its proxy mark; counted as alone.
    pub(crate) fn due(&mut self, now: Option<i64>) -> Option<(Held, Proxy)> {
        if let Some(now) = now {
            while self
                .origins
                .front()
                .is_some_and(|o| o.time < now.saturating_sub(WINDOW))
            {
                self.origins.pop_front();
            }
        }
        let front = self.held.front()?;
        if now.is_some_and(|now| front.time >= now.saturating_sub(WINDOW)) {
            return None;
        }
        let hop = self.held.pop_front()?;
        self.alone += 1;
        let proxy = Proxy::From {
            from: Rc::clone(&hop.from),
            origin_read: true,
        };
        Some((hop, proxy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(s: &str) -> Rc<str> {
        Rc::from(s)
    }

    fn line(client: &str, second: u32, request: &str) -> Vec<u8> {
        format!("{client} - alice@pve [24/06/2026:12:00:{second:02} +0000] \"{request}\" 200 81")
            .into_bytes()
    }

    fn cluster(read: &[&str]) -> Hops {
        let members = [
            (rc("pve1"), "10.0.0.1".parse().unwrap()),
            (rc("pve2"), "10.0.0.2".parse().unwrap()),
            (rc("pve3"), "10.0.0.3".parse().unwrap()),
        ];
        let read: Vec<Rc<str>> = read.iter().map(|n| rc(n)).collect();
        Hops::new(&members, &read)
    }

    const START: &str = "POST /api2/extjs/nodes/pve2/qemu/105/status/start HTTP/1.1";

    #[test]
    fn the_hop_comes_first_and_folds_into_its_origin() {
        let mut hops = cluster(&["pve1", "pve2"]);
        let (pve1, pve2, file) = (
            rc("pve1"),
            rc("pve2"),
            rc("pve2:/var/log/pveproxy/access.log"),
        );
        let hop = line("::ffff:10.0.0.1", 3, START);
        assert_eq!(hops.take(&pve2, &file, 7, &hop), Step::Held);
        let origin = line("::ffff:192.0.2.10", 4, START);
        assert_eq!(
            hops.take(&pve1, &rc("access.log"), 9, &origin),
            Step::Pass(Some(Proxy::Folded {
                to: rc("pve2"),
                file,
                line: 7
            }))
        );
        assert_eq!((hops.folded, hops.alone), (1, 0));
        assert!(hops.due(None).is_none());
    }

    #[test]
    fn an_origin_that_came_first_folds_the_hop_after_it() {
        let mut hops = cluster(&["pve1", "pve2"]);
        let (pve1, pve2, file) = (rc("pve1"), rc("pve2"), rc("f"));
        let origin = line("192.0.2.10", 4, START);
        assert_eq!(hops.take(&pve1, &file, 1, &origin), Step::Pass(None));
        let hop = line("::ffff:10.0.0.1", 5, START);
        assert_eq!(hops.take(&pve2, &file, 2, &hop), Step::Folded);
        assert_eq!(hops.folded, 1);
    }

    #[test]
    fn a_hop_from_a_node_not_read_is_its_own_event() {
        let mut hops = cluster(&["pve2"]);
        let hop = line("::ffff:10.0.0.1", 3, START);
        assert_eq!(
            hops.take(&rc("pve2"), &rc("f"), 1, &hop),
            Step::Pass(Some(Proxy::From {
                from: rc("pve1"),
                origin_read: false
            }))
        );
        assert_eq!(hops.alone, 1);
    }

    #[test]
    fn a_hop_whose_origin_never_comes_is_given_back_after_the_window() {
        let mut hops = cluster(&["pve1", "pve2"]);
        let hop = line("10.0.0.1", 3, START);
        assert_eq!(hops.take(&rc("pve2"), &rc("f"), 1, &hop), Step::Held);
        assert!(hops.due(Some(1_782_302_403)).is_none());
        // Another user's line, and a different request line, are no origin.
        let other = line(
            "192.0.2.10",
            4,
            "POST /api2/extjs/nodes/pve2/qemu/106/status/start HTTP/1.1",
        );
        assert_eq!(
            hops.take(&rc("pve1"), &rc("f"), 2, &other),
            Step::Pass(None)
        );
        let (held, proxy) = hops.due(None).unwrap();
        assert_eq!(held.number, 1);
        assert_eq!(
            proxy,
            Proxy::From {
                from: rc("pve1"),
                origin_read: true
            }
        );
        assert_eq!((hops.folded, hops.alone), (0, 1));
    }

    #[test]
    fn too_far_apart_is_not_the_same_call() {
        let mut hops = cluster(&["pve1", "pve2"]);
        let hop = line("10.0.0.1", 0, START);
        assert_eq!(hops.take(&rc("pve2"), &rc("f"), 1, &hop), Step::Held);
        let late = format!("192.0.2.10 - alice@pve [24/06/2026:12:00:31 +0000] \"{START}\" 200 81");
        assert_eq!(
            hops.take(&rc("pve1"), &rc("f"), 2, late.as_bytes()),
            Step::Pass(None)
        );
        assert!(hops.due(Some(1_782_302_431 + 60)).is_some());
    }

    #[test]
    fn a_nodes_own_address_and_malformed_lines_pass() {
        let mut hops = cluster(&["pve1", "pve2"]);
        let own = line("10.0.0.2", 0, START);
        assert_eq!(hops.take(&rc("pve2"), &rc("f"), 1, &own), Step::Pass(None));
        assert_eq!(
            hops.take(&rc("pve2"), &rc("f"), 2, b"garbage"),
            Step::Pass(None)
        );
    }

    #[test]
    fn path_nodes() {
        assert_eq!(path_node(START.as_bytes()), Some(&b"pve2"[..]));
        assert_eq!(path_node(b"GET /api2/json/nodes HTTP/1.1"), None);
        assert_eq!(
            path_node(b"GET /api2/json/cluster/resources HTTP/1.1"),
            None
        );
    }
}
