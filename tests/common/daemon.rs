//! Long-running commands in tests: a child whose stderr lines are read on
//! a thread and kept ([`Logged`]), and `distributor serve` on top of it
//! ([`Daemon`]: waits until it listens, `GET`s its endpoints, waits for a
//! cycle). Both are killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running child with its stderr read line by line.
pub struct Logged {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    pub seen: Vec<String>,
}

impl Logged {
    /// Spawns `cmd` with stderr piped (stdout as the caller set it).
    pub fn spawn(mut cmd: Command) -> Logged {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .expect("the command starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Logged {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The first line read from now on that `pred` accepts, within
    /// `within`; panics with every line seen otherwise.
    pub fn wait_for(&mut self, pred: impl Fn(&str) -> bool, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "no such log line within {within:?}:\n{}",
            self.seen.join("\n")
        );
    }

    /// Keeps the lines read so far without waiting.
    pub fn drain(&mut self) {
        self.seen.extend(self.lines.try_iter());
    }

    /// Sends `SIGname` (`TERM`, `INT`, ...).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name}");
    }

    /// Its exit status, once it has exited (polled; `None` while running).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("waitpid")
    }

    /// Waits for it to exit; the lines it wrote are kept.
    pub fn wait(&mut self) -> ExitStatus {
        let status = self.child.wait().expect("waitpid");
        // The reader thread ends at the pipe's end: every line is in.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        status
    }

    /// The child's stdout, when the caller piped it.
    pub fn take_stdout(&mut self) -> String {
        let mut out = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `distributor serve --config CONFIG`, isolated from the caller's
/// environment: state in `state`, `HOME` at `home`, no systemd sockets.
pub fn serve_command(config: &Path, state: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_distributor"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .env("STATE_DIRECTORY", state)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GITHUB_TOKEN")
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdout(Stdio::null());
    cmd
}

/// A daemon config for `platform` against the GitHub API at `api_url`
/// (the fake), unpaced, one cycle at start and the next an hour later,
/// JSON logs.
pub fn github_config(platform: &Path, api_url: &str, token_file: &Path) -> String {
    format!(
        "platform:\n  path: {}\n\
         forge:\n  github:\n    api_url: {api_url}\n    token_file: {}\n    write_quotas: [\"10000/1s\"]\n    write_spacing: 0ms\n\
         reconcile:\n  interval: 1h\n  jitter: 0s\n  stop_timeout: 5s\n\
         http:\n  listen: 127.0.0.1:0\n\
         log:\n  format: json\n",
        platform.display(),
        token_file.display()
    )
}

/// A running `distributor serve`.
pub struct Daemon {
    pub log: Logged,
    pub addr: String,
}

impl Daemon {
    /// Spawns `cmd` (see [`serve_command`]) and waits until it listens.
    pub fn spawn(cmd: Command) -> Daemon {
        let mut log = Logged::spawn(cmd);
        let line = log.wait_for(|l| l.contains("\"listening\""), Duration::from_secs(60));
        let v: Value = serde_json::from_str(&line).expect("a JSON log line");
        let addr = v["addr"].as_str().expect("the address").to_string();
        Daemon { log, addr }
    }

    /// `GET path` over HTTP/1.0 (no chunked answer): status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("the daemon answers");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let code = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
        (code, body.to_string())
    }

    /// `/status` once cycle `number` has ended (120 s at most).
    pub fn wait_cycle(&self, number: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, body) = self.get("/status");
            let s: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if s["last_cycle"]["number"].as_u64().unwrap_or(0) >= number {
                return s;
            }
            assert!(Instant::now() < deadline, "cycle {number} never ended: {s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
