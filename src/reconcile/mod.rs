//! The reconcile pipeline, the one sequence every command and every daemon
//! cycle runs: observe -> plan -> rollout policy -> (apply) -> record.
//!
//! `plan`, `apply --dry-run` and `status` stop after the policy; `apply`
//! and each daemon cycle go on to execute the plan and record what landed
//! (the rollout log, and the audit log of a forced run). The callers only
//! differ in how they present the [`Outcome`] and what they do between
//! repos ([`Hooks`]: a progress bar, the daemon's heartbeat and stop
//! requests). Preparing the inputs (validate, render) comes before and is
//! [`crate::prepare`]; [`prepare_blocking`] runs it off the async workers.

mod record;
pub mod writer;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use crate::apply::{self, ApplyReport, RepoReport};
use crate::forge::Forge;
use crate::lock::Source;
use crate::observe::{self, Options};
use crate::plan::{Plan, PlanSettings};
use crate::prepare::{Prepared, Selection};
use crate::rollout;
use crate::time::Epoch;

pub use record::{Recorded, repo_events};

/// Platform commits read for staleness (how many revisions behind).
pub const HISTORY: usize = 1000;

/// What one run of the pipeline is asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    /// The platform revision distributed.
    pub source: Source,
    /// The time the run is made at (a parameter, so tests set it).
    pub now: Epoch,
    /// Execute the plan (`apply`, a daemon cycle), or only make it (`plan`,
    /// `apply --dry-run`, `status`).
    pub execute: bool,
    /// Attach unified diffs (reads the old contents).
    pub diffs: bool,
    /// Attach them only while at most this many repos have writes (output
    /// that lists more is compact and shows none; see
    /// [`crate::observe::Options::diffs_up_to`]).
    pub diffs_up_to: Option<usize>,
    /// `apply --force --reason`.
    pub force_reason: Option<String>,
    /// `--bundle`: only these bundles' paths.
    pub bundles: Option<BTreeSet<String>>,
    /// Plan repositories the forge does not have as empty ones (`plan --init`).
    pub missing_as_empty: bool,
    /// The run covers the whole registry (no team, repo or bundle filter):
    /// fleet-wide facts (waves in sync, open pull requests) are recorded.
    pub full_fleet: bool,
    /// Where the rollout log lives; `None`: no memory between runs.
    pub state_dir: Option<PathBuf>,
    /// Where a forced run's audit records go (default: the state directory).
    pub audit_log: Option<PathBuf>,
    /// `--strict-flags`: the flag order (`flag_order`) to check before
    /// the first write; a flag on in a stage while an earlier one is not
    /// live fleet-wide refuses the run ([`RunError::FlagsOutOfOrder`]).
    pub strict_flags: Option<Vec<String>>,
    /// `distributor rollback`: while the fleet is pinned to this run's
    /// revision, write only the repos a later revision reached.
    pub rollback_only: bool,
    /// The pin this run delivers (`distributor rollback`, recorded or, with
    /// `--dry-run`, not); `None`: the rollout log's, if any.
    pub pin: Option<rollout::pin::Pin>,
}

/// What the caller does between repos while applying.
pub struct Hooks<'a> {
    /// Set to stop at the next safe point (between two repos).
    pub stop: &'a AtomicBool,
    /// Called after each repo.
    pub on_repo: &'a mut (dyn FnMut(&RepoReport) + Send),
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The plan with the rollout policy's verdicts.
    pub plan: Plan,
    /// What applying did; `None` when the run only planned.
    pub report: Option<ApplyReport>,
    /// What recording the run did (rollout log, audit log).
    pub recorded: Recorded,
}

impl Outcome {
    /// The revision's rollout is halted.
    pub fn halted(&self) -> bool {
        self.plan.rollout.as_ref().is_some_and(|d| d.halt.is_some())
    }

    /// Applying stopped before every repo was done (a stop request).
    pub fn interrupted(&self) -> bool {
        self.report
            .as_ref()
            .is_some_and(|r| r.repos.len() < self.plan.repos.len() + self.plan.errors.len())
    }
}

/// Why a run could not get to planning.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The rollout log in the state directory cannot be read.
    #[error("{0}")]
    State(String),
    /// Another writer holds this state directory and forge.
    #[error("{0}")]
    Busy(String),
    /// A forced run whose audit log cannot be written: nothing was written.
    #[error(
        "refusing the forced run: {0}; nothing was written (pass --audit-log FILE or --state-dir DIR where records can be kept)"
    )]
    Audit(String),
    /// `--strict-flags` and a flag is out of order: nothing was written.
    #[error(
        "refusing to write (--strict-flags): {0}; nothing was written (switch the flag on in the earlier stage first, or let it become live there)"
    )]
    FlagsOutOfOrder(String),
}

