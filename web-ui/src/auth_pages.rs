//! Signing in and out, changing a (temporary) password, and choosing a clinic.

use crate::Query;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::csrf;
use super::error::{WebError, render, safe_next};
use super::frame::CsrfForm;
use super::frame::{self, AnyViewer, Layout, Viewer, layout};
use super::{FieldErrors, Web, assets};
use attach_app::AppError;
use attach_domain::ClinicId;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    username: String,
    error: Option<String>,
    /// The hub's sign-in (for coordinators), not a clinic's.
    hub: bool,
    css: &'static str,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// The sign-in form. Sets the cookie that the form's token must match.
pub async fn login_form(State(web): State<Web>, Query(q): Query<NextQuery>) -> Response {
    login_page(
        &web,
        safe_next(&q.next).to_owned(),
        String::new(),
        None,
        StatusCode::OK,
    )
}

fn login_page(
    web: &Web,
    next: String,
    username: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let token = csrf::fresh_login_token();
    let mut response = render(&LoginPage {
        csrf: token.clone(),
        next,
        username,
        error,
        hub: web.hub,
        css: assets::url("app.css"),
    });
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::SET_COOKIE,
        attach_http::cookie(csrf::LOGIN_COOKIE, &token, web.secure_cookies, Some(3600)),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    State(web): State<Web>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let next = safe_next(&form.next).to_owned();
    if !csrf::login_token_ok(&headers, &form.csrf) {
        return login_page(
            &web,
            next,
            form.username,
            Some("The sign-in form had expired. Please sign in again.".to_owned()),
            StatusCode::FORBIDDEN,
        );
    }
    let username = form.username.clone();
    let password = form.password;
    let hub = web.hub;
    match web
        .app
        .run(move |app| {
            if hub {
                app.coordinator_login(&username, &password)
            } else {
                app.login(&username, &password)
            }
        })
        .await
    {
        Ok(result) => {
            let target = if result.session.must_change_password {
                "/password".to_owned()
            } else {
                next
            };
            let mut response = Redirect::to(&target).into_response();
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                attach_http::session_cookie(&result.token, web.secure_cookies),
            );
            h.append(
                header::SET_COOKIE,
                attach_http::cookie(csrf::LOGIN_COOKIE, "", web.secure_cookies, Some(0)),
            );
            response
        }
        Err(e) => {
            let (status, message) = match &e {
                AppError::BadCredentials => (
                    StatusCode::UNAUTHORIZED,
                    "The username or password is wrong.".to_owned(),
                ),
                AppError::Throttled { retry_after_secs } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many failed sign-ins for this username. Try again in {} minute(s), \
                         or ask your clinic's account manager to reset the password.",
                        retry_after_secs.div_ceil(60)
                    ),
                ),
                AppError::Forbidden(m) => (StatusCode::FORBIDDEN, format!("{m}.")),
                _ => return WebError::App(e).into_response(),
            };
            login_page(&web, next, form.username, Some(message), status)
        }
    }
}

pub async fn logout(State(web): State<Web>, form: CsrfForm<serde::de::IgnoredAny>) -> Response {
    let who = form.viewer.who;
    if let Err(e) = web.app.run(move |app| app.logout(&who)).await {
        return WebError::App(e).into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        attach_http::clear_session_cookie(web.secure_cookies),
    );
    response
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    layout: Layout,
    must_change: bool,
    errors: FieldErrors,
    done: bool,
}

pub async fn password_form(
    State(web): State<Web>,
    viewer: AnyViewer,
) -> Result<Response, WebError> {
    let layout = layout(&web, &viewer.who, &viewer.csrf, None).await?;
    Ok(render(&PasswordPage {
        layout,
        must_change: viewer.who.must_change_password,
        errors: FieldErrors::default(),
        done: false,
    }))
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

pub async fn change_password(
    State(web): State<Web>,
    CsrfForm { viewer, form }: CsrfForm<PasswordForm>,
) -> Result<Response, WebError> {
    let layout = layout(&web, &viewer.who, &viewer.csrf, None).await?;
    let must_change = viewer.who.must_change_password;
    if form.new_password != form.confirm_password {
        let mut errors = FieldErrors::default();
        errors.add("confirm_password", "the two new passwords differ");
        let mut response = render(&PasswordPage {
            layout,
            must_change,
            errors,
            done: false,
        });
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(response);
    }
    let who = viewer.who.clone();
    let result = web
        .app
        .run(move |app| app.change_password(&who, &form.current_password, &form.new_password))
        .await;
    match result {
        Ok(()) if must_change => Ok(Redirect::to("/").into_response()),
        Ok(()) => Ok(render(&PasswordPage {
            layout,
            must_change,
            errors: FieldErrors::default(),
            done: true,
        })),
        Err(AppError::Invalid { problems, .. }) => {
            let mut response = render(&PasswordPage {
                layout,
                must_change,
                errors: FieldErrors::from_problems(&problems),
                done: false,
            });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
}

/// `/`: back to the clinic this session works in, straight into the only clinic, or a
/// choice of clinics (with the person's role at each).
pub async fn home(State(web): State<Web>, viewer: Viewer) -> Result<Response, WebError> {
    let layout = layout(&web, &viewer.who, &viewer.csrf, None).await?;
    let remembered = viewer
        .who
        .clinic
        .filter(|c| layout.clinics.iter().any(|m| m.id == *c));
    let only = match layout.clinics.as_slice() {
        [one] => Some(one.id),
        _ => None,
    };
    if let Some(clinic) = remembered.or(only) {
        return Ok(Redirect::to(&format!("/c/{clinic}")).into_response());
    }
    Ok(render(&HomePage { layout }))
}

#[derive(Debug, Deserialize)]
pub struct SwitchForm {
    clinic: ClinicId,
}

/// The clinic switcher (a plain GET form, so it works without JavaScript and changes
/// nothing by itself: the clinic page remembers the choice).
pub async fn switch(Query(form): Query<SwitchForm>) -> Redirect {
    Redirect::to(&format!("/c/{}", form.clinic))
}

/// `/c/{clinic}`: the clinic's dashboard.
pub async fn clinic_home(frame: frame::Frame) -> Redirect {
    Redirect::to(&format!("{}/dashboard", frame.base()))
}
