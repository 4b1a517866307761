//! The fake's state: repositories (metadata in memory, objects in bare git
//! repos on disk) and the write operations shared by GraphQL, REST and the
//! test handle, with GitHub's refusals (archived, protected, workflow scope,
//! compare-and-swap).
//!
//! Pull requests live here too (see `pulls` for their operations). All of it
//! sits behind one mutex in `Shared`; callers hold the lock for a whole write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use gix::objs::tree::EntryKind;

use crate::auth::Caller;
use crate::git::{self, Oid, Person, RefChange};
use crate::util;

/// The message of every write refused by branch protection.
pub(crate) const PROTECTED: &str =
    "Repository rule violations found\n\nChanges must be made through a pull request.\n\n";
/// The message of every write to an archived repository.
pub(crate) const ARCHIVED: &str = "Repository was archived so is read-only.";
/// Where workflow files live; changing them needs the `workflow` scope.
const WORKFLOWS: &str = ".github/workflows/";

/// Why a write was refused; the GraphQL error `type` is the variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotFound(String),
    Stale(String),
    Unprocessable(String),
    Forbidden(String),
}

impl Refusal {
    /// GitHub's GraphQL error type.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Refusal::NotFound(_) => "NOT_FOUND",
            Refusal::Stale(_) => "STALE_DATA",
            Refusal::Unprocessable(_) => "UNPROCESSABLE",
            Refusal::Forbidden(_) => "FORBIDDEN",
        }
    }

    /// The human-readable message.
    pub(crate) fn message(&self) -> &str {
        match self {
            Refusal::NotFound(m)
            | Refusal::Stale(m)
            | Refusal::Unprocessable(m)
            | Refusal::Forbidden(m) => m,
        }
    }
}

/// A label defined in a repository.
#[derive(Debug, Clone)]
pub(crate) struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
}

/// An issue comment on a pull request.
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: u64,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

/// A pull request.
#[derive(Debug, Clone)]
pub(crate) struct PullState {
    pub number: u64,
    pub id: u64,
    pub open: bool,
    pub merged: bool,
    pub head: String,
    pub base: String,
    /// The head tip when last seen (kept after the branch is deleted).
    pub head_sha: String,
    pub title: String,
    pub body: String,
    pub draft: bool,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub team_reviewers: Vec<String>,
    pub auto_merge: Option<String>,
    /// Issue comments, oldest first.
    pub comments: Vec<Comment>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub author: String,
}

impl PullState {
    /// GitHub's node id for it.
    pub(crate) fn node_id(&self) -> String {
        format!("PR_kwDO{}", self.id)
    }
}

/// One fake repository.
#[derive(Debug)]
pub(crate) struct Repo {
    pub owner: String,
    pub name: String,
    pub path: PathBuf,
    pub id: u64,
    pub default_branch: String,
    pub archived: bool,
    pub protected: BTreeSet<String>,
    pub allow_auto_merge: bool,
    pub pulls: Vec<PullState>,
    /// By lower-cased name.
    pub labels: BTreeMap<String, Label>,
    /// The combined check state (a `StatusState` name) by lower-case commit
    /// sha; commits without one have no status check rollup.
    pub check_states: BTreeMap<String, String>,
    pub created_at: String,
    /// Commits GitHub signed (written by `createCommitOnBranch`): shown
    /// as verified.
    pub signed: BTreeSet<Oid>,
}

impl Repo {
    /// `owner/name`.
    pub(crate) fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// GitHub's node id for it.
    pub(crate) fn node_id(&self) -> String {
        format!("R_kgDO{}", self.id)
    }

    /// Opens its git repository.
    pub(crate) fn git(&self) -> gix::Repository {
        git::open(&self.path).expect("fake repository opens")
    }

