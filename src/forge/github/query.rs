//! The GraphQL documents distributor sends, and the parsing of their
//! answers into forge values. Pure: documents are built from values and
//! answers are parsed from JSON, so both are unit-tested, and a test
//! validates every document against GitHub's published schema.
//!
//! Observation reads many repositories in one query through aliases: each
//! repo's observed branch (its commit, the blob id and mode of every managed
//! path, the lock file's text), the proposal branch likewise, and the open
//! pull request from the proposal branch. Paths are read with
//! `Commit.file(path:)`, so every file of a branch comes from the same
//! commit as the tip the plan's compare-and-swap uses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::tree::{self, Entry, Facts};
use crate::blob::{FileMode, ObjectId};
use crate::forge::{
    BranchSnapshot, Checks, FileEntry, ForgeError, ProposalSnapshot, PullRequest, RepoId,
    RepoObservation, RepoQuery, ownership,
};

/// A GraphQL document and its variables.
#[derive(Debug, Clone)]
pub struct Document {
    pub query: String,
    pub variables: Value,
}

/// The all-zero object id: "must not exist" / "delete" in `updateRefs`.
pub const ZERO_OID: &str = "0000000000000000000000000000000000000000";

/// Git file modes as GraphQL's `TreeEntry.mode` reports them.
const MODE_REGULAR: i64 = 0o100644;
const MODE_EXECUTABLE: i64 = 0o100755;

/// Builds the observation query for a batch of repos.
pub fn observe(queries: &[RepoQuery]) -> Document {
    let mut vars = Map::new();
    let mut paths: BTreeMap<&str, String> = BTreeMap::new();
    for q in queries {
        for p in q.paths.iter().chain(std::iter::once(&q.lock_path)) {
            let n = paths.len();
            paths.entry(p.as_str()).or_insert_with(|| format!("p{n}"));
        }
    }
    let mut dirs: BTreeMap<String, String> = BTreeMap::new();
    for q in queries {
        for d in dirs_of_query(q) {
            let n = dirs.len();
            dirs.entry(d).or_insert_with(|| format!("d{n}"));
        }
    }
    let mut heads: BTreeMap<&str, String> = BTreeMap::new();
    for q in queries {
        let n = heads.len();
        heads
            .entry(q.proposal_branch.as_str())
            .or_insert_with(|| format!("h{n}"));
    }
    let mut decls: Vec<String> = Vec::new();
    for (path, var) in &paths {
        decls.push(format!("${var}: String!"));
        vars.insert(var.clone(), json!(path));
    }
    for (dir, var) in &dirs {
        decls.push(format!("${var}: String!"));
        vars.insert(var.clone(), json!(dir));
    }
    for (head, var) in &heads {
        decls.push(format!("${var}: String!"));
        vars.insert(var.clone(), json!(head));
        vars.insert(format!("{var}ref"), json!(format!("refs/heads/{head}")));
        decls.push(format!("${var}ref: String!"));
    }
    let mut body = String::from("  rateLimit { cost remaining resetAt }\n");
    for (i, q) in queries.iter().enumerate() {
        decls.push(format!("$o{i}: String!"));
        decls.push(format!("$n{i}: String!"));
        vars.insert(format!("o{i}"), json!(q.repo.owner));
        vars.insert(format!("n{i}"), json!(q.repo.name));
        let branch = match &q.branch {
            Some(b) => {
                decls.push(format!("$b{i}: String!"));
                vars.insert(format!("b{i}"), json!(format!("refs/heads/{b}")));
                format!("ref(qualifiedName: $b{i})")
            }
            None => "defaultBranchRef".to_string(),
        };
        let mut files = String::new();
        for (j, p) in q.paths.iter().enumerate() {
            let _ = write!(
                files,
                " f{j}: file(path: ${}) {{ oid mode type }}",
                paths[p.as_str()]
            );
        }
        let lock = &paths[q.lock_path.as_str()];
        let _ = write!(
            files,
            " lock: file(path: ${lock}) {{ oid mode type object {{ ... on Blob {{ text isBinary }} }} }}"
        );
        // The directories of the paths, on both branches' tips: new
        // commits are written on them (see `tree`).
        let mut tree = String::new();
        for (k, d) in dirs_of_query(q).iter().enumerate() {
            let _ = write!(tree, " d{k}: file(path: ${}) {{ mode type }}", dirs[d]);
        }
        let head = &heads[q.proposal_branch.as_str()];
        let _ = writeln!(
            body,
            "  r{i}: repository(owner: $o{i}, name: $n{i}) {{\n    id url isArchived\n    \
             defaultBranchRef {{ name }}\n    \
             branch: {branch} {{ name compare(headRef: ${head}) {{ behindBy }} target {{ ... on Commit {{ oid statusCheckRollup {{ state }}{files}{tree} }} }} }}\n    \
             proposal: ref(qualifiedName: ${head}ref) {{ name target {{ ... on Commit {{ oid changedFilesIfAvailable statusCheckRollup {{ state }} parents(first: 2) {{ totalCount nodes {{ oid{files} }} }}{files}{tree} }} }} }}\n    \
             pullRequests(headRefName: ${head}, states: [OPEN], first: 1) {{ nodes {{ id number url title body createdAt isDraft labels(first: 20) {{ nodes {{ name }} }} }} }}\n    \
             closed: pullRequests(headRefName: ${head}, states: [CLOSED], first: 1, orderBy: {{field: CREATED_AT, direction: DESC}}) {{ nodes {{ number url headRefOid }} }}\n  }}"
        );
    }
    Document {
        query: format!("query Observe({}) {{\n{body}}}", decls.join(", ")),
        variables: Value::Object(vars),
    }
}

