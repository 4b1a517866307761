//! The rollout log: the little state the rollout policy cannot read back
//! from the forge, as append-only JSON lines (`rollout.jsonl` in the state
//! directory). Pull requests opened in the last hour (GitHub only lists
//! open ones), direct commits (to find the checks they broke), when each
//! wave was first seen in sync (soak), operator promotions, halts and
//! resumes, escalations. Appends take an exclusive file lock, so the daemon
//! and an operator's `distributor promote` can write at the same time;
//! folding the lines gives [`State`]. The log compacts itself when it grows.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::time::Epoch;

/// The file name under the state directory.
pub const FILE: &str = "rollout.jsonl";

/// Lines past which an append compacts the log.
const COMPACT_AFTER: usize = 5_000;

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A pull request was opened (counts against `pr_hourly_limit`).
    PrOpened {
        at: Epoch,
        repo: String,
        number: u64,
        revision: String,
    },
    /// A direct commit landed on a default branch.
    DirectCommit {
        at: Epoch,
        repo: String,
        commit: String,
        revision: String,
    },
    /// Every repo of `wave` was seen in sync with `revision`; `since` is
    /// when its content last became what it is (carried over from an
    /// earlier revision that rendered the same content for the wave).
    WaveInSync {
        at: Epoch,
        wave: String,
        revision: String,
        digest: String,
        since: Epoch,
    },
    /// An operator let `revision` reach `wave` (and the waves before it)
    /// without waiting.
    Promoted {
        at: Epoch,
        revision: String,
        wave: String,
        operator: String,
    },
    /// The rollout of `revision` stopped.
    Halted {
        at: Epoch,
        revision: String,
        reason: String,
        /// A rollback's halt: an operator's decision that stands even over
        /// an earlier `resume` of the revision (a failure's does not).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rollback: bool,
    },
    /// An operator resumed a halted revision; it is not halted again.
    Resumed {
        at: Epoch,
        revision: String,
        operator: String,
    },
    /// A stale pull request got its escalation comment.
    Escalated {
        at: Epoch,
        repo: String,
        number: u64,
    },
    /// Open distributor pull requests across the whole fleet, after a full
    /// observation (filtered runs count the rest from here).
    OpenPullRequests { at: Epoch, repos: Vec<String> },
    /// `distributor rollback`: the fleet is pinned to `revision` (every run
    /// renders it) until an unpin; `from` are the later revisions it rolls
    /// back (halted in the same append).
    Pinned {
        at: Epoch,
        revision: String,
        from: Vec<String>,
        reason: String,
        operator: String,
    },
    /// `distributor unpin` (or `resume` of a later revision): runs follow
    /// the platform's head again.
    Unpinned {
        at: Epoch,
        revision: String,
        operator: String,
        /// Why (`unpin --reason`; a `resume` says which revision it
        /// resumed).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
}

impl Event {
    pub fn at(&self) -> Epoch {
        match self {
            Event::PrOpened { at, .. }
            | Event::DirectCommit { at, .. }
            | Event::WaveInSync { at, .. }
            | Event::Promoted { at, .. }
            | Event::Halted { at, .. }
            | Event::Resumed { at, .. }
            | Event::Escalated { at, .. }
            | Event::OpenPullRequests { at, .. }
            | Event::Pinned { at, .. }
            | Event::Unpinned { at, .. } => *at,
        }
    }
}

/// A wave seen in sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaveSync {
    pub at: Epoch,
    pub since: Epoch,
    pub digest: String,
}

/// The log, folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// (time, repo, number) of pull requests opened.
    pub prs_opened: Vec<(Epoch, String, u64)>,
    /// Latest direct commit per repo: (commit, revision, time).
    pub direct_commits: BTreeMap<String, (String, String, Epoch)>,
    /// (revision, wave) -> first seen in sync.
    pub waves_in_sync: BTreeMap<(String, String), WaveSync>,
    /// revision -> waves promoted to, with operator and time.
    pub promoted: BTreeMap<String, Vec<(String, String, Epoch)>>,
    /// revision -> (reason, time).
    pub halted: BTreeMap<String, (String, Epoch)>,
    /// revision -> (operator, time).
    pub resumed: BTreeMap<String, (String, Epoch)>,
    /// (repo, pull request number) escalated.
    pub escalated: BTreeSet<(String, u64)>,
    /// Last fleet-wide count of open pull requests.
    pub open_prs: Option<(Epoch, BTreeSet<String>)>,
    /// The revision the fleet is pinned to by a rollback, if any.
    pub pin: Option<Pin>,
}

