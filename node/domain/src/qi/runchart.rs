//! Run-chart analysis of a quality-improvement measure: monthly points of a measure (say
//! "% of diabetes patients with an HbA1c in the last 6 months"), a centre line at the
//! median, and the four probability-based rules that tell a clinic team whether what they
//! see is more than chance.
//!
//! The rules are those of Perla RJ, Provost LP, Murray SK, "The run chart: a simple
//! analytical tool for learning from variation in healthcare processes", *BMJ Quality &
//! Safety* 2011;20:46–51 (also the IHI *Run Chart Tool*):
//!
//! 1. **Shift** ([`SignalKind::Shift`]): [`SHIFT_MIN_POINTS`] (six) or more consecutive
//!    points all above or all below the median. Points on the median neither make nor
//!    break a shift: they are skipped.
//! 2. **Trend** ([`SignalKind::Trend`]): [`TREND_MIN_POINTS`] (five) or more consecutive
//!    points all going up or all going down. Of consecutive equal ("like") values only one
//!    counts: a repeat neither makes nor breaks a trend.
//! 3. **Too few or too many runs** ([`SignalKind::TooFewRuns`], [`SignalKind::TooManyRuns`]):
//!    a run is a series of points on the same side of the median, points on the median
//!    ignored; the number of runs is checked against the limits of [`runs_limits`] (the
//!    paper's Table 1 for 10 to 60 useful observations, a normal approximation above).
//! 4. **Astronomical point** ([`SignalKind::AstronomicalPoint`]): a point obviously
//!    different from the rest. The paper leaves this to judgement; here it is a fixed,
//!    documented criterion (see [`ASTRONOMICAL_ROBUST_Z`]) that flags a point to look
//!    at, not a proof.
//!
//! Everything is a pure function of its input: no clock, no I/O.
//!
//! ```
//! use attach_domain::qi::runchart::{DesiredDirection, Month, Point, SignalKind, Side, analyse};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Twelve baseline months around 60 %, then six months after a change, all above.
//! let values = [58.0, 61.0, 60.0, 59.0, 62.0, 60.0, 57.0, 63.0, 60.0, 61.0, 59.0, 60.0,
//!               66.0, 68.0, 67.0, 70.0, 69.0, 71.0];
//! let mut month: Month = "2025-01".parse()?;
//! let mut points = Vec::new();
//! for value in values {
//!     points.push(Point::new(month, value));
//!     month = month.next().ok_or("no month after 9999-12")?;
//! }
//! let chart = analyse(&points, Some(12), DesiredDirection::Up)?;
//! assert_eq!(chart.median, 60.0);
//! let shift = chart
//!     .signals
//!     .iter()
//!     .find(|s| s.kind == SignalKind::Shift { side: Side::Above })
//!     .ok_or("no shift")?;
//! assert_eq!(shift.points, (12..18).collect::<Vec<_>>());
//! assert_eq!(shift.in_desired_direction(), Some(true));
//! println!("{}", shift.meaning());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::Date;

// ---------------------------------------------------------------------------
// Month
// ---------------------------------------------------------------------------

/// A calendar month, `0001-01` to `9999-12`. Written and parsed as `YYYY-MM` (`2026-03`);
/// ordered by time. Serialized as that string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    // Field order gives the derived `Ord`: year, then month.
    year: u16,
    month: u8,
}

/// Why a month could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonthError {
    #[error("{text:?} is not a month: write it as YYYY-MM, e.g. 2026-03")]
    Format { text: String },
    #[error("month {month} is not between 1 and 12")]
    MonthOutOfRange { month: u8 },
    #[error("year {year} is not between 1 and 9999")]
    YearOutOfRange { year: i32 },
}

impl Month {
    /// The month `month` (1–12) of `year` (1–9999).
    pub fn new(year: i32, month: u8) -> Result<Self, MonthError> {
        let year = u16::try_from(year)
            .ok()
            .filter(|y| (1..=9999).contains(y))
            .ok_or(MonthError::YearOutOfRange { year })?;
        if !(1..=12).contains(&month) {
            return Err(MonthError::MonthOutOfRange { month });
        }
        Ok(Self { year, month })
    }

    /// The month `date` falls in.
    pub fn of(date: Date) -> Result<Self, MonthError> {
        Self::new(date.year(), u8::from(date.month()))
    }

