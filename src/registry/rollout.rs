//! The rollout policy, resolved: the registry's `waves`, `rollout` and
//! `waivers` and the bundle manifests' `labels` and `direct_after`, parsed
//! into durations, epochs and defaults. What the policy *does* with them is
//! described in `docs/rollout.md`; this module only says what was asked
//! for. Pure, and independent of the current time: an expired waiver is a
//! value like any other (see [`Waiver::active`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::model::{Registry, WaiverEntry};
use crate::time::{Epoch, end_of_date, parse_duration};

/// The rollout policy of one platform revision.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rollout {
    /// Waves in declared order.
    pub waves: Vec<WavePolicy>,
    /// New distributor pull requests per hour, org-wide; `None`: unlimited,
    /// `Some(0)`: no new pull requests.
    pub pr_hourly_limit: Option<u32>,
    /// Open distributor pull requests at once, org-wide; `None`: unlimited.
    pub pr_concurrent_limit: Option<u32>,
    /// Repos receiving a direct commit in one run; `None`: unlimited.
    pub direct_commits_per_run: Option<u32>,
    /// A repo behind (or a pull request open) longer than this is stale.
    #[serde(serialize_with = "option_duration_text")]
    pub stale_after: Option<Duration>,
    /// A pull request open longer than this gets one escalation comment.
    #[serde(serialize_with = "option_duration_text")]
    pub escalate_after: Option<Duration>,
    /// Failures of one revision that halt its rollout; at least 1. `None`:
    /// never halt (the default unless a wave declares a soak: a staged
    /// rollout halts on the first failure).
    pub halt_after_failures: Option<u32>,
    /// Every bundle of the templates, with the default policy when its
    /// manifest says nothing.
    pub bundles: BTreeMap<String, BundlePolicy>,
}

/// One wave and how long a revision soaks in it before the next wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WavePolicy {
    pub name: String,
    /// How long this wave must be in sync with a revision before the next
    /// wave receives it; `None`: the next wave does not wait for this one.
    #[serde(serialize_with = "option_duration_text")]
    pub soak: Option<Duration>,
}

/// What a bundle's manifest says about its rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BundlePolicy {
    /// Labels this bundle's changes carry (added to pull requests).
    pub labels: Vec<String>,
    /// A pull request carrying only this bundle's changes that stays open
    /// longer than this falls back to a direct commit.
    #[serde(serialize_with = "option_duration_text")]
    pub direct_after: Option<Duration>,
}

impl BundlePolicy {
    /// Whether the bundle is labelled `security` (any case): its changes
    /// jump the pull request queue.
    pub fn security(&self) -> bool {
        self.labels
            .iter()
            .any(|l| l.eq_ignore_ascii_case("security"))
    }
}

impl Rollout {
    /// The policy of a registry that validated, with the bundles' policies
    /// (every bundle of the templates). Values that do not parse (only
    /// possible when validation was skipped) fall back to their defaults.
    pub fn new(registry: &Registry, bundles: BTreeMap<String, BundlePolicy>) -> Rollout {
        let r = &registry.rollout;
        let duration = |s: &Option<String>| s.as_deref().and_then(|t| parse_duration(t).ok());
        Rollout {
            waves: registry
                .waves
                .iter()
                .map(|w| WavePolicy {
                    name: w.name.clone(),
                    soak: duration(&w.soak),
                })
                .collect(),
            pr_hourly_limit: r.pr_hourly_limit,
            pr_concurrent_limit: r.pr_concurrent_limit,
            direct_commits_per_run: r.direct_commits_per_run,
            stale_after: duration(&r.stale_after),
            escalate_after: duration(&r.escalate_after),
            halt_after_failures: r
                .halt_after_failures
                .or(registry.waves.iter().any(|w| w.soak.is_some()).then_some(1))
                .map(|n| n.max(1)),
            bundles,
        }
    }

    /// The position of `wave` among the declared waves; `None` when no
    /// waves are declared, `wave` is `None`, or it is not declared.
    pub fn wave_index(&self, wave: Option<&str>) -> Option<usize> {
        let wave = wave?;
        self.waves.iter().position(|w| w.name == wave)
    }

    /// The policy of `bundle`; the default one for a bundle not in
    /// [`Rollout::bundles`].
    pub fn bundle(&self, bundle: &str) -> BundlePolicy {
        self.bundles.get(bundle).cloned().unwrap_or_default()
    }
}

