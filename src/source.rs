//! Reads the platform inputs (registry file and templates directory) from
//! disk, and determines their revision: the commit id of the git repository
//! holding them (read with gix), marked `dirty` with a content digest when
//! the files on disk differ from that commit. This is the only place the
//! inputs are read; everything after works on the bytes returned here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::blob::blob_id;
use crate::lock::Source;

/// The platform inputs as read from disk.
pub struct Inputs {
    pub registry_path: PathBuf,
    pub registry_text: String,
    pub templates_dir: PathBuf,
    /// Template files: path relative to the templates directory (with `/`)
    /// -> bytes.
    pub template_files: BTreeMap<String, Vec<u8>>,
}

/// Reads the registry file and every file under the templates directory.
pub fn read_inputs(registry: &Path, templates: &Path) -> Result<Inputs> {
    let registry_text = std::fs::read_to_string(registry)
        .with_context(|| format!("cannot read registry {}", registry.display()))?;
    if !templates.is_dir() {
        bail!(
            "templates directory {} does not exist or is not a directory",
            templates.display()
        );
    }
    let mut template_files = BTreeMap::new();
    read_tree(templates, templates, &mut template_files)?;
    Ok(Inputs {
        registry_path: registry.to_path_buf(),
        registry_text,
        templates_dir: templates.to_path_buf(),
        template_files,
    })
}

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            read_tree(root, &path, out)?;
        } else if ft.is_file() {
            let rel = path
                .strip_prefix(root)
                .expect("walked below root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            out.insert(rel, bytes);
        }
    }
    Ok(())
}

/// The revision of the inputs. `unversioned` when they are not inside a git
/// work tree; `dirty` when any input differs from the HEAD commit.
pub fn revision(inputs: &Inputs) -> Source {
    let digest = input_digest(inputs);
    match git_revision(inputs) {
        Some((rev, clean)) => Source {
            revision: rev,
            dirty: !clean,
            digest: (!clean).then_some(digest),
        },
        None => Source {
            revision: "unversioned".into(),
            dirty: false,
            digest: Some(digest),
        },
    }
}

/// The platform's recent history: commit ids and commit times (epoch
/// seconds), newest first, following first parents from HEAD, at most
/// `limit`. Empty when the inputs are not in a git repository; shorter in
/// a shallow clone. The rollout policy counts how far behind a repo is
/// from it.
pub fn history(inputs: &Inputs, limit: usize) -> Vec<(String, crate::time::Epoch)> {
    let mut out = Vec::new();
    let Some(dir) = std::fs::canonicalize(&inputs.registry_path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    else {
        return out;
    };
    let Ok(repo) = gix::discover(dir) else {
        return out;
    };
    let Ok(mut commit) = repo.head_commit() else {
        return out;
    };
    while out.len() < limit {
        let Ok(time) = commit.time() else { break };
        out.push((commit.id.to_string(), time.seconds));
        let Some(parent) = commit.parent_ids().next() else {
            break;
        };
        match parent.object().ok().and_then(|o| o.try_into_commit().ok()) {
            Some(c) => commit = c,
            None => break, // shallow boundary
        }
    }
    out
}

/// A digest of exactly what was read: the git blob id of a listing of
/// `path blob` lines (registry first, then every template).
fn input_digest(inputs: &Inputs) -> String {
    let mut listing = format!("registry {}\n", blob_id(inputs.registry_text.as_bytes()));
    for (path, bytes) in &inputs.template_files {
        listing.push_str(&format!("templates/{path} {}\n", blob_id(bytes)));
    }
    blob_id(listing.as_bytes()).to_string()
}

/// `(HEAD commit id, inputs identical to HEAD)` of the repository holding
/// the registry, if any.
fn git_revision(inputs: &Inputs) -> Option<(String, bool)> {
    let registry_abs = std::fs::canonicalize(&inputs.registry_path).ok()?;
    let templates_abs = std::fs::canonicalize(&inputs.templates_dir).ok()?;
    let repo = gix::discover(registry_abs.parent()?).ok()?;
    let workdir = std::fs::canonicalize(repo.workdir()?).ok()?;
    let commit = repo.head_commit().ok()?;
    let tree = commit.tree().ok()?;
    let rel = |p: &Path| -> Option<String> {
        Some(
            p.strip_prefix(&workdir)
                .ok()?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/"),
        )
    };
    let blob_at = |path: &str| -> Option<crate::blob::ObjectId> {
        let entry = tree.lookup_entry_by_path(path).ok()??;
        entry.mode().is_blob().then(|| entry.object_id().into())
    };
    let mut clean = blob_at(&rel(&registry_abs)?) == Some(blob_id(inputs.registry_text.as_bytes()));
    let tdir = rel(&templates_abs)?;
    let mut committed_templates = BTreeMap::new();
    if let Ok(Some(entry)) = tree.lookup_entry_by_path(&tdir)
        && let Ok(obj) = entry.object()
        && let Ok(t) = obj.peel_to_tree()
    {
        collect_blobs(&t, "", &mut committed_templates);
    }
    let on_disk: BTreeMap<&str, crate::blob::ObjectId> = inputs
        .template_files
        .iter()
        .map(|(p, b)| (p.as_str(), blob_id(b)))
        .collect();
    clean &= committed_templates.len() == on_disk.len()
        && committed_templates
            .iter()
            .all(|(p, id)| on_disk.get(p.as_str()) == Some(id));
    Some((commit.id.to_string(), clean))
}

fn collect_blobs(
    tree: &gix::Tree<'_>,
    prefix: &str,
    out: &mut BTreeMap<String, crate::blob::ObjectId>,
) {
    let Ok(decoded) = tree.decode() else { return };
    for e in &decoded.entries {
        let name = format!("{prefix}{}", e.filename);
        if e.mode.is_tree() {
            if let Ok(obj) = tree.repo.find_object(e.oid)
                && let Ok(sub) = obj.peel_to_tree()
            {
                collect_blobs(&sub, &format!("{name}/"), out);
            }
        } else if e.mode.is_blob() {
            out.insert(name, e.oid.to_owned().into());
        }
    }
}
