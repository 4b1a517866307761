//! The platform inputs as a commit of the platform repository holds them
//! (`--source-rev REV`, fleet rollback): the registry and the templates
//! read from git objects, no checkout, with the same rules as on disk
//! (a symbolic link a manifest names is refused). A revision is a branch
//! or tag name, a full commit id, or a unique prefix (at least 4 hex
//! digits) of a commit in HEAD's first-parent history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use super::{Inputs, check_symlinks};

/// Commits of HEAD's history searched for a prefix.
const PREFIX_SEARCH: usize = 10_000;

/// The shortest prefix taken.
const MIN_PREFIX: usize = 4;

/// The platform repository holding the registry, and both inputs' paths
/// relative to its work tree.
pub(super) struct Platform {
    pub repo: gix::Repository,
    pub registry: String,
    pub templates: String,
}

impl Platform {
    /// Finds the repository holding `registry` (which need not exist in the
    /// work tree: a rollback may read a registry since moved or deleted).
    pub fn find(registry: &Path, templates: &Path) -> Result<Platform> {
        let absolute = |p: &Path| -> Result<PathBuf> {
            let parent = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let dir = std::fs::canonicalize(parent)
                .with_context(|| format!("cannot find the directory of {}", p.display()))?;
            Ok(match p.file_name() {
                Some(name) => dir.join(name),
                None => dir,
            })
        };
        let registry_abs = absolute(registry)?;
        let templates_abs = absolute(templates)?;
        let dir = registry_abs.parent().unwrap_or(Path::new("/"));
        let repo = gix::discover(dir).map_err(|_| {
            anyhow!(
                "{} is not inside a git repository: a platform revision can only be read from git",
                registry.display()
            )
        })?;
        let workdir = repo
            .workdir()
            .and_then(|w| std::fs::canonicalize(w).ok())
            .ok_or_else(|| {
                anyhow!(
                    "the platform repository of {} has no work tree",
                    registry.display()
                )
            })?;
        let rel = |p: &Path| -> Result<String> {
            let inside = p.strip_prefix(&workdir).map_err(|_| {
                anyhow!(
                    "{} is outside the platform repository {}",
                    p.display(),
                    workdir.display()
                )
            })?;
            Ok(inside
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/"))
        };
        Ok(Platform {
            registry: rel(&registry_abs)?,
            templates: rel(&templates_abs)?,
            repo,
        })
    }

    /// The commit `rev` names.
    pub fn commit(&self, rev: &str) -> Result<gix::Commit<'_>> {
        let rev = rev.trim();
        if rev.is_empty() {
            bail!("the revision is empty");
        }
        if let Ok(mut reference) = self.repo.find_reference(rev)
            && let Ok(id) = reference.peel_to_id()
            && let Some(commit) = id.object().ok().and_then(|o| o.try_into_commit().ok())
        {
            return Ok(commit);
        }
        let hex = rev.len() >= MIN_PREFIX && rev.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex {
            bail!(
                "{} is neither a branch, a tag nor a commit id of the platform repository \
                 (give a commit id or a prefix of at least {MIN_PREFIX} hex digits)",
                crate::diag::quote(rev)
            );
        }
        // A commit id is 40 (or 64) hex digits: longer is no revision, and
        // is cut in messages like every value given.
        let shown = crate::diag::cut(rev);
        let wanted = rev.to_ascii_lowercase();
        if let Ok(id) = gix::ObjectId::from_hex(wanted.as_bytes())
            && let Ok(object) = self.repo.find_object(id)
        {
            return object
                .try_into_commit()
                .map_err(|_| anyhow!("{shown} is not a commit"));
        }
        let matches = self.history_matching(&wanted)?;
        match matches.as_slice() {
            [one] => Ok(self.repo.find_object(*one)?.try_into_commit()?),
            [] => bail!(
                "no commit {shown} in the platform repository's history (searched the last \
                 {PREFIX_SEARCH} commits of HEAD)"
            ),
            many => bail!(
                "{shown} is ambiguous: {} commits start with it ({}); give more digits",
                many.len(),
                many.iter()
                    .take(3)
                    .map(|id| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Commits of HEAD's first-parent history whose id starts with `prefix`.
    fn history_matching(&self, prefix: &str) -> Result<Vec<gix::ObjectId>> {
        let mut out = Vec::new();
        let mut commit = self
            .repo
            .head_commit()
            .context("cannot read the platform repository's HEAD")?;
        for _ in 0..PREFIX_SEARCH {
            if commit.id.to_string().starts_with(prefix) {
                out.push(commit.id);
            }
            let Some(parent) = commit.parent_ids().next() else {
                break;
            };
            match parent.object().ok().and_then(|o| o.try_into_commit().ok()) {
                Some(c) => commit = c,
                None => break,
            }
        }
        Ok(out)
    }

    /// The inputs as `commit` holds them, named by the paths given on the
    /// command line (`registry`, `templates`).
    pub fn inputs(
        &self,
        commit: &gix::Commit<'_>,
        registry: &Path,
        templates: &Path,
    ) -> Result<Inputs> {
        let short = &commit.id.to_string()[..12];
        let tree = commit.tree().context("cannot read the commit's tree")?;
        let entry = tree
            .lookup_entry_by_path(&self.registry)
            .ok()
            .flatten()
            .ok_or_else(|| anyhow!("{} does not exist at {short}", self.registry))?;
        if !matches!(
            entry.mode().kind(),
            gix::object::tree::EntryKind::Blob | gix::object::tree::EntryKind::BlobExecutable
        ) {
            bail!("{} is not a regular file at {short}", self.registry);
        }
        let registry_text = String::from_utf8(entry.object()?.detach().data)
            .map_err(|_| anyhow!("{} at {short} is not UTF-8 text", self.registry))?;
        let dir = tree
            .lookup_entry_by_path(&self.templates)
            .ok()
            .flatten()
            .filter(|e| e.mode().is_tree())
            .ok_or_else(|| {
                anyhow!(
                    "the templates directory {} does not exist at {short}",
                    self.templates
                )
            })?;
        let dir = dir.object()?.peel_to_tree()?;
        let mut template_files = BTreeMap::new();
        let mut symlinks = Vec::new();
        collect(&dir, "", &mut template_files, &mut symlinks)?;
        check_symlinks(templates, &template_files, &symlinks)?;
        Ok(Inputs {
            registry_path: registry.to_path_buf(),
            registry_text,
            templates_dir: templates.to_path_buf(),
            template_files,
            at: Some(commit.id.to_string()),
        })
    }
}

/// Every file below `tree` (path -> bytes) and the paths of its symbolic
/// links; submodules are skipped.
fn collect(
    tree: &gix::Tree<'_>,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    symlinks: &mut Vec<String>,
) -> Result<()> {
    use gix::object::tree::EntryKind;
    let decoded = tree.decode().context("cannot decode a templates tree")?;
    for e in &decoded.entries {
        let name = format!("{prefix}{}", e.filename);
        match e.mode.kind() {
            EntryKind::Tree => {
                let sub = tree.repo.find_object(e.oid)?.peel_to_tree()?;
                collect(&sub, &format!("{name}/"), files, symlinks)?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                let data = tree.repo.find_object(e.oid)?.detach().data;
                files.insert(name, data);
            }
            EntryKind::Link => symlinks.push(name),
            EntryKind::Commit => {}
        }
    }
    Ok(())
}

/// Reads the registry and templates as `rev` holds them.
pub fn read_inputs_at(registry: &Path, templates: &Path, rev: &str, what: &str) -> Result<Inputs> {
    let platform = Platform::find(registry, templates)?;
    let commit = platform.commit(rev).with_context(|| what.to_string())?;
    platform
        .inputs(&commit, registry, templates)
        .with_context(|| what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// A platform repo with two commits: `v1` then `v2` of the registry and
    /// of `templates/b/f.txt`; returns (dir, first commit id).
    fn platform() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        std::fs::create_dir_all(d.join("templates/b")).unwrap();
        std::fs::write(
            d.join("templates/b/bundle.yaml"),
            "files:\n  - {template: f.txt, path: f.txt}\n",
        )
        .unwrap();
        for v in ["v1", "v2"] {
            std::fs::write(d.join("registry.json"), format!("{{\"v\": \"{v}\"}}")).unwrap();
            std::fs::write(d.join("templates/b/f.txt"), v).unwrap();
            git(d, &["add", "-A"]);
            git(d, &["commit", "-qm", v]);
        }
        git(d, &["tag", "first", "HEAD~1"]);
        let first = git(d, &["rev-parse", "HEAD~1"]);
        (dir, first)
    }

    fn read(dir: &Path, rev: &str) -> Result<Inputs> {
        read_inputs_at(
            &dir.join("registry.json"),
            &dir.join("templates"),
            rev,
            &format!("--source-rev {}", crate::diag::cut(rev)),
        )
    }

    #[test]
    fn a_revision_by_id_prefix_or_tag_reads_that_commits_inputs() {
        let (dir, first) = platform();
        for rev in [first.as_str(), &first[..7], "first"] {
            let inputs = read(dir.path(), rev).unwrap();
            assert_eq!(inputs.registry_text, "{\"v\": \"v1\"}", "{rev}");
            assert_eq!(inputs.template_files["b/f.txt"], b"v1", "{rev}");
            assert_eq!(inputs.at.as_deref(), Some(first.as_str()));
            assert_eq!(crate::source::revision(&inputs).revision, first);
        }
        // The work tree is not touched (no checkout).
        assert_eq!(
            std::fs::read_to_string(dir.path().join("templates/b/f.txt")).unwrap(),
            "v2"
        );
        // What going back changes is measured against the head.
        let back = read(dir.path(), "first").unwrap();
        let (head, before) = crate::source::previous_inputs(&back).unwrap();
        assert_eq!(head, git(dir.path(), &["rev-parse", "HEAD"]));
        assert_eq!(before.template_files["b/f.txt"], b"v2");
    }

    #[test]
    fn bad_revisions_are_refused_by_name() {
        let (dir, _) = platform();
        let err = |rev: &str| format!("{:#}", read(dir.path(), rev).err().unwrap());
        assert!(
            err("nope").contains("\"nope\" is neither a branch, a tag nor a commit id"),
            "{}",
            err("nope")
        );
        assert!(err("abc").contains("neither"), "too short: {}", err("abc"));
        assert!(
            err("deadbeef").contains("no commit deadbeef in the platform repository's history")
        );
        assert!(err("deadbeef").starts_with("--source-rev deadbeef: "));
    }

    #[test]
    fn inputs_missing_at_the_revision_are_named() {
        let (dir, first) = platform();
        let d = dir.path();
        git(d, &["mv", "registry.json", "platform.json"]);
        git(d, &["commit", "-qm", "moved"]);
        let moved = git(d, &["rev-parse", "HEAD"]);
        let err = format!("{:#}", read(d, &moved).err().unwrap());
        assert!(
            err.contains(&format!("registry.json does not exist at {}", &moved[..12])),
            "{err}"
        );
        // The registry path need not exist on disk for an older revision.
        assert_eq!(read(d, &first).unwrap().registry_text, "{\"v\": \"v1\"}");
    }

    #[test]
    fn outside_git_there_is_no_revision_to_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry.json"), "{}").unwrap();
        let err = format!("{:#}", read(dir.path(), "main").err().unwrap());
        assert!(err.contains("is not inside a git repository"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_template_at_the_revision_is_refused() {
        let (dir, _) = platform();
        let d = dir.path();
        std::fs::remove_file(d.join("templates/b/f.txt")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.join("templates/b/f.txt")).unwrap();
        git(d, &["add", "-A"]);
        git(d, &["commit", "-qm", "link"]);
        let err = format!("{:#}", read(d, "main").err().unwrap());
        assert!(err.contains("b/f.txt is a symbolic link"), "{err}");
    }
}
