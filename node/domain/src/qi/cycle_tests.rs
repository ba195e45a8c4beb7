//! QI cycles: the AIM statement, measures counted against hand-built care, points frozen
//! and corrected, the months due, and the run chart built from the points.

use time::macros::{date, datetime};

use super::*;
use crate::clinical::catalogue::shipped;
use crate::clinical::rules::{GapState, Uncoded};
use crate::qi::runchart::SignalKind;

const NOW: OffsetDateTime = datetime!(2026-11-02 09:00 UTC);
const TODAY: Date = date!(2026 - 11 - 02);

fn who() -> UserId {
    UserId(uuid::Uuid::from_u128(7))
}

fn month(s: &str) -> Month {
    s.parse().expect("a month")
}

fn cycle(first: &str) -> Cycle {
    Cycle {
        id: CycleId(uuid::Uuid::from_u128(1)),
        title: "Diabetes control".to_owned(),
        aim: Aim {
            population: Population::default(),
            improve: "HbA1c in target".to_owned(),
            from: Some(52.0),
            to: Some(65.5),
            unit: "%".to_owned(),
            by: date!(2027 - 06 - 30),
        },
        first_month: month(first),
        status: CycleStatus::Active,
        reflection: String::new(),
        by: who(),
        at: NOW,
    }
}

fn measure(source: MeasureSource) -> Measure {
    Measure {
        key: "m1".to_owned(),
        name: "HbA1c in target".to_owned(),
        kind: MeasureKind::Outcome,
        direction: DesiredDirection::Up,
        source,
        baseline_points: 0,
        by: who(),
        at: NOW,
    }
}

fn manual() -> Measure {
    measure(MeasureSource::Manual {
        unit: "%".to_owned(),
    })
}

fn fields(e: DomainError) -> Vec<String> {
    match e {
        DomainError::Validation(v) => v.into_iter().map(|f| f.field).collect(),
        other => panic!("not a validation error: {other:?}"),
    }
}

#[test]
fn the_aim_reads_as_the_workbook_writes_it() {
    let c = cycle("2026-01");
    assert_eq!(
        c.aim.statement("Dr. Patel's diabetes patients"),
        "By 2027-06-30, we will improve HbA1c in target for Dr. Patel's diabetes patients from 52 % to 65.5 %."
    );
    let mut a = c.aim.clone();
    a.from = None;
    a.unit = "days".to_owned();
    a.to = Some(7.0);
    assert_eq!(
        a.statement("the clinic"),
        "By 2027-06-30, we will improve HbA1c in target for the clinic to 7 days."
    );
}

#[test]
fn a_cycle_names_every_wrong_field() {
    let mut c = cycle("2026-01");
    assert!(c.check(TODAY).is_ok());
    c.title = " ".to_owned();
    c.aim.by = date!(2025 - 12 - 01);
    c.aim.to = Some(f64::NAN);
    let mut got = fields(c.check(TODAY).unwrap_err());
    got.sort();
    assert_eq!(got, ["by", "title", "to"]);
    let c = cycle("2027-01");
    assert_eq!(fields(c.check(TODAY).unwrap_err()), ["first_month"]);
    let c = cycle("2023-01");
    assert_eq!(fields(c.check(TODAY).unwrap_err()), ["first_month"]);
}

fn gap(rule: u16, timing: GapTiming, in_target: Option<bool>) -> GapState {
    GapState {
        rule,
        timing,
        last: None,
        due: None,
        in_target,
    }
}

#[test]
fn computed_measures_count_their_patients() {
    let compiled = shipped().compile().expect("compiles");
    let a1c = u16::try_from(
        compiled
            .catalogue()
            .gaps
            .iter()
            .position(|g| g.key == "diabetes_hba1c")
            .expect("the rule"),
    )
    .expect("small");
    let diabetes = compiled.registry_index("diabetes").expect("the registry");
    let care = [
        PatientCare {
            registries: vec![diabetes],
            uncoded: Vec::new(),
            gaps: vec![gap(a1c, GapTiming::UpToDate, Some(true))],
        },
        PatientCare {
            registries: vec![diabetes],
            uncoded: Vec::new(),
            gaps: vec![gap(a1c, GapTiming::Overdue, Some(false))],
        },
        PatientCare {
            registries: vec![diabetes],
            uncoded: Vec::new(),
            gaps: vec![gap(a1c, GapTiming::DueSoon, None)],
        },
        // Not eligible for the rule: not in its denominator.
        PatientCare {
            registries: Vec::new(),
            uncoded: vec![Uncoded {
                registry: diabetes,
                rule: 0,
            }],
            gaps: Vec::new(),
        },
    ];
    let count = |def: MeasureDef| def.count(&compiled, care.iter());
    let up = count(MeasureDef::GapUpToDate {
        rule: "diabetes_hba1c".to_owned(),
    });
    assert_eq!((up.numerator, up.denominator), (2, 3));
    let target = count(MeasureDef::GapInTarget {
        rule: "diabetes_hba1c".to_owned(),
    });
    assert_eq!((target.numerator, target.denominator), (1, 3));
    let coded = count(MeasureDef::OnRegistry {
        registry: "diabetes".to_owned(),
    });
    assert_eq!((coded.numerator, coded.denominator), (3, 4));
    assert_eq!(coded.percent(), Some(75.0));
    let uncoded = count(MeasureDef::ProbablyUncoded {
        registry: "diabetes".to_owned(),
    });
    assert_eq!((uncoded.numerator, uncoded.denominator), (1, 4));
    assert_eq!(Count::default().percent(), None);
    assert!(
        MeasureDef::GapInTarget {
            rule: "no_such_rule".to_owned()
        }
        .check(&compiled)
        .is_err()
    );
    let m = measure(MeasureSource::Computed {
        def: MeasureDef::OnRegistry {
            registry: "unknown".to_owned(),
        },
    });
    assert_eq!(fields(m.check(&compiled).unwrap_err()), ["definition"]);
}

