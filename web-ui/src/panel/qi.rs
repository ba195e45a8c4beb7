//! Quality-improvement cycles in the browser: the clinic's cycles, starting one, and one
//! cycle's page — its AIM statement, each measure's run chart with the table of its points
//! and the signals found, the change ideas tried (PDSA), and the forms to enter a month's
//! value, correct a point, add a measure or a change, and close the cycle with what was
//! learned. Each chart downloads as SVG and its points as CSV.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::clinical::readable_providers;
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::qi::chart::{ChangeMark, layout, value_text};
use crate::{Frame, Layout, Path, Web};
use attach_app::{AppError, ChangeForm, CycleForm, CycleLine, CycleView, MeasureForm};
use attach_domain::CycleId;
use attach_domain::qi::cycle::{CycleStatus, MeasureKind, MeasureSource};
use attach_domain::qi::runchart::{DesiredDirection, Month, RunsTest};

/// A choice of a `<select>`.
#[derive(Debug, Clone)]
struct Choice {
    key: String,
    name: String,
    selected: bool,
}

fn choices(list: &[(String, String)], selected: &str) -> Vec<Choice> {
    list.iter()
        .map(|(k, n)| Choice {
            key: k.clone(),
            name: n.clone(),
            selected: k == selected,
        })
        .collect()
}

/// What a refused form said was wrong, for the page.
#[derive(Debug, Clone, Default)]
struct Refusal {
    /// Which form (`cycle`, `measure`, `point`, `change`).
    form: &'static str,
    problems: Vec<(String, String)>,
}

fn refusal(form: &'static str, e: AppError) -> Result<Refusal, WebError> {
    Ok(Refusal {
        form,
        problems: super::followup::problem_lines(e)?,
    })
}

fn refused(page: Response) -> Response {
    super::with_status(page, axum::http::StatusCode::UNPROCESSABLE_ENTITY)
}

// ---------------------------------------------------------------------------
// The list, and starting a cycle
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct CycleRow {
    href: String,
    title: String,
    statement: String,
    measures: usize,
    changes: usize,
    closed: bool,
}

#[derive(Template)]
#[template(path = "qi/list.html")]
struct ListPage {
    layout: Layout,
    base: String,
    rows: Vec<CycleRow>,
    providers: Vec<Choice>,
    registries: Vec<Choice>,
    form: CycleForm,
    this_month: String,
    /// Six months ahead, until the team says when.
    default_by: String,
    problems: Vec<(String, String)>,
}

async fn list_page(
    web: Web,
    frame: Frame,
    form: CycleForm,
    problems: Vec<(String, String)>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (lines, (_, registries), providers, today): (Vec<CycleLine>, _, _, _) = web
        .app
        .run(move |app| {
            Ok((
                app.qi_cycles(who, clinic)?,
                app.qi_definitions(who, clinic)?,
                readable_providers(app, who, clinic)?,
                app.clinic_today(),
            ))
        })
        .await?;
    let base = frame.base();
    let providers: Vec<(String, String)> = providers
        .into_iter()
        .map(|(id, name)| (id.to_string(), format!("{name}'s panel")))
        .collect();
    let page = ListPage {
        layout: frame.layout.clone().with_section("registries"),
        rows: lines
            .into_iter()
            .map(|l| CycleRow {
                href: format!("{base}/qi/{}", l.cycle.id),
                title: l.cycle.title,
                statement: l.statement,
                measures: l.measures,
                changes: l.changes,
                closed: l.cycle.status == CycleStatus::Closed,
            })
            .collect(),
        providers: choices(&providers, &form.provider),
        registries: choices(&registries, &form.registry),
        this_month: Month::of(today).map(|m| m.to_string()).unwrap_or_default(),
        default_by: (today + time::Duration::days(182)).to_string(),
        form,
        problems,
        base,
    };
    Ok(render(&page))
}

/// `GET /c/{clinic}/qi`
pub async fn list(State(web): State<Web>, frame: Frame) -> Result<Response, WebError> {
    list_page(web, frame, CycleForm::default(), Vec::new()).await
}

/// The cycle form's fields.
#[derive(Debug, Deserialize, Default)]
pub struct CycleFields {
    #[serde(default)]
    title: String,
    #[serde(default)]
    improve: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    by: String,
    #[serde(default)]
    first_month: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    registry: String,
    #[serde(default)]
    reflection: String,
    #[serde(default)]
    status: String,
}

impl From<CycleFields> for CycleForm {
    fn from(f: CycleFields) -> Self {
        Self {
            title: f.title,
            improve: f.improve,
            from: f.from,
            to: f.to,
            unit: f.unit,
            by: f.by,
            first_month: f.first_month,
            provider: f.provider,
            registry: f.registry,
            reflection: f.reflection,
            status: f.status,
        }
    }
}

