//! pverec: what was done through the Proxmox VE API, as pvesh commands, JSON audit records or a
//! replayable script, read from the logs a node already writes.
//!
//! The program is this library; `src/main.rs` only calls [`main`]. It is a library so that the
//! fuzz targets under `fuzz/` reach the parsers ([`fuzzing`]); nothing else is public, and it
//! is not an API for other programs.
//!
//! [`main`] only parses the command line, runs the chosen command and maps the result to an
//! exit status: 0 success, 1 a fatal error, 2 a usage error or input that could not be read. A
//! closed stdout (`pverec convert | head -1`) is a normal end, not an error.

mod api;
mod cli;
mod completions;
mod convert;
mod event;
mod filter;
mod follow;
#[doc(hidden)]
pub mod fuzzing;
mod input;
mod join;
mod man;
mod messages;
mod output;
mod pipeline;
mod render;
mod request;
mod response;
mod secret;
mod session;
mod source;
mod time;
mod userid;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, OutputArgs, SelectArgs};

/// The whole program: what `pverec` does and the status it exits with.
pub fn main() -> ExitCode {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            messages::message(&format!("{err:#}"));
            ExitCode::from(1)
        }
    }
}

/// The command line, or how pverec ends when it is a usage error, `--help` or `--version`.
///
/// A usage error quotes the argument that was wrong, and an argument is anyone's bytes (a
/// pasted command line, a script fed a log value): the error is rendered with clap's styles
/// off, so that the only escape sequences in it are the argument's own, and printed through
/// the escaping of every message ([`messages::usage_error`]). Help and version hold no
/// argument: clap prints them as always, in colour on a terminal.
fn parse_args() -> Result<Cli, ExitCode> {
    use clap::FromArgMatches;
    use clap::error::ErrorKind;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let plain = Cli::command().styles(clap::builder::Styles::plain());
    let parsed = plain
        .try_get_matches_from(&args)
        .and_then(|matches| Cli::from_arg_matches(&matches))
        .and_then(|cli| cli.check().map(|()| cli));
    match parsed {
        Ok(cli) => Ok(cli),
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            // Parsed again with the styles on, clap prints the help and exits as it always did.
            match Cli::try_parse_from(&args) {
                Err(styled) => styled.exit(),
                Ok(cli) => Ok(cli),
            }
        }
        Err(err) => Err(messages::usage_error(&err)),
    }
}

/// Runs a command and says how it ended.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Convert(args) => {
            let plan = convert::Plan::new(&args.files);
            let pipeline = pipeline(&args.select, &args.output, plan.node_log);
            let all_read = convert::run(&args, &plan, pipeline)?;
            Ok(if all_read {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Follow(mut args) => {
            if args.file.is_none() && args.access_log.as_os_str() == input::DEFAULT_LOG {
                args.access_log = input::system_path(input::DEFAULT_LOG);
            }
            let node_log = input::is_node_log(args.log());
            let pipeline = pipeline(&args.select, &args.output, node_log);
            follow::run(&args, pipeline)
        }
        Command::Sessions(args) => sessions(&args),
        Command::Completions { shell } => {
            io::stdout().write_all(&completions::render(shell))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut out = Vec::new();
            man::render(&mut out)?;
            io::stdout().write_all(&out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The pipeline both `convert` and `follow` feed; the node defaults to this host's name when
/// the node's own log is read.
fn pipeline(select: &SelectArgs, output: &OutputArgs, node_log: bool) -> pipeline::Pipeline {
    let node = output
        .node
        .clone()
        .or_else(|| if node_log { this_node() } else { None });
    pipeline::Pipeline::new(
        filter::Filter::new(select),
        render::Renderer::new(output.format, output.show_secrets, !output.no_comments),
        node,
    )
}

/// `pverec sessions`: the convert or follow driver, with every event going to the sessions
/// book instead of a renderer.
fn sessions(args: &cli::SessionsArgs) -> anyhow::Result<ExitCode> {
    let everything = SelectArgs {
        since: args.since,
        ..everything_for_follow()
    };
    let output = output_json();
    let select = session::select::Select {
        status: args.status.clone(),
        kinds: args.kind.clone(),
        users: args.users.iter().map(|u| u.as_bytes().to_vec()).collect(),
        clients: args
            .client
            .iter()
            .map(|c| session::select::Select::client(c))
            .collect(),
        vmids: args.vmid.clone(),
        nodes: args.node.clone(),
        since: args.since,
        until: args.until,
    };
    let make = move |node_log: bool, live: bool| {
        // The events are not filtered: a session's login may be before --since (follow reads
        // the log's history from --since, so there it also says where to start).
        let mut filter_args = everything.clone();
        if !live {
            filter_args.since = None;
        }
        let mut pipeline = pipeline(&filter_args, &output, node_log);
        let node = pipeline.node.as_deref().map(str::to_owned);
        pipeline.sessions = Some(Box::new(session::render::Sessions::new(
            session::Book::new(live, node),
            select,
            args.format,
        )));
        pipeline
    };
    if args.follow {
        let mut follow = cli::FollowArgs {
            file: args.files.first().cloned(),
            access_log: input::system_path(input::DEFAULT_LOG),
            lines: 0,
            state: args.state.clone(),
            poll: args.poll,
            rotate_wait: std::time::Duration::from_secs(300),
            spool: None,
            no_spool: true,
            tasks: args.tasks.clone(),
            journal: args.journal.clone(),
            etc_pve: args.etc_pve.clone(),
            select: SelectArgs {
                since: args.since,
                ..everything_for_follow()
            },
            output: output_json(),
        };
        if follow.file.is_some() {
            follow.access_log = std::path::PathBuf::from(input::DEFAULT_LOG);
        }
        let node_log = input::is_node_log(follow.log());
        return follow::run(&follow, make(node_log, true));
    }
    let convert = cli::ConvertArgs {
        files: args.files.clone(),
        rotated: args.rotated,
        events: None,
        tasks: args.tasks.clone(),
        journal: args.journal.clone(),
        etc_pve: args.etc_pve.clone(),
        select: SelectArgs {
            since: args.since,
            ..everything_for_follow()
        },
        output: output_json(),
    };
    let plan = convert::Plan::new(&convert.files);
    let all_read = convert::run(&convert, &plan, make(plan.node_log, false))?;
    Ok(if all_read {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// Every event, of every class: what a sessions run feeds its book.
fn everything_for_follow() -> SelectArgs {
    SelectArgs {
        users: Vec::new(),
        class: Vec::new(),
        all: true,
        since: None,
        until: None,
        outcome: Vec::new(),
        vmid: Vec::new(),
        paths: Vec::new(),
    }
}

/// The renderer of a sessions run is never used for events; JSON needs no zone.
fn output_json() -> OutputArgs {
    OutputArgs {
        format: cli::Format::Json,
        node: None,
        show_secrets: false,
        no_comments: false,
    }
}

/// This host's short name, as PVE names nodes.
fn this_node() -> Option<String> {
    let name = std::fs::read_to_string(input::system_path("/proc/sys/kernel/hostname")).ok()?;
    let short = name.trim().split('.').next()?.to_string();
    (!short.is_empty()).then_some(short)
}

/// Rust ignores SIGPIPE, so a closed stdout shows up as an EPIPE error somewhere in the chain.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
