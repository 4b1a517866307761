//! The README's Quick start then Walkthrough, step by step, with the exit
//! codes and lines the README says a reader sees (keep both in step).

mod common;

use common::Env;

#[test]
fn the_readme_walkthrough_after_the_quick_start_shows_what_it_says() {
    let env = Env::new();
    // Quick start.
    env.apply(&["--init"]).expect_code(0);
    // 1. Nothing to write after the Quick start: 7 proposals awaiting merge.
    let plan = env.plan(&["--init", "--no-diff"]);
    plan.expect_code(0);
    assert!(plan.stdout.contains("7 awaiting merge"), "{}", plan.stdout);
    // 2. and 4.
    env.apply(&["--init"]).expect_code(0);
    let again = env.apply(&[]);
    again.expect_code(0);
    assert!(
        again
            .stdout
            .contains("Applied: 0 repos changed, 12 unchanged, 0 failed (12 repos)."),
        "{}",
        again.stdout
    );
    // 5. A hand edit on mango-web's main.
    let bare = env.bare("mango-web");
    let editorconfig = env.git(&bare, &["show", "main:.editorconfig"]);
    env.human_commit(
        &bare,
        "main",
        ".editorconfig",
        &format!("{editorconfig}\nindent_size = 8\n"),
    );
    // 6.
    let status = env.status(&[]);
    status.expect_code(0);
    let row = status
        .stdout
        .lines()
        .find(|l| l.starts_with("acme/mango-web "))
        .unwrap_or_else(|| panic!("{}", status.stdout));
    assert!(row.contains("drifted"), "{row}");
    let plan = env.plan(&["--repo", "mango-web"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains(
            "! overwrite .editorconfig  [drifted: edited since distributor wrote it] -> proposal"
        ),
        "{}",
        plan.stdout
    );
    // 7.
    env.cmd("flags", &["new_db"]).expect_code(2);
}
