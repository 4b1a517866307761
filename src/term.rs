//! The terminal of a CLI run: the one progress bar `apply` shows on a
//! terminal, and the log writer that prints above it. While the bar is
//! shown, every log line is written with the bar cleared and redrawn after
//! it (indicatif's `suspend`), so a log line never lands on the bar's line
//! and no stale bar is left behind; the bar is cleared when the run ends,
//! however it ends. Everything printed passes through the redactor
//! ([`crate::redact`]), the bar's repo names included. Off a terminal
//! there is no bar and logs are written as they come.
//!
//! This module owns presentation only: what is logged, and at which
//! level, is decided by the callers. It also turns the terminal's stop
//! requests (Ctrl-C, SIGTERM) during `apply` into a stop between two repos
//! ([`stop_on_signal`]).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

use crate::redact::{Redacting, redact};

/// The bar being shown, if any: the log writer prints above it.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// The bar being shown (a cheap handle), if any.
fn shown() -> Option<ProgressBar> {
    SHOWN.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The progress bar of a run over `len` repos, shown on standard error
/// while it lives and cleared when dropped (an error path included).
pub struct Progress {
    bar: ProgressBar,
}

/// What the bar reads before the first repo is done: observing a large
/// fleet takes a while, and an empty message looks stuck.
const STARTING: &str = "observing the fleet";

impl Progress {
    /// A bar on a terminal; `None` when standard error is not one (the
    /// logs say enough there).
    pub fn on_terminal(len: u64) -> Option<Progress> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        Some(Progress::new(ProgressBar::new(len)))
    }

    /// Shows `bar` (styled, cleared on drop) and routes logs above it.
    fn new(bar: ProgressBar) -> Progress {
        // A literal template: it parses, and a bar without its style still
        // counts, so a failure would only cost the looks.
        if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} repos  {wide_msg}") {
            bar.set_style(style);
        }
        let bar = bar.with_finish(ProgressFinish::AndClear);
        bar.set_message(STARTING);
        *SHOWN.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
        Progress { bar }
    }

    /// One more repo done: `repo` is the last one.
    pub fn done(&self, repo: &str) {
        self.bar.set_message(redact(repo).into_owned());
        self.bar.inc(1);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        SHOWN.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.bar.finish_and_clear();
    }
}

/// Standard error for log lines: the bytes of one event are kept until
/// the writer is flushed (the tracing subscriber makes one writer per
/// event and drops it after), then written at once, above the bar when one
/// is shown.
pub struct AboveBar<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> AboveBar<W> {
    fn new(inner: W) -> AboveBar<W> {
        AboveBar {
            inner,
            pending: Vec::new(),
        }
    }
}

impl<W: Write> Write for AboveBar<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.pending);
        let inner = &mut self.inner;
        let mut write = || inner.write_all(&text).and_then(|()| inner.flush());
        match shown() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

impl<W: Write> Drop for AboveBar<W> {
    fn drop(&mut self) {
        // Standard error closed: nothing left to tell.
        let _ = self.flush();
    }
}

/// The log writer of the CLI: standard error through the redactor, above
/// the progress bar when one is shown (one writer per event).
/// Until aborted, turns the first SIGTERM or SIGINT into `stop` (the run
/// ends between two repos and prints what it did); a second one ends the
/// process at once (exit 130), as an impatient Ctrl-C expects.
pub fn stop_on_signal(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot watch SIGTERM/SIGINT: a stop request ends the run at once");
            return;
        };
        for n in 0.. {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            if n > 0 {
                tracing::warn!("{name} again: stopping now");
                std::process::exit(130);
            }
            tracing::warn!(
                "{name}: stopping after the repo in progress (each repo is either done or untouched); send it again to stop at once"
            );
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    })
}

pub fn log_writer() -> Redacting<AboveBar<std::io::Stderr>> {
    Redacting::new(AboveBar::new(std::io::stderr()))
}

/// The default log level of a CLI run (when `RUST_LOG` is not set).
/// `-q` shows errors only, `-v` debug and `-vv` trace. Without either, a
/// text log on a terminal starts at `warn`, since the progress bar and the
/// final summary say what the per-repo `info` events would; elsewhere (a
/// pipe, a file, CI, JSON logs) it starts at `info`.
pub fn default_level(quiet: bool, verbose: u8, calm: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) if calm => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_level_is_warn_only_for_a_calm_terminal() {
        assert_eq!(default_level(false, 0, true), "warn");
        assert_eq!(default_level(false, 0, false), "info");
        assert_eq!(default_level(false, 1, true), "debug");
        assert_eq!(default_level(false, 2, false), "trace");
        assert_eq!(default_level(true, 2, true), "error");
    }

    /// A writer whose bytes a test can read back.
    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_log_event_is_written_whole_and_redacted_above_a_shown_bar() {
        // A hidden bar takes the same path as one on a terminal.
        let progress = Progress::new(ProgressBar::hidden());
        progress.done("acme/mango-web");
        assert!(shown().is_some());
        let sink = Sink::default();
        let mut w = Redacting::new(AboveBar::new(sink.clone()));
        w.write_all(b"WARN token ghp_0123456789abcdefABCDEF01 ")
            .unwrap();
        w.write_all(b"rejected\nsecond line\n").unwrap();
        assert!(
            sink.0.lock().unwrap().is_empty(),
            "nothing before the event ends"
        );
        drop(w);
        assert_eq!(
            String::from_utf8(sink.0.lock().unwrap().clone()).unwrap(),
            "WARN token [redacted] rejected\nsecond line\n"
        );
        drop(progress);
        assert!(shown().is_none(), "the bar is gone once the run ends");
    }
}
