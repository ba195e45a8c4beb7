//! Panel review: the clinic's status rules, the review worklists (one provider's panel or every
//! panel the caller reviews) with their counts, and bulk changes of a selection.

use axum::extract::{RawQuery, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::panels::{EntryBody, StatusRef, entry_body};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, RawBody, User};
use attach_app::{
    App, AppError, BulkAction, BulkReport, MrpSide, MspDecided, MspView, PanelRow, ReviewScope,
};
use attach_domain::{
    ClinicId, ConfirmMethod, EntryId, PatientStatus, ReviewQuery, StatusRules, UserId, Worklist,
};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(get_status_rules, set_status_rules))
        .routes(routes!(worklist_counts))
        .routes(routes!(review_list))
        .routes(routes!(bulk_change))
        .routes(routes!(undo_bulk))
        .routes(routes!(msp_view, msp_upload))
        .routes(routes!(msp_decide))
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(complete_task))
}

/// Largest page of a review list.
const MAX_LIMIT: usize = 1_000;

/// The query of a review list. Every filter given must hold; `status` may repeat.
#[derive(Debug, Deserialize, IntoParams)]
#[allow(dead_code)] // Documents the parameters; they are read from the raw query.
pub struct ReviewParams {
    /// One provider's panel; without it, every panel the caller reviews at the clinic.
    provider: Option<Uuid>,
    /// suggested-status, mrp-unconfirmed, mrp-one-side, mrp-stale, no-visit,
    /// not-seen-since, contact or two-panels.
    worklist: Option<String>,
    /// For mrp-stale: months since the older confirmation (default 12).
    months: Option<u32>,
    /// For not-seen-since: YYYY-MM-DD (default three years ago).
    date: Option<String>,
    /// active, inactive or a clinic status id; repeat for any of several.
    status: Option<String>,
    /// Last visit on or after (YYYY-MM-DD).
    visit_from: Option<String>,
    /// Last visit on or before (YYYY-MM-DD).
    visit_to: Option<String>,
    min_age: Option<u32>,
    max_age: Option<u32>,
    /// female, male, x or unknown
    sex: Option<String>,
    /// both, provider-only, patient-only or neither
    mrp: Option<String>,
    community: Option<String>,
    /// manual, csv_upload, fhir_upload, match or transfer
    how_added: Option<String>,
    /// A PHN or its first digits, a date of birth, "family, given", or name words.
    q: Option<String>,
    #[serde(default)]
    offset: usize,
    /// 1–1000, default 100.
    limit: Option<usize>,
}

/// The query's scope, paging and the rest as the review query.
struct Parsed {
    scope: ReviewScope,
    query: ReviewQuery,
    offset: usize,
    limit: usize,
}

