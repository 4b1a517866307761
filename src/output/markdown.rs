//! Markdown plan for CI step summaries and pull-request comments: a summary
//! table, then one collapsible section per repo with its diffs.

use std::fmt::Write;

use super::{describe_counts, describe_proposal, summarize};
use crate::plan::message::verb;
use crate::plan::{Plan, Route};

/// The plan as GitHub-flavoured markdown.
pub fn plan(plan: &Plan) -> String {
    let s = summarize(plan);
    let mut out = String::new();
    let _ = writeln!(out, "## distributor plan\n");
    let _ = writeln!(
        out,
        "Platform source `{}` ({})\n",
        plan.source, plan.generator
    );
    if let Some(reason) = &plan.force_reason {
        let _ = writeln!(out, "> **Forced run:** {reason}\n");
    }
    let _ = writeln!(
        out,
        "| repos | to change | direct commits | proposals | files | drifted | errors |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} |\n",
        s.repos,
        s.repos_with_changes,
        s.direct_commits,
        s.proposals_to_write,
        s.files_to_change,
        s.drifted_files,
        s.errors
    );
    if s.repos_with_changes == 0 && s.errors == 0 {
        let _ = writeln!(out, "No changes: every repository is in sync.");
    }
    for r in plan.repos.iter().filter(|r| r.has_writes()) {
        let _ = writeln!(
            out,
            "<details><summary><b>{}</b> ({})</summary>\n",
            r.repo,
            describe_counts(r)
        );
        let _ = writeln!(out, "Delivery: {}\n", r.delivery_reason);
        let _ = writeln!(out, "| change | path | state | to |");
        let _ = writeln!(out, "|---|---|---|---|");
        for f in r.changes() {
            let to = match f.route {
                Route::Direct => "direct commit",
                Route::Proposal => "proposal",
                Route::Release => "released",
                Route::None => "-",
            };
            let verb = if f.route == Route::Release {
                "release"
            } else {
                verb(f)
            };
            let state = match f.reason {
                Some(reason) => format!("{} ({})", f.state.as_str(), reason.describe()),
                None => f.state.as_str().to_string(),
            };
            let _ = writeln!(out, "| {verb} | `{}` | {state} | {to} |", f.path);
        }
        if let Some(p) = describe_proposal(r) {
            let _ = writeln!(out, "\nProposal: {p}");
        }
        if let Some(a) = r.pull_request_action.line() {
            let _ = writeln!(out, "\nPull request: {a}");
        }
        if let Some(e) = r.policy.as_ref().and_then(|p| p.escalation.as_ref()) {
            let _ = writeln!(
                out,
                "\nEscalation: comment on #{} mentioning the owners, label `{}`",
                e.number, e.label
            );
        }
        for f in r.changes() {
            if let Some(d) = &f.diff {
                let _ = writeln!(out, "\n```diff\n{}```", d);
            }
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    if !plan.errors.is_empty() {
        let _ = writeln!(out, "### Errors\n");
        for e in &plan.errors {
            let _ = writeln!(out, "- `{}`: {}", e.repo, e.error);
        }
    }
    out
}
