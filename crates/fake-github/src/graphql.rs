//! GraphQL over `POST /graphql`: parse and validate each document against
//! GitHub's schema, execute it with the resolvers of `objects` (reads) and
//! `mutations` (writes), and shape errors like GitHub (`type`, `path`,
//! `locations`, `message`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use apollo_compiler::ExecutableDocument;
use apollo_compiler::executable::OperationType;
use apollo_compiler::resolvers::{Execution, FieldError, ResolveInfo};
use apollo_compiler::response::JsonMap;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::Response;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::mutations::MutationRoot;
use crate::objects::QueryRoot;
use crate::server::json_response;
use crate::state::Repo;
use crate::{Shared, cost, git, lock};

/// Separates an error's GitHub `type` from its message inside a
/// `FieldError` (which only carries a message).
const MARK: char = '\u{1}';

/// A field error with GitHub's error `type`.
pub(crate) fn typed(kind: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        message: format!("{MARK}{kind}{MARK}{}", message.into()),
    }
}

/// The error for a field the fake does not implement.
pub(crate) fn unsupported(info: &ResolveInfo<'_>, type_name: &str) -> FieldError {
    typed(
        "UNSUPPORTED",
        format!(
            "fake-github does not implement field `{}` on type `{type_name}`",
            info.field_name()
        ),
    )
}

/// What resolvers share during one request.
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub caller: Caller,
    gits: RefCell<HashMap<String, Rc<gix::Repository>>>,
}

impl Ctx {
    /// Runs `f` on the repo's metadata under the state lock.
    pub(crate) fn with_repo<T>(&self, key: &str, f: impl FnOnce(&Repo) -> T) -> Option<T> {
        let state = lock(&self.shared.state);
        state.repos.get(key).map(f)
    }

    /// The repo's git repository, opened once per request.
    pub(crate) fn git(&self, key: &str) -> Option<Rc<gix::Repository>> {
        if let Some(git) = self.gits.borrow().get(key) {
            return Some(git.clone());
        }
        let path = self.with_repo(key, |r| r.path.clone())?;
        let git = Rc::new(git::open(&path).ok()?);
        self.gits.borrow_mut().insert(key.to_string(), git.clone());
        Some(git)
    }
}

/// The content-creating units of a request body: the top-level fields of
/// its operation when that is a mutation, else 0 (for counting and
/// secondary limits before it runs). Fragments and inline fragments at the
/// top level count their fields.
pub(crate) fn mutation_units(body: &[u8]) -> u32 {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return 0;
    };
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return 0;
    };
    let name = request.get("operationName").and_then(Value::as_str);
    let document = match apollo_compiler::ast::Document::parse(query, "query.graphql") {
        Ok(d) => d,
        Err(with_errors) => with_errors.partial,
    };
    let mut operations = document.definitions.iter().filter_map(|d| match d {
        apollo_compiler::ast::Definition::OperationDefinition(op) => Some(op),
        _ => None,
    });
    let op = match name {
        Some(name) => operations.find(|op| op.name.as_ref().is_some_and(|n| n.as_str() == name)),
        None => operations.next(),
    };
    match op {
        Some(op) if op.operation_type == OperationType::Mutation => {
            top_level_fields(&document, &op.selection_set, 0)
        }
        _ => 0,
    }
}

fn top_level_fields(
    document: &apollo_compiler::ast::Document,
    selections: &[apollo_compiler::ast::Selection],
    depth: usize,
) -> u32 {
    use apollo_compiler::ast::{Definition, Selection};
    if depth > 16 {
        return 0;
    }
    selections
        .iter()
        .map(|s| match s {
            Selection::Field(_) => 1,
            Selection::InlineFragment(f) => top_level_fields(document, &f.selection_set, depth + 1),
            Selection::FragmentSpread(spread) => document
                .definitions
                .iter()
                .find_map(|d| match d {
                    Definition::FragmentDefinition(f) if f.name == spread.fragment_name => {
                        Some(top_level_fields(document, &f.selection_set, depth + 1))
                    }
                    _ => None,
                })
                .unwrap_or(0),
        })
        .sum()
}

/// A request parsed and validated, ready to run.
struct Prepared {
    document: apollo_compiler::validation::Valid<ExecutableDocument>,
    variables: JsonMap,
    name: Option<String>,
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let prepared = match prepare(&shared, &body) {
        Ok(p) => p,
        Err(errors) => return json_response(200, errors),
    };
    if let Some(refusal) = resource_limits(&shared, &prepared).await {
        return refusal;
    }
    json_response(200, execute(&shared, caller, &prepared))
}

