//! Every command × every `--format`, and `--help`'s headings. A command
//! either prints the format asked for (JSON parses, markdown has its
//! heading and table, text is not JSON) with its documented exit code, or
//! refuses it before anything runs: exit 1, one line naming the command
//! and the formats it prints, nothing on stdout, nothing written to the
//! forge, the state directory or anywhere else. Which formats a command
//! prints is read from `distributor::app::formats`, the table the binary
//! itself consults, so a command gaining a format (status markdown) moves
//! its cases from "refused" to "printed" here without an edit; the table
//! itself is pinned by `the_format_table_is_the_documented_one`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use distributor::cli::Cli;
use distributor::output::Format;
use serde_json::Value;

use common::{Env, Snapshot};

/// A 40-hex platform revision the rollout log knows (halted), for
/// `promote` and `resume`.
const REVISION: &str = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c";

/// One command line to try with each format: the arguments after
/// `distributor`, and the exit code it documents when it runs here.
struct Case {
    args: Vec<String>,
    code: i32,
}

/// A fleet initialised by `apply --init`, with one template change
/// pending (so `plan` has something to say), a state directory whose
/// rollout log holds a halted revision, and every command to try.
fn setup() -> (Env, Vec<Case>) {
    let env = Env::initialised();
    env.append_to_template("baseline/CODEOWNERS", "# reviewed by formats.rs\n");
    let state = env.tmp.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("rollout.jsonl"),
        format!(
            "{{\"event\":\"halted\",\"at\":1,\"revision\":\"{REVISION}\",\"reason\":\"checks failed\"}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        env.tmp.path().join("serve.yaml"),
        format!(
            "platform:\n  path: {}\nforge:\n  local:\n    root: {}\nreconcile:\n  interval: 1h\n  jitter: 0s\n  stop_timeout: 3s\nhttp:\n  listen: 127.0.0.1:0\n",
            env.platform.display(),
            env.forge.display()
        ),
    )
    .unwrap();
    let forge = env.forge_arg();
    let state = state.display().to_string();
    let scaffold = env.tmp.path().join("new-platform").display().to_string();
    let on_forge = |args: &[&str], code: i32| {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["--forge".into(), forge.clone()]);
        all.extend(["--state-dir".into(), state.clone()]);
        Case { args: all, code }
    };
    let cases = vec![
        on_forge(&["validate"], 0),
        // A template change pending: exit 2.
        on_forge(&["plan"], 2),
        on_forge(&["apply", "--dry-run"], 2),
        // Delivered (held waves included): exit 0.
        on_forge(&["apply"], 0),
        on_forge(&["status"], 0),
        // Proposals still open: flags are on their way (exit 2).
        on_forge(&["flags"], 2),
        on_forge(&["context", "acme/mango-web"], 0),
        on_forge(&["promote", REVISION, "--wave", "canary"], 0),
        on_forge(&["resume", REVISION], 0),
        on_forge(&["init", &scaffold], 0),
        on_forge(&["completions", "bash"], 0),
        on_forge(&["man"], 0),
        // `serve` is run by `run_serve` (it stops on SIGTERM, exit 0).
        on_forge(&["serve"], 0),
    ];
    (env, cases)
}

/// The formats the binary prints for `args`, from the table it consults.
fn allowed(args: &[String]) -> &'static [Format] {
    let cli = Cli::try_parse_from(std::iter::once("distributor".to_string()).chain(args.to_vec()))
        .unwrap_or_else(|e| panic!("{args:?} parses: {e}"));
    distributor::app::formats(&cli.command)
}

fn name(f: Format) -> &'static str {
    match f {
        Format::Text => "text",
        Format::Json => "JSON",
        Format::Markdown => "markdown",
    }
}

fn flag(f: Format) -> String {
    f.to_possible_value().unwrap().get_name().to_string()
}

