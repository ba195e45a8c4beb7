//! Matching use cases.
//!
//! At the hub: registering people on the provincial waitlist (duplicates by PHN merged),
//! running a matching round (offers written into clinics' inboxes), withdrawing offers of
//! providers who stopped taking patients or left, and keeping each person on at most one
//! panel when clinics completed offers for the same person while offline.
//!
//! At a clinic (works offline): the provider or a delegate accepts or declines an offer;
//! the clinic records each person's answer; on both yeses the person joins the panel.
//!
//! What decisions amount to is computed from the merged offer documents by
//! [`attach_domain::matching`], so every replica shows the same outcome.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use time::{Duration, OffsetDateTime};
use tracing::{info, warn};
use uuid::Uuid;

use super::App;
use super::error::AppError;
use super::history::ChangeKind;
use super::model::{FieldConflict, Model};
use attach_domain::error::Problems;
use attach_domain::matching::{
    Answer, Candidate, Decision, MonthlyUse, Offer, OfferedPerson, PersonOutcome, PriorityFactor,
    PriorityRules, ProviderDecision, ProviderKind, ProviderNeed, ProviderSlot, ProvinceClock,
    Registration, WaitingPerson, Withdrawal, attachment_winners, fold_name, run_round,
};
use attach_domain::{
    ClinicId, Disposition, EntryId, HowAdded, OfferId, PanelEntry, PatientInput, PatientStatus,
    PersonId, Removal, Role, UserId,
};
use attach_schema::matching as msch;
use attach_store::DocId;

/// The hub's matching settings (`[matching]` in its configuration).
#[derive(Debug, Clone)]
pub struct MatchingConfig {
    pub rules: PriorityRules,
    /// The province's time zone: capacity months are its calendar months.
    pub clock: ProvinceClock,
    /// Days an offer stays open before the person returns to the waitlist.
    pub offer_days: u32,
    /// Neighbouring communities each community's clinics also serve (folded names).
    pub catchments: BTreeMap<String, Vec<String>>,
    /// The health authority serving each community (folded community names).
    pub health_authority_of: BTreeMap<String, String>,
}

impl Default for MatchingConfig {
    fn default() -> Self {
        Self {
            rules: PriorityRules::default(),
            clock: ProvinceClock::named("America/Vancouver")
                .unwrap_or_else(|_| ProvinceClock::named("UTC").expect("UTC is always known")),
            offer_days: 14,
            catchments: BTreeMap::new(),
            health_authority_of: health_authority_of(&crate::config::bc_health_authorities())
                .unwrap_or_default(),
        }
    }
}

impl MatchingConfig {
    /// The rules from the hub's `[matching]` settings, or what is wrong with them (named
    /// by setting).
    pub fn from_settings(s: &crate::config::MatchingSettings) -> Result<Self, AppError> {
        let bad = |field: &str, message: String| AppError::invalid(field, message);
        let clock = ProvinceClock::named(s.time_zone.trim())
            .map_err(|e| bad("matching.time_zone", e.to_string()))?;
        if s.offer_days == 0 {
            return Err(bad(
                "matching.offer_days",
                "an offer must stay open at least one day".into(),
            ));
        }
        let rules = PriorityRules {
            tiers: s.tiers.clone(),
            promote_after_days: s.promote_after_days,
        };
        rules
            .validate()
            .map_err(|e| bad("matching.tiers", e.to_string()))?;
        let catchments = s
            .catchments
            .iter()
            .map(|(k, v)| (fold_name(k), v.clone()))
            .collect();
        let health_authority_of = health_authority_of(&s.health_authorities)
            .map_err(|m| bad("matching.health_authorities", m))?;
        Ok(Self {
            rules,
            clock,
            offer_days: s.offer_days,
            catchments,
            health_authority_of,
        })
    }
}

/// Each community's health authority, from the authorities' lists; a community in two is
/// refused, named.
fn health_authority_of(
    authorities: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, String>, String> {
    let mut of = BTreeMap::new();
    for (name, communities) in authorities {
        let name = name.trim();
        if name.is_empty() {
            return Err("a health authority needs a name".to_owned());
        }
        for c in communities {
            if let Some(other) = of.insert(fold_name(c), name.to_owned())
                && other != name
            {
                return Err(format!(
                    "\"{}\" is listed under both {other} and {name}",
                    c.trim()
                ));
            }
        }
    }
    Ok(of)
}

/// The id every hub-side change is attributed to when a coordinator acts through the hub's
/// admin interface (the history names it "provincial coordinator").
pub const COORDINATOR: UserId = UserId(Uuid::from_u128(0x0000_0000_0000_7000_8000_000c_0012_d001));

/// Who acts on matching documents: a signed-in member at one of their clinics, or a
/// provincial coordinator at the hub. App functions that serve both take it as a parameter and check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    Member {
        who: UserId,
        clinic: ClinicId,
    },
    /// A provincial coordinator at the hub (their own login, or [`COORDINATOR`] for the
    /// admin API), for any offer the hub made.
    Coordinator {
        who: UserId,
    },
}

/// A registration as typed or read from a file: every field a string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitingInput {
    /// Who they are, as for a panel entry (`community`: where they live; `last_visit` unused).
    pub patient: PatientInput,
    /// Languages, separated by `;` or `,` (empty: any).
    pub languages: String,
    /// `physician` or `any` (a physician or a nurse practitioner; the default).
    pub need: String,
    /// Priority factors, separated by `;` or `,` (see [`PriorityFactor::key`]).
    pub factors: String,
    /// YYYY-MM-DD when they first registered (empty: now).
    pub registered_on: String,
    pub household: String,
}

