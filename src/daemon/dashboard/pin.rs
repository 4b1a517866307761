//! The dashboard's pin banner: while a rollback pins the fleet, which
//! revision every cycle renders, since when, who pinned it and why, what
//! was rolled back, and how to lift it. Made from the ledger's pin (the
//! status record's [`PinRecord`]), as `status` and `/status` show it.

use serde::Serialize;

use crate::output::record::{PinRecord, pin_since};
use crate::plan::message::{revisions, short};

/// The pin, every value plain text (the template escapes it).
#[derive(Debug, Serialize)]
pub(super) struct PinView<'a> {
    /// The pinned revision, in full (the tooltip).
    full: &'a str,
    /// The pinned revision, 12 digits.
    short: &'a str,
    /// `2026-12-02 08:00:00 UTC`.
    since: String,
    operator: &'a str,
    reason: String,
    /// The revisions rolled back, short, newest first.
    from: String,
}

/// The banner's view of `pin`, if the fleet is pinned.
pub(super) fn view(pin: Option<&PinRecord>) -> Option<PinView<'_>> {
    pin.map(|p| PinView {
        full: &p.to,
        short: short(&p.to),
        since: pin_since(p),
        operator: &p.operator,
        reason: p.reason.replace(['\n', '\r'], " "),
        from: revisions(&p.from),
    })
}

#[cfg(test)]
mod tests {
    use crate::daemon::dashboard::render;
    use crate::daemon::ledger::Ledger;
    use crate::output::record::PinRecord;

    /// The banner names the revision, when, who, why, what was rolled
    /// back and how to lift the pin; there is none while unpinned.
    #[test]
    fn the_banner_shows_the_pin_and_how_to_lift_it() {
        let unpinned = render(&Ledger::default(), 0).unwrap();
        assert!(!unpinned.contains("id=\"pin\""), "{unpinned}");
        let ledger = Ledger {
            pin: Some(PinRecord {
                to: "a".repeat(40),
                from: vec!["c".repeat(40), "b".repeat(40)],
                reason: "runner broke builds".into(),
                operator: "olivia".into(),
                since: "2026-12-02T08:00:00Z".into(),
            }),
            ..Ledger::default()
        };
        let html = render(&ledger, 0).unwrap();
        let at = html.find("id=\"pin\"").unwrap();
        let banner = &html[at..at + html[at..].find("</section>").unwrap()];
        assert!(
            banner.contains(&format!(
                "Every cycle renders revision <code title=\"{}\">aaaaaaaaaaaa</code>, pinned since \
                 2026-12-02 08:00:00 UTC by olivia: runner broke builds</p>",
                "a".repeat(40)
            )),
            "{banner}"
        );
        assert!(
            banner.contains("Rolled back from cccccccccccc, bbbbbbbbbbbb."),
            "{banner}"
        );
        assert!(
            banner.contains("<code>distributor unpin</code>"),
            "{banner}"
        );
        assert!(
            html.contains("pinned to aaaaaaaaaaaa; "),
            "the summary line"
        );
    }
}
