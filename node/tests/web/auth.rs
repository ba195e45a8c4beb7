//! Sign-in, sign-out, passwords, clinic switching, the frame, CSRF and security headers.

use axum::http::{StatusCode, header};

use super::{World, assert_page_headers};

#[tokio::test]
async fn pages_need_a_session_and_come_back_after_sign_in() {
    let w = World::new("auth-redirect");
    let mut b = w.browser();
    let target = format!("/c/{}", w.a);
    let r = b.get(&target).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("/login?next={target}"));

    let page = b.get(&r.location()).await;
    assert_page_headers(&page);
    assert!(page.ok().contains("<label for=\"username\">"));
    let token = page.csrf();
    let r = b
        .post_form(
            "/login",
            &[
                ("csrf", token.as_str()),
                ("username", "director"),
                ("password", "demo-director-pw"),
                ("next", target.as_str()),
            ],
        )
        .await;
    assert_eq!(r.location(), target);
    let set = r.headers.get_all(header::SET_COOKIE);
    let session = set
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("attach_session="))
        .unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    assert!(
        !session.contains("Secure"),
        "plain HTTP node: no Secure flag"
    );
}

#[tokio::test]
async fn next_never_leaves_the_node() {
    let w = World::new("auth-next");
    let mut b = w.browser();
    let token = b.get("/login?next=//evil.example/").await.csrf();
    let r = b
        .post_form(
            "/login",
            &[
                ("csrf", token.as_str()),
                ("username", "director"),
                ("password", "demo-director-pw"),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/");
}

#[tokio::test]
async fn sign_in_form_needs_its_token_and_wrong_passwords_are_told_and_kept_out() {
    let w = World::new("auth-login");
    let mut b = w.browser();
    b.get("/login").await.ok();
    let r = b
        .post_form(
            "/login",
            &[
                ("csrf", "forged"),
                ("username", "director"),
                ("password", "demo-director-pw"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!b.cookies.contains_key("attach_session"));

    let token = b.get("/login").await.csrf();
    let r = b
        .post_form(
            "/login",
            &[
                ("csrf", token.as_str()),
                ("username", "director"),
                ("password", "wrong"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.contains("The username or password is wrong."));
    assert!(r.contains("value=\"director\""), "the username is kept");
    assert!(!b.cookies.contains_key("attach_session"));
}

#[tokio::test]
async fn repeated_failures_are_throttled() {
    let w = World::new("auth-throttle");
    let mut b = w.browser();
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        let token = b.get("/login").await.csrf();
        last = b
            .post_form(
                "/login",
                &[
                    ("csrf", token.as_str()),
                    ("username", "drpatel"),
                    ("password", "nope"),
                ],
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // Even the right password is refused while locked.
    let token = b.get("/login").await.csrf();
    let r = b
        .post_form(
            "/login",
            &[
                ("csrf", token.as_str()),
                ("username", "drpatel"),
                ("password", "demo-drpatel-pw"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.contains("Too many failed sign-ins"));
}

#[tokio::test]
async fn temporary_password_must_be_changed_first() {
    let w = World::new("auth-temp");
    let temp = w
        .app()
        .reset_password(w.id("director"), w.a, w.id("npsingh"))
        .unwrap();
    let mut b = w.browser();
    let token = b.get("/login").await.csrf();
    let r = b
        .post_form(
            "/login",
            &[
                ("csrf", token.as_str()),
                ("username", "npsingh"),
                ("password", temp.as_str()),
            ],
        )
        .await;
    assert_eq!(r.location(), "/password");
    // Every other page sends them back to the password form.
    let r = b.get(&format!("/c/{}/dashboard", w.a)).await;
    assert_eq!(r.location(), "/password");
    let page = b.get("/password").await;
    assert!(page.ok().contains("temporary password"));

    // Mismatch and a too-short password are shown by their fields.
    let r = b
        .submit(
            "/password",
            "/password",
            &[
                ("current_password", temp.as_str()),
                ("new_password", "harleen-new-2026"),
                ("confirm_password", "different-2026-x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("id=\"confirm_password-error\""));
    let r = b
        .submit(
            "/password",
            "/password",
            &[
                ("current_password", temp.as_str()),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("id=\"new_password-error\""));

    let r = b
        .submit(
            "/password",
            "/password",
            &[
                ("current_password", temp.as_str()),
                ("new_password", "harleen-new-2026"),
                ("confirm_password", "harleen-new-2026"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/");
    let r = b.get("/").await;
    assert_eq!(r.location(), format!("/c/{}", w.a));
}

#[tokio::test]
async fn forms_without_the_session_token_are_refused() {
    let w = World::new("auth-csrf");
    let mut b = w.signed_in("director").await;
    let r = b
        .post_form(
            "/password",
            &[
                ("current_password", "demo-director-pw"),
                ("new_password", "a-brand-new-pw-2026"),
                ("confirm_password", "a-brand-new-pw-2026"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.contains("This form has expired"));
    // A token of another session does not pass either.
    let other = w.signed_in("drpatel").await.get("/password").await.csrf();
    let r = b
        .post_form(
            "/password",
            &[
                ("csrf", other.as_str()),
                ("current_password", "demo-director-pw"),
                ("new_password", "a-brand-new-pw-2026"),
                ("confirm_password", "a-brand-new-pw-2026"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        w.app().login("director", "demo-director-pw").is_ok(),
        "nothing changed"
    );
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let w = World::new("auth-logout");
    let mut b = w.signed_in("director").await;
    let stolen = b.cookies["attach_session"].clone();
    let r = b.submit("/password", "/logout", &[]).await;
    assert_eq!(r.location(), "/login");
    assert!(!b.cookies.contains_key("attach_session"));
    b.cookies.insert("attach_session".to_owned(), stolen);
    let r = b.get("/password").await;
    assert!(r.location().starts_with("/login"));
}

#[tokio::test]
async fn idle_sessions_end() {
    let w = World::new("auth-idle");
    let mut b = w.signed_in("director").await;
    b.get("/password").await.ok();
    w.clock.advance(time::Duration::minutes(31));
    let r = b.get("/password").await;
    assert!(r.location().starts_with("/login"));
}

#[tokio::test]
async fn people_at_two_clinics_choose_and_switch() {
    let w = World::new("auth-switch");
    let mut b = w.signed_in("drpatel").await;
    let home = b.get("/").await;
    let page = home.ok();
    assert!(page.contains("Choose a clinic"));
    assert!(
        page.contains("Bulkley Valley Family Practice")
            && page.contains("Smithers Community Health Centre")
    );
    assert!(page.contains("— Physician"));
    let r = b.get(&format!("/switch?clinic={}", w.b)).await;
    assert_eq!(r.location(), format!("/c/{}", w.b));
    let r = b.get(&r.location()).await;
    assert_eq!(r.location(), format!("/c/{}/dashboard", w.b));
    // The choice is remembered.
    assert_eq!(b.get("/").await.location(), format!("/c/{}", w.b));
}

#[tokio::test]
async fn a_clinic_is_invisible_to_non_members() {
    let w = World::new("auth-other-clinic");
    let mut b = w.signed_in("director").await;
    let r = b.get(&format!("/c/{}", w.b)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.contains("Smithers"));
}

#[tokio::test]
async fn unknown_pages_are_html_and_api_paths_json() {
    let w = World::new("auth-404");
    let mut b = w.browser();
    let r = b.get("/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let r = b.get("/api/v1/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn assets_are_versioned_and_cached() {
    let w = World::new("auth-assets");
    let mut b = w.browser();
    let login = b.get("/login").await;
    let start = login.text.find("/static/app.css?v=").unwrap();
    let end = login.text[start..].find('"').unwrap() + start;
    let url = &login.text[start..end];
    let css = b.get(url).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(
        css.headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let old = b.get("/static/app.css?v=old").await;
    assert_eq!(old.headers[header::CACHE_CONTROL], "no-cache");
    assert_eq!(b.get("/static/nope.js").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_addresses_get_an_html_page() {
    let w = World::new("auth-bad-path");
    let mut b = w.signed_in("director").await;
    let r = b.get(&format!("/c/{}/members/not-an-id", w.a)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.contains("not one the node made"));
    let r = b.get("/switch?clinic=nope").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.contains("bad parameter"));
}

#[tokio::test]
async fn someone_new_asks_to_join_and_the_managers_see_it() {
    let w = World::new("auth-join-new");
    let mut b = w.browser();
    let page = b.get("/join").await;
    assert_page_headers(&page);
    assert!(page.ok().contains("<label for=\"facility_number\">"));
    // Without the form's token nothing happens.
    let r = b
        .post_form(
            "/join",
            &[
                ("csrf", "forged"),
                ("facility_number", "V0J2N5"),
                ("role", "physician"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // An unknown facility number is shown by its field, the typed values kept.
    let fields = [
        ("facility_number", "NOPE1"),
        ("role", "physician"),
        ("username", "drnew"),
        ("display_name", "Dr. <b>New</b>"),
        ("email", "new@example.org"),
    ];
    let r = b.submit("/join", "/join", &fields).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("id=\"facility_number-error\""));
    assert!(r.contains("value=\"NOPE1\""));
    assert!(
        r.contains("Dr. &#60;b&#62;New") && !r.contains("<b>New</b>"),
        "kept, escaped"
    );
    let mut fields = fields;
    fields[0].1 = "v0j2n5";
    let r = b.submit("/join", "/join", &fields).await;
    assert!(
        r.ok()
            .contains("Your request to join Smithers Community Health Centre was sent")
    );
    let pending = w
        .app()
        .members(w.id("bdirector"), w.b)
        .unwrap()
        .into_iter()
        .find(|m| m.username == "drnew")
        .expect("the request is listed at clinic B");
    assert_eq!(
        pending.membership.state,
        attach::domain::MemberState::Requested
    );
    let mut director = w.signed_in("bdirector").await;
    let members = director.get(&format!("/c/{}/members", w.b)).await;
    assert!(members.ok().contains("drnew"));
}

#[tokio::test]
async fn a_member_of_one_clinic_asks_to_join_another() {
    let w = World::new("auth-join-member");
    let mut b = w.signed_in("drnguyen").await;
    let page = b.get("/join").await;
    assert!(
        !page.ok().contains("id=\"username\""),
        "no account fields when signed in"
    );
    let r = b
        .submit(
            "/join",
            "/join",
            &[("facility_number", "V0J2N5"), ("role", "physician")],
        )
        .await;
    assert!(r.ok().contains("was sent"));
    let state = w
        .app()
        .members(w.id("bdirector"), w.b)
        .unwrap()
        .into_iter()
        .find(|m| m.membership.user == w.id("drnguyen"))
        .map(|m| m.membership.state);
    assert_eq!(state, Some(attach::domain::MemberState::Requested));
}

#[tokio::test]
async fn a_taken_username_is_shown_by_the_username_field() {
    let w = World::new("auth-join-taken");
    let mut b = w.browser();
    b.get("/join").await.ok();
    let r = b
        .submit(
            "/join",
            "/join",
            &[
                ("facility_number", "V0J2N5"),
                ("role", "physician"),
                ("username", "drnguyen"),
                ("display_name", "Dr. Someone Else"),
                ("email", ""),
            ],
        )
        .await;
    let page = r.status_is(StatusCode::CONFLICT);
    assert!(page.contains("id=\"username-error\""), "{page}");
    assert!(page.contains("is taken"), "{page}");
    assert!(!page.contains("id=\"facility_number-error\""), "{page}");
}

#[tokio::test]
async fn a_member_asking_to_join_again_is_told_by_the_facility_number() {
    let w = World::new("auth-join-again");
    let mut b = w.signed_in("drnguyen").await;
    b.get("/join").await.ok();
    let join = [("facility_number", "V0J2N5"), ("role", "physician")];
    assert!(
        b.submit("/join", "/join", &join)
            .await
            .ok()
            .contains("was sent")
    );
    // The request is pending: asking again clashes with it, which is about the clinic.
    let r = b.submit("/join", "/join", &join).await;
    let page = r.status_is(StatusCode::CONFLICT);
    assert!(page.contains("id=\"facility_number-error\""), "{page}");
    assert!(!page.contains("id=\"username-error\""), "{page}");
}

#[tokio::test]
async fn over_tls_every_cookie_is_secure() {
    let w = World::new("auth-secure");
    let router = attach::http::router(
        w.app().clone(),
        attach::http::HttpOptions {
            max_body_bytes: 1024 * 1024,
            secure_cookies: true,
        },
    );
    let mut b = super::Browser {
        router,
        cookies: std::collections::HashMap::new(),
    };
    let page = b.get("/login").await;
    let login_cookie = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");
    let token = page.csrf();
    let r = b
        .post_form(
            "/login",
            &[
                ("csrf", token.as_str()),
                ("username", "director"),
                ("password", "demo-director-pw"),
            ],
        )
        .await;
    for set in r.headers.get_all(header::SET_COOKIE) {
        assert!(set.to_str().unwrap().contains("; Secure"), "{set:?}");
    }
    // The JSON API's sign-in sets the same cookie, also Secure.
    let r = b
        .request(
            axum::http::Method::POST,
            "/api/v1/session",
            axum::body::Body::from(r#"{"username":"drpatel","password":"demo-drpatel-pw"}"#),
            Some("application/json"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let set = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set.starts_with("attach_session=") && set.contains("; Secure"),
        "{set}"
    );
}
