//! Plain-text plan, status and apply output for terminals and logs. Colour
//! is a parameter: the caller decides (terminal, `--color`, `NO_COLOR`).

use std::fmt::Write;

use super::fleet::PlanView;
use super::record::{RepoRecord, StatusView, Totals};
use super::{describe_counts, describe_proposal, plural, summarize};

use crate::fleet::FleetSummary;
use crate::plan::message::verb;
use crate::plan::{FilePlan, Plan, RepoStatus, Route};

/// ANSI styling, off unless enabled.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

fn file_line(st: Style, f: &FilePlan) -> String {
    let (sign, painted) = match (f.route, verb(f)) {
        (Route::Release, _) => ("=", st.dim("release")),
        (_, "create") => ("+", st.green("create")),
        (_, "delete") => ("-", st.red("delete")),
        (_, "overwrite") => ("!", st.yellow("overwrite")),
        (_, v) => ("~", st.cyan(v)),
    };
    let mut line = format!(
        "  {sign} {painted:<w$} {}  [{}",
        f.path,
        f.state.as_str(),
        w = if st.color { 9 + 9 } else { 9 }
    );
    if let Some(r) = f.reason {
        let _ = write!(line, ": {}", r.describe());
    }
    line.push(']');
    match f.route {
        Route::Direct => line.push_str(" -> direct commit"),
        Route::Proposal => line.push_str(" -> proposal"),
        _ => {}
    }
    if let Some(m) = &f.merge {
        for l in crate::merge::describe_plain(&f.path, m).lines() {
            let _ = write!(line, "\n      {l}");
        }
    }
    if let Some(n) = &f.note {
        let _ = write!(line, "\n      note: {n}");
    }
    line
}

/// The rollout section of `plan` and `status`: revision, halt, waves,
/// budgets.
fn rollout_section(plan: &Plan, st: Style) -> String {
    let mut out = String::new();
    let Some(d) = &plan.rollout else {
        return out;
    };
    let b = &d.budget;
    let limited = b.pr_hourly_limit.is_some()
        || b.pr_concurrent_limit.is_some()
        || b.direct_commits_per_run.is_some();
    let stale = plan
        .repos
        .iter()
        .filter(|r| r.policy.as_ref().is_some_and(|p| p.staleness.stale))
        .count();
    if d.halt.is_none() && d.waves.is_empty() && !limited && stale == 0 {
        return out;
    }
    let _ = writeln!(out, "\nRollout of revision {}:", d.revision);
    if let Some(h) = &d.halt {
        let _ = writeln!(
            out,
            "  {} since {}: {}\n  resume with: distributor resume {}",
            st.red("HALTED"),
            h.since,
            h.reason,
            h.revision
        );
    }
    for w in &d.waves {
        let mut line = format!(
            "  wave {}: {} of {} repo{} in sync",
            w.name,
            w.in_sync,
            w.repos,
            plural(w.repos)
        );
        if let Some(s) = &w.in_sync_since {
            let _ = write!(line, " since {s}");
        }
        if let Some(s) = &w.soak {
            let _ = write!(line, ", soak {s}");
        }
        if let Some(by) = &w.promoted_by {
            let _ = write!(line, ", promoted by {by}");
        }
        let state = if w.open {
            st.green("open")
        } else {
            st.yellow(&format!(
                "held: {}",
                w.waiting.as_deref().unwrap_or("waiting")
            ))
        };
        let _ = writeln!(out, "{line}; {state}");
    }
    if limited {
        let cap = |l: Option<u32>| {
            l.map(|n| n.to_string())
                .unwrap_or_else(|| "no limit".into())
        };
        let _ = writeln!(
            out,
            "  budget: {} pull requests opened in the last hour (limit {}), {} open (limit {}), direct commits per run limit {}; {} repo{} queued",
            b.prs_opened_last_hour,
            cap(b.pr_hourly_limit),
            b.open_prs,
            cap(b.pr_concurrent_limit),
            cap(b.direct_commits_per_run),
            b.queued,
            plural(b.queued)
        );
    }
    if stale > 0 {
        let _ = writeln!(
            out,
            "  {} stale repo{}",
            st.yellow(&stale.to_string()),
            plural(stale)
        );
    }
    out
}

