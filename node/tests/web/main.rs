//! Router tests of the web UI, through `tower::ServiceExt::oneshot` (no socket, no
//! browser): every page and form, CSRF rejection, and authorization across clinics and
//! panels. The browser end-to-end tests are in `tests/browser`.
//!
//! The world: the demo clinic "A" (200 synthetic patients, the demo people; Grace Chen is
//! endorsed by Dr. Patel, Luc Roy's endorsement by Dr. Nguyen is pending) and a second
//! clinic "B" with its own director (`bdirector`) and Dr. Bravo. Dr. Patel works at both.
//! Time is a `ManualClock`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod auth;
mod clinical;
mod hub;
mod offers;
mod panel;
mod profile;
mod qi;
mod registry;
mod review;
mod sync;

#[path = "../support/world.rs"]
mod world;

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};

pub use world::{PATIENTS, TempDir, World};

pub const BRAVO_PASSWORD: &str = "smithers-dr-bo-2026";

impl World {
    /// The shared world (`tests/support/world.rs`), uploads of up to 1 MiB, and Dr. Bravo
    /// with a password of his own.
    pub fn new(name: &str) -> Self {
        let mut w = World::build(&format!("web-{name}"), 1024 * 1024);
        let temp = w.drbravo_temp.clone();
        w.choose_password("drbravo", &temp, BRAVO_PASSWORD);
        w
    }

    /// A browser with no session.
    pub fn browser(&self) -> Browser {
        Browser {
            router: self.router(),
            cookies: HashMap::new(),
        }
    }

    /// A browser signed in as `username` (through the sign-in form).
    pub async fn signed_in(&self, username: &str) -> Browser {
        let mut b = self.browser();
        let password = self.passwords[username].clone();
        let page = b.get("/login").await;
        page.ok();
        let token = page.csrf();
        let r = b
            .post_form(
                "/login",
                &[
                    ("csrf", token.as_str()),
                    ("username", username),
                    ("password", password.as_str()),
                ],
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "sign-in of {username}: {}",
            r.text
        );
        b
    }
}

/// One answer of the router.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Page {
    /// Asserts a 200 and returns the HTML.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "unexpected answer: {}",
            self.text
        );
        &self.text
    }

    #[track_caller]
    pub fn status_is(&self, status: StatusCode) -> &str {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        &self.text
    }

    /// Where a redirect points.
    #[track_caller]
    pub fn location(&self) -> String {
        assert!(
            self.status.is_redirection(),
            "not a redirect: {} {}",
            self.status,
            self.text
        );
        self.headers[header::LOCATION].to_str().unwrap().to_owned()
    }

    /// The first CSRF token on the page (the value of a `name="csrf"` input).
    #[track_caller]
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.text.find(marker).expect("a csrf field on the page") + marker.len();
        let end = self.text[start..].find('"').unwrap() + start;
        self.text[start..end].to_owned()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.text.contains(needle)
    }
}

/// A cookie-keeping client of the router.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Browser {
    router: Router,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    /// A browser with no session, of any router (the hub's pages).
    pub fn new(router: Router) -> Self {
        Self {
            router,
            cookies: HashMap::new(),
        }
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Body,
        kind: Option<&str>,
    ) -> Page {
        let mut req = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.header(header::COOKIE, cookie);
        }
        if let Some(kind) = kind {
            req = req.header(header::CONTENT_TYPE, kind);
        }
        let reply = world::send(self.router.clone(), req.body(body).unwrap()).await;
        for set in reply.headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: reply.status,
            text: reply.text(),
            headers: reply.headers,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.request(Method::GET, path, Body::empty(), None).await
    }

    /// Posts an urlencoded form (include `("csrf", token)` yourself).
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.request(
            Method::POST,
            path,
            Body::from(body),
            Some("application/x-www-form-urlencoded"),
        )
        .await
    }

    /// GETs `form_page`, takes its CSRF token, and posts `fields` to `action` with it.
    pub async fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(form_page).await;
        let token = page.csrf();
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_form(action, &all).await
    }

    /// Posts a multipart form: text fields and one file field.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Page {
        let boundary = "attach-test-boundary-7d1f";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let (name, filename, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.request(
            Method::POST,
            path,
            Body::from(body),
            Some(&format!("multipart/form-data; boundary={boundary}")),
        )
        .await
    }
}

/// Every page must carry the strict CSP and must not be cached.
#[track_caller]
pub fn assert_page_headers(page: &Page) {
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
}
