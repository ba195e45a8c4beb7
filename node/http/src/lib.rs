//! The HTTP pieces the JSON API (`attach-api`) and the web pages (`attach-web`) both use:
//! the session cookie, the billing file as a download, and the server's options. Keeping
//! them here lets the two sides share them without depending on each other; the server
//! (`attach-server`) sits above both.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;

use attach_app::AttachmentExport;

/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "attach_session";

/// How the HTTP server is set up (from the node's config).
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    pub max_body_bytes: usize,
    /// Mark the web UI's cookies `Secure` (browsers reach the node over HTTPS).
    pub secure_cookies: bool,
}

impl HttpOptions {
    pub fn from_config(config: &attach_app::config::Config) -> Self {
        Self {
            max_body_bytes: config.max_body_bytes,
            secure_cookies: config.secure_cookies,
        }
    }
}

/// The value of a cookie in the request, if present.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value for a cookie pages and forms need: `HttpOnly`, `SameSite=Strict`,
/// and `Secure` when the node is served over TLS. `max_age: Some(0)` deletes it.
pub fn cookie(name: &str, value: &str, secure: bool, max_age: Option<u32>) -> HeaderValue {
    let mut s = format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/");
    if secure {
        s.push_str("; Secure");
    }
    if let Some(age) = max_age {
        s.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that starts a browser session.
pub fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    cookie(SESSION_COOKIE, token, secure, None)
}

/// The `Set-Cookie` value that ends the browser session.
pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    cookie(SESSION_COOKIE, "", secure, Some(0))
}

/// The billing file as a download, the count of providers without a number in a header.
pub fn csv_download(export: &AttachmentExport) -> impl IntoResponse + use<> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let name = format!("attachments-{}-{}.csv", export.from, export.to);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        "x-attach-missing-practitioner-numbers",
        HeaderValue::from(export.missing.len()),
    );
    (headers, export.to_csv())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_strict_and_secure_over_tls() {
        let plain = cookie("a", "b", false, None);
        assert_eq!(plain, "a=b; HttpOnly; SameSite=Strict; Path=/");
        let tls = cookie("a", "", true, Some(0));
        assert_eq!(
            tls,
            "a=; HttpOnly; SameSite=Strict; Path=/; Secure; Max-Age=0"
        );
        assert_eq!(
            clear_session_cookie(false),
            "attach_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        );
    }

    #[test]
    fn cookie_value_finds_the_named_cookie() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("x=1; attach_session=tok"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("z=2"));
        assert_eq!(cookie_value(&h, "attach_session").as_deref(), Some("tok"));
        assert_eq!(cookie_value(&h, "z").as_deref(), Some("2"));
        assert_eq!(cookie_value(&h, "y"), None);
    }
}
