//! Layered variables as shared template values. Each layer of the registry
//! (defaults, a team, a repo, an environment) is converted to a minijinja
//! value once; merging builds new maps only along the keys an upper layer
//! sets and shares every other subtree (minijinja values are reference
//! counted). A 1 MB variable in `defaults.vars` is held once, not once per
//! repo and environment, and rendering hands it to every template without
//! copying it.

use std::collections::BTreeMap;

use minijinja::value::{Value, ValueKind};

use super::model::Vars;

/// One layer of variables, converted once.
pub fn layer(vars: &Vars) -> Value {
    value(vars)
}

/// Any serialisable value as a template value. Template values inside it
/// (a repo's `vars` within its environments) are taken as they are,
/// shared, not copied.
pub fn value<T: serde::Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// A map with no variables.
pub fn empty() -> Value {
    Value::from(BTreeMap::<String, Value>::new())
}

/// Deep merge: maps merge key by key, anything else (lists included) is
/// replaced by the upper layer. Subtrees only one side has are shared,
/// not copied.
pub fn merge(base: &Value, upper: &Value) -> Value {
    if base.kind() != ValueKind::Map || upper.kind() != ValueKind::Map {
        return upper.clone();
    }
    if upper.len() == Some(0) {
        return base.clone();
    }
    let mut out = entries(base);
    for (key, value) in entries(upper) {
        let merged = match out.get(&key) {
            Some(b) if b.kind() == ValueKind::Map && value.kind() == ValueKind::Map => {
                merge(b, &value)
            }
            _ => value,
        };
        out.insert(key, merged);
    }
    Value::from(out)
}

/// The entries of a map value (the registry's keys are strings).
fn entries(map: &Value) -> BTreeMap<String, Value> {
    let Ok(keys) = map.try_iter() else {
        return BTreeMap::new();
    };
    keys.filter_map(|k| {
        let value = map.get_item(&k).ok()?;
        Some((k.as_str()?.to_string(), value))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: serde_json::Value) -> Vars {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn merge_is_deep_for_maps_and_replaces_everything_else() {
        let base = layer(&vars(json!({
            "tf": {"version": "1.9", "dir": "infra"}, "list": [1, 2], "keep": "k"
        })));
        let upper = layer(&vars(
            json!({"tf": {"dir": "tf"}, "list": [3], "new": null}),
        ));
        let merged = serde_json::to_value(merge(&base, &upper)).unwrap();
        assert_eq!(
            merged,
            json!({"tf": {"version": "1.9", "dir": "tf"}, "list": [3], "keep": "k", "new": null})
        );
        let replaced = layer(&vars(json!({"tf": "flat"})));
        assert_eq!(
            serde_json::to_value(merge(&base, &replaced)).unwrap()["tf"],
            json!("flat")
        );
    }

    #[test]
    fn untouched_subtrees_are_shared_not_copied() {
        let big = "x".repeat(1 << 20);
        let base = layer(&vars(json!({"big": big, "nested": {"big": big}})));
        let merged = merge(&base, &layer(&vars(json!({"other": 1}))));
        let merged = merge(&merged, &empty());
        // Same string allocation: shared.
        let a = base.get_attr("big").unwrap();
        let b = merged.get_attr("big").unwrap();
        assert_eq!(a.as_str().unwrap().as_ptr(), b.as_str().unwrap().as_ptr());
        let nested = |v: &Value| v.get_attr("nested").unwrap().get_attr("big").unwrap();
        assert_eq!(
            nested(&base).as_str().unwrap().as_ptr(),
            nested(&merged).as_str().unwrap().as_ptr()
        );
    }
}
