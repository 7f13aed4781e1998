//! From a parsed command line to an exit code: logging, the run's renderers, the checked
//! configuration of the subcommand it names, AWS clients, and the one place errors are printed.

use anyhow::Result;
use clap::CommandFactory;
use tracing_subscriber::EnvFilter;

use crate::aws::Clients;
use crate::cli::{Cli, ColorChoice, GlobalArgs, OutputFormat};
use crate::config::Job;
use crate::deploy::Deploy;
use crate::env::{Env, env_bool, process_env};
use crate::exit_code::{ExitCode, exit_code_of};
use crate::release_file::ReleaseFile;
use crate::report::notify::Notifier;
use crate::report::{Event, Reporter, json, progress};
use crate::signals::Signals;
use crate::text::{clock, one_line};
use crate::{promote, rollback, status};

/// Runs the command and prints its outcome; returns the exit code.
pub async fn run(mut cli: Cli, release_file: Option<ReleaseFile>) -> ExitCode {
    // The release file's values for the variables read by hand lie under the process's own.
    let file = release_file.clone();
    let layered = move |name: &str| {
        process_env(name).filter(|v| !v.is_empty()).or_else(|| file.as_ref().and_then(|f| f.var(name)))
    };
    let env: Env = &layered;
    if let Err(e) = logging_from_env(&mut cli.global, env) {
        eprintln!("error: {}", one_line(&format!("{e:#}")));
        return ExitCode::Usage;
    }
    init_logging(&cli.global, env);
    let format = cli.global.output;
    let reporter = Reporter::for_run(format, cli.global.quiet, env);
    let (code, outcome) = match dispatch(&cli, release_file, &reporter, env).await {
        Ok(Done { stdout, outcome }) => {
            if let Some(text) = stdout.filter(|t| !t.is_empty()) {
                print_stdout(&format!("{text}\n"));
            }
            (ExitCode::Success, outcome)
        }
        Err(err) => {
            let code = exit_code_of(&err);
            let message = format!("{err:#}");
            reporter.emit(Event::Failed { message: message.clone(), exit_code: code });
            eprintln!("error: {}", one_line(&message));
            (code, message)
        }
    };
    reporter.end(code, &outcome);
    reporter.flush().await;
    code
}

/// What a subcommand that succeeded says.
#[derive(Default)]
struct Done {
    /// What goes to stdout: the outcome in text, the report of `status`...
    stdout: Option<String>,
    /// The outcome in one sentence, whatever the output format (the GitHub summary's).
    outcome: String,
}

impl Done {
    /// The outcome, on stdout too when the output is text.
    fn said(outcome: String, text: bool) -> Self {
        Done { stdout: text.then(|| outcome.clone()), outcome }
    }
}

