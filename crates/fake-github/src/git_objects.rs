//! GraphQL resolvers for git data: Ref, Commit, Tree, TreeEntry, Blob,
//! GitActor and commit connections, read from the repo's bare git storage.

use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};

use crate::git::{self, CommitInfo, Entry, Oid};
use crate::graphql::{Ctx, unsupported};
use crate::objects::{RepoObj, arg_int, arg_str, leaf};
use crate::util;

type Resolved<'a> = Result<ResolvedValue<'a>, FieldError>;

/// The commit, tree or blob `oid` as a GraphQL object.
pub(crate) fn git_object<'c>(ctx: &'c Ctx, key: &str, oid: Oid) -> Option<ResolvedValue<'c>> {
    let git = ctx.git(key)?;
    let (kind, data) = git::object(&git, oid)?;
    let key = key.to_string();
    Some(match kind {
        gix::objs::Kind::Commit => ResolvedValue::object(CommitObj::load(ctx, &key, oid)?),
        gix::objs::Kind::Tree => ResolvedValue::object(TreeObj { ctx, key, oid }),
        gix::objs::Kind::Blob => ResolvedValue::object(BlobObj { oid, data }),
        gix::objs::Kind::Tag => return None,
    })
}

/// A branch ref.
pub(crate) struct RefObj<'c> {
    pub ctx: &'c Ctx,
    pub key: String,
    pub full: String,
    pub oid: Oid,
}

