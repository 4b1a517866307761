//! The `registry.json` data model (schema version 1), exactly as written on
//! disk. Parsing only: semantic checks live in `validate`, layering in
//! `context`. Every struct denies unknown keys so a typo is an error, not a
//! silently ignored setting.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The registry schema version this build understands.
pub const SCHEMA_VERSION: u64 = 1;

/// The whole registry file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Must be [`SCHEMA_VERSION`].
    pub version: u64,
    /// Ordered list of environment stage names (e.g. dev, uat, tst, stg,
    /// prd). The order is the promotion order and the fan-out order.
    pub stages: Vec<String>,
    /// The order flags are switched on, stage by stage (default: `stages`):
    /// `distributor flags` warns when a flag is on in a stage while an
    /// earlier one is not yet live fleet-wide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_order: Option<Vec<String>>,
    /// Ordered rollout waves; repos name one of them.
    #[serde(default)]
    pub waves: Vec<Wave>,
    /// Org-wide defaults.
    pub defaults: Defaults,
    /// Teams keyed by team name.
    pub teams: UniqueMap<Team>,
    /// Org-wide rollout limits and timers (see `docs/rollout.md`).
    #[serde(default)]
    pub rollout: RolloutSettings,
    /// Temporary, owned exceptions: a file or bundle a repo keeps out of
    /// the rollout until the waiver expires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<WaiverEntry>,
}

/// A rollout wave: repos of a wave receive a revision after every earlier
/// wave has, and after the previous wave's soak time.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How long every repo of this wave must have been in sync with a
    /// revision before the next waves receive it (`2h`, `1d`). Absent: the
    /// next wave does not wait for this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<String>,
}

/// `rollout`: org-wide pacing and escalation, exactly as written. Durations
/// are strings (`7d`), checked by `validate` and parsed into
/// [`super::Rollout`]. Every key is optional; absent means today's
/// behaviour (no limit, no timer).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSettings {
    /// New distributor pull requests per hour, org-wide; 0 pauses new ones.
    #[serde(
        default,
        deserialize_with = "pr_hourly_limit",
        skip_serializing_if = "Option::is_none"
    )]
    pub pr_hourly_limit: Option<u32>,
    /// Open distributor pull requests at once, org-wide.
    #[serde(
        default,
        deserialize_with = "pr_concurrent_limit",
        skip_serializing_if = "Option::is_none"
    )]
    pub pr_concurrent_limit: Option<u32>,
    /// Repos receiving a direct commit in one run.
    #[serde(
        default,
        deserialize_with = "direct_commits_per_run",
        skip_serializing_if = "Option::is_none"
    )]
    pub direct_commits_per_run: Option<u32>,
    /// A repo behind (or a pull request open) longer than this is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<String>,
    /// A pull request open longer than this gets one comment mentioning the
    /// team's owners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after: Option<String>,
    /// Failures of one revision that halt its rollout; at least 1. Absent:
    /// 1 when a wave declares a soak, else halting is off.
    #[serde(
        default,
        deserialize_with = "halt_after_failures",
        skip_serializing_if = "Option::is_none"
    )]
    pub halt_after_failures: Option<u32>,
}

/// `waivers[]`: one repo keeps one file, or one bundle, at what it has
/// until `expires`, with a named owner accountable for it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WaiverEntry {
    /// `OWNER/NAME`, or `NAME` for a repo of `defaults.owner`.
    pub repo: String,
    /// A target path (exactly one of `file` and `bundle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A bundle name (exactly one of `file` and `bundle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The person or team accountable.
    pub owner: String,
    /// `YYYY-MM-DD`: the waiver holds through that day (UTC).
    pub expires: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// Counts: a wrong value (`-1`, `2.5`, `"10"`) is an error that names its
// key, not serde's bare "expected u32".
fn pr_hourly_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    count(d, "rollout.pr_hourly_limit")
}
fn pr_concurrent_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    count(d, "rollout.pr_concurrent_limit")
}
fn direct_commits_per_run<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    count(d, "rollout.direct_commits_per_run")
}
fn halt_after_failures<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    count(d, "rollout.halt_after_failures")
}

/// A whole number from 0 to `u32::MAX`, or `null` (absent).
fn count<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<Option<u32>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) if n.as_u64().is_some_and(|n| n <= u64::from(u32::MAX)) => {
            Ok(n.as_u64().map(|n| n as u32))
        }
        other => Err(de::Error::custom(format_args!(
            "{key}: {} is not a whole number (0 or more)",
            crate::diag::cut(&other.to_string())
        ))),
    }
}

