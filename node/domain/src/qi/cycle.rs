//! A quality-improvement cycle (phase 3 of the GPSC panel-management workbook; the IHI
//! Model for Improvement): an AIM statement — for whom, what will improve, from what to
//! what, by when —, the measures that tell whether a change is an improvement, the change
//! ideas tried (each a Plan–Do–Study–Act cycle with its dates and notes), and one point per
//! measure per month, tracked on a run chart.
//!
//! **Measures.** An *outcome* measure is what the aim is about (diabetes patients with an
//! HbA1c in target), a *process* measure is whether the work is being done (HbA1c measured in
//! the last 6 months), a *balancing* measure watches for harm elsewhere (patients coded
//! without evidence). A measure is computed by Attach from the registry and care-gap data
//! ([`MeasureDef`]) or entered by hand each month.
//!
//! **Points are snapshots.** A computed point is taken once its month has ended, from the
//! records as they stood at the month's last day, and then kept: a record corrected or
//! imported later does not move it. A point taken more than [`LATE_AFTER_DAYS`] days after
//! its month ended (a cycle begun with a baseline from past months, or a node that was off)
//! is marked *computed late*: it used the records present when it was taken, dated up to
//! the month's end. A person may correct any point; the value it replaced stays visible
//! with who corrected it, when and why.
//!
//! Everything here is pure: no clock, no storage.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::runchart::{DesiredDirection, Month, Point, RunChartAnalysis, RunChartError, analyse};
use crate::clinical::rules::{Compiled, GapTiming, PatientCare};
use crate::error::{DomainError, Problems};
use crate::ids::{CycleId, UserId};

/// The longest title or name.
pub const MAX_TITLE: usize = 120;
/// The longest free text (an aim, a PDSA note, a reflection).
pub const MAX_TEXT: usize = 2_000;
/// Measures one cycle may track.
pub const MAX_MEASURES: usize = 12;
/// Change ideas one cycle may record.
pub const MAX_CHANGES: usize = 60;
/// Corrections of one point kept (the oldest go first).
pub const MAX_CORRECTIONS: usize = 10;
/// A computed point taken later than this many days after its month ended is marked late.
pub const LATE_AFTER_DAYS: i64 = 7;
/// The most months before its start a cycle may take as its baseline.
pub const MAX_BASELINE_MONTHS: usize = 24;

fn check_text(p: &mut Problems, field: &str, text: &str, max: usize, required: bool) {
    let n = text.trim().chars().count();
    if required && n == 0 {
        p.add(field, "is required");
    } else if n > max {
        p.add(field, format!("at most {max} characters"));
    }
}

// ---------------------------------------------------------------------------
// The cycle and its aim
// ---------------------------------------------------------------------------

/// Whom the cycle is for: one provider's panel or the clinic, optionally only the patients
/// on one registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Population {
    #[serde(default)]
    pub provider: Option<UserId>,
    /// A registry's key.
    #[serde(default)]
    pub registry: Option<String>,
}

/// The AIM statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aim {
    pub population: Population,
    /// What will improve ("HbA1c in target").
    pub improve: String,
    /// From (the baseline) and to, in `unit`, when the team states numbers.
    #[serde(default)]
    pub from: Option<f64>,
    #[serde(default)]
    pub to: Option<f64>,
    #[serde(default)]
    pub unit: String,
    /// By when.
    pub by: Date,
}

impl Aim {
    /// The statement in the workbook's form: "By 2027-06-30, we will improve HbA1c in
    /// target for Dr. Patel's diabetes patients from 52 % to 65 %."
    pub fn statement(&self, population: &str) -> String {
        let number = |v: f64| {
            let t = format!("{v:.1}");
            let t = t.trim_end_matches('0').trim_end_matches('.').to_owned();
            match self.unit.trim() {
                "" => t,
                "%" => format!("{t} %"),
                u => format!("{t} {u}"),
            }
        };
        let mut s = format!(
            "By {}, we will improve {} for {population}",
            self.by,
            self.improve.trim()
        );
        match (self.from, self.to) {
            (Some(f), Some(t)) => s.push_str(&format!(" from {} to {}", number(f), number(t))),
            (None, Some(t)) => s.push_str(&format!(" to {}", number(t))),
            (Some(f), None) => s.push_str(&format!(" from {}", number(f))),
            (None, None) => {}
        }
        s.push('.');
        s
    }
}

