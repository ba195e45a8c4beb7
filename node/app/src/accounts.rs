//! Signing in and out, sessions, passwords, and creating accounts.

use serde::Serialize;
use time::OffsetDateTime;
use tracing::info;

use super::model::AccountView;
use super::{App, AppError};
use attach_auth::{Credentials, LoginOutcome, Session};
use attach_domain::{ClinicId, Role, UserId};
use attach_schema::AccountRecord;
use attach_store::DocId;

/// The signed-in user of a request, resolved from a session token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: UserId,
    pub token: String,
    pub must_change_password: bool,
    /// The clinic this session last worked in (the web UI's clinic switcher).
    pub clinic: Option<ClinicId>,
}

/// What the web UI's frame shows about the clinic a person is working in: their role
/// there and the panels they may open.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub clinic: ClinicId,
    pub clinic_name: String,
    pub role: Role,
    pub account_manager: bool,
    /// Panels the person may manage here (their own, and those they are endorsed for),
    /// as (provider, display name), their own first.
    pub panels: Vec<(UserId, String)>,
    /// The person's own review tasks here that are due or overdue.
    pub tasks_due: usize,
}

/// What a successful sign-in returns.
#[derive(Debug, Clone)]
pub struct LoginResult {
    pub token: String,
    pub session: SessionInfo,
}

/// Who is signed in and where they belong.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub user: UserId,
    pub username: String,
    pub display_name: String,
    pub must_change_password: bool,
    pub memberships: Vec<MembershipInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MembershipInfo {
    pub clinic: ClinicId,
    pub clinic_name: String,
    pub role: Role,
    pub state: attach_domain::MemberState,
    pub primary_manager: bool,
    pub secondary_manager: bool,
}

/// Who a sign-in is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Login {
    Staff,
    Coordinator,
}

pub(super) fn account_doc(user: UserId) -> Result<DocId, AppError> {
    Ok(attach_schema::account_doc_id(user))
}

/// `coordinator/<user>`: a provincial coordinator's login, at the hub only.
pub(super) fn coordinator_doc(user: UserId) -> Result<DocId, AppError> {
    Ok(attach_schema::coordinator_doc_id(user))
}

impl App {
    /// Checks a username and password and opens a session (clinic staff).
    pub fn login(&self, username: &str, password: &str) -> Result<LoginResult, AppError> {
        self.sign_in(username, password, Login::Staff)
    }

    /// Checks a provincial coordinator's username and password and opens a session (the
    /// hub's web pages). Only coordinator accounts are looked at: clinic staff cannot sign
    /// in at the hub, and a coordinator cannot sign in at a clinic (their account is never
    /// in a clinic's scope).
    pub fn coordinator_login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<LoginResult, AppError> {
        self.sign_in(username, password, Login::Coordinator)
    }

    fn sign_in(
        &self,
        username: &str,
        password: &str,
        kind: Login,
    ) -> Result<LoginResult, AppError> {
        let now = self.now();
        let key = username.trim().to_lowercase();
        self.inner
            .throttle
            .check(&key, now)
            .map_err(|t| AppError::Throttled {
                retry_after_secs: t.retry_after.whole_seconds().max(1) as u64,
            })?;
        let account = match kind {
            Login::Staff => self.model().user_by_name(&key).cloned(),
            Login::Coordinator => {
                let m = self.model();
                m.coordinator_names
                    .get(&key)
                    .and_then(|id| m.coordinators.get(id))
                    .cloned()
            }
        };
        let outcome = match &account {
            Some(account) => match &account.credentials {
                Some(credentials) => attach_auth::check_login(credentials, password, now),
                None => {
                    attach_auth::verify_password(password, attach_auth::password::DUMMY_HASH);
                    Err(attach_auth::AuthError::InvalidCredentials)
                }
            },
            None => {
                // Spend the same time as a real check so timing does not reveal which
                // usernames exist.
                attach_auth::verify_password(password, attach_auth::password::DUMMY_HASH);
                Err(attach_auth::AuthError::InvalidCredentials)
            }
        };
        let account = match (outcome, account) {
            (Ok(outcome), Some(account)) => {
                self.inner.throttle.record_success(&key);
                (outcome, account)
            }
            (Err(attach_auth::AuthError::InvalidCredentials), _) | (Ok(_), None) => {
                self.inner.throttle.record_failure(&key, now);
                info!("sign-in refused");
                return Err(AppError::BadCredentials);
            }
            (Err(other), _) => {
                self.inner.throttle.record_failure(&key, now);
                return Err(AppError::forbidden(other.to_string()));
            }
        };
        let (outcome, account) = account;
        let must_change = matches!(outcome, LoginOutcome::MustChangePassword);
        if kind == Login::Staff && !self.has_usable_membership(account.id) {
            return Err(AppError::forbidden(
                "your account is not active at any clinic; ask your clinic's account manager",
            ));
        }
        let sessions = &self.inner.sessions;
        let (token, _session) = sessions
            .create(account.id.0, now)
            .map_err(|e| AppError::internal("creating session", e))?;
        if must_change {
            sessions
                .set_must_change(&token, true)
                .map_err(|e| AppError::internal("updating session", e))?;
        }
        info!(user = %account.id, "signed in");
        Ok(LoginResult {
            token,
            session: self.session_info(account.id)?,
        })
    }

