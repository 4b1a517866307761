//! Real-rate windows of the fleet benchmark (`--real-rate-window SECS`):
//! a step run at GitHub's real secondary limits (80 units per minute, 500
//! per hour, each top-level mutation field one unit) with distributor at
//! its default pacing (no pacing flags), uncompressed, for SECS seconds;
//! then its `apply` is stopped (SIGTERM, then SIGKILL after a grace) and
//! the window is reported: units, requests, refusals, progress, and the
//! rate achieved against the limits.
//!
//! Instead of a real hour between steps, the fake's secondary windows are
//! emptied before each window (GitHub's would be after an hour without
//! writes) and put back to the compressed limits afterwards.

use std::process::Command;
use std::time::{Duration, Instant};

use fake_github::FakeGitHub;

use super::{DEFAULT_QUOTAS, DEFAULT_SPACING_MS, GITHUB_LIMITS, StepResult};

/// How long a stopped `apply` may take to exit after SIGTERM before it is
/// killed.
const GRACE: Duration = Duration::from_secs(5);
/// How often the window samples the fake's unit counter.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One real-rate window as it ran.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The configured window.
    pub window: Duration,
    /// Seconds from the start of the process to SIGTERM (or to its exit
    /// when it finished first).
    pub ran_s: f64,
    /// How the process ended: "finished", "SIGTERM" or "SIGKILL".
    pub ended: &'static str,
    /// (seconds since start, units admitted so far), about once a second.
    pub samples: Vec<(f64, u64)>,
    /// What the fleet shows after the window, e.g. "47 of 300 repos have
    /// their pull request open"; set by the caller.
    pub progress: String,
}

impl Watch {
    /// Seconds from the start to the first admitted unit (sampled).
    pub fn first_unit_s(&self) -> Option<f64> {
        self.samples.iter().find(|s| s.1 > 0).map(|s| s.0)
    }

    /// The most units admitted in any 60 s of the window, read from the
    /// once-a-second samples: each span is 60 to 61 s long, so this may
    /// exceed a 60-per-minute pace by a unit or two.
    pub fn peak_per_minute(&self) -> u64 {
        let mut peak = 0;
        for &(t, units) in &self.samples {
            let before = self
                .samples
                .iter()
                .rev()
                .find(|s| s.0 <= t - 60.0)
                .map_or(0, |s| s.1);
            peak = peak.max(units - before);
        }
        peak
    }

    /// Units per minute from the first unit to the stop.
    pub fn units_per_minute(&self, units: u64) -> f64 {
        let from = self.first_unit_s().unwrap_or(0.0);
        let span = (self.ran_s - from).max(1.0);
        units as f64 * 60.0 / span
    }
}

/// GitHub's limits at their real rates (K = 1).
pub fn github_limits() -> Vec<(u32, Duration)> {
    GITHUB_LIMITS
        .iter()
        .map(|&(count, ms)| (count as u32, Duration::from_millis(ms)))
        .collect()
}

/// Puts the fake at GitHub's real limits with empty windows.
pub fn enter(fake: &FakeGitHub) {
    fake.set_secondary_limits(github_limits());
    fake.reset_secondary_windows();
}

/// Puts the fake back at the compressed `limits` with empty windows.
pub fn leave(fake: &FakeGitHub, limits: &[(u32, Duration)]) {
    fake.set_secondary_limits(limits.to_vec());
    fake.reset_secondary_windows();
}

