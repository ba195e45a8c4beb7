//! The clinic web UI: server-rendered HTML pages for every registry task, served by the
//! node itself to browsers on the clinic LAN.
//!
//! - Templates are askama files in `web-ui/templates`, compiled into the binary (output is
//!   escaped by default); CSS and JavaScript are files in `web-ui/static`, embedded and
//!   served with long-lived cache headers (`assets`). htmx is vendored there; every page
//!   also works without JavaScript for reading and for plain forms.
//! - Pages call the same app functions as the JSON API and never touch storage.
//! - Security: `HttpOnly`, `SameSite=Strict` cookies (`Secure` over TLS); a CSRF token on
//!   every state-changing form (`csrf`); a strict Content-Security-Policy with no inline
//!   script or style (`security_headers`); sign-in is rate-limited by the app.

mod assets;
mod auth_pages;
pub mod csrf;
mod error;
mod frame;
mod hub;
mod join;
pub(crate) mod offers;
mod panel;
mod qi;
mod registry;
mod sync;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

pub use error::{WebError, error_page};
pub use frame::{AnyViewer, Frame, Layout, Viewer};
pub use hub::province_html;

use attach_app::{App, Problem};

/// Roles as forms name them (the add-member and join forms).
pub(crate) const ROLES: &[(&str, attach_domain::Role)] = &[
    ("physician", attach_domain::Role::Physician),
    ("nurse_practitioner", attach_domain::Role::NursePractitioner),
    (
        "medical_office_assistant",
        attach_domain::Role::MedicalOfficeAssistant,
    ),
    ("other_staff", attach_domain::Role::OtherStaff),
    ("director", attach_domain::Role::Director),
];

/// State of the web routes.
#[derive(Debug, Clone)]
pub struct Web {
    pub app: App,
    /// Mark cookies `Secure` (the node is reached over HTTPS).
    pub secure_cookies: bool,
    /// These are the hub's pages for provincial coordinators (`hub_routes`): sign-in
    /// checks coordinator logins only, and the frame is the hub's.
    pub hub: bool,
}

/// The web UI's routes, ready to merge into the node's router.
pub fn routes(app: App, secure_cookies: bool) -> Router {
    let web = Web {
        app,
        secure_cookies,
        hub: false,
    };
    session_routes()
        .route("/", get(auth_pages::home))
        .route("/switch", get(auth_pages::switch))
        .route("/join", get(join::form).post(join::submit))
        .route("/c/{clinic}", get(auth_pages::clinic_home))
        .merge(registry::routes())
        .merge(panel::routes())
        .merge(sync::routes())
        .merge(offers::routes())
        .layer(middleware::from_fn(security_headers))
        .with_state(web)
}

/// Signing in and out, changing a password, and the static files: the same for a clinic
/// node's pages and the hub's.
fn session_routes() -> Router<Web> {
    Router::new()
        .route(
            "/login",
            get(auth_pages::login_form).post(auth_pages::login),
        )
        .route("/logout", post(auth_pages::logout))
        .route(
            "/password",
            get(auth_pages::password_form).post(auth_pages::change_password),
        )
        .route("/static/{file}", get(assets::serve))
}

/// The hub's web pages for provincial coordinators, served by `attach hub` on its own
/// listener: the waitlist, registering and importing people, matching rounds, offers out
/// and the provincial view. Same sign-in, CSRF and security headers as a clinic's pages;
/// only coordinator logins sign in here.
pub fn hub_routes(app: App, secure_cookies: bool) -> Router {
    let web = Web {
        app,
        secure_cookies,
        hub: true,
    };
    session_routes()
        .merge(hub::routes())
        .layer(middleware::from_fn(security_headers))
        .with_state(web)
}

/// The Content-Security-Policy of every page: scripts, styles and images only from this
/// node, no inline script or style, no framing, forms only to this node.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset && !h.contains_key(header::CACHE_CONTROL) {
        // Pages hold patient data: never keep them in a shared or disk cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Messages to show next to form fields, by field name.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors {
    by_field: BTreeMap<String, String>,
}

impl FieldErrors {
    pub fn from_problems(problems: &[Problem]) -> Self {
        let mut errors = Self::default();
        for p in problems {
            errors.add(&p.field, &p.message);
        }
        errors
    }

    /// Adds a message (a second one for the same field is appended).
    pub fn add(&mut self, field: &str, message: &str) {
        self.by_field
            .entry(field.to_owned())
            .and_modify(|m| {
                m.push_str("; ");
                m.push_str(message);
            })
            .or_insert_with(|| message.to_owned());
    }

    pub fn has(&self, field: &str) -> bool {
        self.by_field.contains_key(field)
    }

    /// The message for `field`, or empty.
    pub fn get(&self, field: &str) -> &str {
        self.by_field.get(field).map_or("", String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.by_field.is_empty()
    }

    /// Every message, for the summary at the top of a form.
    pub fn all(&self) -> Vec<(&str, &str)> {
        self.by_field
            .iter()
            .map(|(f, m)| (f.as_str(), m.as_str()))
            .collect()
    }
}

/// The HTML "not found" page for browsers.
pub fn not_found_page() -> Response {
    error_page(
        axum::http::StatusCode::NOT_FOUND,
        "Page not found",
        "There is no such page on this node, or it is not visible to you.".to_owned(),
    )
}

/// `axum::extract::Path` whose rejection (e.g. a malformed id in the address) is an HTML
/// page that says what was wrong, like every other page error.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = WebError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|e| {
                WebError::BadRequest(format!(
                    "This address is not one the node made: {}. Go back and follow a link \
                     instead.",
                    e.body_text()
                ))
            })
    }
}

/// `axum::extract::Query` whose rejection is an HTML page naming the bad parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| {
                WebError::BadRequest(format!(
                    "The address has a bad parameter: {}",
                    e.body_text()
                ))
            })
    }
}
