//! Staying inside GitHub's limits: the write pacer (secondary limits), the
//! primary budget tracker fed by `x-ratelimit-*` headers, and the retry
//! policy. The decisions ([`RetryPolicy::decide`], [`RateTracker::wait_for`])
//! are plain functions of their inputs so they are unit-tested; sleeping is
//! left to the client.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// One pacing quota: at most `count` content-creating units per `period`
/// (a unit is one top-level GraphQL mutation field or one mutating REST
/// request, see [`units_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteQuota {
    pub count: u32,
    pub period: Duration,
}

impl WriteQuota {
    /// Parses `COUNT/DURATION`, e.g. `60/1m`, `450/1h`, `5/200ms`.
    pub fn parse(text: &str) -> Result<WriteQuota, String> {
        let (count, period) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: expected COUNT/DURATION, e.g. 60/1m"))?;
        let count: u32 = count
            .trim()
            .parse()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| format!("`{text}`: COUNT must be a positive integer"))?;
        let period = parse_duration(period.trim()).map_err(|e| format!("`{text}`: {e}"))?;
        if period.is_zero() {
            return Err(format!("`{text}`: DURATION must be more than zero"));
        }
        Ok(WriteQuota { count, period })
    }
}

pub use crate::time::parse_duration_or_secs as parse_duration;

/// How content-creating requests are paced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacing {
    /// Every quota must admit a write's units before it is sent.
    pub quotas: Vec<WriteQuota>,
    /// Minimum time between two writes (requests, whatever their units).
    pub spacing: Duration,
}

impl Default for Pacing {
    /// Under GitHub's published secondary limits (80/minute, 500/hour
    /// content-creating), counted the conservative way: every top-level
    /// mutation field is one unit. 60 and 450 leave a quarter and a tenth of
    /// margin for clock skew between us and GitHub and for writes of another
    /// process on the same token. One second between writes, as GitHub asks.
    fn default() -> Self {
        Pacing {
            quotas: vec![
                WriteQuota {
                    count: 60,
                    period: Duration::from_secs(60),
                },
                WriteQuota {
                    count: 450,
                    period: Duration::from_secs(3600),
                },
            ],
            spacing: Duration::from_secs(1),
        }
    }
}

/// The content-creating units of one request, as the pacer and GitHub's
/// secondary limits count them (GitHub does not say whether a document
/// with several mutations counts once or per mutation; we budget per
/// mutation): a GraphQL document's top-level mutation fields (0 for a
/// query), one for a mutating REST request (POST, PATCH, PUT, DELETE), none
/// for a read.
pub fn units_of(method: &http::Method, graphql: Option<&str>) -> u32 {
    match graphql {
        Some(document) => mutation_fields(document),
        None => u32::from(!matches!(
            *method,
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        )),
    }
}

/// Counts the top-level fields of the first `mutation` operation of a
/// GraphQL document (0 when it has none). A small lexer: strings, block
/// strings and comments are skipped; at selection depth 1 outside
/// arguments, every name that is not an alias (followed by `:`), a
/// directive (after `@`) or a keyword (`on`, after `...`) starts a field.
fn mutation_fields(document: &str) -> u32 {
    let tokens = lex(document);
    let Some(start) = tokens.iter().position(|t| *t == Token::Name("mutation")) else {
        return 0;
    };
    let (mut braces, mut parens, mut fields) = (0usize, 0usize, 0u32);
    let mut previous: Option<&Token> = None;
    for (i, token) in tokens.iter().enumerate().skip(start + 1) {
        match token {
            Token::Punct('{') => braces += 1,
            Token::Punct('}') => {
                braces = braces.saturating_sub(1);
                if braces == 0 {
                    break;
                }
            }
            Token::Punct('(') => parens += 1,
            Token::Punct(')') => parens = parens.saturating_sub(1),
            Token::Name(_) if braces == 1 && parens == 0 => {
                let alias = tokens.get(i + 1) == Some(&Token::Punct(':'));
                let directive = previous == Some(&Token::Punct('@'));
                let spread =
                    previous == Some(&Token::Spread) || previous == Some(&Token::Name("on"));
                if !alias && !directive && !spread {
                    fields += 1;
                }
            }
            _ => {}
        }
        previous = Some(token);
    }
    fields
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Name(&'a str),
    Punct(char),
    Spread,
    /// A string or number literal.
    Value,
}

fn lex(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"\"\"\"") {
            i += 3;
            while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 3;
            out.push(Token::Value);
        } else if c == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(Token::Value);
        } else if bytes[i..].starts_with(b"...") {
            i += 3;
            out.push(Token::Spread);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let begin = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(Token::Name(&text[begin..i]));
        } else if c.is_ascii_digit() || c == b'-' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || b"-+.".contains(&bytes[i]))
            {
                i += 1;
            }
            out.push(Token::Value);
        } else {
            if b"{}():@$!=[]|&".contains(&c) {
                out.push(Token::Punct(char::from(c)));
            }
            i += 1;
        }
    }
    out
}

