//! A cluster read (`--host`, `--cluster`): every node's sources in one pipeline, one timeline.
//!
//! "Who deleted VM 105?" is asked of a cluster, not of a node: a click on pve1 for a VM on pve2
//! is logged on both nodes, and its task, its journal entry and its config change exist only on
//! pve2. So the other nodes' access.logs, task indexes and journals are fetched over ssh
//! ([`crate::source::node`]) and read with this node's own, by one [`Pipeline`]:
//!
//! - the task indexes of all nodes go to one correlator and the journals to one journal join;
//!   both tell nodes apart by what the entries say (a UPID's node, the path's node);
//! - the access.log lines of all nodes are merged by time (each node's rotated set too), each
//!   line with the node that logged it. The merge takes the oldest line of all files first, so
//!   nodes whose logs are each in order come out in order; a line out of order in its own file
//!   stays where it is in that file;
//! - between the merge and the pipeline, the fold of proxied hops ([`hops`]) keeps a hop
//!   (client: another node's address) back until its origin comes, at most 30 s of log time,
//!   so the origin's line becomes the event and the hop is counted, not shown. That window is
//!   the only reordering: a hop whose origin never comes is shown up to 30 s of log time late.
//!
//! A node that cannot be read is named once on stderr and the run goes on without it (exit
//! status 2). The fetched copies are in a private temporary directory that is removed as soon
//! as every file is open, so that nothing of them is left behind, even if pverec is killed.

use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;

use crate::cli::{ClusterArgs, EtcPveArgs, JournalArgs, SelectArgs, TaskArgs};
use crate::input::{self, Progress, Source};
use crate::join::hops::{Hops, Step};
use crate::messages;
use crate::pipeline::{self, Pipeline};
use crate::request::Class;
use crate::source::etc_pve::members::{self, Members};
use crate::source::journal::{self as journal_source, Journal};
use crate::source::node::{self, Ask, Host, Ssh};

/// The nodes of a cluster read, decided before anything is read.
#[derive(Debug)]
pub(crate) struct Plan {
    /// This node's name, when it is one of those read (read locally).
    pub(crate) local: Option<String>,
    /// The nodes read over ssh.
    pub(crate) remote: Vec<Host>,
    /// Every node's name and address known (`.members`, `--host NAME=ADDRESS`): the client of a
    /// proxied hop is one of them.
    pub(crate) addresses: Vec<(String, IpAddr)>,
}

/// What a run reads of one node.
struct NodeInput {
    name: Rc<str>,
    /// Named as on the node, for messages and records: `pve2:/var/log/pveproxy/access.log`.
    logs: Vec<Source>,
}

impl Plan {
    /// The plan of `--host`/`--cluster`; `Err` is a usage error's text.
    pub(crate) fn new(args: &ClusterArgs, etc_pve: &EtcPveArgs) -> Result<Plan, String> {
        let dir = etc_pve
            .etc_pve
            .clone()
            .unwrap_or_else(|| input::system_path(crate::source::etc_pve::DEFAULT_DIR));
        let read = if etc_pve.no_etc_pve {
            Ok(Members::default())
        } else {
            members::read(&dir)
        };
        let members = match read {
            _ if etc_pve.no_etc_pve && args.cluster => {
                return Err("--cluster reads the nodes of /etc/pve/.members: not with \
                            --no-etc-pve"
                    .to_string());
            }
            _ if etc_pve.no_etc_pve => Members::default(),
            Ok(members) => members,
            Err(e) if args.cluster => {
                return Err(format!(
                    "--cluster reads the nodes of .members, and {e}; name the nodes with --host"
                ));
            }
            Err(_) => Members::default(),
        };
        let this = members.local.clone().or_else(crate::this_node);
        let mut plan = Plan {
            local: None,
            remote: Vec::new(),
            addresses: Vec::new(),
        };
        for member in &members.nodes {
            if let Some(ip) = member.ip {
                plan.addresses.push((member.name.clone(), ip));
            }
        }
        let mut hosts: Vec<Host> = Vec::new();
        if args.cluster {
            if members.nodes.is_empty() {
                return Err(format!(
                    "--cluster: {} lists no nodes (this node is not in a cluster); name the \
                     nodes with --host",
                    dir.join(".members").display()
                ));
            }
            for member in &members.nodes {
                hosts.push(Host {
                    name: Some(member.name.clone()),
                    dest: member
                        .ip
                        .map_or_else(|| member.name.clone(), |ip| ip.to_string()),
                    addr: member.ip,
                });
            }
        }
        for spec in &args.hosts {
            let mut host = node::parse_host(spec).map_err(|e| format!("--host {e}"))?;
            if host.name.is_none() {
                // user@ADDRESS: the cluster knows its name by its address.
                host.name = host.addr.and_then(|addr| {
                    members
                        .nodes
                        .iter()
                        .find(|m| m.ip == Some(addr))
                        .map(|m| m.name.clone())
                });
            }
            if let (Some(name), Some(addr)) = (&host.name, host.addr) {
                if !plan.addresses.iter().any(|(n, a)| n == name && *a == addr) {
                    plan.addresses.push((name.clone(), addr));
                }
            }
            let same = |h: &Host| match (&h.name, &host.name) {
                (Some(a), Some(b)) => a == b,
                _ => h.dest == host.dest,
            };
            if !hosts.iter().any(same) {
                hosts.push(host);
            }
        }
        for host in hosts {
            if host.name.is_some() && host.name == this {
                plan.local = this.clone();
            } else {
                plan.remote.push(host);
            }
        }
        Ok(plan)
    }
}

