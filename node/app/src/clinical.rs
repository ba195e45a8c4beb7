//! Clinical data and the registries, probably-uncoded suggestions and care gaps built on it
//! (phases 2 and 3 of the panel-management workbook).
//!
//! Where it is kept:
//! - `clinical/<c>/<patient>`: one document per patient, holding every record the EMR sent
//!   (or a person entered), keyed by the record's source id. The family is the clinic's
//!   nodes' only: it is never sent to the hub.
//! - `clinic/<c>/catalogue`: the clinic's coding protocol, its choices over the shipped
//!   catalogue (`attach_domain::clinical::catalogue::shipped`): which registries and rules
//!   it uses, its codes, intervals and targets, and its own definitions (see `coding`).
//!
//! The read model keeps, per patient, only what the rules read
//! (`attach_domain::clinical::rules::PatientSummary`); the lists evaluate the rules for
//! every patient of the panels in scope on the day they are asked for.
//!
//! Who sees what: one patient's records, the provider whose panel holds them and the staff
//! that provider endorsed; the clinic-wide registries and recall lists, the clinic's
//! account managers and licensed providers (and endorsed staff, for their providers'
//! panels).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use time::Date;
use tracing::info;

use attach_domain::clinical::ClinicalRecord;
use attach_domain::clinical::followup::{Dismissal, Recall};
use attach_domain::clinical::rules::{Compiled, Demographics, GapState, PatientCare, Uncoded};
use attach_domain::{Clinic, ClinicId, EntryId, PanelEntry, Phn, UserId};
use attach_interop::clinical::ClinicalImport;
use attach_schema::clinical::{read_clinical, write_clinical_record};
use attach_store::DocId;

use super::model::{ClinicalState, Model, PatientClinical, Projection};
use super::review::ReviewScope;
use super::{App, AppError};

/// How many patients' documents one durable batch of an import writes.
const IMPORT_BATCH: usize = 500;

/// The file formats clinical data comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClinicalFormat {
    /// A FHIR R4 Bundle (JSON) with Patient resources and their clinical resources.
    FhirBundle,
    /// FHIR Bulk Data: one NDJSON file per resource type.
    Ndjson,
    /// Attach's CSV columns (`attach_interop::clinical::CLINICAL_CSV_COLUMNS`).
    Csv,
}

/// One uploaded file.
#[derive(Debug, Clone)]
pub struct ClinicalFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClinicalImportReport {
    /// Records new to Attach.
    pub added: usize,
    /// Records replaced by a newer version from the export.
    pub updated: usize,
    /// Records already stored as they are (or newer in Attach).
    pub unchanged: usize,
    /// Patients the file had records for.
    pub patients: usize,
    /// Of those, patients on no panel of the clinic: kept, shown once they are on one.
    pub not_on_panel: usize,
    /// Resources skipped (other resource types, entered in error, not done), by what.
    pub skipped: Vec<(String, usize)>,
}

/// One registry on the overview: its patients in scope and the suggestions still open.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryCount {
    pub key: String,
    pub name: String,
    pub patients: usize,
    /// Patients whose data suggests the condition without its code.
    pub uncoded: usize,
}

/// One care-gap rule on the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapCount {
    pub key: String,
    pub name: String,
    /// Patients the rule applies to.
    pub eligible: usize,
    /// Never recorded.
    pub never: usize,
    pub overdue: usize,
    pub due_soon: usize,
    /// Done in time, but the latest value is out of target.
    pub out_of_target: usize,
    /// Any of the above: on the recall list.
    pub open: usize,
}

/// Registries and care gaps of the panels in scope.
#[derive(Debug, Clone, PartialEq)]
pub struct ClinicalOverview {
    /// Live patients of the panels in scope.
    pub population: usize,
    /// Of those, patients with at least one clinical record.
    pub with_data: usize,
    pub registries: Vec<RegistryCount>,
    pub gaps: Vec<GapCount>,
    /// `false` while the clinic uses the shipped definitions.
    pub own_catalogue: bool,
}

