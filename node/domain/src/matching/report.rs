//! The provincial view: where everyone on the waitlist stands, how long they have waited,
//! what happens to offers, and capacity against demand by community. Pure aggregation over
//! the waitlist, the offers and the providers' preferences; the hub's app layer feeds it
//! from the read model, and the benchmark from a synthetic province.
//!
//! Definitions (the page and the CSV say the same):
//! - a person's **status** is [`wait_status`]: attached (an offer made them a patient),
//!   withdrawn (taken off by a coordinator), offered (an offer is open), on a panel
//!   (registered but on a panel somewhere already: flagged, never offered), or waiting;
//! - **people waiting** are those waiting or offered: registered, with no provider yet;
//!   their tier is the configured rules' tier today (promotion included), and their wait is
//!   whole days since they first registered;
//! - percentiles are nearest-rank (the smallest wait at least p % of people have);
//! - **provider side**: offers the provider accepted or declined (undecided ones are not
//!   counted); **patient side**: people who said yes or no; rates are of those decided;
//! - **capacity** is the sum of monthly capacity rates of providers accepting new patients,
//!   counted once per provider in the community of their first clinic.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::offer::{Decision, DeclineReason, Offer, PersonOutcome};
use super::{PriorityRules, Registration, WaitingPerson, fold_name};

/// Where one registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WaitStatus {
    Waiting,
    Offered,
    Attached,
    /// On a panel somewhere already: flagged, never offered.
    OnAPanel,
    Withdrawn,
}

impl WaitStatus {
    pub const ALL: [WaitStatus; 5] = [
        Self::Waiting,
        Self::Offered,
        Self::Attached,
        Self::OnAPanel,
        Self::Withdrawn,
    ];

    /// The word used in addresses, files and the API.
    pub fn key(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Offered => "offered",
            Self::Attached => "attached",
            Self::OnAPanel => "on_a_panel",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn from_key(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.key() == s.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Waiting => "Waiting",
            Self::Offered => "Offered",
            Self::Attached => "Attached",
            Self::OnAPanel => "Flagged: already on a panel",
            Self::Withdrawn => "Withdrawn",
        }
    }

    /// Still without a provider and on the list (waiting or in an open offer).
    pub fn is_waiting(self) -> bool {
        matches!(self, Self::Waiting | Self::Offered)
    }
}

/// A person's status from their registration, the outcomes of their offers, and whether
/// they are on a panel anywhere. An attachment wins over everything (the person has a
/// provider, even if a coordinator withdrew the registration meanwhile); then a withdrawal;
/// then an open offer; then being on a panel already.
pub fn wait_status(
    registration: Registration,
    outcomes: impl IntoIterator<Item = PersonOutcome>,
    on_a_panel: bool,
) -> WaitStatus {
    let mut offered = false;
    for o in outcomes {
        match o {
            PersonOutcome::Attached { .. } => return WaitStatus::Attached,
            PersonOutcome::Open => offered = true,
            _ => {}
        }
    }
    if registration == Registration::Withdrawn {
        WaitStatus::Withdrawn
    } else if offered {
        WaitStatus::Offered
    } else if on_a_panel {
        WaitStatus::OnAPanel
    } else {
        WaitStatus::Waiting
    }
}

/// Yes and no answers from one side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rate {
    pub yes: usize,
    pub no: usize,
}

impl Rate {
    pub fn decided(self) -> usize {
        self.yes + self.no
    }

    /// Percentage of yeses among those decided (one decimal), or `None` with none decided.
    pub fn yes_percent(self) -> Option<f64> {
        percent(self.yes, self.decided())
    }

    pub fn no_percent(self) -> Option<f64> {
        percent(self.no, self.decided())
    }
}

fn percent(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// One community's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityRow {
    /// As first written on a registration or a clinic's address.
    pub community: String,
    /// People waiting, by tier (index into the rules' tiers).
    pub waiting_by_tier: Vec<usize>,
    /// People waiting (all tiers), of whom `offered` have an open offer.
    pub waiting: usize,
    pub offered: usize,
    /// Sum of the monthly capacity rates of providers accepting new patients here.
    pub capacity: u64,
    pub accepting_providers: usize,
}

impl CommunityRow {
    /// Months this community's capacity would take to attach everyone waiting there (one
    /// decimal), or `None` with no capacity.
    pub fn months_to_clear(&self) -> Option<f64> {
        (self.capacity > 0)
            .then(|| (self.waiting as f64 * 10.0 / self.capacity as f64).round() / 10.0)
    }
}

