//! The HTML dashboard at `GET /`: one server-rendered page from the
//! [`Ledger`], for an operator asking "is the fleet healthy, and if not,
//! which repos need me?". Pure: ledger and clock in, HTML out. No
//! JavaScript and no external assets (inline CSS only), so it works behind
//! any proxy and under a `default-src 'none'` content security policy.
//!
//! The page is the minijinja template `dashboard.html.j2` (embedded in the
//! binary), rendered from a `Page`: a plain serializable view-model this module builds
//! from the ledger, with every decision made in Rust (sort order, times and
//! durations, which files to list, which URLs may be links) so the
//! template only lays it out. The template's [`Environment`] is built once;
//! it has HTML auto-escaping on, so every value printed is escaped without
//! the template asking, and strict undefined behaviour, so a misspelt
//! variable fails rendering (and the tests) instead of printing nothing.
//! Links are emitted only for `http(s)` URLs: the view-model carries an
//! `href` only after `is_web_url` accepted it.
//!
//! Rendering returns an error rather than panicking; the HTTP handler
//! answers it with a 500.

mod flags;
mod pin;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior};
use serde::Serialize;

use super::ledger::{Ledger, RepoEntry, outcome_key};
use crate::plan::{FileState, RepoStatus};

/// Files listed per repo in the attention table before "… and N more":
/// enough for a typical bundle, short enough to keep rows scannable.
const MAX_FILES_SHOWN: usize = 8;

/// Seconds between automatic reloads (a `<meta http-equiv="refresh">`,
/// not script): about as often as anything can change between cycles.
const REFRESH_SECONDS: u32 = 60;

/// The template's name; its `.html` part is what turns auto-escaping on.
const TEMPLATE_NAME: &str = "dashboard.html.j2";

/// The page's template (markup and CSS), embedded at compile time.
const TEMPLATE: &str = include_str!("dashboard.html.j2");

/// The environment with the page's template, compiled on first use. A
/// template that does not compile is a bug caught by the tests; should
/// one ship anyway, every render reports it instead of panicking.
static ENVIRONMENT: LazyLock<Result<Environment<'static>, Error>> =
    LazyLock::new(|| environment(TEMPLATE));

/// Renders the dashboard for `ledger` as of `now_epoch` (seconds).
///
/// Fails only on a bug in the template or the view-model (never because of
/// what the ledger holds); the error names the template line.
pub fn render(ledger: &Ledger, now_epoch: u64) -> Result<String, Error> {
    let env = match &*ENVIRONMENT {
        Ok(env) => env,
        Err(e) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("the dashboard template does not compile: {e}"),
            ));
        }
    };
    render_with(env, &Page::new(ledger, now_epoch))
}

fn render_with(env: &Environment<'_>, page: &Page<'_>) -> Result<String, Error> {
    env.get_template(TEMPLATE_NAME)?
        .render(Value::from(Serde(page)))
}

/// An environment holding `source` as the page template: HTML
/// auto-escaping, strict undefined, block tags that leave no blank lines.
fn environment(source: &'static str) -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_formatter(html_formatter);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()?,
    );
    env.add_template(TEMPLATE_NAME, source)?;
    Ok(env)
}

/// Prints a value with the page's escaping: strings not marked safe (all
/// of them: the template marks nothing safe; macro output is safe because
/// it was escaped as it was built) are escaped by [`escape_html`], the rest
/// (numbers, `none`) go to minijinja's own formatter. Undefined values
/// never get here: strict undefined fails the render first.
///
/// minijinja's built-in HTML escaping would do as well for safety, but it
/// also writes `/` as `&#x2f;` and `'` as `&#x27;`: every URL and path in
/// the page source would change (`href="https:&#x2f;&#x2f;github.com…"`),
/// and so would what the daemon's HTTP tests match.
fn html_formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    match value.as_str() {
        Some(s) if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() => {
            escape_html(out, s).map_err(Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Writes `text` HTML-escaped (for element content and quoted attributes).
fn escape_html(out: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    let mut rest = text;
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        out.write_str(&rest[..i])?;
        out.write_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        })?;
        rest = &rest[i + 1..];
    }
    out.write_str(rest)
}

