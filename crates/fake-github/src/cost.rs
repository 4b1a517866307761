//! GraphQL resource limits: how big a query is (nodes and aliases), and
//! GitHub's answers when it is too big: a `RESOURCE_LIMITS_EXCEEDED` error
//! (HTTP 200, `data: null`) for a query over the node or alias budget, and a
//! 502 "Something went wrong while executing your query" when the time the
//! query takes (its nodes times the latency per node) passes the timeout
//! (GitHub's is 10 s). Mutations count toward neither.
//!
//! A query's nodes: every field selected is one node, and a connection
//! field with `first`/`last: n` multiplies what it selects by `n` (GitHub's
//! node limit multiplies the same way). Aliases: every aliased field.

use std::time::Duration;

use apollo_compiler::ExecutableDocument;
use apollo_compiler::ast::Value as AstValue;
use apollo_compiler::executable::{Operation, Selection, SelectionSet};
use apollo_compiler::response::JsonMap;
use serde_json::{Value, json};

/// Budgets and timing of GraphQL queries (set through [`crate::Config`] or
/// the handle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Model {
    pub node_budget: Option<u64>,
    pub alias_budget: Option<u64>,
    pub latency_per_node: Duration,
    pub timeout: Duration,
}

/// The size of one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Size {
    pub nodes: u64,
    pub aliases: u64,
}

/// What the model says of a query of `size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Run it after this much time.
    Run(Duration),
    /// Over a budget: answer 200 with this body.
    Refuse(Value),
    /// Takes the whole timeout, then 502.
    TimeOut(Duration),
}

impl Model {
    pub(crate) fn judge(&self, size: Size) -> Verdict {
        let over = self.node_budget.is_some_and(|b| size.nodes > b)
            || self.alias_budget.is_some_and(|b| size.aliases > b);
        if over {
            return Verdict::Refuse(json!({
                "data": null,
                "errors": [{
                    "type": "RESOURCE_LIMITS_EXCEEDED",
                    "message": "Resource limits for this query exceeded.",
                }]
            }));
        }
        let nodes = u32::try_from(size.nodes).unwrap_or(u32::MAX);
        let time = self.latency_per_node.saturating_mul(nodes);
        if !self.latency_per_node.is_zero() && time >= self.timeout {
            Verdict::TimeOut(self.timeout)
        } else {
            Verdict::Run(time)
        }
    }
}

/// GitHub's answer to a query that ran out of time (HTTP 502).
pub(crate) fn timeout_body(request_id: &str) -> Value {
    json!({
        "data": null,
        "errors": [{
            "message": format!("Something went wrong while executing your query. This may be the result of a timeout, or it could be a GitHub bug. Please include `{request_id}` when reporting this issue."),
        }]
    })
}

/// The size of `operation`.
pub(crate) fn size(document: &ExecutableDocument, operation: &Operation, vars: &JsonMap) -> Size {
    let mut size = Size::default();
    size.nodes = walk(
        document,
        &operation.selection_set,
        vars,
        &mut size.aliases,
        0,
    );
    size
}

/// Nodes under `set`; counts aliases on the way. `depth` stops a
/// fragment cycle (refused by validation anyway).
fn walk(
    document: &ExecutableDocument,
    set: &SelectionSet,
    vars: &JsonMap,
    aliases: &mut u64,
    depth: usize,
) -> u64 {
    if depth > 64 {
        return 0;
    }
    let mut nodes = 0u64;
    for selection in &set.selections {
        match selection {
            Selection::Field(field) => {
                if field.alias.is_some() {
                    *aliases += 1;
                }
                let page = field
                    .arguments
                    .iter()
                    .filter(|a| a.name == "first" || a.name == "last")
                    .find_map(|a| int_value(&a.value, vars))
                    .unwrap_or(1)
                    .max(1);
                let below = walk(document, &field.selection_set, vars, aliases, depth + 1);
                nodes = nodes.saturating_add(1 + page.saturating_mul(below));
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.fragment_name) {
                    nodes += walk(document, &fragment.selection_set, vars, aliases, depth + 1);
                }
            }
            Selection::InlineFragment(inline) => {
                nodes += walk(document, &inline.selection_set, vars, aliases, depth + 1);
            }
        }
    }
    nodes
}

fn int_value(value: &AstValue, vars: &JsonMap) -> Option<u64> {
    match value {
        AstValue::Int(i) => i.try_to_i32().ok().and_then(|i| u64::try_from(i).ok()),
        AstValue::Variable(name) => vars.get(name.as_str()).and_then(|v| v.as_u64()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of(query: &str, vars: Value) -> Size {
        let schema = crate::github_schema();
        let doc = ExecutableDocument::parse_and_validate(schema, query, "q.graphql").unwrap();
        let vars: JsonMap = serde_json::from_value(vars).unwrap();
        let op = doc.operations.get(None).unwrap();
        size(&doc, op, &vars)
    }

    #[test]
    fn nodes_multiply_through_pages_and_aliases_are_counted() {
        let s = size_of(
            "query($n: Int) { a: repository(owner: \"o\", name: \"r\") { id pullRequests(first: $n) { nodes { number title } } } b: viewer { login } }",
            json!({ "n": 10 }),
        );
        // a(1) + id(1) + pullRequests(1 + 10 * (nodes(1) + number + title = 3)) ; b(1) + login(1)
        assert_eq!(
            s,
            Size {
                nodes: 1 + 1 + 31 + 2,
                aliases: 2
            }
        );
    }

    #[test]
    fn budgets_refuse_and_latency_times_out() {
        let model = Model {
            node_budget: Some(10),
            alias_budget: Some(2),
            latency_per_node: Duration::from_millis(10),
            timeout: Duration::from_millis(100),
        };
        assert_eq!(
            model.judge(Size {
                nodes: 5,
                aliases: 2
            }),
            Verdict::Run(Duration::from_millis(50))
        );
        let Verdict::Refuse(body) = model.judge(Size {
            nodes: 11,
            aliases: 0,
        }) else {
            panic!("refused")
        };
        assert_eq!(body["errors"][0]["type"], "RESOURCE_LIMITS_EXCEEDED");
        assert!(matches!(
            model.judge(Size {
                nodes: 1,
                aliases: 3
            }),
            Verdict::Refuse(_)
        ));
        let slow = Model {
            node_budget: None,
            ..model
        };
        assert_eq!(
            slow.judge(Size {
                nodes: 10,
                aliases: 0
            }),
            Verdict::TimeOut(Duration::from_millis(100))
        );
    }
}
