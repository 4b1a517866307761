//! Test helpers: a minimal blocking HTTP/1.1 client (no extra
//! dependencies), GraphQL and git CLI shortcuts.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use fake_github::{Config, FakeGitHub};
use serde_json::{Value, json};

pub const TOKEN: &str = "ghp_test";

/// A response: status, lower-cased headers, JSON body (Null when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

/// A fake with one token that has the workflow scope.
pub fn fake() -> FakeGitHub {
    fake_with(Config::default())
}

pub fn fake_with(config: Config) -> FakeGitHub {
    let fake = FakeGitHub::start(config);
    fake.add_token(TOKEN, true);
    fake
}

/// Sends one request with `Connection: close`.
pub fn send(
    base: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&Value>,
) -> Resp {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect to the fake");
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: test\r\nContent-Length: {}\r\n",
        payload.len()
    );
    if body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(auth) = auth {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(payload.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut data = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
        let mut out = Vec::new();
        let mut rest = &data[..];
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap().trim(), 16)
                .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 4 + size..];
        }
        data = out;
    }
    let body = if data.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&data).into()))
    };
    Resp {
        status,
        headers,
        body,
    }
}

/// A REST call with the default token.
pub fn rest(fake: &FakeGitHub, method: &str, path: &str, body: Option<Value>) -> Resp {
    send(
        &fake.url(),
        method,
        path,
        Some(&format!("Bearer {TOKEN}")),
        body.as_ref(),
    )
}

/// A GraphQL call with `token`; returns the whole response.
pub fn gql_as(fake: &FakeGitHub, token: &str, query: &str, variables: Value) -> Resp {
    let body = json!({"query": query, "variables": variables});
    send(
        &fake.url(),
        "POST",
        "/graphql",
        Some(&format!("bearer {token}")),
        Some(&body),
    )
}

/// A GraphQL call with the default token; returns the JSON body.
pub fn gql(fake: &FakeGitHub, query: &str, variables: Value) -> Value {
    let resp = gql_as(fake, TOKEN, query, variables);
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    resp.body
}

/// Runs git in `dir` isolated from user config; returns stdout.
pub fn git(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("git runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `git hash-object` of `content` (sha1 of "blob <len>\0" + content).
pub fn blob_oid(content: &[u8]) -> String {
    git(Path::new("."), &["hash-object", "--stdin"], Some(content))
        .trim()
        .to_string()
}

/// `git fsck --strict` must be clean.
pub fn fsck(dir: &Path) {
    git(dir, &["fsck", "--strict", "--no-dangling"], None);
}

pub fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
