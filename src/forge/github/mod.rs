//! The GitHub backend of [`Forge`]. Reads are batched GraphQL queries (one
//! request observes up to `batch_size` repos), writes are one
//! `createCommitOnBranch` per commit (signed by GitHub, `expectedHeadOid` as
//! the compare-and-swap) or, where that mutation is unavailable, the REST
//! Git Data API ([`rest`]). Pull requests go through REST. Every request
//! goes through the one [`client::Client`] (auth, pacing, budget, retries).
//!
//! Before writing, the forge checks what GitHub would not: branch names and
//! paths, that a default branch only ever moves fast-forward (a commit on
//! the tip it replaces; `force` is used only to reset a proposal branch)
//! and is never deleted, and the writes against the parent's tree
//! ([`tree`]: deletions of missing paths dropped, implicit file/directory
//! swaps refused, mode changes routed to the Git Data API). What it needs
//! comes from observation; only a write to a repository or parent it did not
//! observe costs a small read.
//!
//! This module maps GitHub's answers to [`ForgeError`]s; it does no
//! planning.

mod batches;
pub mod client;
pub mod credentials;
mod landed;
pub mod limits;
mod pulls;
pub mod query;
mod rest;
pub mod transport;
mod tree;

use octocrab::secrecy::SecretString;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use futures_util::future::join_all;
use http::Method;
use serde_json::{Value, json};

use crate::blob::ObjectId;
use crate::forge::{
    CommitRequest, FileWrite, Forge, ForgeError, OpenedPullRequest, PullRequest, PullRequestSpec,
    RepoId, RepoObservation, RepoQuery,
};
pub use client::{Auth, ClientSettings, Counts, Endpoint};
use client::{Client, OpKind, SendError};
use landed::Landed;
use tree::{Facts, Needs};

/// How commits are written (`--github-writes`, `forge.github.writes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// `createCommitOnBranch`: one request per commit, signed by GitHub.
    #[default]
    Graphql,
    /// REST Git Data (tree, commit, ref): for GitHub Enterprise Server
    /// versions or tokens without the mutation; three writes per commit.
    Rest,
}

/// Settings of the GitHub forge.
#[derive(Debug)]
pub struct GitHubConfig {
    /// REST API base: `https://api.github.com` or `https://HOST/api/v3`.
    pub api_url: String,
    pub auth: Auth,
    pub write_mode: WriteMode,
    /// Repos per observation query. 50 keeps a query well inside GitHub's
    /// 10 s timeout; 1,000 repos take 20 queries.
    pub batch_size: usize,
    pub client: ClientSettings,
}

/// The GitHub forge.
pub struct GitHubForge {
    client: Client,
    write_mode: WriteMode,
    batch_size: usize,
    /// The observation batch size as GitHub lets it be (see [`batches`]).
    batches: batches::Batches,
    /// What the forge knows of each repository, from observation or a
    /// small query.
    repos: Mutex<HashMap<RepoId, Known>>,
}

/// What the forge knows of one repository.
#[derive(Debug, Clone, Default)]
struct Known {
    /// Its node id, for `updateRefs`.
    node_id: String,
    /// The branches the forge moves only fast-forward and never deletes:
    /// GitHub's default branch, and the one the registry names as default.
    defaults: BTreeSet<String>,
    /// What the trees of some commits have at some paths: the observed
    /// tip's, and those of the commits written since (see [`tree`]).
    trees: HashMap<ObjectId, Facts>,
}

