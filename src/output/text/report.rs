//! The text of what `apply` did: a line per repo that changed or failed
//! (repos left for later for one same reason grouped), the `Applied:`
//! totals, and the table of audited outcomes of a forced run or a
//! rollback.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::Style;
use crate::apply::{ApplyReport, ProposalOutcome, PullRequestOutcome, Tally};
use crate::output::plural;

/// The final table of a forced run: what changed, what was already fixed,
/// what failed and why, so an operator knows what still needs hands.
pub fn forced_table(report: &ApplyReport, heading: &str, st: Style) -> String {
    use crate::audit::{Outcome, outcome};
    let mut out = format!("\n{heading}:\n");
    let width = report
        .repos
        .iter()
        .map(|r| r.repo.to_string().len())
        .max()
        .unwrap_or(0);
    for want in [
        Outcome::Changed,
        Outcome::Proposed,
        Outcome::Deferred,
        Outcome::Skipped,
        Outcome::Unknown,
        Outcome::Failed,
    ] {
        for r in report.repos.iter().filter(|r| outcome(r) == want) {
            let (word, detail) = match want {
                Outcome::Changed => (
                    st.green("CHANGED"),
                    format!(
                        "commit {}{}",
                        r.commit.map(|c| c.to_string()).unwrap_or_default(),
                        closed_pull_request(r)
                            .map(|n| format!(", superseded pull request #{n} closed"))
                            .unwrap_or_default()
                    ),
                ),
                Outcome::Proposed => (
                    st.green("PROPOSED"),
                    format!(
                        "proposal commit {}{}",
                        match &r.proposal {
                            crate::apply::ProposalOutcome::Created { commit, .. }
                            | crate::apply::ProposalOutcome::Updated { commit, .. } =>
                                commit.to_string(),
                            _ => String::new(),
                        },
                        r.pull_request
                            .as_ref()
                            .map(|p| format!(", pull request #{}", p.number))
                            .unwrap_or_default()
                    ),
                ),
                Outcome::Deferred => (
                    st.dim("DEFERRED"),
                    r.deferred.as_ref().map(|d| d.line()).unwrap_or_default(),
                ),
                Outcome::Skipped => (
                    st.dim("SKIPPED"),
                    format!(
                        "already fixed: nothing to change{}",
                        closed_pull_request(r)
                            .map(|n| format!(", pull request #{n} closed"))
                            .unwrap_or_default()
                    ),
                ),
                Outcome::Unknown => (
                    st.red("UNKNOWN"),
                    "files were written but no default-branch commit was reported: check the repo"
                        .to_string(),
                ),
                Outcome::Failed => (
                    st.red("FAILED "),
                    r.error
                        .as_deref()
                        .unwrap_or_default()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            };
            let _ = writeln!(out, "  {word}  {:<width$}  {detail}", r.repo.to_string());
        }
    }
    let count = |o: Outcome| report.repos.iter().filter(|r| outcome(r) == o).count();
    let optional = |o: Outcome, word: &str| match count(o) {
        0 => String::new(),
        n => format!(", {n} {word}"),
    };
    let _ = writeln!(
        out,
        "\n{} changed{}{}, {} skipped (already fixed){}, {} failed ({} repo{}){}",
        count(Outcome::Changed),
        optional(Outcome::Proposed, "proposed"),
        optional(Outcome::Deferred, "deferred"),
        count(Outcome::Skipped),
        optional(Outcome::Unknown, "unknown"),
        count(Outcome::Failed),
        report.repos.len(),
        plural(report.repos.len()),
        if count(Outcome::Failed) + count(Outcome::Unknown) > 0 {
            ": the failed repos still need hands"
        } else {
            ""
        }
    );
    out
}

/// The pull request a run closed on the repo, if it closed one.
fn closed_pull_request(r: &crate::apply::RepoReport) -> Option<u64> {
    r.pull_request
        .as_ref()
        .filter(|p| p.action == PullRequestOutcome::Closed)
        .map(|p| p.number)
}

/// What `apply` did, one line per repo that changed or failed.
pub fn apply(report: &ApplyReport, st: Style) -> String {
    let mut out = String::new();
    // Repos left for later for one same reason (a held wave, a spent
    // budget) are one line when there are many of them: a fleet's held
    // wave must not print a thousand identical lines.
    let grouped = crowded_deferrals(report);
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &report.repos {
        if let Some(line) = only_deferred(r).filter(|l| grouped.contains(l)) {
            groups.entry(line).or_default().push(r.repo.to_string());
            continue;
        }
        if let Some(e) = &r.error {
            let _ = writeln!(out, "{}: {} {e}", r.repo, st.red("FAILED"));
            continue;
        }
        let mut parts = Vec::new();
        if let Some(c) = r.commit {
            parts.push(format!("committed {}", c.short()));
        }
        match &r.proposal {
            ProposalOutcome::None => {}
            ProposalOutcome::Created { branch, commit } => {
                parts.push(format!("proposal {branch} created ({})", commit.short()))
            }
            ProposalOutcome::Updated { branch, commit } => {
                parts.push(format!("proposal {branch} updated ({})", commit.short()))
            }
            // Pending and unchanged: counted as unchanged, not listed.
            ProposalOutcome::UpToDate { .. } => {}
            ProposalOutcome::Closed { branch } => parts.push(format!("proposal {branch} deleted")),
            ProposalOutcome::LeftAlone { branch, reason } => {
                parts.push(format!("proposal {branch} left alone: {reason}"))
            }
        }
        if let Some(pr) = &r.pull_request {
            let action = match pr.action {
                PullRequestOutcome::Opened => "opened",
                PullRequestOutcome::Updated => "updated",
                PullRequestOutcome::Unchanged => "open",
                PullRequestOutcome::Closed => "closed",
                PullRequestOutcome::LeftAlone => "left alone",
            };
            if pr.action != PullRequestOutcome::Unchanged || !parts.is_empty() {
                parts.push(format!("pull request #{} {action} ({})", pr.number, pr.url));
            }
        }
        if let Some(why) = &r.fallback {
            parts.push(why.clone());
        }
        if let Some(d) = &r.deferred {
            parts.push(d.line());
        }
        if r.escalated {
            parts.push("stale pull request escalated to the team owners".into());
        }
        for w in &r.warnings {
            parts.push(format!("{} {w}", st.yellow("warning:")));
        }
        if r.replanned {
            parts.push("re-planned after the branch moved".into());
        }
        if r.files_changed == 0 && parts.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{}: {}", r.repo, parts.join("; "));
    }
    for (line, repos) in &groups {
        let named = repos.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            out,
            "{} repos: {line} ({named} and {} more)",
            repos.len(),
            repos.len() - 3
        );
    }
    let _ = writeln!(out, "\n{}", applied_line(&report.tally(), st));
    out
}

