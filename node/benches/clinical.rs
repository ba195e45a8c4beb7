//! The clinical benchmark: a clinic's whole EMR export imported, and its registries and
//! care gaps computed, against the clinical issue's targets. Run with
//!
//! ```text
//! cargo bench -p attach --bench clinical
//! ```
//!
//! In process (no HTTP): a demo clinic of `CLINICAL_BENCH_PATIENTS` patients (25,000) over
//! its four providers' panels, and a FHIR Bulk Data export written for them in memory: one
//! Patient each, about 1.6 conditions each (~40,000) and `CLINICAL_BENCH_OBS` results each
//! (16: ~400,000 over three years; HbA1c, blood pressure as components, eGFR and LDL).
//!
//! Measured:
//! - the import of the whole NDJSON set, durable (`App::import_clinical`): target < 60 s;
//! - the same export again (nothing changes);
//! - every registry, probably-uncoded suggestion and care gap of the clinic, recomputed
//!   (`App::clinical_overview`, whole clinic; median of 21): target < 300 ms; and of one
//!   panel, and the recall list of one panel;
//! - a coding-protocol edit and the whole clinic's overview after it (median of 7): a
//!   care-gap rule's interval (the stored summaries still hold): < 300 ms; a registry's
//!   codes (every patient re-summarised from the store): < 3 s;
//! - the process's resident memory after all that: target < 250 MB;
//! - a panel's registry list and recall list over HTTP (the node's router on a loopback
//!   port, JSON with every row of the panel), 8 clients at once: p99 < 30 ms.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use attach::app::{
    App, ClinicalFile, ClinicalFormat, ClinicalList, ReviewScope, SystemClock, demo::DemoSetup,
};
use attach::demo_data::Rng;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// VmRSS and VmHWM of this process, in MiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The export: Patient, Condition and Observation lines, as a Bulk Data server writes them.
fn export(patients: &[attach::domain::PatientDetails], obs: usize) -> (String, usize, usize) {
    let mut rng = Rng::new(16);
    let mut out = String::with_capacity(patients.len() * (obs + 3) * 330);
    let (mut conditions, mut results) = (0, 0);
    let start =
        time::Date::from_calendar_date(2023, time::Month::December, 1).unwrap_or(time::Date::MIN);
    for (i, p) in patients.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"{{"resourceType":"Patient","id":"p{i}","identifier":[{{"system":"https://fhir.infoway-inforoute.ca/NamingSystem/ca-bc-patient-healthcare-id","value":"{}"}}]}}"#,
            p.phn
        );
        // ~1.6 conditions a patient.
        let n = [1, 1, 2, 2, 2][rng.below(5) as usize];
        for k in 0..n {
            let code = *rng.pick(&[
                "250", "401", "493", "496", "311", "585", "428", "290", "244",
            ]);
            let _ = writeln!(
                out,
                r#"{{"resourceType":"Condition","id":"c{i}-{k}","meta":{{"lastUpdated":"2026-11-01T00:00:00Z"}},"clinicalStatus":{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}}]}},"code":{{"coding":[{{"system":"http://hl7.org/fhir/sid/icd-9-cm","code":"{code}"}}]}},"subject":{{"reference":"Patient/p{i}"}},"onsetDateTime":"2019-05-01"}}"#
            );
            conditions += 1;
        }
        for k in 0..obs {
            let date = start + time::Duration::days(rng.below(3 * 365) as i64);
            let head = format!(
                r#"{{"resourceType":"Observation","id":"o{i}-{k}","meta":{{"lastUpdated":"2026-11-01T00:00:00Z"}},"status":"final","subject":{{"reference":"Patient/p{i}"}},"effectiveDateTime":"{date}","#
            );
            let body = match k % 4 {
                0 => format!(
                    r#""code":{{"coding":[{{"system":"http://loinc.org","code":"4548-4"}}]}},"valueQuantity":{{"value":{:.1},"unit":"%"}}}}"#,
                    5.0 + rng.below(60) as f64 / 10.0
                ),
                1 => format!(
                    r#""code":{{"coding":[{{"system":"http://loinc.org","code":"85354-9"}}]}},"component":[{{"code":{{"coding":[{{"system":"http://loinc.org","code":"8480-6"}}]}},"valueQuantity":{{"value":{},"unit":"mm[Hg]"}}}},{{"code":{{"coding":[{{"system":"http://loinc.org","code":"8462-4"}}]}},"valueQuantity":{{"value":{},"unit":"mm[Hg]"}}}}]}}"#,
                    110 + rng.below(60),
                    65 + rng.below(35)
                ),
                2 => format!(
                    r#""code":{{"coding":[{{"system":"http://loinc.org","code":"33914-3"}}]}},"valueQuantity":{{"value":{},"unit":"mL/min/1.73m2"}}}}"#,
                    30 + rng.below(90)
                ),
                _ => format!(
                    r#""code":{{"coding":[{{"system":"http://loinc.org","code":"13457-7"}}]}},"valueQuantity":{{"value":{:.1},"unit":"mmol/L"}}}}"#,
                    1.0 + rng.below(40) as f64 / 10.0
                ),
            };
            out.push_str(&head);
            out.push_str(&body);
            out.push('\n');
            results += 1;
        }
    }
    (out, conditions, results)
}

