//! The executor: the one place where the pure core meets a forge. It
//! observes repos in batches, builds the [`Plan`] (pure planning per repo),
//! and applies it repo by repo: one direct commit with a compare-and-swap on
//! the observed tip, then the proposal branch. When a branch moved between
//! plan and apply it re-observes and re-plans that repo once; a repo that
//! fails does not stop the others.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::Serialize;

use crate::blob::{FileMode, ObjectId};
use crate::forge::{
    CommitRequest, FileWrite, Forge, ForgeError, PullRequestSpec, RepoId, RepoObservation,
    RepoQuery, Signature,
};
use crate::lock::Lock;
use crate::plan::{
    self, CommitPlan, Plan, PlanInput, PlanSettings, ProposalPlan, RepoError, RepoPlan,
};
use crate::registry::ResolvedRepo;
use crate::render::DesiredFile;
use crate::rollout::Decision;

/// A repo with its rendered files: the input of planning.
#[derive(Debug, Clone)]
pub struct Target {
    pub repo: ResolvedRepo,
    pub desired: Vec<DesiredFile>,
}

impl Target {
    pub fn id(&self) -> RepoId {
        RepoId::new(&self.repo.owner, &self.repo.name)
    }

    fn query(&self, extra_paths: &BTreeSet<String>) -> RepoQuery {
        let mut paths: BTreeSet<String> = self.desired.iter().map(|d| d.path.clone()).collect();
        paths.extend(extra_paths.iter().cloned());
        RepoQuery {
            repo: self.id(),
            branch: self.repo.default_branch.clone(),
            paths: paths.into_iter().collect(),
            lock_path: self.repo.lock_path.clone(),
            proposal_branch: self.repo.proposal_branch.clone(),
        }
    }
}

/// Options of planning.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: PlanSettings,
    /// Fetch old contents and attach unified diffs.
    pub diffs: bool,
    /// Plan repositories the forge does not have as if they were empty
    /// (`plan --init`: show what `apply --init` would do, create nothing).
    pub missing_as_empty: bool,
}

/// Observes every target (in forge-sized batches) and plans each.
pub async fn make_plan<F: Forge>(forge: &F, targets: &[Target], opts: &Options) -> Plan {
    let mut observations = observe_all(forge, targets).await;
    if opts.missing_as_empty {
        for (target, obs) in targets.iter().zip(observations.iter_mut()) {
            if matches!(obs, Err(ForgeError::NotFound { .. })) {
                *obs = Ok(empty_observation(target));
            }
        }
    }
    let mut repos = Vec::new();
    let mut errors = Vec::new();
    for (target, obs) in targets.iter().zip(observations) {
        match plan_target(forge, target, obs, opts, None).await {
            Ok(p) => repos.push(p),
            Err(error) => errors.push(RepoError {
                repo: target.id(),
                error,
            }),
        }
    }
    Plan {
        source: opts.settings.source.clone(),
        generator: crate::lock::generator(),
        force_reason: opts.settings.force_reason.clone(),
        repos,
        errors,
        rollout: None,
    }
}

/// What a repository that does not exist yet would look like once created
/// empty: an unborn default branch.
fn empty_observation(target: &Target) -> RepoObservation {
    RepoObservation {
        repo: target.id(),
        default_branch: crate::forge::BranchSnapshot {
            name: target
                .repo
                .default_branch
                .clone()
                .unwrap_or_else(|| "main".into()),
            tip: None,
            files: target
                .desired
                .iter()
                .map(|d| (d.path.clone(), None))
                .collect(),
            lock: None,
            checks: None,
        },
        proposal: None,
        pull_request: None,
        web_url: None,
        closed_pull_request: None,
    }
}