/// Everything the template prints, already decided: text is plain text
/// (escaped on output), `href`s are present only for `http(s)` URLs, lists
/// are in display order.
#[derive(Debug, Serialize)]
struct Page<'a> {
    refresh_seconds: u32,
    /// The ledger's one-line summary.
    summary: String,
    /// The render time, `2024-05-01 12:34:56 UTC`.
    now: String,
    config_error: Option<&'a str>,
    /// Every repo status key, in the order of the cards and wave columns.
    statuses: Vec<&'static str>,
    totals: TotalsView,
    last_cycle: Option<CycleView<'a>>,
    /// Whether the ledger has any repo (the empty-state messages).
    repos_recorded: bool,
    /// Repos not in sync, waiting for the rollout or stale, most severe
    /// first.
    attention: Vec<AttentionRow<'a>>,
    /// The halted revision, if the rollout is halted.
    halt: Option<HaltView<'a>>,
    /// The pinned revision, while a rollback pins the fleet.
    pin: Option<pin::PinView<'a>>,
    /// The declared waves in rollout order, then waves the ledger's repos
    /// name that the rollout does not (by name), then repos without one.
    waves: Vec<WaveRow<'a>>,
    /// Where each flag stands per stage (empty before a full cycle).
    flags: Vec<flags::FlagRow>,
}

/// A halted rollout.
#[derive(Debug, Serialize)]
struct HaltView<'a> {
    revision: Abbreviated<'a>,
    reason: &'a str,
    since: &'a str,
}

/// A number of things with a status or state key.
#[derive(Debug, Serialize)]
struct Count {
    key: &'static str,
    n: usize,
}

#[derive(Debug, Serialize)]
struct TotalsView {
    repos: usize,
    by_status: Vec<Count>,
    pull_requests_open: usize,
    files_by_state: Vec<Count>,
    /// Repos the rollout holds back (`queued`, `held`, `halted`), and
    /// stale ones, every key listed.
    waiting: Vec<Count>,
}

#[derive(Debug, Serialize)]
struct CycleView<'a> {
    number: u64,
    trigger: String,
    outcome: &'static str,
    started: Moment,
    duration: String,
    revision: Option<Abbreviated<'a>>,
    /// The repos a webhook limited the cycle to, comma-separated.
    only: Option<String>,
    last_success: Option<Moment>,
    error: Option<&'a str>,
}

/// A point in time, absolute and relative to the render.
#[derive(Debug, Serialize)]
struct Moment {
    utc: String,
    ago: String,
}

/// A revision or commit shown short, with the full value in a tooltip.
#[derive(Debug, Serialize)]
struct Abbreviated<'a> {
    full: &'a str,
    short: &'a str,
    /// The commit's page, when the repo has a web URL.
    href: Option<String>,
}

#[derive(Debug, Serialize)]
struct AttentionRow<'a> {
    repo: &'a str,
    repo_href: Option<&'a str>,
    team: &'a str,
    wave: &'a str,
    status: &'static str,
    /// The rollout decision (`held`, ...), empty when none.
    decision: &'a str,
    /// Why the repo waits for the rollout, naming what it waits for.
    reason: Option<&'a str>,
    /// How far behind it is (`STALE: 2 revisions behind for 3d`).
    staleness: Option<String>,
    /// The proposal in words, when there is no pull request to link.
    proposal: Option<&'a str>,
    /// The first [`MAX_FILES_SHOWN`] files not in sync.
    files: Vec<FileView<'a>>,
    /// How many more are not in sync.
    more_files: usize,
    pull_request: Option<PullView<'a>>,
    last_commit: Option<Abbreviated<'a>>,
    last_error: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct FileView<'a> {
    path: &'a str,
    state: &'static str,
    reason: &'static str,
}

#[derive(Debug, Serialize)]
struct PullView<'a> {
    number: u64,
    href: Option<&'a str>,
    opened_ago: Option<String>,
}

