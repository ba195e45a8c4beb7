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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-03-03 09:00 UTC);

    #[test]
    fn temporary_credentials_work_until_exactly_48_hours() {
        let (credentials, plain) = Credentials::temporary(NOW).unwrap();
        assert!(credentials.temporary && credentials.must_change);
        assert_eq!(credentials.expires_at, Some(NOW + Duration::hours(48)));
        assert_eq!(credentials.changed_at, NOW);
        assert!(!credentials.password_hash.contains(&plain));

        let last_moment = NOW + TEMPORARY_PASSWORD_LIFETIME - Duration::nanoseconds(1);
        assert_eq!(
            check_login(&credentials, &plain, last_moment).unwrap(),
            LoginOutcome::MustChangePassword
        );
        let err = check_login(&credentials, &plain, NOW + Duration::hours(48)).unwrap_err();
        assert!(matches!(err, AuthError::TemporaryPasswordExpired));
        assert_eq!(
            err.to_string(),
            "temporary password expired; ask your clinic's account manager for a new one"
        );
        // Someone who does not know the password learns nothing about the expiry.
        let err = check_login(
            &credentials,
            "WRNG-WRNG-WRNG-WRNG",
            NOW + Duration::hours(49),
        )
        .unwrap_err();
        assert!(matches!(err, AuthError::InvalidCredentials));
    }

    #[test]
    fn temporary_password_typed_loosely_is_accepted() {
        let (credentials, plain) = Credentials::temporary(NOW).unwrap();
        let typed = plain.to_lowercase().replace('-', " ");
        assert_eq!(
            check_login(&credentials, &typed, NOW).unwrap(),
            LoginOutcome::MustChangePassword
        );
    }

    #[test]
    fn permanent_credentials() {
        let credentials = Credentials::permanent("correct horse battery staple", NOW).unwrap();
        assert!(!credentials.temporary && !credentials.must_change);
        assert_eq!(credentials.expires_at, None);
        let years_later = NOW + Duration::days(3650);
        assert_eq!(
            check_login(&credentials, "correct horse battery staple", years_later).unwrap(),
            LoginOutcome::Ok
        );
        let err = check_login(&credentials, "correct horse battery", NOW).unwrap_err();
        assert!(matches!(err, AuthError::InvalidCredentials));
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("correct horse"), "{shown}");
        // Loose typing is only for temporary passwords.
        let err = check_login(&credentials, "Correct Horse Battery Staple", NOW).unwrap_err();
        assert!(matches!(err, AuthError::InvalidCredentials));
    }

    #[test]
    fn must_change_flag_forces_a_password_change() {
        let mut credentials = Credentials::permanent("correct horse battery staple", NOW).unwrap();
        credentials.must_change = true;
        assert_eq!(
            check_login(&credentials, "correct horse battery staple", NOW).unwrap(),
            LoginOutcome::MustChangePassword
        );
    }

    #[test]
    fn temporary_without_expiry_fails_closed() {
        let (mut credentials, plain) = Credentials::temporary(NOW).unwrap();
        credentials.expires_at = None;
        assert!(matches!(
            check_login(&credentials, &plain, NOW),
            Err(AuthError::TemporaryPasswordExpired)
        ));
    }

    #[test]
    fn serde_round_trip_and_redacted_debug() {
        let (credentials, _) = Credentials::temporary(NOW).unwrap();
        let json = serde_json::to_string(&credentials).unwrap();
        assert!(
            json.contains("\"expires_at\":\"2025-03-05T09:00:00Z\""),
            "{json}"
        );
        assert!(
            json.contains("\"changed_at\":\"2025-03-03T09:00:00Z\""),
            "{json}"
        );
        let back: Credentials = serde_json::from_str(&json).unwrap();
        assert_eq!(back, credentials);

        let permanent = Credentials::permanent("correct horse battery staple", NOW).unwrap();
        let json = serde_json::to_string(&permanent).unwrap();
        assert!(json.contains("\"expires_at\":null"), "{json}");
        assert_eq!(
            serde_json::from_str::<Credentials>(&json).unwrap(),
            permanent
        );

        let debug = format!("{permanent:?}");
        assert!(!debug.contains(&permanent.password_hash), "{debug}");
        assert!(!debug.contains("argon2"), "{debug}");
    }
}
