//! CLI glue: turns a parsed command line into calls on the app, and prints results. One
//! module per command group (as `cli.rs` groups them); `common` holds what they share and
//! uses none of them.

mod backup;
mod billing;
mod common;
mod enrol;
mod files;
mod hub;
mod man;
mod panel;
mod registry;
mod serve;
mod status;

use crate::cli::{
    Cli, Command, ExportCommand, ImportCommand, InspectCommand, NodeAction, PanelCommand,
    UserCommand,
};
use crate::process::init_logging;
use attach_app::config::Config;

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref(), std::env::vars())?;
    init_logging(config.log_format);
    let config = &mut config;
    match cli.command {
        Command::Demo(args) => serve::demo(config, args),
        Command::Node(args) => match args.action {
            Some(NodeAction::Enrol(enrol)) => enrol::enrol(config, enrol),
            None => serve::node(config, args.serve),
        },
        Command::Hub(args) => hub::hub(config, args),
        Command::Init(args) => registry::init(config, args),
        Command::User(UserCommand::ResetPassword(args)) => registry::reset_password(config, args),
        Command::Import(ImportCommand::Panel(args)) => files::import_panel(config, args),
        Command::Import(ImportCommand::Clinical(args)) => files::import_clinical(config, args),
        Command::Export(ExportCommand::Panel(args)) => files::export_panel(config, args),
        Command::Export(ExportCommand::Attachments(args)) => {
            billing::export_attachments(config, args)
        }
        Command::Panel(PanelCommand::Preferences(args)) => panel::preferences(config, args),
        Command::Panel(PanelCommand::Move(args)) => panel::move_patients(config, args),
        Command::Panel(PanelCommand::Review(args)) => panel::review(config, args),
        Command::Panel(PanelCommand::Bulk(args)) => panel::bulk(config, args),
        Command::Panel(PanelCommand::Msp(args)) => panel::msp(config, args),
        Command::Panel(PanelCommand::Profile(args)) => panel::profile(config, args),
        Command::Inspect(InspectCommand::Digest(args)) => backup::digest(config, args),
        Command::Backup(args) => backup::backup(config, args),
        Command::Restore(args) => backup::restore(config, args),
        Command::Status(args) => status::status(config, args),
        Command::Man(args) => man::write_man_pages(&args.dir),
    }
}
