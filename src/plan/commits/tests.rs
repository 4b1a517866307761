//! The direct and proposal commits built from routed files.

use std::collections::BTreeMap;

use super::*;
use crate::blob::{FileMode, blob_id};
use crate::plan::fixtures::{file, settings};
use crate::plan::{FileState, PlannedWrite, locks};

fn lock() -> Lock {
    locks::new_lock(&settings().source, BTreeMap::new())
}

fn paths(c: &CommitPlan) -> Vec<&str> {
    c.writes.iter().map(|w| w.path.as_str()).collect()
}

#[test]
fn no_direct_commit_without_direct_changes() {
    let files = [
        file("a", FileState::InSync, Route::None, Some("a")),
        file("b", FileState::Drifted, Route::Proposal, Some("b")),
    ];
    assert!(direct_commit(&files, "main", lock(), &settings().source, None, None).is_none());
}

#[test]
fn the_direct_commit_writes_and_deletes_its_files_with_the_lock() {
    let files = [
        file("a", FileState::Missing, Route::Direct, Some("a")),
        file("b", FileState::Drifted, Route::Proposal, Some("b")),
        file("gone", FileState::Orphaned, Route::Direct, None),
    ];
    let c = direct_commit(
        &files,
        "main",
        lock(),
        &settings().source,
        Some("CVE"),
        None,
    )
    .unwrap();
    assert_eq!(c.branch, "main");
    assert_eq!(
        c.writes,
        [
            PlannedWrite {
                path: "a".into(),
                blob: Some(blob_id(b"a")),
                mode: FileMode::Regular,
            },
            PlannedWrite {
                path: "gone".into(),
                blob: None,
                mode: FileMode::Regular,
            },
        ]
    );
    assert_eq!(c.lock, lock());
    assert!(
        c.message
            .starts_with("distributor: forced update of 2 managed files\n\nReason: CVE\n"),
        "{}",
        c.message
    );
}

#[test]
fn the_proposal_carries_proposed_and_carried_files_in_path_order() {
    let files = [
        file("c", FileState::Outdated, Route::Proposal, Some("c")),
        file("a", FileState::Missing, Route::Direct, Some("a")),
        file("e", FileState::Drifted, Route::Proposal, Some("e")),
    ];
    let carried = [file("d", FileState::Missing, Route::Proposal, Some("d"))];
    let all: Vec<&str> = on_proposal(&files, &carried)
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(all, ["c", "d", "e"]);
    let on = on_proposal(&files, &carried);
    let c = proposal_commit(
        &files,
        &on,
        "distributor/sync",
        lock(),
        &settings().source,
        None,
    )
    .unwrap();
    assert_eq!(c.branch, "distributor/sync");
    assert_eq!(paths(&c), ["c", "d", "e"]);
    assert!(
        c.message
            .starts_with("distributor: propose update of 3 managed files\n\n"),
        "{}",
        c.message
    );
}

#[test]
fn carried_changes_alone_make_no_proposal_commit() {
    let files = [file("a", FileState::Missing, Route::Direct, Some("a"))];
    let carried = [file("d", FileState::Missing, Route::Proposal, Some("d"))];
    let on = on_proposal(&files, &carried);
    assert_eq!(on.len(), 1);
    assert!(proposal_commit(&files, &on, "s", lock(), &settings().source, None).is_none());
}