/// Whether the team is still working on the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CycleStatus {
    Active,
    /// Finished (the reflection says what was learned); its points are no longer taken.
    Closed,
}

/// A cycle's own fields (its measures, changes and points are records of their own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cycle {
    pub id: CycleId,
    pub title: String,
    pub aim: Aim,
    /// The first month a point is taken for (the baseline may begin before the cycle).
    pub first_month: Month,
    pub status: CycleStatus,
    /// What the team learned.
    #[serde(default)]
    pub reflection: String,
    pub by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Cycle {
    /// Checks a cycle's fields against `today` (the aim's date must be ahead of the first
    /// month; the baseline at most [`MAX_BASELINE_MONTHS`] back).
    pub fn check(&self, today: Date) -> Result<(), DomainError> {
        let mut p = Problems::default();
        check_text(&mut p, "title", &self.title, MAX_TITLE, true);
        check_text(&mut p, "improve", &self.aim.improve, MAX_TITLE, true);
        check_text(&mut p, "unit", &self.aim.unit, 20, false);
        check_text(&mut p, "reflection", &self.reflection, MAX_TEXT, false);
        for (field, v) in [("from", self.aim.from), ("to", self.aim.to)] {
            if v.is_some_and(|v| !v.is_finite()) {
                p.add(field, "is not a number");
            }
        }
        if let Ok(now) = Month::of(today) {
            if months_between(self.first_month, now) > MAX_BASELINE_MONTHS as i64 {
                p.add(
                    "first_month",
                    format!("at most {MAX_BASELINE_MONTHS} months back"),
                );
            }
            if months_between(now, self.first_month) > 0 {
                p.add("first_month", "is in the future");
            }
        }
        if Month::of(self.aim.by).is_ok_and(|m| months_between(self.first_month, m) < 0) {
            p.add("by", "the aim's date is before the first month measured");
        }
        p.finish(())
    }
}

/// Months from `a` to `b` (negative when `b` is earlier).
pub fn months_between(a: Month, b: Month) -> i64 {
    (i64::from(b.year()) * 12 + i64::from(b.month()))
        - (i64::from(a.year()) * 12 + i64::from(a.month()))
}

/// The last day of `m`.
pub fn last_day(m: Month) -> Option<Date> {
    let first_next = m
        .next()
        .and_then(|n| Date::from_calendar_date(n.year(), month_of(n.month())?, 1).ok())?;
    first_next.previous_day()
}

fn month_of(n: u8) -> Option<time::Month> {
    time::Month::try_from(n).ok()
}

// ---------------------------------------------------------------------------
// Measures
// ---------------------------------------------------------------------------

/// The kind of a measure (IHI: outcome, process, balancing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    Outcome,
    Process,
    Balancing,
}

impl MeasureKind {
    pub const ALL: [Self; 3] = [Self::Outcome, Self::Process, Self::Balancing];

    pub fn key(self) -> &'static str {
        match self {
            Self::Outcome => "outcome",
            Self::Process => "process",
            Self::Balancing => "balancing",
        }
    }

    pub fn from_key(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == s)
    }
}

/// A measure Attach computes from the registry and care-gap data of the cycle's population,
/// as a percentage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "measure", rename_all = "snake_case")]
pub enum MeasureDef {
    /// Of the patients the care-gap rule applies to, those not overdue and not "never
    /// recorded" (a process measure).
    GapUpToDate { rule: String },
    /// Of the patients the rule applies to, those whose latest value meets its target (an
    /// outcome measure; no value counts as not in target).
    GapInTarget { rule: String },
    /// Of the population, those coded on the registry (coding completeness).
    OnRegistry { registry: String },
    /// Of the population, those the registry's rules suggest but who are not coded (a
    /// balancing measure of coding quality).
    ProbablyUncoded { registry: String },
}

