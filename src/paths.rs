//! Rules for names that end up in target repositories: file paths written by
//! distributor and branch names it creates. Pure string checks, shared by
//! registry validation (opt-outs, lock path) and rendering (target paths).

/// Checks that `path` is a safe repo-relative file path: relative,
/// normalised (no empty, `.` or `..` segments, no trailing slash), not
/// inside `.git/`, free of NUL, backslashes and control characters.
/// Returns a message saying what is wrong.
pub fn check_repo_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("path is empty".into());
    }
    if path.contains('\0') {
        return Err(format!("path {path:?} contains a NUL byte"));
    }
    if path.contains('\\') {
        return Err(format!(
            "path {path:?} contains a backslash; use `/` as the separator"
        ));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(format!("path {path:?} contains a control character"));
    }
    if path.starts_with('/') {
        return Err(format!(
            "path {path:?} is absolute; target paths are relative to the repository root"
        ));
    }
    if path.ends_with('/') {
        return Err(format!("path {path:?} ends with `/`; it must name a file"));
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err(format!("path {path:?} has an empty segment (`//`)")),
            "." => return Err(format!("path {path:?} is not normalised (`.` segment)")),
            ".." => {
                return Err(format!(
                    "path {path:?} contains `..`; paths may not leave the repository"
                ));
            }
            _ => {}
        }
    }
    let first = path.split('/').next().unwrap_or_default();
    if first.eq_ignore_ascii_case(".git") {
        return Err(format!(
            "path {path:?} is inside `.git/`; git's own directory cannot be managed"
        ));
    }
    Ok(())
}

/// Checks a branch name against the parts of `git check-ref-format` that
/// matter for names an operator types into the registry.
pub fn check_branch_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.starts_with('-')
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with('.')
        || name.ends_with(".lock")
        || name.contains("..")
        || name.contains("//")
        || name.contains("@{")
        || name == "@"
        || name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c))
        || name.split('/').any(|s| s.starts_with('.'));
    if bad {
        Err(format!("{name:?} is not a valid git branch name"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            ".github/workflows/deploy-dev.yml",
            "CODEOWNERS",
            ".editorconfig",
            "a/b/c.json",
            "terraform/environments/prd/platform.auto.tfvars.json",
        ] {
            assert_eq!(check_repo_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn rejects_unsafe_paths_with_reason() {
        let cases = [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", "`..`"),
            ("a/../../x", "`..`"),
            ("a/./b", "not normalised"),
            ("a//b", "empty segment"),
            ("dir/", "must name a file"),
            (".git/config", "inside `.git/`"),
            (".GIT/hooks/pre-commit", "inside `.git/`"),
            ("a\\b", "backslash"),
            ("a\0b", "NUL"),
            ("a\nb", "control character"),
        ];
        for (p, want) in cases {
            let err = check_repo_path(p).expect_err(p);
            assert!(err.contains(want), "{p:?}: {err}");
        }
    }

    #[test]
    fn nested_dot_git_name_is_a_normal_file() {
        // Only the top-level `.git` directory is git's; `.github` and
        // `sub/.gitignore` are ordinary files.
        assert_eq!(check_repo_path(".gitignore"), Ok(()));
        assert_eq!(check_repo_path(".github/x"), Ok(()));
    }

    #[test]
    fn branch_names() {
        for ok in ["main", "distributor/sync", "release-1.2"] {
            assert_eq!(check_branch_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "a..b",
            "a b",
            "x.lock",
            "a/.hidden",
            "a:b",
            "a~1",
            "end/",
        ] {
            assert!(check_branch_name(bad).is_err(), "{bad:?}");
        }
    }
}
