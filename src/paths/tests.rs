//! Unit tests of the path and branch-name rules: each rule with the exact
//! message, and the names that must stay valid.

use super::*;

#[test]
fn accepts_ordinary_paths() {
    for p in [
        ".github/workflows/deploy-dev.yml",
        "CODEOWNERS",
        ".editorconfig",
        ".gitignore",
        ".gitmodules",
        ".github/x",
        "sub/.gitignore",
        "a/b/c.json",
        "git~2/x",
        "console/x",
        "terraform/environments/prd/platform.auto.tfvars.json",
        "é/ü.md",
    ] {
        assert_eq!(check_repo_path(p), Ok(()), "{p}");
    }
    let longest_name = "x".repeat(MAX_SEGMENT_BYTES);
    assert_eq!(check_repo_path(&longest_name), Ok(()));
    let longest_path = vec!["y".repeat(127); 32].join("/");
    assert_eq!(longest_path.len(), MAX_PATH_BYTES - 1);
    assert_eq!(check_repo_path(&longest_path), Ok(()));
}

#[test]
fn rejects_unsafe_paths_with_reason() {
    let cases = [
        ("", "path is empty"),
        (
            "/etc/passwd",
            "path \"/etc/passwd\" is absolute; target paths are relative to the repository root",
        ),
        (
            "../x",
            "path \"../x\" contains `..`; paths may not leave the repository",
        ),
        ("a/../../x", "path \"a/../../x\" contains `..`"),
        ("a/./b", "path \"a/./b\" is not normalised (`.` segment)"),
        ("a//b", "path \"a//b\" has an empty segment (`//`)"),
        ("dir/", "path \"dir/\" ends with `/`; it must name a file"),
        ("a\\b", "path \"a\\\\b\" contains a backslash"),
        ("a\0b", "path \"a\\0b\" contains a NUL byte"),
        ("a\nb", "path \"a\\nb\" contains a control character"),
    ];
    for (p, want) in cases {
        let err = check_repo_path(p).expect_err(p);
        assert!(err.starts_with(want), "{p:?}: {err}");
    }
}

/// The exact message for `path` refused at `segment` for `why`.
fn refused(path: &str, segment: &str, why: &str) -> String {
    format!("path {path:?}: the segment {segment:?} {why}")
}

const DOT_GIT: &str = "is git's own directory `.git`; git refuses it in any directory and in any case (`git fsck`: hasDotgit)";

#[test]
fn dot_git_in_any_segment_and_any_case() {
    for p in [".git/config", ".GIT/hooks/pre-commit", ".Git/x"] {
        assert_eq!(
            check_repo_path(p),
            Err(format!(
                "path {p:?} is inside `.git/`; git's own directory cannot be managed"
            ))
        );
    }
    for (p, seg) in [
        ("sub/.git/hooks/post-checkout", ".git"),
        ("a/b/.GiT/config", ".GiT"),
        ("a/.git", ".git"),
        (".git", ".git"),
    ] {
        assert_eq!(check_repo_path(p), Err(refused(p, seg, DOT_GIT)), "{p}");
    }
}

#[test]
fn hfs_ignorable_code_points_make_dot_git() {
    for (c, code) in [
        ('\u{200c}', "200C"),
        ('\u{200d}', "200D"),
        ('\u{202e}', "202E"),
        ('\u{206a}', "206A"),
        ('\u{feff}', "FEFF"),
    ] {
        let seg = format!(".g{c}it");
        let p = format!("{seg}/hooks/post-checkout");
        let why = format!(
            "is `.git` on macOS, whose file system ignores the invisible code point U+{code}; \
             git refuses it (`git fsck`: hasDotgit)"
        );
        assert_eq!(check_repo_path(&p), Err(refused(&p, &seg, &why)), "{code}");
    }
    // Ignorable code points elsewhere are fine.
    assert_eq!(check_repo_path("a\u{200c}b/c"), Ok(()));
}

#[test]
fn ntfs_names_of_dot_git() {
    let short = "is the Windows short name (8.3) of `.git`; git refuses it (core.protectNTFS)";
    for (p, seg) in [("GIT~1/config", "GIT~1"), ("a/git~1/x", "git~1")] {
        assert_eq!(check_repo_path(p), Err(refused(p, seg, short)), "{p}");
    }
    let trailing = "is `.git` on Windows, which drops trailing dots and spaces and reads `:` as a \
                    stream separator; git refuses it (`git fsck`: hasDotgit)";
    for (p, seg) in [
        (".git./hooks/x", ".git."),
        (".git /hooks/x", ".git "),
        ("a/.GIT. . /x", ".GIT. . "),
        (".git::$INDEX_ALLOCATION/x", ".git::$INDEX_ALLOCATION"),
    ] {
        assert_eq!(check_repo_path(p), Err(refused(p, seg, trailing)), "{p}");
    }
}

