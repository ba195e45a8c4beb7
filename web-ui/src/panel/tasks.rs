//! Review tasks in the browser: the clinic's recurring reviews with their due dates (the
//! person's own due ones are counted in the navigation), marking one done with a note, and
//! (for account managers) setting one up or retiring it.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{names, thousands, with_status};
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::{FieldErrors, Frame, Layout, Path, Query, Web};
use attach_app::{AppError, ClinicalList, NewTask, TaskView};
use attach_domain::{DueState, Frequency, MemberState, TaskId, UserId, Worklist};

#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: String,
    pub title: String,
    pub whose: String,
    pub list: String,
    pub list_href: String,
    pub frequency: String,
    pub owner: String,
    pub mine: bool,
    pub next_due: String,
    pub state: &'static str,
    pub overdue: bool,
    pub retired: bool,
    pub on_list: String,
    pub last: String,
    pub can_complete: bool,
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub key: String,
    pub name: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "panel/tasks.html")]
struct TasksPage {
    layout: Layout,
    base: String,
    manager: bool,
    tasks: Vec<TaskRow>,
    providers: Vec<Choice>,
    worklists: Vec<Choice>,
    /// Registries, their uncoded lists, care gaps and the recall list.
    clinical_lists: Vec<Choice>,
    frequencies: Vec<Choice>,
    owners: Vec<Choice>,
    form: TaskForm,
    errors: FieldErrors,
}

/// The set-up form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskForm {
    #[serde(default)]
    pub title: String,
    /// A provider id, or empty for the whole clinic.
    #[serde(default)]
    pub provider: String,
    #[serde(default)]
    pub worklist: String,
    /// More of the review page's query words (`min_age=65&status=active`), optional.
    #[serde(default)]
    pub filters: String,
    #[serde(default)]
    pub frequency: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub first_due: String,
    #[serde(default)]
    pub done: String,
}

fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "created" => "The review task was set up.",
        "completed" => "The review was marked done; the next due date is set.",
        "retired" => "The review task was retired.",
        _ => return None,
    })
}

