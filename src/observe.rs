//! Observing and planning: asks the forge about every target (in
//! forge-sized batches, plus a second round for paths only a lock file
//! mentions), reads the blobs a 3-way merge or a diff needs, and plans each
//! repo with the pure planner. The executor calls back in here to re-plan
//! one repo after a compare-and-swap conflict.

use std::collections::{BTreeMap, BTreeSet};

use crate::forge::{Forge, ForgeError, RepoObservation, RepoQuery};
use crate::lock::Lock;
use crate::plan::{self, Plan, PlanInput, PlanSettings, RepoError, RepoPlan};
use crate::target::Target;

/// Options of planning.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: PlanSettings,
    /// Fetch old contents and attach unified diffs.
    pub diffs: bool,
    /// Only while at most this many repos have writes: output that lists
    /// more repos is compact and shows no diffs, so past it the diffs
    /// already attached are dropped and no more are read (a 10,000-repo
    /// text plan held 47 MB of diffs it never printed).
    pub diffs_up_to: Option<usize>,
    /// Plan repositories the forge does not have as if they were empty
    /// (`plan --init`: show what `apply --init` would do, create nothing).
    pub missing_as_empty: bool,
}

/// Observes every target (in forge-sized batches) and plans each.
pub async fn make_plan<F: Forge>(forge: &F, targets: &[Target], opts: &Options) -> Plan {
    let mut plan = empty_plan(opts, targets.len());
    let mut diffs = Diffs::new(opts);
    // Observed and planned a group at a time: only one group's
    // observations (lock files, file lists) are held at once.
    for group in targets.chunks(group_size(forge)) {
        let observations = observe_group(forge, group, opts).await;
        for (target, obs) in group.iter().zip(observations) {
            plan_into(&mut plan, forge, target, obs, opts, &mut diffs).await;
        }
    }
    plan
}

/// [`make_plan`] for a plan that will not be applied: each target's
/// rendered contents are freed as soon as its repo is planned, so a large
/// fleet never holds every rendered file and every plan at once.
pub async fn make_plan_releasing<F: Forge>(
    forge: &F,
    targets: &mut [Target],
    opts: &Options,
) -> Plan {
    let mut plan = empty_plan(opts, targets.len());
    let mut diffs = Diffs::new(opts);
    for group in targets.chunks_mut(group_size(forge)) {
        let observations = observe_group(forge, group, opts).await;
        for (target, obs) in group.iter_mut().zip(observations) {
            plan_into(&mut plan, forge, target, obs, opts, &mut diffs).await;
            target.release_contents();
        }
    }
    plan
}

fn group_size<F: Forge>(forge: &F) -> usize {
    PLAN_GROUP.max(forge.observe_batch_size())
}

/// A plan with room for `repos` repo plans (grown by doubling, a
/// 10,000-repo plan briefly held its old and new buffers: 24 MB).
fn empty_plan(opts: &Options, repos: usize) -> Plan {
    Plan {
        source: opts.settings.source.clone(),
        generator: crate::lock::generator(),
        force_reason: opts.settings.force_reason.clone(),
        rollback: opts.settings.rollback.clone(),
        repos: Vec::with_capacity(repos),
        errors: Vec::new(),
        rollout: None,
    }
}

/// Observes a group of targets (`plan --init`: missing repos as empty).
async fn observe_group<F: Forge>(
    forge: &F,
    targets: &[Target],
    opts: &Options,
) -> Vec<Result<RepoObservation, ForgeError>> {
    let mut observations = observe_all(forge, targets).await;
    if opts.missing_as_empty {
        for (target, obs) in targets.iter().zip(observations.iter_mut()) {
            if matches!(obs, Err(ForgeError::NotFound { .. })) {
                *obs = Ok(empty_observation(target));
            }
        }
    }
    observations
}

/// Plans one target into `plan` (its repos, or its errors).
async fn plan_into<F: Forge>(
    plan: &mut Plan,
    forge: &F,
    target: &Target,
    obs: Result<RepoObservation, ForgeError>,
    opts: &Options,
    diffs: &mut Diffs,
) {
    match plan_target(forge, target, obs, opts, None, diffs.on).await {
        Ok(mut p) => {
            compact(&mut p);
            let writes = p.has_writes();
            plan.repos.push(p);
            if writes && diffs.one_more_with_writes() {
                for f in plan.repos.iter_mut().flat_map(|r| r.files.iter_mut()) {
                    f.diff = None;
                }
            }
        }
        Err(error) => plan.errors.push(RepoError {
            repo: target.id(),
            error,
        }),
    }
}