impl ObjectValue for RefObj<'_> {
    fn type_name(&self) -> &str {
        "Ref"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        let (prefix, name) = match self.full.strip_prefix("refs/heads/") {
            Some(name) => ("refs/heads/", name),
            None => match self.full.strip_prefix("refs/tags/") {
                Some(name) => ("refs/tags/", name),
                None => ("refs/", self.full.trim_start_matches("refs/")),
            },
        };
        match info.field_name() {
            "id" => {
                let repo_id = self.ctx.with_repo(&self.key, |r| r.id).unwrap_or_default();
                leaf(crate::shapes::ref_node_id(repo_id, &self.full))
            }
            "name" => leaf(name),
            "prefix" => leaf(prefix),
            "target" => Ok(ResolvedValue::nullable_object(CommitObj::load(
                self.ctx, &self.key, self.oid,
            ))),
            "repository" => Ok(ResolvedValue::object(RepoObj {
                ctx: self.ctx,
                key: self.key.clone(),
            })),
            "compare" => Ok(ResolvedValue::nullable_object(self.compare(info))),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

impl RefObj<'_> {
    /// `compare(headRef:)`: this ref as the base, the branch `headRef` as
    /// the head; `null` when that branch does not exist.
    fn compare(&self, info: &ResolveInfo<'_>) -> Option<ComparisonObj> {
        let head_name = arg_str(info, "headRef")?;
        let full = if head_name.starts_with("refs/") {
            head_name.to_string()
        } else {
            format!("refs/heads/{head_name}")
        };
        let git = self.ctx.git(&self.key)?;
        let head = git::read_ref(&git, &full)?;
        let on_base: std::collections::HashSet<Oid> =
            git::ancestors(&git, self.oid).into_iter().collect();
        let on_head: std::collections::HashSet<Oid> =
            git::ancestors(&git, head).into_iter().collect();
        Some(ComparisonObj {
            ahead: on_head.difference(&on_base).count(),
            behind: on_base.difference(&on_head).count(),
        })
    }
}

/// A `Comparison` of two refs (counts only).
pub(crate) struct ComparisonObj {
    ahead: usize,
    behind: usize,
}

impl ObjectValue for ComparisonObj {
    fn type_name(&self) -> &str {
        "Comparison"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "aheadBy" => leaf(self.ahead),
            "behindBy" => leaf(self.behind),
            "status" => leaf(match (self.ahead, self.behind) {
                (0, 0) => "IDENTICAL",
                (_, 0) => "AHEAD",
                (0, _) => "BEHIND",
                _ => "DIVERGED",
            }),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

/// A commit.
#[derive(Clone)]
pub(crate) struct CommitObj<'c> {
    ctx: &'c Ctx,
    key: String,
    oid: Oid,
    info: CommitInfo,
}

impl<'c> CommitObj<'c> {
    pub(crate) fn oid(&self) -> Oid {
        self.oid
    }

    pub(crate) fn load(ctx: &'c Ctx, key: &str, oid: Oid) -> Option<CommitObj<'c>> {
        let git = ctx.git(key)?;
        let info = git::commit(&git, oid)?;
        Some(CommitObj {
            ctx,
            key: key.to_string(),
            oid,
            info,
        })
    }
}

impl ObjectValue for CommitObj<'_> {
    fn type_name(&self) -> &str {
        "Commit"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        let message = self.info.message.trim_end_matches('\n');
        let (headline, body) = message.split_once('\n').unwrap_or((message, ""));
        match info.field_name() {
            "oid" => leaf(self.oid.to_string()),
            "abbreviatedOid" => leaf(self.oid.to_string()[..7].to_string()),
            "id" => leaf(format!("C_kwDO{}", self.oid)),
            "message" => leaf(message),
            "messageHeadline" => leaf(headline),
            "messageBody" => leaf(body.trim_start_matches('\n')),
            "committedDate" => leaf(util::rfc3339(self.info.commit_time)),
            "authoredDate" => leaf(util::rfc3339(self.info.author_time)),
            "url" => {
                let full = self
                    .ctx
                    .with_repo(&self.key, |r| r.full_name())
                    .unwrap_or_default();
                leaf(format!("https://github.com/{full}/commit/{}", self.oid))
            }
            "author" => Ok(ResolvedValue::object(GitActorObj(
                self.info.author.clone(),
                self.info.author_time,
            ))),
            "committer" => Ok(ResolvedValue::object(GitActorObj(
                self.info.committer.clone(),
                self.info.commit_time,
            ))),
            "tree" => Ok(ResolvedValue::object(TreeObj {
                ctx: self.ctx,
                key: self.key.clone(),
                oid: self.info.tree,
            })),
            "parents" => {
                let mut oids = self.info.parents.clone();
                let total = oids.len();
                if let Some(first) = arg_int(info, "first") {
                    oids.truncate(first);
                }
                Ok(ResolvedValue::object(CommitConn {
                    ctx: self.ctx,
                    key: self.key.clone(),
                    oids,
                    total,
                }))
            }
            "changedFilesIfAvailable" | "changedFiles" => {
                let count = self.ctx.git(&self.key).map(|git| {
                    let parent_tree = self
                        .info
                        .parents
                        .first()
                        .and_then(|p| git::commit(&git, *p))
                        .map(|c| c.tree);
                    git::changed_paths(&git, parent_tree, self.info.tree).len()
                });
                leaf(count.unwrap_or_default())
            }
            "statusCheckRollup" => Ok(ResolvedValue::nullable_object(StatusCheckRollupObj::find(
                self.ctx, &self.key, self.oid,
            ))),
            "file" => {
                let path = arg_str(info, "path").unwrap_or_default().trim_matches('/');
                let git = self.ctx.git(&self.key);
                let entry = git.and_then(|g| git::lookup(&g, self.info.tree, path));
                Ok(ResolvedValue::nullable_object(entry.map(|entry| {
                    TreeEntryObj {
                        ctx: self.ctx,
                        key: self.key.clone(),
                        path: path.to_string(),
                        entry,
                    }
                })))
            }
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

/// The combined check state of a commit (set by the test handle's
/// `set_check_state`); commits without one have no rollup.
pub(crate) struct StatusCheckRollupObj<'c> {
    ctx: &'c Ctx,
    key: String,
    oid: Oid,
    state: String,
}

impl<'c> StatusCheckRollupObj<'c> {
    /// The rollup of commit `oid`, if a check state was set for it.
    pub(crate) fn find(ctx: &'c Ctx, key: &str, oid: Oid) -> Option<StatusCheckRollupObj<'c>> {
        let state = ctx
            .with_repo(key, |r| r.check_state(&oid.to_string()).map(str::to_string))
            .flatten()?;
        Some(StatusCheckRollupObj {
            ctx,
            key: key.to_string(),
            oid,
            state,
        })
    }
}

impl ObjectValue for StatusCheckRollupObj<'_> {
    fn type_name(&self) -> &str {
        "StatusCheckRollup"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "state" => leaf(self.state.as_str()),
            "id" => leaf(format!("SC_kwDO{}", self.oid)),
            "commit" => Ok(ResolvedValue::nullable_object(CommitObj::load(
                self.ctx, &self.key, self.oid,
            ))),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct GitActorObj(git::Person, i64);

impl ObjectValue for GitActorObj {
    fn type_name(&self) -> &str {
        "GitActor"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "name" => leaf(self.0.name.as_str()),
            "email" => leaf(self.0.email.as_str()),
            "date" => leaf(util::rfc3339(self.1)),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct CommitConn<'c> {
    ctx: &'c Ctx,
    key: String,
    oids: Vec<Oid>,
    total: usize,
}

impl ObjectValue for CommitConn<'_> {
    fn type_name(&self) -> &str {
        "CommitConnection"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "totalCount" => leaf(self.total),
            "nodes" => Ok(ResolvedValue::list(self.oids.iter().map(|oid| {
                ResolvedValue::nullable_object(CommitObj::load(self.ctx, &self.key, *oid))
            }))),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct TreeObj<'c> {
    ctx: &'c Ctx,
    key: String,
    oid: Oid,
}

impl ObjectValue for TreeObj<'_> {
    fn type_name(&self) -> &str {
        "Tree"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "oid" => leaf(self.oid.to_string()),
            "id" => leaf(format!("T_kwDO{}", self.oid)),
            "entries" => {
                let entries = self
                    .ctx
                    .git(&self.key)
                    .map(|g| git::tree_entries(&g, self.oid))
                    .unwrap_or_default();
                Ok(ResolvedValue::list(entries.into_iter().map(|entry| {
                    ResolvedValue::object(TreeEntryObj {
                        ctx: self.ctx,
                        key: self.key.clone(),
                        path: entry.name.clone(),
                        entry,
                    })
                })))
            }
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct TreeEntryObj<'c> {
    ctx: &'c Ctx,
    key: String,
    path: String,
    entry: Entry,
}

impl ObjectValue for TreeEntryObj<'_> {
    fn type_name(&self) -> &str {
        "TreeEntry"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        match info.field_name() {
            "name" => leaf(self.entry.name.as_str()),
            "path" => leaf(self.path.as_str()),
            "oid" => leaf(self.entry.oid.to_string()),
            "mode" => leaf(git::mode_bits(self.entry.kind)),
            "type" => leaf(git::type_name(self.entry.kind)),
            "isGenerated" => leaf(false),
            "size" => {
                let size = self
                    .ctx
                    .git(&self.key)
                    .and_then(|g| git::object(&g, self.entry.oid))
                    .map(|(_, d)| d.len());
                leaf(size.unwrap_or(0))
            }
            "object" => Ok(
                git_object(self.ctx, &self.key, self.entry.oid).unwrap_or(ResolvedValue::null())
            ),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}

struct BlobObj {
    oid: Oid,
    data: Vec<u8>,
}

impl ObjectValue for BlobObj {
    fn type_name(&self) -> &str {
        "Blob"
    }

    fn resolve_field<'a>(&'a self, info: &'a ResolveInfo<'a>) -> Resolved<'a> {
        let text = std::str::from_utf8(&self.data)
            .ok()
            .filter(|t| !t.contains('\0'));
        match info.field_name() {
            "oid" => leaf(self.oid.to_string()),
            "abbreviatedOid" => leaf(self.oid.to_string()[..7].to_string()),
            "id" => leaf(format!("B_kwDO{}", self.oid)),
            "text" => leaf(text.map(str::to_string)),
            "isBinary" => leaf(text.is_none()),
            "byteSize" => leaf(self.data.len()),
            "isTruncated" => leaf(false),
            _ => Err(unsupported(info, self.type_name())),
        }
    }
}
