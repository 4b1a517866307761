//! Pull-request operations on the state: open (with GitHub's validation),
//! edit, label, request reviewers, comment, enable auto-merge, close and
//! the human squash-merge of the test handle.

use serde_json::{Value, json};

use crate::Pull;
use crate::git::{self, Oid};
use crate::shapes::{RestError, validation};
use crate::state::{Comment, CommitRequest, FileWrite, PullState, Refusal, Repo, State, human};
use crate::util;

/// The public snapshot of a pull request.
pub(crate) fn snapshot(p: &PullState) -> Pull {
    Pull {
        number: p.number,
        state: if p.open { "open" } else { "closed" }.into(),
        merged: p.merged,
        head: p.head.clone(),
        base: p.base.clone(),
        title: p.title.clone(),
        body: p.body.clone(),
        draft: p.draft,
        labels: p.labels.clone(),
        reviewers: p.reviewers.clone(),
        team_reviewers: p.team_reviewers.clone(),
        auto_merge: p.auto_merge.is_some(),
        comments: p.comments.iter().map(|c| c.body.clone()).collect(),
        created_at: p.created_at.clone(),
        author: p.author.clone(),
    }
}

/// Opens or closes `pull` (by a human or the API).
pub(crate) fn set_open(pull: &mut PullState, open: bool) {
    let now = util::now_rfc3339();
    pull.open = open;
    pull.closed_at = if open { None } else { Some(now.clone()) };
    pull.updated_at = now;
}

/// The current head tip of `pull` (its last known tip once closed).
pub(crate) fn head_sha(git: &gix::Repository, pull: &PullState) -> String {
    if pull.open
        && let Some(tip) = git::read_ref(git, &format!("refs/heads/{}", pull.head))
    {
        return tip.to_string();
    }
    pull.head_sha.clone()
}

/// What `POST /pulls` asks for.
pub(crate) struct NewPull {
    pub title: String,
    pub head: String,
    pub base: String,
    pub body: String,
    pub draft: bool,
}

impl State {
    /// Opens a pull request; GitHub's 422s for a missing head, a duplicate
    /// and an empty diff.
    pub(crate) fn open_pull(
        &mut self,
        repo_key: &str,
        author: &str,
        new: NewPull,
    ) -> Result<u64, RestError> {
        let id = self.fresh_id();
        let repo = self
            .repos
            .get_mut(repo_key)
            .ok_or_else(crate::shapes::not_found)?;
        if repo.archived {
            return Err(crate::shapes::archived());
        }
        let git = repo.git();
        let head_name = new
            .head
            .split_once(':')
            .map(|(_, b)| b.to_string())
            .unwrap_or(new.head.clone());
        let head_tip = git::read_ref(&git, &format!("refs/heads/{head_name}"));
        let base_tip = git::read_ref(&git, &format!("refs/heads/{}", new.base));
        let Some(head_tip) = head_tip else {
            return Err(validation(
                json!([{"resource": "PullRequest", "field": "head", "code": "invalid"}]),
            ));
        };
        let Some(base_tip) = base_tip else {
            return Err(validation(
                json!([{"resource": "PullRequest", "field": "base", "code": "invalid"}]),
            ));
        };
        if repo
            .pulls
            .iter()
            .any(|p| p.open && p.head == head_name && p.base == new.base)
        {
            let message = format!(
                "A pull request already exists for {}:{head_name}.",
                repo.owner
            );
            return Err(validation(
                json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
            ));
        }
        if git::is_ancestor(&git, head_tip, base_tip) {
            let message = format!("No commits between {} and {head_name}", new.base);
            return Err(validation(
                json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
            ));
        }
        let number = repo.pulls.iter().map(|p| p.number).max().unwrap_or(0) + 1;
        let now = util::now_rfc3339();
        repo.pulls.push(PullState {
            number,
            id,
            open: true,
            merged: false,
            head: head_name,
            base: new.base,
            head_sha: head_tip.to_string(),
            title: new.title,
            body: new.body,
            draft: new.draft,
            labels: Vec::new(),
            reviewers: Vec::new(),
            team_reviewers: Vec::new(),
            auto_merge: None,
            comments: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            closed_at: None,
            author: author.to_string(),
        });
        Ok(number)
    }

    /// Adds labels (creating missing ones with color "ededed").
    pub(crate) fn add_labels(
        &mut self,
        repo_key: &str,
        number: u64,
        names: &[String],
    ) -> Result<(), RestError> {
        let mut ids = Vec::new();
        for _ in names {
            ids.push(self.fresh_id());
        }
        let repo = self
            .repos
            .get_mut(repo_key)
            .ok_or_else(crate::shapes::not_found)?;
        if repo.pull_mut(number).is_none() {
            return Err(crate::shapes::not_found());
        }
        for (name, id) in names.iter().zip(ids) {
            repo.labels
                .entry(name.to_lowercase())
                .or_insert_with(|| crate::state::Label {
                    id,
                    name: name.clone(),
                    color: "ededed".into(),
                });
        }
        let pull = repo.pull_mut(number).ok_or_else(crate::shapes::not_found)?;
        for name in names {
            if !pull.labels.iter().any(|l| l.eq_ignore_ascii_case(name)) {
                pull.labels.push(name.clone());
            }
        }
        pull.updated_at = util::now_rfc3339();
        Ok(())
    }

