//! [`ForgeSpec`]: which forge, with its settings, as one value for the
//! command line (`--forge`, `--github-*`) and the daemon's config file
//! (its `forge:` section, deserialized as it is). Nothing else validates
//! forge settings or builds a forge:
//!
//! - [`ForgeSpec::from_cli`] turns the command-line options into a spec;
//!   serde turns the config's `forge:` section into one.
//! - [`ForgeSpec::check`] validates everything that can be checked without
//!   I/O (ranges, quota syntax, durations, the API URL, App fields all or
//!   none) and returns every [`Problem`] at once. A problem names its
//!   [`Field`], which the caller renders as a config key
//!   (`forge.github.batch_size`) or a flag (`--github-batch-size`).
//! - [`ForgeSpec::open`] checks, reads the credentials (rules in
//!   [`credentials`]: App, then token file, then `$GITHUB_TOKEN`; secrets
//!   never printed) and returns the [`AnyForge`]. Two equal specs open
//!   the same forge, so the daemon keeps its forge across a reload that
//!   leaves the `forge:` section alone.
//!
//! # Adding a forge
//!
//! One new module under `src/forge/` (the backend, implementing `Forge`,
//! with its variant in [`AnyForge`]), one arm in [`ForgeSpec`] (its
//! settings, their checks and how it opens, plus its `--forge` prefix in
//! [`ForgeSpec::from_cli`]), and the contract suite (`forge/contract.rs`)
//! run against it. The CLI and the daemon pick it up from here.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::AnyForge;
use super::github::credentials::{self, Env, Failure, TOKEN_ENV};
use super::github::limits::{Pacing, WriteQuota, parse_duration};
use super::github::{ClientSettings, Endpoint, GitHubConfig, GitHubForge, WriteMode};
use super::local::LocalForge;
use crate::cli::GitHubArgs;

/// The REST API of github.com.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Content-creating units (one per top-level mutation field or mutating
/// REST request) under GitHub's secondary limits (80 per minute, 500 per
/// hour), with margin.
pub const DEFAULT_WRITE_QUOTAS: [&str; 2] = ["60/1m", "450/1h"];
/// GitHub asks for at least a second between content-creating requests.
pub const DEFAULT_WRITE_SPACING: &str = "1s";
/// Repositories per observation query: well inside GitHub's 10 s timeout.
pub const DEFAULT_BATCH_SIZE: usize = 50;
/// Requests in flight at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;
/// GitHub's node limits.
const BATCH_SIZE: RangeInclusive<usize> = 1..=100;
/// GitHub refuses more than 100 concurrent requests.
const MAX_IN_FLIGHT: RangeInclusive<usize> = 1..=90;

/// Which forge, and its settings. In the config file: `forge: { github:
/// {...} }` or `forge: { local: { root: DIR } }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ForgeSpec {
    /// GitHub or GitHub Enterprise Server.
    #[serde(rename = "github")]
    GitHub(GitHubSpec),
    /// Bare repositories at `ROOT/OWNER/REPO.git` (demos, tests).
    Local { root: PathBuf },
}

/// GitHub settings; every key has a default (`docs/config.md`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitHubSpec {
    /// REST API base: `https://api.github.com`, or `https://HOST/api/v3`.
    pub api_url: String,
    /// File holding a token. A bare name is looked up in
    /// `$CREDENTIALS_DIRECTORY` first (systemd `LoadCredential=`).
    pub token_file: Option<PathBuf>,
    /// A GitHub App instead of a token.
    pub app: Option<AppSpec>,
    /// `graphql` (createCommitOnBranch) or `rest` (Git Data API).
    pub writes: WriteMode,
    /// Content-creating request quotas, `COUNT/DURATION`.
    pub write_quotas: Vec<String>,
    /// Minimum time between two content-creating requests.
    pub write_spacing: String,
    /// Repositories per observation query (1 to 100).
    pub batch_size: usize,
    /// Requests in flight at once (1 to 90).
    pub max_in_flight: usize,
}

