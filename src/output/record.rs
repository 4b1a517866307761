//! One record per repo for every view of the fleet: `status` (text, JSON,
//! markdown), the daemon's `/status`, its dashboard and `/metrics` all
//! render [`RepoRecord`]s, and every count comes from [`Totals::of`] over
//! them, so no view decides a state, a reason or a number of its own.
//!
//! The fleet's pin (a rollback's, [`PinRecord`]) is the one fleet-wide
//! fact every view shows beside the records, in the words of
//! [`pin_words`].
//!
//! [`record`] builds a repo's record from its plan and, after a daemon
//! cycle's writes, its apply report; [`error_record`] builds one for a repo
//! that could not be observed or planned, with advice that fits who reads
//! it ([`Reader`]). Pure: values (and `now`) in, values out; the daemon
//! keeps the records in its ledger, the CLI prints them and drops them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::apply::{ProposalOutcome, PullRequestOutcome, RepoReport};
use crate::merge::MergeOutcome;
use crate::plan::state::Reason;
use crate::plan::verdict::{Decision, Staleness};
use crate::plan::{FileState, Plan, ProposalPlan, RepoError, RepoPlan, RepoStatus, Route};

/// Who reads a record: the advice in an error must be something that
/// reader can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A person at a terminal running `distributor`: CLI flags apply.
    Cli,
    /// The daemon's operator, through `/status` and the dashboard: the
    /// daemon takes no flags, so advice names what to change instead.
    Daemon,
}

/// One repo, as every view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoRecord {
    /// `owner/name`.
    pub repo: String,
    pub team: String,
    pub wave: Option<String>,
    /// `in_sync`, `outdated`, `proposal_pending`, `drifted` or `error`.
    pub status: RepoStatus,
    pub default_branch: Option<String>,
    /// The default branch's tip when the repo was last observed.
    pub tip: Option<String>,
    /// The repository's web page, when the forge has one.
    pub url: Option<String>,
    /// Files by state (`in_sync`, `drifted`, ...), zeros left out.
    pub counts: BTreeMap<&'static str, usize>,
    pub files: Vec<FileRecord>,
    /// What the proposal branch holds or will hold, in words.
    pub proposal: Option<String>,
    /// The open pull request from the proposal branch.
    pub pull_request: Option<PullRecord>,
    /// The rollout policy's decision: `idle`, `proceed`, `forced`,
    /// `queued`, `held` or `halted`.
    pub decision: Option<&'static str>,
    /// Why the repo's changes wait (queued, held, halted), as one line
    /// naming what it waits for.
    pub reason: Option<String>,
    /// The decision with its details (as in the plan).
    pub policy: Option<Decision>,
    /// How far behind the repo is.
    pub staleness: Option<Staleness>,
    /// Behind, or its pull request open, longer than `stale_after`.
    pub stale: bool,
    /// The last default-branch commit distributor wrote.
    pub last_commit: Option<String>,
    /// Why the last look at the repo failed.
    pub error: Option<String>,
    /// Epoch seconds of the run that last looked at the repo.
    pub seen_at: u64,
}

/// One managed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRecord {
    pub path: String,
    pub state: FileState,
    /// Why the file is in its state (`edited_by_hand`, ...).
    pub reason: Option<Reason>,
    /// The reason in words.
    pub why: Option<&'static str>,
    pub route: Route,
    pub bundle: String,
    /// A waiver, or why a merge could not be tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeOutcome>,
}

/// An open pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRecord {
    pub number: u64,
    pub url: String,
    /// RFC 3339, when known (a pull request opened by this very cycle is
    /// not observed yet).
    pub created_at: Option<String>,
    /// How long it has been open, when `created_at` is known (`3d 4h`).
    pub open_for: Option<String>,
}

/// Counts over records: every view's numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub repos: usize,
    /// Repos by status (every status listed).
    pub by_status: BTreeMap<&'static str, usize>,
    pub files_by_state: BTreeMap<&'static str, usize>,
    pub pull_requests_open: usize,
    /// Repos by the rollout policy's decision (every decision listed).
    pub by_decision: BTreeMap<&'static str, usize>,
    /// Repos behind, or with a pull request open, past `stale_after`.
    pub stale: usize,
}

