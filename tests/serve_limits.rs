//! `distributor serve`'s HTTP limits, against the real binary on the local
//! forge, started through `sh -c 'ulimit -n N; exec ...'` so it runs with
//! the descriptor limit a daemon gets outside systemd (1024):
//!
//! - 1,100 idle connections (nothing sent, or headers never finished) do
//!   not stop `/healthz` from answering within 1 s, the daemon keeps at
//!   most `http.max_connections` of them, a cycle meanwhile succeeds, and
//!   the rest are closed after `http.header_read_timeout`;
//! - with the cap set above the descriptor limit, idle connections do
//!   exhaust the descriptors, and the cycle that then cannot read the
//!   registry is `failed` (with the reason), never `invalid`;
//! - 400 concurrent 1 MiB webhook deliveries, unsigned or with a wrong
//!   signature, are all refused, and the daemon's memory stays bounded.
//!
//! The test process itself holds over 1,024 sockets: it raises its own
//! soft limit first (the `rlimit` crate, no `unsafe`).

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::Env;

const SECRET: &str = "flood-test-webhook-secret";

/// A daemon started with a descriptor limit, and its log.
struct Daemon {
    child: Child,
    addr: String,
    logs: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Lines of `seen` already looked at by `wait_log`.
    read: usize,
    _env: Env,
}

impl Daemon {
    /// Starts `serve` on an initialised local fleet with `ulimit -n
    /// nofile` and `http` (lines under `http:`) added to the config.
    fn start(nofile: u32, http: &str) -> Daemon {
        let env = Env::initialised();
        let secret = env.tmp.path().join("webhook-secret");
        std::fs::write(&secret, SECRET).unwrap();
        let config = env.tmp.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "platform:\n  path: {}\n  repository: acme/platform\nforge:\n  local:\n    root: {}\n\
                 reconcile:\n  interval: 1h\n  jitter: 0s\n  stop_timeout: 5s\n\
                 http:\n  listen: 127.0.0.1:0\n  webhook_secret_file: {}\n{http}log:\n  format: json\n",
                env.platform.display(),
                env.forge.display(),
                secret.display()
            ),
        )
        .unwrap();
        let mut child = Command::new("sh")
            .args(["-c", r#"ulimit -n "$1" && shift && exec "$@""#, "sh"])
            .arg(nofile.to_string())
            .arg(env!("CARGO_BIN_EXE_distributor"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("STATE_DIRECTORY", env.tmp.path().join("state"))
            .env("HOME", &env.scratch)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
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
            child,
            addr: String::new(),
            logs,
            seen: Vec::new(),
            read: 0,
            _env: env,
        };
        let listening = d.wait_log("listening");
        d.addr = listening["addr"].as_str().unwrap().to_string();
        // Later waits see the start-up lines too.
        d.read = 0;
        d
    }

    /// The next log event (after the last one returned) whose message
    /// starts with `message` (60 s at most).
    fn wait_log(&mut self, message: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            while self.read < self.seen.len() {
                self.read += 1;
                if let Ok(v) = serde_json::from_str::<Value>(&self.seen[self.read - 1])
                    && v["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with(message))
                {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no `{message}` in the log:\n{}",
                self.seen.join("\n")
            );
            if let Ok(line) = self.logs.recv_timeout(Duration::from_millis(100)) {
                self.seen.push(line);
            }
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(ok.success(), "kill {sig}");
    }

    /// A line of `/proc/<pid>/status`, in kB.
    fn proc_kb(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Descriptors the daemon has open.
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "serve did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One request on a fresh connection: (status, body, time taken).
fn request(addr: &str, head: &str, body: &[u8]) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (and close) before the body is sent.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string(), started.elapsed())
}

fn get(addr: &str, path: &str) -> (u16, String, Duration) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    request(addr, &head, b"")
}

/// Raises this process's soft descriptor limit to at least `n` (and the
/// hard one too when it is lower and we may: as root, like CI).
fn allow_descriptors(n: u64) {
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    if hard < n {
        let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, n, n);
    }
    let got = rlimit::increase_nofile_limit(n).unwrap();
    assert!(
        got >= n,
        "the descriptor limit is {got}, below the {n} this test needs (ulimit -Hn)"
    );
}

/// `n` connections that never finish a request: every other one sends
/// half a request's headers, the rest nothing.
fn idle_connections(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut s = TcpStream::connect(addr).unwrap();
            if i % 2 == 0 {
                s.write_all(b"GET /status HTTP/1.1\r\nHost: slow\r\n")
                    .unwrap();
            }
            s
        })
        .collect()
}

/// How many of `conns` the server still holds open.
fn still_open(conns: &[TcpStream]) -> usize {
    let mut buf = [0u8; 1024];
    conns
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            loop {
                match (&mut &**s).read(&mut buf) {
                    Ok(0) => return false,
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                    Err(_) => return false,
                }
            }
        })
        .count()
}

