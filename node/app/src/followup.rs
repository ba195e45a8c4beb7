//! Working the clinical lists: recalls tracked from "to contact" to done (one patient or a
//! whole selection at once), probably-uncoded suggestions coded in Attach or dismissed with
//! a reason, and records entered or corrected by hand on the patient's page.
//!
//! All of it is written to the patient's clinical document (`clinical/<c>/<patient>`), so
//! it stays on the clinic's nodes with the records it is about, and syncs between them.
//! Who may: the provider whose panel holds the patient and the staff that provider endorsed,
//! as for reading the patient's records. The clinic-wide lists (recalls, records entered in
//! Attach) are for whoever may see the clinic's registries.

use std::collections::HashMap;

use time::Date;
use tracing::info;

use attach_domain::clinical::followup::{
    Dismissal, ManualRecord, Recall, RecallAction, RecallStatus,
};
use attach_domain::clinical::rules::GapTiming;
use attach_domain::clinical::{
    ClinicalFact, ClinicalRecord, Code, CodeSystem, ConditionStatus, Origin,
};
use attach_domain::{ClinicId, EntryId, PanelEntry, Phn, UserId, age_on, sex_key};
use attach_interop::clinical_export::{RecallLine, write_clinical_csv, write_recall_csv};
use attach_schema::clinical::{
    delete_clinical_record, delete_dismissal, read_clinical, write_clinical_record,
    write_dismissal, write_recall,
};
use attach_store::DocId;

use super::clinical::{CareList, ClinicalList, compiled_of, evaluate};
use super::review::ReviewScope;
use super::{App, AppError};

/// The largest selection one recall change takes.
pub const MAX_RECALL_SELECTION: usize = 5_000;

/// What a recall change did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecallOutcome {
    /// Patients whose recalls were written.
    pub patients: usize,
    /// Recalls written (one per open care gap of those patients, or of the one rule).
    pub recalls: usize,
    /// Patients left alone: their care gap closed since the list was shown.
    pub closed: usize,
}

/// One record entered or corrected in Attach, with whom it is about.
#[derive(Debug, Clone)]
pub struct AttachRecord {
    pub entry: PanelEntry,
    pub record: ClinicalRecord,
}

/// A care-gap rule's key and the round of it a patient is in (see `Recall::since`).
type GapRound = (String, Option<Date>);

/// The id prefix of records entered in Attach (those are the ones that can be deleted).
const ATTACH_ID: &str = "attach:";

impl App {
    /// The patient's live entry, for someone who may work on their clinical records.
    fn clinical_patient(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
    ) -> Result<(PanelEntry, DocId), AppError> {
        let c = self.member_clinic(who, clinic)?;
        if !c.can_manage_panel(who, provider) {
            return Err(AppError::forbidden(
                "a patient's clinical records are for their provider and the staff that provider endorsed",
            ));
        }
        let e = self.entry(who, clinic, provider, entry)?.entry;
        if e.removed.is_some() {
            return Err(AppError::conflict(
                "this patient is no longer on the panel; their clinical records cannot be changed here",
            ));
        }
        let id = attach_schema::ids::clinical_doc_id(clinic, e.details.phn);
        Ok((e, id))
    }

