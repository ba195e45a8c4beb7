//! The Clinic & Provider Registry: clinic profile, locations, members, account managers,
//! patient statuses and delegations.

use automerge::transaction::Transaction;
use time::OffsetDateTime;
use tracing::info;

use super::accounts::{account_doc, validate_username};
use super::history::ChangeKind;
use super::model::AccountView;
use super::{App, AppError};
use attach_auth::Credentials;
use attach_domain::{
    Clinic, ClinicId, ClinicProfile, Delegation, DelegationId, Location, MemberState, Membership,
    Role, StatusDefinition, StatusId, UserId,
};
use attach_schema::AccountRecord;
use attach_store::{DocId, HistoryItem};

/// What `attach init` needs.
#[derive(Debug, Clone)]
pub struct InitClinic {
    pub clinic_name: String,
    pub facility_number: String,
    pub director_username: String,
    pub director_name: String,
    pub director_email: String,
}

#[derive(Debug, Clone)]
pub struct InitResult {
    pub clinic: ClinicId,
    pub clinic_name: String,
    pub username: String,
    pub temporary_password: String,
}

/// A member as the registry shows them: membership plus the person's name.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub membership: Membership,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub primary_manager: bool,
    pub secondary_manager: bool,
}

/// What the other side (or an account manager) does with an endorsement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelegationAction {
    Confirm,
    Revoke,
}

/// An account manager's action on a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberAction {
    Approve,
    Decline,
    Activate,
    Deactivate,
}

/// One change in a document's history, with the author's name resolved.
#[derive(Debug, Clone)]
pub struct HistoryView {
    pub at: Option<OffsetDateTime>,
    pub user: Option<UserId>,
    pub user_name: Option<String>,
    /// The commit message as stored, for showing.
    pub message: String,
    /// What the change was, read from the message once; filters match on this.
    pub change: ChangeKind,
}

pub(super) fn clinic_doc(clinic: ClinicId) -> Result<DocId, AppError> {
    Ok(attach_schema::clinic_doc_id(clinic))
}

impl App {
    /// Runs `f` on the clinic's current state inside one transaction of its document.
    /// Reading inside the transaction (not from the read model) makes check-then-write
    /// atomic against other writers on this node.
    pub(super) fn change_clinic<R>(
        &self,
        by: UserId,
        clinic: ClinicId,
        change: ChangeKind,
        f: impl FnOnce(&Clinic, &mut Transaction<'_>) -> Result<R, AppError>,
    ) -> Result<R, AppError> {
        // Visibility first: a non-member learns nothing about the clinic.
        self.member_clinic(by, clinic)?;
        let id = clinic_doc(clinic)?;
        Ok(self.store().change(&id, by.0, &change.to_string(), |tx| {
            let current = attach_schema::read_clinic(tx)?;
            f(&current, tx)
        })?)
    }

    /// Creates a clinic and its director (primary account manager) with a temporary
    /// password. Used by `attach init`, offline.
    pub fn init_clinic(&self, req: &InitClinic) -> Result<InitResult, AppError> {
        let now = self.now();
        let username = validate_username(&req.director_username)?;
        let profile = ClinicProfile {
            name: req.clinic_name.trim().to_owned(),
            facility_number: req.facility_number.trim().to_owned(),
            ..ClinicProfile::default()
        }
        .validated()?;
        let director = UserId::new();
        let (account, temporary) = self.create_account_as(
            director,
            director,
            &username,
            &req.director_name,
            &req.director_email,
            now,
        )?;
        let clinic = Clinic::new(ClinicId::new(), profile, account.id, Role::Director, now);
        let id = clinic_doc(clinic.id)?;
        self.store().change(
            &id,
            account.id.0,
            &ChangeKind::CreateClinic.to_string(),
            |tx| attach_schema::write_clinic_new(tx, &clinic).map_err(AppError::from),
        )?;
        info!(clinic = %clinic.id, user = %account.id, "clinic created");
        Ok(InitResult {
            clinic: clinic.id,
            clinic_name: clinic.profile.name,
            username: account.username,
            temporary_password: temporary,
        })
    }

    pub fn clinic(&self, who: UserId, clinic: ClinicId) -> Result<Clinic, AppError> {
        self.member_clinic(who, clinic)
    }

    pub fn update_profile(
        &self,
        who: UserId,
        clinic: ClinicId,
        profile: ClinicProfile,
    ) -> Result<Clinic, AppError> {
        let profile = profile.validated()?;
        self.change_clinic(who, clinic, ChangeKind::UpdateClinicProfile, |c, tx| {
            require_manager(c, who)?;
            attach_schema::write_profile(tx, &profile)?;
            Ok(())
        })?;
        self.member_clinic(who, clinic)
    }

    pub fn save_location(
        &self,
        who: UserId,
        clinic: ClinicId,
        location: Location,
    ) -> Result<Location, AppError> {
        let location = location.validated()?;
        let change = ChangeKind::SaveLocation(location.id);
        self.change_clinic(who, clinic, change, |c, tx| {
            require_manager(c, who)?;
            attach_schema::write_location(tx, &location)?;
            Ok(())
        })?;
        Ok(location)
    }

    pub fn members(&self, who: UserId, clinic: ClinicId) -> Result<Vec<MemberView>, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let model = self.model();
        Ok(c.members
            .values()
            .map(|m| member_view(&c, m, model.accounts.get(&m.user)))
            .collect())
    }