/// A waiver of one repo: a file or bundle kept out of the rollout, with an
/// owner, until the end of `expires` (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    pub scope: WaiverScope,
    /// The person or team accountable.
    pub owner: String,
    /// `YYYY-MM-DD`, as written.
    pub expires: String,
    /// The first second after the `expires` day.
    pub expires_at: Epoch,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a waiver covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaiverScope {
    /// One target path.
    File(String),
    /// Every file of one bundle.
    Bundle(String),
}

impl Waiver {
    /// The waiver of a registry entry; `None` when the entry is invalid
    /// (validation reports it).
    pub fn from_entry(entry: &WaiverEntry) -> Option<Waiver> {
        let scope = match (&entry.file, &entry.bundle) {
            (Some(f), None) => WaiverScope::File(f.clone()),
            (None, Some(b)) => WaiverScope::Bundle(b.clone()),
            _ => return None,
        };
        Some(Waiver {
            scope,
            owner: entry.owner.clone(),
            expires: entry.expires.clone(),
            expires_at: end_of_date(&entry.expires)?,
            reason: entry.reason.clone(),
        })
    }

    /// Whether the waiver covers the file `path` of bundle `bundle`
    /// (whatever its expiry).
    pub fn covers(&self, path: &str, bundle: &str) -> bool {
        match &self.scope {
            WaiverScope::File(p) => p == path,
            WaiverScope::Bundle(b) => b == bundle,
        }
    }

    /// Whether the waiver still holds at `now`.
    pub fn active(&self, now: Epoch) -> bool {
        now < self.expires_at
    }
}

/// Whether a waiver's `repo` (`OWNER/NAME`, or `NAME` for a repo of
/// `default_owner`) names `owner/name`, case-insensitively like GitHub.
pub fn names_repo(reference: &str, default_owner: &str, owner: &str, name: &str) -> bool {
    let (o, n) = reference
        .split_once('/')
        .unwrap_or((default_owner, reference));
    o.eq_ignore_ascii_case(owner) && n.eq_ignore_ascii_case(name)
}

