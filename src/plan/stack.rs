//! A proposal update as a commit on top of the proposal's own tip (the
//! common case), so the pull request's head moves from the old proposal
//! commit straight to the new one in one push: GitHub closes a pull
//! request whose head passes through its base, and a commit on the tip
//! costs one write where a rebuild costs three.
//!
//! The update's commit is planned against the default branch (what the
//! proposal should make of it); here its writes are recomputed against the
//! proposal's tip: every observed path whose content on the tip differs
//! from that target is written, including a file the old proposal changed
//! that is now back in sync (it gets the base's content back, or is deleted
//! when the base lacks it). Only when the proposal's base is still current
//! (the default branch's managed paths and lock are what the proposal was
//! built on), so the tip's tree plus these writes is exactly the tree a
//! rebuild would give at those paths.
//!
//! A commit is stacked only when each of its writes is what its lock
//! records (so the commit is distributor's by content, see
//! [`crate::forge::ownership`]) and each restored content is at hand for
//! the executor; otherwise the proposal is rebuilt on the default branch.

use std::collections::{BTreeMap, BTreeSet};

use super::{CommitPlan, PlannedWrite};
use crate::blob::{FileMode, ObjectId};
use crate::forge::{BranchSnapshot, FileEntry};

/// What a stacked commit is computed from.
pub(crate) struct Tips<'a> {
    /// The proposal branch's tip, at the observed paths.
    pub(crate) proposal: &'a BranchSnapshot,
    /// The default branch (the proposal's base, at the managed paths).
    pub(crate) default: &'a BranchSnapshot,
    /// Blob ids whose content the executor has (renders, merges).
    pub(crate) at_hand: &'a BTreeSet<ObjectId>,
}

/// `commit`'s writes recomputed against the proposal's tip, or `None`
/// when it cannot be stacked (see the module docs).
pub(crate) fn writes_on_tip(commit: &CommitPlan, tips: &Tips<'_>) -> Option<Vec<PlannedWrite>> {
    let wanted: BTreeMap<&str, &PlannedWrite> =
        commit.writes.iter().map(|w| (w.path.as_str(), w)).collect();
    let paths: BTreeSet<&str> = tips
        .proposal
        .files
        .keys()
        .map(String::as_str)
        .chain(wanted.keys().copied())
        .collect();
    let mut writes = Vec::new();
    for path in paths {
        let target = match wanted.get(path) {
            Some(w) => w.blob.map(|b| (b, w.mode)),
            None => file(*tips.default.files.get(path)?)?,
        };
        let current = file(tips.proposal.files.get(path).copied().flatten())?;
        if current == target {
            continue;
        }
        let recorded = match (target, commit.lock.files.get(path)) {
            (Some((blob, mode)), Some(l)) => l.blob == blob && l.mode == mode,
            (None, None) => true,
            _ => false,
        };
        let restorable = wanted.contains_key(path)
            || target.is_none_or(|(blob, _)| tips.at_hand.contains(&blob));
        if !recorded || !restorable {
            return None;
        }
        writes.push(PlannedWrite {
            path: path.to_string(),
            blob: target.map(|(b, _)| b),
            mode: target.map_or(FileMode::Regular, |(_, m)| m),
        });
    }
    Some(writes)
}

/// A regular or executable file as (blob, mode), `Some(None)` for no file;
/// `None` for anything else (a symlink, a submodule): not stacked on.
#[allow(clippy::option_option)]
fn file(entry: Option<FileEntry>) -> Option<Option<(ObjectId, FileMode)>> {
    match entry {
        None => Some(None),
        Some(e) => Some(Some((e.blob, e.mode?))),
    }
}

#[cfg(test)]
mod tests;
