//! The contract tests themselves, written once against [`Forge`] and the
//! [`Backend`] setup trait (see the parent module for what they promise and
//! where backends legitimately differ). Each is an `async fn` generic over
//! the backend; the parent module runs every one against every backend.
//!
//! The tests use no backend-specific API: setup (repos, human commits) and
//! storage checks ([`Backend::tip`]) go through the trait, and a documented
//! backend difference is asked of the trait ([`Backend::writes_first_commit`]).

use super::Backend;
use crate::blob::{FileMode, ObjectId, blob_id};
use crate::forge::{
    CommitRequest, FileEntry, FileWrite, Forge, ForgeError, RepoId, RepoObservation, RepoQuery,
    Signature,
};

// ---- helpers ---------------------------------------------------------------

const LOCK: &str = ".distributor/lock.json";
const PROPOSAL: &str = "distributor/update";

pub(super) fn repo() -> RepoId {
    RepoId::new("team", "app")
}

pub(super) fn query(repo: &RepoId, paths: &[&str]) -> RepoQuery {
    RepoQuery {
        repo: repo.clone(),
        branch: None,
        paths: paths.iter().map(|p| p.to_string()).collect(),
        lock_path: LOCK.into(),
        proposal_branch: PROPOSAL.into(),
    }
}

fn put(path: &str, content: &str) -> FileWrite {
    FileWrite {
        path: path.into(),
        content: Some(content.as_bytes().to_vec()),
        mode: FileMode::Regular,
        mode_unchanged: false,
    }
}

