//! A plan organised for a fleet: what this platform revision changes,
//! grouped by what changed (template file, flag, variable), with its blast
//! radius (teams, repos, environments, delivery routes, what waits and
//! why), apart from what was already pending before it (unmerged
//! proposals of earlier revisions, drift, changes not yet delivered).
//!
//! A planned file change is this revision's when the render of the
//! previous platform revision ([`baseline::Baseline`]) differs from the
//! render now at that path of that repo; otherwise the change was already
//! pending. [`summarize`] is pure (plan + baseline + environments in, a
//! [`FleetSummary`] out); `output` only formats it.

pub mod baseline;
pub mod inputs;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

pub use baseline::Baseline;
pub use inputs::{InputChange, InputKind};

use crate::forge::RepoId;
use crate::plan::verdict::Decision;
use crate::plan::{FilePlan, FileState, Plan, ProposalPlan, RepoPlan, Route};

/// Version of the `fleet` member of `distributor.plan/v1` documents.
pub const FLEET_SCHEMA: &str = "distributor.fleet/v1";

/// What [`summarize`] needs besides the plan.
#[derive(Debug, Default)]
pub struct Context<'a> {
    /// The previous revision's render; `None`: none to compare with.
    pub baseline: Option<&'a Baseline>,
    /// Environment names per repo (from the registry).
    pub environments: BTreeMap<RepoId, Vec<String>>,
}

/// The fleet view of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct FleetSummary {
    pub schema: &'static str,
    /// The revision planned.
    pub revision: String,
    /// The revision compared with; `None` when there is none, and then
    /// every pending change is counted as this revision's.
    pub baseline: Option<String>,
    /// What changed in the platform inputs.
    pub inputs: Vec<InputChange>,
    /// This revision's changes, one group per template and cause.
    pub changes: Vec<ChangeGroup>,
    /// Already pending before this revision.
    pub pending_before: Pending,
    /// Per repo with changes: (files of this revision, files pending
    /// before), for the per-repo lines.
    #[serde(skip)]
    pub by_repo: BTreeMap<RepoId, (usize, usize)>,
}

/// One thing this revision changes and everything it reaches.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChangeGroup {
    /// `template`, `flag`, `variable`, `registry` (the causes' kinds, the
    /// template first), or `unknown` without a baseline.
    pub kind: String,
    /// The template sources the changed files are rendered from (groups
    /// with the same causes and the same reach are one group).
    pub templates: Vec<String>,
    /// The input changes that make it render differently.
    pub causes: Vec<String>,
    /// Paths written in the target repos.
    pub files: Vec<String>,
    pub teams: Vec<String>,
    pub repos: Vec<String>,
    /// Environments of the repos reached (or only those the changed
    /// registry paths name).
    pub environments: Vec<String>,
    /// Production environments among them (`prd`, `prod`, `production`).
    pub production: Vec<String>,
    pub routes: Routes,
    pub waits: Vec<Wait>,
}

/// How the changes reach the repos, in repos.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Routes {
    pub direct_commits: usize,
    /// Proposals (pull requests on GitHub) opened.
    pub proposals_opened: usize,
    /// Open proposals updated.
    pub proposals_updated: usize,
    /// Files no longer managed (released, nothing written).
    pub released: usize,
}

/// Repos that wait, by decision and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wait {
    /// `queued`, `held` or `halted`.
    pub decision: String,
    pub reason: String,
    pub repos: Vec<String>,
}

/// What was pending before this revision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// Repos with at least one such change.
    pub repos: usize,
    pub files: usize,
    /// Repos whose unmerged proposal carries earlier changes.
    pub unmerged_proposals: Vec<String>,
    /// Files edited by hand (drifted or conflicted).
    pub drifted_files: usize,
    /// Other changes of earlier revisions not delivered yet.
    pub undelivered_files: usize,
}

