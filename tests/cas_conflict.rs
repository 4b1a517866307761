//! Compare-and-swap against concurrent pushes, through the library API on
//! the local forge: a branch that moves between plan and apply is
//! re-observed and re-planned once; one that keeps moving fails that repo
//! only, and never loses the other writer's commits.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use distributor::apply::{self, ApplyReport, ProposalOutcome};
use distributor::blob::ObjectId;
use distributor::forge::local::LocalForge;
use distributor::forge::{CommitRequest, Forge, ForgeError, RepoId, RepoObservation, RepoQuery};
use distributor::observe;
use distributor::target::Target;

use common::{Env, assert_fsck_clean, commit_count, git_ok, human_commit_files, targets, tip};

/// A forge root with every repo created (`--init`'s initial commit only).
fn init_forge(env: &Env, targets: &[Target]) -> LocalForge {
    std::fs::create_dir_all(&env.forge).unwrap();
    let forge = LocalForge::new(&env.forge).unwrap();
    for t in targets {
        let branch = t.repo.default_branch.as_deref().unwrap_or("main");
        assert!(forge.ensure_repo(&t.id(), branch).unwrap());
    }
    forge
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn report_of<'a>(report: &'a ApplyReport, name: &str) -> &'a apply::RepoReport {
    report
        .repos
        .iter()
        .find(|r| r.repo.name == name)
        .unwrap_or_else(|| panic!("no report for {name}"))
}

#[test]
fn branch_moved_between_plan_and_apply_is_replanned() {
    let env = Env::new();
    let (targets, opts) = targets(&env);
    let forge = init_forge(&env, &targets);
    let web = env.bare("mango-web");
    let init = tip(&env, &web, "main").unwrap();

    let plan = block_on(observe::make_plan(&forge, &targets, &opts));
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let web_plan = plan
        .repos
        .iter()
        .find(|r| r.repo.name == "mango-web")
        .unwrap();
    assert_eq!(web_plan.tip.map(|t| t.to_string()), Some(init.clone()));
    assert!(web_plan.direct.is_some());

    // A human pushes an unrelated change after the plan was made.
    let human = human_commit_files(
        &web,
        &env.scratch,
        "main",
        &[("src/app.py", Some("print('hello')\n"))],
        "Add the app",
    );

    let mut seen = Vec::new();
    let report = block_on(apply::apply(&forge, &targets, &plan, &opts, |r| {
        seen.push(r.repo.to_string())
    }));
    assert_eq!(seen.len(), 12, "progress callback once per repo");
    assert_eq!(report.failed(), 0, "{report:#?}");

    let r = report_of(&report, "mango-web");
    assert!(r.replanned, "{r:?}");
    assert_eq!(r.error, None);
    let commit = r.commit.expect("distributor committed after re-planning");
    assert_eq!(r.files_changed, 5);
    // Distributor's commit sits on top of the human commit.
    assert_eq!(tip(&env, &web, "main").unwrap(), commit.to_string());
    assert_eq!(env.git(&web, &["rev-parse", "main^"]), human);
    assert!(git_ok(
        &web,
        &env.scratch,
        &["merge-base", "--is-ancestor", &human, "main"]
    ));
    assert_eq!(commit_count(&env, &web, "main"), 3);
    assert_eq!(
        env.git(&web, &["show", "main:src/app.py"]),
        "print('hello')"
    );
    let lock = common::lock_blobs(&common::lock_on(&env, &web, "main"));
    assert_eq!(lock, env.rendered_blobs("acme/mango-web"));
    assert!(
        !lock.contains_key("src/app.py"),
        "human files are not managed"
    );

    // Nobody else was re-planned.
    for other in report.repos.iter().filter(|r| r.repo.name != "mango-web") {
        assert!(!other.replanned, "{other:?}");
        assert_eq!(other.error, None);
    }
    assert_fsck_clean(&env);

    // A fresh plan has nothing left to do for mango-web.
    let again = block_on(observe::make_plan(&forge, &targets, &opts));
    let web_plan = again
        .repos
        .iter()
        .find(|r| r.repo.name == "mango-web")
        .unwrap();
    assert!(!web_plan.has_writes());
}

#[test]
fn proposal_created_by_someone_else_meanwhile_is_left_alone() {
    let env = Env::new();
    let (targets, opts) = targets(&env);
    let forge = init_forge(&env, &targets);
    let api = env.bare("mango-api");
    let main = tip(&env, &api, "main").unwrap();

    let plan = block_on(observe::make_plan(&forge, &targets, &opts));
    // Someone creates the proposal branch by hand before apply runs.
    env.git(
        &api,
        &[
            "update-ref",
            "refs/heads/distributor/sync",
            &main,
            "0000000000000000000000000000000000000000",
        ],
    );
    let human = human_commit_files(
        &api,
        &env.scratch,
        "distributor/sync",
        &[("NOTES.md", Some("mine\n"))],
        "My own branch",
    );

    let report = block_on(apply::apply(&forge, &targets, &plan, &opts, |_| {}));
    let r = report_of(&report, "mango-api");
    assert!(r.replanned, "{r:?}");
    assert_eq!(r.error, None);
    assert!(
        matches!(&r.proposal, ProposalOutcome::LeftAlone { branch, .. } if branch == "distributor/sync"),
        "{r:?}"
    );
    assert_eq!(tip(&env, &api, "distributor/sync").unwrap(), human);
    assert_eq!(tip(&env, &api, "main").unwrap(), main);
    assert_eq!(report.failed(), 0);
    assert_fsck_clean(&env);
}

