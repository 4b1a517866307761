//! Fleet benchmark on the local forge: N generated repos (default 500,
//! `DISTRIBUTOR_BENCH_REPOS`) receiving the shipped bundles. Measures the
//! pure core (validate + render), a first plan, a first apply, a no-op plan
//! and a template-change apply, and prints a table with wall time, commits
//! written and peak RSS. Run with `cargo bench --bench local_fleet`.
//! Figures, not assertions: the machine is shared and noisy.
//!
//! Then the binary itself, for each fleet size in `DISTRIBUTOR_BENCH_RSS`
//! (default `1000,10000`; empty to skip): `apply --init` of a generated
//! registry, a template change, then `validate`, `plan` and
//! `plan --format json`, each with its wall time and the process's peak
//! RSS (the memory target: a 10,000-repo plan under 300 MiB). Before
//! those, the same commands on `DISTRIBUTOR_BENCH_BIG_VAR` repos (default
//! 200) sharing a 1 MB variable (target: under 150 MiB).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use distributor::apply;
use distributor::forge::local::LocalForge;
use distributor::lock::Source;
use distributor::observe::{self, Options};
use distributor::plan::PlanSettings;
use distributor::registry;
use distributor::render::TemplateSet;
use distributor::target::Target;

fn registry_json(repos: usize) -> String {
    let teams = ["mango", "banana", "apple", "kiwi", "grape"];
    let mut team_objs = Vec::new();
    for (t, team) in teams.iter().enumerate() {
        let repos: Vec<String> = (0..repos)
            .filter(|i| i % teams.len() == t)
            .map(|i| {
                let delivery = if i % 2 == 0 { "direct" } else { "pr" };
                format!(
                    r#"{{"name": "{team}-svc-{i:04}", "delivery": "{delivery}", "bundles": ["baseline", "security", "terraform-deploy"]}}"#
                )
            })
            .collect();
        team_objs.push(format!(
            r#""{team}": {{
              "owners": {{"teams": ["acme/{team}-devs"], "users": ["lead-{team}"]}},
              "environments": {{
                "dev": {{"account": "1{t:011}", "region": "eu-west-1"}},
                "prd": {{"account": "2{t:011}", "region": "us-east-1"}}
              }},
              "repos": [{}]
            }}"#,
            repos.join(",")
        ));
    }
    format!(
        r#"{{"version": 1, "stages": ["dev", "uat", "tst", "stg", "prd"],
            "defaults": {{"owner": "acme", "bundles": ["baseline", "security"],
              "vars": {{"platform_team": "acme/platform", "runner": "ubuntu-24.04",
                "terraform": {{"version": "1.9.8", "working_dir": "infra", "state_bucket_prefix": "acme-tfstate"}},
                "aws": {{"deploy_role": "github-deploy"}}, "dependabot": {{"schedule": "weekly"}}, "tfvars": {{}}}},
              "flags": {{"new_db": {{"dev": true}}, "audit_logging": true, "auto_deploy": {{"dev": true}}, "cost_alerts": {{"prd": true}}}}}},
            "teams": {{{}}}}}"#,
        team_objs.join(",")
    )
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

