//! The shipped JSON Schema (`schema/registry.schema.json`) and the example
//! registry (`registry.json`) agree with each other and with the Rust
//! loader: the example passes both, and broken variants fail both.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn project_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read_json(rel: &str) -> Value {
    let text = std::fs::read_to_string(project_file(rel)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn example() -> Value {
    read_json("registry.json")
}

fn validator() -> jsonschema::Validator {
    let schema = read_json("schema/registry.schema.json");
    jsonschema::meta::validate(&schema)
        .unwrap_or_else(|e| panic!("the schema is not valid draft 2020-12: {e}"));
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schema does not compile: {e}"))
}

/// Bundle names as the CLI finds them: folders of `templates/` holding a
/// `bundle.yaml`.
fn bundle_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project_file("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("bundle.yaml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Schema errors of `instance`, one per line, with their JSON pointers.
fn schema_errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Whether the Rust loader (parse + validate) accepts `instance`.
fn loader_result(instance: &Value) -> Result<(), String> {
    distributor::registry::load("registry.json", &instance.to_string(), &bundle_names())
        .map(|_| ())
        .map_err(|d| d.to_string())
}

/// Sets the value at a JSON pointer (the parent must exist).
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent} in the example"));
    match parent {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        _ => panic!("{parent} is not a container"),
    }
}

