//! Another node's sources, live, over SSH: what `follow --host`/`--cluster` reads of the other
//! nodes, with nothing installed there.
//!
//! Per node, two ssh sessions run for as long as follow does (each its own process group, killed
//! with pverec, as in [`super::node`]):
//!
//! - a loop in POSIX `sh` ([`script`]) that looks once a second at access.log, the task index's
//!   `index` and `active`, and sends what each grew by since the last look as a frame
//!   `KIND NAME INODE FROM LENGTH` and its bytes, then `tick`. A log whose inode changed was
//!   rotated: the rest of the old one is sent from `access.log.1` (if that is it, by inode)
//!   before the new one from its start; a file shorter than the position was replaced and is
//!   sent from 0. The positions it starts from are pverec's (from `--state`, or the end), so a
//!   node read again after an outage is caught up from where it stopped;
//! - `journalctl --follow -o json` of the PVE programs, from the cursor of the last entry read
//!   (or from now).
//!
//! The `tick` every second is also the node's pulse: a node that sends nothing for the timeout is
//! given up as hung, its ssh killed. A lost node is tried again after 1 s, then twice as long
//! each time up to a minute, named once when lost and once when back. Everything a node sends is
//! input: frame names must be those asked for, lines are bounded, and what it says goes through
//! the parsers every log goes through.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::journal::{self, Entry, Query};
use super::node::{Host, Ssh, kill_group, sh_quote, spawn_ssh};
use super::task::{self, Task};
use crate::input::MAX_LINE;

/// How often the node looks at its files.
const LOOK_EVERY: u64 = 1;
/// The longest wait between two tries to reach a lost node.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where a followed file was read to: its inode, the end of its last whole line, and how many
/// lines that is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    pub(crate) ino: u64,
    pub(crate) offset: u64,
    pub(crate) line: u64,
}

/// How far a node was read: kept in follow's `--state`, so a restart goes on from there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodePosition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) log: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) index: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) journal_cursor: Option<String>,
}

/// What a node's reader hands the follow loop.
#[derive(Debug)]
pub(crate) enum News {
    /// Whole lines of a file of the node (`access.log` or `access.log.1`), with their numbers.
    Lines {
        node: usize,
        file: String,
        lines: Vec<(u64, Vec<u8>)>,
    },
    /// Tasks read from its index (finished) and `active` (running and finished).
    Tasks {
        node: usize,
        finished: Vec<Task>,
        running: Vec<Task>,
    },
    Journal {
        node: usize,
        entries: Vec<Entry>,
    },
    /// Lines that were not what they must be: (file, line number or 0, why).
    Malformed {
        node: usize,
        file: String,
        line: u64,
        why: String,
    },
    /// A file that is a symbolic link there: not followed (said at every look).
    Skipped {
        node: usize,
        file: String,
    },
    /// What was handed over so far reaches here.
    Position {
        node: usize,
        position: NodePosition,
    },
    /// The node was lost (the first time since it was last reached, `first`).
    Lost {
        node: usize,
        why: String,
        first: bool,
    },
    /// The node answers again, after being lost for this long.
    Back {
        node: usize,
        after: Duration,
    },
}

