//! What people do with what the rules say: recalls worked through (to contact, contacted,
//! booked, declined, done), probably-uncoded suggestions dismissed with a reason, and
//! records entered or corrected by hand.
//!
//! A recall is kept per patient and care-gap rule, for one *round* of that gap: the round
//! is named by the date of the latest record that counted when the recall was worked on
//! ([`Recall::since`]). A new result that leaves the gap open starts a new round, so a
//! patient who was booked, came in, and is out of target again shows as "to contact"
//! again rather than as booked for a visit that already happened.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::{
    ClinicalFact, ClinicalRecord, Code, CodeMatch, CodeSystem, ConditionStatus, MedicationStatus,
    ObservationValue, Origin, RecordKind,
};
use crate::error::{DomainError, Problems};
use crate::ids::UserId;
use crate::types::ConfirmMethod;

/// The longest note on a recall, a dismissal or a record.
pub const MAX_NOTE: usize = 500;
/// How many contact attempts one recall round keeps (the oldest go first).
pub const MAX_CONTACTS: usize = 20;
/// How far ahead an appointment may be booked.
pub const MAX_BOOKING_DAYS: i64 = 731;

// ---------------------------------------------------------------------------
// Recalls
// ---------------------------------------------------------------------------

/// Where a recall stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecallStatus {
    /// Nobody has reached the patient about it yet (or a new round began).
    ToContact,
    /// Contacted (or tried): see the contact attempts.
    Contacted,
    /// An appointment or test is booked.
    Booked,
    /// The patient declined.
    Declined,
    /// Done, though the record may not have come from the EMR yet.
    Done,
}

impl RecallStatus {
    pub const ALL: [Self; 5] = [
        Self::ToContact,
        Self::Contacted,
        Self::Booked,
        Self::Declined,
        Self::Done,
    ];

    /// The statuses a phone list shows unless asked otherwise.
    pub const WORKING: [Self; 3] = [Self::ToContact, Self::Contacted, Self::Booked];

    pub fn key(self) -> &'static str {
        match self {
            Self::ToContact => "to_contact",
            Self::Contacted => "contacted",
            Self::Booked => "booked",
            Self::Declined => "declined",
            Self::Done => "done",
        }
    }

    pub fn from_key(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::ToContact => "to contact",
            Self::Contacted => "contacted",
            Self::Booked => "booked",
            Self::Declined => "declined",
            Self::Done => "done",
        }
    }
}

/// One attempt to reach the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactAttempt {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: UserId,
    pub how: ConfirmMethod,
    /// What came of it ("left a message", "will call back").
    #[serde(default)]
    pub note: String,
}

/// One patient's recall on one care-gap rule, for one round of the gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recall {
    /// The care-gap rule's key.
    pub rule: String,
    /// The date of the latest record that counted for the rule when the recall was worked
    /// on (`None`: never recorded): the round this recall is for.
    #[serde(default)]
    pub since: Option<Date>,
    pub status: RecallStatus,
    /// When the patient is booked in (for [`RecallStatus::Booked`]).
    #[serde(default)]
    pub booked_for: Option<Date>,
    /// The reason a patient declined, or a note on the last change.
    #[serde(default)]
    pub note: String,
    /// This round's contact attempts, oldest first.
    #[serde(default)]
    pub contacts: Vec<ContactAttempt>,
    /// Who made the last change, and when.
    pub by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What a person records on a recall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecallAction {
    /// Reached (or tried to reach) the patient.
    Contacted { how: ConfirmMethod, note: String },
    /// Booked for a day.
    Booked { on: Date, note: String },
    /// The patient declined, with their reason.
    Declined { reason: String },
    /// Done (elsewhere, or not yet in the EMR's export).
    Done { note: String },
    /// Back to "to contact" (a mistake undone, a booking missed).
    Reopen,
}

