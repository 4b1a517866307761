//! `distributor context REPO`: the template context one repo's files are
//! rendered with. [`document`] builds it as JSON (the repo context, each
//! environment's `vars` and `flags`, the files rendered), [`text`] renders
//! that same document for reading, and [`not_found`] words the error for a
//! REPO the registry does not have. Pure: values in, values or strings out;
//! printing is the caller's (`app`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::target::Target;

/// How many registry repos the "not in the registry" error suggests.
const SUGGESTIONS: usize = 3;

/// How many characters of a blob id the text shows (as git's short ids).
const SHORT_BLOB: usize = 12;

/// The context document of `target`, as `context --format json` prints it:
/// the repo context (`repo`, `team`, `environments`, `vars`, `flags`,
/// `flags_by_stage`), `per_environment` (each environment's `vars` and
/// `flags`, as files rendered per environment see them) and `files` (of
/// `bundles` only, when given: `--bundle`).
pub fn document(target: &Target, bundles: &[String]) -> serde_json::Result<Value> {
    let mut ctx = serde_json::to_value(target.repo.repo_context())?;
    let envs: Map<String, Value> = target
        .repo
        .environments
        .iter()
        .map(|e| {
            let c = target.repo.env_context(e);
            let narrowed = serde_json::json!({"vars": c.get("vars"), "flags": c.get("flags")});
            (e.name.clone(), narrowed)
        })
        .collect();
    if let Some(obj) = ctx.as_object_mut() {
        obj.insert("per_environment".into(), envs.into());
        let files: Vec<&crate::render::DesiredFile> = target
            .desired
            .iter()
            .filter(|d| bundles.is_empty() || bundles.contains(&d.bundle))
            .collect();
        obj.insert("files".into(), serde_json::to_value(files)?);
    }
    Ok(ctx)
}

/// `doc` (a [`document`]) as text: the repo and team facts, the repo's
/// variables, then per environment its facts, the variables it sets
/// differently from the repo's and its flags, then stages without an
/// environment and their flags, then the files rendered. Keys are sorted,
/// so the text is stable; values are JSON (strings quoted).
pub fn text(doc: &Value) -> String {
    let mut out = String::new();
    facts(&mut out, doc);
    let repo_vars = leaves(doc.get("vars"));
    out.push_str("\nvars:\n");
    if repo_vars.is_empty() {
        out.push_str("  (none)\n");
    }
    for (k, v) in &repo_vars {
        let _ = writeln!(out, "  {k} = {v}");
    }
    let mut with_env = Vec::new();
    for env in items(doc.get("environments")) {
        let name = plain(env.get("name").unwrap_or(&Value::Null));
        let own = doc.get("per_environment").and_then(|p| p.get(&name));
        let own = own.unwrap_or(env);
        environment(&mut out, env, own, &repo_vars);
        with_env.push(name);
    }
    for (stage, flags) in stages(doc.get("flags_by_stage")) {
        if !with_env.contains(&stage) {
            let _ = writeln!(out, "\nstage {stage} (no environment)\n  flags: {flags}");
        }
    }
    files(&mut out, doc.get("files"));
    out
}

/// The header: `repo OWNER/NAME`, then each repo and team fact.
fn facts(out: &mut String, doc: &Value) {
    let repo = doc.get("repo");
    let full = repo
        .and_then(|r| r.get("full_name"))
        .map(plain)
        .unwrap_or_default();
    let _ = writeln!(out, "repo {full}");
    for (section, value) in [("repo", repo), ("team", doc.get("team"))] {
        for (k, v) in leaves(value) {
            if section == "repo" && k == "full_name" {
                continue;
            }
            let _ = writeln!(out, "  {section}.{k}: {}", unquoted(&v));
        }
    }
}

/// One environment: its facts, its own variables, its flags.
fn environment(out: &mut String, env: &Value, own: &Value, repo_vars: &BTreeMap<String, String>) {
    let name = plain(env.get("name").unwrap_or(&Value::Null));
    let mut line = format!("\nenvironment {name}");
    if let Some(obj) = env.as_object() {
        let scalars: Vec<String> = obj
            .iter()
            .filter(|(k, v)| !matches!(k.as_str(), "name" | "description") && !is_container(v))
            .map(|(k, v)| format!("{k} {}", plain(v)))
            .collect();
        if !scalars.is_empty() {
            let _ = write!(line, ": {}", scalars.join(", "));
        }
        if let Some(d) = obj.get("description").filter(|d| !d.is_null()) {
            let _ = write!(line, " ({})", plain(d));
        }
    }
    let _ = writeln!(out, "{line}");
    let vars = leaves(own.get("vars"));
    let differing = differing(repo_vars, &vars);
    if differing.is_empty() {
        out.push_str("  vars: as the repo's\n");
    } else {
        out.push_str("  vars (the repo's, except):\n");
        for (k, v) in differing {
            let _ = writeln!(out, "    {k} = {v}");
        }
    }
    let flags: Vec<String> = leaves(own.get("flags"))
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(out, "  flags: {}", none_if_empty(flags.join(" ")));
}

