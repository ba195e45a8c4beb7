//! Clinic & Provider Registry rules: membership states, account-manager powers, the
//! primary and secondary account managers, and clinic-defined patient statuses.
//!
//! Membership states move `requested → approved → active ⇄ deactivated`, and a request may
//! be `declined`. Only an account manager (the primary or the secondary, while an active
//! member) changes them. Every rule looks at one clinic only: deactivating someone at one
//! clinic never touches their membership anywhere else.

use time::OffsetDateTime;

use super::error::DomainError;
use super::ids::{ClinicId, StatusId, UserId};
use super::types::{
    Clinic, ClinicProfile, MemberState, Membership, PatientStatus, Role, StatusDefinition,
};

impl Role {
    /// Physicians and nurse practitioners hold a licence and have panels.
    pub fn is_licensed(self) -> bool {
        matches!(self, Role::Physician | Role::NursePractitioner)
    }

    /// The role as people say it.
    pub fn label(self) -> &'static str {
        match self {
            Role::Director => "Director",
            Role::Physician => "Physician",
            Role::NursePractitioner => "Nurse practitioner",
            Role::MedicalOfficeAssistant => "Medical office assistant",
            Role::OtherStaff => "Other staff",
        }
    }
}

impl MemberState {
    /// The state as people say it.
    pub fn label(self) -> &'static str {
        match self {
            MemberState::Requested => "Asked to join",
            MemberState::Approved => "Approved, not yet active",
            MemberState::Active => "Active",
            MemberState::Deactivated => "Deactivated",
            MemberState::Declined => "Declined",
        }
    }
}

/// The new primary and secondary after a handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagerChange {
    pub primary: UserId,
    pub secondary: Option<UserId>,
}

impl Clinic {
    /// A clinic whose director is its primary account manager and first active member.
    pub fn new(
        id: ClinicId,
        profile: ClinicProfile,
        director: UserId,
        director_role: Role,
        now: OffsetDateTime,
    ) -> Self {
        let membership = Membership {
            user: director,
            role: director_role,
            state: MemberState::Active,
            since: now,
            changed_at: now,
            changed_by: director,
        };
        Self {
            id,
            profile,
            locations: Default::default(),
            members: [(director, membership)].into(),
            primary: director,
            secondary: None,
            statuses: Default::default(),
            status_rules: Default::default(),
            delegations: Default::default(),
        }
    }

    pub fn membership(&self, user: UserId) -> Option<&Membership> {
        self.members.get(&user)
    }

    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.members.get(&user).map(|m| m.role)
    }

    pub fn is_active_member(&self, user: UserId) -> bool {
        self.members
            .get(&user)
            .is_some_and(|m| m.state == MemberState::Active)
    }

    /// The secondary account manager as every replica sees it: none when the stored value
    /// is the primary or is not an active member (a merge can produce either).
    pub fn effective_secondary(&self) -> Option<UserId> {
        self.secondary
            .filter(|s| *s != self.primary && self.is_active_member(*s))
    }

    /// The primary or the effective secondary. (The primary is a manager even if a merge
    /// left their membership inactive: the clinic is never without one.)
    pub fn is_account_manager(&self, user: UserId) -> bool {
        (user == self.primary && self.members.contains_key(&user))
            || self.effective_secondary() == Some(user)
    }

    /// Active licensed providers.
    pub fn providers(&self) -> impl Iterator<Item = &Membership> {
        self.members
            .values()
            .filter(|m| m.state == MemberState::Active && m.role.is_licensed())
    }

    /// May `actor` manage `provider`'s panel here: the provider themself, or a staff member
    /// holding an active endorsement from them; both active members.
    pub fn can_manage_panel(&self, actor: UserId, provider: UserId) -> bool {
        if !self.is_active_member(actor) || !self.is_active_member(provider) {
            return false;
        }
        if !self.role_of(provider).is_some_and(Role::is_licensed) {
            return false;
        }
        actor == provider
            || self.delegations.values().any(|d| {
                d.provider == provider
                    && d.delegate == actor
                    && d.state == super::types::DelegationState::Active
            })
    }

    /// An account manager of this clinic may reset the password of a member of this clinic,
    /// except that only the primary may reset the primary's own (a secondary must not be
    /// able to take over the primary's login). Whether the target manages another clinic is
    /// the caller's check: this rule sees one clinic.
    pub fn can_reset_password(&self, actor: UserId, target: UserId) -> bool {
        self.is_account_manager(actor)
            && self.members.contains_key(&target)
            && (target != self.primary || actor == self.primary)
    }
}

