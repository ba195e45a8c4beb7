//! Deterministic resolution of the rules a CRDT merge can break, and the conflicts to
//! review that each clash produces. Every function here is a pure function of the merged
//! state, so every replica computes the same outcome and the same list.
//!
//! - One primary account manager: the stored register always holds one value (Automerge
//!   picks the same winner everywhere); concurrent candidates are reported.
//! - At most one secondary: the register holds at most one; a secondary that is also the
//!   primary or is not an active member counts as none (`Clinic::effective_secondary`).
//! - A patient on at most one panel at a clinic: the earliest-added entry is kept (ties:
//!   lowest entry id); the others are reported for an account manager to settle.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::ids::{EntryId, UserId};
use super::phn::Phn;
use super::types::{Clinic, PanelEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConflictKind {
    PrimaryManager,
    SecondaryManager,
    PanelMembership,
    /// Two people changed the same field while apart.
    ConcurrentEdit,
}

impl ConflictKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::PrimaryManager => "primary_manager",
            Self::SecondaryManager => "secondary_manager",
            Self::PanelMembership => "panel_membership",
            Self::ConcurrentEdit => "concurrent_edit",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::PrimaryManager => {
                "The primary account manager role was handed to different people at the same time."
            }
            Self::SecondaryManager => {
                "The secondary account manager was set differently at the same time, or is no longer valid."
            }
            Self::PanelMembership => {
                "The same patient was put on more than one panel at this clinic; the earliest stays, remove the other."
            }
            Self::ConcurrentEdit => "Two people changed the same field while working apart.",
        }
    }
}

/// One side of a clash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictValue {
    pub value: String,
    pub by: Option<UserId>,
    pub at: Option<OffsetDateTime>,
    /// The outcome every replica settled on.
    pub kept: bool,
}

/// A clash to review. `subject` names ids only, never patient data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub kind: ConflictKind,
    pub subject: String,
    pub values: Vec<ConflictValue>,
}

/// Conflicts about the account managers, from the concurrent values of the `primary` and
/// `secondary` registers (each value a user id string). `kept` is set from the merged state.
pub fn manager_conflicts(
    c: &Clinic,
    primary_candidates: &[ConflictValue],
    secondary_candidates: &[ConflictValue],
) -> Vec<Conflict> {
    let mut out = Vec::new();
    if differ(primary_candidates) {
        let primary = c.primary.to_string();
        out.push(Conflict {
            kind: ConflictKind::PrimaryManager,
            subject: format!("clinic {}", c.id),
            values: primary_candidates
                .iter()
                .map(|v| ConflictValue {
                    kept: v.value == primary,
                    ..v.clone()
                })
                .collect(),
        });
    }
    let effective = c
        .effective_secondary()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let invalid_single = c.secondary.is_some() && c.effective_secondary().is_none();
    if differ(secondary_candidates) || invalid_single {
        let mut values: Vec<ConflictValue> = secondary_candidates
            .iter()
            .map(|v| ConflictValue {
                kept: !effective.is_empty() && v.value == effective,
                ..v.clone()
            })
            .collect();
        if invalid_single && values.is_empty() {
            values.push(ConflictValue {
                value: c.secondary.map(|s| s.to_string()).unwrap_or_default(),
                by: None,
                at: None,
                kept: false,
            });
        }
        out.push(Conflict {
            kind: ConflictKind::SecondaryManager,
            subject: format!("clinic {}", c.id),
            values,
        });
    }
    out
}

/// Whether concurrent values of a register name different people (two replicas that set
/// the same value apart agree: nothing to review).
fn differ(candidates: &[ConflictValue]) -> bool {
    candidates
        .iter()
        .any(|v| candidates.first().is_some_and(|f| f.value != v.value))
}

/// The entry kept when several live entries hold one PHN at one clinic.
pub fn kept_entry<'a>(entries: impl IntoIterator<Item = &'a PanelEntry>) -> Option<&'a PanelEntry> {
    entries
        .into_iter()
        .filter(|e| e.removed.is_none())
        .min_by_key(|e| (e.added_at, e.id))
}

/// The order a clash's entries (and so its values) are listed in: the kept one first
/// (earliest added, ties: lowest entry id), as [`kept_entry`] chooses.
pub fn sort_clash_group(group: &mut [&PanelEntry]) {
    group.sort_by_key(|e| (e.added_at, e.id));
}

/// One conflict per PHN that is on more than one live entry among `entries` (which may
/// span clinics; clashes are per clinic). Order of input does not matter. O(n log n).
pub fn panel_clashes(entries: &[PanelEntry]) -> Vec<Conflict> {
    let mut groups: BTreeMap<(super::ids::ClinicId, Phn), Vec<&PanelEntry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.removed.is_none()) {
        groups.entry((e.clinic, e.details.phn)).or_default().push(e);
    }
    let mut out = Vec::new();
    for ((clinic, _), mut group) in groups {
        if group.len() < 2 {
            continue;
        }
        sort_clash_group(&mut group);
        let kept: EntryId = group[0].id;
        out.push(Conflict {
            kind: ConflictKind::PanelMembership,
            subject: format!(
                "clinic {clinic}, entries {}",
                group
                    .iter()
                    .map(|e| e.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            values: group
                .iter()
                .map(|e| ConflictValue {
                    value: format!("on the panel of provider {} (entry {})", e.provider, e.id),
                    by: Some(e.added_by),
                    at: Some(e.added_at),
                    kept: e.id == kept,
                })
                .collect(),
        });
    }
    out
}
