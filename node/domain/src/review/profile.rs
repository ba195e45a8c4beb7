//! Panel profile and supply/demand (step 6 of the panel-management workbook): who is on
//! the panel by age and sex, and whether the appointments a provider offers cover the
//! visits a panel of that mix can be expected to need.
//!
//! Three pieces, all pure:
//! - [`pyramid`]: live entries counted in 5-year age bands by sex (the age–sex pyramid);
//! - [`VisitRates`]: expected primary-care visits per person per year by age band and sex,
//!   a table the clinic may replace with its own (the default is a published one, see
//!   [`VisitRates::default`]);
//! - [`supply_demand`]: the panel's expected visits against the visits the provider's
//!   appointments supply, and how many patients of the panel's mix those cover.

use serde::{Deserialize, Serialize};
use time::Date;

use super::{MAX_RULE_AGE, age_on};
use crate::error::{DomainError, Problems};
use crate::types::{PanelEntry, Sex};

// ---------------------------------------------------------------------------
// Age–sex pyramid
// ---------------------------------------------------------------------------

/// Width of a pyramid band, in years.
pub const PYRAMID_BAND_YEARS: u32 = 5;
/// The age from which the pyramid's last band is open-ended (90 and over).
pub const PYRAMID_OPEN_FROM: u32 = 90;

/// Counts by sex. `other` holds X and unknown together: each is too small a group on most
/// panels to show on its own, and neither has a row of its own in published visit rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SexCounts {
    pub female: usize,
    pub male: usize,
    pub other: usize,
    pub total: usize,
}

impl SexCounts {
    fn add(&mut self, sex: Sex) {
        match sex {
            Sex::Female => self.female += 1,
            Sex::Male => self.male += 1,
            Sex::X | Sex::Unknown => self.other += 1,
        }
        self.total += 1;
    }
}

/// One band of the pyramid: ages `min_age` to `max_age` inclusive (`None`: and over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PyramidBand {
    pub min_age: u32,
    pub max_age: Option<u32>,
    pub counts: SexCounts,
}

impl PyramidBand {
    /// The band's ages in words: `0–4`, `85–89`, `90+`.
    pub fn label(&self) -> String {
        band_label(self.min_age, self.max_age)
    }
}

/// The panel's live entries by age band and sex, youngest band first, with the totals.
/// Every band is present, empty or not, so a chart of two panels lines up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pyramid {
    pub bands: Vec<PyramidBand>,
    pub totals: SexCounts,
}

/// Counts the live entries (not removed) by age on `today` (in the clinic's calendar) and
/// sex, in the bands 0–4, 5–9 … 85–89 and 90+. A date of birth after `today` (a data
/// error) counts as age 0 rather than being left out, so the totals are the panel's size.
pub fn pyramid<'a>(entries: impl IntoIterator<Item = &'a PanelEntry>, today: Date) -> Pyramid {
    let open = PYRAMID_OPEN_FROM / PYRAMID_BAND_YEARS;
    let mut bands: Vec<PyramidBand> = (0..=open)
        .map(|i| PyramidBand {
            min_age: i * PYRAMID_BAND_YEARS,
            max_age: (i < open).then_some(i * PYRAMID_BAND_YEARS + PYRAMID_BAND_YEARS - 1),
            counts: SexCounts::default(),
        })
        .collect();
    let mut totals = SexCounts::default();
    for e in entries.into_iter().filter(|e| e.removed.is_none()) {
        let age = age_on(e.details.date_of_birth, today);
        let i = (age / PYRAMID_BAND_YEARS).min(open) as usize;
        if let Some(b) = bands.get_mut(i) {
            b.counts.add(e.details.sex);
        }
        totals.add(e.details.sex);
    }
    Pyramid { bands, totals }
}

fn band_label(min: u32, max: Option<u32>) -> String {
    match max {
        Some(max) => format!("{min}–{max}"),
        None => format!("{min}+"),
    }
}

// ---------------------------------------------------------------------------
// Visit rates
// ---------------------------------------------------------------------------

