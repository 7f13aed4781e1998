//! The command line as clap parses it. Nothing here acts; `config.rs` turns it into a checked plan.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

const DEPLOY_ABOUT: &str =
    "Deploy a new state machine version gradually, watching CloudWatch alarms and rolling back if one fires.";

/// Gradually deploy AWS Step Functions state machines.
#[derive(Debug, Parser)]
#[command(
    name = "sfndeploy",
    version,
    about = "Gradually deploy AWS Step Functions state machines.",
    long_about = None,
    infer_long_args = true,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Without a subcommand, sfndeploy deploys: `sfndeploy --state-machine orders --alias prod --strategy canary`.",
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub deploy: DeployArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(about = DEPLOY_ABOUT)]
    Deploy(Box<DeployArgs>),
    /// Show the alias routing, the newest versions and the alarms' states
    Status(StatusArgs),
    /// Point the alias 100% at a chosen version, or the one before the current
    Rollback(RollbackArgs),
    /// Print shell completions: sfndeploy completions bash > /etc/bash_completion.d/sfndeploy
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): sfndeploy man > sfndeploy.1
    Man,
}

/// Which state machine and alias.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Name or ARN of the state machine
    #[arg(long, required = true, env = "SFNDEPLOY_STATE_MACHINE", value_name = "NAME|ARN")]
    pub state_machine: Option<String>,

    /// Name of the alias (deploy creates it at 100% on the new version if missing)
    #[arg(long, required = true, env = "SFNDEPLOY_ALIAS", value_name = "NAME")]
    pub alias: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// CloudWatch alarms whose state to show [env: SFNDEPLOY_ALARMS, comma-separated]
    #[arg(long, num_args = 0.., value_name = "NAME")]
    pub alarms: Vec<String>,

    /// How many of the newest versions to show
    #[arg(long, default_value_t = 10, value_name = "N", env = "SFNDEPLOY_VERSIONS")]
    pub versions: usize,
}

#[derive(Debug, Args, Clone)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Version to route all traffic to: a number (7) or a version ARN [default: the newest
    /// version older than the one the alias serves; for a split alias, the older of its two]
    #[arg(long, env = "SFNDEPLOY_TO_VERSION", value_name = "N|ARN")]
    pub to_version: Option<String>,

    /// Check and print what would change, without changing it [env: SFNDEPLOY_DRY_RUN]
    #[arg(long)]
    pub dry_run: bool,
}

/// Where and how to reach AWS, and how to report. Every subcommand takes these.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// AWS region, e.g. us-east-1 [default: from AWS_REGION or the AWS profile]
    #[arg(long, global = true, env = "SFNDEPLOY_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// Named AWS profile to use [default: from AWS_PROFILE, else `default`]
    #[arg(long, global = true, env = "SFNDEPLOY_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// Send AWS requests to this endpoint instead (e.g. an emulator) [default: from AWS_ENDPOINT_URL]
    #[arg(long, global = true, env = "SFNDEPLOY_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Attempts per AWS call, first try included; throttling, 5xx and timeouts are retried
    #[arg(long, global = true, env = "SFNDEPLOY_MAX_ATTEMPTS", value_name = "N",
          default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,

    /// Time limit for one attempt of an AWS call (e.g. 10s)
    #[arg(long, global = true, env = "SFNDEPLOY_CALL_TIMEOUT", value_name = "DURATION",
          default_value = "20s", value_parser = parse_positive_duration)]
    pub call_timeout: Duration,

    /// Output format for stdout: a summary (text), or one JSON event per line (json)
    #[arg(long, global = true, env = "SFNDEPLOY_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Only print warnings and errors on stderr [env: SFNDEPLOY_QUIET]
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more on stderr (-v: AWS calls, -vv: SDK details) [env: SFNDEPLOY_VERBOSE=1|2]
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// When to colour stderr [default: auto, off when NO_COLOR is set or not a terminal]
    #[arg(long, global = true, env = "SFNDEPLOY_COLOR", value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// What to deploy and how: the flags of `sfndeploy.py`, plus a few.
