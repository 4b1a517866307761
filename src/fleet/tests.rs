//! The fleet grouping on hand-built plans: what this revision changes
//! versus what was pending, reach, production, routes and waits.

use std::collections::BTreeMap;

use super::*;
use crate::blob::blob_id;
use crate::lock::Source;
use crate::plan::fixtures::{branch, desired, entry, lock_of, observe, plan, repo};
use crate::plan::verdict::RepoPolicy;

/// A repo `name` of `team` with files `a` (rendered `a2`, was `a1`) and
/// `b` (rendered `b1`), both outdated against a lock of `a1`, `b0`.
fn repo_plan(name: &str, team: &str, delivery: &str) -> RepoPlan {
    let want = [desired("a", "a2"), desired("b", "b1")];
    let obs = observe(
        branch(
            &[("a", entry("a1")), ("b", entry("b0"))],
            Some(lock_of(&[("a", "a1"), ("b", "b0")])),
        ),
        None,
    );
    let mut p = plan(&repo(delivery), &want, &obs);
    p.repo = RepoId::new("acme", name);
    p.team = team.into();
    p
}

fn fleet(repos: Vec<RepoPlan>) -> Plan {
    Plan {
        source: Source {
            revision: "new".into(),
            dirty: false,
            digest: None,
        },
        generator: "distributor test".into(),
        force_reason: None,
        rollback: None,
        repos,
        errors: vec![],
        rollout: None,
    }
}

/// The previous revision rendered `a1` and `b1` everywhere: only `a`'s
/// change is this revision's, `b` was pending; the input was `flag x` in
/// prd.
fn baseline(repos: &[&str]) -> Baseline {
    let files: BTreeMap<String, crate::blob::ObjectId> = [
        ("a".to_string(), blob_id(b"a1")),
        ("b".to_string(), blob_id(b"b1")),
    ]
    .into();
    Baseline {
        revision: "old".into(),
        blobs: repos
            .iter()
            .map(|r| (RepoId::new("acme", *r), files.clone()))
            .collect(),
        inputs: vec![InputChange {
            kind: InputKind::Flag,
            name: "x".into(),
            detail: "defaults.flags.x.prd: false -> true".into(),
        }],
    }
}

fn envs(repos: &[&str]) -> BTreeMap<RepoId, Vec<String>> {
    repos
        .iter()
        .map(|r| (RepoId::new("acme", *r), vec!["dev".into(), "prd".into()]))
        .collect()
}

#[test]
fn only_files_whose_render_moved_are_this_revisions_change() {
    let plan = fleet(vec![
        repo_plan("one", "t1", "direct"),
        repo_plan("two", "t2", "pr"),
    ]);
    let b = baseline(&["one", "two"]);
    let got = summarize(
        &plan,
        &Context {
            baseline: Some(&b),
            environments: envs(&["one", "two"]),
        },
    );
    assert_eq!(got.schema, "distributor.fleet/v1");
    assert_eq!(got.baseline.as_deref(), Some("old"));
    assert_eq!(got.changes.len(), 1);
    let g = &got.changes[0];
    assert_eq!(g.kind, "flag");
    assert_eq!(g.templates, vec!["b/a.j2"]);
    assert_eq!(g.causes, vec!["flag x"]);
    assert_eq!(g.files, vec!["a"]);
    assert_eq!(g.repos, vec!["acme/one", "acme/two"]);
    assert_eq!(g.teams, vec!["t1", "t2"]);
    // The flag changed in prd only: that is the environment reached.
    assert_eq!(g.environments, vec!["prd"]);
    assert_eq!(g.production, vec!["prd"]);
    assert_eq!(
        g.routes,
        Routes {
            direct_commits: 1,
            proposals_opened: 1,
            proposals_updated: 0,
            released: 0,
        }
    );
    assert_eq!(
        got.pending_before,
        Pending {
            repos: 2,
            files: 2,
            unmerged_proposals: vec![],
            drifted_files: 0,
            undelivered_files: 2,
        }
    );
    assert_eq!(got.by_repo[&RepoId::new("acme", "one")], (1, 1));
}

#[test]
fn a_repo_new_to_the_registry_is_all_this_revision_and_waits_are_grouped() {
    let mut held = repo_plan("new", "t", "pr");
    held.policy = Some(RepoPolicy {
        decision: Decision::Held {
            reason: "wave early waits for wave canary".into(),
            until: None,
        },
        staleness: Default::default(),
        escalation: None,
    });
    let plan = fleet(vec![repo_plan("old", "t", "direct"), held]);
    let b = baseline(&["old"]);
    let got = summarize(
        &plan,
        &Context {
            baseline: Some(&b),
            environments: BTreeMap::new(),
        },
    );
    // `a` moved everywhere; `b` is new for acme/new only.
    assert_eq!(got.changes.len(), 2);
    assert_eq!(got.changes[0].files, vec!["a"]);
    assert_eq!(got.changes[0].repos, vec!["acme/new", "acme/old"]);
    assert_eq!(got.changes[1].files, vec!["b"]);
    assert_eq!(got.changes[1].repos, vec!["acme/new"]);
    assert_eq!(
        got.changes[0].waits,
        vec![Wait {
            decision: "held".into(),
            reason: "wave early waits for wave canary".into(),
            repos: vec!["acme/new".into()],
        }]
    );
    assert_eq!(got.pending_before.files, 1);
}

#[test]
fn without_a_baseline_every_change_is_counted_as_this_revisions() {
    let plan = fleet(vec![repo_plan("one", "t", "direct")]);
    let got = summarize(&plan, &Context::default());
    assert_eq!(got.baseline, None);
    // Two templates with the same reach: one group.
    assert_eq!(got.changes.len(), 1);
    assert_eq!(got.changes[0].kind, "unknown");
    assert_eq!(got.changes[0].templates, vec!["b/a.j2", "b/b.j2"]);
    assert_eq!(got.changes[0].files, vec!["a", "b"]);
    assert_eq!(got.pending_before, Pending::default());
}

#[test]
fn production_names() {
    for p in ["prd", "PROD", "production", "prd-eu"] {
        assert!(is_production(p), "{p}");
    }
    for p in ["dev", "preprod", "stg", "prdx"] {
        assert!(!is_production(p), "{p}");
    }
}
