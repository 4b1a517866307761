//! The GitHub backend of [`Forge`]. Reads are batched GraphQL queries (one
//! request observes up to `batch_size` repos), writes are one
//! `createCommitOnBranch` per commit (signed by GitHub, `expectedHeadOid` as
//! the compare-and-swap) or, where that mutation is unavailable, the REST
//! Git Data API ([`rest`]). Pull requests go through REST. Every request
//! goes through the one [`client::Client`] (auth, pacing, budget, retries).
//!
//! This module maps GitHub's answers to [`ForgeError`]s; it does no
//! planning.

pub mod client;
pub mod credentials;
pub mod limits;
mod pulls;
pub mod query;
mod rest;

use octocrab::secrecy::SecretString;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::blob::{FileMode, ObjectId};
use crate::forge::{
    CommitRequest, Forge, ForgeError, OpenedPullRequest, PullRequest, PullRequestSpec, RepoId,
    RepoObservation, RepoQuery,
};
pub use client::{Auth, ClientSettings, Counts, Endpoint};
use client::{Client, SendError};

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
    /// Repository node ids (for `updateRefs`) and default branch names, as
    /// observed.
    repos: Mutex<HashMap<RepoId, (String, String)>>,
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
        tracing::info!(
            requests = total,
            writes = counts.writes,
            retries = counts.retries,
            remaining = %budgets,
            "GitHub API usage"
        );
        for (kind, n) in &counts.by_kind {
            tracing::debug!(kind = %kind, requests = n, "GitHub requests by kind");
        }
    }

    async fn observe_chunk(&self, chunk: &[RepoQuery]) -> Vec<Result<RepoObservation, ForgeError>> {
        let doc = query::observe(chunk);
        let body = match self
            .client
            .graphql(&doc.query, &doc.variables, "graphql observe", false)
            .await
        {
            Ok(b) => b,
            Err(e) => {
                let err = send_error(e);
                return chunk.iter().map(|_| Err(err.clone())).collect();
            }
        };
        let parsed = query::parse_observe(chunk, &body);
        let mut out = Vec::with_capacity(parsed.len());
        for (q, r) in chunk.iter().zip(parsed) {
            out.push(match r {
                Ok(mut observed) => {
                    self.repos
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(
                            q.repo.clone(),
                            (
                                observed.node_id.clone(),
                                observed.observation.default_branch.name.clone(),
                            ),
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
                Err(e) => Err(e),
            });
        }
        out
    }

    /// The repository's node id, from observation or one small query.
    async fn repo_node_id(&self, repo: &RepoId) -> Result<String, ForgeError> {
        if let Some((id, _)) = self
            .repos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(repo)
        {
            return Ok(id.clone());
        }
        let doc = query::repo_id(repo);
        let body = self
            .client
            .graphql(&doc.query, &doc.variables, "graphql repo id", false)
            .await
            .map_err(send_error)?;
        body.pointer("/data/repository/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| match query::errors(&body).first() {
                Some(e) => query::map_error(repo, e),
                None => ForgeError::NotFound {
                    repo: repo.clone(),
                    hint: String::new(),
                },
            })
    }

    fn default_branch_of(&self, repo: &RepoId) -> Option<String> {
        self.repos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(repo)
            .map(|(_, b)| b.clone())
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
            .graphql(document, &variables, kind, true)
            .await
            .map_err(send_error)?;
        let errors = query::errors(&body);
        if let Some(e) = errors.first() {
            return Err(query::map_error(repo, e));
        }
        Ok(body.get("data").cloned().unwrap_or(Value::Null))
    }

    async fn commit_graphql(&self, request: &CommitRequest) -> Result<ObjectId, ForgeError> {
        let parent = request.parent.ok_or_else(|| empty_repo(&request.repo))?;
        let mut additions = Vec::new();
        let mut deletions = Vec::new();
        for f in &request.files {
            match &f.content {
                Some(c) => additions.push((f.path.clone(), c.clone())),
                None => deletions.push(f.path.clone()),
            }
        }
        let input = query::commit_input(
            &request.repo,
            &request.branch,
            parent,
            &request.message,
            &additions,
            &deletions,
        );
        let data = if request.expected_tip == Some(parent) {
            self.mutate(
                &request.repo,
                query::COMMIT,
                json!({ "commit": input }),
                "graphql commit",
            )
            .await
        } else {
            if self.default_branch_of(&request.repo).as_deref() == Some(request.branch.as_str()) {
                request.check_fast_forward(&request.branch)?;
            }
            let node = self.repo_node_id(&request.repo).await?;
            let refs =
                query::ref_update(&node, &request.branch, request.expected_tip, Some(parent));
            self.mutate(
                &request.repo,
                query::PROPOSE,
                json!({ "refs": refs, "commit": input }),
                "graphql propose",
            )
            .await
        }
        .map_err(|e| with_branch(e, request))?;
        data.pointer("/createCommitOnBranch/commit/oid")
            .and_then(Value::as_str)
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| {
                ForgeError::Other(format!(
                    "GitHub answered the commit to {} `{}` without a commit id",
                    request.repo, request.branch
                ))
            })
    }
}

