//! The registry pages of a clinic: its details and locations, its members and account
//! managers, its patient statuses, delegation, and the conflicts merges left to settle.
//! Every page shows who changed what and when, from the records' own fields or from the
//! clinic document's history.

mod clinic;
mod conflicts;
mod delegations;
mod members;
mod protocol;
mod rules;
mod statuses;

use std::collections::HashMap;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::Web;
use super::error::WebError;
use super::frame::Frame;
use attach_app::HistoryView;
use attach_domain::Clinic;

pub fn routes() -> Router<Web> {
    Router::new()
        .route(
            "/c/{clinic}/clinic",
            get(clinic::page).post(clinic::save_profile),
        )
        .route("/c/{clinic}/clinic/locations", post(clinic::save_location))
        .route("/c/{clinic}/members", get(members::page).post(members::add))
        .route("/c/{clinic}/members/{user}", get(members::member))
        .route("/c/{clinic}/members/{user}/action", post(members::action))
        .route(
            "/c/{clinic}/members/{user}/reset-password",
            post(members::reset_password),
        )
        .route("/c/{clinic}/managers/secondary", post(members::secondary))
        .route("/c/{clinic}/managers/primary", post(members::handover))
        .route(
            "/c/{clinic}/statuses",
            get(statuses::page).post(statuses::create),
        )
        .route(
            "/c/{clinic}/protocol",
            get(protocol::page).post(protocol::save),
        )
        .route("/c/{clinic}/protocol/download", get(protocol::download))
        .route(
            "/c/{clinic}/statuses/rules",
            get(rules::page).post(rules::save),
        )
        .route("/c/{clinic}/statuses/{status}", post(statuses::update))
        .route(
            "/c/{clinic}/delegations",
            get(delegations::page).post(delegations::start),
        )
        .route(
            "/c/{clinic}/delegations/{delegation}",
            post(delegations::action),
        )
        .route("/c/{clinic}/conflicts", get(conflicts::page))
        .route("/c/{clinic}/conflicts/settle", post(conflicts::settle))
}

/// `?done=<key>` after a form was accepted: the page picks a fixed message for the key.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: String,
}

impl Done {
    /// The message `table` gives this key, if any (the URL's text itself is never shown).
    pub(crate) fn notice(&self, table: &[(&str, &'static str)]) -> Option<&'static str> {
        table
            .iter()
            .find(|(key, _)| *key == self.done)
            .map(|(_, message)| *message)
    }
}

/// A button's form that names what to do (`approve`, `confirm`, `revoke` …).
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    action: String,
}

/// The clinic and the history of its details, which the clinic and statuses pages show.
async fn clinic_and_history(
    web: &Web,
    frame: &Frame,
) -> Result<(Clinic, Vec<HistoryView>), WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    Ok(web
        .app
        .run(move |app| Ok((app.clinic(who, clinic)?, app.clinic_history(who, clinic)?)))
        .await?)
}

/// Draws a page made from the clinic and its history (`status`: 200, or 422 for a form
/// shown again).
async fn clinic_page<P: askama::Template>(
    web: &Web,
    frame: Frame,
    status: StatusCode,
    make: impl FnOnce(Frame, &Clinic, Vec<HistoryView>) -> P,
) -> Result<Response, WebError> {
    let (clinic, history) = clinic_and_history(web, &frame).await?;
    let mut response = super::error::render(&make(frame, &clinic, history));
    *response.status_mut() = status;
    Ok(response)
}

/// Back to a page of this clinic with a fixed confirmation.
pub(crate) fn done(frame: &Frame, page: &str, key: &str) -> Response {
    Redirect::to(&format!("{}/{page}?done={key}", frame.base())).into_response()
}

/// A form shown again because of what was typed.
pub(crate) fn unprocessable(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

/// A point in time as staff read it (UTC, to the minute).
pub fn when(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
}

/// One form field, as `registry/input.html` draws it: label, value kept, hint and the
/// error next to it.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    /// The element id, unique on the page.
    pub id: String,
    pub label: String,
    pub kind: &'static str,
    pub value: String,
    pub hint: &'static str,
    pub error: String,
    pub required: bool,
}

impl Input {
    pub(crate) fn new(id_prefix: &str, name: &str, label: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            id: format!("{id_prefix}{}", name.replace('.', "-")),
            label: label.to_owned(),
            kind: "text",
            value: value.to_owned(),
            hint: "",
            error: String::new(),
            required: false,
        }
    }

    fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    pub(crate) fn hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }

    pub(crate) fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Takes the message for this field's name from `errors`.
    pub(crate) fn errors(mut self, errors: &super::FieldErrors) -> Self {
        self.error = errors.get(&self.name).to_owned();
        self
    }

    /// What `aria-describedby` lists: the hint and the error, when present.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.hint.is_empty() {
            ids.push(format!("{}-hint", self.id));
        }
        if !self.error.is_empty() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }
}

/// One change in a history list, ready to show.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub at: String,
    pub by: String,
    pub what: String,
}

/// Ids in history messages become the names people know (`names`: id → name); newest
/// first.
pub(crate) fn history_rows(
    items: Vec<HistoryView>,
    names: &HashMap<String, String>,
) -> Vec<HistoryRow> {
    items
        .into_iter()
        .rev()
        .map(|h| HistoryRow {
            at: h.at.map(when).unwrap_or_else(|| "unknown time".to_owned()),
            by: h
                .user_name
                .unwrap_or_else(|| "someone on another node".to_owned()),
            what: readable(&h.message, names),
        })
        .collect()
}

/// A history message with every id in `names` replaced by its name.
fn readable(message: &str, names: &HashMap<String, String>) -> String {
    message
        .split(' ')
        .map(|word| {
            let mut out = word.to_owned();
            for part in word.split([':', ',']) {
                if let Some(name) = names.get(part) {
                    out = out.replace(part, name);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_messages_name_people_not_ids() {
        let names = HashMap::from([("0191".to_owned(), "Dr. Minh Nguyen".to_owned())]);
        assert_eq!(
            readable("deactivate member 0191", &names),
            "deactivate member Dr. Minh Nguyen"
        );
        assert_eq!(
            readable("settle conflict member:0191:state", &names),
            "settle conflict member:Dr. Minh Nguyen:state"
        );
        assert_eq!(
            readable("update clinic profile", &names),
            "update clinic profile"
        );
    }

    #[test]
    fn done_keys_map_to_fixed_text_only() {
        let table = [("saved", "Saved.")];
        let d = Done {
            done: "saved".into(),
        };
        assert_eq!(d.notice(&table), Some("Saved."));
        let d = Done {
            done: "<script>".into(),
        };
        assert_eq!(d.notice(&table), None);
    }
}
