//! The fleet ledger: what the daemon knows after its last cycle, per repo
//! (state, files, pull request, last commit, last error) and per cycle
//! (trigger, outcome, duration, source revision). Built by a pure function
//! from a cycle's plan and apply report; `/status` serves it as JSON
//! (`distributor.fleet/v1`), and the dashboard, `/metrics` and systemd's
//! `STATUS=` line are derived from it, so they always agree.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::apply::{ApplyReport, RepoReport};
use crate::plan::{FileState, Plan, RepoPlan, RepoStatus, Route};

/// Schema id of `/status`.
pub const FLEET_SCHEMA: &str = "distributor.fleet/v1";

/// What started a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Startup,
    Interval,
    /// A `push` webhook for the platform branch.
    Webhook,
    /// A `pull_request` webhook for one repo's distributor pull request.
    PullRequest,
    /// SIGHUP.
    Reload,
}

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every repo applied.
    Ok,
    /// Applied, but some repos failed.
    Partial,
    /// The platform source did not validate: nothing was written.
    Invalid,
    /// The cycle could not run (fetching the platform failed, ...).
    Failed,
    /// Stopped at a safe point by a shutdown.
    Interrupted,
}

/// One cycle, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cycle {
    pub number: u64,
    pub trigger: Trigger,
    /// Epoch seconds.
    pub started_at: u64,
    pub duration_ms: u64,
    pub outcome: Outcome,
    /// The platform revision distributed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Why the cycle was invalid or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Only these repos were looked at (a pull request webhook).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
}

/// A repo's pull request, for the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRef {
    pub number: u64,
    pub url: String,
    /// RFC 3339, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// One file, as of the start of the last cycle that saw the repo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub path: String,
    pub state: FileState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub route: Route,
}

/// One repo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoEntry {
    pub repo: String,
    pub team: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    /// The state after the last cycle's writes.
    pub status: RepoStatus,
    pub files: Vec<FileEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRef>,
    /// The last direct commit distributor wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_commit: Option<String>,
    /// The repository's web page (GitHub), for links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Epoch seconds of the cycle that last looked at the repo.
    pub seen_at: u64,
    /// Why the rollout policy left its changes for later (queued, held,
    /// halted), as one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
    /// The rollout policy's decision for the repo in the last cycle that
    /// planned it (`proceed`, `queued`, `held`, `halted`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<&'static str>,
    /// Behind, or its pull request open, longer than `stale_after`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// Counts of repos by status, and of files by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub repos: usize,
    pub by_status: BTreeMap<&'static str, usize>,
    pub files_by_state: BTreeMap<&'static str, usize>,
    pub pull_requests_open: usize,
    /// Repos by the rollout policy's decision (every decision listed).
    pub by_decision: BTreeMap<&'static str, usize>,
    /// Repos behind, or with a pull request open, past `stale_after`.
    pub stale: usize,
}

/// The whole ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ledger {
    /// The last cycle, whatever its outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_cycle: Option<Cycle>,
    /// Epoch seconds of the last cycle that ended `ok` or `partial`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<u64>,
    /// The last configuration or registry that could not be loaded (the
    /// previous good one keeps running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    pub repos: BTreeMap<String, RepoEntry>,
    /// The rollout policy of the last cycle: waves, budgets, halt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::rollout::Decisions>,
}

impl Ledger {
    /// Records a cycle that planned (and, with a report, applied). Repos
    /// the cycle did not look at keep their entries; repos no longer in the
    /// registry are dropped when `complete` (the cycle covered the fleet).
    pub fn record(
        &mut self,
        cycle: Cycle,
        plan: &Plan,
        report: Option<&ApplyReport>,
        wave_of: &BTreeMap<String, Option<String>>,
        complete: bool,
    ) {
        let reports: BTreeMap<String, &RepoReport> = report
            .map(|r| r.repos.iter().map(|x| (x.repo.to_string(), x)).collect())
            .unwrap_or_default();
        let now = cycle.started_at;
        let mut seen = BTreeMap::new();
        for p in &plan.repos {
            let key = p.repo.to_string();
            let previous = self.repos.get(&key);
            let entry = repo_entry(p, reports.get(&key).copied(), previous, wave_of, now);
            seen.insert(key, entry);
        }
        for e in &plan.errors {
            let key = e.repo.to_string();
            let previous = self.repos.get(&key).cloned();
            let error = reports
                .get(&key)
                .and_then(|r| r.error.clone())
                .unwrap_or_else(|| e.error.clone());
            let entry = RepoEntry {
                repo: key.clone(),
                team: previous
                    .as_ref()
                    .map(|p| p.team.clone())
                    .unwrap_or_default(),
                wave: wave_of.get(&key).cloned().flatten(),
                status: RepoStatus::Error,
                files: previous
                    .as_ref()
                    .map(|p| p.files.clone())
                    .unwrap_or_default(),
                pull_request: previous.as_ref().and_then(|p| p.pull_request.clone()),
                last_commit: previous.as_ref().and_then(|p| p.last_commit.clone()),
                url: previous.as_ref().and_then(|p| p.url.clone()),
                last_error: Some(crate::redact::redact(&error).into_owned()),
                seen_at: now,
                rollout: None,
                decision: None,
                stale: previous.as_ref().is_some_and(|p| p.stale),
            };
            seen.insert(key, entry);
        }
        if complete {
            self.repos = seen;
            self.rollout = plan.rollout.clone();
        } else {
            self.repos.extend(seen);
        }
        if matches!(cycle.outcome, Outcome::Ok | Outcome::Partial) {
            self.last_success_at = Some(now + cycle.duration_ms / 1000);
        }
        self.last_cycle = Some(cycle);
    }

