//! The HTML dashboard at `GET /`: one server-rendered page from the
//! [`Ledger`], for an operator asking "is the fleet healthy, and if not,
//! which repos need me?". Pure: ledger and clock in, HTML out. No
//! JavaScript and no external assets (inline CSS only), so it works behind
//! any proxy and under a `default-src 'none'` content security policy.
//!
//! Every value from the ledger is HTML-escaped ([`Esc`]); links are
//! emitted only for `http(s)` URLs.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use super::ledger::{Ledger, RepoEntry, outcome_key};
use crate::plan::{FileState, RepoStatus};

/// Files listed per repo in the attention table before "… and N more":
/// enough for a typical bundle, short enough to keep rows scannable.
const MAX_FILES_SHOWN: usize = 8;

/// Seconds between automatic reloads (a `<meta http-equiv="refresh">`,
/// not script): about as often as anything can change between cycles.
const REFRESH_SECONDS: u32 = 60;

const STYLE: &str = r#"
:root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
main{max-width:1280px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:22px;margin:0}
h2{font-size:16px;margin:28px 0 10px}
.sub,.muted{color:var(--muted)}
.sub{margin:4px 0 0}
a{color:#0969da}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{white-space:pre-wrap;word-break:break-word;margin:0}
.alert{border:1px solid #d1242f;border-left-width:6px;background:#ffebe9;border-radius:6px;padding:12px 16px;margin:18px 0}
.alert h2{margin:0 0 6px;color:#a40e26}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:18px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:24px;font-variant-numeric:tabular-nums}
.files-total{margin:10px 0 0}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}
dl.kv dt{color:var(--muted)}
dl.kv dd{margin:0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums}
td.zero{color:#afb8c1}
ul.files{list-style:none;margin:0;padding:0}
td.err{max-width:420px;color:#a40e26}
.st{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap;background:#eaeef2;color:#424a53}
.st-in_sync,.st-ok{background:#dafbe1;color:#116329}
.st-outdated,.st-missing,.st-orphaned{background:#ddf4ff;color:#0550ae}
.st-proposal_pending,.st-partial{background:#fff8c5;color:#7d4e00}
.st-drifted{background:#ffe7d1;color:#953800}
.st-error,.st-invalid,.st-failed{background:#ffebe9;color:#a40e26}
"#;

/// Renders the dashboard for `ledger` as of `now_epoch` (seconds).
pub fn render(ledger: &Ledger, now_epoch: u64) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <title>distributor: fleet status</title><style>{STYLE}</style></head><body><main>\n"
    );
    let _ = writeln!(
        out,
        "<header><h1>distributor: fleet status</h1><p class=\"sub\">{} &middot; as of {} &middot; \
         <a href=\"/status\">JSON</a> &middot; <a href=\"/metrics\">metrics</a></p></header>",
        Esc(&ledger.summary()),
        utc_u(now_epoch)
    );
    if let Some(err) = &ledger.config_error {
        let _ = writeln!(
            out,
            "<section class=\"alert\" id=\"config-error\"><h2>Configuration not loaded</h2>\
             <p>The last configuration or registry change could not be loaded; the previous \
             good one keeps running until this is fixed.</p><pre>{}</pre></section>",
            Esc(err)
        );
    }
    totals(&mut out, ledger);
    last_cycle(&mut out, ledger, now_epoch);
    attention(&mut out, ledger, now_epoch);
    waves(&mut out, ledger);
    out.push_str("</main></body></html>\n");
    out
}

fn totals(out: &mut String, ledger: &Ledger) {
    let t = ledger.totals();
    out.push_str("<section class=\"cards\" id=\"totals\">");
    let _ = write!(
        out,
        "<div class=\"card\"><b>{}</b><span class=\"muted\">repos</span></div>",
        t.repos
    );
    for s in RepoStatus::ALL {
        let key = s.key();
        let n = t.by_status.get(key).copied().unwrap_or(0);
        let _ = write!(out, "<div class=\"card\"><b>{n}</b>{}</div>", badge(key));
    }
    let _ = write!(
        out,
        "<div class=\"card\"><b>{}</b><span class=\"muted\">open pull requests</span></div>",
        t.pull_requests_open
    );
    out.push_str("</section>\n<p class=\"files-total\"><span class=\"muted\">Files:</span> ");
    if t.files_by_state.is_empty() {
        out.push_str("<span class=\"muted\">none observed yet</span>");
    }
    let mut first = true;
    for (state, n) in &t.files_by_state {
        if !first {
            out.push_str(" &middot; ");
        }
        first = false;
        let _ = write!(out, "{n} {}", badge(state));
    }
    out.push_str("</p>\n");
}

fn last_cycle(out: &mut String, ledger: &Ledger, now: u64) {
    out.push_str("<section id=\"last-cycle\"><h2>Last cycle</h2>");
    let Some(c) = &ledger.last_cycle else {
        out.push_str("<p class=\"muted\">No cycle has run yet.</p></section>\n");
        return;
    };
    let trigger = serde_json::to_value(c.trigger)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<dl class=\"kv\"><dt>Cycle</dt><dd>#{}, triggered by {}</dd>\
         <dt>Outcome</dt><dd>{}</dd><dt>Started</dt><dd>{} ({})</dd>\
         <dt>Duration</dt><dd>{}</dd>",
        c.number,
        Esc(&trigger),
        badge(outcome_key(c.outcome)),
        utc_u(c.started_at),
        ago(now, c.started_at),
        duration(c.duration_ms)
    );
    match &c.revision {
        Some(r) => {
            let _ = write!(
                out,
                "<dt>Revision</dt><dd><code title=\"{}\">{}</code></dd>",
                Esc(r),
                Esc(short(r, 12))
            );
        }
        None => out.push_str("<dt>Revision</dt><dd class=\"muted\">unknown</dd>"),
    }
    if !c.only.is_empty() {
        let _ = write!(out, "<dt>Only</dt><dd>{}</dd>", Esc(&c.only.join(", ")));
    }
    match ledger.last_success_at {
        Some(at) => {
            let _ = write!(
                out,
                "<dt>Last success</dt><dd>{} ({})</dd>",
                utc_u(at),
                ago(now, at)
            );
        }
        None => out.push_str("<dt>Last success</dt><dd class=\"muted\">never</dd>"),
    }
    out.push_str("</dl>");
    if let Some(e) = &c.error {
        let _ = write!(
            out,
            "<div class=\"alert\" id=\"cycle-error\"><h2>Cycle error</h2><pre>{}</pre></div>",
            Esc(e)
        );
    }
    out.push_str("</section>\n");
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

fn attention(out: &mut String, ledger: &Ledger, now: u64) {
    let mut repos: Vec<&RepoEntry> = ledger
        .repos
        .values()
        .filter(|r| r.status != RepoStatus::InSync)
        .collect();
    repos.sort_by(|a, b| (severity(a.status), &a.repo).cmp(&(severity(b.status), &b.repo)));
    let _ = write!(
        out,
        "<section id=\"attention\"><h2>Needs attention ({})</h2>",
        repos.len()
    );
    if repos.is_empty() {
        let msg = if ledger.repos.is_empty() {
            "No repos recorded yet."
        } else {
            "Nothing: every repo is in sync."
        };
        let _ = writeln!(out, "<p class=\"muted\">{msg}</p></section>");
        return;
    }
    out.push_str(
        "<table><thead><tr><th>Repo</th><th>Team</th><th>Wave</th><th>Status</th>\
         <th>Files needing attention</th><th>Pull request</th><th>Last commit</th>\
         <th>Last error</th></tr></thead><tbody>\n",
    );
    for r in repos {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
            match &r.url {
                Some(u) => link(u, &r.repo),
                None => Esc(&r.repo).to_string(),
            },
            or_dash(&r.team),
            or_dash(r.wave.as_deref().unwrap_or("")),
            badge(r.status.key())
        );
        files(out, r);
        out.push_str("</td><td>");
        match &r.pull_request {
            Some(pr) => {
                out.push_str(&link(&pr.url, &format!("#{}", pr.number)));
                if let Some(at) = pr.created_at.as_deref().and_then(parse_rfc3339_u) {
                    let _ = write!(out, " <span class=\"muted\">opened {}</span>", ago(now, at));
                }
            }
            None => out.push_str("<span class=\"muted\">&mdash;</span>"),
        }
        out.push_str("</td><td>");
        match &r.last_commit {
            Some(c) => {
                let code = format!("<code title=\"{}\">{}</code>", Esc(c), Esc(short(c, 7)));
                match r.url.as_deref().filter(|u| is_web_url(u)) {
                    Some(u) => {
                        let _ = write!(
                            out,
                            "<a href=\"{}/commit/{}\">{code}</a>",
                            Esc(u.trim_end_matches('/')),
                            Esc(c)
                        );
                    }
                    None => out.push_str(&code),
                }
            }
            None => out.push_str("<span class=\"muted\">&mdash;</span>"),
        }
        match &r.last_error {
            Some(e) => {
                let _ = writeln!(out, "</td><td class=\"err\">{}</td></tr>", Esc(e));
            }
            None => out.push_str("</td><td><span class=\"muted\">&mdash;</span></td></tr>\n"),
        }
    }
    out.push_str("</tbody></table></section>\n");
}

fn files(out: &mut String, r: &RepoEntry) {
    let pending: Vec<_> = r
        .files
        .iter()
        .filter(|f| f.state != FileState::InSync)
        .collect();
    if pending.is_empty() {
        out.push_str("<span class=\"muted\">&mdash;</span>");
        return;
    }
    out.push_str("<ul class=\"files\">");
    for f in pending.iter().take(MAX_FILES_SHOWN) {
        let _ = write!(
            out,
            "<li><code>{}</code> <span class=\"st st-{}\" title=\"{}\">{}</span></li>",
            Esc(&f.path),
            f.state.as_str(),
            Esc(f.reason.unwrap_or("")),
            f.state.as_str()
        );
    }
    if pending.len() > MAX_FILES_SHOWN {
        let _ = write!(
            out,
            "<li class=\"muted\">&hellip; and {} more</li>",
            pending.len() - MAX_FILES_SHOWN
        );
    }
    out.push_str("</ul>");
}

fn waves(out: &mut String, ledger: &Ledger) {
    out.push_str("<section id=\"waves\"><h2>Rollout by wave</h2>");
    if ledger.repos.is_empty() {
        out.push_str("<p class=\"muted\">No repos recorded yet.</p></section>\n");
        return;
    }
    // `None` sorts first in a BTreeMap; the page lists it last.
    let mut by_wave: BTreeMap<(bool, &str), BTreeMap<&'static str, usize>> = BTreeMap::new();
    for r in ledger.repos.values() {
        let key = (r.wave.is_none(), r.wave.as_deref().unwrap_or(""));
        *by_wave
            .entry(key)
            .or_default()
            .entry(r.status.key())
            .or_default() += 1;
    }
    out.push_str("<table><thead><tr><th>Wave</th><th class=\"num\">Repos</th>");
    for s in RepoStatus::ALL {
        let _ = write!(out, "<th class=\"num\">{}</th>", badge(s.key()));
    }
    out.push_str("<th class=\"num\">In sync</th></tr></thead><tbody>\n");
    for ((none, wave), counts) in &by_wave {
        let total: usize = counts.values().sum();
        let name = if *none {
            "<span class=\"muted\">(none)</span>".to_string()
        } else {
            Esc(wave).to_string()
        };
        let _ = write!(out, "<tr><td>{name}</td><td class=\"num\">{total}</td>");
        for s in RepoStatus::ALL {
            let n = counts.get(s.key()).copied().unwrap_or(0);
            let class = if n == 0 { "num zero" } else { "num" };
            let _ = write!(out, "<td class=\"{class}\">{n}</td>");
        }
        let in_sync = counts.get("in_sync").copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "<td class=\"num\">{}%</td></tr>",
            in_sync * 100 / total.max(1)
        );
    }
    out.push_str("</tbody></table></section>\n");
}

/// A status, state or outcome key as a coloured badge (keys are our own
/// snake_case names, never ledger text).
fn badge(key: &str) -> String {
    format!("<span class=\"st st-{key}\">{key}</span>")
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "<span class=\"muted\">&mdash;</span>".into()
    } else {
        Esc(s).to_string()
    }
}

/// `<a>` to `url` when it is `http(s)`; otherwise just the text.
fn link(url: &str, text: &str) -> String {
    if is_web_url(url) {
        format!("<a href=\"{}\">{}</a>", Esc(url), Esc(text))
    } else {
        Esc(text).to_string()
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

/// HTML-escapes its text (for element content and quoted attributes).
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
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
    use crate::daemon::ledger::{Cycle, FileEntry, Outcome, PullRef};
    use crate::plan::Route;

    /// 2024-05-01 12:00:00 UTC.
    const NOW: u64 = 1_714_564_800;

    fn entry(repo: &str, status: RepoStatus) -> RepoEntry {
        RepoEntry {
            repo: repo.into(),
            team: "payments".into(),
            wave: Some("canary".into()),
            status,
            files: vec![FileEntry {
                path: ".github/workflows/ci.yml".into(),
                state: FileState::Drifted,
                reason: Some("changed since distributor wrote it"),
                route: Route::Proposal,
            }],
            pull_request: None,
            last_commit: None,
            url: None,
            last_error: None,
            seen_at: NOW,
            rollout: None,
            stale: false,
        }
    }

    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        let mut broken = entry("acme/<script>alert(1)</script>", RepoStatus::Error);
        broken.last_error = Some("<script>alert('x')</script> & more".into());
        broken.wave = None;
        let mut pending = entry("acme/api", RepoStatus::ProposalPending);
        pending.pull_request = Some(PullRef {
            number: 12,
            url: "https://github.com/acme/api/pull/12".into(),
            created_at: Some("2024-04-28T12:00:00Z".into()),
        });
        let mut evil = entry("acme/web", RepoStatus::Drifted);
        evil.pull_request = Some(PullRef {
            number: 7,
            url: "javascript:alert(1)".into(),
            created_at: None,
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
        let html = render(&l, NOW);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("acme/&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
        assert!(html.contains("registry.json: &lt;bad&gt; &quot;value&quot;"));
    }

    #[test]
    fn only_web_urls_become_links() {
        let html = render(&ledger(), NOW);
        assert!(html.contains("<a href=\"https://github.com/acme/api/pull/12\">#12</a>"));
        assert!(html.contains("opened 3d ago"));
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("#7"));
    }

    #[test]
    fn attention_lists_unhealthy_repos_by_severity() {
        let html = render(&ledger(), NOW);
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
        let html = render(&ledger(), NOW);
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
        let html = render(&l, NOW);
        assert!(html.contains("#3, triggered by webhook"));
        assert!(html.contains("st-partial"));
        assert!(html.contains("2024-05-01 11:55:00 UTC (5m ago)"));
        assert!(html.contains("1m 05s"));
        assert!(html.contains(">abcdef012345</code>"));
        assert!(!html.contains("config-error"));
        l.config_error = Some("bad yaml".into());
        l.last_cycle.as_mut().unwrap().error = Some("fetch failed".into());
        let html = render(&l, NOW);
        assert!(html.contains("id=\"config-error\""));
        assert!(html.contains("<pre>fetch failed</pre>"));
    }

    #[test]
    fn an_empty_ledger_renders() {
        let html = render(&Ledger::default(), NOW);
        assert!(html.contains("No cycle has run yet."));
        assert!(html.contains("No repos recorded yet."));
        assert!(html.starts_with("<!doctype html>"));
    }
}