    /// Records `action` on the open care gaps of each selected patient (of the one rule
    /// `rule`, or all of them): one durable change, all or nothing, attributed to `who`.
    /// Patients whose gap closed since the list was shown are left alone and counted.
    pub fn record_recalls(
        &self,
        who: UserId,
        clinic: ClinicId,
        targets: &[(UserId, EntryId)],
        rule: Option<&str>,
        action: &RecallAction,
    ) -> Result<RecallOutcome, AppError> {
        let c = self.member_clinic(who, clinic)?;
        if targets.is_empty() {
            return Err(AppError::invalid("entries", "choose at least one patient"));
        }
        if targets.len() > MAX_RECALL_SELECTION {
            return Err(AppError::invalid(
                "entries",
                format!("at most {MAX_RECALL_SELECTION} patients at once"),
            ));
        }
        let today = self.clinic_today();
        action.check(today)?;
        self.clinical_state(clinic)?;
        let mut outcome = RecallOutcome::default();
        let mut plans: HashMap<DocId, (Phn, Vec<GapRound>)> = HashMap::new();
        {
            let model = self.model();
            let state = model.clinical.get(&clinic);
            let compiled = compiled_of(state);
            let only = match rule {
                Some(key) => Some(usize::from(
                    compiled
                        .gap_index(key)
                        .filter(|g| compiled.gap_in_use(*g))
                        .ok_or_else(|| AppError::not_found("care-gap rule the clinic uses"))?,
                )),
                None => None,
            };
            for (provider, entry) in targets {
                if !c.can_manage_panel(who, *provider) {
                    return Err(AppError::forbidden(
                        "recalls are worked by the patient's provider and the staff that provider endorsed",
                    ));
                }
                let e = model
                    .entries
                    .get(entry)
                    .map(|s| &s.entry)
                    .filter(|e| {
                        e.clinic == clinic && e.provider == *provider && e.removed.is_none()
                    })
                    .ok_or_else(|| AppError::not_found("panel entry"))?;
                let care = evaluate(state, &compiled, e, today);
                let gaps: Vec<GapRound> = care
                    .gaps
                    .iter()
                    .filter(|g| g.is_open() && only.is_none_or(|i| usize::from(g.rule) == i))
                    .map(|g| (compiled.gap(g.rule).key.clone(), g.last.map(|p| p.date)))
                    .collect();
                if gaps.is_empty() {
                    outcome.closed += 1;
                    continue;
                }
                outcome.recalls += gaps.len();
                plans.insert(
                    attach_schema::ids::clinical_doc_id(clinic, e.details.phn),
                    (e.details.phn, gaps),
                );
            }
        }
        outcome.patients = plans.len();
        if plans.is_empty() {
            return Ok(outcome);
        }
        let now = self.now();
        let ids: Vec<DocId> = plans.keys().cloned().collect();
        self.store()
            .change_many(who.0, "work recalls", &ids, |id, tx| {
                let (phn, gaps) = plans
                    .get(id)
                    .ok_or_else(|| AppError::bug("a patient of the selection went missing"))?;
                let stored = read_clinical(tx)?;
                for (rule, since) in gaps {
                    let r = Recall::apply(stored.recalls.get(rule), rule, *since, action, who, now);
                    write_recall(tx, *phn, &r)?;
                }
                Ok::<(), AppError>(())
            })?;
        info!(clinic = %clinic, patients = outcome.patients, recalls = outcome.recalls, "recalls recorded");
        Ok(outcome)
    }

    /// The recall list (every open care gap, or one rule's) of the panels in `scope`,
    /// keeping the patients with a gap whose recall is in one of `statuses`.
    pub fn recall_list(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
        rule: Option<&str>,
        statuses: &[RecallStatus],
    ) -> Result<CareList, AppError> {
        let list = match rule {
            Some(k) => ClinicalList::Gap(k.to_owned()),
            None => ClinicalList::Recalls,
        };
        let mut l = self.clinical_list(who, clinic, scope, &list)?;
        let only = rule.and_then(|k| l.compiled.catalogue().gaps.iter().position(|g| g.key == k));
        let compiled = l.compiled.clone();
        l.rows.retain(|r| {
            r.care
                .gaps
                .iter()
                .filter(|g| g.is_open() && only.is_none_or(|i| usize::from(g.rule) == i))
                .any(|g| {
                    let key = &compiled.gap(g.rule).key;
                    let recall = r.recalls.iter().find(|x| x.rule == *key);
                    statuses.contains(&Recall::status_now(recall, g.last.map(|p| p.date)))
                })
        });
        Ok(l)
    }

