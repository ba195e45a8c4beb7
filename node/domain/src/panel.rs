//! Patient Panel Registry rules: adding, re-adding and removing patients.

use time::OffsetDateTime;

use super::error::DomainError;
use super::ids::{EntryId, UserId};
use super::types::{
    Clinic, Disposition, HowAdded, PanelEntry, PatientDetails, PatientStatus, Removal,
};

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
        review: Default::default(),
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
    leave_panel(entry, actor, reason, Disposition::Left, now)
}

/// Takes a patient off the panel with a reason, saying where they go; the entry and its
/// history stay.
pub fn leave_panel(
    entry: PanelEntry,
    actor: UserId,
    reason: &str,
    disposition: Disposition,
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
        review: Default::default(),
        removed: Some(Removal {
            at: now,
            by: actor,
            reason: reason.to_owned(),
            disposition,
        }),
        ..entry
    })
}

/// Moves a patient from their provider's panel to `to`'s panel at the same clinic: the
/// old entry is removed with the reason (disposition "transferred to `to`") and a new
/// entry is made on `to`'s panel (how added "transfer"; `to`'s own earlier entry for the
/// patient is put back if there is one), keeping status and details. The confirmation of
/// most responsible provider stays with the old entry: it named the old provider.
///
/// `existing` holds every entry for this PHN at this clinic. The patient stays on at most
/// one panel: if another entry besides `entry` is live (a clash not settled yet), the
/// transfer is refused until it is.
pub fn transfer_entry(
    c: &Clinic,
    actor: UserId,
    entry: PanelEntry,
    to: UserId,
    reason: &str,
    existing: &[PanelEntry],
    now: OffsetDateTime,
) -> Result<(PanelEntry, PanelEntry), DomainError> {
    if to == entry.provider {
        return Err(DomainError::invalid(
            "to",
            "choose another provider than the patient's own",
        ));
    }
    if !c.is_active_member(to) || !c.role_of(to).is_some_and(|r| r.is_licensed()) {
        return Err(DomainError::invalid(
            "to",
            "the receiving provider must be an active physician or nurse practitioner at this clinic",
        ));
    }
    if existing
        .iter()
        .any(|e| e.id != entry.id && e.removed.is_none() && e.clinic == c.id)
    {
        return Err(DomainError::Conflict(
            "this patient is on another panel at this clinic too; settle that clash on the \
             Conflicts page first"
                .to_owned(),
        ));
    }
    let revived = existing
        .iter()
        .find(|e| e.provider == to && e.clinic == c.id)
        .map(|e| e.id);
    let moved = PanelEntry {
        id: revived.unwrap_or_else(EntryId::new),
        provider: to,
        clinic: c.id,
        details: entry.details.clone(),
        status: entry.status,
        mrp: None,
        added_at: now,
        added_by: actor,
        how_added: HowAdded::Transfer,
        review: Default::default(),
        removed: None,
    };
    let old = leave_panel(entry, actor, reason, Disposition::Transferred { to }, now)?;
    Ok((old, moved))
}
