//! The hub's use cases for provincial coordinators: their accounts (kept at the hub only),
//! the waitlist as they search it, a person's registration and offers, the offers out, and
//! the provincial view. Every function that acts for a coordinator takes their user id and
//! checks here that it is a coordinator's; changes are attributed to them.
//!
//! The matching use cases themselves (registering, rounds, answers) are in `matching.rs`;
//! the functions here check who is asking and call them.

use std::collections::BTreeSet;

use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

use super::App;
use super::accounts::coordinator_doc;
use super::error::AppError;
use super::matching::{Registered, RoundReport, WaitingInput, parse_waitlist_csv};
use super::model::Model;
use attach_domain::matching::{
    CapacityFact, Offer, PersonOutcome, ProvinceReport, Rank, WaitStatus, WaitingPerson,
    wait_status,
};
use attach_domain::{OfferId, PersonId, UserId};

/// A coordinator account, as the hub admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CoordinatorSummary {
    pub id: UserId,
    pub username: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// A new coordinator and their temporary password (shown once, never stored in clear).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewCoordinator {
    pub coordinator: CoordinatorSummary,
    pub temporary_password: String,
}

/// What a coordinator searches the waitlist for.
#[derive(Debug, Clone, Default)]
pub struct WaitlistQuery {
    /// A PHN (spaces and dashes ignored; a prefix of digits is enough) or part of a name.
    pub q: String,
    pub status: Option<WaitStatus>,
    pub offset: usize,
    pub limit: usize,
}

/// One registration in a list.
#[derive(Debug, Clone)]
pub struct WaitlistRow {
    pub person: WaitingPerson,
    pub registrations: u32,
    pub status: WaitStatus,
    pub rank: Rank,
}

/// A page of the waitlist, with the counts of every status (of the whole list).
#[derive(Debug, Clone)]
pub struct WaitlistPage {
    pub rows: Vec<WaitlistRow>,
    /// Registrations matching the query (all pages).
    pub matching: usize,
    pub counts: Vec<(WaitStatus, usize)>,
    pub total: usize,
}

/// One offer as a coordinator sees it: where it went and what became of each person.
#[derive(Debug, Clone)]
pub struct CoordinatorOffer {
    pub offer: Offer,
    pub clinic_name: String,
    pub provider_name: String,
    pub outcomes: Vec<(PersonId, PersonOutcome)>,
}

/// One person's registration with everything the hub knows about it.
#[derive(Debug, Clone)]
pub struct PersonView {
    pub row: WaitlistRow,
    /// Why they stand where they stand, in words.
    pub explanation: String,
    /// Every offer they were in, newest first.
    pub offers: Vec<CoordinatorOffer>,
}

/// Open offers, newest first, at most `limit`, and how many are open in all.
#[derive(Debug, Clone)]
pub struct OffersOut {
    pub offers: Vec<CoordinatorOffer>,
    pub open: usize,
}

/// Where a person stands (see [`wait_status`]), by the offers the hub `hub` made.
fn status_of(m: &Model, hub: Uuid, p: &WaitingPerson, now: OffsetDateTime) -> WaitStatus {
    let outcomes = m
        .offers_by_person
        .get(&p.id)
        .into_iter()
        .flatten()
        .filter(|id| m.made_by(id, hub))
        .filter_map(|id| m.offers.get(id))
        .filter_map(|(o, _)| {
            o.persons
                .iter()
                .find(|x| x.person == p.id)
                .map(|x| x.outcome(o, now))
        });
    wait_status(
        p.registration,
        outcomes,
        m.live_by_phn.contains_key(&p.details.phn),
    )
}

fn name_of(m: &Model, user: UserId) -> String {
    m.accounts
        .get(&user)
        .map_or_else(|| user.to_string(), |a| a.display_name.clone())
}

fn coordinator_offer(m: &Model, o: &Offer, now: OffsetDateTime) -> CoordinatorOffer {
    CoordinatorOffer {
        clinic_name: m
            .clinics
            .get(&o.clinic)
            .map_or_else(|| o.clinic.to_string(), |c| c.clinic.profile.name.clone()),
        provider_name: name_of(m, o.provider),
        outcomes: o.outcomes(now),
        offer: o.clone(),
    }
}

