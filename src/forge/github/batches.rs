//! The size of observation batches (repositories per GraphQL query), and
//! how it adapts when GitHub cannot answer a batch: a query that runs past
//! GitHub's 10 s (502/504, "Something went wrong while executing your
//! query") or over its resource limits (`RESOURCE_LIMITS_EXCEEDED`) is split
//! in halves and the halves are asked again, down to one repository, which
//! then fails alone. Later batches start from the size that worked; the
//! size grows back slowly (a quarter after every few batches answered,
//! never to a size refused lately), up to the configured size.
//!
//! Pure bookkeeping: the forge sends the queries; this decides sizes and
//! remembers what was used, for the usage report.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Batches answered at the current size before it grows.
pub const GROW_AFTER: u32 = 4;
/// Batches answered after which a refused size may be tried again (GitHub's
/// load changes; a refusal an hour ago need not hold now).
pub const FORGET_REFUSAL_AFTER: u32 = 50;

/// What was used, for the usage report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// The configured size.
    pub configured: usize,
    /// The size the next batch starts from.
    pub current: usize,
    /// Batches GitHub answered, by size.
    pub answered: BTreeMap<usize, u64>,
    /// Batches split because GitHub could not answer them.
    pub splits: u64,
}

#[derive(Debug)]
struct State {
    current: usize,
    /// The smallest size refused since the last success streak forgot it.
    refused: Option<usize>,
    /// Batches answered at or above the current size, in a row.
    streak: u32,
    /// Batches answered since the last refusal.
    since_refusal: u32,
    answered: BTreeMap<usize, u64>,
    splits: u64,
}

/// The adaptive batch size of one forge.
#[derive(Debug)]
pub struct Batches {
    configured: usize,
    state: Mutex<State>,
}

impl Batches {
    pub fn new(configured: usize) -> Batches {
        let configured = configured.max(1);
        Batches {
            configured,
            state: Mutex::new(State {
                current: configured,
                refused: None,
                streak: 0,
                since_refusal: 0,
                answered: BTreeMap::new(),
                splits: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The size to cut the next batches to.
    pub fn size(&self) -> usize {
        self.state().current
    }

    /// GitHub answered a batch of `size`.
    pub fn answered(&self, size: usize) {
        let mut s = self.state();
        *s.answered.entry(size).or_default() += 1;
        s.since_refusal = s.since_refusal.saturating_add(1);
        if s.since_refusal >= FORGET_REFUSAL_AFTER {
            s.refused = None;
        }
        if size < s.current {
            return;
        }
        s.streak += 1;
        if s.streak < GROW_AFTER || s.current >= self.configured {
            return;
        }
        let ceiling = s
            .refused
            .map_or(self.configured, |r| r.saturating_sub(1).max(1))
            .min(self.configured);
        s.current = (s.current + (s.current / 4).max(1))
            .min(ceiling)
            .max(s.current);
        s.streak = 0;
    }

    /// GitHub could not answer a batch of `size` (more than one repo): it
    /// is split, and later batches start no bigger than its halves.
    pub fn refused(&self, size: usize) {
        let mut s = self.state();
        s.splits += 1;
        s.refused = Some(s.refused.map_or(size, |r| r.min(size)));
        s.current = s.current.min((size / 2).max(1));
        s.streak = 0;
        s.since_refusal = 0;
    }

    pub fn report(&self) -> BatchReport {
        let s = self.state();
        BatchReport {
            configured: self.configured,
            current: s.current,
            answered: s.answered.clone(),
            splits: s.splits,
        }
    }
}

/// Why GitHub could not answer a batch query that came back with HTTP 200:
/// an error of a resource-limit type, or GitHub's "Something went wrong
/// while executing your query" (a timeout inside GitHub). `None`: it
/// answered (per-repository errors are the repositories' own).
pub fn too_big(body: &serde_json::Value) -> Option<String> {
    let errors = body.get("errors")?.as_array()?;
    errors.iter().find_map(|e| {
        let kind = e
            .get("type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        let message = e
            .get("message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        let limited = matches!(kind, "RESOURCE_LIMITS_EXCEEDED" | "MAX_NODE_LIMIT_EXCEEDED")
            || message.starts_with("Something went wrong while executing your query");
        limited.then(|| {
            if kind.is_empty() {
                message.to_string()
            } else {
                format!("{kind}: {message}")
            }
        })
    })
}

/// `50×18, 25×4`: batches answered by size, largest first.
pub fn describe(answered: &BTreeMap<usize, u64>) -> String {
    answered
        .iter()
        .rev()
        .map(|(size, n)| format!("{size}×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_halves_the_size_and_success_grows_it_back_slowly() {
        let b = Batches::new(50);
        assert_eq!(b.size(), 50);
        b.refused(50);
        assert_eq!(b.size(), 25);
        for _ in 0..GROW_AFTER - 1 {
            b.answered(25);
        }
        assert_eq!(b.size(), 25, "not after fewer than GROW_AFTER");
        b.answered(25);
        assert_eq!(b.size(), 31, "a quarter more");
        // Never back to the refused size while the refusal is remembered.
        for _ in 0..20 {
            b.answered(b.size());
        }
        assert_eq!(b.size(), 49);
        for _ in 0..FORGET_REFUSAL_AFTER {
            b.answered(b.size());
        }
        assert_eq!(b.size(), 50, "up to the configured size once forgotten");
        let r = b.report();
        assert_eq!(r.splits, 1);
        assert_eq!(r.configured, 50);
        assert_eq!(r.answered.get(&25), Some(&4));
    }

    #[test]
    fn resource_limits_and_timeouts_in_a_200_are_told_apart_from_repo_errors() {
        let limited = serde_json::json!({"data": null, "errors": [{"type": "RESOURCE_LIMITS_EXCEEDED", "message": "Resource limits for this query exceeded."}]});
        assert_eq!(
            too_big(&limited).as_deref(),
            Some("RESOURCE_LIMITS_EXCEEDED: Resource limits for this query exceeded.")
        );
        let went_wrong = serde_json::json!({"errors": [{"message": "Something went wrong while executing your query. This may be the result of a timeout"}]});
        assert!(too_big(&went_wrong).is_some());
        let missing = serde_json::json!({"data": {"r0": null}, "errors": [{"type": "NOT_FOUND", "path": ["r0"], "message": "Could not resolve to a Repository"}]});
        assert_eq!(too_big(&missing), None);
        assert_eq!(too_big(&serde_json::json!({"data": {}})), None);
    }

    #[test]
    fn halves_of_a_split_do_not_grow_the_size() {
        let b = Batches::new(40);
        b.refused(40);
        b.refused(20);
        assert_eq!(b.size(), 10);
        for _ in 0..10 {
            b.answered(5);
        }
        assert_eq!(b.size(), 10, "smaller batches (a tail) do not count");
        assert_eq!(describe(&b.report().answered), "5×10");
        let one = Batches::new(1);
        one.refused(1);
        assert_eq!(one.size(), 1);
    }
}
