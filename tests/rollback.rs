//! Fleet rollback end to end: the real binary against the fake GitHub.
//! Revision A is everywhere; bad revision B reaches the canary wave (a
//! direct commit, an updated pull request, a new pull request) and waits
//! for the rest. `rollback A` halts B, pins A, reverts the canary repos to
//! A's content (a commit saying rollback; the open pull request updated in
//! place; the one whose repo already matches A closed) and writes nothing
//! where B never arrived; every write is audited. Runs during the pin keep
//! A; `apply --source-rev` of another revision is refused; `unpin` after a
//! fixed revision C delivers C through the waves again. A forced rollback
//! commits directly everywhere B reached, with intent and outcome records.

mod common;

use serde_json::{Value, json};

use common::world::*;

const BAD_STEP: &str = "make publish --to-everyone";

/// canary (soak 2h): c-direct, c-pr (its first pull request left open),
/// c-merged; default: d-direct, d-pr.
fn fleet() -> World {
    let repos = [
        repo("c-direct", Some("canary"), "direct"),
        repo("c-pr", Some("canary"), "pr"),
        repo("c-merged", Some("canary"), "pr"),
        repo("d-direct", Some("default"), "direct"),
        repo("d-pr", Some("default"), "pr"),
    ];
    World::new(
        &repos,
        json!({"waves": [{"name": "canary", "soak": "2h"}, {"name": "default"}]}),
    )
}

fn one_open_pull(w: &World, name: &str) -> fake_github::Pull {
    let open = w.open_pulls(name);
    assert_eq!(open.len(), 1, "{name}: {open:?}");
    open.into_iter().next().unwrap()
}

/// Revision A everywhere (c-pr's pull request left open), then B on the
/// canary wave. Returns (A, B, A's CI file).
fn a_everywhere_then_b_on_canary(w: &World) -> (String, String, String) {
    let a = w.git(&["rev-parse", "HEAD"]);
    w.run(0, "apply", &[]).expect_code(0);
    let merged = one_open_pull(w, "c-merged");
    w.fake.merge_pull(OWNER, "c-merged", merged.number);
    w.run(60, "promote", &[&a, "--wave", "default"])
        .expect_code(0);
    w.run(120, "apply", &[]).expect_code(0);
    let d = one_open_pull(w, "d-pr");
    w.fake.merge_pull(OWNER, "d-pr", d.number);
    let ci_a = w.file("d-direct", "main", CI).expect("A delivered");
    for name in ["c-direct", "c-merged", "d-direct", "d-pr"] {
        assert_eq!(w.file(name, "main", CI).as_deref(), Some(ci_a.as_str()));
    }

    let b = w.change_template("make publish", BAD_STEP);
    w.run(HOUR, "apply", &[]).expect_code(0);
    assert!(w.file("c-direct", "main", CI).unwrap().contains(BAD_STEP));
    for name in ["c-pr", "c-merged"] {
        let pr = one_open_pull(w, name);
        assert!(
            w.file(name, &pr.head, CI).unwrap().contains(BAD_STEP),
            "{name}"
        );
    }
    assert!(!w.file("d-direct", "main", CI).unwrap().contains(BAD_STEP));
    assert!(w.open_pulls("d-pr").is_empty());
    (a, b, ci_a)
}

