//! The daemon (`distributor serve`) against the world's fake GitHub and
//! platform, sharing its state directory; a minimal HTTP client for
//! `/status`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::world::{TOKEN, World};

/// A running `distributor serve`; killed when dropped.
pub struct Daemon {
    child: Child,
    pub addr: String,
    logs: mpsc::Receiver<String>,
}

impl Daemon {
    /// Starts the daemon (one cycle at start, the next an hour later) and
    /// waits until it listens.
    pub fn start(w: &World) -> Daemon {
        let token = w.tmp.path().join("github-token");
        std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
        let config = w.tmp.path().join("serve.yaml");
        std::fs::write(
            &config,
            format!(
                "platform:\n  path: {}\n\
                 forge:\n  github:\n    api_url: {}\n    token_file: {}\n    write_quotas: [\"10000/1s\"]\n    write_spacing: 0ms\n\
                 reconcile:\n  interval: 1h\n  jitter: 0s\n  stop_timeout: 5s\n\
                 http:\n  listen: 127.0.0.1:0\n\
                 log:\n  format: json\n",
                w.platform.display(),
                w.fake.url(),
                token.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_distributor"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("STATE_DIRECTORY", &w.state)
            .env("HOME", w.tmp.path().join("home"))
            .env_remove("GITHUB_TOKEN")
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("CREDENTIALS_DIRECTORY")
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
        };
        let line = d.wait_log("\"listening\"");
        let v: Value = serde_json::from_str(&line).unwrap();
        d.addr = v["addr"].as_str().unwrap().to_string();
        d
    }

    /// The first log line containing `needle` (30 s at most).
    fn wait_log(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match self.logs.recv_timeout(Duration::from_millis(200)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("no log line with {needle}; got:\n{}", seen.join("\n"));
    }

    /// `/status` once cycle `number` has finished (60 s at most).
    pub fn wait_cycle(&self, number: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status: Value = serde_json::from_str(&self.get("/status")).unwrap();
            if status["last_cycle"]["number"].as_u64().unwrap_or(0) >= number {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "cycle {number} never ended: {status}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The body of `GET path` (status 200 required).
    pub fn get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
