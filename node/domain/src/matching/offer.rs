//! Offers and what the decisions on them amount to.
//!
//! An offer (one `inbox/<clinic>/<offer>` document) proposes one person, or one household,
//! to one provider. Two sides decide: the provider (or a delegate) accepts or declines the
//! offer with a reason; each person (through the clinic or a coordinator) confirms or
//! declines. Decisions are made on any replica, offline, and merge; what they amount to is a
//! pure function of the merged offer ([`OfferedPerson::outcome`]), so every replica reads the
//! same outcome from the same document:
//!
//! 1. A decline by either side is final for that person at that provider.
//! 2. Both yeses make an attachment at the time of the second yes, **unless**
//!    - the hub withdrew the offer (the provider stopped taking patients or left) before
//!      that time — then it is [`PersonOutcome::AcceptedAfterWithdrawal`], a conflict to
//!      review, and the person is not attached; or
//!    - the second yes came after the offer expired — [`PersonOutcome::LateAcceptance`], a
//!      conflict to review; the person went back to the waitlist at expiry, keeping their place.
//! 3. Without both yeses, a withdrawn offer is withdrawn, an offer past its expiry is
//!    expired, and otherwise it is open.
//!
//! Across offers (only the hub sees every clinic's), a person attached by two offers — two
//! clinics that each completed an offer while offline — stays attached by the one whose
//! second yes came first (then the lower offer id): [`attachment_winners`]. The others are
//! superseded and their clinics see a conflict. Attachments beyond a provider's monthly
//! capacity are kept and listed as conflicts ([`over_capacity`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::capacity::{Month, ProvinceClock};
use crate::ids::{ClinicId, OfferId, PersonId, UserId};
use crate::types::PatientDetails;

/// Why a provider declines an offer: a fixed list (for the provincial figures) plus free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// The panel is full or the provider's circumstances changed.
    PanelFull,
    /// The person's needs are outside the provider's scope of practice.
    OutsideScope,
    /// The person lives too far from the clinic.
    TooFar,
    /// No shared language and no interpreter available.
    Language,
    /// A family member or another conflict of interest.
    ConflictOfInterest,
    /// The person was discharged from this practice before.
    PreviouslyDischarged,
    Other,
}

impl DeclineReason {
    pub const ALL: [DeclineReason; 7] = [
        Self::PanelFull,
        Self::OutsideScope,
        Self::TooFar,
        Self::Language,
        Self::ConflictOfInterest,
        Self::PreviouslyDischarged,
        Self::Other,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Self::PanelFull => "panel_full",
            Self::OutsideScope => "outside_scope",
            Self::TooFar => "too_far",
            Self::Language => "language",
            Self::ConflictOfInterest => "conflict_of_interest",
            Self::PreviouslyDischarged => "previously_discharged",
            Self::Other => "other",
        }
    }

    pub fn from_key(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.key() == s.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::PanelFull => "Panel full or circumstances changed",
            Self::OutsideScope => "Needs outside the provider's scope",
            Self::TooFar => "Lives too far from the clinic",
            Self::Language => "No shared language or interpreter",
            Self::ConflictOfInterest => "Conflict of interest",
            Self::PreviouslyDischarged => "Previously discharged from this practice",
            Self::Other => "Other",
        }
    }
}

/// The provider's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    Accept,
    Decline { reason: DeclineReason, note: String },
}

/// A provider's (or delegate's) decision on an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderDecision {
    pub decision: Decision,
    pub at: OffsetDateTime,
    pub by: UserId,
}

/// A person's answer, recorded by the clinic or a coordinator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub confirmed: bool,
    pub at: OffsetDateTime,
    pub by: UserId,
    pub note: String,
}

/// The hub took the offer back (the provider stopped taking patients or left the clinic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub at: OffsetDateTime,
    pub reason: String,
}

/// One person in an offer, with what the clinic needs to contact them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedPerson {
    pub person: PersonId,
    /// Who they are and how to reach them: what their panel entry starts with.
    pub details: PatientDetails,
    /// Why this person, now: their rank's explanation and the fit with this provider.
    pub why: String,
    pub answer: Option<Answer>,
}

/// One offer to one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferId,
    pub clinic: ClinicId,
    pub provider: UserId,
    /// One person, or a household offered together.
    pub persons: Vec<OfferedPerson>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub decision: Option<ProviderDecision>,
    pub withdrawn: Option<Withdrawal>,
}

/// What the decisions on an offer amount to for one person in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum PersonOutcome {
    /// Waiting for a decision, and not expired.
    Open,
    /// Both said yes in time: the person joins the panel.
    Attached {
        at: OffsetDateTime,
    },
    DeclinedByProvider,
    DeclinedByPatient,
    /// No decision before the expiry: back to the waitlist, keeping their place.
    Expired,
    /// The hub withdrew the offer before both said yes.
    Withdrawn,
    /// Conflict: both said yes, the last one after the offer had expired.
    LateAcceptance {
        at: OffsetDateTime,
    },
    /// Conflict: both said yes, the last one after the hub had withdrawn the offer.
    AcceptedAfterWithdrawal {
        at: OffsetDateTime,
    },
}