/// `POST /c/{clinic}/qi`: starts a cycle.
pub async fn create(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<CycleFields>,
) -> Result<Response, WebError> {
    let form = CycleForm::from(form);
    let (who, clinic) = (frame.who.user, frame.clinic);
    let sent = form.clone();
    let tried = web
        .app
        .run(move |app| Ok(app.create_qi_cycle(who, clinic, &sent)))
        .await?;
    match tried {
        Ok(id) => Ok(Redirect::to(&format!("{}/qi/{id}", frame.base())).into_response()),
        Err(e) => {
            let r = refusal("cycle", e)?;
            Ok(refused(list_page(web, frame, form, r.problems).await?))
        }
    }
}

// ---------------------------------------------------------------------------
// One cycle
// ---------------------------------------------------------------------------

/// One row of a measure's table.
#[derive(Debug, Clone)]
struct PointRow {
    month: String,
    value: String,
    counts: String,
    taken: &'static str,
    place: &'static str,
    replaced: String,
}

#[derive(Debug, Clone)]
struct SignalLine {
    meaning: String,
    judged: &'static str,
}

#[derive(Debug, Clone)]
struct MeasureBlock {
    key: String,
    name: String,
    kind: &'static str,
    direction: &'static str,
    counts: String,
    computed: bool,
    unit: String,
    baseline_points: usize,
    /// The measure form's values for what it is, to save its name or baseline.
    definition_key: String,
    kind_key: &'static str,
    direction_key: &'static str,
    svg: String,
    rows: Vec<PointRow>,
    signals: Vec<SignalLine>,
    runs: String,
    svg_href: String,
    csv_href: String,
}

#[derive(Debug, Clone)]
struct ChangeBlock {
    key: String,
    title: String,
    started: String,
    ended: String,
    plan: String,
    done: String,
    study: String,
    act: String,
}

#[derive(Template)]
#[template(path = "qi/cycle.html")]
struct CyclePage {
    layout: Layout,
    base: String,
    here: String,
    title: String,
    statement: String,
    closed: bool,
    taken: usize,
    conflicts: usize,
    form: CycleForm,
    providers: Vec<Choice>,
    registries: Vec<Choice>,
    measures: Vec<MeasureBlock>,
    changes: Vec<ChangeBlock>,
    definitions: Vec<Choice>,
    kinds: Vec<Choice>,
    this_month: String,
    today: String,
    refusal: Refusal,
    notice: String,
}

fn kind_word(k: MeasureKind) -> &'static str {
    match k {
        MeasureKind::Outcome => "Outcome measure",
        MeasureKind::Process => "Process measure",
        MeasureKind::Balancing => "Balancing measure",
    }
}

fn direction_word(d: DesiredDirection) -> &'static str {
    match d {
        DesiredDirection::Up => "higher is better",
        DesiredDirection::Down => "lower is better",
        DesiredDirection::Neither => "no direction is better",
    }
}

/// The measure form's `definition` for a measure's source.
fn definition_key(s: &MeasureSource) -> String {
    use attach_domain::qi::cycle::MeasureDef as D;
    match s {
        MeasureSource::Manual { .. } => "manual".to_owned(),
        MeasureSource::Computed { def } => match def {
            D::GapUpToDate { rule } => format!("gap_up_to_date:{rule}"),
            D::GapInTarget { rule } => format!("gap_in_target:{rule}"),
            D::OnRegistry { registry } => format!("on_registry:{registry}"),
            D::ProbablyUncoded { registry } => format!("probably_uncoded:{registry}"),
        },
    }
}

