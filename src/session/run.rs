//! `pverec sessions`: the convert or the follow driver, with every event going to the
//! sessions book instead of a renderer.
//!
//! The drivers and the pipeline are the ones `convert` and `follow` use, so sessions read the
//! same sources the same way (rotated sets, the task index, the journal, `/etc/pve`, `--state`).
//! The pipeline's filter lets every event through: the session filters apply to whole sessions
//! (a UI session's login may be before `--since`).

use std::process::ExitCode;

use crate::cli::{self, FollowArgs, OutputArgs, SelectArgs, SessionsArgs};
use crate::{convert, follow, input};

use super::Book;
use super::render::Sessions;
use super::select::Select;

pub(crate) fn run(args: &SessionsArgs) -> anyhow::Result<ExitCode> {
    // --since also says where to start reading: the rotated generations convert reaches back
    // into, the history follow replays.
    let everything = SelectArgs {
        users: Vec::new(),
        class: Vec::new(),
        all: true,
        since: args.since,
        until: None,
        outcome: Vec::new(),
        vmid: Vec::new(),
        paths: Vec::new(),
    };
    // The renderer of a sessions run is never used for events.
    let output = OutputArgs {
        format: cli::Format::Json,
        node: args.log_node.clone(),
        show_secrets: false,
        no_comments: false,
        sink: args.sink.clone(),
    };
    let select = Select {
        status: args.status.clone(),
        kinds: args.kind.clone(),
        users: args.users.iter().map(|u| u.as_bytes().to_vec()).collect(),
        clients: args.client.iter().map(|c| Select::client(c)).collect(),
        vmids: args.vmid.clone(),
        nodes: args.node.clone(),
        since: args.since,
        until: args.until,
    };
    let pipeline = |node_log: bool, live: bool| {
        let mut events = everything.clone();
        if !live {
            // convert reads whole files: every line's event, whatever its time.
            events.since = None;
        }
        let mut pipeline = crate::pipeline(&events, &output, node_log, live);
        let node = pipeline.node.as_deref().map(str::to_owned);
        let book = Book::new(live, node);
        pipeline.sessions = Some(Box::new(Sessions::new(book, select, args.format)));
        pipeline
    };
    if args.follow {
        let follow = FollowArgs {
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
            cluster: args.cluster.clone(),
            nodes: cli::NodeSelectArgs::default(),
            select: everything.clone(),
            output: output.clone(),
        };
        let node_log = input::is_node_log(follow.log());
        return follow::run(&follow, pipeline(node_log, true));
    }
    let batch = cli::ConvertArgs {
        files: args.files.clone(),
        rotated: args.rotated,
        events: None,
        tasks: args.tasks.clone(),
        journal: args.journal.clone(),
        etc_pve: args.etc_pve.clone(),
        cluster: args.cluster.clone(),
        nodes: cli::NodeSelectArgs::default(),
        select: everything.clone(),
        output: output.clone(),
    };
    if args.cluster.any() {
        let plan = match crate::cluster::Plan::new(&args.cluster, &args.etc_pve) {
            Ok(plan) => plan,
            Err(e) => {
                crate::messages::message(&e);
                return Ok(ExitCode::from(2));
            }
        };
        let sources = crate::cluster::Sources {
            files: &batch.files,
            rotated: batch.rotated,
            tasks: &batch.tasks,
            journal: &batch.journal,
            etc_pve: &batch.etc_pve,
            select: &batch.select,
            cluster: &batch.cluster,
        };
        let all_read = crate::cluster::run(&plan, &sources, pipeline(false, false))?;
        return Ok(if all_read {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        });
    }
    let plan = convert::Plan::new(&batch.files);
    let all_read = convert::run(&batch, &plan, pipeline(plan.node_log, false))?;
    Ok(if all_read {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
