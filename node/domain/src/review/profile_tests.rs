//! The age–sex pyramid, the visit-rate table's checks and the supply/demand estimate.

use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

use super::*;
use crate::error::FieldError;
use crate::ids::{ClinicId, EntryId, UserId};
use crate::phn::Phn;
use crate::types::{Contact, HowAdded, PatientDetails, PatientStatus, Removal};

const TODAY: Date = date!(2026 - 12 - 02);
const T0: OffsetDateTime = datetime!(2026-01-01 09:00 UTC);

fn entry(dob: Date, sex: Sex) -> PanelEntry {
    PanelEntry {
        id: EntryId(uuid::Uuid::from_u128(10)),
        provider: UserId(uuid::Uuid::from_u128(3)),
        clinic: ClinicId(uuid::Uuid::from_u128(1)),
        details: PatientDetails {
            phn: Phn::parse("9123456780").unwrap(),
            family_name: "Alexander".into(),
            given_names: "Charles".into(),
            date_of_birth: dob,
            sex,
            contact: Contact::default(),
            community: "Prince George".into(),
            last_visit: None,
        },
        status: PatientStatus::Active,
        mrp: None,
        added_at: T0,
        added_by: UserId(uuid::Uuid::from_u128(3)),
        how_added: HowAdded::Manual,
        review: Default::default(),
        removed: None,
    }
}

fn removed(mut e: PanelEntry) -> PanelEntry {
    e.removed = Some(Removal {
        at: T0,
        by: UserId(uuid::Uuid::from_u128(3)),
        reason: "moved away".into(),
        disposition: Default::default(),
    });
    e
}

/// The band of the pyramid that starts at `min_age`.
fn band(p: &Pyramid, min_age: u32) -> SexCounts {
    p.bands
        .iter()
        .find(|b| b.min_age == min_age)
        .map(|b| b.counts)
        .unwrap()
}

