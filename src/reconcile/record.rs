//! The last stage of a run that applies: what lands is written down for
//! the next run and for auditors, as it lands. Before the first repo, the
//! facts the policy saw (waves in sync, halts) go to the rollout log, and
//! forced writes an earlier run left without an outcome are reconciled in
//! the audit log. Then, per repo, a forced write gets its audit intent
//! (synced) before it is made; after each repo its pull request opened,
//! direct commit and escalation go to the rollout log, and a forced run's
//! outcome to the audit log. A run killed at any point leaves every write
//! it made either recorded or covered by an intent the next run reconciles.

use std::path::PathBuf;

use crate::apply::{PullRequestOutcome, RepoReport, Watcher};
use crate::audit;
use crate::plan::{Plan, RepoPlan};
use crate::rollout::{self, Event};
use crate::time::Epoch;

use super::Request;

/// What recording did; failures are reported, the run itself stands.
#[derive(Debug, Default)]
pub struct Recorded {
    /// The rollout log could not be appended to (budgets and soak times
    /// may be off next run).
    pub log_error: Option<String>,
    /// Events were due but there is no state directory.
    pub unrecorded: bool,
    /// A forced run's audit records could not be written.
    pub audit_error: Option<String>,
}

/// Where a forced run's audit records go: `--audit-log`, else the state
/// directory's `audit.jsonl`.
pub fn audit_path(request: &Request) -> Option<PathBuf> {
    request.audit_log.clone().or_else(|| {
        request
            .state_dir
            .as_ref()
            .map(|d| d.join(crate::audit::FILE))
    })
}

/// Records a run that applies, before, around and after each repo.
pub(super) struct Recorder<'a> {
    log: Option<&'a rollout::Log>,
    /// The forced run's audit log and what its lines share.
    audit: Option<(PathBuf, audit::Run)>,
    revision: String,
    /// A forced run audits every repo; a rollback only those it wrote to
    /// (a pinned daemon cycle must not add a line per repo per cycle).
    forced: bool,
    now: Epoch,
    on_repo: &'a mut (dyn FnMut(&RepoReport) + Send),
    pub(super) recorded: Recorded,
}

impl<'a> Recorder<'a> {
    pub(super) fn new(
        log: Option<&'a rollout::Log>,
        request: &Request,
        audit_reason: Option<String>,
        plan: &Plan,
        on_repo: &'a mut (dyn FnMut(&RepoReport) + Send),
    ) -> Recorder<'a> {
        let revision = rollout::revision_key(&plan.source);
        let audit = audit_reason.and_then(|reason| {
            audit_path(request).map(|p| {
                let run = audit::Run::new(audit::operator(), reason, revision.clone(), request.now);
                (p, run)
            })
        });
        Recorder {
            log,
            audit,
            revision,
            forced: request.force_reason.is_some(),
            now: request.now,
            on_repo,
            recorded: Recorded::default(),
        }
    }

    /// Before the first repo: the policy's facts, and the reconciliation
    /// of forced writes an interrupted run left without an outcome.
    pub(super) fn start(&mut self, request: &Request, decided: Vec<Event>, plan: &Plan) {
        self.append_events(&decided);
        let Some(path) = audit_path(request) else {
            return;
        };
        let found = match audit::pending(&path) {
            Ok(p) => audit::reconcile(&p, plan, request.now),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the audit log for interrupted forced writes");
                self.recorded.audit_error = Some(e);
                return;
            }
        };
        if !found.is_empty() {
            tracing::warn!(
                count = found.len(),
                path = %path.display(),
                "reconciling forced writes an interrupted run left without an outcome"
            );
        }
        if let Err(e) = audit::append(&path, &found) {
            self.recorded.audit_error = Some(e);
        }
    }

    fn append_events(&mut self, events: &[Event]) {
        match self.log {
            Some(l) => {
                if let Err(e) = l.append(events, self.now) {
                    tracing::error!(error = %e, "cannot record the run in the rollout log; budgets and soak times may be off next run");
                    self.recorded.log_error = Some(e);
                }
            }
            None if !events.is_empty() && !self.recorded.unrecorded => {
                tracing::warn!(
                    "no state directory (--state-dir): pull requests opened and wave soak are not recorded for the next run"
                );
                self.recorded.unrecorded = true;
            }
            None => {}
        }
    }
}

impl Watcher for Recorder<'_> {
    /// A forced write is announced (and synced) in the audit log before it
    /// is made; if it cannot be, it is not made.
    fn before_writes(&mut self, plan: &RepoPlan) -> Result<(), String> {
        let Some((path, run)) = &self.audit else {
            return Ok(());
        };
        match run.intent(plan) {
            Some(intent) => audit::append(path, &[intent]).map_err(|e| {
                format!("the forced write could not be recorded in the audit log first: {e}")
            }),
            None => Ok(()),
        }
    }

    fn done(&mut self, report: &RepoReport) {
        let events = repo_events(report, &self.revision, self.now);
        self.append_events(&events);
        if let Some((path, run)) = &self.audit
            && (self.forced || wrote(report))
            && let Err(e) = audit::append(path, &[run.outcome(report)])
        {
            self.recorded.audit_error = Some(e);
        }
        (self.on_repo)(report);
    }
}

/// Whether the run wrote anything to the repo (or failed trying).
fn wrote(r: &RepoReport) -> bool {
    !matches!(
        audit::outcome(r),
        audit::Outcome::Skipped | audit::Outcome::Deferred
    ) || r.pull_request.as_ref().is_some_and(|p| {
        matches!(
            p.action,
            PullRequestOutcome::Opened | PullRequestOutcome::Updated | PullRequestOutcome::Closed
        )
    })
}

/// What a finished repo adds to the rollout log: the pull request opened,
/// the direct commit, the escalation.
pub fn repo_events(r: &RepoReport, revision: &str, now: Epoch) -> Vec<Event> {
    let mut out = Vec::new();
    if let Some(c) = r.commit {
        out.push(Event::DirectCommit {
            at: now,
            repo: r.repo.to_string(),
            commit: c.to_string(),
            revision: revision.to_string(),
        });
    }
    if let Some(pr) = &r.pull_request
        && pr.action == PullRequestOutcome::Opened
    {
        out.push(Event::PrOpened {
            at: now,
            repo: r.repo.to_string(),
            number: pr.number,
            revision: revision.to_string(),
        });
    }
    if r.escalated
        && let Some(pr) = &r.pull_request
    {
        out.push(Event::Escalated {
            at: now,
            repo: r.repo.to_string(),
            number: pr.number,
        });
    }
    out
}
