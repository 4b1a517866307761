//! Rendering tests: the shipped templates against the example registry
//! (every repo renders, outputs parse, snapshots of one repo), and the error
//! paths on small in-memory template sets.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::registry::{self, ResolvedRepo};

/// Reads a directory tree into `relative/path -> bytes`, `/`-separated.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(rel.join("/"), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn project_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The shipped `templates/` directory.
fn shipped_templates() -> TemplateSet {
    let files = read_tree(&project_file("templates"));
    TemplateSet::from_files("templates", &files).unwrap_or_else(|d| panic!("{d}"))
}

/// Every repo of the shipped `registry.json`, resolved.
fn shipped_repos(templates: &TemplateSet) -> Vec<ResolvedRepo> {
    let text = std::fs::read_to_string(project_file("registry.json")).unwrap();
    let reg = registry::load("registry.json", &text, &templates.bundle_names())
        .unwrap_or_else(|d| panic!("{d}"));
    registry::resolve(&reg)
}

fn render_shipped(full_name: &str) -> BTreeMap<String, DesiredFile> {
    let templates = shipped_templates();
    let repo = shipped_repos(&templates)
        .into_iter()
        .find(|r| r.full_name() == full_name)
        .unwrap_or_else(|| panic!("{full_name} is not in registry.json"));
    templates
        .render_repo(&repo)
        .unwrap_or_else(|d| panic!("{d}"))
        .into_iter()
        .map(|f| (f.path.clone(), f))
        .collect()
}

fn text(f: &DesiredFile) -> &str {
    std::str::from_utf8(&f.content).unwrap()
}

/// Something that looks like a calendar date (`2024-05-01`, `2024/05/01`).
fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(10).any(|w| {
        w[..4].iter().all(u8::is_ascii_digit)
            && (w[4] == b'-' || w[4] == b'/')
            && w[5..7].iter().all(u8::is_ascii_digit)
            && w[7] == w[4]
            && w[8..].iter().all(u8::is_ascii_digit)
    })
}

#[test]
fn every_repo_of_the_example_registry_renders() {
    let templates = shipped_templates();
    assert_eq!(
        templates.bundle_names(),
        ["baseline", "security", "terraform-deploy"]
    );
    let repos = shipped_repos(&templates);
    assert!(repos.len() >= 10, "the example has about a dozen repos");
    let mut problems = Diagnostics::default();
    for repo in &repos {
        let files = match templates.render_repo(repo) {
            Ok(f) => f,
            Err(d) => {
                problems.extend(d);
                continue;
            }
        };
        assert!(!files.is_empty(), "{} receives nothing", repo.full_name());
        for f in &files {
            let content = text(f);
            let at = format!("{} {}", repo.full_name(), f.path);
            assert!(content.ends_with('\n'), "{at}: no final newline");
            assert!(!looks_like_date(content), "{at}: contains a date");
            assert!(!content.contains("{{"), "{at}: unrendered template syntax");
            if f.path.ends_with(".yml") {
                let header = format!(
                    "# Managed by distributor (bundle: {}): edit the template, not this file.\n",
                    f.bundle
                );
                assert!(content.starts_with(&header), "{at}: no managed header");
                let doc: serde_json::Value =
                    serde_saphyr::from_str_with_options(content, bundle::yaml_options())
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                if f.path.starts_with(".github/workflows/") {
                    // YAML 1.2: `on` is the string key GitHub expects, not `true`.
                    assert!(doc["on"].is_object(), "{at}: no `on:` key");
                    assert!(doc.get("true").is_none(), "{at}: `on` became a boolean");
                    assert!(doc["jobs"].is_object(), "{at}: no jobs");
                }
            }
            if f.path.ends_with(".json") {
                serde_json::from_str::<serde_json::Value>(content)
                    .unwrap_or_else(|e| panic!("{at}: {e}"));
            }
            let want_mode = if f.path.ends_with(".sh") {
                FileMode::Executable
            } else {
                FileMode::Regular
            };
            assert_eq!(f.mode, want_mode, "{at}");
        }
        // One deploy workflow and one tfvars file per environment, exactly
        // for the repos that receive terraform-deploy.
        let deploys = files
            .iter()
            .filter(|f| f.path.starts_with(".github/workflows/deploy-"))
            .count();
        let expected = if repo.bundles.iter().any(|b| b == "terraform-deploy") {
            repo.environments.len()
        } else {
            0
        };
        assert_eq!(deploys, expected, "{}", repo.full_name());
    }
    assert!(problems.is_empty(), "{problems}");
}

