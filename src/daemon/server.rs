//! The daemon's HTTP/1 accept loop, with the limits that keep it answering
//! when clients are slow, idle or hostile:
//!
//! - **Header-read timeout**: a connection must send a request's headers
//!   within [`Limits::header_read_timeout`] of opening, or of its previous
//!   response (hyper's `header_read_timeout`); otherwise it is closed. A
//!   client that connects and sends nothing holds a descriptor that long
//!   at most.
//! - **Connection cap**: at most [`Limits::max_connections`] are open. A new
//!   connection at the cap closes the oldest *idle* one (no request being
//!   answered: between two requests of a keep-alive connection, or with
//!   headers not yet complete), so a health check always gets in; when every
//!   open connection is answering a request, the new one gets `503` and is
//!   closed. With the cap below the descriptor limit, HTTP clients never
//!   take the descriptors a cycle needs.
//! - **Out of descriptors** (`accept` fails with `EMFILE`/`ENFILE`): the
//!   oldest idle connection is closed and `accept` retried shortly, instead
//!   of stalling.
//! - **Shutdown**: nothing new is accepted, idle connections close at once,
//!   requests in flight get [`DRAIN`] to finish.
//!
//! The cap on concurrent webhook bodies is in [`super::http`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// On shutdown, how long requests in flight get to finish.
pub const DRAIN: Duration = Duration::from_secs(10);
/// Largest read buffer of a connection (bounds the headers of a request;
/// larger ones get `431`), so idle connections cost little memory.
const MAX_BUF: usize = 64 * 1024;
/// Pause before `accept` is retried after an error other than a
/// connection's own.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// The same warning (cap reached, accept failing) at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// What a connection refused at the cap is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
connection: close\r\ncontent-length: 38\r\n\r\nevery connection is busy: retry later\n";

/// The HTTP server's limits. Defaults: [`Limits::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Time a connection has to send a request's headers (`http.header_read_timeout`).
    pub header_read_timeout: Duration,
    /// Open connections at most (`http.max_connections`).
    pub max_connections: usize,
    /// Webhook bodies read at the same time: memory for bodies stays
    /// under this many times `http.webhook_body_limit`.
    pub webhook_bodies: usize,
    /// How long a webhook waits for a body slot before `503`.
    pub webhook_wait: Duration,
    /// Time a webhook body has to arrive once its headers have (`408`).
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(5),
            max_connections: 256,
            webhook_bodies: 4,
            webhook_wait: Duration::from_secs(2),
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Slot {
    /// Requests being answered on it; 0 is idle.
    busy: AtomicUsize,
    /// Asks the connection to close (a request in flight is answered first).
    close: Notify,
}

/// The open connections, oldest first.
struct Connections {
    max: usize,
    open: Mutex<(u64, BTreeMap<u64, Arc<Slot>>)>,
}