/// Runs the pipeline for `prepared`'s targets on `forge`.
pub async fn run<F: Forge>(
    forge: &F,
    prepared: &mut Prepared,
    request: &Request,
    hooks: Hooks<'_>,
) -> Result<Outcome, RunError> {
    let mut opts = Options {
        settings: PlanSettings::new(
            &prepared.rollout,
            request.source.clone(),
            request.force_reason.clone(),
            request.bundles.clone(),
            request.now,
        ),
        diffs: request.diffs,
        diffs_up_to: request.diffs_up_to,
        missing_as_empty: request.missing_as_empty,
    };
    // One writer at a time per state directory and forge (the rollout
    // budgets and the audit would otherwise count two runs as one).
    let _writer = match (&request.state_dir, request.execute) {
        (Some(dir), true) => {
            let describe = forge.describe();
            let dir = dir.clone();
            Some(
                tokio::task::spawn_blocking(move || writer::acquire(&dir, &describe, writer::WAIT))
                    .await
                    .map_err(|e| RunError::Busy(format!("cannot take the writer lock: {e}")))?
                    .map_err(RunError::Busy)?,
            )
        }
        _ => None,
    };
    // The rollout log is read before anything is observed: an unreadable
    // memory stops the run before it could write on a wrong budget.
    let log = request.state_dir.as_deref().map(rollout::Log::in_dir);
    let state = match &log {
        Some(l) => l.read().map_err(RunError::State)?,
        None => rollout::State::default(),
    };
    let history = crate::source::history(&prepared.inputs, HISTORY);
    // A fleet pinned to this revision is being rolled back: commits and
    // pull requests say so, and the repos later revisions reached go first.
    let rollback = request
        .pin
        .clone()
        .or_else(|| state.pin.clone())
        .filter(|p| p.revision == rollout::revision_key(&request.source))
        .map(|p| rollout::pin::Rollback::new(p, &history, request.rollback_only));
    opts.settings.rollback = rollback.as_ref().map(rollout::pin::Rollback::note);
    let audit_reason = audit_reason(request, rollback.as_ref());
    // A forced run or a rollback must leave a record: its audit log is
    // checked before the first write, not after the last.
    if request.execute && audit_reason.is_some() {
        match record::audit_path(request) {
            Some(path) => crate::audit::check_writable(&path).map_err(RunError::Audit)?,
            None => return Err(RunError::Audit("no audit log".into())),
        }
    }
    // A plan that will not be applied frees each repo's rendered contents
    // once it is planned (a 10,000-repo plan stays small).
    let mut plan = if request.execute {
        observe::make_plan(forge, &prepared.targets, &opts).await
    } else {
        observe::make_plan_releasing(forge, &mut prepared.targets, &opts).await
    };
    // Staleness counts how far behind the revision distributed a repo is:
    // from that revision down (an older one, `--source-rev` or a pin, sees
    // repos on later revisions as not behind, as a checkout of it would).
    let behind_from = history
        .iter()
        .position(|(r, _)| *r == request.source.revision)
        .unwrap_or(0);
    let policy = rollout::Context {
        now: request.now,
        rollout: &prepared.rollout,
        state: &state,
        targets: &prepared.targets,
        history: &history[behind_from..],
        full_fleet: request.full_fleet,
        forced: request.force_reason.is_some(),
        rollback: rollback.as_ref(),
    };
    let decided = rollout::attach(&policy, &mut plan);
    if let Some(order) = &request.strict_flags {
        check_flag_order(prepared, &plan, order, request.now)?;
    }
    if !request.execute {
        return Ok(Outcome {
            plan,
            report: None,
            recorded: Recorded::default(),
        });
    }
    let mut recorder =
        record::Recorder::new(log.as_ref(), request, audit_reason, &plan, hooks.on_repo);
    recorder.start(request, decided, &plan);
    let report = apply::apply_until(
        forge,
        &prepared.targets,
        &plan,
        &opts,
        hooks.stop,
        &mut recorder,
    )
    .await;
    let recorded = recorder.recorded;
    Ok(Outcome {
        plan,
        report: Some(report),
        recorded,
    })
}

/// What a run's audit records say it was for: the forced run's reason, a
/// rollback's (from which revisions to which, by whom, why), or both;
/// `None`: the run is not audited.
fn audit_reason(request: &Request, rollback: Option<&rollout::pin::Rollback>) -> Option<String> {
    let rollback = rollback.map(|r| format!("rollback {}", r.note().line()));
    match (&request.force_reason, rollback) {
        (Some(force), Some(rb)) => Some(format!("{force}; {rb}")),
        (Some(force), None) => Some(force.clone()),
        (None, rb) => rb,
    }
}