fn put_exe(path: &str, content: &str) -> FileWrite {
    FileWrite {
        mode: FileMode::Executable,
        mode_unchanged: false,
        ..put(path, content)
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

pub(super) fn request(
    branch: &str,
    parent: Option<ObjectId>,
    expected_tip: Option<ObjectId>,
    files: Vec<FileWrite>,
    message: &str,
) -> CommitRequest {
    CommitRequest {
        repo: repo(),
        branch: branch.into(),
        parent,
        expected_tip,
        files,
        message: message.into(),
        author: Signature {
            name: "Distributor".into(),
            email: "distributor@example.com".into(),
        },
    }
}

const BY_DISTRIBUTOR: &str = "chore: update integrations\n\nDistributor-Version: 0.1.0\n";

/// A lock file recording `files` (path, content) as distributor wrote them.
fn lock_of(files: &[(&str, &str)]) -> FileWrite {
    let lock = crate::lock::Lock {
        version: crate::lock::LOCK_VERSION,
        source: crate::lock::Source {
            revision: "r1".into(),
            dirty: false,
            digest: None,
        },
        generator: "contract".into(),
        files: files
            .iter()
            .map(|(path, content)| {
                let entry = crate::lock::LockEntry {
                    bundle: "b".into(),
                    template: "t".into(),
                    blob: blob_id(content.as_bytes()),
                    mode: FileMode::Regular,
                    rendered: None,
                    rendered_text: None,
                };
                (path.to_string(), entry)
            })
            .collect(),
    };
    FileWrite {
        path: LOCK.into(),
        content: Some(lock.to_bytes()),
        mode: FileMode::Regular,
        mode_unchanged: false,
    }
}

/// Distributor's writes: `files` and the lock recording them.
fn ours(files: &[(&str, &str)]) -> Vec<FileWrite> {
    let mut writes: Vec<FileWrite> = files.iter().map(|(p, c)| put(p, c)).collect();
    writes.push(lock_of(files));
    writes
}

fn regular(content: &str) -> Option<FileEntry> {
    Some(FileEntry {
        blob: blob_id(content.as_bytes()),
        mode: Some(FileMode::Regular),
    })
}

async fn observe_one<B: Backend>(b: &B, q: &RepoQuery) -> RepoObservation {
    let mut results = b.forge().observe(std::slice::from_ref(q)).await;
    assert_eq!(results.len(), 1);
    results.remove(0).unwrap()
}

/// The tip of `branch` of [`repo`] as stored, read around the forge: a
/// refused write must leave it where it was.
async fn tip_of<B: Backend>(b: &B, branch: &str) -> Option<ObjectId> {
    b.tip(&repo(), branch)
}

/// The refusal of a backend that cannot write a first commit
/// ([`Backend::writes_first_commit`] is false): refused up front, naming
/// the repository and why.
fn assert_first_commit_refused(err: &ForgeError) {
    assert!(
        matches!(err, ForgeError::Refused(m) if m.contains(&repo().to_string()) && m.contains("first commit")),
        "a parent-less commit must be refused clearly: {err}"
    );
}

fn conflict(branch: &str, expected: Option<ObjectId>, actual: Option<ObjectId>) -> ForgeError {
    ForgeError::conflict(&repo(), branch, expected, actual)
}

// ---- the contract ----------------------------------------------------------

pub(super) async fn configured_default_branch_must_exist<B: Backend>(b: &B) {
    b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    let mut q = query(&repo(), &["a.txt"]);
    q.branch = Some("trunk".into());
    let err = b.forge().observe(&[q]).await.remove(0).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{msg}");
    assert!(
        msg.contains("no branch `trunk`") && msg.contains("`main`"),
        "{msg}"
    );
}

pub(super) async fn missing_repo_is_not_found_and_does_not_affect_others<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    let ghost = RepoId::new("team", "ghost");
    let results = b
        .forge()
        .observe(&[
            query(&ghost, &["a.txt"]),
            query(&repo(), &["a.txt"]),
            query(&ghost, &[]),
        ])
        .await;
    assert_eq!(results.len(), 3);
    assert!(
        matches!(&results[0], Err(ForgeError::NotFound { repo, .. }) if *repo == ghost),
        "{:?}",
        results[0]
    );
    assert_eq!(
        results[1].as_ref().unwrap().default_branch.files["a.txt"],
        regular("a\n")
    );
    assert!(matches!(&results[2], Err(ForgeError::NotFound { .. })));

    let err = b
        .forge()
        .read_blobs(&ghost, &[blob_id(b"a\n")])
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
    // Writes: a commit on a branch, deleting a branch, and a first commit
    // (a parent-less one: "missing" wins over "cannot write first commits").
    let mut req = request("main", Some(base), Some(base), vec![put("x", "x")], "m");
    req.repo = ghost.clone();
    let result = b.forge().commit(&req).await;
    assert!(
        matches!(result, Err(ForgeError::NotFound { .. })),
        "commit on a branch: {result:?}"
    );
    let result = b.forge().delete_branch(&ghost, PROPOSAL, base).await;
    assert!(
        matches!(result, Err(ForgeError::NotFound { .. })),
        "delete a branch: {result:?}"
    );
    let mut req = request("main", None, None, vec![put("x", "x")], "m");
    req.repo = ghost.clone();
    let result = b.forge().commit(&req).await;
    assert!(
        matches!(result, Err(ForgeError::NotFound { .. })),
        "first commit: {result:?}"
    );
    assert_eq!(tip_of(b, "main").await, Some(base));
}

pub(super) async fn observe_reports_paths_modes_and_lock<B: Backend>(b: &B) {
    let base = b.create_repo(
        &repo(),
        "trunk",
        &[
            ("a.txt", "a\n"),
            ("dir/b.txt", "b\n"),
            (LOCK, "{\"v\":1}\n"),
        ],
    );
    let q = query(
        &repo(),
        &[
            "a.txt",
            "dir/b.txt",
            "dir",
            "missing",
            "a.txt/x",
            "dir/missing",
        ],
    );
    let obs = observe_one(b, &q).await;
    assert_eq!(obs.repo, repo());
    let branch = &obs.default_branch;
    assert_eq!(branch.name, "trunk");
    assert_eq!(branch.tip, Some(base));
    assert_eq!(branch.files.len(), 6);
    assert_eq!(branch.files["a.txt"], regular("a\n"));
    assert_eq!(branch.files["dir/b.txt"], regular("b\n"));
    assert_eq!(
        branch.files["dir"].map(|e| e.mode),
        Some(None),
        "a directory has no file mode"
    );
    assert_eq!(branch.files["missing"], None);
    assert_eq!(branch.files["a.txt/x"], None);
    assert_eq!(branch.files["dir/missing"], None);
    assert_eq!(branch.lock.as_deref(), Some(&b"{\"v\":1}\n"[..]));
    assert_eq!(obs.proposal, None);

    // Modes as written; a branch picked explicitly; no lock there.
    let tip = b
        .forge()
        .commit(&request(
            "other",
            Some(base),
            None,
            vec![put_exe("bin/run", "#!/bin/sh\n"), delete(LOCK)],
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let mut q2 = query(&repo(), &["bin/run", "a.txt"]);
    q2.branch = Some("other".into());
    let obs = observe_one(b, &q2).await;
    assert_eq!(obs.default_branch.name, "other");
    assert_eq!(obs.default_branch.tip, Some(tip));
    assert_eq!(
        obs.default_branch.files["bin/run"],
        Some(FileEntry {
            blob: blob_id(b"#!/bin/sh\n"),
            mode: Some(FileMode::Executable)
        })
    );
    assert_eq!(obs.default_branch.files["a.txt"], regular("a\n"));
    assert_eq!(obs.default_branch.lock, None);
}

pub(super) async fn commit_writes_nested_files_and_deletes<B: Backend>(b: &B) {
    let base = b.create_repo(
        &repo(),
        "main",
        &[
            ("old.txt", "old\n"),
            ("keep.txt", "keep\n"),
            ("gone/only.txt", "x\n"),
        ],
    );
    let id = b
        .forge()
        .commit(&request(
            "main",
            Some(base),
            Some(base),
            vec![
                put(".github/workflows/ci.yml", "name: ci\n"),
                put("a/b/c/deep.json", "{}\n"),
                put("keep.txt", "changed\n"),
                delete("old.txt"),
                delete("gone/only.txt"),
                put(LOCK, "lock\n"),
            ],
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    assert_ne!(id, base);
    let paths = [
        ".github/workflows/ci.yml",
        "a/b/c/deep.json",
        "keep.txt",
        "old.txt",
        "gone/only.txt",
        "gone",
        "a/b",
    ];
    let obs = observe_one(b, &query(&repo(), &paths)).await;
    let files = &obs.default_branch.files;
    assert_eq!(obs.default_branch.tip, Some(id));
    assert_eq!(files[".github/workflows/ci.yml"], regular("name: ci\n"));
    assert_eq!(files["a/b/c/deep.json"], regular("{}\n"));
    assert_eq!(files["keep.txt"], regular("changed\n"));
    assert_eq!(files["old.txt"], None);
    assert_eq!(files["gone/only.txt"], None);
    assert_eq!(
        files["gone"], None,
        "a directory whose last file is deleted disappears"
    );
    assert_eq!(files["a/b"].map(|e| e.mode), Some(None));
    assert_eq!(obs.default_branch.lock.as_deref(), Some(&b"lock\n"[..]));

    let wanted = [
        blob_id(b"name: ci\n"),
        blob_id(b"changed\n"),
        blob_id(b"keep\n"),
    ];
    let blobs = b.forge().read_blobs(&repo(), &wanted).await.unwrap();
    assert_eq!(blobs.len(), 3);
    assert_eq!(blobs[&wanted[0]], b"name: ci\n");
    assert_eq!(blobs[&wanted[1]], b"changed\n");
    assert_eq!(
        blobs[&wanted[2]], b"keep\n",
        "blobs of older commits stay readable"
    );
}

/// Deleting a path that is not there is no change, and does not stop the
/// rest of the commit.
pub(super) async fn deleting_a_missing_file_changes_nothing_else<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    let id = b
        .forge()
        .commit(&request(
            "main",
            Some(base),
            Some(base),
            vec![put("b.txt", "b\n"), delete("never/existed.txt")],
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let paths = ["a.txt", "b.txt", "never/existed.txt", "never"];
    let obs = observe_one(b, &query(&repo(), &paths)).await;
    let files = &obs.default_branch.files;
    assert_eq!(obs.default_branch.tip, Some(id));
    assert_eq!(files["a.txt"], regular("a\n"));
    assert_eq!(files["b.txt"], regular("b\n"));
    assert_eq!(files["never/existed.txt"], None);
    assert_eq!(files["never"], None);
}

/// The executable bit can be set and cleared on unchanged content.
pub(super) async fn executable_bit_is_set_and_cleared<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("keep.txt", "changed\n")]);
    let exe = b
        .forge()
        .commit(&request(
            "main",
            Some(base),
            Some(base),
            vec![put_exe("keep.txt", "changed\n")],
            "chmod\n",
        ))
        .await
        .unwrap();
    let obs = observe_one(b, &query(&repo(), &["keep.txt"])).await;
    assert_eq!(obs.default_branch.tip, Some(exe));
    assert_eq!(
        obs.default_branch.files["keep.txt"].unwrap().mode,
        Some(FileMode::Executable)
    );
    let regular_again = b
        .forge()
        .commit(&request(
            "main",
            Some(exe),
            Some(exe),
            vec![put("keep.txt", "changed\n")],
            "chmod -x\n",
        ))
        .await
        .unwrap();
    let obs = observe_one(b, &query(&repo(), &["keep.txt"])).await;
    assert_eq!(obs.default_branch.tip, Some(regular_again));
    assert_eq!(
        obs.default_branch.files["keep.txt"],
        regular("changed\n"),
        "the executable bit is cleared"
    );
}

pub(super) async fn read_blobs_of_unknown_id_is_an_error<B: Backend>(b: &B) {
    b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    let unknown = blob_id(b"never written\n");
    let err = b
        .forge()
        .read_blobs(&repo(), &[blob_id(b"a\n"), unknown])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ForgeError::Other(m) if m.contains(&unknown.to_string()) && m.contains("team/app")),
        "{err}"
    );
    assert!(b.forge().read_blobs(&repo(), &[]).await.unwrap().is_empty());
}

pub(super) async fn stale_expected_tip_conflicts_and_leaves_the_branch<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    // A human commit lands between observe and commit.
    let human = b.human_commit(&repo(), "main", &[("a.txt", Some("human\n"))], "human edit");
    let err = b
        .forge()
        .commit(&request(
            "main",
            Some(base),
            Some(base),
            vec![put("a.txt", "bot\n")],
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap_err();
    assert_eq!(err, conflict("main", Some(base), Some(human)));
    let obs = observe_one(b, &query(&repo(), &["a.txt"])).await;
    assert_eq!(obs.default_branch.tip, Some(human));
    assert_eq!(obs.default_branch.files["a.txt"], regular("human\n"));

    // Expecting "no branch" for an existing branch is a conflict as well,
    // on backends that write first commits at all. The others refuse every
    // parent-less commit up front, without looking at the branch (see
    // `Backend::writes_first_commit`).
    let err = b
        .forge()
        .commit(&request(
            "main",
            None,
            None,
            vec![put("a.txt", "bot\n")],
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap_err();
    if b.writes_first_commit() {
        assert_eq!(err, conflict("main", None, Some(human)));
    } else {
        assert_first_commit_refused(&err);
    }
    assert_eq!(tip_of(b, "main").await, Some(human));
}

pub(super) async fn default_branch_is_fast_forward_only<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    let next = b
        .forge()
        .commit(&request(
            "main",
            Some(base),
            Some(base),
            vec![put("a.txt", "1\n")],
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let err = b
        .forge()
        .commit(&request(
            "main",
            Some(base),
            Some(next),
            vec![put("a.txt", "2\n")],
            BY_DISTRIBUTOR,
        ))
        .await
        .err()
        .unwrap_or_else(|| panic!("the default branch was rewritten"));
    assert!(
        matches!(&err, ForgeError::Refused(m) if m.contains("refusing to rewrite history")),
        "{err}"
    );
    assert_eq!(tip_of(b, "main").await, Some(next));
}

pub(super) async fn default_branch_cannot_be_deleted<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    let err = b
        .forge()
        .delete_branch(&repo(), "main", base)
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::Refused(_)), "{err}");
    assert_eq!(tip_of(b, "main").await, Some(base));
}

pub(super) async fn proposal_lifecycle<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    let q = query(&repo(), &["a.txt"]);

    let p1 = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(base),
            None,
            ours(&[("a.txt", "p1\n")]),
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let obs = observe_one(b, &q).await;
    assert_eq!(obs.default_branch.tip, Some(base));
    assert_eq!(obs.default_branch.files["a.txt"], regular("a\n"));
    let proposal = obs.proposal.expect("proposal observed");
    assert_eq!(proposal.branch.name, PROPOSAL);
    assert_eq!(proposal.branch.tip, Some(p1));
    assert_eq!(proposal.branch.files["a.txt"], regular("p1\n"));
    assert_eq!(proposal.base, Some(base));
    assert!(proposal.by_distributor);

    // Creating it again (expected: no branch) conflicts.
    let err = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(base),
            None,
            vec![put("a.txt", "again\n")],
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap_err();
    assert_eq!(err, conflict(PROPOSAL, None, Some(p1)));
    assert_eq!(tip_of(b, PROPOSAL).await, Some(p1));

    // The default branch moves; the proposal is reset onto it.
    let main2 = b.human_commit(&repo(), "main", &[("b.txt", Some("b\n"))], "human work");
    let p2 = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(main2),
            Some(p1),
            ours(&[("a.txt", "p2\n")]),
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let obs = observe_one(b, &query(&repo(), &["a.txt", "b.txt"])).await;
    let proposal = obs.proposal.unwrap();
    assert_eq!(proposal.branch.tip, Some(p2));
    assert_eq!(proposal.base, Some(main2));
    assert_eq!(proposal.branch.files["a.txt"], regular("p2\n"));
    assert_eq!(proposal.branch.files["b.txt"], regular("b\n"));
    assert!(proposal.by_distributor);

    // Resetting with a stale expectation (p1) conflicts.
    let err = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(main2),
            Some(p1),
            vec![put("a.txt", "p3\n")],
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap_err();
    assert_eq!(err, conflict(PROPOSAL, Some(p1), Some(p2)));

    // Delete: wrong expectation conflicts and keeps the branch; right one
    // deletes; deleting again conflicts with "no branch".
    let err = b
        .forge()
        .delete_branch(&repo(), PROPOSAL, p1)
        .await
        .unwrap_err();
    assert_eq!(err, conflict(PROPOSAL, Some(p1), Some(p2)));
    assert_eq!(tip_of(b, PROPOSAL).await, Some(p2));
    b.forge()
        .delete_branch(&repo(), PROPOSAL, p2)
        .await
        .unwrap();
    assert_eq!(observe_one(b, &q).await.proposal, None);
    assert_eq!(tip_of(b, PROPOSAL).await, None);
    let err = b
        .forge()
        .delete_branch(&repo(), PROPOSAL, p2)
        .await
        .unwrap_err();
    assert_eq!(err, conflict(PROPOSAL, Some(p2), None));
}

pub(super) async fn human_commit_on_proposal_is_not_by_distributor<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    let p1 = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(base),
            None,
            ours(&[("a.txt", "p1\n")]),
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let human = b.human_commit(
        &repo(),
        PROPOSAL,
        &[("a.txt", Some("fixed by hand\n"))],
        "fix by hand",
    );
    let obs = observe_one(b, &query(&repo(), &["a.txt"])).await;
    let proposal = obs.proposal.unwrap();
    assert_eq!(proposal.branch.tip, Some(human));
    assert_eq!(proposal.base, Some(p1));
    assert!(!proposal.by_distributor);
}

