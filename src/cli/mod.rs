//! The command line as clap parses it. Nothing here acts; `config.rs` turns it into a checked plan.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

mod values;
mod waves;

use values::*;
pub use values::{MAX_DURATION, PresetKind, StepSpec, StrategyChoice, parse_duration};
pub use waves::{OnWaveFailure, WaveArgs, WaveTargets};

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

impl Cli {
    /// Parses `args`, ignoring the variables `empty` says are set to nothing; `prepare` may change
    /// the command first (the release file's defaults: see `release_file`).
    pub fn parse_with(
        args: impl IntoIterator<Item = std::ffi::OsString>,
        empty: &dyn Fn(&std::ffi::OsStr) -> bool,
        prepare: &mut Prepare<'_>,
    ) -> Result<Cli, clap::Error> {
        fn unset_empty(cmd: clap::Command, empty: &dyn Fn(&std::ffi::OsStr) -> bool) -> clap::Command {
            let cmd = cmd.mut_args(|arg| match arg.get_env() {
                Some(name) if empty(name) => arg.env(None),
                _ => arg,
            });
            let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
            names.iter().fold(cmd, |cmd, name| cmd.mut_subcommand(name, |sub| unset_empty(sub, empty)))
        }
        let args: Vec<std::ffi::OsString> = args.into_iter().collect();
        let cmd = prepare(&args, unset_empty(<Cli as clap::CommandFactory>::command(), empty))?;
        let mut matches = cmd.try_get_matches_from(args)?;
        <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches)
    }
}