#[derive(Debug, Serialize)]
struct WaveRow<'a> {
    /// `None` for repos in no wave.
    name: Option<&'a str>,
    total: usize,
    /// Repos per status, in [`RepoStatus::ALL`] order.
    counts: Vec<usize>,
    in_sync_percent: usize,
    /// `open`, `held` or `halted`; empty for waves the rollout does not
    /// report.
    state: &'static str,
    /// Why it is held.
    waiting: Option<&'a str>,
    /// The wave's soak (`1d`), when it declares one.
    soak: Option<&'a str>,
    /// The soak still to run before the next wave opens (`3h 20m`).
    soak_remaining: Option<String>,
    /// Operator promotion.
    promoted_by: Option<&'a str>,
}

impl<'a> Page<'a> {
    fn new(ledger: &'a Ledger, now: u64) -> Page<'a> {
        let t = ledger.totals();
        let statuses: Vec<&'static str> = RepoStatus::ALL.iter().map(|s| s.key()).collect();
        Page {
            refresh_seconds: REFRESH_SECONDS,
            summary: ledger.summary(),
            now: utc_u(now),
            config_error: ledger.config_error.as_deref(),
            totals: TotalsView {
                repos: t.repos,
                by_status: statuses
                    .iter()
                    .map(|&key| Count {
                        key,
                        n: t.by_status.get(key).copied().unwrap_or(0),
                    })
                    .collect(),
                pull_requests_open: t.pull_requests_open,
                files_by_state: t
                    .files_by_state
                    .iter()
                    .map(|(&key, &n)| Count { key, n })
                    .collect(),
                waiting: ["queued", "held", "halted"]
                    .into_iter()
                    .map(|key| Count {
                        key,
                        n: t.decision(key),
                    })
                    .chain(std::iter::once(Count {
                        key: "stale",
                        n: t.stale,
                    }))
                    .collect(),
            },
            statuses,
            last_cycle: last_cycle(ledger, now),
            repos_recorded: !ledger.repos.is_empty(),
            attention: attention(ledger, now),
            halt: ledger
                .rollout
                .as_ref()
                .and_then(|r| r.halt.as_ref())
                .map(|h| HaltView {
                    revision: Abbreviated {
                        full: &h.revision,
                        short: short(&h.revision, 12),
                        href: None,
                    },
                    reason: &h.reason,
                    since: &h.since,
                }),
            pin: pin::view(ledger.pin.as_ref()),
            waves: waves(ledger, now),
            flags: flags::rows(ledger.flags.as_ref()),
        }
    }
}

fn last_cycle(ledger: &Ledger, now: u64) -> Option<CycleView<'_>> {
    let c = ledger.last_cycle.as_ref()?;
    let trigger = serde_json::to_value(c.trigger)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Some(CycleView {
        number: c.number,
        trigger,
        outcome: outcome_key(c.outcome),
        started: moment(now, c.started_at),
        duration: duration(c.duration_ms),
        revision: c.revision.as_deref().map(|r| Abbreviated {
            full: r,
            short: short(r, 12),
            href: None,
        }),
        only: (!c.only.is_empty()).then(|| c.only.join(", ")),
        last_success: ledger.last_success_at.map(|at| moment(now, at)),
        error: c.error.as_deref(),
    })
}

/// Order of the attention table: what needs a human most comes first.
fn severity(s: RepoStatus) -> u8 {
    match s {
        RepoStatus::Error => 0,
        RepoStatus::Drifted => 1,
        RepoStatus::ProposalPending => 2,
        RepoStatus::Outdated => 3,
        RepoStatus::InSync => 4,
    }
}

fn attention(ledger: &Ledger, now: u64) -> Vec<AttentionRow<'_>> {
    let mut repos: Vec<&RepoEntry> = ledger
        .repos
        .values()
        .filter(|r| r.needs_attention())
        .collect();
    repos.sort_by(|a, b| (severity(a.status), &a.repo).cmp(&(severity(b.status), &b.repo)));
    repos.into_iter().map(|r| attention_row(r, now)).collect()
}

