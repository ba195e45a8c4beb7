//! The panel profile in the browser (workbook step 6): the panel's size, its age–sex
//! pyramid and its active and inactive patients month by month (server-drawn SVG, each
//! with the same numbers in a table), the provider's appointments a week and what they
//! cover (supply and demand), and the clinic's visit-rate table behind that estimate.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::dashboard::{Label, nice_max};
use super::{Context, DoneParam, PanelAccess, PanelAt, PanelLinks, thousands, with_status};
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::{FieldErrors, Frame, Layout, Web};
use attach_app::{AppError, CensusMonth, ESTIMATE_COUNTS, RatesView};
use attach_domain::{DEFAULT_WEEKS_PER_YEAR, Pyramid, SupplyDemand, VisitRates};

const WIDTH: i64 = 640;
/// The middle gutter holding the age labels.
const GUTTER: i64 = 64;
const ROW: i64 = 14;
const TOP: i64 = 30;
const FEMALE_FILL: &str = "#8a3b8f";
const MALE_FILL: &str = "#0b57a4";
const ACTIVE_FILL: &str = "#1e6b3a";
const INACTIVE_FILL: &str = "#8a5a00";
const OTHER_FILL: &str = "#4a5560";

/// One horizontal bar.
#[derive(Debug, Clone)]
pub struct HBar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub fill: &'static str,
    pub label: String,
}

/// One row of the pyramid's table.
#[derive(Debug, Clone)]
pub struct BandRow {
    pub ages: String,
    pub female: String,
    pub male: String,
    pub other: String,
    pub total: String,
}

/// The age–sex pyramid: men to the left of the ages, women to the right, oldest on top.
#[derive(Debug, Clone)]
pub struct PyramidChart {
    pub width: i64,
    pub height: i64,
    pub bars: Vec<HBar>,
    pub ages: Vec<Label>,
    pub female_fill: &'static str,
    pub male_fill: &'static str,
    pub left_legend: i64,
    pub right_legend: i64,
    pub scale: String,
    /// Oldest band first, like the chart.
    pub rows: Vec<BandRow>,
    pub totals: BandRow,
    pub description: String,
}

fn band_row(ages: String, c: &attach_domain::SexCounts) -> BandRow {
    BandRow {
        ages,
        female: thousands(c.female as i64),
        male: thousands(c.male as i64),
        other: thousands(c.other as i64),
        total: thousands(c.total as i64),
    }
}

pub fn pyramid_chart(p: &Pyramid) -> PyramidChart {
    let center = WIDTH / 2;
    let half = center - GUTTER / 2 - 8;
    let max = p
        .bands
        .iter()
        .map(|b| b.counts.female.max(b.counts.male))
        .max()
        .unwrap_or(0)
        .max(1) as i64;
    let scale = |n: usize| (n as i64 * half + max / 2) / max;
    let mut bars = Vec::new();
    let mut ages = Vec::new();
    for (i, b) in p.bands.iter().rev().enumerate() {
        let y = TOP + i as i64 * ROW;
        let label = b.label();
        let m = scale(b.counts.male);
        bars.push(HBar {
            x: center - GUTTER / 2 - m,
            y,
            width: m,
            fill: MALE_FILL,
            label: format!("{label}: {} men", b.counts.male),
        });
        bars.push(HBar {
            x: center + GUTTER / 2,
            y,
            width: scale(b.counts.female),
            fill: FEMALE_FILL,
            label: format!("{label}: {} women", b.counts.female),
        });
        ages.push(Label {
            x: center,
            y: y + ROW - 3,
            text: label,
        });
    }
    let t = &p.totals;
    PyramidChart {
        width: WIDTH,
        height: TOP + p.bands.len() as i64 * ROW + 8,
        bars,
        ages,
        female_fill: FEMALE_FILL,
        male_fill: MALE_FILL,
        left_legend: 8,
        right_legend: WIDTH - 90,
        scale: format!("the longest bar is {} patients", thousands(max)),
        rows: p
            .bands
            .iter()
            .rev()
            .map(|b| band_row(b.label(), &b.counts))
            .collect(),
        totals: band_row("All ages".to_owned(), t),
        description: format!(
            "{} women, {} men and {} of sex X or unknown (in the table only), in 5-year age bands.",
            thousands(t.female as i64),
            thousands(t.male as i64),
            thousands(t.other as i64)
        ),
    }
}

