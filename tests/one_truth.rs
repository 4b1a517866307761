//! One truth for every view: one fleet state on the local forge — a
//! drifted file with its proposal open, a wave held behind it, a repo
//! stale for days, then the same revision halted, then the fleet rolled
//! back to the first revision and pinned there — read through
//! `status --format json`, `status` (text and markdown), the daemon's
//! `/status`, its dashboard and `/metrics`. Every view must show the same
//! state, decision, reason and counts, and the same pin: they all render
//! the status record.
//!
//! The platform is a git repository whose commits are dated days back, so
//! staleness is real at real time (the daemon reads the wall clock).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use common::browser::{section, text_of as plain};
use common::{Env, daemon};

const DAY: i64 = 86_400;
const CI_TEMPLATE: &str = "name: ci\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-24.04\n";
const OWNERS_TEMPLATE: &str = "* @acme/payments\n";

/// The platform: waves `canary` then `beta` (rollout order, not
/// alphabetical), two canary repos and one beta repo, delivered directly.
fn write_platform(env: &Env, soak: bool) {
    let repo = |name: &str, wave: &str| json!({"name": name, "wave": wave});
    let mut canary = json!({"name": "canary"});
    let mut registry = json!({
        "version": 1,
        "stages": ["dev"],
        "defaults": {"owner": "acme", "bundles": ["base"], "delivery": "direct",
                     "flags": {"ci_flag": true}},
        "teams": {"payments": {
            "owners": {"users": ["alice"]},
            "repos": [repo("edited", "canary"), repo("done", "canary"), repo("late", "beta")]
        }}
    });
    if soak {
        canary["soak"] = json!("7d");
        registry["rollout"] = json!({"stale_after": "1d"});
    }
    registry["waves"] = json!([canary, {"name": "beta"}]);
    let p = &env.platform;
    let _ = std::fs::remove_dir_all(p.join("templates"));
    std::fs::create_dir_all(p.join("templates/base")).unwrap();
    std::fs::write(
        p.join("registry.json"),
        serde_json::to_string_pretty(&registry).unwrap(),
    )
    .unwrap();
    std::fs::write(
        p.join("templates/base/bundle.yaml"),
        "files:\n  - template: ci.yml\n    path: .github/ci.yml\n  - template: CODEOWNERS\n    path: .github/CODEOWNERS\n",
    )
    .unwrap();
    let ci = if soak {
        CI_TEMPLATE.replace("ubuntu-24.04", "ubuntu-26.04")
    } else {
        CI_TEMPLATE.to_string()
    };
    // ci.yml reads a flag without printing it: `flags` tracks it.
    let ci = format!("{{% if flags.ci_flag %}}{{% endif %}}{ci}");
    std::fs::write(p.join("templates/base/ci.yml"), ci).unwrap();
    std::fs::write(p.join("templates/base/CODEOWNERS"), OWNERS_TEMPLATE).unwrap();
}

