//! The run-chart rules against the examples of Perla, Provost & Murray 2011 (BMJ Qual Saf
//! 20:46–51), the edges of the input, and properties that hold for any series.
//!
//! The paper shows its rules on charts (Figure 3, one panel per rule) without printing the
//! values; the series below are reconstructions that show each pattern as the paper's text
//! and figure describe it, not digitised copies of the figure.

use proptest::prelude::*;
use time::macros::date;

use super::*;

use DesiredDirection::{Down, Neither, Up};

fn month(text: &str) -> Month {
    text.parse().unwrap()
}

/// Points for consecutive months from 2024-01.
fn series(values: &[f64]) -> Vec<Point> {
    let mut m = month("2024-01");
    values
        .iter()
        .map(|&v| {
            let p = Point::new(m, v);
            m = m.next().unwrap();
            p
        })
        .collect()
}

fn chart(values: &[f64], baseline: Option<usize>, desired: DesiredDirection) -> RunChartAnalysis {
    analyse(&series(values), baseline, desired).unwrap()
}

fn kinds(analysis: &RunChartAnalysis) -> Vec<SignalKind> {
    analysis.signals.iter().map(|s| s.kind).collect()
}

/// Twelve baseline months of "% of diabetes patients with an HbA1c in the last 6 months",
/// around 60 % (median exactly 60: the 6th and 7th of the sorted values are both 60).
const BASELINE: [f64; 12] = [
    58.0, 61.0, 60.0, 59.0, 62.0, 60.0, 57.0, 63.0, 60.0, 61.0, 59.0, 60.0,
];

fn with_baseline(after: &[f64]) -> Vec<f64> {
    BASELINE.iter().chain(after).copied().collect()
}

// ---------------------------------------------------------------------------
// Month
// ---------------------------------------------------------------------------

#[test]
fn a_month_is_written_and_read_as_yyyy_mm() {
    let m = month("2026-03");
    assert_eq!((m.year(), m.month()), (2026, 3));
    assert_eq!(m.to_string(), "2026-03");
    assert_eq!(Month::new(7, 1).unwrap().to_string(), "0007-01");
    for bad in [
        "2026-3",
        "2026-13",
        "2026-00",
        "26-03",
        "2026-03-01",
        "2026/03",
        "abcd-ef",
        "0000-01",
        "",
        "+202-03",
        "2026-+3",
    ] {
        assert!(bad.parse::<Month>().is_err(), "{bad:?} was accepted");
    }
    assert_eq!(
        "2026-13".parse::<Month>(),
        Err(MonthError::MonthOutOfRange { month: 13 })
    );
    assert_eq!(
        Month::new(10_000, 1),
        Err(MonthError::YearOutOfRange { year: 10_000 })
    );
}

#[test]
fn the_next_month_rolls_over_the_year_and_stops_at_9999() {
    assert_eq!(month("2025-11").next(), Some(month("2025-12")));
    assert_eq!(month("2025-12").next(), Some(month("2026-01")));
    assert_eq!(month("9999-12").next(), None);
}

#[test]
fn months_order_by_time_and_come_from_dates() {
    assert!(month("2025-12") < month("2026-01"));
    assert!(month("2026-01") < month("2026-02"));
    assert!(month("2026-10") > month("2026-09"));
    assert_eq!(Month::of(date!(2026 - 03 - 31)).unwrap(), month("2026-03"));
    assert_eq!(Month::of(date!(2026 - 01 - 01)).unwrap(), month("2026-01"));
}

#[test]
fn a_month_is_serialized_as_its_text() {
    let json = serde_json::to_string(&month("2026-03")).unwrap();
    assert_eq!(json, "\"2026-03\"");
    assert_eq!(
        serde_json::from_str::<Month>(&json).unwrap(),
        month("2026-03")
    );
    assert!(serde_json::from_str::<Month>("\"2026-13\"").is_err());
}

// ---------------------------------------------------------------------------
// Input checks and edge cases
// ---------------------------------------------------------------------------

#[test]
fn an_empty_series_is_refused() {
    assert_eq!(analyse(&[], None, Up), Err(RunChartError::NoPoints));
}

#[test]
fn a_value_that_is_not_a_finite_number_is_refused_naming_its_month() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = analyse(&series(&[1.0, 2.0, bad, 4.0]), None, Up).unwrap_err();
        assert_eq!(
            err,
            RunChartError::NotFinite {
                month: month("2024-03")
            }
        );
        assert!(err.to_string().contains("2024-03"), "{err}");
    }
}