impl Default for GitHubSpec {
    fn default() -> Self {
        GitHubSpec {
            api_url: DEFAULT_API_URL.into(),
            token_file: None,
            app: None,
            writes: WriteMode::default(),
            write_quotas: DEFAULT_WRITE_QUOTAS.map(String::from).to_vec(),
            write_spacing: DEFAULT_WRITE_SPACING.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

/// GitHub App credentials: all three, or none ([`ForgeSpec::check`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    pub id: Option<u64>,
    /// The private key (PEM); a bare name is looked up in
    /// `$CREDENTIALS_DIRECTORY` first.
    pub key_file: Option<PathBuf>,
    pub installation_id: Option<u64>,
}

/// A setting of a [`ForgeSpec`], as the config file and the command line
/// name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    LocalRoot,
    /// The GitHub section as a whole (credentials, the client).
    GitHub,
    ApiUrl,
    TokenFile,
    /// The App's three fields together.
    App,
    AppId,
    AppKeyFile,
    AppInstallationId,
    Writes,
    WriteQuotas,
    WriteSpacing,
    BatchSize,
    MaxInFlight,
}

impl Field {
    /// The key in the daemon's config file.
    pub fn config_key(self) -> &'static str {
        match self {
            Field::LocalRoot => "forge.local.root",
            Field::GitHub => "forge.github",
            Field::ApiUrl => "forge.github.api_url",
            Field::TokenFile => "forge.github.token_file",
            Field::App => "forge.github.app",
            Field::AppId => "forge.github.app.id",
            Field::AppKeyFile => "forge.github.app.key_file",
            Field::AppInstallationId => "forge.github.app.installation_id",
            Field::Writes => "forge.github.writes",
            Field::WriteQuotas => "forge.github.write_quotas",
            Field::WriteSpacing => "forge.github.write_spacing",
            Field::BatchSize => "forge.github.batch_size",
            Field::MaxInFlight => "forge.github.max_in_flight",
        }
    }

    /// The command-line option.
    pub fn cli_flag(self) -> &'static str {
        match self {
            Field::LocalRoot | Field::GitHub | Field::ApiUrl => "--forge",
            Field::TokenFile => "--github-token-file",
            Field::App => "--github-app-*",
            Field::AppId => "--github-app-id",
            Field::AppKeyFile => "--github-app-key",
            Field::AppInstallationId => "--github-installation-id",
            Field::Writes => "--github-writes",
            Field::WriteQuotas => "--github-write-quota",
            Field::WriteSpacing => "--github-write-spacing",
            Field::BatchSize => "--github-batch-size",
            Field::MaxInFlight => "--github-max-in-flight",
        }
    }
}

/// One thing wrong with a [`ForgeSpec`]: which field, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: Field,
    issue: Issue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Issue {
    /// A value that does not parse, a file that cannot be read, a client
    /// that cannot be built: the message says which and why.
    Invalid(String),
    OutOfRange {
        value: usize,
        range: RangeInclusive<usize>,
        why: &'static str,
    },
    NoQuotas,
    NoDirectory,
    AppIncomplete {
        missing: Vec<Field>,
    },
    TokenAndApp,
    NoCredentials,
}

impl Problem {
    fn invalid(field: Field, message: impl Into<String>) -> Problem {
        Problem {
            field,
            issue: Issue::Invalid(message.into()),
        }
    }

    fn new(field: Field, issue: Issue) -> Problem {
        Problem { field, issue }
    }

    /// The problem as the config file names things:
    /// `forge.github.batch_size: 0 is not between 1 and 100 (...)`.
    pub fn config_message(&self) -> String {
        self.render(Field::config_key)
    }

    /// The problem as the command line names things:
    /// `--github-batch-size: 0 is not between 1 and 100 (...)`.
    pub fn cli_message(&self) -> String {
        self.render(Field::cli_flag)
    }

