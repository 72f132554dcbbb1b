//! The command line, defined once with clap: `--help`, the man page (`pverec man`) and the shell
//! completions (`pverec completions SHELL`) are all generated from these definitions, so they
//! cannot drift apart. The raw arguments are turned into a resolved configuration in `config.rs`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::input::DEFAULT_LOG;
use crate::request::Class;
use crate::time::{parse_duration, parse_time_arg};

/// Show what was done through the Proxmox VE API, as pvesh commands, JSON audit records or a
/// replayable script.
///
/// pverec reads what a Proxmox VE node already writes, /var/log/pveproxy/access.log, and turns
/// each logged API request into the pvesh command that does the same thing. It needs nothing
/// installed on the node but itself.
///
/// access.log has no request bodies and the web UI's /api2/extjs calls report errors as HTTP
/// 200, so pverec joins two more sources when it has them: the task index
/// (/var/log/pve/tasks), which gives each task-starting request its task and whether it worked,
/// and the request recorder's spool (/run/pve-api-record, an opt-in pveproxy patch), which gives
/// the parameters of every request, bodies included. Without a spool, a POST or PUT comes out
/// without its body's parameters, noted as "# body not recorded".
#[derive(Debug, Parser)]
#[command(name = "pverec", version, max_term_width = 100)]
#[command(after_long_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

pub(crate) const EXAMPLES: &str = "\
Examples:
  pverec convert                                        # today's writes on this node
  pverec convert --rotated --user alice@pve --since 7d  # a week of alice and her tokens
  pverec convert /var/log/pveproxy/access.log.2.gz      # an older generation (gzip)
  pverec convert --rotated -f json --all | jq 'select(.outcome == \"failure\")'
  pverec convert -f script --since '2026-06-24 14:00' > replay.sh
  pverec follow --user alice@pve                        # alice's writes, live, until Ctrl-C
  pverec follow -f json --all --state /var/lib/pverec/state | logger -t pverec

Exit status: 0 on success (malformed lines are reported on stderr and skipped), 1 on a fatal
error, 2 on a usage error or when some input could not be read (the rest is still converted).
follow runs until SIGINT (exit 130), SIGTERM or SIGHUP (exit 0); each flushes and saves --state
first.";

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Convert access.log files into pvesh commands, JSON Lines or a bash script.
    ///
    /// Files are read in the order given; plain files are memory-mapped, gzip files (recognised
    /// by their magic bytes, not their name) are decompressed on the fly, "-" reads standard
    /// input. Without FILE, standard input is read when it is a pipe or a file (zcat
    /// access.log.2.gz | pverec convert), else /var/log/pveproxy/access.log; under cron, which
    /// gives a pipe, name the log.
    ///
    /// A file in /var/log/pveproxy (however it is spelled) is this node's own log: this host's
    /// task index and name go with it, and --since reaches back into its rotated generations.
    #[command(after_long_help = EXAMPLES)]
    Convert(ConvertArgs),
    /// Print requests live as pveproxy logs them, across log rotation, until a signal stops it.
    ///
    /// Starts at the end of the log (or replays from --since, the last -n events or a --state,
    /// joined with the task index as convert joins it, then goes on live), like tail -F. A rotated log
    /// (renamed to access.log.1) is still read for --rotate-wait, since old pveproxy workers keep
    /// writing to it; the new access.log is read from its first byte. With --state, pverec
    /// records how far it got and resumes there: nothing is lost across a restart, and at most
    /// the last batch of output is repeated after a crash.
    #[command(after_long_help = EXAMPLES)]
    Follow(FollowArgs),
    /// List sessions: consoles (noVNC, xterm.js, SPICE, node shells), web UI logins and API
    /// token use, each with who, from where, on what, when, for how long and how it ended.
    ///
    /// Reads what convert reads (FILE or the node's access.log, --rotated, the task index, the
    /// journal, /etc/pve for guest names) and builds one record per session. A console is its
    /// request (POST vncproxy, termproxy, spiceproxy; the node's vncshell, termproxy,
    /// spiceshell), the task PVE runs for as long as it lasts, and the client's websocket
    /// upgrade (or SPICE CONNECT) within the 10 s PVE waits (40 s for SPICE); it closes when the
    /// task ends. A UI session is a login, its ticket renewals (every 15 minutes while the page
    /// is open) and the user's calls from that client; it ends when its ticket expires (2 hours
    /// after the last renewal), when the login window is shown again (logged out) or at a new
    /// login. An API token's session is its calls from one client, split after 15 minutes idle.
    /// A connection line that fits two sessions joins neither and is counted on stderr.
    ///
    /// The filters select sessions, not lines: --since and --until are on the time a session
    /// opened. With --follow, each session is printed when it opens and again when it closes
    /// (JSON: "event": "session_open" / "session_close"), read live as follow reads.
    #[command(after_long_help = SESSIONS_EXAMPLES)]
    Sessions(SessionsArgs),
    /// Print a completion script for SHELL on standard output.
    ///
    /// For bash: pverec completions bash > /usr/share/bash-completion/completions/pverec
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on standard output: pverec man | man -l -
    Man,
}

