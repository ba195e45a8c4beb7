//! Opening sled's database in a data directory, after clearing what a crash can leave behind
//! that sled 0.34 cannot open.
//!
//! sled writes a snapshot of its page table to `snap.<lsn>.generating`, fsyncs it, then renames
//! it to `snap.<lsn>`, and removes the older snapshot only after the rename. At open, though, it
//! reads the highest-sorting file whose name starts with `snap.`, `.generating` files included.
//! A process killed while a snapshot was being written therefore leaves a data directory that
//! sled refuses to open ("Read corrupted data at file offset None"), although every write is
//! still there: the previous snapshot and the log after it are intact. Removing the unfinished
//! file gives exactly the directory of a process killed a moment earlier, before it started the
//! snapshot, which sled recovers from. It is only removed while no process holds the directory
//! (sled's own lock on the `db` file is taken for the duration), so a running node's snapshot in
//! progress is never touched.

use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;

use tracing::warn;

use crate::StoreError;
use crate::durability::fsync_dir;

/// The suffix of a snapshot file sled has not finished writing.
const UNFINISHED: &str = ".generating";

/// Opens the sled database in `path` with `config` (its path is set here).
pub(crate) fn open_db(path: &Path, config: sled::Config) -> Result<sled::Db, StoreError> {
    clear_unfinished_snapshots(path)?;
    Ok(config.path(path).open()?)
}

/// Removes `snap.*.generating` files from `path` if no process has the directory open.
/// Returns how many were removed.
pub(crate) fn clear_unfinished_snapshots(path: &Path) -> io::Result<usize> {
    let db = match File::options().read(true).write(true).open(path.join("db")) {
        Ok(db) => db,
        // No database yet, so no snapshot either.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    match db.try_lock() {
        Ok(()) => {}
        // A running process has it; sled's own open reports that.
        Err(TryLockError::WouldBlock) => return Ok(0),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    let mut removed = 0;
    for entry in std::fs::read_dir(path)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("snap.") && name.ends_with(UNFINISHED) {
            std::fs::remove_file(path.join(name))?;
            warn!(
                file = name,
                "removed a snapshot the storage engine had not finished writing when the process stopped"
            );
            removed += 1;
        }
    }
    if removed > 0 {
        fsync_dir(path)?;
    }
    // Dropping `db` releases the lock.
    Ok(removed)
}
