//! Flag rollouts tracked to completion: for each flag and stage, where the
//! registry's value is actually in effect across the fleet. A flag is only
//! on in a repo once every file that reads it (in that stage) is in sync on
//! the default branch; until then it sits in a pull request (pending), in a
//! queued, held or halted repo or the next apply (waiting), or behind a
//! hand edit (blocked). Pure: it takes the targets (what each file reads,
//! [`crate::render::flags`]) and the plan, with `now`, and returns values;
//! `output::flags` prints them.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::apply::{ApplyReport, ProposalOutcome, RepoReport};
use crate::forge::RepoId;
use crate::plan::verdict::Decision;
use crate::plan::{FilePlan, FileState, Plan, ProposalPlan, RepoPlan, Route};
use crate::target::Target;
use crate::time::{self, Epoch};

/// The JSON schema name of [`FlagsReport`].
pub const SCHEMA: &str = "distributor.flags/v1";

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagsReport {
    pub schema: &'static str,
    pub flags: Vec<FlagReport>,
    /// Every flag's registry value is live in every repo it applies to.
    pub complete: bool,
    /// Flags on in a stage while an earlier stage of the registry's
    /// `flag_order` is not yet live fleet-wide ([`out_of_order`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub out_of_order: Vec<OutOfOrder>,
}

/// A flag switched on in `stage` while `earlier` (before it in the flag
/// order) is not live everywhere yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutOfOrder {
    pub flag: String,
    pub stage: String,
    pub earlier: String,
    /// The repos holding `earlier` up (pending, waiting, blocked).
    pub holders: Vec<String>,
}

/// Every flag on (in some repo) in a stage of `order` while an earlier
/// stage of `order` is not complete: the staged guard. Names the earliest
/// such stage and the repos holding it.
pub fn out_of_order(report: &FlagsReport, order: &[String]) -> Vec<OutOfOrder> {
    let mut out = Vec::new();
    for flag in &report.flags {
        let in_order: Vec<&StageReport> = order
            .iter()
            .filter_map(|name| flag.stages.iter().find(|s| &s.stage == name))
            .collect();
        for (i, stage) in in_order.iter().enumerate() {
            if stage.on == 0 {
                continue;
            }
            if let Some(earlier) = in_order[..i].iter().find(|s| !s.complete) {
                let holders = earlier
                    .pending
                    .iter()
                    .map(|p| p.repo.clone())
                    .chain(earlier.waiting.iter().map(|w| w.repo.clone()))
                    .chain(earlier.blocked.iter().map(|b| b.repo.clone()))
                    .collect();
                out.push(OutOfOrder {
                    flag: flag.name.clone(),
                    stage: stage.stage.clone(),
                    earlier: earlier.stage.clone(),
                    holders,
                });
            }
        }
    }
    out
}

/// The staged guard over a whole plan: the report of every flag (a failing
/// repo's error as it is), then [`out_of_order`] for `order`. What `plan`
/// warns about and `validate` checks.
pub fn staged_guard(
    targets: &[Target],
    plan: &Plan,
    stages: &[String],
    order: &[String],
    now: Epoch,
) -> Vec<OutOfOrder> {
    let report = report(targets, plan, &[], stages, now, &|e: &str| e.to_string());
    out_of_order(&report, order)
}

/// One flag, stage by stage (in the registry's stage order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagReport {
    pub name: String,
    pub stages: Vec<StageReport>,
    pub complete: bool,
}

/// One flag in one stage, across the fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageReport {
    pub stage: String,
    /// Repos whose registry value for the flag in this stage is on / off.
    pub on: usize,
    pub off: usize,
    /// Every file reading the flag is in sync on the default branch.
    pub live: Vec<String>,
    /// In a pull request (or a proposal branch), oldest first.
    pub pending: Vec<Pending>,
    /// Not yet delivered: queued, held, halted, failing, or the next apply.
    pub waiting: Vec<Waiting>,
    /// A hand edit (drifted, conflicted, waived) on a file reading it.
    pub blocked: Vec<Blocked>,
    /// Repos of this stage whose files do not read the flag.
    pub unread: Vec<String>,
    /// Repos without this stage (no environment for it, and no file
    /// reading the flag there).
    pub not_applicable: Vec<String>,
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub repo: String,
    /// The open pull request, when the forge has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Seconds since the pull request was opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub repo: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub repo: String,
    pub path: String,
    pub state: FileState,
}

/// Where one repo stands for one flag in one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Standing {
    Live,
    Pending(Pending),
    Waiting(String),
    Blocked(String, FileState),
    Unread,
}

