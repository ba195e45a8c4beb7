//! Members and account managers: the list with pending join requests, a member's page
//! with their history, and the account managers' actions (approve, decline, activate,
//! deactivate, add, reset a password, assign the secondary, hand over the primary role).

use std::collections::HashMap;

use crate::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::{ActionForm, Done, HistoryRow, Input, done, history_rows, unprocessable, when};
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::frame::{Frame, Layout};
use crate::{FieldErrors, ROLES, Web};
use attach_app::{AppError, MemberAction, MemberView};
use attach_domain::{MemberState, UserId};

const NOTICES: &[(&str, &str)] = &[
    ("approve", "The request was approved."),
    ("decline", "The request was declined."),
    ("activate", "The member was activated."),
    (
        "deactivate",
        "The member was deactivated and can no longer work in this clinic.",
    ),
    ("secondary", "The secondary account manager was changed."),
    (
        "primary",
        "You handed the primary account manager role over.",
    ),
];

/// An action button on a member's row.
#[derive(Debug, Clone)]
pub struct ActionButton {
    pub value: &'static str,
    pub label: &'static str,
    pub danger: bool,
    pub confirm: String,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: String,
    pub username: String,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub state: &'static str,
    pub primary: bool,
    pub secondary: bool,
    pub since: String,
    pub changed: String,
    pub changed_by: String,
    pub actions: Vec<ActionButton>,
    pub can_reset: bool,
}

fn row(m: &MemberView, names: &HashMap<UserId, String>, viewer: UserId) -> MemberRow {
    let s = &m.membership;
    let name = m.display_name.clone();
    let button = |value, label, danger, confirm: String| ActionButton {
        value,
        label,
        danger,
        confirm,
    };
    let actions = match s.state {
        MemberState::Requested => vec![
            button("approve", "Approve", false, String::new()),
            button(
                "decline",
                "Decline",
                true,
                format!("Decline {name}'s request to join?"),
            ),
        ],
        MemberState::Approved => vec![
            button("activate", "Activate", false, String::new()),
            button(
                "deactivate",
                "Deactivate",
                true,
                format!("Deactivate {name}?"),
            ),
        ],
        MemberState::Active if !m.primary_manager => vec![button(
            "deactivate",
            "Deactivate",
            true,
            format!("Deactivate {name}? They can no longer work in this clinic."),
        )],
        MemberState::Deactivated => vec![button("activate", "Activate", false, String::new())],
        MemberState::Active | MemberState::Declined => Vec::new(),
    };
    MemberRow {
        id: s.user.to_string(),
        username: m.username.clone(),
        email: m.email.clone(),
        role: s.role.label(),
        state: s.state.label(),
        primary: m.primary_manager,
        secondary: m.secondary_manager,
        since: when(s.since),
        changed: when(s.changed_at),
        changed_by: names.get(&s.changed_by).cloned().unwrap_or_default(),
        can_reset: s.user != viewer
            && !matches!(s.state, MemberState::Requested | MemberState::Declined),
        actions,
        name,
    }
}

fn names(members: &[MemberView]) -> HashMap<UserId, String> {
    members
        .iter()
        .map(|m| (m.membership.user, m.display_name.clone()))
        .collect()
}

/// The add-a-member form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    /// A checkbox: activate the new member at once.
    #[serde(default)]
    activate: Option<String>,
}

#[derive(Template)]
#[template(path = "registry/members.html")]
struct MembersPage {
    layout: Layout,
    base: String,
    manager: bool,
    primary: bool,
    members: Vec<MemberRow>,
    pending: Vec<MemberRow>,
    /// Active members who could become the secondary or the primary.
    candidates: Vec<(String, String)>,
    secondary: String,
    add_fields: Vec<Input>,
    add_role: String,
    add_activate: bool,
    roles: Vec<(&'static str, &'static str)>,
    errors: FieldErrors,
}

