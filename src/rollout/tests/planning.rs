//! The parts of the rollout applied in planning, through
//! [`crate::plan::plan_repo`] with hand-built observations: a bundle's
//! `direct_after` (its files leave a pull request open too long for a
//! direct commit) and drift waivers (active through their expiry day).
//! Then the policy over such plans.

use std::collections::BTreeMap;
use std::time::Duration;

use super::support::*;
use crate::blob::{FileMode, blob_id};
use crate::forge::{BranchSnapshot, FileEntry, ProposalSnapshot, PullRequest, RepoObservation};
use crate::lock::{LOCK_VERSION, Lock, LockEntry};
use crate::plan::{FileState, PlanInput, PlanSettings, ProposalPlan, RepoPlan, Route, plan_repo};
use crate::registry::{BundlePolicy, ResolvedRepo, Rollout, parse, resolve};
use crate::render::DesiredFile;
use crate::rollout::{Decision, Limit};

const SECURITY: &str = ".github/workflows/security.yml";
const EDITOR: &str = ".editorconfig";
const DEPENDABOT: &str = ".github/dependabot.yml";

/// acme/kiwi-app with `delivery` and the registry's `waivers`.
fn kiwi(delivery: &str, waivers: &str) -> ResolvedRepo {
    let text = format!(
        r#"{{"version": 1, "stages": ["dev"], "waivers": [{waivers}],
            "defaults": {{"owner": "acme", "delivery": "{delivery}"}},
            "teams": {{"kiwi": {{"owners": {{"users": ["alice-moreau"]}},
                                 "repos": [{{"name": "kiwi-app"}}]}}}}}}"#
    );
    resolve(&parse("registry.json", &text).unwrap()).remove(0)
}

fn desired(bundle: &str, path: &str, content: &str) -> DesiredFile {
    DesiredFile {
        path: path.into(),
        content: content.as_bytes().to_vec(),
        mode: FileMode::Regular,
        blob: blob_id(content.as_bytes()),
        bundle: bundle.into(),
        template: format!("{bundle}/{path}.j2"),
        flag_reads: Default::default(),
    }
}

/// A branch holding `files` (path, bundle, content) with a lock recording
/// `locked` (path, bundle, content) at revision [`OLD`].
fn branch(name: &str, files: &[(&str, &str)], locked: &[(&str, &str, &str)]) -> BranchSnapshot {
    let lock = Lock {
        version: LOCK_VERSION,
        source: source(OLD),
        generator: "distributor 0.0.1".into(),
        files: locked
            .iter()
            .map(|(path, bundle, content)| {
                (
                    path.to_string(),
                    LockEntry {
                        bundle: bundle.to_string(),
                        template: format!("{bundle}/{path}.j2"),
                        blob: blob_id(content.as_bytes()),
                        mode: FileMode::Regular,
                        rendered: None,
                        rendered_text: None,
                    },
                )
            })
            .collect(),
    };
    BranchSnapshot {
        name: name.into(),
        tip: Some(if name == "main" {
            oid(1)
        } else {
            proposal_tip()
        }),
        files: files
            .iter()
            .map(|(p, c)| {
                (
                    p.to_string(),
                    Some(FileEntry {
                        blob: blob_id(c.as_bytes()),
                        mode: Some(FileMode::Regular),
                    }),
                )
            })
            .collect(),
        lock: Some(lock.to_bytes()),
        checks: None,
    }
}

/// kiwi-app's main branch, and, with a pull request, the distributor
/// proposal branch it comes from (carrying older content).
fn observe(main: BranchSnapshot, pr: Option<PullRequest>) -> RepoObservation {
    let proposal = pr.as_ref().map(|_| ProposalSnapshot {
        branch: branch(
            "distributor/sync",
            &[(SECURITY, "sec proposed"), (EDITOR, "ed proposed")],
            &[
                (SECURITY, "security", "sec proposed"),
                (EDITOR, "baseline", "ed proposed"),
            ],
        ),
        base: Some(oid(1)),
        base_snapshot: None,
        by_distributor: true,
        contains_default: false,
    });
    RepoObservation {
        repo: id("kiwi-app"),
        default_branch: main,
        proposal,
        pull_request: pr,
        web_url: None,
        closed_pull_request: None,
    }
}

