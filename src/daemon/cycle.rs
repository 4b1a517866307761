//! One reconcile cycle: fetch the platform repository (when the config
//! names a git URL), validate and render everything, observe, plan, apply
//! (stopping between repos when asked), and record the outcome in the
//! ledger, the metrics and systemd's status line. An invalid platform
//! writes nothing; the ledger keeps the last good picture of the fleet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use octocrab::secrecy::{ExposeSecret, SecretString};

use crate::diag::Diagnostics;
use crate::forge::{AnyForge, Forge};
use crate::prepare::Selection;
use crate::reconcile::{self, Hooks, Request};

use super::config::{Config, GitSource};
use super::ledger::{Cycle, Outcome};
use super::notify::Notifier;
use super::{CycleRequest, Shared};

/// What a cycle needs; owned, so the cycle runs in a task of its own (a
/// panic in it fails the cycle, not the service).
pub struct Context {
    pub config: Config,
    pub state_dir: PathBuf,
    pub forge: Arc<AnyForge>,
    pub shared: Arc<Shared>,
    pub notifier: Arc<Notifier>,
    /// Set on shutdown or reload: the cycle stops between two repos.
    pub stop: Arc<AtomicBool>,
    pub number: u64,
}

/// The ledger entry of a cycle starting now.
pub fn start(number: u64, request: &CycleRequest) -> (Cycle, Instant) {
    (
        Cycle {
            number,
            trigger: request.trigger,
            started_at: crate::time::now_secs(),
            duration_ms: 0,
            outcome: Outcome::Ok,
            revision: None,
            error: None,
            only: request.only.clone(),
        },
        Instant::now(),
    )
}

