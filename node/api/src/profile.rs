//! Panel profile and supply/demand: a provider's panel by age and sex, its counts month by
//! month, the provider's stated appointments and what they cover, and the clinic's
//! visit-rate table behind the estimate.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, User};
use attach_app::{App, CensusMonth, ESTIMATE_COUNTS, RatesView, Supply};
use attach_domain::{ClinicId, UserId, VisitRateBand, VisitRates};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(panel_profile))
        .routes(routes!(set_supply))
        .routes(routes!(get_rates, set_rates, restore_rates))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SexCountsBody {
    pub female: usize,
    pub male: usize,
    /// Sex X and unknown together.
    pub other: usize,
    pub total: usize,
}

impl From<attach_domain::SexCounts> for SexCountsBody {
    fn from(c: attach_domain::SexCounts) -> Self {
        Self {
            female: c.female,
            male: c.male,
            other: c.other,
            total: c.total,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PyramidBandBody {
    pub min_age: u32,
    /// Absent for the open-ended last band (90 and over).
    pub max_age: Option<u32>,
    pub counts: SexCountsBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CensusBody {
    pub year: i32,
    /// 1–12.
    pub month: u8,
    pub total: usize,
    pub active: usize,
    pub inactive: usize,
    /// The clinic's own statuses together.
    pub other: usize,
}

impl From<CensusMonth> for CensusBody {
    fn from(m: CensusMonth) -> Self {
        Self {
            year: m.year,
            month: m.month,
            total: m.total,
            active: m.active,
            inactive: m.inactive,
            other: m.other,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupplyBody {
    pub appointments_per_week: u32,
    pub weeks_per_year: u32,
    pub by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

impl From<Supply> for SupplyBody {
    fn from(s: Supply) -> Self {
        Self {
            appointments_per_week: s.appointments_per_week,
            weeks_per_year: s.weeks_per_year,
            by: s.by.0,
            at: s.at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EstimateBody {
    /// Patients counted (those not inactive).
    pub panel_size: usize,
    pub expected_visits_per_year: f64,
    pub available_visits_per_year: u32,
    pub visits_per_patient: f64,
    /// Patients of this mix the appointments cover.
    pub capacity_patients: u32,
    /// Capacity minus the patients counted: positive is room for more.
    pub room: i64,
    /// The table's average mix stood in because no patient is counted.
    pub assumed_mix: bool,
    pub explanation: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileBody {
    /// Patients on the panel.
    pub size: usize,
    pub desired_size: u32,
    /// 5-year bands, youngest first.
    pub pyramid: Vec<PyramidBandBody>,
    pub totals: SexCountsBody,
    /// Month-end counts, oldest first (at most 24; the current month is counted now).
    pub census: Vec<CensusBody>,
    pub supply: Option<SupplyBody>,
    /// Present once the supply is stated and an estimate can be made.
    pub estimate: Option<EstimateBody>,
    /// Why there is no estimate although the supply is stated.
    pub estimate_problem: Option<String>,
    /// The patients the estimate counts, in words, and how many.
    pub counts: String,
    pub counted: usize,
    /// Whether the clinic uses the default visit-rate table.
    pub rates_default: bool,
    pub rates_source: String,
}

/// A provider's panel profile (whoever may see the panel).
#[utoipa::path(get, path = "/clinics/{clinic}/providers/{provider}/profile", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)),
    responses((status = 200, body = ProfileBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn panel_profile(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<(ClinicId, UserId)>,
) -> Result<Json<ProfileBody>, ApiError> {
    let p = app
        .run(move |app| app.panel_profile(who.user, clinic, provider))
        .await?;
    let (estimate, estimate_problem) = match p.estimate {
        Some(Ok(s)) => (
            Some(EstimateBody {
                panel_size: s.panel_size,
                expected_visits_per_year: s.expected_visits_per_year,
                available_visits_per_year: s.available_visits_per_year,
                visits_per_patient: s.visits_per_patient,
                capacity_patients: s.capacity_patients,
                room: s.room,
                assumed_mix: s.assumed_mix,
                explanation: s.explanation,
            }),
            None,
        ),
        Some(Err(why)) => (None, Some(why)),
        None => (None, None),
    };
    Ok(Json(ProfileBody {
        size: p.size,
        desired_size: p.desired_size,
        pyramid: p
            .pyramid
            .bands
            .iter()
            .map(|b| PyramidBandBody {
                min_age: b.min_age,
                max_age: b.max_age,
                counts: b.counts.into(),
            })
            .collect(),
        totals: p.pyramid.totals.into(),
        census: p.census.into_iter().map(CensusBody::from).collect(),
        supply: p.supply.map(SupplyBody::from),
        estimate,
        estimate_problem,
        counts: ESTIMATE_COUNTS.to_owned(),
        counted: p.counted,
        rates_default: p.rates.default,
        rates_source: p.rates.rates.source,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplyRequest {
    /// 0 to 10,000.
    pub appointments_per_week: u32,
    /// 1 to 52.
    pub weeks_per_year: u32,
}

/// State the appointments a provider offers (the provider and staff they endorsed).
#[utoipa::path(put, path = "/clinics/{clinic}/providers/{provider}/supply", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)), request_body = SupplyRequest,
    responses((status = 200, body = SupplyBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_supply(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<(ClinicId, UserId)>,
    Json(body): Json<SupplyRequest>,
) -> Result<Json<SupplyBody>, ApiError> {
    let s = app
        .run(move |app| {
            app.set_supply(
                who.user,
                clinic,
                provider,
                body.appointments_per_week,
                body.weeks_per_year,
            )
        })
        .await?;
    Ok(Json(s.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBandBody {
    pub min_age: u32,
    /// Leave out for the last, open-ended band.
    #[serde(default)]
    pub max_age: Option<u32>,
    pub female: f64,
    pub male: f64,
    /// The rate for sex X or unknown.
    pub other: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RatesBody {
    /// Whether this is the documented default table.
    pub default: bool,
    pub bands: Vec<RateBandBody>,
    pub source: String,
    pub saved_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub saved_at: Option<OffsetDateTime>,
}

impl From<RatesView> for RatesBody {
    fn from(v: RatesView) -> Self {
        Self {
            default: v.default,
            bands: v
                .rates
                .bands
                .iter()
                .map(|b| RateBandBody {
                    min_age: b.min_age,
                    max_age: b.max_age,
                    female: b.female,
                    male: b.male,
                    other: b.other,
                })
                .collect(),
            source: v.rates.source,
            saved_by: v.saved.map(|(by, _)| by.0),
            saved_at: v.saved.map(|(_, at)| at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatesRequest {
    /// From age 0, in order, no gaps; only the last open-ended.
    pub bands: Vec<RateBandBody>,
    /// Where the rates come from.
    pub source: String,
}

/// The visit-rate table the clinic's estimates use (any member).
#[utoipa::path(get, path = "/clinics/{clinic}/visit-rates", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = RatesBody), (status = 404, body = ErrorBody)))]
async fn get_rates(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<RatesBody>, ApiError> {
    let v = app
        .run(move |app| app.visit_rates(who.user, clinic))
        .await?;
    Ok(Json(v.into()))
}

/// Replace the clinic's visit-rate table (account managers); each problem is named by
/// field (`bands[2].min_age`).
#[utoipa::path(put, path = "/clinics/{clinic}/visit-rates", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = RatesRequest,
    responses((status = 200, body = RatesBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_rates(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Json(body): Json<RatesRequest>,
) -> Result<Json<RatesBody>, ApiError> {
    let rates = VisitRates {
        bands: body
            .bands
            .into_iter()
            .map(|b| VisitRateBand {
                min_age: b.min_age,
                max_age: b.max_age,
                female: b.female,
                male: b.male,
                other: b.other,
            })
            .collect(),
        source: body.source,
    };
    let v = app
        .run(move |app| app.set_visit_rates(who.user, clinic, Some(rates)))
        .await?;
    Ok(Json(v.into()))
}

/// Go back to the default visit-rate table (account managers).
#[utoipa::path(delete, path = "/clinics/{clinic}/visit-rates", tag = "review", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = RatesBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn restore_rates(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
) -> Result<Json<RatesBody>, ApiError> {
    let v = app
        .run(move |app| app.set_visit_rates(who.user, clinic, None))
        .await?;
    Ok(Json(v.into()))
}
