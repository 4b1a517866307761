//! Turns the GitHub command-line options and environment into a
//! [`GitHubConfig`]: where the token or GitHub App key comes from (an
//! environment variable, a file, or systemd's `$CREDENTIALS_DIRECTORY`),
//! pacing quotas, write mode. Secrets are read here and never printed:
//! errors name the file, not its content.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use octocrab::secrecy::SecretString;

use crate::cli::{GitHubArgs, GitHubWrites};
use crate::forge::github::limits::{Pacing, WriteQuota, parse_duration};
use crate::forge::github::{Auth, ClientSettings, GitHubConfig, WriteMode};

/// Environment variable holding a personal access token.
pub const TOKEN_ENV: &str = "GITHUB_TOKEN";

/// Builds the GitHub forge configuration for the REST API at `api_url`.
pub fn config(args: &GitHubArgs, api_url: &str) -> Result<GitHubConfig> {
    let auth = auth(
        args,
        std::env::var(TOKEN_ENV).ok(),
        std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
    )?;
    let mut pacing = Pacing::default();
    if !args.github_write_quota.is_empty() {
        pacing.quotas = args
            .github_write_quota
            .iter()
            .map(|q| WriteQuota::parse(q).map_err(|e| anyhow::anyhow!("--github-write-quota {e}")))
            .collect::<Result<_>>()?;
    }
    pacing.spacing = parse_duration(&args.github_write_spacing)
        .map_err(|e| anyhow::anyhow!("--github-write-spacing: {e}"))?;
    if args.github_batch_size == 0 || args.github_batch_size > 100 {
        bail!(
            "--github-batch-size must be between 1 and 100 (GitHub's node limits), got {}",
            args.github_batch_size
        );
    }
    if args.github_max_in_flight == 0 || args.github_max_in_flight > 90 {
        bail!(
            "--github-max-in-flight must be between 1 and 90 (GitHub refuses more than 100 concurrent requests), got {}",
            args.github_max_in_flight
        );
    }
    Ok(GitHubConfig {
        api_url: api_url.to_string(),
        auth,
        write_mode: match args.github_writes {
            GitHubWrites::Graphql => WriteMode::Graphql,
            GitHubWrites::Rest => WriteMode::Rest,
        },
        batch_size: args.github_batch_size,
        client: ClientSettings {
            pacing,
            max_in_flight: args.github_max_in_flight,
            ..ClientSettings::default()
        },
    })
}

/// The daemon's GitHub settings (config file) as a forge configuration.
pub fn from_settings(
    g: &crate::daemon::config::GitHubSettings,
    quotas: Vec<WriteQuota>,
    spacing: std::time::Duration,
) -> Result<GitHubConfig> {
    let auth = resolve(
        g.app
            .as_ref()
            .map(|a| (a.id, a.key_file.as_path(), a.installation_id)),
        g.token_file.as_deref(),
        std::env::var(TOKEN_ENV).ok(),
        std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
    )
    .map_err(|e| anyhow::anyhow!("forge.github: {e}"))?
    .ok_or_else(|| {
        anyhow::anyhow!(
            "forge.github: no credentials: set `token_file` or `app` (or {TOKEN_ENV} in the environment)"
        )
    })?;
    Ok(GitHubConfig {
        api_url: g.api_url.clone(),
        auth,
        write_mode: match g.writes {
            crate::daemon::config::Writes::Graphql => WriteMode::Graphql,
            crate::daemon::config::Writes::Rest => WriteMode::Rest,
        },
        batch_size: g.batch_size,
        client: ClientSettings {
            pacing: Pacing { quotas, spacing },
            max_in_flight: g.max_in_flight,
            ..ClientSettings::default()
        },
    })
}

/// Chooses the credentials: a GitHub App when its options are given, else
/// a token file, else `GITHUB_TOKEN`.
fn auth(
    args: &GitHubArgs,
    env_token: Option<String>,
    credentials_dir: Option<PathBuf>,
) -> Result<Auth> {
    let app = match (
        args.github_app_id,
        &args.github_app_key,
        args.github_installation_id,
    ) {
        (Some(id), Some(key), Some(installation)) => Some((id, key.as_path(), installation)),
        (None, None, None) => None,
        _ => bail!(
            "a GitHub App needs all three of --github-app-id, --github-app-key and --github-installation-id"
        ),
    };
    resolve(app, args.github_token_file.as_deref(), env_token, credentials_dir)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no GitHub credentials: set {TOKEN_ENV}, pass --github-token-file FILE, or configure a GitHub App (--github-app-id, --github-app-key, --github-installation-id)"
        )
    })
}

