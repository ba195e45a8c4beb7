//! Account security building blocks: password hashing and rules, temporary passwords,
//! login throttling and sessions.
//!
//! Nothing here reads the clock: every function that depends on time takes `now`, so the
//! whole module is deterministic under test. Nothing here knows about HTTP, clinics'
//! documents or patients; the `app` layer combines these pieces (look up the account,
//! check the throttle, check the password, record the outcome, create the session).
//!
//! **Invariant:** no plain password and no session token is ever stored, logged or shown
//! in an error or `Debug` output. Only Argon2id hashes of passwords and SHA-256 digests of
//! tokens are kept.

pub mod credentials;
pub mod lockout;
pub mod password;
pub mod session;

pub use credentials::{Credentials, LoginOutcome, TEMPORARY_PASSWORD_LIFETIME, check_login};
pub use lockout::{LoginThrottle, ThrottleStore, Throttled};
pub use password::{
    check_new_password, generate_temporary_password, hash_password, needs_rehash, verify_dummy,
    verify_password,
};
pub use session::{Session, SessionConfig, SessionStore};

/// Why an authentication step failed. Messages are meant for the person signing in (or the
/// account manager helping them); none of them contains a password, a hash or a token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Same message whether the username is unknown or the password is wrong, so the
    /// answer does not reveal which accounts exist.
    #[error("the username or password is incorrect")]
    InvalidCredentials,
    #[error("temporary password expired; ask your clinic's account manager for a new one")]
    TemporaryPasswordExpired,
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error("new password: must be at least {min} characters long")]
    PasswordTooShort { min: usize },
    #[error("new password: must be at most {max} characters long")]
    PasswordTooLong { max: usize },
    #[error("new password: must not contain your username")]
    PasswordContainsUsername,
    #[error(
        "new password: too easy to guess (a repeated character, a short repeated pattern or a \
         simple sequence); a few unrelated words make a good password"
    )]
    PasswordTooSimple,
    /// The password hasher failed (bad parameters or out of memory). Carries the hasher's
    /// own message, which never includes the password.
    #[error("could not hash the password: {0}")]
    Hashing(String),
    #[error("session storage failed: {0}")]
    Storage(#[from] attach_store::StoreError),
    #[error("a session record could not be encoded: {0}")]
    SessionRecord(#[from] serde_json::Error),
}
