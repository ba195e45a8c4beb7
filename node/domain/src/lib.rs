//! Plain types and rules of the registries. No I/O, no async, no storage, no clock:
//! everything here is a pure function of its inputs, and is unit-tested exhaustively.

pub mod clinical;
pub mod conflict;
pub mod delegation;
pub mod error;
pub mod fields;
pub mod ids;
pub mod matching;
pub mod panel;
pub mod phn;
pub mod qi;
pub mod registry;
pub mod review;
pub mod types;
pub mod validate;

#[cfg(test)]
mod tests;

pub use conflict::{
    Conflict, ConflictKind, ConflictValue, kept_entry, manager_conflicts, panel_clashes,
    sort_clash_group,
};
pub use delegation::{confirm_delegation, revoke_delegation, start_delegation};
pub use error::{DomainError, FieldError, Problems};
pub use ids::*;
pub use panel::{add_to_panel, leave_panel, remove_from_panel, transfer_entry};
pub use phn::{Phn, PhnError};
pub use registry::{
    ManagerChange, activate, add_member, approve, check_status_assignable, create_status,
    deactivate, decline, edit_status, handover_primary, request_join, retire_status, set_secondary,
};
pub use review::{
    BuiltinStatus, EntryFacts, HOW_ADDED_ALL, MAX_RULE_AGE, MAX_RULE_MONTHS, MrpState, PanelFilter,
    ReviewQuery, StatusRule, StatusRules, TextQuery, VisitRule, Worklist, age_on, how_added_key,
    months_between,
    msp::{DiffField, Difference, MspPatient, OnlyAttach, Reconciliation, reconcile},
    open_suggestion,
    profile::{
        DEFAULT_WEEKS_PER_YEAR, Pyramid, PyramidBand, SexCounts, SupplyDemand, VisitRateBand,
        VisitRates, pyramid, supply_demand,
    },
    sex_key, suggested_status,
    tasks::{Completion, DueState, Frequency, ReviewTask},
};
pub use types::*;
pub use validate::{PatientInput, practitioner_number, split_languages};
