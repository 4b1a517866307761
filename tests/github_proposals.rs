//! Pull requests that survive updates, against the fake GitHub with
//! GitHub's empty-head rule on (a pull request whose head lands on a
//! commit its base contains is closed for good): a fleet of pull requests
//! through three template changes keeps one open pull request per repo,
//! each change one new signed commit on it; a proposal rebuilt on a moved
//! base keeps its pull request; a reviewer's amended proposal commit and a
//! human branch named as the proposal branch are left alone.

mod common;

use std::process::Command;

use fake_github::{Config, FakeGitHub, PullCommit};

use common::{Env, Run};

const TOKEN: &str = "ghp_proposals_test_token_0123456789ab";
const OWNER: &str = "acme";
const SYNC: &str = "distributor/sync";
/// Every repo of the shipped registry, with its default branch.
const SHIPPED: [(&str, &str); 12] = [
    ("apple-auth", "main"),
    ("banana-warehouse", "main"),
    ("grape-pipelines", "main"),
    ("kiwi-app", "main"),
    ("mango-web", "main"),
    ("apple-sso", "main"),
    ("banana-ingest", "main"),
    ("grape-dashboards", "main"),
    ("kiwi-gateway", "main"),
    ("kiwi-notifications", "trunk"),
    ("mango-api", "main"),
    ("mango-infra", "main"),
];

struct Gh {
    env: Env,
    fake: FakeGitHub,
    /// The fleet repos added to the registry (pull-request delivery).
    fleet: Vec<String>,
}

impl Gh {
    /// The shipped registry plus `fleet` pull-request repos of a team of
    /// their own; GitHub's secondary limits lifted (pacing is tested
    /// elsewhere), its empty-head rule on (the default).
    fn new(fleet: usize) -> Gh {
        let env = Env::new();
        let config = Config {
            secondary_limits: vec![(1_000_000, std::time::Duration::from_secs(60))],
            ..Config::default()
        };
        assert!(config.close_empty_pulls, "GitHub's rule is on by default");
        let fake = FakeGitHub::start(config);
        fake.add_token(TOKEN, true);
        let readme = [("README.md", b"# team repo\n".as_slice())];
        for (name, branch) in SHIPPED {
            fake.add_repo(OWNER, name, branch, &readme);
        }
        let fleet: Vec<String> = (0..fleet).map(|i| format!("fleet-{i:03}")).collect();
        for name in &fleet {
            fake.add_repo(OWNER, name, "main", &readme);
        }
        let repos: Vec<serde_json::Value> = fleet
            .iter()
            .map(|n| serde_json::json!({ "name": n }))
            .collect();
        if !repos.is_empty() {
            env.edit_registry(|v| {
                v["teams"]["fleet"] = serde_json::json!({
                    "owners": { "teams": ["acme/fleet-devs"], "users": ["fleet-lead"] },
                    "repos": repos,
                });
            });
        }
        Gh { env, fake, fleet }
    }

