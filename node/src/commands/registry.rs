//! The clinic's registries offline: `attach init` (a clinic and its director) and
//! `attach user reset-password`.

use super::common::{give_to_service_user, open, set_dir, start_hint};
use crate::cli::{InitArgs, ResetPasswordArgs};
use attach_app::config::Config;

/// `attach init`: create a clinic and its director, and print the temporary password.
pub(super) fn init(config: &mut Config, args: InitArgs) -> anyhow::Result<()> {
    set_dir(config, args.data.data_dir.clone());
    let app = open(config)?;
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
    println!("Next: {}", start_hint(config));
    Ok(())
}

/// `attach user reset-password`: a new temporary password, printed.
pub(super) fn reset_password(config: &mut Config, args: ResetPasswordArgs) -> anyhow::Result<()> {
    set_dir(config, args.data.data_dir.clone());
    let app = open(config)?;
    let temporary = app.reset_password_offline(&args.username)?;
    println!("New temporary password for {}: {temporary}", args.username);
    println!("It expires in 48 hours and must be changed at first sign-in.");
    Ok(())
}
