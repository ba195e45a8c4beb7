//! The registry's plain data types. The rules that change them live in the sibling
//! modules; how they are stored in Automerge documents lives in `attach_schema`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, Time, Weekday};

use super::ids::{ClinicId, DelegationId, EntryId, LocationId, StatusId, UserId};
use super::phn::Phn;

// ---------------------------------------------------------------------------
// Clinic & Provider Registry
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub province: String,
    pub postal_code: String,
}

/// Opening hours on one weekday; a day with no entry is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayHours {
    pub opens: Time,
    pub closes: Time,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClinicProfile {
    pub name: String,
    /// The facility number issued by the health authority (MSP facility id).
    pub facility_number: String,
    pub address: Address,
    pub phone: String,
    pub fax: String,
    /// Keyed by weekday number, Monday = 1 … Sunday = 7.
    pub hours: BTreeMap<u8, DayHours>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub id: LocationId,
    pub name: String,
    pub address: Address,
    pub phone: String,
    pub retired: bool,
}

/// What a person does at one clinic. The primary and secondary account managers are
/// not roles: they are two fields of the clinic (`Clinic::primary`, `Clinic::secondary`),
/// so "exactly one primary" holds by construction, even across merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Clinic director or office manager without a clinical licence.
    Director,
    Physician,
    NursePractitioner,
    MedicalOfficeAssistant,
    OtherStaff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    Requested,
    Approved,
    Active,
    Deactivated,
    /// A join request that an account manager turned down.
    Declined,
}

/// One person's membership of one clinic. A person may hold memberships at several
/// clinics, each with its own role and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub user: UserId,
    pub role: Role,
    pub state: MemberState,
    pub since: OffsetDateTime,
    pub changed_at: OffsetDateTime,
    pub changed_by: UserId,
}

/// Which side of an endorsement started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Provider,
    Delegate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelegationState {
    /// Started by one side, waiting for the other side to confirm.
    Pending,
    Active,
    Revoked,
}

/// A licensed provider's endorsement of a staff member to manage the provider's panel
/// and match requests at one clinic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    pub id: DelegationId,
    pub provider: UserId,
    pub delegate: UserId,
    pub started_by: Side,
    pub state: DelegationState,
    pub created_at: OffsetDateTime,
    pub confirmed_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_by: Option<UserId>,
}

/// A patient status a clinic defines beside the built-in active and inactive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDefinition {
    pub id: StatusId,
    pub name: String,
    pub definition: String,
    pub retired: bool,
}

/// The merged state of one clinic document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clinic {
    pub id: ClinicId,
    pub profile: ClinicProfile,
    pub locations: BTreeMap<LocationId, Location>,
    pub members: BTreeMap<UserId, Membership>,
    /// The primary account manager (the clinic's director in the provincial system).
    pub primary: UserId,
    pub secondary: Option<UserId>,
    pub statuses: BTreeMap<StatusId, StatusDefinition>,
    /// The clinic's written status definitions and rules (panel review).
    #[serde(default)]
    pub status_rules: super::review::StatusRules,
    pub delegations: BTreeMap<DelegationId, Delegation>,
}

// ---------------------------------------------------------------------------
// Patient Panel Registry
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    /// Intersex, non-binary or "X" on the health card.
    X,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum PatientStatus {
    Active,
    Inactive,
    /// A clinic-defined status.
    Custom(StatusId),
}

impl PatientStatus {
    /// The status as one URL- and form-safe word: `active`, `inactive`, or the
    /// clinic-defined status's id. The inverse of [`PatientStatus::from_key`].
    pub fn key(&self) -> String {
        match self {
            Self::Active => "active".to_owned(),
            Self::Inactive => "inactive".to_owned(),
            Self::Custom(id) => id.to_string(),
        }
    }

    /// Reads a [`PatientStatus::key`] (as a query parameter or form field carries it).
    pub fn from_key(raw: &str) -> Option<Self> {
        match raw.trim() {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            other => other.parse::<StatusId>().ok().map(Self::Custom),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HowAdded {
    Manual,
    CsvUpload,
    FhirUpload,
    /// Attached through a provincial match.
    Match,
    /// Moved from another provider's panel at the clinic (a provider left or stopped).
    Transfer,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub phone: String,
    pub email: String,
    pub address: Address,
}

/// Who confirmed that this provider is the patient's most responsible provider, and when.
/// Empanelment needs both sides: the provider's confirmation (`PanelEntry::mrp`) and the
/// patient's (`EntryReview::patient_mrp`, recorded by the staff member who heard it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrpConfirmation {
    pub at: OffsetDateTime,
    pub by: UserId,
    /// How the confirmation was given; `None` for confirmations recorded before Attach
    /// asked.
    #[serde(default)]
    pub how: Option<ConfirmMethod>,
}

/// How one side confirmed the most-responsible-provider relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmMethod {
    InPerson,
    Phone,
    Portal,
    Letter,
}

impl ConfirmMethod {
    pub const ALL: [Self; 4] = [Self::InPerson, Self::Phone, Self::Portal, Self::Letter];

