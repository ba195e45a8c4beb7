//! `/province/measures`: each clinic's measure against its community, its health authority
//! and the province, from the counts clinics send (never a patient's data), with every
//! small cell suppressed (`attach_domain::clinical::comparison`). One measure and one month
//! at a time, chosen at the top; the table lists every clinic that sent the measure, grouped
//! by health authority and community.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::Desk;
use crate::error::{WebError, render};
use crate::{Layout, Query, Web};
use attach_app::Comparison;
use attach_domain::clinical::comparison::{Cell, SMALL_CELL};

/// A choice in the measure menu.
#[derive(Debug, Clone)]
struct Choice {
    key: String,
    name: String,
    selected: bool,
}

/// One clinic's line: its value and its groups'.
#[derive(Debug, Clone)]
struct Line {
    clinic: String,
    value: String,
    community: String,
    community_value: String,
    authority: String,
    authority_value: String,
    suppressed: bool,
}

/// A group's line in the summary table.
#[derive(Debug, Clone)]
struct GroupLine {
    name: String,
    level: &'static str,
    value: String,
    clinics: usize,
}

#[derive(Template)]
#[template(path = "hub/measures.html")]
struct MeasuresPage {
    layout: Layout,
    measures: Vec<Choice>,
    measure_name: String,
    month: String,
    province: String,
    sent: usize,
    clinics: usize,
    groups: Vec<GroupLine>,
    lines: Vec<Line>,
    small: u32,
}

#[derive(Debug, Default, Deserialize)]
pub struct Ask {
    #[serde(default)]
    measure: String,
    /// `YYYY-MM`; the current month when empty.
    #[serde(default)]
    month: String,
}

/// `GET /province/measures?measure=registry:diabetes&month=2026-11`
pub async fn page(
    State(web): State<Web>,
    desk: Desk,
    Query(ask): Query<Ask>,
) -> Result<Response, WebError> {
    let who = desk.who;
    let day = attach_app::parse_month(&ask.month)?;
    let all = attach_app::comparison_measures();
    let asked = ask.measure.clone();
    let c: Comparison = web
        .app
        .run(move |app| app.coordinator_comparison(who, &asked, day))
        .await?;
    let mut groups = vec![GroupLine {
        name: "Province".to_owned(),
        level: "province",
        value: c.province.label(),
        clinics: c.clinics_sent,
    }];
    let mut lines = Vec::new();
    for a in &c.authorities {
        groups.push(GroupLine {
            name: a.name.clone(),
            level: "authority",
            value: a.cell.label(),
            clinics: a.communities.iter().map(|m| m.clinics.len()).sum(),
        });
        for m in &a.communities {
            groups.push(GroupLine {
                name: format!("{} ({})", m.name, a.name),
                level: "community",
                value: m.cell.label(),
                clinics: m.clinics.len(),
            });
            for clinic in &m.clinics {
                lines.push(Line {
                    clinic: clinic.name.clone(),
                    value: clinic.cell.label(),
                    community: m.name.clone(),
                    community_value: m.cell.label(),
                    authority: a.name.clone(),
                    authority_value: a.cell.label(),
                    suppressed: clinic.cell == Cell::Suppressed,
                });
            }
        }
    }
    Ok(render(&MeasuresPage {
        layout: desk.layout.with_section("measures"),
        measures: all
            .into_iter()
            .map(|m| Choice {
                selected: m.key == c.measure.key,
                key: m.key,
                name: m.name,
            })
            .collect(),
        measure_name: c.measure.name.clone(),
        month: format!("{:04}-{:02}", c.year, c.month),
        province: c.province.label(),
        sent: c.clinics_sent,
        clinics: c.clinics,
        groups,
        lines,
        small: SMALL_CELL,
    }))
}