/// A measure's count on a day: `numerator` of `denominator` patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Count {
    pub numerator: u32,
    pub denominator: u32,
}

impl Count {
    /// The percentage; `None` with no patient in the denominator.
    pub fn percent(self) -> Option<f64> {
        (self.denominator > 0)
            .then(|| f64::from(self.numerator) * 100.0 / f64::from(self.denominator))
    }
}

impl MeasureDef {
    /// Checks the definition's rule or registry against the catalogue.
    pub fn check(&self, compiled: &Compiled) -> Result<(), DomainError> {
        let known = match self {
            Self::GapUpToDate { rule } | Self::GapInTarget { rule } => {
                compiled.catalogue().gaps.iter().any(|g| g.key == *rule)
            }
            Self::OnRegistry { registry } | Self::ProbablyUncoded { registry } => {
                compiled.registry_index(registry).is_some()
            }
        };
        if known {
            Ok(())
        } else {
            Err(DomainError::invalid(
                "definition",
                "names a care-gap rule or registry the clinic's definitions do not have",
            ))
        }
    }

    /// What it counts, in words.
    pub fn describe(&self, compiled: &Compiled) -> String {
        let gap = |k: &str| {
            compiled
                .catalogue()
                .gaps
                .iter()
                .find(|g| g.key == k)
                .map_or_else(|| k.to_owned(), |g| g.name.clone())
        };
        let reg = |k: &str| {
            compiled
                .registry_index(k)
                .map_or_else(|| k.to_owned(), |i| compiled.registry(i).name.clone())
        };
        match self {
            Self::GapUpToDate { rule } => {
                format!(
                    "% of the patients the rule “{}” applies to who are up to date",
                    gap(rule)
                )
            }
            Self::GapInTarget { rule } => {
                format!(
                    "% of the patients the rule “{}” applies to whose latest value is in target",
                    gap(rule)
                )
            }
            Self::OnRegistry { registry } => format!("% coded on the {} registry", reg(registry)),
            Self::ProbablyUncoded { registry } => {
                format!("% probably {} but not coded", reg(registry))
            }
        }
    }

    /// Counts the patients of `care` (the population, already chosen).
    pub fn count<'a>(
        &self,
        compiled: &Compiled,
        care: impl IntoIterator<Item = &'a PatientCare>,
    ) -> Count {
        let gap_index = |k: &str| {
            compiled
                .catalogue()
                .gaps
                .iter()
                .position(|g| g.key == k)
                .and_then(|i| u16::try_from(i).ok())
        };
        let mut c = Count::default();
        match self {
            Self::GapUpToDate { rule } | Self::GapInTarget { rule } => {
                let Some(i) = gap_index(rule) else { return c };
                for p in care {
                    let Some(g) = p.gaps.iter().find(|g| g.rule == i) else {
                        continue;
                    };
                    c.denominator += 1;
                    let counts = match self {
                        Self::GapUpToDate { .. } => {
                            matches!(g.timing, GapTiming::UpToDate | GapTiming::DueSoon)
                        }
                        _ => g.in_target == Some(true),
                    };
                    c.numerator += u32::from(counts);
                }
            }
            Self::OnRegistry { registry } | Self::ProbablyUncoded { registry } => {
                let Some(r) = compiled.registry_index(registry) else {
                    return c;
                };
                for p in care {
                    c.denominator += 1;
                    let counts = match self {
                        Self::OnRegistry { .. } => p.registries.contains(&r),
                        _ => p.uncoded.iter().any(|u| u.registry == r),
                    };
                    c.numerator += u32::from(counts);
                }
            }
        }
        c
    }
}

/// Where a measure's points come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum MeasureSource {
    /// Computed by Attach each month.
    Computed { def: MeasureDef },
    /// Entered by hand each month, in `unit` (`%`, `days`, `visits`…).
    Manual { unit: String },
}