/// Commits the platform, dated `days_ago` days back.
fn commit(env: &Env, message: &str, days_ago: i64) {
    let date = format!("@{} +0000", distributor::time::now() - days_ago * DAY);
    let git = |args: &[&str]| {
        let out = common::git_command(&env.platform, &env.scratch)
            .args(args)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", message]);
}

/// The fleet state: revision 1 delivered everywhere 5 days ago; revision
/// 2 (3 days ago) changes ci.yml and gives canary a 7-day soak. The team
/// of `edited` changed CODEOWNERS by hand, so `apply` committed ci.yml and
/// proposed the drift; `beta` waits for canary, so `late` keeps revision 1
/// and has been behind for 3 days (stale after 1).
fn fleet(state: &Path) -> Env {
    let env = Env::new();
    std::fs::remove_file(env.platform.join("registry.json")).unwrap();
    write_platform(&env, false);
    common::git_in(
        &env.platform,
        &env.scratch,
        &["init", "-q", "-b", "main"],
        &[],
    );
    commit(&env, "platform: first", 5);
    let s = state.display().to_string();
    env.apply(&["--init", "--state-dir", &s]).expect_code(0);
    write_platform(&env, true);
    commit(&env, "platform: runner ubuntu-26.04, canary soaks 7d", 3);
    env.human_commit(
        &env.bare("edited"),
        "main",
        ".github/CODEOWNERS",
        "* @acme/payments @bob\n",
    );
    env.apply(&["--state-dir", &s]).expect_code(0);
    env
}

/// The daemon on the local forge, after its first cycle.
struct Daemon(daemon::Daemon);

impl Daemon {
    fn start(env: &Env, state: &Path) -> Daemon {
        let config = env.tmp.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "platform:\n  path: {}\nforge:\n  local:\n    root: {}\nreconcile:\n  interval: 1h\n  jitter: 0s\n  stop_timeout: 5s\nhttp:\n  listen: 127.0.0.1:0\nlog:\n  format: json\n",
                env.platform.display(),
                env.forge.display()
            ),
        )
        .unwrap();
        let d = daemon::Daemon::spawn(daemon::serve_command(&config, state, &env.scratch));
        d.wait_cycle(1);
        Daemon(d)
    }

    /// The three daemon views: `/status`, the dashboard, `/metrics`.
    fn views(&self) -> (Value, String, String) {
        let (code, status) = self.0.get("/status");
        assert_eq!(code, 200, "{status}");
        let (code, html) = self.0.get("/");
        assert_eq!(code, 200, "{html}");
        let (code, metrics) = self.0.get("/metrics");
        assert_eq!(code, 200, "{metrics}");
        (serde_json::from_str(&status).unwrap(), html, metrics)
    }

    fn stop(mut self) {
        self.0.log.signal("TERM");
        self.0.log.wait();
    }
}

/// A repo's record in a status document.
fn record<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == format!("acme/{name}"))
        .unwrap_or_else(|| panic!("acme/{name} in {doc}"))
}

/// A record without what depends on when it was made (the time of the
/// run, durations counted to it).
fn timeless(record: &Value) -> Value {
    let mut r = record.clone();
    r["seen_at"] = Value::Null;
    if let Some(s) = r["staleness"].as_object_mut() {
        s.remove("behind_for");
    }
    r
}

/// The text of each body row of the table in `html` (cells joined by one
/// space, entities decoded).
fn rows(html: &str) -> Vec<String> {
    let body = &html[html.find("<tbody>").map_or(0, |i| i + 7)..];
    let body = &body[..body.find("</tbody>").unwrap_or(body.len())];
    body.split("<tr>").skip(1).map(plain).collect()
}

/// The number on the dashboard card with badge `key`.
fn card(html: &str, key: &str) -> u64 {
    let totals = section(html, "totals");
    let badge = format!("<span class=\"st st-{key}\">{key}</span>");
    let at = totals
        .find(&badge)
        .unwrap_or_else(|| panic!("no card {key} in {totals}"));
    let before = &totals[..at];
    let b = before.rfind("<b>").unwrap() + 3;
    before[b..before.rfind("</b>").unwrap()].parse().unwrap()
}

/// `name{labels} value` in the Prometheus text.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {metrics}"))
}

