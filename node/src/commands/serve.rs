//! `attach demo` and `attach node`: open a data directory and serve the clinic node's
//! pages and API on it (with sync, for a real node).

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use super::common::open;
use crate::cli::{DemoArgs, ServeArgs};
use crate::demo;
use crate::process::{runtime, shutdown_signal};
use attach_app::App;
use attach_app::config::Config;

/// `attach demo`: seed the demo clinic (unless it is there), then serve it without sync.
pub(super) fn demo(config: &mut Config, args: DemoArgs) -> anyhow::Result<()> {
    config.data_dir = args
        .serve
        .data
        .data_dir
        .unwrap_or_else(demo::default_data_dir);
    if let Some(listen) = args.serve.listen {
        config.listen = listen;
    }
    let app = open(config)?;
    let logins = demo::seed(&app, args.patients)?;
    if args.seed_only {
        println!("Demo data ready in {}", config.data_dir.display());
        return Ok(());
    }
    serve(app, config, false, |addr| {
        demo::print_banner(addr, &config.data_dir, &logins)
    })
}

/// `attach node`: serve the clinic node, syncing with the hub and LAN peers.
pub(super) fn node(config: &mut Config, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(dir) = args.data.data_dir {
        config.data_dir = dir;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let app = open(config)?;
    serve(app, config, true, |addr| {
        println!("Attach node listening on http://{addr}");
        println!("Data directory: {}", config.data_dir.display());
    })
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
        // The first count before sync starts, so what the node has written by itself is there
        // before its first sync round; then every hour.
        count_once(&app);
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
        tokio::spawn(count_panels(app.clone()));
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

/// Keeps this month's panel counts (the profile's "active and inactive over time") and
/// measure counts (the hub's provincial comparison) up to date every hour after the count
/// at start, so each month's records end with its last count.
async fn count_panels(app: App) {
    let hour = std::time::Duration::from_secs(3600);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + hour, hour);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let app = app.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || count_once(&app)).await {
            tracing::warn!(error = %e, "counting the panels stopped");
        }
    }
}

/// The panel counts and the measure counts the hub compares (counts only), each retried in
/// an hour when it fails.
fn count_once(app: &App) {
    if let Err(e) = app.record_census() {
        tracing::warn!(error = %e, "counting the panels failed; trying again in an hour");
    }
    if let Err(e) = app.record_measures() {
        tracing::warn!(error = %e, "counting the measures failed; trying again in an hour");
    }
}