fn errors_only(errors: Vec<Value>) -> Value {
    json!({ "errors": errors })
}

fn prepare(shared: &Arc<Shared>, body: &[u8]) -> Result<Prepared, Value> {
    let request: Value = serde_json::from_slice(body).map_err(|e| {
        errors_only(vec![
            json!({"message": format!("Problems parsing JSON: {e}")}),
        ])
    })?;
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return Err(errors_only(vec![
            json!({"message": "A query attribute must be specified and must be a string."}),
        ]));
    };
    let document = ExecutableDocument::parse_and_validate(shared.schema, query, "query.graphql")
        .map_err(|with_errors| {
            errors_only(
                with_errors
                    .errors
                    .iter()
                    .map(|d| serde_json::to_value(d.to_json()).unwrap_or(Value::Null))
                    .collect(),
            )
        })?;
    let variables: JsonMap = match request.get("variables") {
        Some(Value::Object(map)) => {
            serde_json::from_value(Value::Object(map.clone())).unwrap_or_default()
        }
        _ => JsonMap::new(),
    };
    let name = request
        .get("operationName")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Prepared {
        document,
        variables,
        name,
    })
}

/// Applies the cost model to a query (see [`cost`]): refuses it, delays it,
/// or makes it time out.
async fn resource_limits(shared: &Arc<Shared>, prepared: &Prepared) -> Option<Response> {
    let operation = prepared
        .document
        .operations
        .get(prepared.name.as_deref())
        .ok()?;
    if operation.operation_type == OperationType::Mutation {
        return None;
    }
    let size = cost::size(&prepared.document, operation, &prepared.variables);
    let verdict = {
        let mut limits = lock(&shared.limits);
        limits.counters.max_query_nodes = limits.counters.max_query_nodes.max(size.nodes);
        limits.cost.judge(size)
    };
    match verdict {
        cost::Verdict::Run(delay) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            None
        }
        cost::Verdict::Refuse(body) => {
            lock(&shared.limits).counters.resource_limit_refusals += 1;
            Some(json_response(200, body))
        }
        cost::Verdict::TimeOut(after) => {
            tokio::time::sleep(after).await;
            let id = {
                let mut limits = lock(&shared.limits);
                limits.counters.graphql_timeouts += 1;
                limits.request_id()
            };
            Some(json_response(502, cost::timeout_body(&id)))
        }
    }
}

fn execute(shared: &Arc<Shared>, caller: Caller, prepared: &Prepared) -> Value {
    let document = &prepared.document;
    let operation = match document.operations.get(prepared.name.as_deref()) {
        Ok(op) => op,
        Err(e) => {
            let error = e.to_graphql_error(&document.sources);
            return errors_only(vec![serde_json::to_value(error).unwrap_or(Value::Null)]);
        }
    };
    let rate = lock(&shared.limits).peek(&caller.token, "graphql");
    let ctx = Ctx {
        shared: shared.clone(),
        caller,
        gits: RefCell::new(HashMap::new()),
    };
    let execution = Execution::new(shared.schema, document)
        .operation(operation)
        .raw_variable_values(&prepared.variables);
    let result = match operation.operation_type {
        OperationType::Mutation => execution.execute_sync(&MutationRoot { ctx: &ctx }),
        _ => execution.execute_sync(&QueryRoot { ctx: &ctx, rate }),
    };
    match result {
        Ok(response) => github_shape(serde_json::to_value(response).unwrap_or(Value::Null)),
        Err(e) => errors_only(vec![
            serde_json::to_value(e.to_graphql_error(&document.sources)).unwrap_or(Value::Null),
        ]),
    }
}

/// Moves each error's type marker into a `type` key.
fn github_shape(mut response: Value) -> Value {
    if let Some(errors) = response.get_mut("errors").and_then(Value::as_array_mut) {
        for error in errors {
            let Some(message) = error.get("message").and_then(Value::as_str) else {
                continue;
            };
            // apollo-compiler prefixes resolver messages ("resolver error: ").
            if let Some((_, rest)) = message.split_once(MARK)
                && let Some((kind, text)) = rest.split_once(MARK)
            {
                let (kind, text) = (kind.to_string(), text.to_string());
                error["type"] = json!(kind);
                error["message"] = json!(text);
            }
        }
    }
    if let Some(errors) = response.get("errors")
        && errors.as_array().is_some_and(Vec::is_empty)
        && let Some(map) = response.as_object_mut()
    {
        map.remove("errors");
    }
    response
}
