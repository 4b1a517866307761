//! Revisions as an operator types them: `promote` and `resume` take a full
//! revision or any unique prefix of one (the 12-character form the held
//! and halted messages print), resolved like git resolves a short commit
//! id against the revisions distributor knows (the platform history and
//! the rollout log). Unknown and ambiguous ones are refused by name.

use std::collections::BTreeSet;

/// The shortest prefix accepted (git's own minimum).
pub const MIN_PREFIX: usize = 4;

/// The one revision among `known` that `input` names: itself, or the only
/// one it is a prefix of. `what` names the set in errors ("the platform
/// history and the rollout log", "halted revisions").
pub fn resolve<'a>(
    input: &str,
    known: impl IntoIterator<Item = &'a str>,
    what: &str,
) -> Result<String, String> {
    let input = input.trim();
    let known: BTreeSet<&str> = known.into_iter().collect();
    if known.contains(input) {
        return Ok(input.to_string());
    }
    let shown = crate::diag::quote(input);
    if input.len() < MIN_PREFIX {
        return Err(format!(
            "revision {shown} is too short: give at least {MIN_PREFIX} characters of it"
        ));
    }
    let lower = input.to_ascii_lowercase();
    let matches: Vec<&str> = known
        .iter()
        .copied()
        .filter(|k| k.to_ascii_lowercase().starts_with(&lower))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).to_string()),
        [] => Err(format!(
            "unknown revision {shown}: it is not in {what}{}",
            if known.is_empty() {
                " (none known)".to_string()
            } else {
                String::new()
            }
        )),
        many => Err(format!(
            "ambiguous revision {shown}: it starts {} revisions ({}); give more characters",
            many.len(),
            many.iter()
                .take(5)
                .map(|m| short(m))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The 12-character form printed in messages.
fn short(revision: &str) -> String {
    revision.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "2e969dc260d6f1e0c2b5a7d9e3f4a1b2c3d4e5f6";
    const B: &str = "2e969dc2aaaa0000111122223333444455556666";
    const C: &str = "deadbeef00000000000000000000000000000000";

    #[test]
    fn a_full_revision_or_a_unique_prefix_resolves() {
        let known = [A, B, C];
        assert_eq!(resolve(A, known, "h").unwrap(), A);
        assert_eq!(resolve("2e969dc260d6", known, "h").unwrap(), A);
        assert_eq!(resolve("DEADBEEF", known, "h").unwrap(), C);
        // An unversioned run's key is a revision too.
        let dirty = "unversioned+c5279156f609";
        assert_eq!(resolve("unversioned+c52", [dirty], "h").unwrap(), dirty);
    }

    #[test]
    fn unknown_ambiguous_and_short_revisions_are_refused_by_name() {
        let known = [A, B, C];
        assert_eq!(
            resolve("2e969dc2", known, "the platform history").unwrap_err(),
            "ambiguous revision \"2e969dc2\": it starts 2 revisions (2e969dc260d6, 2e969dc2aaaa); give more characters"
        );
        assert_eq!(
            resolve("cafe1234", known, "the platform history").unwrap_err(),
            "unknown revision \"cafe1234\": it is not in the platform history"
        );
        assert_eq!(
            resolve("2e9", known, "h").unwrap_err(),
            "revision \"2e9\" is too short: give at least 4 characters of it"
        );
        assert_eq!(
            resolve("cafe1234", [], "halted revisions").unwrap_err(),
            "unknown revision \"cafe1234\": it is not in halted revisions (none known)"
        );
    }
}
