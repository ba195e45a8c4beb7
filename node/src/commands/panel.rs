//! `attach panel preferences` and `attach panel move`: change a provider's panel offline.

use anyhow::bail;

use super::common::{open, print_problems, set_dir};
use crate::cli::{MoveArgs, PreferencesArgs, YesNo};
use attach_app::config::Config;

/// `attach panel preferences`: set what is given, keep the rest, print them all.
pub(super) fn preferences(config: &mut Config, args: PreferencesArgs) -> anyhow::Result<()> {
    set_dir(config, args.panel.data.data_dir.clone());
    let app = open(config)?;
    let saved = app.set_preferences_offline(
        &args.panel.as_user,
        &args.panel.provider,
        args.panel.clinic.as_deref(),
        |p| {
            if let Some(a) = args.accepting {
                p.accepting_new_patients = a == YesNo::Yes;
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

/// `attach panel move`: to a colleague's panel or back to the waitlist, all or none.
pub(super) fn move_patients(config: &mut Config, args: MoveArgs) -> anyhow::Result<()> {
    set_dir(config, args.panel.data.data_dir.clone());
    let app = open(config)?;
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
