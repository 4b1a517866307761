//! The rollout policy: which planned repos may be written to now, and why
//! the others wait. Pure: it takes the fleet's plan, the registry's
//! rollout settings, the folded rollout log and the current time, and
//! returns a decision per repo (proceed, queued behind a budget with a
//! position, held by a wave, halted), the waves' state, the budgets, the
//! staleness of each repo, the escalations due, and the log events that
//! record what it saw. The executor obeys the decisions; `plan` and
//! `status` print them. The behaviour is described in `docs/rollout.md`.

pub mod log;
pub mod pin;
pub mod revision;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::forge::{Checks, RepoId};
use crate::lock::Source;
use crate::plan::message::short;
pub use crate::plan::verdict::{
    Budget, Decision, Decisions, Escalation, Halt, Limit, RepoPolicy, Staleness, WaveReport,
};
use crate::plan::{Plan, ProposalPlan, PullRequestAction, RepoPlan, RepoStatus, Route};
use crate::registry::Rollout;
use crate::target::Target;
use crate::time::{self, Epoch};
pub use log::{Event, Log, State};

/// The label put on a pull request once it has been escalated.
pub const ESCALATED_LABEL: &str = "distributor:escalated";

/// Everything the policy reads besides the plan.
pub struct Context<'a> {
    pub now: Epoch,
    pub rollout: &'a Rollout,
    pub state: &'a State,
    /// The targets planned (waves, owners, bundles).
    pub targets: &'a [Target],
    /// Platform commits, newest first, with their commit times (may be
    /// empty when the platform is not a git repository).
    pub history: &'a [(String, Epoch)],
    /// The plan covers every repo of the registry, all bundles: wave and
    /// fleet-wide facts may be recorded from it.
    pub full_fleet: bool,
    /// `apply --force`: every gate is skipped.
    pub forced: bool,
    /// The fleet is pinned to this plan's revision (a rollback): repos a
    /// later revision reached take it past the waves.
    pub rollback: Option<&'a pin::Rollback>,
}

/// The key a revision is known by in the log and on the command line: the
/// platform commit, with an inputs digest when the tree was dirty.
pub fn revision_key(source: &Source) -> String {
    match &source.digest {
        Some(d) => format!(
            "{}+{}",
            source.revision,
            d.chars().take(12).collect::<String>()
        ),
        None => source.revision.clone(),
    }
}

/// Whether applying the plan delivers content (a commit, a proposal
/// commit, or a pull request for a proposal branch left without one);
/// closing a finished proposal does not count.
pub fn delivers(p: &RepoPlan) -> bool {
    p.direct.is_some()
        || matches!(
            p.proposal,
            ProposalPlan::Create { .. } | ProposalPlan::Update { .. }
        )
        || matches!(p.pull_request_action, PullRequestAction::Open { .. })
}

/// Whether applying the plan opens a new pull request (or, on forges
/// without them, a new proposal branch).
fn opens_proposal(p: &RepoPlan) -> bool {
    matches!(p.proposal, ProposalPlan::Create { .. })
        || matches!(p.pull_request_action, PullRequestAction::Open { .. })
}