    /// The combined check state of commit `sha`, if one was set.
    pub(crate) fn check_state(&self, sha: &str) -> Option<&str> {
        self.check_states
            .get(&sha.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The pull request `number`, to read.
    pub(crate) fn pull(&self, number: u64) -> Option<&PullState> {
        self.pulls.iter().find(|p| p.number == number)
    }

    /// The pull request `number`.
    pub(crate) fn pull_mut(&mut self, number: u64) -> Option<&mut PullState> {
        self.pulls.iter_mut().find(|p| p.number == number)
    }
}

/// A human, for commits made through the test handle.
pub(crate) fn human() -> Person {
    Person {
        name: "A Human".into(),
        email: "human@example.com".into(),
    }
}

/// The git identity of a token's user.
pub(crate) fn person_of(login: &str) -> Person {
    Person {
        name: login.to_string(),
        email: format!("{login}@users.noreply.github.com"),
    }
}

/// The lookup key of `owner/name` (GitHub names are case-insensitive).
pub(crate) fn key(owner: &str, name: &str) -> String {
    format!("{owner}/{name}").to_lowercase()
}

/// A file change in a commit request.
pub(crate) struct FileWrite {
    pub path: String,
    /// None deletes.
    pub content: Option<Vec<u8>>,
    /// None keeps an existing file's mode (new files: 100644).
    pub executable: Option<bool>,
}

/// A commit to write on a branch.
#[derive(Clone, Copy)]
pub(crate) struct CommitRequest<'a> {
    pub branch: &'a str,
    /// The tip the branch must be at (None: whatever it is).
    pub expected: Option<Oid>,
    pub writes: &'a [FileWrite],
    pub message: &'a str,
    pub author: &'a Person,
}

/// Everything the fake knows.
pub(crate) struct State {
    pub root: PathBuf,
    pub repos: BTreeMap<String, Repo>,
    pub next_id: u64,
    /// GitHub's rule: an open pull request whose head is moved onto a
    /// commit its base contains is closed (see [`State::refresh_pulls`]).
    pub close_empty_pulls: bool,
}

impl State {
    pub(crate) fn new(root: PathBuf) -> State {
        State {
            root,
            repos: BTreeMap::new(),
            next_id: 1000,
            close_empty_pulls: true,
        }
    }

