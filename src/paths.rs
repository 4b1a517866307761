//! Rules for names that end up in target repositories: file paths written by
//! distributor and branch names it creates. Pure string checks, shared by
//! registry validation (opt-outs, lock path), rendering (target paths and
//! how the targets of one repo fit together) and the forges (a second line
//! of defence before every write).
//!
//! The rules are git's own: what `git fsck --strict` calls `hasDotgit`
//! (`.git` in any segment, in any case, including the names macOS and
//! Windows read as `.git`), what `core.protectHFS`/`core.protectNTFS`
//! checkouts refuse, and `git check-ref-format --branch` for branches. Those
//! come from `gix-validate`, gitoxide's port of git's checks; the limits of
//! file systems (255 bytes a name, 4,096 a path) and the layout rules (a
//! file and a directory of one name, names differing only in case) are
//! ours.

use std::collections::HashMap;

use gix_validate::path::component;

use crate::diag::quote;

/// The longest file or directory name distributor writes: ext4 takes 255
/// bytes, APFS and NTFS 255 characters, so 255 bytes fits all of them.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// The longest path distributor writes: Linux's `PATH_MAX`. A checkout adds
/// the directory it lives in, so even this is generous.
pub const MAX_PATH_BYTES: usize = 4096;

/// Checks that `path` is a safe repo-relative file path: relative,
/// normalised (no empty, `.` or `..` segments, no trailing slash), free of
/// NUL, backslashes and control characters, no segment that git or a macOS
/// or Windows checkout reads as `.git` (or refuses otherwise), no segment
/// over [`MAX_SEGMENT_BYTES`] and no path over [`MAX_PATH_BYTES`]. Returns a
/// message saying what is wrong.
pub fn check_repo_path(path: &str) -> Result<(), String> {
    check_shape(path)?;
    let p = quote(path);
    if path.len() > MAX_PATH_BYTES {
        return Err(format!(
            "path {p} is longer than {MAX_PATH_BYTES} bytes, the most a checkout can take"
        ));
    }
    let segments: Vec<&str> = path.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if i == 0 && segments.len() > 1 && segment.eq_ignore_ascii_case(".git") {
            return Err(format!(
                "path {p} is inside `.git/`; git's own directory cannot be managed"
            ));
        }
        check_segment(segment)
            .map_err(|why| format!("path {p}: the segment {} {why}", quote(segment)))?;
    }
    Ok(())
}

/// The check a forge runs on a path before a commit: every rule of
/// [`check_repo_path`] for a file it creates or changes, only the shape
/// (relative, normalised, no NUL or control character) for a file it
/// removes, so a file committed under fewer rules (by an older
/// distributor) can still be removed once no template renders it.
pub fn check_write_path(path: &str, removing: bool) -> Result<(), String> {
    if removing {
        check_shape(path)
    } else {
        check_repo_path(path)
    }
}