/// What a refusal says: "`distributor CMD` prints text or JSON only:
/// --format X is not supported" (and, for some, a hint in parentheses).
fn refusal(command: &str, allowed: &[Format], asked: Format) -> String {
    let names: Vec<&str> = allowed.iter().map(|f| name(*f)).collect();
    let prints = match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => unreachable!("every command prints something"),
    };
    format!(
        "error: `distributor {command}` prints {prints} only: --format {} is not supported",
        flag(asked)
    )
}

#[test]
fn every_command_prints_each_format_or_refuses_it_before_running() {
    let (env, cases) = setup();
    let mut seen = BTreeMap::new();
    for case in &cases {
        let command = case.args[0].as_str();
        // Refusals first: each must find nothing written yet (no scaffold,
        // no promotion) and leave it so.
        let mut formats = Format::value_variants().to_vec();
        formats.sort_by_key(|f| allowed(&case.args).contains(f));
        for format in formats {
            let mut args = case.args.clone();
            args.extend(["--format".into(), flag(format)]);
            let what = format!("distributor {}", args.join(" "));
            let allowed = allowed(&args);
            let before = Snapshot::of(env.tmp.path(), &env.scratch);
            let run = if command == "serve" {
                run_serve(&env, &args)
            } else {
                env.run_raw(&args.iter().map(String::as_str).collect::<Vec<_>>())
            };
            if !allowed.contains(&format) {
                assert_eq!(run.code, 1, "{what}: {run:?}");
                let want = refusal(command, allowed, format);
                let said = run.stderr.trim_end();
                assert!(
                    said == want
                        || (said.starts_with(&want) && said[want.len()..].starts_with(" (")),
                    "{what}: stderr is\n{said}\nwant\n{want}"
                );
                assert_eq!(said.lines().count(), 1, "{what}: {said}");
                assert!(run.stdout.is_empty(), "{what}: {}", run.stdout);
                Snapshot::of(env.tmp.path(), &env.scratch)
                    .assert_same(&before, &format!("after the refused {what}"));
                seen.insert(
                    format!("{} {}", case.args[..2].join(" "), flag(format)),
                    "refused",
                );
                continue;
            }
            assert_eq!(run.code, case.code, "{what}: {run:?}");
            check_prints(&what, command, format, &run.stdout);
            seen.insert(
                format!("{} {}", case.args[..2].join(" "), flag(format)),
                "printed",
            );
        }
    }
    // Every pair was tried: 12 command lines × every format.
    assert_eq!(seen.len(), cases.len() * Format::value_variants().len());
    // What the refused commands would have written was written by the
    // accepted ones: the scaffold exists, promote and resume recorded.
    assert!(env.tmp.path().join("new-platform/registry.json").exists());
    let log = std::fs::read_to_string(env.tmp.path().join("state/rollout.jsonl")).unwrap();
    assert_eq!(log.matches("\"event\":\"promoted\"").count(), 1, "{log}");
    assert_eq!(log.matches("\"event\":\"resumed\"").count(), 1, "{log}");
}

/// `stdout` is `format`: JSON parses (to an object with a `schema`, but
/// for `context`), markdown opens with its heading and has a table, text
/// is not JSON.
#[track_caller]
fn check_prints(what: &str, command: &str, format: Format, stdout: &str) {
    match format {
        Format::Json => {
            let v: Value = serde_json::from_str(stdout)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{stdout}"));
            assert!(v.is_object(), "{what}: {stdout}");
            if command != "context" {
                let schema = v["schema"].as_str().unwrap_or_default();
                assert!(schema.starts_with("distributor."), "{what}: {schema:?}");
            }
        }
        Format::Markdown => {
            let heading = match command {
                "plan" | "apply" => "## distributor plan\n",
                _ => "#",
            };
            assert!(stdout.starts_with(heading), "{what}:\n{stdout}");
            assert!(stdout.contains("\n|---"), "{what}: no table:\n{stdout}");
            assert!(serde_json::from_str::<Value>(stdout).is_err(), "{what}");
        }
        Format::Text => {
            assert!(
                serde_json::from_str::<Value>(stdout).is_err(),
                "{what}: text output is JSON:\n{stdout}"
            );
            // `serve` prints nothing on stdout; everything else something.
            assert_eq!(stdout.is_empty(), command == "serve", "{what}:\n{stdout}");
        }
    }
}