async fn plan_target<F: Forge>(
    forge: &F,
    target: &Target,
    obs: Result<RepoObservation, ForgeError>,
    opts: &Options,
    direct_refused: Option<&str>,
) -> Result<RepoPlan, String> {
    let obs = obs.map_err(|e| e.to_string())?;
    let none = BTreeMap::new();
    let input = |contents| PlanInput {
        repo: &target.repo,
        desired: &target.desired,
        observation: &obs,
        settings: &opts.settings,
        direct_refused,
        contents,
    };
    let mut plan = plan::plan_repo(input(&none))?;
    // Hand-edited files whose template changed: read the last distributed
    // content (the merge base) and the repository's, and plan again with a
    // 3-way merge. Unreadable blobs leave the files proposed for review.
    let needed = plan.blobs_for_merge();
    if !needed.is_empty() {
        match forge.read_blobs(&obs.repo, &needed).await {
            Ok(blobs) => plan = plan::plan_repo(input(&blobs))?,
            Err(e) => {
                tracing::warn!(repo = %obs.repo, error = %e, "cannot read the contents a 3-way merge needs; hand-edited files are proposed for review instead");
            }
        }
    }
    if opts.diffs {
        let wanted = plan.blobs_for_diffs();
        let blobs = if wanted.is_empty() {
            BTreeMap::new()
        } else {
            match forge.read_blobs(&obs.repo, &wanted).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(repo = %obs.repo, error = %e, "cannot read old contents; plan shows no diffs");
                    BTreeMap::new()
                }
            }
        };
        plan::attach_diffs(&mut plan, &target.desired, &blobs);
    }
    Ok(plan)
}

/// Observes all targets. A second, smaller round asks for paths that only
/// the lock files mention (orphans), so their state is known too.
async fn observe_all<F: Forge>(
    forge: &F,
    targets: &[Target],
) -> Vec<Result<RepoObservation, ForgeError>> {
    let none = BTreeSet::new();
    let queries: Vec<RepoQuery> = targets.iter().map(|t| t.query(&none)).collect();
    let mut results = observe_batched(forge, &queries).await;

    let mut again = Vec::new();
    for (i, (target, result)) in targets.iter().zip(&results).enumerate() {
        let Ok(obs) = result else { continue };
        let extra = orphan_paths(target, obs);
        if !extra.is_empty() {
            again.push((i, target.query(&extra)));
        }
    }
    if !again.is_empty() {
        let queries: Vec<RepoQuery> = again.iter().map(|(_, q)| q.clone()).collect();
        let second = observe_batched(forge, &queries).await;
        for ((i, _), r) in again.into_iter().zip(second) {
            results[i] = r;
        }
    }
    results
}

/// Paths the lock on either branch lists that the query did not ask for.
fn orphan_paths(target: &Target, obs: &RepoObservation) -> BTreeSet<String> {
    let asked: BTreeSet<&str> = target.desired.iter().map(|d| d.path.as_str()).collect();
    let mut extra = BTreeSet::new();
    let locks =
        std::iter::once(&obs.default_branch).chain(obs.proposal.as_ref().map(|p| &p.branch));
    for branch in locks {
        let Some(bytes) = &branch.lock else { continue };
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let Ok(lock) = Lock::parse("lock", text) else {
            continue;
        };
        extra.extend(
            lock.files
                .into_keys()
                .filter(|p| !asked.contains(p.as_str()) && !branch.files.contains_key(p)),
        );
    }
    extra
}

async fn observe_batched<F: Forge>(
    forge: &F,
    queries: &[RepoQuery],
) -> Vec<Result<RepoObservation, ForgeError>> {
    let mut out = Vec::with_capacity(queries.len());
    for chunk in queries.chunks(forge.observe_batch_size().max(1)) {
        let results = forge.observe(chunk).await;
        assert_eq!(results.len(), chunk.len(), "forge answered every query");
        out.extend(results);
    }
    out
}

/// What applying did to one repo.
#[derive(Debug, Clone, Serialize)]
pub struct RepoReport {
    pub repo: RepoId,
    /// New default-branch commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<ObjectId>,
    /// What happened to the proposal branch.
    pub proposal: ProposalOutcome,
    /// Files written or deleted, over both branches.
    pub files_changed: usize,
    /// The plan was redone after a branch moved under us.
    pub replanned: bool,
    /// The pull request the proposal is, on forges that have them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestReport>,
    /// Why direct changes went to the proposal instead (branch protection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Things that did not work but did not fail the repo (a reviewer
    /// GitHub would not add, auto-merge not allowed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the rollout policy left the repo's changes for later (queued,
    /// held, halted); nothing was written then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferred: Option<crate::rollout::Decision>,
    /// The open pull request got its escalation comment in this run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub escalated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Proposal branch outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProposalOutcome {
    None,
    Created { branch: String, commit: ObjectId },
    Updated { branch: String, commit: ObjectId },
    UpToDate { branch: String },
    Closed { branch: String },
    LeftAlone { branch: String, reason: String },
}

