//! CLI glue: turns a parsed command line into calls on the app, and prints results.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::cli::{
    BackupArgs, Cli, Command, ExportCommand, FileFormat, ImportCommand, InspectCommand, NodeAction,
    PanelCommand, RestoreArgs, UserCommand,
};
use crate::demo;
use crate::output::write_attachments;
use crate::process::{init_logging, runtime, shutdown_signal};
use attach_app::config::Config;
use attach_app::{App, SystemClock};

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
            if config.data_dir == Path::new(attach_app::config::DEFAULT_NODE_DIR) {
                // Nothing chose a directory: the hub's own default, not the node's.
                config.data_dir = PathBuf::from(attach_app::config::DEFAULT_HUB_DIR);
            }
            set_dir(&mut config, args.data.data_dir.clone());
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
                None => crate::hub_cli::run_hub(&config, open(&config)?),
                Some(action) => crate::hub_cli::admin(&mut config, action),
            }
        }
        Command::Init(args) => {
            set_dir(&mut config, args.data.data_dir.clone());
            let app = open(&config)?;
            let created = app.init_clinic(&attach_app::InitClinic {
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
            println!("The password expires in 48 hours and must be changed at first sign-in.");
            drop(app);
            give_to_service_user(&config.data_dir)?;
            println!("Next: {}", start_hint(&config));
            Ok(())
        }
        Command::Import(ImportCommand::Panel(args)) => {
            set_dir(&mut config, args.panel.data.data_dir.clone());
            let app = open(&config)?;
            let format = match args.format {
                Some(f) => f,
                None => guess_format(&args.file)?,
            };
            let bytes = std::fs::read(&args.file)
                .with_context(|| format!("reading {}", args.file.display()))?;
            let report = app.import_panel_offline(
                &args.panel.as_user,
                &args.panel.provider,
                args.panel.clinic.as_deref(),
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
                Err(attach_app::AppError::Invalid { message, problems }) => {
                    eprintln!("Nothing was imported: {message}");
                    print_problems(&problems, "row");
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
        Command::Export(ExportCommand::Attachments(args)) => {
            set_dir(&mut config, args.data.data_dir.clone());
            let app = open(&config)?;
            let clinic = match args.clinic.as_deref() {
                Some(raw) => attach_domain::ClinicId(
                    raw.trim()
                        .parse()
                        .with_context(|| format!("--clinic {raw:?} is not a clinic id"))?,
                ),
                None => match app.clinic_ids().as_slice() {
                    [one] => *one,
                    [] => bail!("this data directory holds no clinic"),
                    _ => bail!("this data directory holds several clinics; pass --clinic"),
                },
            };
            let export = app.attachment_records(
                attach_app::BillingScope::Node { clinic },
                &args.period.from,
                &args.period.to,
            )?;
            write_attachments(&export, args.period.out.as_deref())
        }
        Command::Inspect(InspectCommand::Digest(args)) => {
            set_dir(&mut config, args.data.data_dir.clone());
            let app = open(&config)?;
            let clinics = match args.clinic {
                Some(c) => vec![attach_domain::ClinicId(c)],
                None => app.clinic_ids(),
            };
            for clinic in clinics {
                let (docs, digest) = app.scope_digest(clinic)?;
                println!("clinic {clinic}: {docs} documents, digest {digest}");
            }
            Ok(())
        }
        Command::Backup(args) => {
            set_dir(&mut config, args.data.data_dir.clone());
            backup(&config, &args)
        }
        Command::Restore(args) => restore(&mut config, &args),
        Command::Man(args) => write_man_pages(&args.dir),
        Command::Status(args) => {
            set_dir(&mut config, args.data.data_dir.clone());
            let overview = runtime()?.block_on(attach_ops::status::overview(&config.data_dir))?;
            print!(
                "{}",
                attach_ops::status::report(
                    &config.data_dir,
                    overview.as_ref(),
                    time::OffsetDateTime::now_utc()
                )
            );
            Ok(())
        }
        Command::Panel(PanelCommand::Preferences(args)) => {
            set_dir(&mut config, args.panel.data.data_dir.clone());
            let app = open(&config)?;
            let saved = app.set_preferences_offline(
                &args.panel.as_user,
                &args.panel.provider,
                args.panel.clinic.as_deref(),
                |p| {
                    if let Some(a) = args.accepting {
                        p.accepting_new_patients = a == crate::cli::YesNo::Yes;
                    }
                    if let Some(n) = args.monthly_capacity {
                        p.monthly_capacity = n;
                    }
                    if let Some(n) = args.desired_panel_size {
                        p.desired_panel_size = n;
                    }
                    if let Some(n) = args.max_open_requests {
                        p.max_open_requests = n;
                    }
                    if let Some(l) = &args.languages {
                        p.languages = attach_domain::split_languages(l);
                    }
                    if let Some(n) = &args.practitioner_number {
                        p.practitioner_number = Some(n.clone()).filter(|n| !n.trim().is_empty());
                    }
                },
            );
            match saved {
                Ok(p) => {
                    println!(
                        "Accepting new patients: {}",
                        if p.accepting_new_patients {
                            "yes"
                        } else {
                            "no"
                        }
                    );
                    println!("Monthly capacity:       {}", p.monthly_capacity);
                    println!("Desired panel size:     {}", p.desired_panel_size);
                    println!("Maximum open requests:  {}", p.max_open_requests);
                    let languages: Vec<&str> = p.languages.iter().map(String::as_str).collect();
                    println!(
                        "Languages:              {}",
                        if languages.is_empty() {
                            "English only".to_owned()
                        } else {
                            languages.join("; ")
                        }
                    );
                    println!(
                        "Practitioner number:    {}",
                        p.practitioner_number.as_deref().unwrap_or("not set")
                    );
                    Ok(())
                }
                Err(attach_app::AppError::Invalid { problems, .. }) => {
                    print_problems(&problems, "row");
                    bail!("the preferences were not saved")
                }
                Err(other) => Err(other.into()),
            }
        }
        Command::Panel(PanelCommand::Move(args)) => {
            set_dir(&mut config, args.panel.data.data_dir.clone());
            let app = open(&config)?;
            let moved = app.move_patients_offline(
                &args.panel.as_user,
                &args.panel.provider,
                args.panel.clinic.as_deref(),
                args.to.as_deref(),
                &args.entries,
                &args.reason,
            );
            match moved {
                Ok(report) => {
                    let whither = match &args.to {
                        Some(to) => format!("to {to}'s panel"),
                        None => "back to the provincial waitlist".to_owned(),
                    };
                    println!(
                        "Moved {} patient(s) off {}'s panel {whither}.",
                        report.moved, args.panel.provider
                    );
                    Ok(())
                }
                Err(attach_app::AppError::Invalid { message, problems }) => {
                    print_problems(&problems, "entry");
                    bail!("{message}")
                }
                Err(other) => Err(other.into()),
            }
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

/// Each problem of a refused command on its own line; `item` names what a problem's row
/// counts (a file's rows, the entries given).
fn print_problems(problems: &[attach_app::Problem], item: &str) {
    for p in problems {
        match p.row {
            Some(row) => eprintln!("  {item} {row}, {}: {}", p.field, p.message),
            None => eprintln!("  {}: {}", p.field, p.message),
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
    if let attach_store::format::Prepared::Migrated { from, backup } =
        attach_ops::prepare_data_dir(&config.data_dir)?
    {
        eprintln!(
            "Upgraded the data directory {} from data format {from} to {}; a backup of it as it was is in {}.",
            config.data_dir.display(),
            attach_store::format::DATA_FORMAT,
            backup.display()
        );
    }
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
    let files = attach_replication::NodeFiles::new(&config.data_dir);
    let enrolled = runtime()?
        .block_on(attach_replication::node::enrol(
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
    give_to_service_user(&config.data_dir)?;
    println!("Next: {}", start_hint(config));
    Ok(())
}

/// The exact command that starts the node on this data directory: the packaged service
/// when the directory is the package's, else `attach node`.
fn start_hint(config: &Config) -> String {
    let packaged = [
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/etc/systemd/system",
    ]
    .iter()
    .any(|d| Path::new(d).join("attach-node.service").exists());
    if packaged && config.data_dir == Path::new(attach_app::config::DEFAULT_NODE_DIR) {
        "start the node with `sudo systemctl enable --now attach-node`, then sign in at \
         http://<this PC's address>:8080/ (`attach status` shows whether it runs)."
            .to_owned()
    } else {
        format!(
            "start the node with `attach node --data-dir {}` and sign in.",
            config.data_dir.display()
        )
    }
}

/// Run as root on a directory of the package (whose parent belongs to the service's user),
/// an offline command would leave files the service cannot open: hand them to that user.
fn give_to_service_user(data_dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some(parent) = data_dir.parent() else {
        return Ok(());
    };
    let (Ok(me), Ok(owner)) = (std::fs::metadata("/proc/self"), std::fs::metadata(parent)) else {
        return Ok(());
    };
    if me.uid() != 0 || owner.uid() == 0 {
        return Ok(());
    }
    chown_tree(data_dir, owner.uid(), owner.gid())
        .with_context(|| format!("handing {} to its service user", data_dir.display()))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
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
            let node_sync = attach_replication::NodeSync::new(
                app.clone(),
                &config.data_dir,
                std::time::Duration::from_secs(config.sync_retry_max_secs.max(1)),
            )
            .context("starting sync")?;
            tokio::spawn(node_sync.clone().run());
            attach_replication::lan::start(node_sync.clone(), config).await;
            Some(node_sync)
        } else {
            None
        };
        let metrics = attach_ops::metrics::Metrics::new();
        let admin_state = attach_ops::admin::AdminState::new(
            app.clone(),
            &config.data_dir,
            metrics.clone(),
            attach_ops::admin::Live::Node(sync.clone()),
        )
        .context("setting up the admin listener")?;
        let admin = TcpListener::bind(config.admin_listen)
            .await
            .with_context(|| format!("listening on {} (admin_listen)", config.admin_listen))?;
        let router = attach_server::router_with_sync(
            app,
            attach_http::HttpOptions::from_config(config),
            attach_replication::SyncHandle(sync),
        )
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            attach_ops::metrics::count_requests,
        ));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut admin_stop = stop_rx.clone();
        let admin_task = tokio::spawn(attach_ops::admin::serve(admin_state, admin, async move {
            let _ = admin_stop.wait_for(|s| *s).await;
        }));
        ready(listener.local_addr()?);
        attach_server::serve_router(router, listener, async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        })
        .await
        .context("serving HTTP")?;
        drop(stop_rx);
        admin_task.await.context("admin listener")??;
        Ok(())
    })
}

/// Renders `attach.1` and `attach-<command>.1` for every visible command from the CLI
/// definition itself, so the manual cannot drift from `--help`.
fn write_man_pages(dir: &Path) -> anyhow::Result<()> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let top = Cli::command().name("attach");
    let mut pages = vec![("attach".to_owned(), top.clone())];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("attach-{}", sub.get_name());
        pages.push((
            name.clone(),
            sub.clone()
                .display_name(name.clone())
                .bin_name(format!("attach {}", sub.get_name())),
        ));
    }
    for (name, cmd) in pages {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `attach backup`: from the running process when there is one, else from the stopped
/// directory; then prune with `--keep`.
fn backup(config: &Config, args: &BackupArgs) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    let role = attach_ops::role(dir);
    let out = match (&args.out, &args.into) {
        (Some(_), _) if args.keep.is_some() => {
            bail!("--keep prunes a directory of backups: use it with --into DIR")
        }
        (Some(out), _) => out.clone(),
        (None, Some(into)) => {
            std::fs::create_dir_all(into)
                .with_context(|| format!("creating {}", into.display()))?;
            into.join(attach_ops::timestamped_name(role))
        }
        (None, None) => bail!("give --out FILE or --into DIR"),
    };
    let started = std::time::Instant::now();
    let from_running = runtime()?.block_on(attach_ops::admin::fetch(dir, "/admin/backup"))?;
    let (len, how) = match from_running {
        Some(bytes) => {
            let len = attach_ops::backup::write_backup_file(&out, |w| {
                use std::io::Write;
                Ok(w.write_all(&bytes)?)
            })?;
            (len, format!("from the running {role}"))
        }
        None => {
            let (len, _) = attach_ops::offline_backup(dir, &out)?;
            (len, format!("from the stopped {role}'s directory"))
        }
    };
    println!(
        "Backup of {} written to {} ({}, {how}, {:.1} s); checksum verified.",
        dir.display(),
        out.display(),
        attach_ops::status::human_bytes(len),
        started.elapsed().as_secs_f64()
    );
    if let (Some(into), Some(keep)) = (&args.into, args.keep) {
        for old in attach_ops::prune(into, role, keep.max(1))? {
            println!("Deleted old backup {}", old.display());
        }
    }
    Ok(())
}

/// `attach restore`: unpack into an empty directory, open it (upgrading an older format),
/// and print each clinic's digest.
fn restore(config: &mut Config, args: &RestoreArgs) -> anyhow::Result<()> {
    config.data_dir = args.data_dir.clone();
    let (header, summary) = attach_ops::backup::restore(&args.file, &args.data_dir)?;
    println!(
        "Restored a {} backup taken {} (attach {}, data format {}): {} database entries, {} files.",
        header.role,
        time::OffsetDateTime::from_unix_timestamp(header.created_unix)
            .map(|t| t.date().to_string())
            .unwrap_or_else(|_| "at an unknown time".to_owned()),
        header.attach_version,
        header.data_format,
        summary.entries,
        summary.files
    );
    let app = open(config)?;
    for clinic in app.clinic_ids() {
        let (docs, digest) = app.scope_digest(clinic)?;
        println!("clinic {clinic}: {docs} documents, digest {digest}");
    }
    drop(app);
    give_to_service_user(&config.data_dir)?;
    Ok(())
}