/// The files rendered: path, mode, short blob id, template.
fn files(out: &mut String, files: Option<&Value>) {
    let files = items(files);
    let _ = writeln!(out, "\nfiles ({}):", files.len());
    let field = |f: &Value, k: &str| f.get(k).map(plain).unwrap_or_default();
    let width = files
        .iter()
        .map(|f| field(f, "path").chars().count())
        .max()
        .unwrap_or(0);
    for f in files {
        let blob: String = field(f, "blob").chars().take(SHORT_BLOB).collect();
        let _ = writeln!(
            out,
            "  {:width$}  {}  {}  {}",
            field(f, "path"),
            field(f, "mode"),
            blob,
            field(f, "template"),
        );
    }
}

/// The variables of an environment that differ from the repo's: set to
/// another value, added, or (`(unset)`) absent.
fn differing(
    repo: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = env
        .iter()
        .filter(|(k, v)| repo.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for k in repo.keys() {
        // `tfvars = {}` for the repo is filled, not removed, by an
        // environment's `tfvars.instance_type`.
        let prefix = format!("{k}.");
        if !env.contains_key(k) && !env.keys().any(|e| e.starts_with(&prefix)) {
            out.push((k.clone(), "(unset)".into()));
        }
    }
    out.sort();
    out
}

/// Flag values per stage: stage -> `name=value name=value`, from
/// `flags_by_stage` (flag -> stage -> value).
fn stages(by_stage: Option<&Value>) -> BTreeMap<String, String> {
    let mut per: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (flag, stages) in by_stage.and_then(Value::as_object).into_iter().flatten() {
        for (stage, v) in stages.as_object().into_iter().flatten() {
            per.entry(stage.clone())
                .or_default()
                .push(format!("{flag}={}", json(v)));
        }
    }
    per.into_iter().map(|(s, f)| (s, f.join(" "))).collect()
}

/// Every leaf of `value` as `dotted.key -> JSON`; an empty object or array
/// is a leaf (`{}`, `[]`), arrays of scalars are one leaf. A key that
/// would read as a path (a dot, a space, empty) is quoted.
fn leaves(value: Option<&Value>) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v.as_object() {
            Some(obj) if !obj.is_empty() => {
                for (k, child) in obj {
                    let key = if k.is_empty() || k.contains(['.', ' ', '=']) {
                        json(&Value::String(k.clone()))
                    } else {
                        k.clone()
                    };
                    let path = if prefix.is_empty() {
                        key
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&path, child, out);
                }
            }
            _ => {
                out.insert(prefix.to_string(), json(v));
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(v) = value.filter(|v| v.is_object()) {
        walk("", v, &mut out);
    }
    out
}

/// The elements of a JSON array (none for anything else).
fn items(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn is_container(v: &Value) -> bool {
    v.is_object() || v.is_array()
}

/// `v` as compact JSON.
fn json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A string without quotes, `null` as `(none)`, an array of strings
/// comma-separated, anything else as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".into(),
        Value::Array(a) if a.iter().all(Value::is_string) => {
            none_if_empty(a.iter().map(plain).collect::<Vec<_>>().join(", "))
        }
        other => json(other),
    }
}

/// A leaf's JSON as [`plain`] shows it.
fn unquoted(leaf: &str) -> String {
    serde_json::from_str::<Value>(leaf)
        .map(|v| plain(&v))
        .unwrap_or_else(|_| leaf.to_string())
}

fn none_if_empty(s: String) -> String {
    if s.is_empty() { "(none)".into() } else { s }
}

/// The error for a REPO (`OWNER/REPO` or `REPO`) that is in neither the
/// selected repos nor the registry: what was given, where it was looked
/// for, the names closest to it (else the registry's first repos; `names`
/// holds every `owner/name` of the registry, in registry order) and where
/// the full list is.
pub fn not_found(given: &str, names: &[String], registry: &str) -> String {
    let head = format!(
        "no repo {} in {registry} (the REPO argument of `distributor context`)",
        crate::diag::quote(given)
    );
    let close = closest(given, names);
    let listed = if !close.is_empty() {
        format!("did you mean {}?", close.join(", "))
    } else if names.is_empty() {
        return format!("{head}; {registry} has no repos");
    } else if names.len() > SUGGESTIONS {
        format!(
            "its repos: {} and {} more",
            names[..SUGGESTIONS].join(", "),
            names.len() - SUGGESTIONS
        )
    } else {
        format!("its repos: {}", names.join(", "))
    };
    format!("{head}; {listed} (every repo is listed under teams.<team>.repos in {registry})")
}

/// Up to [`SUGGESTIONS`] of `names` close to `given`: at most a third of
/// its length in edits (at least 2), ignoring case, against the full name
/// or, for a bare `REPO`, the name; closest first, then in name order.
pub fn closest<'a>(given: &str, names: &'a [String]) -> Vec<&'a str> {
    let given = given.to_lowercase();
    let allowed = (given.chars().count() / 3).max(2);
    let mut ranked: Vec<(usize, &str)> = names
        .iter()
        .filter_map(|full| {
            let lower = full.to_lowercase();
            let compared = match (given.contains('/'), lower.split_once('/')) {
                (false, Some((_, name))) => name.to_string(),
                _ => lower.clone(),
            };
            let d = strsim::levenshtein(&given, &compared);
            (d <= allowed).then_some((d, full.as_str()))
        })
        .collect();
    ranked.sort();
    ranked
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, n)| n)
        .collect()
}

#[cfg(test)]
mod tests;
