//! JSON documents with a stable, versioned shape (`schema` field), as
//! described in `docs/output.md`. Additive changes keep the version;
//! anything else bumps it.
//!
//! Documents are written as they are made: the per-repo arrays are streamed
//! one element at a time ([`write_plan`], [`write_status`], [`write_apply`]),
//! so a fleet of ten thousand repos never holds a second copy of its plan
//! as a JSON tree. The output is the same as pretty-printing the whole
//! document: two-space indentation, object keys sorted.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Value, json};

use super::record::StatusView;
use super::summarize;
use crate::apply::ApplyReport;
use crate::plan::Plan;

/// Schema id of `plan --format json`.
pub const PLAN_SCHEMA: &str = "distributor.plan/v1";
/// Schema id of `status --format json`.
pub const STATUS_SCHEMA: &str = "distributor.status/v1";
/// Schema id of `apply --format json`.
pub const APPLY_SCHEMA: &str = "distributor.apply/v1";

/// One member of a streamed document: a value, or an array streamed one
/// element at a time.
enum Member<'a> {
    Value(Value),
    Array(Box<dyn Iterator<Item = Value> + 'a>),
}

/// Writes `value` pretty-printed, indented as if nested `depth` levels.
fn write_nested(out: &mut dyn Write, value: &Value, depth: usize) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    let pad = "  ".repeat(depth);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
            out.write_all(pad.as_bytes())?;
        }
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Writes a top-level object whose members are given in any order (they
/// are written sorted by key, as `serde_json` sorts a whole document).
fn write_document(out: &mut dyn Write, mut members: Vec<(&str, Member<'_>)>) -> io::Result<()> {
    members.sort_by(|a, b| a.0.cmp(b.0));
    out.write_all(b"{")?;
    for (i, (key, member)) in members.into_iter().enumerate() {
        out.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        write_nested(out, &Value::from(key), 1)?;
        out.write_all(b": ")?;
        match member {
            Member::Value(v) => write_nested(out, &v, 1)?,
            Member::Array(items) => {
                let mut any = false;
                for item in items {
                    out.write_all(if any { b",\n    " } else { b"[\n    " })?;
                    write_nested(out, &item, 2)?;
                    any = true;
                }
                out.write_all(if any { b"\n  ]" } else { b"[]" })?;
            }
        }
    }
    out.write_all(b"\n}\n")
}

/// A serializable value as a JSON tree (keys sorted).
fn tree(value: &impl Serialize) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| json!({ "serialization_error": e.to_string() }))
}

/// Writes the plan document (see [`plan`]), streaming its repos; its
/// `fleet` member is made without a previous revision to compare with.
pub fn write_plan(out: &mut dyn Write, plan: &Plan) -> io::Result<()> {
    let fleet = crate::fleet::summarize(plan, &Default::default());
    write_plan_with(out, plan, &fleet)
}

/// Writes the plan document with its `fleet` member
/// (`distributor.fleet/v1`: this revision's changes, what was pending).
pub fn write_plan_with(
    out: &mut dyn Write,
    plan: &Plan,
    fleet: &crate::fleet::FleetSummary,
) -> io::Result<()> {
    let mut members = vec![
        ("fleet", Member::Value(tree(fleet))),
        ("schema", Member::Value(json!(PLAN_SCHEMA))),
        ("source", Member::Value(tree(&plan.source))),
        ("generator", Member::Value(json!(plan.generator))),
        ("force_reason", Member::Value(json!(plan.force_reason))),
        ("summary", Member::Value(tree(&summarize(plan)))),
        (
            "repos",
            Member::Array(Box::new(plan.repos.iter().map(tree))),
        ),
        (
            "errors",
            Member::Array(Box::new(plan.errors.iter().map(tree))),
        ),
    ];
    if let Some(r) = &plan.rollout {
        members.push(("rollout", Member::Value(tree(r))));
    }
    if let Some(r) = &plan.rollback {
        members.push(("rollback", Member::Value(tree(r))));
    }
    write_document(out, members)
}

/// Writes the status document (see [`status`]), streaming its repos.
pub fn write_status(out: &mut dyn Write, view: &StatusView<'_>) -> io::Result<()> {
    let plan = view.plan;
    let mut members = vec![
        ("schema", Member::Value(json!(STATUS_SCHEMA))),
        ("source", Member::Value(tree(&plan.source))),
        ("summary", Member::Value(tree(&summarize(plan)))),
        ("totals", Member::Value(tree(&view.totals))),
        ("rollout", Member::Value(tree(&plan.rollout))),
        (
            "repos",
            Member::Array(Box::new(view.records.iter().map(tree))),
        ),
    ];
    if let Some(pin) = view.pin {
        members.push(("pin", Member::Value(tree(pin))));
    }
    write_document(out, members)
}

