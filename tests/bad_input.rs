//! Bad input never writes anything: each case starts from an initialised
//! forge, breaks the platform copy (or the arguments), runs the binary and
//! checks the exit code, the message with its location, and that the forge
//! is byte-for-byte unchanged.

mod common;
mod bad_input {
    //! The corpus continued, by subject.
    pub mod names;
    pub mod paths;
}

use common::{Env, Run, replace_in_file};
use serde_json::json;

/// Runs `command` (`apply`, `plan`, `status`, `validate`) with `extra`
/// arguments after `--forge` (not for `validate`).
fn run(env: &Env, command: &str, extra: &[&str]) -> Run {
    if command == "validate" {
        let mut args = vec!["validate"];
        args.extend_from_slice(extra);
        env.run_raw(&args)
    } else {
        env.cmd(command, extra)
    }
}

/// The core of every case: initialise, snapshot, `mutate`, run each of
/// `commands` and check exit code 1, every `expected` line fragment in
/// stderr (all on one `error:` line when `same_line`), and an unchanged
/// forge. Returns the stderr of the last command.
#[track_caller]
fn check(
    mutate: impl FnOnce(&Env),
    commands: &[(&str, &[&str])],
    expected: &[&str],
    problems: Option<usize>,
) -> String {
    let env = Env::initialised();
    let before = env.snapshot();
    mutate(&env);
    let mut last = String::new();
    for (command, extra) in commands {
        let r = run(&env, command, extra);
        r.expect_code(1);
        assert!(
            r.stdout.is_empty(),
            "{command}: nothing on stdout: {}",
            r.stdout
        );
        // All fragments on one `error:` line: message and location together.
        let line = r
            .stderr
            .lines()
            .find(|l| expected.iter().all(|e| l.contains(e)))
            .unwrap_or_else(|| {
                panic!(
                    "{command}: no stderr line contains all of {expected:?}:\n{}",
                    r.stderr
                )
            });
        if let Some(n) = problems {
            let header = format!(
                "{n} problem{} found; nothing was written:",
                if n == 1 { "" } else { "s" }
            );
            assert!(
                r.stderr.starts_with(&header),
                "{command}: expected {header:?}:\n{}",
                r.stderr
            );
            assert!(line.starts_with("  error: "), "{line}");
        }
        env.snapshot().assert_same(&before, command);
        last = r.stderr;
    }
    last
}

const APPLY: (&str, &[&str]) = ("apply", &[]);
const PLAN: (&str, &[&str]) = ("plan", &[]);
const VALIDATE: (&str, &[&str]) = ("validate", &[]);
const STATUS: (&str, &[&str]) = ("status", &[]);

#[test]
fn malformed_json_reports_line_and_column() {
    check(
        |env| env.replace_in_registry("\"version\": 1,", "\"version\": 1,,"),
        &[APPLY, PLAN, VALIDATE],
        &["registry.json:2:16: ", "malformed JSON"],
        Some(1),
    );
}

/// Prepends a UTF-8 byte order mark to the registry, as editors on Windows do.
fn add_bom(env: &Env) {
    let p = env.registry_path();
    let s = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, format!("\u{feff}{s}")).unwrap();
}

#[test]
fn byte_order_mark_is_accepted() {
    let env = Env::initialised();
    add_bom(&env);
    let r = run(&env, "validate", &[]);
    r.expect_code(0);
    assert!(!r.stderr.contains("malformed JSON"), "{}", r.stderr);
}

#[test]
fn byte_order_mark_does_not_shift_locations() {
    check(
        |env| {
            add_bom(env);
            env.replace_in_registry("\"version\": 1,", "\"version\": 1,,");
        },
        &[APPLY, VALIDATE],
        &["registry.json:2:16: ", "malformed JSON"],
        Some(1),
    );
}

#[test]
fn truncated_json_reports_end_of_file() {
    check(
        |env| {
            let p = env.registry_path();
            let s = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&p, &s[..s.len() / 2]).unwrap();
        },
        &[APPLY],
        &["registry.json:", "malformed JSON", "EOF"],
        Some(1),
    );
}

