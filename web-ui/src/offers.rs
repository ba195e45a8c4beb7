//! `/c/{clinic}/offers`: the clinic's inbox of provincial match offers. The provider (or a
//! delegate) accepts or declines each offer, a decline with a reason from the list; the
//! provider, a delegate or an account manager records each person's answer. Everything
//! works offline and reaches the hub at the next sync.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Web;
use super::error::{WebError, render};
use super::frame::{Frame, Layout};
use super::registry::{Done, done, when};
use crate::Query;
use crate::frame::CsrfForm;
use attach_app::{AppError, AttachmentExport, BillingScope, OfferView};
use attach_domain::matching::{Decision, DeclineReason, PersonOutcome};
use attach_domain::{OfferId, PersonId};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{clinic}/offers", get(page))
        .route("/c/{clinic}/offers/decide", post(decide))
        .route("/c/{clinic}/offers/answer", post(answer))
        .route("/c/{clinic}/attachments", get(attachments))
        .route("/c/{clinic}/attachments/download", get(download))
}

const NOTICES: &[(&str, &str)] = &[
    (
        "accepted",
        "Offer accepted. Record each person's answer when you hear from them.",
    ),
    (
        "declined",
        "Offer declined; the people go back to the waitlist, keeping their place.",
    ),
    ("answered", "Answer recorded."),
];

/// One person of an offer, ready to show.
#[derive(Debug)]
pub struct PersonRow {
    pub person: String,
    pub name: String,
    pub phn: String,
    pub born: String,
    pub phone: String,
    pub community: String,
    pub why: String,
    pub outcome: String,
    pub conflict: bool,
    pub open: bool,
    pub answer: String,
}

/// One offer, ready to show.
#[derive(Debug)]
pub struct OfferRow {
    pub id: String,
    pub provider: String,
    pub made: String,
    pub expires: String,
    pub decision: String,
    pub may_decide: bool,
    pub persons: Vec<PersonRow>,
}

fn row(v: OfferView, names: &dyn Fn(attach_domain::UserId) -> String) -> OfferRow {
    let o = &v.offer;
    let any_open = v.outcomes.iter().any(|(_, out)| out.is_open());
    let decision = match (&o.decision, &o.withdrawn) {
        (_, Some(w)) => format!("Withdrawn by the hub: {}", w.reason),
        (None, None) => "Not decided yet".to_owned(),
        (Some(d), None) => match &d.decision {
            Decision::Accept => format!("Accepted {}", when(d.at)),
            Decision::Decline { reason, note } => format!(
                "Declined {}: {}{}",
                when(d.at),
                reason.label(),
                if note.is_empty() {
                    String::new()
                } else {
                    format!(" ({note})")
                }
            ),
        },
    };
    OfferRow {
        id: o.id.to_string(),
        provider: names(o.provider),
        made: when(o.created_at),
        expires: when(o.expires_at),
        decision,
        may_decide: v.may_decide && o.decision.is_none() && any_open,
        persons: o
            .persons
            .iter()
            .map(|p| {
                let outcome = v
                    .outcomes
                    .iter()
                    .find(|(id, _)| *id == p.person)
                    .map_or(PersonOutcome::Open, |(_, out)| *out);
                let lost = v.superseded.contains(&p.person);
                PersonRow {
                    person: p.person.to_string(),
                    name: format!("{}, {}", p.details.family_name, p.details.given_names),
                    phn: p.details.phn.to_string(),
                    born: p.details.date_of_birth.to_string(),
                    phone: p.details.contact.phone.clone(),
                    community: p.details.community.clone(),
                    why: p.why.clone(),
                    outcome: if lost {
                        "Attached to another provider first; taken off this panel by the hub"
                            .to_owned()
                    } else {
                        outcome.label().to_owned()
                    },
                    conflict: outcome.is_conflict() || lost,
                    open: outcome.is_open() && p.answer.is_none(),
                    answer: match &p.answer {
                        None => "No answer yet".to_owned(),
                        Some(a) if a.confirmed => format!("Said yes {}", when(a.at)),
                        Some(a) => format!("Said no {}", when(a.at)),
                    },
                }
            })
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "offers.html")]
struct OffersPage {
    layout: Layout,
    base: String,
    offers: Vec<OfferRow>,
    reasons: Vec<(&'static str, &'static str)>,
    error: String,
    /// The billing form's period to start with (this month so far).
    from: String,
    to: String,
}