/// One measure of a cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    /// Stable within the cycle (`m1`, `m2`…).
    pub key: String,
    pub name: String,
    pub kind: MeasureKind,
    pub direction: DesiredDirection,
    pub source: MeasureSource,
    /// How many of the first points make the baseline (its median is the centre line);
    /// 0: all of them, until the team fixes it.
    #[serde(default)]
    pub baseline_points: usize,
    pub by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Measure {
    pub fn check(&self, compiled: &Compiled) -> Result<(), DomainError> {
        let mut p = Problems::default();
        check_text(&mut p, "name", &self.name, MAX_TITLE, true);
        if self.baseline_points > 120 {
            p.add("baseline_points", "at most 120 points");
        }
        match &self.source {
            MeasureSource::Computed { def } => {
                if def.check(compiled).is_err() {
                    p.add(
                        "definition",
                        "names a care-gap rule or registry the clinic's definitions do not have",
                    );
                }
            }
            MeasureSource::Manual { unit } => check_text(&mut p, "unit", unit, 20, false),
        }
        p.finish(())
    }

    /// The unit its values are in.
    pub fn unit(&self) -> &str {
        match &self.source {
            MeasureSource::Computed { .. } => "%",
            MeasureSource::Manual { unit } => unit,
        }
    }

    pub fn is_computed(&self) -> bool {
        matches!(self.source, MeasureSource::Computed { .. })
    }
}

// ---------------------------------------------------------------------------
// Change ideas (PDSA cycles)
// ---------------------------------------------------------------------------

/// One change idea tried, as a Plan–Do–Study–Act cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Stable within the cycle (`c1`, `c2`…).
    pub key: String,
    pub title: String,
    pub started: Date,
    #[serde(default)]
    pub ended: Option<Date>,
    #[serde(default)]
    pub plan: String,
    #[serde(default)]
    pub done: String,
    #[serde(default)]
    pub study: String,
    #[serde(default)]
    pub act: String,
    pub by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Change {
    pub fn check(&self, today: Date) -> Result<(), DomainError> {
        let mut p = Problems::default();
        check_text(&mut p, "title", &self.title, MAX_TITLE, true);
        for (field, text) in [
            ("plan", &self.plan),
            ("do", &self.done),
            ("study", &self.study),
            ("act", &self.act),
        ] {
            check_text(&mut p, field, text, MAX_TEXT, false);
        }
        if self.started > today {
            p.add(
                "started",
                "is in the future: record a change once it has begun",
            );
        }
        if self.ended.is_some_and(|e| e < self.started) {
            p.add("ended", "is before the change began");
        }
        p.finish(())
    }
}

// ---------------------------------------------------------------------------
// Points
// ---------------------------------------------------------------------------

/// How a point came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum PointSource {
    /// Computed by Attach; `late` when taken more than [`LATE_AFTER_DAYS`] after its month.
    Computed { late: bool },
    /// Entered by a person.
    Manual,
}

/// A value a point had before a correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replaced {
    pub value: f64,
    pub source: PointSource,
    pub by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Why it was corrected.
    #[serde(default)]
    pub note: String,
}

/// A measure's value for one month, frozen once taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasurePoint {
    pub measure: String,
    pub month: Month,
    pub value: f64,
    /// The counts behind a computed value.
    #[serde(default)]
    pub count: Option<Count>,
    pub source: PointSource,
    /// Who entered or corrected it (`None`: computed).
    #[serde(default)]
    pub by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Earlier values, oldest first.
    #[serde(default)]
    pub corrections: Vec<Replaced>,
}

fn check_value(value: f64, unit: &str) -> Result<(), DomainError> {
    if !value.is_finite() {
        return Err(DomainError::invalid("value", "is not a number"));
    }
    if unit == "%" && !(0.0..=100.0).contains(&value) {
        return Err(DomainError::invalid(
            "value",
            "a percentage is from 0 to 100",
        ));
    }
    Ok(())
}

