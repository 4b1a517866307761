//! `distributor validate`, once the offline checks have passed (registry,
//! templates, every render: [`crate::prepare`]): the summary line, then the
//! staged flag guard. When some flag is on in a stage after the first of the
//! registry's `flag_order` and a forge is given (`--forge` or
//! `DISTRIBUTOR_FORGE`), the fleet is observed read-only, exactly as `plan`
//! observes it (the pipeline is never executed, nothing is recorded), and a
//! flag on in a stage while an earlier stage is not live fleet-wide gets
//! `plan`'s warning, naming the repos holding it. Without a forge (a CI job
//! on the platform repository has no token) or when the fleet cannot be
//! observed, one note says the order was not checked and why. Both stay
//! exit 0 unless `--strict-flags`. Writes nothing, anywhere.

use std::io::Write;
use std::sync::atomic::AtomicBool;

use anyhow::{Result, bail};

use super::{exit, forge_setting, now, state_dir};
use crate::cli::Global;
use crate::flags::OutOfOrder;
use crate::forge::ForgeSpec;
use crate::forge::spec::Problem;
use crate::output::flags::out_of_order_line;
use crate::prepare::Prepared;
use crate::reconcile;

/// What the staged guard found.
enum Guard {
    /// Nothing to check: no flag is on in a stage after the first of the
    /// flag order, so none can be out of order.
    Nothing,
    /// The fleet was not observed, and why.
    Unchecked(String),
    /// The fleet was observed: `repos` planned, these flags out of order.
    Observed {
        repos: usize,
        out_of_order: Vec<OutOfOrder>,
    },
}

/// Prints the summary, runs the staged guard, returns the exit code.
pub(super) async fn validate(
    prepared: &mut Prepared,
    g: &Global,
    strict: bool,
    out: &mut impl Write,
) -> Result<u8> {
    let files: usize = prepared.targets.iter().map(|t| t.desired.len()).sum();
    writeln!(
        out,
        "valid: {} teams, {} repos, {} files rendered ({} repos, {} files selected by filters)",
        prepared.teams,
        prepared.all_repos,
        files,
        prepared.targets.len(),
        files
    )?;
    match guard(prepared, g).await? {
        Guard::Nothing => {}
        Guard::Unchecked(why) if strict => {
            bail!("the flag order could not be checked against the fleet (--strict-flags): {why}")
        }
        Guard::Unchecked(why) => {
            writeln!(
                out,
                "note: the flag order was not checked against the fleet: {why}"
            )?;
        }
        Guard::Observed { out_of_order, .. } if strict && !out_of_order.is_empty() => {
            let lines: Vec<String> = out_of_order.iter().map(out_of_order_line).collect();
            bail!("flag out of order (--strict-flags): {}", lines.join("; "));
        }
        Guard::Observed {
            repos,
            out_of_order,
        } => {
            for o in &out_of_order {
                tracing::warn!("flag out of order: {}", out_of_order_line(o));
            }
            let verdict = match out_of_order.len() {
                0 => "in order".to_string(),
                1 => "1 flag out of order (logged as a warning)".to_string(),
                n => format!("{n} flags out of order (logged as warnings)"),
            };
            writeln!(
                out,
                "flag order: checked against the fleet ({repos} repos): {verdict}"
            )?;
        }
    }
    Ok(exit::OK)
}

/// Whether some flag is on, for some repo, in a stage of the flag order
/// after the first: only then can a flag be out of order.
fn may_be_out_of_order(prepared: &Prepared) -> bool {
    let later = &prepared.flag_order[prepared.flag_order.len().min(1)..];
    prepared.targets.iter().any(|t| {
        later.iter().any(|stage| {
            t.repo
                .stage_flags
                .get(stage)
                .is_some_and(|flags| flags.values().any(|on| *on))
        })
    })
}

/// The staged guard: observes the fleet when there is something to check
/// and a forge to check it on. A forge option that is malformed is an
/// error (as for `plan`); one that cannot be opened or observed is a note.
async fn guard(prepared: &mut Prepared, g: &Global) -> Result<Guard> {
    if !may_be_out_of_order(prepared) {
        return Ok(Guard::Nothing);
    }
    let Some(forge) = g.forge.as_deref() else {
        return Ok(Guard::Unchecked(
            "no forge given (pass --forge or set DISTRIBUTOR_FORGE to observe it)".into(),
        ));
    };
    let spec = ForgeSpec::from_cli(Some(forge), &g.github).map_err(anyhow::Error::msg)?;
    let rendered = |problems: Vec<Problem>, sep: &str| {
        let lines: Vec<String> = problems.iter().map(|p| p.render(forge_setting)).collect();
        lines.join(sep)
    };
    spec.check()
        .map_err(|p| anyhow::Error::msg(rendered(p, "\nerror: ")))?;
    let forge = match spec.open() {
        Ok(f) => f,
        Err(p) => return Ok(Guard::Unchecked(rendered(p, "; "))),
    };
    let request = reconcile::Request {
        source: crate::source::revision(&prepared.inputs),
        now: now(g)?,
        execute: false,
        diffs: false,
        diffs_up_to: None,
        force_reason: None,
        bundles: (!g.bundle.is_empty()).then(|| g.bundle.iter().cloned().collect()),
        missing_as_empty: false,
        full_fleet: g.team.is_empty() && g.repo.is_empty() && g.bundle.is_empty(),
        state_dir: state_dir(g),
        audit_log: None,
        strict_flags: None,
        rollback_only: false,
        pin: None,
    };
    let never = AtomicBool::new(false);
    let mut quiet = |_: &crate::apply::RepoReport| {};
    let hooks = reconcile::Hooks {
        stop: &never,
        on_repo: &mut quiet,
    };
    let plan = match reconcile::run(&forge, prepared, &request, hooks).await {
        Ok(outcome) => outcome.plan,
        Err(e) => return Ok(Guard::Unchecked(e.to_string())),
    };
    if plan.repos.is_empty()
        && let Some(e) = plan.errors.first()
    {
        // A forge's error text can echo a credential.
        let error = crate::redact::redact(e.error.lines().next().unwrap_or_default());
        return Ok(Guard::Unchecked(format!(
            "no repo could be observed ({}: {error})",
            e.repo
        )));
    }
    let p = &*prepared;
    let out_of_order =
        crate::flags::staged_guard(&p.targets, &plan, &p.stages, &p.flag_order, request.now);
    Ok(Guard::Observed {
        repos: plan.repos.len() + plan.errors.len(),
        out_of_order,
    })
}