/// What happened to the pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequestReport {
    pub number: u64,
    pub url: String,
    pub action: PullRequestAction,
}

/// Pull request action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestAction {
    Opened,
    Updated,
    Unchanged,
    Closed,
    LeftAlone,
}

/// The result of `apply`.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub repos: Vec<RepoReport>,
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.repos.iter().filter(|r| r.error.is_some()).count()
    }
}

/// Applies `plan`. `on_done` is called after each repo (progress display).
pub async fn apply<F: Forge>(
    forge: &F,
    targets: &[Target],
    plan: Plan,
    opts: &Options,
    on_done: impl FnMut(&RepoReport),
) -> ApplyReport {
    let never = std::sync::atomic::AtomicBool::new(false);
    apply_until(forge, targets, plan, opts, &never, on_done).await
}

/// [`apply`], stopping at a safe point (between two repos) once `stop` is
/// set: a repo is always finished whole (commit, branch and pull request),
/// the rest are left for the next run and not reported. Repos whose
/// rollout decision (`RepoPlan::policy`) does not allow writes are reported
/// as deferred and left untouched; due escalation comments are posted.
pub async fn apply_until<F: Forge>(
    forge: &F,
    targets: &[Target],
    plan: Plan,
    opts: &Options,
    stop: &std::sync::atomic::AtomicBool,
    mut on_done: impl FnMut(&RepoReport),
) -> ApplyReport {
    let by_id: BTreeMap<RepoId, &Target> = targets.iter().map(|t| (t.id(), t)).collect();
    let mut reports = Vec::new();
    for err in plan.errors {
        let report = RepoReport {
            repo: err.repo,
            commit: None,
            proposal: ProposalOutcome::None,
            files_changed: 0,
            replanned: false,
            pull_request: None,
            fallback: None,
            warnings: Vec::new(),
            deferred: None,
            escalated: false,
            error: Some(err.error),
            duration_ms: 0,
        };
        tracing::error!(repo = %report.repo, error = report.error.as_deref().unwrap_or_default(), "repo not planned");
        on_done(&report);
        reports.push(report);
    }
    for repo_plan in plan.repos {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::info!(repo = %repo_plan.repo, "stopping: repo left for the next run");
            continue;
        }
        let target = by_id[&repo_plan.repo];
        let escalation = repo_plan
            .policy
            .as_ref()
            .and_then(|v| v.escalation.clone())
            .zip(repo_plan.open_pull_request.clone());
        let mut report = match repo_plan.policy.as_ref().map(|v| &v.decision) {
            Some(d) if !d.allows_writes() => deferred(&repo_plan, d.clone()),
            _ => apply_repo(forge, target, repo_plan, opts).await,
        };
        if let Some((comment, pull)) = escalation
            && report.error.is_none()
            && forge.has_pull_requests()
        {
            match forge
                .comment_pull_request(
                    &report.repo,
                    &pull,
                    &comment,
                    &[crate::rollout::ESCALATED_LABEL.to_string()],
                )
                .await
            {
                Ok(warnings) => {
                    tracing::info!(repo = %report.repo, pull_request = pull.number, action = "escalate", "stale pull request escalated to the team owners");
                    report.escalated = true;
                    report.warnings.extend(warnings);
                    report.pull_request.get_or_insert(PullRequestReport {
                        number: pull.number,
                        url: pull.url.clone(),
                        action: PullRequestAction::Unchanged,
                    });
                }
                Err(e) => report
                    .warnings
                    .push(format!("could not post the escalation comment: {e}")),
            }
        }
        on_done(&report);
        reports.push(report);
    }
    reports.sort_by(|a, b| a.repo.cmp(&b.repo));
    ApplyReport { repos: reports }
}

/// The report of a repo the rollout policy left for later.
fn deferred(plan: &RepoPlan, decision: Decision) -> RepoReport {
    tracing::info!(repo = %plan.repo, action = "apply", outcome = decision.key(), reason = %decision.line(), "repo left for later by the rollout policy");
    RepoReport {
        repo: plan.repo.clone(),
        commit: None,
        proposal: ProposalOutcome::None,
        files_changed: 0,
        replanned: false,
        pull_request: plan.open_pull_request.as_ref().map(|p| PullRequestReport {
            number: p.number,
            url: p.url.clone(),
            action: PullRequestAction::Unchanged,
        }),
        fallback: None,
        warnings: Vec::new(),
        deferred: Some(decision),
        escalated: false,
        error: None,
        duration_ms: 0,
    }
}