/// The sh loop the node runs, starting from `log` and `index` (`None`: from their ends).
pub(crate) fn script(log: Option<Position>, index: Option<Position>) -> Vec<u8> {
    let start = |p: Option<Position>| match p {
        Some(p) => (p.ino.to_string(), p.offset.to_string()),
        None => ("0".to_string(), "-1".to_string()),
    };
    let (li, lo) = start(log);
    let (ti, to) = start(index);
    let mut s = b"LC_ALL=C; export LC_ALL\nset --".to_vec();
    for word in [li, lo, ti, to, LOOK_EVERY.to_string()] {
        s.push(b' ');
        s.extend_from_slice(&sh_quote(word.as_bytes()));
    }
    s.extend_from_slice(
        br#"
li=$1; lo=$2; ti=$3; to=$4; every=$5; am=
printf 'pverec-live 1 %s\n' "$(uname -n)"
ino() { if [ -f "$1" ] && [ ! -L "$1" ]; then stat -c %i -- "$1" 2>/dev/null || echo 0; else echo 0; fi; }
# part KIND NAME PATH INODE FROM: the bytes of PATH from FROM to its size now, as one frame.
part() {
  s=$(wc -c < "$3" 2>/dev/null) || s=0; s=$((s + 0)); from=$5
  [ "$s" -lt "$from" ] && from=0
  n=$((s - from))
  printf '%s %s %s %s %s\n' "$1" "$2" "$4" "$from" "$n"
  if [ "$n" -gt 0 ]; then
    { tail -c +"$((from + 1))" -- "$3" | head -c "$n"; head -c "$n" /dev/zero; } | head -c "$n"
  fi
  got=$((from + n))
}
# look KIND DIR NAME: the file NAME in DIR grown since (ino, off) in the variables $KIND_i/_o.
while :; do
  f=/var/log/pveproxy/access.log; i=$(ino "$f")
  [ -L "$f" ] && printf 'skipped access.log link\n'
  if [ "$i" != 0 ]; then
    if [ "$lo" -lt 0 ]; then li=$i; lo=$(wc -c < "$f"); lo=$((lo + 0)); fi
    if [ "$i" != "$li" ]; then
      if [ "$li" != 0 ] && [ "$(ino "$f.1")" = "$li" ]; then part log access.log.1 "$f.1" "$li" "$lo"; fi
      li=$i; lo=0
    fi
    part log access.log "$f" "$li" "$lo"; lo=$got
  fi
  f=/var/log/pve/tasks/index; i=$(ino "$f")
  [ -L "$f" ] && printf 'skipped index link\n'
  if [ "$i" != 0 ]; then
    if [ "$to" -lt 0 ]; then ti=$i; to=$(wc -c < "$f"); to=$((to + 0)); fi
    if [ "$i" != "$ti" ]; then
      if [ "$ti" != 0 ] && [ "$(ino "$f.1")" = "$ti" ]; then part index index.1 "$f.1" "$ti" "$to"; fi
      ti=$i; to=0
    fi
    part index index "$f" "$ti" "$to"; to=$got
  fi
  f=/var/log/pve/tasks/active; i=$(ino "$f")
  [ -L "$f" ] && printf 'skipped active link\n'
  if [ "$i" != 0 ]; then
    a="$i $(stat -c '%s %Y' -- "$f" 2>/dev/null)"
    if [ "$a" != "$am" ]; then am=$a; part active active "$f" "$i" 0; fi
  fi
  echo tick
  sleep "$every"
done
"#,
    );
    s
}

/// A followed file's bytes not yet made into lines.
#[derive(Debug, Default)]
struct Partial {
    /// Where the complete lines end, and their count.
    position: Position,
    /// The bytes after them.
    rest: Vec<u8>,
}

/// A node's files as its reader knows them.
#[derive(Default)]
struct Files {
    /// By inode: access.log and (after a rotation) its predecessor.
    logs: HashMap<u64, Partial>,
    log_now: Option<u64>,
    index: HashMap<u64, Partial>,
    index_now: Option<u64>,
}

impl Files {
    fn starting(position: &NodePosition) -> Files {
        let mut files = Files::default();
        if let Some(log) = position.log {
            files.logs.insert(
                log.ino,
                Partial {
                    position: log,
                    rest: Vec::new(),
                },
            );
            files.log_now = Some(log.ino);
        }
        if let Some(index) = position.index {
            files.index.insert(
                index.ino,
                Partial {
                    position: index,
                    rest: Vec::new(),
                },
            );
            files.index_now = Some(index.ino);
        }
        files
    }

    /// Where the last whole line of the current files ends.
    fn position(&self, journal_cursor: Option<String>) -> NodePosition {
        NodePosition {
            log: self
                .log_now
                .and_then(|i| self.logs.get(&i))
                .map(|p| p.position),
            index: self
                .index_now
                .and_then(|i| self.index.get(&i))
                .map(|p| p.position),
            journal_cursor,
        }
    }
}

