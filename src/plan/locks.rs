//! The lock files of a plan: reading the one a branch holds, and building
//! the two a plan writes: what the default branch records after the
//! direct commit, and what the proposal branch records on top of it.

use std::collections::BTreeMap;

use super::{FilePlan, FileState, Route};
use crate::blob::ObjectId;
use crate::forge::RepoId;
use crate::lock::{LOCK_VERSION, Lock, LockEntry, Source, generator};
use crate::render::DesiredFile;

/// How errors name a repo's lock file.
pub(crate) fn location(lock_path: &str, repo: &RepoId) -> String {
    format!("{lock_path} in {repo}")
}

/// Parses a branch's lock file (`None` when it has none); `where_` names
/// it in errors.
pub(crate) fn read(where_: &str, bytes: Option<&[u8]>) -> Result<Option<Lock>, String> {
    let Some(bytes) = bytes else { return Ok(None) };
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{where_} is not UTF-8 text"))?;
    Lock::parse(where_, text).map(Some)
}

/// A lock of the run's platform revision with `files`.
pub(crate) fn new_lock(source: &Source, files: BTreeMap<String, LockEntry>) -> Lock {
    Lock {
        version: LOCK_VERSION,
        source: source.clone(),
        generator: generator(),
        files,
    }
}

/// Lock entries for planned files.
pub(crate) struct Entries<'a> {
    /// Desired files by path (every bundle's).
    pub(crate) desired: &'a BTreeMap<&'a str, &'a DesiredFile>,
    /// The default branch's lock entries.
    pub(crate) locked: &'a BTreeMap<String, LockEntry>,
}

impl Entries<'_> {
    /// The entry recording `f` as delivered; `None` for a file with
    /// nothing to deliver (an orphan: the lock forgets it).
    pub(crate) fn entry(&self, f: &FilePlan) -> Option<LockEntry> {
        Some(LockEntry {
            bundle: f.bundle.clone(),
            template: f.template.clone(),
            blob: f.desired?,
            mode: f.mode,
            rendered: f.rendered,
            rendered_text: f.rendered.and_then(|r| self.rendered_text(&f.path, r)),
        })
    }

    /// The text of render `r` of a merged file at `path`, the next merge's
    /// base: from the desired file when it is that render, else from the
    /// lock when it already carries it.
    fn rendered_text(&self, path: &str, r: ObjectId) -> Option<String> {
        let d = self.desired.get(path)?;
        if d.blob == r
            && let Ok(text) = std::str::from_utf8(&d.content)
        {
            return Some(text.to_string());
        }
        let l = self.locked.get(path)?;
        if l.rendered == Some(r) {
            l.rendered_text.clone()
        } else {
            None
        }
    }

    /// Records `f` as delivered in `lock`.
    fn record(&self, lock: &mut BTreeMap<String, LockEntry>, f: &FilePlan) {
        match self.entry(f) {
            Some(e) => lock.insert(f.path.clone(), e),
            None => lock.remove(&f.path),
        };
    }
}

/// What the default branch's lock records after the direct commit: files
/// in sync or committed directly as delivered, orphans deleted or released
/// forgotten; waived files and changes still proposed keep their old
/// entries (they stay drifted or outdated until the proposal is merged).
pub(crate) fn direct_lock(
    locked: &BTreeMap<String, LockEntry>,
    files: &[FilePlan],
    entries: &Entries<'_>,
) -> BTreeMap<String, LockEntry> {
    let mut lock = locked.clone();
    for f in files {
        match (f.state, f.route) {
            (FileState::Waived, _) => {}
            (FileState::Orphaned, Route::Direct | Route::Release) => {
                lock.remove(&f.path);
            }
            (_, Route::None | Route::Direct) => entries.record(&mut lock, f),
            _ => {}
        }
    }
    lock
}

/// What the proposal branch's lock records: the direct lock, with every
/// orphan forgotten and the proposed files (and those `carried` over from
/// other bundles) as delivered.
pub(crate) fn proposal_lock(
    direct: &BTreeMap<String, LockEntry>,
    files: &[FilePlan],
    carried: &[FilePlan],
    entries: &Entries<'_>,
) -> BTreeMap<String, LockEntry> {
    let mut lock = direct.clone();
    for f in files {
        match (f.state, f.route) {
            (FileState::Orphaned, _) => {
                lock.remove(&f.path);
            }
            (_, Route::Proposal) => entries.record(&mut lock, f),
            _ => {}
        }
    }
    for f in carried {
        entries.record(&mut lock, f);
    }
    lock
}

#[cfg(test)]
mod tests;
