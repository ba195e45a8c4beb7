//! Clinic & Provider Registry: profile, locations, members, account managers, patient
//! statuses, delegations, conflicts to review, and member history.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::snake;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{AnyUser, Json, Path, User};
use attach_app::{
    App, AppError, ConflictView, DelegationAction, HistoryView, MemberAction, MemberView,
};
use attach_domain::{
    Address, Clinic, ClinicId, ClinicProfile, DayHours, Delegation, DelegationId, Location,
    LocationId, Role, StatusDefinition, StatusId, UserId,
};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(get_clinic))
        .routes(routes!(update_profile))
        .routes(routes!(save_location))
        .routes(routes!(list_members, add_member))
        .routes(routes!(request_membership))
        .routes(routes!(member_action))
        .routes(routes!(reset_password))
        .routes(routes!(member_history))
        .routes(routes!(handover_primary))
        .routes(routes!(set_secondary))
        .routes(routes!(list_statuses, create_status))
        .routes(routes!(update_status))
        .routes(routes!(list_delegations, start_delegation))
        .routes(routes!(delegation_action))
        .routes(routes!(list_conflicts))
}

// ---------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AddressBody {
    pub street: String,
    pub city: String,
    pub province: String,
    /// Canadian postal code, e.g. "V0J 2N0".
    pub postal_code: String,
}

impl From<Address> for AddressBody {
    fn from(a: Address) -> Self {
        Self {
            street: a.street,
            city: a.city,
            province: a.province,
            postal_code: a.postal_code,
        }
    }
}

impl From<AddressBody> for Address {
    fn from(a: AddressBody) -> Self {
        Self {
            street: a.street,
            city: a.city,
            province: a.province,
            postal_code: a.postal_code,
        }
    }
}

/// Opening hours for one weekday.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursBody {
    /// 1 = Monday … 7 = Sunday. Days not listed are closed.
    pub weekday: u8,
    /// "HH:MM", 24-hour clock, local time.
    pub opens: String,
    pub closes: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    pub name: String,
    pub facility_number: String,
    #[serde(default)]
    pub address: AddressBody,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub fax: String,
    #[serde(default)]
    pub hours: Vec<HoursBody>,
}

const HM: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[hour]:[minute]");

impl From<ClinicProfile> for ProfileBody {
    fn from(p: ClinicProfile) -> Self {
        Self {
            name: p.name,
            facility_number: p.facility_number,
            address: p.address.into(),
            phone: p.phone,
            fax: p.fax,
            hours: p
                .hours
                .into_iter()
                .map(|(weekday, h)| HoursBody {
                    weekday,
                    opens: h.opens.format(HM).unwrap_or_default(),
                    closes: h.closes.format(HM).unwrap_or_default(),
                })
                .collect(),
        }
    }
}

