//! The daemon's configuration file (`serve --config FILE`, YAML): where the
//! platform repository is, which forge and credentials, how often to
//! reconcile, where to listen, and the write limits. Parsing is strict
//! (unknown keys and duplicate keys are errors, with their location) and
//! pure: [`Config::parse`] takes text and returns a value; secrets are read
//! later, from the files the config names. Every key is documented in
//! `docs/config.md`; `systemd/config.example.yaml` is a complete example.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::server::Limits;
use crate::forge::ForgeSpec;
use crate::forge::github::limits::parse_duration;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub platform: Platform,
    /// The forge, checked and opened by [`ForgeSpec`] (as `--forge` is).
    pub forge: ForgeSpec,
    #[serde(default)]
    pub reconcile: Reconcile,
    #[serde(default)]
    pub http: Http,
    #[serde(default)]
    pub log: Log,
}

/// Where the platform repository (registry and templates) is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// A local checkout, read as it is before each cycle.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Or a git repository the daemon fetches itself before each cycle.
    #[serde(default)]
    pub git: Option<GitSource>,
    /// The registry, relative to the platform root.
    #[serde(default = "default_registry")]
    pub registry: PathBuf,
    /// The templates directory, relative to the platform root.
    #[serde(default = "default_templates")]
    pub templates: PathBuf,
    /// `owner/name` of the platform repository on GitHub: `push` webhooks
    /// for it (on `branch`) trigger a cycle.
    #[serde(default)]
    pub repository: Option<String>,
    /// The branch whose pushes trigger a cycle (with `path`; with `git`
    /// it is `git.branch`). Default `main`.
    #[serde(default)]
    pub branch: Option<String>,
}

/// A platform repository fetched with git.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSource {
    /// Anything `git fetch` accepts (https, ssh, a path).
    pub url: String,
    /// The branch to check out.
    #[serde(default = "default_branch")]
    pub branch: String,
}

/// When cycles run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconcile {
    /// Time between the end of a cycle and the start of the next.
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Up to this much is added at random to each interval, so many
    /// daemons (or restarts) do not hit GitHub in step.
    #[serde(default = "default_jitter")]
    pub jitter: String,
    /// On SIGTERM, how long the in-flight cycle may take to reach a safe
    /// point. Keep it below systemd's `TimeoutStopSec`.
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout: String,
    /// `/readyz` fails once no cycle has succeeded for this many intervals.
    #[serde(default = "default_ready_intervals")]
    pub ready_after_failed_intervals: u32,
}

impl Default for Reconcile {
    fn default() -> Self {
        Reconcile {
            interval: default_interval(),
            jitter: default_jitter(),
            stop_timeout: default_stop_timeout(),
            ready_after_failed_intervals: default_ready_intervals(),
        }
    }
}

/// The HTTP server (webhooks, health, metrics, status, dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// Address to bind; loopback by default (put a reverse proxy in front
    /// to receive GitHub's webhooks).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// File holding the webhook secret; without it `/webhook` is disabled.
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
    /// Largest webhook body accepted, in bytes (GitHub caps payloads at
    /// 25 MB; push events of a platform repo are far smaller).
    #[serde(default = "default_body_limit")]
    pub webhook_body_limit: usize,
    /// A connection that has not sent a request's headers this long after
    /// opening (or after its previous response) is closed.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: String,
    /// Open connections at most; at the cap the oldest idle one is closed
    /// to make room. Keep it well below the descriptor limit.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            listen: default_listen(),
            webhook_secret_file: None,
            webhook_body_limit: default_body_limit(),
            header_read_timeout: default_header_read_timeout(),
            max_connections: default_max_connections(),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    /// `text` or `json` (journald-friendly either way: one event per line).
    #[serde(default)]
    pub format: LogFormat,
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

fn default_registry() -> PathBuf {
    "registry.json".into()
}
fn default_templates() -> PathBuf {
    "templates".into()
}
fn default_branch() -> String {
    "main".into()
}
fn default_interval() -> String {
    "10m".into()
}
fn default_jitter() -> String {
    "1m".into()
}
fn default_stop_timeout() -> String {
    "60s".into()
}
fn default_ready_intervals() -> u32 {
    3
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_body_limit() -> usize {
    1024 * 1024
}
fn default_header_read_timeout() -> String {
    "5s".into()
}
fn default_max_connections() -> usize {
    Limits::default().max_connections
}

/// The durations and addresses of a config, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub interval: Duration,
    pub jitter: Duration,
    pub stop_timeout: Duration,
    pub listen: SocketAddr,
    /// The HTTP server's limits (`http.header_read_timeout`,
    /// `http.max_connections`; the rest are fixed).
    pub limits: Limits,
}

