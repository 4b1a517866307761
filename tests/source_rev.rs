//! `plan`/`apply --source-rev REV` on the shipped fleet (local forge): the
//! registry and templates are read as a platform commit holds them (no
//! checkout), planned and delivered like the head: going back to an older
//! revision shows what it would change, then delivers exactly its render,
//! and the lock names that revision. A revision that does not resolve is
//! refused before anything is written.

mod common;

use common::{Env, lock_on, tip};

/// The platform directory as a git repository with one commit; returns
/// that commit's id.
fn commit_platform(env: &Env, message: &str) -> String {
    let p = &env.platform;
    env.git(p, &["add", "-A"]);
    env.git(p, &["commit", "-qm", message]);
    env.git(p, &["rev-parse", "HEAD"])
}

#[test]
fn going_back_to_an_older_revision_plans_then_delivers_its_render() {
    let env = Env::new();
    env.git(&env.platform, &["init", "-q", "-b", "main"]);
    let v1 = commit_platform(&env, "v1");
    env.apply(&["--init"]).expect_code(0);
    let bare = env.bare("mango-web");
    let codeowners_v1 = env.git(&bare, &["show", "main:.github/CODEOWNERS"]);

    env.append_to_template("baseline/CODEOWNERS", "# v2: a change to roll back\n");
    let v2 = commit_platform(&env, "v2");
    env.apply(&[]).expect_code(0);
    assert_eq!(lock_on(&env, &bare, "main")["source"]["revision"], v2);
    assert!(
        env.git(&bare, &["show", "main:.github/CODEOWNERS"])
            .contains("# v2")
    );

    // What going back would change: the template, reaching every repo.
    let short = &v1[..8];
    let plan = env.plan(&["--source-rev", short, "--no-diff"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("baseline/CODEOWNERS"),
        "{}",
        plan.stdout
    );
    let before = tip(&env, &bare, "main");
    assert_eq!(tip(&env, &bare, "main"), before, "plan writes nothing");

    // Delivered: exactly v1's render, the lock naming v1.
    env.apply(&["--source-rev", short]).expect_code(0);
    assert_eq!(
        env.git(&bare, &["show", "main:.github/CODEOWNERS"]),
        codeowners_v1
    );
    assert_eq!(lock_on(&env, &bare, "main")["source"]["revision"], v1);
    env.plan(&["--source-rev", &v1]).expect_code(0);
    // The head still differs: a plan without --source-rev brings v2 back.
    env.plan(&["--no-diff"]).expect_code(2);
    common::assert_fsck_clean(&env);
}

#[test]
fn a_revision_that_does_not_resolve_is_refused_before_anything_runs() {
    let env = Env::initialised();
    env.git(&env.platform, &["init", "-q", "-b", "main"]);
    commit_platform(&env, "v1");
    let before = env.snapshot();
    for (rev, says) in [
        (
            "deadbeef",
            "no commit deadbeef in the platform repository's history",
        ),
        (
            "nope",
            "\"nope\" is neither a branch, a tag nor a commit id",
        ),
    ] {
        let run = env.apply(&["--source-rev", rev]);
        assert_eq!(run.code, 1, "{rev}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(&format!("--source-rev {rev}: ")) && run.stderr.contains(says),
            "{rev}: {}",
            run.stderr
        );
    }
    // A huge value is cut in the message, not echoed whole.
    for (command, huge) in [
        ("apply", "x".repeat(100_000)),
        ("rollback", "b".repeat(100_000)),
    ] {
        let run = match command {
            "apply" => env.apply(&["--source-rev", &huge]),
            _ => env.cmd("rollback", &[&huge, "--reason", "r"]),
        };
        assert_eq!(run.code, 1, "{command}: {}", run.stderr);
        assert!(
            run.stderr.len() < 1_000 && run.stderr.contains("(100000 bytes)"),
            "{command}: {} bytes: {}",
            run.stderr.len(),
            &run.stderr[..run.stderr.len().min(400)]
        );
    }
    env.snapshot()
        .assert_same(&before, "a refused --source-rev");
}

/// `plan --source-rev A` on a fleet at B plans exactly what checking A out
/// and running `plan` plans: every repo's files, commits, proposals and
/// decisions, and the totals. Only the header differs, by design: with
/// `--source-rev` it compares A with the head (what going back changes),
/// with A checked out with A's parent.
#[test]
fn planning_an_older_revision_equals_checking_it_out() {
    let env = Env::new();
    env.git(&env.platform, &["init", "-q", "-b", "main"]);
    let v1 = commit_platform(&env, "v1");
    env.apply(&["--init"]).expect_code(0);
    env.append_to_template("baseline/CODEOWNERS", "# v2: a change to roll back\n");
    env.edit_registry(|r| {
        r["defaults"]["vars"]["runner"] = serde_json::json!("ubuntu-26.04");
    });
    commit_platform(&env, "v2");
    env.apply(&[]).expect_code(0);

    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let run = env.plan(&all);
        run.expect_code(2);
        let mut v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        v.as_object_mut().unwrap().remove("fleet");
        v
    };
    let at = json(&["--source-rev", &v1]);
    let text_at = env.plan(&["--source-rev", &v1, "--detail"]).stdout;
    env.git(&env.platform, &["checkout", "-q", &v1]);
    let checked_out = json(&[]);
    let text_checked_out = env.plan(&["--detail"]).stdout;
    assert_eq!(at, checked_out);
    // The text's repo sections and totals are the same too.
    let body = |t: &str| -> String {
        t.lines()
            .skip_while(|l| !l.starts_with("acme/"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(!body(&text_at).is_empty(), "{text_at}");
    assert_eq!(body(&text_at), body(&text_checked_out));
}