impl GitHubForge {
    /// Builds the forge. Call it inside a tokio runtime: octocrab's client
    /// spawns its connection task on the current one.
    pub fn new(config: GitHubConfig) -> Result<GitHubForge, String> {
        let endpoint = Endpoint::from_api_url(&config.api_url)?;
        Ok(GitHubForge {
            client: Client::new(endpoint, config.auth, config.client)?,
            write_mode: config.write_mode,
            batch_size: config.batch_size.max(1),
            batches: batches::Batches::new(config.batch_size),
            repos: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `url` is a git URL on this forge's GitHub host (so its
    /// token may be lent to `git` for it): `github.com` for
    /// `api.github.com`, the same host for GitHub Enterprise Server.
    pub fn serves_git_url(&self, url: &str) -> bool {
        let api_host = self
            .client
            .endpoint()
            .origin
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let web_host = api_host
            .strip_prefix("api.")
            .unwrap_or(&api_host)
            .to_string();
        let Some(rest) = url.strip_prefix("https://") else {
            return false;
        };
        let host = rest.split('/').next().unwrap_or_default();
        let host = host
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        host == web_host || host == api_host
    }

    /// A token for `git` over HTTPS: the personal token, or a fresh App
    /// installation token.
    pub async fn git_token(&self) -> Result<octocrab::secrecy::SecretString, String> {
        self.client.bearer().await.map_err(|e| e.to_string())
    }

    /// Requests made so far, by kind.
    pub fn counts(&self) -> Counts {
        self.client.counts()
    }

    /// Logs what the run cost in API budget.
    pub fn log_usage(&self) {
        let counts = self.counts();
        let total: u64 = counts.by_kind.values().sum();
        let budgets = self
            .client
            .rates()
            .snapshot()
            .into_iter()
            .map(|(r, b)| format!("{r} {}/{}", b.remaining, b.limit))
            .collect::<Vec<_>>()
            .join(", ");
        let batches = self.batches.report();
        tracing::info!(
            requests = total,
            writes = counts.writes,
            write_units = counts.units,
            retries = counts.retries,
            remaining = %budgets,
            observe_batches = %batches::describe(&batches.answered),
            observe_splits = batches.splits,
            ambiguous = %counts
                .ambiguous
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            "GitHub API usage"
        );
        for (kind, n) in &counts.by_kind {
            tracing::debug!(kind = %kind, requests = n, "GitHub requests by kind");
        }
    }

    /// Observes `chunk` in one query; when GitHub cannot answer it (too
    /// slow or too big), splits it in halves and observes those, down to
    /// single repositories (see [`batches`]).
    fn observe_adaptive<'a>(&'a self, chunk: &'a [RepoQuery]) -> Observing<'a> {
        Box::pin(async move {
            let why = match self.observe_chunk(chunk).await {
                Ok(results) => {
                    self.batches.answered(chunk.len());
                    return results;
                }
                Err(why) => why,
            };
            if let [q] = chunk {
                return vec![Err(ForgeError::Other(format!(
                    "{}: GitHub could not answer the observation of this repository even alone ({why}); its managed paths may be too many for one query, or GitHub is overloaded: try again later or with fewer files",
                    q.repo
                )))];
            }
            self.batches.refused(chunk.len());
            tracing::warn!(
                repos = chunk.len(),
                reason = %why,
                "GitHub could not answer an observation batch; splitting it in halves"
            );
            let (a, b) = chunk.split_at(chunk.len() / 2);
            let (mut first, second) =
                futures_util::future::join(self.observe_adaptive(a), self.observe_adaptive(b))
                    .await;
            first.extend(second);
            first
        })
    }

    /// One observation query. Err: GitHub could not answer it as a whole
    /// (a timeout or a resource limit; the reason), so it should be split.
    async fn observe_chunk(
        &self,
        chunk: &[RepoQuery],
    ) -> Result<Vec<Result<RepoObservation, ForgeError>>, String> {
        let doc = query::observe(chunk);
        // A batch that times out is split rather than asked again whole; a
        // single repository cannot be split, so its query is retried like
        // any other (a 502 may be a passing fault).
        let sent = match chunk {
            [_] => {
                self.client
                    .graphql(&doc.query, &doc.variables, "graphql observe", OpKind::Read)
                    .await
            }
            _ => {
                self.client
                    .graphql_batch(&doc.query, &doc.variables, "graphql observe")
                    .await
            }
        };
        let body = match sent {
            Ok(b) => b,
            Err(e @ SendError::TooBig { .. }) => return Err(e.to_string()),
            Err(e) => {
                let err = send_error(e);
                return Ok(chunk.iter().map(|_| Err(err.clone())).collect());
            }
        };
        if let Some(why) = batches::too_big(&body) {
            return Err(why);
        }
        let parsed = query::parse_observe(chunk, &body);
        let mut out = Vec::with_capacity(parsed.len());
        for (q, r) in chunk.iter().zip(parsed) {
            out.push(match r {
                Ok(observed) => self.finish_observation(q, observed).await,
                Err(e) => Err(e),
            });
        }
        Ok(out)
    }

    /// Completes one repository's observation (the name of an unborn
    /// default branch, lock files without text) and records what it says.
    async fn finish_observation(
        &self,
        q: &RepoQuery,
        mut observed: query::Observed,
    ) -> Result<RepoObservation, ForgeError> {
        if observed.unborn {
            // An empty repository: its unborn default branch is named only
            // by REST (one request, for empty repositories only).
            let name = self.rest_default_branch(&q.repo).await?;
            if let Some(configured) = q.branch.as_ref().filter(|b| **b != name) {
                return Err(query::missing_branch(&q.repo, configured, &name));
            }
            observed.observation.default_branch.name = name;
        }
        let defaults = std::iter::once(&observed.observation.default_branch.name)
            .chain(observed.default_ref.as_ref())
            .cloned()
            .collect();
        self.remember_observed(
            &q.repo,
            Known {
                node_id: observed.node_id.clone(),
                defaults,
                trees: HashMap::new(),
            },
            observed.observation.default_branch.tip,
            std::mem::take(&mut observed.tree),
            observed.proposal_tree.take(),
        );
        // Lock files GitHub returned no text for (binary/large).
        for (proposal, oid) in std::mem::take(&mut observed.lock_blobs_without_text) {
            let bytes = self
                .read_blobs(&q.repo, &[oid])
                .await
                .map(|mut m| m.remove(&oid));
            let obs = &mut observed.observation;
            let branch = if proposal {
                obs.proposal.as_mut().map(|p| &mut p.branch)
            } else {
                Some(&mut obs.default_branch)
            };
            if let (Some(b), Ok(bytes)) = (branch, bytes) {
                b.lock = bytes;
            }
        }
        Ok(observed.observation)
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<RepoId, Known>> {
        self.repos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records an observation: what it says of the repository, and the
    /// facts of the observed tip and of the proposal's tip (merged with
    /// what is known of those commits; facts of other commits are
    /// dropped).
    fn remember_observed(
        &self,
        repo: &RepoId,
        mut known: Known,
        tip: Option<ObjectId>,
        facts: Facts,
        proposal: Option<(ObjectId, Facts)>,
    ) {
        let mut repos = self.known();
        let mut old = repos.remove(repo);
        let tips = tip.map(|t| (t, facts)).into_iter().chain(proposal);
        for (tip, facts) in tips {
            let mut merged = old
                .as_mut()
                .and_then(|k| k.trees.remove(&tip))
                .unwrap_or_default();
            merged.extend(facts);
            known.trees.entry(tip).or_default().extend(merged);
        }
        repos.insert(repo.clone(), known);
    }

    /// What is known of `commit`'s tree.
    fn facts_of(&self, repo: &RepoId, commit: ObjectId) -> Facts {
        self.known()
            .get(repo)
            .and_then(|k| k.trees.get(&commit))
            .cloned()
            .unwrap_or_default()
    }

    /// Adds to what is known of `commit`'s tree (only for repositories the
    /// forge knows).
    fn add_facts(&self, repo: &RepoId, commit: ObjectId, facts: Facts) {
        if let Some(k) = self.known().get_mut(repo) {
            k.trees.entry(commit).or_default().extend(facts);
        }
    }

    /// The repository's node id and default branches: from observation,
    /// else one small query (and, for an empty repository, its REST
    /// `default_branch`). A missing repository is `NotFound`.
    async fn repo_info(&self, repo: &RepoId) -> Result<(String, BTreeSet<String>), ForgeError> {
        if let Some(k) = self.known().get(repo) {
            return Ok((k.node_id.clone(), k.defaults.clone()));
        }
        let doc = query::repo_id(repo);
        let body = self
            .client
            .graphql(&doc.query, &doc.variables, "graphql repo id", OpKind::Read)
            .await
            .map_err(send_error)?;
        let node_id = body
            .pointer("/data/repository/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| match query::errors(&body).first() {
                Some(e) => query::map_error(repo, e),
                None => ForgeError::NotFound {
                    repo: repo.clone(),
                    hint: String::new(),
                },
            })?;
        let default = match body
            .pointer("/data/repository/defaultBranchRef/name")
            .and_then(Value::as_str)
        {
            Some(name) => name.to_string(),
            None => self.rest_default_branch(repo).await?,
        };
        let known = Known {
            node_id,
            defaults: BTreeSet::from([default]),
            trees: HashMap::new(),
        };
        let out = (known.node_id.clone(), known.defaults.clone());
        self.known().entry(repo.clone()).or_insert(known);
        Ok(out)
    }

    /// The repository's default branch as REST names it (also when it is
    /// unborn, unlike GraphQL's `defaultBranchRef`).
    async fn rest_default_branch(&self, repo: &RepoId) -> Result<String, ForgeError> {
        let body = rest::call(
            &self.client,
            repo,
            Method::GET,
            format!("/repos/{}/{}", repo.owner, repo.name),
            None,
            "GET /repos/{owner}/{repo}",
            "read the repository",
        )
        .await?;
        body.get("default_branch")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ForgeError::Other(format!(
                    "{repo}: GitHub's answer does not name the default branch"
                ))
            })
    }

    /// Sends a read about one repository: GraphQL errors mapped, a missing
    /// repository is `NotFound`.
    async fn repository_query(
        &self,
        repo: &RepoId,
        doc: &query::Document,
        kind: &'static str,
    ) -> Result<Value, ForgeError> {
        let body = self
            .client
            .graphql(&doc.query, &doc.variables, kind, OpKind::Read)
            .await
            .map_err(send_error)?;
        if let Some(e) = query::errors(&body).first() {
            return Err(query::map_error(repo, e));
        }
        if body.pointer("/data/repository").is_none_or(Value::is_null) {
            return Err(ForgeError::NotFound {
                repo: repo.clone(),
                hint: String::new(),
            });
        }
        Ok(body)
    }

    /// The tip of `branch` as GitHub has it now (`None`: no such branch).
    async fn branch_tip(
        &self,
        repo: &RepoId,
        branch: &str,
    ) -> Result<Option<ObjectId>, ForgeError> {
        let doc = query::branch_tip(repo, branch);
        let body = self
            .repository_query(repo, &doc, "graphql branch tip")
            .await?;
        Ok(body
            .pointer("/data/repository/ref/target/oid")
            .and_then(Value::as_str)
            .and_then(|o| o.parse().ok()))
    }

    /// Reads what `commit`'s tree has at `paths` (a commit on a parent the
    /// forge did not observe).
    async fn read_facts(
        &self,
        repo: &RepoId,
        commit: ObjectId,
        paths: &[String],
    ) -> Result<Facts, ForgeError> {
        let mut facts = Facts::new();
        for chunk in paths.chunks(100) {
            let doc = tree::facts_query(repo, commit, chunk);
            let body = self
                .repository_query(repo, &doc, "graphql tree facts")
                .await?;
            facts.extend(tree::parse_facts(chunk, &body).ok_or_else(|| {
                ForgeError::Other(format!(
                    "{repo}: the parent commit {commit} is not on GitHub"
                ))
            })?);
        }
        Ok(facts)
    }

    /// Every file below each of `dirs` in `commit` (full paths), one query
    /// per directory level.
    async fn list_files(
        &self,
        repo: &RepoId,
        commit: ObjectId,
        dirs: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, Vec<String>>, ForgeError> {
        let mut out = BTreeMap::new();
        for top in dirs {
            let mut files = Vec::new();
            let mut level = vec![top.clone()];
            while !level.is_empty() {
                let mut next = Vec::new();
                for chunk in level.chunks(100) {
                    let doc = tree::listing_query(repo, commit, chunk);
                    let body = self
                        .client
                        .graphql(
                            &doc.query,
                            &doc.variables,
                            "graphql tree listing",
                            OpKind::Read,
                        )
                        .await
                        .map_err(send_error)?;
                    if let Some(e) = query::errors(&body).first() {
                        return Err(query::map_error(repo, e));
                    }
                    for entries in tree::parse_listing(chunk, &body) {
                        for (path, is_dir) in entries {
                            if is_dir {
                                next.push(path);
                            } else {
                                files.push(path);
                            }
                        }
                    }
                }
                level = next;
            }
            out.insert(top.clone(), files);
        }
        Ok(out)
    }

    /// Checks a commit's writes against its parent (see [`tree`]),
    /// reading what observation did not tell. Returns the writes to send,
    /// and what is known of the parent.
    async fn prepare(
        &self,
        request: &CommitRequest,
        parent: ObjectId,
    ) -> Result<(tree::Prepared, Facts), ForgeError> {
        let repo = &request.repo;
        let mut facts = self.facts_of(repo, parent);
        let mut listings = BTreeMap::new();
        // At most one read of paths and one listing.
        for _ in 0..3 {
            match tree::prepare(repo, &request.branch, &facts, &listings, &request.files)? {
                Ok(prepared) => return Ok((prepared, facts)),
                Err(Needs::Paths(unknown)) => {
                    let paths: Vec<String> = tree::to_read(&unknown, &request.files)
                        .into_iter()
                        .collect();
                    let read = self.read_facts(repo, parent, &paths).await?;
                    facts.extend(read.clone());
                    self.add_facts(repo, parent, read);
                }
                Err(Needs::Listings(dirs)) => {
                    listings.extend(self.list_files(repo, parent, &dirs).await?);
                }
            }
        }
        Err(ForgeError::Other(format!(
            "{repo}: cannot tell what the parent commit {parent} has at the paths written"
        )))
    }

    /// A mutation; returns `data`, or the first error mapped for `repo`.
    async fn mutate(
        &self,
        repo: &RepoId,
        document: &str,
        variables: Value,
        kind: &str,
    ) -> Result<Value, ForgeError> {
        let body = self
            .client
            .graphql(document, &variables, kind, OpKind::CasWrite)
            .await
            .map_err(send_error)?;
        let errors = query::errors(&body);
        if let Some(e) = errors.first() {
            return Err(query::map_error(repo, e));
        }
        Ok(body.get("data").cloned().unwrap_or(Value::Null))
    }

    /// A compare-and-swap mutation sent once: `Ok(None)` when it got a
    /// 5xx or no answer, so it may or may not have landed.
    async fn mutate_once(
        &self,
        repo: &RepoId,
        document: &str,
        variables: &Value,
        kind: &str,
    ) -> Result<Option<Value>, ForgeError> {
        match self
            .client
            .graphql(document, variables, kind, OpKind::CasWrite)
            .await
        {
            Ok(body) => match query::errors(&body).first() {
                Some(e) => Err(query::map_error(repo, e)),
                None => Ok(Some(body.get("data").cloned().unwrap_or(Value::Null))),
            },
            Err(SendError::Ambiguous { .. }) => Ok(None),
            Err(e) => Err(send_error(e)),
        }
    }

    /// A commit mutation on `branch`, with an exactly-once outcome: after
    /// an ambiguous failure the branch is read again (see [`landed`]); a
    /// commit that landed is ours and returned, a branch still at
    /// `written.before` gets the mutation again, anything else is a
    /// conflict.
    async fn commit_once(
        &self,
        request: &CommitRequest,
        branch: &str,
        written: &landed::Written<'_>,
        (document, variables): (&str, Value),
        kind: &str,
    ) -> Result<ObjectId, ForgeError> {
        let repo = &request.repo;
        for attempt in 0..landed::ATTEMPTS {
            match self.mutate_once(repo, document, &variables, kind).await {
                Ok(Some(data)) => return commit_oid(request, branch, &data),
                Ok(None) => {}
                Err(ForgeError::Conflict { .. }) => {
                    return Err(self.conflict(repo, branch, written.before).await);
                }
                Err(e) => return Err(e),
            }
            let paths: Vec<&str> = written.files.iter().map(|f| f.path.as_str()).collect();
            let doc = landed::tip_query(repo, branch, &paths);
            let body = self
                .repository_query(repo, &doc, "graphql landed check")
                .await?;
            let found = landed::judge_commit(&body, written);
            self.client.record_ambiguous(found.verdict());
            match found {
                Landed::Yes(id) => {
                    tracing::info!(repo = %repo, branch, commit = %id, "{kind}: the write had landed before the failure; it is ours");
                    return Ok(id);
                }
                Landed::No => pause(attempt).await,
                Landed::Gone => {
                    return Err(ForgeError::conflict(repo, branch, written.before, None));
                }
                Landed::Moved(actual) => {
                    return Err(ForgeError::conflict(repo, branch, written.before, actual));
                }
            }
        }
        Err(gave_up(repo, kind))
    }

    /// A compare-and-swap `updateRefs` moving `branch` from `before` to
    /// `after` (`None`: deleting it), with an exactly-once outcome like
    /// [`Self::commit_once`].
    async fn refs_once(
        &self,
        repo: &RepoId,
        branch: &str,
        (before, after): (Option<ObjectId>, Option<ObjectId>),
        refs: Value,
        kind: &str,
    ) -> Result<(), ForgeError> {
        let variables = json!({ "refs": refs });
        for attempt in 0..landed::ATTEMPTS {
            match self
                .mutate_once(repo, query::UPDATE_REFS, &variables, kind)
                .await
            {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => {}
                Err(ForgeError::Conflict { .. }) => {
                    return Err(self.conflict(repo, branch, before).await);
                }
                Err(e) => return Err(e),
            }
            let now = self.branch_tip(repo, branch).await?;
            let found = landed::judge_ref(now, before, after);
            self.client.record_ambiguous(found.verdict());
            match found {
                Landed::Yes(_) | Landed::Gone => {
                    tracing::info!(repo = %repo, branch, "{kind}: the ref update had landed before the failure");
                    return Ok(());
                }
                Landed::No => pause(attempt).await,
                Landed::Moved(actual) => {
                    return Err(ForgeError::conflict(repo, branch, before, actual));
                }
            }
        }
        Err(gave_up(repo, kind))
    }

    /// A compare-and-swap failure on `branch`, with the tip it has now
    /// (GitHub's message does not name it).
    async fn conflict(
        &self,
        repo: &RepoId,
        branch: &str,
        expected: Option<ObjectId>,
    ) -> ForgeError {
        match self.branch_tip(repo, branch).await {
            Ok(actual) => ForgeError::conflict(repo, branch, expected, actual),
            Err(e) => e,
        }
    }

    /// One commit through `createCommitOnBranch` (GitHub signs it). A
    /// branch's head only ever moves from its old tip to the new commit in
    /// one push, never through the base, so a pull request from it stays
    /// open (GitHub closes one whose head sits on its base even for an
    /// instant):
    /// - on the tip (`expected_tip == parent`): the commit alone, 1 unit;
    /// - a new branch: created at `parent` and committed on, 2 units;
    /// - a rebuild onto another base: the commit is written on a
    ///   short-lived branch from `parent`, then one `updateRefs` moves the
    ///   branch from its old tip to it (compare-and-swap) and deletes the
    ///   short-lived branch, 3 units.
    async fn commit_graphql(
        &self,
        request: &CommitRequest,
        parent: ObjectId,
        files: &[&FileWrite],
    ) -> Result<ObjectId, ForgeError> {
        let repo = &request.repo;
        let written = landed::Written {
            before: request.expected_tip,
            parent,
            message: &request.message,
            files,
        };
        let input = self.commit_input(request, &request.branch, parent, files);
        match request.expected_tip {
            Some(tip) if tip == parent => {
                let vars = json!({ "commit": input });
                self.commit_once(
                    request,
                    &request.branch,
                    &written,
                    (query::COMMIT, vars),
                    "graphql commit",
                )
                .await
            }
            None => {
                let (node, _) = self.repo_info(repo).await?;
                let refs = query::ref_update(&node, &request.branch, None, Some(parent), false);
                let vars = json!({ "refs": refs, "commit": input });
                self.commit_once(
                    request,
                    &request.branch,
                    &written,
                    (query::PROPOSE, vars),
                    "graphql propose",
                )
                .await
            }
            Some(old) => self.rebuild(request, parent, old, files).await,
        }
    }

    /// The rebuild of [`Self::commit_graphql`]: the new commit on a
    /// short-lived branch, then one compare-and-swap push of the proposal
    /// branch from `old` to it that also deletes the short-lived branch.
    async fn rebuild(
        &self,
        request: &CommitRequest,
        parent: ObjectId,
        old: ObjectId,
        files: &[&FileWrite],
    ) -> Result<ObjectId, ForgeError> {
        let repo = &request.repo;
        let branch = &request.branch;
        let (node, _) = self.repo_info(repo).await?;
        let temp = query::temp_branch_name(branch, old);
        crate::paths::check_branch_name(&temp)
            .map_err(|e| ForgeError::Other(format!("{repo}: {e}")))?;
        let input = self.commit_input(request, &temp, parent, files);
        let written = landed::Written {
            before: None,
            parent,
            message: &request.message,
            files,
        };
        let vars = json!({ "refs": query::temp_branch(&node, &temp, parent), "commit": input });
        let new = self
            .commit_once(
                request,
                &temp,
                &written,
                (query::PROPOSE, vars),
                "graphql rebuild commit",
            )
            .await?;
        let swap = query::swap_in(&node, branch, old, &temp, new);
        match self
            .refs_once(
                repo,
                branch,
                (Some(old), Some(new)),
                swap,
                "graphql rebuild swap",
            )
            .await
        {
            Ok(()) => Ok(new),
            Err(e) => {
                // Best effort: the short-lived branch goes; the proposal
                // branch was not touched.
                let clean = query::ref_update(&node, &temp, Some(new), None, false);
                let _ = self
                    .mutate(
                        repo,
                        query::UPDATE_REFS,
                        json!({ "refs": clean }),
                        "graphql rebuild cleanup",
                    )
                    .await;
                Err(e)
            }
        }
    }

    /// The `createCommitOnBranch` input of `request` on `branch`.
    fn commit_input(
        &self,
        request: &CommitRequest,
        branch: &str,
        parent: ObjectId,
        files: &[&FileWrite],
    ) -> Value {
        let mut additions = Vec::new();
        let mut deletions = Vec::new();
        for f in files {
            match &f.content {
                Some(c) => additions.push((f.path.clone(), c.clone())),
                None => deletions.push(f.path.clone()),
            }
        }
        query::commit_input(
            &request.repo,
            branch,
            parent,
            &request.message,
            &additions,
            &deletions,
        )
    }
}

/// The commit id GitHub answered `createCommitOnBranch` with.
fn commit_oid(request: &CommitRequest, branch: &str, data: &Value) -> Result<ObjectId, ForgeError> {
    data.pointer("/createCommitOnBranch/commit/oid")
        .and_then(Value::as_str)
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| {
            ForgeError::Other(format!(
                "GitHub answered the commit to {} `{branch}` without a commit id",
                request.repo
            ))
        })
}
/// The observation of a batch, boxed (it splits recursively).
type Observing<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Vec<Result<RepoObservation, ForgeError>>> + Send + 'a>,
>;

/// Names the forge writes must be valid before anything is sent: the
/// branch (`git check-ref-format` would take some names no branch may
/// have, like `-x`) and the paths.
fn check_names(repo: &RepoId, branch: &str, files: &[FileWrite]) -> Result<(), ForgeError> {
    crate::paths::check_branch_name(branch)
        .map_err(|e| ForgeError::Other(format!("{repo}: {e}")))?;
    for f in files {
        crate::paths::check_write_path(&f.path, f.content.is_none())
            .map_err(|e| ForgeError::Other(format!("{repo}: {e}")))?;
    }
    Ok(())
}

fn empty_repo(repo: &RepoId) -> ForgeError {
    ForgeError::Refused(format!(
        "{repo} is empty: GitHub's API cannot write the first commit of an empty repository this way; push an initial commit (a README is enough) and run again"
    ))
}

/// Waits before sending again a write that did not land (250 ms, then
/// doubling).
async fn pause(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(250 << attempt.min(4))).await;
}

/// A write that never got an answer after [`landed::ATTEMPTS`] attempts,
/// none of which landed.
fn gave_up(repo: &RepoId, kind: &str) -> ForgeError {
    ForgeError::Other(format!(
        "{repo}: {kind} got a server error or no answer {} times, and none of the attempts landed; nothing was changed",
        landed::ATTEMPTS
    ))
}

/// A request that got no usable answer, as a forge error.
fn send_error(e: SendError) -> ForgeError {
    ForgeError::Other(e.to_string())
}

impl Forge for GitHubForge {
    async fn git_credentials(&self, url: &str) -> Result<Option<SecretString>, ForgeError> {
        if !self.serves_git_url(url) {
            return Ok(None);
        }
        self.git_token()
            .await
            .map(Some)
            .map_err(|e| ForgeError::Other(format!("no token to fetch {url}: {e}")))
    }

