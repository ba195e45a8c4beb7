//! `attach`: see `attach --help`.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: a bulk import allocates and frees millions of small
/// Automerge buffers, where it measured markedly faster, and it hands freed memory back to
/// the system instead of keeping it for the life of the node.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