impl Connections {
    fn new(max: usize) -> Connections {
        Connections {
            max: max.max(1),
            open: Mutex::new((0, BTreeMap::new())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, (u64, BTreeMap<u64, Arc<Slot>>)> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection. At the cap, the oldest idle one is asked
    /// to close first (`.1` says so); `None` when every one is busy.
    fn admit(&self) -> Option<((u64, Arc<Slot>), bool)> {
        let mut open = self.lock();
        let mut evicted = false;
        while open.1.len() >= self.max {
            if !close_oldest_idle(&mut open.1) {
                return None;
            }
            evicted = true;
        }
        let id = open.0;
        open.0 += 1;
        let slot = Arc::new(Slot::default());
        open.1.insert(id, Arc::clone(&slot));
        Some(((id, slot), evicted))
    }

    /// Asks the oldest idle connection to close; whether there was one.
    fn shed_one(&self) -> bool {
        close_oldest_idle(&mut self.lock().1)
    }

    fn forget(&self, id: u64) {
        self.lock().1.remove(&id);
    }
}

/// Asks the oldest connection with no request in flight to close, and
/// forgets it (it holds its descriptor only until its task sees this).
fn close_oldest_idle(open: &mut BTreeMap<u64, Arc<Slot>>) -> bool {
    let idle = open
        .iter()
        .find(|(_, s)| s.busy.load(Ordering::SeqCst) == 0)
        .map(|(id, _)| *id);
    match idle.and_then(|id| open.remove(&id)) {
        Some(slot) => {
            slot.close.notify_one();
            true
        }
        None => false,
    }
}

/// Forgets a connection when its task ends, however it ends.
struct Registered {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.forget(self.id);
    }
}

/// Marks a connection busy while one request is answered.
struct Busy(Arc<Slot>);

impl Busy {
    fn enter(slot: &Arc<Slot>) -> Busy {
        slot.busy.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(slot))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The router as a hyper service that marks its connection busy while a
/// request is answered.
#[derive(Clone)]
struct Counted {
    inner: TowerToHyperService<Router>,
    slot: Arc<Slot>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Counted {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, request: Request<Incoming>) -> Answer {
        let busy = Busy::enter(&self.slot);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await;
            drop(busy);
            response
        })
    }
}

/// Logs a warning at most every [`WARN_EVERY`].
struct Throttle(Option<Instant>);

impl Throttle {
    fn ready(&mut self) -> bool {
        let due = self.0.is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if due {
            self.0 = Some(Instant::now());
        }
        due
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown`
/// completes, then drains (see the module documentation).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_BUF);
    let builder = Arc::new(builder);
    let connections = Arc::new(Connections::new(limits.max_connections));
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut cap_warning = Throttle(None);
    let mut accept_warning = Throttle(None);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next() => continue,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                accept_failed(&e, &connections, &mut accept_warning).await;
                continue;
            }
        };
        let Some(((id, slot), evicted)) = connections.admit() else {
            if cap_warning.ready() {
                tracing::warn!(
                    max_connections = connections.max,
                    "every HTTP connection is busy: refusing new ones with 503"
                );
            }
            let _ = stream.try_write(BUSY);
            continue;
        };
        if evicted && cap_warning.ready() {
            tracing::warn!(
                max_connections = connections.max,
                "HTTP connection cap reached (http.max_connections): closing the oldest idle connections"
            );
        }
        let registered = Registered {
            connections: Arc::clone(&connections),
            id,
        };
        let service = Counted {
            inner: TowerToHyperService::new(router.clone()),
            slot: Arc::clone(&slot),
        };
        let builder = Arc::clone(&builder);
        let stop = stop.clone();
        tasks.spawn(async move {
            connection(&builder, stream, service, &slot, stop).await;
            drop(registered);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            open = tasks.len(),
            "HTTP requests still in flight after {}s: closing them",
            DRAIN.as_secs()
        );
    }
    Ok(())
}

/// Handles an `accept` error: a connection's own (reset before accepted)
/// is nothing; out of descriptors closes the oldest idle connection;
/// anything else waits a moment.
async fn accept_failed(e: &std::io::Error, connections: &Connections, warning: &mut Throttle) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    let out_of_descriptors = matches!(e.raw_os_error(), Some(23 | 24));
    let shed = out_of_descriptors && connections.shed_one();
    if warning.ready() {
        tracing::warn!(error = %e, shed, "cannot accept HTTP connections (out of file descriptors: raise LimitNOFILE or lower http.max_connections)");
    }
    tokio::time::sleep(ACCEPT_RETRY).await;
}

/// Serves one connection until it ends, is asked to close (evicted), or
/// the server stops. Asked to close, an idle connection is dropped at once
/// (hyper's graceful shutdown would wait for half-read headers), a busy one
/// once its response is sent.
async fn connection(
    builder: &http1::Builder,
    stream: TcpStream,
    service: Counted,
    slot: &Slot,
    mut stop: watch::Receiver<bool>,
) {
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP connection ended");
                }
                return;
            }
            () = slot.close.notified(), if !closing => {}
            _ = stop.wait_for(|stopping| *stopping), if !closing => {}
        }
        // Asked to close. Idle (nothing answered, headers maybe half
        // read): dropped now. Busy: the response goes out first.
        if slot.busy.load(Ordering::SeqCst) == 0 {
            return;
        }
        closing = true;
        conn.as_mut().graceful_shutdown();
    }
}

/// Descriptors a cycle may need beside the HTTP connections (git
/// objects, the platform's files, connections to GitHub, a git process).
pub const CYCLE_DESCRIPTORS: u64 = 512;

/// Why `max_connections` does not fit the soft `Max open files` limit of
/// `proc_limits` (the text of `/proc/self/limits`), if it does not.
pub fn descriptor_shortage(proc_limits: &str, max_connections: usize) -> Option<String> {
    let line = proc_limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?;
    let soft: u64 = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let wanted = max_connections as u64 + CYCLE_DESCRIPTORS;
    (soft < wanted).then(|| {
        format!(
            "the file descriptor limit ({soft}) is below http.max_connections ({max_connections}) \
             plus {CYCLE_DESCRIPTORS} for cycles: raise LimitNOFILE (the unit sets 65536) or lower \
             http.max_connections, or cycles may fail with `Too many open files`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let c = Connections::new(3);
        let slots: Vec<_> = (0..3).map(|_| c.admit().unwrap()).collect();
        assert!(slots.iter().all(|(_, evicted)| !evicted));
        // The oldest is busy: the next oldest idle one goes.
        let _busy = Busy::enter(&slots[0].0.1);
        let ((id, _), evicted) = c.admit().unwrap();
        assert!(evicted);
        assert_eq!(id, 3);
        let open: Vec<u64> = c.lock().1.keys().copied().collect();
        assert_eq!(open, vec![0, 2, 3]);
        // The evicted connection was asked to close (the permit is stored).
        let notified = slots[1].0.1.close.notified();
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut notified = std::pin::pin!(notified);
        assert!(notified.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_descriptor_limit_too_low_for_the_cap_is_named() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95712                95712                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(descriptor_shortage(limits, 256), None);
        let warning = descriptor_shortage(limits, 1000).unwrap();
        assert!(
            warning.starts_with(
                "the file descriptor limit (1024) is below http.max_connections (1000) plus 512"
            ),
            "{warning}"
        );
        assert_eq!(descriptor_shortage("garbage", 1000), None);
    }

    #[test]
    fn when_every_connection_is_busy_a_new_one_is_refused() {
        let c = Connections::new(2);
        let a = c.admit().unwrap();
        let b = c.admit().unwrap();
        let _x = Busy::enter(&a.0.1);
        let _y = Busy::enter(&b.0.1);
        assert!(c.admit().is_none());
        assert!(!c.shed_one());
        drop(_y);
        assert!(c.shed_one());
        assert!(c.admit().is_some());
        // A connection that ends is forgotten.
        c.forget(a.0.0);
        assert_eq!(c.lock().1.len(), 1);
    }
}
