//! The executor: performs a [`Plan`] through a forge, repo by repo, and
//! decides nothing itself. Per repo: the direct commit (a compare-and-swap
//! on the observed tip), the proposal branch, then the pull request action
//! and escalation the plan names. When a branch moved between plan and
//! apply it re-observes and re-plans that repo once (see
//! [`crate::observe`]); a repo that fails does not stop the others; repos
//! the rollout policy deferred are reported and left untouched.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::blob::{FileMode, ObjectId};
use crate::forge::{
    CommitRequest, FileWrite, Forge, ForgeError, PullRequestSpec, RepoId, Signature,
};
use crate::observe::{Options, observe_all, plan_target};
use crate::plan::verdict::Decision;
use crate::plan::{CloseReason, CommitPlan, Plan, ProposalPlan, PullRequestAction, RepoPlan};
use crate::target::Target;

mod tally;
#[cfg(test)]
pub(crate) use tally::tests as tally_tests;
pub use tally::{RepoOutcome, Tally};

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
    pub deferred: Option<Decision>,
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
    pub action: PullRequestOutcome,
}

/// Pull request action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestOutcome {
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
    /// Repos not planned or with a failed write.
    pub fn failed(&self) -> usize {
        self.repos.iter().filter(|r| r.error.is_some()).count()
    }
}

/// What the caller does around each repo while applying: write ahead
/// (the audit intent of a forced write) and record what landed.
pub trait Watcher: Send {
    /// Called before a repo's writes; an error leaves the repo unwritten
    /// and reported failed with it.
    fn before_writes(&mut self, plan: &RepoPlan) -> Result<(), String> {
        let _ = plan;
        Ok(())
    }
    /// Called after each repo, written or not.
    fn done(&mut self, report: &RepoReport);
}

impl<F: FnMut(&RepoReport) + Send> Watcher for F {
    fn done(&mut self, report: &RepoReport) {
        self(report)
    }
}

/// Applies `plan`. `on_done` is called after each repo (progress display).
pub async fn apply<F: Forge>(
    forge: &F,
    targets: &[Target],
    plan: &Plan,
    opts: &Options,
    mut on_done: impl FnMut(&RepoReport) + Send,
) -> ApplyReport {
    let never = std::sync::atomic::AtomicBool::new(false);
    apply_until(forge, targets, plan, opts, &never, &mut on_done).await
}

/// [`apply`], stopping at a safe point (between two repos) once `stop` is
/// set: a repo is always finished whole (commit, branch and pull request),
/// the rest are left for the next run and not reported. Repos whose
/// rollout decision (`RepoPlan::policy`) does not allow writes are reported
/// as deferred and left untouched; due escalation comments are posted.
pub async fn apply_until<F: Forge>(
    forge: &F,
    targets: &[Target],
    plan: &Plan,
    opts: &Options,
    stop: &std::sync::atomic::AtomicBool,
    watcher: &mut dyn Watcher,
) -> ApplyReport {
    let by_id: BTreeMap<RepoId, &Target> = targets.iter().map(|t| (t.id(), t)).collect();
    let mut reports = Vec::new();
    for err in &plan.errors {
        let report = RepoReport {
            error: Some(err.error.clone()),
            ..RepoReport::nothing_done(err.repo.clone())
        };
        tracing::error!(repo = %report.repo, error = report.error.as_deref().unwrap_or_default(), "repo not planned");
        watcher.done(&report);
        reports.push(report);
    }
    for repo_plan in &plan.repos {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::info!(repo = %repo_plan.repo, "stopping: repo left for the next run");
            continue;
        }
        let Some(target) = by_id.get(&repo_plan.repo).copied() else {
            // Planned repos come from the targets; never guess.
            tracing::error!(repo = %repo_plan.repo, "planned repo is not a target; skipped");
            continue;
        };
        let escalation = repo_plan
            .policy
            .as_ref()
            .and_then(|v| v.escalation.clone())
            .zip(repo_plan.open_pull_request.clone());
        let mut report = match repo_plan.policy.as_ref().map(|v| &v.decision) {
            Some(d) if !d.allows_writes() => deferred(repo_plan, d.clone()),
            _ => match refused_by(watcher, repo_plan) {
                None => apply_repo(forge, target, repo_plan, opts).await,
                Some(report) => report,
            },
        };
        if let Some((esc, pull)) = escalation
            && report.error.is_none()
        {
            match forge
                .comment_pull_request(
                    &report.repo,
                    &pull,
                    &esc.comment,
                    std::slice::from_ref(&esc.label),
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
                        action: PullRequestOutcome::Unchanged,
                    });
                }
                Err(e) => report
                    .warnings
                    .push(format!("could not post the escalation comment: {e}")),
            }
        }
        watcher.done(&report);
        reports.push(report);
    }
    reports.sort_by(|a, b| a.repo.cmp(&b.repo));
    ApplyReport { repos: reports }
}

