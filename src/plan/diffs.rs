//! Unified diffs of a plan's changes, filled in once the executor has read
//! what the branch holds.

use std::collections::BTreeMap;

use super::{RepoPlan, Route, message};
use crate::blob::ObjectId;
use crate::render::DesiredFile;

/// Fills in unified diffs from blob contents (what the branch holds) and
/// desired contents. Files whose old content is not in `blobs` get no diff.
pub fn attach_diffs(
    plan: &mut RepoPlan,
    desired: &[DesiredFile],
    blobs: &BTreeMap<ObjectId, Vec<u8>>,
) {
    let merged = std::mem::take(&mut plan.merged_contents);
    let by_blob: BTreeMap<ObjectId, &[u8]> = desired
        .iter()
        .map(|d| (d.blob, d.content.as_slice()))
        .chain(merged.iter().map(|(id, c)| (*id, c.as_slice())))
        .collect();
    for f in &mut plan.files {
        if !matches!(f.route, Route::Direct | Route::Proposal) {
            continue;
        }
        let old: Option<&[u8]> = match f.observed {
            None => Some(&[]),
            Some(o) => blobs.get(&o.blob).map(Vec::as_slice),
        };
        let new: Option<&[u8]> = match f.desired {
            None => Some(&[]),
            Some(b) => by_blob.get(&b).copied(),
        };
        if let (Some(old), Some(new)) = (old, new) {
            f.diff = Some(message::unified_diff(
                &f.path,
                old,
                new,
                f.observed.is_none(),
                f.desired.is_none(),
            ));
        }
    }
    plan.merged_contents = merged;
}
