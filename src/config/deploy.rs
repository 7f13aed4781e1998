//! The deploy's configuration: the parsed command line turned into what a deploy acts on.
//! Every check that needs no AWS call happens here, so a mistake costs nothing and changes
//! nothing.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::controls::{WindowSettings, allowed_to_fire, topics, window_settings};
use super::files::{DefinitionFile, read_definition, read_smoke_inputs};
use super::target::{alarm_names, target};
use crate::arn::StateMachineRef;
use crate::aws::AwsFlags;
use crate::cli::{DeployArgs, GateMode, OnInconclusive, PresetKind, StrategyChoice};
use crate::env::{Env, switch, switch_said};
use crate::exit_code::Failure;
use crate::gates::Rules;
use crate::gates::rerun::RerunLimits;
use crate::pacer::{Pacer, Pacing};
use crate::plan::{self, Options};
use crate::strategy::{self, AllAtOnce, Canary, DeployStrategy, Exponential, Linear, Step, Steps};

/// Deletions made at once before `--prune-rate` applies: half of Step Functions' bucket of 100,
/// leaving the rest to whatever else the account runs.
pub const PRUNE_BURST: u32 = 50;

pub const DEFAULT_INCREMENT: u8 = 5;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(120);

/// How the health signals are watched, and how hard a rollback is tried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WatchSettings {
    /// `--alarm-polling`: how often the signals are read during a hold.
    pub polling: Duration,
    /// `--max-unmonitored`: how long the signals may go unread before a rollback.
    pub max_unmonitored: Duration,
    /// `--rollback-timeout`
    pub rollback_timeout: Duration,
    /// `--on-inconclusive`: roll back, or pause.
    pub on_inconclusive: OnInconclusive,
    /// `--gate-mode`: whether the health gates act, or only say what they would do.
    pub gate_mode: GateMode,
}

/// How this run was invoked, for the commands it prints: the command line as run (program name
/// first; empty in in-process tests) and the `--region`/`--profile`/`--endpoint-url` given.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    pub argv: Vec<String>,
    pub flags: AwsFlags,
    /// `--config`: the release file, if one was named.
    pub release: Option<crate::release_file::ReleaseFile>,
}

/// The commands run around the traffic shift.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    pub pre_traffic: Option<String>,
    pub post_traffic: Option<String>,
    pub timeout: Duration,
}

/// A hook command as given; an empty one is a mistake (an empty variable counts as unset).
fn non_blank(command: &Option<String>, flag: &str) -> Result<Option<String>> {
    match command {
        Some(c) if c.trim().is_empty() => Err(Failure::usage(format!("{flag} needs a command"))),
        other => Ok(other.clone()),
    }
}

/// `--substitution NAME=VALUE` (or `SFNDEPLOY_SUBSTITUTION`, comma-separated), checked: each a
/// name once, and only with `--file`.
fn substitutions(args: &DeployArgs, env: Env) -> Result<Vec<(String, String)>> {
    let given: Vec<String> = match crate::env::env_list(env, "SFNDEPLOY_SUBSTITUTION", ',') {
        Some(list) if args.substitution.is_empty() => list,
        _ => args.substitution.clone(),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in &given {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(Failure::usage(format!("--substitution '{pair}': use NAME=VALUE")));
        };
        if !crate::substitute::valid_name(name) {
            return Err(Failure::usage(format!(
                "--substitution '{pair}': '{name}' is not a name (letters, digits and _, not starting with a digit)"
            )));
        }
        if pairs.iter().any(|(n, _)| n == name) {
            return Err(Failure::usage(format!("--substitution {name} is given twice")));
        }
        pairs.push((name.to_string(), value.to_string()));
    }
    if !pairs.is_empty() && args.file.is_empty() {
        return Err(Failure::usage("--substitution replaces ${NAME} in a --file: give the file"));
    }
    Ok(pairs)
}

/// One state machine of a release, with its definition file if any.
#[derive(Clone, Debug)]
pub struct MemberConfig {
    pub state_machine: StateMachineRef,
    pub file: Option<DefinitionFile>,
    /// Its own substitutions (a release file's `[[state-machine]]`), over `--substitution`.
    pub substitutions: Vec<(String, String)>,
}

