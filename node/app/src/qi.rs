//! Quality-improvement cycles of a clinic: AIM statements, their measures, change ideas and
//! monthly points, each cycle one document (`clinical/<clinic>/qi/<cycle>`) that syncs
//! between the clinic's nodes.
//!
//! Who may: whoever may see the clinic's registries (account managers, providers, and staff
//! a provider endorsed) reads and works on the clinic's cycles; a cycle for one provider's
//! panel is for those who may read that panel.
//!
//! Points of computed measures are taken when the cycle is read, for every month that has
//! ended since its first month and has no point yet: from the panel as it is then and the
//! clinical records dated up to the month's last day (see `attach_domain::qi::cycle`). A
//! point once taken is not recomputed.

use time::{Date, OffsetDateTime};
use tracing::info;

use attach_domain::qi::cycle::{
    Aim, Change, Cycle, CycleStatus, MAX_CHANGES, MAX_MEASURES, Measure, MeasureDef, MeasureKind,
    MeasurePoint, MeasureSource, Population, last_day, months_due, run_chart,
};
use attach_domain::qi::runchart::{DesiredDirection, Month, RunChartAnalysis};
use attach_domain::{ClinicId, CycleId, DomainError, Problems, UserId};
use attach_schema::qi::{
    CycleDoc, delete_measure, read_cycle, write_change, write_cycle, write_measure, write_point,
};
use attach_store::DocId;

use super::clinical::{compiled_of, demographics, drop_dismissed};
use super::review::ReviewScope;
use super::{App, AppError};

/// What a person types for a cycle: every field as the form sent it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleForm {
    pub title: String,
    /// What will improve.
    pub improve: String,
    pub from: String,
    pub to: String,
    pub unit: String,
    /// By when: `YYYY-MM-DD`.
    pub by: String,
    /// The first month measured: `YYYY-MM` (the baseline may start before today).
    pub first_month: String,
    /// A provider's id, or empty for the clinic.
    pub provider: String,
    /// A registry's key, or empty for everyone.
    pub registry: String,
    pub reflection: String,
    /// `active` or `closed`.
    pub status: String,
}

/// What a person types for a measure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeasureForm {
    pub name: String,
    /// `outcome`, `process` or `balancing`.
    pub kind: String,
    /// `up`, `down` or `neither`.
    pub direction: String,
    /// `gap_up_to_date:<rule>`, `gap_in_target:<rule>`, `on_registry:<registry>`,
    /// `probably_uncoded:<registry>`, or `manual`.
    pub definition: String,
    /// A manual measure's unit.
    pub unit: String,
    /// Points that make the baseline (empty or 0: all so far).
    pub baseline_points: String,
}

/// What a person types for a change idea.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeForm {
    pub title: String,
    pub started: String,
    pub ended: String,
    pub plan: String,
    pub done: String,
    pub study: String,
    pub act: String,
}

/// A form value and its words (`gap_in_target:diabetes_hba1c`, "HbA1c: % in target").
pub type KeyName = (String, String);

/// One cycle in the clinic's list.
#[derive(Debug, Clone)]
pub struct CycleLine {
    pub cycle: Cycle,
    pub statement: String,
    pub measures: usize,
    pub changes: usize,
}

/// One measure of a cycle, with its points and chart.
#[derive(Debug, Clone)]
pub struct MeasureView {
    pub measure: Measure,
    /// What it counts, in words.
    pub counts: String,
    pub points: Vec<MeasurePoint>,
    /// `None` with no point yet.
    pub chart: Option<RunChartAnalysis>,
}

/// A cycle, read.
#[derive(Debug, Clone)]
pub struct CycleView {
    pub cycle: Cycle,
    pub statement: String,
    /// The population in words ("Dr. Patel's diabetes patients").
    pub population: String,
    pub measures: Vec<MeasureView>,
    /// By start date.
    pub changes: Vec<Change>,
    /// Items two nodes wrote apart (see the Conflicts page).
    pub conflicts: Vec<String>,
    /// Points taken just now, on reading the cycle.
    pub taken: usize,
}