/// The policy line of a repo that has something to deliver, or its
/// staleness.
fn policy_lines(r: &crate::plan::RepoPlan) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = &r.policy {
        if !matches!(p.decision, crate::rollout::Decision::Idle) {
            out.push(format!("policy: {}", p.decision.line()));
        }
        if let Some(s) = p.staleness.line() {
            out.push(format!("staleness: {s}"));
        }
    }
    out
}

/// The plan as text. `diffs` prints the unified diffs too.
pub fn plan(plan: &Plan, st: Style, diffs: bool) -> String {
    let mut out = String::new();
    write_plan(&mut out, plan, st, diffs);
    out
}

/// [`plan`], written to `out` repo by repo (a large fleet's plan is never
/// held as one string), complete, after a fleet header made without a
/// previous revision to compare with.
pub fn write_plan(out: &mut impl Write, plan: &Plan, st: Style, diffs: bool) {
    let fleet = crate::fleet::summarize(plan, &Default::default());
    let view = PlanView {
        plan,
        fleet: &fleet,
        detail: true,
        diffs,
    };
    write_view(out, &view, st);
}

/// The plan organised for a fleet: the header (this revision's changes,
/// then what was already pending), per-repo detail or one line per repo,
/// the rollout and the totals.
pub fn write_view(out: &mut impl Write, view: &PlanView<'_>, st: Style) {
    let (plan, diffs) = (view.plan, view.diffs);
    let _ = writeln!(
        out,
        "Platform source {} ({})",
        st.bold(&plan.source.to_string()),
        plan.generator
    );
    if let Some(reason) = &plan.force_reason {
        let _ = writeln!(out, "{} {reason}", st.yellow("FORCED RUN, reason:"));
    }
    if let Some(r) = &plan.rollback {
        let _ = writeln!(out, "{} {}", st.yellow("ROLLBACK"), r.line());
    }
    for l in super::fleet::lines(view.fleet) {
        let _ = writeln!(out, "{l}");
    }
    if !view.detail {
        compact_repos(out, plan, view.fleet, st);
    } else {
        detailed_repos(out, plan, st, diffs);
    }
    for e in &plan.errors {
        let _ = writeln!(
            out,
            "\n{}  {}",
            st.bold(&e.repo.to_string()),
            st.red("error")
        );
        let _ = writeln!(out, "  {}", e.error);
    }
    totals(out, plan, st);
}

/// One line per repo with something to write (`--detail` for files and
/// diffs).
fn compact_repos(out: &mut impl Write, plan: &Plan, fleet: &FleetSummary, st: Style) {
    let writing: Vec<&crate::plan::RepoPlan> =
        plan.repos.iter().filter(|r| r.has_writes()).collect();
    let _ = writeln!(
        out,
        "\nRepos to write ({}; --detail for files, --diff for diffs):",
        writing.len()
    );
    for r in writing {
        let mut line = format!(
            "  {} ({}): {} -> {}",
            st.bold(&r.repo.to_string()),
            r.team,
            super::fleet::repo_files(fleet, r),
            super::delivery_words(r)
        );
        if let Some(p) = r.policy.as_ref().filter(|p| !p.decision.allows_writes()) {
            let _ = write!(line, "; {}", p.decision.line());
        }
        let _ = writeln!(out, "{line}");
    }
    let left_alone: Vec<String> = plan
        .repos
        .iter()
        .filter(|r| matches!(r.proposal, crate::plan::ProposalPlan::HumanEdited { .. }))
        .map(|r| r.repo.to_string())
        .collect();
    if !left_alone.is_empty() {
        let _ = writeln!(
            out,
            "Proposals left alone (someone else's commits on them): {}",
            crate::fleet::first_few(&left_alone, 6)
        );
    }
}