    pub fn year(self) -> i32 {
        i32::from(self.year)
    }

    /// 1 (January) to 12 (December).
    pub fn month(self) -> u8 {
        self.month
    }

    /// The month after this one; `None` after 9999-12.
    pub fn next(self) -> Option<Self> {
        if self.month == 12 {
            Self::new(self.year() + 1, 1).ok()
        } else {
            Some(Self {
                year: self.year,
                month: self.month + 1,
            })
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = MonthError;

    /// Exactly `YYYY-MM`: four digits, a hyphen, two digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let format = || MonthError::Format {
            text: text.to_owned(),
        };
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .filter(|d| d.iter().all(u8::is_ascii_digit))
                .map(|d| d.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
        };
        if bytes.len() != 7 || bytes[4] != b'-' {
            return Err(format());
        }
        let year = digits(0..4).ok_or_else(format)?;
        let month = digits(5..7).ok_or_else(format)?;
        // Four and two digits: both fit.
        Self::new(
            i32::try_from(year).map_err(|_| format())?,
            u8::try_from(month).map_err(|_| format())?,
        )
    }
}

impl TryFrom<String> for Month {
    type Error = MonthError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Month> for String {
    fn from(month: Month) -> Self {
        month.to_string()
    }
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// One point of the chart: the measure's value for a month.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub month: Month,
    pub value: f64,
}

impl Point {
    pub fn new(month: Month, value: f64) -> Self {
        Self { month, value }
    }
}

/// Which way the measure should move, so that a signal can be called an improvement or a
/// deterioration. `Neither`: no direction is better (or the team has not said); signals
/// are then reported without a judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredDirection {
    Up,
    Down,
    Neither,
}

/// The input is not a chart that can be analysed. Each names the offending point's month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunChartError {
    #[error("the run chart has no points")]
    NoPoints,
    #[error("the value for {month} is not a finite number")]
    NotFinite { month: Month },
    #[error("{month} comes after {previous}: points must be in month order")]
    OutOfOrder { month: Month, previous: Month },
    #[error("{month} has more than one point")]
    DuplicateMonth { month: Month },
    #[error("the baseline is {baseline} points but the chart has only {points}")]
    BaselineTooLong { baseline: usize, points: usize },
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// Where a point lies against the median.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    Above,
    Below,
    /// Exactly on the median: not a useful observation for the shift and runs rules.
    OnMedian,
}

impl Position {
    pub fn side(self) -> Option<Side> {
        match self {
            Self::Above => Some(Side::Above),
            Self::Below => Some(Side::Below),
            Self::OnMedian => None,
        }
    }
}

/// A side of the median.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Above,
    Below,
}

/// The way a trend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
}

/// A point of the analysed chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChartPoint {
    pub month: Month,
    pub value: f64,
    pub position: Position,
}

/// Whether a signal goes the way the team wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    /// In the desired direction.
    Improvement,
    /// Against the desired direction.
    Deterioration,
    /// No desired direction was given, or the signal has no direction (too few or too
    /// many runs).
    NotJudged,
}

/// Which rule fired, with what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum SignalKind {
    /// Rule 1: six or more points in a row on one side of the median.
    Shift { side: Side },
    /// Rule 2: five or more points in a row each higher (or each lower) than the one
    /// before. `length` counts like values once, so it can be less than the number of
    /// points the trend covers.
    Trend { direction: Direction, length: usize },
    /// Rule 3: fewer runs than `lower_limit`.
    TooFewRuns {
        runs: usize,
        lower_limit: usize,
        useful_observations: usize,
    },
    /// Rule 3: more runs than `upper_limit`.
    TooManyRuns {
        runs: usize,
        upper_limit: usize,
        useful_observations: usize,
    },
    /// Rule 4: a point far from all the others (criterion at
    /// [`ASTRONOMICAL_ROBUST_Z`]).
    AstronomicalPoint { side: Side },
}

impl SignalKind {
    /// Rank for a stable order of signals that start at the same point.
    fn rank(&self) -> u8 {
        match self {
            Self::Shift { .. } => 0,
            Self::Trend { .. } => 1,
            Self::TooFewRuns { .. } => 2,
            Self::TooManyRuns { .. } => 3,
            Self::AstronomicalPoint { .. } => 4,
        }
    }
}