/// The shape of a repo-relative file path: not empty, relative,
/// normalised, `/`-separated, free of NUL and control characters.
fn check_shape(path: &str) -> Result<(), String> {
    let p = quote(path);
    if path.is_empty() {
        return Err("path is empty".into());
    }
    if path.contains('\0') {
        return Err(format!("path {p} contains a NUL byte"));
    }
    if path.contains('\\') {
        return Err(format!(
            "path {p} contains a backslash; use `/` as the separator"
        ));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(format!("path {p} contains a control character"));
    }
    if path.starts_with('/') {
        return Err(format!(
            "path {p} is absolute; target paths are relative to the repository root"
        ));
    }
    if path.ends_with('/') {
        return Err(format!("path {p} ends with `/`; it must name a file"));
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(format!("path {p} has an empty segment (`//`)")),
            "." => return Err(format!("path {p} is not normalised (`.` segment)")),
            ".." => {
                return Err(format!(
                    "path {p} contains `..`; paths may not leave the repository"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// One name of a path (between slashes), checked with git's rules for
/// every platform (`gix_validate::path::component` with every protection
/// on) and the file-system length limit. Returns why it is refused.
fn check_segment(segment: &str) -> Result<(), String> {
    if segment.len() > MAX_SEGMENT_BYTES {
        return Err(format!(
            "is {} bytes long; file systems allow at most {MAX_SEGMENT_BYTES} bytes in a name",
            segment.len()
        ));
    }
    let options = component::Options {
        protect_windows: true,
        protect_hfs: true,
        protect_ntfs: true,
    };
    // Targets are regular or executable files, never symlinks, so the
    // `.gitmodules`-as-a-symlink rule cannot apply (mode `None`).
    match gix_validate::path::component(segment.as_bytes().into(), None, options) {
        Ok(_) => Ok(()),
        Err(component::Error::DotGitDir) => Err(dot_git_reason(segment)),
        Err(component::Error::WindowsReservedName) => Err(
            "is a device name on Windows (CON, PRN, AUX, NUL, COM1 to COM9, LPT0 to LPT9, \
             with or without an extension); a checkout there fails"
                .into(),
        ),
        Err(component::Error::WindowsIllegalCharacter)
            if segment.ends_with('.') || segment.ends_with(' ') =>
        {
            Err("ends with a dot or a space, which Windows drops from names; \
                 a checkout there fails"
                .into())
        }
        Err(component::Error::WindowsIllegalCharacter) => Err(
            "contains one of < > : \" | ? *, which Windows forbids in names; \
             a checkout there fails"
                .into(),
        ),
        Err(component::Error::WindowsPathPrefix) => Err(
            "starts like a Windows drive (`C:`); a checkout there would write outside the repository"
                .into(),
        ),
        Err(other) => Err(format!("is refused by git: {other}")),
    }
}

/// Why a segment gix reads as `.git` is refused, naming the platform rule.
fn dot_git_reason(segment: &str) -> String {
    if segment.eq_ignore_ascii_case(".git") {
        return "is git's own directory `.git`; git refuses it in any directory and in any case \
                (`git fsck`: hasDotgit)"
            .into();
    }
    if let Some(c) = segment.chars().find(|c| is_hfs_ignorable(*c)) {
        return format!(
            "is `.git` on macOS, whose file system ignores the invisible code point U+{:04X}; \
             git refuses it (`git fsck`: hasDotgit)",
            u32::from(c)
        );
    }
    if segment
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("git~1"))
    {
        return "is the Windows short name (8.3) of `.git`; git refuses it (core.protectNTFS)"
            .into();
    }
    "is `.git` on Windows, which drops trailing dots and spaces and reads `:` as a stream \
     separator; git refuses it (`git fsck`: hasDotgit)"
        .into()
}

/// The code points HFS+ skips when comparing names (git's `is_hfs_dotgit`).
fn is_hfs_ignorable(c: char) -> bool {
    matches!(
        u32::from(c),
        0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff
    )
}

/// A problem with how the target paths of one repo fit together, reported
/// at `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutProblem {
    pub target: String,
    pub message: String,
}

/// What holds a name in a repo's layout.
#[derive(Clone, Copy)]
enum Holder<'a> {
    Lock,
    Target(&'a str),
}

/// Checks that the target paths of one repo and its lock path can live in
/// one git tree and in a checkout on a case-insensitive file system (macOS,
/// Windows): no path is a directory of another (`conf` and `conf/inner`; a
/// target inside the lock file; a lock path that is a directory of
/// targets, like `.github`), and no two differ only in case (`CODEOWNERS`
/// and `codeowners`). Every problem names the target it is reported at.
pub fn check_layout<'a>(
    lock_path: &str,
    targets: impl IntoIterator<Item = &'a str>,
) -> Vec<LayoutProblem> {
    let mut targets: Vec<&str> = targets.into_iter().collect();
    targets.sort_unstable();
    let lock = quote(lock_path);
    let mut problems = Vec::new();
    let mut held: HashMap<String, Holder> = HashMap::new();
    held.insert(lock_path.to_lowercase(), Holder::Lock);
    for t in &targets {
        let message = match held.get(&t.to_lowercase()) {
            None => {
                held.insert(t.to_lowercase(), Holder::Target(t));
                continue;
            }
            Some(Holder::Lock) if *t == lock_path => {
                format!(
                    "{} is the lock file path; a template cannot write it",
                    quote(t)
                )
            }
            Some(Holder::Lock) => format!(
                "{} and the lock file path {lock} differ only in case: on macOS and Windows \
                 they are one file, so checkouts there break",
                quote(t)
            ),
            Some(Holder::Target(other)) => format!(
                "{} and {} differ only in case: on macOS and Windows they are one file, \
                 so checkouts there break; rename one",
                quote(t),
                quote(other)
            ),
        };
        problems.push(LayoutProblem {
            target: t.to_string(),
            message,
        });
    }
    for t in &targets {
        for dir in directories(t) {
            let message = match held.get(&dir.to_lowercase()) {
                None => continue,
                Some(Holder::Lock) => format!(
                    "{} is inside the lock file path {lock} (defaults.lock_path), which is a \
                     file: a git tree cannot hold a file and a directory of one name; \
                     choose a lock path that is no target's directory",
                    quote(t)
                ),
                Some(Holder::Target(file)) => format!(
                    "{} needs a directory {}, but {} is also a target: a git tree cannot hold \
                     a file and a directory of one name",
                    quote(t),
                    quote(dir),
                    quote(file)
                ),
            };
            problems.push(LayoutProblem {
                target: t.to_string(),
                message,
            });
        }
    }
    for dir in directories(lock_path) {
        if let Some(Holder::Target(file)) = held.get(&dir.to_lowercase()) {
            problems.push(LayoutProblem {
                target: file.to_string(),
                message: format!(
                    "the lock file path {lock} (defaults.lock_path) needs a directory {}, but \
                     {} is a target: a git tree cannot hold a file and a directory of one name",
                    quote(dir),
                    quote(file)
                ),
            });
        }
    }
    problems
}

/// The directories `path` lies in: `a/b/c` gives `a` and `a/b`.
fn directories(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Checks a branch name with `git check-ref-format --branch`'s rules
/// (`gix_validate::reference::branch_name` on `refs/heads/<name>`, plus the
/// two rules git adds for branches: no leading `-`, not `@`).
pub fn check_branch_name(name: &str) -> Result<(), String> {
    match branch_name_problem(name) {
        None => Ok(()),
        Some(why) => Err(format!(
            "{} is not a valid git branch name: {why}",
            quote(name)
        )),
    }
}

/// Why `name` cannot be a branch, in plain words.
fn branch_name_problem(name: &str) -> Option<String> {
    use gix_validate::reference::name::Error;
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.starts_with('-') {
        return Some("it starts with `-`, which git reads as an option".into());
    }
    if name.starts_with('/') {
        return Some("it starts with `/`".into());
    }
    if name == "@" {
        return Some("`@` alone means HEAD".into());
    }
    let full = format!("refs/heads/{name}");
    let error = gix_validate::reference::branch_name(full.as_bytes().into()).err()?;
    Some(match error {
        Error::InvalidByte { byte } => match byte.first() {
            Some(b' ') => "it contains a space".into(),
            Some(b) if b.is_ascii_control() => "it contains a control character".into(),
            _ => format!("it contains `{byte}`"),
        },
        Error::Asterisk => "it contains `*`".into(),
        Error::RepeatedDot => "it contains `..`".into(),
        Error::RepeatedSlash => "it contains `//`".into(),
        Error::ReflogPortion => "it contains `@{`".into(),
        Error::LockFileSuffix => "a part of it ends with `.lock`".into(),
        Error::StartsWithDot => "a part of it starts with `.`".into(),
        Error::EndsWithDot => "it ends with `.`".into(),
        Error::EndsWithSlash => "it ends with `/`".into(),
        Error::Reserved { .. } => "`HEAD` is reserved".into(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests;