    /// A fresh id, unique across the fake.
    pub(crate) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(crate) fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&key(owner, name))
    }

    pub(crate) fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&key(owner, name))
    }

    /// The repo whose node id is `id`.
    pub(crate) fn repo_by_node_id(&self, id: &str) -> Option<&Repo> {
        self.repos.values().find(|r| r.node_id() == id)
    }

    /// Creates an empty repository (replacing nothing: panics if it exists).
    pub(crate) fn create_repo(&mut self, owner: &str, name: &str, default_branch: &str) {
        assert!(
            self.repo(owner, name).is_none(),
            "fake repo {owner}/{name} already exists"
        );
        let path = self.root.join(owner).join(format!("{name}.git"));
        git::init(&path, default_branch).expect("fake repository initialises");
        let id = self.fresh_id();
        self.repos.insert(
            key(owner, name),
            Repo {
                owner: owner.into(),
                name: name.into(),
                path,
                id,
                default_branch: default_branch.into(),
                archived: false,
                protected: BTreeSet::new(),
                allow_auto_merge: false,
                pulls: Vec::new(),
                labels: BTreeMap::new(),
                check_states: BTreeMap::new(),
                created_at: util::now_rfc3339(),
                signed: BTreeSet::new(),
            },
        );
    }

    /// Writes a commit of `writes` on top of `branch` (at `expected`, or its
    /// current tip when `expected` is None) and moves the branch. With a
    /// `caller`, GitHub's checks apply (archived, protected, workflow
    /// scope); without one it is a human push that may create the branch
    /// from the default branch.
    pub(crate) fn commit(
        &mut self,
        repo_key: &str,
        request: &CommitRequest<'_>,
        caller: Option<&Caller>,
    ) -> Result<Oid, Refusal> {
        let CommitRequest {
            branch,
            expected,
            writes,
            message,
            author,
        } = *request;
        let repo = self.repos.get(repo_key).ok_or_else(|| {
            Refusal::NotFound(format!(
                "Could not resolve to a Repository with the name '{repo_key}'."
            ))
        })?;
        let git = repo.git();
        let full = format!("refs/heads/{branch}");
        let mut tip = git::read_ref(&git, &full);
        if caller.is_some() {
            if repo.archived {
                return Err(Refusal::Unprocessable(ARCHIVED.into()));
            }
            let Some(actual) = tip else {
                return Err(Refusal::NotFound(format!(
                    "Could not resolve to a Ref with the name '{full}'."
                )));
            };
            if let Some(expected) = expected
                && expected != actual
            {
                return Err(Refusal::Stale(format!(
                    "Expected branch to point to \"{expected}\" but it did not. Pull and try again."
                )));
            }
            if repo.protected.contains(branch) {
                return Err(Refusal::Unprocessable(PROTECTED.into()));
            }
        }
        let created = tip.is_none();
        if tip.is_none() {
            tip = git::read_ref(&git, &format!("refs/heads/{}", repo.default_branch));
        }
        let base_tree = tip.and_then(|t| git::commit(&git, t)).map(|c| c.tree);
        let mut changes = Vec::new();
        for write in writes {
            let existing = base_tree.and_then(|t| git::lookup(&git, t, &write.path));
            match &write.content {
                Some(content) => {
                    let blob = git::write_blob(&git, content).map_err(Refusal::Unprocessable)?;
                    let kind = match (write.executable, &existing) {
                        (Some(true), _) => EntryKind::BlobExecutable,
                        (Some(false), _) => EntryKind::Blob,
                        (None, Some(e)) if e.kind == EntryKind::BlobExecutable => {
                            EntryKind::BlobExecutable
                        }
                        _ => EntryKind::Blob,
                    };
                    changes.push((write.path.clone(), Some((kind, blob))));
                }
                None => {
                    if existing.is_none() && caller.is_some() {
                        return Err(Refusal::Unprocessable(format!(
                            "A path was requested for deletion which does not exist as of commit oid `{}`",
                            tip.map(|t| t.to_string()).unwrap_or_default()
                        )));
                    }
                    changes.push((write.path.clone(), None));
                }
            }
        }
        let tree = git::edit_tree(&git, base_tree, &changes).map_err(Refusal::Unprocessable)?;
        if let Some(caller) = caller {
            let order: Vec<&str> = writes.iter().map(|w| w.path.as_str()).collect();
            if let Some(path) = workflow_violation(&git, caller, base_tree, tree, &order) {
                return Err(Refusal::Forbidden(workflow_message(caller, &path)));
            }
        }
        let parents: Vec<Oid> = tip.into_iter().collect();
        let committer = if caller.is_some() {
            author.clone()
        } else {
            human()
        };
        let id = git::write_commit(&git, tree, &parents, author, &committer, message)
            .map_err(Refusal::Unprocessable)?;
        let expected_ref = if created { None } else { tip };
        git::update_refs(
            &git,
            &[RefChange {
                name: full.clone(),
                expected: expected_ref,
                new: Some(id),
            }],
        )
        .map_err(|_| {
            Refusal::Stale(format!(
                "Expected branch to point to \"{}\" but it did not. Pull and try again.",
                expected.or(tip).map(|t| t.to_string()).unwrap_or_default()
            ))
        })?;
        self.refresh_pulls(repo_key);
        Ok(id)
    }

    /// Moves refs atomically (one push) after GitHub's checks: each `(name, before,
    /// after, force)`; `before` None skips the check, `Some(None)` requires
    /// the ref to be absent; `after` None deletes.
    pub(crate) fn update_refs(
        &mut self,
        repo_key: &str,
        updates: &[RefUpdate],
        caller: &Caller,
    ) -> Result<(), Refusal> {
        let repo = self
            .repos
            .get(repo_key)
            .ok_or_else(|| Refusal::NotFound("Could not resolve to a node".into()))?;
        if repo.archived {
            return Err(Refusal::Unprocessable(ARCHIVED.into()));
        }
        let git = repo.git();
        let mut changes = Vec::new();
        let mut deleted = Vec::new();
        for update in updates {
            let name = &update.name;
            let Some(branch) = name.strip_prefix("refs/heads/") else {
                if !name.starts_with("refs/") {
                    return Err(Refusal::Unprocessable(format!(
                        "Ref name '{name}' must be fully qualified (start with refs/)"
                    )));
                }
                return Err(Refusal::Unprocessable(format!(
                    "fake-github only supports branch refs, not '{name}'"
                )));
            };
            if !git::valid_ref_name(name) {
                return Err(Refusal::Unprocessable(format!(
                    "Ref name '{name}' is not a valid ref name"
                )));
            }
            let actual = git::read_ref(&git, name);
            if let Some(before) = update.before
                && before != actual
            {
                let show = |o: Option<Oid>| o.map(|o| o.to_string()).unwrap_or(git::ZERO.into());
                return Err(Refusal::Stale(format!(
                    "Expected ref '{name}' to point to '{}' but it points to '{}'.",
                    show(before),
                    show(actual)
                )));
            }
            if repo.protected.contains(branch) {
                return Err(Refusal::Unprocessable(PROTECTED.into()));
            }
            match update.after {
                Some(after) => {
                    let Some(new_commit) = git::commit(&git, after) else {
                        return Err(Refusal::Unprocessable(format!(
                            "Object {after} does not exist or is not a commit"
                        )));
                    };
                    if let Some(old) = actual
                        && !update.force
                        && !git::is_ancestor(&git, old, after)
                    {
                        return Err(Refusal::Unprocessable(format!(
                            "Ref '{name}' cannot be updated: {after} is not a fast forward of {old}."
                        )));
                    }
                    // A new branch is judged by what its tip commit changes.
                    let old_tree = match actual {
                        Some(old) => git::commit(&git, old).map(|c| c.tree),
                        None => new_commit
                            .parents
                            .first()
                            .and_then(|p| git::commit(&git, *p))
                            .map(|c| c.tree),
                    };
                    if let Some(path) =
                        workflow_violation(&git, caller, old_tree, new_commit.tree, &[])
                    {
                        return Err(Refusal::Forbidden(workflow_message(caller, &path)));
                    }
                }
                None => {
                    if actual.is_none() {
                        return Err(Refusal::NotFound(format!(
                            "Could not resolve to a Ref with the name '{name}'."
                        )));
                    }
                    if branch == repo.default_branch {
                        return Err(Refusal::Unprocessable(format!(
                            "Cannot delete '{name}': it is the default branch."
                        )));
                    }
                    deleted.push((branch.to_string(), actual));
                }
            }
            changes.push(RefChange {
                name: name.clone(),
                expected: actual,
                new: update.after,
            });
        }
        git::update_refs(&git, &changes)
            .map_err(|e| Refusal::Stale(format!("Ref update raced with another write: {e}")))?;
        for (branch, tip) in deleted {
            self.branch_deleted(repo_key, &branch, tip);
        }
        self.refresh_pulls(repo_key);
        Ok(())
    }

    /// Closes the open pull requests whose head branch was deleted.
    pub(crate) fn branch_deleted(&mut self, repo_key: &str, branch: &str, last_tip: Option<Oid>) {
        let Some(repo) = self.repos.get_mut(repo_key) else {
            return;
        };
        let now = util::now_rfc3339();
        for pull in repo.pulls.iter_mut() {
            if pull.open && pull.head == branch {
                if let Some(tip) = last_tip {
                    pull.head_sha = tip.to_string();
                }
                pull.open = false;
                pull.closed_at = Some(now.clone());
                pull.updated_at = now.clone();
            }
        }
    }
}