/// The private directory the nodes' copies are fetched into; removed when dropped (and at
/// once, by [`Scratch::remove`], when every copy is open).
struct Scratch {
    path: Option<PathBuf>,
    /// Held while the copies are in use: [`sweep`] leaves them alone.
    _lock: Option<std::fs::File>,
}

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        let base = std::env::temp_dir();
        sweep(&base);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = base.join(format!("{SCRATCH_PREFIX}{}-{stamp}", std::process::id()));
        // Created new (never an existing directory or a link someone put there), 0700.
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        let lock_file = std::fs::File::create(path.join(".lock"))?;
        lock(&lock_file);
        Ok(Scratch {
            path: Some(path),
            _lock: Some(lock_file),
        })
    }

    fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new("/nonexistent"))
    }

    fn remove(&mut self) {
        if let Some(path) = self.path.take() {
            // The copies hold other nodes' logs: one that stays behind is worth a word.
            if let Err(e) = std::fs::remove_dir_all(&path) {
                messages::message(&format!(
                    "{}: the copies of the nodes' files could not be removed ({e}); remove it",
                    path.display()
                ));
            }
        }
    }
}

/// The name of the directories of the copies: `pverec-copies-PID-STAMP`.
const SCRATCH_PREFIX: &str = "pverec-copies-";

/// Takes the lock a cluster read holds on its copies for as long as it runs, if nobody holds
/// it (flock(2): it works across pid namespaces, where a pid says nothing).
fn lock(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock(2) on a descriptor this function's caller owns.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Removes the copies that a cluster read killed by SIGKILL (during its fetch) left in `base`:
/// its user's copy directories whose lock nobody holds.
fn sweep(base: &Path) {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    // SAFETY: geteuid(2) has no preconditions.
    let me = unsafe { libc::geteuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| n.starts_with(SCRATCH_PREFIX)) {
            continue;
        }
        // Not followed: a link or someone else's directory is left alone.
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me {
            continue;
        }
        let lock_file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(entry.path().join(".lock"));
        match lock_file {
            Ok(file) if lock(&file) => {
                let _ = std::fs::remove_dir_all(entry.path());
            }
            // Held: a read in progress. Without a lock file: being made, or not pverec's.
            _ => {}
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
    }
}

/// What the other sources of a cluster read are.
pub(crate) struct Sources<'a> {
    pub(crate) files: &'a [PathBuf],
    pub(crate) rotated: bool,
    pub(crate) tasks: &'a TaskArgs,
    pub(crate) journal: &'a JournalArgs,
    pub(crate) etc_pve: &'a EtcPveArgs,
    pub(crate) select: &'a SelectArgs,
    pub(crate) cluster: &'a ClusterArgs,
}