/// The directories of a query's paths and lock file that are not queried
/// paths themselves, in a stable order.
fn dirs_of_query(q: &RepoQuery) -> Vec<String> {
    let queried: BTreeSet<&str> = q
        .paths
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(q.lock_path.as_str()))
        .collect();
    queried
        .iter()
        .flat_map(|p| tree::dirs_of(p))
        .filter(|d| !queried.contains(d))
        .map(str::to_string)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// What the observed branch's tip has at the queried paths, the lock file
/// and their directories (the fields GitHub answered).
fn tree_facts(q: &RepoQuery, target: &Value) -> Facts {
    let mut facts = Facts::new();
    let mut add = |path: &str, key: &str| {
        if let Some(v) = target.get(key) {
            facts.insert(path.to_string(), Entry::from_graphql(Some(v)));
        }
    };
    for (j, p) in q.paths.iter().enumerate() {
        add(p, &format!("f{j}"));
    }
    add(&q.lock_path, "lock");
    for (k, d) in dirs_of_query(q).iter().enumerate() {
        add(d, &format!("d{k}"));
    }
    facts
}

/// A GraphQL error as GitHub reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GqlError {
    pub kind: String,
    pub message: String,
    /// The first element of `path`: the alias or mutation it belongs to.
    pub at: Option<String>,
}

/// The errors of a GraphQL answer.
pub fn errors(body: &Value) -> Vec<GqlError> {
    body.get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| GqlError {
            kind: e
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown GraphQL error")
                .to_string(),
            at: e
                .get("path")
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .and_then(Value::as_str)
                .map(str::to_string),
        })
        .collect()
}

/// What one repository answered, besides the forge values.
#[derive(Debug, Clone)]
pub struct Observed {
    pub observation: RepoObservation,
    /// GraphQL node id of the repository, for `updateRefs`.
    pub node_id: String,
    /// The lock blob ids whose text GitHub did not return (binary or
    /// large), by branch: `true` for the proposal branch.
    pub lock_blobs_without_text: Vec<(bool, ObjectId)>,
    /// GitHub's default branch (`None`: the repository is empty).
    pub default_ref: Option<String>,
    /// The repository is empty and GitHub's answer does not name its
    /// default branch: the caller reads it (REST `default_branch`) and
    /// names the unborn branch.
    pub unborn: bool,
    /// What the observed branch's tip has at the queried paths, the lock
    /// file and their directories.
    pub tree: Facts,
    /// The same of the proposal branch's tip, when there is one (a
    /// proposal update commits on it).
    pub proposal_tree: Option<(ObjectId, Facts)>,
}

