//! Per-file state classification: desired content vs what the default
//! branch holds vs what the lock says distributor last wrote. The exact
//! rules are the contract with users (see `docs/ARCHITECTURE.md`), so they
//! live alone here with exhaustive tests.

use serde::Serialize;

use crate::blob::{FileMode, ObjectId};
use crate::forge::FileEntry;

/// The state of one managed path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// The branch holds exactly the desired content and mode.
    InSync,
    /// Absent and never written by distributor: create it.
    Missing,
    /// Unchanged since distributor wrote it, but the desired content
    /// changed: a safe update.
    Outdated,
    /// Changed by someone since distributor wrote it (or present but never
    /// managed): never overwritten silently.
    Drifted,
    /// In the lock but no longer desired.
    Orphaned,
    /// Edited by hand and changed by the template: the two merged cleanly
    /// (hand edits kept, template change applied).
    Merged,
    /// Edited by hand and changed by the template in the same lines: the
    /// render is proposed for review, never committed directly.
    Conflicted,
    /// Drifted, but a registry waiver exempts it until its expiry.
    Waived,
}

impl FileState {
    /// Every state.
    pub const ALL: [FileState; 8] = [
        FileState::InSync,
        FileState::Missing,
        FileState::Outdated,
        FileState::Drifted,
        FileState::Orphaned,
        FileState::Merged,
        FileState::Conflicted,
        FileState::Waived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FileState::InSync => "in_sync",
            FileState::Missing => "missing",
            FileState::Outdated => "outdated",
            FileState::Drifted => "drifted",
            FileState::Orphaned => "orphaned",
            FileState::Merged => "merged",
            FileState::Conflicted => "conflicted",
            FileState::Waived => "waived",
        }
    }
}

/// Why a file is in its state, when the state alone does not say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Drifted: content differs from what distributor wrote.
    EditedByHand,
    /// Drifted: same content, but someone changed the file mode.
    ModeChangedByHand,
    /// Drifted: distributor wrote it, someone deleted it.
    DeletedByHand,
    /// Drifted: the path exists but distributor never wrote it (adoption).
    NotManagedYet,
    /// Drifted: the path holds a symlink, submodule or directory.
    NotARegularFile,
    /// Outdated: only the file mode changes.
    ModeOnly,
    /// Orphaned: unchanged, so it can be deleted.
    NoLongerRendered,
    /// Orphaned: edited since written; distributor stops managing it.
    EditedThenAbandoned,
    /// Orphaned: already gone; only the lock entry remains.
    AlreadyRemoved,
    /// In sync: the file keeps hand edits distributor merged earlier, and
    /// the template has not changed since.
    HandEditsKept,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::EditedByHand => "edited since distributor wrote it",
            Reason::ModeChangedByHand => "file mode changed since distributor wrote it",
            Reason::DeletedByHand => "deleted since distributor wrote it",
            Reason::NotManagedYet => "exists but was never written by distributor",
            Reason::NotARegularFile => "path holds a symlink, submodule or directory",
            Reason::ModeOnly => "file mode changes",
            Reason::NoLongerRendered => "no longer rendered; unchanged, so it is deleted",
            Reason::EditedThenAbandoned => {
                "no longer rendered and edited by hand: left in place, no longer managed"
            }
            Reason::AlreadyRemoved => "no longer rendered and already removed",
            Reason::HandEditsKept => "hand edits kept by an earlier 3-way merge",
        }
    }
}