    /// A clinical list as its page shows it first: a recall list (one rule's, or every
    /// gap's) keeps the recalls still being worked on; a registry or uncoded list all of it.
    pub fn worked_list(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
        list: &ClinicalList,
    ) -> Result<CareList, AppError> {
        match list {
            ClinicalList::Gap(k) => {
                self.recall_list(who, clinic, scope, Some(k), &RecallStatus::WORKING)
            }
            ClinicalList::Recalls => {
                self.recall_list(who, clinic, scope, None, &RecallStatus::WORKING)
            }
            ClinicalList::Registry(_) | ClinicalList::Uncoded(_) => {
                self.clinical_list(who, clinic, scope, list)
            }
        }
    }

    /// The recall list as CSV: one line per patient and open care gap.
    pub fn export_recalls(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
        rule: Option<&str>,
        statuses: &[RecallStatus],
    ) -> Result<Vec<u8>, AppError> {
        let l = self.recall_list(who, clinic, scope, rule, statuses)?;
        let today = self.clinic_today();
        let names = self.member_names(who, clinic)?;
        let c = &l.compiled;
        let day = |t: time::OffsetDateTime| t.to_offset(time::UtcOffset::UTC).date().to_string();
        let mut lines = Vec::new();
        for r in &l.rows {
            let d = &r.entry.details;
            for g in r.care.gaps.iter().filter(|g| g.is_open()) {
                let rule_def = c.gap(g.rule);
                if rule.is_some_and(|k| k != rule_def.key) {
                    continue;
                }
                let recall = r.recalls.iter().find(|x| x.rule == rule_def.key);
                let status = Recall::status_now(recall, g.last.map(|p| p.date));
                if !statuses.contains(&status) {
                    continue;
                }
                let current = recall.filter(|x| x.since == g.last.map(|p| p.date));
                let last_contact = current.and_then(|x| x.contacts.last());
                lines.push(RecallLine {
                    provider: names.get(&r.entry.provider).cloned().unwrap_or_default(),
                    family_name: d.family_name.clone(),
                    given_names: d.given_names.clone(),
                    phn: d.phn.to_string(),
                    date_of_birth: d.date_of_birth.to_string(),
                    age: age_on(d.date_of_birth, today).to_string(),
                    sex: sex_key(d.sex).to_owned(),
                    phone: d.contact.phone.clone(),
                    email: d.contact.email.clone(),
                    community: d.community.clone(),
                    care_gap: rule_def.name.clone(),
                    timing: g.timing.label().to_owned(),
                    due: match g.timing {
                        GapTiming::Never => String::new(),
                        _ => g.due.map(|d| d.to_string()).unwrap_or_default(),
                    },
                    last_done: g.last.map(|p| p.date.to_string()).unwrap_or_default(),
                    last_value: g.last.map(|p| p.value.to_string()).unwrap_or_default(),
                    out_of_target: match g.in_target {
                        Some(false) => "yes",
                        Some(true) => "no",
                        None => "",
                    }
                    .to_owned(),
                    recall_status: status.label().to_owned(),
                    booked_for: current
                        .and_then(|x| x.booked_for)
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                    last_contact: last_contact.map(|a| day(a.at)).unwrap_or_default(),
                    last_contact_how: last_contact
                        .map(|a| a.how.label().to_owned())
                        .unwrap_or_default(),
                    last_contact_note: last_contact.map(|a| a.note.clone()).unwrap_or_default(),
                    note: current.map(|x| x.note.clone()).unwrap_or_default(),
                });
            }
        }
        info!(clinic = %clinic, lines = lines.len(), "recall list exported");
        Ok(write_recall_csv(&lines))
    }