/// Parses the answer to [`observe`] for the same `queries`.
pub fn parse_observe(queries: &[RepoQuery], body: &Value) -> Vec<Result<Observed, ForgeError>> {
    let errs = errors(body);
    let data = body.get("data");
    queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let alias = format!("r{i}");
            if let Some(e) = errs
                .iter()
                .find(|e| e.at.as_deref() == Some(alias.as_str()))
            {
                return Err(map_error(&q.repo, e));
            }
            let repo = data.and_then(|d| d.get(&alias)).filter(|v| !v.is_null());
            let Some(repo) = repo else {
                if let Some(e) = errs.iter().find(|e| e.at.is_none()) {
                    return Err(map_error(&q.repo, e));
                }
                return Err(not_found(&q.repo));
            };
            parse_repo(q, repo)
        })
        .collect()
}

fn not_found(repo: &RepoId) -> ForgeError {
    ForgeError::NotFound {
        repo: repo.clone(),
        hint: " on GitHub, or the token cannot see it (check the name, and that the token or GitHub App installation has access to it)".into(),
    }
}

fn parse_repo(q: &RepoQuery, repo: &Value) -> Result<Observed, ForgeError> {
    if repo.get("isArchived").and_then(Value::as_bool) == Some(true) {
        return Err(ForgeError::Archived(q.repo.clone()));
    }
    let node_id = str_at(repo, &["id"]).unwrap_or_default();
    let mut missing_text = Vec::new();
    let default_ref = str_at(repo, &["defaultBranchRef", "name"]);
    let branch_value = repo.get("branch").filter(|v| !v.is_null());
    let mut unborn = false;
    let mut tree = Facts::new();
    let mut proposal_tree = None;
    let default_branch = match branch_value {
        Some(b) => {
            tree = tree_facts(q, b.get("target").unwrap_or(&Value::Null));
            parse_branch(q, b, false, &mut missing_text)?
        }
        None => {
            // The registry names a branch the repository lacks.
            if let (Some(configured), Some(head)) = (&q.branch, &default_ref) {
                return Err(missing_branch(&q.repo, configured, head));
            }
            // An empty repository: no default branch yet, and GitHub's
            // answer does not name the unborn one (the caller reads it).
            unborn = default_ref.is_none();
            let name = default_ref
                .clone()
                .or_else(|| q.branch.clone())
                .unwrap_or_default();
            BranchSnapshot {
                name,
                tip: None,
                files: q.paths.iter().map(|p| (p.clone(), None)).collect(),
                lock: None,
                checks: None,
            }
        }
    };
    let proposal = match repo.get("proposal").filter(|v| !v.is_null()) {
        Some(p) => {
            let branch = parse_branch(q, p, true, &mut missing_text)?;
            let target = p.get("target").unwrap_or(&Value::Null);
            proposal_tree = branch.tip.map(|tip| (tip, tree_facts(q, target)));
            let parents = target.get("parents");
            let parent = parents
                .and_then(|p| p.get("nodes"))
                .and_then(Value::as_array)
                .and_then(|n| n.first());
            let single_parent = parents
                .and_then(|p| p.get("totalCount"))
                .and_then(Value::as_u64)
                == Some(1);
            let changed = target
                .get("changedFilesIfAvailable")
                .and_then(Value::as_u64);
            let behind = branch_value
                .and_then(|b| b.pointer("/compare/behindBy"))
                .and_then(Value::as_u64);
            let base = parent
                .and_then(|n| str_at(n, &["oid"]))
                .and_then(|o| o.parse().ok());
            // The base commit's files: the parent node has the same
            // selection as a branch target.
            let base_snapshot = match parent {
                Some(node) => {
                    let wrapped = json!({ "name": default_branch.name, "target": node });
                    let mut ignored = Vec::new();
                    Some(parse_branch(q, &wrapped, false, &mut ignored)?)
                }
                None => None,
            };
            // A branch that still points at the default branch's tip has no
            // commit of anyone's: distributor may reuse it.
            let empty = branch.tip.is_some() && branch.tip == default_branch.tip;
            // Distributor's by content (see `ownership`): a commit with one
            // parent, changing only managed paths and the lock, to what
            // the lock records.
            let ours = single_parent
                && base_snapshot
                    .as_ref()
                    .is_some_and(|b| ownership::by_content(&branch, b, changed));
            Some(ProposalSnapshot {
                by_distributor: empty || ours,
                contains_default: behind == Some(0),
                branch,
                base,
                base_snapshot,
            })
        }
        None => None,
    };
    let pull_request = repo
        .get("pullRequests")
        .and_then(|p| p.get("nodes"))
        .and_then(Value::as_array)
        .and_then(|n| n.first())
        .map(parse_pull);
    Ok(Observed {
        observation: RepoObservation {
            repo: q.repo.clone(),
            default_branch,
            proposal,
            pull_request,
            web_url: str_at(repo, &["url"]),
            closed_pull_request: repo
                .get("closed")
                .and_then(|p| p.get("nodes"))
                .and_then(Value::as_array)
                .and_then(|n| n.first())
                .map(|n| crate::forge::ClosedPullRequest {
                    number: n.get("number").and_then(Value::as_u64).unwrap_or_default(),
                    url: str_at(n, &["url"]).unwrap_or_default(),
                    head: str_at(n, &["headRefOid"]).and_then(|o| o.parse().ok()),
                }),
        },
        node_id,
        lock_blobs_without_text: missing_text,
        default_ref,
        unborn,
        tree,
        proposal_tree,
    })
}