/// Runs one cycle and records it. Returns its outcome.
pub async fn run(ctx: Context, request: CycleRequest) -> Outcome {
    let ctx = &ctx;
    let (mut cycle, started) = start(ctx.number, &request);
    tracing::info!(cycle = ctx.number, trigger = ?request.trigger, only = ?request.only, "cycle started");
    ctx.notifier.status(&format!(
        "cycle {} running; {}",
        ctx.number,
        ctx.shared
            .ledger
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .summary()
    ));

    let root = ctx.config.platform_root(&ctx.state_dir);
    if let Some(git) = &ctx.config.platform.git {
        // A private platform repository on the same forge: lend git the
        // forge's token for this one fetch.
        let token = match ctx.forge.git_credentials(&git.url).await {
            Ok(t) => t,
            Err(e) => {
                let e = format!("no token to fetch the platform repository: {e}");
                return finish_failed(ctx, cycle, started, Outcome::Failed, "platform", e);
            }
        };
        if let Err(e) = fetch(git, &root, token.as_ref()).await {
            return finish_failed(ctx, cycle, started, Outcome::Failed, "platform", e);
        }
    }
    // A rollback's pin holds every cycle to its revision until an unpin.
    let pin = match reconcile::pin_in(&ctx.state_dir) {
        Ok(p) => p,
        Err(e) => return finish_failed(ctx, cycle, started, Outcome::Failed, "state", e),
    };
    if let Some(pin) = &pin {
        tracing::info!(
            cycle = ctx.number,
            "the fleet is {}",
            crate::rollout::pin::describe(pin)
        );
    }
    let selection = Selection {
        registry: root.join(&ctx.config.platform.registry),
        templates: root.join(&ctx.config.platform.templates),
        repos: request.only.clone(),
        source_rev_origin: pin
            .as_ref()
            .map(|p| crate::rollout::pin::origin(&p.revision)),
        source_rev: pin.map(|p| p.revision),
        ..Selection::default()
    };
    let (mut prepared, source) = match reconcile::prepare_blocking(selection).await {
        Ok(p) => p,
        Err(e) => {
            let (outcome, kind, text) = prepare_failure(&e);
            return finish_failed(ctx, cycle, started, outcome, kind, text);
        }
    };
    cycle.revision = Some(source.revision.clone());
    if request.only.is_empty() {
        let mut web = ctx
            .shared
            .webhook
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        web.repos = prepared
            .targets
            .iter()
            .map(|t| t.id().to_string().to_lowercase())
            .collect();
        web.proposal_branches = prepared
            .targets
            .iter()
            .map(|t| t.repo.proposal_branch.clone())
            .collect();
    }
    let wave_of: BTreeMap<String, Option<String>> = prepared
        .targets
        .iter()
        .map(|t| (t.id().to_string(), t.repo.wave.clone()))
        .collect();

    let run_request = Request {
        source,
        now: crate::time::now(),
        execute: true,
        diffs: false,
        diffs_up_to: None,
        force_reason: None,
        bundles: None,
        missing_as_empty: false,
        full_fleet: request.only.is_empty(),
        state_dir: Some(ctx.state_dir.clone()),
        audit_log: None,
        strict_flags: None,
        rollback_only: false,
        pin: None,
    };
    let health = ctx.shared.clone();
    let mut beat = move |_: &crate::apply::RepoReport| health.health.beat();
    let hooks = Hooks {
        stop: &ctx.stop,
        on_repo: &mut beat,
    };
    let outcome = match reconcile::run(ctx.forge.as_ref(), &mut prepared, &run_request, hooks).await
    {
        Ok(o) => o,
        Err(e) => {
            return finish_failed(ctx, cycle, started, Outcome::Failed, "state", e.to_string());
        }
    };
    if outcome.recorded.log_error.is_some() {
        ctx.shared.metrics.error("state", 1);
    }
    let report = outcome.report.as_ref();
    let failed = report.map_or(0, |r| r.failed());
    let interrupted = outcome.interrupted();
    cycle.outcome = if interrupted {
        Outcome::Interrupted
    } else if failed > 0 {
        Outcome::Partial
    } else {
        Outcome::Ok
    };
    cycle.duration_ms = started.elapsed().as_millis() as u64;
    let result = cycle.outcome;
    let covered_fleet = request.only.is_empty() && !interrupted;
    let flags = covered_fleet.then(|| {
        crate::flags::report_applied(
            &prepared.targets,
            &outcome.plan,
            report,
            &[],
            &prepared.stages,
            run_request.now,
            &|e: &str| crate::output::record::advice(e, crate::output::record::Reader::Daemon),
        )
    });
    let summary = {
        let mut ledger = ctx
            .shared
            .ledger
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ledger.record(cycle, &outcome.plan, report, &wave_of, covered_fleet);
        if flags.is_some() {
            ledger.flags = flags;
        }
        ledger.summary()
    };
    ctx.shared
        .metrics
        .cycle(result, started.elapsed().as_secs_f64());
    ctx.shared.metrics.error("repo", failed as u64);
    tracing::info!(
        cycle = ctx.number,
        outcome = super::ledger::outcome_key(result),
        repos = report.map_or(0, |r| r.repos.len()),
        failed,
        duration_ms = started.elapsed().as_millis() as u64,
        "cycle finished: {summary}"
    );
    ctx.notifier.status(&summary);
    result
}

/// Records a cycle whose task panicked: the cycle failed, the service goes
/// on. The panic message is kept in the ledger, the log and the metrics.
pub fn record_panic(
    shared: &Shared,
    notifier: &Notifier,
    mut cycle: Cycle,
    started: Instant,
    message: &str,
) {
    cycle.outcome = Outcome::Failed;
    cycle.duration_ms = started.elapsed().as_millis() as u64;
    cycle.error =
        Some(crate::redact::redact(&format!("internal error (panic): {message}")).into_owned());
    tracing::error!(cycle = cycle.number, panic = %message, "cycle panicked; the service keeps running and the next cycle starts afresh");
    shared
        .metrics
        .cycle(Outcome::Failed, started.elapsed().as_secs_f64());
    shared.metrics.error("panic", 1);
    let summary = {
        let mut ledger = shared
            .ledger
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ledger.record_failure(cycle);
        ledger.summary()
    };
    notifier.status(&summary);
}

