//! The seam to where repositories live. A [`Forge`] observes many repos at
//! once (so GitHub can answer in one batched query), reads blobs on demand,
//! writes one commit per request with a compare-and-swap on the branch tip,
//! and deletes proposal branches. Backends: `local` (bare repos on disk,
//! via gix) and, in tests, `fake` (in memory). The GitHub backend plugs in
//! behind the same trait.
//!
//! Forges do no planning: they report what is there and do exactly the
//! write they are asked, refusing it if the branch moved.

pub mod any;
pub mod github;
pub mod local;
pub mod ownership;
pub mod spec;

#[cfg(test)]
mod contract;
#[cfg(test)]
pub mod fake;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use octocrab::secrecy::SecretString;
use serde::Serialize;

use crate::blob::{FileMode, ObjectId};
pub use any::AnyForge;
pub use spec::ForgeSpec;

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
    /// The combined check status of the tip commit, on forges that run
    /// checks (`None`: no checks reported, or not known).
    pub checks: Option<Checks>,
}

/// The combined status of a commit's checks (GitHub's status check
/// rollup), as the rollout policy reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Checks {
    /// Still running, or expected and not reported yet.
    Pending,
    Success,
    /// A check failed or errored.
    Failure,
}

/// The proposal branch as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalSnapshot {
    pub branch: BranchSnapshot,
    /// The first parent of the branch tip: the default-branch commit the
    /// proposal was built on, or for a stacked proposal distributor's
    /// previous proposal commit.
    pub base: Option<ObjectId>,
    /// The queried paths and the lock file as they are in `base`: when the
    /// default branch has moved on but none of them changed since, the
    /// proposal still merges cleanly and is not rebuilt.
    pub base_snapshot: Option<BranchSnapshot>,
    /// Whether the branch is distributor's by content (see [`ownership`]).
    /// `false` means someone else's commits are on it; distributor then
    /// leaves it alone.
    pub by_distributor: bool,
    /// The branch contains the default branch's tip: it is built on it,
    /// directly or through distributor's earlier proposal commits stacked
    /// on it.
    pub contains_default: bool,
}

/// A repo as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoObservation {
    pub repo: RepoId,
    pub default_branch: BranchSnapshot,
    pub proposal: Option<ProposalSnapshot>,
    /// The open pull request from the proposal branch, on forges that have
    /// pull requests.
    pub pull_request: Option<PullRequest>,
    /// The repository's web page, on forges that have one (links in the
    /// dashboard).
    pub web_url: Option<String>,
    /// The latest pull request from the proposal branch that was closed
    /// without being merged (a team's "no").
    pub closed_pull_request: Option<ClosedPullRequest>,
}

/// A pull request closed without merging, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosedPullRequest {
    pub number: u64,
    pub url: String,
    /// The proposal commit it carried when it was closed.
    pub head: Option<ObjectId>,
}

/// An open pull request, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
    /// The forge's node id (GitHub GraphQL), for mutations.
    #[serde(skip)]
    pub node_id: String,
    pub title: String,
    #[serde(skip)]
    pub body: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    pub labels: Vec<String>,
    pub draft: bool,
}

/// A pull request to open from the proposal branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestSpec {
    pub repo: RepoId,
    /// The proposal branch.
    pub head: String,
    /// The default branch.
    pub base: String,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    /// User logins asked for review.
    pub reviewers: Vec<String>,
    /// Team slugs (without the organisation) asked for review.
    pub team_reviewers: Vec<String>,
    pub draft: bool,
    /// Ask the forge to merge once checks pass, where the repo allows it.
    pub auto_merge: bool,
}

/// A pull request opened, and what of its extras did not work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedPullRequest {
    pub number: u64,
    pub url: String,
    /// Labels, reviewers or auto-merge the forge refused; the pull request
    /// itself is open.
    pub warnings: Vec<String>,
}