/// The error for a configured default branch that the repository lacks
/// (the local forge's wording).
pub fn missing_branch(repo: &RepoId, branch: &str, head: &str) -> ForgeError {
    crate::forge::local::missing_branch(repo, branch, head)
}

fn parse_branch(
    q: &RepoQuery,
    branch: &Value,
    proposal: bool,
    missing_text: &mut Vec<(bool, ObjectId)>,
) -> Result<BranchSnapshot, ForgeError> {
    let name = str_at(branch, &["name"]).unwrap_or_default();
    let target = branch.get("target").unwrap_or(&Value::Null);
    let tip: Option<ObjectId> = str_at(target, &["oid"]).and_then(|o| o.parse().ok());
    let mut files = BTreeMap::new();
    for (j, p) in q.paths.iter().enumerate() {
        files.insert(p.clone(), parse_entry(target.get(format!("f{j}"))));
    }
    let lock_value = target.get("lock").filter(|v| !v.is_null());
    let lock = match lock_value {
        None => None,
        Some(l) => match l
            .get("object")
            .and_then(|o| o.get("text"))
            .and_then(Value::as_str)
        {
            Some(text) => Some(text.as_bytes().to_vec()),
            None => {
                if let Some(oid) = str_at(l, &["oid"]).and_then(|o| o.parse().ok()) {
                    missing_text.push((proposal, oid));
                }
                None
            }
        },
    };
    let checks = match str_at(target, &["statusCheckRollup", "state"]).as_deref() {
        Some("SUCCESS") => Some(Checks::Success),
        Some("FAILURE" | "ERROR") => Some(Checks::Failure),
        Some("PENDING" | "EXPECTED") => Some(Checks::Pending),
        _ => None,
    };
    Ok(BranchSnapshot {
        name,
        tip,
        files,
        lock,
        checks,
    })
}

fn parse_entry(v: Option<&Value>) -> Option<FileEntry> {
    let v = v.filter(|v| !v.is_null())?;
    let blob: ObjectId = str_at(v, &["oid"])?.parse().ok()?;
    let kind = str_at(v, &["type"]).unwrap_or_else(|| "blob".into());
    let mode = match (kind.as_str(), v.get("mode").and_then(Value::as_i64)) {
        ("blob", Some(MODE_REGULAR)) => Some(FileMode::Regular),
        ("blob", Some(MODE_EXECUTABLE)) => Some(FileMode::Executable),
        _ => None,
    };
    Some(FileEntry { blob, mode })
}

/// A pull request node (observation) or REST answer.
pub fn parse_pull(v: &Value) -> PullRequest {
    let labels = v
        .get("labels")
        .and_then(|l| l.get("nodes").or(Some(l)))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| str_at(l, &["name"]))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    PullRequest {
        number: v.get("number").and_then(Value::as_u64).unwrap_or_default(),
        url: str_at(v, &["url"]).unwrap_or_default(),
        node_id: str_at(v, &["id"]).unwrap_or_default(),
        title: str_at(v, &["title"]).unwrap_or_default(),
        body: str_at(v, &["body"]).unwrap_or_default(),
        created_at: str_at(v, &["createdAt"]).unwrap_or_default(),
        labels,
        draft: v.get("isDraft").and_then(Value::as_bool).unwrap_or(false),
    }
}

fn str_at(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_string)
}