fn measure_block(here: &str, v: &attach_app::MeasureView, marks: &[ChangeMark]) -> MeasureBlock {
    let m = &v.measure;
    let unit = m.unit().to_owned();
    let chart = v.chart.as_ref();
    let svg = chart
        .and_then(|c| {
            layout(&format!("chart-{}", m.key), &m.name, &unit, c, marks)
                .render()
                .ok()
        })
        .unwrap_or_default();
    let rows = v
        .points
        .iter()
        .map(|p| {
            let place = chart
                .and_then(|c| c.points.iter().find(|q| q.month == p.month))
                .map_or("", |q| match q.position {
                    attach_domain::qi::runchart::Position::Above => "above",
                    attach_domain::qi::runchart::Position::Below => "below",
                    attach_domain::qi::runchart::Position::OnMedian => "on the median",
                });
            PointRow {
                month: p.month.to_string(),
                value: value_text(p.value),
                counts: p
                    .count
                    .map(|c| format!("{} of {}", c.numerator, c.denominator))
                    .unwrap_or_default(),
                taken: p.taken_words(),
                place,
                replaced: p
                    .corrections
                    .iter()
                    .map(|r| format!("{} ({})", value_text(r.value), r.note))
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })
        .collect();
    let signals = chart
        .map(|c| {
            c.signals
                .iter()
                .map(|s| SignalLine {
                    meaning: s.meaning(),
                    judged: match s.in_desired_direction() {
                        Some(true) => "improvement",
                        Some(false) => "deterioration",
                        None => "",
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let runs = match chart.map(|c| c.runs_test) {
        Some(RunsTest::TooFewPoints { useful, needed }) => format!(
            "The runs rule needs {needed} points off the median; there are {useful} so far."
        ),
        Some(RunsTest::Evaluated { runs, limits }) => format!(
            "{runs} runs; chance alone gives {} to {}.",
            limits.lower, limits.upper
        ),
        None => String::new(),
    };
    MeasureBlock {
        key: m.key.clone(),
        name: m.name.clone(),
        kind: kind_word(m.kind),
        direction: direction_word(m.direction),
        counts: v.counts.clone(),
        computed: matches!(m.source, MeasureSource::Computed { .. }),
        definition_key: definition_key(&m.source),
        kind_key: m.kind.key(),
        direction_key: match m.direction {
            DesiredDirection::Up => "up",
            DesiredDirection::Down => "down",
            DesiredDirection::Neither => "neither",
        },
        unit,
        baseline_points: chart.map_or(m.baseline_points, |c| c.baseline_points),
        svg,
        rows,
        signals,
        runs,
        svg_href: format!("{here}/measures/{}/chart.svg", m.key),
        csv_href: format!("{here}/measures/{}/points.csv", m.key),
    }
}

fn marks_of(v: &CycleView) -> Vec<ChangeMark> {
    v.changes
        .iter()
        .filter_map(|c| {
            Some(ChangeMark {
                month: Month::of(c.started).ok()?,
                title: c.title.clone(),
            })
        })
        .collect()
}

fn form_of(v: &CycleView) -> CycleForm {
    let c = &v.cycle;
    let number = |x: Option<f64>| x.map(value_text).unwrap_or_default();
    CycleForm {
        title: c.title.clone(),
        improve: c.aim.improve.clone(),
        from: number(c.aim.from),
        to: number(c.aim.to),
        unit: c.aim.unit.clone(),
        by: c.aim.by.to_string(),
        first_month: c.first_month.to_string(),
        provider: c
            .aim
            .population
            .provider
            .map(|p| p.to_string())
            .unwrap_or_default(),
        registry: c.aim.population.registry.clone().unwrap_or_default(),
        reflection: c.reflection.clone(),
        status: match c.status {
            CycleStatus::Active => "active",
            CycleStatus::Closed => "closed",
        }
        .to_owned(),
    }
}

async fn cycle_page(
    web: Web,
    frame: Frame,
    id: CycleId,
    refusal: Refusal,
    sent: Option<CycleForm>,
    notice: String,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (v, (defs, registries), providers, today) = web
        .app
        .run(move |app| {
            Ok((
                app.qi_cycle(who, clinic, id)?,
                app.qi_definitions(who, clinic)?,
                readable_providers(app, who, clinic)?,
                app.clinic_today(),
            ))
        })
        .await?;
    let here = format!("{}/qi/{id}", frame.base());
    let marks = marks_of(&v);
    let form = sent.unwrap_or_else(|| form_of(&v));
    let providers: Vec<(String, String)> = providers
        .into_iter()
        .map(|(id, name)| (id.to_string(), format!("{name}'s panel")))
        .collect();
    let mut definitions = choices(&defs, "");
    definitions.push(Choice {
        key: "manual".to_owned(),
        name: "Entered by hand each month".to_owned(),
        selected: false,
    });
    let page = CyclePage {
        layout: frame.layout.clone().with_section("registries"),
        title: v.cycle.title.clone(),
        statement: v.statement.clone(),
        closed: v.cycle.status == CycleStatus::Closed,
        taken: v.taken,
        conflicts: v.conflicts.len(),
        providers: choices(&providers, &form.provider),
        registries: choices(&registries, &form.registry),
        form,
        measures: v
            .measures
            .iter()
            .map(|m| measure_block(&here, m, &marks))
            .collect(),
        changes: v
            .changes
            .iter()
            .map(|c| ChangeBlock {
                key: c.key.clone(),
                title: c.title.clone(),
                started: c.started.to_string(),
                ended: c.ended.map(|d| d.to_string()).unwrap_or_default(),
                plan: c.plan.clone(),
                done: c.done.clone(),
                study: c.study.clone(),
                act: c.act.clone(),
            })
            .collect(),
        definitions,
        kinds: MeasureKind::ALL
            .iter()
            .map(|k| Choice {
                key: k.key().to_owned(),
                name: kind_word(*k).to_owned(),
                selected: false,
            })
            .collect(),
        this_month: Month::of(today).map(|m| m.to_string()).unwrap_or_default(),
        today: today.to_string(),
        refusal,
        notice,
        here,
        base: frame.base(),
    };
    Ok(render(&page))
}

/// `{cycle}` of a cycle's address.
#[derive(Debug, Deserialize)]
pub struct CyclePath {
    cycle: CycleId,
}

/// `{cycle}` and `{key}` of a measure's address.
#[derive(Debug, Deserialize)]
pub struct MeasurePath {
    cycle: CycleId,
    key: String,
}

/// `?done=` after a change.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DoneParam {
    #[serde(default)]
    done: Option<String>,
}

fn notice_of(done: Option<&str>) -> String {
    match done {
        Some("saved") => "Saved.".to_owned(),
        Some("measure") => {
            "Measure saved. Points of the months that have ended are taken now.".to_owned()
        }
        Some("removed") => "Measure removed, with its points.".to_owned(),
        Some("point") => "Point recorded.".to_owned(),
        Some("change") => "Change idea saved; it is marked on every chart.".to_owned(),
        _ => String::new(),
    }
}

/// `GET /c/{clinic}/qi/{cycle}`
pub async fn cycle(
    State(web): State<Web>,
    frame: Frame,
    Path(p): Path<CyclePath>,
    crate::Query(q): crate::Query<DoneParam>,
) -> Result<Response, WebError> {
    let notice = notice_of(q.done.as_deref());
    cycle_page(web, frame, p.cycle, Refusal::default(), None, notice).await
}

fn done(frame: &Frame, id: CycleId, what: &str) -> Response {
    Redirect::to(&format!("{}/qi/{id}?done={what}", frame.base())).into_response()
}

/// `POST /c/{clinic}/qi/{cycle}`: the title, aim, status and reflection.
pub async fn update(
    State(web): State<Web>,
    frame: Frame,
    Path(p): Path<CyclePath>,
    CsrfForm { form, .. }: CsrfForm<CycleFields>,
) -> Result<Response, WebError> {
    let form = CycleForm::from(form);
    let (who, clinic, id) = (frame.who.user, frame.clinic, p.cycle);
    let sent = form.clone();
    let tried = web
        .app
        .run(move |app| Ok(app.update_qi_cycle(who, clinic, id, &sent)))
        .await?;
    match tried {
        Ok(()) => Ok(done(&frame, id, "saved")),
        Err(e) => {
            let r = refusal("cycle", e)?;
            Ok(refused(
                cycle_page(web, frame, id, r, Some(form), String::new()).await?,
            ))
        }
    }
}

/// The measure form's fields.
#[derive(Debug, Deserialize, Default)]
pub struct MeasureFields {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    definition: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    baseline_points: String,
}

/// `POST /c/{clinic}/qi/{cycle}/measures`: adds a measure, or (with `key`) changes one.
pub async fn save_measure(
    State(web): State<Web>,
    frame: Frame,
    Path(p): Path<CyclePath>,
    CsrfForm { form, .. }: CsrfForm<MeasureFields>,
) -> Result<Response, WebError> {
    let (who, clinic, id) = (frame.who.user, frame.clinic, p.cycle);
    let key = Some(form.key.trim().to_owned()).filter(|k| !k.is_empty());
    let m = MeasureForm {
        name: form.name,
        kind: form.kind,
        direction: form.direction,
        definition: form.definition,
        unit: form.unit,
        baseline_points: form.baseline_points,
    };
    let tried = web
        .app
        .run(move |app| Ok(app.save_qi_measure(who, clinic, id, key.as_deref(), &m)))
        .await?;
    match tried {
        Ok(_) => Ok(done(&frame, id, "measure")),
        Err(e) => {
            let r = refusal("measure", e)?;
            Ok(refused(
                cycle_page(web, frame, id, r, None, String::new()).await?,
            ))
        }
    }
}

/// `POST /c/{clinic}/qi/{cycle}/measures/{key}/remove`
pub async fn remove_measure(
    State(web): State<Web>,
    frame: Frame,
    Path(p): Path<MeasurePath>,
    CsrfForm { .. }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let (who, clinic, id) = (frame.who.user, frame.clinic, p.cycle);
    web.app
        .run(move |app| app.remove_qi_measure(who, clinic, id, &p.key))
        .await?;
    Ok(done(&frame, id, "removed"))
}

/// The point form's fields.
#[derive(Debug, Deserialize, Default)]
pub struct PointFields {
    #[serde(default)]
    measure: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    note: String,
}

/// `POST /c/{clinic}/qi/{cycle}/points`: a month's value, or a point corrected.
pub async fn record_point(
    State(web): State<Web>,
    frame: Frame,
    Path(p): Path<CyclePath>,
    CsrfForm { form, .. }: CsrfForm<PointFields>,
) -> Result<Response, WebError> {
    let (who, clinic, id) = (frame.who.user, frame.clinic, p.cycle);
    let tried = web
        .app
        .run(move |app| {
            Ok(app.record_qi_point(
                who,
                clinic,
                id,
                &form.measure,
                &form.month,
                &form.value,
                &form.note,
            ))
        })
        .await?;
    match tried {
        Ok(_) => Ok(done(&frame, id, "point")),
        Err(e) => {
            let r = refusal("point", e)?;
            Ok(refused(
                cycle_page(web, frame, id, r, None, String::new()).await?,
            ))
        }
    }
}

/// The change form's fields.
#[derive(Debug, Deserialize, Default)]
pub struct ChangeFields {
    #[serde(default)]
    key: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    started: String,
    #[serde(default)]
    ended: String,
    #[serde(default)]
    plan: String,
    #[serde(default, rename = "do")]
    done: String,
    #[serde(default)]
    study: String,
    #[serde(default)]
    act: String,
}

/// `POST /c/{clinic}/qi/{cycle}/changes`: a change idea tried, or (with `key`) its notes.
pub async fn save_change(
    State(web): State<Web>,
    frame: Frame,
    Path(p): Path<CyclePath>,
    CsrfForm { form, .. }: CsrfForm<ChangeFields>,
) -> Result<Response, WebError> {
    let (who, clinic, id) = (frame.who.user, frame.clinic, p.cycle);
    let key = Some(form.key.trim().to_owned()).filter(|k| !k.is_empty());
    let c = ChangeForm {
        title: form.title,
        started: form.started,
        ended: form.ended,
        plan: form.plan,
        done: form.done,
        study: form.study,
        act: form.act,
    };
    let tried = web
        .app
        .run(move |app| Ok(app.save_qi_change(who, clinic, id, key.as_deref(), &c)))
        .await?;
    match tried {
        Ok(_) => Ok(done(&frame, id, "change")),
        Err(e) => {
            let r = refusal("change", e)?;
            Ok(refused(
                cycle_page(web, frame, id, r, None, String::new()).await?,
            ))
        }
    }
}

/// `GET /c/{clinic}/qi/{cycle}/measures/{key}/chart.svg`
pub async fn chart_svg(
    State(web): State<Web>,
    frame: Frame,
    Path(p): Path<MeasurePath>,
) -> Result<Response, WebError> {
    let (who, clinic, id) = (frame.who.user, frame.clinic, p.cycle);
    let v = web
        .app
        .run(move |app| app.qi_cycle(who, clinic, id))
        .await?;
    let m = v
        .measures
        .iter()
        .find(|m| m.measure.key == p.key)
        .ok_or_else(|| WebError::App(AppError::not_found("measure")))?;
    let chart = m
        .chart
        .as_ref()
        .ok_or_else(|| WebError::App(AppError::not_found("point of this measure")))?;
    let svg = layout(
        "chart",
        &format!("{}: {}", v.cycle.title, m.measure.name),
        m.measure.unit(),
        chart,
        &marks_of(&v),
    )
    .file()
    .map_err(|e| WebError::App(AppError::bug(format!("the chart did not draw: {e}"))))?;
    Ok(super::files::attachment(
        svg.into_bytes(),
        "image/svg+xml",
        &format!("run-chart-{}.svg", m.measure.key),
    ))
}

/// `GET /c/{clinic}/qi/{cycle}/measures/{key}/points.csv`
pub async fn points_csv(
    State(web): State<Web>,
    frame: Frame,
    Path(p): Path<MeasurePath>,
) -> Result<Response, WebError> {
    let (who, clinic, id) = (frame.who.user, frame.clinic, p.cycle);
    let key = p.key.clone();
    let bytes = web
        .app
        .run(move |app| app.export_qi_measure(who, clinic, id, &key))
        .await?;
    Ok(super::files::attachment(
        bytes,
        "text/csv; charset=utf-8",
        &format!("run-chart-{}.csv", p.key),
    ))
}
