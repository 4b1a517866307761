//! The commits a plan writes: the direct commit on the default branch
//! and the proposal branch's commit (its files, lock and message).

use super::{CommitPlan, FilePlan, Route, message};
use crate::lock::{Lock, Source};
use message::Rollback;

/// The files on `route`, in path order.
pub(crate) fn routed(files: &[FilePlan], route: Route) -> Vec<&FilePlan> {
    files.iter().filter(|f| f.route == route).collect()
}

/// The direct commit on `branch`, when any file goes there.
pub(crate) fn direct_commit(
    files: &[FilePlan],
    branch: &str,
    lock: Lock,
    source: &Source,
    force_reason: Option<&str>,
    rollback: Option<&Rollback>,
) -> Option<CommitPlan> {
    let changed = routed(files, Route::Direct);
    (!changed.is_empty()).then(|| CommitPlan {
        branch: branch.to_string(),
        writes: changed.iter().map(|f| f.write()).collect(),
        lock,
        message: message::commit_message(
            message::Kind::Direct,
            &changed,
            source,
            force_reason,
            rollback,
        ),
    })
}

/// What the proposal branch carries: the proposed files and those carried
/// over from other bundles, in path order.
pub(crate) fn on_proposal<'a>(files: &'a [FilePlan], carried: &'a [FilePlan]) -> Vec<&'a FilePlan> {
    let mut all = routed(files, Route::Proposal);
    all.extend(carried.iter());
    all.sort_by(|a, b| a.path.cmp(&b.path));
    all
}

/// The proposal commit on `branch`, writing `on_proposal`: only when this
/// run proposes something itself (carried changes alone are no reason to
/// rewrite the branch).
pub(crate) fn proposal_commit(
    files: &[FilePlan],
    on_proposal: &[&FilePlan],
    branch: &str,
    lock: Lock,
    source: &Source,
    rollback: Option<&Rollback>,
) -> Option<CommitPlan> {
    files
        .iter()
        .any(|f| f.route == Route::Proposal)
        .then(|| CommitPlan {
            branch: branch.to_string(),
            writes: on_proposal.iter().map(|f| f.write()).collect(),
            lock,
            message: message::commit_message(
                message::Kind::Proposal,
                on_proposal,
                source,
                None,
                rollback,
            ),
        })
}

#[cfg(test)]
mod tests;
