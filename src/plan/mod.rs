//! Planning: desired files + an observed repo -> a [`RepoPlan`] saying, per
//! file, its state and where its change goes (direct commit, proposal
//! branch, or nowhere), plus the exact commits to write. Pure and
//! deterministic: `plan` prints this value and `apply` executes it.

pub mod message;
pub mod pull_request;
pub mod state;
pub mod verdict;

mod carry;
mod commits;
mod diffs;
mod files;
mod locks;
mod merging;
mod proposal;
mod request;
mod route;
mod run;
mod stack;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::blob::{FileMode, ObjectId};
use crate::forge::{Checks, FileEntry, RepoId, RepoObservation};
use crate::lock::{Lock, Source};
use crate::merge::MergeOutcome;
use crate::registry::{Delivery, ResolvedRepo};
use crate::render::DesiredFile;
use crate::time::Epoch;
pub use diffs::attach_diffs;
pub use pull_request::{CloseReason, PullRequestAction, PullRequestPlan};
use run::Run;
pub use state::{FileState, Reason, classify};

/// Settings of one planning run.
#[derive(Debug, Clone)]
pub struct PlanSettings {
    /// The platform revision being distributed.
    pub source: Source,
    /// `apply --force --reason`: direct commits, drift overwritten.
    pub force_reason: Option<String>,
    /// `--bundle`: only these bundles' paths are considered; every other
    /// managed path, and its lock entry, is left exactly as it is.
    pub bundles: Option<BTreeSet<String>>,
    /// When the plan is made: waiver expiry and pull request ages.
    pub now: Epoch,
    /// Per bundle (`direct_after` in its bundle.yaml): how long its changes
    /// may wait in an open pull request before they are committed directly.
    pub direct_after: BTreeMap<String, Duration>,
    /// Per bundle: labels its changes add to the pull request.
    pub bundle_labels: BTreeMap<String, Vec<String>>,
    /// The run delivers a fleet rollback: commits and pull requests say
    /// from which revisions to which, by whom and why.
    pub rollback: Option<message::Rollback>,
}

impl PlanSettings {
    /// The settings of a run under the registry's rollout settings.
    pub fn new(
        rollout: &crate::registry::Rollout,
        source: Source,
        force_reason: Option<String>,
        bundles: Option<BTreeSet<String>>,
        now: Epoch,
    ) -> PlanSettings {
        PlanSettings {
            source,
            force_reason,
            bundles,
            now,
            direct_after: rollout
                .bundles
                .iter()
                .filter_map(|(b, p)| Some((b.clone(), p.direct_after?)))
                .collect(),
            bundle_labels: rollout
                .bundles
                .iter()
                .filter(|(_, p)| !p.labels.is_empty())
                .map(|(b, p)| (b.clone(), p.labels.clone()))
                .collect(),
            rollback: None,
        }
    }
}

/// Where a file's change is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Nothing to deliver.
    None,
    /// In the direct commit on the default branch.
    Direct,
    /// On the proposal branch (a pull request on GitHub).
    Proposal,
    /// No file change: distributor stops managing the path.
    Release,
}

/// One path of a repo and what happens to it.
#[derive(Debug, Clone, Serialize)]
pub struct FilePlan {
    pub path: String,
    pub state: FileState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    pub route: Route,
    /// Bundle and template that render it (or rendered it, for orphans).
    pub bundle: String,
    pub template: String,
    /// The blob delivered (and recorded in the lock): the render, or for a
    /// merged file the render with the hand edits kept; `None` for orphans.
    pub desired: Option<ObjectId>,
    /// The render itself, when `desired` is a merge of it with hand edits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered: Option<ObjectId>,
    pub mode: FileMode,
    /// What the default branch holds.
    pub observed: Option<FileEntry>,
    /// What the lock says distributor wrote.
    pub locked: Option<ObjectId>,
    /// Unified diff of the change (observed -> desired), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The 3-way merge of a hand-edited file with a template change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeOutcome>,
    /// A waiver covering the file (active or expired), or why a merge could
    /// not be tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Blobs a 3-way merge needs (base, the repository's content) that the
    /// planner was not given: the executor fetches them and plans again.
    #[serde(skip)]
    pub merge_needs: Vec<ObjectId>,
}

impl FilePlan {
    /// The write this file contributes to a commit, if any.
    fn write(&self) -> PlannedWrite {
        PlannedWrite {
            path: self.path.clone(),
            blob: self.desired,
            mode: self.mode,
        }
    }
}

/// A file write inside a planned commit: content by blob id (`None`
/// deletes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedWrite {
    pub path: String,
    pub blob: Option<ObjectId>,
    pub mode: FileMode,
}

/// A commit to write.
#[derive(Debug, Clone, Serialize)]
pub struct CommitPlan {
    pub branch: String,
    /// Files written or deleted, lock excluded.
    pub writes: Vec<PlannedWrite>,
    /// The lock file written with them.
    pub lock: Lock,
    pub message: String,
}

