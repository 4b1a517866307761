//! A world for end-to-end tests of the rollout policy against the fake
//! GitHub (127.0.0.1): a platform repository of its own (a git repository,
//! so revisions are commits) with a `base` bundle (a CI workflow reading
//! `vars.runner`) and a labelled `sec` bundle, one fake repo per registry
//! entry, a state directory, and the real binary run at a fake time
//! (`DISTRIBUTOR_NOW`). Used by `tests/rollout.rs` and `tests/rollback.rs`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fake_github::{Config, FakeGitHub};
use serde_json::{Value, json};

use super::Run;

pub const TOKEN: &str = "ghp_rollout_test_token_0123456789";
pub const OWNER: &str = "acme";
pub const CI: &str = ".github/ci.yml";
pub const SEC: &str = ".github/security.yml";
pub const HOUR: i64 = 3600;

pub const CI_TEMPLATE: &str = "name: ci\non: [push]\njobs:\n  build:\n    runs-on: {{ vars.runner }}\n    steps:\n      - run: make test\n      - run: make lint\n      - run: make package\n      - run: make publish\n";
pub const SEC_TEMPLATE: &str = "name: security\non: [pull_request]\njobs:\n  scan:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n";

/// A platform repository, a fake GitHub with one repo per registry entry,
/// and a state directory.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub platform: PathBuf,
    pub state: PathBuf,
    pub fake: FakeGitHub,
    /// The fake clock's origin (real time, so GitHub's own timestamps fit).
    pub t0: i64,
}

/// One target repo: name, wave, delivery, bundles.
pub struct Repo<'a> {
    pub name: &'a str,
    pub wave: Option<&'a str>,
    pub delivery: &'a str,
    pub bundles: &'a [&'a str],
}

pub fn repo<'a>(name: &'a str, wave: Option<&'a str>, delivery: &'a str) -> Repo<'a> {
    Repo {
        name,
        wave,
        delivery,
        bundles: &["base"],
    }
}

impl World {
    pub fn new(repos: &[Repo<'_>], extra: Value) -> World {
        let tmp = tempfile::Builder::new()
            .prefix("distributor-rollout-")
            .tempdir()
            .unwrap();
        let platform = tmp.path().join("platform");
        let state = tmp.path().join("state");
        std::fs::create_dir_all(platform.join("templates/base")).unwrap();
        std::fs::create_dir_all(platform.join("templates/sec")).unwrap();
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        let w = World {
            fake: FakeGitHub::start(Config {
                secondary_limits: vec![(100_000, Duration::from_secs(60))],
                ..Config::default()
            }),
            tmp,
            platform,
            state,
            t0: distributor::time::now(),
        };
        w.fake.add_token(TOKEN, true);
        let mut list = Vec::new();
        for r in repos {
            w.fake.add_repo(
                OWNER,
                r.name,
                "main",
                &[("README.md", b"# team repo\n".as_slice())],
            );
            let mut entry = json!({"name": r.name, "delivery": r.delivery, "bundles": r.bundles});
            if let Some(wave) = r.wave {
                entry["wave"] = json!(wave);
            }
            list.push(entry);
        }
        let mut registry = json!({
            "version": 1,
            "stages": ["dev"],
            "defaults": {"owner": OWNER, "bundles": ["base"], "delivery": "pr",
                         "vars": {"runner": "ubuntu-22.04"}},
            "teams": {"payments": {"owners": {"users": ["alice"], "teams": ["acme/payments-devs"]}, "repos": list}}
        });
        for (k, v) in extra.as_object().unwrap() {
            registry[k] = v.clone();
        }
        w.write(
            "registry.json",
            &serde_json::to_string_pretty(&registry).unwrap(),
        );
        w.write(
            "templates/base/bundle.yaml",
            "files:\n  - template: ci.yml\n    path: .github/ci.yml\n",
        );
        w.write("templates/base/ci.yml", CI_TEMPLATE);
        w.write(
            "templates/sec/bundle.yaml",
            "labels: [security]\nfiles:\n  - template: security.yml\n    path: .github/security.yml\n",
        );
        w.write("templates/sec/security.yml", SEC_TEMPLATE);
        w.git(&["init", "-q", "-b", "main"]);
        w.commit("platform: first");
        w
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.platform.join(rel), text).unwrap();
    }

