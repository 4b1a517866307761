//! `/metrics` in the Prometheus text format (0.0.4). The daemon counts
//! cycles, errors and cycle durations here; repo, file and pull request
//! gauges come from the [`Ledger`] and API figures from the forge's
//! [`ForgeUsage`] at render time, so `/metrics` and `/status` never
//! disagree. Hand-written: a dozen series do not need a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use super::ledger::{Ledger, Outcome, outcome_key};
use crate::forge::ForgeUsage;

/// Upper bounds (seconds) of the cycle duration histogram: from a no-op
/// check of a small fleet to a paced rollout over an hour.
pub const DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

#[derive(Debug, Default)]
struct Inner {
    cycles: BTreeMap<&'static str, u64>,
    errors: BTreeMap<String, u64>,
    /// Per bucket of [`DURATION_BUCKETS`] (not cumulative), plus +Inf.
    duration_counts: [u64; DURATION_BUCKETS.len() + 1],
    duration_sum: f64,
    webhooks: BTreeMap<&'static str, u64>,
}

/// The daemon's own counters.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// A finished cycle.
    pub fn cycle(&self, outcome: Outcome, seconds: f64) {
        let mut m = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.cycles.entry(outcome_key(outcome)).or_default() += 1;
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        m.duration_counts[bucket] += 1;
        m.duration_sum += seconds;
    }

    /// An error of `kind` (`validation`, `platform`, `repo`, `config`).
    pub fn error(&self, kind: &str, n: u64) {
        if n == 0 {
            return;
        }
        let mut m = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.errors.entry(kind.to_string()).or_default() += n;
    }

    /// A webhook delivery and what became of it (`accepted`, `ignored`,
    /// `rejected`).
    pub fn webhook(&self, result: &'static str) {
        let mut m = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.webhooks.entry(result).or_default() += 1;
    }

    /// The whole exposition.
    pub fn render(&self, ledger: &Ledger, usage: Option<&ForgeUsage>) -> String {
        let m = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        let totals = ledger.totals();

        family(
            &mut out,
            "distributor_repos",
            "gauge",
            "Repositories by state after the last cycle.",
        );
        for (state, n) in &totals.by_status {
            let _ = writeln!(out, "distributor_repos{{state=\"{state}\"}} {n}");
        }
        family(
            &mut out,
            "distributor_files",
            "gauge",
            "Managed files by state, as last observed.",
        );
        for state in crate::plan::FileState::ALL.map(crate::plan::FileState::as_str) {
            let n = totals.files_by_state.get(state).copied().unwrap_or(0);
            let _ = writeln!(out, "distributor_files{{state=\"{state}\"}} {n}");
        }
        family(
            &mut out,
            "distributor_repos_by_decision",
            "gauge",
            "Repositories by the rollout policy's decision in the last cycle (alert on held or halted).",
        );
        for (decision, n) in &totals.by_decision {
            let _ = writeln!(
                out,
                "distributor_repos_by_decision{{decision=\"{decision}\"}} {n}"
            );
        }
        family(
            &mut out,
            "distributor_stale_repos",
            "gauge",
            "Repositories behind the platform, or with a pull request open, longer than stale_after.",
        );
        let _ = writeln!(out, "distributor_stale_repos {}", totals.stale);
        family(
            &mut out,
            "distributor_rollout_halted",
            "gauge",
            "1 while the current revision's rollout is halted (resume with distributor resume REV).",
        );
        match ledger.rollout.as_ref().and_then(|r| r.halt.as_ref()) {
            Some(h) => {
                let _ = writeln!(
                    out,
                    "distributor_rollout_halted{{revision=\"{}\"}} 1",
                    escape(&h.revision)
                );
            }
            None => {
                let _ = writeln!(out, "distributor_rollout_halted{{revision=\"\"}} 0");
            }
        }
        family(
            &mut out,
            "distributor_pinned",
            "gauge",
            "1 while a rollback pins the fleet to an earlier revision (lift it with distributor unpin).",
        );
        let _ = writeln!(out, "distributor_pinned {}", u8::from(ledger.pin.is_some()));
        flag_families(&mut out, ledger.flags.as_ref());
        family(
            &mut out,
            "distributor_pull_requests",
            "gauge",
            "Distributor pull requests by state.",
        );
        let _ = writeln!(
            out,
            "distributor_pull_requests{{state=\"open\"}} {}",
            totals.pull_requests_open
        );

        family(
            &mut out,
            "distributor_cycles_total",
            "counter",
            "Reconcile cycles by outcome.",
        );
        for o in ["ok", "partial", "invalid", "failed", "interrupted"] {
            let _ = writeln!(
                out,
                "distributor_cycles_total{{outcome=\"{o}\"}} {}",
                m.cycles.get(o).copied().unwrap_or(0)
            );
        }
        family(
            &mut out,
            "distributor_cycle_duration_seconds",
            "histogram",
            "Duration of reconcile cycles.",
        );
        let mut cumulative = 0;
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            cumulative += m.duration_counts[i];
            let _ = writeln!(
                out,
                "distributor_cycle_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += m.duration_counts[DURATION_BUCKETS.len()];
        let _ = writeln!(
            out,
            "distributor_cycle_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "distributor_cycle_duration_seconds_sum {}",
            m.duration_sum
        );
        let _ = writeln!(out, "distributor_cycle_duration_seconds_count {cumulative}");

        family(
            &mut out,
            "distributor_last_successful_cycle_timestamp_seconds",
            "gauge",
            "When the last cycle that applied ended (0: never).",
        );
        let _ = writeln!(
            out,
            "distributor_last_successful_cycle_timestamp_seconds {}",
            ledger.last_success_at.unwrap_or(0)
        );
        family(
            &mut out,
            "distributor_config_valid",
            "gauge",
            "1 when the last configuration and registry loaded, 0 when the previous good one is still running.",
        );
        let _ = writeln!(
            out,
            "distributor_config_valid {}",
            u8::from(ledger.config_error.is_none())
        );

        family(
            &mut out,
            "distributor_errors_total",
            "counter",
            "Errors by kind.",
        );
        for kind in ["config", "platform", "validation", "state", "repo", "panic"] {
            let _ = writeln!(
                out,
                "distributor_errors_total{{kind=\"{kind}\"}} {}",
                m.errors.get(kind).copied().unwrap_or(0)
            );
        }
        family(
            &mut out,
            "distributor_webhooks_total",
            "counter",
            "Webhook deliveries by result.",
        );
        for r in ["accepted", "ignored", "rejected"] {
            let _ = writeln!(
                out,
                "distributor_webhooks_total{{result=\"{r}\"}} {}",
                m.webhooks.get(r).copied().unwrap_or(0)
            );
        }

        if let Some(u) = usage {
            family(
                &mut out,
                "distributor_github_requests_total",
                "counter",
                "GitHub API requests by kind and HTTP status (0: no answer).",
            );
            for ((kind, status), n) in &u.requests {
                let _ = writeln!(
                    out,
                    "distributor_github_requests_total{{kind=\"{}\",status=\"{status}\"}} {n}",
                    escape(kind)
                );
            }
            family(
                &mut out,
                "distributor_github_writes_total",
                "counter",
                "Content-creating GitHub requests sent.",
            );
            let _ = writeln!(out, "distributor_github_writes_total {}", u.writes);
            family(
                &mut out,
                "distributor_github_write_units_total",
                "counter",
                "Content-creating units sent (one per top-level GraphQL mutation field or mutating REST request): what the write pacer and GitHub's secondary limits count.",
            );
            let _ = writeln!(
                out,
                "distributor_github_write_units_total {}",
                u.write_units
            );
            family(
                &mut out,
                "distributor_github_retries_total",
                "counter",
                "GitHub requests retried.",
            );
            let _ = writeln!(out, "distributor_github_retries_total {}", u.retries);
            family(
                &mut out,
                "distributor_github_ambiguous_writes_total",
                "counter",
                "Writes whose answer was lost (5xx or no answer), by what reading the branch again found: landed (ours, not sent again), not_landed (sent again), moved (a conflict).",
            );
            for verdict in ["landed", "not_landed", "moved"] {
                let n = u.ambiguous.get(verdict).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "distributor_github_ambiguous_writes_total{{verdict=\"{verdict}\"}} {n}"
                );
            }
            family(
                &mut out,
                "distributor_github_rate_limit_remaining",
                "gauge",
                "Remaining primary rate-limit budget per resource.",
            );
            for (resource, remaining, _, _) in &u.budgets {
                let _ = writeln!(
                    out,
                    "distributor_github_rate_limit_remaining{{resource=\"{}\"}} {remaining}",
                    escape(resource)
                );
            }
            family(
                &mut out,
                "distributor_github_rate_limit_reset_timestamp_seconds",
                "gauge",
                "When each primary budget resets.",
            );
            for (resource, _, _, reset) in &u.budgets {
                let _ = writeln!(
                    out,
                    "distributor_github_rate_limit_reset_timestamp_seconds{{resource=\"{}\"}} {reset}",
                    escape(resource)
                );
            }
            family(
                &mut out,
                "distributor_github_observe_batches_total",
                "counter",
                "Observation queries GitHub answered, by batch size (repositories per query).",
            );
            for (size, n) in &u.observe_batches.answered {
                let _ = writeln!(
                    out,
                    "distributor_github_observe_batches_total{{size=\"{size}\"}} {n}"
                );
            }
            family(
                &mut out,
                "distributor_github_observe_batch_splits_total",
                "counter",
                "Observation batches split in halves because GitHub could not answer them (timeout, resource limits).",
            );
            let _ = writeln!(
                out,
                "distributor_github_observe_batch_splits_total {}",
                u.observe_batches.splits
            );
            family(
                &mut out,
                "distributor_github_observe_batch_size",
                "gauge",
                "Repositories per observation query the next batch starts from (the configured size unless GitHub pushed back).",
            );
            let _ = writeln!(
                out,
                "distributor_github_observe_batch_size {}",
                u.observe_batches.current
            );
            family(
                &mut out,
                "distributor_write_pacer_waiting",
                "gauge",
                "Content-creating requests waiting for the write pacer.",
            );
            let _ = writeln!(out, "distributor_write_pacer_waiting {}", u.pacer_waiting);
        }
        out
    }
}

