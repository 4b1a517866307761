//! The rollout controls an operator runs by hand: `promote`, `resume`,
//! `rollback` (its pin and halts; the delivery is the shared pipeline's)
//! and `unpin`, and which platform revision a run renders while the fleet
//! is pinned. Each records its decision in the rollout log of the state
//! directory, with the operator; the daemon reads it on its next cycle.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::exit;
use crate::cli::{Command, RollbackArgs};
use crate::plan::message::short;
use crate::prepare::Prepared;
use crate::reconcile;
use crate::rollout::{self, pin::Pin};

/// `distributor promote REV --wave NAME`.
pub(super) fn promote(
    prepared: &Prepared,
    state_dir: Option<PathBuf>,
    a: &crate::cli::PromoteArgs,
    now: crate::time::Epoch,
    out: &mut impl Write,
) -> Result<u8> {
    if prepared.rollout.wave_index(Some(&a.wave)).is_none() {
        let known: Vec<&str> = prepared
            .rollout
            .waves
            .iter()
            .map(|w| w.name.as_str())
            .collect();
        bail!(
            "no wave {} in the registry (waves: {})",
            crate::diag::quote(&a.wave),
            if known.is_empty() {
                "none declared".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    let log = rollout_log(state_dir)?;
    let state = log.read().map_err(anyhow::Error::msg)?;
    // A prefix as printed ("held" messages show 12 characters) resolves
    // like git's; a revision nobody has seen is refused, not recorded.
    let history = crate::source::history(&prepared.inputs, reconcile::HISTORY);
    let current = rollout::revision_key(&crate::source::revision(&prepared.inputs));
    let known = history
        .iter()
        .map(|(r, _)| r.as_str())
        .chain(std::iter::once(current.as_str()))
        .chain(state.revisions());
    let revision = rollout::revision::resolve(
        &a.revision,
        known,
        "the platform history nor the rollout log",
    )
    .map_err(anyhow::Error::msg)?;
    let operator = crate::audit::operator();
    log.append(
        &[rollout::Event::Promoted {
            at: now,
            revision: revision.clone(),
            wave: a.wave.clone(),
            operator: operator.clone(),
        }],
        now,
    )
    .map_err(anyhow::Error::msg)?;
    tracing::info!(revision = %revision, wave = %a.wave, operator = %operator, "revision promoted");
    writeln!(
        out,
        "promoted revision {revision} to wave {} (and the waves before it); recorded in {}",
        a.wave,
        log.path().display()
    )?;
    Ok(exit::OK)
}

/// `distributor resume REV`.
pub(super) fn resume(
    state_dir: Option<PathBuf>,
    a: &crate::cli::ResumeArgs,
    now: crate::time::Epoch,
    out: &mut impl Write,
) -> Result<u8> {
    let log = rollout_log(state_dir)?;
    let state = log.read().map_err(anyhow::Error::msg)?;
    let revision = match rollout::revision::resolve(
        &a.revision,
        state.halted.keys().map(String::as_str),
        "the halted revisions",
    ) {
        Ok(r) => r,
        Err(e) => bail!(
            "{e} (halted: {})",
            if state.halted.is_empty() {
                "none".to_string()
            } else {
                state.halted.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        ),
    };
    let operator = crate::audit::operator();
    let mut events = vec![rollout::Event::Resumed {
        at: now,
        revision: revision.clone(),
        operator: operator.clone(),
    }];
    // Resuming a revision a rollback halted returns to the head: the pin
    // goes with it.
    let lifted = state.pin.filter(|p| p.from.contains(&revision));
    if let Some(pin) = &lifted {
        events.push(rollout::Event::Unpinned {
            at: now,
            revision: pin.revision.clone(),
            operator: operator.clone(),
            reason: format!("resumed revision {revision}"),
        });
    }
    log.append(&events, now).map_err(anyhow::Error::msg)?;
    tracing::info!(revision = %revision, operator = %operator, "rollout resumed");
    writeln!(
        out,
        "resumed the rollout of revision {revision}; it is not halted again by the failures seen so far"
    )?;
    if let Some(pin) = lifted {
        writeln!(
            out,
            "unpinned revision {} (the rollback this revision was halted by): runs follow the platform's head again",
            pin.revision
        )?;
    }
    Ok(exit::OK)
}

pub(super) fn rollout_log(state_dir: Option<PathBuf>) -> Result<rollout::Log> {
    let dir = state_dir.context(
        "no state directory: pass --state-dir DIR (the daemon's is /var/lib/distributor)",
    )?;
    Ok(rollout::Log::in_dir(&dir))
}

/// The platform revision a command renders, and what asked for it (as
/// errors name it): `--source-rev` when given, the rollback's REV, else
/// the revision the fleet is pinned to (with a warning saying so) for the
/// commands that reconcile; `None`: the head.
pub(super) fn source_rev(command: &Command, pin: Option<&Pin>) -> Option<(String, String)> {
    let explicit = match command {
        Command::Plan(a) => a.source_rev.clone(),
        Command::Apply(a) => a.source_rev.clone(),
        Command::Rollback(a) => {
            return Some((
                a.revision.clone(),
                format!("rollback {}", crate::diag::cut(&a.revision)),
            ));
        }
        _ => None,
    };
    let explicit = explicit.map(|r| {
        let origin = format!("--source-rev {}", crate::diag::cut(&r));
        (r, origin)
    });
    match (explicit, pin) {
        (None, Some(pin)) => {
            tracing::warn!("the fleet is {}", rollout::pin::describe(pin));
            Some((pin.revision.clone(), rollout::pin::origin(&pin.revision)))
        }
        (explicit, _) => explicit,
    }
}

/// The fleet's pin, for the commands that reconcile (`plan`, `apply`,
/// `status`, `flags`); `None` for the others and without a state
/// directory.
pub(super) fn pin_for(command: &Command, state_dir: Option<&Path>) -> Result<Option<Pin>> {
    let reconciles = matches!(
        command,
        Command::Plan(_) | Command::Apply(_) | Command::Status(_) | Command::Flags(_)
    );
    match state_dir {
        Some(dir) if reconciles => reconcile::pin_in(dir).map_err(anyhow::Error::msg),
        _ => Ok(None),
    }
}

/// `apply --source-rev REV` while the fleet is pinned to another revision
/// is refused: it would deliver a revision the pin does not hold to.
pub(super) fn check_pinned_apply(
    command: &Command,
    prepared: &Prepared,
    pin: Option<&Pin>,
) -> Result<()> {
    let (Command::Apply(a), Some(pin)) = (command, pin) else {
        return Ok(());
    };
    if a.dry_run || a.source_rev.is_none() {
        return Ok(());
    }
    match &prepared.inputs.at {
        Some(at) if *at != pin.revision => bail!(
            "refusing `apply --source-rev {}`: the fleet is {}; nothing was written \
             (run `distributor rollback {}` to pin that revision instead, or `distributor unpin`)",
            crate::diag::cut(a.source_rev.as_deref().unwrap_or_default()),
            rollout::pin::describe(pin),
            short(at)
        ),
        _ => Ok(()),
    }
}

/// `distributor rollback REV`, before any delivery: checks that REV is an
/// earlier revision of the platform's history, then (unless `--dry-run`)
/// halts every later revision and pins the fleet to REV in the rollout
/// log. Returns the pin the delivery runs under.
pub(super) fn rollback_pin(
    prepared: &Prepared,
    state_dir: Option<PathBuf>,
    a: &RollbackArgs,
    now: crate::time::Epoch,
) -> Result<Pin> {
    let reason = a.reason.trim();
    if reason.is_empty() {
        bail!(
            "rollback needs a non-empty --reason (it is written into every commit and pull request)"
        );
    }
    check_reason(reason)?;
    let revision = prepared.inputs.at.clone().context(
        "a rollback reads the platform at a commit; the revision did not resolve to one",
    )?;
    let history = crate::source::history(&prepared.inputs, reconcile::HISTORY);
    let later = rollout::pin::later_than(&history, &revision).map_err(|e| {
        anyhow::anyhow!("cannot roll back to {}: {e}", crate::diag::cut(&a.revision))
    })?;
    let pin = Pin {
        revision,
        from: later,
        reason: reason.to_string(),
        operator: crate::audit::operator(),
        at: now,
    };
    if a.dry_run {
        return Ok(pin);
    }
    let log = rollout_log(state_dir)?;
    let state = log.read().map_err(anyhow::Error::msg)?;
    let halt_reason = format!(
        "rolled back to {} by {}: {}",
        short(&pin.revision),
        pin.operator,
        pin.reason
    );
    let mut events: Vec<rollout::Event> = pin
        .from
        .iter()
        .filter(|r| !state.halted.contains_key(*r))
        .map(|r| rollout::Event::Halted {
            at: now,
            revision: r.clone(),
            reason: halt_reason.clone(),
            rollback: true,
        })
        .collect();
    events.push(rollout::Event::Pinned {
        at: now,
        revision: pin.revision.clone(),
        from: pin.from.clone(),
        reason: pin.reason.clone(),
        operator: pin.operator.clone(),
    });
    log.append(&events, now).map_err(anyhow::Error::msg)?;
    tracing::warn!(
        revision = %pin.revision,
        halted = pin.from.len(),
        operator = %pin.operator,
        "fleet rolled back: {}",
        rollout::pin::describe(&pin)
    );
    Ok(pin)
}

/// The longest `--reason` taken, in characters.
const REASON_CHARS: usize = 1_000;

/// A `--reason` goes into commit messages, trailers, pull requests, the
/// audit and the rollout log: at most [`REASON_CHARS`] characters, no
/// control characters but newlines and tabs.
pub(super) fn check_reason(reason: &str) -> Result<()> {
    let chars = reason.chars().count();
    if chars > REASON_CHARS {
        bail!(
            "--reason is {chars} characters ({}); keep it under {REASON_CHARS}: it is written \
             into every commit, pull request and audit record (link a ticket for the details)",
            crate::diag::quote(reason)
        );
    }
    if let Some(c) = reason
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        bail!(
            "--reason contains the control character {c:?} ({}); use plain text",
            crate::diag::quote(reason)
        );
    }
    Ok(())
}

/// `distributor unpin [--reason TEXT]`.
pub(super) fn unpin(
    state_dir: Option<PathBuf>,
    reason: Option<&str>,
    now: crate::time::Epoch,
    out: &mut impl Write,
) -> Result<u8> {
    let log = rollout_log(state_dir)?;
    let state = log.read().map_err(anyhow::Error::msg)?;
    let Some(pin) = state.pin else {
        bail!(
            "the fleet is not pinned (no rollback in {}); runs already follow the platform's head",
            log.path().display()
        );
    };
    if let Some(reason) = reason {
        check_reason(reason)?;
    }
    let operator = crate::audit::operator();
    log.append(
        &[rollout::Event::Unpinned {
            at: now,
            revision: pin.revision.clone(),
            operator: operator.clone(),
            reason: reason.unwrap_or_default().trim().to_string(),
        }],
        now,
    )
    .map_err(anyhow::Error::msg)?;
    tracing::info!(revision = %pin.revision, operator = %operator, "fleet unpinned");
    writeln!(
        out,
        "unpinned: the fleet was {}\nruns follow the platform's head again; recorded in {}",
        rollout::pin::describe(&pin),
        log.path().display()
    )?;
    let still: Vec<&str> = pin
        .from
        .iter()
        .filter(|r| state.halted.contains_key(*r))
        .map(|r| short(r))
        .collect();
    if !still.is_empty() {
        writeln!(
            out,
            "still halted (resume one with `distributor resume REV` once it is fixed): {}",
            still.join(", ")
        )?;
    }
    Ok(exit::OK)
}