#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// access.log files to read ("-" for standard input) [default: standard input when it is a
    /// pipe or a file, else /var/log/pveproxy/access.log].
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) files: Vec<PathBuf>,

    /// Read each FILE's rotated set, oldest first: FILE.7.gz … FILE.2.gz FILE.1 FILE.
    ///
    /// Lines of the set are merged by time, since pveproxy workers that outlive a rotation keep
    /// appending to FILE.1 for a while. Without --rotated, --since on the node's own log still
    /// reads the generations it reaches back to; on another FILE it says which exist.
    #[arg(long)]
    pub(crate) rotated: bool,

    /// Take request bodies from FILE, a saved recorder spool events file (JSON lines).
    ///
    /// Events are matched to log lines in order (same method, path, format and user), so give
    /// --since for the time the recording ran when the logs reach further back. Events that
    /// match no log line are shown from the spool alone, with a warning.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) events: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) tasks: TaskArgs,

    #[command(flatten)]
    pub(crate) journal: JournalArgs,

    #[command(flatten)]
    pub(crate) etc_pve: EtcPveArgs,

    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,

    #[command(flatten)]
    pub(crate) nodes: NodeSelectArgs,

    #[command(flatten)]
    pub(crate) select: SelectArgs,

    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// Where guest names come from: shared by convert and follow.
pub(crate) const SESSIONS_EXAMPLES: &str = "\
Examples:
  pverec sessions --rotated                             # this week's sessions on this node
  pverec sessions --kind vnc,term,spice,shell --status ongoing   # consoles open now
  pverec sessions --user alice@pve --since 1d -f csv > alice.csv
  pverec sessions --vmid 100 -f json | jq -r '.user + \" \" + .opened'
  pverec sessions --follow -f json --state /var/lib/pverec/sessions.state

Exit status: 0 on success, 1 on a fatal error, 2 on a usage error or when some input could not
be read (the rest is still read).";

