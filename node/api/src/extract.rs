//! Extractors: the signed-in user from a bearer token or the session cookie, and JSON
//! bodies whose rejections become our JSON errors.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use attach_app::{App, AppError, SignedIn};
use attach_http::{SESSION_COOKIE, cookie_value};

fn token_from(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION)
        && let Ok(value) = value.to_str()
        && let Some(token) = value.strip_prefix("Bearer ")
    {
        return Some(token.trim().to_owned());
    }
    cookie_value(&parts.headers, SESSION_COOKIE)
}

async fn resolve(parts: &Parts, app: &App) -> Result<SignedIn, ApiError> {
    let token = token_from(parts).ok_or(AppError::Unauthenticated)?;
    Ok(app.run(move |app| app.authenticate(&token)).await?)
}

/// A signed-in user who has no pending password change. Use this on every route except
/// the few a user with a temporary password may call.
#[derive(Debug, Clone)]
pub struct User(pub SignedIn);

impl FromRequestParts<App> for User {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let who = resolve(parts, app).await?;
        if who.must_change_password {
            return Err(AppError::MustChangePassword.into());
        }
        Ok(Self(who))
    }
}

/// A signed-in user, even one who must still change a temporary password.
#[derive(Debug, Clone)]
pub struct AnyUser(pub SignedIn);

impl FromRequestParts<App> for AnyUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Self(resolve(parts, app).await?))
    }
}

impl OptionalFromRequestParts<App> for AnyUser {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        app: &App,
    ) -> Result<Option<Self>, Self::Rejection> {
        match token_from(parts) {
            None => Ok(None),
            Some(_) => Ok(Some(Self(resolve(parts, app).await?))),
        }
    }
}

/// `axum::Json` whose rejections (malformed JSON, wrong types, wrong content type) are
/// answered with our JSON error naming what was wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let code = match rejection {
        JsonRejection::JsonDataError(_) => "invalid_body",
        JsonRejection::JsonSyntaxError(_) => "malformed_json",
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        JsonRejection::BytesRejection(_) => "body_too_large",
        _ => "invalid_body",
    };
    ApiError::new(status, code, rejection.body_text())
}

/// `axum::extract::Query` with JSON errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match <axum::extract::Query<T> as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
        {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::new(rejection.status(), "invalid_query", rejection.body_text())
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` with JSON errors (e.g. a malformed id in the URL is a 400).
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match <axum::extract::Path<T> as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
        {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::new(
                rejection.status(),
                "invalid_path",
                rejection.body_text(),
            )),
        }
    }
}

/// The raw request body (file uploads), with a JSON error when it is too large.
#[derive(Debug, Clone, Default)]
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) => Err(ApiError::new(
                rejection.status(),
                "body_too_large",
                format!(
                    "{} (split the file, or ask the node's administrator to raise max_body_bytes)",
                    rejection.body_text()
                ),
            )),
        }
    }
}
