//! The rollout policy's verdicts as the plan carries them: per repo a
//! [`Decision`] (proceed, queued, held, halted, forced) with its
//! [`Staleness`], and fleet-wide the waves, budgets and halt
//! ([`Decisions`]). Plain data: [`crate::rollout`] computes them, the
//! executor obeys them, and the outputs print them. Living here lets the
//! plan hold them without the planner depending on the policy.

use serde::Serialize;

/// What may happen to one repo now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Nothing to deliver.
    Idle,
    /// Deliver now.
    Proceed,
    /// `apply --force`: delivered past every gate.
    Forced,
    /// A budget is spent; delivered in a later run, in this order.
    Queued {
        limit: Limit,
        position: usize,
        reason: String,
    },
    /// An earlier wave has not taken (or soaked) this revision yet.
    Held {
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<String>,
    },
    /// The revision's rollout is halted until an operator resumes it.
    Halted { reason: String },
}

impl Decision {
    /// Whether the executor may write this repo's changes.
    pub fn allows_writes(&self) -> bool {
        matches!(self, Decision::Idle | Decision::Proceed | Decision::Forced)
    }

    /// One line for people, e.g. `queued: pr_hourly_limit reached, position 12`.
    pub fn line(&self) -> String {
        match self {
            Decision::Idle => "idle: nothing to deliver".into(),
            Decision::Proceed => "proceed".into(),
            Decision::Forced => "forced: every rollout gate skipped (apply --force)".into(),
            Decision::Queued {
                position, reason, ..
            } => format!("queued: {reason}, position {position}"),
            Decision::Held { reason, .. } => format!("held: {reason}"),
            Decision::Halted { reason } => format!("halted: {reason}"),
        }
    }

    /// Every decision's key, for counts that list zeros too.
    pub const KEYS: [&'static str; 6] = ["idle", "proceed", "forced", "queued", "held", "halted"];

    pub fn key(&self) -> &'static str {
        match self {
            Decision::Idle => "idle",
            Decision::Proceed => "proceed",
            Decision::Forced => "forced",
            Decision::Queued { .. } => "queued",
            Decision::Held { .. } => "held",
            Decision::Halted { .. } => "halted",
        }
    }
}

/// The budget that queued a repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    PrHourlyLimit,
    PrConcurrentLimit,
    DirectCommitsPerRun,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::PrHourlyLimit => "pr_hourly_limit",
            Limit::PrConcurrentLimit => "pr_concurrent_limit",
            Limit::DirectCommitsPerRun => "direct_commits_per_run",
        }
    }
}

/// How far behind a repo is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Staleness {
    /// Platform commits since the revision its lock records (`None`: not
    /// known, e.g. never distributed or beyond the history read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind_revisions: Option<usize>,
    /// Since when it is behind (the first platform commit it lacks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind_for: Option<String>,
    /// How long its pending pull request has been open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request_open_for: Option<String>,
    /// Behind, or a pull request open, longer than `stale_after`.
    pub stale: bool,
    /// The pull request got its escalation comment (now or earlier).
    pub escalated: bool,
    #[serde(skip)]
    pub behind_secs: Option<u64>,
    #[serde(skip)]
    pub open_secs: Option<u64>,
}

impl Staleness {
    /// `3 revisions behind for 2d 4h; pull request open 5d`.
    pub fn line(&self) -> Option<String> {
        let mut parts = Vec::new();
        match (self.behind_revisions, &self.behind_for) {
            (Some(n), Some(f)) if n > 0 => parts.push(format!(
                "{n} revision{} behind for {f}",
                if n == 1 { "" } else { "s" }
            )),
            (Some(n), None) if n > 0 => parts.push(format!("{n} revisions behind")),
            _ => {}
        }
        if let Some(open) = &self.pull_request_open_for {
            parts.push(format!("pull request open {open}"));
        }
        if parts.is_empty() {
            return None;
        }
        let mut line = parts.join("; ");
        if self.stale {
            line = format!("STALE: {line}");
        }
        if self.escalated {
            line.push_str(" (escalated)");
        }
        Some(line)
    }
}

/// The policy's verdict on one repo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoPolicy {
    pub decision: Decision,
    pub staleness: Staleness,
    /// The escalation to post on the open pull request now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Escalation>,
}

/// A comment mentioning the owners, and a label, on a pull request open
/// past `escalate_after`; posted once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    pub number: u64,
    pub comment: String,
    pub label: String,
}

/// One wave for this revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaveReport {
    pub name: String,
    pub repos: usize,
    pub in_sync: usize,
    /// Seen fully in sync with this revision's content since then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_sync_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak: Option<String>,
    /// The revision may be delivered to this wave's repos.
    pub open: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// When it opens, if only a soak holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
    /// An operator promoted the revision to this wave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_by: Option<String>,
}

/// The budgets as this run sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub prs_opened_last_hour: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_hourly_limit: Option<u32>,
    pub open_prs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_concurrent_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_commits_per_run: Option<u32>,
    /// Repos queued behind a budget.
    pub queued: usize,
}

/// A halted revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Halt {
    pub revision: String,
    pub reason: String,
    pub since: String,
}

/// The decisions for a whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decisions {
    /// The revision key (`promote` and `resume` take it).
    pub revision: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<WaveReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halt: Option<Halt>,
    pub budget: Budget,
}
