//! The dashboard in a real browser: the daemon's router serves a ledger
//! with drifted, failing and pending repos on 127.0.0.1:0, headless
//! Chromium loads `/`, and the test reads the rows from the DOM Chromium
//! built (so escaping is checked as a browser parses it, not as a string)
//! and takes a screenshot to `target/test-artifacts/dashboard.png`.
//!
//! Needs Debian's `chromium` on PATH (`.ci/run` installs it); without it
//! the test fails rather than silently passing.

mod common;

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::browser::{artifacts_dir, find_browser, rows, run_browser, section};

use distributor::daemon::ledger::{Cycle, Ledger, Outcome, RepoEntry, Trigger};
use distributor::daemon::metrics::Metrics;
use distributor::daemon::{Health, Shared, WebhookSettings, http};
use distributor::forge::AnyForge;
use distributor::forge::local::LocalForge;
use distributor::output::record::{FileRecord, PullRecord};
use distributor::plan::{FileState, RepoStatus, Route};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_renders_in_headless_chromium() {
    let browser = find_browser();
    let forge_root = tempfile::tempdir().unwrap();
    let shared = shared(forge_root.path(), ledger());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(
        listener,
        shared,
        http::Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));

    let profile = tempfile::tempdir().unwrap();
    let png = artifacts_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    let (dom, shot) = {
        let (browser, url, png) = (browser.clone(), url.clone(), png.clone());
        let profile = profile.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let dom = run_browser(&browser, &profile.join("dom"), &["--dump-dom", &url]);
            let shot = run_browser(
                &browser,
                &profile.join("shot"),
                &[
                    &format!("--screenshot={}", png.display()),
                    "--window-size=1280,900",
                    "--hide-scrollbars",
                    &url,
                ],
            );
            (dom, shot)
        })
        .await
        .unwrap()
    };
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    // The DOM as Chromium parsed it.
    assert!(dom.contains("distributor: fleet status"), "{dom}");
    let attention = rows(section(&dom, "attention"));
    assert_eq!(attention.len(), 3, "{attention:#?}");
    // Errors first, then drift, then pending review.
    assert!(
        attention[0].starts_with("acme/billing payments 1 error"),
        "{attention:#?}"
    );
    assert!(
        attention[0].contains("token expired: <b>boom</b>"),
        "{attention:#?}"
    );
    assert!(
        attention[1].starts_with("acme/web frontend canary drifted"),
        "{attention:#?}"
    );
    assert!(
        attention[1].contains(".github/workflows/ci.yml drifted"),
        "{attention:#?}"
    );
    assert!(attention[1].contains("#7"), "{attention:#?}");
    assert!(attention[1].contains("0123456"), "{attention:#?}");
    assert!(
        dom.contains(
            "href=\"https://github.com/acme/web/commit/0123456789abcdef0123456789abcdef01234567\""
        ),
        "the last commit links to GitHub"
    );
    assert!(
        dom.contains("href=\"https://github.com/acme/web\""),
        "the repo links to GitHub"
    );
    assert!(
        attention[2].starts_with("acme/api payments canary proposal_pending"),
        "{attention:#?}"
    );
    assert!(attention[2].contains("#12 opened"), "{attention:#?}");
    assert!(
        !attention.iter().any(|r| r.contains("acme/ok")),
        "{attention:#?}"
    );
    // The error is text in the page, not markup: no <b> element exists.
    assert!(
        dom.contains("token expired: &lt;b&gt;boom&lt;/b&gt;"),
        "{dom}"
    );
    assert!(!dom.contains("<b>boom"), "{dom}");
    // The PR number links to the pull request; the non-web URL does not.
    assert!(
        dom.contains("<a href=\"https://github.com/acme/api/pull/12\">#12</a>"),
        "{dom}"
    );
    assert!(!dom.contains("javascript:"), "{dom}");
    // Links go only to the page's own endpoints and to http(s) URLs.
    let hrefs: Vec<&str> = dom
        .split("href=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap_or(rest.len())])
        .collect();
    assert!(hrefs.len() >= 4, "{hrefs:?}");
    for href in &hrefs {
        assert!(
            href.starts_with("https://") || *href == "/status" || *href == "/metrics",
            "unexpected link {href:?}"
        );
    }
    // The inline stylesheet arrives as written (not HTML-escaped).
    assert!(
        dom.contains("font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif"),
        "{dom}"
    );

    // The held repo's reason names what it waits for.
    assert!(
        attention[2].contains(&format!("held held: {HELD}")),
        "{attention:#?}"
    );

    // Waves in rollout order (canary before 1), with state and soak.
    let waves = rows(section(&dom, "waves"));
    assert_eq!(
        waves,
        vec![
            "canary 3 1 0 1 1 0 33% open 2h".to_string(),
            format!("1 1 0 0 0 0 1 0% held {HELD} —"),
            "(none) 1 1 0 0 0 0 100% — —".to_string(),
        ]
    );

    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 0, "no screenshot at {} ({shot})", png.display());
    let mut magic = [0u8; 8];
    std::fs::File::open(&png)
        .unwrap()
        .read_exact(&mut magic)
        .unwrap();
    assert_eq!(
        &magic,
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        png.display()
    );
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn repo(name: &str, team: &str, wave: Option<&str>, status: RepoStatus) -> RepoEntry {
    RepoEntry {
        team: team.into(),
        wave: wave.map(str::to_string),
        files: vec![FileRecord {
            path: ".github/workflows/ci.yml".into(),
            state: FileState::InSync,
            reason: None,
            why: None,
            route: Route::None,
            bundle: "baseline".into(),
            note: None,
            merge: None,
        }],
        seen_at: now(),
        ..RepoEntry::blank(name, status)
    }
}