/// Decides every repo of `plan`: the fleet-wide verdict, and each repo's.
fn decide(ctx: &Context<'_>, plan: &Plan) -> (Decisions, BTreeMap<RepoId, RepoPolicy>, Vec<Event>) {
    let revision = revision_key(&plan.source);
    let mut events = Vec::new();
    let by_id: BTreeMap<RepoId, &Target> = ctx.targets.iter().map(|t| (t.id(), t)).collect();
    let errors: BTreeSet<&RepoId> = plan.errors.iter().map(|e| &e.repo).collect();
    let n_waves = ctx.rollout.waves.len();
    let wave_of = |repo: &RepoId| -> usize {
        let wave = by_id.get(repo).and_then(|t| t.repo.wave.as_deref());
        ctx.rollout.wave_index(wave).unwrap_or(n_waves)
    };

    // Staleness of every planned repo.
    let mut staleness: BTreeMap<RepoId, Staleness> = BTreeMap::new();
    for p in &plan.repos {
        staleness.insert(p.repo.clone(), staleness_of(ctx, p));
    }

    // Halt: failures of this revision, or a halt already recorded.
    let halt = halt_of(ctx, plan, &revision, &mut events);

    // Waves: which are open for this revision.
    let (waves, after_waves) = waves_of(ctx, plan, &revision, &errors, &wave_of, &mut events);

    let mut repos: BTreeMap<RepoId, RepoPolicy> = BTreeMap::new();
    let mut candidates: Vec<&RepoPlan> = Vec::new();
    for p in &plan.repos {
        let decision = if !delivers(p) {
            Decision::Idle
        } else if ctx.forced {
            Decision::Forced
        } else if let Some(h) = &halt {
            Decision::Halted {
                reason: format!(
                    "the rollout of revision {} is halted ({}); run `distributor resume {}` once it is fixed",
                    short(&h.revision),
                    h.reason,
                    h.revision
                ),
            }
        } else if let Some(decision) = rollback_hold(ctx, p) {
            if decision == Decision::Proceed {
                candidates.push(p);
            }
            decision
        } else {
            let w = wave_of(&p.repo);
            let held = match waves.get(w) {
                Some(report) if !report.open => Some((
                    report.waiting.clone().unwrap_or_default(),
                    report.opens_at.clone(),
                )),
                Some(_) => None,
                None => after_waves
                    .line("repos outside the declared waves", &revision)
                    .map(|l| (l, after_waves.until())),
            };
            match held {
                Some((reason, until)) => Decision::Held { reason, until },
                _ => {
                    candidates.push(p);
                    Decision::Proceed
                }
            }
        };
        repos.insert(
            p.repo.clone(),
            RepoPolicy {
                decision,
                staleness: staleness.remove(&p.repo).unwrap_or_default(),
                escalation: None,
            },
        );
    }

    // Budgets, in priority order: security bundles, earlier waves, older
    // pending changes.
    let budget = budgets(
        ctx,
        plan,
        &mut candidates,
        &wave_of,
        &mut repos,
        &mut events,
    );

    // Escalations: pull requests open past `escalate_after`, once.
    if let Some(after) = ctx.rollout.escalate_after {
        for p in &plan.repos {
            let Some(pr) = &p.open_pull_request else {
                continue;
            };
            let Some(policy) = repos.get_mut(&p.repo) else {
                continue;
            };
            let done = ctx
                .state
                .escalated
                .contains(&(p.repo.to_string(), pr.number))
                || pr.labels.iter().any(|l| l == ESCALATED_LABEL);
            policy.staleness.escalated = done;
            let open = policy.staleness.open_secs.unwrap_or(0);
            if !done && open >= after.as_secs() {
                policy.escalation = Some(Escalation {
                    number: pr.number,
                    comment: escalation_comment(
                        by_id.get(&p.repo).copied(),
                        pr.number,
                        Duration::from_secs(open),
                        after,
                    ),
                    label: ESCALATED_LABEL.to_string(),
                });
            }
        }
    }

    (
        Decisions {
            revision,
            waves,
            halt,
            budget,
        },
        repos,
        events,
    )
}

/// Under a rollback: a repo a later revision reached proceeds past the
/// waves (`Some(Proceed)`); another is held when only reached repos may be
/// written (`distributor rollback` itself); `None`: the waves decide.
fn rollback_hold(ctx: &Context<'_>, p: &RepoPlan) -> Option<Decision> {
    let rb = ctx.rollback?;
    if rb.reached_by(p).is_some() {
        return Some(Decision::Proceed);
    }
    rb.only_reached.then(|| Decision::Held {
        reason: format!(
            "no revision after {} reached this repo, so the rollback leaves it alone; \
             while the fleet is pinned, runs bring it revision {} through the waves",
            short(&rb.pin.revision),
            short(&rb.pin.revision)
        ),
        until: None,
    })
}

