//! Rate limits, secondary limits, injected faults and request counters.
//!
//! Primary budgets are per token per resource ("core", "graphql");
//! secondary limits are sliding windows over content-creating units (each
//! top-level GraphQL mutation field, each mutating REST request) plus a cap
//! on requests in flight. Faults (`fail_next`, `refuse_next_writes`,
//! ambiguous write failures) and latency are set by tests through the
//! handle.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use crate::Counters;
use crate::util;

/// The rate-limit state reported in headers and `rateLimit`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    pub used: u32,
    /// Epoch seconds.
    pub reset: i64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    used: u32,
    reset: SystemTime,
}

/// All limits and counters (behind their own mutex in `Shared`).
#[derive(Debug)]
pub(crate) struct Limits {
    pub latency: Duration,
    fail_next: usize,
    fail_status: u16,
    refuse_writes: usize,
    refuse_retry_after: u64,
    windows: Vec<(u32, Duration)>,
    /// When each admitted unit was admitted (one entry per unit).
    admitted: VecDeque<Instant>,
    pub max_concurrent: usize,
    pub in_flight: usize,
    limit: u32,
    buckets: HashMap<(String, &'static str), Bucket>,
    /// Set by `set_rate_limit_remaining`: applies to buckets made later too.
    template: Option<Bucket>,
    pub counters: Counters,
    next_request: u64,
    /// Header names of recent requests (see [`crate::headers`]).
    pub header_log: VecDeque<crate::headers::RequestHeaders>,
    pub refuse_duplicate_headers: bool,
    /// GraphQL query budgets and timing (see [`crate::cost`]).
    pub cost: crate::cost::Model,
    /// Writes answered 502 before or after they were applied.
    pub ambiguous: crate::AmbiguousWrites,
    /// Writes seen so far (the position in the seeded sequence).
    writes_seen: u64,
}

/// What happens to one write under [`crate::AmbiguousWrites`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteFault {
    None,
    /// 502 without applying it.
    Before,
    /// Applied, then answered 502.
    After,
}

impl Limits {
    pub(crate) fn new(config: &crate::Config) -> Limits {
        Limits {
            latency: config.latency,
            fail_next: 0,
            fail_status: 502,
            refuse_writes: 0,
            refuse_retry_after: 60,
            windows: config.secondary_limits.clone(),
            admitted: VecDeque::new(),
            max_concurrent: config.max_concurrent,
            in_flight: 0,
            limit: config.rate_limit,
            buckets: HashMap::new(),
            template: None,
            counters: Counters::default(),
            next_request: 0,
            header_log: VecDeque::new(),
            refuse_duplicate_headers: config.refuse_duplicate_headers,
            cost: crate::cost::Model {
                node_budget: config.graphql_node_budget,
                alias_budget: config.graphql_alias_budget,
                latency_per_node: config.graphql_latency_per_node,
                timeout: config.graphql_timeout,
            },
            ambiguous: config.ambiguous_writes,
            writes_seen: 0,
        }
    }

    /// Draws the fate of the next write from the seeded sequence.
    pub(crate) fn write_fault(&mut self) -> WriteFault {
        let a = self.ambiguous;
        if a.after <= 0.0 && a.before <= 0.0 {
            return WriteFault::None;
        }
        self.writes_seen += 1;
        let u = unit_float(splitmix64(
            a.seed ^ self.writes_seen.wrapping_mul(0x9E37_79B9),
        ));
        if u < a.before {
            self.counters.ambiguous_before_apply += 1;
            WriteFault::Before
        } else if u < a.before + a.after {
            WriteFault::After
        } else {
            WriteFault::None
        }
    }

    /// A GitHub-looking request id.
    pub(crate) fn request_id(&mut self) -> String {
        self.next_request += 1;
        let n = self.next_request;
        format!(
            "{:04X}:{:05X}:{:07X}:{:07X}:{:08X}",
            n % 0xFFFF,
            n,
            n * 7,
            n * 13,
            n * 31
        )
    }

    /// Records one request of `kind`.
    pub(crate) fn record(&mut self, kind: &str) {
        self.counters.total += 1;
        *self.counters.by_kind.entry(kind.to_string()).or_default() += 1;
    }

    pub(crate) fn fail_next(&mut self, n: usize, status: u16) {
        self.fail_next = n;
        self.fail_status = status;
    }

    /// The status to fail this request with, if a fault is pending.
    pub(crate) fn take_fault(&mut self) -> Option<u16> {
        if self.fail_next == 0 {
            return None;
        }
        self.fail_next -= 1;
        Some(self.fail_status)
    }