fn parse_date(raw: &str) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw.trim(), &format).map_err(|_| {
        if raw.trim().is_empty() {
            "is required".to_owned()
        } else {
            format!("\"{}\" is not a date as YYYY-MM-DD", raw.trim())
        }
    })
}

fn parse_number(p: &mut Problems, field: &str, raw: &str) -> Option<f64> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match raw.replace(',', ".").parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            p.add(field, format!("\"{raw}\" is not a number"));
            None
        }
    }
}

impl App {
    /// The clinic, for someone who may see its registries.
    fn qi_clinic(&self, who: UserId, clinic: ClinicId) -> Result<(), AppError> {
        self.clinical_panels(who, clinic, ReviewScope::Clinic)
            .map(|_| ())
            .map_err(|e| match e {
                AppError::Forbidden(_) => AppError::forbidden(
                    "quality-improvement cycles are for account managers, providers and staff endorsed by a provider",
                ),
                e => e,
            })
    }

    /// The panels a cycle's population covers, checked for `who`.
    fn qi_scope(
        &self,
        who: UserId,
        clinic: ClinicId,
        p: &Population,
    ) -> Result<ReviewScope, AppError> {
        let scope = p
            .provider
            .map_or(ReviewScope::Clinic, ReviewScope::Provider);
        self.clinical_panels(who, clinic, scope)?;
        Ok(scope)
    }

    fn read_qi(&self, clinic: ClinicId, id: CycleId) -> Result<(DocId, CycleDoc, Cycle), AppError> {
        let doc_id = attach_schema::ids::qi_cycle_doc_id(clinic, id);
        let doc = self
            .store()
            .read(&doc_id, read_cycle)?
            .transpose()?
            .ok_or_else(|| AppError::not_found("QI cycle"))?;
        let cycle = doc
            .cycle
            .clone()
            .ok_or_else(|| AppError::not_found("QI cycle"))?;
        Ok((doc_id, doc, cycle))
    }

    /// The population in words.
    fn population_words(&self, clinic: ClinicId, p: &Population) -> String {
        let whose = match p.provider {
            Some(u) => {
                let name = self
                    .model()
                    .accounts
                    .get(&u)
                    .map_or_else(|| "a provider".to_owned(), |a| a.display_name.clone());
                format!("{name}'s")
            }
            None => "the clinic's".to_owned(),
        };
        match &p.registry {
            Some(r) => {
                let model = self.model();
                let compiled = compiled_of(model.clinical.get(&clinic));
                let name = compiled
                    .registry_index(r)
                    .map_or_else(|| r.clone(), |i| compiled.registry(i).name.to_lowercase());
                format!("{whose} {name} patients")
            }
            None => format!("{whose} patients"),
        }
    }

