//! Patient Panel Registry rules: adding, re-adding and removing patients.

use time::OffsetDateTime;

use super::error::DomainError;
use super::ids::{EntryId, UserId};
use super::types::{Clinic, HowAdded, PanelEntry, PatientDetails, PatientStatus, Removal};

/// A new entry on `provider`'s panel, or a removed entry of theirs put back.
///
/// `existing` holds every entry for this PHN at this clinic (any provider, removed or
/// not). A patient may be on at most one panel at a clinic: if another provider has them,
/// the error says who; if this provider already has them, it is a duplicate.
#[allow(clippy::too_many_arguments)] // one argument per fact the rule needs
pub fn add_to_panel(
    c: &Clinic,
    actor: UserId,
    provider: UserId,
    details: PatientDetails,
    status: PatientStatus,
    how: HowAdded,
    existing: &[PanelEntry],
    now: OffsetDateTime,
) -> Result<PanelEntry, DomainError> {
    if !c.can_manage_panel(actor, provider) {
        return Err(DomainError::forbidden(
            "only the provider and staff they have endorsed can change this panel",
        ));
    }
    super::registry::check_status_assignable(c, status)?;
    let live = existing
        .iter()
        .find(|e| e.removed.is_none() && e.clinic == c.id && e.details.phn == details.phn);
    if let Some(e) = live {
        return Err(if e.provider == provider {
            DomainError::Conflict("this patient is already on this panel".to_owned())
        } else {
            DomainError::Conflict(format!(
                "this patient is already on another provider's panel at this clinic (provider {}); \
                 they must be removed there first",
                e.provider
            ))
        });
    }
    let revived = existing
        .iter()
        .find(|e| e.provider == provider && e.clinic == c.id && e.details.phn == details.phn);
    Ok(PanelEntry {
        id: revived.map_or_else(EntryId::new, |e| e.id),
        provider,
        clinic: c.id,
        details,
        status,
        mrp: None,
        added_at: now,
        added_by: actor,
        how_added: how,
        removed: None,
    })
}

/// Takes a patient off the panel with a reason; the entry and its history stay.
pub fn remove_from_panel(
    entry: PanelEntry,
    actor: UserId,
    reason: &str,
    now: OffsetDateTime,
) -> Result<PanelEntry, DomainError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(DomainError::invalid(
            "reason",
            "say why the patient leaves the panel (kept in the history)",
        ));
    }
    if reason.chars().count() > 500 {
        return Err(DomainError::invalid("reason", "at most 500 characters"));
    }
    if entry.removed.is_some() {
        return Err(DomainError::InvalidTransition(
            "this patient is already removed from the panel".to_owned(),
        ));
    }
    Ok(PanelEntry {
        removed: Some(Removal {
            at: now,
            by: actor,
            reason: reason.to_owned(),
        }),
        ..entry
    })
}