#[derive(Debug, Args, Clone)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// allatonce, canary or linear (any case; CANARY, LINEAR, ALL_AT_ONCE too), or a predefined
    /// config: Canary10Percent5Minutes, Canary10Percent10Minutes, Canary10Percent15Minutes,
    /// Canary10Percent30Minutes, Linear10PercentEvery1Minute, Linear10PercentEvery2Minutes,
    /// Linear10PercentEvery3Minutes, Linear10PercentEvery10Minutes, AllAtOnce
    /// [default: allatonce]
    #[arg(long, env = "SFNDEPLOY_STRATEGY", value_name = "STRATEGY", value_parser = parse_strategy)]
    pub strategy: Option<StrategyChoice>,

    /// CloudWatch alarms (metric or composite) to watch during the deploy; names may contain spaces
    /// [env: SFNDEPLOY_ALARMS, comma-separated]
    #[arg(long, num_args = 0.., value_name = "NAME")]
    pub alarms: Vec<String>,

    /// Before any traffic moves, run the new version once with this input (a JSON file; a
    /// directory means each *.json in it) and require SUCCEEDED; repeatable
    #[arg(long, value_name = "PATH")]
    pub smoke_input: Vec<PathBuf>,

    /// How long each smoke execution may take [default: 5m]
    #[arg(long, env = "SFNDEPLOY_SMOKE_TIMEOUT", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub smoke_timeout: Option<Duration>,

    /// State machine definition file to upload as the new revision
    #[arg(long, env = "SFNDEPLOY_FILE", value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Publish the current revision (or --file) as a new version and deploy it [default: deploy
    /// the latest published version] [env: SFNDEPLOY_PUBLISH_REVISION]
    #[arg(long, overrides_with = "no_publish_revision")]
    pub publish_revision: bool,

    /// Deploy the latest published version (the default)
    #[arg(long, overrides_with = "publish_revision")]
    pub no_publish_revision: bool,

    /// Percent of traffic to add per step (canary: the canary's share), 1 to 100 [default: 5]
    #[arg(long, env = "SFNDEPLOY_INCREMENT", value_name = "PERCENT",
          allow_negative_numbers = true, value_parser = parse_increment)]
    pub increment: Option<u8>,

    /// Hold after each weight change while alarms are watched: 90, 90s, 5m, 1h [default: 120s]
    #[arg(long, env = "SFNDEPLOY_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// Monitored hold once the new version has 100%, before success is declared [default: none
    /// for canary (it holds once, as sfndeploy.py does); one --interval for the others]
    #[arg(long, env = "SFNDEPLOY_BAKE", value_name = "DURATION", value_parser = parse_duration)]
    pub bake: Option<Duration>,

    /// How often to read the health signals (alarms and gates) during a hold: 60, 30s, 1m
    #[arg(long, env = "SFNDEPLOY_ALARM_POLLING", value_name = "DURATION", default_value = "60",
          value_parser = parse_positive_duration)]
    pub alarm_polling: Duration,

    /// Versions to keep after a successful deploy: 0 keeps all, else at least 2 (max 1000);
    /// versions an alias uses are never deleted
    #[arg(long, env = "SFNDEPLOY_HISTORY_MAX", value_name = "N", default_value = "0",
          allow_negative_numbers = true, value_parser = parse_history_max)]
    pub history_max: u16,

    /// Deletions per second once the first 50 are done, so pruning stays inside Step Functions'
    /// API rate (a bucket of 100 refilled at 1 per second, shared by the account)
    #[arg(long, env = "SFNDEPLOY_PRUNE_RATE", value_name = "PER_SECOND", default_value_t = 1.0,
          value_parser = parse_rate)]
    pub prune_rate: f64,

    /// Deploy even if the alias is split between two versions (e.g. after a failed deploy); the
    /// version with the larger weight is taken as the old one [env: SFNDEPLOY_FORCE]
    #[arg(long, overrides_with = "no_force")]
    pub force: bool,

    /// Refuse to deploy from a split alias (the default)
    #[arg(long, overrides_with = "force")]
    pub no_force: bool,

    /// Custom weights for the new version, e.g. 5,25,50,100, each followed by a hold of --interval
    #[arg(long, env = "SFNDEPLOY_STEPS", value_name = "W,W,...", value_delimiter = ',',
          value_parser = parse_weight, conflicts_with = "increment")]
    pub steps: Option<Vec<u8>>,

    /// Description of the version published by --publish-revision
    #[arg(long, env = "SFNDEPLOY_VERSION_DESCRIPTION", value_name = "TEXT")]
    pub version_description: Option<String>,

    /// Validate and print the plan without changing anything [env: SFNDEPLOY_DRY_RUN]
    #[arg(long)]
    pub dry_run: bool,

    /// Continue a deploy of the same version that stopped halfway (killed, or paused by
    /// --pause-at): from the alias's current weight, never back, with this command line's
    /// strategy and alarms, starting with a check of the alarms. On an alias already fully on
    /// the version: nothing to do [env: SFNDEPLOY_RESUME]
    #[arg(long)]
    pub resume: bool,

    /// A manual gate: stop after the (monitored) hold of the step that reaches PERCENT, leaving
    /// the alias split, exit 0; continue later with --resume, or roll back
    #[arg(long, env = "SFNDEPLOY_PAUSE_AT", value_name = "PERCENT", allow_negative_numbers = true,
          value_parser = parse_pause_at)]
    pub pause_at: Option<u8>,

    /// Health gate: roll back when, with --confidence, more than PERCENT of the new version's
    /// executions through the alias since the deploy began end FAILED, TIMED_OUT or ABORTED
    #[arg(long, env = "SFNDEPLOY_MAX_FAILURE_RATE", value_name = "PERCENT", value_parser = parse_percent)]
    pub max_failure_rate: Option<f64>,

    /// Health gate: roll back when, with --confidence, the new version's failure rate exceeds
    /// the old version's over the same time by more than POINTS (a dependency failing both is
    /// not the new version's fault)
    #[arg(long, env = "SFNDEPLOY_MAX_FAILURE_RATE_INCREASE", value_name = "POINTS", value_parser = parse_percent)]
    pub max_failure_rate_increase: Option<f64>,

    /// Health gate: roll back when, with --confidence, most of the new version's executions
    /// through the alias take longer than the old version's median plus PERCENT
    #[arg(long, env = "SFNDEPLOY_MAX_DURATION_INCREASE", value_name = "PERCENT", value_parser = parse_increase)]
    pub max_duration_increase: Option<f64>,

    /// How sure a health gate must be before it rolls back, in percent: an equally good version
    /// is rolled back by chance in at most (100 - PERCENT)% of deploys, however often the gates
    /// are read
    #[arg(long, env = "SFNDEPLOY_CONFIDENCE", value_name = "PERCENT", default_value = "95",
          value_parser = parse_confidence)]
    pub confidence: f64,

    /// Health gate: weight increases, and success, need at least N finished executions of the
    /// new version through the alias; with fewer, a hold waits up to --max-extension longer,
    /// then the deploy rolls back as inconclusive [default: 1 with a failure-rate gate, as no
    /// finished execution is no evidence; else 0]
    #[arg(long, env = "SFNDEPLOY_MIN_EXECUTIONS", value_name = "N", value_parser = clap::value_parser!(u32))]
    pub min_executions: Option<u32>,

    /// How much longer a hold may wait for --min-executions [default: one --interval, or longer
    /// while the new version's executions still run: the old version's p95 duration and a poll]
    #[arg(long, env = "SFNDEPLOY_MAX_EXTENSION", value_name = "DURATION", value_parser = parse_duration)]
    pub max_extension: Option<Duration>,

    /// Roll back if a health signal gets no answer for this long [default: 3 x --alarm-polling];
    /// throttled reads slow the polling instead, and count only once a signal has been
    /// throttled for 5 x this (at least 1 minute)
    #[arg(long, env = "SFNDEPLOY_MAX_UNMONITORED", value_name = "DURATION",
          value_parser = parse_positive_duration)]
    pub max_unmonitored: Option<Duration>,

    /// How long to keep retrying a failing rollback before giving up and printing the restore command
    #[arg(long, env = "SFNDEPLOY_ROLLBACK_TIMEOUT", value_name = "DURATION", default_value = "5m",
          value_parser = parse_positive_duration)]
    pub rollback_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// A strategy as named on the command line; presets fix increment and interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyChoice {
    AllAtOnce,
    Canary,
    Linear,
    Preset { name: &'static str, kind: PresetKind, increment: u8, interval: Duration },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresetKind {
    Canary,
    Linear,
}