#[test]
fn names_windows_refuses() {
    let device = "is a device name on Windows (CON, PRN, AUX, NUL, COM1 to COM9, LPT0 to LPT9, \
                  with or without an extension); a checkout there fails";
    for (p, seg) in [("CON", "CON"), ("a/aux.txt", "aux.txt"), ("lpt1/x", "lpt1")] {
        assert_eq!(check_repo_path(p), Err(refused(p, seg, device)), "{p}");
    }
    let trailing =
        "ends with a dot or a space, which Windows drops from names; a checkout there fails";
    for (p, seg) in [("README.md.", "README.md."), ("docs /x", "docs ")] {
        assert_eq!(check_repo_path(p), Err(refused(p, seg, trailing)), "{p}");
    }
    let chars =
        "contains one of < > : \" | ? *, which Windows forbids in names; a checkout there fails";
    for (p, seg) in [
        ("what?.md", "what?.md"),
        ("a/b|c", "b|c"),
        ("x/ab:c", "ab:c"),
    ] {
        assert_eq!(check_repo_path(p), Err(refused(p, seg, chars)), "{p}");
    }
    let drive =
        "starts like a Windows drive (`C:`); a checkout there would write outside the repository";
    assert_eq!(check_repo_path("C:x"), Err(refused("C:x", "C:x", drive)));
}

#[test]
fn long_names_and_paths() {
    let name = "n".repeat(MAX_SEGMENT_BYTES + 1);
    let p = format!("docs/{name}.md");
    let err = check_repo_path(&p).unwrap_err();
    assert_eq!(
        err,
        format!(
            "path {}: the segment {} is 259 bytes long; file systems allow at most 255 bytes in a name",
            quote(&p),
            quote(&format!("{name}.md"))
        )
    );
    // Bytes, not characters: 128 two-byte characters are 256 bytes.
    let wide = "é".repeat(128);
    assert!(
        check_repo_path(&wide)
            .unwrap_err()
            .contains("is 256 bytes long")
    );

    let p = vec!["d".repeat(99); 50].join("/");
    assert_eq!(p.len(), 4999);
    let err = check_repo_path(&p).unwrap_err();
    assert_eq!(
        err,
        format!(
            "path \"{}\"… (4999 bytes) is longer than 4096 bytes, the most a checkout can take",
            &p[..200]
        )
    );
}

fn layout(lock: &str, targets: &[&str]) -> Vec<(String, String)> {
    check_layout(lock, targets.iter().copied())
        .into_iter()
        .map(|p| (p.target, p.message))
        .collect()
}

const LOCK: &str = ".github/distributor.lock.json";

#[test]
fn layout_of_ordinary_targets_is_fine() {
    assert_eq!(
        layout(
            LOCK,
            &[
                ".github/CODEOWNERS",
                ".github/workflows/a.yml",
                ".github/workflows/b.yml",
                ".editorconfig",
                "conf",
                "config/x",
                "conf.d/x",
            ]
        ),
        []
    );
}

#[test]
fn a_target_that_is_a_directory_of_another() {
    assert_eq!(
        layout(LOCK, &["conf/inner", "conf", "conf/a/b"]),
        [
            (
                "conf/a/b".to_string(),
                "\"conf/a/b\" needs a directory \"conf\", but \"conf\" is also a target: a git \
                 tree cannot hold a file and a directory of one name"
                    .to_string()
            ),
            (
                "conf/inner".to_string(),
                "\"conf/inner\" needs a directory \"conf\", but \"conf\" is also a target: a git \
                 tree cannot hold a file and a directory of one name"
                    .to_string()
            ),
        ]
    );
    // Case-insensitively too: on macOS `Conf` is the directory `conf/`.
    assert_eq!(
        layout(LOCK, &["Conf", "conf/inner"]),
        [(
            "conf/inner".to_string(),
            "\"conf/inner\" needs a directory \"conf\", but \"Conf\" is also a target: a git \
             tree cannot hold a file and a directory of one name"
                .to_string()
        )]
    );
}

