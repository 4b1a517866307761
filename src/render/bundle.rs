//! Bundle manifests (`templates/<bundle>/bundle.yaml`): which files a bundle
//! renders, to which target path, once per repo or once per environment,
//! with which mode, the bundle's rollout policy (`labels`,
//! `direct_after`) and the size cap of its rendered files
//! (`max_file_size`). Parsed with YAML 1.2 semantics; unknown keys and
//! duplicate keys are errors.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::budget::{DEFAULT_MAX_FILE_SIZE, parse_size};
use crate::blob::FileMode;
use crate::diag::Diagnostics;
use crate::registry::BundlePolicy;
use crate::time::parse_duration;

/// The manifest file name inside every bundle folder.
pub const MANIFEST: &str = "bundle.yaml";

/// A parsed `bundle.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub description: Option<String>,
    pub files: Vec<FileSpec>,
    /// Labels this bundle's changes carry (added to pull requests;
    /// `security` makes them jump the pull request queue).
    #[serde(default)]
    pub labels: Vec<String>,
    /// A pull request carrying only this bundle's changes that stays open
    /// longer than this (`3d`) falls back to a direct commit.
    #[serde(default)]
    pub direct_after: Option<String>,
    /// Cap on each rendered file of this bundle (`2MiB`, `512KiB`, bytes);
    /// default 1 MiB, at most 50 MiB.
    #[serde(default)]
    pub max_file_size: Option<String>,
}

/// GitHub's limit on the length of a label name.
const MAX_LABEL: usize = 50;

/// One file of a bundle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Template source, relative to the bundle folder.
    pub template: String,
    /// Target path in the repo; itself a template (`deploy-{{ env.name }}.yml`).
    pub path: String,
    /// Render once per environment of the repo's team.
    #[serde(default)]
    pub for_each: Option<ForEach>,
    #[serde(default = "regular")]
    pub mode: FileMode,
}

fn regular() -> FileMode {
    FileMode::Regular
}

/// Fan-out kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForEach {
    Environment,
}

/// A bundle: its name, manifest, and the template sources it uses.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub name: String,
    pub manifest: Manifest,
    /// `labels` and `direct_after`, parsed.
    pub policy: BundlePolicy,
    /// `max_file_size`, parsed (bytes).
    pub max_file_size: usize,
}

/// YAML parsing options used everywhere: YAML 1.2 booleans (`on:` stays a
/// string), duplicate keys rejected.
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    }
}

/// Builds the bundles from the files of a templates directory (relative
/// path -> bytes). Checks that each manifest parses and that every template
/// it names exists.
pub fn bundles_from_files(
    root_name: &str,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Bundle>, Diagnostics> {
    let (bundles, d) = bundles_and_problems(root_name, files);
    d.into_result(bundles)
}

/// Like [`bundles_from_files`], but returns every bundle whose manifest
/// parsed along with the problems found (a bundle with a problem other
/// than parsing is included too); a manifest that does not parse gives no
/// bundle.
pub fn bundles_and_problems(
    root_name: &str,
    files: &BTreeMap<String, Vec<u8>>,
) -> (BTreeMap<String, Bundle>, Diagnostics) {
    let mut d = Diagnostics::default();
    let mut out = BTreeMap::new();
    for (path, bytes) in files {
        let Some((name, rest)) = path.split_once('/') else {
            continue;
        };
        if rest != MANIFEST {
            continue;
        }
        let origin = format!("{root_name}/{path}");
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                d.push(origin, "manifest is not valid UTF-8");
                continue;
            }
        };
        let manifest: Manifest = match serde_saphyr::from_str_with_options(text, yaml_options()) {
            Ok(m) => m,
            Err(e) => {
                d.push(origin, format!("invalid bundle manifest: {e}"));
                continue;
            }
        };
        if manifest.files.is_empty() {
            d.push(&origin, "a bundle must list at least one file");
        }
        for (i, f) in manifest.files.iter().enumerate() {
            let source = format!("{name}/{}", f.template);
            if f.template.contains("..") || !files.contains_key(&source) {
                d.push(
                    format!("{origin}: files[{i}].template"),
                    format!("template file {root_name}/{source} does not exist"),
                );
            }
        }
        let mut seen = Vec::new();
        for (i, label) in manifest.labels.iter().enumerate() {
            let at = format!("{origin}: labels[{i}]");
            if label.trim().is_empty() {
                d.push(at, "a label must not be empty");
            } else if label.chars().count() > MAX_LABEL {
                d.push(
                    at,
                    format!(
                        "label {} is longer than {MAX_LABEL} characters (GitHub's limit)",
                        crate::diag::quote(label)
                    ),
                );
            } else if seen.contains(&label.to_lowercase()) {
                d.push(
                    at,
                    format!("label {} is listed twice", crate::diag::quote(label)),
                );
            } else {
                seen.push(label.to_lowercase());
            }
        }
        let direct_after = match manifest.direct_after.as_deref().map(parse_duration) {
            Some(Err(e)) => {
                d.push(format!("{origin}: direct_after"), e);
                None
            }
            Some(Ok(t)) => Some(t),
            None => None,
        };
        let max_file_size = match manifest.max_file_size.as_deref().map(parse_size) {
            Some(Err(e)) => {
                d.push(format!("{origin}: max_file_size"), e);
                DEFAULT_MAX_FILE_SIZE
            }
            Some(Ok(n)) => n,
            None => DEFAULT_MAX_FILE_SIZE,
        };
        let policy = BundlePolicy {
            labels: manifest.labels.clone(),
            direct_after,
        };
        out.insert(
            name.to_string(),
            Bundle {
                name: name.to_string(),
                manifest,
                policy,
                max_file_size,
            },
        );
    }
    (out, d)
}
