//! Bad target paths and lock paths: what `git fsck --strict` or a macOS or
//! Windows checkout would refuse is refused before anything is written,
//! naming the template, the bundle, the repos and the rule.

use serde_json::json;

use crate::common::{Env, replace_in_file};
use crate::{APPLY, PLAN, VALIDATE, check};

/// Where a problem with the target path of `security/verify-pins.sh` is
/// reported: the security bundle goes to 11 repos.
const PINS: &str = "templates/security/verify-pins.sh (target path of bundle `security`, 11 repos: acme/apple-auth, ";

/// Points the security bundle's `verify-pins.sh` at `path` (written as a
/// double-quoted YAML string, so any character can be given).
fn pins_path(env: &Env, path: &str) {
    replace_in_file(
        &env.template_path("security/bundle.yaml"),
        "path: .github/scripts/verify-pins.sh",
        &format!("path: {}", serde_json::to_string(path).unwrap()),
    );
}

/// The message for `path` refused at its segment `segment` for `why`.
fn refused(path: &str, segment: &str, why: &str) -> String {
    format!("path {path:?}: the segment {segment:?} {why}")
}

const DOT_GIT: &str = "is git's own directory `.git`; git refuses it in any directory and in any case (`git fsck`: hasDotgit)";
const NTFS_DOT_GIT: &str = "is `.git` on Windows, which drops trailing dots and spaces and reads `:` as a stream separator; git refuses it (`git fsck`: hasDotgit)";

/// A case whose target path `path` is refused at `segment` for `why`, by
/// `apply` and `validate`, as the only problem.
#[track_caller]
fn target_refused(path: &str, segment: &str, why: &str) {
    check(
        |env| pins_path(env, path),
        &[APPLY, VALIDATE],
        &[PINS, &refused(path, segment, why)],
        Some(1),
    );
}

#[test]
fn target_with_dot_git_in_a_subdirectory() {
    target_refused("sub/.git/hooks/post-checkout", ".git", DOT_GIT);
}

#[test]
fn target_with_dot_git_in_upper_case_deeper_down() {
    target_refused(".github/.GIT/config", ".GIT", DOT_GIT);
}

#[test]
fn target_that_is_a_file_named_dot_git() {
    target_refused(".github/scripts/.git", ".git", DOT_GIT);
}

#[test]
fn target_with_an_hfs_ignorable_code_point_in_dot_git() {
    target_refused(
        ".g\u{200c}it/hooks/post-checkout",
        ".g\u{200c}it",
        "is `.git` on macOS, whose file system ignores the invisible code point U+200C; git refuses it (`git fsck`: hasDotgit)",
    );
}

#[test]
fn target_with_a_zero_width_no_break_space_after_dot_git() {
    target_refused(
        "a/.git\u{feff}/config",
        ".git\u{feff}",
        "is `.git` on macOS, whose file system ignores the invisible code point U+FEFF; git refuses it (`git fsck`: hasDotgit)",
    );
}

#[test]
fn target_with_the_ntfs_short_name_of_dot_git() {
    target_refused(
        "GIT~1/hooks/post-checkout",
        "GIT~1",
        "is the Windows short name (8.3) of `.git`; git refuses it (core.protectNTFS)",
    );
}

#[test]
fn target_with_dot_git_and_a_trailing_dot() {
    target_refused(".git./hooks/post-checkout", ".git.", NTFS_DOT_GIT);
}

#[test]
fn target_with_dot_git_and_a_trailing_space() {
    target_refused(".git /hooks/post-checkout", ".git ", NTFS_DOT_GIT);
}

#[test]
fn target_with_dot_git_and_an_ntfs_stream() {
    target_refused(
        ".git::$INDEX_ALLOCATION/hooks/post-checkout",
        ".git::$INDEX_ALLOCATION",
        NTFS_DOT_GIT,
    );
}

#[test]
fn target_named_like_a_windows_device() {
    target_refused(
        ".github/scripts/aux.sh",
        "aux.sh",
        "is a device name on Windows (CON, PRN, AUX, NUL, COM1 to COM9, LPT0 to LPT9, with or without an extension); a checkout there fails",
    );
}

