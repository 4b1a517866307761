//! Crash trials: `kill -9` at a random moment during `apply --init`,
//! `apply`, `apply --force` and a forced `rollback` over the shipped mixed
//! direct/pr fleet on the local forge (the platform a git repository, each
//! change a commit). After each kill, with no manual step: the next run of
//! the same command converges, `plan` exits 0, `git fsck --strict` is
//! clean, and every forced commit on a default branch has an audit intent
//! written before it and, after the re-run, an outcome or reconciliation.
//!
//! `DISTRIBUTOR_CRASH_TRIALS` sets the number of trials (default 30, run
//! in CI; `DISTRIBUTOR_CRASH_TRIALS=300 cargo test --test crash` for a
//! longer soak), `DISTRIBUTOR_CRASH_SEED` replays a failing series (the
//! seed is printed).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Env, bare_repos};
use serde_json::Value;

const REASON: &str = "CVE-2026-4242: crash trial";

/// A small deterministic generator (xorshift64*): a seed replays a series.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A delay in `[0, max)`.
    fn delay(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next() % micros)
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Init,
    Apply,
    Force,
    /// `rollback FIRST --force`: back to the platform's first commit.
    Rollback,
}

const PHASES: [Phase; 4] = [Phase::Init, Phase::Apply, Phase::Force, Phase::Rollback];

impl Phase {
    fn command(self) -> &'static str {
        match self {
            Phase::Rollback => "rollback",
            _ => "apply",
        }
    }

    fn args(self, state: &str, audit: &str, first: &str) -> Vec<String> {
        let mut a: Vec<String> = vec!["--state-dir".into(), state.into()];
        match self {
            Phase::Init => a.push("--init".into()),
            Phase::Apply => {}
            Phase::Rollback => a.extend(
                [first, "--force", "--reason", REASON, "--audit-log", audit].map(String::from),
            ),
            Phase::Force => a.extend(
                [
                    "--force",
                    "--reason",
                    REASON,
                    "--allow-dirty",
                    "--audit-log",
                    audit,
                ]
                .map(String::from),
            ),
        }
        a
    }
}

struct Trial {
    env: Env,
    state: String,
    audit: String,
    /// The platform's first commit (what `rollback` goes back to).
    first: String,
}

impl Trial {
    fn new() -> Trial {
        let env = Env::new();
        let state = env.tmp.path().join("state").display().to_string();
        let audit = env.tmp.path().join("audit.jsonl").display().to_string();
        let p = env.platform.clone();
        env.git(&p, &["init", "-q", "-b", "main"]);
        env.git(&p, &["add", "-A"]);
        env.git(&p, &["commit", "-qm", "platform"]);
        let first = env.git(&p, &["rev-parse", "HEAD"]).trim().to_string();
        Trial {
            env,
            state,
            audit,
            first,
        }
    }

    fn args(&self, phase: Phase) -> Vec<String> {
        phase.args(&self.state, &self.audit, &self.first)
    }

    fn apply(&self, phase: Phase) -> common::Run {
        let args = self.args(phase);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.env.cmd(phase.command(), &refs)
    }

