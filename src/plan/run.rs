//! The glue of [`super::plan_repo`]: what its steps read, derived once
//! from the input and the default branch's lock, and each step called with
//! exactly what it needs. No decisions of its own.

use std::collections::{BTreeMap, BTreeSet};

use super::files::{self, FileContext, Scope};
use super::proposal::{self, Observed};
use super::pull_request::{PullRequestAction, PullRequestPlan};
use super::request::{self, RequestContext};
use super::route::{self, Routing};
use super::{CommitPlan, FilePlan, PlanInput, ProposalPlan, carry, commits, locks, stack};
use crate::blob::ObjectId;
use crate::lock::LockEntry;
use crate::render::DesiredFile;

/// What planning one repo reads.
pub(crate) struct Run<'a> {
    pub(crate) input: &'a PlanInput<'a>,
    /// The default branch's lock entries.
    pub(crate) locked: &'a BTreeMap<String, LockEntry>,
    /// Desired files by path (every bundle's).
    pub(crate) desired: BTreeMap<&'a str, &'a DesiredFile>,
    pub(crate) scope: Scope<'a>,
    /// `apply --force`.
    pub(crate) forced: bool,
    pub(crate) routing: Routing,
}

impl<'a> Run<'a> {
    pub(crate) fn new(input: &'a PlanInput<'a>, locked: &'a BTreeMap<String, LockEntry>) -> Self {
        let forced = input.settings.force_reason.is_some();
        Run {
            input,
            locked,
            desired: input.desired.iter().map(|d| (d.path.as_str(), d)).collect(),
            scope: Scope::new(input.settings.bundles.as_ref()),
            forced,
            routing: route::choose(
                forced,
                input.repo.delivery,
                input.direct_refused,
                &input.repo.proposal_branch,
            ),
        }
    }

    /// Every managed path's plan.
    pub(crate) fn files(&self) -> Vec<FilePlan> {
        let (settings, obs) = (self.input.settings, self.input.observation);
        let overdue = route::overdue(
            self.routing.route,
            obs.pull_request.as_ref(),
            settings.now,
            self.input.direct_refused,
            &settings.direct_after,
        );
        let ctx = FileContext {
            desired: &self.desired,
            locked: self.locked,
            observed: &obs.default_branch.files,
            waivers: &self.input.repo.waivers,
            now: settings.now,
            forced: self.forced,
            contents: self.input.contents,
            routing: &self.routing,
            overdue: overdue.as_ref(),
        };
        let paths = files::managed_paths(&self.desired, self.locked, self.scope);
        files::plan_files(&ctx, paths)
    }

    /// Other bundles' changes the proposal keeps carrying.
    pub(crate) fn carried(&self) -> Vec<FilePlan> {
        let obs = self.input.observation;
        carry::carried_files(
            self.input.desired,
            self.scope,
            obs.proposal.as_ref(),
            &obs.default_branch,
            self.locked,
        )
    }

    /// The direct commit and the proposal commit, with their locks.
    pub(crate) fn commits(
        &self,
        files: &[FilePlan],
        carried: &[FilePlan],
        on_proposal: &[&FilePlan],
    ) -> (Option<CommitPlan>, Option<CommitPlan>) {
        let (settings, repo) = (self.input.settings, self.input.repo);
        let source = &settings.source;
        let entries = locks::Entries {
            desired: &self.desired,
            locked: self.locked,
        };
        let direct_lock = locks::direct_lock(self.locked, files, &entries);
        let proposal_lock = locks::proposal_lock(&direct_lock, files, carried, &entries);
        let direct = commits::direct_commit(
            files,
            &self.input.observation.default_branch.name,
            locks::new_lock(source, direct_lock),
            source,
            settings.force_reason.as_deref(),
            settings.rollback.as_ref(),
        );
        let proposal = commits::proposal_commit(
            files,
            on_proposal,
            &repo.proposal_branch,
            locks::new_lock(source, proposal_lock),
            source,
            settings.rollback.as_ref(),
        );
        (direct, proposal)
    }

    /// What happens to the proposal branch.
    pub(crate) fn proposal(
        &self,
        observed: Option<&Observed<'_>>,
        files: &[FilePlan],
        direct: bool,
        commit: Option<CommitPlan>,
    ) -> ProposalPlan {
        let wanted = proposal::Wanted {
            files,
            default: &self.input.observation.default_branch,
            direct,
            scope: self.scope,
            desired: &self.desired,
            locked: self.locked,
        };
        let plan = proposal::decide(observed, commit, self.scope.filtered(), |p| {
            proposal::is_current(p, &wanted)
        });
        match (plan, observed) {
            (
                ProposalPlan::Update {
                    previous_tip,
                    commit,
                    ..
                },
                Some(p),
            ) => self.stack(p, files, direct, previous_tip, commit),
            (plan, _) => plan,
        }
    }

    /// The update as a commit on the proposal's tip when its base is
    /// still current and no direct commit moves the default branch (see
    /// [`stack`]); else rebuilt on the default branch.
    fn stack(
        &self,
        observed: &Observed<'_>,
        files: &[FilePlan],
        direct: bool,
        previous_tip: ObjectId,
        mut commit: CommitPlan,
    ) -> ProposalPlan {
        let default = &self.input.observation.default_branch;
        let mut at_hand: BTreeSet<ObjectId> = self.desired.values().map(|d| d.blob).collect();
        at_hand.extend(files::merged_contents(files).into_keys());
        let tips = stack::Tips {
            proposal: &observed.snapshot.branch,
            default,
            at_hand: &at_hand,
        };
        let on_tip = (!direct && proposal::base_current(observed.snapshot, default))
            .then(|| stack::writes_on_tip(&commit, &tips))
            .flatten();
        let stacked = on_tip.is_some();
        if let Some(writes) = on_tip {
            commit.writes = writes;
        }
        ProposalPlan::Update {
            previous_tip,
            commit,
            stacked,
        }
    }

    /// The pull request wanted for the proposal, and what happens to it.
    pub(crate) fn pull_request(
        &self,
        proposal: &ProposalPlan,
        files: &[FilePlan],
        on_proposal: &[&FilePlan],
        direct: bool,
    ) -> (Option<PullRequestPlan>, PullRequestAction) {
        let ctx = RequestContext {
            repo: self.input.repo,
            source: &self.input.settings.source,
            rollback: self.input.settings.rollback.as_ref(),
            bundle_labels: &self.input.settings.bundle_labels,
            routing: &self.routing,
        };
        let want = request::pull_request(proposal, files, on_proposal, &ctx);
        let action = request::action(
            self.input.pull_requests,
            proposal,
            want.as_ref(),
            self.input.observation,
            self.forced && direct,
        );
        (want, action)
    }
}
