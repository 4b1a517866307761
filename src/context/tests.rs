//! The text rendering of a context document and the "no such repo" error.

use serde_json::json;

use super::*;

fn doc() -> Value {
    json!({
        "repo": {"owner": "acme", "name": "web", "full_name": "acme/web",
                 "default_branch": null, "delivery": "pr", "wave": "canary",
                 "bundles": ["baseline", "security"], "lock_path": ".github/distributor.lock.json"},
        "team": {"name": "mango", "description": "Checkout",
                 "owners": {"teams": ["acme/mango-devs"], "users": []}},
        "environments": [
            {"name": "dev", "account": "111", "region": "eu-west-1", "description": "Shared",
             "vars": {}, "flags": {}},
            {"name": "prd", "account": "222", "region": "eu-west-1", "description": null,
             "vars": {}, "flags": {}}
        ],
        "vars": {"runner": "ubuntu", "tf": {"version": "1.9"}, "tfvars": {}, "gone": 1},
        "flags": {"audit": true, "new_db": {"dev": true, "prd": false, "tst": false}},
        "flags_by_stage": {"audit": {"dev": true, "prd": true, "tst": true},
                           "new_db": {"dev": true, "prd": false, "tst": false}},
        "per_environment": {
            "dev": {"vars": {"runner": "ubuntu", "tf": {"version": "1.9"}, "gone": 1,
                             "tfvars": {"size": "small"}},
                    "flags": {"audit": true, "new_db": true}},
            "prd": {"vars": {"runner": "big", "tf": {"version": "1.9"}, "tfvars": {}},
                    "flags": {"audit": true, "new_db": false}}
        },
        "files": [
            {"path": ".editorconfig", "mode": "100644", "bundle": "baseline",
             "template": "baseline/.editorconfig", "blob": "e933bae27367b7be84d4077d7415a80c5c3a0ae3"},
            {"path": ".github/scripts/check.sh", "mode": "100755", "bundle": "security",
             "template": "security/check.sh", "blob": "cc399e60b86ef1aed78bdbf0f065e2cdbaa3d771"}
        ]
    })
}

#[test]
fn text_lists_the_repo_then_each_environment_then_the_files() {
    let want = "\
repo acme/web
  repo.bundles: baseline, security
  repo.default_branch: (none)
  repo.delivery: pr
  repo.lock_path: .github/distributor.lock.json
  repo.name: web
  repo.owner: acme
  repo.wave: canary
  team.description: Checkout
  team.name: mango
  team.owners.teams: acme/mango-devs
  team.owners.users: (none)

vars:
  gone = 1
  runner = \"ubuntu\"
  tf.version = \"1.9\"
  tfvars = {}

environment dev: account 111, region eu-west-1 (Shared)
  vars (the repo's, except):
    tfvars.size = \"small\"
  flags: audit=true new_db=true

environment prd: account 222, region eu-west-1
  vars (the repo's, except):
    gone = (unset)
    runner = \"big\"
  flags: audit=true new_db=false

stage tst (no environment)
  flags: audit=true new_db=false

files (2):
  .editorconfig             100644  e933bae27367  baseline/.editorconfig
  .github/scripts/check.sh  100755  cc399e60b86e  security/check.sh
";
    assert_eq!(text(&doc()), want);
}

#[test]
fn text_is_not_json_and_survives_a_document_missing_parts() {
    let t = text(&json!({"repo": {"full_name": "acme/x"}}));
    assert!(serde_json::from_str::<Value>(&t).is_err());
    assert_eq!(t, "repo acme/x\n\nvars:\n  (none)\n\nfiles (0):\n");
    // Not an object at all: still text, nothing panics.
    assert!(text(&json!([1, 2])).starts_with("repo \n"));
}

#[test]
fn an_environment_with_the_repo_vars_says_so() {
    let mut d = doc();
    d["per_environment"]["prd"]["vars"] = d["vars"].clone();
    let t = text(&d);
    assert!(
        t.contains("environment prd: account 222, region eu-west-1\n  vars: as the repo's\n"),
        "{t}"
    );
}

#[test]
fn keys_that_read_as_paths_are_quoted() {
    let l = leaves(Some(&json!({"a.b": {"c": 1}, "": 2, "x": []})));
    let keys: Vec<&str> = l.keys().map(String::as_str).collect();
    assert_eq!(keys, ["\"\"", "\"a.b\".c", "x"]);
    assert_eq!(l["x"], "[]");
}

#[test]
fn an_unknown_repo_names_what_was_given_and_the_closest_repos() {
    let names: Vec<String> = [
        "acme/mango-web",
        "acme/mango-api",
        "acme/kiwi-app",
        "acme/apple-sso",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        not_found("acme/mango-wbe", &names, "registry.json"),
        "no repo \"acme/mango-wbe\" in registry.json (the REPO argument of `distributor context`); \
         did you mean acme/mango-web, acme/mango-api? \
         (every repo is listed under teams.<team>.repos in registry.json)"
    );
    // A bare name is compared with names, not owner/name.
    assert_eq!(closest("kiwi-ap", &names), ["acme/kiwi-app"]);
    // Nothing close: the first repos, and how many more.
    assert_eq!(
        not_found("acme/nope", &names, "registry.json"),
        "no repo \"acme/nope\" in registry.json (the REPO argument of `distributor context`); \
         its repos: acme/mango-web, acme/mango-api, acme/kiwi-app and 1 more \
         (every repo is listed under teams.<team>.repos in registry.json)"
    );
    assert_eq!(
        not_found("x", &[], "r.json"),
        "no repo \"x\" in r.json (the REPO argument of `distributor context`); r.json has no repos"
    );
}
