//! `attach import panel` and `attach export panel`: a provider's panel from and to CSV
//! or FHIR files; `attach import clinical`: the clinical records an EMR exported.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::common::{open, print_problems, set_dir};
use crate::cli::{
    ClinicalFileFormat, ExportPanelArgs, FileFormat, ImportClinicalArgs, ImportPanelArgs,
};
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

/// `attach import clinical`: one Bundle or CSV file, or a Bulk Data export's NDJSON files
/// (given one by one or as their directory).
pub(super) fn import_clinical(config: &mut Config, args: ImportClinicalArgs) -> anyhow::Result<()> {
    set_dir(config, args.data.data_dir.clone());
    let mut paths = Vec::new();
    for p in &args.files {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading the directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| e.eq_ignore_ascii_case("ndjson"))
                })
                .collect();
            inside.sort();
            if inside.is_empty() {
                bail!("{} holds no .ndjson files", p.display());
            }
            paths.extend(inside);
        } else {
            paths.push(p.clone());
        }
    }
    let format = match args.format {
        Some(f) => f,
        None => guess_clinical_format(&paths)?,
    };
    let mut files = Vec::with_capacity(paths.len());
    for p in &paths {
        files.push(attach_app::ClinicalFile {
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes: std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        });
    }
    let app = open(config)?;
    let format = match format {
        ClinicalFileFormat::Fhir => attach_app::ClinicalFormat::FhirBundle,
        ClinicalFileFormat::Ndjson => attach_app::ClinicalFormat::Ndjson,
        ClinicalFileFormat::Csv => attach_app::ClinicalFormat::Csv,
    };
    match app.import_clinical_offline(&args.as_user, args.clinic.as_deref(), format, &files) {
        Ok((_, r)) => {
            println!(
                "Imported {} file(s): {} records added, {} updated, {} unchanged, for {} patients.",
                files.len(),
                r.added,
                r.updated,
                r.unchanged,
                r.patients
            );
            if r.not_on_panel > 0 {
                println!(
                    "{} of those patients are on no panel of the clinic: their records are kept and shown once they are.",
                    r.not_on_panel
                );
            }
            for (what, n) in &r.skipped {
                println!("Skipped {n}: {what}.");
            }
            Ok(())
        }
        Err(attach_app::AppError::Invalid { message, problems }) => {
            eprintln!("Nothing was imported: {message}");
            print_problems(&problems, "row");
            bail!("{} problem(s) in the import", problems.len())
        }
        Err(other) => Err(other.into()),
    }
}

fn guess_clinical_format(paths: &[PathBuf]) -> anyhow::Result<ClinicalFileFormat> {
    let ext = |p: &PathBuf| {
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
    };
    let first = paths.first().and_then(ext);
    if paths.iter().map(ext).any(|e| e != first) {
        bail!("the files are not all of one kind; pass --format");
    }
    match first.as_deref() {
        Some("ndjson") => Ok(ClinicalFileFormat::Ndjson),
        Some("json") => Ok(ClinicalFileFormat::Fhir),
        Some("csv") => Ok(ClinicalFileFormat::Csv),
        _ => bail!("cannot tell the format from the file names; pass --format fhir, ndjson or csv"),
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
