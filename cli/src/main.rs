//! `sftp-warden`: parse the command line, run the command, exit 0 (ok), 1 (findings) or 2 (usage
//! error or failure; clap exits 2 on a usage error itself).

use std::process::ExitCode;

use clap::Parser;
use sftp_warden_cli::args::Cli;
use sftp_warden_cli::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