/// The report for `names` (every flag the registry defines when empty),
/// stages in `stage_order`. A failing repo's error is passed through
/// `advise` (the advice a CLI user and the daemon's operator can follow
/// differ: [`crate::output::record::advice`]).
pub fn report(
    targets: &[Target],
    plan: &Plan,
    names: &[String],
    stage_order: &[String],
    now: Epoch,
    advise: &dyn Fn(&str) -> String,
) -> FlagsReport {
    report_applied(targets, plan, None, names, stage_order, now, advise)
}

/// [`report`] after `applied` executed the plan (a daemon cycle): a direct
/// commit that landed makes its files live, a proposal written makes its
/// files pending in that pull request, as the next look would find them.
pub fn report_applied(
    targets: &[Target],
    plan: &Plan,
    applied: Option<&ApplyReport>,
    names: &[String],
    stage_order: &[String],
    now: Epoch,
    advise: &dyn Fn(&str) -> String,
) -> FlagsReport {
    let applied: BTreeMap<RepoId, &RepoReport> = applied
        .into_iter()
        .flat_map(|a| a.repos.iter())
        .map(|r| (r.repo.clone(), r))
        .collect();
    let wanted: BTreeSet<String> = if names.is_empty() {
        targets
            .iter()
            .flat_map(|t| t.repo.stage_flags.values().flat_map(|f| f.keys().cloned()))
            .collect()
    } else {
        names.iter().cloned().collect()
    };
    let plans: BTreeMap<RepoId, &RepoPlan> =
        plan.repos.iter().map(|p| (p.repo.clone(), p)).collect();
    let errors: BTreeMap<RepoId, String> = plan
        .errors
        .iter()
        // A forge's error text can echo a credential: redacted like every
        // other view of it.
        .map(|e| {
            let error = crate::redact::redact(first_line(&e.error));
            (e.repo.clone(), advise(&error))
        })
        .collect();
    let flags: Vec<FlagReport> = wanted
        .iter()
        .map(|name| {
            let stages: Vec<StageReport> = stage_order
                .iter()
                .map(|stage| {
                    let facts = Facts {
                        plans: &plans,
                        applied: &applied,
                        errors: &errors,
                    };
                    stage_report(targets, &facts, name, stage, now)
                })
                .collect();
            let complete = stages.iter().all(|s| s.complete);
            FlagReport {
                name: name.clone(),
                stages,
                complete,
            }
        })
        .collect();
    let complete = flags.iter().all(|f| f.complete);
    FlagsReport {
        schema: SCHEMA,
        flags,
        complete,
        out_of_order: Vec::new(),
    }
}

/// What a stage's report reads besides the targets: each repo's plan,
/// what applying it did (if it was applied), and the repos that failed.
struct Facts<'a> {
    plans: &'a BTreeMap<RepoId, &'a RepoPlan>,
    applied: &'a BTreeMap<RepoId, &'a RepoReport>,
    errors: &'a BTreeMap<RepoId, String>,
}

fn stage_report(
    targets: &[Target],
    facts: &Facts<'_>,
    flag: &str,
    stage: &str,
    now: Epoch,
) -> StageReport {
    let mut out = StageReport {
        stage: stage.to_string(),
        ..StageReport::default()
    };
    for target in targets {
        let name = target.repo.full_name();
        let value = target.repo.stage_flags.get(stage).and_then(|f| f.get(flag));
        // A repo takes part in a stage it has an environment for, or whose
        // files read the flag there (a file rendered once per repo).
        let applies = target.repo.env_stages.iter().any(|s| s == stage)
            || reads(target, flag, stage).next().is_some();
        let Some(value) = value.filter(|_| applies) else {
            out.not_applicable.push(name);
            continue;
        };
        if *value {
            out.on += 1;
        } else {
            out.off += 1;
        }
        let id = target.id();
        let standing = match (facts.plans.get(&id), facts.errors.get(&id)) {
            (_, Some(error)) if reads(target, flag, stage).next().is_some() => {
                Standing::Waiting(format!("failing: {error}"))
            }
            (Some(plan), _) => {
                let applied = facts.applied.get(&id).copied();
                standing(target, plan, applied, flag, stage, now)
            }
            _ => Standing::Unread,
        };
        match standing {
            Standing::Live => out.live.push(name),
            Standing::Pending(p) => out.pending.push(p),
            Standing::Waiting(reason) => out.waiting.push(Waiting { repo: name, reason }),
            Standing::Blocked(path, state) => out.blocked.push(Blocked {
                repo: name,
                path,
                state,
            }),
            Standing::Unread => out.unread.push(name),
        }
    }
    // Oldest pull request first; those without one last.
    out.pending
        .sort_by_key(|p| (std::cmp::Reverse(p.age_secs), p.repo.clone()));
    out.complete = out.pending.is_empty() && out.waiting.is_empty() && out.blocked.is_empty();
    out
}

