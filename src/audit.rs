//! The audit trail of forced runs (`apply --force --reason`): one JSON
//! line per repo (time, operator, reason, revision, outcome, commit or
//! error) appended to the audit log and emitted as a structured log event,
//! so an urgent fix pushed past review can be accounted for afterwards.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::apply::{ApplyReport, PullRequestOutcome};
use crate::time::{self, Epoch};

/// The audit log's file name in the state directory.
pub const FILE: &str = "audit.jsonl";

/// What a forced run did to one repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The forced commit landed.
    Changed,
    /// Nothing to change: already fixed.
    Skipped,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Changed => "changed",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub time: String,
    pub operator: String,
    pub reason: String,
    pub revision: String,
    pub repo: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Superseded distributor pull request closed in the same run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_pull_request: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The person running the command: the user behind `sudo` when there is
/// one, else `$USER`, else `$LOGNAME`, else the name of the process's uid
/// (`/etc/passwd`), else `uid N`; `unknown` only where none can be told.
pub fn operator_from(
    sudo_user: Option<String>,
    user: Option<String>,
    logname: Option<String>,
    uid: Option<(u32, Option<String>)>,
) -> String {
    [sudo_user, user, logname]
        .into_iter()
        .flatten()
        .map(|u| u.trim().to_string())
        .find(|u| !u.is_empty())
        .or_else(|| {
            uid.map(|(n, name)| {
                name.filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("uid {n}"))
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// [`operator_from`] the environment.
pub fn operator() -> String {
    let env = |k: &str| std::env::var(k).ok();
    operator_from(
        env("SUDO_USER"),
        env("USER"),
        env("LOGNAME"),
        process_user(),
    )
}

/// The process's uid and its name in `/etc/passwd` (Unix; `None` where
/// `/proc/self` cannot tell).
fn process_user() -> Option<(u32, Option<String>)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Some((uid, user_name(&passwd, uid)))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The name of `uid` in a passwd file's text.
fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id = f.nth(1)?.parse::<u32>().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// The records of a forced run, one per repo of the report.
pub fn records(
    report: &ApplyReport,
    operator: &str,
    reason: &str,
    revision: &str,
    now: Epoch,
) -> Vec<Record> {
    report
        .repos
        .iter()
        .map(|r| Record {
            time: time::rfc3339(now),
            operator: operator.to_string(),
            reason: reason.to_string(),
            revision: revision.to_string(),
            repo: r.repo.to_string(),
            outcome: outcome(r),
            commit: r.commit.map(|c| c.to_string()),
            closed_pull_request: r
                .pull_request
                .as_ref()
                .filter(|p| p.action == PullRequestOutcome::Closed)
                .map(|p| p.number),
            error: r.error.clone(),
        })
        .collect()
}

/// How a forced run ended for one repo.
pub fn outcome(r: &crate::apply::RepoReport) -> Outcome {
    if r.error.is_some() {
        Outcome::Failed
    } else if r.files_changed > 0 {
        Outcome::Changed
    } else {
        Outcome::Skipped
    }
}

/// Appends the records (one write, then fsync) and emits each as an
/// `audit` log event.
/// Checks, before a forced run writes anything, that its audit log can be
/// appended to (creating it and its directory if needed, writing nothing):
/// a forced change must never land without its record.
pub fn check_writable(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|e| format!("cannot open the audit log {}: {e}", path.display()))
}

pub fn append(path: &Path, records: &[Record]) -> Result<(), String> {
    let mut text = String::new();
    for r in records {
        let line = serde_json::to_string(r).expect("audit records serialise");
        tracing::info!(
            target: "distributor::audit",
            audit = true,
            operator = %r.operator,
            reason = %r.reason,
            repo = %r.repo,
            outcome = r.outcome.as_str(),
            commit = r.commit.as_deref().unwrap_or_default(),
            error = r.error.as_deref().unwrap_or_default(),
            "forced run audit record"
        );
        text.push_str(&line);
        text.push('\n');
    }
    check_writable(path)?;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the audit log {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(|e| format!("cannot append to the audit log {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_is_the_human_behind_sudo() {
        let s = |v: &str| Some(v.to_string());
        let root = Some((0, s("root")));
        assert_eq!(
            operator_from(s("alice"), s("root"), None, root.clone()),
            "alice"
        );
        assert_eq!(
            operator_from(None, s("bob"), s("carol"), root.clone()),
            "bob"
        );
        assert_eq!(operator_from(s(""), s("bob"), None, None), "bob");
        // Without $USER (cron, some containers): $LOGNAME, then the uid.
        assert_eq!(operator_from(None, None, s("carol"), root.clone()), "carol");
        assert_eq!(operator_from(None, s(" "), None, root), "root");
        assert_eq!(
            operator_from(None, None, None, Some((1001, None))),
            "uid 1001"
        );
        assert_eq!(operator_from(None, None, None, None), "unknown");
    }

    #[test]
    fn a_uid_is_named_from_the_passwd_file() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(user_name(passwd, 4242), None);
    }

    #[test]
    fn records_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/audit.jsonl");
        let r = Record {
            time: time::rfc3339(0),
            operator: "alice".into(),
            reason: "CVE-1".into(),
            revision: "abc".into(),
            repo: "acme/a".into(),
            outcome: Outcome::Changed,
            commit: Some("c0ffee".into()),
            closed_pull_request: None,
            error: None,
        };
        append(&path, std::slice::from_ref(&r)).unwrap();
        append(&path, &[r]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["operator"], "alice");
        assert_eq!(v["outcome"], "changed");
        assert_eq!(v["time"], "1970-01-01T00:00:00Z");
        assert!(v.get("error").is_none());
    }
}
