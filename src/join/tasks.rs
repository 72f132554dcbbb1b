//! Joining requests with what the other sources know about them: the task each one started
//! (task index and `active`), and its parameters (the recorder spool).
//!
//! access.log has neither: a UI call that failed is still HTTP 200, and a POST's body is never
//! logged. The task index has the outcome of every long-running action and the spool has every
//! parameter, but nothing in them names the log line. So the join is by what both sides know
//! (pve-formats.md §2.5, §5):
//!
//! - a task joins a request when its type is one the endpoint starts (schema `task_types`), its
//!   user is the logged user (tokens included), its node is the path's `{node}` (or this node),
//!   its id is the guest acted on, and it started at or before the log time (the line is written
//!   when the response is sent) but no more than [`WINDOW`] earlier (`background_delay` calls
//!   answer up to 30 s late). Among the candidates the latest started wins (closest to the
//!   response), and in one second the lowest pid, so two identical clicks in one second join their
//!   tasks in fork order; candidates that differ in type or id at that start are ambiguous and
//!   left unjoined rather than guessed. A task joins one request.
//! - a spool event is written before its request is handled, so it joins the first log line
//!   after it with the same method, path, format and user, in order.
//!
//! Tasks that no request claimed within the window, and spool events that never got their log
//! line, are handed back to be shown on their own: nothing read is dropped.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use percent_encoding::percent_decode;

use crate::response;
use crate::source::spool::SpoolEvent;
use crate::source::task::{Archive, State, Task, Update};

/// How long before its log line a request's task may have started: `background_delay` is at
/// most 30 s, and a slow call may take longer before it answers.
pub(crate) const WINDOW: i64 = 60;

/// How long a spool event waits for its log line in `follow` before it is shown alone.
pub(crate) const BODY_WAIT: Duration = Duration::from_secs(120);

/// Most tasks [`Correlator::unclaimed`] hands out at a time, so that a log whose first line
/// comes after a long index does not bring all of it into memory at once.
const BATCH: usize = 1024;

/// Below this many tasks held, [`Correlator::prune`] does not bother.
const PRUNE_AT: usize = 8192;

/// What a request offers for a join.
pub(crate) struct Claim<'r> {
    /// Log time, seconds.
    pub(crate) time: i64,
    pub(crate) user: &'r [u8],
    /// The node the task runs on: the path's `{node}`, else this node when known.
    pub(crate) node: Option<&'r [u8]>,
    /// Task types the endpoint starts.
    pub(crate) kinds: &'static [&'static str],
    /// The guest acted on (`vmid` in the path), which the task id must name.
    pub(crate) guest: Option<&'r [u8]>,
    /// Another object id (storage, service, realm…), preferred when the task id names it.
    pub(crate) object: Option<&'r [u8]>,
    /// The length the task's UPID has as a JSON string, when the logged answer can only have
    /// been that UPID ([`crate::event::Event::upid_len`]).
    pub(crate) upid_len: Option<usize>,
}

/// A task the correlator holds.
struct Slot {
    task: Task,
    /// Joined to a request (whose source is kept, for the `task_end` record).
    request: Option<(String, u64)>,
    /// Shown on its own, as a task no request started.
    shown_alone: bool,
    /// Someone wants to hear when it ends.
    wants_end: bool,
}

/// A task that ended after it was shown (with its request, or alone).
pub(crate) struct Ended {
    pub(crate) task: Task,
    /// The request's source, when it had one.
    pub(crate) request: Option<(String, u64)>,
}

/// A spool event waiting for its log line.
struct Body {
    event: SpoolEvent,
    path: Vec<u8>,
    arrived: Instant,
}

#[derive(Default)]
pub(crate) struct Correlator {
    slots: Vec<Slot>,
    by_upid: HashMap<String, usize>,
    /// Slot numbers by start time; `due` is how many of them are past the window.
    order: Vec<usize>,
    due: usize,
    bodies: VecDeque<Body>,
    /// Requests left unjoined because rivals of another type or id started in the same second.
    pub(crate) ambiguous: u64,
    /// The latest time given to [`Correlator::unclaimed`]: tasks that started more than the
    /// window before it have all been handed out or joined.
    horizon: Option<i64>,
    /// The first look's tasks not yet taken in: they come in as the log reaches their time.
    archive: Archive,
    /// Tasks of the archive that ended after they were shown (reported with the next update).
    ended: Vec<Ended>,
    /// How many tasks the last prune kept: the next one waits until there are twice as many.
    kept: usize,
}