/// The paths of `target`'s files that read `flag` in `stage`.
fn reads<'a>(target: &'a Target, flag: &'a str, stage: &'a str) -> impl Iterator<Item = &'a str> {
    target
        .desired
        .iter()
        .filter(move |d| {
            d.flag_reads
                .iter()
                .any(|r| r.flag == flag && r.stage == stage)
        })
        .map(|d| d.path.as_str())
}

/// Where `target` stands for `flag` in `stage`, from its plan.
fn standing(
    target: &Target,
    plan: &RepoPlan,
    applied: Option<&RepoReport>,
    flag: &str,
    stage: &str,
    now: Epoch,
) -> Standing {
    let files: Vec<(&str, Option<&FilePlan>)> = reads(target, flag, stage)
        .map(|path| (path, plan.files.iter().find(|f| f.path == path)))
        .collect();
    if files.is_empty() {
        return Standing::Unread;
    }
    let hand_edited = files.iter().find_map(|(path, f)| {
        let f = (*f)?;
        matches!(
            f.state,
            FileState::Drifted | FileState::Conflicted | FileState::Waived
        )
        .then(|| Standing::Blocked(path.to_string(), f.state))
    });
    if let Some(blocked) = hand_edited {
        return blocked;
    }
    let undelivered: Vec<&FilePlan> = files
        .iter()
        .filter_map(|(_, f)| *f)
        .filter(|f| f.state != FileState::InSync)
        .collect();
    if undelivered.is_empty() {
        return Standing::Live;
    }
    if let Some(after) = applied.and_then(|r| as_applied(target, plan, r, &undelivered, now)) {
        return after;
    }
    if let Some(
        Decision::Queued { reason, .. }
        | Decision::Held { reason, .. }
        | Decision::Halted { reason },
    ) = plan.policy.as_ref().map(|p| &p.decision)
    {
        return Standing::Waiting(reason.clone());
    }
    let proposed = undelivered.iter().any(|f| f.route == Route::Proposal);
    let in_branch = matches!(
        plan.proposal,
        ProposalPlan::UpToDate { .. } | ProposalPlan::HumanEdited { .. }
    );
    match (&plan.open_pull_request, proposed) {
        (Some(pr), true) => Standing::Pending(Pending {
            repo: target.repo.full_name(),
            pull_request: Some(pr.number),
            url: Some(pr.url.clone()),
            age_secs: time::parse_rfc3339(&pr.created_at)
                .map(|opened| time::since(opened, now).as_secs()),
        }),
        (None, true) if in_branch => Standing::Pending(Pending {
            repo: target.repo.full_name(),
            pull_request: None,
            url: None,
            age_secs: None,
        }),
        (None, true) => Standing::Waiting(format!(
            "the next apply proposes it on `{}`",
            plan.proposal_branch
        )),
        (_, false) => Standing::Waiting(format!(
            "the next apply commits it to `{}`",
            plan.default_branch
        )),
    }
}

/// Where the files left `undelivered` by the plan stand once `r` applied
/// it: live when its direct commit carried them all, pending when the rest
/// went to the proposal it wrote; `None` when the run wrote nothing for
/// them (left for later, failed): the plan says why.
fn as_applied(
    target: &Target,
    plan: &RepoPlan,
    r: &RepoReport,
    undelivered: &[&FilePlan],
    now: Epoch,
) -> Option<Standing> {
    if r.error.is_some() || r.deferred.is_some() {
        return None;
    }
    let committed = r.commit.is_some();
    let proposed = matches!(
        r.proposal,
        ProposalOutcome::Created { .. }
            | ProposalOutcome::Updated { .. }
            | ProposalOutcome::UpToDate { .. }
    );
    let left: Vec<&&FilePlan> = undelivered
        .iter()
        .filter(|f| !(committed && f.route == Route::Direct))
        .collect();
    if left.is_empty() {
        return committed.then_some(Standing::Live);
    }
    if !(proposed && left.iter().all(|f| f.route == Route::Proposal)) {
        return None;
    }
    let opened = r.pull_request.as_ref();
    let open = plan.open_pull_request.as_ref();
    Some(Standing::Pending(Pending {
        repo: target.repo.full_name(),
        pull_request: opened.map(|p| p.number).or(open.map(|p| p.number)),
        url: opened
            .map(|p| p.url.clone())
            .or(open.map(|p| p.url.clone())),
        age_secs: match open {
            Some(pr) => time::parse_rfc3339(&pr.created_at).map(|t| time::since(t, now).as_secs()),
            None => opened.map(|_| 0),
        },
    }))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}