fn audit_lines(w: &World) -> Vec<Value> {
    std::fs::read_to_string(w.state.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tips(w: &World, names: &[&str]) -> Vec<Option<String>> {
    names.iter().map(|n| w.fake.tip(OWNER, n, "main")).collect()
}

#[test]
fn rollback_reverts_what_the_bad_revision_reached_pins_the_fleet_and_unpin_resumes_the_head() {
    let w = fleet();
    let (a, b, ci_a) = a_everywhere_then_b_on_canary(&w);
    let c_pr_number = one_open_pull(&w, "c-pr").number;
    let c_merged_number = one_open_pull(&w, "c-merged").number;
    let untouched = tips(&w, &["d-direct", "d-pr"]);
    let c_merged_tip = w.fake.tip(OWNER, "c-merged", "main");

    // A dry run shows the rollback and records nothing.
    let log_before = std::fs::read(w.state.join("rollout.jsonl")).unwrap();
    let dry = w.run(
        HOUR + 300,
        "rollback",
        &[&a[..12], "--reason", "B publishes to everyone", "--dry-run"],
    );
    dry.expect_code(2);
    assert_eq!(
        std::fs::read(w.state.join("rollout.jsonl")).unwrap(),
        log_before
    );
    assert!(w.file("c-direct", "main", CI).unwrap().contains(BAD_STEP));

    // The rollback.
    let t = HOUR + 600;
    let run = w.run(
        t,
        "rollback",
        &[&a[..12], "--reason", "B publishes to everyone"],
    );
    run.expect_code(0);
    let (a12, b12) = (&a[..12], &b[..12]);
    assert!(
        run.stdout.contains(&format!(
            "The fleet is pinned to revision {a12} by oncall-olivia"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "Rollback to revision {a12} (B publishes to everyone):"
        )),
        "{}",
        run.stdout
    );

    // c-direct: one commit back to A's content, saying rollback.
    assert_eq!(w.file("c-direct", "main", CI).unwrap(), ci_a);
    let log = w.fake.log(OWNER, "c-direct", "main");
    let message = w.fake.commit_message(OWNER, "c-direct", &log[0]);
    assert!(
        message.starts_with(&format!(
            "distributor: roll back 1 managed file to revision {a12}\n\nRollback from revision {b12} to {a12} (by oncall-olivia): B publishes to everyone\n"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("\nDistributor-Rollback: {b} -> {a}\n")),
        "{message}"
    );
    assert!(
        w.fake
            .commit_message(OWNER, "c-direct", &log[1])
            .starts_with("distributor: update 1 managed file"),
        "exactly one new commit"
    );

    // c-pr: the same pull request, updated to A's content, saying rollback.
    let pr = one_open_pull(&w, "c-pr");
    assert_eq!(pr.number, c_pr_number);
    assert_eq!(w.file("c-pr", &pr.head, CI).unwrap(), ci_a);
    assert_eq!(
        pr.title,
        format!("distributor: roll back 1 platform-managed file to revision {a12}")
    );
    assert!(
        pr.body.contains(&format!(
            "**Rollback** from revision {b12} to {a12} (by oncall-olivia): B publishes to everyone"
        )),
        "{}",
        pr.body
    );

    // c-merged already matches A: B's pull request is closed, main kept.
    assert!(w.open_pulls("c-merged").is_empty());
    let closed = w
        .fake
        .pulls(OWNER, "c-merged")
        .into_iter()
        .find(|p| p.number == c_merged_number)
        .unwrap();
    assert!(!closed.merged);
    assert_eq!(w.fake.tip(OWNER, "c-merged", "main"), c_merged_tip);

    // B never reached the default wave: nothing written there.
    assert_eq!(tips(&w, &["d-direct", "d-pr"]), untouched);
    assert!(w.open_pulls("d-pr").is_empty());

    // Recorded: B halted, the fleet pinned to A; every write audited.
    let log = std::fs::read_to_string(w.state.join("rollout.jsonl")).unwrap();
    assert!(log.contains("\"event\":\"halted\",\"at\""), "{log}");
    assert!(
        log.contains(&format!(
            "\"revision\":\"{b}\",\"reason\":\"rolled back to {a12} by oncall-olivia: B publishes to everyone\""
        )),
        "{log}"
    );
    assert!(log.contains("\"event\":\"pinned\""), "{log}");
    let audit = audit_lines(&w);
    let outcome = |repo: &str| -> &Value {
        audit
            .iter()
            .find(|l| l["phase"] == "outcome" && l["repo"] == format!("{OWNER}/{repo}"))
            .unwrap_or_else(|| panic!("no outcome for {repo}: {audit:?}"))
    };
    let c_direct_tip = w.fake.tip(OWNER, "c-direct", "main").unwrap();
    assert_eq!(outcome("c-direct")["outcome"], "changed");
    assert_eq!(outcome("c-direct")["commit"], c_direct_tip.as_str());
    assert_eq!(outcome("c-pr")["outcome"], "proposed");
    assert_eq!(outcome("c-merged")["closed_pull_request"], c_merged_number);
    for line in &audit {
        assert_eq!(line["revision"], a.as_str());
        assert_eq!(line["operator"], "oncall-olivia");
        assert!(
            line["reason"]
                .as_str()
                .unwrap()
                .contains(&format!("rollback from revision {b12} to {a12}")),
            "{line}"
        );
    }
    assert!(
        audit.iter().any(|l| l["phase"] == "intent"
            && l["repo"] == "acme/c-direct"
            && l["parent"] == log_tip_before(&w, "c-direct")),
        "{audit:?}"
    );
    assert!(
        !audit
            .iter()
            .any(|l| l["repo"] == "acme/d-direct" || l["repo"] == "acme/d-pr"),
        "{audit:?}"
    );

    // During the pin every run renders A: nothing to do, nothing written,
    // and the warning says why.
    let before = tips(&w, &["c-direct", "c-pr", "c-merged", "d-direct", "d-pr"]);
    let audited = audit_lines(&w).len();
    let pinned_run = w.run(t + 3 * HOUR, "apply", &[]);
    pinned_run.expect_code(0);
    assert!(
        pinned_run.stderr.contains(&format!(
            "the fleet is pinned to revision {a12} by oncall-olivia"
        )),
        "{}",
        pinned_run.stderr
    );
    assert_eq!(
        tips(&w, &["c-direct", "c-pr", "c-merged", "d-direct", "d-pr"]),
        before
    );
    assert_eq!(
        audit_lines(&w).len(),
        audited,
        "a quiet pinned run adds no audit lines"
    );
    w.run(t + 3 * HOUR, "plan", &[]).expect_code(0);
    // JSON says the run delivered the pinned rollback.
    let json = w.run(t + 3 * HOUR, "apply", &["--format", "json"]);
    json.expect_code(0);
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["rollback"]["to"], a.as_str(), "{doc}");
    assert_eq!(doc["rollback"]["from"], json!([b.clone()]), "{doc}");
    // A daemon cycle during the pin keeps A too.
    let logs = w.serve_one_cycle();
    assert!(
        logs.iter()
            .any(|l| l.contains(&format!("the fleet is pinned to revision {a12}"))),
        "{logs:?}"
    );
    // It rendered A: everything but c-pr (its pull request) is in sync
    // (rendering B would find them outdated).
    assert!(
        logs.iter().any(|l| l.contains("cycle finished")
            && l.contains("4 in sync, 0 outdated, 1 pending review")),
        "{logs:?}"
    );
    assert_eq!(
        tips(&w, &["c-direct", "c-pr", "c-merged", "d-direct", "d-pr"]),
        before
    );
    assert_eq!(one_open_pull(&w, "c-pr").number, c_pr_number);
    // Another revision cannot be applied while pinned.
    let other = w.run(t + 3 * HOUR, "apply", &["--source-rev", &b]);
    other.expect_code(1);
    assert!(
        other.stderr.contains(&format!(
            "refusing `apply --source-rev {b}`: the fleet is pinned to revision {a12}"
        )),
        "{}",
        other.stderr
    );

    // A fix: C. Unpinned, the head follows the waves again: canary first.
    let c = w.change_template(BAD_STEP, "make publish --to-staging");
    let unpin = w.run(
        t + 4 * HOUR,
        "unpin",
        &["--reason", "C fixes the publish step"],
    );
    unpin.expect_code(0);
    let log = std::fs::read_to_string(w.state.join("rollout.jsonl")).unwrap();
    let unpinned: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "unpinned")
        .unwrap_or_else(|| panic!("no unpinned event: {log}"));
    assert_eq!(unpinned["revision"], a.as_str());
    assert_eq!(unpinned["operator"], "oncall-olivia");
    assert_eq!(unpinned["reason"], "C fixes the publish step");
    assert!(
        unpin
            .stdout
            .contains(&format!("unpinned: the fleet was pinned to revision {a12}")),
        "{}",
        unpin.stdout
    );
    assert!(
        unpin.stdout.contains(&format!(
            "still halted (resume one with `distributor resume REV` once it is fixed): {b12}"
        )),
        "{}",
        unpin.stdout
    );
    assert!(
        w.run(t + 4 * HOUR, "unpin", &[])
            .stderr
            .contains("the fleet is not pinned")
    );
    let next = w.run(t + 4 * HOUR, "apply", &[]);
    next.expect_code(0);
    assert!(
        w.file("c-direct", "main", CI)
            .unwrap()
            .contains("--to-staging")
    );
    let pr = one_open_pull(&w, "c-pr");
    assert_eq!(pr.number, c_pr_number, "the same pull request carries C");
    assert!(
        w.file("c-pr", &pr.head, CI)
            .unwrap()
            .contains("--to-staging")
    );
    assert!(
        next.stdout
            .contains("d-direct: held: wave default waits for wave canary"),
        "{}",
        next.stdout
    );
    assert_eq!(tips(&w, &["d-direct", "d-pr"]), untouched);
    let lock = w
        .file("c-direct", "main", ".github/distributor.lock.json")
        .unwrap();
    assert!(lock.contains(&c), "{lock}");
    for name in ["c-direct", "c-pr", "c-merged", "d-direct", "d-pr"] {
        w.fsck(name);
    }
}

/// The parent the rollback's commit on `name` was built on (the tip
/// before it).
fn log_tip_before(w: &World, name: &str) -> String {
    w.fake.log(OWNER, name, "main")[1].clone()
}

#[test]
fn a_forced_rollback_commits_directly_where_the_bad_revision_reached_with_its_audit() {
    let w = fleet();
    let (a, b, ci_a) = a_everywhere_then_b_on_canary(&w);
    let untouched = tips(&w, &["d-direct", "d-pr"]);
    let run = w.run(
        HOUR + 600,
        "rollback",
        &[&a, "--reason", "CVE in the publish step", "--force"],
    );
    run.expect_code(0);
    let a12 = &a[..12];
    assert!(
        run.stdout.contains(&format!(
            "Forced rollback to revision {a12} (CVE in the publish step):"
        )),
        "{}",
        run.stdout
    );
    // Every repo B reached holds A on its default branch now; the pull
    // requests B opened or updated are closed as superseded.
    for name in ["c-direct", "c-pr"] {
        assert_eq!(w.file(name, "main", CI).unwrap(), ci_a, "{name}");
        let tip = w.fake.tip(OWNER, name, "main").unwrap();
        let message = w.fake.commit_message(OWNER, name, &tip);
        assert!(
            message.starts_with(&format!(
                "distributor: forced rollback of 1 managed file to revision {a12}"
            )),
            "{message}"
        );
        assert!(message.contains("Distributor-Force-Reason: CVE in the publish step"));
        assert!(message.contains(&format!("Distributor-Rollback: {b} -> {a}")));
        assert!(w.open_pulls(name).is_empty(), "{name}");
    }
    assert!(w.open_pulls("c-merged").is_empty());
    assert_eq!(tips(&w, &["d-direct", "d-pr"]), untouched);
    // Intent before, outcome after, for every forced commit.
    let audit = audit_lines(&w);
    for name in ["c-direct", "c-pr"] {
        let repo = format!("{OWNER}/{name}");
        let tip = w.fake.tip(OWNER, name, "main").unwrap();
        let intent = audit
            .iter()
            .find(|l| l["phase"] == "intent" && l["repo"] == repo)
            .unwrap_or_else(|| panic!("no intent for {name}: {audit:?}"));
        let outcome = audit
            .iter()
            .find(|l| l["phase"] == "outcome" && l["repo"] == repo)
            .unwrap();
        assert_eq!(intent["id"], outcome["id"]);
        assert_eq!(outcome["outcome"], "changed");
        assert_eq!(outcome["commit"], tip.as_str());
        assert!(
            outcome["reason"]
                .as_str()
                .unwrap()
                .starts_with("CVE in the publish step; rollback from revision"),
            "{outcome}"
        );
    }
    for name in ["c-direct", "c-pr", "c-merged"] {
        w.fsck(name);
    }
}

#[test]
fn a_rollback_that_cannot_go_back_is_refused_and_records_nothing() {
    let w = fleet();
    let a = w.git(&["rev-parse", "HEAD"]);
    w.run(0, "apply", &[]).expect_code(0);
    let b = w.change_template("make publish", BAD_STEP);
    let log_before = std::fs::read(w.state.join("rollout.jsonl")).unwrap();
    let tips_before = tips(&w, &["c-direct", "c-pr", "c-merged", "d-direct", "d-pr"]);
    let long = "r".repeat(1001);
    for (args, says) in [
        (
            vec![b.as_str(), "--reason", "x"],
            format!(
                "cannot roll back to {b}: revision {} is the platform's head",
                &b[..12]
            ),
        ),
        (
            vec!["deadbeef", "--reason", "x"],
            "no commit deadbeef in the platform repository's history".to_string(),
        ),
        (
            vec![a.as_str(), "--reason", "  "],
            "rollback needs a non-empty --reason".to_string(),
        ),
        (
            vec![a.as_str(), "--reason", long.as_str()],
            "--reason is 1001 characters".to_string(),
        ),
        (
            vec![a.as_str(), "--reason", "bad\u{1b}[31m colours"],
            "--reason contains the control character '\\u{1b}'".to_string(),
        ),
    ] {
        let run = w.run(HOUR, "rollback", &args);
        assert_eq!(run.code, 1, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(&says), "{args:?}: {}", run.stderr);
    }
    // The forced path takes the same reasons.
    let forced = w.run(HOUR, "apply", &["--force", "--reason", long.as_str()]);
    assert_eq!(forced.code, 1, "{}", forced.stderr);
    assert!(
        forced.stderr.contains("--reason is 1001 characters"),
        "{}",
        forced.stderr
    );
    let missing = w.run(HOUR, "rollback", &[a.as_str()]);
    assert_eq!(missing.code, 2, "clap refuses a missing --reason");
    assert_eq!(
        std::fs::read(w.state.join("rollout.jsonl")).unwrap(),
        log_before
    );
    assert_eq!(
        tips(&w, &["c-direct", "c-pr", "c-merged", "d-direct", "d-pr"]),
        tips_before
    );
}

/// A pin whose revision the platform repository no longer has (a
/// rewritten branch, garbage-collected) fails every run with a message
/// naming the pin and the way out; `unpin` is that way out. (While the
/// commit object is still there, the pin keeps working.)
#[test]
fn a_pin_lost_from_history_names_itself_until_unpinned() {
    let w = fleet();
    let a = w.git(&["rev-parse", "HEAD"]);
    w.run(0, "apply", &[]).expect_code(0);
    w.change_template("make publish", BAD_STEP);
    w.run(HOUR, "rollback", &[&a, "--reason", "bad"])
        .expect_code(0);
    // Someone rewrites the platform's branch: A is gone from its history.
    w.git(&["checkout", "-q", "--orphan", "rewritten"]);
    w.commit("platform: rewritten");
    w.git(&["branch", "-q", "-M", "rewritten", "main"]);
    let still = w.run(2 * HOUR, "plan", &[]);
    assert_eq!(still.code, 2, "the pin still renders A: {}", still.stderr);
    w.git(&["reflog", "expire", "--expire=now", "--all"]);
    w.git(&["gc", "-q", "--prune=now"]);
    let lost = w.run(2 * HOUR, "plan", &[]);
    lost.expect_code(1);
    assert!(
        lost.stderr.contains(&format!(
            "the revision the fleet is pinned to, {} (`distributor unpin` follows the head again): no commit {a}",
            &a[..12]
        )),
        "{}",
        lost.stderr
    );
    w.run(2 * HOUR, "unpin", &[]).expect_code(0);
    let back = w.run(2 * HOUR, "plan", &[]);
    assert!(back.code == 0 || back.code == 2, "{}", back.stderr);
}
