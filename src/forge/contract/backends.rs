//! The backends the contract runs against, each behind the [`Backend`]
//! setup trait: the local forge on bare repos in a temp dir (human commits
//! with the real `git` CLI), the in-memory fake forge, and the GitHub forge
//! talking HTTP to the stateful fake GitHub (`crates/fake-github`) on
//! 127.0.0.1, in either write mode.
//!
//! Setup and inspection go around the forge under test (git CLI, the fake
//! forge's state, the fake GitHub's handle), so a test's checks do not
//! depend on the code they check. Every repository a local or GitHub
//! backend touched must pass `git fsck --strict` when the backend is
//! dropped.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use fake_github::{Config, FakeGitHub};

use super::Backend;
use crate::blob::ObjectId;
use crate::forge::RepoId;
use crate::forge::fake::FakeForge;
use crate::forge::github::limits::Pacing;
use crate::forge::github::{Auth, ClientSettings, GitHubConfig, GitHubForge, WriteMode};
use crate::forge::local::LocalForge;
use crate::forge::local::tests::{git, git_output};

/// `git fsck --strict` of a bare repository must be clean.
fn fsck(bare: &Path) {
    git(
        bare,
        &["fsck", "--strict", "--no-dangling", "--no-progress"],
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub(super) struct LocalBackend {
    dir: tempfile::TempDir,
    forge: LocalForge,
}

impl LocalBackend {
    pub(super) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let forge = LocalForge::new(dir.path()).unwrap();
        LocalBackend { dir, forge }
    }

    fn bare(&self, repo: &RepoId) -> PathBuf {
        self.forge.repo_path(repo).unwrap()
    }

    fn work_dir(&self) -> PathBuf {
        let mut n = 0;
        loop {
            let path = self.dir.path().join(format!("work-{n}"));
            if !path.exists() {
                return path;
            }
            n += 1;
        }
    }
}

impl Backend for LocalBackend {
    type F = LocalForge;

    fn forge(&self) -> &LocalForge {
        &self.forge
    }

    fn create_repo(&self, repo: &RepoId, default_branch: &str, files: &[(&str, &str)]) -> ObjectId {
        self.create_empty_repo(repo, default_branch);
        let changes: Vec<(&str, Option<&str>)> =
            files.iter().map(|(p, c)| (*p, Some(*c))).collect();
        self.human_commit(repo, default_branch, &changes, "Initial commit")
    }

    fn create_empty_repo(&self, repo: &RepoId, default_branch: &str) {
        let bare = self.bare(repo);
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", default_branch]);
    }

    fn human_commit(
        &self,
        repo: &RepoId,
        branch: &str,
        changes: &[(&str, Option<&str>)],
        message: &str,
    ) -> ObjectId {
        let work = self.work_dir();
        git(
            self.dir.path(),
            &["clone", "-q", path_str(&self.bare(repo)), path_str(&work)],
        );
        let remote_branch = format!("refs/remotes/origin/{branch}");
        let has = |rev: &str| {
            git_output(&work, &["rev-parse", "--verify", "-q", rev])
                .status
                .success()
        };
        if has(&remote_branch) {
            git(&work, &["checkout", "-q", "-B", branch, &remote_branch]);
        } else if has("HEAD") {
            git(&work, &["checkout", "-q", "-b", branch]);
        } else {
            git(&work, &["checkout", "-q", "--orphan", branch]);
        }
        for (path, content) in changes {
            let file = work.join(path);
            match content {
                Some(content) => {
                    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                    std::fs::write(&file, content).unwrap();
                }
                None => std::fs::remove_file(&file).unwrap(),
            }
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "--allow-empty", "-m", message]);
        git(
            &work,
            &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
        );
        let id = git(&work, &["rev-parse", "HEAD"]).trim().parse().unwrap();
        std::fs::remove_dir_all(&work).unwrap();
        id
    }

    fn tip(&self, repo: &RepoId, branch: &str) -> Option<ObjectId> {
        let bare = self.bare(repo);
        if !bare.exists() {
            return None;
        }
        let rev = format!("refs/heads/{branch}^{{commit}}");
        let out = git_output(&bare, &["rev-parse", "--verify", "-q", &rev]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
    }

    fn writes_first_commit(&self) -> bool {
        true
    }
}

/// Every repository the local backend touched must pass `git fsck --strict`.
impl Drop for LocalBackend {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let Ok(owners) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for owner in owners.flatten() {
            for bare in std::fs::read_dir(owner.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if bare.path().extension().is_some_and(|e| e == "git") {
                    fsck(&bare.path());
                }
            }
        }
    }
}

pub(super) struct FakeBackend {
    forge: FakeForge,
}

impl FakeBackend {
    pub(super) fn new() -> Self {
        FakeBackend {
            forge: FakeForge::new(),
        }
    }
}

