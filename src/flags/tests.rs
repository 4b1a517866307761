//! The flag report on a small fleet rendered for real (so each file's flag
//! reads come from the renderer) with plans set by hand to each standing.

use std::collections::BTreeMap;

use super::*;
use crate::forge::PullRequest;
use crate::plan::fixtures::{branch, file, observe, plan};
use crate::plan::verdict::RepoPolicy;
use crate::registry::{parse, resolve};
use crate::render::TemplateSet;

const DAY: Epoch = 86_400;
const NOW: Epoch = 100 * DAY;

const REGISTRY: &str = r#"{
  "version": 1,
  "stages": ["dev", "stg", "prd"],
  "defaults": {"owner": "acme", "bundles": ["b"], "flags": {"new_db": {"dev": true, "stg": true}}},
  "teams": {
    "big": {
      "owners": {"users": ["u"]},
      "environments": {
        "dev": {"account": "111111111111", "region": "eu-west-1"},
        "stg": {"account": "222222222222", "region": "eu-west-1"},
        "prd": {"account": "333333333333", "region": "eu-west-1"}
      },
      "repos": [{"name": "live"}, {"name": "pr-old"}, {"name": "pr-new"}, {"name": "edited"},
                {"name": "held"}, {"name": "direct", "delivery": "direct"}, {"name": "broken"}]
    },
    "small": {
      "owners": {"users": ["u"]},
      "environments": {"dev": {"account": "444444444444", "region": "eu-west-1"}},
      "repos": [{"name": "devonly", "flags": {"new_db": false}}]
    }
  }
}"#;

fn targets() -> Vec<Target> {
    let templates: BTreeMap<String, Vec<u8>> = [
        (
            "b/bundle.yaml",
            "files:\n\
             \x20 - {template: tf.json, path: \"tf/{{ env.name }}.json\", for_each: environment}\n\
             \x20 - {template: README.md, path: README.md}\n",
        ),
        ("b/tf.json", "{\"new_db\": {{ flags.new_db | to_json }}}\n"),
        ("b/README.md", "no flags here\n"),
    ]
    .into_iter()
    .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
    .collect();
    let set = TemplateSet::from_files("templates", &templates).unwrap();
    resolve(&parse("r.json", REGISTRY).unwrap())
        .into_iter()
        .map(|repo| {
            let desired = set.render_repo(&repo).unwrap();
            let mut repo = repo;
            repo.release_render_context();
            Target { repo, desired }
        })
        .collect()
}

/// A plan for `target` where `tf/<stage>.json` files are in `states`
/// (others in sync).
fn repo_plan(target: &Target, states: &[(&str, FileState, Route)]) -> RepoPlan {
    let mut p = plan(
        &target.repo,
        &target.desired,
        &observe(branch(&[], None), None),
    );
    p.repo = target.id();
    p.files = target
        .desired
        .iter()
        .map(|d| {
            let (state, route) = states
                .iter()
                .find(|(path, ..)| *path == d.path)
                .map(|(_, s, r)| (*s, *r))
                .unwrap_or((FileState::InSync, Route::None));
            file(&d.path, state, route, Some("x"))
        })
        .collect();
    p
}

fn pull_request(number: u64, opened: Epoch) -> PullRequest {
    PullRequest {
        number,
        url: format!("https://github.example/acme/x/pull/{number}"),
        node_id: String::new(),
        title: "t".into(),
        body: String::new(),
        created_at: time::rfc3339(opened),
        labels: Vec::new(),
        draft: false,
    }
}