/// Runs `serve` with `args` (plus `--config`, written by [`setup`]) until
/// it listens, then stops it with SIGTERM; a refused format exits at once.
fn run_serve(env: &Env, args: &[String]) -> common::Run {
    let config = env.tmp.path().join("serve.yaml");
    let mut cmd = env.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.arg("--config")
        .arg(&config)
        .env("STATE_DIRECTORY", env.tmp.path().join("state"))
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("serve starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve neither listened nor exited"
        );
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(50))
            && line.contains("listening")
        {
            let killed = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(killed.success());
            break;
        }
    }
    let out = child.wait_with_output().unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: reader.join().unwrap(),
    }
}

/// The table `formats` holds is the one docs/output.md documents. `status`
/// is read from the table itself: helper work on status markdown changes
/// it (docs/output.md says which it prints).
#[test]
fn the_format_table_is_the_documented_one() {
    use Format::*;
    let all = [Text, Json, Markdown];
    let wanted: [(&[&str], &[Format]); 16] = [
        (&["validate"], &[Text]),
        (&["plan"], &all),
        (&["apply", "--dry-run"], &all),
        (&["apply"], &[Text, Json]),
        (&["context", "x"], &[Text, Json]),
        (&["flags"], &all),
        (&["serve"], &[Text]),
        (&["promote", "r", "--wave", "w"], &[Text]),
        (&["resume", "r"], &[Text]),
        (&["rollback", "r", "--reason", "x"], &[Text, Json]),
        (&["rollback", "r", "--reason", "x", "--dry-run"], &all),
        (&["unpin"], &[Text]),
        (&["init", "d"], &[Text]),
        (&["completions", "bash"], &[Text]),
        (&["man"], &[Text]),
        // status: as main has it (text and JSON at least).
        (&["status"], allowed(&["status".to_string()])),
    ];
    for (args, formats) in wanted {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        assert_eq!(allowed(&args), formats, "{args:?}");
    }
    let status = allowed(&["status".to_string()]);
    assert!(status.starts_with(&[Text, Json]), "{status:?}");
}

/// `plan --help` and `apply --help` list each option under its heading:
/// global options, filters, output, GitHub (GitHub-only options there and
/// nothing else), the command's own under "Options".
#[test]
fn help_groups_options_under_their_headings() {
    let env = Env::new();
    let global = [
        "--registry",
        "--templates",
        "--forge",
        "--log-format",
        "--color",
        "--verbose",
        "--state-dir",
    ];
    let github = [
        "--github-token-file",
        "--github-app-id",
        "--github-app-key",
        "--github-installation-id",
        "--github-writes",
        "--github-write-quota",
        "--github-write-spacing",
        "--github-batch-size",
        "--github-max-in-flight",
    ];
    for (command, own) in [
        (
            "plan",
            &["--source-rev", "--strict-flags", "--init", "--help"][..],
        ),
        (
            "apply",
            &[
                "--dry-run",
                "--source-rev",
                "--strict-flags",
                "--force",
                "--reason",
                "--allow-dirty",
                "--audit-log",
                "--init",
                "--help",
            ][..],
        ),
    ] {
        let mut want: BTreeMap<&str, &str> = BTreeMap::new();
        want.extend(global.map(|o| (o, "Global options")));
        want.extend(["--team", "--repo", "--bundle"].map(|o| (o, "Filters")));
        want.extend(
            ["--format", "--quiet", "--detail", "--diff", "--no-diff"].map(|o| (o, "Output")),
        );
        want.extend(github.map(|o| (o, "GitHub")));
        want.extend(own.iter().map(|o| (*o, "Options")));
        let run = env.run_raw(&[command, "--help"]);
        run.expect_code(0);
        let got = headings(&run.stdout);
        let got: BTreeMap<&str, &str> = got.iter().map(|(o, h)| (o.as_str(), h.as_str())).collect();
        assert_eq!(got, want, "`{command} --help`:\n{}", run.stdout);
    }
}