/// A non-random pattern found on the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub kind: SignalKind,
    /// Indices (into [`RunChartAnalysis::points`], ascending) of the points that make the
    /// signal. A shift lists its points off the median (points on the median inside it do
    /// not count); a trend lists every point it covers, repeats included; a runs signal
    /// lists every useful observation; an astronomical point lists itself.
    pub points: Vec<usize>,
    pub assessment: Assessment,
}

impl Signal {
    /// `Some(true)` for an improvement, `Some(false)` for a deterioration, `None` when not
    /// judged.
    pub fn in_desired_direction(&self) -> Option<bool> {
        match self.assessment {
            Assessment::Improvement => Some(true),
            Assessment::Deterioration => Some(false),
            Assessment::NotJudged => None,
        }
    }

    /// What the signal means, in words for a clinic team.
    pub fn meaning(&self) -> String {
        let count = self.points.len();
        let text = match self.kind {
            SignalKind::Shift { side } => format!(
                "{count} points in a row {} the median: a shift. Six or more in a row on one \
                 side rarely happens by chance, so the process has probably changed. (Points \
                 exactly on the median are skipped: they neither add to nor break a shift.)",
                side_words(side)
            ),
            SignalKind::Trend { direction, length } => format!(
                "{length} points in a row each {} than the one before: a trend. Five or more \
                 steady steps the same way rarely happen by chance, so something is \
                 probably changing the process. (A value repeated from one month to the \
                 next is counted once.)",
                match direction {
                    Direction::Up => "higher",
                    Direction::Down => "lower",
                }
            ),
            SignalKind::TooFewRuns {
                runs,
                lower_limit,
                useful_observations,
            } => format!(
                "Only {runs} runs (stretches of points on one side of the median) where chance \
                 alone gives at least {lower_limit} for {useful_observations} points off the \
                 median: the points stay on one side for long stretches, so the process has \
                 probably changed."
            ),
            SignalKind::TooManyRuns {
                runs,
                upper_limit,
                useful_observations,
            } => format!(
                "{runs} runs (stretches of points on one side of the median) where chance alone \
                 gives at most {upper_limit} for {useful_observations} points off the median: \
                 the points swap sides too regularly. This often means the data mix two \
                 sources (say two providers or two sites) or the process is being adjusted \
                 back and forth."
            ),
            SignalKind::AstronomicalPoint { side } => format!(
                "This point is far {} all the others (more than three and a half robust \
                 standard deviations from their median, and the only point that far out). \
                 Look at what happened that month: a data error, an unusual event, a change \
                 that took hold. It flags a point to look at, not a proof that anything \
                 changed.",
                match side {
                    Side::Above => "above",
                    Side::Below => "below",
                }
            ),
        };
        match self.assessment {
            Assessment::Improvement => format!("{text} It is in the direction you want."),
            Assessment::Deterioration => {
                format!("{text} It is the opposite of the direction you want.")
            }
            Assessment::NotJudged => text,
        }
    }
}

fn side_words(side: Side) -> &'static str {
    match side {
        Side::Above => "above",
        Side::Below => "below",
    }
}

/// Where the runs limits come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitsSource {
    /// Perla et al. 2011, Table 1 (10 to 60 useful observations).
    Table,
    /// The normal approximation (more than 60 useful observations), see [`runs_limits`].
    NormalApproximation,
}

/// The range of runs that chance alone gives: fewer than `lower` is too few, more than
/// `upper` too many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunsLimits {
    pub lower: usize,
    pub upper: usize,
    pub source: LimitsSource,
}

/// The runs rule's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunsTest {
    /// Fewer than [`RUNS_MIN_USEFUL`] useful observations: the rule is not evaluated.
    TooFewPoints { useful: usize, needed: usize },
    /// The rule was evaluated; a signal is in the analysis when `runs` is outside the
    /// limits.
    Evaluated { runs: usize, limits: RunsLimits },
}

/// The astronomical-point rule's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AstronomicalTest {
    /// Fewer than [`ASTRONOMICAL_MIN_POINTS`] points: the rule is not evaluated.
    TooFewPoints {
        points: usize,
        needed: usize,
    },
    Evaluated,
}

