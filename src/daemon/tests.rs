//! The daemon loop driven in-process (mini-redis style: its listener,
//! reloads and shutdown are arguments) with the in-memory fake forge: a
//! cycle that panics fails alone, and the service keeps serving.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::forge::fake::FakeForge;
use crate::prepare::{Selection, prepare};

/// GETs `path` from the daemon; returns (status line, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text.lines().next().unwrap_or_default().to_string();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
        (status, body.unwrap_or_default())
    })
    .await
    .unwrap()
}

/// The last cycle in `/status`, once it is `number`.
async fn wait_for_cycle(addr: std::net::SocketAddr, number: u64) -> serde_json::Value {
    for _ in 0..200 {
        let (_, body) = get(addr, "/status").await;
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            && v["last_cycle"]["number"] == number
        {
            return v["last_cycle"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cycle {number} never finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_cycle_fails_alone_and_the_service_keeps_serving() {
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "platform:\n  path: {}\nforge:\n  local:\n    root: {}\nreconcile:\n  interval: 1h\n  jitter: 0s\n  stop_timeout: 5s\nhttp:\n  listen: 127.0.0.1:0\n",
            project.display(),
            tmp.path().display()
        ),
    )
    .unwrap();
    let fake = FakeForge::new();
    let prepared = prepare(&Selection {
        registry: project.join("registry.json"),
        templates: project.join("templates"),
        ..Selection::default()
    })
    .unwrap();
    for t in &prepared.targets {
        let branch = t.repo.default_branch.as_deref().unwrap_or("main");
        fake.add_repo(&t.id(), branch, [("README.md", "# repo\n")]);
    }
    fake.state().panics = 1;
    let mut loaded = load(&config, None).unwrap();
    loaded.forge = Arc::new(AnyForge::Fake(fake));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reload_tx, reloads) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run(Deps {
        config_path: config.clone(),
        state_dir: tmp.path().join("state"),
        loaded,
        listener,
        notifier: Notifier::disabled(),
        reloads,
        shutdown: async {
            let _ = stop_rx.await;
        },
    }));

    let first = wait_for_cycle(addr, 1).await;
    assert_eq!(first["outcome"], "failed", "{first}");
    let error = first["error"].as_str().unwrap();
    assert!(error.contains("injected forge panic"), "{error}");

    // Still serving: health, status, dashboard, metrics.
    assert!(get(addr, "/healthz").await.0.contains("200"));
    let (status, page) = get(addr, "/").await;
    assert!(status.contains("200"), "{status}");
    assert!(
        page.contains("injected forge panic"),
        "the dashboard shows it"
    );
    let (_, metrics) = get(addr, "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("panic") && l.ends_with(" 1")),
        "{metrics}"
    );

    // The next cycle runs, with the same forge, and delivers.
    reload_tx.send(()).unwrap();
    let second = wait_for_cycle(addr, 2).await;
    assert_eq!(second["outcome"], "ok", "{second}");
    let (_, body) = get(addr, "/status").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["repos"].as_array().is_some_and(|r| !r.is_empty()), "{v}");

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("the daemon stops")
        .unwrap()
        .unwrap();
}
