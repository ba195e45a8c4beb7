//! `attach node enrol`: enrol a stopped node with the hub (the running node's Sync page
//! does the same).

use anyhow::Context;

use super::common::{give_to_service_user, open, set_dir, start_hint};
use crate::cli::EnrolArgs;
use crate::process::runtime;
use attach_app::config::Config;

pub(super) fn enrol(config: &mut Config, args: EnrolArgs) -> anyhow::Result<()> {
    set_dir(config, args.data.data_dir.clone());
    enrol_offline(config, &args.hub, &args.code)
}

/// Enrols a stopped node with the hub (the running node's Sync page does the same).
fn enrol_offline(config: &Config, hub: &str, code: &str) -> anyhow::Result<()> {
    let app = open(config)?;
    let node = uuid::Uuid::from_bytes(app.doc_store().node_id().0);
    let clinic = app.clinic_ids().first().map(|c| c.as_uuid());
    drop(app);
    let files = attach_replication::NodeFiles::new(&config.data_dir);
    let enrolled = runtime()?
        .block_on(attach_replication::node::enrol(
            &files, hub, code, node, clinic,
        ))
        .context("enrolling with the hub")?;
    println!(
        "Enrolled with the hub at {} for clinic {} (this node: {}).",
        enrolled.hub, enrolled.clinic, enrolled.node
    );
    if clinic.is_none() {
        println!(
            "This node holds no clinic yet: it restores the clinic from the hub when it starts."
        );
    }
    give_to_service_user(&config.data_dir)?;
    println!("Next: {}", start_hint(config));
    Ok(())
}