/// Whether the next repo's plan gets diffs (see [`Options::diffs_up_to`]).
struct Diffs {
    on: bool,
    with_writes: usize,
    up_to: Option<usize>,
}

impl Diffs {
    fn new(opts: &Options) -> Diffs {
        Diffs {
            on: opts.diffs,
            with_writes: 0,
            up_to: opts.diffs_up_to,
        }
    }

    /// Counts a planned repo with writes; `true` when that takes the plan
    /// past the limit: the diffs attached so far are to be dropped.
    fn one_more_with_writes(&mut self) -> bool {
        self.with_writes += 1;
        let past = self.on && self.up_to.is_some_and(|limit| self.with_writes > limit);
        if past {
            self.on = false;
        }
        past
    }
}

/// Gives back the spare capacity of a repo's plan (vectors and strings
/// built by pushing): a fleet holds every plan until it is printed.
fn compact(p: &mut RepoPlan) {
    p.files.shrink_to_fit();
    for f in &mut p.files {
        if let Some(d) = &mut f.diff {
            d.shrink_to_fit();
        }
    }
    let commits = p.direct.iter_mut().chain(match &mut p.proposal {
        plan::ProposalPlan::Create { commit } | plan::ProposalPlan::Update { commit, .. } => {
            Some(commit)
        }
        _ => None,
    });
    for c in commits {
        c.message.shrink_to_fit();
        c.writes.shrink_to_fit();
    }
    if let Some(pr) = &mut p.pull_request {
        pr.body.shrink_to_fit();
    }
    if let plan::PullRequestAction::Open { pull_request } = &mut p.pull_request_action {
        pull_request.body.shrink_to_fit();
    }
    // The open pull request's body was read to decide the pull request
    // action (see `plan::pull_request::action`); nothing reads it after.
    if let Some(open) = &mut p.open_pull_request {
        open.body = String::new();
    }
}

/// Repos observed and planned together: large enough that the second
/// observation round (paths only a lock file names) is batched across many
/// forge batches, small enough that a 10,000-repo fleet never holds every
/// observation at once.
const PLAN_GROUP: usize = 500;

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

pub(crate) async fn plan_target<F: Forge>(
    forge: &F,
    target: &Target,
    obs: Result<RepoObservation, ForgeError>,
    opts: &Options,
    direct_refused: Option<&str>,
    diffs: bool,
) -> Result<RepoPlan, String> {
    let obs = obs.map_err(|e| e.to_string())?;
    // A proposal branch that is the default branch would put unreviewed
    // commits on it (and fail forever after): refuse the repo.
    if obs.default_branch.name == target.repo.proposal_branch {
        return Err(format!(
            "the default branch of {} is `{}`, which is also the proposal branch (defaults.proposal_branch): choose another proposal branch; nothing was written here",
            obs.repo, obs.default_branch.name
        ));
    }
    let none = BTreeMap::new();
    let input = |contents| PlanInput {
        repo: &target.repo,
        desired: &target.desired,
        observation: &obs,
        settings: &opts.settings,
        direct_refused,
        pull_requests: forge.has_pull_requests(),
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
    if diffs {
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
pub(crate) async fn observe_all<F: Forge>(
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
        let mut results = forge.observe(chunk).await;
        // A forge that answers fewer queries than asked is a forge bug;
        // the repos it skipped fail, they are not planned on a guess.
        if results.len() != chunk.len() {
            tracing::error!(
                asked = chunk.len(),
                answered = results.len(),
                "the forge did not answer every query"
            );
            results.truncate(chunk.len());
            while results.len() < chunk.len() {
                let q = &chunk[results.len()];
                results.push(Err(ForgeError::Other(format!(
                    "the forge gave no answer for {}",
                    q.repo
                ))));
            }
        }
        out.extend(results);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_stop_past_the_compact_limit_and_earlier_ones_are_dropped_once() {
        let mut d = Diffs {
            on: true,
            with_writes: 0,
            up_to: Some(2),
        };
        assert!(!d.one_more_with_writes());
        assert!(!d.one_more_with_writes());
        assert!(d.on, "two repos with writes: still shown in detail");
        assert!(d.one_more_with_writes(), "the third: drop what was read");
        assert!(!d.on);
        assert!(!d.one_more_with_writes(), "dropped once");
        let mut json = Diffs {
            on: true,
            with_writes: 0,
            up_to: None,
        };
        for _ in 0..10 {
            assert!(!json.one_more_with_writes());
        }
        assert!(json.on, "JSON carries every diff");
    }
}