fn fields(e: DomainError) -> Vec<String> {
    match e {
        DomainError::Validation(v) => v
            .into_iter()
            .map(|FieldError { field, .. }| field)
            .collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn message(e: &DomainError, field: &str) -> String {
    match e {
        DomainError::Validation(v) => v
            .iter()
            .find(|f| f.field == field)
            .map(|f| f.message.clone())
            .unwrap_or_else(|| panic!("no problem for {field}: {e}")),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn rate_band(min_age: u32, max_age: Option<u32>, f: f64, m: f64, o: f64) -> VisitRateBand {
    VisitRateBand {
        min_age,
        max_age,
        female: f,
        male: m,
        other: o,
    }
}

/// 0–17, 18–64, 65+ with round rates, for hand-computed examples.
fn three_bands() -> VisitRates {
    VisitRates {
        bands: vec![
            rate_band(0, Some(17), 2.0, 1.0, 1.5),
            rate_band(18, Some(64), 3.0, 2.0, 2.5),
            rate_band(65, None, 5.0, 4.0, 4.5),
        ],
        source: "test rates".into(),
    }
}

// --- pyramid ---------------------------------------------------------------

#[test]
fn pyramid_has_every_band_from_0_4_to_90_and_over() {
    let p = pyramid(&[], TODAY);
    assert_eq!(p.bands.len(), 19);
    let labels: Vec<String> = p.bands.iter().map(PyramidBand::label).collect();
    assert_eq!(labels[0], "0–4");
    assert_eq!(labels[1], "5–9");
    assert_eq!(labels[17], "85–89");
    assert_eq!(labels[18], "90+");
    assert_eq!(p.bands[18].max_age, None);
    assert_eq!(p.totals, SexCounts::default());
}

#[test]
fn pyramid_band_edges_follow_whole_years() {
    let entries = [
        // 4 until tomorrow, 5 today (birthday today), 89 and 90 the same way.
        entry(date!(2021 - 12 - 03), Sex::Female),
        entry(date!(2021 - 12 - 02), Sex::Female),
        entry(date!(1936 - 12 - 03), Sex::Male),
        entry(date!(1936 - 12 - 02), Sex::Male),
        entry(date!(1920 - 01 - 01), Sex::Male),
        // Born today: 0.
        entry(TODAY, Sex::X),
    ];
    let p = pyramid(&entries, TODAY);
    assert_eq!(band(&p, 0).female, 1);
    assert_eq!(band(&p, 0).other, 1);
    assert_eq!(band(&p, 5).female, 1);
    assert_eq!(band(&p, 85).male, 1);
    assert_eq!(band(&p, 90).male, 2);
    assert_eq!(p.totals.total, 6);
    let sum: usize = p.bands.iter().map(|b| b.counts.total).sum();
    assert_eq!(sum, 6);
}

#[test]
fn pyramid_splits_by_sex_with_x_and_unknown_together() {
    let dob = date!(1990 - 06 - 01);
    let entries = [
        entry(dob, Sex::Female),
        entry(dob, Sex::Female),
        entry(dob, Sex::Male),
        entry(dob, Sex::X),
        entry(dob, Sex::Unknown),
    ];
    let p = pyramid(&entries, TODAY);
    let b = band(&p, 35);
    assert_eq!((b.female, b.male, b.other, b.total), (2, 1, 2, 5));
    assert_eq!(p.totals, b);
}

#[test]
fn pyramid_leaves_out_removed_entries() {
    let entries = [
        entry(date!(1980 - 01 - 01), Sex::Female),
        removed(entry(date!(1980 - 01 - 01), Sex::Female)),
        removed(entry(date!(2010 - 01 - 01), Sex::Male)),
    ];
    let p = pyramid(&entries, TODAY);
    assert_eq!(p.totals.total, 1);
    assert_eq!(band(&p, 45).female, 1);
    assert_eq!(band(&p, 15).total, 0);
}

#[test]
fn pyramid_counts_a_future_birth_date_as_age_0() {
    let p = pyramid(&[entry(date!(2027 - 03 - 01), Sex::Male)], TODAY);
    assert_eq!(band(&p, 0).male, 1);
    assert_eq!(p.totals.total, 1);
}

#[test]
fn pyramid_serializes_with_its_bands_and_totals() {
    let p = pyramid(&[entry(date!(1990 - 06 - 01), Sex::Female)], TODAY);
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["totals"]["female"], 1);
    assert_eq!(json["bands"][18]["max_age"], serde_json::Value::Null);
    let back: Pyramid = serde_json::from_value(json).unwrap();
    assert_eq!(back, p);
}

// --- visit rates -----------------------------------------------------------

#[test]
fn the_default_table_is_the_cited_one_and_passes_check() {
    let r = VisitRates::default();
    r.check().unwrap();
    assert!(r.source.contains("Statistics Norway"));
    assert!(r.source.contains("2005"));
    assert_eq!(r.bands.len(), 9);
    // Spot checks against the published table (consultations; women, men, both sexes).
    assert_eq!(r.rate(0, Sex::Female), Some(1.3));
    assert_eq!(r.rate(1, Sex::Male), Some(1.6));
    assert_eq!(r.rate(2, Sex::Male), Some(2.1));
    assert_eq!(r.rate(30, Sex::Female), Some(3.0));
    assert_eq!(r.rate(30, Sex::Male), Some(1.6));
    assert_eq!(r.rate(30, Sex::X), Some(2.3));
    assert_eq!(r.rate(84, Sex::Unknown), Some(3.9));
    assert_eq!(r.rate(85, Sex::Male), Some(3.6));
    assert_eq!(r.rate(120, Sex::Female), Some(3.0));
}

#[test]
fn rates_round_trip_through_json() {
    let r = VisitRates::default();
    let back: VisitRates = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn check_refuses_an_empty_table_and_a_missing_source() {
    let e = VisitRates {
        bands: vec![],
        source: "  ".into(),
    }
    .check()
    .unwrap_err();
    assert_eq!(fields(e), ["source", "bands"]);
}

#[test]
fn check_refuses_a_first_band_not_at_0() {
    let mut r = three_bands();
    r.bands[0].min_age = 1;
    let e = r.check().unwrap_err();
    assert_eq!(
        message(&e, "bands[0].min_age"),
        "the first band must start at age 0"
    );
    assert_eq!(fields(e), ["bands[0].min_age"]);
}

#[test]
fn check_refuses_a_gap_and_an_overlap() {
    let mut gap = three_bands();
    gap.bands[1].min_age = 20;
    let e = gap.check().unwrap_err();
    assert!(message(&e, "bands[1].min_age").contains("ages 18 to 19 have no band"));
    assert_eq!(fields(e), ["bands[1].min_age"]);

    let mut overlap = three_bands();
    overlap.bands[2].min_age = 60;
    let e = overlap.check().unwrap_err();
    assert!(message(&e, "bands[2].min_age").contains("inside the band before"));
    assert_eq!(fields(e), ["bands[2].min_age"]);
}

#[test]
fn check_refuses_a_closed_last_band_and_an_open_middle_one() {
    let mut closed = three_bands();
    closed.bands[2].max_age = Some(99);
    let e = closed.check().unwrap_err();
    assert!(message(&e, "bands[2].max_age").contains("must be open-ended"));
    assert_eq!(fields(e), ["bands[2].max_age"]);

    let mut open = three_bands();
    open.bands[1].max_age = None;
    assert_eq!(fields(open.check().unwrap_err()), ["bands[1].max_age"]);
}

#[test]
fn check_refuses_a_band_upside_down_and_ages_past_the_limit() {
    let mut r = three_bands();
    r.bands[1].max_age = Some(10);
    let e = r.check().unwrap_err();
    assert!(message(&e, "bands[1].max_age").contains("below the lowest"));

    let r = VisitRates {
        bands: vec![
            rate_band(0, Some(200), 1.0, 1.0, 1.0),
            rate_band(201, None, 1.0, 1.0, 1.0),
        ],
        source: "x".into(),
    };
    assert_eq!(
        fields(r.check().unwrap_err()),
        ["bands[0].max_age", "bands[1].min_age"]
    );
}

#[test]
fn check_refuses_rates_out_of_range_or_not_numbers_naming_each() {
    let mut r = three_bands();
    r.bands[0].female = -0.1;
    r.bands[1].male = 50.5;
    r.bands[2].other = f64::NAN;
    r.bands[2].female = f64::INFINITY;
    let e = r.check().unwrap_err();
    assert_eq!(
        fields(e),
        [
            "bands[0].female",
            "bands[1].male",
            "bands[2].female",
            "bands[2].other"
        ]
    );

    let mut edge = three_bands();
    edge.bands[0].female = 0.0;
    edge.bands[1].male = MAX_VISIT_RATE;
    edge.check().unwrap();
}

#[test]
fn check_refuses_a_table_of_zeros() {
    let r = VisitRates {
        bands: vec![rate_band(0, None, 0.0, 0.0, 0.0)],
        source: "x".into(),
    };
    assert_eq!(fields(r.check().unwrap_err()), ["bands"]);
}

#[test]
fn a_single_open_band_is_a_whole_table() {
    let r = VisitRates {
        bands: vec![rate_band(0, None, 3.0, 2.0, 2.5)],
        source: "clinic billing 2025".into(),
    };
    r.check().unwrap();
    assert_eq!(r.rate(130, Sex::Male), Some(2.0));
}

// --- supply and demand -----------------------------------------------------

/// A 30-year-old woman (3.0), a 10-year-old boy (1.0), a 70-year-old woman (5.0) and a
/// 40-year-old of sex X (2.5): 11.5 visits a year, 2.875 each; and one removed entry.
fn small_panel() -> Vec<PanelEntry> {
    vec![
        entry(date!(1996 - 01 - 15), Sex::Female),
        entry(date!(2016 - 05 - 01), Sex::Male),
        entry(date!(1956 - 03 - 01), Sex::Female),
        entry(date!(1986 - 07 - 01), Sex::X),
        removed(entry(date!(1940 - 01 - 01), Sex::Male)),
    ]
}

#[test]
fn supply_demand_on_a_small_panel_by_hand() {
    let s = supply_demand(&small_panel(), TODAY, &three_bands(), 2, 46).unwrap();
    assert_eq!(s.panel_size, 4);
    assert!((s.expected_visits_per_year - 11.5).abs() < 1e-9);
    assert!((s.visits_per_patient - 2.875).abs() < 1e-9);
    // 2 × 46 = 92 visits; 92 / 2.875 = 32 patients; 32 − 4 = 28.
    assert_eq!(s.available_visits_per_year, 92);
    assert_eq!(s.capacity_patients, 32);
    assert_eq!(s.room, 28);
    assert!(!s.assumed_mix);
    assert_eq!(
        s.explanation,
        "The 4 patients on this panel can be expected to need about 12 visits a year (2.9 \
         each, by age and sex). 2 appointments a week for 46 weeks give 92 visits a year, \
         enough for about 32 patients of this mix: room for about 28 more."
    );
}

#[test]
fn supply_demand_says_when_the_panel_is_over() {
    // 1 × 10 = 10 visits cover 3 patients at 2.875 (3.47, rounded down): 1 over.
    let s = supply_demand(&small_panel(), TODAY, &three_bands(), 1, 10).unwrap();
    assert_eq!(s.capacity_patients, 3);
    assert_eq!(s.room, -1);
    assert!(
        s.explanation.ends_with(
            "enough for about 3 patients of this mix: about 1 fewer than the panel has."
        ),
        "{}",
        s.explanation
    );
}

#[test]
fn supply_demand_for_an_empty_panel_uses_the_tables_average() {
    // The default table's (women + men) / 2 over its nine bands: 21.2 / 9.
    let s = supply_demand(&[], TODAY, &VisitRates::default(), 10, 46).unwrap();
    assert!(s.assumed_mix);
    assert_eq!(s.panel_size, 0);
    assert_eq!(s.expected_visits_per_year, 0.0);
    assert!((s.visits_per_patient - 21.2 / 9.0).abs() < 1e-9);
    // 460 / 2.3556 = 195.28.
    assert_eq!(s.available_visits_per_year, 460);
    assert_eq!(s.capacity_patients, 195);
    assert_eq!(s.room, 195);
    assert!(s.explanation.starts_with("The panel has no patients yet"));
    assert!(s.explanation.contains("2.4 visits a patient a year"));

    // Only removed entries is an empty panel too.
    let gone = [removed(entry(date!(1980 - 01 - 01), Sex::Female))];
    let s = supply_demand(&gone, TODAY, &three_bands(), 1, 46).unwrap();
    assert!(s.assumed_mix);
    // (1.5 + 2.5 + 4.5) / 3 = 2.8333; 46 / 2.8333 = 16.2.
    assert_eq!(s.capacity_patients, 16);
}

#[test]
fn supply_demand_with_no_appointments_covers_no_one() {
    let s = supply_demand(&small_panel(), TODAY, &three_bands(), 0, 46).unwrap();
    assert_eq!(s.available_visits_per_year, 0);
    assert_eq!(s.capacity_patients, 0);
    assert_eq!(s.room, -4);
    assert!(
        s.explanation.ends_with(
            "No appointments are offered (0 a week for 46 weeks), so the schedule covers no \
             patients."
        ),
        "{}",
        s.explanation
    );

    let s = supply_demand(&small_panel(), TODAY, &three_bands(), 20, 0).unwrap();
    assert_eq!((s.capacity_patients, s.room), (0, -4));
}

#[test]
fn supply_demand_refuses_bad_rates_and_out_of_range_schedules() {
    let mut bad = three_bands();
    bad.bands[0].female = -1.0;
    let e = supply_demand(&small_panel(), TODAY, &bad, 99_999, 53).unwrap_err();
    assert_eq!(
        fields(e),
        ["bands[0].female", "appointments_per_week", "weeks_per_year"]
    );
    supply_demand(&small_panel(), TODAY, &three_bands(), 10_000, 52).unwrap();
}

#[test]
fn supply_demand_refuses_a_panel_the_rates_give_no_visits() {
    let r = VisitRates {
        bands: vec![
            rate_band(0, Some(17), 0.0, 0.0, 0.0),
            rate_band(18, None, 3.0, 2.0, 2.5),
        ],
        source: "x".into(),
    };
    let kids = [entry(date!(2016 - 05 - 01), Sex::Male)];
    let e = supply_demand(&kids, TODAY, &r, 10, 46).unwrap_err();
    assert_eq!(fields(e), ["rates"]);
}

#[test]
fn supply_demand_uses_exact_ages_across_the_pyramids_bands() {
    // Both in the pyramid's 0–4; the default table splits them at 2.
    let one = entry(date!(2025 - 06 - 01), Sex::Female);
    let three = entry(date!(2023 - 06 - 01), Sex::Female);
    let s = supply_demand(&[one, three], TODAY, &VisitRates::default(), 10, 46).unwrap();
    assert!((s.expected_visits_per_year - (1.3 + 1.9)).abs() < 1e-9);
}

#[test]
fn big_numbers_are_grouped_in_the_explanation() {
    let entries: Vec<PanelEntry> = (0..1_200)
        .map(|_| entry(date!(1990 - 01 - 01), Sex::Female))
        .collect();
    let s = supply_demand(&entries, TODAY, &three_bands(), 100, 46).unwrap();
    // 1,200 × 3.0 = 3,600 visits; 4,600 available cover 1,533.
    assert_eq!(s.capacity_patients, 1_533);
    assert!(
        s.explanation.contains("The 1,200 patients"),
        "{}",
        s.explanation
    );
    assert!(
        s.explanation.contains("about 3,600 visits"),
        "{}",
        s.explanation
    );
    assert!(
        s.explanation.contains("give 4,600 visits"),
        "{}",
        s.explanation
    );
    assert!(
        s.explanation.contains("room for about 333 more"),
        "{}",
        s.explanation
    );
    assert_eq!(grouped(0), "0");
    assert_eq!(grouped(999), "999");
    assert_eq!(grouped(1_000), "1,000");
    assert_eq!(grouped(1_234_567), "1,234,567");
}

#[test]
fn the_text_form_of_a_table_round_trips_and_names_the_line_of_each_problem() {
    let d = VisitRates::default();
    let back = VisitRates::parse_lines(&d.to_lines(), &d.source).expect("the default reads back");
    assert_eq!(back, d);
    let typed = "# ages; women; men; other\n0-17; 2; 2; 2\n\n18–64, 3.5, 2.5, 3\n65+; 4; 4; 4\n";
    let r = VisitRates::parse_lines(typed, "our billing, 2025").expect("reads");
    assert_eq!(r.bands.len(), 3);
    assert_eq!(r.bands[1].min_age, 18);
    assert_eq!(r.bands[1].max_age, Some(64));
    assert_eq!(r.bands[2].max_age, None);

    let fields = |text: &str, source: &str| -> Vec<String> {
        match VisitRates::parse_lines(text, source) {
            Err(DomainError::Validation(v)) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("refused expected, got {other:?}"),
        }
    };
    // A line that does not read is named, and nothing is checked beyond it.
    assert_eq!(fields("0-17; 2; 2\n18+; 3; 3; 3", "x"), ["line 1"]);
    assert_eq!(fields("0-17; 2; 2; 2\nadults; 3; 3; 3", "x"), ["line 2"]);
    assert_eq!(fields("0-17; 2; 2; 2\n18+; 3,5; 3; 3", "x"), ["line 2"]);
    // The table's own checks name the line the band was typed on (blank lines counted).
    assert_eq!(fields("0-17; 2; 2; 2\n\n20+; 3; 3; 3", "x"), ["line 3"]);
    assert_eq!(fields("0-17; 2; 2; 2\n18+; 3; 3; 3", " "), ["source"]);
    assert_eq!(fields("0-17; 0; 0; 0\n18+; 0; 0; 0", "x"), ["rates"]);
    assert_eq!(fields("", "x"), ["rates"]);
}
