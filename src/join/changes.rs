//! Joining a change in `/etc/pve` with the write request that made it.
//!
//! A request changes its file before it is answered, and its access.log line is written when
//! the answer is sent: the change is there when the line is read (a look is made at once, see
//! [`crate::pipeline`]), or was seen by the last poll a moment before. A task-starting call
//! (`POST …/config` is `qmconfig`, a create is `qmcreate`) changes the file later, while its
//! task runs. So a change belongs to the write on the same object that was read at most
//! [`WAIT`] after the change was seen, or, seen later, to the last task-starting write on that
//! object within [`AFTER`] before it (its task's work). A change on an object no such write names is one no
//! request explains (`qm set` on another node, HA, a scheduled job, an edit by hand): it is
//! shown on its own once [`WAIT`] has passed.
//!
//! The object of a request is its path: a guest's config for `/nodes/{node}/qemu/{vmid}/…`
//! (its firewall for `…/firewall/…`), `user.cfg` for `/access/…` and `/pools`, `storage.cfg` for
//! `/storage`, and so on ([`files_of`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::source::etc_pve::watch::FileChange;

/// How long a change waits for the line of the request that made it.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// How long after a write a change on its object is still its work (a task's).
pub(crate) const AFTER: Duration = Duration::from_secs(60);

/// What files a write request may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Files {
    /// A guest's config (by vmid, on whichever node).
    Guest(String),
    /// A new guest's config: a create, whose vmid is in its body.
    NewGuest,
    /// These files exactly, or those starting with a prefix ending in `/`.
    Paths(Vec<String>),
}

impl Files {
    /// The exact paths among these (none for guests, which are known by vmid).
    pub(crate) fn paths(&self) -> &[String] {
        match self {
            Files::Paths(paths) => paths,
            Files::Guest(_) | Files::NewGuest => &[],
        }
    }

    /// Whether the file at `path` is one of these (guest configs are known by vmid instead).
    fn names(&self, path: &str) -> bool {
        match self {
            Files::Guest(_) | Files::NewGuest => false,
            Files::Paths(paths) => paths.iter().any(|p| {
                if p.ends_with('/') {
                    path.starts_with(p.as_str())
                } else {
                    path == p
                }
            }),
        }
    }

    fn takes(&self, change: &FileChange) -> bool {
        match self {
            Files::Guest(vmid) => change.vmid.as_deref() == Some(vmid),
            Files::NewGuest => change.vmid.is_some() && change.old.is_none(),
            Files::Paths(_) => self.names(&change.file),
        }
    }
}

/// The files a write request may change, by its path (its template's parts and values).
pub(crate) fn files_of(event: &Event<'_>) -> Option<Files> {
    let path = std::str::from_utf8(event.path.as_deref()?).ok()?;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let vmid_of = |i: usize| {
        parts
            .get(i)
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .map(|v| v.to_string())
    };
    let one = |p: &str| Some(Files::Paths(vec![p.to_string()]));
    match parts.as_slice() {
        ["nodes", _, "qemu" | "lxc", _, "firewall", ..] => {
            one(&format!("firewall/{}.fw", vmid_of(3)?))
        }
        ["nodes", _, "qemu" | "lxc", _, ..] => Some(Files::Guest(vmid_of(3)?)),
        ["nodes", _, "qemu" | "lxc"] if event.method == Some(b"POST") => Some(Files::NewGuest),
        ["nodes", node, "firewall", ..] => one(&format!("nodes/{node}/host.fw")),
        ["nodes", node, "config"] => one(&format!("nodes/{node}/config")),
        ["cluster", "firewall", ..] => one("firewall/cluster.fw"),
        [
            "access",
            "ticket" | "password" | "tfa" | "vncticket" | "openid",
            ..,
        ] => None,
        ["access", "domains", ..] => one("domains.cfg"),
        ["access", ..] | ["pools", ..] => one("user.cfg"),
        ["storage", ..] => one("storage.cfg"),
        ["cluster", "options"] => one("datacenter.cfg"),
        ["cluster", "backup", ..] => {
            Some(Files::Paths(vec!["jobs.cfg".into(), "vzdump.cron".into()]))
        }
        ["cluster", "jobs", ..] => one("jobs.cfg"),
        ["cluster", "replication", ..] => one("replication.cfg"),
        ["cluster", "ha", ..] => one("ha/"),
        ["cluster", "sdn", ..] => one("sdn/"),
        ["cluster", "mapping", ..] => one("mapping/"),
        _ => None,
    }
}

