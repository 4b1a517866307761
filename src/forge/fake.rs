//! An in-memory [`Forge`] for unit tests of the executor: repos are commit
//! graphs of whole file maps, with the same semantics as the local forge
//! (not found, compare-and-swap conflicts, fast-forward-only default
//! branch, proposal detection by the version trailer, no implicit file
//! removal). The shared contract suite in `contract.rs` keeps the two in
//! step.
//!
//! It owns only its in-memory state and test helpers (human commits,
//! injected conflicts, protected branches, failing repos). It must not do
//! I/O, and it must not grow behaviour the real forges lack: anything an
//! executor test relies on here has to hold for `local` too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use super::{
    BranchSnapshot, CommitRequest, FileEntry, FileWrite, Forge, ForgeError, ProposalSnapshot,
    RepoId, RepoObservation, RepoQuery, Signature, describe_tip, ownership,
};
use crate::blob::{FileMode, ObjectId, blob_id};

/// The full file map of one commit: path -> (content, mode).
pub type Files = BTreeMap<String, (Vec<u8>, FileMode)>;

/// A hook run with the whole state just before the next `commit` is checked.
pub type CommitHook = Box<dyn FnOnce(&mut State) + Send>;

/// One commit in a fake repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCommit {
    pub id: ObjectId,
    pub parent: Option<ObjectId>,
    pub files: Files,
    pub message: String,
    pub author: Signature,
}

/// One fake repository: branch tips into a commit graph.
#[derive(Debug, Clone, Default)]
pub struct FakeRepo {
    /// The branch `HEAD` names; it may be unborn (absent from `branches`).
    pub default_branch: String,
    pub branches: BTreeMap<String, ObjectId>,
    pub commits: BTreeMap<ObjectId, FakeCommit>,
    /// Every blob ever written, by id, for `read_blobs`.
    pub blobs: BTreeMap<ObjectId, Vec<u8>>,
}

impl FakeRepo {
    /// The file map at `branch`'s tip (`None`: no such branch).
    pub fn files(&self, branch: &str) -> Option<&Files> {
        let tip = self.branches.get(branch)?;
        Some(&self.commits[tip].files)
    }
}

/// Everything the fake forge holds. Public so hooks can simulate what
/// happens "between plan and apply".
#[derive(Default)]
pub struct State {
    pub repos: BTreeMap<RepoId, FakeRepo>,
    /// Successful `commit` and `delete_branch` calls.
    pub writes: usize,
    /// Branches whose writes are refused, as by a protection rule.
    pub protected: BTreeSet<(RepoId, String)>,
    /// Repos whose observation fails with this error.
    pub observe_errors: BTreeMap<RepoId, ForgeError>,
    /// The next this many `observe` calls panic (a bug in a forge, for
    /// the daemon's panic isolation tests).
    pub panics: usize,
    next_commit_hook: Option<CommitHook>,
    sequence: u64,
}

impl State {
    /// Adds a repo whose default branch has one commit with `files`
    /// (regular mode). Returns that commit's id.
    pub fn add_repo<P: Into<String>, C: AsRef<[u8]>>(
        &mut self,
        repo: &RepoId,
        default_branch: &str,
        files: impl IntoIterator<Item = (P, C)>,
    ) -> ObjectId {
        self.add_empty_repo(repo, default_branch);
        let changes: Vec<(String, Option<Vec<u8>>)> = files
            .into_iter()
            .map(|(p, c)| (p.into(), Some(c.as_ref().to_vec())))
            .collect();
        self.push_commit(repo, default_branch, changes, "Initial commit")
    }

    /// Adds an empty repo: the default branch is unborn.
    pub fn add_empty_repo(&mut self, repo: &RepoId, default_branch: &str) {
        self.repos.insert(
            repo.clone(),
            FakeRepo {
                default_branch: default_branch.to_string(),
                ..FakeRepo::default()
            },
        );
    }

