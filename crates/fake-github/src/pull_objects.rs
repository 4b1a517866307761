//! GraphQL resolvers for pull requests: PullRequest, its connection,
//! labels and auto-merge requests.

use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};

use crate::git;
use crate::graphql::{Ctx, unsupported};
use crate::objects::{UserObj, arg_int, leaf};
use crate::state::PullState;

type Resolved<'a> = Result<ResolvedValue<'a>, FieldError>;

/// The GitHub state name of a pull request.
pub(crate) fn pull_state(p: &PullState) -> &'static str {
    if p.merged {
        "MERGED"
    } else if p.open {
        "OPEN"
    } else {
        "CLOSED"
    }
}

/// A pull request.
pub(crate) struct PullObj<'c> {
    pub ctx: &'c Ctx,
    pub key: String,
    pub pull: PullState,
}

impl ObjectValue for PullObj<'_> {
    fn type_name(&self) -> &str {
        "PullRequest"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        let p = &self.pull;
        match info.field_name() {
            "id" => leaf(p.node_id()),
            "databaseId" | "fullDatabaseId" => leaf(p.id),
            "number" => leaf(p.number),
            "url" | "permalink" => {
                let full = self
                    .ctx
                    .with_repo(&self.key, |r| r.full_name())
                    .unwrap_or_default();
                leaf(format!("https://github.com/{full}/pull/{}", p.number))
            }
            "title" => leaf(p.title.as_str()),
            "body" => leaf(p.body.as_str()),
            "state" => leaf(pull_state(p)),
            "closed" => leaf(!p.open),
            "merged" => leaf(p.merged),
            "createdAt" => leaf(p.created_at.as_str()),
            "updatedAt" => leaf(p.updated_at.as_str()),
            "headRefName" => leaf(p.head.as_str()),
            "baseRefName" => leaf(p.base.as_str()),
            "headRefOid" => {
                let sha = self
                    .ctx
                    .git(&self.key)
                    .map(|g| crate::pulls::head_sha(&g, p));
                leaf(sha.unwrap_or_default())
            }
            "baseRefOid" => {
                let tip = self
                    .ctx
                    .git(&self.key)
                    .and_then(|g| git::read_ref(&g, &format!("refs/heads/{}", p.base)));
                leaf(tip.map(|t| t.to_string()).unwrap_or_default())
            }
            "isDraft" => leaf(p.draft),
            "author" => Ok(ResolvedValue::object(UserObj(p.author.clone()))),
            "labels" => {
                let mut names = p.labels.clone();
                let total = names.len();
                if let Some(first) = arg_int(info, "first") {
                    names.truncate(first);
                }
                Ok(ResolvedValue::object(LabelConn { names, total }))
            }
            "autoMergeRequest" => Ok(ResolvedValue::nullable_object(
                p.auto_merge.clone().map(AutoMergeObj),
            )),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

pub(crate) struct PullConn<'c> {
    pub items: Vec<PullObj<'c>>,
    pub total: usize,
}

impl ObjectValue for PullConn<'_> {
    fn type_name(&self) -> &str {
        "PullRequestConnection"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "totalCount" => leaf(self.total),
            "nodes" => Ok(ResolvedValue::list(self.items.iter().map(|p| {
                ResolvedValue::object(PullObj {
                    ctx: p.ctx,
                    key: p.key.clone(),
                    pull: p.pull.clone(),
                })
            }))),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct LabelConn {
    names: Vec<String>,
    total: usize,
}

impl ObjectValue for LabelConn {
    fn type_name(&self) -> &str {
        "LabelConnection"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "totalCount" => leaf(self.total),
            "nodes" => Ok(ResolvedValue::list(
                self.names
                    .iter()
                    .map(|n| ResolvedValue::object(LabelObj(n.clone()))),
            )),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct LabelObj(String);

impl ObjectValue for LabelObj {
    fn type_name(&self) -> &str {
        "Label"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "name" => leaf(self.0.as_str()),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct AutoMergeObj(String);

impl ObjectValue for AutoMergeObj {
    fn type_name(&self) -> &str {
        "AutoMergeRequest"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "enabledAt" => leaf(self.0.as_str()),
            "mergeMethod" => leaf("SQUASH"),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}
