//! `distributor serve`: the long-running service. One reconcile loop runs
//! cycles one at a time (fetch platform -> validate -> observe -> plan ->
//! apply), triggered by a jittered interval, a verified webhook or SIGHUP;
//! an HTTP server answers webhooks, health, metrics, status and a
//! dashboard from the same [`Shared`] state; systemd is told about
//! readiness, status, reloads, stopping and liveness.
//!
//! Dependencies come in as arguments (listener, shutdown future, reload
//! stream, notifier), as in mini-redis, so tests drive it on 127.0.0.1:0.
//!
//! # Layout
//! - [`config`] reads the YAML config file.
//! - [`ledger`] is what the fleet looks like after the last cycle.
//! - [`metrics`] renders Prometheus text.
//! - [`notify`] talks to systemd.
//! - [`http`], [`webhook`] and [`dashboard`] are the HTTP side;
//!   [`server`] accepts connections within their limits.
//! - `cycle` runs one reconcile cycle; [`run`] is the loop.

pub mod config;
mod cycle;
pub mod dashboard;
pub mod http;
pub mod ledger;
pub mod metrics;
pub mod notify;
pub mod server;
pub mod webhook;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use octocrab::secrecy::SecretString;
use tokio::sync::mpsc;

use crate::forge::github::credentials;
use crate::forge::spec::config_messages;
use crate::forge::{AnyForge, Forge};
use config::{Checked, Config};
pub use ledger::{Ledger, Trigger};
use metrics::Metrics;
use notify::Notifier;

/// A request for a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleRequest {
    pub trigger: Trigger,
    /// Only these repos (`owner/name`); empty: the whole fleet.
    pub only: Vec<String>,
}

/// What the webhook endpoint needs to know; replaced on reload.
#[derive(Debug, Clone, Default)]
pub struct WebhookSettings {
    /// `None`: webhooks are disabled (answered 404).
    pub secret: Option<SecretString>,
    /// `owner/name` of the platform repository.
    pub platform_repository: Option<String>,
    /// Pushes to this branch trigger a cycle.
    pub platform_branch: String,
    /// Largest body accepted, in bytes.
    pub body_limit: usize,
    /// Proposal branches of the registry (e.g. `distributor/sync`): pull
    /// request events for these heads refresh their repo.
    pub proposal_branches: BTreeSet<String>,
    /// Repos of the registry (`owner/name`, lower case).
    pub repos: BTreeSet<String>,
}

/// Health inputs for `/healthz` and `/readyz`.
#[derive(Debug)]
pub struct Health {
    /// A configuration has been loaded and the port bound.
    pub ready: AtomicBool,
    /// Reconcile interval, milliseconds (changes on reload).
    pub interval_ms: AtomicU64,
    /// `/readyz` fails once no cycle succeeded for this many intervals.
    pub ready_after_failed_intervals: AtomicU64,
    /// When the daemon started (the grace period before a first success).
    pub started: Instant,
    /// Last sign of life of the reconcile loop, ms since `started` (the
    /// systemd watchdog is fed only while it is fresh).
    pub heartbeat_ms: AtomicU64,
}

impl Health {
    pub fn new(interval: Duration, ready_after_failed_intervals: u32) -> Health {
        Health {
            ready: AtomicBool::new(false),
            interval_ms: AtomicU64::new(interval.as_millis() as u64),
            ready_after_failed_intervals: AtomicU64::new(u64::from(ready_after_failed_intervals)),
            started: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
        }
    }

    /// Records a sign of life of the loop.
    pub fn beat(&self) {
        self.heartbeat_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since the loop's last sign of life.
    pub fn since_beat(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.heartbeat_ms.load(Ordering::Relaxed)))
    }
}