fn attention_row(r: &RepoEntry, now: u64) -> AttentionRow<'_> {
    let web_url = r.url.as_deref().filter(|u| is_web_url(u));
    let pending: Vec<_> = r
        .files
        .iter()
        .filter(|f| f.state != FileState::InSync)
        .collect();
    AttentionRow {
        repo: &r.repo,
        repo_href: web_url,
        team: &r.team,
        wave: r.wave.as_deref().unwrap_or(""),
        status: r.status.key(),
        decision: r.decision.unwrap_or(""),
        reason: r.reason.as_deref(),
        staleness: r.staleness_line(),
        proposal: r.proposal.as_deref().filter(|_| r.pull_request.is_none()),
        files: pending
            .iter()
            .take(MAX_FILES_SHOWN)
            .map(|f| FileView {
                path: &f.path,
                state: f.state.as_str(),
                reason: f.why.unwrap_or(""),
            })
            .collect(),
        more_files: pending.len().saturating_sub(MAX_FILES_SHOWN),
        pull_request: r.pull_request.as_ref().map(|pr| PullView {
            number: pr.number,
            href: Some(pr.url.as_str()).filter(|u| is_web_url(u)),
            opened_ago: pr
                .created_at
                .as_deref()
                .and_then(parse_rfc3339_u)
                .map(|at| ago(now, at)),
        }),
        last_commit: r.last_commit.as_deref().map(|c| Abbreviated {
            full: c,
            short: short(c, 7),
            href: web_url.map(|u| format!("{}/commit/{c}", u.trim_end_matches('/'))),
        }),
        last_error: r.error.as_deref(),
    }
}

fn waves(ledger: &Ledger, now: u64) -> Vec<WaveRow<'_>> {
    let mut by_wave: BTreeMap<Option<&str>, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for r in ledger.repos.values() {
        *by_wave
            .entry(r.wave.as_deref())
            .or_default()
            .entry(r.status.key())
            .or_default() += 1;
    }
    let rollout = ledger.rollout.as_ref();
    let halted = rollout.is_some_and(|r| r.halt.is_some());
    let mut rows = Vec::new();
    for w in rollout.map(|r| r.waves.as_slice()).unwrap_or_default() {
        let counts = by_wave.remove(&Some(w.name.as_str())).unwrap_or_default();
        let mut row = wave_row(Some(&w.name), &counts);
        let behind = row.total > row.counts[0];
        row.state = match (halted && behind, w.open) {
            (true, _) => "halted",
            (false, true) => "open",
            (false, false) => "held",
        };
        row.waiting = w.waiting.as_deref().filter(|_| !w.open);
        row.soak = w.soak.as_deref();
        row.soak_remaining = w
            .opens_at
            .as_deref()
            .and_then(parse_rfc3339_u)
            .and_then(|at| at.checked_sub(now))
            .map(|s| crate::time::human(std::time::Duration::from_secs(s)));
        row.promoted_by = w.promoted_by.as_deref();
        rows.push(row);
    }
    // `None` sorts first in a BTreeMap; the page lists it last.
    let unnamed = by_wave.remove(&None);
    rows.extend(by_wave.iter().map(|(name, counts)| wave_row(*name, counts)));
    rows.extend(unnamed.iter().map(|counts| wave_row(None, counts)));
    rows
}

/// A wave's row from its repos' counts by status, with no rollout state.
fn wave_row<'a>(name: Option<&'a str>, counts: &BTreeMap<&'static str, usize>) -> WaveRow<'a> {
    let total: usize = counts.values().sum();
    let in_sync = counts.get(RepoStatus::InSync.key()).copied().unwrap_or(0);
    WaveRow {
        name,
        total,
        counts: RepoStatus::ALL
            .iter()
            .map(|s| counts.get(s.key()).copied().unwrap_or(0))
            .collect(),
        in_sync_percent: in_sync * 100 / total.max(1),
        state: "",
        waiting: None,
        soak: None,
        soak_remaining: None,
        promoted_by: None,
    }
}

fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn short(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `1.2s`, `3m 05s`, `1h 02m`.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{:.1}s", ms as f64 / 1000.0),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

fn moment(now: u64, then: u64) -> Moment {
    Moment {
        utc: utc_u(then),
        ago: ago(now, then),
    }
}

/// How long before `now` `then` was, coarsely.
fn ago(now: u64, then: u64) -> String {
    let Some(d) = now.checked_sub(then) else {
        return "in the future".into();
    };
    match d {
        0..10 => "just now".into(),
        10..60 => format!("{d}s ago"),
        60..3600 => format!("{}m ago", d / 60),
        3600..86400 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86400),
    }
}