async fn draw(web: &Web, frame: Frame, error: String) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (offers, (from, to)) = web
        .app
        .run(move |app| {
            let views = app.inbox(who, clinic)?;
            let names = |u| app.display_name(u);
            let rows = views.into_iter().map(|v| row(v, &names)).collect();
            Ok::<_, AppError>((rows, app.billing_month()))
        })
        .await?;
    Ok(render(&OffersPage {
        base: frame.base(),
        offers,
        from: from.to_string(),
        to: to.to_string(),
        reasons: DeclineReason::ALL.map(|r| (r.key(), r.label())).to_vec(),
        error,
        layout: frame.layout.with_section("offers"),
    }))
}

/// `/c/{clinic}/offers`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let mut frame = frame;
    frame.layout = frame.layout.with_notice(q.notice(NOTICES));
    draw(&web, frame, String::new()).await
}

#[derive(Debug, Default, Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    offer: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

/// `POST /c/{clinic}/offers/decide`
pub async fn decide(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<DecideForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let offer: OfferId = form
        .offer
        .parse()
        .map_err(|_| AppError::not_found("offer"))?;
    let decision = match form.decision.as_str() {
        "accept" => Decision::Accept,
        _ => match DeclineReason::from_key(&form.reason) {
            Some(reason) => Decision::Decline {
                reason,
                note: form.note.trim().to_owned(),
            },
            None => {
                return Ok(super::registry::unprocessable(
                    draw(&web, frame, "Choose why the offer is declined.".to_owned()).await?,
                ));
            }
        },
    };
    let accepted = matches!(decision, Decision::Accept);
    let result = web
        .app
        .run(move |app| app.decide_offer(who, clinic, offer, decision))
        .await;
    finish(
        &web,
        frame,
        result,
        if accepted { "accepted" } else { "declined" },
    )
    .await
}

/// A person's answer to an offer, as the clinic's and the hub's forms send it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AnswerForm {
    #[serde(default)]
    offer: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    note: String,
}

/// An answer form read: the offer, the person, yes or no, and the note.
pub(crate) struct AnswerFields {
    pub offer: OfferId,
    pub person: PersonId,
    pub confirmed: bool,
    pub note: String,
}

impl AnswerForm {
    /// The ids as the page sent them (one that does not parse names no offer or person).
    pub(crate) fn fields(self) -> Result<AnswerFields, AppError> {
        Ok(AnswerFields {
            offer: self
                .offer
                .parse()
                .map_err(|_| AppError::not_found("offer"))?,
            person: self
                .person
                .parse()
                .map_err(|_| AppError::not_found("person in this offer"))?,
            confirmed: self.answer == "yes",
            note: self.note,
        })
    }
}

/// `POST /c/{clinic}/offers/answer`
pub async fn answer(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<AnswerForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let a = form.fields()?;
    let result = web
        .app
        .run(move |app| app.record_answer(who, clinic, a.offer, a.person, a.confirmed, &a.note))
        .await;
    finish(&web, frame, result, "answered").await
}

