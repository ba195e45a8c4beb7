//! The document-id layout: the one place that says how every document is named. The store
//! only knows that an id is `/`-separated segments and that its first two are its family
//! (`DocId::family`); which kinds exist, and what their segments mean, is said here.
//!
//! | id | document | family |
//! |---|---|---|
//! | `clinic/<clinic>` | a clinic's profile, members, statuses, delegations | itself |
//! | `account/<user>` | a user account | itself |
//! | `coordinator/<user>` | a provincial coordinator's account (hub only) | itself |
//! | `panel/<provider>` | a provider's panel preferences | `panel/<provider>` |
//! | `panel/<provider>/<entry>` | one patient on that panel | `panel/<provider>` |
//! | `waiting/<person>` | one person on the provincial waitlist (hub only) | itself |
//! | `inbox/<clinic>/<offer>` | one offer to that clinic | `inbox/<clinic>` |
//! | `clinic/<clinic>/review/<task>` | a recurring panel-review task | `clinic/<clinic>` |
//! | `clinic/<clinic>/review/<task>/<done>` | one completion of that task | `clinic/<clinic>` |
//! | `clinic/<clinic>/protocol` | the clinic's written panel protocol | `clinic/<clinic>` |
//! | `clinic/<clinic>/bulk/<bulk>` | one bulk change of panel entries, for undo | `clinic/<clinic>` |
//! | `clinic/<clinic>/msp/<provider>` | decisions on an MSP panel reconciliation | `clinic/<clinic>` |
//! | `clinic/<clinic>/census/<year>` | month-end panel counts by provider and status | `clinic/<clinic>` |
//! | `clinic/<clinic>/supply` | the visit-rate table and each provider's appointments a week | `clinic/<clinic>` |
//! | `clinic/<clinic>/catalogue` | the clinic's registries, result kinds and care-gap rules | `clinic/<clinic>` |
//! | `clinic/<clinic>/measures/<year>` | a year of the clinic's measure counts for the provincial comparison (counts only) | `clinic/<clinic>` |
//! | `clinical/<clinic>/<patient>` | one patient's clinical records at that clinic (LAN only) | `clinical/<clinic>` |
//! | `clinical/<clinic>/qi/<cycle>` | a quality-improvement cycle: aim, measures, changes, monthly points (LAN only) | `clinical/<clinic>` |
//!
//! A clinic's own working documents sit under its id, so they are in its family: they
//! sync with the clinic, to its peers and the hub, and no member's scope carries them.
//!
//! Clinical documents are a family of their own, outside [`SHARED`]: they sync between the
//! clinic's own nodes and never to the hub. `<patient>` is derived from the PHN (a UUIDv5
//! under the clinic's id), so two nodes that import the same patient apart write the same
//! document and their records merge instead of splitting in two.
//!
//! Ids hold UUIDs only, never patient data in clear, so they may be logged. (The clinical
//! id is a pseudonym of the PHN: whoever has the clinic's id and a list of PHNs can match
//! them, so those ids are kept out of anything that leaves the clinic.)

use std::fmt;

use attach_domain::{
    BulkId, ClinicId, CompletionId, CycleId, EntryId, OfferId, PersonId, Phn, TaskId, UserId,
};
use attach_store::DocId;
use uuid::Uuid;

/// Prefix of every clinic document.
pub const CLINICS: &str = "clinic/";
/// Prefix of every account document.
pub const ACCOUNTS: &str = "account/";
/// Prefix of every coordinator account (hub only).
pub const COORDINATORS: &str = "coordinator/";
/// Prefix of every panel document and panel entry.
pub const PANELS: &str = "panel/";
/// Prefix of every waiting person (hub only).
pub const WAITING: &str = "waiting/";
/// Prefix of every offer of every clinic.
pub const INBOXES: &str = "inbox/";
/// Prefix of every clinic's clinical documents (never sent to the hub).
pub const CLINICAL: &str = "clinical/";

