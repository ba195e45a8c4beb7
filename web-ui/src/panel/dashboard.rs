//! The provider and clinic dashboards: panel size against the desired size, counts by
//! status, and additions and removals per month as a server-drawn SVG bar chart (with
//! the same numbers in a table beside it, for screen readers and for printing).

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{Context, PanelAt, PanelLinks, room_text, thousands};
use crate::error::{WebError, render};
use crate::{Frame, Layout, Web};
use attach_app::{AppError, MonthActivity, ReviewScope, status_label};
use attach_domain::{Clinic, PatientStatus, Worklist};

const WIDTH: i64 = 640;
const HEIGHT: i64 = 250;
const LEFT: i64 = 44;
const TOP: i64 = 28;
const PLOT_HEIGHT: i64 = 180;
const GROUP: i64 = 48;
const BAR: i64 = 18;
const ADDED_FILL: &str = "#0b57a4";
const REMOVED_FILL: &str = "#a4161a";

/// One bar of the chart.
#[derive(Debug, Clone)]
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub height: i64,
    pub class: &'static str,
    pub fill: &'static str,
    /// The bar's value in words (its SVG `<title>`).
    pub label: String,
}

/// A text label at a point.
#[derive(Debug, Clone)]
pub struct Label {
    pub x: i64,
    pub y: i64,
    pub text: String,
}

/// One month in the table beside the chart.
#[derive(Debug, Clone)]
pub struct MonthRow {
    pub month: String,
    pub added: usize,
    pub removed: usize,
}

/// Additions and removals per month, drawn as grouped bars.
#[derive(Debug, Clone)]
pub struct Chart {
    pub width: i64,
    pub height: i64,
    pub bar_width: i64,
    pub left: i64,
    pub right: i64,
    pub base: i64,
    pub bars: Vec<Bar>,
    pub months: Vec<Label>,
    pub grid: Vec<Label>,
    pub rows: Vec<MonthRow>,
    pub added_fill: &'static str,
    pub removed_fill: &'static str,
    pub total_added: usize,
    pub total_removed: usize,
}

/// A round top for the scale: 1, 2, 5, 10, 20, 50, …, at least `max`.
pub(super) fn nice_max(max: usize) -> usize {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max {
                return m * step;
            }
        }
        step *= 10;
    }
}

fn month_name(m: &MonthActivity) -> String {
    let short = &m.month.to_string()[..3];
    format!("{short} {}", m.year)
}