    pub(crate) fn refuse_next_writes(&mut self, n: usize, retry_after: u64) {
        self.refuse_writes = n;
        self.refuse_retry_after = retry_after;
    }

    fn bucket(&mut self, token: &str, resource: &'static str) -> &mut Bucket {
        let now = SystemTime::now();
        let template = self.template.filter(|t| t.reset > now);
        let bucket = self
            .buckets
            .entry((token.to_string(), resource))
            .or_insert_with(|| {
                template.unwrap_or(Bucket {
                    used: 0,
                    reset: now + Duration::from_secs(3600),
                })
            });
        if bucket.reset <= now {
            *bucket = Bucket {
                used: 0,
                reset: now + Duration::from_secs(3600),
            };
        }
        bucket
    }

    fn info(limit: u32, bucket: &Bucket) -> RateInfo {
        let used = bucket.used.min(limit);
        RateInfo {
            limit,
            remaining: limit - used,
            used,
            reset: util::epoch_secs(bucket.reset) + 1,
        }
    }

    /// The budget without spending.
    pub(crate) fn peek(&mut self, token: &str, resource: &'static str) -> RateInfo {
        let limit = self.limit;
        let bucket = *self.bucket(token, resource);
        Self::info(limit, &bucket)
    }

    /// Spends `cost`; Err when the budget is exhausted (nothing spent).
    pub(crate) fn spend(
        &mut self,
        token: &str,
        resource: &'static str,
        cost: u32,
    ) -> Result<RateInfo, RateInfo> {
        let limit = self.limit;
        let bucket = self.bucket(token, resource);
        if cost > 0 && bucket.used >= limit {
            let info = Self::info(limit, bucket);
            self.counters.primary_refusals += 1;
            return Err(info);
        }
        bucket.used += cost;
        let bucket = *bucket;
        if resource == "graphql" {
            self.counters.graphql_points += u64::from(cost);
        }
        Ok(Self::info(limit, &bucket))
    }

    /// Sets every budget (existing and future) to `remaining` until `reset_in`.
    pub(crate) fn set_remaining(&mut self, remaining: u32, reset_in: Duration) {
        let bucket = Bucket {
            used: self.limit.saturating_sub(remaining),
            reset: SystemTime::now() + reset_in,
        };
        for b in self.buckets.values_mut() {
            *b = bucket;
        }
        self.template = Some(bucket);
    }

    pub(crate) fn set_windows(&mut self, windows: Vec<(u32, Duration)>) {
        self.windows = windows;
    }

    pub(crate) fn reset_windows(&mut self) {
        self.admitted.clear();
    }

    /// Admits a request of `units` content-creating units under the
    /// secondary limits: every window must have room for all of them.
    /// `in_flight` includes this request. Err carries retry-after seconds.
    pub(crate) fn admit(&mut self, units: u32, in_flight: usize) -> Result<(), u64> {
        if in_flight > self.max_concurrent {
            self.counters.secondary_refusals += 1;
            return Err(1);
        }
        if units == 0 {
            return Ok(());
        }
        if self.refuse_writes > 0 {
            self.refuse_writes -= 1;
            self.counters.secondary_refusals += 1;
            return Err(self.refuse_retry_after.max(1));
        }
        let now = Instant::now();
        let longest = self.windows.iter().map(|w| w.1).max().unwrap_or_default();
        while self
            .admitted
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            self.admitted.pop_front();
        }
        let mut wait = Duration::ZERO;
        for (allowed, window) in &self.windows {
            let inside: Vec<&Instant> = self
                .admitted
                .iter()
                .filter(|t| now.duration_since(**t) < *window)
                .collect();
            let room = allowed.saturating_sub(units) as usize;
            if units > *allowed {
                // Never admitted: more units than the window holds.
                wait = wait.max(*window);
            } else if inside.len() > room {
                // The window admits these units once the oldest that must
                // leave it have aged out.
                let idx = inside.len() - room - 1;
                let until = *inside[idx] + *window;
                wait = wait.max(until.saturating_duration_since(now));
            }
        }
        if !wait.is_zero() {
            self.counters.secondary_refusals += 1;
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(secs.max(1));
        }
        self.admitted
            .extend(std::iter::repeat_n(now, units as usize));
        self.counters.content_creating += 1;
        self.counters.content_units += u64::from(units);
        Ok(())
    }
}

/// One step of SplitMix64: a well-mixed 64-bit value of `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `x` as a float in [0, 1).
fn unit_float(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}
