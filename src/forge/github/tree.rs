//! What the forge knows of a parent commit's tree, and what a commit's
//! writes mean against it. GitHub applies writes as they come: a deletion of
//! a path the parent lacks aborts the whole commit, an addition replaces a
//! directory by a file (or a file by a directory) without a word, and
//! `createCommitOnBranch` keeps an existing file's mode. So before writing,
//! the forge checks the writes against the parent ([`prepare`]): it drops
//! deletions of missing paths, refuses implicit file/directory swaps (as the
//! local and fake forges do), and says whether the commit must go through
//! the Git Data API to set or clear a mode.
//!
//! The knowledge ([`Facts`]: the entry at each known path of one commit)
//! comes for free from observation, which asks for every managed path, the
//! lock file and their directories on the default branch's tip, and is
//! carried over to the commits the forge writes itself. Only a commit on a
//! parent the forge has not observed reads the parent (one query, see
//! [`facts_query`]); listing a directory is needed only to replace or delete
//! a directory explicitly emptied by the same commit.
//!
//! Facts are about one commit (content-addressed, never stale); the forge
//! keeps them per repository for the commits it last observed or wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::query::Document;
use crate::blob::{FileMode, ObjectId};
use crate::forge::{FileWrite, ForgeError, RepoId};

/// What a tree has at one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Nothing there (also when a directory on the way is missing or is a
    /// file).
    Missing,
    /// A regular or executable file.
    File(FileMode),
    /// A symlink or a submodule.
    Other,
    /// A directory.
    Dir,
}

/// Git file modes as GraphQL's `TreeEntry.mode` reports them.
const MODE_REGULAR: i64 = 0o100644;
const MODE_EXECUTABLE: i64 = 0o100755;

impl Entry {
    /// A GraphQL `TreeEntry` (`{ mode type }`), or `null` for no entry.
    pub fn from_graphql(v: Option<&Value>) -> Entry {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Entry::Missing;
        };
        match (
            v.get("type").and_then(Value::as_str),
            v.get("mode").and_then(Value::as_i64),
        ) {
            (Some("tree"), _) => Entry::Dir,
            (Some("blob"), Some(MODE_REGULAR)) => Entry::File(FileMode::Regular),
            (Some("blob"), Some(MODE_EXECUTABLE)) => Entry::File(FileMode::Executable),
            _ => Entry::Other,
        }
    }
}

/// The known entries of one commit's tree, by path; a path not in it is
/// unknown.
pub type Facts = BTreeMap<String, Entry>;

/// The directories `path` lies in, innermost first: `a/b/c` gives `a/b`,
/// `a`.
pub fn dirs_of(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(|(i, _)| &path[..i])
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
}

/// Whether `path` lies under the directory `dir`.
fn under(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

/// What is at `path`, as far as `facts` and the writes tell.
fn known(facts: &Facts, files: &[FileWrite], path: &str) -> Option<Entry> {
    if let Some(e) = facts.get(path) {
        return Some(*e);
    }
    // The executor's word that the parent has this file with this mode.
    if let Some(w) = files
        .iter()
        .find(|w| w.path == path && w.content.is_some() && w.mode_unchanged)
    {
        return Some(Entry::File(w.mode));
    }
    // Something below it: a directory.
    let below = facts
        .iter()
        .any(|(p, e)| *e != Entry::Missing && under(p, path))
        || files
            .iter()
            .any(|w| w.content.is_some() && w.mode_unchanged && under(&w.path, path));
    if below {
        return Some(Entry::Dir);
    }
    // A directory on the way is not a directory: nothing here.
    if dirs_of(path).any(|d| matches!(facts.get(d), Some(e) if *e != Entry::Dir)) {
        return Some(Entry::Missing);
    }
    None
}

/// The paths whose entries [`prepare`] needs and `facts` does not have.
/// Reading them and their directories answers everything (see
/// [`to_read`]).
pub fn unknown(facts: &Facts, files: &[FileWrite]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for w in files {
        match known(facts, files, &w.path) {
            None => {
                out.insert(w.path.clone());
            }
            Some(Entry::Missing) if w.content.is_some() => {
                for dir in dirs_of(&w.path) {
                    match known(facts, files, dir) {
                        None => {
                            out.insert(dir.to_string());
                        }
                        Some(Entry::Missing) => continue,
                        Some(_) => break,
                    }
                }
            }
            Some(_) => {}
        }
    }
    out
}

/// What to read of the parent when [`unknown`] is not empty: the unknown
/// paths and the directories of every path written, so that one read is
/// enough.
pub fn to_read(unknown: &BTreeSet<String>, files: &[FileWrite]) -> BTreeSet<String> {
    let mut out = unknown.clone();
    for w in files.iter().filter(|w| w.content.is_some()) {
        out.extend(dirs_of(&w.path).map(str::to_string));
    }
    out
}

/// The writes to send, once the parent is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Indices into the request's files, deletions first (GitHub judges
    /// deletions against the parent and applies them before additions).
    pub send: Vec<usize>,
    /// Some write sets or clears a mode (or replaces a symlink or
    /// submodule): `createCommitOnBranch` cannot, the Git Data API can.
    pub needs_modes: bool,
}

