//! CLI glue for the hub role: `attach hub` runs it; `attach hub <action>` asks the running
//! hub through its admin API (the hub holds its data directory's lock while it runs).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use super::common::{open, set_dir};
use crate::cli::{HubAction, HubArgs};
use crate::process::{runtime, shutdown_signal};
use attach_app::App;
use attach_app::config::Config;
use attach_replication::admin::{
    AttachmentsQuery, CellJson, CodeRequest, ComparisonJson, CoordinatorRequest, HubStatus,
    MeasuresQuery, ProvinceReportJson, WaitlistImport,
};
use attach_replication::hub::{ClinicSummary, NewCode};
use attach_replication::{Hub, HubFiles};

/// `attach hub [action]`: the hub's own default directory and listeners, then run it or
/// ask the running one.
pub(super) fn hub(config: &mut Config, args: HubArgs) -> anyhow::Result<()> {
    if config.data_dir == Path::new(attach_app::config::DEFAULT_NODE_DIR) {
        // Nothing chose a directory: the hub's own default, not the node's.
        config.data_dir = PathBuf::from(attach_app::config::DEFAULT_HUB_DIR);
    }
    set_dir(config, args.data.data_dir.clone());
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(sync) = args.sync_listen {
        config.sync_listen = sync;
    }
    if let Some(web) = args.web_listen {
        config.hub_web_listen = web;
    }
    match args.action {
        None => run_hub(config, open(config)?),
        Some(action) => admin(config, action),
    }
}

/// Runs the hub: the sync listener for clinic nodes and the admin API.
fn run_hub(config: &Config, app: App) -> anyhow::Result<()> {
    let files = HubFiles::new(&config.data_dir);
    let matching = attach_app::MatchingConfig::from_settings(&config.matching)
        .context("the [matching] settings")?;
    app.set_matching_config(matching);
    let hub = Hub::open(app, files.clone()).context("opening the hub's identity")?;
    runtime()?.block_on(async move {
        let sync = TcpListener::bind(config.sync_listen)
            .await
            .with_context(|| format!("listening on {}", config.sync_listen))?;
        let admin = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let web = TcpListener::bind(config.hub_web_listen)
            .await
            .with_context(|| format!("listening on {} (hub_web_listen)", config.hub_web_listen))?;
        let admin_addr = admin.local_addr()?;
        std::fs::write(files.admin_address(), admin_addr.to_string())
            .context("writing the admin address file")?;
        println!("Attach hub sync listening on {}", sync.local_addr()?);
        println!("Attach hub admin API on http://{admin_addr}");
        println!(
            "Attach hub coordinator pages on http://{}",
            web.local_addr()?
        );
        println!("Data directory: {}", config.data_dir.display());
        // `/metrics`, backups of the running hub and `attach status`, behind the same token.
        let ops = attach_ops::admin::AdminState::new(
            hub.app.clone(),
            &config.data_dir,
            attach_ops::metrics::Metrics::new(),
            attach_ops::admin::Live::Hub(hub.clone()),
        )
        .context("setting up the admin routes")?;
        let router = attach_replication::admin::router(hub.clone())?
            .route(
                "/healthz",
                axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
            )
            .merge(attach_ops::admin::router(ops));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut rx1 = stop_rx.clone();
        let mut rx2 = stop_rx.clone();
        let mut rx3 = stop_rx;
        let web_router = attach_server::hub_web_router(
            hub.app.clone(),
            attach_http::HttpOptions::from_config(config),
        );
        let web_task = tokio::spawn(async move {
            attach_server::serve_router(web_router, web, async move {
                let _ = rx3.wait_for(|s| *s).await;
            })
            .await
        });
        let sync_task = tokio::spawn(attach_replication::hub::serve(hub, sync, async move {
            let _ = rx1.wait_for(|s| *s).await;
        }));
        let admin_task = tokio::spawn(async move {
            axum::serve(admin, router)
                .with_graceful_shutdown(async move {
                    let _ = rx2.wait_for(|s| *s).await;
                })
                .await
        });
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        sync_task.await.context("sync listener")??;
        admin_task.await.context("admin API")??;
        web_task.await.context("coordinator pages")??;
        Ok(())
    })
}

