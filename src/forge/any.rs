//! [`AnyForge`]: the forge chosen at run time (`--forge`, or the daemon's
//! config), delegating every [`Forge`] method to the backend it holds. The
//! executor stays generic; only wiring code names this type.

use std::collections::BTreeMap;

use super::github::GitHubForge;
use super::local::LocalForge;
use super::{
    CommitRequest, Forge, ForgeError, ForgeUsage, OpenedPullRequest, PullRequest, PullRequestSpec,
    RepoId, RepoObservation, RepoQuery,
};
use crate::blob::ObjectId;

/// A local or GitHub forge.
pub enum AnyForge {
    Local(LocalForge),
    GitHub(Box<GitHubForge>),
    /// The in-memory fake, for unit tests of code that takes any forge
    /// (the daemon).
    #[cfg(test)]
    Fake(super::fake::FakeForge),
}

macro_rules! delegate {
    ($self:ident, $f:ident => $e:expr) => {
        match $self {
            AnyForge::Local($f) => $e,
            AnyForge::GitHub($f) => $e,
            #[cfg(test)]
            AnyForge::Fake($f) => $e,
        }
    };
}

impl Forge for AnyForge {
    fn describe(&self) -> String {
        delegate!(self, f => f.describe())
    }

    fn observe_batch_size(&self) -> usize {
        delegate!(self, f => f.observe_batch_size())
    }

    async fn observe(&self, queries: &[RepoQuery]) -> Vec<Result<RepoObservation, ForgeError>> {
        delegate!(self, f => f.observe(queries).await)
    }

    async fn read_blobs(
        &self,
        repo: &RepoId,
        blobs: &[ObjectId],
    ) -> Result<BTreeMap<ObjectId, Vec<u8>>, ForgeError> {
        delegate!(self, f => f.read_blobs(repo, blobs).await)
    }

    async fn commit(&self, request: &CommitRequest) -> Result<ObjectId, ForgeError> {
        delegate!(self, f => f.commit(request).await)
    }

    async fn delete_branch(
        &self,
        repo: &RepoId,
        branch: &str,
        expected_tip: ObjectId,
    ) -> Result<(), ForgeError> {
        delegate!(self, f => f.delete_branch(repo, branch, expected_tip).await)
    }

    fn usage(&self) -> Option<ForgeUsage> {
        delegate!(self, f => f.usage())
    }

    async fn git_credentials(
        &self,
        url: &str,
    ) -> Result<Option<octocrab::secrecy::SecretString>, ForgeError> {
        delegate!(self, f => f.git_credentials(url).await)
    }

    fn has_pull_requests(&self) -> bool {
        delegate!(self, f => f.has_pull_requests())
    }

    async fn open_pull_request(
        &self,
        spec: &PullRequestSpec,
    ) -> Result<OpenedPullRequest, ForgeError> {
        delegate!(self, f => f.open_pull_request(spec).await)
    }

    async fn update_pull_request(
        &self,
        repo: &RepoId,
        pull: &PullRequest,
        title: &str,
        body: &str,
    ) -> Result<(), ForgeError> {
        delegate!(self, f => f.update_pull_request(repo, pull, title, body).await)
    }

    async fn comment_pull_request(
        &self,
        repo: &RepoId,
        pull: &PullRequest,
        comment: &str,
        labels: &[String],
    ) -> Result<Vec<String>, ForgeError> {
        delegate!(self, f => f.comment_pull_request(repo, pull, comment, labels).await)
    }

    async fn close_pull_request(
        &self,
        repo: &RepoId,
        pull: &PullRequest,
        comment: &str,
    ) -> Result<(), ForgeError> {
        delegate!(self, f => f.close_pull_request(repo, pull, comment).await)
    }
}
