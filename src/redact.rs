//! The one redactor every string leaving the process passes through:
//! logs (the tracing writer), standard output, error messages, the audit
//! log, the daemon's `/status` and dashboard. It masks the secrets in use
//! (registered when credentials are read: the token, the App key,
//! installation tokens, the webhook secret) wherever they appear, and
//! anything shaped like a credential even when it is not ours: GitHub
//! tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), JSON Web
//! Tokens, `Authorization` values, `Bearer` values and PEM private keys. A
//! server that echoes request headers into its error text (a debugging
//! proxy, a misconfigured GitHub Enterprise front end) cannot get a secret
//! into stderr, a log, a file or an endpoint.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{LazyLock, RwLock};

use regex::Regex;

/// What a masked secret reads as.
pub const MASK: &str = "[redacted]";

/// Secrets shorter than this are not registered: masking every
/// occurrence of a 3-letter string would mangle output without hiding
/// anything worth hiding.
const MIN_SECRET: usize = 8;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Credential shapes, masked whoever they belong to. The prefix kept in
/// group 1 (if any) stays readable: `Bearer [redacted]`.
static SHAPES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // PEM private keys, whole (multi-line).
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
        // `Authorization: <scheme> <value>` in any quoting, header or JSON
        // (before the token shapes, so the value is masked once).
        r#"(?i)(authorization["']?\s*[:=]\s*["']?(?:(?:bearer|token|basic)\s+)?)[^\s"',;}\]\[]+"#,
        // `Bearer <value>` anywhere.
        r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}",
        // GitHub tokens: classic, OAuth, user-to-server, installation, refresh, fine-grained.
        r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})",
        // JSON Web Tokens (the App's signed JWT).
        r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect()
});

/// Registers a secret in use, masked from now on wherever it appears.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET {
        return;
    }
    let mut all = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !all.iter().any(|s| s == secret) {
        all.push(secret.to_string());
        // Longest first: a secret containing another is masked whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
    // A multi-line secret (a PEM key) is masked line by line too, since
    // output may wrap or re-indent it.
    if secret.contains('\n') {
        for line in secret.lines().map(str::trim) {
            if line.len() >= MIN_SECRET
                && !line.starts_with("-----")
                && !all.iter().any(|s| s == line)
            {
                all.push(line.to_string());
            }
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every registered secret and credential shape masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    // Shapes first (they see values whole), then the registered secrets
    // wherever they are left.
    let mut out = Cow::Borrowed(text);
    for re in SHAPES.iter() {
        if re.is_match(&out) {
            let replaced = re
                .replace_all(&out, |c: &regex::Captures<'_>| {
                    format!("{}{MASK}", c.get(1).map_or("", |m| m.as_str()))
                })
                .into_owned();
            out = Cow::Owned(replaced);
        }
    }
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), MASK));
        }
    }
    out
}

/// A writer that redacts what goes through it, a line at a time (a
/// secret split across two `write` calls is still whole when masked).
/// A line longer than [`LINE_CAP`] is passed on in pieces, redacted each.
pub struct Redacting<W: Write> {
    inner: W,
    line: Vec<u8>,
}

/// The longest line held back before it is redacted and written.
pub const LINE_CAP: usize = 1 << 20;

impl<W: Write> Redacting<W> {
    pub fn new(inner: W) -> Redacting<W> {
        Redacting {
            inner,
            line: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let chunk: Vec<u8> = self.line.drain(..upto).collect();
        match std::str::from_utf8(&chunk) {
            Ok(text) => self.inner.write_all(redact(text).as_bytes()),
            // Not UTF-8: redact what is text, keep the bytes otherwise.
            Err(_) => self
                .inner
                .write_all(redact(&String::from_utf8_lossy(&chunk)).as_bytes()),
        }
    }
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        while let Some(end) = self.line.iter().position(|b| *b == b'\n') {
            self.emit(end + 1)?;
        }
        if self.line.len() > LINE_CAP {
            self.emit(self.line.len())?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            self.emit(self.line.len())?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Redacting<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Standard error through the redactor, for the tracing subscriber (one
/// writer per event).
pub fn stderr() -> Redacting<std::io::Stderr> {
    Redacting::new(std::io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_masked_wherever_they_appear() {
        register("s3cr3t-webhook-value");
        register("short");
        let text = "401: you sent s3cr3t-webhook-value; short stays";
        assert_eq!(redact(text), "401: you sent [redacted]; short stays");
    }

    #[test]
    fn credential_shapes_are_masked_even_when_not_registered() {
        let cases = [
            (
                "401 Bad credentials, you sent: Bearer ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "401 Bad credentials, you sent: Bearer [redacted]",
            ),
            (
                r#"{"headers":{"authorization":"token gho_16C7e42F292c6912E7710c838347Ae178B4a"}}"#,
                r#"{"headers":{"authorization":"token [redacted]"}}"#,
            ),
            (
                "Authorization: Basic dXNlcjpwYXNzd29yZA==",
                "Authorization: Basic [redacted]",
            ),
            (
                "installation token ghs_16C7e42F292c6912E7710c838347Ae178B4a expired",
                "installation token [redacted] expired",
            ),
            (
                "pat github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz here",
                "pat [redacted] here",
            ),
            (
                "jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjMifQ.c2lnbmF0dXJl end",
                "jwt [redacted] end",
            ),
            (
                "key -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY----- done",
                "key [redacted] done",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "the token file /run/credentials/gh-token cannot be read",
            "pull request #12 opened: chore: update integrations",
            "GitHub refused: Bad credentials (401)",
            "sha 3bf49f8e5b126395625281b5d1a391ac3824f0ef",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn a_secret_split_across_writes_is_masked_whole() {
        register("split-secret-0123456789");
        let mut out = Redacting::new(Vec::new());
        out.write_all(b"line one split-sec").unwrap();
        out.write_all(b"ret-0123456789 end\nsecond ").unwrap();
        out.write_all(b"line\n").unwrap();
        out.flush().unwrap();
        let text = String::from_utf8(out.inner.clone()).unwrap();
        assert_eq!(text, "line one [redacted] end\nsecond line\n");
    }
}
