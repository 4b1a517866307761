//! Where changes go: the repo's delivery route and why (registry `direct`
//! or `pr`, `apply --force`, or a direct commit refused by branch
//! protection), the bundles whose pull request has waited past their
//! `direct_after`, each file's route from its state, and the delivery
//! reason as the plan reports it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{FilePlan, FileState, Reason, Route};
use crate::forge::PullRequest;
use crate::registry::Delivery;
use crate::time::Epoch;

/// The route a repo's safe changes take, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Routing {
    pub(crate) route: Route,
    pub(crate) reason: String,
}

/// Chooses the delivery route: forced runs commit directly; a `direct`
/// repo whose direct commit was refused (`direct_refused`: why) proposes
/// instead; otherwise the registry's `delivery` decides.
pub(crate) fn choose(
    forced: bool,
    delivery: Delivery,
    direct_refused: Option<&str>,
    proposal_branch: &str,
) -> Routing {
    let (route, reason) = match (forced, delivery, direct_refused) {
        (true, _, _) => (
            Route::Direct,
            "forced: direct commit, drift overwritten (apply --force)".to_string(),
        ),
        (false, Delivery::Direct, Some(refused)) => (
            Route::Proposal,
            format!(
                "registry delivery `direct`, but the direct commit was refused ({refused}): changes go to branch `{proposal_branch}` instead"
            ),
        ),
        (false, Delivery::Direct, None) => (
            Route::Direct,
            "registry delivery `direct`: one commit on the default branch".to_string(),
        ),
        (false, Delivery::Pr, _) => (
            Route::Proposal,
            format!("registry delivery `pr`: changes go to branch `{proposal_branch}`"),
        ),
    };
    Routing { route, reason }
}

/// The open pull request, when bundles' changes have waited in it longer
/// than their `direct_after`: those bundles are committed directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Overdue<'a> {
    /// The pull request's number.
    pub(crate) number: u64,
    /// How long it has been open.
    pub(crate) age: Duration,
    /// The bundles whose `direct_after` it has outlived.
    pub(crate) bundles: BTreeSet<&'a str>,
}

/// The bundles committed directly because the open pull request outlived
/// their `direct_after`. Only when changes go to the proposal because of
/// the registry (not when a direct commit was refused), and the pull
/// request's creation time is known.
pub(crate) fn overdue<'a>(
    route: Route,
    pull_request: Option<&PullRequest>,
    now: Epoch,
    direct_refused: Option<&str>,
    direct_after: &'a BTreeMap<String, Duration>,
) -> Option<Overdue<'a>> {
    if route != Route::Proposal || direct_refused.is_some() {
        return None;
    }
    let pr = pull_request?;
    let age = crate::time::since(crate::time::parse_rfc3339(&pr.created_at)?, now);
    let bundles = direct_after
        .iter()
        .filter(|(_, after)| age >= **after)
        .map(|(b, _)| b.as_str())
        .collect();
    Some(Overdue {
        number: pr.number,
        age,
        bundles,
    })
}

/// The route of a file in `state`: `safe` (the delivery route, or direct
/// for an overdue bundle) for safe changes, the proposal for hand edits
/// (direct when forced), nothing for files in sync or waived, a release
/// for orphans that cannot simply be deleted.
pub(crate) fn file_route(
    state: FileState,
    reason: Option<Reason>,
    forced: bool,
    safe: Route,
) -> Route {
    match (state, reason) {
        (FileState::InSync | FileState::Waived, _) => Route::None,
        (FileState::Missing | FileState::Outdated | FileState::Merged, _) => safe,
        // Under force nothing is merged, so nothing is conflicted either;
        // were it so, the render still goes direct.
        (FileState::Drifted | FileState::Conflicted, _) if forced => Route::Direct,
        (FileState::Drifted | FileState::Conflicted, _) => Route::Proposal,
        (FileState::Orphaned, Some(Reason::NoLongerRendered)) => safe,
        (FileState::Orphaned, _) => Route::Release,
    }
}

/// The route of a file of `bundle` in `state`, and a note when it is
/// committed directly because the pull request outlived the bundle's
/// `direct_after`.
pub(crate) fn route_file(
    state: FileState,
    reason: Option<Reason>,
    bundle: &str,
    routing: &Routing,
    overdue: Option<&Overdue<'_>>,
    forced: bool,
) -> (Route, Option<String>) {
    let overdue = overdue.filter(|o| o.bundles.contains(bundle));
    let safe = if overdue.is_some() {
        Route::Direct
    } else {
        routing.route
    };
    let route = file_route(state, reason, forced, safe);
    let note = overdue
        .filter(|_| route == Route::Direct && routing.route == Route::Proposal)
        .map(|o| {
            format!(
                "committed directly: pull request #{} open for {}, longer than bundle `{bundle}`'s direct_after",
                o.number,
                crate::time::human(o.age)
            )
        });
    (route, note)
}

/// The delivery reason, extended when drift forces part of a direct
/// delivery onto the proposal branch.
pub(crate) fn describe_routing(base: &str, files: &[FilePlan], forced: bool) -> String {
    let drifted: Vec<&str> = files
        .iter()
        .filter(|f| f.state == FileState::Drifted && f.route == Route::Proposal)
        .map(|f| f.path.as_str())
        .collect();
    if forced || drifted.is_empty() || base.contains("`pr`") {
        return base.to_string();
    }
    format!(
        "{base}; drifted file{} {} proposed on the proposal branch instead (direct delivery never overwrites hand edits)",
        if drifted.len() == 1 { "" } else { "s" },
        drifted.join(", ")
    )
}

#[cfg(test)]
mod tests;
