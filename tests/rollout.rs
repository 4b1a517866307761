//! The rollout policy end to end: the real binary against the fake GitHub
//! (127.0.0.1), with a platform of its own (a git repository, so revisions
//! are commits), a state directory, and a fake clock (`DISTRIBUTOR_NOW`)
//! where timing matters. PR budgets across a restart and their priority,
//! waves (soak, halt on failed checks, resume, manual promote), staleness
//! and a single escalation, 3-way merges of hand edits (clean and
//! conflicting), drift waivers expiring, and the forced path with its audit
//! log.

mod common;

use std::path::Path;

use serde_json::{Value, json};

use common::world::*;

#[test]
fn the_pr_budget_is_org_wide_survives_a_restart_and_queues_by_priority() {
    // Six PR repos; two new pull requests an hour. `sec-*` repos also get
    // the security-labelled bundle; `early-*` are in an earlier wave.
    let repos = [
        repo("default-a", Some("default"), "pr"),
        repo("default-b", Some("default"), "pr"),
        repo("early-a", Some("early"), "pr"),
        Repo {
            bundles: &["base", "sec"],
            ..repo("sec-a", Some("default"), "pr")
        },
        repo("early-b", Some("early"), "pr"),
        Repo {
            bundles: &["base", "sec"],
            ..repo("sec-b", Some("default"), "pr")
        },
    ];
    let w = World::new(
        &repos,
        json!({
            "waves": [{"name": "early"}, {"name": "default"}],
            "rollout": {"pr_hourly_limit": 2}
        }),
    );

    // The plan says who goes first and who waits, with positions:
    // security first, then the earlier wave, then the rest; the reason
    // counts the pull requests this run opens ahead of the queue.
    let plan = w.run(0, "plan", &["--no-diff", "--detail"]);
    plan.expect_code(2);
    let out = &plan.stdout;
    assert!(!line_of(out, "acme/sec-a").is_empty());
    let policy = |name: &str| {
        let at = out.find(&format!("acme/{name}  (")).unwrap();
        line_of(&out[at..], "policy:").trim().to_string()
    };
    assert_eq!(policy("sec-a"), "policy: proceed");
    assert_eq!(policy("sec-b"), "policy: proceed");
    assert_eq!(
        policy("early-a"),
        "policy: queued: pr_hourly_limit reached (2 pull requests opened in the last hour, limit 2), position 1"
    );
    assert!(
        policy("early-b").ends_with("position 2"),
        "{}",
        policy("early-b")
    );
    assert!(
        policy("default-a").ends_with("position 3"),
        "{}",
        policy("default-a")
    );
    assert!(
        policy("default-b").ends_with("position 4"),
        "{}",
        policy("default-b")
    );

    let first = w.run(0, "apply", &[]);
    first.expect_code(0);
    let opened: Vec<&str> = repos
        .iter()
        .map(|r| r.name)
        .filter(|n| !w.open_pulls(n).is_empty())
        .collect();
    assert_eq!(opened, ["sec-a", "sec-b"], "{}", first.stdout);
    assert!(
        w.open_pulls("sec-a")[0]
            .labels
            .contains(&"security".to_string())
    );
    assert_eq!(
        w.file("sec-a", "distributor/sync", SEC).unwrap(),
        SEC_TEMPLATE
    );
    assert!(
        first
            .stdout
            .contains("early-a: queued: pr_hourly_limit reached"),
        "{}",
        first.stdout
    );

    // A new process ten minutes later (a restart): the budget is spent.
    let again = w.run(10 * 60, "apply", &[]);
    again.expect_code(0);
    let open: usize = repos.iter().map(|r| w.open_pulls(r.name).len()).sum();
    assert_eq!(
        open, 2,
        "a restart does not reset the budget:\n{}",
        again.stdout
    );

    // Even without the state file, the forge says two were opened this hour.
    std::fs::remove_dir_all(&w.state).unwrap();
    w.run(20 * 60, "apply", &[]).expect_code(0);
    let open: usize = repos.iter().map(|r| w.open_pulls(r.name).len()).sum();
    assert_eq!(open, 2, "open pull requests created this hour count too");

    // An hour later, the next two by priority: the earlier wave.
    w.run(HOUR + 60, "apply", &[]).expect_code(0);
    assert_eq!(w.open_pulls("early-a").len(), 1);
    assert_eq!(w.open_pulls("early-b").len(), 1);
    assert!(w.open_pulls("default-a").is_empty());
    let (_, status) = w.status_json(HOUR + 120);
    assert_eq!(status["rollout"]["budget"]["prs_opened_last_hour"], 2);
    assert_eq!(
        repo_status(&status, "default-a")["policy"]["decision"],
        "queued"
    );
    assert_eq!(repo_status(&status, "default-a")["policy"]["position"], 1);
}