/// The strategy, its steps, and the flags that change the planner's decision.
#[derive(Debug)]
pub struct PlanSettings {
    pub strategy: Box<dyn DeployStrategy>,
    /// The strategy's steps, `--bake` applied.
    pub steps: Vec<Step>,
    /// `--force`, `--resume`, `--pause-at`.
    pub options: Options,
}

/// `--smoke-input` and `--smoke-timeout`.
#[derive(Clone, Debug)]
pub struct SmokeSettings {
    /// (file, its JSON text), in order.
    pub inputs: Vec<(PathBuf, String)>,
    pub timeout: Duration,
}

/// What is published, and how many versions are kept.
#[derive(Debug)]
pub struct VersionSettings {
    /// `--publish-revision`
    pub publish_revision: bool,
    /// `--version-description`
    pub description: Option<String>,
    /// `--history-max`
    pub history_max: u16,
    /// The pace of deletions (`--prune-rate` after a burst): one bucket for every member's
    /// pruning in this run.
    pub prune: Pacer,
}

/// Everything a deploy needs, checked.
#[derive(Debug)]
pub struct DeployConfig {
    /// The state machines deployed as one release (one for a plain deploy), in the order given.
    pub members: Vec<MemberConfig>,
    pub alias: String,
    pub plan: PlanSettings,
    pub alarms: Vec<String>,
    /// `--allow-firing`: alarms of `alarms` that may be in ALARM at the start.
    pub allow_firing: Vec<String>,
    /// When the deploy may move traffic.
    pub window: WindowSettings,
    /// `--notify-topic`: SNS topics told of each step.
    pub notify: Vec<String>,
    /// `--substitution`: each `${NAME}` of the `--file`s and its value.
    pub substitutions: Vec<(String, String)>,
    /// Health gates on the new version's own executions (none: all off).
    pub gates: Rules,
    pub watch: WatchSettings,
    pub smoke: SmokeSettings,
    /// `--pre-traffic-hook`, `--post-traffic-hook`, `--hook-timeout`.
    pub hooks: Hooks,
    /// `--rerun-failed`: at most `--rerun-max`, ABORTED ones too with `--rerun-aborted`.
    pub rerun: Option<RerunLimits>,
    pub versions: VersionSettings,
    /// `--wave`: a release across regions and accounts, wave after wave (None: the run's own
    /// region only).
    pub waves: Option<super::Waves>,
    pub dry_run: bool,
    pub invocation: Invocation,
}

impl DeployConfig {
    pub fn from_args(args: &DeployArgs, invocation: Invocation) -> Result<Self> {
        Self::from_args_in(args, &crate::env::process_env, invocation)
    }

    /// `from_args` with the environment given.
    pub fn from_args_in(args: &DeployArgs, env: Env, invocation: Invocation) -> Result<Self> {
        let (state_machines, alias) = target(&args.target)?;
        let plan = plan_settings(args, env)?;
        let alarms = alarm_names(&args.alarms, env)?;
        let allow_firing = allowed_to_fire(&args.allow_firing, &alarms, env)?;
        let window = window_settings(args, env)?;
        let notify = topics(&args.notify_topic)?;
        let substitutions = substitutions(args, env)?;
        let versions = version_settings(args, env)?;
        let members = members(args, state_machines, &invocation)?;
        let smoke = SmokeSettings {
            inputs: read_smoke_inputs(&args.smoke_input)?,
            timeout: args.smoke_timeout.unwrap_or(Duration::from_secs(300)),
        };
        let gates = gate_rules(args, &plan.steps, members.len());
        let rerun = rerun(args, env, &gates)?;
        let waves = super::waves::waves(
            &args.waves,
            env,
            &members.iter().map(|m| m.state_machine.clone()).collect::<Vec<_>>(),
            plan.options.pause_at,
        )?;
        Ok(DeployConfig {
            members,
            alias,
            gates,
            plan,
            alarms,
            allow_firing,
            window,
            notify,
            substitutions,
            watch: WatchSettings {
                polling: args.alarm_polling,
                max_unmonitored: args.max_unmonitored.unwrap_or(args.alarm_polling * 3),
                rollback_timeout: args.rollback_timeout,
                on_inconclusive: args.on_inconclusive,
                gate_mode: args.gate_mode,
            },
            smoke,
            hooks: Hooks {
                pre_traffic: non_blank(&args.pre_traffic_hook, "--pre-traffic-hook")?,
                post_traffic: non_blank(&args.post_traffic_hook, "--post-traffic-hook")?,
                timeout: args.hook_timeout,
            },
            rerun,
            versions,
            waves,
            dry_run: switch(args.dry_run, false, env, "SFNDEPLOY_DRY_RUN")?,
            invocation,
        })
    }