fn require_manager(c: &Clinic, actor: UserId) -> Result<(), DomainError> {
    if c.is_account_manager(actor) {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "only the clinic's primary or secondary account manager can do this",
        ))
    }
}

fn member(c: &Clinic, user: UserId) -> Result<&Membership, DomainError> {
    c.members.get(&user).ok_or(DomainError::NotFound("member"))
}

fn moved(m: &Membership, state: MemberState, by: UserId, now: OffsetDateTime) -> Membership {
    Membership {
        state,
        changed_at: now,
        changed_by: by,
        ..m.clone()
    }
}

fn wrong_state(m: &Membership, action: &str) -> DomainError {
    DomainError::InvalidTransition(format!(
        "cannot {action} a membership that is {}",
        state_word(m.state)
    ))
}

fn state_word(s: MemberState) -> &'static str {
    match s {
        MemberState::Requested => "requested",
        MemberState::Approved => "approved",
        MemberState::Active => "active",
        MemberState::Deactivated => "deactivated",
        MemberState::Declined => "declined",
    }
}

/// Anyone may ask to join a clinic; a person declined or deactivated may ask again.
pub fn request_join(
    c: &Clinic,
    user: UserId,
    role: Role,
    now: OffsetDateTime,
) -> Result<Membership, DomainError> {
    if let Some(m) = c.members.get(&user)
        && !matches!(m.state, MemberState::Declined | MemberState::Deactivated)
    {
        return Err(DomainError::Conflict(format!(
            "you already have a membership here that is {}",
            state_word(m.state)
        )));
    }
    Ok(Membership {
        user,
        role,
        state: MemberState::Requested,
        since: now,
        changed_at: now,
        changed_by: user,
    })
}

/// An account manager adds a person directly: the membership starts approved.
pub fn add_member(
    c: &Clinic,
    actor: UserId,
    user: UserId,
    role: Role,
    now: OffsetDateTime,
) -> Result<Membership, DomainError> {
    require_manager(c, actor)?;
    if let Some(m) = c.members.get(&user)
        && !matches!(m.state, MemberState::Declined | MemberState::Deactivated)
    {
        return Err(DomainError::Conflict(format!(
            "this person is already a member here ({})",
            state_word(m.state)
        )));
    }
    Ok(Membership {
        user,
        role,
        state: MemberState::Approved,
        since: now,
        changed_at: now,
        changed_by: actor,
    })
}

pub fn approve(
    c: &Clinic,
    actor: UserId,
    user: UserId,
    now: OffsetDateTime,
) -> Result<Membership, DomainError> {
    require_manager(c, actor)?;
    let m = member(c, user)?;
    match m.state {
        MemberState::Requested => Ok(moved(m, MemberState::Approved, actor, now)),
        _ => Err(wrong_state(m, "approve")),
    }
}

pub fn decline(
    c: &Clinic,
    actor: UserId,
    user: UserId,
    now: OffsetDateTime,
) -> Result<Membership, DomainError> {
    require_manager(c, actor)?;
    let m = member(c, user)?;
    match m.state {
        MemberState::Requested => Ok(moved(m, MemberState::Declined, actor, now)),
        _ => Err(wrong_state(m, "decline")),
    }
}

pub fn activate(
    c: &Clinic,
    actor: UserId,
    user: UserId,
    now: OffsetDateTime,
) -> Result<Membership, DomainError> {
    require_manager(c, actor)?;
    let m = member(c, user)?;
    match m.state {
        MemberState::Approved | MemberState::Deactivated => {
            Ok(moved(m, MemberState::Active, actor, now))
        }
        MemberState::Requested => Err(DomainError::InvalidTransition(
            "approve the request before activating the member".to_owned(),
        )),
        _ => Err(wrong_state(m, "activate")),
    }
}

/// Deactivates a member at this clinic. The primary must hand over first; deactivating the
/// secondary also ends their secondary role (the caller clears `secondary`).
pub fn deactivate(
    c: &Clinic,
    actor: UserId,
    user: UserId,
    now: OffsetDateTime,
) -> Result<Membership, DomainError> {
    require_manager(c, actor)?;
    let m = member(c, user)?;
    if user == c.primary {
        return Err(DomainError::Conflict(
            "the primary account manager cannot be deactivated; hand the role over first"
                .to_owned(),
        ));
    }
    match m.state {
        MemberState::Active | MemberState::Approved => {
            Ok(moved(m, MemberState::Deactivated, actor, now))
        }
        _ => Err(wrong_state(m, "deactivate")),
    }
}