    /// Runs `phase` and kills it with SIGKILL after `after` (if it is
    /// still running); says whether it was killed.
    fn killed(&self, phase: Phase, after: Duration) -> bool {
        let forge = self.env.forge_arg();
        let mut args = vec![phase.command().to_string(), "--forge".into(), forge];
        args.extend(self.args(phase));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = self
            .env
            .command(&refs)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        let deadline = Instant::now() + after;
        loop {
            if child.try_wait().expect("wait").is_some() {
                return false;
            }
            if Instant::now() >= deadline {
                child.kill().expect("SIGKILL");
                child.wait().expect("reaped");
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Changes a template: a new platform revision (a commit) to deliver.
    fn change(&self, n: usize) {
        self.env
            .append_to_template("baseline/CODEOWNERS", &format!("# change {n}\n"));
        let p = self.env.platform.clone();
        self.env
            .git(&p, &["commit", "-qam", &format!("change {n}")]);
    }

    /// What every run must leave, killed or not.
    fn converged(&self, phase: Phase, what: &str) {
        self.apply(phase).expect_code(0);
        let plan = self.env.plan(&["--state-dir", &self.state]);
        assert_eq!(
            plan.code, 0,
            "{what}: plan after recovery\n{}{}",
            plan.stdout, plan.stderr
        );
        common::assert_fsck_clean(&self.env);
    }

    /// Every commit carrying the forced reason has an intent naming its
    /// repo and parent, and every intent is closed by an outcome or a
    /// reconciliation.
    fn audited(&self, what: &str) {
        let lines: Vec<Value> = std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let intents: BTreeSet<(String, String)> = lines
            .iter()
            .filter(|l| l["phase"] == "intent")
            .map(|l| {
                (
                    l["repo"].as_str().unwrap_or_default().to_string(),
                    l["parent"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for (name, bare) in bare_repos(&self.env.forge) {
            for (commit, parent) in forced_commits(&self.env, &bare) {
                assert!(
                    intents.contains(&(name.clone(), parent.clone())),
                    "{what}: forced commit {commit} in {name} (parent {parent}) has no audit intent"
                );
            }
        }
        let closed: BTreeSet<&str> = lines
            .iter()
            .filter(|l| l["phase"] == "outcome" || l["phase"] == "reconciled")
            .filter_map(|l| l["id"].as_str())
            .collect();
        for l in lines.iter().filter(|l| l["phase"] == "intent") {
            let id = l["id"].as_str().unwrap_or_default();
            assert!(closed.contains(id), "{what}: intent {id} never closed");
        }
    }
}

/// `(commit, parent)` of each commit on the default branch whose message carries the
/// forced reason.
fn forced_commits(env: &Env, bare: &Path) -> Vec<(String, String)> {
    let log = env.git(bare, &["log", "--format=%H %P%x00%B%x01", "HEAD"]);
    log.split('\u{1}')
        .filter(|entry| entry.contains(REASON))
        .filter_map(|entry| {
            let head = entry.trim_start().split('\0').next()?;
            let mut ids = head.split(' ');
            Some((ids.next()?.to_string(), ids.next()?.to_string()))
        })
        .collect()
}

fn seed() -> u64 {
    std::env::var("DISTRIBUTOR_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        })
}

/// How long an uninterrupted run of each phase takes here (the kill
/// window), measured once.
fn windows() -> [Duration; 4] {
    let t = Trial::new();
    let time = |f: &dyn Fn()| {
        let started = Instant::now();
        f();
        started.elapsed()
    };
    let init = time(&|| {
        t.apply(Phase::Init).expect_code(0);
    });
    t.change(0);
    let apply = time(&|| {
        t.apply(Phase::Apply).expect_code(0);
    });
    t.change(1);
    let force = time(&|| {
        t.apply(Phase::Force).expect_code(0);
    });
    let rollback = time(&|| {
        t.apply(Phase::Rollback).expect_code(0);
    });
    [init, apply, force, rollback]
}

/// One trial: a fresh fleet, `phase` killed after `delay`, then the
/// checks. Says whether the kill landed mid-run.
fn trial(n: usize, phase: Phase, delay: Duration, seed: u64) -> bool {
    let what = format!("trial {n} ({phase:?}, seed {seed})");
    let t = Trial::new();
    if !matches!(phase, Phase::Init) {
        t.apply(Phase::Init).expect_code(0);
        t.change(n);
    }
    if matches!(phase, Phase::Rollback) {
        // The change is everywhere; the rollback takes it back.
        t.apply(Phase::Apply).expect_code(0);
    }
    let killed = t.killed(phase, delay);
    t.converged(phase, &what);
    if matches!(phase, Phase::Force | Phase::Rollback) {
        t.audited(&what);
    }
    killed
}

#[test]
fn kill_9_at_random_moments_leaves_nothing_a_human_must_repair() {
    let trials: usize = std::env::var("DISTRIBUTOR_CRASH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let seed = seed();
    eprintln!("crash trials: {trials}, DISTRIBUTOR_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let windows = windows();
    // Drawn up front, so a seed replays the same series whatever the
    // scheduling.
    let series: Vec<(Phase, Duration)> = (0..trials)
        .map(|n| {
            let i = n % PHASES.len();
            let phase = PHASES[i];
            // Within the first 80% of an uninterrupted run: most kills
            // land mid-run, some before the first write.
            (phase, rng.delay(windows[i] * 4 / 5))
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let kills = std::sync::atomic::AtomicUsize::new(0);
    // Two at a time: each trial is mostly waiting on its processes.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&(phase, delay)) = series.get(n) else {
                        break;
                    };
                    if trial(n, phase, delay, seed) {
                        kills.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let kills = kills.into_inner();
    eprintln!("crash trials: {kills} of {trials} runs killed mid-way");
    assert!(
        kills * 3 >= trials,
        "too few kills landed mid-run: {kills} of {trials} (seed {seed})"
    );
}