#[derive(Debug, Args)]
pub(crate) struct SessionsArgs {
    /// access.log files to read [default: standard input when it is a pipe, else
    /// /var/log/pveproxy/access.log]; with --follow, the one log to follow.
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) files: Vec<PathBuf>,

    /// Read each FILE's rotated set, oldest first (FILE.7.gz … FILE.1 FILE), as convert does.
    #[arg(long, conflicts_with = "follow")]
    pub(crate) rotated: bool,

    /// Follow the log live: print each session when it opens and when it closes, until a
    /// signal stops it.
    #[arg(long)]
    pub(crate) follow: bool,

    /// With --follow: record how far the log was read and the sessions still open in FILE
    /// (0600), and resume from there.
    #[arg(long, value_name = "FILE", requires = "follow", value_hint = clap::ValueHint::FilePath)]
    pub(crate) state: Option<PathBuf>,

    /// With --follow: look for changes every second instead of using inotify.
    #[arg(long, requires = "follow")]
    pub(crate) poll: bool,

    #[command(flatten)]
    pub(crate) tasks: TaskArgs,

    #[command(flatten)]
    pub(crate) journal: JournalArgs,

    #[command(flatten)]
    pub(crate) etc_pve: EtcPveArgs,

    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,

    /// Only sessions in this state: ongoing, completed, or unknown (no close can be known: a
    /// QEMU SPICE console has no task, or no task index was read); a comma-separated list.
    #[arg(
        long,
        value_enum,
        value_name = "STATUS",
        value_delimiter = ',',
        help_heading = "Selection"
    )]
    pub(crate) status: Vec<crate::session::Status>,

    /// Only sessions of these kinds: vnc, term, spice, shell, ui, api; a comma-separated list.
    #[arg(
        long,
        value_enum,
        value_name = "LIST",
        value_delimiter = ',',
        help_heading = "Selection"
    )]
    pub(crate) kind: Vec<crate::session::Kind>,

    /// Only sessions of USER: alice@pve also selects her API tokens, alice@pve!ci only that
    /// token, alice alice in every realm; a comma-separated list, repeatable.
    #[arg(short, long = "user", value_name = "USER", value_delimiter = ',',
          help_heading = "Selection", value_hint = clap::ValueHint::Other)]
    pub(crate) users: Vec<String>,

    /// Only sessions from this client address (::ffff:192.0.2.10 and 192.0.2.10 are the same);
    /// a comma-separated list.
    #[arg(long, value_name = "IP", value_delimiter = ',', help_heading = "Selection",
          value_hint = clap::ValueHint::Other)]
    pub(crate) client: Vec<String>,

    /// Only consoles of these guests (VM or container ids); a comma-separated list.
    #[arg(long, value_name = "ID", value_delimiter = ',', value_parser = parse_vmid,
          help_heading = "Selection", value_hint = clap::ValueHint::Other)]
    pub(crate) vmid: Vec<String>,

    /// Only sessions opened at or after TIME (same forms as convert: 2026-06-24, '2026-06-24
    /// 14:00', -2h, 7d, today, yesterday); with --follow, the log's history is read from there.
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg, allow_hyphen_values = true,
          help_heading = "Selection", value_hint = clap::ValueHint::Other)]
    pub(crate) since: Option<jiff::Timestamp>,

    /// Only sessions opened before TIME.
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg, allow_hyphen_values = true,
          help_heading = "Selection", value_hint = clap::ValueHint::Other)]
    pub(crate) until: Option<jiff::Timestamp>,

    /// Only sessions on NODE: a console's guest or shell node; for UI and API sessions the node
    /// that wrote the log (this host, when its own log is read). A comma-separated list.
    #[arg(long, value_name = "NODE", value_delimiter = ',', help_heading = "Selection",
          value_hint = clap::ValueHint::Other)]
    pub(crate) node: Vec<String>,

    /// The node that wrote the log, for UI and API sessions (convert's --node) [default: this
    /// host's name when reading the node's own log].
    #[arg(long, value_name = "NAME", help_heading = "Output", value_hint = clap::ValueHint::Other)]
    pub(crate) log_node: Option<String>,

    /// Output format: an aligned table (local times), JSON Lines, or CSV with a header row.
    /// With --follow, table is one line per opening and closing.
    #[arg(short, long, value_enum, default_value_t = SessionFormat::Table,
          visible_short_alias = 'o', help_heading = "Output")]
    pub(crate) format: SessionFormat,

    #[command(flatten)]
    pub(crate) sink: SinkArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SessionFormat {
    /// an aligned table for a person
    Table,
    /// one JSON object per session (JSON Lines)
    Json,
    /// comma-separated values with a header row, for spreadsheets
    Csv,
    /// one Elastic Common Schema (ECS 9.4) document per session, the record under proxmox.*
    Ecs,
    /// one OCSF 1.2 Authentication event per session (Logon, Logoff with its session), the
    /// record under unmapped.proxmox
    Ocsf,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sources")]
pub(crate) struct EtcPveArgs {
    /// Name guests from DIR, PVE's cluster file system [default: /etc/pve, when the node's own
    /// log is read and it exists].
    ///
    /// .vmlist says where each guest's config is; its name: (VM) or hostname: (container)
    /// goes into every event (JSON object.name; pvesh notes say "VM 100 (web01)"). follow also
    /// watches the configs there (guests, user.cfg, storage.cfg, firewall, jobs, HA, SDN…,
    /// looked at every 2 s and at once after each write) and gives each write the changes it
    /// made (JSON "changes"; a change no request explains is a record of class "change"). priv/
    /// is never read.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub(crate) etc_pve: Option<PathBuf>,

    /// Do not read /etc/pve.
    #[arg(long, conflicts_with = "etc_pve")]
    pub(crate) no_etc_pve: bool,
}

/// Where the journal is: shared by convert and follow.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sources")]
pub(crate) struct JournalArgs {
    /// Read the node's journal (through journalctl) [default: on when the node's own log, in
    /// /var/log/pveproxy, is read and journalctl is installed].
    ///
    /// It gives failed logins their user and reason, config changes of VMs their parameters
    /// (qemu-server logs them), and shows the work done on the shell (qm set, vzdump…) as
    /// events of its own. journalctl is run as /usr/bin/journalctl, never through PATH, with
    /// --since/--until handed over.
    #[arg(long, overrides_with = "no_journal")]
    pub(crate) journal: bool,

    /// Do not read the journal.
    #[arg(long)]
    pub(crate) no_journal: bool,

    /// Read FILE instead of the node's journal (repeatable): a copied .journal file (through
    /// journalctl --file), a journalctl -o json export, or syslog text (/var/log/syslog,
    /// daemon.log, rotated and gzip'd too), told apart by content. follow takes one .journal
    /// file and follows it as it grows.
    ///
    /// Classic syslog stamps (Jun 24 14:00:05) are local time (TZ) and have no year: each is
    /// given the latest year that does not put it more than a day after the file was last
    /// written.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath,
          conflicts_with = "no_journal")]
    pub(crate) journal_file: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct FollowArgs {
    /// The log to follow, as with --access-log (like tail -F FILE).
    #[arg(value_name = "FILE", conflicts_with = "access_log", value_hint = clap::ValueHint::FilePath)]
    pub(crate) file: Option<PathBuf>,

    /// The log to follow (a symlink is followed to its current target).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_LOG, value_hint = clap::ValueHint::FilePath)]
    pub(crate) access_log: PathBuf,

    /// First show the last N selected events of the log (and of FILE.1), then go on live.
    ///
    /// Like tail -n: the events counted are those the selection options show (lines of other
    /// classes or users are not counted). FILE.1 is read too, so that the last events are there
    /// just after a rotation. With --since, the last N of the events since then. A
    /// state file that is resumed takes precedence: all that was logged meanwhile is shown.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 0,
          value_hint = clap::ValueHint::Other)]
    pub(crate) lines: usize,

    /// Record progress in FILE and resume from it when FILE exists.
    ///
    /// Written atomically (mode 0600) after the output it covers has been flushed; missing
    /// directories of FILE are created (mode 0700). A state file takes precedence over --since
    /// and -n; a corrupt one is reported and ignored. A restart reads what was logged while
    /// pverec was stopped, rotated generations included, and joins it with its tasks as convert
    /// does.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) state: Option<PathBuf>,

    /// Check the log every 0.2 s instead of waiting for inotify events (for NFS and the like).
    #[arg(long)]
    pub(crate) poll: bool,

    /// How long a rotated log is still read after it last grew, e.g. 30s, 5m, 1h.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration,
          value_hint = clap::ValueHint::Other)]
    pub(crate) rotate_wait: Duration,

    /// The request recorder's spool directory [default: /run/pve-api-record, when it exists and
    /// the node's own log is followed].
    ///
    /// pverec registers there as a recorder (PID.req, locked while it runs, removed on exit) and
    /// takes each request's parameters from PID.events.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub(crate) spool: Option<PathBuf>,

    /// Do not register with the request recorder.
    #[arg(long, conflicts_with = "spool")]
    pub(crate) no_spool: bool,

    #[command(flatten)]
    pub(crate) tasks: TaskArgs,

    #[command(flatten)]
    pub(crate) journal: JournalArgs,

    #[command(flatten)]
    pub(crate) etc_pve: EtcPveArgs,

    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,

    #[command(flatten)]
    pub(crate) nodes: NodeSelectArgs,

    #[command(flatten)]
    pub(crate) select: SelectArgs,

    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

