//! Markdown plan for CI step summaries and pull-request comments: the
//! fleet header (this revision's changes, then what was already pending),
//! a summary table, the rollout (waves, held and queued repos), then one
//! collapsible section per repo with its diffs, cut with a note before
//! GitHub's 1 MiB job-summary limit. `status` in markdown: the totals,
//! the waves and one table row per status record.

use std::fmt::Write;

use super::fleet::PlanView;
use super::record::{RepoRecord, StatusView};
use super::{describe_counts, describe_proposal, summarize};
use crate::plan::message::verb;
use crate::plan::{Plan, Route};

/// GitHub refuses a job summary over 1 MiB; the repo sections stop
/// before this many bytes so the note and errors still fit.
pub const SUMMARY_LIMIT: usize = 1024 * 1024 - 64 * 1024;

/// The plan as GitHub-flavoured markdown, complete, with a fleet header
/// made without a previous revision to compare with.
pub fn plan(plan: &Plan) -> String {
    let fleet = crate::fleet::summarize(plan, &Default::default());
    view(&PlanView {
        plan,
        fleet: &fleet,
        detail: true,
        diffs: true,
    })
}

/// The fleet header as a markdown list.
fn header(out: &mut String, fleet: &crate::fleet::FleetSummary) {
    for l in super::fleet::lines(fleet) {
        let body = l.trim_start();
        let depth = (l.len() - body.len()) / 2;
        let body = body.strip_prefix("* ").unwrap_or(body);
        let _ = match depth {
            0 => writeln!(out, "\n**{body}**\n"),
            d => writeln!(out, "{}- {body}", "  ".repeat(d - 1)),
        };
    }
    out.push('\n');
}

/// Waves, halt and the repos that wait, with their reasons.
fn rollout(out: &mut String, plan: &Plan) {
    waves(out, plan);
    waiting(out, plan);
}

/// The halt, and the waves in rollout order with their state.
fn waves(out: &mut String, plan: &Plan) {
    let Some(d) = &plan.rollout else { return };
    if let Some(h) = &d.halt {
        let _ = writeln!(
            out,
            "> **Rollout halted** since {}: {} (resume with `distributor resume {}`)\n",
            h.since, h.reason, h.revision
        );
    }
    if !d.waves.is_empty() {
        let _ = writeln!(
            out,
            "| wave | repos | in sync | state |\n|---|---:|---:|---|"
        );
        for w in &d.waves {
            let state = if w.open {
                "open".to_string()
            } else {
                format!("held: {}", w.waiting.as_deref().unwrap_or("waiting"))
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {state} |",
                w.name, w.repos, w.in_sync
            );
        }
        out.push('\n');
    }
}

/// The repos that wait, with their reasons.
fn waiting(out: &mut String, plan: &Plan) {
    let waiting: Vec<(String, String)> = plan
        .repos
        .iter()
        .filter_map(|r| {
            let p = r.policy.as_ref()?;
            (!p.decision.allows_writes()).then(|| (r.repo.to_string(), p.decision.line()))
        })
        .collect();
    if !waiting.is_empty() {
        let _ = writeln!(
            out,
            "Waiting ({} repo{}):\n",
            waiting.len(),
            super::plural(waiting.len())
        );
        for (repo, line) in waiting.iter().take(50) {
            let _ = writeln!(out, "- `{repo}`: {line}");
        }
        if waiting.len() > 50 {
            let _ = writeln!(out, "- and {} more", waiting.len() - 50);
        }
        out.push('\n');
    }
}

/// `status` as GitHub-flavoured markdown, from the status records: the
/// pin (while a rollback holds the fleet), the totals, the halt and waves, then one table row per repo with its
/// rollout decision and reason; rows stop (with a note) before
/// [`SUMMARY_LIMIT`].
pub fn status(view: &StatusView<'_>) -> String {
    let mut out = String::from("## distributor status\n");
    if let Some(pin) = view.pin {
        let _ = writeln!(out, "\n> **Pinned** {}", super::record::pin_words(pin));
    }
    for line in super::text::status_totals(&view.totals).lines() {
        if !line.is_empty() {
            let _ = writeln!(out, "\n{line}");
        }
    }
    out.push('\n');
    waves(&mut out, view.plan);
    out.push_str(
        "| repo | team | wave | status | files | pull request | rollout | reason |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for (i, r) in view.records.iter().enumerate() {
        if out.len() > SUMMARY_LIMIT {
            let _ = writeln!(
                out,
                "\n*{} more repos left out: GitHub's job summary limit. `distributor status --format json` lists them all.*",
                view.records.len() - i
            );
            break;
        }
        let _ = writeln!(out, "{}", status_row(r));
    }
    out
}

