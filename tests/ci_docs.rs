//! `docs/ci.md` shows the GitHub Actions workflow for the platform
//! repository. This test parses that workflow (the first ```yaml block),
//! checks its shape (pull requests only, read-only permissions, validate
//! before plan, the markdown plan into `$GITHUB_STEP_SUMMARY`), and runs
//! its validate and plan steps with bash, as GitHub would, against a
//! stand-in `distributor` that exits with each code: 0 and 2 (changes
//! pending) pass, 1 fails. The markdown itself is snapshot-tested in
//! `tests/plan_snapshots.rs`. No network.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn ci_md() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ci.md")).unwrap()
}

/// The first ```yaml block of the page.
fn workflow_text(md: &str) -> String {
    let start = md
        .find("```yaml\n")
        .expect("docs/ci.md has a ```yaml block")
        + "```yaml\n".len();
    let len = md[start..].find("\n```").expect("the yaml block is closed");
    md[start..start + len + 1].to_string()
}

fn workflow() -> Value {
    let text = workflow_text(&ci_md());
    serde_saphyr::from_str_with_options::<Value>(&text, distributor::render::bundle::yaml_options())
        .unwrap_or_else(|e| panic!("the workflow in docs/ci.md is not valid YAML: {e}\n{text}"))
}

/// Every step of every job.
fn steps(w: &Value) -> Vec<&Value> {
    w["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .flat_map(|job| job["steps"].as_array().expect("steps"))
        .collect()
}

fn run_of(step: &Value) -> &str {
    step["run"].as_str().unwrap_or("")
}

/// The one step whose script runs `command`.
fn step_running<'a>(w: &'a Value, command: &str) -> (usize, &'a Value) {
    let found: Vec<(usize, &Value)> = steps(w)
        .into_iter()
        .enumerate()
        .filter(|(_, s)| run_of(s).contains(command))
        .collect();
    assert_eq!(found.len(), 1, "one step should run `{command}`");
    found[0]
}

#[test]
fn the_workflow_runs_on_pull_requests_only_with_read_only_permissions() {
    let w = workflow();
    let on = w["on"].as_object().expect("`on` is a mapping of events");
    let events: Vec<&str> = on.keys().map(String::as_str).collect();
    assert_eq!(
        events,
        ["pull_request"],
        "nothing on main: the daemon delivers merges"
    );
    let permissions = w["permissions"].as_object().expect("explicit permissions");
    for (scope, access) in permissions {
        assert_eq!(access, "read", "{scope} should be read-only");
    }
    for step in steps(&w) {
        assert!(
            !run_of(step).contains("${{"),
            "expressions belong in env:, not in scripts (injection): {}",
            run_of(step)
        );
    }
}

#[test]
fn the_plan_step_writes_markdown_to_the_step_summary_after_validate() {
    let w = workflow();
    let (validate_at, _) = step_running(&w, "distributor validate");
    let (plan_at, plan) = step_running(&w, "distributor plan");
    assert!(validate_at < plan_at, "validate runs before plan");
    let script = run_of(plan);
    for want in [
        "--forge github",
        "--format markdown",
        ">> \"$GITHUB_STEP_SUMMARY\"",
    ] {
        assert!(
            script.contains(want),
            "the plan step lacks {want}:\n{script}"
        );
    }
    let token = plan["env"]["GITHUB_TOKEN"].as_str().unwrap_or("");
    assert!(
        token.contains("secrets.") && !token.contains("secrets.GITHUB_TOKEN"),
        "plan needs a read-only token for the team repos, not the workflow's own: {token}"
    );
}

/// A directory with a stand-in `distributor` on PATH: it records its
/// arguments, prints a markdown line on stdout and a log line on stderr,
/// and exits with `$STUB_EXIT`.
fn stub_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("distributor");
    std::fs::write(
        &stub,
        "#!/bin/sh\n\
         echo \"$@\" >> \"$STUB_ARGS\"\n\
         echo '## distributor plan (stub)'\n\
         echo 'INFO a log line (stub)' >&2\n\
         exit \"$STUB_EXIT\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// What a step's script did: exit code, the step summary, the stub's
/// arguments.
struct StepRun {
    code: i32,
    summary: String,
    args: String,
    output: String,
}

/// Runs `step`'s script the way GitHub's Linux runners do (`bash -e`, or
/// `bash --noprofile --norc -eo pipefail` with `shell: bash`).
fn run_step(step: &Value, stub_exit: i32) -> StepRun {
    let stubs = stub_dir();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("step.sh");
    std::fs::write(&script, run_of(step)).unwrap();
    let summary = work.path().join("summary.md");
    let args = work.path().join("args");
    std::fs::write(&summary, "").unwrap();
    std::fs::write(&args, "").unwrap();
    let mut bash = Command::new("bash");
    match step["shell"].as_str() {
        None => bash.arg("-e"),
        Some("bash") => bash.args(["--noprofile", "--norc", "-eo", "pipefail"]),
        Some(other) => panic!("unexpected shell {other}"),
    };
    let path: PathBuf = stubs.path().into();
    let system_path = std::env::var("PATH").unwrap_or_default();
    let out = bash
        .arg(&script)
        .current_dir(work.path())
        .env("PATH", format!("{}:{system_path}", path.display()))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_TOKEN", "not-a-real-token")
        .env("STUB_EXIT", stub_exit.to_string())
        .env("STUB_ARGS", &args)
        .output()
        .expect("bash runs");
    StepRun {
        code: out.status.code().unwrap_or(-1),
        summary: std::fs::read_to_string(&summary).unwrap(),
        args: std::fs::read_to_string(&args).unwrap(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn plan_exit_code_two_passes_and_one_fails() {
    let w = workflow();
    let (_, plan) = step_running(&w, "distributor plan");
    for (exit, passes) in [(0, true), (2, true), (1, false), (3, false)] {
        let r = run_step(plan, exit);
        assert_eq!(
            r.code == 0,
            passes,
            "plan exiting {exit}: the step exited {}\n{}",
            r.code,
            r.output
        );
        assert!(
            r.args.contains("plan --forge github --format markdown"),
            "{}",
            r.args
        );
        // stdout (the markdown) lands in the summary, the logs do not.
        assert!(
            r.summary.contains("## distributor plan (stub)"),
            "{}",
            r.summary
        );
        assert!(!r.summary.contains("log line"), "{}", r.summary);
    }
}

#[test]
fn a_failed_validation_fails_the_job() {
    let w = workflow();
    let (_, validate) = step_running(&w, "distributor validate");
    assert_eq!(run_step(validate, 0).code, 0);
    let r = run_step(validate, 1);
    assert_ne!(r.code, 0, "{}", r.output);
    assert!(r.args.starts_with("validate"), "{}", r.args);
}
