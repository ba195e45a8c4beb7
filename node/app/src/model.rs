//! The read model: in-memory indexes over every document's projection.
//!
//! The store persists a projection with every change (atomically) and calls
//! [`ReadModel::committed`] once the change is durable, and once per stored projection at
//! start-up. Queries never load Automerge documents.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use attach_domain::matching::{Offer, WaitingPerson};
use attach_domain::{
    Clinic, ClinicId, EntryId, OfferId, PanelEntry, PanelPreferences, PatientStatus, PersonId, Phn,
    UserId,
};
use attach_schema::AccountRecord;

/// One concurrent value of a field, as persisted in a projection and shown for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub value: String,
    pub by: Option<UserId>,
    pub at: Option<time::OffsetDateTime>,
}

/// A field holding several concurrent values; the last candidate is the one kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldConflict {
    pub field: String,
    pub candidates: Vec<Candidate>,
}

impl From<&attach_schema::Candidate> for Candidate {
    fn from(c: &attach_schema::Candidate) -> Self {
        Self {
            value: c.value.clone(),
            by: c.by,
            at: c.at,
        }
    }
}

impl From<&attach_schema::FieldConflict> for FieldConflict {
    fn from(f: &attach_schema::FieldConflict) -> Self {
        Self {
            field: f.field.clone(),
            candidates: f.candidates.iter().map(Into::into).collect(),
        }
    }
}

/// What is persisted beside each document: its decoded state and any concurrent values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Projection {
    Clinic {
        clinic: Box<Clinic>,
        primary_candidates: Vec<Candidate>,
        secondary_candidates: Vec<Candidate>,
        member_conflicts: Vec<FieldConflict>,
        /// Fields of the status rules set apart (`status rule <status> <field>`); projections
        /// stored before they were kept have none.
        #[serde(default)]
        rule_conflicts: Vec<FieldConflict>,
    },
    Account(Box<AccountView>),
    /// A provincial coordinator's account (`coordinator/<user>`, hub only: in no clinic's
    /// scope, so it never leaves the hub and no clinic can write it).
    Coordinator(Box<AccountView>),
    Preferences {
        provider: UserId,
        preferences: PanelPreferences,
    },
    Entry {
        entry: Box<PanelEntry>,
        conflicts: Vec<FieldConflict>,
    },
    /// A person on the provincial waitlist (hub only), and how many registrations merged.
    Waiting {
        person: Box<WaitingPerson>,
        registrations: u32,
    },
    /// An offer in a clinic's inbox, and its fields decided differently on two replicas.
    Offer {
        offer: Box<Offer>,
        /// The node that made the offer's first change (see [`Model::offer_origin`]).
        #[serde(default)]
        origin: Option<uuid::Uuid>,
        conflicts: Vec<FieldConflict>,
    },
    /// One of a clinic's working documents (`clinic/<clinic>/…`: MSP decisions, review
    /// tasks, the protocol); the app reads those from the store when it needs them. The
    /// keys of records two replicas wrote apart are kept for the Conflicts page.
    Work {
        conflicts: Vec<String>,
    },
    /// A recurring review task (`clinic/<clinic>/review/<task>`).
    ReviewTask(Box<attach_domain::ReviewTask>),
    /// One completion of a review task (`clinic/<clinic>/review/<task>/<completion>`).
    ReviewDone(Box<attach_domain::Completion>),
    /// A patient's clinical records at a clinic (`clinical/<clinic>/<patient>`).
    Clinical {
        phn: Option<Phn>,
        records: Vec<attach_domain::clinical::ClinicalRecord>,
        /// Source ids of records two replicas wrote apart, differently.
        conflicts: Vec<String>,
        /// Recalls being worked on.
        #[serde(default)]
        recalls: Vec<attach_domain::clinical::followup::Recall>,
        /// Dismissed suggestions, as (registry key, rule key).
        #[serde(default)]
        dismissed: Vec<(String, String)>,
        /// Recalls and dismissals two replicas wrote apart, differently.
        #[serde(default)]
        followup_conflicts: Vec<String>,
    },
    /// The clinic's coding protocol (`clinic/<clinic>/catalogue`): its choices over the
    /// shipped catalogue.
    Catalogue {
        protocol: Box<attach_domain::clinical::coding::CodingProtocol>,
        conflicts: Vec<String>,
    },
    /// The document exists but could not be decoded; kept so the problem is visible.
    Unreadable {
        error: String,
    },
}

