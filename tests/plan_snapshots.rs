//! Snapshot tests of what operators read: the plan as text, markdown and
//! JSON, for a `pr` repo (mango-api) and a `direct` repo (mango-web) after a
//! first rollout, a merged proposal, a hand edit and a template change. Object ids are replaced by `<oid>` so snapshots only change when
//! the output's shape or wording does.

use std::collections::BTreeMap;
use std::path::Path;

use distributor::apply;
use distributor::forge::local::LocalForge;
use distributor::forge::{CommitRequest, FileWrite, Forge, RepoId, Signature};
use distributor::lock::Source;
use distributor::observe::{self, Options};
use distributor::output::{self, text::Style};
use distributor::plan::PlanSettings;
use distributor::render::TemplateSet;
use distributor::target::Target;
use distributor::{blob::FileMode, registry, source};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Targets of team mango, rendered from the shipped registry and the
/// shipped templates with `edit` applied to the template files.
fn mango_targets(edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) -> Vec<Target> {
    let mut inputs =
        source::read_inputs(&root().join("registry.json"), &root().join("templates")).unwrap();
    edit(&mut inputs.template_files);
    let templates = TemplateSet::from_files("templates", &inputs.template_files).unwrap();
    let reg = registry::load(
        "registry.json",
        &inputs.registry_text,
        &templates.bundle_names(),
    )
    .unwrap();
    registry::resolve(&reg)
        .into_iter()
        .filter(|r| r.name == "mango-api" || r.name == "mango-web")
        .map(|repo| {
            let desired = templates.render_repo(&repo).unwrap();
            Target { repo, desired }
        })
        .collect()
}

fn options(diffs: bool) -> Options {
    Options {
        settings: PlanSettings {
            source: Source {
                revision: "platform-rev-1".into(),
                dirty: false,
                digest: None,
            },
            force_reason: None,
            bundles: None,
            now: 0,
            direct_after: Default::default(),
            bundle_labels: Default::default(),
            rollback: None,
        },
        diffs,
        diffs_up_to: None,
        missing_as_empty: false,
    }
}

/// Replaces every 40-digit hex object id.
fn scrub(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            .count();
        let boundary_before = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        let boundary_after = chars
            .get(i + run)
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if run == 40 && boundary_before && boundary_after {
            out.push_str("<oid>");
            i += 40;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[tokio::test(flavor = "current_thread")]
async fn plan_output_after_rollout_hand_edit_and_template_change() {
    let dir = tempfile::tempdir().unwrap();
    let forge = LocalForge::new(dir.path()).unwrap();
    let targets = mango_targets(|_| {});
    for t in &targets {
        forge.ensure_repo(&t.id(), "main").unwrap();
    }

    // First rollout: everything missing.
    let first = observe::make_plan(&forge, &targets, &options(false)).await;
    insta::assert_snapshot!(
        "first_rollout_text",
        scrub(&output::text::plan(&first, Style { color: false }, false))
    );
    let report = apply::apply(&forge, &targets, &first, &options(false), |_| {}).await;
    assert_eq!(report.failed(), 0);

    // The mango team merges its proposal (fast-forward).
    let api = dir.path().join("acme/mango-api.git");
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(&api)
        .args([
            "update-ref",
            "refs/heads/main",
            "refs/heads/distributor/sync",
        ])
        .status()
        .unwrap();
    assert!(status.success());

    // A developer edits a managed file on mango-web's main.
    let web = RepoId::new("acme", "mango-web");
    let obs = forge
        .observe(&[distributor::forge::RepoQuery {
            repo: web.clone(),
            branch: None,
            paths: vec![],
            lock_path: ".github/distributor.lock.json".into(),
            proposal_branch: "distributor/sync".into(),
        }])
        .await
        .remove(0)
        .unwrap();
    let tip = obs.default_branch.tip;
    forge
        .commit(&CommitRequest {
            repo: web.clone(),
            branch: "main".into(),
            parent: tip,
            expected_tip: tip,
            files: vec![FileWrite {
                path: ".github/dependabot.yml".into(),
                content: Some(b"version: 2\nupdates: []\n".to_vec()),
                mode: FileMode::Regular,
                mode_unchanged: false,
            }],
            message: "Turn off dependabot for now".into(),
            author: Signature {
                name: "Dev".into(),
                email: "dev@example.com".into(),
            },
        })
        .await
        .unwrap();

    // The platform team changes the editorconfig template.
    let targets = mango_targets(|files| {
        let f = files.get_mut("baseline/.editorconfig").unwrap();
        f.extend_from_slice(b"\n[*.tf]\nindent_size = 2\n");
    });
    let plan = observe::make_plan(&forge, &targets, &options(true)).await;
    assert!(plan.has_writes());
    insta::assert_snapshot!(
        "template_change_and_drift_text",
        scrub(&output::text::plan(&plan, Style { color: false }, true))
    );
    insta::assert_snapshot!(
        "template_change_and_drift_markdown",
        scrub(&output::markdown::plan(&plan))
    );
    let json = serde_json::to_string_pretty(&output::json::plan(&plan)).unwrap();
    insta::assert_snapshot!("template_change_and_drift_json", scrub(&json));
}
