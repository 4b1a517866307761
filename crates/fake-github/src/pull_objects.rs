//! GraphQL resolvers for pull requests: PullRequest, its connection,
//! labels, commits, comments and auto-merge requests.

use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};

use crate::git::{self, Oid};
use crate::git_objects::{CommitObj, RefObj, StatusCheckRollupObj};
use crate::graphql::{Ctx, unsupported};
use crate::objects::{UserObj, arg_int, first_last, leaf};
use crate::state::{Comment, PullState};

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

impl<'c> PullObj<'c> {
    /// The commit its head points to (the last known tip once closed).
    fn head_oid(&self) -> Option<Oid> {
        let git = self.ctx.git(&self.key)?;
        git::parse_oid(&crate::pulls::head_sha(&git, &self.pull))
    }

    /// Its head branch, while that exists.
    fn head_ref(&self) -> Option<RefObj<'c>> {
        let full = format!("refs/heads/{}", self.pull.head);
        let git = self.ctx.git(&self.key)?;
        let oid = git::read_ref(&git, &full)?;
        Some(RefObj {
            ctx: self.ctx,
            key: self.key.clone(),
            full,
            oid,
        })
    }

    /// Its commits, oldest first: those of the head not reachable from
    /// the base branch.
    fn commits(&self) -> Vec<Oid> {
        let (Some(git), Some(head)) = (self.ctx.git(&self.key), self.head_oid()) else {
            return Vec::new();
        };
        let base: std::collections::HashSet<Oid> =
            git::read_ref(&git, &format!("refs/heads/{}", self.pull.base))
                .map(|tip| git::ancestors(&git, tip).into_iter().collect())
                .unwrap_or_default();
        let mut own: Vec<Oid> = git::ancestors(&git, head)
            .into_iter()
            .filter(|c| !base.contains(c))
            .collect();
        own.reverse();
        own
    }

    fn url(&self) -> String {
        let full = self
            .ctx
            .with_repo(&self.key, |r| r.full_name())
            .unwrap_or_default();
        format!("https://github.com/{full}/pull/{}", self.pull.number)
    }
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
            "url" | "permalink" => leaf(self.url()),
            "resourcePath" => leaf(
                self.url()
                    .trim_start_matches("https://github.com")
                    .to_string(),
            ),
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
            "headRef" => Ok(ResolvedValue::nullable_object(self.head_ref())),
            "statusCheckRollup" => Ok(ResolvedValue::nullable_object(
                self.head_oid()
                    .and_then(|oid| StatusCheckRollupObj::find(self.ctx, &self.key, oid)),
            )),
            "commits" => {
                let oids = self.commits();
                let total = oids.len();
                Ok(ResolvedValue::object(PullCommitConn {
                    ctx: self.ctx,
                    key: self.key.clone(),
                    url: self.url(),
                    oids: first_last(info, oids),
                    total,
                }))
            }
            "comments" => {
                let total = p.comments.len();
                Ok(ResolvedValue::object(CommentConn {
                    url: self.url(),
                    comments: first_last(info, p.comments.clone()),
                    total,
                }))
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

/// `PullRequest.commits`.
struct PullCommitConn<'c> {
    ctx: &'c Ctx,
    key: String,
    /// The pull request's URL.
    url: String,
    oids: Vec<Oid>,
    total: usize,
}

impl ObjectValue for PullCommitConn<'_> {
    fn type_name(&self) -> &str {
        "PullRequestCommitConnection"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "totalCount" => leaf(self.total),
            "nodes" => Ok(ResolvedValue::list(self.oids.iter().map(|oid| {
                ResolvedValue::nullable_object(CommitObj::load(self.ctx, &self.key, *oid).map(
                    |commit| PullCommitObj {
                        url: format!("{}/commits/{oid}", self.url),
                        commit,
                    },
                ))
            }))),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

/// One commit of a pull request.
struct PullCommitObj<'c> {
    url: String,
    commit: CommitObj<'c>,
}

impl ObjectValue for PullCommitObj<'_> {
    fn type_name(&self) -> &str {
        "PullRequestCommit"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "commit" => Ok(ResolvedValue::object(self.commit.clone())),
            "id" => leaf(format!("PURC_kwDO{}", self.commit.oid())),
            "url" => leaf(self.url.as_str()),
            "resourcePath" => leaf(self.url.trim_start_matches("https://github.com")),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

/// `PullRequest.comments` (issue comments, oldest first).
struct CommentConn {
    /// The pull request's URL.
    url: String,
    comments: Vec<Comment>,
    total: usize,
}

impl ObjectValue for CommentConn {
    fn type_name(&self) -> &str {
        "IssueCommentConnection"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "totalCount" => leaf(self.total),
            "nodes" => Ok(ResolvedValue::list(self.comments.iter().map(|c| {
                ResolvedValue::object(CommentObj {
                    url: format!("{}#issuecomment-{}", self.url, c.id),
                    comment: c.clone(),
                })
            }))),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct CommentObj {
    url: String,
    comment: Comment,
}

impl ObjectValue for CommentObj {
    fn type_name(&self) -> &str {
        "IssueComment"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        let c = &self.comment;
        match info.field_name() {
            "id" => leaf(format!("IC_kwDO{}", c.id)),
            "databaseId" | "fullDatabaseId" => leaf(c.id),
            "body" | "bodyText" => leaf(c.body.as_str()),
            "author" => Ok(ResolvedValue::object(UserObj(c.author.clone()))),
            "createdAt" | "updatedAt" | "publishedAt" => leaf(c.created_at.as_str()),
            "url" => leaf(self.url.as_str()),
            "isMinimized" => leaf(false),
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
