//! Shared helpers of the integration tests: a temporary copy of the
//! platform (registry + templates) next to a local forge root, running the
//! real binary, inspecting and editing bare repositories with the real
//! `git` CLI (isolated from any user or system configuration), and
//! snapshots of everything under a forge root for "nothing was written"
//! checks.

#![allow(dead_code)]

pub mod browser;
pub mod daemon;
pub mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use distributor::observe::Options;
use distributor::plan::PlanSettings;
use distributor::render::TemplateSet;
use distributor::target::Target;
use distributor::{registry, source};
use serde_json::Value;

/// The project directory (where `registry.json` and `templates/` live).
pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The result of running the binary.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the full output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// A scratch directory with a copy of the platform (`platform/registry.json`,
/// `platform/templates/`) and a local forge root (`forge/`, not created).
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub platform: PathBuf,
    pub forge: PathBuf,
    /// Scratch space for git (HOME, temporary index files).
    pub scratch: PathBuf,
}

impl Env {
    /// A fresh copy of the shipped registry and templates.
    pub fn new() -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("distributor-it-")
            .tempdir()
            .expect("temp dir");
        let platform = tmp.path().join("platform");
        std::fs::create_dir_all(&platform).unwrap();
        std::fs::copy(
            project_dir().join("registry.json"),
            platform.join("registry.json"),
        )
        .unwrap();
        copy_dir(
            &project_dir().join("templates"),
            &platform.join("templates"),
        );
        let scratch = tmp.path().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        let forge = tmp.path().join("forge");
        Env {
            tmp,
            platform,
            forge,
            scratch,
        }
    }

    /// A fresh copy, with the forge initialised by one `apply --init`
    /// (run once per test process; each call gets its own copy of that
    /// forge: a bad-input case costs a directory copy, not a fleet
    /// initialisation).
    pub fn initialised() -> Env {
        static TEMPLATE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        let template = TEMPLATE.get_or_init(|| {
            let env = Env::new();
            env.apply(&["--init"]).expect_code(0);
            // Kept for the whole process, under the target directory.
            let keep = tempfile::Builder::new()
                .prefix("initialised-forge-")
                .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
                .expect("temp dir")
                .keep();
            copy_dir(&env.forge, &keep);
            keep
        });
        let env = Env::new();
        copy_dir(template, &env.forge);
        env
    }

    /// `--forge local:<forge root>`.
    pub fn forge_arg(&self) -> String {
        format!("local:{}", self.forge.display())
    }

    /// Runs the binary in the platform directory with exactly `args`.
    pub fn run_raw(&self, args: &[&str]) -> Run {
        let out = self
            .command(args)
            .output()
            .expect("the distributor binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The binary, to run in the platform directory with exactly `args`,
    /// isolated from the caller's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_distributor"));
        cmd.args(args)
            .current_dir(&self.platform)
            .env_remove("DISTRIBUTOR_REGISTRY")
            .env_remove("DISTRIBUTOR_TEMPLATES")
            .env_remove("DISTRIBUTOR_FORGE")
            .env_remove("DISTRIBUTOR_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .env_remove("GITHUB_TOKEN")
            .env_remove("DISTRIBUTOR_GITHUB_TOKEN_FILE")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("DISTRIBUTOR_STATE_DIR")
            .env_remove("DISTRIBUTOR_NOW")
            .env_remove("DISTRIBUTOR_AUDIT_LOG")
            .env_remove("STATE_DIRECTORY")
            .env_remove("XDG_STATE_HOME")
            .env("NO_COLOR", "1")
            .env("HOME", &self.scratch)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        cmd
    }

    /// Runs `distributor <command> --forge local:<root> <args...>`.
    pub fn cmd(&self, command: &str, args: &[&str]) -> Run {
        let forge = self.forge_arg();
        let mut all = vec![command, "--forge", forge.as_str()];
        all.extend_from_slice(args);
        self.run_raw(&all)
    }

    pub fn apply(&self, args: &[&str]) -> Run {
        self.cmd("apply", args)
    }

    pub fn plan(&self, args: &[&str]) -> Run {
        self.cmd("plan", args)
    }

    pub fn status(&self, args: &[&str]) -> Run {
        self.cmd("status", args)
    }

    /// The bare repository of `acme/<name>`.
    pub fn bare(&self, name: &str) -> PathBuf {
        self.forge.join("acme").join(format!("{name}.git"))
    }

    pub fn registry_path(&self) -> PathBuf {
        self.platform.join("registry.json")
    }

    pub fn template_path(&self, rel: &str) -> PathBuf {
        self.platform.join("templates").join(rel)
    }

    /// The registry copy as JSON.
    pub fn registry(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.registry_path()).unwrap()).unwrap()
    }

    /// Writes the registry copy back (pretty-printed).
    pub fn write_registry(&self, v: &Value) {
        std::fs::write(
            self.registry_path(),
            serde_json::to_string_pretty(v).unwrap() + "\n",
        )
        .unwrap();
    }

    /// Edits the registry copy as JSON.
    pub fn edit_registry(&self, f: impl FnOnce(&mut Value)) {
        let mut v = self.registry();
        f(&mut v);
        self.write_registry(&v);
    }

    /// Replaces `from` by `to` in the registry text (exactly once).
    pub fn replace_in_registry(&self, from: &str, to: &str) {
        replace_in_file(&self.registry_path(), from, to);
    }

    /// Appends `text` to a template file.
    pub fn append_to_template(&self, rel: &str, text: &str) {
        let p = self.template_path(rel);
        let mut s = std::fs::read_to_string(&p).unwrap();
        s.push_str(text);
        std::fs::write(&p, s).unwrap();
    }

    /// `distributor context <repo> --format json`.
    pub fn context(&self, repo: &str) -> Value {
        let r = self.run_raw(&["context", repo, "--format", "json"]);
        r.expect_code(0);
        serde_json::from_str(&r.stdout).expect("context prints JSON")
    }

    /// Path -> blob id of what distributor renders for `repo`.
    pub fn rendered_blobs(&self, repo: &str) -> BTreeMap<String, String> {
        self.context(repo)["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_string(),
                    f["blob"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Runs git in `dir` (see [`git`]) with this env's scratch HOME.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        git_in(dir, &self.scratch, args, &[])
    }

    /// A commit by a human on `branch` of `bare` (see [`human_commit_files`]).
    pub fn human_commit(&self, bare: &Path, branch: &str, path: &str, content: &str) -> String {
        human_commit_files(
            bare,
            &self.scratch,
            branch,
            &[(path, Some(content))],
            &format!("Hand edit of {path}"),
        )
    }

    /// Snapshot of everything under the forge root.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::of(&self.forge, &self.scratch)
    }
}

