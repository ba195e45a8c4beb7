//! The mapping between the plain domain types and the Automerge documents that hold
//! them, at field granularity, and the extraction of concurrent-edit conflicts.
//!
//! Invariant: this module only uses the Automerge document API (`ReadDoc`,
//! `Transactable`); it knows nothing of sled, sync or HTTP.
//! Invariant: a writer given what is already stored makes no operation.
//! Invariant: a nested map is only ever created under a stable unique id, once.

pub mod account;
pub mod clinic;
pub mod clinical;
pub mod common;
pub mod ids;
pub mod matching;
pub mod panel;
pub mod qi;
pub mod settle;
pub mod work;

#[cfg(test)]
mod tests;

pub use account::{
    AccountRecord, StoredCredentials, read_account, write_account, write_credentials,
};
pub use clinic::{
    MEMBER_RECORD, MemberFieldConflict, PRIMARY, SECONDARY, member_field_conflicts, read_clinic,
    register_candidates, resolve_member_field, resolve_register, status_rule_conflicts,
    write_clinic_new, write_delegation, write_location, write_membership, write_primary,
    write_profile, write_secondary, write_status, write_status_rules,
};
pub use common::{
    Candidate, FieldConflict, KIND_ACCOUNT, KIND_CLINIC, KIND_ENTRY, KIND_PANEL, SCHEMA_VERSION,
    SchemaError, StoredValue, field_candidates, resolve_field,
};
pub use ids::{
    Named, account_doc_id, clinic_doc_id, coordinator_doc_id, entry_doc_id, offer_doc_id,
    panel_doc_id, waiting_doc_id,
};
pub use panel::{
    entry_field_conflicts, read_entry, read_panel_provider, read_preferences, resolve_entry_field,
    write_entry, write_preferences,
};
pub use settle::ConflictedField;
