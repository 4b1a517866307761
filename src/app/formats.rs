//! Which `--format` values each command prints, and the error for one it
//! does not: checked before anything runs (`app::run`, `app::serve`), read
//! by `tests/formats.rs`, listed in docs/output.md.

use crate::cli::Command;
use crate::output::Format;

/// The formats `command` prints; any other `--format` is refused before
/// anything runs (docs/output.md lists them). `apply` prints its report as
/// text or JSON, and with `--dry-run` the plan, in every format.
pub fn formats(command: &Command) -> &'static [Format] {
    const ALL: &[Format] = &[Format::Text, Format::Json, Format::Markdown];
    const TEXT: &[Format] = &[Format::Text];
    match command {
        Command::Plan(_) => ALL,
        Command::Apply(a) if a.dry_run => ALL,
        Command::Apply(_) => &[Format::Text, Format::Json],
        Command::Status(_) => ALL,
        Command::Flags(_) => ALL,
        Command::Context(_) => &[Format::Text, Format::Json],
        Command::Rollback(a) if a.dry_run => ALL,
        Command::Rollback(_) => &[Format::Text, Format::Json],
        Command::Validate(_)
        | Command::Serve(_)
        | Command::Promote(_)
        | Command::Resume(_)
        | Command::Unpin(_)
        | Command::Init(_)
        | Command::Completions(_)
        | Command::Man => TEXT,
    }
}

/// The error for a `--format` `command` cannot print, naming the command
/// and what it prints: `` `distributor status` prints text or JSON only:
/// --format markdown is not supported``; `None` when it prints `format`.
pub fn refused_format(command: &Command, format: Format) -> Option<String> {
    use clap::ValueEnum;
    let allowed = formats(command);
    if allowed.contains(&format) {
        return None;
    }
    let names: Vec<&str> = allowed.iter().map(|f| format_name(*f)).collect();
    let prints = match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "nothing".to_string(),
    };
    let asked = format
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let hint = match command {
        Command::Apply(_) => " (`apply --dry-run` prints the plan in every format)",
        Command::Rollback(_) => " (`rollback --dry-run` prints the plan in every format)",
        Command::Serve(_) => {
            " (serve prints nothing on stdout; its logs follow --log-format or the config's log.format)"
        }
        _ => "",
    };
    Some(format!(
        "`distributor {}` prints {prints} only: --format {asked} is not supported{hint}",
        command.name()
    ))
}

/// A format as messages name it.
fn format_name(format: Format) -> &'static str {
    match format {
        Format::Text => "text",
        Format::Json => "JSON",
        Format::Markdown => "markdown",
    }
}