#[test]
fn target_ending_with_a_dot() {
    target_refused(
        ".github/scripts/verify-pins.sh.",
        "verify-pins.sh.",
        "ends with a dot or a space, which Windows drops from names; a checkout there fails",
    );
}

#[test]
fn target_with_a_character_windows_forbids() {
    target_refused(
        ".github/scripts/verify|pins.sh",
        "verify|pins.sh",
        "contains one of < > : \" | ? *, which Windows forbids in names; a checkout there fails",
    );
}

#[test]
fn target_with_a_segment_over_255_bytes() {
    let name = format!("{}.sh", "v".repeat(253));
    let path = format!(".github/scripts/{name}");
    check(
        |env| pins_path(env, &path),
        &[APPLY, VALIDATE],
        &[
            PINS,
            &format!(
                "path \"{}\"… (272 bytes): the segment \"{}\"… (256 bytes) is 256 bytes long; \
                 file systems allow at most 255 bytes in a name",
                &path[..200],
                &name[..200]
            ),
        ],
        Some(1),
    );
}

#[test]
fn target_path_over_4096_bytes_is_cut_in_the_message() {
    let path = vec!["p".repeat(99); 50].join("/");
    let stderr = check(
        |env| pins_path(env, &path),
        &[APPLY, VALIDATE],
        &[
            PINS,
            &format!(
                "path \"{}\"… (4999 bytes) is longer than 4096 bytes, the most a checkout can take",
                &path[..200]
            ),
        ],
        Some(1),
    );
    assert!(!stderr.contains(&path), "the path is not echoed whole");
}

const TREE: &str = "a git tree cannot hold a file and a directory of one name";

#[test]
fn target_inside_a_directory_that_is_another_target() {
    check(
        |env| pins_path(env, ".editorconfig/inner"),
        &[APPLY, PLAN, VALIDATE],
        &[
            "templates/security/verify-pins.sh (target path of bundle `security`, 10 repos: ",
            &format!(
                "\".editorconfig/inner\" needs a directory \".editorconfig\", but \".editorconfig\" is also a target: {TREE}"
            ),
        ],
        Some(1),
    );
}

#[test]
fn target_inside_a_directory_that_is_another_target_in_another_case() {
    check(
        |env| pins_path(env, ".EditorConfig/inner"),
        &[APPLY, VALIDATE],
        &[
            "templates/security/verify-pins.sh (target path of bundle `security`, 10 repos: ",
            &format!(
                "\".EditorConfig/inner\" needs a directory \".EditorConfig\", but \".editorconfig\" is also a target: {TREE}"
            ),
        ],
        Some(1),
    );
}

#[test]
fn target_inside_the_lock_file() {
    target_layout(
        ".github/distributor.lock.json/verify-pins.sh",
        &format!(
            "\".github/distributor.lock.json/verify-pins.sh\" is inside the lock file path \
             \".github/distributor.lock.json\" (defaults.lock_path), which is a file: {TREE}; \
             choose a lock path that is no target's directory"
        ),
    );
}

/// A case whose target path `path` conflicts with another name of the
/// same repos, reported as `message`.
#[track_caller]
fn target_layout(path: &str, message: &str) {
    check(
        |env| pins_path(env, path),
        &[APPLY, VALIDATE],
        &[PINS, message],
        Some(1),
    );
}

#[test]
fn targets_differing_only_in_case() {
    check(
        |env| pins_path(env, ".github/codeowners"),
        &[APPLY, PLAN, VALIDATE],
        &[
            "templates/security/verify-pins.sh (target path of bundle `security`, 11 repos: ",
            "\".github/codeowners\" and \".github/CODEOWNERS\" differ only in case: on macOS and \
             Windows they are one file, so checkouts there break; rename one",
        ],
        Some(1),
    );
}

