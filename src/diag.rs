//! Collected validation problems. Every check in the pure core reports into a
//! list of [`Diagnostic`]s instead of stopping at the first one, so an
//! operator sees all problems of a change at once, each with its location.
//! The same problem in many repos (a template error hits every repo using
//! the template) is printed once, naming the repos.

use std::fmt;

/// One problem, with where it is (file:line:column, a JSON path, a
/// template), the repo it was found in when it depends on one, and what is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub location: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
}

impl Diagnostic {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            location: location.into(),
            message: message.into(),
            repo: None,
        }
    }

    /// A problem found while rendering `repo`.
    pub fn in_repo(
        location: impl Into<String>,
        message: impl Into<String>,
        repo: impl Into<String>,
    ) -> Self {
        Diagnostic {
            repo: Some(repo.into()),
            ..Diagnostic::new(location, message)
        }
    }
}

/// How many characters of a user-supplied value a message quotes.
pub const QUOTED_CHARS: usize = 200;

/// `value` as given, or its first [`QUOTED_CHARS`] characters followed by
/// `… (N bytes)` when longer: a message must not echo a 10 MB value whole.
pub fn cut(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => value.to_string(),
        Some((end, _)) => format!("{}… ({} bytes)", &value[..end], value.len()),
    }
}

/// `value` quoted like `{:?}`, cut like [`cut`]: `"abc"`, or
/// `"abc…"… (N bytes)` when longer than [`QUOTED_CHARS`] characters.
pub fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}… ({} bytes)", &value[..end], value.len()),
    }
}

/// How many repos a grouped problem lists by name before "and N more".
const REPOS_NAMED: usize = 5;

/// `location` with the repos added inside its trailing parenthesis, or in a
/// new one.
fn locate(location: &str, repos: &[&str]) -> String {
    let phrase = match repos {
        [] => return location.to_string(),
        [one] => format!("repo {one}"),
        many if many.len() <= REPOS_NAMED => format!("{} repos: {}", many.len(), many.join(", ")),
        many => format!(
            "{} repos: {} and {} more",
            many.len(),
            many[..REPOS_NAMED].join(", "),
            many.len() - REPOS_NAMED
        ),
    };
    match location.strip_suffix(')') {
        Some(open) => format!("{open}, {phrase})"),
        None => format!("{location} ({phrase})"),
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let repos: Vec<&str> = self.repo.iter().map(String::as_str).collect();
        write!(f, "{}: {}", locate(&self.location, &repos), self.message)
    }
}

/// All problems found by a validation pass. Non-empty by construction when
/// returned as an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(Diagnostic::new(location, message));
    }
    /// A problem found while rendering `repo`.
    pub fn push_in_repo(
        &mut self,
        location: impl Into<String>,
        message: impl Into<String>,
        repo: &str,
    ) {
        self.0.push(Diagnostic::in_repo(location, message, repo));
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// `Ok(value)` when nothing was reported, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl Diagnostics {
    /// Problems with the same location and message grouped, in order of
    /// first appearance: `(location, message, repos)`.
    pub fn grouped(&self) -> Vec<(&str, &str, Vec<&str>)> {
        let mut groups: Vec<(&str, &str, Vec<&str>)> = Vec::new();
        for d in &self.0 {
            let found = groups
                .iter_mut()
                .find(|(l, m, _)| *l == d.location && *m == d.message);
            match found {
                Some((_, _, repos)) => {
                    if let Some(r) = d.repo.as_deref()
                        && !repos.contains(&r)
                    {
                        repos.push(r);
                    }
                }
                None => groups.push((
                    &d.location,
                    &d.message,
                    d.repo.as_deref().into_iter().collect(),
                )),
            }
        }
        groups
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups = self.grouped();
        let n = groups.len();
        writeln!(
            f,
            "{n} problem{} found; nothing was written:",
            if n == 1 { "" } else { "s" }
        )?;
        for (location, message, repos) in groups {
            writeln!(f, "  error: {}: {message}", locate(location, &repos))?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_in_messages() {
        assert_eq!(quote("mango"), "\"mango\"");
        assert_eq!(cut("mango"), "mango");
        let long = "é".repeat(300);
        let q = quote(&long);
        assert_eq!(q, format!("{:?}… (600 bytes)", "é".repeat(200)));
        assert_eq!(cut(&long), format!("{}… (600 bytes)", "é".repeat(200)));
        let exact = "x".repeat(QUOTED_CHARS);
        assert_eq!(cut(&exact), exact);
    }

    #[test]
    fn the_same_problem_in_many_repos_is_printed_once() {
        let mut d = Diagnostics::default();
        for r in ["acme/a", "acme/b"] {
            d.0.push(Diagnostic::in_repo(
                "t.j2:3 (template of bundle `x`)",
                "undefined",
                r,
            ));
        }
        d.push("registry.json: teams", "no teams");
        let text = d.to_string();
        assert_eq!(
            text,
            "2 problems found; nothing was written:\n  \
             error: t.j2:3 (template of bundle `x`, 2 repos: acme/a, acme/b): undefined\n  \
             error: registry.json: teams: no teams\n"
        );
    }

    #[test]
    fn long_repo_lists_are_cut() {
        let mut d = Diagnostics::default();
        for i in 0..8 {
            d.0.push(Diagnostic::in_repo(
                "skip_files",
                "typo",
                format!("acme/r{i}"),
            ));
        }
        assert!(
            d.to_string().contains(
                "skip_files (8 repos: acme/r0, acme/r1, acme/r2, acme/r3, acme/r4 and 3 more): typo"
            ),
            "{d}"
        );
        let one = Diagnostic::in_repo("x", "y", "acme/r");
        assert_eq!(one.to_string(), "x (repo acme/r): y");
    }
}
