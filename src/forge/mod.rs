//! The seam to where repositories live. A [`Forge`] observes many repos at
//! once (so GitHub can answer in one batched query), reads blobs on demand,
//! writes one commit per request with a compare-and-swap on the branch tip,
//! and deletes proposal branches. Backends: `local` (bare repos on disk,
//! via gix) and, in tests, `fake` (in memory). The GitHub backend plugs in
//! behind the same trait.
//!
//! Forges do no planning: they report what is there and do exactly the
//! write they are asked, refusing it if the branch moved.

pub mod local;

#[cfg(test)]
mod contract;
#[cfg(test)]
pub mod fake;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use serde::Serialize;

use crate::blob::{FileMode, ObjectId};

/// `owner/name` of a repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RepoId {
    pub owner: String,
    pub name: String,
}

impl RepoId {
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> Self {
        RepoId {
            owner: owner.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// What to look at in one repo.
#[derive(Debug, Clone)]
pub struct RepoQuery {
    pub repo: RepoId,
    /// The branch to observe; `None` means the repo's default branch.
    pub branch: Option<String>,
    /// Paths whose blob ids are wanted, on both branches.
    pub paths: Vec<String>,
    /// The lock file, whose content is wanted.
    pub lock_path: String,
    /// The proposal branch, observed too when it exists.
    pub proposal_branch: String,
}

/// A file as found on a branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub blob: ObjectId,
    /// `None` for entries that are not regular or executable files
    /// (symlinks, submodules, directories).
    pub mode: Option<FileMode>,
}

/// One branch as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchSnapshot {
    pub name: String,
    /// `None` for an unborn branch (empty repository).
    pub tip: Option<ObjectId>,
    /// Every queried path: `None` when absent.
    pub files: BTreeMap<String, Option<FileEntry>>,
    /// The lock file's bytes, when present.
    pub lock: Option<Vec<u8>>,
}

/// The proposal branch as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalSnapshot {
    pub branch: BranchSnapshot,
    /// The first parent of the branch tip: the default-branch commit the
    /// proposal was built on.
    pub base: Option<ObjectId>,
    /// Whether the tip was written by distributor. `false` means a human
    /// pushed to the branch; distributor then leaves it alone.
    pub by_distributor: bool,
}

/// A repo as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoObservation {
    pub repo: RepoId,
    pub default_branch: BranchSnapshot,
    pub proposal: Option<ProposalSnapshot>,
}

/// A file to write (`content: Some`) or delete (`content: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub path: String,
    pub content: Option<Vec<u8>>,
    pub mode: FileMode,
}

/// Commit identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub name: String,
    pub email: String,
}

/// One commit on one branch.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    pub repo: RepoId,
    pub branch: String,
    /// Parent of the new commit; `None` only for the first commit of an
    /// empty repository.
    pub parent: Option<ObjectId>,
    /// The compare-and-swap: the branch must point here (`None`: the branch
    /// must not exist yet). For a default branch this always equals
    /// `parent` (fast-forward only); a proposal branch may be reset.
    pub expected_tip: Option<ObjectId>,
    /// Changes applied to the parent's tree.
    pub files: Vec<FileWrite>,
    pub message: String,
    pub author: Signature,
}

impl CommitRequest {
    /// Every forge's rule for its default branch: a commit there must sit
    /// on the tip it replaces, so history is never rewritten.
    pub fn check_fast_forward(&self, default_branch: &str) -> Result<(), ForgeError> {
        if self.branch == default_branch && self.expected_tip != self.parent {
            return Err(ForgeError::Refused(format!(
                "refusing to rewrite history of the default branch `{}` of {}: \
                 the new commit's parent ({}) is not the branch tip it replaces ({})",
                self.branch,
                self.repo,
                describe_tip(self.parent),
                describe_tip(self.expected_tip)
            )));
        }
        Ok(())
    }

    /// The compare-and-swap: the branch must still be at `expected_tip`.
    pub fn check_tip(&self, actual: Option<ObjectId>) -> Result<(), ForgeError> {
        if actual == self.expected_tip {
            Ok(())
        } else {
            Err(ForgeError::conflict(
                &self.repo,
                &self.branch,
                self.expected_tip,
                actual,
            ))
        }
    }
}

/// Why a forge operation failed. Callers branch on these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    /// The repo does not exist or is not visible.
    #[error("repository {repo} not found{hint}")]
    NotFound { repo: RepoId, hint: String },
    /// The compare-and-swap failed: someone else moved the branch.
    #[error(
        "branch `{branch}` of {repo} moved since it was observed (expected {expected}, found {actual})"
    )]
    Conflict {
        repo: RepoId,
        branch: String,
        expected: String,
        actual: String,
    },
    /// The forge refused the write (protection rule, permission).
    #[error("{0}")]
    Refused(String),
    /// Anything else (I/O, corrupt objects, network).
    #[error("{0}")]
    Other(String),
}

impl ForgeError {
    /// The compare-and-swap failure for `branch`.
    pub fn conflict(
        repo: &RepoId,
        branch: &str,
        expected: Option<ObjectId>,
        actual: Option<ObjectId>,
    ) -> ForgeError {
        ForgeError::Conflict {
            repo: repo.clone(),
            branch: branch.to_string(),
            expected: describe_tip(expected),
            actual: describe_tip(actual),
        }
    }
}

/// Formats an optional object id for messages.
pub fn describe_tip(tip: Option<ObjectId>) -> String {
    tip.map(|t| t.to_string())
        .unwrap_or_else(|| "no branch".into())
}

/// Where repositories live. Methods are async so network forges fit;
/// futures are `Send` so the executor may run them on any runtime.
pub trait Forge: Send + Sync {
    /// Short description for logs, e.g. `local:/srv/repos`.
    fn describe(&self) -> String;

    /// How many repos one [`observe`](Forge::observe) call should carry.
    fn observe_batch_size(&self) -> usize;

    /// Observes many repos; one result per query, in order.
    fn observe(
        &self,
        queries: &[RepoQuery],
    ) -> impl Future<Output = Vec<Result<RepoObservation, ForgeError>>> + Send;

    /// Reads blob contents by id; ids that do not exist are an error.
    fn read_blobs(
        &self,
        repo: &RepoId,
        blobs: &[ObjectId],
    ) -> impl Future<Output = Result<BTreeMap<ObjectId, Vec<u8>>, ForgeError>> + Send;

    /// Writes one commit and moves the branch to it, if and only if the
    /// branch still points at `expected_tip`. Returns the new commit id.
    fn commit(
        &self,
        request: &CommitRequest,
    ) -> impl Future<Output = Result<ObjectId, ForgeError>> + Send;

    /// Deletes `branch` if it still points at `expected_tip`.
    fn delete_branch(
        &self,
        repo: &RepoId,
        branch: &str,
        expected_tip: ObjectId,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;
}

/// The trailer every distributor commit carries; its presence on a branch
/// tip marks the commit as distributor's own.
pub const VERSION_TRAILER: &str = "Distributor-Version:";