/// A run chart, analysed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunChartAnalysis {
    /// The centre line: the median of the first `baseline_points` points.
    pub median: f64,
    pub baseline_points: usize,
    pub desired: DesiredDirection,
    /// The input points in order, each with its position against the median.
    pub points: Vec<ChartPoint>,
    /// Points not on the median.
    pub useful_observations: usize,
    /// Runs: maximal series of useful observations on the same side of the median (0 when
    /// there are no useful observations).
    pub runs: usize,
    pub runs_test: RunsTest,
    pub astronomical_test: AstronomicalTest,
    /// Every signal, ordered by the first point it involves, then by rule.
    pub signals: Vec<Signal>,
}

// ---------------------------------------------------------------------------
// The rules' constants
// ---------------------------------------------------------------------------

/// Rule 1: a shift is this many or more points in a row on one side of the median.
pub const SHIFT_MIN_POINTS: usize = 6;
/// Rule 2: a trend is this many or more points in a row going the same way.
pub const TREND_MIN_POINTS: usize = 5;
/// Rule 3 is not evaluated below this many useful observations (the table's first row).
pub const RUNS_MIN_USEFUL: usize = 10;
/// Rule 3 uses the table up to this many useful observations, the normal approximation
/// above.
pub const RUNS_TABLE_MAX_USEFUL: usize = 60;

/// Rule 3's limits for 10 to 60 useful observations, as `(useful observations, lower
/// limit, upper limit)`: too few runs is fewer than the lower limit, too many is more than
/// the upper limit.
///
/// Source: Perla RJ, Provost LP, Murray SK, "The run chart: a simple analytical tool for
/// learning from variation in healthcare processes", *BMJ Qual Saf* 2011;20:46–51,
/// Table 1 ("Table for checking for too many or too few runs on a run chart"), which is
/// adapted from Swed FS, Eisenhart C, "Tables for testing randomness of grouping in a
/// sequence of alternatives", *Ann Math Stat* 1943;14:66–87, and is "based on about a 5%
/// risk of failing the run test for random patterns of data". The rows are the published
/// ones, irregularities included (they are within one of the exact two-sided 5 % limits
/// for equal numbers above and below the median; a test checks this).
pub const RUNS_TABLE: [(usize, usize, usize); 51] = [
    (10, 3, 9),
    (11, 3, 10),
    (12, 3, 11),
    (13, 4, 11),
    (14, 4, 12),
    (15, 5, 12),
    (16, 5, 13),
    (17, 5, 13),
    (18, 6, 14),
    (19, 6, 15),
    (20, 6, 16),
    (21, 7, 16),
    (22, 7, 17),
    (23, 7, 17),
    (24, 8, 18),
    (25, 8, 18),
    (26, 9, 19),
    (27, 10, 19),
    (28, 10, 20),
    (29, 10, 20),
    (30, 11, 21),
    (31, 11, 22),
    (32, 11, 23),
    (33, 12, 23),
    (34, 12, 24),
    (35, 13, 24),
    (36, 13, 25),
    (37, 13, 25),
    (38, 14, 26),
    (39, 14, 26),
    (40, 15, 27),
    (41, 16, 27),
    (42, 16, 28),
    (43, 17, 28),
    (44, 17, 29),
    (45, 17, 30),
    (46, 17, 31),
    (47, 18, 31),
    (48, 18, 32),
    (49, 19, 32),
    (50, 19, 33),
    (51, 20, 33),
    (52, 20, 34),
    (53, 21, 34),
    (54, 21, 35),
    (55, 22, 35),
    (56, 22, 36),
    (57, 23, 36),
    (58, 23, 37),
    (59, 24, 38),
    (60, 24, 38),
];

/// Rule 4 is not evaluated on fewer points than this: with fewer, "the rest" is too small
/// a group to say a point is obviously different from it. (A design choice, not from the
/// paper.)
pub const ASTRONOMICAL_MIN_POINTS: usize = 10;