fn detailed_repos(out: &mut impl Write, plan: &Plan, st: Style, diffs: bool) {
    let mut waiting = Vec::new();
    for r in &plan.repos {
        if !r.has_writes() {
            if let Some(p) = describe_proposal(r) {
                let mut line = format!("  {}: {p} ({})", r.repo, describe_counts(r));
                if let Some(s) = r.policy.as_ref().and_then(|p| p.staleness.line()) {
                    let _ = write!(line, "; {s}");
                }
                waiting.push(line);
            }
            continue;
        }
        let _ = writeln!(
            out,
            "\n{}  (team {}, branch {}, {})",
            st.bold(&r.repo.to_string()),
            r.team,
            r.default_branch,
            describe_counts(r)
        );
        let _ = writeln!(out, "  delivery: {}", r.delivery_reason);
        for l in policy_lines(r) {
            let _ = writeln!(out, "  {l}");
        }
        for f in r.changes() {
            let _ = writeln!(out, "{}", file_line(st, f));
        }
        if let Some(d) = &r.direct {
            let _ = writeln!(
                out,
                "  commit: {} file{} + lock on {}",
                d.writes.len(),
                plural(d.writes.len()),
                d.branch
            );
        }
        if let Some(p) = describe_proposal(r) {
            let _ = writeln!(out, "  proposal: {p}");
        }
        if let Some(a) = r.pull_request_action.line() {
            let _ = writeln!(out, "  pull request: {a}");
        }
        if let Some(e) = r.policy.as_ref().and_then(|p| p.escalation.as_ref()) {
            let _ = writeln!(
                out,
                "  escalation: comment on #{} mentioning the owners, label {}",
                e.number, e.label
            );
        }
        if diffs {
            for f in r.changes() {
                if let Some(d) = &f.diff {
                    for l in d.lines() {
                        let painted = if l.starts_with("+++") || l.starts_with("---") {
                            st.bold(l)
                        } else if l.starts_with('+') {
                            st.green(l)
                        } else if l.starts_with('-') {
                            st.red(l)
                        } else if l.starts_with("@@") {
                            st.cyan(l)
                        } else {
                            l.to_string()
                        };
                        let _ = writeln!(out, "    {painted}");
                    }
                }
            }
        }
    }
    if !waiting.is_empty() {
        let _ = writeln!(out, "\nNothing to write, proposals pending:");
        for w in waiting {
            let _ = writeln!(out, "{w}");
        }
    }
}

/// The rollout section and the totals line: every repo counted once
/// under to change (some of them waiting for the rollout), in sync,
/// awaiting merge, left as is or error, adding up to the repos planned.
fn totals(out: &mut impl Write, plan: &Plan, st: Style) {
    let _ = out.write_str(&rollout_section(plan, st));
    let s = summarize(plan);
    let t = PlanTally::of(plan);
    let _ = writeln!(
        out,
        "\nPlan: {} of {} repo{} to change ({} direct commit{}, {} proposal{} to write, {} to close){}, {} file{} to change, {} drifted, {} in sync, {} awaiting merge{}, {} error{}.",
        t.to_change,
        t.total(),
        plural(t.total()),
        s.direct_commits,
        plural(s.direct_commits),
        s.proposals_to_write,
        plural(s.proposals_to_write),
        s.proposals_to_close,
        t.waiting(),
        s.files_to_change,
        plural(s.files_to_change),
        s.drifted_files,
        t.in_sync,
        t.awaiting_merge,
        match t.left_as_is {
            0 => String::new(),
            n => format!(", {n} left as is"),
        },
        t.errors,
        plural(t.errors)
    );
}

