//! Git object storage of the fake: creating bare repositories and reading
//! and writing real objects (blobs, trees, commits) and refs in them with gix.
//!
//! It owns nothing but the on-disk objects; which branch may move and who
//! may write is decided by `state`. Every function takes an opened
//! repository; errors are plain strings (a broken fake repo is a bug).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;

use gix::objs::tree::EntryKind;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::{FullName, Target};

pub(crate) use gix::ObjectId as Oid;

/// The all-zero object id GitHub uses for "no ref".
pub(crate) const ZERO: &str = "0000000000000000000000000000000000000000";

/// A file's mode as git writes it (`0o100644`, `0o100755`, ...).
pub(crate) fn mode_bits(kind: EntryKind) -> u32 {
    kind as u16 as u32
}

/// The entry kind for a GitHub-style mode string ("100644", "040000" ...).
pub(crate) fn kind_from_mode(mode: &str) -> Option<EntryKind> {
    match mode {
        "100644" => Some(EntryKind::Blob),
        "100755" => Some(EntryKind::BlobExecutable),
        "120000" => Some(EntryKind::Link),
        "040000" | "40000" => Some(EntryKind::Tree),
        "160000" => Some(EntryKind::Commit),
        _ => None,
    }
}

/// "blob", "tree" or "commit", as GitHub names an entry's type.
pub(crate) fn type_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Tree => "tree",
        EntryKind::Commit => "commit",
        _ => "blob",
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Open options that read only the repository's own config.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated().open_path_as_is(true)
}

/// Creates a bare repository at `path` whose HEAD is `refs/heads/<branch>`.
pub(crate) fn init(path: &Path, default_branch: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| err("create dir", e))?;
    }
    let options = open_options().config_overrides([format!("init.defaultBranch={default_branch}")]);
    gix::ThreadSafeRepository::init_opts(
        path,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        options,
    )
    .map_err(|e| err("init", e))?;
    // Make sure HEAD names the branch even if the override was ignored.
    std::fs::write(
        path.join("HEAD"),
        format!("ref: refs/heads/{default_branch}\n"),
    )
    .map_err(|e| err("write HEAD", e))?;
    Ok(())
}

/// Opens the bare repository at `path`.
pub(crate) fn open(path: &Path) -> Result<gix::Repository, String> {
    gix::open_opts(path, open_options()).map_err(|e| err("open", e))
}

/// The object id of `refs/...` `full`, if it exists.
pub(crate) fn read_ref(git: &gix::Repository, full: &str) -> Option<Oid> {
    let found = git.try_find_reference(full).ok()??;
    if found.name().as_bstr() != full {
        return None;
    }
    match found.target() {
        gix::refs::TargetRef::Object(id) => Some(id.to_owned()),
        gix::refs::TargetRef::Symbolic(_) => None,
    }
}

/// All branch names (without `refs/heads/`), sorted.
pub(crate) fn branches(git: &gix::Repository) -> Vec<String> {
    let Ok(platform) = git.references() else {
        return Vec::new();
    };
    let Ok(iter) = platform.prefixed("refs/heads/") else {
        return Vec::new();
    };
    let mut out: Vec<String> = iter
        .filter_map(Result::ok)
        .filter_map(|r| {
            r.name()
                .as_bstr()
                .to_string()
                .strip_prefix("refs/heads/")
                .map(str::to_string)
        })
        .collect();
    out.sort();
    out
}

/// One ref change: `expected` None means "must not exist", `new` None means
/// delete.
pub(crate) struct RefChange {
    pub name: String,
    pub expected: Option<Oid>,
    pub new: Option<Oid>,
}