impl MembersPage {
    fn new(frame: Frame, members: &[MemberView], form: &AddForm, errors: FieldErrors) -> Self {
        let viewer = frame.who.user;
        let names = names(members);
        let manager = frame.layout.is_manager();
        let primary = members
            .iter()
            .any(|m| m.membership.user == viewer && m.primary_manager);
        let (pending, listed): (Vec<&MemberView>, Vec<&MemberView>) = members
            .iter()
            .partition(|m| m.membership.state == MemberState::Requested);
        let candidates = members
            .iter()
            .filter(|m| m.membership.state == MemberState::Active && !m.primary_manager)
            .map(|m| (m.membership.user.to_string(), m.display_name.clone()))
            .collect();
        let secondary = members
            .iter()
            .find(|m| m.secondary_manager)
            .map(|m| m.membership.user.to_string())
            .unwrap_or_default();
        let new_form = form.username.is_empty() && errors.is_empty();
        let add_fields = vec![
            Input::new("add-", "username", "Username", &form.username)
                .required()
                .hint("For an existing account (someone working at another clinic too), just the username.")
                .errors(&errors),
            Input::new("add-", "display_name", "Full name", &form.display_name)
                .hint("Needed for a new account.")
                .errors(&errors),
            Input::new("add-", "email", "Email", &form.email)
                .kind("email")
                .errors(&errors),
        ];
        Self {
            base: frame.base(),
            manager,
            primary,
            members: listed.iter().map(|m| row(m, &names, viewer)).collect(),
            pending: pending.iter().map(|m| row(m, &names, viewer)).collect(),
            candidates,
            secondary,
            add_fields,
            add_role: form.role.clone(),
            add_activate: new_form || form.activate.is_some(),
            roles: ROLES.iter().map(|(code, r)| (*code, r.label())).collect(),
            errors,
            layout: frame.layout.with_section("members"),
        }
    }
}

/// `/c/{clinic}/members`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let members = web.app.run(move |app| app.members(who, clinic)).await?;
    let mut frame = frame;
    frame.layout = frame.layout.with_notice(q.notice(NOTICES));
    Ok(render(&MembersPage::new(
        frame,
        &members,
        &AddForm::default(),
        FieldErrors::default(),
    )))
}

#[derive(Template)]
#[template(path = "registry/temporary_password.html")]
struct TemporaryPasswordPage {
    layout: Layout,
    base: String,
    heading: String,
    name: String,
    username: String,
    password: Option<String>,
}

/// Shown once, as the answer to the form, never through a redirect (so it is in no URL
/// and no history entry).
fn temporary_password_page(
    frame: Frame,
    heading: String,
    member: &MemberView,
    password: Option<String>,
) -> Response {
    render(&TemporaryPasswordPage {
        base: frame.base(),
        heading,
        name: member.display_name.clone(),
        username: member.username.clone(),
        password,
        layout: frame.layout.with_section("members"),
    })
}