/// How changes reach a repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// One commit straight onto the default branch (drift still goes to a
    /// proposal).
    Direct,
    /// Everything goes through the proposal branch (a pull request on
    /// GitHub).
    Pr,
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Delivery::Direct => "direct",
            Delivery::Pr => "pr",
        })
    }
}

/// Commit identity used for distribution commits.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "distributor".into(),
            email: "distributor@users.noreply.github.com".into(),
        }
    }
}

/// Org-wide defaults, the lowest layer.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// GitHub organisation (or user) owning repos that do not name one.
    pub owner: String,
    /// Bundles every repo receives unless its team or itself says otherwise.
    #[serde(default)]
    pub bundles: Vec<String>,
    #[serde(default = "default_delivery")]
    pub delivery: Delivery,
    /// Wave of repos that do not name one. Must be a declared wave when
    /// waves are declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    /// Branch that carries proposals (pull requests on GitHub).
    #[serde(default = "default_proposal_branch")]
    pub proposal_branch: String,
    /// Where the lock file lives in every target repo.
    #[serde(default = "default_lock_path")]
    pub lock_path: String,
    #[serde(default)]
    pub commit_author: Author,
    /// How proposals are opened as pull requests on GitHub.
    #[serde(default)]
    pub pull_request: PullRequestSettings,
    #[serde(default)]
    pub vars: Vars,
    #[serde(default)]
    pub flags: BTreeMap<String, Flag>,
}

/// Pull request options (GitHub). Reviewers come from each team's owners.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PullRequestSettings {
    /// Labels put on every distributor pull request.
    #[serde(default = "default_labels")]
    pub labels: Vec<String>,
    /// Open pull requests as drafts.
    #[serde(default)]
    pub draft: bool,
    /// Enable auto-merge (where the repo allows it), so a pull request
    /// merges itself once its checks pass.
    #[serde(default)]
    pub auto_merge: bool,
    /// Ask the team's owners (users and teams) for review.
    #[serde(default = "default_true")]
    pub request_reviews: bool,
}

impl Default for PullRequestSettings {
    fn default() -> Self {
        PullRequestSettings {
            labels: default_labels(),
            draft: false,
            auto_merge: false,
            request_reviews: true,
        }
    }
}

fn default_labels() -> Vec<String> {
    vec!["distributor".into()]
}
fn default_true() -> bool {
    true
}

fn default_delivery() -> Delivery {
    Delivery::Pr
}
fn default_proposal_branch() -> String {
    "distributor/sync".into()
}
fn default_lock_path() -> String {
    ".github/distributor.lock.json".into()
}

/// Code owners of a team: GitHub team slugs (`org/team`) and user logins.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Owners {
    #[serde(default)]
    pub teams: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
}

/// A team and everything it owns.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub owners: Owners,
    /// Environments keyed by stage name.
    #[serde(default)]
    pub environments: UniqueMap<Environment>,
    /// Replaces `defaults.bundles` for the team's repos when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundles: Option<Vec<String>>,
    #[serde(default)]
    pub vars: Vars,
    #[serde(default)]
    pub flags: BTreeMap<String, Flag>,
    pub repos: Vec<Repo>,
}

/// One AWS environment of a team.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// 12-digit AWS account id (a string, so leading zeros survive).
    pub account: String,
    /// AWS region, e.g. `eu-west-1`.
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form extra fields: the environment layer of the variables.
    #[serde(default)]
    pub vars: Vars,
}

/// One target repository.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Repo {
    pub name: String,
    /// Defaults to `defaults.owner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Discovered from the forge when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<String>,
    /// Replaces the team's (or the defaults') bundle list when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundles: Option<Vec<String>>,
    /// Bundles removed from the inherited list (opt-out).
    #[serde(default)]
    pub skip_bundles: Vec<String>,
    /// Target paths this repo does not want managed (opt-out).
    #[serde(default)]
    pub skip_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    #[serde(default)]
    pub vars: Vars,
    #[serde(default)]
    pub flags: BTreeMap<String, Flag>,
}

/// Free-form template variables (a JSON object).
pub type Vars = serde_json::Map<String, Value>;

/// A feature flag: one value for every stage, or one per stage.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Flag {
    All(bool),
    PerStage(BTreeMap<String, bool>),
}

/// A JSON object whose keys must be unique. `serde_json` keeps the last of
/// two equal keys silently; for teams and environments that would drop a
/// whole team without a word, so this map refuses duplicates.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct UniqueMap<V>(pub BTreeMap<String, V>);

impl<V> Default for UniqueMap<V> {
    fn default() -> Self {
        UniqueMap(BTreeMap::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UniqueVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueVisitor<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with unique keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.contains_key(&key) {
                        return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(UniqueMap(out))
            }
        }
        deserializer.deserialize_map(UniqueVisitor(std::marker::PhantomData))
    }
}