/// The org-wide write pacer: one per process, shared by every repo.
///
/// Each quota is a sliding window over the units of the last writes: a
/// write of `n` units goes out only when at most `count - n` were sent in
/// the last `period` (a write of more units than a quota holds waits for
/// an empty window). That bounds every window GitHub may count in, which a token
/// bucket does not (a bucket of 450 per hour admits its full burst and then
/// keeps refilling, so an hour can see almost twice the quota). The minimum
/// spacing between writes is governor's GCRA with a burst of one.
pub struct Pacer {
    quotas: Vec<WriteQuota>,
    /// Per quota, when the units still inside its window went out (one
    /// entry per unit).
    sent: Mutex<Vec<VecDeque<Instant>>>,
    spacing: Option<DefaultDirectRateLimiter>,
    /// Writes are serialised, as GitHub asks.
    serial: tokio::sync::Mutex<()>,
    /// Writes waiting to be admitted (a metric).
    waiting: std::sync::atomic::AtomicUsize,
}

impl Pacer {
    pub fn new(pacing: &Pacing) -> Pacer {
        let spacing = (!pacing.spacing.is_zero())
            .then(|| Quota::with_period(pacing.spacing))
            .flatten()
            .map(|q| RateLimiter::direct(q.allow_burst(NonZeroU32::new(1).expect("one"))));
        Pacer {
            quotas: pacing.quotas.clone(),
            sent: Mutex::new(pacing.quotas.iter().map(|_| VecDeque::new()).collect()),
            spacing,
            serial: tokio::sync::Mutex::new(()),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Writes waiting to be admitted right now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until every quota admits `units` more, records them, and holds
    /// the write slot until the returned guard is dropped (after the
    /// response).
    pub async fn admit(&self, units: u32) -> tokio::sync::MutexGuard<'_, ()> {
        let _waiting = Waiting::new(&self.waiting);
        let guard = self.serial.lock().await;
        loop {
            let wait = {
                let mut sent = self
                    .sent
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                next_slot(&self.quotas, &mut sent, units, Instant::now())
            };
            match wait {
                Some(at) => tokio::time::sleep_until(at).await,
                None => break,
            }
        }
        if let Some(s) = &self.spacing {
            s.until_ready().await;
        }
        let now = Instant::now();
        for window in self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter_mut()
        {
            window.extend(std::iter::repeat_n(now, units as usize));
        }
        guard
    }
}

/// Counts a waiting write for as long as it lives (also when the wait is
/// cancelled).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(counter: &'a std::sync::atomic::AtomicUsize) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// When the next write of `units` may go: `None` now, else the instant the
/// fullest window frees enough room. Drops times that left their window.
fn next_slot(
    quotas: &[WriteQuota],
    sent: &mut [VecDeque<Instant>],
    units: u32,
    now: Instant,
) -> Option<Instant> {
    let mut wait: Option<Instant> = None;
    for (quota, times) in quotas.iter().zip(sent.iter_mut()) {
        while times.front().is_some_and(|t| *t + quota.period <= now) {
            times.pop_front();
        }
        // A write larger than the quota waits for an empty window.
        let room = quota.count.saturating_sub(units.min(quota.count)) as usize;
        if times.len() > room {
            let free_at = times[times.len() - room - 1] + quota.period;
            wait = Some(wait.map_or(free_at, |w| w.max(free_at)));
        }
    }
    wait
}

/// What GitHub last said about one budget (`core`, `graphql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u64,
    pub remaining: u64,
    /// Epoch seconds.
    pub reset: u64,
}

