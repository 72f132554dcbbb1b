//! follow over a cluster (`--host`, `--cluster`): this node's log as always, the other nodes'
//! sources as their readers bring them ([`crate::source::node_live`]), all into one pipeline.
//!
//! Lines go through the fold of proxied hops ([`crate::join::hops`]) as in convert. One thing
//! is new live: a call on another node is logged here at once, while that node's side of it
//! (its hop, its task in `active`, its journal entry) comes with its next look, a second or
//! two later. So a line whose path names another node that is read waits [`TARGET_WAIT`]
//! before it is joined: the timeline's reorder window live is that wait, and the 30 s a hop
//! waits for its origin.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::cli::FollowArgs;
use crate::cluster::Plan;
use crate::join::hops::{Hops, Step};
use crate::messages;
use crate::pipeline::Pipeline;
use crate::source::journal::Journal;
use crate::source::node::{Host, Ssh};
use crate::source::node_live::{Live, News, NodePosition};
use crate::source::task::Update;

/// How long a line for another node waits for that node's side of it.
const TARGET_WAIT: Duration = Duration::from_secs(3);

/// A line waiting for its target's side.
struct Waiting {
    until: Instant,
    node: Rc<str>,
    file: Rc<str>,
    number: u64,
    text: Vec<u8>,
}

pub(crate) struct ClusterFollow {
    live: Live,
    news: Receiver<News>,
    hosts: Vec<Host>,
    /// The other nodes' names, by reader index.
    names: Vec<Rc<str>>,
    local: Rc<str>,
    hops: Hops,
    positions: BTreeMap<String, NodePosition>,
    waiting: VecDeque<Waiting>,
    /// File names as records give them (`pve2:/var/log/pveproxy/access.log`).
    files: HashMap<(usize, String), Rc<str>>,
    /// The links already said ([`News::Skipped`] comes at every look).
    skipped: std::collections::HashSet<(usize, String)>,
}

impl ClusterFollow {
    /// Starts the other nodes' readers, each from its position in `saved` (the state file's
    /// `nodes`), else from now; the byte stream returned wakes the loop when news come.
    pub(crate) fn start(
        args: &FollowArgs,
        plan: &Plan,
        saved: Option<serde_json::Value>,
    ) -> std::io::Result<(ClusterFollow, UnixStream)> {
        let local: Rc<str> = Rc::from(
            plan.local
                .clone()
                .or_else(crate::this_node)
                .unwrap_or_else(|| "localhost".to_string())
                .as_str(),
        );
        let mut positions: BTreeMap<String, NodePosition> = saved
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let names: Vec<Rc<str>> = plan
            .remote
            .iter()
            .map(|h| Rc::from(h.name.clone().unwrap_or_else(|| h.dest.clone()).as_str()))
            .collect();
        positions.retain(|name, _| names.iter().any(|n| **n == **name));
        let hosts: Vec<(Host, NodePosition)> = plan
            .remote
            .iter()
            .zip(&names)
            .map(|(h, n)| (h.clone(), positions.get(&**n).cloned().unwrap_or_default()))
            .collect();
        let ssh = Ssh {
            config: args.cluster.ssh_config.clone(),
            options: args.cluster.ssh_option.clone(),
            timeout: args.cluster.ssh_timeout,
        };
        let (tx, news) = channel();
        let (wake_read, wake_write) = UnixStream::pair()?;
        wake_read.set_nonblocking(true)?;
        wake_write.set_nonblocking(true)?;
        let live = Live::start(hosts, ssh, !args.journal.no_journal, tx, wake_write)?;
        let addresses: Vec<(Rc<str>, IpAddr)> = plan
            .addresses
            .iter()
            .map(|(n, a)| (Rc::from(n.as_str()), *a))
            .collect();
        let mut read = vec![Rc::clone(&local)];
        read.extend(names.iter().cloned());
        let follow = ClusterFollow {
            live,
            news,
            hosts: plan.remote.clone(),
            names,
            local,
            hops: Hops::new(&addresses, &read),
            positions,
            waiting: VecDeque::new(),
            files: HashMap::new(),
            skipped: std::collections::HashSet::new(),
        };
        Ok((follow, wake_read))
    }

    /// A line of this node's log.
    pub(crate) fn local_line(
        &mut self,
        pipeline: &mut Pipeline,
        text: &[u8],
        file: &str,
        number: u64,
    ) -> std::io::Result<()> {
        let node = Rc::clone(&self.local);
        let file: Rc<str> = Rc::from(file);
        self.line(pipeline, node, file, number, text)
    }

    fn line(
        &mut self,
        pipeline: &mut Pipeline,
        node: Rc<str>,
        file: Rc<str>,
        number: u64,
        text: &[u8],
    ) -> std::io::Result<()> {
        if self.for_another_node(&node, text) {
            self.waiting.push_back(Waiting {
                until: Instant::now() + TARGET_WAIT,
                node,
                file,
                number,
                text: text.to_vec(),
            });
            return Ok(());
        }
        self.fold(pipeline, &node, &file, number, text)
    }

    /// Whether the line's path names another node that is read.
    fn for_another_node(&self, node: &Rc<str>, text: &[u8]) -> bool {
        let Ok(line) = crate::source::access::parse(text) else {
            return false;
        };
        crate::join::hops::path_node(line.request).is_some_and(|target| {
            target != node.as_bytes() && self.names.iter().any(|n| n.as_bytes() == target)
        })
    }

