//! Other bundles' changes carried on the proposal by filtered runs.

use std::collections::BTreeSet;

use super::*;
use crate::blob::{FileMode, blob_id};
use crate::plan::Reason;
use crate::plan::fixtures::{branch, desired, entry, lock_entry, oid, proposal};

fn other(path: &str, content: &str) -> DesiredFile {
    DesiredFile {
        bundle: "other".into(),
        ..desired(path, content)
    }
}

fn only_b() -> BTreeSet<String> {
    ["b".to_string()].into()
}

#[test]
fn a_filtered_run_carries_what_the_proposal_holds_of_other_bundles() {
    let want = [
        desired("a", "new a"),
        other("x", "new x"),
        other("y", "new y"),
    ];
    let default = branch(&[("x", entry("old x")), ("y", None)], None);
    // The branch holds x's render; y is not on it.
    let p = proposal(&[("a", entry("a")), ("x", entry("new x"))], oid(1), true);
    let locked = [("x".to_string(), lock_entry("x", "old x"))].into();
    let scope = only_b();
    let got = carried_files(&want, Scope::new(Some(&scope)), Some(&p), &default, &locked);
    assert_eq!(got.len(), 1);
    let x = &got[0];
    assert_eq!(
        (x.path.as_str(), x.state, x.reason, x.route),
        ("x", FileState::Outdated, None, Route::Proposal)
    );
    assert_eq!(
        (x.bundle.as_str(), x.template.as_str()),
        ("other", "b/x.j2")
    );
    assert_eq!(x.desired, Some(blob_id(b"new x")));
    assert_eq!(x.observed, entry("old x"));
    assert_eq!(x.locked, Some(blob_id(b"old x")));
}

#[test]
fn nothing_is_carried_unfiltered_or_from_a_human_branch_or_without_one() {
    let want = [other("x", "new x")];
    let default = branch(&[("x", None)], None);
    let ours = proposal(&[("x", entry("new x"))], oid(1), true);
    let theirs = proposal(&[("x", entry("new x"))], oid(1), false);
    let none = BTreeMap::new();
    let scope = only_b();
    let filtered = Scope::new(Some(&scope));
    assert!(carried_files(&want, Scope::new(None), Some(&ours), &default, &none).is_empty());
    assert!(carried_files(&want, filtered, Some(&theirs), &default, &none).is_empty());
    assert!(carried_files(&want, filtered, None, &default, &none).is_empty());
    assert_eq!(
        carried_files(&want, filtered, Some(&ours), &default, &none).len(),
        1
    );
}

#[test]
fn a_file_is_carried_only_as_rendered_and_only_when_it_changes_something() {
    let x = other("x", "new x");
    let none = BTreeMap::new();
    let missing = branch(&[("x", None)], None);
    // The branch holds another content, or another mode, or nothing.
    let stale = branch(&[("x", entry("older x"))], None);
    assert!(carried_file(&x, &stale, &missing, &none).is_none());
    let mut chmod = branch(&[("x", entry("new x"))], None);
    chmod.files.get_mut("x").unwrap().as_mut().unwrap().mode = Some(FileMode::Executable);
    assert!(carried_file(&x, &chmod, &missing, &none).is_none());
    let empty = branch(&[], None);
    assert!(carried_file(&x, &empty, &missing, &none).is_none());
    // The default branch already holds it.
    let holds = branch(&[("x", entry("new x"))], None);
    assert!(carried_file(&x, &holds, &holds, &none).is_none());
    // A hand edit on the default branch: carried as the drift it is.
    let edited = branch(&[("x", entry("hand x"))], None);
    let locked = [("x".to_string(), lock_entry("x", "old x"))].into();
    let f = carried_file(&x, &holds, &edited, &locked).unwrap();
    assert_eq!(
        (f.state, f.reason),
        (FileState::Drifted, Some(Reason::EditedByHand))
    );
}
