//! The provincial view as CSV: the same tables as the hub's page, one after another, each
//! with its own header row and separated by an empty line, so a spreadsheet opens it as is
//! and a script can split it on the empty lines. UTF-8 with a byte-order mark, CRLF line
//! ends; text cells are escaped like panel exports (no formula runs on opening).
//!
//! Tables, in order: `summary` (measure, value), `status` (status, people), `tier` (tier,
//! people waiting), `offers` (side, yes, no, yes %, no %), `decline_reasons` (reason,
//! offers), `communities` (community, one column per tier, waiting, offered, capacity per
//! month, accepting providers, months the waiting would take at that capacity).

use attach_domain::matching::ProvinceReport;

use super::csv::push_cell;

/// One CSV line of escaped cells, CRLF-ended.
pub(crate) fn line(out: &mut String, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_cell(out, c);
    }
    out.push_str("\r\n");
}

fn opt(v: Option<impl ToString>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// The report as CSV bytes.
pub fn write_province_csv(r: &ProvinceReport) -> Vec<u8> {
    let mut out = String::with_capacity(4096 + r.communities.len() * 96);
    out.push('\u{FEFF}');
    line(&mut out, &["table", "measure", "value"]);
    let at =
        r.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
    for (measure, value) in [
        ("computed_at_utc", at),
        ("people_waiting", r.waiting.to_string()),
        ("median_wait_days", opt(r.median_wait_days)),
        ("p90_wait_days", opt(r.p90_wait_days)),
        ("offers_open", r.offers_open.to_string()),
        ("people_in_open_offers", r.people_in_open_offers.to_string()),
        ("offers_made", r.offers_total.to_string()),
        ("monthly_capacity", r.capacity.to_string()),
        ("accepting_providers", r.accepting_providers.to_string()),
    ] {
        line(&mut out, &["summary", measure, &value]);
    }
    out.push_str("\r\n");
    line(&mut out, &["table", "status", "people"]);
    for (s, n) in &r.by_status {
        line(&mut out, &["status", s.key(), &n.to_string()]);
    }
    out.push_str("\r\n");
    line(&mut out, &["table", "tier", "people_waiting"]);
    for (name, n) in r.tiers.iter().zip(&r.waiting_by_tier) {
        line(&mut out, &["tier", name, &n.to_string()]);
    }
    out.push_str("\r\n");
    line(
        &mut out,
        &["table", "side", "yes", "no", "yes_percent", "no_percent"],
    );
    for (side, rate) in [("provider", r.provider_side), ("patient", r.patient_side)] {
        line(
            &mut out,
            &[
                "offers",
                side,
                &rate.yes.to_string(),
                &rate.no.to_string(),
                &opt(rate.yes_percent()),
                &opt(rate.no_percent()),
            ],
        );
    }
    out.push_str("\r\n");
    line(&mut out, &["table", "reason", "offers"]);
    for (reason, n) in &r.decline_reasons {
        line(&mut out, &["decline_reasons", reason.key(), &n.to_string()]);
    }
    out.push_str("\r\n");
    let mut header = vec!["table".to_owned(), "community".to_owned()];
    header.extend(r.tiers.iter().cloned());
    header.extend(
        [
            "waiting",
            "offered",
            "monthly_capacity",
            "accepting_providers",
            "months_to_clear",
        ]
        .map(str::to_owned),
    );
    line(
        &mut out,
        &header.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for c in &r.communities {
        let mut cells = vec!["communities".to_owned(), c.community.clone()];
        cells.extend(c.waiting_by_tier.iter().map(ToString::to_string));
        cells.push(c.waiting.to_string());
        cells.push(c.offered.to_string());
        cells.push(c.capacity.to_string());
        cells.push(c.accepting_providers.to_string());
        cells.push(opt(c.months_to_clear()));
        line(
            &mut out,
            &cells.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    out.into_bytes()
}
