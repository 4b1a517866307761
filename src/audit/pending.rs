//! Intents without outcomes: a forced run killed between its intent line
//! and its outcome line left a write that may or may not have landed. The
//! next run that applies reads them back ([`pending`]) and, from what it
//! observed of each repo, says which it was ([`reconcile`]): still at the
//! parent the intent names (not landed), holding every file the intent
//! wrote (landed), or neither (the branch moved on: unknown).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::{Outcome, Phase, Record};
use crate::plan::Plan;
use crate::time::{self, Epoch};

/// An intent line without its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Pending {
    pub id: String,
    #[serde(default)]
    pub time: String,
    pub operator: String,
    pub reason: String,
    pub revision: String,
    pub repo: String,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub files: BTreeMap<String, Option<String>>,
}

/// Just enough of any line to pair it.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    phase: Option<Phase>,
    #[serde(default)]
    id: Option<String>,
}

/// The intents in the audit log at `path` that no later line closes. A
/// missing log has none; lines that cannot be read (a torn append, a hand
/// edit) are skipped with a warning: the log is evidence, not input.
pub fn pending(path: &Path) -> Result<Vec<Pending>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read the audit log {}: {e}", path.display())),
    };
    Ok(pending_in(&bytes, &path.display().to_string()))
}

fn pending_in(bytes: &[u8], where_: &str) -> Vec<Pending> {
    let mut intents: Vec<Pending> = Vec::new();
    let mut closed: BTreeSet<String> = BTreeSet::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let Ok(head) = serde_json::from_slice::<Head>(line) else {
            tracing::warn!(
                path = where_,
                line = n + 1,
                "skipping an audit line that is not a record"
            );
            continue;
        };
        match (head.phase, head.id) {
            (Some(Phase::Intent), Some(_)) => match serde_json::from_slice::<Pending>(line) {
                Ok(p) => intents.push(p),
                Err(e) => {
                    tracing::warn!(path = where_, line = n + 1, error = %e, "skipping an unreadable audit intent")
                }
            },
            (Some(Phase::Outcome | Phase::Reconciled), Some(id)) => {
                closed.insert(id);
            }
            // Lines from before intents existed: nothing to pair.
            _ => {}
        }
    }
    intents.retain(|p| !closed.contains(&p.id));
    intents
}

/// The `reconciled` lines for the pending intents whose repo `plan`
/// observed (the others stay pending until a run covers them).
pub fn reconcile(pending: &[Pending], plan: &Plan, now: Epoch) -> Vec<Record> {
    pending
        .iter()
        .filter_map(|p| {
            let repo = plan.repos.iter().find(|r| r.repo.to_string() == p.repo)?;
            let tip = repo.tip.map(|t| t.to_string());
            let observed: BTreeMap<&str, Option<String>> = repo
                .files
                .iter()
                .map(|f| (f.path.as_str(), f.observed.map(|e| e.blob.to_string())))
                .collect();
            let (outcome, error) = finding(p, tip.as_deref(), &observed);
            Some(Record {
                time: time::rfc3339(now),
                phase: Phase::Reconciled,
                id: p.id.clone(),
                operator: p.operator.clone(),
                reason: p.reason.clone(),
                revision: p.revision.clone(),
                repo: p.repo.clone(),
                outcome: Some(outcome),
                commit: None,
                branch: None,
                parent: None,
                files: None,
                tip,
                closed_pull_request: None,
                error,
            })
        })
        .collect()
}

