//! The `account/<user>` document.
//!
//! ```text
//! ROOT: kind "account", schema, id, username, display_name, email,
//!       practitioner_number (text | null), created_at,
//!       credentials: { password_hash, temporary, expires_at (instant | null),
//!                      must_change, changed_at }    -- a group, replaced whole
//! ```

use std::fmt;

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc, ScalarValue};
use time::OffsetDateTime;

use super::common::{
    Fields, KIND_ACCOUNT, SchemaError, id_value, instant, put_group_if_changed, put_header,
    put_if_changed, put_opt_if_changed, text,
};
use crate::domain::UserId;

/// A login's password state as stored. `Debug` hides the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// A PHC-format password hash (argon2).
    pub password_hash: String,
    /// Set by an account manager for a first or reset login, rather than chosen by the user.
    pub temporary: bool,
    /// When a temporary password stops working.
    pub expires_at: Option<OffsetDateTime>,
    /// The user must choose a new password at the next sign-in.
    pub must_change: bool,
    pub changed_at: OffsetDateTime,
}

impl fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("password_hash", &"<redacted>")
            .field("temporary", &self.temporary)
            .field("expires_at", &self.expires_at)
            .field("must_change", &self.must_change)
            .field("changed_at", &self.changed_at)
            .finish()
    }
}

/// One person's account (one `account/<user>` document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// The college registration number of a licensed provider.
    pub practitioner_number: Option<String>,
    pub created_at: OffsetDateTime,
    pub credentials: StoredCredentials,
}

pub fn read_account(doc: &impl ReadDoc) -> Result<AccountRecord, SchemaError> {
    let f = Fields::root(doc, KIND_ACCOUNT)?;
    Ok(AccountRecord {
        id: f.id("id")?,
        username: f.str("username")?,
        display_name: f.str("display_name")?,
        email: f.str("email")?,
        practitioner_number: f.opt_str("practitioner_number")?,
        created_at: f.instant("created_at")?,
        credentials: {
            let c = f.map("credentials")?;
            StoredCredentials {
                password_hash: c.str("password_hash")?,
                temporary: c.bool("temporary")?,
                expires_at: c.opt_instant("expires_at")?,
                must_change: c.bool("must_change")?,
                changed_at: c.instant("changed_at")?,
            }
        },
    })
}

/// Writes the account fields that differ (all of them on a new document).
pub fn write_account<T: Transactable>(tx: &mut T, a: &AccountRecord) -> Result<(), SchemaError> {
    put_header(tx, KIND_ACCOUNT)?;
    put_if_changed(tx, &ROOT, "id", id_value(a.id.0))?;
    put_if_changed(tx, &ROOT, "username", text(&a.username))?;
    put_if_changed(tx, &ROOT, "display_name", text(&a.display_name))?;
    put_if_changed(tx, &ROOT, "email", text(&a.email))?;
    put_opt_if_changed(
        tx,
        &ROOT,
        "practitioner_number",
        a.practitioner_number.as_deref().map(text),
    )?;
    put_if_changed(tx, &ROOT, "created_at", instant(a.created_at))?;
    write_credentials(tx, &a.credentials)
}

/// Writes the credentials as one group: if any field differs the whole group is
/// replaced, so two concurrent password changes resolve to one side's hash *and* flags.
pub fn write_credentials<T: Transactable>(
    tx: &mut T,
    c: &StoredCredentials,
) -> Result<(), SchemaError> {
    let mut fields = vec![
        ("password_hash", text(&c.password_hash)),
        ("temporary", ScalarValue::Boolean(c.temporary)),
        ("must_change", ScalarValue::Boolean(c.must_change)),
        ("changed_at", instant(c.changed_at)),
    ];
    if let Some(t) = c.expires_at {
        fields.push(("expires_at", instant(t)));
    }
    put_group_if_changed(tx, &ROOT, "credentials", Some(fields))?;
    Ok(())
}
