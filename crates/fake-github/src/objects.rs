//! GraphQL object resolvers for reads: Query, RateLimit, User, Repository
//! and Ref (git objects are in `git_objects`, pull requests in
//! `pull_objects`). Each Rust struct is one schema object type;
//! unsupported fields answer an error naming the field.

use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::JsonValue;

use crate::git;
use crate::git_objects::{RefObj, git_object};
use crate::graphql::{Ctx, typed, unsupported};
use crate::limits::RateInfo;
use crate::pull_objects::{PullConn, PullObj, pull_state};
use crate::state::PullState;
use crate::util;

type Resolved<'a> = Result<ResolvedValue<'a>, FieldError>;

/// A string argument.
pub(crate) fn arg_str<'a>(info: &'a ResolveInfo<'a>, name: &str) -> Option<&'a str> {
    info.arguments().get(name).and_then(JsonValue::as_str)
}

pub(crate) fn arg_int(info: &ResolveInfo<'_>, name: &str) -> Option<usize> {
    info.arguments()
        .get(name)
        .and_then(JsonValue::as_i64)
        .map(|n| n.max(0) as usize)
}

/// Keeps what the `first` and then `last` arguments of a connection select.
pub(crate) fn first_last<T>(info: &ResolveInfo<'_>, mut items: Vec<T>) -> Vec<T> {
    if let Some(first) = arg_int(info, "first") {
        items.truncate(first);
    }
    if let Some(last) = arg_int(info, "last") {
        let skip = items.len().saturating_sub(last);
        items.drain(..skip);
    }
    items
}

pub(crate) fn leaf<'a>(v: impl Into<JsonValue>) -> Resolved<'a> {
    Ok(ResolvedValue::leaf(v))
}

/// The root query object.
pub(crate) struct QueryRoot<'c> {
    pub ctx: &'c Ctx,
    pub rate: RateInfo,
}