impl Config {
    /// Parses and checks a config file's text. `name` is used in errors.
    /// Every problem is reported, with where it is.
    pub fn parse(name: &str, text: &str) -> Result<(Config, Checked), String> {
        let config: Config =
            serde_saphyr::from_str_with_options(text, crate::render::bundle::yaml_options())
                .map_err(|e| format!("{name}: {e}"))?;
        let checked = config
            .check()
            .map_err(|problems| format!("{name}: {}", problems.join(&format!("\n{name}: "))))?;
        Ok((config, checked))
    }

    /// The branch whose pushes trigger a cycle.
    pub fn platform_branch(&self) -> String {
        match (&self.platform.git, &self.platform.branch) {
            (Some(g), _) => g.branch.clone(),
            (None, Some(b)) => b.clone(),
            (None, None) => default_branch(),
        }
    }

    fn check(&self) -> Result<Checked, Vec<String>> {
        let mut problems = Vec::new();
        // A value that does not parse is reported once, and not checked
        // further (`None`).
        let mut duration = |key: &str, text: &str| match parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push(format!("{key}: {e}"));
                None
            }
        };
        let interval = duration("reconcile.interval", &self.reconcile.interval);
        let jitter = duration("reconcile.jitter", &self.reconcile.jitter).unwrap_or_default();
        let stop_timeout = duration("reconcile.stop_timeout", &self.reconcile.stop_timeout);
        let header_read_timeout =
            duration("http.header_read_timeout", &self.http.header_read_timeout);
        if interval.is_some_and(|i| i < Duration::from_secs(1)) {
            problems.push(format!(
                "reconcile.interval: `{}` is too short (at least 1s)",
                self.reconcile.interval
            ));
        }
        if stop_timeout.is_some_and(|t| t < Duration::from_secs(1)) {
            problems.push(format!(
                "reconcile.stop_timeout: `{}` is too short (at least 1s, to finish the repo in flight)",
                self.reconcile.stop_timeout
            ));
        }
        if self.http.webhook_body_limit == 0 {
            problems.push("http.webhook_body_limit: must be more than 0 bytes".into());
        }
        if header_read_timeout.is_some_and(|t| t < Duration::from_secs(1)) {
            problems.push(format!(
                "http.header_read_timeout: `{}` is too short (at least 1s)",
                self.http.header_read_timeout
            ));
        }
        if self.http.max_connections < 16 {
            problems.push(format!(
                "http.max_connections: {} is too few (at least 16: health checks, metrics and webhooks share them)",
                self.http.max_connections
            ));
        }
        if let (Some(g), Some(b)) = (&self.platform.git, &self.platform.branch)
            && *b != g.branch
        {
            problems.push(format!(
                "platform.branch: `{b}` differs from platform.git.branch `{}`; with `git`, leave `branch` out",
                g.branch
            ));
        }
        let listen = match self.http.listen.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                problems.push(format!(
                    "http.listen: `{}` is not an address, e.g. 127.0.0.1:8080",
                    self.http.listen
                ));
                SocketAddr::from(([127, 0, 0, 1], 0))
            }
        };
        match (&self.platform.path, &self.platform.git) {
            (Some(_), Some(_)) => {
                problems.push("platform: give either `path` or `git`, not both".into())
            }
            (None, None) => problems
                .push("platform: give `path` (a local checkout) or `git` (url and branch)".into()),
            _ => {}
        }
        if let Some(r) = &self.platform.repository
            && !matches!(r.split_once('/'), Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/'))
        {
            problems.push(format!("platform.repository: `{r}` is not `owner/name`"));
        }
        if let Err(forge) = self.forge.check() {
            problems.extend(forge.iter().map(|p| p.config_message()));
        }
        if problems.is_empty() {
            Ok(Checked {
                interval: interval.unwrap_or_default(),
                jitter,
                stop_timeout: stop_timeout.unwrap_or_default(),
                listen,
                limits: Limits {
                    header_read_timeout: header_read_timeout.unwrap_or_default(),
                    max_connections: self.http.max_connections,
                    ..Limits::default()
                },
            })
        } else {
            Err(problems)
        }
    }

    /// The platform root: the configured checkout, or where the daemon
    /// keeps its fetched clone under `state_dir`.
    pub fn platform_root(&self, state_dir: &Path) -> PathBuf {
        match (&self.platform.path, &self.platform.git) {
            (Some(p), _) => p.clone(),
            _ => state_dir.join("platform"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "platform:\n  path: /srv/platform\nforge:\n  github:\n    token_file: github-token\n";

    #[test]
    fn a_minimal_config_gets_the_documented_defaults() {
        let (c, checked) = Config::parse("config.yaml", MINIMAL).unwrap();
        assert_eq!(c.platform.registry, PathBuf::from("registry.json"));
        assert_eq!(checked.interval, Duration::from_secs(600));
        assert_eq!(checked.jitter, Duration::from_secs(60));
        assert_eq!(checked.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(checked.limits.header_read_timeout, Duration::from_secs(5));
        assert_eq!(checked.limits.max_connections, 256);
        let ForgeSpec::GitHub(g) = &c.forge else {
            panic!("github")
        };
        let pacing = g.pacing().unwrap();
        assert_eq!(pacing.quotas.len(), 2);
        assert_eq!(pacing.spacing, Duration::from_secs(1));
        assert_eq!(g.api_url, "https://api.github.com");
        assert_eq!(g.batch_size, 50);
        assert_eq!(g.max_in_flight, 8);
        assert_eq!(g.write_quotas, ["60/1m", "450/1h"]);
    }

    #[test]
    fn unknown_and_duplicate_keys_are_refused_with_their_place() {
        let e = Config::parse("c.yaml", &format!("{MINIMAL}reconcile:\n  intervall: 5m\n"))
            .unwrap_err();
        assert!(e.contains("c.yaml") && e.contains("intervall"), "{e}");
        let e = Config::parse(
            "c.yaml",
            &format!("{MINIMAL}http:\n  listen: a\n  listen: b\n"),
        )
        .unwrap_err();
        assert!(
            e.contains("listen") && e.to_lowercase().contains("duplicate"),
            "{e}"
        );
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let text = "platform:\n  path: /p\n  git: { url: x }\n  repository: acme//platform\n  branch: dev\nforge:\n  github:\n    write_quotas: [\"fast\"]\n    batch_size: 0\nreconcile:\n  interval: 1.5m\n  stop_timeout: 0s\nhttp:\n  listen: everywhere\n  webhook_body_limit: 0\n  header_read_timeout: 0s\n  max_connections: 3\n";
        let e = Config::parse("c.yaml", text).unwrap_err();
        for want in [
            "platform: give either",
            "platform.repository",
            "forge.github.write_quotas",
            "forge.github.batch_size",
            "reconcile.interval",
            "reconcile.stop_timeout",
            "http.listen",
            "http.webhook_body_limit",
            "http.header_read_timeout: `0s` is too short",
            "http.max_connections: 3 is too few",
            "platform.branch",
        ] {
            assert!(e.contains(want), "missing {want}: {e}");
        }
        // A duration that does not parse is reported once.
        assert_eq!(e.matches("reconcile.interval").count(), 1, "{e}");
        let e = Config::parse("c.yaml", &format!("{MINIMAL}    write_quotas: []\n")).unwrap_err();
        assert!(e.contains("at least one quota"), "{e}");
    }

    #[test]
    fn a_local_forge_and_a_git_platform_parse() {
        let text = "platform:\n  git:\n    url: https://github.com/acme/platform.git\n    branch: trunk\n  repository: acme/platform\nforge:\n  local:\n    root: /srv/repos\n";
        let (c, _) = Config::parse("c.yaml", text).unwrap();
        assert_eq!(
            c.forge,
            ForgeSpec::Local {
                root: "/srv/repos".into()
            }
        );
        assert_eq!(
            c.platform_root(Path::new("/var/lib/distributor")),
            PathBuf::from("/var/lib/distributor/platform")
        );
    }
}
