//! The first ten minutes and the install path, through the binary:
//! `distributor init DIR` writes a platform repository that validates,
//! plans and applies against the local forge at once (and refuses a
//! non-empty DIR, writing nothing); `completions`, `man` and `--version`
//! print what a shell, `man` and a bug report need. The Debian package's
//! contents are checked by `packaging/deb`, which CI runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_distributor");

/// Runs the binary in `dir` with a private state directory and no
/// inherited distributor settings.
fn run(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DISTRIBUTOR_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args)
        .current_dir(dir)
        .env("DISTRIBUTOR_STATE_DIR", dir.join(".state-for-test"))
        .env_remove("GITHUB_TOKEN")
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn expect(out: Output, code: i32) -> Output {
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    out
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn init_writes_a_platform_repository_that_validates_plans_and_applies_locally() {
    let tmp = tempfile::tempdir().unwrap();
    let out = expect(run(tmp.path(), &["init", "platform"]), 0);
    assert!(
        stdout(&out).starts_with("created a platform repository in platform:\n"),
        "{}",
        text(&out)
    );
    assert!(
        stdout(&out).contains("fill in DISTRIBUTOR_GIT and DISTRIBUTOR_REV"),
        "{}",
        text(&out)
    );
    let dir = tmp.path().join("platform");
    assert_eq!(
        files_under(&dir),
        [
            ".github/workflows/distributor-plan.yml",
            ".gitignore",
            "README.md",
            "distributor.yaml",
            "registry.json",
            "templates/baseline/.editorconfig",
            "templates/baseline/CODEOWNERS",
            "templates/baseline/bundle.yaml",
        ]
    );

    let out = expect(run(&dir, &["validate"]), 0);
    assert_eq!(
        stdout(&out),
        "valid: 1 teams, 1 repos, 2 files rendered (1 repos, 2 files selected by filters)\n"
    );
    // As the scaffold's README and `init` say: 2 (changes pending), then
    // apply, then 0 (in sync).
    let forge = "local:demo-repos";
    let out = expect(
        run(&dir, &["plan", "--forge", forge, "--init", "--no-diff"]),
        2,
    );
    for want in [
        "example-org/payments-api",
        "+ create    .editorconfig",
        "+ create    .github/CODEOWNERS",
    ] {
        assert!(stdout(&out).contains(want), "{want}\n{}", text(&out));
    }
    assert!(
        !dir.join("demo-repos/example-org").exists(),
        "plan --init creates no repository"
    );
    let out = expect(run(&dir, &["apply", "--forge", forge, "--init"]), 0);
    assert!(
        stdout(&out).contains("Applied: 1 repo changed"),
        "{}",
        text(&out)
    );
    let out = expect(run(&dir, &["plan", "--forge", forge]), 0);
    assert!(stdout(&out).contains("1 in sync"), "{}", text(&out));

    // The files landed, rendered from the registry.
    let bare = dir.join("demo-repos/example-org/payments-api.git");
    let show = Command::new("git")
        .args(["show", "main:.github/CODEOWNERS"])
        .current_dir(&bare)
        .output()
        .expect("git runs");
    let codeowners = stdout(&show);
    assert!(
        codeowners.contains("* @example-org/payments-devs @example-user\n"),
        "{codeowners}"
    );
}

#[test]
fn text_only_commands_refuse_other_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let out = expect(
        run(tmp.path(), &["init", "platform", "--format", "json"]),
        1,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: `distributor init` prints text only: --format json is not supported\n"
    );
    assert_eq!(files_under(tmp.path()), Vec::<String>::new());
    let out = expect(
        run(tmp.path(), &["completions", "bash", "--format", "markdown"]),
        1,
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--format markdown is not supported"),
        "{}",
        text(&out)
    );
}

