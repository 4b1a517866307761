//! The flag rollout's world: a platform git repository whose registry has
//! three teams over the stages dev, stg and prd (an AWS account per team
//! and stage) and one per-environment tfvars template reading
//! `flags.new_db`; a fake GitHub with one repo per registry entry; a state
//! directory; and the real binary run at a fake time (`DISTRIBUTOR_NOW`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fake_github::{Config, FakeGitHub};
use serde_json::{Value, json};

use crate::common::{self, Run};

pub const TOKEN: &str = "ghp_flags_github_token_0123456789";
pub const OWNER: &str = "acme";
pub const HOUR: i64 = 3600;

/// The per-environment file reading `new_db` in `stage`.
pub fn tfvars(stage: &str) -> String {
    format!("terraform/{stage}/flags.auto.tfvars")
}

const TFVARS_TEMPLATE: &str = "# platform settings for {{ repo.full_name }} in {{ env.name }}\naccount_id = \"{{ env.account }}\"\nregion     = \"{{ env.region }}\"\nnew_db     = {{ flags.new_db | to_json }}\n";

/// One target repo: team, name, wave, delivery.
#[derive(Debug, Clone)]
pub struct Repo {
    pub team: &'static str,
    pub name: String,
    pub wave: &'static str,
    pub delivery: &'static str,
}

/// A platform repository, a fake GitHub with every repo of the registry,
/// and a state directory.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub platform: PathBuf,
    pub state: PathBuf,
    pub fake: FakeGitHub,
    pub repos: Vec<Repo>,
    /// The fake clock's origin (real time, so GitHub's timestamps fit).
    pub t0: i64,
    registry: Value,
}

impl World {
    /// `repos` over waves canary then default (`soak` on canary, if any),
    /// `new_db` off everywhere; the platform's first commit made.
    pub fn new(repos: Vec<Repo>, soak: Option<&str>) -> World {
        let tmp = tempfile::Builder::new()
            .prefix("distributor-flags-gh-")
            .tempdir()
            .unwrap();
        let platform = tmp.path().join("platform");
        std::fs::create_dir_all(platform.join("templates/tf")).unwrap();
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        let fake = FakeGitHub::start(Config {
            secondary_limits: vec![(100_000, Duration::from_secs(60))],
            ..Config::default()
        });
        fake.add_token(TOKEN, true);
        for r in &repos {
            fake.add_repo(OWNER, &r.name, "main", &[("README.md", b"# team repo\n")]);
        }
        let mut canary = json!({"name": "canary"});
        if let Some(soak) = soak {
            canary["soak"] = json!(soak);
        }
        let registry = json!({
            "version": 1,
            "stages": ["dev", "stg", "prd"],
            "waves": [canary, {"name": "default"}],
            "defaults": {"owner": OWNER, "bundles": ["tf"], "delivery": "direct", "wave": "default",
                         "flags": {"new_db": {"dev": false, "stg": false, "prd": false}}},
            "teams": teams(&repos),
        });
        let w = World {
            state: tmp.path().join("state"),
            tmp,
            platform,
            fake,
            repos,
            t0: distributor::time::now(),
            registry,
        };
        w.write_registry();
        w.write(
            "templates/tf/bundle.yaml",
            "files:\n  - template: flags.auto.tfvars\n    path: \"terraform/{{ env.name }}/flags.auto.tfvars\"\n    for_each: environment\n",
        );
        w.write("templates/tf/flags.auto.tfvars", TFVARS_TEMPLATE);
        w.git(&["init", "-q", "-b", "main"]);
        w.commit("platform: first");
        w
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.platform.join(rel), text).unwrap();
    }

    fn write_registry(&self) {
        self.write(
            "registry.json",
            &serde_json::to_string_pretty(&self.registry).unwrap(),
        );
    }

    pub fn git(&self, args: &[&str]) -> String {
        common::git_in(&self.platform, &self.tmp.path().join("home"), args, &[])
            .trim()
            .to_string()
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Sets `new_db` in `stage` in the registry; commits it (a platform
    /// revision, returned) or leaves the change uncommitted.
    pub fn switch(&mut self, stage: &str, on: bool, commit: bool) -> Option<String> {
        self.registry["defaults"]["flags"]["new_db"][stage] = json!(on);
        self.write_registry();
        commit.then(|| self.commit(&format!("platform: new_db {stage} = {on}")))
    }

    /// Puts the registry back as the last commit has it.
    pub fn discard_registry_change(&mut self) {
        self.git(&["checkout", "--", "registry.json"]);
        let text = std::fs::read_to_string(self.platform.join("registry.json")).unwrap();
        self.registry = serde_json::from_str(&text).unwrap();
    }

    /// Runs the binary against the fake at fake time `t0 + offset`.
    pub fn run(&self, offset: i64, command: &str, args: &[&str]) -> Run {
        let forge = format!("github:{}", self.fake.url());
        let mut all: Vec<&str> = vec![command, "--forge", &forge];
        all.extend_from_slice(args);
        self.run_raw(offset, &all, &[("GITHUB_TOKEN", TOKEN)])
    }

    /// Runs the binary with exactly `args` (no forge unless given) and the
    /// environment `env` on top of an isolated one.
    pub fn run_raw(&self, offset: i64, args: &[&str], env: &[(&str, &str)]) -> Run {
        let state = self.state.display().to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_distributor"));
        cmd.args(args)
            .args([
                "--state-dir",
                &state,
                "--github-write-quota",
                "1000/1s",
                "--github-write-spacing",
                "0ms",
            ])
            .current_dir(&self.platform);
        for var in [
            "DISTRIBUTOR_FORGE",
            "DISTRIBUTOR_LOG_FORMAT",
            "RUST_LOG",
            "DISTRIBUTOR_STATE_DIR",
            "DISTRIBUTOR_AUDIT_LOG",
            "GITHUB_TOKEN",
            "DISTRIBUTOR_GITHUB_TOKEN_FILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env(
            "DISTRIBUTOR_NOW",
            distributor::time::rfc3339(self.t0 + offset),
        )
        .env("NO_COLOR", "1")
        .env("USER", "flag-flipper")
        .env("HOME", self.tmp.path().join("home"))
        .envs(env.iter().copied());
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `apply` at `t0 + offset`, which must succeed.
    pub fn apply(&self, offset: i64) -> Run {
        let run = self.run(offset, "apply", &[]);
        run.expect_code(0);
        run
    }

    /// The seconds since `t0` now (for runs that must agree with the
    /// daemon, which reads the real clock).
    pub fn real_offset(&self) -> i64 {
        distributor::time::now() - self.t0
    }

    pub fn open_pulls(&self, name: &str) -> Vec<fake_github::Pull> {
        self.fake
            .pulls(OWNER, name)
            .into_iter()
            .filter(|p| p.state == "open")
            .collect()
    }

    /// The open pull request of `name` (exactly one).
    pub fn pull(&self, name: &str) -> fake_github::Pull {
        let mut open = self.open_pulls(name);
        assert_eq!(open.len(), 1, "{name}: {open:?}");
        open.remove(0)
    }

    /// Merges every open pull request of the repos not in `except`, as
    /// their reviewers would; returns how many.
    pub fn merge_all(&self, except: &[&str]) -> usize {
        let mut merged = 0;
        for r in &self.repos {
            if except.contains(&r.name.as_str()) {
                continue;
            }
            for p in self.open_pulls(&r.name) {
                self.fake.merge_pull(OWNER, &r.name, p.number);
                merged += 1;
            }
        }
        merged
    }

    pub fn file(&self, name: &str, branch: &str, path: &str) -> Option<String> {
        self.fake
            .file(OWNER, name, branch, path)
            .map(|b| String::from_utf8(b).unwrap())
    }

    /// Every repo's default-branch tip.
    pub fn tips(&self) -> Vec<Option<String>> {
        self.repos
            .iter()
            .map(|r| self.fake.tip(OWNER, &r.name, "main"))
            .collect()
    }

    /// Every file under the state directory with its content.
    pub fn state_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.state) {
            for e in entries.flatten() {
                if e.path().is_file() {
                    out.push((e.path(), std::fs::read(e.path()).unwrap()));
                }
            }
        }
        out.sort();
        out
    }
}

