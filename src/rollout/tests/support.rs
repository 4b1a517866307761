//! Builders for the policy tests: hand-made repo plans with only the fields
//! the policy reads, targets resolved from a small registry, the rollout
//! log as events, and a run of [`attach`] at a `now` every test passes.

use std::collections::BTreeMap;

use crate::blob::{FileMode, ObjectId, blob_id};
use crate::forge::{Checks, ClosedPullRequest, PullRequest, RepoId};
use crate::lock::{LOCK_VERSION, Lock, Source};
use crate::plan::pull_request::{PullRequestAction, PullRequestPlan};
use crate::plan::{
    CommitPlan, FilePlan, FileState, Plan, ProposalPlan, RepoError, RepoPlan, Route,
};
use crate::registry::{BundlePolicy, Delivery, ResolvedRepo, Rollout, parse, resolve};
use crate::rollout::{
    Budget, Context, Decision, Decisions, Event, Limit, RepoPolicy, State, attach,
};
use crate::target::Target;
use crate::time::{self, Epoch};

/// 2026-11-20T12:00:00Z.
pub const NOW: Epoch = 1_795_176_000;
pub const HOUR: Epoch = 3600;
pub const DAY: Epoch = 86_400;
/// The revision being rolled out, and how the policy's lines shorten it.
pub const REV: &str = "3f9c2e1a7b5d4c6e8f0a1b2c3d4e5f60718293a4";
pub const SHORT: &str = "3f9c2e1a7b5d";
/// Older platform revisions.
pub const OLD: &str = "1111111111111111111111111111111111111111";
pub const MID: &str = "2222222222222222222222222222222222222222";

/// The tip of every proposal branch the builders make.
pub fn proposal_tip() -> ObjectId {
    oid(9)
}

pub fn oid(n: u8) -> ObjectId {
    blob_id(&[n])
}

pub fn rfc(t: Epoch) -> String {
    time::rfc3339(t)
}

pub fn source(revision: &str) -> Source {
    Source {
        revision: revision.into(),
        dirty: false,
        digest: None,
    }
}

/// The bundles of the templates: `baseline` (no policy) and `security`
/// (labelled `security`).
pub fn bundles() -> BTreeMap<String, BundlePolicy> {
    let mut b = BTreeMap::new();
    b.insert("baseline".to_string(), BundlePolicy::default());
    b.insert(
        "security".to_string(),
        BundlePolicy {
            labels: vec!["security".into()],
            direct_after: None,
        },
    );
    b
}

/// The rollout of a registry with `extra` top-level keys (`"waves": [...],`
/// and/or `"rollout": {...},`), resolved like the CLI does.
pub fn registry_rollout(extra: &str) -> Rollout {
    let text = format!(
        r#"{{"version": 1, "stages": ["dev"], {extra}
            "defaults": {{"owner": "acme"}},
            "teams": {{"t": {{"owners": {{"users": ["u"]}}, "repos": [{{"name": "r"}}]}}}}}}"#
    );
    Rollout::new(&parse("registry.json", &text).unwrap(), bundles())
}

/// The three waves of docs/rollout.md: canary (soak 2h), early (soak 1d),
/// default (no soak).
pub fn staged() -> Rollout {
    registry_rollout(
        r#""waves": [{"name": "canary", "soak": "2h"}, {"name": "early", "soak": "1d"}, {"name": "default"}],"#,
    )
}

/// Budgets only.
pub fn limits(hourly: Option<u32>, concurrent: Option<u32>, direct: Option<u32>) -> Rollout {
    Rollout {
        pr_hourly_limit: hourly,
        pr_concurrent_limit: concurrent,
        direct_commits_per_run: direct,
        bundles: bundles(),
        ..Rollout::default()
    }
}

