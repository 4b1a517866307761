//! `distributor serve` as systemd runs it: the real binary against the fake
//! GitHub, a platform directory on disk, and a test Unix datagram socket as
//! `NOTIFY_SOCKET`. Checks the sd_notify sequence, webhooks (a signed push
//! lands a template change; a bad signature triggers nothing), reloads
//! that keep the old configuration, a SIGTERM in the middle of a cycle
//! (exit 0, no branch without its pull request), and that `/metrics`
//! agrees with `/status`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fake_github::{Config, FakeGitHub};
use hmac::{Hmac, Mac};
use serde_json::Value;

use common::Env;

const TOKEN: &str = "ghp_serve_test_token_5f5f5f5f5f";
const SECRET: &str = "webhook-secret-for-tests-9c9c";
const OWNER: &str = "acme";
const REPOS: [&str; 12] = [
    "apple-auth",
    "apple-sso",
    "banana-ingest",
    "banana-warehouse",
    "grape-dashboards",
    "grape-pipelines",
    "kiwi-app",
    "kiwi-gateway",
    "kiwi-notifications",
    "mango-api",
    "mango-infra",
    "mango-web",
];

/// A platform copy, a fake GitHub with every repo, and a running daemon.
struct Daemon {
    env: Env,
    fake: FakeGitHub,
    child: Child,
    addr: String,
    notify: UnixDatagram,
    config: PathBuf,
    logs: mpsc::Receiver<String>,
    log_lines: Vec<String>,
}

fn fake(latency: Duration) -> FakeGitHub {
    let fake = FakeGitHub::start(Config {
        latency,
        secondary_limits: vec![(100_000, Duration::from_secs(60))],
        ..Config::default()
    });
    fake.add_token(TOKEN, true);
    for name in REPOS {
        let branch = if name == "kiwi-notifications" {
            "trunk"
        } else {
            "main"
        };
        fake.add_repo(
            OWNER,
            name,
            branch,
            &[("README.md", b"# repo\n".as_slice())],
        );
    }
    fake
}

