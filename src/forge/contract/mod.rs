//! The forge contract: one test suite, written once against [`Forge`] and a
//! small setup trait ([`Backend`]), run against every backend so they cannot
//! drift apart: the local forge (bare repos in a temp dir), the in-memory
//! fake forge, and the GitHub forge over the stateful fake GitHub
//! (`crates/fake-github`, HTTP on 127.0.0.1) in both write modes,
//! `createCommitOnBranch` (GraphQL) and the Git Data API (REST).
//!
//! It owns only test code: the tests in [`suite`], the backends in
//! [`backends`], and here the runners and the list of known GitHub forge
//! defects. Tests use no backend-specific API; setup and storage checks go
//! through [`Backend`].
//!
//! Where backends legitimately differ, the contract says so through a
//! [`Backend`] capability, never by weakening a test for the others:
//!
//! - **First commit of an empty repository** ([`Backend::writes_first_commit`]):
//!   the local and fake forges write it; GitHub cannot
//!   (`createCommitOnBranch` needs an existing branch and `expectedHeadOid`,
//!   the Git Data API answers 409 "Git Repository is empty."), so the GitHub
//!   forge refuses every parent-less commit up front with
//!   [`super::ForgeError::Refused`] naming the repository and the first
//!   commit, and writes nothing. It refuses without looking at the branch:
//!   where the others report a compare-and-swap conflict (a parent-less
//!   commit on a branch that exists), GitHub reports that refusal. A
//!   missing repository is still `NotFound` on every backend.
//!
//! Differences that change no outcome the contract checks: "writes
//! nothing" means no branch moves, and a refused REST-mode write on
//! GitHub may leave unreferenced trees and commits behind (git collects
//! them).
//!
//! A test the GitHub forge fails because the forge (`src/forge/github/`)
//! is wrong is listed in [`GITHUB_FORGE_DEFECTS`] with the defect: it must
//! keep failing, with the listed message, until the forge is fixed (then the
//! runner fails and asks for the entry to be removed). The list is empty:
//! the eleven defects the suite found when the GitHub forge joined it are
//! fixed. Where the fake GitHub lacked a behaviour of GitHub's, the fake was
//! fixed instead.

mod backends;
mod suite;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use super::{Forge, RepoId};
use crate::blob::ObjectId;
use crate::forge::github::WriteMode;
use backends::{FakeBackend, GitHubBackend, LocalBackend};

/// What a test needs besides the forge itself.
trait Backend {
    type F: Forge;
    fn forge(&self) -> &Self::F;
    /// A repo whose default branch has one human commit with `files`.
    fn create_repo(&self, repo: &RepoId, default_branch: &str, files: &[(&str, &str)]) -> ObjectId;
    /// A repo with no commits; `default_branch` is unborn.
    fn create_empty_repo(&self, repo: &RepoId, default_branch: &str);
    /// A human commit on `branch` (created from the default branch if
    /// missing): `Some` writes, `None` deletes. Returns the new tip.
    fn human_commit(
        &self,
        repo: &RepoId,
        branch: &str,
        changes: &[(&str, Option<&str>)],
        message: &str,
    ) -> ObjectId;
    /// The tip of `branch` as stored, read around the forge under test
    /// (`None`: no such branch, or no such repo).
    fn tip(&self, repo: &RepoId, branch: &str) -> Option<ObjectId>;
    /// Whether the forge writes the first commit of an empty repository (a
    /// commit without parent). Where it cannot, it must refuse every
    /// parent-less commit with [`super::ForgeError::Refused`] naming the
    /// repository and the first commit, and write nothing.
    fn writes_first_commit(&self) -> bool;
}

// ---- the GitHub forge's known defects ----------------------------------------

/// A contract test the GitHub forge fails because of a defect in the forge
/// (not in the contract, and not in the fake GitHub).
struct ForgeDefect {
    test: &'static str,
    /// The write modes it fails in.
    modes: &'static [WriteMode],
    /// A piece of the panic message it fails with, so another failure of
    /// the same test is not taken for this one.
    panics_with: &'static str,
}

#[allow(dead_code)] // for entries failing in both write modes
const BOTH: &[WriteMode] = &[WriteMode::Graphql, WriteMode::Rest];

