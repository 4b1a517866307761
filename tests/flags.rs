//! `distributor flags`: a flag flip tracked to completion on the shipped
//! fleet (local forge). Before the flip everything is live once the
//! proposals are merged (exit 0); after switching `new_db` on in prd the
//! prd stage names every repo holding it up, with the reason: the next
//! apply for direct repos, a proposal for pr repos, a hand edit blocking
//! one direct repo (conflicted: the edit and the flip touch the same
//! lines); dev stays live throughout. Unknown flags are refused.

mod common;

use std::collections::BTreeMap;

use common::{Env, bare_repos};
use serde_json::Value;

const TFVARS_PRD: &str = "terraform/environments/prd/platform.auto.tfvars.json";

fn flags(env: &Env, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let run = env.cmd("flags", &all);
    let json = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("flags JSON: {e}\n{}{}", run.stdout, run.stderr));
    (run.code, json)
}

/// The stage `stage` of flag `name` in a report.
fn stage<'a>(report: &'a Value, name: &str, stage: &str) -> &'a Value {
    let flag = report["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("flag {name} in {report}"));
    flag["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .unwrap_or_else(|| panic!("stage {stage} in {flag}"))
}

fn repos(list: &Value) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str()
                .map(String::from)
                .unwrap_or_else(|| v["repo"].as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

/// Merges every open proposal as a reviewer would (fast-forward of the
/// default branch to the proposal, branch deleted).
fn merge_every_proposal(env: &Env) {
    for bare in bare_repos(&env.forge).values() {
        if common::tip(env, bare, "distributor/sync").is_some() {
            env.git(
                bare,
                &[
                    "update-ref",
                    "refs/heads/main",
                    "refs/heads/distributor/sync",
                ],
            );
            env.git(bare, &["update-ref", "-d", "refs/heads/distributor/sync"]);
        }
    }
}

fn delivery_of(env: &Env) -> BTreeMap<String, String> {
    common::registry_repos(&env.registry())
        .into_iter()
        .map(|r| (format!("acme/{}", r.name), r.delivery))
        .collect()
}

#[test]
fn a_flag_flip_is_tracked_until_it_is_live_everywhere() {
    let env = Env::initialised();
    let state = env.tmp.path().join("state").display().to_string();
    let st = ["--state-dir", state.as_str()];

    // Fresh fleet: the pr repos' onboarding waits in proposals.
    let (code, report) = flags(&env, &st);
    assert_eq!(code, 2, "{report}");
    assert_eq!(report["schema"], "distributor.flags/v1");
    assert!(
        !stage(&report, "new_db", "prd")["pending"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    merge_every_proposal(&env);
    let (code, report) = flags(&env, &st);
    assert_eq!(
        code, 0,
        "every flag live once the proposals are merged: {report}"
    );
    assert_eq!(report["complete"], true);
    let prd = stage(&report, "new_db", "prd");
    assert_eq!(
        (prd["on"].as_u64(), prd["off"].as_u64()),
        (Some(0), Some(12))
    );
    let readers = repos(&prd["live"]);
    assert!(
        readers.len() >= 4,
        "repos whose files read new_db in prd: {readers:?}"
    );

    // Switch new_db on in prd for everyone.
    env.replace_in_registry(
        r#""new_db": { "dev": true, "uat": true, "stg": false, "prd": false }"#,
        r#""new_db": { "dev": true, "uat": true, "stg": false, "prd": true }"#,
    );
    let (code, report) = flags(&env, &["new_db", "--state-dir", &state]);
    assert_eq!(code, 2);
    assert_eq!(
        report["flags"].as_array().unwrap().len(),
        1,
        "only the flag asked for"
    );
    let prd = stage(&report, "new_db", "prd");
    // One team keeps new_db to the stages it names: off in its prd.
    assert_eq!(
        (prd["on"].as_u64(), prd["off"].as_u64()),
        (Some(11), Some(1))
    );
    let waiting: BTreeMap<String, String> = prd["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["repo"].as_str().unwrap().into(),
                w["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    let still_live = repos(&prd["live"]);
    assert_eq!(waiting.len() + still_live.len(), readers.len(), "{prd}");
    let delivery = delivery_of(&env);
    let direct: Vec<&String> = waiting
        .keys()
        .filter(|r| delivery[*r] == "direct")
        .collect();
    let pr: Vec<&String> = waiting.keys().filter(|r| delivery[*r] == "pr").collect();
    assert!(
        direct.len() >= 2 && !pr.is_empty(),
        "direct {direct:?}, pr {pr:?}"
    );
    for r in &direct {
        assert_eq!(waiting[*r], "the next apply commits it to `main`", "{r}");
    }
    for r in &pr {
        assert_eq!(
            waiting[*r], "the next apply proposes it on `distributor/sync`",
            "{r}"
        );
    }
    assert_eq!(
        stage(&report, "new_db", "dev")["complete"],
        true,
        "dev untouched"
    );

    // A hand edit on one direct repo's prd file, then the apply.
    let edited = direct[0].trim_start_matches("acme/");
    let bare = env.bare(edited);
    env.human_commit(&bare, "main", TFVARS_PRD, "{\"hand\": \"edit\"}\n");
    env.apply(&st).expect_code(0);

    let (code, report) = flags(&env, &["new_db", "--state-dir", &state]);
    assert_eq!(code, 2);
    let prd = stage(&report, "new_db", "prd");
    let live = repos(&prd["live"]);
    for r in direct.iter().skip(1) {
        assert!(live.contains(r), "{r} live after the apply: {prd}");
    }
    assert_eq!(
        prd["blocked"],
        serde_json::json!([{"repo": direct[0], "path": TFVARS_PRD, "state": "conflicted"}])
    );
    assert_eq!(
        repos(&prd["pending"]),
        pr.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );

    // Text names the holders; markdown has the table.
    let text = env.cmd("flags", &["new_db", "--state-dir", &state]);
    assert_eq!(text.code, 2);
    assert!(
        text.stdout.contains(&format!("blocked  {}", direct[0])),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("Some flags are still on their way"),
        "{}",
        text.stdout
    );
    let md = env.cmd(
        "flags",
        &["new_db", "--format", "markdown", "--state-dir", &state],
    );
    assert!(md.stdout.starts_with("## Flags\n"), "{}", md.stdout);
    assert!(
        md.stdout
            .contains("| prd | on in 11, off in 1 | 2 | 2 | 0 | 1 | 0 |"),
        "{}",
        md.stdout
    );
}

#[test]
fn an_unknown_flag_is_refused_by_name() {
    let env = Env::initialised();
    let before = env.snapshot();
    let run = env.cmd("flags", &["new_db", "nwe_db", "--state-dir", "st"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr
            .contains("no flag \"nwe_db\" in registry.json; flags: ")
            && run.stderr.contains("new_db"),
        "{}",
        run.stderr
    );
    // A huge name is cut in the message, not echoed whole.
    let huge = env.cmd("flags", &[&"f".repeat(100_000)]);
    assert_eq!(huge.code, 1);
    assert!(
        huge.stderr.len() < 1_000 && huge.stderr.contains("(100000 bytes)"),
        "{} bytes",
        huge.stderr.len()
    );
    env.snapshot().assert_same(&before, "a refused flags run");
}

#[test]
fn a_flag_switched_on_before_the_earlier_stage_is_live_is_named_out_of_order() {
    let env = Env::initialised();
    let state = env.tmp.path().join("state").display().to_string();
    merge_every_proposal(&env);
    // stg and prd in one commit: prd is on while stg is still on its way.
    env.replace_in_registry(
        r#""new_db": { "dev": true, "uat": true, "stg": false, "prd": false }"#,
        r#""new_db": { "dev": true, "uat": true, "stg": true, "prd": true }"#,
    );
    let (code, report) = flags(&env, &["new_db", "--state-dir", &state]);
    assert_eq!(code, 2);
    let out = &report["out_of_order"];
    assert_eq!(out.as_array().unwrap().len(), 1, "{report}");
    assert_eq!(
        (&out[0]["flag"], &out[0]["stage"], &out[0]["earlier"]),
        (&"new_db".into(), &"prd".into(), &"stg".into())
    );
    let stg_waiting = repos(&stage(&report, "new_db", "stg")["waiting"]);
    assert_eq!(repos(&out[0]["holders"]), stg_waiting);

    let plan = env.plan(&["--state-dir", &state, "--no-diff"]);
    plan.expect_code(2);
    assert!(
        plan.stderr
            .contains("flag out of order: new_db is on in prd while stg is not live everywhere yet (held up by "),
        "{}",
        plan.stderr
    );
    // --strict-flags: refused before anything is written.
    let before = env.snapshot();
    for command in ["plan", "apply"] {
        let run = env.cmd(command, &["--strict-flags", "--state-dir", &state]);
        assert_eq!(run.code, 1, "{command}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("refusing to write (--strict-flags): ")
                && run
                    .stderr
                    .contains("new_db is on in prd while stg is not live everywhere yet"),
            "{command}: {}",
            run.stderr
        );
    }
    env.snapshot()
        .assert_same(&before, "a refused --strict-flags apply");
    // A flag order that does not name stg: nothing out of order.
    env.edit_registry(|r| r["flag_order"] = serde_json::json!(["dev", "uat", "prd"]));
    let (_, report) = flags(&env, &["new_db", "--state-dir", &state]);
    assert!(report.get("out_of_order").is_none(), "{report}");
    env.apply(&["--strict-flags", "--state-dir", &state])
        .expect_code(0);
    // An unknown stage in flag_order is refused by validate, by path.
    env.edit_registry(|r| r["flag_order"] = serde_json::json!(["dev", "qa"]));
    let run = env.run_raw(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("flag_order[1]") && run.stderr.contains("unknown stage \"qa\""),
        "{}",
        run.stderr
    );
}