fn list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split([';', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl WaitingInput {
    /// The person (with a fresh id), or every problem.
    pub fn validate(&self, now: OffsetDateTime) -> Result<WaitingPerson, AppError> {
        let mut p = Problems::default();
        let details = match self.patient.validate(now.date()) {
            Ok(d) => Some(d),
            Err(attach_domain::DomainError::Validation(fields)) => {
                p.0.extend(fields);
                None
            }
            Err(e) => return Err(e.into()),
        };
        if self.patient.community.trim().is_empty() {
            p.add(
                "community",
                "say which community the person lives in (offers are made by community)",
            );
        }
        let need = match self.need.trim().to_ascii_lowercase().as_str() {
            "" | "any" | "physician_or_np" | "either" => ProviderNeed::PhysicianOrNp,
            "physician" | "physician only" | "physician_only" => ProviderNeed::Physician,
            _ => {
                p.add(
                    "need",
                    "write physician, or any (a physician or a nurse practitioner)",
                );
                ProviderNeed::PhysicianOrNp
            }
        };
        let mut factors = BTreeSet::new();
        for raw in list(&self.factors) {
            match PriorityFactor::from_key(raw) {
                Some(f) => {
                    factors.insert(f);
                }
                None => p.add(
                    "factors",
                    format!(
                        "{raw:?} is not a priority factor; use {}",
                        PriorityFactor::ALL.map(|f| f.key()).join(", ")
                    ),
                ),
            }
        }
        let languages = list(&self.languages)
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let registered_at = if self.registered_on.trim().is_empty() {
            now
        } else {
            match time::Date::parse(
                self.registered_on.trim(),
                time::macros::format_description!("[year]-[month]-[day]"),
            ) {
                Ok(d) if d <= now.date() => d.midnight().assume_utc(),
                Ok(_) => {
                    p.add("registered_on", "the registration date is in the future");
                    now
                }
                Err(_) => {
                    p.add("registered_on", "write the date as YYYY-MM-DD");
                    now
                }
            }
        };
        let household = Some(self.household.trim().to_owned()).filter(|h| !h.is_empty());
        if household.as_ref().is_some_and(|h| h.chars().count() > 100) {
            p.add("household", "at most 100 characters");
        }
        let person = details.map(|details| WaitingPerson {
            id: PersonId::new(),
            details: attach_domain::PatientDetails {
                last_visit: None,
                ..details
            },
            languages,
            need,
            factors,
            registered_at,
            household,
            registration: Registration::Waiting,
            declined_by: BTreeSet::new(),
            returned_at: None,
        });
        match (p.finish(()), person) {
            (Ok(()), Some(person)) => Ok(person),
            (Err(e), _) => Err(e.into()),
            (Ok(()), None) => Err(AppError::invalid(
                "phn",
                "the patient details are not valid",
            )),
        }
    }
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Registered {
    pub person: PersonId,
    /// The PHN was already waiting: this registration was merged into that one.
    pub merged: bool,
    /// The person is on a panel somewhere already: they are flagged, never offered.
    pub on_a_panel: bool,
}

/// What a matching round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoundReport {
    pub considered: usize,
    pub offers: usize,
    pub offered: usize,
    /// People skipped because they are already on a panel somewhere.
    pub flagged: usize,
    pub places_left: u64,
    /// Open offers withdrawn because the provider stopped taking patients or left.
    pub withdrawn: usize,
    /// Attachments undone because another clinic attached the same person first.
    pub superseded: usize,
    /// People a clinic returned to the waitlist from a panel, waiting again.
    #[serde(default)]
    pub returned: usize,
    /// Inbox documents ignored because the hub did not make them (their first change came
    /// from a clinic's node): a sign of a tampered node.
    #[serde(default)]
    pub untrusted: usize,
}

/// An offer as a clinic's inbox shows it.
#[derive(Debug, Clone)]
pub struct OfferView {
    pub offer: Offer,
    pub outcomes: Vec<(PersonId, PersonOutcome)>,
    pub conflicts: Vec<FieldConflict>,
    /// The person was attached elsewhere first (the hub decided; see the module docs).
    pub superseded: BTreeSet<PersonId>,
    pub may_decide: bool,
}

/// The columns of a waitlist file, in the order `attach` writes them; a file may order them
/// differently and leave optional ones out (`phn` … `community` are required).
pub const WAITLIST_COLUMNS: [&str; 17] = [
    "phn",
    "family_name",
    "given_names",
    "date_of_birth",
    "sex",
    "phone",
    "email",
    "street",
    "city",
    "province",
    "postal_code",
    "community",
    "languages",
    "need",
    "factors",
    "registered_on",
    "household",
];

/// Reads a waitlist CSV (UTF-8, a header row naming the columns of [`WAITLIST_COLUMNS`]).
/// A file that cannot be read is refused whole, with the reason and the row.
pub fn parse_waitlist_csv(bytes: &[u8]) -> Result<Vec<WaitingInput>, AppError> {
    let refuse = |row: Option<usize>, message: String| AppError::Invalid {
        message: format!("Nothing was registered. {message}"),
        problems: vec![super::Problem {
            row,
            field: "file".into(),
            message,
        }],
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| refuse(Some(1), format!("the header row does not read: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for h in &headers {
        if !WAITLIST_COLUMNS.contains(&h.as_str()) {
            return Err(refuse(
                Some(1),
                format!(
                    "unknown column {h:?}; the columns are {}",
                    WAITLIST_COLUMNS.join(", ")
                ),
            ));
        }
    }
    for required in &WAITLIST_COLUMNS[..12] {
        if !headers.iter().any(|h| h == required) {
            return Err(refuse(
                Some(1),
                format!("the column {required:?} is missing"),
            ));
        }
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record =
            record.map_err(|e| refuse(Some(i + 2), format!("row {} does not read: {e}", i + 2)))?;
        let get = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|k| record.get(k))
                .unwrap_or("")
                .to_owned()
        };
        out.push(WaitingInput {
            patient: PatientInput {
                phn: get("phn"),
                family_name: get("family_name"),
                given_names: get("given_names"),
                date_of_birth: get("date_of_birth"),
                sex: get("sex"),
                phone: get("phone"),
                email: get("email"),
                street: get("street"),
                city: get("city"),
                province: get("province"),
                postal_code: get("postal_code"),
                community: get("community"),
                last_visit: String::new(),
            },
            languages: get("languages"),
            need: get("need"),
            factors: get("factors"),
            registered_on: get("registered_on"),
            household: get("household"),
        });
    }
    Ok(out)
}

fn offer_doc(clinic: ClinicId, offer: OfferId) -> Result<DocId, AppError> {
    Ok(attach_schema::offer_doc_id(clinic, offer))
}

fn waiting_doc(person: PersonId) -> Result<DocId, AppError> {
    Ok(attach_schema::waiting_doc_id(person))
}

/// The panel entry an attachment through `offer` creates for `person`: the same id on every
/// replica that records the second yes, so two records of one attachment are one entry.
pub fn attachment_entry(offer: OfferId, person: PersonId) -> EntryId {
    let mut name = [0u8; 32];
    name[..16].copy_from_slice(offer.0.as_bytes());
    name[16..].copy_from_slice(person.0.as_bytes());
    EntryId(Uuid::new_v5(&Uuid::NAMESPACE_OID, &name))
}

/// New documents per durable batch when a bulk registration or a matching round writes
/// many at once (two batches at a time, see `DocStore::change_in_batches`): large enough
/// that a province's waitlist file is a few hundred fsyncs, small enough that one batch's
/// write overlaps the next one's changes and bounds the memory a batch holds.
const WRITE_BATCH: usize = 2_500;

/// A second registration of a person already waiting: the earliest registration date is
/// kept, priority factors and languages are added, contact details are the newest, a
/// household named replaces the old one, and a need for a physician sticks.
fn merge_registration(old: &mut WaitingPerson, new: WaitingPerson) {
    old.registered_at = old.registered_at.min(new.registered_at);
    old.factors.extend(new.factors);
    old.languages.extend(new.languages);
    old.details = new.details;
    if new.household.is_some() {
        old.household = new.household;
    }
    if new.need == ProviderNeed::Physician {
        old.need = ProviderNeed::Physician;
    }
    old.registration = Registration::Waiting;
}

impl App {
    /// This node's id as a UUID: at the hub, the node whose offers are real offers.
    pub(super) fn node_uuid(&self) -> Uuid {
        Uuid::from_bytes(self.store().node_id().0)
    }

    /// The hub's matching settings.
    pub fn matching_config(&self) -> MatchingConfig {
        self.inner.matching.read().clone()
    }

    pub fn set_matching_config(&self, config: MatchingConfig) {
        *self.inner.matching.write() = config;
    }

    /// Puts a person on the provincial waitlist. A PHN already waiting is merged into its
    /// registration (the earliest registration date is kept, priority factors and languages
    /// are added, contact details are the newest), never counted twice.
    pub fn register_waiting(
        &self,
        actor: UserId,
        input: &WaitingInput,
    ) -> Result<Registered, AppError> {
        let now = self.now();
        let new = input.validate(now)?;
        self.register_validated(actor, new)
    }

    fn register_validated(
        &self,
        actor: UserId,
        new: WaitingPerson,
    ) -> Result<Registered, AppError> {
        let mut out = self.register_all(actor, vec![new])?;
        out.pop()
            .ok_or_else(|| AppError::bug("a registration went missing"))
    }

    /// Registers people already validated: each PHN once, merged into its registration
    /// when it is already waiting (or appears twice among `people`), written in durable
    /// batches of [`WRITE_BATCH`] documents. One [`Registered`] per input, in order.
    fn register_all(
        &self,
        actor: UserId,
        people: Vec<WaitingPerson>,
    ) -> Result<Vec<Registered>, AppError> {
        let _admission = self.inner.admission.lock();
        // What will be written: each person once, with their count of registrations and
        // whether it merges into a registration that already existed.
        let mut plan: Vec<(WaitingPerson, u32, bool)> = Vec::new();
        let mut by_phn: HashMap<attach_domain::Phn, usize> = HashMap::new();
        let mut out = Vec::with_capacity(people.len());
        {
            let m = self.model();
            for new in people {
                let phn = new.details.phn;
                let on_a_panel = m.live_by_phn.contains_key(&phn);
                let slot = match by_phn.get(&phn) {
                    Some(&i) => {
                        let (old, n, merged) = &mut plan[i];
                        merge_registration(old, new);
                        *n += 1;
                        *merged = true;
                        i
                    }
                    None => {
                        let existing = m.waiting_by_phn.get(&phn).and_then(|id| m.waiting.get(id));
                        plan.push(match existing {
                            Some((old, n)) => {
                                let mut old = old.clone();
                                merge_registration(&mut old, new);
                                (old, n + 1, true)
                            }
                            None => (new, 1, false),
                        });
                        by_phn.insert(phn, plan.len() - 1);
                        plan.len() - 1
                    }
                };
                out.push(Registered {
                    person: plan[slot].0.id,
                    merged: plan[slot].2,
                    on_a_panel,
                });
            }
        }
        for merged in [false, true] {
            let docs: HashMap<DocId, (&WaitingPerson, u32)> = plan
                .iter()
                .filter(|(_, _, m)| *m == merged)
                .map(|(p, n, _)| Ok((waiting_doc(p.id)?, (p, *n))))
                .collect::<Result<_, AppError>>()?;
            if docs.is_empty() {
                continue;
            }
            let ids: Vec<DocId> = docs.keys().cloned().collect();
            let message = if merged {
                "merge registration"
            } else {
                "register"
            };
            self.store()
                .change_in_batches(actor.0, message, &ids, WRITE_BATCH, |id, tx| {
                    let (p, n) = docs
                        .get(id)
                        .ok_or_else(|| AppError::bug("a registration went missing"))?;
                    msch::write_waiting(tx, p, *n).map_err(AppError::from)
                })?;
        }
        info!(
            registrations = out.len(),
            people = plan.len(),
            merged = plan.iter().filter(|(_, _, m)| *m).count(),
            "registered on the waitlist"
        );
        Ok(out)
    }

    /// Registers every row (all valid, or nothing is stored and every problem is listed with
    /// its row number, counting the header as row 1). A PHN already waiting, or on two
    /// rows, is one registration.
    pub fn register_waiting_many(
        &self,
        actor: UserId,
        rows: &[WaitingInput],
    ) -> Result<Vec<Registered>, AppError> {
        let now = self.now();
        let mut problems = Vec::new();
        let mut people = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            match row.validate(now) {
                Ok(p) => people.push(p),
                Err(AppError::Invalid { problems: ps, .. }) => {
                    problems.extend(ps.into_iter().map(|mut p| {
                        p.row = Some(i + 2);
                        p
                    }));
                }
                Err(e) => return Err(e),
            }
        }
        if !problems.is_empty() {
            return Err(AppError::Invalid {
                message: format!(
                    "Nothing was registered: {} problem(s) to fix in the file.",
                    problems.len()
                ),
                problems,
            });
        }
        self.register_all(actor, people)
    }

    /// Takes a person off the waitlist (moved away, attached on their own, asked to leave).
    pub fn withdraw_registration(&self, actor: UserId, person: PersonId) -> Result<(), AppError> {
        let (mut p, n) = self
            .model()
            .waiting
            .get(&person)
            .cloned()
            .ok_or_else(|| AppError::not_found("person on the waitlist"))?;
        p.registration = Registration::Withdrawn;
        self.store().change(
            &waiting_doc(person)?,
            actor.0,
            "withdraw registration",
            |tx| msch::write_waiting(tx, &p, n).map_err(AppError::from),
        )?;
        Ok(())
    }

    /// One matching round at the hub: withdraws open offers of providers who no longer take
    /// patients, undoes attachments another clinic made first, then offers everyone
    /// available to the providers with capacity; every offer written in one durable batch.
    pub fn run_matching(&self, actor: UserId) -> Result<RoundReport, AppError> {
        let now = self.now();
        let config = self.matching_config();
        let withdrawn = self.withdraw_stale_offers(actor, now)?;
        let superseded = self.settle_double_attachments(actor, now)?;
        let returned = self.take_back_returned(actor)?;

        let month = config.clock.month_of(now);
        let (new_offers, flagged, considered, places_left, untrusted) = {
            let m = self.model();
            // Each provider's use of this month's capacity, and who is spoken for.
            let mut used: HashMap<UserId, MonthlyUse> = HashMap::new();
            let mut spoken_for: BTreeSet<PersonId> = BTreeSet::new();
            // Providers who declined a person are not offered them again.
            let mut declined: HashMap<PersonId, BTreeSet<UserId>> = HashMap::new();
            let hub = self.node_uuid();
            let untrusted = m.offers.len() - m.offers_made_by(hub).count();
            for (offer, _) in m.offers_made_by(hub) {
                let mut open = false;
                for p in &offer.persons {
                    match p.outcome(offer, now) {
                        PersonOutcome::DeclinedByProvider => {
                            declined.entry(p.person).or_default().insert(offer.provider);
                        }
                        PersonOutcome::Open => {
                            used.entry(offer.provider).or_default().offered += 1;
                            spoken_for.insert(p.person);
                            open = true;
                        }
                        PersonOutcome::Attached { at } => {
                            if config.clock.month_of(at) == month {
                                used.entry(offer.provider).or_default().attached += 1;
                            }
                            // Unless a clinic returned them to the waitlist since.
                            let returned = m
                                .waiting
                                .get(&p.person)
                                .and_then(|(w, _)| w.returned_at)
                                .is_some_and(|r| r >= at);
                            if !returned {
                                spoken_for.insert(p.person);
                            }
                        }
                        _ => {}
                    }
                }
                if open {
                    used.entry(offer.provider).or_default().open_requests += 1;
                }
            }
            let slots = provider_slots(&m, &config, &used);
            let with_declines: HashMap<PersonId, WaitingPerson> = declined
                .into_iter()
                .filter_map(|(id, providers)| {
                    let (p, _) = m.waiting.get(&id)?;
                    let mut p = p.clone();
                    p.declined_by.extend(providers);
                    Some((id, p))
                })
                .collect();
            let mut flagged = 0;
            let candidates: Vec<Candidate<'_>> = m
                .waiting
                .values()
                .map(|(p, _)| with_declines.get(&p.id).unwrap_or(p))
                .filter(|p| p.registration == Registration::Waiting)
                .filter(|p| !spoken_for.contains(&p.id))
                .filter(|p| {
                    let on_panel = m.live_by_phn.contains_key(&p.details.phn);
                    flagged += usize::from(on_panel);
                    !on_panel
                })
                .map(|p| Candidate {
                    person: p,
                    rank: config.rules.rank(p, now),
                })
                .collect();
            let round = run_round(&config.rules, &candidates, &slots);
            let offers: Vec<Offer> = round
                .offers
                .into_iter()
                .map(|proposal| Offer {
                    id: OfferId::new(),
                    clinic: proposal.clinic,
                    provider: proposal.provider,
                    persons: proposal
                        .persons
                        .into_iter()
                        .filter_map(|(id, why)| {
                            m.waiting.get(&id).map(|(p, _)| OfferedPerson {
                                person: id,
                                details: p.details.clone(),
                                why,
                                answer: None,
                            })
                        })
                        .collect(),
                    created_at: now,
                    expires_at: now + Duration::days(i64::from(config.offer_days)),
                    decision: None,
                    withdrawn: None,
                })
                .collect();
            (
                offers,
                flagged,
                round.considered,
                round.places_left,
                untrusted,
            )
        };
        let report = RoundReport {
            considered,
            offers: new_offers.len(),
            offered: new_offers.iter().map(|o| o.persons.len()).sum(),
            flagged,
            places_left,
            withdrawn,
            superseded,
            returned,
            untrusted,
        };
        if untrusted > 0 {
            warn!(
                untrusted,
                "inbox documents the hub did not make were ignored (made by a clinic's node)"
            );
        }
        if !new_offers.is_empty() {
            let by_doc: HashMap<DocId, &Offer> = new_offers
                .iter()
                .map(|o| Ok((offer_doc(o.clinic, o.id)?, o)))
                .collect::<Result<_, AppError>>()?;
            let ids: Vec<DocId> = by_doc.keys().cloned().collect();
            // Each offer stands alone, so a crash part way leaves whole offers the next
            // round counts, never half of one.
            self.store()
                .change_in_batches(actor.0, "offer", &ids, WRITE_BATCH, |id, tx| {
                    let offer = by_doc
                        .get(id)
                        .ok_or_else(|| AppError::bug("an offer went missing"))?;
                    msch::write_offer(tx, offer).map_err(AppError::from)
                })?;
        }
        info!(
            offers = report.offers,
            offered = report.offered,
            considered = report.considered,
            withdrawn = report.withdrawn,
            superseded = report.superseded,
            "matching round"
        );
        Ok(report)
    }

    /// Withdraws the open offers of providers who stopped taking new patients or are no
    /// longer active at the offer's clinic; the people go back to the waitlist, keeping
    /// their place.
    fn withdraw_stale_offers(&self, actor: UserId, now: OffsetDateTime) -> Result<usize, AppError> {
        let stale: Vec<(DocId, String)> = {
            let m = self.model();
            m.offers_made_by(self.node_uuid())
                .filter(|(o, _)| {
                    o.withdrawn.is_none() && o.persons.iter().any(|p| p.outcome(o, now).is_open())
                })
                .filter_map(|(o, _)| {
                    let active = m
                        .clinics
                        .get(&o.clinic)
                        .is_some_and(|c| c.clinic.is_active_member(o.provider));
                    let accepting = m
                        .preferences
                        .get(&o.provider)
                        .is_some_and(|p| p.accepting_new_patients);
                    let reason = if !active {
                        "the provider no longer works at this clinic"
                    } else if !accepting {
                        "the provider stopped taking new patients"
                    } else {
                        return None;
                    };
                    offer_doc(o.clinic, o.id)
                        .ok()
                        .map(|d| (d, reason.to_owned()))
                })
                .collect()
        };
        self.write_withdrawals(actor, now, stale)
    }

    /// Writes a withdrawal with its reason into each offer document.
    fn write_withdrawals(
        &self,
        actor: UserId,
        now: OffsetDateTime,
        offers: Vec<(DocId, String)>,
    ) -> Result<usize, AppError> {
        if offers.is_empty() {
            return Ok(0);
        }
        let reasons: HashMap<DocId, String> = offers.into_iter().collect();
        let ids: Vec<DocId> = reasons.keys().cloned().collect();
        self.store()
            .change_many(actor.0, "withdraw offer", &ids, |id, tx| {
                let w = Withdrawal {
                    at: now,
                    reason: reasons.get(id).cloned().unwrap_or_default(),
                };
                msch::write_withdrawal(tx, Some(&w)).map_err(AppError::from)
            })?;
        Ok(ids.len())
    }

    /// At a clinic, at once: withdraws the open offers to `provider` in this clinic's inbox
    /// (they left the clinic or stopped taking new patients), so nobody accepts them on the
    /// provider's behalf while the hub has not heard. The people go back to the waitlist,
    /// keeping their place, at the hub's next round, as for a withdrawal the hub makes.
    pub(super) fn withdraw_offers_to(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        reason: &str,
    ) -> Result<usize, AppError> {
        let now = self.now();
        let open: Vec<(DocId, String)> = {
            let m = self.model();
            m.offers_by_clinic
                .get(&clinic)
                .into_iter()
                .flatten()
                .filter_map(|id| m.offers.get(id).map(|(o, _)| o))
                .filter(|o| {
                    o.provider == provider
                        && o.withdrawn.is_none()
                        && o.persons.iter().any(|p| p.outcome(o, now).is_open())
                })
                .filter_map(|o| offer_doc(o.clinic, o.id).ok())
                .map(|d| (d, reason.to_owned()))
                .collect()
        };
        let n = self.write_withdrawals(who, now, open)?;
        if n > 0 {
            info!(clinic = %clinic, provider = %provider, withdrawn = n, "open offers withdrawn");
        }
        Ok(n)
    }

    /// At the hub: people a clinic returned to the waitlist from a panel (a provider left or
    /// stopped) are waiting again. A person already registered keeps their place (the
    /// earliest registration) and is offered again even though an old offer attached them;
    /// anyone else is registered from the panel entry, their place the day they were
    /// returned. Either way the provider who returned them is not offered them again. Done
    /// once per return: `returned_at` in the waiting document records the last one acted on.
    fn take_back_returned(&self, actor: UserId) -> Result<usize, AppError> {
        let writes: Vec<(WaitingPerson, u32)> = {
            let m = self.model();
            let mut latest: HashMap<attach_domain::Phn, (&PanelEntry, OffsetDateTime)> =
                HashMap::new();
            for id in &m.returned {
                let Some(e) = m.entries.get(id).map(|s| &s.entry) else {
                    continue;
                };
                let Some(r) = &e.removed else { continue };
                let newer = latest.get(&e.details.phn).is_none_or(|(_, at)| r.at > *at);
                if newer {
                    latest.insert(e.details.phn, (e, r.at));
                }
            }
            latest
                .into_values()
                .filter_map(|(e, at)| {
                    let existing = m
                        .waiting_by_phn
                        .get(&e.details.phn)
                        .and_then(|id| m.waiting.get(id));
                    let (mut person, n) = match existing {
                        Some((p, _)) if p.returned_at.is_some_and(|r| r >= at) => return None,
                        Some((p, n)) => (p.clone(), *n),
                        None => (
                            WaitingPerson {
                                id: PersonId::new(),
                                details: attach_domain::PatientDetails {
                                    last_visit: None,
                                    ..e.details.clone()
                                },
                                languages: BTreeSet::new(),
                                need: ProviderNeed::PhysicianOrNp,
                                factors: BTreeSet::new(),
                                registered_at: at,
                                household: None,
                                registration: Registration::Waiting,
                                declined_by: BTreeSet::new(),
                                returned_at: None,
                            },
                            1,
                        ),
                    };
                    person.registration = Registration::Waiting;
                    person.returned_at = Some(at);
                    person.declined_by.insert(e.provider);
                    Some((person, n))
                })
                .collect()
        };
        if writes.is_empty() {
            return Ok(0);
        }
        let by_doc: HashMap<DocId, (WaitingPerson, u32)> = writes
            .into_iter()
            .map(|w| Ok((waiting_doc(w.0.id)?, w)))
            .collect::<Result<_, AppError>>()?;
        let ids: Vec<DocId> = by_doc.keys().cloned().collect();
        self.store().change_many(
            actor.0,
            "returned to the waitlist from a panel",
            &ids,
            |id, tx| {
                let (p, n) = by_doc
                    .get(id)
                    .ok_or_else(|| AppError::bug("a person went missing"))?;
                msch::write_waiting(tx, p, *n).map_err(AppError::from)
            },
        )?;
        info!(
            returned = ids.len(),
            "people returned to the waitlist from panels"
        );
        Ok(ids.len())
    }

    /// When clinics completed offers of the same person while offline, the first second-yes
    /// keeps the person; the hub takes the others' panel entries off with the reason, so the
    /// person is never on two panels (the clinics see it in the history and in the inbox).
    fn settle_double_attachments(
        &self,
        actor: UserId,
        now: OffsetDateTime,
    ) -> Result<usize, AppError> {
        let removals: Vec<(DocId, PanelEntry, OfferId)> = {
            let m = self.model();
            let (_, superseded) =
                attachment_winners(m.offers_made_by(self.node_uuid()).map(|(o, _)| o), now);
            superseded
                .into_iter()
                .filter_map(|(offer, person)| {
                    let o = &m.offers.get(&offer)?.0;
                    let entry = m.entries.get(&attachment_entry(offer, person))?;
                    if entry.entry.removed.is_some() {
                        return None;
                    }
                    let doc = attach_schema::entry_doc_id(o.provider, entry.entry.id);
                    Some((doc, entry.entry.clone(), offer))
                })
                .collect()
        };
        if removals.is_empty() {
            return Ok(0);
        }
        let by_doc: HashMap<DocId, PanelEntry> = removals
            .into_iter()
            .map(|(doc, entry, offer)| {
                let removed = PanelEntry {
                    review: Default::default(),
                    removed: Some(Removal {
                        at: now,
                        by: actor,
                        reason: format!(
                            "attached to another provider first through the provincial match; this offer ({offer}) was completed later"
                        ),
                        disposition: Disposition::Left,
                    }),
                    ..entry
                };
                (doc, removed)
            })
            .collect();
        let ids: Vec<DocId> = by_doc.keys().cloned().collect();
        self.store().change_many(
            actor.0,
            &ChangeKind::UndoDoubleAttachment.to_string(),
            &ids,
            |id, tx| {
                let e = by_doc
                    .get(id)
                    .ok_or_else(|| AppError::bug("an entry went missing"))?;
                attach_schema::write_entry(tx, e).map_err(AppError::from)
            },
        )?;
        Ok(ids.len())
    }

    /// A person's name as pages show it ("Dr. A. Patel"), or their id when the account is
    /// not here yet.
    pub fn display_name(&self, user: UserId) -> String {
        self.model()
            .accounts
            .get(&user)
            .map_or_else(|| user.to_string(), |a| a.display_name.clone())
    }

    /// A clinic's inbox: every offer to its providers that `who` may see (the provider, their
    /// delegates, and the clinic's account managers), newest first.
    pub fn inbox(&self, who: UserId, clinic: ClinicId) -> Result<Vec<OfferView>, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let now = self.now();
        let m = self.model();
        let (_, superseded) = attachment_winners(
            m.offers_by_clinic
                .get(&clinic)
                .into_iter()
                .flatten()
                .filter_map(|id| m.offers.get(id).map(|(o, _)| o)),
            now,
        );
        let superseded: BTreeSet<(OfferId, PersonId)> = superseded.into_iter().collect();
        let mut out: Vec<OfferView> = m
            .offers_by_clinic
            .get(&clinic)
            .into_iter()
            .flatten()
            .filter_map(|id| m.offers.get(id))
            .filter(|(o, _)| c.can_manage_panel(who, o.provider) || c.is_account_manager(who))
            .map(|(o, conflicts)| {
                let removed_by_hub: BTreeSet<PersonId> = o
                    .persons
                    .iter()
                    .filter(|p| {
                        superseded.contains(&(o.id, p.person))
                            || m.entries
                                .get(&attachment_entry(o.id, p.person))
                                .is_some_and(|e| {
                                    e.entry
                                        .removed
                                        .as_ref()
                                        .is_some_and(|r| r.by == COORDINATOR)
                                })
                    })
                    .map(|p| p.person)
                    .collect();
                OfferView {
                    outcomes: o.outcomes(now),
                    conflicts: conflicts.clone(),
                    superseded: removed_by_hub,
                    may_decide: c.can_manage_panel(who, o.provider),
                    offer: o.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.offer
                .created_at
                .cmp(&a.offer.created_at)
                .then(b.offer.id.cmp(&a.offer.id))
        });
        Ok(out)
    }

    fn clinic_offer(&self, clinic: ClinicId, offer: OfferId) -> Result<Offer, AppError> {
        self.model()
            .offers
            .get(&offer)
            .filter(|(o, _)| o.clinic == clinic)
            .map(|(o, _)| o.clone())
            .ok_or_else(|| AppError::not_found("offer"))
    }

    /// The provider (or a delegate) accepts or declines an offer. A decline needs a reason
    /// from the list, and words when the reason is "other". People whose answer is already a
    /// yes join the panel in the same change.
    pub fn decide_offer(
        &self,
        who: UserId,
        clinic: ClinicId,
        offer: OfferId,
        decision: Decision,
    ) -> Result<Offer, AppError> {
        let now = self.now();
        let c = self.member_clinic(who, clinic)?;
        let mut o = self.clinic_offer(clinic, offer)?;
        if !c.can_manage_panel(who, o.provider) {
            return Err(AppError::forbidden(
                "only the provider and staff they have endorsed can decide on offers to this panel",
            ));
        }
        if o.decision.is_some() {
            return Err(AppError::conflict("this offer has already been decided"));
        }
        if o.persons.iter().all(|p| !p.outcome(&o, now).is_open()) {
            return Err(AppError::conflict(
                "this offer is closed (expired or withdrawn); the people are back on the waitlist",
            ));
        }
        if let Decision::Decline { reason, note } = &decision {
            if note.chars().count() > 500 {
                return Err(AppError::invalid("note", "at most 500 characters"));
            }
            if *reason == attach_domain::matching::DeclineReason::Other && note.trim().is_empty() {
                return Err(AppError::invalid(
                    "note",
                    "say why, when the reason is \"other\"",
                ));
            }
        }
        o.decision = Some(ProviderDecision {
            decision,
            at: now,
            by: who,
        });
        let message = ChangeKind::DecideOffer.to_string();
        self.write_offer_and_attach(who, &c, &o, &message, now)?;
        Ok(o)
    }

    /// Records a person's answer to an offer (the clinic heard from them): the provider,
    /// their endorsed staff or the clinic's account managers.
    pub fn record_answer(
        &self,
        who: UserId,
        clinic: ClinicId,
        offer: OfferId,
        person: PersonId,
        confirmed: bool,
        note: &str,
    ) -> Result<Offer, AppError> {
        self.answer_offer(
            Acting::Member { who, clinic },
            offer,
            person,
            confirmed,
            note,
        )
    }

    /// Records a person's answer at the hub (the coordinator `who` heard from them; the
    /// change is theirs, so the hub's history says which coordinator).
    pub fn coordinator_record_answer(
        &self,
        who: UserId,
        offer: OfferId,
        person: PersonId,
        confirmed: bool,
        note: &str,
    ) -> Result<Offer, AppError> {
        self.answer_offer(Acting::Coordinator { who }, offer, person, confirmed, note)
    }

    /// Records a person's answer as `acting` may: a clinic member for the offers of their
    /// clinic they may see, a coordinator for any offer the hub made.
    pub fn answer_offer(
        &self,
        acting: Acting,
        offer: OfferId,
        person: PersonId,
        confirmed: bool,
        note: &str,
    ) -> Result<Offer, AppError> {
        let now = self.now();
        let (who, c, mut o) = match acting {
            Acting::Member { who, clinic } => {
                let c = self.member_clinic(who, clinic)?;
                let o = self.clinic_offer(clinic, offer)?;
                if !(c.can_manage_panel(who, o.provider) || c.is_account_manager(who)) {
                    return Err(AppError::forbidden(
                        "only the provider, their endorsed staff and the clinic's account managers record answers",
                    ));
                }
                (who, c, o)
            }
            Acting::Coordinator { who } => {
                let hub = self.node_uuid();
                let m = self.model();
                let o = m
                    .offers_made_by(hub)
                    .map(|(o, _)| o)
                    .find(|o| o.id == offer)
                    .cloned()
                    .ok_or_else(|| AppError::not_found("offer"))?;
                let c = m
                    .clinics
                    .get(&o.clinic)
                    .map(|s| s.clinic.clone())
                    .ok_or_else(|| AppError::not_found("clinic"))?;
                (who, c, o)
            }
        };
        self.set_answer(&mut o, person, confirmed, note, who, now)?;
        let message = ChangeKind::RecordAnswer.to_string();
        self.write_offer_and_attach(who, &c, &o, &message, now)?;
        Ok(o)
    }

    fn set_answer(
        &self,
        o: &mut Offer,
        person: PersonId,
        confirmed: bool,
        note: &str,
        who: UserId,
        now: OffsetDateTime,
    ) -> Result<(), AppError> {
        if note.chars().count() > 500 {
            return Err(AppError::invalid("note", "at most 500 characters"));
        }
        let snapshot = o.clone();
        let p = o
            .persons
            .iter_mut()
            .find(|p| p.person == person)
            .ok_or_else(|| AppError::not_found("person in this offer"))?;
        if p.answer.is_some() {
            return Err(AppError::conflict(
                "this person's answer is already recorded",
            ));
        }
        if !p.outcome(&snapshot, now).is_open() {
            return Err(AppError::conflict(format!(
                "this offer is no longer open for this person ({})",
                p.outcome(&snapshot, now).label()
            )));
        }
        p.answer = Some(Answer {
            confirmed,
            at: now,
            by: who,
            note: note.trim().to_owned(),
        });
        Ok(())
    }

    /// Writes the offer and, for each person it now attaches, their panel entry, in one
    /// durable change.
    fn write_offer_and_attach(
        &self,
        who: UserId,
        c: &attach_domain::Clinic,
        o: &Offer,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<(), AppError> {
        let _admission = self.inner.admission.lock();
        let mut entries: HashMap<DocId, PanelEntry> = HashMap::new();
        for p in &o.persons {
            let PersonOutcome::Attached { at } = p.outcome(o, now) else {
                continue;
            };
            let id = attachment_entry(o.id, p.person);
            if self.model().entries.contains_key(&id) {
                continue;
            }
            let existing: Vec<PanelEntry> = self
                .model()
                .entries_for((c.id, p.details.phn))
                .cloned()
                .collect();
            let live_here = existing.iter().any(|e| e.removed.is_none());
            if live_here {
                // Already on a panel at this clinic: the offer records the yes; the clash is
                // the clinic's to settle, as for any patient on two panels.
                continue;
            }
            let entry = PanelEntry {
                id,
                provider: o.provider,
                clinic: c.id,
                details: p.details.clone(),
                status: PatientStatus::Active,
                mrp: None,
                added_at: at,
                added_by: who,
                how_added: HowAdded::Match,
                review: Default::default(),
                removed: None,
            };
            entries.insert(attach_schema::entry_doc_id(o.provider, id), entry);
        }
        let offer_id = offer_doc(o.clinic, o.id)?;
        let mut ids: Vec<DocId> = entries.keys().cloned().collect();
        ids.push(offer_id.clone());
        self.store().change_many(who.0, message, &ids, |id, tx| {
            if *id == offer_id {
                msch::write_offer(tx, o).map_err(AppError::from)
            } else {
                let e = entries
                    .get(id)
                    .ok_or_else(|| AppError::bug("an entry went missing"))?;
                attach_schema::write_entry(tx, e).map_err(AppError::from)
            }
        })?;
        if !entries.is_empty() {
            info!(offer = %o.id, attached = entries.len(), "attached through the provincial match");
        }
        Ok(())
    }
}

/// Every provider who may receive offers now, with what is left of their capacity.
fn provider_slots(
    m: &Model,
    config: &MatchingConfig,
    used: &HashMap<UserId, MonthlyUse>,
) -> Vec<ProviderSlot> {
    let mut by_provider: BTreeMap<UserId, ProviderSlot> = BTreeMap::new();
    // Clinics in id order, so a round is the same whatever order the model holds them in; a
    // community two of a provider's clinics serve goes to the first (the older clinic).
    let mut clinics: Vec<_> = m.clinics.values().collect();
    clinics.sort_by_key(|s| s.clinic.id);
    for state in clinics {
        let c = &state.clinic;
        let home = fold_name(&c.profile.address.city);
        for member in c.providers() {
            let Some(prefs) = m.preferences.get(&member.user) else {
                continue;
            };
            if !prefs.accepting_new_patients
                || prefs.monthly_capacity == 0
                || prefs.max_open_requests == 0
            {
                continue;
            }
            let kind = if member.role == Role::NursePractitioner {
                ProviderKind::NursePractitioner
            } else {
                ProviderKind::Physician
            };
            let u = used.get(&member.user).copied().unwrap_or_default();
            let slot = by_provider
                .entry(member.user)
                .or_insert_with(|| ProviderSlot {
                    provider: member.user,
                    kind,
                    catchment: Vec::new(),
                    languages: prefs.languages.clone(),
                    places_left: u.left(prefs.monthly_capacity),
                    requests_left: prefs.max_open_requests.saturating_sub(u.open_requests),
                });
            if !home.is_empty() {
                let served = std::iter::once((home.clone(), 0)).chain(
                    config
                        .catchments
                        .get(&home)
                        .into_iter()
                        .flatten()
                        .map(|n| (fold_name(n), 1)),
                );
                for (community, fit) in served {
                    if !slot.catchment.iter().any(|(c, _, _)| *c == community) {
                        slot.catchment.push((community, fit, c.id));
                    }
                }
            }
        }
    }
    by_provider
        .into_values()
        .filter(|s| !s.catchment.is_empty())
        .collect()
}
