//! `distributor init DIR`: writes a new platform repository (a registry
//! with one team and one repo, one bundle, the CI workflow of docs/ci.md
//! and a daemon config for the local forge) into a new or empty directory.
//! The files are embedded in the binary (`src/scaffold/files/`); the
//! scaffold validates and plans against the local forge as it is. It
//! refuses a directory with anything in it, and writes nothing then.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::app::exit;

/// Every file of the scaffold: its path in DIR and its content.
pub const FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("files/README.md")),
    (".gitignore", include_str!("files/.gitignore")),
    ("registry.json", include_str!("files/registry.json")),
    (
        "templates/baseline/bundle.yaml",
        include_str!("files/templates/baseline/bundle.yaml"),
    ),
    (
        "templates/baseline/CODEOWNERS",
        include_str!("files/templates/baseline/CODEOWNERS"),
    ),
    (
        "templates/baseline/.editorconfig",
        include_str!("files/templates/baseline/.editorconfig"),
    ),
    (
        ".github/workflows/distributor-plan.yml",
        include_str!("files/.github/workflows/distributor-plan.yml"),
    ),
    ("distributor.yaml", include_str!("files/distributor.yaml")),
];

/// Writes the scaffold into `dir` (created if missing) and tells the user
/// what to run next.
pub fn init(dir: &Path, out: &mut impl Write) -> Result<u8> {
    check_empty(dir)?;
    for (path, content) in FILES {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, content)
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    write!(out, "{}", next_steps(dir))?;
    out.flush()?;
    Ok(exit::OK)
}

/// Refuses a path that is not a directory, or a directory with entries.
fn check_empty(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if dir.exists() && !dir.is_dir() => {
            bail!("{} is not a directory ({e})", dir.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !names.is_empty() {
        names.sort();
        let shown = names.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        bail!(
            "{} is not empty ({} entries: {shown}{}): init writes a new platform repository \
             into a new or empty directory only, and wrote nothing",
            dir.display(),
            names.len(),
            if names.len() > 3 { ", ..." } else { "" }
        );
    }
    Ok(())
}

/// What `init` prints: the files written and the commands to run next.
fn next_steps(dir: &Path) -> String {
    let mut s = format!("created a platform repository in {}:\n", dir.display());
    for (path, _) in FILES {
        s.push_str(&format!("  {path}\n"));
    }
    s.push_str(&format!(
        "\nTry it against local bare repositories:\n\
         \x20 cd {}\n\
         \x20 distributor validate                                # exit 0\n\
         \x20 distributor plan --forge local:demo-repos --init    # exit 2: changes pending\n\
         \x20 distributor apply --forge local:demo-repos --init   # creates and fills the repos\n\
         \x20 distributor plan --forge local:demo-repos           # exit 0: in sync\n\
         \nBefore pushing it to GitHub, fill in DISTRIBUTOR_GIT and DISTRIBUTOR_REV in\n\
         .github/workflows/distributor-plan.yml (this binary is distributor {}).\n",
        dir.display(),
        crate::cli::VERSION
    ));
    s
}
