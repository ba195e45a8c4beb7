//! Files the commands write for people.

use std::path::Path;

use anyhow::Context;

/// Writes the billing file (to `out`, or standard output) and tells, on standard error, how
/// many records it holds and which providers still need a practitioner number.
pub fn write_attachments(
    export: &attach_app::AttachmentExport,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let bytes = export.to_csv();
    match out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        }
    }
    eprintln!(
        "{} attachment record(s) from {} to {}.",
        export.records.len(),
        export.from,
        export.to
    );
    for w in export.warnings() {
        eprintln!("Warning: {w}.");
    }
    Ok(())
}