#[test]
fn opt_outs_of_the_example_registry_apply() {
    let warehouse = render_shipped("acme/banana-warehouse");
    assert!(warehouse.contains_key(".github/CODEOWNERS"));
    assert!(warehouse.contains_key(".github/workflows/deploy-prd.yml"));
    assert!(!warehouse.contains_key(".github/workflows/security.yml"));

    let sso = render_shipped("acme/apple-sso");
    assert!(sso.contains_key(".github/dependabot.yml"));
    assert!(!sso.contains_key(".editorconfig"));
    assert!(render_shipped("acme/apple-auth").contains_key(".editorconfig"));
}

#[test]
fn deploy_workflow_follows_environment_and_flags() {
    let files = render_shipped("acme/kiwi-gateway");
    let prd = text(&files[".github/workflows/deploy-prd.yml"]);
    assert!(prd.contains("role-to-assume: arn:aws:iam::894052316789:role/github-deploy\n"));
    assert!(prd.contains("aws-region: eu-west-1\n"));
    // environment-level var beats the default runner
    assert!(prd.contains("runs-on: \"acme-prd-runners\"\n"));
    // auto_deploy is off in prd: dispatch only
    assert!(!prd.contains("  pull_request:\n"));
    assert!(prd.contains("  workflow_dispatch: {}\n"));
    let dev = text(&files[".github/workflows/deploy-dev.yml"]);
    assert!(dev.contains("runs-on: \"ubuntu-24.04\"\n"));
    assert!(dev.contains("  push:\n"));
    // the team switched auto_deploy off in uat (its per-stage flag only names dev)
    let uat = text(&files[".github/workflows/deploy-uat.yml"]);
    assert!(!uat.contains("  push:\n"));

    let tfvars: serde_json::Value = serde_json::from_slice(
        &files["terraform/environments/stg/platform.auto.tfvars.json"].content,
    )
    .unwrap();
    assert_eq!(tfvars["account_id"], "783941205678");
    assert_eq!(tfvars["flags"]["new_db"], true, "repo flag on in stg");
    assert_eq!(
        tfvars["flags"]["cost_alerts"], true,
        "repo flag on everywhere"
    );
    // repo tfvars < environment tfvars
    assert_eq!(tfvars["service_name"], "gateway");
    assert_eq!(tfvars["desired_count"], 2);
}

#[test]
fn snapshots_of_one_repo() {
    let files = render_shipped("acme/kiwi-gateway");
    for (name, path) in [
        (
            "kiwi_gateway_deploy_prd",
            ".github/workflows/deploy-prd.yml",
        ),
        (
            "kiwi_gateway_deploy_dev",
            ".github/workflows/deploy-dev.yml",
        ),
        (
            "kiwi_gateway_tfvars_prd",
            "terraform/environments/prd/platform.auto.tfvars.json",
        ),
        ("kiwi_gateway_codeowners", ".github/CODEOWNERS"),
        ("kiwi_gateway_dependabot", ".github/dependabot.yml"),
    ] {
        insta::assert_snapshot!(name, text(&files[path]));
    }
}

// --- error paths, on small in-memory template sets ---