    /// Adds a comment by `author`; returns it.
    pub(crate) fn add_comment(
        &mut self,
        repo_key: &str,
        number: u64,
        author: &str,
        body: String,
    ) -> Result<Comment, RestError> {
        let id = self.fresh_id();
        let repo = self
            .repos
            .get_mut(repo_key)
            .ok_or_else(crate::shapes::not_found)?;
        let pull = repo.pull_mut(number).ok_or_else(crate::shapes::not_found)?;
        let now = util::now_rfc3339();
        let comment = Comment {
            id,
            author: author.to_string(),
            body,
            created_at: now.clone(),
        };
        pull.comments.push(comment.clone());
        pull.updated_at = now;
        Ok(comment)
    }

    /// Enables auto-merge on the pull request with node id `node_id`;
    /// returns its repo key and number.
    pub(crate) fn enable_auto_merge(
        &mut self,
        node_id: &str,
        method: &str,
    ) -> Result<(String, u64), Refusal> {
        let found = self.repos.iter_mut().find_map(|(key, repo)| {
            let allowed = repo.allow_auto_merge;
            repo.pulls
                .iter_mut()
                .find(|p| p.node_id() == node_id)
                .map(|p| (key.clone(), allowed, p))
        });
        let Some((key, allowed, pull)) = found else {
            return Err(Refusal::NotFound(format!(
                "Could not resolve to a node with the global id of '{node_id}'"
            )));
        };
        if !allowed {
            return Err(Refusal::Unprocessable(
                "Pull request Auto merge is not allowed for this repository".into(),
            ));
        }
        if !pull.open {
            return Err(Refusal::Unprocessable(
                "Pull request is not in the correct state to enable auto-merge".into(),
            ));
        }
        if pull.auto_merge.is_none() {
            pull.auto_merge = Some(util::now_rfc3339());
        }
        let _ = method;
        Ok((key, pull.number))
    }

    /// A human squash-merge: the head's changes against its first parent,
    /// applied on the base tip as one commit; closes the pull request as
    /// merged and deletes the head branch.
    pub(crate) fn merge_pull(&mut self, repo_key: &str, number: u64) -> Result<Oid, String> {
        let repo = self.repos.get(repo_key).ok_or("no such repo")?;
        let pull = repo
            .pulls
            .iter()
            .find(|p| p.number == number)
            .ok_or("no such pull")?;
        if !pull.open {
            return Err("pull request is closed".into());
        }
        let git = repo.git();
        let head = git::read_ref(&git, &format!("refs/heads/{}", pull.head))
            .ok_or("head branch is gone")?;
        let head_commit = git::commit(&git, head).ok_or("head is not a commit")?;
        let parent_tree = head_commit
            .parents
            .first()
            .and_then(|p| git::commit(&git, *p))
            .map(|c| c.tree);
        let new = git::flatten(&git, head_commit.tree);
        let mut writes = Vec::new();
        for path in git::changed_paths(&git, parent_tree, head_commit.tree) {
            let content = match new.get(&path) {
                Some((_, oid)) => Some(git::object(&git, *oid).ok_or("blob missing")?.1),
                None => None,
            };
            let executable = new
                .get(&path)
                .map(|(k, _)| *k == gix::objs::tree::EntryKind::BlobExecutable);
            writes.push(FileWrite {
                path,
                content,
                executable,
            });
        }
        let (base, head_branch, title) = (pull.base.clone(), pull.head.clone(), pull.title.clone());
        let message = format!("{title} (#{number})");
        let id = self
            .commit(
                repo_key,
                &CommitRequest {
                    branch: &base,
                    expected: None,
                    writes: &writes,
                    message: &message,
                    author: &human(),
                },
                None,
            )
            .map_err(|e| format!("{e:?}"))?;
        git::update_refs(
            &git,
            &[git::RefChange {
                name: format!("refs/heads/{head_branch}"),
                expected: Some(head),
                new: None,
            }],
        )?;
        let repo = self.repos.get_mut(repo_key).ok_or("no such repo")?;
        let pull = repo.pull_mut(number).ok_or("no such pull")?;
        pull.merged = true;
        pull.head_sha = head.to_string();
        set_open(pull, false);
        self.branch_deleted(repo_key, &head_branch, Some(head));
        self.refresh_pulls(repo_key);
        Ok(id)
    }

