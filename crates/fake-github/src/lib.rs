//! A stateful fake GitHub for distributor's tests and benchmarks: REST and
//! GraphQL over HTTP on 127.0.0.1, backed by real bare git repositories.
//!
//! This module owns the public, synchronous handle ([`FakeGitHub`]), its
//! [`Config`] and the snapshots it hands out ([`Pull`], [`Counters`]). The
//! server runs on its own thread with a multi-thread tokio runtime; the
//! handle talks to the shared state directly.

mod auth;
mod cost;
mod git;
mod git_objects;
mod graphql;
mod headers;
mod limits;
mod mutations;
mod objects;
mod pull_objects;
mod pulls;
mod rest;
mod rest_pulls;
mod server;
mod shapes;
mod state;
mod util;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use apollo_compiler::Schema;
use apollo_compiler::validation::Valid;

pub use crate::headers::RequestHeaders;
use crate::state::{FileWrite, State};

/// The values of the schema's `StatusState` enum.
const STATUS_STATES: [&str; 5] = ["ERROR", "EXPECTED", "FAILURE", "PENDING", "SUCCESS"];

/// GitHub's public GraphQL schema.
const SCHEMA: &str = include_str!("../data/schema.graphql");

/// GitHub's schema, built once per process. The published schema defines
/// two fields of `EnterpriseOwnerInfo` twice; such duplicate definitions are
/// tolerated (the first is kept), any other problem panics.
pub fn github_schema() -> &'static Valid<Schema> {
    static BUILT: std::sync::OnceLock<Valid<Schema>> = std::sync::OnceLock::new();
    BUILT.get_or_init(build_schema)
}

fn build_schema() -> Valid<Schema> {
    match Schema::parse_and_validate(SCHEMA, "schema.graphql") {
        Ok(schema) => schema,
        Err(with_errors) => {
            let other: Vec<String> = with_errors
                .errors
                .iter()
                .map(|d| d.error.to_string())
                .filter(|m| !m.starts_with("duplicate definitions for the"))
                .collect();
            assert!(other.is_empty(), "GitHub's schema is invalid: {other:?}");
            Valid::assume_valid(with_errors.partial)
        }
    }
}

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Added to every request.
    pub latency: Duration,
    /// Content-creating units allowed per sliding window: each top-level
    /// GraphQL mutation field is one unit, each mutating REST request one
    /// (GitHub: 80 per minute, 500 per hour).
    pub secondary_limits: Vec<(u32, Duration)>,
    /// More requests in flight get the secondary-limit refusal.
    pub max_concurrent: usize,
    /// Primary budget per token per resource.
    pub rate_limit: u32,
    /// Login of every token's user.
    pub token_owner: String,
    /// GitHub's undocumented rule (on by default): an open pull request
    /// whose head is moved onto a commit its base contains is closed, and
    /// cannot be reopened until its head moves on from there. Every ref
    /// update is a push, even two in one GraphQL document.
    pub close_empty_pulls: bool,
    /// Answer 400 to a request that repeats a single-valued header
    /// (`User-Agent`, `Authorization`, `Accept`, `Content-Type`,
    /// `Content-Length`, `X-GitHub-Api-Version`, `Host`), as strict proxies
    /// in front of GitHub Enterprise do.
    pub refuse_duplicate_headers: bool,
    /// A GraphQL query selecting more nodes than this is refused with
    /// `RESOURCE_LIMITS_EXCEEDED` (a connection's `first: n` multiplies
    /// what it selects by n).
    pub graphql_node_budget: Option<u64>,
    /// A GraphQL query with more aliased fields than this is refused the
    /// same way.
    pub graphql_alias_budget: Option<u64>,
    /// Time a GraphQL query takes per node it selects (zero: none).
    pub graphql_latency_per_node: Duration,
    /// A query that would take this long or longer answers 502 "Something
    /// went wrong while executing your query" after this long (GitHub: 10 s).
    pub graphql_timeout: Duration,
    /// Writes answered 502 after (or before) they were applied: the
    /// ambiguous failures a client must not double (default: none).
    pub ambiguous_writes: AmbiguousWrites,
}

