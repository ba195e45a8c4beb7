//! Signing in and out, and the signed-in user's own password.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{AnyUser, Json};
use attach_app::{App, SessionInfo};
use attach_http::HttpOptions;
use uuid::Uuid;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(login, whoami, logout))
        .routes(routes!(change_password))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub session: SessionBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub user: Uuid,
    pub username: String,
    pub display_name: String,
    /// True until a temporary password has been changed; everything else is refused until then.
    pub must_change_password: bool,
    pub memberships: Vec<MembershipBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipBody {
    pub clinic: Uuid,
    pub clinic_name: String,
    /// director, physician, nurse_practitioner, medical_office_assistant or other_staff
    pub role: String,
    /// requested, approved, active, deactivated or declined
    pub state: String,
    pub primary_manager: bool,
    pub secondary_manager: bool,
}

impl From<SessionInfo> for SessionBody {
    fn from(s: SessionInfo) -> Self {
        Self {
            user: s.user.0,
            username: s.username,
            display_name: s.display_name,
            must_change_password: s.must_change_password,
            memberships: s
                .memberships
                .into_iter()
                .map(|m| MembershipBody {
                    clinic: m.clinic.0,
                    clinic_name: m.clinic_name,
                    role: super::snake(&m.role),
                    state: super::snake(&m.state),
                    primary_manager: m.primary_manager,
                    secondary_manager: m.secondary_manager,
                })
                .collect(),
        }
    }
}

/// Sign in. Repeated failures are slowed down and then locked for 15 minutes.
#[utoipa::path(post, path = "/session", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn login(
    State(app): State<App>,
    Extension(options): Extension<HttpOptions>,
    Json(req): Json<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let result = app
        .run(move |app| app.login(&req.username, &req.password))
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        attach_http::session_cookie(&result.token, options.secure_cookies),
    );
    let body = LoginResponse {
        token: result.token,
        session: result.session.into(),
    };
    Ok((headers, axum::Json(body)))
}

/// Who is signed in, and their clinics and roles.
#[utoipa::path(get, path = "/session", tag = "session", security(("bearer" = [])),
    responses((status = 200, body = SessionBody), (status = 401, body = ErrorBody)))]
async fn whoami(
    State(app): State<App>,
    AnyUser(who): AnyUser,
) -> Result<Json<SessionBody>, ApiError> {
    let info = app.run(move |app| app.session_info(who.user)).await?;
    Ok(Json(info.into()))
}

/// Sign out (ends this session only).
#[utoipa::path(delete, path = "/session", tag = "session", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(
    State(app): State<App>,
    Extension(options): Extension<HttpOptions>,
    AnyUser(who): AnyUser,
) -> Result<impl IntoResponse, ApiError> {
    app.run(move |app| app.logout(&who)).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        attach_http::clear_session_cookie(options.secure_cookies),
    );
    Ok((StatusCode::NO_CONTENT, headers))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 12 characters, not containing the username.
    pub new_password: String,
}

/// Change your own password (required after signing in with a temporary one).
#[utoipa::path(post, path = "/session/password", tag = "session", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_password(
    State(app): State<App>,
    AnyUser(who): AnyUser,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    app.run(move |app| app.change_password(&who, &req.current_password, &req.new_password))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