/// What happens to the proposal branch.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ProposalPlan {
    /// No proposal needed and none exists.
    None,
    /// Create the branch with one commit on the default branch.
    Create { commit: CommitPlan },
    /// Move the branch from `previous_tip` to a new commit, in one push (a
    /// pull request's head never passes through its base).
    Update {
        previous_tip: ObjectId,
        commit: CommitPlan,
        /// The commit goes on top of `previous_tip` and its writes are
        /// against the proposal's tree (the common case, see `stack`);
        /// otherwise it is rebuilt on the default branch's tip.
        stacked: bool,
    },
    /// The branch already proposes exactly the desired content.
    UpToDate { tip: ObjectId },
    /// The repo is (or becomes) in sync: remove the branch.
    Close { tip: ObjectId },
    /// Someone else pushed to the branch; it is left alone.
    HumanEdited { tip: ObjectId, pending: bool },
}

/// The overall state of a repo, as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoStatus {
    InSync,
    /// Safe changes pending (missing, outdated, orphaned files).
    Outdated,
    /// A proposal branch carries the pending changes.
    ProposalPending,
    /// Hand edits found and not yet resolved.
    Drifted,
    Error,
}

impl RepoStatus {
    /// Every status, from healthy to failing (table columns, totals).
    pub const ALL: [RepoStatus; 5] = [
        RepoStatus::InSync,
        RepoStatus::Outdated,
        RepoStatus::ProposalPending,
        RepoStatus::Drifted,
        RepoStatus::Error,
    ];

    /// The snake_case name, as in JSON (`proposal_pending`).
    pub fn key(self) -> &'static str {
        match self {
            RepoStatus::InSync => "in_sync",
            RepoStatus::Outdated => "outdated",
            RepoStatus::ProposalPending => "proposal_pending",
            RepoStatus::Drifted => "drifted",
            RepoStatus::Error => "error",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RepoStatus::InSync => "in sync",
            RepoStatus::Outdated => "outdated",
            RepoStatus::ProposalPending => "proposal pending",
            RepoStatus::Drifted => "drifted",
            RepoStatus::Error => "error",
        }
    }
}

/// The plan of one repo.
#[derive(Debug, Clone, Serialize)]
pub struct RepoPlan {
    pub repo: RepoId,
    pub team: String,
    pub default_branch: String,
    /// Default-branch tip the plan was made against (the compare-and-swap).
    pub tip: Option<ObjectId>,
    pub delivery: Delivery,
    /// Why the changes go where they go.
    pub delivery_reason: String,
    /// Every managed path, sorted, in-sync ones included.
    pub files: Vec<FilePlan>,
    pub direct: Option<CommitPlan>,
    pub proposal: ProposalPlan,
    pub proposal_branch: String,
    /// The pull request the proposal is (on forges that have them), when
    /// the proposal branch carries changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestPlan>,
    /// What happens to the pull request (forges that have them).
    pub pull_request_action: PullRequestAction,
    /// The open pull request from the proposal branch, as observed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_pull_request: Option<crate::forge::PullRequest>,
    /// The repository's web page, when the forge has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
    /// The latest pull request from the proposal branch closed without
    /// merging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_pull_request: Option<crate::forge::ClosedPullRequest>,
    /// Where the lock file lives in this repo.
    pub lock_path: String,
    /// The repo's rollout wave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    /// The platform revision the default branch's lock records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_revision: Option<String>,
    /// The platform revision the proposal branch's lock records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal_revision: Option<String>,
    /// Combined check status of the default branch's tip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_checks: Option<Checks>,
    /// Combined check status of the proposal branch's tip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal_checks: Option<Checks>,
    /// Contents of merged files (render with hand edits kept), by blob id.
    #[serde(skip)]
    pub merged_contents: BTreeMap<ObjectId, Vec<u8>>,
    /// `apply --force --reason`: the reason (closing comments cite it).
    #[serde(skip)]
    pub force_reason: Option<String>,
    /// The rollout policy's verdict (filled in after planning the fleet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<verdict::RepoPolicy>,
}

impl RepoPlan {
    /// Files that need something done.
    pub fn changes(&self) -> impl Iterator<Item = &FilePlan> {
        self.files.iter().filter(|f| f.route != Route::None)
    }

    /// Whether applying this plan writes anything.
    pub fn has_writes(&self) -> bool {
        self.direct.is_some()
            || matches!(
                self.proposal,
                ProposalPlan::Create { .. }
                    | ProposalPlan::Update { .. }
                    | ProposalPlan::Close { .. }
            )
            || self.pull_request_action.writes()
            || self.policy.as_ref().is_some_and(|p| p.escalation.is_some())
    }