    fn cycle_of(
        &self,
        clinic: ClinicId,
        id: CycleId,
        form: &CycleForm,
        who: UserId,
        at: OffsetDateTime,
    ) -> Result<Cycle, AppError> {
        let mut p = Problems::default();
        let today = self.clinic_today();
        let by = parse_date(&form.by).map_err(|e| p.add("by", e)).ok();
        let first_month = form
            .first_month
            .trim()
            .parse::<Month>()
            .map_err(|_| p.add("first_month", "a month as YYYY-MM"))
            .ok();
        let from = parse_number(&mut p, "from", &form.from);
        let to = parse_number(&mut p, "to", &form.to);
        let provider = match form.provider.trim() {
            "" => None,
            raw => match raw.parse::<UserId>() {
                Ok(u) => Some(u),
                Err(_) => {
                    p.add(
                        "provider",
                        "choose a provider of the clinic, or the whole clinic",
                    );
                    None
                }
            },
        };
        let registry = match form.registry.trim() {
            "" => None,
            key => {
                let model = self.model();
                if compiled_of(model.clinical.get(&clinic))
                    .registry_index(key)
                    .is_none()
                {
                    p.add("registry", "choose one of the clinic's registries");
                }
                Some(key.to_owned())
            }
        };
        let status = match form.status.trim() {
            "" | "active" => CycleStatus::Active,
            "closed" => CycleStatus::Closed,
            _ => {
                p.add("status", "active or closed");
                CycleStatus::Active
            }
        };
        // A field that did not read is checked no further; the others still are.
        let (by_read, month_read) = (by.is_some(), first_month.is_some());
        let first_month = first_month
            .or_else(|| Month::of(today).ok())
            .ok_or_else(|| AppError::bug("today has no month"))?;
        let by = by.unwrap_or(today);
        let cycle = Cycle {
            id,
            title: form.title.trim().to_owned(),
            aim: Aim {
                population: Population { provider, registry },
                improve: form.improve.trim().to_owned(),
                from,
                to,
                unit: form.unit.trim().to_owned(),
                by,
            },
            first_month,
            status,
            reflection: form.reflection.trim().to_owned(),
            by: who,
            at,
        };
        if let Err(DomainError::Validation(more)) = cycle.check(today) {
            for f in more {
                let unread = match f.field.as_str() {
                    "by" => !by_read || !month_read,
                    "first_month" => !month_read,
                    _ => false,
                };
                if !unread {
                    p.add(f.field, f.message);
                }
            }
        }
        p.finish(cycle).map_err(AppError::from)
    }

    /// What a computed measure may count, as the measure form's `definition` values with
    /// their words, and the clinic's registries (key, name) for a cycle's population.
    pub fn qi_definitions(
        &self,
        who: UserId,
        clinic: ClinicId,
    ) -> Result<(Vec<KeyName>, Vec<KeyName>), AppError> {
        self.qi_clinic(who, clinic)?;
        let model = self.model();
        let compiled = compiled_of(model.clinical.get(&clinic));
        let mut defs = Vec::new();
        for (_, g) in compiled.gaps_in_use() {
            defs.push((
                format!("gap_up_to_date:{}", g.key),
                format!("{}: % up to date (process)", g.name),
            ));
            if let Some(t) = &g.target {
                defs.push((
                    format!("gap_in_target:{}", g.key),
                    format!("{}: % in target, {} (outcome)", g.name, t.describe()),
                ));
            }
        }
        for (_, r) in compiled.registries_in_use() {
            defs.push((
                format!("on_registry:{}", r.key),
                format!("{}: % coded on the registry", r.name),
            ));
            if !r.uncoded.is_empty() {
                defs.push((
                    format!("probably_uncoded:{}", r.key),
                    format!("{}: % probably not coded (balancing)", r.name),
                ));
            }
        }
        let registries = compiled
            .registries_in_use()
            .map(|(_, r)| (r.key.clone(), r.name.clone()))
            .collect();
        Ok((defs, registries))
    }

    /// The clinic's cycles, active first, newest first.
    pub fn qi_cycles(&self, who: UserId, clinic: ClinicId) -> Result<Vec<CycleLine>, AppError> {
        self.qi_clinic(who, clinic)?;
        let mut out = Vec::new();
        for id in self
            .store()
            .ids_with_prefix(&attach_schema::ids::qi_prefix(clinic))?
        {
            let Some(doc) = self.store().read(&id, read_cycle)?.transpose()? else {
                continue;
            };
            let Some(cycle) = doc.cycle.clone() else {
                continue;
            };
            // A cycle of a panel the viewer may not read is left out.
            if self.qi_scope(who, clinic, &cycle.aim.population).is_err() {
                continue;
            }
            out.push(CycleLine {
                statement: cycle
                    .aim
                    .statement(&self.population_words(clinic, &cycle.aim.population)),
                measures: doc.measures.len(),
                changes: doc.changes.len(),
                cycle,
            });
        }
        out.sort_by(|a, b| {
            (
                a.cycle.status == CycleStatus::Closed,
                std::cmp::Reverse(a.cycle.at),
            )
                .cmp(&(
                    b.cycle.status == CycleStatus::Closed,
                    std::cmp::Reverse(b.cycle.at),
                ))
        });
        Ok(out)
    }