struct Pending {
    change: FileChange,
    seen: Instant,
}

/// A task-starting write (shown or not) whose task may still change its object.
struct Recent {
    files: Files,
    at: Instant,
    /// The request's source (file, line), for the change record that names it.
    source: (String, u64),
    call: Option<Call>,
}

/// A write's call, for the body its task's change gives back: template, method, path.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) template: &'static str,
    pub(crate) method: String,
    pub(crate) path: Vec<u8>,
}

/// Changes waiting for their request, and recent writes waiting for their task's changes.
#[derive(Default)]
pub(crate) struct ChangeJoin {
    pending: VecDeque<Pending>,
    recent: VecDeque<Recent>,
}

/// A change no line claimed in time: on its own, or the late work of an earlier request.
pub(crate) struct Unclaimed {
    pub(crate) change: FileChange,
    /// The earlier write on the same object (its task's work), when there is one.
    pub(crate) request: Option<(String, u64)>,
    /// That write's call, and its body rebuilt from this change, when one can be.
    pub(crate) call: Option<Call>,
    pub(crate) rebuilt: Option<crate::join::config::Rebuilt>,
}

/// The body a config write's change in `file` gives back: the file's diff handed to
/// [`crate::join::config::rebuild`] with the call.
pub(crate) fn rebuild(
    template: &str,
    method: &str,
    path: &[u8],
    change: &FileChange,
) -> Option<crate::join::config::Rebuilt> {
    let format = crate::source::etc_pve::diff::format_of(&change.file)?;
    let before = change.old.as_deref().unwrap_or_default();
    let after = change.new.as_deref().unwrap_or_default();
    let diff = crate::source::etc_pve::diff::diff(format, &change.file, before, after);
    crate::join::config::rebuild(template, method, path, &change.file, before, after, &diff)
}

impl ChangeJoin {
    /// Changes seen by a look, to be claimed.
    pub(crate) fn add(&mut self, changes: Vec<FileChange>, now: Instant) {
        self.pending.extend(
            changes
                .into_iter()
                .map(|change| Pending { change, seen: now }),
        );
    }

    /// The changes this write made (seen before its line was read), taken; a write that starts
    /// a task (`starts_task`) is kept for what its task changes later. A synchronous one (`PUT
    /// …/config`) changed its file before it answered: nothing later is its.
    pub(crate) fn claim(
        &mut self,
        files: Files,
        source: (&str, u64),
        now: Instant,
        task_call: Option<Call>,
    ) -> Vec<FileChange> {
        let mut taken: Vec<FileChange> = Vec::new();
        let mut kept = VecDeque::new();
        for p in self.pending.drain(..) {
            // A create takes one new guest: the first new config (two creates in flight each
            // take one, in the order their lines come).
            let one_guest =
                files != Files::NewGuest || taken.first().is_none_or(|t| t.file == p.change.file);
            if files.takes(&p.change) && one_guest {
                taken.push(p.change);
            } else {
                kept.push_back(p);
            }
        }
        self.pending = kept;
        self.recent.retain(|r| now.duration_since(r.at) <= AFTER);
        if let Some(call) = task_call {
            self.recent.push_back(Recent {
                files,
                at: now,
                source: (source.0.to_string(), source.1),
                call: Some(call),
            });
        }
        taken
    }

    /// The changes that waited [`WAIT`] for a line: each the late work of the last write on
    /// its object within [`AFTER`], or a change no request explains.
    pub(crate) fn unclaimed(&mut self, now: Instant, wait: Duration) -> Vec<Unclaimed> {
        let mut out = Vec::new();
        while self
            .pending
            .front()
            .is_some_and(|p| now.duration_since(p.seen) >= wait)
        {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            let recent = self
                .recent
                .iter()
                .rev()
                .find(|r| r.files.takes(&p.change) && p.seen.duration_since(r.at) <= AFTER);
            let call = recent.and_then(|r| r.call.clone());
            let rebuilt = call
                .as_ref()
                .and_then(|c| rebuild(c.template, &c.method, &c.path, &p.change));
            out.push(Unclaimed {
                change: p.change,
                request: recent.map(|r| r.source.clone()),
                call,
                rebuilt,
            });
        }
        self.recent.retain(|r| now.duration_since(r.at) <= AFTER);
        out
    }

