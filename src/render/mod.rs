//! Rendering: templates directory -> bundles -> the desired files of each
//! repo. Owns the minijinja environment (strict undefined, no auto-escape,
//! a loader over in-memory sources because `path_loader` refuses dot-files),
//! the template helpers, target-path rules, render budgets (fuel, output
//! size) and output syntax checks. Pure:
//! it takes the template files as bytes and returns values.

pub mod budget;
pub mod bundle;
pub mod check;
pub mod flags;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value as JValue;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde::Serialize;

use crate::blob::{FileMode, ObjectId, blob_id};
use crate::diag::{self, Diagnostics};
use crate::paths::check_repo_path;
use crate::registry::ResolvedRepo;
use bundle::{Bundle, ForEach};

/// A file distributor wants a repo to contain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredFile {
    pub path: String,
    #[serde(skip)]
    pub content: Vec<u8>,
    pub mode: FileMode,
    pub blob: ObjectId,
    pub bundle: String,
    /// Template source, `bundle/file`.
    pub template: String,
    /// The flags this file's render (path and content) read, by stage
    /// (not in the plan's JSON: `distributor flags` reports them). Files
    /// that read the same flags share one list (a fleet has few distinct
    /// ones; a list per file cost 40 MB at 10,000 repos).
    #[serde(skip)]
    pub flag_reads: Arc<[flags::FlagRead]>,
}

/// The loaded templates directory.
pub struct TemplateSet {
    root_name: String,
    sources: Arc<BTreeMap<String, String>>,
    bundles: BTreeMap<String, Bundle>,
    env: Environment<'static>,
    ignored: Vec<String>,
    /// Templates that ran out of fuel in some repo (see [`Self::exhausted`]).
    exhausted: Mutex<BTreeSet<String>>,
    /// Every distinct list of flag reads, shared by the files that made it.
    reads: Mutex<BTreeSet<Arc<[flags::FlagRead]>>>,
}