    /// Whether this is a release of several state machines.
    pub fn is_release(&self) -> bool {
        self.members.len() > 1
    }

    pub fn planned_duration(&self) -> Duration {
        strategy::total_hold(&self.plan.steps)
    }
}

/// The strategy, its steps (`--bake` applied) and the planner's options, `--pause-at` checked
/// against the steps.
fn plan_settings(args: &DeployArgs, env: Env) -> Result<PlanSettings> {
    let strategy = build_strategy(args)?;
    let steps = strategy::with_bake(strategy.steps(), args.bake);
    if let Some(percent) = args.pause_at {
        plan::pause_step(&steps, percent).map_err(Failure::usage)?;
    }
    let options = Options {
        force: switch(args.force, args.no_force, env, "SFNDEPLOY_FORCE")?,
        resume: switch(args.resume, false, env, "SFNDEPLOY_RESUME")?,
        pause_at: args.pause_at,
    };
    Ok(PlanSettings { strategy, steps, options })
}

/// `--publish-revision`, `--version-description`, `--history-max` and the prune pace.
fn version_settings(args: &DeployArgs, env: Env) -> Result<VersionSettings> {
    let publish_said =
        switch_said(args.publish_revision, args.no_publish_revision, env, "SFNDEPLOY_PUBLISH_REVISION")?;
    if !args.file.is_empty() && publish_said.is_none() {
        return Err(Failure::usage(
            "--file uploads a new revision, but without --publish-revision sfndeploy deploys the \
             latest published version, not the file: add --publish-revision to deploy the file, or \
             --no-publish-revision to upload it and deploy the latest published version anyway",
        ));
    }
    let publish_revision = publish_said.unwrap_or(false);
    if args.version_description.is_some() && !publish_revision {
        return Err(Failure::usage(
            "--version-description only applies with --publish-revision, which publishes a version",
        ));
    }
    Ok(VersionSettings {
        publish_revision,
        description: args.version_description.clone(),
        history_max: args.history_max,
        prune: Pacer::new(Pacing { burst: PRUNE_BURST, per_second: args.prune_rate }),
    })
}

/// The members, each with its `--file` (paired by position) and its own substitutions from the
/// release file.
fn members(
    args: &DeployArgs,
    state_machines: Vec<StateMachineRef>,
    invocation: &Invocation,
) -> Result<Vec<MemberConfig>> {
    if !args.file.is_empty() && args.file.len() != state_machines.len() {
        return Err(Failure::usage(format!(
            "--file pairs with --state-machine by position: {} file(s) for {} state machine(s)",
            args.file.len(),
            state_machines.len()
        )));
    }
    let mut files = args.file.iter().map(|f| read_definition(f).map(Some)).collect::<Result<Vec<_>>>()?;
    files.resize(state_machines.len(), None);
    Ok(state_machines
        .into_iter()
        .zip(files)
        .map(|(state_machine, file)| {
            let substitutions = invocation
                .release
                .as_ref()
                .and_then(|r| r.member_substitutions.iter().find(|(n, _)| n == state_machine.as_str()))
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            MemberConfig { state_machine, file, substitutions }
        })
        .collect())
}

/// `--rerun-failed` (at most `--rerun-max`, `--rerun-aborted`), which needs a gate to roll back.
fn rerun(args: &DeployArgs, env: Env, gates: &Rules) -> Result<Option<RerunLimits>> {
    let rerun_failed = switch(args.rerun_failed, false, env, "SFNDEPLOY_RERUN_FAILED")?;
    let aborted = switch(args.rerun_aborted, false, env, "SFNDEPLOY_RERUN_ABORTED")?;
    if aborted && !rerun_failed {
        return Err(Failure::usage("--rerun-aborted only applies with --rerun-failed"));
    }
    if rerun_failed && !gates.any() {
        return Err(Failure::usage(
            "--rerun-failed restarts the executions a health gate rolled back: add --max-failure-rate, \
             --max-failure-rate-increase or --max-duration-increase",
        ));
    }
    Ok(rerun_failed.then_some(RerunLimits { max: args.rerun_max as usize, aborted }))
}