#[test]
fn example_registry_matches_the_schema() {
    let errors = schema_errors(&validator(), &example());
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn example_registry_loads() {
    let names = bundle_names();
    assert_eq!(names, ["baseline", "security", "terraform-deploy"]);
    let text = std::fs::read_to_string(project_file("registry.json")).unwrap();
    let registry = distributor::registry::load("registry.json", &text, &names)
        .unwrap_or_else(|d| panic!("{d}"));
    let repos = distributor::registry::resolve(&registry);
    assert_eq!(registry.teams.0.len(), 5);
    assert!((10..=14).contains(&repos.len()), "{} repos", repos.len());
}

/// Broken variants: `(JSON pointer, value)` applied to the example.
/// Each must be rejected by the schema *and* by the Rust loader.
fn broken_variants() -> Vec<(&'static str, Value)> {
    vec![
        // the four the schema exists for
        ("/teams/mango/environments/dev/account", json!("12345")),
        ("/defaults/colour", json!("blue")),
        ("/teams/kiwi/repos/0/delivery", json!("yolo")),
        ("/teams/grape/environments/prd/region", json!("europe-west")),
        // more rules the schema shares with validate.rs
        ("/version", json!(2)),
        ("/teams/kiwi/repos/0/delivry", json!("pr")),
        (
            "/teams/mango/environments/dev/account",
            json!(482913047561u64),
        ),
        ("/teams/mango/environments/dev/region", json!("EU-WEST-1")),
        ("/teams/mango/environments/dev/colour", json!("x")),
        ("/stages", json!([])),
        ("/stages", json!(["dev", "dev"])),
        ("/stages/0", json!("Dev")),
        ("/defaults/owner", json!("acme--corp")),
        ("/defaults/owner", json!("-acme")),
        ("/defaults/flags/new-db", json!(true)),
        ("/defaults/flags/new_db", json!("yes")),
        ("/defaults/flags/new_db", json!({"dev": "on"})),
        ("/defaults/bundles", json!(["baseline", "baseline"])),
        ("/defaults/proposal_branch", json!("a..b")),
        ("/defaults/proposal_branch", json!("sync.lock")),
        ("/defaults/proposal_branch", json!("distributor/.sync")),
        ("/defaults/proposal_branch", json!("has space")),
        ("/defaults/lock_path", json!("../lock.json")),
        ("/defaults/lock_path", json!(".git/lock.json")),
        ("/defaults/lock_path", json!("/lock.json")),
        ("/defaults/lock_path", json!("a//lock.json")),
        ("/defaults/lock_path", json!("a/./lock.json")),
        // git's own rules (`git fsck --strict`, NTFS) and length limits
        ("/defaults/lock_path", json!("sub/.git/lock.json")),
        ("/defaults/lock_path", json!("a/.GIT/lock.json")),
        ("/defaults/lock_path", json!(".git./lock.json")),
        ("/defaults/lock_path", json!("GIT~1/lock.json")),
        (
            "/defaults/lock_path",
            json!(format!("{}.json", "l".repeat(256))),
        ),
        (
            "/defaults/lock_path",
            json!(vec!["d".repeat(99); 42].join("/")),
        ),
        ("/defaults/proposal_branch", json!("-sync")),
        ("/defaults/proposal_branch", json!("sync@{1}")),
        ("/defaults/commit_author", json!({"name": "bot"})),
        ("/teams/mango/owners", json!({})),
        ("/teams/mango/owners", json!({"teams": [], "users": []})),
        ("/teams/mango/owners/teams/0", json!("mango-devs")),
        ("/teams/mango/repos", json!([])),
        ("/teams/mango/repos/0/name", json!("mango.git")),
        ("/teams/mango/repos/0/name", json!("mango/api")),
        ("/teams/mango/repos/0/skip_files", json!(["../outside"])),
        (
            "/teams/Mango",
            json!({"owners": {"users": ["x"]}, "repos": [{"name": "x"}]}),
        ),
        ("/teams", json!({})),
        // rollout policy
        ("/waves/0/soak", json!("2 hours")),
        ("/waves/0/soak", json!("7")),
        ("/rollout", json!({"stale_after": "7days"})),
        ("/rollout", json!({"escalate_after": 14})),
        ("/rollout", json!({"halt_after_failures": 0})),
        ("/rollout", json!({"pr_hourly_limit": -1})),
        ("/rollout", json!({"pr_concurrent_limit": 2.5})),
        ("/rollout", json!({"direct_commits_per_run": "100"})),
        ("/rollout", json!({"pr_hourly_limt": 10})),
        (
            "/waivers",
            json!([{"repo": "kiwi-app", "file": ".editorconfig", "bundle": "baseline",
                    "owner": "bob", "expires": "2027-01-15"}]),
        ),
        (
            "/waivers",
            json!([{"repo": "kiwi-app", "owner": "bob", "expires": "2027-01-15"}]),
        ),
        (
            "/waivers",
            json!([{"repo": "kiwi-app", "bundle": "baseline", "owner": " ", "expires": "2027-01-15"}]),
        ),
        (
            "/waivers",
            json!([{"repo": "kiwi-app", "bundle": "baseline", "owner": "bob", "expires": "15/01/2027"}]),
        ),
        (
            "/waivers",
            json!([{"repo": "kiwi-app", "bundle": "baseline", "owner": "bob", "expires": "2027-13-01"}]),
        ),
        (
            "/waivers",
            json!([{"repo": "kiwi-app", "file": "../x", "owner": "bob", "expires": "2027-01-15"}]),
        ),
        (
            "/waivers",
            json!([{"repo": "acme/kiwi-app/x", "bundle": "baseline", "owner": "bob", "expires": "2027-01-15"}]),
        ),
        (
            "/waivers",
            json!([{"repo": "kiwi-app", "bundle": "baseline", "owner": "bob", "expires": "2027-01-15", "until": "x"}]),
        ),
    ]
}

#[test]
fn broken_variants_are_rejected_by_schema_and_loader() {
    let v = validator();
    let mut failures = Vec::new();
    for (pointer, value) in broken_variants() {
        let mut doc = example();
        set(&mut doc, pointer, value.clone());
        let schema = schema_errors(&v, &doc);
        if schema.is_empty() {
            failures.push(format!("schema accepts {pointer} = {value}"));
        }
        if loader_result(&doc).is_ok() {
            failures.push(format!("loader accepts {pointer} = {value}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn schema_errors_point_at_the_broken_value() {
    let v = validator();
    for (pointer, value) in [
        ("/teams/mango/environments/dev/account", json!("12345")),
        ("/teams/kiwi/repos/0/delivery", json!("yolo")),
        ("/teams/grape/environments/prd/region", json!("europe-west")),
    ] {
        let mut doc = example();
        set(&mut doc, pointer, value);
        let errors = schema_errors(&v, &doc);
        assert!(
            errors.iter().any(|e| e.starts_with(&format!("{pointer}:"))),
            "{pointer}: {errors:?}"
        );
    }
    let mut doc = example();
    set(&mut doc, "/defaults/colour", json!("blue"));
    let errors = schema_errors(&v, &doc);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("/defaults:") && e.contains("colour")),
        "{errors:?}"
    );
}

/// Valid variants: accepted by both, so the schema's patterns are not
/// stricter than the loader where it matters.
#[test]
fn valid_variants_are_accepted_by_schema_and_loader() {
    let v = validator();
    let mut failures = Vec::new();
    for (pointer, value) in [
        (
            "/teams/apple/environments/prd/account",
            json!("000000000001"),
        ),
        (
            "/teams/apple/environments/prd/region",
            json!("us-gov-west-1"),
        ),
        (
            "/teams/apple/environments/prd/region",
            json!("ap-southeast-2"),
        ),
        (
            "/defaults/proposal_branch",
            json!("release-1.2/distributor"),
        ),
        ("/defaults/lock_path", json!(".distributor/lock.json")),
        ("/defaults/lock_path", json!(".git-meta/git~2/lock.json")),
        (
            "/defaults/lock_path",
            json!(format!("{}.json", "l".repeat(250))),
        ),
        (
            "/defaults/commit_author",
            json!({"name": "bot", "email": "bot@acme.example"}),
        ),
        ("/defaults/owner", json!("Acme-Corp2")),
        ("/defaults/flags/ZZ_top", json!({})),
        ("/teams/mango/owners", json!({"users": ["octocat"]})),
        ("/teams/mango/repos/0/name", json!("mango.api_v2")),
        ("/teams/mango/repos/0/owner", json!("acme-labs")),
        ("/teams/mango/repos/0/default_branch", json!("trunk")),
        (
            "/teams/mango/repos/0/vars",
            json!({"anything": [1, {"goes": null}]}),
        ),
        (
            "/teams/mango/repos/0/skip_files",
            json!([".github/dependabot.yml"]),
        ),
        ("/waves/0/description", json!("x")),
        ("/waves/0/soak", json!("2h")),
        ("/waves/1/soak", json!("0s")),
        (
            "/rollout",
            json!({"pr_hourly_limit": 0, "pr_concurrent_limit": 50,
                   "direct_commits_per_run": 100, "stale_after": "7d",
                   "escalate_after": "2w", "halt_after_failures": 1}),
        ),
        ("/rollout", json!({})),
        (
            "/waivers",
            json!([
                {"repo": "acme/kiwi-app", "file": ".github/workflows/ci.yml", "owner": "alice",
                 "expires": "2026-12-31", "reason": "runner pinned until INFRA-123"},
                {"repo": "Kiwi-App", "bundle": "baseline", "owner": "acme/platform", "expires": "2027-01-15"},
                // already expired: reported later, not an error
                {"repo": "mango-api", "bundle": "security", "owner": "bob", "expires": "2020-02-29"}
            ]),
        ),
        (
            "/teams/x_1",
            json!({"owners": {"teams": ["acme/x_team"]}, "repos": [{"name": "x"}]}),
        ),
    ] {
        let mut doc = example();
        set(&mut doc, pointer, value.clone());
        let schema = schema_errors(&v, &doc);
        if !schema.is_empty() {
            failures.push(format!("schema rejects {pointer} = {value}: {schema:?}"));
        }
        if let Err(e) = loader_result(&doc) {
            failures.push(format!("loader rejects {pointer} = {value}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