fn admin_endpoint(data_dir: &Path) -> anyhow::Result<(String, String)> {
    let files = HubFiles::new(data_dir);
    let addr = std::fs::read_to_string(files.admin_address()).with_context(|| {
        format!(
            "no running hub found in {} (start it with `attach hub`)",
            data_dir.display()
        )
    })?;
    let token = std::fs::read_to_string(files.admin_token())
        .context("reading the admin token (run this as the hub's user)")?;
    Ok((format!("http://{}", addr.trim()), token.trim().to_owned()))
}

/// Runs one admin action against the running hub and prints the answer.
fn admin(config: &mut Config, action: HubAction) -> anyhow::Result<()> {
    let dir = match &action {
        HubAction::EnrolClinic(a) => a.data.data_dir.clone(),
        HubAction::RevokeClinic(a) => a.data.data_dir.clone(),
        HubAction::Clinics(a)
        | HubAction::Status(a)
        | HubAction::Match(a)
        | HubAction::Coordinators(a) => a.data.data_dir.clone(),
        HubAction::Report(a) => a.data.data_dir.clone(),
        HubAction::Measures(a) => a.data.data_dir.clone(),
        HubAction::AddCoordinator(a) => a.data.data_dir.clone(),
        HubAction::ImportWaitlist(a) => a.data.data_dir.clone(),
        HubAction::Attachments(a) => a.data.data_dir.clone(),
    };
    if let Some(d) = dir {
        config.data_dir = d;
    }
    let (base, token) = admin_endpoint(&config.data_dir)?;
    let client = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    runtime()?.block_on(async move {
        let send = |req: reqwest::RequestBuilder| async {
            let resp = req
                .header("authorization", &auth)
                .send()
                .await
                .context("reaching the hub's admin API (is the hub running?)")?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            if !status.is_success() {
                let message = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
                    .unwrap_or(body);
                bail!("the hub refused: {message}");
            }
            Ok(body)
        };
        match action {
            HubAction::EnrolClinic(a) => {
                let body = send(client.post(format!("{base}/admin/enrolments")).json(
                    &CodeRequest {
                        clinic: a.clinic,
                        facility: a.facility,
                        valid_hours: Some(a.valid_hours),
                    },
                ))
                .await?;
                let code: NewCode = serde_json::from_str(&body)?;
                println!("Enrolment code: {}", code.code);
                match (code.clinic, &code.facility) {
                    (Some(c), _) => println!("For clinic:     {c}"),
                    (None, Some(f)) => println!("For new clinic with facility number {f}"),
                    (None, None) => {}
                }
                println!("Expires:        {}", code.expires_at);
                println!(
                    "It works once. On the clinic's node: attach node enrol --hub <this hub's sync address> --code {}",
                    code.code
                );
            }
            HubAction::ImportWaitlist(a) => {
                let csv = std::fs::read(&a.file)
                    .with_context(|| format!("reading {}", a.file.display()))?;
                let body = send(
                    client
                        .post(format!("{base}/admin/waitlist/import"))
                        .header("content-type", "text/csv")
                        .body(csv),
                )
                .await?;
                let done: WaitlistImport = serde_json::from_str(&body)?;
                println!(
                    "Registered {} people; {} merged into registrations already waiting; {} already on a panel (flagged, not offered).",
                    done.registered, done.merged, done.on_a_panel
                );
            }
            HubAction::Match(_) => {
                let body = send(client.post(format!("{base}/admin/matching/round"))).await?;
                let r: attach_app::RoundReport = serde_json::from_str(&body)?;
                println!(
                    "Matching round: {} offers to {} people ({} people waiting were considered; {} places left this month).",
                    r.offers, r.offered, r.considered, r.places_left
                );
                if r.flagged > 0 {
                    println!("{} people on the waitlist are already on a panel: flagged, not offered.", r.flagged);
                }
                if r.withdrawn > 0 {
                    println!("{} open offers withdrawn (the provider stopped taking patients or left).", r.withdrawn);
                }
                if r.returned > 0 {
                    println!("{} people returned to the waitlist from panels are waiting again.", r.returned);
                }
                if r.untrusted > 0 {
                    println!("Warning: {} inbox documents were not made by this hub and were ignored (a clinic's node wrote them; see the hub's log).", r.untrusted);
                }
                if r.superseded > 0 {
                    println!("{} attachments undone: another clinic attached the same person first.", r.superseded);
                }
            }
            HubAction::Attachments(a) => {
                let query = AttachmentsQuery {
                    from: a.period.from.clone(),
                    to: a.period.to.clone(),
                    clinic: a.clinic,
                };
                let body = send(client.get(format!("{base}/admin/attachments")).query(&query))
                    .await?;
                let export: attach_app::AttachmentExport = serde_json::from_str(&body)?;
                crate::output::write_attachments(&export, a.period.out.as_deref())?;
            }
            HubAction::Measures(a) => {
                let query = MeasuresQuery {
                    measure: a.measure,
                    month: a.month,
                };
                let body =
                    send(client.get(format!("{base}/admin/measures")).query(&query)).await?;
                print!("{}", measures_text(&serde_json::from_str(&body)?));
            }
            HubAction::Report(a) => {
                let path = if a.csv { "report.csv" } else { "report" };
                let body = send(client.get(format!("{base}/admin/{path}"))).await?;
                let text = if a.csv {
                    body
                } else {
                    report_text(&serde_json::from_str(&body)?)
                };
                match a.out {
                    Some(file) => std::fs::write(&file, text)
                        .with_context(|| format!("writing {}", file.display()))?,
                    None => print!("{text}"),
                }
            }
            HubAction::AddCoordinator(a) => {
                let body = send(client.post(format!("{base}/admin/coordinators")).json(
                    &CoordinatorRequest {
                        username: a.username,
                        name: a.name,
                    },
                ))
                .await?;
                let made: attach_app::NewCoordinator = serde_json::from_str(&body)?;
                println!(
                    "Coordinator {} ({}) created.",
                    made.coordinator.username, made.coordinator.name
                );
                println!("Temporary password: {}", made.temporary_password);
                println!(
                    "It is shown once and works for 48 hours; they choose their own at the first sign-in on the hub's coordinator pages."
                );
            }
            HubAction::Coordinators(_) => {
                let body = send(client.get(format!("{base}/admin/coordinators"))).await?;
                let list: Vec<attach_app::CoordinatorSummary> = serde_json::from_str(&body)?;
                if list.is_empty() {
                    println!("No coordinator yet: attach hub add-coordinator --username U --name N");
                }
                for c in list {
                    println!("{}  {}  since {}", c.username, c.name, c.created_at.date());
                }
            }
            HubAction::RevokeClinic(a) => {
                send(client.post(format!("{base}/admin/clinics/{}/revoke", a.clinic))).await?;
                println!("Clinic {} revoked: its nodes are refused from now on.", a.clinic);
            }
            HubAction::Clinics(_) => {
                let body = send(client.get(format!("{base}/admin/clinics"))).await?;
                let clinics: Vec<ClinicSummary> = serde_json::from_str(&body)?;
                if clinics.is_empty() {
                    println!("No clinic is enrolled yet.");
                }
                for c in clinics {
                    println!(
                        "{}  {}  facility {}{}",
                        c.clinic,
                        c.name.as_deref().unwrap_or("(no data yet)"),
                        c.facility.as_deref().unwrap_or("-"),
                        if c.revoked { "  REVOKED" } else { "" }
                    );
                    for n in c.nodes {
                        println!(
                            "    node {}{}{}",
                            n.node,
                            if n.connected { "  connected" } else { "" },
                            if n.revoked { "  revoked" } else { "" }
                        );
                    }
                }
            }
            HubAction::Status(_) => {
                let body = send(client.get(format!("{base}/admin/status"))).await?;
                let s: HubStatus = serde_json::from_str(&body)?;
                println!("Change feed position: {}", s.feed_position);
                println!("Enrolled clinics:     {}", s.clinics);
                println!("Connected nodes:      {}", s.connected.len());
                for n in s.connected {
                    println!(
                        "    {} (clinic {}) from {}: {} B sent, {} B received",
                        n.node, n.clinic, n.peer, n.bytes_sent, n.bytes_received
                    );
                }
            }
        }
        Ok(())
    })
}

