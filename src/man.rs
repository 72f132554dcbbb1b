//! The man page, generated from the clap definitions like `--help`.
//!
//! clap_mangen writes one page per subcommand and points the main page at `pverec-convert(1)`;
//! admins expect everything under `man pverec`, so the subcommand pages are folded in as
//! sections of one page: each subcommand's synopsis, description and options.

use std::io::{self, Write};

use clap_mangen::Man;

use crate::cli::Cli;

/// Renders the whole man page as roff.
pub(crate) fn render(out: &mut Vec<u8>) -> io::Result<()> {
    let command = Cli::command();
    let man = Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("pverec {}", sub.get_name());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        let page = Man::new(sub.clone().bin_name(&name));
        let mut section = Vec::new();
        page.render_synopsis_section(&mut section)?;
        page.render_description_section(&mut section)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page.render_options_section(&mut section)?;
        }
        // The sub-page's own sections become subsections of this one.
        let section = String::from_utf8_lossy(&section)
            .replace(".SH SYNOPSIS\n", "")
            .replace(".SH DESCRIPTION\n", ".PP\n")
            .replace(".SH OPTIONS\n", ".SS Options\n")
            .replace("\n.SH ", "\n.SS ");
        out.extend_from_slice(section.as_bytes());
    }
    let (examples, exit_status) = crate::cli::EXAMPLES
        .split_once("\n\n")
        .unwrap_or((crate::cli::EXAMPLES, ""));
    for (title, text) in [
        ("EXAMPLES", examples.trim_start_matches("Examples:\n")),
        ("EXIT STATUS", exit_status),
    ] {
        writeln!(out, ".SH \"{title}\"\n.nf")?;
        for line in text.lines() {
            writeln!(out, "{}", line.replace('\\', "\\\\").replace('-', "\\-"))?;
        }
        writeln!(out, ".fi")?;
    }
    man.render_version_section(out)?;
    Ok(())
}
