//! Clinical data: importing what the EMR exports, the registries, probably-uncoded
//! suggestions and care gaps built on it, and one patient's records.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::panels::{EntryBody, entry_body};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query, RawBody, User};
use attach_app::{
    App, AppError, AttachRecord, CareList, ClinicalFile, ClinicalFormat, ClinicalImportReport,
    ClinicalList, ClinicalOverview, PanelRow, PatientClinicalView, RecallOutcome, ReviewScope,
};
use attach_domain::clinical::followup::{
    Dismissal, ManualRecord, Recall, RecallAction, RecallStatus,
};
use attach_domain::clinical::rules::{Compiled, GapState, PatientCare, PointValue};
use attach_domain::clinical::{ClinicalFact, ClinicalRecord, ObservationValue, Origin};
use attach_domain::{ClinicId, ConfirmMethod, EntryId, UserId};

// Dates travel as `YYYY-MM-DD`, as the OpenAPI document says.
time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(import_clinical))
        .routes(routes!(overview))
        .routes(routes!(list))
        .routes(routes!(patient_clinical))
        .routes(routes!(recalls, record_recalls))
        .routes(routes!(export_recalls))
        .routes(routes!(dismiss))
        .routes(routes!(restore))
        .routes(routes!(code))
        .routes(routes!(enter_record))
        .routes(routes!(correct_record, delete_record))
        .routes(routes!(entered))
        .routes(routes!(export_entered))
}

