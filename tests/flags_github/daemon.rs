//! The daemon (`distributor serve`) against the world's fake GitHub and
//! platform, sharing its state directory.

use crate::common::daemon::{self, Daemon};

use super::world::{TOKEN, World};

/// Starts the daemon (one cycle at start, the next an hour later) and
/// waits until it listens.
pub fn start(w: &World) -> Daemon {
    let token = w.tmp.path().join("github-token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let config = w.tmp.path().join("serve.yaml");
    std::fs::write(
        &config,
        daemon::github_config(&w.platform, &w.fake.url(), &token),
    )
    .unwrap();
    Daemon::spawn(daemon::serve_command(
        &config,
        &w.state,
        &w.tmp.path().join("home"),
    ))
}