#[test]
fn unknown_registry_key_is_an_error() {
    check(
        |env| env.replace_in_registry("\"delivery\": \"pr\",", "\"delivry\": \"pr\","),
        &[APPLY, VALIDATE],
        &[
            "registry.json:21:13: ",
            "invalid registry",
            "unknown field `delivry`",
            "`delivery`",
        ],
        Some(1),
    );
}

#[test]
fn unknown_key_in_a_repo_is_an_error() {
    check(
        |env| {
            env.replace_in_registry(
                "{ \"name\": \"mango-api\" }",
                "{ \"name\": \"mango-api\", \"skip_bundle\": [\"security\"] }",
            )
        },
        &[APPLY],
        &["registry.json:", "unknown field `skip_bundle`"],
        Some(1),
    );
}

#[test]
fn duplicate_repo_in_two_teams() {
    check(
        |env| {
            env.replace_in_registry(
                "{ \"name\": \"banana-ingest\", \"wave\": \"early\" },",
                "{ \"name\": \"banana-ingest\", \"wave\": \"early\" }, { \"name\": \"mango-api\" },",
            )
        },
        &[APPLY, PLAN],
        &[
            "registry.json: teams.mango.repos[0].name: ",
            "repository acme/mango-api is already listed at teams.banana.repos[1]",
        ],
        Some(1),
    );
}

#[test]
fn duplicate_repo_differing_in_case() {
    check(
        |env| {
            env.replace_in_registry(
                "{ \"name\": \"kiwi-app\", \"delivery\": \"direct\" }",
                "{ \"name\": \"kiwi-app\", \"delivery\": \"direct\" }, { \"name\": \"Kiwi-App\" }",
            )
        },
        &[APPLY],
        &[
            "teams.kiwi.repos[3].name",
            "already listed at teams.kiwi.repos[2]",
        ],
        Some(1),
    );
}

#[test]
fn duplicate_team_key() {
    check(
        |env| {
            env.replace_in_registry(
                "\"teams\": {\n",
                "\"teams\": {\n    \"kiwi\": { \"owners\": { \"users\": [\"x\"] }, \"repos\": [ { \"name\": \"dup-kiwi\" } ] },\n",
            )
        },
        &[APPLY],
        &["registry.json:148:10: ", "duplicate key `kiwi`"],
        Some(1),
    );
}

#[test]
fn duplicate_key_in_vars() {
    // serde_json would keep the last `runner` silently.
    check(
        |env| {
            env.replace_in_registry(
                "\"runner\": \"ubuntu-24.04\",",
                "\"runner\": \"ubuntu-24.04\", \"runner\": \"attacker-runner\",",
            )
        },
        &[APPLY, PLAN, VALIDATE],
        &[
            "registry.json:25:40: ",
            "invalid registry: duplicate key `runner` in defaults.vars",
        ],
        Some(1),
    );
}

#[test]
fn duplicate_key_deep_in_environment_vars() {
    check(
        |env| {
            env.replace_in_registry(
                "\"vpc_cidr\": \"10.10.0.0/16\",",
                "\"vpc_cidr\": \"10.10.0.0/16\", \"vpc_cidr\": \"0.0.0.0/0\",",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json:58:70: ",
            "duplicate key `vpc_cidr` in teams.mango.environments.dev.vars.tfvars",
        ],
        Some(1),
    );
}

#[test]
fn unknown_bundle_in_a_repo() {
    check(
        |env| {
            env.replace_in_registry(
                "{ \"name\": \"mango-api\" }",
                "{ \"name\": \"mango-api\", \"bundles\": [\"baseline\", \"securty\"] }",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json: teams.mango.repos[0].bundles[1]: ",
            "unknown bundle \"securty\"",
            "baseline, security, terraform-deploy",
        ],
        Some(1),
    );
}

#[test]
fn oversized_repo_name_is_cut_in_the_message() {
    let name = "a".repeat(10 * 1024 * 1024);
    let stderr = check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["mango"]["repos"][0]["name"] = json!(format!("{name}!"))
            })
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json: teams.mango.repos[0].name: ",
            &format!(
                "\"{}\"… (10485761 bytes) is not a valid GitHub repository name",
                &name[..200]
            ),
        ],
        None,
    );
    assert!(
        stderr.len() < 4096,
        "the name is not echoed whole ({} bytes)",
        stderr.len()
    );
}

