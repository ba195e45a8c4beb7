//! `attach import panel` and `attach export panel`: a provider's panel from and to CSV
//! or FHIR files.

use std::path::Path;

use anyhow::{Context, bail};

use super::common::{open, print_problems, set_dir};
use crate::cli::{ExportPanelArgs, FileFormat, ImportPanelArgs};
use attach_app::config::Config;

/// `attach import panel`: all rows, or nothing and each problem on its own line.
pub(super) fn import_panel(config: &mut Config, args: ImportPanelArgs) -> anyhow::Result<()> {
    set_dir(config, args.panel.data.data_dir.clone());
    let app = open(config)?;
    let format = match args.format {
        Some(f) => f,
        None => guess_format(&args.file)?,
    };
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
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

/// `attach export panel`: to `--out`, or standard output.
pub(super) fn export_panel(config: &mut Config, args: ExportPanelArgs) -> anyhow::Result<()> {
    set_dir(config, args.data.data_dir.clone());
    let app = open(config)?;
    let bytes = app.export_panel_offline(
        &args.provider,
        args.clinic.as_deref(),
        args.format == FileFormat::Fhir,
    )?;
    super::common::write_out(args.out.as_deref(), &bytes)
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