    /// Starts a cycle.
    pub fn create_qi_cycle(
        &self,
        who: UserId,
        clinic: ClinicId,
        form: &CycleForm,
    ) -> Result<CycleId, AppError> {
        self.qi_clinic(who, clinic)?;
        let id = CycleId::new();
        let cycle = self.cycle_of(clinic, id, form, who, self.now())?;
        self.qi_scope(who, clinic, &cycle.aim.population)?;
        let doc = attach_schema::ids::qi_cycle_doc_id(clinic, id);
        self.store().change(&doc, who.0, "start a QI cycle", |tx| {
            write_cycle(tx, &cycle).map_err(AppError::from)
        })?;
        info!(clinic = %clinic, cycle = %id, "QI cycle started");
        Ok(id)
    }

    /// Changes a cycle's title, aim, status or reflection.
    pub fn update_qi_cycle(
        &self,
        who: UserId,
        clinic: ClinicId,
        id: CycleId,
        form: &CycleForm,
    ) -> Result<(), AppError> {
        self.qi_clinic(who, clinic)?;
        let (doc, _, old) = self.read_qi(clinic, id)?;
        self.qi_scope(who, clinic, &old.aim.population)?;
        let cycle = self.cycle_of(clinic, id, form, who, self.now())?;
        self.qi_scope(who, clinic, &cycle.aim.population)?;
        self.store()
            .change(&doc, who.0, "change a QI cycle", |tx| {
                write_cycle(tx, &cycle).map_err(AppError::from)
            })?;
        Ok(())
    }

    fn measure_of(
        &self,
        clinic: ClinicId,
        key: String,
        form: &MeasureForm,
        who: UserId,
    ) -> Result<Measure, AppError> {
        let mut p = Problems::default();
        let kind = MeasureKind::from_key(form.kind.trim()).unwrap_or_else(|| {
            p.add("kind", "outcome, process or balancing");
            MeasureKind::Outcome
        });
        let direction = match form.direction.trim() {
            "up" => DesiredDirection::Up,
            "down" => DesiredDirection::Down,
            "neither" | "" => DesiredDirection::Neither,
            _ => {
                p.add("direction", "up, down or neither");
                DesiredDirection::Neither
            }
        };
        let source = match form.definition.trim().split_once(':') {
            None if form.definition.trim() == "manual" => MeasureSource::Manual {
                unit: form.unit.trim().to_owned(),
            },
            Some(("gap_up_to_date", r)) => MeasureSource::Computed {
                def: MeasureDef::GapUpToDate { rule: r.to_owned() },
            },
            Some(("gap_in_target", r)) => MeasureSource::Computed {
                def: MeasureDef::GapInTarget { rule: r.to_owned() },
            },
            Some(("on_registry", r)) => MeasureSource::Computed {
                def: MeasureDef::OnRegistry {
                    registry: r.to_owned(),
                },
            },
            Some(("probably_uncoded", r)) => MeasureSource::Computed {
                def: MeasureDef::ProbablyUncoded {
                    registry: r.to_owned(),
                },
            },
            _ => {
                p.add(
                    "definition",
                    "choose what Attach computes, or a measure entered by hand",
                );
                MeasureSource::Manual {
                    unit: String::new(),
                }
            }
        };
        let baseline_points = match form.baseline_points.trim() {
            "" => 0,
            raw => raw.parse::<usize>().unwrap_or_else(|_| {
                p.add("baseline_points", "a whole number of points");
                0
            }),
        };
        let m = Measure {
            key,
            name: form.name.trim().to_owned(),
            kind,
            direction,
            source,
            baseline_points,
            by: who,
            at: self.now(),
        };
        let model = self.model();
        if let Err(DomainError::Validation(more)) =
            m.check(&compiled_of(model.clinical.get(&clinic)))
        {
            for f in more {
                p.add(f.field, f.message);
            }
        }
        p.finish(m).map_err(AppError::from)
    }