/// Which patients a clinical list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClinicalList {
    /// Patients coded on a registry.
    Registry(String),
    /// Patients whose data suggests a registry's condition without its code.
    Uncoded(String),
    /// Patients with an open gap on one rule.
    Gap(String),
    /// Every patient with any open gap: the recall list.
    Recalls,
}

impl ClinicalList {
    /// The list a word of its address names (`registry`, `uncoded`, `gap`, `recalls`)
    /// with its key (ignored for the recall list); `None` for any other word.
    pub fn of(list: &str, key: &str) -> Option<Self> {
        let key = key.to_owned();
        Some(match list {
            "registry" => Self::Registry(key),
            "uncoded" => Self::Uncoded(key),
            "gap" => Self::Gap(key),
            "recalls" => Self::Recalls,
            _ => return None,
        })
    }

    /// The list's word and its key (the recall list has none).
    pub fn parts(&self) -> (&'static str, Option<&str>) {
        match self {
            Self::Registry(k) => ("registry", Some(k)),
            Self::Uncoded(k) => ("uncoded", Some(k)),
            Self::Gap(k) => ("gap", Some(k)),
            Self::Recalls => ("recalls", None),
        }
    }

    /// The list from the words of its address (`list=registry&key=diabetes`): `None` when
    /// `list` is not among them (not a clinical list).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Result<Self, AppError>> {
        let (mut list, mut key) = (None, "");
        for (k, v) in pairs {
            match k {
                "list" => list = Some(v),
                "key" => key = v,
                _ => {}
            }
        }
        let list = list?;
        Some(match Self::of(list, key.trim()) {
            Some(l) if l.parts().1.is_some_and(str::is_empty) => Err(AppError::invalid(
                "key",
                format!("the {list} list needs the key of its registry or rule"),
            )),
            Some(l) => Ok(l),
            None => Err(AppError::invalid(
                "list",
                format!("there is no clinical list \"{list}\" (registry, uncoded, gap or recalls)"),
            )),
        })
    }

    /// The words of the list's address, as [`ClinicalList::from_pairs`] reads them.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let (list, key) = self.parts();
        std::iter::once(("list".to_owned(), list.to_owned()))
            .chain(key.map(|k| ("key".to_owned(), k.to_owned())))
            .collect()
    }

    /// Whether the list is worked as recalls (its page keeps the patients whose recall is
    /// still being worked on).
    pub fn is_recall_list(&self) -> bool {
        matches!(self, Self::Gap(_) | Self::Recalls)
    }

    /// The list's title with the clinic's definitions: "Diabetes registry", "Recall list".
    pub fn title(&self, c: &Compiled) -> String {
        let registry = |k: &str| {
            c.registry_index(k)
                .map_or_else(|| k.to_owned(), |i| c.registry(i).name.clone())
        };
        match self {
            Self::Registry(k) => format!("{} registry", registry(k)),
            Self::Uncoded(k) => format!("{}: probably not coded", registry(k)),
            Self::Gap(k) => c
                .catalogue()
                .gaps
                .iter()
                .find(|g| g.key == *k)
                .map_or_else(|| k.clone(), |g| g.name.clone()),
            Self::Recalls => "Recall list".to_owned(),
        }
    }
}

/// One patient of a clinical list.
#[derive(Debug, Clone)]
pub struct CareRow {
    pub entry: PanelEntry,
    pub care: PatientCare,
    /// The patient's recalls being worked on (any round; see `Recall::status_now`).
    pub recalls: Vec<Recall>,
}

/// A clinical list, with the definitions its rows refer to by index.
#[derive(Debug, Clone)]
pub struct CareList {
    pub compiled: std::sync::Arc<Compiled>,
    pub rows: Vec<CareRow>,
}

/// One patient's clinical records and what the rules say of them.
#[derive(Debug, Clone)]
pub struct PatientClinicalView {
    pub entry: PanelEntry,
    /// Every record, conditions first, then by kind and newest first.
    pub records: Vec<ClinicalRecord>,
    /// Source ids of records two nodes wrote apart, differently.
    pub conflicts: Vec<String>,
    pub care: PatientCare,
    pub compiled: std::sync::Arc<Compiled>,
    /// Recalls being worked on, by care-gap rule key.
    pub recalls: BTreeMap<String, Recall>,
    /// Suggestions someone dismissed, with who, when and why.
    pub dismissed: Vec<Dismissal>,
}

