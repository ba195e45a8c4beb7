//! The clinic's coding protocol: the registries it keeps and their codes, its care-gap rules'
//! populations, intervals and targets, the definitions it adds, and every version. Any
//! member reads it; account managers change it.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::clinics::{HistoryBody, history_body};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, User};
use attach_app::{App, AppError, CodingView, Definition, DefinitionOrigin, GapEdit, RegistryEdit};
use attach_domain::clinical::CodeMatch;
use attach_domain::clinical::rules::{Comparison, Target};
use attach_domain::{ClinicId, Sex};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(read))
        .routes(routes!(history))
        .routes(routes!(add_registry))
        .routes(routes!(save_registry, reset_registry))
        .routes(routes!(add_gap))
        .routes(routes!(save_gap, reset_gap))
}

fn origin_word(o: DefinitionOrigin) -> String {
    match o {
        DefinitionOrigin::Shipped => "shipped",
        DefinitionOrigin::Edited => "edited",
        DefinitionOrigin::Own => "own",
    }
    .to_owned()
}

/// What a rule's latest result should meet: `comparison` and `value`, or for blood
/// pressure `systolic_below` and `diastolic_below`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    /// at_most, below, at_least or above
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systolic_below: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diastolic_below: Option<f64>,
}

fn target_body(t: &Target) -> TargetBody {
    match t {
        Target::Number { comparison, value } => TargetBody {
            comparison: Some(comparison.key().to_owned()),
            value: Some(*value),
            systolic_below: None,
            diastolic_below: None,
        },
        Target::BloodPressureBelow {
            systolic,
            diastolic,
        } => TargetBody {
            comparison: None,
            value: None,
            systolic_below: Some(*systolic),
            diastolic_below: Some(*diastolic),
        },
    }
}