#[test]
fn bad_aws_account_id() {
    check(
        |env| {
            env.replace_in_registry(
                "\"account\": \"482913047561\"",
                "\"account\": \"48291304756\"",
            )
        },
        &[APPLY],
        &[
            "registry.json: teams.mango.environments.dev.account: ",
            "\"48291304756\" is not an AWS account id",
        ],
        Some(1),
    );
}

#[test]
fn bad_aws_region() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["apple"]["environments"]["prd"]["region"] = json!("us-east-one");
            })
        },
        &[APPLY],
        &[
            "registry.json: teams.apple.environments.prd.region: ",
            "\"us-east-one\" is not an AWS region name",
        ],
        Some(1),
    );
}

#[test]
fn environment_with_an_unknown_stage() {
    check(
        |env| {
            env.edit_registry(|r| {
                let envs = r["teams"]["apple"]["environments"].as_object_mut().unwrap();
                let prd = envs.remove("prd").unwrap();
                envs.insert("qa".into(), prd);
            })
        },
        &[APPLY],
        &[
            "registry.json: teams.apple.environments.qa: ",
            "unknown stage \"qa\"; declared stages: dev, uat, tst, stg, prd",
        ],
        Some(1),
    );
}

#[test]
fn unknown_wave() {
    check(
        |env| {
            env.replace_in_registry(
                "{ \"name\": \"mango-api\" }",
                "{ \"name\": \"mango-api\", \"wave\": \"beta\" }",
            )
        },
        &[APPLY],
        &[
            "registry.json: teams.mango.repos[0].wave: ",
            "unknown wave \"beta\"; declared waves: canary, default, early",
        ],
        Some(1),
    );
}

#[test]
fn flag_with_an_unknown_stage() {
    check(
        |env| {
            env.replace_in_registry(
                "\"cost_alerts\": { \"dev\": false, \"prd\": true }",
                "\"cost_alerts\": { \"dev\": false, \"prod\": true }",
            )
        },
        &[APPLY],
        &[
            "registry.json: defaults.flags.cost_alerts.prod: ",
            "unknown stage \"prod\"",
        ],
        Some(1),
    );
}

#[test]
fn undefined_variable_in_a_template() {
    let stderr = check(
        |env| {
            replace_in_file(
                &env.template_path("baseline/CODEOWNERS"),
                "# Change the owners",
                "# {{ vars.nope.deeper }} Change the owners",
            )
        },
        &[APPLY, PLAN],
        &[
            "templates/baseline/CODEOWNERS:3 ",
            "(template of bundle `baseline`, 12 repos: acme/apple-auth, acme/apple-sso, ",
            "and 7 more)",
            "undefined variable or attribute",
            "vars.nope",
        ],
        Some(1),
    );
    // The same problem in every repo is one line naming the repos.
    assert_eq!(
        stderr.matches("templates/baseline/CODEOWNERS:3 ").count(),
        1
    );
}

#[test]
fn undefined_variable_in_one_repo_only() {
    // Only kiwi's prd environment has `vars.runner` overridden; a template
    // reading a var only mango-infra defines fails for everyone else's
    // terraform repos, naming each.
    check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["mango"]["repos"][2]["vars"] = json!({ "extra": "x" });
            });
            replace_in_file(
                &env.template_path("terraform-deploy/deploy.yml"),
                "name: deploy {{ env.name }}",
                "name: deploy {{ env.name }} {{ vars.extra }}",
            );
        },
        &[APPLY],
        &[
            "templates/terraform-deploy/deploy.yml:",
            "4 repos: acme/banana-ingest, acme/banana-warehouse, acme/grape-pipelines, acme/kiwi-gateway)",
            "undefined",
        ],
        None,
    );
}

#[test]
fn template_rendering_invalid_yaml() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("security/security.yml"),
                "permissions: {}\n",
                "permissions: {}\npermissions: {}\n",
            )
        },
        &[APPLY],
        &[
            "templates/security/security.yml ",
            "rendering to .github/workflows/security.yml of bundle `security`, 11 repos: acme/apple-auth, ",
            "rendered YAML does not parse",
            "duplicate mapping key: permissions",
        ],
        Some(1),
    );
}