/// A duration as written in the registry: the largest unit that divides it
/// (`7d`, `36h`, `90s`).
pub fn duration_string(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s > 0 && s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

fn option_duration_text<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&duration_string(*d)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::parse;
    use serde_json::json;

    fn waiver(file: Option<&str>, bundle: Option<&str>, expires: &str) -> Option<Waiver> {
        Waiver::from_entry(&WaiverEntry {
            repo: "acme/kiwi-app".into(),
            file: file.map(str::to_string),
            bundle: bundle.map(str::to_string),
            owner: "alice".into(),
            expires: expires.into(),
            reason: None,
        })
    }

    #[test]
    fn a_file_waiver_covers_that_path_in_any_bundle() {
        let w = waiver(Some(".github/workflows/ci.yml"), None, "2026-12-31").unwrap();
        assert!(w.covers(".github/workflows/ci.yml", "baseline"));
        assert!(w.covers(".github/workflows/ci.yml", "security"));
        assert!(!w.covers(".github/workflows/CI.yml", "baseline"));
        assert!(!w.covers(".github/CODEOWNERS", "baseline"));
    }

    #[test]
    fn a_bundle_waiver_covers_every_file_of_that_bundle() {
        let w = waiver(None, Some("baseline"), "2026-12-31").unwrap();
        assert!(w.covers(".github/CODEOWNERS", "baseline"));
        assert!(w.covers(".editorconfig", "baseline"));
        assert!(!w.covers(".github/workflows/security.yml", "security"));
    }

    #[test]
    fn a_waiver_is_active_through_its_expiry_day() {
        let w = waiver(None, Some("baseline"), "2026-12-31").unwrap();
        let day = end_of_date("2026-12-30").unwrap(); // 2026-12-31T00:00:00Z
        assert_eq!(w.expires_at, day + 86_400);
        assert!(w.active(day - 1));
        assert!(w.active(day));
        assert!(w.active(day + 86_399)); // 23:59:59 on the 31st
        assert!(!w.active(day + 86_400)); // midnight: expired
        assert!(!w.active(day + 365 * 86_400));
    }

    #[test]
    fn invalid_entries_resolve_to_no_waiver() {
        assert_eq!(waiver(Some("a"), Some("b"), "2026-12-31"), None);
        assert_eq!(waiver(None, None, "2026-12-31"), None);
        assert_eq!(waiver(Some("a"), None, "2026-02-30"), None);
    }

    #[test]
    fn waiver_scope_serializes_as_its_key() {
        let w = waiver(Some("x.yml"), None, "2026-12-31").unwrap();
        assert_eq!(json!(w.scope), json!({"file": "x.yml"}));
        let w = waiver(None, Some("baseline"), "2026-12-31").unwrap();
        assert_eq!(json!(w.scope), json!({"bundle": "baseline"}));
    }

    #[test]
    fn repo_references_default_to_the_default_owner() {
        assert!(names_repo("kiwi-app", "acme", "acme", "kiwi-app"));
        assert!(names_repo("acme/kiwi-app", "acme", "acme", "kiwi-app"));
        assert!(names_repo("ACME/Kiwi-App", "acme", "acme", "kiwi-app"));
        assert!(!names_repo("kiwi-app", "acme", "other", "kiwi-app"));
        assert!(names_repo("other/kiwi-app", "acme", "other", "kiwi-app"));
        assert!(!names_repo("acme/kiwi", "acme", "acme", "kiwi-app"));
    }

    #[test]
    fn security_is_a_label_in_any_case() {
        assert!(!BundlePolicy::default().security());
        let p = |labels: &[&str]| BundlePolicy {
            labels: labels.iter().map(|l| l.to_string()).collect(),
            direct_after: None,
        };
        assert!(p(&["security"]).security());
        assert!(p(&["infra", "Security"]).security());
        assert!(!p(&["security-review", "infra"]).security());
    }

    fn registry(extra: &str) -> Registry {
        parse(
            "t.json",
            &format!(
                r#"{{"version": 1, "stages": ["dev"], {extra}
                    "defaults": {{"owner": "acme"}},
                    "teams": {{"t": {{"owners": {{"users": ["u"]}}, "repos": [{{"name": "r"}}]}}}}}}"#
            ),
        )
        .unwrap()
    }

    #[test]
    fn wave_index_is_the_declared_position() {
        let r = Rollout::new(
            &registry(
                r#""waves": [{"name": "canary", "soak": "2h"}, {"name": "early", "soak": "1d"}, {"name": "default"}],"#,
            ),
            BTreeMap::new(),
        );
        assert_eq!(r.wave_index(Some("canary")), Some(0));
        assert_eq!(r.wave_index(Some("early")), Some(1));
        assert_eq!(r.wave_index(Some("default")), Some(2));
        assert_eq!(r.wave_index(Some("late")), None);
        assert_eq!(r.wave_index(None), None);
        assert_eq!(r.waves[0].soak, Some(Duration::from_secs(7200)));
        assert_eq!(r.waves[1].soak, Some(Duration::from_secs(86_400)));
        assert_eq!(r.waves[2].soak, None);

        let none = Rollout::new(&registry(""), BTreeMap::new());
        assert_eq!(none.wave_index(Some("canary")), None);
        assert_eq!(Rollout::default().wave_index(None), None);
    }

    #[test]
    fn absent_settings_are_todays_behaviour() {
        let r = Rollout::new(&registry(""), BTreeMap::new());
        assert_eq!(r.pr_hourly_limit, None);
        assert_eq!(r.pr_concurrent_limit, None);
        assert_eq!(r.direct_commits_per_run, None);
        assert_eq!(r.stale_after, None);
        assert_eq!(r.escalate_after, None);
        assert_eq!(r.halt_after_failures, None);
        assert_eq!(Rollout::default().halt_after_failures, None);
    }

    #[test]
    fn settings_parse_and_serialize_as_written() {
        let mut bundles = BTreeMap::new();
        bundles.insert(
            "security".to_string(),
            BundlePolicy {
                labels: vec!["security".into()],
                direct_after: Some(Duration::from_secs(3 * 86_400)),
            },
        );
        let r = Rollout::new(
            &registry(
                r#""rollout": {"pr_hourly_limit": 0, "pr_concurrent_limit": 50,
                    "direct_commits_per_run": 100, "stale_after": "7d",
                    "escalate_after": "2w", "halt_after_failures": 3},"#,
            ),
            bundles,
        );
        assert_eq!(r.pr_hourly_limit, Some(0));
        assert_eq!(r.stale_after, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(r.escalate_after, Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(r.halt_after_failures, Some(3));
        assert!(r.bundle("security").security());
        assert_eq!(r.bundle("nope"), BundlePolicy::default());
        let v = json!(r);
        assert_eq!(v["stale_after"], json!("7d"));
        assert_eq!(v["escalate_after"], json!("14d"));
        assert_eq!(v["bundles"]["security"]["direct_after"], json!("3d"));
        assert_eq!(duration_string(Duration::from_secs(90)), "90s");
        assert_eq!(duration_string(Duration::from_secs(5400)), "90m");
        assert_eq!(duration_string(Duration::ZERO), "0s");
    }
}