/// One repo's row of the status table.
fn status_row(r: &RepoRecord) -> String {
    let pr = r.pull_request.as_ref().map_or_else(
        || match &r.proposal {
            Some(_) if r.proposal_awaits_merge() => "awaiting merge".into(),
            Some(p) => p.clone(),
            None => "-".into(),
        },
        |p| match &p.open_for {
            Some(age) => format!("#{} (open {age})", p.number),
            None => format!("#{}", p.number),
        },
    );
    let mut rollout = r.decision.unwrap_or("-").to_string();
    if r.stale {
        rollout.push_str(", stale");
    }
    let reason = r
        .reason
        .clone()
        .into_iter()
        .chain(r.staleness_line())
        .chain(r.error.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let cells = [
        format!("`{}`", r.repo),
        r.team.clone(),
        r.wave.clone().unwrap_or_default(),
        r.status.as_str().to_string(),
        super::text::files_cell(r),
        pr,
        rollout,
        reason,
    ];
    let cells: Vec<String> = cells.iter().map(|c| cell(c)).collect();
    format!("| {} |", cells.join(" | "))
}

/// Text safe in a table cell: no pipes, no line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The plan view as GitHub-flavoured markdown, at most [`SUMMARY_LIMIT`]
/// bytes of repo sections.
pub fn view(view: &PlanView<'_>) -> String {
    let plan = view.plan;
    let s = summarize(plan);
    let mut out = String::new();
    let _ = writeln!(out, "## distributor plan\n");
    let _ = writeln!(
        out,
        "Platform source `{}` ({})\n",
        plan.source, plan.generator
    );
    header(&mut out, view.fleet);
    if let Some(reason) = &plan.force_reason {
        let _ = writeln!(out, "> **Forced run:** {reason}\n");
    }
    if let Some(r) = &plan.rollback {
        let _ = writeln!(out, "> **Rollback** {}\n", r.line());
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
    rollout(&mut out, plan);
    let mut cut = 0;
    let mut compact_heading = true;
    for r in plan.repos.iter().filter(|r| r.has_writes()) {
        if cut > 0 || out.len() > SUMMARY_LIMIT {
            cut += 1;
            continue;
        }
        if !view.detail {
            if compact_heading {
                let _ = writeln!(out, "### Repos to write ({})\n", s.repos_with_changes);
                compact_heading = false;
            }
            let _ = writeln!(
                out,
                "- **{}** ({}): {} -> {}",
                r.repo,
                r.team,
                super::fleet::repo_files(view.fleet, r),
                super::delivery_words(r)
            );
            continue;
        }
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
        for f in r.changes().filter(|_| view.diffs) {
            if let Some(d) = &f.diff {
                let _ = writeln!(out, "\n```diff\n{}```", d);
            }
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    if cut > 0 {
        let _ = writeln!(
            out,
            "\n> **Cut:** {cut} of {} repo sections left out to stay under GitHub's 1 MiB job-summary limit; `distributor plan --format json` has every repo.\n",
            s.repos_with_changes
        );
    }
    if !plan.errors.is_empty() {
        let _ = writeln!(out, "### Errors\n");
    }
    for (i, e) in plan.errors.iter().enumerate() {
        if out.len() > SUMMARY_LIMIT + 32 * 1024 {
            let _ = writeln!(out, "- and {} more errors (cut)", plan.errors.len() - i);
            break;
        }
        let _ = writeln!(out, "- `{}`: {}", e.repo, e.error);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Context, summarize as fleet_summary};
    use crate::forge::RepoId;
    use crate::lock::Source;
    use crate::plan::fixtures::{
        branch, desired, entry, lock_of, observe, plan as plan_repo, repo,
    };

    /// 1,000 repos, each with two changed files carrying a 2 KiB diff.
    fn thousand_repos() -> Plan {
        let want = [desired("a", "a2"), desired("b", "b2")];
        let obs = observe(
            branch(
                &[("a", entry("a1")), ("b", entry("b1"))],
                Some(lock_of(&[("a", "a1"), ("b", "b1")])),
            ),
            None,
        );
        let template = plan_repo(&repo("direct"), &want, &obs);
        let diff = format!(
            "--- a/a\n+++ b/a\n@@ -1 +1 @@\n{}",
            "-old line\n+new line\n".repeat(100)
        );
        let repos = (0..1000)
            .map(|i| {
                let mut r = template.clone();
                r.repo = RepoId::new("acme", format!("repo-{i:04}"));
                for f in &mut r.files {
                    f.diff = Some(diff.clone());
                }
                r
            })
            .collect();
        Plan {
            source: Source {
                revision: "rev".into(),
                dirty: false,
                digest: None,
            },
            generator: "distributor test".into(),
            force_reason: None,
            rollback: None,
            repos,
            errors: vec![],
            rollout: None,
        }
    }

    /// GitHub refuses a job summary over 1 MiB: a 1,000-repo plan with
    /// every diff is cut, says what was cut, and keeps the header.
    #[test]
    fn a_thousand_repo_plan_stays_under_the_job_summary_limit() {
        let plan = thousand_repos();
        let fleet = fleet_summary(&plan, &Context::default());
        let full = view(&PlanView {
            plan: &plan,
            fleet: &fleet,
            detail: true,
            diffs: true,
        });
        assert!(full.len() < 1024 * 1024, "{} bytes", full.len());
        assert!(full.starts_with("## distributor plan"));
        assert!(full.contains("reaches 1000 repos of team t"), "header kept");
        let cut = full
            .lines()
            .find(|l| l.starts_with("> **Cut:**"))
            .expect("a note says what was cut");
        assert!(
            cut.contains("repo sections left out to stay under GitHub's 1 MiB job-summary limit"),
            "{cut}"
        );
        let shown = full.matches("<details>").count();
        let left_out: usize = cut
            .trim_start_matches("> **Cut:** ")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert_eq!(shown + left_out, 1000, "{cut}");
        assert!(cut.contains("of 1000 repo sections"), "{cut}");
        eprintln!(
            "1,000 repos with diffs: {} bytes, {shown} sections shown, {left_out} cut",
            full.len()
        );

        // The compact form (the default for a fleet this size) fits whole.
        let compact = view(&PlanView {
            plan: &plan,
            fleet: &fleet,
            detail: false,
            diffs: false,
        });
        assert!(compact.len() < 1024 * 1024);
        assert!(!compact.contains("**Cut:**"));
        assert_eq!(compact.matches("\n- **acme/repo-").count(), 1000);
    }
}