    /// When the oldest pending change stops waiting.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.pending.front().map(|p| p.seen + WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Origin;
    use crate::request::Request;
    use crate::source::access;

    fn files(method: &str, path: &str) -> Option<Files> {
        let text = format!(
            "::1 - root@pam [24/06/2026:14:00:00 +0200] \"{method} /api2/json{path} HTTP/1.1\" 200 5"
        );
        let line = access::parse(text.as_bytes()).unwrap();
        let request = Request::parse(line.request);
        let origin = Origin { file: "t", line: 1 };
        let event = Event::from_request(&line, line.timestamp().unwrap(), &request, None, origin);
        files_of(&event)
    }

    fn paths(p: &[&str]) -> Option<Files> {
        Some(Files::Paths(p.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn each_write_names_the_files_it_may_change() {
        let guest = Some(Files::Guest("100".into()));
        assert_eq!(files("PUT", "/nodes/pve1/qemu/100/config"), guest);
        assert_eq!(files("POST", "/nodes/pve1/lxc/100/snapshot"), guest);
        assert_eq!(files("POST", "/nodes/pve1/qemu"), Some(Files::NewGuest));
        assert_eq!(
            files("POST", "/nodes/pve1/qemu/100/firewall/rules"),
            paths(&["firewall/100.fw"])
        );
        assert_eq!(
            files("PUT", "/nodes/pve1/firewall/options"),
            paths(&["nodes/pve1/host.fw"])
        );
        assert_eq!(
            files("PUT", "/nodes/pve1/config"),
            paths(&["nodes/pve1/config"])
        );
        assert_eq!(
            files("POST", "/cluster/firewall/rules"),
            paths(&["firewall/cluster.fw"])
        );
        assert_eq!(files("PUT", "/access/acl"), paths(&["user.cfg"]));
        assert_eq!(files("POST", "/pools"), paths(&["user.cfg"]));
        assert_eq!(files("POST", "/storage"), paths(&["storage.cfg"]));
        assert_eq!(files("PUT", "/cluster/options"), paths(&["datacenter.cfg"]));
        assert_eq!(files("POST", "/cluster/ha/resources"), paths(&["ha/"]));
        // Secrets live in priv/, which is never read: no file to claim.
        assert_eq!(files("PUT", "/access/password"), None);
        assert_eq!(files("POST", "/access/ticket"), None);
    }

    fn change(file: &str, vmid: Option<&str>, new_guest: bool) -> FileChange {
        FileChange {
            file: file.into(),
            vmid: vmid.map(str::to_string),
            lxc: false,
            old: (!new_guest).then(Vec::new),
            new: Some(b"x".to_vec()),
        }
    }

    #[test]
    fn a_change_goes_to_its_write_or_waits_for_none() {
        let now = Instant::now();
        let mut join = ChangeJoin::default();
        join.add(
            vec![
                change("nodes/pve1/qemu-server/100.conf", Some("100"), false),
                change("user.cfg", None, false),
                change("nodes/pve1/qemu-server/101.conf", Some("101"), true),
                change("nodes/pve1/qemu-server/102.conf", Some("102"), true),
            ],
            now,
        );
        let taken = join.claim(Files::Guest("100".into()), ("log", 1), now, None);
        assert_eq!(taken.len(), 1);
        // A create takes one new guest.
        let call = Call {
            template: "/nodes/{node}/qemu",
            method: "POST".into(),
            path: b"/nodes/pve1/qemu".to_vec(),
        };
        let created = join.claim(Files::NewGuest, ("log", 2), now, Some(call));
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].file, "nodes/pve1/qemu-server/101.conf");
        assert!(join.unclaimed(now, WAIT).is_empty(), "not yet");
        let later = now + WAIT;
        let left = join.unclaimed(later, WAIT);
        assert_eq!(left.len(), 2);
        assert_eq!(left[0].change.file, "user.cfg");
        assert!(left[0].request.is_none());
        // The other new guest: the create was read before it was seen: its task's work.
        assert_eq!(left[1].request, Some(("log".to_string(), 2)));
    }
}
