//! `attach`: see `attach --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = attach::cli::Cli::parse();
    match attach::commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("attach: {err:#}");
            ExitCode::FAILURE
        }
    }
}