/// The prefixes of the documents clinics and the hub share (coordinators and the waitlist
/// stay at the hub).
pub const SHARED: [&str; 4] = [CLINICS, ACCOUNTS, PANELS, INBOXES];

pub fn clinic_doc_id(clinic: ClinicId) -> DocId {
    DocId::from_parts("clinic", &[clinic.as_uuid()])
}

pub fn account_doc_id(user: UserId) -> DocId {
    DocId::from_parts("account", &[user.as_uuid()])
}

pub fn coordinator_doc_id(user: UserId) -> DocId {
    DocId::from_parts("coordinator", &[user.as_uuid()])
}

pub fn panel_doc_id(provider: UserId) -> DocId {
    DocId::from_parts("panel", &[provider.as_uuid()])
}

pub fn entry_doc_id(provider: UserId, entry: EntryId) -> DocId {
    DocId::from_parts("panel", &[provider.as_uuid(), entry.as_uuid()])
}

pub fn waiting_doc_id(person: PersonId) -> DocId {
    DocId::from_parts("waiting", &[person.as_uuid()])
}

pub fn offer_doc_id(clinic: ClinicId, offer: OfferId) -> DocId {
    DocId::from_parts("inbox", &[clinic.as_uuid(), offer.as_uuid()])
}

/// The prefix of a provider's panel entries (`panel/<provider>/`), for listing them.
pub fn entries_prefix(provider: UserId) -> String {
    format!("{}/", panel_doc_id(provider))
}

/// The family of a clinic's offers (`inbox/<clinic>`), as the store's change feed keys it.
pub fn inbox_family(clinic: ClinicId) -> String {
    DocId::from_parts("inbox", &[clinic.as_uuid()]).to_string()
}

/// The prefix of a clinic's offers (`inbox/<clinic>/`), for listing them.
pub fn inbox_prefix(clinic: ClinicId) -> String {
    format!("{}/", inbox_family(clinic))
}

/// A clinic's working document: `clinic/<clinic>/<segments…>`. The segments are words and
/// UUIDs of this module, so the id is always valid.
fn clinic_part(clinic: ClinicId, segments: &[&str]) -> DocId {
    let mut s = clinic_doc_id(clinic).as_str().to_owned();
    for seg in segments {
        s.push('/');
        s.push_str(seg);
    }
    DocId::parse(&s).expect("clinic part ids are words and UUIDs")
}

pub fn review_task_doc_id(clinic: ClinicId, task: TaskId) -> DocId {
    clinic_part(
        clinic,
        &["review", &task.as_uuid().hyphenated().to_string()],
    )
}

pub fn review_done_doc_id(clinic: ClinicId, task: TaskId, done: CompletionId) -> DocId {
    clinic_part(
        clinic,
        &[
            "review",
            &task.as_uuid().hyphenated().to_string(),
            &done.as_uuid().hyphenated().to_string(),
        ],
    )
}

/// The prefix of a clinic's review tasks and their completions.
pub fn reviews_prefix(clinic: ClinicId) -> String {
    format!("{}/review/", clinic_doc_id(clinic))
}

pub fn protocol_doc_id(clinic: ClinicId) -> DocId {
    clinic_part(clinic, &["protocol"])
}

pub fn bulk_doc_id(clinic: ClinicId, bulk: BulkId) -> DocId {
    clinic_part(clinic, &["bulk", &bulk.as_uuid().hyphenated().to_string()])
}

/// The prefix of a clinic's bulk changes.
pub fn bulks_prefix(clinic: ClinicId) -> String {
    format!("{}/bulk/", clinic_doc_id(clinic))
}

pub fn msp_doc_id(clinic: ClinicId, provider: UserId) -> DocId {
    clinic_part(
        clinic,
        &["msp", &provider.as_uuid().hyphenated().to_string()],
    )
}

/// The clinic's supply/demand settings: its visit-rate table and each provider's
/// appointments a week.
pub fn supply_doc_id(clinic: ClinicId) -> DocId {
    clinic_part(clinic, &["supply"])
}

