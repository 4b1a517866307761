//! Whose is a local proposal branch: every commit on it since the default
//! branch must be distributor's by content ([`crate::forge::ownership`]):
//! one parent, and a diff against it that touches only managed paths and
//! the lock, with the contents that commit's lock records. Locally every
//! commit is cheap to read, so the whole branch is checked, down to the
//! first commit the default branch contains.

use std::collections::{BTreeMap, HashSet};

use gix::objs::tree::EntryKind;

use super::{other, snapshot};
use crate::blob::ObjectId;
use crate::forge::{ForgeError, RepoId, RepoQuery, ownership};

/// Commits on a proposal branch beyond which it is not checked further
/// (and is taken for a human's): distributor stacks one commit per change.
const MAX_STACK: usize = 100;

/// Commits of the default branch looked at to find where the proposal
/// branch leaves it.
const MAX_DEFAULT_HISTORY: usize = 100_000;

/// Whether every commit from `tip` down to the default branch (`default`)
/// is distributor's by content, and the default-branch commit the branch
/// leaves it at (when found). A branch whose tip the default branch
/// contains carries no one's commits: distributor's to reuse.
pub(super) fn owned(
    git: &gix::Repository,
    repo: &RepoId,
    query: &RepoQuery,
    default: Option<ObjectId>,
    tip: ObjectId,
) -> Result<(bool, Option<ObjectId>), ForgeError> {
    let on_default: HashSet<gix::ObjectId> = match default {
        Some(d) => git
            .rev_walk([d.0])
            .all()
            .map_err(|e| other(repo, "cannot walk the default branch", e))?
            .take(MAX_DEFAULT_HISTORY)
            .filter_map(Result::ok)
            .map(|info| info.id)
            .collect(),
        None => HashSet::new(),
    };
    let mut current = tip;
    for _ in 0..MAX_STACK {
        if on_default.contains(&current.0) {
            return Ok((true, Some(current)));
        }
        let commit = git
            .find_commit(current.0)
            .map_err(|e| other(repo, &format!("cannot read commit {current}"), e))?;
        let parents: Vec<gix::ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
        let [parent] = parents[..] else {
            return Ok((false, None));
        };
        let parent = ObjectId(parent);
        let name = &query.proposal_branch;
        let this = snapshot(git, repo, name, Some(current), query)?;
        let before = snapshot(git, repo, name, Some(parent), query)?;
        let changed = changed_files(
            git,
            repo,
            tree_of(git, repo, parent)?,
            tree_of(git, repo, current)?,
        )?;
        if !ownership::by_content(&this, &before, Some(changed)) {
            return Ok((false, None));
        }
        current = parent;
    }
    Ok((false, None))
}

fn tree_of(
    git: &gix::Repository,
    repo: &RepoId,
    commit: ObjectId,
) -> Result<gix::ObjectId, ForgeError> {
    git.find_commit(commit.0)
        .and_then(|c| c.tree_id())
        .map(|t| t.detach())
        .map_err(|e| other(repo, &format!("cannot read the tree of {commit}"), e))
}

/// How many paths (files, symlinks, submodules) differ between two trees:
/// added, removed or changed. Identical subtrees are skipped.
fn changed_files(
    git: &gix::Repository,
    repo: &RepoId,
    old: gix::ObjectId,
    new: gix::ObjectId,
) -> Result<u64, ForgeError> {
    if old == new {
        return Ok(0);
    }
    let old = entries(git, repo, Some(old))?;
    let new = entries(git, repo, Some(new))?;
    let mut count = 0;
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        count += match (old.get(name), new.get(name)) {
            (Some(a), Some(b)) if a == b => 0,
            (a, b) => {
                let tree = |e: Option<&(EntryKind, gix::ObjectId)>| {
                    e.filter(|(k, _)| *k == EntryKind::Tree).map(|(_, id)| *id)
                };
                let files = |e: Option<&(EntryKind, gix::ObjectId)>| {
                    u64::from(e.is_some_and(|(k, _)| *k != EntryKind::Tree))
                };
                // Files on either side count once per path changed; trees
                // recurse.
                let below = match (tree(a), tree(b)) {
                    (Some(x), Some(y)) => changed_files(git, repo, x, y)?,
                    (Some(x), None) => count_files(git, repo, x)?,
                    (None, Some(y)) => count_files(git, repo, y)?,
                    (None, None) => 0,
                };
                below + files(a).max(files(b))
            }
        };
    }
    Ok(count)
}

/// The number of non-tree entries below `tree`.
fn count_files(
    git: &gix::Repository,
    repo: &RepoId,
    tree: gix::ObjectId,
) -> Result<u64, ForgeError> {
    let mut n = 0;
    for (kind, id) in entries(git, repo, Some(tree))?.into_values() {
        n += if kind == EntryKind::Tree {
            count_files(git, repo, id)?
        } else {
            1
        };
    }
    Ok(n)
}

fn entries(
    git: &gix::Repository,
    repo: &RepoId,
    id: Option<gix::ObjectId>,
) -> Result<BTreeMap<String, (EntryKind, gix::ObjectId)>, ForgeError> {
    let Some(id) = id else {
        return Ok(BTreeMap::new());
    };
    let tree = git
        .find_tree(id)
        .map_err(|e| other(repo, &format!("cannot read tree {id}"), e))?;
    let decoded = tree
        .decode()
        .map_err(|e| other(repo, &format!("cannot decode tree {id}"), e))?;
    Ok(decoded
        .entries
        .iter()
        .map(|e| (e.filename.to_string(), (e.mode.kind(), e.oid.to_owned())))
        .collect())
}