fn row(
    base: &str,
    names: &HashMap<UserId, String>,
    who: UserId,
    manager: bool,
    v: &TaskView,
) -> TaskRow {
    let t = &v.task;
    let query = t
        .query
        .iter()
        .map(|(k, val)| {
            format!(
                "{}={}",
                crate::error::urlencode(k),
                crate::error::urlencode(val)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let provider = t
        .provider
        .map(|p| format!("&provider={p}"))
        .unwrap_or_default();
    let list_href = match (&v.clinical, t.provider) {
        (Some(l), _) => format!(
            "{base}/registries/list?{}{provider}",
            serde_urlencoded::to_string(l.pairs()).unwrap_or_default()
        ),
        (None, Some(p)) if !query.is_empty() => format!("{base}/panels/{p}/review?{query}"),
        (None, Some(p)) => format!("{base}/panels/{p}/review"),
        (None, None) if !query.is_empty() => format!("{base}/review?{query}"),
        (None, None) => format!("{base}/review"),
    };
    let name = |u: UserId| super::name_of(names, u);
    TaskRow {
        id: t.id.to_string(),
        title: t.title.clone(),
        whose: t.provider.map_or_else(
            || "all panels".to_owned(),
            |p| format!("panel of {}", name(p)),
        ),
        list: v.list_name.clone(),
        list_href,
        frequency: t.frequency.label(),
        owner: name(t.owner),
        mine: t.owner == who,
        next_due: v.next_due.to_string(),
        state: v.state.label(),
        overdue: v.state == DueState::Overdue,
        retired: v.state == DueState::Retired,
        on_list: v.on_list.map(|n| thousands(n as i64)).unwrap_or_default(),
        last: v
            .last
            .as_ref()
            .map(|c| {
                let note = if c.note.is_empty() {
                    String::new()
                } else {
                    format!(": {}", c.note)
                };
                format!(
                    "{} by {} ({} left on the list){note}",
                    super::when(c.at),
                    name(c.by),
                    thousands(c.remaining as i64)
                )
            })
            .unwrap_or_default(),
        can_complete: v.state != DueState::Retired && (t.owner == who || manager),
    }
}

async fn draw(
    web: &Web,
    frame: Frame,
    form: TaskForm,
    errors: FieldErrors,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (tasks, names, clinic_state, today, clinical) = web
        .app
        .run(move |app| {
            Ok((
                app.review_tasks(who, clinic)?,
                names(app, who, clinic)?,
                app.clinic(who, clinic)?,
                app.clinic_today(),
                app.clinical_lists(who, clinic)?,
            ))
        })
        .await?;
    let base = frame.base();
    let manager = frame.layout.is_manager();
    let rows = tasks
        .iter()
        .map(|v| row(&base, &names, who, manager, v))
        .collect();
    let choice = |key: String, name: String, chosen: &str| Choice {
        selected: key == chosen,
        key,
        name,
    };
    let mut providers = vec![choice(
        String::new(),
        "Every panel of the clinic".into(),
        &form.provider,
    )];
    let mut members: Vec<_> = clinic_state
        .members
        .values()
        .filter(|m| m.state == MemberState::Active)
        .map(|m| (super::name_of(&names, m.user), m.user, m.role))
        .collect();
    members.sort();
    providers.extend(
        members
            .iter()
            .filter(|(_, _, r)| r.is_licensed())
            .map(|(n, u, _)| choice(u.to_string(), format!("Panel of {n}"), &form.provider)),
    );
    let worklists = Worklist::standard(today)
        .into_iter()
        .map(|w| choice(w.key().to_owned(), w.title(), &form.worklist))
        .collect();
    let clinical_lists = clinical
        .iter()
        .map(|(l, title)| choice(clinical_choice(l), title.clone(), &form.worklist))
        .collect();
    let chosen_frequency = if form.frequency.is_empty() {
        "months-3".to_owned()
    } else {
        form.frequency.clone()
    };
    let frequencies = Frequency::COMMON
        .into_iter()
        .map(|(f, words)| choice(f.key(), words.to_owned(), &chosen_frequency))
        .collect();
    let owners = members
        .iter()
        .map(|(n, u, _)| choice(u.to_string(), n.clone(), &form.owner))
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut form = form;
    if form.first_due.is_empty() {
        form.first_due = today.to_string();
    }
    Ok(with_status(
        render(&TasksPage {
            layout: frame
                .layout
                .clone()
                .with_section("tasks")
                .with_notice(notice(&form.done)),
            base,
            manager,
            tasks: rows,
            providers,
            worklists,
            clinical_lists,
            frequencies,
            owners,
            form,
            errors,
        }),
        status,
    ))
}

/// `/c/{clinic}/review/tasks` (also prefilled from a review list, `?worklist=…&filters=…`,
/// or a registry, `?worklist=registry:diabetes&title=…`).
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    Query(form): Query<TaskForm>,
) -> Result<Response, WebError> {
    draw(&web, frame, form, FieldErrors::default()).await
}

/// A clinical list as the form's list menu names it: `registry:diabetes`, `recalls`.
pub fn clinical_choice(l: &ClinicalList) -> String {
    match l.parts() {
        (list, Some(key)) => format!("{list}:{key}"),
        (list, None) => list.to_owned(),
    }
}

fn clinical_of_choice(raw: &str) -> Option<ClinicalList> {
    match raw.split_once(':') {
        None => (raw == "recalls").then_some(ClinicalList::Recalls),
        Some((list, key)) => ClinicalList::of(list, key.trim()).filter(|l| l.parts().1.is_some()),
    }
}

fn parse_form(form: &TaskForm) -> Result<NewTask, FieldErrors> {
    let mut errors = FieldErrors::default();
    let provider = match form.provider.trim() {
        "" => None,
        p => match p.parse() {
            Ok(p) => Some(p),
            Err(_) => {
                errors.add("provider", "choose a panel from the list");
                None
            }
        },
    };
    let owner = form
        .owner
        .parse()
        .map_err(|_| errors.add("owner", "choose who does the review"))
        .ok();
    let frequency = Frequency::from_key(&form.frequency);
    if frequency.is_none() {
        errors.add("frequency", "choose how often");
    }
    let first_due = time::Date::parse(
        form.first_due.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| errors.add("first_due", "a date such as 2026-12-15"))
    .ok();
    let mut query = Vec::new();
    if let Some(list) = clinical_of_choice(form.worklist.trim()) {
        if !form.filters.trim().is_empty() {
            errors.add(
                "filters",
                "filters apply to panel-review lists; a registry, care-gap or recall list takes none",
            );
        }
        query = list.pairs();
    } else if !form.worklist.trim().is_empty() {
        query.push(("worklist".to_owned(), form.worklist.trim().to_owned()));
    }
    match serde_urlencoded::from_str::<Vec<(String, String)>>(form.filters.trim()) {
        Ok(_) if !query.is_empty() && query[0].0 == "list" => {}
        Ok(more) => query.extend(
            more.into_iter()
                .filter(|(k, _)| k != "worklist" && k != "page"),
        ),
        Err(_) => errors.add(
            "filters",
            "the filters could not be read; copy them from a review list's address",
        ),
    }
    if query.is_empty() {
        errors.add("worklist", "choose the list to review");
    }
    match (owner, frequency, first_due) {
        (Some(owner), Some(frequency), Some(first_due)) if errors.is_empty() => Ok(NewTask {
            title: form.title.clone(),
            provider,
            query,
            frequency,
            owner,
            first_due,
        }),
        _ => Err(errors),
    }
}

/// `POST /c/{clinic}/review/tasks`
pub async fn create(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<TaskForm>,
) -> Result<Response, WebError> {
    let new = match parse_form(&form) {
        Ok(n) => n,
        Err(errors) => return draw(&web, frame, form, errors).await,
    };
    let (who, clinic) = (frame.who.user, frame.clinic);
    match web
        .app
        .run(move |app| Ok(app.create_review_task(who, clinic, new)))
        .await?
    {
        Ok(_) => Ok(
            Redirect::to(&format!("{}/review/tasks?done=created", frame.base())).into_response(),
        ),
        Err(AppError::Invalid { problems, .. }) => {
            draw(&web, frame, form, FieldErrors::from_problems(&problems)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneForm {
    #[serde(default)]
    note: String,
}

/// `POST /c/{clinic}/review/tasks/{task}/done`
pub async fn complete(
    State(web): State<Web>,
    frame: Frame,
    Path((_, task)): Path<(String, TaskId)>,
    CsrfForm { form, .. }: CsrfForm<DoneForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    web.app
        .run(move |app| app.complete_review_task(who, clinic, task, &form.note))
        .await?;
    Ok(Redirect::to(&format!("{}/review/tasks?done=completed", frame.base())).into_response())
}

/// `POST /c/{clinic}/review/tasks/{task}/retire`
pub async fn retire(
    State(web): State<Web>,
    frame: Frame,
    Path((_, task)): Path<(String, TaskId)>,
    _form: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    web.app
        .run(move |app| app.retire_review_task(who, clinic, task))
        .await?;
    Ok(Redirect::to(&format!("{}/review/tasks?done=retired", frame.base())).into_response())
}
