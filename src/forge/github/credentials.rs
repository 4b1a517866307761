//! Where GitHub credentials come from, the one rule for the command line
//! and the daemon: a GitHub App (id, private key file, installation) first,
//! then a token file, then the token in `$GITHUB_TOKEN`. A bare file name
//! is looked up in systemd's `$CREDENTIALS_DIRECTORY` first
//! (`LoadCredential=`). Secrets are read here and never printed: errors
//! name the file, not its content.

use std::path::{Path, PathBuf};

use octocrab::secrecy::SecretString;

use super::Auth;

/// Environment variable holding a personal access token.
pub const TOKEN_ENV: &str = "GITHUB_TOKEN";

/// What credentials are looked up in besides the configured files: the
/// process environment, or a stand-in for it in tests.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `$GITHUB_TOKEN`.
    pub token: Option<String>,
    /// `$CREDENTIALS_DIRECTORY`.
    pub credentials_dir: Option<PathBuf>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Env {
        Env {
            token: std::env::var(TOKEN_ENV).ok(),
            credentials_dir: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        }
    }
}

/// A GitHub App, as configured.
#[derive(Debug, Clone, Copy)]
pub struct App<'a> {
    pub id: u64,
    pub key_file: &'a Path,
    pub installation_id: u64,
}

/// Why no credentials came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The App's key file cannot be read or is empty.
    AppKey(String),
    /// The token file cannot be read or is empty.
    TokenFile(String),
    /// Nothing is configured and `$GITHUB_TOKEN` is unset or empty.
    Missing,
}

/// Chooses and reads the credentials: the App when given, else the token
/// file, else `$GITHUB_TOKEN`.
pub fn resolve(
    app: Option<App<'_>>,
    token_file: Option<&Path>,
    env: &Env,
) -> Result<Auth, Failure> {
    if let Some(app) = app {
        return Ok(Auth::App {
            app_id: app.id,
            key_pem: read_credential(app.key_file, "GitHub App private key", env)
                .map_err(Failure::AppKey)?,
            installation_id: app.installation_id,
        });
    }
    if let Some(file) = token_file {
        return read_credential(file, "GitHub token", env)
            .map(Auth::Token)
            .map_err(Failure::TokenFile);
    }
    env.token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            crate::redact::register(t);
            Auth::Token(SecretString::from(t.to_string()))
        })
        .ok_or(Failure::Missing)
}

/// Reads the secret file `file` (a bare name from `$CREDENTIALS_DIRECTORY`
/// when it is there); `what` names it in errors.
pub fn read_credential(file: &Path, what: &str, env: &Env) -> Result<SecretString, String> {
    read_secret(&credential_path(file, env.credentials_dir.as_deref()), what)
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

/// Reads a secret file (trimmed) and registers it with the redactor;
/// errors name the file, never the content.
pub fn read_secret(path: &Path, what: &str) -> Result<SecretString, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} from {}: {e}", path.display()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("the {what} file {} is empty", path.display()));
    }
    // From now on masked wherever it would be printed.
    crate::redact::register(text);
    Ok(SecretString::from(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use octocrab::secrecy::ExposeSecret;

    fn env(token: Option<&str>, dir: Option<&Path>) -> Env {
        Env {
            token: token.map(str::to_string),
            credentials_dir: dir.map(Path::to_path_buf),
        }
    }

    fn token(auth: Auth) -> String {
        match auth {
            Auth::Token(t) => t.expose_secret().to_string(),
            Auth::App { .. } => panic!("expected a token"),
        }
    }

    #[test]
    fn token_from_env_file_or_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gh-token"), "ghp_fromfile\n").unwrap();
        let from_env = resolve(None, None, &env(Some(" ghp_env\n"), None)).unwrap();
        assert_eq!(token(from_env), "ghp_env");
        // A bare name is found in the credentials directory, and a token
        // file wins over the environment.
        let from_dir = resolve(
            None,
            Some(Path::new("gh-token")),
            &env(Some("ghp_env"), Some(dir.path())),
        )
        .unwrap();
        assert_eq!(token(from_dir), "ghp_fromfile");
        assert_eq!(
            resolve(None, None, &env(Some("  "), None)).unwrap_err(),
            Failure::Missing
        );
        let Failure::TokenFile(missing) = resolve(
            None,
            Some(Path::new("/nonexistent/token")),
            &env(None, None),
        )
        .unwrap_err() else {
            panic!("token file")
        };
        assert!(missing.contains("/nonexistent/token"), "{missing}");
    }

    #[test]
    fn the_app_comes_first_and_errors_never_show_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("app.pem");
        std::fs::write(&key, "-----BEGIN RSA PRIVATE KEY-----\nsecret\n").unwrap();
        let app = App {
            id: 12,
            key_file: &key,
            installation_id: 34,
        };
        let auth = resolve(
            Some(app),
            Some(Path::new("/nonexistent/token")),
            &env(Some("ghp_env"), None),
        )
        .unwrap();
        assert!(
            matches!(
                auth,
                Auth::App {
                    app_id: 12,
                    installation_id: 34,
                    ..
                }
            ),
            "{auth:?}"
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "  \n").unwrap();
        let Failure::TokenFile(e) =
            resolve(None, Some(&empty), &env(Some("ghp_secret_env"), None)).unwrap_err()
        else {
            panic!("token file")
        };
        assert!(
            e.contains("is empty") && e.contains("empty") && !e.contains("ghp_secret_env"),
            "{e}"
        );
        let Failure::AppKey(e) = resolve(
            Some(App {
                key_file: Path::new("/nonexistent/app.pem"),
                ..app
            }),
            None,
            &env(None, None),
        )
        .unwrap_err() else {
            panic!("app key")
        };
        assert!(e.contains("/nonexistent/app.pem"), "{e}");
    }
}
