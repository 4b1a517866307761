//! Test fixtures of planning: repos, desired files, branches, locks and
//! proposals built by hand, and `plan_repo` run on them.

use std::collections::BTreeMap;

use super::*;
use crate::blob::blob_id;
use crate::forge::{BranchSnapshot, ProposalSnapshot};
use crate::lock::{Lock, LockEntry};
use crate::registry::{parse, resolve};

pub(crate) fn repo(delivery: &str) -> ResolvedRepo {
    let text = format!(
        r#"{{"version": 1, "stages": ["dev"],
            "defaults": {{"owner": "acme", "delivery": "{delivery}"}},
            "teams": {{"t": {{"owners": {{"users": ["u"]}}, "repos": [{{"name": "r"}}]}}}}}}"#
    );
    resolve(&parse("t.json", &text).unwrap()).remove(0)
}

pub(crate) fn desired(path: &str, content: &str) -> DesiredFile {
    DesiredFile {
        path: path.into(),
        content: content.as_bytes().to_vec(),
        mode: FileMode::Regular,
        blob: blob_id(content.as_bytes()),
        bundle: "b".into(),
        template: format!("b/{path}.j2"),
        flag_reads: Default::default(),
    }
}

pub(crate) fn oid(n: u8) -> ObjectId {
    blob_id(&[n])
}

pub(crate) fn entry(content: &str) -> Option<FileEntry> {
    Some(FileEntry {
        blob: blob_id(content.as_bytes()),
        mode: Some(FileMode::Regular),
    })
}

pub(crate) fn lock_of(files: &[(&str, &str)]) -> Vec<u8> {
    Lock {
        version: 1,
        source: Source {
            revision: "old".into(),
            dirty: false,
            digest: None,
        },
        generator: "distributor 0.0.1".into(),
        files: files
            .iter()
            .map(|(p, c)| {
                (
                    p.to_string(),
                    LockEntry {
                        rendered: None,
                        rendered_text: None,
                        bundle: "b".into(),
                        template: format!("b/{p}.j2"),
                        blob: blob_id(c.as_bytes()),
                        mode: FileMode::Regular,
                    },
                )
            })
            .collect(),
    }
    .to_bytes()
}

pub(crate) fn branch(files: &[(&str, Option<FileEntry>)], lock: Option<Vec<u8>>) -> BranchSnapshot {
    BranchSnapshot {
        name: "main".into(),
        tip: Some(oid(1)),
        files: files.iter().map(|(p, e)| (p.to_string(), *e)).collect(),
        lock,
        checks: None,
    }
}

pub(crate) fn observe(
    default: BranchSnapshot,
    proposal: Option<ProposalSnapshot>,
) -> RepoObservation {
    RepoObservation {
        repo: RepoId::new("acme", "r"),
        default_branch: default,
        proposal,
        pull_request: None,
        web_url: None,
        closed_pull_request: None,
    }
}

/// A plan of no repos for revision `a…a` (40 digits), delivering
/// `rollback` if given: for the views' tests.
pub(crate) fn empty_plan(rollback: Option<super::message::Rollback>) -> super::Plan {
    super::Plan {
        source: Source {
            revision: "a".repeat(40),
            dirty: false,
            digest: None,
        },
        generator: "distributor test".into(),
        force_reason: None,
        rollback,
        repos: Vec::new(),
        errors: Vec::new(),
        rollout: None,
    }
}

pub(crate) fn settings() -> PlanSettings {
    PlanSettings {
        source: Source {
            revision: "abc".into(),
            dirty: false,
            digest: None,
        },
        force_reason: None,
        bundles: None,
        now: 0,
        direct_after: Default::default(),
        bundle_labels: Default::default(),
        rollback: None,
    }
}

pub(crate) fn plan(
    repo: &ResolvedRepo,
    desired: &[DesiredFile],
    obs: &RepoObservation,
) -> RepoPlan {
    plan_with(repo, desired, obs, &settings())
}

pub(crate) fn plan_with(
    repo: &ResolvedRepo,
    desired: &[DesiredFile],
    obs: &RepoObservation,
    settings: &PlanSettings,
) -> RepoPlan {
    plan_repo(PlanInput {
        repo,
        desired,
        observation: obs,
        settings,
        direct_refused: None,
        pull_requests: false,
        contents: &BTreeMap::new(),
    })
    .unwrap()
}

pub(crate) fn routes(p: &RepoPlan) -> BTreeMap<String, (FileState, Route)> {
    p.files
        .iter()
        .map(|f| (f.path.clone(), (f.state, f.route)))
        .collect()
}

pub(crate) fn proposal(
    files: &[(&str, Option<FileEntry>)],
    base: ObjectId,
    ours: bool,
) -> ProposalSnapshot {
    // The branch's own lock lists what it carries (content irrelevant here).
    let listed: Vec<(&str, &str)> = files.iter().map(|(p, _)| (*p, "")).collect();
    ProposalSnapshot {
        branch: BranchSnapshot {
            name: "distributor/sync".into(),
            tip: Some(oid(9)),
            files: files.iter().map(|(p, e)| (p.to_string(), *e)).collect(),
            lock: Some(lock_of(&listed)),
            checks: None,
        },
        base: Some(base),
        base_snapshot: None,
        by_distributor: ours,
        contains_default: false,
    }
}

/// A file's plan with only what the lock and proposal steps read set:
/// bundle `b`, a regular file, the blob of `content` (`None`: an orphan).
pub(crate) fn file(path: &str, state: FileState, route: Route, content: Option<&str>) -> FilePlan {
    FilePlan {
        path: path.into(),
        state,
        reason: None,
        route,
        bundle: "b".into(),
        template: format!("b/{path}.j2"),
        desired: content.map(|c| blob_id(c.as_bytes())),
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

/// The lock entry of bundle `b` for a regular file of `content`.
pub(crate) fn lock_entry(path: &str, content: &str) -> LockEntry {
    LockEntry {
        bundle: "b".into(),
        template: format!("b/{path}.j2"),
        blob: blob_id(content.as_bytes()),
        mode: FileMode::Regular,
        rendered: None,
        rendered_text: None,
    }
}
