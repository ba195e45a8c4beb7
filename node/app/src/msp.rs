//! MSP panel reconciliation: a clinic uploads the panel list MSP holds for one provider and
//! works through what differs from the panel in Attach.
//!
//! An upload changes nothing. Its rows are kept on this node (a local tree, not replicated:
//! the list is a working copy that the next upload replaces) so the lists can be shown again
//! while people decide; the decisions are replicated, in the provider's
//! `clinic/<clinic>/msp/<provider>` document, keyed by the question's stable key
//! (`attach_domain::reconcile`). A second upload of the same file therefore shows only what
//! is still open, on any node of the clinic; a node without the upload shows the decisions
//! but asks for the file. Accepting a question applies it: a patient only on MSP is added,
//! one only in Attach is removed with the reason given, a difference is corrected from MSP's
//! value (a date of death removes the patient); dismissing records that the clinic keeps its
//! own. Each change is one durable change of its entry, attributed to the person deciding.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::info;

use attach_domain::{
    ClinicId, DiffField, Difference, MspPatient, PanelEntry, PatientDetails, PatientStatus,
    Reconciliation, UserId, reconcile,
};
use attach_interop::ImportRow;
use attach_schema::work::{KIND_MSP, read_items, write_item};

use super::history::ChangeKind;
use super::{App, AppError, EntryUpdate};

/// The local tree holding each provider's last upload.
const UPLOADS: &str = "msp-uploads";

/// A decision on one question, as the MSP document stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MspDecision {
    /// Applied (`true`) or dismissed.
    pub accepted: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: UserId,
    /// Why (a removal's reason, or a note on a dismissal).
    #[serde(default)]
    pub reason: String,
}

/// The upload kept on this node.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Upload {
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    by: UserId,
    rows: Vec<MspPatient>,
}

/// What the reconciliation page shows.
#[derive(Debug, Clone)]
pub struct MspView {
    /// When the list in use was uploaded on this node, and by whom; `None` before any upload.
    pub uploaded: Option<(OffsetDateTime, UserId)>,
    /// Patients on the uploaded list.
    pub rows: usize,
    /// The questions still open.
    pub open: Reconciliation,
    /// Decisions recorded for this provider (on any node), newest first.
    pub decided: Vec<(String, MspDecision)>,
}

/// What deciding did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MspDecided {
    pub applied: usize,
    pub dismissed: usize,
}

fn upload_key(clinic: ClinicId, provider: UserId) -> String {
    format!("{clinic}/{provider}")
}