impl ObjectValue for QueryRoot<'_> {
    fn type_name(&self) -> &str {
        "Query"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "rateLimit" => Ok(ResolvedValue::object(RateLimitObj(self.rate))),
            "repository" => {
                let owner = arg_str(info, "owner").unwrap_or_default();
                let name = arg_str(info, "name").unwrap_or_default();
                match RepoObj::find(self.ctx, owner, name) {
                    Some(repo) => Ok(ResolvedValue::object(repo)),
                    None => Err(typed(
                        "NOT_FOUND",
                        format!(
                            "Could not resolve to a Repository with the name '{owner}/{name}'."
                        ),
                    )),
                }
            }
            "viewer" => Ok(ResolvedValue::object(UserObj(
                self.ctx.caller.login.clone(),
            ))),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct RateLimitObj(RateInfo);

impl ObjectValue for RateLimitObj {
    fn type_name(&self) -> &str {
        "RateLimit"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        let r = &self.0;
        match info.field_name() {
            "cost" | "nodeCount" => leaf(1),
            "limit" => leaf(r.limit),
            "remaining" => leaf(r.remaining),
            "used" => leaf(r.used),
            "resetAt" => leaf(util::rfc3339(r.reset)),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

/// A user (the `Actor` of pull requests, `viewer`, repository owners).
pub(crate) struct UserObj(pub String);

impl ObjectValue for UserObj {
    fn type_name(&self) -> &str {
        "User"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "login" | "name" => leaf(self.0.as_str()),
            "url" => leaf(format!("https://github.com/{}", self.0)),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

/// A repository.
pub(crate) struct RepoObj<'c> {
    pub ctx: &'c Ctx,
    pub key: String,
}

impl<'c> RepoObj<'c> {
    pub(crate) fn find(ctx: &'c Ctx, owner: &str, name: &str) -> Option<RepoObj<'c>> {
        let key = crate::state::key(owner, name);
        ctx.with_repo(&key, |_| ())?;
        Some(RepoObj { ctx, key })
    }

    fn branch_ref(&self, short_or_full: &str) -> Option<RefObj<'c>> {
        let full = if short_or_full.starts_with("refs/") {
            short_or_full.to_string()
        } else {
            format!("refs/heads/{short_or_full}")
        };
        let git = self.ctx.git(&self.key)?;
        let oid = git::read_ref(&git, &full)?;
        Some(RefObj {
            ctx: self.ctx,
            key: self.key.clone(),
            full,
            oid,
        })
    }

    /// Resolves `rev[:path]` to a git object.
    fn expression(&self, expr: &str) -> Option<ResolvedValue<'c>> {
        let (rev, path) = match expr.split_once(':') {
            Some((rev, path)) => (rev, Some(path)),
            None => (expr, None),
        };
        let git = self.ctx.git(&self.key)?;
        let commit = if rev == "HEAD" {
            let default = self
                .ctx
                .with_repo(&self.key, |r| r.default_branch.clone())?;
            git::read_ref(&git, &format!("refs/heads/{default}"))?
        } else if let Some(oid) = git::parse_oid(rev) {
            oid
        } else if rev.starts_with("refs/") {
            git::read_ref(&git, rev)?
        } else {
            git::read_ref(&git, &format!("refs/heads/{rev}"))
                .or_else(|| git::read_ref(&git, &format!("refs/tags/{rev}")))?
        };
        match path {
            None => git_object(self.ctx, &self.key, commit),
            Some(path) => {
                let tree = git::commit(&git, commit)?.tree;
                if path.is_empty() {
                    return git_object(self.ctx, &self.key, tree);
                }
                let entry = git::lookup(&git, tree, path)?;
                git_object(self.ctx, &self.key, entry.oid)
            }
        }
    }

    fn pull_requests(&self, info: &ResolveInfo<'_>) -> Option<PullConn<'c>> {
        let args = serde_json::to_value(info.arguments()).ok()?;
        let states: Vec<String> = args["states"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let head = args["headRefName"].as_str();
        let base = args["baseRefName"].as_str();
        let mut pulls: Vec<PullState> = self.ctx.with_repo(&self.key, |r| {
            r.pulls
                .iter()
                .filter(|p| head.is_none_or(|h| p.head == h))
                .filter(|p| base.is_none_or(|b| p.base == b))
                .filter(|p| states.is_empty() || states.iter().any(|s| s == pull_state(p)))
                .cloned()
                .collect()
        })?;
        pulls.sort_by_key(|p| p.number);
        if args["orderBy"]["direction"].as_str() == Some("DESC") {
            pulls.reverse();
        }
        let total = pulls.len();
        if let Some(first) = arg_int(info, "first") {
            pulls.truncate(first);
        }
        if let Some(last) = arg_int(info, "last") {
            let skip = pulls.len().saturating_sub(last);
            pulls.drain(..skip);
        }
        let items = pulls
            .into_iter()
            .map(|pull| PullObj {
                ctx: self.ctx,
                key: self.key.clone(),
                pull,
            })
            .collect();
        Some(PullConn { items, total })
    }
}

impl ObjectValue for RepoObj<'_> {
    fn type_name(&self) -> &str {
        "Repository"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        let meta = |f: &dyn Fn(&crate::state::Repo) -> JsonValue| {
            self.ctx
                .with_repo(&self.key, |r| f(r))
                .unwrap_or(JsonValue::Null)
        };
        match info.field_name() {
            "id" => Ok(ResolvedValue::Leaf(meta(&|r| r.node_id().into()))),
            "databaseId" => Ok(ResolvedValue::Leaf(meta(&|r| r.id.into()))),
            "name" => Ok(ResolvedValue::Leaf(meta(&|r| r.name.clone().into()))),
            "nameWithOwner" => Ok(ResolvedValue::Leaf(meta(&|r| r.full_name().into()))),
            "isArchived" => Ok(ResolvedValue::Leaf(meta(&|r| r.archived.into()))),
            "autoMergeAllowed" => Ok(ResolvedValue::Leaf(meta(&|r| r.allow_auto_merge.into()))),
            "url" => Ok(ResolvedValue::Leaf(meta(&|r| {
                format!("https://github.com/{}", r.full_name()).into()
            }))),
            "owner" => {
                let owner = self
                    .ctx
                    .with_repo(&self.key, |r| r.owner.clone())
                    .unwrap_or_default();
                Ok(ResolvedValue::object(UserObj(owner)))
            }
            "defaultBranchRef" => {
                let default = self.ctx.with_repo(&self.key, |r| r.default_branch.clone());
                Ok(ResolvedValue::nullable_object(
                    default.and_then(|d| self.branch_ref(&d)),
                ))
            }
            "ref" => {
                let name = arg_str(info, "qualifiedName").unwrap_or_default();
                Ok(ResolvedValue::nullable_object(self.branch_ref(name)))
            }
            "object" => {
                let found = if let Some(oid) = arg_str(info, "oid") {
                    git::parse_oid(oid).and_then(|o| git_object(self.ctx, &self.key, o))
                } else {
                    arg_str(info, "expression").and_then(|e| self.expression(e))
                };
                Ok(found.unwrap_or(ResolvedValue::null()))
            }
            "pullRequests" => Ok(ResolvedValue::nullable_object(self.pull_requests(info))),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}
