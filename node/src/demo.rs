//! `attach demo`: a realistic synthetic clinic on an embedded default data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::app::{App, DemoMember, DemoSetup};
use crate::demo_data;
use crate::domain::Role;

/// Seed of the synthetic population: the demo is the same on every machine.
pub const DEMO_SEED: u64 = 20_261_101;

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

/// One demo login, printed at start-up.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub username: &'static str,
    pub password: &'static str,
    pub who: &'static str,
}

/// The demo clinic's people. Demo passwords are public by design: this data is synthetic.
pub const LOGINS: &[(&str, &str, &str, Role, &str)] = &[
    // username, password, display name, role, description
    (
        "director",
        "demo-director-pw",
        "Dana Whitford",
        Role::Director,
        "clinic director, primary account manager",
    ),
    (
        "drpatel",
        "demo-drpatel-pw",
        "Dr. Anika Patel",
        Role::Physician,
        "family physician",
    ),
    (
        "drnguyen",
        "demo-drnguyen-pw",
        "Dr. Minh Nguyen",
        Role::Physician,
        "family physician",
    ),
    (
        "drmacdonald",
        "demo-drmacdonald-pw",
        "Dr. Ian MacDonald",
        Role::Physician,
        "family physician",
    ),
    (
        "npsingh",
        "demo-npsingh-pw",
        "Harleen Singh, NP",
        Role::NursePractitioner,
        "nurse practitioner",
    ),
    (
        "moa.chen",
        "demo-moachen-pw",
        "Grace Chen",
        Role::MedicalOfficeAssistant,
        "MOA, secondary account manager, endorsed by Dr. Patel",
    ),
    (
        "moa.roy",
        "demo-moaroy-pw",
        "Luc Roy",
        Role::MedicalOfficeAssistant,
        "MOA, endorsement from Dr. Nguyen awaiting confirmation",
    ),
];

/// The demo clinic (its name, the people of `LOGINS`) with `patients` spread over its
/// providers' panels. Tests build their clinic from this too.
pub fn setup(patients: Vec<crate::domain::PatientDetails>) -> DemoSetup {
    DemoSetup {
        clinic_name: "Bulkley Valley Family Practice".to_owned(),
        facility_number: "V0J2N0".to_owned(),
        members: LOGINS
            .iter()
            .map(|(username, password, name, role, _)| DemoMember {
                username: (*username).to_owned(),
                password: (*password).to_owned(),
                display_name: (*name).to_owned(),
                role: *role,
            })
            .collect(),
        patients,
        seed: DEMO_SEED,
    }
}

/// Creates the demo clinic unless the directory already holds it; returns the logins.
pub fn seed(app: &App, patients: usize) -> anyhow::Result<Vec<DemoLogin>> {
    let setup = setup(demo_data::patients(
        DEMO_SEED,
        patients,
        time::OffsetDateTime::now_utc().date(),
    ));
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
