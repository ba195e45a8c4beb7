//! A provider leaves or stops: their patients are moved to another provider's panel at the
//! clinic, patient by patient or all at once, or returned to the provincial waitlist.
//!
//! Every move is ordinary panel history: the old entry is removed with the reason and
//! where the patient went (`Disposition`), and a transfer makes a new entry on the receiving
//! panel (how added "transfer"). The clinic cannot write the hub's `waiting/` documents, so a
//! return to the waitlist is the removal itself ("waitlist"): it reaches the hub with the
//! panel at the next sync, and the hub registers the person again at its next round.
//!
//! All the patients of one request move in one durable change, or none do.

use std::collections::HashMap;

use tracing::info;

use super::history::ChangeKind;
use super::model::Model;
use super::panel::entry_doc;
use super::{App, AppError, Problem};
use attach_domain::{Clinic, ClinicId, Disposition, EntryId, PanelEntry, UserId};
use attach_store::DocId;

/// Which of a panel's patients a move takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Everyone on the panel now (removed entries are not moved again).
    All,
    /// These entries of the panel.
    Entries(Vec<EntryId>),
}

/// Where the patients go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To this provider's panel at the same clinic.
    Provider(UserId),
    /// Back to the provincial waitlist.
    Waitlist,
}

/// What a move did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MoveReport {
    pub moved: usize,
}

impl App {
    /// Moves patients off `provider`'s panel at `clinic` to `to`. Who may: the clinic's
    /// account managers (a provider who left can no longer act, and their delegations
    /// ended with them), and whoever may change both panels concerned (the provider or a
    /// staff member endorsed by both, for a transfer; the provider or their delegate, for a
    /// return to the waitlist). Any patient that cannot move (not on this panel, already
    /// removed, on another panel too) is listed and nothing is stored.
    pub fn move_patients(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        selection: &Selection,
        to: Destination,
        reason: &str,
    ) -> Result<MoveReport, AppError> {
        let now = self.now();
        let c = self.readable_panel(who, clinic, provider)?;
        let allowed = c.is_account_manager(who)
            || (c.can_manage_panel(who, provider)
                && match to {
                    Destination::Provider(to) => c.can_manage_panel(who, to),
                    Destination::Waitlist => true,
                });
        if !allowed {
            return Err(AppError::forbidden(
                "only the clinic's account managers, or whoever may change both panels, can move patients",
            ));
        }
        let reason = reason.trim();
        let _admission = self.inner.admission.lock();
        let mut problems = Vec::new();
        let mut writes: Vec<(DocId, PanelEntry)> = Vec::new();
        {
            let m = self.model();
            let ids: Vec<EntryId> = match selection {
                Selection::All => m
                    .panels
                    .get(&(clinic, provider))
                    .into_iter()
                    .flatten()
                    .map(|(_, id)| *id)
                    .filter(|id| m.entries.get(id).is_some_and(|s| s.entry.removed.is_none()))
                    .collect(),
                Selection::Entries(ids) => {
                    let mut seen = std::collections::HashSet::new();
                    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
                }
            };
            if ids.is_empty() {
                return Err(AppError::invalid(
                    "entries",
                    "choose at least one patient (the panel has none to move)",
                ));
            }
            for (row, id) in ids.iter().enumerate() {
                let problem = |message: String| Problem {
                    row: Some(row + 1),
                    field: "entries".to_owned(),
                    message,
                };
                let Some(entry) = m
                    .entries
                    .get(id)
                    .map(|s| s.entry.clone())
                    .filter(|e| e.clinic == clinic && e.provider == provider)
                else {
                    problems.push(problem(format!("{id} is not on this panel")));
                    continue;
                };
                let result = match to {
                    Destination::Waitlist => attach_domain::leave_panel(
                        entry,
                        who,
                        reason,
                        Disposition::ReturnToWaitlist,
                        now,
                    )
                    .map(|old| vec![old]),
                    Destination::Provider(to) => transfer_pair(&m, &c, who, entry, to, reason, now)
                        .map(|(old, new)| vec![old, new]),
                };
                match result {
                    Ok(entries) => {
                        for e in entries {
                            writes.push((entry_doc(e.provider, e.id)?, e));
                        }
                    }
                    // A problem every patient shares (no reason, a wrong receiving
                    // provider) is one problem, not one per row.
                    Err(attach_domain::DomainError::Validation(fields)) => {
                        return Err(attach_domain::DomainError::Validation(fields).into());
                    }
                    Err(e) => problems.push(problem(e.to_string())),
                }
            }
        }
        if !problems.is_empty() {
            return Err(AppError::Invalid {
                message: format!(
                    "No patient was moved: {} of them cannot move.",
                    problems.len()
                ),
                problems,
            });
        }
        let moved = writes.iter().filter(|(_, e)| e.removed.is_some()).count();
        let by_doc: HashMap<DocId, PanelEntry> = writes.into_iter().collect();
        let ids: Vec<DocId> = by_doc.keys().cloned().collect();
        let message = match to {
            Destination::Provider(_) => ChangeKind::TransferPatient,
            Destination::Waitlist => ChangeKind::ReturnToWaitlist,
        }
        .to_string();
        self.store().change_many(who.0, &message, &ids, |id, tx| {
            let e = by_doc
                .get(id)
                .ok_or_else(|| AppError::bug(format!("a move lost track of {id}")))?;
            attach_schema::write_entry(tx, e).map_err(AppError::from)
        })?;
        info!(clinic = %clinic, provider = %provider, moved, to = ?to, "patients moved");
        Ok(MoveReport { moved })
    }
}