/// `2024-05-01 12:34:56 UTC`.
fn utc_u(epoch: u64) -> String {
    crate::time::utc(epoch as crate::time::Epoch)
}

fn parse_rfc3339_u(s: &str) -> Option<u64> {
    crate::time::parse_rfc3339(s).and_then(|t| u64::try_from(t).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::Trigger;
    use crate::daemon::ledger::{Cycle, Outcome};
    use crate::output::record::{FileRecord, PullRecord};
    use crate::plan::Route;

    /// 2024-05-01 12:00:00 UTC.
    const NOW: u64 = 1_714_564_800;

    fn entry(repo: &str, status: RepoStatus) -> RepoEntry {
        RepoEntry {
            team: "payments".into(),
            wave: Some("canary".into()),
            files: vec![FileRecord {
                path: ".github/workflows/ci.yml".into(),
                state: FileState::Drifted,
                reason: Some(crate::plan::Reason::EditedByHand),
                why: Some("changed since distributor wrote it"),
                route: Route::Proposal,
                bundle: "baseline".into(),
                note: None,
                merge: None,
            }],
            seen_at: NOW,
            ..RepoEntry::blank(repo, status)
        }
    }

    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        let mut broken = entry("acme/<script>alert(1)</script>", RepoStatus::Error);
        broken.error = Some("<script>alert('x')</script> & more".into());
        broken.wave = None;
        let mut pending = entry("acme/api", RepoStatus::ProposalPending);
        pending.pull_request = Some(PullRecord {
            number: 12,
            url: "https://github.com/acme/api/pull/12".into(),
            created_at: Some("2024-04-28T12:00:00Z".into()),
            open_for: None,
        });
        let mut evil = entry("acme/web", RepoStatus::Drifted);
        evil.pull_request = Some(PullRecord {
            number: 7,
            url: "javascript:alert(1)".into(),
            created_at: None,
            open_for: None,
        });
        evil.last_commit = Some("0123456789abcdef0123456789abcdef01234567".into());
        let mut fine = entry("acme/ok", RepoStatus::InSync);
        fine.files[0].state = FileState::InSync;
        for e in [broken, pending, evil, fine] {
            l.repos.insert(e.repo.clone(), e);
        }
        l.last_cycle = Some(Cycle {
            number: 3,
            trigger: Trigger::Webhook,
            started_at: NOW - 300,
            duration_ms: 65_000,
            outcome: Outcome::Partial,
            revision: Some("abcdef0123456789abcdef".into()),
            error: None,
            only: vec![],
        });
        l.last_success_at = Some(NOW - 235);
        l
    }

    #[test]
    fn every_ledger_value_is_escaped() {
        let mut l = ledger();
        l.config_error = Some("registry.json: <bad> \"value\"".into());
        let html = render(&l, NOW).unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("acme/&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
        assert!(html.contains("registry.json: &lt;bad&gt; &quot;value&quot;"));
    }

    #[test]
    fn only_web_urls_become_links() {
        let html = render(&ledger(), NOW).unwrap();
        assert!(html.contains("<a href=\"https://github.com/acme/api/pull/12\">#12</a>"));
        assert!(html.contains("opened 3d ago"));
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("#7"));
    }

    #[test]
    fn attention_lists_unhealthy_repos_by_severity() {
        let html = render(&ledger(), NOW).unwrap();
        let section =
            &html[html.find("id=\"attention\"").unwrap()..html.find("id=\"waves\"").unwrap()];
        assert!(section.contains("Needs attention (3)"));
        let error = section.find("acme/&lt;script").unwrap();
        let drifted = section.find("acme/web").unwrap();
        let pending = section.find("acme/api").unwrap();
        assert!(error < drifted && drifted < pending);
        assert!(!section.contains("acme/ok"));
        assert!(
            section.contains(
                "<code title=\"0123456789abcdef0123456789abcdef01234567\">0123456</code>"
            )
        );
        assert!(section.contains("<code>.github/workflows/ci.yml</code>"));
    }

    #[test]
    fn waves_count_repos_by_status_with_none_last() {
        let html = render(&ledger(), NOW).unwrap();
        let section = &html[html.find("id=\"waves\"").unwrap()..];
        let canary = section
            .find("<tr><td>canary</td><td class=\"num\">3</td>")
            .unwrap();
        let none = section.find("(none)").unwrap();
        assert!(canary < none);
        // canary: 1 in sync, 0 outdated, 1 pending, 1 drifted, 0 error, 33%.
        assert!(
            section.contains(
                "<td class=\"num\">1</td><td class=\"num zero\">0</td><td class=\"num\">1</td>\
             <td class=\"num\">1</td><td class=\"num zero\">0</td><td class=\"num\">33%</td>"
            ),
            "{section}"
        );
    }

    #[test]
    fn last_cycle_and_config_error_are_shown() {
        let mut l = ledger();
        let html = render(&l, NOW).unwrap();
        assert!(html.contains("#3, triggered by webhook"));
        assert!(html.contains("st-partial"));
        assert!(html.contains("2024-05-01 11:55:00 UTC (5m ago)"));
        assert!(html.contains("1m 05s"));
        assert!(html.contains(">abcdef012345</code>"));
        assert!(!html.contains("config-error"));
        l.config_error = Some("bad yaml".into());
        l.last_cycle.as_mut().unwrap().error = Some("fetch failed".into());
        let html = render(&l, NOW).unwrap();
        assert!(html.contains("id=\"config-error\""));
        assert!(html.contains("<pre>fetch failed</pre>"));
    }

    /// Waves `canary` (soaking until 2h from now) and `beta` (held by the
    /// soak): the registry's order, not the alphabet.
    fn rollout(halt: bool) -> crate::rollout::Decisions {
        let wave = |name: &str| crate::rollout::WaveReport {
            name: name.into(),
            repos: 1,
            in_sync: 0,
            in_sync_since: None,
            soak: None,
            open: true,
            waiting: None,
            opens_at: None,
            promoted_by: None,
        };
        crate::rollout::Decisions {
            revision: "abcdef0123456789abcdef".into(),
            waves: vec![
                crate::rollout::WaveReport {
                    soak: Some("1d".into()),
                    ..wave("canary")
                },
                crate::rollout::WaveReport {
                    open: false,
                    waiting: Some("wave canary soaking until 2024-05-01 14:00:00 UTC".into()),
                    opens_at: Some("2024-05-01T14:00:00Z".into()),
                    ..wave("beta")
                },
            ],
            halt: halt.then(|| crate::rollout::Halt {
                revision: "abcdef0123456789abcdef".into(),
                reason: "1 failure: acme/api: checks failed on pull request #12".into(),
                since: "2024-05-01T11:00:00Z".into(),
            }),
            budget: Default::default(),
        }
    }

    #[test]
    fn waves_follow_the_rollout_order_with_soak_left_and_halt() {
        let mut l = ledger();
        let mut beta = entry("acme/zeta", RepoStatus::Outdated);
        beta.wave = Some("beta".into());
        beta.decision = Some("held");
        beta.reason = Some("held: wave canary soaking until 2024-05-01 14:00:00 UTC".into());
        beta.stale = true;
        l.repos.insert(beta.repo.clone(), beta);
        l.rollout = Some(rollout(false));
        let html = render(&l, NOW).unwrap();
        let waves = &html[html.find("id=\"waves\"").unwrap()..];
        let canary = waves.find("<tr><td>canary</td>").unwrap();
        let beta = waves.find("<tr><td>beta</td>").unwrap();
        let none = waves.find("(none)").unwrap();
        assert!(canary < beta && beta < none, "{waves}");
        assert!(waves.contains("<span class=\"st st-open\">open</span>"));
        assert!(waves.contains(
            "<span class=\"st st-held\">held</span> <span class=\"reason\">wave canary soaking until 2024-05-01 14:00:00 UTC</span>"
        ));
        assert!(waves.contains("1d"), "{waves}");
        assert!(waves.contains("(2h to go)"), "{waves}");
        assert!(!html.contains("id=\"halt\""));
        // The held repo is listed with its reason and counted.
        let attention =
            &html[html.find("id=\"attention\"").unwrap()..html.find("id=\"waves\"").unwrap()];
        assert!(
            attention.contains("held: wave canary soaking until"),
            "{attention}"
        );
        assert!(html.contains("<div class=\"card\" id=\"count-held\"><b>1</b>"));
        assert!(html.contains("<div class=\"card\" id=\"count-stale\"><b>1</b>"));

        l.rollout = Some(rollout(true));
        let html = render(&l, NOW).unwrap();
        let halt = &html[html.find("id=\"halt\"").unwrap()..];
        assert!(halt.contains("checks failed on pull request #12"));
        assert!(halt.contains("<code>distributor resume abcdef0123456789abcdef</code>"));
        let waves = &html[html.find("id=\"waves\"").unwrap()..];
        assert_eq!(
            waves
                .matches("<span class=\"st st-halted\">halted</span>")
                .count(),
            2
        );
    }

    #[test]
    fn an_empty_ledger_renders() {
        let html = render(&Ledger::default(), NOW).unwrap();
        assert!(html.contains("No cycle has run yet."));
        assert!(html.contains("No repos recorded yet."));
        assert!(html.starts_with("<!doctype html>"));
    }

    /// `"><script>alert('field')</script>`.
    fn evil(field: &str) -> String {
        format!("\"><script>alert('{field}')</script>")
    }

    /// [`ledger`] with hostile text in every field the page prints, and
    /// URLs that must not become links.
    fn hostile_ledger() -> Ledger {
        let mut l = ledger();
        let mut e = entry(&evil("repo"), RepoStatus::Error);
        e.team = evil("team");
        e.wave = Some(evil("wave"));
        e.files[0].path = evil("path");
        e.files[0].why = Some("\"><script>alert('reason')</script>");
        e.error = Some(evil("error"));
        e.last_commit = Some(evil("commit"));
        e.url = Some(format!("javascript:{}", evil("url")));
        e.pull_request = Some(PullRecord {
            number: 9,
            url: format!("JavaScript:{}", evil("pr")),
            created_at: Some(evil("created")),
            open_for: None,
        });
        // A web URL carrying markup stays a link, escaped inside its quotes.
        let mut web = entry("acme/quoted", RepoStatus::Drifted);
        web.url = Some(format!("https://github.com/acme/x{}", evil("weburl")));
        web.last_commit = Some(evil("webcommit"));
        web.pull_request = Some(PullRecord {
            number: 10,
            url: format!("https://github.com/acme/x/pull/10{}", evil("webpr")),
            created_at: None,
            open_for: None,
        });
        // Schemes that are not http(s), however spelt, never become links.
        let mut odd = entry("acme/odd", RepoStatus::Outdated);
        odd.url = Some(" javascript:alert(1)".into());
        odd.last_commit = Some("0123456789".into());
        odd.pull_request = Some(PullRecord {
            number: 11,
            url: "data:text/html,<script>alert(1)</script>".into(),
            created_at: None,
            open_for: None,
        });
        let mut tab = entry("acme/tab", RepoStatus::Outdated);
        tab.url = Some("https://github.com/acme/\ttab".into());
        tab.last_commit = Some("0123456789".into());
        for r in [e, web, odd, tab] {
            l.repos.insert(r.repo.clone(), r);
        }
        l.config_error = Some(evil("config"));
        let c = l.last_cycle.as_mut().unwrap();
        c.revision = Some(evil("revision"));
        c.error = Some(evil("cycle"));
        c.only = vec![evil("only"), "acme/api".into()];
        l.rollout = Some(crate::rollout::Decisions {
            revision: evil("rollout"),
            waves: vec![],
            halt: Some(crate::rollout::Halt {
                revision: evil("halt"),
                reason: evil("reason"),
                since: evil("since"),
            }),
            budget: Default::default(),
        });
        l.pin = Some(crate::output::record::PinRecord {
            to: evil("pinned"),
            from: vec![evil("from")],
            reason: evil("why"),
            operator: evil("operator"),
            since: evil("pinsince"),
        });
        l
    }

    /// Hostile text in every field the page prints: each field's marker
    /// must appear escaped, nothing may open a tag, and only the page's own
    /// links and `http(s)` URLs may become `href`s.
    #[test]
    fn hostile_text_is_escaped_everywhere_and_never_becomes_a_link() {
        let escaped = |field: &str| {
            format!("&quot;&gt;&lt;script&gt;alert(&#39;{field}&#39;)&lt;/script&gt;")
        };
        let l = hostile_ledger();
        let html = render(&l, NOW).unwrap();

        assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
        for field in [
            "repo",
            "team",
            "wave",
            "path",
            "reason",
            "error",
            "commit",
            "config",
            "revision",
            "cycle",
            "only",
            "weburl",
            "webcommit",
            "webpr",
            "from",
            "why",
            "operator",
            "pinsince",
        ] {
            assert!(
                html.contains(&escaped(field)),
                "{field} not escaped: {html}"
            );
        }
        // Shortened values: the halted revision in the summary (12 chars),
        // the cycle's revision (12) and the last commit (7).
        assert!(html.contains("rollout of &quot;&gt;&lt;script&gt;al HALTED"));
        assert!(html.contains(">&quot;&gt;&lt;script&gt;al</code>"));
        assert!(html.contains(">&quot;&gt;&lt;scri</code>"));
        // URLs that are not links are not printed at all.
        assert!(!html.to_ascii_lowercase().contains("javascript:"), "{html}");
        let hrefs: Vec<&str> = html
            .split("href=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap()])
            .collect();
        assert!(hrefs.contains(&"/status") && hrefs.contains(&"/metrics"));
        for href in &hrefs {
            assert!(
                href.starts_with("https://") || *href == "/status" || *href == "/metrics",
                "unexpected href {href:?}"
            );
            assert!(!href.contains(['<', '>', '\'', ' ', '\t']), "{href:?}");
        }
        assert!(hrefs.contains(
            &"https://github.com/acme/x&quot;&gt;&lt;script&gt;alert(&#39;weburl&#39;)&lt;/script&gt;"
        ));
        assert!(hrefs.contains(
            &"https://github.com/acme/x&quot;&gt;&lt;script&gt;alert(&#39;weburl&#39;)&lt;/script&gt;\
              /commit/&quot;&gt;&lt;script&gt;alert(&#39;webcommit&#39;)&lt;/script&gt;"
        ));
        assert!(hrefs.contains(
            &"https://github.com/acme/x/pull/10&quot;&gt;&lt;script&gt;alert(&#39;webpr&#39;)&lt;/script&gt;"
        ));
        assert!(!hrefs.iter().any(|h| h.contains("tab")), "{hrefs:?}");
        // The non-web PR URLs are not printed at all; their numbers are.
        assert!(html.contains("<td>#9</td>") && html.contains("<td>#11</td>"));
        assert!(!html.contains("data:text"));
    }

    #[test]
    fn the_environment_escapes_and_rejects_undefined_variables() {
        let empty = Ledger::default();
        let page = Page::new(&empty, NOW);
        let env = environment("{{ summary }} {{ nope }}").unwrap();
        let err = render_with(&env, &page).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UndefinedError, "{err}");
        let env = environment("{% if nope %}x{% endif %}").unwrap();
        assert!(render_with(&env, &page).is_err());
        let source =
            "{% macro m() %}<b>{{ x }}</b>{% endmacro %}{{ x }}|{{ y | safe }}|{{ m() }}|{{ n }}";
        let html = environment(source)
            .unwrap()
            .get_template(TEMPLATE_NAME)
            .unwrap()
            .render(minijinja::context! { x => "a/b <'&\">", y => "<i>", n => 7 })
            .unwrap();
        assert_eq!(
            html,
            "a/b &lt;&#39;&amp;&quot;&gt;|<i>|<b>a/b &lt;&#39;&amp;&quot;&gt;</b>|7"
        );
        assert!(environment("{% if %}").is_err());
    }
}