fn target_of(b: TargetBody) -> Result<Target, AppError> {
    match b {
        TargetBody {
            systolic_below: Some(systolic),
            diastolic_below: Some(diastolic),
            comparison: None,
            value: None,
        } => Ok(Target::BloodPressureBelow {
            systolic,
            diastolic,
        }),
        TargetBody {
            comparison: Some(c),
            value: Some(value),
            systolic_below: None,
            diastolic_below: None,
        } => {
            let comparison = Comparison::from_key(&c).ok_or_else(|| {
                AppError::invalid(
                    "target.comparison",
                    format!("\"{c}\" is not at_most, below, at_least or above"),
                )
            })?;
            Ok(Target::Number { comparison, value })
        }
        _ => Err(AppError::invalid(
            "target",
            "give comparison and value, or systolic_below and diastolic_below",
        )),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceBody {
    pub citation: String,
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryDefBody {
    pub key: String,
    pub name: String,
    /// One per line as the forms write them: `icd9 250*` (a prefix), `snomed 44054006`.
    pub codes: Vec<String>,
    pub in_use: bool,
    /// shipped, edited or own
    pub origin: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub changed_at: Option<OffsetDateTime>,
    pub changed_by: Option<Uuid>,
    pub source: Option<SourceBody>,
    /// What each probably-uncoded rule looks for, in words.
    pub uncoded_rules: Vec<String>,
    /// Keys of the care-gap rules for its patients.
    pub care_gap_rules: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GapRuleBody {
    pub key: String,
    pub name: String,
    pub registry: Option<String>,
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    /// female or male; absent: anyone
    pub sex: Option<String>,
    /// Registries whose patients the rule leaves out.
    pub excluding: Vec<String>,
    /// The result, procedure or immunization that closes it (a `concepts` key).
    pub concept: String,
    /// Absent: once, ever.
    pub every_months: Option<u32>,
    pub target: Option<TargetBody>,
    /// The clinic chose to use it.
    pub in_use: bool,
    /// In use and its registry kept: it applies.
    pub applies: bool,
    /// shipped, edited or own
    pub origin: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub changed_at: Option<OffsetDateTime>,
    pub changed_by: Option<Uuid>,
    pub source: Option<SourceBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConceptBody {
    pub key: String,
    pub name: String,
    /// observation, procedure or immunization
    pub kind: String,
    /// The units a target is compared in (empty: any).
    pub units: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeftOutBody {
    pub item: String,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CodingBody {
    pub registries: Vec<RegistryDefBody>,
    pub gaps: Vec<GapRuleBody>,
    /// What a care-gap rule can be closed by.
    pub concepts: Vec<ConceptBody>,
    /// Clinic definitions that could not be applied after a merge, and why.
    pub left_out: Vec<LeftOutBody>,
}

fn source_body(s: Option<&attach_domain::clinical::rules::Source>) -> Option<SourceBody> {
    s.map(|s| SourceBody {
        citation: s.citation.clone(),
        url: s.url.clone(),
    })
}

impl From<CodingView> for CodingBody {
    fn from(v: CodingView) -> Self {
        Self {
            registries: v
                .registries
                .into_iter()
                .map(|r| RegistryDefBody {
                    codes: r.def.codes.iter().map(CodeMatch::to_line).collect(),
                    in_use: r.in_use,
                    origin: origin_word(r.origin),
                    changed_at: r.changed.map(|c| c.0),
                    changed_by: r.changed.map(|c| c.1.0),
                    source: source_body(r.def.source.as_ref()),
                    uncoded_rules: r
                        .def
                        .uncoded
                        .iter()
                        .map(|u| u.description.clone())
                        .collect(),
                    care_gap_rules: r.rules.into_iter().map(|(k, _)| k).collect(),
                    key: r.def.key,
                    name: r.def.name,
                })
                .collect(),
            gaps: v
                .gaps
                .into_iter()
                .map(|g| {
                    let p = g.rule.population;
                    GapRuleBody {
                        key: g.rule.key,
                        name: g.rule.name,
                        registry: p.registry,
                        min_age: p.min_age,
                        max_age: p.max_age,
                        sex: p.sex.map(|s| crate::snake(&s)),
                        excluding: p.excluding,
                        concept: g.rule.concept,
                        every_months: g.rule.every_months,
                        target: g.rule.target.as_ref().map(target_body),
                        in_use: g.in_use,
                        applies: g.applies,
                        origin: origin_word(g.origin),
                        changed_at: g.changed.map(|c| c.0),
                        changed_by: g.changed.map(|c| c.1.0),
                        source: source_body(g.rule.source.as_ref()),
                    }
                })
                .collect(),
            concepts: v
                .concepts
                .into_iter()
                .map(|c| ConceptBody {
                    kind: crate::snake(&c.kind),
                    key: c.key,
                    name: c.name,
                    units: c.units,
                })
                .collect(),
            left_out: v
                .left_out
                .into_iter()
                .map(|l| LeftOutBody {
                    item: l.item,
                    reason: l.reason,
                })
                .collect(),
        }
    }
}

/// A registry as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryIn {
    pub name: String,
    /// One code each: `icd9 250*` (every code starting with 250), `icd10ca E11*`,
    /// `snomed 44054006` (that code only).
    pub codes: Vec<String>,
    /// Default true.
    #[serde(default)]
    pub in_use: Option<bool>,
}

impl From<RegistryIn> for RegistryEdit {
    fn from(b: RegistryIn) -> Self {
        Self {
            name: b.name,
            codes: b.codes,
            in_use: b.in_use.unwrap_or(true),
        }
    }
}

/// A care-gap rule as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GapIn {
    pub name: String,
    /// Patients on this registry only; absent: anyone of the ages and sex.
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub min_age: Option<u32>,
    #[serde(default)]
    pub max_age: Option<u32>,
    /// female or male; absent: anyone
    #[serde(default)]
    pub sex: Option<String>,
    /// A `concepts` key: the result, procedure or immunization that closes it.
    pub concept: String,
    /// Absent: once, ever.
    #[serde(default)]
    pub every_months: Option<u32>,
    #[serde(default)]
    pub target: Option<TargetBody>,
    /// Default true.
    #[serde(default)]
    pub in_use: Option<bool>,
}

fn gap_edit(b: GapIn) -> Result<GapEdit, AppError> {
    let sex = match b.sex.as_deref() {
        None | Some("") => None,
        Some("female") => Some(Sex::Female),
        Some("male") => Some(Sex::Male),
        Some(other) => {
            return Err(AppError::invalid(
                "sex",
                format!("\"{other}\" is not female or male"),
            ));
        }
    };
    Ok(GapEdit {
        name: b.name,
        registry: b.registry.filter(|r| !r.is_empty()),
        min_age: b.min_age,
        max_age: b.max_age,
        sex,
        concept: b.concept,
        every_months: b.every_months,
        target: b.target.map(target_of).transpose()?,
        in_use: b.in_use.unwrap_or(true),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DefinitionKey {
    pub key: String,
}

/// The coding protocol as in force: every registry and rule, shipped, edited or the
/// clinic's own, with what is kept and used.
#[utoipa::path(get, path = "/clinics/{clinic}/coding", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = CodingBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn read(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<CodingBody>, ApiError> {
    let v = app
        .run(move |app| app.coding_protocol(who.user, clinic))
        .await?;
    Ok(Json(v.into()))
}

/// Every version of the coding protocol, oldest first: who changed which definition, how.
#[utoipa::path(get, path = "/clinics/{clinic}/coding/history", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = [HistoryBody]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn history(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<Vec<HistoryBody>>, ApiError> {
    let items = app
        .run(move |app| app.coding_history(who.user, clinic))
        .await?;
    Ok(Json(items.into_iter().map(history_body).collect()))
}

/// Add a registry of the clinic's own (account managers); its key is made from its name.
#[utoipa::path(post, path = "/clinics/{clinic}/coding/registries", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    request_body = RegistryIn,
    responses((status = 201, body = DefinitionKey), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_registry(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(body): Json<RegistryIn>,
) -> Result<(StatusCode, Json<DefinitionKey>), ApiError> {
    let edit = RegistryEdit::from(body);
    let key = app
        .run(move |app| app.save_registry(who.user, clinic, None, &edit))
        .await?;
    Ok((StatusCode::CREATED, Json(DefinitionKey { key })))
}

/// Change a registry's name, codes or whether it is kept (account managers).
#[utoipa::path(put, path = "/clinics/{clinic}/coding/registries/{key}", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("key" = String, Path)),
    request_body = RegistryIn,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_registry(
    State(app): State<App>,
    User(who): User,
    Path((clinic, key)): Path<(ClinicId, String)>,
    Json(body): Json<RegistryIn>,
) -> Result<StatusCode, ApiError> {
    let edit = RegistryEdit::from(body);
    app.run(move |app| app.save_registry(who.user, clinic, Some(&key), &edit))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put a shipped registry back as Attach ships it, or remove one of the clinic's own
/// (account managers; refused while a rule refers to it).
#[utoipa::path(delete, path = "/clinics/{clinic}/coding/registries/{key}", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("key" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reset_registry(
    State(app): State<App>,
    User(who): User,
    Path((clinic, key)): Path<(ClinicId, String)>,
) -> Result<StatusCode, ApiError> {
    app.run(move |app| app.reset_definition(who.user, clinic, Definition::Registry, &key))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a care-gap rule of the clinic's own (account managers).
#[utoipa::path(post, path = "/clinics/{clinic}/coding/gaps", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    request_body = GapIn,
    responses((status = 201, body = DefinitionKey), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_gap(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(body): Json<GapIn>,
) -> Result<(StatusCode, Json<DefinitionKey>), ApiError> {
    let edit = gap_edit(body)?;
    let key = app
        .run(move |app| app.save_gap_rule(who.user, clinic, None, &edit))
        .await?;
    Ok((StatusCode::CREATED, Json(DefinitionKey { key })))
}

/// Change a care-gap rule's population, interval, target or whether it is used (account
/// managers). Its alternatives, exclusions and source are kept.
#[utoipa::path(put, path = "/clinics/{clinic}/coding/gaps/{key}", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("key" = String, Path)),
    request_body = GapIn,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn save_gap(
    State(app): State<App>,
    User(who): User,
    Path((clinic, key)): Path<(ClinicId, String)>,
    Json(body): Json<GapIn>,
) -> Result<StatusCode, ApiError> {
    let edit = gap_edit(body)?;
    app.run(move |app| app.save_gap_rule(who.user, clinic, Some(&key), &edit))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put a shipped rule back as Attach ships it, or remove one of the clinic's own (account
/// managers).
#[utoipa::path(delete, path = "/clinics/{clinic}/coding/gaps/{key}", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("key" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reset_gap(
    State(app): State<App>,
    User(who): User,
    Path((clinic, key)): Path<(ClinicId, String)>,
) -> Result<StatusCode, ApiError> {
    app.run(move |app| app.reset_definition(who.user, clinic, Definition::Gap, &key))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