/// The whole provincial view at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvinceReport {
    pub at: OffsetDateTime,
    pub tiers: Vec<String>,
    /// Registrations by status, in [`WaitStatus::ALL`] order.
    pub by_status: Vec<(WaitStatus, usize)>,
    /// People waiting, by tier.
    pub waiting_by_tier: Vec<usize>,
    pub waiting: usize,
    pub median_wait_days: Option<i64>,
    pub p90_wait_days: Option<i64>,
    /// Offers with at least one person's outcome still open, and the people in them.
    pub offers_open: usize,
    pub people_in_open_offers: usize,
    pub offers_total: usize,
    pub provider_side: Rate,
    pub patient_side: Rate,
    /// Providers' decline reasons, most frequent first (ties in the list's order).
    pub decline_reasons: Vec<(DeclineReason, usize)>,
    pub capacity: u64,
    pub accepting_providers: usize,
    /// Every community with people waiting or capacity, by name.
    pub communities: Vec<CommunityRow>,
}

/// A provider accepting new patients: the community of their clinic and their monthly rate.
#[derive(Debug, Clone, Copy)]
pub struct CapacityFact<'a> {
    pub community: &'a str,
    pub monthly_capacity: u32,
}

/// The line of `name`'s community (compared case- and space-insensitively), made on first use.
fn community_row<'m>(
    rows: &'m mut HashMap<String, CommunityRow>,
    name: &str,
    tiers: usize,
) -> &'m mut CommunityRow {
    rows.entry(fold_name(name)).or_insert_with(|| CommunityRow {
        community: name.split_whitespace().collect::<Vec<_>>().join(" "),
        waiting_by_tier: vec![0; tiers],
        waiting: 0,
        offered: 0,
        capacity: 0,
        accepting_providers: 0,
    })
}