/// Bundle `security` (labelled) with `direct_after`, as the registry's
/// rollout carries it into planning.
fn settings(now: i64, direct_after: Option<i64>, force: bool) -> PlanSettings {
    let mut bundles = BTreeMap::new();
    bundles.insert("baseline".to_string(), BundlePolicy::default());
    bundles.insert(
        "security".to_string(),
        BundlePolicy {
            labels: vec!["security".into()],
            direct_after: direct_after.map(|s| Duration::from_secs(s as u64)),
        },
    );
    let rollout = Rollout {
        bundles,
        ..Rollout::default()
    };
    PlanSettings::new(
        &rollout,
        source(REV),
        force.then(|| "CVE-2026-1234".to_string()),
        None,
        now,
    )
}

fn plan(
    repo: &ResolvedRepo,
    want: &[DesiredFile],
    obs: &RepoObservation,
    settings: &PlanSettings,
    direct_refused: Option<&str>,
) -> RepoPlan {
    plan_repo(PlanInput {
        repo,
        desired: want,
        observation: obs,
        settings,
        direct_refused,
        pull_requests: true,
        contents: &BTreeMap::new(),
    })
    .unwrap()
}

/// Per path: (state, route, note).
fn routes(p: &RepoPlan) -> Vec<(String, FileState, Route, Option<String>)> {
    p.files
        .iter()
        .map(|f| (f.path.clone(), f.state, f.route, f.note.clone()))
        .collect()
}

// --- direct_after ---

/// Both files outdated on main: security.yml (bundle security) and
/// .editorconfig (baseline).
fn outdated_main() -> BranchSnapshot {
    branch(
        "main",
        &[(SECURITY, "sec v1"), (EDITOR, "ed v1")],
        &[
            (SECURITY, "security", "sec v1"),
            (EDITOR, "baseline", "ed v1"),
        ],
    )
}

fn wanted() -> Vec<DesiredFile> {
    vec![
        desired("security", SECURITY, "sec v2"),
        desired("baseline", EDITOR, "ed v2"),
    ]
}

/// Plans kiwi-app (`pr` delivery) at NOW with its pull request #57 open
/// for `open_for` seconds (none: no pull request), security's
/// direct_after 3d.
fn plan_with_pr_open_for(open_for: Option<i64>) -> RepoPlan {
    let obs = observe(outdated_main(), open_for.map(|s| pull_request(57, NOW - s)));
    plan(
        &kiwi("pr", ""),
        &wanted(),
        &obs,
        &settings(NOW, Some(3 * DAY), false),
        None,
    )
}

fn note(open_for: &str) -> Option<String> {
    Some(format!(
        "committed directly: pull request #57 open for {open_for}, longer than bundle `security`'s direct_after"
    ))
}

#[test]
fn direct_after_commits_a_bundles_files_directly_once_the_pull_request_is_old_enough() {
    // (pull request open for, security.yml's route and note)
    let cases = [
        (Some(3 * DAY + 4 * HOUR), Route::Direct, note("3d 4h")),
        // The boundary: `age >= direct_after` falls back.
        (Some(3 * DAY), Route::Direct, note("3d")),
        (Some(3 * DAY - 1), Route::Proposal, None),
        (Some(HOUR), Route::Proposal, None),
        (None, Route::Proposal, None),
    ];
    for (open_for, route, note) in cases {
        let p = plan_with_pr_open_for(open_for);
        assert_eq!(
            routes(&p),
            vec![
                // The other bundle stays on the pull request.
                (
                    EDITOR.to_string(),
                    FileState::Outdated,
                    Route::Proposal,
                    None
                ),
                (SECURITY.to_string(), FileState::Outdated, route, note),
            ],
            "open for {open_for:?}"
        );
        let direct: Option<Vec<String>> = p
            .direct
            .as_ref()
            .map(|c| c.writes.iter().map(|w| w.path.clone()).collect());
        let proposed: Vec<String> = match &p.proposal {
            ProposalPlan::Create { commit } | ProposalPlan::Update { commit, .. } => {
                commit.writes.iter().map(|w| w.path.clone()).collect()
            }
            other => panic!("{other:?}"),
        };
        if route == Route::Direct {
            assert_eq!(direct, Some(vec![SECURITY.to_string()]));
            // The pull request is rebuilt on the new main without it.
            assert_eq!(proposed, vec![EDITOR.to_string()]);
            assert!(matches!(p.proposal, ProposalPlan::Update { .. }));
        } else {
            assert_eq!(direct, None, "open for {open_for:?}");
            assert_eq!(proposed, vec![EDITOR.to_string(), SECURITY.to_string()]);
        }
    }
}