/// What [`prepare`] still needs to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needs {
    /// The entries at these paths.
    Paths(BTreeSet<String>),
    /// Every file below these directories (full paths).
    Listings(BTreeSet<String>),
}

/// Checks a commit's writes against its parent: drops deletions of paths
/// the parent lacks (and of directories whose every file is deleted
/// explicitly), refuses writes that would swap a file and a directory
/// implicitly, and tells whether a mode must change. `listings` holds the
/// files below directories, when [`Needs::Listings`] asked for them.
pub fn prepare(
    repo: &RepoId,
    branch: &str,
    facts: &Facts,
    listings: &BTreeMap<String, Vec<String>>,
    files: &[FileWrite],
) -> Result<Result<Prepared, Needs>, ForgeError> {
    let missing = unknown(facts, files);
    if !missing.is_empty() {
        return Ok(Err(Needs::Paths(missing)));
    }
    let entry = |path: &str| known(facts, files, path).unwrap_or(Entry::Missing);
    let deleted: BTreeSet<&str> = files
        .iter()
        .filter(|w| w.content.is_none())
        .map(|w| w.path.as_str())
        .collect();
    let swap = |path: &str| {
        ForgeError::Other(format!(
            "{repo}: the changes to `{branch}` would remove `{path}` without deleting it \
             (a file and a directory would swap places); delete it explicitly first"
        ))
    };
    // A directory replaced or deleted: every file in it must be deleted
    // explicitly. Which files it has is read only when some are.
    let mut need_listing = BTreeSet::new();
    for w in files {
        if entry(&w.path) != Entry::Dir {
            continue;
        }
        if !deleted.iter().any(|d| under(d, &w.path)) {
            return Err(swap(&w.path));
        }
        match listings.get(&w.path) {
            None => {
                need_listing.insert(w.path.clone());
            }
            Some(all) => {
                if let Some(kept) = all.iter().find(|f| !deleted.contains(f.as_str())) {
                    return Err(swap(kept));
                }
            }
        }
    }
    if !need_listing.is_empty() {
        return Ok(Err(Needs::Listings(need_listing)));
    }
    let mut deletions = Vec::new();
    let mut additions = Vec::new();
    let mut needs_modes = false;
    for (i, w) in files.iter().enumerate() {
        let at = entry(&w.path);
        if w.content.is_none() {
            // Nothing there, or a directory emptied by its files' deletions.
            if at != Entry::Missing && at != Entry::Dir {
                deletions.push(i);
            }
            continue;
        }
        // A file where a file (or something else) is in the way.
        if at == Entry::Missing {
            for dir in dirs_of(&w.path) {
                match entry(dir) {
                    Entry::Missing => continue,
                    Entry::Dir => break,
                    _ if deleted.contains(dir) => break,
                    _ => return Err(swap(dir)),
                }
            }
        }
        // Two writes that need a file and a directory at the same path.
        if let Some(other) = files
            .iter()
            .find(|o| o.content.is_some() && under(&o.path, &w.path))
        {
            return Err(ForgeError::Other(format!(
                "{repo}: the changes to `{branch}` write both `{}` and `{}`, a file inside a file",
                w.path, other.path
            )));
        }
        needs_modes |= match at {
            Entry::File(mode) => mode != w.mode,
            Entry::Other => true,
            Entry::Missing | Entry::Dir => w.mode != FileMode::Regular,
        };
        additions.push(i);
    }
    deletions.extend(additions);
    Ok(Ok(Prepared {
        send: deletions,
        needs_modes,
    }))
}