    fn has_usable_membership(&self, user: UserId) -> bool {
        let model = self.model();
        model.memberships.get(&user).is_some_and(|clinics| {
            clinics.iter().any(|c| {
                model
                    .clinics
                    .get(c)
                    .is_some_and(|s| s.clinic.is_active_member(user))
            })
        })
    }

    /// Resolves a session token to the signed-in user, ending idle sessions.
    pub fn authenticate(&self, token: &str) -> Result<SignedIn, AppError> {
        let now = self.now();
        let session: Session = self
            .inner
            .sessions
            .get(token, now)
            .ok_or(AppError::Unauthenticated)?;
        Ok(SignedIn {
            user: UserId(session.user),
            token: token.to_owned(),
            must_change_password: session.must_change_password,
            clinic: session.clinic.map(ClinicId),
        })
    }

    /// Remembers the clinic a session works in, if the person is an active member there.
    pub fn choose_clinic(&self, who: &SignedIn, clinic: ClinicId) -> Result<(), AppError> {
        self.member_clinic(who.user, clinic)?;
        if who.clinic != Some(clinic) {
            self.inner
                .sessions
                .set_clinic(&who.token, Some(clinic.0))
                .map_err(|e| AppError::internal("updating session", e))?;
        }
        Ok(())
    }