/// Landed, not landed, or unknown, from the default branch's tip and the
/// blobs observed at the intent's paths (paths no longer managed are not
/// observed and not compared).
fn finding(
    p: &Pending,
    tip: Option<&str>,
    observed: &BTreeMap<&str, Option<String>>,
) -> (Outcome, Option<String>) {
    let started = if p.time.is_empty() {
        "an earlier run"
    } else {
        p.time.as_str()
    };
    if tip == p.parent.as_deref() {
        return (
            Outcome::Failed,
            Some(format!(
                "not landed: the forced run of {started} stopped before this commit (the default branch is still at {})",
                tip.unwrap_or("no commit")
            )),
        );
    }
    let compared: Vec<bool> = p
        .files
        .iter()
        .filter_map(|(path, blob)| observed.get(path.as_str()).map(|o| o == blob))
        .collect();
    if !compared.is_empty() && compared.iter().all(|same| *same) {
        (
            Outcome::Changed,
            Some(format!(
                "landed: the forced run of {started} stopped before recording its commit; the default branch at {} holds the forced content",
                tip.unwrap_or("no commit")
            )),
        )
    } else {
        (
            Outcome::Unknown,
            Some(format!(
                "the forced run of {started} stopped before recording this write; the default branch has moved to {} and does not hold the forced content, so whether it landed cannot be told",
                tip.unwrap_or("no commit")
            )),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(id: &str, parent: Option<&str>, files: &[(&str, Option<&str>)]) -> Pending {
        Pending {
            id: id.into(),
            time: "2026-12-01T00:00:00Z".into(),
            operator: "alice".into(),
            reason: "CVE-1".into(),
            revision: "abc".into(),
            repo: "acme/a".into(),
            parent: parent.map(str::to_string),
            files: files
                .iter()
                .map(|(p, b)| (p.to_string(), b.map(str::to_string)))
                .collect(),
        }
    }

    #[test]
    fn intents_closed_by_an_outcome_or_a_reconciliation_are_not_pending() {
        let log = concat!(
            "{\"phase\":\"intent\",\"id\":\"r1/acme/a\",\"operator\":\"alice\",\"reason\":\"x\",\"revision\":\"v\",\"repo\":\"acme/a\",\"parent\":\"p\",\"files\":{\"ci.yml\":\"b\"}}\n",
            "{\"phase\":\"intent\",\"id\":\"r1/acme/b\",\"operator\":\"alice\",\"reason\":\"x\",\"revision\":\"v\",\"repo\":\"acme/b\",\"files\":{}}\n",
            "{\"phase\":\"intent\",\"id\":\"r1/acme/c\",\"operator\":\"alice\",\"reason\":\"x\",\"revision\":\"v\",\"repo\":\"acme/c\",\"files\":{}}\n",
            "{\"phase\":\"outcome\",\"id\":\"r1/acme/a\",\"outcome\":\"changed\"}\n",
            "{\"outcome\":\"changed\",\"repo\":\"acme/old-format\"}\n",
            "not json\n",
            "{\"phase\":\"reconciled\",\"id\":\"r1/acme/c\"}\n",
            "{\"phase\":\"intent\",\"id\":\"r2/acme/d\",\"operator\":\"al",
        );
        let p = pending_in(log.as_bytes(), "audit.jsonl");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].id, "r1/acme/b");
        assert_eq!(p[0].parent, None);
    }

    #[test]
    fn a_tip_still_at_the_parent_means_not_landed() {
        let p = intent("r/acme/a", Some("p1"), &[("ci.yml", Some("b2"))]);
        let obs = BTreeMap::from([("ci.yml", Some("b1".to_string()))]);
        let (o, e) = finding(&p, Some("p1"), &obs);
        assert_eq!(o, Outcome::Failed);
        assert!(e.unwrap().contains("not landed"));
    }

    #[test]
    fn a_moved_tip_holding_every_forced_file_means_landed() {
        let p = intent(
            "r/acme/a",
            Some("p1"),
            &[
                ("ci.yml", Some("b2")),
                ("gone.yml", None),
                (".github/lock.json", Some("l")),
            ],
        );
        let obs = BTreeMap::from([("ci.yml", Some("b2".to_string())), ("gone.yml", None)]);
        let (o, e) = finding(&p, Some("t2"), &obs);
        assert_eq!(o, Outcome::Changed);
        assert!(e.unwrap().contains("at t2 holds the forced content"));
    }

    #[test]
    fn a_moved_tip_without_the_forced_content_is_unknown() {
        let p = intent("r/acme/a", Some("p1"), &[("ci.yml", Some("b2"))]);
        let obs = BTreeMap::from([("ci.yml", Some("b3".to_string()))]);
        assert_eq!(finding(&p, Some("t2"), &obs).0, Outcome::Unknown);
        // Nothing comparable (the paths are no longer managed): unknown too.
        assert_eq!(
            finding(&p, Some("t2"), &BTreeMap::new()).0,
            Outcome::Unknown
        );
    }
}