/// Per flag and stage, the repos where its registry value is live,
/// pending, waiting or blocked (alert on a flag stuck short of live).
fn flag_families(out: &mut String, flags: Option<&crate::flags::FlagsReport>) {
    family(
        out,
        "distributor_flag_repos",
        "gauge",
        "Repositories per flag and stage by where the registry's value stands (live, pending, waiting, blocked), as the last full cycle observed.",
    );
    for flag in flags.map(|f| f.flags.as_slice()).unwrap_or_default() {
        for s in &flag.stages {
            for (standing, n) in [
                ("live", s.live.len()),
                ("pending", s.pending.len()),
                ("waiting", s.waiting.len()),
                ("blocked", s.blocked.len()),
            ] {
                let _ = writeln!(
                    out,
                    "distributor_flag_repos{{flag=\"{}\",stage=\"{}\",standing=\"{standing}\"}} {n}",
                    escape(&flag.name),
                    escape(&s.stage)
                );
            }
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_stage_counts_repos_by_standing() {
        use crate::flags::{FlagReport, FlagsReport, StageReport, Waiting};
        let stage = StageReport {
            stage: "prd".into(),
            on: 3,
            live: vec!["acme/a".into(), "acme/b".into()],
            waiting: vec![Waiting {
                repo: "acme/c".into(),
                reason: "held".into(),
            }],
            ..StageReport::default()
        };
        let ledger = Ledger {
            flags: Some(FlagsReport {
                schema: crate::flags::SCHEMA,
                out_of_order: Vec::new(),
                flags: vec![FlagReport {
                    name: "new_db".into(),
                    stages: vec![stage],
                    complete: false,
                }],
                complete: false,
            }),
            ..Ledger::default()
        };
        let text = Metrics::default().render(&ledger, None);
        for (standing, n) in [("live", 2), ("pending", 0), ("waiting", 1), ("blocked", 0)] {
            let line = format!(
                "distributor_flag_repos{{flag=\"new_db\",stage=\"prd\",standing=\"{standing}\"}} {n}\n"
            );
            assert!(text.contains(&line), "{line}\n{text}");
        }
        // Without a full cycle yet: the family is declared, with no series.
        let empty = Metrics::default().render(&Ledger::default(), None);
        assert!(
            empty.contains("# TYPE distributor_flag_repos gauge\n"),
            "{empty}"
        );
        assert!(!empty.contains("distributor_flag_repos{"), "{empty}");
    }

    #[test]
    fn the_pin_gauge_is_one_while_pinned() {
        let text = Metrics::default().render(&Ledger::default(), None);
        assert!(
            text.contains(
                "# HELP distributor_pinned 1 while a rollback pins the fleet to an earlier revision \
                 (lift it with distributor unpin).\n# TYPE distributor_pinned gauge\ndistributor_pinned 0\n"
            ),
            "{text}"
        );
        let pinned = Ledger {
            pin: Some(crate::output::record::PinRecord {
                to: "a".repeat(40),
                from: vec!["b".repeat(40)],
                reason: "broke builds".into(),
                operator: "olivia".into(),
                since: "2026-12-02T08:00:00Z".into(),
            }),
            ..Ledger::default()
        };
        let text = Metrics::default().render(&pinned, None);
        assert!(text.contains("\ndistributor_pinned 1\n"), "{text}");
    }

    #[test]
    fn held_halted_and_stale_repos_are_counted_for_alerts() {
        use crate::daemon::ledger::RepoEntry;
        let mut ledger = Ledger::default();
        let entry = |decision: &'static str, stale: bool| RepoEntry {
            team: "t".into(),
            decision: Some(decision),
            stale,
            ..RepoEntry::blank("", crate::plan::RepoStatus::Outdated)
        };
        ledger.repos.insert("acme/a".into(), entry("held", true));
        ledger.repos.insert("acme/b".into(), entry("held", false));
        ledger.repos.insert("acme/c".into(), entry("proceed", true));
        let text = Metrics::default().render(&ledger, None);
        assert!(
            text.contains("distributor_repos_by_decision{decision=\"held\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("distributor_repos_by_decision{decision=\"halted\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("distributor_repos_by_decision{decision=\"proceed\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("distributor_stale_repos 2\n"), "{text}");
        assert!(
            text.contains("distributor_rollout_halted{revision=\"\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn durations_fall_in_cumulative_buckets() {
        let m = Metrics::default();
        m.cycle(Outcome::Ok, 0.5);
        m.cycle(Outcome::Ok, 45.0);
        m.cycle(Outcome::Invalid, 7200.0);
        m.error("validation", 2);
        let text = m.render(&Ledger::default(), None);
        assert!(
            text.contains("distributor_cycle_duration_seconds_bucket{le=\"1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("distributor_cycle_duration_seconds_bucket{le=\"60\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("distributor_cycle_duration_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("distributor_cycle_duration_seconds_count 3\n"));
        assert!(text.contains("distributor_cycles_total{outcome=\"invalid\"} 1\n"));
        assert!(text.contains("distributor_errors_total{kind=\"validation\"} 2\n"));
        // Every sample belongs to a family declared with HELP and TYPE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }

    #[test]
    fn api_usage_is_exposed_with_escaped_labels() {
        let mut usage = ForgeUsage::default();
        usage.requests.insert(("graphql observe".into(), 200), 20);
        usage
            .budgets
            .push(("graphql".into(), 4980, 5000, 1_700_000_000));
        usage.pacer_waiting = 3;
        usage.writes = 4;
        usage.observe_batches.answered.insert(25, 6);
        usage.observe_batches.splits = 2;
        usage.observe_batches.current = 25;
        usage.write_units = 7;
        usage.ambiguous.insert("landed".into(), 2);
        usage.ambiguous.insert("not_landed".into(), 1);
        let text = Metrics::default().render(&Ledger::default(), Some(&usage));
        assert!(text.contains(
            "distributor_github_requests_total{kind=\"graphql observe\",status=\"200\"} 20\n"
        ));
        assert!(
            text.contains("distributor_github_rate_limit_remaining{resource=\"graphql\"} 4980\n")
        );
        assert!(text.contains("distributor_write_pacer_waiting 3\n"));
        assert!(text.contains("distributor_github_writes_total 4\n"));
        assert!(text.contains("distributor_github_write_units_total 7\n"));
        assert!(text.contains("distributor_github_ambiguous_writes_total{verdict=\"landed\"} 2\n"));
        assert!(
            text.contains("distributor_github_ambiguous_writes_total{verdict=\"not_landed\"} 1\n")
        );
        assert!(text.contains("distributor_github_ambiguous_writes_total{verdict=\"moved\"} 0\n"));
        assert!(text.contains("distributor_github_observe_batches_total{size=\"25\"} 6\n"));
        assert!(text.contains("distributor_github_observe_batch_splits_total 2\n"));
        assert!(text.contains("distributor_github_observe_batch_size 25\n"));
        assert_eq!(escape("a\"b"), "a\\\"b");
    }
}
