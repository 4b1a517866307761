//! Did an ambiguous write land? After a compare-and-swap write got a 5xx
//! or no answer (see [`super::limits::OpKind`]), the forge reads the
//! branch again before sending it twice: a commit is ours when the branch
//! tip has exactly the parent we wrote on, our message, and our content
//! and file mode at every path we wrote (or nothing where we deleted); a
//! ref update is ours
//! when the ref is where we moved it. A tip still where it was means the
//! write did not land (send it again); anything else is a conflict.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::query::Document;
use crate::blob::{ObjectId, blob_id};
use crate::forge::{FileWrite, RepoId};

/// What re-reading a branch after an ambiguous write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landed {
    /// The write landed: the branch tip is this commit.
    Yes(ObjectId),
    /// The deletion landed: the branch is gone.
    Gone,
    /// The branch is where it was before: the write did not land.
    No,
    /// The branch is somewhere else (someone else moved it).
    Moved(Option<ObjectId>),
}

impl Landed {
    /// The finding as `/metrics` and the usage line name it: `landed` (the
    /// write was ours, not sent again), `not_landed` (sent again), `moved`
    /// (someone else moved the branch: a conflict).
    pub fn verdict(&self) -> &'static str {
        match self {
            Landed::Yes(_) | Landed::Gone => "landed",
            Landed::No => "not_landed",
            Landed::Moved(_) => "moved",
        }
    }
}

/// Attempts of one compare-and-swap write: each after the first follows a
/// re-observation that found the previous one had not landed.
pub const ATTEMPTS: u32 = 4;

/// Reads `branch`'s tip commit: its id, message, parents, and the entry
/// (`oid`, `mode`) at each of `paths`.
pub fn tip_query(repo: &RepoId, branch: &str, paths: &[&str]) -> Document {
    let mut decls = vec![
        "$owner: String!".to_string(),
        "$name: String!".to_string(),
        "$ref: String!".to_string(),
    ];
    let mut vars = Map::new();
    vars.insert("owner".into(), json!(repo.owner));
    vars.insert("name".into(), json!(repo.name));
    vars.insert("ref".into(), json!(format!("refs/heads/{branch}")));
    let mut fields = String::new();
    for (i, p) in paths.iter().enumerate() {
        decls.push(format!("$p{i}: String!"));
        vars.insert(format!("p{i}"), json!(p));
        let _ = write!(fields, " f{i}: file(path: $p{i}) {{ oid mode }}");
    }
    Document {
        query: format!(
            "query LandedTip({}) {{ repository(owner: $owner, name: $name) {{ ref(qualifiedName: $ref) {{ target {{ oid ... on Commit {{ message parents(first: 2) {{ nodes {{ oid }} }}{fields} }} }} }} }} }}",
            decls.join(", ")
        ),
        variables: Value::Object(vars),
    }
}

/// What a commit write put on a branch, to recognise it.
pub struct Written<'a> {
    /// The tip before the write (`None`: the branch was created).
    pub before: Option<ObjectId>,
    pub parent: ObjectId,
    pub message: &'a str,
    pub files: &'a [&'a FileWrite],
}

/// Judges the answer to [`tip_query`] (asked with the paths of
/// `written.files`, in order).
pub fn judge_commit(body: &Value, written: &Written<'_>) -> Landed {
    let target = body
        .pointer("/data/repository/ref/target")
        .filter(|t| !t.is_null());
    let Some(target) = target else {
        return if written.before.is_none() {
            Landed::No
        } else {
            Landed::Moved(None)
        };
    };
    let Some(tip) = target
        .get("oid")
        .and_then(Value::as_str)
        .and_then(|o| o.parse::<ObjectId>().ok())
    else {
        return Landed::Moved(None);
    };
    if Some(tip) == written.before {
        return Landed::No;
    }
    let parents: Vec<&str> = target
        .pointer("/parents/nodes")
        .and_then(Value::as_array)
        .map(|n| n.iter().filter_map(|p| p.get("oid")?.as_str()).collect())
        .unwrap_or_default();
    let message = target.get("message").and_then(Value::as_str);
    let same_message = message.is_some_and(|m| normalise(m) == normalise(written.message));
    let parent = written.parent.to_string();
    let same_files = written.files.iter().enumerate().all(|(i, f)| {
        let entry = target.get(format!("f{i}")).filter(|e| !e.is_null());
        let oid = entry.and_then(|e| e.get("oid")).and_then(Value::as_str);
        let mode = entry.and_then(|e| e.get("mode")).and_then(Value::as_i64);
        match (&f.content, oid) {
            (Some(content), Some(oid)) => {
                blob_id(content).to_string() == oid && mode == Some(mode_bits(f.mode))
            }
            (None, None) => true,
            _ => false,
        }
    });
    if parents == [parent.as_str()] && same_message && same_files {
        Landed::Yes(tip)
    } else {
        Landed::Moved(Some(tip))
    }
}