/// The facts of the commit that `sent` (the writes as prepared) makes on a
/// parent with `facts`: what the forge knows of its own commit without
/// reading it.
pub fn after(facts: &Facts, sent: &[&FileWrite]) -> Facts {
    let mut out = facts.clone();
    let mut touched_dirs = BTreeSet::new();
    for w in sent.iter().filter(|w| w.content.is_none()) {
        out.insert(w.path.clone(), Entry::Missing);
        touched_dirs.extend(dirs_of(&w.path).map(str::to_string));
    }
    for w in sent.iter().filter(|w| w.content.is_some()) {
        // A directory replaced: everything below it is gone.
        for (p, e) in out.iter_mut() {
            if under(p, &w.path) {
                *e = Entry::Missing;
            }
        }
        out.insert(w.path.clone(), Entry::File(w.mode));
        for dir in dirs_of(&w.path) {
            out.insert(dir.to_string(), Entry::Dir);
        }
    }
    // A directory that lost files may be gone; it is still there when
    // something known is left in it, else unknown.
    for dir in touched_dirs {
        let kept = out
            .iter()
            .any(|(p, e)| *e != Entry::Missing && under(p, &dir));
        if !kept && out.get(&dir) == Some(&Entry::Dir) {
            out.remove(&dir);
        }
    }
    out
}

/// Reads the entries at `paths` in commit `commit`: one query.
pub fn facts_query(repo: &RepoId, commit: ObjectId, paths: &[String]) -> Document {
    let mut decls = vec![
        "$owner: String!".to_string(),
        "$name: String!".to_string(),
        "$commit: GitObjectID!".to_string(),
    ];
    let mut vars = Map::new();
    vars.insert("owner".into(), json!(repo.owner));
    vars.insert("name".into(), json!(repo.name));
    vars.insert("commit".into(), json!(commit.to_string()));
    let mut fields = String::new();
    for (i, p) in paths.iter().enumerate() {
        decls.push(format!("$p{i}: String!"));
        vars.insert(format!("p{i}"), json!(p));
        let _ = write!(fields, " f{i}: file(path: $p{i}) {{ mode type }}");
    }
    Document {
        query: format!(
            "query TreeFacts({}) {{ repository(owner: $owner, name: $name) {{ commit: object(oid: $commit) {{ ... on Commit {{{fields} }} }} }} }}",
            decls.join(", ")
        ),
        variables: Value::Object(vars),
    }
}

/// Parses the answer to [`facts_query`] for the same `paths`; `None` when
/// the commit is not there.
pub fn parse_facts(paths: &[String], body: &Value) -> Option<Facts> {
    let commit = body
        .pointer("/data/repository/commit")
        .filter(|c| !c.is_null())?;
    Some(
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), Entry::from_graphql(commit.get(format!("f{i}")))))
            .collect(),
    )
}

/// Lists the entries of the trees at `rev:path` for each path: one query
/// per level of a directory listing.
pub fn listing_query(repo: &RepoId, commit: ObjectId, dirs: &[String]) -> Document {
    let mut decls = vec!["$owner: String!".to_string(), "$name: String!".to_string()];
    let mut vars = Map::new();
    vars.insert("owner".into(), json!(repo.owner));
    vars.insert("name".into(), json!(repo.name));
    let mut fields = String::new();
    for (i, d) in dirs.iter().enumerate() {
        decls.push(format!("$t{i}: String!"));
        vars.insert(format!("t{i}"), json!(format!("{commit}:{d}")));
        let _ = write!(
            fields,
            " t{i}: object(expression: $t{i}) {{ ... on Tree {{ entries {{ name type }} }} }}"
        );
    }
    Document {
        query: format!(
            "query TreeListing({}) {{ repository(owner: $owner, name: $name) {{{fields} }} }}",
            decls.join(", ")
        ),
        variables: Value::Object(vars),
    }
}