pub(super) fn demographics(e: &PanelEntry) -> Demographics {
    Demographics {
        sex: e.details.sex,
        date_of_birth: e.details.date_of_birth,
    }
}

pub(super) fn evaluate(
    state: Option<&ClinicalState>,
    compiled: &Compiled,
    e: &PanelEntry,
    today: Date,
) -> PatientCare {
    let empty = Default::default();
    let patient = state.and_then(|s| s.patients.get(&e.details.phn));
    let summary = patient.map_or(&empty, |p| &p.summary);
    let mut care = compiled.evaluate(summary, demographics(e), today);
    if let Some(p) = patient {
        drop_dismissed(compiled, &mut care, &p.dismissed);
    }
    care
}

/// Leaves out the suggestions someone dismissed (by registry and rule key).
pub(super) fn drop_dismissed(
    compiled: &Compiled,
    care: &mut PatientCare,
    dismissed: &[(String, String)],
) {
    if dismissed.is_empty() {
        return;
    }
    care.uncoded.retain(|u| {
        let reg = compiled.registry(u.registry);
        let rule = &reg.uncoded[usize::from(u.rule)].key;
        !dismissed.iter().any(|(r, k)| *r == reg.key && k == rule)
    });
}

impl App {
    /// Whether `who` may bring clinical data into `clinic`: an account manager, a licensed
    /// provider, or staff a provider has endorsed.
    fn may_import_clinical(&self, who: UserId, clinic: ClinicId) -> Result<Clinic, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let licensed = c.role_of(who).is_some_and(|r| r.is_licensed());
        let endorsed = c.providers().any(|p| c.can_manage_panel(who, p.user));
        if c.is_account_manager(who) || licensed || endorsed {
            Ok(c)
        } else {
            Err(AppError::forbidden(
                "only account managers, providers and staff endorsed by a provider can import clinical data",
            ))
        }
    }

    /// The providers whose patients a clinical list of `scope` covers: one readable panel,
    /// or for the whole clinic every panel (account managers and providers) or the panels
    /// of the providers who endorsed `who`.
    pub(super) fn clinical_panels(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
    ) -> Result<(Clinic, Vec<UserId>), AppError> {
        match scope {
            ReviewScope::Provider(p) => Ok((self.readable_panel(who, clinic, p)?, vec![p])),
            ReviewScope::Clinic => {
                let c = self.member_clinic(who, clinic)?;
                let all =
                    c.is_account_manager(who) || c.role_of(who).is_some_and(|r| r.is_licensed());
                let providers: Vec<UserId> = c
                    .providers()
                    .map(|m| m.user)
                    .filter(|p| all || c.can_manage_panel(who, *p))
                    .collect();
                if providers.is_empty() {
                    return Err(AppError::forbidden(
                        "only account managers, providers and staff endorsed by a provider can see registries",
                    ));
                }
                Ok((c, providers))
            }
        }
    }

    /// Reads an upload and stores every record in it: each patient's records in their own
    /// document, the documents in durable batches. Records already stored unchanged (or
    /// corrected in Attach since the export) are left alone, so importing the same export
    /// again changes nothing, and an import cut off half-way is finished by importing the
    /// file again. A file with any bad row stores nothing.
    pub fn import_clinical(
        &self,
        who: UserId,
        clinic: ClinicId,
        format: ClinicalFormat,
        files: &[ClinicalFile],
    ) -> Result<ClinicalImportReport, AppError> {
        self.may_import_clinical(who, clinic)?;
        let parsed = parse_clinical(format, files)?;
        let skipped = parsed
            .skipped_types
            .iter()
            .map(|(k, n)| (format!("{k} (not a kind Attach imports)"), *n))
            .chain(
                parsed
                    .skipped_status
                    .iter()
                    .map(|(k, n)| (format!("{k} entered in error, cancelled or not done"), *n)),
            )
            .collect();
        let report = ClinicalImportReport {
            skipped,
            ..self.store_clinical(who, clinic, parsed.records)?
        };
        info!(
            clinic = %clinic,
            patients = report.patients,
            added = report.added,
            updated = report.updated,
            unchanged = report.unchanged,
            "clinical records imported"
        );
        Ok(report)
    }

    /// Stores records (already checked) in their patients' documents, in durable batches;
    /// records stored unchanged, or newer in Attach, are left alone.
    pub(super) fn store_clinical(
        &self,
        who: UserId,
        clinic: ClinicId,
        records: Vec<(Phn, ClinicalRecord)>,
    ) -> Result<ClinicalImportReport, AppError> {
        let mut by_patient: BTreeMap<Phn, Vec<ClinicalRecord>> = BTreeMap::new();
        for (phn, record) in records {
            by_patient.entry(phn).or_default().push(record);
        }
        let mut report = ClinicalImportReport {
            patients: by_patient.len(),
            ..Default::default()
        };
        {
            let model = self.model();
            report.not_on_panel = by_patient
                .keys()
                .filter(|phn| live_entry(&model, clinic, **phn).is_none())
                .count();
        }
        let docs: HashMap<DocId, (Phn, Vec<ClinicalRecord>)> = by_patient
            .into_iter()
            .map(|(phn, records)| {
                (
                    attach_schema::ids::clinical_doc_id(clinic, phn),
                    (phn, records),
                )
            })
            .collect();
        let ids: Vec<DocId> = docs.keys().cloned().collect();
        let (added, updated, unchanged) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        self.store().change_in_batches(
            who.0,
            "import clinical records",
            &ids,
            IMPORT_BATCH,
            |id, tx| {
                let (phn, records) = docs
                    .get(id)
                    .ok_or_else(|| AppError::bug("a patient of the import went missing"))?;
                let stored = read_clinical(tx)?;
                for r in records {
                    let counter = match stored.records.get(&r.source_id) {
                        None => &added,
                        Some(old) if r.replaces(old) => &updated,
                        Some(_) => {
                            unchanged.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                    write_clinical_record(tx, *phn, r)?;
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<(), AppError>(())
            },
        )?;
        report.added = added.into_inner();
        report.updated = updated.into_inner();
        report.unchanged = unchanged.into_inner();
        Ok(report)
    }

    /// `attach import clinical`, offline, recorded under `as_user`, for the clinic `clinic`
    /// (by id; may be omitted when the user is a member of one clinic only).
    pub fn import_clinical_offline(
        &self,
        as_user: &str,
        clinic: Option<&str>,
        format: ClinicalFormat,
        files: &[ClinicalFile],
    ) -> Result<(ClinicId, ClinicalImportReport), AppError> {
        let who = self.offline_user(as_user)?;
        let clinic = match clinic {
            Some(raw) => raw
                .parse::<ClinicId>()
                .map_err(|_| AppError::invalid("clinic", "not a clinic id"))?,
            None => {
                let clinics: Vec<ClinicId> = self
                    .model()
                    .memberships
                    .get(&who)
                    .into_iter()
                    .flatten()
                    .copied()
                    .collect();
                match clinics.as_slice() {
                    [only] => *only,
                    [] => return Err(AppError::not_found("clinic for this user")),
                    _ => {
                        return Err(AppError::invalid(
                            "clinic",
                            "this user is a member of several clinics; pass --clinic",
                        ));
                    }
                }
            }
        };
        Ok((clinic, self.import_clinical(who, clinic, format, files)?))
    }

    /// How many clinical documents (patients with records, and QI cycles) this node holds
    /// for the clinic: a clinic node's LAN peers have the same; the hub has none.
    pub fn clinical_document_count(&self, clinic: ClinicId) -> Result<usize, AppError> {
        Ok(self
            .store()
            .ids_with_prefix(&attach_schema::ids::clinical_prefix(clinic))?
            .len())
    }

    /// The clinic's clinical state, re-summarised first if its catalogue changed since.
    pub(super) fn clinical_state(&self, clinic: ClinicId) -> Result<(), AppError> {
        loop {
            let (generation, compiled) = {
                let model = self.model();
                match model.clinical.get(&clinic) {
                    Some(s) if s.stale => (s.generation, s.compiled.clone()),
                    _ => return Ok(()),
                }
            };
            let mut patients = HashMap::new();
            let store = self.store();
            for id in store.ids_with_prefix(&attach_schema::ids::clinical_prefix(clinic))? {
                let Some(bytes) = store.projection(&id)? else {
                    continue;
                };
                if let Ok(Projection::Clinical {
                    phn: Some(phn),
                    records,
                    conflicts,
                    recalls,
                    dismissed,
                    followup_conflicts,
                }) = serde_json::from_slice::<Projection>(&bytes)
                {
                    patients.insert(
                        phn,
                        PatientClinical::of(
                            &compiled,
                            &records,
                            conflicts,
                            recalls,
                            dismissed,
                            followup_conflicts,
                        ),
                    );
                }
            }
            if self
                .inner
                .model
                .install_clinical(clinic, generation, patients)
            {
                return Ok(());
            }
        }
    }

    /// Registries and care gaps of the panels in `scope`, with counts.
    pub fn clinical_overview(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
    ) -> Result<ClinicalOverview, AppError> {
        let (_, providers) = self.clinical_panels(who, clinic, scope)?;
        self.overview_of(clinic, &providers)
    }

    /// The overview of `providers`' panels at the clinic, for whoever was allowed to ask.
    pub(super) fn overview_of(
        &self,
        clinic: ClinicId,
        providers: &[UserId],
    ) -> Result<ClinicalOverview, AppError> {
        self.clinical_state(clinic)?;
        let today = self.clinic_today();
        let model = self.model();
        let state = model.clinical.get(&clinic);
        let compiled = compiled_of(state);
        let compiled: &Compiled = &compiled;
        let cat = compiled.catalogue();
        let mut registries: Vec<RegistryCount> = cat
            .registries
            .iter()
            .map(|r| RegistryCount {
                key: r.key.clone(),
                name: r.name.clone(),
                patients: 0,
                uncoded: 0,
            })
            .collect();
        let mut gaps: Vec<GapCount> = cat
            .gaps
            .iter()
            .map(|g| GapCount {
                key: g.key.clone(),
                name: g.name.clone(),
                eligible: 0,
                never: 0,
                overdue: 0,
                due_soon: 0,
                out_of_target: 0,
                open: 0,
            })
            .collect();
        let (mut population, mut with_data) = (0, 0);
        for e in providers
            .iter()
            .flat_map(|p| model.panel_members(clinic, *p))
        {
            population += 1;
            if state.is_some_and(|s| {
                s.patients
                    .get(&e.details.phn)
                    .is_some_and(|p| p.records > 0)
            }) {
                with_data += 1;
            }
            let care = evaluate(state, compiled, e, today);
            for r in &care.registries {
                registries[usize::from(*r)].patients += 1;
            }
            let mut seen = None;
            for u in &care.uncoded {
                // One patient counts once per registry, however many rules fit.
                if seen != Some(u.registry) {
                    registries[usize::from(u.registry)].uncoded += 1;
                    seen = Some(u.registry);
                }
            }
            for g in &care.gaps {
                count_gap(&mut gaps[usize::from(g.rule)], g);
            }
        }
        // Only what the clinic keeps is listed (the others counted nothing).
        Ok(ClinicalOverview {
            population,
            with_data,
            registries: registries
                .into_iter()
                .zip(0u16..)
                .filter(|(_, i)| compiled.registry_in_use(*i))
                .map(|(r, _)| r)
                .collect(),
            gaps: gaps
                .into_iter()
                .zip(0u16..)
                .filter(|(_, i)| compiled.gap_in_use(*i))
                .map(|(g, _)| g)
                .collect(),
            own_catalogue: state.is_some_and(|s| s.own_catalogue),
        })
    }

    /// Every clinical list the clinic's definitions give, with its title: each registry
    /// kept, its probably-uncoded list (where it has rules for one), each care-gap rule in
    /// use, and the recall list (to choose one from, as a review task's list).
    pub fn clinical_lists(
        &self,
        who: UserId,
        clinic: ClinicId,
    ) -> Result<Vec<(ClinicalList, String)>, AppError> {
        self.member_clinic(who, clinic)?;
        let model = self.model();
        let c = compiled_of(model.clinical.get(&clinic));
        let mut lists = Vec::new();
        for (_, r) in c.registries_in_use() {
            lists.push(ClinicalList::Registry(r.key.clone()));
            if !r.uncoded.is_empty() {
                lists.push(ClinicalList::Uncoded(r.key.clone()));
            }
        }
        lists.extend(
            c.gaps_in_use()
                .map(|(_, g)| ClinicalList::Gap(g.key.clone())),
        );
        lists.push(ClinicalList::Recalls);
        Ok(lists
            .into_iter()
            .map(|l| {
                let title = l.title(&c);
                (l, title)
            })
            .collect())
    }

    /// The patients of one clinical list in `scope`, in name order.
    pub fn clinical_list(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
        list: &ClinicalList,
    ) -> Result<CareList, AppError> {
        let (_, providers) = self.clinical_panels(who, clinic, scope)?;
        self.clinical_state(clinic)?;
        let today = self.clinic_today();
        let model = self.model();
        let state = model.clinical.get(&clinic);
        let compiled = compiled_of(state);
        let unknown = |what: &str| AppError::not_found(what.to_owned());
        let registry = |key: &str| {
            compiled
                .registry_index(key)
                .filter(|r| compiled.registry_in_use(*r))
                .ok_or_else(|| unknown("registry the clinic keeps"))
        };
        let keep: Box<dyn Fn(&PatientCare) -> bool> = match list {
            ClinicalList::Registry(key) => {
                let r = registry(key)?;
                Box::new(move |c: &PatientCare| c.registries.contains(&r))
            }
            ClinicalList::Uncoded(key) => {
                let r = registry(key)?;
                Box::new(move |c: &PatientCare| c.uncoded.iter().any(|u: &Uncoded| u.registry == r))
            }
            ClinicalList::Gap(key) => {
                let g = compiled
                    .gap_index(key)
                    .filter(|g| compiled.gap_in_use(*g))
                    .ok_or_else(|| unknown("care-gap rule the clinic uses"))?;
                Box::new(move |c: &PatientCare| c.gaps.iter().any(|s| s.rule == g && s.is_open()))
            }
            ClinicalList::Recalls => {
                Box::new(|c: &PatientCare| c.gaps.iter().any(GapState::is_open))
            }
        };
        let mut rows: Vec<CareRow> = Vec::new();
        for p in &providers {
            for e in model.panel_members(clinic, *p) {
                let care = evaluate(state, &compiled, e, today);
                if keep(&care) {
                    rows.push(CareRow {
                        entry: e.clone(),
                        care,
                        recalls: state
                            .and_then(|s| s.patients.get(&e.details.phn))
                            .map(|p| p.recalls.clone())
                            .unwrap_or_default(),
                    });
                }
            }
        }
        rows.sort_by(|a, b| {
            (
                &a.entry.details.family_name,
                &a.entry.details.given_names,
                a.entry.id,
            )
                .cmp(&(
                    &b.entry.details.family_name,
                    &b.entry.details.given_names,
                    b.entry.id,
                ))
        });
        Ok(CareList { compiled, rows })
    }

    /// One patient's clinical records, for the provider whose panel holds them and the staff
    /// that provider endorsed.
    pub fn patient_clinical(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
    ) -> Result<PatientClinicalView, AppError> {
        let c = self.member_clinic(who, clinic)?;
        if !c.can_manage_panel(who, provider) {
            return Err(AppError::forbidden(
                "a patient's clinical records are for their provider and the staff that provider endorsed",
            ));
        }
        let e = self.entry(who, clinic, provider, entry)?.entry;
        let id = attach_schema::ids::clinical_doc_id(clinic, e.details.phn);
        let doc = self
            .store()
            .read(&id, read_clinical)?
            .transpose()?
            .unwrap_or_default();
        let mut records: Vec<ClinicalRecord> = doc.records.into_values().collect();
        records.sort_by(|a, b| {
            (
                a.fact.kind(),
                std::cmp::Reverse(a.fact.date()),
                &a.source_id,
            )
                .cmp(&(
                    b.fact.kind(),
                    std::cmp::Reverse(b.fact.date()),
                    &b.source_id,
                ))
        });
        let today = self.clinic_today();
        let model = self.model();
        let state = model.clinical.get(&clinic);
        let compiled = compiled_of(state);
        let mut care = compiled.evaluate(&compiled.summarise(&records), demographics(&e), today);
        let dismissed_keys: Vec<(String, String)> = doc.dismissed.keys().cloned().collect();
        drop_dismissed(&compiled, &mut care, &dismissed_keys);
        Ok(PatientClinicalView {
            entry: e,
            records,
            conflicts: doc.conflicts,
            care,
            compiled,
            recalls: doc.recalls,
            dismissed: doc.dismissed.into_values().collect(),
        })
    }
}

fn count_gap(count: &mut GapCount, g: &GapState) {
    use attach_domain::clinical::rules::GapTiming as T;
    count.eligible += 1;
    match g.timing {
        T::Never => count.never += 1,
        T::Overdue => count.overdue += 1,
        T::DueSoon => count.due_soon += 1,
        T::UpToDate => {}
    }
    if g.in_target == Some(false) {
        count.out_of_target += 1;
    }
    if g.is_open() {
        count.open += 1;
    }
}

/// The catalogue a clinic's rules use: its own, or (before any clinical document or
/// catalogue of the clinic was read) the shipped one, compiled (its tests keep it
/// compiling; an empty one otherwise).
pub(super) fn compiled_of(state: Option<&ClinicalState>) -> std::sync::Arc<Compiled> {
    state.map_or_else(
        || {
            std::sync::Arc::new(
                attach_domain::clinical::catalogue::shipped()
                    .compile()
                    .unwrap_or_default(),
            )
        },
        |s| s.compiled.clone(),
    )
}

/// The patient's live entry at the clinic (the kept one when they are on two panels).
pub(super) fn live_entry(model: &Model, clinic: ClinicId, phn: Phn) -> Option<&PanelEntry> {
    model
        .by_phn
        .get(&(clinic, phn))?
        .iter()
        .filter_map(|id| model.entries.get(id))
        .map(|s| &s.entry)
        .find(|e| e.removed.is_none() && !model.is_clash_loser(e))
}

fn parse_clinical(
    format: ClinicalFormat,
    files: &[ClinicalFile],
) -> Result<ClinicalImport, AppError> {
    let one = || -> Result<&ClinicalFile, AppError> {
        match files {
            [f] => Ok(f),
            [] => Err(AppError::invalid("file", "choose a file to import")),
            _ => Err(AppError::invalid(
                "file",
                "this format takes one file; only FHIR NDJSON comes as one file per resource type",
            )),
        }
    };
    Ok(match format {
        ClinicalFormat::FhirBundle => {
            attach_interop::clinical::parse_clinical_bundle(&one()?.bytes)?
        }
        ClinicalFormat::Csv => attach_interop::clinical::parse_clinical_csv(&one()?.bytes)?,
        ClinicalFormat::Ndjson => {
            if files.is_empty() {
                return Err(AppError::invalid(
                    "file",
                    "choose the NDJSON files to import",
                ));
            }
            let named: Vec<(&str, &[u8])> = files
                .iter()
                .map(|f| (f.name.as_str(), f.bytes.as_slice()))
                .collect();
            attach_interop::clinical::parse_clinical_ndjson(&named)?
        }
    })
}

#[cfg(test)]
#[path = "clinical_tests.rs"]
pub(crate) mod tests;
