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
mod bytes;
mod cli;
mod cluster;
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
mod memo;
mod merge;
mod messages;
mod pipeline;
mod render;
mod request;
mod response;
mod secret;
mod session;
mod sink;
mod source;
mod time;
mod userid;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, OutputArgs, SelectArgs};

/// The whole program: what `pverec` does and the status it exits with.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "node-export") {
        return node_export(&args[1..]);
    }
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

/// `pverec node-export`: what a cluster read runs on the node it reads.
fn node_export(argv: &[std::ffi::OsString]) -> ExitCode {
    let args = match cli::NodeExportArgs::try_parse_from(argv) {
        Ok(args) => args,
        Err(err) => return messages::usage_error(&err),
    };
    if let Some(protocol) = args.probe {
        return if protocol == source::node::export::PROTOCOL {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    if args.protocol != source::node::export::PROTOCOL {
        messages::message("node-export: a protocol this pverec does not speak");
        return ExitCode::from(2);
    }
    let export = source::node::export::Export {
        rotated: args.rotated,
        classes: (!args.class.is_empty()).then(|| args.class.clone()),
        journal: (!args.no_journal).then(|| source::journal::Query {
            since: args.since,
            until: args.until,
            ..source::journal::Query::default()
        }),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match source::node::export::run(&export, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            messages::message(&format!("node-export: {e}"));
            ExitCode::from(1)
        }
    }
}

/// Runs a command and says how it ended.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Convert(args) if args.cluster.any() => {
            let plan = match cluster::Plan::new(&args.cluster, &args.etc_pve) {
                Ok(plan) => plan,
                Err(e) => {
                    messages::message(&e);
                    return Ok(ExitCode::from(2));
                }
            };
            let mut pipeline = pipeline(&args.select, &args.output, false, false);
            pipeline.on_nodes.clone_from(&args.nodes.on_node);
            let sources = cluster::Sources {
                files: &args.files,
                rotated: args.rotated,
                tasks: &args.tasks,
                journal: &args.journal,
                etc_pve: &args.etc_pve,
                select: &args.select,
                cluster: &args.cluster,
            };
            let all_read = cluster::run(&plan, &sources, pipeline)?;
            Ok(if all_read {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Convert(args) => {
            let plan = convert::Plan::new(&args.files);
            let pipeline = pipeline(&args.select, &args.output, plan.node_log, false);
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
            let pipeline = pipeline(&args.select, &args.output, node_log, true);
            follow::run(&args, pipeline)
        }
        Command::Sessions(args) => session::run::run(&args),
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

/// The pipeline both `convert` and `follow` (`live`) feed; the node defaults to this host's name
/// when the node's own log is read.
pub(crate) fn pipeline(
    select: &SelectArgs,
    output: &OutputArgs,
    node_log: bool,
    live: bool,
) -> pipeline::Pipeline {
    let node = output
        .node
        .clone()
        .or_else(|| if node_log { this_node() } else { None });
    let mut pipeline = pipeline::Pipeline::new(
        filter::Filter::new(select),
        render::Renderer::new(output.format, output.show_secrets, !output.no_comments),
        node,
    );
    // follow keeps reading while a sink is away; convert waits for it rather than drop.
    if let Some(queue) = sink::Queue::new(&output.sink.to, output.sink.sink_buffer, !live) {
        pipeline.output.send_to(queue);
    }
    pipeline
}

/// This host's short name, as PVE names nodes.
pub(crate) fn this_node() -> Option<String> {
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
