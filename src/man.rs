//! The man page, generated from the clap definitions like `--help`, plus the sections an admin
//! needs on a node without the README (output formats, sources, files, environment, exit
//! status, examples), written here in roff.
//!
//! clap_mangen writes one page per subcommand and points the main page at `pverec-convert(1)`;
//! admins expect everything under `man pverec`, so the subcommand pages are folded in as
//! sections of one page: each subcommand's synopsis, description and options. The synopsis is
//! written here rather than by clap_mangen, whose synopsis leaves out the options' value names
//! (`[--since]` where a reader needs `[--since TIME]`). The examples and the exit status are
//! the `--help` text (`cli::EXAMPLES`), so the two cannot disagree.

use std::io::{self, Write};

use clap::ArgAction;
use clap_mangen::Man;

use crate::cli::Cli;

/// Renders the whole man page as roff.
pub(crate) fn render(out: &mut Vec<u8>) -> io::Result<()> {
    let mut page = Vec::new();
    render_page(&mut page)?;
    // Plain ASCII roff: every other character as a groff `\[uXXXX]` escape, so the page needs
    // no input-encoding guess (groff without preconv, mandoc) and renders the same everywhere.
    for c in String::from_utf8_lossy(&page).chars() {
        if c.is_ascii() {
            out.push(c as u8);
        } else {
            write!(out, "\\[u{:04X}]", u32::from(c))?;
        }
    }
    Ok(())
}

fn render_page(out: &mut Vec<u8>) -> io::Result<()> {
    let command = Cli::command();
    let subcommands: Vec<&clap::Command> = command
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    let man = Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    writeln!(out, ".SH SYNOPSIS")?;
    for sub in &subcommands {
        synopsis(out, sub)?;
    }
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    for sub in &subcommands {
        let name = format!("pverec {}", sub.get_name());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        synopsis(out, sub)?;
        let page = Man::new((*sub).clone().bin_name(&name));
        let mut section = Vec::new();
        page.render_description_section(&mut section)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page.render_options_section(&mut section)?;
        }
        // The sub-page's own sections become subsections of this one; its option groups
        // ("Sources", "Selection", "Output") are named as such, apart from the page's SOURCES.
        let mut section = String::from_utf8_lossy(&section)
            .replace(".SH DESCRIPTION\n", ".PP\n")
            .replace(".SH OPTIONS\n", ".SS Options\n");
        let mut headings: Vec<&str> = sub
            .get_arguments()
            .filter_map(|a| a.get_help_heading())
            .collect();
        headings.dedup();
        for heading in headings {
            section = section.replace(
                &format!(".SH {}\n", heading.to_uppercase()),
                &format!(".SS \"Options: {heading}\"\n"),
            );
        }
        out.extend_from_slice(section.replace("\n.SH ", "\n.SS ").as_bytes());
    }
    out.extend_from_slice(OUTPUT_FORMATS.as_bytes());
    out.extend_from_slice(SOURCES.as_bytes());
    let (examples, exit_status) = crate::cli::EXAMPLES
        .split_once("\n\n")
        .unwrap_or((crate::cli::EXAMPLES, ""));
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for line in exit_status.trim_start_matches("Exit status: ").lines() {
        writeln!(out, "{}", text(line))?;
    }
    out.extend_from_slice(ENVIRONMENT.as_bytes());
    out.extend_from_slice(FILES.as_bytes());
    writeln!(out, ".SH EXAMPLES\n.nf")?;
    for line in examples.trim_start_matches("Examples:\n").lines() {
        writeln!(out, "{}", text(line.strip_prefix("  ").unwrap_or(line)))?;
    }
    writeln!(out, ".fi")?;
    out.extend_from_slice(SEE_ALSO.as_bytes());
    man.render_version_section(out)?;
    Ok(())
}

