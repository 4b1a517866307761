//! Whose is a proposal commit: judged by its content, not by a message
//! line (a reviewer's `git commit --amend --no-edit` keeps the message).
//! A commit is distributor's when its diff against its parent touches only
//! managed paths and the lock file, with exactly the contents the lock on
//! the commit records. Anything else (another file, another content, no
//! readable lock) is a human's, and the branch is left alone.
//!
//! Pure: forges hand in what they observed of the commit and its parent
//! (the queried paths and the lock) and how many paths the commit changes
//! in all (GitHub's `changedFilesIfAvailable`, a tree diff locally), which
//! says whether it touched anything the query did not ask about.

use crate::forge::BranchSnapshot;
use crate::lock::Lock;

/// Whether the commit `tip` (as observed at the queried paths and its
/// lock) is distributor's by content against its parent `parent`, given
/// `changed`: the number of paths the commit changes in all (`None`: the
/// forge could not tell, which is not proof of anything, so a human's).
pub fn by_content(tip: &BranchSnapshot, parent: &BranchSnapshot, changed: Option<u64>) -> bool {
    let Some(lock) = tip
        .lock
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|t| Lock::parse("lock", t).ok())
    else {
        return false;
    };
    let mut differing: u64 = 0;
    for (path, entry) in &tip.files {
        let before = parent.files.get(path).copied().flatten();
        if before == *entry {
            continue;
        }
        differing += 1;
        let recorded = match (entry, lock.files.get(path)) {
            (Some(e), Some(l)) => e.blob == l.blob && e.mode == Some(l.mode),
            // A deletion: of a path the lock no longer manages.
            (None, None) => true,
            _ => false,
        };
        if !recorded {
            return false;
        }
    }
    if tip.lock != parent.lock {
        differing += 1;
    }
    changed == Some(differing)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::blob::{FileMode, blob_id};
    use crate::forge::FileEntry;
    use crate::lock::{LockEntry, Source};

    fn entry(content: &str) -> Option<FileEntry> {
        Some(FileEntry {
            blob: blob_id(content.as_bytes()),
            mode: Some(FileMode::Regular),
        })
    }

    fn lock_of(files: &[(&str, &str)]) -> Vec<u8> {
        let lock = Lock {
            version: crate::lock::LOCK_VERSION,
            source: Source {
                revision: "r1".into(),
                dirty: false,
                digest: None,
            },
            generator: "test".into(),
            files: files
                .iter()
                .map(|(p, c)| {
                    (
                        p.to_string(),
                        LockEntry {
                            bundle: "b".into(),
                            template: "t".into(),
                            blob: blob_id(c.as_bytes()),
                            mode: FileMode::Regular,
                            rendered: None,
                            rendered_text: None,
                        },
                    )
                })
                .collect(),
        };
        lock.to_bytes()
    }

    fn branch(files: &[(&str, Option<&str>)], lock: Option<Vec<u8>>) -> BranchSnapshot {
        BranchSnapshot {
            name: "b".into(),
            tip: Some(blob_id(b"tip")),
            files: files
                .iter()
                .map(|(p, c)| (p.to_string(), c.and_then(entry)))
                .collect::<BTreeMap<_, _>>(),
            lock,
            checks: None,
        }
    }

    #[test]
    fn a_commit_of_the_locked_contents_is_distributor_s() {
        let parent = branch(&[("ci.yml", Some("old")), ("gone", Some("x"))], None);
        let tip = branch(
            &[("ci.yml", Some("new")), ("gone", None)],
            Some(lock_of(&[("ci.yml", "new")])),
        );
        assert!(by_content(&tip, &parent, Some(3)));
    }

    #[test]
    fn other_contents_other_paths_or_no_lock_are_a_human_s() {
        let parent = branch(&[("ci.yml", Some("old"))], None);
        let lock = Some(lock_of(&[("ci.yml", "new")]));
        // An amended content.
        let amended = branch(&[("ci.yml", Some("tweaked"))], lock.clone());
        assert!(!by_content(&amended, &parent, Some(2)));
        // One more path changed than the query can see.
        let extra = branch(&[("ci.yml", Some("new"))], lock.clone());
        assert!(!by_content(&extra, &parent, Some(3)));
        // The forge could not count.
        assert!(!by_content(&extra, &parent, None));
        // No lock.
        let unlocked = branch(&[("ci.yml", Some("new"))], None);
        assert!(!by_content(&unlocked, &parent, Some(1)));
        // A deletion of a path the lock still records.
        let deleted = branch(&[("ci.yml", None)], lock);
        assert!(!by_content(&deleted, &parent, Some(2)));
    }
}