impl PersonOutcome {
    /// Still waiting for someone to decide.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open)
    }

    /// A clash made offline, shown to people for review.
    pub fn is_conflict(self) -> bool {
        matches!(
            self,
            Self::LateAcceptance { .. } | Self::AcceptedAfterWithdrawal { .. }
        )
    }

    /// The person goes back on the waitlist (keeping their place).
    pub fn returns_to_waitlist(self) -> bool {
        !matches!(self, Self::Open | Self::Attached { .. })
    }

    /// Words for the inbox and the provincial view.
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Waiting for decisions",
            Self::Attached { .. } => "Attached",
            Self::DeclinedByProvider => "Declined by the provider",
            Self::DeclinedByPatient => "Declined by the patient",
            Self::Expired => "Expired; back on the waitlist",
            Self::Withdrawn => "Withdrawn by the hub; back on the waitlist",
            Self::LateAcceptance { .. } => {
                "Accepted after the offer expired; the patient went back to the waitlist"
            }
            Self::AcceptedAfterWithdrawal { .. } => {
                "Accepted after the hub withdrew the offer; the patient went back to the waitlist"
            }
        }
    }
}

/// The whole offer's state, for lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferOutcome {
    /// At least one person's outcome is still open.
    Open,
    /// Every person's outcome is final.
    Closed,
}

impl OfferedPerson {
    /// This person's outcome in `offer` at `now` (see the module documentation for the rules).
    pub fn outcome(&self, offer: &Offer, now: OffsetDateTime) -> PersonOutcome {
        let provider = offer.decision.as_ref();
        if let Some(ProviderDecision {
            decision: Decision::Decline { .. },
            ..
        }) = provider
        {
            return PersonOutcome::DeclinedByProvider;
        }
        if let Some(Answer {
            confirmed: false, ..
        }) = self.answer
        {
            return PersonOutcome::DeclinedByPatient;
        }
        if let (
            Some(ProviderDecision {
                decision: Decision::Accept,
                at: accepted,
                ..
            }),
            Some(Answer {
                confirmed: true,
                at: answered,
                ..
            }),
        ) = (provider, &self.answer)
        {
            let at = (*accepted).max(*answered);
            if let Some(w) = &offer.withdrawn
                && w.at < at
            {
                return PersonOutcome::AcceptedAfterWithdrawal { at };
            }
            if at > offer.expires_at {
                return PersonOutcome::LateAcceptance { at };
            }
            return PersonOutcome::Attached { at };
        }
        if offer.withdrawn.is_some() {
            PersonOutcome::Withdrawn
        } else if now > offer.expires_at {
            PersonOutcome::Expired
        } else {
            PersonOutcome::Open
        }
    }
}

impl Offer {
    /// Every person's outcome at `now`, in the offer's order.
    pub fn outcomes(&self, now: OffsetDateTime) -> Vec<(PersonId, PersonOutcome)> {
        self.persons
            .iter()
            .map(|p| (p.person, p.outcome(self, now)))
            .collect()
    }

    pub fn state(&self, now: OffsetDateTime) -> OfferOutcome {
        if self.persons.iter().any(|p| p.outcome(self, now).is_open()) {
            OfferOutcome::Open
        } else {
            OfferOutcome::Closed
        }
    }

    /// People in the offer whose outcome is still open (they hold capacity).
    pub fn open_people(&self, now: OffsetDateTime) -> u32 {
        let n = self
            .persons
            .iter()
            .filter(|p| p.outcome(self, now).is_open())
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// Who keeps each person attached when several offers attach them (clinics that completed
/// offers while offline): per person, the offer whose second yes came first, then the lower
/// offer id. Returns winner per person, and the superseded `(offer, person)` pairs.
pub fn attachment_winners<'a>(
    offers: impl IntoIterator<Item = &'a Offer>,
    now: OffsetDateTime,
) -> (BTreeMap<PersonId, OfferId>, Vec<(OfferId, PersonId)>) {
    let mut by_person: BTreeMap<PersonId, Vec<(OffsetDateTime, OfferId)>> = BTreeMap::new();
    for offer in offers {
        for p in &offer.persons {
            if let PersonOutcome::Attached { at } = p.outcome(offer, now) {
                by_person.entry(p.person).or_default().push((at, offer.id));
            }
        }
    }
    let mut winners = BTreeMap::new();
    let mut superseded = Vec::new();
    for (person, mut list) in by_person {
        list.sort_unstable();
        let mut it = list.into_iter();
        if let Some((_, first)) = it.next() {
            winners.insert(person, first);
        }
        superseded.extend(it.map(|(_, o)| (o, person)));
    }
    superseded.sort_unstable();
    (winners, superseded)
}

/// The attachments beyond `monthly_capacity` in their month (in the province's zone), in
/// the order they happened: `(at, offer, person)` sorted by time, then offer, then person; the
/// first `monthly_capacity` of each month are within capacity, the rest are listed.
pub fn over_capacity(
    attachments: &[(OffsetDateTime, OfferId, PersonId)],
    monthly_capacity: u32,
    clock: &ProvinceClock,
) -> Vec<(Month, OfferId, PersonId)> {
    let mut sorted = attachments.to_vec();
    sorted.sort_unstable();
    let mut counts: BTreeMap<Month, u32> = BTreeMap::new();
    let mut over = Vec::new();
    for (at, offer, person) in sorted {
        let month = clock.month_of(at);
        let n = counts.entry(month).or_default();
        *n += 1;
        if *n > monthly_capacity {
            over.push((month, offer, person));
        }
    }
    over
}