impl MeasurePoint {
    /// The point a month's computation gives, taken at `at` (late if long after the month).
    pub fn computed(measure: &str, month: Month, count: Count, at: OffsetDateTime) -> Option<Self> {
        let value = count.percent()?;
        let late =
            last_day(month).is_some_and(|end| (at.date() - end).whole_days() > LATE_AFTER_DAYS);
        Some(Self {
            measure: measure.to_owned(),
            month,
            value,
            count: Some(count),
            source: PointSource::Computed { late },
            by: None,
            at,
            corrections: Vec::new(),
        })
    }

    /// A value entered (`previous`: the month's point so far, which it replaces and keeps as a
    /// correction). Months ahead of `today` are refused.
    #[allow(clippy::too_many_arguments)]
    pub fn entered(
        previous: Option<&MeasurePoint>,
        measure: &Measure,
        month: Month,
        value: f64,
        note: &str,
        today: Date,
        by: UserId,
        at: OffsetDateTime,
    ) -> Result<Self, DomainError> {
        check_value(value, measure.unit())?;
        if Month::of(today).is_ok_and(|now| months_between(now, month) > 0) {
            return Err(DomainError::invalid("month", "is in the future"));
        }
        if note.trim().chars().count() > MAX_TEXT {
            return Err(DomainError::invalid(
                "note",
                format!("at most {MAX_TEXT} characters"),
            ));
        }
        if previous.is_some() && note.trim().is_empty() {
            return Err(DomainError::invalid(
                "note",
                "say why the month's value is corrected (it is kept beside the new value)",
            ));
        }
        let mut corrections = previous.map(|p| p.corrections.clone()).unwrap_or_default();
        if let Some(p) = previous {
            corrections.push(Replaced {
                value: p.value,
                source: p.source,
                by: p.by,
                at: p.at,
                note: note.trim().to_owned(),
            });
            if corrections.len() > MAX_CORRECTIONS {
                let extra = corrections.len() - MAX_CORRECTIONS;
                corrections.drain(..extra);
            }
        }
        Ok(Self {
            measure: measure.key.clone(),
            month,
            value,
            count: None,
            source: PointSource::Manual,
            by: Some(by),
            at,
            corrections,
        })
    }

    pub fn is_corrected(&self) -> bool {
        !self.corrections.is_empty()
    }

    /// How the point was taken, in words: computed, computed late, entered or corrected.
    pub fn taken_words(&self) -> &'static str {
        match (self.source, self.is_corrected()) {
            (_, true) => "corrected",
            (PointSource::Computed { late: false }, _) => "computed",
            (PointSource::Computed { late: true }, _) => "computed late",
            (PointSource::Manual, _) => "entered",
        }
    }
}

/// The months a computed measure still needs a point for: from the cycle's first month to
/// the last month that has ended by `today`, without a point yet. None for a closed cycle.
pub fn months_due(cycle: &Cycle, have: &[Month], today: Date) -> Vec<Month> {
    if cycle.status == CycleStatus::Closed {
        return Vec::new();
    }
    let Ok(now) = Month::of(today) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut m = cycle.first_month;
    while months_between(m, now) > 0 {
        if !have.contains(&m) {
            out.push(m);
        }
        match m.next() {
            Some(n) => m = n,
            None => break,
        }
    }
    out
}

/// A measure's run chart: its points in month order, against the median of its baseline.
pub fn run_chart(
    measure: &Measure,
    points: &[MeasurePoint],
) -> Result<RunChartAnalysis, RunChartError> {
    let mut series: Vec<Point> = points
        .iter()
        .filter(|p| p.measure == measure.key)
        .map(|p| Point::new(p.month, p.value))
        .collect();
    series.sort_by_key(|p| p.month);
    let baseline = match measure.baseline_points {
        0 => None,
        n => Some(n.min(series.len())),
    };
    analyse(&series, baseline, measure.direction)
}

#[cfg(test)]
#[path = "cycle_tests.rs"]
mod tests;