/// Applies all `changes` in one transaction (compare-and-swap on each).
pub(crate) fn update_refs(git: &gix::Repository, changes: &[RefChange]) -> Result<(), String> {
    let mut edits = Vec::new();
    for change in changes {
        let name = FullName::try_from(change.name.as_str()).map_err(|e| err("ref name", e))?;
        let expected = match change.expected {
            Some(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
            None => PreviousValue::MustNotExist,
        };
        let edit = match change.new {
            Some(new) => RefEdit {
                change: Change::Update {
                    log: LogChange {
                        mode: RefLog::AndReference,
                        force_create_reflog: false,
                        message: "fake-github".into(),
                    },
                    expected,
                    new: Target::Object(new),
                },
                name,
                deref: false,
            },
            None => RefEdit {
                change: Change::Delete {
                    expected,
                    log: RefLog::AndReference,
                },
                name,
                deref: false,
            },
        };
        edits.push(edit);
    }
    let committer = gix::actor::Signature {
        name: "fake-github".into(),
        email: "fake@github.invalid".into(),
        time: gix::date::Time::now_utc(),
    };
    let mut buf = gix::date::parse::TimeBuf::default();
    git.edit_references_as(edits, Some(committer.to_ref(&mut buf)))
        .map(|_| ())
        .map_err(|e| err("ref transaction", e))
}

/// Writes `data` as a blob.
pub(crate) fn write_blob(git: &gix::Repository, data: &[u8]) -> Result<Oid, String> {
    git.write_blob(data)
        .map(|id| id.detach())
        .map_err(|e| err("write blob", e))
}

/// A tree edit: `Some((kind, oid))` upserts, `None` removes.
pub(crate) type TreeChange = (String, Option<(EntryKind, Oid)>);

/// Applies `changes` to `base` (None: the empty tree) and writes the result.
pub(crate) fn edit_tree(
    git: &gix::Repository,
    base: Option<Oid>,
    changes: &[TreeChange],
) -> Result<Oid, String> {
    let base = base.unwrap_or_else(|| Oid::empty_tree(git.object_hash()));
    let mut editor = git.edit_tree(base).map_err(|e| err("edit tree", e))?;
    for (path, change) in changes {
        match change {
            Some((kind, id)) => {
                editor
                    .upsert(path.as_str(), *kind, *id)
                    .map_err(|e| err(&format!("upsert {path}"), e))?;
            }
            None => {
                editor
                    .remove(path.as_str())
                    .map_err(|e| err(&format!("remove {path}"), e))?;
            }
        }
    }
    editor
        .write()
        .map(|id| id.detach())
        .map_err(|e| err("write tree", e))
}

/// A name and email for a commit.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub name: String,
    pub email: String,
}

/// Writes a commit; author and committer are dated now.
pub(crate) fn write_commit(
    git: &gix::Repository,
    tree: Oid,
    parents: &[Oid],
    author: &Person,
    committer: &Person,
    message: &str,
) -> Result<Oid, String> {
    let now = gix::date::Time::now_utc();
    let sig = |p: &Person| gix::actor::Signature {
        name: p.name.as_str().into(),
        email: p.email.as_str().into(),
        time: now,
    };
    let commit = gix::objs::Commit {
        tree,
        parents: parents.iter().copied().collect(),
        author: sig(author),
        committer: sig(committer),
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    git.write_object(&commit)
        .map(|id| id.detach())
        .map_err(|e| err("write commit", e))
}

/// A decoded commit.
#[derive(Clone, Debug)]
pub(crate) struct CommitInfo {
    pub tree: Oid,
    pub parents: Vec<Oid>,
    pub message: String,
    pub author: Person,
    pub author_time: i64,
    pub committer: Person,
    pub commit_time: i64,
}

/// The object's kind and bytes, if it exists.
pub(crate) fn object(git: &gix::Repository, id: Oid) -> Option<(gix::objs::Kind, Vec<u8>)> {
    let object = git.try_find_object(id).ok()??;
    Some((object.kind, object.detach().data))
}

/// The commit `id`, if it exists and is a commit.
pub(crate) fn commit(git: &gix::Repository, id: Oid) -> Option<CommitInfo> {
    let (kind, data) = object(git, id)?;
    if kind != gix::objs::Kind::Commit {
        return None;
    }
    let decoded = gix::objs::CommitRef::from_bytes(&data, git.object_hash()).ok()?;
    let person = |s: gix::actor::SignatureRef<'_>| {
        (
            Person {
                name: s.name.to_string(),
                email: s.email.to_string(),
            },
            s.seconds(),
        )
    };
    let (author, author_time) = person(decoded.author().ok()?);
    let (committer, commit_time) = person(decoded.committer().ok()?);
    Some(CommitInfo {
        tree: decoded.tree(),
        parents: decoded.parents().collect(),
        message: decoded.message.to_string(),
        author,
        author_time,
        committer,
        commit_time,
    })
}

/// One entry of a tree.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub name: String,
    pub kind: EntryKind,
    pub oid: Oid,
}

/// The entries of tree `id` (empty if it is not a tree).
pub(crate) fn tree_entries(git: &gix::Repository, id: Oid) -> Vec<Entry> {
    let Some((gix::objs::Kind::Tree, data)) = object(git, id) else {
        return Vec::new();
    };
    let Ok(tree) = gix::objs::TreeRef::from_bytes(&data, git.object_hash()) else {
        return Vec::new();
    };
    tree.entries
        .iter()
        .map(|e| Entry {
            name: e.filename.to_string(),
            kind: e.mode.kind(),
            oid: e.oid.to_owned(),
        })
        .collect()
}