#[test]
fn a_concurrent_limit_counts_open_distributor_pull_requests() {
    let repos = [
        repo("a", None, "pr"),
        repo("b", None, "pr"),
        repo("c", None, "pr"),
    ];
    let w = World::new(&repos, json!({"rollout": {"pr_concurrent_limit": 2}}));
    w.run(0, "apply", &[]).expect_code(0);
    assert_eq!(w.open_pulls("c").len(), 0);
    // Merging one frees a slot.
    let n = w.open_pulls("a")[0].number;
    w.fake.merge_pull(OWNER, "a", n);
    w.run(60, "apply", &[]).expect_code(0);
    assert_eq!(w.open_pulls("c").len(), 1);
}

#[test]
fn waves_soak_then_promote_halt_on_failed_checks_resume_and_manual_promote() {
    let repos = [
        repo("canary-a", Some("canary"), "direct"),
        repo("canary-b", Some("canary"), "direct"),
        repo("main-a", Some("default"), "pr"),
        repo("main-b", Some("default"), "direct"),
    ];
    let w = World::new(
        &repos,
        json!({"waves": [{"name": "canary", "soak": "1h"}, {"name": "default"}]}),
    );
    // First run: canary only; the default wave waits for it.
    let first = w.run(0, "apply", &[]);
    first.expect_code(0);
    assert!(w.file("canary-a", "main", CI).is_some());
    assert!(w.file("main-b", "main", CI).is_none());
    assert!(w.open_pulls("main-a").is_empty());
    assert!(
        first
            .stdout
            .contains("main-b: held: wave default waits for wave canary to take revision"),
        "{}",
        first.stdout
    );

    // Canary is in sync now: the soak starts; still held, with the time.
    let second = w.run(10 * 60, "apply", &[]);
    second.expect_code(0);
    let until = distributor::time::utc(w.t0 + 10 * 60 + HOUR);
    assert!(
        second
            .stdout
            .contains(&format!("held: wave canary soaking until {until}")),
        "{}",
        second.stdout
    );
    assert!(w.file("main-b", "main", CI).is_none());

    // After the soak, the default wave receives it.
    w.run(10 * 60 + HOUR + 1, "apply", &[]).expect_code(0);
    assert!(w.file("main-b", "main", CI).is_some());
    assert_eq!(w.open_pulls("main-a").len(), 1);

    // A new revision: canary's direct commit breaks its checks -> halted.
    let rev2 = w.change_template("make lint", "make lint-strict");
    let t = 2 * HOUR;
    w.run(t, "apply", &[]).expect_code(0);
    assert!(
        w.file("canary-a", "main", CI)
            .unwrap()
            .contains("lint-strict")
    );
    let tip = w.fake.tip(OWNER, "canary-a", "main").unwrap();
    w.fake
        .set_check_state(OWNER, "canary-a", &tip, Some("FAILURE"));
    let halted = w.run(t + 2 * HOUR, "apply", &[]);
    halted.expect_code(3);
    assert!(
        halted
            .stdout
            .contains("acme/canary-a: checks failed on main after direct commit"),
        "{}",
        halted.stdout
    );
    assert!(
        !w.file("main-b", "main", CI)
            .unwrap()
            .contains("lint-strict")
    );
    let (code, status) = w.status_json(t + 2 * HOUR);
    assert_eq!(code, 3, "status exits 3 while halted");
    assert_eq!(status["rollout"]["halt"]["revision"], rev2);
    let text = w.run(t + 2 * HOUR, "status", &[]);
    assert!(
        text.stdout
            .contains(&format!("resume with: distributor resume {rev2}")),
        "{}",
        text.stdout
    );

    // The operator fixes checks and resumes: the rollout continues.
    w.fake
        .set_check_state(OWNER, "canary-a", &tip, Some("SUCCESS"));
    // Revisions resolve like git: the 12 characters printed are enough.
    let r = w.run(t + 2 * HOUR, "resume", &[&rev2[..12]]);
    r.expect_code(0);
    assert!(
        r.stdout
            .contains(&format!("resumed the rollout of revision {rev2}")),
        "{}",
        r.stdout
    );
    w.run(t + 3 * HOUR, "apply", &[]).expect_code(0);
    assert!(
        w.file("main-b", "main", CI)
            .unwrap()
            .contains("lint-strict")
    );

    // Manual promote: a third revision goes to the default wave at once.
    let rev3 = w.change_template("make package", "make package-all");
    let t3 = 10 * HOUR;
    w.run(t3, "apply", &[]).expect_code(0);
    assert!(
        !w.file("main-b", "main", CI)
            .unwrap()
            .contains("package-all")
    );
    // An unknown revision is refused and nothing is recorded.
    let log_before = std::fs::read(w.state.join("rollout.jsonl")).unwrap();
    let unknown = w.run(t3, "promote", &["deadbeef", "--wave", "default"]);
    unknown.expect_code(1);
    assert!(
        unknown.stderr.contains(
            "unknown revision \"deadbeef\": it is not in the platform history nor the rollout log"
        ),
        "{}",
        unknown.stderr
    );
    assert_eq!(
        std::fs::read(w.state.join("rollout.jsonl")).unwrap(),
        log_before
    );
    let not_halted = w.run(t3, "resume", &[&rev3[..12]]);
    not_halted.expect_code(1);
    assert!(
        not_halted.stderr.contains("unknown revision"),
        "{}",
        not_halted.stderr
    );
    let promoted = w.run(t3, "promote", &[&rev3[..12], "--wave", "default"]);
    promoted.expect_code(0);
    assert!(
        promoted
            .stdout
            .contains(&format!("promoted revision {rev3} to wave default")),
        "{}",
        promoted.stdout
    );
    let promoted = w.run(t3 + 60, "apply", &[]);
    promoted.expect_code(0);
    assert!(
        w.file("main-b", "main", CI)
            .unwrap()
            .contains("package-all"),
        "{}",
        promoted.stdout
    );
    // An unknown wave is refused and nothing is recorded.
    let bad = w.run(t3, "promote", &[&rev3, "--wave", "everyone"]);
    bad.expect_code(1);
    assert!(
        bad.stderr.contains("no wave \"everyone\""),
        "{}",
        bad.stderr
    );
    for r in &repos {
        w.fsck(r.name);
    }
}

