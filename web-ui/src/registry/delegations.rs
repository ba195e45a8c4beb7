//! Delegation: a provider endorses a staff member without a licence to manage their
//! panel. Either side starts it, the other side confirms, and either side (or an account
//! manager) revokes it. The page says which pending ones wait for the viewer.

use std::collections::HashMap;

use crate::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::{ActionForm, Done, done, when};
use crate::Web;
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::frame::{Frame, Layout};
use attach_app::{DelegationAction, MemberView};
use attach_domain::{Clinic, DelegationId, DelegationState, MemberState, Side, UserId};

const NOTICES: &[(&str, &str)] = &[
    (
        "started",
        "The endorsement was started; it is active once the other person confirms it.",
    ),
    ("confirm", "The endorsement was confirmed and is active."),
    ("revoke", "The endorsement was revoked."),
];

#[derive(Debug, Clone)]
pub struct DelegationRow {
    pub id: String,
    pub provider: String,
    pub delegate: String,
    pub state: &'static str,
    pub started_by: String,
    pub created: String,
    pub confirmed: String,
    pub revoked: String,
    /// Who still has to confirm (pending ones).
    pub awaits: String,
    pub awaits_me: bool,
    pub can_revoke: bool,
}

#[derive(Template)]
#[template(path = "registry/delegations.html")]
struct DelegationsPage {
    layout: Layout,
    base: String,
    awaiting_me: Vec<DelegationRow>,
    pending: Vec<DelegationRow>,
    active: Vec<DelegationRow>,
    revoked: Vec<DelegationRow>,
    /// The viewer is a provider (endorses staff) rather than staff (asks a provider).
    provider: bool,
    /// People the viewer can start an endorsement with.
    others: Vec<(String, String)>,
}

fn rows(
    clinic: &Clinic,
    members: &[MemberView],
    viewer: UserId,
    manager: bool,
) -> Vec<DelegationRow> {
    let names: HashMap<UserId, &str> = members
        .iter()
        .map(|m| (m.membership.user, m.display_name.as_str()))
        .collect();
    let name = |u: UserId| {
        names
            .get(&u)
            .copied()
            .unwrap_or("someone no longer here")
            .to_owned()
    };
    let mut out: Vec<DelegationRow> = clinic
        .delegations
        .values()
        .rev()
        .map(|d| {
            let (starter, other) = match d.started_by {
                Side::Provider => (d.provider, d.delegate),
                Side::Delegate => (d.delegate, d.provider),
            };
            let pending = d.state == DelegationState::Pending;
            DelegationRow {
                id: d.id.to_string(),
                provider: name(d.provider),
                delegate: name(d.delegate),
                state: match d.state {
                    DelegationState::Pending => "Waiting for confirmation",
                    DelegationState::Active => "Active",
                    DelegationState::Revoked => "Revoked",
                },
                started_by: name(starter),
                created: when(d.created_at),
                confirmed: d.confirmed_at.map(when).unwrap_or_default(),
                revoked: match (d.revoked_at, d.revoked_by) {
                    (Some(at), Some(by)) => format!("{} by {}", when(at), name(by)),
                    (Some(at), None) => when(at),
                    _ => String::new(),
                },
                awaits: if pending { name(other) } else { String::new() },
                awaits_me: pending && other == viewer,
                can_revoke: d.state != DelegationState::Revoked
                    && (manager || viewer == d.provider || viewer == d.delegate),
            }
        })
        .collect();
    out.sort_by_key(|r| !r.awaits_me);
    out
}

/// `/c/{clinic}/delegations`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (c, members) = web
        .app
        .run(move |app| Ok((app.clinic(who, clinic)?, app.members(who, clinic)?)))
        .await?;
    let provider = frame
        .layout
        .workspace
        .as_ref()
        .is_some_and(|w| w.role.is_licensed());
    let others = members
        .iter()
        .filter(|m| {
            m.membership.user != who
                && m.membership.state == MemberState::Active
                && m.membership.role.is_licensed() != provider
        })
        .map(|m| (m.membership.user.to_string(), m.display_name.clone()))
        .collect();
    let all = rows(&c, &members, who, frame.layout.is_manager());
    let pick = |state: &str, mine: bool| -> Vec<DelegationRow> {
        all.iter()
            .filter(|r| r.state == state && r.awaits_me == mine)
            .cloned()
            .collect()
    };
    Ok(render(&DelegationsPage {
        base: frame.base(),
        awaiting_me: pick("Waiting for confirmation", true),
        pending: pick("Waiting for confirmation", false),
        active: pick("Active", false),
        revoked: pick("Revoked", false),
        provider,
        others,
        layout: frame
            .layout
            .with_section("delegations")
            .with_notice(q.notice(NOTICES)),
    }))
}

#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    other: String,
}

/// `POST /c/{clinic}/delegations`: a provider endorses a staff member, or a staff member
/// asks a provider to endorse them.
pub async fn start(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<StartForm>,
) -> Result<Response, WebError> {
    let other: UserId = form
        .other
        .parse()
        .map_err(|_| WebError::BadRequest("choose a person from the list".to_owned()))?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let licensed = frame
        .layout
        .workspace
        .as_ref()
        .is_some_and(|w| w.role.is_licensed());
    let (provider, delegate) = if licensed { (who, other) } else { (other, who) };
    web.app
        .run(move |app| app.start_delegation(who, clinic, provider, delegate))
        .await?;
    Ok(done(&frame, "delegations", "started"))
}

/// `POST /c/{clinic}/delegations/{delegation}`: confirm or revoke.
pub async fn action(
    State(web): State<Web>,
    frame: Frame,
    Path((_, delegation)): Path<(String, DelegationId)>,
    CsrfForm { form, .. }: CsrfForm<ActionForm>,
) -> Result<Response, WebError> {
    let action = match form.action.as_str() {
        "confirm" => DelegationAction::Confirm,
        "revoke" => DelegationAction::Revoke,
        _ => {
            return Err(WebError::BadRequest(
                "unknown endorsement action".to_owned(),
            ));
        }
    };
    let (who, clinic) = (frame.who.user, frame.clinic);
    web.app
        .run(move |app| app.delegation_action(who, clinic, delegation, action))
        .await?;
    Ok(done(&frame, "delegations", &form.action))
}