#[test]
fn template_rendering_invalid_json() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("terraform-deploy/platform.auto.tfvars.json"),
                "\"region\": {{ env.region | to_json }},",
                "\"region\": {{ env.region | to_json }},,",
            )
        },
        &[APPLY],
        &[
            "templates/terraform-deploy/platform.auto.tfvars.json ",
            "rendering to terraform/environments/prd/platform.auto.tfvars.json of bundle `terraform-deploy`, 3 repos: acme/grape-pipelines, acme/kiwi-gateway, acme/mango-infra)",
            "rendered JSON does not parse",
        ],
        None,
    );
}

#[test]
fn template_syntax_error() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("baseline/dependabot.yml"),
                "version: 2",
                "version: {% if %}2",
            )
        },
        &[APPLY],
        &[
            "templates/baseline/dependabot.yml:2 ",
            "of bundle `baseline`, 12 repos: acme/apple-auth, ",
            "syntax error",
        ],
        None,
    );
}

#[test]
fn target_path_traversal() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("security/bundle.yaml"),
                "path: .github/scripts/verify-pins.sh",
                "path: ../evil",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "templates/security/verify-pins.sh (target path of bundle `security`, 11 repos: acme/apple-auth, ",
            "path \"../evil\" contains `..`",
        ],
        Some(1),
    );
}

#[test]
fn target_path_traversal_through_a_variable() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["mango"]["environments"]["dev"]["vars"]["dir"] = json!("../../escape");
            });
            replace_in_file(
                &env.template_path("terraform-deploy/bundle.yaml"),
                "path: \"terraform/environments/{{ env.name }}/platform.auto.tfvars.json\"",
                "path: \"terraform/environments/{{ env.vars.dir | default(env.name) }}/platform.auto.tfvars.json\"",
            );
        },
        &[APPLY],
        &[
            "(target path of bundle `terraform-deploy`, repo acme/mango-infra)",
            "contains `..`",
        ],
        None,
    );
}

#[test]
fn target_path_inside_dot_git() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("security/bundle.yaml"),
                "path: .github/scripts/verify-pins.sh",
                "path: .git/hooks/post-checkout",
            )
        },
        &[APPLY],
        &[
            "templates/security/verify-pins.sh (target path of bundle `security`, 11 repos: ",
            "path \".git/hooks/post-checkout\" is inside `.git/`",
        ],
        Some(1),
    );
}

#[test]
fn target_path_is_the_lock_file() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("security/bundle.yaml"),
                "path: .github/scripts/verify-pins.sh",
                "path: .github/distributor.lock.json",
            )
        },
        &[APPLY],
        &[
            "(target path of bundle `security`, 11 repos: ",
            "is the lock file path",
        ],
        Some(1),
    );
}

#[test]
fn two_bundles_producing_the_same_path() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("security/bundle.yaml"),
                "path: .github/scripts/verify-pins.sh",
                "path: .editorconfig",
            )
        },
        &[APPLY, PLAN],
        &[
            "templates/security/verify-pins.sh (target path of bundle `security`, 10 repos: ",
            "two templates produce \".editorconfig\"",
            "baseline/.editorconfig (bundle `baseline`)",
            "security/verify-pins.sh (bundle `security`)",
        ],
        Some(1),
    );
}

#[test]
fn bundle_manifest_with_an_unknown_key() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("baseline/bundle.yaml"),
                "files:",
                "colour: red\nfiles:",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "templates/baseline/bundle.yaml: ",
            "invalid bundle manifest",
            "line 4 column 1",
            "unknown field `colour`",
        ],
        Some(1),
    );
}

#[test]
fn bundle_manifest_with_a_duplicate_key() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("baseline/bundle.yaml"),
                "files:",
                "description: again\nfiles:",
            )
        },
        &[APPLY],
        &[
            "templates/baseline/bundle.yaml: ",
            "line 4 column 1",
            "duplicate mapping key: description",
        ],
        Some(1),
    );
}