#[test]
fn a_target_inside_the_lock_file() {
    assert_eq!(
        layout(LOCK, &[".github/distributor.lock.json/x", ".editorconfig"]),
        [(
            ".github/distributor.lock.json/x".to_string(),
            "\".github/distributor.lock.json/x\" is inside the lock file path \
             \".github/distributor.lock.json\" (defaults.lock_path), which is a file: a git tree \
             cannot hold a file and a directory of one name; choose a lock path that is no \
             target's directory"
                .to_string()
        )]
    );
}

#[test]
fn a_lock_path_that_is_a_directory_of_targets() {
    let found = layout(
        ".github",
        &[".github/CODEOWNERS", ".github/workflows/a.yml", "x"],
    );
    let targets: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(targets, [".github/CODEOWNERS", ".github/workflows/a.yml"]);
    assert_eq!(
        found[0].1,
        "\".github/CODEOWNERS\" is inside the lock file path \".github\" (defaults.lock_path), \
         which is a file: a git tree cannot hold a file and a directory of one name; choose a \
         lock path that is no target's directory"
    );
}

#[test]
fn a_target_that_is_a_directory_of_the_lock_path() {
    assert_eq!(
        layout("meta/lock.json", &["meta", "x"]),
        [(
            "meta".to_string(),
            "the lock file path \"meta/lock.json\" (defaults.lock_path) needs a directory \
             \"meta\", but \"meta\" is a target: a git tree cannot hold a file and a directory \
             of one name"
                .to_string()
        )]
    );
}

#[test]
fn targets_differing_only_in_case() {
    assert_eq!(
        layout(LOCK, &[".github/codeowners", ".github/CODEOWNERS"]),
        [(
            ".github/codeowners".to_string(),
            "\".github/codeowners\" and \".github/CODEOWNERS\" differ only in case: on macOS and \
             Windows they are one file, so checkouts there break; rename one"
                .to_string()
        )]
    );
    // Beyond ASCII too.
    assert_eq!(layout(LOCK, &["Ä.md", "ä.md"]).len(), 1);
    assert_eq!(
        layout(LOCK, &[".github/Distributor.lock.json"]),
        [(
            ".github/Distributor.lock.json".to_string(),
            "\".github/Distributor.lock.json\" and the lock file path \
             \".github/distributor.lock.json\" differ only in case: on macOS and Windows they \
             are one file, so checkouts there break"
                .to_string()
        )]
    );
}

#[test]
fn branch_names() {
    for ok in [
        "main",
        "distributor/sync",
        "release-1.2",
        "a/HEAD",
        "x@y",
        "a.b/c",
        "feature/é",
    ] {
        assert_eq!(check_branch_name(ok), Ok(()), "{ok}");
    }
    for (bad, why) in [
        ("", "it is empty"),
        ("-x", "it starts with `-`, which git reads as an option"),
        ("/x", "it starts with `/`"),
        ("@", "`@` alone means HEAD"),
        ("HEAD", "`HEAD` is reserved"),
        ("a..b", "it contains `..`"),
        ("a b", "it contains a space"),
        ("a\tb", "it contains a control character"),
        ("x.lock", "a part of it ends with `.lock`"),
        ("x.lock/y", "a part of it ends with `.lock`"),
        ("a/.hidden", "a part of it starts with `.`"),
        (".hidden", "a part of it starts with `.`"),
        ("a:b", "it contains `:`"),
        ("a~1", "it contains `~`"),
        ("a^", "it contains `^`"),
        ("a?", "it contains `?`"),
        ("a[b", "it contains `[`"),
        ("a\\b", "it contains `\\`"),
        ("a*", "it contains `*`"),
        ("x@{1}", "it contains `@{`"),
        ("a//b", "it contains `//`"),
        ("end/", "it ends with `/`"),
        ("end.", "it ends with `.`"),
    ] {
        assert_eq!(
            check_branch_name(bad),
            Err(format!("{bad:?} is not a valid git branch name: {why}")),
            "{bad:?}"
        );
    }
}

#[test]
fn forges_remove_what_they_would_not_create() {
    // A file committed under fewer rules can be removed, not written.
    for p in [".github/scripts/aux.sh", "docs/x.", "sub/.git/x", "GIT~1/x"] {
        assert!(check_write_path(p, false).is_err(), "{p}");
        assert_eq!(check_write_path(p, true), Ok(()), "{p}");
    }
    // The shape is checked either way.
    for p in ["../x", "/x", "a//b", "a\0b", ""] {
        assert!(check_write_path(p, true).is_err(), "{p:?}");
    }
}