    pub fn git(&self, args: &[&str]) -> String {
        super::git_in(&self.platform, &self.tmp.path().join("home"), args, &[])
            .trim()
            .to_string()
    }

    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Changes the CI template (a new platform revision).
    pub fn change_template(&self, from: &str, to: &str) -> String {
        let text = std::fs::read_to_string(self.platform.join("templates/base/ci.yml")).unwrap();
        assert!(text.contains(from));
        self.write("templates/base/ci.yml", &text.replace(from, to));
        self.commit(&format!("platform: {from} -> {to}"))
    }

    /// Runs the binary at fake time `t0 + offset` seconds.
    pub fn run(&self, offset: i64, command: &str, args: &[&str]) -> Run {
        let forge = format!("github:{}", self.fake.url());
        let state = self.state.display().to_string();
        let mut all: Vec<&str> = vec![
            command,
            "--forge",
            &forge,
            "--state-dir",
            &state,
            "--github-write-quota",
            "1000/1s",
            "--github-write-spacing",
            "0ms",
        ];
        all.extend_from_slice(args);
        let out = Command::new(env!("CARGO_BIN_EXE_distributor"))
            .args(&all)
            .current_dir(&self.platform)
            .env_remove("DISTRIBUTOR_FORGE")
            .env_remove("DISTRIBUTOR_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .env_remove("DISTRIBUTOR_STATE_DIR")
            .env_remove("DISTRIBUTOR_AUDIT_LOG")
            .env_remove("SUDO_USER")
            .env("USER", "oncall-olivia")
            .env(
                "DISTRIBUTOR_NOW",
                distributor::time::rfc3339(self.t0 + offset),
            )
            .env("GITHUB_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .env("HOME", self.tmp.path().join("home"))
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn open_pulls(&self, name: &str) -> Vec<fake_github::Pull> {
        self.fake
            .pulls(OWNER, name)
            .into_iter()
            .filter(|p| p.state == "open")
            .collect()
    }

    pub fn file(&self, name: &str, branch: &str, path: &str) -> Option<String> {
        self.fake
            .file(OWNER, name, branch, path)
            .map(|b| String::from_utf8(b).unwrap())
    }

    pub fn status_json(&self, offset: i64) -> (i32, Value) {
        let r = self.run(offset, "status", &["--format", "json"]);
        (
            r.code,
            serde_json::from_str(&r.stdout).expect("status JSON"),
        )
    }

    pub fn fsck(&self, name: &str) {
        let out = super::git_command(
            &self.fake.git_dir(OWNER, name),
            &self.tmp.path().join("home"),
        )
        .args(["fsck", "--strict", "--no-dangling"])
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "fsck {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

pub fn repo_status<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == format!("{OWNER}/{name}"))
        .unwrap_or_else(|| panic!("{name} in status"))
}

pub fn line_of<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

impl World {
    /// Runs `distributor serve` on this world (its platform directory, the
    /// fake GitHub, its state directory) until its first cycle finishes;
    /// returns the daemon's log lines (JSON). The daemon runs at real time.
    pub fn serve_one_cycle(&self) -> Vec<String> {
        let token = self.tmp.path().join("github-token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        let config = self.tmp.path().join("config.yaml");
        std::fs::write(
            &config,
            super::daemon::github_config(&self.platform, &self.fake.url(), &token),
        )
        .unwrap();
        let mut d = super::daemon::Daemon::spawn(super::daemon::serve_command(
            &config,
            &self.state,
            &self.tmp.path().join("home"),
        ));
        d.log
            .wait_for(|l| l.contains("cycle finished"), Duration::from_secs(60));
        std::mem::take(&mut d.log.seen)
    }
}
