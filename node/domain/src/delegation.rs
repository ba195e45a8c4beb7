//! Delegation (endorsement): a licensed provider lets a non-licensed staff member of the
//! same clinic manage their panel and match requests. Either side starts it, the other
//! side confirms, and either side — or an account manager — revokes it.

use time::OffsetDateTime;

use super::error::DomainError;
use super::ids::{DelegationId, UserId};
use super::types::{Clinic, Delegation, DelegationState, Side};

pub fn start_delegation(
    c: &Clinic,
    id: DelegationId,
    actor: UserId,
    provider: UserId,
    delegate: UserId,
    now: OffsetDateTime,
) -> Result<Delegation, DomainError> {
    let started_by = if actor == provider {
        Side::Provider
    } else if actor == delegate {
        Side::Delegate
    } else {
        return Err(DomainError::forbidden(
            "only the provider or the staff member can start an endorsement",
        ));
    };
    if !(c.is_active_member(provider) && c.role_of(provider).is_some_and(|r| r.is_licensed())) {
        return Err(DomainError::Conflict(
            "only an active physician or nurse practitioner of this clinic can endorse".to_owned(),
        ));
    }
    if !c.is_active_member(delegate) || c.role_of(delegate).is_some_and(|r| r.is_licensed()) {
        return Err(DomainError::Conflict(
            "the delegate must be an active staff member of this clinic without a licence"
                .to_owned(),
        ));
    }
    if c.delegations.values().any(|d| {
        d.provider == provider && d.delegate == delegate && d.state != DelegationState::Revoked
    }) {
        return Err(DomainError::Conflict(
            "an endorsement between these two people is already pending or active".to_owned(),
        ));
    }
    Ok(Delegation {
        id,
        provider,
        delegate,
        started_by,
        state: DelegationState::Pending,
        created_at: now,
        confirmed_at: None,
        revoked_at: None,
        revoked_by: None,
    })
}

/// Only the side that did not start the endorsement confirms it.
pub fn confirm_delegation(
    c: &Clinic,
    id: DelegationId,
    actor: UserId,
    now: OffsetDateTime,
) -> Result<Delegation, DomainError> {
    let d = c
        .delegations
        .get(&id)
        .ok_or(DomainError::NotFound("endorsement"))?;
    let other = match d.started_by {
        Side::Provider => d.delegate,
        Side::Delegate => d.provider,
    };
    if actor != other {
        return Err(DomainError::forbidden(
            "the endorsement is confirmed by the other side, not the one who started it",
        ));
    }
    if d.state != DelegationState::Pending {
        return Err(DomainError::InvalidTransition(
            "only a pending endorsement can be confirmed".to_owned(),
        ));
    }
    if !c.is_active_member(d.provider) || !c.is_active_member(d.delegate) {
        return Err(DomainError::Conflict(
            "both people must be active members of the clinic".to_owned(),
        ));
    }
    Ok(Delegation {
        state: DelegationState::Active,
        confirmed_at: Some(now),
        ..d.clone()
    })
}

/// Either side, or an account manager (e.g. when staff leave), revokes.
pub fn revoke_delegation(
    c: &Clinic,
    id: DelegationId,
    actor: UserId,
    now: OffsetDateTime,
) -> Result<Delegation, DomainError> {
    let d = c
        .delegations
        .get(&id)
        .ok_or(DomainError::NotFound("endorsement"))?;
    if actor != d.provider && actor != d.delegate && !c.is_account_manager(actor) {
        return Err(DomainError::forbidden(
            "only the provider, the staff member or an account manager can revoke an endorsement",
        ));
    }
    if d.state == DelegationState::Revoked {
        return Err(DomainError::InvalidTransition(
            "this endorsement is already revoked".to_owned(),
        ));
    }
    Ok(Delegation {
        state: DelegationState::Revoked,
        revoked_at: Some(now),
        revoked_by: Some(actor),
        ..d.clone()
    })
}