/// Classifies one path. `desired` is the rendered blob and mode, `observed`
/// what the branch has, `locked` the blob and mode the lock records. `None`
/// when the path is none of distributor's business.
pub fn classify(
    desired: Option<(ObjectId, FileMode)>,
    observed: Option<FileEntry>,
    locked: Option<(ObjectId, FileMode)>,
) -> Option<(FileState, Option<Reason>)> {
    use FileState::*;
    let same =
        |o: &FileEntry, (blob, mode): (ObjectId, FileMode)| o.blob == blob && o.mode == Some(mode);
    Some(match (desired, observed, locked) {
        (None, _, None) => return None,
        (Some(d), Some(o), _) if same(&o, d) => (InSync, None),
        (Some(_), None, None) => (Missing, None),
        (Some(_), None, Some(_)) => (Drifted, Some(Reason::DeletedByHand)),
        (Some(_), Some(o), _) if o.mode.is_none() => (Drifted, Some(Reason::NotARegularFile)),
        (Some(d), Some(o), Some(l)) if same(&o, l) => {
            (Outdated, (o.blob == d.0).then_some(Reason::ModeOnly))
        }
        (Some(_), Some(o), Some(l)) if o.blob == l.0 => (Drifted, Some(Reason::ModeChangedByHand)),
        (Some(_), Some(_), Some(_)) => (Drifted, Some(Reason::EditedByHand)),
        (Some(_), Some(_), None) => (Drifted, Some(Reason::NotManagedYet)),
        (None, None, Some(_)) => (Orphaned, Some(Reason::AlreadyRemoved)),
        (None, Some(o), Some(l)) if same(&o, l) => (Orphaned, Some(Reason::NoLongerRendered)),
        (None, Some(_), Some(_)) => (Orphaned, Some(Reason::EditedThenAbandoned)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::blob_id;

    const R: FileMode = FileMode::Regular;
    const X: FileMode = FileMode::Executable;

    fn entry(content: &[u8], mode: FileMode) -> FileEntry {
        FileEntry {
            blob: blob_id(content),
            mode: Some(mode),
        }
    }

    fn want(content: &[u8]) -> Option<(ObjectId, FileMode)> {
        Some((blob_id(content), R))
    }

    fn lock(content: &[u8]) -> Option<(ObjectId, FileMode)> {
        Some((blob_id(content), R))
    }

    #[test]
    fn in_sync_when_blob_and_mode_match_whatever_the_lock_says() {
        for lock in [None, lock(b"old"), lock(b"new")] {
            assert_eq!(
                classify(want(b"new"), Some(entry(b"new", R)), lock),
                Some((FileState::InSync, None))
            );
        }
    }

    #[test]
    fn missing_when_absent_and_never_written() {
        assert_eq!(
            classify(want(b"new"), None, None),
            Some((FileState::Missing, None))
        );
    }

    #[test]
    fn outdated_when_unchanged_since_written() {
        assert_eq!(
            classify(want(b"new"), Some(entry(b"old", R)), lock(b"old")),
            Some((FileState::Outdated, None))
        );
        // The template changed only the mode.
        assert_eq!(
            classify(Some((blob_id(b"s"), X)), Some(entry(b"s", R)), lock(b"s")),
            Some((FileState::Outdated, Some(Reason::ModeOnly)))
        );
        // Content and mode both change in the template.
        assert_eq!(
            classify(Some((blob_id(b"t"), X)), Some(entry(b"s", R)), lock(b"s")),
            Some((FileState::Outdated, None))
        );
    }

    #[test]
    fn drifted_cases() {
        assert_eq!(
            classify(want(b"new"), Some(entry(b"hand", R)), lock(b"old")),
            Some((FileState::Drifted, Some(Reason::EditedByHand)))
        );
        assert_eq!(
            classify(want(b"new"), None, lock(b"old")),
            Some((FileState::Drifted, Some(Reason::DeletedByHand)))
        );
        assert_eq!(
            classify(want(b"new"), Some(entry(b"theirs", R)), None),
            Some((FileState::Drifted, Some(Reason::NotManagedYet)))
        );
        let link = FileEntry {
            blob: blob_id(b"target"),
            mode: None,
        };
        assert_eq!(
            classify(want(b"new"), Some(link), lock(b"target")),
            Some((FileState::Drifted, Some(Reason::NotARegularFile)))
        );
    }

    #[test]
    fn a_hand_chmod_is_drift_not_an_update() {
        // Distributor wrote it executable; someone made it regular.
        assert_eq!(
            classify(
                Some((blob_id(b"s"), X)),
                Some(entry(b"s", R)),
                Some((blob_id(b"s"), X))
            ),
            Some((FileState::Drifted, Some(Reason::ModeChangedByHand)))
        );
        // Same, while the template also changed the content.
        assert_eq!(
            classify(
                Some((blob_id(b"t"), X)),
                Some(entry(b"s", R)),
                Some((blob_id(b"s"), X))
            ),
            Some((FileState::Drifted, Some(Reason::ModeChangedByHand)))
        );
        // An orphan whose mode was changed by hand is released, not deleted.
        assert_eq!(
            classify(None, Some(entry(b"s", R)), Some((blob_id(b"s"), X))),
            Some((FileState::Orphaned, Some(Reason::EditedThenAbandoned)))
        );
    }

    #[test]
    fn orphaned_cases() {
        assert_eq!(
            classify(None, Some(entry(b"old", R)), lock(b"old")),
            Some((FileState::Orphaned, Some(Reason::NoLongerRendered)))
        );
        assert_eq!(
            classify(None, Some(entry(b"hand", R)), lock(b"old")),
            Some((FileState::Orphaned, Some(Reason::EditedThenAbandoned)))
        );
        assert_eq!(
            classify(None, None, lock(b"old")),
            Some((FileState::Orphaned, Some(Reason::AlreadyRemoved)))
        );
    }

    #[test]
    fn unmanaged_paths_are_ignored() {
        assert_eq!(classify(None, Some(entry(b"x", R)), None), None);
        assert_eq!(classify(None, None, None), None);
    }
}
