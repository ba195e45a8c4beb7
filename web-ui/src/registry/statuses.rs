//! Clinic-defined patient statuses: listed for everyone; account managers create them,
//! change what they mean, and retire them.

use std::collections::HashMap;

use crate::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Done, HistoryRow, Input, clinic_page, done, history_rows};
use crate::error::WebError;
use crate::frame::CsrfForm;
use crate::frame::{Frame, Layout};
use crate::{FieldErrors, Web};
use attach_app::{AppError, HistoryView};
use attach_domain::{Clinic, StatusId};

const NOTICES: &[(&str, &str)] = &[
    ("created", "The status was created."),
    ("changed", "The status was changed."),
    (
        "retired",
        "The status was retired: it can no longer be given, and patients who have it keep it.",
    ),
];

#[derive(Debug, Clone)]
pub struct StatusRow {
    pub id: String,
    pub name: String,
    pub definition: String,
    pub retired: bool,
    /// The newest change of this status, e.g. "2026-11-02 09:00 UTC by Dana Whitford".
    pub changed: String,
    /// The typed definition and its problem, when its edit form was refused.
    pub error: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    definition: String,
    /// `retire` retires the status; anything else saves the definition.
    #[serde(default)]
    action: String,
}

#[derive(Template)]
#[template(path = "registry/statuses.html")]
struct StatusesPage {
    layout: Layout,
    base: String,
    manager: bool,
    statuses: Vec<StatusRow>,
    create_fields: Vec<Input>,
    create_definition: String,
    errors: FieldErrors,
    history: Vec<HistoryRow>,
}

/// The form the page is drawn after, refused.
enum Retry {
    None,
    Create(StatusForm, FieldErrors),
    Edit(StatusId, StatusForm, FieldErrors),
}

impl StatusesPage {
    fn new(frame: Frame, clinic: &Clinic, history: Vec<HistoryView>, retry: Retry) -> Self {
        let names: HashMap<String, String> = clinic
            .statuses
            .values()
            .map(|s| (s.id.to_string(), s.name.clone()))
            .collect();
        let statuses = clinic
            .statuses
            .values()
            .map(|s| {
                let id = s.id.to_string();
                let changed = history
                    .iter()
                    .rfind(|h| h.change.status() == Some(s.id))
                    .map(|h| {
                        format!(
                            "{} by {}",
                            h.at.map(super::when).unwrap_or_default(),
                            h.user_name.clone().unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                let (definition, error) = match &retry {
                    Retry::Edit(which, form, errors) if *which == s.id => {
                        (form.definition.clone(), errors.get("definition").to_owned())
                    }
                    _ => (s.definition.clone(), String::new()),
                };
                StatusRow {
                    id,
                    name: s.name.clone(),
                    definition,
                    retired: s.retired,
                    changed,
                    error,
                }
            })
            .collect();
        let (form, errors) = match retry {
            Retry::Create(form, errors) => (form, errors),
            _ => (StatusForm::default(), FieldErrors::default()),
        };
        let history = history
            .into_iter()
            .filter(|h| h.change.status().is_some())
            .collect();
        Self {
            base: frame.base(),
            manager: frame.layout.is_manager(),
            statuses,
            create_fields: vec![
                Input::new("new-", "name", "Name", &form.name)
                    .required()
                    .hint(
                        "Up to 60 characters; not \"active\" or \"inactive\", which are built in.",
                    )
                    .errors(&errors),
            ],
            create_definition: form.definition,
            errors,
            history: history_rows(history, &names),
            layout: frame.layout.with_section("statuses"),
        }
    }
}

async fn retry(web: &Web, frame: Frame, retry: Retry) -> Result<Response, WebError> {
    clinic_page(web, frame, StatusCode::UNPROCESSABLE_ENTITY, |f, c, h| {
        StatusesPage::new(f, c, h, retry)
    })
    .await
}

/// `/c/{clinic}/statuses`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let mut frame = frame;
    frame.layout = frame.layout.with_notice(q.notice(NOTICES));
    clinic_page(&web, frame, StatusCode::OK, |f, c, h| {
        StatusesPage::new(f, c, h, Retry::None)
    })
    .await
}

/// `POST /c/{clinic}/statuses`: create a status.
pub async fn create(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<StatusForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (name, definition) = (form.name.clone(), form.definition.clone());
    match web
        .app
        .run(move |app| app.create_status(who, clinic, &name, &definition))
        .await
    {
        Ok(_) => Ok(done(&frame, "statuses", "created")),
        Err(AppError::Invalid { problems, .. }) => {
            let errors = FieldErrors::from_problems(&problems);
            retry(&web, frame, Retry::Create(form, errors)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /c/{clinic}/statuses/{status}`: change the definition, or retire.
pub async fn update(
    State(web): State<Web>,
    frame: Frame,
    Path((_, status)): Path<(String, StatusId)>,
    CsrfForm { form, .. }: CsrfForm<StatusForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let retire = form.action == "retire";
    let definition = (!retire).then(|| form.definition.clone());
    match web
        .app
        .run(move |app| app.update_status(who, clinic, status, definition.as_deref(), retire))
        .await
    {
        Ok(_) if retire => Ok(done(&frame, "statuses", "retired")),
        Ok(_) => Ok(done(&frame, "statuses", "changed")),
        Err(AppError::Invalid { problems, .. }) => {
            let errors = FieldErrors::from_problems(&problems);
            retry(&web, frame, Retry::Edit(status, form, errors)).await
        }
        Err(e) => Err(e.into()),
    }
}