impl ConvertArgs {
    fn check_cluster(&self) -> Result<(), String> {
        if self.cluster.any() && self.events.is_some() {
            return Err(
                "--events is a spool file of one node: not with --host or --cluster".to_owned(),
            );
        }
        check_cluster(&self.cluster, &self.nodes, &self.output)
    }
}

impl FollowArgs {
    fn check_cluster(&self) -> Result<(), String> {
        if self.cluster.any() && self.lines > 0 {
            return Err(
                "-n counts the events of one log: not with --host or --cluster (give --since \
                 for history)"
                    .to_owned(),
            );
        }
        check_cluster(&self.cluster, &self.nodes, &self.output)
    }
}

/// The cluster options that do not go with others: `--node` names the one node of a single
/// log, `--on-node` selects nodes of a cluster read.
fn check_cluster(
    cluster: &ClusterArgs,
    nodes: &NodeSelectArgs,
    output: &OutputArgs,
) -> Result<(), String> {
    if !cluster.any() {
        if !nodes.on_node.is_empty() {
            return Err(
                "--on-node selects among the nodes of a cluster read: give --host or \
                        --cluster (to name the node of a single log, use --node)"
                    .to_owned(),
            );
        }
        return Ok(());
    }
    if output.node.is_some() {
        return Err(
            "--node names the node of a single log; in a cluster read each node's \
                    events carry their own node (--on-node selects nodes)"
                .to_owned(),
        );
    }
    cluster.check()
}

impl ClusterArgs {
    /// Each `--host` is one pverec can hand to ssh safely.
    pub(crate) fn check(&self) -> Result<(), String> {
        for host in &self.hosts {
            crate::source::node::parse_host(host).map_err(|e| format!("--host {e}"))?;
        }
        if self.remote_pverec.is_empty()
            || self.remote_pverec.starts_with('-')
            || self.remote_pverec.chars().any(char::is_control)
        {
            return Err("--remote-pverec: give the program's name or path".to_owned());
        }
        for option in &self.ssh_option {
            if !option.contains('=') || option.starts_with('-') || option.contains('\n') {
                return Err(format!(
                    "--ssh-option {:?}: give it as ssh -o takes it, KEY=VALUE",
                    option.escape_debug().to_string()
                ));
            }
        }
        Ok(())
    }
}

impl SessionsArgs {
    pub(crate) fn check(&self) -> Result<(), String> {
        self.cluster.check()?;
        if self.follow && self.files.len() > 1 {
            return Err("--follow follows one log: name at most one FILE".to_owned());
        }
        if self.follow && self.format == SessionFormat::Csv {
            return Err("--follow prints records as they come: use -f json or -f table".to_owned());
        }
        self.sink.check(
            &self.format,
            matches!(
                self.format,
                SessionFormat::Json | SessionFormat::Ecs | SessionFormat::Ocsf
            ),
        )?;
        match (self.since, self.until) {
            (Some(since), Some(until)) if since >= until => Err(format!(
                "--since {} is not before --until {}: no session can open in that window",
                crate::time::local_in(since, &jiff::tz::TimeZone::system()),
                crate::time::local_in(until, &jiff::tz::TimeZone::system())
            )),
            _ => Ok(()),
        }
    }
}