#[test]
fn init_refuses_a_non_empty_directory_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let out = expect(run(tmp.path(), &["init", "."]), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "error: . is not empty (1 entries: notes.txt): init writes a new platform repository \
         into a new or empty directory only, and wrote nothing\n"
    );
    assert_eq!(files_under(tmp.path()), ["notes.txt"]);
    assert!(stdout(&out).is_empty());

    // A file in the way is refused too.
    let out = expect(run(tmp.path(), &["init", "notes.txt"]), 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("notes.txt is not a directory"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_scaffold_workflow_is_the_one_docs_ci_md_shows() {
    let md = std::fs::read_to_string(project_dir().join("docs/ci.md")).unwrap();
    let start = md.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let end = start + md[start..].find("\n```").expect("closed") + 1;
    let scaffold = distributor::scaffold::FILES
        .iter()
        .find(|(path, _)| *path == ".github/workflows/distributor-plan.yml")
        .expect("the scaffold has the workflow")
        .1;
    assert_eq!(
        &md[start..end],
        scaffold,
        "docs/ci.md and src/scaffold/files/.github/workflows/distributor-plan.yml differ"
    );
}

#[test]
fn the_scaffold_daemon_config_is_valid() {
    let (_, text) = distributor::scaffold::FILES
        .iter()
        .find(|(path, _)| *path == "distributor.yaml")
        .expect("the scaffold has a daemon config");
    if let Err(e) = distributor::daemon::config::Config::parse("distributor.yaml", text) {
        panic!("the scaffold's distributor.yaml is refused: {e}");
    }
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    let tmp = tempfile::tempdir().unwrap();
    let bash = stdout(&expect(run(tmp.path(), &["completions", "bash"]), 0));
    assert!(bash.starts_with("_distributor() {\n"), "{bash}");
    assert!(
        bash.contains("complete -F _distributor -o nosort -o bashdefault -o default distributor")
            || bash.contains("complete -F _distributor -o bashdefault -o default distributor"),
        "{bash}"
    );
    // Every subcommand and the options of `plan`.
    for word in [
        "validate",
        "plan",
        "apply",
        "status",
        "promote",
        "resume",
        "context",
        "serve",
        "init",
        "completions",
        "--no-diff",
        "--forge",
        "--registry",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    // bash accepts it.
    let script = tmp.path().join("distributor.bash");
    std::fs::write(&script, &bash).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));

    let zsh = stdout(&expect(run(tmp.path(), &["completions", "zsh"]), 0));
    assert!(zsh.starts_with("#compdef distributor\n"), "{zsh}");
    let fish = stdout(&expect(run(tmp.path(), &["completions", "fish"]), 0));
    assert!(fish.contains("complete -c distributor "), "{fish}");

    let out = expect(run(tmp.path(), &["completions", "tcsh"]), 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid value 'tcsh'"),
        "{}",
        text(&out)
    );
}

#[test]
fn man_prints_a_roff_page_with_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let man = stdout(&expect(run(tmp.path(), &["man"]), 0));
    assert!(man.contains("\n.TH distributor 1 "), "{man}");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH COMMANDS",
        ".SS \"distributor plan\"",
        ".SS \"distributor apply\"",
        ".SS \"distributor init\"",
        "\\fB--no-diff\\fR",
    ] {
        assert!(man.contains(section), "the man page lacks {section}");
    }
    assert!(
        !man.contains("distributor man"),
        "the hidden `man` command stays out"
    );
    assert!(
        !man.contains("distributor\\-plan(1)"),
        "no references to per-command pages that do not exist"
    );
}

#[test]
fn version_names_the_git_commit_it_was_built_from() {
    let tmp = tempfile::tempdir().unwrap();
    let out = stdout(&expect(run(tmp.path(), &["--version"]), 0));
    let version = env!("CARGO_PKG_VERSION");
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(project_dir())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| stdout(&o).trim().to_string());
    match head {
        // A git checkout (CI's clean clone): the commit being tested.
        Some(head) => assert_eq!(out, format!("distributor {version} (commit {head})\n")),
        // A tarball: the commit is unknown, said so.
        None => assert_eq!(out, format!("distributor {version} (commit unknown)\n")),
    }
}