/// One `.SY` synopsis of a subcommand: every option with its value name, `...` where it may be
/// repeated, then the operands.
fn synopsis(out: &mut Vec<u8>, cmd: &clap::Command) -> io::Result<()> {
    writeln!(out, ".SY \"pverec {}\"", cmd.get_name())?;
    for arg in cmd.get_arguments() {
        if arg.is_hide_set()
            || arg.is_positional()
            || matches!(arg.get_action(), ArgAction::Help | ArgAction::HelpLong)
        {
            continue;
        }
        let mut flag = Vec::new();
        if let Some(short) = arg.get_short() {
            flag.push(format!("\\fB\\-{}\\fR", text(&short.to_string())));
        }
        if let Some(long) = arg.get_long() {
            flag.push(format!("\\fB\\-\\-{}\\fR", text(long)));
        }
        let mut item = flag.join("|");
        if arg.get_action().takes_values() {
            item.push(' ');
            let values = arg.get_possible_values();
            // clap names a value after its argument when nothing else does (FORMAT).
            let named = arg.get_value_names().is_some_and(|names| {
                !(names.len() == 1 && names[0].eq_ignore_ascii_case(arg.get_id().as_str()))
            });
            if !named && !values.is_empty() {
                // `-f|--format pvesh|json|script`: the values say more than a name would.
                let values: Vec<String> = values
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| format!("\\fB{}\\fR", text(v.get_name())))
                    .collect();
                item.push_str(&values.join("|"));
            } else {
                item.push_str(&value_names(arg));
            }
        }
        let repeated = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
        if arg.is_required_set() {
            writeln!(out, "{item}{}", if repeated { "\\&..." } else { "" })?;
        } else {
            writeln!(out, "[{item}]{}", if repeated { "\\&..." } else { "" })?;
        }
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let names = value_names(arg);
        let repeated = matches!(arg.get_action(), ArgAction::Append);
        let dots = if repeated { "\\&..." } else { "" };
        if arg.is_required_set() {
            writeln!(out, "{names}{dots}")?;
        } else {
            writeln!(out, "[{names}]{dots}")?;
        }
    }
    writeln!(out, ".YS")
}

/// An argument's value names in italics, as `--help` shows them (`FILE`, `SHELL`).
fn value_names(arg: &clap::Arg) -> String {
    match arg.get_value_names() {
        Some(names) => names
            .iter()
            .map(|n| format!("\\fI{}\\fR", text(n)))
            .collect::<Vec<_>>()
            .join(" "),
        None => format!("\\fI{}\\fR", text(&arg.get_id().as_str().to_uppercase())),
    }
}