/// Ownership is by content, not by the message: a commit that carries
/// distributor's trailer but whose managed file is not what its lock
/// records (a reviewer's `git commit --amend --no-edit`), or that also
/// changes a file distributor does not manage, is a human's.
pub(super) async fn amended_proposal_is_not_by_distributor<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n"), ("README", "r\n")]);
    let q = query(&repo(), &["a.txt"]);
    let p1 = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(base),
            None,
            ours(&[("a.txt", "p1\n")]),
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    assert!(observe_one(b, &q).await.proposal.unwrap().by_distributor);
    // The amend: same parent, same message and lock, another content.
    let mut amended = ours(&[("a.txt", "p1\n")]);
    amended[0] = put("a.txt", "p1 tweaked by a reviewer\n");
    let amend = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(base),
            Some(p1),
            amended,
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let proposal = observe_one(b, &q).await.proposal.unwrap();
    assert_eq!(proposal.branch.tip, Some(amend));
    assert!(!proposal.by_distributor);
    // Distributor's content plus a file it does not manage.
    let mut extra = ours(&[("a.txt", "p1\n")]);
    extra.push(put("notes/review.md", "looks good\n"));
    let extra = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(base),
            Some(amend),
            extra,
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let proposal = observe_one(b, &q).await.proposal.unwrap();
    assert_eq!(proposal.branch.tip, Some(extra));
    assert!(!proposal.by_distributor);
    // A human's branch: no lock at all.
    b.human_commit(&repo(), "feature", &[("README", Some("mine\n"))], "docs");
    let mut q = q;
    q.proposal_branch = "feature".into();
    assert!(!observe_one(b, &q).await.proposal.unwrap().by_distributor);
}

