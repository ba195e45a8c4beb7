//! The one HTTP error type. Every lower error converts into it; it logs the cause
//! (ids only) and answers with a stable JSON `{ "code", "message", "errors"? }`.

use attach_replication::actions::{NOT_RUNNING, SyncActionError};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use attach_app::{AppError, Problem};

/// The body of every error response from `/api`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation`, `forbidden`, `not_found`.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Per-field (and per-row, for file uploads) problems, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemBody>,
}

/// One problem with one field of the input.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemBody {
    /// 1-based data row of an uploaded file, when the problem is in a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    /// The field (or column) that is wrong.
    pub field: String,
    pub message: String,
}

impl From<&Problem> for ProblemBody {
    fn from(p: &Problem) -> Self {
        Self {
            row: p.row,
            field: p.field.clone(),
            message: p.message.clone(),
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                errors: Vec::new(),
            },
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        let status = match &err {
            AppError::Unauthenticated | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::MustChangePassword | AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            // The cause goes to the log (it names ids, never patient data); the client
            // gets a generic message.
            tracing::error!(error = %err.log_cause(), "request failed");
        } else {
            tracing::debug!(code = err.code(), "request refused");
        }
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "something went wrong on the node (the details are in its log); reload to check whether the change was saved before trying again."
                .to_owned()
        } else {
            err.to_string()
        };
        let errors = match &err {
            AppError::Invalid { problems, .. } => problems.iter().map(ProblemBody::from).collect(),
            _ => Vec::new(),
        };
        let retry_after = match &err {
            AppError::Throttled { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        Self {
            status,
            body: ErrorBody {
                code: err.code(),
                message,
                errors,
            },
            retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<SyncActionError> for ApiError {
    fn from(e: SyncActionError) -> Self {
        match e {
            SyncActionError::NotRunning => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sync_unavailable",
                NOT_RUNNING,
            ),
            SyncActionError::Hub(message) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "hub_unreachable", message)
            }
            SyncActionError::App(e) => e.into(),
        }
    }
}