pub fn chart(activity: &[MonthActivity]) -> Chart {
    let max = activity
        .iter()
        .map(|m| m.added.max(m.removed))
        .max()
        .unwrap_or(0);
    let top = nice_max(max.max(1)) as i64;
    let base = TOP + PLOT_HEIGHT;
    let scale = |v: usize| (v as i64 * PLOT_HEIGHT + top / 2) / top;
    let mut bars = Vec::new();
    let mut months = Vec::new();
    for (i, m) in activity.iter().enumerate() {
        let x = LEFT + 4 + i as i64 * GROUP;
        let name = month_name(m);
        for (offset, value, class, fill, what) in [
            (0, m.added, "bar-added", ADDED_FILL, "added"),
            (BAR, m.removed, "bar-removed", REMOVED_FILL, "removed"),
        ] {
            let h = scale(value);
            bars.push(Bar {
                x: x + offset,
                y: base - h,
                height: h,
                class,
                fill,
                label: format!("{name}: {value} {what}"),
            });
        }
        months.push(Label {
            x: x + BAR,
            y: base + 16,
            text: m.month.to_string()[..3].to_owned(),
        });
    }
    let grid = [0, top / 2, top]
        .into_iter()
        .map(|v| Label {
            x: LEFT - 6,
            y: base - (v * PLOT_HEIGHT) / top,
            text: thousands(v),
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        bar_width: BAR,
        left: LEFT,
        right: LEFT + GROUP * activity.len() as i64,
        base,
        bars,
        months,
        grid,
        rows: activity
            .iter()
            .map(|m| MonthRow {
                month: month_name(m),
                added: m.added,
                removed: m.removed,
            })
            .collect(),
        added_fill: ADDED_FILL,
        removed_fill: REMOVED_FILL,
        total_added: activity.iter().map(|m| m.added).sum(),
        total_removed: activity.iter().map(|m| m.removed).sum(),
    }
}

/// A count per status, named.
#[derive(Debug, Clone)]
pub struct StatusCount {
    pub name: String,
    pub count: String,
}

fn status_counts(c: &Clinic, counts: &[(PatientStatus, usize)]) -> Vec<StatusCount> {
    counts
        .iter()
        .map(|(s, n)| StatusCount {
            name: status_label(c, s),
            count: thousands(*n as i64),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "panel/dashboard.html")]
struct ProviderPage {
    layout: Layout,
    links: PanelLinks,
    size: String,
    desired: String,
    room: String,
    accepting: bool,
    /// What the status counts are of, for the table's caption.
    counts_of: &'static str,
    statuses: Vec<StatusCount>,
    chart: Chart,
    worklists: Vec<WorklistCount>,
}

/// `/c/{clinic}/panels/{provider}/dashboard`
pub async fn provider(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
) -> Result<Response, WebError> {
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let (ctx, summary, activity, counts) = web
        .app
        .run(move |app| {
            let ctx = Context::load(app, who, clinic, provider)?;
            let summary = app.panel_summary(who, clinic, provider)?;
            let activity = app.panel_activity(who, clinic, provider)?;
            let counts = app.worklist_counts(who, clinic, ReviewScope::Provider(provider))?;
            Ok((ctx, summary, activity, counts))
        })
        .await?;
    let links = PanelLinks::new(&frame, provider, ctx.name(provider));
    let worklists = worklist_counts(counts, &format!("{}/review", links.base));
    Ok(render(&ProviderPage {
        layout: frame.layout.clone().with_section("panel"),
        links,
        size: thousands(summary.size as i64),
        desired: thousands(i64::from(summary.preferences.desired_panel_size)),
        room: room_text(summary.room),
        accepting: summary.preferences.accepting_new_patients,
        counts_of: "panel",
        statuses: status_counts(&ctx.clinic, &summary.by_status),
        chart: chart(&activity),
        worklists,
    }))
}

/// One review worklist's count on a dashboard, linking to the list.
#[derive(Debug, Clone)]
pub struct WorklistCount {
    pub title: String,
    pub count: String,
    pub href: String,
}

/// The counts as the dashboards draw them; `base` is the review page's address.
fn worklist_counts(counts: Vec<(Worklist, usize)>, base: &str) -> Vec<WorklistCount> {
    counts
        .into_iter()
        .map(|(w, n)| {
            let mut query = format!("worklist={}", w.key());
            if let Some((k, v)) = w.parameter() {
                query.push_str(&format!("&{k}={v}"));
            }
            WorklistCount {
                title: w.title(),
                count: thousands(n as i64),
                href: format!("{base}?{query}"),
            }
        })
        .collect()
}

/// One provider's line on the clinic dashboard.
#[derive(Debug, Clone)]
pub struct ProviderLine {
    pub name: String,
    /// Their panel's URL, when the viewer may open it.
    pub href: Option<String>,
    pub size: String,
    pub desired: String,
    pub room: String,
    pub accepting: bool,
}

#[derive(Template)]
#[template(path = "panel/clinic_dashboard.html")]
struct ClinicPage {
    layout: Layout,
    providers: Vec<ProviderLine>,
    size: String,
    desired: String,
    room: String,
    counts_of: &'static str,
    statuses: Vec<StatusCount>,
    chart: Chart,
    worklists: Vec<WorklistCount>,
    /// Review tasks the viewer sees that are due, and overdue.
    tasks_due: usize,
    tasks_overdue: usize,
}

/// `/c/{clinic}/dashboard`: the clinic's landing page, for every active member.
pub async fn clinic(State(web): State<Web>, frame: Frame) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (c, d, counts, tasks) = web
        .app
        .run(move |app| {
            let tasks = app.review_tasks(who, clinic)?;
            // Only those who review a panel here see the worklists.
            let counts = match app.worklist_counts(who, clinic, ReviewScope::Clinic) {
                Ok(counts) => counts,
                Err(AppError::Forbidden(_)) => Vec::new(),
                Err(e) => return Err(e),
            };
            Ok((
                app.clinic(who, clinic)?,
                app.clinic_dashboard(who, clinic)?,
                counts,
                tasks,
            ))
        })
        .await?;
    let base = frame.base();
    let providers = d
        .providers
        .iter()
        .map(|p| ProviderLine {
            name: p.name.clone(),
            href: p
                .can_open
                .then(|| format!("{base}/panels/{}/dashboard", p.provider)),
            size: thousands(p.size as i64),
            desired: thousands(i64::from(p.desired)),
            room: room_text(i64::from(p.desired) - p.size as i64),
            accepting: p.accepting_new_patients,
        })
        .collect();
    Ok(render(&ClinicPage {
        layout: frame.layout.clone().with_section("dashboard"),
        providers,
        size: thousands(d.size as i64),
        desired: thousands(d.desired as i64),
        room: room_text(d.desired as i64 - d.size as i64),
        counts_of: "clinic's panels",
        statuses: status_counts(&c, &d.by_status),
        chart: chart(&d.activity),
        worklists: worklist_counts(counts, &format!("{base}/review")),
        tasks_due: tasks
            .iter()
            .filter(|t| t.state == attach_domain::DueState::Due)
            .count(),
        tasks_overdue: tasks
            .iter()
            .filter(|t| t.state == attach_domain::DueState::Overdue)
            .count(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_tops_are_round() {
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(17), 20);
        assert_eq!(nice_max(120), 200);
    }

    #[test]
    fn bars_stand_on_the_base_line_and_the_tallest_reaches_the_top() {
        let months: Vec<MonthActivity> = (1..=12u8)
            .map(|m| MonthActivity {
                year: 2026,
                month: time::Month::try_from(m).expect("a month"),
                added: usize::from(m),
                removed: 0,
            })
            .collect();
        let c = chart(&months);
        assert_eq!(c.bars.len(), 24);
        assert!(c.bars.iter().all(|b| b.y + b.height == c.base));
        let tallest = c.bars.iter().map(|b| b.height).max().expect("bars");
        assert!(tallest <= PLOT_HEIGHT && tallest > PLOT_HEIGHT / 2);
        assert_eq!(c.rows[11].month, "Dec 2026");
        assert_eq!(c.total_added, 78);
    }
}
