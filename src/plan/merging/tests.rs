//! When a merge is needed, its base, which blobs it needs, and what it
//! makes of the file's state.

use super::*;
use crate::blob::FileMode;
use crate::forge::FileEntry;
use crate::plan::fixtures::{desired, entry, lock_entry};

const BASE: &str = "one\ntwo\nthree\n";
const HAND: &str = "ONE\ntwo\nthree\n";
const NEW: &str = "one\ntwo\nTHREE\n";
const BOTH: &str = "ONE\ntwo\nTHREE\n";

fn id(text: &str) -> ObjectId {
    blob_id(text.as_bytes())
}

fn sides<'a>(
    want: Option<&'a DesiredFile>,
    locked: Option<&'a LockEntry>,
    observed: Option<FileEntry>,
) -> Sides<'a> {
    Sides {
        path: "f",
        want,
        locked,
        observed,
    }
}

/// A lock entry recording that distributor merged render `rendered` into
/// the hand-edited `written`.
fn merged_entry(written: &str, rendered: &str) -> LockEntry {
    LockEntry {
        rendered: Some(id(rendered)),
        rendered_text: Some(rendered.to_string()),
        ..lock_entry("f", written)
    }
}

fn found(state: FileState, reason: Option<Reason>) -> Finding {
    Finding {
        state,
        reason,
        desired: Some(id(NEW)),
        rendered: None,
        note: None,
        merge: None,
        merge_needs: Vec::new(),
    }
}

#[test]
fn an_earlier_merge_is_in_sync_while_the_render_is_unchanged() {
    let d = desired("f", BASE);
    let l = merged_entry(HAND, BASE);
    let s = sides(Some(&d), Some(&l), entry(HAND));
    let Some(Earlier::Unchanged { blob, rendered }) = earlier_merge(&s, FileState::Outdated) else {
        panic!("expected unchanged")
    };
    assert_eq!((blob, rendered), (id(HAND), id(BASE)));
}

#[test]
fn an_earlier_merge_is_merged_again_on_its_render_when_the_render_changes() {
    let d = desired("f", NEW);
    let l = merged_entry(HAND, BASE);
    let s = sides(Some(&d), Some(&l), entry(HAND));
    let Some(Earlier::Changed(job)) = earlier_merge(&s, FileState::Outdated) else {
        panic!("expected a merge")
    };
    assert_eq!(
        (job.base, job.ours.blob, job.theirs),
        (id(BASE), id(NEW), id(HAND))
    );
}

#[test]
fn no_earlier_merge_without_a_recorded_render_or_once_changed_again() {
    let d = desired("f", NEW);
    let plain = lock_entry("f", HAND);
    let s = sides(Some(&d), Some(&plain), entry(HAND));
    assert!(earlier_merge(&s, FileState::Outdated).is_none());
    let l = merged_entry(HAND, BASE);
    // Edited again since the merge: that is drift.
    let s = sides(Some(&d), Some(&l), entry("again"));
    assert!(earlier_merge(&s, FileState::Outdated).is_none());
    // The template changed the mode.
    let mut x = desired("f", NEW);
    x.mode = FileMode::Executable;
    let s = sides(Some(&x), Some(&l), entry(HAND));
    assert!(earlier_merge(&s, FileState::Outdated).is_none());
}

#[test]
fn drift_is_merged_on_the_last_render_or_the_written_blob() {
    let d = desired("f", NEW);
    let plain = lock_entry("f", BASE);
    let s = sides(Some(&d), Some(&plain), entry(HAND));
    let edited = Some(Reason::EditedByHand);
    let job = drift_merge(&s, FileState::Drifted, edited, false).unwrap();
    assert_eq!((job.base, job.theirs), (id(BASE), id(HAND)));
    let l = merged_entry("written", BASE);
    let s = sides(Some(&d), Some(&l), entry(HAND));
    assert_eq!(
        drift_merge(&s, FileState::Drifted, edited, false).map(|j| j.base),
        Some(id(BASE))
    );
}

#[test]
fn no_drift_merge_when_forced_for_other_drift_or_an_unchanged_template() {
    let d = desired("f", NEW);
    let l = lock_entry("f", BASE);
    let s = sides(Some(&d), Some(&l), entry(HAND));
    let edited = Some(Reason::EditedByHand);
    assert!(drift_merge(&s, FileState::Drifted, edited, true).is_none());
    assert!(drift_merge(&s, FileState::Waived, edited, false).is_none());
    let mode = Some(Reason::ModeChangedByHand);
    assert!(drift_merge(&s, FileState::Drifted, mode, false).is_none());
    // The template did not change since it was written.
    let same = lock_entry("f", NEW);
    let s = sides(Some(&d), Some(&same), entry(HAND));
    assert!(drift_merge(&s, FileState::Drifted, edited, false).is_none());
    // The repository's file became executable.
    let chmod = Some(FileEntry {
        blob: id(HAND),
        mode: Some(FileMode::Executable),
    });
    let s = sides(Some(&d), Some(&l), chmod);
    assert!(drift_merge(&s, FileState::Drifted, edited, false).is_none());
}

