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
mod hub;
mod offers;
mod panel;
mod registry;
mod sync;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use attach::app::{App, InitClinic, ManualClock, MemberAction};
use attach::domain::{ClinicId, PatientDetails, PatientStatus, Role, UserId};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use time::OffsetDateTime;
use time::macros::datetime;
use tower::ServiceExt;

pub const START: OffsetDateTime = datetime!(2026-11-02 09:00 UTC);
pub const PATIENTS: usize = 200;
pub const B_DIRECTOR_PASSWORD: &str = "smithers-b-director-2026";
pub const BRAVO_PASSWORD: &str = "smithers-dr-bo-2026";

/// A fresh directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "attach-web-{name}-{}-{n}-{}",
            std::process::id(),
            OffsetDateTime::now_utc().unix_timestamp_nanos()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[allow(missing_debug_implementations)]
pub struct World {
    pub app: App,
    pub router: Router,
    pub clock: ManualClock,
    pub a: ClinicId,
    pub b: ClinicId,
    /// Username → user id, both clinics.
    pub ids: HashMap<String, UserId>,
    /// Username → password, for everyone who can sign in.
    pub passwords: HashMap<String, String>,
    /// Patients on no panel yet, for tests that add one.
    pub spares: Vec<PatientDetails>,
    _dir: TempDir,
}

impl World {
    pub fn new(name: &str) -> Self {
        let dir = TempDir::new(name);
        let clock = ManualClock::new(START);
        let app = App::open_at(&dir.0, 16, 30, Arc::new(clock.clone())).unwrap();
        let router = attach::http::router(
            app.clone(),
            attach::http::HttpOptions {
                max_body_bytes: 1024 * 1024,
                secure_cookies: false,
            },
        );
        let mut people =
            attach::demo_data::patients(attach::demo::DEMO_SEED, PATIENTS + 30, START.date());
        let spares = people.split_off(PATIENTS);
        let setup = attach::demo::setup(people);
        assert!(app.seed_demo(&setup).unwrap());
        let mut passwords: HashMap<String, String> = attach::demo::LOGINS
            .iter()
            .map(|(u, p, ..)| ((*u).to_owned(), (*p).to_owned()))
            .collect();
        let init = app
            .init_clinic(&InitClinic {
                clinic_name: "Smithers Community Health Centre".to_owned(),
                facility_number: "V0J2N5".to_owned(),
                director_username: "bdirector".to_owned(),
                director_name: "Bea Okafor".to_owned(),
                director_email: "bea@smithers.example.org".to_owned(),
            })
            .unwrap();
        let b = init.clinic;
        let bdirector = app.login("bdirector", &init.temporary_password).unwrap();
        let bdirector_who = app.authenticate(&bdirector.token).unwrap();
        app.change_password(
            &bdirector_who,
            &init.temporary_password,
            B_DIRECTOR_PASSWORD,
        )
        .unwrap();
        passwords.insert("bdirector".to_owned(), B_DIRECTOR_PASSWORD.to_owned());
        let bdirector = bdirector.session.user;

        let a = app
            .login("director", &passwords["director"])
            .unwrap()
            .session
            .memberships[0]
            .clinic;
        let mut ids = HashMap::new();
        for m in app.members(bdirector, b).unwrap() {
            ids.insert(m.username.clone(), m.membership.user);
        }
        let director = attach::app::SessionInfo::clone(
            &app.login("director", &passwords["director"])
                .unwrap()
                .session,
        )
        .user;
        for m in app.members(director, a).unwrap() {
            ids.insert(m.username.clone(), m.membership.user);
        }
        // Dr. Patel also works at B; Dr. Bravo only at B.
        let patel = ids["drpatel"];
        app.add_member(bdirector, b, "drpatel", "", "", Role::Physician)
            .unwrap();
        app.member_action(bdirector, b, patel, MemberAction::Activate)
            .unwrap();
        let (bravo, temp) = app
            .add_member(
                bdirector,
                b,
                "drbravo",
                "Dr. Bo Bravo",
                "bo@smithers.example.org",
                Role::Physician,
            )
            .unwrap();
        let bravo = bravo.membership.user;
        app.member_action(bdirector, b, bravo, MemberAction::Activate)
            .unwrap();
        let temp = temp.unwrap();
        let s = app.login("drbravo", &temp).unwrap();
        app.change_password(&app.authenticate(&s.token).unwrap(), &temp, BRAVO_PASSWORD)
            .unwrap();
        passwords.insert("drbravo".to_owned(), BRAVO_PASSWORD.to_owned());
        ids.insert("drbravo".to_owned(), bravo);
        let mut spares = spares;
        for p in spares.drain(..3) {
            app.add_patient(bravo, b, bravo, p, PatientStatus::Active)
                .unwrap();
        }
        Self {
            app,
            router,
            clock,
            a,
            b,
            ids,
            passwords,
            spares,
            _dir: dir,
        }
    }

    pub fn id(&self, username: &str) -> UserId {
        *self
            .ids
            .get(username)
            .unwrap_or_else(|| panic!("no user {username}"))
    }

    /// A browser with no session.
    pub fn browser(&self) -> Browser {
        Browser {
            router: self.router.clone(),
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
        let response = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        for set in response.headers().get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Page {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
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
