//! Per-path planning: which paths a run manages (the `--bundle` scope),
//! and for each desired or locked path its [`FilePlan`]: state and reason
//! (see [`super::state`]), a drift waiver, a 3-way merge of hand edits
//! (see [`super::merging`]), and its route (see [`super::route`]).

use std::collections::{BTreeMap, BTreeSet};

use super::merging::{self, Earlier};
use super::route::{self, Overdue, Routing};
use super::{FilePlan, FileState, Reason, classify};
use crate::blob::{FileMode, ObjectId};
use crate::forge::FileEntry;
use crate::lock::LockEntry;
use crate::merge::MergeOutcome;
use crate::registry::Waiver;
use crate::render::DesiredFile;
use crate::time::Epoch;

/// The bundles a run considers (`--bundle`); every bundle when unfiltered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a>(Option<&'a BTreeSet<String>>);

impl<'a> Scope<'a> {
    pub(crate) fn new(bundles: Option<&'a BTreeSet<String>>) -> Scope<'a> {
        Scope(bundles)
    }

    /// Whether the run considers `bundle`'s paths.
    pub(crate) fn contains(self, bundle: &str) -> bool {
        self.0.is_none_or(|set| set.contains(bundle))
    }

    /// Whether a bundle filter is set.
    pub(crate) fn filtered(self) -> bool {
        self.0.is_some()
    }
}

/// Every path the run manages, sorted: desired or locked by a bundle in
/// scope.
pub(crate) fn managed_paths<'a>(
    desired: &BTreeMap<&'a str, &DesiredFile>,
    locked: &'a BTreeMap<String, LockEntry>,
    scope: Scope<'_>,
) -> BTreeSet<&'a str> {
    let wanted = desired
        .iter()
        .filter(|(_, d)| scope.contains(&d.bundle))
        .map(|(p, _)| *p);
    let recorded = locked
        .iter()
        .filter(|(_, l)| scope.contains(&l.bundle))
        .map(|(p, _)| p.as_str());
    wanted.chain(recorded).collect()
}

/// What planning the files of a repo reads.
pub(crate) struct FileContext<'a> {
    /// Desired files by path (every bundle's).
    pub(crate) desired: &'a BTreeMap<&'a str, &'a DesiredFile>,
    /// The default branch's lock entries.
    pub(crate) locked: &'a BTreeMap<String, LockEntry>,
    /// What the default branch holds, by path.
    pub(crate) observed: &'a BTreeMap<String, Option<FileEntry>>,
    pub(crate) waivers: &'a [Waiver],
    pub(crate) now: Epoch,
    pub(crate) forced: bool,
    /// Blob contents read for 3-way merges.
    pub(crate) contents: &'a BTreeMap<ObjectId, Vec<u8>>,
    pub(crate) routing: &'a Routing,
    pub(crate) overdue: Option<&'a Overdue<'a>>,
}

/// The three sides of one path: desired, locked, observed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sides<'a> {
    pub(crate) path: &'a str,
    pub(crate) want: Option<&'a DesiredFile>,
    pub(crate) locked: Option<&'a LockEntry>,
    pub(crate) observed: Option<FileEntry>,
}

