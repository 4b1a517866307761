//! Fleet benchmark on the GitHub forge: the release `distributor` binary
//! against the in-process fake GitHub (`crates/fake-github`) with N repos
//! (default 1000), each receiving 5 managed files (4 rendered by a generated
//! bundle + the lock file distributor writes).
//!
//! Five steps, each measured on its own (the fake's counters are reset
//! before each): a first `plan` (everything missing), an `apply` with
//! `delivery: direct`, a no-op `plan`, a template change delivered as pull
//! requests, and a second template change updating those pull requests in
//! place. Per step it prints wall time, requests (total and by kind),
//! content-creating requests and their units (each top-level GraphQL
//! mutation field or mutating REST request is one unit: what GitHub's
//! secondary limits and distributor's pacer count), GraphQL points,
//! secondary-limit refusals, the
//! peak RSS of the distributor process (wait4), and the projected real time
//! of the step's writes under distributor's default pacing and the floor
//! under GitHub's secondary limits. Then it checks the targets (PASS/FAIL,
//! never failing the run) and writes everything to `target/fleet-bench.json`.
//! It exits non-zero only on a functional failure (a wrong exit code, a
//! missing commit or pull request).
//!
//! Time is compressed on both sides by K (`--time-scale`, default 1000):
//! the fake refuses more than 80 units per 60 s/K and 500 per 3600 s/K, and
//! distributor paces at 60 units per 60 s/K, 450 per 3600 s/K, 1 s/K apart (its
//! defaults, compressed the same way). Latency is not compressed: writes are
//! serialised, so at the default 20 ms (20 s of compressed time) neither the
//! pacing nor the fake's windows are reached (the output says so); run with
//! `--latency-ms 0` to exercise them.
//!
//! Each step is a new process: its pacer cannot know the previous
//! process's writes, which GitHub counts for an hour, so the bench waits one
//! compressed hour before each step (real runs of this size are hours
//! apart).
//!
//! `--real-rate-window SECS` (at least 200; default off) runs the two pull
//! request steps at GitHub's real rates instead: the fake at 80 units per
//! minute and 500 per hour, distributor at its default pacing, nothing
//! compressed, for SECS seconds each; then the `apply` is stopped (SIGTERM,
//! then SIGKILL) and the window reported (units, requests, refusals, pull
//! requests opened or updated, units per minute). The setup steps stay
//! compressed; instead of a real hour before each window the fake's
//! windows are emptied, and a compressed run finishes each window's
//! leftover repos, so the update window starts with a pull request open in
//! every repo (see `fleet/real_rate.rs`).
//!
//! Run with `cargo bench --bench fleet`, or for a quick run
//! `cargo bench --bench fleet -- --repos 100`. Options: `--repos N`,
//! `--latency-ms MS` (per request, default 20), `--time-scale K`,
//! `--real-rate-window SECS`.

#[path = "fleet/real_rate.rs"]
mod real_rate;

use std::collections::BTreeMap;
use std::ffi::c_long;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fake_github::{Config, Counters, FakeGitHub};
use serde_json::{Value, json};

const OWNER: &str = "acme";
const TEAMS: [&str; 5] = ["mango", "banana", "apple", "kiwi", "grape"];
const TOKEN: &str = "ghp_fleetbench0000000000000000000000000000";
const PROPOSAL_BRANCH: &str = "distributor/sync";
const LOCK_PATH: &str = ".github/distributor.lock.json";
/// Files the generated bundle renders into every repo (template, target).
const RENDERED: [(&str, &str); 4] = [
    ("CODEOWNERS", ".github/CODEOWNERS"),
    ("editorconfig", ".editorconfig"),
    ("ci.yml", ".github/workflows/ci.yml"),
    ("platform.md", "docs/platform.md"),
];
/// The template steps 4 and 5 change; its output changes in every repo.
const CHANGED_TEMPLATE: &str = "editorconfig";
const CHANGED_PATH: &str = ".editorconfig";
/// Pull request extras set in the registry (`defaults.pull_request`).
const LABELS: [&str; 1] = ["distributor"];
const REQUEST_REVIEWS: bool = true;
/// GitHub's secondary limits on content-creating requests.
const GITHUB_LIMITS: [(u64, u64); 2] = [(80, 60_000), (500, 3_600_000)];
/// distributor's default pacing: quotas (count, period ms) and spacing (ms).
const DEFAULT_QUOTAS: [(u64, u64); 2] = [(60, 60_000), (450, 3_600_000)];
const DEFAULT_SPACING_MS: u64 = 1_000;

struct Args {
    repos: usize,
    latency_ms: u64,
    time_scale: u64,
    /// Seconds each pull request step runs at GitHub's real rates.
    real_rate_window: Option<u64>,
}

