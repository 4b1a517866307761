//! The fleet ledger: what the daemon knows after its last cycle, per repo
//! (the status record of [`crate::output::record`], the same one
//! `distributor status` prints) and per cycle (trigger, outcome, duration,
//! source revision), the rollout's waves and halt, and the fleet's pin.
//! Built by a pure function from a cycle's plan and apply report;
//! `/status` serves it as
//! JSON (`distributor.fleet-status/v1`), and the dashboard, `/metrics` and
//! systemd's `STATUS=` line are derived from it, so they always agree with
//! each other and with `status`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::apply::{ApplyReport, RepoReport};
use crate::output::record::{self, PinRecord, Reader, RepoRecord};
use crate::plan::Plan;

/// Schema id of `/status`. (Until its repos became the status records it
/// was `distributor.fleet/v1`, the id of the plan's fleet summary too.)
pub const FLEET_SCHEMA: &str = "distributor.fleet-status/v1";

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

/// One repo in the ledger: the status record every view renders.
pub type RepoEntry = RepoRecord;

/// Counts of repos by status and decision, and of files by state.
pub type Totals = crate::output::record::Totals;

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
    /// Where each flag stands (`distributor flags`), as the last cycle that
    /// covered the fleet left it (its own writes counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<crate::flags::FlagsReport>,
    /// The fleet's pin, as the last cycle that covered the fleet rendered
    /// under it (`None`: it followed the platform's head).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinRecord>,
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
        let epoch = crate::time::Epoch::try_from(now).unwrap_or(0);
        let mut seen = BTreeMap::new();
        for p in &plan.repos {
            let key = p.repo.to_string();
            let mut entry = record::record(p, reports.get(&key).copied(), epoch);
            if entry.last_commit.is_none() {
                entry.last_commit = self.repos.get(&key).and_then(|e| e.last_commit.clone());
            }
            seen.insert(key, entry);
        }
        for e in &plan.errors {
            let key = e.repo.to_string();
            let failed = reports.get(&key).and_then(|r| r.error.as_ref());
            let error = crate::plan::RepoError {
                repo: e.repo.clone(),
                error: failed.cloned().unwrap_or_else(|| e.error.clone()),
            };
            let wave = wave_of.get(&key).cloned().flatten();
            let entry =
                record::error_record(&error, self.repos.get(&key), wave, Reader::Daemon, epoch);
            seen.insert(key, entry);
        }
        if complete {
            self.repos = seen;
            self.rollout = plan.rollout.clone();
            self.pin = plan.rollback.clone();
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

    /// The counts every view shows, made once from the records.
    pub fn totals(&self) -> Totals {
        Totals::of(self.repos.values())
    }

    /// The one-line summary for systemd's `STATUS=`, starting `pinned to
    /// a11…; ` while a rollback holds the fleet.
    pub fn summary(&self) -> String {
        let t = self.totals();
        let n = |k: &str| t.by_status.get(k).copied().unwrap_or(0);
        let pinned = self.pin.as_ref().map_or_else(String::new, |p| {
            format!("pinned to {}; ", crate::plan::message::short(&p.to))
        });
        let mut s = format!(
            "{pinned}{} in sync, {} outdated, {} pending review, {} drifted, {} failing",
            n("in_sync"),
            n("outdated"),
            n("proposal_pending"),
            n("drifted"),
            n("error")
        );
        for (n, what) in [
            (t.decision("queued"), "queued"),
            (t.decision("held"), "held by a wave"),
            (t.decision("halted"), "halted"),
            (t.stale, "stale"),
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

    /// `/status` as JSON: `pin` is absent unless the fleet is pinned, as
    /// in `status --format json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "schema": FLEET_SCHEMA,
            "last_cycle": self.last_cycle,
            "last_success_at": self.last_success_at,
            "config_error": self.config_error,
            "totals": self.totals(),
            "rollout": self.rollout,
            "flags": self.flags.as_ref().map(|f| &f.flags),
            "repos": self.repos.values().collect::<Vec<_>>(),
        });
        if let Some(pin) = &self.pin {
            doc["pin"] = serde_json::json!(pin);
        }
        doc
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rollback: Option<PinRecord>) -> Plan {
        crate::plan::fixtures::empty_plan(rollback)
    }

    fn pin() -> PinRecord {
        PinRecord {
            to: "a".repeat(40),
            from: vec!["b".repeat(40)],
            reason: "broke builds".into(),
            operator: "olivia".into(),
            since: "2026-12-02T08:00:00Z".into(),
        }
    }

    fn cycle(number: u64) -> Cycle {
        Cycle {
            number,
            trigger: Trigger::Interval,
            started_at: 1_000,
            duration_ms: 10,
            outcome: Outcome::Ok,
            revision: None,
            error: None,
            only: Vec::new(),
        }
    }

    /// The pin is the last full cycle's: a cycle limited to some repos
    /// keeps it, a full cycle following the head again drops it.
    #[test]
    fn the_pin_is_the_last_full_cycle_s_and_leads_the_summary() {
        let mut ledger = Ledger::default();
        let none = BTreeMap::new();
        ledger.record(cycle(1), &plan(Some(pin())), None, &none, true);
        assert_eq!(ledger.pin, Some(pin()));
        assert_eq!(
            ledger.summary(),
            "pinned to aaaaaaaaaaaa; 0 in sync, 0 outdated, 0 pending review, 0 drifted, 0 failing"
        );
        assert_eq!(ledger.to_json()["pin"], serde_json::json!(pin()));
        ledger.record(cycle(2), &plan(None), None, &none, false);
        assert_eq!(ledger.pin, Some(pin()), "a partial cycle keeps the pin");
        ledger.record(cycle(3), &plan(None), None, &none, true);
        assert_eq!(ledger.pin, None);
        assert_eq!(
            ledger.summary(),
            "0 in sync, 0 outdated, 0 pending review, 0 drifted, 0 failing"
        );
        let doc = ledger.to_json();
        assert!(doc.get("pin").is_none(), "{doc}");
    }
}