/// State shared by the reconcile loop and the HTTP server.
pub struct Shared {
    pub ledger: RwLock<Ledger>,
    pub metrics: Metrics,
    pub health: Health,
    pub webhook: RwLock<WebhookSettings>,
    /// The forge (replaced on reload), for live API figures in `/metrics`.
    pub forge: RwLock<Arc<AnyForge>>,
    /// Cycle requests to the loop (webhooks). Unbounded: the loop
    /// coalesces them, and each is a few bytes.
    pub requests: mpsc::UnboundedSender<CycleRequest>,
}

/// A loaded configuration: parsed, checked, with its forge built and its
/// secrets read.
pub struct Loaded {
    pub config: Config,
    pub checked: Checked,
    pub forge: Arc<AnyForge>,
    pub webhook: WebhookSettings,
}

/// Reads and checks the config file and builds what it names. Must run
/// inside the tokio runtime (the GitHub client spawns a task). `previous`
/// lends its forge when the forge settings did not change, so a reload
/// keeps the write pacer's history and the App's token.
pub fn load(path: &Path, previous: Option<&Loaded>) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (config, checked) = Config::parse(&path.display().to_string(), &text)?;
    let env = credentials::Env::from_process();
    let forge =
        match previous {
            // The same spec opens the same forge: keep the one running.
            Some(p) if p.config.forge == config.forge => p.forge.clone(),
            _ => Arc::new(config.forge.open_with(&env).map_err(|problems| {
                config_messages(&problems, &format!("{}: ", path.display()))
            })?),
        };
    let secret = match &config.http.webhook_secret_file {
        None => None,
        Some(f) => Some(
            credentials::read_credential(f, "webhook secret", &env)
                .map_err(|e| format!("{}: http.webhook_secret_file: {e}", path.display()))?,
        ),
    };
    let webhook = WebhookSettings {
        secret,
        platform_repository: config.platform.repository.clone(),
        platform_branch: config.platform_branch(),
        body_limit: config.http.webhook_body_limit,
        proposal_branches: previous
            .map(|p| p.webhook.proposal_branches.clone())
            .unwrap_or_default(),
        repos: previous
            .map(|p| p.webhook.repos.clone())
            .unwrap_or_default(),
    };
    Ok(Loaded {
        config,
        checked,
        forge,
        webhook,
    })
}

/// Where the daemon keeps its state (a fetched platform clone): systemd's
/// `$STATE_DIRECTORY`, else a directory beside the config file.
pub fn state_dir(config_path: &Path) -> PathBuf {
    match std::env::var_os("STATE_DIRECTORY") {
        Some(d) => PathBuf::from(d)
            .to_str()
            .and_then(|s| s.split(':').next().map(PathBuf::from))
            .unwrap_or_default(),
        None => config_path
            .parent()
            .unwrap_or(Path::new("."))
            .join("distributor-state"),
    }
}

/// Everything `run` is given.
pub struct Deps<S> {
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
    pub loaded: Loaded,
    pub listener: tokio::net::TcpListener,
    pub notifier: Notifier,
    /// One item per SIGHUP.
    pub reloads: mpsc::UnboundedReceiver<()>,
    /// Resolves on SIGTERM / SIGINT.
    pub shutdown: S,
}

/// How often the idle loop shows a sign of life (the watchdog is fed
/// only while it does).
const BEAT: Duration = Duration::from_secs(1);