/// Highest rate a table may give (visits per person per year). Published primary-care
/// rates stay well under 15; 50 allows a clinic's own very-high-need panel and still
/// catches a rate typed per 100 persons (as some tables give them) instead of per person.
pub const MAX_VISIT_RATE: f64 = 50.0;

/// Expected primary-care visits per person per year for ages `min_age` to `max_age`
/// inclusive (`None`: and over), by sex. `other` is the rate used for sex X or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VisitRateBand {
    pub min_age: u32,
    pub max_age: Option<u32>,
    pub female: f64,
    pub male: f64,
    pub other: f64,
}

impl VisitRateBand {
    /// The rate for a patient of this sex.
    pub fn rate(&self, sex: Sex) -> f64 {
        match sex {
            Sex::Female => self.female,
            Sex::Male => self.male,
            Sex::X | Sex::Unknown => self.other,
        }
    }

    /// Whether `age` falls in the band.
    pub fn contains(&self, age: u32) -> bool {
        age >= self.min_age && self.max_age.is_none_or(|m| age <= m)
    }

    /// The band's ages in words: `0–1`, `85+`.
    pub fn label(&self) -> String {
        band_label(self.min_age, self.max_age)
    }
}

/// A table of expected visits per person per year by age band and sex, and where it comes
/// from. The bands are the table's own (any widths); [`VisitRates::check`] says what makes
/// a table usable. A clinic that knows its own rates (from its billing, say) should enter
/// them: rates differ between countries, provinces and practices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitRates {
    pub bands: Vec<VisitRateBand>,
    /// The publication or data the rates come from, shown beside every estimate.
    pub source: String,
}

/// The default table's source, as shown with an estimate.
pub const DEFAULT_VISIT_RATES_SOURCE: &str = "Statistics Norway (Statistisk sentralbyrå), \
    general practitioner statistics, table 5: \"Estimat av gjennomsnittlig antall kontakter \
    og konsultasjoner i løpet av året, etter kjønn og alder. Rater. 2005\" (estimated average \
    number of contacts and consultations during the year, by sex and age; rates; 2005), \
    published 9 October 2006, https://www.ssb.no/a/kortnavn/alegetj/tab-2006-10-09-05.html. \
    Column used: consultations (konsultasjoner) with a general practitioner per person per \
    year, Norway, 2005, by men and women; \"other\" uses the both-sexes column. SSB estimated \
    the year as four times a sample period; out-of-hours emergency care (legevakt) is not \
    included. These are Norwegian rates, not British Columbia's: replace them with the \
    clinic's own where it has them.";

/// The published table behind [`VisitRates::default`]: (min age, max age, women, men,
/// both sexes), consultations per person per year.
const SSB_2005: [(u32, Option<u32>, f64, f64, f64); 9] = [
    (0, Some(1), 1.3, 1.6, 1.5),
    (2, Some(4), 1.9, 2.1, 2.0),
    (5, Some(14), 0.9, 0.9, 0.9),
    (15, Some(24), 1.8, 1.0, 1.4),
    (25, Some(44), 3.0, 1.6, 2.3),
    (45, Some(64), 3.0, 2.2, 2.6),
    (65, Some(74), 3.5, 3.1, 3.3),
    (75, Some(84), 3.9, 4.0, 3.9),
    // The table's last row reads "eldre enn 85 år" ("older than 85") and follows 75–84:
    // it is 85 and over.
    (85, None, 3.0, 3.6, 3.2),
];

