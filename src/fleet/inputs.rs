//! What changed in the platform inputs between two revisions: template
//! files added, removed or edited, and registry values (flags, variables,
//! anything else) that differ, as leaf paths. Pure: two input sets in, a
//! list out.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The kind of an input change, the first grouping of the plan's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// A file under the templates directory (a template or a manifest).
    Template,
    /// A registry value under a `flags` object.
    Flag,
    /// A registry value under a `vars` object.
    Variable,
    /// Any other registry value (repos, teams, environments, waves).
    Registry,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Template => "template",
            InputKind::Flag => "flag",
            InputKind::Variable => "variable",
            InputKind::Registry => "registry",
        }
    }
}

/// One changed input.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct InputChange {
    pub kind: InputKind,
    /// `baseline/CODEOWNERS`, `new_db`, `terraform.version`, `teams.kiwi`.
    pub name: String,
    /// Where and how: `defaults.flags.new_db.prd: false -> true`,
    /// `edited`, `added`, `removed`.
    pub detail: String,
}

/// Template files that differ (by content) between `before` and `now`.
pub fn template_changes(
    before: &BTreeMap<String, Vec<u8>>,
    now: &BTreeMap<String, Vec<u8>>,
) -> Vec<InputChange> {
    let mut out = Vec::new();
    for (path, bytes) in now {
        let detail = match before.get(path) {
            None => "added",
            Some(b) if b != bytes => "edited",
            Some(_) => continue,
        };
        out.push(template(path, detail));
    }
    for path in before.keys().filter(|p| !now.contains_key(*p)) {
        out.push(template(path, "removed"));
    }
    out.sort();
    out
}

fn template(path: &str, detail: &str) -> InputChange {
    InputChange {
        kind: InputKind::Template,
        name: path.to_string(),
        detail: detail.to_string(),
    }
}

/// Registry values that differ between two registry texts, one per leaf
/// path (an added or removed object is one change). Unparsable text on
/// either side: one `registry` change saying so.
pub fn registry_changes(before: &str, now: &str) -> Vec<InputChange> {
    let (Ok(a), Ok(b)) = (
        serde_json::from_str::<Value>(before),
        serde_json::from_str::<Value>(now),
    ) else {
        return if before == now {
            Vec::new()
        } else {
            vec![InputChange {
                kind: InputKind::Registry,
                name: "registry".into(),
                detail: "registry.json changed".into(),
            }]
        };
    };
    let mut out = Vec::new();
    diff_values(&mut Vec::new(), Some(&a), Some(&b), &mut out);
    out.sort();
    out
}

fn diff_values(
    path: &mut Vec<String>,
    a: Option<&Value>,
    b: Option<&Value>,
    out: &mut Vec<InputChange>,
) {
    if a == b {
        return;
    }
    if let (Some(Value::Object(x)), Some(Value::Object(y))) = (a, b) {
        let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
        for k in keys {
            path.push(k.clone());
            diff_values(path, x.get(k), y.get(k), out);
            path.pop();
        }
        return;
    }
    out.push(leaf_change(path, a, b));
}

fn leaf_change(path: &[String], a: Option<&Value>, b: Option<&Value>) -> InputChange {
    let show = |v: Option<&Value>| match v {
        None => "(unset)".to_string(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 40 {
                format!("{}...", s.chars().take(37).collect::<String>())
            } else {
                s
            }
        }
    };
    let full = path.join(".");
    let after = |key: &str| {
        path.iter()
            .position(|s| s == key)
            .filter(|&i| i + 1 < path.len())
            .map(|i| path[i + 1..].join("."))
    };
    let (kind, name) = if let Some(n) = after("flags") {
        let flag = n.split('.').next().unwrap_or(&n).to_string();
        (InputKind::Flag, flag)
    } else if let Some(n) = after("vars") {
        (InputKind::Variable, n)
    } else {
        (InputKind::Registry, full.clone())
    };
    InputChange {
        kind,
        name,
        detail: format!("{full}: {} -> {}", show(a), show(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_change_is_one_flag_change_with_its_path() {
        let before = r#"{"defaults": {"flags": {"new_db": {"dev": true, "prd": false}}}}"#;
        let now = r#"{"defaults": {"flags": {"new_db": {"dev": true, "prd": true}}}}"#;
        let got = registry_changes(before, now);
        assert_eq!(
            got,
            vec![InputChange {
                kind: InputKind::Flag,
                name: "new_db".into(),
                detail: "defaults.flags.new_db.prd: false -> true".into(),
            }]
        );
    }

    #[test]
    fn variables_and_other_registry_values_are_told_apart() {
        let before = r#"{"teams": {"a": {"vars": {"terraform": {"version": "1"}}, "repos": []}}}"#;
        let now = r#"{"teams": {"a": {"vars": {"terraform": {"version": "2"}}, "repos": [{"name": "x"}]}}}"#;
        let got = registry_changes(before, now);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].kind, InputKind::Variable);
        assert_eq!(got[0].name, "terraform.version");
        assert_eq!(
            got[0].detail,
            "teams.a.vars.terraform.version: \"1\" -> \"2\""
        );
        assert_eq!(got[1].kind, InputKind::Registry);
        assert_eq!(got[1].name, "teams.a.repos");
    }

    #[test]
    fn template_files_added_edited_and_removed() {
        let m = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, c)| (k.to_string(), c.as_bytes().to_vec()))
                .collect::<BTreeMap<_, _>>()
        };
        let got = template_changes(
            &m(&[("b/x", "1"), ("b/gone", "1"), ("b/same", "s")]),
            &m(&[("b/x", "2"), ("b/new", "1"), ("b/same", "s")]),
        );
        let names: Vec<(&str, &str)> = got
            .iter()
            .map(|c| (c.name.as_str(), c.detail.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![("b/gone", "removed"), ("b/new", "added"), ("b/x", "edited")]
        );
    }
}
