//! The local forge: bare repositories under one root directory, laid out as
//! `<root>/<owner>/<name>.git`, read and written in-process with gix.
//!
//! It owns object writing (blobs, trees, commits) and compare-and-swap ref
//! updates in those repositories. It must not spawn `git`, push, touch a
//! working tree, or let the user's global/system git configuration change
//! its behaviour (repos are opened isolated). It does no planning: every
//! write is exactly what the caller asked, or an error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::{FullName, Target};

use super::{
    BranchSnapshot, CommitRequest, FileEntry, FileWrite, Forge, ForgeError, ProposalSnapshot,
    RepoId, RepoObservation, RepoQuery, Signature,
};
use crate::blob::{FileMode, ObjectId};

mod claim;
mod owner;

/// Reflog message of every ref update this forge makes (reflogs are only
/// written where the repo's `core.logAllRefUpdates` asks for them).
const REFLOG_MESSAGE: &str = "distributor: commit";

/// How old a ref lock file (`refs/heads/<branch>.lock`, `packed-refs.lock`)
/// must be before it is taken for a dead writer's and removed, and how old
/// an abandoned `--init` creation directory must be before it is cleared.
/// The writers of a local forge repo (this forge, `git push` into it,
/// `git pack-refs`) hold such a lock for milliseconds, seconds at most on a
/// loaded disk, and git never removes one itself: a `kill -9` mid-update
/// would block the branch for good. Ten minutes is far beyond any live
/// holder, so a working writer's lock is never taken, while a crashed one
/// repairs itself on the first run after that (until then the repo alone
/// fails with a clear error and the next run retries).
const STALE_LOCK_AGE: Duration = Duration::from_secs(10 * 60);

/// A forge over bare git repositories on local disk.
#[derive(Debug, Clone)]
pub struct LocalForge {
    root: PathBuf,
}

impl LocalForge {
    /// A forge rooted at `root`, which must be an existing directory.
    pub fn new(root: &Path) -> Result<LocalForge, ForgeError> {
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => Ok(LocalForge {
                root: root.to_path_buf(),
            }),
            Ok(_) => Err(ForgeError::Other(format!(
                "local forge root {} is not a directory",
                root.display()
            ))),
            Err(err) => Err(ForgeError::Other(format!(
                "local forge root {} does not exist or cannot be read: {err}",
                root.display()
            ))),
        }
    }

    /// The root directory holding `<owner>/<name>.git`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `repo` lives: `<root>/<owner>/<name>.git`. Owner and name must
    /// be single, ordinary path segments (no `/`, `..`, NUL ...).
    pub fn repo_path(&self, repo: &RepoId) -> Result<PathBuf, ForgeError> {
        for part in [&repo.owner, &repo.name] {
            let bad = part.is_empty()
                || part == "."
                || part == ".."
                || part
                    .chars()
                    .any(|c| c == '/' || c == '\\' || c.is_control());
            if bad {
                return Err(ForgeError::Other(format!(
                    "{repo}: {part:?} cannot be used as a directory name under the local forge root"
                )));
            }
        }
        Ok(self
            .root
            .join(&repo.owner)
            .join(format!("{}.git", repo.name)))
    }

    /// For `--init` (demos, tests): creates `<root>/<owner>/<name>.git` as a
    /// bare repo whose `HEAD` is `refs/heads/<default_branch>`, with one
    /// initial commit holding a `README.md`. Returns `true` if the repo was
    /// created, `false` if it already existed (it is left untouched).
    ///
    /// The repo is built in a hidden directory next to the target and
    /// renamed into place, so a crash never leaves a half-made repo at the
    /// target. A half-made one found there (left by an older version: not a
    /// valid bare repo, and without objects or refs) is recreated; a broken
    /// one that holds objects or refs is an error for that repo alone.
    pub fn ensure_repo(&self, repo: &RepoId, default_branch: &str) -> Result<bool, ForgeError> {
        let path = self.repo_path(repo)?;
        let head = branch_ref(repo, default_branch)?;
        let owner_dir = path
            .parent()
            .expect("a repo path has an owner directory")
            .to_path_buf();
        let file_name = path
            .file_name()
            .expect("a repo path has a file name")
            .to_string_lossy()
            .into_owned();
        let replace = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(other(repo, &format!("cannot read {}", path.display()), e)),
            Ok(meta) if !meta.is_dir() => {
                return Err(ForgeError::Other(format!(
                    "{repo}: {} exists and is not a directory; move it away to let --init create the repository",
                    path.display()
                )));
            }
            Ok(_) => match half_created(&path) {
                None => {
                    self.open(repo)?;
                    return Ok(false);
                }
                Some(why) if holds_content(&path) => {
                    return Err(ForgeError::Other(format!(
                        "{repo}: {} is not a valid bare repository ({why}) but holds objects or refs; \
                         repair it (git fsck) or move it away, then run --init again",
                        path.display()
                    )));
                }
                Some(why) => {
                    tracing::warn!(
                        repo = %repo,
                        path = %path.display(),
                        problem = why,
                        "recreating a half-created repository (no objects, no refs)"
                    );
                    true
                }
            },
        };
        std::fs::create_dir_all(&owner_dir)
            .map_err(|e| other(repo, &format!("cannot create {}", owner_dir.display()), e))?;
        clear_abandoned_creations(&owner_dir, &file_name);
        // Never a repo path: those end in `.git`, this ends in digits.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let tmp = owner_dir.join(format!(
            "{}{}-{nanos}",
            creation_prefix(&file_name),
            std::process::id()
        ));
        let built = self.build_repo(repo, &tmp, &head, default_branch);
        if let Err(e) = built {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if replace {
            std::fs::remove_dir_all(&path).map_err(|e| {
                let _ = std::fs::remove_dir_all(&tmp);
                other(repo, &format!("cannot remove {}", path.display()), e)
            })?;
        }
        match std::fs::rename(&tmp, &path) {
            Ok(()) => Ok(true),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                // Another `--init` may have won the race: fine if it made a
                // valid repo.
                if path.exists() && half_created(&path).is_none() {
                    self.open(repo)?;
                    Ok(false)
                } else {
                    Err(other(
                        repo,
                        &format!("cannot move the new repository into {}", path.display()),
                        e,
                    ))
                }
            }
        }
    }

    /// Creates the bare repo with its initial commit at `dir`.
    fn build_repo(
        &self,
        repo: &RepoId,
        dir: &Path,
        head: &FullName,
        default_branch: &str,
    ) -> Result<(), ForgeError> {
        let options =
            open_options().config_overrides([format!("init.defaultBranch={default_branch}")]);
        let created = gix::ThreadSafeRepository::init_opts(
            dir,
            gix::create::Kind::Bare,
            gix::create::Options::default(),
            options,
        )
        .map_err(|e| {
            other(
                repo,
                &format!("cannot create bare repository at {}", dir.display()),
                e,
            )
        })?;
        drop(created);
        let git = gix::open_opts(dir, open_options()).map_err(|e| {
            other(
                repo,
                &format!("cannot open the new repository at {}", dir.display()),
                e,
            )
        })?;
        let head_name = git
            .head_name()
            .map_err(|e| other(repo, "cannot read HEAD", e))?;
        if head_name.as_ref() != Some(head) {
            return Err(ForgeError::Other(format!(
                "{repo}: newly created repository at {} does not point HEAD at {head}",
                dir.display()
            )));
        }
        let request = CommitRequest {
            repo: repo.clone(),
            branch: default_branch.to_string(),
            parent: None,
            expected_tip: None,
            files: vec![FileWrite {
                path: "README.md".into(),
                content: Some(
                    format!("# {}\n\nCreated by distributor --init.\n", repo.name).into_bytes(),
                ),
                mode: FileMode::Regular,
                mode_unchanged: false,
            }],
            message: "Initial commit\n".into(),
            author: Signature {
                name: "distributor".into(),
                email: "distributor@localhost".into(),
            },
        };
        commit_in(&git, &request)?;
        Ok(())
    }

    /// Opens an existing repo, isolated from the environment.
    fn open(&self, repo: &RepoId) -> Result<gix::Repository, ForgeError> {
        let path = self.repo_path(repo)?;
        if !path.exists() {
            return Err(ForgeError::NotFound {
                repo: repo.clone(),
                hint: format!(" at {}; create it or run with --init", path.display()),
            });
        }
        gix::open_opts(&path, open_options()).map_err(|e| {
            other(
                repo,
                &format!("cannot open {} as a git repository", path.display()),
                e,
            )
        })
    }

    fn observe_one(&self, query: &RepoQuery) -> Result<RepoObservation, ForgeError> {
        let repo_id = &query.repo;
        let git = self.open(repo_id)?;
        let default_name = match &query.branch {
            Some(branch) => branch.clone(),
            None => default_branch(&git, repo_id)?,
        };
        let tip = read_branch(&git, repo_id, &default_name)?;
        if tip.is_none() {
            // A branch that does not exist is only acceptable when it is the
            // unborn HEAD of an empty repository; otherwise a commit would
            // start a new, unrelated history.
            let head = default_branch(&git, repo_id)?;
            if head != default_name {
                return Err(missing_branch(repo_id, &default_name, &head));
            }
            let (branches, others) = list_refs(&git, repo_id)?;
            if !branches.is_empty() || !others.is_empty() {
                return Err(head_branch_missing(repo_id, &head, &branches, &others));
            }
        }
        let default_branch = snapshot(&git, repo_id, &default_name, tip, query)?;
        let tip_default = tip;

        let proposal = match read_branch(&git, repo_id, &query.proposal_branch)? {
            None => None,
            Some(tip) => {
                let branch = snapshot(&git, repo_id, &query.proposal_branch, Some(tip), query)?;
                let commit = git
                    .find_commit(tip.0)
                    .map_err(|e| other(repo_id, &format!("cannot read commit {tip}"), e))?;
                let base = commit.parent_ids().next().map(|id| ObjectId(id.detach()));
                let (by_distributor, fork) = owner::owned(&git, repo_id, query, tip_default, tip)?;
                let base_snapshot = match base {
                    Some(b) => Some(snapshot(&git, repo_id, &default_name, Some(b), query)?),
                    None => None,
                };
                Some(ProposalSnapshot {
                    branch,
                    base,
                    base_snapshot,
                    by_distributor,
                    contains_default: fork.is_some() && fork == tip_default,
                })
            }
        };
        Ok(RepoObservation {
            repo: repo_id.clone(),
            default_branch,
            proposal,
            pull_request: None,
            web_url: None,
            closed_pull_request: None,
        })
    }

    fn read_blobs_sync(
        &self,
        repo: &RepoId,
        blobs: &[ObjectId],
    ) -> Result<BTreeMap<ObjectId, Vec<u8>>, ForgeError> {
        let git = self.open(repo)?;
        let mut out = BTreeMap::new();
        for id in blobs {
            let object = git
                .try_find_object(id.0)
                .map_err(|e| other(repo, &format!("cannot read blob {id}"), e))?
                .ok_or_else(|| ForgeError::Other(format!("{repo}: blob {id} does not exist")))?;
            if object.kind != gix::objs::Kind::Blob {
                return Err(ForgeError::Other(format!(
                    "{repo}: object {id} is a {}, not a blob",
                    object.kind
                )));
            }
            out.insert(*id, object.detach().data);
        }
        Ok(out)
    }

    fn commit_sync(&self, request: &CommitRequest) -> Result<ObjectId, ForgeError> {
        let git = self.open(&request.repo)?;
        commit_in(&git, request)
    }

    fn delete_sync(
        &self,
        repo: &RepoId,
        branch: &str,
        expected_tip: ObjectId,
    ) -> Result<(), ForgeError> {
        let git = self.open(repo)?;
        let name = branch_ref(repo, branch)?;
        if default_branch(&git, repo).ok().as_deref() == Some(branch) {
            return Err(ForgeError::Refused(format!(
                "refusing to delete `{branch}`, the default branch of {repo}"
            )));
        }
        let actual = read_branch(&git, repo, branch)?;
        if actual != Some(expected_tip) {
            return Err(ForgeError::conflict(
                repo,
                branch,
                Some(expected_tip),
                actual,
            ));
        }
        let edit = RefEdit::delete(
            name,
            PreviousValue::MustExistAndMatch(Target::Object(expected_tip.0)),
        );
        apply_ref_edit(&git, repo, branch, Some(expected_tip), edit, None)
    }
}