impl<'a> FileContext<'a> {
    fn sides(&self, path: &'a str) -> Sides<'a> {
        Sides {
            path,
            want: self.desired.get(path).copied(),
            locked: self.locked.get(path),
            observed: self.observed.get(path).copied().flatten(),
        }
    }
}

/// The plans of `paths`, in order.
pub(crate) fn plan_files(ctx: &FileContext<'_>, paths: BTreeSet<&str>) -> Vec<FilePlan> {
    paths
        .into_iter()
        .filter_map(|path| plan_file(ctx, ctx.sides(path)))
        .collect()
}

/// Bundle, template and mode of a path: the render's, or for an orphan
/// the lock's. `None` for a path neither desired nor locked.
fn origin(s: &Sides<'_>) -> Option<(String, String, FileMode)> {
    match (s.want, s.locked) {
        (Some(d), _) => Some((d.bundle.clone(), d.template.clone(), d.mode)),
        (None, Some(l)) => Some((l.bundle.clone(), l.template.clone(), l.mode)),
        (None, None) => None,
    }
}

/// The plan of one path; `None` when it is none of distributor's business.
pub(crate) fn plan_file(ctx: &FileContext<'_>, s: Sides<'_>) -> Option<FilePlan> {
    let (bundle, template, mode) = origin(&s)?;
    let found = find(ctx, &s, &bundle)?;
    let (route, direct_note) = route::route_file(
        found.state,
        found.reason,
        &bundle,
        ctx.routing,
        ctx.overdue,
        ctx.forced,
    );
    Some(FilePlan {
        path: s.path.to_string(),
        state: found.state,
        reason: found.reason,
        route,
        bundle,
        template,
        desired: found.desired,
        rendered: found.rendered,
        mode,
        observed: s.observed,
        locked: s.locked.map(|l| l.blob),
        diff: None,
        merge: found.merge,
        note: found.note.or(direct_note),
        merge_needs: found.merge_needs,
    })
}

/// A path's state before routing, and what decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) state: FileState,
    pub(crate) reason: Option<Reason>,
    /// The blob to deliver (the render, or a merge of it).
    pub(crate) desired: Option<ObjectId>,
    /// The render, when `desired` keeps hand edits.
    pub(crate) rendered: Option<ObjectId>,
    pub(crate) note: Option<String>,
    pub(crate) merge: Option<MergeOutcome>,
    pub(crate) merge_needs: Vec<ObjectId>,
}

/// Classifies a path, then lets an earlier merge, a waiver and a 3-way
/// merge of hand edits refine its state.
pub(crate) fn find(ctx: &FileContext<'_>, s: &Sides<'_>, bundle: &str) -> Option<Finding> {
    let (state, reason) = classify(
        s.want.map(|d| (d.blob, d.mode)),
        s.observed,
        s.locked.map(|l| (l.blob, l.mode)),
    )?;
    let mut found = Finding {
        state,
        reason,
        desired: s.want.map(|d| d.blob),
        rendered: None,
        note: None,
        merge: None,
        merge_needs: Vec::new(),
    };
    let mut job = None;
    // Under --force no merge runs: every file gets exactly the render, a
    // file merged earlier (hand edits kept) included.
    let earlier = if ctx.forced {
        None
    } else {
        merging::earlier_merge(s, state)
    };
    match earlier {
        Some(Earlier::Unchanged { blob, rendered }) => {
            (found.state, found.reason) = (FileState::InSync, Some(Reason::HandEditsKept));
            found.desired = Some(blob);
            found.rendered = Some(rendered);
        }
        Some(Earlier::Changed(j)) => job = Some(j),
        None => {}
    }
    if found.state == FileState::Drifted && !ctx.forced {
        let waiver = ctx.waivers.iter().find(|w| w.covers(s.path, bundle));
        apply_waiver(&mut found, waiver, ctx.now);
    }
    let job = job.or_else(|| merging::drift_merge(s, found.state, found.reason, ctx.forced));
    if let Some(job) = job {
        let step = merging::resolve(s.path, &job, s.locked, ctx.contents);
        merging::apply(&mut found, &job, step);
    }
    Some(found)
}

/// A drifted file's waiver: while it holds the file is waived, with a note
/// saying by whom and until when; once expired the file is back in scope,
/// with a note saying so.
pub(crate) fn apply_waiver(found: &mut Finding, waiver: Option<&Waiver>, now: Epoch) {
    let Some(w) = waiver else { return };
    let why = w
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    if w.active(now) {
        found.state = FileState::Waived;
        found.note = Some(format!(
            "drift waived by {} until {}{why}",
            w.owner, w.expires
        ));
    } else {
        found.note = Some(format!(
            "the drift waiver by {} expired on {}{why}: back in scope",
            w.owner, w.expires
        ));
    }
}

/// The contents of merged files (render with hand edits kept), by blob id.
pub(crate) fn merged_contents(files: &[FilePlan]) -> BTreeMap<ObjectId, Vec<u8>> {
    files
        .iter()
        .filter(|f| f.state == FileState::Merged)
        .filter_map(|f| match (&f.merge, f.desired) {
            (Some(MergeOutcome::Clean { content, .. }), Some(id)) => Some((id, content.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