/// A seeded fraction of content-creating requests (GraphQL mutations and
/// REST POST, PATCH, PUT, DELETE) answered `502 Server Error`: `after` of
/// them once the write was applied and succeeded (the client cannot tell
/// it landed), `before` of them without applying it. The same seed gives
/// the same fate to the n-th write.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AmbiguousWrites {
    pub after: f64,
    pub before: f64,
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            latency: Duration::ZERO,
            secondary_limits: vec![
                (80, Duration::from_secs(60)),
                (500, Duration::from_secs(3600)),
            ],
            max_concurrent: 100,
            rate_limit: 5000,
            token_owner: "distributor-bot".into(),
            close_empty_pulls: true,
            refuse_duplicate_headers: true,
            graphql_node_budget: None,
            graphql_alias_budget: None,
            graphql_latency_per_node: Duration::ZERO,
            graphql_timeout: Duration::from_secs(10),
            ambiguous_writes: AmbiguousWrites::default(),
        }
    }
}

/// A pull request as the test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub number: u64,
    /// "open" or "closed".
    pub state: String,
    pub merged: bool,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub draft: bool,
    pub labels: Vec<String>,
    pub reviewers: Vec<String>,
    pub team_reviewers: Vec<String>,
    pub auto_merge: bool,
    pub comments: Vec<String>,
    pub created_at: String,
    pub author: String,
}

/// A commit of a pull request as the test sees it (what `GET
/// /pulls/{n}/commits` lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullCommit {
    pub sha: String,
    pub message: String,
    pub parents: Vec<String>,
    /// GitHub signed it (`createCommitOnBranch`): shown as verified.
    pub verified: bool,
}

/// What the fake has seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests by kind: "graphql query", "graphql mutation",
    /// "METHOD /route/{template}", or "unexpected METHOD path".
    pub by_kind: BTreeMap<String, u64>,
    pub total: u64,
    /// Admitted content-creating requests.
    pub content_creating: u64,
    /// Their units (one per top-level mutation field or mutating REST
    /// request): what the secondary limits count.
    pub content_units: u64,
    pub secondary_refusals: u64,
    /// Requests refused for a repeated single-valued header.
    pub duplicate_header_refusals: u64,
    /// GraphQL queries refused over the node or alias budget.
    pub resource_limit_refusals: u64,
    /// GraphQL queries that timed out (502).
    pub graphql_timeouts: u64,
    /// Writes applied, then answered 502 (see [`AmbiguousWrites`]).
    pub ambiguous_after_apply: u64,
    /// Writes answered 502 without being applied.
    pub ambiguous_before_apply: u64,
    /// Nodes of the biggest GraphQL query seen.
    pub max_query_nodes: u64,
    pub primary_refusals: u64,
    pub graphql_points: u64,
    pub max_in_flight: usize,
}

/// State shared by the server and the handle.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub limits: Mutex<limits::Limits>,
    pub auth: Mutex<auth::Auth>,
    pub schema: &'static Valid<Schema>,
    pub base_url: String,
}

/// Locks, ignoring poisoning (a panicking test must not wedge the rest).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running fake. Dropping it shuts the server down.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _root: tempfile::TempDir,
}