const PRESETS: [(&str, PresetKind, u64); 8] = [
    ("Canary10Percent5Minutes", PresetKind::Canary, 5),
    ("Canary10Percent10Minutes", PresetKind::Canary, 10),
    ("Canary10Percent15Minutes", PresetKind::Canary, 15),
    ("Canary10Percent30Minutes", PresetKind::Canary, 30),
    ("Linear10PercentEvery1Minute", PresetKind::Linear, 1),
    ("Linear10PercentEvery2Minutes", PresetKind::Linear, 2),
    ("Linear10PercentEvery3Minutes", PresetKind::Linear, 3),
    ("Linear10PercentEvery10Minutes", PresetKind::Linear, 10),
];

fn parse_strategy(s: &str) -> Result<StrategyChoice, String> {
    let folded: String =
        s.chars().filter(|c| !matches!(c, '_' | '-' | ' ')).collect::<String>().to_ascii_lowercase();
    match folded.as_str() {
        "allatonce" | "bluegreen" => return Ok(StrategyChoice::AllAtOnce),
        "canary" => return Ok(StrategyChoice::Canary),
        "linear" => return Ok(StrategyChoice::Linear),
        _ => {}
    }
    PRESETS
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(&folded))
        .map(|&(name, kind, minutes)| StrategyChoice::Preset {
            name,
            kind,
            increment: 10,
            interval: Duration::from_secs(minutes * 60),
        })
        .ok_or_else(|| {
            "expected allatonce, canary, linear, or a predefined config such as \
             Canary10Percent5Minutes or Linear10PercentEvery1Minute"
                .to_string()
        })
}