/// A target repo of team kiwi (owners `@alice-moreau` and
/// `@acme/kiwi-devs`), no wave.
pub fn resolved(name: &str) -> ResolvedRepo {
    let text = r#"{"version": 1, "stages": ["dev"],
        "defaults": {"owner": "acme", "delivery": "pr"},
        "teams": {"kiwi": {"owners": {"users": ["alice-moreau"], "teams": ["acme/kiwi-devs"]},
                           "repos": [{"name": "template"}]}}}"#;
    let mut r = resolve(&parse("registry.json", text).unwrap()).remove(0);
    r.name = name.to_string();
    r
}

pub fn id(name: &str) -> RepoId {
    RepoId::new("acme", name)
}

fn file(path: &str, bundle: &str, state: FileState, route: Route, content: &str) -> FilePlan {
    FilePlan {
        path: path.into(),
        state,
        reason: None,
        route,
        bundle: bundle.into(),
        template: format!("{bundle}/{path}.j2"),
        desired: Some(blob_id(content.as_bytes())),
        rendered: None,
        mode: FileMode::Regular,
        observed: None,
        locked: None,
        diff: None,
        merge: None,
        note: None,
        merge_needs: Vec::new(),
    }
}

fn commit(branch: &str) -> CommitPlan {
    CommitPlan {
        branch: branch.into(),
        writes: Vec::new(),
        lock: Lock {
            version: LOCK_VERSION,
            source: source(REV),
            generator: "distributor test".into(),
            files: BTreeMap::new(),
        },
        message: "distributor: test".into(),
    }
}

fn wanted_pull_request() -> PullRequestPlan {
    PullRequestPlan {
        title: "distributor: update 1 platform-managed file".into(),
        body: String::new(),
        labels: Vec::new(),
        reviewers: Vec::new(),
        team_reviewers: Vec::new(),
        draft: false,
        auto_merge: false,
    }
}

pub fn pull_request(number: u64, created: Epoch) -> PullRequest {
    PullRequest {
        number,
        url: format!("https://github.test/pull/{number}"),
        node_id: format!("PR_{number}"),
        title: "distributor: update 1 platform-managed file".into(),
        body: String::new(),
        created_at: rfc(created),
        labels: Vec::new(),
        draft: false,
    }
}

/// A repo plan being built: starts in sync (one managed file, nothing to
/// deliver), then each method adds what the policy reads.
pub struct Repo(RepoPlan);

/// A repo in sync: `README.md` of bundle `baseline` with content `v1`.
pub fn repo(name: &str) -> Repo {
    Repo(RepoPlan {
        repo: id(name),
        team: "kiwi".into(),
        default_branch: "main".into(),
        tip: Some(oid(1)),
        delivery: Delivery::Pr,
        delivery_reason: String::new(),
        files: vec![file(
            "README.md",
            "baseline",
            FileState::InSync,
            Route::None,
            "v1",
        )],
        direct: None,
        proposal: ProposalPlan::None,
        proposal_branch: "distributor/sync".into(),
        pull_request: None,
        pull_request_action: PullRequestAction::None,
        open_pull_request: None,
        web_url: None,
        closed_pull_request: None,
        lock_path: ".github/distributor.lock.json".into(),
        wave: None,
        locked_revision: None,
        proposal_revision: None,
        default_checks: None,
        proposal_checks: None,
        merged_contents: BTreeMap::new(),
        force_reason: None,
        policy: None,
    })
}

impl Repo {
    /// The in-sync file renders `content` instead (a wave's content).
    pub fn content(mut self, content: &str) -> Repo {
        self.0.files[0].desired = Some(blob_id(content.as_bytes()));
        self
    }

    fn pending(&mut self, bundle: &str, route: Route) {
        let path = format!("{bundle}-{}.yml", self.0.files.len());
        self.0
            .files
            .push(file(&path, bundle, FileState::Outdated, route, "new"));
    }

    /// An outdated file of `bundle` in the direct commit.
    pub fn direct(mut self, bundle: &str) -> Repo {
        self.pending(bundle, Route::Direct);
        self.0.direct = Some(commit("main"));
        self
    }