/// Runs the subcommand; returns what it says.
async fn dispatch(
    cli: &Cli,
    release_file: Option<ReleaseFile>,
    reporter: &Reporter,
    env: Env<'_>,
) -> Result<Done> {
    let text = cli.global.output == OutputFormat::Text;
    // Flag checks come first: a mistake costs no AWS call.
    let argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    match Job::from_cli(cli, release_file, argv, env)? {
        Job::Completions(shell) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sfndeploy", &mut script);
            print_stdout(&String::from_utf8_lossy(&script));
            Ok(Done::default())
        }
        Job::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            print_stdout(&String::from_utf8_lossy(&page));
            Ok(Done::default())
        }
        Job::Status(cfg) => {
            let first = cfg.waves.first().and_then(|w| w.first());
            let clients = Clients::connect(&cli.global, cfg.state_machines.first(), first, env).await?;
            let reports = status::read_all(&clients, &cfg).await?;
            // One state machine: its report; a release: each member's (a JSON array).
            let shown = match (text, reports.as_slice()) {
                (true, _) => reports.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n\n"),
                (false, [one]) => json::status(one).to_string(),
                (false, all) => serde_json::Value::Array(all.iter().map(json::status).collect()).to_string(),
            };
            Ok(Done { stdout: Some(shown.clone()), outcome: shown })
        }
        Job::Rollback(cfg) => {
            reporter.target(&cfg.state_machines.iter().map(|s| s.as_str()).collect::<Vec<_>>());
            let first = cfg.waves.first().and_then(|w| w.first());
            let clients = Clients::connect(&cli.global, cfg.state_machines.first(), first, env).await?;
            let summary = rollback::run(&clients, &cfg, reporter).await?;
            Ok(Done::said(summary, text))
        }
        Job::Promote(cfg) => {
            reporter.target(&cfg.state_machines.iter().map(|s| s.as_str()).collect::<Vec<_>>());
            let first = cfg.waves.first().and_then(|w| w.first());
            let clients = Clients::connect(&cli.global, cfg.state_machines.first(), first, env).await?;
            let summary = promote::run(&clients, &cfg, reporter).await?;
            Ok(Done::said(summary, text))
        }
        Job::Deploy(cfg) => {
            reporter.target(&cfg.members.iter().map(|m| m.state_machine.as_str()).collect::<Vec<_>>());
            let signals = Signals::install()?;
            let first = cfg.waves.as_ref().and_then(|w| w.waves.first()).and_then(|w| w.first());
            let sm = cfg.members.first().map(|m| &m.state_machine);
            let clients = Clients::connect(&cli.global, sm, first, env).await?;
            if !cfg.notify.is_empty() {
                // Checked in a dry run too; only a real run sends.
                let notifier = Notifier::start(&clients.sdk, &cfg.notify).await?;
                if !cfg.dry_run {
                    reporter.notify(notifier);
                }
            }
            let outcome = Deploy { clients: &clients, cfg: &cfg, reporter, signals }.run().await?;
            Ok(Done::said(outcome.to_string(), text))
        }
    }
}

/// `-q`/`-v` from `SFNDEPLOY_QUIET`/`SFNDEPLOY_VERBOSE` when neither is on the command line.
pub fn logging_from_env(global: &mut GlobalArgs, env: Env) -> Result<()> {
    if global.quiet || global.verbose > 0 {
        return Ok(());
    }
    global.quiet = env_bool(env, "SFNDEPLOY_QUIET")?.unwrap_or(false);
    if !global.quiet
        && let Some(v) = env("SFNDEPLOY_VERBOSE")
    {
        global.verbose = match v.trim().parse::<u8>() {
            Ok(n @ 0..=3) => n,
            _ => u8::from(env_bool(env, "SFNDEPLOY_VERBOSE")?.unwrap_or(false)),
        };
    }
    Ok(())
}

/// Writes to stdout; a reader that has gone (`| head -c1`) ends the output quietly.
fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn init_logging(global: &GlobalArgs, env: Env) {
    // Ours only by default: the SDK's warnings (a region not found in IMDS, a credentials
    // provider that failed) dump its internals, and each is said again, in one sentence, by the
    // error that follows. -v: our own detail (every alarm poll) and the SDK's warnings; -vv: the
    // SDK's detail too, but never the resolved identity (it names the access key): aws_config
    // stays at warn at every level, as at info it logs the credentials it loaded.
    let default = match (global.quiet, global.verbose) {
        (true, _) => "off,sfndeploy=warn",
        (false, 0) => "off,sfndeploy=info",
        (false, 1) => "warn,sfndeploy=debug",
        (false, _) => {
            "debug,aws_config=warn,aws_smithy_runtime::client::orchestrator::endpoints=info,hyper=info,\
             hyper_util=info,h2=info,rustls=info"
        }
    };
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let color = match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            use std::io::IsTerminal;
            env("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::LogWriter)
        .with_ansi(color)
        .with_target(false)
        .with_timer(LogTime::new(std::io::IsTerminal::is_terminal(&std::io::stderr())))
        .try_init();
}

/// Log line times people read at a glance: on a terminal the time since start as `mm:ss`
/// (`h:mm:ss` past an hour); elsewhere (CI logs, files) RFC 3339 in UTC with milliseconds.
struct LogTime {
    terminal: bool,
    start: std::time::Instant,
}

impl LogTime {
    fn new(terminal: bool) -> Self {
        LogTime { terminal, start: std::time::Instant::now() }
    }
}

impl tracing_subscriber::fmt::time::FormatTime for LogTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        if self.terminal {
            w.write_str(&clock(self.start.elapsed()))
        } else {
            write!(w, "{}", humantime::format_rfc3339_millis(std::time::SystemTime::now()))
        }
    }
}
