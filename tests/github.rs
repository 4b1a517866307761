//! `distributor --forge github` end to end against the stateful fake GitHub
//! (`crates/fake-github`, on 127.0.0.1): first rollout direct and as pull
//! requests, a no-op re-run that writes nothing, pull requests updated in
//! place, human commits left alone, pull requests closed once in sync, and
//! every refusal GitHub can answer (workflow scope, branch protection,
//! archived, bad credentials, secondary limits, 502s, a race on the branch
//! tip). Outcomes are checked on the fake's real git objects and pull
//! requests, and on its request counters.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use fake_github::{Config, FakeGitHub};

use common::{Env, Run, targets};

const TOKEN: &str = "ghp_distributor_test_token_0123456789";
const OWNER: &str = "acme";
/// Repos the shipped registry delivers directly.
const DIRECT: [&str; 5] = [
    "apple-auth",
    "banana-warehouse",
    "grape-pipelines",
    "kiwi-app",
    "mango-web",
];
/// Repos the shipped registry delivers through pull requests.
const PR: [&str; 7] = [
    "apple-sso",
    "banana-ingest",
    "grape-dashboards",
    "kiwi-gateway",
    "kiwi-notifications",
    "mango-api",
    "mango-infra",
];
const LOCK: &str = ".github/distributor.lock.json";
const SYNC: &str = "distributor/sync";

/// A platform copy and a fake GitHub holding every repo of the registry,
/// each with a README on its default branch.
struct Gh {
    env: Env,
    fake: FakeGitHub,
}

impl Gh {
    /// GitHub's secondary limits are lifted: these tests run distributor
    /// with fast pacing; the pacing tests set limits of their own.
    fn new() -> Gh {
        Gh::with(unlimited(), true)
    }

    fn with(config: Config, workflow_scope: bool) -> Gh {
        let env = Env::new();
        let fake = FakeGitHub::start(config);
        fake.add_token(TOKEN, workflow_scope);
        for name in DIRECT.iter().chain(PR.iter()) {
            let branch = default_branch(name);
            fake.add_repo(
                OWNER,
                name,
                branch,
                &[("README.md", b"# team repo\n".as_slice())],
            );
        }
        Gh { env, fake }
    }

    /// Runs `distributor <command> --forge github:<fake> <args>` with fast
    /// pacing (tests write a few dozen times; pacing has its own test).
    fn run(&self, command: &str, args: &[&str]) -> Run {
        self.run_with(command, args, TOKEN, true)
    }

    fn run_with(&self, command: &str, args: &[&str], token: &str, fast: bool) -> Run {
        let forge = format!("github:{}", self.fake.url());
        let mut all: Vec<&str> = vec![command, "--forge", &forge];
        if fast {
            all.extend([
                "--github-write-quota",
                "1000/1s",
                "--github-write-spacing",
                "0ms",
            ]);
        }
        all.extend_from_slice(args);
        let out = Command::new(env!("CARGO_BIN_EXE_distributor"))
            .args(&all)
            .current_dir(&self.env.platform)
            .env_remove("DISTRIBUTOR_FORGE")
            .env_remove("DISTRIBUTOR_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .env_remove("DISTRIBUTOR_GITHUB_TOKEN_FILE")
            .env("GITHUB_TOKEN", token)
            .env("NO_COLOR", "1")
            .env("HOME", &self.env.scratch)
            .output()
            .expect("the distributor binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn apply(&self) -> Run {
        self.run("apply", &[])
    }

    fn tip(&self, name: &str, branch: &str) -> Option<String> {
        self.fake.tip(OWNER, name, branch)
    }

    fn open_pulls(&self, name: &str) -> Vec<fake_github::Pull> {
        self.fake
            .pulls(OWNER, name)
            .into_iter()
            .filter(|p| p.state == "open")
            .collect()
    }

    fn file(&self, name: &str, branch: &str, path: &str) -> Option<String> {
        self.fake
            .file(OWNER, name, branch, path)
            .map(|b| String::from_utf8(b).expect("utf-8"))
    }

    /// What distributor renders for `name`: path -> content.
    fn rendered(&self, name: &str) -> Vec<(String, String)> {
        let (all, _) = targets(&self.env);
        let target = all
            .into_iter()
            .find(|t| t.repo.name == name)
            .expect("repo in registry");
        target
            .desired
            .into_iter()
            .map(|d| (d.path, String::from_utf8(d.content).expect("utf-8")))
            .collect()
    }

    fn fsck(&self, name: &str) {
        let dir = self.fake.git_dir(OWNER, name);
        fsck_clean(&dir, &self.env.scratch);
    }

    fn writes(&self) -> u64 {
        self.fake.counters().content_creating
    }
}

/// The team makes by hand, on `main`, exactly the change its pull request
/// proposes (the rendered files, the lock, the executable script).
fn same_change_by_hand(gh: &Gh, name: &str) {
    let same: Vec<(String, Vec<u8>)> = gh
        .rendered(name)
        .into_iter()
        .map(|(p, c)| (p, c.into_bytes()))
        .chain(std::iter::once((
            LOCK.to_string(),
            gh.fake.file(OWNER, name, SYNC, LOCK).unwrap(),
        )))
        .collect();
    let files: Vec<(&str, Option<&[u8]>)> = same
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_slice())))
        .collect();
    gh.fake.push(
        OWNER,
        name,
        "main",
        &files,
        "Apply the platform files by hand",
    );
    gh.fake
        .set_mode(OWNER, name, "main", ".github/scripts/verify-pins.sh", true);
}