#[test]
fn direct_after_never_takes_drifted_files_nor_refused_or_direct_repos() {
    let old = Some(pull_request(57, NOW - 4 * DAY));
    // A hand edit of security.yml (template unchanged): stays proposed.
    let drifted_main = branch(
        "main",
        &[(SECURITY, "sec hand edit"), (EDITOR, "ed v1")],
        &[
            (SECURITY, "security", "sec v2"),
            (EDITOR, "baseline", "ed v1"),
        ],
    );
    let p = plan(
        &kiwi("pr", ""),
        &wanted(),
        &observe(drifted_main, old.clone()),
        &settings(NOW, Some(3 * DAY), false),
        None,
    );
    assert_eq!(
        routes(&p),
        vec![
            (
                EDITOR.to_string(),
                FileState::Outdated,
                Route::Proposal,
                None
            ),
            (
                SECURITY.to_string(),
                FileState::Drifted,
                Route::Proposal,
                None
            ),
        ]
    );
    assert!(p.direct.is_none());

    // Branch protection refused direct commits: no fallback.
    let p = plan(
        &kiwi("pr", ""),
        &wanted(),
        &observe(outdated_main(), old.clone()),
        &settings(NOW, Some(3 * DAY), false),
        Some("protected branch"),
    );
    assert!(p.direct.is_none());
    assert!(
        p.files
            .iter()
            .all(|f| f.route == Route::Proposal && f.note.is_none())
    );

    // No direct_after for the bundle: no fallback however old.
    let p = plan(
        &kiwi("pr", ""),
        &wanted(),
        &observe(outdated_main(), Some(pull_request(57, NOW - 300 * DAY))),
        &settings(NOW, None, false),
        None,
    );
    assert!(p.direct.is_none());

    // A `direct` repo commits directly anyway: no fallback note.
    let p = plan(
        &kiwi("direct", ""),
        &wanted(),
        &observe(outdated_main(), old),
        &settings(NOW, Some(3 * DAY), false),
        None,
    );
    assert!(
        p.files
            .iter()
            .all(|f| f.route == Route::Direct && f.note.is_none())
    );
}

#[test]
fn a_direct_after_commit_is_an_ordinary_delivery_for_the_policy() {
    let p = || plan_with_pr_open_for(Some(4 * DAY));
    // It counts against direct_commits_per_run ...
    let out = Fleet::new(limits(None, None, Some(0))).run(NOW, vec![p()]);
    assert_eq!(
        out.decision("kiwi-app"),
        &queued(
            Limit::DirectCommitsPerRun,
            1,
            "direct_commits_per_run reached (0 direct commits this run)"
        )
    );
    // ... but rebuilding the open pull request opens none.
    let out = Fleet::new(limits(Some(0), Some(0), None)).run(NOW, vec![p()]);
    assert_eq!(out.decision("kiwi-app"), &Decision::Proceed);
    // And it obeys the waves.
    let out = Fleet::new(staged())
        .wave("canary", &["c1"])
        .wave("early", &["kiwi-app"])
        .wave("default", &["d1"])
        .run(
            NOW,
            vec![
                repo("c1").direct("baseline").build(),
                p(),
                repo("d1").build(),
            ],
        );
    assert_eq!(
        out.decision("kiwi-app"),
        &held(
            "wave early waits for wave canary to take revision 3f9c2e1a7b5d (0 of 1 repo in sync; waiting for acme/c1)",
            None
        )
    );
}

