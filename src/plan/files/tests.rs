//! The run's scope and managed paths, per-file plans (orphans, waivers,
//! force), and the merged contents a plan keeps.

use super::*;
use crate::blob::blob_id;
use crate::plan::Route;
use crate::plan::fixtures::{desired, entry, file, lock_entry};
use crate::registry::WaiverScope;

static NO_CONTENTS: BTreeMap<ObjectId, Vec<u8>> = BTreeMap::new();

fn proposing() -> Routing {
    Routing {
        route: Route::Proposal,
        reason: "pr".into(),
    }
}

fn waiver(scope: WaiverScope, expires_at: Epoch, reason: Option<&str>) -> Waiver {
    Waiver {
        scope,
        owner: "alice".into(),
        expires: "2030-01-31".into(),
        expires_at,
        reason: reason.map(str::to_string),
    }
}

/// Plans `path` of a repo whose default branch holds `observed` and whose
/// lock records `locked`.
fn plan_one(
    want: &[DesiredFile],
    locked: &BTreeMap<String, LockEntry>,
    observed: &BTreeMap<String, Option<FileEntry>>,
    waivers: &[Waiver],
    forced: bool,
    path: &str,
) -> Option<FilePlan> {
    let desired = want.iter().map(|d| (d.path.as_str(), d)).collect();
    let routing = proposing();
    let ctx = FileContext {
        desired: &desired,
        locked,
        observed,
        waivers,
        now: 100,
        forced,
        contents: &NO_CONTENTS,
        routing: &routing,
        overdue: None,
    };
    plan_file(&ctx, ctx.sides(path))
}

/// What `find` makes of `a` (desired `want`, locked `lock`, holding
/// `held`) with `contents` at hand.
fn find_a(
    want: &str,
    lock: LockEntry,
    held: &str,
    contents: &BTreeMap<ObjectId, Vec<u8>>,
) -> Finding {
    let d = desired("a", want);
    let desired = [("a", &d)].into();
    let locked = [("a".to_string(), lock)].into();
    let observed = [("a".to_string(), entry(held))].into();
    let routing = proposing();
    let ctx = FileContext {
        desired: &desired,
        locked: &locked,
        observed: &observed,
        waivers: &[],
        now: 100,
        forced: false,
        contents,
        routing: &routing,
        overdue: None,
    };
    find(&ctx, &ctx.sides("a"), "b").unwrap()
}

#[test]
fn the_scope_is_every_bundle_unless_filtered() {
    let all = Scope::new(None);
    assert!(all.contains("b") && !all.filtered());
    let only: BTreeSet<String> = ["b".to_string()].into();
    let some = Scope::new(Some(&only));
    assert!(some.contains("b") && !some.contains("other") && some.filtered());
}

#[test]
fn managed_paths_are_desired_or_locked_in_scope_sorted_once() {
    let mut other = desired("x", "x");
    other.bundle = "other".into();
    let want = [desired("b", "b"), desired("a", "a"), other];
    let by_path = want.iter().map(|d| (d.path.as_str(), d)).collect();
    let mut locked: BTreeMap<String, LockEntry> = [("a", "old a"), ("gone", "g"), ("y", "y")]
        .map(|(p, c)| (p.to_string(), lock_entry(p, c)))
        .into();
    locked.get_mut("y").unwrap().bundle = "other".into();
    let all: Vec<&str> = managed_paths(&by_path, &locked, Scope::new(None))
        .into_iter()
        .collect();
    assert_eq!(all, ["a", "b", "gone", "x", "y"]);
    let only: BTreeSet<String> = ["b".to_string()].into();
    let some: Vec<&str> = managed_paths(&by_path, &locked, Scope::new(Some(&only)))
        .into_iter()
        .collect();
    assert_eq!(some, ["a", "b", "gone"]);
}

#[test]
fn an_orphan_takes_bundle_template_and_mode_from_the_lock() {
    let mut l = lock_entry("o", "o");
    l.bundle = "old-bundle".into();
    l.template = "old-bundle/o.j2".into();
    l.mode = FileMode::Executable;
    let locked = [("o".to_string(), l)].into();
    let observed = [("o".to_string(), None)].into();
    let f = plan_one(&[], &locked, &observed, &[], false, "o").unwrap();
    assert_eq!(
        (f.state, f.reason, f.route),
        (
            FileState::Orphaned,
            Some(Reason::AlreadyRemoved),
            Route::Release
        )
    );
    assert_eq!(
        (f.bundle.as_str(), f.template.as_str(), f.mode),
        ("old-bundle", "old-bundle/o.j2", FileMode::Executable)
    );
    assert_eq!((f.desired, f.locked), (None, Some(blob_id(b"o"))));
}

#[test]
fn a_path_neither_desired_nor_locked_has_no_plan() {
    let observed = [("a".to_string(), entry("a"))].into();
    assert!(plan_one(&[], &BTreeMap::new(), &observed, &[], false, "a").is_none());
}

#[test]
fn an_active_waiver_waives_drift_and_says_until_when() {
    let mut found = Finding {
        state: FileState::Drifted,
        reason: Some(Reason::EditedByHand),
        desired: Some(blob_id(b"new")),
        rendered: None,
        note: None,
        merge: None,
        merge_needs: Vec::new(),
    };
    let w = waiver(WaiverScope::File("a".into()), 200, Some("pinned runner"));
    apply_waiver(&mut found, Some(&w), 100);
    assert_eq!(found.state, FileState::Waived);
    assert_eq!(found.reason, Some(Reason::EditedByHand));
    assert_eq!(
        found.note.as_deref(),
        Some("drift waived by alice until 2030-01-31: pinned runner")
    );
}