/// Takes a frame's bytes into `partials`: the whole lines, numbered.
fn take_bytes(
    partials: &mut HashMap<u64, Partial>,
    ino: u64,
    from: u64,
    bytes: &[u8],
) -> Vec<(u64, Vec<u8>)> {
    let partial = partials.entry(ino).or_insert_with(|| Partial {
        position: Position {
            ino,
            offset: from,
            line: 0,
        },
        rest: Vec::new(),
    });
    let expected = partial.position.offset + partial.rest.len() as u64;
    if from != expected {
        // Replaced (shorter than before) or a position the node chose: start over there.
        partial.position = Position {
            ino,
            offset: from,
            line: if from == 0 { 0 } else { partial.position.line },
        };
        partial.rest.clear();
    }
    partial.rest.extend_from_slice(bytes);
    let mut lines = Vec::new();
    let mut start = 0;
    while let Some(at) = memchr::memchr(b'\n', &partial.rest[start..]) {
        let line = &partial.rest[start..start + at];
        partial.position.line += 1;
        lines.push((partial.position.line, line.to_vec()));
        start += at + 1;
    }
    partial.position.offset += start as u64;
    partial.rest.drain(..start);
    if partial.rest.len() > MAX_LINE {
        // No newline for that long: not a line; counted as one and passed over.
        partial.position.offset += partial.rest.len() as u64;
        partial.position.line += 1;
        lines.push((partial.position.line, Vec::new()));
        partial.rest.clear();
    }
    lines
}

