//! The order of the waitlist: priority tier, then time waiting, then community fit.
//!
//! The rules are configuration (`[matching]` in the hub's config), so a health authority
//! changes them without a new release:
//! - **tiers**, highest first, each named and listing the clinical priority factors that put
//!   a person in it; a person is in the highest tier any of their factors reaches, or in the
//!   last tier with none;
//! - **promote_after_days**: after this many days waiting a person moves up one tier (and
//!   again after twice as many), so nobody waits forever behind newer urgent registrations;
//!   0 turns it off;
//! - within a tier, the longest wait comes first; then a person in the provider's own
//!   community before one from a neighbouring community; then the registration's id, so the
//!   order is total and the same on every run.
//!
//! [`Rank::explain`] says, in words, why a person is where they are.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::WaitingPerson;
use crate::ids::PersonId;

/// A clinical factor a coordinator records at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityFactor {
    /// Complex care needs (several chronic conditions, frailty, mental-health and substance-use needs).
    ComplexCare,
    Pregnancy,
    /// Discharged from hospital in the last 30 days without a provider to follow up.
    RecentDischarge,
    /// Has never had a family provider.
    NoPriorProvider,
    /// A newborn or a child under 2.
    YoungChild,
    /// Palliative or end-of-life care.
    Palliative,
}

impl PriorityFactor {
    pub const ALL: [PriorityFactor; 6] = [
        Self::ComplexCare,
        Self::Pregnancy,
        Self::RecentDischarge,
        Self::NoPriorProvider,
        Self::YoungChild,
        Self::Palliative,
    ];

    /// The word used in files, forms and configuration.
    pub fn key(self) -> &'static str {
        match self {
            Self::ComplexCare => "complex_care",
            Self::Pregnancy => "pregnancy",
            Self::RecentDischarge => "recent_discharge",
            Self::NoPriorProvider => "no_prior_provider",
            Self::YoungChild => "young_child",
            Self::Palliative => "palliative",
        }
    }

    pub fn from_key(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        Self::ALL.into_iter().find(|f| f.key() == s)
    }

    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            Self::ComplexCare => "complex care needs",
            Self::Pregnancy => "pregnancy",
            Self::RecentDischarge => "recent hospital discharge",
            Self::NoPriorProvider => "no prior provider",
            Self::YoungChild => "young child",
            Self::Palliative => "palliative care",
        }
    }
}

/// One priority tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub name: String,
    #[serde(default)]
    pub factors: BTreeSet<PriorityFactor>,
}

/// The configurable ordering rules (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityRules {
    /// Highest first; the last tier is where people with no listed factor go.
    pub tiers: Vec<Tier>,
    /// Days of waiting that move a person up one tier; 0 = never.
    #[serde(default)]
    pub promote_after_days: u32,
}

impl Default for PriorityRules {
    /// Three tiers, modelled on provincial attachment programmes: urgent clinical need,
    /// then other priority populations, then everyone else; promotion after a year.
    fn default() -> Self {
        let tier = |name: &str, factors: &[PriorityFactor]| Tier {
            name: name.to_owned(),
            factors: factors.iter().copied().collect(),
        };
        Self {
            tiers: vec![
                tier(
                    "Tier 1: urgent clinical need",
                    &[
                        PriorityFactor::Palliative,
                        PriorityFactor::Pregnancy,
                        PriorityFactor::RecentDischarge,
                    ],
                ),
                tier(
                    "Tier 2: complex or vulnerable",
                    &[PriorityFactor::ComplexCare, PriorityFactor::YoungChild],
                ),
                tier("Tier 3: everyone else", &[PriorityFactor::NoPriorProvider]),
            ],
            promote_after_days: 365,
        }
    }
}

/// Why a set of rules cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("matching rules: at least one priority tier is needed")]
    NoTiers,
    #[error("matching rules: tier {index} has no name")]
    Unnamed { index: usize },
    #[error("matching rules: the factor {factor} is listed in tier {first:?} and tier {second:?}")]
    FactorTwice {
        factor: &'static str,
        first: String,
        second: String,
    },
}

impl PriorityRules {
    /// Checks the rules a health authority wrote.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.tiers.is_empty() {
            return Err(RulesError::NoTiers);
        }
        let mut seen: Vec<(PriorityFactor, &str)> = Vec::new();
        for (index, t) in self.tiers.iter().enumerate() {
            if t.name.trim().is_empty() {
                return Err(RulesError::Unnamed { index: index + 1 });
            }
            for f in &t.factors {
                if let Some((_, first)) = seen.iter().find(|(g, _)| g == f) {
                    return Err(RulesError::FactorTwice {
                        factor: f.key(),
                        first: (*first).to_owned(),
                        second: t.name.clone(),
                    });
                }
                seen.push((*f, &t.name));
            }
        }
        Ok(())
    }

    /// The tier `factors` alone put a person in (index into `tiers`, 0 = highest), and the
    /// factor that decided it.
    pub fn base_tier(&self, factors: &BTreeSet<PriorityFactor>) -> (usize, Option<PriorityFactor>) {
        let last = self.tiers.len().saturating_sub(1);
        self.tiers
            .iter()
            .enumerate()
            .find_map(|(i, t)| {
                t.factors
                    .iter()
                    .find(|f| factors.contains(f))
                    .map(|f| (i, Some(*f)))
            })
            .unwrap_or((last, None))
    }

    /// Where `p` stands at `now`.
    pub fn rank(&self, p: &WaitingPerson, now: OffsetDateTime) -> Rank {
        let (base, factor) = self.base_tier(&p.factors);
        let days = (now - p.registered_at).whole_days().max(0);
        let promoted = if self.promote_after_days == 0 {
            0
        } else {
            usize::try_from(days / i64::from(self.promote_after_days)).unwrap_or(usize::MAX)
        };
        let tier = base.saturating_sub(promoted);
        Rank {
            tier,
            base_tier: base,
            factor,
            registered_at: p.registered_at,
            days_waiting: days,
            person: p.id,
        }
    }

    pub fn tier_name(&self, tier: usize) -> &str {
        self.tiers.get(tier).map_or("", |t| t.name.as_str())
    }
}

/// A person's place in the order. Sorting ranks ascending gives the waitlist's order
/// (community fit, which depends on the provider, is applied by the round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    pub tier: usize,
    pub base_tier: usize,
    /// The factor that set the base tier, if any.
    pub factor: Option<PriorityFactor>,
    pub registered_at: OffsetDateTime,
    pub days_waiting: i64,
    pub person: PersonId,
}

impl Rank {
    /// The sort key: tier, then earliest registration (longest wait), then id.
    pub fn key(&self) -> (usize, OffsetDateTime, PersonId) {
        (self.tier, self.registered_at, self.person)
    }

    /// Why this person is here, in words: "Tier 1: urgent clinical need (pregnancy);
    /// waiting 214 days (since 2026-04-23)".
    pub fn explain(&self, rules: &PriorityRules) -> String {
        let mut s = rules.tier_name(self.tier).to_owned();
        match (self.factor, self.tier < self.base_tier) {
            (_, true) => s.push_str(&format!(
                " (moved up from {} after waiting more than {} days)",
                rules.tier_name(self.base_tier),
                rules.promote_after_days
            )),
            (Some(f), false) => s.push_str(&format!(" ({})", f.label())),
            (None, false) => {}
        }
        s.push_str(&format!(
            "; waiting {} day{} (since {})",
            self.days_waiting,
            if self.days_waiting == 1 { "" } else { "s" },
            self.registered_at.date()
        ));
        s
    }
}

impl fmt::Display for PriorityFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