impl FakeGitHub {
    /// Starts the server on 127.0.0.1 (a free port) on its own thread.
    pub fn start(config: Config) -> FakeGitHub {
        let root = tempfile::tempdir().expect("temp dir for the fake's repositories");
        let schema = github_schema();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                close_empty_pulls: config.close_empty_pulls,
                ..State::new(root.path().to_path_buf())
            }),
            limits: Mutex::new(limits::Limits::new(&config)),
            auth: Mutex::new(auth::Auth::new(config.token_owner.clone())),
            schema,
            base_url: url.clone(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let server_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fake-github".into())
            .spawn(move || server::run(server_shared, listener, rx))
            .expect("spawn the fake's thread");
        FakeGitHub {
            shared,
            url,
            shutdown: Some(tx),
            thread: Some(thread),
            _root: root,
        }
    }

    /// The REST base URL; GraphQL is `POST {url}/graphql`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    /// The bare git repository of `owner/name`.
    pub fn git_dir(&self, owner: &str, name: &str) -> PathBuf {
        self.state()
            .repo(owner, name)
            .map(|r| r.path.clone())
            .unwrap_or_else(|| panic!("no fake repo {owner}/{name}"))
    }

    /// Accepts `token` as a classic PAT (with or without `workflow` scope).
    pub fn add_token(&self, token: &str, workflow_scope: bool) {
        lock(&self.shared.auth).add_token(token, workflow_scope);
    }

    /// Registers a GitHub App installation that can mint tokens.
    pub fn add_app(&self, app_id: u64, installation_id: u64, workflows_permission: bool) {
        lock(&self.shared.auth).add_app(app_id, installation_id, workflows_permission);
    }

    /// Lifetime of installation tokens minted from now on (default 1h).
    pub fn set_token_lifetime(&self, d: Duration) {
        lock(&self.shared.auth).lifetime = d;
    }

    /// A repository with one initial commit of `files`; returns its oid.
    pub fn add_repo(
        &self,
        owner: &str,
        name: &str,
        default_branch: &str,
        files: &[(&str, &[u8])],
    ) -> String {
        self.add_empty_repo(owner, name, default_branch);
        let writes: Vec<(&str, Option<&[u8]>)> =
            files.iter().map(|(p, c)| (*p, Some(*c))).collect();
        self.push(owner, name, default_branch, &writes, "Initial commit")
    }

    /// A repository without commits (HEAD names `default_branch`).
    pub fn add_empty_repo(&self, owner: &str, name: &str, default_branch: &str) {
        self.state().create_repo(owner, name, default_branch);
    }

    /// A human commit on `branch` (created from the default branch if
    /// absent); `None` deletes a file. Returns the commit oid.
    pub fn push(
        &self,
        owner: &str,
        name: &str,
        branch: &str,
        files: &[(&str, Option<&[u8]>)],
        message: &str,
    ) -> String {
        let writes: Vec<FileWrite> = files
            .iter()
            .map(|(path, content)| FileWrite {
                path: path.to_string(),
                content: content.map(<[u8]>::to_vec),
                executable: None,
            })
            .collect();
        self.human_commit(owner, name, branch, &writes, message)
    }

    fn human_commit(
        &self,
        owner: &str,
        name: &str,
        branch: &str,
        writes: &[FileWrite],
        message: &str,
    ) -> String {
        let mut state = self.state();
        state
            .commit(
                &state::key(owner, name),
                &state::CommitRequest {
                    branch,
                    expected: None,
                    writes,
                    message,
                    author: &state::human(),
                },
                None,
            )
            .unwrap_or_else(|e| panic!("push to {owner}/{name} {branch}: {e:?}"))
            .to_string()
    }

    /// A reviewer's `git commit --amend --no-edit` on `branch` and a
    /// force-push: the tip replaced by a commit on the same parent with the
    /// same author and message, `files` changed (`None` deletes). Returns
    /// the new tip.
    pub fn amend(
        &self,
        owner: &str,
        name: &str,
        branch: &str,
        files: &[(&str, Option<&[u8]>)],
    ) -> String {
        let writes: Vec<FileWrite> = files
            .iter()
            .map(|(path, content)| FileWrite {
                path: path.to_string(),
                content: content.map(<[u8]>::to_vec),
                executable: None,
            })
            .collect();
        self.state()
            .amend(&state::key(owner, name), branch, &writes)
            .unwrap_or_else(|e| panic!("amend {owner}/{name} {branch}: {e}"))
            .to_string()
    }

    /// A human commit changing only the executable bit of `path`.
    pub fn set_mode(
        &self,
        owner: &str,
        name: &str,
        branch: &str,
        path: &str,
        executable: bool,
    ) -> String {
        let content = self
            .file(owner, name, branch, path)
            .unwrap_or_else(|| panic!("{owner}/{name} {branch} has no {path}"));
        let write = FileWrite {
            path: path.into(),
            content: Some(content),
            executable: Some(executable),
        };
        let message = format!("chmod {} {path}", if executable { "+x" } else { "-x" });
        self.human_commit(owner, name, branch, &[write], &message)
    }

    fn with_tip<T>(
        &self,
        owner: &str,
        name: &str,
        branch: &str,
        f: impl FnOnce(&gix::Repository, git::Oid) -> Option<T>,
    ) -> Option<T> {
        let state = self.state();
        let repo = state.repo(owner, name)?;
        let git = repo.git();
        let tip = git::read_ref(&git, &format!("refs/heads/{branch}"))?;
        f(&git, tip)
    }

    fn entry(
        &self,
        owner: &str,
        name: &str,
        branch: &str,
        path: &str,
    ) -> Option<(git::Entry, Vec<u8>)> {
        self.with_tip(owner, name, branch, |git, tip| {
            let tree = git::commit(git, tip)?.tree;
            let entry = git::lookup(git, tree, path)?;
            let (_, data) = git::object(git, entry.oid)?;
            Some((entry, data))
        })
    }

    /// The content of `path` on `branch`.
    pub fn file(&self, owner: &str, name: &str, branch: &str, path: &str) -> Option<Vec<u8>> {
        self.entry(owner, name, branch, path).map(|(_, data)| data)
    }

    /// The git mode of `path` on `branch` (0o100644 / 0o100755).
    pub fn file_mode(&self, owner: &str, name: &str, branch: &str, path: &str) -> Option<u32> {
        self.entry(owner, name, branch, path)
            .map(|(e, _)| git::mode_bits(e.kind))
    }

    /// The tip of `branch`.
    pub fn tip(&self, owner: &str, name: &str, branch: &str) -> Option<String> {
        self.with_tip(owner, name, branch, |_, tip| Some(tip.to_string()))
    }

    /// Branch names, sorted.
    pub fn branches(&self, owner: &str, name: &str) -> Vec<String> {
        let state = self.state();
        state
            .repo(owner, name)
            .map(|r| git::branches(&r.git()))
            .unwrap_or_default()
    }

    /// The full message of commit `oid`.
    pub fn commit_message(&self, owner: &str, name: &str, oid: &str) -> String {
        let state = self.state();
        let repo = state.repo(owner, name).expect("repo exists");
        let id = git::parse_oid(oid).expect("a 40-hex oid");
        git::commit(&repo.git(), id)
            .map(|c| c.message)
            .unwrap_or_else(|| panic!("no commit {oid} in {owner}/{name}"))
    }

    /// First-parent history of `branch`, newest first.
    pub fn log(&self, owner: &str, name: &str, branch: &str) -> Vec<String> {
        self.with_tip(owner, name, branch, |git, tip| {
            Some(
                git::first_parent_log(git, tip)
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            )
        })
        .unwrap_or_default()
    }

    fn meta(&self, owner: &str, name: &str, f: impl FnOnce(&mut state::Repo)) {
        let mut state = self.state();
        let repo = state
            .repo_mut(owner, name)
            .unwrap_or_else(|| panic!("no fake repo {owner}/{name}"));
        f(repo);
    }

    /// Refuses direct commits and ref updates to `branch`.
    pub fn protect_branch(&self, owner: &str, name: &str, branch: &str) {
        self.meta(owner, name, |r| {
            r.protected.insert(branch.to_string());
        });
    }

    /// Makes the repository read-only.
    pub fn archive(&self, owner: &str, name: &str) {
        self.meta(owner, name, |r| r.archived = true);
    }

    /// Whether auto-merge may be enabled on its pull requests.
    pub fn set_allow_auto_merge(&self, owner: &str, name: &str, allowed: bool) {
        self.meta(owner, name, |r| r.allow_auto_merge = allowed);
    }

    /// All pull requests, open and closed, by number.
    pub fn pulls(&self, owner: &str, name: &str) -> Vec<Pull> {
        let state = self.state();
        let Some(repo) = state.repo(owner, name) else {
            return Vec::new();
        };
        let mut out: Vec<Pull> = repo.pulls.iter().map(pulls::snapshot).collect();
        out.sort_by_key(|p| p.number);
        out
    }

    /// The commits pull request `number` proposes (on its head, not on its
    /// base), oldest first; empty when it proposes nothing.
    pub fn pull_commits(&self, owner: &str, name: &str, number: u64) -> Vec<PullCommit> {
        self.state()
            .pull_commits(&state::key(owner, name), number)
            .unwrap_or_default()
            .into_iter()
            .map(|(id, info, verified)| PullCommit {
                sha: id.to_string(),
                message: info.message,
                parents: info.parents.iter().map(ToString::to_string).collect(),
                verified,
            })
            .collect()
    }

    /// Squash-merges pull request `number` as a human; returns the commit.
    pub fn merge_pull(&self, owner: &str, name: &str, number: u64) -> String {
        let mut state = self.state();
        state
            .merge_pull(&state::key(owner, name), number)
            .unwrap_or_else(|e| panic!("merge {owner}/{name}#{number}: {e:?}"))
            .to_string()
    }

    /// Closes pull request `number` unmerged.
    pub fn close_pull(&self, owner: &str, name: &str, number: u64) {
        self.meta(owner, name, |r| {
            let pull = r.pull_mut(number).expect("pull request exists");
            pulls::set_open(pull, false);
        });
    }

    /// Sets the combined check state of commit `sha` in `owner/name`, as
    /// GraphQL's `Commit.statusCheckRollup { state }` (and
    /// `PullRequest.statusCheckRollup` of pull requests whose head it is)
    /// reports it: one of the `StatusState` names `ERROR`, `EXPECTED`,
    /// `FAILURE`, `PENDING`, `SUCCESS` (any case). `None` clears it, making
    /// the rollup `null` again. Panics on an unknown state or a `sha` that
    /// is not 40 hex digits.
    pub fn set_check_state(&self, owner: &str, name: &str, sha: &str, state: Option<&str>) {
        let sha = git::parse_oid(sha)
            .unwrap_or_else(|| panic!("set_check_state: {sha:?} is not a 40-hex commit id"))
            .to_string();
        let state = state.map(|s| {
            let upper = s.to_ascii_uppercase();
            assert!(
                STATUS_STATES.contains(&upper.as_str()),
                "set_check_state: {s:?} is not one of {STATUS_STATES:?}"
            );
            upper
        });
        self.meta(owner, name, |r| match state {
            Some(state) => {
                r.check_states.insert(sha, state);
            }
            None => {
                r.check_states.remove(&sha);
            }
        });
    }

    /// Backdates (or postdates) the creation time of pull request `number`:
    /// GraphQL `createdAt` and REST `created_at` report it from now on.
    /// `rfc3339` is any RFC 3339 date-time; it is stored normalised to UTC
    /// (`2024-01-02T03:04:05Z`). `updatedAt` is moved up to it if earlier.
    /// Panics on an unparsable date or a missing pull request.
    pub fn set_pull_created_at(&self, owner: &str, name: &str, number: u64, rfc3339: &str) {
        let secs = util::parse_rfc3339(rfc3339)
            .unwrap_or_else(|| panic!("set_pull_created_at: {rfc3339:?} is not RFC 3339"));
        self.meta(owner, name, |r| {
            let pull = r
                .pull_mut(number)
                .unwrap_or_else(|| panic!("no pull request {owner}/{name}#{number}"));
            pull.created_at = util::rfc3339(secs);
            if util::parse_rfc3339(&pull.updated_at).is_none_or(|u| u < secs) {
                pull.updated_at = pull.created_at.clone();
            }
        });
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        lock(&self.shared.limits).counters.clone()
    }

    pub fn reset_counters(&self) {
        lock(&self.shared.limits).counters = Counters::default();
    }

    /// The next `n` requests answer `status` without touching state.
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.shared.limits).fail_next(n, status);
    }

    /// From now on, answers a seeded fraction of writes 502 after (or
    /// before) applying them (see [`AmbiguousWrites`]).
    pub fn set_ambiguous_writes(&self, writes: AmbiguousWrites) {
        lock(&self.shared.limits).ambiguous = writes;
    }

    /// The next `n` content-creating requests get the secondary-limit 403.
    pub fn refuse_next_writes(&self, n: usize, retry_after_secs: u64) {
        lock(&self.shared.limits).refuse_next_writes(n, retry_after_secs);
    }

    /// Sets every token's budgets to `remaining`, fully restored after `reset_in`.
    pub fn set_rate_limit_remaining(&self, remaining: u32, reset_in: Duration) {
        lock(&self.shared.limits).set_remaining(remaining, reset_in);
    }

    /// Replaces the secondary-limit windows from now on (see
    /// [`Config::secondary_limits`]); units admitted so far still count
    /// against them.
    pub fn set_secondary_limits(&self, windows: Vec<(u32, Duration)>) {
        lock(&self.shared.limits).set_windows(windows);
    }

    /// Forgets every unit admitted so far, as GitHub's windows are after an
    /// hour without writes.
    pub fn reset_secondary_windows(&self) {
        lock(&self.shared.limits).reset_windows();
    }

    /// Latency added to every request from now on.
    pub fn set_latency(&self, d: Duration) {
        lock(&self.shared.limits).latency = d;
    }

    /// The header names of recent requests, oldest first (at most the last
    /// 10,000).
    pub fn request_headers(&self) -> Vec<RequestHeaders> {
        lock(&self.shared.limits)
            .header_log
            .iter()
            .cloned()
            .collect()
    }

    /// Sets the GraphQL budgets (see [`Config::graphql_node_budget`]).
    pub fn set_graphql_budgets(&self, nodes: Option<u64>, aliases: Option<u64>) {
        let mut limits = lock(&self.shared.limits);
        limits.cost.node_budget = nodes;
        limits.cost.alias_budget = aliases;
    }

    /// Sets the GraphQL time per node and timeout (see
    /// [`Config::graphql_latency_per_node`]).
    pub fn set_graphql_latency(&self, per_node: Duration, timeout: Duration) {
        let mut limits = lock(&self.shared.limits);
        limits.cost.latency_per_node = per_node;
        limits.cost.timeout = timeout;
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