/// A fleet pinned to an earlier revision (`distributor rollback`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pin {
    /// The revision every run renders while the pin holds.
    pub revision: String,
    /// The later revisions rolled back.
    pub from: Vec<String>,
    pub reason: String,
    pub operator: String,
    pub at: Epoch,
}

impl State {
    /// Every revision the log names (waves in sync, promotions, halts,
    /// resumes, direct commits).
    pub fn revisions(&self) -> impl Iterator<Item = &str> {
        self.waves_in_sync
            .keys()
            .map(|(r, _)| r.as_str())
            .chain(self.promoted.keys().map(String::as_str))
            .chain(self.halted.keys().map(String::as_str))
            .chain(self.resumed.keys().map(String::as_str))
            .chain(self.direct_commits.values().map(|(_, r, _)| r.as_str()))
            .chain(self.pin.iter().map(|p| p.revision.as_str()))
    }

    /// Folds events in order.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> State {
        let mut s = State::default();
        for e in events {
            s.apply(e);
        }
        s
    }

    pub fn apply(&mut self, e: &Event) {
        match e.clone() {
            Event::PrOpened {
                at, repo, number, ..
            } => self.prs_opened.push((at, repo, number)),
            Event::DirectCommit {
                at,
                repo,
                commit,
                revision,
            } => {
                self.direct_commits.insert(repo, (commit, revision, at));
            }
            Event::WaveInSync {
                at,
                wave,
                revision,
                digest,
                since,
            } => {
                self.waves_in_sync
                    .entry((revision, wave))
                    .or_insert(WaveSync { at, since, digest });
            }
            Event::Promoted {
                at,
                revision,
                wave,
                operator,
            } => self
                .promoted
                .entry(revision)
                .or_default()
                .push((wave, operator, at)),
            Event::Halted {
                at,
                revision,
                reason,
                rollback,
            } => {
                if rollback {
                    self.resumed.remove(&revision);
                    self.halted.insert(revision, (reason, at));
                } else {
                    self.halted.entry(revision).or_insert((reason, at));
                }
            }
            Event::Resumed {
                at,
                revision,
                operator,
            } => {
                self.halted.remove(&revision);
                self.resumed.insert(revision, (operator, at));
            }
            Event::Escalated { repo, number, .. } => {
                self.escalated.insert((repo, number));
            }
            Event::OpenPullRequests { at, repos } => {
                self.open_prs = Some((at, repos.into_iter().collect()));
            }
            Event::Pinned {
                at,
                revision,
                from,
                reason,
                operator,
            } => {
                self.pin = Some(Pin {
                    revision,
                    from,
                    reason,
                    operator,
                    at,
                });
            }
            // An unpin lifts the pin it names; one for an older pin (two
            // operators at once) leaves a newer pin in place.
            Event::Unpinned { revision, .. } => {
                if self.pin.as_ref().is_some_and(|p| p.revision == revision) {
                    self.pin = None;
                }
            }
        }
    }

    /// The events that rebuild this state, for compaction: what still
    /// matters at `now` (pull requests of the last two hours, the rest
    /// whole, one line per fact).
    fn compacted(&self, now: Epoch) -> Vec<Event> {
        let mut out = Vec::new();
        for (at, repo, number) in &self.prs_opened {
            if *at >= now - 2 * 3600 {
                out.push(Event::PrOpened {
                    at: *at,
                    repo: repo.clone(),
                    number: *number,
                    revision: String::new(),
                });
            }
        }
        for (repo, (commit, revision, at)) in &self.direct_commits {
            out.push(Event::DirectCommit {
                at: *at,
                repo: repo.clone(),
                commit: commit.clone(),
                revision: revision.clone(),
            });
        }
        for ((revision, wave), w) in &self.waves_in_sync {
            out.push(Event::WaveInSync {
                at: w.at,
                wave: wave.clone(),
                revision: revision.clone(),
                digest: w.digest.clone(),
                since: w.since,
            });
        }
        for (revision, list) in &self.promoted {
            for (wave, operator, at) in list {
                out.push(Event::Promoted {
                    at: *at,
                    revision: revision.clone(),
                    wave: wave.clone(),
                    operator: operator.clone(),
                });
            }
        }
        for (revision, (operator, at)) in &self.resumed {
            out.push(Event::Resumed {
                at: *at,
                revision: revision.clone(),
                operator: operator.clone(),
            });
        }
        for (revision, (reason, at)) in &self.halted {
            out.push(Event::Halted {
                at: *at,
                revision: revision.clone(),
                reason: reason.clone(),
                rollback: false,
            });
        }
        for (repo, number) in &self.escalated {
            out.push(Event::Escalated {
                at: now,
                repo: repo.clone(),
                number: *number,
            });
        }
        if let Some((at, repos)) = &self.open_prs {
            out.push(Event::OpenPullRequests {
                at: *at,
                repos: repos.iter().cloned().collect(),
            });
        }
        if let Some(pin) = &self.pin {
            out.push(Event::Pinned {
                at: pin.at,
                revision: pin.revision.clone(),
                from: pin.from.clone(),
                reason: pin.reason.clone(),
                operator: pin.operator.clone(),
            });
        }
        // Halts before resumes would be undone: keep time order.
        out.sort_by_key(Event::at);
        out
    }
}