/// Option (its long name) -> the heading it is listed under, read from
/// `--help` output: a heading is a line `Name:` at column 0; an option
/// line starts with `  -x, --long` or `      --long`.
fn headings(help: &str) -> BTreeMap<String, String> {
    let mut heading = String::new();
    let mut out = BTreeMap::new();
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            heading = line.trim_end_matches(':').to_string();
            continue;
        }
        let option = if let Some(rest) = line.strip_prefix("  -") {
            rest.split_once(", ").map(|(_, long)| long)
        } else {
            line.strip_prefix("      --")
                .map(|_| line.trim_start())
                .filter(|_| !line.starts_with("       "))
        };
        if let Some(option) = option {
            let long = option
                .split([' ', '.', '<'])
                .next()
                .unwrap_or_default()
                .to_string();
            assert!(
                out.insert(long.clone(), heading.clone()).is_none(),
                "{long} listed twice"
            );
        }
    }
    out
}

/// `context REPO --format text` is the readable rendering: the repo, its
/// variables, each environment with its flags, the files, and an unknown
/// REPO is named as given (not as a `--repo` filter) with the closest
/// repos; nothing is printed on stdout then.
#[test]
fn context_text_and_unknown_repo() {
    let env = Env::new();
    let run = env.run_raw(&["context", "acme/mango-web", "--format", "text"]);
    run.expect_code(0);
    let out = &run.stdout;
    for want in [
        "repo acme/mango-web\n  repo.bundles: baseline, security\n",
        "\nvars:\n  aws.deploy_role = \"github-deploy\"\n",
        "\nenvironment prd: account 905318274620, region eu-west-1 (Production (PCI scope))\n  vars (the repo's, except):\n    tfvars.instance_type = \"m6i.xlarge\"\n",
        "  flags: audit_logging=true auto_deploy=false cost_alerts=true new_db=false\n",
        "\nfiles (5):\n  .editorconfig                   100644  ",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    // The same repo as JSON carries the same files.
    let json = env.context("acme/mango-web");
    assert_eq!(json["files"].as_array().unwrap().len(), 5);
    // --bundle narrows the files to that bundle's.
    let run = env.run_raw(&["context", "acme/mango-web", "--bundle", "security"]);
    run.expect_code(0);
    assert!(run.stdout.contains("\nfiles (2):\n"), "{}", run.stdout);
    assert!(!run.stdout.contains(".editorconfig"), "{}", run.stdout);

    let run = env.run_raw(&["context", "acme/mango-wbe"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr.trim_end(),
        "error: no repo \"acme/mango-wbe\" in registry.json (the REPO argument of \
         `distributor context`); did you mean acme/mango-web, acme/mango-api? (every repo is \
         listed under teams.<team>.repos in registry.json)"
    );
    assert!(run.stdout.is_empty());
    assert!(!run.stderr.contains("--repo"), "{}", run.stderr);
    // In the registry, but left out by a filter that was given.
    let run = env.run_raw(&["context", "mango-web", "--team", "kiwi"]);
    run.expect_code(1);
    assert_eq!(
        run.stderr.trim_end(),
        "error: repo acme/mango-web is in registry.json but not selected by --team kiwi (the \
         REPO argument of `distributor context` is looked up among the repos the filters select)"
    );
}

/// A forge setting taken from the environment is named with its variable:
/// the error must not blame only an option that was never passed.
#[test]
fn forge_errors_name_the_environment_variable_that_set_them() {
    let env = Env::new();
    let out = env
        .command(&["plan"])
        .env("DISTRIBUTOR_FORGE", "github")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "error: --forge (or DISTRIBUTOR_FORGE): no GitHub credentials: give --github-token-file"
        ),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    // Passed as an option, it is named as the option alone.
    let run = env.run_raw(&["plan", "--forge", "github"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("error: --forge: no GitHub credentials: give --github-token-file"),
        "{}",
        run.stderr
    );
}
