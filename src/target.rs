//! [`Target`]: one repo of the registry, resolved, with the files rendered
//! for it: the input of observing and planning. Plain data.

use std::collections::BTreeSet;

use crate::forge::{RepoId, RepoQuery};
use crate::registry::ResolvedRepo;
use crate::render::DesiredFile;

/// A repo with its rendered files: the input of planning.
#[derive(Debug, Clone)]
pub struct Target {
    pub repo: ResolvedRepo,
    pub desired: Vec<DesiredFile>,
}

impl Target {
    pub fn id(&self) -> RepoId {
        RepoId::new(&self.repo.owner, &self.repo.name)
    }

    /// Frees the rendered contents once they are no longer needed (a plan
    /// that will not be applied keeps blob ids only). A released file has
    /// empty content under a non-empty blob id, which the executor refuses
    /// to write (see [`Target::content_of`]).
    pub fn release_contents(&mut self) {
        for d in &mut self.desired {
            d.content = Vec::new();
        }
    }

    /// The rendered content of `d`, unless it was released.
    pub fn content_of(d: &DesiredFile) -> Option<&[u8]> {
        (!d.content.is_empty() || d.blob == crate::blob::blob_id(b""))
            .then_some(d.content.as_slice())
    }

    /// What to observe: every rendered path, plus `extra_paths`.
    pub fn query(&self, extra_paths: &BTreeSet<String>) -> RepoQuery {
        let mut paths: BTreeSet<String> = self.desired.iter().map(|d| d.path.clone()).collect();
        paths.extend(extra_paths.iter().cloned());
        RepoQuery {
            repo: self.id(),
            branch: self.repo.default_branch.clone(),
            paths: paths.into_iter().collect(),
            lock_path: self.repo.lock_path.clone(),
            proposal_branch: self.repo.proposal_branch.clone(),
        }
    }
}
