//! The audit trail of forced runs (`apply --force --reason`), written
//! ahead: before each forced write an `intent` line (repo, the tip it
//! builds on, the files it writes) is appended and synced, after it an
//! `outcome` line (time, operator, reason, revision, outcome, commit or
//! error); repos a forced run leaves alone get an `outcome` line too. A run
//! killed between the two leaves an intent without an outcome: the next
//! run finds it ([`pending`]) and appends a `reconciled` line saying
//! whether the write landed. Every line is also a structured log event, so
//! an urgent fix pushed past review can always be accounted for.

mod pending;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::apply::{ProposalOutcome, PullRequestOutcome, RepoReport};
use crate::plan::RepoPlan;
use crate::time::{self, Epoch};

pub use pending::{Pending, pending, reconcile};

/// The audit log's file name in the state directory.
pub const FILE: &str = "audit.jsonl";

/// What a forced run did to one repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The forced commit landed.
    Changed,
    /// A rollback that is not forced: the change is proposed (the proposal
    /// branch got the commit named; its pull request carries it).
    Proposed,
    /// A rollback that is not forced: the rollout policy left the repo for
    /// later (queued behind a budget, held); nothing was written.
    Deferred,
    /// Nothing to change: already fixed.
    Skipped,
    Failed,
    /// Reconciled after an interrupted run: the branch moved on and does
    /// not hold the forced content, so whether it landed cannot be told.
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Changed => "changed",
            Outcome::Proposed => "proposed",
            Outcome::Deferred => "deferred",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }
}

/// Which step of a forced write a line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Appended and synced before the write.
    Intent,
    /// What the run did to the repo.
    Outcome,
    /// A later run's finding on an intent left without an outcome.
    Reconciled,
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub time: String,
    pub phase: Phase,
    /// Pairs an intent with its outcome or reconciliation.
    pub id: String,
    pub operator: String,
    pub reason: String,
    pub revision: String,
    pub repo: String,
    /// Absent on intents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Intent: the default branch and the tip the commit builds on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Intent: the blob id each path gets (`null`: deleted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<BTreeMap<String, Option<String>>>,
    /// Reconciled: the default branch's tip when the finding was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tip: Option<String>,
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

/// What every line of one forced run shares.
#[derive(Debug, Clone)]
pub struct Run {
    pub operator: String,
    pub reason: String,
    pub revision: String,
    pub now: Epoch,
    /// Unique to this run (time and process id): intents and outcomes are
    /// paired by `<run>/<repo>`.
    pub id: String,
}

impl Run {
    pub fn new(operator: String, reason: String, revision: String, now: Epoch) -> Run {
        let id = format!("{}-{}", time::rfc3339(now), std::process::id());
        Run {
            operator,
            reason,
            revision,
            now,
            id,
        }
    }

    fn line(&self, phase: Phase, repo: &str) -> Record {
        Record {
            time: time::rfc3339(self.now),
            phase,
            id: format!("{}/{repo}", self.id),
            operator: self.operator.clone(),
            reason: self.reason.clone(),
            revision: self.revision.clone(),
            repo: repo.to_string(),
            outcome: None,
            commit: None,
            branch: None,
            parent: None,
            files: None,
            tip: None,
            closed_pull_request: None,
            error: None,
        }
    }

    /// The intent line for a repo about to get a forced direct commit;
    /// `None` when the plan commits nothing to the default branch.
    pub fn intent(&self, plan: &RepoPlan) -> Option<Record> {
        let direct = plan.direct.as_ref()?;
        let mut files: BTreeMap<String, Option<String>> = direct
            .writes
            .iter()
            .map(|w| (w.path.clone(), w.blob.map(|b| b.to_string())))
            .collect();
        let lock = crate::blob::blob_id(&direct.lock.to_bytes());
        files.insert(plan.lock_path.clone(), Some(lock.to_string()));
        let mut r = self.line(Phase::Intent, &plan.repo.to_string());
        r.branch = Some(direct.branch.clone());
        r.parent = plan.tip.map(|t| t.to_string());
        r.files = Some(files);
        Some(r)
    }