/// The fleet view of `plan` (see the module documentation).
pub fn summarize(plan: &Plan, cx: &Context<'_>) -> FleetSummary {
    let mut groups: BTreeMap<(String, Vec<String>), Acc> = BTreeMap::new();
    let mut pending = Pending::default();
    let mut proposals = BTreeSet::new();
    let mut by_repo = BTreeMap::new();
    for r in &plan.repos {
        let mut earlier = 0;
        let mut now = 0;
        for f in r.changes() {
            if caused(r, f, cx.baseline) {
                now += 1;
                let causes = causes(f, cx.baseline);
                groups
                    .entry((f.template.clone(), causes))
                    .or_default()
                    .add(r, f);
            } else {
                earlier += 1;
                if matches!(f.state, FileState::Drifted | FileState::Conflicted) {
                    pending.drifted_files += 1;
                } else {
                    pending.undelivered_files += 1;
                }
            }
        }
        if now + earlier > 0 {
            by_repo.insert(r.repo.clone(), (now, earlier));
        }
        let unmerged = matches!(
            r.proposal,
            ProposalPlan::UpToDate { .. } | ProposalPlan::Update { .. }
        ) || matches!(r.proposal, ProposalPlan::HumanEdited { pending: true, .. });
        if earlier > 0 || (unmerged && !r.has_writes()) {
            pending.repos += 1;
            pending.files += earlier;
            if unmerged {
                proposals.insert(r.repo.to_string());
            }
        }
    }
    pending.unmerged_proposals = proposals.into_iter().collect();
    FleetSummary {
        schema: FLEET_SCHEMA,
        revision: plan.source.revision.clone(),
        baseline: cx.baseline.map(|b| b.revision.clone()),
        inputs: cx.baseline.map(|b| b.inputs.clone()).unwrap_or_default(),
        changes: merge(
            groups
                .into_iter()
                .map(|((template, causes), acc)| acc.finish(template, causes, plan, cx))
                .collect(),
        ),
        pending_before: pending,
        by_repo,
    }
}

/// Whether this revision causes `f`'s change: the render differs from the
/// previous revision's (no baseline: every change counts).
fn caused(r: &RepoPlan, f: &FilePlan, baseline: Option<&Baseline>) -> bool {
    let Some(b) = baseline else { return true };
    let now = f.rendered.or(f.desired);
    now != b.blob(&r.repo, &f.path)
}

/// The input changes that explain a change of `f`: its own template's
/// change, else every registry change (which value a template reads is
/// not known without rendering each one).
fn causes(f: &FilePlan, baseline: Option<&Baseline>) -> Vec<String> {
    let Some(b) = baseline else { return Vec::new() };
    let own: Vec<String> = b
        .inputs
        .iter()
        .filter(|c| c.kind == InputKind::Template && c.name == f.template)
        .map(|c| format!("template {} {}", c.name, c.detail))
        .collect();
    if !own.is_empty() {
        return own;
    }
    let mut seen = BTreeSet::new();
    b.inputs
        .iter()
        .filter(|c| c.kind != InputKind::Template)
        .filter(|c| seen.insert((c.kind, c.name.clone())))
        .map(|c| format!("{} {}", c.kind.as_str(), c.name))
        .collect()
}

/// A group being collected.
#[derive(Default)]
struct Acc {
    files: BTreeSet<String>,
    repos: BTreeMap<String, (String, RepoId)>,
    routes: BTreeMap<String, Route>,
}

impl Acc {
    fn add(&mut self, r: &RepoPlan, f: &FilePlan) {
        self.files.insert(f.path.clone());
        self.repos
            .insert(r.repo.to_string(), (r.team.clone(), r.repo.clone()));
        self.routes.entry(r.repo.to_string()).or_insert(f.route);
    }