/// Every view agrees with `cli` (`status --format json`): the records,
/// the totals, the pin, the dashboard's rows and cards, and `/metrics`.
/// The repos named in `attention` are the ones needing it.
fn assert_one_truth(cli: &Value, daemon: &Value, html: &str, metrics: &str, attention: &[&str]) {
    assert_eq!(daemon["totals"], cli["totals"], "totals");
    assert_eq!(daemon["rollout"], cli["rollout"], "rollout");
    assert_eq!(daemon.get("pin"), cli.get("pin"), "pin");
    let pinned = f64::from(u8::from(cli.get("pin").is_some()));
    assert_eq!(sample(metrics, "distributor_pinned"), pinned);
    assert_eq!(html.contains("id=\"pin\""), cli.get("pin").is_some());
    for name in ["edited", "done", "late"] {
        assert_eq!(
            timeless(record(daemon, name)),
            timeless(record(cli, name)),
            "acme/{name}"
        );
    }
    let totals = &cli["totals"];
    for (key, n) in totals["by_status"].as_object().unwrap() {
        assert_eq!(card(html, key), n.as_u64().unwrap(), "card {key}");
        let series = format!("distributor_repos{{state=\"{key}\"}}");
        assert_eq!(sample(metrics, &series), n.as_f64().unwrap(), "{series}");
    }
    for (key, n) in totals["by_decision"].as_object().unwrap() {
        let series = format!("distributor_repos_by_decision{{decision=\"{key}\"}}");
        assert_eq!(sample(metrics, &series), n.as_f64().unwrap(), "{series}");
        if ["queued", "held", "halted"].contains(&key.as_str()) {
            assert_eq!(card(html, key), n.as_u64().unwrap(), "card {key}");
        }
    }
    assert_eq!(card(html, "stale"), totals["stale"].as_u64().unwrap());
    assert_eq!(
        sample(metrics, "distributor_stale_repos"),
        totals["stale"].as_f64().unwrap()
    );
    // The dashboard's row of each repo needing attention: state,
    // decision and reason as the record says.
    let rows = rows(section(html, "attention"));
    for name in ["edited", "done", "late"] {
        let r = record(cli, name);
        let row = rows
            .iter()
            .find(|row| row.starts_with(&format!("acme/{name} ")));
        let Some(row) = row else {
            assert!(!attention.contains(&name), "acme/{name} in {rows:#?}");
            continue;
        };
        assert!(attention.contains(&name), "{row}");
        let head = ["wave", "status", "decision", "reason"]
            .into_iter()
            .filter_map(|k| r[k].as_str())
            .fold(format!("acme/{name} payments"), |h, v| format!("{h} {v}"));
        assert!(row.starts_with(&head), "{row}\nwanted {head}");
    }
}