    /// Adds a measure (`key` `None`) or changes one (its points stay).
    pub fn save_qi_measure(
        &self,
        who: UserId,
        clinic: ClinicId,
        id: CycleId,
        key: Option<&str>,
        form: &MeasureForm,
    ) -> Result<String, AppError> {
        self.qi_clinic(who, clinic)?;
        let (doc, stored, cycle) = self.read_qi(clinic, id)?;
        self.qi_scope(who, clinic, &cycle.aim.population)?;
        let key = match key {
            Some(k) => {
                let old = stored
                    .measures
                    .get(k)
                    .ok_or_else(|| AppError::not_found("measure"))?;
                let m = self.measure_of(clinic, k.to_owned(), form, who)?;
                if old.source != m.source && stored.points.iter().any(|p| p.measure == k) {
                    return Err(AppError::invalid(
                        "definition",
                        "a measure with points keeps what it counts; add a new measure instead",
                    ));
                }
                k.to_owned()
            }
            None => {
                if stored.measures.len() >= MAX_MEASURES {
                    return Err(AppError::invalid(
                        "measure",
                        format!("a cycle tracks at most {MAX_MEASURES} measures"),
                    ));
                }
                (1..)
                    .map(|n| format!("m{n}"))
                    .find(|k| !stored.measures.contains_key(k))
                    .unwrap_or_default()
            }
        };
        let m = self.measure_of(clinic, key.clone(), form, who)?;
        self.store()
            .change(&doc, who.0, "save a QI measure", |tx| {
                write_measure(tx, &m).map_err(AppError::from)
            })?;
        Ok(key)
    }

    /// Removes a measure and its points.
    pub fn remove_qi_measure(
        &self,
        who: UserId,
        clinic: ClinicId,
        id: CycleId,
        key: &str,
    ) -> Result<(), AppError> {
        self.qi_clinic(who, clinic)?;
        let (doc, stored, cycle) = self.read_qi(clinic, id)?;
        self.qi_scope(who, clinic, &cycle.aim.population)?;
        if !stored.measures.contains_key(key) {
            return Err(AppError::not_found("measure"));
        }
        self.store()
            .change(&doc, who.0, "remove a QI measure", |tx| {
                let now = read_cycle(tx)?;
                delete_measure(tx, key, &now.points).map_err(AppError::from)
            })?;
        Ok(())
    }

    /// Records a change idea (`key` `None`) or updates one (its study and act notes).
    pub fn save_qi_change(
        &self,
        who: UserId,
        clinic: ClinicId,
        id: CycleId,
        key: Option<&str>,
        form: &ChangeForm,
    ) -> Result<String, AppError> {
        self.qi_clinic(who, clinic)?;
        let (doc, stored, cycle) = self.read_qi(clinic, id)?;
        self.qi_scope(who, clinic, &cycle.aim.population)?;
        let key = match key {
            Some(k) if stored.changes.contains_key(k) => k.to_owned(),
            Some(_) => return Err(AppError::not_found("change idea")),
            None if stored.changes.len() >= MAX_CHANGES => {
                return Err(AppError::invalid(
                    "change",
                    format!("a cycle records at most {MAX_CHANGES} change ideas"),
                ));
            }
            None => (1..)
                .map(|n| format!("c{n}"))
                .find(|k| !stored.changes.contains_key(k))
                .unwrap_or_default(),
        };
        let mut p = Problems::default();
        let started = parse_date(&form.started)
            .map_err(|e| p.add("started", e))
            .ok();
        let ended = match form.ended.trim() {
            "" => None,
            raw => parse_date(raw).map_err(|e| p.add("ended", e)).ok(),
        };
        let started_read = started.is_some();
        let started = started.unwrap_or_else(|| self.clinic_today());
        let change = Change {
            key: key.clone(),
            title: form.title.trim().to_owned(),
            started,
            ended,
            plan: form.plan.trim().to_owned(),
            done: form.done.trim().to_owned(),
            study: form.study.trim().to_owned(),
            act: form.act.trim().to_owned(),
            by: who,
            at: self.now(),
        };
        if let Err(DomainError::Validation(more)) = change.check(self.clinic_today()) {
            for f in more {
                if started_read || f.field != "ended" {
                    p.add(f.field, f.message);
                }
            }
        }
        let change = p.finish(change)?;
        self.store()
            .change(&doc, who.0, "save a QI change idea", |tx| {
                write_change(tx, &change).map_err(AppError::from)
            })?;
        Ok(key)
    }