const MINI_REGISTRY: &str = r#"{
  "version": 1,
  "stages": ["dev", "prd"],
  "defaults": {
    "owner": "acme",
    "bundles": ["a"],
    "vars": {"greeting": "hello"},
    "flags": {"per": {"dev": true}, "all": true}
  },
  "teams": {
    "t": {
      "owners": {"teams": ["acme/t"]},
      "environments": {
        "dev": {"account": "111111111111", "region": "eu-west-1"},
        "prd": {"account": "222222222222", "region": "eu-west-1"}
      },
      "repos": [{"name": "r"}]
    }
  }
}"#;

/// A template set from `(relative path, content)` pairs.
fn set(files: &[(&str, &str)]) -> TemplateSet {
    let files: BTreeMap<String, Vec<u8>> = files
        .iter()
        .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
        .collect();
    TemplateSet::from_files("templates", &files).unwrap_or_else(|d| panic!("{d}"))
}

/// The one repo of [`MINI_REGISTRY`], receiving `bundles`.
fn mini_repo(bundles: &[&str]) -> ResolvedRepo {
    let reg = registry::parse("mini.json", MINI_REGISTRY).unwrap();
    let mut repo = registry::resolve(&reg).remove(0);
    repo.bundles = bundles.iter().map(|b| b.to_string()).collect();
    repo
}

/// Renders and expects failure; returns every diagnostic as one string.
fn render_err(set: &TemplateSet, repo: &ResolvedRepo) -> String {
    match set.render_repo(repo) {
        Ok(files) => panic!(
            "expected an error, rendered {:?}",
            files.iter().map(|f| &f.path).collect::<Vec<_>>()
        ),
        Err(d) => d.to_string(),
    }
}

fn render_ok(set: &TemplateSet, repo: &ResolvedRepo) -> BTreeMap<String, String> {
    set.render_repo(repo)
        .unwrap_or_else(|d| panic!("{d}"))
        .into_iter()
        .map(|f| (f.path, String::from_utf8(f.content).unwrap()))
        .collect()
}

fn one_file(path: &str, body: &str) -> TemplateSet {
    let manifest = format!("files:\n  - template: f.txt\n    path: {path:?}\n");
    set(&[("a/bundle.yaml", &manifest), ("a/f.txt", body)])
}

#[test]
fn undefined_variable_names_bundle_template_line_and_repo() {
    let s = one_file(
        "out.txt",
        "first {{ vars.greeting }}\nsecond {{ vars.nope }}\n",
    );
    let err = render_err(&s, &mini_repo(&["a"]));
    assert!(err.contains("templates/a/f.txt:2"), "{err}");
    assert!(err.contains("bundle `a`"), "{err}");
    assert!(err.contains("repo acme/r"), "{err}");
    assert!(err.contains("undefined"), "{err}");
    assert!(err.contains("vars.nope"), "source line quoted: {err}");
}

#[test]
fn unsafe_target_paths_are_rejected() {
    for (path, why) in [
        ("{{ '..' }}/x", "`..`"),
        (".git/config", "inside `.git/`"),
        ("/etc/{{ repo.name }}", "absolute"),
        (".github/distributor.lock.json", "lock file"),
    ] {
        let err = render_err(&one_file(path, "x\n"), &mini_repo(&["a"]));
        assert!(err.contains(why), "{path}: {err}");
        assert!(err.contains("templates/a/f.txt"), "{path}: {err}");
    }
}

#[test]
fn two_bundles_writing_one_path_is_an_error_naming_both() {
    let s = set(&[
        (
            "a/bundle.yaml",
            "files:\n  - template: one.txt\n    path: same.txt\n",
        ),
        ("a/one.txt", "1\n"),
        (
            "b/bundle.yaml",
            "files:\n  - template: two.txt\n    path: same.txt\n",
        ),
        ("b/two.txt", "2\n"),
    ]);
    let err = render_err(&s, &mini_repo(&["a", "b"]));
    assert!(err.contains("\"same.txt\""), "{err}");
    assert!(err.contains("a/one.txt"), "{err}");
    assert!(err.contains("b/two.txt"), "{err}");
}

