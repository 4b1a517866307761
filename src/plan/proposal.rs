//! What happens to the proposal branch: nothing, create, update, leave up
//! to date, close, or leave a human's edits alone. An existing proposal
//! is left as it is when it already holds the final content of every
//! managed path, carries no file that is no longer rendered, and is built
//! on a base it still merges onto cleanly (the current tip, or an older
//! one whose managed paths and lock did not change since).

use std::collections::BTreeMap;

use super::files::Scope;
use super::{CommitPlan, FilePlan, FileState, ProposalPlan, Route, locks};
use crate::blob::ObjectId;
use crate::forge::{BranchSnapshot, ProposalSnapshot, RepoObservation};
use crate::lock::{Lock, LockEntry};
use crate::render::DesiredFile;

/// The proposal branch as observed, with its tip and its lock.
#[derive(Debug, Clone)]
pub(crate) struct Observed<'a> {
    pub(crate) snapshot: &'a ProposalSnapshot,
    pub(crate) tip: ObjectId,
    /// Its lock file; `None` when absent or unreadable.
    pub(crate) lock: Option<Lock>,
}

/// The observed proposal branch, if any. An existing branch without a tip
/// commit cannot be compared nor safely replaced: an error for the repo.
pub(crate) fn observe(obs: &RepoObservation) -> Result<Option<Observed<'_>>, String> {
    let Some(p) = &obs.proposal else {
        return Ok(None);
    };
    let tip = p.branch.tip.ok_or_else(|| {
        format!(
            "proposal branch `{}` in {} was observed without a tip commit; cannot tell what it proposes",
            p.branch.name, obs.repo
        )
    })?;
    let lock = locks::read("proposal lock", p.branch.lock.as_deref())
        .ok()
        .flatten();
    Ok(Some(Observed {
        snapshot: p,
        tip,
        lock,
    }))
}

/// The branch's fate, from the observed branch and the commit this run
/// wants on it. `current` says whether the branch already is what the
/// commit would make it (asked only when both exist). With a bundle
/// filter (`filtered`) the branch may carry other bundles' changes: only
/// an unfiltered run closes it.
pub(crate) fn decide(
    observed: Option<&Observed<'_>>,
    commit: Option<CommitPlan>,
    filtered: bool,
    current: impl FnOnce(&Observed<'_>) -> bool,
) -> ProposalPlan {
    let Some(p) = observed else {
        return match commit {
            None => ProposalPlan::None,
            Some(commit) => ProposalPlan::Create { commit },
        };
    };
    let tip = p.tip;
    match commit {
        pending if !p.snapshot.by_distributor => ProposalPlan::HumanEdited {
            tip,
            pending: pending.is_some(),
        },
        None if filtered => ProposalPlan::UpToDate { tip },
        None => ProposalPlan::Close { tip },
        Some(_) if current(p) => ProposalPlan::UpToDate { tip },
        Some(commit) => ProposalPlan::Update {
            previous_tip: tip,
            commit,
            stacked: false,
        },
    }
}

/// What a proposal is compared with.
pub(crate) struct Wanted<'a> {
    /// Every managed path's plan.
    pub(crate) files: &'a [FilePlan],
    pub(crate) default: &'a BranchSnapshot,
    /// A direct commit is about to move the default branch.
    pub(crate) direct: bool,
    pub(crate) scope: Scope<'a>,
    /// Desired files by path (every bundle's).
    pub(crate) desired: &'a BTreeMap<&'a str, &'a DesiredFile>,
    /// The default branch's lock entries.
    pub(crate) locked: &'a BTreeMap<String, LockEntry>,
}

/// Whether the existing proposal can stay as it is: no direct commit is
/// about to move the default branch, its base is still current, it holds
/// every file's final content and carries no stale file.
pub(crate) fn is_current(p: &Observed<'_>, want: &Wanted<'_>) -> bool {
    let branch = &p.snapshot.branch;
    !want.direct
        && base_current(p.snapshot, want.default)
        && holds_final(want.files, branch)
        && !carries_stale(p.lock.as_ref(), branch, want)
}

/// Whether the proposal is built on the default branch's tip (directly, or
/// through distributor's commits stacked on it), or its one commit on an
/// older one where none of the managed paths nor the lock has changed
/// since: it still merges cleanly, so a busy default branch does not make
/// distributor rewrite the proposal (one write per run). A stacked
/// proposal behind the default branch is rebuilt once, into one commit on
/// the new tip (the base of a stack is not observed).
pub(crate) fn base_current(p: &ProposalSnapshot, default: &BranchSnapshot) -> bool {
    p.base == default.tip
        || (p.contains_default && default.tip.is_some())
        || p.base_snapshot
            .as_ref()
            .is_some_and(|b| b.files == default.files && b.lock == default.lock)
}

/// Whether `branch` holds every managed path's final content: the desired
/// blob and mode, no orphan (except those released, left as they are).
pub(crate) fn holds_final(files: &[FilePlan], branch: &BranchSnapshot) -> bool {
    files.iter().all(|f| {
        let on_branch = branch.files.get(&f.path).copied().flatten();
        match (f.state, f.route) {
            (FileState::Orphaned, Route::Release) => true,
            (FileState::Orphaned, _) => on_branch.is_none(),
            _ => on_branch.is_some_and(|e| Some(e.blob) == f.desired && e.mode == Some(f.mode)),
        }
    })
}

/// Whether the branch still adds a file (of a bundle in scope) that is no
/// longer rendered, as its own lock names them; an unreadable or missing
/// lock counts as stale.
pub(crate) fn carries_stale(
    lock: Option<&Lock>,
    branch: &BranchSnapshot,
    want: &Wanted<'_>,
) -> bool {
    let Some(lock) = lock else { return true };
    lock.files.iter().any(|(path, e)| {
        want.scope.contains(&e.bundle)
            && !want.desired.contains_key(path.as_str())
            && !want.locked.contains_key(path)
            && branch.files.get(path).copied().flatten().is_some()
    })
}

#[cfg(test)]
mod tests;