#[test]
fn status_the_daemon_s_status_the_dashboard_and_metrics_tell_one_truth() {
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path();
    let env = fleet(state);
    let s = state.display().to_string();

    // The state as `status` sees it.
    let run = env.status(&["--format", "json", "--state-dir", &s]);
    run.expect_code(0);
    let cli: Value = serde_json::from_str(&run.stdout).unwrap();
    let edited = record(&cli, "edited");
    assert_eq!(edited["status"], "proposal_pending", "{edited}");
    assert_eq!(edited["counts"], json!({"drifted": 1, "in_sync": 1}));
    assert_eq!(
        edited["proposal"],
        "branch distributor/sync is up to date, awaiting merge"
    );
    let late = record(&cli, "late");
    assert_eq!(late["status"], "outdated");
    assert_eq!(late["decision"], "held");
    let reason = late["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("held: wave beta waits for wave canary to take revision ")
            && reason.ends_with("(1 of 2 repos in sync; waiting for acme/edited)"),
        "{reason}"
    );
    assert_eq!(late["stale"], true);
    assert_eq!(late["staleness"]["behind_revisions"], 1);
    assert_eq!(record(&cli, "done")["status"], "in_sync");
    let totals = &cli["totals"];
    assert_eq!(totals["by_status"]["proposal_pending"], 1);
    assert_eq!(totals["by_status"]["drifted"], 0);
    assert_eq!(totals["files_by_state"]["drifted"], 1);
    assert_eq!(totals["by_decision"]["held"], 1);
    assert_eq!(totals["stale"], 1);

    // Where the flag stands, as `flags` sees it.
    let run = env.cmd("flags", &["--format", "json", "--state-dir", &s]);
    let cli_flags: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(cli_flags["flags"][0]["name"], "ci_flag", "{cli_flags}");

    // The daemon's cycle writes nothing new and sees the same.
    let daemon = Daemon::start(&env, state);
    let (status, html, metrics) = daemon.views();
    assert_eq!(status["last_cycle"]["outcome"], "ok", "{status}");
    assert_one_truth(&cli, &status, &html, &metrics, &["edited", "late"]);
    assert_eq!(
        status["flags"], cli_flags["flags"],
        "flags in /status and `flags`"
    );
    let dev = &cli_flags["flags"][0]["stages"][0];
    for standing in ["live", "pending", "waiting", "blocked"] {
        let series = format!(
            "distributor_flag_repos{{flag=\"ci_flag\",stage=\"dev\",standing=\"{standing}\"}}"
        );
        let n = dev[standing].as_array().unwrap().len() as f64;
        assert_eq!(sample(&metrics, &series), n, "{series}");
    }
    let panel = rows(section(&html, "flags"));
    assert!(panel[0].starts_with("ci_flag dev on "), "{panel:#?}");
    assert_eq!(
        sample(&metrics, "distributor_rollout_halted{revision=\"\"}"),
        0.0
    );
    // Waves in rollout order, canary's soak, beta held with its reason.
    let waves = rows(section(&html, "waves"));
    assert!(
        waves[0].starts_with("canary 2 1 0 1 0 0 50% open 7d"),
        "{waves:#?}"
    );
    let held = reason.strip_prefix("held: ").unwrap();
    assert!(
        waves[1].starts_with(&format!("beta 1 0 1 0 0 0 0% held {held}")),
        "{waves:#?}"
    );
    daemon.stop();

    // The text and markdown say the same, and the text fits 120 columns.
    let text = env.status(&["--state-dir", &s]);
    text.expect_code(0);
    assert!(
        text.stdout.lines().all(|l| l.chars().count() <= 120),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("3 repos: 1 in sync, 1 outdated, 0 drifted, 1 proposal pending, 0 errors."),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("Files: 4 in sync, 1 drifted, 1 outdated."),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("Rollout: 1 held, 1 stale."),
        "{}",
        text.stdout
    );
    let md = env.status(&["--format", "markdown", "--state-dir", &s]);
    md.expect_code(0);
    let late_row = md
        .stdout
        .lines()
        .find(|l| l.starts_with("| `acme/late` |"))
        .unwrap_or_else(|| panic!("{}", md.stdout));
    assert!(
        late_row.starts_with(
            "| `acme/late` | payments | beta | outdated | 1 outdated (of 2) | - | held, stale | "
        ) && late_row.contains(reason),
        "{late_row}"
    );

    // An operator's halt of this revision (as `apply` records one): every
    // repo with something to deliver is halted, in every view.
    let revision = cli["rollout"]["revision"].as_str().unwrap().to_string();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(state.join("rollout.jsonl"))
        .unwrap();
    let halted = json!({"event": "halted", "at": distributor::time::now() - 60, "revision": revision,
                        "reason": "1 failure: acme/done: checks failed on main"});
    writeln!(log, "{halted}").unwrap();
    drop(log);
    let run = env.status(&["--format", "json", "--state-dir", &s]);
    run.expect_code(3);
    let cli: Value = serde_json::from_str(&run.stdout).unwrap();
    let late = record(&cli, "late");
    assert_eq!(late["decision"], "halted");
    assert!(
        late["reason"]
            .as_str()
            .unwrap()
            .contains("is halted (1 failure: acme/done: checks failed on main)"),
        "{late}"
    );
    assert_eq!(cli["totals"]["by_decision"]["halted"], 1);
    assert_eq!(cli["totals"]["by_decision"]["held"], 0);
    let daemon = Daemon::start(&env, state);
    let (status, html, metrics) = daemon.views();
    assert_one_truth(&cli, &status, &html, &metrics, &["edited", "late"]);
    assert_eq!(
        sample(
            &metrics,
            &format!("distributor_rollout_halted{{revision=\"{revision}\"}}")
        ),
        1.0
    );
    assert!(section(&html, "halt").contains("checks failed on main"));
    let waves = rows(section(&html, "waves"));
    assert!(
        waves[0].starts_with("canary 2 1 0 1 0 0 50% halted"),
        "{waves:#?}"
    );
    assert!(
        waves[1].starts_with("beta 1 0 1 0 0 0 0% halted"),
        "{waves:#?}"
    );
    daemon.stop();

    roll_back_and_compare(&env, state);
}