impl FollowArgs {
    /// The log to follow: FILE, else --access-log.
    pub(crate) fn log(&self) -> &std::path::Path {
        self.file.as_deref().unwrap_or(&self.access_log)
    }
}

/// `pverec node-export`: the other side of a cluster read, run by it on the node it reads
/// (`src/source/node.rs`). Not a subcommand of [`Cli`]: it is no command for a person, so the
/// help, the man page and the completions do not offer it (the README describes it).
#[derive(Debug, Parser)]
#[command(name = "pverec node-export")]
pub(crate) struct NodeExportArgs {
    /// Answer whether this protocol is spoken, and nothing else.
    #[arg(long, value_name = "N")]
    pub(crate) probe: Option<u32>,
    /// The protocol of the answer.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) protocol: u32,
    /// Every generation of access.log.
    #[arg(long)]
    pub(crate) rotated: bool,
    /// Only the lines of these classes; the others are sent empty.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub(crate) class: Vec<Class>,
    #[arg(long, value_parser = parse_time_arg, allow_hyphen_values = true)]
    pub(crate) since: Option<jiff::Timestamp>,
    #[arg(long, value_parser = parse_time_arg, allow_hyphen_values = true)]
    pub(crate) until: Option<jiff::Timestamp>,
    #[arg(long)]
    pub(crate) no_journal: bool,
}

/// The other nodes of a cluster, read over SSH: shared by convert, follow and sessions.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Cluster")]
pub(crate) struct ClusterArgs {
    /// Also read NODE over ssh (repeatable, or a comma-separated list): a node name (as ssh
    /// resolves it), NAME=ADDRESS, user@ADDRESS or NAME=user@ADDRESS.
    ///
    /// Its access.log (with --rotated or --since, its generations), its task index and its
    /// journal are streamed with standard tools (sh, wc, head, journalctl): nothing is
    /// installed there. This node is read too (locally) when it has a log, FILE names one, or
    /// it is one of the hosts. The events of all
    /// nodes are merged into one timeline, each with its node; a request one node proxied to
    /// another is shown once, from the node the client talked to, with the task, journal entry
    /// and outcome of the node that did it.
    #[arg(long = "host", value_name = "NODE", value_delimiter = ',',
          value_hint = clap::ValueHint::Hostname)]
    pub(crate) hosts: Vec<String>,

    /// Read every node of the cluster: those of /etc/pve/.members (or --etc-pve DIR), this one
    /// locally, the others over ssh at their cluster address.
    #[arg(long)]
    pub(crate) cluster: bool,

    /// ssh's configuration file (ssh -F FILE) [default: ssh's own, ~/.ssh/config and
    /// /etc/ssh/ssh_config].
    ///
    /// ssh always runs with BatchMode=yes (a password or host key prompt fails instead of
    /// hanging) and checks host keys against the known hosts (a PVE node's
    /// /etc/ssh/ssh_known_hosts holds the cluster's).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub(crate) ssh_config: Option<PathBuf>,

    /// One more ssh option, as for ssh -o (repeatable), e.g. StrictHostKeyChecking=accept-new
    /// or Port=2222.
    #[arg(long, value_name = "OPTION", value_hint = clap::ValueHint::Other)]
    pub(crate) ssh_option: Vec<String>,

    /// The program that is pverec on the other nodes [default: pverec, found through the
    /// node's PATH]. Where it is there (and speaks this pverec's protocol), convert and sessions
    /// let it send the nodes' logs, decompressed, with only the lines of the classes asked
    /// for (a few percent of them for writes); else, and always with --no-remote-pverec,
    /// standard tools send the files as they are.
    #[arg(long, value_name = "PATH", default_value = "pverec",
          value_hint = clap::ValueHint::Other)]
    pub(crate) remote_pverec: String,

    /// Never run pverec on the other nodes.
    #[arg(long)]
    pub(crate) no_remote_pverec: bool,

    /// How long a node may send nothing (connecting, or in the middle of its files) before it
    /// is given up, named on stderr, and the run goes on without it.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration,
          value_hint = clap::ValueHint::Other)]
    pub(crate) ssh_timeout: Duration,
}

impl ClusterArgs {
    /// Whether other nodes are read.
    pub(crate) fn any(&self) -> bool {
        self.cluster || !self.hosts.is_empty()
    }
}

/// Which nodes' events to show in a cluster read (convert, follow).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Cluster")]
pub(crate) struct NodeSelectArgs {
    /// In a cluster read (--host, --cluster), only events on NODE: logged there, or done there
    /// (a request proxied to it, its task). A comma-separated list, repeatable. Not --node,
    /// which names the node of a single log.
    #[arg(long, value_name = "NODE", value_delimiter = ',', value_hint = clap::ValueHint::Other)]
    pub(crate) on_node: Vec<String>,
}