fn config_text(env: &Env, fake: &FakeGitHub, interval: &str, platform: &str) -> String {
    let token = env.tmp.path().join("github-token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let secret = env.tmp.path().join("webhook-secret");
    std::fs::write(&secret, SECRET).unwrap();
    format!(
        "platform:\n  {platform}\n  repository: acme/platform\n  branch: main\n\
         forge:\n  github:\n    api_url: {}\n    token_file: {}\n    write_quotas: [\"10000/1s\"]\n    write_spacing: 0ms\n\
         reconcile:\n  interval: {interval}\n  jitter: 0s\n  stop_timeout: 20s\n\
         http:\n  listen: 127.0.0.1:0\n  webhook_secret_file: {}\n\
         log:\n  format: json\n",
        fake.url(),
        token.display(),
        secret.display()
    )
}

impl Daemon {
    fn start(latency: Duration, interval: &str, watchdog: bool) -> Daemon {
        let env = Env::new();
        let platform = format!("path: {}", env.platform.display());
        Daemon::start_with(env, &platform, latency, interval, watchdog)
    }

    /// A daemon whose platform is a git repository it fetches itself.
    fn start_git() -> (Daemon, PathBuf) {
        let env = Env::new();
        let origin = env.tmp.path().join("platform-origin");
        common::copy_dir(&env.platform, &origin);
        let home = env.scratch.clone();
        let git = |args: &[&str]| common::git_in(&origin, &home, args, &[]);
        git(&["init", "-q", "-b", "main"]);
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "platform"]);
        let platform = format!("git:\n    url: {}\n    branch: main", origin.display());
        let d = Daemon::start_with(env, &platform, Duration::ZERO, "1h", false);
        (d, origin)
    }

    fn start_with(
        env: Env,
        platform: &str,
        latency: Duration,
        interval: &str,
        watchdog: bool,
    ) -> Daemon {
        let fake = fake(latency);
        let config = env.tmp.path().join("config.yaml");
        std::fs::write(&config, config_text(&env, &fake, interval, platform)).unwrap();
        let sock = env.tmp.path().join("notify.sock");
        let notify = UnixDatagram::bind(&sock).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_distributor"));
        cmd.args(["serve", "--config"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &sock)
            .env("STATE_DIRECTORY", env.tmp.path().join("state"))
            .env_remove("GITHUB_TOKEN")
            .env_remove("RUST_LOG")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("WATCHDOG_PID")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if watchdog {
            cmd.env("WATCHDOG_USEC", "1000000");
        } else {
            cmd.env_remove("WATCHDOG_USEC");
        }
        let mut child = cmd.spawn().expect("serve starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut d = Daemon {
            env,
            fake,
            child,
            addr: String::new(),
            notify,
            config,
            logs,
            log_lines: Vec::new(),
        };
        let line = d.wait_log(|l| l.contains("\"listening\""));
        let v: Value = serde_json::from_str(&line).unwrap();
        d.addr = v["addr"].as_str().unwrap().to_string();
        d
    }

    /// Waits for a log line matching `pred` (30 s at most).
    fn wait_log(&mut self, pred: impl Fn(&str) -> bool) -> String {
        if let Some(l) = self.log_lines.iter().find(|l| pred(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.logs.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    self.log_lines.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("no such log line; got:\n{}", self.log_lines.join("\n"));
    }

    fn drain_logs(&mut self) {
        while let Ok(l) = self.logs.try_recv() {
            self.log_lines.push(l);
        }
    }

    fn notifications(&self, until: impl Fn(&str) -> bool) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = self
                .notify
                .recv(&mut buf)
                .expect("a notification within 30 s");
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = until(&msg);
            got.push(msg);
            if done {
                return got;
            }
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        http(&self.addr, "GET", path, &[], b"")
    }

    fn status(&self) -> Value {
        let (code, body) = self.get("/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until the last cycle has `number` (and returns it).
    fn wait_cycle(&self, number: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.status();
            if s["last_cycle"]["number"].as_u64().unwrap_or(0) >= number {
                return s;
            }
            assert!(Instant::now() < deadline, "cycle {number} never ended: {s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn webhook(&self, event: &str, body: &str, signature: Option<String>) -> (u16, String) {
        let mut headers = vec![
            ("X-GitHub-Event", event.to_string()),
            ("Content-Type", "application/json".to_string()),
        ];
        if let Some(s) = signature {
            headers.push(("X-Hub-Signature-256", s));
        }
        http(&self.addr, "POST", "/webhook", &headers, body.as_bytes())
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "serve did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sign(body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A minimal HTTP/1.1 client (one request per connection).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (code, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn push_event(branch: &str) -> String {
    serde_json::json!({
        "ref": format!("refs/heads/{branch}"),
        "repository": { "full_name": "acme/platform" },
        "after": "0123456789abcdef0123456789abcdef01234567",
    })
    .to_string()
}

fn file(fake: &FakeGitHub, repo: &str, branch: &str, path: &str) -> Option<String> {
    fake.file(OWNER, repo, branch, path)
        .map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping_in_order() {
    let mut d = Daemon::start(Duration::ZERO, "1h", true);
    let got = d.notifications(|m| m.starts_with("STATUS=") && m.contains("in sync"));
    assert!(got[0].starts_with("READY=1\n"), "{got:?}");
    // The first cycle's status line, after READY.
    assert!(got.last().unwrap().contains("failing"), "{got:?}");
    // The watchdog is fed (WATCHDOG_USEC=1s: pings every half second).
    let pings = d.notifications(|m| m == "WATCHDOG=1");
    assert_eq!(pings.last().unwrap(), "WATCHDOG=1");
    d.signal("TERM");
    let rest = d.notifications(|m| m.starts_with("STOPPING=1"));
    assert!(rest.last().unwrap().starts_with("STOPPING=1"));
    assert_eq!(d.wait_exit(), 0);
    d.drain_logs();
    assert!(
        d.log_lines.iter().all(|l| !l.contains(TOKEN)),
        "no token in logs"
    );
}

#[test]
fn a_signed_push_webhook_lands_a_template_change_and_a_bad_one_is_refused() {
    let d = Daemon::start(Duration::ZERO, "1h", false);
    let first = d.wait_cycle(1);
    assert_eq!(first["last_cycle"]["outcome"], "ok", "{first}");
    assert!(file(&d.fake, "mango-web", "main", ".editorconfig").is_some());

    d.env.append_to_template(
        "baseline/.editorconfig",
        "\n[*.md]\ntrim_trailing_whitespace = false\n",
    );
    let body = push_event("main");
    // A bad signature, a missing one, a push to another branch: nothing runs.
    assert_eq!(d.webhook("push", &body, Some("sha256=00".into())).0, 401);
    assert_eq!(d.webhook("push", &body, None).0, 401);
    let other = push_event("feature");
    let (code, _) = d.webhook("push", &other, Some(sign(&other)));
    assert!(code < 300);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        d.status()["last_cycle"]["number"],
        1,
        "no cycle was triggered"
    );

    let (code, answer) = d.webhook("push", &body, Some(sign(&body)));
    assert_eq!(code, 202, "{answer}");
    let s = d.wait_cycle(2);
    assert_eq!(s["last_cycle"]["trigger"], "webhook");
    assert_eq!(s["last_cycle"]["outcome"], "ok", "{s}");
    let content = file(&d.fake, "mango-web", "main", ".editorconfig").unwrap();
    assert!(
        content.ends_with("trim_trailing_whitespace = false\n"),
        "{content}"
    );
    // PR repos: the change is on their (one) open pull request's branch.
    let sync = file(&d.fake, "mango-api", "distributor/sync", ".editorconfig").unwrap();
    assert!(sync.ends_with("trim_trailing_whitespace = false\n"));
    let open = d
        .fake
        .pulls(OWNER, "mango-api")
        .into_iter()
        .filter(|p| p.state == "open")
        .count();
    assert_eq!(open, 1);
    let metrics = d.get("/metrics").1;
    assert!(
        metrics.contains("distributor_webhooks_total{result=\"rejected\"} 2"),
        "{metrics}"
    );
}

#[test]
fn a_platform_fetched_with_git_is_followed_on_push() {
    let (d, origin) = Daemon::start_git();
    let home = d.env.scratch.clone();
    let head = common::git_in(&origin, &home, &["rev-parse", "HEAD"], &[]);
    let s = d.wait_cycle(1);
    assert_eq!(s["last_cycle"]["outcome"], "ok", "{s}");
    assert_eq!(s["last_cycle"]["revision"], head.as_str());

    let template = origin.join("templates/baseline/.editorconfig");
    let mut text = std::fs::read_to_string(&template).unwrap();
    text.push_str("\n[Makefile]\nindent_style = tab\n");
    std::fs::write(&template, text).unwrap();
    common::git_in(
        &origin,
        &home,
        &["commit", "-q", "-am", "tabs in makefiles"],
        &[],
    );
    let new_head = common::git_in(&origin, &home, &["rev-parse", "HEAD"], &[]);
    let body = push_event("main");
    assert_eq!(d.webhook("push", &body, Some(sign(&body))).0, 202);
    let s = d.wait_cycle(2);
    assert_eq!(s["last_cycle"]["outcome"], "ok", "{s}");
    assert_eq!(s["last_cycle"]["revision"], new_head.as_str());
    let content = file(&d.fake, "mango-web", "main", ".editorconfig").unwrap();
    assert!(content.ends_with("indent_style = tab\n"), "{content}");
}

#[test]
fn a_broken_registry_or_config_keeps_the_last_good_state_serving() {
    let mut d = Daemon::start(Duration::ZERO, "1h", false);
    let first = d.wait_cycle(1);
    let repos_before = first["repos"].as_array().unwrap().len();
    assert_eq!(repos_before, 12);

    // A broken registry: the reload cycle is invalid and writes nothing.
    std::fs::write(d.env.registry_path(), "{ \"version\": 1, ").unwrap();
    d.fake.reset_counters();
    // Skip what systemd heard so far (READY, the first cycle's STATUS).
    d.notifications(|m| m.starts_with("STATUS=") && m.contains("in sync"));
    d.signal("HUP");
    // systemd hears RELOADING (with the monotonic time), then READY again.
    let heard = d.notifications(|m| m.starts_with("READY=1"));
    let reloading = heard
        .iter()
        .position(|m| m.starts_with("RELOADING=1\nMONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("{heard:?}"));
    assert_eq!(reloading, heard.len() - 2, "{heard:?}");
    let s = d.wait_cycle(2);
    assert_eq!(s["last_cycle"]["trigger"], "reload");
    assert_eq!(s["last_cycle"]["outcome"], "invalid", "{s}");
    assert!(
        s["last_cycle"]["error"]
            .as_str()
            .unwrap()
            .contains("registry.json"),
        "{s}"
    );
    assert_eq!(
        s["repos"].as_array().unwrap().len(),
        12,
        "the last good picture stays"
    );
    assert_eq!(d.fake.counters().content_creating, 0, "nothing written");
    assert_eq!(d.get("/healthz").0, 200);

    // A broken config file: the previous configuration keeps running.
    std::fs::write(&d.config, "platform: [").unwrap();
    d.signal("HUP");
    let s = d.wait_cycle(3);
    assert!(
        s["config_error"].as_str().unwrap().contains("config.yaml"),
        "{s}"
    );
    d.wait_log(|l| l.contains("reload failed"));
    let metrics = d.get("/metrics").1;
    assert!(metrics.contains("distributor_config_valid 0"), "{metrics}");
    assert_eq!(d.get("/healthz").0, 200);
}

#[test]
fn sigterm_in_the_middle_of_a_cycle_exits_cleanly_without_half_a_pull_request() {
    // Slow GitHub: the first rollout (seven pull requests) takes seconds.
    let mut d = Daemon::start(Duration::from_millis(60), "1h", false);
    d.wait_log(|l| l.contains("\"repo done\"") && l.contains("\"proposal\":\"created\""));
    d.signal("TERM");
    assert_eq!(d.wait_exit(), 0);
    d.drain_logs();
    assert!(
        d.log_lines.iter().any(|l| l.contains("stopping")),
        "{:?}",
        d.log_lines
    );
    let mut with_branch = 0;
    for name in REPOS {
        let has_branch = d
            .fake
            .branches(OWNER, name)
            .iter()
            .any(|b| b == "distributor/sync");
        let open = d
            .fake
            .pulls(OWNER, name)
            .into_iter()
            .filter(|p| p.state == "open")
            .count();
        if has_branch {
            with_branch += 1;
            assert_eq!(
                open, 1,
                "{name}: a proposal branch without its pull request"
            );
        }
    }
    assert!(with_branch >= 1);
    assert!(
        with_branch < 7,
        "the cycle was interrupted, not finished ({with_branch} PRs)"
    );
}

#[test]
fn metrics_parse_as_prometheus_text_and_agree_with_status() {
    let d = Daemon::start(Duration::ZERO, "1h", false);
    let s = d.wait_cycle(1);
    let (code, text) = d.get("/metrics");
    assert_eq!(code, 200);
    let samples = parse_prometheus(&text);
    let totals = &s["totals"]["by_status"];
    for state in [
        "in_sync",
        "proposal_pending",
        "drifted",
        "error",
        "outdated",
    ] {
        let want = totals[state].as_f64().unwrap();
        assert_eq!(
            samples[&format!("distributor_repos{{state=\"{state}\"}}")],
            want,
            "{state}"
        );
    }
    assert_eq!(samples["distributor_repos{state=\"in_sync\"}"], 5.0);
    assert_eq!(samples["distributor_pull_requests{state=\"open\"}"], 7.0);
    assert_eq!(samples["distributor_cycles_total{outcome=\"ok\"}"], 1.0);
    assert_eq!(
        samples["distributor_last_successful_cycle_timestamp_seconds"],
        s["last_success_at"].as_f64().unwrap()
    );
    let graphql: f64 = samples
        .iter()
        .filter(|(k, _)| {
            k.starts_with("distributor_github_requests_total{") && k.contains("graphql")
        })
        .map(|(_, v)| v)
        .sum();
    assert!(graphql >= 1.0, "{text}");
    assert!(samples.contains_key("distributor_github_rate_limit_remaining{resource=\"graphql\"}"));
    assert!(!text.contains(TOKEN) && !text.contains(SECRET));
    for path in ["/status", "/", "/healthz", "/readyz"] {
        let body = d.get(path).1;
        assert!(
            !body.contains(TOKEN) && !body.contains(SECRET),
            "secret in {path}"
        );
    }
}

/// Parses Prometheus text: every sample line is `name{labels} value`, every
/// family has `# TYPE` before its samples. Panics on anything else.
fn parse_prometheus(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut typed = std::collections::BTreeSet::new();
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad name {name:?}"
        );
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "sample before its # TYPE: {line}");
        out.insert(series.to_string(), v);
    }
    out
}

/// A reload does not wait for a long cycle: the cycle stops after the repo
/// in flight (no branch without its pull request), the new configuration
/// is loaded, and a reload cycle finishes the rollout.
#[test]
fn sighup_during_a_cycle_reloads_after_the_repo_in_flight() {
    let mut d = Daemon::start(Duration::from_millis(60), "1h", false);
    d.wait_log(|l| l.contains("\"repo done\"") && l.contains("\"proposal\":\"created\""));
    d.signal("HUP");
    let s = d.wait_cycle(2);
    d.drain_logs();
    assert!(
        d.log_lines
            .iter()
            .any(|l| l.contains("SIGHUP during a cycle")),
        "{:?}",
        d.log_lines
    );
    let first = d
        .log_lines
        .iter()
        .find(|l| l.contains("cycle finished") && l.contains("\"cycle\":1"))
        .cloned()
        .unwrap_or_default();
    assert!(first.contains("interrupted"), "{first}");
    assert_eq!(s["last_cycle"]["trigger"], "reload", "{s}");
    assert_eq!(s["last_cycle"]["outcome"], "ok", "{s}");
    // Every PR repo ends with exactly one open pull request.
    for name in [
        "apple-sso",
        "banana-ingest",
        "grape-dashboards",
        "kiwi-gateway",
        "kiwi-notifications",
        "mango-api",
        "mango-infra",
    ] {
        let open = d
            .fake
            .pulls(OWNER, name)
            .into_iter()
            .filter(|p| p.state == "open")
            .count();
        assert_eq!(open, 1, "{name}");
    }
}