    /// Simulates a human commit on `branch` (created from the default
    /// branch tip if missing): `Some(content)` writes a file (keeping the
    /// mode of an existing file, else regular), `None` deletes it. Panics if
    /// the repo does not exist. Returns the new tip.
    pub fn push_commit<P: Into<String>, C: AsRef<[u8]>>(
        &mut self,
        repo: &RepoId,
        branch: &str,
        changes: impl IntoIterator<Item = (P, Option<C>)>,
        message: &str,
    ) -> ObjectId {
        let base = self.human_base(repo, branch).1;
        let writes: Vec<FileWrite> = changes
            .into_iter()
            .map(|(p, c)| {
                let path = p.into();
                let mode = base.get(&path).map_or(FileMode::Regular, |(_, m)| *m);
                FileWrite {
                    path,
                    content: c.map(|c| c.as_ref().to_vec()),
                    mode,
                    mode_unchanged: true,
                }
            })
            .collect();
        self.push_writes(repo, branch, &writes, message)
    }

    /// Where a human commit on `branch` starts: its tip (or the default
    /// branch's, for a new branch) and that commit's files.
    fn human_base(&self, repo: &RepoId, branch: &str) -> (Option<ObjectId>, Files) {
        let r = self.repos.get(repo).expect("no such fake repo");
        let parent = r
            .branches
            .get(branch)
            .or_else(|| r.branches.get(&r.default_branch))
            .copied();
        let base = parent
            .map(|p| r.commits[&p].files.clone())
            .unwrap_or_default();
        (parent, base)
    }

    /// Like [`push_commit`](Self::push_commit) with full control over modes.
    pub fn push_writes(
        &mut self,
        repo: &RepoId,
        branch: &str,
        writes: &[FileWrite],
        message: &str,
    ) -> ObjectId {
        let (parent, base) = self.human_base(repo, branch);
        let files = apply_writes(&base, writes).expect("push_writes: invalid human commit");
        let author = Signature {
            name: "Human".into(),
            email: "human@example.com".into(),
        };
        self.record_commit(repo, branch, parent, files, message, author)
    }

    /// Stores a commit and moves `branch` to it, unconditionally.
    fn record_commit(
        &mut self,
        repo: &RepoId,
        branch: &str,
        parent: Option<ObjectId>,
        files: Files,
        message: &str,
        author: Signature,
    ) -> ObjectId {
        self.sequence += 1;
        let id = blob_id(
            format!(
                "fake commit {}\nparent {}\n{message}",
                self.sequence,
                describe_tip(parent)
            )
            .as_bytes(),
        );
        let r = self.repos.get_mut(repo).expect("fake repo exists");
        for (content, _) in files.values() {
            r.blobs.insert(blob_id(content), content.clone());
        }
        r.commits.insert(
            id,
            FakeCommit {
                id,
                parent,
                files,
                message: message.to_string(),
                author,
            },
        );
        r.branches.insert(branch.to_string(), id);
        id
    }

    fn repo(&self, repo: &RepoId) -> Result<&FakeRepo, ForgeError> {
        self.repos.get(repo).ok_or_else(|| ForgeError::NotFound {
            repo: repo.clone(),
            hint: " in the fake forge".into(),
        })
    }

    fn observe_one(&self, query: &RepoQuery) -> Result<RepoObservation, ForgeError> {
        if let Some(err) = self.observe_errors.get(&query.repo) {
            return Err(err.clone());
        }
        let r = self.repo(&query.repo)?;
        let name = query.branch.as_deref().unwrap_or(&r.default_branch);
        check_branch(&query.repo, name)?;
        check_branch(&query.repo, &query.proposal_branch)?;
        if name != r.default_branch && !r.branches.contains_key(name) {
            return Err(super::local::missing_branch(
                &query.repo,
                name,
                &r.default_branch,
            ));
        }
        let default_branch = snapshot(r, name, r.branches.get(name).copied(), query);
        let proposal = r.branches.get(&query.proposal_branch).map(|tip| {
            let commit = &r.commits[tip];
            ProposalSnapshot {
                branch: snapshot(r, &query.proposal_branch, Some(*tip), query),
                base: commit.parent,
                base_snapshot: commit.parent.map(|b| snapshot(r, name, Some(b), query)),
                by_distributor: owned(r, name, *tip, query),
                contains_default: contains(r, *tip, r.branches.get(name).copied()),
            }
        });
        Ok(RepoObservation {
            repo: query.repo.clone(),
            default_branch,
            proposal,
            pull_request: None,
            web_url: None,
            closed_pull_request: None,
        })
    }

