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
use crate::{Shared, git, lock};

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

/// Whether the request body's operation is a mutation (for counting and
/// secondary limits before it runs).
pub(crate) fn is_mutation(body: &[u8]) -> bool {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return false;
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
    op.is_some_and(|op| op.operation_type == OperationType::Mutation)
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    json_response(200, execute(&shared, caller, &body))
}

fn errors_only(errors: Vec<Value>) -> Value {
    json!({ "errors": errors })
}

fn execute(shared: &Arc<Shared>, caller: Caller, body: &[u8]) -> Value {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return errors_only(vec![
                json!({"message": format!("Problems parsing JSON: {e}")}),
            ]);
        }
    };
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return errors_only(vec![
            json!({"message": "A query attribute must be specified and must be a string."}),
        ]);
    };
    let document =
        match ExecutableDocument::parse_and_validate(shared.schema, query, "query.graphql") {
            Ok(d) => d,
            Err(with_errors) => {
                let errors = with_errors
                    .errors
                    .iter()
                    .map(|d| serde_json::to_value(d.to_json()).unwrap_or(Value::Null))
                    .collect();
                return errors_only(errors);
            }
        };
    let variables: JsonMap = match request.get("variables") {
        Some(Value::Object(map)) => {
            serde_json::from_value(Value::Object(map.clone())).unwrap_or_default()
        }
        _ => JsonMap::new(),
    };
    let name = request.get("operationName").and_then(Value::as_str);
    let operation = match document.operations.get(name) {
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
    let execution = Execution::new(shared.schema, &document)
        .operation(operation)
        .raw_variable_values(&variables);
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