/// Tracks the primary budgets from response headers.
#[derive(Default)]
pub struct RateTracker {
    budgets: Mutex<HashMap<String, Budget>>,
}

impl RateTracker {
    /// Records the `x-ratelimit-*` headers of a response.
    pub fn record(&self, headers: &http::HeaderMap) {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let (Some(limit), Some(remaining), Some(reset)) = (
            get("x-ratelimit-limit"),
            get("x-ratelimit-remaining"),
            get("x-ratelimit-reset"),
        ) else {
            return;
        };
        let resource = headers
            .get("x-ratelimit-resource")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("core")
            .to_string();
        self.budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                resource,
                Budget {
                    limit,
                    remaining,
                    reset,
                },
            );
    }

    pub fn budget(&self, resource: &str) -> Option<Budget> {
        self.budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(resource)
            .copied()
    }

    /// Takes `n` requests from the tracked budget. Returns how long to wait
    /// first when what is left would not cover them (until the reset, plus a
    /// second of margin), or `None` to go ahead.
    pub fn reserve(&self, resource: &str, n: u64, now_epoch: u64) -> Option<Duration> {
        let mut budgets = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let b = budgets.get_mut(resource)?;
        if now_epoch >= b.reset {
            // The window has reset; the next response tells the new figures.
            return None;
        }
        if b.remaining >= n {
            b.remaining -= n;
            return None;
        }
        Some(Duration::from_secs(b.reset - now_epoch + 1))
    }

    /// Every budget seen, for the end-of-run summary.
    pub fn snapshot(&self) -> Vec<(String, Budget)> {
        let mut all: Vec<_> = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// What a request does, as far as sending it twice is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Changes nothing: always safe to send again.
    Read,
    /// A write guarded by a compare-and-swap (`expectedHeadOid`,
    /// `beforeOid`, a ref create or delete): sent again after it landed
    /// it fails its guard, so it is re-observed first.
    CasWrite,
    /// Sending it twice leaves the same state as once: content-addressed
    /// Git objects, label and reviewer additions (GitHub keeps a set),
    /// title and body updates, enabling auto-merge.
    IdempotentWrite,
    /// Creates something anew each time (a pull request, a comment): sent
    /// again only after checking the first attempt did not take effect.
    Create,
}

/// Why a request is being retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// Wait this long, then send again.
    After(Duration, &'static str),
    /// The write may have landed (a 5xx or no answer): do not send it
    /// again blindly; the caller re-observes, then sends again only if it
    /// did not land.
    Verify,
    /// Give up and hand the response to the caller.
    No,
}

/// What went wrong with one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// An HTTP answer.
    Status {
        status: u16,
        retry_after: Option<Duration>,
        /// `x-ratelimit-remaining: 0` with its reset (epoch seconds).
        exhausted_until: Option<u64>,
        /// The body names a secondary rate limit.
        secondary: bool,
    },
    /// No answer (connection, timeout).
    Network,
}

/// The one retry policy for every GitHub request (octocrab's own is off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries of one request for server errors, network errors and
    /// secondary limits; waiting for a primary reset does not count.
    pub max_retries: u32,
    /// First wait after a 5xx or network error; doubles, with jitter.
    pub server_error_base: Duration,
    /// First wait after a secondary-limit refusal without `retry-after`;
    /// GitHub asks for at least a minute, then exponential backoff.
    pub secondary_base: Duration,
    /// Longest single wait for a primary reset before giving up (GitHub's
    /// window is an hour).
    pub max_reset_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            server_error_base: Duration::from_millis(500),
            secondary_base: Duration::from_secs(60),
            max_reset_wait: Duration::from_secs(3700),
        }
    }
}