impl RecallAction {
    /// The action a form asks for: `action` is `contacted`, `booked`, `declined`, `done` or
    /// `reopen`; `how` a contact method's key (for `contacted`); `booked_for` a
    /// `YYYY-MM-DD` date (for `booked`); `note` the note, or the patient's reason for
    /// `declined`. A missing or wrong field is named.
    pub fn from_fields(
        action: &str,
        how: &str,
        booked_for: &str,
        note: &str,
    ) -> Result<Self, DomainError> {
        let note = note.trim().to_owned();
        Ok(match action.trim() {
            "contacted" => Self::Contacted {
                how: ConfirmMethod::from_key(how.trim()).ok_or_else(|| {
                    DomainError::invalid("how", "choose how the patient was contacted")
                })?,
                note,
            },
            "booked" => {
                let raw = booked_for.trim();
                let format = time::macros::format_description!("[year]-[month]-[day]");
                let on = Date::parse(raw, &format).map_err(|_| {
                    DomainError::invalid(
                        "booked_for",
                        if raw.is_empty() {
                            "give the day the patient is booked for".to_owned()
                        } else {
                            format!("\"{raw}\" is not a date as YYYY-MM-DD")
                        },
                    )
                })?;
                Self::Booked { on, note }
            }
            "declined" => Self::Declined { reason: note },
            "done" => Self::Done { note },
            "reopen" => Self::Reopen,
            _ => {
                return Err(DomainError::invalid(
                    "action",
                    "choose what to record: contacted, booked, declined, done or back to contact",
                ));
            }
        })
    }

    /// Checks the action's fields against `today` (a booking in the past, an empty reason).
    pub fn check(&self, today: Date) -> Result<(), DomainError> {
        let mut p = Problems::default();
        let note = match self {
            Self::Contacted { note, .. } | Self::Booked { note, .. } | Self::Done { note } => {
                Some(("note", note))
            }
            Self::Declined { reason } => {
                if reason.trim().is_empty() {
                    p.add("reason", "say why the patient declined");
                }
                Some(("reason", reason))
            }
            Self::Reopen => None,
        };
        if let Some((field, text)) = note
            && text.chars().count() > MAX_NOTE
        {
            p.add(field, format!("at most {MAX_NOTE} characters"));
        }
        if let Self::Booked { on, .. } = self {
            if *on < today {
                p.add("booked_for", "the booking is in the past");
            } else if (*on - today).whole_days() > MAX_BOOKING_DAYS {
                p.add("booked_for", "the booking is more than two years ahead");
            }
        }
        p.finish(())
    }
}

impl Recall {
    /// Where the recall stands for the gap's current round (`since`: the date of the latest
    /// record that counts now): its own status if it is for this round, "to contact" when
    /// there is no recall or it was for an earlier round.
    pub fn status_now(recall: Option<&Recall>, since: Option<Date>) -> RecallStatus {
        match recall {
            Some(r) if r.since == since => r.status,
            _ => RecallStatus::ToContact,
        }
    }

    /// The recall after `action`, for the round `since`. A recall of an earlier round is
    /// replaced by a fresh one (its attempts belonged to that round); contact attempts of
    /// this round are kept, the oldest dropped past [`MAX_CONTACTS`].
    pub fn apply(
        previous: Option<&Recall>,
        rule: &str,
        since: Option<Date>,
        action: &RecallAction,
        by: UserId,
        at: OffsetDateTime,
    ) -> Recall {
        let mut r = match previous {
            Some(p) if p.since == since && p.rule == rule => p.clone(),
            _ => Recall {
                rule: rule.to_owned(),
                since,
                status: RecallStatus::ToContact,
                booked_for: None,
                note: String::new(),
                contacts: Vec::new(),
                by,
                at,
            },
        };
        r.by = by;
        r.at = at;
        match action {
            RecallAction::Contacted { how, note } => {
                // A contact about a booking already made does not unbook it.
                if r.status != RecallStatus::Booked {
                    r.status = RecallStatus::Contacted;
                }
                r.contacts.push(ContactAttempt {
                    at,
                    by,
                    how: *how,
                    note: note.trim().to_owned(),
                });
                if r.contacts.len() > MAX_CONTACTS {
                    let extra = r.contacts.len() - MAX_CONTACTS;
                    r.contacts.drain(..extra);
                }
            }
            RecallAction::Booked { on, note } => {
                r.status = RecallStatus::Booked;
                r.booked_for = Some(*on);
                r.note = note.trim().to_owned();
            }
            RecallAction::Declined { reason } => {
                r.status = RecallStatus::Declined;
                r.booked_for = None;
                r.note = reason.trim().to_owned();
            }
            RecallAction::Done { note } => {
                r.status = RecallStatus::Done;
                r.note = note.trim().to_owned();
            }
            RecallAction::Reopen => {
                r.status = RecallStatus::ToContact;
                r.booked_for = None;
                r.note = String::new();
            }
        }
        r
    }
}

