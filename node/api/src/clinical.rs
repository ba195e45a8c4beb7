//! Clinical data: importing what the EMR exports, the registries, probably-uncoded
//! suggestions and care gaps built on it, and one patient's records.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::panels::{EntryBody, entry_body};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query, RawBody, User};
use attach_app::{
    App, AppError, CareList, ClinicalFile, ClinicalFormat, ClinicalImportReport, ClinicalList,
    ClinicalOverview, PanelRow, PatientClinicalView, ReviewScope,
};
use attach_domain::clinical::rules::{Compiled, GapState, PatientCare, PointValue};
use attach_domain::clinical::{ClinicalFact, ClinicalRecord, ObservationValue, Origin};
use attach_domain::{ClinicId, EntryId, UserId};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(import_clinical))
        .routes(routes!(overview))
        .routes(routes!(list))
        .routes(routes!(patient_clinical))
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
    pub last_date: Option<Date>,
    pub last_value: Option<String>,
    pub due: Option<Date>,
    /// Whether the latest value meets the rule's target (absent: no target or no value).
    pub in_target: Option<bool>,
    /// Not done in time, or out of target: on the recall list.
    pub open: bool,
}

fn point_text(v: PointValue) -> Option<String> {
    match v {
        PointValue::Number(x) => Some(format!("{x}")),
        PointValue::BloodPressure(s, d) => Some(format!("{s}/{d}")),
        PointValue::Done => None,
    }
}

fn gap_body(compiled: &Compiled, g: &GapState) -> GapStateBody {
    let rule = compiled.gap(g.rule);
    GapStateBody {
        rule: rule.key.clone(),
        name: rule.name.clone(),
        timing: crate::snake(&g.timing),
        last_date: g.last.map(|p| p.date),
        last_value: g.last.and_then(|p| point_text(p.value)),
        due: g.due,
        in_target: g.in_target,
        open: g.is_open(),
    }
}

pub fn care_body(compiled: &Compiled, care: &PatientCare) -> CareBody {
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
        care_gaps: care.gaps.iter().map(|g| gap_body(compiled, g)).collect(),
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
                care: care_body(&l.compiled, &r.care),
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
    pub date: Option<Date>,
    /// The value of a result, as written (`6.8 %`, `128/82`).
    pub value: Option<String>,
    /// active, resolved, stopped, entered_in_error (conditions and medications).
    pub status: Option<String>,
    /// emr or attach
    pub origin: String,
}

fn record_body(r: &ClinicalRecord) -> RecordBody {
    let (value, status) = match &r.fact {
        ClinicalFact::Observation { value, .. } => (
            match value {
                ObservationValue::Number { value, unit } => Some(match unit {
                    Some(u) => format!("{value} {u}"),
                    None => format!("{value}"),
                }),
                ObservationValue::BloodPressure {
                    systolic,
                    diastolic,
                } => Some(format!("{systolic}/{diastolic} mmHg")),
                ObservationValue::Coded { code } => Some(code.to_string()),
                ObservationValue::Text { text } => Some(text.clone()),
                ObservationValue::None => None,
            },
            None,
        ),
        ClinicalFact::Condition { status, .. } => (None, Some(crate::snake(status))),
        ClinicalFact::Medication { status, .. } => (None, Some(crate::snake(status))),
        ClinicalFact::Procedure { .. } | ClinicalFact::Immunization { .. } => (None, None),
    };
    RecordBody {
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
}

impl From<PatientClinicalView> for PatientClinicalBody {
    fn from(v: PatientClinicalView) -> Self {
        Self {
            care: care_body(&v.compiled, &v.care),
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
