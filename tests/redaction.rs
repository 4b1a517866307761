//! Secrets never leave the process, even when a server echoes them: a
//! 127.0.0.1 "GitHub" that answers every request with 401 and its request
//! headers in the error text (as a debugging proxy or a misconfigured
//! GitHub Enterprise front end does). With a GitHub-shaped token and with
//! a token of no known shape, the token is in no output: stdout and
//! stderr of `plan`, `apply` and a forced `apply` (text and JSON logs),
//! the audit log, the state directory, and the daemon's log, `/status`,
//! dashboard and `/metrics`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;

/// Starts the echoing server; returns its base URL.
fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let _ = answer(stream);
            });
        }
    });
    format!("http://{addr}")
}

/// Answers each request on the connection with 401 and the request's
/// headers (raw and without their scheme) in the message.
fn answer(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end().to_string();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push(line);
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let bare: Vec<String> = headers
            .iter()
            .filter_map(|h| h.split_once(' ').map(|(_, v)| v.to_string()))
            .collect();
        let message = format!(
            "Bad credentials, you sent: {} (values: {})",
            headers.join(" | "),
            bare.join(" ")
        );
        let json = serde_json::json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "headers": headers,
        })
        .to_string();
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nwww-authenticate: {}\r\n\r\n{json}",
            json.len(),
            headers.join("; ")
        )?;
        out.flush()?;
    }
}

/// Every file under `dir`, as text.
fn files_text(dir: &Path) -> String {
    let mut all = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return all;
    };
    for e in entries.map_while(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            all.push_str(&files_text(&p));
        } else {
            all.push_str(&String::from_utf8_lossy(
                &std::fs::read(&p).unwrap_or_default(),
            ));
        }
    }
    all
}

#[track_caller]
fn assert_clean(token: &str, what: &str, text: &str) {
    assert!(!text.contains(token), "{what} shows the token:\n{text}");
    // The scheme-less tail too (a prefix of the token is not enough to
    // use it, but a long run of it is).
    let tail = &token[token.len() - 16..];
    assert!(
        !text.contains(tail),
        "{what} shows part of the token:\n{text}"
    );
}

const TOKENS: [&str; 2] = [
    // Shaped like a GitHub classic token: masked by shape and registration.
    "ghp_Q7r8A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6",
    // No known shape: masked only because distributor registered it.
    "plain-secret-value-7f3a9c1e5b2d8f4a",
];

#[test]
fn an_echoing_server_gets_the_token_into_no_cli_output_or_file() {
    let url = echo_server();
    for token in TOKENS {
        let env = Env::new();
        let state = env.tmp.path().join("state");
        let token_file = env.tmp.path().join("token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let forge = format!("github:{url}");
        let state_arg = state.display().to_string();
        let token_arg = token_file.display().to_string();
        let runs: Vec<(&str, Vec<&str>, bool)> = vec![
            ("plan (env token)", vec!["plan", "--forge", &forge], true),
            (
                "plan (json logs)",
                vec![
                    "--log-format",
                    "json",
                    "plan",
                    "--forge",
                    &forge,
                    "--format",
                    "json",
                ],
                true,
            ),
            (
                "apply (token file)",
                vec![
                    "apply",
                    "--forge",
                    &forge,
                    "--github-token-file",
                    &token_arg,
                    "--state-dir",
                    &state_arg,
                ],
                false,
            ),
            (
                "forced apply",
                vec![
                    "apply",
                    "--forge",
                    &forge,
                    "--state-dir",
                    &state_arg,
                    "--force",
                    "--reason",
                    "CVE-1: echo",
                    "--allow-dirty",
                ],
                true,
            ),
        ];
        for (what, args, env_token) in runs {
            let mut cmd = env.command(&args);
            if env_token {
                cmd.env("GITHUB_TOKEN", token);
            }
            let out = cmd.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_ne!(
                out.status.code(),
                Some(0),
                "{what}: the server refused everything"
            );
            // The echo did reach the messages (masked): the test sees them.
            assert!(
                stderr.contains("Bad credentials") || stdout.contains("Bad credentials"),
                "{what}: {stdout}{stderr}"
            );
            assert_clean(token, &format!("{what} stdout"), &stdout);
            assert_clean(token, &format!("{what} stderr"), &stderr);
        }
        let audit = std::fs::read_to_string(state.join("audit.jsonl")).unwrap_or_default();
        assert!(
            audit.contains("Bad credentials"),
            "the forced run was audited: {audit}"
        );
        assert_clean(token, "the state directory", &files_text(&state));
    }
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

#[test]
fn an_echoing_server_gets_the_token_into_no_daemon_log_or_endpoint() {
    let url = echo_server();
    for token in TOKENS {
        let env = Env::new();
        let dir = env.tmp.path();
        std::fs::write(dir.join("token"), format!("{token}\n")).unwrap();
        std::fs::write(dir.join("secret"), "webhook-secret-echo-test-1234").unwrap();
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "platform:\n  path: {}\n\
                 forge:\n  github:\n    api_url: {url}\n    token_file: {}\n\
                 reconcile:\n  interval: 1h\n  jitter: 0s\n\
                 http:\n  listen: 127.0.0.1:0\n  webhook_secret_file: {}\n\
                 log:\n  format: json\n",
                env.platform.display(),
                dir.join("token").display(),
                dir.join("secret").display()
            ),
        )
        .unwrap();
        let state = dir.join("state");
        let mut child = Command::new(env!("CARGO_BIN_EXE_distributor"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("STATE_DIRECTORY", &state)
            .env_remove("GITHUB_TOKEN")
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut log = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut addr = None;
        // The listening address, then the end of the first cycle.
        while addr.is_none() && Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
                continue;
            };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["message"] == "listening"
            {
                addr = v["addr"].as_str().map(str::to_string);
            }
            log.push(line);
        }
        let addr = addr.expect("the daemon listens");
        while Instant::now() < deadline {
            let status = get(&addr, "/status");
            if status.contains("\"last_cycle\":{") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let status = get(&addr, "/status");
        let dashboard = get(&addr, "/");
        let metrics = get(&addr, "/metrics");
        assert!(
            status.contains("Bad credentials"),
            "the cycle failed on the echo: {status}"
        );
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            log.push(l);
        }
        let log = log.join("\n");
        assert_clean(token, "the daemon log", &log);
        assert_clean(token, "/status", &status);
        assert_clean(token, "the dashboard", &dashboard);
        assert_clean(token, "/metrics", &metrics);
        assert_clean(token, "the state directory", &files_text(&state));
        assert!(!log.contains("webhook-secret-echo-test-1234"));
    }
}