    /// The display names of the clinic's members.
    fn member_names(
        &self,
        who: UserId,
        clinic: ClinicId,
    ) -> Result<HashMap<UserId, String>, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let model = self.model();
        Ok(c.members
            .keys()
            .filter_map(|u| Some((*u, model.accounts.get(u)?.display_name.clone())))
            .collect())
    }

    /// Sets aside one probably-uncoded suggestion for the patient, with the reason: it does
    /// not come back until restored.
    #[allow(clippy::too_many_arguments)]
    pub fn dismiss_suggestion(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
        registry: &str,
        rule: &str,
        reason: &str,
    ) -> Result<Dismissal, AppError> {
        let (e, id) = self.clinical_patient(who, clinic, provider, entry)?;
        self.check_uncoded_rule(clinic, registry, rule)?;
        let d = Dismissal::new(registry, rule, reason, who, self.now())?;
        self.store()
            .change(&id, who.0, "dismiss a suggestion", |tx| {
                write_dismissal(tx, e.details.phn, &d).map_err(AppError::from)
            })?;
        Ok(d)
    }

    /// Brings back a dismissed suggestion.
    pub fn restore_suggestion(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
        registry: &str,
        rule: &str,
    ) -> Result<(), AppError> {
        let (_, id) = self.clinical_patient(who, clinic, provider, entry)?;
        self.store()
            .change(&id, who.0, "restore a suggestion", |tx| {
                let stored = read_clinical(tx)?;
                if !stored
                    .dismissed
                    .contains_key(&(registry.to_owned(), rule.to_owned()))
                {
                    return Err(AppError::not_found("dismissed suggestion"));
                }
                delete_dismissal(tx, registry, rule).map_err(AppError::from)
            })?;
        Ok(())
    }

    fn check_uncoded_rule(
        &self,
        clinic: ClinicId,
        registry: &str,
        rule: &str,
    ) -> Result<(), AppError> {
        let model = self.model();
        let compiled = compiled_of(model.clinical.get(&clinic));
        let r = compiled
            .registry_index(registry)
            .map(|i| compiled.registry(i))
            .ok_or_else(|| AppError::not_found("registry"))?;
        if !r.uncoded.iter().any(|u| u.key == rule) {
            return Err(AppError::not_found("suggestion rule"));
        }
        Ok(())
    }

    /// Codes the patient on `registry` in Attach (a suggestion accepted): an active
    /// condition with `code` (one of the registry's codes, as `icd9 250`), or the registry's
    /// first code. Listed among the records to take back to the EMR.
    pub fn code_in_attach(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
        registry: &str,
        code: Option<&str>,
    ) -> Result<ClinicalRecord, AppError> {
        let (e, id) = self.clinical_patient(who, clinic, provider, entry)?;
        let (code, name) = {
            let model = self.model();
            let compiled = compiled_of(model.clinical.get(&clinic));
            let r = compiled
                .registry_index(registry)
                .map(|i| compiled.registry(i))
                .ok_or_else(|| AppError::not_found("registry"))?;
            let code = match code.map(str::trim).filter(|c| !c.is_empty()) {
                Some(line) => {
                    let m = attach_domain::clinical::CodeMatch::parse_line(line)
                        .map_err(|e| AppError::invalid("code", e))?;
                    let c = Code::new(m.system, &m.code)
                        .ok_or_else(|| AppError::invalid("code", "the code is empty"))?;
                    if !r.matches(std::slice::from_ref(&c)) {
                        return Err(AppError::invalid(
                            "code",
                            format!("{c} is not one of the {} registry's codes", r.name),
                        ));
                    }
                    c
                }
                None => r
                    .codes
                    .iter()
                    .find(|m| m.system == CodeSystem::Icd9)
                    .or_else(|| r.codes.first())
                    .and_then(|m| Code::new(m.system.clone(), &m.code))
                    .ok_or_else(|| {
                        AppError::invalid("code", "this registry has no code to record")
                    })?,
            };
            (code, r.name.clone())
        };
        let record = ClinicalRecord {
            source_id: format!("{ATTACH_ID}coded:{registry}"),
            fact: ClinicalFact::Condition {
                codes: vec![code],
                onset: None,
                abated: None,
                status: ConditionStatus::Active,
            },
            display: Some(name),
            origin: Origin::Attach {
                by: who,
                at: self.now(),
            },
        };
        self.store().change(&id, who.0, "code a condition", |tx| {
            write_clinical_record(tx, e.details.phn, &record).map_err(AppError::from)
        })?;
        info!(clinic = %clinic, registry, "condition coded in Attach");
        Ok(record)
    }

    /// Enters a record by hand (`id` `None`) or corrects the stored record `id` (the
    /// correction is kept over an older export of it; a newer export replaces it).
    pub fn save_clinical_record(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
        id: Option<&str>,
        form: &ManualRecord,
    ) -> Result<ClinicalRecord, AppError> {
        let (e, doc) = self.clinical_patient(who, clinic, provider, entry)?;
        let source_id = match id {
            Some(id) => id.to_owned(),
            None => format!("{ATTACH_ID}{}", uuid::Uuid::new_v4()),
        };
        let record = form.record(source_id, self.clinic_today(), who, self.now())?;
        let correcting = id.is_some();
        self.store()
            .change(&doc, who.0, "enter a clinical record", |tx| {
                if correcting && !read_clinical(tx)?.records.contains_key(&record.source_id) {
                    return Err(AppError::not_found("clinical record"));
                }
                write_clinical_record(tx, e.details.phn, &record).map_err(AppError::from)
            })?;
        Ok(record)
    }

    /// Deletes a record entered in Attach by mistake. A record from the EMR is corrected
    /// instead: importing the export again would bring it back.
    pub fn delete_attach_record(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        entry: EntryId,
        id: &str,
    ) -> Result<(), AppError> {
        let (_, doc) = self.clinical_patient(who, clinic, provider, entry)?;
        self.store().change(&doc, who.0, "delete a clinical record", |tx| {
            let stored = read_clinical(tx)?;
            let r = stored
                .records
                .get(id)
                .ok_or_else(|| AppError::not_found("clinical record"))?;
            if !id.starts_with(ATTACH_ID) || !matches!(r.origin, Origin::Attach { .. }) {
                return Err(AppError::invalid(
                    "id",
                    "a record from the EMR cannot be deleted here (the next import would bring it back): correct it instead, e.g. mark a condition resolved",
                ));
            }
            delete_clinical_record(tx, id).map_err(AppError::from)
        })?;
        Ok(())
    }

    /// Every record entered or corrected in Attach for the patients of `scope`'s panels,
    /// by patient: the list to take back to the EMR.
    pub fn entered_in_attach(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
    ) -> Result<Vec<AttachRecord>, AppError> {
        let (_, providers) = self.clinical_panels(who, clinic, scope)?;
        let patients: Vec<PanelEntry> = {
            let model = self.model();
            let Some(state) = model.clinical.get(&clinic) else {
                return Ok(Vec::new());
            };
            providers
                .iter()
                .flat_map(|p| model.panel_members(clinic, *p))
                .filter(|e| {
                    state
                        .patients
                        .get(&e.details.phn)
                        .is_some_and(|p| p.in_attach > 0)
                })
                .cloned()
                .collect()
        };
        let mut out = Vec::new();
        for e in patients {
            let id = attach_schema::ids::clinical_doc_id(clinic, e.details.phn);
            let Some(doc) = self.store().read(&id, read_clinical)?.transpose()? else {
                continue;
            };
            for r in doc.records.into_values() {
                if matches!(r.origin, Origin::Attach { .. }) {
                    out.push(AttachRecord {
                        entry: e.clone(),
                        record: r,
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            let at = |r: &ClinicalRecord| match r.origin {
                Origin::Attach { at, .. } => Some(at),
                Origin::Emr { .. } => None,
            };
            (
                &a.entry.details.family_name,
                &a.entry.details.given_names,
                a.entry.id,
                at(&a.record),
            )
                .cmp(&(
                    &b.entry.details.family_name,
                    &b.entry.details.given_names,
                    b.entry.id,
                    at(&b.record),
                ))
        });
        Ok(out)
    }

    /// [`entered_in_attach`](Self::entered_in_attach) as a CSV file in the import's columns.
    pub fn export_entered_in_attach(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
    ) -> Result<Vec<u8>, AppError> {
        let list = self.entered_in_attach(who, clinic, scope)?;
        let refs: Vec<(Phn, &ClinicalRecord)> = list
            .iter()
            .map(|a| (a.entry.details.phn, &a.record))
            .collect();
        info!(clinic = %clinic, records = refs.len(), "records entered in Attach exported");
        Ok(write_clinical_csv(&refs))
    }
}

#[cfg(test)]
#[path = "followup_tests.rs"]
mod tests;