/// Fills in the branch of a compare-and-swap failure from the request.
fn with_branch(e: ForgeError, request: &CommitRequest) -> ForgeError {
    match e {
        ForgeError::Conflict { actual, .. } => ForgeError::Conflict {
            repo: request.repo.clone(),
            branch: request.branch.clone(),
            expected: crate::forge::describe_tip(request.expected_tip),
            actual,
        },
        other => other,
    }
}

fn empty_repo(repo: &RepoId) -> ForgeError {
    ForgeError::Refused(format!(
        "{repo} is empty: GitHub's API cannot write the first commit of an empty repository this way; push an initial commit (a README is enough) and run again"
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
        let chunks: Vec<&[RepoQuery]> = queries.chunks(self.batch_size).collect();
        join_all(chunks.into_iter().map(|c| self.observe_chunk(c)))
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
                .graphql(&doc.query, &doc.variables, "graphql blobs", false)
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
        // createCommitOnBranch keeps a file's mode but cannot set the
        // executable bit; commits that must set it go through the Git Data
        // API, which can.
        let needs_mode = request
            .files
            .iter()
            .any(|f| f.content.is_some() && f.mode == FileMode::Executable && !f.mode_unchanged);
        if self.write_mode == WriteMode::Rest || needs_mode {
            let default = self.default_branch_of(&request.repo);
            return rest::commit(&self.client, request, default.as_deref()).await;
        }
        self.commit_graphql(request).await
    }

    async fn delete_branch(
        &self,
        repo: &RepoId,
        branch: &str,
        expected_tip: ObjectId,
    ) -> Result<(), ForgeError> {
        if self.write_mode == WriteMode::Rest {
            return rest::delete_branch(&self.client, repo, branch, expected_tip).await;
        }
        let node = self.repo_node_id(repo).await?;
        let refs = query::ref_update(&node, branch, Some(expected_tip), None);
        self.mutate(
            repo,
            query::UPDATE_REFS,
            json!({ "refs": refs }),
            "graphql delete branch",
        )
        .await
        .map_err(|e| match e {
            ForgeError::Conflict { actual, .. } => ForgeError::Conflict {
                repo: repo.clone(),
                branch: branch.to_string(),
                expected: expected_tip.to_string(),
                actual,
            },
            other => other,
        })?;
        Ok(())
    }

    fn has_pull_requests(&self) -> bool {
        true
    }

    fn usage(&self) -> Option<crate::forge::ForgeUsage> {
        let counts = self.counts();
        Some(crate::forge::ForgeUsage {
            requests: counts.by_status,
            writes: counts.writes,
            retries: counts.retries,
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
}
