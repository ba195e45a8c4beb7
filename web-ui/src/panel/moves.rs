//! `…/panels/{provider}/move`: when a provider leaves or stops, their patients go to another
//! provider's panel at the clinic or back to the provincial waitlist — everyone at once, or
//! the patients ticked (a patient's own page links here with that patient ticked).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Context, PanelAt, PanelLinks, thousands, with_status};
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::{FieldErrors, Frame, Layout, Query, Web};
use attach_app::{AppError, Destination, PanelQuery, PanelSort, Selection};
use attach_domain::{EntryId, UserId};

/// Patients listed on the page at once (search to find others).
const LISTED: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub struct MoveParams {
    /// Search by name or PHN.
    #[serde(default)]
    q: String,
    /// A patient to tick (from their own page).
    #[serde(default)]
    entry: String,
}

/// One patient that may be ticked.
#[derive(Debug)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub phn: String,
    pub born: String,
    pub ticked: bool,
}

/// What was typed, kept when the form comes back with problems.
#[derive(Debug, Default, Clone)]
pub struct Typed {
    pub to: String,
    pub scope: String,
    pub reason: String,
    pub entries: Vec<String>,
}

#[derive(Template)]
#[template(path = "panel/move.html")]
struct MovePage {
    layout: Layout,
    links: PanelLinks,
    targets: Vec<(String, String)>,
    candidates: Vec<Candidate>,
    total: String,
    listed_all: bool,
    q: String,
    typed: Typed,
    errors: FieldErrors,
    message: String,
}

async fn draw(
    web: &Web,
    frame: &Frame,
    at: PanelAt,
    q: String,
    typed: Typed,
    refused: Option<(String, FieldErrors)>,
) -> Result<Response, WebError> {
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let search = q.clone();
    let (ctx, targets, page) = web
        .app
        .run(move |app| {
            let ctx = Context::load(app, who, clinic, provider)?;
            if !ctx.access.remove {
                return Err(AppError::forbidden(
                    "only the clinic's account managers and those who may change this panel can move its patients",
                ));
            }
            let targets = app.transfer_targets(who, clinic, provider)?;
            let page = app.panel_page(
                who,
                clinic,
                provider,
                &PanelQuery {
                    search: Some(search).filter(|s| !s.trim().is_empty()),
                    sort: PanelSort::Name,
                    limit: LISTED,
                    ..PanelQuery::default()
                },
            )?;
            Ok((ctx, targets, page))
        })
        .await?;
    let status = if refused.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (message, errors) = refused.unwrap_or_default();
    let candidates = page
        .rows
        .iter()
        .map(|r| {
            let id = r.entry.id.to_string();
            Candidate {
                ticked: typed.entries.contains(&id),
                name: format!(
                    "{}, {}",
                    r.entry.details.family_name, r.entry.details.given_names
                ),
                phn: r.entry.details.phn.to_string(),
                born: r.entry.details.date_of_birth.to_string(),
                id,
            }
        })
        .collect();
    let response = render(&MovePage {
        layout: frame.layout.clone().with_section("panel"),
        links: PanelLinks::new(frame, provider, ctx.name(provider)),
        targets: targets
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect(),
        candidates,
        total: thousands(page.total as i64),
        listed_all: page.total <= LISTED,
        q,
        typed,
        errors,
        message,
    });
    Ok(with_status(response, status))
}

/// `GET …/move`
pub async fn form(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    Query(p): Query<MoveParams>,
) -> Result<Response, WebError> {
    let typed = Typed {
        scope: if p.entry.is_empty() {
            "all"
        } else {
            "selected"
        }
        .to_owned(),
        entries: vec![p.entry]
            .into_iter()
            .filter(|e| !e.is_empty())
            .collect(),
        ..Typed::default()
    };
    draw(&web, &frame, at, p.q, typed, None).await
}

/// `POST …/move`: `to` (a provider id, or `waitlist`), `scope` (`all` or `selected`),
/// `entry` (repeated, when selected), `reason`.
pub async fn save(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let mut typed = Typed::default();
    for (k, v) in form {
        match k.as_str() {
            "to" => typed.to = v,
            "scope" => typed.scope = v,
            "reason" => typed.reason = v,
            "entry" => typed.entries.push(v),
            _ => {}
        }
    }
    let mut errors = FieldErrors::default();
    let to = match typed.to.as_str() {
        "waitlist" => Some(Destination::Waitlist),
        raw => match raw.parse::<UserId>() {
            Ok(p) => Some(Destination::Provider(p)),
            Err(_) => {
                errors.add("to", "choose where the patients go");
                None
            }
        },
    };
    let selection = if typed.scope == "all" {
        Some(Selection::All)
    } else {
        let ids: Result<Vec<EntryId>, _> = typed.entries.iter().map(|e| e.parse()).collect();
        match ids {
            Ok(ids) if !ids.is_empty() => Some(Selection::Entries(ids)),
            _ => {
                errors.add("entries", "tick the patients to move, or choose everyone");
                None
            }
        }
    };
    let (Some(to), Some(selection)) = (to, selection) else {
        let message = "Nothing was moved. Please check the fields marked below.".to_owned();
        return draw(
            &web,
            &frame,
            at,
            String::new(),
            typed,
            Some((message, errors)),
        )
        .await;
    };
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let reason = typed.reason.clone();
    let result = web
        .app
        .run(move |app| app.move_patients(who, clinic, provider, &selection, to, &reason))
        .await;
    match result {
        Ok(_) => {
            let key = match to {
                Destination::Waitlist => "returned",
                Destination::Provider(_) => "transferred",
            };
            Ok(
                Redirect::to(&format!("{}/panels/{provider}?done={key}", frame.base()))
                    .into_response(),
            )
        }
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            let (message, errors) = match e {
                AppError::Invalid { message, problems } => {
                    (message, FieldErrors::from_problems(&problems))
                }
                other => (other.to_string(), FieldErrors::default()),
            };
            draw(
                &web,
                &frame,
                at,
                String::new(),
                typed,
                Some((message, errors)),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
