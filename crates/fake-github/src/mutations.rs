//! GraphQL mutation resolvers: createCommitOnBranch, updateRefs and
//! enablePullRequestAutoMerge, with their payload objects. Each runs under
//! the state lock; apollo-compiler runs the fields of one document in order.

use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use serde_json::Value;

use crate::git::{self, Oid};
use crate::git_objects::{CommitObj, RefObj};
use crate::graphql::{Ctx, typed, unsupported};
use crate::pull_objects::PullObj;
use crate::state::{self, FileWrite, RefUpdate, Refusal};
use crate::{lock, util};

type Resolved<'a> = Result<ResolvedValue<'a>, FieldError>;

fn refused(r: Refusal) -> FieldError {
    typed(r.kind(), r.message())
}

/// The `input` argument as plain JSON.
fn input(info: &ResolveInfo<'_>) -> Value {
    serde_json::to_value(info.arguments())
        .ok()
        .and_then(|mut v| v.get_mut("input").map(Value::take))
        .unwrap_or(Value::Null)
}

fn client_mutation_id(input: &Value) -> Option<String> {
    input["clientMutationId"].as_str().map(str::to_string)
}

/// The root mutation object.
pub(crate) struct MutationRoot<'c> {
    pub ctx: &'c Ctx,
}

impl ObjectValue for MutationRoot<'_> {
    fn type_name(&self) -> &str {
        "Mutation"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        let input = input(info);
        match info.field_name() {
            "createCommitOnBranch" => self.create_commit_on_branch(&input),
            "updateRefs" => self.update_refs(&input),
            "enablePullRequestAutoMerge" => self.enable_auto_merge(&input),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

impl<'c> MutationRoot<'c> {
    fn create_commit_on_branch(&self, input: &Value) -> Resolved<'c> {
        let ctx = self.ctx;
        let mut state = lock(&ctx.shared.state);
        let branch = &input["branch"];
        let (key, branch_name) = if let Some(id) = branch["id"].as_str() {
            let (repo_id, full) = crate::shapes::parse_ref_node_id(id).ok_or_else(|| {
                typed(
                    "NOT_FOUND",
                    format!("Could not resolve to a node with the global id of '{id}'"),
                )
            })?;
            let repo = state
                .repos
                .iter()
                .find(|(_, r)| r.id == repo_id)
                .ok_or_else(|| {
                    typed(
                        "NOT_FOUND",
                        format!("Could not resolve to a node with the global id of '{id}'"),
                    )
                })?;
            (
                repo.0.clone(),
                full.trim_start_matches("refs/heads/").to_string(),
            )
        } else {
            let full_name = branch["repositoryNameWithOwner"]
                .as_str()
                .unwrap_or_default();
            let (owner, name) = full_name.split_once('/').unwrap_or((full_name, ""));
            if state.repo(owner, name).is_none() {
                return Err(typed(
                    "NOT_FOUND",
                    format!("Could not resolve to a Repository with the name '{full_name}'."),
                ));
            }
            let branch_name = branch["branchName"].as_str().unwrap_or_default();
            (
                state::key(owner, name),
                branch_name.trim_start_matches("refs/heads/").to_string(),
            )
        };
        let expected = input["expectedHeadOid"]
            .as_str()
            .and_then(git::parse_oid)
            .ok_or_else(|| typed("UNPROCESSABLE", "expectedHeadOid is not a valid object id"))?;
        // Deletions first: they are judged against the parent commit, and an
        // addition may then put a file where a deleted one made room (a
        // directory where a file was, or the reverse).
        let mut writes = Vec::new();
        for deletion in input["fileChanges"]["deletions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let path = deletion["path"].as_str().unwrap_or_default().to_string();
            writes.push(FileWrite {
                path,
                content: None,
                executable: None,
            });
        }
        for addition in input["fileChanges"]["additions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let path = addition["path"].as_str().unwrap_or_default().to_string();
            let content = util::base64_decode(addition["contents"].as_str().unwrap_or_default())
                .ok_or_else(|| {
                    typed(
                        "UNPROCESSABLE",
                        format!("contents of {path} is not valid base64"),
                    )
                })?;
            writes.push(FileWrite {
                path,
                content: Some(content),
                executable: None,
            });
        }
        check_paths(&writes)?;
        let headline = input["message"]["headline"].as_str().unwrap_or_default();
        let message = match input["message"]["body"].as_str() {
            Some(body) if !body.is_empty() => format!("{headline}\n\n{body}"),
            _ => headline.to_string(),
        };
        let author = state::person_of(&ctx.caller.login);
        let oid = state
            .commit(
                &key,
                &state::CommitRequest {
                    branch: &branch_name,
                    expected: Some(expected),
                    writes: &writes,
                    message: &message,
                    author: &author,
                },
                Some(&ctx.caller),
            )
            .map_err(refused)?;
        if let Some(repo) = state.repos.get_mut(&key) {
            repo.signed.insert(oid);
        }
        Ok(ResolvedValue::object(CommitPayload {
            ctx,
            key,
            full: format!("refs/heads/{branch_name}"),
            oid,
            client_mutation_id: client_mutation_id(input),
        }))
    }

    fn update_refs(&self, input: &Value) -> Resolved<'c> {
        let ctx = self.ctx;
        let mut state = lock(&ctx.shared.state);
        let repo_id = input["repositoryId"].as_str().unwrap_or_default();
        let key = state
            .repo_by_node_id(repo_id)
            .map(|r| state::key(&r.owner, &r.name))
            .ok_or_else(|| {
                typed(
                    "NOT_FOUND",
                    format!("Could not resolve to a node with the global id of '{repo_id}'"),
                )
            })?;
        let oid = |v: &Value| -> Result<Option<Oid>, FieldError> {
            let text = v.as_str().unwrap_or_default();
            if text == git::ZERO {
                return Ok(None);
            }
            git::parse_oid(text).map(Some).ok_or_else(|| {
                typed(
                    "UNPROCESSABLE",
                    format!("'{text}' is not a valid object id"),
                )
            })
        };
        let mut updates = Vec::new();
        for update in input["refUpdates"].as_array().into_iter().flatten() {
            let before = match &update["beforeOid"] {
                Value::Null => None,
                v => Some(oid(v)?),
            };
            updates.push(RefUpdate {
                name: update["name"].as_str().unwrap_or_default().to_string(),
                before,
                after: oid(&update["afterOid"])?,
                force: update["force"].as_bool().unwrap_or(false),
            });
        }
        state
            .update_refs(&key, &updates, &ctx.caller)
            .map_err(refused)?;
        Ok(ResolvedValue::object(ClientIdPayload {
            type_name: "UpdateRefsPayload",
            client_mutation_id: client_mutation_id(input),
        }))
    }

    fn enable_auto_merge(&self, input: &Value) -> Resolved<'c> {
        let ctx = self.ctx;
        let mut state = lock(&ctx.shared.state);
        let id = input["pullRequestId"].as_str().unwrap_or_default();
        let method = input["mergeMethod"].as_str().unwrap_or("MERGE");
        let (key, number) = state.enable_auto_merge(id, method).map_err(refused)?;
        let pull = state
            .repos
            .get(&key)
            .and_then(|r| r.pulls.iter().find(|p| p.number == number))
            .cloned()
            .ok_or_else(|| typed("NOT_FOUND", "pull request vanished"))?;
        Ok(ResolvedValue::object(AutoMergePayload {
            pull: PullObj { ctx, key, pull },
            client_mutation_id: client_mutation_id(input),
        }))
    }
}