fn fleet() -> (Vec<Target>, Plan) {
    let targets = targets();
    let by = |name: &str| targets.iter().find(|t| t.repo.name == name).unwrap();
    let stg = "tf/stg.json";
    let mut repos = vec![
        repo_plan(by("live"), &[]),
        repo_plan(by("devonly"), &[]),
        {
            let mut p = repo_plan(by("pr-old"), &[(stg, FileState::Outdated, Route::Proposal)]);
            p.open_pull_request = Some(pull_request(7, NOW - 3 * DAY));
            p
        },
        {
            let mut p = repo_plan(by("pr-new"), &[(stg, FileState::Outdated, Route::Proposal)]);
            p.open_pull_request = Some(pull_request(9, NOW - DAY));
            p
        },
        repo_plan(by("edited"), &[(stg, FileState::Drifted, Route::Proposal)]),
        {
            let mut p = repo_plan(by("held"), &[(stg, FileState::Outdated, Route::Proposal)]);
            p.policy = Some(RepoPolicy {
                decision: Decision::Held {
                    reason: "wave late waits for wave early".into(),
                    until: None,
                },
                staleness: Default::default(),
                escalation: None,
            });
            p
        },
        repo_plan(by("direct"), &[(stg, FileState::Missing, Route::Direct)]),
    ];
    repos.sort_by(|a, b| a.repo.cmp(&b.repo));
    let plan = Plan {
        source: crate::plan::fixtures::settings().source,
        generator: "test".into(),
        force_reason: None,
        rollback: None,
        repos,
        errors: vec![crate::plan::RepoError {
            repo: by("broken").id(),
            error: "cannot read the default branch\nmore".into(),
        }],
        rollout: None,
    };
    (targets, plan)
}

fn stages() -> Vec<String> {
    ["dev", "stg", "prd"].map(String::from).to_vec()
}

#[test]
fn each_repo_is_live_pending_waiting_blocked_or_not_applicable_per_stage() {
    let (targets, plan) = fleet();
    let report = report(&targets, &plan, &[], &stages(), NOW, &str::to_string);
    assert_eq!(report.schema, SCHEMA);
    assert_eq!(report.flags.len(), 1);
    let flag = &report.flags[0];
    assert_eq!(flag.name, "new_db");
    let [dev, stg, prd] = &flag.stages[..] else {
        panic!("three stages")
    };

    // dev: every file reading it is in sync (the broken repo fails).
    assert_eq!((dev.on, dev.off), (7, 1), "devonly switched it off");
    assert_eq!(dev.live.len(), 7);
    assert_eq!(dev.waiting.len(), 1);
    assert!(!dev.complete);

    // stg: the interesting one.
    assert_eq!((stg.on, stg.off), (7, 0));
    assert_eq!(stg.live, ["acme/live"]);
    let pending: Vec<(&str, Option<u64>, Option<u64>)> = stg
        .pending
        .iter()
        .map(|p| (p.repo.as_str(), p.pull_request, p.age_secs))
        .collect();
    assert_eq!(
        pending,
        [
            ("acme/pr-old", Some(7), Some(3 * DAY as u64)),
            ("acme/pr-new", Some(9), Some(DAY as u64)),
        ],
        "oldest pull request first"
    );
    assert_eq!(
        stg.blocked,
        [Blocked {
            repo: "acme/edited".into(),
            path: "tf/stg.json".into(),
            state: FileState::Drifted
        }]
    );
    let waiting: BTreeMap<&str, &str> = stg
        .waiting
        .iter()
        .map(|w| (w.repo.as_str(), w.reason.as_str()))
        .collect();
    assert_eq!(
        waiting,
        BTreeMap::from([
            ("acme/broken", "failing: cannot read the default branch"),
            ("acme/direct", "the next apply commits it to `main`"),
            ("acme/held", "wave late waits for wave early"),
        ])
    );
    assert_eq!(stg.not_applicable, ["acme/devonly"]);
    assert!(!stg.complete);

    // prd: off everywhere and in sync where it applies.
    assert_eq!((prd.on, prd.off), (0, 7));
    assert_eq!(prd.not_applicable, ["acme/devonly"]);
    assert_eq!(prd.live.len(), 6);
    assert!(!report.complete);
}