    /// Records a cycle that did not get to planning.
    pub fn record_failure(&mut self, cycle: Cycle) {
        self.last_cycle = Some(cycle);
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            repos: self.repos.len(),
            ..Totals::default()
        };
        for s in RepoStatus::ALL {
            t.by_status.insert(s.key(), 0);
        }
        for d in crate::plan::verdict::Decision::KEYS {
            t.by_decision.insert(d, 0);
        }
        for r in self.repos.values() {
            *t.by_status.entry(r.status.key()).or_default() += 1;
            if let Some(d) = r.decision {
                *t.by_decision.entry(d).or_default() += 1;
            }
            t.stale += usize::from(r.stale);
            for f in &r.files {
                *t.files_by_state.entry(f.state.as_str()).or_default() += 1;
            }
            if r.pull_request.is_some() {
                t.pull_requests_open += 1;
            }
        }
        t
    }

    /// The one-line summary for systemd's `STATUS=`.
    pub fn summary(&self) -> String {
        let t = self.totals();
        let n = |k: &str| t.by_status.get(k).copied().unwrap_or(0);
        let mut s = format!(
            "{} in sync, {} outdated, {} pending review, {} drifted, {} failing",
            n("in_sync"),
            n("outdated"),
            n("proposal_pending"),
            n("drifted"),
            n("error")
        );
        let deferred = |key: &str| {
            self.repos
                .values()
                .filter(|r| r.rollout.as_deref().is_some_and(|l| l.starts_with(key)))
                .count()
        };
        let stale = self.repos.values().filter(|r| r.stale).count();
        for (n, what) in [
            (deferred("queued"), "queued"),
            (deferred("held"), "held by a wave"),
            (stale, "stale"),
        ] {
            if n > 0 {
                s.push_str(&format!(", {n} {what}"));
            }
        }
        if let Some(h) = self.rollout.as_ref().and_then(|r| r.halt.as_ref()) {
            s.push_str(&format!(
                "; rollout of {} HALTED",
                h.revision.chars().take(12).collect::<String>()
            ));
        }
        if let Some(c) = &self.last_cycle
            && !matches!(c.outcome, Outcome::Ok)
        {
            s.push_str(&format!("; last cycle {}", outcome_key(c.outcome)));
        }
        s
    }

    /// `/status` as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "schema": FLEET_SCHEMA,
            "last_cycle": self.last_cycle,
            "last_success_at": self.last_success_at,
            "config_error": self.config_error,
            "totals": self.totals(),
            "repos": self.repos.values().collect::<Vec<_>>(),
        })
    }
}

fn repo_entry(
    p: &RepoPlan,
    report: Option<&RepoReport>,
    previous: Option<&RepoEntry>,
    wave_of: &BTreeMap<String, Option<String>>,
    now: u64,
) -> RepoEntry {
    let key = p.repo.to_string();
    let status = match report {
        None => p.status(),
        Some(r) if r.error.is_some() => RepoStatus::Error,
        Some(r) if r.deferred.is_some() => p.status(),
        Some(_) => status_after_apply(p),
    };
    let pull_request = match report.and_then(|r| r.pull_request.as_ref()) {
        Some(pr) if pr.action == crate::apply::PullRequestOutcome::Closed => None,
        Some(pr) => Some(PullRef {
            number: pr.number,
            url: pr.url.clone(),
            created_at: p
                .open_pull_request
                .as_ref()
                .filter(|o| o.number == pr.number)
                .map(|o| o.created_at.clone()),
        }),
        None => p.open_pull_request.as_ref().map(|o| PullRef {
            number: o.number,
            url: o.url.clone(),
            created_at: Some(o.created_at.clone()),
        }),
    };
    RepoEntry {
        repo: key.clone(),
        team: p.team.clone(),
        wave: wave_of.get(&key).cloned().flatten(),
        status,
        files: p
            .files
            .iter()
            .map(|f| FileEntry {
                path: f.path.clone(),
                state: f.state,
                reason: f.reason.map(|r| r.describe()),
                route: f.route,
            })
            .collect(),
        pull_request,
        last_commit: report
            .and_then(|r| r.commit)
            .map(|c| c.to_string())
            .or_else(|| previous.and_then(|e| e.last_commit.clone())),
        url: p.web_url.clone(),
        last_error: report
            .and_then(|r| r.error.as_deref())
            .map(|e| crate::redact::redact(e).into_owned()),
        seen_at: now,
        rollout: p
            .policy
            .as_ref()
            .map(|x| &x.decision)
            .filter(|d| !d.allows_writes())
            .map(crate::rollout::Decision::line),
        decision: p.policy.as_ref().map(|x| x.decision.key()),
        stale: p.policy.as_ref().is_some_and(|x| x.staleness.stale),
    }
}

/// A repo's state once its plan was applied without error: direct changes
/// landed; what went to the proposal is pending review.
fn status_after_apply(p: &RepoPlan) -> RepoStatus {
    let proposed = p.files.iter().filter(|f| f.route == Route::Proposal);
    let mut any = false;
    for f in proposed {
        if f.state == FileState::Drifted {
            return RepoStatus::Drifted;
        }
        any = true;
    }
    if any {
        RepoStatus::ProposalPending
    } else {
        RepoStatus::InSync
    }
}

/// The snake_case name of a cycle outcome.
pub fn outcome_key(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::Partial => "partial",
        Outcome::Invalid => "invalid",
        Outcome::Failed => "failed",
        Outcome::Interrupted => "interrupted",
    }
}