fn unlimited() -> Config {
    Config {
        secondary_limits: vec![(100_000, Duration::from_secs(60))],
        ..Config::default()
    }
}

fn default_branch(name: &str) -> &'static str {
    if name == "kiwi-notifications" {
        "trunk"
    } else {
        "main"
    }
}

fn fsck_clean(dir: &Path, home: &Path) {
    let out = common::git_command(dir, home)
        .args(["fsck", "--strict", "--no-dangling"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git fsck of {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn first_rollout_commits_direct_repos_and_opens_one_pull_request_per_pr_repo() {
    let gh = Gh::new();
    let plan = gh.run("plan", &["--no-diff"]);
    plan.expect_code(2);
    assert_eq!(gh.writes(), 0, "plan writes nothing");

    gh.apply().expect_code(0);

    for name in DIRECT {
        let branch = default_branch(name);
        let log = gh.fake.log(OWNER, name, branch);
        assert_eq!(log.len(), 2, "{name}: one distributor commit on the README");
        let message = gh.fake.commit_message(OWNER, name, &log[0]);
        assert!(message.contains("Distributor-Version:"), "{message}");
        for (path, content) in gh.rendered(name) {
            assert_eq!(
                gh.file(name, branch, &path).as_deref(),
                Some(content.as_str()),
                "{name}:{path}"
            );
        }
        assert!(
            gh.file(name, branch, LOCK).is_some(),
            "{name} has its lock file"
        );
        assert!(gh.open_pulls(name).is_empty(), "{name}: no pull request");
        gh.fsck(name);
    }
    // The security bundle's script keeps its executable bit.
    assert_eq!(
        gh.fake
            .file_mode(OWNER, "mango-web", "main", ".github/scripts/verify-pins.sh"),
        Some(0o100755)
    );

    for name in PR {
        let branch = default_branch(name);
        assert_eq!(
            gh.fake.log(OWNER, name, branch).len(),
            1,
            "{name}: default branch untouched"
        );
        let pulls = gh.open_pulls(name);
        assert_eq!(pulls.len(), 1, "{name}: exactly one pull request");
        let pr = &pulls[0];
        assert_eq!(pr.head, SYNC);
        assert_eq!(pr.base, branch);
        assert_eq!(pr.labels, vec!["distributor".to_string()]);
        assert!(pr.body.contains("| missing |"), "{}", pr.body);
        assert!(pr.body.contains("Source revision:"), "{}", pr.body);
        for (path, content) in gh.rendered(name) {
            assert!(
                pr.body.contains(&format!("`{path}`")),
                "{name}: body lists {path}"
            );
            assert_eq!(
                gh.file(name, SYNC, &path).as_deref(),
                Some(content.as_str()),
                "{name}:{path}"
            );
        }
        gh.fsck(name);
    }
    // Reviewers are the team's owners: users by login, teams by slug.
    let mango = &gh.open_pulls("mango-api")[0];
    assert_eq!(
        mango.reviewers,
        vec!["alice-moreau".to_string(), "dpatel".to_string()]
    );
    assert_eq!(mango.team_reviewers, vec!["mango-devs".to_string()]);
    assert_eq!(gh.fake.counters().secondary_refusals, 0);
}

#[test]
fn a_rerun_without_changes_costs_one_query_and_writes_nothing() {
    let gh = Gh::new();
    gh.apply().expect_code(0);
    gh.fake.reset_counters();

    let plan = gh.run("plan", &["--no-diff"]);
    plan.expect_code(0);
    let again = gh.apply();
    again.expect_code(0);
    let c = gh.fake.counters();
    assert_eq!(c.content_creating, 0, "{:?}", c.by_kind);
    // One batched observation query per run for all twelve repos.
    assert_eq!(c.total, 2, "{:?}", c.by_kind);
    assert_eq!(c.by_kind.get("graphql query"), Some(&2), "{:?}", c.by_kind);
}

#[test]
fn a_template_change_updates_the_open_pull_requests_in_place() {
    let gh = Gh::new();
    gh.apply().expect_code(0);
    let before: Vec<(u64, String)> = PR
        .iter()
        .map(|n| (gh.open_pulls(n)[0].number, gh.tip(n, SYNC).unwrap()))
        .collect();
    gh.env
        .append_to_template("baseline/CODEOWNERS", "# reviewed by the platform team\n");
    gh.fake.reset_counters();

    let run = gh.apply();
    run.expect_code(0);

    for (name, (number, old_tip)) in PR.iter().zip(before) {
        let pulls = gh.open_pulls(name);
        assert_eq!(
            pulls.len(),
            1,
            "{name}: still exactly one pull request\n{}",
            run.stdout
        );
        assert_eq!(pulls[0].number, number, "{name}: the same pull request");
        let tip = gh
            .tip(name, SYNC)
            .unwrap_or_else(|| panic!("{name}: no branch\n{}\n{}", run.stdout, run.stderr));
        assert_ne!(tip, old_tip, "{name}: branch moved on");
        assert!(
            gh.file(name, SYNC, ".github/CODEOWNERS")
                .unwrap()
                .ends_with("# reviewed by the platform team\n"),
            "{name}"
        );
        // Stacked on the proposal's commit (the head moved from it to the
        // new one in one push, never through the base).
        let log = gh.fake.log(OWNER, name, SYNC);
        assert_eq!(log.len(), 3, "{name}: one new commit on the proposal's");
        assert_eq!(log[1], old_tip, "{name}");
        gh.fsck(name);
    }
    for name in DIRECT {
        assert_eq!(
            gh.fake.log(OWNER, name, default_branch(name)).len(),
            3,
            "{name}"
        );
    }
    let c = gh.fake.counters();
    // Direct repos: one commit each. PR repos: branch+commit in one
    // request, the body rewritten in another.
    assert!(
        c.content_creating <= (DIRECT.len() + 3 * PR.len()) as u64,
        "{} writes: {:?}",
        c.content_creating,
        c.by_kind
    );
    assert_eq!(
        c.by_kind.get("POST /repos/{owner}/{repo}/pulls"),
        None,
        "no new pull request"
    );
}

#[test]
fn a_human_commit_on_the_pull_request_branch_is_left_alone() {
    let gh = Gh::new();
    gh.apply().expect_code(0);
    let human = gh.fake.push(
        OWNER,
        "mango-api",
        SYNC,
        &[(
            ".github/CODEOWNERS",
            Some(b"* @acme/mango-devs @hannah\n".as_slice()),
        )],
        "Add Hannah as an owner",
    );
    gh.env
        .append_to_template("baseline/CODEOWNERS", "# changed upstream\n");

    let run = gh.apply();
    run.expect_code(0);
    assert_eq!(
        gh.tip("mango-api", SYNC).as_deref(),
        Some(human.as_str()),
        "human commit kept"
    );
    assert_eq!(
        gh.file("mango-api", SYNC, ".github/CODEOWNERS").as_deref(),
        Some("* @acme/mango-devs @hannah\n")
    );
    assert_eq!(gh.open_pulls("mango-api").len(), 1);
    assert!(
        run.stdout.contains("acme/mango-api") && run.stdout.contains("left alone"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_pull_request_is_closed_once_the_repo_is_in_sync() {
    let gh = Gh::new();
    gh.apply().expect_code(0);
    // mango-api: the team merges the pull request.
    let merged = gh.open_pulls("mango-api")[0].number;
    gh.fake.merge_pull(OWNER, "mango-api", merged);
    // apple-sso: the team makes the same change by hand instead.
    let pr = gh.open_pulls("apple-sso")[0].number;
    same_change_by_hand(&gh, "apple-sso");

    let run = gh.apply();
    run.expect_code(0);
    let out = format!("{}\n{}", run.stdout, run.stderr);

    assert!(
        gh.open_pulls("mango-api").is_empty(),
        "merged, nothing new opened"
    );
    assert!(
        !gh.fake
            .branches(OWNER, "mango-api")
            .contains(&SYNC.to_string())
    );
    let closed = gh
        .fake
        .pulls(OWNER, "apple-sso")
        .into_iter()
        .find(|p| p.number == pr)
        .unwrap();
    assert_eq!(closed.state, "closed", "{out}");
    assert!(!closed.merged);
    assert!(
        closed.comments.iter().any(|c| c.contains("in sync")),
        "{:?}",
        closed.comments
    );
    assert!(
        !gh.fake
            .branches(OWNER, "apple-sso")
            .contains(&SYNC.to_string())
    );
    // And the next run is a no-op.
    gh.fake.reset_counters();
    gh.run(
        "plan",
        &["--no-diff", "--repo", "apple-sso", "--repo", "mango-api"],
    )
    .expect_code(0);
}

#[test]
fn a_token_without_workflow_scope_is_told_exactly_that() {
    let gh = Gh::with(unlimited(), false);
    let run = gh.run("apply", &["--repo", "mango-web"]);
    run.expect_code(1);
    assert!(run.stdout.contains("`workflow` scope"), "{}", run.stdout);
    assert!(run.stdout.contains(".github/workflows/"), "{}", run.stdout);
    assert_eq!(
        gh.fake.log(OWNER, "mango-web", "main").len(),
        1,
        "nothing written"
    );
}

#[test]
fn a_protected_default_branch_falls_back_to_a_pull_request() {
    let gh = Gh::new();
    gh.fake.protect_branch(OWNER, "mango-web", "main");
    let run = gh.run("apply", &["--repo", "mango-web"]);
    run.expect_code(0);
    assert_eq!(
        gh.fake.log(OWNER, "mango-web", "main").len(),
        1,
        "no direct commit"
    );
    let pulls = gh.open_pulls("mango-web");
    assert_eq!(pulls.len(), 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("direct commit refused"),
        "{}",
        run.stdout
    );
    assert!(pulls[0].body.contains("refused"), "{}", pulls[0].body);
}

#[test]
fn an_archived_repo_is_skipped_and_reported() {
    let gh = Gh::new();
    gh.fake.archive(OWNER, "kiwi-app");
    let run = gh.apply();
    run.expect_code(1);
    assert!(
        run.stdout.contains("acme/kiwi-app") && run.stdout.contains("archived"),
        "{}",
        run.stdout
    );
    assert_eq!(gh.fake.log(OWNER, "kiwi-app", "main").len(), 1);
    // The others went ahead.
    assert_eq!(gh.fake.log(OWNER, "mango-web", "main").len(), 2);
}

#[test]
fn bad_credentials_are_reported_without_the_token() {
    let gh = Gh::new();
    let bad = "ghp_not_a_real_token_ZYXW";
    let run = gh.run_with("apply", &[], bad, true);
    run.expect_code(1);
    assert!(
        run.stdout.contains("401") || run.stderr.contains("401"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    assert!(run.stdout.contains("credentials"), "{}", run.stdout);
    for out in [&run.stdout, &run.stderr] {
        assert!(
            !out.contains(bad) && !out.contains(TOKEN),
            "no token in output"
        );
    }
    assert_eq!(gh.writes(), 0);
}

#[test]
fn a_secondary_limit_refusal_is_waited_out_and_the_write_retried() {
    let gh = Gh::new();
    gh.fake.refuse_next_writes(1, 1);
    let started = Instant::now();
    let run = gh.run("apply", &["--repo", "mango-web"]);
    run.expect_code(0);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry-after was obeyed"
    );
    let c = gh.fake.counters();
    assert_eq!(c.secondary_refusals, 1);
    // The first rollout sets the executable bit of the security script, so
    // it goes through the Git Data API: tree, commit, ref.
    assert_eq!(c.content_creating, 3, "{:?}", c.by_kind);
    assert_eq!(gh.fake.log(OWNER, "mango-web", "main").len(), 2);
    assert!(
        run.stderr.contains("secondary rate limit"),
        "{}",
        run.stderr
    );
}

#[test]
fn default_pacing_stays_under_the_secondary_limit() {
    // The fake enforces GitHub's limits compressed 100-fold (80 writes per
    // 0.6 s); distributor is paced the same way compressed (60 per 0.6 s,
    // 10 ms apart): no refusal.
    let config = Config {
        secondary_limits: vec![
            (80, Duration::from_millis(600)),
            (500, Duration::from_millis(36_000)),
        ],
        ..Config::default()
    };
    let gh = Gh::with(config, true);
    let run = gh.run_with(
        "apply",
        &[
            "--github-write-quota",
            "60/600ms",
            "--github-write-quota",
            "450/36000ms",
            "--github-write-spacing",
            "10ms",
        ],
        TOKEN,
        false,
    );
    run.expect_code(0);
    assert_eq!(gh.fake.counters().secondary_refusals, 0);
}

#[test]
fn server_errors_are_retried() {
    let gh = Gh::new();
    gh.fake.fail_next(2, 502);
    let run = gh.run("apply", &["--repo", "mango-web"]);
    run.expect_code(0);
    assert_eq!(gh.fake.log(OWNER, "mango-web", "main").len(), 2);
    assert!(run.stderr.contains("server error"), "{}", run.stderr);
}

#[test]
fn an_exhausted_budget_is_waited_for_until_its_reset() {
    let gh = Gh::new();
    gh.fake.set_rate_limit_remaining(0, Duration::from_secs(2));
    let started = Instant::now();
    let run = gh.run("plan", &["--no-diff", "--repo", "mango-web"]);
    run.expect_code(2);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(run.stderr.contains("rate limit"), "{}", run.stderr);
}

#[test]
fn the_rest_write_mode_writes_the_same_files() {
    let gh = Gh::new();
    gh.run("apply", &["--github-writes", "rest"]).expect_code(0);
    for name in DIRECT {
        for (path, content) in gh.rendered(name) {
            assert_eq!(
                gh.file(name, default_branch(name), &path).as_deref(),
                Some(content.as_str())
            );
        }
        gh.fsck(name);
    }
    for name in PR {
        assert_eq!(gh.open_pulls(name).len(), 1);
    }
    gh.fake.reset_counters();
    gh.run("apply", &["--github-writes", "rest"]).expect_code(0);
    assert_eq!(gh.writes(), 0);
}

/// A commit lands on the default branch between plan and apply: the
/// compare-and-swap (expectedHeadOid) refuses, the repo is re-observed and
/// re-planned, and the human commit is kept.
#[test]
fn a_race_on_the_branch_tip_is_replanned_and_loses_nothing() {
    use distributor::forge::github::{Auth, GitHubConfig, GitHubForge, WriteMode};
    let gh = Gh::new();
    let (all, opts) = targets(&gh.env);
    let targets: Vec<_> = all
        .into_iter()
        .filter(|t| t.repo.name == "mango-web")
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // octocrab's client spawns its connection task on the current runtime.
    let _in_runtime = rt.enter();
    let mut settings = distributor::forge::github::ClientSettings::default();
    settings.pacing.spacing = Duration::ZERO;
    let forge = GitHubForge::new(GitHubConfig {
        api_url: gh.fake.url(),
        auth: Auth::Token(TOKEN.to_string().into()),
        write_mode: WriteMode::Graphql,
        batch_size: 50,
        client: settings,
    })
    .unwrap();
    let plan = rt.block_on(distributor::observe::make_plan(&forge, &targets, &opts));
    let human = gh.fake.push(
        OWNER,
        "mango-web",
        "main",
        &[("docs/notes.md", Some(b"notes\n".as_slice()))],
        "Add notes",
    );
    let report = rt.block_on(distributor::apply::apply(
        &forge,
        &targets,
        &plan,
        &opts,
        |_| {},
    ));
    let r = &report.repos[0];
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.replanned);
    let log = gh.fake.log(OWNER, "mango-web", "main");
    assert_eq!(log.len(), 3);
    assert_eq!(
        log[1], human,
        "the distributor commit sits on the human one"
    );
    assert_eq!(
        gh.file("mango-web", "main", "docs/notes.md").as_deref(),
        Some("notes\n")
    );
    gh.fsck("mango-web");
}

/// A GitHub App: the installation token is minted from the App's key, one
/// per run while it is valid, and minted again before it expires.
#[test]
fn a_github_app_mints_its_installation_token_and_refreshes_it_before_expiry() {
    let gh = Gh::new();
    gh.fake.add_app(4242, 77, true);
    let key = common::project_dir().join("tests/data/github-app-test-key.pem");
    let app = |extra: &[&str]| {
        let mut args = vec![
            "--github-app-id",
            "4242",
            "--github-app-key",
            key.to_str().unwrap(),
            "--github-installation-id",
            "77",
        ];
        args.extend_from_slice(extra);
        // No GITHUB_TOKEN: the App's credentials are the only ones.
        gh.run_with("apply", &args, "", true)
    };
    let mint = "POST /app/installations/{installation_id}/access_tokens";
    let run = app(&[]);
    run.expect_code(0);
    let c = gh.fake.counters();
    assert_eq!(c.by_kind.get(mint), Some(&1), "{:?}", c.by_kind);
    assert_eq!(gh.fake.log(OWNER, "mango-web", "main").len(), 2);
    assert_eq!(gh.open_pulls("mango-api").len(), 1);
    assert!(!run.stderr.contains("BEGIN RSA"), "no key material in logs");

    // Tokens that expire within octocrab's 30 s margin are replaced before
    // use: a run never sends an expired token (no 401).
    gh.fake.set_token_lifetime(Duration::from_secs(20));
    gh.env
        .append_to_template("baseline/CODEOWNERS", "# app rotation\n");
    gh.fake.reset_counters();
    app(&[]).expect_code(0);
    let c = gh.fake.counters();
    assert!(
        c.by_kind.get(mint).copied().unwrap_or(0) >= 2,
        "{:?}",
        c.by_kind
    );
}

#[test]
fn an_incomplete_github_app_configuration_is_refused_before_any_request() {
    let gh = Gh::new();
    let run = gh.run_with("plan", &["--github-app-id", "4242"], "", true);
    run.expect_code(1);
    assert!(run.stderr.contains("all three"), "{}", run.stderr);
    assert_eq!(gh.fake.counters().total, 0);
}

#[test]
fn a_repo_missing_on_github_is_reported_and_the_others_proceed() {
    let gh = Gh::new();
    gh.env.edit_registry(|r| {
        r["teams"]["mango"]["repos"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({ "name": "mango-ghost", "delivery": "direct" }));
    });
    let run = gh.apply();
    run.expect_code(1);
    assert!(
        run.stdout.contains("acme/mango-ghost") && run.stdout.contains("not found"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("token cannot see it"), "{}", run.stdout);
    assert_eq!(gh.fake.log(OWNER, "mango-web", "main").len(), 2);
}

#[test]
fn the_token_never_appears_in_any_output_even_with_trace_logs() {
    let gh = Gh::new();
    for args in [
        &["-vv"][..],
        &["-vv", "--format", "json"][..],
        &["-vv", "--log-format", "json"][..],
    ] {
        let run = gh.run("apply", args);
        run.expect_code(0);
        for out in [&run.stdout, &run.stderr] {
            assert!(!out.contains(TOKEN), "token leaked with {args:?}");
            assert!(
                !out.contains("distributor_test_token"),
                "token leaked with {args:?}"
            );
        }
    }
}

/// A busy default branch does not make distributor rewrite its pull
/// requests: unrelated commits leave the proposal mergeable, so a re-run
/// writes nothing; a commit touching a managed path does rebuild it.
#[test]
fn unrelated_commits_on_the_default_branch_do_not_rebuild_the_pull_request() {
    let gh = Gh::new();
    gh.apply().expect_code(0);
    let tip = gh.tip("mango-api", SYNC).unwrap();
    gh.fake.push(
        OWNER,
        "mango-api",
        "main",
        &[("src/app.py", Some(b"print('hi')\n".as_slice()))],
        "Feature work",
    );
    gh.fake.reset_counters();
    gh.run("apply", &["--repo", "mango-api"]).expect_code(0);
    assert_eq!(gh.writes(), 0, "{:?}", gh.fake.counters().by_kind);
    assert_eq!(gh.tip("mango-api", SYNC).as_deref(), Some(tip.as_str()));

    // A hand edit of a managed file on main: the proposal is rebuilt on it.
    gh.fake.push(
        OWNER,
        "mango-api",
        "main",
        &[(".github/dependabot.yml", Some(b"version: 2\n".as_slice()))],
        "Tweak dependabot",
    );
    gh.run("apply", &["--repo", "mango-api"]).expect_code(0);
    let rebuilt = gh.tip("mango-api", SYNC).unwrap();
    assert_ne!(rebuilt, tip);
    assert_eq!(gh.open_pulls("mango-api").len(), 1);
    assert_eq!(
        gh.fake.log(OWNER, "mango-api", SYNC)[1],
        gh.tip("mango-api", "main").unwrap(),
        "rebuilt on the new tip"
    );
}

/// Setting the executable bit needs the Git Data API (three writes), but a
/// content change of a file that is already executable is one
/// createCommitOnBranch, and the bit stays.
#[test]
fn an_executable_file_is_created_with_its_bit_and_updated_in_one_request() {
    let gh = Gh::new();
    gh.run("apply", &["--repo", "mango-web"]).expect_code(0);
    let script = ".github/scripts/verify-pins.sh";
    assert_eq!(
        gh.fake.file_mode(OWNER, "mango-web", "main", script),
        Some(0o100755)
    );
    gh.env
        .append_to_template("security/verify-pins.sh", "# checked weekly\n");
    gh.fake.reset_counters();
    gh.run("apply", &["--repo", "mango-web"]).expect_code(0);
    let c = gh.fake.counters();
    assert_eq!(c.content_creating, 1, "{:?}", c.by_kind);
    assert_eq!(
        c.by_kind.get("graphql mutation"),
        Some(&1),
        "{:?}",
        c.by_kind
    );
    assert_eq!(
        gh.fake.file_mode(OWNER, "mango-web", "main", script),
        Some(0o100755)
    );
    assert!(
        gh.file("mango-web", "main", script)
            .unwrap()
            .ends_with("# checked weekly\n")
    );
}

/// `status` on GitHub: one line per repo, the pull request and its age for
/// repos waiting on review; JSON carries the pull request too.
#[test]
fn status_shows_each_repo_and_its_open_pull_request() {
    let gh = Gh::new();
    let before = gh.run("status", &[]);
    before.expect_code(0);
    assert!(
        before.stdout.contains("acme/mango-api"),
        "{}",
        before.stdout
    );
    gh.apply().expect_code(0);
    gh.fake.reset_counters();
    let text = gh.run("status", &[]);
    text.expect_code(0);
    let line = text
        .stdout
        .lines()
        .find(|l| l.contains("acme/mango-api"))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    let number = gh.open_pulls("mango-api")[0].number;
    assert!(line.contains(&format!("#{number}")), "{}", text.stdout);
    let json = gh.run("status", &["--format", "json"]);
    json.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let repos = v["repos"].as_array().unwrap();
    let api = repos
        .iter()
        .find(|r| r["repo"] == "acme/mango-api")
        .unwrap();
    assert_eq!(api["status"], "proposal_pending", "{api}");
    assert_eq!(api["pull_request"]["number"], number);
    let web = repos
        .iter()
        .find(|r| r["repo"] == "acme/mango-web")
        .unwrap();
    assert_eq!(web["status"], "in_sync");
    assert_eq!(gh.writes(), 0, "status writes nothing");
}

/// A team closing distributor's pull request without merging is a "no":
/// the same proposal is not reopened on the next run; a platform change
/// proposes again, in a new pull request.
#[test]
fn a_pull_request_closed_without_merging_is_not_reopened_until_the_platform_changes() {
    let gh = Gh::new();
    gh.apply().expect_code(0);
    let first = gh.open_pulls("mango-api")[0].number;
    gh.fake.close_pull(OWNER, "mango-api", first);

    gh.fake.reset_counters();
    let run = gh.apply();
    run.expect_code(0);
    assert!(gh.open_pulls("mango-api").is_empty(), "not reopened");
    assert_eq!(gh.writes(), 0, "{:?}", gh.fake.counters().by_kind);
    assert!(
        run.stdout
            .contains(&format!("#{first} was closed without merging")),
        "{}",
        run.stdout
    );

    gh.env
        .append_to_template("baseline/CODEOWNERS", "# a new platform change\n");
    gh.apply().expect_code(0);
    let open = gh.open_pulls("mango-api");
    assert_eq!(open.len(), 1, "proposed again");
    assert_ne!(open[0].number, first);
}

/// Registry pull request options: drafts, no review requests, auto-merge
/// where the repository allows it and a warning (not a failure) where not.
#[test]
fn pull_request_options_draft_and_auto_merge_where_allowed() {
    let gh = Gh::new();
    gh.env.edit_registry(|r| {
        r["defaults"]["pull_request"] = serde_json::json!({
            "labels": ["platform", "distributor"],
            "draft": true,
            "auto_merge": true,
            "request_reviews": false
        });
    });
    gh.fake.set_allow_auto_merge(OWNER, "mango-api", true);
    let run = gh.run("apply", &["--repo", "mango-api", "--repo", "apple-sso"]);
    run.expect_code(0);
    let api = &gh.open_pulls("mango-api")[0];
    assert!(api.draft && api.auto_merge, "{api:?}");
    assert_eq!(
        api.labels,
        vec!["platform".to_string(), "distributor".to_string()]
    );
    assert!(api.reviewers.is_empty() && api.team_reviewers.is_empty());
    let sso = &gh.open_pulls("apple-sso")[0];
    assert!(sso.draft && !sso.auto_merge, "{sso:?}");
    assert!(
        run.stdout.contains("acme/apple-sso") && run.stdout.contains("auto-merge not enabled"),
        "{}",
        run.stdout
    );
}

/// `plan --format json` names each repo's pull request action, and `apply`
/// on the same fake GitHub state performs exactly those actions: open,
/// update, keep, comment and close, leave a closed one closed, leave a
/// human's alone, nothing.
#[test]
fn apply_performs_exactly_the_pull_request_actions_the_plan_printed() {
    let gh = Gh::new();
    gh.apply().expect_code(0);
    // mango-api: the team merged it; nothing is left to propose.
    let merged = gh.open_pulls("mango-api")[0].number;
    gh.fake.merge_pull(OWNER, "mango-api", merged);
    // mango-infra: closed without merging; not reopened.
    let closed = gh.open_pulls("mango-infra")[0].number;
    gh.fake.close_pull(OWNER, "mango-infra", closed);
    // kiwi-gateway: a human pushed to the proposal branch.
    gh.fake.push(
        OWNER,
        "kiwi-gateway",
        SYNC,
        &[("NOTES.md", Some(b"my fix\n".as_slice()))],
        "A reviewer's fix",
    );
    // apple-sso: the team made the same change by hand: close.
    same_change_by_hand(&gh, "apple-sso");
    // banana-ingest: a managed file made by hand on the default branch:
    // the proposal now overwrites a hand edit, so its description changes.
    gh.fake.push(
        OWNER,
        "banana-ingest",
        "main",
        &[(".github/CODEOWNERS", Some(b"* @someone\n".as_slice()))],
        "Our own owners",
    );
    // mango-web (direct delivery): a hand edit is proposed for review.
    gh.fake.push(
        OWNER,
        "mango-web",
        "main",
        &[(".github/CODEOWNERS", Some(b"* @hand-edited\n".as_slice()))],
        "Hand edit",
    );

    let plan = gh.run("plan", &["--format", "json", "--no-diff"]);
    plan.expect_code(2);
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let planned: std::collections::BTreeMap<String, String> = doc["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["repo"]["name"].as_str().unwrap().to_string(),
                r["pull_request_action"]["action"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let expect = [
        ("mango-web", "open"),
        ("banana-ingest", "update"),
        ("grape-dashboards", "keep"),
        ("apple-sso", "close"),
        ("mango-infra", "leave_closed"),
        ("kiwi-gateway", "leave_alone"),
        ("mango-api", "none"),
        ("apple-auth", "none"),
    ];
    for (repo, action) in expect {
        assert_eq!(planned[repo], action, "{repo}: {}", plan.stdout);
    }
    let open = &doc["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"]["name"] == "mango-web")
        .unwrap()["pull_request_action"];
    assert!(open["title"].as_str().unwrap().starts_with("distributor:"));
    assert_eq!(open["labels"], serde_json::json!(["distributor"]));

    gh.fake.reset_counters();
    let applied = gh.run("apply", &["--format", "json"]);
    applied.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&applied.stdout).unwrap();
    let done: std::collections::BTreeMap<String, String> = doc["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = r["repo"]["name"].as_str().unwrap().to_string();
            let action = r["pull_request"]["action"].as_str().unwrap_or("none");
            (name, action.to_string())
        })
        .collect();
    let outcome = |action: &str| match action {
        "open" => "opened",
        "update" => "updated",
        "keep" => "unchanged",
        "close" => "closed",
        "leave_closed" | "leave_alone" => "left_alone",
        _ => "none",
    };
    assert_eq!(planned.len(), 12);
    for (repo, action) in &planned {
        assert_eq!(done[repo], outcome(action), "{repo}: {}", applied.stdout);
    }
    let c = gh.fake.counters();
    assert_eq!(
        c.by_kind.get("POST /repos/{owner}/{repo}/pulls"),
        Some(&1),
        "one pull request opened: {:?}",
        c.by_kind
    );
    assert_eq!(gh.open_pulls("mango-web").len(), 1);
    assert!(gh.open_pulls("apple-sso").is_empty());
    assert!(gh.open_pulls("mango-infra").is_empty(), "not reopened");
    assert_eq!(gh.open_pulls("kiwi-gateway").len(), 1);
    assert_eq!(gh.open_pulls("banana-ingest").len(), 1);
}

/// Every kind of request the binary sends (the App token exchange, GraphQL
/// queries and mutations, REST reads and writes of both write modes)
/// carries each header once, as the fake's header log shows; the fake
/// refuses a repeated single-valued header with 400, so nothing was
/// refused either.
#[test]
fn every_request_the_binary_sends_carries_each_header_once() {
    let gh = Gh::new();
    gh.fake.add_app(4242, 77, true);
    let key = common::project_dir().join("tests/data/github-app-test-key.pem");
    let args = [
        "--github-app-id",
        "4242",
        "--github-app-key",
        key.to_str().unwrap(),
        "--github-installation-id",
        "77",
    ];
    gh.run_with("apply", &args, "", true).expect_code(0);
    gh.env
        .append_to_template("baseline/CODEOWNERS", "# headers\n");
    gh.run("apply", &["--github-writes", "rest"]).expect_code(0);
    assert_eq!(gh.fake.counters().duplicate_header_refusals, 0);
    let log = gh.fake.request_headers();
    let kinds: std::collections::BTreeSet<&str> = log.iter().map(|r| r.kind.as_str()).collect();
    for needed in [
        "POST /app/installations/{installation_id}/access_tokens",
        "graphql query",
        "graphql mutation",
        "POST /repos/{owner}/{repo}/pulls",
        "POST /repos/{owner}/{repo}/git/trees",
        "PATCH /repos/{owner}/{repo}/git/refs/heads/{branch}",
    ] {
        assert!(kinds.contains(needed), "no {needed} in {kinds:?}");
    }
    for r in &log {
        for name in &r.names {
            let n = r.names.iter().filter(|m| *m == name).count();
            assert_eq!(n, 1, "{}: `{name}` {n} times: {:?}", r.kind, r.names);
        }
        assert!(r.names.iter().any(|n| n == "user-agent"), "{r:?}");
    }
}