/// The fleet rolled back to the first revision by `olivia`: `status`
/// (JSON and text), `/status`, the dashboard's banner and summary and
/// `/metrics` show the same pin, and the daemon's cycle renders the
/// pinned revision; after `unpin`, no view shows one.
fn roll_back_and_compare(env: &Env, state: &Path) {
    let s = state.display().to_string();
    let rev = |r: &str| common::git_in(&env.platform, &env.scratch, &["rev-parse", r], &[]);
    let (first, second) = (
        rev("HEAD~1").trim().to_string(),
        rev("HEAD").trim().to_string(),
    );
    let (a12, b12) = (&first[..12], &second[..12]);
    let forge = env.forge_arg();
    let reason = "runner image broke builds";
    let out = env
        .command(&[
            "rollback",
            "--forge",
            &forge,
            &first,
            "--reason",
            reason,
            "--state-dir",
            &s,
        ])
        .env("USER", "olivia")
        .env_remove("SUDO_USER")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let run = env.status(&["--format", "json", "--state-dir", &s]);
    run.expect_code(0);
    let cli: Value = serde_json::from_str(&run.stdout).unwrap();
    let pin = &cli["pin"];
    let since = pin["since"].as_str().unwrap_or_else(|| panic!("{cli}"));
    assert_eq!(
        pin,
        &json!({"to": first, "from": [second], "reason": reason, "operator": "olivia", "since": since})
    );
    let at = distributor::time::parse_rfc3339(since).unwrap();
    assert!((distributor::time::now() - at).abs() < 600, "{since}");
    let since = distributor::time::utc(at);
    let words = format!(
        "to revision {a12} since {since} by olivia: {reason} \
         (rolled back from {b12}; `distributor unpin` follows the head again)"
    );
    let text = env.status(&["--state-dir", &s]);
    let head: Vec<&str> = text
        .stdout
        .lines()
        .take_while(|l| !l.starts_with("REPO "))
        .flat_map(str::split_whitespace)
        .collect();
    assert_eq!(head.join(" "), format!("PINNED {words}"), "{}", text.stdout);

    let daemon = Daemon::start(env, state);
    let (status, html, metrics) = daemon.views();
    assert_eq!(status["last_cycle"]["revision"], first.as_str(), "{status}");
    assert_one_truth(&cli, &status, &html, &metrics, &["edited"]);
    let banner = plain(section(&html, "pin"));
    assert!(
        banner.contains(&format!(
            "Fleet pinned Every cycle renders revision {a12} , pinned since {since} by olivia: {reason} \
             Rolled back from {b12}. The fleet follows the platform's head again once an operator runs \
             distributor unpin with the daemon's state directory."
        )),
        "{banner}"
    );
    let summary = format!("<p class=\"sub\">pinned to {a12}; ");
    assert!(html.contains(&summary), "STATUS= summary: {html}");
    daemon.stop();

    env.cmd("unpin", &["--state-dir", &s]).expect_code(0);
    let run = env.status(&["--format", "json", "--state-dir", &s]);
    let cli: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(cli.get("pin").is_none(), "{cli}");
}

/// A repo the local forge lacks: the CLI advises `--init`, the daemon
/// what its operator can do (it takes no flags).
#[test]
fn advice_in_errors_fits_who_reads_it() {
    let state_dir = tempfile::tempdir().unwrap();
    let env = fleet(state_dir.path());
    let ghost: PathBuf = env.bare("late");
    std::fs::rename(&ghost, env.tmp.path().join("moved.git")).unwrap();
    let s = state_dir.path().display().to_string();
    let run = env.status(&["--format", "json", "--state-dir", &s]);
    run.expect_code(1);
    let cli: Value = serde_json::from_str(&run.stdout).unwrap();
    let error = record(&cli, "late")["error"].as_str().unwrap().to_string();
    assert!(error.ends_with("; create it or run with --init"), "{error}");

    let daemon = Daemon::start(&env, state_dir.path());
    let (status, html, _) = daemon.views();
    let late = record(&status, "late");
    assert_eq!(late["status"], "error");
    let error = late["error"].as_str().unwrap();
    assert!(!error.contains("--init"), "{error}");
    assert!(
        error.ends_with("; create the repository on the forge (the daemon never creates repositories): the next cycle picks it up"),
        "{error}"
    );
    assert!(!html.contains("--init"));
    // The team and wave it had are kept from the plan of the others.
    assert_eq!(status["totals"]["by_status"]["error"], 1);
    daemon.stop();
}