/// More repos than this left for later for the same reason print as one
/// line.
const DEFERRED_LISTED: usize = 3;

/// The decision line of a repo the run only left for later (nothing
/// written, nothing failed).
fn only_deferred(r: &crate::apply::RepoReport) -> Option<String> {
    let quiet = r.error.is_none()
        && r.commit.is_none()
        && r.files_changed == 0
        && !r.escalated
        && r.warnings.is_empty()
        && r.fallback.is_none()
        && matches!(
            r.proposal,
            ProposalOutcome::None | ProposalOutcome::UpToDate { .. }
        )
        && r.pull_request
            .as_ref()
            .is_none_or(|p| p.action == PullRequestOutcome::Unchanged);
    quiet
        .then(|| r.deferred.as_ref().map(|d| d.line()))
        .flatten()
}

/// The deferral lines shared by more than [`DEFERRED_LISTED`] repos.
fn crowded_deferrals(report: &ApplyReport) -> BTreeSet<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in report.repos.iter().filter_map(only_deferred) {
        *counts.entry(line).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > DEFERRED_LISTED)
        .map(|(line, _)| line)
        .collect()
}

/// The last line of `apply`: every repo of the run under one outcome
/// (outcomes no repo had are left out, but for changed, unchanged and
/// failed), and the number of repos they add up to.
pub fn applied_line(t: &Tally, st: Style) -> String {
    let mut parts = vec![format!("{} repo{} changed", t.changed, plural(t.changed))];
    if t.branch_deleted > 0 {
        parts.push(format!(
            "{} proposal branch{} deleted",
            t.branch_deleted,
            if t.branch_deleted == 1 { "" } else { "es" }
        ));
    }
    parts.push(format!("{} unchanged", t.unchanged));
    for (n, word) in [(t.queued, "queued"), (t.held, "held"), (t.halted, "halted")] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let failed = match t.failed {
        0 => "0".to_string(),
        n => st.red(&n.to_string()),
    };
    parts.push(format!("{failed} failed"));
    format!(
        "Applied: {} ({} repo{}).",
        parts.join(", "),
        t.total(),
        plural(t.total())
    )
}