fn parse_args() -> Args {
    let mut args = Args {
        repos: 1000,
        latency_ms: 20,
        time_scale: 1000,
        real_rate_window: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = |name: &str| -> u64 {
            let v = inline.clone().or_else(|| it.next()).unwrap_or_default();
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{name} needs a number, got {v:?}")))
        };
        match key.as_str() {
            // Added by `cargo bench` to harness = false targets.
            "--bench" => {}
            "--repos" => args.repos = value("--repos") as usize,
            "--latency-ms" => args.latency_ms = value("--latency-ms"),
            "--time-scale" => args.time_scale = value("--time-scale"),
            "--real-rate-window" => {
                args.real_rate_window = Some(value("--real-rate-window"));
            }
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if args.repos == 0 {
        usage("--repos must be at least 1");
    }
    if !(1..=60_000).contains(&args.time_scale) {
        usage("--time-scale must be between 1 and 60000");
    }
    if args.real_rate_window.is_some_and(|w| w < 200) {
        usage("--real-rate-window must be at least 200 (seconds)");
    }
    args
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("error: {problem}");
    }
    eprintln!(
        "usage: cargo bench --bench fleet -- [--repos N (1000)] [--latency-ms MS (20)] [--time-scale K (1000)] [--real-rate-window SECS (off; >= 200)]"
    );
    std::process::exit(if problem.is_empty() { 0 } else { 64 });
}

// ---------------------------------------------------------------- inputs

fn repo_names(n: usize) -> Vec<(&'static str, String)> {
    (0..n)
        .map(|i| {
            let team = TEAMS[i % TEAMS.len()];
            (team, format!("{team}-svc-{i:04}"))
        })
        .collect()
}

fn registry_json(n: usize, delivery: &str) -> String {
    let repos = repo_names(n);
    let teams: serde_json::Map<String, Value> = TEAMS
        .iter()
        .filter(|t| repos.iter().any(|(team, _)| team == *t))
        .map(|t| {
            let names: Vec<Value> = repos
                .iter()
                .filter(|(team, _)| team == t)
                .map(|(_, name)| json!({ "name": name }))
                .collect();
            (
                t.to_string(),
                json!({
                    "owners": { "teams": [format!("{OWNER}/{t}-devs")], "users": [format!("lead-{t}")] },
                    "repos": names,
                }),
            )
        })
        .collect();
    let doc = json!({
        "version": 1,
        "stages": ["dev", "prd"],
        "defaults": {
            "owner": OWNER,
            "bundles": ["fleet"],
            "delivery": delivery,
            "pull_request": { "labels": LABELS, "request_reviews": REQUEST_REVIEWS },
            "vars": { "runner": "ubuntu-24.04" },
        },
        "teams": teams,
    });
    serde_json::to_string_pretty(&doc).expect("registry serialises")
}

/// Writes `templates/fleet/` with the changed template at `revision`.
fn write_templates(dir: &Path, revision: u32) {
    let bundle = dir.join("fleet");
    std::fs::create_dir_all(&bundle).expect("templates dir");
    let mut manifest = String::from("description: Generated by the fleet benchmark.\nfiles:\n");
    for (template, path) in RENDERED {
        let _ = writeln!(manifest, "  - template: {template}\n    path: {path}");
    }
    let files = [
        ("bundle.yaml", manifest),
        (
            "CODEOWNERS",
            "{{ managed_header(\"#\") }}\n* @{{ (team.owners.teams + team.owners.users) | join(\" @\") }}\n"
                .into(),
        ),
        (
            CHANGED_TEMPLATE,
            format!(
                "{{{{ managed_header(\"#\") }}}}\nroot = true\n\n[*]\nindent_style = space\nindent_size = 2\n# fleet revision {revision}\n"
            ),
        ),
        (
            "ci.yml",
            "{{ managed_header(\"#\") }}\nname: ci\non:\n  push:\n    branches: [main]\njobs:\n  build:\n    runs-on: {{ vars.runner | to_json }}\n    steps:\n      - run: echo {{ repo.full_name | to_json }}\n"
                .into(),
        ),
        (
            "platform.md",
            "# {{ repo.full_name }}\n\nOwned by team {{ team.name }}; platform files are managed by distributor.\n"
                .into(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(bundle.join(name), text).expect("write template");
    }
}

// ------------------------------------------------------- child processes

/// `struct rusage` on 64-bit Linux: two timevals, then 14 longs.
#[repr(C)]
struct RUsage {
    utime: [c_long; 2],
    stime: [c_long; 2],
    maxrss: c_long,
    rest: [c_long; 13],
}

unsafe extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut RUsage) -> i32;
}

/// `wait4` option: return at once when the child is still running.
const WNOHANG: i32 = 1;

/// Waits for `pid`; returns (exit code or -signal, peak RSS in MiB).
fn wait_with_rusage(pid: u32) -> (i32, f64) {
    reap(pid, true).expect("a blocking wait4 returns the child")
}

/// Reaps `pid` when it has exited (waiting for it when `block`); returns
/// (exit code or -signal, peak RSS in MiB), or None while it runs.
fn reap(pid: u32, block: bool) -> Option<(i32, f64)> {
    let mut status = 0i32;
    let mut usage = RUsage {
        utime: [0; 2],
        stime: [0; 2],
        maxrss: 0,
        rest: [0; 13],
    };
    loop {
        // SAFETY: both pointers are to live, writable locals of the layout
        // the kernel expects; the child is ours and not waited for elsewhere.
        let options = if block { 0 } else { WNOHANG };
        let r = unsafe { wait4(pid as i32, &mut status, options, &mut usage) };
        if r == pid as i32 {
            break;
        }
        if r == 0 {
            return None;
        }
        let e = std::io::Error::last_os_error();
        assert!(
            e.kind() == std::io::ErrorKind::Interrupted,
            "wait4({pid}): {e}"
        );
    }
    let code = if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        -(status & 0x7f)
    };
    Some((code, usage.maxrss as f64 / 1024.0))
}