#[test]
fn an_expired_waiver_leaves_drift_in_scope_with_a_note() {
    let mut found = Finding {
        state: FileState::Drifted,
        reason: Some(Reason::NotManagedYet),
        desired: None,
        rendered: None,
        note: None,
        merge: None,
        merge_needs: Vec::new(),
    };
    let before = found.clone();
    apply_waiver(&mut found, None, 100);
    assert_eq!(found, before, "no waiver, no change");
    let w = waiver(WaiverScope::Bundle("b".into()), 100, None);
    apply_waiver(&mut found, Some(&w), 100);
    assert_eq!(found.state, FileState::Drifted);
    assert_eq!(
        found.note.as_deref(),
        Some("the drift waiver by alice expired on 2030-01-31: back in scope")
    );
}

#[test]
fn waivers_cover_drift_by_file_or_bundle_but_not_a_forced_run() {
    let want = [desired("a", "new a")];
    let locked = [("a".to_string(), lock_entry("a", "old a"))].into();
    let observed = [("a".to_string(), entry("hand a"))].into();
    let by_bundle = [waiver(WaiverScope::Bundle("b".into()), 200, None)];
    let f = plan_one(&want, &locked, &observed, &by_bundle, false, "a").unwrap();
    assert_eq!((f.state, f.route), (FileState::Waived, Route::None));
    let elsewhere = [waiver(WaiverScope::File("z".into()), 200, None)];
    let f = plan_one(&want, &locked, &observed, &elsewhere, false, "a").unwrap();
    assert_eq!((f.state, f.note), (FileState::Drifted, None));
    let f = plan_one(&want, &locked, &observed, &by_bundle, true, "a").unwrap();
    assert_eq!((f.state, f.note), (FileState::Drifted, None));
}

#[test]
fn find_keeps_an_earlier_merge_in_sync_while_its_render_is_unchanged() {
    let lock = LockEntry {
        rendered: Some(blob_id(b"render\n")),
        rendered_text: Some("render\n".into()),
        ..lock_entry("a", "render\nhand\n")
    };
    let f = find_a("render\n", lock, "render\nhand\n", &NO_CONTENTS);
    assert_eq!(
        (f.state, f.reason),
        (FileState::InSync, Some(Reason::HandEditsKept))
    );
    assert_eq!(f.desired, Some(blob_id(b"render\nhand\n")));
    assert_eq!(f.rendered, Some(blob_id(b"render\n")));
}

/// The urgent fix lands: under `--force` a file merged earlier (lock with
/// `rendered`, hand edits kept) gets exactly the new render, and no merge
/// is tried or asked for, whether the render changed or not.
#[test]
fn a_forced_run_gives_a_file_merged_earlier_exactly_the_render() {
    let merged = "render\nhand\n";
    let lock = LockEntry {
        rendered: Some(blob_id(b"render\n")),
        rendered_text: Some("render\n".into()),
        ..lock_entry("a", merged)
    };
    let locked: BTreeMap<String, LockEntry> = [("a".to_string(), lock)].into();
    let observed = [("a".to_string(), entry(merged))].into();
    for render in ["render\n", "render-fixed\n"] {
        let want = [desired("a", render)];
        let f = plan_one(&want, &locked, &observed, &[], true, "a").unwrap();
        // Outdated: routed as the run's delivery says (direct when forced;
        // this fixture's routing proposes).
        assert_eq!(f.state, FileState::Outdated, "{render:?}");
        assert_eq!(f.desired, Some(blob_id(render.as_bytes())), "{render:?}");
        assert!(f.merge.is_none() && f.merge_needs.is_empty(), "{render:?}");
        // Without --force the hand edits are kept: in sync with the merge,
        // or merged again (the blobs a merge needs are asked for).
        let f = plan_one(&want, &locked, &observed, &[], false, "a").unwrap();
        assert!(
            f.desired != Some(blob_id(render.as_bytes())) || !f.merge_needs.is_empty(),
            "{render:?}: {f:?}"
        );
    }
}

#[test]
fn find_merges_drift_once_it_has_the_blobs_and_asks_for_them_before() {
    let (base, hand, new) = ("1\n2\n3\n", "H\n2\n3\n", "1\n2\nN\n");
    let f = find_a(new, lock_entry("a", base), hand, &NO_CONTENTS);
    assert_eq!(
        (f.state, f.reason),
        (FileState::Drifted, Some(Reason::EditedByHand))
    );
    assert_eq!(
        f.merge_needs,
        [blob_id(base.as_bytes()), blob_id(hand.as_bytes())]
    );
    let contents = [base, hand]
        .map(|t| (blob_id(t.as_bytes()), t.as_bytes().to_vec()))
        .into();
    let f = find_a(new, lock_entry("a", base), hand, &contents);
    assert_eq!((f.state, f.reason), (FileState::Merged, None));
    assert_eq!(f.desired, Some(blob_id(b"H\n2\nN\n")));
    assert_eq!(f.rendered, Some(blob_id(new.as_bytes())));
    assert!(f.merge_needs.is_empty());
}

#[test]
fn merged_contents_are_those_of_merged_files() {
    let clean = |content: &str| MergeOutcome::Clean {
        content: content.as_bytes().to_vec(),
        kept: Vec::new(),
    };
    let mut merged = file("m", FileState::Merged, Route::Direct, Some("m\n"));
    merged.merge = Some(clean("m\n"));
    // Merged, then found already in the repository: nothing to keep.
    let mut kept = file("k", FileState::InSync, Route::None, Some("k\n"));
    kept.merge = Some(clean("k\n"));
    let plain = file("p", FileState::Missing, Route::Direct, Some("p\n"));
    let got = merged_contents(&[merged, kept, plain]);
    assert_eq!(got, [(blob_id(b"m\n"), b"m\n".to_vec())].into());
}
