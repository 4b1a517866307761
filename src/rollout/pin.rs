//! Fleet rollback: the pin a rollback sets and what it means for a run.
//! Pure. While the fleet is pinned to revision A (`distributor rollback
//! A`), every run renders A; the later revisions are halted. A repo that
//! one of those later revisions reached (its default branch's lock or its
//! proposal names one) is a rollback target: it gets A at once, past the
//! waves. Every other repo takes A through the waves as usual, and the
//! `rollback` command itself writes only the targets.

use std::collections::BTreeSet;

use crate::plan::RepoPlan;
use crate::plan::message::{Rollback as Note, revisions, short};
use crate::time::{self, Epoch};

pub use super::log::Pin;

/// The rollback a run delivers: the pin, the revisions after it, and
/// whether only the repos those reached may be written.
#[derive(Debug, Clone)]
pub struct Rollback {
    pub pin: Pin,
    /// Every revision after the pinned one: the platform's history from
    /// the head down to the pin, and the revisions the pin names.
    pub later: BTreeSet<String>,
    /// `distributor rollback`: repos no later revision reached are held
    /// (the pinned rollout brings them the revision through its waves).
    pub only_reached: bool,
}

impl Rollback {
    /// The rollback of `pin`, given the platform's history (newest first).
    pub fn new(pin: Pin, history: &[(String, Epoch)], only_reached: bool) -> Rollback {
        let mut later: BTreeSet<String> = pin.from.iter().cloned().collect();
        if let Ok(newer) = later_than(history, &pin.revision) {
            later.extend(newer);
        }
        Rollback {
            pin,
            later,
            only_reached,
        }
    }

    /// The later revision that reached `p` (its proposal's, else its
    /// default branch's), if one did.
    pub fn reached_by<'p>(&self, p: &'p RepoPlan) -> Option<&'p str> {
        [&p.proposal_revision, &p.locked_revision]
            .into_iter()
            .flatten()
            .find(|r| self.later.contains(*r))
            .map(String::as_str)
    }

    /// What commits and pull requests of this rollback say.
    pub fn note(&self) -> Note {
        note(&self.pin)
    }
}

/// What commits and pull requests delivered under `pin` say.
pub fn note(pin: &Pin) -> Note {
    Note {
        to: pin.revision.clone(),
        from: pin.from.clone(),
        reason: pin.reason.clone(),
        operator: pin.operator.clone(),
        since: time::rfc3339(pin.at),
    }
}

/// The revisions after `to` in the platform's history (newest first), or
/// why there are none to roll back.
pub fn later_than(history: &[(String, Epoch)], to: &str) -> Result<Vec<String>, String> {
    match history.iter().position(|(r, _)| r == to) {
        Some(0) => Err(format!(
            "revision {} is the platform's head: there is no later revision to roll back",
            short(to)
        )),
        Some(i) => Ok(history[..i].iter().map(|(r, _)| r.clone()).collect()),
        None => Err(format!(
            "revision {} is not in the platform's history (first parents from HEAD, {} commits read): \
             a rollback goes back to an earlier commit of the branch the platform follows",
            short(to),
            history.len()
        )),
    }
}

/// How errors name the revision a pinned fleet renders (when it cannot be
/// read, e.g. the platform's history was rewritten).
pub fn origin(revision: &str) -> String {
    format!(
        "the revision the fleet is pinned to, {} (`distributor unpin` follows the head again)",
        short(revision)
    )
}

/// One line for people: `pinned to revision a11… by olivia since …: reason`.
pub fn describe(pin: &Pin) -> String {
    format!(
        "pinned to revision {} by {} since {}: {}",
        short(&pin.revision),
        pin.operator,
        time::utc(pin.at),
        why_and_way_out(&pin.reason, &pin.from),
    )
}

/// `reason (rolled back from b22…; `distributor unpin` follows the head
/// again)`: how every view of a pin ends.
pub fn why_and_way_out(reason: &str, from: &[String]) -> String {
    format!(
        "{} (rolled back from {}; `distributor unpin` follows the head again)",
        reason.replace(['\n', '\r'], " "),
        revisions(from)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> Vec<(String, Epoch)> {
        [
            "c".repeat(40),
            "b".repeat(40),
            "a".repeat(40),
            "0".repeat(40),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, r)| (r, 1000 - i as Epoch))
        .collect()
    }

    #[test]
    fn later_revisions_are_those_above_the_pin_in_history() {
        let h = history();
        assert_eq!(
            later_than(&h, &"a".repeat(40)).unwrap(),
            vec!["c".repeat(40), "b".repeat(40)]
        );
        let head = later_than(&h, &"c".repeat(40)).unwrap_err();
        assert!(head.contains("is the platform's head"), "{head}");
        let unknown = later_than(&h, &"d".repeat(40)).unwrap_err();
        assert!(
            unknown.contains("dddddddddddd is not in the platform's history (first parents from HEAD, 4 commits read)"),
            "{unknown}"
        );
    }

    #[test]
    fn the_pin_reads_in_one_line() {
        let pin = Pin {
            revision: "a".repeat(40),
            from: vec!["c".repeat(40), "b".repeat(40)],
            reason: "runner\nbroke builds".into(),
            operator: "olivia".into(),
            at: 0,
        };
        assert_eq!(
            describe(&pin),
            "pinned to revision aaaaaaaaaaaa by olivia since 1970-01-01 00:00:00 UTC: runner broke builds \
             (rolled back from cccccccccccc, bbbbbbbbbbbb; `distributor unpin` follows the head again)"
        );
    }
}
