//! The GitHub forge against GitHub's limits as the fake models them:
//! secondary limits counted in content-creating units (each top-level
//! mutation field, each mutating REST request) at GitHub's real 80/min and
//! 500/h with time compressed on both sides, and GraphQL queries GitHub
//! cannot answer (over a node budget, past the timeout), which observation
//! splits. Drives `GitHubForge` directly: a fleet of 300 repos through the
//! binary would spend the test's time on rendering, not on GitHub.

use std::time::Duration;

use distributor::blob::{FileMode, ObjectId};
use distributor::forge::github::limits::{Pacing, WriteQuota};
use distributor::forge::github::{Auth, ClientSettings, GitHubConfig, GitHubForge, WriteMode};
use distributor::forge::{
    CommitRequest, FileWrite, Forge, PullRequestSpec, RepoId, RepoQuery, Signature,
};
use fake_github::{Config, FakeGitHub};
use futures_util::future::join_all;

const TOKEN: &str = "ghp_limits_test_token_0123456789";
const OWNER: &str = "acme";
const SYNC: &str = "distributor/sync";
const PATHS: [&str; 4] = [
    ".github/CODEOWNERS",
    ".editorconfig",
    ".github/workflows/ci.yml",
    "docs/platform.md",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `pacing` with every period and the spacing divided by `k`.
fn compressed(pacing: Pacing, k: u32) -> Pacing {
    Pacing {
        quotas: pacing
            .quotas
            .iter()
            .map(|q| WriteQuota {
                count: q.count,
                period: q.period / k,
            })
            .collect(),
        spacing: pacing.spacing / k,
    }
}

fn forge(fake: &FakeGitHub, batch_size: usize, pacing: Pacing) -> GitHubForge {
    GitHubForge::new(GitHubConfig {
        api_url: fake.url(),
        auth: Auth::Token(TOKEN.to_string().into()),
        write_mode: WriteMode::Graphql,
        batch_size,
        client: ClientSettings {
            pacing,
            ..ClientSettings::default()
        },
    })
    .unwrap()
}

fn unpaced() -> Pacing {
    Pacing {
        quotas: Vec::new(),
        spacing: Duration::ZERO,
    }
}

/// `n` repos with a README on `main`.
fn fleet(fake: &FakeGitHub, n: usize) -> Vec<RepoId> {
    fake.add_token(TOKEN, true);
    (0..n)
        .map(|i| {
            let name = format!("svc-{i:04}");
            fake.add_repo(
                OWNER,
                &name,
                "main",
                &[("README.md", b"# svc\n".as_slice())],
            );
            RepoId::new(OWNER, &name)
        })
        .collect()
}

fn query(repo: &RepoId) -> RepoQuery {
    RepoQuery {
        repo: repo.clone(),
        branch: None,
        paths: PATHS.iter().map(|p| p.to_string()).collect(),
        lock_path: ".github/distributor.lock.json".into(),
        proposal_branch: SYNC.into(),
    }
}

fn proposal(repo: &RepoId, parent: ObjectId, expected: Option<ObjectId>, n: u32) -> CommitRequest {
    CommitRequest {
        repo: repo.clone(),
        branch: SYNC.into(),
        parent: Some(parent),
        expected_tip: expected,
        files: vec![FileWrite {
            path: ".editorconfig".into(),
            content: Some(format!("root = true # {n}\n").into_bytes()),
            mode: FileMode::Regular,
            mode_unchanged: false,
        }],
        message: format!("platform sync {n}\n\nDistributor-Version: 0\n"),
        author: Signature {
            name: "distributor".into(),
            email: "distributor@example.com".into(),
        },
    }
}

/// At GitHub's real limits (80 units a minute, 500 an hour, counted per
/// mutation field) and distributor's default pacing, both compressed
/// 1000-fold: opening 300 pull requests (branch and commit in one
/// document: 2 units, the pull request, its labels and its reviewers: 1
/// each) and then updating all 300 meet no secondary-limit refusal, and
/// the units distributor counted are the units the fake counted.
#[test]
fn three_hundred_pull_requests_opened_then_updated_meet_no_secondary_limit() {
    const K: u32 = 1000;
    let fake = FakeGitHub::start(Config {
        secondary_limits: vec![
            (80, Duration::from_secs(60) / K),
            (500, Duration::from_secs(3600) / K),
        ],
        ..Config::default()
    });
    let repos = fleet(&fake, 300);
    runtime().block_on(async {
        let gh = forge(&fake, 50, compressed(Pacing::default(), K));
        let queries: Vec<RepoQuery> = repos.iter().map(query).collect();
        let tips: Vec<ObjectId> = gh
            .observe(&queries)
            .await
            .into_iter()
            .map(|o| o.unwrap().default_branch.tip.unwrap())
            .collect();
        // Opening.
        let opened = join_all(repos.iter().zip(&tips).map(|(repo, tip)| async {
            let head = gh.commit(&proposal(repo, *tip, None, 1)).await.unwrap();
            let pr = gh
                .open_pull_request(&PullRequestSpec {
                    repo: repo.clone(),
                    head: SYNC.into(),
                    base: "main".into(),
                    title: "Platform sync".into(),
                    body: "From the platform.".into(),
                    labels: vec!["distributor".into()],
                    reviewers: vec!["lead".into()],
                    team_reviewers: Vec::new(),
                    draft: false,
                    auto_merge: false,
                })
                .await
                .unwrap();
            (head, pr.number)
        }))
        .await;
        let c = fake.counters();
        assert_eq!(c.secondary_refusals, 0, "{:?}", c.by_kind);
        assert_eq!(c.content_units, 300 * 5, "{:?}", c.by_kind);
        assert_eq!(gh.usage().unwrap().write_units, c.content_units);
        // Updating: every proposal rebuilt on the default branch.
        fake.reset_counters();
        let updated = join_all(repos.iter().zip(&tips).zip(&opened).map(
            |((repo, tip), (head, _))| async {
                gh.commit(&proposal(repo, *tip, Some(*head), 2))
                    .await
                    .unwrap()
            },
        ))
        .await;
        let c = fake.counters();
        assert_eq!(c.secondary_refusals, 0, "{:?}", c.by_kind);
        assert!(c.content_units >= 300, "{:?}", c.by_kind);
        for ((repo, (_, number)), head) in repos.iter().zip(&opened).zip(&updated) {
            let pulls = fake.pulls(OWNER, &repo.name);
            assert_eq!(pulls.len(), 1, "{repo}");
            assert_eq!(pulls[0].number, *number);
            assert_eq!(
                fake.tip(OWNER, &repo.name, SYNC),
                Some(head.to_string()),
                "{repo}"
            );
        }
    });
}

/// Observes `repos` with a fresh forge of batch size 50; returns what the
/// fake counted and the forge's batch report.
fn observe_all(
    fake: &FakeGitHub,
    repos: &[RepoId],
) -> (
    Vec<Result<distributor::forge::RepoObservation, distributor::forge::ForgeError>>,
    fake_github::Counters,
    distributor::forge::BatchUsage,
) {
    fake.reset_counters();
    runtime().block_on(async {
        // One query in flight: batches are answered in the order they are
        // sent, so the size the adaptive batching ends at is deterministic
        // (concurrent answers can reset its growth streak in any order).
        let gh = GitHubForge::new(GitHubConfig {
            api_url: fake.url(),
            auth: Auth::Token(TOKEN.to_string().into()),
            write_mode: WriteMode::Graphql,
            batch_size: 50,
            client: ClientSettings {
                pacing: unpaced(),
                max_in_flight: 1,
                ..ClientSettings::default()
            },
        })
        .unwrap();
        let queries: Vec<RepoQuery> = repos.iter().map(query).collect();
        let results = gh.observe(&queries).await;
        (
            results,
            fake.counters(),
            gh.usage().unwrap().observe_batches,
        )
    })
}

/// Nodes GitHub would count for one observation query of 50 repos.
fn nodes_of_fifty(fake: &FakeGitHub, repos: &[RepoId]) -> u64 {
    let (results, c, batches) = observe_all(fake, &repos[..50]);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(batches.splits, 0);
    c.max_query_nodes
}

/// With a node budget that refuses a 50-repo query, observation splits the
/// refused batches in halves, observes every repo, reports the sizes it
/// used, and grows the size back slowly from the size that worked. Without a
/// budget the same 120 repos take 3 queries.
#[test]
fn batches_over_the_node_budget_are_split_and_the_sizes_reported() {
    let fake = FakeGitHub::start(Config::default());
    let repos = fleet(&fake, 120);
    let (results, c, _) = observe_all(&fake, &repos);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(c.total, 3, "{:?}", c.by_kind);

    let fifty = nodes_of_fifty(&fake, &repos);
    fake.set_graphql_budgets(Some(fifty * 3 / 5), None);
    let (results, c, batches) = observe_all(&fake, &repos);
    for (r, repo) in results.iter().zip(&repos) {
        let o = r.as_ref().unwrap_or_else(|e| panic!("{repo}: {e}"));
        assert!(o.default_branch.tip.is_some());
    }
    // 50, 50 refused; 25 × 4 and the 20 answered.
    assert_eq!(c.resource_limit_refusals, 2);
    assert_eq!(c.total, 7, "{:?}", c.by_kind);
    assert_eq!(batches.splits, 2);
    assert_eq!(batches.answered, [(20, 1), (25, 4)].into_iter().collect());
    // Four batches answered at 25: the size grows back by a quarter.
    assert_eq!(batches.current, 31);
}

/// Queries slow enough to pass GitHub's timeout answer 502 "Something went
/// wrong"; they are split instead of retried whole. A repository too big
/// even alone fails alone, named, and the others are observed.
#[test]
fn batches_past_the_timeout_are_split_and_a_repo_too_big_alone_fails_alone() {
    let fake = FakeGitHub::start(Config::default());
    let repos = fleet(&fake, 60);
    let fifty = nodes_of_fifty(&fake, &repos);
    // A 50-repo query takes 1.2 s against a 0.6 s timeout; 25 repos 0.6 s
    // less a little, 30 repos too long.
    let timeout = Duration::from_millis(600);
    let per_node = Duration::from_secs_f64(1.2 / fifty as f64);
    fake.set_graphql_latency(per_node, timeout);
    let (results, c, batches) = observe_all(&fake, &repos);
    assert!(results.iter().all(Result::is_ok));
    assert!(c.graphql_timeouts >= 1, "{c:?}");
    assert!(batches.splits >= 1);
    assert!(
        batches.answered.keys().all(|size| *size <= 25),
        "{batches:?}"
    );
    assert_eq!(c.by_kind.get("graphql query"), Some(&c.total));

    // One repo alone is over the budget.
    fake.set_graphql_latency(Duration::ZERO, timeout);
    fake.set_graphql_budgets(Some(fifty / 50 / 2), None);
    let (results, _, batches) = observe_all(&fake, &repos[..3]);
    for (r, repo) in results.iter().zip(&repos[..3]) {
        let message = r.as_ref().unwrap_err().to_string();
        assert!(message.starts_with(&format!("{repo}: ")), "{message}");
        assert!(message.contains("even alone"), "{message}");
        assert!(message.contains("RESOURCE_LIMITS_EXCEEDED"), "{message}");
    }
    assert_eq!(batches.splits, 2, "3 -> 1 + 2 -> 1 + 1");
}
