//! Bad branch names (`git check-ref-format --branch` and branch namespaces)
//! and the smaller holes of the registry and manifests: each refused before
//! anything is written, with its location and reason.

use serde_json::json;

use crate::common::replace_in_file;
use crate::{APPLY, PLAN, VALIDATE, check};

/// A case where `defaults.proposal_branch` is `branch`, refused because
/// `why`.
#[track_caller]
fn proposal_branch_refused(branch: &str, why: &str) {
    check(
        |env| env.edit_registry(|r| r["defaults"]["proposal_branch"] = json!(branch)),
        &[APPLY, VALIDATE],
        &[
            "registry.json: defaults.proposal_branch: ",
            &format!("{branch:?} is not a valid git branch name: {why}"),
        ],
        Some(1),
    );
}

#[test]
fn proposal_branch_with_two_dots() {
    proposal_branch_refused("distributor..sync", "it contains `..`");
}

#[test]
fn proposal_branch_ending_with_dot_lock() {
    proposal_branch_refused("distributor/sync.lock", "a part of it ends with `.lock`");
}

#[test]
fn proposal_branch_starting_with_a_dash() {
    proposal_branch_refused("-sync", "it starts with `-`, which git reads as an option");
}

#[test]
fn proposal_branch_with_a_space() {
    proposal_branch_refused("distributor sync", "it contains a space");
}

#[test]
fn proposal_branch_with_a_reflog_expression() {
    proposal_branch_refused("sync@{1}", "it contains `@{`");
}

#[test]
fn proposal_branch_at_sign_alone() {
    proposal_branch_refused("@", "`@` alone means HEAD");
}

#[test]
fn proposal_branch_with_a_hidden_part() {
    proposal_branch_refused("distributor/.sync", "a part of it starts with `.`");
}

#[test]
fn proposal_branch_ending_with_a_slash() {
    proposal_branch_refused("distributor/", "it ends with `/`");
}

#[test]
fn proposal_branch_with_a_colon() {
    proposal_branch_refused("distributor:sync", "it contains `:`");
}

#[test]
fn default_branch_with_a_tilde() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["kiwi"]["repos"][1]["default_branch"] = json!("trunk~1")
            })
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json: teams.kiwi.repos[1].default_branch: ",
            "\"trunk~1\" is not a valid git branch name: it contains `~`",
        ],
        Some(1),
    );
}

#[test]
fn proposal_branch_inside_a_default_branch() {
    // kiwi-notifications' default branch is `trunk`: git cannot create
    // `trunk/sync` beside it.
    check(
        |env| env.edit_registry(|r| r["defaults"]["proposal_branch"] = json!("trunk/sync")),
        &[APPLY, PLAN, VALIDATE],
        &[
            "registry.json: teams.kiwi.repos[1].default_branch: ",
            "the default branch \"trunk\" and the proposal branch \"trunk/sync\" \
             (defaults.proposal_branch) cannot both exist: git cannot hold a branch \"trunk\" \
             and a branch inside it (\"trunk/sync\"); choose another proposal branch",
        ],
        Some(1),
    );
}

#[test]
fn oversized_proposal_branch_is_cut_with_its_length() {
    let branch = format!("sync {}", "b".repeat(1024 * 1024));
    let stderr = check(
        |env| env.edit_registry(|r| r["defaults"]["proposal_branch"] = json!(branch)),
        &[APPLY, VALIDATE],
        &[
            "registry.json: defaults.proposal_branch: ",
            &format!(
                "\"{}\"… (1048581 bytes) is not a valid git branch name: it contains a space",
                &branch[..200]
            ),
        ],
        Some(1),
    );
    assert!(stderr.len() < 4096, "{} bytes of stderr", stderr.len());
}

#[test]
fn duplicate_key_in_flags() {
    // Last-wins would silently turn audit logging off.
    check(
        |env| {
            env.replace_in_registry(
                "\"audit_logging\": true,",
                "\"audit_logging\": true, \"audit_logging\": false,",
            )
        },
        &[APPLY, PLAN, VALIDATE],
        &[
            "registry.json:42:",
            "invalid registry: duplicate key `audit_logging` in defaults.flags",
        ],
        Some(1),
    );
}

#[test]
fn duplicate_key_in_a_repos_vars() {
    check(
        |env| {
            env.replace_in_registry(
                "\"tfvars\": { \"service_name\": \"gateway\", \"desired_count\": 3 }",
                "\"tfvars\": { \"service_name\": \"gateway\", \"desired_count\": 3 }, \"tfvars\": {}",
            )
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json:",
            "invalid registry: duplicate key `tfvars` in teams.kiwi.repos[0].vars",
        ],
        Some(1),
    );
}

#[test]
fn bundle_manifest_with_a_byte_order_mark_and_an_error() {
    // A BOM is accepted (editors on Windows write one); the error after it
    // is still reported at its own line.
    check(
        |env| {
            let p = env.template_path("baseline/bundle.yaml");
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(
                &p,
                format!("\u{feff}{}", text.replace("files:", "colour: red\nfiles:")),
            )
            .unwrap();
        },
        &[APPLY, VALIDATE],
        &[
            "templates/baseline/bundle.yaml: ",
            "line 4 column 1",
            "unknown field `colour`",
        ],
        Some(1),
    );
}

#[cfg(unix)]
#[test]
fn symlinked_bundle_manifest_is_refused_plainly() {
    check(
        |env| {
            let file = env.template_path("security/bundle.yaml");
            std::fs::rename(&file, env.template_path("security.yaml")).unwrap();
            std::os::unix::fs::symlink("../security.yaml", &file).unwrap();
        },
        &[APPLY, VALIDATE],
        &["templates/security/bundle.yaml is a symbolic link; \
             symlinks under the templates directory are not followed"],
        None,
    );
}

#[test]
fn target_path_template_with_an_oversized_variable_is_cut() {
    let dir = "d".repeat(300);
    check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["mango"]["repos"][2]["vars"] = json!({ "dir": dir });
            });
            replace_in_file(
                &env.template_path("terraform-deploy/bundle.yaml"),
                "path: \"terraform/environments/{{ env.name }}/platform.auto.tfvars.json\"",
                "path: \"{{ vars.dir | default('terraform') }}/environments/{{ env.name }}/platform.auto.tfvars.json\"",
            );
        },
        &[APPLY],
        &[
            "(target path of bundle `terraform-deploy`, repo acme/mango-infra)",
            &format!(
                "path \"{}\"… (343 bytes): the segment \"{}\"… (300 bytes) is 300 bytes long",
                &dir[..200],
                &dir[..200]
            ),
        ],
        None,
    );
}