impl Totals {
    /// Counts `records` once.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a RepoRecord>) -> Totals {
        let mut t = Totals::default();
        for s in RepoStatus::ALL {
            t.by_status.insert(s.key(), 0);
        }
        for d in Decision::KEYS {
            t.by_decision.insert(d, 0);
        }
        for r in records {
            t.repos += 1;
            *t.by_status.entry(r.status.key()).or_default() += 1;
            if let Some(d) = r.decision {
                *t.by_decision.entry(d).or_default() += 1;
            }
            t.stale += usize::from(r.stale);
            for f in &r.files {
                *t.files_by_state.entry(f.state.as_str()).or_default() += 1;
            }
            t.pull_requests_open += usize::from(r.pull_request.is_some());
        }
        t
    }

    /// Repos with status `s`.
    pub fn status(&self, s: RepoStatus) -> usize {
        self.by_status.get(s.key()).copied().unwrap_or(0)
    }

    /// Repos with decision `key`.
    pub fn decision(&self, key: &str) -> usize {
        self.by_decision.get(key).copied().unwrap_or(0)
    }
}

impl RepoRecord {
    /// A record with only a name and a status (tests, and the start of
    /// every other constructor).
    pub fn blank(repo: &str, status: RepoStatus) -> RepoRecord {
        RepoRecord {
            repo: repo.to_string(),
            team: String::new(),
            wave: None,
            status,
            default_branch: None,
            tip: None,
            url: None,
            counts: BTreeMap::new(),
            files: Vec::new(),
            proposal: None,
            pull_request: None,
            decision: None,
            reason: None,
            policy: None,
            staleness: None,
            stale: false,
            last_commit: None,
            error: None,
            seen_at: 0,
        }
    }

    /// The staleness in words (`STALE: 3 revisions behind for 9d`).
    pub fn staleness_line(&self) -> Option<String> {
        self.staleness.as_ref().and_then(Staleness::line)
    }

    /// Whether the proposal branch already carries every change and only
    /// waits for review (nothing to say beyond its pull request).
    pub fn proposal_awaits_merge(&self) -> bool {
        self.proposal
            .as_deref()
            .is_some_and(|p| p.ends_with(super::AWAITING_MERGE))
    }

    /// Whether the record needs an operator's eye: not in sync, waiting
    /// for the rollout, or stale.
    pub fn needs_attention(&self) -> bool {
        self.status != RepoStatus::InSync || self.reason.is_some() || self.stale
    }
}

/// The fleet's pin while a rollback holds every run to an earlier
/// revision: the plan's rollback note (`to`, `from`, `reason`,
/// `operator`, `since`), shown as is by `status`, `/status`, the
/// dashboard, `STATUS=` and `/metrics`.
pub type PinRecord = crate::plan::message::Rollback;

/// The pin in words, after `PINNED`/`Pinned`: `to revision a11… since
/// 2026-12-02 08:00:00 UTC by olivia: reason (rolled back from b22…;
/// `distributor unpin` follows the head again)`.
pub fn pin_words(pin: &PinRecord) -> String {
    format!(
        "to revision {} since {} by {}: {}",
        crate::plan::message::short(&pin.to),
        pin_since(pin),
        pin.operator,
        crate::rollout::pin::why_and_way_out(&pin.reason, &pin.from),
    )
}

/// When the fleet was pinned, for people (`2026-12-02 08:00:00 UTC`), or
/// the recorded value when it does not parse.
pub fn pin_since(pin: &PinRecord) -> String {
    crate::time::parse_rfc3339(&pin.since).map_or_else(|| pin.since.clone(), crate::time::utc)
}