    /// Enters a month's value of a measure, or corrects the month's point (with `note`
    /// saying why; the value it replaces is kept).
    #[allow(clippy::too_many_arguments)]
    pub fn record_qi_point(
        &self,
        who: UserId,
        clinic: ClinicId,
        id: CycleId,
        measure: &str,
        month: &str,
        value: &str,
        note: &str,
    ) -> Result<MeasurePoint, AppError> {
        self.qi_clinic(who, clinic)?;
        let (doc, stored, cycle) = self.read_qi(clinic, id)?;
        self.qi_scope(who, clinic, &cycle.aim.population)?;
        let m = stored
            .measures
            .get(measure)
            .ok_or_else(|| AppError::not_found("measure"))?;
        let month: Month = month
            .trim()
            .parse()
            .map_err(|_| AppError::invalid("month", "a month as YYYY-MM"))?;
        let mut p = Problems::default();
        let value = parse_number(&mut p, "value", value);
        let Some(value) = value else {
            if p.0.is_empty() {
                p.add("value", "is required");
            }
            return Err(p
                .finish(())
                .err()
                .unwrap_or_else(|| DomainError::invalid("value", "is required"))
                .into());
        };
        let today = self.clinic_today();
        let now = self.now();
        let point = self
            .store()
            .change(&doc, who.0, "record a QI point", |tx| {
                let current = read_cycle(tx)?;
                let previous = current
                    .points
                    .iter()
                    .find(|p| p.measure == measure && p.month == month);
                let point =
                    MeasurePoint::entered(previous, m, month, value, note, today, who, now)?;
                write_point(tx, &point)?;
                Ok::<_, AppError>(point)
            })?;
        Ok(point)
    }

    /// The count of a computed measure for `month`, over the cycle's population as it is
    /// now (a panel loaded into Attach this week still has its baseline months), from the
    /// records dated up to the month's last day.
    fn qi_count(
        &self,
        clinic: ClinicId,
        population: &Population,
        def: &MeasureDef,
        month: Month,
    ) -> Option<attach_domain::qi::cycle::Count> {
        let end = last_day(month)?;
        let model = self.model();
        let state = model.clinical.get(&clinic);
        let compiled = compiled_of(state);
        let providers: Vec<UserId> = match population.provider {
            Some(p) => vec![p],
            None => model
                .clinics
                .get(&clinic)
                .map(|c| c.clinic.providers().map(|m| m.user).collect())
                .unwrap_or_default(),
        };
        let registry = population
            .registry
            .as_deref()
            .and_then(|r| compiled.registry_index(r));
        let empty = Default::default();
        let mut care = Vec::new();
        for p in providers {
            for e in model.panel_members(clinic, p) {
                let patient = state.and_then(|s| s.patients.get(&e.details.phn));
                let summary = patient.map_or(&empty, |p| &p.summary).as_of(end);
                let mut c = compiled.evaluate(&summary, demographics(e), end);
                if let Some(p) = patient {
                    drop_dismissed(&compiled, &mut c, &p.dismissed);
                }
                if registry.is_none_or(|r| c.registries.contains(&r)) {
                    care.push(c);
                }
            }
        }
        Some(def.count(&compiled, care.iter()))
    }

