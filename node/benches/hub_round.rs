//! The matching round at the hub, with its documents: a synthetic province written into a
//! real hub store, 300,000 people registered through the waitlist import, then
//! `App::run_matching` — ranking everyone, choosing every offer the capacity allows, and
//! writing every offer document durably — measured against the matching issue's target
//! (under 10 s on this machine). Run with
//!
//! ```text
//! cargo bench -p attach --bench hub_round
//! ```
//!
//! The province (see `attach::app::synthetic`): 1,500 clinics in 300 communities, each
//! community's clinics also serving its two neighbours; 10,000 providers (80 % physicians,
//! 70 % accepting new patients with a monthly capacity rate of 1–12 and 1–10 open
//! requests). Environment: `HUB_BENCH_WAITING` (300,000), `HUB_BENCH_PROVIDERS` (10,000),
//! `HUB_BENCH_CLINICS` (1,500).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use attach::app::synthetic::{ProvinceSpec, synthetic_waitlist};
use attach::app::{App, COORDINATOR, SystemClock};

const TARGET_SECS: f64 = 10.0;
const COMMUNITIES: usize = 300;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// This process's resident set now and at its peak, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() -> anyhow::Result<()> {
    let waiting = env_usize("HUB_BENCH_WAITING", 300_000);
    let providers = env_usize("HUB_BENCH_PROVIDERS", 10_000);
    let clinics = env_usize("HUB_BENCH_CLINICS", 1_500);
    let dir = tempfile::tempdir().context("a temporary data directory")?;
    let app = App::open_at(dir.path(), 256, 60, Arc::new(SystemClock))
        .context("opening the hub store")?;

    let t = Instant::now();
    let province = app.seed_synthetic_province(&ProvinceSpec {
        clinics,
        providers,
        communities: COMMUNITIES,
        seed: 7_117,
    })?;
    let mut config = app.matching_config();
    config.catchments = province.catchments.clone();
    app.set_matching_config(config);
    println!(
        "setup: {clinics} clinics and {providers} providers written in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let rows = synthetic_waitlist(11, waiting, COMMUNITIES, time::OffsetDateTime::now_utc());
    let t = Instant::now();
    let registered = app.register_waiting_many(COORDINATOR, &rows)?;
    let import = t.elapsed().as_secs_f64();
    println!(
        "waitlist import: {} people registered in {import:.1} s ({:.0} people/s, durable)",
        registered.len(),
        registered.len() as f64 / import
    );
    drop(rows);

    let t = Instant::now();
    let report = app.run_matching(COORDINATOR)?;
    let round = t.elapsed().as_secs_f64();
    let verdict = if round < TARGET_SECS { "PASS" } else { "FAIL" };
    println!(
        "matching round at the hub (rank {} people, {} offers to {} people, offer documents written durably): {round:.2} s (target < {TARGET_SECS} s) {verdict}; {} places left",
        report.considered, report.offers, report.offered, report.places_left
    );

    let t = Instant::now();
    let again = app.run_matching(COORDINATOR)?;
    println!(
        "second round at once (everyone offered is spoken for): {:.2} s, {} new offers",
        t.elapsed().as_secs_f64(),
        again.offers
    );
    let (rss, hwm) = rss_mib();
    println!(
        "hub process: RSS {rss:.0} MiB, peak {hwm:.0} MiB; store on disk {:.0} MiB",
        app.store_size()? as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}