/// Replaces `from` by `to` in a file; panics unless `from` occurs exactly once.
pub fn replace_in_file(path: &Path, from: &str, to: &str) {
    let s = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        s.matches(from).count(),
        1,
        "{from:?} must occur exactly once in {}",
        path.display()
    );
    std::fs::write(path, s.replacen(from, to, 1)).unwrap();
}

/// Recursively copies a directory of plain files.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A `git` command isolated from system and global configuration, with a
/// fixed human identity.
pub fn git_command(dir: &Path, home: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Hannah Human")
        .env("GIT_AUTHOR_EMAIL", "hannah@example.com")
        .env("GIT_COMMITTER_NAME", "Hannah Human")
        .env("GIT_COMMITTER_EMAIL", "hannah@example.com");
    c
}

/// Runs git, panics on failure, returns stdout (trailing newline trimmed).
pub fn git_in(dir: &Path, home: &Path, args: &[&str], envs: &[(&str, &Path)]) -> String {
    let mut c = git_command(dir, home);
    c.args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().expect("git runs");
    assert!(
        out.status.success(),
        "git -C {} {args:?} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 git output")
        .trim_end_matches('\n')
        .to_string()
}

/// Runs git; returns whether it succeeded (for `merge-base --is-ancestor`,
/// `rev-parse --verify`).
pub fn git_ok(dir: &Path, home: &Path, args: &[&str]) -> bool {
    git_command(dir, home)
        .args(args)
        .output()
        .expect("git runs")
        .status
        .success()
}

/// Makes a commit on `branch` of the bare repository `bare` with git
/// plumbing (temporary index, `hash-object -w`, `write-tree`, `commit-tree`,
/// `update-ref` with the old value as compare-and-swap): each
/// `(path, Some(content))` is written as a regular file, each
/// `(path, None)` deleted. The message carries no distributor trailer.
/// Returns the new commit id.
pub fn human_commit_files(
    bare: &Path,
    home: &Path,
    branch: &str,
    files: &[(&str, Option<&str>)],
    message: &str,
) -> String {
    let refname = format!("refs/heads/{branch}");
    let parent = git_in(bare, home, &["rev-parse", "--verify", &refname], &[]);
    let index = tempfile::Builder::new()
        .prefix("index-")
        .tempdir_in(home)
        .unwrap();
    let index_file = index.path().join("index");
    let envs = [("GIT_INDEX_FILE", index_file.as_path())];
    git_in(bare, home, &["read-tree", &parent], &envs);
    for (path, content) in files {
        match content {
            Some(content) => {
                let src = index.path().join("content");
                std::fs::write(&src, content).unwrap();
                let blob = git_in(
                    bare,
                    home,
                    &["hash-object", "-w", src.to_str().unwrap()],
                    &[],
                );
                git_in(
                    bare,
                    home,
                    &[
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        &format!("100644,{blob},{path}"),
                    ],
                    &envs,
                );
            }
            None => {
                git_in(bare, home, &["update-index", "--force-remove", path], &envs);
            }
        }
    }
    let tree = git_in(bare, home, &["write-tree"], &envs);
    let commit = git_in(
        bare,
        home,
        &["commit-tree", &tree, "-p", &parent, "-m", message],
        &[],
    );
    git_in(bare, home, &["update-ref", &refname, &commit, &parent], &[]);
    commit
}

