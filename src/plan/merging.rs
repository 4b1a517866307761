//! 3-way merges in planning: when a hand-edited file needs one (a file
//! merged earlier whose render changed, or a drifted file whose template
//! changed), its base, whether the planner has the blobs it needs (else
//! which ones to read), and what the merge makes of the file's state.
//! The merge itself is [`crate::merge::merge3`].

use std::collections::BTreeMap;

use super::files::{Finding, Sides};
use super::{FileState, Reason};
use crate::blob::{ObjectId, blob_id};
use crate::lock::LockEntry;
use crate::merge::{self, MergeOutcome};
use crate::render::DesiredFile;

/// A 3-way merge to try: the new render over the repository's content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MergeJob<'a> {
    /// What distributor last rendered.
    pub(crate) base: ObjectId,
    /// The new render.
    pub(crate) ours: &'a DesiredFile,
    /// What the repository holds.
    pub(crate) theirs: ObjectId,
}

/// A file distributor merged earlier (hand edits kept), found unchanged
/// since.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Earlier<'a> {
    /// The render has not changed: the file is in sync with the merged
    /// `blob` it holds.
    Unchanged { blob: ObjectId, rendered: ObjectId },
    /// The render changed: merge again, on the earlier render.
    Changed(MergeJob<'a>),
}

/// Whether an outdated file is one distributor merged earlier: the lock
/// records the render it merged, the repository still holds the merge,
/// and the mode is unchanged.
pub(crate) fn earlier_merge<'a>(s: &Sides<'a>, state: FileState) -> Option<Earlier<'a>> {
    let (d, l, o) = (s.want?, s.locked?, s.observed?);
    let r = l.rendered?;
    if state != FileState::Outdated || o.blob != l.blob || d.mode != l.mode {
        return None;
    }
    Some(if d.blob == r {
        Earlier::Unchanged {
            blob: l.blob,
            rendered: r,
        }
    } else {
        Earlier::Changed(MergeJob {
            base: r,
            ours: d,
            theirs: o.blob,
        })
    })
}

/// The merge a file edited by hand needs when its template changed:
/// based on what distributor last rendered. Never when forced (drift is
/// overwritten) nor when the mode was changed too.
pub(crate) fn drift_merge<'a>(
    s: &Sides<'a>,
    state: FileState,
    reason: Option<Reason>,
    forced: bool,
) -> Option<MergeJob<'a>> {
    if state != FileState::Drifted || reason != Some(Reason::EditedByHand) || forced {
        return None;
    }
    let (d, l, o) = (s.want?, s.locked?, s.observed?);
    if o.mode != Some(d.mode) {
        return None;
    }
    let base = l.rendered.unwrap_or(l.blob);
    (d.blob != base).then_some(MergeJob {
        base,
        ours: d,
        theirs: o.blob,
    })
}

/// What trying a merge gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MergeStep {
    /// The merge ran.
    Done(MergeOutcome),
    /// These blobs are needed first (the executor reads them and plans
    /// again).
    Needs(Vec<ObjectId>),
}

/// The merge base's text when the lock carries it: a render merged
/// earlier was never committed, so the lock embeds it.
pub(crate) fn embedded_base(locked: Option<&LockEntry>, base: ObjectId) -> Option<&[u8]> {
    locked
        .filter(|l| l.rendered == Some(base))
        .and_then(|l| l.rendered_text.as_deref())
        .filter(|t| blob_id(t.as_bytes()) == base)
        .map(str::as_bytes)
}

/// Runs the merge of `path` when its base and the repository's content
/// are at hand; else says which blobs to read.
pub(crate) fn resolve(
    path: &str,
    job: &MergeJob<'_>,
    locked: Option<&LockEntry>,
    contents: &BTreeMap<ObjectId, Vec<u8>>,
) -> MergeStep {
    let embedded = embedded_base(locked, job.base);
    let base_text = embedded.or_else(|| contents.get(&job.base).map(Vec::as_slice));
    match (base_text, contents.get(&job.theirs)) {
        (Some(base), Some(theirs)) => {
            MergeStep::Done(merge::merge3(path, base, theirs, &job.ours.content))
        }
        _ if embedded.is_some() => MergeStep::Needs(vec![job.theirs]),
        _ => MergeStep::Needs(vec![job.base, job.theirs]),
    }
}

/// What a merge makes of a file: a clean merge is delivered (or is already
/// there: in sync, hand edits kept), a conflict proposes the render for
/// review; without the blobs, kept hand edits are never overwritten.
pub(crate) fn apply(found: &mut Finding, job: &MergeJob<'_>, step: MergeStep) {
    match step {
        MergeStep::Done(outcome) => {
            match &outcome {
                MergeOutcome::Clean { content, .. } => {
                    let id = blob_id(content);
                    found.rendered = Some(job.ours.blob);
                    found.desired = Some(id);
                    (found.state, found.reason) = if id == job.theirs {
                        (FileState::InSync, Some(Reason::HandEditsKept))
                    } else {
                        (FileState::Merged, None)
                    };
                }
                MergeOutcome::Conflict { .. } => {
                    (found.state, found.reason) =
                        (FileState::Conflicted, Some(Reason::EditedByHand));
                }
            }
            found.merge = Some(outcome);
        }
        MergeStep::Needs(blobs) => {
            found.merge_needs = blobs;
            if found.state == FileState::Outdated {
                (found.state, found.reason) = (FileState::Drifted, Some(Reason::EditedByHand));
            }
        }
    }
}

#[cfg(test)]
mod tests;