/// The pin in a state directory's rollout log: the revision every run
/// renders while it holds (see [`rollout::pin`]).
pub fn pin_in(state_dir: &Path) -> Result<Option<rollout::pin::Pin>, String> {
    Ok(rollout::Log::in_dir(state_dir).read()?.pin)
}

/// The staged flag guard before any write: every flag on in a stage while
/// an earlier stage of `order` is not live fleet-wide is an error.
fn check_flag_order(
    prepared: &Prepared,
    plan: &crate::plan::Plan,
    order: &[String],
    now: crate::time::Epoch,
) -> Result<(), RunError> {
    let out = crate::flags::staged_guard(&prepared.targets, plan, &prepared.stages, order, now);
    if out.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = out
        .iter()
        .map(crate::output::flags::out_of_order_line)
        .collect();
    Err(RunError::FlagsOutOfOrder(lines.join("; ")))
}

/// [`crate::prepare::prepare`] on a blocking thread (reading, validating
/// and rendering a large registry must not hold an async worker), with the
/// platform revision.
pub async fn prepare_blocking(selection: Selection) -> anyhow::Result<(Prepared, Source)> {
    tokio::task::spawn_blocking(move || {
        let prepared = crate::prepare::prepare(&selection)?;
        let source = crate::source::revision(&prepared.inputs);
        Ok((prepared, source))
    })
    .await
    .map_err(|e| anyhow::Error::new(e).context("preparing the platform inputs failed"))?
}

/// The state directory of a CLI run: `--state-dir`, else systemd's
/// `$STATE_DIRECTORY` (a service runs one fleet), else a directory of the
/// XDG state home keyed by the fleet ([`fleet_key`]), so two fleets on one
/// account (a demo and the real organisation, two registries) never share
/// budgets, soak clocks or halts.
pub fn default_state_dir(explicit: Option<&Path>, fleet: &str) -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    if let Some(v) = env("STATE_DIRECTORY") {
        // systemd may list several, separated by ':'.
        return Some(PathBuf::from(
            v.to_string_lossy().split(':').next().unwrap_or_default(),
        ));
    }
    let home = env("XDG_STATE_HOME")
        .map(|d| PathBuf::from(d).join("distributor"))
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".local/state/distributor")))?;
    let keyed = home.join("fleets").join(fleet);
    if !keyed.exists() && home.join(rollout::log::FILE).exists() {
        tracing::warn!(
            old = %home.display(),
            new = %keyed.display(),
            "state of an earlier version (one directory for every fleet) found; it is not used: move its files to the new directory if they belong to this fleet"
        );
    }
    Some(keyed)
}

/// A fleet's name for its state directory: where it is distributed (the
/// forge endpoint: API URL or local root) and from where (the platform
/// directory), readable and with a digest of both.
pub fn fleet_key(forge_endpoint: &str, platform_dir: &Path) -> String {
    let platform =
        std::fs::canonicalize(platform_dir).unwrap_or_else(|_| platform_dir.to_path_buf());
    let digest =
        crate::blob::blob_id(format!("{forge_endpoint}\n{}", platform.display()).as_bytes());
    let hex: String = digest.to_string().chars().take(12).collect();
    let readable = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .trim_matches('-')
            .chars()
            .take(40)
            .collect()
    };
    let name = platform
        .file_name()
        .map(|n| readable(&n.to_string_lossy()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "platform".into());
    let host = forge_endpoint
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .map(readable)
        .unwrap_or_else(|| "local".into());
    format!("{name}-{host}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleets_get_their_own_state_directory() {
        let a = fleet_key("https://api.github.com", Path::new("/srv/platform"));
        let b = fleet_key(
            "https://github.example.com/api/v3",
            Path::new("/srv/platform"),
        );
        let c = fleet_key("/tmp/demo-repos", Path::new("/srv/platform"));
        let d = fleet_key("https://api.github.com", Path::new("/srv/other-platform"));
        assert!(a.starts_with("platform-api.github.com-"), "{a}");
        assert!(b.starts_with("platform-github.example.com-"), "{b}");
        assert!(c.starts_with("platform-local-"), "{c}");
        assert!(d.starts_with("other-platform-api.github.com-"), "{d}");
        let all: std::collections::BTreeSet<&String> = [&a, &b, &c, &d].into_iter().collect();
        assert_eq!(all.len(), 4);
        // Stable: the same fleet finds its state again.
        assert_eq!(
            a,
            fleet_key("https://api.github.com", Path::new("/srv/platform"))
        );
    }
}
