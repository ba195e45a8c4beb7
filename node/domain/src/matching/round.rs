//! One matching round: everyone available on the waitlist, in order, offered to the
//! providers whose preferences and capacity allow it.
//!
//! Households are offered together: a household takes the place of its best-ranked member,
//! needs what its strictest member needs (a physician if any member does), a provider who
//! speaks a language of every member who named languages, and as many places as it has
//! members. For each household in turn, the eligible providers are those who:
//! accept new patients and have places left this month for the whole household, are under
//! their maximum of open requests, serve the household's community (their clinic's own or a
//! neighbouring community in the catchment), are of a kind the household accepts, share a
//! language, and have not declined any of its members before. Among them the round picks the
//! best community fit (own community first), then the most places left (spreading offers),
//! then the lowest provider id, so a round is deterministic.

use std::collections::{BTreeSet, HashMap};

use super::priority::{PriorityRules, Rank};
use super::{ProviderKind, ProviderNeed, WaitingPerson, fold_name};
use crate::ids::{ClinicId, PersonId, UserId};

/// A provider who may receive offers in this round, and what they have left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSlot {
    pub provider: UserId,
    pub kind: ProviderKind,
    /// Communities served: each with its fit (0 = the clinic's own community, 1 =
    /// neighbouring) and the clinic whose inbox an offer from it goes to (a provider may
    /// work at several clinics).
    pub catchment: Vec<(String, u8, ClinicId)>,
    /// Languages the provider sees patients in (empty: English only).
    pub languages: BTreeSet<String>,
    /// Places left of the monthly capacity rate.
    pub places_left: u32,
    /// Open requests left under the provider's maximum.
    pub requests_left: u32,
}

/// A waiting person available for this round (not attached, not in an open offer, not
/// flagged as already on a panel, not withdrawn), with their rank.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub person: &'a WaitingPerson,
    pub rank: Rank,
}

/// One offer the round makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedOffer {
    pub provider: UserId,
    pub clinic: ClinicId,
    /// Each person and why they were offered now.
    pub persons: Vec<(PersonId, String)>,
}

/// What a round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchRound {
    pub offers: Vec<ProposedOffer>,
    /// People considered (available on the waitlist).
    pub considered: usize,
    /// People offered.
    pub offered: usize,
    /// Places left across all providers after the round.
    pub places_left: u64,
}

struct Household<'a> {
    members: Vec<Candidate<'a>>,
    best: Rank,
}

const ENGLISH: &str = "english";

fn speaks(provider: &BTreeSet<String>, person: &BTreeSet<String>) -> bool {
    if person.is_empty() {
        return true;
    }
    if provider.is_empty() {
        return person.iter().any(|l| fold_name(l) == ENGLISH);
    }
    person.iter().any(|l| provider.contains(&fold_name(l)))
}

/// Runs one round over `candidates` and `providers` (see the module documentation).
pub fn run_round(
    rules: &PriorityRules,
    candidates: &[Candidate<'_>],
    providers: &[ProviderSlot],
) -> MatchRound {
    // Households, each at its best member's place.
    let mut by_household: HashMap<&str, usize> = HashMap::new();
    let mut households: Vec<Household<'_>> = Vec::with_capacity(candidates.len());
    for c in candidates {
        match c
            .person
            .household
            .as_deref()
            .filter(|h| !h.trim().is_empty())
        {
            Some(h) => match by_household.get(h) {
                Some(&i) => {
                    let hh = &mut households[i];
                    if c.rank.key() < hh.best.key() {
                        hh.best = c.rank;
                    }
                    hh.members.push(*c);
                }
                None => {
                    by_household.insert(h, households.len());
                    households.push(Household {
                        members: vec![*c],
                        best: c.rank,
                    });
                }
            },
            None => households.push(Household {
                members: vec![*c],
                best: c.rank,
            }),
        }
    }
    households.sort_unstable_by_key(|h| h.best.key());

    // Providers by the communities they serve; languages folded once.
    let mut slots: Vec<ProviderSlot> = providers
        .iter()
        .filter(|p| p.places_left > 0 && p.requests_left > 0)
        .cloned()
        .map(|mut p| {
            p.languages = p.languages.iter().map(|l| fold_name(l)).collect();
            p
        })
        .collect();
    slots.sort_unstable_by_key(|p| p.provider);
    let mut serving: HashMap<String, Vec<(u8, usize, ClinicId)>> = HashMap::new();
    for (i, p) in slots.iter().enumerate() {
        for (community, fit, clinic) in &p.catchment {
            serving
                .entry(fold_name(community))
                .or_default()
                .push((*fit, i, *clinic));
        }
    }
    let mut places_total: u64 = slots.iter().map(|p| u64::from(p.places_left)).sum();

    let mut round = MatchRound {
        considered: candidates.len(),
        ..MatchRound::default()
    };
    for hh in &households {
        if places_total == 0 {
            break;
        }
        let lead = hh
            .members
            .iter()
            .find(|m| m.rank.person == hh.best.person)
            .unwrap_or(&hh.members[0]);
        let size = u32::try_from(hh.members.len()).unwrap_or(u32::MAX);
        let need = if hh
            .members
            .iter()
            .any(|m| m.person.need == ProviderNeed::Physician)
        {
            ProviderNeed::Physician
        } else {
            ProviderNeed::PhysicianOrNp
        };
        let Some(list) = serving.get_mut(&fold_name(&lead.person.details.community)) else {
            continue;
        };
        let mut best: Option<(u8, u32, usize, ClinicId)> = None;
        list.retain(|&(fit, i, clinic)| {
            let p = &slots[i];
            if p.places_left == 0 || p.requests_left == 0 {
                return false; // exhausted for the rest of the round
            }
            let eligible = p.places_left >= size
                && need.accepts(p.kind)
                && hh.members.iter().all(|m| {
                    speaks(&p.languages, &m.person.languages)
                        && !m.person.declined_by.contains(&p.provider)
                });
            if eligible {
                let better = match best {
                    None => true,
                    Some((bf, bl, bi, _)) => {
                        (fit, std::cmp::Reverse(p.places_left), p.provider)
                            < (bf, std::cmp::Reverse(bl), slots[bi].provider)
                    }
                };
                if better {
                    best = Some((fit, p.places_left, i, clinic));
                }
            }
            true
        });
        let Some((fit, _, i, clinic)) = best else {
            continue;
        };
        let p = &mut slots[i];
        let fit_words = if fit == 0 {
            format!(
                "lives in {}, the clinic's community",
                lead.person.details.community
            )
        } else {
            format!(
                "lives in {}, in the clinic's catchment",
                lead.person.details.community
            )
        };
        let capacity_words = format!(
            "the provider had {} place{} left this month",
            p.places_left,
            if p.places_left == 1 { "" } else { "s" }
        );
        let persons = hh
            .members
            .iter()
            .map(|m| {
                let mut why = m.rank.explain(rules);
                if hh.members.len() > 1 {
                    why.push_str(&format!(
                        "; offered with their household of {}",
                        hh.members.len()
                    ));
                }
                why.push_str(&format!("; {fit_words}; {capacity_words}"));
                (m.person.id, why)
            })
            .collect();
        p.places_left -= size;
        p.requests_left -= 1;
        places_total -= u64::from(size);
        if p.requests_left == 0 {
            // Its other places cannot be offered in this round.
            places_total -= u64::from(p.places_left);
        }
        round.offered += hh.members.len();
        round.offers.push(ProposedOffer {
            provider: p.provider,
            clinic,
            persons,
        });
    }
    round.places_left = places_total;
    round
}