// ---------------------------------------------------------------------------
// Dismissed suggestions
// ---------------------------------------------------------------------------

/// A probably-uncoded suggestion a person reviewed and set aside: it does not come back,
/// whatever new results arrive, until someone restores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dismissal {
    /// The registry's key.
    pub registry: String,
    /// The uncoded rule's key within the registry.
    pub rule: String,
    pub reason: String,
    pub by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Dismissal {
    pub fn new(
        registry: &str,
        rule: &str,
        reason: &str,
        by: UserId,
        at: OffsetDateTime,
    ) -> Result<Self, DomainError> {
        let reason = reason.trim();
        let mut p = Problems::default();
        if reason.is_empty() {
            p.add(
                "reason",
                "say why the suggestion does not apply (e.g. \"gestational diabetes, resolved\")",
            );
        } else if reason.chars().count() > MAX_NOTE {
            p.add("reason", format!("at most {MAX_NOTE} characters"));
        }
        p.finish(Self {
            registry: registry.to_owned(),
            rule: rule.to_owned(),
            reason: reason.to_owned(),
            by,
            at,
        })
    }
}

// ---------------------------------------------------------------------------
// Records entered by hand
// ---------------------------------------------------------------------------

/// What a person types to enter or correct one record on the patient's page. Every field is
/// text as the form sent it; [`ManualRecord::record`] checks them all and names each one
/// that is wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManualRecord {
    /// `condition`, `observation`, `procedure`, `immunization` or `medication`.
    pub kind: String,
    /// One code as a coding protocol writes it: `icd9 250`, `loinc 4548-4`.
    pub code: String,
    /// What the EMR would show ("Type 2 diabetes", "HbA1c").
    pub display: String,
    /// The date it is about: onset, result, procedure, dose, start (`YYYY-MM-DD`).
    pub date: String,
    /// A result: a number, or `systolic/diastolic` for a blood pressure; empty for none.
    pub value: String,
    pub unit: String,
    /// A condition's `active` or `resolved`; a medication's `active` or `stopped`.
    pub status: String,
}

impl ManualRecord {
    /// The record, under `source_id`, as entered by `by` at `at`. Nothing about the form is
    /// guessed: a wrong field is named, with what it should hold.
    pub fn record(
        &self,
        source_id: String,
        today: Date,
        by: UserId,
        at: OffsetDateTime,
    ) -> Result<ClinicalRecord, DomainError> {
        let mut p = Problems::default();
        let kind = RecordKind::from_key(self.kind.trim());
        if kind.is_none() {
            p.add(
                "kind",
                "choose condition, observation, procedure, immunization or medication",
            );
        }
        let code = match CodeMatch::parse_line(self.code.trim()) {
            Ok(m) if m.prefix => {
                p.add("code", "write one whole code, without a trailing *");
                None
            }
            Ok(m) => Code::new(m.system, &m.code),
            Err(e) => {
                p.add("code", e);
                None
            }
        };
        let date = match self.date.trim() {
            "" => None,
            s => match Date::parse(s, &time::format_description::well_known::Iso8601::DATE) {
                Ok(d) if d > today => {
                    p.add("date", "the date is in the future");
                    None
                }
                Ok(d) => Some(d),
                Err(_) => {
                    p.add("date", "write the date as YYYY-MM-DD");
                    None
                }
            },
        };
        let display = self.display.trim();
        if display.chars().count() > MAX_NOTE {
            p.add("display", format!("at most {MAX_NOTE} characters"));
        }
        let needs_date = matches!(
            kind,
            Some(RecordKind::Observation | RecordKind::Procedure | RecordKind::Immunization)
        );
        if needs_date && date.is_none() && self.date.trim().is_empty() {
            p.add("date", "give the date it was done");
        }
        let value = if kind == Some(RecordKind::Observation) {
            match parse_value(self.value.trim(), self.unit.trim()) {
                Ok(v) => Some(v),
                Err(e) => {
                    p.add("value", e);
                    None
                }
            }
        } else {
            if !self.value.trim().is_empty() {
                p.add("value", "only a result has a value");
            }
            None
        };
        let status = self.status.trim();
        let condition_status = match status {
            "" | "active" => Some(ConditionStatus::Active),
            "resolved" => Some(ConditionStatus::Resolved),
            _ => None,
        };
        let medication_status = match status {
            "" | "active" => Some(MedicationStatus::Active),
            "stopped" => Some(MedicationStatus::Stopped),
            _ => None,
        };
        match kind {
            Some(RecordKind::Condition) if condition_status.is_none() => {
                p.add("status", "a condition is active or resolved")
            }
            Some(RecordKind::Medication) if medication_status.is_none() => {
                p.add("status", "a medication is active or stopped")
            }
            Some(RecordKind::Observation | RecordKind::Procedure | RecordKind::Immunization)
                if !status.is_empty() =>
            {
                p.add("status", "only conditions and medications have a status")
            }
            _ => {}
        }
        if !super::valid_source_id(&source_id) {
            p.add("id", "not a record id");
        }
        if !p.0.is_empty() {
            return Err(DomainError::Validation(p.0));
        }
        let (Some(kind), Some(code)) = (kind, code) else {
            return Err(DomainError::invalid("code", "the code is missing"));
        };
        let codes = vec![code];
        let fact = match kind {
            RecordKind::Condition => ClinicalFact::Condition {
                codes,
                onset: date,
                abated: None,
                status: condition_status.unwrap_or(ConditionStatus::Active),
            },
            RecordKind::Medication => ClinicalFact::Medication {
                codes,
                start: date,
                end: None,
                status: medication_status.unwrap_or(MedicationStatus::Active),
            },
            RecordKind::Observation | RecordKind::Procedure | RecordKind::Immunization => {
                let Some(date) = date else {
                    return Err(DomainError::invalid("date", "give the date it was done"));
                };
                match kind {
                    RecordKind::Observation => ClinicalFact::Observation {
                        codes,
                        date,
                        value: value.unwrap_or(ObservationValue::None),
                    },
                    RecordKind::Procedure => ClinicalFact::Procedure { codes, date },
                    _ => ClinicalFact::Immunization { codes, date },
                }
            }
        };
        Ok(ClinicalRecord {
            source_id,
            fact,
            display: (!display.is_empty()).then(|| display.to_owned()),
            origin: Origin::Attach { by, at },
        })
    }

