//! The systemd integration in `systemd/`: the example config is accepted by
//! the daemon's parser and agrees with the unit (credential names, stop
//! timeout, config path, a `LimitNOFILE` with room for
//! `http.max_connections` and a cycle); the unit passes `systemd-analyze
//! verify` and its `systemd-analyze security` exposure is 2.0 or lower.
//!
//! `systemd-analyze` comes with Debian's `systemd` package, which `.ci/run`
//! installs. Without it these tests fail with a message saying so: they
//! never skip. Nothing here needs systemd running as PID 1 or the network.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use distributor::daemon::config::{Config, LogFormat};
use distributor::daemon::server::{CYCLE_DESCRIPTORS, descriptor_shortage};
use distributor::forge::ForgeSpec;
use distributor::forge::github::limits::parse_duration;

/// Highest overall exposure `systemd-analyze security` may report.
const MAX_EXPOSURE: f64 = 2.0;

fn systemd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd")
}

fn unit_text() -> String {
    std::fs::read_to_string(systemd_dir().join("distributor.service")).unwrap()
}

fn example_text() -> String {
    std::fs::read_to_string(systemd_dir().join("config.example.yaml")).unwrap()
}

/// The active (uncommented) values of `key` in the unit, in order.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
        .collect()
}

/// The single active value of `key` in the unit.
fn unit_value(unit: &str, key: &str) -> String {
    let values = unit_values(unit, key);
    assert_eq!(values.len(), 1, "{key}= should be set once: {values:?}");
    values[0].clone()
}

