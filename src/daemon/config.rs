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

use crate::forge::github::limits::{WriteQuota, parse_duration};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub platform: Platform,
    pub forge: ForgeConfig,
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

/// The forge: GitHub or local bare repositories (demos, tests).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ForgeConfig {
    Github(Box<GitHubSettings>),
    Local { root: PathBuf },
}

/// GitHub settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubSettings {
    /// REST API base: `https://api.github.com`, or `https://HOST/api/v3`.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// File holding a token. A bare name is looked up in
    /// `$CREDENTIALS_DIRECTORY` first (systemd `LoadCredential=`).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// A GitHub App instead of a token.
    #[serde(default)]
    pub app: Option<AppSettings>,
    /// `graphql` (createCommitOnBranch) or `rest` (Git Data API).
    #[serde(default)]
    pub writes: Writes,
    /// Content-creating request quotas, `COUNT/DURATION`.
    #[serde(default = "default_quotas")]
    pub write_quotas: Vec<String>,
    /// Minimum time between two content-creating requests.
    #[serde(default = "default_spacing")]
    pub write_spacing: String,
    /// Repositories per observation query (1 to 100).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Requests in flight at once (1 to 90).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
}

/// GitHub App credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    pub id: u64,
    /// The private key (PEM); a bare name is looked up in
    /// `$CREDENTIALS_DIRECTORY` first.
    pub key_file: PathBuf,
    pub installation_id: u64,
}

/// How commits are written on GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Writes {
    #[default]
    Graphql,
    Rest,
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
}

impl Default for Http {
    fn default() -> Self {
        Http {
            listen: default_listen(),
            webhook_secret_file: None,
            webhook_body_limit: default_body_limit(),
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
fn default_api_url() -> String {
    "https://api.github.com".into()
}
fn default_quotas() -> Vec<String> {
    vec!["60/1m".into(), "450/1h".into()]
}
fn default_spacing() -> String {
    "1s".into()
}
fn default_batch() -> usize {
    50
}
fn default_in_flight() -> usize {
    8
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

/// The durations and addresses of a config, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub interval: Duration,
    pub jitter: Duration,
    pub stop_timeout: Duration,
    pub listen: SocketAddr,
    pub quotas: Vec<WriteQuota>,
    pub spacing: Duration,
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
        let (quotas, spacing) = match &self.forge {
            ForgeConfig::Github(g) => {
                let spacing =
                    duration("forge.github.write_spacing", &g.write_spacing).unwrap_or_default();
                let quotas = g
                    .write_quotas
                    .iter()
                    .filter_map(|q| match WriteQuota::parse(q) {
                        Ok(q) => Some(q),
                        Err(e) => {
                            problems.push(format!("forge.github.write_quotas: {e}"));
                            None
                        }
                    })
                    .collect();
                (quotas, spacing)
            }
            ForgeConfig::Local { .. } => (Vec::new(), Duration::ZERO),
        };
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
        if let ForgeConfig::Github(g) = &self.forge {
            if g.write_quotas.is_empty() {
                problems.push(
                    "forge.github.write_quotas: give at least one quota, e.g. [\"60/1m\", \"450/1h\"]"
                        .into(),
                );
            }
            if g.token_file.is_some() && g.app.is_some() {
                problems.push("forge.github: give `token_file` or `app`, not both".into());
            }
            if !(1..=100).contains(&g.batch_size) {
                problems.push(format!(
                    "forge.github.batch_size: {} is not between 1 and 100",
                    g.batch_size
                ));
            }
            if !(1..=90).contains(&g.max_in_flight) {
                problems.push(format!(
                    "forge.github.max_in_flight: {} is not between 1 and 90 (GitHub refuses more than 100 concurrent requests)",
                    g.max_in_flight
                ));
            }
        }
        if problems.is_empty() {
            Ok(Checked {
                interval: interval.unwrap_or_default(),
                jitter,
                stop_timeout: stop_timeout.unwrap_or_default(),
                listen,
                quotas,
                spacing,
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
        assert_eq!(checked.quotas.len(), 2);
        assert_eq!(checked.spacing, Duration::from_secs(1));
        let ForgeConfig::Github(g) = &c.forge else {
            panic!("github")
        };
        assert_eq!(g.api_url, "https://api.github.com");
        assert_eq!(g.batch_size, 50);
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
        let text = "platform:\n  path: /p\n  git: { url: x }\n  repository: acme//platform\n  branch: dev\nforge:\n  github:\n    write_quotas: [\"fast\"]\n    batch_size: 0\nreconcile:\n  interval: 1.5m\n  stop_timeout: 0s\nhttp:\n  listen: everywhere\n  webhook_body_limit: 0\n";
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
            ForgeConfig::Local {
                root: "/srv/repos".into()
            }
        );
        assert_eq!(
            c.platform_root(Path::new("/var/lib/distributor")),
            PathBuf::from("/var/lib/distributor/platform")
        );
    }
}