#[derive(Debug, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClinicalFormatParam {
    /// A FHIR R4 Bundle (JSON).
    Fhir,
    /// FHIR Bulk Data NDJSON: one resource per line (the files of an export may be sent
    /// concatenated; each line names its own resourceType).
    Ndjson,
    /// Attach's clinical CSV columns.
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// fhir, ndjson or csv
    format: ClinicalFormatParam,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicalImportBody {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub patients: usize,
    /// Patients on no panel of the clinic: their records are kept and shown once they are.
    pub not_on_panel: usize,
    /// Resources skipped, by what (e.g. "Encounter", "entered in error").
    pub skipped: Vec<SkippedBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedBody {
    pub what: String,
    pub count: usize,
}

impl From<ClinicalImportReport> for ClinicalImportBody {
    fn from(r: ClinicalImportReport) -> Self {
        Self {
            added: r.added,
            updated: r.updated,
            unchanged: r.unchanged,
            patients: r.patients,
            not_on_panel: r.not_on_panel,
            skipped: r
                .skipped
                .into_iter()
                .map(|(what, count)| SkippedBody { what, count })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ScopeParams {
    /// One provider's panel; absent: every panel of the clinic the user may see.
    provider: Option<Uuid>,
}

fn scope_of(provider: Option<Uuid>) -> ReviewScope {
    provider.map_or(ReviewScope::Clinic, |p| ReviewScope::Provider(UserId(p)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverviewBody {
    /// Live patients of the panels in scope.
    pub population: usize,
    /// Of those, patients with any clinical record.
    pub with_data: usize,
    /// `false` while the clinic uses the definitions Attach ships.
    pub own_catalogue: bool,
    pub registries: Vec<RegistryCountBody>,
    pub care_gaps: Vec<GapCountBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistryCountBody {
    pub key: String,
    pub name: String,
    pub patients: usize,
    /// Patients per 100 of the population.
    pub prevalence_percent: f64,
    pub probably_uncoded: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GapCountBody {
    pub key: String,
    pub name: String,
    pub eligible: usize,
    pub never: usize,
    pub overdue: usize,
    pub due_soon: usize,
    pub out_of_target: usize,
    /// On the recall list (any of the above).
    pub open: usize,
}

impl From<ClinicalOverview> for OverviewBody {
    fn from(o: ClinicalOverview) -> Self {
        let per_100 = |n: usize| {
            if o.population == 0 {
                0.0
            } else {
                (n as f64 * 1000.0 / o.population as f64).round() / 10.0
            }
        };
        Self {
            population: o.population,
            with_data: o.with_data,
            own_catalogue: o.own_catalogue,
            registries: o
                .registries
                .iter()
                .map(|r| RegistryCountBody {
                    key: r.key.clone(),
                    name: r.name.clone(),
                    patients: r.patients,
                    prevalence_percent: per_100(r.patients),
                    probably_uncoded: r.uncoded,
                })
                .collect(),
            care_gaps: o
                .gaps
                .iter()
                .map(|g| GapCountBody {
                    key: g.key.clone(),
                    name: g.name.clone(),
                    eligible: g.eligible,
                    never: g.never,
                    overdue: g.overdue,
                    due_soon: g.due_soon,
                    out_of_target: g.out_of_target,
                    open: g.open,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    /// Patients coded on registry `key`.
    Registry,
    /// Patients whose data suggests registry `key`'s condition without its code.
    Uncoded,
    /// Patients with an open gap on care-gap rule `key`.
    Gap,
    /// Every patient with an open gap (the recall list); no `key`.
    Recalls,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    list: ListKind,
    /// The registry or care-gap rule.
    key: Option<String>,
    provider: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CareRowBody {
    pub entry: EntryBody,
    pub care: CareBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CareBody {
    /// Registry keys the patient is coded on.
    pub registries: Vec<String>,
    pub probably_uncoded: Vec<UncodedBody>,
    /// Every care-gap rule the patient is eligible for.
    pub care_gaps: Vec<GapStateBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UncodedBody {
    pub registry: String,
    pub rule: String,
    /// The rule in words.
    pub because: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GapStateBody {
    pub rule: String,
    pub name: String,
    /// never, overdue, due_soon or up_to_date
    pub timing: String,
    /// The latest record that counts.
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub last_date: Option<Date>,
    pub last_value: Option<String>,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub due: Option<Date>,
    /// Whether the latest value meets the rule's target (absent: no target or no value).
    pub in_target: Option<bool>,
    /// Not done in time, or out of target: on the recall list.
    pub open: bool,
    /// Where the recall of an open gap stands this round: to_contact, contacted, booked,
    /// declined or done (absent for a gap that is not open).
    pub recall_status: Option<String>,
    /// The recall being worked on this round, if anyone has recorded one.
    pub recall: Option<RecallBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecallBody {
    pub status: String,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub booked_for: Option<Date>,
    /// The patient's reason for declining, or the note on the last change.
    pub note: String,
    /// This round's contact attempts, oldest first.
    pub contacts: Vec<ContactBody>,
    /// Who made the last change, and when.
    pub by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactBody {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: Uuid,
    /// in_person, phone, portal or letter
    pub how: String,
    pub note: String,
}

fn recall_body(r: &Recall) -> RecallBody {
    RecallBody {
        status: r.status.key().to_owned(),
        booked_for: r.booked_for,
        note: r.note.clone(),
        contacts: r
            .contacts
            .iter()
            .map(|a| ContactBody {
                at: a.at,
                by: a.by.0,
                how: a.how.key().to_owned(),
                note: a.note.clone(),
            })
            .collect(),
        by: r.by.0,
        at: r.at,
    }
}

fn point_text(v: PointValue) -> Option<String> {
    match v {
        PointValue::Done => None,
        v => Some(v.to_string()),
    }
}

fn gap_body<'a>(
    compiled: &Compiled,
    g: &GapState,
    recalls: impl IntoIterator<Item = &'a Recall>,
) -> GapStateBody {
    let rule = compiled.gap(g.rule);
    let since = g.last.map(|p| p.date);
    let recall = recalls
        .into_iter()
        .find(|r| r.rule == rule.key)
        .filter(|r| g.is_open() && r.since == since);
    GapStateBody {
        rule: rule.key.clone(),
        name: rule.name.clone(),
        timing: crate::snake(&g.timing),
        last_date: g.last.map(|p| p.date),
        last_value: g.last.and_then(|p| point_text(p.value)),
        due: g.due,
        in_target: g.in_target,
        open: g.is_open(),
        recall_status: g
            .is_open()
            .then(|| Recall::status_now(recall, since).key().to_owned()),
        recall: recall.map(recall_body),
    }
}

pub fn care_body<'a>(
    compiled: &Compiled,
    care: &PatientCare,
    recalls: impl IntoIterator<Item = &'a Recall> + Clone,
) -> CareBody {
    CareBody {
        registries: care
            .registries
            .iter()
            .map(|r| compiled.registry(*r).key.clone())
            .collect(),
        probably_uncoded: care
            .uncoded
            .iter()
            .map(|u| {
                let reg = compiled.registry(u.registry);
                let rule = &reg.uncoded[usize::from(u.rule)];
                UncodedBody {
                    registry: reg.key.clone(),
                    rule: rule.key.clone(),
                    because: rule.description.clone(),
                }
            })
            .collect(),
        care_gaps: care
            .gaps
            .iter()
            .map(|g| gap_body(compiled, g, recalls.clone()))
            .collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CareListBody {
    pub total: usize,
    pub rows: Vec<CareRowBody>,
}

fn list_body(l: CareList) -> CareListBody {
    CareListBody {
        total: l.rows.len(),
        rows: l
            .rows
            .into_iter()
            .map(|r| CareRowBody {
                care: care_body(&l.compiled, &r.care, &r.recalls),
                entry: entry_body(PanelRow {
                    clash: false,
                    conflicting_fields: Vec::new(),
                    entry: r.entry,
                }),
            })
            .collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordBody {
    /// The record's id in the EMR export (or one Attach made for a record entered here).
    pub id: String,
    /// condition, observation, procedure, immunization or medication
    pub kind: String,
    pub display: Option<String>,
    /// Every coding, as `system code` (`icd9 250`, `loinc 4548-4`).
    pub codes: Vec<String>,
    #[serde(with = "iso_date::option")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date: Option<Date>,
    /// The value of a result, as written (`6.8 %`, `128/82`).
    pub value: Option<String>,
    /// active, resolved, stopped, entered_in_error (conditions and medications).
    pub status: Option<String>,
    /// emr or attach (entered or corrected in Attach)
    pub origin: String,
    /// Who entered or corrected it in Attach.
    pub entered_by: Option<Uuid>,
}

fn record_body(r: &ClinicalRecord) -> RecordBody {
    let value = r.fact.value().and_then(ObservationValue::text);
    let status = match &r.fact {
        ClinicalFact::Condition { status, .. } => Some(crate::snake(status)),
        ClinicalFact::Medication { status, .. } => Some(crate::snake(status)),
        _ => None,
    };
    RecordBody {
        entered_by: match r.origin {
            Origin::Attach { by, .. } => Some(by.0),
            Origin::Emr { .. } => None,
        },
        id: r.source_id.clone(),
        kind: r.fact.kind().key().to_owned(),
        display: r.display.clone(),
        codes: r
            .fact
            .codes()
            .iter()
            .map(|c| format!("{} {}", c.system.key(), c.code))
            .collect(),
        date: r.fact.date(),
        value,
        status,
        origin: match r.origin {
            Origin::Emr { .. } => "emr",
            Origin::Attach { .. } => "attach",
        }
        .to_owned(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientClinicalBody {
    pub entry: EntryBody,
    pub records: Vec<RecordBody>,
    /// Ids of records two nodes wrote apart, differently (see the Conflicts page).
    pub conflicting_records: Vec<String>,
    pub care: CareBody,
    /// Probably-uncoded suggestions someone set aside (they do not come back).
    pub dismissed: Vec<DismissalBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DismissalBody {
    pub registry: String,
    pub rule: String,
    pub reason: String,
    pub by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

fn dismissal_body(d: &Dismissal) -> DismissalBody {
    DismissalBody {
        registry: d.registry.clone(),
        rule: d.rule.clone(),
        reason: d.reason.clone(),
        by: d.by.0,
        at: d.at,
    }
}

impl From<PatientClinicalView> for PatientClinicalBody {
    fn from(v: PatientClinicalView) -> Self {
        Self {
            care: care_body(&v.compiled, &v.care, v.recalls.values()),
            dismissed: v.dismissed.iter().map(dismissal_body).collect(),
            records: v.records.iter().map(record_body).collect(),
            conflicting_records: v.conflicts,
            entry: entry_body(PanelRow {
                clash: false,
                conflicting_fields: Vec::new(),
                entry: v.entry,
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// Import clinical records (conditions, results, procedures, immunizations, medications)
/// from a FHIR Bundle, FHIR NDJSON or CSV; the raw file is the body. Records are linked to
/// patients by PHN. Importing the same export again changes nothing; a newer export
/// updates. Any bad row rejects the file with a problem per row and field.
#[utoipa::path(post, path = "/clinics/{clinic}/clinical/import", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ImportParams),
    request_body(content = String, content_type = "application/fhir+json", description = "A FHIR Bundle, NDJSON (application/fhir+ndjson) or CSV (text/csv), as `format` says"),
    responses((status = 200, body = ClinicalImportBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_clinical(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Query(p): Query<ImportParams>,
    RawBody(body): RawBody,
) -> Result<Json<ClinicalImportBody>, ApiError> {
    let (format, name) = match p.format {
        ClinicalFormatParam::Fhir => (ClinicalFormat::FhirBundle, "bundle.json"),
        ClinicalFormatParam::Ndjson => (ClinicalFormat::Ndjson, "export.ndjson"),
        ClinicalFormatParam::Csv => (ClinicalFormat::Csv, "clinical.csv"),
    };
    let file = ClinicalFile {
        name: name.to_owned(),
        bytes: body.to_vec(),
    };
    let report = app
        .run(move |app| app.import_clinical(who.user, clinic, format, &[file]))
        .await?;
    Ok(Json(report.into()))
}

/// Registries (with prevalence and probably-uncoded counts) and care gaps of one panel or
/// of the whole clinic.
#[utoipa::path(get, path = "/clinics/{clinic}/clinical", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ScopeParams),
    responses((status = 200, body = OverviewBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn overview(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Query(p): Query<ScopeParams>,
) -> Result<Json<OverviewBody>, ApiError> {
    let scope = scope_of(p.provider);
    let o = app
        .run(move |app| app.clinical_overview(who.user, clinic, scope))
        .await?;
    Ok(Json(o.into()))
}

/// The patients of a registry, of its probably-uncoded suggestions, of one care gap, or
/// the recall list (every open gap), in name order, each with what the rules say of them.
#[utoipa::path(get, path = "/clinics/{clinic}/clinical/list", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ListParams),
    responses((status = 200, body = CareListBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Query(p): Query<ListParams>,
) -> Result<Json<CareListBody>, ApiError> {
    let scope = scope_of(p.provider);
    let which = match (p.list, p.key) {
        (ListKind::Recalls, None) => ClinicalList::Recalls,
        (ListKind::Recalls, Some(_)) => {
            return Err(AppError::invalid("key", "the recall list takes no key").into());
        }
        (_, None) => {
            return Err(AppError::invalid(
                "key",
                "name the registry or care-gap rule (its key, as the overview lists it)",
            )
            .into());
        }
        (ListKind::Registry, Some(k)) => ClinicalList::Registry(k),
        (ListKind::Uncoded, Some(k)) => ClinicalList::Uncoded(k),
        (ListKind::Gap, Some(k)) => ClinicalList::Gap(k),
    };
    let l = app
        .run(move |app| app.clinical_list(who.user, clinic, scope, &which))
        .await?;
    Ok(Json(list_body(l)))
}

/// One patient's clinical records and what the rules say of them (for their provider and
/// the staff that provider endorsed).
#[utoipa::path(get, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path)),
    responses((status = 200, body = PatientClinicalBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn patient_clinical(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry)): Path<(ClinicId, UserId, EntryId)>,
) -> Result<Json<PatientClinicalBody>, ApiError> {
    let v = app
        .run(move |app| app.patient_clinical(who.user, clinic, provider, entry))
        .await?;
    Ok(Json(v.into()))
}

// ---------------------------------------------------------------------------
// Working the lists: recalls, suggestions, records entered by hand
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecallParams {
    provider: Option<Uuid>,
    /// One care-gap rule's key; absent: every open gap.
    rule: Option<String>,
    /// Recall statuses to keep, comma-separated (to_contact, contacted, booked, declined,
    /// done); absent: to_contact,contacted,booked.
    status: Option<String>,
}

fn statuses_of(raw: Option<&str>) -> Result<Vec<RecallStatus>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(RecallStatus::WORKING.to_vec()),
        Some(list) => list
            .split(',')
            .map(|k| {
                RecallStatus::from_key(k.trim()).ok_or_else(|| {
                    AppError::invalid(
                        "status",
                        format!(
                            "\"{}\" is not a recall status (to_contact, contacted, booked, declined, done)",
                            k.trim()
                        ),
                    )
                })
            })
            .collect(),
    }
}

/// The recall list: patients with an open care gap (every rule's, or one), with where each
/// recall stands, kept to the recall statuses asked for.
#[utoipa::path(get, path = "/clinics/{clinic}/clinical/recalls", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), RecallParams),
    responses((status = 200, body = CareListBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn recalls(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Query(p): Query<RecallParams>,
) -> Result<Json<CareListBody>, ApiError> {
    let scope = scope_of(p.provider);
    let statuses = statuses_of(p.status.as_deref())?;
    let l = app
        .run(move |app| app.recall_list(who.user, clinic, scope, p.rule.as_deref(), &statuses))
        .await?;
    Ok(Json(list_body(l)))
}

/// The recall list as CSV, one line per patient and open gap (the phone list).
#[utoipa::path(get, path = "/clinics/{clinic}/clinical/recalls/export", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), RecallParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn export_recalls(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Query(p): Query<RecallParams>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope_of(p.provider);
    let statuses = statuses_of(p.status.as_deref())?;
    let bytes = app
        .run(move |app| app.export_recalls(who.user, clinic, scope, p.rule.as_deref(), &statuses))
        .await?;
    Ok(super::attachment(
        bytes,
        "text/csv; charset=utf-8",
        "recalls.csv",
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientRef {
    pub provider: Uuid,
    pub entry: Uuid,
}

/// What to record on a recall.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "action", deny_unknown_fields)]
pub enum RecallActionBody {
    /// Reached, or tried to reach, the patient.
    Contacted {
        /// in_person, phone, portal or letter
        how: String,
        #[serde(default)]
        note: String,
    },
    /// Booked for a day (today or later, within two years).
    Booked {
        #[serde(with = "iso_date")]
        #[schema(value_type = String, format = Date)]
        on: Date,
        #[serde(default)]
        note: String,
    },
    /// The patient declined, with their reason.
    Declined { reason: String },
    /// Done, though the record may not be in the EMR's export yet.
    Done {
        #[serde(default)]
        note: String,
    },
    /// Back to "to contact".
    Reopen,
}

impl RecallActionBody {
    fn action(self) -> Result<RecallAction, AppError> {
        Ok(match self {
            Self::Contacted { how, note } => RecallAction::Contacted {
                how: ConfirmMethod::from_key(&how).ok_or_else(|| {
                    AppError::invalid("how", "in_person, phone, portal or letter")
                })?,
                note,
            },
            Self::Booked { on, note } => RecallAction::Booked { on, note },
            Self::Declined { reason } => RecallAction::Declined { reason },
            Self::Done { note } => RecallAction::Done { note },
            Self::Reopen => RecallAction::Reopen,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallChangeBody {
    /// The patients (at most 5,000).
    pub patients: Vec<PatientRef>,
    /// One care-gap rule's key; absent: every open gap of each patient.
    #[serde(default)]
    pub rule: Option<String>,
    #[schema(inline)]
    pub change: RecallActionBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecallOutcomeBody {
    /// Patients whose recalls were written.
    pub patients: usize,
    /// Recalls written.
    pub recalls: usize,
    /// Patients left alone: their gap closed since the list was read.
    pub closed: usize,
}

impl From<RecallOutcome> for RecallOutcomeBody {
    fn from(o: RecallOutcome) -> Self {
        Self {
            patients: o.patients,
            recalls: o.recalls,
            closed: o.closed,
        }
    }
}

/// Record a contact, booking, refusal, completion or reopening on the open care gaps of
/// the patients named (all of them, or none: one durable change).
#[utoipa::path(post, path = "/clinics/{clinic}/clinical/recalls", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    request_body = RecallChangeBody,
    responses((status = 200, body = RecallOutcomeBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_recalls(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(body): Json<RecallChangeBody>,
) -> Result<Json<RecallOutcomeBody>, ApiError> {
    let action = body.change.action()?;
    let targets: Vec<(UserId, EntryId)> = body
        .patients
        .iter()
        .map(|p| (UserId(p.provider), EntryId(p.entry)))
        .collect();
    let outcome = app
        .run(move |app| {
            app.record_recalls(who.user, clinic, &targets, body.rule.as_deref(), &action)
        })
        .await?;
    Ok(Json(outcome.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissBody {
    /// The registry's key.
    pub registry: String,
    /// The probably-uncoded rule's key (as the patient's `probably_uncoded` lists it).
    pub rule: String,
    /// Why it does not apply.
    pub reason: String,
}

/// Dismiss a probably-uncoded suggestion for the patient, with the reason; it does not
/// come back until restored.
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/dismissals", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path)),
    request_body = DismissBody,
    responses((status = 201, body = DismissalBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn dismiss(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry)): Path<(ClinicId, UserId, EntryId)>,
    Json(body): Json<DismissBody>,
) -> Result<(StatusCode, Json<DismissalBody>), ApiError> {
    let d = app
        .run(move |app| {
            app.dismiss_suggestion(
                who.user,
                clinic,
                provider,
                entry,
                &body.registry,
                &body.rule,
                &body.reason,
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(dismissal_body(&d))))
}

/// Restore a dismissed suggestion.
#[utoipa::path(delete, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/dismissals/{registry}/{rule}", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path), ("registry" = String, Path), ("rule" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn restore(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry, registry, rule)): Path<(
        ClinicId,
        UserId,
        EntryId,
        String,
        String,
    )>,
) -> Result<StatusCode, ApiError> {
    app.run(move |app| app.restore_suggestion(who.user, clinic, provider, entry, &registry, &rule))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// The registry's key.
    pub registry: String,
    /// One of the registry's codes as `system code` (`icd9 250`); absent: its first.
    #[serde(default)]
    pub code: Option<String>,
}

/// Code the patient on a registry in Attach (a suggestion accepted): an active condition,
/// listed among the records entered in Attach to take back to the EMR.
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/coded", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path)),
    request_body = CodeBody,
    responses((status = 201, body = RecordBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn code(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry)): Path<(ClinicId, UserId, EntryId)>,
    Json(body): Json<CodeBody>,
) -> Result<(StatusCode, Json<RecordBody>), ApiError> {
    let r = app
        .run(move |app| {
            app.code_in_attach(
                who.user,
                clinic,
                provider,
                entry,
                &body.registry,
                body.code.as_deref(),
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(record_body(&r))))
}

/// A record typed by hand; every field is checked, and each wrong one named.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualRecordBody {
    /// condition, observation, procedure, immunization or medication
    pub kind: String,
    /// One code as `system code`: `icd9 250`, `loinc 4548-4`, `cvx 88`.
    pub code: String,
    #[serde(default)]
    pub display: String,
    /// `YYYY-MM-DD`: onset, result, procedure, dose or start.
    #[serde(default)]
    pub date: String,
    /// A result: a number, or `systolic/diastolic`.
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub unit: String,
    /// A condition's active or resolved; a medication's active or stopped.
    #[serde(default)]
    pub status: String,
}

impl From<ManualRecordBody> for ManualRecord {
    fn from(b: ManualRecordBody) -> Self {
        Self {
            kind: b.kind,
            code: b.code,
            display: b.display,
            date: b.date,
            value: b.value,
            unit: b.unit,
            status: b.status,
        }
    }
}

/// Enter a record by hand on the patient's clinical records.
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/records", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path)),
    request_body = ManualRecordBody,
    responses((status = 201, body = RecordBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn enter_record(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry)): Path<(ClinicId, UserId, EntryId)>,
    Json(body): Json<ManualRecordBody>,
) -> Result<(StatusCode, Json<RecordBody>), ApiError> {
    let form = ManualRecord::from(body);
    let r = app
        .run(move |app| app.save_clinical_record(who.user, clinic, provider, entry, None, &form))
        .await?;
    Ok((StatusCode::CREATED, Json(record_body(&r))))
}

/// Correct a stored record (from the EMR or entered in Attach). The correction is kept over
/// the same export imported again; a newer export of the record replaces it.
#[utoipa::path(put, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/records/{id}", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path), ("id" = String, Path, description = "The record's id, percent-encoded")),
    request_body = ManualRecordBody,
    responses((status = 200, body = RecordBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn correct_record(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry, id)): Path<(ClinicId, UserId, EntryId, String)>,
    Json(body): Json<ManualRecordBody>,
) -> Result<Json<RecordBody>, ApiError> {
    let form = ManualRecord::from(body);
    let r = app
        .run(move |app| {
            app.save_clinical_record(who.user, clinic, provider, entry, Some(&id), &form)
        })
        .await?;
    Ok(Json(record_body(&r)))
}

/// Delete a record entered in Attach by mistake (a record from the EMR is corrected
/// instead: the next import would bring it back).
#[utoipa::path(delete, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/records/{id}", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path), ("id" = String, Path, description = "The record's id, percent-encoded")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn delete_record(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry, id)): Path<(ClinicId, UserId, EntryId, String)>,
) -> Result<StatusCode, ApiError> {
    app.run(move |app| app.delete_attach_record(who.user, clinic, provider, entry, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnteredBody {
    pub provider: Uuid,
    pub entry: Uuid,
    pub phn: String,
    pub record: RecordBody,
}

/// Every record coded, entered or corrected in Attach for the panels in scope: the list to
/// take back to the EMR.
#[utoipa::path(get, path = "/clinics/{clinic}/clinical/entered", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ScopeParams),
    responses((status = 200, body = [EnteredBody]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn entered(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Query(p): Query<ScopeParams>,
) -> Result<Json<Vec<EnteredBody>>, ApiError> {
    let scope = scope_of(p.provider);
    let list: Vec<AttachRecord> = app
        .run(move |app| app.entered_in_attach(who.user, clinic, scope))
        .await?;
    Ok(Json(
        list.iter()
            .map(|a| EnteredBody {
                provider: a.entry.provider.0,
                entry: a.entry.id.0,
                phn: a.entry.details.phn.to_string(),
                record: record_body(&a.record),
            })
            .collect(),
    ))
}

/// The same list as a CSV file in the clinical import's columns.
#[utoipa::path(get, path = "/clinics/{clinic}/clinical/entered/export", tag = "clinical", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ScopeParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn export_entered(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Query(p): Query<ScopeParams>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope_of(p.provider);
    let bytes = app
        .run(move |app| app.export_entered_in_attach(who.user, clinic, scope))
        .await?;
    Ok(super::attachment(
        bytes,
        "text/csv; charset=utf-8",
        "entered-in-attach.csv",
    ))
}
