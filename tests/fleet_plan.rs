//! The plan organised for a fleet, on the shipped registry and templates
//! in a git platform repository: after a first rollout (proposals left
//! unmerged) the platform team turns one flag on in prd and commits. The
//! plan names that change, the teams, repos and environments it reaches
//! and how it is delivered, within 30 lines without `--detail`, and
//! summarises the earlier, unmerged proposals apart; the markdown has the
//! same structure and the JSON the same grouping.

mod common;

use common::Env;

/// A platform repository (the shipped inputs, committed), rolled out once
/// with `apply --init`, then `new_db` turned on in prd and committed.
fn one_flag_change() -> Env {
    let env = Env::new();
    let p = env.platform.clone();
    env.git(&p, &["init", "--quiet", "-b", "main"]);
    env.git(&p, &["add", "."]);
    env.git(&p, &["commit", "--quiet", "-m", "Platform"]);
    env.apply(&["--init"]).expect_code(0);
    env.edit_registry(|r| r["defaults"]["flags"]["new_db"]["prd"] = true.into());
    env.git(&p, &["commit", "--quiet", "-am", "new_db on in prd"]);
    env
}

/// Replaces commit ids (40 hex digits, or the 12 a header prints) and
/// RFC 3339 times.
fn scrub(s: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let hex = (word.len() == 40 || word.len() == 12)
            && word
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
        out.push_str(if hex { "<rev>" } else { word });
        word.clear();
    };
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[test]
fn a_one_flag_change_plans_in_thirty_lines_naming_its_reach() {
    let env = one_flag_change();
    let run = env.plan(&[]);
    let text = scrub(&run.stdout);
    assert!(
        text.lines().count() <= 30,
        "{} lines:\n{text}",
        text.lines().count()
    );
    assert!(
        text.contains("flag new_db (defaults.flags.new_db.prd: false -> true)"),
        "{text}"
    );
    assert!(text.contains("PRODUCTION: prd"), "{text}");
    assert!(
        text.contains("Already pending before this revision:"),
        "{text}"
    );
    insta::assert_snapshot!("one_flag_change_text", text);

    let md = scrub(&env.plan(&["--format", "markdown"]).stdout);
    assert!(md.contains("flag new_db"), "{md}");
    insta::assert_snapshot!("one_flag_change_markdown", md);

    let json: serde_json::Value =
        serde_json::from_str(&env.plan(&["--format", "json"]).stdout).unwrap();
    assert_eq!(json["schema"], "distributor.plan/v1");
    assert_eq!(json["summary"]["repos"], 12, "existing fields kept");
    let fleet = &json["fleet"];
    assert_eq!(fleet["schema"], "distributor.fleet/v1");
    let changes = fleet["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["kind"], "flag");
    assert_eq!(changes[0]["causes"], serde_json::json!(["flag new_db"]));
    assert_eq!(
        changes[0]["teams"],
        serde_json::json!(["banana", "grape", "mango"])
    );
    assert_eq!(changes[0]["production"], serde_json::json!(["prd"]));
    assert_eq!(changes[0]["routes"]["direct_commits"], 2);
    assert_eq!(fleet["pending_before"]["repos"], 7);

    let detail = env.plan(&["--detail", "--no-diff"]);
    assert!(detail.stdout.lines().count() > text.lines().count());
    assert!(detail.stdout.contains("delivery:"), "{}", detail.stdout);
}

/// With a soak on the canary wave, the one-flag change waits in the later
/// waves: the header says which repos are held and why, and the markdown
/// lists the waves and every waiting repo.
#[test]
fn held_repos_are_named_with_their_reason_in_text_and_markdown() {
    let env = Env::new();
    env.edit_registry(|r| r["waves"][0]["soak"] = "2h".into());
    let p = env.platform.clone();
    env.git(&p, &["init", "--quiet", "-b", "main"]);
    env.git(&p, &["add", "."]);
    env.git(&p, &["commit", "--quiet", "-m", "Platform"]);
    env.apply(&["--init"]).expect_code(0);
    env.edit_registry(|r| r["defaults"]["flags"]["new_db"]["prd"] = true.into());
    env.git(&p, &["commit", "--quiet", "-am", "new_db on in prd"]);

    let text = env.plan(&[]).stdout;
    let held = text
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("held 2 repos (wave early waits for wave canary")
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        held.ends_with(": acme/banana-ingest, acme/mango-infra"),
        "{held}"
    );

    let md = env.plan(&["--format", "markdown"]).stdout;
    assert!(md.contains("| wave | repos | in sync | state |"), "{md}");
    assert!(md.contains("| early |"), "{md}");
    assert!(md.contains("Waiting ("), "{md}");
    assert!(
        md.contains("- `acme/mango-infra`: held: wave early waits for wave canary"),
        "{md}"
    );
}

const PRD_TFVARS: &str = "terraform/environments/prd/platform.auto.tfvars.json";

/// Diffs are read only while they can be shown: the compact text (more
/// repos with writes than the detailed view lists) has none, JSON and
/// `--detail` carry every one, and a plan narrowed to one repo shows its
/// diff by default.
#[test]
fn diffs_are_read_only_where_the_output_shows_them() {
    let env = one_flag_change();
    let compact = env.plan(&[]);
    compact.expect_code(2);
    assert!(!compact.stdout.contains("+++ b/"), "{}", compact.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&env.plan(&["--format", "json"]).stdout).unwrap();
    let with_diffs = json["repos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["files"].as_array().unwrap().iter().any(|f| {
                f["path"] == PRD_TFVARS
                    && f["diff"]
                        .as_str()
                        .is_some_and(|d| d.contains("\"new_db\": true"))
            })
        })
        .count();
    assert!(
        with_diffs > 3,
        "every changed repo has its diff in JSON: {with_diffs}"
    );
    let detail = env.plan(&["--detail"]).stdout;
    assert_eq!(
        detail.matches(&format!("+++ b/{PRD_TFVARS}")).count(),
        with_diffs,
        "{detail}"
    );
    let one = env.plan(&["--repo", "acme/mango-infra"]).stdout;
    assert!(one.contains(&format!("+++ b/{PRD_TFVARS}")), "{one}");
}