/// p99 of each page kind over HTTP, and the rows of its median page.
struct PageFigures {
    registry_p99: Duration,
    registry_rows: usize,
    recall_p99: Duration,
    recall_rows: usize,
}

/// Requests per client and page kind.
const REQUESTS_PER_CLIENT: usize = 40;
const CLIENTS: usize = 8;

/// The registry and recall lists as the API serves them (every row of one panel, JSON),
/// the node's own router on a loopback port, 8 clients at once, each going round the
/// panels.
fn pages(
    app: &App,
    token: &str,
    clinic: attach::domain::ClinicId,
    providers: &[attach::domain::UserId],
) -> anyhow::Result<PageFigures> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let router = attach::http::router(
            app.clone(),
            attach::http::HttpOptions {
                max_body_bytes: 1 << 20,
                secure_cookies: false,
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(attach::http::serve_router(
            router,
            listener,
            std::future::pending(),
        ));
        let base = format!("http://{addr}/api/v1/clinics/{clinic}/clinical");
        let mut figures = Vec::new();
        for kind in ["registry", "recalls"] {
            let mut tasks = Vec::new();
            for c in 0..CLIENTS {
                let client = reqwest::Client::new();
                let token = token.to_owned();
                let base = base.clone();
                let providers = providers.to_vec();
                tasks.push(tokio::spawn(async move {
                    let mut out = Vec::with_capacity(REQUESTS_PER_CLIENT);
                    for i in 0..REQUESTS_PER_CLIENT {
                        let p = providers[(c + i) % providers.len()];
                        let url = match kind {
                            "registry" => {
                                format!("{base}/list?list=registry&key=diabetes&provider={p}")
                            }
                            _ => format!("{base}/recalls?provider={p}"),
                        };
                        let t = Instant::now();
                        let r = client.get(url).bearer_auth(&token).send().await?;
                        anyhow::ensure!(r.status() == 200, "{kind} page: {}", r.status());
                        let body: serde_json::Value = r.json().await?;
                        let rows = body["rows"].as_array().map_or(0, Vec::len);
                        out.push((t.elapsed(), rows));
                    }
                    anyhow::Ok(out)
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await??);
            }
            all.sort_by_key(|(d, _)| *d);
            let p99 = all[(all.len() * 99).div_ceil(100).saturating_sub(1)].0;
            let rows = all[all.len() / 2].1;
            figures.push((p99, rows));
        }
        server.abort();
        anyhow::Ok(PageFigures {
            registry_p99: figures[0].0,
            registry_rows: figures[0].1,
            recall_p99: figures[1].0,
            recall_rows: figures[1].1,
        })
    })
}

fn main() -> anyhow::Result<()> {
    let patients_n = env_usize("CLINICAL_BENCH_PATIENTS", 25_000);
    let obs = env_usize("CLINICAL_BENCH_OBS", 16);
    let dir = tempfile::tempdir()?;
    let app = App::open_at(dir.path(), 32, 30, Arc::new(SystemClock))?;
    let today = time::OffsetDateTime::now_utc().date();
    let people = attach::demo_data::patients(attach::app::demo::DEMO_SEED, patients_n, today);
    let mut setup: DemoSetup = attach::app::demo::setup(people.clone());
    // The demo's own synthetic records are not part of this load.
    setup.clinical_records = false;
    let started = Instant::now();
    anyhow::ensure!(app.seed_demo(&setup)?, "the directory held a clinic");
    println!(
        "clinic of {patients_n} patients seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let signed_in = app.login("director", "demo-director-pw")?;
    let director = signed_in.session.user;
    let clinic = signed_in
        .session
        .memberships
        .first()
        .context("the director has no clinic")?
        .clinic;
    let provider = app
        .members(director, clinic)?
        .into_iter()
        .find(|m| m.membership.role.is_licensed())
        .context("a provider")?
        .membership
        .user;

    let (text, conditions, results) = export(&people, obs);
    println!(
        "export: {} MB of NDJSON, {patients_n} Patients, {conditions} Conditions, {results} Observations",
        text.len() / 1_000_000
    );
    let file = ClinicalFile {
        name: "export.ndjson".to_owned(),
        bytes: text.into_bytes(),
    };
    let t = Instant::now();
    let report = app.import_clinical(
        director,
        clinic,
        ClinicalFormat::Ndjson,
        std::slice::from_ref(&file),
    )?;
    let import = t.elapsed();
    let t = Instant::now();
    let again = app.import_clinical(
        director,
        clinic,
        ClinicalFormat::Ndjson,
        std::slice::from_ref(&file),
    )?;
    let reimport = t.elapsed();
    drop(file);

    let time_it = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<Duration> {
        let mut v = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            f()?;
            v.push(t.elapsed());
        }
        Ok(median(v))
    };
    let whole = time_it(&|| {
        app.clinical_overview(director, clinic, ReviewScope::Clinic)?;
        Ok(())
    })?;
    let panel = time_it(&|| {
        app.clinical_overview(director, clinic, ReviewScope::Provider(provider))?;
        Ok(())
    })?;
    let recalls = time_it(&|| {
        app.clinical_list(
            director,
            clinic,
            ReviewScope::Provider(provider),
            &ClinicalList::Recalls,
        )?;
        Ok(())
    })?;
    // A coding-protocol edit (the HbA1c rule's interval, 6 ↔ 3 months) and the overview
    // after it: every patient re-summarised from the stored records with the new protocol.
    let protocol = app.coding_protocol(director, clinic)?;
    let hba1c = protocol
        .gaps
        .iter()
        .find(|g| g.rule.key == "diabetes_hba1c")
        .context("the HbA1c rule")?;
    let p = &hba1c.rule.population;
    let mut edit = attach::app::GapEdit {
        name: hba1c.rule.name.clone(),
        registry: p.registry.clone(),
        min_age: p.min_age,
        max_age: p.max_age,
        sex: p.sex,
        concept: hba1c.rule.concept.clone(),
        every_months: hba1c.rule.every_months,
        target: hba1c.rule.target.clone(),
        in_use: true,
    };
    let mut after_edit = Vec::new();
    for i in 0..7 {
        edit.every_months = Some(if i % 2 == 0 { 3 } else { 6 });
        let t = Instant::now();
        app.save_gap_rule(director, clinic, Some("diabetes_hba1c"), &edit)?;
        app.clinical_overview(director, clinic, ReviewScope::Clinic)?;
        after_edit.push(t.elapsed());
    }
    let after_edit = median(after_edit);
    // A registry's codes edited (one more SNOMED CT code for diabetes, on and off): what
    // the patients' records summarise to changes, so every patient is re-summarised from
    // the stored records before the overview answers.
    let diabetes = protocol
        .registries
        .iter()
        .find(|r| r.def.key == "diabetes")
        .context("the diabetes registry")?;
    let codes: Vec<String> = diabetes
        .def
        .codes
        .iter()
        .map(attach::domain::clinical::CodeMatch::to_line)
        .collect();
    let mut more = codes.clone();
    more.push("snomed 8801005".to_owned());
    let mut after_codes = Vec::new();
    for i in 0..7 {
        let edit = attach::app::RegistryEdit {
            name: diabetes.def.name.clone(),
            codes: if i % 2 == 0 {
                more.clone()
            } else {
                codes.clone()
            },
            in_use: true,
        };
        let t = Instant::now();
        app.save_registry(director, clinic, Some("diabetes"), &edit)?;
        app.clinical_overview(director, clinic, ReviewScope::Clinic)?;
        after_codes.push(t.elapsed());
    }
    let after_codes = median(after_codes);

    // A QI cycle over the whole clinic's diabetes patients, begun a year ago: its first view
    // takes a year of points of two computed measures; later views read them.
    let first = attach::domain::qi::runchart::Month::of(today - time::Duration::days(365))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cycle = app.create_qi_cycle(
        director,
        clinic,
        &attach::app::CycleForm {
            title: "Diabetes control".to_owned(),
            improve: "HbA1c in target".to_owned(),
            by: (today + time::Duration::days(180)).to_string(),
            first_month: first.to_string(),
            registry: "diabetes".to_owned(),
            ..Default::default()
        },
    )?;
    for definition in [
        "gap_in_target:diabetes_hba1c",
        "gap_up_to_date:diabetes_hba1c",
    ] {
        app.save_qi_measure(
            director,
            clinic,
            cycle,
            None,
            &attach::app::MeasureForm {
                name: definition.to_owned(),
                kind: "outcome".to_owned(),
                direction: "up".to_owned(),
                definition: definition.to_owned(),
                baseline_points: "6".to_owned(),
                ..Default::default()
            },
        )?;
    }
    let t = Instant::now();
    let taken = app.qi_cycle(director, clinic, cycle)?.taken;
    let first_view = t.elapsed();
    let qi_view = time_it(&|| {
        app.qi_cycle(director, clinic, cycle)?;
        Ok(())
    })?;

    let o = app.clinical_overview(director, clinic, ReviewScope::Clinic)?;
    let (rss, hwm) = memory();
    let providers: Vec<attach::domain::UserId> = app
        .members(director, clinic)?
        .into_iter()
        .filter(|m| m.membership.role.is_licensed())
        .map(|m| m.membership.user)
        .collect();
    let http = pages(&app, &signed_in.token, clinic, &providers)?;

    let pass = |ok: bool| if ok { "PASS" } else { "FAIL" };
    println!();
    println!("| figure | target | measured | result |");
    println!("|---|---|---|---|");
    println!(
        "| import of the whole NDJSON export, durable | < 60 s | {:.1} s ({} added, {} patients) | {} |",
        import.as_secs_f64(),
        report.added,
        report.patients,
        pass(import.as_secs_f64() < 60.0)
    );
    println!(
        "| the same export again | — | {:.1} s ({} unchanged, {} added) | |",
        reimport.as_secs_f64(),
        again.unchanged,
        again.added
    );
    println!(
        "| every registry, suggestion and care gap of the clinic ({} patients), median of 21 | < 300 ms | {} | {} |",
        o.population,
        ms(whole),
        pass(whole.as_secs_f64() < 0.3)
    );
    println!(
        "| a care-gap rule's interval edited and the clinic's overview after it, median of 7 | < 300 ms | {} | {} |",
        ms(after_edit),
        pass(after_edit.as_secs_f64() < 0.3)
    );
    println!(
        "| a registry's codes edited and the clinic's overview after it (every patient re-summarised from the store), median of 7 | < 3 s | {} | {} |",
        ms(after_codes),
        pass(after_codes.as_secs_f64() < 3.0)
    );
    println!(
        "| the same for one panel, median of 21 | — | {} | |",
        ms(panel)
    );
    println!(
        "| a panel's registry list over HTTP (JSON, every row: {} on the median page), {CLIENTS} clients × {REQUESTS_PER_CLIENT}, p99 | < 30 ms | {} | {} |",
        http.registry_rows,
        ms(http.registry_p99),
        pass(http.registry_p99.as_secs_f64() < 0.03)
    );
    println!(
        "| a panel's recall list over HTTP (JSON, every row: {} on the median page), {CLIENTS} clients × {REQUESTS_PER_CLIENT}, p99 | < 30 ms | {} | {} |",
        http.recall_rows,
        ms(http.recall_p99),
        pass(http.recall_p99.as_secs_f64() < 0.03)
    );
    println!(
        "| one panel's recall list, median of 21 | < 30 ms (a page) | {} | {} |",
        ms(recalls),
        pass(recalls.as_secs_f64() < 0.03)
    );
    println!(
        "| a QI cycle of the clinic's diabetes patients, first view (takes {taken} points: 12 months, 2 measures) | — | {} | |",
        ms(first_view)
    );
    println!(
        "| the same cycle with its points (the run-chart page's app call), median of 21 | < 50 ms (a page) | {} | {} |",
        ms(qi_view),
        pass(qi_view.as_secs_f64() < 0.05)
    );
    println!(
        "| process resident memory after the load | < 250 MB | {rss:.0} MiB (peak {hwm:.0} MiB) | {} |",
        pass(rss * 1.048_576 < 250.0)
    );
    Ok(())
}