    fn commit(&mut self, request: &CommitRequest) -> Result<ObjectId, ForgeError> {
        if let Some(hook) = self.next_commit_hook.take() {
            hook(self);
        }
        let repo = &request.repo;
        let branch = request.branch.as_str();
        let r = self.repo(repo)?;
        check_branch(repo, branch)?;
        for write in &request.files {
            crate::paths::check_write_path(&write.path, write.content.is_none())
                .map_err(|e| ForgeError::Other(format!("{repo}: {e}")))?;
        }
        if self.protected.contains(&(repo.clone(), branch.to_string())) {
            return Err(ForgeError::Refused(format!(
                "branch `{branch}` of {repo} is protected (fake forge)"
            )));
        }
        request.check_fast_forward(&r.default_branch)?;
        request.check_tip(r.branches.get(branch).copied())?;
        let base = match request.parent {
            Some(parent) => match r.commits.get(&parent) {
                Some(commit) => commit.files.clone(),
                None => {
                    return Err(ForgeError::Other(format!(
                        "{repo}: cannot read parent commit {parent}: no such commit"
                    )));
                }
            },
            None => Files::new(),
        };
        let files = apply_writes(&base, &request.files)
            .map_err(|e| ForgeError::Other(format!("{repo}: {e}")))?;
        let removed = base.keys().find(|p| {
            !files.contains_key(*p)
                && !request
                    .files
                    .iter()
                    .any(|w| w.content.is_none() && &w.path == *p)
        });
        if let Some(path) = removed {
            return Err(ForgeError::Other(format!(
                "{repo}: the changes to `{branch}` would remove `{path}` without deleting it \
                 (a file and a directory would swap places); delete it explicitly first"
            )));
        }
        let id = self.record_commit(
            repo,
            branch,
            request.parent,
            files,
            &request.message,
            request.author.clone(),
        );
        self.writes += 1;
        Ok(id)
    }

    fn delete_branch(
        &mut self,
        repo: &RepoId,
        branch: &str,
        expected_tip: ObjectId,
    ) -> Result<(), ForgeError> {
        let r = self.repo(repo)?;
        check_branch(repo, branch)?;
        if r.default_branch == branch {
            return Err(ForgeError::Refused(format!(
                "refusing to delete `{branch}`, the default branch of {repo}"
            )));
        }
        let actual = r.branches.get(branch).copied();
        if actual != Some(expected_tip) {
            return Err(ForgeError::conflict(
                repo,
                branch,
                Some(expected_tip),
                actual,
            ));
        }
        self.repos
            .get_mut(repo)
            .expect("checked above")
            .branches
            .remove(branch);
        self.writes += 1;
        Ok(())
    }
}

/// An in-memory forge. Cheap to create; all state behind one mutex.
#[derive(Default)]
pub struct FakeForge {
    state: Mutex<State>,
}

impl FakeForge {
    /// An empty fake forge.
    pub fn new() -> Self {
        FakeForge::default()
    }

    /// Locks the state (for inspection or arbitrary setup).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// See [`State::add_repo`].
    pub fn add_repo<P: Into<String>, C: AsRef<[u8]>>(
        &self,
        repo: &RepoId,
        default_branch: &str,
        files: impl IntoIterator<Item = (P, C)>,
    ) -> ObjectId {
        self.state().add_repo(repo, default_branch, files)
    }

    /// See [`State::add_empty_repo`].
    pub fn add_empty_repo(&self, repo: &RepoId, default_branch: &str) {
        self.state().add_empty_repo(repo, default_branch)
    }

    /// See [`State::push_commit`]: a human commit, not counted as a write.
    pub fn push_commit<P: Into<String>, C: AsRef<[u8]>>(
        &self,
        repo: &RepoId,
        branch: &str,
        changes: impl IntoIterator<Item = (P, Option<C>)>,
        message: &str,
    ) -> ObjectId {
        self.state().push_commit(repo, branch, changes, message)
    }

    /// See [`State::push_writes`].
    pub fn push_writes(
        &self,
        repo: &RepoId,
        branch: &str,
        writes: &[FileWrite],
        message: &str,
    ) -> ObjectId {
        self.state().push_writes(repo, branch, writes, message)
    }

