//! The fleet header of `plan` as text and markdown: this revision's
//! changes with their reach, then what was already pending. Formats a
//! [`FleetSummary`]; computes nothing.

use std::fmt::Write;

use super::plural;
use crate::fleet::{ChangeGroup, FleetSummary, Pending, first_few};

/// Repos named in a line before the rest are counted.
const NAMED: usize = 6;

/// The plan view: the plan, its fleet summary, and how much to show.
pub struct PlanView<'a> {
    pub plan: &'a crate::plan::Plan,
    pub fleet: &'a FleetSummary,
    /// Per-repo files (and diffs when `diffs`); else one line per repo.
    pub detail: bool,
    pub diffs: bool,
}

/// Fleets with more repos to change than this get one line per repo
/// unless `--detail` (a few repos' full detail still reads at a glance).
pub const COMPACT_ABOVE: usize = 3;

/// Whether a plan shows its per-repo detail without `--detail`.
pub fn detail_by_default(plan: &crate::plan::Plan) -> bool {
    plan.repos.iter().filter(|r| r.has_writes()).count() <= COMPACT_ABOVE
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

/// The header lines, without markup (text), each without a newline.
pub fn lines(f: &FleetSummary) -> Vec<String> {
    let mut out = Vec::new();
    let head = match &f.baseline {
        Some(b) => format!("This revision, compared with {}:", short(b)),
        None => {
            "This revision (no previous revision to compare with: every pending change is listed):"
                .into()
        }
    };
    if f.changes.is_empty() {
        out.push(format!("{head} changes nothing in any repo."));
    } else {
        out.push(format!(
            "{head} {} change{}",
            f.changes.len(),
            plural(f.changes.len())
        ));
    }
    if !f.inputs.is_empty() {
        let shown: Vec<String> = f
            .inputs
            .iter()
            .take(NAMED)
            .map(|c| format!("{} {} ({})", c.kind.as_str(), c.name, c.detail))
            .collect();
        let more = f.inputs.len().saturating_sub(NAMED);
        let mut line = format!("  inputs changed: {}", shown.join("; "));
        if more > 0 {
            let _ = write!(line, "; and {more} more");
        }
        out.push(line);
    }
    for g in &f.changes {
        group_lines(g, &mut out);
    }
    out.push(pending_line(&f.pending_before));
    out
}

fn group_lines(g: &ChangeGroup, out: &mut Vec<String>) {
    let cause = if g.causes.is_empty() {
        String::new()
    } else {
        format!(" [{}]", g.causes.join("; "))
    };
    out.push(format!(
        "  * {} {} -> {}{cause}",
        if g.kind == "unknown" {
            "change of"
        } else {
            &g.kind
        },
        counted(&g.templates, "templates"),
        counted(&g.files, "files")
    ));
    out.push(format!(
        "    reaches {} repo{} of team{} {}: {}",
        g.repos.len(),
        plural(g.repos.len()),
        plural(g.teams.len()),
        g.teams.join(", "),
        first_few(&g.repos, NAMED)
    ));
    let envs = if g.environments.is_empty() {
        "none".to_string()
    } else {
        g.environments.join(", ")
    };
    let prod = if g.production.is_empty() {
        String::new()
    } else {
        format!(" (PRODUCTION: {})", g.production.join(", "))
    };
    out.push(format!(
        "    environments: {envs}{prod}; {}",
        routes_line(&g.routes)
    ));
    for w in &g.waits {
        out.push(format!(
            "    {} {} repo{} ({}): {}",
            w.decision,
            w.repos.len(),
            plural(w.repos.len()),
            w.reason,
            first_few(&w.repos, NAMED)
        ));
    }
}

/// `a` or `5 files: a, b, c and 2 more`.
fn counted(names: &[String], what: &str) -> String {
    match names.len() {
        1 => names[0].clone(),
        n => format!("{n} {what}: {}", first_few(names, 3)),
    }
}

fn routes_line(r: &crate::fleet::Routes) -> String {
    let mut parts = Vec::new();
    if r.direct_commits > 0 {
        parts.push(format!(
            "{} direct commit{}",
            r.direct_commits,
            plural(r.direct_commits)
        ));
    }
    if r.proposals_opened > 0 {
        parts.push(format!(
            "{} PR{} opened",
            r.proposals_opened,
            plural(r.proposals_opened)
        ));
    }
    if r.proposals_updated > 0 {
        parts.push(format!(
            "{} PR{} updated",
            r.proposals_updated,
            plural(r.proposals_updated)
        ));
    }
    if r.released > 0 {
        parts.push(format!("{} released", r.released));
    }
    if parts.is_empty() {
        "no delivery".into()
    } else {
        format!("delivered by {}", parts.join(", "))
    }
}

fn pending_line(p: &Pending) -> String {
    if p.repos == 0 {
        return "Already pending before this revision: nothing.".into();
    }
    let mut parts = Vec::new();
    if !p.unmerged_proposals.is_empty() {
        parts.push(format!(
            "unmerged proposals in {}",
            first_few(&p.unmerged_proposals, 4)
        ));
    }
    if p.drifted_files > 0 {
        parts.push(format!(
            "{} hand-edited file{}",
            p.drifted_files,
            plural(p.drifted_files)
        ));
    }
    if p.undelivered_files > 0 {
        parts.push(format!(
            "{} file{} of earlier revisions not delivered yet",
            p.undelivered_files,
            plural(p.undelivered_files)
        ));
    }
    format!(
        "Already pending before this revision: {} file{} in {} repo{} ({}).",
        p.files,
        plural(p.files),
        p.repos,
        plural(p.repos),
        parts.join("; ")
    )
}

/// `1 file of this revision, 10 pending before` for a repo's line.
pub fn repo_files(f: &FleetSummary, repo: &crate::plan::RepoPlan) -> String {
    let (now, before) = f.by_repo.get(&repo.repo).copied().unwrap_or_default();
    match (now, before) {
        (0, 0) => "no file changes".into(),
        (n, 0) => format!("{n} file{} of this revision", plural(n)),
        (0, b) => format!("{b} file{} pending before", plural(b)),
        (n, b) => format!("{n} file{} of this revision, {b} pending before", plural(n)),
    }
}