fn staleness_of(ctx: &Context<'_>, p: &RepoPlan) -> Staleness {
    let mut s = Staleness::default();
    if let Some(pr) = &p.open_pull_request
        && let Some(t) = time::parse_rfc3339(&pr.created_at)
    {
        let open = time::since(t, ctx.now);
        s.open_secs = Some(open.as_secs());
        s.pull_request_open_for = Some(time::human(open));
    }
    if p.status() != RepoStatus::InSync
        && let Some(locked) = &p.locked_revision
        && let Some(i) = ctx.history.iter().position(|(rev, _)| rev == locked)
    {
        s.behind_revisions = Some(i);
        if i > 0 {
            let since = ctx.history[i - 1].1;
            let behind = time::since(since, ctx.now);
            s.behind_secs = Some(behind.as_secs());
            s.behind_since = Some(time::rfc3339(since));
            s.behind_for = Some(time::human(behind));
        }
    }
    if let Some(after) = ctx.rollout.stale_after {
        let longest = s.behind_secs.max(s.open_secs).unwrap_or(0);
        s.stale = longest >= after.as_secs();
    }
    s
}

fn halt_of(
    ctx: &Context<'_>,
    plan: &Plan,
    revision: &str,
    events: &mut Vec<Event>,
) -> Option<Halt> {
    // A resumed revision is not halted again by any failure, old or new,
    // even when a run that read the log before the resume records one.
    if ctx.state.resumed.contains_key(revision) {
        return None;
    }
    if let Some((reason, at)) = ctx.state.halted.get(revision) {
        return Some(Halt {
            revision: revision.to_string(),
            reason: reason.clone(),
            since: time::rfc3339(*at),
        });
    }
    if ctx.forced {
        return None;
    }
    let threshold = ctx.rollout.halt_after_failures? as usize;
    let failures = failures(ctx, plan, revision);
    if failures.len() < threshold.max(1) {
        return None;
    }
    let reason = format!(
        "{} failure{}: {}",
        failures.len(),
        if failures.len() == 1 { "" } else { "s" },
        failures.join("; ")
    );
    events.push(Event::Halted {
        at: ctx.now,
        revision: revision.to_string(),
        reason: reason.clone(),
        rollback: false,
    });
    Some(Halt {
        revision: revision.to_string(),
        reason,
        since: time::rfc3339(ctx.now),
    })
}

/// What went wrong with this revision where it was delivered: failed
/// checks on its pull requests or on the default branch after its direct
/// commit, pull requests closed without merging.
fn failures(ctx: &Context<'_>, plan: &Plan, key: &str) -> Vec<String> {
    let rev = &plan.source.revision;
    let mut out = Vec::new();
    for p in &plan.repos {
        if let ProposalPlan::UpToDate { tip } = &p.proposal
            && p.proposal_revision.as_deref() == Some(rev.as_str())
        {
            match (&p.open_pull_request, &p.closed_pull_request) {
                (Some(pr), _) if p.proposal_checks == Some(Checks::Failure) => {
                    out.push(format!(
                        "{}: checks failed on pull request #{}",
                        p.repo, pr.number
                    ));
                }
                (None, Some(closed)) if closed.head == Some(*tip) => out.push(format!(
                    "{}: pull request #{} was closed without merging",
                    p.repo, closed.number
                )),
                _ => {}
            }
        }
        if let Some((commit, crev, _)) = ctx.state.direct_commits.get(&p.repo.to_string())
            && crev == key
            && p.tip.map(|t| t.to_string()).as_deref() == Some(commit.as_str())
            && p.default_checks == Some(Checks::Failure)
        {
            out.push(format!(
                "{}: checks failed on {} after direct commit {}",
                p.repo,
                p.default_branch,
                short(commit)
            ));
        }
    }
    out
}

/// A digest of what a wave's repos should hold: it identifies "the same
/// content" across platform revisions that did not change the wave.
fn wave_digest(plans: &[&RepoPlan]) -> String {
    let mut listing = String::new();
    for p in plans {
        for f in &p.files {
            let blob = f.desired.map(|b| b.to_string()).unwrap_or_default();
            listing.push_str(&format!("{} {} {blob}\n", p.repo, f.path));
        }
    }
    crate::blob::blob_id(listing.as_bytes()).to_string()
}

/// How many blocking repos a message names before it counts the rest.
const NAMED: usize = 3;

