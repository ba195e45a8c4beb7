//! Match offers in a clinic's inbox: the provider (or a delegate) decides, the clinic
//! records each person's answer. Works offline; the hub learns of it at the next sync.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::snake;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, User};
use attach_app::{App, AppError, OfferView};
use attach_domain::matching::{Decision, DeclineReason, Offer, PersonOutcome};
use attach_domain::{ClinicId, OfferId, PersonId};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_offers))
        .routes(routes!(decide))
        .routes(routes!(answer))
}

/// One person in an offer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferedPersonBody {
    pub person: Uuid,
    pub phn: String,
    pub family_name: String,
    pub given_names: String,
    pub date_of_birth: String,
    pub phone: String,
    pub email: String,
    pub community: String,
    /// Why this person was offered now.
    pub why: String,
    /// open, attached, declined_by_provider, declined_by_patient, expired, withdrawn,
    /// late_acceptance, accepted_after_withdrawal
    pub outcome: String,
    /// The outcome in words.
    pub outcome_label: String,
    /// A clash to review (accepted late or after withdrawal, or attached elsewhere first).
    pub conflict: bool,
    pub answer: Option<AnswerRecord>,
}

/// A recorded answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AnswerRecord {
    pub confirmed: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: Uuid,
    pub note: String,
}

/// An offer in the inbox.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferBody {
    pub id: Uuid,
    pub provider: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// accept or decline, once decided.
    pub decision: Option<String>,
    pub decline_reason: Option<String>,
    pub decline_note: Option<String>,
    pub withdrawn_reason: Option<String>,
    pub may_decide: bool,
    /// Fields two replicas decided differently (the kept value is the one shown).
    pub conflicted_fields: Vec<String>,
    pub persons: Vec<OfferedPersonBody>,
}

fn offer_body(v: OfferView) -> OfferBody {
    let OfferView {
        offer,
        outcomes,
        conflicts,
        superseded,
        may_decide,
    } = v;
    let Offer {
        id,
        provider,
        persons,
        created_at,
        expires_at,
        decision,
        withdrawn,
        ..
    } = offer;
    let (decision, decline_reason, decline_note) = match decision.map(|d| d.decision) {
        None => (None, None, None),
        Some(Decision::Accept) => (Some("accept".to_owned()), None, None),
        Some(Decision::Decline { reason, note }) => (
            Some("decline".to_owned()),
            Some(reason.key().to_owned()),
            Some(note),
        ),
    };
    OfferBody {
        id: id.0,
        provider: provider.0,
        created_at,
        expires_at,
        decision,
        decline_reason,
        decline_note,
        withdrawn_reason: withdrawn.map(|w| w.reason),
        may_decide,
        conflicted_fields: conflicts.into_iter().map(|c| c.field).collect(),
        persons: persons
            .into_iter()
            .map(|p| {
                let outcome = outcomes
                    .iter()
                    .find(|(id, _)| *id == p.person)
                    .map_or(PersonOutcome::Open, |(_, o)| *o);
                let lost = superseded.contains(&p.person);
                OfferedPersonBody {
                    person: p.person.0,
                    phn: p.details.phn.to_string(),
                    family_name: p.details.family_name,
                    given_names: p.details.given_names,
                    date_of_birth: p.details.date_of_birth.to_string(),
                    phone: p.details.contact.phone,
                    email: p.details.contact.email,
                    community: p.details.community,
                    why: p.why,
                    outcome: snake_outcome(outcome),
                    outcome_label: if lost {
                        "Attached to another provider first; taken off this panel by the hub"
                            .to_owned()
                    } else {
                        outcome.label().to_owned()
                    },
                    conflict: outcome.is_conflict() || lost,
                    answer: p.answer.map(|a| AnswerRecord {
                        confirmed: a.confirmed,
                        at: a.at,
                        by: a.by.0,
                        note: a.note,
                    }),
                }
            })
            .collect(),
    }
}

fn snake_outcome(o: PersonOutcome) -> String {
    match serde_json::to_value(o) {
        Ok(serde_json::Value::Object(m)) => m
            .get("outcome")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        Ok(other) => snake(&other),
        Err(_) => String::new(),
    }
}

/// The clinic's match offers that the caller may see, newest first.
#[utoipa::path(get, path = "/clinics/{clinic}/offers", tag = "matching", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = Vec<OfferBody>), (status = 404, body = ErrorBody)))]
async fn list_offers(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<Vec<OfferBody>>, ApiError> {
    let offers = app.run(move |app| app.inbox(who.user, clinic)).await?;
    Ok(Json(offers.into_iter().map(offer_body).collect()))
}

/// A provider's decision on an offer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// accept or decline
    pub decision: String,
    /// On decline: panel_full, outside_scope, too_far, language, conflict_of_interest,
    /// previously_discharged, other
    #[serde(default)]
    pub reason: String,
    /// On decline: words (required when the reason is other).
    #[serde(default)]
    pub note: String,
}

impl DecisionBody {
    fn decision(&self) -> Result<Decision, AppError> {
        match self.decision.trim() {
            "accept" => Ok(Decision::Accept),
            "decline" => Ok(Decision::Decline {
                reason: DeclineReason::from_key(&self.reason).ok_or_else(|| {
                    AppError::invalid(
                        "reason",
                        format!(
                            "choose a reason: {}",
                            DeclineReason::ALL.map(|r| r.key()).join(", ")
                        ),
                    )
                })?,
                note: self.note.trim().to_owned(),
            }),
            _ => Err(AppError::invalid("decision", "accept or decline")),
        }
    }
}

/// Accept or decline an offer (the provider or an endorsed delegate).
#[utoipa::path(post, path = "/clinics/{clinic}/offers/{offer}/decision", tag = "matching", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("offer" = Uuid, Path)), request_body = DecisionBody,
    responses((status = 200, body = OfferBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn decide(
    State(app): State<App>,
    User(who): User,
    Path((clinic, offer)): Path<(ClinicId, OfferId)>,
    Json(body): Json<DecisionBody>,
) -> Result<Json<OfferBody>, ApiError> {
    let view = app
        .run(move |app| {
            app.decide_offer(who.user, clinic, offer, body.decision()?)?;
            one(app, who.user, clinic, offer)
        })
        .await?;
    Ok(Json(offer_body(view)))
}

/// A person's answer to an offer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    pub person: Uuid,
    /// true: the person wants this provider; false: they decline.
    pub confirmed: bool,
    #[serde(default)]
    pub note: String,
}

/// Record a person's answer (the provider, a delegate or an account manager).
#[utoipa::path(post, path = "/clinics/{clinic}/offers/{offer}/answers", tag = "matching", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("offer" = Uuid, Path)), request_body = AnswerBody,
    responses((status = 200, body = OfferBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn answer(
    State(app): State<App>,
    User(who): User,
    Path((clinic, offer)): Path<(ClinicId, OfferId)>,
    Json(body): Json<AnswerBody>,
) -> Result<Json<OfferBody>, ApiError> {
    let view = app
        .run(move |app| {
            app.record_answer(
                who.user,
                clinic,
                offer,
                PersonId(body.person),
                body.confirmed,
                &body.note,
            )?;
            one(app, who.user, clinic, offer)
        })
        .await?;
    Ok(Json(offer_body(view)))
}

fn one(
    app: &App,
    who: attach_domain::UserId,
    clinic: ClinicId,
    offer: OfferId,
) -> Result<OfferView, AppError> {
    app.inbox(who, clinic)?
        .into_iter()
        .find(|v| v.offer.id == offer)
        .ok_or_else(|| AppError::not_found("offer"))
}