impl TemplateSet {
    /// Builds the set from the directory's files (relative path -> bytes).
    /// `root_name` is how the directory is named in messages.
    pub fn from_files(
        root_name: &str,
        files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<TemplateSet, Diagnostics> {
        let mut d = Diagnostics::default();
        let (bundles, problems) = bundle::bundles_and_problems(root_name, files);
        d.extend(problems);
        if bundles.is_empty() && d.is_empty() {
            d.push(
                root_name,
                format!("no bundles found (expected {root_name}/<bundle>/bundle.yaml)"),
            );
        }
        // Only the files a manifest names are templates. Anything else (a
        // stray `.DS_Store`, an editor backup `ci.yml~`, a README) is
        // ignored with a warning instead of failing the whole fleet. The
        // files of a bundle whose manifest does not parse are neither
        // checked nor reported: what it names is unknown, and its error
        // already fails the run.
        let referenced: BTreeSet<String> = bundles
            .values()
            .flat_map(|b| {
                b.manifest
                    .files
                    .iter()
                    .map(|f| format!("{}/{}", b.name, f.template))
            })
            .collect();
        let unparsed = |path: &str| {
            path.split_once('/').is_some_and(|(dir, _)| {
                !bundles.contains_key(dir)
                    && files.contains_key(&format!("{dir}/{}", bundle::MANIFEST))
            })
        };
        let mut sources = BTreeMap::new();
        let mut ignored = Vec::new();
        for (path, bytes) in files {
            if path
                .split_once('/')
                .is_some_and(|(_, rest)| rest == bundle::MANIFEST)
            {
                continue;
            }
            if !referenced.contains(path) {
                if !unparsed(path) {
                    tracing::warn!("{root_name}/{path}: not named by any bundle manifest; ignored");
                    ignored.push(path.clone());
                }
                continue;
            }
            match String::from_utf8(bytes.clone()) {
                Ok(s) => {
                    sources.insert(path.clone(), s);
                }
                Err(_) => d.push(
                    format!("{root_name}/{path}"),
                    "template is not valid UTF-8 text",
                ),
            }
        }
        let sources = Arc::new(sources);
        let env = environment(sources.clone());
        d.into_result(TemplateSet {
            root_name: root_name.to_string(),
            sources,
            bundles,
            env,
            ignored,
            exhausted: Mutex::default(),
            reads: Mutex::default(),
        })
    }

    /// Files of the templates directory that no manifest names (relative
    /// paths): not templates, ignored with a warning each.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Names of all bundles, sorted.
    pub fn bundle_names(&self) -> Vec<String> {
        self.bundles.keys().cloned().collect()
    }

    /// The rollout policy of every bundle (`labels`, `direct_after`), by
    /// name.
    pub fn bundle_policies(&self) -> BTreeMap<String, crate::registry::BundlePolicy> {
        self.bundles
            .iter()
            .map(|(name, b)| (name.clone(), b.policy.clone()))
            .collect()
    }

    /// Renders every file `repo` should contain, sorted by path. All
    /// problems (undefined variables, bad paths, unparsable output,
    /// duplicate targets) are collected.
    pub fn render_repo(&self, repo: &ResolvedRepo) -> Result<Vec<DesiredFile>, Diagnostics> {
        let mut d = Diagnostics::default();
        // Cut: an oversized (invalid) name must not be echoed whole.
        let full = diag::cut(&repo.full_name());
        let mut out: BTreeMap<String, DesiredFile> = BTreeMap::new();
        let mut skipped_used = BTreeSet::new();
        for bundle_name in &repo.bundles {
            // Unknown bundle names are reported by registry validation,
            // with their JSON path; here they are only skipped.
            let Some(bundle) = self.bundles.get(bundle_name) else {
                continue;
            };
            for spec in &bundle.manifest.files {
                let template = format!("{bundle_name}/{}", spec.template);
                // Template values sharing the repo's variables: building a
                // context copies no variable.
                let contexts = match spec.for_each {
                    None => {
                        let reads = flags::Recorder::default();
                        vec![(repo.recorded_repo_context(&reads), reads)]
                    }
                    Some(ForEach::Environment) => repo
                        .environments
                        .iter()
                        .map(|e| {
                            let reads = flags::Recorder::default();
                            (repo.recorded_env_context(e, &reads), reads)
                        })
                        .collect(),
                };
                for (mut ctx, reads) in contexts {
                    ctx.insert("bundle".into(), JValue::from(bundle_name.as_str()));
                    ctx.insert("template".into(), JValue::from(template.as_str()));
                    let ctx = JValue::from(ctx);
                    let where_ = |what: &str, line: Option<usize>| {
                        let line = line.map(|l| format!(":{l}")).unwrap_or_default();
                        format!(
                            "{}/{template}{line} ({what} of bundle `{bundle_name}`)",
                            self.root_name
                        )
                    };
                    let path_key = format!("{template} (target path)");
                    if self.exhausted(&path_key) {
                        continue;
                    }
                    let path = match self.env.render_str(&spec.path, ctx.clone()) {
                        Ok(p) => p,
                        Err(e) => {
                            let message = self.note_fuel(&path_key, &e, describe(&e, None));
                            d.push_in_repo(
                                where_("target path", None),
                                format!("path template {}: {message}", diag::quote(&spec.path)),
                                &full,
                            );
                            continue;
                        }
                    };
                    if let Err(e) = check_repo_path(&path) {
                        d.push_in_repo(where_("target path", None), e, &full);
                        continue;
                    }
                    if path == repo.lock_path {
                        d.push_in_repo(
                            where_("target path", None),
                            format!("{path:?} is the lock file path; a template cannot write it"),
                            &full,
                        );
                        continue;
                    }
                    if repo.skip_files.contains(&path) {
                        skipped_used.insert(path);
                        continue;
                    }
                    if self.exhausted(&template) {
                        continue;
                    }
                    let content = match self.render_file(&template, ctx.clone(), bundle) {
                        Ok(c) => c,
                        Err((line, message)) => {
                            d.push_in_repo(where_("template", line), message, &full);
                            continue;
                        }
                    };
                    if let Err(e) = check::check_syntax(&path, &content) {
                        d.push_in_repo(where_(&format!("rendering to {path}"), None), e, &full);
                        continue;
                    }
                    if let Some(prev) = out.get(&path) {
                        d.push_in_repo(
                            format!("{}/{template} (target path of bundle `{bundle_name}`)", self.root_name),
                            format!(
                                "two templates produce {path:?}: {} (bundle `{}`) and {template} (bundle `{bundle_name}`)",
                                prev.template, prev.bundle
                            ),
                            &full,
                        );
                        continue;
                    }
                    // The renderer's buffer grows by doubling; a fleet
                    // holds every render until it is planned, so keep only
                    // the bytes.
                    let mut bytes = content.into_bytes();
                    bytes.shrink_to_fit();
                    out.insert(
                        path.clone(),
                        DesiredFile {
                            blob: blob_id(&bytes),
                            path,
                            content: bytes,
                            mode: spec.mode,
                            bundle: bundle_name.clone(),
                            template: template.clone(),
                            flag_reads: self.shared_reads(reads.reads()),
                        },
                    );
                }
            }
        }
        for p in &repo.skip_files {
            if !skipped_used.contains(p) {
                d.push_in_repo(
                    "skip_files",
                    format!("{p:?} is not a file this repo would receive; check the spelling"),
                    &full,
                );
            }
        }
        // Targets that cannot share one tree or one checkout (`conf` and
        // `conf/inner`, a target inside the lock file, names differing
        // only in case).
        for problem in crate::paths::check_layout(&repo.lock_path, out.keys().map(String::as_str)) {
            if let Some(f) = out.get(&problem.target) {
                let at = format!(
                    "{}/{} (target path of bundle `{}`)",
                    self.root_name, f.template, f.bundle
                );
                d.push_in_repo(at, problem.message, &full);
            }
        }
        d.into_result(out.into_values().collect())
    }
}

impl TemplateSet {
    /// Renders one template file within its budgets: [`budget::FUEL`] steps
    /// and the bundle's `max_file_size` bytes. On failure returns the line
    /// (when minijinja knows it) and the message.
    fn render_file(
        &self,
        template: &str,
        ctx: JValue,
        bundle: &Bundle,
    ) -> Result<String, (Option<usize>, String)> {
        let mut buf = budget::CappedBuffer::new(bundle.max_file_size);
        let rendered = self
            .env
            .get_template(template)
            .and_then(|t| t.render_captured_to(ctx, &mut buf).map(drop));
        if buf.exceeded {
            return Err((
                None,
                format!(
                    "rendered output is larger than {}, the bundle's max_file_size (raise it in {}/{}/{}, up to {})",
                    budget::human(bundle.max_file_size),
                    self.root_name,
                    bundle.name,
                    bundle::MANIFEST,
                    budget::human(budget::MAX_MAX_FILE_SIZE)
                ),
            ));
        }
        if let Err(e) = rendered {
            let src = self.sources.get(template).map(String::as_str);
            let message = self.note_fuel(template, &e, describe(&e, src));
            return Err((e.line(), message));
        }
        String::from_utf8(buf.bytes)
            .map_err(|_| (None, "rendered output is not valid UTF-8".to_string()))
    }