    /// The content of `path` at `branch`'s tip.
    pub fn file(&self, repo: &RepoId, branch: &str, path: &str) -> Option<Vec<u8>> {
        let state = self.state();
        let files = state.repos.get(repo)?.files(branch)?;
        files.get(path).map(|(content, _)| content.clone())
    }

    /// The mode of `path` at `branch`'s tip.
    pub fn mode(&self, repo: &RepoId, branch: &str, path: &str) -> Option<FileMode> {
        let state = self.state();
        let files = state.repos.get(repo)?.files(branch)?;
        files.get(path).map(|(_, mode)| *mode)
    }

    /// The tip of `branch`.
    pub fn tip(&self, repo: &RepoId, branch: &str) -> Option<ObjectId> {
        self.state().repos.get(repo)?.branches.get(branch).copied()
    }

    /// The tip commit of `branch`.
    pub fn tip_commit(&self, repo: &RepoId, branch: &str) -> Option<FakeCommit> {
        let state = self.state();
        let r = state.repos.get(repo)?;
        r.branches.get(branch).map(|tip| r.commits[tip].clone())
    }

    /// Commit messages along the first-parent chain of `branch`, newest first.
    pub fn log(&self, repo: &RepoId, branch: &str) -> Vec<String> {
        let state = self.state();
        let Some(r) = state.repos.get(repo) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut next = r.branches.get(branch).copied();
        while let Some(id) = next {
            let commit = &r.commits[&id];
            out.push(commit.message.clone());
            next = commit.parent;
        }
        out
    }