/// Writes the apply document (see [`apply`]), streaming its repos.
pub fn write_apply(
    out: &mut dyn Write,
    plan_source: &crate::lock::Source,
    rollback: Option<&crate::plan::message::Rollback>,
    report: &ApplyReport,
) -> io::Result<()> {
    let mut members = vec![
        ("schema", Member::Value(json!(APPLY_SCHEMA))),
        ("source", Member::Value(tree(plan_source))),
    ];
    if let Some(r) = rollback {
        members.push(("rollback", Member::Value(tree(r))));
    }
    write_document(
        out,
        members
            .into_iter()
            .chain([
                ("changed", Member::Value(json!(changed(report)))),
                ("failed", Member::Value(json!(report.failed()))),
                ("outcomes", Member::Value(json!(report.tally()))),
                (
                    "repos",
                    Member::Array(Box::new(report.repos.iter().map(tree))),
                ),
            ])
            .collect(),
    )
}

fn changed(report: &ApplyReport) -> usize {
    report
        .repos
        .iter()
        .filter(|r| r.files_changed > 0 && r.error.is_none())
        .count()
}

/// The plan document as one JSON tree (tests; [`write_plan`] streams).
pub fn plan(plan: &Plan) -> Value {
    let mut doc = json!({
        "schema": PLAN_SCHEMA,
        "source": plan.source,
        "generator": plan.generator,
        "force_reason": plan.force_reason,
        "summary": summarize(plan),
        "repos": plan.repos,
        "errors": plan.errors,
        "fleet": crate::fleet::summarize(plan, &Default::default()),
    });
    if let Some(r) = &plan.rollout {
        doc["rollout"] = json!(r);
    }
    if let Some(r) = &plan.rollback {
        doc["rollback"] = json!(r);
    }
    doc
}

/// The status document as one JSON tree: the totals, the rollout, the
/// pin (absent unless a rollback holds the fleet) and one record per repo
/// ([`write_status`] streams it).
pub fn status(view: &StatusView<'_>) -> Value {
    let mut doc = json!({
        "schema": STATUS_SCHEMA,
        "source": view.plan.source,
        "summary": summarize(view.plan),
        "totals": view.totals,
        "rollout": view.plan.rollout,
        "repos": view.records,
    });
    if let Some(pin) = view.pin {
        doc["pin"] = json!(pin);
    }
    doc
}

/// The apply document as one JSON tree ([`write_apply`] streams it).
pub fn apply(plan_source: &crate::lock::Source, report: &ApplyReport) -> Value {
    json!({
        "schema": APPLY_SCHEMA,
        "source": plan_source,
        "changed": changed(report),
        "failed": report.failed(),
        "outcomes": report.tally(),
        "repos": report.repos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::record::{PinRecord, Reader};

    fn pinned_plan(pin: Option<PinRecord>) -> Plan {
        crate::plan::fixtures::empty_plan(pin)
    }

    /// `pin` in `status` and `rollback` in the plan carry the plan's
    /// rollback note, streamed as in the tree; both are absent unpinned.
    #[test]
    fn a_pinned_fleet_s_documents_carry_the_pin() {
        let pin = PinRecord {
            to: "a".repeat(40),
            from: vec!["b".repeat(40)],
            reason: "broke builds".into(),
            operator: "olivia".into(),
            since: "2026-12-02T08:00:00Z".into(),
        };
        let want = json!({"to": "a".repeat(40), "from": ["b".repeat(40)], "reason": "broke builds",
                          "operator": "olivia", "since": "2026-12-02T08:00:00Z"});
        for (pin, want) in [(Some(pin), want), (None, Value::Null)] {
            let plan = pinned_plan(pin);
            let view = StatusView::new(&plan, Reader::Cli, 0);
            let mut out = Vec::new();
            write_status(&mut out, &view).unwrap();
            let streamed: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(streamed, status(&view));
            assert_eq!(streamed.get("pin").cloned().unwrap_or(Value::Null), want);
            let mut out = Vec::new();
            write_plan(&mut out, &plan).unwrap();
            let streamed: Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(streamed, super::plan(&plan));
            assert_eq!(
                streamed.get("rollback").cloned().unwrap_or(Value::Null),
                want
            );
        }
    }

    /// The streamed document is byte for byte the pretty-printed tree.
    #[test]
    fn streaming_writes_the_same_document_as_the_tree() {
        let mut members = vec![
            (
                "zeta",
                Member::Value(json!({"b": [1, {"x": "a\nb"}], "a": null})),
            ),
            ("alpha", Member::Value(json!("s"))),
            (
                "items",
                Member::Array(Box::new(
                    vec![json!({"k": 1, "j": [true]}), json!([]), json!({})].into_iter(),
                )),
            ),
            ("empty", Member::Array(Box::new(std::iter::empty()))),
        ];
        let tree = json!({
            "zeta": {"b": [1, {"x": "a\nb"}], "a": null},
            "alpha": "s",
            "items": [{"k": 1, "j": [true]}, [], {}],
            "empty": [],
        });
        let mut out = Vec::new();
        write_document(&mut out, std::mem::take(&mut members)).unwrap();
        let want = format!("{}\n", serde_json::to_string_pretty(&tree).unwrap());
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}