    /// An outdated file of `bundle` on a new proposal branch (a new pull
    /// request).
    pub fn new_pr(mut self, bundle: &str) -> Repo {
        self.pending(bundle, Route::Proposal);
        self.0.proposal = ProposalPlan::Create {
            commit: commit("distributor/sync"),
        };
        self.0.pull_request = Some(wanted_pull_request());
        self.0.pull_request_action = PullRequestAction::Open {
            pull_request: wanted_pull_request(),
        };
        self
    }

    /// New content for the branch of the open pull request `number`
    /// (updated in place).
    pub fn updated_pr(mut self, bundle: &str, number: u64, created: Epoch) -> Repo {
        self.pending(bundle, Route::Proposal);
        self.0.proposal = ProposalPlan::Update {
            previous_tip: proposal_tip(),
            commit: commit("distributor/sync"),
            stacked: false,
        };
        self.0.pull_request = Some(wanted_pull_request());
        self.0.pull_request_action = PullRequestAction::Update {
            number,
            title: wanted_pull_request().title,
            body: String::new(),
        };
        self.open_pr(number, created)
    }

    /// New content for a proposal branch whose pull request is no longer
    /// open (on GitHub: a new pull request).
    pub fn rebuilt_branch(mut self, bundle: &str) -> Repo {
        self.pending(bundle, Route::Proposal);
        self.0.proposal = ProposalPlan::Update {
            previous_tip: proposal_tip(),
            commit: commit("distributor/sync"),
            stacked: false,
        };
        self.0.pull_request = Some(wanted_pull_request());
        self.0.pull_request_action = PullRequestAction::Open {
            pull_request: wanted_pull_request(),
        };
        self
    }

    /// The open pull request `number` already proposes this revision's
    /// content (nothing to write: awaiting merge).
    pub fn pending_pr(mut self, bundle: &str, number: u64, created: Epoch) -> Repo {
        self = self.pending_branch(bundle);
        self.0.pull_request_action = PullRequestAction::Keep { number };
        self.open_pr(number, created)
    }

    /// The proposal branch already carries this revision's content, and
    /// no pull request is open from it.
    pub fn pending_branch(mut self, bundle: &str) -> Repo {
        self.pending(bundle, Route::Proposal);
        self.0.proposal = ProposalPlan::UpToDate {
            tip: proposal_tip(),
        };
        self.0.pull_request = Some(wanted_pull_request());
        self.0.proposal_revision = Some(REV.into());
        self
    }

    /// The team merged the proposal: its branch is closed.
    pub fn closing(mut self) -> Repo {
        self.0.proposal = ProposalPlan::Close {
            tip: proposal_tip(),
        };
        self
    }

    /// A hand-edited file of `bundle`, proposed for review.
    pub fn drifted(mut self, bundle: &str) -> Repo {
        let path = format!("{bundle}-{}.yml", self.0.files.len());
        self.0.files.push(file(
            &path,
            bundle,
            FileState::Drifted,
            Route::Proposal,
            "new",
        ));
        self.0.proposal = ProposalPlan::Create {
            commit: commit("distributor/sync"),
        };
        self
    }

    pub fn open_pr(mut self, number: u64, created: Epoch) -> Repo {
        self.0.open_pull_request = Some(pull_request(number, created));
        self
    }

    pub fn label(mut self, label: &str) -> Repo {
        if let Some(pr) = &mut self.0.open_pull_request {
            pr.labels.push(label.into());
        }
        self
    }

    pub fn closed_pr(mut self, number: u64, head: Option<ObjectId>) -> Repo {
        self.0.closed_pull_request = Some(ClosedPullRequest {
            number,
            url: format!("https://github.test/pull/{number}"),
            head,
        });
        self
    }

    pub fn proposal_checks(mut self, checks: Checks) -> Repo {
        self.0.proposal_checks = Some(checks);
        self
    }

    pub fn default_checks(mut self, checks: Checks) -> Repo {
        self.0.default_checks = Some(checks);
        self
    }

    pub fn tip(mut self, tip: ObjectId) -> Repo {
        self.0.tip = Some(tip);
        self
    }

