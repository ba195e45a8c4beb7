//! Quality-improvement cycles: AIM statements, measures (computed or entered by hand),
//! monthly points, change ideas, and each measure's run chart analysed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, User};
use attach_app::{App, ChangeForm, CycleForm, CycleLine, CycleView, MeasureForm, MeasureView};
use attach_domain::qi::cycle::{Change, CycleStatus, MeasurePoint};
use attach_domain::{ClinicId, CycleId};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update))
        .routes(routes!(add_measure))
        .routes(routes!(change_measure, remove_measure))
        .routes(routes!(export_measure))
        .routes(routes!(record_point))
        .routes(routes!(add_change))
        .routes(routes!(change_change))
}

/// A cycle as sent: its title and AIM statement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CycleBody {
    pub title: String,
    /// What will improve ("HbA1c in target").
    pub improve: String,
    #[serde(default)]
    pub from: Option<f64>,
    #[serde(default)]
    pub to: Option<f64>,
    #[serde(default)]
    pub unit: String,
    /// By when: `YYYY-MM-DD`.
    pub by: String,
    /// The first month measured, `YYYY-MM` (up to 24 months back: a baseline).
    pub first_month: String,
    /// One provider's panel; absent: the clinic.
    #[serde(default)]
    pub provider: Option<Uuid>,
    /// Only the patients on this registry.
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub reflection: String,
    /// active (default) or closed
    #[serde(default)]
    pub status: Option<String>,
}