/// The one rule for credentials, for the CLI and the daemon: a GitHub App
/// (id, key file, installation) first, then a token file, then the token
/// from the environment. Files are read here; `None` when nothing is set.
fn resolve(
    app: Option<(u64, &Path, u64)>,
    token_file: Option<&Path>,
    env_token: Option<String>,
    credentials_dir: Option<PathBuf>,
) -> Result<Option<Auth>> {
    let dir = credentials_dir.as_deref();
    if let Some((app_id, key, installation_id)) = app {
        return Ok(Some(Auth::App {
            app_id,
            key_pem: read_secret(&credential_path(key, dir), "GitHub App private key")?,
            installation_id,
        }));
    }
    if let Some(file) = token_file {
        return Ok(Some(Auth::Token(read_secret(
            &credential_path(file, dir),
            "GitHub token",
        )?)));
    }
    Ok(env_token
        .filter(|t| !t.trim().is_empty())
        .map(|t| Auth::Token(SecretString::from(t.trim().to_string()))))
}

/// A bare file name is looked up in `$CREDENTIALS_DIRECTORY` first, where
/// systemd's `LoadCredential=` puts it.
pub fn credential_path(file: &Path, credentials_dir: Option<&Path>) -> PathBuf {
    let bare = file.components().count() == 1 && !file.is_absolute();
    if let (true, Some(dir)) = (bare, credentials_dir) {
        let candidate = dir.join(file);
        if candidate.exists() {
            return candidate;
        }
    }
    file.to_path_buf()
}

/// Reads a secret file (trimmed); errors name the file, never the content.
pub fn read_secret(path: &Path, what: &str) -> Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} from {}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        bail!("the {what} file {} is empty", path.display());
    }
    Ok(SecretString::from(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> GitHubArgs {
        let mut argv = vec!["distributor"];
        argv.extend_from_slice(extra);
        argv.push("validate");
        crate::cli::Cli::parse_from(argv).global.github
    }

    #[test]
    fn token_from_env_file_or_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gh-token"), "ghp_fromfile\n").unwrap();
        assert!(matches!(
            auth(&args(&[]), Some("ghp_env".into()), None).unwrap(),
            Auth::Token(_)
        ));
        let a = auth(
            &args(&["--github-token-file", "gh-token"]),
            None,
            Some(dir.path().into()),
        )
        .unwrap();
        assert!(matches!(a, Auth::Token(_)));
        let e = auth(&args(&[]), None, None).unwrap_err().to_string();
        assert!(
            e.contains("GITHUB_TOKEN") && e.contains("--github-token-file"),
            "{e}"
        );
        let missing = auth(
            &args(&["--github-token-file", "/nonexistent/token"]),
            None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(missing.contains("/nonexistent/token"), "{missing}");
    }

    #[test]
    fn an_incomplete_app_is_refused_and_errors_never_show_secrets() {
        let e = auth(&args(&["--github-app-id", "12"]), None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("all three"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "  \n").unwrap();
        let e = auth(
            &args(&["--github-token-file", empty.to_str().unwrap()]),
            Some("ghp_secret_env".into()),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("is empty") && !e.contains("ghp_secret_env"),
            "{e}"
        );
    }

    #[test]
    fn pacing_options_parse_and_bad_ones_say_which() {
        let c = config(
            &args(&[
                "--github-write-quota",
                "5/1s",
                "--github-write-spacing",
                "10ms",
            ]),
            "http://127.0.0.1:1",
        );
        // No credentials in this test's environment is fine: check the message.
        match c {
            Ok(c) => {
                assert_eq!(c.client.pacing.quotas.len(), 1);
                assert_eq!(
                    c.client.pacing.spacing,
                    std::time::Duration::from_millis(10)
                );
            }
            Err(e) => assert!(e.to_string().contains("no GitHub credentials"), "{e}"),
        }
        let e = config(
            &args(&[
                "--github-token-file",
                "/dev/null",
                "--github-write-quota",
                "fast",
            ]),
            "http://x",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("empty") || e.to_string().contains("--github-write-quota"),
            "{e}"
        );
    }
}
