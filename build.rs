//! Build script: embeds the git commit the binary is built from, for
//! `distributor --version`. Reads `git rev-parse HEAD` when the source is a
//! git checkout of this package with `git` installed; otherwise (a
//! tarball, no git, or a copy inside some other repository) the commit is
//! "unknown". No network.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = if own_checkout() {
        git(&["rev-parse", "HEAD"])
    } else {
        None
    };
    match &commit {
        Some(_) => {
            // Rebuild when HEAD moves: a checkout changes HEAD, a commit the
            // branch's ref (loose, or packed after `git gc`).
            for path in ["HEAD", "packed-refs"] {
                rerun_if_changed(path);
            }
            if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
                rerun_if_changed(&head_ref);
            }
        }
        None => println!("cargo:warning=not a git checkout: --version says commit unknown"),
    }
    let commit = commit.unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=DISTRIBUTOR_GIT_COMMIT={commit}");
}

/// The trimmed stdout of `git ARGS` in the package's directory, if git
/// exists and succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

/// Whether the package directory is the top of a git work tree (not a
/// tarball unpacked inside some other repository).
fn own_checkout() -> bool {
    let Some(top) = git(&["rev-parse", "--show-toplevel"]) else {
        return false;
    };
    let canonical = |p: &str| std::fs::canonicalize(p).ok();
    canonical(&top).is_some() && canonical(&top) == canonical(env!("CARGO_MANIFEST_DIR"))
}

/// Re-runs the build script when the git file `path` (under the git
/// directory; worktrees resolve to the shared one where git does) changes.
fn rerun_if_changed(path: &str) {
    if let Some(file) = git(&["rev-parse", "--path-format=absolute", "--git-path", path]) {
        println!("cargo:rerun-if-changed={file}");
    }
}