/// What may change the command before it parses: the arguments, and the command.
pub type Prepare<'a> =
    dyn FnMut(&[std::ffi::OsString], clap::Command) -> Result<clap::Command, clap::Error> + 'a;

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(about = DEPLOY_ABOUT)]
    Deploy(Box<DeployArgs>),
    /// Show the alias routing, the newest versions and the alarms' states
    Status(StatusArgs),
    /// Point the alias 100% at a chosen version, or the one before the current
    Rollback(RollbackArgs),
    /// Finish a deploy now: a split alias sfndeploy split (paused, or a deploy in progress)
    /// goes 100% to its new version, after one read of --alarms
    Promote(PromoteArgs),
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
    /// Name or ARN of the state machine; repeat it to release several as one, in lockstep, with
    /// one rollback (at most 20) [env: SFNDEPLOY_STATE_MACHINE, comma-separated]
    #[arg(
        long,
        required = true,
        env = "SFNDEPLOY_STATE_MACHINE",
        value_name = "NAME|ARN",
        value_delimiter = ',',
        hide_env = true
    )]
    pub state_machine: Vec<String>,

    /// Name of the alias (deploy creates it at 100% on the new version if missing)
    #[arg(long, required = true, env = "SFNDEPLOY_ALIAS", value_name = "NAME")]
    pub alias: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub waves: WaveTargets,

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

    #[command(flatten)]
    pub waves: WaveTargets,

    /// Version to route all traffic to: a number (7) or a version ARN [default: the version live
    /// before the one the alias serves, as sfndeploy recorded it; for a split alias, the older of
    /// its two]
    #[arg(long, env = "SFNDEPLOY_TO_VERSION", value_name = "N|ARN")]
    pub to_version: Option<String>,

    /// Check and print what would change, without changing it [env: SFNDEPLOY_DRY_RUN]
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct PromoteArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub waves: WaveTargets,

    /// CloudWatch alarms read once before the change: one in ALARM refuses, unless --force
    /// [env: SFNDEPLOY_ALARMS, comma-separated]
    #[arg(long, num_args = 0.., value_name = "NAME")]
    pub alarms: Vec<String>,

    /// Promote even with an alarm in ALARM [env: SFNDEPLOY_FORCE]
    #[arg(long)]
    pub force: bool,

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

    /// A release file (TOML) whose keys are these flags' long names, with [[state-machine]]
    /// tables; the command line and the environment variables win over it (README: Release file)
    #[arg(long, global = true, env = "SFNDEPLOY_CONFIG", value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,

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

    #[command(flatten)]
    pub waves: WaveArgs,

    /// allatonce, canary, linear or exponential (doubling from --increment: 5, 10, 20, 40, 80,
    /// 100; any case; CANARY, LINEAR, ALL_AT_ONCE too), or a predefined
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

    /// Command run through the shell after publishing (and smoke runs), before any traffic
    /// moves; if it fails, nothing moves (exit 7). Its environment names the state machine, the
    /// alias and both versions (README: Hooks)
    #[arg(long, env = "SFNDEPLOY_PRE_TRAFFIC_HOOK", value_name = "CMD")]
    pub pre_traffic_hook: Option<String>,

    /// Command run through the shell once the new version has 100% (after the bake), before
    /// success; if it fails, the alias goes back to the old version (exit 3)
    #[arg(long, env = "SFNDEPLOY_POST_TRAFFIC_HOOK", value_name = "CMD")]
    pub post_traffic_hook: Option<String>,

    /// After a rollback caused by the new version's executions, start each of its failed
    /// executions again on the old version with its input, once each (not those redriven since,
    /// nor those a person stopped); STANDARD only, with a health gate [env: SFNDEPLOY_RERUN_FAILED]
    #[arg(long)]
    pub rerun_failed: bool,

    /// With --rerun-failed: start again the executions a person stopped (ABORTED) too; without
    /// it they are listed, not started [env: SFNDEPLOY_RERUN_ABORTED]
    #[arg(long)]
    pub rerun_aborted: bool,

    /// At most this many executions --rerun-failed starts again; the rest are listed
    #[arg(long, env = "SFNDEPLOY_RERUN_MAX", value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rerun_max: u32,

    /// How long a hook may run before it is killed with everything it started
    #[arg(long, env = "SFNDEPLOY_HOOK_TIMEOUT", value_name = "DURATION", default_value = "10m",
          value_parser = parse_positive_duration)]
    pub hook_timeout: Duration,

    /// State machine definition file (JSON, or YAML as .yaml/.yml) to upload as the new revision;
    /// with several --state-machine, one each, in the same order
    #[arg(long, env = "SFNDEPLOY_FILE", value_name = "PATH")]
    pub file: Vec<PathBuf>,

    /// Replace ${NAME} in --file with VALUE, as SAM's DefinitionSubstitutions; ${AWS::Region},
    /// ${AWS::AccountId} and ${AWS::Partition} are the state machine's own, ${!NAME} is a literal
    /// ${NAME}; repeatable [env: SFNDEPLOY_SUBSTITUTION, comma-separated]
    #[arg(long, value_name = "NAME=VALUE")]
    pub substitution: Vec<String>,

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

    /// Custom weights for the new version, each followed by its own hold (W:DURATION) or by
    /// --interval (W): 5,25,50,100 or 1:5m,10:15m,50:30m,100
    #[arg(long, env = "SFNDEPLOY_STEPS", value_name = "W[:HOLD],...", value_delimiter = ',',
          value_parser = parse_step, conflicts_with = "increment")]
    pub steps: Option<Vec<StepSpec>>,

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
    /// then the deploy rolls back as inconclusive (or pauses: --on-inconclusive) [default: 1 with
    /// a failure-rate gate, as no finished execution is no evidence; else 0]
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

    /// What a health gate that still cannot decide at the end of its extension does: roll back
    /// (too little evidence is not a pass), or pause, leaving the alias where it is (exit 0) with
    /// the commands to resume, promote or roll back
    #[arg(long, env = "SFNDEPLOY_ON_INCONCLUSIVE", value_enum, value_name = "ACTION",
          default_value_t = OnInconclusive::Rollback)]
    pub on_inconclusive: OnInconclusive,

    /// enforce: a failing health gate rolls back; observe: the gates read and judge as usual
    /// and say what they would have done, but neither roll back nor wait for evidence: only
    /// alarms, hooks and signals roll back (for tuning thresholds on real traffic)
    #[arg(long, env = "SFNDEPLOY_GATE_MODE", value_enum, value_name = "MODE", default_value_t = GateMode::Enforce)]
    pub gate_mode: GateMode,

    /// An alarm of --alarms that may be in ALARM when the deploy starts (the fix for what it
    /// reports): it does not refuse the deploy, nor roll back while it stays in ALARM, but a new
    /// transition into ALARM rolls back; repeatable [env: SFNDEPLOY_ALLOW_FIRING, comma-separated]
    #[arg(long, value_name = "NAME")]
    pub allow_firing: Vec<String>,

    /// Deploy only inside this window: days, hours and an IANA time zone (UTC when left out),
    /// e.g. 'Mon-Fri 09:00-16:00 Europe/Berlin'; repeatable. A hold that would end after the
    /// window closes is not begun: the deploy pauses (exit 0) [env: SFNDEPLOY_WINDOW,
    /// ';'-separated]
    #[arg(long, value_name = "DAYS HH:MM-HH:MM [ZONE]")]
    pub window: Vec<String>,

    /// Never deploy on these days (both included, in the first --window's time zone, else UTC),
    /// e.g. 2026-12-20..2027-01-04; repeatable [env: SFNDEPLOY_FREEZE, comma-separated]
    #[arg(long, value_name = "FIRST..LAST")]
    pub freeze: Vec<String>,

    /// Outside the window or inside a freeze, wait for the next opening instead of exiting 8
    /// [env: SFNDEPLOY_WINDOW_WAIT]
    #[arg(long)]
    pub window_wait: bool,

    /// An SNS topic to tell of each step of the deploy (started, each step, paused, promoted,
    /// rolled back, deployed, failed): the subject is one line, the body the JSON event;
    /// repeatable [env: SFNDEPLOY_NOTIFY_TOPIC, comma-separated]
    #[arg(long, env = "SFNDEPLOY_NOTIFY_TOPIC", value_name = "ARN", value_delimiter = ',', hide_env = true)]
    pub notify_topic: Vec<String>,

    /// How long to keep retrying a failing rollback before giving up and printing the restore command
    #[arg(long, env = "SFNDEPLOY_ROLLBACK_TIMEOUT", value_name = "DURATION", default_value = "5m",
          value_parser = parse_positive_duration)]
    pub rollback_timeout: Duration,
}

/// `--on-inconclusive`
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnInconclusive {
    Rollback,
    Pause,
}

/// `--gate-mode`
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GateMode {
    Enforce,
    Observe,
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
}