/// The release binary cargo built for this bench; rebuilt when older than
/// the sources (e.g. the bench executable run by hand after an edit).
fn distributor_binary(root: &Path) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_distributor"));
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let newest = newest_source(root);
    if built.is_some_and(|b| newest.is_none_or(|n| n <= b)) {
        return bin;
    }
    eprintln!(
        "fleet: {} is missing or older than src/; building it",
        bin.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "--release", "--bin", "distributor"])
        .current_dir(root)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if built.is_none() {
            eprintln!("fleet: cannot build distributor");
            std::process::exit(1);
        }
        eprintln!("fleet: build failed; measuring the existing (older) binary");
    }
    bin
}

fn newest_source(root: &Path) -> Option<SystemTime> {
    let mut newest = None;
    let mut stack = vec![root.join("src"), root.join("Cargo.toml")];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if let Ok(m) = meta.modified() {
            newest = newest.max(Some(m));
        }
    }
    newest
}

/// The shared target dir: this executable is `<target>/release/deps/fleet-*`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .filter(|t| t.join("release").is_dir())
        .unwrap_or_else(|| root.join("target"))
}

// ------------------------------------------------------------------ steps

struct Env {
    bin: PathBuf,
    registry: PathBuf,
    templates: PathBuf,
    url: String,
    pacing: Vec<String>,
    /// The fake's compressed secondary limits (restored after a window).
    fake_limits: Vec<(u32, Duration)>,
    logs: PathBuf,
    /// One compressed hour: each step is a new distributor process, whose
    /// pacer cannot know the previous process's writes, while GitHub (and
    /// the fake) count them for an hour. Real runs of this size are hours
    /// apart; the bench waits this long before each step so one step's
    /// writes do not count against the next.
    settle: Duration,
}

struct StepResult {
    key: &'static str,
    title: &'static str,
    expected_exit: i32,
    exit: i32,
    wall_s: f64,
    rss_mib: f64,
    counters: Counters,
    /// The command's `--format json` document.
    output: Value,
    /// distributor's own "GitHub API usage" log event.
    usage: Value,
    warnings: usize,
    stderr_tail: String,
    /// Set when the step ran as a real-rate window.
    window: Option<real_rate::Watch>,
}

impl StepResult {
    /// A window's apply is stopped by a signal (or finishes first).
    fn exit_ok(&self) -> bool {
        match self.window {
            Some(_) => self.exit == 0 || self.exit == -15 || self.exit == -9,
            None => self.exit == self.expected_exit,
        }
    }

    /// The exit code and what was wanted, e.g. `2/2`, `-15/stop`.
    fn exit_text(&self) -> String {
        match self.window {
            Some(_) => format!("{}/stop", self.exit),
            None => format!("{}/{}", self.exit, self.expected_exit),
        }
    }

    fn writes(&self) -> u64 {
        self.counters.content_creating
    }

    /// Content-creating units: what the secondary limits count.
    fn units(&self) -> u64 {
        self.counters.content_units
    }
}

/// Runs one step to its end (compressed), or for `window` at GitHub's real
/// rates with distributor's default pacing, then stops it.
fn run_step(
    env: &Env,
    fake: &FakeGitHub,
    step: (&'static str, &'static str),
    command: &[&str],
    expected_exit: i32,
    window: Option<Duration>,
) -> StepResult {
    let (key, title) = step;
    let stdout_path = env.logs.join(format!("{key}.stdout.json"));
    let stderr_path = env.logs.join(format!("{key}.stderr.log"));
    let mut cmd = Command::new(&env.bin);
    cmd.arg("--registry")
        .arg(&env.registry)
        .arg("--templates")
        .arg(&env.templates)
        .args(["--forge", &format!("github:{}", env.url)])
        .args([
            "--format",
            "json",
            "--log-format",
            "json",
            "--color",
            "never",
        ])
        .args(if window.is_some() {
            &[][..]
        } else {
            &env.pacing[..]
        })
        .args(command)
        .env("GITHUB_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("stdout file"))
        .stderr(File::create(&stderr_path).expect("stderr file"));
    for var in [
        "RUST_LOG",
        "NO_COLOR",
        "DISTRIBUTOR_FORGE",
        "DISTRIBUTOR_LOG_FORMAT",
        "DISTRIBUTOR_GITHUB_TOKEN_FILE",
        "DISTRIBUTOR_GITHUB_APP_ID",
        "DISTRIBUTOR_GITHUB_APP_KEY",
        "DISTRIBUTOR_GITHUB_INSTALLATION_ID",
    ] {
        cmd.env_remove(var);
    }
    match window {
        // A real hour is not waited: the fake's windows are emptied.
        Some(_) => real_rate::enter(fake),
        None => std::thread::sleep(env.settle),
    }
    fake.reset_counters();
    let started = Instant::now();
    // Reaped by wait4 below, which also yields the child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawn distributor");
    let (exit, rss_mib, watch) = match window {
        Some(w) => {
            let (exit, rss, watch) = real_rate::watch(child.id(), fake, w);
            real_rate::leave(fake, &env.fake_limits);
            (exit, rss, Some(watch))
        }
        None => {
            let (exit, rss) = wait_with_rusage(child.id());
            (exit, rss, None)
        }
    };
    let wall_s = started.elapsed().as_secs_f64();
    let counters = fake.counters();
    let output = std::fs::read(&stdout_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let mut usage = Value::Null;
    let mut warnings = 0;
    for line in stderr.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["level"] == "WARN" {
            warnings += 1;
        }
        if v["message"] == "GitHub API usage" {
            usage = v;
        }
    }
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    let stderr_tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    eprintln!(
        "fleet: {key} {title}: exit {exit} (want {}), {wall_s:.1}s, {} requests, {} units, {} secondary-limit refusals",
        if window.is_some() {
            "a stop".to_string()
        } else {
            expected_exit.to_string()
        },
        counters.total,
        counters.content_units,
        counters.secondary_refusals
    );
    StepResult {
        key,
        title,
        expected_exit,
        exit,
        wall_s,
        rss_mib,
        counters,
        output,
        usage,
        warnings,
        stderr_tail,
        window: watch,
    }
}

// ------------------------------------------------------------ projection

/// Send times (ms, first write at 0) of `n` writes admitted as early as
/// sliding windows `(count, period)` and a minimum `spacing` allow: at most
/// `count` writes in any `period`.
fn sliding_schedule(n: u64, windows: &[(u64, u64)], spacing: u64) -> Vec<u64> {
    let mut t: Vec<u64> = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let mut at = t.last().map_or(0, |p| p + spacing);
        for &(count, period) in windows {
            if i >= count as usize {
                at = at.max(t[i - count as usize] + period);
            }
        }
        t.push(at);
    }
    t
}