    fn finish(
        self,
        template: String,
        causes: Vec<String>,
        plan: &Plan,
        cx: &Context<'_>,
    ) -> ChangeGroup {
        let by_name: BTreeMap<String, &RepoPlan> = plan
            .repos
            .iter()
            .filter(|r| self.repos.contains_key(&r.repo.to_string()))
            .map(|r| (r.repo.to_string(), r))
            .collect();
        let named = named_environments(&causes, cx);
        let mut envs = BTreeSet::new();
        for (_, id) in self.repos.values() {
            for e in cx.environments.get(id).into_iter().flatten() {
                if named.is_empty() || named.contains(e) {
                    envs.insert(e.clone());
                }
            }
        }
        let mut routes = Routes::default();
        let mut waits: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (name, r) in &by_name {
            match (self.routes.get(name), &r.proposal) {
                (Some(Route::Direct), _) => routes.direct_commits += 1,
                (Some(Route::Release), _) => routes.released += 1,
                (_, ProposalPlan::Update { .. }) => routes.proposals_updated += 1,
                _ => routes.proposals_opened += 1,
            }
            if let Some((d, reason)) = r.policy.as_ref().and_then(|p| wait(&p.decision)) {
                waits.entry((d, reason)).or_default().push(name.clone());
            }
        }
        let kind = kind(&causes, cx.baseline.is_some());
        ChangeGroup {
            kind,
            templates: vec![template],
            causes,
            files: self.files.into_iter().collect(),
            teams: self
                .repos
                .values()
                .map(|(t, _)| t.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            repos: self.repos.keys().cloned().collect(),
            production: envs.iter().filter(|e| is_production(e)).cloned().collect(),
            environments: envs.into_iter().collect(),
            routes,
            waits: waits
                .into_iter()
                .map(|((decision, reason), repos)| Wait {
                    decision,
                    reason,
                    repos,
                })
                .collect(),
        }
    }
}

/// Groups with the same causes and the same reach (repos, environments,
/// routes, waits) as one: a new bundle's files, or a first rollout, read as
/// one change, not one per template.
fn merge(groups: Vec<ChangeGroup>) -> Vec<ChangeGroup> {
    let mut out: Vec<ChangeGroup> = Vec::new();
    for g in groups {
        let same = out.iter_mut().find(|o| {
            o.kind == g.kind
                && o.causes == g.causes
                && o.repos == g.repos
                && o.environments == g.environments
                && o.routes == g.routes
                && o.waits == g.waits
        });
        match same {
            Some(o) => {
                o.templates.extend(g.templates);
                o.files.extend(g.files);
                o.files.sort();
                o.files.dedup();
            }
            None => out.push(g),
        }
    }
    out
}

/// Environments a registry cause's path names (`...new_db.prd`): a change
/// of one environment's value reaches that environment only.
fn named_environments(causes: &[String], cx: &Context<'_>) -> BTreeSet<String> {
    let Some(b) = cx.baseline else {
        return BTreeSet::new();
    };
    let known: BTreeSet<&String> = cx.environments.values().flatten().collect();
    let mut out = BTreeSet::new();
    for c in b.inputs.iter().filter(|c| c.kind != InputKind::Template) {
        if !causes.contains(&format!("{} {}", c.kind.as_str(), c.name)) {
            continue;
        }
        let path = c.detail.split(':').next().unwrap_or_default();
        let segments: Vec<&str> = path.split('.').collect();
        let envs: Vec<&&str> = segments
            .iter()
            .filter(|s| known.iter().any(|k| k.as_str() == **s))
            .collect();
        if envs.is_empty() {
            return BTreeSet::new(); // a fleet-wide value: every environment
        }
        out.extend(envs.into_iter().map(|s| s.to_string()));
    }
    out
}

fn kind(causes: &[String], have_baseline: bool) -> String {
    if !have_baseline {
        return "unknown".into();
    }
    let kinds: BTreeSet<&str> = causes.iter().filter_map(|c| c.split(' ').next()).collect();
    if kinds.is_empty() {
        "registry".into()
    } else {
        kinds.into_iter().collect::<Vec<_>>().join("+")
    }
}

/// `prd`, `prod`, `production` (any case, or as a prefix like `prd-eu`).
pub fn is_production(env: &str) -> bool {
    let e = env.to_ascii_lowercase();
    ["prd", "prod", "production"]
        .iter()
        .any(|p| e == *p || e.starts_with(&format!("{p}-")) || e.starts_with(&format!("{p}_")))
}

fn wait(d: &Decision) -> Option<(String, String)> {
    match d {
        Decision::Queued { reason, .. } => Some(("queued".into(), reason.clone())),
        Decision::Held { reason, .. } => Some(("held".into(), reason.clone())),
        Decision::Halted { reason } => Some(("halted".into(), reason.clone())),
        _ => None,
    }
}

/// `a, b, c and 4 more`.
pub fn first_few(names: &[String], n: usize) -> String {
    if names.len() <= n {
        return names.join(", ");
    }
    format!("{} and {} more", names[..n].join(", "), names.len() - n)
}