/// Where the task index is: shared by every command that reads logs.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sources")]
pub(crate) struct TaskArgs {
    /// The task directory (index, index.1, active) [default: /var/log/pve/tasks, when the
    /// node's own log, in /var/log/pveproxy, is read].
    ///
    /// Each task-starting request is joined with its task: the outcome and the UPID come from
    /// there, and tasks that no logged request started can be shown as class "task".
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub(crate) tasks: Option<PathBuf>,

    /// Do not read the task directory.
    #[arg(long, conflicts_with = "tasks")]
    pub(crate) no_tasks: bool,
}

/// Which requests to show: shared by every command that reads logs.
///
/// The options combine with "and"; the values of one repeated option with "or".
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Selection")]
pub(crate) struct SelectArgs {
    /// Only requests by USER (repeatable, or a comma-separated list).
    ///
    /// "alice@pve" matches that user and all of its API tokens ("alice@pve!ci"); "alice@pve!ci"
    /// matches only that token; "alice" (no realm) matches alice in every realm, and their
    /// tokens. A USER that no line of the input names is reported on stderr with the nearest
    /// users seen (at the end of convert, when follow stops).
    #[arg(short, long = "user", value_name = "USER", value_delimiter = ',',
          value_hint = clap::ValueHint::Other)]
    pub(crate) users: Vec<String>,

    /// Classes of requests to show (comma-separated) [default: write].
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_enum)]
    pub(crate) class: Vec<Class>,

    /// Show every class (same as --class write,read,auth,console,other,task).
    #[arg(short, long, conflicts_with = "class")]
    pub(crate) all: bool,

    /// Only requests logged at or after TIME.
    ///
    /// TIME is taken as journalctl takes it (systemd.time(7)): a local date and time
    /// ("YYYY-MM-DD[ HH:MM[:SS]]", "HH:MM" today), optionally followed by "UTC", an offset or a
    /// zone name; RFC 3339 (2026-06-24T12:00:00Z); "now", "today", "yesterday", "tomorrow";
    /// "-2h", "+1h", "2 hours ago", "2h ago"; a bare age such as 90s, 30m, 1h30m, 7d, 2w (that
    /// long ago); "@1782302594" (seconds since 1970). --since must be before --until.
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg, allow_hyphen_values = true,
          value_hint = clap::ValueHint::Other)]
    pub(crate) since: Option<jiff::Timestamp>,

    /// Only requests logged before TIME (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time_arg, allow_hyphen_values = true,
          value_hint = clap::ValueHint::Other)]
    pub(crate) until: Option<jiff::Timestamp>,

    /// Only requests that ended so (repeatable, or a comma-separated list) [default: any].
    ///
    /// "success" is what worked (replay it), "failure" what did not, "unknown" what the sources
    /// cannot tell, "pending" a task still running, "not_executed" a request redirected to
    /// HTTPS. The outcome comes from the request's task when it has one, else from the HTTP
    /// status (/api2/extjs calls answer 200 even on errors: their outcome is "unknown" without
    /// a task). In follow, when "pending" is not asked for, a request whose task still runs is
    /// held back until the task ends, then shown or not by the task's outcome.
    #[arg(long, value_enum, value_name = "OUTCOME", value_delimiter = ',')]
    pub(crate) outcome: Vec<OutcomeFilter>,

    /// Only requests about guest ID (repeatable, or a comma-separated list).
    ///
    /// A request is about a guest when the guest is its object, when the path names it
    /// (/nodes/pve1/qemu/ID/…, /nodes/pve1/lxc/ID/…), when its "vmid" parameter names it, or
    /// when its task is the guest's (UPID id of a qm*, vz* or HA task); a task without a request
    /// likewise.
    #[arg(long, value_name = "ID", value_delimiter = ',', value_parser = parse_vmid,
          value_hint = clap::ValueHint::Other)]
    pub(crate) vmid: Vec<String>,

    /// Only requests whose API path, or its schema template, matches PATTERN (repeatable).
    ///
    /// PATTERN is a glob over the path's segments, matched whole: "*" matches within one
    /// segment, "**" any number of whole segments (none included), "?" one character, a
    /// backslash quotes the next; anything else, "{" included, stands for itself. The path is
    /// the one pvesh takes (decoded, without /api2/FORMAT; a leading /api2/FORMAT in PATTERN is
    /// ignored); the template is the schema's ("/nodes/{node}/qemu/{vmid}/config"). E.g.
    /// --path '/nodes/*/qemu/*/config', --path '/access/**'.
    #[arg(long = "path", value_name = "PATTERN", value_hint = clap::ValueHint::Other)]
    pub(crate) paths: Vec<String>,
}