/// Text for a roff input line: backslashes and minus signs escaped, and a line that would
/// start with a control character made plain text.
fn text(line: &str) -> String {
    // `'` and `` ` `` as themselves: groff would print typographic quotes, and shell code in the
    // examples must be copied as it is.
    let escaped = line
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('\'', "\\(aq")
        .replace('`', "\\(ga");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// What each format prints, the JSON record's fields (src/render/json.rs) and the outcomes
/// (src/event.rs `Outcome`).
const OUTPUT_FORMATS: &str = r#".SH "OUTPUT FORMATS"
.TP
\fBpvesh\fR (default)
One pvesh command per request, path first, then the query parameters, and a trailing
\fB#\fR note where something is missing or failed: \fB# body not recorded\fR (a POST or PUT
whose body only the recorder spool has), \fB# HTTP 403\fR, \fB# failed: \fR\fIstatus\fR
(its task failed), \fB# WARNINGS: 1\fR, \fB# running: \fR\fIUPID\fR (its task still runs;
follow later prints \fB# task \fR\fIUPID\fR\fB: \fR\fIstatus\fR when it ends).
Requests without a pvesh form appear, when their class is selected, as
\fB# no pvesh form: \fR\fIrequest line\fR.
\fB\-\-no\-comments\fR leaves out notes and comment lines.
.TP
\fBjson\fR (\fB\-f json\fR)
JSON Lines: one audit record per line, for jq(1) or a SIEM.
Every field is always present (null when unknown) except \fBredacted\fR.
Characters a terminal would act on are written as \fB\eu\fR escapes.
.TP
\fBscript\fR (\fB\-f script\fR)
A bash script: a header saying what it was made from and which \fBPVE_SECRET_\fR variables it
needs (see \fBENVIRONMENT\fR), then per request a comment (time, user, client, outcome) and the
command.
Failed requests, and requests that cannot be replayed as they stand, are kept as comments only.
.SS "JSON fields"
.TP
\fBevent\fR
\fB"request"\fR for a request, \fB"task"\fR for a task that no logged request started
(class \fBtask\fR); \fB"task_end"\fR for the record follow writes
when the task of a request it has shown ends (with \fBupid\fR, \fBoutcome\fR, \fBtask\fR and
\fBrequest\fR, the \fBsource\fR of that request).
.TP
\fBtime\fR
The log time, in UTC: \fB"2026\-06\-24T12:03:14Z"\fR.
.TP
\fBnode\fR
The node: \fB\-\-node\fR, or this host's name for its own logs; else null.
.TP
\fBsource_ip\fR
The client address (an IPv4\-mapped IPv6 address shown as IPv4); null for \fB\-\fR.
.TP
\fBuser\fR, \fBtoken\fR
\fBalice@pve\fR and \fBci\fR for \fBalice@pve!ci\fR; null when unauthenticated or no token.
.TP
\fBmethod\fR, \fBpath\fR, \fBapi_format\fR
The HTTP method, the decoded path without \fB/api2/\fR\fIformat\fR and query, and that format
(\fBextjs\fR, \fBjson\fR, ...; null outside \fB/api2/\fR).
.TP
\fBclass\fR
\fBwrite\fR (POST, PUT, DELETE under /api2/), \fBread\fR (GET there), \fBauth\fR (logins and
tickets), \fBconsole\fR (console and websocket plumbing), \fBother\fR (everything outside
/api2/), \fBtask\fR (a task from the task index that no logged request started).
.TP
\fBtemplate\fR, \fBaction\fR
The API schema's path template (\fB/nodes/{node}/qemu/{vmid}/status/start\fR) and handler name
(\fBvm_start\fR); null when the path is not in the schema.
.TP
\fBobject\fR
What was acted on: \fB{"type": "qemu", "id": "100", "name": "web01"}\fR, or null;
guests have \fBname\fR, their name from /etc/pve (\fB\-\-etc\-pve\fR), null when unknown.
.TP
\fBparams\fR, \fBparams_source\fR, \fBredacted\fR
The parameters (a key given more than once maps to an array; secrets as
\fB"<redacted>"\fR); where they came from, \fB"query"\fR, \fB"spool"\fR, \fB"journal"\fR
(what qemu\-server logged of a VM change, \fBupdate VM\fR \fIN\fR\fB: \-key value\fR ...),
\fB"task_log"\fR (a backup job's first line in its task's log) or \fB"none"\fR; and
the names of the redacted ones (present only when something was redacted).
.TP
\fBunknown_params\fR
The parameters of a spool body that the endpoint's PVE 9 schema does not have (a newer PVE,
or a forged event); they stay in \fBparams\fR, and the call is not replayable. Present only
when there are some.
.TP
\fBhttp_status\fR, \fBbytes\fR
The logged status and response length; null when not logged.
.TP
\fBoutcome\fR
See \fBOutcomes\fR below.
.TP
\fBtask\fR
The task the request started: \fBupid\fR, \fBtype\fR, \fBid\fR, \fBpid\fR, \fBstart\fR,
\fBend\fR and \fBstatus\fR (the task's own words: \fBOK\fR, \fBWARNINGS: 1\fR, or the error);
null when the request started none or it was not found.
.TP
\fBpvesh\fR, \fBargv\fR, \fBnot_replayable\fR
The pvesh command line and its argv; null when the request has no pvesh form.
\fBnot_replayable\fR says why running it would not repeat the request (null when it would).
.TP
\fBrequest\fR
The raw request line of requests outside the API (secrets redacted); null for API calls.
.TP
\fBorigin\fR, \fBprogram\fR
\fB"api"\fR for a request, \fB"cli"\fR for work done on the node's shell, known from the
journal (\fBqm set\fR logs its change under the identifier \fBqm\fR and has no access.log
line), with the program in \fBprogram\fR; null where no source tells (a task without a
request, unless the journal names who forked it).
.TP
\fBprocess\fR
The process that did it, when a source tells: \fB{"name": "pvedaemon", "pid": 1234}\fR (the
worker that logged the login or the change), or a task's worker from its UPID; null otherwise.
.TP
\fBauth\fR
What the journal said of a login: \fB{"kind": ..., "reason": ...}\fR, kind \fBlogin\fR,
\fBrenewal\fR (a new ticket for the same user and client within two hours: the web UI renews
every 15 minutes), \fBconsole\fR, \fBpassword\fR, \fBopenid\fR, or \fBticket\fR (pveproxy
refused a ticket or token: a 401); reason is PVE's own words (\fBinvalid credentials\fR,
\fBfailed 2nd factor\fR, \fBno such user ('x@pam')\fR ...). The log writes \fB\-\fR as the
user of every login; with the journal, \fBuser\fR is the one who tried. null for other
requests.
.TP
\fBchanges\fR
follow with /etc/pve: what the request changed there, \fB[{"file": "nodes/pve1/qemu\-server/100.conf",
"section": null, "key": "memory", "old": "2048", "new": "4096"}]\fR (\fBsection\fR: a guest
config's \fBPENDING\fR or snapshot, a user.cfg record type, a section\-config \fBTYPE: ID\fR, a
firewall section; secrets redacted). Absent when nothing was seen. A write whose body no source
gave gets its parameters rebuilt from it: \fBparams_source\fR \fB"config"\fR.
.TP
\fBsource\fR
Where the event was read: \fB{"file": "/var/log/pveproxy/access.log", "line": 1234}\fR
(\fBline\fR null for a task from the task directory).
.SS "Change records"
follow with /etc/pve writes \fB{"event": "change", ...}\fR for a change that no request line
claimed within 10 s: \fBtime\fR (when it was seen), \fBnode\fR, \fBclass\fR \fB"change"\fR,
\fBfile\fR, \fBobject\fR (a guest, with its name), \fBchanges\fR, \fBorigin\fR
(\fB"unattributed"\fR, or \fB"request"\fR for the later work of a task\-starting write on the
same object, named in \fBrequest\fR, with its rebuilt \fBparams\fR and \fBpvesh\fR form), and
\fBsource\fR. Shown with \fB\-\-class change\fR or \fB\-\-all\fR, never with \fB\-\-user\fR.
.SS "Session records"
\fBpverec sessions \-f json\fR writes one object per session (\fBfollow\fR: \fBevent\fR
\fB"session_open"\fR and \fB"session_close"\fR): \fBkind\fR (\fBvnc\fR, \fBterm\fR,
\fBspice\fR, \fBshell\fR, \fBui\fR, \fBapi\fR), \fBuser\fR, \fBtoken\fR, \fBclient\fR,
\fBnode\fR, \fBvmid\fR, \fBname\fR, \fBopened\fR, \fBclosed\fR (null while ongoing),
\fBduration\fR (seconds), \fBstatus\fR (\fBongoing\fR, \fBcompleted\fR, \fBunknown\fR),
\fBended\fR (a console's task status; \fBexpired\fR, \fBlogged out\fR, \fBnew login\fR,
\fBidle\fR), \fBconnected\fR (when the console's client came), \fBrequests\fR, \fBwrites\fR,
\fBrenewals\fR, \fBfirst_action\fR, \fBlast_action\fR (ui and api), and \fBevidence\fR
(\fB{"lines": ["access.log:12", ...], "upids": [...]}\fR). \fB\-f csv\fR has the same columns.
.SS Outcomes
.TP
\fBsuccess\fR
It worked: its task ended \fBOK\fR or \fBWARNINGS: \fR\fIN\fR, or, without a task, the
answer says so. This is what to replay.
.TP
\fBfailure\fR
It did not: its task ended with an error, or the HTTP status (or, for /api2/extjs, the
length of the answer) says it failed.
.TP
\fBpending\fR
Its task is still running.
.TP
\fBunknown\fR
The log cannot tell: /api2/extjs calls answer HTTP 200 even on errors, and a task\-starting
call whose task was not found (no task index read, a request proxied to another node) has no
outcome of its own.
.TP
\fBnot_executed\fR
It never ran: pveproxy redirected it (to HTTPS).
"#;

/// Which files pverec reads, and when (README "Outcomes and bodies", follow's sections).
const SOURCES: &str = r#".SH SOURCES
.TP
\fB/var/log/pveproxy/access.log\fR
pveproxy's request log, one line per API request: read when no \fIFILE\fR is given (and
standard input is a terminal or /dev/null), and followed by \fBfollow\fR.
With \fB\-\-rotated\fR, each \fIFILE\fR stands for its rotated set, oldest first
(\fIFILE\fR\fB.7.gz\fR ... \fIFILE\fR\fB.2.gz\fR, \fIFILE\fR\fB.1\fR, \fIFILE\fR), merged by
time; \fB\-\-since\fR on the node's own log (and \fBfollow \-\-since\fR) reads as far back
into that set as \fITIME\fR reaches.
Gzip files are recognised by their content, not their name.
.TP
\fBstandard input\fR
Read for the \fIFILE\fR \fB\-\fR, and by \fBconvert\fR without \fIFILE\fR when it is a pipe or a
file (\fBzcat access.log.2.gz | pverec convert\fR).
.TP
\fB/var/log/pve/tasks\fR (\fB\-\-tasks\fR \fIDIR\fR)
The task index (\fBindex\fR, \fBindex.1\fR, \fBactive\fR), read with the node's own logs or
with \fB\-\-tasks\fR: each task\-starting request is joined with the task it started, which
gives its UPID and its outcome. Without it those requests' outcomes stay unknown (said once
on stderr).
\fBfollow\fR watches the directory and reports tasks as they end.
\fB\-\-no\-tasks\fR leaves it out.
.TP
\fB/run/pve\-api\-record\fR (\fBfollow \-\-spool\fR \fIDIR\fR)
The request recorder's spool (an opt\-in pveproxy patch), used by \fBfollow\fR when the
directory exists: pverec registers there and takes each request's parameters, bodies
included, from it. \fBconvert \-\-events\fR \fIFILE\fR reads a saved events file instead.
\fB\-\-no\-spool\fR leaves it out.
.PP
The task index, the spool and the host's name are used by default only for the node's own
logs (files under /var/log/pveproxy/): a log copied from another node is not joined with this
node's tasks unless \fB\-\-tasks\fR and \fB\-\-node\fR say so.
"#;