/// `POST /c/{clinic}/members`: an account manager adds a person.
pub async fn add(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<AddForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let Some(role) = ROLES
        .iter()
        .find(|(code, _)| *code == form.role)
        .map(|(_, r)| *r)
    else {
        let mut errors = FieldErrors::default();
        errors.add("role", "choose the person's role");
        return show_add_errors(&web, frame, form, errors).await;
    };
    let typed = form.clone();
    let result = web
        .app
        .run(move |app| {
            let (member, password) = app.add_member(
                who,
                clinic,
                &typed.username,
                &typed.display_name,
                &typed.email,
                role,
            )?;
            if typed.activate.is_none() {
                return Ok((member, password));
            }
            let (member, _) =
                app.member_action(who, clinic, member.membership.user, MemberAction::Activate)?;
            Ok((member, password))
        })
        .await;
    match result {
        Ok((member, password)) => {
            let heading = format!("{} was added", member.display_name);
            Ok(temporary_password_page(frame, heading, &member, password))
        }
        Err(AppError::Invalid { problems, .. }) => {
            let errors = FieldErrors::from_problems(&problems);
            show_add_errors(&web, frame, form, errors).await
        }
        Err(AppError::Conflict { message, field }) => {
            // Only a new account can clash here: its username, unless the app names another.
            let mut errors = FieldErrors::default();
            errors.add(field.unwrap_or("username"), &message);
            show_add_errors(&web, frame, form, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn show_add_errors(
    web: &Web,
    frame: Frame,
    form: AddForm,
    errors: FieldErrors,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let members = web.app.run(move |app| app.members(who, clinic)).await?;
    Ok(unprocessable(render(&MembersPage::new(
        frame, &members, &form, errors,
    ))))
}

/// `POST /c/{clinic}/members/{user}/action`: approve, decline, activate or deactivate.
pub async fn action(
    State(web): State<Web>,
    frame: Frame,
    Path((_, member)): Path<(String, UserId)>,
    CsrfForm { form, .. }: CsrfForm<ActionForm>,
) -> Result<Response, WebError> {
    let action = match form.action.as_str() {
        "approve" => MemberAction::Approve,
        "decline" => MemberAction::Decline,
        "activate" => MemberAction::Activate,
        "deactivate" => MemberAction::Deactivate,
        _ => return Err(WebError::BadRequest("unknown member action".to_owned())),
    };
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (view, password) = web
        .app
        .run(move |app| app.member_action(who, clinic, member, action))
        .await?;
    match password {
        // Approving someone who asked to join without an account gives them a first password.
        Some(password) => {
            let heading = format!("{} was approved", view.display_name);
            Ok(temporary_password_page(
                frame,
                heading,
                &view,
                Some(password),
            ))
        }
        None => Ok(done(&frame, "members", &form.action)),
    }
}

/// `POST /c/{clinic}/members/{user}/reset-password`
pub async fn reset_password(
    State(web): State<Web>,
    frame: Frame,
    Path((_, member)): Path<(String, UserId)>,
    CsrfForm { .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (view, password) = web
        .app
        .run(move |app| {
            let password = app.reset_password(who, clinic, member)?;
            Ok((app.member(who, clinic, member)?, password))
        })
        .await?;
    let heading = format!("New temporary password for {}", view.display_name);
    Ok(temporary_password_page(
        frame,
        heading,
        &view,
        Some(password),
    ))
}

#[derive(Debug, Deserialize)]
pub struct PersonForm {
    #[serde(default)]
    user: String,
}

impl PersonForm {
    /// The chosen person; empty means none.
    fn person(&self) -> Result<Option<UserId>, WebError> {
        if self.user.is_empty() {
            return Ok(None);
        }
        self.user
            .parse()
            .map(Some)
            .map_err(|_| WebError::BadRequest("choose a person from the list".to_owned()))
    }
}

/// `POST /c/{clinic}/managers/secondary`: assign (or, with no one chosen, clear) the
/// secondary account manager.
pub async fn secondary(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<PersonForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let to = form.person()?;
    web.app
        .run(move |app| app.set_secondary(who, clinic, to))
        .await?;
    Ok(done(&frame, "members", "secondary"))
}

/// `POST /c/{clinic}/managers/primary`: hand the primary role over.
pub async fn handover(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<PersonForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let to = form
        .person()?
        .ok_or_else(|| WebError::BadRequest("choose who becomes the primary".to_owned()))?;
    web.app
        .run(move |app| app.handover_primary(who, clinic, to))
        .await?;
    Ok(done(&frame, "members", "primary"))
}

#[derive(Template)]
#[template(path = "registry/member.html")]
struct MemberPage {
    layout: Layout,
    base: String,
    manager: bool,
    member: MemberRow,
    /// `None` when the viewer may not see it (only managers and the member may).
    history: Option<Vec<HistoryRow>>,
}

/// `/c/{clinic}/members/{user}`: one member, and who changed their membership when.
pub async fn member(
    State(web): State<Web>,
    frame: Frame,
    Path((_, member)): Path<(String, UserId)>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (view, members, history) = web
        .app
        .run(move |app| {
            let view = app.member(who, clinic, member)?;
            let history = match app.member_history(who, clinic, member) {
                Ok(h) => Some(h),
                Err(AppError::Forbidden(_)) => None,
                Err(e) => return Err(e),
            };
            Ok((view, app.members(who, clinic)?, history))
        })
        .await?;
    let names = names(&members);
    let ids: HashMap<String, String> = names
        .iter()
        .map(|(id, name)| (id.to_string(), name.clone()))
        .collect();
    Ok(render(&MemberPage {
        base: frame.base(),
        manager: frame.layout.is_manager(),
        member: row(&view, &names, who),
        history: history.map(|h| history_rows(h, &ids)),
        layout: frame.layout.with_section("members"),
    }))
}
