//! The JSON API under `/api/v1`, one module per area.

pub mod error;
pub mod extract;

mod clinical;
mod clinics;
mod coding;
mod moves;
mod offers;
mod panels;
mod profile;
mod qi;
mod review;
mod session;
mod sync;

use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;

use attach_app::App;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .merge(session::routes())
        .merge(clinics::routes())
        .merge(panels::routes())
        .merge(review::routes())
        .merge(profile::routes())
        .merge(clinical::routes())
        .merge(coding::routes())
        .merge(qi::routes())
        .merge(offers::routes())
        .merge(moves::routes())
        .merge(sync::routes())
}

/// The wire name of a unit enum variant (its serde `snake_case` name).
fn snake<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A file to download: its bytes with their type and a file name.
fn attachment(
    bytes: Vec<u8>,
    kind: &'static str,
    file_name: &str,
) -> (axum::http::HeaderMap, Vec<u8>) {
    use axum::http::{HeaderValue, header};
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    (headers, bytes)
}