/// Reads one node's file loop until it ends; everything it sends goes to `send`.
fn read_files(
    node: usize,
    input: &mut dyn Read,
    files: &mut Files,
    since: &mut Option<i64>,
    cursor: &Mutex<Option<String>>,
    send: &dyn Fn(News),
    reached: &mut dyn FnMut(),
) -> Result<(), String> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut header = Vec::new();
    let mut first = true;
    loop {
        header.clear();
        let n = (&mut reader)
            .take(256)
            .read_until(b'\n', &mut header)
            .map_err(|e| format!("reading its answer: {e}"))?;
        if n == 0 {
            return Err("the connection ended".to_string());
        }
        if header.last() != Some(&b'\n') {
            return Err("its answer is garbled".to_string());
        }
        header.pop();
        let text = String::from_utf8_lossy(&header).into_owned();
        if first {
            if !text.starts_with("pverec-live 1 ") {
                return Err("its answer is not pverec's".to_string());
            }
            first = false;
            reached();
            continue;
        }
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        match words.as_slice() {
            [
                "skipped",
                name @ ("access.log" | "index" | "active"),
                "link",
            ] => {
                send(News::Skipped {
                    node,
                    file: name.to_string(),
                });
            }
            ["tick"] => {
                let journal_cursor = cursor.lock().map(|c| c.clone()).unwrap_or(None);
                let journal_cursor = journal_cursor.filter(|c| !c.starts_with('@'));
                send(News::Position {
                    node,
                    position: files.position(journal_cursor),
                });
            }
            [kind @ ("log" | "index" | "active"), name, ino, from, len] => {
                let ok_name = match *kind {
                    "log" => matches!(*name, "access.log" | "access.log.1"),
                    "index" => matches!(*name, "index" | "index.1"),
                    _ => *name == "active",
                };
                let number = |s: &str| s.parse::<u64>().ok();
                let (Some(ino), Some(from), Some(len)) = (number(ino), number(from), number(len))
                else {
                    return Err("its answer is garbled".to_string());
                };
                if !ok_name || len > (1 << 32) {
                    return Err(format!("it sent a file not asked for: {name} {len}"));
                }
                let mut bytes = Vec::new();
                let got = (&mut reader)
                    .take(len)
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("reading its {name}: {e}"))?;
                if got as u64 != len {
                    return Err("the connection ended".to_string());
                }
                match *kind {
                    "log" => {
                        if *name == "access.log" {
                            files.log_now = Some(ino);
                        }
                        let mut lines = take_bytes(&mut files.logs, ino, from, &bytes);
                        if let Some(start) = *since {
                            // Caught up from the start of a node's files: its lines before
                            // the start are history follow was not asked for.
                            let before = |text: &[u8]| {
                                crate::source::access::parse(text)
                                    .ok()
                                    .and_then(|l| l.timestamp())
                                    .is_some_and(|t| t.as_second() < start)
                            };
                            let keep = lines.iter().position(|(_, t)| !before(t));
                            match keep {
                                Some(i) => {
                                    lines.drain(..i);
                                    *since = None;
                                }
                                None => lines.clear(),
                            }
                        }
                        // Files of before a rotation are let go once the new one is read.
                        if *name == "access.log" {
                            files.logs.retain(|&i, _| i == ino);
                        }
                        if !lines.is_empty() {
                            send(News::Lines {
                                node,
                                file: name.to_string(),
                                lines,
                            });
                        }
                    }
                    "index" => {
                        if *name == "index" {
                            files.index_now = Some(ino);
                        }
                        let lines = take_bytes(&mut files.index, ino, from, &bytes);
                        if *name == "index" {
                            files.index.retain(|&i, _| i == ino);
                        }
                        let mut finished = Vec::new();
                        for (number, line) in lines {
                            match task::parse_index_line(&line) {
                                Ok(task) => finished.push(task),
                                Err(why) => send(News::Malformed {
                                    node,
                                    file: format!("/var/log/pve/tasks/{name}"),
                                    line: number,
                                    why: why.to_string(),
                                }),
                            }
                        }
                        if !finished.is_empty() {
                            send(News::Tasks {
                                node,
                                finished,
                                running: Vec::new(),
                            });
                        }
                    }
                    _ => {
                        let (mut finished, mut running) = (Vec::new(), Vec::new());
                        for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
                            if line.is_empty() {
                                continue;
                            }
                            match task::parse_active_line(line) {
                                Ok((task, _)) if task.state == task::State::Running => {
                                    running.push(task)
                                }
                                Ok((task, _)) => finished.push(task),
                                Err(why) => send(News::Malformed {
                                    node,
                                    file: "/var/log/pve/tasks/active".to_string(),
                                    line: i as u64 + 1,
                                    why: why.to_string(),
                                }),
                            }
                        }
                        send(News::Tasks {
                            node,
                            finished,
                            running,
                        });
                    }
                }
            }
            _ => return Err("its answer is garbled".to_string()),
        }
    }
}

/// Reads a node's `journalctl --follow -o json` until it ends.
fn read_journal(
    node: usize,
    input: &mut dyn Read,
    cursor: &Mutex<Option<String>>,
    send: &dyn Fn(News),
) {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            // Overlong: the rest of it is passed over.
            let _ = reader.skip_until(b'\n');
            send(News::Malformed {
                node,
                file: "journal".to_string(),
                line: number,
                why: "overlong".to_string(),
            });
            continue;
        }
        line.pop();
        match journal::parse_json(&line) {
            Ok(entry) => {
                if let (Some(c), Ok(mut kept)) = (&entry.cursor, cursor.lock()) {
                    *kept = Some(c.clone());
                }
                if journal::of_interest(&entry) {
                    send(News::Journal {
                        node,
                        entries: vec![entry],
                    });
                }
            }
            Err(why) => send(News::Malformed {
                node,
                file: "journal".to_string(),
                line: number,
                why: why.to_string(),
            }),
        }
    }
}