#[test]
fn per_environment_fan_out_with_the_same_path_collides() {
    // forgetting `{{ env.name }}` in a for_each path
    let s = set(&[
        (
            "a/bundle.yaml",
            "files:\n  - template: f.txt\n    path: deploy.yml\n    for_each: environment\n",
        ),
        ("a/f.txt", "env: {{ env.name }}\n"),
    ]);
    let err = render_err(&s, &mini_repo(&["a"]));
    assert!(
        err.contains("two templates produce \"deploy.yml\""),
        "{err}"
    );
}

#[test]
fn invalid_yaml_and_json_output_are_rejected() {
    let err = render_err(&one_file("x.yml", "a: [1, 2\n"), &mini_repo(&["a"]));
    assert!(err.contains("rendered YAML does not parse"), "{err}");
    let err = render_err(&one_file("x.yml", "a: 1\na: 2\n"), &mini_repo(&["a"]));
    assert!(err.contains("rendered YAML does not parse"), "{err}");
    let err = render_err(
        &one_file("x.json", "{\"a\": {{ vars.greeting }}}\n"),
        &mini_repo(&["a"]),
    );
    assert!(err.contains("rendered JSON does not parse"), "{err}");
    // the same value through to_json is fine
    let ok = render_ok(
        &one_file("x.json", "{\"a\": {{ vars.greeting | to_json }}}\n"),
        &mini_repo(&["a"]),
    );
    assert_eq!(ok["x.json"], "{\"a\": \"hello\"}\n");
}

#[test]
fn flag_resolves_per_environment() {
    let s = set(&[
        (
            "a/bundle.yaml",
            "files:\n  - template: f.txt\n    path: \"f-{{ env.name }}.txt\"\n    for_each: environment\n",
        ),
        (
            "a/f.txt",
            "per={{ flag('per') | to_json }} all={{ flag('all') | to_json }} prd={{ flag('per', 'prd') | to_json }}\n",
        ),
    ]);
    let out = render_ok(&s, &mini_repo(&["a"]));
    // `per` only names dev: off in prd
    assert_eq!(out["f-dev.txt"], "per=true all=true prd=false\n");
    assert_eq!(out["f-prd.txt"], "per=false all=true prd=false\n");
}

#[test]
fn flag_outside_an_environment() {
    // Bare booleans print Python-style; `to_json` gives YAML/JSON spelling.
    let ok = render_ok(
        &one_file(
            "f.txt",
            "{{ flag('all') }} {{ flag('per', 'dev') | to_json }} {% if not flag('per', 'prd') %}off{% endif %}\n",
        ),
        &mini_repo(&["a"]),
    );
    // (trim_blocks: the newline right after `{% endif %}` is removed)
    assert_eq!(ok["f.txt"], "True true off");

    let err = render_err(
        &one_file("f.txt", "{{ flag('per') }}\n"),
        &mini_repo(&["a"]),
    );
    assert!(err.contains("differs per stage"), "{err}");
    assert!(err.contains("templates/a/f.txt:1"), "{err}");

    let err = render_err(
        &one_file("f.txt", "{{ flag('nope') }}\n"),
        &mini_repo(&["a"]),
    );
    assert!(err.contains("\"nope\" is not defined"), "{err}");

    let err = render_err(
        &one_file("f.txt", "{{ flag('per', 'qa') }}\n"),
        &mini_repo(&["a"]),
    );
    assert!(err.contains("unknown stage"), "{err}");
}

#[test]
fn managed_header_has_no_date_or_revision() {
    let out = render_ok(
        &one_file("f.txt", "{{ managed_header('//') }}body\n"),
        &mini_repo(&["a"]),
    );
    let text = &out["f.txt"];
    let header = text.strip_suffix("body\n").unwrap();
    assert!(
        header.starts_with("// Managed by distributor (bundle: a)"),
        "{header}"
    );
    assert!(header.lines().all(|l| l.starts_with("// ")), "{header}");
    assert!(
        !header.bytes().any(|b| b.is_ascii_digit()),
        "digits suggest a date or revision: {header}"
    );
}

