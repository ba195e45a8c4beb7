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
//!
//! Ids hold UUIDs only, never patient data, so they may be logged.

use std::fmt;

use attach_domain::{ClinicId, EntryId, OfferId, PersonId, UserId};
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
    }
}
