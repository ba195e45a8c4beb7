//! CLI glue: turns a parsed command line into calls on the app, and prints results.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::app::{App, SystemClock};
use crate::cli::{
    Cli, Command, ExportCommand, FileFormat, ImportCommand, InspectCommand, NodeAction, UserCommand,
};
use crate::config::{Config, LogFormat};
use crate::demo;

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref(), std::env::vars())?;
    init_logging(config.log_format);
    match cli.command {
        Command::Demo(args) => {
            config.data_dir = args
                .serve
                .data
                .data_dir
                .unwrap_or_else(demo::default_data_dir);
            if let Some(listen) = args.serve.listen {
                config.listen = listen;
            }
            let app = open(&config)?;
            let logins = demo::seed(&app, args.patients)?;
            if args.seed_only {
                println!("Demo data ready in {}", config.data_dir.display());
                return Ok(());
            }
            serve(app, &config, false, |addr| {
                demo::print_banner(addr, &config.data_dir, &logins)
            })
        }
        Command::Node(args) => {
            if let Some(NodeAction::Enrol(enrol)) = args.action {
                set_dir(&mut config, enrol.data.data_dir.clone());
                return enrol_offline(&config, &enrol.hub, &enrol.code);
            }
            let args = args.serve;
            if let Some(dir) = args.data.data_dir {
                config.data_dir = dir;
            }
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            let app = open(&config)?;
            serve(app, &config, true, |addr| {
                println!("Attach node listening on http://{addr}");
                println!("Data directory: {}", config.data_dir.display());
            })
        }
        Command::Hub(args) => {
            set_dir(&mut config, args.data.data_dir.clone());
            if let Some(listen) = args.listen {
                config.listen = listen;
            }
            if let Some(sync) = args.sync_listen {
                config.sync_listen = sync;
            }
            match args.action {
                None => crate::hub_cli::run_hub(&config, open(&config)?),
                Some(action) => crate::hub_cli::admin(&mut config, action),
            }
        }
        Command::Init(args) => {
            set_dir(&mut config, args.data.data_dir.clone());
            let app = open(&config)?;
            let created = app.init_clinic(&crate::app::InitClinic {
                clinic_name: args.clinic_name,
                facility_number: args.facility_number,
                director_username: args.director_username,
                director_name: args.director_name,
                director_email: args.director_email,
            })?;
            println!(
                "Created clinic {} ({}).",
                created.clinic_name, created.clinic
            );
            println!("Director login:     {}", created.username);
            println!("Temporary password: {}", created.temporary_password);
            println!(
                "The password expires in 48 hours and must be changed at first sign-in.\n\
                 Next: start the node with `attach node --data-dir {}` and sign in.",
                config.data_dir.display()
            );
            Ok(())
        }
        Command::Import(ImportCommand::Panel(args)) => {
            set_dir(&mut config, args.data.data_dir.clone());
            let app = open(&config)?;
            let format = match args.format {
                Some(f) => f,
                None => guess_format(&args.file)?,
            };
            let bytes = std::fs::read(&args.file)
                .with_context(|| format!("reading {}", args.file.display()))?;
            let report = app.import_panel_offline(
                &args.as_user,
                &args.provider,
                args.clinic.as_deref(),
                format == FileFormat::Fhir,
                &bytes,
            );
            match report {
                Ok(report) => {
                    println!(
                        "Imported {}: {} added, {} updated, {} unchanged.",
                        args.file.display(),
                        report.added,
                        report.updated,
                        report.unchanged
                    );
                    Ok(())
                }
                Err(crate::app::AppError::Invalid { message, problems }) => {
                    eprintln!("Nothing was imported: {message}");
                    for p in &problems {
                        match p.row {
                            Some(row) => eprintln!("  row {row}, {}: {}", p.field, p.message),
                            None => eprintln!("  {}: {}", p.field, p.message),
                        }
                    }
                    bail!("{} problem(s) in {}", problems.len(), args.file.display())
                }
                Err(other) => Err(other.into()),
            }
        }
        Command::Export(ExportCommand::Panel(args)) => {
            set_dir(&mut config, args.data.data_dir.clone());
            let app = open(&config)?;
            let bytes = app.export_panel_offline(
                &args.provider,
                args.clinic.as_deref(),
                args.format == FileFormat::Fhir,
            )?;
            match &args.out {
                Some(path) => std::fs::write(path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
            Ok(())
        }
        Command::Inspect(InspectCommand::Digest(args)) => {
            set_dir(&mut config, args.data.data_dir.clone());
            let app = open(&config)?;
            let clinics = match args.clinic {
                Some(c) => vec![crate::domain::ClinicId(c)],
                None => app.clinic_ids(),
            };
            for clinic in clinics {
                let (docs, digest) = app.scope_digest(clinic)?;
                println!("clinic {clinic}: {docs} documents, digest {digest}");
            }
            Ok(())
        }
        Command::User(UserCommand::ResetPassword(args)) => {
            set_dir(&mut config, args.data.data_dir.clone());
            let app = open(&config)?;
            let temporary = app.reset_password_offline(&args.username)?;
            println!("New temporary password for {}: {temporary}", args.username);
            println!("It expires in 48 hours and must be changed at first sign-in.");
            Ok(())
        }
    }
}

fn set_dir(config: &mut Config, dir: Option<PathBuf>) {
    if let Some(dir) = dir {
        config.data_dir = dir;
    }
}

fn guess_format(path: &Path) -> anyhow::Result<FileFormat> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => Ok(FileFormat::Csv),
        Some(e) if e.eq_ignore_ascii_case("json") => Ok(FileFormat::Fhir),
        _ => bail!(
            "cannot tell the format of {} from its name; pass --format csv or --format fhir",
            path.display()
        ),
    }
}