/// One calendar year of a clinic's month-end panel counts. Years are 4 digits (the domain's
/// dates are between years 1 and 9999).
pub fn census_doc_id(clinic: ClinicId, year: i32) -> DocId {
    clinic_part(clinic, &["census", &format!("{:04}", year.clamp(1, 9999))])
}

/// One calendar year of a clinic's measure counts (numerators and denominators over the
/// whole clinic, never a patient), which the hub compares across clinics.
pub fn measures_doc_id(clinic: ClinicId, year: i32) -> DocId {
    clinic_part(
        clinic,
        &["measures", &format!("{:04}", year.clamp(1, 9999))],
    )
}

/// The clinic's registries, result kinds and care-gap rules (its coding protocol).
pub fn catalogue_doc_id(clinic: ClinicId) -> DocId {
    clinic_part(clinic, &["catalogue"])
}

/// The pseudonym of a patient at a clinic, for their clinical document: the same on every
/// node of the clinic, different at another clinic.
pub fn clinical_patient_key(clinic: ClinicId, phn: Phn) -> Uuid {
    Uuid::new_v5(&clinic.as_uuid(), format!("phn:{phn}").as_bytes())
}

/// One patient's clinical records at a clinic.
pub fn clinical_doc_id(clinic: ClinicId, phn: Phn) -> DocId {
    DocId::from_parts(
        "clinical",
        &[clinic.as_uuid(), clinical_patient_key(clinic, phn)],
    )
}

/// The family of a clinic's clinical documents (`clinical/<clinic>`).
pub fn clinical_family(clinic: ClinicId) -> String {
    DocId::from_parts("clinical", &[clinic.as_uuid()]).to_string()
}

/// A clinic's quality-improvement cycle.
pub fn qi_cycle_doc_id(clinic: ClinicId, cycle: CycleId) -> DocId {
    DocId::parse(&format!(
        "{}/qi/{}",
        clinical_family(clinic),
        cycle.as_uuid().hyphenated()
    ))
    .expect("qi ids are words and UUIDs")
}

/// The prefix of a clinic's QI cycles (`clinical/<clinic>/qi/`).
pub fn qi_prefix(clinic: ClinicId) -> String {
    format!("{}/qi/", clinical_family(clinic))
}

/// The prefix of a clinic's clinical documents (`clinical/<clinic>/`).
pub fn clinical_prefix(clinic: ClinicId) -> String {
    format!("{}/", clinical_family(clinic))
}

/// The prefix of every working document of a clinic (`clinic/<clinic>/`).
pub fn clinic_parts_prefix(clinic: ClinicId) -> String {
    format!("{}/", clinic_doc_id(clinic))
}

/// A document id read back into what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Named {
    Clinic(ClinicId),
    Account(UserId),
    Coordinator(UserId),
    Panel(UserId),
    Entry(UserId, EntryId),
    Waiting(PersonId),
    Offer(ClinicId, OfferId),
    ReviewTask(ClinicId, TaskId),
    ReviewDone(ClinicId, TaskId, CompletionId),
    Protocol(ClinicId),
    Bulk(ClinicId, BulkId),
    Msp(ClinicId, UserId),
    Census(ClinicId, i32),
    Measures(ClinicId, i32),
    Supply(ClinicId),
    Catalogue(ClinicId),
    /// A patient's clinical document, by the clinic and the patient's pseudonym.
    Clinical(ClinicId, Uuid),
    /// A quality-improvement cycle of a clinic.
    QiCycle(ClinicId, CycleId),
}