/// Five repos over waves `1`, `canary` and none: one failing (with markup
/// in its error), one drifted, one pending review, two in sync.
fn ledger() -> Ledger {
    let mut billing = repo("acme/billing", "payments", Some("1"), RepoStatus::Error);
    billing.error = Some("token expired: <b>boom</b>".into());
    let mut web = repo("acme/web", "frontend", Some("canary"), RepoStatus::Drifted);
    web.files[0].state = FileState::Drifted;
    web.files[0].reason = Some(distributor::plan::Reason::EditedByHand);
    web.files[0].why = Some("changed since distributor wrote it");
    web.files[0].route = Route::Proposal;
    web.pull_request = Some(PullRecord {
        number: 7,
        url: "javascript:alert(1)".into(),
        created_at: None,
        open_for: None,
    });
    web.last_commit = Some("0123456789abcdef0123456789abcdef01234567".into());
    web.url = Some("https://github.com/acme/web".into());
    let mut api = repo(
        "acme/api",
        "payments",
        Some("canary"),
        RepoStatus::ProposalPending,
    );
    api.files[0].state = FileState::Outdated;
    api.files[0].route = Route::Proposal;
    api.pull_request = Some(PullRecord {
        number: 12,
        url: "https://github.com/acme/api/pull/12".into(),
        created_at: Some("2024-04-28T12:00:00Z".into()),
        open_for: Some("3d".into()),
    });
    api.decision = Some("held");
    api.reason = Some(format!("held: {HELD}"));
    let ok = repo("acme/ok", "platform", Some("canary"), RepoStatus::InSync);
    let loose = repo("acme/loose", "platform", None, RepoStatus::InSync);
    let mut ledger = Ledger {
        last_cycle: Some(Cycle {
            number: 4,
            trigger: Trigger::Interval,
            started_at: now() - 120,
            duration_ms: 8_400,
            outcome: Outcome::Partial,
            revision: Some("9f1c2e3d4b5a69788796a5b4c3d2e1f009f1c2e3".into()),
            error: None,
            only: vec![],
        }),
        last_success_at: Some(now() - 110),
        config_error: None,
        repos: BTreeMap::new(),
        rollout: Some(rollout()),
        flags: None,
        pin: None,
    };
    for r in [billing, web, api, ok, loose] {
        ledger.repos.insert(r.repo.clone(), r);
    }
    ledger
}

