//! One writer at a time per state directory and forge: `apply` and daemon
//! cycles hold an exclusive lock on `writer-<forge digest>.lock` in the
//! state directory while they write. A second writer waits a bounded time,
//! then refuses with a message naming the holder (pid, since when). `plan`
//! and `status` never take it. The lock is the operating system's (released
//! when the process dies, even by `kill -9`); the file's text only says who
//! holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a second writer waits for the first: long enough to ride out a
/// short overlapping run, short enough that a stuck CLI run says why.
pub const WAIT: Duration = Duration::from_secs(30);

/// A held writer lock; released when dropped.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
    path: PathBuf,
}

impl WriterLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file for `forge` (its description) in `state_dir`.
pub fn lock_path(state_dir: &Path, forge: &str) -> PathBuf {
    let digest = crate::blob::blob_id(forge.as_bytes()).to_string();
    state_dir.join(format!("writer-{}.lock", &digest[..12]))
}

/// Takes the writer lock for `forge` in `state_dir`, waiting up to `wait`
/// for another writer to finish; `now` is written into the file for the
/// next writer's message.
pub fn acquire(state_dir: &Path, forge: &str, wait: Duration) -> Result<WriterLock, String> {
    std::fs::create_dir_all(state_dir).map_err(|e| {
        format!(
            "cannot create the state directory {}: {e}",
            state_dir.display()
        )
    })?;
    let path = lock_path(state_dir, forge);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the writer lock {}: {e}", path.display()))?;
    let started = Instant::now();
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                if !announced {
                    tracing::warn!(lock = %path.display(), holder = %holder(&mut file), "another writer is applying to this forge; waiting for it");
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(format!(
                    "another distributor is writing to {forge} ({}; lock {}); waited {}s: try again once it has finished",
                    holder(&mut file),
                    path.display(),
                    wait.as_secs()
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
        }
    }
    let who = format!(
        "pid {} since {}",
        std::process::id(),
        crate::time::rfc3339(crate::time::now())
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(who.as_bytes()))
        .map_err(|e| format!("cannot write the writer lock {}: {e}", path.display()))?;
    Ok(WriterLock { _file: file, path })
}

/// Who holds the lock, as its file says.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .rewind()
        .and_then(|()| file.take(200).read_to_string(&mut text));
    let text = text.trim();
    if text.is_empty() {
        "holder unknown".into()
    } else {
        format!("held by {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_then_refuses_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "local:/srv/repos", WAIT).unwrap();
        let text = std::fs::read_to_string(first.path()).unwrap();
        assert!(
            text.starts_with(&format!("pid {} since ", std::process::id())),
            "{text}"
        );
        let err = acquire(dir.path(), "local:/srv/repos", Duration::from_millis(300)).unwrap_err();
        assert!(
            err.contains("another distributor is writing to local:/srv/repos"),
            "{err}"
        );
        assert!(
            err.contains(&format!("held by pid {}", std::process::id())),
            "{err}"
        );
        // Another forge has its own lock.
        let other = acquire(dir.path(), "github:https://api.github.com", WAIT).unwrap();
        assert_ne!(other.path(), first.path());
        // Released on drop: the next writer gets it at once.
        drop(first);
        let again = acquire(dir.path(), "local:/srv/repos", Duration::ZERO).unwrap();
        assert!(again.path().exists());
    }
}
