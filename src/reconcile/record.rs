//! The last stage of a run that applied: what landed is written down for
//! the next run and for auditors. The rollout log gets the facts the
//! policy saw (waves in sync, halts) and every pull request opened, direct
//! commit and escalation; a forced run appends one audit record per repo.

use crate::apply::{ApplyReport, PullRequestOutcome};
use crate::lock::Source;
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
pub fn audit_path(request: &Request) -> Option<std::path::PathBuf> {
    request.audit_log.clone().or_else(|| {
        request
            .state_dir
            .as_ref()
            .map(|d| d.join(crate::audit::FILE))
    })
}

pub(super) fn record(
    log: Option<&rollout::Log>,
    request: &Request,
    decided: Vec<Event>,
    report: &ApplyReport,
    source: &Source,
) -> Recorded {
    let mut out = Recorded::default();
    let revision = rollout::revision_key(source);
    let events = applied_events(decided, report, &revision, request.now);
    match log {
        Some(l) => {
            if let Err(e) = l.append(&events, request.now) {
                tracing::error!(error = %e, "cannot record the run in the rollout log; budgets and soak times may be off next run");
                out.log_error = Some(e);
            }
        }
        None if !events.is_empty() => {
            tracing::warn!(
                "no state directory (--state-dir): pull requests opened and wave soak are not recorded for the next run"
            );
            out.unrecorded = true;
        }
        None => {}
    }
    if let Some(reason) = &request.force_reason {
        let records = crate::audit::records(
            report,
            &crate::audit::operator(),
            reason,
            &revision,
            request.now,
        );
        out.audit_error = match audit_path(request) {
            Some(p) => crate::audit::append(&p, &records).err(),
            None => Some("no audit log: pass --audit-log FILE or --state-dir DIR".into()),
        };
    }
    out
}

/// What a finished apply appends to the rollout log: the facts the policy
/// saw (`decided`: waves in sync, halts), then pull requests opened, direct
/// commits and escalations.
pub fn applied_events(
    decided: Vec<Event>,
    report: &ApplyReport,
    revision: &str,
    now: Epoch,
) -> Vec<Event> {
    let mut out = decided;
    for r in &report.repos {
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
    }
    out
}