impl RetryPolicy {
    /// Decides about attempt number `attempt` (0 = the first retry) of an
    /// operation of kind `op`. Refusals (rate limits) mean nothing was
    /// done and are retried for every kind; an ambiguous failure (5xx, no
    /// answer) is retried for reads and idempotent writes, and handed back
    /// as [`Retry::Verify`] for compare-and-swap writes and creations.
    /// `jitter` is in [0, 1).
    pub fn decide(
        &self,
        op: OpKind,
        failure: &Failure,
        attempt: u32,
        now_epoch: u64,
        jitter: f64,
    ) -> Retry {
        let ambiguous = match failure {
            Failure::Status { status, .. } => *status >= 500,
            Failure::Network => true,
        };
        if ambiguous && matches!(op, OpKind::CasWrite | OpKind::Create) {
            return Retry::Verify;
        }
        match failure {
            Failure::Status {
                status: 403 | 429,
                exhausted_until: Some(reset),
                ..
            } => {
                let wait = Duration::from_secs(reset.saturating_sub(now_epoch) + 1);
                if wait > self.max_reset_wait || attempt >= self.max_retries + 3 {
                    Retry::No
                } else {
                    Retry::After(wait, "primary rate limit exhausted; waiting for its reset")
                }
            }
            _ if attempt >= self.max_retries => Retry::No,
            Failure::Status {
                status: 403 | 429,
                retry_after: Some(wait),
                ..
            } => Retry::After(*wait, "secondary rate limit; waiting as retry-after asks"),
            Failure::Status {
                status: 403 | 429,
                secondary: true,
                ..
            }
            | Failure::Status { status: 429, .. } => Retry::After(
                self.secondary_base * 2u32.saturating_pow(attempt),
                "secondary rate limit without retry-after; backing off",
            ),
            Failure::Status { status, .. } if *status >= 500 => Retry::After(
                jittered(self.server_error_base, attempt, jitter),
                "server error; retrying",
            ),
            Failure::Network => Retry::After(
                jittered(self.server_error_base, attempt, jitter),
                "network error; retrying",
            ),
            Failure::Status { .. } => Retry::No,
        }
    }
}

