//! The baseline a plan's changes are compared with: every repo rendered
//! from the platform revision before the one being planned (see
//! [`crate::source::previous_inputs`]), as blob ids, plus what changed in
//! the inputs between the two. Reading the older revision is the edge;
//! everything after is pure.

use std::collections::BTreeMap;

use super::inputs::{self, InputChange};
use crate::blob::ObjectId;
use crate::forge::RepoId;
use crate::render::TemplateSet;
use crate::source::Inputs;

/// The render of the previous platform revision.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// Commit id of the previous revision.
    pub revision: String,
    /// Per repo, per path: the blob that revision renders. A repo absent
    /// here was not in that revision's registry.
    pub blobs: BTreeMap<RepoId, BTreeMap<String, ObjectId>>,
    /// What changed in the inputs since then, sorted.
    pub inputs: Vec<InputChange>,
}

impl Baseline {
    /// The blob the previous revision renders at `path` of `repo`.
    pub fn blob(&self, repo: &RepoId, path: &str) -> Option<ObjectId> {
        self.blobs.get(repo)?.get(path).copied()
    }
}

/// Reads and renders the previous platform revision. `None` when there
/// is none (see [`crate::source::previous_inputs`]) or it does not
/// validate or render (then nothing can be told apart).
pub fn read(now: &Inputs) -> Option<Baseline> {
    let (revision, before) = crate::source::previous_inputs(now)?;
    let blobs = render(&before)?;
    let mut changes = inputs::template_changes(&before.template_files, &now.template_files);
    changes.extend(inputs::registry_changes(
        &before.registry_text,
        &now.registry_text,
    ));
    changes.sort();
    Some(Baseline {
        revision,
        blobs,
        inputs: changes,
    })
}

/// Every repo's desired blobs under `inputs`; `None` on any problem.
fn render(inputs: &Inputs) -> Option<BTreeMap<RepoId, BTreeMap<String, ObjectId>>> {
    let templates = TemplateSet::from_files("templates", &inputs.template_files).ok()?;
    let registry = crate::registry::load(
        "registry.json",
        &inputs.registry_text,
        &templates.bundle_names(),
    )
    .ok()?;
    let mut out = BTreeMap::new();
    for repo in crate::registry::resolve(&registry) {
        let desired = templates.render_repo(&repo).ok()?;
        out.insert(
            RepoId::new(&repo.owner, &repo.name),
            desired.into_iter().map(|d| (d.path, d.blob)).collect(),
        );
    }
    Some(out)
}

/// Environment names per planned repo, as the prepared targets keep them
/// after rendering (resolving the registry again cost 40 MB at 10,000
/// repos, at the plan's peak).
pub fn environments(targets: &[crate::target::Target]) -> BTreeMap<RepoId, Vec<String>> {
    targets
        .iter()
        .map(|t| (t.id(), t.repo.env_stages.clone()))
        .collect()
}
