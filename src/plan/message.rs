//! Human text derived from a plan: commit messages (summary line, file
//! list, trailers) and unified diffs. Pure formatting, no decisions.

use similar::TextDiff;

use super::{FilePlan, FileState};
use crate::forge::VERSION_TRAILER;
use crate::lock::Source;

/// Trailer naming the platform revision a commit distributes.
pub const SOURCE_TRAILER: &str = "Distributor-Source:";
/// Trailer carrying the reason of a forced run.
pub const FORCE_TRAILER: &str = "Distributor-Force-Reason:";
/// Trailer of a rollback commit: `<from> -> <to>` (full revisions).
pub const ROLLBACK_TRAILER: &str = "Distributor-Rollback:";

/// A delivery that is part of a fleet rollback (`distributor rollback`, or
/// any run while the fleet is pinned): commits and pull requests say so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rollback {
    /// The revision rolled back to.
    pub to: String,
    /// The later revisions rolled back, newest first.
    pub from: Vec<String>,
    pub reason: String,
    pub operator: String,
    /// When the fleet was pinned (RFC 3339).
    pub since: String,
}

impl Rollback {
    /// `from revision c0ffee…, b4d… to a11… (by olivia): reason`.
    pub fn line(&self) -> String {
        format!(
            "from revision {} to {} (by {}): {}",
            revisions(&self.from),
            short(&self.to),
            self.operator,
            self.reason.replace(['\n', '\r'], " ")
        )
    }

    /// The trailer's value: the newest revision rolled back, and the target.
    fn trailer(&self) -> String {
        format!(
            "{} -> {}",
            self.from.first().map_or("(none)", String::as_str),
            self.to
        )
    }
}

/// Revisions, short, the first three then a count.
pub fn revisions(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(3).map(|r| short(r)).collect();
    match list.len() {
        0 => "no later revision".into(),
        n if n <= 3 => shown.join(", "),
        n => format!("{} and {} more", shown.join(", "), n - 3),
    }
}

/// A commit id cut to 12 digits.
pub fn short(rev: &str) -> &str {
    if rev.len() > 12 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        &rev[..12]
    } else {
        rev
    }
}

/// Which commit a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Direct,
    Proposal,
}

/// The verb for a file change in messages and plans.
pub fn verb(f: &FilePlan) -> &'static str {
    match (f.state, f.desired) {
        (_, None) => "delete",
        (FileState::Missing, _) => "create",
        (FileState::Drifted | FileState::Conflicted, _) => "overwrite",
        (FileState::Merged, _) => "merge",
        _ => "update",
    }
}

/// A commit message: summary, what changed and why, trailers.
pub fn commit_message(
    kind: Kind,
    files: &[&FilePlan],
    source: &Source,
    force_reason: Option<&str>,
    rollback: Option<&Rollback>,
) -> String {
    let n = files.len();
    let noun = if n == 1 { "file" } else { "files" };
    let mut msg = match (kind, force_reason, rollback) {
        (_, Some(_), Some(r)) => format!(
            "distributor: forced rollback of {n} managed {noun} to revision {}\n\n",
            short(&r.to)
        ),
        (Kind::Direct, None, Some(r)) => format!(
            "distributor: roll back {n} managed {noun} to revision {}\n\n",
            short(&r.to)
        ),
        (Kind::Proposal, None, Some(r)) => format!(
            "distributor: propose rollback of {n} managed {noun} to revision {}\n\n",
            short(&r.to)
        ),
        (_, Some(_), None) => format!("distributor: forced update of {n} managed {noun}\n\n"),
        (Kind::Direct, None, None) => format!("distributor: update {n} managed {noun}\n\n"),
        (Kind::Proposal, None, None) => {
            format!("distributor: propose update of {n} managed {noun}\n\n")
        }
    };
    if let Some(r) = rollback {
        msg.push_str(&format!("Rollback {}\n\n", r.line()));
    }
    if let Some(reason) = force_reason {
        msg.push_str(&format!("Reason: {reason}\n\n"));
    }
    msg.push_str("Rendered from the platform registry and templates:\n\n");
    let width = files.iter().map(|f| f.path.len()).max().unwrap_or(0);
    for f in files {
        let mut line = format!(
            "- {:<9} {:<width$}  ({})",
            verb(f),
            f.path,
            f.bundle,
            width = width
        );
        if let Some(r) = f.reason
            && f.state == FileState::Drifted
        {
            line.push_str(&format!(": {}", r.describe()));
        }
        msg.push_str(line.trim_end());
        msg.push('\n');
    }
    let merges: Vec<String> = files
        .iter()
        .filter_map(|f| Some(crate::merge::describe_plain(&f.path, f.merge.as_ref()?)))
        .collect();
    if !merges.is_empty() {
        msg.push_str("\n3-way merges of hand-edited files:\n\n");
        for m in merges {
            msg.push_str(m.trim_end());
            msg.push('\n');
        }
    }
    if kind == Kind::Proposal
        && files
            .iter()
            .any(|f| matches!(f.state, FileState::Drifted | FileState::Conflicted))
    {
        msg.push_str(
            "\nSome files were changed by hand. Merging this reverts them to the\n\
             template; to keep a change, make it in the platform templates instead.\n",
        );
    }
    msg.push('\n');
    msg.push_str(&format!("{SOURCE_TRAILER} {source}\n"));
    msg.push_str(&format!(
        "{VERSION_TRAILER} {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    if let Some(r) = rollback {
        msg.push_str(&format!("{ROLLBACK_TRAILER} {}\n", r.trailer()));
    }
    if let Some(reason) = force_reason {
        // Trailers are single lines.
        let one_line = reason.replace(['\n', '\r'], " ");
        msg.push_str(&format!("{FORCE_TRAILER} {one_line}\n"));
    }
    msg
}

/// A unified diff of `old` -> `new` for `path`, or a one-line note for
/// binary content.
pub fn unified_diff(path: &str, old: &[u8], new: &[u8], created: bool, deleted: bool) -> String {
    let (Ok(old), Ok(new)) = (std::str::from_utf8(old), std::str::from_utf8(new)) else {
        return format!("Binary file {path} differs\n");
    };
    let a = if created {
        "/dev/null".to_string()
    } else {
        format!("a/{path}")
    };
    let b = if deleted {
        "/dev/null".to_string()
    } else {
        format!("b/{path}")
    };
    let diff = TextDiff::from_lines(old, new);
    let mut out = diff
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string();
    if out.is_empty() {
        out = format!("--- {a}\n+++ {b}\n(file mode change only)\n");
    }
    out
}