/// An account as the read model keeps it. `credentials` is `None` for a person who asked
/// to join and has not been given a password yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub practitioner_number: Option<String>,
    pub created_at: time::OffsetDateTime,
    pub credentials: Option<attach_auth::Credentials>,
}

impl From<AccountRecord> for AccountView {
    fn from(a: AccountRecord) -> Self {
        let c = a.credentials;
        let credentials = (!c.password_hash.is_empty()).then_some(c);
        Self {
            id: a.id,
            username: a.username,
            display_name: a.display_name,
            email: a.email,
            practitioner_number: a.practitioner_number,
            created_at: a.created_at,
            credentials,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClinicState {
    pub clinic: Clinic,
    pub primary_candidates: Vec<Candidate>,
    pub secondary_candidates: Vec<Candidate>,
    pub member_conflicts: Vec<FieldConflict>,
    pub rule_conflicts: Vec<FieldConflict>,
}

#[derive(Debug, Clone)]
pub struct EntryState {
    pub entry: PanelEntry,
    pub conflicts: Vec<FieldConflict>,
}

/// The key a panel is listed by: family name, given names, then id, case-folded.
pub type NameKey = (String, EntryId);

pub fn name_key(entry: &PanelEntry) -> NameKey {
    (
        format!(
            "{}\u{1}{}",
            fold(&entry.details.family_name),
            fold(&entry.details.given_names)
        ),
        entry.id,
    )
}

/// Lower-case with accents kept; search is by prefix of this form.
pub fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

#[derive(Debug, Default)]
pub struct Model {
    pub clinics: HashMap<ClinicId, ClinicState>,
    pub accounts: HashMap<UserId, AccountView>,
    /// Lower-cased username → accounts holding it (more than one only after a merge clash).
    pub usernames: HashMap<String, BTreeSet<UserId>>,
    /// Clinics each user is a member of (any state).
    pub memberships: HashMap<UserId, BTreeSet<ClinicId>>,
    pub preferences: HashMap<UserId, PanelPreferences>,
    pub entries: HashMap<EntryId, EntryState>,
    /// (clinic, provider) → entries in name order.
    pub panels: HashMap<(ClinicId, UserId), BTreeSet<NameKey>>,
    /// (clinic, PHN) → every entry for that patient at that clinic, removed ones included.
    pub by_phn: HashMap<(ClinicId, Phn), BTreeSet<EntryId>>,
    /// Keys of `by_phn` with more than one entry not removed: clashes to review.
    pub clashes: HashSet<(ClinicId, Phn)>,
    /// Documents that failed to decode, by id.
    pub unreadable: HashMap<String, String>,
    /// Working documents with records written apart on two replicas: doc id → record keys.
    pub work_conflicts: HashMap<String, Vec<String>>,
    /// Every clinic's review tasks, and their completions (oldest due date first).
    pub review_tasks: BTreeMap<attach_domain::TaskId, attach_domain::ReviewTask>,
    pub task_completions: HashMap<attach_domain::TaskId, Vec<attach_domain::Completion>>,
    /// Every live (not removed) entry of a PHN, at any clinic: is a person on a panel anywhere?
    pub live_by_phn: HashMap<Phn, BTreeSet<EntryId>>,
    /// The provincial waitlist (hub only): people and the count of registrations merged.
    pub waiting: HashMap<PersonId, (WaitingPerson, u32)>,
    pub waiting_by_phn: HashMap<Phn, PersonId>,
    /// Offers, with their fields decided differently on two replicas.
    pub offers: HashMap<OfferId, (Offer, Vec<FieldConflict>)>,
    pub offers_by_person: HashMap<PersonId, BTreeSet<OfferId>>,
    pub offers_by_clinic: HashMap<ClinicId, BTreeSet<OfferId>>,
    /// The node that made each offer's first change. A clinic's node may write any document
    /// of its own inbox family, so only offers a hub made are offers (see
    /// [`Model::offers_made_by`]).
    pub offer_origin: HashMap<OfferId, Option<uuid::Uuid>>,
    /// Entries taken off a panel to go back to the waitlist (the hub acts on them).
    pub returned: BTreeSet<EntryId>,
    /// Provincial coordinators (hub only), and their lower-cased usernames.
    pub coordinators: HashMap<UserId, AccountView>,
    pub coordinator_names: HashMap<String, UserId>,
    /// Each clinic's clinical data, as the rules read it.
    pub clinical: HashMap<ClinicId, ClinicalState>,
}

/// A clinic's clinical data in the read model: the catalogue in use, and per patient what
/// the rules read (not the records themselves: the pages that show records read the
/// patient's document).
#[derive(Debug, Clone)]
pub struct ClinicalState {
    pub compiled: std::sync::Arc<attach_domain::clinical::rules::Compiled>,
    /// Whether the clinic chose anything in its coding protocol (`false`: the shipped
    /// catalogue as it is).
    pub own_catalogue: bool,
    /// Definitions of the clinic's protocol that could not be applied, and why.
    pub left_out: Vec<attach_domain::clinical::coding::LeftOut>,
    pub patients: HashMap<Phn, PatientClinical>,
    /// Set when the catalogue changed after the patients were summarised with the old one:
    /// the app re-summarises from the stored projections before it answers.
    pub stale: bool,
    /// Bumped by every clinical document applied, so a rebuild made meanwhile is not kept.
    pub generation: u64,
}

impl ClinicalState {
    fn new(compiled: attach_domain::clinical::rules::Compiled, own: bool) -> Self {
        Self {
            compiled: std::sync::Arc::new(compiled),
            own_catalogue: own,
            left_out: Vec::new(),
            patients: HashMap::new(),
            stale: false,
            generation: 0,
        }
    }

    fn shipped() -> Self {
        match attach_domain::clinical::catalogue::shipped().compile() {
            Ok(c) => Self::new(c, false),
            // The shipped catalogue is checked by its tests; an empty one is the fallback.
            Err(_) => Self::new(attach_domain::clinical::rules::Compiled::default(), false),
        }
    }
}

/// One patient's clinical data as the rules read it.
#[derive(Debug, Clone, Default)]
pub struct PatientClinical {
    pub summary: attach_domain::clinical::rules::PatientSummary,
    /// How many records the patient's document holds.
    pub records: usize,
    /// Source ids of records written apart on two nodes.
    pub conflicts: Vec<String>,
    /// How many of the records were entered or corrected in Attach (to take back to the EMR).
    pub in_attach: usize,
    /// Recalls being worked on, one per care-gap rule at most.
    pub recalls: Vec<attach_domain::clinical::followup::Recall>,
    /// Dismissed suggestions, as (registry key, rule key).
    pub dismissed: Vec<(String, String)>,
    /// Recalls and dismissals written apart on two nodes (resolved; listed as conflicts).
    pub followup_conflicts: Vec<String>,
}

impl PatientClinical {
    /// The patient's clinical data as the rules read it with `compiled`.
    pub fn of(
        compiled: &attach_domain::clinical::rules::Compiled,
        records: &[attach_domain::clinical::ClinicalRecord],
        conflicts: Vec<String>,
        recalls: Vec<attach_domain::clinical::followup::Recall>,
        dismissed: Vec<(String, String)>,
        followup_conflicts: Vec<String>,
    ) -> Self {
        Self {
            summary: compiled.summarise(records),
            records: records.len(),
            conflicts,
            in_attach: records
                .iter()
                .filter(|r| matches!(r.origin, attach_domain::clinical::Origin::Attach { .. }))
                .count(),
            recalls,
            dismissed,
            followup_conflicts,
        }
    }
}

#[derive(Debug, Default)]
pub struct ReadModel {
    model: RwLock<Model>,
}

impl ReadModel {
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, Model> {
        self.model.read()
    }

    /// Replace what the model knows of document `id` with `projection`.
    pub fn apply(&self, id: &str, projection: Projection) {
        let mut m = self.model.write();
        m.unreadable.remove(id);
        match projection {
            Projection::Clinic {
                clinic,
                primary_candidates,
                secondary_candidates,
                member_conflicts,
                rule_conflicts,
            } => m.put_clinic(ClinicState {
                clinic: *clinic,
                primary_candidates,
                secondary_candidates,
                member_conflicts,
                rule_conflicts,
            }),
            Projection::Account(account) => m.put_account(*account),
            Projection::Coordinator(account) => m.put_coordinator(*account),
            Projection::Preferences {
                provider,
                preferences,
            } => {
                m.preferences.insert(provider, preferences);
            }
            Projection::Entry { entry, conflicts } => m.put_entry(EntryState {
                entry: *entry,
                conflicts,
            }),
            Projection::Waiting {
                person,
                registrations,
            } => m.put_waiting(*person, registrations),
            Projection::Offer {
                offer,
                origin,
                conflicts,
            } => m.put_offer(*offer, origin, conflicts),
            Projection::Work { conflicts } => {
                if conflicts.is_empty() {
                    m.work_conflicts.remove(id);
                } else {
                    m.work_conflicts.insert(id.to_owned(), conflicts);
                }
            }
            Projection::ReviewTask(task) => {
                m.review_tasks.insert(task.id, *task);
            }
            Projection::ReviewDone(done) => {
                let list = m.task_completions.entry(done.task).or_default();
                list.retain(|c| c.id != done.id);
                list.push(*done);
                list.sort_by(|a, b| a.due.cmp(&b.due).then(a.id.cmp(&b.id)));
            }
            Projection::Clinical {
                phn,
                records,
                conflicts,
                recalls,
                dismissed,
                followup_conflicts,
            } => m.put_clinical(id, phn, |compiled| {
                PatientClinical::of(
                    compiled,
                    &records,
                    conflicts,
                    recalls,
                    dismissed,
                    followup_conflicts,
                )
            }),
            Projection::Catalogue {
                protocol,
                conflicts,
            } => {
                if conflicts.is_empty() {
                    m.work_conflicts.remove(id);
                } else {
                    m.work_conflicts.insert(id.to_owned(), conflicts);
                }
                m.put_catalogue(id, &protocol);
            }
            Projection::Unreadable { error } => {
                m.unreadable.insert(id.to_owned(), error);
            }
        }
    }

    /// Replaces a clinic's summaries with `patients`, made from the stored projections with
    /// the catalogue of `generation`; `false` (nothing kept) when a clinical document or the
    /// catalogue was applied meanwhile.
    pub fn install_clinical(
        &self,
        clinic: ClinicId,
        generation: u64,
        patients: HashMap<Phn, PatientClinical>,
    ) -> bool {
        let mut m = self.model.write();
        match m.clinical.get_mut(&clinic) {
            Some(state) if state.generation == generation => {
                state.patients = patients;
                state.stale = false;
                true
            }
            _ => false,
        }
    }
}

/// The clinic a `clinical/<clinic>/…` or `clinic/<clinic>/…` id names.
fn clinic_of(id: &str) -> Option<ClinicId> {
    id.split('/')
        .nth(1)?
        .parse::<uuid::Uuid>()
        .ok()
        .map(ClinicId::from)
}

impl Model {
    fn put_clinical(
        &mut self,
        id: &str,
        phn: Option<Phn>,
        patient: impl FnOnce(&attach_domain::clinical::rules::Compiled) -> PatientClinical,
    ) {
        let (Some(clinic), Some(phn)) = (clinic_of(id), phn) else {
            self.unreadable.insert(
                id.to_owned(),
                "a clinical document that does not say whom it is about".to_owned(),
            );
            return;
        };
        let state = self
            .clinical
            .entry(clinic)
            .or_insert_with(ClinicalState::shipped);
        state.generation += 1;
        let patient = patient(&state.compiled);
        state.patients.insert(phn, patient);
    }

    fn put_catalogue(
        &mut self,
        id: &str,
        protocol: &attach_domain::clinical::coding::CodingProtocol,
    ) {
        let Some(clinic) = clinic_of(id) else { return };
        let (compiled, left_out) =
            protocol.catalogue(attach_domain::clinical::catalogue::shipped());
        let mut fresh = ClinicalState::new(compiled, !protocol.is_empty());
        fresh.left_out = left_out;
        let state = self
            .clinical
            .entry(clinic)
            .or_insert_with(ClinicalState::shipped);
        state.own_catalogue = fresh.own_catalogue;
        state.left_out = fresh.left_out;
        if state.compiled.catalogue() == fresh.compiled.catalogue() {
            return;
        }
        let resummarise = !state
            .compiled
            .catalogue()
            .summarises_like(fresh.compiled.catalogue());
        state.compiled = fresh.compiled;
        // A new rule, name or choice of what is in use is read when the rules run; only
        // new codes or concepts change what the patients' records summarise to.
        if resummarise {
            state.generation += 1;
            state.stale = !state.patients.is_empty();
        }
    }

    fn put_clinic(&mut self, state: ClinicState) {
        let id = state.clinic.id;
        if let Some(old) = self.clinics.get(&id) {
            for user in old.clinic.members.keys() {
                if let Some(set) = self.memberships.get_mut(user) {
                    set.remove(&id);
                }
            }
        }
        for user in state.clinic.members.keys() {
            self.memberships.entry(*user).or_default().insert(id);
        }
        self.clinics.insert(id, state);
    }

    fn put_account(&mut self, account: AccountView) {
        if let Some(old) = self.accounts.get(&account.id) {
            let key = fold(&old.username);
            if let Some(set) = self.usernames.get_mut(&key) {
                set.remove(&old.id);
                if set.is_empty() {
                    self.usernames.remove(&key);
                }
            }
        }
        self.usernames
            .entry(fold(&account.username))
            .or_default()
            .insert(account.id);
        self.accounts.insert(account.id, account);
    }

    fn put_coordinator(&mut self, account: AccountView) {
        if let Some(old) = self.coordinators.get(&account.id) {
            self.coordinator_names.remove(&fold(&old.username));
        }
        self.coordinator_names
            .insert(fold(&account.username), account.id);
        self.coordinators.insert(account.id, account);
    }

    fn put_entry(&mut self, state: EntryState) {
        let id = state.entry.id;
        if let Some(old) = self.entries.remove(&id) {
            self.unindex_entry(&old.entry);
        }
        self.index_entry(&state.entry);
        self.entries.insert(id, state);
    }

    fn put_waiting(&mut self, person: WaitingPerson, registrations: u32) {
        if let Some((old, _)) = self.waiting.get(&person.id)
            && old.details.phn != person.details.phn
            && self.waiting_by_phn.get(&old.details.phn) == Some(&old.id)
        {
            self.waiting_by_phn.remove(&old.details.phn);
        }
        // Two documents for one PHN (registered apart): the earliest-registered keeps the
        // PHN's place; the app merges the other into it.
        let keep = match self
            .waiting_by_phn
            .get(&person.details.phn)
            .and_then(|id| self.waiting.get(id))
        {
            Some((other, _)) if other.id != person.id => {
                (person.registered_at, person.id) < (other.registered_at, other.id)
            }
            _ => true,
        };
        if keep {
            self.waiting_by_phn.insert(person.details.phn, person.id);
        }
        self.waiting.insert(person.id, (person, registrations));
    }

    fn put_offer(
        &mut self,
        offer: Offer,
        origin: Option<uuid::Uuid>,
        conflicts: Vec<FieldConflict>,
    ) {
        self.offer_origin.insert(offer.id, origin);
        if let Some((old, _)) = self.offers.get(&offer.id) {
            for p in &old.persons {
                if let Some(set) = self.offers_by_person.get_mut(&p.person) {
                    set.remove(&offer.id);
                }
            }
        }
        for p in &offer.persons {
            self.offers_by_person
                .entry(p.person)
                .or_default()
                .insert(offer.id);
        }
        self.offers_by_clinic
            .entry(offer.clinic)
            .or_default()
            .insert(offer.id);
        self.offers.insert(offer.id, (offer, conflicts));
    }

    fn index_entry(&mut self, e: &PanelEntry) {
        self.panels
            .entry((e.clinic, e.provider))
            .or_default()
            .insert(name_key(e));
        let key = (e.clinic, e.details.phn);
        self.by_phn.entry(key).or_default().insert(e.id);
        if e.removed.is_none() {
            self.live_by_phn
                .entry(e.details.phn)
                .or_default()
                .insert(e.id);
        }
        if e.removed
            .as_ref()
            .is_some_and(|r| r.disposition == attach_domain::Disposition::ReturnToWaitlist)
        {
            self.returned.insert(e.id);
        }
        self.recount_clash(key, Some(e));
    }

    fn unindex_entry(&mut self, e: &PanelEntry) {
        if let Some(set) = self.panels.get_mut(&(e.clinic, e.provider)) {
            set.remove(&name_key(e));
        }
        let key = (e.clinic, e.details.phn);
        if let Some(set) = self.by_phn.get_mut(&key) {
            set.remove(&e.id);
            if set.is_empty() {
                self.by_phn.remove(&key);
            }
        }
        if let Some(set) = self.live_by_phn.get_mut(&e.details.phn) {
            set.remove(&e.id);
            if set.is_empty() {
                self.live_by_phn.remove(&e.details.phn);
            }
        }
        self.returned.remove(&e.id);
        self.recount_clash(key, None);
    }

    /// `pending` is an entry being indexed that `entries` does not hold yet.
    fn recount_clash(&mut self, key: (ClinicId, Phn), pending: Option<&PanelEntry>) {
        let live = self
            .entries_for(key)
            .filter(|e| pending.is_none_or(|p| p.id != e.id))
            .chain(pending)
            .filter(|e| e.removed.is_none())
            .count();
        if live > 1 {
            self.clashes.insert(key);
        } else {
            self.clashes.remove(&key);
        }
    }

    /// Did `node` make the offer `id` (its first change)?
    pub fn made_by(&self, id: &OfferId, node: uuid::Uuid) -> bool {
        self.offer_origin.get(id) == Some(&Some(node))
    }

    /// The offers whose first change `node` made: at the hub, with its own node id, the
    /// offers it really made. An offer a clinic's node created itself (a tampered node may
    /// write any document of its inbox family) is not one of them, so the hub neither counts
    /// nor shows it.
    pub fn offers_made_by(
        &self,
        node: uuid::Uuid,
    ) -> impl Iterator<Item = &(Offer, Vec<FieldConflict>)> {
        self.offers
            .iter()
            .filter(move |(id, _)| self.made_by(id, node))
            .map(|(_, o)| o)
    }

    /// Every entry for one patient at one clinic, removed ones included.
    pub fn entries_for(&self, key: (ClinicId, Phn)) -> impl Iterator<Item = &PanelEntry> {
        self.by_phn
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.entries.get(id))
            .map(|s| &s.entry)
    }

    /// The user holding `username`; after a merge clash the earliest-created account
    /// (lowest UUIDv7) keeps the name, on every replica alike.
    pub fn user_by_name(&self, username: &str) -> Option<&AccountView> {
        self.usernames
            .get(&fold(username))
            .and_then(|set| set.iter().next())
            .and_then(|id| self.accounts.get(id))
    }

    /// Entries on a panel (not removed) whose PHN is also on another entry at the clinic
    /// and that the deterministic rule did not keep.
    pub fn is_clash_loser(&self, e: &PanelEntry) -> bool {
        let key = (e.clinic, e.details.phn);
        if e.removed.is_some() || !self.clashes.contains(&key) {
            return false;
        }
        attach_domain::kept_entry(self.entries_for(key)).is_some_and(|k| k.id != e.id)
    }

    /// The patients a panel counts, in name order: its entries neither removed nor losing a
    /// clash (the panel's size, and what its profile and counts are of).
    pub fn panel_members(
        &self,
        clinic: ClinicId,
        provider: UserId,
    ) -> impl Iterator<Item = &PanelEntry> + '_ {
        self.panels
            .get(&(clinic, provider))
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| self.entries.get(id))
            .map(|s| &s.entry)
            .filter(|e| e.removed.is_none() && !self.is_clash_loser(e))
    }

    /// Counts of a panel's entries by status (removed and clash-losing entries excluded).
    pub fn panel_counts(
        &self,
        clinic: ClinicId,
        provider: UserId,
    ) -> (usize, Vec<(PatientStatus, usize)>) {
        let mut counts: HashMap<PatientStatus, usize> = HashMap::new();
        let mut size = 0;
        for e in self.panel_members(clinic, provider) {
            size += 1;
            *counts.entry(e.status).or_default() += 1;
        }
        let mut counts: Vec<_> = counts.into_iter().collect();
        counts.sort();
        (size, counts)
    }
}