    pub fn locked(mut self, revision: &str) -> Repo {
        self.0.locked_revision = Some(revision.into());
        self
    }

    pub fn proposal_revision(mut self, revision: &str) -> Repo {
        self.0.proposal_revision = Some(revision.into());
        self
    }

    pub fn build(self) -> RepoPlan {
        self.0
    }
}

// --- the rollout log ---

pub fn pr_opened(at: Epoch, name: &str, number: u64) -> Event {
    Event::PrOpened {
        at,
        repo: id(name).to_string(),
        number,
        revision: REV.into(),
    }
}

pub fn direct_commit(at: Epoch, name: &str, commit: ObjectId, revision: &str) -> Event {
    Event::DirectCommit {
        at,
        repo: id(name).to_string(),
        commit: commit.to_string(),
        revision: revision.into(),
    }
}

pub fn promoted(revision: &str, wave: &str, operator: &str) -> Event {
    Event::Promoted {
        at: NOW - HOUR,
        revision: revision.into(),
        wave: wave.into(),
        operator: operator.into(),
    }
}

pub fn halted(at: Epoch, revision: &str, reason: &str) -> Event {
    Event::Halted {
        at,
        revision: revision.into(),
        reason: reason.into(),
        rollback: false,
    }
}

pub fn resumed(at: Epoch, revision: &str) -> Event {
    Event::Resumed {
        at,
        revision: revision.into(),
        operator: "alice".into(),
    }
}

pub fn escalated(name: &str, number: u64) -> Event {
    Event::Escalated {
        at: NOW - DAY,
        repo: id(name).to_string(),
        number,
    }
}

pub fn open_set(at: Epoch, names: &[&str]) -> Event {
    Event::OpenPullRequests {
        at,
        repos: names.iter().map(|n| id(n).to_string()).collect(),
    }
}

pub fn wave_in_sync(at: Epoch, wave: &str, revision: &str, digest: &str, since: Epoch) -> Event {
    Event::WaveInSync {
        at,
        wave: wave.into(),
        revision: revision.into(),
        digest: digest.into(),
        since,
    }
}

// --- decisions ---

pub fn queued(limit: Limit, position: usize, reason: &str) -> Decision {
    Decision::Queued {
        limit,
        position,
        reason: reason.into(),
    }
}

pub fn held(reason: &str, until: Option<Epoch>) -> Decision {
    Decision::Held {
        reason: reason.into(),
        until: until.map(rfc),
    }
}

/// The decision of a repo of a halted revision.
pub fn halted_decision(reason: &str) -> Decision {
    Decision::Halted {
        reason: format!(
            "the rollout of revision {SHORT} is halted ({reason}); run `distributor resume {REV}` once it is fixed"
        ),
    }
}

// --- the run ---

/// Everything the policy reads besides the repo plans.
pub struct Fleet {
    pub rollout: Rollout,
    pub state: State,
    pub history: Vec<(String, Epoch)>,
    pub full_fleet: bool,
    pub forced: bool,
    /// The forge has pull requests; tests that turn it off give their plans
    /// no pull request action, as the planner would.
    pub pull_requests: bool,
    /// The platform revision of the plan.
    pub revision: String,
    /// Repos that could not be planned.
    pub errors: Vec<String>,
    /// The fleet is pinned to the plan's revision (a rollback).
    pub rollback: Option<crate::rollout::pin::Rollback>,
    targets: BTreeMap<String, ResolvedRepo>,
}

impl Fleet {
    /// A full-fleet run of [`REV`] on GitHub, empty log, no history.
    pub fn new(rollout: Rollout) -> Fleet {
        Fleet {
            rollout,
            state: State::default(),
            history: Vec::new(),
            full_fleet: true,
            forced: false,
            pull_requests: true,
            revision: REV.into(),
            errors: Vec::new(),
            rollback: None,
            targets: BTreeMap::new(),
        }
    }