/// What `status` prints, in every format: the plan's fleet-wide facts
/// (source, rollout, pin), one record per repo and their totals, made
/// once.
pub struct StatusView<'a> {
    pub plan: &'a Plan,
    /// The fleet's pin, while a rollback holds it (the plan's rollback).
    pub pin: Option<&'a PinRecord>,
    pub records: Vec<RepoRecord>,
    pub totals: Totals,
    pub now: crate::time::Epoch,
}

impl<'a> StatusView<'a> {
    pub fn new(plan: &'a Plan, reader: Reader, now: crate::time::Epoch) -> StatusView<'a> {
        let records = records(plan, reader, now);
        let totals = Totals::of(&records);
        StatusView {
            plan,
            pin: plan.rollback.as_ref(),
            records,
            totals,
            now,
        }
    }
}

/// Records for every repo of a plan nothing was applied from (`status`).
pub fn records(plan: &Plan, reader: Reader, now: crate::time::Epoch) -> Vec<RepoRecord> {
    plan.repos
        .iter()
        .map(|p| record(p, None, now))
        .chain(
            plan.errors
                .iter()
                .map(|e| error_record(e, None, None, reader, now)),
        )
        .collect()
}

/// A repo's record from its plan and, when the plan was applied, what the
/// apply did (`report`): the state is then the state after the writes.
pub fn record(p: &RepoPlan, report: Option<&RepoReport>, now: crate::time::Epoch) -> RepoRecord {
    let files: Vec<FileRecord> = p.files.iter().map(file_record).collect();
    let mut counts = BTreeMap::new();
    for f in &files {
        *counts.entry(f.state.as_str()).or_insert(0) += 1;
    }
    let policy = p.policy.as_ref();
    let decision = policy.map(|x| &x.decision);
    let status = state_of(p, report);
    // Writes that brought the repo in sync leave nothing behind, nothing
    // stale: what the next look at it will say.
    let caught_up = status == RepoStatus::InSync && p.status() != RepoStatus::InSync;
    let staleness = policy
        .map(|x| x.staleness.clone())
        .map(|s| if caught_up { Staleness::default() } else { s });
    RepoRecord {
        team: p.team.clone(),
        wave: p.wave.clone(),
        default_branch: Some(p.default_branch.clone()),
        tip: p.tip.map(|t| t.to_string()),
        url: p.web_url.clone(),
        counts,
        files,
        proposal: proposal_words(p, report),
        pull_request: pull_request(p, report, now),
        decision: decision.map(Decision::key),
        reason: decision.filter(|d| !d.allows_writes()).map(Decision::line),
        policy: decision.cloned(),
        stale: staleness.as_ref().is_some_and(|s| s.stale),
        staleness,
        last_commit: report.and_then(|r| r.commit).map(|c| c.to_string()),
        error: report
            .and_then(|r| r.error.as_deref())
            .map(|e| crate::redact::redact(e).into_owned()),
        seen_at: u64::try_from(now).unwrap_or(0),
        ..RepoRecord::blank(&p.repo.to_string(), status)
    }
}

/// The record of a repo that could not be observed or planned. What the
/// previous record knew (team, files, pull request, last commit) is kept.
pub fn error_record(
    e: &RepoError,
    previous: Option<&RepoRecord>,
    wave: Option<String>,
    reader: Reader,
    now: crate::time::Epoch,
) -> RepoRecord {
    let mut r = previous
        .cloned()
        .unwrap_or_else(|| RepoRecord::blank(&e.repo.to_string(), RepoStatus::Error));
    r.status = RepoStatus::Error;
    r.wave = wave.or(r.wave);
    r.error = Some(advice(&crate::redact::redact(&e.error), reader));
    r.decision = None;
    r.reason = None;
    r.policy = None;
    r.seen_at = u64::try_from(now).unwrap_or(0);
    r
}

/// The local forge's advice for a missing repository names `--init`, a
/// flag of the CLI.
const CLI_INIT_HINT: &str = "; create it or run with --init";

/// What the daemon's operator can do instead: the daemon never creates
/// repositories.
const DAEMON_INIT_HINT: &str = "; create the repository on the forge (the daemon never creates repositories): the next cycle picks it up";

/// `error` with advice `reader` can follow.
pub fn advice(error: &str, reader: Reader) -> String {
    match reader {
        Reader::Cli => error.to_string(),
        Reader::Daemon => error.replace(CLI_INIT_HINT, DAEMON_INIT_HINT),
    }
}

fn file_record(f: &crate::plan::FilePlan) -> FileRecord {
    FileRecord {
        path: f.path.clone(),
        state: f.state,
        reason: f.reason,
        why: f.reason.map(Reason::describe),
        route: f.route,
        bundle: f.bundle.clone(),
        note: f.note.clone(),
        merge: f.merge.clone(),
    }
}

/// The repo's state, after the writes when `report` says some were made:
/// direct changes landed, proposed ones wait for review. A planned drift
/// that was proposed is `proposal_pending` (its file stays `drifted`),
/// exactly what the next plan of the repo says.
fn state_of(p: &RepoPlan, report: Option<&RepoReport>) -> RepoStatus {
    let Some(r) = report else {
        return p.status();
    };
    if r.error.is_some() {
        return RepoStatus::Error;
    }
    let proposed = matches!(
        r.proposal,
        ProposalOutcome::Created { .. }
            | ProposalOutcome::Updated { .. }
            | ProposalOutcome::UpToDate { .. }
    ) && p.files.iter().any(|f| f.route == Route::Proposal);
    let wrote = r.commit.is_some()
        || matches!(
            r.proposal,
            ProposalOutcome::Created { .. }
                | ProposalOutcome::Updated { .. }
                | ProposalOutcome::Closed { .. }
        );
    match (r.deferred.is_some() || !wrote, proposed) {
        (true, _) => p.status(),
        (false, true) => RepoStatus::ProposalPending,
        (false, false) => RepoStatus::InSync,
    }
}

/// The proposal in words: the plan's, or once applied, what the branch
/// now holds.
fn proposal_words(p: &RepoPlan, report: Option<&RepoReport>) -> Option<String> {
    let branch = &p.proposal_branch;
    match report.map(|r| &r.proposal) {
        Some(ProposalOutcome::Created { .. } | ProposalOutcome::Updated { .. }) => {
            Some(format!("branch {branch}{}", super::AWAITING_MERGE))
        }
        Some(ProposalOutcome::Closed { .. }) => None,
        _ if matches!(p.proposal, ProposalPlan::None) => None,
        _ => super::describe_branch(p, branch),
    }
}

fn pull_request(
    p: &RepoPlan,
    report: Option<&RepoReport>,
    now: crate::time::Epoch,
) -> Option<PullRecord> {
    let observed = p.open_pull_request.as_ref();
    let (number, url) = match report.and_then(|r| r.pull_request.as_ref()) {
        Some(pr) if pr.action == PullRequestOutcome::Closed => return None,
        Some(pr) => (pr.number, pr.url.clone()),
        None => observed.map(|o| (o.number, o.url.clone()))?,
    };
    let created_at = observed
        .filter(|o| o.number == number)
        .map(|o| o.created_at.clone());
    let open_for = created_at
        .as_deref()
        .and_then(crate::time::parse_rfc3339)
        .map(|at| {
            crate::time::human(Duration::from_secs(
                u64::try_from(now.saturating_sub(at)).unwrap_or(0),
            ))
        });
    Some(PullRecord {
        number,
        url,
        created_at,
        open_for,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_never_advises_a_cli_flag() {
        let e = "repository acme/ghost not found at /srv/forge/acme/ghost.git; create it or run with --init";
        assert_eq!(advice(e, Reader::Cli), e);
        let daemon = advice(e, Reader::Daemon);
        assert!(!daemon.contains("--init"), "{daemon}");
        assert_eq!(
            daemon,
            "repository acme/ghost not found at /srv/forge/acme/ghost.git; create the repository on the forge \
             (the daemon never creates repositories): the next cycle picks it up"
        );
    }

    /// A direct repo with a hand-edited file: planned, it is `drifted`;
    /// once the cycle committed the rest and proposed the drift, it is
    /// `proposal_pending` (what the next plan says), its file `drifted`.
    #[test]
    fn a_proposed_drift_is_proposal_pending_after_the_writes() {
        use crate::plan::fixtures::{branch, desired, entry, lock_of, observe, plan, repo};
        let obs = observe(
            branch(
                &[("b", entry("old b")), ("d", entry("hand d"))],
                Some(lock_of(&[("b", "old b"), ("d", "old d")])),
            ),
            None,
        );
        let p = plan(
            &repo("direct"),
            &[desired("b", "new b"), desired("d", "new d")],
            &obs,
        );
        let planned = record(&p, None, 0);
        assert_eq!(planned.status, RepoStatus::Drifted);
        let report = RepoReport {
            repo: p.repo.clone(),
            commit: Some(crate::plan::fixtures::oid(1)),
            proposal: ProposalOutcome::Created {
                branch: "distributor/sync".into(),
                commit: crate::plan::fixtures::oid(2),
            },
            files_changed: 2,
            replanned: false,
            pull_request: None,
            fallback: None,
            warnings: vec![],
            deferred: None,
            escalated: false,
            error: None,
            duration_ms: 1,
        };
        let applied = record(&p, Some(&report), 0);
        assert_eq!(applied.status, RepoStatus::ProposalPending);
        assert_eq!(applied.counts.get("drifted"), Some(&1));
        assert_eq!(
            applied.proposal.as_deref(),
            Some("branch distributor/sync is up to date, awaiting merge")
        );
        assert_eq!(
            applied.last_commit,
            Some(crate::plan::fixtures::oid(1).to_string())
        );
        // Nothing written (held): the plan's state stands.
        let held = RepoReport {
            commit: None,
            proposal: ProposalOutcome::None,
            files_changed: 0,
            deferred: Some(Decision::Held {
                reason: "wave early waits".into(),
                until: None,
            }),
            ..report
        };
        assert_eq!(record(&p, Some(&held), 0).status, RepoStatus::Drifted);
    }

    #[test]
    fn the_pin_reads_in_one_line() {
        let pin = PinRecord {
            to: "a".repeat(40),
            from: vec!["b".repeat(40)],
            reason: "runner\nbroke builds".into(),
            operator: "olivia".into(),
            since: "2026-12-02T08:00:00Z".into(),
        };
        assert_eq!(
            pin_words(&pin),
            "to revision aaaaaaaaaaaa since 2026-12-02 08:00:00 UTC by olivia: runner broke builds \
             (rolled back from bbbbbbbbbbbb; `distributor unpin` follows the head again)"
        );
        let odd = PinRecord {
            since: "yesterday".into(),
            ..pin
        };
        assert_eq!(pin_since(&odd), "yesterday");
    }

    #[test]
    fn totals_list_every_status_and_decision_and_count_once() {
        let mut held = RepoRecord::blank("acme/a", RepoStatus::Outdated);
        held.decision = Some("held");
        held.stale = true;
        let mut pending = RepoRecord::blank("acme/b", RepoStatus::ProposalPending);
        pending.decision = Some("idle");
        pending.pull_request = Some(PullRecord {
            number: 3,
            url: "https://github.com/acme/b/pull/3".into(),
            created_at: None,
            open_for: None,
        });
        let t = Totals::of([&held, &pending]);
        assert_eq!(t.repos, 2);
        assert_eq!(t.status(RepoStatus::Outdated), 1);
        assert_eq!(t.status(RepoStatus::Drifted), 0);
        assert_eq!(t.by_status.len(), RepoStatus::ALL.len());
        assert_eq!(t.decision("held"), 1);
        assert_eq!(t.decision("halted"), 0);
        assert_eq!(t.by_decision.len(), Decision::KEYS.len());
        assert_eq!((t.stale, t.pull_requests_open), (1, 1));
    }
}
