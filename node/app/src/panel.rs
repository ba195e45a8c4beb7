//! The Patient Panel Registry: listing, adding, editing, removing, preferences,
//! summaries, bulk import and export.

use serde::Serialize;
use tracing::info;

use super::history::ChangeKind;
use super::model::Model;
use super::{App, AppError, Problem};
use attach_domain::{
    Clinic, ClinicId, EntryId, HowAdded, PanelEntry, PanelPreferences, PatientDetails,
    PatientStatus, UserId,
};
use attach_interop::ImportRow;
use attach_store::DocId;

/// How a panel page is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PanelSort {
    /// Family name, then given names.
    #[default]
    Name,
    /// Most recently added first.
    Added,
    /// Longest since last visit first (never visited first).
    LastVisit,
}

/// A request for one page of a panel.
#[derive(Debug, Clone, Default)]
pub struct PanelQuery {
    pub status: Option<PatientStatus>,
    /// A front-desk search (see `attach_domain::TextQuery`): a PHN prefix, a date of birth,
    /// "family, given", or words that each begin a name.
    pub search: Option<String>,
    pub include_removed: bool,
    pub sort: PanelSort,
    pub offset: usize,
    pub limit: usize,
}

/// One page of a panel, with the total that matched.
#[derive(Debug, Clone)]
pub struct PanelPage {
    pub total: usize,
    pub rows: Vec<PanelRow>,
}

#[derive(Debug, Clone)]
pub struct PanelRow {
    pub entry: PanelEntry,
    /// The PHN is also on another panel at this clinic and this entry was not kept.
    pub clash: bool,
    /// Fields edited concurrently on two replicas.
    pub conflicting_fields: Vec<String>,
}

/// What a user who may see a panel may also do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanelAccess {
    /// Add, edit, upload, set preferences: the provider and their active delegates.
    pub edit: bool,
    /// Remove a patient: those, and the clinic's account managers (who settle clashes).
    pub remove: bool,
}

/// Panel size against the provider's wishes.
#[derive(Debug, Clone, Serialize)]
pub struct PanelSummary {
    pub size: usize,
    pub by_status: Vec<(PatientStatus, usize)>,
    pub preferences: PanelPreferences,
    /// Desired size minus current size: positive means room for more patients.
    pub room: i64,
}

pub const MAX_PAGE: usize = 500;

pub(super) fn entry_doc(provider: UserId, entry: EntryId) -> Result<DocId, AppError> {
    Ok(attach_schema::entry_doc_id(provider, entry))
}

pub(super) fn panel_doc(provider: UserId) -> Result<DocId, AppError> {
    Ok(attach_schema::panel_doc_id(provider))
}

impl App {
    /// The clinic, if the user is an active member of it. Nothing of a clinic is visible
    /// to a non-member: it answers "not found", not "forbidden".
    pub(super) fn member_clinic(&self, who: UserId, clinic: ClinicId) -> Result<Clinic, AppError> {
        let model = self.model();
        match model.clinics.get(&clinic) {
            Some(state) if state.clinic.is_active_member(who) => Ok(state.clinic.clone()),
            _ => Err(AppError::not_found("clinic")),
        }
    }