/// Writes of `schedule` that GitHub's sliding windows would refuse, and the
/// first of them (1-based).
fn over_limits(schedule: &[u64], windows: &[(u64, u64)]) -> (u64, Option<usize>) {
    let mut refused = 0;
    let mut first = None;
    for i in 0..schedule.len() {
        let over = windows.iter().any(|&(count, period)| {
            i >= count as usize && schedule[i] - schedule[i - count as usize] < period
        });
        if over {
            refused += 1;
            first.get_or_insert(i + 1);
        }
    }
    (refused, first)
}

struct Projection {
    /// distributor's default pacing read as sliding windows (60/min, 450/h, 1 s).
    default_s: f64,
    /// The floor under GitHub's 80/min and 500/h, no spacing.
    floor_s: f64,
    /// Writes of the default-pace schedule GitHub's limits would refuse
    /// (the pacer is these sliding windows, so this must be 0).
    over_github: u64,
    first_over: Option<usize>,
}

fn project(writes: u64) -> Projection {
    let last = |s: &[u64]| s.last().copied().unwrap_or(0) as f64 / 1000.0;
    let default = sliding_schedule(writes, &DEFAULT_QUOTAS, DEFAULT_SPACING_MS);
    let floor = sliding_schedule(writes, &GITHUB_LIMITS, 0);
    let (over, first) = over_limits(&default, &GITHUB_LIMITS);
    Projection {
        default_s: last(&default),
        floor_s: last(&floor),
        over_github: over,
        first_over: first,
    }
}

fn human(secs: f64) -> String {
    let s = secs.round() as u64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, sec) => format!("{h}h {m:02}m {sec:02}s"),
    }
}

/// `POST /repos/{owner}/{repo}/pulls/{number}/requested_reviewers` ->
/// `POST pulls/N/requested_reviewers`.
fn short_kind(kind: &str) -> String {
    kind.replace("graphql ", "gql ")
        .replace("/repos/{owner}/{repo}/", "")
        .replace("/repos/{owner}/{repo}", "repo")
        .replace("{number}", "N")
}

