//! Synthetic clinical records for the demo clinic, so that every registry, suggestion and
//! care gap has content. Nothing here is real: the records are drawn from a fixed seed.
//!
//! How common each condition is, by age, follows the order of magnitude of the Public
//! Health Agency of Canada's Canadian Chronic Disease Surveillance System (CCDSS,
//! <https://health-infobase.canada.ca/ccdss/data-tool/>): diagnosed diabetes about 1 in 10
//! adults and rising with age; hypertension about 1 in 4 adults, half of those over 65;
//! COPD about 1 in 10 over 35; asthma about 1 in 10 at every age. Result values are drawn
//! around the figures Diabetes Canada's guidelines discuss (HbA1c near the 7.0 % target,
//! about half above it; office blood pressure in treated hypertension near 135/80), and
//! screening and immunization uptake near the BC programs' published participation (about
//! half to two thirds up to date). About one person with diabetes in eight has results or
//! a medication but no code, so the probably-uncoded list has work on it.

use attach_domain::clinical::{
    ClinicalFact, ClinicalRecord, Code, CodeSystem, ConditionStatus, MedicationStatus,
    ObservationValue, Origin,
};
use attach_domain::{PatientDetails, Phn, Sex, UserId, age_on};
use time::{Date, Duration, OffsetDateTime};

use super::demo_data::Rng;
use super::{App, AppError};

/// How far back the demo's results go.
const YEARS: i64 = 3;

/// Uniform in [0, 1).
fn uniform(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Normal with mean `mean` and standard deviation `sd` (Box–Muller).
fn normal(rng: &mut Rng, mean: f64, sd: f64) -> f64 {
    let u = uniform(rng).max(f64::MIN_POSITIVE);
    let v = uniform(rng);
    mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Chance in percent for an age, from (minimum age, percent) steps in ascending order.
fn by_age(age: u32, steps: &[(u32, u64)]) -> u64 {
    steps
        .iter()
        .rev()
        .find(|(from, _)| age >= *from)
        .map_or(0, |(_, p)| *p)
}

/// Builds one patient's records.
struct Patient<'a> {
    phn: Phn,
    n: usize,
    today: Date,
    updated: OffsetDateTime,
    records: &'a mut Vec<(Phn, ClinicalRecord)>,
}

impl Patient<'_> {
    fn push(&mut self, prefix: &str, display: &str, fact: ClinicalFact) {
        let k = self.records.len();
        self.records.push((
            self.phn,
            ClinicalRecord {
                source_id: format!("{prefix}/demo-{}-{k}", self.n),
                fact,
                display: Some(display.to_owned()),
                origin: Origin::Emr {
                    updated: Some(self.updated),
                },
            },
        ));
    }

    fn condition(&mut self, icd9: &str, display: &str, onset: Date) {
        self.push(
            "Condition",
            display,
            ClinicalFact::Condition {
                codes: codes(CodeSystem::Icd9, icd9),
                onset: Some(onset),
                abated: None,
                status: ConditionStatus::Active,
            },
        );
    }

    fn result(&mut self, loinc: &str, display: &str, date: Date, value: ObservationValue) {
        self.push(
            "Observation",
            display,
            ClinicalFact::Observation {
                codes: codes(CodeSystem::Loinc, loinc),
                date,
                value,
            },
        );
    }

    fn number(&mut self, loinc: &str, display: &str, date: Date, value: f64, unit: &str) {
        self.result(
            loinc,
            display,
            date,
            ObservationValue::Number {
                value,
                unit: Some(unit.to_owned()),
            },
        );
    }

    fn medication(&mut self, atc: &str, display: &str, start: Date) {
        self.push(
            "MedicationStatement",
            display,
            ClinicalFact::Medication {
                codes: codes(CodeSystem::Atc, atc),
                start: Some(start),
                end: None,
                status: MedicationStatus::Active,
            },
        );
    }

    /// Dates from about `YEARS` ago to now, every `min`–`max` days.
    fn visits(&self, rng: &mut Rng, min: i64, max: i64) -> Vec<Date> {
        let mut out = Vec::new();
        let mut d = self.today - Duration::days(YEARS * 365 - rng.below(max as u64) as i64);
        while d <= self.today {
            out.push(d);
            d += Duration::days(min + rng.below((max - min + 1) as u64) as i64);
        }
        out
    }

    /// A date within the last `days` days.
    fn within(&self, rng: &mut Rng, days: u64) -> Date {
        self.today - Duration::days(rng.below(days.max(1)) as i64)
    }
}

fn codes(system: CodeSystem, code: &str) -> Vec<Code> {
    Code::new(system, code).into_iter().collect()
}