/// The rollout log of a state directory.
#[derive(Debug, Clone)]
pub struct Log {
    path: PathBuf,
}

impl Log {
    /// The log in `dir` (created on first append).
    pub fn in_dir(dir: &Path) -> Log {
        Log {
            path: dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and folds the log; a missing file is an empty state. A line
    /// that is not an event is an error naming the file and line, except a
    /// torn last line (a crash mid-append), which is skipped with a warning.
    pub fn read(&self) -> Result<State, String> {
        Ok(State::fold(&self.events()?))
    }

    fn events(&self) -> Result<Vec<Event>, String> {
        // Bytes, not a string: a crash mid-append can cut a multi-byte
        // character in half, and that torn tail must not fail the read.
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot read {}: {e}", self.path.display())),
        };
        let torn_tail = !bytes.is_empty() && !bytes.ends_with(b"\n");
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let lines: Vec<&[u8]> = if body.is_empty() {
            Vec::new()
        } else {
            body.split(|b| *b == b'\n').collect()
        };
        let mut events = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            match serde_json::from_slice::<Event>(line) {
                Ok(e) => events.push(e),
                Err(_) if torn_tail && i + 1 == lines.len() => {
                    tracing::warn!(
                        path = %self.path.display(),
                        line = i + 1,
                        bytes = line.len(),
                        "ignoring an incomplete last line of the rollout log (a crash mid-append); the next append removes it"
                    );
                }
                Err(e) => {
                    return Err(format!(
                        "{}:{}: not a rollout log event ({e}); fix or remove the line",
                        self.path.display(),
                        i + 1
                    ));
                }
            }
        }
        Ok(events)
    }