    /// The person's place in one clinic (not found unless they are an active member).
    pub fn workspace(&self, who: UserId, clinic: ClinicId) -> Result<Workspace, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let model = self.model();
        let name = |u: UserId| {
            model
                .accounts
                .get(&u)
                .map_or_else(|| u.to_string(), |a| a.display_name.clone())
        };
        let mut panels: Vec<(UserId, String)> = c
            .providers()
            .filter(|m| c.can_manage_panel(who, m.user))
            .map(|m| (m.user, name(m.user)))
            .collect();
        panels.sort_by(|a, b| (a.0 != who, &a.1).cmp(&(b.0 != who, &b.1)));
        Ok(Workspace {
            clinic,
            clinic_name: c.profile.name.clone(),
            role: c
                .role_of(who)
                .ok_or_else(|| AppError::not_found("clinic"))?,
            account_manager: c.is_account_manager(who),
            panels,
            tasks_due: self.my_tasks_due(who, clinic),
        })
    }

    pub fn logout(&self, who: &SignedIn) -> Result<(), AppError> {
        self.inner
            .sessions
            .revoke(&who.token)
            .map(|_| ())
            .map_err(|e| AppError::internal("revoking session", e))
    }

    pub fn session_info(&self, user: UserId) -> Result<SessionInfo, AppError> {
        let (account, _) = self
            .login_account(user)
            .ok_or_else(|| AppError::not_found("account"))?;
        let model = self.model();
        let mut memberships = Vec::new();
        for clinic_id in model.memberships.get(&user).into_iter().flatten() {
            let Some(state) = model.clinics.get(clinic_id) else {
                continue;
            };
            let Some(m) = state.clinic.members.get(&user) else {
                continue;
            };
            memberships.push(MembershipInfo {
                clinic: *clinic_id,
                clinic_name: state.clinic.profile.name.clone(),
                role: m.role,
                state: m.state,
                primary_manager: state.clinic.primary == user,
                secondary_manager: state.clinic.effective_secondary() == Some(user),
            });
        }
        Ok(SessionInfo {
            user,
            username: account.username.clone(),
            display_name: account.display_name.clone(),
            must_change_password: account.credentials.as_ref().is_some_and(|c| c.must_change),
            memberships,
        })
    }

    /// Changes the signed-in user's own password (required after a temporary one).
    pub fn change_password(
        &self,
        who: &SignedIn,
        current: &str,
        new: &str,
    ) -> Result<(), AppError> {
        let now = self.now();
        let (account, _) = self
            .login_account(who.user)
            .ok_or_else(|| AppError::not_found("account"))?;
        let credentials = account
            .credentials
            .as_ref()
            .ok_or(AppError::BadCredentials)?;
        // An expired temporary password still proves who is changing it within the session.
        if !attach_auth::verify_password(current, &credentials.password_hash) {
            return Err(AppError::invalid(
                "current_password",
                "the current password is wrong",
            ));
        }
        attach_auth::check_new_password(new, &account.username)
            .map_err(|e| AppError::invalid("new_password", e.to_string()))?;
        if attach_auth::verify_password(new, &credentials.password_hash) {
            return Err(AppError::invalid(
                "new_password",
                "choose a password different from the current one",
            ));
        }
        let fresh =
            Credentials::permanent(new, now).map_err(|e| AppError::internal("hashing", e))?;
        self.write_credentials(who.user, who.user, &fresh, "change password")?;
        self.inner
            .sessions
            .set_must_change(&who.token, false)
            .map(|_| ())
            .map_err(|e| AppError::internal("updating session", e))?;
        info!(user = %who.user, "password changed");
        Ok(())
    }

    pub(super) fn write_credentials(
        &self,
        by: UserId,
        user: UserId,
        credentials: &Credentials,
        message: &str,
    ) -> Result<(), AppError> {
        let id = match self.login_account(user) {
            Some((_, doc)) => doc,
            None => account_doc(user)?,
        };
        self.store().change(&id, by.0, message, |tx| {
            attach_schema::write_credentials(tx, credentials).map_err(AppError::from)
        })?;
        Ok(())
    }

    /// The account `user` signs in with, and its document: a coordinator's own document
    /// first (at the hub a clinic could make an `account/` document with any id, so a
    /// coordinator's session must never resolve to one), else their clinic account.
    pub(super) fn login_account(&self, user: UserId) -> Option<(AccountView, DocId)> {
        let m = self.model();
        if let Some(a) = m.coordinators.get(&user) {
            return Some((a.clone(), coordinator_doc(user).ok()?));
        }
        let a = m.accounts.get(&user)?.clone();
        Some((a, account_doc(user).ok()?))
    }

    /// Creates an account with a temporary password. Returns the account and the
    /// temporary password, which is shown once and never stored in clear.
    pub(super) fn create_account(
        &self,
        by: UserId,
        username: &str,
        display_name: &str,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<(AccountView, String), AppError> {
        self.create_account_as(by, UserId::new(), username, display_name, email, now)
    }

    /// As `create_account`, with the new account's id chosen by the caller (a clinic's
    /// first director creates their own account).
    pub(super) fn create_account_as(
        &self,
        by: UserId,
        id: UserId,
        username: &str,
        display_name: &str,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<(AccountView, String), AppError> {
        self.create_login(
            by,
            id,
            username,
            display_name,
            email,
            now,
            &account_doc(id)?,
        )
    }

    /// Writes a new login (account fields and a temporary password) into `doc`.
    #[allow(clippy::too_many_arguments)] // Each is a distinct field of the new login.
    pub(super) fn create_login(
        &self,
        by: UserId,
        id: UserId,
        username: &str,
        display_name: &str,
        email: &str,
        now: OffsetDateTime,
        doc: &DocId,
    ) -> Result<(AccountView, String), AppError> {
        let username = validate_username(username)?;
        if display_name.trim().is_empty() {
            return Err(AppError::invalid("display_name", "a name is required"));
        }
        let taken = {
            let m = self.model();
            m.user_by_name(&username).is_some() || m.coordinator_names.contains_key(&username)
        };
        if taken {
            return Err(AppError::conflict_in(
                "username",
                format!("the username {username:?} is taken; choose another"),
            ));
        }
        let (credentials, temporary) =
            Credentials::temporary(now).map_err(|e| AppError::internal("hashing", e))?;
        let record = AccountRecord {
            id,
            username,
            display_name: display_name.trim().to_owned(),
            email: email.trim().to_owned(),
            practitioner_number: None,
            created_at: now,
            credentials,
        };
        self.store().change(doc, by.0, "create account", |tx| {
            attach_schema::write_account(tx, &record).map_err(AppError::from)
        })?;
        Ok((record.into(), temporary))
    }
}

/// Credentials of a person who has asked to join but has no password yet: an empty hash,
/// which no password verifies against.
pub(super) fn no_credentials(now: OffsetDateTime) -> attach_schema::StoredCredentials {
    attach_schema::StoredCredentials {
        password_hash: String::new(),
        temporary: false,
        expires_at: None,
        must_change: true,
        changed_at: now,
    }
}

/// Usernames: 3–64 characters of letters, digits, dot, dash, underscore; case-insensitive.
pub fn validate_username(raw: &str) -> Result<String, AppError> {
    let name = raw.trim().to_lowercase();
    if !(3..=64).contains(&name.chars().count()) {
        return Err(AppError::invalid(
            "username",
            "a username is 3 to 64 characters long",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(AppError::invalid(
            "username",
            "a username may contain only letters, digits, '.', '-' and '_'",
        ));
    }
    Ok(name)
}