/// Watches the running child `pid` for `window`, sampling the fake's unit
/// counter, then stops it. Returns its exit code (or -signal), peak RSS in
/// MiB, and the window.
pub fn watch(pid: u32, fake: &FakeGitHub, window: Duration) -> (i32, f64, Watch) {
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    let mut termed: Option<Instant> = None;
    let mut killed = false;
    loop {
        if let Some((exit, rss)) = super::reap(pid, false) {
            let ran = termed.map_or(start.elapsed(), |at| at - start);
            let ended = match (termed, killed) {
                (None, _) => "finished",
                (Some(_), false) => "SIGTERM",
                (Some(_), true) => "SIGKILL",
            };
            let watch = Watch {
                window,
                ran_s: ran.as_secs_f64(),
                ended,
                samples,
                progress: String::new(),
            };
            return (exit, rss, watch);
        }
        let now = Instant::now();
        let t = now - start;
        if termed.is_none() && t >= next_sample {
            samples.push((t.as_secs_f64(), fake.counters().content_units));
            next_sample += SAMPLE_EVERY;
        }
        match termed {
            None if t >= window => {
                signal(pid, "TERM");
                termed = Some(now);
            }
            Some(at) if !killed && now - at >= GRACE => {
                signal(pid, "KILL");
                killed = true;
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `SIGname` to the child `pid` (not yet reaped, so the pid is ours).
fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !sent {
        eprintln!("fleet: cannot send SIG{name} to {pid}");
    }
}

/// The real-rate section of the report.
pub fn report(steps: &[StepResult], window_s: u64) {
    let windows: Vec<(&StepResult, &Watch)> = steps
        .iter()
        .filter_map(|s| s.window.as_ref().map(|w| (s, w)))
        .collect();
    if windows.is_empty() {
        return;
    }
    let quotas = DEFAULT_QUOTAS
        .iter()
        .map(|(c, ms)| format!("{c}/{}", if *ms == 60_000 { "min" } else { "h" }))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "\nreal-rate windows ({window_s} s each, not compressed): the fake at GitHub's 80 units/min and 500 units/h \
         (each top-level mutation field one unit), distributor at its default pacing \
         (no pacing flags: {quotas}, {} ms apart), then the apply is stopped (SIGTERM, SIGKILL after {} s).",
        DEFAULT_SPACING_MS,
        GRACE.as_secs()
    );
    println!(
        "  no real hour is waited before a window: the fake's secondary windows are emptied instead (as GitHub's \
         are after an hour without writes); each window's leftover repos are then finished by a compressed run \
         (steps marked +), so the PR-update window starts with a pull request open in every repo."
    );
    for (s, w) in windows {
        let units = s.units();
        let first = w.first_unit_s().map_or("no unit sent".to_string(), |f| {
            format!("first unit at {f:.0} s")
        });
        println!(
            "  {} {}: ran {:.1} s, ended by {} (exit {}); {first}; units {units}, requests {} ({} content-creating), \
             secondary-limit refusals {}; {}",
            s.key,
            s.title,
            w.ran_s,
            w.ended,
            s.exit,
            s.counters.total,
            s.writes(),
            s.counters.secondary_refusals,
            w.progress,
        );
        println!(
            "      {:.1} units/min from the first unit to the stop, peak {} in any 60 s (sampled each second: spans of 60-61 s) \
             vs GitHub's 80/min and the pacer's 60/min; {units} in the window vs GitHub's 500/h and the pacer's 450/h",
            w.units_per_minute(units),
            w.peak_per_minute(),
        );
    }
}

/// The target every window must meet: at least 200 s at real rates with
/// no secondary-limit refusal.
pub fn target(steps: &[StepResult]) -> Option<(bool, String)> {
    let windows: Vec<(&StepResult, &Watch)> = steps
        .iter()
        .filter_map(|s| s.window.as_ref().map(|w| (s, w)))
        .collect();
    if windows.is_empty() {
        return None;
    }
    let pass = windows
        .iter()
        .all(|(s, w)| s.counters.secondary_refusals == 0 && w.ran_s >= 200.0);
    let detail = windows
        .iter()
        .map(|(s, w)| {
            format!(
                "step {}: {} refusals in {:.0} s ({})",
                s.key, s.counters.secondary_refusals, w.ran_s, w.ended
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some((pass, detail))
}
