//! The binary: parses the command line, runs [`sfndeploy::app::run`] on a one-thread runtime, exits with its code.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    let (cli, release_file) = sfndeploy::release_file::parse_process();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return sfndeploy::exit_code::ExitCode::Failure.into();
        }
    };
    runtime.block_on(sfndeploy::app::run(cli, release_file)).into()
}
