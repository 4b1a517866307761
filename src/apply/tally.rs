//! Every repo of an apply run counted once, under the one outcome that
//! describes it, so a summary adds up to the number of repos in the run:
//! a failure first, then a rollout deferral (queued, held, halted: nothing
//! was written), then files written, then a proposal branch deleted with
//! nothing else written, and otherwise unchanged.

use serde::Serialize;

use super::{ApplyReport, ProposalOutcome, RepoReport};
use crate::plan::verdict::Decision;

/// How an apply run ended for one repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoOutcome {
    /// Files written: a direct commit, a proposal branch, or both.
    Changed,
    /// Nothing written but the proposal branch, deleted (its changes
    /// landed, or it was superseded).
    BranchDeleted,
    /// Nothing written (escalation comments and pending proposals
    /// included).
    Unchanged,
    /// Left for a later run by a spent budget.
    Queued,
    /// Left until an earlier wave has taken (or soaked) the revision.
    Held,
    /// Left until an operator resumes the halted revision.
    Halted,
    /// Not planned, or a write failed.
    Failed,
}

impl RepoReport {
    /// The one outcome this repo is counted under.
    pub fn outcome(&self) -> RepoOutcome {
        if self.error.is_some() {
            return RepoOutcome::Failed;
        }
        match &self.deferred {
            Some(Decision::Queued { .. }) => return RepoOutcome::Queued,
            Some(Decision::Held { .. }) => return RepoOutcome::Held,
            Some(Decision::Halted { .. }) => return RepoOutcome::Halted,
            Some(Decision::Idle | Decision::Proceed | Decision::Forced) | None => {}
        }
        if self.files_changed > 0 {
            RepoOutcome::Changed
        } else if matches!(self.proposal, ProposalOutcome::Closed { .. }) {
            RepoOutcome::BranchDeleted
        } else {
            RepoOutcome::Unchanged
        }
    }
}

/// Repos per outcome; [`Tally::total`] is the number of repos reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub changed: usize,
    pub branch_deleted: usize,
    pub unchanged: usize,
    pub queued: usize,
    pub held: usize,
    pub halted: usize,
    pub failed: usize,
}

impl Tally {
    /// Counts one more repo under `outcome`.
    pub fn add(&mut self, outcome: RepoOutcome) {
        let slot = match outcome {
            RepoOutcome::Changed => &mut self.changed,
            RepoOutcome::BranchDeleted => &mut self.branch_deleted,
            RepoOutcome::Unchanged => &mut self.unchanged,
            RepoOutcome::Queued => &mut self.queued,
            RepoOutcome::Held => &mut self.held,
            RepoOutcome::Halted => &mut self.halted,
            RepoOutcome::Failed => &mut self.failed,
        };
        *slot += 1;
    }

    /// All repos counted.
    pub fn total(&self) -> usize {
        self.changed
            + self.branch_deleted
            + self.unchanged
            + self.queued
            + self.held
            + self.halted
            + self.failed
    }
}

impl ApplyReport {
    /// Every reported repo under its outcome.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for r in &self.repos {
            t.add(r.outcome());
        }
        t
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::blob::blob_id;
    use crate::forge::RepoId;
    use crate::plan::verdict::Limit;

    /// A report of `name` with nothing done, changed by `edit`.
    fn repo(name: &str, edit: impl FnOnce(&mut RepoReport)) -> RepoReport {
        let mut r = RepoReport::nothing_done(RepoId::new("acme", name));
        edit(&mut r);
        r
    }

    /// One repo of every outcome, and a few more of the common ones
    /// (14 repos: the fleet of the "2 changed, 9 unchanged").
    pub(crate) fn mixed_report() -> ApplyReport {
        let branch = || "distributor/sync".to_string();
        let repos = vec![
            repo("a-direct", |r| {
                r.commit = Some(blob_id(b"a"));
                r.files_changed = 2;
            }),
            repo("b-proposal", |r| {
                r.proposal = ProposalOutcome::Created {
                    branch: branch(),
                    commit: blob_id(b"b"),
                };
                r.files_changed = 1;
            }),
            repo("c-merged", |r| {
                r.proposal = ProposalOutcome::Closed { branch: branch() }
            }),
            repo("d-queued", |r| {
                r.deferred = Some(Decision::Queued {
                    limit: Limit::PrHourlyLimit,
                    position: 1,
                    reason: "pr_hourly_limit reached".into(),
                })
            }),
            repo("e-held", |r| {
                r.deferred = Some(Decision::Held {
                    reason: "wave early waits for wave canary".into(),
                    until: None,
                })
            }),
            repo("f-halted", |r| {
                r.deferred = Some(Decision::Halted {
                    reason: "revision halted".into(),
                })
            }),
            repo("g-failed", |r| {
                r.files_changed = 1;
                r.error = Some("push rejected".into());
            }),
            repo("h-escalated", |r| r.escalated = true),
            repo("i-pending", |r| {
                r.proposal = ProposalOutcome::UpToDate { branch: branch() }
            }),
        ];
        let mut all = repos;
        for n in 0..5 {
            all.push(repo(&format!("z-in-sync-{n}"), |_| {}));
        }
        ApplyReport { repos: all }
    }

    #[test]
    fn every_repo_is_counted_once_and_the_counts_add_up() {
        let report = mixed_report();
        let t = report.tally();
        assert_eq!(
            t,
            Tally {
                changed: 2,
                branch_deleted: 1,
                unchanged: 7,
                queued: 1,
                held: 1,
                halted: 1,
                failed: 1,
            }
        );
        assert_eq!(t.total(), report.repos.len());
        assert_eq!(t.total(), 14);
        assert_eq!(t.failed, report.failed());
    }

    #[test]
    fn the_apply_json_carries_the_same_counts() {
        let report = mixed_report();
        let source = crate::lock::Source {
            revision: "rev".into(),
            dirty: false,
            digest: None,
        };
        let doc = crate::output::json::apply(&source, &report);
        let outcomes = doc["outcomes"].as_object().expect("outcomes object");
        let sum: u64 = outcomes.values().filter_map(|v| v.as_u64()).sum();
        assert_eq!(sum as usize, report.repos.len());
        assert_eq!(doc["outcomes"]["branch_deleted"], 1);
        assert_eq!(doc["outcomes"]["held"], 1);
        assert_eq!(doc["changed"], doc["outcomes"]["changed"]);
    }

    #[test]
    fn a_failure_outranks_everything_and_written_files_outrank_a_deleted_branch() {
        let both = repo("x", |r| {
            r.files_changed = 1;
            r.proposal = ProposalOutcome::Closed {
                branch: "distributor/sync".into(),
            };
        });
        assert_eq!(both.outcome(), RepoOutcome::Changed);
        let failed_held = repo("y", |r| {
            r.error = Some("boom".into());
            r.deferred = Some(Decision::Halted { reason: "x".into() });
        });
        assert_eq!(failed_held.outcome(), RepoOutcome::Failed);
        assert_eq!(ApplyReport { repos: vec![] }.tally().total(), 0);
    }
}