impl Forge for LocalForge {
    fn describe(&self) -> String {
        format!("local:{}", self.root.display())
    }

    fn observe_batch_size(&self) -> usize {
        64
    }

    async fn observe(&self, queries: &[RepoQuery]) -> Vec<Result<RepoObservation, ForgeError>> {
        let (me, queries) = (self.clone(), queries.to_vec());
        let n = queries.len();
        match off_thread(move || Ok(queries.iter().map(|q| me.observe_one(q)).collect())).await {
            Ok(results) => results,
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    }

    async fn read_blobs(
        &self,
        repo: &RepoId,
        blobs: &[ObjectId],
    ) -> Result<BTreeMap<ObjectId, Vec<u8>>, ForgeError> {
        let (me, repo, blobs) = (self.clone(), repo.clone(), blobs.to_vec());
        off_thread(move || me.read_blobs_sync(&repo, &blobs)).await
    }

    async fn commit(&self, request: &CommitRequest) -> Result<ObjectId, ForgeError> {
        let (me, request) = (self.clone(), request.clone());
        off_thread(move || me.commit_sync(&request)).await
    }

    async fn delete_branch(
        &self,
        repo: &RepoId,
        branch: &str,
        expected_tip: ObjectId,
    ) -> Result<(), ForgeError> {
        let (me, repo, branch) = (self.clone(), repo.clone(), branch.to_string());
        off_thread(move || me.delete_sync(&repo, &branch, expected_tip)).await
    }
}

/// Runs gix work on tokio's blocking pool: an async worker (the daemon's
/// HTTP server, its signal handling) is never held by disk I/O, and a
/// cycle waiting on it can be stopped. A panic in the work is an error.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ForgeError> + Send + 'static,
) -> Result<T, ForgeError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(ForgeError::Other(format!("local forge task failed: {e}"))))
}

/// Open options that read nothing but the repository's own config: no
/// system, global or user config, no environment variables.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated().open_path_as_is(true)
}