impl Correlator {
    /// Takes in what the task files said; returns the shown tasks that have ended since.
    pub(crate) fn update(&mut self, update: Update) -> Vec<Ended> {
        if let Some(archive) = update.archive {
            self.archive.absorb(archive);
        }
        let mut ended = std::mem::take(&mut self.ended);
        for task in update.running.into_iter().chain(update.finished) {
            // Past the window already when first seen: history, not a new task. This is how a
            // task forgotten by `prune` but still listed in `active` (its 25 latest finished
            // tasks) stays forgotten instead of coming back as one without a request.
            let history = self
                .horizon
                .is_some_and(|h| task.upid.start < h.saturating_sub(WINDOW));
            ended.extend(self.take_in(task, history));
        }
        ended
    }

    /// A task read: news of one held (its end, when it ended), else a new one unless `history`.
    fn take_in(&mut self, task: Task, history: bool) -> Option<Ended> {
        let Some(&i) = self.by_upid.get(&task.upid.text) else {
            if !history {
                self.insert(task);
            }
            return None;
        };
        let slot = &mut self.slots[i];
        if slot.task.state == State::Running && task.state != State::Running {
            slot.task.state = task.state;
            if slot.wants_end {
                slot.wants_end = false;
                return Some(Ended {
                    task: slot.task.clone(),
                    request: slot.request.clone(),
                });
            }
        }
        None
    }

    /// Takes in the archived tasks that started at or before `until`, at most `most` of them;
    /// how many were taken. They were read at the first look, so they are no history however
    /// old: each is joined or handed out like any task.
    fn release(&mut self, until: i64, most: usize) -> usize {
        let mut taken = 0;
        while taken < most {
            let Some(task) = self.archive.take(until) else {
                break;
            };
            taken += 1;
            let ended = self.take_in(task, false);
            self.ended.extend(ended);
        }
        taken
    }

    fn insert(&mut self, task: Task) {
        let i = self.slots.len();
        let key = (task.upid.start, task.upid.pid);
        self.by_upid.insert(task.upid.text.clone(), i);
        self.slots.push(Slot {
            task,
            request: None,
            shown_alone: false,
            wants_end: false,
        });
        let pos = self
            .order
            .partition_point(|&j| {
                (self.slots[j].task.upid.start, self.slots[j].task.upid.pid) <= key
            })
            .max(self.due);
        self.order.insert(pos, i);
    }

    /// The task this request started, if one matches without doubt; it is then taken.
    pub(crate) fn join(&mut self, claim: &Claim<'_>, source: (&str, u64)) -> Option<&Task> {
        if claim.kinds.is_empty() {
            return None;
        }
        self.release(claim.time, usize::MAX);
        let end = self
            .order
            .partition_point(|&j| self.slots[j].task.upid.start <= claim.time);
        let mut exact: Vec<usize> = Vec::new();
        let mut loose: Vec<usize> = Vec::new();
        for &j in self.order[..end].iter().rev() {
            let task = &self.slots[j].task;
            if task.upid.start < claim.time - WINDOW {
                break;
            }
            let slot = &self.slots[j];
            if slot.request.is_some() || slot.shown_alone || !fits(claim, task) {
                continue;
            }
            let id = task.upid.id.as_bytes();
            match (claim.guest, claim.object) {
                (Some(guest), _) if names(id, guest) => exact.push(j),
                (Some(_), _) => {}
                (None, Some(object)) if id == object => exact.push(j),
                (None, _) => loose.push(j),
            }
        }
        let pick = if exact.is_empty() {
            choose(&self.slots, &loose)
        } else {
            choose(&self.slots, &exact)
        };
        let i = match pick {
            Choice::One(i) => i,
            Choice::Ambiguous => {
                self.ambiguous += 1;
                return None;
            }
            Choice::None => return None,
        };
        let slot = &mut self.slots[i];
        slot.request = Some((source.0.to_string(), source.1));
        slot.wants_end = slot.task.state == State::Running;
        Some(&slot.task)
    }

