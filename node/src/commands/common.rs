//! Helpers every command group uses: opening a data directory, choosing it, telling what
//! was refused, and handing files to the service's user. It uses no command group.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use attach_app::config::Config;
use attach_app::{App, SystemClock};

/// Each problem of a refused command on its own line; `item` names what a problem's row
/// counts (a file's rows, the entries given).
pub(super) fn print_problems(problems: &[attach_app::Problem], item: &str) {
    for p in problems {
        match p.row {
            Some(row) => eprintln!("  {item} {row}, {}: {}", p.field, p.message),
            None => eprintln!("  {}: {}", p.field, p.message),
        }
    }
}

pub(super) fn set_dir(config: &mut Config, dir: Option<PathBuf>) {
    if let Some(dir) = dir {
        config.data_dir = dir;
    }
}

pub(super) fn open(config: &Config) -> anyhow::Result<App> {
    if let attach_store::format::Prepared::Migrated { from, backup } =
        attach_ops::prepare_data_dir(&config.data_dir)?
    {
        eprintln!(
            "Upgraded the data directory {} from data format {from} to {}; a backup of it as it was is in {}.",
            config.data_dir.display(),
            attach_store::format::DATA_FORMAT,
            backup.display()
        );
    }
    // `AppError::Internal` shows clients only "internal error"; an operator needs the cause.
    App::open(config, Arc::new(SystemClock))
        .map_err(|e| anyhow::anyhow!(e.log_cause()))
        .with_context(|| {
            format!(
                "opening the data directory {} (is another attach process using it?)",
                config.data_dir.display()
            )
        })
}

/// The exact command that starts the node on this data directory: the packaged service
/// when the directory is the package's, else `attach node`.
pub(super) fn start_hint(config: &Config) -> String {
    let packaged = [
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/etc/systemd/system",
    ]
    .iter()
    .any(|d| Path::new(d).join("attach-node.service").exists());
    if packaged && config.data_dir == Path::new(attach_app::config::DEFAULT_NODE_DIR) {
        "start the node with `sudo systemctl enable --now attach-node`, then sign in at \
         http://<this PC's address>:8080/ (`attach status` shows whether it runs)."
            .to_owned()
    } else {
        format!(
            "start the node with `attach node --data-dir {}` and sign in.",
            config.data_dir.display()
        )
    }
}

/// Run as root on a directory of the package (whose parent belongs to the service's user),
/// an offline command would leave files the service cannot open: hand them to that user.
pub(super) fn give_to_service_user(data_dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some(parent) = data_dir.parent() else {
        return Ok(());
    };
    let (Ok(me), Ok(owner)) = (std::fs::metadata("/proc/self"), std::fs::metadata(parent)) else {
        return Ok(());
    };
    if me.uid() != 0 || owner.uid() == 0 {
        return Ok(());
    }
    chown_tree(data_dir, owner.uid(), owner.gid())
        .with_context(|| format!("handing {} to its service user", data_dir.display()))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Prints each clinic's document count and heads digest (`attach inspect digest`, and
/// after `attach restore`).
pub(super) fn print_digests(
    app: &App,
    clinics: Vec<attach_domain::ClinicId>,
) -> anyhow::Result<()> {
    for clinic in clinics {
        let (docs, digest) = app.scope_digest(clinic)?;
        println!("clinic {clinic}: {docs} documents, digest {digest}");
    }
    Ok(())
}

/// Writes a command's file to `out`, or to standard output when there is none.
pub(super) fn write_out(out: Option<&std::path::Path>, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    match out {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(bytes)?;
            Ok(())
        }
    }
}