impl Default for VisitRates {
    /// Statistics Norway (SSB), "Estimated average number of contacts and consultations
    /// during the year, by sex and age. Rates. 2005" (table 5 of its general practitioner
    /// statistics, published 9 October 2006): consultations with a general practitioner
    /// per person per year in Norway in 2005, for men, women and both sexes, in the bands
    /// 0–1, 2–4, 5–14, 15–24, 25–44, 45–64, 65–74, 75–84 and 85+. SSB estimated the year
    /// as four times a sample period, and left out out-of-hours emergency care. The
    /// consultations column is used, not "patient contacts" (which also counts telephone
    /// calls, letters and prescriptions), since an appointment is a consultation. Sex X
    /// and unknown take the both-sexes rate.
    ///
    /// Why this table: it is primary-care (general practitioner) visits, by age and sex,
    /// per person per year — the measure this estimate needs — and it is published with
    /// its numbers. No BC, CIHI or GPSC table giving those numbers was found in the
    /// sources searched. The rates are Norway's, twenty years old, and not a BC
    /// practice's: rates differ between countries and practices, so a clinic that can
    /// count its own visits (from its billing) should enter them;
    /// [`DEFAULT_VISIT_RATES_SOURCE`] says so beside every estimate.
    fn default() -> Self {
        Self {
            bands: SSB_2005
                .iter()
                .map(|&(min_age, max_age, female, male, other)| VisitRateBand {
                    min_age,
                    max_age,
                    female,
                    male,
                    other,
                })
                .collect(),
            source: DEFAULT_VISIT_RATES_SOURCE.to_owned(),
        }
    }
}

impl VisitRates {
    /// The band that holds `age`, if any (in a checked table, always one).
    pub fn band_for(&self, age: u32) -> Option<&VisitRateBand> {
        self.bands.iter().find(|b| b.contains(age))
    }

    /// The rate for a patient of this age and sex, if the table has a band for the age.
    pub fn rate(&self, age: u32, sex: Sex) -> Option<f64> {
        self.band_for(age).map(|b| b.rate(sex))
    }

    /// The plain average of the table's female and male rates over its bands (each band
    /// counts once, whatever its width): the mix assumed for a panel with no patients yet.
    /// `None` for a table with no bands.
    pub fn average(&self) -> Option<f64> {
        if self.bands.is_empty() {
            return None;
        }
        let sum: f64 = self.bands.iter().map(|b| (b.female + b.male) / 2.0).sum();
        Some(sum / self.bands.len() as f64)
    }

    /// Refuses a table that cannot give every patient a rate, naming each field
    /// (`bands[2].min_age`, `bands[0].female`, `source`): it needs at least one band; the
    /// bands, in order, start at age 0 and each starts the year after the one before ends
    /// (no gap, no overlap); only the last is open-ended, and it must be, so every age has
    /// a rate; ages are at most [`MAX_RULE_AGE`]; every rate is a number from 0 to
    /// [`MAX_VISIT_RATE`], and not all are 0 (no panel would need a visit); and the source
    /// is given (at most 2,000 characters), since an estimate is only as good as its rates.
    pub fn check(&self) -> Result<(), DomainError> {
        let mut p = Problems::default();
        if self.source.trim().is_empty() {
            p.add(
                "source",
                "say where these rates come from (a publication, or the clinic's own counts)",
            );
        } else if self.source.chars().count() > 2_000 {
            p.add("source", "at most 2,000 characters");
        }
        let Some(last) = self.bands.len().checked_sub(1) else {
            p.add(
                "bands",
                "give at least one age band (the first from age 0, the last open-ended)",
            );
            return p.finish(());
        };
        // The age the next band must start at; `None` once an open-ended band has come.
        let mut next = Some(0u32);
        for (i, b) in self.bands.iter().enumerate() {
            let field = |name: &str| format!("bands[{i}].{name}");
            match next {
                Some(expected) if b.min_age < expected => p.add(
                    field("min_age"),
                    format!(
                        "starts at {}, inside the band before (which ends at {}); each band \
                         starts the year after the one before ends",
                        b.min_age,
                        expected - 1
                    ),
                ),
                Some(0) if b.min_age > 0 => {
                    p.add(field("min_age"), "the first band must start at age 0")
                }
                Some(expected) if b.min_age > expected => p.add(
                    field("min_age"),
                    format!(
                        "ages {expected} to {} have no band; start this band at {expected}",
                        b.min_age - 1
                    ),
                ),
                _ => {}
            }
            for (name, age) in [("min_age", Some(b.min_age)), ("max_age", b.max_age)] {
                if age.is_some_and(|a| a > MAX_RULE_AGE) {
                    p.add(field(name), format!("give an age from 0 to {MAX_RULE_AGE}"));
                }
            }
            match b.max_age {
                Some(max) if max < b.min_age => p.add(
                    field("max_age"),
                    format!(
                        "the highest age ({max}) is below the lowest ({}): no one is in this band",
                        b.min_age
                    ),
                ),
                Some(_) if i == last => p.add(
                    field("max_age"),
                    "the last band must be open-ended (leave its highest age out), so every \
                     age has a rate",
                ),
                None if i < last => p.add(
                    field("max_age"),
                    "only the last band may be open-ended; give this band a highest age",
                ),
                _ => {}
            }
            next = b.max_age.map(|m| m.max(b.min_age).saturating_add(1));
            for (name, rate) in [("female", b.female), ("male", b.male), ("other", b.other)] {
                if !rate.is_finite() || !(0.0..=MAX_VISIT_RATE).contains(&rate) {
                    p.add(
                        field(name),
                        format!(
                            "give a number of visits per person per year from 0 to \
                             {MAX_VISIT_RATE}"
                        ),
                    );
                }
            }
        }
        if self
            .bands
            .iter()
            .all(|b| b.female == 0.0 && b.male == 0.0 && b.other == 0.0)
        {
            p.add(
                "bands",
                "every rate is 0: no panel would need a visit; give the rates",
            );
        }
        p.finish(())
    }
}

