//! `distributor serve` on the local forge, stopped by SIGTERM in the middle
//! of a cycle over 200 repos: the process exits within `stop_timeout` + 1 s,
//! between two repos (every repo is either fully written or untouched, and
//! `git fsck --strict` is clean everywhere), and the cycle is recorded
//! `interrupted`. `apply` stopped the same way (SIGTERM or Ctrl-C) also
//! stops between two repos, prints what it did and says so (exit 1); the
//! next `apply` carries on.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::Env;
use common::daemon::{self, Logged};

const REPOS: usize = 200;

/// One team, 200 repos, every bundle, delivered directly, all written;
/// then a template change that writes every repo again. Returns each
/// repo's tip before that change.
fn fleet_with_a_pending_change(env: &Env) -> Vec<String> {
    // One team, 200 repos, every bundle, delivered directly.
    env.edit_registry(|r| {
        let team = r["teams"]["mango"].clone();
        let mut t = team;
        t["repos"] = Value::Array(
            (0..REPOS)
                .map(|i| {
                    serde_json::json!({
                        "name": format!("svc-{i:03}"),
                        "delivery": "direct",
                        "bundles": ["baseline", "security", "terraform-deploy"]
                    })
                })
                .collect(),
        );
        r["teams"] = serde_json::json!({ "mango": t });
        r.as_object_mut().unwrap().remove("waves");
        r["defaults"].as_object_mut().unwrap().remove("wave");
    });
    env.apply(&["--init"]).expect_code(0);
    let before: Vec<String> = (0..REPOS)
        .map(|i| common::tip(env, &env.bare(&format!("svc-{i:03}")), "main").unwrap())
        .collect();
    // A template change: the next run writes every repo.
    env.append_to_template("baseline/CODEOWNERS", "# changed for the daemon\n");
    before
}

/// Each repo holds its old tip or exactly one new commit carrying the
/// change, some but not all were written, and every repository is valid
/// git. Returns how many were written.
fn assert_stopped_between_repos(env: &Env, before: &[String]) -> usize {
    let mut written = 0;
    for (i, old) in before.iter().enumerate() {
        let bare = env.bare(&format!("svc-{i:03}"));
        let tip = common::tip(env, &bare, "main").unwrap();
        if &tip != old {
            written += 1;
            assert_eq!(
                env.git(&bare, &["rev-parse", "main~1"]).trim(),
                old,
                "svc-{i:03}: one commit on the old tip"
            );
            let codeowners = env.git(&bare, &["show", "main:.github/CODEOWNERS"]);
            assert!(
                codeowners.contains("# changed for the daemon"),
                "{codeowners}"
            );
        }
    }
    assert!(
        (1..REPOS).contains(&written),
        "stopped part-way: {written} of {REPOS} repos written"
    );
    common::assert_fsck_clean(env);
    written
}

#[test]
fn sigterm_mid_cycle_stops_between_repos_within_the_stop_timeout() {
    let env = Env::new();
    let before = fleet_with_a_pending_change(&env);

    let config = env.tmp.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "platform:\n  path: {}\nforge:\n  local:\n    root: {}\nreconcile:\n  interval: 1h\n  jitter: 0s\n  stop_timeout: 3s\nhttp:\n  listen: 127.0.0.1:0\nlog:\n  format: json\n",
            env.platform.display(),
            env.forge.display()
        ),
    )
    .unwrap();
    let mut serve = Logged::spawn(daemon::serve_command(
        &config,
        &env.tmp.path().join("state"),
        &env.scratch,
    ));
    let within = Duration::from_secs(120);
    // The cycle is under way once its first repo is written.
    serve.wait_for(|l| l.contains("\"repo done\""), within);
    let term = Instant::now();
    serve.signal("TERM");
    let status = loop {
        if let Some(s) = serve.try_wait() {
            break s;
        }
        assert!(
            term.elapsed() < Duration::from_secs(4),
            "still running {:?} after SIGTERM (stop_timeout 3s)",
            term.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    // The rest of the log.
    serve.wait_for(|l| l.contains("\"stopped\""), within);
    let seen = &serve.seen;
    let finished: Value = seen
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("cycle finished"))
        })
        .unwrap_or_else(|| panic!("no cycle finished line:\n{}", seen.join("\n")));
    assert_eq!(finished["outcome"], "interrupted", "{finished}");

    assert_stopped_between_repos(&env, &before);
}

#[test]
fn apply_stopped_by_sigterm_stops_between_repos_and_reports_what_it_did() {
    let env = Env::new();
    let before = fleet_with_a_pending_change(&env);
    let mut cmd = env.command(&[
        "apply",
        "--forge",
        &env.forge_arg(),
        "--log-format",
        "json",
        "-v",
    ]);
    cmd.stdout(Stdio::piped());
    let mut apply = Logged::spawn(cmd);
    apply.wait_for(|l| l.contains("\"repo done\""), Duration::from_secs(120));
    apply.signal("TERM");
    let stdout = apply.take_stdout();
    let status = apply.wait();
    let seen = &apply.seen;
    assert_eq!(status.code(), Some(1), "{stdout}\n{}", seen.join("\n"));
    let written = assert_stopped_between_repos(&env, &before);
    assert!(
        stdout.contains(&format!(
            "Interrupted: stopped after {written} of {REPOS} repos (each either done or untouched); run it again to carry on."
        )),
        "{stdout}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("SIGTERM: stopping after the repo in progress")),
        "{}",
        seen.join("\n")
    );
    // The next apply carries on; then nothing is left to do.
    env.apply(&[]).expect_code(0);
    env.plan(&[]).expect_code(0);
    common::assert_fsck_clean(&env);
}
