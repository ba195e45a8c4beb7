//! Operations: backups and restore, the data directory's upgrades, the loopback admin
//! listener (backup of a running process, `/metrics`, status) and `attach status`.
//!
//! A running node or hub holds its store's exclusive lock on its data directory, so a backup of
//! it must be made by the process itself: `attach backup` asks it over its admin listener
//! (loopback only, bearer token in a file only the service's user can read). A stopped
//! directory is read directly.

pub mod admin;
pub mod backup;
pub mod metrics;
pub mod status;

use std::path::{Path, PathBuf};

pub use attach_store::format::create_private_dir;
use attach_store::format::{self, FormatError, Prepared};
pub use backup::{BackupHeader, BackupSummary};

/// Directory under a data directory where upgrades keep the backup they took first.
pub const UPGRADE_BACKUPS: &str = "upgrade-backups";

/// Why an operations command failed. Messages name files and ids, never patient data.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{path} cannot be restored: {reason}")]
    BadBackup { path: PathBuf, reason: String },
    #[error(
        "{0} is not empty: restore only into an empty or new directory (it never overwrites data)"
    )]
    NotEmpty(PathBuf),
    #[error("{0} is not an Attach data directory (it has no docs/db)")]
    NotADataDir(PathBuf),
    #[error(
        "cannot open {0} ({1}); if the node or hub is running, `attach backup` asks it for the \
         backup through its admin listener"
    )]
    Busy(PathBuf, String),
    #[error("cannot reach the attach process of {0}: {1}")]
    NotRunning(PathBuf, String),
    #[error("the running attach refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("storage: {0}")]
    Store(#[from] attach_store::StoreError),
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
}

/// `"hub"` for a hub's data directory (it holds the hub's CA), `"node"` otherwise.
pub fn role(data_dir: &Path) -> &'static str {
    if data_dir.join("hub").join("ca.pem").exists() {
        "hub"
    } else {
        "node"
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The header of a backup taken now of `data_dir`.
pub fn header_for(data_dir: &Path) -> BackupHeader {
    BackupHeader {
        data_format: format::read(data_dir)
            .ok()
            .flatten()
            .unwrap_or(format::DATA_FORMAT),
        role: role(data_dir).to_owned(),
        created_unix: now_unix(),
        attach_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// Backs up a stopped data directory to the file `out`; returns its size.
pub fn offline_backup(data_dir: &Path, out: &Path) -> Result<(u64, BackupSummary), OpsError> {
    let db = backup::open_stopped(data_dir)?;
    let header = header_for(data_dir);
    let mut summary = BackupSummary::default();
    let len = backup::write_backup_file(out, |w| {
        summary = backup::write_backup(&db, data_dir, &header, w)?.1;
        Ok(())
    })?;
    Ok((len, summary))
}

/// Makes `data_dir` usable by this binary before anything opens it (see
/// [`attach_store::format`]): an older directory is backed up into
/// `<data_dir>/upgrade-backups/` and then migrated; a newer one is refused untouched.
pub fn prepare_data_dir(data_dir: &Path) -> Result<Prepared, FormatError> {
    format::prepare(data_dir, |dir, from| {
        let backups = dir.join(UPGRADE_BACKUPS);
        create_private_dir(&backups).map_err(|e| e.to_string())?;
        let out = backups.join(format!(
            "before-format-{}-{}.attach-backup",
            from + 1,
            now_unix()
        ));
        offline_backup(dir, &out).map_err(|e| e.to_string())?;
        Ok(out)
    })
}

/// File name of a backup taken into a directory (`attach backup --into`): sorts by time.
pub fn timestamped_name(role: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "attach-{role}-{:04}{:02}{:02}-{:02}{:02}{:02}.attach-backup",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Keeps the `keep` newest `attach-<role>-*.attach-backup` files in `dir` and deletes the
/// rest; returns the deleted paths. Other files are never touched.
pub fn prune(dir: &Path, role: &str, keep: usize) -> Result<Vec<PathBuf>, OpsError> {
    let prefix = format!("attach-{role}-");
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".attach-backup"))
        })
        .collect();
    // The names hold the UTC time, so name order is age order.
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let removed: Vec<PathBuf> = backups.into_iter().take(excess).collect();
    for p in &removed {
        std::fs::remove_file(p)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
