//! The front half of every run: read the platform inputs, validate the
//! registry and templates (collecting every problem), render every repo,
//! and select the targets the filters name. Used by the CLI and by each
//! daemon cycle; nothing here touches a forge.

use std::path::PathBuf;

use anyhow::Result;

use crate::diag::Diagnostics;
use crate::registry::{self, ResolvedRepo};
use crate::render::TemplateSet;
use crate::source;
use crate::target::Target;

/// What to read and which repos and bundles to select.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub registry: PathBuf,
    pub templates: PathBuf,
    /// Only repos of these teams (empty: all).
    pub teams: Vec<String>,
    /// Only these repos, `OWNER/REPO` or `REPO` (empty: all).
    pub repos: Vec<String>,
    /// Only these bundles (checked to exist; scoping happens in planning).
    pub bundles: Vec<String>,
    /// Keep each target's template context (variables, environments,
    /// flags) after rendering, for `context`. Planning does not need it,
    /// and a large fleet should not hold it.
    pub keep_context: bool,
    /// Read the registry and templates as this platform commit holds them
    /// (`--source-rev`: a branch, tag, commit id or unique prefix) instead
    /// of from disk.
    pub source_rev: Option<String>,
    /// What asked for `source_rev`, as errors name it (default
    /// `--source-rev REV`; `rollback REV`; the fleet's pin).
    pub source_rev_origin: Option<String>,
}

/// Everything validated and rendered, ready for a forge.
pub struct Prepared {
    pub inputs: source::Inputs,
    /// Targets selected by the filters, in registry order.
    pub targets: Vec<Target>,
    /// Number of repos in the registry.
    pub all_repos: usize,
    pub teams: usize,
    /// The rollout policy: the registry's waves, limits and timers, and
    /// every bundle's labels and `direct_after`.
    pub rollout: registry::Rollout,
    /// The registry's stages, in order.
    pub stages: Vec<String>,
    /// The order flags are switched on (`flag_order`, else `stages`).
    pub flag_order: Vec<String>,
    /// Every flag the registry defines (defaults, teams, repos).
    pub flags: std::collections::BTreeSet<String>,
}

/// Reads, validates and renders everything; selects targets by filter.
/// Every problem is collected; nothing is returned unless all is valid.
pub fn prepare(g: &Selection) -> Result<Prepared> {
    let inputs = match &g.source_rev {
        Some(rev) => {
            let what = g
                .source_rev_origin
                .clone()
                .unwrap_or_else(|| format!("--source-rev {}", crate::diag::cut(rev)));
            source::read_inputs_at(&g.registry, &g.templates, rev, &what)?
        }
        None => source::read_inputs(&g.registry, &g.templates)?,
    };
    let registry_name = g.registry.display().to_string();
    let templates_name = g.templates.display().to_string();
    let mut diags = Diagnostics::default();

    let bundle_names: Vec<String> = inputs
        .template_files
        .keys()
        .filter_map(|p| p.strip_suffix(&format!("/{}", crate::render::bundle::MANIFEST)))
        .filter(|p| !p.contains('/'))
        .map(str::to_string)
        .collect();
    let templates = match TemplateSet::from_files(&templates_name, &inputs.template_files) {
        Ok(t) => Some(t),
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    // A registry that parses is rendered even when its semantic checks
    // fail, so one run reports template problems together with registry
    // problems.
    let registry = match registry::parse(&registry_name, &inputs.registry_text) {
        Ok(r) => {
            diags.extend(registry::validate::validate(
                &registry_name,
                &r,
                &bundle_names,
            ));
            Some(r)
        }
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    let (Some(templates), Some(registry)) = (templates, registry) else {
        return Err(diags.into());
    };
    let resolved = registry::resolve(&registry);

    // Filters must match something: a typo must not silently do nothing.
    for t in &g.teams {
        if !registry.teams.0.contains_key(t) {
            diags.push(
                "--team",
                format!(
                    "no team {t:?} in {registry_name}; teams: {}",
                    registry
                        .teams
                        .0
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    for r in &g.repos {
        if !resolved.iter().any(|x| repo_matches(x, r)) {
            diags.push("--repo", format!("no repo {r:?} in {registry_name}"));
        }
    }
    for b in &g.bundles {
        if !bundle_names.contains(b) {
            diags.push(
                "--bundle",
                format!(
                    "no bundle {b:?} in {templates_name}; bundles: {}",
                    bundle_names.join(", ")
                ),
            );
        }
    }

    // Render every repo, selected or not: a change is validated whole.
    let mut targets = Vec::new();
    let all_repos = resolved.len();
    for repo in resolved {
        match templates.render_repo(&repo) {
            Ok(desired) => {
                let selected = (g.teams.is_empty() || g.teams.contains(&repo.team))
                    && (g.repos.is_empty() || g.repos.iter().any(|r| repo_matches(&repo, r)));
                if selected {
                    let mut repo = repo;
                    if !g.keep_context {
                        repo.release_render_context();
                    }
                    // `--bundle` scoping happens in planning, which needs the
                    // other bundles' files to leave them as they are.
                    targets.push(Target { repo, desired });
                }
            }
            Err(d) => diags.extend(d),
        }
    }
    if !diags.is_empty() {
        return Err(diags.into());
    }
    let rollout = registry::Rollout::new(&registry, templates.bundle_policies());
    Ok(Prepared {
        inputs,
        targets,
        all_repos,
        teams: registry.teams.0.len(),
        rollout,
        stages: registry.stages.clone(),
        flag_order: registry
            .flag_order
            .clone()
            .unwrap_or_else(|| registry.stages.clone()),
        flags: flag_names(&registry),
    })
}

/// Every flag name the registry defines, at any layer.
fn flag_names(registry: &registry::Registry) -> std::collections::BTreeSet<String> {
    let mut names: std::collections::BTreeSet<String> =
        registry.defaults.flags.keys().cloned().collect();
    for team in registry.teams.0.values() {
        names.extend(team.flags.keys().cloned());
        names.extend(team.repos.iter().flat_map(|r| r.flags.keys().cloned()));
    }
    names
}

/// Whether `filter` (`OWNER/REPO` or `REPO`) names `repo`.
pub fn repo_matches(repo: &ResolvedRepo, filter: &str) -> bool {
    match filter.split_once('/') {
        Some((o, n)) => repo.owner.eq_ignore_ascii_case(o) && repo.name.eq_ignore_ascii_case(n),
        None => repo.name.eq_ignore_ascii_case(filter),
    }
}
