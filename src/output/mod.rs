//! Presentation of plans, status and apply results as text (coloured only
//! on a terminal), JSON (a documented, versioned schema: see
//! `docs/output.md`) and markdown (for CI step summaries). Pure: values in,
//! strings out.

pub mod flags;
pub mod fleet;
pub mod json;
pub mod markdown;
pub mod record;
pub mod text;

use std::collections::BTreeMap;

use crate::plan::{FileState, Plan, ProposalPlan, RepoPlan, RepoStatus, Route};

/// Output format chosen with `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// Counts shown in summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub repos: usize,
    pub repos_in_sync: usize,
    pub repos_with_changes: usize,
    pub direct_commits: usize,
    pub proposals_to_write: usize,
    pub proposals_to_close: usize,
    /// Repos whose proposal already carries every pending change.
    pub proposals_pending: usize,
    pub files_to_change: usize,
    pub drifted_files: usize,
    pub errors: usize,
}

/// Summarises a plan.
pub fn summarize(plan: &Plan) -> Summary {
    let mut s = Summary {
        repos: plan.repos.len() + plan.errors.len(),
        errors: plan.errors.len(),
        ..Summary::default()
    };
    for r in &plan.repos {
        if r.has_writes() {
            s.repos_with_changes += 1;
        }
        if r.status() == RepoStatus::InSync && !r.has_writes() {
            s.repos_in_sync += 1;
        }
        if r.direct.is_some() {
            s.direct_commits += 1;
        }
        match r.proposal {
            ProposalPlan::Create { .. } | ProposalPlan::Update { .. } => s.proposals_to_write += 1,
            ProposalPlan::Close { .. } => s.proposals_to_close += 1,
            ProposalPlan::UpToDate { .. } | ProposalPlan::HumanEdited { pending: true, .. } => {
                s.proposals_pending += 1
            }
            _ => {}
        }
        s.drifted_files += r
            .files
            .iter()
            .filter(|f| f.state == FileState::Drifted)
            .count();
        if r.has_writes() {
            s.files_to_change += r
                .files
                .iter()
                .filter(|f| matches!(f.route, Route::Direct | Route::Proposal))
                .count();
        }
    }
    s
}

/// Counts of files per state in one repo, e.g. `11 in_sync, 1 drifted`.
pub fn state_counts(repo: &RepoPlan) -> BTreeMap<FileState, usize> {
    let mut m = BTreeMap::new();
    for f in &repo.files {
        *m.entry(f.state).or_insert(0) += 1;
    }
    m
}

/// `11 in sync, 1 drifted`.
pub fn describe_counts(repo: &RepoPlan) -> String {
    let counts = state_counts(repo);
    if counts.is_empty() {
        return "no managed files".into();
    }
    counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str().replace('_', " ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a proposal that carries every change and waits for review ends.
pub(crate) const AWAITING_MERGE: &str = " is up to date, awaiting merge";

/// What the plan does with the proposal branch, in words.
pub fn describe_proposal(repo: &RepoPlan) -> Option<String> {
    let b = &repo.proposal_branch;
    let text = describe_branch(repo, b)?;
    Some(match &repo.open_pull_request {
        Some(pr) => format!(
            "{text} (pull request #{} open since {})",
            pr.number, pr.created_at
        ),
        None => text,
    })
}

pub(crate) fn describe_branch(repo: &RepoPlan, b: &str) -> Option<String> {
    Some(match &repo.proposal {
        ProposalPlan::None => return None,
        ProposalPlan::Create { commit } => format!(
            "create branch {b} proposing {} file{}",
            commit.writes.len(),
            plural(commit.writes.len())
        ),
        ProposalPlan::Update {
            commit,
            stacked: true,
            ..
        } => format!(
            "update branch {b} with a commit on its tip, writing {} file{}",
            commit.writes.len(),
            plural(commit.writes.len())
        ),
        ProposalPlan::Update { commit, .. } => format!(
            "rebuild branch {b} on the default branch, proposing {} file{}",
            commit.writes.len(),
            plural(commit.writes.len())
        ),
        ProposalPlan::UpToDate { .. } => format!("branch {b}{AWAITING_MERGE}"),
        ProposalPlan::Close { .. } => format!("delete branch {b} (no longer needed)"),
        ProposalPlan::HumanEdited { pending, .. } => format!(
            "branch {b} has commits by someone else: left alone{}",
            if *pending {
                "; changes stay pending"
            } else {
                ""
            }
        ),
    })
}

/// How a repo's writes are delivered, in a few words:
/// `direct commit, proposal updated`.
pub fn delivery_words(repo: &RepoPlan) -> String {
    let mut parts = Vec::new();
    if repo.direct.is_some() {
        parts.push("direct commit");
    }
    match repo.proposal {
        ProposalPlan::Create { .. } => parts.push("proposal opened"),
        ProposalPlan::Update { .. } => parts.push("proposal updated"),
        ProposalPlan::Close { .. } => parts.push("proposal closed"),
        _ => {}
    }
    if parts.is_empty() {
        parts.push("pull request only");
    }
    parts.join(", ")
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Lets the text writers (`std::fmt::Write`) write straight to a byte
/// stream; the first I/O error is kept and the rest is dropped.
pub struct IoText<'a> {
    out: &'a mut dyn std::io::Write,
    pub error: Option<std::io::Error>,
}

impl<'a> IoText<'a> {
    pub fn new(out: &'a mut dyn std::io::Write) -> IoText<'a> {
        IoText { out, error: None }
    }

    /// The first I/O error, if any.
    pub fn finish(self) -> std::io::Result<()> {
        self.error.map_or(Ok(()), Err)
    }
}

impl std::fmt::Write for IoText<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.error.is_some() {
            return Err(std::fmt::Error);
        }
        self.out.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}