/// Runs the daemon until `shutdown` resolves: the HTTP server, the
/// watchdog, and the reconcile loop. Returns once stopped cleanly.
pub async fn run<S: Future<Output = ()> + Send + 'static>(deps: Deps<S>) -> anyhow::Result<()> {
    let Deps {
        config_path,
        state_dir,
        mut loaded,
        listener,
        notifier,
        mut reloads,
        shutdown,
    } = deps;
    let (requests_tx, mut requests) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        ledger: RwLock::new(Ledger::default()),
        metrics: Metrics::default(),
        health: Health::new(
            loaded.checked.interval,
            loaded.config.reconcile.ready_after_failed_intervals,
        ),
        webhook: RwLock::new(loaded.webhook.clone()),
        forge: RwLock::new(loaded.forge.clone()),
        requests: requests_tx,
    });
    let notifier = Arc::new(notifier);

    // HTTP.
    let addr = listener.local_addr()?;
    let (http_stop_tx, http_stop) = tokio::sync::oneshot::channel::<()>();
    let limits = loaded.checked.limits.clone();
    warn_if_descriptors_are_short(limits.max_connections);
    let server = tokio::spawn(http::serve(listener, shared.clone(), limits, async {
        let _ = http_stop.await;
    }));
    tracing::info!(addr = %addr, forge = %loaded.forge.describe(), "listening");
    shared.health.ready.store(true, Ordering::SeqCst);
    shared.health.beat();
    notifier.ready(&format!("listening on {addr}; first cycle starting"));

    // Watchdog: ping at half the interval while the loop shows life.
    let watchdog = notifier.watchdog().map(|every| {
        let shared = shared.clone();
        let notifier = notifier.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every / 2);
            loop {
                tick.tick().await;
                if shared.health.since_beat() < every {
                    notifier.watchdog_ping();
                } else {
                    tracing::error!(
                        since_ms = shared.health.since_beat().as_millis() as u64,
                        "reconcile loop shows no sign of life; not feeding the watchdog"
                    );
                }
            }
        })
    });

    let stop = Arc::new(AtomicBool::new(false));
    let stop_notify = Arc::new(tokio::sync::Notify::new());
    {
        let stop = stop.clone();
        let stop_notify = stop_notify.clone();
        let shutdown = Box::pin(shutdown);
        tokio::spawn(async move {
            shutdown.await;
            stop.store(true, Ordering::SeqCst);
            stop_notify.notify_waiters();
            stop_notify.notify_one();
        });
    }

    let mut number = 0u64;
    let mut pending: Option<CycleRequest> = Some(CycleRequest {
        trigger: Trigger::Startup,
        only: Vec::new(),
    });
    let mut next_at = tokio::time::Instant::now();
    loop {
        shared.health.beat();
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let request = match pending.take() {
            Some(r) => r,
            None => {
                tokio::select! {
                    _ = stop_notify.notified() => break,
                    _ = tokio::time::sleep(BEAT) => continue,
                    Some(()) = reloads.recv() => {
                        reload(&config_path, &mut loaded, &shared, &notifier);
                        CycleRequest { trigger: Trigger::Reload, only: Vec::new() }
                    }
                    Some(r) = requests.recv() => r,
                    _ = tokio::time::sleep_until(next_at) => CycleRequest { trigger: Trigger::Interval, only: Vec::new() },
                }
            }
        };
        let request = coalesce(request, &mut requests);
        number += 1;
        // Set by a shutdown or a reload: the cycle stops between repos.
        let cycle_stop = Arc::new(AtomicBool::new(stop.load(Ordering::SeqCst)));
        let mut reload_requested = false;
        let finished = {
            let ctx = cycle::Context {
                config: loaded.config.clone(),
                state_dir: state_dir.clone(),
                forge: loaded.forge.clone(),
                shared: shared.clone(),
                notifier: notifier.clone(),
                stop: cycle_stop.clone(),
                number,
            };
            let (entry, started) = cycle::start(number, &request);
            // Its own task: a panic in the cycle fails the cycle, and the
            // loop keeps hearing signals while the cycle works.
            let mut task = tokio::spawn(cycle::run(ctx, request.clone()));
            let stop_timeout = loaded.checked.stop_timeout;
            let mut deadline: Option<tokio::time::Instant> = None;
            loop {
                tokio::select! {
                    joined = &mut task => {
                        if let Err(e) = joined {
                            let message = panic_message(e);
                            cycle::record_panic(&shared, &notifier, entry, started, &message);
                        }
                        break true;
                    }
                    _ = tokio::time::sleep(BEAT) => shared.health.beat(),
                    _ = stop_notify.notified(), if deadline.is_none() => {
                        cycle_stop.store(true, Ordering::SeqCst);
                        tracing::info!(timeout_s = stop_timeout.as_secs(), "stopping: finishing the repo in flight");
                        notifier.status("stopping: finishing the repo in flight");
                        deadline = Some(tokio::time::Instant::now() + stop_timeout);
                    }
                    // A reload does not wait for a long (paced) cycle: the
                    // cycle stops after the repo in flight, then the new
                    // configuration runs a cycle of its own.
                    Some(()) = reloads.recv(), if !reload_requested => {
                        cycle_stop.store(true, Ordering::SeqCst);
                        reload_requested = true;
                        tracing::info!("SIGHUP during a cycle: stopping it after the repo in flight to reload");
                    }
                    _ = sleep_until_some(deadline) => {
                        task.abort();
                        break false;
                    }
                }
            }
        };
        if !finished {
            tracing::warn!(
                "stop timeout reached: abandoning the cycle; the next run completes what is left"
            );
            break;
        }
        if request.only.is_empty() {
            let jitter = loaded.checked.jitter.mul_f64(fastrand::f64());
            next_at = tokio::time::Instant::now() + loaded.checked.interval + jitter;
        }
        if reload_requested && !stop.load(Ordering::SeqCst) {
            reload(&config_path, &mut loaded, &shared, &notifier);
            pending = Some(CycleRequest {
                trigger: Trigger::Reload,
                only: Vec::new(),
            });
        }
    }

    notifier.stopping();
    tracing::info!("stopped");
    if let Some(w) = watchdog {
        w.abort();
    }
    let _ = http_stop_tx.send(());
    let _ = server.await;
    Ok(())
}

