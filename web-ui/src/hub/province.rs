//! `/province`: the provincial view — registrations by status, people waiting by tier and
//! community, waits, offers and their outcomes, capacity against demand — as tables with
//! server-drawn SVG bar charts beside them (presentation attributes only: the CSP allows no
//! inline style), and `/province.csv` with the same tables.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Desk;
use crate::error::{WebError, render};
use crate::panel::thousands;
use crate::{Layout, Web};
use attach_domain::matching::{ProvinceReport, Rate};

const WIDTH: i64 = 640;
const LABEL: i64 = 190;
const PLOT: i64 = 380;
const BAR: i64 = 14;
const GAP: i64 = 10;
const TOP: i64 = 30;
/// The communities the capacity chart shows (the most people waiting); the table has all.
const CHART_COMMUNITIES: usize = 15;

const BLUE: &str = "#0b57a4";
const GREEN: &str = "#2b7a3d";
const RED: &str = "#a4161a";

/// One bar.
#[derive(Debug, Clone)]
pub struct HBar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub fill: &'static str,
    /// The value in words (the bar's SVG `<title>`).
    pub title: String,
    /// The number written at the bar's end.
    pub value: String,
    pub value_x: i64,
}

/// One labelled row of bars.
#[derive(Debug, Clone)]
pub struct HRow {
    pub label: String,
    pub label_y: i64,
    pub bars: Vec<HBar>,
}

/// A legend entry.
#[derive(Debug, Clone)]
pub struct Key {
    pub x: i64,
    pub fill: &'static str,
    pub text: &'static str,
}

/// A horizontal bar chart.
#[derive(Debug, Clone)]
pub struct HChart {
    pub id: &'static str,
    pub title: String,
    pub desc: String,
    pub width: i64,
    pub height: i64,
    pub left: i64,
    pub bar: i64,
    pub base_top: i64,
    pub base_bottom: i64,
    pub keys: Vec<Key>,
    pub rows: Vec<HRow>,
}

/// A chart of rows of values (each row one or more bars, in `series`' colours), scaled to
/// the largest value.
fn hchart(
    id: &'static str,
    title: String,
    desc: String,
    series: &[(&'static str, &'static str)],
    rows: Vec<(String, Vec<u64>)>,
) -> HChart {
    let max = rows
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let per_row = BAR * series.len().max(1) as i64 + GAP;
    let mut out = Vec::new();
    for (i, (label, values)) in rows.into_iter().enumerate() {
        let top = TOP + i as i64 * per_row;
        let bars = values
            .iter()
            .zip(series)
            .enumerate()
            .map(|(k, (v, (fill, what)))| {
                let width = (*v as i64 * PLOT + max as i64 / 2) / max as i64;
                HBar {
                    x: LABEL,
                    y: top + k as i64 * BAR,
                    width,
                    fill,
                    title: format!("{label}: {} {what}", thousands(*v as i64)),
                    value: thousands(*v as i64),
                    value_x: LABEL + width + 4,
                }
            })
            .collect();
        out.push(HRow {
            label,
            label_y: top + per_row / 2,
            bars,
        });
    }
    let height = TOP + out.len() as i64 * per_row + 8;
    HChart {
        id,
        title,
        desc,
        width: WIDTH,
        height,
        left: LABEL,
        bar: BAR - 2,
        base_top: TOP - 4,
        base_bottom: height - 8,
        keys: series
            .iter()
            .enumerate()
            .map(|(i, (fill, text))| Key {
                x: LABEL + i as i64 * 190,
                fill,
                text,
            })
            .collect(),
        rows: out,
    }
}

/// A count and its share, ready to show.
#[derive(Debug, Clone)]
pub struct CountLine {
    pub label: String,
    pub count: String,
}

/// One community's line in the table.
#[derive(Debug, Clone)]
pub struct CommunityLine {
    pub community: String,
    pub by_tier: Vec<String>,
    pub waiting: String,
    pub offered: String,
    pub capacity: String,
    pub providers: String,
    pub months: String,
}

/// One side's decisions.
#[derive(Debug, Clone)]
pub struct RateLine {
    pub side: &'static str,
    pub yes: String,
    pub no: String,
    pub yes_percent: String,
    pub no_percent: String,
}

/// The provincial view as the page draws it.
#[derive(Debug, Clone)]
pub struct ProvinceView {
    pub at: String,
    pub waiting: String,
    pub median: String,
    pub p90: String,
    pub offers_open: String,
    pub people_in_open: String,
    pub capacity: String,
    pub accepting: String,
    pub statuses: Vec<CountLine>,
    pub tiers: Vec<String>,
    pub by_tier: Vec<CountLine>,
    pub rates: Vec<RateLine>,
    pub reasons: Vec<CountLine>,
    pub communities: Vec<CommunityLine>,
    pub charts: Vec<HChart>,
}

fn days(d: Option<i64>) -> String {
    d.map_or_else(|| "—".to_owned(), |d| format!("{} days", thousands(d)))
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "—".to_owned(), |p| format!("{p:.1} %"))
}