/// Parses the answer to [`listing_query`] for the same `dirs`: per
/// directory, its entries as full paths and whether each is a directory.
pub fn parse_listing(dirs: &[String], body: &Value) -> Vec<Vec<(String, bool)>> {
    dirs.iter()
        .enumerate()
        .map(|(i, d)| {
            body.pointer(&format!("/data/repository/t{i}/entries"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let name = e.get("name")?.as_str()?;
                    let tree = e.get("type").and_then(Value::as_str) == Some("tree");
                    Some((format!("{d}/{name}"), tree))
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoId {
        RepoId::new("acme", "web")
    }

    fn put(path: &str, mode: FileMode, mode_unchanged: bool) -> FileWrite {
        FileWrite {
            path: path.into(),
            content: Some(b"x\n".to_vec()),
            mode,
            mode_unchanged,
        }
    }

    fn regular(path: &str) -> FileWrite {
        put(path, FileMode::Regular, false)
    }

    fn delete(path: &str) -> FileWrite {
        FileWrite {
            path: path.into(),
            content: None,
            mode: FileMode::Regular,
            mode_unchanged: false,
        }
    }

    fn facts(entries: &[(&str, Entry)]) -> Facts {
        entries.iter().map(|(p, e)| (p.to_string(), *e)).collect()
    }

    fn set(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    fn run(facts: &Facts, files: &[FileWrite]) -> Result<Result<Prepared, Needs>, ForgeError> {
        prepare(&repo(), "main", facts, &BTreeMap::new(), files)
    }

    const EXE: Entry = Entry::File(FileMode::Executable);
    const REG: Entry = Entry::File(FileMode::Regular);

    #[test]
    fn directories_are_innermost_first() {
        assert_eq!(dirs_of("a/b/c").collect::<Vec<_>>(), ["a/b", "a"]);
        assert_eq!(dirs_of("a").count(), 0);
        assert!(under("a/b", "a") && !under("ab", "a") && !under("a", "a"));
    }

    /// What observation knows (paths, lock, their directories) decides
    /// everything without a read.
    #[test]
    fn observed_facts_need_no_read() {
        let f = facts(&[
            (".github/workflows/ci.yml", REG),
            (".github/workflows", Entry::Dir),
            (".github", Entry::Dir),
            (".distributor/lock.json", Entry::Missing),
            (".distributor", Entry::Missing),
            ("old.txt", Entry::Missing),
        ]);
        let files = [
            regular(".github/workflows/ci.yml"),
            regular(".distributor/lock.json"),
            delete("old.txt"),
        ];
        assert!(unknown(&f, &files).is_empty());
        let p = run(&f, &files).unwrap().unwrap();
        // The deletion of a missing path is dropped.
        assert_eq!(p.send, vec![0, 1]);
        assert!(!p.needs_modes);
    }

    /// A file the executor says is unchanged in mode needs no fact; new
    /// paths need their entry and their directories.
    #[test]
    fn unknown_paths_are_the_ones_a_decision_needs() {
        let files = [
            put("a/kept.sh", FileMode::Executable, true),
            regular("a/new.txt"),
            regular("b/c/new.txt"),
            delete("gone.txt"),
        ];
        assert_eq!(
            unknown(&Facts::new(), &files),
            set(&["a/new.txt", "b/c/new.txt", "gone.txt"])
        );
        let f = facts(&[
            ("a/new.txt", Entry::Missing),
            ("b/c/new.txt", Entry::Missing),
        ]);
        // `a` holds a file, so it is a directory; `b/c` and `b` are not known.
        assert_eq!(unknown(&f, &files), set(&["b", "b/c", "gone.txt"]));
        assert_eq!(
            to_read(&unknown(&f, &files), &files),
            set(&["a", "b", "b/c", "gone.txt"])
        );
        assert!(matches!(run(&f, &files), Ok(Err(Needs::Paths(_)))));
    }

    #[test]
    fn modes_route_to_the_git_data_api() {
        let f = facts(&[("run.sh", EXE), ("conf", REG), ("new", Entry::Missing)]);
        let decide = |files: &[FileWrite]| run(&f, files).unwrap().unwrap().needs_modes;
        // Content only: keeps the mode.
        assert!(!decide(&[put("run.sh", FileMode::Executable, true)]));
        assert!(!decide(&[regular("conf")]));
        // Clearing the bit, even with the executor not saying so (the lock
        // file is never `mode_unchanged`).
        assert!(decide(&[regular("run.sh")]));
        assert!(decide(&[put("conf", FileMode::Executable, false)]));
        assert!(decide(&[put("new", FileMode::Executable, false)]));
        assert!(!decide(&[regular("new")]));
        // Facts win over a stale `mode_unchanged`.
        assert!(decide(&[put("run.sh", FileMode::Regular, true)]));
    }

    #[test]
    fn implicit_swaps_are_refused_and_explicit_ones_allowed() {
        let f = facts(&[
            ("conf", REG),
            ("conf/nested.txt", Entry::Missing),
            ("dir", Entry::Dir),
            ("dir/x.txt", REG),
            ("a", Entry::Missing),
            ("a/b", Entry::Missing),
        ]);
        let err = |files: &[FileWrite]| match run(&f, files) {
            Err(ForgeError::Other(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(&[regular("dir")]).contains("remove `dir`"));
        assert!(err(&[regular("conf/nested.txt")]).contains("remove `conf`"));
        assert!(err(&[delete("dir")]).contains("remove `dir`"));
        assert!(err(&[regular("a"), regular("a/b")]).contains("a file inside a file"));

        let files = [
            delete("conf"),
            regular("conf/nested.txt"),
            delete("dir/x.txt"),
            regular("dir"),
        ];
        assert_eq!(
            run(&f, &files).unwrap(),
            Err(Needs::Listings(set(&["dir"])))
        );
        let mut listings = BTreeMap::new();
        listings.insert("dir".to_string(), vec!["dir/x.txt".to_string()]);
        let p = prepare(&repo(), "main", &f, &listings, &files)
            .unwrap()
            .unwrap();
        assert_eq!(p.send, vec![0, 2, 1, 3], "deletions first");
        assert!(!p.needs_modes);
        // A file left in the directory is not deleted explicitly.
        listings.insert(
            "dir".to_string(),
            vec!["dir/x.txt".to_string(), "dir/y.txt".to_string()],
        );
        let e = prepare(&repo(), "main", &f, &listings, &files).unwrap_err();
        assert!(e.to_string().contains("remove `dir/y.txt`"), "{e}");
        // Deleting a directory with all its files: the files' deletions do.
        listings.insert("dir".to_string(), vec!["dir/x.txt".to_string()]);
        let p = prepare(
            &repo(),
            "main",
            &f,
            &listings,
            &[delete("dir/x.txt"), delete("dir")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.send, vec![0]);
    }

    #[test]
    fn a_commit_knows_its_own_tree() {
        let f = facts(&[
            ("a/one.txt", REG),
            ("a/two.txt", REG),
            ("a", Entry::Dir),
            ("b/only.txt", REG),
            ("b", Entry::Dir),
            ("run.sh", EXE),
        ]);
        let (d1, d2, w1, w2) = (
            delete("a/one.txt"),
            delete("b/only.txt"),
            regular("run.sh"),
            put("c/d/new.sh", FileMode::Executable, false),
        );
        let next = after(&f, &[&d1, &d2, &w1, &w2]);
        assert_eq!(next["a/one.txt"], Entry::Missing);
        assert_eq!(next["a"], Entry::Dir, "a/two.txt is still there");
        assert_eq!(next.get("b"), None, "b may be gone");
        assert_eq!(next["run.sh"], REG);
        assert_eq!(next["c/d/new.sh"], EXE);
        assert_eq!((next["c/d"], next["c"]), (Entry::Dir, Entry::Dir));
    }

    #[test]
    fn tree_entries_parse() {
        let e = |v: Value| Entry::from_graphql(Some(&v));
        assert_eq!(Entry::from_graphql(None), Entry::Missing);
        assert_eq!(e(Value::Null), Entry::Missing);
        assert_eq!(e(json!({"mode": 16384, "type": "tree"})), Entry::Dir);
        assert_eq!(e(json!({"mode": 33188, "type": "blob"})), REG);
        assert_eq!(e(json!({"mode": 33261, "type": "blob"})), EXE);
        assert_eq!(e(json!({"mode": 40960, "type": "blob"})), Entry::Other);
        assert_eq!(e(json!({"mode": 57344, "type": "commit"})), Entry::Other);
        let paths = vec!["a".to_string(), "b/c".to_string()];
        let body = json!({"data": {"repository": {"commit": {
            "f0": {"mode": 33188, "type": "blob"}, "f1": null }}}});
        assert_eq!(
            parse_facts(&paths, &body),
            Some(facts(&[("a", REG), ("b/c", Entry::Missing)]))
        );
        let gone = json!({"data": {"repository": {"commit": null}}});
        assert_eq!(parse_facts(&paths, &gone), None);
        let dirs = vec!["d".to_string()];
        let body = json!({"data": {"repository": {"t0": {"entries": [
            {"name": "x.txt", "type": "blob"}, {"name": "sub", "type": "tree"}]}}}});
        assert_eq!(
            parse_listing(&dirs, &body),
            vec![vec![
                ("d/x.txt".to_string(), false),
                ("d/sub".to_string(), true)
            ]]
        );
    }

    /// The documents are valid against GitHub's published schema.
    #[test]
    fn documents_are_valid_against_the_github_schema() {
        let schema = fake_github::github_schema();
        let oid: ObjectId = format!("{:040x}", 7).parse().unwrap();
        let paths = vec!["a".to_string(), "b/c".to_string()];
        for (name, doc) in [
            ("tree facts", facts_query(&repo(), oid, &paths).query),
            ("tree listing", listing_query(&repo(), oid, &paths).query),
        ] {
            if let Err(e) =
                apollo_compiler::ExecutableDocument::parse_and_validate(schema, &doc, name)
            {
                panic!("{name} is not valid against GitHub's schema:\n{e}\n{doc}");
            }
        }
    }
}
