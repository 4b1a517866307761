//! Stacking a proposal update on the proposal's tip: the writes against
//! its tree, and when it falls back to a rebuild.

use std::collections::BTreeSet;

use super::*;
use crate::blob::blob_id;
use crate::lock::Lock;
use crate::plan::fixtures::{branch, entry, lock_of};

fn lock(files: &[(&str, &str)]) -> Lock {
    let bytes = lock_of(files);
    Lock::parse("lock", std::str::from_utf8(&bytes).unwrap()).unwrap()
}

fn commit(writes: &[(&str, Option<&str>)], locked: &[(&str, &str)]) -> CommitPlan {
    CommitPlan {
        branch: "distributor/sync".into(),
        writes: writes
            .iter()
            .map(|(p, c)| PlannedWrite {
                path: p.to_string(),
                blob: c.map(|c| blob_id(c.as_bytes())),
                mode: FileMode::Regular,
            })
            .collect(),
        lock: lock(locked),
        message: "m".into(),
    }
}

fn write(path: &str, content: Option<&str>) -> PlannedWrite {
    PlannedWrite {
        path: path.into(),
        blob: content.map(|c| blob_id(c.as_bytes())),
        mode: FileMode::Regular,
    }
}

#[test]
fn a_file_back_in_sync_gets_the_base_content_and_an_added_one_goes() {
    // Base: a, b (in sync now). Old proposal changed a, b and added c.
    let default = branch(&[("a", entry("a0")), ("b", entry("b0")), ("c", None)], None);
    let proposal = branch(
        &[("a", entry("a1")), ("b", entry("b1")), ("c", entry("c1"))],
        None,
    );
    // Now only a changes (to a2); b renders as the base has it; c is gone.
    let desired_b = blob_id(b"b0");
    let at_hand = BTreeSet::from([blob_id(b"a2"), desired_b]);
    let tips = Tips {
        proposal: &proposal,
        default: &default,
        at_hand: &at_hand,
    };
    let planned = commit(&[("a", Some("a2"))], &[("a", "a2"), ("b", "b0")]);
    let writes = writes_on_tip(&planned, &tips).expect("stacked");
    assert_eq!(
        writes,
        vec![
            write("a", Some("a2")),
            write("b", Some("b0")),
            write("c", None)
        ]
    );
}

#[test]
fn an_unchanged_path_is_not_written_again() {
    let default = branch(&[("a", entry("a0"))], None);
    let proposal = branch(&[("a", entry("a1"))], None);
    let at_hand = BTreeSet::new();
    let tips = Tips {
        proposal: &proposal,
        default: &default,
        at_hand: &at_hand,
    };
    let planned = commit(&[("a", Some("a1"))], &[("a", "a1")]);
    assert_eq!(writes_on_tip(&planned, &tips), Some(Vec::new()));
}

#[test]
fn content_not_at_hand_or_not_recorded_means_a_rebuild() {
    // b goes back to a hand-edited base content the executor does not have.
    let default = branch(&[("a", entry("a0")), ("b", entry("human b"))], None);
    let proposal = branch(&[("a", entry("a1")), ("b", entry("b1"))], None);
    let none = BTreeSet::new();
    let tips = Tips {
        proposal: &proposal,
        default: &default,
        at_hand: &none,
    };
    let planned = commit(&[("a", Some("a2"))], &[("a", "a2"), ("b", "human b")]);
    assert_eq!(writes_on_tip(&planned, &tips), None);
    // The lock would not record what the commit leaves at b.
    let at_hand = BTreeSet::from([blob_id(b"human b")]);
    let tips = Tips {
        at_hand: &at_hand,
        ..tips
    };
    let planned = commit(&[("a", Some("a2"))], &[("a", "a2"), ("b", "b1")]);
    assert_eq!(writes_on_tip(&planned, &tips), None);
}