/// Applies one repo's plan, re-planning once if a branch moved.
async fn apply_repo<F: Forge>(
    forge: &F,
    target: &Target,
    first: RepoPlan,
    opts: &Options,
) -> RepoReport {
    let started = Instant::now();
    let mut report = RepoReport {
        repo: first.repo.clone(),
        commit: None,
        proposal: ProposalOutcome::None,
        files_changed: 0,
        replanned: false,
        pull_request: None,
        fallback: None,
        warnings: Vec::new(),
        deferred: None,
        escalated: false,
        error: None,
        duration_ms: 0,
    };
    let mut plan = first;
    let mut conflicts = 0;
    let mut refused: Option<String> = None;
    loop {
        match execute(forge, target, &plan, &mut report).await {
            Ok(()) => break,
            Err(ForgeError::Conflict { .. }) if conflicts == 0 => {
                conflicts += 1;
                tracing::warn!(repo = %report.repo, "a branch moved since it was observed; observing again and re-planning");
                report.replanned = true;
            }
            // Branch protection refused the direct commit: deliver the same
            // changes as a proposal instead, and say why. A forced run
            // never goes around protection.
            Err(ForgeError::Protected(why))
                if refused.is_none() && opts.settings.force_reason.is_none() =>
            {
                tracing::warn!(repo = %report.repo, reason = %why, "direct commit refused; proposing the changes instead");
                report.fallback = Some(format!(
                    "direct commit refused ({why}); the changes were proposed on `{}` instead",
                    plan.proposal_branch
                ));
                refused = Some(why);
            }
            Err(e) => {
                let msg = match &e {
                    ForgeError::Conflict { .. } => {
                        format!("{e}; gave up after re-planning once, will retry on the next run")
                    }
                    ForgeError::Protected(_) if opts.settings.force_reason.is_some() => {
                        format!(
                            "{e}; --force does not bypass branch protection: allow distributor to push (e.g. a ruleset bypass for its GitHub App) or merge by hand"
                        )
                    }
                    _ => e.to_string(),
                };
                report.error = Some(msg);
                break;
            }
        }
        let obs = observe_all(forge, std::slice::from_ref(target))
            .await
            .remove(0);
        let quiet = Options {
            diffs: false,
            ..opts.clone()
        };
        match plan_target(forge, target, obs, &quiet, refused.as_deref()).await {
            Ok(p) => plan = p,
            Err(e) => {
                report.error = Some(e);
                break;
            }
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    log_report(&report);
    report
}

fn log_report(r: &RepoReport) {
    let ms = r.duration_ms;
    match &r.error {
        Some(e) => {
            tracing::error!(repo = %r.repo, action = "apply", outcome = "failed", duration_ms = ms, error = %e, "repo failed")
        }
        None => {
            let commit = r.commit.map(|c| c.to_string()).unwrap_or_default();
            let proposal = serde_json::to_value(&r.proposal)
                .ok()
                .and_then(|v| {
                    v.get("outcome")
                        .and_then(|o| o.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            // One event per repo action; a repo with nothing to do is only
            // a debug event (a daemon checks the whole fleet every cycle).
            let pr_acted = r.pull_request.as_ref().is_some_and(|p| {
                !matches!(
                    p.action,
                    PullRequestAction::Unchanged | PullRequestAction::LeftAlone
                )
            });
            if r.files_changed > 0 || pr_acted || r.replanned || r.fallback.is_some() {
                tracing::info!(repo = %r.repo, action = "apply", outcome = if r.files_changed > 0 { "changed" } else { "unchanged" }, commit = %commit, proposal = %proposal, pull_request = r.pull_request.as_ref().map(|p| p.number).unwrap_or_default(), files = r.files_changed, duration_ms = ms, "repo done");
            } else {
                tracing::debug!(repo = %r.repo, action = "apply", outcome = "unchanged", proposal = %proposal, duration_ms = ms, "repo unchanged");
            }
        }
    }
}

/// Executes the writes of a plan. Stops at the first error.
async fn execute<F: Forge>(
    forge: &F,
    target: &Target,
    plan: &RepoPlan,
    report: &mut RepoReport,
) -> Result<(), ForgeError> {
    let contents: BTreeMap<ObjectId, &[u8]> = target
        .desired
        .iter()
        .map(|d| (d.blob, d.content.as_slice()))
        .chain(
            plan.merged_contents
                .iter()
                .map(|(id, c)| (*id, c.as_slice())),
        )
        .collect();
    let author = Signature {
        name: target.repo.author_name.clone(),
        email: target.repo.author_email.clone(),
    };
    let mut base = plan.tip;
    if let Some(direct) = &plan.direct {
        let request = commit_request(plan, direct, &contents, &author, base, base);
        let id = forge.commit(&request).await?;
        tracing::debug!(repo = %plan.repo, commit = %id, "direct commit written");
        report.commit = Some(id);
        report.files_changed += direct.writes.len();
        base = Some(id);
    }
    let branch = plan.proposal_branch.clone();
    report.proposal = match &plan.proposal {
        ProposalPlan::None => ProposalOutcome::None,
        ProposalPlan::Create { commit } => {
            let request = commit_request(plan, commit, &contents, &author, base, None);
            let id = forge.commit(&request).await?;
            report.files_changed += commit.writes.len();
            ProposalOutcome::Created { branch, commit: id }
        }
        ProposalPlan::Update {
            previous_tip,
            commit,
        } => {
            let request =
                commit_request(plan, commit, &contents, &author, base, Some(*previous_tip));
            let id = forge.commit(&request).await?;
            report.files_changed += commit.writes.len();
            ProposalOutcome::Updated { branch, commit: id }
        }
        ProposalPlan::UpToDate { .. } => ProposalOutcome::UpToDate { branch },
        ProposalPlan::Close { tip } => {
            if let (true, Some(pull)) = (forge.has_pull_requests(), &plan.open_pull_request) {
                let comment = match (&report.commit, &plan.force_reason) {
                    (Some(commit), Some(reason)) => format!(
                        "Closing: superseded by the forced commit {} on `{}` (source revision `{}`). Reason given: {reason}. — distributor",
                        commit_link(plan, commit),
                        plan.default_branch,
                        target_revision(plan)
                    ),
                    _ => format!(
                        "Closing: this repository is now in sync with the platform (source revision `{}`): the change was merged, or the same change was made here. Nothing is left to propose. — distributor",
                        target_revision(plan)
                    ),
                };
                forge.close_pull_request(&plan.repo, pull, &comment).await?;
                report.pull_request = Some(PullRequestReport {
                    number: pull.number,
                    url: pull.url.clone(),
                    action: PullRequestAction::Closed,
                });
            }
            forge.delete_branch(&plan.repo, &branch, *tip).await?;
            ProposalOutcome::Closed { branch }
        }
        ProposalPlan::HumanEdited { pending, .. } => ProposalOutcome::LeftAlone {
            branch,
            reason: if *pending {
                "someone else pushed to the proposal branch; changes are pending until it is merged or deleted".into()
            } else {
                "someone else pushed to the proposal branch".into()
            },
        },
    };
    if forge.has_pull_requests() {
        sync_pull_request(forge, plan, report).await?;
    }
    Ok(())
}

/// A commit as a link on the repository's web page, or its id.
fn commit_link(plan: &RepoPlan, commit: &ObjectId) -> String {
    match &plan.web_url {
        Some(url) => format!("{url}/commit/{commit}"),
        None => format!("`{commit}`"),
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

/// The revision a plan distributes, for messages.
fn target_revision(plan: &RepoPlan) -> String {
    plan.direct
        .as_ref()
        .map(|c| c.lock.source.revision.clone())
        .or_else(|| match &plan.proposal {
            ProposalPlan::Create { commit } | ProposalPlan::Update { commit, .. } => {
                Some(commit.lock.source.revision.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| "current".into())
}

/// Opens the pull request for a proposal branch that carries changes, or
/// brings an open one's title and body up to date.
async fn sync_pull_request<F: Forge>(
    forge: &F,
    plan: &RepoPlan,
    report: &mut RepoReport,
) -> Result<(), ForgeError> {
    let carries = matches!(
        plan.proposal,
        ProposalPlan::Create { .. } | ProposalPlan::Update { .. } | ProposalPlan::UpToDate { .. }
    );
    if let (ProposalPlan::HumanEdited { .. }, Some(pull)) =
        (&plan.proposal, &plan.open_pull_request)
    {
        report.pull_request = Some(PullRequestReport {
            number: pull.number,
            url: pull.url.clone(),
            action: PullRequestAction::LeftAlone,
        });
        return Ok(());
    }
    let (true, Some(want)) = (carries, &plan.pull_request) else {
        return Ok(());
    };
    // The team closed this very proposal without merging it: do not open
    // it again. A new platform change rebuilds the branch (a new commit)
    // and proposes again; deleting the branch asks for a new one now.
    if let (ProposalPlan::UpToDate { tip }, None, Some(closed)) = (
        &plan.proposal,
        &plan.open_pull_request,
        &plan.closed_pull_request,
    ) && closed.head == Some(*tip)
    {
        report.pull_request = Some(PullRequestReport {
            number: closed.number,
            url: closed.url.clone(),
            action: PullRequestAction::LeftAlone,
        });
        report.warnings.push(format!(
            "pull request #{} was closed without merging; this proposal is not reopened. It is proposed again when the platform changes; delete branch `{}` to get a new pull request now",
            closed.number, plan.proposal_branch
        ));
        return Ok(());
    }
    match &plan.open_pull_request {
        Some(pull) => {
            // A new platform revision that changes nothing here does not
            // rewrite the pull request (one write per repo per platform
            // commit would be noise and budget).
            let stale = pull.title != want.title
                || without_revision(&pull.body) != without_revision(&want.body);
            let action = if stale {
                forge
                    .update_pull_request(&plan.repo, pull, &want.title, &want.body)
                    .await?;
                PullRequestAction::Updated
            } else {
                PullRequestAction::Unchanged
            };
            report.pull_request = Some(PullRequestReport {
                number: pull.number,
                url: pull.url.clone(),
                action,
            });
        }
        None => {
            let spec = PullRequestSpec {
                repo: plan.repo.clone(),
                head: plan.proposal_branch.clone(),
                base: plan.default_branch.clone(),
                title: want.title.clone(),
                body: want.body.clone(),
                labels: want.labels.clone(),
                reviewers: want.reviewers.clone(),
                team_reviewers: want.team_reviewers.clone(),
                draft: want.draft,
                auto_merge: want.auto_merge,
            };
            let opened = forge.open_pull_request(&spec).await?;
            report.warnings.extend(opened.warnings);
            report.pull_request = Some(PullRequestReport {
                number: opened.number,
                url: opened.url,
                action: PullRequestAction::Opened,
            });
        }
    }
    Ok(())
}

/// File modes in the parent of a commit: what the default branch was
/// observed to hold, then (for a proposal built on a new direct commit) what
/// that commit wrote.
fn parent_modes(plan: &RepoPlan, after_direct: bool) -> BTreeMap<&str, FileMode> {
    let mut modes: BTreeMap<&str, FileMode> = plan
        .files
        .iter()
        .filter_map(|f| Some((f.path.as_str(), f.observed?.mode?)))
        .collect();
    if let (true, Some(direct)) = (after_direct, &plan.direct) {
        for w in &direct.writes {
            match w.blob {
                Some(_) => modes.insert(w.path.as_str(), w.mode),
                None => modes.remove(w.path.as_str()),
            };
        }
    }
    modes
}

fn commit_request(
    plan: &RepoPlan,
    commit: &CommitPlan,
    contents: &BTreeMap<ObjectId, &[u8]>,
    author: &Signature,
    parent: Option<ObjectId>,
    expected_tip: Option<ObjectId>,
) -> CommitRequest {
    let on_direct = plan
        .direct
        .as_ref()
        .is_some_and(|d| d.branch == commit.branch);
    let modes = parent_modes(plan, !on_direct && parent != plan.tip);
    let mut files: Vec<FileWrite> = commit
        .writes
        .iter()
        .map(|w| FileWrite {
            mode_unchanged: modes.get(w.path.as_str()) == Some(&w.mode),
            path: w.path.clone(),
            content: w.blob.map(|b| {
                contents
                    .get(&b)
                    .expect("planned blobs come from the rendered files")
                    .to_vec()
            }),
            mode: w.mode,
        })
        .collect();
    files.push(FileWrite {
        path: plan.lock_path.clone(),
        content: Some(commit.lock.to_bytes()),
        mode: FileMode::Regular,
        mode_unchanged: false,
    });
    CommitRequest {
        repo: plan.repo.clone(),
        branch: commit.branch.clone(),
        parent,
        expected_tip,
        files,
        message: commit.message.clone(),
        author: author.clone(),
    }
}

#[cfg(test)]
mod tests;