/// Runs a cluster read through `pipeline` (convert's or sessions'); `Ok(true)` when every node
/// and every file was read.
pub(crate) fn run(plan: &Plan, sources: &Sources<'_>, mut pipeline: Pipeline) -> Result<bool> {
    // A stop signal must not leave the nodes' copies behind: it is caught, the ssh are ended,
    // the copies removed, and pverec exits as the signal would have ended it.
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
    }
    let mut scratch = Scratch::new()?;
    let stopped = |scratch: &mut Scratch| {
        let sig = signal.load(Ordering::Relaxed);
        if sig != 0 {
            scratch.remove();
            std::process::exit(128 + i32::try_from(sig).unwrap_or(0));
        }
    };
    let ssh = Ssh {
        config: sources.cluster.ssh_config.clone(),
        options: sources.cluster.ssh_option.clone(),
        timeout: sources.cluster.ssh_timeout,
    };
    let journal_query = journal_source::Query {
        since: sources.select.since,
        until: sources.select.until,
        ..journal_source::Query::default()
    };
    // What a node's own pverec may leave out: the lines of classes this run cannot show.
    // Sessions and tasks without a request need every line (every call, every line's time).
    let every_line = pipeline.sessions.is_some() || pipeline.filter.wants_class(Class::Task);
    let classes = (!every_line).then(|| {
        Class::ALL
            .into_iter()
            .filter(|c| *c != Class::Change && pipeline.filter.wants_class(*c))
            .collect::<Vec<_>>()
    });
    let ask = Ask {
        rotated: sources.rotated || sources.select.since.is_some(),
        journal: (!sources.journal.no_journal).then(|| journal_query.clone()),
        pverec: (!sources.cluster.no_remote_pverec).then(|| sources.cluster.remote_pverec.clone()),
        classes,
    };
    let fetched = node::fetch_all(&plan.remote, &ssh, &ask, scratch.path(), &signal);
    stopped(&mut scratch);

    let mut nodes: Vec<NodeInput> = Vec::new();
    let mut journal = Journal::default();
    // This node is read with the others: when it is one of them, when FILEs were named (its
    // logs), or when it has a log of its own (pverec runs on a node) — `--host` adds nodes to
    // the one pverec runs on.
    let default_log = input::system_path(input::DEFAULT_LOG);
    let local = plan.local.clone().or_else(|| {
        (!sources.files.is_empty() || default_log.is_file())
            .then(|| crate::this_node().unwrap_or_else(|| "localhost".to_string()))
            .filter(|name| !plan.remote.iter().any(|h| h.name.as_deref() == Some(name)))
    });
    if let Some(local) = &local {
        let files = if sources.files.is_empty() {
            vec![input::system_path(input::DEFAULT_LOG)]
        } else {
            sources.files.to_vec()
        };
        let groups = match input::groups(&files, ask.rotated) {
            Ok(groups) => groups,
            Err(e) => {
                messages::input_error(&format!("{local}: {e}"));
                Vec::new()
            }
        };
        let tasks = pipeline::source_dir(
            sources.tasks.tasks.as_ref(),
            sources.tasks.no_tasks,
            pipeline::DEFAULT_TASK_DIR,
            true,
        );
        if let Some((dir, _)) = tasks {
            if let Err(e) = pipeline.add_tasks(dir.clone(), None) {
                messages::input_error(&format!("{local}: {}", messages::os_error(&dir, &e)));
            }
        }
        if !sources.journal.no_journal {
            if !sources.journal.journal_file.is_empty() {
                let zone = jiff::tz::TimeZone::system();
                for file in &sources.journal.journal_file {
                    journal.read_file(file, &journal_query, &zone);
                }
            } else if let Some(program) = journal_source::journalctl() {
                journal.read_system(&program, &journal_query);
            } else if sources.journal.journal {
                messages::input_error(&format!(
                    "{local}: --journal: journalctl is not installed (/usr/bin/journalctl)"
                ));
            }
        }
        nodes.push(NodeInput {
            name: Rc::from(local.as_str()),
            logs: groups.into_iter().flatten().collect(),
        });
    }
    let mut remote_members = Vec::new();
    for (host, result) in plan.remote.iter().zip(fetched) {
        let mut fetched = match result {
            Ok(fetched) => fetched,
            Err(e) => {
                messages::input_error(&format!(
                    "{}: {e}; its events are missing, the other nodes are read",
                    host.label()
                ));
                continue;
            }
        };
        let name = match (&host.name, &fetched.said_name) {
            (Some(name), Some(said)) if said != name => {
                messages::message(&format!(
                    "{}: the node says it is {said}; its events are named {name}",
                    host.label()
                ));
                name.clone()
            }
            (Some(name), _) => name.clone(),
            (None, Some(said)) => said.clone(),
            (None, None) => host.dest.clone(),
        };
        remote_members.extend(fetched.members.take());
        for (file, why) in &fetched.skipped {
            let dir = if file.starts_with("access.log") {
                "/var/log/pveproxy"
            } else if file == ".members" {
                "/etc/pve"
            } else {
                "/var/log/pve/tasks"
            };
            messages::input_error(&format!(
                "{}: {dir}/{file} is {why}: not read",
                host.label()
            ));
        }
        if let Some(missing) = &fetched.journal_missing {
            messages::message(&format!(
                "{name}: no journal ({missing}): its logins' users and its config changes' \
                 parameters are not known"
            ));
        }
        if let Some(dir) = &fetched.tasks {
            if let Err(e) = pipeline.add_tasks(dir.clone(), Some(&name)) {
                messages::input_error(&format!("{name}: its task index: {e}"));
            }
        }
        if let Some(file) = &fetched.journal {
            journal.read_file(file, &journal_query, &jiff::tz::TimeZone::system());
        }
        let prefix = format!("{name}:");
        let mut logs = Vec::new();
        if let Some(log) = &fetched.access_log {
            match input::groups(std::slice::from_ref(log), ask.rotated) {
                Ok(groups) => {
                    for mut source in groups.into_iter().flatten() {
                        // Named as on the node: pve2:/var/log/pveproxy/access.log.1
                        let file = source
                            .path
                            .file_name()
                            .map(|f| f.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        source.name = format!("{prefix}/var/log/pveproxy/{file}");
                        logs.push(source);
                    }
                }
                Err(e) => messages::input_error(&format!("{name}: {e}")),
            }
        } else {
            messages::message(&format!("{name}: has no /var/log/pveproxy/access.log"));
        }
        nodes.push(NodeInput {
            name: Rc::from(name.as_str()),
            logs,
        });
    }
    journal.sort();
    if !journal.entries.is_empty() {
        pipeline.add_journal(journal);
    }
    pipeline::open_etc_pve(&mut pipeline, sources.etc_pve, true);

    // One group of every node's files, each file with its node.
    let mut group: Vec<Source> = Vec::new();
    let mut node_of: Vec<Rc<str>> = Vec::new();
    for node in &nodes {
        for source in &node.logs {
            group.push(source.clone());
            node_of.push(Rc::clone(&node.name));
        }
    }
    let names: Vec<String> = group.iter().map(|s| s.name.clone()).collect();
    pipeline.renderer.header(pipeline.output.buf(), &names);
    pipeline.output.commit()?;
    let file_names: Vec<Rc<str>> = names.iter().map(|n| Rc::from(n.as_str())).collect();
    let mut addresses: Vec<(Rc<str>, IpAddr)> = plan
        .addresses
        .iter()
        .map(|(n, a)| (Rc::from(n.as_str()), *a))
        .collect();
    // What the nodes read know of the cluster: a hop's client may be a node not read.
    for member in remote_members.iter().flat_map(|m| &m.nodes) {
        if let Some(ip) = member.ip {
            if !addresses.iter().any(|(_, a)| *a == ip) {
                addresses.push((Rc::from(member.name.as_str()), ip));
            }
        }
    }
    let read: Vec<Rc<str>> = nodes.iter().map(|n| Rc::clone(&n.name)).collect();
    let mut hops = Hops::new(&addresses, &read);
    let progress = Progress::default();
    let bar = crate::convert::progress_bar(std::slice::from_ref(&group));
    let merged = crate::merge::merge_group(
        &group,
        None,
        &progress,
        bar.as_ref(),
        &mut || scratch.remove(),
        &mut |i, text, number| {
            if signal.load(Ordering::Relaxed) != 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::Interrupted));
            }
            // The fold parses the line (its time is the clock of the hops it holds).
            let step = hops.take(&node_of[i], &file_names[i], number, text);
            while let Some((held, proxy)) = hops.due(hops.last) {
                pipeline.line_of(&held.text, &held.file, held.number, &held.node, Some(proxy))?;
            }
            match step {
                Step::Pass(proxy) => {
                    pipeline.line_of(text, &file_names[i], number, &node_of[i], proxy)
                }
                Step::Held | Step::Folded => Ok(()),
            }
        },
    );
    stopped(&mut scratch);
    merged?;
    scratch.remove();
    while let Some((held, proxy)) = hops.due(None) {
        pipeline.line_of(&held.text, &held.file, held.number, &held.node, Some(proxy))?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    pipeline.finish(None)?;
    pipeline.renderer.finish(pipeline.output.buf());
    pipeline.output.flush()?;
    pipeline.filter.report_unmatched_users();
    messages::message(&format!(
        "{} nodes read ({}); {} proxied hops folded into their origin's request, {} shown on \
         their own",
        read.len(),
        read.iter().map(|n| &**n).collect::<Vec<_>>().join(", "),
        hops.folded,
        hops.alone
    ));
    messages::finish();
    Ok(!messages::errored())
}