#[test]
fn months_due_are_the_ended_months_without_a_point() {
    let c = cycle("2025-11");
    let due = months_due(&c, &[month("2026-02")], TODAY);
    assert_eq!(
        due.len(),
        11,
        "2025-11 to 2026-10, one already taken: {due:?}"
    );
    assert_eq!(due.first(), Some(&month("2025-11")));
    assert_eq!(due.last(), Some(&month("2026-10")));
    assert!(!due.contains(&month("2026-02")));
    assert!(!due.contains(&month("2026-11")), "the month has not ended");
    let mut closed = c.clone();
    closed.status = CycleStatus::Closed;
    assert!(months_due(&closed, &[], TODAY).is_empty());
    assert_eq!(last_day(month("2024-02")), Some(date!(2024 - 02 - 29)));
    assert_eq!(last_day(month("2026-12")), Some(date!(2026 - 12 - 31)));
}

#[test]
fn a_point_taken_long_after_its_month_is_marked_late() {
    let count = Count {
        numerator: 30,
        denominator: 60,
    };
    let on_time = MeasurePoint::computed("m1", month("2026-10"), count, NOW).expect("a point");
    assert_eq!(on_time.value, 50.0);
    assert_eq!(on_time.source, PointSource::Computed { late: false });
    let late = MeasurePoint::computed("m1", month("2026-03"), count, NOW).expect("a point");
    assert_eq!(late.source, PointSource::Computed { late: true });
    assert!(MeasurePoint::computed("m1", month("2026-03"), Count::default(), NOW).is_none());
}

#[test]
fn a_correction_keeps_the_value_it_replaced() {
    let m = manual();
    let first = MeasurePoint::entered(None, &m, month("2026-09"), 48.0, "", TODAY, who(), NOW)
        .expect("entered");
    assert!(!first.is_corrected());
    let without_reason = MeasurePoint::entered(
        Some(&first),
        &m,
        month("2026-09"),
        51.0,
        " ",
        TODAY,
        who(),
        NOW,
    );
    assert_eq!(fields(without_reason.unwrap_err()), ["note"]);
    let fixed = MeasurePoint::entered(
        Some(&first),
        &m,
        month("2026-09"),
        51.0,
        "two charts counted twice",
        TODAY,
        who(),
        NOW,
    )
    .expect("corrected");
    assert_eq!(fixed.value, 51.0);
    assert_eq!(fixed.corrections.len(), 1);
    assert_eq!(fixed.corrections[0].value, 48.0);
    assert_eq!(fixed.corrections[0].note, "two charts counted twice");
    let bad = |v: f64, month_s: &str| {
        fields(
            MeasurePoint::entered(None, &m, month(month_s), v, "", TODAY, who(), NOW).unwrap_err(),
        )
    };
    assert_eq!(bad(120.0, "2026-09"), ["value"]);
    assert_eq!(bad(f64::INFINITY, "2026-09"), ["value"]);
    assert_eq!(bad(40.0, "2027-01"), ["month"]);
    // Corrections are bounded.
    let mut p = fixed;
    for i in 0..(MAX_CORRECTIONS + 3) {
        p = MeasurePoint::entered(
            Some(&p),
            &m,
            month("2026-09"),
            i as f64,
            "again",
            TODAY,
            who(),
            NOW,
        )
        .expect("corrected");
    }
    assert_eq!(p.corrections.len(), MAX_CORRECTIONS);
}

#[test]
fn the_run_chart_takes_the_points_in_month_order_against_the_baseline() {
    let mut m = manual();
    m.baseline_points = 12;
    let values = [
        58.0, 61.0, 60.0, 59.0, 62.0, 60.0, 57.0, 63.0, 60.0, 61.0, 59.0, 60.0, 66.0, 68.0, 67.0,
        70.0, 69.0, 71.0,
    ];
    let mut mo = month("2025-01");
    let mut points = Vec::new();
    for v in values {
        points
            .push(MeasurePoint::entered(None, &m, mo, v, "", TODAY, who(), NOW).expect("entered"));
        mo = mo.next().expect("a month");
    }
    points.reverse();
    let chart = run_chart(&m, &points).expect("analysed");
    assert_eq!(chart.median, 60.0);
    assert_eq!(chart.points[0].month, month("2025-01"));
    assert!(
        chart
            .signals
            .iter()
            .any(|s| matches!(s.kind, SignalKind::Shift { .. })
                && s.in_desired_direction() == Some(true))
    );
    // A baseline longer than the points so far takes them all.
    m.baseline_points = 40;
    assert!(run_chart(&m, &points).is_ok());
    assert!(run_chart(&m, &[]).is_err());
}

#[test]
fn a_change_is_dated_and_bounded() {
    let mut c = Change {
        key: "c1".to_owned(),
        title: "Standing orders for HbA1c".to_owned(),
        started: date!(2026 - 06 - 01),
        ended: None,
        plan: "MOAs order HbA1c at check-in when due".to_owned(),
        done: String::new(),
        study: String::new(),
        act: String::new(),
        by: who(),
        at: NOW,
    };
    assert!(c.check(TODAY).is_ok());
    c.started = date!(2027 - 01 - 01);
    c.ended = Some(date!(2026 - 12 - 01));
    c.act = "x".repeat(MAX_TEXT + 1);
    let mut got = fields(c.check(TODAY).unwrap_err());
    got.sort();
    assert_eq!(got, ["act", "ended", "started"]);
}
