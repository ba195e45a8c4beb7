//! `attach export attachments`: the clinic's attachment records of a period, for billing.

use anyhow::{Context, bail};

use super::common::{open, set_dir};
use crate::cli::ExportAttachmentsArgs;
use crate::output::write_attachments;
use attach_app::config::Config;

pub(super) fn export_attachments(
    config: &mut Config,
    args: ExportAttachmentsArgs,
) -> anyhow::Result<()> {
    set_dir(config, args.data.data_dir.clone());
    let app = open(config)?;
    let clinic = match args.clinic.as_deref() {
        Some(raw) => attach_domain::ClinicId(
            raw.trim()
                .parse()
                .with_context(|| format!("--clinic {raw:?} is not a clinic id"))?,
        ),
        None => match app.clinic_ids().as_slice() {
            [one] => *one,
            [] => bail!("this data directory holds no clinic"),
            _ => bail!("this data directory holds several clinics; pass --clinic"),
        },
    };
    let export = app.attachment_records(
        attach_app::BillingScope::Node { clinic },
        &args.period.from,
        &args.period.to,
    )?;
    write_attachments(&export, args.period.out.as_deref())
}
