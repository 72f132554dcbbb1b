//! Joins journal entries with the access.log lines they belong to (`../shared/docs/pve-sources.md`
//! §2), and hands out those that belong to none.
//!
//! access.log is written when the response goes out; pvedaemon logs a login's outcome and a
//! config change's parameters while it handles the request, so an entry comes a little before
//! its line (the whole call, at most [`WINDOW`] seconds). What joins:
//!
//! - a login (`successful auth for user`, `authentication failure; rhost=…`) with its `POST
//!   …/access/ticket` line: time within [`LOGIN_BEFORE`]/[`LOGIN_AFTER`] of the line, and for
//!   a failure the same client. Two candidates for one line: none is taken, never a guess;
//! - an `update VM N:` entry with its `PUT`/`POST /nodes/{node}/qemu/N/config` line: same user
//!   and VMID, the first such entry not yet taken that is not after the line; likewise resize,
//!   move disk and the snapshot calls;
//! - pveproxy's `authentication failure: …` warning with a 401 line of the same second.
//!
//! Entries that no line took are events of their own once the log is past them: the work of
//! CLI programs (`qm set`, which has no access.log line), logins whose line was not read,
//! console ticket checks (which have none).

use std::collections::VecDeque;

use crate::source::access::strip_v4_mapped;
use crate::source::journal::Entry;
use crate::source::said::{self, Said};

/// How long before its log line a request's journal entry may be written (the call's whole
/// run; as the task join's window).
pub(crate) const WINDOW: i64 = 60;
/// A login's entry: at most this many seconds before its line…
const LOGIN_BEFORE: i64 = 10;
/// …or after it (the journal's and the log's clocks are the same; a second of rounding).
const LOGIN_AFTER: i64 = 1;

/// A journal entry waiting for its line.
#[derive(Debug)]
struct Waiting {
    entry: Entry,
    taken: bool,
}

/// What a login line learns from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    /// The user who tried (the log writes `-` for every ticket call).
    pub(crate) user: Option<String>,
    pub(crate) ok: bool,
    /// Why it failed.
    pub(crate) reason: Option<String>,
    /// The pvedaemon worker that handled it.
    pub(crate) program: String,
    pub(crate) pid: Option<u32>,
}

/// What a config write learns from the journal: its parameters, in the entry's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Body {
    pub(crate) params: Vec<(String, String)>,
    pub(crate) program: String,
    pub(crate) pid: Option<u32>,
    /// Why the parameters could not be split, when they could not (the call then stays
    /// without them, and this is said).
    pub(crate) unsplit: Option<String>,
}

/// Splits an `update VM` text into parameters (by the endpoint's names).
pub(crate) type Split<'s> = dyn Fn(&str) -> Result<Vec<(String, String)>, said::SplitError> + 's;

/// Which kind of call a line is, for the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wants {
    /// `PUT`/`POST /nodes/{node}/qemu/{vmid}/config`.
    Config,
    /// `PUT /nodes/{node}/qemu/{vmid}/resize`.
    Resize,
    /// `POST /nodes/{node}/qemu/{vmid}/move_disk`.
    MoveDisk,
    /// `POST /nodes/{node}/qemu/{vmid}/snapshot`.
    Snapshot,
    /// `POST …/snapshot/{snapname}/rollback`.
    Rollback,
    /// `DELETE …/snapshot/{snapname}`.
    SnapshotDelete,
}

impl Wants {
    /// What a template and method ask of the journal, if anything.
    pub(crate) fn of(template: &str, method: &[u8]) -> Option<Wants> {
        Some(match (template, method) {
            ("/nodes/{node}/qemu/{vmid}/config", b"PUT" | b"POST") => Wants::Config,
            ("/nodes/{node}/qemu/{vmid}/resize", b"PUT") => Wants::Resize,
            ("/nodes/{node}/qemu/{vmid}/move_disk", b"POST") => Wants::MoveDisk,
            ("/nodes/{node}/qemu/{vmid}/snapshot", b"POST") => Wants::Snapshot,
            ("/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback", b"POST") => Wants::Rollback,
            ("/nodes/{node}/qemu/{vmid}/snapshot/{snapname}", b"DELETE") => Wants::SnapshotDelete,
            _ => return None,
        })
    }
}