/// Rule 4's criterion, in robust standard deviations. A point `x_i` is astronomical when
/// both hold:
///
/// 1. it lies more than this many robust standard deviations from the median of the
///    *other* points: `|x_i − median(others)| > 3.5 × 1.4826 × MAD(others)`, where `MAD`
///    is the median absolute deviation of the other points from their median and 1.4826
///    ([`MAD_TO_STANDARD_DEVIATION`]) scales it to a standard deviation for normally
///    distributed data. This is the modified z-score of Iglewicz B, Hoaglin DC, *How to
///    detect and handle outliers* (ASQC Quality Press, 1993), with their cut-off of 3.5
///    (the Hampel identifier; see also Leys C et al., "Detecting outliers: do not use
///    standard deviation around the mean, use absolute deviation around the median",
///    *J Exp Soc Psychol* 2013;49:764–766). The median and MAD are barely moved by the
///    point judged or by a few other unusual points, which is why they are used rather
///    than the mean and standard deviation;
/// 2. it is the only point that far out on its side (no other point lies beyond the same
///    limit on the same side). A single point "obviously different from the rest" is what
///    the rule is for; several far points together are a pattern (after a large change
///    every new month lies far from the old median, and that is a shift, not six
///    astronomical points).
///
/// When at least half of the other points are equal the MAD is 0 and there is no spread to
/// judge against: that point is not flagged. Perla et al. say an astronomical point is a
/// judgement ("every data set will have a high and a low point; this does not mean the
/// high or low are astronomical"); this criterion only makes the flag repeatable. It
/// flags a point to look at, not a proof.
pub const ASTRONOMICAL_ROBUST_Z: f64 = 3.5;

/// 1 / Φ⁻¹(3/4): turns a median absolute deviation into a standard deviation for normally
/// distributed data.
pub const MAD_TO_STANDARD_DEVIATION: f64 = 1.4826;

/// The critical value of the standard normal distribution for a two-sided 5 % test, used
/// by the normal approximation of [`runs_limits`].
const Z_TWO_SIDED_5_PERCENT: f64 = 1.96;

/// The range of runs chance alone gives for `useful` observations off the median, or
/// `None` below [`RUNS_MIN_USEFUL`] (the rule is not evaluated).
///
/// - 10 to 60: [`RUNS_TABLE`] (Perla et al. 2011, Table 1).
/// - More than 60: the normal approximation to the distribution of the number of runs
///   (Wald A, Wolfowitz J, "On a test whether two samples are from the same population",
///   *Ann Math Stat* 1940;11:147–162; the approximation the Swed–Eisenhart tables are
///   replaced by for large samples). With `n1` points above and `n2` below the median, the
///   number of runs has mean `μ = 2·n1·n2/(n1+n2) + 1` and variance
///   `σ² = 2·n1·n2·(2·n1·n2 − n1 − n2) / ((n1+n2)²·(n1+n2−1))`. Like the table, the limits
///   assume half the `n` useful observations on each side of the median (`n1 = n2 = n/2`),
///   which gives `μ = n/2 + 1` and `σ² = n·(n−2) / (4·(n−1))`. With a continuity
///   correction and 2.5 % in each tail (about 5 % risk in all, as the table), the lower
///   limit is the largest `L` with `Φ((L − ½ − μ)/σ) ≤ 0.025` and the upper limit the
///   smallest `U` with `1 − Φ((U + ½ − μ)/σ) ≤ 0.025`:
///   `lower = ⌊μ + ½ − 1.96·σ⌋`, `upper = ⌈μ − ½ + 1.96·σ⌉`.
///   From 61 to 120 useful observations these are within one of the exact limits of the
///   Swed–Eisenhart distribution and equal to them at most counts (a test checks this);
///   at 61 they are 24 and 39, next to the table's 24 and 38 at 60.
pub fn runs_limits(useful: usize) -> Option<RunsLimits> {
    if useful < RUNS_MIN_USEFUL {
        return None;
    }
    if useful <= RUNS_TABLE_MAX_USEFUL {
        return RUNS_TABLE
            .iter()
            .find(|(n, _, _)| *n == useful)
            .map(|&(_, lower, upper)| RunsLimits {
                lower,
                upper,
                source: LimitsSource::Table,
            });
    }
    let (lower, upper) = normal_runs_limits(useful);
    Some(RunsLimits {
        lower,
        upper,
        source: LimitsSource::NormalApproximation,
    })
}

fn normal_runs_limits(n: usize) -> (usize, usize) {
    let n = n as f64;
    let mean = n / 2.0 + 1.0;
    let sd = (n * (n - 2.0) / (4.0 * (n - 1.0))).sqrt();
    let lower = (mean + 0.5 - Z_TWO_SIDED_5_PERCENT * sd).floor().max(1.0);
    let upper = (mean - 0.5 + Z_TWO_SIDED_5_PERCENT * sd).ceil();
    // Both are positive and at most n + 1: the casts are exact.
    (lower as usize, upper as usize)
}