/// The repos of a plan, each under one heading of the totals line.
#[derive(Debug, Default, PartialEq, Eq)]
struct PlanTally {
    /// Repos with something to write, the waiting ones included.
    to_change: usize,
    /// Of `to_change`: left for later by the rollout policy.
    queued: usize,
    held: usize,
    halted: usize,
    in_sync: usize,
    /// Nothing to write; a proposal carries the changes.
    awaiting_merge: usize,
    /// Nothing to write, not in sync: hand edits kept, or changes that
    /// wait for nothing this run can do.
    left_as_is: usize,
    errors: usize,
}

impl PlanTally {
    fn of(plan: &Plan) -> PlanTally {
        use crate::plan::verdict::Decision;
        let mut t = PlanTally {
            errors: plan.errors.len(),
            ..PlanTally::default()
        };
        for r in &plan.repos {
            if r.has_writes() {
                t.to_change += 1;
                match r.policy.as_ref().map(|p| &p.decision) {
                    Some(Decision::Queued { .. }) => t.queued += 1,
                    Some(Decision::Held { .. }) => t.held += 1,
                    Some(Decision::Halted { .. }) => t.halted += 1,
                    _ => {}
                }
                continue;
            }
            match r.status() {
                RepoStatus::InSync => t.in_sync += 1,
                RepoStatus::ProposalPending => t.awaiting_merge += 1,
                _ => t.left_as_is += 1,
            }
        }
        t
    }

    fn total(&self) -> usize {
        self.to_change + self.in_sync + self.awaiting_merge + self.left_as_is + self.errors
    }

    /// `, 3 of them waiting (2 queued, 1 held)`, or nothing.
    fn waiting(&self) -> String {
        let parts: Vec<String> = [
            (self.queued, "queued"),
            (self.held, "held"),
            (self.halted, "halted"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, word)| format!("{n} {word}"))
        .collect();
        match self.queued + self.held + self.halted {
            0 => String::new(),
            n => format!(", {n} of them waiting ({})", parts.join(", ")),
        }
    }
}

/// Width `status` keeps to: a row's cells stay short, and what can be
/// long (reasons, proposals, errors, notes) goes on lines of its own,
/// wrapped to this width.
pub const STATUS_WIDTH: usize = 120;

/// Per-repo status table, from the status records: the pin first, while
/// a rollback holds the fleet; then one short row per repo, then its proposal, rollout reason, staleness, error and file
/// notes on indented lines, then the rollout and the totals.
pub fn status(view: &StatusView<'_>, st: Style) -> String {
    let header = ["REPO", "TEAM", "STATUS", "FILES", "PROPOSAL", "ROLLOUT"].map(String::from);
    let rows: Vec<[String; 6]> = std::iter::once(header)
        .chain(view.records.iter().map(status_cells))
        .collect();
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    if let Some(pin) = view.pin {
        let line = format!("{} {}", st.yellow("PINNED"), super::record::pin_words(pin));
        out.push_str(&wrap(&line, 0, 2, STATUS_WIDTH));
    }
    for (i, row) in rows.iter().enumerate() {
        let record = i.checked_sub(1).and_then(|i| view.records.get(i));
        let painted = match record {
            Some(r) => paint_status(st, r.status),
            None => row[2].clone(),
        };
        let pad = widths[2].saturating_sub(row[2].chars().count());
        let line = format!(
            "{:<w0$}  {:<w1$}  {painted}{}  {:<w3$}  {:<w4$}  {}",
            row[0],
            row[1],
            " ".repeat(pad),
            row[3],
            row[4],
            row[5],
            w0 = widths[0],
            w1 = widths[1],
            w3 = widths[3],
            w4 = widths[4],
        );
        let _ = writeln!(out, "{}", line.trim_end());
        if let Some(r) = record {
            for detail in status_details(r) {
                out.push_str(&wrap(&detail, 4, 6, STATUS_WIDTH));
            }
        }
    }
    for line in rollout_section(view.plan, st).split_inclusive('\n') {
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        out.push_str(&wrap(body.trim_end(), indent, indent + 2, STATUS_WIDTH));
    }
    out.push_str(&status_totals(&view.totals));
    out
}