#[test]
fn bundle_manifest_with_a_bad_mode() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("security/bundle.yaml"),
                "mode: \"100755\"",
                "mode: \"100777\"",
            )
        },
        &[APPLY],
        &[
            "templates/security/bundle.yaml: ",
            "invalid bundle manifest",
        ],
        Some(1),
    );
}

#[test]
fn template_file_named_in_the_manifest_is_missing() {
    check(
        |env| std::fs::remove_file(env.template_path("baseline/dependabot.yml")).unwrap(),
        &[APPLY],
        &[
            "templates/baseline/bundle.yaml: files[1].template: ",
            "template file templates/baseline/dependabot.yml does not exist",
        ],
        Some(1),
    );
}

#[test]
fn template_files_no_manifest_names_are_ignored_with_a_warning() {
    let env = Env::initialised();
    std::fs::write(env.template_path(".DS_Store"), b"\x00\x01\xff\xfe").unwrap();
    std::fs::write(env.template_path("baseline/.DS_Store"), b"\xff\xfe").unwrap();
    std::fs::write(env.template_path("security/security.yml~"), "{{ broken").unwrap();
    for command in ["validate", "plan"] {
        let r = run(&env, command, &[]);
        r.expect_code(0);
        for file in [".DS_Store", "baseline/.DS_Store", "security/security.yml~"] {
            let warning = format!("templates/{file}: not named by any bundle manifest; ignored");
            assert_eq!(
                r.stderr.matches(&warning).count(),
                1,
                "{command}: one warning for {file}:\n{}",
                r.stderr
            );
        }
        assert!(!r.stderr.contains("error"), "{command}: {}", r.stderr);
    }
}

#[test]
fn template_named_in_the_manifest_that_is_not_text() {
    check(
        |env| std::fs::write(env.template_path("baseline/dependabot.yml"), b"\xff\xfe").unwrap(),
        &[APPLY, VALIDATE],
        &[
            "templates/baseline/dependabot.yml: ",
            "template is not valid UTF-8 text",
        ],
        Some(1),
    );
}

#[cfg(unix)]
#[test]
fn symlinked_template_is_refused_plainly() {
    check(
        |env| {
            let file = env.template_path("baseline/dependabot.yml");
            std::fs::rename(&file, env.template_path("dependabot.yml")).unwrap();
            std::os::unix::fs::symlink("../dependabot.yml", &file).unwrap();
        },
        &[APPLY, VALIDATE],
        &[
            "templates/baseline/dependabot.yml is a symbolic link; \
             symlinks under the templates directory are not followed",
            "replace it with the file itself",
        ],
        None,
    );
}

#[test]
fn wave_soak_that_is_not_a_duration() {
    check(
        |env| env.edit_registry(|r| r["waves"][1]["soak"] = json!("2hours")),
        &[APPLY, VALIDATE],
        &[
            "registry.json: waves[1].soak: ",
            "`2hours`: unknown or missing unit",
        ],
        Some(1),
    );
}

#[test]
fn rollout_timer_that_is_not_a_duration() {
    check(
        |env| env.edit_registry(|r| r["rollout"] = json!({"stale_after": "7days"})),
        &[APPLY, PLAN],
        &[
            "registry.json: rollout.stale_after: ",
            "`7days`: unknown or missing unit",
        ],
        Some(1),
    );
}

#[test]
fn halt_after_zero_failures() {
    check(
        |env| env.edit_registry(|r| r["rollout"] = json!({"halt_after_failures": 0})),
        &[APPLY, VALIDATE],
        &[
            "registry.json: rollout.halt_after_failures: ",
            "must be at least 1",
        ],
        Some(1),
    );
}

#[test]
fn negative_pull_request_limit() {
    check(
        |env| {
            env.replace_in_registry(
                "  \"defaults\": {",
                "  \"rollout\": { \"pr_hourly_limit\": -1 },\n  \"defaults\": {",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json:18:",
            "invalid registry",
            "rollout.pr_hourly_limit: -1 is not a whole number (0 or more)",
        ],
        Some(1),
    );
}

#[test]
fn waiver_naming_an_unknown_repo() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["waivers"] = json!([
                    {"repo": "kiwi-app", "bundle": "baseline", "owner": "bob", "expires": "2027-01-15"},
                    {"repo": "acme/kiwi-ap", "bundle": "baseline", "owner": "bob", "expires": "2027-01-15"}
                ])
            })
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json: waivers[1].repo: ",
            "no repo \"acme/kiwi-ap\" in the registry",
        ],
        Some(1),
    );
}

