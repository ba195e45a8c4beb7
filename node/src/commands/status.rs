//! `attach status`: whether the node or hub runs, data size, sync and certificates.

use super::common::set_dir;
use crate::cli::StatusArgs;
use crate::process::runtime;
use attach_app::config::Config;

pub(super) fn status(config: &mut Config, args: StatusArgs) -> anyhow::Result<()> {
    set_dir(config, args.data.data_dir.clone());
    let overview = runtime()?.block_on(attach_ops::status::overview(&config.data_dir))?;
    print!(
        "{}",
        attach_ops::status::report(
            &config.data_dir,
            overview.as_ref(),
            time::OffsetDateTime::now_utc()
        )
    );
    Ok(())
}
