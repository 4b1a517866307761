//! Exactly-once outcomes after ambiguous failures: the real binary against
//! the fake GitHub answering a seeded 10% of writes (GraphQL mutations and
//! REST POST/PATCH/PUT/DELETE) 502 *after* applying them, and 3% before.
//! Every landed commit is reported with its id and recorded in
//! `rollout.jsonl`; nothing is duplicated (one distributor commit per
//! repo, one pull request, labels and reviewers once); a failed check on
//! one of those commits halts the revision (exit 3). Direct and pull
//! request runs, through GraphQL and through the REST Git Data API.
//!
//! 40 repos each (the four took 48 s together on a loaded 2-core
//! machine); the 200-repo variants are `#[ignore]`d for CI time (measured
//! there: direct 17 s GraphQL / 69 s REST, PR 54 s / 92 s).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fake_github::{AmbiguousWrites, Config, FakeGitHub};
use serde_json::{Value, json};

use common::Run;

const TOKEN: &str = "ghp_ambiguous_test_token_0123456789";
const OWNER: &str = "acme";
const CI: &str = ".github/ci.yml";
const TEMPLATE: &str = "name: ci\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: make test\n";

struct World {
    tmp: tempfile::TempDir,
    platform: PathBuf,
    state: PathBuf,
    fake: FakeGitHub,
    names: Vec<String>,
    t0: i64,
}

impl World {
    /// `count` repos of `delivery` in wave `canary` (soaking), one more
    /// (`later`) in the default wave, so a failed check can halt.
    fn new(count: usize, delivery: &str, seed: u64) -> World {
        let tmp = tempfile::Builder::new()
            .prefix("distributor-ambiguous-")
            .tempdir()
            .unwrap();
        let platform = tmp.path().join("platform");
        std::fs::create_dir_all(platform.join("templates/base")).unwrap();
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        let fake = FakeGitHub::start(Config {
            secondary_limits: vec![(100_000, Duration::from_secs(60))],
            ..Config::default()
        });
        fake.add_token(TOKEN, true);
        let names: Vec<String> = (0..count).map(|i| format!("svc-{i:03}")).collect();
        let mut list = Vec::new();
        for name in names.iter().map(String::as_str).chain(["later"]) {
            fake.add_repo(
                OWNER,
                name,
                "main",
                &[("README.md", b"# repo\n".as_slice())],
            );
            let wave = if name == "later" { "default" } else { "canary" };
            list.push(json!({"name": name, "wave": wave}));
        }
        let registry = json!({
            "version": 1,
            "stages": ["dev"],
            "defaults": {"owner": OWNER, "bundles": ["base"], "delivery": delivery},
            "teams": {"payments": {"owners": {"users": ["alice"]}, "repos": list}},
            "waves": [{"name": "canary", "soak": "1h"}, {"name": "default"}]
        });
        std::fs::write(
            platform.join("registry.json"),
            serde_json::to_string_pretty(&registry).unwrap(),
        )
        .unwrap();
        std::fs::write(
            platform.join("templates/base/bundle.yaml"),
            "files:\n  - template: ci.yml\n    path: .github/ci.yml\n",
        )
        .unwrap();
        std::fs::write(platform.join("templates/base/ci.yml"), TEMPLATE).unwrap();
        let w = World {
            state: tmp.path().join("state"),
            tmp,
            platform,
            fake,
            names,
            t0: distributor::time::now(),
        };
        w.git(&["init", "-q", "-b", "main"]);
        w.git(&["add", "-A"]);
        w.git(&["commit", "-q", "-m", "platform: first"]);
        w.fake.set_ambiguous_writes(AmbiguousWrites {
            after: 0.10,
            before: 0.03,
            seed,
        });
        w
    }

