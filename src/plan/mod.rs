//! Planning: desired files + an observed repo -> a [`RepoPlan`] saying, per
//! file, its state and where its change goes (direct commit, proposal
//! branch, or nowhere), plus the exact commits to write. Pure and
//! deterministic: `plan` prints this value and `apply` executes it.

pub mod message;
pub mod pull_request;
pub mod state;
pub mod verdict;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use std::time::Duration;

use crate::blob::{FileMode, ObjectId, blob_id};
use crate::forge::{Checks, FileEntry, RepoId, RepoObservation};
use crate::lock::{Lock, LockEntry, Source, generator};
use crate::merge::{self, MergeOutcome};
use crate::registry::{Delivery, ResolvedRepo};
use crate::render::DesiredFile;
use crate::time::Epoch;
pub use pull_request::{CloseReason, PullRequestAction, PullRequestPlan};
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
    /// Reset the branch to the default branch and commit the new content.
    Update {
        previous_tip: ObjectId,
        commit: CommitPlan,
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

/// Plans one repo. Fails only when the repo's lock file is unreadable.
pub fn plan_repo(input: PlanInput<'_>) -> Result<RepoPlan, String> {
    let PlanInput {
        repo,
        desired,
        observation: obs,
        settings,
        direct_refused,
        pull_requests,
        contents,
    } = input;
    let branch = &obs.default_branch;
    let lock_where = format!("{} in {}", repo.lock_path, obs.repo);
    let old_lock = match &branch.lock {
        None => None,
        Some(bytes) => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| format!("{lock_where} is not UTF-8 text"))?;
            Some(Lock::parse(&lock_where, text)?)
        }
    };
    let locked: BTreeMap<String, LockEntry> = old_lock
        .as_ref()
        .map(|l| l.files.clone())
        .unwrap_or_default();
    let forced = settings.force_reason.is_some();
    let (delivery_route, delivery_reason) = match (forced, repo.delivery) {
        (false, Delivery::Direct) if direct_refused.is_some() => (
            Route::Proposal,
            format!(
                "registry delivery `direct`, but the direct commit was refused ({}): changes go to branch `{}` instead",
                direct_refused.unwrap_or_default(),
                repo.proposal_branch
            ),
        ),
        (true, _) => (
            Route::Direct,
            "forced: direct commit, drift overwritten (apply --force)".to_string(),
        ),
        (false, Delivery::Direct) => (
            Route::Direct,
            "registry delivery `direct`: one commit on the default branch".to_string(),
        ),
        (false, Delivery::Pr) => (
            Route::Proposal,
            format!(
                "registry delivery `pr`: changes go to branch `{}`",
                repo.proposal_branch
            ),
        ),
    };

    // Classify every path that is desired or locked.
    let desired_by_path: BTreeMap<&str, &DesiredFile> =
        desired.iter().map(|d| (d.path.as_str(), d)).collect();
    let in_scope = |bundle: &str| {
        settings
            .bundles
            .as_ref()
            .is_none_or(|set| set.contains(bundle))
    };
    let paths: BTreeSet<&str> = desired_by_path
        .iter()
        .filter(|(_, d)| in_scope(&d.bundle))
        .map(|(p, _)| *p)
        .chain(
            locked
                .iter()
                .filter(|(_, l)| in_scope(&l.bundle))
                .map(|(p, _)| p.as_str()),
        )
        .collect();
    // Bundles whose changes have waited in an open pull request longer
    // than their `direct_after`: committed directly instead.
    let pr_age = obs
        .pull_request
        .as_ref()
        .and_then(|p| crate::time::parse_rfc3339(&p.created_at))
        .map(|t| crate::time::since(t, settings.now));
    let direct_bundles: BTreeSet<&str> = match (delivery_route, pr_age) {
        (Route::Proposal, Some(age)) if direct_refused.is_none() => settings
            .direct_after
            .iter()
            .filter(|(_, after)| age >= **after)
            .map(|(b, _)| b.as_str())
            .collect(),
        _ => BTreeSet::new(),
    };
    let mut merged_contents = BTreeMap::new();
    let mut files = Vec::new();
    for path in paths {
        let want = desired_by_path.get(path);
        let lock_entry = locked.get(path);
        let observed = branch.files.get(path).copied().flatten();
        let Some((mut state, mut reason)) = classify(
            want.map(|d| (d.blob, d.mode)),
            observed,
            lock_entry.map(|l| (l.blob, l.mode)),
        ) else {
            continue;
        };
        let (bundle, template, mode) = match (want, lock_entry) {
            (Some(d), _) => (d.bundle.clone(), d.template.clone(), d.mode),
            (None, Some(l)) => (l.bundle.clone(), l.template.clone(), l.mode),
            (None, None) => unreachable!("classify returns None for unmanaged paths"),
        };
        let mut desired_blob = want.map(|d| d.blob);
        let mut rendered = None;
        let mut note = None;
        let mut merge_result = None;
        let mut merge_needs = Vec::new();

        // A file distributor merged earlier (hand edits kept): in sync
        // while the render is unchanged, merged again when it changes.
        let mut merge_base = None;
        if let (Some(d), Some(l), Some(o)) = (want, lock_entry, observed)
            && let Some(r) = l.rendered
            && state == FileState::Outdated
            && o.blob == l.blob
            && d.mode == l.mode
        {
            if d.blob == r {
                (state, reason) = (FileState::InSync, Some(Reason::HandEditsKept));
                desired_blob = Some(l.blob);
                rendered = Some(r);
            } else {
                merge_base = Some(r);
            }
        }
        // Drift: waived, or merged with the template change.
        if state == FileState::Drifted
            && !forced
            && let Some(w) = repo.waivers.iter().find(|w| w.covers(path, &bundle))
        {
            let why = w
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            if w.active(settings.now) {
                state = FileState::Waived;
                note = Some(format!(
                    "drift waived by {} until {}{why}",
                    w.owner, w.expires
                ));
            } else {
                note = Some(format!(
                    "the drift waiver by {} expired on {}{why}: back in scope",
                    w.owner, w.expires
                ));
            }
        }
        if state == FileState::Drifted
            && reason == Some(Reason::EditedByHand)
            && !forced
            && let (Some(d), Some(l), Some(o)) = (want, lock_entry, observed)
            && o.mode == Some(d.mode)
        {
            let base = l.rendered.unwrap_or(l.blob);
            if d.blob != base {
                merge_base = Some(base);
            }
        }
        if let (Some(base), Some(d), Some(o)) = (merge_base, want, observed) {
            // The base of a file merged before is the render the lock
            // carries (it was never committed); else a blob to read.
            let embedded = lock_entry
                .filter(|l| l.rendered == Some(base))
                .and_then(|l| l.rendered_text.as_deref())
                .filter(|t| blob_id(t.as_bytes()) == base)
                .map(str::as_bytes);
            let base_text = embedded.or_else(|| contents.get(&base).map(Vec::as_slice));
            match (base_text, contents.get(&o.blob)) {
                (Some(base_text), Some(theirs)) => {
                    let outcome = merge::merge3(path, base_text, theirs, &d.content);
                    match &outcome {
                        MergeOutcome::Clean { content, .. } => {
                            let id = blob_id(content);
                            rendered = Some(d.blob);
                            desired_blob = Some(id);
                            if id == o.blob {
                                (state, reason) = (FileState::InSync, Some(Reason::HandEditsKept));
                            } else {
                                (state, reason) = (FileState::Merged, None);
                                merged_contents.insert(id, content.clone());
                            }
                        }
                        MergeOutcome::Conflict { .. } => {
                            (state, reason) = (FileState::Conflicted, Some(Reason::EditedByHand));
                        }
                    }
                    merge_result = Some(outcome);
                }
                _ => {
                    merge_needs = if embedded.is_some() {
                        vec![o.blob]
                    } else {
                        vec![base, o.blob]
                    };
                    if state == FileState::Outdated {
                        // Never overwrite kept hand edits unmerged.
                        (state, reason) = (FileState::Drifted, Some(Reason::EditedByHand));
                    }
                }
            }
        }
        let direct_ok = direct_bundles.contains(bundle.as_str());
        let safe_route = if direct_ok {
            Route::Direct
        } else {
            delivery_route
        };
        let route = match (state, reason) {
            (FileState::InSync | FileState::Waived, _) => Route::None,
            (FileState::Missing | FileState::Outdated | FileState::Merged, _) => safe_route,
            (FileState::Drifted, _) if forced => Route::Direct,
            (FileState::Drifted | FileState::Conflicted, _) => Route::Proposal,
            (FileState::Orphaned, Some(Reason::NoLongerRendered)) => safe_route,
            (FileState::Orphaned, _) => Route::Release,
        };
        if direct_ok && route == Route::Direct && delivery_route == Route::Proposal {
            let age = pr_age.map(crate::time::human).unwrap_or_default();
            note.get_or_insert_with(|| {
                format!(
                    "committed directly: pull request #{} open for {age}, longer than bundle `{bundle}`'s direct_after",
                    obs.pull_request.as_ref().map(|p| p.number).unwrap_or_default()
                )
            });
        }
        files.push(FilePlan {
            path: path.to_string(),
            state,
            reason,
            route,
            bundle,
            template,
            desired: desired_blob,
            rendered,
            mode,
            observed,
            locked: lock_entry.map(|l| l.blob),
            diff: None,
            merge: merge_result,
            note,
            merge_needs,
        });
    }

    // Locks: what the default branch records after the direct commit, and
    // what the proposal records on top of it.
    let entry = |f: &FilePlan| LockEntry {
        bundle: f.bundle.clone(),
        template: f.template.clone(),
        blob: f.desired.expect("desired files have a blob"),
        mode: f.mode,
        rendered: f.rendered,
        rendered_text: f.rendered.and_then(|r| {
            let d = desired_by_path.get(f.path.as_str())?;
            (d.blob == r)
                .then(|| String::from_utf8(d.content.clone()).ok())
                .flatten()
                .or_else(|| {
                    let l = locked.get(&f.path)?;
                    (l.rendered == Some(r)).then(|| l.rendered_text.clone())?
                })
        }),
    };
    let mut direct_lock = locked.clone();
    for f in &files {
        match (f.state, f.route) {
            // A waived file keeps what the lock says distributor wrote.
            (FileState::Waived, _) => {}
            (FileState::Orphaned, Route::Direct | Route::Release) => {
                direct_lock.remove(&f.path);
            }
            (_, Route::None | Route::Direct) => {
                direct_lock.insert(f.path.clone(), entry(f));
            }
            _ => {}
        }
    }
    let mut proposal_lock = direct_lock.clone();
    for f in &files {
        match (f.state, f.route) {
            (FileState::Orphaned, _) => {
                proposal_lock.remove(&f.path);
            }
            (_, Route::Proposal) => {
                proposal_lock.insert(f.path.clone(), entry(f));
            }
            _ => {}
        }
    }
    let make_lock = |files: BTreeMap<String, LockEntry>| Lock {
        version: crate::lock::LOCK_VERSION,
        source: settings.source.clone(),
        generator: generator(),
        files,
    };

    let routed = |r: Route| files.iter().filter(move |f| f.route == r);
    let direct = (routed(Route::Direct).count() > 0).then(|| {
        let changed: Vec<&FilePlan> = routed(Route::Direct).collect();
        CommitPlan {
            branch: branch.name.clone(),
            writes: changed.iter().map(|f| f.write()).collect(),
            lock: make_lock(direct_lock.clone()),
            message: message::commit_message(
                message::Kind::Direct,
                &changed,
                &settings.source,
                settings.force_reason.as_deref(),
            ),
        }
    });
    // With a bundle filter, other bundles' changes that the existing
    // proposal already carries stay on it when it is rebuilt.
    let carried: Vec<FilePlan> = match (&settings.bundles, &obs.proposal) {
        (Some(_), Some(p)) if p.by_distributor => desired
            .iter()
            .filter(|d| !in_scope(&d.bundle))
            .filter_map(|d| {
                let on_proposal = p.branch.files.get(&d.path).copied().flatten()?;
                if on_proposal.blob != d.blob || on_proposal.mode != Some(d.mode) {
                    return None;
                }
                let observed = branch.files.get(&d.path).copied().flatten();
                let lock_entry = locked.get(&d.path);
                let (state, reason) = classify(
                    Some((d.blob, d.mode)),
                    observed,
                    lock_entry.map(|l| (l.blob, l.mode)),
                )?;
                (state != FileState::InSync).then(|| FilePlan {
                    path: d.path.clone(),
                    state,
                    reason,
                    route: Route::Proposal,
                    bundle: d.bundle.clone(),
                    template: d.template.clone(),
                    desired: Some(d.blob),
                    mode: d.mode,
                    observed,
                    locked: lock_entry.map(|l| l.blob),
                    diff: None,
                    rendered: None,
                    merge: None,
                    note: None,
                    merge_needs: Vec::new(),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    for f in &carried {
        proposal_lock.insert(f.path.clone(), entry(f));
    }
    let proposed: Vec<&FilePlan> = routed(Route::Proposal).collect();
    let mut on_proposal = proposed.clone();
    on_proposal.extend(carried.iter());
    on_proposal.sort_by(|a, b| a.path.cmp(&b.path));
    let proposal_commit = (!proposed.is_empty()).then(|| {
        let all = &on_proposal;
        CommitPlan {
            branch: repo.proposal_branch.clone(),
            writes: all.iter().map(|f| f.write()).collect(),
            lock: make_lock(proposal_lock),
            message: message::commit_message(message::Kind::Proposal, all, &settings.source, None),
        }
    });

    let proposal = match (&obs.proposal, proposal_commit) {
        (None, None) => ProposalPlan::None,
        (None, Some(commit)) => ProposalPlan::Create { commit },
        (Some(p), pending) if !p.by_distributor => ProposalPlan::HumanEdited {
            tip: p.branch.tip.expect("an existing branch has a tip"),
            pending: pending.is_some(),
        },
        // With a bundle filter the branch may carry other bundles'
        // changes: only an unfiltered run closes it.
        (Some(p), None) if settings.bundles.is_some() => ProposalPlan::UpToDate {
            tip: p.branch.tip.expect("an existing branch has a tip"),
        },
        (Some(p), None) => ProposalPlan::Close {
            tip: p.branch.tip.expect("an existing branch has a tip"),
        },
        (Some(p), Some(commit)) => {
            let tip = p.branch.tip.expect("an existing branch has a tip");
            // Up to date when it is built on the current default branch
            // (no direct commit is about to move it) and every managed path
            // holds its final content there.
            let holds_final = files.iter().all(|f| {
                let on_branch = p.branch.files.get(&f.path).copied().flatten();
                match (f.state, f.route) {
                    (FileState::Orphaned, Route::Release) => true,
                    (FileState::Orphaned, _) => on_branch.is_none(),
                    _ => on_branch
                        .is_some_and(|e| Some(e.blob) == f.desired && e.mode == Some(f.mode)),
                }
            });
            // Files the branch still adds that are no longer rendered (its
            // own lock names them) make it stale too.
            let carries_stale = match p.branch.lock.as_deref().map(std::str::from_utf8) {
                Some(Ok(text)) => match Lock::parse("proposal lock", text) {
                    Ok(l) => l.files.iter().any(|(path, e)| {
                        in_scope(&e.bundle)
                            && !desired_by_path.contains_key(path.as_str())
                            && !locked.contains_key(path)
                            && p.branch.files.get(path).copied().flatten().is_some()
                    }),
                    Err(_) => true,
                },
                _ => true,
            };
            // Built on the current tip, or on an older one where none of
            // the managed paths nor the lock has changed since: it still
            // merges cleanly, so a busy default branch does not make
            // distributor rewrite the proposal (one write per run).
            let base_current = p.base == branch.tip
                || p.base_snapshot
                    .as_ref()
                    .is_some_and(|b| b.files == branch.files && b.lock == branch.lock);
            if direct.is_none() && base_current && holds_final && !carries_stale {
                ProposalPlan::UpToDate { tip }
            } else {
                ProposalPlan::Update {
                    previous_tip: tip,
                    commit,
                }
            }
        }
    };

    let pull_request = matches!(
        proposal,
        ProposalPlan::Create { .. } | ProposalPlan::Update { .. } | ProposalPlan::UpToDate { .. }
    )
    .then(|| {
        let why = if files
            .iter()
            .any(|f| f.route == Route::Proposal && f.state == FileState::Drifted)
            && delivery_route == Route::Direct
        {
            "some files were edited by hand, and distributor never overwrites a hand edit without review".to_string()
        } else {
            delivery_reason.clone()
        };
        let mut pr = pull_request::pull_request(repo, &on_proposal, &settings.source, &why);
        for f in &on_proposal {
            for label in settings.bundle_labels.get(&f.bundle).into_iter().flatten() {
                if !pr.labels.contains(label) {
                    pr.labels.push(label.clone());
                }
            }
        }
        pr
    })
    .filter(|_| !on_proposal.is_empty());

    let pull_request_action = if pull_requests {
        pull_request::action(
            &proposal,
            pull_request.as_ref(),
            obs.pull_request.as_ref(),
            obs.closed_pull_request.as_ref(),
            forced && direct.is_some(),
        )
    } else {
        PullRequestAction::None
    };
    Ok(RepoPlan {
        repo: obs.repo.clone(),
        team: repo.team.clone(),
        default_branch: branch.name.clone(),
        tip: branch.tip,
        delivery: repo.delivery,
        delivery_reason: describe_routing(&delivery_reason, &files, forced),
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
        locked_revision: old_lock.as_ref().map(|l| l.source.revision.clone()),
        proposal_revision: obs
            .proposal
            .as_ref()
            .and_then(|p| p.branch.lock.as_deref())
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|t| Lock::parse("proposal lock", t).ok())
            .map(|l| l.source.revision),
        default_checks: branch.checks,
        proposal_checks: obs.proposal.as_ref().and_then(|p| p.branch.checks),
        merged_contents,
        force_reason: settings.force_reason.clone(),
        policy: None,
    })
}

/// The delivery reason, extended when drift forces part of a direct
/// delivery onto the proposal branch.
fn describe_routing(base: &str, files: &[FilePlan], forced: bool) -> String {
    let drifted: Vec<&str> = files
        .iter()
        .filter(|f| f.state == FileState::Drifted && f.route == Route::Proposal)
        .map(|f| f.path.as_str())
        .collect();
    if forced || drifted.is_empty() || base.contains("`pr`") {
        return base.to_string();
    }
    format!(
        "{base}; drifted file{} {} proposed on the proposal branch instead (direct delivery never overwrites hand edits)",
        if drifted.len() == 1 { "" } else { "s" },
        drifted.join(", ")
    )
}

/// Fills in unified diffs from blob contents (what the branch holds) and
/// desired contents. Files whose old content is not in `blobs` get no diff.
pub fn attach_diffs(
    plan: &mut RepoPlan,
    desired: &[DesiredFile],
    blobs: &BTreeMap<ObjectId, Vec<u8>>,
) {
    let merged = std::mem::take(&mut plan.merged_contents);
    let by_blob: BTreeMap<ObjectId, &[u8]> = desired
        .iter()
        .map(|d| (d.blob, d.content.as_slice()))
        .chain(merged.iter().map(|(id, c)| (*id, c.as_slice())))
        .collect();
    for f in &mut plan.files {
        if !matches!(f.route, Route::Direct | Route::Proposal) {
            continue;
        }
        let old: Option<&[u8]> = match f.observed {
            None => Some(&[]),
            Some(o) => blobs.get(&o.blob).map(Vec::as_slice),
        };
        let new: Option<&[u8]> = match f.desired {
            None => Some(&[]),
            Some(b) => by_blob.get(&b).copied(),
        };
        if let (Some(old), Some(new)) = (old, new) {
            f.diff = Some(message::unified_diff(
                &f.path,
                old,
                new,
                f.observed.is_none(),
                f.desired.is_none(),
            ));
        }
    }
    plan.merged_contents = merged;
}

#[cfg(test)]
mod tests;