/// An error message with its whole cause chain on one line.
fn other(repo: &RepoId, what: &str, err: impl std::error::Error) -> ForgeError {
    let mut message = format!("{repo}: {what}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.ends_with(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    ForgeError::Other(message)
}

/// `refs/heads/<branch>`, validated.
fn branch_ref(repo: &RepoId, branch: &str) -> Result<FullName, ForgeError> {
    crate::paths::check_branch_name(branch)
        .map_err(|e| ForgeError::Other(format!("{repo}: {e}")))?;
    FullName::try_from(format!("refs/heads/{branch}"))
        .map_err(|e| other(repo, &format!("invalid branch name {branch:?}"), e))
}

/// The branch `HEAD` points to (which may be unborn).
fn default_branch(git: &gix::Repository, repo: &RepoId) -> Result<String, ForgeError> {
    let name = git
        .head_name()
        .map_err(|e| other(repo, "cannot read HEAD", e))?
        .ok_or_else(|| {
            ForgeError::Other(format!(
                "{repo}: HEAD is detached, so the default branch is unknown"
            ))
        })?;
    let full = name.as_bstr().to_string();
    full.strip_prefix("refs/heads/")
        .map(str::to_string)
        .ok_or_else(|| {
            ForgeError::Other(format!(
                "{repo}: HEAD points to {full}, which is not a branch"
            ))
        })
}

/// The error for a configured default branch that the repo lacks.
pub(crate) fn missing_branch(repo: &RepoId, branch: &str, head: &str) -> ForgeError {
    ForgeError::NotFound {
        repo: repo.clone(),
        hint: format!(
            ": it has no branch `{branch}` (its default branch is `{head}`); fix `default_branch` in the registry"
        ),
    }
}

/// The error for a `HEAD` naming a branch that does not exist in a repo
/// that has commits elsewhere.
fn head_branch_missing(
    repo: &RepoId,
    head: &str,
    branches: &[String],
    others: &[String],
) -> ForgeError {
    let existing = if branches.is_empty() {
        format!("no branches, but other refs ({})", others.join(", "))
    } else {
        format!(
            "branches {}",
            branches
                .iter()
                .map(|b| format!("`{b}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    ForgeError::NotFound {
        repo: repo.clone(),
        hint: format!(
            ": HEAD points to `refs/heads/{head}`, which does not exist, and the repository has {existing}; \
             point HEAD at the default branch (git symbolic-ref HEAD refs/heads/<branch>) or set `default_branch` in the registry"
        ),
    }
}

/// The repo's branch names and its other ref names (tags, notes ...).
fn list_refs(
    git: &gix::Repository,
    repo: &RepoId,
) -> Result<(Vec<String>, Vec<String>), ForgeError> {
    let cannot = |e: &dyn std::fmt::Display| {
        ForgeError::Other(format!("{repo}: cannot list references: {e}"))
    };
    let platform = git.references().map_err(|e| cannot(&e))?;
    let (mut branches, mut others) = (Vec::new(), Vec::new());
    for reference in platform.all().map_err(|e| cannot(&e))? {
        let reference = reference.map_err(|e| cannot(&e))?;
        let name = reference.name().as_bstr().to_string();
        match name.strip_prefix("refs/heads/") {
            Some(branch) => branches.push(branch.to_string()),
            None => others.push(name),
        }
    }
    Ok((branches, others))
}

/// Why `path` (an existing directory) is not a usable bare repo, `None` if
/// it is one.
fn half_created(path: &Path) -> Option<&'static str> {
    if !path.join("HEAD").is_file() {
        Some("no HEAD")
    } else if !path.join("objects").is_dir() {
        Some("no objects directory")
    } else if !path.join("refs").is_dir() {
        Some("no refs directory")
    } else if gix::open_opts(path, open_options()).is_err() {
        Some("git cannot open it")
    } else {
        None
    }
}

/// Whether a directory holds any object or ref: files under `objects/`
/// or `refs/`, or a non-empty `packed-refs`.
fn holds_content(path: &Path) -> bool {
    fn any_file(dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| match e.file_type() {
            Ok(t) if t.is_dir() => any_file(&e.path()),
            Ok(_) => true,
            Err(_) => true,
        })
    }
    any_file(&path.join("objects"))
        || any_file(&path.join("refs"))
        || std::fs::metadata(path.join("packed-refs")).is_ok_and(|m| m.len() > 0)
}

/// The name prefix of the hidden directories `ensure_repo` builds
/// `<file_name>` in (a leading `.` and no `.git` ending: never a repo).
fn creation_prefix(file_name: &str) -> String {
    format!(".{file_name}.init-")
}

/// Removes creation directories for `file_name` abandoned by a crash
/// (older than [`STALE_LOCK_AGE`]; a live one takes milliseconds). Best
/// effort: they hide nothing and only take space.
fn clear_abandoned_creations(owner_dir: &Path, file_name: &str) {
    let prefix = creation_prefix(file_name);
    let Ok(entries) = std::fs::read_dir(owner_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(suffix) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        if !suffix.chars().all(|c| c.is_ascii_digit() || c == '-') {
            continue;
        }
        let age = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        if age.is_some_and(|a| a >= STALE_LOCK_AGE) {
            tracing::warn!(path = %entry.path().display(), "removing a repository creation directory abandoned by a crash");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A ref lock file found after a failed ref update.
struct HeldLock {
    path: PathBuf,
    age: Duration,
    dev: u64,
    ino: u64,
}

/// The lock files an update of `name` may take: its own `.lock` and
/// `packed-refs.lock`.
fn held_lock_paths(git: &gix::Repository, name: &FullName) -> Vec<PathBuf> {
    let dir = git.path();
    vec![
        dir.join(format!("{}.lock", name.as_bstr())),
        dir.join("packed-refs.lock"),
    ]
}

/// The lock files that block an update of `name` (see [`held_lock_paths`]).
fn held_locks(git: &gix::Repository, name: &FullName) -> Vec<HeldLock> {
    use std::os::unix::fs::MetadataExt;
    held_lock_paths(git, name)
        .into_iter()
        .filter_map(|path| {
            let meta = std::fs::symlink_metadata(&path).ok()?;
            // A timestamp in the future counts as fresh: never steal on doubt.
            let age = meta
                .modified()
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or(Duration::ZERO);
            Some(HeldLock {
                path,
                age,
                dev: meta.dev(),
                ino: meta.ino(),
            })
        })
        .collect()
}

/// Removes a lock judged stale, unless it was replaced since (a writer that
/// took the lock anew keeps it).
fn remove_stale_lock(repo: &RepoId, lock: &HeldLock) -> Result<(), ForgeError> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(&lock.path) {
        Ok(m) if (m.dev(), m.ino()) == (lock.dev, lock.ino) => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(other(
                repo,
                &format!("cannot read {}", lock.path.display()),
                e,
            ));
        }
    }
    tracing::warn!(
        repo = %repo,
        path = %lock.path.display(),
        age_secs = lock.age.as_secs(),
        "removing a stale ref lock left by a dead writer"
    );
    match std::fs::remove_file(&lock.path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(other(
            repo,
            &format!("cannot remove the stale lock {}", lock.path.display()),
            e,
        )),
    }
}

/// The tip of `refs/heads/<branch>`, `None` if the branch does not exist.
fn read_branch(
    git: &gix::Repository,
    repo: &RepoId,
    branch: &str,
) -> Result<Option<ObjectId>, ForgeError> {
    let name = branch_ref(repo, branch)?;
    let found = git
        .try_find_reference(name.as_ref())
        .map_err(|e| other(repo, &format!("cannot read {name}"), e))?;
    // Partial-name lookup may try other prefixes; accept only the exact ref.
    let Some(reference) = found.filter(|r| r.name() == name.as_ref()) else {
        return Ok(None);
    };
    match reference.target() {
        gix::refs::TargetRef::Object(id) => Ok(Some(ObjectId(id.to_owned()))),
        gix::refs::TargetRef::Symbolic(to) => Err(ForgeError::Other(format!(
            "{repo}: {name} is a symbolic ref to {to}; distributor only handles plain branches"
        ))),
    }
}

/// The queried paths and lock file of one branch tip.
fn snapshot(
    git: &gix::Repository,
    repo: &RepoId,
    branch: &str,
    tip: Option<ObjectId>,
    query: &RepoQuery,
) -> Result<BranchSnapshot, ForgeError> {
    let mut files: BTreeMap<String, Option<FileEntry>> =
        query.paths.iter().map(|p| (p.clone(), None)).collect();
    let mut lock = None;
    if let Some(tip) = tip {
        let tree = git.find_commit(tip.0).and_then(|c| c.tree()).map_err(|e| {
            other(
                repo,
                &format!("cannot read the tree of {branch} at {tip}"),
                e,
            )
        })?;
        let lookup = |path: &str| {
            tree.lookup_entry(path.split('/'))
                .map_err(|e| other(repo, &format!("cannot look up {path} on {branch}"), e))
        };
        for (path, slot) in files.iter_mut() {
            *slot = lookup(path)?.map(|entry| FileEntry {
                blob: ObjectId(entry.object_id()),
                mode: file_mode(entry.mode().kind()),
            });
        }
        if let Some(entry) = lookup(&query.lock_path)?
            && file_mode(entry.mode().kind()).is_some()
        {
            let blob = git.find_blob(entry.object_id()).map_err(|e| {
                other(
                    repo,
                    &format!("cannot read {} on {branch}", query.lock_path),
                    e,
                )
            })?;
            lock = Some(blob.data.clone());
        }
    }
    Ok(BranchSnapshot {
        name: branch.to_string(),
        tip,
        files,
        lock,
        checks: None,
    })
}

fn file_mode(kind: gix::objs::tree::EntryKind) -> Option<FileMode> {
    match kind {
        gix::objs::tree::EntryKind::Blob => Some(FileMode::Regular),
        gix::objs::tree::EntryKind::BlobExecutable => Some(FileMode::Executable),
        _ => None,
    }
}

fn entry_kind(mode: FileMode) -> gix::objs::tree::EntryKind {
    match mode {
        FileMode::Regular => gix::objs::tree::EntryKind::Blob,
        FileMode::Executable => gix::objs::tree::EntryKind::BlobExecutable,
    }
}

/// Writes the commit `request` describes into `git` and moves the branch.
fn commit_in(git: &gix::Repository, request: &CommitRequest) -> Result<ObjectId, ForgeError> {
    let repo = &request.repo;
    let branch = request.branch.as_str();
    let name = branch_ref(repo, branch)?;
    for write in &request.files {
        crate::paths::check_write_path(&write.path, write.content.is_none())
            .map_err(|e| ForgeError::Other(format!("{repo}: {e}")))?;
    }
    request.check_fast_forward(&default_branch(git, repo)?)?;
    // Cheap early check; the ref transaction below re-checks under its lock.
    request.check_tip(read_branch(git, repo, branch)?)?;

    let base_tree = match request.parent {
        Some(parent) => git
            .find_commit(parent.0)
            .and_then(|c| c.tree_id())
            .map_err(|e| other(repo, &format!("cannot read parent commit {parent}"), e))?
            .detach(),
        None => gix::ObjectId::empty_tree(git.object_hash()),
    };
    let mut editor = git
        .edit_tree(base_tree)
        .map_err(|e| other(repo, "cannot start editing the tree", e))?;
    for write in &request.files {
        let path = write.path.as_str();
        match &write.content {
            Some(content) => {
                let blob = git
                    .write_blob(content)
                    .map_err(|e| other(repo, &format!("cannot write blob for {path}"), e))?;
                editor
                    .upsert(path, entry_kind(write.mode), blob.detach())
                    .map_err(|e| other(repo, &format!("cannot add {path} to the tree"), e))?;
            }
            None => {
                editor
                    .remove_leaf(path)
                    .map_err(|e| other(repo, &format!("cannot remove {path} from the tree"), e))?;
            }
        }
    }
    let tree = editor
        .write()
        .map_err(|e| other(repo, "cannot write the tree", e))?
        .detach();
    // gix replaces a file by a directory (or a directory by a file) when a
    // write needs it; that would drop files nobody asked to delete.
    let mut removed = Vec::new();
    removed_files(git, repo, base_tree, Some(tree), "", &mut removed)?;
    let deleted: BTreeSet<&str> = request
        .files
        .iter()
        .filter(|w| w.content.is_none())
        .map(|w| w.path.as_str())
        .collect();
    if let Some(path) = removed.iter().find(|p| !deleted.contains(p.as_str())) {
        return Err(implicit_removal(repo, branch, path));
    }

    let signature = gix::actor::Signature {
        name: request.author.name.as_str().into(),
        email: request.author.email.as_str().into(),
        time: gix::date::Time::now_utc(),
    };
    let commit = gix::objs::Commit {
        tree,
        parents: request.parent.map(|p| p.0).into_iter().collect(),
        author: signature.clone(),
        committer: signature.clone(),
        encoding: None,
        message: request.message.as_str().into(),
        extra_headers: Vec::new(),
    };
    let id = ObjectId(
        git.write_object(&commit)
            .map_err(|e| other(repo, "cannot write the commit", e))?
            .detach(),
    );

    let expected = match request.expected_tip {
        Some(tip) => PreviousValue::MustExistAndMatch(Target::Object(tip.0)),
        None => PreviousValue::MustNotExist,
    };
    let edit = RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: REFLOG_MESSAGE.into(),
            },
            expected,
            new: Target::Object(id.0),
        },
        name,
        deref: false,
    };
    apply_ref_edit(
        git,
        repo,
        branch,
        request.expected_tip,
        edit,
        Some(&signature),
    )?;
    Ok(id)
}