/// The readers of the other nodes, each on its own thread, until [`Live::stop`].
pub(crate) struct Live {
    stop: Arc<AtomicBool>,
    children: Arc<Mutex<Vec<u32>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Live {
    /// Starts reading `hosts` (each from its position); news go to `send`, and a byte to
    /// `wake` after each.
    pub(crate) fn start(
        hosts: Vec<(Host, NodePosition)>,
        ssh: Ssh,
        journal: bool,
        send: Sender<News>,
        wake: UnixStream,
    ) -> io::Result<Live> {
        let stop = Arc::new(AtomicBool::new(false));
        let children = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for (node, (host, position)) in hosts.into_iter().enumerate() {
            let stop = Arc::clone(&stop);
            let children = Arc::clone(&children);
            let tx = send.clone();
            let wake = wake.try_clone()?;
            let ssh = ssh.clone();
            let send: Notify = Arc::new(move |news: News| {
                if tx.send(news).is_ok() {
                    // Nonblocking: a full pipe already wakes the loop.
                    let _ = (&wake).write(&[1]);
                }
            });
            threads.push(std::thread::spawn(move || {
                follow_node(
                    node, &host, position, &ssh, journal, &stop, &children, &send,
                );
            }));
        }
        Ok(Live {
            stop,
            children,
            threads,
        })
    }

    /// Ends every reader: their ssh are killed and reaped.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Ok(children) = self.children.lock() {
            for &pid in children.iter() {
                kill_group(pid);
            }
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where a node's news go: the follow loop's channel, with a wake-up byte.
type Notify = Arc<dyn Fn(News) + Send + Sync>;

/// One node, again and again until stopped: its two ssh sessions, then the back-off.
#[allow(clippy::too_many_arguments)]
fn follow_node(
    node: usize,
    host: &Host,
    position: NodePosition,
    ssh: &Ssh,
    journal: bool,
    stop: &AtomicBool,
    children: &Mutex<Vec<u32>>,
    send: &Notify,
) {
    let Some(program) = super::node::ssh_program() else {
        send(News::Lost {
            node,
            why: "ssh is not installed (/usr/bin/ssh): apt install openssh-client".into(),
            first: true,
        });
        return;
    };
    let cursor = Arc::new(Mutex::new(position.journal_cursor.clone()));
    let mut files = Files::starting(&position);
    let mut backoff = Duration::from_secs(1);
    let mut lost_at: Option<Instant> = None;
    // A node never read before starts at its ends when reached at once; one that is down at
    // the start is read, when it comes, from the lines logged since the start.
    let started = jiff::Timestamp::now().as_second();
    let mut since: Option<i64> = None;
    while !stop.load(Ordering::Acquire) {
        let files_script = script(
            files
                .log_now
                .and_then(|i| files.logs.get(&i))
                .map(|p| p.position),
            files
                .index_now
                .and_then(|i| files.index.get(&i))
                .map(|p| p.position),
        );
        // A new session re-sends what follows the last whole line: no partial is kept.
        for partial in files.logs.values_mut().chain(files.index.values_mut()) {
            partial.rest.clear();
        }
        let session = Session {
            node,
            program: &program,
            host,
            ssh,
            journal,
            cursor: &cursor,
            children,
            send,
        };
        let ended = run_session(
            &session,
            &files_script,
            &mut files,
            &mut since,
            &mut lost_at,
        );
        if stop.load(Ordering::Acquire) {
            return;
        }
        if files.log_now.is_none() {
            // Never reached: from the start of its files, lines before `started` passed over.
            since = Some(started);
            files.log_now = Some(0);
            files.logs.insert(0, Partial::default());
            files.index_now = Some(0);
            files.index.insert(0, Partial::default());
            if cursor.lock().is_ok_and(|c| c.is_none()) {
                since_journal(&cursor, started);
            }
        }
        let started_ok = ended;
        let why = started_ok
            .err()
            .unwrap_or_else(|| "the connection ended".to_string());
        let first = lost_at.is_none();
        if first {
            lost_at = Some(Instant::now());
            backoff = Duration::from_secs(1);
        }
        send(News::Lost { node, why, first });
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What one connection to a node needs.
struct Session<'a> {
    node: usize,
    program: &'a std::path::Path,
    host: &'a Host,
    ssh: &'a Ssh,
    journal: bool,
    cursor: &'a Arc<Mutex<Option<String>>>,
    children: &'a Mutex<Vec<u32>>,
    send: &'a Notify,
}

/// A journal never read before, from `since`: journalctl takes no time for `--after-cursor`,
/// so the start time is kept as a pseudo-cursor that [`journal_query`] turns into `--since`.
fn since_journal(cursor: &Mutex<Option<String>>, since: i64) {
    if let Ok(mut c) = cursor.lock() {
        *c = Some(format!("@{since}"));
    }
}

/// journalctl's query from the cursor kept (or the pseudo-cursor `@SECONDS`).
fn journal_query(cursor: Option<String>) -> Query {
    match cursor {
        Some(c) if c.starts_with('@') => Query {
            follow: true,
            since: c[1..]
                .parse::<i64>()
                .ok()
                .and_then(|s| jiff::Timestamp::from_second(s).ok()),
            ..Query::default()
        },
        cursor => Query {
            follow: true,
            after_cursor: cursor,
            ..Query::default()
        },
    }
}

/// One connection to a node: the file loop (and the journal) until either ends.
fn run_session(
    session: &Session<'_>,
    files_script: &[u8],
    files: &mut Files,
    since: &mut Option<i64>,
    lost_at: &mut Option<Instant>,
) -> Result<(), String> {
    let Session {
        node,
        program,
        host,
        ssh,
        journal,
        cursor,
        children,
        send,
    } = *session;
    let args = super::node::ssh_args(host, ssh, files_script);
    let mut child = spawn_ssh(program, &args).map_err(|e| format!("ssh could not be run: {e}"))?;
    let mut journal_child = None;
    let pids = |children: &Mutex<Vec<u32>>, add: &[u32], remove: &[u32]| {
        if let Ok(mut list) = children.lock() {
            list.retain(|p| !remove.contains(p));
            list.extend_from_slice(add);
        }
    };
    pids(children, &[child.id()], &[]);
    let stderr = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut err).take(4096).read_to_end(&mut kept);
            kept
        })
    });
    // The watchdog: the loop ticks every second; nothing for the timeout is a hung node.
    let last = Arc::new(Mutex::new(Instant::now()));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let last = Arc::clone(&last);
        let done = Arc::clone(&done);
        let pid = child.id();
        let timeout = ssh.timeout.max(Duration::from_secs(LOOK_EVERY * 3));
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                let idle = last.lock().map(|l| l.elapsed()).unwrap_or_default();
                if idle > timeout {
                    kill_group(pid);
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        })
    };
    let mut out = child.stdout.take().ok_or("ssh gave no output")?;
    let mut counting = Touching {
        inner: &mut out,
        last: Arc::clone(&last),
    };
    let mut reached = || {
        if let Some(at) = lost_at.take() {
            send(News::Back {
                node,
                after: at.elapsed(),
            });
        }
        if journal && journal_child.is_none() {
            let query = journal_query(cursor.lock().ok().and_then(|c| c.clone()));
            let mut words: Vec<u8> = b"exec journalctl".to_vec();
            for arg in journal::journalctl_args(&query) {
                words.push(b' ');
                words.extend_from_slice(&sh_quote(arg.as_encoded_bytes()));
            }
            let args = super::node::ssh_args(host, ssh, &words);
            if let Ok(mut jc) = spawn_ssh(program, &args) {
                if let Ok(mut list) = children.lock() {
                    list.push(jc.id());
                }
                let out = jc.stdout.take();
                let cursor = Arc::clone(cursor);
                let send = Arc::clone(send);
                let reader = out.map(|mut out| {
                    std::thread::spawn(move || read_journal(node, &mut out, &cursor, &*send))
                });
                journal_child = Some((jc, reader));
            }
        }
    };
    let result = read_files(
        node,
        &mut counting,
        files,
        since,
        cursor,
        &**send,
        &mut reached,
    );
    done.store(true, Ordering::Release);
    let hung = watchdog.join().unwrap_or(false);
    kill_group(child.id());
    let _ = child.wait();
    let mut gone = vec![child.id()];
    if let Some((mut jc, reader)) = journal_child {
        kill_group(jc.id());
        let _ = jc.wait();
        gone.push(jc.id());
        if let Some(reader) = reader {
            let _ = reader.join();
        }
    }
    pids(children, &[], &gone);
    let said = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    let said = String::from_utf8_lossy(&said);
    let said = said
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string);
    if hung {
        return Err(format!(
            "sent nothing for {} s (hung?)",
            ssh.timeout.as_secs()
        ));
    }
    match (result, said) {
        (Err(e), Some(said)) if e == "the connection ended" => Err(printable(&said)),
        (Err(e), _) => Err(e),
        (Ok(()), _) => Ok(()),
    }
}

