//! The pull request a proposal becomes on forges that have them: title,
//! body (each file, its state and why, the source revision, what to do),
//! labels, reviewers from the team's owners, and the [`PullRequestAction`]
//! the executor takes on the forge (open, update, keep, comment and close,
//! leave a closed one closed, leave a human's alone). Pure: `plan` prints
//! the action and `apply` performs exactly it.

use serde::Serialize;

use super::{FilePlan, FileState, ProposalPlan, Route, message};
use crate::forge::{ClosedPullRequest, PullRequest};
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

/// What the executor does with the proposal's pull request (forges that
/// have them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PullRequestAction {
    /// No pull request is involved: none is wanted or open, or the forge
    /// has none (proposals are branches).
    None,
    /// Open one from the proposal branch.
    Open {
        #[serde(flatten)]
        pull_request: PullRequestPlan,
    },
    /// Rewrite the open one's title and body (what the branch carries
    /// changed).
    Update {
        number: u64,
        title: String,
        body: String,
    },
    /// The open one already describes the proposal.
    Keep { number: u64 },
    /// Comment on the open one and close it: the repo is (or becomes) in
    /// sync, or a forced commit superseded it.
    Close { number: u64, reason: CloseReason },
    /// The team closed this very proposal without merging: it is not
    /// opened again until the platform changes it.
    LeaveClosed { number: u64 },
    /// Someone else pushed to the proposal branch: their pull request is
    /// theirs.
    LeaveAlone { number: u64 },
}

impl PullRequestAction {
    /// The snake_case name, as in JSON.
    pub fn key(&self) -> &'static str {
        match self {
            PullRequestAction::None => "none",
            PullRequestAction::Open { .. } => "open",
            PullRequestAction::Update { .. } => "update",
            PullRequestAction::Keep { .. } => "keep",
            PullRequestAction::Close { .. } => "close",
            PullRequestAction::LeaveClosed { .. } => "leave_closed",
            PullRequestAction::LeaveAlone { .. } => "leave_alone",
        }
    }

    /// Whether the action writes to the forge.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            PullRequestAction::Open { .. }
                | PullRequestAction::Update { .. }
                | PullRequestAction::Close { .. }
        )
    }

    /// One line for people, e.g. `open "distributor: update 2 files" (labels: platform)`.
    pub fn line(&self) -> Option<String> {
        Some(match self {
            PullRequestAction::None => return None,
            PullRequestAction::Open { pull_request: p } => {
                let mut line = format!("open {:?}", p.title);
                let mut extras = Vec::new();
                if !p.labels.is_empty() {
                    extras.push(format!("labels: {}", p.labels.join(", ")));
                }
                let reviewers: Vec<String> = p
                    .reviewers
                    .iter()
                    .map(|r| format!("@{r}"))
                    .chain(p.team_reviewers.iter().map(|t| format!("team {t}")))
                    .collect();
                if !reviewers.is_empty() {
                    extras.push(format!("reviewers: {}", reviewers.join(", ")));
                }
                if p.draft {
                    extras.push("draft".into());
                }
                if p.auto_merge {
                    extras.push("auto-merge".into());
                }
                if !extras.is_empty() {
                    line.push_str(&format!(" ({})", extras.join("; ")));
                }
                line
            }
            PullRequestAction::Update { number, title, .. } => {
                format!("update #{number}: title and body ({title:?})")
            }
            PullRequestAction::Keep { number } => format!("keep #{number} (up to date)"),
            PullRequestAction::Close { number, reason } => {
                format!("comment on #{number} and close it ({})", reason.describe())
            }
            PullRequestAction::LeaveClosed { number } => format!(
                "leave #{number} closed (closed without merging; proposed again when the platform changes)"
            ),
            PullRequestAction::LeaveAlone { number } => {
                format!("leave #{number} alone (someone else pushed to its branch)")
            }
        })
    }
}

/// Why a pull request is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The repo is in sync: the change was merged or made by hand.
    InSync,
    /// `apply --force` committed the change directly; the comment links
    /// the forced commit and cites the reason.
    SupersededByForce,
}

impl CloseReason {
    pub fn describe(self) -> &'static str {
        match self {
            CloseReason::InSync => "the repository is in sync",
            CloseReason::SupersededByForce => "superseded by the forced direct commit",
        }
    }
}

/// Decides the pull request action from the proposal's plan, the pull
/// request wanted for it, and what the forge shows open or closed.
pub fn action(
    proposal: &ProposalPlan,
    want: Option<&PullRequestPlan>,
    open: Option<&PullRequest>,
    closed: Option<&ClosedPullRequest>,
    forced_direct: bool,
) -> PullRequestAction {
    match (proposal, open) {
        (ProposalPlan::HumanEdited { .. }, Some(pr)) => {
            return PullRequestAction::LeaveAlone { number: pr.number };
        }
        (ProposalPlan::Close { .. }, Some(pr)) => {
            return PullRequestAction::Close {
                number: pr.number,
                reason: if forced_direct {
                    CloseReason::SupersededByForce
                } else {
                    CloseReason::InSync
                },
            };
        }
        (
            ProposalPlan::Create { .. }
            | ProposalPlan::Update { .. }
            | ProposalPlan::UpToDate { .. },
            _,
        ) => {}
        _ => return PullRequestAction::None,
    }
    let Some(want) = want else {
        return PullRequestAction::None;
    };
    // The team closed this very proposal without merging it: do not open
    // it again. A new platform change rebuilds the branch (a new commit)
    // and proposes again; deleting the branch asks for a new one now.
    if let (ProposalPlan::UpToDate { tip }, None, Some(c)) = (proposal, open, closed)
        && c.head == Some(*tip)
    {
        return PullRequestAction::LeaveClosed { number: c.number };
    }
    match open {
        // A new platform revision that changes nothing here does not
        // rewrite the pull request (one write per repo per platform commit
        // would be noise and budget).
        Some(pr)
            if pr.title == want.title
                && without_revision(&pr.body) == without_revision(&want.body) =>
        {
            PullRequestAction::Keep { number: pr.number }
        }
        Some(pr) => PullRequestAction::Update {
            number: pr.number,
            title: want.title.clone(),
            body: want.body.clone(),
        },
        None => PullRequestAction::Open {
            pull_request: want.clone(),
        },
    }
}

/// A pull request body without its source-revision line, for comparison.
fn without_revision(body: &str) -> String {
    body.replace("\r\n", "\n")
        .lines()
        .filter(|l| !l.starts_with("Source revision:"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// Marker in every distributor pull request body.
pub const BODY_MARKER: &str = "<!-- distributor:managed -->";

/// Builds the pull request for the files the proposal carries.
pub fn pull_request(
    repo: &ResolvedRepo,
    files: &[&FilePlan],
    source: &Source,
    rollback: Option<&message::Rollback>,
    why: &str,
) -> PullRequestPlan {
    let n = files.len();
    let plural = if n == 1 { "" } else { "s" };
    let title = match rollback {
        Some(r) => format!(
            "distributor: roll back {n} platform-managed file{plural} to revision {}",
            message::short(&r.to)
        ),
        None => format!("distributor: update {n} platform-managed file{plural}"),
    };
    let mut body = String::new();
    body.push_str(BODY_MARKER);
    body.push_str("\nThis pull request was opened by **distributor** to bring this repository's platform-managed files in line with the platform repository.\n\n");
    if let Some(r) = rollback {
        body.push_str(&format!(
            "**Rollback** {}  \nThe platform team rolled the fleet back to an earlier platform revision; merging this returns these files to it.\n\n",
            r.line()
        ));
    }
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