/// Distributor's commits stacked on its own proposal commit (each on the
/// tip it replaces) keep the branch distributor's; the branch's head moves
/// from one proposal commit to the next, never through the base.
pub(super) async fn stacked_proposal_commits_are_by_distributor<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n"), ("c.txt", "c\n")]);
    let q = query(&repo(), &["a.txt", "c.txt"]);
    let p1 = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(base),
            None,
            ours(&[("a.txt", "p1\n"), ("c.txt", "c1\n")]),
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    // c.txt goes back to the base's content, recorded as such.
    let p2 = b
        .forge()
        .commit(&request(
            PROPOSAL,
            Some(p1),
            Some(p1),
            ours(&[("a.txt", "p2\n"), ("c.txt", "c\n")]),
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let proposal = observe_one(b, &q).await.proposal.unwrap();
    assert_eq!(proposal.branch.tip, Some(p2));
    assert_eq!(proposal.base, Some(p1));
    assert_eq!(proposal.branch.files["a.txt"], regular("p2\n"));
    assert_eq!(proposal.branch.files["c.txt"], regular("c\n"));
    assert!(proposal.by_distributor);
}

/// An empty repository is observed with its (unborn) default branch named.
pub(super) async fn unborn_repo_is_observed_empty<B: Backend>(b: &B) {
    b.create_empty_repo(&repo(), "develop");
    let obs = observe_one(b, &query(&repo(), &["a.txt"])).await;
    assert_eq!(obs.default_branch.name, "develop");
    assert_eq!(obs.default_branch.tip, None);
    assert_eq!(obs.default_branch.files["a.txt"], None);
    assert_eq!(obs.default_branch.lock, None);
    assert_eq!(obs.proposal, None);
}

/// The first commit of an empty repository: written where the backend can
/// (`Backend::writes_first_commit`), else refused clearly, writing nothing.
pub(super) async fn unborn_repo_takes_a_first_commit<B: Backend>(b: &B) {
    b.create_empty_repo(&repo(), "develop");
    let result = b
        .forge()
        .commit(&request(
            "develop",
            None,
            None,
            vec![put("a.txt", "first\n"), put(LOCK, "l\n")],
            BY_DISTRIBUTOR,
        ))
        .await;
    if !b.writes_first_commit() {
        assert_first_commit_refused(&result.unwrap_err());
        assert_eq!(tip_of(b, "develop").await, None, "nothing is written");
        return;
    }
    let first = result.unwrap();
    let obs = observe_one(b, &query(&repo(), &["a.txt"])).await;
    assert_eq!(obs.default_branch.tip, Some(first));
    assert_eq!(obs.default_branch.files["a.txt"], regular("first\n"));
    assert_eq!(obs.default_branch.lock.as_deref(), Some(&b"l\n"[..]));
}

pub(super) async fn files_and_directories_never_swap_implicitly<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("conf", "file\n"), ("dir/x.txt", "x\n")]);
    for (label, writes) in [
        ("file over directory", vec![put("dir", "now a file\n")]),
        ("directory over file", vec![put("conf/nested.txt", "n\n")]),
        ("deleting a directory", vec![delete("dir")]),
    ] {
        let err = b
            .forge()
            .commit(&request(
                "main",
                Some(base),
                Some(base),
                writes,
                BY_DISTRIBUTOR,
            ))
            .await
            .err()
            .unwrap_or_else(|| panic!("{label}: committed"));
        assert!(matches!(err, ForgeError::Other(_)), "{label}: {err}");
        assert_eq!(tip_of(b, "main").await, Some(base), "{label}");
    }
    // Explicit deletions first make the same changes legal.
    b.forge()
        .commit(&request(
            "main",
            Some(base),
            Some(base),
            vec![
                delete("conf"),
                put("conf/nested.txt", "n\n"),
                delete("dir/x.txt"),
                put("dir", "file\n"),
            ],
            BY_DISTRIBUTOR,
        ))
        .await
        .unwrap();
    let obs = observe_one(
        b,
        &query(&repo(), &["conf", "conf/nested.txt", "dir", "dir/x.txt"]),
    )
    .await;
    let files = obs.default_branch.files;
    assert_eq!(files["conf"].map(|e| e.mode), Some(None));
    assert_eq!(files["conf/nested.txt"], regular("n\n"));
    assert_eq!(files["dir"], regular("file\n"));
    assert_eq!(files["dir/x.txt"], None);
}

pub(super) async fn unsafe_paths_and_branch_names_are_rejected<B: Backend>(b: &B) {
    let base = b.create_repo(&repo(), "main", &[("a.txt", "a\n")]);
    for path in ["../escape", ".git/config", "a//b", "/abs", "dir/"] {
        let err = b
            .forge()
            .commit(&request(
                "main",
                Some(base),
                Some(base),
                vec![put(path, "x")],
                BY_DISTRIBUTOR,
            ))
            .await
            .err()
            .unwrap_or_else(|| panic!("path `{path}`: committed"));
        assert!(matches!(err, ForgeError::Other(_)), "{path}: {err}");
    }
    for branch in ["bad..name", "-x", "has space"] {
        let err = b
            .forge()
            .commit(&request(branch, Some(base), None, vec![], BY_DISTRIBUTOR))
            .await
            .err()
            .unwrap_or_else(|| panic!("branch `{branch}`: committed"));
        assert!(matches!(err, ForgeError::Other(_)), "{branch}: {err}");
        assert_eq!(tip_of(b, branch).await, None, "{branch}");
    }
    assert_eq!(tip_of(b, "main").await, Some(base));
}
