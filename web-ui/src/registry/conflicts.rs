//! Conflicts to review (account managers): clashes that merging offline edits produced,
//! each with every side's value, who wrote it and when, which one is kept now, and a
//! form to settle it by choosing one.

use crate::Query;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::{Done, done, when};
use crate::Web;
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::frame::{Frame, Layout};
use attach_app::{ConflictKey, ConflictView};

const NOTICES: &[(&str, &str)] = &[(
    "settled",
    "The conflict was settled. Other nodes agree once they have synchronised.",
)];

#[derive(Debug, Clone)]
pub struct SideRow {
    pub index: usize,
    pub shown: String,
    pub by: String,
    pub at: String,
    pub kept: bool,
}

#[derive(Debug, Clone)]
pub struct ConflictBlock {
    /// A page-unique id for the block's elements.
    pub n: usize,
    pub key: String,
    pub version: String,
    pub about: String,
    pub description: String,
    pub sides: Vec<SideRow>,
    /// Settling means removing the other entries (patient on several panels).
    pub removes: bool,
    /// Who manages the clinic is settled by the primary only.
    pub can_settle: bool,
}

fn block(n: usize, c: ConflictView, primary: bool) -> ConflictBlock {
    ConflictBlock {
        n,
        can_settle: primary || !matches!(c.key, ConflictKey::Primary | ConflictKey::Secondary),
        removes: matches!(c.key, ConflictKey::Panel { .. }),
        key: c.key.to_string(),
        version: c.version,
        about: c.about,
        description: c.description,
        sides: c
            .values
            .into_iter()
            .enumerate()
            .map(|(index, v)| SideRow {
                index,
                shown: if v.shown.is_empty() {
                    "(empty)".to_owned()
                } else {
                    v.shown
                },
                by: v
                    .by_name
                    .unwrap_or_else(|| "someone on another node".to_owned()),
                at: v.at.map(when).unwrap_or_else(|| "unknown time".to_owned()),
                kept: v.kept,
            })
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "registry/conflicts.html")]
struct ConflictsPage {
    layout: Layout,
    base: String,
    conflicts: Vec<ConflictBlock>,
}

/// `/c/{clinic}/conflicts`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (list, primary) = web
        .app
        .run(move |app| {
            Ok((
                app.conflicts(who, clinic)?,
                app.clinic(who, clinic)?.primary == who,
            ))
        })
        .await?;
    Ok(render(&ConflictsPage {
        base: frame.base(),
        conflicts: list
            .into_iter()
            .enumerate()
            .map(|(n, c)| block(n, c, primary))
            .collect(),
        layout: frame
            .layout
            .with_section("conflicts")
            .with_notice(q.notice(NOTICES)),
    }))
}

#[derive(Debug, Deserialize)]
pub struct SettleForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    version: String,
    chosen: Option<usize>,
}

/// `POST /c/{clinic}/conflicts/settle`
pub async fn settle(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<SettleForm>,
) -> Result<Response, WebError> {
    let key: ConflictKey = form.key.parse()?;
    let chosen = form
        .chosen
        .ok_or_else(|| WebError::BadRequest("choose the value to keep".to_owned()))?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let version = form.version;
    web.app
        .run(move |app| app.settle_conflict(who, clinic, &key, &version, chosen))
        .await?;
    Ok(done(&frame, "conflicts", "settled"))
}