/// `; waiting for acme/a, acme/b and 3 more`, or nothing.
fn waiting_for(blocking: &[String]) -> String {
    match blocking.len() {
        0 => String::new(),
        n if n <= NAMED => format!("; waiting for {}", blocking.join(", ")),
        n => format!(
            "; waiting for {} and {} more",
            blocking[..NAMED].join(", "),
            n - NAMED
        ),
    }
}

/// Why the waves after a gate wait, if they do.
#[derive(Debug, Clone)]
enum Wait {
    Open,
    /// An earlier wave is itself waiting.
    Behind(String),
    /// The wave has not taken the revision everywhere yet.
    Taking {
        wave: String,
        in_sync: usize,
        repos: usize,
        /// The repos not in sync yet (sorted), named in the message.
        blocking: Vec<String>,
    },
    /// In sync, soaking until `until`.
    Soaking {
        wave: String,
        since: Epoch,
        soak: Duration,
    },
}

impl Wait {
    /// Why `who` (`wave early`, or repos outside the waves) waits.
    fn line(&self, who: &str, revision: &str) -> Option<String> {
        Some(match self {
            Wait::Open => return None,
            Wait::Behind(wave) => format!("{who} waits for wave {wave}"),
            Wait::Taking {
                wave,
                in_sync,
                repos,
                blocking,
            } => format!(
                "{who} waits for wave {wave} to take revision {} ({in_sync} of {repos} repo{} in sync{})",
                short(revision),
                if *repos == 1 { "" } else { "s" },
                waiting_for(blocking)
            ),
            Wait::Soaking { wave, since, soak } => format!(
                "wave {wave} soaking until {} (in sync since {}, soak {})",
                time::utc(since + soak.as_secs() as Epoch),
                time::utc(*since),
                time::human(*soak)
            ),
        })
    }

    fn until(&self) -> Option<String> {
        match self {
            Wait::Soaking { since, soak, .. } => {
                Some(time::rfc3339(since + soak.as_secs() as Epoch))
            }
            _ => None,
        }
    }
}

/// The waves for this revision, and why repos outside every declared
/// wave wait (they come after the last one).
fn waves_of(
    ctx: &Context<'_>,
    plan: &Plan,
    revision: &str,
    errors: &BTreeSet<&RepoId>,
    wave_of: &dyn Fn(&RepoId) -> usize,
    events: &mut Vec<Event>,
) -> (Vec<WaveReport>, Wait) {
    let promoted_to: Option<(usize, String)> = ctx
        .state
        .promoted
        .get(revision)
        .into_iter()
        .flatten()
        .filter_map(|(wave, op, _)| ctx.rollout.wave_index(Some(wave)).map(|i| (i, op.clone())))
        .max_by_key(|(i, _)| *i);
    let mut out = Vec::new();
    // What the next wave waits for.
    let mut wait = Wait::Open;
    for (i, wave) in ctx.rollout.waves.iter().enumerate() {
        let members: Vec<&RepoPlan> = plan
            .repos
            .iter()
            .filter(|p| wave_of(&p.repo) == i)
            .collect();
        let failed: Vec<&&RepoId> = errors.iter().filter(|r| wave_of(r) == i).collect();
        let (synced, behind): (Vec<&RepoPlan>, Vec<&RepoPlan>) = members
            .iter()
            .partition(|p| p.status() == RepoStatus::InSync && !delivers(p));
        let in_sync = synced.len();
        let mut blocking: Vec<String> = behind
            .iter()
            .map(|p| p.repo.to_string())
            .chain(failed.iter().map(|r| r.to_string()))
            .collect();
        blocking.sort();
        let failed = failed.len();
        let total = members.len() + failed;
        let key = (revision.to_string(), wave.name.clone());
        let mut record = ctx.state.waves_in_sync.get(&key).cloned();
        if record.is_none() && ctx.full_fleet && in_sync == total {
            let digest = wave_digest(&members);
            // The wave's content is what it last became in sync with (a
            // revision that did not change this wave): its soak carries
            // over. Content it held before something else does not.
            let since = ctx
                .state
                .waves_in_sync
                .iter()
                .filter(|((_, w), _)| *w == wave.name)
                .max_by_key(|(_, r)| r.at)
                .filter(|(_, r)| r.digest == digest)
                .map(|(_, r)| r.since)
                .unwrap_or(ctx.now);
            events.push(Event::WaveInSync {
                at: ctx.now,
                wave: wave.name.clone(),
                revision: revision.to_string(),
                digest: digest.clone(),
                since,
            });
            record = Some(log::WaveSync {
                at: ctx.now,
                since,
                digest,
            });
        }
        let promoted_by = promoted_to
            .as_ref()
            .filter(|(p, _)| *p >= i)
            .map(|(_, op)| op.clone());
        let held = promoted_by.is_none() && !matches!(wait, Wait::Open);
        out.push(WaveReport {
            name: wave.name.clone(),
            repos: total,
            in_sync,
            in_sync_since: record.as_ref().map(|r| time::rfc3339(r.since)),
            soak: wave.soak.map(time::human),
            open: !held,
            waiting: held
                .then(|| wait.line(&format!("wave {}", wave.name), revision))
                .flatten(),
            opens_at: held.then(|| wait.until()).flatten(),
            promoted_by,
        });
        // The next wave waits for this one when it declares a soak.
        wait = match (held, wave.soak, &record) {
            (true, _, _) => Wait::Behind(wave.name.clone()),
            (false, None, _) => Wait::Open,
            (false, Some(_), _) if total == 0 => Wait::Open,
            (false, Some(_), None) => Wait::Taking {
                wave: wave.name.clone(),
                in_sync,
                repos: total,
                blocking,
            },
            (false, Some(soak), Some(r)) if r.since + soak.as_secs() as Epoch > ctx.now => {
                Wait::Soaking {
                    wave: wave.name.clone(),
                    since: r.since,
                    soak,
                }
            }
            (false, Some(_), Some(_)) => Wait::Open,
        };
    }
    (out, wait)
}