    /// One member of the clinic, as [`App::members`] shows them.
    pub fn member(
        &self,
        who: UserId,
        clinic: ClinicId,
        member: UserId,
    ) -> Result<MemberView, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let m = c
            .members
            .get(&member)
            .ok_or_else(|| AppError::not_found("member"))?;
        Ok(member_view(&c, m, self.model().accounts.get(&member)))
    }

    /// An account manager adds a person: a new account (with a temporary password,
    /// returned once) or an existing user by username. The membership starts approved;
    /// activating it lets them sign in here.
    pub fn add_member(
        &self,
        who: UserId,
        clinic: ClinicId,
        username: &str,
        display_name: &str,
        email: &str,
        role: Role,
    ) -> Result<(MemberView, Option<String>), AppError> {
        let now = self.now();
        let c = self.member_clinic(who, clinic)?;
        require_manager(&c, who)?;
        let existing = self.model().user_by_name(username).cloned();
        let (account, temporary) = match existing {
            Some(account) => (account, None),
            None => {
                let (account, temporary) =
                    self.create_account(who, username, display_name, email, now)?;
                (account, Some(temporary))
            }
        };
        let change = ChangeKind::AddMember(account.id);
        let membership = self.change_clinic(who, clinic, change, |c, tx| {
            let m = attach_domain::add_member(c, who, account.id, role, now)?;
            attach_schema::write_membership(tx, &m)?;
            Ok(m)
        })?;
        let c = self.member_clinic(who, clinic)?;
        Ok((member_view(&c, &membership, Some(&account)), temporary))
    }

    /// Someone asks to join a clinic: a new person (no account yet: one is created
    /// without a password) or a signed-in user asking to join another clinic. An account
    /// manager approves or declines.
    /// The clinic with this facility number (as a person asking to join knows it).
    pub fn clinic_by_facility(&self, facility_number: &str) -> Result<ClinicId, AppError> {
        let wanted = facility_number.trim();
        if wanted.is_empty() {
            return Err(AppError::invalid(
                "facility_number",
                "enter the clinic's facility number",
            ));
        }
        self.model()
            .clinics
            .values()
            .find(|s| {
                s.clinic
                    .profile
                    .facility_number
                    .eq_ignore_ascii_case(wanted)
            })
            .map(|s| s.clinic.id)
            .ok_or_else(|| {
                AppError::invalid(
                    "facility_number",
                    format!("no clinic on this node has the facility number {wanted:?}"),
                )
            })
    }

    /// A clinic's name, for telling someone outside it where their request went.
    pub fn clinic_name(&self, clinic: ClinicId) -> Result<String, AppError> {
        self.model()
            .clinics
            .get(&clinic)
            .map(|s| s.clinic.profile.name.clone())
            .ok_or_else(|| AppError::not_found("clinic"))
    }

    pub fn request_membership(
        &self,
        who: Option<UserId>,
        clinic: ClinicId,
        username: &str,
        display_name: &str,
        email: &str,
        role: Role,
    ) -> Result<Membership, AppError> {
        let now = self.now();
        if !self.model().clinics.contains_key(&clinic) {
            return Err(AppError::not_found("clinic"));
        }
        let user = match who {
            Some(user) => user,
            None => {
                let username = validate_username(username)?;
                if display_name.trim().is_empty() {
                    return Err(AppError::invalid("display_name", "a name is required"));
                }
                if self.model().user_by_name(&username).is_some() {
                    return Err(AppError::conflict_in(
                        "username",
                        format!(
                            "the username {username:?} is taken; choose another, or sign in and ask to join"
                        ),
                    ));
                }
                let account = AccountRecord {
                    id: UserId::new(),
                    username,
                    display_name: display_name.trim().to_owned(),
                    email: email.trim().to_owned(),
                    practitioner_number: None,
                    created_at: now,
                    credentials: super::accounts::no_credentials(now),
                };
                let id = account_doc(account.id)?;
                self.store()
                    .change(&id, account.id.0, "request account", |tx| {
                        attach_schema::write_account(tx, &account).map_err(AppError::from)
                    })?;
                account.id
            }
        };
        let id = clinic_doc(clinic)?;
        let message = ChangeKind::RequestMembership(user).to_string();
        let m = self.store().change(&id, user.0, &message, |tx| {
            let c = attach_schema::read_clinic(tx)?;
            let m = attach_domain::request_join(&c, user, role, now)?;
            attach_schema::write_membership(tx, &m)?;
            Ok::<_, AppError>(m)
        })?;
        info!(clinic = %clinic, user = %user, "membership requested");
        Ok(m)
    }

    /// Approve, decline, activate or deactivate a membership at one clinic. Approving a
    /// person who has never had a password gives them a temporary one (returned once).
    pub fn member_action(
        &self,
        who: UserId,
        clinic: ClinicId,
        member: UserId,
        action: MemberAction,
    ) -> Result<(MemberView, Option<String>), AppError> {
        let now = self.now();
        let change = ChangeKind::Member(action, member);
        let m = self.change_clinic(who, clinic, change, |c, tx| {
            let m = match action {
                MemberAction::Approve => attach_domain::approve(c, who, member, now)?,
                MemberAction::Decline => attach_domain::decline(c, who, member, now)?,
                MemberAction::Activate => attach_domain::activate(c, who, member, now)?,
                MemberAction::Deactivate => attach_domain::deactivate(c, who, member, now)?,
            };
            attach_schema::write_membership(tx, &m)?;
            if action == MemberAction::Deactivate && c.secondary == Some(member) {
                attach_schema::write_secondary(tx, None)?;
            }
            Ok(m)
        })?;
        let mut temporary = None;
        let account = self.model().accounts.get(&member).cloned();
        if action == MemberAction::Approve
            && let Some(account) = &account
            && account.credentials.is_none()
        {
            let (credentials, temp) =
                Credentials::temporary(now).map_err(|e| AppError::internal("hashing", e))?;
            self.write_credentials(who, member, &credentials, "issue first password")?;
            temporary = Some(temp);
        }
        if action == MemberAction::Deactivate {
            self.withdraw_offers_to(
                who,
                clinic,
                member,
                "the provider no longer works at this clinic",
            )?;
            // Sessions are per person, not per clinic: end them only if the person has no
            // other active membership.
            if !self.has_active_membership(member) {
                self.end_sessions(member)?;
            }
        }
        info!(clinic = %clinic, member = %member, action = ?action, "membership changed");
        let c = self.member_clinic(who, clinic)?;
        let account = self.model().accounts.get(&member).cloned();
        Ok((member_view(&c, &m, account.as_ref()), temporary))
    }

    pub(super) fn has_active_membership(&self, user: UserId) -> bool {
        let model = self.model();
        model.memberships.get(&user).is_some_and(|cs| {
            cs.iter().any(|c| {
                model
                    .clinics
                    .get(c)
                    .is_some_and(|s| s.clinic.is_active_member(user))
            })
        })
    }

    pub(super) fn end_sessions(&self, user: UserId) -> Result<(), AppError> {
        self.inner
            .sessions
            .revoke_user(user.0)
            .map(|_| ())
            .map_err(|e| AppError::internal("ending sessions", e))
    }

    /// An account manager of this clinic gives a member of this clinic a new temporary
    /// password. Returns it once.
    pub fn reset_password(
        &self,
        who: UserId,
        clinic: ClinicId,
        member: UserId,
    ) -> Result<String, AppError> {
        let c = self.member_clinic(who, clinic)?;
        if !c.can_reset_password(who, member) {
            return Err(AppError::forbidden(
                "only this clinic's account managers can reset passwords, only for its members, \
                 and only the primary can reset the primary's",
            ));
        }
        // A login is shared across clinics: a manager here must not be able to take over
        // what the person can do at a clinic this manager does not manage.
        if self.belongs_where_not_manager(who, clinic, member) {
            return Err(AppError::forbidden(
                "this person also belongs to another clinic; an account manager of every clinic \
                 they belong to can reset it, or the node's administrator with \
                 `attach user reset-password`",
            ));
        }
        self.issue_temporary_password(who, member)
    }

    /// Whether `member` belongs (in any state but declined) to a clinic other than `clinic`
    /// where `who` is not an account manager.
    fn belongs_where_not_manager(&self, who: UserId, clinic: ClinicId, member: UserId) -> bool {
        let model = self.model();
        model
            .memberships
            .get(&member)
            .into_iter()
            .flatten()
            .filter(|c| **c != clinic)
            .filter_map(|c| model.clinics.get(c))
            .any(|s| {
                s.clinic
                    .members
                    .get(&member)
                    .is_some_and(|m| m.state != MemberState::Declined)
                    && !s.clinic.is_account_manager(who)
            })
    }

    fn issue_temporary_password(&self, by: UserId, user: UserId) -> Result<String, AppError> {
        let now = self.now();
        let (credentials, temporary) =
            Credentials::temporary(now).map_err(|e| AppError::internal("hashing", e))?;
        self.write_credentials(by, user, &credentials, "reset password")?;
        self.end_sessions(user)?;
        if let Some(account) = self.model().accounts.get(&user) {
            self.inner.throttle.clear(&account.username.to_lowercase());
        }
        info!(user = %user, "password reset");
        Ok(temporary)
    }

    /// `attach user reset-password`: offline, by whoever runs the node.
    pub fn reset_password_offline(&self, username: &str) -> Result<String, AppError> {
        let user = self
            .model()
            .user_by_name(username)
            .map(|a| a.id)
            .ok_or_else(|| AppError::not_found(format!("user {username:?}")))?;
        self.issue_temporary_password(user, user)
    }

    /// The primary account manager hands the role to another active member.
    pub fn handover_primary(
        &self,
        who: UserId,
        clinic: ClinicId,
        to: UserId,
    ) -> Result<Clinic, AppError> {
        let change = ChangeKind::HandOverPrimary(to);
        self.change_clinic(who, clinic, change, |c, tx| {
            let change = attach_domain::handover_primary(c, who, to)?;
            attach_schema::write_primary(tx, change.primary)?;
            attach_schema::write_secondary(tx, change.secondary)?;
            Ok(())
        })?;
        info!(clinic = %clinic, to = %to, "primary account manager handed over");
        self.member_clinic(who, clinic)
    }

    /// The primary assigns (or clears, with `None`) the secondary account manager.
    pub fn set_secondary(
        &self,
        who: UserId,
        clinic: ClinicId,
        to: Option<UserId>,
    ) -> Result<Clinic, AppError> {
        let change = match to {
            Some(to) => ChangeKind::AssignSecondary(to),
            None => ChangeKind::ClearSecondary,
        };
        self.change_clinic(who, clinic, change, |c, tx| {
            let secondary = attach_domain::set_secondary(c, who, to)?;
            attach_schema::write_secondary(tx, secondary)?;
            Ok(())
        })?;
        self.member_clinic(who, clinic)
    }

    pub fn create_status(
        &self,
        who: UserId,
        clinic: ClinicId,
        name: &str,
        definition: &str,
    ) -> Result<StatusDefinition, AppError> {
        let id = StatusId::new();
        let change = ChangeKind::CreateStatus(id);
        self.change_clinic(who, clinic, change, |c, tx| {
            let s = attach_domain::create_status(c, who, id, name, definition)?;
            attach_schema::write_status(tx, &s)?;
            Ok(s)
        })
    }

    pub fn update_status(
        &self,
        who: UserId,
        clinic: ClinicId,
        status: StatusId,
        definition: Option<&str>,
        retire: bool,
    ) -> Result<StatusDefinition, AppError> {
        let change = ChangeKind::UpdateStatus(status);
        self.change_clinic(who, clinic, change, |c, tx| {
            let mut s = match definition {
                Some(d) => attach_domain::edit_status(c, who, status, d)?,
                None => c
                    .statuses
                    .get(&status)
                    .cloned()
                    .ok_or_else(|| AppError::not_found("patient status"))?,
            };
            if retire {
                s = attach_domain::retire_status(c, who, status)?;
                if let Some(d) = definition {
                    s.definition = d.trim().to_owned();
                }
            }
            attach_schema::write_status(tx, &s)?;
            Ok(s)
        })
    }

    pub fn start_delegation(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        delegate: UserId,
    ) -> Result<Delegation, AppError> {
        let now = self.now();
        let id = DelegationId::new();
        let change = ChangeKind::StartDelegation(id);
        self.change_clinic(who, clinic, change, |c, tx| {
            let d = attach_domain::start_delegation(c, id, who, provider, delegate, now)?;
            attach_schema::write_delegation(tx, &d)?;
            Ok(d)
        })
    }

    /// Confirm (the side that did not start it) or revoke (either side, or an account
    /// manager) an endorsement.
    pub fn delegation_action(
        &self,
        who: UserId,
        clinic: ClinicId,
        delegation: DelegationId,
        action: DelegationAction,
    ) -> Result<Delegation, AppError> {
        let now = self.now();
        type Rule = fn(&Clinic, DelegationId, UserId, OffsetDateTime) -> DomainResult;
        type DomainResult = Result<Delegation, attach_domain::DomainError>;
        let (change, rule): (ChangeKind, Rule) = match action {
            DelegationAction::Confirm => (
                ChangeKind::ConfirmDelegation(delegation),
                attach_domain::confirm_delegation,
            ),
            DelegationAction::Revoke => (
                ChangeKind::RevokeDelegation(delegation),
                attach_domain::revoke_delegation,
            ),
        };
        self.change_clinic(who, clinic, change, |c, tx| {
            let d = rule(c, delegation, who, now)?;
            attach_schema::write_delegation(tx, &d)?;
            Ok(d)
        })
    }

    /// Who changed a member's record at this clinic, and when.
    pub fn member_history(
        &self,
        who: UserId,
        clinic: ClinicId,
        member: UserId,
    ) -> Result<Vec<HistoryView>, AppError> {
        let c = self.member_clinic(who, clinic)?;
        if !c.is_account_manager(who) && who != member {
            return Err(AppError::forbidden(
                "only account managers and the member can see a member's history",
            ));
        }
        let items = self.store().history(&clinic_doc(clinic)?)?;
        let mut views = self.history_views(items.into_iter());
        views.retain(|h| h.change.member() == Some(member));
        Ok(views)
    }

    /// Who changed the clinic's details, locations, patient statuses and delegations, and
    /// when, oldest first; any active member may see it. Changes to memberships and to the
    /// account managers are left out: `member_history` shows them, to account managers
    /// and the member.
    pub fn clinic_history(
        &self,
        who: UserId,
        clinic: ClinicId,
    ) -> Result<Vec<HistoryView>, AppError> {
        self.member_clinic(who, clinic)?;
        let items = self.store().history(&clinic_doc(clinic)?)?;
        let mut views = self.history_views(items.into_iter());
        views.retain(|h| h.change.is_clinic_detail());
        Ok(views)
    }

    pub(super) fn history_views(
        &self,
        items: impl Iterator<Item = HistoryItem>,
    ) -> Vec<HistoryView> {
        let model = self.model();
        items
            .map(|i| {
                let user = i.user.map(UserId);
                let message = i.message.unwrap_or_default();
                HistoryView {
                    at: (i.time > 0)
                        .then(|| OffsetDateTime::from_unix_timestamp(i.time).ok())
                        .flatten(),
                    user_name: user
                        .and_then(|u| model.accounts.get(&u))
                        .map(|a| a.display_name.clone()),
                    user,
                    change: ChangeKind::parse(&message),
                    message,
                }
            })
            .collect()
    }
}

pub(super) fn require_manager(c: &Clinic, who: UserId) -> Result<(), AppError> {
    if c.is_account_manager(who) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only the clinic's primary or secondary account manager can do this",
        ))
    }
}

fn member_view(c: &Clinic, m: &Membership, account: Option<&AccountView>) -> MemberView {
    MemberView {
        membership: m.clone(),
        username: account.map(|a| a.username.clone()).unwrap_or_default(),
        display_name: account.map(|a| a.display_name.clone()).unwrap_or_default(),
        email: account.map(|a| a.email.clone()).unwrap_or_default(),
        primary_manager: c.primary == m.user,
        secondary_manager: c.effective_secondary() == Some(m.user),
    }
}