/// One ref update of `State::update_refs`.
pub(crate) struct RefUpdate {
    pub name: String,
    pub before: Option<Option<Oid>>,
    pub after: Option<Oid>,
    pub force: bool,
}

/// The first workflow file (preferring the order of `preferred`) that
/// differs between two trees, when `caller` may not change workflows.
pub(crate) fn workflow_violation(
    git: &gix::Repository,
    caller: &Caller,
    old_tree: Option<Oid>,
    new_tree: Oid,
    preferred: &[&str],
) -> Option<String> {
    if caller.workflow || old_tree == Some(new_tree) {
        return None;
    }
    let sub = |tree: Option<Oid>| {
        tree.and_then(|t| git::lookup(git, t, ".github/workflows"))
            .filter(|e| e.kind == EntryKind::Tree)
            .map(|e| e.oid)
    };
    let (old, new) = (sub(old_tree), sub(Some(new_tree)));
    if old == new {
        return None;
    }
    let changed: Vec<String> = match new {
        Some(new) => git::changed_paths(git, old, new),
        None => old
            .map(|o| git::flatten(git, o).into_keys().collect())
            .unwrap_or_default(),
    };
    let changed: Vec<String> = changed
        .into_iter()
        .map(|p| format!("{WORKFLOWS}{p}"))
        .collect();
    preferred
        .iter()
        .find(|p| changed.iter().any(|c| c == *p))
        .map(|p| p.to_string())
        .or_else(|| changed.into_iter().next())
}

/// GitHub's refusal for a workflow change without the scope/permission.
pub(crate) fn workflow_message(caller: &Caller, path: &str) -> String {
    if caller.app {
        format!(
            "refusing to allow a GitHub App to create or update workflow `{path}` without `workflows` permission"
        )
    } else {
        format!(
            "refusing to allow a Personal Access Token to create or update workflow `{path}` without `workflow` scope"
        )
    }
}
