//! `attach man DIR` (hidden): the manual pages the Debian package is built with.

use std::path::Path;

use anyhow::Context;

use crate::cli::Cli;

/// Renders `attach.1` and `attach-<command>.1` for every visible command from the CLI
/// definition itself, so the manual cannot drift from `--help`.
pub(super) fn write_man_pages(dir: &Path) -> anyhow::Result<()> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let top = Cli::command().name("attach");
    let mut pages = vec![("attach".to_owned(), top.clone())];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("attach-{}", sub.get_name());
        pages.push((
            name.clone(),
            sub.clone()
                .display_name(name.clone())
                .bin_name(format!("attach {}", sub.get_name())),
        ));
    }
    for (name, cmd) in pages {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