fn parse_increment(s: &str) -> Result<u8, String> {
    match s.trim().parse::<i64>() {
        Ok(n @ 1..=100) => Ok(n as u8),
        _ => Err("the increment must be a whole number of percent from 1 to 100".into()),
    }
}

fn parse_pause_at(s: &str) -> Result<u8, String> {
    match s.trim().parse::<i64>() {
        Ok(n @ 1..=99) => Ok(n as u8),
        _ => Err("pause at a whole number of percent from 1 to 99 (at 100 the deploy is done)".into()),
    }
}

fn parse_weight(s: &str) -> Result<u8, String> {
    match s.trim().parse::<i64>() {
        Ok(n @ 1..=100) => Ok(n as u8),
        _ => Err("each weight must be a whole number of percent from 1 to 100".into()),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 100.0 => Ok(r),
        _ => Err("use a number of deletions per second above 0 and at most 100, e.g. 1 or 0.5".into()),
    }
}

fn parse_history_max(s: &str) -> Result<u16, String> {
    match s.trim().parse::<i64>() {
        Ok(0) => Ok(0),
        Ok(1) => Err("1 would keep no version to roll back to: use 0 (keep all) or at least 2".into()),
        Ok(n @ 2..=1000) => Ok(n as u16),
        _ => Err("use 0 (keep all versions) or a number from 2 to 1000".into()),
    }
}

