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

mod at;

pub use at::read_inputs_at;

/// The platform inputs as read from disk.
pub struct Inputs {
    pub registry_path: PathBuf,
    pub registry_text: String,
    pub templates_dir: PathBuf,
    /// Template files: path relative to the templates directory (with `/`)
    /// -> bytes.
    pub template_files: BTreeMap<String, Vec<u8>>,
    /// The platform commit the inputs were read from (`--source-rev`, a
    /// baseline); `None`: read from disk.
    pub at: Option<String>,
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
    let mut symlinks = Vec::new();
    read_tree(templates, templates, &mut template_files, &mut symlinks)?;
    check_symlinks(templates, &template_files, &symlinks)?;
    Ok(Inputs {
        registry_path: registry.to_path_buf(),
        registry_text,
        templates_dir: templates.to_path_buf(),
        template_files,
        at: None,
    })
}

/// Symbolic links under the templates directory are not followed: a link
/// can point outside the platform repository (a secret would be rendered
/// into every repo), and git records the link, not the file, so the
/// revision would not describe what was rendered. A link a manifest names
/// (or a bundle's `bundle.yaml`) is an error saying so; any other link is
/// ignored with a warning, like any file no manifest names.
fn check_symlinks(
    templates: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    symlinks: &[String],
) -> Result<()> {
    if symlinks.is_empty() {
        return Ok(());
    }
    let (bundles, _) = crate::render::bundle::bundles_and_problems("", files);
    // A bundle's own manifest counts as named: ignoring it would drop the
    // bundle and report "unknown bundle" everywhere it is used.
    let referenced = |link: &str| {
        link.split_once('/')
            .is_some_and(|(_, rest)| rest == crate::render::bundle::MANIFEST)
            || bundles.values().any(|b| {
                b.manifest
                    .files
                    .iter()
                    .any(|f| format!("{}/{}", b.name, f.template) == link)
            })
    };
    let root = templates.display();
    let (named, other): (Vec<&String>, Vec<&String>) = symlinks.iter().partition(|l| referenced(l));
    for link in other {
        tracing::warn!(
            "{root}/{link}: a symbolic link no bundle manifest names; ignored (symlinks under the templates directory are not followed)"
        );
    }
    if !named.is_empty() {
        let paths: Vec<String> = named.iter().map(|l| format!("{root}/{l}")).collect();
        bail!(
            "{} {} a symbolic link; symlinks under the templates directory are not followed \
             (nothing was written): replace {} with the file itself",
            paths.join(", "),
            if paths.len() == 1 { "is" } else { "are" },
            if paths.len() == 1 { "it" } else { "them" },
        );
    }
    Ok(())
}