    /// Tasks that started more than [`WINDOW`] before `now` and that no request took: no later
    /// request can take them any more. Each is handed out once.
    ///
    /// At most about [`BATCH`] at a time from the archive: call again until nothing comes.
    pub(crate) fn unclaimed(&mut self, now: i64) -> Vec<Task> {
        self.horizon = self.horizon.max(Some(now));
        let limit = now.saturating_sub(WINDOW);
        let mut out = Vec::new();
        loop {
            let released = self.release(limit.saturating_sub(1), BATCH);
            while let Some(&i) = self.order.get(self.due) {
                let slot = &mut self.slots[i];
                if slot.task.upid.start >= limit {
                    break;
                }
                self.due += 1;
                if slot.request.is_none() && !slot.shown_alone {
                    slot.shown_alone = true;
                    out.push(slot.task.clone());
                }
            }
            self.prune();
            if !out.is_empty() || released == 0 {
                return out;
            }
        }
    }

    /// Asks for an [`Ended`] when this task (shown alone, still running) ends.
    pub(crate) fn watch_end(&mut self, upid: &str) {
        if let Some(&i) = self.by_upid.get(upid) {
            let slot = &mut self.slots[i];
            slot.wants_end = slot.task.state == State::Running;
        }
    }

    /// Asks for no [`Ended`] of this task: its request was joined but is not shown.
    pub(crate) fn unwatch_end(&mut self, upid: &str) {
        if let Some(&i) = self.by_upid.get(upid) {
            self.slots[i].wants_end = false;
        }
    }

    /// When the next task falls out of the window (for follow's sleep), in log seconds.
    pub(crate) fn next_due(&self) -> Option<i64> {
        let held = self
            .order
            .get(self.due)
            .map(|&i| self.slots[i].task.upid.start);
        let archived = self.archive.next_start();
        held.into_iter()
            .chain(archived)
            .min()
            .map(|start| start.saturating_add(WINDOW + 1))
    }

    /// Forgets tasks that can no longer matter, so a follow that runs for months, or a convert
    /// of a long index, stays small. Cheap when there is nothing to do: it waits until twice as
    /// many tasks are held as the last one kept.
    pub(crate) fn prune(&mut self) {
        if self.slots.len() < PRUNE_AT.max(2 * self.kept) {
            return;
        }
        let keep: Vec<bool> = (0..self.slots.len())
            .map(|i| {
                let slot = &self.slots[i];
                slot.wants_end
                    || (slot.request.is_none() && !slot.shown_alone)
                    || slot.task.state == State::Running
            })
            .collect();
        let old_order = std::mem::take(&mut self.order);
        let mut renumber = vec![usize::MAX; self.slots.len()];
        let mut slots = Vec::new();
        for (i, slot) in std::mem::take(&mut self.slots).into_iter().enumerate() {
            if keep[i] {
                renumber[i] = slots.len();
                slots.push(slot);
            }
        }
        self.slots = slots;
        let due_kept = old_order[..self.due].iter().filter(|&&i| keep[i]).count();
        self.order = old_order
            .into_iter()
            .filter(|&i| keep[i])
            .map(|i| renumber[i])
            .collect();
        self.due = due_kept;
        self.by_upid = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.task.upid.text.clone(), i))
            .collect();
        self.kept = self.slots.len();
    }

    /// Queues spool events, in the order they were written.
    pub(crate) fn add_bodies(&mut self, events: Vec<SpoolEvent>, now: Instant) {
        for event in events {
            let path = normal_path(event.path.as_bytes());
            self.bodies.push_back(Body {
                event,
                path,
                arrived: now,
            });
        }
    }

    /// Whether spool events wait for their line (most runs have none: nothing to look for).
    pub(crate) fn has_bodies(&self) -> bool {
        !self.bodies.is_empty()
    }

    /// The first waiting spool event for this request, taken.
    pub(crate) fn take_body(
        &mut self,
        method: &[u8],
        path: &[u8],
        format: Option<&[u8]>,
        user: Option<&[u8]>,
    ) -> Option<SpoolEvent> {
        let i = self.bodies.iter().position(|b| {
            b.event.method.as_bytes() == method
                && b.path == path
                && b.event.userid.as_deref().map(str::as_bytes) == user
                && match (b.event.format.as_deref(), format) {
                    (Some(a), Some(b)) => a.as_bytes() == b,
                    _ => true,
                }
        })?;
        self.bodies.remove(i).map(|b| b.event)
    }

    /// Spool events that waited longer than `wait` for their log line.
    pub(crate) fn stale_bodies(&mut self, now: Instant, wait: Duration) -> Vec<SpoolEvent> {
        let mut out = Vec::new();
        while self
            .bodies
            .front()
            .is_some_and(|b| now.duration_since(b.arrived) >= wait)
        {
            if let Some(b) = self.bodies.pop_front() {
                out.push(b.event);
            }
        }
        out
    }

    /// When the oldest waiting spool event goes stale.
    pub(crate) fn next_stale(&self, wait: Duration) -> Option<Instant> {
        self.bodies.front().map(|b| b.arrived + wait)
    }
}