const ENVIRONMENT: &str = r#".SH ENVIRONMENT
.TP
\fBPVE_SECRET_\fR\fI...\fR
Redacted values (passwords, tickets, keys) are printed in commands as
\fB"${PVE_SECRET_\fR\fI...\fR\fB:?redacted}"\fR: run as it stands, such a command stops with
that message; export the variable with the real value to run it.
A \fB\-f script\fR header lists each variable the script needs and what it stood for.
\fB\-\-show\-secrets\fR prints the values instead.
.TP
\fBTZ\fR
The time zone of times read and shown for people: \fB\-\-since\fR and \fB\-\-until\fR dates
without an offset, the times of notes, script headers and messages (with their offset).
JSON times are always UTC.
.TP
\fBNO_COLOR\fR
When set and not empty, \fB\-\-help\fR and usage errors are printed without colour on a
terminal too. The output formats and messages never use colour.
"#;

/// The files pverec reads and writes. /etc/logrotate.d/pve is pve-manager's
/// `configs/pve.logrotate` (installed there by `configs/Makefile`): daily, 7 generations,
/// `delaycompress`, hence `access.log.1` plain and the older ones gzip.
const FILES: &str = r#".SH FILES
.TP
\fB/var/log/pveproxy/access.log\fR, \fBaccess.log.1\fR, \fBaccess.log.\fR\fIN\fR\fB.gz\fR
The log and its rotated generations (rotated daily by /etc/logrotate.d/pve).
.TP
\fB/var/log/pve/tasks/index\fR, \fBindex.1\fR, \fBactive\fR
The task index: finished tasks (about 2,000 over the two generations) and running ones.
.TP
\fB/run/pve\-api\-record/\fR\fIPID\fR\fB.req\fR, \fIPID\fR\fB.events\fR
follow's registration with the request recorder (locked while it runs, removed on exit) and
the events pveproxy writes for it.
.TP
\fB\-\-state\fR \fIFILE\fR, \fIFILE\fR\fB.tmp\fR
follow's checkpoint (mode 0600), replaced atomically through \fIFILE\fR\fB.tmp\fR; missing
directories are created (mode 0700). \fBsessions \-\-follow\fR keeps the sessions still open in it.
.TP
\fIFILE\fR\fB.etc\-pve\fR
follow's copy of the tracked files of /etc/pve as last seen (mode 0600), so that a restart
reports what changed while it was stopped.
.TP
\fB/etc/pve\fR
Guest names (\fB.vmlist\fR, the configs' \fBname:\fR or \fBhostname:\fR); in follow, the
configuration files whose changes are watched (\fB.version\fR and \fB.vmlist\fR counters, looked at
every 2 s). \fBpriv/\fR is never read.
"#;

const SEE_ALSO: &str = r#".SH "SEE ALSO"
pvesh(1), journalctl(1), jq(1), logrotate(8), pveproxy(8)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_text_is_escaped() {
        assert_eq!(text("a-b"), "a\\-b");
        assert_eq!(text(".x"), "\\&.x");
        assert_eq!(text("'x"), "\\(aqx");
        assert_eq!(text("a\\b"), "a\\eb");
    }

    #[test]
    fn page_is_ascii_and_has_value_names_in_the_synopsis() {
        let mut out = Vec::new();
        render(&mut out).unwrap();
        assert!(out.is_ascii());
        let page = String::from_utf8(out).unwrap();
        assert!(
            page.contains("[\\fB\\-\\-since\\fR \\fITIME\\fR]"),
            "{page}"
        );
        assert!(page.contains("[\\fB\\-u\\fR|\\fB\\-\\-user\\fR \\fIUSER\\fR]\\&..."));
    }
}