/// GitHub's validation of `FileChanges` paths: each one well formed (not
/// slash-prefixed, no empty, `.`, `..` or `.git` component) and unique
/// across additions and deletions ("Any duplication will result in a
/// validation error").
fn check_paths(writes: &[FileWrite]) -> Result<(), FieldError> {
    let mut seen = std::collections::BTreeSet::new();
    for write in writes {
        if git::malformed_path(&write.path) {
            return Err(typed(
                "UNPROCESSABLE",
                format!("path contains a malformed path component: `{}`", write.path),
            ));
        }
        if !seen.insert(write.path.as_str()) {
            return Err(typed(
                "UNPROCESSABLE",
                format!(
                    "`path` values must be unique across all additions and deletions: `{}` appears more than once",
                    write.path
                ),
            ));
        }
    }
    Ok(())
}

struct CommitPayload<'c> {
    ctx: &'c Ctx,
    key: String,
    full: String,
    oid: Oid,
    client_mutation_id: Option<String>,
}

impl ObjectValue for CommitPayload<'_> {
    fn type_name(&self) -> &str {
        "CreateCommitOnBranchPayload"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "commit" => Ok(ResolvedValue::nullable_object(CommitObj::load(
                self.ctx, &self.key, self.oid,
            ))),
            "ref" => {
                let tip = self
                    .ctx
                    .git(&self.key)
                    .and_then(|g| git::read_ref(&g, &self.full));
                Ok(ResolvedValue::object(RefObj {
                    ctx: self.ctx,
                    key: self.key.clone(),
                    full: self.full.clone(),
                    oid: tip.unwrap_or(self.oid),
                }))
            }
            "clientMutationId" => Ok(ResolvedValue::leaf(self.client_mutation_id.clone())),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct ClientIdPayload {
    type_name: &'static str,
    client_mutation_id: Option<String>,
}

impl ObjectValue for ClientIdPayload {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "clientMutationId" => Ok(ResolvedValue::leaf(self.client_mutation_id.clone())),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct AutoMergePayload<'c> {
    pull: PullObj<'c>,
    client_mutation_id: Option<String>,
}

impl ObjectValue for AutoMergePayload<'_> {
    fn type_name(&self) -> &str {
        "EnablePullRequestAutoMergePayload"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "pullRequest" => Ok(ResolvedValue::object(PullObj {
                ctx: self.pull.ctx,
                key: self.pull.key.clone(),
                pull: self.pull.pull.clone(),
            })),
            "clientMutationId" => Ok(ResolvedValue::leaf(self.client_mutation_id.clone())),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}