    /// Who may see a panel: the provider, their active delegates, and the clinic's
    /// account managers (who settle clashes).
    pub(super) fn readable_panel(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<Clinic, AppError> {
        let c = self.member_clinic(who, clinic)?;
        if !c.members.contains_key(&provider)
            || !c.role_of(provider).is_some_and(|r| r.is_licensed())
        {
            return Err(AppError::not_found("provider at this clinic"));
        }
        if c.can_manage_panel(who, provider) || c.is_account_manager(who) {
            Ok(c)
        } else {
            Err(AppError::forbidden(
                "only the provider and staff they have endorsed can see this panel",
            ))
        }
    }

    /// Who may change a panel: the provider and their active delegates.
    pub(super) fn writable_panel(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<Clinic, AppError> {
        let c = self.readable_panel(who, clinic, provider)?;
        if c.can_manage_panel(who, provider) {
            Ok(c)
        } else {
            Err(AppError::forbidden(
                "only the provider and staff they have endorsed can change this panel",
            ))
        }
    }

    /// Whether the user may see this panel (else the same error as every panel read), and
    /// what they may change on it; pages use it to show only the forms that would work.
    pub fn panel_access(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<PanelAccess, AppError> {
        let c = self.readable_panel(who, clinic, provider)?;
        let edit = c.can_manage_panel(who, provider);
        Ok(PanelAccess {
            edit,
            remove: edit || c.is_account_manager(who),
        })
    }

    pub fn panel_page(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        query: &PanelQuery,
    ) -> Result<PanelPage, AppError> {
        self.readable_panel(who, clinic, provider)?;
        let model = self.model();
        Ok(page(&model, clinic, provider, query))
    }
}

fn page(model: &Model, clinic: ClinicId, provider: UserId, q: &PanelQuery) -> PanelPage {
    let limit = q.limit.clamp(1, MAX_PAGE);
    let Some(keys) = model.panels.get(&(clinic, provider)) else {
        return PanelPage {
            total: 0,
            rows: Vec::new(),
        };
    };
    // The front desk's search: a PHN prefix, a date of birth, "family, given", or words
    // that each begin a given or family name ("jo smith", "smith").
    let search = q
        .search
        .as_deref()
        .and_then(attach_domain::TextQuery::parse);
    let keep = |e: &PanelEntry| -> bool {
        if e.removed.is_some() && !q.include_removed {
            return false;
        }
        if let Some(status) = q.status
            && e.status != status
        {
            return false;
        }
        search.as_ref().is_none_or(|s| s.matches(&e.details))
    };
    let candidates = keys.iter().map(|(_, id)| id);
    let mut matched: Vec<&PanelEntry> = candidates
        .filter_map(|id| model.entries.get(id))
        .map(|s| &s.entry)
        .filter(|e| keep(e))
        .collect();
    match q.sort {
        PanelSort::Name => {}
        PanelSort::Added => {
            matched.sort_by(|a, b| b.added_at.cmp(&a.added_at).then(a.id.cmp(&b.id)))
        }
        PanelSort::LastVisit => matched.sort_by(|a, b| {
            a.details
                .last_visit
                .cmp(&b.details.last_visit)
                .then(a.id.cmp(&b.id))
        }),
    }
    let total = matched.len();
    let rows = matched
        .into_iter()
        .skip(q.offset)
        .take(limit)
        .map(|e| PanelRow {
            clash: model.is_clash_loser(e),
            conflicting_fields: model
                .entries
                .get(&e.id)
                .map(|s| s.conflicts.iter().map(|c| c.field.clone()).collect())
                .unwrap_or_default(),
            entry: e.clone(),
        })
        .collect();
    PanelPage { total, rows }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Fields of a patient entry a person may change after adding it.
#[derive(Debug, Clone, Default)]
pub struct EntryUpdate {
    pub details: Option<PatientDetails>,
    pub status: Option<PatientStatus>,
    pub confirm_mrp: bool,
}

impl App {
    pub fn entry(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
    ) -> Result<PanelRow, AppError> {
        self.readable_panel(who, clinic, provider)?;
        let model = self.model();
        let state = model
            .entries
            .get(&entry)
            .filter(|s| s.entry.clinic == clinic && s.entry.provider == provider)
            .ok_or_else(|| AppError::not_found("patient entry"))?;
        Ok(PanelRow {
            clash: model.is_clash_loser(&state.entry),
            conflicting_fields: state.conflicts.iter().map(|c| c.field.clone()).collect(),
            entry: state.entry.clone(),
        })
    }

    /// Adds a patient to a provider's panel (or puts a removed one back).
    pub fn add_patient(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        details: PatientDetails,
        status: PatientStatus,
    ) -> Result<PanelEntry, AppError> {
        let now = self.now();
        let c = self.writable_panel(who, clinic, provider)?;
        attach_domain::check_status_assignable(&c, status)?;
        let _admission = self.inner.admission.lock();
        let existing = self.entries_with_phn(clinic, &details);
        let entry = attach_domain::add_to_panel(
            &c,
            who,
            provider,
            details,
            status,
            HowAdded::Manual,
            &existing,
            now,
        )?;
        let id = entry_doc(provider, entry.id)?;
        self.store()
            .change(&id, who.0, &ChangeKind::AddPatient.to_string(), |tx| {
                attach_schema::write_entry(tx, &entry).map_err(AppError::from)
            })?;
        info!(clinic = %clinic, provider = %provider, entry = %entry.id, "patient added");
        Ok(entry)
    }

    /// Every entry (any provider, removed or not) for this PHN at this clinic.
    fn entries_with_phn(&self, clinic: ClinicId, details: &PatientDetails) -> Vec<PanelEntry> {
        self.model()
            .entries_for((clinic, details.phn))
            .cloned()
            .collect()
    }

    /// Changes details, status, or confirms most-responsible-provider, in one change.
    pub fn update_entry(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
        update: EntryUpdate,
    ) -> Result<PanelEntry, AppError> {
        let now = self.now();
        let c = self.writable_panel(who, clinic, provider)?;
        if let Some(status) = update.status {
            attach_domain::check_status_assignable(&c, status)?;
        }
        let id = self.entry_doc_checked(clinic, provider, entry)?;
        // The commit message names the fields that change, so the history says what
        // changed without anyone diffing documents (and without patient data).
        let message = {
            let model = self.model();
            let before = model.entries.get(&entry).map(|s| s.entry.clone());
            match before {
                Some(before) => {
                    let mut after = before.clone();
                    if let Some(d) = &update.details {
                        after.details = d.clone();
                    }
                    if let Some(s) = update.status {
                        after.status = s;
                    }
                    let mut fields = changed_fields(&before, &after);
                    if update.confirm_mrp {
                        fields.push("mrp confirmed");
                    }
                    ChangeKind::UpdatePatient {
                        fields: Some(fields.into_iter().map(str::to_owned).collect()),
                    }
                }
                None => ChangeKind::UpdatePatient { fields: None },
            }
            .to_string()
        };
        let updated = self.store().change(&id, who.0, &message, |tx| {
            let mut e = attach_schema::read_entry(tx)?;
            if e.removed.is_some() {
                return Err(AppError::conflict(
                    "this patient has been removed from the panel; add them again first",
                ));
            }
            if let Some(details) = update.details {
                if details.phn != e.details.phn {
                    return Err(AppError::invalid(
                        "phn",
                        "a patient's PHN cannot be changed; remove the entry and add the right PHN",
                    ));
                }
                e.details = details;
            }
            if let Some(status) = update.status {
                e.status = status;
            }
            if update.confirm_mrp {
                e.mrp = Some(attach_domain::MrpConfirmation {
                    at: now,
                    by: who,
                    how: None,
                });
            }
            attach_schema::write_entry(tx, &e)?;
            Ok(e)
        })?;
        Ok(updated)
    }

    /// Takes a patient off the panel with a reason; the entry and its history remain.
    pub fn remove_patient(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
        reason: &str,
    ) -> Result<PanelEntry, AppError> {
        let now = self.now();
        let c = self.member_clinic(who, clinic)?;
        // Account managers may remove an entry too: that is how a clash between two
        // panels is settled.
        if !(c.can_manage_panel(who, provider) || c.is_account_manager(who)) {
            return Err(AppError::forbidden(
                "only the provider, staff they have endorsed, or an account manager can remove a patient",
            ));
        }
        let id = self.entry_doc_checked(clinic, provider, entry)?;
        let removed =
            self.store()
                .change(&id, who.0, &ChangeKind::RemovePatient.to_string(), |tx| {
                    let e = attach_schema::read_entry(tx)?;
                    let e = attach_domain::remove_from_panel(e, who, reason, now)?;
                    attach_schema::write_entry(tx, &e)?;
                    Ok::<_, AppError>(e)
                })?;
        info!(clinic = %clinic, provider = %provider, entry = %entry, "patient removed");
        Ok(removed)
    }

    fn entry_doc_checked(
        &self,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
    ) -> Result<DocId, AppError> {
        let known = self
            .model()
            .entries
            .get(&entry)
            .is_some_and(|s| s.entry.clinic == clinic && s.entry.provider == provider);
        if !known {
            return Err(AppError::not_found("patient entry"));
        }
        entry_doc(provider, entry)
    }

    pub fn entry_history(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
    ) -> Result<Vec<super::registry::HistoryView>, AppError> {
        self.readable_panel(who, clinic, provider)?;
        let id = self.entry_doc_checked(clinic, provider, entry)?;
        let items = self.store().history(&id)?;
        Ok(self.history_views(items.into_iter()))
    }

    pub fn preferences(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<PanelPreferences, AppError> {
        self.readable_panel(who, clinic, provider)?;
        Ok(self
            .model()
            .preferences
            .get(&provider)
            .cloned()
            .unwrap_or_default())
    }

    pub fn set_preferences(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        preferences: PanelPreferences,
    ) -> Result<PanelPreferences, AppError> {
        self.writable_panel(who, clinic, provider)?;
        let preferences = preferences.validated()?;
        let id = panel_doc(provider)?;
        self.store()
            .change(&id, who.0, "update panel preferences", |tx| {
                attach_schema::write_preferences(tx, provider, &preferences).map_err(AppError::from)
            })?;
        if !preferences.accepting_new_patients {
            self.withdraw_offers_to(
                who,
                clinic,
                provider,
                "the provider stopped taking new patients",
            )?;
        }
        Ok(preferences)
    }

    pub fn panel_summary(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<PanelSummary, AppError> {
        self.readable_panel(who, clinic, provider)?;
        let model = self.model();
        let (size, by_status) = model.panel_counts(clinic, provider);
        let preferences = model
            .preferences
            .get(&provider)
            .cloned()
            .unwrap_or_default();
        Ok(PanelSummary {
            size,
            by_status,
            room: i64::from(preferences.desired_panel_size) - size as i64,
            preferences,
        })
    }

    /// Adds or updates the patients in a CSV or FHIR file, all or nothing: any bad row
    /// rejects the whole file with a problem per row and field. Rows identical to what is
    /// stored change nothing, so the same file twice is a no-op.
    pub fn import_panel(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        fhir: bool,
        bytes: &[u8],
    ) -> Result<ImportReport, AppError> {
        let (rows, how) = self.parse_import(who, clinic, provider, fhir, bytes)?;
        self.add_rows(who, clinic, provider, rows, how)
    }

    /// What [`App::import_panel`] would do with this file, storing nothing: every
    /// problem (the same checks, the same messages) or the counts it would add, update
    /// and leave alone. The upload page shows this before anyone presses "Store".
    pub fn preview_import(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        fhir: bool,
        bytes: &[u8],
    ) -> Result<ImportReport, AppError> {
        let (rows, how) = self.parse_import(who, clinic, provider, fhir, bytes)?;
        let (_, report) = self.plan_rows(who, clinic, provider, rows, how)?;
        Ok(report)
    }

    /// Reads and checks a CSV file or FHIR bundle for a panel the user may change.
    fn parse_import(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        fhir: bool,
        bytes: &[u8],
    ) -> Result<(Vec<ImportRow>, HowAdded), AppError> {
        let today = self.now().date();
        let c = self.writable_panel(who, clinic, provider)?;
        let resolve = |name: &str| status_by_name(&c, name);
        if fhir {
            let rows = attach_interop::fhir::parse_fhir_bundle(bytes, today, &resolve)?;
            Ok((rows, HowAdded::FhirUpload))
        } else {
            let rows = attach_interop::csv::parse_panel_csv(bytes, today, &resolve)?;
            Ok((rows, HowAdded::CsvUpload))
        }
    }

    /// Adds or updates many patients on one panel in one atomic, durable write. Rows the
    /// panel already holds unchanged are skipped; a PHN on another provider's panel at
    /// this clinic is a problem for that row, and any problem stores nothing.
    pub(super) fn add_rows(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        rows: Vec<ImportRow>,
        how: HowAdded,
    ) -> Result<ImportReport, AppError> {
        // Held from the check to the write, so a concurrent add of the same patient on
        // this node cannot slip between them.
        let _admission = self.inner.admission.lock();
        let (writes, report) = self.plan_rows(who, clinic, provider, rows, how)?;
        let ids: Vec<DocId> = writes.iter().map(|(id, _)| id.clone()).collect();
        let by_id: std::collections::HashMap<DocId, PanelEntry> = writes.into_iter().collect();
        let message = match how {
            HowAdded::FhirUpload => ChangeKind::ImportFhir,
            HowAdded::CsvUpload => ChangeKind::ImportCsv,
            HowAdded::Manual | HowAdded::Match | HowAdded::Transfer => ChangeKind::AddPatients,
        }
        .to_string();
        self.store()
            .change_many(who.0, &message, &ids, |id, tx| match by_id.get(id) {
                Some(entry) => attach_schema::write_entry(tx, entry).map_err(AppError::from),
                None => Err(AppError::bug(format!("import lost track of {id}"))),
            })?;
        info!(clinic = %clinic, provider = %provider, added = report.added, updated = report.updated, unchanged = report.unchanged, "panel imported");
        Ok(report)
    }

    /// The entries an import of `rows` would write, and its counts; or every problem
    /// (rows whose patient is on another provider's panel here). Stores nothing.
    fn plan_rows(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        rows: Vec<ImportRow>,
        how: HowAdded,
    ) -> Result<(Vec<(DocId, PanelEntry)>, ImportReport), AppError> {
        let now = self.now();
        self.writable_panel(who, clinic, provider)?;
        let mut problems = Vec::new();
        let mut writes: Vec<(DocId, PanelEntry)> = Vec::new();
        let mut report = ImportReport::default();
        {
            let model = self.model();
            for (index, row) in rows.into_iter().enumerate() {
                let all: Vec<&PanelEntry> = model.entries_for((clinic, row.details.phn)).collect();
                let existing: Vec<&PanelEntry> = all
                    .iter()
                    .copied()
                    .filter(|e| e.removed.is_none())
                    .collect();
                if let Some(other) = existing.iter().find(|e| e.provider != provider) {
                    let name = model
                        .accounts
                        .get(&other.provider)
                        .map(|a| a.display_name.clone())
                        .unwrap_or_else(|| other.provider.to_string());
                    problems.push(Problem {
                        row: Some(index + 1),
                        field: "phn".to_owned(),
                        message: format!(
                            "this patient is already on {name}'s panel at this clinic; remove them there first"
                        ),
                    });
                    continue;
                }
                let mrp = row.mrp_confirmed.then_some(attach_domain::MrpConfirmation {
                    at: now,
                    by: who,
                    how: None,
                });
                let entry = match existing.first() {
                    Some(current) => {
                        let mut e = (*current).clone();
                        e.details = row.details;
                        e.status = row.status;
                        if row.mrp_confirmed != current.mrp.is_some() {
                            e.mrp = mrp;
                        }
                        if &e == *current {
                            report.unchanged += 1;
                            continue;
                        }
                        report.updated += 1;
                        e
                    }
                    None => {
                        // A patient removed earlier from this panel comes back on the same entry.
                        let revived = all.iter().find(|e| e.provider == provider);
                        report.added += 1;
                        match revived {
                            Some(old) => PanelEntry {
                                details: row.details,
                                status: row.status,
                                mrp,
                                review: Default::default(),
                                removed: None,
                                added_at: now,
                                added_by: who,
                                how_added: how,
                                ..(*old).clone()
                            },
                            None => PanelEntry {
                                id: EntryId::new(),
                                provider,
                                clinic,
                                details: row.details,
                                status: row.status,
                                mrp,
                                added_at: now,
                                added_by: who,
                                how_added: how,
                                review: Default::default(),
                                removed: None,
                            },
                        }
                    }
                };
                writes.push((entry_doc(provider, entry.id)?, entry));
            }
        }
        if !problems.is_empty() {
            return Err(AppError::Invalid {
                message: format!(
                    "the file was not imported: {} row(s) have problems; nothing was stored",
                    problems.len()
                ),
                problems,
            });
        }
        Ok((writes, report))
    }

    /// The panel (entries not removed) as CSV or a FHIR Bundle.
    pub fn export_panel(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        fhir: bool,
    ) -> Result<Vec<u8>, AppError> {
        let c = self.readable_panel(who, clinic, provider)?;
        let model = self.model();
        let entries: Vec<PanelEntry> = model
            .panels
            .get(&(clinic, provider))
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| model.entries.get(id))
            .map(|s| s.entry.clone())
            .filter(|e| e.removed.is_none())
            .collect();
        if fhir {
            let name = model
                .accounts
                .get(&provider)
                .map(|a| a.display_name.clone())
                .unwrap_or_default();
            let bundle =
                attach_interop::fhir::panel_bundle(&c, provider, &name, &entries, self.now());
            serde_json::to_vec_pretty(&bundle)
                .map_err(|e| AppError::internal("writing the FHIR bundle", e))
        } else {
            Ok(attach_interop::csv::write_panel_csv(&entries, &|s| {
                status_name(&c, s)
            }))
        }
    }

    pub(crate) fn offline_target(
        &self,
        provider: &str,
        clinic: Option<&str>,
    ) -> Result<(ClinicId, UserId), AppError> {
        let model = self.model();
        let provider = model
            .user_by_name(provider)
            .map(|a| a.id)
            .ok_or_else(|| AppError::not_found(format!("provider {provider:?}")))?;
        let clinics: Vec<ClinicId> = model
            .memberships
            .get(&provider)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let clinic = match clinic {
            Some(raw) => raw
                .parse::<ClinicId>()
                .map_err(|_| AppError::invalid("clinic", "not a clinic id"))?,
            None => match clinics.as_slice() {
                [only] => *only,
                [] => return Err(AppError::not_found("clinic for this provider")),
                _ => {
                    return Err(AppError::invalid(
                        "clinic",
                        "this provider works at several clinics; pass --clinic",
                    ));
                }
            },
        };
        Ok((clinic, provider))
    }

    /// The user an offline command names with `--as`.
    pub(crate) fn offline_user(&self, username: &str) -> Result<UserId, AppError> {
        self.model()
            .user_by_name(username)
            .map(|a| a.id)
            .ok_or_else(|| AppError::not_found(format!("user {username:?}")))
    }

    /// What an offline command names: the user it acts as, the clinic and the provider
    /// (by username; the clinic by id when the provider works at several).
    pub fn offline_panel(
        &self,
        as_user: &str,
        provider: &str,
        clinic: Option<&str>,
    ) -> Result<(UserId, ClinicId, UserId), AppError> {
        let (clinic, provider) = self.offline_target(provider, clinic)?;
        Ok((self.offline_user(as_user)?, clinic, provider))
    }

    /// `attach import panel`, offline, recorded under `as_user`.
    pub fn import_panel_offline(
        &self,
        as_user: &str,
        provider: &str,
        clinic: Option<&str>,
        fhir: bool,
        bytes: &[u8],
    ) -> Result<ImportReport, AppError> {
        let (clinic, provider) = self.offline_target(provider, clinic)?;
        let who = self.offline_user(as_user)?;
        self.import_panel(who, clinic, provider, fhir, bytes)
    }

    /// `attach panel preferences`, offline, recorded under `as_user`: `change` edits the
    /// stored preferences, which are then checked and saved as on the preferences page.
    pub fn set_preferences_offline(
        &self,
        as_user: &str,
        provider: &str,
        clinic: Option<&str>,
        change: impl FnOnce(&mut PanelPreferences),
    ) -> Result<PanelPreferences, AppError> {
        let (clinic, provider) = self.offline_target(provider, clinic)?;
        let who = self.offline_user(as_user)?;
        let mut p = self.preferences(who, clinic, provider)?;
        change(&mut p);
        self.set_preferences(who, clinic, provider, p)
    }

    /// `attach export panel`, offline.
    pub fn export_panel_offline(
        &self,
        provider: &str,
        clinic: Option<&str>,
        fhir: bool,
    ) -> Result<Vec<u8>, AppError> {
        let (clinic, provider) = self.offline_target(provider, clinic)?;
        self.export_panel(provider, clinic, provider, fhir)
    }
}

/// Names of the fields that differ between two versions of an entry.
pub fn changed_fields(a: &PanelEntry, b: &PanelEntry) -> Vec<&'static str> {
    let (x, y) = (&a.details, &b.details);
    let checks: [(&'static str, bool); 13] = [
        ("family name", x.family_name != y.family_name),
        ("given names", x.given_names != y.given_names),
        ("date of birth", x.date_of_birth != y.date_of_birth),
        ("sex", x.sex != y.sex),
        ("phone", x.contact.phone != y.contact.phone),
        ("email", x.contact.email != y.contact.email),
        ("address", x.contact.address != y.contact.address),
        ("community", x.community != y.community),
        ("last visit", x.last_visit != y.last_visit),
        ("status", a.status != b.status),
        ("mrp", a.mrp != b.mrp),
        ("removal", a.removed != b.removed),
        ("phn", x.phn != y.phn),
    ];
    checks
        .into_iter()
        .filter(|(_, c)| *c)
        .map(|(n, _)| n)
        .collect()
}

/// A status by the name people use: "active", "inactive" or a clinic-defined name.
pub fn status_by_name(c: &Clinic, name: &str) -> Option<PatientStatus> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("active") {
        return Some(PatientStatus::Active);
    }
    if name.eq_ignore_ascii_case("inactive") {
        return Some(PatientStatus::Inactive);
    }
    c.statuses
        .values()
        .find(|s| !s.retired && s.name.eq_ignore_ascii_case(name))
        .map(|s| PatientStatus::Custom(s.id))
}

/// A status as the web pages show it: "Active", "Inactive", or the clinic's own name.
/// (`status_name` is the file format's word, lower-case for the two built-in ones.)
pub fn status_label(c: &Clinic, status: &PatientStatus) -> String {
    match status {
        PatientStatus::Active => "Active".to_owned(),
        PatientStatus::Inactive => "Inactive".to_owned(),
        PatientStatus::Custom(_) => status_name(c, status),
    }
}

pub fn status_name(c: &Clinic, status: &PatientStatus) -> String {
    match status {
        PatientStatus::Active => "active".to_owned(),
        PatientStatus::Inactive => "inactive".to_owned(),
        PatientStatus::Custom(id) => c
            .statuses
            .get(id)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| id.to_string()),
    }
}