fn targets(text: &str, files: &BTreeMap<String, Vec<u8>>) -> Vec<Target> {
    let templates = TemplateSet::from_files("templates", files).unwrap();
    let reg = registry::load("bench.json", text, &templates.bundle_names()).unwrap();
    registry::resolve(&reg)
        .into_iter()
        .map(|repo| {
            let desired = templates.render_repo(&repo).unwrap();
            Target { repo, desired }
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("DISTRIBUTOR_BENCH_REPOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let inputs =
        distributor::source::read_inputs(&root.join("registry.json"), &root.join("templates"))
            .unwrap();
    let text = registry_json(n);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let forge = LocalForge::new(dir.path()).unwrap();
    let opts = |rev: &str| Options {
        settings: PlanSettings {
            source: Source {
                revision: rev.into(),
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
        diffs: false,
        diffs_up_to: None,
        missing_as_empty: false,
    };
    let mut rows: Vec<(String, f64, String)> = Vec::new();

    let t = Instant::now();
    let ts = targets(&text, &inputs.template_files);
    let files: usize = ts.iter().map(|t| t.desired.len()).sum();
    rows.push((
        format!("validate + render ({n} repos, {files} files)"),
        t.elapsed().as_secs_f64(),
        format!("peak RSS so far {:.1} MiB", peak_rss_mib()),
    ));

    for t in &ts {
        forge.ensure_repo(&t.id(), "main").unwrap();
    }
    rows.push((
        format!("ensure_repo x {n} (--init)"),
        0.0,
        format!("peak RSS so far {:.1} MiB", peak_rss_mib()),
    ));

    let t = Instant::now();
    let plan = rt.block_on(observe::make_plan(&forge, &ts, &opts("rev1")));
    rows.push((
        "first plan (all missing)".into(),
        t.elapsed().as_secs_f64(),
        format!(
            "{} repos with writes; peak RSS so far {:.1} MiB",
            plan.repos.iter().filter(|r| r.has_writes()).count(),
            peak_rss_mib()
        ),
    ));

    let t = Instant::now();
    let report = rt.block_on(apply::apply(&forge, &ts, &plan, &opts("rev1"), |_| {}));
    let commits = report.repos.iter().filter(|r| r.commit.is_some()).count()
        + report
            .repos
            .iter()
            .filter(|r| !matches!(r.proposal, apply::ProposalOutcome::None))
            .count();
    rows.push((
        "first apply".into(),
        t.elapsed().as_secs_f64(),
        format!(
            "{commits} commits, {} failed; peak RSS so far {:.1} MiB",
            report.failed(),
            peak_rss_mib()
        ),
    ));

    let t = Instant::now();
    let plan = rt.block_on(observe::make_plan(&forge, &ts, &opts("rev1")));
    rows.push((
        "no-op plan".into(),
        t.elapsed().as_secs_f64(),
        format!("has writes: {}", plan.has_writes()),
    ));

    let mut changed = inputs.template_files.clone();
    changed
        .get_mut("baseline/.editorconfig")
        .unwrap()
        .extend_from_slice(b"\n[*.tf]\nindent_size = 2\n");
    let ts2 = targets(&text, &changed);
    let t = Instant::now();
    let plan = rt.block_on(observe::make_plan(&forge, &ts2, &opts("rev2")));
    let report = rt.block_on(apply::apply(&forge, &ts2, &plan, &opts("rev2"), |_| {}));
    let written = report.repos.iter().filter(|r| r.files_changed > 0).count();
    rows.push((
        "template change: plan + apply".into(),
        t.elapsed().as_secs_f64(),
        format!("{written} repos written, {} failed", report.failed()),
    ));

    for i in 0..3 {
        let t = Instant::now();
        let plan = rt.block_on(observe::make_plan(&forge, &ts2, &opts("rev2")));
        rows.push((
            format!("no-op plan again ({})", i + 1),
            t.elapsed().as_secs_f64(),
            format!(
                "has writes: {}; peak RSS so far {:.1} MiB",
                plan.has_writes(),
                peak_rss_mib()
            ),
        ));
    }

    println!("\nlocal forge fleet benchmark ({n} repos)\n");
    println!("{:<48} {:>10}  note", "step", "wall (s)");
    for (step, secs, note) in rows {
        println!("{step:<48} {secs:>10.3}  {note}");
    }
    println!("\npeak RSS: {:.1} MiB", peak_rss_mib());
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for l in status
            .lines()
            .filter(|l| l.starts_with("Rss") || l.starts_with("VmRSS"))
        {
            println!("{l}");
        }
    }

    big_var_table(root);
    let sizes = std::env::var("DISTRIBUTOR_BENCH_RSS").unwrap_or_else(|_| "1000,10000".into());
    let sizes: Vec<usize> = sizes
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if sizes.is_empty() {
        return;
    }
    println!("\nthe binary, peak RSS per command (local forge)\n");
    println!(
        "{:>7}  {:<28} {:>10} {:>14}",
        "repos", "command", "wall (s)", "peak RSS (MiB)"
    );
    for n in sizes {
        for (command, secs, mib) in binary_fleet(n, root) {
            println!("{n:>7}  {command:<28} {secs:>10.2} {mib:>14.1}");
        }
    }
}

/// The shared-context case: `DISTRIBUTOR_BENCH_BIG_VAR` repos (default
/// 200; 0 to skip) with a 1 MB variable in `defaults.vars`, read by a
/// template in every repo. Prints each command's peak RSS (target: under
/// 150 MiB, the context is shared, not copied per repo).
fn big_var_table(root: &Path) {
    let n: usize = std::env::var("DISTRIBUTOR_BENCH_BIG_VAR")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    if n == 0 {
        return;
    }
    println!("\n{n} repos with a 1 MB variable, peak RSS per command (local forge)\n");
    println!(
        "{:<28} {:>10} {:>14}",
        "command", "wall (s)", "peak RSS (MiB)"
    );
    for (command, secs, mib) in binary_fleet_with(n, root, true) {
        println!("{command:<28} {secs:>10.2} {mib:>14.1}");
    }
}

/// A registry of `n` repos whose defaults carry `allowlist`, 1 MB of
/// strings (20,000 CIDR-like entries), and whose repos also get the
/// `allowlist` bundle that reads it.
fn big_var_registry(n: usize) -> String {
    let entries: Vec<String> = (0..20_000)
        .map(|i| {
            format!(
                "\"10.{}.{}.0/24 allowed-by-the-platform-team-{i:05}\"",
                i / 256 % 256,
                i % 256
            )
        })
        .collect();
    registry_json(n)
        .replace(
            r#""tfvars": {}"#,
            &format!(r#""tfvars": {{}}, "allowlist": [{}]"#, entries.join(",")),
        )
        .replace(
            r#""bundles": ["baseline", "security", "terraform-deploy"]"#,
            r#""bundles": ["baseline", "security", "terraform-deploy", "allowlist"]"#,
        )
}

/// Runs the binary on a generated fleet of `n` repos: the first rollout,
/// then after a template change `validate`, `plan` and `plan --format json`.
/// Returns (command, wall seconds, peak RSS MiB) per measured command.
fn binary_fleet(n: usize, project: &Path) -> Vec<(String, f64, f64)> {
    binary_fleet_with(n, project, false)
}

/// [`binary_fleet`], with the 1 MB variable of [`big_var_registry`] when
/// `big_var`.
fn binary_fleet_with(n: usize, project: &Path, big_var: bool) -> Vec<(String, f64, f64)> {
    let dir = tempfile::tempdir().unwrap();
    let platform = dir.path().join("platform");
    std::fs::create_dir_all(&platform).unwrap();
    copy_dir(&project.join("templates"), &platform.join("templates"));
    if big_var {
        std::fs::write(platform.join("registry.json"), big_var_registry(n)).unwrap();
        let bundle = platform.join("templates/allowlist");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(
            bundle.join("bundle.yaml"),
            "files:\n  - template: allowlist.txt\n    path: .github/allowlist.txt\n",
        )
        .unwrap();
        std::fs::write(
            bundle.join("allowlist.txt"),
            "{{ repo.full_name }}: {{ vars.allowlist | length }} ranges, first {{ vars.allowlist[0] }}\n",
        )
        .unwrap();
    } else {
        std::fs::write(platform.join("registry.json"), registry_json(n)).unwrap();
    }
    let forge = format!("local:{}", dir.path().join("forge").display());
    let state = dir.path().join("state");
    let run = |args: &[&str]| -> (f64, f64, i32) {
        let t = Instant::now();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_distributor"))
            .args(args)
            .args(["--state-dir", state.to_str().unwrap(), "-q"])
            .current_dir(&platform)
            .env("HOME", dir.path())
            .env_remove("DISTRIBUTOR_FORGE")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let (code, hwm) = wait_with_peak(child);
        (t.elapsed().as_secs_f64(), hwm, code)
    };
    let mut out = Vec::new();
    let (secs, mib, code) = run(&["apply", "--init", "--forge", &forge]);
    assert_eq!(code, 0, "apply --init failed");
    out.push(("apply --init (first rollout)".to_string(), secs, mib));
    let codeowners = platform.join("templates/baseline/CODEOWNERS");
    let mut text = std::fs::read_to_string(&codeowners).unwrap();
    text.push_str("# reviewed by the platform team\n");
    std::fs::write(&codeowners, text).unwrap();
    for (name, args) in [
        ("validate", vec!["validate"]),
        ("plan (template change)", vec!["plan", "--forge", &forge]),
        (
            "plan --format json",
            vec!["plan", "--format", "json", "--forge", &forge],
        ),
    ] {
        let (secs, mib, code) = run(&args);
        assert!(code == 0 || code == 2, "{name} failed: exit {code}");
        out.push((name.to_string(), secs, mib));
    }
    out
}

/// Waits for `child`, sampling its peak RSS (`VmHWM`, a high-water mark,
/// so sampling every few milliseconds loses nothing but the last moments).
fn wait_with_peak(mut child: std::process::Child) -> (i32, f64) {
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0f64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path)
            && let Some(kib) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().unwrap_or(-1), peak_kib / 1024.0);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}