/// The error for a write set that would drop `path` without deleting it.
fn implicit_removal(repo: &RepoId, branch: &str, path: &str) -> ForgeError {
    ForgeError::Other(format!(
        "{repo}: the changes to `{branch}` would remove `{path}` without deleting it \
         (a file and a directory would swap places); delete it explicitly first"
    ))
}

/// Collects into `out` the paths of non-directory entries under `old`
/// that are not non-directory entries at the same path under `new` (`None`:
/// the whole of `old` is gone). Identical subtrees are skipped.
fn removed_files(
    git: &gix::Repository,
    repo: &RepoId,
    old: gix::ObjectId,
    new: Option<gix::ObjectId>,
    prefix: &str,
    out: &mut Vec<String>,
) -> Result<(), ForgeError> {
    use gix::objs::tree::EntryKind;
    let entries =
        |id: gix::ObjectId| -> Result<Vec<(String, EntryKind, gix::ObjectId)>, ForgeError> {
            let tree = git
                .find_tree(id)
                .map_err(|e| other(repo, &format!("cannot read tree {id}"), e))?;
            let decoded = tree
                .decode()
                .map_err(|e| other(repo, &format!("cannot decode tree {id}"), e))?;
            Ok(decoded
                .entries
                .iter()
                .map(|e| (e.filename.to_string(), e.mode.kind(), e.oid.to_owned()))
                .collect())
        };
    let new_entries: BTreeMap<String, (EntryKind, gix::ObjectId)> = match new {
        Some(id) => entries(id)?
            .into_iter()
            .map(|(name, kind, oid)| (name, (kind, oid)))
            .collect(),
        None => BTreeMap::new(),
    };
    for (name, kind, oid) in entries(old)? {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let counterpart = new_entries.get(&name);
        if kind == EntryKind::Tree {
            match counterpart {
                Some((EntryKind::Tree, new_oid)) if *new_oid == oid => {}
                Some((EntryKind::Tree, new_oid)) => {
                    removed_files(git, repo, oid, Some(*new_oid), &path, out)?
                }
                _ => removed_files(git, repo, oid, None, &path, out)?,
            }
        } else if !matches!(counterpart, Some((k, _)) if *k != EntryKind::Tree) {
            out.push(path);
        }
    }
    Ok(())
}