fn paint_status(st: Style, status: RepoStatus) -> String {
    match status {
        RepoStatus::InSync => st.green(status.as_str()),
        RepoStatus::Drifted | RepoStatus::Error => st.red(status.as_str()),
        _ => st.yellow(status.as_str()),
    }
}

/// A record's row: short cells only.
fn status_cells(r: &RepoRecord) -> [String; 6] {
    let dash = || "-".to_string();
    let pr = match (&r.pull_request, &r.proposal) {
        (Some(p), _) => match &p.open_for {
            Some(age) => format!("#{} ({age})", p.number),
            None => format!("#{}", p.number),
        },
        (None, Some(_)) if r.proposal_awaits_merge() => "awaiting merge".into(),
        (None, Some(_)) => "see below".into(),
        (None, None) => dash(),
    };
    let mut rollout = r.decision.map_or_else(dash, str::to_string);
    if r.stale {
        rollout.push_str(", stale");
    }
    [
        r.repo.clone(),
        if r.team.is_empty() {
            dash()
        } else {
            r.team.clone()
        },
        r.status.as_str().to_string(),
        files_cell(r),
        pr,
        rollout,
    ]
}

/// `12 in sync`, or what is not in sync: `1 drifted, 2 missing (of 12)`.
pub(crate) fn files_cell(r: &RepoRecord) -> String {
    let total: usize = r.counts.values().sum();
    let in_sync = r.counts.get("in_sync").copied().unwrap_or(0);
    if total == 0 {
        return if r.status == RepoStatus::Error {
            "-".into()
        } else {
            "no managed files".into()
        };
    }
    if in_sync == total {
        return format!("{total} in sync");
    }
    let others: Vec<String> = r
        .counts
        .iter()
        .filter(|(k, _)| **k != "in_sync")
        .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
        .collect();
    format!("{} (of {total})", others.join(", "))
}

/// The lines under a record's row: what does not fit a cell.
fn status_details(r: &RepoRecord) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = r.proposal.as_ref().filter(|_| !r.proposal_awaits_merge()) {
        let pr = r.pull_request.as_ref().map(|pr| match &pr.created_at {
            Some(at) => format!(" (pull request #{} open since {at})", pr.number),
            None => format!(" (pull request #{})", pr.number),
        });
        out.push(format!("proposal: {p}{}", pr.unwrap_or_default()));
    }
    if let Some(reason) = &r.reason {
        out.push(format!("policy: {reason}"));
    }
    if let Some(s) = r.staleness_line() {
        out.push(format!("staleness: {s}"));
    }
    if let Some(e) = &r.error {
        out.push(format!("error: {e}"));
    }
    for f in &r.files {
        if let Some(n) = &f.note {
            out.push(format!("{} [{}]: {n}", f.path, f.state.as_str()));
        } else if f.state == crate::plan::FileState::Conflicted {
            out.push(format!(
                "{} [conflicted]: hand edit and template change overlap; proposed for review",
                f.path
            ));
        }
    }
    out
}

