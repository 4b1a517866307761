//! Reading a branch's lock, and the direct and proposal locks built from
//! planned files: waived, orphaned, released, proposed, carried, merged.

use super::*;
use crate::blob::blob_id;
use crate::plan::fixtures::{desired, file, lock_entry, lock_of};

fn locked(files: &[(&str, &str)]) -> BTreeMap<String, LockEntry> {
    files
        .iter()
        .map(|(p, c)| (p.to_string(), lock_entry(p, c)))
        .collect()
}

fn blobs(lock: &BTreeMap<String, LockEntry>) -> Vec<(&str, ObjectId)> {
    lock.iter().map(|(p, e)| (p.as_str(), e.blob)).collect()
}

fn id(text: &str) -> ObjectId {
    blob_id(text.as_bytes())
}

#[test]
fn a_branch_without_a_lock_has_none() {
    assert_eq!(read("l in acme/r", None), Ok(None));
}

#[test]
fn a_lock_is_read() {
    let lock = read("l", Some(&lock_of(&[("a", "a")]))).unwrap().unwrap();
    assert_eq!(lock.source.revision, "old");
    assert_eq!(blobs(&lock.files), [("a", id("a"))]);
}

#[test]
fn an_unreadable_lock_is_an_error_naming_it() {
    let r = RepoId::new("acme", "r");
    let where_ = location(".github/distributor.lock.json", &r);
    assert_eq!(where_, ".github/distributor.lock.json in acme/r");
    assert_eq!(
        read(&where_, Some(&[0xff, 0xfe])),
        Err(".github/distributor.lock.json in acme/r is not UTF-8 text".into())
    );
    let err = read(&where_, Some(b"{not json")).unwrap_err();
    assert!(
        err.starts_with(
            ".github/distributor.lock.json in acme/r is not a valid distributor lock file ("
        ),
        "{err}"
    );
}

#[test]
fn a_new_lock_records_the_run() {
    let source = Source {
        revision: "abc".into(),
        dirty: true,
        digest: Some("d".into()),
    };
    let lock = new_lock(&source, locked(&[("a", "a")]));
    assert_eq!(lock.version, LOCK_VERSION);
    assert_eq!(lock.source, source);
    assert_eq!(lock.generator, generator());
    assert_eq!(blobs(&lock.files), [("a", id("a"))]);
}

#[test]
fn the_direct_lock_records_direct_and_in_sync_files_and_keeps_the_rest() {
    let old = locked(&[
        ("waived", "old w"),
        ("proposed", "old p"),
        ("deleted", "d"),
        ("released", "r"),
        ("outdated", "old o"),
    ]);
    let files = [
        file("waived", FileState::Waived, Route::None, Some("new w")),
        file(
            "proposed",
            FileState::Drifted,
            Route::Proposal,
            Some("new p"),
        ),
        file("deleted", FileState::Orphaned, Route::Direct, None),
        file("released", FileState::Orphaned, Route::Release, None),
        file(
            "outdated",
            FileState::Outdated,
            Route::Direct,
            Some("new o"),
        ),
        file("synced", FileState::InSync, Route::None, Some("s")),
    ];
    let no_desired = BTreeMap::new();
    let entries = Entries {
        desired: &no_desired,
        locked: &old,
    };
    let lock = direct_lock(&old, &files, &entries);
    assert_eq!(
        blobs(&lock),
        [
            ("outdated", id("new o")),
            ("proposed", id("old p")),
            ("synced", id("s")),
            ("waived", id("old w")),
        ]
    );
}

#[test]
fn the_proposal_lock_adds_proposed_and_carried_files_and_drops_orphans() {
    let direct = locked(&[("proposed", "old p"), ("orphan", "o"), ("kept", "k")]);
    let files = [
        file(
            "proposed",
            FileState::Outdated,
            Route::Proposal,
            Some("new p"),
        ),
        file("orphan", FileState::Orphaned, Route::Proposal, None),
        file("kept", FileState::InSync, Route::None, Some("k")),
    ];
    let mut carried = file("x", FileState::Missing, Route::Proposal, Some("x"));
    carried.bundle = "other".into();
    let no_desired = BTreeMap::new();
    let entries = Entries {
        desired: &no_desired,
        locked: &direct,
    };
    let lock = proposal_lock(&direct, &files, &[carried], &entries);
    assert_eq!(
        blobs(&lock),
        [("kept", id("k")), ("proposed", id("new p")), ("x", id("x"))]
    );
    assert_eq!(lock["x"].bundle, "other");
    assert_eq!(lock["proposed"].template, "b/proposed.j2");
}

#[test]
fn an_entry_records_the_delivered_file_and_an_orphan_has_none() {
    let no_desired = BTreeMap::new();
    let old = BTreeMap::new();
    let entries = Entries {
        desired: &no_desired,
        locked: &old,
    };
    let f = file("a", FileState::Missing, Route::Direct, Some("a"));
    assert_eq!(entries.entry(&f), Some(lock_entry("a", "a")));
    let orphan = file("o", FileState::Orphaned, Route::Direct, None);
    assert_eq!(entries.entry(&orphan), None);
}

#[test]
fn a_merged_file_records_its_render_and_the_render_text() {
    let render = desired("m", "rendered\n");
    let by_path = [("m", &render)].into();
    let old = BTreeMap::new();
    let entries = Entries {
        desired: &by_path,
        locked: &old,
    };
    let mut f = file("m", FileState::Merged, Route::Direct, Some("merged\n"));
    f.rendered = Some(render.blob);
    let e = entries.entry(&f).unwrap();
    assert_eq!(e.blob, id("merged\n"));
    assert_eq!(e.rendered, Some(render.blob));
    assert_eq!(e.rendered_text.as_deref(), Some("rendered\n"));
}

#[test]
fn a_render_that_is_not_desired_keeps_the_text_the_old_lock_carries() {
    let mut old_entry = lock_entry("m", "merged\n");
    old_entry.rendered = Some(id("earlier\n"));
    old_entry.rendered_text = Some("earlier\n".into());
    let old = [("m".to_string(), old_entry)].into();
    let render = desired("m", "other\n");
    let by_path = [("m", &render)].into();
    let entries = Entries {
        desired: &by_path,
        locked: &old,
    };
    let mut f = file("m", FileState::InSync, Route::None, Some("merged\n"));
    f.rendered = Some(id("earlier\n"));
    let e = entries.entry(&f).unwrap();
    assert_eq!(e.rendered_text.as_deref(), Some("earlier\n"));
    // A render neither desired nor in the lock has no text.
    f.rendered = Some(id("unknown\n"));
    assert_eq!(entries.entry(&f).unwrap().rendered_text, None);
}