/// The report of a repo with writes left unwritten because the watcher
/// refused to go ahead; `None` to go ahead.
fn refused_by(watcher: &mut dyn Watcher, plan: &RepoPlan) -> Option<RepoReport> {
    if !plan.has_writes() {
        return None;
    }
    let e = watcher.before_writes(plan).err()?;
    tracing::error!(repo = %plan.repo, error = %e, "repo not written");
    Some(RepoReport {
        error: Some(format!("nothing written: {e}")),
        ..empty_report(plan)
    })
}

/// A report of nothing done yet.
fn empty_report(plan: &RepoPlan) -> RepoReport {
    RepoReport::nothing_done(plan.repo.clone())
}

impl RepoReport {
    /// The report of `repo` with nothing done (yet).
    pub fn nothing_done(repo: crate::forge::RepoId) -> RepoReport {
        RepoReport {
            repo,
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
        }
    }
}

/// The report of a repo the rollout policy left for later.
fn deferred(plan: &RepoPlan, decision: Decision) -> RepoReport {
    tracing::info!(repo = %plan.repo, action = "apply", outcome = decision.key(), reason = %decision.line(), "repo left for later by the rollout policy");
    RepoReport {
        pull_request: plan.open_pull_request.as_ref().map(|p| PullRequestReport {
            number: p.number,
            url: p.url.clone(),
            action: PullRequestOutcome::Unchanged,
        }),
        deferred: Some(decision),
        ..empty_report(plan)
    }
}