/// Type, user, node and time: what every joined task must share with its request.
fn fits(claim: &Claim<'_>, task: &Task) -> bool {
    let upid = &task.upid;
    claim.kinds.contains(&upid.kind.as_str())
        && upid.user.as_bytes() == claim.user
        && claim.node.is_none_or(|n| n == upid.node.as_bytes())
        && upid.start <= claim.time
        && claim
            .upid_len
            .is_none_or(|len| response::json_string_len(upid.text.as_bytes()) == len)
}

/// Whether a task id names this guest: `100`, or `100` followed by a separator
/// (`100-scsi0>101-scsi1`, `100@local`).
fn names(id: &[u8], guest: &[u8]) -> bool {
    id.starts_with(guest)
        && match id.get(guest.len()) {
            None => true,
            Some(b) => !b.is_ascii_alphanumeric(),
        }
}

enum Choice {
    One(usize),
    Ambiguous,
    None,
}

/// The candidate that started last, i.e. closest to the response (most calls answer within a
/// second of the fork, and an older candidate is more likely another caller's, like a root@pam
/// backup job started from cron while root clicks in the UI); among those of the same second the
/// lowest pid, the first fork. Candidates that start in that second but differ in type or id
/// cannot be told apart: ambiguous.
fn choose(slots: &[Slot], candidates: &[usize]) -> Choice {
    let key = |i: usize| {
        (
            std::cmp::Reverse(slots[i].task.upid.start),
            slots[i].task.upid.pid,
        )
    };
    let Some(&first) = candidates.iter().min_by_key(|&&i| key(i)) else {
        return Choice::None;
    };
    let a = &slots[first].task.upid;
    let rivals = candidates.iter().any(|&j| {
        let b = &slots[j].task.upid;
        j != first && b.start == a.start && (b.kind != a.kind || b.id != a.id)
    });
    if rivals {
        Choice::Ambiguous
    } else {
        Choice::One(first)
    }
}