/// Does a registration match the search text (a PHN's digits, or words of the name)?
fn matches(p: &WaitingPerson, q: &str) -> bool {
    let q = q.trim();
    if q.is_empty() {
        return true;
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    if !digits.is_empty()
        && q.chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return p
            .details
            .phn
            .to_string()
            .replace(' ', "")
            .starts_with(&digits);
    }
    let name = format!(
        "{} {}",
        p.details.family_name.to_lowercase(),
        p.details.given_names.to_lowercase()
    );
    q.to_lowercase()
        .split([' ', ','])
        .filter(|w| !w.is_empty())
        .all(|w| name.contains(w))
}

impl App {
    /// The coordinator signed in as `who`, or `Forbidden`: only coordinators use the hub's
    /// pages (a session at the hub is a coordinator's, but this is checked, not assumed).
    pub fn coordinator(&self, who: UserId) -> Result<CoordinatorSummary, AppError> {
        self.model()
            .coordinators
            .get(&who)
            .map(|a| CoordinatorSummary {
                id: a.id,
                username: a.username.clone(),
                name: a.display_name.clone(),
                created_at: a.created_at,
            })
            .ok_or_else(|| AppError::forbidden("only provincial coordinators use the hub's pages"))
    }

    /// Creates a coordinator login at the hub (the hub administrator does this). Usernames
    /// are unique among coordinators and the accounts the hub holds.
    pub fn add_coordinator(&self, username: &str, name: &str) -> Result<NewCoordinator, AppError> {
        let now = self.now();
        let id = UserId::new();
        let (account, temporary) = self.create_login(
            super::COORDINATOR,
            id,
            username,
            name,
            "",
            now,
            &coordinator_doc(id)?,
        )?;
        info!(user = %id, "coordinator account created");
        Ok(NewCoordinator {
            coordinator: CoordinatorSummary {
                id,
                username: account.username,
                name: account.display_name,
                created_at: account.created_at,
            },
            temporary_password: temporary,
        })
    }

    /// Every coordinator, by username.
    pub fn coordinators(&self) -> Vec<CoordinatorSummary> {
        let m = self.model();
        let mut out: Vec<CoordinatorSummary> = m
            .coordinators
            .values()
            .map(|a| CoordinatorSummary {
                id: a.id,
                username: a.username.clone(),
                name: a.display_name.clone(),
                created_at: a.created_at,
            })
            .collect();
        out.sort_by(|a, b| a.username.cmp(&b.username));
        out
    }

    /// The waitlist: registrations matching the query, in the waitlist's order (tier, then
    /// longest wait), with counts by status.
    pub fn waitlist(&self, who: UserId, q: &WaitlistQuery) -> Result<WaitlistPage, AppError> {
        self.coordinator(who)?;
        let now = self.now();
        let hub = self.node_uuid();
        let rules = self.matching_config().rules;
        let m = self.model();
        let mut counts = std::collections::HashMap::<WaitStatus, usize>::new();
        let mut rows: Vec<(WaitStatus, Rank, PersonId)> = Vec::new();
        for (p, _) in m.waiting.values() {
            let status = status_of(&m, hub, p, now);
            *counts.entry(status).or_default() += 1;
            if q.status.is_none_or(|s| s == status) && matches(p, &q.q) {
                rows.push((status, rules.rank(p, now), p.id));
            }
        }
        rows.sort_unstable_by_key(|(s, r, _)| (*s, r.key()));
        let matching = rows.len();
        let limit = if q.limit == 0 { 50 } else { q.limit.min(500) };
        let page = rows
            .into_iter()
            .skip(q.offset)
            .take(limit)
            .filter_map(|(status, rank, id)| {
                let (person, registrations) = m.waiting.get(&id)?.clone();
                Some(WaitlistRow {
                    person,
                    registrations,
                    status,
                    rank,
                })
            })
            .collect();
        Ok(WaitlistPage {
            rows: page,
            matching,
            counts: WaitStatus::ALL
                .into_iter()
                .map(|s| (s, counts.get(&s).copied().unwrap_or(0)))
                .collect(),
            total: m.waiting.len(),
        })
    }

    /// One person's registration, place in the order and offers.
    pub fn waiting_person(&self, who: UserId, person: PersonId) -> Result<PersonView, AppError> {
        self.coordinator(who)?;
        let now = self.now();
        let hub = self.node_uuid();
        let rules = self.matching_config().rules;
        let m = self.model();
        let (p, registrations) = m
            .waiting
            .get(&person)
            .cloned()
            .ok_or_else(|| AppError::not_found("person on the waitlist"))?;
        let rank = rules.rank(&p, now);
        let mut offers: Vec<CoordinatorOffer> = m
            .offers_by_person
            .get(&person)
            .into_iter()
            .flatten()
            .filter(|id| m.made_by(id, hub))
            .filter_map(|id| m.offers.get(id))
            .map(|(o, _)| coordinator_offer(&m, o, now))
            .collect();
        offers.sort_by_key(|o| std::cmp::Reverse(o.offer.created_at));
        Ok(PersonView {
            explanation: rank.explain(&rules),
            row: WaitlistRow {
                status: status_of(&m, hub, &p, now),
                person: p,
                registrations,
                rank,
            },
            offers,
        })
    }