#[test]
fn a_merge_without_its_blobs_names_the_ones_to_read() {
    let d = desired("f", NEW);
    let job = MergeJob {
        base: id(BASE),
        ours: &d,
        theirs: id(HAND),
    };
    let none = BTreeMap::new();
    let plain = lock_entry("f", BASE);
    assert_eq!(
        resolve("f", &job, Some(&plain), &none),
        MergeStep::Needs(vec![id(BASE), id(HAND)])
    );
    // The lock embeds the base: only the repository's content is needed.
    let l = merged_entry("written", BASE);
    assert_eq!(embedded_base(Some(&l), id(BASE)), Some(BASE.as_bytes()));
    assert_eq!(
        resolve("f", &job, Some(&l), &none),
        MergeStep::Needs(vec![id(HAND)])
    );
    // An embedded text that is not the render is not trusted.
    let forged = LockEntry {
        rendered_text: Some("forged".into()),
        ..merged_entry("written", BASE)
    };
    assert_eq!(embedded_base(Some(&forged), id(BASE)), None);
}

#[test]
fn a_merge_with_its_blobs_runs() {
    let d = desired("f", NEW);
    let job = MergeJob {
        base: id(BASE),
        ours: &d,
        theirs: id(HAND),
    };
    let contents = [
        (id(BASE), BASE.as_bytes().to_vec()),
        (id(HAND), HAND.as_bytes().to_vec()),
    ]
    .into();
    let MergeStep::Done(MergeOutcome::Clean { content, .. }) = resolve("f", &job, None, &contents)
    else {
        panic!("expected a clean merge")
    };
    assert_eq!(content, BOTH.as_bytes());
}

#[test]
fn a_clean_merge_is_delivered_with_its_render() {
    let d = desired("f", NEW);
    let job = MergeJob {
        base: id(BASE),
        ours: &d,
        theirs: id(HAND),
    };
    let mut f = found(FileState::Drifted, Some(Reason::EditedByHand));
    let outcome = MergeOutcome::Clean {
        content: BOTH.as_bytes().to_vec(),
        kept: Vec::new(),
    };
    apply(&mut f, &job, MergeStep::Done(outcome.clone()));
    assert_eq!((f.state, f.reason), (FileState::Merged, None));
    assert_eq!((f.desired, f.rendered), (Some(id(BOTH)), Some(id(NEW))));
    assert_eq!(f.merge, Some(outcome));
}

#[test]
fn a_clean_merge_the_repository_already_holds_is_in_sync() {
    let d = desired("f", NEW);
    let job = MergeJob {
        base: id(BASE),
        ours: &d,
        theirs: id(BOTH),
    };
    let mut f = found(FileState::Drifted, Some(Reason::EditedByHand));
    let outcome = MergeOutcome::Clean {
        content: BOTH.as_bytes().to_vec(),
        kept: Vec::new(),
    };
    apply(&mut f, &job, MergeStep::Done(outcome));
    assert_eq!(
        (f.state, f.reason),
        (FileState::InSync, Some(Reason::HandEditsKept))
    );
    assert_eq!(f.desired, Some(id(BOTH)));
}

#[test]
fn a_conflict_is_proposed_as_the_render() {
    let d = desired("f", NEW);
    let job = MergeJob {
        base: id(BASE),
        ours: &d,
        theirs: id(HAND),
    };
    let mut f = found(FileState::Drifted, Some(Reason::EditedByHand));
    let outcome = MergeOutcome::Conflict {
        hunks: Vec::new(),
        reason: "same lines".into(),
    };
    apply(&mut f, &job, MergeStep::Done(outcome));
    assert_eq!(
        (f.state, f.reason),
        (FileState::Conflicted, Some(Reason::EditedByHand))
    );
    assert_eq!((f.desired, f.rendered), (Some(id(NEW)), None));
}

#[test]
fn kept_hand_edits_are_never_overwritten_unmerged() {
    let d = desired("f", NEW);
    let job = MergeJob {
        base: id(BASE),
        ours: &d,
        theirs: id(HAND),
    };
    let mut f = found(FileState::Outdated, None);
    apply(&mut f, &job, MergeStep::Needs(vec![id(HAND)]));
    assert_eq!(
        (f.state, f.reason),
        (FileState::Drifted, Some(Reason::EditedByHand))
    );
    assert_eq!(f.merge_needs, [id(HAND)]);
    // Drift stays drift, waiting for the blobs.
    let mut f = found(FileState::Drifted, Some(Reason::EditedByHand));
    apply(&mut f, &job, MergeStep::Needs(vec![id(BASE), id(HAND)]));
    assert_eq!(f.state, FileState::Drifted);
    assert_eq!(f.merge_needs, [id(BASE), id(HAND)]);
}