    fn run(&self, command: &str, args: &[&str]) -> Run {
        let forge = format!("github:{}", self.fake.url());
        let mut all: Vec<&str> = vec![command, "--forge", &forge];
        all.extend([
            "--github-write-quota",
            "100000/1s",
            "--github-write-spacing",
            "0ms",
        ]);
        all.extend_from_slice(args);
        let out = Command::new(env!("CARGO_BIN_EXE_distributor"))
            .args(&all)
            .current_dir(&self.env.platform)
            .env_remove("DISTRIBUTOR_FORGE")
            .env_remove("DISTRIBUTOR_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .env_remove("DISTRIBUTOR_GITHUB_TOKEN_FILE")
            .env("GITHUB_TOKEN", TOKEN)
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
        let run = self.run("apply", &[]);
        run.expect_code(0);
        run
    }

    fn tip(&self, name: &str, branch: &str) -> Option<String> {
        self.fake.tip(OWNER, name, branch)
    }

    /// The only pull request of `name` (open or not): there must be one.
    fn only_pull(&self, name: &str) -> fake_github::Pull {
        let mut pulls = self.fake.pulls(OWNER, name);
        assert_eq!(pulls.len(), 1, "{name}: exactly one pull request ever");
        pulls.remove(0)
    }

    fn commits(&self, name: &str, number: u64) -> Vec<PullCommit> {
        self.fake.pull_commits(OWNER, name, number)
    }
}

/// Checks that `commits` is a chain of `n` commits on `base`, signed by
/// GitHub from the second on. The first commit of a proposal creates the
/// security bundle's executable script: `createCommitOnBranch` cannot set
/// a mode, so that one commit goes through the Git Data API, unsigned.
fn assert_signed_chain(name: &str, commits: &[PullCommit], base: &str, n: usize) {
    assert_eq!(commits.len(), n, "{name}: {commits:#?}");
    let mut parent = base.to_string();
    for (i, c) in commits.iter().enumerate() {
        assert!(
            i == 0 || c.verified,
            "{name}: commit {} is signed by GitHub",
            c.sha
        );
        assert_eq!(
            c.parents,
            vec![parent.clone()],
            "{name}: stacked on the last"
        );
        assert!(c.message.contains("Distributor-Version:"), "{}", c.message);
        parent = c.sha.clone();
    }
}

/// Three template changes over a fleet of pull requests, each applied:
/// every pull request stays open with its number, and its commit list
/// grows by one signed commit per change, never empty.
fn fleet_keeps_its_pull_requests(n: usize) {
    let gh = Gh::new(n);
    gh.apply();
    let mut numbers = Vec::new();
    for name in &gh.fleet {
        let pull = gh.only_pull(name);
        assert_eq!(pull.state, "open", "{name}");
        let base = gh.tip(name, "main").unwrap();
        assert_signed_chain(name, &gh.commits(name, pull.number), &base, 1);
        numbers.push(pull.number);
    }
    for change in 1..=3 {
        gh.env
            .append_to_template("baseline/CODEOWNERS", &format!("# change {change}\n"));
        let before = gh.fake.counters().content_creating;
        let run = gh.apply();
        for (name, number) in gh.fleet.iter().zip(&numbers) {
            let pull = gh.only_pull(name);
            assert_eq!(
                (pull.number, pull.state.as_str(), pull.merged),
                (*number, "open", false),
                "{name} after change {change}\n{}",
                run.stdout
            );
            let base = gh.tip(name, "main").unwrap();
            let commits = gh.commits(name, pull.number);
            assert_signed_chain(name, &commits, &base, 1 + change);
            let codeowners = gh.fake.file(OWNER, name, SYNC, ".github/CODEOWNERS");
            let codeowners = String::from_utf8(codeowners.unwrap()).unwrap();
            assert!(
                codeowners.ends_with(&format!("# change {change}\n")),
                "{codeowners}"
            );
        }
        // Each repo: one commit, one request (one unit); a pull request
        // whose text does not change costs nothing more.
        let spent = gh.fake.counters().content_creating - before;
        assert!(
            spent <= (gh.fleet.len() + SHIPPED.len()) as u64,
            "{spent} content-creating requests for change {change}"
        );
    }
}

#[test]
fn a_fleet_of_pull_requests_survives_three_template_changes() {
    fleet_keeps_its_pull_requests(20);
}

/// The same at 200 repos (slow: run with `--ignored`).
#[test]
#[ignore]
fn two_hundred_pull_requests_survive_three_template_changes() {
    fleet_keeps_its_pull_requests(200);
}

/// A hand edit of a managed file on the default branch moves the
/// proposal's base: the proposal is rebuilt on the new tip (one signed
/// commit on it) and its pull request stays open with the same number.
#[test]
fn a_proposal_rebuilt_on_a_moved_base_keeps_its_pull_request() {
    let gh = Gh::new(0);
    gh.apply();
    let number = gh.only_pull("mango-api").number;
    gh.fake.push(
        OWNER,
        "mango-api",
        "main",
        &[(".github/dependabot.yml", Some(b"version: 2\n".as_slice()))],
        "Tweak dependabot",
    );
    gh.env
        .append_to_template("baseline/CODEOWNERS", "# rebuilt\n");
    let old = gh.tip("mango-api", SYNC).unwrap();
    gh.run("apply", &["--repo", "mango-api"]).expect_code(0);
    let pull = gh.only_pull("mango-api");
    assert_eq!((pull.number, pull.state.as_str()), (number, "open"));
    let tip = gh.tip("mango-api", SYNC).unwrap();
    assert_ne!(tip, old);
    let base = gh.tip("mango-api", "main").unwrap();
    let commits = gh.commits("mango-api", number);
    assert_signed_chain("mango-api", &commits, &base, 1);
    assert_eq!(commits[0].sha, tip);
    // The short-lived branch is gone.
    let branches = gh.fake.branches(OWNER, "mango-api");
    assert_eq!(branches, ["distributor/sync", "main"], "{branches:?}");
}

/// A reviewer amends distributor's proposal commit (`--amend --no-edit`
/// keeps its message and trailer) and force-pushes: at the next template
/// change the branch is left alone, reported as a human's, and the
/// reviewer's commit stays the head of the open pull request.
#[test]
fn an_amended_proposal_commit_is_the_reviewer_s_and_left_alone() {
    let gh = Gh::new(0);
    gh.apply();
    let number = gh.only_pull("mango-api").number;
    let amended = gh.fake.amend(
        OWNER,
        "mango-api",
        SYNC,
        &[(
            ".github/CODEOWNERS",
            Some(b"* @acme/mango-devs @reviewer\n".as_slice()),
        )],
    );
    let added = gh.fake.amend(
        OWNER,
        "apple-sso",
        SYNC,
        &[("docs/review-notes.md", Some(b"checked\n".as_slice()))],
    );
    gh.env
        .append_to_template("baseline/CODEOWNERS", "# changed upstream\n");

    let plan = gh.run("plan", &[]);
    plan.expect_code(2);
    for name in ["acme/mango-api", "acme/apple-sso"] {
        let line = plan
            .stdout
            .lines()
            .find(|l| l.contains(name) && l.contains("left alone"));
        assert!(
            line.is_some(),
            "{name} reported as a human's:\n{}",
            plan.stdout
        );
    }
    let run = gh.apply();
    assert_eq!(gh.tip("mango-api", SYNC), Some(amended.clone()));
    assert_eq!(gh.tip("apple-sso", SYNC), Some(added));
    assert!(run.stdout.contains("left alone"), "{}", run.stdout);
    let pull = gh.only_pull("mango-api");
    assert_eq!((pull.number, pull.state.as_str()), (number, "open"));
    assert_eq!(
        gh.fake
            .file(OWNER, "mango-api", SYNC, ".github/CODEOWNERS")
            .as_deref(),
        Some(b"* @acme/mango-devs @reviewer\n".as_slice())
    );
    // Other pull requests were updated as usual.
    let sso = gh
        .fake
        .file(OWNER, "grape-dashboards", SYNC, ".github/CODEOWNERS");
    assert!(
        String::from_utf8(sso.unwrap())
            .unwrap()
            .ends_with("# changed upstream\n")
    );
}

/// A `proposal_branch` naming an existing human branch: that branch is a
/// human's by content and is never moved; repos without it get theirs.
#[test]
fn a_human_branch_named_as_the_proposal_branch_is_never_moved() {
    let gh = Gh::new(0);
    gh.env.edit_registry(|v| {
        v["defaults"]["proposal_branch"] = serde_json::json!("release-notes");
    });
    let human = gh.fake.push(
        OWNER,
        "mango-api",
        "release-notes",
        &[("NOTES.md", Some(b"v2 notes\n".as_slice()))],
        "Release notes",
    );
    let run = gh.apply();
    assert_eq!(gh.tip("mango-api", "release-notes"), Some(human.clone()));
    assert!(gh.fake.pulls(OWNER, "mango-api").is_empty());
    assert!(
        run.stdout
            .lines()
            .any(|l| l.contains("acme/mango-api") && l.contains("left alone")),
        "{}",
        run.stdout
    );
    assert!(gh.tip("apple-sso", "release-notes").is_some());
    // And again at the next change.
    gh.env.append_to_template("baseline/CODEOWNERS", "# next\n");
    gh.apply();
    assert_eq!(gh.tip("mango-api", "release-notes"), Some(human));
}