#[test]
fn a_stale_pull_request_is_flagged_and_escalated_exactly_once() {
    let w = World::new(
        &[repo("slow", None, "pr")],
        json!({"rollout": {"stale_after": "3d", "escalate_after": "7d"}}),
    );
    w.run(0, "apply", &[]).expect_code(0);
    let pr = w.open_pulls("slow").remove(0);
    // The pull request was opened eight days ago.
    let then = distributor::time::rfc3339(w.t0 - 8 * 24 * HOUR);
    w.fake.set_pull_created_at(OWNER, "slow", pr.number, &then);
    let (_, status) = w.status_json(0);
    let s = &repo_status(&status, "slow")["staleness"];
    assert_eq!(s["stale"], true);
    assert_eq!(s["pull_request_open_for"], "8d");
    let text = w.run(0, "status", &[]);
    assert!(
        text.stdout.contains("STALE: pull request open 8d"),
        "{}",
        text.stdout
    );

    w.run(60, "apply", &[]).expect_code(0);
    w.run(120, "apply", &[]).expect_code(0);
    let pr = w.open_pulls("slow").remove(0);
    assert_eq!(pr.comments.len(), 1, "one escalation: {:?}", pr.comments);
    assert!(
        pr.comments[0].contains("@alice @acme/payments-devs"),
        "{}",
        pr.comments[0]
    );
    assert!(pr.comments[0].contains("open for 8d"), "{}", pr.comments[0]);
    assert!(pr.labels.contains(&"distributor:escalated".to_string()));
}