/// A file mode as GraphQL's `TreeEntry.mode` reports it (the octal mode
/// as an integer).
fn mode_bits(mode: crate::blob::FileMode) -> i64 {
    match mode {
        crate::blob::FileMode::Regular => 0o100644,
        crate::blob::FileMode::Executable => 0o100755,
    }
}

/// Judges a ref update from `before` to `after` (`None`: no ref) by where
/// the ref is now.
pub fn judge_ref(
    now: Option<ObjectId>,
    before: Option<ObjectId>,
    after: Option<ObjectId>,
) -> Landed {
    if now == after {
        after.map_or(Landed::Gone, Landed::Yes)
    } else if now == before {
        Landed::No
    } else {
        Landed::Moved(now)
    }
}

/// A commit message as headline and body, the way `createCommitOnBranch`
/// splits it and GitHub joins it again (`headline\n\nbody`).
fn normalise(message: &str) -> (&str, &str) {
    match message.split_once('\n') {
        Some((h, b)) => (h.trim_end(), b.trim_matches('\n').trim_end()),
        None => (message.trim_end(), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::FileMode;

    fn oid(n: u8) -> ObjectId {
        format!("{:040x}", n).parse().unwrap()
    }

    fn tip(oid_: ObjectId, parents: &[ObjectId], message: &str, files: Value) -> Value {
        let mut target = json!({
            "oid": oid_.to_string(),
            "message": message,
            "parents": { "nodes": parents.iter().map(|p| json!({"oid": p.to_string()})).collect::<Vec<_>>() },
        });
        for (k, v) in files.as_object().unwrap() {
            target[k] = v.clone();
        }
        json!({ "data": { "repository": { "ref": { "target": target } } } })
    }

    #[test]
    fn a_landed_commit_is_recognised_by_parent_message_content_and_mode() {
        let write = FileWrite {
            path: "a.txt".into(),
            content: Some(b"new\n".to_vec()),
            mode: FileMode::Regular,
            mode_unchanged: true,
        };
        let gone = FileWrite {
            path: "old.txt".into(),
            content: None,
            mode: FileMode::Regular,
            mode_unchanged: true,
        };
        let files = [&write, &gone];
        let written = Written {
            before: Some(oid(1)),
            parent: oid(1),
            message: "chore: sync\n\nbody",
            files: &files,
        };
        let ours =
            json!({ "f0": { "oid": blob_id(b"new\n").to_string(), "mode": 0o100644 }, "f1": null });
        let body = tip(oid(2), &[oid(1)], "chore: sync\n\nbody", ours.clone());
        assert_eq!(judge_commit(&body, &written), Landed::Yes(oid(2)));
        // Our content with another mode is someone else's commit.
        let executable =
            json!({ "f0": { "oid": blob_id(b"new\n").to_string(), "mode": 0o100755 }, "f1": null });
        let body = tip(oid(2), &[oid(1)], "chore: sync\n\nbody", executable);
        assert_eq!(judge_commit(&body, &written), Landed::Moved(Some(oid(2))));
        let body = tip(oid(1), &[oid(0)], "older", json!({}));
        assert_eq!(judge_commit(&body, &written), Landed::No);
        let body = tip(oid(3), &[oid(1)], "someone else's", ours.clone());
        assert_eq!(judge_commit(&body, &written), Landed::Moved(Some(oid(3))));
        let other = json!({ "f0": { "oid": blob_id(b"theirs\n").to_string() }, "f1": null });
        let body = tip(oid(3), &[oid(1)], "chore: sync\n\nbody", other);
        assert_eq!(judge_commit(&body, &written), Landed::Moved(Some(oid(3))));
        let body = tip(oid(3), &[oid(9)], "chore: sync\n\nbody", ours);
        assert_eq!(judge_commit(&body, &written), Landed::Moved(Some(oid(3))));
        let missing = json!({ "data": { "repository": { "ref": null } } });
        assert_eq!(judge_commit(&missing, &written), Landed::Moved(None));
        let created = Written {
            before: None,
            ..written
        };
        assert_eq!(judge_commit(&missing, &created), Landed::No);
    }

    #[test]
    fn ref_updates_are_judged_by_where_the_ref_is() {
        assert_eq!(
            judge_ref(Some(oid(2)), Some(oid(1)), Some(oid(2))),
            Landed::Yes(oid(2))
        );
        assert_eq!(
            judge_ref(Some(oid(1)), Some(oid(1)), Some(oid(2))),
            Landed::No
        );
        assert_eq!(
            judge_ref(Some(oid(3)), Some(oid(1)), Some(oid(2))),
            Landed::Moved(Some(oid(3)))
        );
        assert_eq!(judge_ref(None, Some(oid(1)), None), Landed::Gone);
    }
}