impl Backend for FakeBackend {
    type F = FakeForge;

    fn forge(&self) -> &FakeForge {
        &self.forge
    }

    fn create_repo(&self, repo: &RepoId, default_branch: &str, files: &[(&str, &str)]) -> ObjectId {
        self.forge
            .add_repo(repo, default_branch, files.iter().copied())
    }

    fn create_empty_repo(&self, repo: &RepoId, default_branch: &str) {
        self.forge.add_empty_repo(repo, default_branch)
    }

    fn human_commit(
        &self,
        repo: &RepoId,
        branch: &str,
        changes: &[(&str, Option<&str>)],
        message: &str,
    ) -> ObjectId {
        self.forge
            .push_commit(repo, branch, changes.iter().copied(), message)
    }

    fn tip(&self, repo: &RepoId, branch: &str) -> Option<ObjectId> {
        self.forge.tip(repo, branch)
    }

    fn writes_first_commit(&self) -> bool {
        true
    }
}

/// The token the GitHub backend's forge authenticates with (a classic PAT
/// with the `workflow` scope: the contract writes workflow files).
const GITHUB_TOKEN: &str = "ghp_contract_test_token";

/// The GitHub forge over its own fake GitHub (one server per test).
pub(super) struct GitHubBackend {
    fake: FakeGitHub,
    forge: GitHubForge,
    /// Repositories created through this backend, checked on drop.
    repos: Mutex<Vec<RepoId>>,
}

impl GitHubBackend {
    /// Starts a fake GitHub and builds a forge for it writing with `mode`.
    /// Call it inside a tokio runtime (octocrab spawns its connection task
    /// on the current one). GitHub's secondary limits and the forge's write
    /// pacing are lifted so the suite runs in seconds.
    pub(super) fn new(mode: WriteMode) -> Self {
        let fake = FakeGitHub::start(Config {
            secondary_limits: vec![(100_000, Duration::from_secs(60))],
            ..Config::default()
        });
        fake.add_token(GITHUB_TOKEN, true);
        let client = ClientSettings {
            pacing: Pacing {
                quotas: Vec::new(),
                spacing: Duration::ZERO,
            },
            ..ClientSettings::default()
        };
        let forge = GitHubForge::new(GitHubConfig {
            api_url: fake.url(),
            auth: Auth::Token(GITHUB_TOKEN.to_string().into()),
            write_mode: mode,
            batch_size: 50,
            client,
        })
        .expect("GitHub forge for the fake");
        GitHubBackend {
            fake,
            forge,
            repos: Mutex::new(Vec::new()),
        }
    }

    fn created(&self, repo: &RepoId) {
        self.repos.lock().unwrap().push(repo.clone());
    }
}

fn oid(hex: String) -> ObjectId {
    hex.parse().expect("the fake answers 40-hex object ids")
}

impl Backend for GitHubBackend {
    type F = GitHubForge;

    fn forge(&self) -> &GitHubForge {
        &self.forge
    }

    fn create_repo(&self, repo: &RepoId, default_branch: &str, files: &[(&str, &str)]) -> ObjectId {
        self.created(repo);
        let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
        oid(self
            .fake
            .add_repo(&repo.owner, &repo.name, default_branch, &files))
    }

    fn create_empty_repo(&self, repo: &RepoId, default_branch: &str) {
        self.created(repo);
        self.fake
            .add_empty_repo(&repo.owner, &repo.name, default_branch);
    }

    fn human_commit(
        &self,
        repo: &RepoId,
        branch: &str,
        changes: &[(&str, Option<&str>)],
        message: &str,
    ) -> ObjectId {
        let changes: Vec<(&str, Option<&[u8]>)> = changes
            .iter()
            .map(|(p, c)| (*p, c.map(str::as_bytes)))
            .collect();
        oid(self
            .fake
            .push(&repo.owner, &repo.name, branch, &changes, message))
    }

    fn tip(&self, repo: &RepoId, branch: &str) -> Option<ObjectId> {
        self.fake.tip(&repo.owner, &repo.name, branch).map(oid)
    }

    /// `createCommitOnBranch` needs an existing branch and
    /// `expectedHeadOid`, and the Git Data API answers 409 "Git Repository
    /// is empty." for trees and commits: a repository's first commit can
    /// only be pushed. The forge refuses every parent-less commit up front.
    fn writes_first_commit(&self) -> bool {
        false
    }
}

/// Every repository the GitHub backend created must pass `git fsck
/// --strict`: the fake GitHub writes real objects.
impl Drop for GitHubBackend {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        for repo in self.repos.lock().unwrap().iter() {
            fsck(&self.fake.git_dir(&repo.owner, &repo.name));
        }
    }
}
