//! The pull request a proposal becomes on forges that have them: title,
//! body (each file, its state and why, the source revision, what to do),
//! labels, reviewers from the team's owners. Pure formatting from the plan;
//! the executor decides whether to open, update or close.

use serde::Serialize;

use super::{FilePlan, FileState, Route, message};
use crate::lock::Source;
use crate::registry::ResolvedRepo;

/// A pull request as the plan wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequestPlan {
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// User logins asked for review.
    pub reviewers: Vec<String>,
    /// Team slugs (without the organisation) asked for review.
    pub team_reviewers: Vec<String>,
    pub draft: bool,
    pub auto_merge: bool,
}

/// Marker in every distributor pull request body.
pub const BODY_MARKER: &str = "<!-- distributor:managed -->";

/// Builds the pull request for the files the proposal carries.
pub fn pull_request(
    repo: &ResolvedRepo,
    files: &[&FilePlan],
    source: &Source,
    why: &str,
) -> PullRequestPlan {
    let n = files.len();
    let title = format!(
        "distributor: update {n} platform-managed file{}",
        if n == 1 { "" } else { "s" }
    );
    let mut body = String::new();
    body.push_str(BODY_MARKER);
    body.push_str("\nThis pull request was opened by **distributor** to bring this repository's platform-managed files in line with the platform repository.\n\n");
    body.push_str(&format!("Source revision: `{}`", source.revision));
    if source.dirty {
        body.push_str(" (with uncommitted changes)");
    }
    body.push_str(&format!("  \nWhy a pull request: {why}\n\n"));
    body.push_str("| File | State | Change | Why |\n|---|---|---|---|\n");
    for f in files {
        let why = f
            .reason
            .map(|r| r.describe().to_string())
            .unwrap_or_else(|| default_reason(f).to_string());
        body.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            f.path,
            state_word(f.state),
            message::verb(f),
            why
        ));
    }
    for f in files {
        if let Some(m) = &f.merge {
            body.push('\n');
            body.push_str(crate::merge::describe_markdown(&f.path, m).trim_end());
            body.push('\n');
        }
    }
    body.push_str("\n**What to do**\n\n");
    body.push_str("- Review and merge. Distributor closes this pull request and deletes its branch once the repository is in sync.\n");
    if files.iter().any(|f| f.state == FileState::Conflicted) {
        body.push_str("- Files marked *conflicted* were edited here in the same lines the template changed: this branch holds the template's version. Merge it, or carry your edit into the platform templates, or push a resolution to this branch (distributor then leaves it to you).\n");
    }
    if files.iter().any(|f| f.state == FileState::Drifted) {
        body.push_str("- Files marked *drifted* were edited in this repository: merging replaces the hand edit. To keep the edit, change the template or the registry in the platform repository, or opt the file out with `skip_files`.\n");
    }
    body.push_str("- While this pull request is open, distributor updates it in place when the platform changes. If you push commits to its branch, distributor stops updating it and leaves it to you.\n");
    let (reviewers, team_reviewers) = if repo.pull_request.request_reviews {
        (
            repo.owners_users.clone(),
            repo.owners_teams
                .iter()
                .map(|t| t.rsplit('/').next().unwrap_or(t).to_string())
                .collect(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    PullRequestPlan {
        title,
        body,
        labels: repo.pull_request.labels.clone(),
        reviewers,
        team_reviewers,
        draft: repo.pull_request.draft,
        auto_merge: repo.pull_request.auto_merge,
    }
}

fn state_word(s: FileState) -> &'static str {
    match s {
        FileState::InSync => "in sync",
        FileState::Missing => "missing",
        FileState::Outdated => "outdated",
        FileState::Drifted => "drifted",
        FileState::Orphaned => "orphaned",
        FileState::Merged => "merged (hand edits kept)",
        FileState::Conflicted => "conflicted",
        FileState::Waived => "waived",
    }
}

fn default_reason(f: &FilePlan) -> &'static str {
    match (f.state, f.route) {
        (FileState::Missing, _) => "not in the repository yet",
        (FileState::Outdated, _) => "the template or registry changed",
        (FileState::Orphaned, Route::Proposal | Route::Direct) => "no longer rendered",
        _ => "",
    }
}