    /// The problem, with fields named by `name`.
    pub fn render(&self, name: impl Fn(Field) -> &'static str) -> String {
        let at = name(self.field);
        let app = || {
            format!(
                "{}, {} and {}",
                name(Field::AppId),
                name(Field::AppKeyFile),
                name(Field::AppInstallationId)
            )
        };
        match &self.issue {
            Issue::Invalid(message) => format!("{at}: {message}"),
            Issue::OutOfRange { value, range, why } => format!(
                "{at}: {value} is not between {} and {} ({why})",
                range.start(),
                range.end()
            ),
            Issue::NoQuotas => {
                format!("{at}: give at least one quota, e.g. [\"60/1m\", \"450/1h\"]")
            }
            Issue::NoDirectory => {
                format!("{at}: the local forge needs a directory (holding OWNER/REPO.git)")
            }
            Issue::AppIncomplete { missing } => format!(
                "{at}: a GitHub App needs all three of {} (missing: {})",
                app(),
                missing
                    .iter()
                    .map(|f| name(*f))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Issue::TokenAndApp => format!(
                "{at}: give {} or a GitHub App ({}), not both",
                name(Field::TokenFile),
                name(Field::App)
            ),
            Issue::NoCredentials => format!(
                "{at}: no GitHub credentials: give {}, or a GitHub App ({}), or set {TOKEN_ENV} in the environment",
                name(Field::TokenFile),
                app()
            ),
        }
    }
}

/// Problems as the config file names things, one per line, each after
/// `prefix` (the file name).
pub fn config_messages(problems: &[Problem], prefix: &str) -> String {
    problems
        .iter()
        .map(|p| format!("{prefix}{}", p.config_message()))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ForgeSpec {
    /// Where it distributes: the API URL, or the local root made absolute
    /// (the same before and after `--init` creates it). Part of the fleet's
    /// state directory name.
    pub fn endpoint(&self) -> String {
        match self {
            ForgeSpec::GitHub(g) => g.api_url.trim_end_matches('/').to_string(),
            ForgeSpec::Local { root } => std::path::absolute(root)
                .unwrap_or_else(|_| root.clone())
                .display()
                .to_string(),
        }
    }

    /// The spec the command line asks for: `--forge local:DIR`, `github`
    /// or `github:URL` (a GitHub Enterprise Server API), with the
    /// `--github-*` options. Unchecked: [`ForgeSpec::open`] checks it.
    pub fn from_cli(forge: Option<&str>, github: &GitHubArgs) -> Result<ForgeSpec, String> {
        let forge = forge.ok_or(
            "no forge given: pass --forge local:DIR or --forge github (or set DISTRIBUTOR_FORGE), e.g. --forge local:./demo-repos --init",
        )?;
        if let Some(root) = forge.strip_prefix("local:") {
            return Ok(ForgeSpec::Local { root: root.into() });
        }
        let api_url = match forge.strip_prefix("github") {
            Some("") => DEFAULT_API_URL,
            Some(rest) => match rest.strip_prefix(':') {
                Some(url) => url,
                None => return Err(unknown_forge(forge)),
            },
            None => return Err(unknown_forge(forge)),
        };
        let app = (github.github_app_id.is_some()
            || github.github_app_key.is_some()
            || github.github_installation_id.is_some())
        .then(|| AppSpec {
            id: github.github_app_id,
            key_file: github.github_app_key.clone(),
            installation_id: github.github_installation_id,
        });
        let defaults = GitHubSpec::default();
        Ok(ForgeSpec::GitHub(GitHubSpec {
            api_url: api_url.to_string(),
            token_file: github.github_token_file.clone(),
            app,
            writes: github.github_writes,
            write_quotas: if github.github_write_quota.is_empty() {
                defaults.write_quotas
            } else {
                github.github_write_quota.clone()
            },
            write_spacing: github.github_write_spacing.clone(),
            batch_size: github.github_batch_size,
            max_in_flight: github.github_max_in_flight,
        }))
    }

    /// Validates everything that needs no I/O; every problem at once.
    pub fn check(&self) -> Result<(), Vec<Problem>> {
        match self {
            ForgeSpec::Local { root } => check_root(root),
            ForgeSpec::GitHub(g) => g.check().map(drop),
        }
    }

    /// Checks the spec, reads its credentials from the files it names and
    /// the process environment, and builds the forge. Call it inside a
    /// tokio runtime (the GitHub client spawns a task).
    pub fn open(&self) -> Result<AnyForge, Vec<Problem>> {
        self.open_with(&Env::from_process())
    }

    /// [`ForgeSpec::open`], with the environment given.
    pub fn open_with(&self, env: &Env) -> Result<AnyForge, Vec<Problem>> {
        match self {
            ForgeSpec::Local { root } => {
                check_root(root)?;
                LocalForge::new(root)
                    .map(AnyForge::Local)
                    .map_err(|e| vec![Problem::invalid(Field::LocalRoot, e.to_string())])
            }
            ForgeSpec::GitHub(g) => {
                let forge = GitHubForge::new(g.config(env)?)
                    .map_err(|e| vec![Problem::invalid(Field::GitHub, e)])?;
                Ok(AnyForge::GitHub(Box::new(forge)))
            }
        }
    }
}

fn unknown_forge(forge: &str) -> String {
    format!("unknown forge {forge:?}: supported are `local:DIR`, `github` and `github:URL`")
}

fn check_root(root: &Path) -> Result<(), Vec<Problem>> {
    if root.as_os_str().is_empty() {
        return Err(vec![Problem::new(Field::LocalRoot, Issue::NoDirectory)]);
    }
    Ok(())
}

/// What checking a [`GitHubSpec`] yields.
struct Checked<'a> {
    pacing: Pacing,
    app: Option<credentials::App<'a>>,
}

impl GitHubSpec {
    /// The write pacing these settings ask for, checked.
    pub fn pacing(&self) -> Result<Pacing, Vec<Problem>> {
        self.check().map(|c| c.pacing)
    }

