//! The pull request a plan wants for its proposal (why it is one, the
//! labels its bundles add) and what happens to it on the forge. The text
//! and the action rules are [`super::pull_request`]'s.

use std::collections::BTreeMap;

use super::pull_request::{self, PullRequestAction, PullRequestPlan};
use super::route::Routing;
use super::{FilePlan, FileState, ProposalPlan, Route};
use crate::forge::RepoObservation;
use crate::lock::Source;
use crate::registry::ResolvedRepo;

/// Why the changes are a pull request: the delivery reason, or for a
/// `direct` repo the hand edits that are never overwritten unreviewed.
pub(crate) fn why(files: &[FilePlan], routing: &Routing) -> String {
    let drift_proposed = files
        .iter()
        .any(|f| f.route == Route::Proposal && f.state == FileState::Drifted);
    if drift_proposed && routing.route == Route::Direct {
        "some files were edited by hand, and distributor never overwrites a hand edit without review".to_string()
    } else {
        routing.reason.clone()
    }
}

/// Adds the labels of the bundles of `files` (in order, once each).
pub(crate) fn add_bundle_labels(
    labels: &mut Vec<String>,
    files: &[&FilePlan],
    bundle_labels: &BTreeMap<String, Vec<String>>,
) {
    for f in files {
        for label in bundle_labels.get(&f.bundle).into_iter().flatten() {
            if !labels.contains(label) {
                labels.push(label.clone());
            }
        }
    }
}

/// What the pull request wanted for a proposal depends on.
pub(crate) struct RequestContext<'a> {
    pub(crate) repo: &'a ResolvedRepo,
    pub(crate) source: &'a Source,
    pub(crate) rollback: Option<&'a super::message::Rollback>,
    pub(crate) bundle_labels: &'a BTreeMap<String, Vec<String>>,
    pub(crate) routing: &'a Routing,
}

/// The pull request the proposal branch is, while the branch carries
/// changes (`on_proposal`) and is not closed or left to a human.
pub(crate) fn pull_request(
    proposal: &ProposalPlan,
    files: &[FilePlan],
    on_proposal: &[&FilePlan],
    ctx: &RequestContext<'_>,
) -> Option<PullRequestPlan> {
    let open = matches!(
        proposal,
        ProposalPlan::Create { .. } | ProposalPlan::Update { .. } | ProposalPlan::UpToDate { .. }
    );
    if !open || on_proposal.is_empty() {
        return None;
    }
    let why = why(files, ctx.routing);
    let mut pr = pull_request::pull_request(ctx.repo, on_proposal, ctx.source, ctx.rollback, &why);
    add_bundle_labels(&mut pr.labels, on_proposal, ctx.bundle_labels);
    Some(pr)
}

/// What happens to the pull request, on forges that have them (`None`
/// elsewhere). `forced_direct`: a forced direct commit supersedes it.
pub(crate) fn action(
    pull_requests: bool,
    proposal: &ProposalPlan,
    want: Option<&PullRequestPlan>,
    obs: &RepoObservation,
    forced_direct: bool,
) -> PullRequestAction {
    if !pull_requests {
        return PullRequestAction::None;
    }
    pull_request::action(
        proposal,
        want,
        obs.pull_request.as_ref(),
        obs.closed_pull_request.as_ref(),
        forced_direct,
    )
}

#[cfg(test)]
mod tests;