fn rate(side: &'static str, r: Rate) -> RateLine {
    RateLine {
        side,
        yes: thousands(r.yes as i64),
        no: thousands(r.no as i64),
        yes_percent: pct(r.yes_percent()),
        no_percent: pct(r.no_percent()),
    }
}

impl ProvinceView {
    pub fn new(r: &ProvinceReport) -> Self {
        let n = |v: usize| thousands(v as i64);
        let mut busiest: Vec<_> = r.communities.iter().filter(|c| c.waiting > 0).collect();
        busiest.sort_by(|a, b| {
            b.waiting
                .cmp(&a.waiting)
                .then(a.community.cmp(&b.community))
        });
        busiest.truncate(CHART_COMMUNITIES);
        let charts = vec![
            hchart(
                "tier-chart",
                "People waiting by priority tier".to_owned(),
                format!(
                    "{} people waiting; the table beside gives each tier.",
                    n(r.waiting)
                ),
                &[(BLUE, "people waiting")],
                r.tiers
                    .iter()
                    .zip(&r.waiting_by_tier)
                    .map(|(t, v)| (t.clone(), vec![*v as u64]))
                    .collect(),
            ),
            hchart(
                "capacity-chart",
                format!(
                    "Demand against a year of capacity, the {} communities with the most people waiting",
                    busiest.len()
                ),
                "For each community, the people waiting and twelve months of the monthly capacity of providers accepting new patients; the table below lists every community.".to_owned(),
                &[(BLUE, "people waiting"), (GREEN, "places in 12 months")],
                busiest
                    .iter()
                    .map(|c| (c.community.clone(), vec![c.waiting as u64, c.capacity * 12]))
                    .collect(),
            ),
            hchart(
                "decisions-chart",
                "Decisions on offers".to_owned(),
                "Offers providers accepted and declined, and people who said yes and no; the table beside gives the rates.".to_owned(),
                &[(GREEN, "yes"), (RED, "no")],
                vec![
                    (
                        "Providers".to_owned(),
                        vec![r.provider_side.yes as u64, r.provider_side.no as u64],
                    ),
                    (
                        "Patients".to_owned(),
                        vec![r.patient_side.yes as u64, r.patient_side.no as u64],
                    ),
                ],
            ),
        ];
        Self {
            at: crate::registry::when(r.at),
            waiting: n(r.waiting),
            median: days(r.median_wait_days),
            p90: days(r.p90_wait_days),
            offers_open: n(r.offers_open),
            people_in_open: n(r.people_in_open_offers),
            capacity: thousands(r.capacity as i64),
            accepting: n(r.accepting_providers),
            statuses: r
                .by_status
                .iter()
                .map(|(s, c)| CountLine {
                    label: s.label().to_owned(),
                    count: n(*c),
                })
                .collect(),
            tiers: r.tiers.clone(),
            by_tier: r
                .tiers
                .iter()
                .zip(&r.waiting_by_tier)
                .map(|(t, c)| CountLine {
                    label: t.clone(),
                    count: n(*c),
                })
                .collect(),
            rates: vec![
                rate("Providers (accepted / declined)", r.provider_side),
                rate("Patients (yes / no)", r.patient_side),
            ],
            reasons: r
                .decline_reasons
                .iter()
                .map(|(k, c)| CountLine {
                    label: k.label().to_owned(),
                    count: n(*c),
                })
                .collect(),
            communities: r
                .communities
                .iter()
                .map(|c| CommunityLine {
                    community: c.community.clone(),
                    by_tier: c.waiting_by_tier.iter().map(|v| n(*v)).collect(),
                    waiting: n(c.waiting),
                    offered: n(c.offered),
                    capacity: thousands(c.capacity as i64),
                    providers: n(c.accepting_providers),
                    months: c
                        .months_to_clear()
                        .map_or_else(|| "no capacity".to_owned(), |m| format!("{m:.1}")),
                })
                .collect(),
            charts,
        }
    }
}

#[derive(Template)]
#[template(path = "hub/province.html")]
struct ProvincePage {
    layout: Layout,
    view: ProvinceView,
}

/// The provincial view's HTML (the page, and the benchmark's rendering step).
pub fn province_html(report: &ProvinceReport, layout: Layout) -> Result<String, askama::Error> {
    ProvincePage {
        layout: layout.with_section("province"),
        view: ProvinceView::new(report),
    }
    .render()
}

/// `/province`
pub async fn page(State(web): State<Web>, desk: Desk) -> Result<Response, WebError> {
    let who = desk.who;
    let report = web
        .app
        .run(move |app| app.coordinator_province_report(who))
        .await?;
    Ok(render(&ProvincePage {
        layout: desk.layout.with_section("province"),
        view: ProvinceView::new(&report),
    }))
}

/// `/province.csv`: the same tables, for a spreadsheet.
pub async fn csv(State(web): State<Web>, desk: Desk) -> Result<Response, WebError> {
    let who = desk.who;
    let (bytes, day) = web
        .app
        .run(move |app| {
            let r = app.coordinator_province_report(who)?;
            Ok((
                attach_interop::province::write_province_csv(&r),
                r.at.date(),
            ))
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"attach-province-{day}.csv\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