/// The registry's teams: each with dev, stg and prd accounts, and its repos.
fn teams(repos: &[Repo]) -> Value {
    let mut teams = serde_json::Map::new();
    for (t, team) in ["apple", "banana", "cherry"].iter().enumerate() {
        let list: Vec<Value> = repos
            .iter()
            .filter(|r| r.team == *team)
            .map(|r| json!({"name": r.name, "wave": r.wave, "delivery": r.delivery}))
            .collect();
        if list.is_empty() {
            continue;
        }
        let env = |s: usize| json!({"account": format!("{:012}", 100_000_000_000u64 + (t * 10 + s) as u64), "region": "eu-west-1"});
        teams.insert(
            team.to_string(),
            json!({
                "owners": {"users": [format!("{team}-lead")], "teams": [format!("acme/{team}-devs")]},
                "environments": {"dev": env(1), "stg": env(2), "prd": env(3)},
                "repos": list,
            }),
        );
    }
    Value::Object(teams)
}

/// The 30-repo fleet: ten repos per team (`apple-00` ... `cherry-09`);
/// `*-01`, `*-04` and `*-07` deliver by pull request, the rest directly;
/// apple's and banana's `-00` and `-01` are the canary wave.
pub fn fleet() -> Vec<Repo> {
    let mut out = Vec::new();
    for team in ["apple", "banana", "cherry"] {
        for i in 0..10 {
            let canary = team != "cherry" && i < 2;
            out.push(Repo {
                team,
                name: format!("{team}-{i:02}"),
                wave: if canary { "canary" } else { "default" },
                delivery: if i % 3 == 1 { "pr" } else { "direct" },
            });
        }
    }
    out
}