// ---------------------------------------------------------------------------
// The analysis
// ---------------------------------------------------------------------------

/// Analyses a run chart.
///
/// `points` must be in month order, one per month (months may be missing), with finite
/// values. The centre line is the median of the first `baseline` points; `None` or
/// `Some(0)` takes the median of all points. All four rules are applied to the whole
/// series against that centre line, so the months after a change are judged against the
/// baseline. (The runs limits assume the centre line is the median of the points judged;
/// with a short baseline the runs rule is a rougher guide than the others.)
pub fn analyse(
    points: &[Point],
    baseline: Option<usize>,
    desired: DesiredDirection,
) -> Result<RunChartAnalysis, RunChartError> {
    if points.is_empty() {
        return Err(RunChartError::NoPoints);
    }
    let baseline_points = match baseline {
        None | Some(0) => points.len(),
        Some(b) if b > points.len() => {
            return Err(RunChartError::BaselineTooLong {
                baseline: b,
                points: points.len(),
            });
        }
        Some(b) => b,
    };
    check_points(points)?;

    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    let median = median_of(&values[..baseline_points]).ok_or(RunChartError::NoPoints)?;
    let chart: Vec<ChartPoint> = points
        .iter()
        .map(|p| ChartPoint {
            month: p.month,
            value: p.value,
            position: position(p.value, median),
        })
        .collect();

    let runs = runs_of(&chart);
    let useful: Vec<usize> = runs.iter().flat_map(|r| r.points.iter().copied()).collect();
    let mut useful_sorted = useful.clone();
    useful_sorted.sort_unstable();

    let mut signals = Vec::new();
    for run in runs.iter().filter(|r| r.points.len() >= SHIFT_MIN_POINTS) {
        signals.push(Signal {
            kind: SignalKind::Shift { side: run.side },
            points: run.points.clone(),
            assessment: assess_side(run.side, desired),
        });
    }
    signals.extend(trends(&values, desired));

    let runs_test = match runs_limits(useful.len()) {
        None => RunsTest::TooFewPoints {
            useful: useful.len(),
            needed: RUNS_MIN_USEFUL,
        },
        Some(limits) => {
            let kind = if runs.len() < limits.lower {
                Some(SignalKind::TooFewRuns {
                    runs: runs.len(),
                    lower_limit: limits.lower,
                    useful_observations: useful.len(),
                })
            } else if runs.len() > limits.upper {
                Some(SignalKind::TooManyRuns {
                    runs: runs.len(),
                    upper_limit: limits.upper,
                    useful_observations: useful.len(),
                })
            } else {
                None
            };
            if let Some(kind) = kind {
                signals.push(Signal {
                    kind,
                    points: useful_sorted.clone(),
                    assessment: Assessment::NotJudged,
                });
            }
            RunsTest::Evaluated {
                runs: runs.len(),
                limits,
            }
        }
    };

    let astronomical_test = if values.len() < ASTRONOMICAL_MIN_POINTS {
        AstronomicalTest::TooFewPoints {
            points: values.len(),
            needed: ASTRONOMICAL_MIN_POINTS,
        }
    } else {
        signals.extend(astronomical_points(&values, desired));
        AstronomicalTest::Evaluated
    };

    signals.sort_by_key(|s| {
        (
            s.points.first().copied(),
            s.kind.rank(),
            s.points.last().copied(),
        )
    });

    Ok(RunChartAnalysis {
        median,
        baseline_points,
        desired,
        points: chart,
        useful_observations: useful.len(),
        runs: runs.len(),
        runs_test,
        astronomical_test,
        signals,
    })
}

/// Every value finite; months strictly increasing. The first problem, by position.
fn check_points(points: &[Point]) -> Result<(), RunChartError> {
    let mut previous: Option<Month> = None;
    for p in points {
        if !p.value.is_finite() {
            return Err(RunChartError::NotFinite { month: p.month });
        }
        if let Some(previous) = previous {
            if p.month == previous {
                return Err(RunChartError::DuplicateMonth { month: p.month });
            }
            if p.month < previous {
                return Err(RunChartError::OutOfOrder {
                    month: p.month,
                    previous,
                });
            }
        }
        previous = Some(p.month);
    }
    Ok(())
}