/// Applies one ref edit; a failure where the branch turns out not to be at
/// `expected` is reported as a conflict. The update runs under the
/// repository's [`claim::Claim`], which first removes the locks a
/// distributor killed mid-update left. Any other lock file older than
/// [`STALE_LOCK_AGE`] blocking the update is a dead writer's: it is removed
/// and the update retried once; a younger one is another writer's, an error.
fn apply_ref_edit(
    git: &gix::Repository,
    repo: &RepoId,
    branch: &str,
    expected: Option<ObjectId>,
    edit: RefEdit,
    committer: Option<&gix::actor::Signature>,
) -> Result<(), ForgeError> {
    let mut time_buf = gix::date::parse::TimeBuf::default();
    let committer = committer.map(|s| s.to_ref(&mut time_buf));
    let taken = held_lock_paths(git, &edit.name);
    let _claim = claim::Claim::take(git.path(), repo, &taken)?;
    let mut retried = false;
    loop {
        let err = match git.edit_references_as(Some(edit.clone()), committer) {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let locks = held_locks(git, &edit.name);
        if let Some(fresh) = locks.iter().find(|l| l.age < STALE_LOCK_AGE) {
            return Err(ForgeError::Other(format!(
                "{repo}: cannot update branch `{branch}`: another writer holds {} (taken {}s ago); \
                 try again later (a lock older than {} minutes is taken for a dead writer's and removed)",
                fresh.path.display(),
                fresh.age.as_secs(),
                STALE_LOCK_AGE.as_secs() / 60
            )));
        }
        if !locks.is_empty() && !retried {
            for lock in &locks {
                remove_stale_lock(repo, lock)?;
            }
            retried = true;
            continue;
        }
        if let Some(clash) = namespace_clash(git, branch) {
            return Err(ForgeError::Refused(clash));
        }
        let actual = read_branch(git, repo, branch)?;
        return if actual != expected {
            Err(ForgeError::conflict(repo, branch, expected, actual))
        } else {
            Err(other(
                repo,
                &format!("cannot update branch `{branch}`"),
                err,
            ))
        };
    }
}

/// Git keeps branches as paths: `distributor/sync` cannot exist beside a
/// branch `distributor`, nor `main` beside `main/x`. Says so in plain
/// words when that is why a branch cannot be written.
fn namespace_clash(git: &gix::Repository, branch: &str) -> Option<String> {
    let exists = |name: &str| {
        git.try_find_reference(format!("refs/heads/{name}").as_str())
            .ok()
            .flatten()
            .is_some()
    };
    let mut prefix = String::new();
    for part in branch.split('/') {
        if !prefix.is_empty() {
            if exists(&prefix) {
                return Some(format!(
                    "branch `{branch}` cannot be created because a branch `{prefix}` exists (git keeps branches as paths, so one cannot be a folder of the other): rename that branch, or set another `proposal_branch` in the registry"
                ));
            }
            prefix.push('/');
        }
        prefix.push_str(part);
    }
    let under = git
        .references()
        .ok()?
        .prefixed(format!("refs/heads/{branch}/").as_str())
        .ok()?
        .filter_map(Result::ok)
        .next()?;
    Some(format!(
        "branch `{branch}` cannot be created because branch `{}` exists below it (git keeps branches as paths): rename that branch, or set another `proposal_branch` in the registry",
        under.name().shorten()
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Command;

    /// Runs `git` isolated from the user's configuration; panics on failure.
    pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
        let out = git_output(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 git output")
    }

    /// Runs `git` isolated from the user's configuration (identity: Human).
    pub(crate) fn git_output(dir: &Path, args: &[&str]) -> std::process::Output {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Human")
            .env("GIT_AUTHOR_EMAIL", "human@example.com")
            .env("GIT_COMMITTER_NAME", "Human")
            .env("GIT_COMMITTER_EMAIL", "human@example.com")
            .output()
            .expect("git runs")
    }

    fn author() -> Signature {
        Signature {
            name: "Distributor Bot".into(),
            email: "bot@example.com".into(),
        }
    }

    fn write(path: &str, content: &str) -> FileWrite {
        FileWrite {
            path: path.into(),
            content: Some(content.as_bytes().to_vec()),
            mode: FileMode::Regular,
            mode_unchanged: false,
        }
    }

    fn delete(path: &str) -> FileWrite {
        FileWrite {
            path: path.into(),
            content: None,
            mode: FileMode::Regular,
            mode_unchanged: false,
        }
    }

    struct Setup {
        dir: tempfile::TempDir,
        forge: LocalForge,
        repo: RepoId,
        bare: PathBuf,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let forge = LocalForge::new(dir.path()).unwrap();
        let repo = RepoId::new("team", "app");
        assert!(forge.ensure_repo(&repo, "main").unwrap());
        let bare = forge.repo_path(&repo).unwrap();
        Setup {
            dir,
            forge,
            repo,
            bare,
        }
    }

    fn tip(bare: &Path, branch: &str) -> Option<String> {
        let out = git_output(
            bare,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ],
        );
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
    }

    fn oid(hex: &str) -> ObjectId {
        hex.parse().unwrap()
    }

    fn request(
        s: &Setup,
        branch: &str,
        parent: Option<ObjectId>,
        expected: Option<ObjectId>,
        files: Vec<FileWrite>,
        message: &str,
    ) -> CommitRequest {
        CommitRequest {
            repo: s.repo.clone(),
            branch: branch.into(),
            parent,
            expected_tip: expected,
            files,
            message: message.into(),
            author: author(),
        }
    }

    fn fsck(bare: &Path) {
        let out = git_output(bare, &["fsck", "--strict", "--no-dangling"]);
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "fsck: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn query(repo: &RepoId, paths: &[&str]) -> RepoQuery {
        RepoQuery {
            repo: repo.clone(),
            branch: None,
            paths: paths.iter().map(|p| p.to_string()).collect(),
            lock_path: ".distributor.lock".into(),
            proposal_branch: "distributor/update".into(),
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn new_rejects_missing_and_non_directory_roots() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = LocalForge::new(&missing).unwrap_err();
        assert!(
            matches!(&err, ForgeError::Other(m) if m.contains(&missing.display().to_string())),
            "{err}"
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let err = LocalForge::new(&file).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        let forge = LocalForge::new(dir.path()).unwrap();
        assert_eq!(forge.describe(), format!("local:{}", dir.path().display()));
        assert_eq!(forge.observe_batch_size(), 64);
    }

    #[test]
    fn repo_names_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let forge = LocalForge::new(dir.path()).unwrap();
        for (owner, name) in [
            ("..", "x"),
            ("a", "../b"),
            ("a/b", "c"),
            ("", "c"),
            ("a", "."),
            (".", "a"),
        ] {
            assert!(
                forge.repo_path(&RepoId::new(owner, name)).is_err(),
                "{owner}/{name}"
            );
        }
    }

    #[test]
    fn ensure_repo_creates_a_valid_bare_repo_once() {
        let s = setup();
        assert!(!s.forge.ensure_repo(&s.repo, "main").unwrap());
        assert_eq!(
            git(&s.bare, &["rev-parse", "--is-bare-repository"]).trim(),
            "true"
        );
        assert_eq!(
            git(&s.bare, &["symbolic-ref", "HEAD"]).trim(),
            "refs/heads/main"
        );
        assert_eq!(
            git(&s.bare, &["show", "main:README.md"]),
            "# app\n\nCreated by distributor --init.\n"
        );
        fsck(&s.bare);

        let other = RepoId::new("team", "svc");
        assert!(s.forge.ensure_repo(&other, "trunk").unwrap());
        let bare = s.forge.repo_path(&other).unwrap();
        assert_eq!(
            git(&bare, &["symbolic-ref", "HEAD"]).trim(),
            "refs/heads/trunk"
        );
    }

    #[test]
    fn commits_are_valid_git_and_exact() {
        let s = setup();
        let base = oid(&tip(&s.bare, "main").unwrap());
        let msg = "chore: update integrations\n\nBody.\n\nDistributor-Version: 0.1.0\n";
        let mut exe = write("scripts/run.sh", "#!/bin/sh\necho hi\n");
        exe.mode = FileMode::Executable;
        let id = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(base),
            Some(base),
            vec![
                write(".github/workflows/ci.yml", "name: ci\n"),
                write("a/b/c/deep.txt", "deep\n"),
                exe,
                write("README.md", "replaced\n"),
            ],
            msg,
        )))
        .unwrap();
        assert_eq!(tip(&s.bare, "main").unwrap(), id.to_string());
        fsck(&s.bare);
        assert_eq!(
            git(&s.bare, &["log", "-1", "--format=%B", "main"]),
            format!("{msg}\n")
        );
        assert_eq!(
            git(
                &s.bare,
                &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%P", "main"]
            )
            .trim(),
            format!("Distributor Bot <bot@example.com>|Distributor Bot <bot@example.com>|{base}")
        );
        assert_eq!(
            git(&s.bare, &["show", "main:.github/workflows/ci.yml"]),
            "name: ci\n"
        );
        assert_eq!(git(&s.bare, &["show", "main:a/b/c/deep.txt"]), "deep\n");
        assert_eq!(git(&s.bare, &["show", "main:README.md"]), "replaced\n");
        let ls = git(&s.bare, &["ls-tree", "-r", "main"]);
        assert!(
            ls.contains("100755 blob") && ls.contains("\tscripts/run.sh"),
            "{ls}"
        );
        assert!(
            ls.lines()
                .any(|l| l.starts_with("100755") && l.ends_with("\tscripts/run.sh")),
            "{ls}"
        );
        assert!(
            ls.lines()
                .any(|l| l.starts_with("100644") && l.ends_with("\ta/b/c/deep.txt")),
            "{ls}"
        );

        // Deleting the only file under a/b/c removes a/, b/ and c/.
        let id2 = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(id),
            Some(id),
            vec![delete("a/b/c/deep.txt"), delete("not/there.txt")],
            "remove\n",
        )))
        .unwrap();
        fsck(&s.bare);
        let top = git(&s.bare, &["ls-tree", "--name-only", &id2.to_string()]);
        assert_eq!(top, ".github\nREADME.md\nscripts\n");
    }

    #[test]
    fn cas_conflict_leaves_the_branch_unchanged() {
        let s = setup();
        let base = oid(&tip(&s.bare, "main").unwrap());
        let first = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(base),
            Some(base),
            vec![write("x", "1\n")],
            "one\n",
        )))
        .unwrap();
        // A stale writer still believes the tip is `base`.
        let err = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(base),
            Some(base),
            vec![write("x", "2\n")],
            "two\n",
        )))
        .unwrap_err();
        assert_eq!(
            err,
            ForgeError::Conflict {
                repo: s.repo.clone(),
                branch: "main".into(),
                expected: base.to_string(),
                actual: first.to_string(),
            }
        );
        assert_eq!(tip(&s.bare, "main").unwrap(), first.to_string());
        // Creating a branch that exists is a conflict too.
        block_on(s.forge.commit(&request(
            &s,
            "prop",
            Some(first),
            None,
            vec![write("y", "1\n")],
            "p\n",
        )))
        .unwrap();
        let prop = tip(&s.bare, "prop").unwrap();
        let err = block_on(s.forge.commit(&request(
            &s,
            "prop",
            Some(first),
            None,
            vec![write("y", "2\n")],
            "p\n",
        )))
        .unwrap_err();
        assert!(
            matches!(&err, ForgeError::Conflict { expected, actual, .. } if expected == "no branch" && *actual == prop),
            "{err}"
        );
        assert_eq!(tip(&s.bare, "prop").unwrap(), prop);
        fsck(&s.bare);
    }

    #[test]
    fn proposal_branch_can_be_reset_and_deleted_with_cas() {
        let s = setup();
        let base = oid(&tip(&s.bare, "main").unwrap());
        let p1 = block_on(s.forge.commit(&request(
            &s,
            "distributor/update",
            Some(base),
            None,
            vec![write("f", "1\n")],
            "p1\n",
        )))
        .unwrap();
        // The default branch moves on; the proposal is rebuilt on the new tip.
        let main2 = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(base),
            Some(base),
            vec![write("g", "g\n")],
            "human-ish\n",
        )))
        .unwrap();
        let p2 = block_on(s.forge.commit(&request(
            &s,
            "distributor/update",
            Some(main2),
            Some(p1),
            vec![write("f", "2\n")],
            "p2\n",
        )))
        .unwrap();
        assert_eq!(tip(&s.bare, "distributor/update").unwrap(), p2.to_string());
        assert_eq!(
            git(&s.bare, &["rev-parse", &format!("{p2}^")]).trim(),
            main2.to_string()
        );
        assert_eq!(git(&s.bare, &["show", "distributor/update:g"]), "g\n");
        fsck(&s.bare);

        let err = block_on(s.forge.delete_branch(&s.repo, "distributor/update", p1)).unwrap_err();
        assert!(matches!(err, ForgeError::Conflict { .. }), "{err}");
        assert_eq!(tip(&s.bare, "distributor/update").unwrap(), p2.to_string());
        block_on(s.forge.delete_branch(&s.repo, "distributor/update", p2)).unwrap();
        assert_eq!(tip(&s.bare, "distributor/update"), None);
        let err = block_on(s.forge.delete_branch(&s.repo, "distributor/update", p2)).unwrap_err();
        assert!(
            matches!(&err, ForgeError::Conflict { actual, .. } if actual == "no branch"),
            "{err}"
        );
        let err = block_on(s.forge.delete_branch(&s.repo, "main", main2)).unwrap_err();
        assert!(matches!(err, ForgeError::Refused(_)), "{err}");
        fsck(&s.bare);
    }

    #[test]
    fn default_branch_history_is_never_rewritten() {
        let s = setup();
        let base = oid(&tip(&s.bare, "main").unwrap());
        let next = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(base),
            Some(base),
            vec![write("x", "1\n")],
            "one\n",
        )))
        .unwrap();
        // Parent is not the tip being replaced: a reset, refused.
        let err = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(base),
            Some(next),
            vec![write("x", "2\n")],
            "two\n",
        )))
        .unwrap_err();
        assert!(
            matches!(&err, ForgeError::Refused(m) if m.contains("refusing to rewrite history")),
            "{err}"
        );
        assert_eq!(tip(&s.bare, "main").unwrap(), next.to_string());
    }

    #[test]
    fn observe_matches_git() {
        let s = setup();
        let base = oid(&tip(&s.bare, "main").unwrap());
        let mut exe = write("bin/tool", "#!/bin/sh\n");
        exe.mode = FileMode::Executable;
        let main = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(base),
            Some(base),
            vec![
                write("a.txt", "a\n"),
                exe,
                write(".distributor.lock", "{\"v\":1}\n"),
            ],
            "files\n",
        )))
        .unwrap();
        let q = query(
            &s.repo,
            &["a.txt", "bin/tool", "bin", "missing.txt", "a.txt/inside"],
        );
        let missing = query(&RepoId::new("team", "ghost"), &["a.txt"]);
        let results = block_on(s.forge.observe(&[missing, q.clone()]));
        assert_eq!(results.len(), 2);
        let err = results[0].clone().unwrap_err();
        assert!(
            matches!(&err, ForgeError::NotFound { hint, .. } if hint.contains("--init") && hint.contains("ghost.git")),
            "{err}"
        );
        let obs = results[1].clone().unwrap();
        assert_eq!(obs.default_branch.name, "main");
        assert_eq!(obs.default_branch.tip, Some(main));
        let hash = |content: &str| {
            let out = Command::new("git")
                .args(["hash-object", "--stdin"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    use std::io::Write;
                    child.stdin.take().unwrap().write_all(content.as_bytes())?;
                    child.wait_with_output()
                })
                .unwrap();
            oid(String::from_utf8(out.stdout).unwrap().trim())
        };
        let files = &obs.default_branch.files;
        assert_eq!(
            files["a.txt"],
            Some(FileEntry {
                blob: hash("a\n"),
                mode: Some(FileMode::Regular)
            })
        );
        assert_eq!(
            files["bin/tool"],
            Some(FileEntry {
                blob: hash("#!/bin/sh\n"),
                mode: Some(FileMode::Executable)
            })
        );
        assert_eq!(files["bin"].unwrap().mode, None);
        assert_eq!(files["missing.txt"], None);
        assert_eq!(files["a.txt/inside"], None);
        assert_eq!(
            obs.default_branch.lock.as_deref(),
            Some(&b"{\"v\":1}\n"[..])
        );
        assert_eq!(obs.proposal, None);

        // A proposal by distributor, then a human commit on top of it.
        let p = block_on(s.forge.commit(&request(
            &s,
            "distributor/update",
            Some(main),
            None,
            vec![write("a.txt", "b\n"), lock_recording("a.txt", "b\n")],
            "update\n\nDistributor-Version: 1.2.3\n",
        )))
        .unwrap();
        let obs = block_on(s.forge.observe(std::slice::from_ref(&q)))
            .remove(0)
            .unwrap();
        let proposal = obs.proposal.unwrap();
        assert_eq!(proposal.branch.tip, Some(p));
        assert_eq!(proposal.base, Some(main));
        assert!(proposal.by_distributor);
        assert_eq!(proposal.branch.files["a.txt"].unwrap().blob, hash("b\n"));
        assert_eq!(proposal.branch.name, "distributor/update");

        let blobs = block_on(s.forge.read_blobs(&s.repo, &[hash("a\n"), hash("b\n")])).unwrap();
        assert_eq!(blobs[&hash("a\n")], b"a\n");
        assert_eq!(blobs[&hash("b\n")], b"b\n");
        let err = block_on(s.forge.read_blobs(&s.repo, &[hash("never written\n")])).unwrap_err();
        assert!(
            err.to_string()
                .contains(&hash("never written\n").to_string()),
            "{err}"
        );

        // Human commit via the git CLI on the proposal branch.
        let work = s.dir.path().join("work");
        git(
            s.dir.path(),
            &[
                "clone",
                "-q",
                "-b",
                "distributor/update",
                s.bare.to_str().unwrap(),
                work.to_str().unwrap(),
            ],
        );
        std::fs::write(work.join("a.txt"), "human\n").unwrap();
        git(&work, &["commit", "-q", "-am", "tweak by hand"]);
        git(&work, &["push", "-q", "origin", "distributor/update"]);
        let obs = block_on(s.forge.observe(std::slice::from_ref(&q)))
            .remove(0)
            .unwrap();
        let proposal = obs.proposal.unwrap();
        assert!(!proposal.by_distributor);
        assert_eq!(proposal.base, Some(p));

        // Observing another branch explicitly.
        let mut q2 = q.clone();
        q2.branch = Some("distributor/update".into());
        let obs = block_on(s.forge.observe(&[q2])).remove(0).unwrap();
        assert_eq!(obs.default_branch.name, "distributor/update");
        assert_eq!(
            obs.default_branch.files["a.txt"].unwrap().blob,
            hash("human\n")
        );
    }

    /// The lock file (at the tests' lock path) recording one file, as
    /// distributor writes it with that file.
    fn lock_recording(path: &str, content: &str) -> FileWrite {
        let lock = crate::lock::Lock {
            version: crate::lock::LOCK_VERSION,
            source: crate::lock::Source {
                revision: "r1".into(),
                dirty: false,
                digest: None,
            },
            generator: "test".into(),
            files: [(
                path.to_string(),
                crate::lock::LockEntry {
                    bundle: "b".into(),
                    template: "t".into(),
                    blob: crate::blob::blob_id(content.as_bytes()),
                    mode: FileMode::Regular,
                    rendered: None,
                    rendered_text: None,
                },
            )]
            .into(),
        };
        FileWrite {
            path: ".distributor.lock".into(),
            content: Some(lock.to_bytes()),
            mode: FileMode::Regular,
            mode_unchanged: false,
        }
    }

    #[test]
    fn unborn_repo_observes_empty_and_takes_a_first_commit() {
        let dir = tempfile::tempdir().unwrap();
        let forge = LocalForge::new(dir.path()).unwrap();
        let repo = RepoId::new("team", "empty");
        let bare = forge.repo_path(&repo).unwrap();
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "develop"]);
        let obs = block_on(forge.observe(&[query(&repo, &["a.txt"])]))
            .remove(0)
            .unwrap();
        assert_eq!(obs.default_branch.name, "develop");
        assert_eq!(obs.default_branch.tip, None);
        assert_eq!(obs.default_branch.files["a.txt"], None);
        assert_eq!(obs.default_branch.lock, None);
        assert_eq!(obs.proposal, None);

        let id = block_on(forge.commit(&CommitRequest {
            repo: repo.clone(),
            branch: "develop".into(),
            parent: None,
            expected_tip: None,
            files: vec![write("a.txt", "first\n")],
            message: "first\n".into(),
            author: author(),
        }))
        .unwrap();
        assert_eq!(tip(&bare, "develop").unwrap(), id.to_string());
        assert_eq!(git(&bare, &["show", "develop:a.txt"]), "first\n");
        assert_eq!(git(&bare, &["rev-list", "--count", "develop"]).trim(), "1");
        fsck(&bare);
    }

    /// Creates `path` with an mtime `age` in the past.
    fn old_file(path: &Path, age: Duration) {
        let f = std::fs::File::create(path).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn a_stale_ref_lock_is_removed_and_the_commit_lands() {
        let s = setup();
        let base = oid(&tip(&s.bare, "main").unwrap());
        let lock = s.bare.join("refs/heads/main.lock");
        old_file(&lock, STALE_LOCK_AGE + Duration::from_secs(60));
        let id = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(base),
            Some(base),
            vec![write("x", "1\n")],
            "one\n",
        )))
        .unwrap();
        assert!(!lock.exists());
        assert_eq!(tip(&s.bare, "main").unwrap(), id.to_string());
        fsck(&s.bare);

        // A stale packed-refs lock (a `git pack-refs` killed) as well.
        let packed = s.bare.join("packed-refs.lock");
        old_file(&packed, STALE_LOCK_AGE * 2);
        let id2 = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(id),
            Some(id),
            vec![write("x", "2\n")],
            "two\n",
        )))
        .unwrap();
        assert!(!packed.exists());
        assert_eq!(tip(&s.bare, "main").unwrap(), id2.to_string());
        fsck(&s.bare);
    }

    #[test]
    fn a_fresh_ref_lock_is_another_writers_and_an_error() {
        let s = setup();
        let base = tip(&s.bare, "main").unwrap();
        let lock = s.bare.join("refs/heads/main.lock");
        old_file(&lock, Duration::from_secs(5));
        let err = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(oid(&base)),
            Some(oid(&base)),
            vec![write("x", "1\n")],
            "one\n",
        )))
        .unwrap_err();
        assert!(
            matches!(&err, ForgeError::Other(m) if m.contains("another writer holds")
                && m.contains(&lock.display().to_string())),
            "{err}"
        );
        assert!(lock.exists());
        assert_eq!(tip(&s.bare, "main").unwrap(), base);
        std::fs::remove_file(&lock).unwrap();
        fsck(&s.bare);
    }

    #[test]
    fn a_lock_left_by_a_killed_distributor_is_removed_at_once() {
        let s = setup();
        let base = oid(&tip(&s.bare, "main").unwrap());
        // What `kill -9` between taking the lock and renaming it leaves:
        // the lock, and the claim record naming it.
        let lock = s.bare.join("refs/heads/main.lock");
        std::fs::write(&lock, format!("{base}\n")).unwrap();
        std::fs::write(
            s.bare.join(claim::CLAIM_FILE),
            "refs/heads/main.lock\npacked-refs.lock\n",
        )
        .unwrap();
        let id = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(base),
            Some(base),
            vec![write("x", "1\n")],
            "one\n",
        )))
        .unwrap();
        assert!(!lock.exists());
        assert_eq!(tip(&s.bare, "main").unwrap(), id.to_string());
        assert_eq!(
            std::fs::read_to_string(s.bare.join(claim::CLAIM_FILE)).unwrap(),
            ""
        );
        fsck(&s.bare);
    }

    #[test]
    fn a_half_created_repo_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let forge = LocalForge::new(dir.path()).unwrap();
        let repo = RepoId::new("team", "app");
        let bare = forge.repo_path(&repo).unwrap();
        // A `kill -9` during an older `--init`: only `objects/` (empty).
        std::fs::create_dir_all(bare.join("objects/info")).unwrap();
        // And a creation directory abandoned by an earlier crash.
        let abandoned = dir.path().join("team/.app.git.init-1-2");
        std::fs::create_dir_all(abandoned.join("objects")).unwrap();
        std::fs::File::open(&abandoned)
            .unwrap()
            .set_modified(SystemTime::now() - STALE_LOCK_AGE * 2)
            .unwrap();
        assert!(forge.ensure_repo(&repo, "main").unwrap());
        assert_eq!(
            git(&bare, &["symbolic-ref", "HEAD"]).trim(),
            "refs/heads/main"
        );
        assert_eq!(
            git(&bare, &["show", "main:README.md"]),
            "# app\n\nCreated by distributor --init.\n"
        );
        fsck(&bare);
        let names: Vec<String> = std::fs::read_dir(dir.path().join("team"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["app.git".to_string()]);
        assert!(!forge.ensure_repo(&repo, "main").unwrap());

        // An empty directory, too.
        let empty = RepoId::new("team", "empty");
        std::fs::create_dir_all(forge.repo_path(&empty).unwrap()).unwrap();
        assert!(forge.ensure_repo(&empty, "main").unwrap());
        fsck(&forge.repo_path(&empty).unwrap());
    }

    #[test]
    fn a_broken_repo_with_content_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let forge = LocalForge::new(dir.path()).unwrap();
        let broken = RepoId::new("team", "broken");
        let bare = forge.repo_path(&broken).unwrap();
        std::fs::create_dir_all(bare.join("objects/ab")).unwrap();
        std::fs::write(bare.join("objects/ab/cdef"), "data").unwrap();
        let err = forge.ensure_repo(&broken, "main").unwrap_err();
        assert!(
            matches!(&err, ForgeError::Other(m) if m.contains(&bare.display().to_string())
                && m.contains("no HEAD") && m.contains("holds objects or refs")),
            "{err}"
        );
        // Left as it was, and its neighbours are created.
        assert_eq!(
            std::fs::read(bare.join("objects/ab/cdef")).unwrap(),
            b"data"
        );
        assert!(!bare.join("HEAD").exists());
        let other = RepoId::new("team", "fine");
        assert!(forge.ensure_repo(&other, "main").unwrap());
        fsck(&forge.repo_path(&other).unwrap());

        // A ref but no HEAD is content too.
        let refs_only = RepoId::new("team", "refs");
        let bare = forge.repo_path(&refs_only).unwrap();
        std::fs::create_dir_all(bare.join("refs/heads")).unwrap();
        std::fs::create_dir_all(bare.join("objects")).unwrap();
        std::fs::write(
            bare.join("refs/heads/main"),
            format!("{}\n", "1".repeat(40)),
        )
        .unwrap();
        assert!(forge.ensure_repo(&refs_only, "main").is_err());
        assert!(bare.join("refs/heads/main").exists());
    }

    #[test]
    fn head_naming_a_missing_branch_beside_others_is_an_error() {
        let s = setup();
        let before = git(&s.bare, &["for-each-ref"]);
        git(&s.bare, &["symbolic-ref", "HEAD", "refs/heads/gone"]);
        let err = block_on(s.forge.observe(&[query(&s.repo, &["a.txt"])]))
            .remove(0)
            .unwrap_err();
        assert!(
            matches!(&err, ForgeError::NotFound { hint, .. }
                if hint.contains("refs/heads/gone") && hint.contains("`main`")),
            "{err}"
        );
        // Naming the branch explicitly is the same error.
        let mut q = query(&s.repo, &["a.txt"]);
        q.branch = Some("gone".into());
        let err = block_on(s.forge.observe(&[q])).remove(0).unwrap_err();
        assert!(matches!(&err, ForgeError::NotFound { .. }), "{err}");
        assert_eq!(git(&s.bare, &["for-each-ref"]), before);
        fsck(&s.bare);
    }

    #[test]
    fn invalid_paths_are_rejected_before_writing() {
        let s = setup();
        let base = oid(&tip(&s.bare, "main").unwrap());
        for bad in [
            "../x",
            ".git/config",
            "a//b",
            "/abs",
            "sub/.git/config",
            ".g\u{200c}it/config",
            "GIT~1/config",
            ".git./config",
            "docs/aux.sh",
        ] {
            let err = block_on(s.forge.commit(&request(
                &s,
                "main",
                Some(base),
                Some(base),
                vec![write(bad, "x")],
                "bad\n",
            )))
            .unwrap_err();
            assert!(matches!(err, ForgeError::Other(_)), "{bad}: {err}");
        }
        assert_eq!(tip(&s.bare, "main").unwrap(), base.to_string());
    }

    #[test]
    fn a_file_committed_under_fewer_rules_can_be_removed() {
        // Names an older distributor (or a human) committed that today's
        // rules refuse to write: removing them must still work.
        let s = setup();
        let blob = git(&s.bare, &["hash-object", "-w", "/dev/null"]);
        let blob = blob.trim();
        git(&s.bare, &["read-tree", "main"]);
        for path in ["docs/aux.sh", "docs/x."] {
            let info = format!("100644,{blob},{path}");
            git(&s.bare, &["update-index", "--add", "--cacheinfo", &info]);
        }
        let tree = git(&s.bare, &["write-tree"]);
        let base = tip(&s.bare, "main").unwrap();
        let commit = git(
            &s.bare,
            &["commit-tree", tree.trim(), "-p", &base, "-m", "old names"],
        );
        git(
            &s.bare,
            &["update-ref", "refs/heads/main", commit.trim(), &base],
        );
        let old = oid(commit.trim());
        let id = block_on(s.forge.commit(&request(
            &s,
            "main",
            Some(old),
            Some(old),
            vec![delete("docs/aux.sh"), delete("docs/x.")],
            "remove\n",
        )))
        .unwrap();
        let ls = git(&s.bare, &["ls-tree", "-r", "--name-only", &id.to_string()]);
        assert!(!ls.contains("docs/"), "{ls}");
        fsck(&s.bare);
    }
}
