//! The `account/<user>` document.
//!
//! ```text
//! ROOT: kind "account", schema, id, username, display_name, email,
//!       practitioner_number (text | null), created_at,
//!       credentials: { password_hash, temporary, expires_at (instant | null),
//!                      must_change, changed_at }    -- a group, replaced whole
//! ```

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc, ScalarValue};
use time::OffsetDateTime;

use super::common::{
    Fields, KIND_ACCOUNT, SchemaError, id_value, instant, put_group_if_changed, put_header,
    put_if_changed, put_opt_if_changed, text,
};
use attach_domain::UserId;

/// A login's password state as stored: the auth layer's own type, so what is checked at
/// sign-in and what is written to the document cannot drift apart.
pub use attach_auth::Credentials as StoredCredentials;

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