#[test]
fn a_pull_request_opened_for_an_existing_proposal_branch_counts_as_new() {
    // The branch already carries exactly this revision's content, but no
    // pull request is open from it (and none was closed).
    let proposal = ProposalSnapshot {
        branch: branch(
            "distributor/sync",
            &[(SECURITY, "sec v2"), (EDITOR, "ed v2")],
            &[
                (SECURITY, "security", "sec v2"),
                (EDITOR, "baseline", "ed v2"),
            ],
        ),
        base: Some(oid(1)),
        base_snapshot: None,
        by_distributor: true,
        contains_default: false,
    };
    let mut obs = observe(outdated_main(), None);
    obs.proposal = Some(proposal);
    let p = plan(
        &kiwi("pr", ""),
        &wanted(),
        &obs,
        &settings(NOW, None, false),
        None,
    );
    assert!(matches!(p.proposal, ProposalPlan::UpToDate { .. }));
    assert!(matches!(
        p.pull_request_action,
        crate::plan::PullRequestAction::Open { .. }
    ));
    // No new pull request may be opened this hour.
    let out = Fleet::new(limits(Some(0), None, None)).run(NOW, vec![p.clone()]);
    assert_eq!(
        out.decision("kiwi-app"),
        &queued(
            Limit::PrHourlyLimit,
            1,
            "pr_hourly_limit reached (0 pull requests opened in the last hour, limit 0)"
        )
    );
    // Nor while the revision is halted.
    let out = Fleet::new(limits(None, None, None))
        .log(&[halted(NOW - HOUR, REV, "1 failure: x")])
        .run(NOW, vec![p]);
    assert_eq!(out.decision("kiwi-app"), &halted_decision("1 failure: x"));
}

// --- waivers ---

const WAIVER: &str = r#"{"repo": "kiwi-app", "file": ".github/dependabot.yml", "owner": "alice-moreau",
    "expires": "2026-12-31", "reason": "monthly schedule until KIWI-88"}"#;

/// dependabot.yml edited by hand on main; the template has not changed.
fn hand_edited() -> RepoObservation {
    observe(
        branch(
            "main",
            &[(DEPENDABOT, "weekly, edited to monthly")],
            &[(DEPENDABOT, "baseline", "weekly")],
        ),
        None,
    )
}

fn plan_waived(waivers: &str, now: i64, force: bool) -> RepoPlan {
    plan(
        &kiwi("pr", waivers),
        &[desired("baseline", DEPENDABOT, "weekly")],
        &hand_edited(),
        &settings(now, None, force),
        None,
    )
}

#[test]
fn a_drift_waiver_holds_through_its_expiry_day_then_the_file_is_back_in_scope() {
    let waived = Some(
        "drift waived by alice-moreau until 2026-12-31: monthly schedule until KIWI-88".to_string(),
    );
    let expired = Some(
        "the drift waiver by alice-moreau expired on 2026-12-31: monthly schedule until KIWI-88: back in scope"
            .to_string(),
    );
    let dec31 = 1_798_675_200; // 2026-12-31T00:00:00Z
    // (now, state, route, note)
    let cases = [
        (NOW, FileState::Waived, Route::None, waived.clone()),
        (dec31, FileState::Waived, Route::None, waived.clone()),
        (dec31 + DAY - 1, FileState::Waived, Route::None, waived),
        (
            dec31 + DAY,
            FileState::Drifted,
            Route::Proposal,
            expired.clone(),
        ),
        (1_801_440_000, FileState::Drifted, Route::Proposal, expired),
    ];
    for (now, state, route, note) in cases {
        let p = plan_waived(WAIVER, now, false);
        assert_eq!(
            routes(&p),
            vec![(DEPENDABOT.to_string(), state, route, note)],
            "now {}",
            rfc(now)
        );
        if state == FileState::Waived {
            // Counts as in sync: nothing proposed, nothing written.
            assert_eq!(p.status(), crate::plan::RepoStatus::InSync);
            assert!(matches!(p.proposal, ProposalPlan::None));
            assert!(p.direct.is_none());
        } else {
            assert!(matches!(p.proposal, ProposalPlan::Create { .. }));
        }
    }
}