    fn git(&self, args: &[&str]) -> String {
        let out = common::git_command(&self.platform, &self.tmp.path().join("home"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn run(&self, offset: i64, command: &str, args: &[&str]) -> Run {
        let forge = format!("github:{}", self.fake.url());
        let state = self.state.display().to_string();
        let mut all: Vec<&str> = vec![
            command,
            "--forge",
            &forge,
            "--state-dir",
            &state,
            "--github-write-quota",
            "100000/1s",
            "--github-write-spacing",
            "0ms",
        ];
        all.extend_from_slice(args);
        let out = Command::new(env!("CARGO_BIN_EXE_distributor"))
            .args(&all)
            .current_dir(&self.platform)
            .env_remove("DISTRIBUTOR_FORGE")
            .env_remove("DISTRIBUTOR_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .env_remove("DISTRIBUTOR_STATE_DIR")
            .env_remove("DISTRIBUTOR_AUDIT_LOG")
            .env(
                "DISTRIBUTOR_NOW",
                distributor::time::rfc3339(self.t0 + offset),
            )
            .env("GITHUB_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .env("HOME", self.tmp.path().join("home"))
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The commits of `rollout.jsonl`'s events.
    fn recorded_commits(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.state.join("rollout.jsonl")).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter_map(|e| {
                e.get("commit")
                    .or_else(|| e.get("head"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect()
    }

    fn fsck(&self, name: &str) {
        let out = common::git_command(
            &self.fake.git_dir(OWNER, name),
            &self.tmp.path().join("home"),
        )
        .args(["fsck", "--strict", "--no-dangling"])
        .output()
        .unwrap();
        assert!(out.status.success(), "fsck {name}");
    }

    /// Applies with JSON output; returns each canary repo's report, and how
    /// many lost answers the run's usage line says were found landed.
    fn apply(&self, extra: &[&str]) -> (Vec<(String, Value)>, u64) {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        let run = self.run(0, "apply", &args);
        run.expect_code(0);
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let repos = doc["repos"].as_array().unwrap();
        let usage = run
            .stderr
            .lines()
            .find(|l| l.contains("GitHub API usage"))
            .unwrap_or_else(|| panic!("no usage line: {}", run.stderr));
        let landed = usage
            .split("ambiguous=")
            .nth(1)
            .and_then(|a| a.split("landed ").nth(1))
            .and_then(|n| n.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let reports = self
            .names
            .iter()
            .map(|name| {
                let r = repos
                    .iter()
                    .find(|r| r["repo"]["name"] == name.as_str())
                    .unwrap_or_else(|| panic!("{name} in {}", run.stdout));
                assert!(r.get("error").is_none_or(Value::is_null), "{name}: {r}");
                (name.clone(), r.clone())
            })
            .collect();
        (reports, landed)
    }

    /// A failed check on `sha` of `name` halts the revision.
    fn expect_halt_on(&self, name: &str, sha: &str) {
        self.fake.set_check_state(OWNER, name, sha, Some("FAILURE"));
        let plan = self.run(60, "plan", &["--no-diff"]);
        plan.expect_code(3);
    }
}

fn direct_run(count: usize, extra: &[&str], seed: u64) {
    let w = World::new(count, "direct", seed);
    let started = std::time::Instant::now();
    let (reports, landed) = w.apply(extra);
    eprintln!("{count} direct repos {extra:?}: {:?}", started.elapsed());
    let c = w.fake.counters();
    assert!(c.ambiguous_after_apply > 0, "{c:?}");
    // Lost answers of writes that had landed are counted (usage line,
    // /metrics), each at most once.
    assert!(
        (1..=c.ambiguous_after_apply).contains(&landed),
        "{landed} landed of {c:?}"
    );
    let recorded = w.recorded_commits();
    for (name, r) in &reports {
        let tip = w.fake.tip(OWNER, name, "main").unwrap();
        assert_eq!(r["commit"], tip.as_str(), "{name}: {r}");
        assert_eq!(r["files_changed"], 1, "{name}: {r}");
        assert!(
            recorded.contains(&tip),
            "{name}: {tip} not in rollout.jsonl"
        );
        let log = w.fake.log(OWNER, name, "main");
        assert_eq!(log.len(), 2, "{name}: one distributor commit: {log:?}");
        assert_eq!(
            w.fake.file(OWNER, name, "main", CI).as_deref(),
            Some(TEMPLATE.as_bytes())
        );
        w.fsck(name);
    }
    let name = &reports[count / 2].0;
    let tip = w.fake.tip(OWNER, name, "main").unwrap();
    w.expect_halt_on(name, &tip);
}

fn pr_run(count: usize, extra: &[&str], seed: u64) {
    let w = World::new(count, "pr", seed);
    let started = std::time::Instant::now();
    let (reports, _) = w.apply(extra);
    eprintln!("{count} PR repos {extra:?}: {:?}", started.elapsed());
    let c = w.fake.counters();
    assert!(c.ambiguous_after_apply > 0, "{c:?}");
    for (name, r) in &reports {
        assert_eq!(r["pull_request"]["action"], "opened", "{name}: {r}");
        let pulls = w.fake.pulls(OWNER, name);
        assert_eq!(pulls.len(), 1, "{name}: one pull request: {pulls:?}");
        let pull = &pulls[0];
        assert_eq!(pull.state, "open");
        assert_eq!(pull.labels, vec!["distributor".to_string()], "{name}");
        assert_eq!(pull.reviewers, vec!["alice".to_string()], "{name}");
        assert!(pull.comments.is_empty(), "{name}: {:?}", pull.comments);
        let commits = w.fake.pull_commits(OWNER, name, pull.number);
        assert_eq!(commits.len(), 1, "{name}: one commit: {commits:?}");
        assert_eq!(w.fake.log(OWNER, name, "main").len(), 1, "{name}");
        w.fsck(name);
    }
    let name = &reports[count / 2].0;
    let pull = w.fake.pulls(OWNER, name).remove(0);
    let head = w.fake.tip(OWNER, name, &pull.head).unwrap();
    w.expect_halt_on(name, &head);
}

#[test]
fn direct_commits_through_graphql_land_exactly_once_after_ambiguous_502s() {
    direct_run(40, &[], 11);
}

#[test]
fn direct_commits_through_rest_land_exactly_once_after_ambiguous_502s() {
    direct_run(40, &["--github-writes", "rest"], 12);
}

#[test]
fn pull_requests_open_exactly_once_after_ambiguous_502s() {
    pr_run(40, &[], 13);
}

#[test]
fn pull_requests_through_rest_open_exactly_once_after_ambiguous_502s() {
    pr_run(40, &["--github-writes", "rest"], 14);
}

#[test]
#[ignore = "200 repos: run with --ignored"]
fn two_hundred_repos_direct_and_pr_in_both_write_modes() {
    direct_run(200, &[], 21);
    direct_run(200, &["--github-writes", "rest"], 22);
    pr_run(200, &[], 23);
    pr_run(200, &["--github-writes", "rest"], 24);
}

/// Opening, commenting and closing through the forge with 40% of all
/// writes answered 502 after applying: one pull request per repo, each
/// comment once (found again by its hidden marker), labels and reviewers
/// once, every pull request closed.
#[test]
fn pull_request_creation_and_comments_are_not_doubled() {
    use distributor::forge::github::limits::Pacing;
    use distributor::forge::github::{Auth, ClientSettings, GitHubConfig, GitHubForge, WriteMode};
    use distributor::forge::{Forge, PullRequest, PullRequestSpec, RepoId};

    let fake = FakeGitHub::start(Config::default());
    fake.add_token(TOKEN, true);
    let names: Vec<String> = (0..8).map(|i| format!("pr-{i:02}")).collect();
    for name in &names {
        fake.add_repo(
            OWNER,
            name,
            "main",
            &[("README.md", b"# repo\n".as_slice())],
        );
        fake.push(
            OWNER,
            name,
            "distributor/sync",
            &[(CI, Some(TEMPLATE.as_bytes()))],
            "sync",
        );
    }
    fake.set_ambiguous_writes(AmbiguousWrites {
        after: 0.4,
        before: 0.0,
        seed: 7,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let forge = GitHubForge::new(GitHubConfig {
            api_url: fake.url(),
            auth: Auth::Token(TOKEN.to_string().into()),
            write_mode: WriteMode::Graphql,
            batch_size: 50,
            client: ClientSettings {
                pacing: Pacing {
                    quotas: Vec::new(),
                    spacing: Duration::ZERO,
                },
                ..ClientSettings::default()
            },
        })
        .unwrap();
        for name in &names {
            let repo = RepoId {
                owner: OWNER.into(),
                name: name.clone(),
            };
            let spec = PullRequestSpec {
                repo: repo.clone(),
                head: "distributor/sync".into(),
                base: "main".into(),
                title: "distributor: sync".into(),
                body: "body".into(),
                labels: vec!["distributor".into()],
                reviewers: vec!["alice".into()],
                team_reviewers: Vec::new(),
                draft: false,
                auto_merge: false,
            };
            let opened = forge.open_pull_request(&spec).await.unwrap();
            let pull = PullRequest {
                number: opened.number,
                url: opened.url,
                node_id: String::new(),
                title: spec.title.clone(),
                body: spec.body.clone(),
                created_at: String::new(),
                labels: Vec::new(),
                draft: false,
            };
            forge
                .comment_pull_request(&repo, &pull, "stale: please review", &["stale".into()])
                .await
                .unwrap();
            forge
                .close_pull_request(&repo, &pull, "superseded")
                .await
                .unwrap();
        }
    });
    let c = fake.counters();
    assert!(c.ambiguous_after_apply >= 8, "{c:?}");
    for name in &names {
        let pulls = fake.pulls(OWNER, name);
        assert_eq!(pulls.len(), 1, "{name}: {pulls:?}");
        let pull = &pulls[0];
        assert_eq!(pull.state, "closed", "{name}");
        assert_eq!(pull.labels, ["distributor", "stale"], "{name}");
        assert_eq!(pull.reviewers, ["alice"], "{name}");
        assert_eq!(pull.comments.len(), 2, "{name}: {:?}", pull.comments);
        assert!(pull.comments[0].starts_with("stale: please review\n\n<!-- distributor:comment:"));
        assert!(pull.comments[1].starts_with("superseded\n\n<!-- distributor:comment:"));
    }
}
