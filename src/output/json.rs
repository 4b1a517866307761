//! JSON documents with a stable, versioned shape (`schema` field), as
//! described in `docs/output.md`. Additive changes keep the version;
//! anything else bumps it.

use serde_json::{Value, json};

use super::{state_counts, summarize};
use crate::apply::ApplyReport;
use crate::plan::Plan;

/// Schema id of `plan --format json`.
pub const PLAN_SCHEMA: &str = "distributor.plan/v1";
/// Schema id of `status --format json`.
pub const STATUS_SCHEMA: &str = "distributor.status/v1";
/// Schema id of `apply --format json`.
pub const APPLY_SCHEMA: &str = "distributor.apply/v1";

/// The plan document.
pub fn plan(plan: &Plan) -> Value {
    let mut doc = json!({
        "schema": PLAN_SCHEMA,
        "source": plan.source,
        "generator": plan.generator,
        "force_reason": plan.force_reason,
        "summary": summarize(plan),
        "repos": plan.repos,
        "errors": plan.errors,
    });
    if let Some(r) = &plan.rollout {
        doc["rollout"] = json!(r);
    }
    doc
}

/// The status document: per repo state, per file state, proposal.
pub fn status(plan: &Plan) -> Value {
    let repos: Vec<Value> = plan
        .repos
        .iter()
        .map(|r| {
            json!({
                "repo": r.repo.to_string(),
                "team": r.team,
                "status": r.status(),
                "default_branch": r.default_branch,
                "tip": r.tip,
                "counts": state_counts(r).into_iter().map(|(k, v)| (k.as_str().to_string(), Value::from(v))).collect::<serde_json::Map<_, _>>(),
                "files": r.files.iter().map(|f| {
                    let mut v = json!({
                        "path": f.path,
                        "state": f.state,
                        "reason": f.reason,
                        "bundle": f.bundle,
                    });
                    if let Some(n) = &f.note {
                        v["note"] = json!(n);
                    }
                    if let Some(m) = &f.merge {
                        v["merge"] = json!(m);
                    }
                    v
                }).collect::<Vec<_>>(),
                "proposal": super::describe_proposal(r),
                "pull_request": r.open_pull_request,
                "wave": r.wave,
                "policy": r.policy.as_ref().map(|p| &p.decision),
                "staleness": r.policy.as_ref().map(|p| &p.staleness),
                "error": null,
            })
        })
        .chain(plan.errors.iter().map(|e| {
            json!({
                "repo": e.repo.to_string(),
                "status": "error",
                "error": e.error,
            })
        }))
        .collect();
    json!({
        "schema": STATUS_SCHEMA,
        "source": plan.source,
        "summary": summarize(plan),
        "rollout": plan.rollout,
        "repos": repos,
    })
}

/// The apply document.
pub fn apply(plan_source: &crate::lock::Source, report: &ApplyReport) -> Value {
    json!({
        "schema": APPLY_SCHEMA,
        "source": plan_source,
        "changed": report.repos.iter().filter(|r| r.files_changed > 0 && r.error.is_none()).count(),
        "failed": report.failed(),
        "repos": report.repos,
    })
}