/// How a cycle whose inputs could not be prepared is recorded: outcome,
/// error kind for the metrics, and message.
///
/// `invalid` (a bad registry or templates; fix the platform) only for a
/// problem of the input itself: validation problems, a missing file, bytes
/// that are not text. An operating system error while reading them (out
/// of file descriptors or memory, an I/O error, a permission) says nothing
/// about the registry: the cycle `failed`, and the next one retries. So
/// does a panic while preparing.
fn prepare_failure(e: &anyhow::Error) -> (Outcome, &'static str, String) {
    use std::io::ErrorKind;
    if let Some(d) = e.downcast_ref::<Diagnostics>() {
        return (Outcome::Invalid, "validation", d.to_string());
    }
    let text = format!("{e:#}");
    for cause in e.chain() {
        if cause.is::<tokio::task::JoinError>() {
            return (Outcome::Failed, "platform", text);
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                ErrorKind::NotFound
                | ErrorKind::InvalidData
                | ErrorKind::NotADirectory
                | ErrorKind::IsADirectory => (Outcome::Invalid, "validation", text),
                _ => match io.raw_os_error() {
                    // EMFILE, ENFILE.
                    Some(24 | 23) => (
                        Outcome::Failed,
                        "platform",
                        format!(
                            "{text} (out of file descriptors: raise LimitNOFILE or lower http.max_connections)"
                        ),
                    ),
                    _ => (Outcome::Failed, "platform", text),
                },
            };
        }
    }
    (Outcome::Invalid, "validation", text)
}

/// Records a cycle that did not get to planning.
fn finish_failed(
    ctx: &Context,
    mut cycle: Cycle,
    started: Instant,
    outcome: Outcome,
    kind: &str,
    error: String,
) -> Outcome {
    cycle.outcome = outcome;
    cycle.duration_ms = started.elapsed().as_millis() as u64;
    cycle.error = Some(crate::redact::redact(&error).into_owned());
    tracing::error!(cycle = ctx.number, outcome = super::ledger::outcome_key(outcome), error = %error, "cycle wrote nothing");
    ctx.shared
        .metrics
        .cycle(outcome, started.elapsed().as_secs_f64());
    ctx.shared.metrics.error(kind, 1);
    let summary = {
        let mut ledger = ctx
            .shared
            .ledger
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ledger.record_failure(cycle);
        ledger.summary()
    };
    ctx.notifier.status(&summary);
    outcome
}

/// Platform commits fetched: enough history to say how many revisions
/// behind a repo is (`status`), small enough for a quick fetch.
const HISTORY_DEPTH: &str = "200";