    /// The outcome line for a repo of the run.
    pub fn outcome(&self, r: &RepoReport) -> Record {
        let mut line = self.line(Phase::Outcome, &r.repo.to_string());
        line.outcome = Some(outcome(r));
        line.commit = r
            .commit
            .or_else(|| proposal_commit(r))
            .map(|c| c.to_string());
        line.closed_pull_request = r
            .pull_request
            .as_ref()
            .filter(|p| p.action == PullRequestOutcome::Closed)
            .map(|p| p.number);
        line.error = r.error.clone();
        line
    }
}

/// How a forced run ended for one repo.
/// `changed` only with the commit that changed it: a run that wrote
/// somewhere else (never the case under force) or reported no commit is
/// not a change of the default branch.
pub fn outcome(r: &RepoReport) -> Outcome {
    if r.error.is_some() {
        Outcome::Failed
    } else if r.commit.is_some() {
        Outcome::Changed
    } else if proposal_commit(r).is_some() {
        Outcome::Proposed
    } else if r.deferred.is_some() {
        Outcome::Deferred
    } else if r.files_changed > 0 {
        Outcome::Unknown
    } else {
        Outcome::Skipped
    }
}

/// The proposal commit a run made for the repo, if it made one.
fn proposal_commit(r: &RepoReport) -> Option<crate::blob::ObjectId> {
    match &r.proposal {
        ProposalOutcome::Created { commit, .. } | ProposalOutcome::Updated { commit, .. } => {
            Some(*commit)
        }
        _ => None,
    }
}

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

/// Appends the records (one write, then fsync) and emits each as an
/// `audit` log event. A last line left without its newline by a crash is
/// ended first (kept, never cut: it is evidence), so the new records start
/// on a line of their own.
pub fn append(path: &Path, records: &[Record]) -> Result<(), String> {
    if records.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for r in records {
        // Records hold strings, numbers and maps of strings only.
        let line =
            serde_json::to_string(r).map_err(|e| format!("cannot encode an audit record: {e}"))?;
        // An error a server echoed a secret into is kept, masked.
        let line = crate::redact::redact(&line);
        log_event(r);
        text.push_str(&line);
        text.push('\n');
    }
    check_writable(path)?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the audit log {}: {e}", path.display()))?;
    if ends_torn(&mut f)
        .map_err(|e| format!("cannot read the audit log {}: {e}", path.display()))?
    {
        tracing::warn!(path = %path.display(), "the audit log's last line was cut short (a crash mid-append); ending it before appending");
        text.insert(0, '\n');
    }
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(|e| format!("cannot append to the audit log {}: {e}", path.display()))
}

/// Whether the file's last byte is not a newline (a torn append).
fn ends_torn(f: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

fn log_event(r: &Record) {
    let phase = match r.phase {
        Phase::Intent => "intent",
        Phase::Outcome => "outcome",
        Phase::Reconciled => "reconciled",
    };
    tracing::info!(
        target: "distributor::audit",
        audit = true,
        phase,
        id = %r.id,
        operator = %r.operator,
        reason = %r.reason,
        repo = %r.repo,
        outcome = r.outcome.map(Outcome::as_str).unwrap_or_default(),
        commit = r.commit.as_deref().unwrap_or_default(),
        error = r.error.as_deref().unwrap_or_default(),
        "audit record"
    );
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
        let run = Run::new("alice".into(), "CVE-1".into(), "abc".into(), 0);
        let mut r = run.line(Phase::Outcome, "acme/a");
        r.outcome = Some(Outcome::Changed);
        r.commit = Some("c0ffee".into());
        append(&path, std::slice::from_ref(&r)).unwrap();
        append(&path, &[r]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["operator"], "alice");
        assert_eq!(v["outcome"], "changed");
        assert_eq!(v["time"], "1970-01-01T00:00:00Z");
        assert_eq!(v["phase"], "outcome");
        assert_eq!(v["id"], format!("{}/acme/a", run.id));
        assert!(v.get("error").is_none());
        assert!(v.get("files").is_none());
    }

    #[test]
    fn a_torn_last_line_is_ended_and_kept_not_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{\"phase\":\"intent\",\"repo\":\"acme/a\"").unwrap();
        let run = Run::new("alice".into(), "CVE-1".into(), "abc".into(), 0);
        let mut r = run.line(Phase::Outcome, "acme/b");
        r.outcome = Some(Outcome::Skipped);
        append(&path, &[r]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "{\"phase\":\"intent\",\"repo\":\"acme/a\"");
        let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(v["repo"], "acme/b");
    }
}