/// `base * 2^attempt`, scaled by a factor in [0.5, 1.5).
fn jittered(base: Duration, attempt: u32, jitter: f64) -> Duration {
    let exp = base * 2u32.saturating_pow(attempt.min(10));
    exp.mul_f64(0.5 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Failure {
        Failure::Status {
            status,
            retry_after: None,
            exhausted_until: None,
            secondary: false,
        }
    }

    #[test]
    fn quotas_and_durations_parse() {
        assert_eq!(
            WriteQuota::parse("60/1m").unwrap(),
            WriteQuota {
                count: 60,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(
            WriteQuota::parse("5/200ms").unwrap().period,
            Duration::from_millis(200)
        );
        assert!(WriteQuota::parse("0/1m").unwrap_err().contains("positive"));
        assert!(
            WriteQuota::parse("60")
                .unwrap_err()
                .contains("COUNT/DURATION")
        );
        assert!(
            WriteQuota::parse("6/1y")
                .unwrap_err()
                .contains("unknown or missing unit")
        );
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(
            parse_duration("99999999999999999h")
                .unwrap_err()
                .contains("too long")
        );
    }

    /// Units are counted per top-level mutation field, whatever the
    /// aliases, arguments, strings or comments; reads cost none.
    #[test]
    fn units_count_top_level_mutation_fields() {
        use super::super::query;
        let post = |doc: &str| units_of(&http::Method::POST, Some(doc));
        assert_eq!(post(query::COMMIT), 1);
        assert_eq!(post(query::PROPOSE), 2);
        assert_eq!(post(query::UPDATE_REFS), 1);
        assert_eq!(post(query::AUTO_MERGE), 1);
        assert_eq!(post("query { viewer { login } }"), 0);
        assert_eq!(post("{ viewer { login } }"), 0);
        let tricky = "# mutation { fäke }\nmutation M($a: String = \"} {x}\") {\n  one: addStar(input: {starrableId: \"{\"}) { clientMutationId }\n  removeStar(input: {starrableId: \"\"\"é}\"\"\"}) @skip(if: false) { clientMutationId }\n  ...Frag\n  three: addStar(input: {starrableId: -1.5e3}) { starrable { id } }\n}";
        assert_eq!(post(tricky), 3);
        for method in [
            http::Method::POST,
            http::Method::PATCH,
            http::Method::PUT,
            http::Method::DELETE,
        ] {
            assert_eq!(units_of(&method, None), 1);
        }
        assert_eq!(units_of(&http::Method::GET, None), 0);
    }

    /// The counter agrees with a real GraphQL parser on every mutation the
    /// forge sends.
    #[test]
    fn units_agree_with_the_graphql_parser() {
        use super::super::query;
        for doc in [
            query::COMMIT,
            query::PROPOSE,
            query::UPDATE_REFS,
            query::AUTO_MERGE,
        ] {
            let parsed = apollo_compiler::ast::Document::parse(doc, "doc.graphql").unwrap();
            let fields = parsed
                .definitions
                .iter()
                .find_map(|d| match d {
                    apollo_compiler::ast::Definition::OperationDefinition(op) => {
                        Some(op.selection_set.len())
                    }
                    _ => None,
                })
                .unwrap();
            assert_eq!(
                units_of(&http::Method::POST, Some(doc)) as usize,
                fields,
                "{doc}"
            );
        }
    }

    /// A write of two units takes two of a quota's slots; one larger than
    /// the quota waits for an empty window instead of waiting forever.
    #[tokio::test(start_paused = true)]
    async fn the_pacer_admits_units() {
        let pacing = Pacing {
            quotas: vec![WriteQuota {
                count: 5,
                period: Duration::from_secs(60),
            }],
            spacing: Duration::ZERO,
        };
        let pacer = Pacer::new(&pacing);
        let start = tokio::time::Instant::now();
        let mut times = Vec::new();
        for units in [2, 2, 2, 1, 9, 1] {
            drop(pacer.admit(units).await);
            times.push(start.elapsed().as_secs());
        }
        // 2+2 at once; the third 2 would make 6 > 5: it waits a minute,
        // the 1 fits beside it, the 9 waits for an empty window (another
        // minute), and the last 1 for the 9 to leave it.
        assert_eq!(times, [0, 0, 60, 60, 120, 180]);
    }

    #[test]
    fn retry_after_is_obeyed_and_bounded() {
        let p = RetryPolicy::default();
        let f = Failure::Status {
            status: 403,
            retry_after: Some(Duration::from_secs(7)),
            exhausted_until: None,
            secondary: true,
        };
        assert!(
            matches!(p.decide(OpKind::Read, &f, 0, 0, 0.0), Retry::After(d, _) if d == Duration::from_secs(7))
        );
        assert_eq!(p.decide(OpKind::Read, &f, 5, 0, 0.0), Retry::No);
    }

    #[test]
    fn secondary_without_retry_after_backs_off_from_a_minute() {
        let p = RetryPolicy::default();
        let f = Failure::Status {
            status: 403,
            retry_after: None,
            exhausted_until: None,
            secondary: true,
        };
        assert!(
            matches!(p.decide(OpKind::Read, &f, 0, 0, 0.3), Retry::After(d, _) if d == Duration::from_secs(60))
        );
        assert!(
            matches!(p.decide(OpKind::Read, &f, 2, 0, 0.3), Retry::After(d, _) if d == Duration::from_secs(240))
        );
    }

    #[test]
    fn primary_exhaustion_waits_for_the_reset() {
        let p = RetryPolicy::default();
        let f = Failure::Status {
            status: 403,
            retry_after: None,
            exhausted_until: Some(1_000),
            secondary: false,
        };
        assert!(
            matches!(p.decide(OpKind::Read, &f, 0, 990, 0.0), Retry::After(d, _) if d == Duration::from_secs(11))
        );
        // A reset too far away is not waited for.
        let far = Failure::Status {
            status: 403,
            retry_after: None,
            exhausted_until: Some(100_000),
            secondary: false,
        };
        assert_eq!(p.decide(OpKind::Read, &far, 0, 0, 0.0), Retry::No);
    }

    /// A write that may have landed is never sent again blindly: CAS
    /// writes and creations are handed back for re-observation after a
    /// 5xx or no answer, while refusals (nothing done) are retried for
    /// every kind and idempotent writes retry like reads.
    #[test]
    fn ambiguous_failures_of_unsafe_writes_are_verified_first() {
        let p = RetryPolicy::default();
        for op in [OpKind::CasWrite, OpKind::Create] {
            assert_eq!(p.decide(op, &status(502), 0, 0, 0.0), Retry::Verify);
            assert_eq!(p.decide(op, &Failure::Network, 0, 0, 0.0), Retry::Verify);
            assert_eq!(p.decide(op, &status(422), 0, 0, 0.0), Retry::No);
            let refused = Failure::Status {
                status: 403,
                retry_after: Some(Duration::from_secs(3)),
                exhausted_until: None,
                secondary: true,
            };
            assert!(matches!(
                p.decide(op, &refused, 0, 0, 0.0),
                Retry::After(..)
            ));
        }
        for op in [OpKind::Read, OpKind::IdempotentWrite] {
            assert!(matches!(
                p.decide(op, &status(502), 0, 0, 0.0),
                Retry::After(..)
            ));
            assert!(matches!(
                p.decide(op, &Failure::Network, 0, 0, 0.0),
                Retry::After(..)
            ));
        }
    }

    #[test]
    fn server_errors_retry_with_jitter_then_stop() {
        let p = RetryPolicy::default();
        let Retry::After(a, _) = p.decide(OpKind::Read, &status(502), 0, 0, 0.0) else {
            panic!("retried")
        };
        let Retry::After(b, _) = p.decide(OpKind::Read, &status(502), 0, 0, 0.99) else {
            panic!("retried")
        };
        assert!(a < b && a >= Duration::from_millis(250));
        assert!(
            matches!(p.decide(OpKind::Read, &Failure::Network, 1, 0, 0.5), Retry::After(d, _) if d == Duration::from_secs(1))
        );
        assert_eq!(p.decide(OpKind::Read, &status(502), 5, 0, 0.0), Retry::No);
        assert_eq!(p.decide(OpKind::Read, &status(404), 0, 0, 0.0), Retry::No);
        assert_eq!(p.decide(OpKind::Read, &status(422), 0, 0, 0.0), Retry::No);
    }

    /// In every window of the quota's length, at most `count` writes: the
    /// bound GitHub's secondary limits need (a token bucket would let a
    /// window see its burst plus its refill).
    #[tokio::test(start_paused = true)]
    async fn the_pacer_never_exceeds_a_quota_in_any_window() {
        let pacing = Pacing {
            quotas: vec![
                WriteQuota {
                    count: 5,
                    period: Duration::from_secs(60),
                },
                WriteQuota {
                    count: 12,
                    period: Duration::from_secs(600),
                },
            ],
            spacing: Duration::ZERO,
        };
        let pacer = Pacer::new(&pacing);
        let start = tokio::time::Instant::now();
        let mut times = Vec::new();
        for _ in 0..30 {
            drop(pacer.admit(1).await);
            times.push(start.elapsed());
        }
        for q in &pacing.quotas {
            for (i, t) in times.iter().enumerate() {
                let in_window = times[i..].iter().filter(|u| **u < *t + q.period).count();
                assert!(
                    in_window <= q.count as usize,
                    "{in_window} writes within {:?} of {t:?}",
                    q.period
                );
            }
        }
        // The first five go at once, the sixth a minute later, and the
        // hourly-style quota holds the thirteenth until ten minutes pass.
        assert_eq!(times[4], Duration::ZERO);
        assert_eq!(times[5], Duration::from_secs(60));
        assert_eq!(times[12], Duration::from_secs(600));
        // Full throughput: a write goes as soon as both windows allow it
        // (five at 1200 s when the 600 s window empties, the next at 1260 s).
        assert_eq!(times[28], Duration::from_secs(1200));
        assert_eq!(times[29], Duration::from_secs(1260));
    }

    #[test]
    fn tracker_waits_when_the_budget_would_not_cover_a_batch() {
        let t = RateTracker::default();
        let mut h = http::HeaderMap::new();
        h.insert("x-ratelimit-limit", "5000".parse().unwrap());
        h.insert("x-ratelimit-remaining", "3".parse().unwrap());
        h.insert("x-ratelimit-reset", "1100".parse().unwrap());
        h.insert("x-ratelimit-resource", "graphql".parse().unwrap());
        t.record(&h);
        assert_eq!(t.reserve("graphql", 2, 1000), None);
        assert_eq!(
            t.reserve("graphql", 2, 1000),
            Some(Duration::from_secs(101))
        );
        // After the reset time, go ahead.
        assert_eq!(t.reserve("graphql", 2, 1200), None);
        // Unknown budgets never block.
        assert_eq!(t.reserve("core", 100, 1000), None);
    }
}