/// The nearest-rank `p`-th percentile of `values` (reordered in place).
pub fn percentile(values: &mut [i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let rank = (u64::from(p.min(100)) * n as u64).div_ceil(100).max(1) as usize;
    let (_, v, _) = values.select_nth_unstable(rank - 1);
    Some(*v)
}

impl ProvinceReport {
    /// Aggregates everything. `people` gives each registration with its status (see
    /// [`wait_status`]); `offers` every offer; `capacity` each accepting provider once.
    pub fn compute<'a>(
        rules: &PriorityRules,
        now: OffsetDateTime,
        people: impl IntoIterator<Item = (&'a WaitingPerson, WaitStatus)>,
        offers: impl IntoIterator<Item = &'a Offer>,
        capacity: impl IntoIterator<Item = CapacityFact<'a>>,
    ) -> Self {
        let tiers = rules.tiers.len().max(1);
        let mut rows: HashMap<String, CommunityRow> = HashMap::new();
        let mut by_status: HashMap<WaitStatus, usize> = HashMap::new();
        let mut waiting_by_tier = vec![0; tiers];
        let mut waits = Vec::new();
        for (p, status) in people {
            *by_status.entry(status).or_default() += 1;
            if !status.is_waiting() {
                continue;
            }
            let rank = rules.rank(p, now);
            let tier = rank.tier.min(tiers - 1);
            waiting_by_tier[tier] += 1;
            waits.push(rank.days_waiting);
            let r = community_row(&mut rows, &p.details.community, tiers);
            r.waiting += 1;
            r.waiting_by_tier[tier] += 1;
            r.offered += usize::from(status == WaitStatus::Offered);
        }
        let mut total_capacity = 0;
        let mut accepting = 0;
        for c in capacity {
            total_capacity += u64::from(c.monthly_capacity);
            accepting += 1;
            if c.community.trim().is_empty() {
                continue;
            }
            let r = community_row(&mut rows, c.community, tiers);
            r.capacity += u64::from(c.monthly_capacity);
            r.accepting_providers += 1;
        }
        let mut offers_open = 0;
        let mut people_in_open = 0;
        let mut offers_total = 0;
        let mut provider_side = Rate::default();
        let mut patient_side = Rate::default();
        let mut reasons: HashMap<DeclineReason, usize> = HashMap::new();
        for o in offers {
            offers_total += 1;
            let open = o.open_people(now) as usize;
            people_in_open += open;
            offers_open += usize::from(open > 0);
            match o.decision.as_ref().map(|d| &d.decision) {
                Some(Decision::Accept) => provider_side.yes += 1,
                Some(Decision::Decline { reason, .. }) => {
                    provider_side.no += 1;
                    *reasons.entry(*reason).or_default() += 1;
                }
                None => {}
            }
            for a in o.persons.iter().filter_map(|p| p.answer.as_ref()) {
                if a.confirmed {
                    patient_side.yes += 1;
                } else {
                    patient_side.no += 1;
                }
            }
        }
        let mut decline_reasons: Vec<(DeclineReason, usize)> = DeclineReason::ALL
            .into_iter()
            .filter_map(|r| reasons.get(&r).map(|n| (r, *n)))
            .collect();
        decline_reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        let mut communities: Vec<CommunityRow> = rows.into_values().collect();
        communities.sort_by(|a, b| {
            fold_name(&a.community)
                .cmp(&fold_name(&b.community))
                .then_with(|| a.community.cmp(&b.community))
        });
        Self {
            at: now,
            tiers: (0..tiers).map(|i| rules.tier_name(i).to_owned()).collect(),
            by_status: WaitStatus::ALL
                .into_iter()
                .map(|s| (s, by_status.get(&s).copied().unwrap_or(0)))
                .collect(),
            waiting: waits.len(),
            median_wait_days: percentile(&mut waits, 50),
            p90_wait_days: percentile(&mut waits, 90),
            waiting_by_tier,
            offers_open,
            people_in_open_offers: people_in_open,
            offers_total,
            provider_side,
            patient_side,
            decline_reasons,
            capacity: total_capacity,
            accepting_providers: accepting,
            communities,
        }
    }

    /// Every registration, whatever its status.
    pub fn registrations(&self) -> usize {
        self.by_status.iter().map(|(_, n)| n).sum()
    }

    /// How many registrations have `status`.
    pub fn count(&self, status: WaitStatus) -> usize {
        self.by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use time::macros::{date, datetime};
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::ids::{ClinicId, OfferId, PersonId, UserId};
    use crate::matching::offer::{Answer, OfferedPerson, ProviderDecision};
    use crate::matching::{PriorityFactor, ProviderNeed};
    use crate::phn::Phn;
    use crate::types::{Contact, PatientDetails};

    const NOW: OffsetDateTime = datetime!(2026-11-23 18:00 UTC);

    fn person(n: u32, community: &str, days: i64, factors: &[PriorityFactor]) -> WaitingPerson {
        WaitingPerson {
            id: PersonId::new(),
            details: PatientDetails {
                phn: (n * 7 + 1_000..).find_map(Phn::from_body).expect("a PHN"),
                family_name: format!("Family{n}"),
                given_names: format!("Given{n}"),
                date_of_birth: date!(1980 - 01 - 01),
                sex: crate::Sex::Unknown,
                contact: Contact::default(),
                community: community.into(),
                last_visit: None,
            },
            languages: BTreeSet::new(),
            need: ProviderNeed::PhysicianOrNp,
            factors: factors.iter().copied().collect(),
            registered_at: NOW - Duration::days(days),
            household: None,
            registration: Registration::Waiting,
            declined_by: BTreeSet::new(),
            returned_at: None,
        }
    }

    fn offer(p: &WaitingPerson, decision: Option<Decision>, answer: Option<bool>) -> Offer {
        Offer {
            id: OfferId::new(),
            clinic: ClinicId::new(),
            provider: UserId::new(),
            persons: vec![OfferedPerson {
                person: p.id,
                details: p.details.clone(),
                why: "test".into(),
                answer: answer.map(|confirmed| Answer {
                    confirmed,
                    at: NOW - Duration::hours(1),
                    by: UserId::new(),
                    note: String::new(),
                }),
            }],
            created_at: NOW - Duration::days(2),
            expires_at: NOW + Duration::days(12),
            decision: decision.map(|decision| ProviderDecision {
                decision,
                at: NOW - Duration::hours(2),
                by: UserId::new(),
            }),
            withdrawn: None,
        }
    }

    fn decline(reason: DeclineReason) -> Option<Decision> {
        Some(Decision::Decline {
            reason,
            note: String::new(),
        })
    }

    #[test]
    fn status_prefers_attachment_then_withdrawal_then_an_open_offer_then_a_panel() {
        let attached = PersonOutcome::Attached { at: NOW };
        use Registration::{Waiting, Withdrawn};
        assert_eq!(
            wait_status(Withdrawn, [attached], true),
            WaitStatus::Attached
        );
        assert_eq!(
            wait_status(Withdrawn, [PersonOutcome::Open], false),
            WaitStatus::Withdrawn
        );
        assert_eq!(
            wait_status(Waiting, [PersonOutcome::Expired, PersonOutcome::Open], true),
            WaitStatus::Offered
        );
        assert_eq!(
            wait_status(Waiting, [PersonOutcome::DeclinedByProvider], true),
            WaitStatus::OnAPanel
        );
        assert_eq!(
            wait_status(Waiting, [PersonOutcome::Expired], false),
            WaitStatus::Waiting
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<i64> = (1..=10).rev().collect();
        assert_eq!(percentile(&mut v, 50), Some(5));
        assert_eq!(percentile(&mut v, 90), Some(9));
        assert_eq!(percentile(&mut v, 100), Some(10));
        assert_eq!(percentile(&mut [7], 90), Some(7));
        assert_eq!(percentile(&mut [], 50), None);
    }

    #[test]
    fn the_report_counts_waiting_people_by_community_and_tier_and_offers_by_side() {
        let rules = PriorityRules {
            promote_after_days: 0,
            ..PriorityRules::default()
        };
        let a = person(1, "Smithers", 10, &[PriorityFactor::Pregnancy]);
        let b = person(2, " smithers ", 20, &[]);
        let c = person(3, "Telkwa", 30, &[PriorityFactor::ComplexCare]);
        let d = person(4, "Telkwa", 400, &[]);
        let gone = person(5, "Telkwa", 5, &[]);
        let offers = [
            offer(&a, Some(Decision::Accept), Some(true)),
            offer(&b, decline(DeclineReason::TooFar), None),
            offer(&c, decline(DeclineReason::TooFar), None),
            offer(&d, decline(DeclineReason::PanelFull), Some(false)),
            offer(&gone, None, None),
        ];
        let people = [
            (&a, WaitStatus::Attached),
            (&b, WaitStatus::Waiting),
            (&c, WaitStatus::Offered),
            (&d, WaitStatus::Waiting),
            (&gone, WaitStatus::Withdrawn),
        ];
        let r = ProvinceReport::compute(
            &rules,
            NOW,
            people,
            &offers,
            [
                CapacityFact {
                    community: "SMITHERS",
                    monthly_capacity: 4,
                },
                CapacityFact {
                    community: "Houston",
                    monthly_capacity: 6,
                },
            ],
        );
        assert_eq!(r.waiting, 3, "waiting and offered count as waiting");
        assert_eq!(r.count(WaitStatus::Attached), 1);
        assert_eq!(r.count(WaitStatus::Withdrawn), 1);
        assert_eq!(r.waiting_by_tier, vec![0, 1, 2]);
        assert_eq!(r.median_wait_days, Some(30));
        assert_eq!(r.p90_wait_days, Some(400));
        assert_eq!(r.provider_side, Rate { yes: 1, no: 3 });
        assert_eq!(r.provider_side.yes_percent(), Some(25.0));
        assert_eq!(r.patient_side, Rate { yes: 1, no: 1 });
        assert_eq!(
            r.decline_reasons,
            vec![(DeclineReason::TooFar, 2), (DeclineReason::PanelFull, 1)]
        );
        // Offers with an open person: b's and c's declined, d's declined, a's attached;
        // the withdrawn person's offer is still open (nobody decided).
        assert_eq!(r.offers_open, 1);
        assert_eq!(r.capacity, 10);
        let names: Vec<&str> = r.communities.iter().map(|c| c.community.as_str()).collect();
        assert_eq!(
            names,
            ["Houston", "smithers", "Telkwa"],
            "as first written by someone waiting"
        );
        let smithers = &r.communities[1];
        assert_eq!((smithers.waiting, smithers.capacity), (1, 4));
        assert_eq!(smithers.months_to_clear(), Some(0.3));
        let telkwa = &r.communities[2];
        assert_eq!(telkwa.waiting_by_tier, vec![0, 1, 1]);
        assert_eq!((telkwa.waiting, telkwa.offered), (2, 1));
        assert_eq!(telkwa.months_to_clear(), None);
        assert_eq!(r.communities[0].waiting, 0);
    }
}