/// Reloads the configuration: on success the new one replaces the old
/// (webhook settings, forge, interval); on failure the old one keeps
/// running and the error is reported in `/status`, `/metrics` and the log.
/// systemd hears RELOADING before and READY after.
fn reload(config_path: &Path, loaded: &mut Loaded, shared: &Shared, notifier: &Notifier) {
    notifier.reloading();
    match load(config_path, Some(loaded)) {
        Ok(new) => {
            tracing::info!("configuration reloaded");
            *shared
                .webhook
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = new.webhook.clone();
            *shared
                .forge
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = new.forge.clone();
            shared
                .health
                .interval_ms
                .store(new.checked.interval.as_millis() as u64, Ordering::Relaxed);
            shared
                .ledger
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .config_error = None;
            *loaded = new;
        }
        Err(e) => {
            tracing::error!(error = %e, "reload failed; the previous configuration keeps running");
            shared.metrics.error("config", 1);
            shared
                .ledger
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .config_error = Some(crate::redact::redact(&e).into_owned());
        }
    }
    notifier.ready(
        &shared
            .ledger
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .summary(),
    );
}

/// Warns at start when the descriptor limit leaves cycles too few
/// descriptors beside `max_connections` HTTP connections.
fn warn_if_descriptors_are_short(max_connections: usize) {
    let Ok(text) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    if let Some(problem) = server::descriptor_shortage(&text, max_connections) {
        tracing::warn!("{problem}");
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// What a cycle task's panic said (or that it was cancelled).
fn panic_message(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "the cycle was cancelled".into();
    }
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Merges the requests waiting behind `first`: any whole-fleet request
/// makes a whole-fleet cycle; otherwise the repos are united.
fn coalesce(first: CycleRequest, rest: &mut mpsc::UnboundedReceiver<CycleRequest>) -> CycleRequest {
    let mut merged = first;
    while let Ok(next) = rest.try_recv() {
        if merged.only.is_empty() || next.only.is_empty() {
            if !merged.only.is_empty() {
                merged.trigger = next.trigger;
            }
            merged.only.clear();
        } else {
            for r in next.only {
                if !merged.only.contains(&r) {
                    merged.only.push(r);
                }
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests;
