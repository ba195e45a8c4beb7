//! `attach backup`, `attach restore` and `attach inspect digest`: copy a data directory,
//! and check that a copy holds the same merged state.

use anyhow::{Context, bail};

use super::common::{give_to_service_user, open, print_digests, set_dir};
use crate::cli::{BackupArgs, DigestArgs, RestoreArgs};
use crate::process::runtime;
use attach_app::config::Config;

/// `attach backup`: from the running process when there is one, else from the stopped
/// directory; then prune with `--keep`.
pub(super) fn backup(config: &mut Config, args: BackupArgs) -> anyhow::Result<()> {
    set_dir(config, args.data.data_dir.clone());
    let dir = &config.data_dir;
    let role = attach_ops::role(dir);
    let out = match (&args.out, &args.into) {
        (Some(_), _) if args.keep.is_some() => {
            bail!("--keep prunes a directory of backups: use it with --into DIR")
        }
        (Some(out), _) => out.clone(),
        (None, Some(into)) => {
            std::fs::create_dir_all(into)
                .with_context(|| format!("creating {}", into.display()))?;
            into.join(attach_ops::timestamped_name(role))
        }
        (None, None) => bail!("give --out FILE or --into DIR"),
    };
    let started = std::time::Instant::now();
    let from_running = runtime()?.block_on(attach_ops::admin::fetch(dir, "/admin/backup"))?;
    let (len, how) = match from_running {
        Some(bytes) => {
            let len = attach_ops::backup::write_backup_file(&out, |w| {
                use std::io::Write;
                Ok(w.write_all(&bytes)?)
            })?;
            (len, format!("from the running {role}"))
        }
        None => {
            let (len, _) = attach_ops::offline_backup(dir, &out)?;
            (len, format!("from the stopped {role}'s directory"))
        }
    };
    println!(
        "Backup of {} written to {} ({}, {how}, {:.1} s); checksum verified.",
        dir.display(),
        out.display(),
        attach_ops::status::human_bytes(len),
        started.elapsed().as_secs_f64()
    );
    if let (Some(into), Some(keep)) = (&args.into, args.keep) {
        for old in attach_ops::prune(into, role, keep.max(1))? {
            println!("Deleted old backup {}", old.display());
        }
    }
    Ok(())
}

/// `attach restore`: unpack into an empty directory, open it (upgrading an older format),
/// and print each clinic's digest.
pub(super) fn restore(config: &mut Config, args: RestoreArgs) -> anyhow::Result<()> {
    config.data_dir = args.data_dir.clone();
    let (header, summary) = attach_ops::backup::restore(&args.file, &args.data_dir)?;
    println!(
        "Restored a {} backup taken {} (attach {}, data format {}): {} database entries, {} files.",
        header.role,
        time::OffsetDateTime::from_unix_timestamp(header.created_unix)
            .map(|t| t.date().to_string())
            .unwrap_or_else(|_| "at an unknown time".to_owned()),
        header.attach_version,
        header.data_format,
        summary.entries,
        summary.files
    );
    let app = open(config)?;
    print_digests(&app, app.clinic_ids())?;
    drop(app);
    give_to_service_user(&config.data_dir)?;
    Ok(())
}

/// `attach inspect digest`: each clinic's document count and heads digest.
pub(super) fn digest(config: &mut Config, args: DigestArgs) -> anyhow::Result<()> {
    set_dir(config, args.data.data_dir.clone());
    let app = open(config)?;
    let clinics = match args.clinic {
        Some(c) => vec![attach_domain::ClinicId(c)],
        None => app.clinic_ids(),
    };
    print_digests(&app, clinics)
}