/// Every bare repository (`<root>/<owner>/<name>.git`) under a forge root,
/// as `owner/name` -> path.
pub fn bare_repos(root: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let Ok(owners) = std::fs::read_dir(root) else {
        return out;
    };
    for owner in owners {
        let owner = owner.unwrap();
        if !owner.file_type().unwrap().is_dir() {
            continue;
        }
        for repo in std::fs::read_dir(owner.path()).unwrap() {
            let repo = repo.unwrap();
            let name = repo.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_suffix(".git") {
                out.insert(
                    format!("{}/{n}", owner.file_name().to_string_lossy()),
                    repo.path(),
                );
            }
        }
    }
    out
}

/// Per repo: all refs with their targets, `git count-objects -v`, and the
/// content of every file of the repository directory. Two equal snapshots
/// mean nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub repos: BTreeMap<String, RepoSnapshot>,
    /// Every file under the root (relative path -> bytes), repos or not.
    pub files: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSnapshot {
    /// `HEAD`, `packed-refs` and loose refs, with their contents.
    pub refs: String,
    /// How many files `objects/` holds.
    pub objects: String,
}

impl Snapshot {
    pub fn of(root: &Path, home: &Path) -> Snapshot {
        // Every byte under the root is compared; the per-repo summary
        // (refs, object count) is read from those bytes for the message,
        // without a git process per repo (this runs twice per bad-input
        // case).
        let _ = home;
        let mut files = BTreeMap::new();
        if root.exists() {
            collect_files(root, root, &mut files);
        }
        let repos = bare_repos(root)
            .into_iter()
            .map(|(name, path)| {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                let in_repo = |sub: &str| format!("{rel}/{sub}");
                let refs = files
                    .iter()
                    .filter(|(p, _)| {
                        p.starts_with(&in_repo("refs/"))
                            || **p == in_repo("packed-refs")
                            || **p == in_repo("HEAD")
                    })
                    .map(|(p, b)| format!("{p}: {}", String::from_utf8_lossy(b).trim()))
                    .collect::<Vec<_>>()
                    .join("\n");
                let objects = files
                    .keys()
                    .filter(|p| p.starts_with(&in_repo("objects/")))
                    .count();
                (
                    name,
                    RepoSnapshot {
                        refs,
                        objects: format!("{objects} object files"),
                    },
                )
            })
            .collect();
        Snapshot { repos, files }
    }