/// Reads blobs by id from one repository (text blobs; binary ones come
/// back without text and are fetched over REST).
pub fn blobs(repo: &RepoId, oids: &[ObjectId]) -> Document {
    let mut decls = vec!["$owner: String!".to_string(), "$name: String!".to_string()];
    let mut vars = Map::new();
    vars.insert("owner".into(), json!(repo.owner));
    vars.insert("name".into(), json!(repo.name));
    let mut fields = String::new();
    for (i, oid) in oids.iter().enumerate() {
        decls.push(format!("$b{i}: GitObjectID!"));
        vars.insert(format!("b{i}"), json!(oid.to_string()));
        let _ = write!(
            fields,
            " b{i}: object(oid: $b{i}) {{ ... on Blob {{ oid text isBinary isTruncated }} }}"
        );
    }
    Document {
        query: format!(
            "query Blobs({}) {{ repository(owner: $owner, name: $name) {{{fields} }} }}",
            decls.join(", ")
        ),
        variables: Value::Object(vars),
    }
}

/// The repository's node id and default branch (when observation did not
/// record them).
pub fn repo_id(repo: &RepoId) -> Document {
    Document {
        query: "query RepoId($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { id defaultBranchRef { name } } }".into(),
        variables: json!({ "owner": repo.owner, "name": repo.name }),
    }
}

/// The tip of one branch (after a compare-and-swap failure: GitHub's
/// message does not name it).
pub fn branch_tip(repo: &RepoId, branch: &str) -> Document {
    Document {
        query: "query BranchTip($owner: String!, $name: String!, $ref: String!) { repository(owner: $owner, name: $name) { ref(qualifiedName: $ref) { target { oid } } } }".into(),
        variables: json!({ "owner": repo.owner, "name": repo.name, "ref": format!("refs/heads/{branch}") }),
    }
}

/// The `createCommitOnBranch` input.
pub fn commit_input(
    repo: &RepoId,
    branch: &str,
    expected_head: ObjectId,
    message: &str,
    additions: &[(String, Vec<u8>)],
    deletions: &[String],
) -> Value {
    use base64::Engine as _;
    let (headline, body) = match message.split_once('\n') {
        Some((h, b)) => (h.trim_end(), b.trim_start_matches('\n')),
        None => (message, ""),
    };
    json!({
        "branch": { "repositoryNameWithOwner": repo.to_string(), "branchName": branch },
        "expectedHeadOid": expected_head.to_string(),
        "message": { "headline": headline, "body": body },
        "fileChanges": {
            "additions": additions.iter().map(|(path, bytes)| json!({
                "path": path,
                "contents": base64::engine::general_purpose::STANDARD.encode(bytes),
            })).collect::<Vec<_>>(),
            "deletions": deletions.iter().map(|p| json!({ "path": p })).collect::<Vec<_>>(),
        },
    })
}

/// One commit on an existing branch: `createCommitOnBranch`, GitHub signs it.
pub const COMMIT: &str = "mutation Commit($commit: CreateCommitOnBranchInput!) {\n  createCommitOnBranch(input: $commit) { commit { oid } }\n}";

/// Points a branch at a base commit and commits on it, in one request:
/// creates a new proposal branch, or the short-lived branch a rebuilt
/// proposal is written on. Never used on a branch a pull request may have
/// as its head: GitHub takes the two mutations as two pushes, and a head
/// moved onto its base closes the pull request.
pub const PROPOSE: &str = "mutation Propose($refs: UpdateRefsInput!, $commit: CreateCommitOnBranchInput!) {\n  updateRefs(input: $refs) { clientMutationId }\n  createCommitOnBranch(input: $commit) { commit { oid } }\n}";

/// Ref updates with compare-and-swap (used to delete a branch).
pub const UPDATE_REFS: &str = "mutation UpdateRefs($refs: UpdateRefsInput!) {\n  updateRefs(input: $refs) { clientMutationId }\n}";

/// Auto-merge once checks pass.
pub const AUTO_MERGE: &str = "mutation AutoMerge($input: EnablePullRequestAutoMergeInput!) {\n  enablePullRequestAutoMerge(input: $input) { pullRequest { number } }\n}";

