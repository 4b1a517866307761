//! The write claim distributor holds on one local repository while it
//! updates a ref, so that a lock file left by a distributor killed in the
//! middle of a ref update (`kill -9`, OOM, power cut) is recognised as a
//! dead writer's at once, not only after [`super::STALE_LOCK_AGE`].
//!
//! The claim is an exclusive `flock` on `<git dir>/distributor.claim`,
//! which the kernel drops when its holder dies, however it dies. While
//! holding it, the writer records in that file the lock files its ref
//! update may take (the ref's `.lock` and `packed-refs.lock`) and empties
//! the file when the update is over. So a writer that takes the claim and
//! finds the file non-empty knows the previous writer died mid-update, and
//! that the lock files it names are that dead writer's: each one still
//! there [`GRACE`] after it was taken (a live git holds a ref lock for
//! milliseconds) is removed, with a warning. Lock files the record does not
//! name are never touched here.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::other;
use crate::forge::{ForgeError, RepoId};

/// The claim file, in the repository's git directory.
pub(super) const CLAIM_FILE: &str = "distributor.claim";

/// How long a lock named by a dead writer's record must have existed
/// before it is removed: a git process that happens to take the same lock
/// right now holds it far shorter.
pub(super) const GRACE: Duration = Duration::from_millis(500);

/// How long to wait for another distributor process writing the same
/// repository before giving up.
const WAIT: Duration = Duration::from_secs(30);

/// A held claim: the record is emptied and the `flock` dropped with it.
pub(super) struct Claim {
    file: File,
}

impl Claim {
    /// Takes the claim on the repository at `git_dir` for an update that
    /// may take the lock files `locks` (paths inside `git_dir`), first
    /// clearing what a dead writer's record names.
    pub(super) fn take(
        git_dir: &Path,
        repo: &RepoId,
        locks: &[PathBuf],
    ) -> Result<Claim, ForgeError> {
        let path = git_dir.join(CLAIM_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| other(repo, &format!("cannot open {}", path.display()), e))?;
        lock_exclusive(&file, repo, &path)?;
        let mut left = String::new();
        // An unreadable record (not UTF-8: not ours) names nothing.
        let _ = file.read_to_string(&mut left);
        for rel in left.lines().filter_map(recorded_lock) {
            remove_dead_writers_lock(repo, &git_dir.join(rel))?;
        }
        let record: String = locks
            .iter()
            .filter_map(|l| l.strip_prefix(git_dir).ok())
            .filter_map(|l| l.to_str())
            .map(|l| format!("{l}\n"))
            .collect();
        let written = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(record.as_bytes()))
            .and_then(|()| file.sync_data());
        written.map_err(|e| other(repo, &format!("cannot write {}", path.display()), e))?;
        Ok(Claim { file })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // The update is over (done or failed cleanly): nothing to recover.
        // Closing the file releases the flock.
        let _ = self.file.set_len(0);
    }
}

/// Waits (briefly) for another distributor process writing this repository.
fn lock_exclusive(file: &File, repo: &RepoId, path: &Path) -> Result<(), ForgeError> {
    let deadline = Instant::now() + WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(ForgeError::Other(format!(
                    "{repo}: another distributor process has been writing this repository for \
                     {}s (it holds {}); try again later",
                    WAIT.as_secs(),
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(other(repo, &format!("cannot lock {}", path.display()), e));
            }
        }
    }
}

/// A line of the record, if it names a lock file inside the git directory
/// (a relative path of plain segments ending in `.lock`); anything else in
/// the file is ignored, never followed.
fn recorded_lock(line: &str) -> Option<&Path> {
    let path = Path::new(line);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && !line.is_empty() && line.ends_with(".lock")).then_some(path)
}

/// Removes `lock`, named by a dead writer's record, once it is [`GRACE`]
/// old, unless it disappears or is replaced meanwhile.
fn remove_dead_writers_lock(repo: &RepoId, lock: &Path) -> Result<(), ForgeError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(lock) else {
        return Ok(());
    };
    if !meta.is_file() {
        return Ok(());
    }
    let age = meta
        .modified()
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or(Duration::ZERO);
    if age < GRACE {
        std::thread::sleep(GRACE - age);
    }
    match std::fs::symlink_metadata(lock) {
        Ok(now) if (now.dev(), now.ino()) == (meta.dev(), meta.ino()) => {}
        _ => return Ok(()),
    }
    tracing::warn!(
        repo = %repo,
        path = %lock.display(),
        "removing a ref lock left by a distributor process that died during a ref update"
    );
    match std::fs::remove_file(lock) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(other(repo, &format!("cannot remove {}", lock.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoId {
        RepoId::new("acme", "app")
    }

    #[test]
    fn a_dead_writers_recorded_lock_is_removed_and_others_are_left() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path();
        std::fs::create_dir_all(git.join("refs/heads/distributor")).unwrap();
        let dead = git.join("refs/heads/distributor/sync.lock");
        let foreign = git.join("refs/heads/main.lock");
        std::fs::write(&dead, "").unwrap();
        std::fs::write(&foreign, "").unwrap();
        // What a writer killed during its update leaves, plus lines that
        // must never be followed.
        std::fs::write(
            git.join(CLAIM_FILE),
            "refs/heads/distributor/sync.lock\n../outside.lock\n/etc/passwd.lock\nrefs/heads/x\n",
        )
        .unwrap();
        let started = Instant::now();
        let claim = Claim::take(git, &repo(), &[git.join("refs/heads/main.lock")]).unwrap();
        assert!(!dead.exists(), "the dead writer's lock is removed");
        assert!(foreign.exists(), "a lock the record does not name stays");
        assert!(started.elapsed() >= GRACE - Duration::from_millis(50));
        assert_eq!(
            std::fs::read_to_string(git.join(CLAIM_FILE)).unwrap(),
            "refs/heads/main.lock\n"
        );
        drop(claim);
        assert_eq!(std::fs::read_to_string(git.join(CLAIM_FILE)).unwrap(), "");
    }

    #[test]
    fn a_claim_held_elsewhere_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().to_path_buf();
        let held = Claim::take(&git, &repo(), &[]).unwrap();
        let waiter = {
            let git = git.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let _c = Claim::take(&git, &repo(), &[]).unwrap();
                started.elapsed()
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(held);
        assert!(waiter.join().unwrap() >= Duration::from_millis(90));
    }

    #[test]
    fn only_plain_relative_lock_paths_are_recorded_locks() {
        assert!(recorded_lock("refs/heads/main.lock").is_some());
        assert!(recorded_lock("packed-refs.lock").is_some());
        assert!(recorded_lock("../x.lock").is_none());
        assert!(recorded_lock("/x.lock").is_none());
        assert!(recorded_lock("refs/heads/main").is_none());
        assert!(recorded_lock("").is_none());
    }
}
