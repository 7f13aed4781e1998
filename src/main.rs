//! The binary: parses the command line, runs [`sfndeploy::app::run`] on a one-thread runtime, exits with its code.
#![forbid(unsafe_code)]

use sfndeploy::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_process();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return sfndeploy::exit_code::ExitCode::Failure.into();
        }
    };
    runtime.block_on(sfndeploy::app::run(cli)).into()
}