fn budgets(
    ctx: &Context<'_>,
    plan: &Plan,
    candidates: &mut Vec<&RepoPlan>,
    wave_of: &dyn Fn(&RepoId) -> usize,
    repos: &mut BTreeMap<RepoId, RepoPolicy>,
    events: &mut Vec<Event>,
) -> Budget {
    let r = ctx.rollout;
    let hour_ago = ctx.now - 3600;
    let mut opened: BTreeSet<(String, u64)> = ctx
        .state
        .prs_opened
        .iter()
        .filter(|(at, _, _)| *at > hour_ago)
        .map(|(_, repo, n)| (repo.clone(), *n))
        .collect();
    let mut open_now: BTreeSet<String> = BTreeSet::new();
    for p in &plan.repos {
        if let Some(pr) = &p.open_pull_request {
            open_now.insert(p.repo.to_string());
            if time::parse_rfc3339(&pr.created_at).is_some_and(|t| t > hour_ago) {
                opened.insert((p.repo.to_string(), pr.number));
            }
        }
    }
    if ctx.full_fleet {
        if ctx.state.open_prs.as_ref().map(|(_, s)| s) != Some(&open_now) {
            events.push(Event::OpenPullRequests {
                at: ctx.now,
                repos: open_now.iter().cloned().collect(),
            });
        }
    } else if let Some((_, known)) = &ctx.state.open_prs {
        // Repos outside this run: as last seen fleet-wide.
        let planned: BTreeSet<String> = plan.repos.iter().map(|p| p.repo.to_string()).collect();
        open_now.extend(known.iter().filter(|r| !planned.contains(*r)).cloned());
    }
    let mut budget = Budget {
        prs_opened_last_hour: opened.len(),
        pr_hourly_limit: r.pr_hourly_limit,
        open_prs: open_now.len(),
        pr_concurrent_limit: r.pr_concurrent_limit,
        direct_commits_per_run: r.direct_commits_per_run,
        queued: 0,
    };
    let left = |limit: Option<u32>, used: usize| limit.map(|l| (l as usize).saturating_sub(used));
    let mut hourly_left = left(r.pr_hourly_limit, budget.prs_opened_last_hour);
    let mut open_left = left(r.pr_concurrent_limit, budget.open_prs);
    let mut direct_left = r.direct_commits_per_run.map(|l| l as usize);

    let security = |p: &RepoPlan| {
        p.files.iter().any(|f| {
            f.route != Route::None && r.bundles.get(&f.bundle).is_some_and(|b| b.security())
        })
    };
    let pending_since = |p: &RepoPlan| {
        repos
            .get(&p.repo)
            .and_then(|x| x.staleness.behind_secs)
            .map(|s| ctx.now - s as Epoch)
    };
    let mut keyed: Vec<(bool, usize, Epoch, &RepoPlan)> = candidates
        .iter()
        .map(|p| {
            (
                !security(p),
                wave_of(&p.repo),
                pending_since(p).unwrap_or(Epoch::MAX),
                *p,
            )
        })
        .collect();
    keyed.sort_by(|a, b| (a.0, a.1, a.2, &a.3.repo).cmp(&(b.0, b.1, b.2, &b.3.repo)));
    let mut position = 0;
    // Pull requests this run opens ahead of the repos it queues.
    let mut opened_now = 0;
    for (_, _, _, p) in keyed {
        let new_pr = opens_proposal(p);
        let direct = p.direct.is_some();
        let spent = |x: Option<usize>| x == Some(0);
        let blocked = if new_pr && spent(hourly_left) {
            Some((
                Limit::PrHourlyLimit,
                format!(
                    "pr_hourly_limit reached ({} pull requests opened in the last hour, limit {})",
                    budget.prs_opened_last_hour + opened_now,
                    r.pr_hourly_limit.unwrap_or_default()
                ),
            ))
        } else if new_pr && spent(open_left) {
            Some((
                Limit::PrConcurrentLimit,
                format!(
                    "pr_concurrent_limit reached ({} distributor pull requests open, limit {})",
                    budget.open_prs + opened_now,
                    r.pr_concurrent_limit.unwrap_or_default()
                ),
            ))
        } else if direct && spent(direct_left) {
            Some((
                Limit::DirectCommitsPerRun,
                format!(
                    "direct_commits_per_run reached ({} direct commits this run)",
                    r.direct_commits_per_run.unwrap_or_default()
                ),
            ))
        } else {
            None
        };
        match blocked {
            Some((limit, reason)) => {
                position += 1;
                if let Some(policy) = repos.get_mut(&p.repo) {
                    policy.decision = Decision::Queued {
                        limit,
                        position,
                        reason,
                    };
                }
            }
            None => {
                if new_pr {
                    hourly_left = hourly_left.map(|n| n - 1);
                    open_left = open_left.map(|n| n - 1);
                    opened_now += 1;
                }
                if direct {
                    direct_left = direct_left.map(|n| n - 1);
                }
            }
        }
    }
    candidates.clear();
    budget.queued = position;
    budget
}

