//! From a parsed command line to an exit code: logging, AWS clients, the chosen subcommand, and
//! the one place errors are printed.

use anyhow::Result;
use tracing_subscriber::EnvFilter;

use crate::aws::Clients;
use crate::cli::{Cli, ColorChoice, Command, GlobalArgs, OutputFormat};
use crate::config::DeployConfig;
use crate::deploy::Deploy;
use crate::events::{Event, Reporter};
use crate::exit_code::{ExitCode, exit_code_of};
use crate::signals::Signals;

/// Runs the command and prints its outcome; returns the exit code.
pub async fn run(cli: Cli) -> ExitCode {
    init_logging(&cli.global);
    let reporter = Reporter::new(cli.global.output);
    match dispatch(cli, &reporter).await {
        Ok(summary) => {
            if reporter.format() == OutputFormat::Text && !summary.is_empty() {
                println!("{summary}");
            }
            ExitCode::Success
        }
        Err(err) => {
            let code = exit_code_of(&err);
            let message = format!("{err:#}");
            eprintln!("error: {message}");
            reporter.emit(Event::Failed {
                message,
                exit_code: code,
            });
            code
        }
    }
}

async fn dispatch(cli: Cli, reporter: &Reporter) -> Result<String> {
    let args = match cli.command {
        Some(Command::Deploy(args)) => args,
        None => cli.deploy,
    };
    // Flag checks come first: a mistake costs no AWS call.
    let cfg = DeployConfig::from_args(&args)?;
    let signals = Signals::install()?;
    let clients = Clients::connect(&cli.global).await?;
    let outcome = Deploy {
        clients: &clients,
        cfg: &cfg,
        reporter,
        signals,
    }
    .run()
    .await?;
    Ok(outcome.to_string())
}

fn init_logging(global: &GlobalArgs) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "info,sfndeploy=debug,aws_smithy_runtime::client::orchestrator=debug",
        (false, _) => "debug,hyper=info,h2=info,rustls=info",
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let color = match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            use std::io::IsTerminal;
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::Uptime::default())
        .try_init();
}