/// Brings the platform clone at `dir` to the tip of the configured branch
/// (shallow; `git` does the network part, gix has no fetch here).
async fn fetch(git: &GitSource, dir: &Path, token: Option<&SecretString>) -> Result<(), String> {
    let auth = token.map(auth_header);
    let run = |args: Vec<String>, cwd: Option<PathBuf>| {
        let auth = auth.clone();
        async move {
            let mut c = tokio::process::Command::new("git");
            if let Some(d) = &cwd {
                c.arg("-C").arg(d);
            }
            c.args(&args)
                .env("GIT_TERMINAL_PROMPT", "0")
                .stdin(std::process::Stdio::null());
            // The header goes through git's environment config, never the
            // command line (visible in `ps`) nor the clone's config on disk.
            if let Some(header) = &auth {
                c.env("GIT_CONFIG_COUNT", "1")
                    .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                    .env("GIT_CONFIG_VALUE_0", header.expose_secret());
            }
            let out = c
                .output()
                .await
                .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "git {} failed: {}",
                    args.first().map(String::as_str).unwrap_or_default(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        }
    };
    if !dir.join(".git").exists() {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        return run(
            vec![
                "clone".into(),
                "--quiet".into(),
                "--depth".into(),
                HISTORY_DEPTH.into(),
                "--single-branch".into(),
                "--branch".into(),
                git.branch.clone(),
                "--".into(),
                git.url.clone(),
                dir.display().to_string(),
            ],
            None,
        )
        .await
        .map_err(|e| {
            format!(
                "fetching the platform repository {}: {e}",
                redact_url(&git.url)
            )
        });
    }
    let here = Some(dir.to_path_buf());
    run(
        vec![
            "fetch".into(),
            "--quiet".into(),
            "--depth".into(),
            HISTORY_DEPTH.into(),
            "origin".into(),
            git.branch.clone(),
        ],
        here.clone(),
    )
    .await
    .map_err(|e| {
        format!(
            "fetching the platform repository {}: {e}",
            redact_url(&git.url)
        )
    })?;
    run(
        vec![
            "reset".into(),
            "--quiet".into(),
            "--hard".into(),
            "FETCH_HEAD".into(),
        ],
        here.clone(),
    )
    .await?;
    run(vec!["clean".into(), "-fdxq".into()], here).await
}

/// The HTTP header GitHub accepts for git over HTTPS with a token.
fn auth_header(token: &SecretString) -> SecretString {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("x-access-token:{}", token.expose_secret()));
    SecretString::from(format!("Authorization: Basic {basic}"))
}

/// A URL without any `user:password@` part, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_git_auth_header_is_basic_with_the_token() {
        let h = auth_header(&SecretString::from("ghs_abc".to_string()));
        // base64("x-access-token:ghs_abc")
        assert_eq!(
            h.expose_secret(),
            "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hzX2FiYw=="
        );
    }

    #[test]
    fn running_out_of_descriptors_fails_the_cycle_and_is_not_an_invalid_registry() {
        use anyhow::Context as _;
        let read = |e: std::io::Error| -> anyhow::Error {
            Err::<(), _>(e)
                .context("cannot read registry /srv/platform/registry.json")
                .unwrap_err()
        };
        let emfile = read(std::io::Error::from_raw_os_error(24));
        let (outcome, kind, text) = prepare_failure(&emfile);
        assert_eq!((outcome, kind), (Outcome::Failed, "platform"));
        assert!(
            text.starts_with("cannot read registry /srv/platform/registry.json: Too many open files (os error 24) (out of file descriptors: raise LimitNOFILE"),
            "{text}"
        );
        for errno in [23, 12, 5, 13] {
            // ENFILE, ENOMEM, EIO, EACCES.
            let e = read(std::io::Error::from_raw_os_error(errno));
            assert_eq!(prepare_failure(&e).0, Outcome::Failed, "errno {errno}");
        }
        // Problems of the input stay invalid.
        for kind in [
            std::io::ErrorKind::NotFound,
            std::io::ErrorKind::InvalidData,
        ] {
            let e = read(std::io::Error::from(kind));
            assert_eq!(prepare_failure(&e).0, Outcome::Invalid, "{kind:?}");
        }
        let bail = anyhow::anyhow!("templates directory /t does not exist or is not a directory");
        assert_eq!(prepare_failure(&bail).0, Outcome::Invalid);
        let mut d = Diagnostics::default();
        d.push("registry.json:1:1", "malformed JSON");
        let (outcome, kind, text) = prepare_failure(&anyhow::Error::from(d));
        assert_eq!((outcome, kind), (Outcome::Invalid, "validation"));
        assert!(text.contains("registry.json:1:1: malformed JSON"), "{text}");
    }

    #[test]
    fn credentials_in_urls_are_never_shown() {
        assert_eq!(
            redact_url("https://x-access-token:ghs_secret@github.com/acme/platform.git"),
            "https://***@github.com/acme/platform.git"
        );
        assert_eq!(redact_url("/srv/platform.git"), "/srv/platform.git");
    }
}
