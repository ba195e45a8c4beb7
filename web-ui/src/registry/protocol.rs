//! The clinic's panel-management protocol: its written sections (account managers edit
//! them; every version is in the history), with the status definitions and rules and the
//! review tasks Attach holds, as one page to read and print, or one text file to download
//! and send with an incentive claim.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Done, HistoryRow, history_rows, when};
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::frame::{Frame, Layout};
use crate::{Query, Web};
use attach_app::{AppError, HistoryView, ProtocolSection, TaskView};
use attach_domain::{Clinic, StatusRule};

const NOTICES: &[(&str, &str)] = &[(
    "saved",
    "The section was saved; the history keeps the earlier version.",
)];

#[derive(Debug, Clone)]
pub struct SectionView {
    pub key: &'static str,
    pub title: &'static str,
    pub hint: &'static str,
    pub text: String,
    pub changed: String,
}

#[derive(Debug, Clone)]
pub struct StatusLine {
    pub name: String,
    pub definition: String,
    pub rule: String,
}

#[derive(Debug, Clone)]
pub struct TaskLine {
    pub title: String,
    pub frequency: String,
    pub owner: String,
    pub next_due: String,
}

#[derive(Template)]
#[template(path = "registry/protocol.html")]
struct ProtocolPage {
    layout: Layout,
    base: String,
    manager: bool,
    clinic_name: String,
    sections: Vec<SectionView>,
    statuses: Vec<StatusLine>,
    tasks: Vec<TaskLine>,
    history: Vec<HistoryRow>,
    error: String,
}

/// What the page and the download need, read in one go.
struct Loaded {
    clinic: Clinic,
    sections: Vec<ProtocolSection>,
    history: Vec<HistoryView>,
    tasks: Vec<TaskView>,
    names: std::collections::HashMap<attach_domain::UserId, String>,
}

async fn load(web: &Web, frame: &Frame) -> Result<Loaded, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    Ok(web
        .app
        .run(move |app| {
            Ok(Loaded {
                clinic: app.clinic(who, clinic)?,
                sections: app.protocol(who, clinic)?,
                history: app.protocol_history(who, clinic)?,
                tasks: app.review_tasks(who, clinic)?,
                names: crate::panel::names(app, who, clinic)?,
            })
        })
        .await?)
}

fn rule_text(rule: Option<&StatusRule>) -> String {
    rule.map_or_else(|| "set by people only".to_owned(), ToString::to_string)
}

fn statuses(c: &Clinic) -> Vec<StatusLine> {
    let r = &c.status_rules;
    let mut out = vec![
        StatusLine {
            name: "Active".into(),
            definition: r.active.definition.clone(),
            rule: rule_text(r.active.rule.as_ref()),
        },
        StatusLine {
            name: "Inactive".into(),
            definition: r.inactive.definition.clone(),
            rule: rule_text(r.inactive.rule.as_ref()),
        },
    ];
    let mut own: Vec<_> = c.statuses.values().filter(|s| !s.retired).collect();
    own.sort_by_key(|s| s.name.to_lowercase());
    out.extend(own.into_iter().map(|s| StatusLine {
        name: s.name.clone(),
        definition: s.definition.clone(),
        rule: rule_text(r.custom.get(&s.id)),
    }));
    out
}

fn tasks(l: &Loaded) -> Vec<TaskLine> {
    l.tasks
        .iter()
        .filter(|t| !t.task.retired)
        .map(|t| TaskLine {
            title: t.task.title.clone(),
            frequency: t.task.frequency.label(),
            owner: crate::panel::name_of(&l.names, t.task.owner),
            next_due: t.next_due.to_string(),
        })
        .collect()
}

fn sections(l: &Loaded) -> Vec<SectionView> {
    l.sections
        .iter()
        .map(|s| SectionView {
            key: s.key,
            title: s.title,
            hint: s.hint,
            text: s.saved.as_ref().map(|t| t.text.clone()).unwrap_or_default(),
            changed: s
                .saved
                .as_ref()
                .map(|t| {
                    format!(
                        "{} by {}",
                        when(t.at),
                        crate::panel::name_of(&l.names, t.by)
                    )
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn draw(frame: Frame, l: Loaded, error: String) -> Response {
    let status = if error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    crate::panel::with_status(
        render(&ProtocolPage {
            base: frame.base(),
            manager: frame.layout.is_manager(),
            clinic_name: l.clinic.profile.name.clone(),
            sections: sections(&l),
            statuses: statuses(&l.clinic),
            tasks: tasks(&l),
            history: history_rows(
                l.history.clone(),
                &attach_app::PROTOCOL_SECTIONS
                    .iter()
                    .map(|(k, title, _)| ((*k).to_owned(), format!("“{title}”")))
                    .collect(),
            ),
            error,
            layout: frame.layout.with_section("protocol"),
        }),
        status,
    )
}

/// `/c/{clinic}/protocol`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let l = load(&web, &frame).await?;
    let mut frame = frame;
    frame.layout = frame.layout.with_notice(q.notice(NOTICES));
    Ok(draw(frame, l, String::new()))
}

#[derive(Debug, Default, Deserialize)]
pub struct SectionForm {
    #[serde(default)]
    section: String,
    #[serde(default)]
    text: String,
}

/// `POST /c/{clinic}/protocol`: save one section.
pub async fn save(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<SectionForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let result = web
        .app
        .run(move |app| Ok(app.set_protocol_section(who, clinic, &form.section, &form.text)))
        .await?;
    match result {
        Ok(()) => {
            Ok(Redirect::to(&format!("{}/protocol?done=saved", frame.base())).into_response())
        }
        Err(e @ AppError::Invalid { .. }) => {
            let l = load(&web, &frame).await?;
            Ok(draw(frame, l, e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// `/c/{clinic}/protocol/download`: the whole protocol as one Markdown text file.
pub async fn download(State(web): State<Web>, frame: Frame) -> Result<Response, WebError> {
    let l = load(&web, &frame).await?;
    let today = web.app.run(|app| Ok(app.clinic_today())).await?;
    let mut out = format!(
        "# Panel management protocol: {}\n\nAs of {today}.\n\n",
        l.clinic.profile.name
    );
    for s in sections(&l) {
        out.push_str(&format!("## {}\n\n", s.title));
        if s.text.is_empty() {
            out.push_str("(not written yet)\n\n");
        } else {
            out.push_str(&format!("{}\n\n", s.text));
            out.push_str(&format!("_Last changed {}._\n\n", s.changed));
        }
    }
    out.push_str("## Patient statuses\n\n");
    for s in statuses(&l.clinic) {
        out.push_str(&format!(
            "- **{}**: {} (rule: {})\n",
            s.name,
            if s.definition.is_empty() {
                "no definition written"
            } else {
                &s.definition
            },
            s.rule
        ));
    }
    out.push_str("\n## Regular reviews\n\n");
    let t = tasks(&l);
    if t.is_empty() {
        out.push_str("(no review tasks set up)\n");
    }
    for t in t {
        out.push_str(&format!(
            "- {}: {}, by {}; next due {}\n",
            t.title, t.frequency, t.owner, t.next_due
        ));
    }
    Ok(crate::panel::files::attachment(
        out.into_bytes(),
        "text/markdown; charset=utf-8",
        &format!("protocol-{today}.md"),
    ))
}
