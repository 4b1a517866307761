//! `distributor completions SHELL` and `distributor man`: shell completion
//! scripts and the man page, generated from the clap definitions in
//! [`crate::cli`] so they never fall behind the options. Writes to the
//! given output only; the Debian package (`packaging/deb`) ships both.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::app::exit;
use crate::cli::Cli;

/// The name completions register for: the installed binary's.
const BIN: &str = "distributor";

/// Writes the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut impl Write) -> Result<u8> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
    out.write_all(&buf)?;
    out.flush()?;
    Ok(exit::OK)
}

/// Writes the man page, section 1, in roff: name, synopsis, description,
/// the shared options in one section per `--help` heading (global
/// options, filters, output, GitHub), then a COMMANDS section with each command's usage
/// and options (hidden ones left out; one page, so no `distributor-plan(1)`
/// references to pages that do not exist), and the version.
pub fn man(out: &mut impl Write) -> Result<u8> {
    let cmd = Cli::command();
    let page = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    page.render_title(&mut buf)?;
    page.render_name_section(&mut buf)?;
    page.render_synopsis_section(&mut buf)?;
    page.render_description_section(&mut buf)?;
    page.render_options_section(&mut buf)?;
    writeln!(buf, ".SH COMMANDS")?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let usage = sub.clone().bin_name(format!("{BIN} {name}")).render_usage();
        writeln!(buf, ".SS \"{BIN} {name}\"")?;
        writeln!(buf, "{}", roff_text(&about))?;
        writeln!(buf, ".PP")?;
        writeln!(buf, "{}", roff_text(&usage.to_string()))?;
        for arg in sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help")
        {
            writeln!(buf, ".TP\n\\fB{}\\fR", roff_text(&arg_name(arg)))?;
            let help = arg.get_long_help().or(arg.get_help());
            writeln!(
                buf,
                "{}",
                roff_text(&help.map(|h| h.to_string()).unwrap_or_default())
            )?;
        }
    }
    page.render_version_section(&mut buf)?;
    out.write_all(&buf)?;
    out.flush()?;
    Ok(exit::OK)
}

/// How an argument is written: `--long`, `-s, --long` or `<NAME>`.
fn arg_name(arg: &clap::Arg) -> String {
    match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => format!("-{s}, --{l}"),
        (None, Some(l)) => format!("--{l}"),
        (Some(s), None) => format!("-{s}"),
        (None, None) => format!("<{}>", arg.get_id().as_str().to_uppercase()),
    }
}

/// `text` as a roff paragraph: a leading `.` or `'` would be a request,
/// and a backslash an escape.
fn roff_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\e");
            if line.starts_with(['.', '\'']) {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