fn parse(raw: Option<&str>, app: &App) -> Result<Parsed, AppError> {
    let pairs: Vec<(String, String)> = match raw {
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|_| AppError::invalid("query", "the query string could not be read"))?,
        None => Vec::new(),
    };
    const KNOWN: [&str; 16] = [
        "provider",
        "worklist",
        "months",
        "date",
        "status",
        "visit_from",
        "visit_to",
        "min_age",
        "max_age",
        "sex",
        "mrp",
        "community",
        "how_added",
        "q",
        "offset",
        "limit",
    ];
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err(AppError::invalid(k.clone(), "not a parameter of this list"));
    }
    let one = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let number = |name: &'static str, default: usize| -> Result<usize, AppError> {
        one(name).map_or(Ok(default), |v| {
            v.trim()
                .parse()
                .map_err(|_| AppError::invalid(name, "a whole number"))
        })
    };
    let scope = match one("provider") {
        Some(p) => ReviewScope::Provider(
            p.parse()
                .map_err(|_| AppError::invalid("provider", "a provider id"))?,
        ),
        None => ReviewScope::Clinic,
    };
    let offset = number("offset", 0)?;
    let limit = number("limit", 100)?;
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid("limit", format!("from 1 to {MAX_LIMIT}")));
    }
    let query = ReviewQuery::from_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        app.clinic_today(),
    )?;
    Ok(Parsed {
        scope,
        query,
        offset,
        limit,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewRowBody {
    pub entry: EntryBody,
    /// The status the clinic's rules suggest, if it differs and was not dismissed.
    pub suggested_status: Option<StatusRef>,
    /// The PHN is on another live panel at this clinic too.
    pub on_two_panels: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPageBody {
    pub total: usize,
    pub offset: usize,
    /// The list in plain words, as printed.
    pub described: String,
    pub rows: Vec<ReviewRowBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorklistCountBody {
    /// The worklist's key (as in `worklist=`).
    pub worklist: String,
    pub title: String,
    /// months (mrp-stale) or date (not-seen-since), with the value counted.
    pub parameter: Option<(String, String)>,
    pub count: usize,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CountParams {
    /// One provider's panel; without it, every panel the caller reviews at the clinic.
    provider: Option<Uuid>,
}

/// A bulk change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// accept_suggestions, dismiss_suggestions, set_status, confirm_mrp, verify_contact or
    /// move (to another provider's panel).
    pub action: String,
    /// For set_status.
    #[serde(default)]
    pub status: Option<StatusRef>,
    /// For confirm_mrp: provider or patient.
    #[serde(default)]
    pub side: Option<String>,
    /// For confirm_mrp: in_person, phone, portal or letter.
    #[serde(default)]
    pub how: Option<String>,
    /// For move: the provider at the clinic whose panel receives the patients.
    #[serde(default)]
    pub to: Option<Uuid>,
    /// For move: why they move (kept in each patient's history).
    #[serde(default)]
    pub reason: Option<String>,
    /// The entries to change.
    pub entries: Vec<EntryRef>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryRef {
    pub provider: Uuid,
    pub entry: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkReportBody {
    /// Entries written, one change each.
    pub changed: usize,
    /// Entries that were already so (for an undo: changed since, so left alone).
    pub unchanged: usize,
    /// The change's id, to undo it (`POST …/review/bulk/{bulk}/undo`); null when nothing
    /// was written.
    pub bulk: Option<Uuid>,
}

impl From<BulkReport> for BulkReportBody {
    fn from(r: BulkReport) -> Self {
        Self {
            changed: r.changed,
            unchanged: r.unchanged,
            bulk: r.bulk.map(|b| b.0),
        }
    }
}

impl BulkRequest {
    fn action(&self) -> Result<BulkAction, AppError> {
        let how = || {
            self.how
                .as_deref()
                .and_then(ConfirmMethod::from_key)
                .ok_or_else(|| AppError::invalid("how", "in_person, phone, portal or letter"))
        };
        Ok(match self.action.as_str() {
            "accept_suggestions" => BulkAction::AcceptSuggestions,
            "dismiss_suggestions" => BulkAction::DismissSuggestions,
            "verify_contact" => BulkAction::VerifyContact,
            "set_status" => {
                let status = self
                    .status
                    .clone()
                    .ok_or_else(|| AppError::invalid("status", "the status to give"))?;
                BulkAction::SetStatus(PatientStatus::try_from(status)?)
            }
            "confirm_mrp" => BulkAction::ConfirmMrp {
                side: self
                    .side
                    .as_deref()
                    .and_then(MrpSide::from_key)
                    .ok_or_else(|| AppError::invalid("side", "provider or patient"))?,
                how: how()?,
            },
            _ => {
                return Err(AppError::invalid(
                    "action",
                    "accept_suggestions, dismiss_suggestions, set_status, confirm_mrp, verify_contact or move",
                ));
            }
        })
    }
}

/// The clinic's status definitions and rules.
#[utoipa::path(get, path = "/clinics/{clinic}/status-rules", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn get_status_rules(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<StatusRules>, ApiError> {
    let rules = app
        .run(move |app| app.status_rules(who.user, clinic))
        .await?;
    Ok(Json(rules))
}

/// Replace the clinic's status definitions and rules (account managers). The body is the
/// document `GET` answers: `active` and `inactive` each with a `definition` and an optional
/// `rule`, and `custom` mapping a clinic status id to its rule. A rule has any of
/// `last_visit` (`{"kind": "seen_within" | "not_seen_for", "months": n}`), `min_age` and
/// `max_age`.
#[utoipa::path(put, path = "/clinics/{clinic}/status-rules", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_status_rules(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(rules): Json<StatusRules>,
) -> Result<Json<StatusRules>, ApiError> {
    let rules = app
        .run(move |app| app.set_status_rules(who.user, clinic, rules))
        .await?;
    Ok(Json(rules))
}

/// How many patients each standard worklist holds.
#[utoipa::path(get, path = "/clinics/{clinic}/review/counts", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), CountParams),
    responses((status = 200, body = Vec<WorklistCountBody>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn worklist_counts(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    crate::extract::Query(p): crate::extract::Query<CountParams>,
) -> Result<Json<Vec<WorklistCountBody>>, ApiError> {
    let scope = p
        .provider
        .map_or(ReviewScope::Clinic, |p| ReviewScope::Provider(UserId(p)));
    let counts = app
        .run(move |app| app.worklist_counts(who.user, clinic, scope))
        .await?;
    Ok(Json(
        counts
            .into_iter()
            .map(|(w, count): (Worklist, usize)| WorklistCountBody {
                worklist: w.key().to_owned(),
                title: w.title(),
                parameter: w.parameter().map(|(k, v)| (k.to_owned(), v)),
                count,
            })
            .collect(),
    ))
}

/// A review list: a worklist and/or filters, in name order, one page.
#[utoipa::path(get, path = "/clinics/{clinic}/review", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ReviewParams),
    responses((status = 200, body = ReviewPageBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review_list(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ReviewPageBody>, ApiError> {
    let body = app
        .run(move |app| {
            let p = parse(raw.as_deref(), app)?;
            let rows = app.review_rows(who.user, clinic, p.scope, &p.query)?;
            let c = app.clinic(who.user, clinic)?;
            let described = p.query.describe(|s| attach_app::status_label(&c, &s));
            Ok(ReviewPageBody {
                total: rows.len(),
                offset: p.offset,
                described,
                rows: rows
                    .into_iter()
                    .skip(p.offset)
                    .take(p.limit)
                    .map(|r| ReviewRowBody {
                        suggested_status: r.suggestion.map(StatusRef::from),
                        on_two_panels: r.on_two_panels,
                        entry: entry_body(PanelRow {
                            clash: false,
                            conflicting_fields: Vec::new(),
                            entry: r.entry,
                        }),
                    })
                    .collect(),
            })
        })
        .await?;
    Ok(Json(body))
}

/// Change many entries at once: one durable change per entry, all or nothing.
#[utoipa::path(post, path = "/clinics/{clinic}/review/bulk", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = BulkRequest,
    responses((status = 200, body = BulkReportBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn bulk_change(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(req): Json<BulkRequest>,
) -> Result<Json<BulkReportBody>, ApiError> {
    let entries: Vec<(UserId, EntryId)> = req
        .entries
        .iter()
        .map(|e| (UserId(e.provider), EntryId(e.entry)))
        .collect();
    if req.action == "move" {
        let to = req.to.map(UserId).ok_or_else(|| {
            AppError::invalid("to", "the provider whose panel receives the patients")
        })?;
        let reason = req.reason.clone().unwrap_or_default();
        let report = app
            .run(move |app| app.bulk_move(who.user, clinic, &entries, to, &reason))
            .await?;
        return Ok(Json(report.into()));
    }
    let action = req.action()?;
    let report = app
        .run(move |app| app.bulk_change(who.user, clinic, &entries, action))
        .await?;
    Ok(Json(report.into()))
}

// ---------------------------------------------------------------------------
// MSP reconciliation
// ---------------------------------------------------------------------------

/// One open question of a reconciliation. `key` names it in a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct MspLineBody {
    pub key: String,
    /// only_msp, only_attach or difference
    pub kind: &'static str,
    pub phn: String,
    /// The entry in Attach (only_attach, difference).
    pub entry: Option<Uuid>,
    /// As MSP lists the patient (only_msp).
    pub family_name: Option<String>,
    pub given_names: Option<String>,
    pub date_of_birth: Option<String>,
    pub deceased: Option<String>,
    /// For a difference: family_name, given_names, date_of_birth, sex or deceased, and
    /// both values.
    pub field: Option<String>,
    pub attach: Option<String>,
    pub msp: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MspDecisionBody {
    pub key: String,
    pub accepted: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub by: Uuid,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MspViewBody {
    /// When the list in use was uploaded on this node (null before any upload).
    #[serde(with = "time::serde::rfc3339::option")]
    pub uploaded_at: Option<time::OffsetDateTime>,
    pub uploaded_by: Option<Uuid>,
    /// Patients on the list in use.
    pub rows: usize,
    /// The questions still open.
    pub open: Vec<MspLineBody>,
    /// Every decision recorded for this provider, newest first.
    pub decided: Vec<MspDecisionBody>,
}

fn msp_body(v: MspView) -> MspViewBody {
    let mut open = Vec::new();
    for p in v.open.only_msp {
        open.push(MspLineBody {
            key: p.key(),
            kind: "only_msp",
            phn: p.phn.to_string(),
            entry: None,
            family_name: Some(p.family_name),
            given_names: Some(p.given_names),
            date_of_birth: Some(p.date_of_birth.to_string()),
            deceased: p.deceased.map(|d| d.to_string()),
            field: None,
            attach: None,
            msp: None,
        });
    }
    for a in v.open.only_attach {
        open.push(MspLineBody {
            key: a.key(),
            kind: "only_attach",
            phn: a.phn.to_string(),
            entry: Some(a.entry.0),
            family_name: None,
            given_names: None,
            date_of_birth: None,
            deceased: None,
            field: None,
            attach: None,
            msp: None,
        });
    }
    for d in v.open.differences {
        open.push(MspLineBody {
            key: d.key(),
            kind: "difference",
            phn: d.phn.to_string(),
            entry: Some(d.entry.0),
            family_name: None,
            given_names: None,
            date_of_birth: None,
            deceased: None,
            field: Some(d.field.key().to_owned()),
            attach: Some(d.attach),
            msp: Some(d.msp),
        });
    }
    MspViewBody {
        uploaded_at: v.uploaded.map(|(at, _)| at),
        uploaded_by: v.uploaded.map(|(_, by)| by.0),
        rows: v.rows,
        open,
        decided: v
            .decided
            .into_iter()
            .map(|(key, d)| MspDecisionBody {
                key,
                accepted: d.accepted,
                at: d.at,
                by: d.by.0,
                reason: d.reason,
            })
            .collect(),
    }
}

type PanelPath = (ClinicId, UserId);

/// The reconciliation of the provider's panel with the MSP list last uploaded on this node.
#[utoipa::path(get, path = "/clinics/{clinic}/providers/{provider}/msp", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)),
    responses((status = 200, body = MspViewBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn msp_view(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
) -> Result<Json<MspViewBody>, ApiError> {
    let view = app
        .run(move |app| app.msp_view(who.user, clinic, provider))
        .await?;
    Ok(Json(msp_body(view)))
}

/// Upload the panel list MSP holds for the provider (CSV, the raw body; columns as on the
/// MSP reconciliation page). Nothing on the panel changes; a bad file is refused with a
/// problem per row and column and the list in use stays.
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/msp", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)),
    request_body(content = String, content_type = "text/csv", description = "MSP's panel list with a header row"),
    responses((status = 200, body = MspViewBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn msp_upload(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
    RawBody(body): RawBody,
) -> Result<Json<MspViewBody>, ApiError> {
    let view = app
        .run(move |app| app.msp_upload(who.user, clinic, provider, &body))
        .await?;
    Ok(Json(msp_body(view)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MspDecideRequest {
    /// Keys of open lines.
    pub keys: Vec<String>,
    /// apply or dismiss
    pub decision: String,
    /// Needed when applying removes patients (kept in their history).
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MspDecidedBody {
    pub applied: usize,
    pub dismissed: usize,
}

impl From<MspDecided> for MspDecidedBody {
    fn from(d: MspDecided) -> Self {
        Self {
            applied: d.applied,
            dismissed: d.dismissed,
        }
    }
}

/// Apply or dismiss open lines of the reconciliation.
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/msp/decisions", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)), request_body = MspDecideRequest,
    responses((status = 200, body = MspDecidedBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn msp_decide(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
    Json(req): Json<MspDecideRequest>,
) -> Result<Json<MspDecidedBody>, ApiError> {
    let accept = match req.decision.as_str() {
        "apply" => true,
        "dismiss" => false,
        _ => return Err(AppError::invalid("decision", "apply or dismiss").into()),
    };
    let decided = app
        .run(move |app| app.msp_decide(who.user, clinic, provider, &req.keys, accept, &req.reason))
        .await?;
    Ok(Json(decided.into()))
}

// ---------------------------------------------------------------------------
// Review tasks
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionBody {
    pub id: Uuid,
    /// The due date this completion answered.
    pub due: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub by: Uuid,
    /// Patients still on the list when it was marked done.
    pub remaining: usize,
    pub note: String,
}

impl From<attach_domain::Completion> for CompletionBody {
    fn from(c: attach_domain::Completion) -> Self {
        Self {
            id: c.id.0,
            due: c.due.to_string(),
            at: c.at,
            by: c.by.0,
            remaining: c.remaining,
            note: c.note,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskBody {
    pub id: Uuid,
    pub title: String,
    /// The provider whose panel is reviewed; null for every panel of the clinic.
    pub provider: Option<Uuid>,
    /// The list, as a review list's query string (`worklist=mrp-stale&months=24`), or a
    /// clinical list's (`list=registry&key=diabetes`; `list` is registry, uncoded, gap or
    /// recalls).
    pub query: String,
    /// The list's name: "Unconfirmed MRP", "Diabetes registry".
    pub list_name: String,
    /// weeks-N or months-N
    pub frequency: String,
    pub owner: Uuid,
    pub first_due: String,
    pub next_due: String,
    /// overdue, due, upcoming or retired
    pub state: &'static str,
    /// Patients on the list now, when the caller may see it.
    pub on_list: Option<usize>,
    pub last: Option<CompletionBody>,
}

fn task_body(v: attach_app::TaskView) -> TaskBody {
    let t = v.task;
    TaskBody {
        id: t.id.0,
        title: t.title,
        provider: t.provider.map(|p| p.0),
        query: serde_urlencoded::to_string(&t.query).unwrap_or_default(),
        list_name: v.list_name,
        frequency: t.frequency.key(),
        owner: t.owner.0,
        first_due: t.first_due.to_string(),
        next_due: v.next_due.to_string(),
        state: v.state.label(),
        on_list: v.on_list,
        last: v.last.map(CompletionBody::from),
    }
}

/// The clinic's review tasks the caller may see, soonest due first.
#[utoipa::path(get, path = "/clinics/{clinic}/review/tasks", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = Vec<TaskBody>), (status = 404, body = ErrorBody)))]
async fn list_tasks(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<Vec<TaskBody>>, ApiError> {
    let tasks = app
        .run(move |app| app.review_tasks(who.user, clinic))
        .await?;
    Ok(Json(tasks.into_iter().map(task_body).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTaskRequest {
    pub title: String,
    #[serde(default)]
    pub provider: Option<Uuid>,
    /// A review list's query string, e.g. `worklist=suggested-status`; or a registry's,
    /// care gap's or the recall list's: `list=registry&key=diabetes`, `list=recalls`.
    pub query: String,
    /// weeks-N (1–52) or months-N (1–24)
    pub frequency: String,
    pub owner: Uuid,
    /// YYYY-MM-DD
    pub first_due: String,
}

/// Set up a recurring review task (account managers).
#[utoipa::path(post, path = "/clinics/{clinic}/review/tasks", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = NewTaskRequest,
    responses((status = 201, body = TaskBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_task(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(req): Json<NewTaskRequest>,
) -> Result<(axum::http::StatusCode, Json<TaskBody>), ApiError> {
    let query: Vec<(String, String)> = serde_urlencoded::from_str(&req.query)
        .map_err(|_| AppError::invalid("query", "a review list's query string"))?;
    let frequency = attach_domain::Frequency::from_key(&req.frequency)
        .ok_or_else(|| AppError::invalid("frequency", "weeks-N (1–52) or months-N (1–24)"))?;
    let first_due = time::Date::parse(
        req.first_due.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| AppError::invalid("first_due", "a date, YYYY-MM-DD"))?;
    let new = attach_app::NewTask {
        title: req.title,
        provider: req.provider.map(UserId),
        query,
        frequency,
        owner: UserId(req.owner),
        first_due,
    };
    let view = app
        .run(move |app| {
            let task = app.create_review_task(who.user, clinic, new)?;
            app.review_tasks(who.user, clinic)?
                .into_iter()
                .find(|v| v.task.id == task.id)
                .ok_or_else(|| AppError::not_found("review task"))
        })
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(task_body(view))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    #[serde(default)]
    pub note: String,
}

/// Mark a review task done for its open due date (its owner or an account manager).
#[utoipa::path(post, path = "/clinics/{clinic}/review/tasks/{task}/completions", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("task" = Uuid, Path)), request_body = CompleteRequest,
    responses((status = 201, body = CompletionBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn complete_task(
    State(app): State<App>,
    User(who): User,
    Path((clinic, task)): Path<(ClinicId, attach_domain::TaskId)>,
    Json(req): Json<CompleteRequest>,
) -> Result<(axum::http::StatusCode, Json<CompletionBody>), ApiError> {
    let done = app
        .run(move |app| app.complete_review_task(who.user, clinic, task, &req.note))
        .await?;
    Ok((axum::http::StatusCode::CREATED, Json(done.into())))
}

/// Undo a bulk change as a second one: each entry still as it left them gets back what it
/// had; entries changed since are left alone and counted.
#[utoipa::path(post, path = "/clinics/{clinic}/review/bulk/{bulk}/undo", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("bulk" = Uuid, Path)),
    responses((status = 200, body = BulkReportBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn undo_bulk(
    State(app): State<App>,
    User(who): User,
    Path((clinic, bulk)): Path<(ClinicId, attach_domain::BulkId)>,
) -> Result<Json<BulkReportBody>, ApiError> {
    let report = app
        .run(move |app| app.undo_bulk(who.user, clinic, bulk))
        .await?;
    Ok(Json(report.into()))
}