#[test]
fn a_clean_three_way_merge_keeps_the_hand_edit_and_applies_the_template_change() {
    let w = World::new(&[repo("svc", None, "direct")], json!({}));
    w.run(0, "apply", &[]).expect_code(0);
    // A hand edit on one line...
    let ours = w.file("svc", "main", CI).unwrap();
    let edited = ours.replace("make test", "make test TIMEOUT=30m");
    w.fake.push(
        OWNER,
        "svc",
        "main",
        &[(CI, Some(edited.as_bytes()))],
        "ci: longer timeout",
    );
    // ...and a template change on another.
    w.change_template("make publish", "make publish-signed");
    let plan = w.run(60, "plan", &[]);
    plan.expect_code(2);
    assert!(plan.stdout.contains("[merged]"), "{}", plan.stdout);
    assert!(plan.stdout.contains("kept 1 hand edit"), "{}", plan.stdout);
    w.run(60, "apply", &[]).expect_code(0);
    let merged = w.file("svc", "main", CI).unwrap();
    assert_eq!(
        merged,
        edited.replace("make publish", "make publish-signed")
    );
    let tip = w.fake.tip(OWNER, "svc", "main").unwrap();
    let message = w.fake.commit_message(OWNER, "svc", &tip);
    assert!(message.contains("kept 1 hand edit"), "{message}");
    let lock: Value = serde_json::from_str(
        &w.file("svc", "main", ".github/distributor.lock.json")
            .unwrap(),
    )
    .unwrap();
    assert!(lock["files"][CI]["rendered"].is_string(), "{lock}");
    // Nothing more to do: the kept hand edit is in sync.
    w.run(120, "plan", &[]).expect_code(0);
    // The next template change merges again, on top of the kept edit.
    w.change_template("make package", "make package-all");
    w.run(180, "apply", &[]).expect_code(0);
    let again = w.file("svc", "main", CI).unwrap();
    assert!(
        again.contains("TIMEOUT=30m")
            && again.contains("package-all")
            && again.contains("publish-signed"),
        "{again}"
    );
    w.fsck("svc");
}

#[test]
fn a_conflicting_hand_edit_goes_to_a_pull_request_and_nothing_broken_lands() {
    let w = World::new(&[repo("svc", None, "direct")], json!({}));
    w.run(0, "apply", &[]).expect_code(0);
    let ours = w.file("svc", "main", CI).unwrap();
    let edited = ours.replace("make lint", "make lint --fix");
    w.fake.push(
        OWNER,
        "svc",
        "main",
        &[(CI, Some(edited.as_bytes()))],
        "lint fixes",
    );
    let before = w.fake.tip(OWNER, "svc", "main");
    w.change_template("make lint", "make lint-strict");
    w.run(60, "apply", &[]).expect_code(0);
    // The default branch keeps the hand edit, untouched and without markers.
    assert_eq!(w.fake.tip(OWNER, "svc", "main"), before);
    assert_eq!(w.file("svc", "main", CI).unwrap(), edited);
    // The pull request carries the render and explains the hunk.
    let pr = w.open_pulls("svc").remove(0);
    let on_branch = w.file("svc", &pr.head, CI).unwrap();
    assert!(on_branch.contains("make lint-strict") && !on_branch.contains("<<<<<<<"));
    assert!(pr.body.contains("conflicted"), "{}", pr.body);
    assert!(
        pr.body.contains("make lint --fix") && pr.body.contains("make lint-strict"),
        "{}",
        pr.body
    );
    let (_, status) = w.status_json(120);
    let files = repo_status(&status, "svc")["files"]
        .as_array()
        .unwrap()
        .clone();
    let ci = files.iter().find(|f| f["path"] == CI).unwrap();
    assert_eq!(ci["state"], "conflicted");
    w.fsck("svc");
}