/// The longest duration any flag takes. Holds, polling and timeouts are added to clock readings
/// and multiplied by up to 100 steps: bounding each keeps every sum far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A bare number is seconds (as in the script); otherwise a duration with units: 500ms, 30s, 5m, 1h30m.
/// At most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let too_long = || format!("'{s}' is too long: at most 30 days (30d)");
    let d = if let Ok(secs) = s.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = s.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return Err("a duration must be a number of seconds of 0 or more".into());
        }
        Duration::try_from_secs_f64(secs).map_err(|_| too_long())?
    } else {
        humantime::parse_duration(s).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(),
            _ => format!("'{s}' is not a duration: use seconds (90) or units (90s, 5m, 1h)"),
        })?
    };
    if d > MAX_DURATION {
        return Err(too_long());
    }
    Ok(d)
}

/// 0 to 100, fractions allowed: `5`, `0.5`.
fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("'{s}' is not a percentage from 0 to 100")),
    }
}

/// Above 0, with fractions: `50`, `12.5`.
fn parse_increase(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if p.is_finite() && p > 0.0 && p <= 10_000.0 => Ok(p),
        _ => Err(format!("'{s}' is not a percentage above 0 (at most 10000)")),
    }
}

/// 50 to 99.9: how sure a gate must be.
fn parse_confidence(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if (50.0..=99.9).contains(&p) => Ok(p),
        _ => Err(format!("'{s}' is not a confidence from 50 to 99.9 percent")),
    }
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be longer than zero".into()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn verbose_counts() {
        let cli = Cli::try_parse_from(["sfndeploy", "--state-machine", "a", "--alias", "b", "-vv"]).unwrap();
        assert_eq!(cli.global.verbose, 2);
    }

    #[test]
    fn completions_and_man_page_render() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sfndeploy", &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("--alarm-polling") && text.contains("rollback"), "{shell}");
        }
        let mut man = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(
            man.starts_with(".ie") && man.contains("sfndeploy") && man.contains("history\\-max"),
            "{}",
            &man[..200]
        );
    }

    #[test]
    fn durations() {
        let ok: &[(&str, u64)] = &[
            ("120", 120_000),
            ("0", 0),
            ("90s", 90_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("1.5", 1_500),
        ];
        for &(text, ms) in ok {
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        for bad in
            ["", "-1", "abc", "5 parsecs", "1e20", "1e300", "inf", "NaN", "99999999999999999999", "31d"]
        {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(parse_duration("30d"), Ok(MAX_DURATION));
        assert!(parse_positive_duration("0").is_err());
    }

    #[test]
    fn strategies_any_case_and_presets() {
        for (text, expected) in [
            ("allatonce", StrategyChoice::AllAtOnce),
            ("ALLATONCE", StrategyChoice::AllAtOnce),
            ("ALL_AT_ONCE", StrategyChoice::AllAtOnce),
            ("AllAtOnce", StrategyChoice::AllAtOnce),
            ("Canary", StrategyChoice::Canary),
            ("CANARY", StrategyChoice::Canary),
            ("linear", StrategyChoice::Linear),
        ] {
            assert_eq!(parse_strategy(text), Ok(expected), "{text}");
        }
        let Ok(StrategyChoice::Preset { kind, increment, interval, .. }) =
            parse_strategy("Linear10PercentEvery3Minutes")
        else {
            panic!("preset not parsed");
        };
        assert_eq!((kind, increment, interval), (PresetKind::Linear, 10, Duration::from_secs(180)));
        assert!(parse_strategy("bluegreenish").is_err());
    }

    #[test]
    fn numeric_ranges() {
        for bad in ["0", "-1", "101", "500", "x"] {
            assert!(parse_increment(bad).is_err(), "increment {bad} accepted");
        }
        assert_eq!(parse_increment("100"), Ok(100));
        assert_eq!(parse_history_max("0"), Ok(0));
        assert_eq!(parse_history_max("2"), Ok(2));
        for bad in ["1", "-3", "1001"] {
            assert!(parse_history_max(bad).is_err(), "history-max {bad} accepted");
        }
    }
}