    /// A coordinator registers one person (see [`App::register_waiting`]).
    pub fn coordinator_register(
        &self,
        who: UserId,
        input: &WaitingInput,
    ) -> Result<Registered, AppError> {
        self.coordinator(who)?;
        self.register_waiting(who, input)
    }

    /// A coordinator imports a waitlist CSV: every row valid, or nothing is stored.
    pub fn coordinator_import(&self, who: UserId, csv: &[u8]) -> Result<Vec<Registered>, AppError> {
        self.coordinator(who)?;
        let rows = parse_waitlist_csv(csv)?;
        if rows.is_empty() {
            return Err(AppError::invalid(
                "file",
                "the file has a header row but no people",
            ));
        }
        self.register_waiting_many(who, &rows)
    }

    /// A coordinator takes a person off the waitlist.
    pub fn coordinator_withdraw(&self, who: UserId, person: PersonId) -> Result<(), AppError> {
        self.coordinator(who)?;
        let already = self.model().waiting.get(&person).is_some_and(|(p, _)| {
            p.registration == attach_domain::matching::Registration::Withdrawn
        });
        if already {
            return Err(AppError::conflict("this registration is already withdrawn"));
        }
        self.withdraw_registration(who, person)
    }

    /// A coordinator runs a matching round now.
    pub fn coordinator_run_matching(&self, who: UserId) -> Result<RoundReport, AppError> {
        self.coordinator(who)?;
        self.run_matching(who)
    }

    /// A coordinator records a person's answer to an offer (they heard from the person).
    pub fn coordinator_answer(
        &self,
        who: UserId,
        offer: OfferId,
        person: PersonId,
        confirmed: bool,
        note: &str,
    ) -> Result<Offer, AppError> {
        self.coordinator(who)?;
        self.coordinator_record_answer(who, offer, person, confirmed, note)
    }

    /// Offers still open, newest first (at most `limit`), with each person's *why now*.
    pub fn offers_out(&self, who: UserId, limit: usize) -> Result<OffersOut, AppError> {
        self.coordinator(who)?;
        let now = self.now();
        let m = self.model();
        let mut open: Vec<&Offer> = m
            .offers_made_by(self.node_uuid())
            .map(|(o, _)| o)
            .filter(|o| o.open_people(now) > 0)
            .collect();
        open.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(OffersOut {
            open: open.len(),
            offers: open
                .into_iter()
                .take(limit)
                .map(|o| coordinator_offer(&m, o, now))
                .collect(),
        })
    }

    /// The provincial view for a coordinator.
    pub fn coordinator_province_report(&self, who: UserId) -> Result<ProvinceReport, AppError> {
        self.coordinator(who)?;
        Ok(self.province_report())
    }

    /// The provincial view (the hub admin's API and CLI call this directly: the admin token
    /// is their authorization). Computed from the read model on every call: measured at
    /// province scale in `benches/matching.rs`.
    pub fn province_report(&self) -> ProvinceReport {
        let now = self.now();
        let hub = self.node_uuid();
        let rules = self.matching_config().rules;
        let m = self.model();
        // Each provider accepting new patients once, in the community of their first clinic
        // (clinics in id order), as the matching round places them.
        let mut clinics: Vec<_> = m.clinics.values().collect();
        clinics.sort_by_key(|s| s.clinic.id);
        let mut seen = BTreeSet::new();
        let mut capacity: Vec<(String, u32)> = Vec::new();
        for state in clinics {
            let c = &state.clinic;
            for member in c.providers() {
                let Some(prefs) = m.preferences.get(&member.user) else {
                    continue;
                };
                if prefs.accepting_new_patients && seen.insert(member.user) {
                    capacity.push((c.profile.address.city.clone(), prefs.monthly_capacity));
                }
            }
        }
        ProvinceReport::compute(
            &rules,
            now,
            m.waiting
                .values()
                .map(|(p, _)| (p, status_of(&m, hub, p, now))),
            m.offers_made_by(hub).map(|(o, _)| o),
            capacity.iter().map(|(c, n)| CapacityFact {
                community: c,
                monthly_capacity: *n,
            }),
        )
    }
}