/// Runs `systemd-analyze ARGS`; a missing tool fails the test with how to
/// get it.
fn systemd_analyze(args: &[&str], dir: &Path) -> Output {
    match Command::new("systemd-analyze")
        .args(args)
        .current_dir(dir)
        .env("SYSTEMD_PAGER", "cat")
        .env("SYSTEMD_COLORS", "0")
        .env("LC_ALL", "C.UTF-8")
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`systemd-analyze` is not installed: it comes with Debian's `systemd` package, \
             which .ci/run installs (apt-get install -y systemd). These tests never skip."
        ),
        Err(e) => panic!("cannot run systemd-analyze: {e}"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes the unit into `dir` as `distributor.service`, with `ExecStart`
/// pointing at the binary this test run built (verify checks that the
/// command exists and is executable) and `extra` appended to [Service].
fn unit_copy(dir: &Path, extra: &str) -> PathBuf {
    let unit = unit_text();
    let exec = unit_value(&unit, "ExecStart");
    let installed = exec.split_whitespace().next().unwrap();
    assert_eq!(installed, "/usr/local/bin/distributor", "{exec}");
    let built = env!("CARGO_BIN_EXE_distributor");
    let mut copy = unit.replace(
        &format!("ExecStart={installed} "),
        &format!("ExecStart={built} "),
    );
    copy = copy.replace("[Service]\n", &format!("[Service]\n{extra}"));
    let path = dir.join("distributor.service");
    std::fs::write(&path, copy).unwrap();
    path
}

/// Lines of the output that are about our unit (warnings and errors name
/// the unit or its file).
fn lines_about_unit(out: &Output, path: &Path) -> Vec<String> {
    let path = path.display().to_string();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| l.contains("distributor.service") || l.contains(&path))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_example_config_parses_and_matches_the_unit() {
    let (config, checked) = Config::parse("config.example.yaml", &example_text())
        .unwrap_or_else(|e| panic!("systemd/config.example.yaml is refused:\n{e}"));

    // What the example is meant to show.
    let git = config.platform.git.as_ref().expect("platform.git");
    assert!(git.url.starts_with("https://"), "{}", git.url);
    assert_eq!(config.platform.repository.as_deref(), Some("acme/platform"));
    assert_eq!(
        config.platform_branch(),
        git.branch,
        "webhooks watch the branch the daemon fetches"
    );
    assert_eq!(config.log.format, LogFormat::Json);
    assert!(checked.listen.ip().is_loopback(), "{}", checked.listen);
    let ForgeSpec::GitHub(github) = &config.forge else {
        panic!("the example uses GitHub")
    };
    let app = github.app.as_ref().expect("forge.github.app");
    assert!(github.token_file.is_none());

    // Every credential the config names is one the unit loads, under the
    // same bare name (looked up in $CREDENTIALS_DIRECTORY).
    let unit = unit_text();
    let loaded: Vec<String> = unit_values(&unit, "LoadCredential");
    let webhook = config.http.webhook_secret_file.as_ref().expect("webhook");
    let key_file = app.key_file.as_ref().expect("forge.github.app.key_file");
    for file in [key_file, webhook] {
        let name = file.to_str().unwrap();
        assert!(
            !name.contains('/'),
            "{name} should be a bare credential name"
        );
        let want = format!("{name}:/etc/distributor/credentials/{name}");
        assert!(
            loaded.contains(&want),
            "no LoadCredential={want} in {loaded:?}"
        );
    }
    // The token alternative is in the unit, commented out (a missing
    // credential file stops the service from starting).
    assert!(
        unit.contains("#LoadCredential=github-token:/etc/distributor/credentials/github-token"),
        "the unit should show the token alternative"
    );

    // The unit runs this config, and gives the daemon more time to stop
    // than the config's stop_timeout.
    assert!(
        unit_value(&unit, "ExecStart").ends_with(" serve --config /etc/distributor/config.yaml")
    );
    let stop = unit_value(&unit, "TimeoutStopSec");
    let stop = parse_duration(&stop).unwrap_or_else(|e| panic!("TimeoutStopSec: {e}"));
    assert!(
        stop >= checked.stop_timeout + Duration::from_secs(15),
        "TimeoutStopSec ({stop:?}) should exceed reconcile.stop_timeout ({:?}) with room to spare",
        checked.stop_timeout
    );
    let watchdog = parse_duration(&unit_value(&unit, "WatchdogSec")).unwrap();
    assert!(watchdog >= Duration::from_secs(60), "{watchdog:?}");

    // Descriptors for every HTTP connection the config allows and a cycle
    // beside them, with room to spare (the daemon's own check agrees).
    let nofile: u64 = unit_value(&unit, "LimitNOFILE").parse().unwrap();
    assert!(nofile >= 65536, "LimitNOFILE={nofile}");
    let limits = format!(
        "Max open files            {nofile}                 {nofile}                 files\n"
    );
    assert_eq!(
        descriptor_shortage(&limits, checked.limits.max_connections),
        None
    );
    assert!(
        nofile >= 16 * (checked.limits.max_connections as u64 + CYCLE_DESCRIPTORS),
        "LimitNOFILE={nofile} leaves little room"
    );
}

/// The keys a section of the config accepts, as `Config::parse` says when
/// it meets an unknown one: nothing to keep in step by hand when a key is
/// added to `src/daemon/config.rs`.
fn accepted_keys(example: &serde_json::Value, section: &[&str]) -> Vec<String> {
    let mut probe = example.clone();
    match section {
        // An enum: one key, the variant; an unknown variant lists them.
        ["forge"] => probe["forge"] = serde_json::json!({ "zz_probe": {} }),
        _ => {
            if section == ["forge", "local"] {
                probe["forge"] = serde_json::json!({ "local": { "root": "/srv/repos" } });
            }
            let mut at = &mut probe;
            for key in section {
                at = &mut at[*key];
            }
            at.as_object_mut()
                .unwrap_or_else(|| panic!("{section:?} is not a mapping in the probe"))
                .insert("zz_probe".into(), serde_json::json!({}));
        }
    }
    // JSON is YAML: the probe goes through the daemon's own parser.
    let err = Config::parse("probe.yaml", &probe.to_string()).unwrap_err();
    let list = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of keys in: {err}"));
    list.lines()
        .next()
        .unwrap()
        .split(", ")
        .map(|k| k.trim_matches('`').to_string())
        .collect()
}

#[test]
fn every_config_key_is_documented_and_in_the_example() {
    let text = example_text();
    let example: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/config.md"))
            .unwrap();
    let sections: &[&[&str]] = &[
        &[],
        &["platform"],
        &["platform", "git"],
        &["forge"],
        &["forge", "github"],
        &["forge", "github", "app"],
        &["forge", "local"],
        &["reconcile"],
        &["http"],
        &["log"],
    ];
    let is_section = |path: &str| sections.iter().any(|s| s.join(".") == path);
    // Alternatives the example shows in comments only.
    let commented = [
        ("platform.path", "path: /srv/platform"),
        ("platform.branch", "branch is `branch:`, default main"),
        ("forge.github.token_file", "token_file: github-token"),
        ("forge.local", "local: { root: DIR }"),
        ("forge.local.root", "local: { root: DIR }"),
    ];
    let mut leaves = 0;
    for section in sections {
        for key in accepted_keys(&example, section) {
            let mut path: Vec<&str> = section.to_vec();
            path.push(&key);
            let dotted = path.join(".");
            if !is_section(&dotted) {
                leaves += 1;
                assert!(
                    docs.contains(&format!("`{dotted}`")),
                    "docs/config.md does not document `{dotted}`"
                );
            }
            let in_example = path.iter().try_fold(&example, |v, k| v.get(*k)).is_some();
            let alternative = commented.iter().find(|(k, _)| *k == dotted);
            match alternative {
                Some((_, shown)) => assert!(
                    text.contains(shown),
                    "the example should show `{dotted}` as `{shown}` in a comment"
                ),
                None => assert!(in_example, "the example config lacks `{dotted}`"),
            }
        }
    }
    assert!(
        leaves >= 25,
        "only {leaves} keys found: is the probe broken?"
    );
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_copy(dir.path(), "");
    let unit_arg = unit.to_str().unwrap();
    let out = systemd_analyze(&["verify", "--man=no", unit_arg], dir.path());
    let complaints = lines_about_unit(&out, &unit);
    assert!(
        out.status.success() && complaints.is_empty(),
        "systemd-analyze verify complains about the unit: {complaints:#?}\n{}",
        text(&out)
    );

    // The same check sees a broken copy: the silence above is a real pass.
    let broken = tempfile::tempdir().unwrap();
    let unit = unit_copy(broken.path(), "NoSuchSetting=yes\n");
    let out = systemd_analyze(
        &["verify", "--man=no", unit.to_str().unwrap()],
        broken.path(),
    );
    let complaints = lines_about_unit(&out, &unit);
    assert!(
        complaints.iter().any(|l| l.contains("NoSuchSetting")),
        "systemd-analyze verify did not report an unknown setting: {}",
        text(&out)
    );
}

#[test]
fn the_unit_is_hardened_to_an_exposure_of_two_or_less() {
    let unit = systemd_dir().join("distributor.service");
    let out = systemd_analyze(
        &[
            "security",
            "--offline=yes",
            "--no-pager",
            unit.to_str().unwrap(),
        ],
        &systemd_dir(),
    );
    let table = text(&out);
    assert!(
        out.status.success(),
        "systemd-analyze security failed:\n{table}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level for distributor.service:"))
        .unwrap_or_else(|| panic!("no overall exposure line:\n{table}"));
    let exposure: f64 = line
        .rsplit_once(": ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure from {line:?}:\n{table}"));
    assert!(
        exposure <= MAX_EXPOSURE,
        "overall exposure {exposure} is above {MAX_EXPOSURE}:\n{table}"
    );
}