#[test]
fn target_differing_from_the_lock_path_only_in_case() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["defaults"]["lock_path"] = json!(".github/scripts/Verify-Pins.sh")
            })
        },
        &[APPLY, VALIDATE],
        &[
            PINS,
            "\".github/scripts/verify-pins.sh\" and the lock file path \
             \".github/scripts/Verify-Pins.sh\" differ only in case: on macOS and Windows they \
             are one file, so checkouts there break",
        ],
        Some(1),
    );
}

#[test]
fn lock_path_that_is_a_directory_of_targets() {
    // With `lock_path: .github` every proposal lost its `.github/*` files.
    let stderr = check(
        |env| env.edit_registry(|r| r["defaults"]["lock_path"] = json!(".github")),
        &[APPLY, PLAN, VALIDATE],
        &[
            "templates/baseline/CODEOWNERS (target path of bundle `baseline`, 12 repos: ",
            &format!(
                "\".github/CODEOWNERS\" is inside the lock file path \".github\" \
                 (defaults.lock_path), which is a file: {TREE}; choose a lock path that is no \
                 target's directory"
            ),
        ],
        None,
    );
    assert!(
        stderr.contains(
            "templates/security/security.yml (target path of bundle `security`, 11 repos: "
        ),
        "{stderr}"
    );
}

#[test]
fn lock_path_inside_a_directory_that_is_a_target() {
    check(
        |env| env.edit_registry(|r| r["defaults"]["lock_path"] = json!(".editorconfig/lock.json")),
        &[APPLY, VALIDATE],
        &[
            "templates/baseline/.editorconfig (target path of bundle `baseline`, 11 repos: ",
            &format!(
                "the lock file path \".editorconfig/lock.json\" (defaults.lock_path) needs a \
                 directory \".editorconfig\", but \".editorconfig\" is a target: {TREE}"
            ),
        ],
        Some(1),
    );
}

#[test]
fn lock_path_with_an_hfs_ignorable_code_point_in_dot_git() {
    let lock = ".g\u{200d}it/distributor.lock.json";
    check(
        |env| env.edit_registry(|r| r["defaults"]["lock_path"] = json!(lock)),
        &[APPLY, PLAN, VALIDATE],
        &[
            "registry.json: defaults.lock_path: ",
            &refused(
                lock,
                ".g\u{200d}it",
                "is `.git` on macOS, whose file system ignores the invisible code point U+200D; \
                 git refuses it (`git fsck`: hasDotgit)",
            ),
        ],
        Some(1),
    );
}

#[test]
fn lock_path_over_4096_bytes_is_cut_in_the_message() {
    let lock = format!("{}/lock.json", vec!["l".repeat(99); 50].join("/"));
    let stderr = check(
        |env| env.edit_registry(|r| r["defaults"]["lock_path"] = json!(lock)),
        &[APPLY, VALIDATE],
        &[
            "registry.json: defaults.lock_path: ",
            &format!(
                "path \"{}\"… (5009 bytes) is longer than 4096 bytes, the most a checkout can take",
                &lock[..200]
            ),
        ],
        Some(1),
    );
    assert!(!stderr.contains(&lock), "the path is not echoed whole");
}

#[test]
fn skip_files_entry_with_an_ntfs_name_of_dot_git() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["teams"]["apple"]["repos"][1]["skip_files"] = json!(["git~1/config"])
            })
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json: teams.apple.repos[1].skip_files[0]: ",
            &refused(
                "git~1/config",
                "git~1",
                "is the Windows short name (8.3) of `.git`; git refuses it (core.protectNTFS)",
            ),
        ],
        // and: not a file this repo would receive
        Some(2),
    );
}

#[test]
fn waiver_file_with_dot_git_and_a_trailing_dot() {
    check(
        |env| {
            env.edit_registry(|r| {
                r["waivers"] = json!([{"repo": "kiwi-app", "file": "sub/.git./config",
                    "owner": "bob", "expires": "2027-01-15"}])
            })
        },
        &[APPLY, VALIDATE],
        &[
            "registry.json: waivers[0].file: ",
            &refused("sub/.git./config", ".git.", NTFS_DOT_GIT),
        ],
        Some(1),
    );
}