#[test]
fn a_fleet_in_sync_is_complete_and_unread_flags_do_not_hold_it() {
    let targets = targets();
    let repos = targets.iter().map(|t| repo_plan(t, &[])).collect();
    let plan = Plan {
        source: crate::plan::fixtures::settings().source,
        generator: "test".into(),
        force_reason: None,
        rollback: None,
        repos,
        errors: Vec::new(),
        rollout: None,
    };
    let report = report(
        &targets,
        &plan,
        &["new_db".into(), "unknown".into()],
        &stages(),
        NOW,
        &str::to_string,
    );
    assert!(report.flags[0].complete);
    assert_eq!(report.flags[0].stages[1].live.len(), 7);
    // A flag no repo defines or reads: nothing holds it.
    assert_eq!(report.flags[1].name, "unknown");
    assert!(
        report.flags[1]
            .stages
            .iter()
            .all(|s| s.live.is_empty() && s.complete)
    );
    assert!(report.complete);
}

#[test]
fn a_flag_on_in_a_stage_before_an_earlier_one_is_live_is_out_of_order() {
    let (targets, plan) = fleet();
    let report = report(&targets, &plan, &[], &stages(), NOW, &str::to_string);
    // dev is held up by the failing repo; stg is on: out of order.
    assert_eq!(
        out_of_order(&report, &stages()),
        [OutOfOrder {
            flag: "new_db".into(),
            stage: "stg".into(),
            earlier: "dev".into(),
            holders: vec!["acme/broken".into()],
        }]
    );
    // A flag order without dev: stg comes first, nothing before it.
    let order: Vec<String> = ["stg", "prd"].map(String::from).to_vec();
    assert!(out_of_order(&report, &order).is_empty());
}

/// A daemon cycle reports what it left behind, not what it found: a
/// direct commit that landed makes its files live, a proposal it wrote
/// pending in the pull request it opened; a repo held or failing stays as
/// the plan says.
#[test]
fn after_applying_the_report_shows_what_the_writes_left() {
    use crate::apply::{PullRequestOutcome, PullRequestReport};
    let (targets, mut plan) = fleet();
    let by = |name: &str| targets.iter().find(|t| t.repo.name == name).unwrap();
    // pr-new had no pull request yet: this run opens #12.
    let p = plan
        .repos
        .iter_mut()
        .find(|p| p.repo == by("pr-new").id())
        .unwrap();
    p.open_pull_request = None;
    let done = |name: &str| RepoReport::nothing_done(by(name).id());
    let oid = crate::plan::fixtures::oid;
    let applied = ApplyReport {
        repos: vec![
            RepoReport {
                commit: Some(oid(1)),
                files_changed: 1,
                ..done("direct")
            },
            RepoReport {
                proposal: ProposalOutcome::Created {
                    branch: "distributor/sync".into(),
                    commit: oid(2),
                },
                files_changed: 1,
                pull_request: Some(PullRequestReport {
                    number: 12,
                    url: "https://github.example/acme/pr-new/pull/12".into(),
                    action: PullRequestOutcome::Opened,
                }),
                ..done("pr-new")
            },
            RepoReport {
                deferred: Some(Decision::Held {
                    reason: "wave late waits for wave early".into(),
                    until: None,
                }),
                ..done("held")
            },
        ],
    };
    let before = report(&targets, &plan, &[], &stages(), NOW, &str::to_string);
    let after = report_applied(
        &targets,
        &plan,
        Some(&applied),
        &[],
        &stages(),
        NOW,
        &str::to_string,
    );
    let stg = |r: &FlagsReport| r.flags[0].stages[1].clone();
    assert!(!stg(&before).live.contains(&"acme/direct".to_string()));
    assert!(
        stg(&after).live.contains(&"acme/direct".to_string()),
        "{:?}",
        stg(&after)
    );
    let pending = stg(&after)
        .pending
        .into_iter()
        .find(|p| p.repo == "acme/pr-new")
        .unwrap();
    assert_eq!(
        (pending.pull_request, pending.age_secs),
        (Some(12), Some(0))
    );
    let mut waiting: Vec<String> = stg(&after).waiting.into_iter().map(|w| w.repo).collect();
    waiting.sort();
    assert_eq!(waiting, ["acme/broken", "acme/held"]);
}