#[test]
fn a_waiver_covers_its_repo_file_or_bundle_and_drift_only() {
    // (what, waivers, state, route, note)
    let cases = [
        (
            "a bundle waiver without reason",
            r#"{"repo": "acme/kiwi-app", "bundle": "baseline", "owner": "alice-moreau", "expires": "2026-12-31"}"#,
            FileState::Waived,
            Route::None,
            Some("drift waived by alice-moreau until 2026-12-31".to_string()),
        ),
        (
            "another bundle",
            r#"{"repo": "kiwi-app", "bundle": "security", "owner": "alice-moreau", "expires": "2026-12-31"}"#,
            FileState::Drifted,
            Route::Proposal,
            None,
        ),
        (
            "another repo",
            r#"{"repo": "kiwi-gateway", "file": ".github/dependabot.yml", "owner": "alice-moreau", "expires": "2026-12-31"}"#,
            FileState::Drifted,
            Route::Proposal,
            None,
        ),
        ("no waiver", "", FileState::Drifted, Route::Proposal, None),
    ];
    for (what, waivers, state, route, note) in cases {
        let p = plan_waived(waivers, NOW, false);
        assert_eq!(
            routes(&p),
            vec![(DEPENDABOT.to_string(), state, route, note)],
            "{what}"
        );
    }
    // A waived file nobody edited still receives template updates.
    let p = plan(
        &kiwi("pr", WAIVER),
        &[desired("baseline", DEPENDABOT, "weekly v2")],
        &observe(
            branch(
                "main",
                &[(DEPENDABOT, "weekly")],
                &[(DEPENDABOT, "baseline", "weekly")],
            ),
            None,
        ),
        &settings(NOW, None, false),
        None,
    );
    assert_eq!(
        routes(&p),
        vec![(
            DEPENDABOT.to_string(),
            FileState::Outdated,
            Route::Proposal,
            None
        )]
    );
    // A forced run ignores waivers: the drift is overwritten directly.
    let p = plan_waived(WAIVER, NOW, true);
    assert_eq!(
        routes(&p),
        vec![(
            DEPENDABOT.to_string(),
            FileState::Drifted,
            Route::Direct,
            None
        )]
    );
}

#[test]
fn a_waived_repo_is_idle_and_in_sync_for_its_wave() {
    let out = Fleet::new(staged())
        .wave("canary", &["kiwi-app"])
        .wave("early", &["e1"])
        .wave("default", &["d1"])
        .run(
            NOW,
            vec![
                plan_waived(WAIVER, NOW, false),
                repo("e1").direct("baseline").build(),
                repo("d1").build(),
            ],
        );
    assert_eq!(out.decision("kiwi-app"), &Decision::Idle);
    assert_eq!(
        (out.rollout().waves[0].repos, out.rollout().waves[0].in_sync),
        (1, 1)
    );
    assert_eq!(
        out.decision("e1"),
        &held(
            "wave canary soaking until 2026-11-20 14:00:00 UTC (in sync since 2026-11-20 12:00:00 UTC, soak 2h)",
            Some(NOW + 2 * HOUR)
        )
    );
    // Once expired, the drift is proposed again: the canary is no longer in
    // sync and the next wave waits for it.
    let expired = 1_798_761_600; // 2027-01-01T00:00:00Z
    let out = Fleet::new(staged())
        .wave("canary", &["kiwi-app"])
        .wave("early", &["e1"])
        .wave("default", &["d1"])
        .run(
            expired,
            vec![
                plan_waived(WAIVER, expired, false),
                repo("e1").direct("baseline").build(),
                repo("d1").build(),
            ],
        );
    assert_eq!(out.decision("kiwi-app"), &Decision::Proceed);
    assert_eq!(
        out.decision("e1"),
        &held(
            "wave early waits for wave canary to take revision 3f9c2e1a7b5d (0 of 1 repo in sync; waiting for acme/kiwi-app)",
            None
        )
    );
}
