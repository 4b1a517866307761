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

/// Copies `from` into `to`, recursively.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// A loop of 10^10 steps that writes nothing: only the render budget
/// stops it.
const ENDLESS_LOOP: &str = "{% for i in range(100000) %}{% for j in range(100000) %}{% if j < 0 %}x{% endif %}{% endfor %}{% endfor %}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_template_is_an_invalid_cycle_that_writes_nothing_and_stop_stays_prompt() {
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let platform = tmp.path().join("platform");
    copy_dir(&project.join("templates"), &platform.join("templates"));
    std::fs::copy(
        project.join("registry.json"),
        platform.join("registry.json"),
    )
    .unwrap();
    // Three runaway templates (seconds of rendering) and one of 100 MB.
    for (file, text) in [
        ("baseline/CODEOWNERS", ENDLESS_LOOP),
        ("security/verify-pins.sh", ENDLESS_LOOP),
        ("terraform-deploy/deploy.yml", ENDLESS_LOOP),
        (
            "baseline/dependabot.yml",
            "{% for i in range(10000) %}{{ 'x' * 10000 }}{% endfor %}\n",
        ),
    ] {
        let path = platform.join("templates").join(file);
        let mut s = std::fs::read_to_string(&path).unwrap();
        s.push_str(text);
        std::fs::write(&path, s).unwrap();
    }
    let stop_timeout = Duration::from_secs(2);
    let config = tmp.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "platform:\n  path: {}\nforge:\n  local:\n    root: {}\nreconcile:\n  interval: 1h\n  jitter: 0s\n  stop_timeout: {}s\nhttp:\n  listen: 127.0.0.1:0\n",
            platform.display(),
            tmp.path().display(),
            stop_timeout.as_secs()
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
    let mut loaded = load(&config, None).unwrap();
    let forge = Arc::new(AnyForge::Fake(fake));
    loaded.forge = forge.clone();
    let writes = || match forge.as_ref() {
        AnyForge::Fake(f) => f.state().writes,
        _ => unreachable!("a fake forge"),
    };

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

    // The budget ends the render: an invalid cycle, located, nothing written.
    let first = wait_for_cycle(addr, 1).await;
    assert_eq!(first["outcome"], "invalid", "{first}");
    let error = first["error"].as_str().unwrap();
    for expected in [
        "4 problems found; nothing was written:",
        "templates/baseline/CODEOWNERS:19 (template of bundle `baseline`, repo acme/",
        "render budget exhausted: more than 10000000 steps",
        "templates/baseline/dependabot.yml (template of bundle `baseline`, ",
        "rendered output is larger than 1 MiB, the bundle's max_file_size",
    ] {
        assert!(error.contains(expected), "{expected:?} in {error}");
    }
    assert_eq!(writes(), 0);
    assert!(get(addr, "/healthz").await.0.contains("200"));

    // A stop during such a render is honoured within stop_timeout.
    reload_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = std::time::Instant::now();
    stop_tx.send(()).unwrap();
    tokio::time::timeout(stop_timeout + Duration::from_secs(1), daemon)
        .await
        .expect("the daemon stops within stop_timeout")
        .unwrap()
        .unwrap();
    assert!(
        asked.elapsed() <= stop_timeout + Duration::from_millis(500),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(writes(), 0);
}