/// A forge where a human pushes to the default branch of one repo right
/// before every commit distributor makes there: the compare-and-swap fails
/// on every attempt.
struct RacingForge {
    inner: LocalForge,
    repo: RepoId,
    branch: String,
    bare: PathBuf,
    home: PathBuf,
    pushes: AtomicUsize,
    human_commits: std::sync::Mutex<Vec<String>>,
}

impl RacingForge {
    fn push_first(&self) {
        let n = self.pushes.fetch_add(1, Ordering::SeqCst);
        let path = format!("human-{n}.txt");
        let id = human_commit_files(
            &self.bare,
            &self.home,
            &self.branch,
            &[(path.as_str(), Some("racing\n"))],
            &format!("Human push {n}"),
        );
        self.human_commits.lock().unwrap().push(id);
    }
}

impl Forge for RacingForge {
    fn describe(&self) -> String {
        format!("racing {}", self.inner.describe())
    }

    fn observe_batch_size(&self) -> usize {
        // Small batches exercise the batching too.
        5
    }

    async fn observe(&self, queries: &[RepoQuery]) -> Vec<Result<RepoObservation, ForgeError>> {
        self.inner.observe(queries).await
    }

    async fn read_blobs(
        &self,
        repo: &RepoId,
        blobs: &[ObjectId],
    ) -> Result<std::collections::BTreeMap<ObjectId, Vec<u8>>, ForgeError> {
        self.inner.read_blobs(repo, blobs).await
    }

    async fn commit(&self, request: &CommitRequest) -> Result<ObjectId, ForgeError> {
        if request.repo == self.repo && request.branch == self.branch {
            self.push_first();
        }
        self.inner.commit(request).await
    }

    async fn delete_branch(
        &self,
        repo: &RepoId,
        branch: &str,
        expected_tip: ObjectId,
    ) -> Result<(), ForgeError> {
        self.inner.delete_branch(repo, branch, expected_tip).await
    }
}

fn racing(env: &Env, local: LocalForge, name: &str, bare: &Path) -> RacingForge {
    RacingForge {
        inner: local,
        repo: RepoId::new("acme", name),
        branch: "main".into(),
        bare: bare.to_path_buf(),
        home: env.scratch.clone(),
        pushes: AtomicUsize::new(0),
        human_commits: std::sync::Mutex::new(Vec::new()),
    }
}

#[test]
fn branch_that_keeps_moving_fails_only_that_repo() {
    let env = Env::new();
    let (targets, opts) = targets(&env);
    let local = init_forge(&env, &targets);
    let web = env.bare("mango-web");
    let init = tip(&env, &web, "main").unwrap();
    let forge = racing(&env, local, "mango-web", &web);

    let plan = block_on(observe::make_plan(&forge, &targets, &opts));
    assert!(plan.errors.is_empty());
    let report = block_on(apply::apply(&forge, &targets, &plan, &opts, |_| {}));

    let r = report_of(&report, "mango-web");
    let error = r.error.as_deref().expect("mango-web fails");
    assert!(
        error.contains("branch `main` of acme/mango-web moved since it was observed"),
        "{error}"
    );
    assert!(error.contains("gave up after re-planning once"), "{error}");
    assert!(r.replanned);
    assert_eq!(r.commit, None);
    assert_eq!(report.failed(), 1, "{report:#?}");

    // Exactly two attempts, both beaten by a human push that is intact.
    let humans = forge.human_commits.lock().unwrap().clone();
    assert_eq!(humans.len(), 2);
    assert_eq!(tip(&env, &web, "main").unwrap(), humans[1]);
    assert_eq!(env.git(&web, &["rev-parse", "main^"]), humans[0]);
    assert_eq!(env.git(&web, &["rev-parse", "main~2"]), init);
    assert_eq!(commit_count(&env, &web, "main"), 3);
    assert_eq!(env.git(&web, &["show", "main:human-1.txt"]), "racing");
    assert!(
        !git_ok(
            &web,
            &env.scratch,
            &["cat-file", "-e", "main:.github/distributor.lock.json"]
        ),
        "no distributor commit landed"
    );

    // Every other repo succeeded.
    for t in &targets {
        if t.repo.name == "mango-web" {
            continue;
        }
        let r = report_of(&report, &t.repo.name);
        assert_eq!(r.error, None, "{r:?}");
        assert!(!r.replanned);
        assert!(r.files_changed > 0, "{r:?}");
    }
    assert_fsck_clean(&env);

    // Once the pushes stop, the next run delivers on top of them.
    let plan = block_on(observe::make_plan(&forge.inner, &targets, &opts));
    let report = block_on(apply::apply(&forge.inner, &targets, &plan, &opts, |_| {}));
    assert_eq!(report.failed(), 0);
    assert_eq!(env.git(&web, &["rev-parse", "main^"]), humans[1]);
    assert_fsck_clean(&env);
}