/// The entry at `path` (slash-separated) under tree `root`.
pub(crate) fn lookup(git: &gix::Repository, root: Oid, path: &str) -> Option<Entry> {
    let mut current = root;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return None;
    }
    for (i, part) in parts.iter().enumerate() {
        let entry = tree_entries(git, current)
            .into_iter()
            .find(|e| e.name == *part)?;
        if i + 1 == parts.len() {
            return Some(entry);
        }
        if entry.kind != EntryKind::Tree {
            return None;
        }
        current = entry.oid;
    }
    None
}

/// Every non-tree entry under `root`, by full path.
pub(crate) fn flatten(git: &gix::Repository, root: Oid) -> BTreeMap<String, (EntryKind, Oid)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(String::new(), root)];
    while let Some((prefix, id)) = stack.pop() {
        for entry in tree_entries(git, id) {
            let path = if prefix.is_empty() {
                entry.name.clone()
            } else {
                format!("{prefix}/{}", entry.name)
            };
            if entry.kind == EntryKind::Tree {
                stack.push((path, entry.oid));
            } else {
                out.insert(path, (entry.kind, entry.oid));
            }
        }
    }
    out
}

/// Paths that differ (added, removed or changed) between two trees.
pub(crate) fn changed_paths(git: &gix::Repository, old: Option<Oid>, new: Oid) -> Vec<String> {
    let old = old.map(|t| flatten(git, t)).unwrap_or_default();
    let new = flatten(git, new);
    let mut out: Vec<String> = old
        .iter()
        .filter(|(p, v)| new.get(*p) != Some(v))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(
        new.iter()
            .filter(|(p, _)| !old.contains_key(*p))
            .map(|(p, _)| p.clone()),
    );
    out.sort();
    out
}

/// Whether `ancestor` is reachable from `descendant` (or equal to it).
pub(crate) fn is_ancestor(git: &gix::Repository, ancestor: Oid, descendant: Oid) -> bool {
    let mut seen = HashSet::new();
    let mut queue = VecDeque::from([descendant]);
    while let Some(id) = queue.pop_front() {
        if id == ancestor {
            return true;
        }
        if !seen.insert(id) {
            continue;
        }
        if let Some(info) = commit(git, id) {
            queue.extend(info.parents);
        }
    }
    false
}

/// Every commit reachable from `tip` (itself included), breadth first:
/// newer commits before their parents on linear history.
pub(crate) fn ancestors(git: &gix::Repository, tip: Oid) -> Vec<Oid> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut queue = VecDeque::from([tip]);
    while let Some(id) = queue.pop_front() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(info) = commit(git, id) {
            out.push(id);
            queue.extend(info.parents);
        }
    }
    out
}

/// First-parent history from `tip`, newest first.
pub(crate) fn first_parent_log(git: &gix::Repository, tip: Oid) -> Vec<Oid> {
    let mut out = vec![tip];
    let mut current = tip;
    while let Some(parent) = commit(git, current).and_then(|c| c.parents.first().copied()) {
        out.push(parent);
        current = parent;
    }
    out
}

/// Whether GitHub refuses `path` as a path in a tree: an empty component
/// (a leading, trailing or doubled `/`), a `.` or `..` component, a `.git`
/// component in any case (refused since CVE-2014-9390), or a NUL byte.
/// GitHub's `FileChanges` documentation says paths are not slash-prefixed;
/// its contents API answers "path contains a malformed path component".
pub(crate) fn malformed_path(path: &str) -> bool {
    path.contains('\0')
        || path.split('/').any(|component| {
            component.is_empty()
                || component == "."
                || component == ".."
                || component.eq_ignore_ascii_case(".git")
        })
}

/// Whether `name` is a valid full ref name by `git check-ref-format`'s
/// rules: under `refs/` with at least one more `/`; no component starting
/// with `.` or ending with `.lock`; no `..`, `//`, `@{`, control
/// characters, space, `~ ^ : ? * [ \`; not ending with `/` or `.`.
pub(crate) fn valid_ref_name(name: &str) -> bool {
    name.starts_with("refs/")
        && name.matches('/').count() >= 2
        && !name.ends_with('/')
        && !name.ends_with('.')
        && !name.contains("..")
        && !name.contains("@{")
        && !name
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
        && name
            .split('/')
            .all(|c| !c.is_empty() && !c.starts_with('.') && !c.ends_with(".lock"))
}

/// Parses a 40-hex object id.
pub(crate) fn parse_oid(text: &str) -> Option<Oid> {
    if text.len() != 40 {
        return None;
    }
    Oid::from_hex(text.as_bytes()).ok()
}