/// A path as events carry it: `/`-joined non-empty segments, each percent-decoded.
pub(crate) fn normal_path(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 1);
    for segment in path.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        out.push(b'/');
        out.extend(percent_decode(segment));
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::task::parse_upid;

    fn task(upid: &str, state: State) -> Task {
        Task {
            upid: parse_upid(upid).unwrap(),
            state,
        }
    }

    fn done(status: &str) -> State {
        State::Finished {
            end: Some(0x6A3B_C800),
            status: Some(status.to_string()),
        }
    }

    fn loaded(tasks: Vec<Task>) -> Correlator {
        let mut c = Correlator::default();
        c.update(Update {
            finished: tasks,
            running: Vec::new(),
            ..Update::default()
        });
        c
    }

    fn claim<'a>(
        time: i64,
        user: &'a str,
        kinds: &'static [&'static str],
        guest: &'a str,
    ) -> Claim<'a> {
        Claim {
            time,
            user: user.as_bytes(),
            node: Some(b"pve1"),
            kinds,
            guest: Some(guest.as_bytes()),
            object: None,
            upid_len: None,
        }
    }

    const START: i64 = 0x6A3B_C782;

    #[test]
    fn joins_by_type_user_node_guest_and_time() {
        let mut c = loaded(vec![
            task(
                "UPID:pve1:000F4A2C:01A2B3C4:6A3BC782:qmstart:100:root@pam:",
                done("OK"),
            ),
            task(
                "UPID:pve1:000F4A2D:01A2B3C4:6A3BC782:qmstart:100:alice@pve:",
                done("OK"),
            ),
            task(
                "UPID:pve1:000F4A2E:01A2B3C4:6A3BC782:qmstart:101:bob@pve:",
                done("OK"),
            ),
        ]);
        let got = c.join(&claim(START, "alice@pve", &["qmstart"], "100"), ("log", 1));
        assert_eq!(got.unwrap().upid.pid, 0x000F_4A2D);
        // taken: the same claim again finds nothing
        assert!(
            c.join(&claim(START, "alice@pve", &["qmstart"], "100"), ("log", 2))
                .is_none()
        );
        // wrong guest, wrong type, too early, too late
        assert!(
            c.join(&claim(START, "bob@pve", &["qmstart"], "10"), ("log", 3))
                .is_none()
        );
        assert!(
            c.join(&claim(START, "bob@pve", &["qmstop"], "101"), ("log", 3))
                .is_none()
        );
        assert!(
            c.join(
                &claim(START - 1, "bob@pve", &["qmstart"], "101"),
                ("log", 3)
            )
            .is_none()
        );
        assert!(
            c.join(
                &claim(START + WINDOW + 1, "bob@pve", &["qmstart"], "101"),
                ("log", 3)
            )
            .is_none()
        );
        assert!(
            c.join(
                &claim(START + WINDOW, "bob@pve", &["qmstart"], "101"),
                ("log", 3)
            )
            .is_some()
        );
    }

    #[test]
    fn identical_clicks_join_in_fork_order() {
        let mut c = loaded(vec![
            task(
                "UPID:pve1:00000020:01A2B3C4:6A3BC782:qmstart:100:alice@pve:",
                done("OK"),
            ),
            task(
                "UPID:pve1:00000010:01A2B3C4:6A3BC782:qmstart:100:alice@pve:",
                done("boom"),
            ),
        ]);
        let first = c.join(&claim(START, "alice@pve", &["qmstart"], "100"), ("log", 1));
        assert_eq!(first.unwrap().upid.pid, 0x10);
        let second = c.join(&claim(START, "alice@pve", &["qmstart"], "100"), ("log", 2));
        assert_eq!(second.unwrap().upid.pid, 0x20);
    }

    #[test]
    fn the_task_closest_to_the_response_wins_over_an_older_one() {
        // root's scheduled backup started 45 s before root's own click in the UI.
        let mut c = loaded(vec![
            task(
                "UPID:pve1:00000010:01A2B3C4:6A3BC782:vzdump:104:root@pam:",
                State::Running,
            ),
            task(
                "UPID:pve1:00000020:01A2B3C4:6A3BC7AF:vzdump:110:root@pam:",
                done("OK"),
            ),
        ]);
        let click = Claim {
            guest: None,
            object: None,
            ..claim(START + 45, "root@pam", &["vzdump"], "")
        };
        assert_eq!(c.join(&click, ("log", 1)).unwrap().upid.id, "110");
    }

    #[test]
    fn a_task_shown_alone_is_not_joined_later() {
        let mut c = loaded(vec![task(
            "UPID:pve1:00000010:01A2B3C4:6A3BC782:qmstart:100:alice@pve:",
            done("OK"),
        )]);
        assert_eq!(c.unclaimed(START + WINDOW + 1).len(), 1);
        assert!(
            c.join(
                &claim(START + WINDOW, "alice@pve", &["qmstart"], "100"),
                ("log", 1)
            )
            .is_none()
        );
    }

    #[test]
    fn rivals_of_another_type_at_the_same_second_are_ambiguous() {
        let mut c = loaded(vec![
            task(
                "UPID:pve1:00000010:01A2B3C4:6A3BC782:qmstop:100:alice@pve:",
                done("OK"),
            ),
            task(
                "UPID:pve1:00000011:01A2B3C4:6A3BC782:hastop:100:alice@pve:",
                done("OK"),
            ),
        ]);
        assert!(
            c.join(
                &claim(START, "alice@pve", &["qmstop", "hastop"], "100"),
                ("log", 1)
            )
            .is_none()
        );
        assert_eq!(c.ambiguous, 1);
    }

    #[test]
    fn guest_ids_with_suffixes_and_loose_objects() {
        assert!(names(b"100-scsi0>101-scsi1", b"100"));
        assert!(names(b"100@local", b"100"));
        assert!(!names(b"1000", b"100"));
        let mut c = loaded(vec![task(
            "UPID:pve1:00000010:01A2B3C4:6A3BC782:vzdump::alice@pve:",
            done("OK"),
        )]);
        let node_wide = Claim {
            guest: None,
            object: Some(b"pve1"),
            ..claim(START, "alice@pve", &["vzdump"], "")
        };
        assert!(c.join(&node_wide, ("log", 1)).is_some());
    }

    #[test]
    fn unclaimed_tasks_come_out_once_after_the_window() {
        let mut c = loaded(vec![
            task(
                "UPID:pve1:00000010:01A2B3C4:6A3BC782:vzdump::root@pam:",
                done("OK"),
            ),
            task(
                "UPID:pve1:00000011:01A2B3C4:6A3BC790:qmstart:100:alice@pve:",
                done("OK"),
            ),
        ]);
        assert!(c.unclaimed(START + WINDOW).is_empty());
        let out = c.unclaimed(START + WINDOW + 1);
        assert_eq!(out.len(), 1);
        assert!(
            c.join(
                &claim(START + 14, "alice@pve", &["qmstart"], "100"),
                ("log", 1)
            )
            .is_some()
        );
        assert!(c.unclaimed(i64::MAX).is_empty());
    }

    #[test]
    fn pruned_tasks_stay_forgotten_and_live_ones_are_kept() {
        let mut c = Correlator::default();
        let old: Vec<Task> = (0..9000)
            .map(|pid| {
                let upid = format!("UPID:pve1:{pid:08X}:01A2B3C4:6A3BC782:qmstart:100:root@pam:");
                task(&upid, done("OK"))
            })
            .collect();
        let running = "UPID:pve1:0000FFFF:01A2B3C4:6A3BC782:qmstart:101:alice@pve:";
        c.update(Update {
            finished: old.clone(),
            running: vec![task(running, State::Running)],
            ..Update::default()
        });
        assert!(
            c.join(&claim(START, "alice@pve", &["qmstart"], "101"), ("log", 1))
                .is_some()
        );
        assert_eq!(c.unclaimed(START + WINDOW + 1).len(), 9000);
        c.prune();
        assert_eq!(
            c.slots.len(),
            1,
            "only the running task that was shown is kept"
        );
        // `active` lists some of the forgotten tasks again, and the running one as finished.
        let ended = c.update(Update {
            finished: vec![old[8999].clone(), task(running, done("OK"))],
            running: Vec::new(),
            ..Update::default()
        });
        assert_eq!(ended.len(), 1);
        assert!(c.unclaimed(START + 2 * WINDOW).is_empty());
        assert_eq!(c.slots.len(), 1);
    }

    #[test]
    fn a_running_task_reports_its_end_once() {
        let upid = "UPID:pve1:00000010:01A2B3C4:6A3BC782:qmstart:100:alice@pve:";
        let mut c = Correlator::default();
        c.update(Update {
            finished: Vec::new(),
            running: vec![task(upid, State::Running)],
            ..Update::default()
        });
        assert!(
            c.join(&claim(START, "alice@pve", &["qmstart"], "100"), ("log", 7))
                .is_some()
        );
        let ended = c.update(Update {
            finished: vec![task(upid, done("OK"))],
            running: Vec::new(),
            ..Update::default()
        });
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].request, Some(("log".to_string(), 7)));
        let again = c.update(Update {
            finished: vec![task(upid, done("OK"))],
            running: Vec::new(),
            ..Update::default()
        });
        assert!(again.is_empty());
    }

    #[test]
    fn bodies_join_the_first_matching_line_in_order() {
        let ev = |path: &str, n: &str| {
            crate::source::spool::parse_event(
                format!(r#"{{"method":"PUT","path":"{path}","params":{{"n":"{n}"}},"userid":"alice@pve","format":"extjs"}}"#)
                    .as_bytes(),
            )
            .unwrap()
        };
        let mut c = Correlator::default();
        let now = Instant::now();
        c.add_bodies(
            vec![
                ev("/nodes/pve1/qemu/100/config", "1"),
                ev("/nodes//pve1/qemu/100/config", "2"),
            ],
            now,
        );
        let path = normal_path(b"/nodes/pve1/qemu/100/config");
        assert!(
            c.take_body(b"PUT", &path, Some(b"extjs"), Some(b"bob@pve"))
                .is_none()
        );
        let first = c
            .take_body(b"PUT", &path, Some(b"extjs"), Some(b"alice@pve"))
            .unwrap();
        assert_eq!(first.params["n"], "1");
        assert!(c.stale_bodies(now, BODY_WAIT).is_empty());
        assert_eq!(c.stale_bodies(now + BODY_WAIT, BODY_WAIT).len(), 1);
        assert!(c.next_stale(BODY_WAIT).is_none());
    }
}