/// The records of one synthetic patient.
fn patient_records(
    p: &PatientDetails,
    n: usize,
    today: Date,
    now: OffsetDateTime,
    rng: &mut Rng,
    out: &mut Vec<(Phn, ClinicalRecord)>,
) {
    let age = age_on(p.date_of_birth, today);
    let mut pt = Patient {
        phn: p.phn,
        n,
        today,
        updated: now,
        records: out,
    };
    let onset = |rng: &mut Rng| today - Duration::days(400 + rng.below(3650) as i64);

    let diabetes = rng.chance(by_age(age, &[(18, 2), (40, 8), (60, 18), (80, 22)]));
    let hypertension = rng.chance(by_age(age, &[(20, 4), (40, 18), (60, 45), (80, 60)]));
    let copd = rng.chance(by_age(age, &[(35, 4), (60, 10)]));
    let asthma = rng.chance(9);
    let depression = age >= 15 && rng.chance(8);
    let ckd = rng.chance(by_age(age, &[(50, 3), (70, 10)]));

    if diabetes {
        let coded = rng.chance(88);
        if coded {
            pt.condition("250", "Diabetes mellitus", onset(rng));
        }
        let control = normal(rng, 7.3, 0.9);
        for d in pt.visits(rng, 110, 260) {
            let a1c = round1(normal(rng, control, 0.4).clamp(5.6, 13.0));
            pt.number("4548-4", "Hemoglobin A1c", d, a1c, "%");
        }
        if rng.chance(85) {
            pt.medication("A10BA02", "metformin", onset(rng));
        }
        for d in pt.visits(rng, 300, 420) {
            if rng.chance(75) {
                let egfr = normal(rng, 78.0, 18.0).clamp(15.0, 120.0).round();
                pt.number("33914-3", "eGFR", d, egfr, "mL/min/1.73m2");
            }
            if rng.chance(55) {
                let acr = round1(normal(rng, 2.0, 2.0).clamp(0.2, 40.0));
                pt.number(
                    "9318-7",
                    "Albumin/creatinine ratio, urine",
                    d,
                    acr,
                    "mg/mmol",
                );
            }
            if rng.chance(65) {
                let ldl = round1(normal(rng, 2.3, 0.7).clamp(0.8, 5.5));
                pt.number("13457-7", "LDL cholesterol", d, ldl, "mmol/L");
            }
        }
    } else if age >= 40 && rng.chance(25) {
        // Screening HbA1c of people without diabetes: mostly normal.
        let d = pt.within(rng, 900);
        let a1c = round1(normal(rng, 5.6, 0.35).clamp(4.5, 6.4));
        pt.number("4548-4", "Hemoglobin A1c", d, a1c, "%");
    }

    if hypertension || diabetes {
        if hypertension {
            pt.condition("401", "Essential hypertension", onset(rng));
            if rng.chance(80) {
                pt.medication("C09AA05", "ramipril", onset(rng));
            }
        }
        let (sys, dia) = (normal(rng, 136.0, 10.0), normal(rng, 81.0, 6.0));
        for d in pt.visits(rng, 90, 300) {
            pt.result(
                "85354-9",
                "Blood pressure",
                d,
                ObservationValue::BloodPressure {
                    systolic: normal(rng, sys, 8.0).clamp(95.0, 210.0).round(),
                    diastolic: normal(rng, dia, 5.0).clamp(50.0, 120.0).round(),
                },
            );
        }
    } else if age >= 30 && rng.chance(4) {
        // Raised readings with no diagnosis yet: the probably-uncoded list.
        for d in pt.visits(rng, 60, 200).into_iter().take(3) {
            pt.result(
                "85354-9",
                "Blood pressure",
                d,
                ObservationValue::BloodPressure {
                    systolic: normal(rng, 148.0, 6.0).round(),
                    diastolic: normal(rng, 92.0, 4.0).round(),
                },
            );
        }
    }
    if copd {
        pt.condition("496", "Chronic airway obstruction", onset(rng));
        pt.medication("R03AC02", "salbutamol", onset(rng));
    }
    if asthma {
        pt.condition("493", "Asthma", onset(rng));
        if rng.chance(70) {
            pt.medication("R03BA02", "budesonide", onset(rng));
        }
    }
    if depression {
        pt.condition("311", "Depressive disorder", onset(rng));
        if rng.chance(60) {
            pt.medication("N06AB06", "sertraline", onset(rng));
        }
    }
    if ckd {
        let coded = rng.chance(70);
        if coded {
            pt.condition("585", "Chronic kidney disease", onset(rng));
        }
        for d in pt.visits(rng, 150, 330) {
            let egfr = normal(rng, 47.0, 8.0).clamp(15.0, 59.0).round();
            pt.number("33914-3", "eGFR", d, egfr, "mL/min/1.73m2");
        }
    }

    // Prevention.
    if (50..=74).contains(&age) && rng.chance(60) {
        if rng.chance(85) {
            let d = pt.within(rng, 1000);
            pt.result(
                "29771-3",
                "Fecal immunochemical test",
                d,
                ObservationValue::None,
            );
        } else {
            let d = pt.within(rng, 3650);
            pt.push(
                "Procedure",
                "Colonoscopy",
                ClinicalFact::Procedure {
                    codes: codes(CodeSystem::SnomedCt, "73761001"),
                    date: d,
                },
            );
        }
    }
    if p.sex == Sex::Female && (50..=74).contains(&age) && rng.chance(60) {
        let d = pt.within(rng, 1100);
        pt.push(
            "Procedure",
            "Screening mammography",
            ClinicalFact::Procedure {
                codes: codes(CodeSystem::SnomedCt, "24623002"),
                date: d,
            },
        );
    }
    if p.sex == Sex::Female && (25..=69).contains(&age) && rng.chance(65) {
        let d = pt.within(rng, 1500);
        pt.result("10524-7", "Cervical cytology", d, ObservationValue::None);
    }
    if age >= 65 {
        if rng.chance(70) {
            let d = pt.within(rng, 540);
            pt.push(
                "Immunization",
                "Influenza vaccine",
                ClinicalFact::Immunization {
                    codes: codes(CodeSystem::Cvx, "141"),
                    date: d,
                },
            );
        }
        if rng.chance(60) {
            let d = pt.within(rng, 2500);
            pt.push(
                "Immunization",
                "Pneumococcal polysaccharide vaccine",
                ClinicalFact::Immunization {
                    codes: codes(CodeSystem::Cvx, "33"),
                    date: d,
                },
            );
        }
    }
}

