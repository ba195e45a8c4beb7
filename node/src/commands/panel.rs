//! `attach panel preferences`, `move`, `review`, `bulk` and `msp`: a provider's panel, offline.

use anyhow::bail;

use super::common::{open, print_problems, set_dir};
use crate::cli::{BulkArgs, BulkChange, MoveArgs, MspArgs, PreferencesArgs, ReviewArgs, YesNo};
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

fn review_query(
    app: &attach_app::App,
    pairs: &[(String, String)],
) -> anyhow::Result<attach_domain::ReviewQuery> {
    match attach_domain::ReviewQuery::from_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        app.clinic_today(),
    ) {
        Ok(q) => Ok(q),
        Err(e) => match attach_app::AppError::from(e) {
            attach_app::AppError::Invalid { problems, .. } => {
                print_problems(&problems, "filter");
                bail!("the list's filters are not valid")
            }
            other => Err(other.into()),
        },
    }
}

/// `attach panel review`: the worklist counts, or one list as CSV.
pub(super) fn review(config: &mut Config, args: ReviewArgs) -> anyhow::Result<()> {
    set_dir(config, args.panel.data.data_dir.clone());
    let app = open(config)?;
    let (who, clinic, provider) = app.offline_panel(
        &args.panel.as_user,
        &args.panel.provider,
        args.panel.clinic.as_deref(),
    )?;
    let scope = attach_app::ReviewScope::Provider(provider);
    let pairs = args.list.pairs().map_err(anyhow::Error::msg)?;
    if pairs.is_empty() {
        for (w, n) in app.worklist_counts(who, clinic, scope)? {
            println!("{n:>7}  {}  ({})", w.title(), w.key());
        }
        return Ok(());
    }
    let q = review_query(&app, &pairs)?;
    let bytes = app.export_review(who, clinic, scope, &q)?;
    super::common::write_out(args.out.as_deref(), &bytes)?;
    Ok(())
}

/// `attach panel bulk`: one change to every patient on the list.
pub(super) fn bulk(config: &mut Config, args: BulkArgs) -> anyhow::Result<()> {
    use attach_app::{BulkAction, MrpSide};
    set_dir(config, args.panel.data.data_dir.clone());
    let app = open(config)?;
    let (who, clinic, provider) = app.offline_panel(
        &args.panel.as_user,
        &args.panel.provider,
        args.panel.clinic.as_deref(),
    )?;
    let how = || -> anyhow::Result<attach_domain::ConfirmMethod> {
        args.how
            .as_deref()
            .and_then(attach_domain::ConfirmMethod::from_key)
            .ok_or_else(|| anyhow::anyhow!("--how must be in_person, phone, portal or letter"))
    };
    let action = match args.change {
        BulkChange::AcceptSuggestions => BulkAction::AcceptSuggestions,
        BulkChange::DismissSuggestions => BulkAction::DismissSuggestions,
        BulkChange::VerifyContact => BulkAction::VerifyContact,
        BulkChange::ConfirmMrpProvider => BulkAction::ConfirmMrp {
            side: MrpSide::Provider,
            how: how()?,
        },
        BulkChange::ConfirmMrpPatient => BulkAction::ConfirmMrp {
            side: MrpSide::Patient,
            how: how()?,
        },
        BulkChange::SetStatus => {
            let name = args
                .status
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("set-status needs --status"))?;
            let c = app.clinic(who, clinic)?;
            let status = attach_app::status_by_name(&c, name)
                .ok_or_else(|| anyhow::anyhow!("this clinic has no status {name:?}"))?;
            BulkAction::SetStatus(status)
        }
    };
    let pairs = args.list.pairs().map_err(anyhow::Error::msg)?;
    if pairs.is_empty() {
        bail!("name the list to change with --worklist and/or --filter");
    }
    let q = review_query(&app, &pairs)?;
    let scope = attach_app::ReviewScope::Provider(provider);
    let entries: Vec<_> = app
        .review_rows(who, clinic, scope, &q)?
        .into_iter()
        .map(|r| (r.entry.provider, r.entry.id))
        .collect();
    if entries.is_empty() {
        println!("No patients on that list; nothing changed.");
        return Ok(());
    }
    let report = app.bulk_change(who, clinic, &entries, action)?;
    println!(
        "Changed {} patient(s); {} were already so.",
        report.changed, report.unchanged
    );
    Ok(())
}

/// `attach panel msp`: reads MSP's list and prints what differs.
pub(super) fn msp(config: &mut Config, args: MspArgs) -> anyhow::Result<()> {
    set_dir(config, args.panel.data.data_dir.clone());
    let app = open(config)?;
    let (who, clinic, provider) = app.offline_panel(
        &args.panel.as_user,
        &args.panel.provider,
        args.panel.clinic.as_deref(),
    )?;
    let bytes = std::fs::read(&args.file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?;
    match app.msp_upload(who, clinic, provider, &bytes) {
        Ok(view) => {
            let o = &view.open;
            println!("MSP's list: {} patients.", view.rows);
            println!("On MSP's list, not in Attach:      {:>6}", o.only_msp.len());
            println!(
                "In Attach, not on MSP's list:      {:>6}",
                o.only_attach.len()
            );
            println!(
                "On both, with differences:         {:>6}",
                o.differences.len()
            );
            println!(
                "Already decided:                   {:>6}",
                view.decided.len()
            );
            println!(
                "Nothing on the panel changed; decide each line on the MSP reconciliation page."
            );
            Ok(())
        }
        Err(attach_app::AppError::Invalid { message, problems }) => {
            print_problems(&problems, "row");
            bail!("{message}")
        }
        Err(other) => Err(other.into()),
    }
}