    /// When `e` is running out of fuel: remembers `key` (see
    /// [`Self::exhausted`]) and says so in `message`.
    fn note_fuel(&self, key: &str, e: &Error, mut message: String) -> String {
        if e.kind() == ErrorKind::OutOfFuel {
            self.exhausted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key.to_string());
            message.push_str("; not rendered for the other repos");
        }
        message
    }

    /// `reads` as the one shared list of every file that read the same.
    fn shared_reads(&self, reads: Vec<flags::FlagRead>) -> Arc<[flags::FlagRead]> {
        let mut known = self
            .reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(shared) = known.get(reads.as_slice()) {
            return shared.clone();
        }
        let shared: Arc<[flags::FlagRead]> = reads.into();
        known.insert(shared.clone());
        shared
    }

    /// Whether `template` already ran out of fuel in another repo: once is
    /// enough to fail the run, and a runaway loop must not cost its budget
    /// once per repo.
    fn exhausted(&self, template: &str) -> bool {
        self.exhausted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(template)
    }
}

/// A one-line description of a template error, with the offending source
/// line when known.
fn describe(e: &Error, source: Option<&str>) -> String {
    let mut msg = match e.kind() {
        ErrorKind::UndefinedError => "undefined variable or attribute".to_string(),
        ErrorKind::OutOfFuel => format!(
            "render budget exhausted: more than {} steps (an endless or very long loop?)",
            budget::FUEL
        ),
        _ => e.kind().to_string(),
    };
    if let Some(detail) = e.detail() {
        msg.push_str(": ");
        msg.push_str(detail);
    }
    if let (Some(src), Some(line)) = (source, e.line())
        && let Some(text) = src.lines().nth(line.saturating_sub(1))
    {
        msg.push_str(&format!(" (in `{}`)", text.trim()));
    }
    msg
}