    /// The repo's overall state before applying.
    pub fn status(&self) -> RepoStatus {
        let drifted = self
            .files
            .iter()
            .any(|f| matches!(f.state, FileState::Drifted | FileState::Conflicted));
        let pending_proposal = matches!(
            self.proposal,
            ProposalPlan::UpToDate { .. } | ProposalPlan::HumanEdited { pending: true, .. }
        );
        let outstanding = self
            .files
            .iter()
            .any(|f| matches!(f.route, Route::Direct | Route::Proposal));
        if pending_proposal && self.direct.is_none() {
            RepoStatus::ProposalPending
        } else if drifted {
            RepoStatus::Drifted
        } else if outstanding {
            RepoStatus::Outdated
        } else {
            RepoStatus::InSync
        }
    }

    /// Blob ids a 3-way merge needs and the plan was made without.
    pub fn blobs_for_merge(&self) -> Vec<ObjectId> {
        self.files
            .iter()
            .flat_map(|f| f.merge_needs.iter().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Blob ids whose content the diffs need (what the branch holds now).
    pub fn blobs_for_diffs(&self) -> Vec<ObjectId> {
        self.changes()
            .filter(|f| matches!(f.route, Route::Direct | Route::Proposal))
            .filter_map(|f| f.observed.map(|o| o.blob))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// A repo that could not be planned, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RepoError {
    pub repo: RepoId,
    pub error: String,
}

/// The plan of a whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub source: Source,
    pub generator: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_reason: Option<String>,
    /// The plan delivers a fleet rollback (`distributor rollback`, or any
    /// run while the fleet is pinned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<message::Rollback>,
    pub repos: Vec<RepoPlan>,
    pub errors: Vec<RepoError>,
    /// The rollout policy: waves, budgets, halt (see [`crate::rollout`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<verdict::Decisions>,
}

impl Plan {
    /// Whether `apply` would write anything.
    pub fn has_writes(&self) -> bool {
        self.repos.iter().any(RepoPlan::has_writes)
    }
}

/// Everything planning one repo needs.
pub struct PlanInput<'a> {
    pub repo: &'a ResolvedRepo,
    pub desired: &'a [DesiredFile],
    pub observation: &'a RepoObservation,
    pub settings: &'a PlanSettings,
    /// Why a direct commit cannot land (branch protection refused it on a
    /// previous attempt): direct changes go to the proposal instead.
    pub direct_refused: Option<&'a str>,
    /// The forge has pull requests: proposals become pull requests, and
    /// the plan says what happens to each.
    pub pull_requests: bool,
    /// Blob contents read from the repo for 3-way merges (see
    /// [`RepoPlan::blobs_for_merge`]); empty on the first pass.
    pub contents: &'a BTreeMap<ObjectId, Vec<u8>>,
}

/// Plans one repo. Fails when the repo's lock file is unreadable, or when
/// its proposal branch was observed without a tip commit.
pub fn plan_repo(input: PlanInput<'_>) -> Result<RepoPlan, String> {
    let (repo, obs, settings) = (input.repo, input.observation, input.settings);
    let branch = &obs.default_branch;
    let lock_where = locks::location(&repo.lock_path, &obs.repo);
    let old_lock = locks::read(&lock_where, branch.lock.as_deref())?;
    let observed_proposal = proposal::observe(obs)?;
    let locked = old_lock
        .as_ref()
        .map(|l| l.files.clone())
        .unwrap_or_default();
    let run = Run::new(&input, &locked);

    let files = run.files();
    let carried = run.carried();
    let on_proposal = commits::on_proposal(&files, &carried);
    let (direct, proposal_commit) = run.commits(&files, &carried, &on_proposal);
    let has_direct = direct.is_some();
    let proposal = run.proposal(
        observed_proposal.as_ref(),
        &files,
        has_direct,
        proposal_commit,
    );
    let (pull_request, pull_request_action) =
        run.pull_request(&proposal, &files, &on_proposal, has_direct);

    Ok(RepoPlan {
        repo: obs.repo.clone(),
        team: repo.team.clone(),
        default_branch: branch.name.clone(),
        tip: branch.tip,
        delivery: repo.delivery,
        delivery_reason: route::describe_routing(&run.routing.reason, &files, run.forced),
        merged_contents: files::merged_contents(&files),
        files,
        direct,
        proposal,
        proposal_branch: repo.proposal_branch.clone(),
        pull_request,
        pull_request_action,
        open_pull_request: obs.pull_request.clone(),
        web_url: obs.web_url.clone(),
        closed_pull_request: obs.closed_pull_request.clone(),
        lock_path: repo.lock_path.clone(),
        wave: repo.wave.clone(),
        locked_revision: old_lock.map(|l| l.source.revision),
        proposal_revision: observed_proposal
            .and_then(|p| p.lock)
            .map(|l| l.source.revision),
        default_checks: branch.checks,
        proposal_checks: obs.proposal.as_ref().and_then(|p| p.branch.checks),
        force_reason: settings.force_reason.clone(),
        policy: None,
    })
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