/// Only the primary hands over, to an active member; if that member was the secondary,
/// the clinic no longer has one.
pub fn handover_primary(
    c: &Clinic,
    actor: UserId,
    to: UserId,
) -> Result<ManagerChange, DomainError> {
    if actor != c.primary {
        return Err(DomainError::forbidden(
            "only the primary account manager can hand over the role",
        ));
    }
    if to == c.primary {
        return Err(DomainError::InvalidTransition(
            "this person is already the primary account manager".to_owned(),
        ));
    }
    if !c.is_active_member(to) {
        return Err(DomainError::Conflict(
            "the primary account manager must be an active member of the clinic".to_owned(),
        ));
    }
    let secondary = c.effective_secondary().filter(|s| *s != to);
    Ok(ManagerChange {
        primary: to,
        secondary,
    })
}

/// Only the primary assigns or clears the secondary, who must be another active member.
pub fn set_secondary(
    c: &Clinic,
    actor: UserId,
    to: Option<UserId>,
) -> Result<Option<UserId>, DomainError> {
    if actor != c.primary {
        return Err(DomainError::forbidden(
            "only the primary account manager can assign the secondary",
        ));
    }
    if let Some(to) = to {
        if to == c.primary {
            return Err(DomainError::Conflict(
                "the primary account manager cannot also be the secondary".to_owned(),
            ));
        }
        if !c.is_active_member(to) {
            return Err(DomainError::Conflict(
                "the secondary account manager must be an active member of the clinic".to_owned(),
            ));
        }
    }
    Ok(to)
}

fn reserved(name: &str) -> bool {
    name.eq_ignore_ascii_case("active") || name.eq_ignore_ascii_case("inactive")
}

/// A clinic-defined status: a non-empty name unique (ignoring case) among live statuses.
pub fn create_status(
    c: &Clinic,
    actor: UserId,
    id: StatusId,
    name: &str,
    definition: &str,
) -> Result<StatusDefinition, DomainError> {
    require_manager(c, actor)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(DomainError::invalid(
            "name",
            "a status name is 1 to 60 characters",
        ));
    }
    if reserved(name) {
        return Err(DomainError::invalid(
            "name",
            "active and inactive are built in; choose another name",
        ));
    }
    if c.statuses
        .values()
        .any(|s| !s.retired && s.name.eq_ignore_ascii_case(name))
    {
        return Err(DomainError::invalid(
            "name",
            "the clinic already has a status with this name",
        ));
    }
    if definition.trim().is_empty() {
        return Err(DomainError::invalid(
            "definition",
            "say what the status means, so everyone uses it the same way",
        ));
    }
    Ok(StatusDefinition {
        id,
        name: name.to_owned(),
        definition: definition.trim().to_owned(),
        retired: false,
    })
}

pub fn edit_status(
    c: &Clinic,
    actor: UserId,
    id: StatusId,
    definition: &str,
) -> Result<StatusDefinition, DomainError> {
    require_manager(c, actor)?;
    let s = c
        .statuses
        .get(&id)
        .ok_or(DomainError::NotFound("patient status"))?;
    if definition.trim().is_empty() {
        return Err(DomainError::invalid(
            "definition",
            "the definition cannot be empty",
        ));
    }
    Ok(StatusDefinition {
        definition: definition.trim().to_owned(),
        ..s.clone()
    })
}

/// A retired status can no longer be given; entries that have it keep it.
pub fn retire_status(
    c: &Clinic,
    actor: UserId,
    id: StatusId,
) -> Result<StatusDefinition, DomainError> {
    require_manager(c, actor)?;
    let s = c
        .statuses
        .get(&id)
        .ok_or(DomainError::NotFound("patient status"))?;
    Ok(StatusDefinition {
        retired: true,
        ..s.clone()
    })
}

/// A status may be given to a patient: built in, or defined here and not retired.
pub fn check_status_assignable(c: &Clinic, status: PatientStatus) -> Result<(), DomainError> {
    match status {
        PatientStatus::Active | PatientStatus::Inactive => Ok(()),
        PatientStatus::Custom(id) => match c.statuses.get(&id) {
            Some(s) if !s.retired => Ok(()),
            Some(_) => Err(DomainError::invalid("status", "this status is retired")),
            None => Err(DomainError::invalid(
                "status",
                "this clinic has no such status",
            )),
        },
    }
}
