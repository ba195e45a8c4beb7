//! Matching: the provincial waitlist, its order, capacity, offers and the outcomes of the
//! decisions on them. Pure rules over plain data; the hub's app layer feeds them from the
//! documents and writes what they decide.
//!
//! - [`priority`]: the documented, configurable order of the waitlist, with the reason for
//!   every place in it.
//! - [`capacity`]: how much of a provider's monthly capacity rate is used, by month in the
//!   province's time zone.
//! - [`offer`]: an offer of a person (or household) to a provider, and what the decisions on
//!   it amount to — including clashes made offline, decided alike on every replica.
//! - [`round`]: one matching round: every waiting person in order, offered to the providers
//!   whose preferences and capacity allow it.
//! - [`report`]: the provincial view: statuses, waits, offer outcomes, capacity against
//!   demand by community.

pub mod capacity;
pub mod offer;
pub mod priority;
pub mod report;
pub mod round;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::ids::{PersonId, UserId};
use super::types::PatientDetails;

pub use capacity::{Month, MonthlyUse, ProvinceClock};
pub use offer::{
    Answer, Decision, DeclineReason, Offer, OfferOutcome, OfferedPerson, PersonOutcome,
    ProviderDecision, Withdrawal, attachment_winners, over_capacity,
};
pub use priority::{PriorityFactor, PriorityRules, Rank, RulesError, Tier};
pub use report::{CapacityFact, CommunityRow, ProvinceReport, Rate, WaitStatus, wait_status};
pub use round::{Candidate, MatchRound, ProposedOffer, ProviderSlot, run_round};

/// Which kinds of provider a waiting person will see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderNeed {
    /// A family physician only.
    Physician,
    /// A family physician or a nurse practitioner.
    PhysicianOrNp,
}

/// The kind of a provider who can take patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Physician,
    NursePractitioner,
}

impl ProviderNeed {
    /// May a provider of `kind` be offered this person?
    pub fn accepts(self, kind: ProviderKind) -> bool {
        match self {
            Self::Physician => kind == ProviderKind::Physician,
            Self::PhysicianOrNp => true,
        }
    }
}

/// Where a registration stands, apart from offers (which are their own documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// On the waitlist.
    Waiting,
    /// Taken off by a coordinator (moved away, found a provider on their own, asked to be removed).
    Withdrawn,
}

/// One person on the provincial waitlist (one `waiting/<person>` document at the hub).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingPerson {
    pub id: PersonId,
    /// Who they are and how to reach them, as a panel entry holds it; `community` is where
    /// they live (matched against providers' catchments); `last_visit` is unused.
    pub details: PatientDetails,
    /// Languages the person can be seen in; empty means any.
    pub languages: BTreeSet<String>,
    pub need: ProviderNeed,
    pub factors: BTreeSet<PriorityFactor>,
    /// When the person first registered: their place in the queue. Returning to the waitlist
    /// (a declined or expired offer) never changes it; a duplicate registration keeps the earliest.
    pub registered_at: OffsetDateTime,
    /// The household the person registered with; members are offered together.
    pub household: Option<String>,
    pub registration: Registration,
    /// Providers who declined this person: not offered to them again.
    pub declined_by: BTreeSet<UserId>,
    /// The last time a clinic returned the person to the waitlist from a panel (a provider
    /// left or stopped): an attachment before it no longer holds them.
    #[serde(default)]
    pub returned_at: Option<OffsetDateTime>,
}

/// Case- and space-insensitive form of a community or language name, for comparing.
pub fn fold_name(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}