#[test]
fn skip_files_must_name_a_rendered_file() {
    let s = one_file("out.txt", "x\n");
    let mut repo = mini_repo(&["a"]);
    repo.skip_files = vec!["out.txt".into()];
    assert!(render_ok(&s, &repo).is_empty());
    repo.skip_files = vec!["ot.txt".into()];
    let err = render_err(&s, &repo);
    assert!(
        err.contains("\"ot.txt\" is not a file this repo would receive"),
        "{err}"
    );
}

#[test]
fn github_expressions_and_optional_vars() {
    // `${{ }}` would be template syntax; a string literal or a raw block
    // (tags on their own lines: trim_blocks) passes it through. Optional variables need `is defined` or `default`
    // under strict undefined.
    let body = "a: {{ '${{ github.sha }}' }}\n\
                {% raw %}\n\
                b: ${{ github.ref }}\n\
                {% endraw %}\n\
                c: {{ vars.missing | default('none') }}\n\
                d: {{ 'set' if vars.missing is defined else 'unset' }}\n\
                e: {{ (vars.greeting is defined) | to_json }}\n";
    let out = render_ok(&one_file("x.yml", body), &mini_repo(&["a"]));
    assert_eq!(
        out["x.yml"],
        "a: ${{ github.sha }}\nb: ${{ github.ref }}\nc: none\nd: unset\ne: true\n"
    );
}

#[test]
fn files_no_manifest_names_are_ignored() {
    let manifest = "files:\n  - template: f.txt\n    path: out.txt\n";
    let files: BTreeMap<String, Vec<u8>> = [
        ("a/bundle.yaml", manifest.as_bytes()),
        ("a/f.txt", b"hello\n".as_slice()),
        // Binary junk, an editor backup, a top-level note.
        ("a/.DS_Store", b"\x00\x01\xff\xfe".as_slice()),
        ("a/f.txt~", b"{{ broken".as_slice()),
        (".DS_Store", b"\xff".as_slice()),
        ("README.md", b"notes".as_slice()),
    ]
    .into_iter()
    .map(|(p, c)| (p.to_string(), c.to_vec()))
    .collect();
    let s = TemplateSet::from_files("templates", &files).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        s.ignored(),
        [".DS_Store", "README.md", "a/.DS_Store", "a/f.txt~"]
    );
    let out = render_ok(&s, &mini_repo(&["a"]));
    assert_eq!(out.keys().collect::<Vec<_>>(), ["out.txt"]);
}

#[test]
fn a_referenced_template_is_still_checked() {
    let manifest = "files:\n  - template: f.txt\n    path: out.txt\n  - template: gone.txt\n    path: gone.txt\n";
    let files: BTreeMap<String, Vec<u8>> = [
        ("a/bundle.yaml", manifest.as_bytes()),
        ("a/f.txt", b"\xff\xfe".as_slice()),
    ]
    .into_iter()
    .map(|(p, c)| (p.to_string(), c.to_vec()))
    .collect();
    let err = match TemplateSet::from_files("templates", &files) {
        Ok(_) => panic!("a non-UTF-8 template and a missing one are refused"),
        Err(d) => d.to_string(),
    };
    assert_eq!(
        err,
        "2 problems found; nothing was written:\n  \
         error: templates/a/bundle.yaml: files[1].template: template file templates/a/gone.txt does not exist\n  \
         error: templates/a/f.txt: template is not valid UTF-8 text\n"
    );
    // An unparsable referenced template still fails at render time.
    let s = one_file("out.txt", "{% if %}\n");
    assert!(render_err(&s, &mini_repo(&["a"])).contains("templates/a/f.txt:1"));
}