/// The old entry (removed, saying where the patient went) and the new one on `to`'s panel
/// for one patient's transfer, checked against every entry the clinic holds for the PHN.
pub(super) fn transfer_pair(
    m: &Model,
    c: &Clinic,
    who: UserId,
    entry: PanelEntry,
    to: UserId,
    reason: &str,
    now: time::OffsetDateTime,
) -> Result<(PanelEntry, PanelEntry), attach_domain::DomainError> {
    let existing: Vec<PanelEntry> = m.entries_for((c.id, entry.details.phn)).cloned().collect();
    attach_domain::transfer_entry(c, who, entry, to, reason, &existing, now)
}

impl App {
    /// The providers `provider`'s patients could be transferred to at `clinic` (the other
    /// active physicians and nurse practitioners), by name; for whoever may see the panel.
    pub fn transfer_targets(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<Vec<(UserId, String)>, AppError> {
        let c = self.readable_panel(who, clinic, provider)?;
        let mut out: Vec<(UserId, String)> = c
            .providers()
            .filter(|m| m.user != provider && c.is_active_member(m.user))
            .map(|m| (m.user, self.display_name(m.user)))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        Ok(out)
    }
}

impl App {
    /// `attach panel move`, offline, recorded under `as_user`: `to` is the receiving
    /// colleague's username (`None`: back to the waitlist), `entries` the entry ids to move
    /// (none: everyone on the panel).
    pub fn move_patients_offline(
        &self,
        as_user: &str,
        provider: &str,
        clinic: Option<&str>,
        to: Option<&str>,
        entries: &[String],
        reason: &str,
    ) -> Result<MoveReport, AppError> {
        let (clinic, provider) = self.offline_target(provider, clinic)?;
        let who = self.offline_user(as_user)?;
        let to = match to {
            Some(name) => Destination::Provider(self.offline_user(name)?),
            None => Destination::Waitlist,
        };
        let selection = if entries.is_empty() {
            Selection::All
        } else {
            let mut ids = Vec::with_capacity(entries.len());
            let mut problems = Vec::new();
            for (i, raw) in entries.iter().enumerate() {
                match raw.trim().parse::<EntryId>() {
                    Ok(id) => ids.push(id),
                    Err(_) => problems.push(Problem {
                        row: Some(i + 1),
                        field: "entries".to_owned(),
                        message: format!("{raw:?} is not an entry id"),
                    }),
                }
            }
            if !problems.is_empty() {
                return Err(AppError::Invalid {
                    message: "No patient was moved: some entry ids are not ids.".into(),
                    problems,
                });
            }
            Selection::Entries(ids)
        };
        self.move_patients(who, clinic, provider, &selection, to, reason)
    }
}
