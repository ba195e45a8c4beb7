//! Asking to join a clinic: a person already signed in (who works at another clinic) or
//! someone new. The clinic is named by its facility number; an account manager there
//! approves or declines the request on the Members page, and a new person gets their
//! first (temporary) password from that manager.

use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::csrf;
use super::error::{WebError, render};
use super::frame::{AnyViewer, Layout, layout};
use super::{FieldErrors, ROLES, Web, assets};
use attach_app::AppError;
use attach_http::{SESSION_COOKIE, cookie_value};

#[derive(Debug, Default, Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    facility_number: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
}

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    /// The frame when signed in; `None` for someone new (a bare page).
    layout: Option<Layout>,
    css: &'static str,
    csrf: String,
    form: JoinForm,
    roles: Vec<(&'static str, &'static str)>,
    errors: FieldErrors,
    /// Set once the request was sent: the clinic's name.
    sent_to: Option<String>,
}

impl JoinPage {
    fn signed_in(&self) -> bool {
        self.layout.is_some()
    }

    fn role_selected(&self, code: &str) -> bool {
        self.form.role == code
    }
}

/// The signed-in person, if the request carries a live session.
async fn viewer(web: &Web, headers: &HeaderMap) -> Result<Option<AnyViewer>, WebError> {
    if cookie_value(headers, SESSION_COOKIE).is_none() {
        return Ok(None);
    }
    let mut request = axum::http::Request::new(());
    *request.headers_mut() = headers.clone();
    let (mut parts, ()) = request.into_parts();
    match AnyViewer::from_request_parts(&mut parts, web).await {
        Ok(v) if v.who.must_change_password => Err(WebError::ChangePassword),
        Ok(v) => Ok(Some(v)),
        Err(WebError::SignIn { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn page(
    web: &Web,
    viewer: Option<&AnyViewer>,
    form: JoinForm,
    errors: FieldErrors,
    sent_to: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (layout, token) = match viewer {
        Some(v) => (
            Some(layout(web, &v.who, &v.csrf, None).await?),
            v.csrf.clone(),
        ),
        None => (None, csrf::fresh_login_token()),
    };
    let mut response = render(&JoinPage {
        layout,
        css: assets::url("app.css"),
        csrf: token.clone(),
        form,
        roles: ROLES.iter().map(|(code, r)| (*code, r.label())).collect(),
        errors,
        sent_to,
    });
    *response.status_mut() = status;
    if viewer.is_none() {
        response.headers_mut().insert(
            header::SET_COOKIE,
            attach_http::cookie(csrf::LOGIN_COOKIE, &token, web.secure_cookies, Some(3600)),
        );
    }
    Ok(response)
}

pub async fn form(State(web): State<Web>, headers: HeaderMap) -> Result<Response, WebError> {
    let viewer = viewer(&web, &headers).await?;
    page(
        &web,
        viewer.as_ref(),
        JoinForm::default(),
        FieldErrors::default(),
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn submit(
    State(web): State<Web>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<JoinForm>,
) -> Result<Response, WebError> {
    let viewer = viewer(&web, &headers).await?;
    let token_ok = match &viewer {
        Some(v) => csrf::same(&form.csrf, &v.csrf),
        None => csrf::login_token_ok(&headers, &form.csrf),
    };
    if !token_ok {
        return Err(WebError::Csrf);
    }
    let mut errors = FieldErrors::default();
    let role = ROLES
        .iter()
        .find(|(code, _)| *code == form.role)
        .map(|(_, r)| *r);
    if role.is_none() {
        errors.add("role", "choose the role you will have at the clinic");
    }
    let (Some(role), true) = (role, errors.is_empty()) else {
        return page(
            &web,
            viewer.as_ref(),
            form,
            errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let who = viewer.as_ref().map(|v| v.who.user);
    let (facility, username, name, email) = (
        form.facility_number.clone(),
        form.username.clone(),
        form.display_name.clone(),
        form.email.clone(),
    );
    let result = web
        .app
        .run(move |app| {
            let clinic = app.clinic_by_facility(&facility)?;
            app.request_membership(who, clinic, &username, &name, &email, role)?;
            app.clinic_name(clinic)
        })
        .await;
    match result {
        Ok(name) => {
            page(
                &web,
                viewer.as_ref(),
                form,
                errors,
                Some(name),
                StatusCode::OK,
            )
            .await
        }
        Err(AppError::Invalid { problems, .. }) => {
            page(
                &web,
                viewer.as_ref(),
                form,
                FieldErrors::from_problems(&problems),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e @ (AppError::Conflict { .. } | AppError::Forbidden(_))) => {
            // A taken username is the username's problem; anything else (a membership
            // there already, a clinic that refuses) is about the clinic asked.
            let field = match &e {
                AppError::Conflict {
                    field: Some(field), ..
                } => field,
                _ => "facility_number",
            };
            errors.add(field, &e.to_string());
            page(
                &web,
                viewer.as_ref(),
                form,
                errors,
                None,
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