    fn fold(
        &mut self,
        pipeline: &mut Pipeline,
        node: &Rc<str>,
        file: &Rc<str>,
        number: u64,
        text: &[u8],
    ) -> std::io::Result<()> {
        match self.hops.take(node, file, number, text) {
            Step::Pass(proxy) => pipeline.line_of(text, file, number, node, proxy),
            Step::Held | Step::Folded => Ok(()),
        }
    }

    /// Takes what the readers brought, then the lines whose wait is over and the hops whose
    /// origin can no longer come.
    pub(crate) fn tick(&mut self, pipeline: &mut Pipeline) -> std::io::Result<()> {
        while let Ok(news) = self.news.try_recv() {
            self.take(pipeline, news)?;
        }
        let now = Instant::now();
        while self.waiting.front().is_some_and(|w| w.until <= now) {
            if let Some(w) = self.waiting.pop_front() {
                self.fold(pipeline, &w.node, &w.file, w.number, &w.text)?;
            }
        }
        let clock = jiff::Timestamp::now().as_second();
        while let Some((held, proxy)) = self.hops.due(Some(clock)) {
            pipeline.line_of(&held.text, &held.file, held.number, &held.node, Some(proxy))?;
        }
        Ok(())
    }

    fn take(&mut self, pipeline: &mut Pipeline, news: News) -> std::io::Result<()> {
        match news {
            News::Lines { node, file, lines } => {
                let name = Rc::clone(&self.names[node]);
                let key = (node, file);
                let file = match self.files.get(&key) {
                    Some(f) => Rc::clone(f),
                    None => {
                        let f: Rc<str> =
                            Rc::from(format!("{name}:/var/log/pveproxy/{}", key.1).as_str());
                        self.files.insert(key, Rc::clone(&f));
                        f
                    }
                };
                for (number, text) in lines {
                    self.line(pipeline, Rc::clone(&name), Rc::clone(&file), number, &text)?;
                }
            }
            News::Tasks {
                node,
                mut finished,
                mut running,
            } => {
                // A node tells its own tasks only: one naming another node is a lie (it
                // would take that node's requests), reported and passed over.
                let name = Rc::clone(&self.names[node]);
                let mut own = |task: &crate::source::task::Task| {
                    let ok = *task.upid.node == *name;
                    if !ok {
                        messages::malformed(
                            &format!("{name}:/var/log/pve/tasks"),
                            0,
                            &format_args!("a task of another node ({})", task.upid.node),
                        );
                    }
                    ok
                };
                finished.retain(&mut own);
                running.retain(&mut own);
                pipeline.remote_tasks(Update {
                    finished,
                    running,
                    archive: None,
                })?;
            }
            News::Journal { node, mut entries } => {
                // Its entries are of the node it came from, whatever `_HOSTNAME` says.
                for entry in &mut entries {
                    entry.host = Some(self.names[node].to_string());
                }
                pipeline.add_journal(Journal { entries });
            }
            News::Malformed {
                node,
                file,
                line,
                why,
            } => messages::malformed(&format!("{}:{file}", self.names[node]), line, &why),
            News::Skipped { node, file } => {
                let dir = if file == "access.log" {
                    "/var/log/pveproxy"
                } else {
                    "/var/log/pve/tasks"
                };
                if self.skipped.insert((node, file.clone())) {
                    messages::input_error(&format!(
                        "{}: {dir}/{file} is a symbolic link, not followed: not read",
                        self.hosts[node].label()
                    ));
                }
            }
            News::Position { node, position } => {
                self.positions
                    .insert(self.names[node].to_string(), position);
            }
            News::Lost { node, why, first } => {
                if first {
                    messages::message(&format!(
                        "{}: lost ({why}); trying again after 1 s, then twice as long each \
                         time up to a minute; its events come when it is back{}",
                        self.hosts[node].label(),
                        crate::source::node::hint(&why)
                    ));
                }
            }
            News::Back { node, after } => messages::message(&format!(
                "{}: back after {} s; catching up from where it stopped",
                self.hosts[node].label(),
                after.as_secs()
            )),
        }
        Ok(())
    }

    /// The positions to save in `--state`.
    pub(crate) fn positions(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.positions).ok()
    }

    /// When the loop must look again without news: a line's wait or a hop's window ends.
    pub(crate) fn due(&self) -> Option<Instant> {
        let waiting = self.waiting.front().map(|w| w.until);
        let hops = self
            .hops
            .holds()
            .then(|| Instant::now() + Duration::from_secs(1));
        waiting.into_iter().chain(hops).min()
    }

    /// Ends the readers (their ssh killed and reaped) and passes on what waits.
    pub(crate) fn stop(&mut self, pipeline: &mut Pipeline) -> std::io::Result<()> {
        self.live.stop();
        while let Ok(news) = self.news.try_recv() {
            self.take(pipeline, news)?;
        }
        while let Some(w) = self.waiting.pop_front() {
            self.fold(pipeline, &w.node, &w.file, w.number, &w.text)?;
        }
        messages::message(&format!(
            "{} proxied hops folded into their origin's request, {} shown on their own",
            self.hops.folded, self.hops.alone
        ));
        Ok(())
    }
}