/// The health gates' flags, with their defaults. The run's confidence is shared by every test
/// it makes: each gate on, in each of its `members`.
fn gate_rules(args: &DeployArgs, steps: &[Step], members: usize) -> Rules {
    let rate_gate = args.max_failure_rate.is_some()
        || args.max_failure_rate_increase.is_some()
        || args.max_duration_increase.is_some();
    let mut rules = Rules {
        max_failure_rate: args.max_failure_rate,
        max_increase: args.max_failure_rate_increase,
        max_duration_increase: args.max_duration_increase,
        confidence: args.confidence,
        extension_given: args.max_extension.is_some(),
        // With a failure-rate gate, no finished execution is no evidence: at least one.
        min_executions: args.min_executions.unwrap_or(u32::from(rate_gate)),
        // --max-extension: one more of the strategy's own holds (a preset's interval included).
        max_extension: args.max_extension.unwrap_or_else(|| {
            steps.first().map_or(DEFAULT_INTERVAL, |s| s.hold.max(Duration::from_secs(1)))
        }),
        split: 1,
    };
    rules.split = (rules.tests() * members as u32).max(1);
    rules
}

fn build_strategy(args: &DeployArgs) -> Result<Box<dyn DeployStrategy>> {
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);
    let increment = args.increment.unwrap_or(DEFAULT_INCREMENT);
    if let Some(weights) = &args.steps {
        if args.strategy.is_some() {
            return Err(Failure::usage("--steps is a strategy of its own: drop --strategy, or drop --steps"));
        }
        let only: Vec<u8> = weights.iter().map(|s| s.weight).collect();
        strategy::check_steps(&only).map_err(Failure::usage)?;
        let steps = weights.iter().map(|s| (s.weight, s.hold)).collect();
        return Ok(Box::new(Steps { steps, interval }));
    }
    Ok(match args.strategy.unwrap_or(StrategyChoice::AllAtOnce) {
        StrategyChoice::AllAtOnce => Box::new(AllAtOnce { interval }),
        StrategyChoice::Canary => Box::new(Canary { increment, interval }),
        StrategyChoice::Linear => Box::new(Linear { increment, interval }),
        StrategyChoice::Exponential => Box::new(Exponential { increment, interval }),
        StrategyChoice::Preset { name, kind, increment, interval } => {
            if args.increment.is_some() || args.interval.is_some() {
                return Err(Failure::usage(format!(
                    "--strategy {name} sets its own increment and interval: drop --increment/--interval, \
                     or use --strategy {} with them",
                    if kind == PresetKind::Canary { "canary" } else { "linear" }
                )));
            }
            match kind {
                PresetKind::Canary => Box::new(Canary { increment, interval }),
                PresetKind::Linear => Box::new(Linear { increment, interval }),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use crate::exit_code::{ExitCode, exit_code_of};
    use clap::Parser;

    fn parse(extra: &[&str]) -> Result<DeployConfig> {
        let mut argv = vec!["sfndeploy", "--state-machine", "orders", "--alias", "prod"];
        argv.extend_from_slice(extra);
        let cli = Cli::try_parse_from(argv).map_err(|e| Failure::usage(e.to_string()))?;
        DeployConfig::from_args(&cli.deploy, Invocation::default())
    }

    fn weights(cfg: &DeployConfig) -> Vec<u8> {
        cfg.plan.steps.iter().map(|s| s.weight).collect()
    }

    #[test]
    fn defaults_match_the_script() {
        let cfg = parse(&[]).unwrap();
        assert_eq!(cfg.plan.strategy.name(), "allatonce");
        assert_eq!(cfg.plan.steps, [Step { weight: 100, hold: Duration::from_secs(120) }]);
        assert_eq!(cfg.watch.polling, Duration::from_secs(60));
        assert_eq!(cfg.watch.max_unmonitored, Duration::from_secs(180));
        assert_eq!(cfg.versions.history_max, 0);
        assert!(!cfg.versions.publish_revision && !cfg.plan.options.force && cfg.alarms.is_empty());
    }

    #[test]
    fn script_command_lines_parse() {
        let cfg = parse(&[
            "--strategy", "Linear", "--increment", "30", "--interval", "12", "--alarms", "alarm1",
            "alarm name with a space", "--publish-revision", "--force", "--history-max", "5",
        ])
        .unwrap();
        assert_eq!(weights(&cfg), [30, 60, 90, 100]);
        assert_eq!(cfg.alarms, ["alarm1", "alarm name with a space"]);
        assert!(cfg.versions.publish_revision && cfg.plan.options.force);
        assert_eq!(cfg.versions.history_max, 5);

        let cfg = parse(&["--strat=canary", "--incr=10", "--inter=2", "--no-publish-revision", "--no-force"])
            .unwrap();
        assert_eq!(weights(&cfg), [10, 100]);
        assert!(!cfg.versions.publish_revision && !cfg.plan.options.force);

        let cfg = parse(&["--publish-revision", "--no-publish-revision"]).unwrap();
        assert!(!cfg.versions.publish_revision, "the last of a flag pair wins, as in argparse");
        let cfg = parse(&["--alarms"]).unwrap();
        assert!(cfg.alarms.is_empty());
    }

    #[test]
    fn the_scripts_documented_command_line_works_unchanged() {
        let cli = Cli::try_parse_from([
            "sfndeploy", "--state-machine", "my-state-machine", "--region", "us-east-1", "--alias=my-alias",
            "--strategy", "allatonce", "--interval=10", "--alarms", "alarm1", "alarm name with a space",
        ])
        .unwrap();
        assert_eq!(cli.global.region.as_deref(), Some("us-east-1"));
        let cfg = DeployConfig::from_args(&cli.deploy, Invocation::default()).unwrap();
        assert_eq!(cfg.alias, "my-alias");
        assert_eq!(cfg.plan.steps, [Step { weight: 100, hold: Duration::from_secs(10) }]);
        assert_eq!(cfg.alarms, ["alarm1", "alarm name with a space"]);
    }

    #[test]
    fn usage_errors() {
        let cases: &[&[&str]] = &[
            &["--increment", "0"],
            &["--increment", "-1"],
            &["--increment", "101"],
            &["--increment", "500"],
            &["--history-max", "1"],
            &["--strategy", "bluegreenish"],
            &["--alarm-polling", "0"],
            &["--interval", "soon"],
            &["--strategy", "Canary10Percent5Minutes", "--interval", "60"],
            &["--steps", "5,50"],
            &["--steps", "5,50,100", "--strategy", "linear"],
            &["--version-description", "x"],
            &["--file", "/nonexistent/definition.asl.json"],
            &["--alarms", "ok", ""],
            &["--pause-at", "0"],
            &["--pause-at", "100"],
            &["--strategy", "canary", "--increment", "10", "--pause-at", "50"],
            &["--strategy", "linear", "--increment", "30", "--pause-at", "91"],
            &["--alarms", "a", "--allow-firing", "b"],
            &["--allow-firing", "a"],
            &["--window", "Funday 09:00-10:00"],
            &["--window", "Mon-Fri 09:00-16:00 Mars/Olympus"],
            &["--freeze", "2027-01-04..2026-12-20"],
            &["--window-wait"],
            &["--notify-topic", "arn:aws:sqs:us-east-1:123456789012:queue"],
            &["--on-inconclusive", "shrug"],
            &["--gate-mode", "maybe"],
            &["--substitution", "Bucket=x"],
            &["--substitution", "2x=y", "--file", "Cargo.toml"],
            &["--substitution", "Bucket"],
        ];
        for &case in cases {
            let err = parse(case).expect_err(&format!("{case:?} accepted"));
            assert_eq!(exit_code_of(&err), ExitCode::Usage, "{case:?}: {err:#}");
        }
    }

    #[test]
    fn the_command_line_wins_over_variables_and_variables_take_yes_no() {
        let with_env = |extra: &[&str], vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> =
                vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let mut argv = vec!["sfndeploy", "--state-machine", "orders", "--alias", "prod"];
            argv.extend_from_slice(extra);
            let cli = Cli::try_parse_from(argv).map_err(|e| Failure::usage(e.to_string()))?;
            DeployConfig::from_args_in(&cli.deploy, &env, Invocation::default())
        };
        let cfg = with_env(&["--no-force"], &[("SFNDEPLOY_FORCE", "true")]).unwrap();
        assert!(!cfg.plan.options.force);
        let cfg = with_env(&["--no-publish-revision"], &[("SFNDEPLOY_PUBLISH_REVISION", "1")]).unwrap();
        assert!(!cfg.versions.publish_revision);
        let cfg = with_env(&["--force"], &[("SFNDEPLOY_FORCE", "off")]).unwrap();
        assert!(cfg.plan.options.force);
        for (value, expected) in
            [("1", true), ("yes", true), ("ON", true), ("0", false), ("no", false), ("", false)]
        {
            let cfg = with_env(&[], &[("SFNDEPLOY_DRY_RUN", value), ("SFNDEPLOY_RESUME", value)]).unwrap();
            assert_eq!((cfg.dry_run, cfg.plan.options.resume), (expected, expected), "{value:?}");
        }
        let err = with_env(&[], &[("SFNDEPLOY_FORCE", "maybe")]).unwrap_err();
        assert_eq!(exit_code_of(&err), ExitCode::Usage);
        assert!(err.to_string().contains("SFNDEPLOY_FORCE=maybe"), "{err}");
    }

    #[test]
    fn pause_and_resume() {
        let cfg =
            parse(&["--strategy", "linear", "--increment", "25", "--pause-at", "50", "--resume"]).unwrap();
        assert_eq!(cfg.plan.options.pause_at, Some(50));
        assert!(cfg.plan.options.resume);
        let cfg = parse(&["--strategy", "canary", "--increment", "10", "--pause-at", "10"]).unwrap();
        assert_eq!(cfg.plan.options.pause_at, Some(10));
    }

    #[test]
    fn steps_with_their_own_holds_and_exponential() {
        let cfg = parse(&["--steps", "1:5m,10:15m,50:30m,100", "--interval", "2m"]).unwrap();
        let steps: Vec<(u8, u64)> = cfg.plan.steps.iter().map(|s| (s.weight, s.hold.as_secs())).collect();
        assert_eq!(steps, [(1, 300), (10, 900), (50, 1800), (100, 120)]);
        let cfg = parse(&["--strategy", "exponential", "--increment", "5"]).unwrap();
        assert_eq!(weights(&cfg), [5, 10, 20, 40, 80, 100]);
        assert_eq!(cfg.plan.strategy.name(), "exponential");
        assert!(parse(&["--steps", "1:soon,100"]).is_err());
    }

    #[test]
    fn steps_and_presets() {
        let cfg = parse(&["--steps", "5,25,50,100", "--interval", "30s"]).unwrap();
        assert_eq!(weights(&cfg), [5, 25, 50, 100]);
        assert_eq!(cfg.planned_duration(), Duration::from_secs(120));
        let cfg = parse(&["--strategy", "Canary10Percent15Minutes"]).unwrap();
        assert_eq!(weights(&cfg), [10, 100]);
        // Every preset takes its nominal time: the canary holds once, linear holds ten times.
        let minutes = |m: u64| Duration::from_secs(60 * m);
        for (preset, total) in [
            ("Canary10Percent5Minutes", minutes(5)),
            ("Canary10Percent10Minutes", minutes(10)),
            ("Canary10Percent15Minutes", minutes(15)),
            ("Canary10Percent30Minutes", minutes(30)),
            ("Linear10PercentEvery1Minute", minutes(10)),
            ("Linear10PercentEvery2Minutes", minutes(20)),
            ("Linear10PercentEvery3Minutes", minutes(30)),
            ("Linear10PercentEvery10Minutes", minutes(100)),
            ("AllAtOnce", Duration::from_secs(120)),
        ] {
            assert_eq!(parse(&["--strategy", preset]).unwrap().planned_duration(), total, "{preset}");
        }
        // --bake: a monitored hold after 100% for any strategy, in place of its own.
        let cfg = parse(&["--strategy", "Canary10Percent5Minutes", "--bake", "2m"]).unwrap();
        assert_eq!(cfg.plan.steps.last().map(|s| (s.weight, s.hold)), Some((100, minutes(2))));
        assert_eq!(cfg.planned_duration(), minutes(7));
        let cfg =
            parse(&["--strategy", "linear", "--increment", "50", "--interval", "1m", "--bake", "0"]).unwrap();
        assert_eq!(cfg.planned_duration(), minutes(1));
        let cfg = parse(&["--steps", "5,100", "--interval", "1m", "--bake", "10m"]).unwrap();
        assert_eq!(cfg.planned_duration(), minutes(11));
    }
}
