//! The `distributor` binary: parse arguments, set up logging, run, exit.
//! Everything else lives in the library (`distributor::app`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use distributor::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let distributor::cli::Command::Serve(args) = &cli.command {
        // The daemon sets up logging from its config, and uses two worker
        // threads so HTTP answers while a cycle runs.
        return ExitCode::from(distributor::app::serve(args, &cli.global));
    }
    distributor::app::init_logging(&cli.global);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(distributor::app::exit::ERROR);
        }
    };
    ExitCode::from(runtime.block_on(distributor::app::run(cli)))
}