/// Why wave `1` waits.
const HELD: &str = "wave 1 waits for wave canary to take revision 9f1c2e3d4b5a (1 of 3 repos in sync; waiting for acme/api, acme/web)";

/// Waves `canary` (soaking 2h) then `1` (held): rollout order, which is
/// not alphabetical.
fn rollout() -> distributor::rollout::Decisions {
    let wave = |name: &str, open: bool| distributor::rollout::WaveReport {
        name: name.into(),
        repos: 0,
        in_sync: 0,
        in_sync_since: None,
        soak: None,
        open,
        waiting: None,
        opens_at: None,
        promoted_by: None,
    };
    let canary = distributor::rollout::WaveReport {
        soak: Some("2h".into()),
        ..wave("canary", true)
    };
    let one = distributor::rollout::WaveReport {
        waiting: Some(HELD.into()),
        ..wave("1", false)
    };
    distributor::rollout::Decisions {
        revision: "9f1c2e3d4b5a69788796a5b4c3d2e1f009f1c2e3".into(),
        waves: vec![canary, one],
        halt: None,
        budget: Default::default(),
    }
}

fn shared(forge_root: &Path, ledger: Ledger) -> Arc<Shared> {
    let (requests, _) = tokio::sync::mpsc::unbounded_channel();
    Arc::new(Shared {
        ledger: RwLock::new(ledger),
        metrics: Metrics::default(),
        health: Health::new(Duration::from_secs(300), 3),
        webhook: RwLock::new(WebhookSettings::default()),
        forge: RwLock::new(Arc::new(AnyForge::Local(
            LocalForge::new(forge_root).unwrap(),
        ))),
        requests,
    })
}

/// A pinned fleet: Chromium shows the pin banner above the halt and the
/// last cycle, the summary starts with the pin, and a reason with markup
/// stays text. Screenshot: `target/test-artifacts/dashboard-pinned.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pin_banner_renders_in_headless_chromium() {
    let browser = find_browser();
    let forge_root = tempfile::tempdir().unwrap();
    let mut pinned = ledger();
    pinned.pin = Some(distributor::output::record::PinRecord {
        to: "a".repeat(40),
        from: vec!["c".repeat(40), "b".repeat(40)],
        reason: "runner <i>broke</i> builds".into(),
        operator: "olivia".into(),
        since: "2026-12-02T08:00:00Z".into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(
        listener,
        shared(forge_root.path(), pinned),
        http::Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let profile = tempfile::tempdir().unwrap();
    let png = artifacts_dir().join("dashboard-pinned.png");
    let dom = {
        let (browser, profile) = (browser.clone(), profile.path().to_path_buf());
        tokio::task::spawn_blocking(move || {
            let shot = format!("--screenshot={}", png.display());
            run_browser(
                &browser,
                &profile.join("shot"),
                &[&shot, "--window-size=1280,700", &url],
            );
            run_browser(&browser, &profile.join("dom"), &["--dump-dom", &url])
        })
        .await
        .unwrap()
    };
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    let banner = section(&dom, "pin");
    assert!(
        banner.contains(&format!(
            "<h2>Fleet pinned</h2><p>Every cycle renders revision <code title=\"{}\">aaaaaaaaaaaa</code>, \
             pinned since 2026-12-02 08:00:00 UTC by olivia: runner &lt;i&gt;broke&lt;/i&gt; builds</p>\
             <p>Rolled back from cccccccccccc, bbbbbbbbbbbb. The fleet follows the platform's head again \
             once an operator runs <code>distributor unpin</code> with the daemon's state directory.</p>",
            "a".repeat(40)
        )),
        "{banner}"
    );
    assert!(!dom.contains("<i>broke"), "{dom}");
    assert!(
        dom.contains("<p class=\"sub\">pinned to aaaaaaaaaaaa; "),
        "{dom}"
    );
    assert!(dom.find("id=\"pin\"") < dom.find("id=\"last-cycle\""));
}