impl SelectArgs {
    /// What clap cannot check one option at a time: a time window that ends before it starts.
    pub(crate) fn check(&self) -> Result<(), String> {
        match (self.since, self.until) {
            (Some(since), Some(until)) if since >= until => Err(format!(
                "--since {} is not before --until {}: no request can be in that window",
                crate::time::local_in(since, &jiff::tz::TimeZone::system()),
                crate::time::local_in(until, &jiff::tz::TimeZone::system())
            )),
            _ => Ok(()),
        }
    }
}

/// A guest id as PVE takes one: 100 to 999999999 (pve-common `src/PVE/JSONSchema.pm`,
/// `pve_verify_vmid`: `^[1-9][0-9]{2,8}$`).
fn parse_vmid(arg: &str) -> Result<String, String> {
    let arg = arg.trim();
    let digits = arg.bytes().all(|b| b.is_ascii_digit());
    if digits && (3..=9).contains(&arg.len()) && !arg.starts_with('0') {
        Ok(arg.to_string())
    } else {
        Err(format!(
            "'{arg}' is not a guest id: PVE's VM and container ids are 100 to 999999999"
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutcomeFilter {
    /// requests (and tasks) that succeeded
    Success,
    /// requests (and tasks) that failed
    Failure,
    /// requests whose outcome the sources cannot tell
    Unknown,
    /// requests whose task still runs
    Pending,
    /// requests that never ran (redirected to HTTPS)
    #[value(name = "not_executed", alias = "not-executed")]
    NotExecuted,
    /// every outcome
    Any,
}

/// How to print what was selected: shared by every command that prints events.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub(crate) struct OutputArgs {
    /// Output format (-o/--output-format as pvesh spells it).
    #[arg(
        short,
        long,
        value_enum,
        default_value_t = Format::Pvesh,
        visible_short_alias = 'o',
        visible_alias = "output-format"
    )]
    pub(crate) format: Format,

    /// Node name recorded in events [default: this host's name when reading the node's own log].
    #[arg(long, value_name = "NAME", value_hint = clap::ValueHint::Other)]
    pub(crate) node: Option<String>,

    /// Print secret parameter values (passwords, tickets, keys) instead of redacting them.
    #[arg(long)]
    pub(crate) show_secrets: bool,

    /// pvesh format only: print only commands, without "# …" notes and comment lines.
    ///
    /// A command that failed or never ran is still printed, commented out as "# failed: pvesh
    /// …" or "# not executed: pvesh …", so that the output piped to a shell runs only what may
    /// have worked. With another format it is a usage error.
    #[arg(long)]
    pub(crate) no_comments: bool,

    #[command(flatten)]
    pub(crate) sink: SinkArgs,
}

/// `--to` and its buffer: convert, follow and sessions.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Output")]
pub(crate) struct SinkArgs {
    /// Where records go: stdout, journal, journal:/SOCKET, syslog+udp://HOST:PORT or
    /// syslog+tcp://HOST:PORT.
    ///
    /// journal writes journald's native protocol on /run/systemd/journal/socket: MESSAGE is the
    /// record's line, with SYSLOG_IDENTIFIER=pverec and the fields PVEREC_USER, PVEREC_ACTION,
    /// PVEREC_OUTCOME, PVEREC_OBJECT, PVEREC_NODE, PVEREC_CLIENT, PVEREC_EVENT and PVEREC_TIME
    /// (journalctl PVEREC_USER=alice@pve). syslog sends RFC 5424 messages (facility authpriv)
    /// with those fields as structured data and the record's line as the message; over TCP
    /// they are octet-counted. Both take one record per line: -f json, ecs or ocsf. In follow,
    /// a sink that is away is retried with back-off while reading goes on, and --state
    /// advances only past records it took; convert waits up to 10 s for it, then fails.
    #[arg(
        long,
        value_name = "SINK",
        default_value = "stdout",
        value_parser = parse_target,
        value_hint = clap::ValueHint::Other
    )]
    pub(crate) to: crate::sink::Target,

    /// follow: how many records wait for a journal or collector that is away; beyond that the
    /// oldest are dropped, and how many and from when is said.
    #[arg(long, value_name = "RECORDS", default_value_t = 10_000)]
    pub(crate) sink_buffer: usize,
}

impl SinkArgs {
    /// A journal or syslog sink takes one record per line: the JSON formats only.
    pub(crate) fn check(
        &self,
        format: &impl ValueEnum,
        one_record_per_line: bool,
    ) -> Result<(), String> {
        if self.to == crate::sink::Target::Stdout || one_record_per_line {
            return Ok(());
        }
        Err(format!(
            "the argument '--to {}' cannot be used with '--format {}': a journal entry or \
             syslog message holds one record; use -f json, -f ecs or -f ocsf",
            self.to.value(),
            value_name(format)
        ))
    }
}

fn parse_target(text: &str) -> Result<crate::sink::Target, String> {
    crate::sink::Target::parse(text)
}