fn escalation_comment(
    target: Option<&Target>,
    number: u64,
    open: Duration,
    after: Duration,
) -> String {
    let mut mentions: Vec<String> = Vec::new();
    if let Some(t) = target {
        mentions.extend(t.repo.owners_users.iter().map(|u| format!("@{u}")));
        mentions.extend(t.repo.owners_teams.iter().map(|t| format!("@{t}")));
    }
    let who = if mentions.is_empty() {
        "Owners".to_string()
    } else {
        mentions.join(" ")
    };
    format!(
        "{who}: this platform update (#{number}) has been open for {}, longer than the platform's escalation threshold ({}). \
         Please review and merge it, or tell the platform team what blocks it: the longer it waits, the further this repository falls behind, and later changes pile up on it.\n\n\
         This comment is posted once. — distributor",
        time::human(open),
        time::human(after)
    )
}

/// Decides and records the verdicts in the plan (per repo and fleet-wide).
/// Returns the facts the policy saw that the rollout log should keep (waves
/// in sync, halts) once the run is recorded.
pub fn attach(ctx: &Context<'_>, plan: &mut Plan) -> Vec<Event> {
    let (decisions, mut repos, events) = decide(ctx, plan);
    for p in &mut plan.repos {
        p.policy = repos.remove(&p.repo);
    }
    plan.rollout = Some(decisions);
    events
}

#[cfg(test)]
mod tests;