#[test]
fn waiver_with_both_a_file_and_a_bundle() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["waivers"] = json!([{
                    "repo": "acme/kiwi-app", "file": ".editorconfig", "bundle": "baseline",
                    "owner": "alice", "expires": "2026-12-31"
                }])
            })
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json: waivers[0]: ",
            "give exactly one of \"file\" or \"bundle\"",
        ],
        Some(1),
    );
}

#[test]
fn waiver_expiring_on_an_impossible_date() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["waivers"] = json!([
                    // long expired: not a problem
                    {"repo": "kiwi-app", "file": ".editorconfig", "owner": "alice", "expires": "2020-01-31"},
                    {"repo": "kiwi-app", "bundle": "security", "owner": "bob", "expires": "2026-02-30"}
                ])
            })
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json: waivers[1].expires: ",
            "\"2026-02-30\" is not a date (YYYY-MM-DD)",
        ],
        Some(1),
    );
}

#[test]
fn bundle_manifest_with_a_bad_direct_after() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("security/bundle.yaml"),
                "files:",
                "labels: [security]\ndirect_after: 3days\nfiles:",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "templates/security/bundle.yaml: direct_after: ",
            "`3days`: unknown or missing unit",
        ],
        Some(1),
    );
}

#[test]
fn bundle_manifest_with_a_label_twice() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("security/bundle.yaml"),
                "files:",
                "labels: [security, Security]\nfiles:",
            )
        },
        &[APPLY],
        &[
            "templates/security/bundle.yaml: labels[1]: ",
            "label \"Security\" is listed twice",
        ],
        Some(1),
    );
}

/// A loop of 10^10 steps that writes nothing: only the render budget
/// stops it.
const ENDLESS_LOOP: &str = "{% for i in range(100000) %}{% for j in range(100000) %}{% if j < 0 %}x{% endif %}{% endfor %}{% endfor %}\n";

/// The line an appended text starts on in a shipped template.
fn next_line_of(env: &Env, rel: &str) -> usize {
    std::fs::read_to_string(env.template_path(rel))
        .unwrap()
        .lines()
        .count()
        + 1
}

#[test]
fn template_with_an_endless_loop_runs_out_of_its_budget() {
    let mut line = 0;
    check(
        |env| {
            line = next_line_of(env, "baseline/CODEOWNERS");
            env.append_to_template("baseline/CODEOWNERS", ENDLESS_LOOP);
        },
        &[APPLY, PLAN, VALIDATE],
        &[
            "templates/baseline/CODEOWNERS:19 (template of bundle `baseline`, repo acme/",
            "render budget exhausted: more than 10000000 steps (an endless or very long loop?) (in `{% for i in range(100000) %}",
            "; not rendered for the other repos",
        ],
        Some(1),
    );
    assert_eq!(line, 19, "the expected location above");
}

#[test]
fn target_path_with_an_endless_loop_runs_out_of_its_budget() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("baseline/bundle.yaml"),
                "path: .github/CODEOWNERS",
                &format!(
                    "path: {:?}",
                    ENDLESS_LOOP.trim_end().to_string() + "CODEOWNERS"
                ),
            )
        },
        &[APPLY, VALIDATE],
        &[
            "templates/baseline/CODEOWNERS (target path of bundle `baseline`, repo acme/",
            "render budget exhausted: more than 10000000 steps",
        ],
        Some(1),
    );
}

#[test]
fn rendered_file_over_the_default_size_cap() {
    let started = std::time::Instant::now();
    check(
        // 100 MB if it were built.
        |env| {
            env.append_to_template(
                "baseline/CODEOWNERS",
                "{% for i in range(10000) %}{{ 'x' * 10000 }}{% endfor %}\n",
            )
        },
        &[APPLY, PLAN, VALIDATE],
        &[
            "templates/baseline/CODEOWNERS (template of bundle `baseline`, ",
            ": rendered output is larger than 1 MiB, the bundle's max_file_size (raise it in templates/baseline/bundle.yaml, up to 50 MiB)",
        ],
        Some(1),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "three runs refusing 100 MB: {:?}",
        started.elapsed()
    );
}