impl Named {
    /// Reads an id made by this module's functions; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        fn id(s: &str) -> Option<Uuid> {
            s.parse().ok()
        }
        let parts: Vec<&str> = s.split('/').collect();
        Some(match parts.as_slice() {
            ["clinic", c] => Self::Clinic(ClinicId::from(id(c)?)),
            ["account", u] => Self::Account(UserId::from(id(u)?)),
            ["coordinator", u] => Self::Coordinator(UserId::from(id(u)?)),
            ["panel", p] => Self::Panel(UserId::from(id(p)?)),
            ["panel", p, e] => Self::Entry(UserId::from(id(p)?), EntryId::from(id(e)?)),
            ["waiting", p] => Self::Waiting(PersonId::from(id(p)?)),
            ["inbox", c, o] => Self::Offer(ClinicId::from(id(c)?), OfferId::from(id(o)?)),
            ["clinic", c, "review", t] => {
                Self::ReviewTask(ClinicId::from(id(c)?), TaskId::from(id(t)?))
            }
            ["clinic", c, "review", t, d] => Self::ReviewDone(
                ClinicId::from(id(c)?),
                TaskId::from(id(t)?),
                CompletionId::from(id(d)?),
            ),
            ["clinic", c, "protocol"] => Self::Protocol(ClinicId::from(id(c)?)),
            ["clinic", c, "supply"] => Self::Supply(ClinicId::from(id(c)?)),
            ["clinic", c, "catalogue"] => Self::Catalogue(ClinicId::from(id(c)?)),
            ["clinical", c, p] => Self::Clinical(ClinicId::from(id(c)?), id(p)?),
            ["clinical", c, "qi", q] => {
                Self::QiCycle(ClinicId::from(id(c)?), CycleId::from(id(q)?))
            }
            ["clinic", c, "bulk", b] => Self::Bulk(ClinicId::from(id(c)?), BulkId::from(id(b)?)),
            ["clinic", c, "msp", p] => Self::Msp(ClinicId::from(id(c)?), UserId::from(id(p)?)),
            ["clinic", c, "census", y] if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) => {
                Self::Census(ClinicId::from(id(c)?), y.parse().ok()?)
            }
            ["clinic", c, "measures", y]
                if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Self::Measures(ClinicId::from(id(c)?), y.parse().ok()?)
            }
            _ => return None,
        })
    }

    /// The document's id.
    pub fn doc_id(self) -> DocId {
        match self {
            Self::Clinic(c) => clinic_doc_id(c),
            Self::Account(u) => account_doc_id(u),
            Self::Coordinator(u) => coordinator_doc_id(u),
            Self::Panel(p) => panel_doc_id(p),
            Self::Entry(p, e) => entry_doc_id(p, e),
            Self::Waiting(p) => waiting_doc_id(p),
            Self::Offer(c, o) => offer_doc_id(c, o),
            Self::ReviewTask(c, t) => review_task_doc_id(c, t),
            Self::ReviewDone(c, t, d) => review_done_doc_id(c, t, d),
            Self::Protocol(c) => protocol_doc_id(c),
            Self::Bulk(c, b) => bulk_doc_id(c, b),
            Self::Msp(c, p) => msp_doc_id(c, p),
            Self::Census(c, y) => census_doc_id(c, y),
            Self::Measures(c, y) => measures_doc_id(c, y),
            Self::Supply(c) => supply_doc_id(c),
            Self::Catalogue(c) => catalogue_doc_id(c),
            Self::Clinical(c, p) => DocId::from_parts("clinical", &[c.as_uuid(), p]),
            Self::QiCycle(c, q) => qi_cycle_doc_id(c, q),
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.doc_id().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_is_a_valid_store_id() {
        let (c, u, e) = (ClinicId::new(), UserId::new(), EntryId::new());
        let (p, o) = (PersonId::new(), OfferId::new());
        for named in [
            Named::Clinic(c),
            Named::Account(u),
            Named::Coordinator(u),
            Named::Panel(u),
            Named::Entry(u, e),
            Named::Waiting(p),
            Named::Offer(c, o),
            Named::ReviewTask(c, TaskId::new()),
            Named::ReviewDone(c, TaskId::new(), CompletionId::new()),
            Named::Protocol(c),
            Named::Bulk(c, BulkId::new()),
            Named::Msp(c, u),
            Named::Census(c, 2026),
            Named::Measures(c, 2026),
            Named::Supply(c),
            Named::Catalogue(c),
            Named::Clinical(c, Uuid::new_v4()),
            Named::QiCycle(c, CycleId::new()),
        ] {
            let id = named.doc_id();
            assert_eq!(DocId::parse(id.as_str()).expect("valid"), id);
            assert_eq!(Named::parse(id.as_str()), Some(named));
            assert_eq!(named.to_string(), id.as_str());
        }
        assert_eq!(
            entry_doc_id(u, e).as_str(),
            format!("panel/{}/{}", u.as_uuid(), e.as_uuid())
        );
        assert_eq!(clinic_doc_id(c).as_str(), format!("clinic/{}", c.as_uuid()));
        assert_eq!(Named::parse("clinic/not-a-uuid"), None);
        assert_eq!(
            Named::parse(&format!("panel/{}/{}/x", u.as_uuid(), e.as_uuid())),
            None
        );
        assert_eq!(Named::parse(&format!("patient/{}", u.as_uuid())), None);
    }

    #[test]
    fn a_patients_clinical_document_is_the_same_on_every_node_and_not_shared() {
        let (c, other) = (ClinicId::new(), ClinicId::new());
        let phn = Phn::parse("9123456780").expect("valid PHN");
        let id = clinical_doc_id(c, phn);
        assert_eq!(id, clinical_doc_id(c, phn), "derived, not random");
        assert_ne!(
            id,
            clinical_doc_id(other, phn),
            "another clinic, another pseudonym"
        );
        assert!(!id.as_str().contains("9123456780"));
        assert_eq!(id.family(), clinical_family(c));
        assert!(id.as_str().starts_with(&clinical_prefix(c)));
        assert!(!SHARED.iter().any(|p| id.as_str().starts_with(p)));
        assert_eq!(
            Named::parse(id.as_str()),
            Some(Named::Clinical(c, clinical_patient_key(c, phn)))
        );
    }

    #[test]
    fn families_prefixes_and_kinds_agree() {
        let (c, u, e) = (ClinicId::new(), UserId::new(), EntryId::new());
        assert_eq!(entry_doc_id(u, e).family(), panel_doc_id(u).as_str());
        assert!(entry_doc_id(u, e).as_str().starts_with(&entries_prefix(u)));
        let offer = offer_doc_id(c, OfferId::new());
        assert_eq!(offer.family(), inbox_family(c));
        assert!(offer.as_str().starts_with(&inbox_prefix(c)));
        for (id, prefix) in [
            (clinic_doc_id(c), CLINICS),
            (account_doc_id(u), ACCOUNTS),
            (coordinator_doc_id(u), COORDINATORS),
            (panel_doc_id(u), PANELS),
            (waiting_doc_id(PersonId::new()), WAITING),
            (offer, INBOXES),
        ] {
            assert!(id.as_str().starts_with(prefix), "{id} / {prefix}");
        }
        // A clinic's working documents are in the clinic's family.
        let t = TaskId::new();
        for id in [
            review_task_doc_id(c, t),
            review_done_doc_id(c, t, CompletionId::new()),
            protocol_doc_id(c),
            bulk_doc_id(c, BulkId::new()),
            msp_doc_id(c, u),
            census_doc_id(c, 2026),
            measures_doc_id(c, 2026),
            supply_doc_id(c),
        ] {
            assert_eq!(id.family(), clinic_doc_id(c).as_str(), "{id}");
            assert!(id.as_str().starts_with(&clinic_parts_prefix(c)));
        }
        assert!(
            review_done_doc_id(c, t, CompletionId::new())
                .as_str()
                .starts_with(&reviews_prefix(c))
        );
        assert!(
            bulk_doc_id(c, BulkId::new())
                .as_str()
                .starts_with(&bulks_prefix(c))
        );
    }
}