    /// The form's fields for an existing record, to correct it.
    pub fn of(r: &ClinicalRecord) -> Self {
        let code = r
            .fact
            .codes()
            .iter()
            .find(|c| !matches!(c.system, CodeSystem::Other(_)))
            .or_else(|| r.fact.codes().first())
            .map(|c| format!("{} {}", c.system.key(), c.code))
            .unwrap_or_default();
        let (value, unit) = r
            .fact
            .value()
            .and_then(ObservationValue::value_and_unit)
            .unwrap_or_default();
        let status = match &r.fact {
            ClinicalFact::Condition { status, .. } => match status {
                ConditionStatus::Resolved => "resolved",
                _ => "active",
            },
            ClinicalFact::Medication { status, .. } => match status {
                MedicationStatus::Stopped => "stopped",
                _ => "active",
            },
            _ => "",
        };
        Self {
            kind: r.fact.kind().key().to_owned(),
            code,
            display: r.display.clone().unwrap_or_default(),
            date: r.fact.date().map(|d| d.to_string()).unwrap_or_default(),
            value,
            unit,
            status: status.to_owned(),
        }
    }
}

/// A result's value as typed: empty (done, no value), a number, or a blood pressure.
fn parse_value(value: &str, unit: &str) -> Result<ObservationValue, String> {
    if value.is_empty() {
        return Ok(ObservationValue::None);
    }
    let number = |s: &str| -> Option<f64> {
        s.trim()
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some((s, d)) = value.split_once('/') {
        return match (number(s), number(d)) {
            (Some(systolic), Some(diastolic))
                if (40.0..=300.0).contains(&systolic) && (20.0..=200.0).contains(&diastolic) =>
            {
                Ok(ObservationValue::BloodPressure {
                    systolic,
                    diastolic,
                })
            }
            _ => Err("a blood pressure is systolic/diastolic in mmHg, e.g. 128/82".to_owned()),
        };
    }
    match number(value) {
        Some(v) => Ok(ObservationValue::Number {
            value: v,
            unit: (!unit.is_empty()).then(|| unit.to_owned()),
        }),
        None => Err(format!(
            "\"{value}\" is not a number (or systolic/diastolic for a blood pressure)"
        )),
    }
}

#[cfg(test)]
#[path = "followup_tests.rs"]
mod tests;