impl App {
    fn msp_upload_of(
        &self,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<Option<Upload>, AppError> {
        let tree = self.store().local_tree(UPLOADS)?;
        match tree.get(upload_key(clinic, provider))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| AppError::internal("reading the last MSP upload", e)),
        }
    }

    fn msp_decisions(
        &self,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<BTreeMap<String, MspDecision>, AppError> {
        let id = attach_schema::ids::msp_doc_id(clinic, provider);
        Ok(self
            .store()
            .read(&id, |doc| read_items(doc, KIND_MSP))?
            .transpose()?
            .unwrap_or_default())
    }

    fn live_entries_of(&self, clinic: ClinicId, provider: UserId) -> Vec<PanelEntry> {
        let model = self.model();
        model
            .panels
            .get(&(clinic, provider))
            .into_iter()
            .flatten()
            .filter_map(|k| model.entries.get(&k.1))
            .map(|s| s.entry.clone())
            .filter(|e| e.removed.is_none())
            .collect()
    }

    /// The open questions of the last upload for `provider` (none before an upload).
    pub fn msp_view(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<MspView, AppError> {
        self.readable_panel(who, clinic, provider)?;
        let decided = self.msp_decisions(clinic, provider)?;
        let upload = self.msp_upload_of(clinic, provider)?;
        let mut view = MspView {
            uploaded: upload.as_ref().map(|u| (u.at, u.by)),
            rows: upload.as_ref().map_or(0, |u| u.rows.len()),
            open: Reconciliation::default(),
            decided: Vec::new(),
        };
        if let Some(u) = &upload {
            let mut open = reconcile(&u.rows, &self.live_entries_of(clinic, provider));
            open.retain_open(|k| decided.contains_key(k));
            view.open = open;
        }
        let mut decided: Vec<_> = decided.into_iter().collect();
        decided.sort_by(|a, b| b.1.at.cmp(&a.1.at).then(a.0.cmp(&b.0)));
        view.decided = decided;
        Ok(view)
    }

    /// Reads MSP's list for `provider` and keeps it on this node in place of the last one;
    /// nothing on the panel changes. A file with problems is refused whole, naming each row
    /// and column, and the last upload stays.
    pub fn msp_upload(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        bytes: &[u8],
    ) -> Result<MspView, AppError> {
        self.readable_panel(who, clinic, provider)?;
        let started = std::time::Instant::now();
        let rows = attach_interop::msp::parse_msp_csv(bytes, self.clinic_today())?;
        let upload = Upload {
            at: self.now(),
            by: who,
            rows,
        };
        let json = serde_json::to_vec(&upload)
            .map_err(|e| AppError::internal("keeping the MSP upload", e))?;
        let tree = self.store().local_tree(UPLOADS)?;
        tree.insert(upload_key(clinic, provider), json)?;
        tree.flush()?;
        info!(clinic = %clinic, provider = %provider, rows = upload.rows.len(),
            ms = started.elapsed().as_millis() as u64, "MSP list uploaded");
        self.msp_view(who, clinic, provider)
    }

    /// Accepts or dismisses the open questions named by `keys` (from [`Self::msp_view`]).
    /// Accepting applies each; a removal needs `reason`. Questions applied before a failure
    /// stay applied and recorded; the error says what stopped the rest.
    pub fn msp_decide(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        keys: &[String],
        accept: bool,
        reason: &str,
    ) -> Result<MspDecided, AppError> {
        if keys.is_empty() {
            return Err(AppError::invalid(
                "keys",
                "choose at least one line to decide",
            ));
        }
        self.writable_panel(who, clinic, provider)?;
        let view = self.msp_view(who, clinic, provider)?;
        let upload = self
            .msp_upload_of(clinic, provider)?
            .ok_or_else(|| AppError::conflict("upload MSP's list on this node first"))?;
        let reason = reason.trim();
        let open = &view.open;
        let by_key = |k: &str| -> Result<Question<'_>, AppError> {
            if let Some(p) = open.only_msp.iter().find(|p| p.key() == k) {
                return Ok(Question::OnlyMsp(p));
            }
            if let Some(a) = open.only_attach.iter().find(|a| a.key() == k) {
                return Ok(Question::OnlyAttach(a.entry));
            }
            if let Some(d) = open.differences.iter().find(|d| d.key() == k) {
                return Ok(Question::Differs(d));
            }
            Err(AppError::conflict(
                "a chosen line is no longer open (decided meanwhile, or the panel changed); reload the page",
            ))
        };
        let questions: Vec<(String, Question<'_>)> = keys
            .iter()
            .map(|k| Ok((k.clone(), by_key(k)?)))
            .collect::<Result<_, AppError>>()?;
        let now = self.now();
        let mut done = Vec::new();
        let mut outcome = MspDecided::default();
        let mut failure = None;
        if accept {
            if questions
                .iter()
                .any(|(_, q)| q.removes() && reason.is_empty())
            {
                return Err(AppError::invalid(
                    "reason",
                    "say why the patients leave the panel (kept in their history)",
                ));
            }
            // Patients only on MSP are added in one all-or-nothing write.
            let adds: Vec<&(String, Question<'_>)> = questions
                .iter()
                .filter(|(_, q)| matches!(q, Question::OnlyMsp(_)))
                .collect();
            if !adds.is_empty() {
                let mut rows = Vec::with_capacity(adds.len());
                for (_, q) in &adds {
                    let Question::OnlyMsp(p) = q else { continue };
                    if p.deceased.is_some() {
                        return Err(AppError::invalid(
                            "keys",
                            "MSP lists a chosen patient as deceased: dismiss that line instead",
                        ));
                    }
                    rows.push(ImportRow {
                        details: details_of(p),
                        status: PatientStatus::Active,
                        mrp_confirmed: false,
                    });
                }
                self.add_rows(
                    who,
                    clinic,
                    provider,
                    rows,
                    attach_domain::HowAdded::CsvUpload,
                )?;
                done.extend(adds.iter().map(|(k, _)| k.clone()));
                outcome.applied += adds.len();
            }
            for (key, q) in &questions {
                let result = match q {
                    Question::OnlyMsp(_) => continue,
                    Question::OnlyAttach(entry) => self
                        .remove_patient(
                            who,
                            clinic,
                            provider,
                            *entry,
                            &format!("not on MSP's panel list: {reason}"),
                        )
                        .map(|_| ()),
                    Question::Differs(d) => {
                        self.apply_difference(who, clinic, provider, d, &upload, reason)
                    }
                };
                match result {
                    Ok(()) => {
                        done.push(key.clone());
                        outcome.applied += 1;
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        } else {
            done.extend(questions.iter().map(|(k, _)| k.clone()));
            outcome.dismissed = done.len();
        }
        if !done.is_empty() {
            let decision = MspDecision {
                accepted: accept,
                at: now,
                by: who,
                reason: reason.to_owned(),
            };
            let id = attach_schema::ids::msp_doc_id(clinic, provider);
            let message = ChangeKind::Other(format!(
                "{} {} MSP reconciliation line(s)",
                if accept { "apply" } else { "dismiss" },
                done.len()
            ))
            .to_string();
            self.store().change(&id, who.0, &message, |tx| {
                for key in &done {
                    write_item(tx, KIND_MSP, key, Some(&decision))?;
                }
                Ok::<_, AppError>(())
            })?;
        }
        info!(clinic = %clinic, provider = %provider, applied = outcome.applied,
            dismissed = outcome.dismissed, "MSP lines decided");
        match failure {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    }

    fn apply_difference(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        d: &Difference,
        upload: &Upload,
        reason: &str,
    ) -> Result<(), AppError> {
        let msp =
            upload.rows.iter().find(|p| p.phn == d.phn).ok_or_else(|| {
                AppError::conflict("the uploaded list no longer holds this patient")
            })?;
        if d.field == DiffField::Deceased {
            let why = match msp.deceased {
                Some(date) => format!("deceased {date} (MSP)"),
                None => "deceased (MSP)".to_owned(),
            };
            let why = if reason.is_empty() {
                why
            } else {
                format!("{why}: {reason}")
            };
            return self
                .remove_patient(who, clinic, provider, d.entry, &why)
                .map(|_| ());
        }
        let mut details = self.entry(who, clinic, provider, d.entry)?.entry.details;
        match d.field {
            DiffField::FamilyName => details.family_name = msp.family_name.clone(),
            DiffField::GivenNames => details.given_names = msp.given_names.clone(),
            DiffField::DateOfBirth => details.date_of_birth = msp.date_of_birth,
            DiffField::Sex => details.sex = msp.sex,
            DiffField::Deceased => {}
        }
        let update = EntryUpdate {
            details: Some(details),
            ..EntryUpdate::default()
        };
        self.update_entry(who, clinic, provider, d.entry, update)
            .map(|_| ())
    }
}

/// An open question, found by its key.
enum Question<'a> {
    OnlyMsp(&'a MspPatient),
    OnlyAttach(attach_domain::EntryId),
    Differs(&'a Difference),
}

impl Question<'_> {
    /// Accepting it takes a patient off the panel.
    fn removes(&self) -> bool {
        match self {
            Question::OnlyAttach(_) => true,
            Question::Differs(d) => d.field == DiffField::Deceased,
            Question::OnlyMsp(_) => false,
        }
    }
}

/// A patient as MSP lists them, ready to add (no contact details: MSP's list has none).
fn details_of(p: &MspPatient) -> PatientDetails {
    PatientDetails {
        phn: p.phn,
        family_name: p.family_name.clone(),
        given_names: p.given_names.clone(),
        date_of_birth: p.date_of_birth,
        sex: p.sex,
        contact: attach_domain::Contact::default(),
        community: String::new(),
        last_visit: None,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::tests::seeded_with;
    use crate::{ManualClock, ReviewScope};
    use attach_domain::ReviewQuery;

    fn csv_of(patients: &[PatientDetails]) -> Vec<u8> {
        let mut out = String::from("PHN,Surname,Given Name,Birth Date,Gender,Payee Number\r\n");
        for p in patients {
            out.push_str(&format!(
                "{},{},{},{},{},12345\r\n",
                p.phn,
                p.family_name,
                p.given_names,
                p.date_of_birth,
                attach_domain::sex_key(p.sex)
            ));
        }
        out.into_bytes()
    }

    #[test]
    fn an_upload_changes_nothing_and_decisions_stay_decided_on_the_next_upload() {
        let (r, ids) = seeded_with(&ManualClock::new(datetime!(2026-11-02 09:00 UTC)), 60);
        let app = &r.app;
        let patel = ReviewScope::Provider(ids.patel);
        let panel: Vec<PatientDetails> = app
            .review_rows(ids.moa, ids.clinic, patel, &ReviewQuery::default())
            .unwrap()
            .into_iter()
            .map(|row| row.entry.details)
            .collect();
        assert!(panel.len() >= 5);
        // MSP's list: the panel less its first patient, the second with another family
        // name, and one patient Attach does not have.
        let mut msp: Vec<PatientDetails> = panel[1..].to_vec();
        msp[0].family_name = format!("{}-Renamed", msp[0].family_name);
        let newcomer =
            crate::demo_data::patients(77, 1, crate::demo_data::fixture_today()).remove(0);
        assert!(panel.iter().all(|p| p.phn != newcomer.phn));
        msp.push(newcomer.clone());
        let size_before = app
            .panel_summary(ids.moa, ids.clinic, ids.patel)
            .unwrap()
            .size;

        let view = app
            .msp_upload(ids.moa, ids.clinic, ids.patel, &csv_of(&msp))
            .expect("a good file");
        assert_eq!(view.rows, msp.len());
        assert_eq!(view.open.only_msp.len(), 1);
        assert_eq!(view.open.only_attach.len(), 1);
        assert_eq!(view.open.differences.len(), 1);
        assert_eq!(view.open.differences[0].field, DiffField::FamilyName);
        assert_eq!(
            app.panel_summary(ids.moa, ids.clinic, ids.patel)
                .unwrap()
                .size,
            size_before,
            "an upload alone changes nothing"
        );

        // A removal needs a reason; nothing is decided without one.
        let gone = view.open.only_attach[0].key();
        let err = app
            .msp_decide(
                ids.moa,
                ids.clinic,
                ids.patel,
                std::slice::from_ref(&gone),
                true,
                " ",
            )
            .expect_err("no reason");
        assert!(matches!(err, AppError::Invalid { .. }), "{err:?}");
        // The newcomer is added, the patient missing from MSP's list removed, the renamed
        // one kept as the clinic has it.
        let decided = app
            .msp_decide(
                ids.moa,
                ids.clinic,
                ids.patel,
                &[view.open.only_msp[0].key(), gone],
                true,
                "moved to Alberta",
            )
            .expect("applied");
        assert_eq!(decided.applied, 2);
        app.msp_decide(
            ids.moa,
            ids.clinic,
            ids.patel,
            &[view.open.differences[0].key()],
            false,
            "",
        )
        .expect("dismissed");
        assert_eq!(
            app.panel_summary(ids.moa, ids.clinic, ids.patel)
                .unwrap()
                .size,
            size_before
        );
        let after = app
            .review_rows(ids.moa, ids.clinic, patel, &ReviewQuery::default())
            .unwrap();
        assert!(
            after
                .iter()
                .any(|row| row.entry.details.phn == newcomer.phn)
        );
        assert!(
            after
                .iter()
                .all(|row| row.entry.details.phn != panel[0].phn)
        );

        // The same file again: nothing is open.
        let again = app
            .msp_upload(ids.moa, ids.clinic, ids.patel, &csv_of(&msp))
            .expect("uploads again");
        assert!(again.open.is_empty(), "{:?}", again.open);
        assert_eq!(again.decided.len(), 3);
        // A bad file is refused naming the row and column, and the last upload stays.
        let bad =
            b"phn,family_name,given_names,date_of_birth,sex\r\n9123456780,A,B,1990-02-30,F\r\n";
        let err = app
            .msp_upload(ids.moa, ids.clinic, ids.patel, bad)
            .expect_err("a bad date");
        let AppError::Invalid { problems, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(problems[0].row, Some(1));
        assert_eq!(problems[0].field, "date_of_birth");
        assert_eq!(
            app.msp_view(ids.moa, ids.clinic, ids.patel).unwrap().rows,
            msp.len()
        );
        // Dr. Nguyen may not see Dr. Patel's reconciliation.
        let err = app
            .msp_view(ids.nguyen, ids.clinic, ids.patel)
            .expect_err("another provider");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
    }
}