impl TryFrom<ProfileBody> for ClinicProfile {
    type Error = AppError;
    fn try_from(p: ProfileBody) -> Result<Self, AppError> {
        let mut hours = std::collections::BTreeMap::new();
        for (i, h) in p.hours.into_iter().enumerate() {
            let parse = |field: &str, v: &str| {
                time::Time::parse(v, HM).map_err(|_| {
                    AppError::invalid(format!("hours[{i}].{field}"), "use HH:MM, e.g. 08:30")
                })
            };
            let day = DayHours {
                opens: parse("opens", &h.opens)?,
                closes: parse("closes", &h.closes)?,
            };
            if hours.insert(h.weekday, day).is_some() {
                return Err(AppError::invalid(
                    format!("hours[{i}].weekday"),
                    "this weekday is listed twice",
                ));
            }
        }
        Ok(ClinicProfile {
            name: p.name,
            facility_number: p.facility_number,
            address: p.address.into(),
            phone: p.phone,
            fax: p.fax,
            hours,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    /// Omit to create a new location.
    #[serde(default)]
    pub id: Option<Uuid>,
    pub name: String,
    #[serde(default)]
    pub address: AddressBody,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub retired: bool,
}

impl From<Location> for LocationBody {
    fn from(l: Location) -> Self {
        Self {
            id: Some(l.id.0),
            name: l.name,
            address: l.address.into(),
            phone: l.phone,
            retired: l.retired,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicBody {
    pub id: Uuid,
    pub profile: ProfileBody,
    pub locations: Vec<LocationBody>,
    pub primary_manager: Uuid,
    pub secondary_manager: Option<Uuid>,
}

impl From<Clinic> for ClinicBody {
    fn from(c: Clinic) -> Self {
        let secondary = c.effective_secondary();
        Self {
            id: c.id.0,
            profile: c.profile.into(),
            locations: c.locations.into_values().map(Into::into).collect(),
            primary_manager: c.primary.0,
            secondary_manager: secondary.map(|s| s.0),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberBody {
    pub user: Uuid,
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// director, physician, nurse_practitioner, medical_office_assistant, other_staff
    pub role: String,
    /// requested, approved, active, deactivated, declined
    pub state: String,
    pub primary_manager: bool,
    pub secondary_manager: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
    pub changed_by: Uuid,
    /// Shown once, when this action created a temporary password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_password: Option<String>,
}

fn member_body(m: MemberView, temporary_password: Option<String>) -> MemberBody {
    MemberBody {
        user: m.membership.user.0,
        username: m.username,
        display_name: m.display_name,
        email: m.email,
        role: snake(&m.membership.role),
        state: snake(&m.membership.state),
        primary_manager: m.primary_manager,
        secondary_manager: m.secondary_manager,
        since: m.membership.since,
        changed_at: m.membership.changed_at,
        changed_by: m.membership.changed_by.0,
        temporary_password,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// An existing login, or a new one to create (3–64 letters, digits, . - _).
    pub username: String,
    /// Needed when creating a new login.
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    #[schema(value_type = String, example = "physician")]
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipRequest {
    /// For a person without an account; ignored when signed in.
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    #[schema(value_type = String, example = "medical_office_assistant")]
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipResponse {
    pub clinic: Uuid,
    pub user: Uuid,
    pub state: String,
}

#[derive(Debug, Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberActionName {
    Approve,
    Decline,
    Activate,
    Deactivate,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemporaryPasswordBody {
    /// Give this to the person; it works for 48 hours and must be changed at first sign-in.
    pub temporary_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    pub user: Uuid,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionalUserRef {
    /// null to clear.
    pub user: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    pub id: Uuid,
    pub name: String,
    pub definition: String,
    pub retired: bool,
}

impl From<StatusDefinition> for StatusBody {
    fn from(s: StatusDefinition) -> Self {
        Self {
            id: s.id.0,
            name: s.name,
            definition: s.definition,
            retired: s.retired,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStatusRequest {
    pub name: String,
    pub definition: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStatusRequest {
    #[serde(default)]
    pub definition: Option<String>,
    /// Retire the status: it can no longer be given, entries keep it.
    #[serde(default)]
    pub retire: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DelegationBody {
    pub id: Uuid,
    pub provider: Uuid,
    pub delegate: Uuid,
    /// provider or delegate
    pub started_by: String,
    /// pending, active or revoked
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub confirmed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_by: Option<Uuid>,
}

impl From<Delegation> for DelegationBody {
    fn from(d: Delegation) -> Self {
        Self {
            id: d.id.0,
            provider: d.provider.0,
            delegate: d.delegate.0,
            started_by: snake(&d.started_by),
            state: snake(&d.state),
            created_at: d.created_at,
            confirmed_at: d.confirmed_at,
            revoked_at: d.revoked_at,
            revoked_by: d.revoked_by.map(|u| u.0),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartDelegationRequest {
    /// The licensed provider whose panel is delegated.
    pub provider: Uuid,
    /// The staff member who will manage it.
    pub delegate: Uuid,
}

#[derive(Debug, Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DelegationActionName {
    Confirm,
    Revoke,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryBody {
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    pub user: Option<Uuid>,
    pub user_name: Option<String>,
    pub change: String,
}

pub(crate) fn history_body(h: HistoryView) -> HistoryBody {
    HistoryBody {
        at: h.at,
        user: h.user.map(|u| u.0),
        user_name: h.user_name,
        change: h.message,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictBody {
    /// primary_manager, secondary_manager, panel_membership or field
    pub kind: String,
    /// What the clash is about (ids only).
    pub subject: String,
    pub description: String,
    pub values: Vec<ConflictValueBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictValueBody {
    pub value: String,
    pub by: Option<Uuid>,
    pub by_name: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    /// The value every replica settled on.
    pub kept: bool,
}

impl From<ConflictView> for ConflictBody {
    fn from(c: ConflictView) -> Self {
        Self {
            kind: c.kind,
            subject: c.subject,
            description: c.description,
            values: c
                .values
                .into_iter()
                .map(|v| ConflictValueBody {
                    value: v.value,
                    by: v.by.map(|u| u.0),
                    by_name: v.by_name,
                    at: v.at,
                    kept: v.kept,
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// A clinic's profile and managers (members of the clinic only).
#[utoipa::path(get, path = "/clinics/{clinic}", tag = "clinics", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = ClinicBody), (status = 404, body = ErrorBody)))]
async fn get_clinic(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<ClinicBody>, ApiError> {
    let c = app.run(move |app| app.clinic(who.user, clinic)).await?;
    Ok(Json(c.into()))
}

/// Edit name, facility number, address, phone, fax and opening hours (account managers).
#[utoipa::path(put, path = "/clinics/{clinic}/profile", tag = "clinics", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = ProfileBody,
    responses((status = 200, body = ClinicBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_profile(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(body): Json<ProfileBody>,
) -> Result<Json<ClinicBody>, ApiError> {
    let profile = ClinicProfile::try_from(body)?;
    let c = app
        .run(move |app| app.update_profile(who.user, clinic, profile))
        .await?;
    Ok(Json(c.into()))
}

/// Add a location (no id) or change one (account managers).
#[utoipa::path(post, path = "/clinics/{clinic}/locations", tag = "clinics", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = LocationBody,
    responses((status = 200, body = LocationBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_location(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(body): Json<LocationBody>,
) -> Result<Json<LocationBody>, ApiError> {
    let location = Location {
        id: body.id.map(LocationId).unwrap_or_default(),
        name: body.name,
        address: body.address.into(),
        phone: body.phone,
        retired: body.retired,
    };
    let saved = app
        .run(move |app| app.save_location(who.user, clinic, location))
        .await?;
    Ok(Json(saved.into()))
}

/// Members of the clinic with their role and state, including pending requests.
#[utoipa::path(get, path = "/clinics/{clinic}/members", tag = "members", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = [MemberBody]), (status = 404, body = ErrorBody)))]
async fn list_members(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<Vec<MemberBody>>, ApiError> {
    let members = app.run(move |app| app.members(who.user, clinic)).await?;
    Ok(Json(
        members.into_iter().map(|m| member_body(m, None)).collect(),
    ))
}

/// Add a person to the clinic (account managers). A new login gets a temporary password,
/// returned once in `temporary_password`.
#[utoipa::path(post, path = "/clinics/{clinic}/members", tag = "members", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = AddMemberRequest,
    responses((status = 201, body = MemberBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_member(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(req): Json<AddMemberRequest>,
) -> Result<(StatusCode, Json<MemberBody>), ApiError> {
    let (m, temporary) = app
        .run(move |app| {
            app.add_member(
                who.user,
                clinic,
                &req.username,
                &req.display_name,
                &req.email,
                req.role,
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(member_body(m, temporary))))
}

/// Ask to join a clinic: signed in (join another clinic) or as a new person (creates a
/// login without a password; an account manager approves it and hands over a temporary one).
#[utoipa::path(post, path = "/clinics/{clinic}/membership-requests", tag = "members",
    params(("clinic" = Uuid, Path)), request_body = MembershipRequest,
    responses((status = 201, body = MembershipResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn request_membership(
    State(app): State<App>,
    who: Option<AnyUser>,
    Path(clinic): Path<ClinicId>,
    Json(req): Json<MembershipRequest>,
) -> Result<(StatusCode, Json<MembershipResponse>), ApiError> {
    if who
        .as_ref()
        .is_some_and(|AnyUser(w)| w.must_change_password)
    {
        return Err(AppError::MustChangePassword.into());
    }
    let who = who.map(|AnyUser(w)| w.user);
    let m = app
        .run(move |app| {
            app.request_membership(
                who,
                clinic,
                &req.username,
                &req.display_name,
                &req.email,
                req.role,
            )
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MembershipResponse {
            clinic: clinic.0,
            user: m.user.0,
            state: snake(&m.state),
        }),
    ))
}

/// Approve, decline, activate or deactivate a member at this clinic only (account managers).
#[utoipa::path(post, path = "/clinics/{clinic}/members/{user}/{action}", tag = "members", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("user" = Uuid, Path), ("action" = MemberActionName, Path)),
    responses((status = 200, body = MemberBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn member_action(
    State(app): State<App>,
    User(who): User,
    Path((clinic, member, action)): Path<(ClinicId, UserId, MemberActionName)>,
) -> Result<Json<MemberBody>, ApiError> {
    let action = match action {
        MemberActionName::Approve => MemberAction::Approve,
        MemberActionName::Decline => MemberAction::Decline,
        MemberActionName::Activate => MemberAction::Activate,
        MemberActionName::Deactivate => MemberAction::Deactivate,
    };
    let (m, temporary) = app
        .run(move |app| app.member_action(who.user, clinic, member, action))
        .await?;
    Ok(Json(member_body(m, temporary)))
}

/// Give a member a new temporary password (account managers of this clinic).
#[utoipa::path(post, path = "/clinics/{clinic}/members/{user}/password-reset", tag = "members", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("user" = Uuid, Path)),
    responses((status = 200, body = TemporaryPasswordBody), (status = 403, body = ErrorBody)))]
async fn reset_password(
    State(app): State<App>,
    User(who): User,
    Path((clinic, member)): Path<(ClinicId, UserId)>,
) -> Result<Json<TemporaryPasswordBody>, ApiError> {
    let temporary_password = app
        .run(move |app| app.reset_password(who.user, clinic, member))
        .await?;
    Ok(Json(TemporaryPasswordBody { temporary_password }))
}

/// Who changed this member's record at this clinic, and when.
#[utoipa::path(get, path = "/clinics/{clinic}/members/{user}/history", tag = "members", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("user" = Uuid, Path)),
    responses((status = 200, body = [HistoryBody]), (status = 403, body = ErrorBody)))]
async fn member_history(
    State(app): State<App>,
    User(who): User,
    Path((clinic, member)): Path<(ClinicId, UserId)>,
) -> Result<Json<Vec<HistoryBody>>, ApiError> {
    let items = app
        .run(move |app| app.member_history(who.user, clinic, member))
        .await?;
    Ok(Json(items.into_iter().map(history_body).collect()))
}

/// Hand the primary account manager role to another active member (primary only).
#[utoipa::path(put, path = "/clinics/{clinic}/primary-manager", tag = "members", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = UserRef,
    responses((status = 200, body = ClinicBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn handover_primary(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(req): Json<UserRef>,
) -> Result<Json<ClinicBody>, ApiError> {
    let c = app
        .run(move |app| app.handover_primary(who.user, clinic, UserId(req.user)))
        .await?;
    Ok(Json(c.into()))
}

/// Assign or clear the secondary account manager (primary only).
#[utoipa::path(put, path = "/clinics/{clinic}/secondary-manager", tag = "members", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = OptionalUserRef,
    responses((status = 200, body = ClinicBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn set_secondary(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(req): Json<OptionalUserRef>,
) -> Result<Json<ClinicBody>, ApiError> {
    let c = app
        .run(move |app| app.set_secondary(who.user, clinic, req.user.map(UserId)))
        .await?;
    Ok(Json(c.into()))
}

/// Patient statuses this clinic defines (besides active and inactive).
#[utoipa::path(get, path = "/clinics/{clinic}/statuses", tag = "statuses", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = [StatusBody]), (status = 404, body = ErrorBody)))]
async fn list_statuses(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<Vec<StatusBody>>, ApiError> {
    let c = app.run(move |app| app.clinic(who.user, clinic)).await?;
    Ok(Json(c.statuses.into_values().map(Into::into).collect()))
}

/// Define a patient status (account managers).
#[utoipa::path(post, path = "/clinics/{clinic}/statuses", tag = "statuses", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = CreateStatusRequest,
    responses((status = 201, body = StatusBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_status(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(req): Json<CreateStatusRequest>,
) -> Result<(StatusCode, Json<StatusBody>), ApiError> {
    let s = app
        .run(move |app| app.create_status(who.user, clinic, &req.name, &req.definition))
        .await?;
    Ok((StatusCode::CREATED, Json(s.into())))
}

/// Change a status's definition or retire it (account managers).
#[utoipa::path(patch, path = "/clinics/{clinic}/statuses/{status}", tag = "statuses", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("status" = Uuid, Path)), request_body = UpdateStatusRequest,
    responses((status = 200, body = StatusBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_status(
    State(app): State<App>,
    User(who): User,
    Path((clinic, status)): Path<(ClinicId, StatusId)>,
    Json(req): Json<UpdateStatusRequest>,
) -> Result<Json<StatusBody>, ApiError> {
    let s = app
        .run(move |app| {
            app.update_status(
                who.user,
                clinic,
                status,
                req.definition.as_deref(),
                req.retire,
            )
        })
        .await?;
    Ok(Json(s.into()))
}

/// Endorsements at this clinic.
#[utoipa::path(get, path = "/clinics/{clinic}/delegations", tag = "delegations", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = [DelegationBody]), (status = 404, body = ErrorBody)))]
async fn list_delegations(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<Vec<DelegationBody>>, ApiError> {
    let c = app.run(move |app| app.clinic(who.user, clinic)).await?;
    Ok(Json(c.delegations.into_values().map(Into::into).collect()))
}

/// Start an endorsement, as the provider or as the staff member; the other side confirms.
#[utoipa::path(post, path = "/clinics/{clinic}/delegations", tag = "delegations", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = StartDelegationRequest,
    responses((status = 201, body = DelegationBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn start_delegation(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(req): Json<StartDelegationRequest>,
) -> Result<(StatusCode, Json<DelegationBody>), ApiError> {
    let d = app
        .run(move |app| {
            app.start_delegation(who.user, clinic, UserId(req.provider), UserId(req.delegate))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

/// Confirm (the side that did not start it) or revoke (either side) an endorsement.
#[utoipa::path(post, path = "/clinics/{clinic}/delegations/{delegation}/{action}", tag = "delegations", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("delegation" = Uuid, Path), ("action" = DelegationActionName, Path)),
    responses((status = 200, body = DelegationBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delegation_action(
    State(app): State<App>,
    User(who): User,
    Path((clinic, delegation, action)): Path<(ClinicId, DelegationId, DelegationActionName)>,
) -> Result<Json<DelegationBody>, ApiError> {
    let d = app
        .run(move |app| {
            let action = match action {
                DelegationActionName::Confirm => DelegationAction::Confirm,
                DelegationActionName::Revoke => DelegationAction::Revoke,
            };
            app.delegation_action(who.user, clinic, delegation, action)
        })
        .await?;
    Ok(Json(d.into()))
}

/// Clashes that merging offline edits produced, with both sides' values (account managers).
#[utoipa::path(get, path = "/clinics/{clinic}/conflicts", tag = "clinics", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = [ConflictBody]), (status = 403, body = ErrorBody)))]
async fn list_conflicts(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<Vec<ConflictBody>>, ApiError> {
    let items = app.run(move |app| app.conflicts(who.user, clinic)).await?;
    Ok(Json(items.into_iter().map(Into::into).collect()))
}