/// The median of finite values; `None` for none.
fn median_of(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let upper = sorted[n / 2];
    if n % 2 == 1 {
        Some(upper)
    } else {
        let lower = sorted[n / 2 - 1];
        // Halves first: no overflow for values near f64::MAX.
        Some(lower / 2.0 + upper / 2.0)
    }
}

fn position(value: f64, median: f64) -> Position {
    if value > median {
        Position::Above
    } else if value < median {
        Position::Below
    } else {
        Position::OnMedian
    }
}

/// A run: useful observations in a row on one side of the median.
struct Run {
    side: Side,
    points: Vec<usize>,
}

/// The runs, in order. Points on the median are skipped: they neither end a run nor
/// belong to one.
fn runs_of(chart: &[ChartPoint]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for (i, side) in chart
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.position.side().map(|s| (i, s)))
    {
        match runs.last_mut() {
            Some(run) if run.side == side => run.points.push(i),
            _ => runs.push(Run {
                side,
                points: vec![i],
            }),
        }
    }
    runs
}

/// Rule 2. Consecutive equal values are one step ("like values" count once); a trend is a
/// maximal series of [`TREND_MIN_POINTS`] or more such steps' values all rising or all
/// falling. A trend's points are every point of the values it covers, repeats included.
/// Two trends can share their turning point (up to a peak, then down from it).
fn trends(values: &[f64], desired: DesiredDirection) -> Vec<Signal> {
    // Groups of consecutive equal values: (value, first index, last index).
    let mut groups: Vec<(f64, usize, usize)> = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if g.0 == v => g.2 = i,
            _ => groups.push((v, i, i)),
        }
    }
    let step = |k: usize| {
        if groups[k + 1].0 > groups[k].0 {
            Direction::Up
        } else {
            Direction::Down
        }
    };
    let mut signals = Vec::new();
    let mut start = 0;
    while start + 1 < groups.len() {
        let direction = step(start);
        let mut end = start + 1;
        while end + 1 < groups.len() && step(end) == direction {
            end += 1;
        }
        let length = end - start + 1;
        if length >= TREND_MIN_POINTS {
            signals.push(Signal {
                kind: SignalKind::Trend { direction, length },
                points: (groups[start].1..=groups[end].2).collect(),
                assessment: assess_direction(direction, desired),
            });
        }
        start = end;
    }
    signals
}

/// Rule 4, by the criterion at [`ASTRONOMICAL_ROBUST_Z`].
fn astronomical_points(values: &[f64], desired: DesiredDirection) -> Vec<Signal> {
    let mut signals = Vec::new();
    for (i, &x) in values.iter().enumerate() {
        let others: Vec<f64> = values
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, &v)| v)
            .collect();
        let Some(centre) = median_of(&others) else {
            continue;
        };
        let deviations: Vec<f64> = others.iter().map(|v| (v - centre).abs()).collect();
        let Some(mad) = median_of(&deviations) else {
            continue;
        };
        if mad <= 0.0 {
            continue;
        }
        let limit = ASTRONOMICAL_ROBUST_Z * MAD_TO_STANDARD_DEVIATION * mad;
        let side = if x > centre { Side::Above } else { Side::Below };
        let beyond = |v: f64| match side {
            Side::Above => v > centre + limit,
            Side::Below => v < centre - limit,
        };
        if beyond(x) && !others.iter().any(|&v| beyond(v)) {
            signals.push(Signal {
                kind: SignalKind::AstronomicalPoint { side },
                points: vec![i],
                assessment: assess_side(side, desired),
            });
        }
    }
    signals
}

fn assess_side(side: Side, desired: DesiredDirection) -> Assessment {
    assess_direction(
        match side {
            Side::Above => Direction::Up,
            Side::Below => Direction::Down,
        },
        desired,
    )
}

fn assess_direction(direction: Direction, desired: DesiredDirection) -> Assessment {
    match (direction, desired) {
        (_, DesiredDirection::Neither) => Assessment::NotJudged,
        (Direction::Up, DesiredDirection::Up) | (Direction::Down, DesiredDirection::Down) => {
            Assessment::Improvement
        }
        (Direction::Up, DesiredDirection::Down) | (Direction::Down, DesiredDirection::Up) => {
            Assessment::Deterioration
        }
    }
}

#[cfg(test)]
#[path = "runchart_tests.rs"]
mod tests;