    /// The branch names of `repo`, sorted.
    pub fn branches(&self, repo: &RepoId) -> Vec<String> {
        self.state()
            .repos
            .get(repo)
            .map(|r| r.branches.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Successful `commit` and `delete_branch` calls so far.
    pub fn write_count(&self) -> usize {
        self.state().writes
    }

    /// Runs `hook` with the state just before the next `commit` call is
    /// checked, once, e.g. to land a human commit between plan and apply.
    pub fn on_next_commit(&self, hook: CommitHook) {
        self.state().next_commit_hook = Some(hook);
    }

    /// Makes writes to `branch` fail with [`ForgeError::Refused`].
    pub fn protect_branch(&self, repo: &RepoId, branch: &str) {
        self.state()
            .protected
            .insert((repo.clone(), branch.to_string()));
    }

    /// Makes observing `repo` fail with `error` (`None` clears it).
    pub fn fail_observe(&self, repo: &RepoId, error: Option<ForgeError>) {
        let mut state = self.state();
        match error {
            Some(error) => state.observe_errors.insert(repo.clone(), error),
            None => state.observe_errors.remove(repo),
        };
    }
}

impl Forge for FakeForge {
    fn describe(&self) -> String {
        "fake".into()
    }

    fn observe_batch_size(&self) -> usize {
        64
    }

    async fn observe(&self, queries: &[RepoQuery]) -> Vec<Result<RepoObservation, ForgeError>> {
        let mut state = self.state();
        if state.panics > 0 {
            state.panics -= 1;
            drop(state);
            panic!("injected forge panic");
        }
        queries.iter().map(|q| state.observe_one(q)).collect()
    }

    async fn read_blobs(
        &self,
        repo: &RepoId,
        blobs: &[ObjectId],
    ) -> Result<BTreeMap<ObjectId, Vec<u8>>, ForgeError> {
        let state = self.state();
        let r = state.repo(repo)?;
        blobs
            .iter()
            .map(|id| match r.blobs.get(id) {
                Some(content) => Ok((*id, content.clone())),
                None => Err(ForgeError::Other(format!(
                    "{repo}: blob {id} does not exist"
                ))),
            })
            .collect()
    }

    async fn commit(&self, request: &CommitRequest) -> Result<ObjectId, ForgeError> {
        self.state().commit(request)
    }

    async fn delete_branch(
        &self,
        repo: &RepoId,
        branch: &str,
        expected_tip: ObjectId,
    ) -> Result<(), ForgeError> {
        self.state().delete_branch(repo, branch, expected_tip)
    }
}

/// Whether every commit from `tip` down to the default branch `name` is
/// distributor's by content (see [`ownership`]).
fn owned(r: &FakeRepo, name: &str, tip: ObjectId, query: &RepoQuery) -> bool {
    let mut on_default = BTreeSet::new();
    let mut at = r.branches.get(name).copied();
    while let Some(id) = at {
        on_default.insert(id);
        at = r.commits.get(&id).and_then(|c| c.parent);
    }
    let mut current = tip;
    while !on_default.contains(&current) {
        let Some(parent) = r.commits.get(&current).and_then(|c| c.parent) else {
            return false;
        };
        let (new, old) = (&r.commits[&current].files, &r.commits[&parent].files);
        let changed = new
            .keys()
            .chain(old.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|p| new.get(*p) != old.get(*p))
            .count() as u64;
        let this = snapshot(r, name, Some(current), query);
        let before = snapshot(r, name, Some(parent), query);
        if !ownership::by_content(&this, &before, Some(changed)) {
            return false;
        }
        current = parent;
    }
    true
}

/// Whether `tip`'s history contains `default`.
fn contains(r: &FakeRepo, tip: ObjectId, default: Option<ObjectId>) -> bool {
    let mut at = Some(tip);
    while let Some(id) = at {
        if Some(id) == default {
            return true;
        }
        at = r.commits.get(&id).and_then(|c| c.parent);
    }
    false
}

fn check_branch(repo: &RepoId, branch: &str) -> Result<(), ForgeError> {
    crate::paths::check_branch_name(branch).map_err(|e| ForgeError::Other(format!("{repo}: {e}")))
}

/// Applies writes in order the way git trees behave: writing `a/b` turns a
/// file `a` into a directory, writing `a` over a directory replaces it,
/// deleting a missing path is a no-op, deleting a directory is an error.
fn apply_writes(base: &Files, writes: &[FileWrite]) -> Result<Files, String> {
    let mut files = base.clone();
    for write in writes {
        let path = write.path.as_str();
        let under = format!("{path}/");
        match &write.content {
            Some(content) => {
                for (i, _) in path.match_indices('/') {
                    files.remove(&path[..i]);
                }
                files.retain(|p, _| !p.starts_with(&under));
                files.insert(path.to_string(), (content.clone(), write.mode));
            }
            None => {
                if files.keys().any(|p| p.starts_with(&under)) {
                    return Err(format!(
                        "cannot remove \"{path}\" as leaf entry because it is a tree"
                    ));
                }
                files.remove(path);
            }
        }
    }
    Ok(files)
}

/// The queried paths and lock of one branch (all absent if unborn).
fn snapshot(
    repo: &FakeRepo,
    branch: &str,
    tip: Option<ObjectId>,
    query: &RepoQuery,
) -> BranchSnapshot {
    let empty = Files::new();
    let files = tip.map_or(&empty, |t| &repo.commits[&t].files);
    let entry = |path: &str| -> Option<FileEntry> {
        if let Some((content, mode)) = files.get(path) {
            return Some(FileEntry {
                blob: blob_id(content),
                mode: Some(*mode),
            });
        }
        // A directory: report it like a tree entry (no file mode). The id
        // only needs to be stable for the same content.
        let under = format!("{path}/");
        let listing: Vec<u8> = files
            .range(under.clone()..)
            .take_while(|(p, _)| p.starts_with(&under))
            .flat_map(|(p, (content, mode))| {
                format!("{mode} {} {p}\n", blob_id(content)).into_bytes()
            })
            .collect();
        (!listing.is_empty()).then(|| FileEntry {
            blob: blob_id(&listing),
            mode: None,
        })
    };
    BranchSnapshot {
        name: branch.to_string(),
        tip,
        files: query.paths.iter().map(|p| (p.clone(), entry(p))).collect(),
        lock: files.get(&query.lock_path).map(|(c, _)| c.clone()),
        checks: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn helpers_track_human_and_forge_writes() {
        let forge = FakeForge::new();
        let repo = RepoId::new("team", "app");
        let first = forge.add_repo(&repo, "main", [("README.md", "hi\n"), ("a/b.txt", "b\n")]);
        assert_eq!(forge.tip(&repo, "main"), Some(first));
        assert_eq!(
            forge.file(&repo, "main", "a/b.txt").as_deref(),
            Some(&b"b\n"[..])
        );
        let second = forge.push_commit(&repo, "main", [("a/b.txt", None::<&str>)], "rm");
        assert_eq!(forge.file(&repo, "main", "a/b.txt"), None);
        assert_eq!(forge.log(&repo, "main"), ["rm", "Initial commit"]);
        assert_eq!(forge.write_count(), 0);

        let id = block_on(forge.commit(&CommitRequest {
            repo: repo.clone(),
            branch: "distributor/update".into(),
            parent: Some(second),
            expected_tip: None,
            files: vec![FileWrite {
                path: "run.sh".into(),
                content: Some(b"#!/bin/sh\n".to_vec()),
                mode: FileMode::Executable,
                mode_unchanged: false,
            }],
            message: "m\n\nDistributor-Version: 1\n".into(),
            author: Signature {
                name: "bot".into(),
                email: "bot@example.com".into(),
            },
        }))
        .unwrap();
        assert_eq!(forge.write_count(), 1);
        assert_eq!(forge.tip(&repo, "distributor/update"), Some(id));
        assert_eq!(
            forge.mode(&repo, "distributor/update", "run.sh"),
            Some(FileMode::Executable)
        );
        assert_eq!(forge.branches(&repo), ["distributor/update", "main"]);
        assert_eq!(
            forge
                .tip_commit(&repo, "distributor/update")
                .unwrap()
                .parent,
            Some(second)
        );
    }

    #[test]
    fn hook_lands_a_commit_before_the_next_commit_is_checked() {
        let forge = FakeForge::new();
        let repo = RepoId::new("team", "app");
        let base = forge.add_repo(&repo, "main", [("x", "1")]);
        let hook_repo = repo.clone();
        forge.on_next_commit(Box::new(move |state: &mut State| {
            state.push_commit(&hook_repo, "main", [("x", Some("human"))], "human");
        }));
        let request = CommitRequest {
            repo: repo.clone(),
            branch: "main".into(),
            parent: Some(base),
            expected_tip: Some(base),
            files: vec![],
            message: "m".into(),
            author: Signature {
                name: "bot".into(),
                email: "bot@example.com".into(),
            },
        };
        let err = block_on(forge.commit(&request)).unwrap_err();
        assert!(matches!(err, ForgeError::Conflict { .. }), "{err}");
        assert_eq!(
            forge.file(&repo, "main", "x").as_deref(),
            Some(&b"human"[..])
        );
        assert_eq!(forge.write_count(), 0);

        // One-shot: with the right expectation the next commit goes through.
        let tip = forge.tip(&repo, "main");
        let ok = CommitRequest {
            parent: tip,
            expected_tip: tip,
            ..request
        };
        block_on(forge.commit(&ok)).unwrap();
        assert_eq!(forge.write_count(), 1);
    }

    #[test]
    fn protection_and_observe_failures_are_injectable() {
        let forge = FakeForge::new();
        let repo = RepoId::new("team", "app");
        let other = RepoId::new("team", "other");
        let base = forge.add_repo(&repo, "main", [("x", "1")]);
        forge.add_repo(&other, "main", [("x", "1")]);
        forge.protect_branch(&repo, "main");
        let err = block_on(forge.commit(&CommitRequest {
            repo: repo.clone(),
            branch: "main".into(),
            parent: Some(base),
            expected_tip: Some(base),
            files: vec![],
            message: "m".into(),
            author: Signature {
                name: "bot".into(),
                email: "bot@example.com".into(),
            },
        }))
        .unwrap_err();
        assert!(matches!(err, ForgeError::Refused(_)), "{err}");

        forge.fail_observe(&repo, Some(ForgeError::Other("rate limited".into())));
        let query = |repo: &RepoId| RepoQuery {
            repo: repo.clone(),
            branch: None,
            paths: vec!["x".into()],
            lock_path: "lock".into(),
            proposal_branch: "p".into(),
        };
        let results = block_on(forge.observe(&[query(&repo), query(&other)]));
        assert_eq!(results[0], Err(ForgeError::Other("rate limited".into())));
        assert!(results[1].is_ok());
    }
}