    /// Panics with a readable list of differences unless equal.
    #[track_caller]
    pub fn assert_same(&self, other: &Snapshot, what: &str) {
        if self == other {
            return;
        }
        let mut diffs = Vec::new();
        for (name, a) in &self.repos {
            match other.repos.get(name) {
                None => diffs.push(format!("repo {name} disappeared")),
                Some(b) if a != b => diffs.push(format!(
                    "repo {name} changed:\n  refs before:\n{}\n  refs after:\n{}\n  objects before: {}\n  objects after: {}",
                    a.refs, b.refs, a.objects, b.objects
                )),
                _ => {}
            }
        }
        for name in other.repos.keys() {
            if !self.repos.contains_key(name) {
                diffs.push(format!("repo {name} appeared"));
            }
        }
        for (p, a) in &self.files {
            match other.files.get(p) {
                None => diffs.push(format!("file {p} removed")),
                Some(b) if a != b => diffs.push(format!("file {p} changed")),
                _ => {}
            }
        }
        for p in other.files.keys() {
            if !self.files.contains_key(p) {
                diffs.push(format!("file {p} added"));
            }
        }
        panic!("{what}: the forge changed:\n{}", diffs.join("\n"));
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            // Empty directories count too (a created-then-emptied ref dir).
            out.insert(format!("{rel}/"), Vec::new());
            collect_files(root, &p, out);
        } else {
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
}

/// One repo of the registry, as the tests need it.
#[derive(Debug, Clone)]
pub struct RegistryRepo {
    pub team: String,
    pub name: String,
    pub delivery: String,
    pub default_branch: String,
}

/// The repos of a registry (JSON), with delivery and default branch
/// resolved the way the registry documents them.
pub fn registry_repos(registry: &Value) -> Vec<RegistryRepo> {
    let default_delivery = registry["defaults"]["delivery"]
        .as_str()
        .unwrap_or("pr")
        .to_string();
    let mut out = Vec::new();
    for (team, t) in registry["teams"].as_object().unwrap() {
        for r in t["repos"].as_array().unwrap() {
            out.push(RegistryRepo {
                team: team.clone(),
                name: r["name"].as_str().unwrap().to_string(),
                delivery: r["delivery"]
                    .as_str()
                    .unwrap_or(&default_delivery)
                    .to_string(),
                default_branch: r["default_branch"].as_str().unwrap_or("main").to_string(),
            });
        }
    }
    out
}

/// The lock file of a branch as JSON.
pub fn lock_on(env: &Env, bare: &Path, rev: &str) -> Value {
    let text = env.git(
        bare,
        &["show", &format!("{rev}:.github/distributor.lock.json")],
    );
    serde_json::from_str(&text).expect("lock file is JSON")
}

/// Path -> blob id of the lock's `files`.
pub fn lock_blobs(lock: &Value) -> BTreeMap<String, String> {
    lock["files"]
        .as_object()
        .expect("lock files")
        .iter()
        .map(|(p, e)| (p.clone(), e["blob"].as_str().unwrap().to_string()))
        .collect()
}

/// Path -> (mode, blob id) of every file of a tree (`git ls-tree -r`).
pub fn ls_tree(env: &Env, bare: &Path, rev: &str) -> BTreeMap<String, (String, String)> {
    env.git(bare, &["ls-tree", "-r", rev])
        .lines()
        .map(|l| {
            let (meta, path) = l.split_once('\t').unwrap();
            let mut parts = meta.split(' ');
            let mode = parts.next().unwrap().to_string();
            let _kind = parts.next();
            let id = parts.next().unwrap().to_string();
            (path.to_string(), (mode, id))
        })
        .collect()
}

/// `git fsck --strict` passes on every bare repo under the forge root.
#[track_caller]
pub fn assert_fsck_clean(env: &Env) {
    let repos = bare_repos(&env.forge);
    assert!(!repos.is_empty(), "no repos under {}", env.forge.display());
    for (name, path) in repos {
        let out = git_command(&path, &env.scratch)
            .args(["fsck", "--strict", "--no-progress"])
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "git fsck --strict of {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The tip of a branch, `None` when it does not exist.
pub fn tip(env: &Env, bare: &Path, branch: &str) -> Option<String> {
    let refname = format!("refs/heads/{branch}");
    git_ok(
        bare,
        &env.scratch,
        &["rev-parse", "--verify", "--quiet", &refname],
    )
    .then(|| env.git(bare, &["rev-parse", &refname]))
}

/// Number of commits reachable from `rev`.
pub fn commit_count(env: &Env, bare: &Path, rev: &str) -> usize {
    env.git(bare, &["rev-list", "--count", rev])
        .parse()
        .unwrap()
}

/// The branches of a repo (short names).
pub fn branches(env: &Env, bare: &Path) -> Vec<String> {
    env.git(
        bare,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Renders every repo of the platform copy, as `app` does.
pub fn targets(env: &Env) -> (Vec<Target>, Options) {
    let inputs = source::read_inputs(
        &env.platform.join("registry.json"),
        &env.platform.join("templates"),
    )
    .expect("inputs readable");
    let templates =
        TemplateSet::from_files("templates", &inputs.template_files).expect("templates load");
    let reg = registry::load(
        "registry.json",
        &inputs.registry_text,
        &templates.bundle_names(),
    )
    .expect("registry valid");
    let targets = registry::resolve(&reg)
        .into_iter()
        .map(|repo| {
            let desired = templates.render_repo(&repo).expect("renders");
            Target { repo, desired }
        })
        .collect();
    let opts = Options {
        settings: PlanSettings {
            source: source::revision(&inputs),
            force_reason: None,
            bundles: None,
            now: 0,
            direct_after: Default::default(),
            bundle_labels: Default::default(),
            rollback: None,
        },
        diffs: false,
        diffs_up_to: None,
        missing_as_empty: false,
    };
    (targets, opts)
}