/// A file to write (`content: Some`) or delete (`content: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    pub path: String,
    pub content: Option<Vec<u8>>,
    pub mode: FileMode,
    /// The parent commit already has this path with this mode: only the
    /// content changes. (GitHub's `createCommitOnBranch` keeps a file's mode
    /// but cannot set one, so only mode changes need another route.)
    pub mode_unchanged: bool,
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
    /// A direct commit to the default branch was refused by branch
    /// protection or a ruleset; the change can still go through a pull
    /// request.
    #[error("{0}")]
    Protected(String),
    /// The repository is archived (read-only); it is skipped.
    #[error(
        "repository {0} is archived (read-only): skipped; unarchive it or remove it from the registry"
    )]
    Archived(RepoId),
    /// Anything else (I/O, corrupt objects, network, credentials).
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

    /// What the forge has spent of its API budget, for metrics; `None` for
    /// forges without one.
    fn usage(&self) -> Option<ForgeUsage> {
        None
    }

    /// Whether proposals become pull requests on this forge. Forges without
    /// pull requests (local bare repos) carry proposals as branches only.
    fn has_pull_requests(&self) -> bool {
        false
    }

    /// Opens a pull request from `spec.head` to `spec.base`, with labels,
    /// reviewers and auto-merge as asked.
    fn open_pull_request(
        &self,
        spec: &PullRequestSpec,
    ) -> impl Future<Output = Result<OpenedPullRequest, ForgeError>> + Send {
        let repo = spec.repo.clone();
        async move { Err(no_pull_requests(&repo)) }
    }

    /// Rewrites an open pull request's title and body.
    fn update_pull_request(
        &self,
        repo: &RepoId,
        pull: &PullRequest,
        title: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send {
        let _ = (pull, title, body);
        let repo = repo.clone();
        async move { Err(no_pull_requests(&repo)) }
    }

    /// Comments on an open pull request and adds `labels` to it. A label
    /// that cannot be added is a warning (returned), not a failure.
    fn comment_pull_request(
        &self,
        repo: &RepoId,
        pull: &PullRequest,
        comment: &str,
        labels: &[String],
    ) -> impl Future<Output = Result<Vec<String>, ForgeError>> + Send {
        let _ = (pull, comment, labels);
        let repo = repo.clone();
        async move { Err(no_pull_requests(&repo)) }
    }

    /// A token git may use to fetch `url` over HTTPS (the platform
    /// repository, when it lives on this forge and is private); `None`
    /// when this forge does not serve that URL.
    fn git_credentials(
        &self,
        url: &str,
    ) -> impl Future<Output = Result<Option<SecretString>, ForgeError>> + Send {
        let _ = url;
        async { Ok(None) }
    }

    /// Comments on an open pull request, then closes it (unmerged).
    fn close_pull_request(
        &self,
        repo: &RepoId,
        pull: &PullRequest,
        comment: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send {
        let _ = (pull, comment);
        let repo = repo.clone();
        async move { Err(no_pull_requests(&repo)) }
    }
}

/// API usage of a network forge since it was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgeUsage {
    /// Requests by kind and HTTP status (0: no answer).
    pub requests: BTreeMap<(String, u16), u64>,
    /// Content-creating requests sent.
    pub writes: u64,
    /// Their content-creating units (one per top-level GraphQL mutation
    /// field or mutating REST request): what write pacing counts.
    pub write_units: u64,
    /// Observation batches (repositories per query) and how they adapted.
    pub observe_batches: BatchUsage,
    pub retries: u64,
    /// Writes whose answer was lost, by what re-reading the branch found:
    /// `landed` (ours, not sent again), `not_landed` (sent again), `moved`
    /// (a conflict).
    pub ambiguous: BTreeMap<String, u64>,
    /// Per budget (`core`, `graphql`): remaining, limit, reset (epoch s).
    pub budgets: Vec<(String, u64, u64, u64)>,
    /// Writes waiting for the pacer right now.
    pub pacer_waiting: usize,
}

/// Observation batch sizes: configured, current, used, and splits after
/// GitHub could not answer a batch (too slow or too big).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchUsage {
    pub configured: usize,
    /// The size the next batch starts from.
    pub current: usize,
    /// Batches GitHub answered, by size.
    pub answered: BTreeMap<usize, u64>,
    pub splits: u64,
}

fn no_pull_requests(repo: &RepoId) -> ForgeError {
    ForgeError::Other(format!(
        "{repo}: this forge has no pull requests; proposals are branches only"
    ))
}

/// The trailer every distributor commit carries. It names the version that
/// wrote the commit; it does not decide ownership (a reviewer's amend keeps
/// it): that is judged by content, see [`ownership`].
pub const VERSION_TRAILER: &str = "Distributor-Version:";