fn open(config: &Config) -> anyhow::Result<App> {
    // `AppError::Internal` shows clients only "internal error"; an operator needs the cause.
    App::open(config, Arc::new(SystemClock))
        .map_err(|e| anyhow::anyhow!(e.log_cause()))
        .with_context(|| {
            format!(
                "opening the data directory {} (is another attach process using it?)",
                config.data_dir.display()
            )
        })
}

/// Enrols a stopped node with the hub (the running node's Sync page does the same).
fn enrol_offline(config: &Config, hub: &str, code: &str) -> anyhow::Result<()> {
    let app = open(config)?;
    let node = uuid::Uuid::from_bytes(app.doc_store().node_id().0);
    let clinic = app.clinic_ids().first().map(|c| c.as_uuid());
    drop(app);
    let files = crate::replication::NodeFiles::new(&config.data_dir);
    let enrolled = runtime()?
        .block_on(crate::replication::node::enrol(
            &files, hub, code, node, clinic,
        ))
        .context("enrolling with the hub")?;
    println!(
        "Enrolled with the hub at {} for clinic {} (this node: {}).",
        enrolled.hub, enrolled.clinic, enrolled.node
    );
    if clinic.is_none() {
        println!(
            "This node holds no clinic yet: it restores the clinic from the hub when it starts."
        );
    }
    println!(
        "Start the node with `attach node --data-dir {}`.",
        config.data_dir.display()
    );
    Ok(())
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn serve(
    app: App,
    config: &Config,
    sync: bool,
    ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let sync = if sync {
            let node_sync = crate::replication::NodeSync::new(
                app.clone(),
                &config.data_dir,
                std::time::Duration::from_secs(config.sync_retry_max_secs.max(1)),
            )
            .context("starting sync")?;
            tokio::spawn(node_sync.clone().run());
            crate::replication::lan::start(node_sync.clone(), config).await;
            Some(node_sync)
        } else {
            None
        };
        ready(listener.local_addr()?);
        crate::http::run(
            app,
            crate::http::HttpOptions::from_config(config),
            crate::http::SyncHandle(sync),
            listener,
            shutdown_signal(),
        )
        .await
        .context("serving HTTP")
    })
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ATTACH_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,sled=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