fn printable(text: &str) -> String {
    let mut out = Vec::new();
    crate::render::quote::push_comment_text(&mut out, text.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

/// A reader that notes when it last received something (for the watchdog).
struct Touching<'r, R> {
    inner: &'r mut R,
    last: Arc<Mutex<Instant>>,
}

impl<R: Read> Read for Touching<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            if let Ok(mut last) = self.last.lock() {
                *last = Instant::now();
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn run_script(
        root: &std::path::Path,
        log: Option<Position>,
        index: Option<Position>,
        ticks: usize,
    ) -> Vec<u8> {
        let text = String::from_utf8(script(log, index))
            .unwrap()
            .replace("/var/log/", &format!("{}/var/log/", root.display()));
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&text)
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.windows(5).filter(|w| w == b"tick\n").count() < ticks {
            let n = out.read(&mut buf).unwrap();
            assert!(n > 0, "the script ended: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        // The loop and its `sleep`: the whole group.
        kill_group(child.id());
        let _ = child.wait();
        got
    }

    fn news_of(answer: &[u8], files: &mut Files, since: &mut Option<i64>) -> Vec<News> {
        let kept = Mutex::new(Vec::new());
        let cursor = Mutex::new(None);
        let send = |n: News| kept.lock().unwrap().push(n);
        let _ = read_files(
            0,
            &mut &answer[..],
            files,
            since,
            &cursor,
            &send,
            &mut || {},
        );
        kept.into_inner().unwrap()
    }

    fn lines_of(news: &[News]) -> Vec<(String, u64, String)> {
        news.iter()
            .filter_map(|n| match n {
                News::Lines { file, lines, .. } => Some(
                    lines
                        .iter()
                        .map(|(k, t)| (file.clone(), *k, String::from_utf8_lossy(t).into_owned()))
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn the_loop_sends_what_grew_and_the_rest_of_a_rotated_log() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("var/log/pveproxy");
        let tasks = root.path().join("var/log/pve/tasks");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::create_dir_all(&tasks).unwrap();
        let log = logs.join("access.log");
        std::fs::write(&log, "one\ntwo\nthr").unwrap();
        std::fs::write(
            tasks.join("active"),
            "UPID:pve2:00004011:00530110:6A3BC6C4:qmstart:105:alice@pve: 0\n",
        )
        .unwrap();
        // From the start (inode 0, offset 0): every whole line; the partial one waits.
        let mut files = Files {
            log_now: Some(0),
            ..Files::default()
        };
        files.logs.insert(0, Partial::default());
        let answer = run_script(root.path(), Some(Position::default()), None, 1);
        let news = news_of(&answer, &mut files, &mut None);
        assert_eq!(
            lines_of(&news),
            [
                ("access.log".to_string(), 1, "one".to_string()),
                ("access.log".to_string(), 2, "two".to_string())
            ]
        );
        let running: usize = news
            .iter()
            .map(|n| match n {
                News::Tasks { running, .. } => running.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(running, 1);
        let at = files.position(None).log.unwrap();
        assert_eq!((at.offset, at.line), (8, 2));
        assert_eq!(at.ino, std::fs::metadata(&log).unwrap().ino());
        // The log is finished and rotated; a new one begins. From the saved position: the rest
        // of the old file (access.log.1, by its inode), then the new one.
        std::fs::write(&log, "one\ntwo\nthree\n").unwrap();
        std::fs::rename(&log, logs.join("access.log.1")).unwrap();
        std::fs::write(&log, "new\n").unwrap();
        let answer = run_script(root.path(), Some(at), None, 1);
        let mut files = Files::starting(&NodePosition {
            log: Some(at),
            ..NodePosition::default()
        });
        let news = news_of(&answer, &mut files, &mut None);
        assert_eq!(
            lines_of(&news),
            [
                ("access.log.1".to_string(), 3, "three".to_string()),
                ("access.log".to_string(), 1, "new".to_string())
            ]
        );
        let at = files.position(None).log.unwrap();
        assert_eq!((at.offset, at.line), (4, 1));
    }

    #[test]
    fn starting_at_the_end_sends_nothing_old() {
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("var/log/pveproxy");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("access.log"), "old\n").unwrap();
        let answer = run_script(root.path(), None, None, 2);
        let mut files = Files::default();
        let news = news_of(&answer, &mut files, &mut None);
        assert!(lines_of(&news).is_empty());
        assert_eq!(files.position(None).log.map(|p| p.offset), Some(4));
    }

    #[test]
    fn a_hostile_answer_ends_the_session() {
        for answer in [
            &b"hello\n"[..],
            b"pverec-live 1 pve2\nlog ../../x 0 0 1\nx",
            b"pverec-live 1 pve2\nlog access.log 1 0 99999999999\n",
            b"pverec-live 1 pve2\nlog access.log x 0 1\n",
        ] {
            let mut files = Files::default();
            let kept = Mutex::new(Vec::new());
            let send = |n: News| kept.lock().unwrap().push(n);
            let r = read_files(
                0,
                &mut &answer[..],
                &mut files,
                &mut None,
                &Mutex::new(None),
                &send,
                &mut || {},
            );
            assert!(r.is_err());
            assert!(lines_of(&kept.into_inner().unwrap()).is_empty());
        }
    }

    #[test]
    fn lines_before_the_start_are_passed_over_when_caught_up_from_the_beginning() {
        let answer = b"pverec-live 1 pve2\nlog access.log 7 0 152\n\
::ffff:192.0.2.1 - a@pve [24/06/2026:12:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n\
::ffff:192.0.2.1 - a@pve [24/06/2026:12:00:09 +0000] \"GET / HTTP/1.1\" 200 1\ntick\n";
        let mut files = Files::default();
        let mut since = Some(1_782_302_405);
        let news = news_of(answer, &mut files, &mut since);
        let lines = lines_of(&news);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].1, 2);
        assert_eq!(since, None);
    }
}

#[cfg(test)]
mod link_tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    /// An access.log that is a link is not read, and the loop says so.
    #[test]
    fn a_linked_log_is_not_followed_and_is_said() {
        let root = tempfile::tempdir().unwrap();
        let logs = root.path().join("var/log/pveproxy");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(root.path().join("secret"), "root:x:0:0\n").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret"), logs.join("access.log")).unwrap();
        let text = String::from_utf8(script(Some(Position::default()), None))
            .unwrap()
            .replace("/var/log/", &format!("{}/var/log/", root.path().display()));
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&text)
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(5).any(|w| w == b"tick\n") {
            let n = out.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        kill_group(child.id());
        let _ = child.wait();
        let kept = Mutex::new(Vec::new());
        let send = |n: News| kept.lock().unwrap().push(n);
        let mut files = Files::default();
        let _ = read_files(
            0,
            &mut &got[..],
            &mut files,
            &mut None,
            &Mutex::new(None),
            &send,
            &mut || {},
        );
        let news = kept.into_inner().unwrap();
        assert!(
            news.iter()
                .any(|n| matches!(n, News::Skipped { file, .. } if file == "access.log"))
        );
        assert!(!news.iter().any(|n| matches!(n, News::Lines { .. })));
    }
}