#[test]
fn rendered_file_over_a_configured_size_cap() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("baseline/bundle.yaml"),
                "files:",
                "max_file_size: 100B\nfiles:",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "templates/baseline/CODEOWNERS (template of bundle `baseline`, ",
            ": rendered output is larger than 100 B, the bundle's max_file_size (raise it in templates/baseline/bundle.yaml, up to 50 MiB)",
        ],
        // CODEOWNERS, dependabot.yml and .editorconfig.
        Some(3),
    );
}

#[test]
fn max_file_size_over_the_limit() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("baseline/bundle.yaml"),
                "files:",
                "max_file_size: 100MiB\nfiles:",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "templates/baseline/bundle.yaml: max_file_size: ",
            "\"100MiB\" is out of range: between 1 B and 50 MiB (GitHub refuses files over 100 MiB)",
        ],
        Some(1),
    );
}

#[test]
fn max_file_size_in_decimal_units() {
    check(
        |env| {
            replace_in_file(
                &env.template_path("baseline/bundle.yaml"),
                "files:",
                "max_file_size: 2MB\nfiles:",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "templates/baseline/bundle.yaml: max_file_size: ",
            "\"2MB\" is not a size: use bytes or a number with B, KiB or MiB (`2MiB`); unknown unit \"MB\"",
        ],
        Some(1),
    );
}

#[test]
fn unsupported_registry_version() {
    check(
        |env| env.edit_registry(|r| r["version"] = json!(2)),
        &[APPLY, VALIDATE],
        &[
            "registry.json: version: ",
            "schema version 2 is not supported",
        ],
        Some(1),
    );
}

#[test]
fn skip_files_naming_a_file_the_repo_would_not_receive() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["apple"]["repos"][1]["skip_files"] =
                    json!([".editorconfig", ".github/nope.yml"]);
            })
        },
        &[APPLY],
        &[
            "skip_files (repo acme/apple-sso): ",
            "\".github/nope.yml\" is not a file this repo would receive",
        ],
        Some(1),
    );
}

#[test]
fn unknown_team_filter() {
    check(
        |_| {},
        &[
            ("apply", &["--team", "nosuchteam"]),
            ("plan", &["--team", "nosuchteam"]),
        ],
        &[
            "--team: ",
            "no team \"nosuchteam\"",
            "teams: apple, banana, grape, kiwi, mango",
        ],
        Some(1),
    );
}

#[test]
fn unknown_repo_and_bundle_filters() {
    check(
        |_| {},
        &[(
            "apply",
            &["--repo", "acme/nosuchrepo", "--bundle", "nosuchbundle"],
        )],
        &["--repo: ", "no repo \"acme/nosuchrepo\""],
        Some(2),
    );
    check(
        |_| {},
        &[("status", &["--bundle", "nosuchbundle"])],
        &[
            "--bundle: ",
            "no bundle \"nosuchbundle\"",
            "bundles: baseline, security, terraform-deploy",
        ],
        Some(1),
    );
}

