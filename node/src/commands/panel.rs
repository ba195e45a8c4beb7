//! `attach panel preferences`, `move`, `review`, `bulk`, `msp` and `profile`: a provider's
//! panel, offline.

use anyhow::bail;

use super::common::{open, print_problems, set_dir};
use crate::cli::{
    BulkArgs, BulkChange, MoveArgs, MspArgs, PanelArgs, PreferencesArgs, ProfileArgs, ReviewArgs,
    YesNo,
};
use attach_app::config::Config;

type OpenPanel = (
    attach_app::App,
    attach_domain::UserId,
    attach_domain::ClinicId,
    attach_domain::UserId,
);

/// Opens the data directory and names the panel a command acts on, and who acts.
fn open_panel(config: &mut Config, panel: &PanelArgs) -> anyhow::Result<OpenPanel> {
    set_dir(config, panel.data.data_dir.clone());
    let app = open(config)?;
    let (who, clinic, provider) =
        app.offline_panel(&panel.as_user, &panel.provider, panel.clinic.as_deref())?;
    Ok((app, who, clinic, provider))
}

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
    let (app, who, clinic, provider) = open_panel(config, &args.panel)?;
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
    let (app, who, clinic, provider) = open_panel(config, &args.panel)?;
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
    let (app, who, clinic, provider) = open_panel(config, &args.panel)?;
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

/// `attach panel profile`: the panel by age and sex, its month-end counts, and the
/// supply/demand estimate (after stating the appointments, when given).
pub(super) fn profile(config: &mut Config, args: ProfileArgs) -> anyhow::Result<()> {
    let (app, who, clinic, provider) = open_panel(config, &args.panel)?;
    if let Some(per_week) = args.appointments_per_week {
        let weeks = args
            .weeks_per_year
            .unwrap_or(attach_domain::DEFAULT_WEEKS_PER_YEAR);
        match app.set_supply(who, clinic, provider, per_week, weeks) {
            Ok(_) => {}
            Err(attach_app::AppError::Invalid { problems, .. }) => {
                print_problems(&problems, "field");
                bail!("the appointments were not saved")
            }
            Err(other) => return Err(other.into()),
        }
    } else if args.weeks_per_year.is_some() {
        bail!("--weeks-per-year goes with --appointments-per-week");
    }
    let p = app.panel_profile(who, clinic, provider)?;
    println!(
        "Patients on the panel: {} (desired size {})",
        p.size, p.desired_size
    );
    println!();
    println!(
        "{:<8} {:>7} {:>7} {:>7} {:>7}",
        "ages", "women", "men", "X/unkn", "all"
    );
    for b in p.pyramid.bands.iter().rev() {
        let c = b.counts;
        println!(
            "{:<8} {:>7} {:>7} {:>7} {:>7}",
            b.label(),
            c.female,
            c.male,
            c.other,
            c.total
        );
    }
    let t = p.pyramid.totals;
    println!(
        "{:<8} {:>7} {:>7} {:>7} {:>7}",
        "all", t.female, t.male, t.other, t.total
    );
    println!();
    if p.census.is_empty() {
        println!("No month counted yet (a running node counts every hour).");
    } else {
        println!(
            "{:<8} {:>7} {:>8} {:>6} {:>7}",
            "month", "active", "inactive", "other", "all"
        );
        for m in &p.census {
            println!(
                "{:04}-{:02}  {:>7} {:>8} {:>6} {:>7}",
                m.year, m.month, m.active, m.inactive, m.other, m.total
            );
        }
    }
    println!();
    match &p.estimate {
        Some(Ok(s)) => {
            println!("{}", s.explanation);
            println!(
                "Counted: the {} {}.",
                p.counted,
                attach_app::ESTIMATE_COUNTS
            );
        }
        Some(Err(why)) => println!("No estimate: {why}"),
        None => println!(
            "No estimate: state the appointments a week (--appointments-per-week) to see one."
        ),
    }
    println!(
        "Visit rates: {}.",
        if p.rates.default {
            "the default table (see the visit-rates page for its source)"
        } else {
            "the clinic's own table"
        }
    );
    Ok(())
}