fn read_tree(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, Vec<u8>>,
    symlinks: &mut Vec<String>,
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let ft = entry.file_type()?;
        let rel = || {
            path.strip_prefix(root)
                .expect("walked below root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        };
        if ft.is_dir() {
            read_tree(root, &path, out, symlinks)?;
        } else if ft.is_symlink() {
            symlinks.push(rel());
        } else if ft.is_file() {
            let rel = rel();
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
    if let Some(commit) = &inputs.at {
        return Source {
            revision: commit.clone(),
            dirty: false,
            digest: None,
        };
    }
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

/// The platform inputs as they were at the revision before the one being
/// planned, with that revision's commit id: HEAD when the inputs on disk
/// have uncommitted changes (the change is the edit), else HEAD's first
/// parent (the change is HEAD's commit). `None` when the inputs are not in
/// a git repository, HEAD has no parent (or it is beyond a shallow
/// boundary), or the registry did not exist there.
pub fn previous_inputs(inputs: &Inputs) -> Option<(String, Inputs)> {
    if inputs.at.is_some() {
        // A past revision (`--source-rev`) is compared with the head.
        let platform = at::Platform::find(&inputs.registry_path, &inputs.templates_dir).ok()?;
        let head = platform.repo.head_commit().ok()?;
        let before = platform
            .inputs(&head, &inputs.registry_path, &inputs.templates_dir)
            .ok()?;
        return Some((head.id.to_string(), before));
    }
    let (_, clean) = git_revision(inputs)?;
    let registry_abs = std::fs::canonicalize(&inputs.registry_path).ok()?;
    let templates_abs = std::fs::canonicalize(&inputs.templates_dir).ok()?;
    let repo = gix::discover(registry_abs.parent()?).ok()?;
    let workdir = std::fs::canonicalize(repo.workdir()?).ok()?;
    let head = repo.head_commit().ok()?;
    let commit = if clean {
        let parent = head.parent_ids().next()?;
        parent.object().ok()?.try_into_commit().ok()?
    } else {
        head
    };
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
    let read = |id: crate::blob::ObjectId| -> Option<Vec<u8>> {
        let oid = gix::ObjectId::from_hex(id.to_string().as_bytes()).ok()?;
        Some(repo.find_object(oid).ok()?.detach().data)
    };
    let entry = tree.lookup_entry_by_path(rel(&registry_abs)?).ok()??;
    let registry_text = String::from_utf8(read(entry.object_id().into())?).ok()?;
    let mut blobs = BTreeMap::new();
    if let Ok(Some(entry)) = tree.lookup_entry_by_path(rel(&templates_abs)?)
        && let Ok(obj) = entry.object()
        && let Ok(t) = obj.peel_to_tree()
    {
        collect_blobs(&t, "", &mut blobs);
    }
    let mut template_files = BTreeMap::new();
    for (path, id) in blobs {
        template_files.insert(path, read(id)?);
    }
    Some((
        commit.id.to_string(),
        Inputs {
            registry_path: inputs.registry_path.clone(),
            registry_text,
            templates_dir: inputs.templates_dir.clone(),
            template_files,
            at: Some(commit.id.to_string()),
        },
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A platform directory: `registry.json` and one bundle `b` naming
    /// `f.txt`, plus what `extra` adds.
    fn platform(extra: impl FnOnce(&Path)) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("registry.json");
        std::fs::write(&registry, "{}").unwrap();
        let templates = dir.path().join("templates");
        std::fs::create_dir_all(templates.join("b")).unwrap();
        std::fs::write(
            templates.join("b/bundle.yaml"),
            "files:\n  - template: f.txt\n    path: f.txt\n",
        )
        .unwrap();
        extra(&templates);
        (dir, registry, templates)
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_template_is_refused_plainly() {
        let (_dir, registry, templates) = platform(|t| {
            std::fs::write(t.join("real.txt"), "x").unwrap();
            std::os::unix::fs::symlink(t.join("real.txt"), t.join("b/f.txt")).unwrap();
        });
        let err = match read_inputs(&registry, &templates) {
            Ok(_) => panic!("a symlinked template is refused"),
            Err(e) => format!("{e:#}"),
        };
        assert_eq!(
            err,
            format!(
                "{}/b/f.txt is a symbolic link; symlinks under the templates directory are not \
                 followed (nothing was written): replace it with the file itself",
                templates.display()
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_manifest_is_refused_plainly() {
        let (_dir, registry, templates) = platform(|t| {
            std::fs::create_dir_all(t.join("c")).unwrap();
            std::os::unix::fs::symlink("../b/bundle.yaml", t.join("c/bundle.yaml")).unwrap();
        });
        let err = match read_inputs(&registry, &templates) {
            Ok(_) => panic!("a symlinked manifest is refused"),
            Err(e) => format!("{e:#}"),
        };
        assert_eq!(
            err,
            format!(
                "{}/c/bundle.yaml is a symbolic link; symlinks under the templates directory are \
                 not followed (nothing was written): replace it with the file itself",
                templates.display()
            )
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_no_manifest_names_is_skipped() {
        let (_dir, registry, templates) = platform(|t| {
            std::fs::write(t.join("b/f.txt"), "x").unwrap();
            std::os::unix::fs::symlink("/etc/hostname", t.join("b/other.txt")).unwrap();
        });
        let inputs = read_inputs(&registry, &templates).expect("an unnamed link is ignored");
        assert_eq!(
            inputs.template_files.keys().collect::<Vec<_>>(),
            ["b/bundle.yaml", "b/f.txt"]
        );
    }
}