    /// The GitHub forge's configuration: checked, with its credentials
    /// read (from the files named, else `env`'s token).
    pub fn config(&self, env: &Env) -> Result<GitHubConfig, Vec<Problem>> {
        let Checked { pacing, app } = self.check()?;
        let auth = credentials::resolve(app, self.token_file.as_deref(), env).map_err(|f| {
            vec![match f {
                Failure::AppKey(e) => Problem::invalid(Field::AppKeyFile, e),
                Failure::TokenFile(e) => Problem::invalid(Field::TokenFile, e),
                Failure::Missing => Problem::new(Field::GitHub, Issue::NoCredentials),
            }]
        })?;
        Ok(GitHubConfig {
            api_url: self.api_url.clone(),
            auth,
            write_mode: self.writes,
            batch_size: self.batch_size,
            client: ClientSettings {
                pacing,
                max_in_flight: self.max_in_flight,
                ..ClientSettings::default()
            },
        })
    }

    fn check(&self) -> Result<Checked<'_>, Vec<Problem>> {
        let mut problems = Vec::new();
        if let Err(e) = Endpoint::from_api_url(&self.api_url) {
            problems.push(Problem::invalid(Field::ApiUrl, e));
        }
        let app = match &self.app {
            None => None,
            Some(AppSpec {
                id: Some(id),
                key_file: Some(key_file),
                installation_id: Some(installation_id),
            }) => Some(credentials::App {
                id: *id,
                key_file,
                installation_id: *installation_id,
            }),
            Some(a) => {
                let missing = [
                    (a.id.is_none(), Field::AppId),
                    (a.key_file.is_none(), Field::AppKeyFile),
                    (a.installation_id.is_none(), Field::AppInstallationId),
                ]
                .into_iter()
                .filter_map(|(missing, field)| missing.then_some(field))
                .collect();
                problems.push(Problem::new(Field::App, Issue::AppIncomplete { missing }));
                None
            }
        };
        if self.token_file.is_some() && self.app.is_some() {
            problems.push(Problem::new(Field::GitHub, Issue::TokenAndApp));
        }
        if self.write_quotas.is_empty() {
            problems.push(Problem::new(Field::WriteQuotas, Issue::NoQuotas));
        }
        let quotas = self
            .write_quotas
            .iter()
            .filter_map(|q| {
                WriteQuota::parse(q)
                    .map_err(|e| problems.push(Problem::invalid(Field::WriteQuotas, e)))
                    .ok()
            })
            .collect();
        let spacing = parse_duration(&self.write_spacing)
            .map_err(|e| problems.push(Problem::invalid(Field::WriteSpacing, e)))
            .unwrap_or_default();
        for (field, value, range, why) in [
            (
                Field::BatchSize,
                self.batch_size,
                BATCH_SIZE,
                "GitHub's node limits",
            ),
            (
                Field::MaxInFlight,
                self.max_in_flight,
                MAX_IN_FLIGHT,
                "GitHub refuses more than 100 concurrent requests",
            ),
        ] {
            if !range.contains(&value) {
                problems.push(Problem::new(field, Issue::OutOfRange { value, range, why }));
            }
        }
        if problems.is_empty() {
            Ok(Checked {
                pacing: Pacing { quotas, spacing },
                app,
            })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    fn cli(extra: &[&str]) -> crate::cli::Global {
        let mut argv = vec!["distributor"];
        argv.extend_from_slice(extra);
        argv.push("validate");
        crate::cli::Cli::parse_from(argv).global
    }

    fn from_cli(extra: &[&str]) -> Result<ForgeSpec, String> {
        let g = cli(extra);
        ForgeSpec::from_cli(g.forge.as_deref(), &g.github)
    }

    fn github(spec: ForgeSpec) -> GitHubSpec {
        match spec {
            ForgeSpec::GitHub(g) => g,
            other => panic!("not GitHub: {other:?}"),
        }
    }

    fn no_env() -> Env {
        Env::default()
    }

    #[test]
    fn the_command_line_and_the_config_file_make_the_same_spec() {
        let yaml = |text: &str| -> ForgeSpec {
            serde_saphyr::from_str_with_options(text, crate::render::bundle::yaml_options())
                .unwrap()
        };
        assert_eq!(
            from_cli(&["--forge", "github"]).unwrap(),
            yaml("github: {}\n")
        );
        assert_eq!(
            from_cli(&[
                "--forge",
                "github:https://ghe.example.com/api/v3",
                "--github-token-file",
                "gh-token",
                "--github-writes",
                "rest",
                "--github-write-quota",
                "5/1s",
                "--github-write-spacing",
                "10ms",
                "--github-batch-size",
                "20",
                "--github-max-in-flight",
                "4",
            ])
            .unwrap(),
            yaml(
                "github:\n  api_url: https://ghe.example.com/api/v3\n  token_file: gh-token\n  writes: rest\n  write_quotas: [\"5/1s\"]\n  write_spacing: 10ms\n  batch_size: 20\n  max_in_flight: 4\n"
            )
        );
        assert_eq!(
            from_cli(&["--forge", "local:/srv/repos"]).unwrap(),
            yaml("local:\n  root: /srv/repos\n")
        );
        let defaults = github(from_cli(&["--forge", "github"]).unwrap());
        assert_eq!(defaults, GitHubSpec::default());
        let pacing = defaults.pacing().unwrap();
        assert_eq!(pacing, Pacing::default());
    }

    #[test]
    fn a_bad_forge_option_says_what_is_supported() {
        let e = from_cli(&[]).unwrap_err();
        assert!(e.contains("--forge local:DIR"), "{e}");
        for bad in ["gitlab:acme", "githubx", "local"] {
            let e = from_cli(&["--forge", bad]).unwrap_err();
            assert!(
                e.contains(&format!("unknown forge {bad:?}")) && e.contains("github:URL"),
                "{e}"
            );
        }
        let e = from_cli(&["--forge", "local:"])
            .unwrap()
            .check()
            .unwrap_err();
        assert_eq!(e[0].field, Field::LocalRoot);
        assert!(e[0].cli_message().starts_with("--forge: "), "{e:?}");
        assert!(e[0].config_message().starts_with("forge.local.root: "));
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_its_field_both_ways() {
        let spec = GitHubSpec {
            api_url: "ftp://x".into(),
            token_file: Some("t".into()),
            app: Some(AppSpec {
                id: Some(1),
                ..AppSpec::default()
            }),
            write_quotas: vec!["fast".into(), "0/1s".into()],
            write_spacing: "soon".into(),
            batch_size: 0,
            max_in_flight: 91,
            ..GitHubSpec::default()
        };
        let problems = ForgeSpec::GitHub(spec).check().unwrap_err();
        let config: Vec<String> = problems.iter().map(Problem::config_message).collect();
        let cli: Vec<String> = problems.iter().map(Problem::cli_message).collect();
        for want in [
            "forge.github.api_url: ",
            "forge.github.app: a GitHub App needs all three",
            "forge.github: give forge.github.token_file or a GitHub App (forge.github.app), not both",
            "forge.github.write_quotas: `fast`",
            "forge.github.write_quotas: `0/1s`",
            "forge.github.write_spacing: ",
            "forge.github.batch_size: 0 is not between 1 and 100",
            "forge.github.max_in_flight: 91 is not between 1 and 90",
        ] {
            assert!(
                config.iter().any(|m| m.starts_with(want)),
                "missing {want}: {config:#?}"
            );
        }
        for want in [
            "--github-app-*: a GitHub App needs all three of --github-app-id, --github-app-key and --github-installation-id (missing: --github-app-key, --github-installation-id)",
            "--github-write-quota: `fast`",
            "--github-write-spacing: ",
            "--github-batch-size: 0 is not between 1 and 100 (GitHub's node limits)",
            "--github-max-in-flight: 91 is not between 1 and 90",
        ] {
            assert!(
                cli.iter().any(|m| m.starts_with(want)),
                "missing {want}: {cli:#?}"
            );
        }
        assert_eq!(problems.len(), 8, "{config:#?}");
        let none = GitHubSpec {
            write_quotas: vec![],
            ..GitHubSpec::default()
        };
        let e = ForgeSpec::GitHub(none).check().unwrap_err();
        assert!(
            e[0].config_message().contains("at least one quota"),
            "{e:?}"
        );
    }

    #[test]
    fn credentials_come_from_the_spec_or_the_environment_and_stay_secret() {
        let spec = GitHubSpec::default();
        let e = spec.config(&no_env()).unwrap_err();
        let cli = e[0].cli_message();
        assert!(
            cli.contains("no GitHub credentials")
                && cli.contains("GITHUB_TOKEN")
                && cli.contains("--github-token-file")
                && cli.contains("--github-app-key"),
            "{cli}"
        );
        assert!(
            e[0].config_message()
                .starts_with("forge.github: no GitHub credentials")
        );
        let from_env = spec
            .config(&Env {
                token: Some("ghp_env".into()),
                credentials_dir: None,
            })
            .unwrap();
        assert!(matches!(
            from_env.auth,
            crate::forge::github::Auth::Token(_)
        ));
        assert_eq!(from_env.client.pacing.spacing, Duration::from_secs(1));

        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "  \n").unwrap();
        let with_file = GitHubSpec {
            token_file: Some(empty.clone()),
            ..GitHubSpec::default()
        };
        let e = with_file
            .config(&Env {
                token: Some("ghp_secret_env".into()),
                credentials_dir: None,
            })
            .unwrap_err();
        let m = e[0].config_message();
        assert!(
            m.starts_with("forge.github.token_file: ")
                && m.contains("is empty")
                && !m.contains("ghp_secret_env"),
            "{m}"
        );
        let app = GitHubSpec {
            app: Some(AppSpec {
                id: Some(1),
                key_file: Some("/nonexistent/app.pem".into()),
                installation_id: Some(2),
            }),
            ..GitHubSpec::default()
        };
        let e = app.config(&no_env()).unwrap_err();
        assert_eq!(e[0].field, Field::AppKeyFile);
        assert!(
            e[0].cli_message().starts_with(
                "--github-app-key: cannot read the GitHub App private key from /nonexistent/app.pem"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_local_forge_opens_on_an_existing_directory_only() {
        let dir = tempfile::tempdir().unwrap();
        let spec = ForgeSpec::Local {
            root: dir.path().into(),
        };
        assert!(matches!(spec.open_with(&no_env()), Ok(AnyForge::Local(_))));
        let missing = dir.path().join("nope");
        let e = ForgeSpec::Local {
            root: missing.clone(),
        }
        .open_with(&no_env())
        .err()
        .expect("missing root");
        let m = e[0].config_message();
        assert!(
            m.starts_with("forge.local.root: ") && m.contains(&missing.display().to_string()),
            "{m}"
        );
    }
}