    fn describe(&self) -> String {
        let e = self.client.endpoint();
        format!("github:{}{}", e.origin, e.rest_prefix)
    }

    fn observe_batch_size(&self) -> usize {
        // One call carries several queries; they run concurrently, bounded
        // by the client's in-flight limit.
        self.batch_size * 4
    }

    async fn observe(&self, queries: &[RepoQuery]) -> Vec<Result<RepoObservation, ForgeError>> {
        let chunks: Vec<&[RepoQuery]> = queries.chunks(self.batches.size()).collect();
        join_all(chunks.into_iter().map(|c| self.observe_adaptive(c)))
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn read_blobs(
        &self,
        repo: &RepoId,
        blobs: &[ObjectId],
    ) -> Result<BTreeMap<ObjectId, Vec<u8>>, ForgeError> {
        let mut out = BTreeMap::new();
        for chunk in blobs.chunks(100) {
            let doc = query::blobs(repo, chunk);
            let body = self
                .client
                .graphql(&doc.query, &doc.variables, "graphql blobs", OpKind::Read)
                .await
                .map_err(send_error)?;
            if let Some(e) = query::errors(&body).first() {
                return Err(query::map_error(repo, e));
            }
            for (i, oid) in chunk.iter().enumerate() {
                let node = body.pointer(&format!("/data/repository/b{i}"));
                let text = node
                    .filter(|n| n.get("isBinary") != Some(&Value::Bool(true)))
                    .filter(|n| n.get("isTruncated") != Some(&Value::Bool(true)))
                    .and_then(|n| n.get("text"))
                    .and_then(Value::as_str);
                match (node.filter(|n| !n.is_null()), text) {
                    (None, _) => {
                        return Err(ForgeError::Other(format!(
                            "{repo}: blob {oid} not found on GitHub"
                        )));
                    }
                    (Some(_), Some(t)) => {
                        out.insert(*oid, t.as_bytes().to_vec());
                    }
                    (Some(_), None) => {
                        out.insert(*oid, rest::read_blob(&self.client, repo, *oid).await?);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn commit(&self, request: &CommitRequest) -> Result<ObjectId, ForgeError> {
        let repo = &request.repo;
        check_names(repo, &request.branch, &request.files)?;
        let Some(parent) = request.parent else {
            // GitHub cannot write a first commit; a missing repository is
            // still reported as missing.
            self.repo_info(repo).await?;
            return Err(empty_repo(repo));
        };
        // A default branch only moves fast-forward from its tip: a commit
        // on the tip it replaces, with that tip as the compare-and-swap.
        // Anything else is a reset, refused for a default branch.
        if request.expected_tip != Some(parent) {
            let (_, defaults) = self.repo_info(repo).await?;
            for default in &defaults {
                request.check_fast_forward(default)?;
            }
        }
        let (prepared, facts) = self.prepare(request, parent).await?;
        let files: Vec<&FileWrite> = prepared.send.iter().map(|&i| &request.files[i]).collect();
        // createCommitOnBranch keeps a file's mode and cannot set one;
        // commits that set or clear the executable bit go through the Git
        // Data API, which can.
        let id = if self.write_mode == WriteMode::Rest || prepared.needs_modes {
            rest::commit(&self.client, request, parent, &files).await?
        } else {
            self.commit_graphql(request, parent, &files).await?
        };
        self.add_facts(repo, id, tree::after(&facts, &files));
        Ok(id)
    }

    async fn delete_branch(
        &self,
        repo: &RepoId,
        branch: &str,
        expected_tip: ObjectId,
    ) -> Result<(), ForgeError> {
        check_names(repo, branch, &[])?;
        let (node, defaults) = self.repo_info(repo).await?;
        if defaults.contains(branch) {
            return Err(ForgeError::Refused(format!(
                "refusing to delete `{branch}`, the default branch of {repo}"
            )));
        }
        if self.write_mode == WriteMode::Rest {
            return rest::delete_branch(&self.client, repo, branch, expected_tip).await;
        }
        let refs = query::ref_update(&node, branch, Some(expected_tip), None, false);
        self.refs_once(
            repo,
            branch,
            (Some(expected_tip), None),
            refs,
            "graphql delete branch",
        )
        .await
    }

    fn has_pull_requests(&self) -> bool {
        true
    }

    fn usage(&self) -> Option<crate::forge::ForgeUsage> {
        let counts = self.counts();
        Some(crate::forge::ForgeUsage {
            requests: counts.by_status,
            writes: counts.writes,
            write_units: counts.units,
            observe_batches: {
                let r = self.batches.report();
                crate::forge::BatchUsage {
                    configured: r.configured,
                    current: r.current,
                    answered: r.answered,
                    splits: r.splits,
                }
            },
            retries: counts.retries,
            ambiguous: counts
                .ambiguous
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect(),
            budgets: self
                .client
                .rates()
                .snapshot()
                .into_iter()
                .map(|(r, b)| (r, b.remaining, b.limit, b.reset))
                .collect(),
            pacer_waiting: self.client.pacer_waiting(),
        })
    }

    async fn open_pull_request(
        &self,
        spec: &PullRequestSpec,
    ) -> Result<OpenedPullRequest, ForgeError> {
        pulls::open(&self.client, spec).await
    }

    async fn update_pull_request(
        &self,
        repo: &RepoId,
        pull: &PullRequest,
        title: &str,
        body: &str,
    ) -> Result<(), ForgeError> {
        pulls::update(&self.client, repo, pull, title, body).await
    }

    async fn comment_pull_request(
        &self,
        repo: &RepoId,
        pull: &PullRequest,
        comment: &str,
        labels: &[String],
    ) -> Result<Vec<String>, ForgeError> {
        pulls::comment(&self.client, repo, pull, comment, labels).await
    }

    async fn close_pull_request(
        &self,
        repo: &RepoId,
        pull: &PullRequest,
        comment: &str,
    ) -> Result<(), ForgeError> {
        pulls::close(&self.client, repo, pull, comment).await
    }
}

/// Maps a REST error answer about `repo` (status and body) to a forge error.
pub(crate) fn rest_error(repo: &RepoId, status: u16, body: &Value, what: &str) -> ForgeError {
    let message = client::message_of(body);
    let detail = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errs| {
            errs.iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|d| !d.is_empty())
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    let kind = if status == 403 { "FORBIDDEN" } else { "" };
    match status {
        404 => ForgeError::NotFound {
            repo: repo.clone(),
            hint: format!(
                " ({what}: GitHub answered 404; the repository is missing or the token cannot see it)"
            ),
        },
        _ => match query::map_message(repo, kind, &format!("{message}{detail}")) {
            ForgeError::Other(_) => ForgeError::Other(format!(
                "GitHub refused to {what} in {repo}: HTTP {status}: {message}{detail}"
            )),
            mapped => mapped,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forge(api_url: &str) -> GitHubForge {
        GitHubForge::new(GitHubConfig {
            api_url: api_url.into(),
            auth: Auth::Token("ghp_x".to_string().into()),
            write_mode: WriteMode::Graphql,
            batch_size: 50,
            client: ClientSettings::default(),
        })
        .unwrap()
    }

    /// The token is lent to `git` only for the same GitHub, over HTTPS.
    #[tokio::test]
    async fn git_urls_on_the_same_github_may_borrow_the_token() {
        let gh = forge("https://api.github.com");
        assert!(gh.serves_git_url("https://github.com/acme/platform.git"));
        assert!(gh.serves_git_url("https://x-access-token@github.com/acme/platform"));
        assert!(!gh.serves_git_url("https://gitlab.com/acme/platform.git"));
        assert!(!gh.serves_git_url("https://github.com.evil.example/acme/platform.git"));
        assert!(!gh.serves_git_url("http://github.com/acme/platform.git"));
        assert!(!gh.serves_git_url("git@github.com:acme/platform.git"));
        let ghes = forge("https://ghe.example.com/api/v3");
        assert!(ghes.serves_git_url("https://ghe.example.com/platform/registry.git"));
        assert!(!ghes.serves_git_url("https://github.com/acme/platform.git"));
    }

    fn query_for(paths: &[&str], branch: Option<&str>) -> RepoQuery {
        RepoQuery {
            repo: RepoId::new("acme", "web"),
            branch: branch.map(str::to_string),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            lock_path: ".github/distributor.lock.json".into(),
            proposal_branch: "distributor/sync".into(),
        }
    }

    fn oid(n: u8) -> ObjectId {
        format!("{n:040x}").parse().unwrap()
    }

    /// Observation asks for the directories of the paths on the observed
    /// branch, so a commit on its tip knows what it needs without a read.
    #[test]
    fn observation_records_the_tip_s_tree_facts() {
        let q = query_for(&[".github/workflows/ci.yml", "CODEOWNERS"], None);
        let doc = query::observe(std::slice::from_ref(&q));
        let vars = doc.variables.as_object().unwrap();
        let dirs: BTreeSet<&str> = vars
            .iter()
            .filter(|(k, _)| k.starts_with('d'))
            .filter_map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(dirs, BTreeSet::from([".github", ".github/workflows"]));
        assert!(doc.query.contains("d1: file(path: $d1) { mode type }"));
        let body = json!({ "data": { "r0": {
            "id": "R_1", "isArchived": false, "defaultBranchRef": { "name": "main" },
            "branch": { "name": "main", "target": { "oid": oid(9).to_string(),
                "f0": { "oid": oid(1).to_string(), "mode": 33261, "type": "blob" },
                "f1": null,
                "lock": { "oid": oid(3).to_string(), "mode": 33188, "type": "blob",
                          "object": { "text": "{}", "isBinary": false } },
                "d0": { "mode": 16384, "type": "tree" },
                "d1": { "mode": 16384, "type": "tree" } } },
            "proposal": null,
            "pullRequests": { "nodes": [] }
        }}});
        let observed = query::parse_observe(&[q], &body).remove(0).unwrap();
        use tree::Entry;
        assert_eq!(
            observed.tree,
            Facts::from([
                (
                    ".github/workflows/ci.yml".to_string(),
                    Entry::File(crate::blob::FileMode::Executable)
                ),
                ("CODEOWNERS".to_string(), Entry::Missing),
                (
                    ".github/distributor.lock.json".to_string(),
                    Entry::File(crate::blob::FileMode::Regular)
                ),
                (".github".to_string(), Entry::Dir),
                (".github/workflows".to_string(), Entry::Dir),
            ])
        );
        assert_eq!(observed.default_ref.as_deref(), Some("main"));
        assert!(!observed.unborn);
    }

    /// A configured default branch the repository lacks is `NotFound`,
    /// naming it and the repository's default branch; an empty repository
    /// leaves its branch to be named by REST.
    #[test]
    fn missing_and_unborn_default_branches() {
        let answer = |default: Value| {
            json!({ "data": { "r0": {
                "id": "R_1", "isArchived": false, "defaultBranchRef": default,
                "branch": null, "proposal": null, "pullRequests": { "nodes": [] }
            }}})
        };
        let q = query_for(&["a.txt"], Some("trunk"));
        let err =
            query::parse_observe(std::slice::from_ref(&q), &answer(json!({ "name": "main" })))
                .remove(0)
                .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ForgeError::NotFound { .. }), "{msg}");
        assert!(
            msg.contains("no branch `trunk`") && msg.contains("`main`"),
            "{msg}"
        );
        let empty = query::parse_observe(&[q], &answer(Value::Null))
            .remove(0)
            .unwrap();
        assert!(empty.unborn);
        assert_eq!(empty.default_ref, None);
        assert_eq!(empty.observation.default_branch.tip, None);
    }

    /// `updateRefs` forces only a reset (of the proposal branch); a
    /// creation or deletion is a plain compare-and-swap.
    #[test]
    fn only_a_reset_is_forced() {
        let force = |before: Option<ObjectId>, after: Option<ObjectId>, force: bool| {
            query::ref_update("R_1", "distributor/sync", before, after, force)["refUpdates"][0]
                ["force"]
                .clone()
        };
        assert_eq!(force(Some(oid(1)), Some(oid(2)), true), json!(true));
        assert_eq!(force(None, Some(oid(2)), false), json!(false));
        assert_eq!(force(Some(oid(1)), None, false), json!(false));
    }

    /// A branch that is gone is a compare-and-swap failure (the forge then
    /// reads the actual tip), unlike a missing repository.
    #[test]
    fn a_vanished_ref_is_a_conflict() {
        let repo = RepoId::new("acme", "web");
        assert!(matches!(
            query::map_message(
                &repo,
                "NOT_FOUND",
                "Could not resolve to a Ref with the name 'refs/heads/distributor/sync'."
            ),
            ForgeError::Conflict { .. }
        ));
        assert!(matches!(
            query::map_message(
                &repo,
                "NOT_FOUND",
                "Could not resolve to a Repository with the name 'acme/web'."
            ),
            ForgeError::NotFound { .. }
        ));
    }

    #[test]
    fn new_documents_are_valid_against_the_github_schema() {
        let schema = fake_github::github_schema();
        let repo = RepoId::new("acme", "web");
        for (name, doc) in [
            ("repo id", query::repo_id(&repo).query),
            ("branch tip", query::branch_tip(&repo, "main").query),
        ] {
            if let Err(e) =
                apollo_compiler::ExecutableDocument::parse_and_validate(schema, &doc, name)
            {
                panic!("{name} is not valid against GitHub's schema:\n{e}\n{doc}");
            }
        }
    }

    /// After observation, a direct commit is one request, creating the
    /// proposal one, rebuilding it two (the commit on a short-lived
    /// branch, then the swap), a commit stacked on it one, deleting it one
    /// (GraphQL writes); the Git Data API's counts stay what they were.
    /// Checking the writes against the parent (a missing path's deletion
    /// dropped, a file in a new directory) reads nothing more: observation
    /// told (of the default branch's tip and the proposal's), and each
    /// commit knows its own tree.
    #[test]
    fn writes_after_observation_read_nothing_more() {
        for (mode, costs) in [
            (WriteMode::Graphql, [1, 1, 2, 1, 1, 1]),
            (WriteMode::Rest, [4, 4, 5, 4, 4, 2]),
        ] {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let fake = fake_github::FakeGitHub::start(fake_github::Config {
                    secondary_limits: vec![(100_000, std::time::Duration::from_secs(60))],
                    ..fake_github::Config::default()
                });
                fake.add_token("ghp_forge_unit", true);
                let base: ObjectId = fake
                    .add_repo(
                        "acme",
                        "web",
                        "main",
                        &[(".github/x.yml", b"a\n".as_slice()), ("README.md", b"r\n")],
                    )
                    .parse()
                    .unwrap();
                let gh = GitHubForge::new(GitHubConfig {
                    api_url: fake.url(),
                    auth: Auth::Token("ghp_forge_unit".to_string().into()),
                    write_mode: mode,
                    batch_size: 50,
                    client: ClientSettings {
                        pacing: limits::Pacing {
                            quotas: Vec::new(),
                            spacing: std::time::Duration::ZERO,
                        },
                        ..ClientSettings::default()
                    },
                })
                .unwrap();
                let mut q = query_for(&[".github/x.yml", ".github/new/y.yml", "gone.txt"], None);
                q.lock_path = ".distributor/lock.json".into();
                gh.observe(&[q]).await.remove(0).unwrap();
                let write = |path: &str, content: &str| crate::forge::FileWrite {
                    path: path.into(),
                    content: Some(content.as_bytes().to_vec()),
                    mode: crate::blob::FileMode::Regular,
                    mode_unchanged: false,
                };
                let request = |branch: &str, parent, expected, files| CommitRequest {
                    repo: RepoId::new("acme", "web"),
                    branch: branch.into(),
                    parent: Some(parent),
                    expected_tip: expected,
                    files,
                    message: "sync\n\nDistributor-Version: 0\n".into(),
                    author: crate::forge::Signature {
                        name: "d".into(),
                        email: "d@example.com".into(),
                    },
                };
                let mut spent = Vec::new();
                let cost = || {
                    let total = fake.counters().total;
                    fake.reset_counters();
                    total
                };
                cost();
                let gone = crate::forge::FileWrite {
                    content: None,
                    ..write("gone.txt", "")
                };
                let direct = gh
                    .commit(&request(
                        "main",
                        base,
                        Some(base),
                        vec![
                            write(".github/x.yml", "b\n"),
                            write(".github/new/y.yml", "y\n"),
                            gone,
                            write(".distributor/lock.json", "{}\n"),
                        ],
                    ))
                    .await
                    .unwrap();
                spent.push(cost());
                let files = || {
                    vec![
                        write(".github/new/y.yml", "proposed\n"),
                        write(".distributor/lock.json", "{\"p\":1}\n"),
                    ]
                };
                let p1 = gh
                    .commit(&request("distributor/sync", direct, None, files()))
                    .await
                    .unwrap();
                spent.push(cost());
                let p2 = gh
                    .commit(&request("distributor/sync", direct, Some(p1), files()))
                    .await
                    .unwrap();
                spent.push(cost());
                let p3 = gh
                    .commit(&request("distributor/sync", p2, Some(p2), files()))
                    .await
                    .unwrap();
                spent.push(cost());
                // A fresh forge (the next run) knows the proposal's tip
                // from observation.
                let next = GitHubForge::new(GitHubConfig {
                    api_url: fake.url(),
                    auth: Auth::Token("ghp_forge_unit".to_string().into()),
                    write_mode: mode,
                    batch_size: 50,
                    client: ClientSettings {
                        pacing: limits::Pacing {
                            quotas: Vec::new(),
                            spacing: std::time::Duration::ZERO,
                        },
                        ..ClientSettings::default()
                    },
                })
                .unwrap();
                let mut q = query_for(&[".github/x.yml", ".github/new/y.yml", "gone.txt"], None);
                q.lock_path = ".distributor/lock.json".into();
                next.observe(&[q]).await.remove(0).unwrap();
                cost();
                let p4 = next
                    .commit(&request("distributor/sync", p3, Some(p3), files()))
                    .await
                    .unwrap();
                spent.push(cost());
                next.delete_branch(&RepoId::new("acme", "web"), "distributor/sync", p4)
                    .await
                    .unwrap();
                spent.push(cost());
                assert_eq!(spent, costs, "{mode:?}");
                assert_eq!(
                    fake.file("acme", "web", "main", ".github/new/y.yml")
                        .as_deref(),
                    Some(b"y\n".as_slice())
                );
                assert_eq!(fake.tip("acme", "web", "distributor/sync"), None);
            });
        }
    }
}
