//! `attach demo`: a realistic synthetic clinic on an embedded default data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use attach_app::App;
pub use attach_app::demo::{DEMO_SEED, DemoLogin, LOGINS, demo_clinic, setup};

/// `$XDG_DATA_HOME/attach/demo`, else `~/.local/share/attach/demo`, else `./attach-demo`.
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("attach/demo");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".local/share/attach/demo");
    }
    PathBuf::from("attach-demo")
}

/// Creates the demo clinic unless the directory already holds it; returns the logins.
pub fn seed(app: &App, patients: usize) -> anyhow::Result<Vec<DemoLogin>> {
    let setup = demo_clinic(patients, time::OffsetDateTime::now_utc().date());
    let created = app.seed_demo(&setup).context("seeding the demo clinic")?;
    if created {
        tracing::info!(patients, "demo clinic created");
    } else {
        tracing::info!("demo clinic already present; reopened");
    }
    Ok(LOGINS
        .iter()
        .map(|(username, password, _, _, who)| DemoLogin {
            username,
            password,
            who,
        })
        .collect())
}

pub fn print_banner(addr: SocketAddr, data_dir: &Path, logins: &[DemoLogin]) {
    println!();
    println!("Attach demo clinic is running.");
    println!("  URL:            http://{addr}/");
    println!("  API reference:  http://{addr}/api/openapi.json");
    println!("  Data directory: {}", data_dir.display());
    println!();
    println!("  Demo logins (synthetic data, public passwords):");
    for l in logins {
        println!("    {:<12} {:<22} {}", l.username, l.password, l.who);
    }
    println!();
    println!("Press Ctrl-C to stop. Running `attach demo` again reopens the same data.");
}