    /// Under the lock, before an append: a last line without its newline
    /// (a crash mid-append) would otherwise be glued to the next record,
    /// corrupting it too. An unterminated line that is a whole event (the
    /// crash fell just before its newline; reads already count it) gets its
    /// newline; anything else is cut back to just after the last newline.
    fn repair_torn_tail(&self) -> Result<(), String> {
        use std::io::{Read, Seek, SeekFrom};
        let where_ = || self.path.display().to_string();
        let mut f = match OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot open {}: {e}", where_())),
        };
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {}: {e}", where_()))?;
        if bytes.is_empty() || bytes.ends_with(b"\n") {
            return Ok(());
        }
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let tail = &bytes[keep..];
        if serde_json::from_slice::<Event>(tail).is_ok() {
            tracing::warn!(path = %where_(), "the rollout log's last event had no newline (a crash mid-append); completing it");
            f.seek(SeekFrom::End(0))
                .and_then(|_| f.write_all(b"\n"))
                .and_then(|()| f.sync_data())
                .map_err(|e| format!("cannot repair {}: {e}", where_()))?;
        } else {
            tracing::warn!(
                path = %where_(),
                dropped_bytes = tail.len(),
                "dropping the torn last line of the rollout log (a crash mid-append)"
            );
            f.set_len(keep as u64)
                .and_then(|()| f.sync_data())
                .map_err(|e| format!("cannot repair {}: {e}", where_()))?;
        }
        Ok(())
    }

    /// Appends events (one write, then fsync) under the log's lock;
    /// compacts first when the log has grown past its limit.
    pub fn append(&self, events: &[Event], now: Epoch) -> Result<(), String> {
        if events.is_empty() {
            return Ok(());
        }
        let where_ = || self.path.display().to_string();
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let lock = self.lock()?;
        self.repair_torn_tail()?;
        let mut text = String::new();
        for e in events {
            text.push_str(&serde_json::to_string(e).expect("events serialise"));
            text.push('\n');
        }
        // Counting lines is enough to decide; events are parsed only to
        // compact (a run appends after every repo).
        if self.line_count()? + events.len() > COMPACT_AFTER {
            let mut state = State::fold(&self.events()?);
            for e in events {
                state.apply(e);
            }
            let mut all = String::new();
            for e in state.compacted(now) {
                all.push_str(&serde_json::to_string(&e).expect("events serialise"));
                all.push('\n');
            }
            let tmp = self.path.with_extension("jsonl.tmp");
            let mut f =
                File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            f.write_all(all.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, &self.path)
                .map_err(|e| format!("cannot replace {}: {e}", where_()))?;
        } else {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| format!("cannot open {}: {e}", where_()))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_data())
                .map_err(|e| format!("cannot append to {}: {e}", where_()))?;
        }
        drop(lock);
        self.match_dir_owner(&self.path);
        Ok(())
    }

    /// A file created by root (`sudo distributor promote` on the service's
    /// state directory) is given to the directory's owner, so the service
    /// (systemd's dynamic user) can still append to it. Best effort.
    fn match_dir_owner(&self, file: &Path) {
        use std::os::unix::fs::MetadataExt;
        let (Some(dir), Ok(f)) = (self.path.parent(), std::fs::metadata(file)) else {
            return;
        };
        if let Ok(d) = std::fs::metadata(dir)
            && (d.uid(), d.gid()) != (f.uid(), f.gid())
        {
            let _ = std::os::unix::fs::chown(file, Some(d.uid()), Some(d.gid()));
        }
    }

    /// The number of lines in the log (0 when it does not exist).
    fn line_count(&self) -> Result<usize, String> {
        match std::fs::read(&self.path) {
            Ok(b) => Ok(b.iter().filter(|c| **c == b'\n').count()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }

    /// An exclusive lock on `rollout.jsonl.lock`, released on drop.
    fn lock(&self) -> Result<File, String> {
        let path = self.path.with_extension("jsonl.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        f.lock()
            .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        self.match_dir_owner(&path);
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(at: Epoch, repo: &str, number: u64) -> Event {
        Event::PrOpened {
            at,
            repo: repo.into(),
            number,
            revision: "r1".into(),
        }
    }

    #[test]
    fn appends_and_folds_across_instances() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::in_dir(dir.path());
        assert_eq!(log.read().unwrap(), State::default());
        log.append(&[opened(10, "acme/a", 1), opened(20, "acme/b", 2)], 30)
            .unwrap();
        // A new process (restart) reads the same state back.
        let again = Log::in_dir(dir.path()).read().unwrap();
        assert_eq!(
            again.prs_opened,
            vec![(10, "acme/a".into(), 1), (20, "acme/b".into(), 2)]
        );
    }

    #[test]
    fn a_resume_clears_a_halt_and_the_first_sync_wins() {
        let events = vec![
            Event::Halted {
                at: 1,
                revision: "r1".into(),
                reason: "checks failed".into(),
                rollback: false,
            },
            Event::WaveInSync {
                at: 2,
                wave: "canary".into(),
                revision: "r1".into(),
                digest: "d".into(),
                since: 2,
            },
            Event::WaveInSync {
                at: 9,
                wave: "canary".into(),
                revision: "r1".into(),
                digest: "d".into(),
                since: 9,
            },
            Event::Resumed {
                at: 3,
                revision: "r1".into(),
                operator: "alice".into(),
            },
        ];
        let s = State::fold(&events);
        assert!(s.halted.is_empty());
        assert_eq!(s.resumed["r1"].0, "alice");
        assert_eq!(
            s.waves_in_sync[&("r1".to_string(), "canary".to_string())].since,
            2
        );
    }

    #[test]
    fn a_torn_last_line_is_skipped_but_a_bad_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::in_dir(dir.path());
        let good = serde_json::to_string(&opened(1, "acme/a", 1)).unwrap();
        std::fs::write(log.path(), format!("{good}\n{{\"event\":\"pr_op")).unwrap();
        assert_eq!(log.read().unwrap().prs_opened.len(), 1);
        std::fs::write(log.path(), format!("nonsense\n{good}\n")).unwrap();
        let e = log.read().unwrap_err();
        assert!(
            e.contains("rollout.jsonl:1: not a rollout log event"),
            "{e}"
        );
    }

    #[test]
    fn an_append_after_a_torn_tail_drops_it_and_every_line_parses() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::in_dir(dir.path());
        let good = serde_json::to_string(&opened(1, "acme/a", 1)).unwrap();
        // Torn in the middle of a multi-byte character, too.
        let mut bytes = format!("{good}\n{{\"event\":\"halted\",\"reason\":\"é").into_bytes();
        bytes.pop();
        std::fs::write(log.path(), &bytes).unwrap();
        assert_eq!(log.read().unwrap().prs_opened.len(), 1);
        log.append(&[opened(2, "acme/b", 2)], 3).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert!(text.ends_with('\n'), "{text}");
        assert!(!text.contains("halted"), "{text}");
        for line in text.lines() {
            serde_json::from_str::<Event>(line).unwrap();
        }
        let s = log.read().unwrap();
        assert_eq!(
            s.prs_opened,
            vec![(1, "acme/a".into(), 1), (2, "acme/b".into(), 2)]
        );
        assert!(s.halted.is_empty());
    }

    #[test]
    fn a_log_of_only_a_torn_line_is_empty_and_repaired_by_an_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::in_dir(dir.path());
        std::fs::write(log.path(), "{\"event\":\"pr_op").unwrap();
        assert_eq!(log.read().unwrap(), State::default());
        log.append(&[opened(2, "acme/b", 2)], 3).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(
            text,
            format!(
                "{}\n",
                serde_json::to_string(&opened(2, "acme/b", 2)).unwrap()
            )
        );
    }

    #[test]
    fn a_whole_last_event_without_its_newline_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::in_dir(dir.path());
        let good = serde_json::to_string(&opened(1, "acme/a", 1)).unwrap();
        std::fs::write(log.path(), &good).unwrap();
        assert_eq!(log.read().unwrap().prs_opened.len(), 1);
        log.append(&[opened(2, "acme/b", 2)], 3).unwrap();
        assert_eq!(log.read().unwrap().prs_opened.len(), 2);
    }

    #[test]
    fn a_clean_log_is_untouched_by_the_repair() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::in_dir(dir.path());
        log.append(&[opened(1, "acme/a", 1), opened(2, "acme/b", 2)], 3)
            .unwrap();
        let before = std::fs::read(log.path()).unwrap();
        let lock = log.lock().unwrap();
        log.repair_torn_tail().unwrap();
        assert_eq!(std::fs::read(log.path()).unwrap(), before);
        drop(lock);
        log.append(&[opened(4, "acme/c", 3)], 5).unwrap();
        let after = std::fs::read(log.path()).unwrap();
        assert_eq!(after[..before.len()], before[..]);
    }

    #[test]
    fn a_torn_line_in_the_middle_stays_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::in_dir(dir.path());
        let good = serde_json::to_string(&opened(1, "acme/a", 1)).unwrap();
        let broken = format!("{good}\n{{\"event\":\"pr_op{good}\n");
        std::fs::write(log.path(), &broken).unwrap();
        let e = log.read().unwrap_err();
        assert!(
            e.contains("rollout.jsonl:2: not a rollout log event"),
            "{e}"
        );
        // A run stops at that read, before any write. An append (which
        // does not parse the log, it runs after every repo) never touches
        // the earlier lines: the error stays for a human to see.
        log.append(&[opened(2, "acme/b", 2)], 3).unwrap();
        let after = std::fs::read_to_string(log.path()).unwrap();
        assert!(after.starts_with(&broken), "{after}");
        assert!(log.read().unwrap_err().contains("rollout.jsonl:2"));
    }

    #[test]
    fn compaction_keeps_every_fact_that_still_matters() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::in_dir(dir.path());
        let now = 100_000;
        let mut events: Vec<Event> = (0..COMPACT_AFTER as u64)
            .map(|i| opened(now - 10 * 3600 + i as Epoch, "acme/old", i))
            .collect();
        events.push(Event::Halted {
            at: 5,
            revision: "r0".into(),
            reason: "x".into(),
            rollback: false,
        });
        log.append(&events, now).unwrap();
        log.append(&[opened(now - 60, "acme/new", 7)], now).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert!(text.lines().count() < 10, "compacted: {text}");
        let s = log.read().unwrap();
        assert_eq!(s.prs_opened, vec![(now - 60, "acme/new".into(), 7)]);
        assert!(s.halted.contains_key("r0"));
    }
}