/// Contract tests the GitHub forge fails because the forge is wrong, one
/// entry per test and write mode, each with the defect. Remove an entry
/// once the forge is fixed (the runner then fails, to say so).
const GITHUB_FORGE_DEFECTS: &[ForgeDefect] = &[];

/// Runs one contract test against a fresh GitHub backend writing with
/// `mode`, on its own runtime; a test listed in [`GITHUB_FORGE_DEFECTS`]
/// must fail with its listed message.
fn run_github(
    name: &str,
    mode: WriteMode,
    test: impl for<'b> FnOnce(&'b GitHubBackend) -> Pin<Box<dyn Future<Output = ()> + 'b>>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let backend = GitHubBackend::new(mode);
            test(&backend).await;
        })
    }));
    let defect = GITHUB_FORGE_DEFECTS
        .iter()
        .find(|d| d.test == name && d.modes.contains(&mode));
    match (defect, outcome) {
        (None, Ok(())) => {}
        (None, Err(panic)) => std::panic::resume_unwind(panic),
        (Some(_), Ok(())) => panic!(
            "`{name}` passes on the GitHub forge ({mode:?}) now: remove its entry from GITHUB_FORGE_DEFECTS"
        ),
        (Some(defect), Err(panic)) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or_default();
            assert!(
                message.contains(defect.panics_with),
                "`{name}` ({mode:?}) fails, but not with its known defect (`{}`): {message}",
                defect.panics_with
            );
        }
    }
}

// ---- running it against every backend ---------------------------------------

macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $test() {
                    super::suite::$test(&super::LocalBackend::new()).await;
                }
            )*
        }
        mod fake {
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $test() {
                    super::suite::$test(&super::FakeBackend::new()).await;
                }
            )*
        }
        mod github_graphql {
            $(
                #[test]
                fn $test() {
                    super::run_github(stringify!($test), super::WriteMode::Graphql, |b| {
                        Box::pin(super::suite::$test(b))
                    });
                }
            )*
        }
        mod github_rest {
            $(
                #[test]
                fn $test() {
                    super::run_github(stringify!($test), super::WriteMode::Rest, |b| {
                        Box::pin(super::suite::$test(b))
                    });
                }
            )*
        }
    };
}

contract!(
    configured_default_branch_must_exist,
    missing_repo_is_not_found_and_does_not_affect_others,
    observe_reports_paths_modes_and_lock,
    commit_writes_nested_files_and_deletes,
    deleting_a_missing_file_changes_nothing_else,
    executable_bit_is_set_and_cleared,
    read_blobs_of_unknown_id_is_an_error,
    stale_expected_tip_conflicts_and_leaves_the_branch,
    default_branch_is_fast_forward_only,
    default_branch_cannot_be_deleted,
    proposal_lifecycle,
    human_commit_on_proposal_is_not_by_distributor,
    amended_proposal_is_not_by_distributor,
    stacked_proposal_commits_are_by_distributor,
    unborn_repo_is_observed_empty,
    unborn_repo_takes_a_first_commit,
    files_and_directories_never_swap_implicitly,
    unsafe_paths_and_branch_names_are_rejected,
);

/// The forge futures must be `Send` (the executor may spawn them); this is
/// checked at compile time, the futures are never polled.
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: T) {}
    let local = LocalBackend::new();
    let fake = FakeBackend::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _in_runtime = runtime.enter();
    let github = GitHubBackend::new(WriteMode::Graphql);
    let q = [suite::query(&suite::repo(), &[])];
    let r = suite::request("b", None, None, vec![], "m");
    let tip = crate::blob::blob_id(b"");
    send(local.forge().observe(&q));
    send(local.forge().commit(&r));
    send(local.forge().read_blobs(&r.repo, &[]));
    send(local.forge().delete_branch(&r.repo, "b", tip));
    send(fake.forge().observe(&q));
    send(fake.forge().commit(&r));
    send(fake.forge().read_blobs(&r.repo, &[]));
    send(fake.forge().delete_branch(&r.repo, "b", tip));
    send(github.forge().observe(&q));
    send(github.forge().commit(&r));
    send(github.forge().read_blobs(&r.repo, &[]));
    send(github.forge().delete_branch(&r.repo, "b", tip));
}
