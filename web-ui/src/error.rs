//! What a page answers when something goes wrong: a redirect to sign in, or an HTML
//! error page that says what happened and what to do next. (Form validation errors are
//! not errors here: the handler shows the form again, with the messages by the fields.)

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::assets;
use attach_app::AppError;

#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session ended): go to the sign-in page, then back here.
    SignIn {
        next: String,
    },
    /// Signed in with a temporary password: change it first.
    ChangePassword,
    /// A state-changing request without this session's CSRF token.
    Csrf,
    BadRequest(String),
    App(AppError),
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
    css: &'static str,
}

/// Renders a template, or a plain 500 if the template itself fails (a bug).
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => axum::response::Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn",
            )
                .into_response()
        }
    }
}

pub fn error_page(status: StatusCode, title: &str, message: String) -> Response {
    let mut response = render(&ErrorPage {
        title,
        message,
        css: assets::url("app.css"),
    });
    *response.status_mut() = status;
    response
}

/// Where to go after signing in: only a path on this node (never another site).
pub fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn { next } => {
                let next = safe_next(&next);
                let target = if next == "/" {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", urlencode(next))
                };
                Redirect::to(&target).into_response()
            }
            WebError::ChangePassword => Redirect::to("/password").into_response(),
            WebError::Csrf => error_page(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was sent without this session's security token (it may be from \
                 an older page or another site). Nothing was changed. Go back, reload the \
                 page and try again."
                    .to_owned(),
            ),
            WebError::BadRequest(message) => error_page(
                StatusCode::BAD_REQUEST,
                "The request could not be read",
                message,
            ),
            WebError::App(e) => app_error_page(e),
        }
    }
}

fn app_error_page(e: AppError) -> Response {
    let (status, title) = match &e {
        AppError::Unauthenticated | AppError::BadCredentials => {
            return Redirect::to("/login").into_response();
        }
        AppError::MustChangePassword => return Redirect::to("/password").into_response(),
        AppError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "Too many attempts"),
        AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
        AppError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        AppError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "Please check the input"),
        AppError::Conflict { .. } => (StatusCode::CONFLICT, "This changed meanwhile"),
        AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Not available now"),
        AppError::Internal { .. } => {
            tracing::error!(cause = %e.log_cause(), "request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
        }
    };
    let message = match &e {
        AppError::Internal { .. } => {
            "Something went wrong on the node (the details are in its log). \
                                  Reload to see whether the change was saved before trying again."
                .to_owned()
        }
        // Do not tell someone outside a clinic whether a thing exists there.
        AppError::NotFound(what) => format!("{what} not found, or not visible to you."),
        other => other.to_string(),
    };
    let mut response = error_page(status, title, message);
    if let AppError::Throttled { retry_after_secs } = e
        && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_node() {
        assert_eq!(safe_next("/c/1/members"), "/c/1/members");
        assert_eq!(safe_next("//evil.example/x"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
    }

    #[test]
    fn urlencode_keeps_paths_readable() {
        assert_eq!(urlencode("/c/a b?x=1&y"), "/c/a%20b%3Fx%3D1%26y");
    }
}
