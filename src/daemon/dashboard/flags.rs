//! The dashboard's flags panel: per flag and stage, the registry value,
//! how many repos have it live, pending, waiting or blocked, and the first
//! repos holding it up (`distributor flags` as the last full cycle saw it).

use serde::Serialize;

use crate::flags::FlagsReport;
use crate::output::flags::{holders_line, value_text};

/// Holders named per stage before "and N more".
const HOLDERS: usize = 3;

/// One flag.
#[derive(Debug, Serialize)]
pub(super) struct FlagRow {
    name: String,
    /// Live in every repo of every stage.
    complete: bool,
    stages: Vec<StageRow>,
}

/// One stage of a flag.
#[derive(Debug, Serialize)]
pub(super) struct StageRow {
    stage: String,
    value: String,
    live: usize,
    pending: usize,
    waiting: usize,
    blocked: usize,
    /// The first holders, or empty.
    holders: String,
}

/// The panel's rows; none before a cycle covered the fleet.
pub(super) fn rows(report: Option<&FlagsReport>) -> Vec<FlagRow> {
    let Some(report) = report else {
        return Vec::new();
    };
    report
        .flags
        .iter()
        .map(|f| FlagRow {
            name: f.name.clone(),
            complete: f.complete,
            stages: f
                .stages
                .iter()
                .map(|s| StageRow {
                    stage: s.stage.clone(),
                    value: value_text(s),
                    live: s.live.len(),
                    pending: s.pending.len(),
                    waiting: s.waiting.len(),
                    blocked: s.blocked.len(),
                    holders: holders_line(s, HOLDERS),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{FlagReport, Pending, StageReport, Waiting};

    #[test]
    fn a_stage_names_its_first_holders_then_counts_the_rest() {
        let stage = StageReport {
            stage: "prd".into(),
            on: 5,
            live: vec!["acme/a".into()],
            pending: vec![Pending {
                repo: "acme/b".into(),
                pull_request: Some(7),
                url: None,
                age_secs: Some(86_400),
            }],
            waiting: (0..4)
                .map(|i| Waiting {
                    repo: format!("acme/w{i}"),
                    reason: "held".into(),
                })
                .collect(),
            ..StageReport::default()
        };
        let report = FlagsReport {
            schema: crate::flags::SCHEMA,
            out_of_order: Vec::new(),
            flags: vec![FlagReport {
                name: "new_db".into(),
                stages: vec![stage],
                complete: false,
            }],
            complete: false,
        };
        let rows = rows(Some(&report));
        let s = &rows[0].stages[0];
        assert_eq!((s.live, s.pending, s.waiting, s.blocked), (1, 1, 4, 0));
        assert_eq!(s.value, "on");
        assert_eq!(
            s.holders,
            "acme/b pending: #7 open 1d; acme/w0 waiting: held; acme/w1 waiting: held; and 2 more"
        );
        assert!(super::rows(None).is_empty());
    }
}