/// `text` indented by `first` spaces, wrapped at spaces to `width`
/// columns, continuation lines indented by `rest`; a word longer than a
/// line stays whole.
fn wrap(text: &str, first: usize, rest: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = " ".repeat(first);
    let mut empty = true;
    for word in text.split(' ') {
        let len = line.chars().count();
        if !empty && len + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(rest);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The totals under the table: repos by status, files by state, and what
/// the rollout holds back.
pub(crate) fn status_totals(t: &Totals) -> String {
    let errors = t.status(RepoStatus::Error);
    let mut out = format!(
        "\n{} repos: {} in sync, {} outdated, {} drifted, {} proposal pending, {} error{}.\n",
        t.repos,
        t.status(RepoStatus::InSync),
        t.status(RepoStatus::Outdated),
        t.status(RepoStatus::Drifted),
        t.status(RepoStatus::ProposalPending),
        errors,
        plural(errors),
    );
    let files = files_by_state(t);
    if !files.is_empty() {
        let _ = writeln!(out, "Files: {}.", files.join(", "));
    }
    let waits: Vec<String> = ["queued", "held", "halted"]
        .iter()
        .map(|k| (t.decision(k), *k))
        .chain(std::iter::once((t.stale, "stale")))
        .filter(|(n, _)| *n > 0)
        .map(|(n, k)| format!("{n} {k}"))
        .collect();
    if !waits.is_empty() {
        let _ = writeln!(out, "Rollout: {}.", waits.join(", "));
    }
    out
}

/// `40 in sync, 1 drifted`: in sync first, then the other states.
pub(crate) fn files_by_state(t: &Totals) -> Vec<String> {
    let in_sync = t.files_by_state.get("in_sync").copied();
    in_sync
        .map(|n| ("in_sync", n))
        .into_iter()
        .chain(
            t.files_by_state
                .iter()
                .filter(|(k, _)| **k != "in_sync")
                .map(|(k, n)| (*k, *n)),
        )
        .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
        .collect()
}

mod report;
pub use report::{applied_line, apply, forced_table};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn long_lines_wrap_at_spaces_with_an_indent() {
        let reason = format!(
            "policy: held: wave default waits for wave early to take revision 3f9c2e1a7b5d (1 of 40 repos in sync; waiting for {} and 35 more)",
            (0..5)
                .map(|i| format!("acme/some-rather-long-repository-name-{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let out = wrap(&reason, 4, 6, STATUS_WIDTH);
        assert!(out.lines().count() >= 3, "{out}");
        for (i, line) in out.lines().enumerate() {
            assert!(line.chars().count() <= STATUS_WIDTH, "{line}");
            let indent = if i == 0 { 4 } else { 6 };
            assert_eq!(line.len() - line.trim_start().len(), indent, "{line}");
        }
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words.join(" "), reason);
        assert_eq!(wrap("short", 4, 6, STATUS_WIDTH), "    short\n");
        // A word longer than a line stays whole, on its own line.
        let long = "x".repeat(130);
        assert_eq!(
            wrap(&format!("a {long}"), 0, 2, 120),
            format!("a\n  {long}\n")
        );
    }

    /// A pinned fleet's `status` starts with the pin, in text and
    /// markdown; an unpinned one says nothing of pins.
    #[test]
    fn status_starts_with_the_pin() {
        let mut plan = crate::plan::fixtures::empty_plan(Some(crate::output::record::PinRecord {
            to: "a".repeat(40),
            from: vec!["b".repeat(40)],
            reason: "runner broke builds".into(),
            operator: "olivia".into(),
            since: "2026-12-02T08:00:00Z".into(),
        }));
        let words = "to revision aaaaaaaaaaaa since 2026-12-02 08:00:00 UTC by olivia: runner broke builds \
                     (rolled back from bbbbbbbbbbbb; `distributor unpin` follows the head again)";
        let reader = crate::output::record::Reader::Cli;
        let view = StatusView::new(&plan, reader, 0);
        let text = status(&view, Style { color: false });
        let lines: Vec<&str> = text.lines().collect();
        let pin: Vec<&str> = lines[..2]
            .iter()
            .flat_map(|l| l.split_whitespace())
            .collect();
        assert_eq!(pin.join(" "), format!("PINNED {words}"), "{text}");
        assert!(lines[1].starts_with("  bbbbbbbbbbbb;"), "{text}");
        assert!(lines.iter().all(|l| l.chars().count() <= STATUS_WIDTH));
        assert!(lines[2].starts_with("REPO "), "{text}");
        let md = crate::output::markdown::status(&view);
        assert!(
            md.starts_with(&format!(
                "## distributor status\n\n> **Pinned** {words}\n\n"
            )),
            "{md}"
        );
        plan.rollback = None;
        let view = StatusView::new(&plan, reader, 0);
        assert!(!status(&view, Style { color: false }).contains("PINNED"));
        assert!(!crate::output::markdown::status(&view).contains("Pinned"));
    }
}