/// Applies one repo's plan, re-planning once if a branch moved.
async fn apply_repo<F: Forge>(
    forge: &F,
    target: &Target,
    first: &RepoPlan,
    opts: &Options,
) -> RepoReport {
    let started = Instant::now();
    let mut report = empty_report(first);
    // The plan made for this repo, or after a conflict its re-plan.
    let mut replanned: Option<RepoPlan> = None;
    let mut conflicts = 0;
    let mut refused: Option<String> = None;
    loop {
        let plan = replanned.as_ref().unwrap_or(first);
        match execute(forge, target, plan, &mut report).await {
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
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(ForgeError::Other("the forge gave no answer".into())));
        let quiet = Options {
            diffs: false,
            ..opts.clone()
        };
        match plan_target(forge, target, obs, &quiet, refused.as_deref(), false).await {
            Ok(p) => replanned = Some(p),
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
                    PullRequestOutcome::Unchanged | PullRequestOutcome::LeftAlone
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
        .filter_map(|d| Some((d.blob, Target::content_of(d)?)))
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
        let request = commit_request(plan, direct, &contents, &author, base, base)?;
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
            let request = commit_request(plan, commit, &contents, &author, base, None)?;
            let id = forge.commit(&request).await?;
            report.files_changed += commit.writes.len();
            ProposalOutcome::Created { branch, commit: id }
        }
        ProposalPlan::Update {
            previous_tip,
            commit,
            stacked,
        } => {
            // Stacked: on the proposal's tip, a fast-forward of the branch;
            // else rebuilt on the default branch, the branch moving from
            // its old tip straight to the new commit.
            let parent = if *stacked { Some(*previous_tip) } else { base };
            let request = commit_request(
                plan,
                commit,
                &contents,
                &author,
                parent,
                Some(*previous_tip),
            )?;
            let id = forge.commit(&request).await?;
            report.files_changed += commit.writes.len();
            ProposalOutcome::Updated { branch, commit: id }
        }
        ProposalPlan::UpToDate { .. } => ProposalOutcome::UpToDate { branch },
        ProposalPlan::Close { tip } => {
            if let PullRequestAction::Close { reason, .. } = &plan.pull_request_action {
                close_pull_request(forge, plan, *reason, report).await?;
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
    if !matches!(plan.proposal, ProposalPlan::Close { .. }) {
        pull_request(forge, plan, report).await?;
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

/// Comments on the open pull request and closes it (before its branch is
/// deleted).
async fn close_pull_request<F: Forge>(
    forge: &F,
    plan: &RepoPlan,
    reason: CloseReason,
    report: &mut RepoReport,
) -> Result<(), ForgeError> {
    let Some(pull) = &plan.open_pull_request else {
        return Ok(());
    };
    let comment = match (reason, &report.commit, &plan.force_reason) {
        (CloseReason::SupersededByForce, Some(commit), Some(why)) => format!(
            "Closing: superseded by the forced commit {} on `{}` (source revision `{}`). Reason given: {why}. — distributor",
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
        action: PullRequestOutcome::Closed,
    });
    Ok(())
}

/// Performs the plan's pull request action for a proposal branch that
/// carries changes (or a human's).
async fn pull_request<F: Forge>(
    forge: &F,
    plan: &RepoPlan,
    report: &mut RepoReport,
) -> Result<(), ForgeError> {
    let existing = |number: u64, action| {
        let url = plan
            .open_pull_request
            .as_ref()
            .filter(|p| p.number == number)
            .map(|p| p.url.clone())
            .or_else(|| {
                plan.closed_pull_request
                    .as_ref()
                    .filter(|p| p.number == number)
                    .map(|p| p.url.clone())
            })
            .unwrap_or_default();
        Some(PullRequestReport {
            number,
            url,
            action,
        })
    };
    match &plan.pull_request_action {
        PullRequestAction::None | PullRequestAction::Close { .. } => {}
        PullRequestAction::LeaveAlone { number } => {
            report.pull_request = existing(*number, PullRequestOutcome::LeftAlone);
        }
        PullRequestAction::LeaveClosed { number } => {
            report.pull_request = existing(*number, PullRequestOutcome::LeftAlone);
            report.warnings.push(format!(
                "pull request #{number} was closed without merging; this proposal is not reopened. It is proposed again when the platform changes; delete branch `{}` to get a new pull request now",
                plan.proposal_branch
            ));
        }
        PullRequestAction::Keep { number } => {
            report.pull_request = existing(*number, PullRequestOutcome::Unchanged);
        }
        PullRequestAction::Update {
            number,
            title,
            body,
        } => {
            let Some(pull) = plan
                .open_pull_request
                .as_ref()
                .filter(|p| p.number == *number)
            else {
                return Err(ForgeError::Other(format!(
                    "the plan updates pull request #{number}, which it did not observe open"
                )));
            };
            forge
                .update_pull_request(&plan.repo, pull, title, body)
                .await?;
            report.pull_request = existing(*number, PullRequestOutcome::Updated);
        }
        PullRequestAction::Open { pull_request: want } => {
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
                action: PullRequestOutcome::Opened,
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
) -> Result<CommitRequest, ForgeError> {
    let on_direct = plan
        .direct
        .as_ref()
        .is_some_and(|d| d.branch == commit.branch);
    // The modes of a parent on the default branch are known; a stacked
    // commit's parent (the proposal's tip) the forge checks itself.
    let stacked = matches!(&plan.proposal, ProposalPlan::Update { stacked: true, previous_tip, .. } if parent == Some(*previous_tip));
    let modes = if stacked {
        BTreeMap::new()
    } else {
        parent_modes(plan, !on_direct && parent != plan.tip)
    };
    let mut files: Vec<FileWrite> = commit
        .writes
        .iter()
        .map(|w| {
            let content = match w.blob {
                None => None,
                Some(b) => Some(contents.get(&b).ok_or_else(|| {
                    ForgeError::Other(format!(
                        "internal error: the plan writes {} as blob {b}, whose content is not at hand; nothing was written to {}",
                        w.path, plan.repo
                    ))
                })?.to_vec()),
            };
            Ok(FileWrite {
                mode_unchanged: modes.get(w.path.as_str()) == Some(&w.mode),
                path: w.path.clone(),
                content,
                mode: w.mode,
            })
        })
        .collect::<Result<_, ForgeError>>()?;
    files.push(FileWrite {
        path: plan.lock_path.clone(),
        content: Some(commit.lock.to_bytes()),
        mode: FileMode::Regular,
        mode_unchanged: false,
    });
    Ok(CommitRequest {
        repo: plan.repo.clone(),
        branch: commit.branch.clone(),
        parent,
        expected_tip,
        files,
        message: commit.message.clone(),
        author: author.clone(),
    })
}

#[cfg(test)]
mod tests;