/// One stacked bar of the counts over time.
#[derive(Debug, Clone)]
pub struct VBar {
    pub x: i64,
    pub y: i64,
    pub height: i64,
    pub fill: &'static str,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct CensusRow {
    pub month: String,
    pub total: String,
    pub active: String,
    pub inactive: String,
    pub other: String,
}

/// Active, inactive and other patients at each month's end, as stacked bars.
#[derive(Debug, Clone)]
pub struct CensusChart {
    pub width: i64,
    pub height: i64,
    pub bar_width: i64,
    pub base: i64,
    pub bars: Vec<VBar>,
    pub months: Vec<Label>,
    pub grid: Vec<Label>,
    pub left: i64,
    pub right: i64,
    pub active_fill: &'static str,
    pub inactive_fill: &'static str,
    pub other_fill: &'static str,
    pub rows: Vec<CensusRow>,
    pub since: String,
}

fn month_name(m: &CensusMonth) -> String {
    let name = time::Month::try_from(m.month).map_or_else(|_| "?".to_owned(), |m| m.to_string());
    format!("{} {}", &name[..name.len().min(3)], m.year)
}

pub fn census_chart(months: &[CensusMonth]) -> CensusChart {
    const LEFT: i64 = 52;
    const PLOT: i64 = 160;
    const TOP_PAD: i64 = 26;
    let slot = ((WIDTH - LEFT - 8) / (months.len().max(12) as i64)).max(10);
    let bar_width = (slot * 2 / 3).max(6);
    let max = months.iter().map(|m| m.total).max().unwrap_or(0).max(1);
    let top = nice_max(max) as i64;
    let base = TOP_PAD + PLOT;
    let h = |n: usize| (n as i64 * PLOT + top / 2) / top;
    let mut bars = Vec::new();
    let mut labels = Vec::new();
    for (i, m) in months.iter().enumerate() {
        let x = LEFT + 4 + i as i64 * slot;
        let name = month_name(m);
        let mut y = base;
        for (n, fill, what) in [
            (m.active, ACTIVE_FILL, "active"),
            (m.inactive, INACTIVE_FILL, "inactive"),
            (m.other, OTHER_FILL, "other statuses"),
        ] {
            let height = h(n);
            y -= height;
            bars.push(VBar {
                x,
                y,
                height,
                fill,
                label: format!("{name}: {n} {what}"),
            });
        }
        // Every month is named in the table; the axis names every third.
        if i % 3 == 0 || i + 1 == months.len() {
            labels.push(Label {
                x: x + bar_width / 2,
                y: base + 14,
                text: name,
            });
        }
    }
    let grid = [0, top / 2, top]
        .into_iter()
        .map(|v| Label {
            x: LEFT - 6,
            y: base - (v * PLOT) / top,
            text: thousands(v),
        })
        .collect();
    CensusChart {
        width: WIDTH,
        height: base + 24,
        bar_width,
        base,
        bars,
        months: labels,
        grid,
        left: LEFT,
        right: LEFT + 8 + slot * months.len() as i64,
        active_fill: ACTIVE_FILL,
        inactive_fill: INACTIVE_FILL,
        other_fill: OTHER_FILL,
        rows: months
            .iter()
            .map(|m| CensusRow {
                month: month_name(m),
                total: thousands(m.total as i64),
                active: thousands(m.active as i64),
                inactive: thousands(m.inactive as i64),
                other: thousands(m.other as i64),
            })
            .collect(),
        since: months.first().map(month_name).unwrap_or_default(),
    }
}

/// The supply/demand estimate in words, for the profile and the preferences page.
#[derive(Debug, Clone)]
pub struct Advice {
    pub explanation: String,
    /// "room for about 240 more patients" / "about 120 patients more than …".
    pub headline: String,
    pub over: bool,
}