impl OutputArgs {
    /// The checks clap cannot express: `--no-comments` only means something for `-f pvesh`
    /// (JSON has no comments; a script without its comments would hide why a command is not
    /// run and what each secret variable stands for).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.no_comments && self.format != Format::Pvesh {
            return Err(format!(
                "the argument '--no-comments' cannot be used with '--format {}': it applies \
                 only to the pvesh format",
                value_name(&self.format)
            ));
        }
        self.sink.check(
            &self.format,
            matches!(self.format, Format::Json | Format::Ecs | Format::Ocsf),
        )
    }
}

/// How a value is written on the command line (`json-pretty`).
fn value_name(value: &impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// one pvesh command per request, with a trailing "# note" where something is missing and
    /// a "# time user from client" line where the user or client changes
    Pvesh,
    /// one JSON audit record per line (JSON Lines)
    Json,
    /// the JSON records pretty-printed, one after the other (as pvesh's json-pretty; jq reads
    /// them)
    JsonPretty,
    /// a bash script: a header with counts and secret variables, a commented header per command,
    /// commands that failed or lack a required parameter commented out
    Script,
    /// one Elastic Common Schema (ECS 9.4) document per line: event.*, user.*, source.ip,
    /// host.name, http.*, url.path (no query), process.*, related.*, the record under proxmox.*
    Ecs,
    /// one Open Cybersecurity Schema Framework (OCSF 1.2.0) event per line: API Activity for
    /// requests and tasks, Authentication for logins and sessions, File System Activity for
    /// changes in /etc/pve; the record under unmapped.proxmox
    Ocsf,
}

impl Cli {
    pub(crate) fn command() -> clap::Command {
        <Cli as clap::CommandFactory>::command()
    }

    /// What clap cannot check while parsing, as a clap usage error (exit status 2).
    pub(crate) fn check(&self) -> Result<(), clap::Error> {
        let (name, select, output) = match &self.command {
            Command::Convert(args) => ("convert", &args.select, &args.output),
            Command::Follow(args) => ("follow", &args.select, &args.output),
            Command::Sessions(args) => {
                return args.check().map_err(|message| {
                    let mut cli = Cli::command().styles(clap::builder::Styles::plain());
                    cli.build();
                    match cli.find_subcommand_mut("sessions") {
                        Some(sub) => sub.error(clap::error::ErrorKind::ArgumentConflict, message),
                        None => cli.error(clap::error::ErrorKind::ArgumentConflict, message),
                    }
                });
            }
            Command::Completions { .. } | Command::Man => return Ok(()),
        };
        let cluster = match &self.command {
            Command::Convert(args) => args.check_cluster(),
            Command::Follow(args) => args.check_cluster(),
            _ => Ok(()),
        };
        cluster
            .and_then(|()| select.check())
            .and_then(|()| output.check())
            .map_err(|message| {
                // Plain: the message is printed through pverec's own escaping (main.rs).
                let mut cli = Cli::command().styles(clap::builder::Styles::plain());
                cli.build();
                match cli.find_subcommand_mut(name) {
                    Some(sub) => sub.error(clap::error::ErrorKind::ArgumentConflict, message),
                    None => cli.error(clap::error::ErrorKind::ArgumentConflict, message),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn class_list_and_repeated_users() {
        let cli = Cli::try_parse_from([
            "pverec",
            "convert",
            "--class",
            "write,auth",
            "-u",
            "a@pve",
            "--user",
            "b@pam!t",
            "x.log",
        ])
        .unwrap();
        let Command::Convert(args) = cli.command else {
            panic!("not convert")
        };
        assert_eq!(args.select.class, [Class::Write, Class::Auth]);
        assert_eq!(args.select.users, ["a@pve", "b@pam!t"]);
        assert_eq!(args.files, [PathBuf::from("x.log")]);
    }

    #[test]
    fn selection_lists_and_checks() {
        let cli = Cli::try_parse_from([
            "pverec",
            "convert",
            "--user",
            "alice,bob@pam",
            "--outcome",
            "failure,not_executed",
            "--vmid",
            "100,999999999",
            "--since",
            "-2h",
            "--until",
            "-3h",
        ])
        .unwrap();
        let Command::Convert(args) = cli.command else {
            panic!("not convert")
        };
        assert_eq!(args.select.users, ["alice", "bob@pam"]);
        assert_eq!(
            args.select.outcome,
            [OutcomeFilter::Failure, OutcomeFilter::NotExecuted]
        );
        assert_eq!(args.select.vmid, ["100", "999999999"]);
        assert!(args.select.check().unwrap_err().contains("is not before"));
        for bad in ["99", "0100", "1000000000", "1e3", ""] {
            assert!(parse_vmid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn all_conflicts_with_class() {
        assert!(Cli::try_parse_from(["pverec", "convert", "--all", "--class", "read"]).is_err());
    }
}