    /// The word stored and used in forms and the API (`in_person`, `phone`…).
    pub fn key(self) -> &'static str {
        match self {
            Self::InPerson => "in_person",
            Self::Phone => "phone",
            Self::Portal => "portal",
            Self::Letter => "letter",
        }
    }

    pub fn from_key(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.key() == raw.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::InPerson => "in person",
            Self::Phone => "by phone",
            Self::Portal => "through the patient portal",
            Self::Letter => "by letter",
        }
    }
}

/// A person's check of something on an entry, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub at: OffsetDateTime,
    pub by: UserId,
}

/// A suggested status change someone looked at and turned down. The suggestion stays
/// hidden while the rules suggest this same status; a different suggestion shows again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dismissal {
    pub status: PatientStatus,
    pub at: OffsetDateTime,
    pub by: UserId,
}

/// What panel review records on an entry besides its details.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryReview {
    /// The patient's side of the MRP confirmation.
    #[serde(default)]
    pub patient_mrp: Option<MrpConfirmation>,
    /// The contact details were checked with the patient.
    #[serde(default)]
    pub contact_verified: Option<Stamp>,
    /// The last suggested status change dismissed.
    #[serde(default)]
    pub dismissed: Option<Dismissal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub at: OffsetDateTime,
    pub by: UserId,
    pub reason: String,
    /// Where the patient went.
    #[serde(default)]
    pub disposition: Disposition,
}

/// Where a patient taken off a panel went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Disposition {
    /// Off the panel (moved away, left the practice, a clash settled…).
    #[default]
    Left,
    /// To another provider's panel at the same clinic (a new entry, how added "transfer").
    Transferred { to: UserId },
    /// Back to the provincial waitlist: the hub registers them again at its next round.
    ReturnToWaitlist,
}

/// The patient details that a person types or a file carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientDetails {
    pub phn: Phn,
    pub family_name: String,
    pub given_names: String,
    pub date_of_birth: Date,
    pub sex: Sex,
    pub contact: Contact,
    pub community: String,
    pub last_visit: Option<Date>,
}

/// One patient on one provider's panel (one `panel/<provider>/<entry>` document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelEntry {
    pub id: EntryId,
    pub provider: UserId,
    /// The clinic through which the patient was added; "one panel per clinic" is checked per clinic.
    pub clinic: ClinicId,
    pub details: PatientDetails,
    pub status: PatientStatus,
    pub mrp: Option<MrpConfirmation>,
    pub added_at: OffsetDateTime,
    pub added_by: UserId,
    pub how_added: HowAdded,
    /// Panel review's records: the patient's MRP confirmation, contact check, dismissals.
    #[serde(default)]
    pub review: EntryReview,
    /// Set when the patient was taken off the panel; the entry and its history stay.
    pub removed: Option<Removal>,
}

/// A provider's panel preferences (the `panel/<provider>` document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelPreferences {
    pub accepting_new_patients: bool,
    /// How many new patients a month the provider will take.
    pub monthly_capacity: u32,
    pub desired_panel_size: u32,
    /// How many match requests may be open at once.
    pub max_open_requests: u32,
    /// Languages the provider sees patients in, as written (compared case-insensitively);
    /// empty means English only.
    #[serde(default)]
    pub languages: std::collections::BTreeSet<String>,
    /// The provider's MSP practitioner number (5 letters or digits, upper case), for billing
    /// the attachment fee code.
    #[serde(default)]
    pub practitioner_number: Option<String>,
}

impl Default for PanelPreferences {
    fn default() -> Self {
        Self {
            accepting_new_patients: false,
            monthly_capacity: 0,
            desired_panel_size: 1_250,
            max_open_requests: 0,
            languages: std::collections::BTreeSet::new(),
            practitioner_number: None,
        }
    }
}

/// Weekday number as stored (Monday = 1).
pub fn weekday_number(d: Weekday) -> u8 {
    d.number_from_monday()
}