/// One clinic measure as text for a terminal: the province, then each health authority,
/// community and clinic, indented.
fn measures_text(c: &ComparisonJson) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let cell = |v: &CellJson| v.label.clone();
    let _ = writeln!(s, "{} ({}), {}", c.name, c.measure, c.month);
    let _ = writeln!(
        s,
        "{} of {} clinics sent it. Counts of 1 to 4 patients are suppressed.",
        c.clinics_sent, c.clinics
    );
    let _ = writeln!(s, "Province: {}", cell(&c.province));
    for a in &c.authorities {
        let _ = writeln!(s, "  {}: {}", a.name, cell(&a.value));
        for m in &a.communities {
            let _ = writeln!(s, "    {}: {}", m.name, cell(&m.value));
            for k in &m.clinics {
                let _ = writeln!(s, "      {}: {}", k.name, cell(&k.value));
            }
        }
    }
    s
}

/// The provincial view as text for a terminal.
fn report_text(r: &ProvinceReportJson) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let days = |d: Option<i64>| d.map_or_else(|| "-".to_owned(), |d| format!("{d} days"));
    let pct = |p: Option<f64>| p.map_or_else(|| "-".to_owned(), |p| format!("{p:.1} %"));
    let _ = writeln!(s, "Provincial view at {}", r.computed_at);
    let _ = writeln!(
        s,
        "People waiting: {} (median wait {}, 90th percentile {})",
        r.people_waiting,
        days(r.median_wait_days),
        days(r.p90_wait_days)
    );
    for c in &r.by_status {
        let _ = writeln!(s, "  {:<12} {:>8}", c.key, c.count);
    }
    let _ = writeln!(s, "By priority tier (people waiting):");
    for c in &r.by_tier {
        let _ = writeln!(s, "  {:<40} {:>8}", c.key, c.count);
    }
    let _ = writeln!(
        s,
        "Offers: {} open ({} people), {} made in all",
        r.offers_open, r.people_in_open_offers, r.offers_made
    );
    let _ = writeln!(
        s,
        "  providers accepted {} / declined {} ({} / {})",
        r.provider_side.yes,
        r.provider_side.no,
        pct(r.provider_side.yes_percent),
        pct(r.provider_side.no_percent)
    );
    let _ = writeln!(
        s,
        "  patients said yes {} / no {} ({} / {})",
        r.patient_side.yes,
        r.patient_side.no,
        pct(r.patient_side.yes_percent),
        pct(r.patient_side.no_percent)
    );
    if !r.decline_reasons.is_empty() {
        let _ = writeln!(s, "Top decline reasons:");
        for c in r.decline_reasons.iter().take(5) {
            let _ = writeln!(s, "  {:<24} {:>6}", c.key, c.count);
        }
    }
    let _ = writeln!(
        s,
        "Capacity: {} new patients a month from {} providers accepting",
        r.monthly_capacity, r.accepting_providers
    );
    let _ = writeln!(
        s,
        "{:<28} {:>8} {:>8} {:>9} {:>10}",
        "Community", "Waiting", "Offered", "Capacity", "Months"
    );
    for c in &r.communities {
        let _ = writeln!(
            s,
            "{:<28} {:>8} {:>8} {:>9} {:>10}",
            c.community,
            c.waiting,
            c.offered,
            c.monthly_capacity,
            c.months_to_clear
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.1}"))
        );
    }
    s
}
