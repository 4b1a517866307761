//! sd_notify: tells systemd (a `Type=notify` or `Type=notify-reload` unit)
//! that the daemon is ready, what it is doing (`STATUS=`), that it is
//! reloading or stopping, and that it is alive (`WATCHDOG=1`). A datagram to
//! the Unix socket in `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
//! namespace); without that variable every call is a no-op, and so is every
//! call on systems other than Linux (no systemd there).
//!
//! The `sd-notify` crate writes the messages and reads the watchdog settings
//! and the monotonic clock that `RELOADING=1` must carry. The datagram is
//! sent here, with std: sd-notify (0.5) reads `$NOTIFY_SOCKET` at each call
//! and takes it for a path, so it reaches neither an abstract socket nor the
//! socket a [`Notifier`] was made with (tests, [`Notifier::disabled`]).

use std::time::Duration;

/// Where notifications go.
#[derive(Debug)]
pub struct Notifier {
    /// `None`: nothing is sent (always so off Linux).
    target: Option<sys::Target>,
    /// `WATCHDOG_USEC` when the watchdog is on for this process.
    watchdog: Option<Duration>,
}

/// What the daemon tells systemd; `sys` writes it out.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
enum Message<'a> {
    /// `KEY=VALUE` lines, sent as they are.
    Raw(&'a str),
    /// `READY=1` and a status.
    Ready(&'a str),
    Status(&'a str),
    /// `RELOADING=1` with `MONOTONIC_USEC=`.
    Reloading,
    Stopping,
    Watchdog,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        Notifier {
            target: sys::Target::from_env(),
            watchdog: sys::watchdog_from_env(),
        }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
        }
    }

    /// The watchdog interval systemd expects pings within.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends `state` (newline-separated `KEY=VALUE` lines). Errors are
    /// logged, never fatal: systemd may be gone during shutdown.
    pub fn send(&self, state: &str) {
        self.notify(Message::Raw(state));
    }

    pub fn ready(&self, status: &str) {
        self.notify(Message::Ready(status));
    }

    pub fn status(&self, status: &str) {
        self.notify(Message::Status(status));
    }

    /// Before a reload; systemd wants the monotonic time with it.
    pub fn reloading(&self) {
        self.notify(Message::Reloading);
    }

    pub fn stopping(&self) {
        self.notify(Message::Stopping);
    }

    pub fn watchdog_ping(&self) {
        self.notify(Message::Watchdog);
    }

    fn notify(&self, message: Message) {
        let Some(target) = &self.target else { return };
        if let Err(e) = target.send(message) {
            tracing::warn!(error = %e, "sd_notify failed");
        }
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::ffi::OsStr;
    use std::io;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    use std::path::PathBuf;
    use std::time::Duration;

    use sd_notify::NotifyState;

    use super::Message;

    #[derive(Debug)]
    pub(super) enum Target {
        Path(PathBuf),
        Abstract(Vec<u8>),
    }

    impl Target {
        pub(super) fn from_env() -> Option<Target> {
            Target::parse(&std::env::var_os("NOTIFY_SOCKET")?)
        }

        /// `/path`, or `@name` in the abstract namespace; systemd gives
        /// nothing else (a relative path is ignored, as by libsystemd).
        pub(super) fn parse(value: &OsStr) -> Option<Target> {
            match value.as_encoded_bytes().split_first()? {
                (b'@', name) => Some(Target::Abstract(name.to_vec())),
                (b'/', _) => Some(Target::Path(PathBuf::from(value))),
                _ => None,
            }
        }

        pub(super) fn send(&self, message: Message) -> io::Result<()> {
            let payload = datagram(message)?;
            let socket = UnixDatagram::unbound()?;
            match self {
                Target::Path(path) => socket.send_to(payload.as_bytes(), path)?,
                Target::Abstract(name) => {
                    let addr = SocketAddr::from_abstract_name(name)?;
                    socket.send_to_addr(payload.as_bytes(), &addr)?
                }
            };
            Ok(())
        }
    }

    /// The `KEY=VALUE` lines of `message`, newline-separated (none after
    /// the last). Fails only when the monotonic clock cannot be read.
    fn datagram(message: Message) -> io::Result<String> {
        let status;
        let states = match message {
            Message::Raw(lines) => return Ok(lines.to_owned()),
            Message::Ready(text) => {
                status = one_line(text);
                vec![NotifyState::Ready, NotifyState::Status(&status)]
            }
            Message::Status(text) => {
                status = one_line(text);
                vec![NotifyState::Status(&status)]
            }
            // systemd's notify-reload protocol refuses RELOADING=1 without
            // the CLOCK_MONOTONIC time it was sent at.
            Message::Reloading => vec![
                NotifyState::Reloading,
                NotifyState::monotonic_usec_now()?,
                NotifyState::Status("reloading configuration"),
            ],
            Message::Stopping => vec![NotifyState::Stopping, NotifyState::Status("stopping")],
            Message::Watchdog => vec![NotifyState::Watchdog],
        };
        let lines: Vec<String> = states.iter().map(ToString::to_string).collect();
        Ok(lines.join("\n"))
    }

    /// A status is one line: a newline would start another `KEY=VALUE`.
    fn one_line(s: &str) -> String {
        s.replace('\n', " ")
    }

    /// `$WATCHDOG_USEC`, unless `$WATCHDOG_PID` names another process;
    /// zero means no watchdog.
    pub(super) fn watchdog_from_env() -> Option<Duration> {
        sd_notify::watchdog_enabled().filter(|every| !every.is_zero())
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    //! No systemd: nothing to send to, no watchdog.

    use std::io;
    use std::time::Duration;

    use super::Message;

    /// Never made: there is no socket to notify.
    #[derive(Debug)]
    pub(super) enum Target {}

    impl Target {
        pub(super) fn from_env() -> Option<Target> {
            None
        }

        pub(super) fn send(&self, _: Message) -> io::Result<()> {
            match *self {}
        }
    }

    pub(super) fn watchdog_from_env() -> Option<Duration> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::ffi::OsStr;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};

    use super::sys::Target;
    use super::*;

    #[test]
    fn messages_reach_a_path_socket_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some(Target::Path(path)),
            watchdog: None,
        };
        n.ready("12 in sync\nand more");
        n.status("cycle 2\nrunning");
        n.reloading();
        n.stopping();
        n.send("EXTEND_TIMEOUT_USEC=5000000\nSTATUS=slow");
        let mut buf = [0u8; 512];
        let mut got = Vec::new();
        for _ in 0..5 {
            let len = server.recv(&mut buf).unwrap();
            got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        assert_eq!(got[0], "READY=1\nSTATUS=12 in sync and more");
        assert_eq!(got[1], "STATUS=cycle 2 running");
        let reload: Vec<&str> = got[2].lines().collect();
        assert_eq!(reload.len(), 3, "{}", got[2]);
        assert_eq!(reload[0], "RELOADING=1");
        let usec: u64 = reload[1]
            .strip_prefix("MONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(usec > 0);
        assert_eq!(reload[2], "STATUS=reloading configuration");
        assert_eq!(got[3], "STOPPING=1\nSTATUS=stopping");
        assert_eq!(got[4], "EXTEND_TIMEOUT_USEC=5000000\nSTATUS=slow");
    }

    #[test]
    fn abstract_sockets_work_and_no_socket_is_a_no_op() {
        let name = format!("distributor-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier {
            target: Some(Target::Abstract(name.into_bytes())),
            watchdog: None,
        };
        n.watchdog_ping();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        Notifier::disabled().ready("nothing happens");
    }

    #[test]
    fn notify_socket_is_a_path_or_an_abstract_name() {
        let parse = |s: &str| Target::parse(OsStr::new(s));
        assert!(
            matches!(parse("/run/systemd/notify"), Some(Target::Path(p)) if p.as_os_str() == "/run/systemd/notify")
        );
        assert!(matches!(parse("@sd-notify"), Some(Target::Abstract(n)) if n == b"sd-notify"));
        assert!(parse("relative/notify").is_none());
        assert!(parse("").is_none());
    }
}