fn compact_kinds(by_kind: &BTreeMap<String, u64>) -> String {
    let mut kinds: Vec<(&String, &u64)> = by_kind.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    kinds
        .iter()
        .map(|(k, n)| format!("{} {n}", short_kind(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

// ------------------------------------------------------------------ checks

/// Functional checks of the fake's state after a step.
struct Functional {
    name: String,
    ok: bool,
    detail: String,
}

fn functional(name: &str, ok: bool, detail: String) -> Functional {
    Functional {
        name: name.into(),
        ok,
        detail,
    }
}

/// After the direct apply: one new commit on `main` per repo, all 5 managed
/// files present.
fn check_direct(fake: &FakeGitHub, repos: &[(&str, String)]) -> Functional {
    let mut wrong_history = 0;
    let mut missing_files = 0;
    for (_, name) in repos {
        if fake.log(OWNER, name, "main").len() != 2 {
            wrong_history += 1;
        }
        let paths = RENDERED.iter().map(|(_, p)| *p).chain([LOCK_PATH]);
        missing_files += paths
            .filter(|p| fake.file(OWNER, name, "main", p).is_none())
            .count();
    }
    functional(
        "direct apply: one commit per repo, 5 managed files each",
        wrong_history == 0 && missing_files == 0,
        format!(
            "{wrong_history} repos without exactly one new commit on main, {missing_files} managed files missing"
        ),
    )
}

/// Open pull requests over the fleet.
struct OpenPulls {
    /// Repos without an open pull request.
    none: usize,
    /// Repos with more than one.
    many: usize,
    total: usize,
    /// The number of each repo's one open pull request.
    numbers: BTreeMap<String, u64>,
    /// The open pull requests of the first repo, to show their extras.
    sample: Vec<fake_github::Pull>,
}

/// Repos whose proposal branch does not carry the step-5 change.
fn stale_proposals(fake: &FakeGitHub, repos: &[(&str, String)]) -> usize {
    let marker = b"# fleet revision 3";
    repos
        .iter()
        .filter(|(_, name)| {
            !fake
                .file(OWNER, name, PROPOSAL_BRANCH, CHANGED_PATH)
                .is_some_and(|c| c.windows(marker.len()).any(|w| w == marker))
        })
        .count()
}

fn open_pulls(fake: &FakeGitHub, repos: &[(&str, String)]) -> OpenPulls {
    let mut out = OpenPulls {
        none: 0,
        many: 0,
        total: 0,
        numbers: BTreeMap::new(),
        sample: Vec::new(),
    };
    for (_, name) in repos {
        let open: Vec<_> = fake
            .pulls(OWNER, name)
            .into_iter()
            .filter(|p| p.state == "open")
            .collect();
        out.total += open.len();
        match open.len() {
            0 => out.none += 1,
            1 => {
                out.numbers.insert(name.clone(), open[0].number);
            }
            _ => out.many += 1,
        }
        if out.sample.is_empty() {
            out.sample = open;
        }
    }
    out
}

// -------------------------------------------------------------------- main

fn main() {
    let args = parse_args();
    let n = args.repos;
    let k = args.time_scale;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = distributor_binary(root);
    let target = target_dir(root);
    let logs = target.join("fleet-bench");
    std::fs::create_dir_all(&logs).expect("log dir");

    // Both sides compressed by K.
    let scaled_ms = |ms: u64| ((ms as f64 / k as f64).round() as u64).max(1);
    let fake_limits: Vec<(u32, Duration)> = GITHUB_LIMITS
        .iter()
        .map(|&(c, ms)| {
            (
                c as u32,
                Duration::from_secs_f64(ms as f64 / 1000.0 / k as f64),
            )
        })
        .collect();
    let mut pacing = Vec::new();
    for (count, period) in DEFAULT_QUOTAS {
        pacing.push("--github-write-quota".to_string());
        pacing.push(format!("{count}/{}ms", scaled_ms(period)));
    }
    pacing.push("--github-write-spacing".into());
    pacing.push(format!("{}ms", scaled_ms(DEFAULT_SPACING_MS)));

    let dir = tempfile::tempdir().expect("temp dir");
    let registry = dir.path().join("registry.json");
    let templates = dir.path().join("templates");
    std::fs::write(&registry, registry_json(n, "direct")).expect("write registry");
    write_templates(&templates, 1);

    let setup = Instant::now();
    let fake = FakeGitHub::start(Config {
        latency: Duration::ZERO,
        secondary_limits: fake_limits.clone(),
        max_concurrent: 100,
        // The fake's primary window is a real hour, not compressed: take it
        // out of the picture (requests per step are reported instead).
        rate_limit: 100_000_000,
        ..Config::default()
    });
    fake.add_token(TOKEN, true);
    let repos = repo_names(n);
    for (_, name) in &repos {
        let readme = format!("# {name}\n");
        fake.add_repo(OWNER, name, "main", &[("README.md", readme.as_bytes())]);
    }
    fake.set_latency(Duration::from_millis(args.latency_ms));
    let setup_s = setup.elapsed().as_secs_f64();
    let env = Env {
        bin,
        registry: registry.clone(),
        templates: templates.clone(),
        url: fake.url(),
        pacing: pacing.clone(),
        fake_limits: fake_limits.clone(),
        settle: Duration::from_millis(scaled_ms(3_600_000)),
        logs: logs.clone(),
    };
    eprintln!(
        "fleet: fake GitHub with {n} repos ready in {setup_s:.1}s at {}",
        env.url
    );

    let mut steps = Vec::new();
    let mut checks: Vec<Functional> = Vec::new();
    let window = args.real_rate_window.map(Duration::from_secs);

    steps.push(run_step(
        &env,
        &fake,
        ("1", "plan, all missing"),
        &["plan", "--no-diff"],
        2,
        None,
    ));
    steps.push(run_step(
        &env,
        &fake,
        ("2", "apply, direct"),
        &["apply"],
        0,
        None,
    ));
    checks.push(check_direct(&fake, &repos));
    steps.push(run_step(
        &env,
        &fake,
        ("3", "plan, no-op"),
        &["plan", "--no-diff"],
        0,
        None,
    ));

    // Step 4: the template changes and delivery switches to pull requests.
    std::fs::write(&registry, registry_json(n, "pr")).expect("write registry");
    write_templates(&templates, 2);
    steps.push(run_step(
        &env,
        &fake,
        ("4", "apply, PR opened"),
        &["apply"],
        0,
        window,
    ));
    if let Some(w) = steps.last_mut().and_then(|s| s.window.as_mut()) {
        let so_far = open_pulls(&fake, &repos);
        w.progress = format!("{} of {n} repos have their pull request open", so_far.total);
        steps.push(run_step(
            &env,
            &fake,
            ("4+", "apply, PRs finished"),
            &["apply"],
            0,
            None,
        ));
    }
    let opened = open_pulls(&fake, &repos);
    let main_moved = repos
        .iter()
        .filter(|(_, name)| fake.log(OWNER, name, "main").len() != 2)
        .count();
    checks.push(functional(
        "PR apply: one open PR per repo, default branch untouched",
        opened.none == 0 && opened.many == 0 && main_moved == 0,
        format!(
            "{} open PRs; {} repos without, {} with more than one; main moved in {main_moved}",
            opened.total, opened.none, opened.many
        ),
    ));
    let extras = opened.sample.first().map(|p| {
        format!(
            "labels {:?}, reviewers {:?}, team reviewers {:?}, draft {}, auto-merge {}",
            p.labels, p.reviewers, p.team_reviewers, p.draft, p.auto_merge
        )
    });

    // Step 5: the template changes again; the PRs must be updated in place.
    write_templates(&templates, 3);
    steps.push(run_step(
        &env,
        &fake,
        ("5", "apply, PR updated"),
        &["apply"],
        0,
        window,
    ));
    if let Some(w) = steps.last_mut().and_then(|s| s.window.as_mut()) {
        let stale = stale_proposals(&fake, &repos);
        w.progress = format!(
            "{} of {n} pull requests updated to the new change",
            n - stale
        );
        steps.push(run_step(
            &env,
            &fake,
            ("5+", "apply, PRs finished"),
            &["apply"],
            0,
            None,
        ));
    }
    let updated = open_pulls(&fake, &repos);
    let renumbered = updated
        .numbers
        .iter()
        .filter(|(name, number)| opened.numbers.get(*name) != Some(*number))
        .count();
    let stale = stale_proposals(&fake, &repos);
    checks.push(functional(
        "PR update: same PR updated in place, at most one open PR per repo",
        updated.none == 0 && updated.many == 0 && renumbered == 0 && stale == 0,
        format!(
            "{} open PRs; {} repos with more than one, {} without; {renumbered} not the PR opened in step 4; {stale} proposal branches without the new content",
            updated.total, updated.many, updated.none
        ),
    ));
    let exits_ok = steps.iter().all(StepResult::exit_ok);
    checks.insert(
        0,
        functional(
            "exit codes (plan 2 / apply 0 / plan 0 / apply 0 / apply 0; a real-rate window is stopped)",
            exits_ok,
            steps
                .iter()
                .map(|s| format!("step {}: {}", s.key, s.exit_text()))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    );

    report(
        &args,
        &steps,
        &checks,
        &Report {
            fake_limits: &fake_limits,
            pacing: &pacing,
            extras,
            setup_s,
            target: &target,
        },
    );

    if !checks.iter().all(|c| c.ok) {
        for s in steps.iter().filter(|s| !s.exit_ok()) {
            eprintln!(
                "\nstep {} ({}) exited {}; stderr ends with:\n{}",
                s.key,
                s.title,
                s.exit_text(),
                s.stderr_tail
            );
        }
        eprintln!("\nfleet: FUNCTIONAL FAILURE (logs in {})", logs.display());
        std::process::exit(1);
    }
}

struct Report<'a> {
    fake_limits: &'a [(u32, Duration)],
    pacing: &'a [String],
    extras: Option<String>,
    setup_s: f64,
    target: &'a Path,
}

struct Target {
    name: String,
    pass: bool,
    detail: String,
}

fn report(args: &Args, steps: &[StepResult], functional: &[Functional], r: &Report) {
    let n = args.repos;
    let k = args.time_scale;
    let step = |key: &str| steps.iter().find(|s| s.key == key).expect("step ran");
    let extra_calls = usize::from(!LABELS.is_empty()) + usize::from(REQUEST_REVIEWS);
    let extras_text = format!(
        "labels {:?} ({} call per PR opened), request_reviews {} ({} call per PR opened), draft off, auto-merge off",
        LABELS,
        usize::from(!LABELS.is_empty()),
        if REQUEST_REVIEWS {
            "on: team owners (acme/<team>-devs, lead-<team>)"
        } else {
            "off"
        },
        usize::from(REQUEST_REVIEWS),
    );

    // ---- header
    println!("\nfleet benchmark: distributor on the fake GitHub, {n} repos\n");
    println!(
        "managed files per repo: 5 = 4 rendered (generated bundle `fleet`) + the lock file {LOCK_PATH}"
    );
    println!(
        "latency: {} ms per request (not compressed); fake set up in {:.1}s",
        args.latency_ms, r.setup_s
    );
    println!(
        "time compressed x{k} on both sides: fake's secondary limits {} (GitHub's 80/min, 500/h / {k}), max 100 in flight;",
        r.fake_limits
            .iter()
            .map(|(c, d)| format!("{c} per {}ms", d.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  distributor paced with {} (its defaults 60/1m, 450/1h, 1s / {k}; spacing at least 1ms)",
        r.pacing.join(" ")
    );
    if let Some(w) = args.real_rate_window {
        println!(
            "steps 4 and 5 run as real-rate windows of {w} s (GitHub's limits and distributor's default pacing, \
             not compressed; see below); steps 4+ and 5+ finish their leftover repos compressed"
        );
    }
    println!("PR extras configured: {extras_text}");
    if let Some(e) = &r.extras {
        println!("  as seen on a PR: {e}");
    }
    println!(
        "primary rate limit: not simulated (the fake's hour is not compressed); the fake charges 1 GraphQL point per request"
    );
    let (exercised, most_per_hour) = pacing_exercised(args);
    if !exercised {
        println!(
            "note: writes are serialised and each waits >= {} ms (= {:.1} s at x{k}), so at most {most_per_hour} fit in a \
             compressed hour: distributor's pacing and the fake's windows are never reached at this latency; \
             run with --latency-ms 0 to exercise them",
            args.latency_ms,
            (args.latency_ms * k) as f64 / 1000.0
        );
    }

    // ---- table
    println!(
        "\n{:<22} {:>8} {:>8} {:>8} {:>7} {:>6} {:>7} {:>8} {:>8} {:>14} {:>14}",
        "step",
        "exit",
        "wall s",
        "requests",
        "writes",
        "units",
        "gql pts",
        "2nd-lim",
        "RSS MiB",
        "@ default pace",
        "floor 80m/500h"
    );
    for s in steps {
        let p = project(s.units());
        println!(
            "{:<22} {:>8} {:>8.2} {:>8} {:>7} {:>6} {:>7} {:>8} {:>8.1} {:>14} {:>14}",
            format!("{} {}", s.key, s.title),
            s.exit_text(),
            s.wall_s,
            s.counters.total,
            s.writes(),
            s.units(),
            s.counters.graphql_points,
            s.counters.secondary_refusals,
            s.rss_mib,
            human(p.default_s),
            human(p.floor_s),
        );
    }
    println!(
        "\nrequests by kind (writes = content-creating requests admitted by the fake; units = their mutation fields / mutating REST requests):"
    );
    for s in steps {
        println!(
            "  {} {:<20} {}",
            s.key,
            s.title,
            compact_kinds(&s.counters.by_kind)
        );
    }
    println!("\ndistributor's own view (its 'GitHub API usage' log) and the fake's:");
    for s in steps {
        let u = &s.usage;
        if u.is_null() && s.window.is_some() {
            println!(
                "  {} {:<20} none: stopped before its usage log; the fake's view is in the real-rate section",
                s.key, s.title
            );
            continue;
        }
        println!(
            "  {} {:<20} requests {}, writes {} ({} units), retries {}, observe batches {} ({} splits), warnings logged {}; max in flight {}, primary refusals {}",
            s.key,
            s.title,
            u["requests"],
            u["writes"],
            u["write_units"],
            u["retries"],
            u["observe_batches"],
            u["observe_splits"],
            s.warnings,
            s.counters.max_in_flight,
            s.counters.primary_refusals,
        );
    }
    println!(
        "\nprojected real time of each step's writes in units (first to last unit, latency not included):"
    );
    println!(
        "  @ default pace: distributor's defaults as sliding windows (<= 60 units per minute, <= 450 per hour, >= 1 s apart)"
    );
    println!("  floor: GitHub's secondary limits alone (<= 80 units per minute, <= 500 per hour)");
    println!(
        "  over: units of the default-pace schedule GitHub's limits would refuse (distributor's pacer is these sliding windows)"
    );
    for s in steps.iter().filter(|s| s.units() > 0) {
        let p = project(s.units());
        println!(
            "  {} {:<20} {} units ({} requests): default pace {}, floor {}, {} over GitHub's limits{}",
            s.key,
            s.title,
            s.units(),
            s.writes(),
            human(p.default_s),
            human(p.floor_s),
            p.over_github,
            p.first_over
                .map(|i| format!(" (first: write #{i})"))
                .unwrap_or_default()
        );
    }

    if let Some(w) = args.real_rate_window {
        real_rate::report(steps, w);
    }

    // ---- targets
    let mut targets = Vec::new();
    let noop = step("3");
    let noop_limit = (25 * n).div_ceil(1000) as u64;
    targets.push(Target {
        name: format!("no-op plan <= 25 requests per 1,000 repos (<= {noop_limit} for {n})"),
        pass: noop.counters.total <= noop_limit,
        detail: format!("{} requests", noop.counters.total),
    });
    let direct = step("2");
    let changed = direct.output["changed"].as_u64().unwrap_or(0);
    targets.push(Target {
        name: "direct update = 1 content-creating request per changed repo".into(),
        pass: changed == n as u64 && direct.writes() == changed,
        detail: format!(
            "{} writes for {changed} changed repos ({:.2} per repo)",
            direct.writes(),
            direct.writes() as f64 / changed.max(1) as f64
        ),
    });
    for (key, allowed, what) in [
        (
            "4",
            3 + extra_calls,
            format!("PR opened <= 3 + {extra_calls} extras (labels, reviewers) content-creating requests per repo"),
        ),
        (
            "5",
            3,
            "PR updated <= 3 content-creating requests per repo (extras are only sent when opening)".to_string(),
        ),
    ] {
        // A real-rate window and the compressed run that finishes it.
        let writes: u64 = steps
            .iter()
            .filter(|s| s.key.trim_end_matches('+') == key)
            .map(StepResult::writes)
            .sum();
        let per_repo = writes as f64 / n as f64;
        targets.push(Target {
            name: what,
            pass: writes <= (allowed * n) as u64,
            detail: format!("{writes} writes, {per_repo:.2} per repo (allowed {allowed})"),
        });
    }
    let refusals: u64 = steps.iter().map(|s| s.counters.secondary_refusals).sum();
    targets.push(Target {
        name: "zero secondary-limit refusals".into(),
        pass: refusals == 0,
        detail: format!("{refusals} refusals over all steps"),
    });
    if let Some((pass, detail)) = real_rate::target(steps) {
        targets.push(Target {
            name: "real-rate windows: >= 200 s each at GitHub's limits and default pacing, 0 secondary-limit refusals"
                .into(),
            pass,
            detail,
        });
    }
    let peak = steps.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    targets.push(Target {
        name: "peak RSS of distributor < 100 MiB".into(),
        pass: peak < 100.0,
        detail: format!("{peak:.1} MiB (max over steps)"),
    });

    println!("\ntargets (reported, never failing the run):");
    for t in &targets {
        println!(
            "  {}  {}: {}",
            if t.pass { "PASS" } else { "FAIL" },
            t.name,
            t.detail
        );
    }
    println!("\nfunctional checks (a failure exits non-zero):");
    for c in functional {
        println!(
            "  {}  {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }

    // ---- JSON
    let doc = json!({
        "benchmark": "fleet",
        "repos": n,
        "managed_files_per_repo": { "rendered": RENDERED.len(), "lock_file": 1 },
        "latency_ms": args.latency_ms,
        "time_scale": k,
        "real_rate_window_s": args.real_rate_window,
        "fake_secondary_limits": r.fake_limits.iter().map(|(c, d)| json!({"count": c, "window_ms": d.as_secs_f64() * 1000.0})).collect::<Vec<_>>(),
        "distributor_pacing_args": r.pacing,
        "pull_request_extras": {
            "labels": LABELS, "request_reviews": REQUEST_REVIEWS, "draft": false, "auto_merge": false,
            "calls_per_pr_opened": extra_calls, "seen": r.extras,
        },
        "setup_s": r.setup_s,
        "pacing_exercised": pacing_exercised(args).0,
        "steps": steps.iter().map(|s| {
            let p = project(s.writes());
            json!({
                "step": s.key,
                "title": s.title,
                "exit": s.exit,
                "expected_exit": s.expected_exit,
                "wall_s": s.wall_s,
                "peak_rss_mib": s.rss_mib,
                "requests": s.counters.total,
                "by_kind": s.counters.by_kind,
                "content_creating": s.counters.content_creating,
                "content_units": s.counters.content_units,
                "graphql_points": s.counters.graphql_points,
                "secondary_refusals": s.counters.secondary_refusals,
                "primary_refusals": s.counters.primary_refusals,
                "max_in_flight": s.counters.max_in_flight,
                "distributor_usage": {
                    "requests": s.usage["requests"], "writes": s.usage["writes"],
                    "write_units": s.usage["write_units"], "retries": s.usage["retries"],
                    "observe_batches": s.usage["observe_batches"],
                },
                "warnings_logged": s.warnings,
                "real_rate_window": s.window.as_ref().map(|w| json!({
                    "window_s": w.window.as_secs_f64(),
                    "ran_s": w.ran_s,
                    "ended": w.ended,
                    "first_unit_s": w.first_unit_s(),
                    "units_per_minute": w.units_per_minute(s.units()),
                    "peak_units_in_60s": w.peak_per_minute(),
                    "progress": w.progress,
                })),
                "summary": s.output.get("summary").cloned().unwrap_or(Value::Null),
                "changed": s.output.get("changed").cloned().unwrap_or(Value::Null),
                "failed": s.output.get("failed").cloned().unwrap_or(Value::Null),
                "pull_request_actions": pull_request_actions(&s.output),
                "projection_s": {
                    "default_pacing": p.default_s,
                    "floor_github_limits": p.floor_s,
                    "default_pace_writes_over_github_limits": p.over_github,
                    "default_pace_first_write_over": p.first_over,
                },
            })
        }).collect::<Vec<_>>(),
        "targets": targets.iter().map(|t| json!({"target": t.name, "pass": t.pass, "detail": t.detail})).collect::<Vec<_>>(),
        "functional": functional.iter().map(|c| json!({"check": c.name, "ok": c.ok, "detail": c.detail})).collect::<Vec<_>>(),
    });
    let path = r.target.join("fleet-bench.json");
    match std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).expect("serialise"),
    ) {
        Ok(()) => println!("\nwritten: {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}

/// Whether the pacing can bind at all: writes are serialised, so at most one
/// per `latency` (compressed: `latency * K` of real time). Returns that and
/// the most writes that fit in a (compressed) hour.
fn pacing_exercised(args: &Args) -> (bool, u64) {
    let interval_ms = args.latency_ms * args.time_scale;
    if interval_ms == 0 {
        return (true, u64::MAX);
    }
    let most = |period_ms: u64| period_ms / interval_ms + 1;
    let binds = interval_ms < DEFAULT_SPACING_MS
        || DEFAULT_QUOTAS
            .iter()
            .chain(&GITHUB_LIMITS)
            .any(|&(count, period)| most(period) > count);
    (binds, most(3_600_000))
}

/// Counts of `repos[].pull_request.action` in an apply document.
fn pull_request_actions(output: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in output["repos"].as_array().into_iter().flatten() {
        if let Some(a) = r["pull_request"]["action"].as_str() {
            *out.entry(a.to_string()).or_default() += 1;
        }
    }
    out
}
