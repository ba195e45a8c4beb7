//! CSRF protection for every state-changing form.
//!
//! A signed-in page carries a token derived from the session token (a one-way hash, so
//! the page never holds the session secret); a form must send it back as the `csrf`
//! field (or htmx as the `X-CSRF-Token` header). The sign-in form has no session yet: it
//! uses a random value set in its own `SameSite=Strict` cookie and echoed in the form.
//! The session cookie is `SameSite=Strict` as well, so this is a second, independent
//! line of defence.

use sha2::{Digest, Sha256};

use attach_http::cookie_value;

/// Name of the form field (and `X-CSRF-Token` header) that carries the token.
pub const FIELD: &str = "csrf";
pub const HEADER: &str = "x-csrf-token";
/// Cookie that carries the sign-in form's token.
pub const LOGIN_COOKIE: &str = "attach_login";

/// The token forms of this session must send.
pub fn token_for(session_token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"attach csrf v1\0")
        .chain_update(session_token.as_bytes())
        .finalize();
    hex::encode(&digest[..20])
}

/// Compares without an early exit, so timing does not reveal how much matched.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A random token for the sign-in form.
pub fn fresh_login_token() -> String {
    let bytes: [u8; 20] = rand::random();
    hex::encode(bytes)
}

/// The `csrf` value of an urlencoded body, if any.
pub fn field_of(body: &[u8]) -> Option<String> {
    form_urlencoded_pairs(body)
        .into_iter()
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v)
}

fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
}

/// The sign-in form's token check: the form field must equal the cookie set with it.
pub fn login_token_ok(headers: &axum::http::HeaderMap, sent: &str) -> bool {
    cookie_value(headers, LOGIN_COOKIE).is_some_and(|c| !c.is_empty() && same(&c, sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_depends_on_the_session_and_hides_it() {
        let a = token_for("session-a");
        assert_eq!(a, token_for("session-a"));
        assert_ne!(a, token_for("session-b"));
        assert!(!a.contains("session"));
        assert_eq!(a.len(), 40);
    }

    #[test]
    fn comparison_needs_equal_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
    }

    #[test]
    fn field_is_read_from_an_urlencoded_body() {
        assert_eq!(field_of(b"name=x&csrf=t%2B1&b=2").as_deref(), Some("t+1"));
        assert_eq!(field_of(b"name=x"), None);
    }
}