impl From<CycleBody> for CycleForm {
    fn from(b: CycleBody) -> Self {
        let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        Self {
            title: b.title,
            improve: b.improve,
            from: number(b.from),
            to: number(b.to),
            unit: b.unit,
            by: b.by,
            first_month: b.first_month,
            provider: b.provider.map(|p| p.to_string()).unwrap_or_default(),
            registry: b.registry.unwrap_or_default(),
            reflection: b.reflection,
            status: b.status.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CycleLineBody {
    pub id: Uuid,
    pub title: String,
    /// The AIM statement in the workbook's words.
    pub aim: String,
    /// active or closed
    pub status: String,
    pub measures: usize,
    pub changes: usize,
}

fn status_word(s: CycleStatus) -> String {
    match s {
        CycleStatus::Active => "active",
        CycleStatus::Closed => "closed",
    }
    .to_owned()
}

impl From<CycleLine> for CycleLineBody {
    fn from(l: CycleLine) -> Self {
        Self {
            id: l.cycle.id.0,
            title: l.cycle.title,
            aim: l.statement,
            status: status_word(l.cycle.status),
            measures: l.measures,
            changes: l.changes,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CycleViewBody {
    pub id: Uuid,
    pub title: String,
    pub aim: String,
    pub population: String,
    pub status: String,
    pub first_month: String,
    pub reflection: String,
    pub measures: Vec<MeasureBody>,
    pub changes: Vec<ChangeBody>,
    /// Parts two nodes wrote apart (see the Conflicts page).
    pub conflicts: Vec<String>,
    /// Points taken on this read, for months that had ended.
    pub points_taken: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeasureBody {
    pub key: String,
    pub name: String,
    /// outcome, process or balancing
    pub kind: String,
    /// up, down or neither
    pub better: String,
    /// What it counts, in words.
    pub counts: String,
    pub unit: String,
    pub computed: bool,
    pub points: Vec<PointBody>,
    /// The run chart: absent with no point yet.
    pub chart: Option<ChartBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PointBody {
    pub month: String,
    pub value: f64,
    pub numerator: Option<u32>,
    pub denominator: Option<u32>,
    /// computed, computed late, entered or corrected
    pub taken: String,
    /// Values corrections replaced, oldest first.
    pub replaced: Vec<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChartBody {
    /// The centre line: the median of the first `baseline_points` points.
    pub median: f64,
    pub baseline_points: usize,
    pub runs: usize,
    pub useful_observations: usize,
    pub signals: Vec<SignalBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignalBody {
    /// shift, trend, too_few_runs, too_many_runs or astronomical_point
    pub rule: String,
    /// The months it involves.
    pub months: Vec<String>,
    /// improvement, deterioration or not_judged
    pub assessment: String,
    /// What it means, in words.
    pub meaning: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeBody {
    pub key: String,
    pub title: String,
    pub started: String,
    pub ended: Option<String>,
    pub plan: String,
    #[serde(rename = "do")]
    pub done: String,
    pub study: String,
    pub act: String,
    pub by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

fn point_body(p: &MeasurePoint) -> PointBody {
    PointBody {
        month: p.month.to_string(),
        value: p.value,
        numerator: p.count.map(|c| c.numerator),
        denominator: p.count.map(|c| c.denominator),
        taken: p.taken_words().to_owned(),
        replaced: p.corrections.iter().map(|r| r.value).collect(),
    }
}

fn measure_body(v: &MeasureView) -> MeasureBody {
    let m = &v.measure;
    MeasureBody {
        key: m.key.clone(),
        name: m.name.clone(),
        kind: m.kind.key().to_owned(),
        better: crate::snake(&m.direction),
        counts: v.counts.clone(),
        unit: m.unit().to_owned(),
        computed: m.is_computed(),
        points: v.points.iter().map(point_body).collect(),
        chart: v.chart.as_ref().map(|c| ChartBody {
            median: c.median,
            baseline_points: c.baseline_points,
            runs: c.runs,
            useful_observations: c.useful_observations,
            signals: c
                .signals
                .iter()
                .map(|s| SignalBody {
                    rule: serde_json::to_value(s.kind)
                        .ok()
                        .and_then(|v| v["rule"].as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    months: s
                        .points
                        .iter()
                        .filter_map(|i| c.points.get(*i))
                        .map(|p| p.month.to_string())
                        .collect(),
                    assessment: crate::snake(&s.assessment),
                    meaning: s.meaning(),
                })
                .collect(),
        }),
    }
}

fn change_body(c: &Change) -> ChangeBody {
    ChangeBody {
        key: c.key.clone(),
        title: c.title.clone(),
        started: c.started.to_string(),
        ended: c.ended.map(|d| d.to_string()),
        plan: c.plan.clone(),
        done: c.done.clone(),
        study: c.study.clone(),
        act: c.act.clone(),
        by: c.by.0,
        at: c.at,
    }
}

impl From<CycleView> for CycleViewBody {
    fn from(v: CycleView) -> Self {
        Self {
            id: v.cycle.id.0,
            title: v.cycle.title.clone(),
            aim: v.statement.clone(),
            population: v.population.clone(),
            status: status_word(v.cycle.status),
            first_month: v.cycle.first_month.to_string(),
            reflection: v.cycle.reflection.clone(),
            measures: v.measures.iter().map(measure_body).collect(),
            changes: v.changes.iter().map(change_body).collect(),
            conflicts: v.conflicts,
            points_taken: v.taken,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureInput {
    pub name: String,
    /// outcome, process or balancing
    pub kind: String,
    /// up, down or neither
    #[serde(default)]
    pub better: String,
    /// `gap_up_to_date:<rule>`, `gap_in_target:<rule>`, `on_registry:<registry>`,
    /// `probably_uncoded:<registry>`, or `manual`.
    pub definition: String,
    /// A manual measure's unit.
    #[serde(default)]
    pub unit: String,
    /// Points that make the baseline (0: all so far).
    #[serde(default)]
    pub baseline_points: usize,
}

impl From<MeasureInput> for MeasureForm {
    fn from(b: MeasureInput) -> Self {
        Self {
            name: b.name,
            kind: b.kind,
            direction: b.better,
            definition: b.definition,
            unit: b.unit,
            baseline_points: b.baseline_points.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointInput {
    pub measure: String,
    /// `YYYY-MM`
    pub month: String,
    pub value: f64,
    /// Why, when the month already has a point (the value it replaces is kept).
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeInput {
    pub title: String,
    /// `YYYY-MM-DD`
    pub started: String,
    #[serde(default)]
    pub ended: Option<String>,
    #[serde(default)]
    pub plan: String,
    #[serde(default, rename = "do")]
    pub done: String,
    #[serde(default)]
    pub study: String,
    #[serde(default)]
    pub act: String,
}

impl From<ChangeInput> for ChangeForm {
    fn from(b: ChangeInput) -> Self {
        Self {
            title: b.title,
            started: b.started,
            ended: b.ended.unwrap_or_default(),
            plan: b.plan,
            done: b.done,
            study: b.study,
            act: b.act,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyBody {
    /// The measure's or change idea's key within the cycle.
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCycle {
    pub id: Uuid,
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// The clinic's quality-improvement cycles (active first).
#[utoipa::path(get, path = "/clinics/{clinic}/qi", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = [CycleLineBody]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<Vec<CycleLineBody>>, ApiError> {
    let lines = app.run(move |app| app.qi_cycles(who.user, clinic)).await?;
    Ok(Json(lines.into_iter().map(Into::into).collect()))
}

/// Start a cycle.
#[utoipa::path(post, path = "/clinics/{clinic}/qi", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    request_body = CycleBody,
    responses((status = 201, body = CreatedCycle), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(body): Json<CycleBody>,
) -> Result<(StatusCode, Json<CreatedCycle>), ApiError> {
    let form = CycleForm::from(body);
    let id = app
        .run(move |app| app.create_qi_cycle(who.user, clinic, &form))
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedCycle { id: id.0 })))
}

/// A cycle with its measures, points, run-chart analyses and change ideas; points due (of
/// months that have ended) are taken first.
#[utoipa::path(get, path = "/clinics/{clinic}/qi/{cycle}", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("cycle" = Uuid, Path)),
    responses((status = 200, body = CycleViewBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn read(
    State(app): State<App>,
    User(who): User,
    Path((clinic, cycle)): Path<(ClinicId, CycleId)>,
) -> Result<Json<CycleViewBody>, ApiError> {
    let v = app
        .run(move |app| app.qi_cycle(who.user, clinic, cycle))
        .await?;
    Ok(Json(v.into()))
}

/// Change a cycle's title, aim, status or reflection.
#[utoipa::path(put, path = "/clinics/{clinic}/qi/{cycle}", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("cycle" = Uuid, Path)),
    request_body = CycleBody,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(app): State<App>,
    User(who): User,
    Path((clinic, cycle)): Path<(ClinicId, CycleId)>,
    Json(body): Json<CycleBody>,
) -> Result<StatusCode, ApiError> {
    let form = CycleForm::from(body);
    app.run(move |app| app.update_qi_cycle(who.user, clinic, cycle, &form))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a measure.
#[utoipa::path(post, path = "/clinics/{clinic}/qi/{cycle}/measures", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("cycle" = Uuid, Path)),
    request_body = MeasureInput,
    responses((status = 201, body = KeyBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_measure(
    State(app): State<App>,
    User(who): User,
    Path((clinic, cycle)): Path<(ClinicId, CycleId)>,
    Json(body): Json<MeasureInput>,
) -> Result<(StatusCode, Json<KeyBody>), ApiError> {
    let form = MeasureForm::from(body);
    let key = app
        .run(move |app| app.save_qi_measure(who.user, clinic, cycle, None, &form))
        .await?;
    Ok((StatusCode::CREATED, Json(KeyBody { key })))
}

/// Change a measure's name, kind, direction or baseline (what it counts stays once it has
/// points).
#[utoipa::path(put, path = "/clinics/{clinic}/qi/{cycle}/measures/{key}", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("cycle" = Uuid, Path), ("key" = String, Path)),
    request_body = MeasureInput,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_measure(
    State(app): State<App>,
    User(who): User,
    Path((clinic, cycle, key)): Path<(ClinicId, CycleId, String)>,
    Json(body): Json<MeasureInput>,
) -> Result<StatusCode, ApiError> {
    let form = MeasureForm::from(body);
    app.run(move |app| app.save_qi_measure(who.user, clinic, cycle, Some(&key), &form))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a measure and its points.
#[utoipa::path(delete, path = "/clinics/{clinic}/qi/{cycle}/measures/{key}", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("cycle" = Uuid, Path), ("key" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_measure(
    State(app): State<App>,
    User(who): User,
    Path((clinic, cycle, key)): Path<(ClinicId, CycleId, String)>,
) -> Result<StatusCode, ApiError> {
    app.run(move |app| app.remove_qi_measure(who.user, clinic, cycle, &key))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A measure's points as CSV, as the run chart's table shows them.
#[utoipa::path(get, path = "/clinics/{clinic}/qi/{cycle}/measures/{key}/export", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("cycle" = Uuid, Path), ("key" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_measure(
    State(app): State<App>,
    User(who): User,
    Path((clinic, cycle, key)): Path<(ClinicId, CycleId, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let bytes = app
        .run(move |app| app.export_qi_measure(who.user, clinic, cycle, &key))
        .await?;
    Ok(super::attachment(
        bytes,
        "text/csv; charset=utf-8",
        "run-chart.csv",
    ))
}

/// Enter a month's value of a measure, or correct the month's point.
#[utoipa::path(post, path = "/clinics/{clinic}/qi/{cycle}/points", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("cycle" = Uuid, Path)),
    request_body = PointInput,
    responses((status = 200, body = PointBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_point(
    State(app): State<App>,
    User(who): User,
    Path((clinic, cycle)): Path<(ClinicId, CycleId)>,
    Json(body): Json<PointInput>,
) -> Result<Json<PointBody>, ApiError> {
    let p = app
        .run(move |app| {
            app.record_qi_point(
                who.user,
                clinic,
                cycle,
                &body.measure,
                &body.month,
                &body.value.to_string(),
                &body.note,
            )
        })
        .await?;
    Ok(Json(point_body(&p)))
}

/// Record a change idea tried (a PDSA cycle).
#[utoipa::path(post, path = "/clinics/{clinic}/qi/{cycle}/changes", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("cycle" = Uuid, Path)),
    request_body = ChangeInput,
    responses((status = 201, body = KeyBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_change(
    State(app): State<App>,
    User(who): User,
    Path((clinic, cycle)): Path<(ClinicId, CycleId)>,
    Json(body): Json<ChangeInput>,
) -> Result<(StatusCode, Json<KeyBody>), ApiError> {
    let form = ChangeForm::from(body);
    let key = app
        .run(move |app| app.save_qi_change(who.user, clinic, cycle, None, &form))
        .await?;
    Ok((StatusCode::CREATED, Json(KeyBody { key })))
}

/// Update a change idea (its dates and its plan, do, study and act notes).
#[utoipa::path(put, path = "/clinics/{clinic}/qi/{cycle}/changes/{key}", tag = "qi", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("cycle" = Uuid, Path), ("key" = String, Path)),
    request_body = ChangeInput,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_change(
    State(app): State<App>,
    User(who): User,
    Path((clinic, cycle, key)): Path<(ClinicId, CycleId, String)>,
    Json(body): Json<ChangeInput>,
) -> Result<StatusCode, ApiError> {
    let form = ChangeForm::from(body);
    app.run(move |app| app.save_qi_change(who.user, clinic, cycle, Some(&key), &form))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