#[test]
fn missing_forge_directory_names_the_path() {
    let env = Env::initialised();
    let before = env.snapshot();
    let missing = env.tmp.path().join("no-such-forge");
    let spec = format!("local:{}", missing.display());
    for command in ["apply", "plan", "status"] {
        let r = env.run_raw(&[command, "--forge", &spec]);
        r.expect_code(1);
        assert!(
            r.stderr.contains(&missing.display().to_string()),
            "{command}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
        assert!(!missing.exists(), "{command} created the forge directory");
    }
    // A forge root that is a file.
    let file = env.tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let r = env.run_raw(&["apply", "--forge", &format!("local:{}", file.display())]);
    r.expect_code(1);
    assert!(r.stderr.contains("not a directory"), "{}", r.stderr);
    // An unknown forge kind.
    let r = env.run_raw(&["apply", "--forge", "gitlab:acme"]);
    r.expect_code(1);
    assert!(
        r.stderr.contains("unknown forge \"gitlab:acme\"") && r.stderr.contains("github:URL"),
        "{}",
        r.stderr
    );
    // GitHub without credentials, and with a URL that is not one.
    let r = env.run_raw(&["apply", "--forge", "github"]);
    r.expect_code(1);
    assert!(r.stderr.contains("no GitHub credentials"), "{}", r.stderr);
    env.snapshot().assert_same(&before, "bad --forge");
}

#[test]
fn repo_missing_from_the_forge_fails_that_repo_only() {
    // Not bad platform input but a bad forge: the missing repo is reported
    // and nothing is created for it without --init.
    let env = Env::initialised();
    std::fs::remove_dir_all(env.bare("kiwi-app")).unwrap();
    let before = env.snapshot();
    let r = env.apply(&["--repo", "kiwi-app"]);
    r.expect_code(1);
    assert!(
        r.stdout
            .contains("acme/kiwi-app: FAILED repository acme/kiwi-app not found"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--init"), "{}", r.stdout);
    env.snapshot().assert_same(&before, "missing repo");
}

#[test]
fn missing_templates_directory() {
    check(
        |env| std::fs::remove_dir_all(env.platform.join("templates")).unwrap(),
        &[APPLY, VALIDATE],
        &["templates directory templates does not exist"],
        None,
    );
}

#[test]
fn several_problems_are_reported_together() {
    let stderr = check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["mango"]["environments"]["dev"]["account"] = json!("1234");
                r["teams"]["kiwi"]["repos"][0]["bundles"] = json!(["baseline", "nope"]);
            })
        },
        &[APPLY, PLAN, VALIDATE, STATUS],
        &[
            "registry.json: teams.mango.environments.dev.account: ",
            "\"1234\" is not an AWS account id",
        ],
        Some(2),
    );
    assert!(
        stderr.contains(
            "  error: registry.json: teams.kiwi.repos[0].bundles[1]: unknown bundle \"nope\""
        ),
        "{stderr}"
    );
    assert_eq!(stderr.matches("  error: ").count(), 2, "{stderr}");
}

#[test]
fn registry_and_template_problems_are_reported_together() {
    let stderr = check(
        |env| {
            env.edit_registry(|r| {
                r["stages"] = json!(["dev", "uat", "tst", "stg", "prd", "Bad Stage"])
            });
            replace_in_file(
                &env.template_path("baseline/bundle.yaml"),
                "files:",
                "colour: red\nfiles:",
            );
        },
        &[APPLY],
        &["templates/baseline/bundle.yaml: ", "unknown field `colour`"],
        Some(2),
    );
    assert!(
        stderr.contains("registry.json: stages[5]: \"Bad Stage\" is not a valid stage name"),
        "{stderr}"
    );
}

#[test]
fn registry_problems_and_undefined_variables_are_reported_in_one_run() {
    // A registry that parses is still rendered, so a template problem does
    // not hide behind a registry problem (or the other way round).
    let stderr = check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["mango"]["environments"]["dev"]["region"] = json!("mars-north-1");
            });
            replace_in_file(
                &env.template_path("security/security.yml"),
                "name: security",
                "name: security {{ vars.missing_name }}",
            );
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json: teams.mango.environments.dev.region: ",
            "\"mars-north-1\" is not an AWS region name",
        ],
        None,
    );
    assert!(
        stderr.contains("templates/security/security.yml:") && stderr.contains("vars.missing_name"),
        "{stderr}"
    );
}

#[test]
fn proposal_branch_head_is_refused() {
    check(
        |env| env.edit_registry(|r| r["defaults"]["proposal_branch"] = json!("HEAD")),
        &[APPLY, PLAN, VALIDATE],
        &[
            "registry.json: defaults.proposal_branch: ",
            "\"HEAD\" names whatever branch is checked out",
        ],
        Some(1),
    );
}

#[test]
fn proposal_branch_equal_to_a_default_branch_is_refused() {
    check(
        |env| env.edit_registry(|r| r["defaults"]["proposal_branch"] = json!("trunk")),
        &[APPLY, PLAN, VALIDATE],
        &[
            ".default_branch: ",
            "\"trunk\" is also the proposal branch (defaults.proposal_branch)",
        ],
        Some(1),
    );
}