/// The flag reads of each rendered file, as `flag@stage` strings.
fn reads_of(set: &TemplateSet, repo: &ResolvedRepo) -> BTreeMap<String, Vec<String>> {
    set.render_repo(repo)
        .unwrap_or_else(|d| panic!("{d}"))
        .into_iter()
        .map(|f| {
            let reads = f
                .flag_reads
                .iter()
                .map(|r| format!("{}@{}", r.flag, r.stage))
                .collect();
            (f.path, reads)
        })
        .collect()
}

#[test]
fn each_file_knows_which_flags_it_read_in_which_stage() {
    let s = set(&[
        (
            "a/bundle.yaml",
            "files:\n\
             \x20 - {template: env.txt, path: \"env-{{ env.name }}.txt\", for_each: environment}\n\
             \x20 - {template: helper.txt, path: helper.txt}\n\
             \x20 - {template: attr.txt, path: attr.txt}\n\
             \x20 - {template: whole.txt, path: whole.txt}\n\
             \x20 - {template: loop.txt, path: loop.txt}\n\
             \x20 - {template: none.txt, path: none.txt}\n\
             \x20 - {template: \"{{ 'p' }}.txt\", path: \"{% if flags.all %}p{% endif %}.txt\"}\n",
        ),
        // In a per-environment file, `flags.x` and `flag('x')` read the
        // file's stage only; `flag('x', 'prd')` reads prd.
        (
            "a/env.txt",
            "{{ flags.per }} {{ flag('all') }} {{ flag('per', 'prd') }}\n",
        ),
        // `flag()` with one value everywhere reads every stage.
        (
            "a/helper.txt",
            "{{ flag('all') }} {{ flag('per', 'dev') }}\n",
        ),
        // `flags.per` is a map by stage: only the stage read counts.
        ("a/attr.txt", "{{ flags.per.prd }}\n"),
        // The whole map serialised reads everything.
        ("a/whole.txt", "{{ flags | to_json }}\n"),
        // Through `environments`, each environment's own stage.
        (
            "a/loop.txt",
            "{% for e in environments %}{{ e.name }}={{ e.flags.per }} {% endfor %}\n",
        ),
        ("a/none.txt", "no flags {{ vars.greeting }}\n"),
        ("a/{{ 'p' }}.txt", "path reads a flag\n"),
    ]);
    let reads = reads_of(&s, &mini_repo(&["a"]));
    let expect = |path: &str, want: &[&str]| {
        assert_eq!(reads[path], want, "{path}");
    };
    expect("env-dev.txt", &["all@dev", "per@dev", "per@prd"]);
    expect("env-prd.txt", &["all@prd", "per@prd"]);
    expect("helper.txt", &["all@dev", "all@prd", "per@dev"]);
    expect("attr.txt", &["per@prd"]);
    expect("whole.txt", &["all@dev", "all@prd", "per@dev", "per@prd"]);
    expect("loop.txt", &["per@dev", "per@prd"]);
    expect("none.txt", &[]);
    expect("p.txt", &["all@dev", "all@prd"]);
}

#[test]
fn the_context_a_template_sees_is_unchanged_by_recording() {
    let repo = mini_repo(&["a"]);
    let plain = serde_json::to_value(repo.repo_context()).unwrap();
    assert_eq!(
        plain["flags"],
        serde_json::json!({"all": true, "per": {"dev": true, "prd": false}})
    );
    assert_eq!(
        plain["environments"][1]["flags"],
        serde_json::json!({"all": true, "per": false})
    );
    assert!(plain.get(crate::render::flags::RECORDER_KEY).is_none());
    let env = serde_json::to_value(repo.env_context(&repo.environments[0])).unwrap();
    assert_eq!(env["flags"], serde_json::json!({"all": true, "per": true}));
    assert_eq!(env["env"]["name"], "dev");
}