#[test]
fn eleven_hundred_idle_connections_do_not_stop_healthz_and_are_closed_after_the_header_timeout() {
    allow_descriptors(2048);
    let mut d = Daemon::start(1024, "");
    let first = d.wait_log("cycle finished");
    assert_eq!(first["outcome"], "ok", "{first}");

    let idle = idle_connections(&d.addr, 1100);
    let opened = Instant::now();
    for _ in 0..5 {
        let (code, body, took) = get(&d.addr, "/healthz");
        assert_eq!((code, body.as_str()), (200, "ok"));
        assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    }
    // The daemon holds at most http.max_connections (256) of them.
    let open = still_open(&idle);
    assert!(
        opened.elapsed() < Duration::from_secs(4),
        "too slow to check before the header timeout"
    );
    assert!((1..=256).contains(&open), "{open} idle connections open");
    let fds = d.open_fds();
    assert!(fds < 400, "the daemon holds {fds} descriptors");

    // A cycle meanwhile has the descriptors it needs.
    d.signal("-HUP");
    let second = d.wait_log("cycle finished");
    assert_eq!(second["outcome"], "ok", "{second}");

    // The header-read timeout (5 s by default) closes the rest.
    let closed_by = opened + Duration::from_secs(5) + Duration::from_secs(2);
    std::thread::sleep(closed_by.saturating_duration_since(Instant::now()));
    assert_eq!(still_open(&idle), 0, "idle connections outlive the timeout");
    let (code, _, _) = get(&d.addr, "/healthz");
    assert_eq!(code, 200);
    eprintln!("idle connections kept open: {open}; daemon descriptors: {fds}");
    d.stop();
}

#[test]
fn a_cycle_that_runs_out_of_descriptors_is_failed_not_invalid() {
    allow_descriptors(1024);
    // A cap above the limit (what the daemon warns about at start): idle
    // connections take every descriptor.
    let mut d = Daemon::start(256, "  max_connections: 5000\n  header_read_timeout: 60s\n");
    let warning =
        d.wait_log("the file descriptor limit (256) is below http.max_connections (5000)");
    assert_eq!(warning["level"], "WARN", "{warning}");
    let first = d.wait_log("cycle finished");
    assert_eq!(first["outcome"], "ok", "{first}");

    let idle = idle_connections(&d.addr, 300);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.open_fds() < 255 {
        assert!(Instant::now() < deadline, "{} descriptors", d.open_fds());
        std::thread::sleep(Duration::from_millis(20));
    }
    d.signal("-HUP");
    let failed = d.wait_log("cycle wrote nothing");
    assert_eq!(failed["outcome"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("Too many open files") && error.contains("raise LimitNOFILE"),
        "{error}"
    );
    drop(idle);

    let (code, body, _) = get(&d.addr, "/status");
    assert_eq!(code, 200, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["last_cycle"]["outcome"], "failed", "{status}");
    let (_, metrics, _) = get(&d.addr, "/metrics");
    assert!(
        metrics.contains("distributor_errors_total{kind=\"platform\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("distributor_errors_total{kind=\"validation\"} 0\n"),
        "{metrics}"
    );
    d.stop();
}

#[test]
fn four_hundred_concurrent_unsigned_webhook_bodies_keep_memory_bounded() {
    allow_descriptors(2048);
    let mut d = Daemon::start(1024, "");
    d.wait_log("cycle finished");
    let before = d.proc_kb("VmRSS:");
    const CLIENTS: usize = 400;
    const MIB: usize = 1024 * 1024;

    // Sample the daemon's RSS while the flood runs.
    let pid = d.child.id();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0u64;
        while stop_rx.try_recv().is_err() {
            if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                && let Some(kb) = s
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });

    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (addr, barrier) = (d.addr.clone(), barrier.clone());
            std::thread::spawn(move || {
                // Half unsigned, half with a well-formed wrong signature
                // (their bodies are read, a few at a time, and checked).
                let signature = if i % 2 == 0 {
                    String::new()
                } else {
                    format!("X-Hub-Signature-256: sha256={}\r\n", "0".repeat(64))
                };
                let head = format!(
                    "POST /webhook HTTP/1.1\r\nHost: {addr}\r\nX-GitHub-Event: push\r\n\
                     Content-Type: application/json\r\nContent-Length: {MIB}\r\n{signature}\r\n"
                );
                let body = vec![b' '; MIB];
                barrier.wait();
                (i % 2 == 1, request(&addr, &head, &body).0)
            })
        })
        .collect();
    let results: Vec<(bool, u16)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let took = started.elapsed();
    stop_tx.send(()).unwrap();
    let peak = sampler.join().unwrap();

    let count = |signed: bool, code: u16| results.iter().filter(|r| **r == (signed, code)).count();
    // Nothing is accepted; unsigned ones are refused unread (401), wrongly
    // signed ones after reading (401) or for want of a slot (503); a
    // connection closed before its answer is read counts as 0.
    for (signed, code) in &results {
        let allowed: &[u16] = if *signed { &[401, 503, 0] } else { &[401, 0] };
        assert!(allowed.contains(code), "signed {signed}: {code}");
    }
    assert!(count(false, 401) > 0 && count(true, 401) > 0, "{results:?}");
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "flood of {CLIENTS} x 1 MiB in {took:?}: RSS {} MiB before, peak {} MiB; \
         unsigned 401: {}, signed 401: {}, signed 503: {}, cut: {}",
        before / 1024,
        peak / 1024,
        count(false, 401),
        count(true, 401),
        count(true, 503),
        count(false, 0) + count(true, 0)
    );
    assert!(
        grown_mib < 48,
        "RSS grew by {grown_mib} MiB during the flood ({} -> {} MiB)",
        before / 1024,
        peak / 1024
    );

    // Still serving, and a genuine delivery still gets through.
    let (code, _, took) = get(&d.addr, "/healthz");
    assert_eq!(code, 200);
    assert!(took < Duration::from_secs(1), "{took:?}");
    let body = r#"{"ref":"refs/heads/main","repository":{"full_name":"acme/platform"}}"#;
    let signature = sign(body.as_bytes());
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nConnection: close\r\n\
         Content-Length: {}\r\nX-Hub-Signature-256: {signature}\r\n\r\n",
        body.len()
    );
    let (code, answer, _) = request(&d.addr, &head, body.as_bytes());
    assert_eq!(code, 202, "{answer}");
    d.stop();
}

fn sign(body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}