    /// GitHub's rule after every push to `repo_key`: an open pull request
    /// whose head is now a commit its base contains (the base tip or an
    /// ancestor of it: no commits left to merge) is closed, and remembers
    /// that head (see [`may_reopen`]). Every write re-evaluates this, so
    /// two ref moves in one request are two pushes, as on GitHub.
    pub(crate) fn refresh_pulls(&mut self, repo_key: &str) {
        let close = self.close_empty_pulls;
        let Some(repo) = self.repos.get_mut(repo_key) else {
            return;
        };
        let git = repo.git();
        for pull in repo.pulls.iter_mut().filter(|p| p.open) {
            let tip = |b: &str| git::read_ref(&git, &format!("refs/heads/{b}"));
            let (Some(head), Some(base)) = (tip(&pull.head), tip(&pull.base)) else {
                continue;
            };
            pull.head_sha = head.to_string();
            if close && git::is_ancestor(&git, head, base) {
                set_open(pull, false);
            }
        }
    }

    /// A reviewer's `git commit --amend --no-edit` and force-push: the tip
    /// of `branch` replaced by a commit on the same parent, with the same
    /// author and message, and `writes` applied to its tree (by a human).
    pub(crate) fn amend(
        &mut self,
        repo_key: &str,
        branch: &str,
        writes: &[FileWrite],
    ) -> Result<Oid, String> {
        let repo = self.repos.get(repo_key).ok_or("no such repo")?;
        let git = repo.git();
        let full = format!("refs/heads/{branch}");
        let tip = git::read_ref(&git, &full).ok_or("no such branch")?;
        let old = git::commit(&git, tip).ok_or("tip is not a commit")?;
        let mut changes = Vec::new();
        for w in writes {
            let entry = match &w.content {
                Some(c) => Some((gix::objs::tree::EntryKind::Blob, git::write_blob(&git, c)?)),
                None => None,
            };
            changes.push((w.path.clone(), entry));
        }
        let tree = git::edit_tree(&git, Some(old.tree), &changes)?;
        let id = git::write_commit(
            &git,
            tree,
            &old.parents,
            &old.author,
            &human(),
            &old.message,
        )?;
        git::update_refs(
            &git,
            &[git::RefChange {
                name: full,
                expected: Some(tip),
                new: Some(id),
            }],
        )?;
        self.refresh_pulls(repo_key);
        Ok(id)
    }

    /// The commits a pull request proposes (on its head, not on its base),
    /// oldest first, each with whether GitHub signed it.
    pub(crate) fn pull_commits(
        &self,
        repo_key: &str,
        number: u64,
    ) -> Option<Vec<(Oid, git::CommitInfo, bool)>> {
        let repo = self.repos.get(repo_key)?;
        let pull = repo.pulls.iter().find(|p| p.number == number)?;
        let git = repo.git();
        let head = git::parse_oid(&head_sha(&git, pull))?;
        let on_base: std::collections::HashSet<Oid> =
            git::read_ref(&git, &format!("refs/heads/{}", pull.base))
                .map(|b| git::ancestors(&git, b).into_iter().collect())
                .unwrap_or_default();
        let mut out: Vec<(Oid, git::CommitInfo, bool)> = git::ancestors(&git, head)
            .into_iter()
            .filter(|id| !on_base.contains(id))
            .filter_map(|id| Some((id, git::commit(&git, id)?, repo.signed.contains(&id))))
            .collect();
        out.reverse();
        Some(out)
    }
}

/// Whether a closed pull request may be reopened, as GitHub decides: its
/// head branch exists, descends from the head it had when closed, and
/// still has commits its base lacks. `Err` has GitHub's message.
pub(crate) fn may_reopen(git: &gix::Repository, pull: &PullState) -> Result<(), String> {
    let tip = |b: &str| git::read_ref(git, &format!("refs/heads/{b}"));
    let gone =
        "state cannot be changed. The head branch was deleted or the pull request was merged.";
    let (Some(head), Some(base), false) = (tip(&pull.head), tip(&pull.base), pull.merged) else {
        return Err(gone.into());
    };
    if git::parse_oid(&pull.head_sha).is_some_and(|old| !git::is_ancestor(git, old, head)) {
        return Err(format!(
            "state cannot be changed. The {} branch was force-pushed or recreated.",
            pull.head
        ));
    }
    if git::is_ancestor(git, head, base) {
        return Err(format!(
            "state cannot be changed. There are no new commits on the {} branch.",
            pull.head
        ));
    }
    Ok(())
}

/// A label's REST JSON.
pub(crate) fn label_json(base: &str, repo: &Repo, name: &str) -> Value {
    let label = repo.labels.get(&name.to_lowercase());
    json!({
        "id": label.map(|l| l.id).unwrap_or(0),
        "node_id": format!("LA_kwDO{}", label.map(|l| l.id).unwrap_or(0)),
        "url": format!("{base}/repos/{}/labels/{name}", repo.full_name()),
        "name": label.map(|l| l.name.as_str()).unwrap_or(name),
        "color": label.map(|l| l.color.clone()).unwrap_or("ededed".into()),
        "default": false,
        "description": Value::Null,
    })
}