impl VisitRates {
    /// The table as text, one band a line: `ages; women; men; other`, e.g. `0-1; 1.3; 1.6;
    /// 1.5` and `85+; 3; 3.6; 3.2`. [`VisitRates::parse_lines`] reads it back.
    pub fn to_lines(&self) -> String {
        self.bands
            .iter()
            .map(|b| {
                let ages = match b.max_age {
                    Some(max) => format!("{}-{max}", b.min_age),
                    None => format!("{}+", b.min_age),
                };
                format!("{ages}; {}; {}; {}", b.female, b.male, b.other)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Reads a table typed as [`VisitRates::to_lines`] writes it (blank lines and lines
    /// starting with `#` are skipped; `,` also separates; a decimal comma is not taken),
    /// then checks it ([`VisitRates::check`]). Every problem is named by its line:
    /// `line 3` for a line that does not read, and the checks' fields
    /// (`bands[2].min_age`) become `line 3` too, so a person finds what to fix.
    pub fn parse_lines(text: &str, source: &str) -> Result<Self, DomainError> {
        let mut p = Problems::default();
        let mut bands = Vec::new();
        let mut lines = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let field = format!("line {}", n + 1);
            let parts: Vec<&str> = line
                .split([';', ',', '\t'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let [ages, female, male, other] = parts.as_slice() else {
                p.add(
                    field,
                    format!(
                        "give four values, ages; women; men; other (e.g. 25-44; 3.0; 1.6; 2.3),                          not {}",
                        parts.len()
                    ),
                );
                continue;
            };
            let age = |s: &str| s.trim().parse::<u32>().ok();
            let range = if let Some(min) = ages.strip_suffix('+') {
                age(min).map(|m| (m, None))
            } else {
                ages.split_once(['-', '–'])
                    .and_then(|(a, b)| Some((age(a)?, Some(age(b)?))))
            };
            let Some((min_age, max_age)) = range else {
                p.add(
                    field,
                    format!("the ages \"{ages}\" do not read: write them as 25-44, or 85+ for the last band"),
                );
                continue;
            };
            let mut rate = |what: &str, s: &str| -> f64 {
                s.parse::<f64>().unwrap_or_else(|_| {
                    p.add(
                        field.clone(),
                        format!("the rate for {what} \"{s}\" is not a number (write 2.5, not 2,5)"),
                    );
                    f64::NAN
                })
            };
            let (female, male, other) = (
                rate("women", female),
                rate("men", male),
                rate("other", other),
            );
            if female.is_nan() || male.is_nan() || other.is_nan() {
                continue;
            }
            lines.push(n + 1);
            bands.push(VisitRateBand {
                min_age,
                max_age,
                female,
                male,
                other,
            });
        }
        let rates = Self {
            bands,
            source: source.trim().to_owned(),
        };
        if p.0.is_empty()
            && let Err(DomainError::Validation(found)) = rates.check()
        {
            for f in found {
                let field = f
                    .field
                    .strip_prefix("bands[")
                    .and_then(|rest| rest.split_once(']'))
                    .and_then(|(i, _)| i.parse::<usize>().ok())
                    .and_then(|i| lines.get(i))
                    .map_or(f.field.clone(), |line| format!("line {line}"));
                let field = if field == "bands" {
                    "rates".to_owned()
                } else {
                    field
                };
                p.add(field, f.message);
            }
        }
        p.finish(rates)
    }
}

// ---------------------------------------------------------------------------
// Supply and demand
// ---------------------------------------------------------------------------

/// A common planning assumption for `weeks_per_year` in [`supply_demand`]: a full-time
/// family physician's weeks of clinic in a year after holidays, education leave and
/// statutory days. A convention to start from, not a measured figure; the clinic enters
/// its own.
pub const DEFAULT_WEEKS_PER_YEAR: u32 = 46;
/// Most weeks a year may have in [`supply_demand`].
pub const MAX_WEEKS_PER_YEAR: u32 = 52;
/// Most appointments a week [`supply_demand`] takes (a whole team's schedule fits).
pub const MAX_APPOINTMENTS_PER_WEEK: u32 = 10_000;

/// The panel's expected demand against the provider's supply of appointments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupplyDemand {
    /// Patients counted (live entries).
    pub panel_size: usize,
    /// Sum over the panel of each patient's rate for their age and sex.
    pub expected_visits_per_year: f64,
    /// Appointments a week times weeks a year.
    pub available_visits_per_year: u32,
    /// The panel's average rate; for an empty panel, the table's [`VisitRates::average`].
    pub visits_per_patient: f64,
    /// How many patients of this mix the available visits cover (rounded down).
    pub capacity_patients: u32,
    /// Capacity minus the panel's size: positive is room for more, negative is over.
    pub room: i64,
    /// Whether the mix is the table's average because the panel is empty.
    pub assumed_mix: bool,
    /// One or two plain sentences with the numbers.
    pub explanation: String,
}

/// Estimates whether `appointments_per_week` for `weeks_per_year` (the clinic's figure;
/// [`DEFAULT_WEEKS_PER_YEAR`] is a starting point) cover the visits the live entries of
/// `entries` can be expected to need, each at the `rates` for their age on `today` and
/// sex. The caller chooses which entries count (the whole panel, or only active patients).
///
/// Exact ages are used rather than the pyramid's 5-year bands, because a rate table's
/// bands need not line up with them (0–1 and 2–4 split the pyramid's 0–4).
///
/// For an empty panel there is no mix to average, so the table's plain average over its
/// bands ([`VisitRates::average`]) stands in, and `assumed_mix` says so: a provider
/// starting a panel still learns roughly how many patients the schedule covers.
///
/// Refused, naming the field: a table that fails [`VisitRates::check`]; more than
/// [`MAX_WEEKS_PER_YEAR`] weeks or [`MAX_APPOINTMENTS_PER_WEEK`] appointments; and
/// (`rates`) a panel whose patients all have a rate of 0, as any number of such
/// patients would fit and capacity has no meaning.
pub fn supply_demand<'a>(
    entries: impl IntoIterator<Item = &'a PanelEntry>,
    today: Date,
    rates: &VisitRates,
    appointments_per_week: u32,
    weeks_per_year: u32,
) -> Result<SupplyDemand, DomainError> {
    let mut p = match rates.check() {
        Ok(()) => Problems::default(),
        Err(DomainError::Validation(v)) => Problems(v),
        Err(other) => return Err(other),
    };
    if appointments_per_week > MAX_APPOINTMENTS_PER_WEEK {
        p.add(
            "appointments_per_week",
            format!("give a number of appointments from 0 to {MAX_APPOINTMENTS_PER_WEEK}"),
        );
    }
    if weeks_per_year > MAX_WEEKS_PER_YEAR {
        p.add(
            "weeks_per_year",
            format!("give a number of weeks from 0 to {MAX_WEEKS_PER_YEAR}"),
        );
    }
    p.finish(())?;

    let live = entries.into_iter().filter(|e| e.removed.is_none());
    let (mut panel_size, mut expected) = (0usize, 0.0f64);
    for e in live {
        let age = age_on(e.details.date_of_birth, today);
        // A checked table has a band for every age; 0 would only ever be a bug's answer.
        expected += rates.rate(age, e.details.sex).unwrap_or(0.0);
        panel_size += 1;
    }
    let assumed_mix = panel_size == 0;
    let visits_per_patient = if assumed_mix {
        rates.average().unwrap_or(0.0)
    } else {
        expected / panel_size as f64
    };
    if visits_per_patient <= 0.0 {
        return Err(DomainError::invalid(
            "rates",
            "the rates give these patients no visits at all, so how many the appointments \
             cover cannot be estimated",
        ));
    }
    let available = appointments_per_week * weeks_per_year;
    // At most 520,000 visits over at least a tiny positive rate: the float-to-int cast
    // saturates at u32::MAX rather than wrapping.
    let capacity = (f64::from(available) / visits_per_patient).floor() as u32;
    let size = i64::try_from(panel_size).unwrap_or(i64::MAX);
    let room = i64::from(capacity) - size;
    let mut s = SupplyDemand {
        panel_size,
        expected_visits_per_year: expected,
        available_visits_per_year: available,
        visits_per_patient,
        capacity_patients: capacity,
        room,
        assumed_mix,
        explanation: String::new(),
    };
    s.explanation = explain(&s, appointments_per_week, weeks_per_year);
    Ok(s)
}

/// [`SupplyDemand::explanation`] for an estimate made of `per_week` appointments for
/// `weeks` weeks.
fn explain(s: &SupplyDemand, per_week: u32, weeks: u32) -> String {
    let SupplyDemand {
        panel_size,
        expected_visits_per_year: expected,
        available_visits_per_year: available,
        visits_per_patient: per_patient,
        capacity_patients: capacity,
        room,
        ..
    } = *s;
    let demand = if panel_size == 0 {
        format!(
            "The panel has no patients yet, so this assumes the rate table's average of \
             {per_patient:.1} visits a patient a year."
        )
    } else {
        format!(
            "The {} {} on this panel can be expected to need about {} visits a year \
             ({per_patient:.1} each, by age and sex).",
            grouped(panel_size as u64),
            if panel_size == 1 {
                "patient"
            } else {
                "patients"
            },
            grouped(expected.round() as u64),
        )
    };
    if available == 0 {
        return format!(
            "{demand} No appointments are offered ({per_week} a week for {weeks} weeks), so \
             the schedule covers no patients."
        );
    }
    let supply = format!(
        "{} appointments a week for {weeks} weeks give {} visits a year, enough for about {} \
         patients of this mix",
        grouped(u64::from(per_week)),
        grouped(u64::from(available)),
        grouped(u64::from(capacity)),
    );
    let verdict = match room {
        r if panel_size == 0 => format!(": room for {}.", grouped(r.unsigned_abs())),
        0 => ": the panel's size exactly.".to_owned(),
        r if r > 0 => format!(": room for about {} more.", grouped(r.unsigned_abs())),
        r => format!(
            ": about {} fewer than the panel has.",
            grouped(r.unsigned_abs())
        ),
    };
    format!("{demand} {supply}{verdict}")
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