    /// Takes the points due of the cycle's computed measures (one durable change); how many.
    fn take_qi_points(
        &self,
        who: UserId,
        clinic: ClinicId,
        doc_id: &DocId,
        stored: &CycleDoc,
        cycle: &Cycle,
    ) -> Result<usize, AppError> {
        self.clinical_state(clinic)?;
        let today = self.clinic_today();
        let now = self.now();
        let mut new = Vec::new();
        for m in stored.measures.values() {
            let MeasureSource::Computed { def } = &m.source else {
                continue;
            };
            let have: Vec<Month> = stored
                .points
                .iter()
                .filter(|p| p.measure == m.key)
                .map(|p| p.month)
                .collect();
            for month in months_due(cycle, &have, today) {
                if let Some(point) = self
                    .qi_count(clinic, &cycle.aim.population, def, month)
                    .and_then(|c| MeasurePoint::computed(&m.key, month, c, now))
                {
                    new.push(point);
                }
            }
        }
        if new.is_empty() {
            return Ok(0);
        }
        let n = new.len();
        self.store().change(doc_id, who.0, "take QI points", |tx| {
            // A point another node took meanwhile stays: points are never recomputed.
            let current = read_cycle(tx)?;
            for p in &new {
                if !current
                    .points
                    .iter()
                    .any(|q| q.measure == p.measure && q.month == p.month)
                {
                    write_point(tx, p)?;
                }
            }
            Ok::<(), AppError>(())
        })?;
        info!(clinic = %clinic, cycle = %cycle.id, points = n, "QI points taken");
        Ok(n)
    }

    /// A cycle with its measures, points and charts (taking the points due first).
    pub fn qi_cycle(
        &self,
        who: UserId,
        clinic: ClinicId,
        id: CycleId,
    ) -> Result<CycleView, AppError> {
        self.qi_clinic(who, clinic)?;
        let (doc_id, stored, cycle) = self.read_qi(clinic, id)?;
        self.qi_scope(who, clinic, &cycle.aim.population)?;
        let taken = self.take_qi_points(who, clinic, &doc_id, &stored, &cycle)?;
        let stored = if taken > 0 {
            self.read_qi(clinic, id)?.1
        } else {
            stored
        };
        let compiled = {
            let model = self.model();
            compiled_of(model.clinical.get(&clinic))
        };
        let measures = stored
            .measures
            .values()
            .map(|m| {
                let points: Vec<MeasurePoint> = stored
                    .points
                    .iter()
                    .filter(|p| p.measure == m.key)
                    .cloned()
                    .collect();
                MeasureView {
                    counts: match &m.source {
                        MeasureSource::Computed { def } => def.describe(&compiled),
                        MeasureSource::Manual { unit } if unit.is_empty() => {
                            "entered by hand each month".to_owned()
                        }
                        MeasureSource::Manual { unit } => {
                            format!("entered by hand each month, in {unit}")
                        }
                    },
                    chart: run_chart(m, &points).ok(),
                    points,
                    measure: m.clone(),
                }
            })
            .collect();
        let mut changes: Vec<Change> = stored.changes.values().cloned().collect();
        changes.sort_by(|a, b| (a.started, &a.key).cmp(&(b.started, &b.key)));
        let population = self.population_words(clinic, &cycle.aim.population);
        Ok(CycleView {
            statement: cycle.aim.statement(&population),
            population,
            measures,
            changes,
            conflicts: stored.conflicts,
            taken,
            cycle,
        })
    }

    /// One measure's points as CSV: month, value, the counts behind it, how it was taken,
    /// and the values corrections replaced.
    pub fn export_qi_measure(
        &self,
        who: UserId,
        clinic: ClinicId,
        id: CycleId,
        key: &str,
    ) -> Result<Vec<u8>, AppError> {
        let v = self.qi_cycle(who, clinic, id)?;
        let m = v
            .measures
            .iter()
            .find(|m| m.measure.key == key)
            .ok_or_else(|| AppError::not_found("measure"))?;
        Ok(attach_interop::qi::write_points_csv(
            &m.measure,
            &m.points,
            m.chart.as_ref(),
        ))
    }
}

#[cfg(test)]
#[path = "qi_tests.rs"]
mod tests;
