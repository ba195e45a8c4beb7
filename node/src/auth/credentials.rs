//! What is stored about one login's password, and the sign-in decision on it.
//!
//! Plain data: the `account/<user-id>` document code stores a [`Credentials`] and calls
//! [`check_login`]; throttling and sessions are separate ([`super::lockout`],
//! [`super::session`]).

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::AuthError;
use super::password::{
    generate_temporary_password, hash_password, normalize_temporary_password, verify_password,
};

/// How long a temporary password (set by an account manager) can be used to sign in.
pub const TEMPORARY_PASSWORD_LIFETIME: Duration = Duration::hours(48);

/// A login's password as stored in its account document.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Argon2id PHC string; never the password.
    pub password_hash: String,
    /// Set by an account manager (or at account creation) rather than chosen by the user.
    pub temporary: bool,
    /// When a temporary password stops working; `None` for a chosen password.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The user must choose a new password before doing anything else.
    pub must_change: bool,
    /// When this password was set.
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("password_hash", &"<redacted>")
            .field("temporary", &self.temporary)
            .field("expires_at", &self.expires_at)
            .field("must_change", &self.must_change)
            .field("changed_at", &self.changed_at)
            .finish()
    }
}

/// A successful password check, and what the user must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in.
    Ok,
    /// Signed in, but the only thing the session may do is set a new password.
    MustChangePassword,
}

impl Credentials {
    /// New temporary credentials, valid for [`TEMPORARY_PASSWORD_LIFETIME`] from `now` and
    /// to be changed at first sign-in. Returns the plain password too, to be shown once to
    /// the account manager and never stored.
    pub fn temporary(now: OffsetDateTime) -> Result<(Credentials, String), AuthError> {
        let plain = generate_temporary_password();
        let credentials = Credentials {
            password_hash: hash_password(&plain)?,
            temporary: true,
            expires_at: Some(now + TEMPORARY_PASSWORD_LIFETIME),
            must_change: true,
            changed_at: now,
        };
        Ok((credentials, plain))
    }

    /// Credentials for a password the user chose. The caller checks it first with
    /// [`super::check_new_password`] (which needs the username).
    pub fn permanent(password: &str, now: OffsetDateTime) -> Result<Credentials, AuthError> {
        Ok(Credentials {
            password_hash: hash_password(password)?,
            temporary: false,
            expires_at: None,
            must_change: false,
            changed_at: now,
        })
    }

    /// Whether these are temporary credentials that no longer work at `now`. A temporary
    /// password is valid while `now < expires_at`; one without an expiry (inconsistent
    /// data) counts as expired.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.temporary && self.expires_at.is_none_or(|expires_at| now >= expires_at)
    }
}

/// Checks a sign-in `password` against stored `credentials` at `now`.
///
/// The password is always verified first, so an expired temporary password is only
/// reported as expired to someone who knows it; anyone else gets
/// [`AuthError::InvalidCredentials`]. Temporary passwords are accepted however they were
/// typed (lower case, spaces instead of dashes). Throttling is the caller's job
/// ([`super::ThrottleStore`]), before calling this.
pub fn check_login(
    credentials: &Credentials,
    password: &str,
    now: OffsetDateTime,
) -> Result<LoginOutcome, AuthError> {
    let candidate = if credentials.temporary {
        normalize_temporary_password(password).unwrap_or_else(|| password.to_owned())
    } else {
        password.to_owned()
    };
    if !verify_password(&candidate, &credentials.password_hash) {
        return Err(AuthError::InvalidCredentials);
    }
    if credentials.is_expired(now) {
        return Err(AuthError::TemporaryPasswordExpired);
    }
    if credentials.must_change || credentials.temporary {
        Ok(LoginOutcome::MustChangePassword)
    } else {
        Ok(LoginOutcome::Ok)
    }
}