    /// Puts `names` in `wave` (`repo.wave` of their targets).
    pub fn wave(mut self, wave: &str, names: &[&str]) -> Fleet {
        for name in names {
            self.target(name).wave = Some(wave.into());
        }
        self
    }

    /// The team owners of `name`'s target.
    pub fn owners(mut self, name: &str, users: &[&str], teams: &[&str]) -> Fleet {
        let t = self.target(name);
        t.owners_users = users.iter().map(|u| u.to_string()).collect();
        t.owners_teams = teams.iter().map(|u| u.to_string()).collect();
        self
    }

    /// The rollout log holds `events` (folded in order).
    pub fn log(mut self, events: &[Event]) -> Fleet {
        self.state = State::fold(events);
        self
    }

    pub fn filtered(mut self) -> Fleet {
        self.full_fleet = false;
        self
    }

    fn target(&mut self, name: &str) -> &mut ResolvedRepo {
        self.targets
            .entry(name.to_string())
            .or_insert_with(|| resolved(name))
    }

    /// Runs the policy over `repos` at `now`.
    pub fn run(&self, now: Epoch, repos: Vec<RepoPlan>) -> Outcome {
        let names = repos
            .iter()
            .map(|p| p.repo.name.clone())
            .chain(self.errors.iter().cloned());
        let targets: Vec<Target> = names
            .map(|n| Target {
                repo: self
                    .targets
                    .get(&n)
                    .cloned()
                    .unwrap_or_else(|| resolved(&n)),
                desired: Vec::new(),
            })
            .collect();
        let mut plan = Plan {
            source: source(&self.revision),
            generator: "distributor test".into(),
            force_reason: self.forced.then(|| "test".to_string()),
            rollback: None,
            repos,
            errors: self
                .errors
                .iter()
                .map(|n| RepoError {
                    repo: id(n),
                    error: "cannot read the lock file".into(),
                })
                .collect(),
            rollout: None,
        };
        let ctx = Context {
            now,
            rollout: &self.rollout,
            state: &self.state,
            targets: &targets,
            history: &self.history,
            full_fleet: self.full_fleet,
            forced: self.forced,
            rollback: self.rollback.as_ref(),
        };
        let events = attach(&ctx, &mut plan);
        Outcome { plan, events }
    }
}

/// A run's result: the plan with its verdicts, and the events to record.
pub struct Outcome {
    pub plan: Plan,
    pub events: Vec<Event>,
}

impl Outcome {
    pub fn policy(&self, name: &str) -> &RepoPolicy {
        self.plan
            .repos
            .iter()
            .find(|p| p.repo.name == name)
            .and_then(|p| p.policy.as_ref())
            .unwrap_or_else(|| panic!("no policy for {name}"))
    }

    pub fn decision(&self, name: &str) -> &Decision {
        &self.policy(name).decision
    }

    pub fn rollout(&self) -> &Decisions {
        self.plan.rollout.as_ref().expect("the policy ran")
    }

    pub fn budget(&self) -> &Budget {
        &self.rollout().budget
    }

    /// Queued repos in queue order: (name, limit, position).
    pub fn queue(&self) -> Vec<(String, Limit, usize)> {
        let mut q: Vec<(String, Limit, usize)> = self
            .plan
            .repos
            .iter()
            .filter_map(|p| match &p.policy.as_ref()?.decision {
                Decision::Queued {
                    limit, position, ..
                } => Some((p.repo.name.clone(), *limit, *position)),
                _ => None,
            })
            .collect();
        q.sort_by_key(|(_, _, pos)| *pos);
        q
    }

    /// Names in queue order.
    pub fn queue_order(&self) -> Vec<String> {
        self.queue().into_iter().map(|(n, _, _)| n).collect()
    }

    /// The events, without the fleet-wide open pull request set (recorded
    /// by every full-fleet run whose set changed).
    pub fn facts(&self) -> Vec<Event> {
        self.events
            .iter()
            .filter(|e| !matches!(e, Event::OpenPullRequests { .. }))
            .cloned()
            .collect()
    }
}