/// The `updateRefs` input for one branch. `force` allows a move that is
/// not a fast-forward: only ever for resetting the proposal branch, never
/// for a default branch.
pub fn ref_update(
    repo_node_id: &str,
    branch: &str,
    before: Option<ObjectId>,
    after: Option<ObjectId>,
    force: bool,
) -> Value {
    let oid = |o: Option<ObjectId>| o.map(|o| o.to_string()).unwrap_or_else(|| ZERO_OID.into());
    json!({
        "repositoryId": repo_node_id,
        "refUpdates": [{
            "name": format!("refs/heads/{branch}"),
            "beforeOid": oid(before),
            "afterOid": oid(after),
            "force": force,
        }],
    })
}

/// The `updateRefs` input pointing the short-lived branch `temp` at `base`
/// whatever it held (a leftover of an interrupted rebuild is reused).
pub fn temp_branch(repo_node_id: &str, temp: &str, base: ObjectId) -> Value {
    json!({
        "repositoryId": repo_node_id,
        "refUpdates": [{
            "name": format!("refs/heads/{temp}"),
            "afterOid": base.to_string(),
            "force": true,
        }],
    })
}

/// The `updateRefs` input that moves a rebuilt proposal into place in one
/// push: `branch` from `old` straight to `new` (compare-and-swap, force:
/// `new` does not descend from `old`) and the short-lived `temp` deleted.
pub fn swap_in(
    repo_node_id: &str,
    branch: &str,
    old: ObjectId,
    temp: &str,
    new: ObjectId,
) -> Value {
    json!({
        "repositoryId": repo_node_id,
        "refUpdates": [
            {
                "name": format!("refs/heads/{branch}"),
                "beforeOid": old.to_string(),
                "afterOid": new.to_string(),
                "force": true,
            },
            {
                "name": format!("refs/heads/{temp}"),
                "beforeOid": new.to_string(),
                "afterOid": ZERO_OID,
                "force": false,
            },
        ],
    })
}

/// The short-lived branch a rebuild of `branch` replacing `old` is written
/// on: beside it (not below it: a ref cannot be a file and a folder), and
/// named after the proposal it replaces so a retry reuses it.
pub fn temp_branch_name(branch: &str, old: ObjectId) -> String {
    format!("{branch}-rebuild-{}", &old.to_string()[..12])
}

/// Maps a GraphQL error about `repo` to a forge error callers branch on.
pub fn map_error(repo: &RepoId, e: &GqlError) -> ForgeError {
    map_message(repo, &e.kind, &e.message)
}

/// Maps an error `kind` (GraphQL's `type`, or `FORBIDDEN` for a REST 403)
/// and its message to a forge error; GraphQL and REST share the phrases.
pub fn map_message(repo: &RepoId, kind: &str, message: &str) -> ForgeError {
    let lower = message.to_lowercase();
    if lower.contains("without `workflow` scope")
        || lower.contains("without `workflows` permission")
    {
        return ForgeError::Refused(workflow_refusal(repo, message));
    }
    if lower.contains("archived") {
        return ForgeError::Archived(repo.clone());
    }
    if lower.contains("rule violation") || lower.contains("protected branch") {
        return ForgeError::Protected(format!(
            "GitHub refused the direct commit to {repo}: {}",
            message.trim()
        ));
    }
    match kind {
        "NOT_FOUND" if message.contains("Repository") => not_found(repo),
        // The branch of a compare-and-swap is gone: a conflict whose actual
        // tip the caller reads.
        "NOT_FOUND" if message.contains("a Ref") => ForgeError::Conflict {
            repo: repo.clone(),
            branch: String::new(),
            expected: "the observed tip".into(),
            actual: "no branch".into(),
        },
        "STALE_DATA" => ForgeError::Conflict {
            repo: repo.clone(),
            branch: String::new(),
            expected: "the observed tip".into(),
            actual: format!("a newer commit ({})", message.trim()),
        },
        "FORBIDDEN" => ForgeError::Refused(format!(
            "GitHub refused a write to {repo}: {}",
            message.trim()
        )),
        _ => ForgeError::Other(format!("GitHub: {repo}: {}", message.trim())),
    }
}

/// The message for a workflow-file refusal: what GitHub requires and what
/// to do.
pub fn workflow_refusal(repo: &RepoId, github_message: &str) -> String {
    format!(
        "GitHub refused to write workflow files in {repo}: changing anything under .github/workflows/ needs the `workflow` scope on a classic personal access token, or the `workflows: write` permission for a GitHub App or fine-grained token. Grant it, or skip those files (`skip_files` in the registry). GitHub said: {}",
        github_message.trim()
    )
}

#[cfg(test)]
mod tests;
