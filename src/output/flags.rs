//! `distributor flags` as text and markdown (JSON is the
//! [`crate::flags::FlagsReport`] itself): per flag, one line per stage with
//! the registry value and where it stands, then the repos holding it up
//! (pending pull requests oldest first, waiting with the reason, blocked
//! with the file), at most [`HOLDERS`] per kind.

use std::fmt::Write as _;
use std::time::Duration;

use crate::flags::{FlagsReport, StageReport};
use crate::time;

/// Repos listed per kind of holder before "and N more".
pub const HOLDERS: usize = 10;

/// The registry value across the repos of a stage: `on`, `off`, or both
/// counted.
fn value(s: &StageReport) -> String {
    match (s.on, s.off) {
        (0, 0) => "not set".into(),
        (_, 0) => "on".into(),
        (0, _) => "off".into(),
        (on, off) => format!("on in {on}, off in {off}"),
    }
}

/// Where a stage stands, in one phrase.
fn standing(s: &StageReport) -> String {
    let applicable = s.live.len() + s.pending.len() + s.waiting.len() + s.blocked.len();
    if s.complete {
        return match applicable {
            0 => "read by no repo".into(),
            1 => "live everywhere (1 repo)".into(),
            n => format!("live everywhere ({n} repos)"),
        };
    }
    let mut parts = vec![format!("{} of {applicable} live", s.live.len())];
    for (n, what) in [
        (s.pending.len(), "pending"),
        (s.waiting.len(), "waiting"),
        (s.blocked.len(), "blocked"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join(", ")
}

fn age(secs: Option<u64>) -> String {
    secs.map(|s| format!("open {}", time::human(Duration::from_secs(s))))
        .unwrap_or_else(|| "awaiting merge on the proposal branch".into())
}

/// The holders of a stage as `(kind, repo, detail)` rows, capped per kind.
fn holders(s: &StageReport) -> Vec<(&'static str, String, String)> {
    let mut rows = Vec::new();
    let mut kind = |name: &'static str, items: Vec<(String, String)>| {
        let total = items.len();
        rows.extend(items.into_iter().take(HOLDERS).map(|(r, d)| (name, r, d)));
        if total > HOLDERS {
            rows.push((name, format!("and {} more", total - HOLDERS), String::new()));
        }
    };
    kind(
        "pending",
        s.pending
            .iter()
            .map(|p| {
                let pr = p.pull_request.map(|n| format!("#{n} ")).unwrap_or_default();
                (p.repo.clone(), format!("{pr}{}", age(p.age_secs)))
            })
            .collect(),
    );
    kind(
        "waiting",
        s.waiting
            .iter()
            .map(|w| (w.repo.clone(), w.reason.clone()))
            .collect(),
    );
    kind(
        "blocked",
        s.blocked
            .iter()
            .map(|b| (b.repo.clone(), format!("{} {}", b.path, b.state.as_str())))
            .collect(),
    );
    rows
}

/// More repos than this waiting for one same reason are one text row.
const GROUPED_ABOVE: usize = 3;

/// The holders as text rows: [`holders`], but the repos waiting for one
/// same reason (a held wave, a spent budget) are one row when there are
/// more than [`GROUPED_ABOVE`]: `25 repos  wave default waits ... (acme/a,
/// acme/b, acme/c and 22 more)`.
fn text_holders(s: &StageReport) -> Vec<(&'static str, String, String)> {
    let all = holders(s);
    let of = |kind: &str| {
        all.iter()
            .filter(|(k, ..)| *k == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for w in &s.waiting {
        match groups.iter_mut().find(|(reason, _)| *reason == w.reason) {
            Some((_, repos)) => repos.push(&w.repo),
            None => groups.push((&w.reason, vec![&w.repo])),
        }
    }
    let mut waiting = Vec::new();
    let mut single = Vec::new();
    for (reason, repos) in groups {
        if repos.len() > GROUPED_ABOVE {
            let named = repos[..GROUPED_ABOVE].join(", ");
            let more = repos.len() - GROUPED_ABOVE;
            waiting.push((
                "waiting",
                format!("{} repos", repos.len()),
                format!("{reason} ({named} and {more} more)"),
            ));
        } else {
            single.extend(repos.into_iter().map(|r| (r, reason)));
        }
    }
    let total = single.len();
    waiting.extend(
        single
            .into_iter()
            .take(HOLDERS)
            .map(|(r, reason)| ("waiting", r.to_string(), reason.to_string())),
    );
    if total > HOLDERS {
        waiting.push((
            "waiting",
            format!("and {} more", total - HOLDERS),
            String::new(),
        ));
    }
    let mut rows = of("pending");
    rows.extend(waiting);
    rows.extend(of("blocked"));
    rows
}

/// The first `n` holders of a stage in one line (`acme/b #7 open 3d 2h;
/// acme/c wave late waits ...; and 3 more`), for the dashboard; empty when
/// nothing holds it.
pub fn holders_line(s: &StageReport, n: usize) -> String {
    let all: Vec<String> = holders(s)
        .into_iter()
        .filter(|(_, repo, _)| !repo.starts_with("and "))
        .map(|(kind, repo, detail)| format!("{repo} {kind}: {detail}"))
        .collect();
    let total = s.pending.len() + s.waiting.len() + s.blocked.len();
    let mut line = all.into_iter().take(n).collect::<Vec<_>>().join("; ");
    if total > n {
        line.push_str(&format!("; and {} more", total - n));
    }
    line
}

/// The registry value across a stage's repos, as text lines say it.
pub fn value_text(s: &StageReport) -> String {
    value(s)
}

/// The report as text.
pub fn text(report: &FlagsReport) -> String {
    let mut out = String::new();
    if report.flags.is_empty() {
        out.push_str("No flags.\n");
        return out;
    }
    for flag in &report.flags {
        let _ = writeln!(out, "{}", flag.name);
        let width = flag.stages.iter().map(|s| s.stage.len()).max().unwrap_or(0);
        for s in &flag.stages {
            let mut aside = Vec::new();
            if !s.unread.is_empty() {
                aside.push(format!("{} not reading it", s.unread.len()));
            }
            if !s.not_applicable.is_empty() {
                aside.push(format!("{} without {}", s.not_applicable.len(), s.stage));
            }
            let na = match aside.is_empty() {
                true => String::new(),
                false => format!(" ({})", aside.join(", ")),
            };
            let _ = writeln!(
                out,
                "  {:width$}  {} · {}{na}",
                s.stage,
                value(s),
                standing(s)
            );
            let rows = text_holders(s);
            let repo_width = rows.iter().map(|(_, r, _)| r.len()).max().unwrap_or(0);
            for (kind, repo, detail) in rows {
                let line = format!("  {:width$}    {kind:8} {repo:repo_width$}  {detail}", "");
                let _ = writeln!(out, "{}", line.trim_end());
            }
        }
    }
    if !report.out_of_order.is_empty() {
        out.push_str("\nOut of order (the registry's flag_order):\n");
        for o in &report.out_of_order {
            let _ = writeln!(out, "  {}", out_of_order_line(o));
        }
    }
    let verdict = if report.complete {
        "Every flag's registry value is live everywhere."
    } else {
        "Some flags are still on their way (see the repos above)."
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}

/// `new_db is on in prd while stg is not live everywhere yet (held up by
/// acme/a, acme/b and 3 more)`.
pub fn out_of_order_line(o: &crate::flags::OutOfOrder) -> String {
    let named: Vec<&str> = o.holders.iter().take(3).map(String::as_str).collect();
    let more = match o.holders.len().saturating_sub(3) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "{} is on in {} while {} is not live everywhere yet (held up by {}{more})",
        o.flag,
        o.stage,
        o.earlier,
        named.join(", ")
    )
}

/// The report as markdown: a table per flag, then the holders.
pub fn markdown(report: &FlagsReport) -> String {
    let mut out = String::from("## Flags\n\n");
    for o in &report.out_of_order {
        let _ = writeln!(
            out,
            "> **Out of order:** {}\n",
            escape(&out_of_order_line(o))
        );
    }
    for flag in &report.flags {
        let mark = if flag.complete { "live" } else { "on its way" };
        let _ = writeln!(out, "### `{}` ({mark})\n", flag.name);
        out.push_str(
            "| stage | value | live | pending | waiting | blocked | without the stage |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
        for s in &flag.stages {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                s.stage,
                value(s),
                s.live.len(),
                s.pending.len(),
                s.waiting.len(),
                s.blocked.len(),
                s.not_applicable.len()
            );
        }
        let rows: Vec<String> = flag
            .stages
            .iter()
            .flat_map(|s| {
                holders(s).into_iter().map(move |(kind, repo, detail)| {
                    format!("- {} {kind}: `{repo}` {}", s.stage, escape(&detail))
                })
            })
            .collect();
        if !rows.is_empty() {
            out.push('\n');
            for row in rows {
                let _ = writeln!(out, "{}", row.trim_end());
            }
        }
        out.push('\n');
    }
    out
}

/// Keeps a free-text reason from opening markdown structure.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{Blocked, FlagReport, Pending, Waiting};
    use crate::plan::FileState;

    fn report() -> FlagsReport {
        let stg = StageReport {
            stage: "stg".into(),
            on: 4,
            off: 0,
            live: vec!["acme/a".into()],
            pending: vec![Pending {
                repo: "acme/b".into(),
                pull_request: Some(7),
                url: None,
                age_secs: Some(3 * 86_400 + 7200),
            }],
            waiting: vec![Waiting {
                repo: "acme/c".into(),
                reason: "wave late waits for wave early".into(),
            }],
            blocked: vec![Blocked {
                repo: "acme/d".into(),
                path: "tf/stg.json".into(),
                state: FileState::Drifted,
            }],
            unread: vec![],
            not_applicable: vec!["acme/e".into()],
            complete: false,
        };
        let prd = StageReport {
            stage: "prd".into(),
            off: 4,
            live: ["a", "b", "c", "d"].map(|r| format!("acme/{r}")).to_vec(),
            not_applicable: vec!["acme/e".into()],
            complete: true,
            ..StageReport::default()
        };
        FlagsReport {
            schema: crate::flags::SCHEMA,
            out_of_order: Vec::new(),
            flags: vec![FlagReport {
                name: "new_db".into(),
                stages: vec![stg, prd],
                complete: false,
            }],
            complete: false,
        }
    }

    #[test]
    fn text_names_every_holder_with_its_reason() {
        assert_eq!(
            text(&report()),
            "new_db\n\
             \x20 stg  on · 1 of 4 live, 1 pending, 1 waiting, 1 blocked (1 without stg)\n\
             \x20        pending  acme/b  #7 open 3d 2h\n\
             \x20        waiting  acme/c  wave late waits for wave early\n\
             \x20        blocked  acme/d  tf/stg.json drifted\n\
             \x20 prd  off · live everywhere (4 repos) (1 without prd)\n\
             \n\
             Some flags are still on their way (see the repos above).\n"
        );
    }

    #[test]
    fn markdown_has_a_table_per_flag_and_the_holders() {
        let md = markdown(&report());
        assert!(md.contains("### `new_db` (on its way)"), "{md}");
        assert!(md.contains("| stg | on | 1 | 1 | 1 | 1 | 1 |"), "{md}");
        assert!(md.contains("| prd | off | 4 | 0 | 0 | 0 | 1 |"), "{md}");
        assert!(md.contains("- stg pending: `acme/b` #7 open 3d 2h"), "{md}");
        assert!(
            md.contains("- stg blocked: `acme/d` tf/stg.json drifted"),
            "{md}"
        );
    }

    #[test]
    fn long_lists_of_holders_are_cut_with_a_count() {
        let mut r = report();
        r.flags[0].stages[0].waiting = (0..13)
            .map(|i| Waiting {
                repo: format!("acme/r{i:02}"),
                reason: format!("queued: position {i}"),
            })
            .collect();
        let t = text(&r);
        assert!(t.contains("acme/r09"), "{t}");
        assert!(!t.contains("acme/r10"), "{t}");
        assert!(t.contains("waiting  and 3 more"), "{t}");
    }

    #[test]
    fn repos_waiting_for_one_reason_are_one_row() {
        let mut r = report();
        let mut waiting: Vec<Waiting> = (0..25)
            .map(|i| Waiting {
                repo: format!("acme/d{i:02}"),
                reason: "wave default waits for wave canary".into(),
            })
            .collect();
        waiting.push(Waiting {
            repo: "acme/e1".into(),
            reason: "queued: pr_hourly_limit reached, position 1".into(),
        });
        r.flags[0].stages[0].waiting = waiting;
        let t = text(&r);
        assert!(
            t.contains(
                "waiting  25 repos  wave default waits for wave canary (acme/d00, acme/d01, acme/d02 and 22 more)"
            ),
            "{t}"
        );
        assert!(
            t.contains("waiting  acme/e1   queued: pr_hourly_limit reached, position 1"),
            "{t}"
        );
        assert!(!t.contains("acme/d03"), "{t}");
    }
}
