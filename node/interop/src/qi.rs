//! A QI measure's points as CSV, beside its run chart: one line a month, with the counts
//! behind a computed value, how the point was taken, its place against the centre line,
//! and the values any correction replaced.

use super::province::line;
use attach_domain::qi::cycle::{Measure, MeasurePoint};
use attach_domain::qi::runchart::{Position, RunChartAnalysis};

/// The columns, in order.
pub const POINT_COLUMNS: [&str; 9] = [
    "month",
    "value",
    "unit",
    "numerator",
    "denominator",
    "taken",
    "centre_line",
    "against_centre_line",
    "replaced_values",
];

pub fn write_points_csv(
    measure: &Measure,
    points: &[MeasurePoint],
    chart: Option<&RunChartAnalysis>,
) -> Vec<u8> {
    let mut out = String::with_capacity(256 + points.len() * 80);
    out.push('\u{FEFF}');
    line(&mut out, &POINT_COLUMNS);
    for p in points {
        let place = chart
            .and_then(|c| c.points.iter().find(|q| q.month == p.month))
            .map(|q| match q.position {
                Position::Above => "above",
                Position::Below => "below",
                Position::OnMedian => "on",
            })
            .unwrap_or_default();
        let replaced = p
            .corrections
            .iter()
            .map(|r| {
                if r.note.is_empty() {
                    r.value.to_string()
                } else {
                    format!("{} ({})", r.value, r.note)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        let (num, den) = p.count.map_or((String::new(), String::new()), |c| {
            (c.numerator.to_string(), c.denominator.to_string())
        });
        line(
            &mut out,
            &[
                &p.month.to_string(),
                &format!("{:.2}", p.value),
                measure.unit(),
                &num,
                &den,
                p.taken_words(),
                &chart
                    .map(|c| format!("{:.2}", c.median))
                    .unwrap_or_default(),
                place,
                &replaced,
            ],
        );
    }
    out.into_bytes()
}
