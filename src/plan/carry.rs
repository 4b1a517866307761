//! Bundle-filtered runs (`--bundle`): the changes of bundles out of scope
//! that the existing proposal already carries stay on it when it is
//! rebuilt, exactly as it proposes them.

use std::collections::BTreeMap;

use super::files::Scope;
use super::{FilePlan, FileState, Route, classify};
use crate::forge::{BranchSnapshot, ProposalSnapshot};
use crate::lock::LockEntry;
use crate::render::DesiredFile;

/// Other bundles' changes carried on the proposal: only on a filtered
/// run, and only from a proposal distributor wrote.
pub(crate) fn carried_files(
    desired: &[DesiredFile],
    scope: Scope<'_>,
    proposal: Option<&ProposalSnapshot>,
    default: &BranchSnapshot,
    locked: &BTreeMap<String, LockEntry>,
) -> Vec<FilePlan> {
    match proposal {
        Some(p) if scope.filtered() && p.by_distributor => desired
            .iter()
            .filter(|d| !scope.contains(&d.bundle))
            .filter_map(|d| carried_file(d, &p.branch, default, locked))
            .collect(),
        _ => Vec::new(),
    }
}

/// The plan of an out-of-scope desired file, when the proposal branch
/// holds exactly its render (content and mode) and that is a change to
/// the default branch.
pub(crate) fn carried_file(
    d: &DesiredFile,
    proposal: &BranchSnapshot,
    default: &BranchSnapshot,
    locked: &BTreeMap<String, LockEntry>,
) -> Option<FilePlan> {
    let on_proposal = proposal.files.get(&d.path).copied().flatten()?;
    if on_proposal.blob != d.blob || on_proposal.mode != Some(d.mode) {
        return None;
    }
    let observed = default.files.get(&d.path).copied().flatten();
    let lock_entry = locked.get(&d.path);
    let (state, reason) = classify(
        Some((d.blob, d.mode)),
        observed,
        lock_entry.map(|l| (l.blob, l.mode)),
    )?;
    (state != FileState::InSync).then(|| FilePlan {
        path: d.path.clone(),
        state,
        reason,
        route: Route::Proposal,
        bundle: d.bundle.clone(),
        template: d.template.clone(),
        desired: Some(d.blob),
        mode: d.mode,
        observed,
        locked: lock_entry.map(|l| l.blob),
        diff: None,
        rendered: None,
        merge: None,
        note: None,
        merge_needs: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