/// The journal entries of a run, joined as the log goes by.
#[derive(Debug, Default)]
pub(crate) struct JournalJoin {
    /// Oldest first; those before the log's time minus the window are handed out.
    waiting: VecDeque<Waiting>,
    /// Lines left unjoined because two entries fitted.
    pub(crate) ambiguous: u64,
    /// The cursor of the last entry settled (joined and past the window, or handed out): a
    /// restart after it loses nothing ([`JournalJoin::settled`]).
    settled: Option<String>,
}

impl JournalJoin {
    /// Takes in entries (in time order).
    pub(crate) fn add(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for entry in entries {
            // Kept in order even when an entry comes late (a merge of files).
            let at = self
                .waiting
                .partition_point(|w| w.entry.time_us <= entry.time_us);
            self.waiting.insert(
                at,
                Waiting {
                    entry,
                    taken: false,
                },
            );
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The entries in `[from, to]` (seconds) not taken yet, by index.
    fn candidates(&self, from: i64, to: i64) -> impl Iterator<Item = usize> + '_ {
        let start = self
            .waiting
            .partition_point(|w| w.entry.time_us < from.saturating_mul(1_000_000));
        let end = to.saturating_add(1).saturating_mul(1_000_000);
        (start..self.waiting.len())
            .take_while(move |&i| self.waiting[i].entry.time_us < end)
            .filter(move |&i| !self.waiting[i].taken)
    }

    /// The login a `…/access/ticket` line at `time` from `client` was, if one entry fits. In
    /// a cluster read (`node`: the node that logged the line), only that node's entries fit:
    /// a login is handled where it was asked, and the journals of every node are in one join.
    pub(crate) fn login(&mut self, time: i64, client: &[u8], node: Option<&str>) -> Option<Login> {
        let client = strip_v4_mapped(client);
        let fits: Vec<usize> = self
            .candidates(time - LOGIN_BEFORE, time + LOGIN_AFTER)
            .filter(|&i| {
                let entry = &self.waiting[i].entry;
                let host = entry
                    .host
                    .as_deref()
                    .map(|h| h.split('.').next().unwrap_or(h));
                if node.zip(host).is_some_and(|(n, h)| n != h) {
                    return false;
                }
                match said::parse(&entry.program, &entry.message) {
                    Some(Said::LoginOk { .. }) => true,
                    Some(Said::LoginFailed { client: c, .. }) => {
                        strip_v4_mapped(c.as_bytes()) == client
                    }
                    _ => false,
                }
            })
            .collect();
        let i = match fits.as_slice() {
            [one] => *one,
            [] => return None,
            _ => {
                self.ambiguous += 1;
                return None;
            }
        };
        let waiting = &mut self.waiting[i];
        waiting.taken = true;
        let entry = &waiting.entry;
        let (user, ok, reason) = match said::parse(&entry.program, &entry.message)? {
            Said::LoginOk { user } => (Some(user.into_owned()), true, None),
            Said::LoginFailed { user, reason, .. } => (
                user.ok().map(str::to_string),
                false,
                Some(reason.to_string()),
            ),
            _ => return None,
        };
        Some(Login {
            user,
            ok,
            reason,
            program: entry.program.clone(),
            pid: entry.pid,
        })
    }

    /// pveproxy's reason for a 401 line at `time`, if it warned of exactly one in that second.
    pub(crate) fn refusal(&mut self, time: i64) -> Option<String> {
        let fits: Vec<usize> = self
            .candidates(time - 1, time)
            .filter(|&i| {
                let entry = &self.waiting[i].entry;
                matches!(
                    said::parse(&entry.program, &entry.message),
                    Some(Said::TicketRefused { .. })
                )
            })
            .collect();
        let [i] = fits.as_slice() else {
            return None;
        };
        let waiting = &mut self.waiting[*i];
        waiting.taken = true;
        match said::parse(&waiting.entry.program, &waiting.entry.message) {
            Some(Said::TicketRefused { reason }) => Some(reason.to_string()),
            _ => None,
        }
    }

    /// The parameters of a `wants` call by `user` on VM `vmid` logged at `time`, from the first
    /// fitting entry not yet taken (same user and VMID, within the window before the line).
    /// `split` turns an `update VM` text into parameters (by the endpoint's names).
    pub(crate) fn body(
        &mut self,
        time: i64,
        user: &[u8],
        vmid: &[u8],
        wants: Wants,
        path_name: Option<&[u8]>,
        split: &Split<'_>,
    ) -> Option<Body> {
        let found = self
            .candidates(time - WINDOW, time + LOGIN_AFTER)
            .find(|&i| {
                let entry = &self.waiting[i].entry;
                fits_body(entry, user, vmid, wants, path_name)
            })?;
        let waiting = &mut self.waiting[found];
        waiting.taken = true;
        let entry = &waiting.entry;
        let said = said::parse(&entry.program, &entry.message)?;
        let (params, unsplit) = match said {
            Said::UpdateVm { args, .. } => match split(&args) {
                Ok(params) => (params, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            },
            other => (other.call_params()?, None),
        };
        Some(Body {
            params,
            program: entry.program.clone(),
            pid: entry.pid,
            unsplit,
        })
    }

    /// The entries that started before `now` minus the window and that no line took: no later
    /// line can take them. Each is handed out once, oldest first.
    pub(crate) fn unclaimed(&mut self, now: i64) -> Vec<Entry> {
        let limit = now.saturating_sub(WINDOW).saturating_mul(1_000_000);
        let mut out = Vec::new();
        while self
            .waiting
            .front()
            .is_some_and(|w| w.entry.time_us < limit)
        {
            if let Some(w) = self.waiting.pop_front() {
                if w.entry.cursor.is_some() {
                    self.settled.clone_from(&w.entry.cursor);
                }
                if !w.taken {
                    out.push(w.entry);
                }
            }
        }
        out
    }

    /// Where a restart must resume the journal so that no entry is lost: after the last one
    /// settled, while some wait; `None` when none waits (then after the last one read).
    pub(crate) fn settled(&self) -> Option<&str> {
        if self.waiting.is_empty() {
            None
        } else {
            self.settled.as_deref()
        }
    }

    /// Every entry no line took, for the end of a batch run.
    pub(crate) fn rest(&mut self) -> Vec<Entry> {
        if let Some(cursor) = self.waiting.back().and_then(|w| w.entry.cursor.clone()) {
            self.settled = Some(cursor);
        }
        self.waiting
            .drain(..)
            .filter(|w| !w.taken)
            .map(|w| w.entry)
            .collect()
    }
}

/// Whether `entry` is the one a `wants` call by `user` on VM `vmid` wrote.
fn fits_body(entry: &Entry, user: &[u8], vmid: &[u8], wants: Wants, name: Option<&[u8]>) -> bool {
    // Only the daemon that serves the API writes an entry a logged request made; `qm set`
    // writes the same words and has no line.
    if entry.program != "pvedaemon" {
        return false;
    }
    let Some(said) = said::parse(&entry.program, &entry.message) else {
        return false;
    };
    let same = |u: &str, v: &str| u.as_bytes() == user && v.as_bytes() == vmid;
    match (said, wants) {
        (
            Said::UpdateVm {
                user: u, vmid: v, ..
            },
            Wants::Config,
        )
        | (
            Said::Resize {
                user: u, vmid: v, ..
            },
            Wants::Resize,
        )
        | (
            Said::MoveDisk {
                user: u, vmid: v, ..
            },
            Wants::MoveDisk,
        ) => same(&u, v),
        (
            Said::Snapshot {
                user: u,
                vmid: v,
                op,
                name: n,
            },
            _,
        ) => {
            let op_fits = matches!(
                (op, wants),
                (said::SnapshotOp::Create, Wants::Snapshot)
                    | (said::SnapshotOp::Rollback, Wants::Rollback)
                    | (said::SnapshotOp::Delete, Wants::SnapshotDelete)
            );
            op_fits && same(&u, v) && name.is_none_or(|name| name == n.as_bytes())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(second: i64, program: &str, message: &str) -> Entry {
        Entry {
            time_us: second * 1_000_000 + 250_000,
            host: Some("pve1".into()),
            program: program.into(),
            pid: Some(4242),
            priority: None,
            message: message.into(),
            cursor: None,
        }
    }

    fn no_split(_: &str) -> Result<Vec<(String, String)>, said::SplitError> {
        Ok(vec![("raw".into(), "x".into())])
    }

    #[test]
    fn a_failed_login_joins_by_time_and_client_and_two_candidates_join_none() {
        let mut join = JournalJoin::default();
        join.add([
            entry(100, "pvedaemon", "authentication failure; rhost=::ffff:192.0.2.20 user=bob@pve msg=invalid credentials"),
            entry(200, "pvedaemon", "authentication failure; rhost=192.0.2.30 user=eve@pve msg=invalid credentials"),
            entry(200, "pvedaemon", "authentication failure; rhost=192.0.2.30 user=mallory@pve msg=invalid credentials"),
        ]);
        assert_eq!(join.login(102, b"192.0.2.99", None), None);
        let login = join.login(102, b"::ffff:192.0.2.20", None).unwrap();
        assert_eq!(login.user.as_deref(), Some("bob@pve"));
        assert!(!login.ok);
        assert_eq!(login.reason.as_deref(), Some("invalid credentials"));
        assert_eq!(join.login(102, b"192.0.2.20", None), None, "taken once");
        assert_eq!(join.login(201, b"192.0.2.30", None), None);
        assert_eq!(join.ambiguous, 1);
        assert_eq!(join.rest().len(), 2);
    }

    #[test]
    fn in_a_cluster_read_a_login_takes_the_entry_of_the_node_that_logged_it() {
        let mut join = JournalJoin::default();
        let mut other = entry(
            100,
            "pvedaemon",
            "<root@pam> successful auth for user 'bob@pve'",
        );
        other.host = Some("pve2.example.com".into());
        join.add([
            entry(
                100,
                "pvedaemon",
                "<root@pam> successful auth for user 'alice@pve'",
            ),
            other,
        ]);
        let login = join.login(101, b"192.0.2.20", Some("pve2")).unwrap();
        assert_eq!(login.user.as_deref(), Some("bob@pve"));
        let login = join.login(101, b"192.0.2.10", Some("pve1")).unwrap();
        assert_eq!(login.user.as_deref(), Some("alice@pve"));
    }

    #[test]
    fn an_update_vm_entry_joins_its_config_write_and_a_cli_one_does_not() {
        let mut join = JournalJoin::default();
        join.add([
            entry(90, "qm", "<alice@pve> update VM 100: -cores 2"),
            entry(95, "pvedaemon", "<alice@pve> update VM 100: -cores 4"),
        ]);
        let body = join
            .body(100, b"alice@pve", b"100", Wants::Config, None, &no_split)
            .unwrap();
        assert_eq!(body.program, "pvedaemon");
        assert!(
            join.body(100, b"alice@pve", b"100", Wants::Config, None, &no_split)
                .is_none()
        );
        let left = join.unclaimed(1000);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].program, "qm");
    }
}