/// After a decision or an answer: back to the inbox with the notice `key`, or the inbox
/// again with the problem (what was refused) and nothing stored.
async fn finish<T>(
    web: &Web,
    frame: Frame,
    result: Result<T, AppError>,
    key: &str,
) -> Result<Response, WebError> {
    match result {
        Ok(_) => Ok(done(&frame, "offers", key)),
        Err(AppError::Invalid { message, .. }) | Err(AppError::Conflict { message, .. }) => Ok(
            super::registry::unprocessable(draw(web, frame, message).await?),
        ),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PeriodForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// One attachment, ready to show.
#[derive(Debug)]
pub struct AttachmentRow {
    pub date: String,
    pub phn: String,
    pub provider: String,
    pub number: String,
    pub how: String,
}

#[derive(Template)]
#[template(path = "attachments.html")]
struct AttachmentsPage {
    layout: Layout,
    base: String,
    from: String,
    to: String,
    rows: Vec<AttachmentRow>,
    warnings: Vec<String>,
    error: String,
    fee_code: &'static str,
}

impl AttachmentsPage {
    fn new(
        layout: Layout,
        base: String,
        (from, to): (String, String),
        export: Option<&AttachmentExport>,
        error: String,
    ) -> Self {
        Self {
            base,
            from,
            to,
            rows: export
                .iter()
                .flat_map(|e| &e.records)
                .map(|r| AttachmentRow {
                    date: r.date.to_string(),
                    phn: r.phn.to_string(),
                    provider: r.provider_name.clone(),
                    number: r
                        .practitioner_number
                        .clone()
                        .unwrap_or_else(|| "missing".to_owned()),
                    how: if r.how == "match" {
                        "provincial match"
                    } else {
                        "transfer"
                    }
                    .to_owned(),
                })
                .collect(),
            warnings: export.map(AttachmentExport::warnings).unwrap_or_default(),
            fee_code: attach_app::ATTACHMENT_FEE_CODE,
            layout,
            error,
        }
    }
}

/// `/c/{clinic}/attachments?from=…&to=…`: the period's attachment records, the providers
/// still missing a practitioner number, and the billing file to download; a mistyped
/// period is shown again with the problem.
pub async fn attachments(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<PeriodForm>,
) -> Result<Response, WebError> {
    let scope = member_scope(&frame);
    let layout = frame.layout.clone().with_section("offers");
    attachments_page(&web, layout, frame.base(), q, move |app, from, to| {
        app.attachment_records(scope, from, to)
    })
    .await
}

/// `/c/{clinic}/attachments/download?from=…&to=…`: the billing file (CSV).
pub async fn download(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<PeriodForm>,
) -> Result<Response, WebError> {
    let scope = member_scope(&frame);
    attachments_file(&web, q, move |app, from, to| {
        app.attachment_records(scope, from, to)
    })
    .await
}

/// The clinic's attachment records, as far as the viewer may see them.
fn member_scope(frame: &Frame) -> BillingScope {
    BillingScope::Member {
        who: frame.who.user,
        clinic: frame.clinic,
    }
}

/// The attachment records page, at a clinic (`base` is its pages' prefix) or at the hub
/// (`base` is empty): the period's records (this month so far when no period is given), the
/// providers missing a practitioner number, and the link to the billing file.
pub(crate) async fn attachments_page(
    web: &Web,
    layout: Layout,
    base: String,
    q: PeriodForm,
    records: impl FnOnce(&attach_app::App, &str, &str) -> Result<AttachmentExport, AppError>
    + Send
    + 'static,
) -> Result<Response, WebError> {
    let PeriodForm { from, to } = q;
    let (result, period) = web
        .app
        .run(move |app| {
            let (from, to) = if from.trim().is_empty() && to.trim().is_empty() {
                let (f, t) = app.billing_month();
                (f.to_string(), t.to_string())
            } else {
                (from, to)
            };
            Ok((records(app, &from, &to), (from, to)))
        })
        .await?;
    match result {
        Ok(export) => Ok(render(&AttachmentsPage::new(
            layout,
            base,
            period,
            Some(&export),
            String::new(),
        ))),
        Err(AppError::Invalid { message, .. }) => Ok(super::registry::unprocessable(render(
            &AttachmentsPage::new(layout, base, period, None, message),
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The billing file (CSV) of the records `records` gives for the period.
pub(crate) async fn attachments_file(
    web: &Web,
    q: PeriodForm,
    records: impl FnOnce(&attach_app::App, &str, &str) -> Result<AttachmentExport, AppError>
    + Send
    + 'static,
) -> Result<Response, WebError> {
    let export = web.app.run(move |app| records(app, &q.from, &q.to)).await?;
    Ok(attach_http::csv_download(&export).into_response())
}