impl App {
    /// Writes the demo's synthetic clinical records for `patients`, as `who` importing them.
    /// Returns how many records were written.
    pub(super) fn seed_demo_clinical(
        &self,
        who: UserId,
        clinic: attach_domain::ClinicId,
        patients: &[PatientDetails],
        seed: u64,
    ) -> Result<usize, AppError> {
        let today = self.clinic_today();
        let now = self.now();
        let mut rng = Rng::new(seed ^ 0xC11C_A1DA_7A00_0016);
        let mut records = Vec::new();
        for (n, p) in patients.iter().enumerate() {
            patient_records(p, n, today, now, &mut rng, &mut records);
        }
        let report = self.store_clinical(who, clinic, records)?;
        Ok(report.added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo_data;

    #[test]
    fn the_demo_records_fill_the_registries_at_plausible_rates() {
        let today = demo_data::fixture_today();
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let people = demo_data::patients(5, 2_000, today);
        let mut rng = Rng::new(1);
        let mut out = Vec::new();
        for (n, p) in people.iter().enumerate() {
            patient_records(p, n, today, now, &mut rng, &mut out);
        }
        let compiled = attach_domain::clinical::catalogue::shipped()
            .compile()
            .expect("compiles");
        let mut coded = vec![0usize; compiled.catalogue().registries.len()];
        let mut uncoded = 0;
        let mut open = 0;
        for p in &people {
            let mine: Vec<&ClinicalRecord> = out
                .iter()
                .filter(|(phn, _)| *phn == p.phn)
                .map(|(_, r)| r)
                .collect();
            let care = compiled.evaluate(
                &compiled.summarise(mine),
                attach_domain::clinical::rules::Demographics {
                    sex: p.sex,
                    date_of_birth: p.date_of_birth,
                },
                today,
            );
            for r in &care.registries {
                coded[usize::from(*r)] += 1;
            }
            uncoded += usize::from(!care.uncoded.is_empty());
            open += usize::from(care.gaps.iter().any(|g| g.is_open()));
        }
        let share = |key: &str| {
            let i = compiled.registry_index(key).expect("registry");
            coded[usize::from(i)] as f64 / people.len() as f64
        };
        assert!(
            (0.03..0.15).contains(&share("diabetes")),
            "{}",
            share("diabetes")
        );
        assert!(
            (0.08..0.35).contains(&share("hypertension")),
            "{}",
            share("hypertension")
        );
        assert!(share("asthma") > 0.04);
        assert!(
            uncoded > 10,
            "the probably-uncoded list has work: {uncoded}"
        );
        assert!(open > people.len() / 5, "recalls: {open}");
        // Source ids are unique: importing the demo twice changes nothing.
        let mut ids: Vec<&str> = out.iter().map(|(_, r)| r.source_id.as_str()).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