#[test]
fn months_out_of_order_or_twice_are_refused_naming_the_month() {
    let points = |months: &[&str]| -> Vec<Point> {
        months.iter().map(|m| Point::new(month(m), 1.0)).collect()
    };
    let err = analyse(&points(&["2024-01", "2024-03", "2024-02"]), None, Up).unwrap_err();
    assert_eq!(
        err,
        RunChartError::OutOfOrder {
            month: month("2024-02"),
            previous: month("2024-03")
        }
    );
    assert!(err.to_string().contains("2024-02"), "{err}");

    let err = analyse(&points(&["2024-01", "2024-02", "2024-02"]), None, Up).unwrap_err();
    assert_eq!(
        err,
        RunChartError::DuplicateMonth {
            month: month("2024-02")
        }
    );
    assert!(err.to_string().contains("2024-02"), "{err}");

    // A month with no data is not an error: the chart goes on from the next one.
    assert!(analyse(&points(&["2024-01", "2024-04", "2024-05"]), None, Up).is_ok());
}

#[test]
fn a_baseline_longer_than_the_series_is_refused() {
    let points = series(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(
        analyse(&points, Some(6), Up),
        Err(RunChartError::BaselineTooLong {
            baseline: 6,
            points: 5
        })
    );
    assert_eq!(analyse(&points, Some(5), Up).unwrap().baseline_points, 5);
    assert_eq!(
        analyse(&points, Some(0), Up).unwrap(),
        analyse(&points, None, Up).unwrap()
    );
}

#[test]
fn the_centre_line_is_the_median_of_the_baseline_points() {
    let values = [10.0, 20.0, 30.0, 40.0, 100.0, 100.0, 100.0];
    assert_eq!(chart(&values, Some(3), Up).median, 20.0);
    assert_eq!(chart(&values, Some(4), Up).median, 25.0);
    assert_eq!(chart(&values, None, Up).median, 40.0);
    assert_eq!(chart(&values, Some(3), Up).baseline_points, 3);
    assert_eq!(chart(&values, None, Up).baseline_points, 7);
}

#[test]
fn all_values_equal_put_every_point_on_the_median_and_signal_nothing() {
    let a = chart(&[70.0; 24], None, Up);
    assert_eq!(a.median, 70.0);
    assert!(a.points.iter().all(|p| p.position == Position::OnMedian));
    assert_eq!((a.useful_observations, a.runs), (0, 0));
    assert_eq!(
        a.runs_test,
        RunsTest::TooFewPoints {
            useful: 0,
            needed: 10
        }
    );
    assert_eq!(a.astronomical_test, AstronomicalTest::Evaluated);
    assert_eq!(a.signals, vec![]);
}

#[test]
fn a_single_point_is_its_own_median() {
    let a = chart(&[42.0], None, Up);
    assert_eq!(a.median, 42.0);
    assert_eq!((a.useful_observations, a.runs), (0, 0));
    assert_eq!(
        a.astronomical_test,
        AstronomicalTest::TooFewPoints {
            points: 1,
            needed: 10
        }
    );
    assert_eq!(a.signals, vec![]);
}

// ---------------------------------------------------------------------------
// Rule 1: shift
// ---------------------------------------------------------------------------

/// Perla et al. 2011, rule 1 and Figure 3 (shift panel): after a change, six months in a
/// row above the baseline median.
#[test]
fn six_points_in_a_row_above_the_median_are_a_shift() {
    let values = with_baseline(&[66.0, 68.0, 67.0, 70.0, 69.0, 71.0]);
    let a = chart(&values, Some(12), Up);
    assert_eq!(a.median, 60.0);
    assert_eq!(kinds(&a), vec![SignalKind::Shift { side: Side::Above }]);
    let shift = &a.signals[0];
    assert_eq!(shift.points, (12..18).collect::<Vec<_>>());
    assert_eq!(shift.assessment, Assessment::Improvement);
    assert_eq!(shift.in_desired_direction(), Some(true));

    let down = chart(&values, Some(12), Down);
    assert_eq!(down.signals[0].assessment, Assessment::Deterioration);
    assert_eq!(down.signals[0].in_desired_direction(), Some(false));
    let neither = chart(&values, Some(12), Neither);
    assert_eq!(neither.signals[0].assessment, Assessment::NotJudged);
    assert_eq!(neither.signals[0].in_desired_direction(), None);
}

#[test]
fn five_points_in_a_row_are_not_a_shift() {
    let a = chart(
        &with_baseline(&[66.0, 68.0, 67.0, 70.0, 69.0]),
        Some(12),
        Up,
    );
    assert_eq!(kinds(&a), vec![]);
}

/// Rule 1: "values that fall on the median do not add to nor break a shift".
#[test]
fn a_point_on_the_median_neither_adds_to_nor_breaks_a_shift() {
    // Five above, one on the median (60): not six.
    let a = chart(
        &with_baseline(&[66.0, 68.0, 60.0, 67.0, 70.0, 69.0]),
        Some(12),
        Up,
    );
    assert_eq!(a.points[14].position, Position::OnMedian);
    assert_eq!(kinds(&a), vec![]);

    // Six above with the one on the median among them: a shift of the six.
    let a = chart(
        &with_baseline(&[66.0, 68.0, 60.0, 67.0, 70.0, 69.0, 71.0]),
        Some(12),
        Up,
    );
    assert_eq!(kinds(&a), vec![SignalKind::Shift { side: Side::Above }]);
    assert_eq!(a.signals[0].points, vec![12, 13, 15, 16, 17, 18]);
}

#[test]
fn a_shift_below_is_an_improvement_when_lower_is_better() {
    // Days from referral to first appointment: lower is better.
    let a = chart(
        &with_baseline(&[52.0, 55.0, 51.0, 54.0, 53.0, 50.0, 52.0]),
        Some(12),
        Down,
    );
    assert_eq!(kinds(&a), vec![SignalKind::Shift { side: Side::Below }]);
    // The last baseline month below the median (59, month 11) starts the run: the 60 on
    // the median after it neither breaks it nor counts.
    assert_eq!(a.points[11].position, Position::OnMedian);
    assert_eq!(a.signals[0].points, vec![10, 12, 13, 14, 15, 16, 17, 18]);
    assert_eq!(a.signals[0].assessment, Assessment::Improvement);
}

// ---------------------------------------------------------------------------
// Rule 2: trend
// ---------------------------------------------------------------------------

#[test]
fn five_points_each_higher_than_the_last_are_a_trend_and_four_are_not() {
    let a = chart(&[10.0, 11.0, 12.0, 13.0, 14.0], None, Up);
    assert_eq!(
        kinds(&a),
        vec![SignalKind::Trend {
            direction: Direction::Up,
            length: 5
        }]
    );
    assert_eq!(a.signals[0].points, vec![0, 1, 2, 3, 4]);
    assert_eq!(a.signals[0].assessment, Assessment::Improvement);

    assert_eq!(kinds(&chart(&[10.0, 11.0, 12.0, 13.0], None, Up)), vec![]);
}

/// Rule 2: "if the value of two or more successive points is the same, ignore the like
/// points when counting; like values do not make or break a trend" (Perla et al. 2011,
/// Figure 3, trend panel, which has a like value inside its trend).
#[test]
fn a_repeated_value_neither_makes_nor_breaks_a_trend() {
    // 10, 11, 11, 12, 13: four values, not five.
    assert_eq!(
        kinds(&chart(&[10.0, 11.0, 11.0, 12.0, 13.0], None, Up)),
        vec![]
    );

    // 10, 11, 11, 12, 13, 14: five values; the trend covers all six points.
    let a = chart(&[10.0, 11.0, 11.0, 12.0, 13.0, 14.0], None, Up);
    assert_eq!(
        kinds(&a),
        vec![SignalKind::Trend {
            direction: Direction::Up,
            length: 5
        }]
    );
    assert_eq!(a.signals[0].points, vec![0, 1, 2, 3, 4, 5]);

    // Down, with the repeat at the start: still five values.
    let a = chart(&[20.0, 20.0, 18.0, 17.0, 15.0, 12.0], None, Down);
    assert_eq!(
        kinds(&a),
        vec![SignalKind::Trend {
            direction: Direction::Down,
            length: 5
        }]
    );
    assert_eq!(a.signals[0].points, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(a.signals[0].assessment, Assessment::Improvement);
}

#[test]
fn a_rise_to_a_peak_and_a_fall_from_it_are_two_trends_sharing_the_peak() {
    let a = chart(&[1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0, 1.0], None, Up);
    assert_eq!(
        kinds(&a),
        vec![
            SignalKind::Trend {
                direction: Direction::Up,
                length: 5
            },
            SignalKind::Trend {
                direction: Direction::Down,
                length: 5
            },
        ]
    );
    assert_eq!(a.signals[0].points, vec![0, 1, 2, 3, 4]);
    assert_eq!(a.signals[1].points, vec![4, 5, 6, 7, 8]);
    assert_eq!(a.signals[1].assessment, Assessment::Deterioration);
}

/// A trend inside ordinary variation, as in Figure 3's trend panel: a fall of five values
/// (one repeated) in the middle of a chart that otherwise moves up and down.
#[test]
fn a_trend_in_the_middle_of_a_chart_is_found_where_it_is() {
    let values = [
        50.0, 53.0, 49.0, 52.0, 51.0, 56.0, 54.0, 54.0, 50.0, 47.0, 45.0, 49.0, 52.0, 48.0,
    ];
    let a = chart(&values, None, Up);
    assert_eq!(
        kinds(&a),
        vec![SignalKind::Trend {
            direction: Direction::Down,
            length: 5
        }]
    );
    assert_eq!(a.signals[0].points, vec![5, 6, 7, 8, 9, 10]);
    assert_eq!(a.signals[0].assessment, Assessment::Deterioration);
}

// ---------------------------------------------------------------------------
// Rule 3: runs
// ---------------------------------------------------------------------------

/// Counting runs as the paper does (its Figure 4): points on the median are left out,
/// and a run ends where the line crosses the median.
#[test]
fn runs_are_counted_without_the_points_on_the_median() {
    // Median 3: B A A B M B A M M A.
    let a = chart(
        &[1.0, 5.0, 5.0, 1.0, 3.0, 1.0, 5.0, 3.0, 3.0, 5.0],
        None,
        Up,
    );
    assert_eq!(a.median, 3.0);
    use Position::{Above as A, Below as B, OnMedian as M};
    let positions: Vec<Position> = a.points.iter().map(|p| p.position).collect();
    assert_eq!(positions, vec![B, A, A, B, M, B, A, M, M, A]);
    assert_eq!(a.useful_observations, 7);
    // B | A A | B (M) B | A (M M) A
    assert_eq!(a.runs, 4);
}

/// Perla et al. 2011, Table 1, at a few of its rows.
#[test]
fn the_runs_limits_are_the_papers_table() {
    for (useful, lower, upper) in [
        (10, 3, 9),
        (11, 3, 10),
        (15, 5, 12),
        (20, 6, 16),
        (27, 10, 19),
        (30, 11, 21),
        (40, 15, 27),
        (46, 17, 31),
        (50, 19, 33),
        (60, 24, 38),
    ] {
        assert_eq!(
            runs_limits(useful),
            Some(RunsLimits {
                lower,
                upper,
                source: LimitsSource::Table
            }),
            "{useful} useful observations"
        );
    }
    assert_eq!(runs_limits(9), None);
    assert_eq!(runs_limits(0), None);
}

#[test]
fn the_table_has_one_row_for_each_count_from_10_to_60_and_grows_with_it() {
    for (i, &(n, lower, upper)) in RUNS_TABLE.iter().enumerate() {
        assert_eq!(n, RUNS_MIN_USEFUL + i);
        assert!(1 < lower && lower < upper && upper < n, "row {n}");
        if i > 0 {
            let (_, previous_lower, previous_upper) = RUNS_TABLE[i - 1];
            assert!(
                lower >= previous_lower && upper >= previous_upper,
                "row {n}"
            );
        }
    }
    assert_eq!(RUNS_TABLE.last().unwrap().0, RUNS_TABLE_MAX_USEFUL);
}

/// The exact distribution of the number of runs for `n1` points of one kind and `n2` of
/// the other in random order (Swed & Eisenhart 1943): how many of the C(n1+n2, n1)
/// orders have `r` runs.
fn ways_to_have_runs(n1: u128, n2: u128, r: u128) -> u128 {
    fn choose(n: u128, k: u128) -> u128 {
        if k > n {
            return 0;
        }
        (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
    }
    if r < 2 {
        return 0;
    }
    let k = r / 2;
    if r.is_multiple_of(2) {
        2 * choose(n1 - 1, k - 1) * choose(n2 - 1, k - 1)
    } else {
        choose(n1 - 1, k - 1) * choose(n2 - 1, k) + choose(n1 - 1, k) * choose(n2 - 1, k - 1)
    }
}

/// The exact two-sided 5 % limits (2.5 % in each tail) for `n` useful observations split
/// evenly: fewer runs than `lower` or more than `upper` happen at most 2.5 % of the time
/// each.
fn exact_limits(n: usize) -> (usize, usize) {
    let n = n as u128;
    let (n1, n2) = (n / 2, n - n / 2);
    let total: u128 = (2..=n).map(|r| ways_to_have_runs(n1, n2, r)).sum();
    let mut below = 0;
    let mut lower = 0;
    for r in 2..=n {
        below += ways_to_have_runs(n1, n2, r);
        if below * 40 > total {
            lower = r;
            break;
        }
    }
    let mut above = 0;
    let mut upper = 0;
    for r in (2..=n).rev() {
        above += ways_to_have_runs(n1, n2, r);
        if above * 40 > total {
            upper = r;
            break;
        }
    }
    (lower as usize, upper as usize)
}

/// A check on the typing of the table: every published row is within one of the exact
/// Swed–Eisenhart limits it was derived from (the published table rounds some rows).
#[test]
fn every_table_row_is_within_one_of_the_exact_swed_eisenhart_limits() {
    assert_eq!(exact_limits(10), (3, 9));
    assert_eq!(exact_limits(20), (7, 15));
    for &(n, lower, upper) in &RUNS_TABLE {
        let (exact_lower, exact_upper) = exact_limits(n);
        assert!(
            lower.abs_diff(exact_lower) <= 1 && upper.abs_diff(exact_upper) <= 1,
            "row {n}: table {lower}–{upper}, exact {exact_lower}–{exact_upper}"
        );
    }
}

#[test]
fn above_60_useful_observations_the_limits_come_from_the_normal_approximation() {
    // n = 61: μ = 31.5, σ = √(61·59 / 240) = 3.872…, 1.96σ = 7.59:
    // ⌊31.5 + 0.5 − 7.59⌋ = 24, ⌈31.5 − 0.5 + 7.59⌉ = 39.
    assert_eq!(
        runs_limits(61),
        Some(RunsLimits {
            lower: 24,
            upper: 39,
            source: LimitsSource::NormalApproximation
        })
    );
    // n = 100: μ = 51, σ = √(100·98 / 396) = 4.974…, 1.96σ = 9.75: 41 and 61.
    assert_eq!(runs_limits(100).map(|l| (l.lower, l.upper)), Some((41, 61)));
    // The approximation is within one of the exact distribution's limits, and equal to
    // them at most counts.
    for n in 61..=120 {
        let (approx, exact) = (normal_runs_limits(n), exact_limits(n));
        assert!(
            approx.0.abs_diff(exact.0) <= 1 && approx.1.abs_diff(exact.1) <= 1,
            "n = {n}: approximation {approx:?}, exact {exact:?}"
        );
    }
    for n in [61, 70, 80, 90, 100, 110, 120] {
        assert_eq!(normal_runs_limits(n), exact_limits(n), "n = {n}");
    }
}

#[test]
fn with_fewer_than_ten_useful_observations_the_runs_rule_is_not_evaluated() {
    // Twelve points, three on the median (5): nine useful.
    let values = [1.0, 9.0, 2.0, 5.0, 8.0, 5.0, 3.0, 5.0, 7.0, 4.0, 6.0, 9.0];
    let a = chart(&values, None, Up);
    assert_eq!(a.median, 5.0);
    assert_eq!(a.useful_observations, 9);
    assert_eq!(
        a.runs_test,
        RunsTest::TooFewPoints {
            useful: 9,
            needed: 10
        }
    );
}

const LOW: [f64; 10] = [3.0, 1.0, 4.0, 2.0, 5.0, 3.0, 1.0, 4.0, 2.0, 5.0];
const HIGH: [f64; 10] = [13.0, 11.0, 14.0, 12.0, 15.0, 13.0, 11.0, 14.0, 12.0, 15.0];

/// Perla et al. 2011, Figure 3 (runs panel): points that stay on one side of the median
/// for long stretches. Ten below, then ten above: 2 runs where 20 useful observations
/// need at least 6.
#[test]
fn two_runs_in_twenty_points_are_too_few() {
    let values: Vec<f64> = LOW.iter().chain(&HIGH).copied().collect();
    let a = chart(&values, None, Up);
    assert_eq!(a.median, 8.0);
    assert_eq!((a.useful_observations, a.runs), (20, 2));
    assert_eq!(
        a.runs_test,
        RunsTest::Evaluated {
            runs: 2,
            limits: RunsLimits {
                lower: 6,
                upper: 16,
                source: LimitsSource::Table
            }
        }
    );
    assert_eq!(
        kinds(&a),
        vec![
            SignalKind::Shift { side: Side::Below },
            SignalKind::TooFewRuns {
                runs: 2,
                lower_limit: 6,
                useful_observations: 20
            },
            SignalKind::Shift { side: Side::Above },
        ]
    );
    let too_few = &a.signals[1];
    assert_eq!(too_few.points, (0..20).collect::<Vec<_>>());
    assert_eq!(too_few.assessment, Assessment::NotJudged);
}

#[test]
fn twenty_runs_in_twenty_points_are_too_many() {
    let values: Vec<f64> = (0..20)
        .map(|i| match i % 4 {
            0 => 1.0,
            1 => 10.0,
            2 => 2.0,
            _ => 9.0,
        })
        .collect();
    let a = chart(&values, None, Up);
    assert_eq!((a.useful_observations, a.runs), (20, 20));
    assert_eq!(
        kinds(&a),
        vec![SignalKind::TooManyRuns {
            runs: 20,
            upper_limit: 16,
            useful_observations: 20
        }]
    );
    assert!(a.signals[0].meaning().contains("two sources"));
}

/// The limits themselves are what chance gives: 6 and 16 runs in 20 are not signals.
#[test]
fn runs_at_the_limits_are_not_signals() {
    // Runs of 4, 3, 3, 3, 3, 4 points: ten below, ten above, six runs.
    let lengths_six = [4, 3, 3, 3, 3, 4];
    // Four runs of 2 then twelve of 1: sixteen runs.
    let lengths_sixteen = [2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    for (lengths, runs) in [(&lengths_six[..], 6), (&lengths_sixteen[..], 16)] {
        let mut values = Vec::new();
        for (k, &len) in lengths.iter().enumerate() {
            let pattern = if k % 2 == 0 {
                [2.0, 1.0, 3.0, 2.0]
            } else {
                [12.0, 11.0, 13.0, 12.0]
            };
            values.extend(&pattern[..len]);
        }
        let a = chart(&values, None, Up);
        assert_eq!((a.useful_observations, a.runs), (20, runs));
        assert_eq!(kinds(&a), vec![], "{runs} runs");
    }
}

// ---------------------------------------------------------------------------
// Rule 4: astronomical point
// ---------------------------------------------------------------------------

const NOISE: [f64; 12] = [
    50.0, 52.0, 49.0, 51.0, 48.0, 50.0, 53.0, 47.0, 51.0, 50.0, 49.0, 52.0,
];

/// Perla et al. 2011, Figure 3 (astronomical panel): one month far from all the others.
#[test]
fn one_point_far_from_all_the_others_is_astronomical() {
    let mut values = NOISE;
    values[6] = 80.0;
    let a = chart(&values, None, Down);
    assert_eq!(a.astronomical_test, AstronomicalTest::Evaluated);
    assert_eq!(
        kinds(&a),
        vec![SignalKind::AstronomicalPoint { side: Side::Above }]
    );
    assert_eq!(a.signals[0].points, vec![6]);
    assert_eq!(a.signals[0].assessment, Assessment::Deterioration);
    assert!(a.signals[0].meaning().contains("not a proof"));

    let mut values = NOISE;
    values[3] = 20.0;
    let a = chart(&values, None, Up);
    assert_eq!(
        kinds(&a),
        vec![SignalKind::AstronomicalPoint { side: Side::Below }]
    );
    assert_eq!(a.signals[0].points, vec![3]);
    assert_eq!(a.signals[0].assessment, Assessment::Deterioration);
}

/// "Every data set will have a high and a low point; this does not mean the high or low
/// are astronomical" (Perla et al. 2011, rule 4).
#[test]
fn the_highest_and_lowest_of_ordinary_variation_are_not_astronomical() {
    let a = chart(&NOISE, None, Up);
    assert_eq!(kinds(&a), vec![]);
}

#[test]
fn far_points_that_come_together_are_not_each_astronomical() {
    // Two unusual months: neither is "a point different from the rest".
    let mut values = NOISE;
    values[2] = 79.0;
    values[6] = 80.0;
    assert_eq!(kinds(&chart(&values, None, Up)), vec![]);

    // A large change: every month after it is far from the old median. That is a shift.
    let values = with_baseline(&[85.0, 87.0, 86.0, 88.0, 85.0, 86.0]);
    let a = chart(&values, Some(12), Up);
    assert_eq!(kinds(&a), vec![SignalKind::Shift { side: Side::Above }]);
}

#[test]
fn with_no_spread_among_the_others_no_point_is_called_astronomical() {
    // Eleven months at 100 %: the other points' MAD is 0, and the rule cannot judge.
    let mut values = [100.0; 12];
    values[5] = 60.0;
    let a = chart(&values, None, Up);
    assert_eq!(a.astronomical_test, AstronomicalTest::Evaluated);
    assert!(
        !kinds(&a)
            .iter()
            .any(|k| matches!(k, SignalKind::AstronomicalPoint { .. }))
    );
}

#[test]
fn on_fewer_than_ten_points_the_astronomical_rule_is_not_evaluated() {
    let a = chart(
        &[50.0, 52.0, 49.0, 51.0, 48.0, 50.0, 53.0, 47.0, 90.0],
        None,
        Up,
    );
    assert_eq!(
        a.astronomical_test,
        AstronomicalTest::TooFewPoints {
            points: 9,
            needed: 10
        }
    );
    assert_eq!(kinds(&a), vec![]);
}

// ---------------------------------------------------------------------------
// Meanings and the wire shape
// ---------------------------------------------------------------------------

#[test]
fn each_signal_explains_itself_in_plain_words() {
    let signal = |kind, points: Vec<usize>, assessment| Signal {
        kind,
        points,
        assessment,
    };
    let shift = signal(
        SignalKind::Shift { side: Side::Above },
        (0..6).collect(),
        Assessment::Improvement,
    );
    let text = shift.meaning();
    assert!(
        text.starts_with("6 points in a row above the median: a shift"),
        "{text}"
    );
    assert!(text.contains("probably changed"), "{text}");
    assert!(text.ends_with("It is in the direction you want."), "{text}");

    let trend = signal(
        SignalKind::Trend {
            direction: Direction::Down,
            length: 5,
        },
        (0..6).collect(),
        Assessment::Deterioration,
    );
    let text = trend.meaning();
    assert!(text.starts_with("5 points in a row each lower"), "{text}");
    assert!(text.contains("counted once"), "{text}");
    assert!(
        text.ends_with("the opposite of the direction you want."),
        "{text}"
    );

    let few = signal(
        SignalKind::TooFewRuns {
            runs: 2,
            lower_limit: 6,
            useful_observations: 20,
        },
        (0..20).collect(),
        Assessment::NotJudged,
    );
    let text = few.meaning();
    assert!(text.starts_with("Only 2 runs"), "{text}");
    assert!(text.contains("at least 6 for 20 points"), "{text}");
    assert!(!text.contains("direction you want"), "{text}");

    let astronomical = signal(
        SignalKind::AstronomicalPoint { side: Side::Below },
        vec![3],
        Assessment::NotJudged,
    );
    let text = astronomical.meaning();
    assert!(text.contains("far below all the others"), "{text}");
    assert!(text.contains("not a proof"), "{text}");
}

#[test]
fn the_analysis_serializes_with_named_rules() {
    let a = chart(
        &with_baseline(&[66.0, 68.0, 67.0, 70.0, 69.0, 71.0]),
        Some(12),
        Up,
    );
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["median"], 60.0);
    assert_eq!(json["points"][0]["month"], "2024-01");
    assert_eq!(json["points"][2]["position"], "on_median");
    assert_eq!(
        json["signals"][0]["kind"],
        serde_json::json!({"rule": "shift", "side": "above"})
    );
    assert_eq!(json["signals"][0]["assessment"], "improvement");
    assert_eq!(json["runs_test"]["outcome"], "evaluated");
    let back: RunChartAnalysis = serde_json::from_value(json).unwrap();
    assert_eq!(back, a);
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// Integer values (exact in f64, so sums and negations are exact too), from a small range
/// so that ties and points on the median are common; up to 80 points, past the table.
fn values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((0i32..15).prop_map(f64::from), 1..80)
}

fn desired() -> impl Strategy<Value = DesiredDirection> {
    prop_oneof![Just(Up), Just(Down), Just(Neither)]
}

fn flip_desired(d: DesiredDirection) -> DesiredDirection {
    match d {
        Up => Down,
        Down => Up,
        Neither => Neither,
    }
}

fn flip_side(side: Side) -> Side {
    match side {
        Side::Above => Side::Below,
        Side::Below => Side::Above,
    }
}

fn flip_direction(direction: Direction) -> Direction {
    match direction {
        Direction::Up => Direction::Down,
        Direction::Down => Direction::Up,
    }
}

fn flip_assessment(a: Assessment) -> Assessment {
    match a {
        Assessment::Improvement => Assessment::Deterioration,
        Assessment::Deterioration => Assessment::Improvement,
        Assessment::NotJudged => Assessment::NotJudged,
    }
}

/// Signals in an order that does not depend on where they start.
fn sorted(mut signals: Vec<Signal>) -> Vec<Signal> {
    signals.sort_by_key(|s| format!("{s:?}"));
    signals
}

proptest! {
    /// Every useful observation is in exactly one run, and the number of runs is the
    /// number of median crossings plus one (Perla et al.'s way of counting them).
    #[test]
    fn runs_are_between_one_and_the_useful_observations(values in values(), desired in desired()) {
        let a = chart(&values, None, desired);
        let sides: Vec<Side> = a.points.iter().filter_map(|p| p.position.side()).collect();
        prop_assert_eq!(a.useful_observations, sides.len());
        if sides.is_empty() {
            prop_assert_eq!(a.runs, 0);
        } else {
            prop_assert!(1 <= a.runs && a.runs <= a.useful_observations);
            let crossings = sides.windows(2).filter(|w| w[0] != w[1]).count();
            prop_assert_eq!(a.runs, crossings + 1);
        }
        let evaluated = matches!(a.runs_test, RunsTest::Evaluated { .. });
        prop_assert_eq!(evaluated, a.useful_observations >= RUNS_MIN_USEFUL);
    }

    /// Each signal is what its rule says it is.
    #[test]
    fn every_signal_meets_its_rule(values in values(), desired in desired()) {
        let a = chart(&values, None, desired);
        for s in &a.signals {
            prop_assert!(!s.points.is_empty());
            prop_assert!(s.points.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(!s.meaning().is_empty());
            match s.kind {
                SignalKind::Shift { side } => {
                    prop_assert!(s.points.len() >= SHIFT_MIN_POINTS);
                    let (first, last) = (s.points[0], s.points[s.points.len() - 1]);
                    for i in first..=last {
                        let expected = if s.points.contains(&i) { Some(side) } else { None };
                        prop_assert_eq!(a.points[i].position.side(), expected);
                    }
                }
                SignalKind::Trend { direction, length } => {
                    prop_assert!(length >= TREND_MIN_POINTS);
                    prop_assert!(s.points.windows(2).all(|w| w[1] == w[0] + 1));
                    let mut distinct: Vec<f64> = s.points.iter().map(|&i| values[i]).collect();
                    distinct.dedup();
                    prop_assert_eq!(distinct.len(), length);
                    let monotone = distinct.windows(2).all(|w| match direction {
                        Direction::Up => w[1] > w[0],
                        Direction::Down => w[1] < w[0],
                    });
                    prop_assert!(monotone);
                }
                SignalKind::TooFewRuns { runs, lower_limit, .. } => {
                    prop_assert!(runs < lower_limit);
                    prop_assert_eq!(s.points.len(), a.useful_observations);
                }
                SignalKind::TooManyRuns { runs, upper_limit, .. } => {
                    prop_assert!(runs > upper_limit);
                    prop_assert_eq!(s.points.len(), a.useful_observations);
                }
                SignalKind::AstronomicalPoint { .. } => {
                    prop_assert_eq!(s.points.len(), 1);
                }
            }
        }
    }

    /// Read backwards with the desired direction turned round, a chart shows the same
    /// shifts, runs and astronomical points (with the opposite judgement) and its trends go
    /// the other way (with the same judgement).
    #[test]
    fn reversing_the_series_and_the_desired_direction_mirrors_the_signals(
        values in values(),
        desired in desired(),
    ) {
        let n = values.len();
        let forward = chart(&values, None, desired);
        let reversed_values: Vec<f64> = values.iter().rev().copied().collect();
        let backward = chart(&reversed_values, None, flip_desired(desired));
        prop_assert_eq!(forward.median, backward.median);
        prop_assert_eq!(forward.useful_observations, backward.useful_observations);
        prop_assert_eq!(forward.runs, backward.runs);
        prop_assert_eq!(forward.runs_test, backward.runs_test);
        let mirrored: Vec<Signal> = backward
            .signals
            .into_iter()
            .map(|s| {
                let mut points: Vec<usize> = s.points.iter().map(|&i| n - 1 - i).collect();
                points.sort_unstable();
                let (kind, assessment) = match s.kind {
                    SignalKind::Trend { direction, length } => (
                        SignalKind::Trend { direction: flip_direction(direction), length },
                        s.assessment,
                    ),
                    kind => (kind, flip_assessment(s.assessment)),
                };
                Signal { kind, points, assessment }
            })
            .collect();
        prop_assert_eq!(sorted(forward.signals), sorted(mirrored));
    }

    /// Turned upside down with the desired direction turned round, a chart has the same
    /// signals on the other side, with the same judgements.
    #[test]
    fn negating_the_values_and_the_desired_direction_mirrors_the_signals(
        values in values(),
        desired in desired(),
    ) {
        let upright = chart(&values, None, desired);
        let negated: Vec<f64> = values.iter().map(|v| -v).collect();
        let flipped = chart(&negated, None, flip_desired(desired));
        prop_assert_eq!(flipped.median, -upright.median);
        prop_assert_eq!(upright.runs, flipped.runs);
        let mirrored: Vec<Signal> = flipped
            .signals
            .into_iter()
            .map(|s| Signal {
                kind: match s.kind {
                    SignalKind::Shift { side } => SignalKind::Shift { side: flip_side(side) },
                    SignalKind::Trend { direction, length } => {
                        SignalKind::Trend { direction: flip_direction(direction), length }
                    }
                    SignalKind::AstronomicalPoint { side } => {
                        SignalKind::AstronomicalPoint { side: flip_side(side) }
                    }
                    runs => runs,
                },
                ..s
            })
            .collect();
        prop_assert_eq!(upright.signals, mirrored);
    }

    /// Adding a constant to every value moves the centre line and nothing else.
    #[test]
    fn adding_a_constant_changes_only_the_median(
        values in values(),
        desired in desired(),
        baseline in 0usize..80,
        constant in -1000i32..1000,
    ) {
        let baseline = Some(baseline.min(values.len()));
        let c = f64::from(constant);
        let plain = chart(&values, baseline, desired);
        let moved_values: Vec<f64> = values.iter().map(|v| v + c).collect();
        let moved = chart(&moved_values, baseline, desired);
        prop_assert_eq!(moved.median, plain.median + c);
        let positions = |a: &RunChartAnalysis| a.points.iter().map(|p| p.position).collect::<Vec<_>>();
        prop_assert_eq!(positions(&moved), positions(&plain));
        prop_assert_eq!(moved.useful_observations, plain.useful_observations);
        prop_assert_eq!(moved.runs, plain.runs);
        prop_assert_eq!(moved.runs_test, plain.runs_test);
        prop_assert_eq!(moved.astronomical_test, plain.astronomical_test);
        prop_assert_eq!(moved.signals, plain.signals);
    }

    /// Any baseline from 0 to the series' length is accepted, and its median lies within
    /// the baseline's values.
    #[test]
    fn the_median_lies_within_the_baseline(values in values(), baseline in 0usize..80) {
        let baseline = baseline.min(values.len());
        let a = chart(&values, Some(baseline), Up);
        let used = if baseline == 0 { values.len() } else { baseline };
        prop_assert_eq!(a.baseline_points, used);
        let (min, max) = values[..used]
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        prop_assert!(min <= a.median && a.median <= max);
        let above = values[..used].iter().filter(|&&v| v > a.median).count();
        let below = values[..used].iter().filter(|&&v| v < a.median).count();
        prop_assert!(above <= used / 2 && below <= used / 2);
    }
}
