//! The data directory's format version, recorded in the file `format` at its top, and the
//! steps that move an older directory forward.
//!
//! | version | what it is |
//! |---|---|
//! | 1 | directories written before the marker existed: `docs/` (sled, store format 1), `hub/`, `sync/`; created with the process umask, so the database holding patient data was usually readable by every local user |
//! | 2 | the `format` marker; the data directory and `docs/` are owner-only (0700) |
//!
//! A directory without the marker but with `docs/` is version 1; one with neither is new.
//! A newer binary migrates an older directory forward step by step after a backup of it
//! (the caller supplies the backup); the marker is written last, so a migration cut short
//! runs again next time. An older binary refuses a directory of a newer version before
//! opening anything in it, and changes nothing.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The data format this binary writes.
pub const DATA_FORMAT: u32 = 2;
/// The marker's file name, at the top of the data directory.
pub const MARKER_FILE: &str = "format";

/// Why a data directory cannot be used as it is.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "{dir} was written by a newer version of Attach (data format {found}; this attach \
         understands up to {DATA_FORMAT}). Nothing was changed. Install the newer attach \
         (or restore a backup taken before the upgrade)."
    )]
    Newer { dir: PathBuf, found: u32 },
    #[error("{path} does not hold a data format version: {content:?}")]
    BadMarker { path: PathBuf, content: String },
    #[error("taking a backup before the upgrade failed, so nothing was changed: {0}")]
    Backup(String),
    #[error("data directory {dir}: {source}")]
    Io { dir: PathBuf, source: io::Error },
}

/// What [`prepare`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// A new directory, marked with the current version.
    Fresh,
    /// Already at the current version.
    Current,
    /// Moved forward from `from`; the backup taken first is at `backup`.
    Migrated { from: u32, backup: PathBuf },
}

/// The directory's format version: `None` for a new (absent or empty) directory.
pub fn read(data_dir: &Path) -> Result<Option<u32>, FormatError> {
    let io_err = |source| FormatError::Io {
        dir: data_dir.to_owned(),
        source,
    };
    let path = data_dir.join(MARKER_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| FormatError::BadMarker {
                path,
                content: text.chars().take(40).collect(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if data_dir.join("docs").exists() {
                Ok(Some(1))
            } else {
                Ok(None)
            }
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Makes `data_dir` usable by this binary: marks a new one, refuses a newer one, and moves
/// an older one forward after `backup(dir, from_version)` succeeded.
pub fn prepare(
    data_dir: &Path,
    backup: impl FnOnce(&Path, u32) -> Result<PathBuf, String>,
) -> Result<Prepared, FormatError> {
    let io_err = |source| FormatError::Io {
        dir: data_dir.to_owned(),
        source,
    };
    match read(data_dir)? {
        None => {
            create_private_dir(data_dir).map_err(io_err)?;
            write_marker(data_dir, DATA_FORMAT).map_err(io_err)?;
            Ok(Prepared::Fresh)
        }
        Some(v) if v > DATA_FORMAT => Err(FormatError::Newer {
            dir: data_dir.to_owned(),
            found: v,
        }),
        Some(DATA_FORMAT) => Ok(Prepared::Current),
        Some(from) => {
            let backup = backup(data_dir, from).map_err(FormatError::Backup)?;
            for version in from..DATA_FORMAT {
                step(data_dir, version).map_err(io_err)?;
            }
            write_marker(data_dir, DATA_FORMAT).map_err(io_err)?;
            tracing::info!(from, to = DATA_FORMAT, "data directory upgraded");
            Ok(Prepared::Migrated { from, backup })
        }
    }
}

/// One migration step, from `version` to `version + 1`. Each step is idempotent.
fn step(data_dir: &Path, version: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match version {
        1 => {
            // Version 2: owner-only directories (the database holds patient data).
            for dir in [data_dir.to_owned(), data_dir.join("docs")] {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Creates `dir` (and its parents) with the directory itself owner-only.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes the marker atomically (temporary file, fsync, rename, fsync of the directory).
pub fn write_marker(data_dir: &Path, version: u32) -> io::Result<()> {
    let tmp = data_dir.join(".format.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{version}")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, data_dir.join(MARKER_FILE))?;
    std::fs::File::open(data_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
    }

    fn no_backup(_: &Path, _: u32) -> Result<PathBuf, String> {
        panic!("no backup expected")
    }

    #[test]
    fn a_new_directory_is_marked_current_and_private() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("data");
        assert_eq!(read(&dir).expect("reads"), None);
        assert_eq!(prepare(&dir, no_backup).expect("prepares"), Prepared::Fresh);
        assert_eq!(read(&dir).expect("reads"), Some(DATA_FORMAT));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(prepare(&dir, no_backup).expect("again"), Prepared::Current);
    }

    #[test]
    fn version_1_is_backed_up_then_migrated() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("data");
        std::fs::create_dir_all(dir.join("docs")).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(read(&dir).expect("reads"), Some(1));
        let mut backed_up = None;
        let done = prepare(&dir, |d, v| {
            // The backup sees the directory exactly as version 1 left it.
            assert_eq!(read(d).expect("reads"), Some(1));
            backed_up = Some(v);
            Ok(d.join("b"))
        })
        .expect("migrates");
        assert_eq!(backed_up, Some(1));
        assert_eq!(
            done,
            Prepared::Migrated {
                from: 1,
                backup: dir.join("b")
            }
        );
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("docs")), 0o700);
        assert_eq!(read(&dir).expect("reads"), Some(DATA_FORMAT));
    }

    #[test]
    fn a_failed_backup_changes_nothing() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("data");
        std::fs::create_dir_all(dir.join("docs")).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = prepare(&dir, |_, _| Err("disk full".into())).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(read(&dir).expect("reads"), Some(1));
        assert_eq!(mode(&dir), 0o755);
    }

    #[test]
    fn a_newer_directory_is_refused_untouched() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        std::fs::write(dir.join(MARKER_FILE), "3\n").expect("write");
        let err = prepare(dir, no_backup).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("newer version of Attach"), "{msg}");
        assert!(msg.contains("data format 3"), "{msg}");
        assert_eq!(
            std::fs::read_to_string(dir.join(MARKER_FILE)).expect("read"),
            "3\n"
        );
        assert!(!dir.join("docs").exists());
    }

    #[test]
    fn a_garbled_marker_is_named() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join(MARKER_FILE), "two").expect("write");
        let err = read(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("\"two\""), "{err}");
    }
}
