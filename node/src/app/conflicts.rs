//! Conflicts to review: clashes that merging offline edits produced. Every one is
//! derived from the merged documents alone, so every replica lists the same ones.

use time::OffsetDateTime;

use super::model::Candidate;
use super::model::Model;
use super::registry::require_manager;
use super::{App, AppError};
use crate::domain::{self, ClinicId, Conflict, ConflictValue, PanelEntry, UserId};

/// A clash, ready to show: what it is about and every side's value and author.
#[derive(Debug, Clone)]
pub struct ConflictView {
    pub kind: String,
    pub subject: String,
    pub description: String,
    pub values: Vec<ConflictValueView>,
}

#[derive(Debug, Clone)]
pub struct ConflictValueView {
    pub value: String,
    pub by: Option<UserId>,
    pub by_name: Option<String>,
    pub at: Option<OffsetDateTime>,
    pub kept: bool,
}

pub(super) fn candidate_values(candidates: &[Candidate]) -> Vec<ConflictValue> {
    candidates
        .iter()
        .map(|c| ConflictValue {
            value: c.value.clone(),
            by: c.by,
            at: c.at,
            kept: false,
        })
        .collect()
}

impl App {
    /// Every clash at this clinic: manager registers, patients on two panels, and fields
    /// of patient entries or memberships edited concurrently. Account managers only.
    pub fn conflicts(&self, who: UserId, clinic: ClinicId) -> Result<Vec<ConflictView>, AppError> {
        let c = self.member_clinic(who, clinic)?;
        require_manager(&c, who)?;
        let model = self.model();
        let mut out: Vec<Conflict> = Vec::new();
        if let Some(state) = model.clinics.get(&clinic) {
            out.extend(domain::manager_conflicts(
                &state.clinic,
                &candidate_values(&state.primary_candidates),
                &candidate_values(&state.secondary_candidates),
            ));
            for f in &state.member_conflicts {
                out.push(field_conflict(
                    &format!("membership field {}", f.field),
                    &f.candidates,
                ));
            }
        }
        let mut clash_keys: Vec<_> = model.clashes.iter().filter(|(c, _)| *c == clinic).collect();
        clash_keys.sort();
        for key in clash_keys {
            let entries = clash_entries(&model, key);
            out.extend(domain::panel_clashes(&entries));
        }
        for state in model.entries.values().filter(|s| s.entry.clinic == clinic) {
            for f in &state.conflicts {
                out.push(field_conflict(
                    &format!("entry {} field {}", state.entry.id, f.field),
                    &f.candidates,
                ));
            }
        }
        Ok(out.into_iter().map(|c| self.view(&model, c)).collect())
    }

    fn view(&self, model: &Model, c: Conflict) -> ConflictView {
        ConflictView {
            kind: c.kind.code().to_owned(),
            description: c.kind.description().to_owned(),
            subject: c.subject,
            values: c
                .values
                .into_iter()
                .map(|v| ConflictValueView {
                    by_name: v
                        .by
                        .and_then(|u| model.accounts.get(&u))
                        .map(|a| a.display_name.clone()),
                    value: v.value,
                    by: v.by,
                    at: v.at,
                    kept: v.kept,
                })
                .collect(),
        }
    }
}

fn clash_entries(model: &Model, key: &(ClinicId, domain::Phn)) -> Vec<PanelEntry> {
    model.entries_for(*key).cloned().collect()
}

fn field_conflict(subject: &str, candidates: &[Candidate]) -> Conflict {
    let mut values = candidate_values(candidates);
    // The last candidate is the one every replica reads.
    if let Some(last) = values.last_mut() {
        last.kept = true;
    }
    Conflict {
        kind: domain::ConflictKind::ConcurrentEdit,
        subject: subject.to_owned(),
        values,
    }
}