pub fn advice(s: &SupplyDemand) -> Advice {
    let headline = if s.room >= 0 {
        format!(
            "The appointments cover about {} patients of this panel's mix: room for about {} more.",
            thousands(i64::from(s.capacity_patients)),
            thousands(s.room)
        )
    } else {
        format!(
            "The appointments cover about {} patients of this panel's mix: the panel is about {} over.",
            thousands(i64::from(s.capacity_patients)),
            thousands(-s.room)
        )
    };
    Advice {
        explanation: s.explanation.clone(),
        headline,
        over: s.room < 0,
    }
}

/// What the pages say about supply and demand: the advice once the appointments are
/// stated (or why there is no estimate), else nothing.
pub fn preferences_advice(
    estimate: &Option<Result<SupplyDemand, String>>,
) -> (Option<Advice>, Option<String>) {
    match estimate {
        Some(Ok(s)) => (Some(advice(s)), None),
        Some(Err(why)) => (None, Some(why.clone())),
        None => (None, None),
    }
}

/// The supply form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SupplyForm {
    appointments_per_week: String,
    weeks_per_year: String,
}

impl SupplyForm {
    fn parse(&self) -> Result<(u32, u32), FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut number = |field: &str, raw: &str| -> u32 {
            let cleaned: String = raw.trim().chars().filter(|c| *c != ',').collect();
            cleaned.parse::<u32>().unwrap_or_else(|_| {
                errors.add(field, "enter a whole number");
                0
            })
        };
        let per_week = number("appointments_per_week", &self.appointments_per_week);
        let weeks = number("weeks_per_year", &self.weeks_per_year);
        if errors.is_empty() {
            Ok((per_week, weeks))
        } else {
            Err(errors)
        }
    }
}

#[derive(Template)]
#[template(path = "panel/profile.html")]
struct ProfilePage {
    layout: Layout,
    links: PanelLinks,
    access: PanelAccess,
    size: String,
    desired: String,
    pyramid: PyramidChart,
    census: CensusChart,
    has_census: bool,
    form: SupplyForm,
    errors: FieldErrors,
    advice: Option<Advice>,
    no_estimate: Option<String>,
    stated: bool,
    counted: String,
    counts_what: &'static str,
    rates_source: String,
    rates_default: bool,
    rates_href: String,
}

async fn draw(
    web: &Web,
    frame: &Frame,
    at: PanelAt,
    typed: Option<(SupplyForm, FieldErrors)>,
) -> Result<Response, WebError> {
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let (ctx, profile) = web
        .app
        .run(move |app| {
            let ctx = Context::load(app, who, clinic, provider)?;
            Ok((ctx, app.panel_profile(who, clinic, provider)?))
        })
        .await?;
    let status = if typed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (form, errors) = typed.unwrap_or_else(|| {
        let (per_week, weeks) =
            profile
                .supply
                .map_or((String::new(), DEFAULT_WEEKS_PER_YEAR.to_string()), |s| {
                    (
                        s.appointments_per_week.to_string(),
                        s.weeks_per_year.to_string(),
                    )
                });
        (
            SupplyForm {
                appointments_per_week: per_week,
                weeks_per_year: weeks,
            },
            FieldErrors::default(),
        )
    });
    let (advice, no_estimate) = preferences_advice(&profile.estimate);
    let page = ProfilePage {
        layout: frame.layout.clone().with_section("panel"),
        links: PanelLinks::new(frame, provider, ctx.name(provider)),
        access: ctx.access,
        size: thousands(profile.size as i64),
        desired: thousands(i64::from(profile.desired_size)),
        pyramid: pyramid_chart(&profile.pyramid),
        has_census: !profile.census.is_empty(),
        census: census_chart(&profile.census),
        form,
        errors,
        advice,
        no_estimate,
        stated: profile.supply.is_some(),
        counted: thousands(profile.counted as i64),
        counts_what: ESTIMATE_COUNTS,
        rates_source: profile.rates.rates.source.clone(),
        rates_default: profile.rates.default,
        rates_href: format!("{}/profile/rates", frame.base()),
    };
    Ok(with_status(render(&page), status))
}

