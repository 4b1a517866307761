//! One reconcile cycle: fetch the platform repository (when the config
//! names a git URL), validate and render everything, observe, plan, apply
//! (stopping between repos when asked), and record the outcome in the
//! ledger, the metrics and systemd's status line. An invalid platform
//! writes nothing; the ledger keeps the last good picture of the fleet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use octocrab::secrecy::{ExposeSecret, SecretString};

use crate::apply::{self, Options};
use crate::diag::Diagnostics;
use crate::forge::AnyForge;
use crate::prepare::{Prepared, Selection, prepare};
use crate::rollout;

use super::config::{Config, GitSource};
use super::ledger::{Cycle, Outcome};
use super::notify::Notifier;
use super::{CycleRequest, Shared};

/// What a cycle needs.
pub struct Context<'a> {
    pub config: &'a Config,
    pub state_dir: &'a Path,
    pub forge: &'a AnyForge,
    pub shared: &'a Shared,
    pub notifier: &'a Notifier,
    /// Set on shutdown: the cycle stops between two repos.
    pub stop: &'a AtomicBool,
    pub number: u64,
}

/// Runs one cycle and records it. Returns its outcome.
pub async fn run(ctx: &Context<'_>, request: &CycleRequest) -> Outcome {
    let started = Instant::now();
    let started_at = crate::time::now_secs();
    let mut cycle = Cycle {
        number: ctx.number,
        trigger: request.trigger,
        started_at,
        duration_ms: 0,
        outcome: Outcome::Ok,
        revision: None,
        error: None,
        only: request.only.clone(),
    };
    tracing::info!(cycle = ctx.number, trigger = ?request.trigger, only = ?request.only, "cycle started");
    ctx.notifier.status(&format!(
        "cycle {} running; {}",
        ctx.number,
        ctx.shared.ledger.read().expect("ledger lock").summary()
    ));

    let root = ctx.config.platform_root(ctx.state_dir);
    if let Some(git) = &ctx.config.platform.git {
        // A private platform repository on the same GitHub: lend git the
        // forge's token for this one fetch.
        let token = match ctx.forge {
            AnyForge::GitHub(g) if g.serves_git_url(&git.url) => match g.git_token().await {
                Ok(t) => Some(t),
                Err(e) => {
                    let e = format!("no token to fetch the platform repository: {e}");
                    return finish_failed(ctx, cycle, started, Outcome::Failed, "platform", e);
                }
            },
            _ => None,
        };
        if let Err(e) = fetch(git, &root, token.as_ref()).await {
            return finish_failed(ctx, cycle, started, Outcome::Failed, "platform", e);
        }
    }
    let selection = Selection {
        registry: root.join(&ctx.config.platform.registry),
        templates: root.join(&ctx.config.platform.templates),
        repos: request.only.clone(),
        ..Selection::default()
    };
    let prepared = tokio::task::spawn_blocking(move || {
        let prepared = prepare(&selection);
        prepared.map(|p| {
            let source = crate::source::revision(&p.inputs);
            (p, source)
        })
    })
    .await;
    let (prepared, source): (Prepared, _) = match prepared {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            let text = match e.downcast_ref::<Diagnostics>() {
                Some(d) => d.to_string(),
                None => format!("{e:#}"),
            };
            return finish_failed(ctx, cycle, started, Outcome::Invalid, "validation", text);
        }
        Err(e) => {
            return finish_failed(
                ctx,
                cycle,
                started,
                Outcome::Failed,
                "platform",
                e.to_string(),
            );
        }
    };
    cycle.revision = Some(source.revision.clone());
    if request.only.is_empty() {
        let mut web = ctx.shared.webhook.write().expect("webhook lock");
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

    let now = crate::time::now();
    let opts = Options {
        settings: rollout::plan_settings(&prepared.rollout, source, None, None, now),
        diffs: false,
        missing_as_empty: false,
    };
    let mut plan = apply::make_plan(ctx.forge, &prepared.targets, &opts).await;
    // The rollout policy: budgets, waves, halts, staleness, from the
    // rollout log in the state directory (it survives restarts).
    let log = rollout::Log::in_dir(ctx.state_dir);
    let state = match log.read() {
        Ok(s) => s,
        Err(e) => {
            return finish_failed(ctx, cycle, started, Outcome::Failed, "state", e);
        }
    };
    let history = crate::source::history(&prepared.inputs, 1000);
    let policy = rollout::Context {
        now,
        rollout: &prepared.rollout,
        state: &state,
        targets: &prepared.targets,
        history: &history,
        full_fleet: request.only.is_empty(),
        forced: false,
        pull_requests: crate::forge::Forge::has_pull_requests(ctx.forge),
    };
    rollout::attach(&policy, &mut plan);
    let decided = plan
        .rollout
        .as_mut()
        .map(|d| std::mem::take(&mut d.events))
        .unwrap_or_default();
    let health = &ctx.shared.health;
    let report = apply::apply_until(
        ctx.forge,
        &prepared.targets,
        plan.clone(),
        &opts,
        ctx.stop,
        |_| health.beat(),
    )
    .await;
    let revision = rollout::revision_key(&plan.source);
    let events = rollout::applied_events(decided, &report, &revision, now);
    if let Err(e) = log.append(&events, now) {
        tracing::error!(error = %e, "cannot record the cycle in the rollout log; budgets and soak times may be off after a restart");
        ctx.shared.metrics.error("state", 1);
    }
    let failed = report.failed();
    let interrupted = report.repos.len() < plan.repos.len() + plan.errors.len();
    cycle.outcome = if interrupted {
        Outcome::Interrupted
    } else if failed > 0 {
        Outcome::Partial
    } else {
        Outcome::Ok
    };
    cycle.duration_ms = started.elapsed().as_millis() as u64;
    let outcome = cycle.outcome;
    let summary = {
        let mut ledger = ctx.shared.ledger.write().expect("ledger lock");
        ledger.record(
            cycle,
            &plan,
            Some(&report),
            &wave_of,
            request.only.is_empty() && !interrupted,
        );
        ledger.summary()
    };
    ctx.shared
        .metrics
        .cycle(outcome, started.elapsed().as_secs_f64());
    ctx.shared.metrics.error("repo", failed as u64);
    tracing::info!(
        cycle = ctx.number,
        outcome = super::ledger::outcome_key(outcome),
        repos = report.repos.len(),
        failed,
        duration_ms = started.elapsed().as_millis() as u64,
        "cycle finished: {summary}"
    );
    ctx.notifier.status(&summary);
    outcome
}

/// Records a cycle that did not get to planning.
fn finish_failed(
    ctx: &Context<'_>,
    mut cycle: Cycle,
    started: Instant,
    outcome: Outcome,
    kind: &str,
    error: String,
) -> Outcome {
    cycle.outcome = outcome;
    cycle.duration_ms = started.elapsed().as_millis() as u64;
    cycle.error = Some(error.clone());
    tracing::error!(cycle = ctx.number, outcome = super::ledger::outcome_key(outcome), error = %error, "cycle wrote nothing");
    ctx.shared
        .metrics
        .cycle(outcome, started.elapsed().as_secs_f64());
    ctx.shared.metrics.error(kind, 1);
    let summary = {
        let mut ledger = ctx.shared.ledger.write().expect("ledger lock");
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
    fn credentials_in_urls_are_never_shown() {
        assert_eq!(
            redact_url("https://x-access-token:ghs_secret@github.com/acme/platform.git"),
            "https://***@github.com/acme/platform.git"
        );
        assert_eq!(redact_url("/srv/platform.git"), "/srv/platform.git");
    }
}