#[test]
fn a_drift_waiver_holds_until_it_expires_then_the_file_is_back_in_scope() {
    let w = World::new(
        &[repo("svc", None, "pr")],
        json!({"waivers": [{"repo": "svc", "file": CI, "owner": "alice", "expires": "2030-01-31", "reason": "pinned runner"}]}),
    );
    w.run(0, "apply", &[]).expect_code(0);
    let n = w.open_pulls("svc")[0].number;
    w.fake.merge_pull(OWNER, "svc", n);
    let edited = w
        .file("svc", "main", CI)
        .unwrap()
        .replace("ubuntu-22.04", "self-hosted");
    w.fake.push(
        OWNER,
        "svc",
        "main",
        &[(CI, Some(edited.as_bytes()))],
        "own runner",
    );

    let expiry = distributor::time::parse_rfc3339("2030-02-01T00:00:00Z").unwrap() - w.t0;
    let waived = w.run(expiry - 60, "plan", &[]);
    waived.expect_code(0);
    let status = w.run(expiry - 60, "status", &[]);
    assert!(
        status
            .stdout
            .contains("[waived]: drift waived by alice until 2030-01-31: pinned runner"),
        "{}",
        status.stdout
    );

    let expired = w.run(expiry + 60, "plan", &[]);
    expired.expect_code(2);
    assert!(
        expired
            .stdout
            .contains("[drifted: edited since distributor wrote it] -> proposal"),
        "{}",
        expired.stdout
    );
    let status = w.run(expiry + 60, "status", &[]);
    assert!(
        status.stdout.contains(
            "the drift waiver by alice expired on 2030-01-31: pinned runner: back in scope"
        ),
        "{}",
        status.stdout
    );
}

#[test]
fn a_forced_run_commits_everywhere_closes_superseded_prs_and_audits_each_repo() {
    let names: Vec<String> = (0..50).map(|i| format!("svc-{i:02}")).collect();
    let repos: Vec<Repo<'_>> = names
        .iter()
        .map(|n| repo(n, Some("default"), "pr"))
        .collect();
    let w = World::new(
        &repos,
        json!({"waves": [{"name": "canary", "soak": "1d"}, {"name": "default"}],
               "rollout": {"pr_hourly_limit": 5, "direct_commits_per_run": 3}}),
    );
    // Open pull requests in some repos, hand edits in others, protection in one.
    w.run(0, "apply", &[]).expect_code(0);
    let with_prs: Vec<&String> = names
        .iter()
        .filter(|n| !w.open_pulls(n).is_empty())
        .collect();
    assert_eq!(with_prs.len(), 5);
    for n in names.iter().skip(40) {
        w.fake.push(
            OWNER,
            n,
            "main",
            &[(CI, Some(b"name: hand made\n".as_slice()))],
            "by hand",
        );
    }
    w.fake.protect_branch(OWNER, "svc-49", "main");
    w.change_template("make test", "make test-pinned");

    // Dirty platform trees are refused.
    w.write("templates/base/ci.yml", "dirty\n");
    let dirty = w.run(
        60,
        "apply",
        &["--force", "--reason", "CVE-2026-0001: pin actions"],
    );
    dirty.expect_code(1);
    assert!(
        dirty
            .stderr
            .contains("refusing --force from a platform tree with uncommitted changes")
    );
    w.git(&["checkout", "--", "templates/base/ci.yml"]);

    let audit = w.tmp.path().join("audit/forced.jsonl");
    let force_args = [
        "--force",
        "--reason",
        "CVE-2026-0001: pin actions",
        "--audit-log",
        audit.to_str().unwrap(),
    ];
    let forced = w.run(60, "apply", &force_args);
    forced.expect_code(1);
    // Every repo but the protected one got one direct commit with the reason.
    for n in names.iter().take(49) {
        let ci = w.file(n, "main", CI).unwrap();
        assert!(ci.contains("make test-pinned"), "{n}: {ci}");
        let tip = w.fake.tip(OWNER, n, "main").unwrap();
        assert!(
            w.fake
                .commit_message(OWNER, n, &tip)
                .contains("CVE-2026-0001: pin actions")
        );
        assert!(
            w.open_pulls(n).is_empty(),
            "{n}: superseded pull request closed"
        );
    }
    let closed = w.fake.pulls(OWNER, with_prs[0]).remove(0);
    assert_eq!(closed.state, "closed");
    let tip = w.fake.tip(OWNER, with_prs[0], "main").unwrap();
    assert!(
        closed
            .comments
            .last()
            .unwrap()
            .contains(&format!("/commit/{tip}")),
        "{:?}",
        closed.comments
    );
    assert_eq!(w.file("svc-49", "main", CI).unwrap(), "name: hand made\n");

    // The final table and the audit trail.
    assert!(
        forced
            .stdout
            .contains("49 changed, 0 skipped (already fixed), 1 failed"),
        "{}",
        forced.stdout
    );
    let failed = line_of(&forced.stdout, "FAILED   acme/svc-49");
    assert!(
        failed.contains("--force does not bypass branch protection"),
        "{failed}"
    );
    let all: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Written ahead: an intent before each of the 50 forced commits tried,
    // then one outcome per repo, paired by id.
    let (intents, lines): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|l| l["phase"] == "intent");
    assert_eq!(intents.len(), 50);
    assert_eq!(lines.len(), 50);
    for l in &lines {
        assert_eq!(l["phase"], "outcome");
        assert!(intents.iter().any(|i| i["id"] == l["id"]), "{l}");
    }
    let intent = intents.iter().find(|l| l["repo"] == "acme/svc-00").unwrap();
    assert!(intent["parent"].as_str().is_some(), "{intent}");
    assert!(intent["files"][CI].as_str().is_some(), "{intent}");
    for l in &lines {
        assert_eq!(l["operator"], "oncall-olivia");
        assert_eq!(l["reason"], "CVE-2026-0001: pin actions");
        assert!(distributor::time::parse_rfc3339(l["time"].as_str().unwrap()).is_some());
    }
    let bad = lines.iter().find(|l| l["repo"] == "acme/svc-49").unwrap();
    assert_eq!(bad["outcome"], "failed");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("does not bypass branch protection")
    );
    let good = lines.iter().find(|l| l["repo"] == "acme/svc-00").unwrap();
    assert_eq!(good["outcome"], "changed");
    assert_eq!(good["commit"], w.fake.tip(OWNER, "svc-00", "main").unwrap());

    // Run again: already fixed everywhere it could be.
    let again = w.run(120, "apply", &force_args);
    assert!(
        again
            .stdout
            .contains("0 changed, 49 skipped (already fixed), 1 failed"),
        "{}",
        again.stdout
    );
    for n in names.iter().take(3) {
        w.fsck(n);
    }
    let _ = Path::new("");
}