/// `GET /c/{clinic}/panels/{provider}/profile`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    crate::Query(q): crate::Query<DoneParam>,
) -> Result<Response, WebError> {
    draw(&web, &q.notice_on(frame), at, None).await
}

/// `POST /c/{clinic}/panels/{provider}/profile/supply`
pub async fn save_supply(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<SupplyForm>,
) -> Result<Response, WebError> {
    let (per_week, weeks) = match form.parse() {
        Ok(v) => v,
        Err(errors) => return draw(&web, &frame, at, Some((form, errors))).await,
    };
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    match web
        .app
        .run(move |app| Ok(app.set_supply(who, clinic, provider, per_week, weeks)))
        .await?
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}/panels/{provider}/profile?done=supply#supply",
            frame.base()
        ))
        .into_response()),
        Err(AppError::Invalid { problems, .. }) => {
            draw(
                &web,
                &frame,
                at,
                Some((form, FieldErrors::from_problems(&problems))),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// One band of the visit-rate table, for display.
#[derive(Debug, Clone)]
pub struct RateRow {
    pub ages: String,
    pub female: String,
    pub male: String,
    pub other: String,
}

/// The rates form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RatesForm {
    bands: String,
    source: String,
    /// Present when the "go back to the default table" button was used.
    default: Option<String>,
}

#[derive(Template)]
#[template(path = "panel/rates.html")]
struct RatesPage {
    layout: Layout,
    base: String,
    manager: bool,
    rows: Vec<RateRow>,
    source: String,
    default: bool,
    saved: String,
    form: RatesForm,
    errors: FieldErrors,
    bands_invalid: bool,
}

async fn draw_rates(
    web: &Web,
    frame: &Frame,
    typed: Option<(RatesForm, FieldErrors)>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (view, manager, names): (RatesView, bool, _) = web
        .app
        .run(move |app| {
            let view = app.visit_rates(who, clinic)?;
            let manager = app.clinic(who, clinic)?.is_account_manager(who);
            Ok((view, manager, super::names(app, who, clinic)?))
        })
        .await?;
    let status = if typed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (form, errors) = typed.unwrap_or_else(|| {
        (
            RatesForm {
                bands: view.rates.to_lines(),
                source: view.rates.source.clone(),
                default: None,
            },
            FieldErrors::default(),
        )
    });
    let saved = view.saved.map_or_else(String::new, |(by, at)| {
        format!(
            "Saved by {} on {}.",
            super::name_of(&names, by),
            super::when(at)
        )
    });
    let page = RatesPage {
        layout: frame.layout.clone().with_section("panel"),
        base: frame.base(),
        manager,
        rows: rate_rows(&view.rates),
        source: view.rates.source.clone(),
        default: view.default,
        saved,
        form,
        bands_invalid: errors
            .all()
            .iter()
            .any(|(f, _)| f.starts_with("line ") || *f == "rates"),
        errors,
    };
    Ok(with_status(render(&page), status))
}

fn rate_rows(r: &VisitRates) -> Vec<RateRow> {
    r.bands
        .iter()
        .map(|b| RateRow {
            ages: b.label(),
            female: format!("{}", b.female),
            male: format!("{}", b.male),
            other: format!("{}", b.other),
        })
        .collect()
}

/// `GET /c/{clinic}/profile/rates`
pub async fn rates(
    State(web): State<Web>,
    frame: Frame,
    crate::Query(q): crate::Query<DoneParam>,
) -> Result<Response, WebError> {
    draw_rates(&web, &q.notice_on(frame), None).await
}

/// `POST /c/{clinic}/profile/rates`
pub async fn save_rates(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<RatesForm>,
) -> Result<Response, WebError> {
    let rates = if form.default.is_some() {
        None
    } else {
        match VisitRates::parse_lines(&form.bands, &form.source) {
            Ok(r) => Some(r),
            Err(e) => {
                let errors = match AppError::from(e) {
                    AppError::Invalid { problems, .. } => FieldErrors::from_problems(&problems),
                    other => return Err(other.into()),
                };
                return draw_rates(&web, &frame, Some((form, errors))).await;
            }
        }
    };
    let (who, clinic) = (frame.who.user, frame.clinic);
    let restoring = rates.is_none();
    match web
        .app
        .run(move |app| Ok(app.set_visit_rates(who, clinic, rates)))
        .await?
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}/profile/rates?done={}",
            frame.base(),
            if restoring { "rates-default" } else { "rates" }
        ))
        .into_response()),
        Err(AppError::Invalid { problems, .. }) => {
            draw_rates(
                &web,
                &frame,
                Some((form, FieldErrors::from_problems(&problems))),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attach_domain::{PyramidBand, SexCounts};

    fn counts(female: usize, male: usize, other: usize) -> SexCounts {
        SexCounts {
            female,
            male,
            other,
            total: female + male + other,
        }
    }

    #[test]
    fn the_pyramid_draws_men_left_women_right_oldest_on_top() {
        let p = Pyramid {
            bands: vec![
                PyramidBand {
                    min_age: 0,
                    max_age: Some(4),
                    counts: counts(10, 20, 1),
                },
                PyramidBand {
                    min_age: 5,
                    max_age: None,
                    counts: counts(5, 0, 0),
                },
            ],
            totals: counts(15, 20, 1),
        };
        let c = pyramid_chart(&p);
        // Oldest first: the 5+ band's bars are the first two, at the top.
        assert_eq!(c.rows[0].ages, "5+");
        assert_eq!(c.ages[0].text, "5+");
        assert!(c.bars[0].y < c.bars[2].y);
        // The longest bar (20 men) reaches the edge; 10 women are half of it.
        let (men, women) = (&c.bars[2], &c.bars[3]);
        assert!(men.x + men.width <= WIDTH / 2 - GUTTER / 2);
        assert!(women.x >= WIDTH / 2 + GUTTER / 2);
        assert_eq!(women.width * 2, men.width);
        assert_eq!(c.bars[1].width, women.width / 2);
        assert_eq!(c.bars[0].width, 0);
        assert_eq!(c.totals.total, "36");
        assert!(c.description.contains("1 of sex X or unknown"));
    }

    #[test]
    fn the_census_stacks_each_month_and_names_every_month_in_the_table() {
        let months: Vec<CensusMonth> = (1..=14u8)
            .map(|i| CensusMonth {
                year: 2025 + i32::from(i > 12),
                month: (i - 1) % 12 + 1,
                total: 100,
                active: 70,
                inactive: 20,
                other: 10,
            })
            .collect();
        let c = census_chart(&months);
        assert_eq!(c.rows.len(), 14);
        assert_eq!(c.rows[0].month, "Jan 2025");
        assert_eq!(c.rows[13].month, "Feb 2026");
        assert_eq!(c.since, "Jan 2025");
        // Three parts a month, stacked without gaps from the base up to the total.
        assert_eq!(c.bars.len(), 42);
        let first: Vec<&VBar> = c.bars.iter().take(3).collect();
        assert_eq!(first[0].y + first[0].height, c.base);
        assert_eq!(first[1].y + first[1].height, first[0].y);
        assert_eq!(first[2].y + first[2].height, first[1].y);
        assert!(c.bars.iter().all(|b| b.x + c.bar_width <= c.right));
    }

    #[test]
    fn mistyped_supply_numbers_are_named() {
        let f = SupplyForm {
            appointments_per_week: "eighty".into(),
            weeks_per_year: "46".into(),
        };
        let e = f.parse().expect_err("not a number");
        assert!(e.has("appointments_per_week"));
        assert!(!e.has("weeks_per_year"));
        let ok = SupplyForm {
            appointments_per_week: "1,200".into(),
            weeks_per_year: "46".into(),
        };
        assert_eq!(ok.parse().expect("reads"), (1_200, 46));
    }
}