/// The shared minijinja environment.
fn environment(sources: Arc<BTreeMap<String, String>>) -> Environment<'static> {
    let mut env = Environment::new();
    // Per render: a runaway template fails instead of hanging the run.
    env.set_fuel(Some(budget::FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Generated files are YAML, JSON, HCL, CODEOWNERS: never HTML.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_syntax(
        SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .expect("static syntax config is valid"),
    );
    env.set_loader(move |name| Ok(sources.get(name).cloned()));
    env.add_filter("to_json", to_json);
    env.add_filter("to_yaml", to_yaml);
    env.add_function("managed_header", managed_header);
    env.add_function("flag", flag);
    env
}

/// `{{ value | to_json }}` (compact) or `to_json(indent=2)`-style via
/// `{{ value | to_json(2) }}`.
fn to_json(value: JValue, indent: Option<usize>) -> Result<String, Error> {
    let v: serde_json::Value = serde_json::to_value(&value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("to_json: {e}")))?;
    match indent {
        None => Ok(v.to_string()),
        Some(n) => {
            let mut buf = Vec::new();
            let ind = " ".repeat(n);
            let fmt = serde_json::ser::PrettyFormatter::with_indent(ind.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            v.serialize(&mut ser)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("to_json: {e}")))?;
            Ok(String::from_utf8(buf).expect("serde_json writes UTF-8"))
        }
    }
}

/// `{{ value | to_yaml }}`: block-style YAML without a document marker and
/// without a trailing newline, for embedding.
fn to_yaml(value: JValue) -> Result<String, Error> {
    let v: serde_json::Value = serde_json::to_value(&value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("to_yaml: {e}")))?;
    let s = serde_saphyr::to_string(&v)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("to_yaml: {e}")))?;
    Ok(s.trim_end_matches('\n').to_string())
}

/// The banner at the top of managed files. Deliberately free of the platform
/// revision and of dates: those would change every file on every platform
/// commit and open a pull request in every repo for nothing.
fn managed_header(state: &State, comment_prefix: String) -> String {
    let bundle = state
        .lookup("bundle")
        .map(|b| b.to_string())
        .unwrap_or_default();
    let p = comment_prefix;
    format!(
        "{p} Managed by distributor (bundle: {bundle}): edit the template, not this file.\n\
         {p} Local changes are reported as drift and proposed for reversal.\n"
    )
}

/// `flag(name)` in a per-environment file gives the flag for that
/// environment; elsewhere only flags with one value for every stage
/// resolve without a stage. `flag(name, stage)` picks a stage explicitly.
fn flag(state: &State, name: String, stage: Option<String>) -> Result<bool, Error> {
    let table = state
        .lookup("flags_by_stage")
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "flag(): no flags in context"))?;
    let per_stage = table.get_attr(&name)?;
    if per_stage.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("flag {name:?} is not defined in the registry"),
        ));
    }
    let stage = match stage {
        Some(s) => s,
        None => match state.lookup("env") {
            Some(env) if !env.is_undefined() => env.get_attr("name")?.to_string(),
            _ => {
                let values: BTreeSet<bool> = per_stage
                    .try_iter()?
                    .filter_map(|k| per_stage.get_item(&k).ok())
                    .map(|v| v.is_true())
                    .collect();
                return match values.len() {
                    0 | 1 => Ok(values.into_iter().next().unwrap_or(false)),
                    _ => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!(
                            "flag {name:?} differs per stage; call flag({name:?}, \"<stage>\") or use it in a `for_each: environment` file"
                        ),
                    )),
                };
            }
        },
    };
    let v = per_stage.get_attr(&stage)?;
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("flag({name:?}, {stage:?}): unknown stage"),
        ));
    }
    Ok(v.is_true())
}

#[cfg(test)]
mod tests;