#[test]
fn failed_checks_on_a_wave_pull_request_halt_the_revision() {
    let repos = [
        repo("canary-pr", Some("canary"), "pr"),
        repo("later", Some("default"), "direct"),
    ];
    let w = World::new(
        &repos,
        json!({"waves": [{"name": "canary", "soak": "1h"}, {"name": "default"}]}),
    );
    w.run(0, "apply", &[]).expect_code(0);
    let pr = w.open_pulls("canary-pr").remove(0);
    let head = w.fake.tip(OWNER, "canary-pr", &pr.head).unwrap();
    w.fake
        .set_check_state(OWNER, "canary-pr", &head, Some("FAILURE"));
    let plan = w.run(60, "plan", &["--no-diff"]);
    plan.expect_code(3);
    assert!(
        plan.stdout.contains(&format!(
            "acme/canary-pr: checks failed on pull request #{}",
            pr.number
        )),
        "{}",
        plan.stdout
    );
    let applied = w.run(60, "apply", &[]);
    applied.expect_code(3);
    assert!(
        applied
            .stdout
            .contains("later: halted: the rollout of revision"),
        "{}",
        applied.stdout
    );
    assert!(w.file("later", "main", CI).is_none(), "nothing delivered");
    // Recorded: a later run still sees the halt even with checks green.
    w.fake
        .set_check_state(OWNER, "canary-pr", &head, Some("SUCCESS"));
    w.run(120, "status", &[]).expect_code(3);
}

#[test]
fn forced_writes_left_without_an_outcome_are_reconciled_by_the_next_run() {
    let repos = [
        repo("svc-a", None, "direct"),
        repo("svc-b", None, "direct"),
        repo("svc-c", None, "direct"),
    ];
    let w = World::new(&repos, json!({}));
    w.run(0, "apply", &[]).expect_code(0);
    w.change_template("make test", "make test-pinned");
    w.run(60, "apply", &["--force", "--reason", "CVE-2026-0002"])
        .expect_code(0);
    let audit = w.state.join("audit.jsonl");
    let read = || -> Vec<Value> {
        std::fs::read_to_string(&audit)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    // As if killed after each commit, before its outcome line: svc-a's
    // commit landed; svc-b's never did (its intent names the tip it still
    // has); svc-c's landed but a human has moved the branch on since.
    let tip_b = w.fake.tip(OWNER, "svc-b", "main").unwrap();
    let doctored: Vec<String> = read()
        .into_iter()
        .filter(|l| l["phase"] == "intent")
        .map(|mut l| {
            if l["repo"] == "acme/svc-b" {
                l["parent"] = json!(tip_b);
            }
            l.to_string()
        })
        .collect();
    std::fs::write(&audit, doctored.join("\n") + "\n").unwrap();
    w.fake.push(
        OWNER,
        "svc-c",
        "main",
        &[(CI, Some(b"name: hand made\n".as_slice()))],
        "by hand",
    );
    let tip_a = w.fake.tip(OWNER, "svc-a", "main").unwrap();

    w.run(120, "apply", &[]).expect_code(0);
    let lines = read();
    let found = |repo: &str| -> Value {
        let all: Vec<&Value> = lines
            .iter()
            .filter(|l| l["phase"] == "reconciled" && l["repo"] == repo)
            .collect();
        assert_eq!(all.len(), 1, "{repo}: {lines:?}");
        all[0].clone()
    };
    let a = found("acme/svc-a");
    assert_eq!(a["outcome"], "changed");
    assert_eq!(a["tip"], tip_a);
    assert_eq!(a["operator"], "oncall-olivia");
    assert_eq!(a["reason"], "CVE-2026-0002");
    assert!(a["error"].as_str().unwrap().starts_with("landed:"), "{a}");
    let b = found("acme/svc-b");
    assert_eq!(b["outcome"], "failed");
    assert!(
        b["error"].as_str().unwrap().starts_with("not landed:"),
        "{b}"
    );
    let c = found("acme/svc-c");
    assert_eq!(c["outcome"], "unknown");
    for r in [&a, &b, &c] {
        let intent = lines
            .iter()
            .find(|l| l["phase"] == "intent" && l["id"] == r["id"]);
        assert!(intent.is_some(), "paired with its intent: {r}");
    }

    // Reconciled once: the next run finds nothing pending.
    w.run(180, "apply", &[]).expect_code(0);
    assert_eq!(read().len(), lines.len());
}

/// Under `--force` every file gets exactly the render, whatever state it
/// is in: no merge runs, no waiver holds, and the table and the audit say
/// `changed` only with the commit that landed.
#[test]
fn force_writes_exactly_the_render_from_every_file_state() {
    let r = |name, delivery, bundles| Repo {
        name,
        wave: None,
        delivery,
        bundles,
    };
    let base: &[&str] = &["base"];
    let repos = [
        r("r-sync", "direct", &["sec"]),
        r("r-missing", "pr", base),
        r("r-outdated", "direct", base),
        r("r-drifted", "direct", base),
        r("r-merged", "direct", base),
        r("r-conflicted", "direct", base),
        r("r-waived", "direct", base),
        r("r-orphan", "direct", &["base", "sec"]),
    ];
    let w = World::new(
        &repos,
        json!({"waivers": [{"repo": "r-waived", "file": CI, "owner": "alice", "expires": "2030-01-31", "reason": "own runner"}]}),
    );
    const SEC: &str = ".github/security.yml";
    let edit = |name: &str, from: &str, to: &str| {
        let text = w.file(name, "main", CI).unwrap();
        assert!(text.contains(from), "{name}: {text}");
        w.fake.push(
            OWNER,
            name,
            "main",
            &[(CI, Some(text.replace(from, to).as_bytes()))],
            "by hand",
        );
    };
    w.run(0, "apply", &[]).expect_code(0);
    assert!(w.file("r-missing", "main", CI).is_none());
    // Merged before: a hand edit kept by a clean merge (lock `rendered`).
    edit("r-merged", "name: ci", "name: ci (by hand)");
    w.change_template("make publish", "make publish-signed");
    w.run(60, "apply", &[]).expect_code(0);
    let lock = w
        .file("r-merged", "main", ".github/distributor.lock.json")
        .unwrap();
    assert!(lock.contains("\"rendered\""), "{lock}");
    // Drifted elsewhere, conflicting with the fix, waived; an orphan.
    edit("r-drifted", "make package", "make package --all");
    edit("r-conflicted", "make test", "make test -v");
    edit("r-waived", "ubuntu-22.04", "self-hosted");
    let mut registry: Value =
        serde_json::from_str(&std::fs::read_to_string(w.platform.join("registry.json")).unwrap())
            .unwrap();
    for entry in registry["teams"]["payments"]["repos"]
        .as_array_mut()
        .unwrap()
    {
        if entry["name"] == "r-orphan" {
            entry["bundles"] = json!(["base"]);
        }
    }
    w.write("registry.json", &registry.to_string());
    w.change_template("make test", "make test-pinned");
    let sync_tip = w.fake.tip(OWNER, "r-sync", "main");
    // Without force, the states the forced run has to override.
    let plan = w.run(90, "plan", &["--format", "json"]);
    let plan: Value = serde_json::from_str(&plan.stdout).expect("plan JSON");
    let state = |name: &str, path: &str| -> String {
        let repo = plan["repos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["repo"]["name"] == name)
            .unwrap();
        let file = repo["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path);
        file.map(|f| f["state"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    for (name, path, want) in [
        ("r-sync", SEC, "in_sync"),
        ("r-missing", CI, "missing"),
        ("r-outdated", CI, "outdated"),
        ("r-drifted", CI, "merged"),
        ("r-merged", CI, "merged"),
        ("r-conflicted", CI, "conflicted"),
        ("r-waived", CI, "waived"),
        ("r-orphan", SEC, "orphaned"),
    ] {
        assert_eq!(state(name, path), want, "{name} {path}");
    }

    let audit = w.tmp.path().join("forced.jsonl");
    let forced = w.run(
        120,
        "apply",
        &[
            "--force",
            "--reason",
            "CVE-2026-0003",
            "--audit-log",
            audit.to_str().unwrap(),
        ],
    );
    forced.expect_code(0);
    let render = CI_TEMPLATE
        .replace("{{ vars.runner }}", "ubuntu-22.04")
        .replace("make publish", "make publish-signed")
        .replace("make test", "make test-pinned");
    let outcomes: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["phase"] == "outcome")
        .collect();
    assert_eq!(outcomes.len(), repos.len());
    for repo in &repos[1..] {
        let name = repo.name;
        assert_eq!(
            w.file(name, "main", CI).as_deref(),
            Some(render.as_str()),
            "{name}"
        );
        let tip = w.fake.tip(OWNER, name, "main").unwrap();
        let line = line_of(&forced.stdout, &format!("CHANGED  acme/{name} "));
        assert!(line.contains(&format!("commit {tip}")), "{line}");
        let record = outcomes
            .iter()
            .find(|l| l["repo"] == format!("acme/{name}"))
            .unwrap();
        assert_eq!(record["outcome"], "changed", "{record}");
        assert_eq!(record["commit"], tip, "{record}");
        w.fsck(name);
    }
    assert!(w.file("r-orphan", "main", SEC).is_none(), "orphan deleted");
    assert!(
        w.open_pulls("r-missing").is_empty(),
        "superseded pull request closed"
    );
    assert_eq!(w.fake.tip(OWNER, "r-sync", "main"), sync_tip);
    let skipped = outcomes
        .iter()
        .find(|l| l["repo"] == "acme/r-sync")
        .unwrap();
    assert_eq!(skipped["outcome"], "skipped");
    assert!(skipped.get("commit").is_none());
    assert!(
        forced
            .stdout
            .contains("7 changed, 1 skipped (already fixed), 0 failed"),
        "{}",
        forced.stdout
    );
}
