//! Turns the parsed command line into a checked deploy plan. Every check that needs no AWS call
//! happens here, so a mistake costs nothing and changes nothing.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::cli::{DeployArgs, PresetKind, StrategyChoice, TargetArgs};
use crate::exit_code::Failure;
use crate::strategy::{self, AllAtOnce, Canary, DeployStrategy, Linear, Step, Steps};
use crate::versions::Pacing;

/// Deletions made at once before `--prune-rate` applies: half of Step Functions' bucket of 100,
/// leaving the rest to whatever else the account runs.
pub const PRUNE_BURST: u32 = 50;

pub const DEFAULT_INCREMENT: u8 = 5;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(120);

/// A state machine as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateMachineRef {
    Name(String),
    Arn(String),
}

/// A definition file read from disk.
#[derive(Clone, Debug)]
pub struct DefinitionFile {
    pub path: PathBuf,
    pub text: String,
}

/// Everything a deploy needs, checked.
#[derive(Debug)]
pub struct DeployConfig {
    pub state_machine: StateMachineRef,
    pub alias: String,
    pub strategy: Box<dyn DeployStrategy>,
    pub plan: Vec<Step>,
    pub alarms: Vec<String>,
    pub file: Option<DefinitionFile>,
    /// `--smoke-input`: (file, its JSON text), in order.
    pub smoke_inputs: Vec<(PathBuf, String)>,
    pub smoke_timeout: Duration,
    pub publish_revision: bool,
    pub version_description: Option<String>,
    pub alarm_polling: Duration,
    /// Health gates on the new version's own executions (none: all off).
    pub gates: crate::gates::Rules,
    pub max_unmonitored: Duration,
    pub rollback_timeout: Duration,
    pub history_max: u16,
    pub pacing: Pacing,
    pub force: bool,
    pub dry_run: bool,
    /// `--resume`
    pub resume: bool,
    /// `--pause-at`: the percent asked for (the plan pauses at the first step reaching it).
    pub pause_at: Option<u8>,
    /// The command line as run (program name first), for the resume command we print; empty
    /// in in-process tests.
    pub argv: Vec<String>,
    /// `--region`/`--profile`/`--endpoint-url` as given, for the commands we print.
    pub global_flags: Vec<String>,
}

/// Where environment variables come from: the process, or a table in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A yes/no variable: 1/0, true/false, yes/no, on/off in any case; None when unset or empty.
pub fn env_bool(env: Env, name: &str) -> Result<Option<bool>> {
    let Some(value) = env(name) else { return Ok(None) };
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(Failure::usage(format!(
            "{name}={value} is not a yes/no value: use 1 or 0, true or false, yes or no, on or off"
        ))),
    }
}

/// A switch with a variable: on the command line it wins (for a `--x`/`--no-x` pair clap keeps
/// the last one given), else the variable decides, else off.
fn switch(on: bool, off: bool, env: Env, name: &str) -> Result<bool> {
    Ok(switch_said(on, off, env, name)?.unwrap_or(false))
}

/// [`switch`], or None when neither the command line nor the variable says.
fn switch_said(on: bool, off: bool, env: Env, name: &str) -> Result<Option<bool>> {
    if on || off {
        return Ok(Some(on));
    }
    env_bool(env, name)
}

/// `-q`/`-v` from `SFNDEPLOY_QUIET`/`SFNDEPLOY_VERBOSE` when neither is on the command line.
pub fn logging_from_env(global: &mut crate::cli::GlobalArgs, env: Env) -> Result<()> {
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

impl DeployConfig {
    pub fn from_args(args: &DeployArgs) -> Result<Self> {
        Self::from_args_in(args, &process_env)
    }

    /// `from_args` with the environment given.
    pub fn from_args_in(args: &DeployArgs, env: Env) -> Result<Self> {
        let (state_machine, alias) = target(&args.target)?;
        let publish_said =
            switch_said(args.publish_revision, args.no_publish_revision, env, "SFNDEPLOY_PUBLISH_REVISION")?;
        let publish_revision = publish_said.unwrap_or(false);
        let force = switch(args.force, args.no_force, env, "SFNDEPLOY_FORCE")?;
        let dry_run = switch(args.dry_run, false, env, "SFNDEPLOY_DRY_RUN")?;
        let resume = switch(args.resume, false, env, "SFNDEPLOY_RESUME")?;
        let strategy = build_strategy(args)?;
        let plan = strategy::with_bake(strategy.plan(), args.bake);
        // --max-extension: one more of the strategy's own holds (a preset's interval included).
        let max_extension = args
            .max_extension
            .unwrap_or_else(|| plan.first().map_or(DEFAULT_INTERVAL, |s| s.hold.max(Duration::from_secs(1))));

        let alarms = alarm_names(&args.alarms)?;

        if args.file.is_some() && publish_said.is_none() {
            return Err(Failure::usage(
                "--file uploads a new revision, but without --publish-revision sfndeploy deploys the \
                 latest published version, not the file: add --publish-revision to deploy the file, or \
                 --no-publish-revision to upload it and deploy the latest published version anyway",
            ));
        }
        let file = args.file.as_ref().map(read_definition).transpose()?;
        let smoke_inputs = read_smoke_inputs(&args.smoke_input)?;
        if args.version_description.is_some() && !publish_revision {
            return Err(Failure::usage(
                "--version-description only applies with --publish-revision, which publishes a version",
            ));
        }

        if let Some(percent) = args.pause_at {
            crate::plan::pause_step(&plan, percent).map_err(Failure::usage)?;
        }

        Ok(DeployConfig {
            state_machine,
            alias,
            strategy,
            plan,
            alarms,
            file,
            smoke_inputs,
            smoke_timeout: args.smoke_timeout.unwrap_or(Duration::from_secs(300)),
            publish_revision,
            version_description: args.version_description.clone(),
            alarm_polling: args.alarm_polling,
            gates: crate::gates::Rules {
                max_failure_rate: args.max_failure_rate,
                max_increase: args.max_failure_rate_increase,
                // With a failure-rate gate, no finished execution is no evidence: at least one.
                min_executions: args.min_executions.unwrap_or(u32::from(
                    args.max_failure_rate.is_some() || args.max_failure_rate_increase.is_some(),
                )),
                max_extension,
            },
            max_unmonitored: args.max_unmonitored.unwrap_or(args.alarm_polling * 3),
            rollback_timeout: args.rollback_timeout,
            history_max: args.history_max,
            pacing: Pacing { burst: PRUNE_BURST, per_second: args.prune_rate },
            force,
            dry_run,
            resume,
            pause_at: args.pause_at,
            argv: Vec::new(),
            global_flags: Vec::new(),
        })
    }

    /// The flags that change what the planner decides.
    pub fn plan_options(&self) -> crate::plan::Options {
        crate::plan::Options { force: self.force, resume: self.resume, pause_at: self.pause_at }
    }

    /// The state machine as the user named it.
    pub fn state_machine_text(&self) -> &str {
        match &self.state_machine {
            StateMachineRef::Name(s) | StateMachineRef::Arn(s) => s,
        }
    }

    pub fn planned_duration(&self) -> Duration {
        strategy::total_hold(&self.plan)
    }
}

fn build_strategy(args: &DeployArgs) -> Result<Box<dyn DeployStrategy>> {
    let interval = args.interval.unwrap_or(DEFAULT_INTERVAL);
    let increment = args.increment.unwrap_or(DEFAULT_INCREMENT);
    if let Some(weights) = &args.steps {
        if args.strategy.is_some() {
            return Err(Failure::usage("--steps is a strategy of its own: drop --strategy, or drop --steps"));
        }
        strategy::check_steps(weights).map_err(Failure::usage)?;
        return Ok(Box::new(Steps { weights: weights.clone(), interval }));
    }
    Ok(match args.strategy.unwrap_or(StrategyChoice::AllAtOnce) {
        StrategyChoice::AllAtOnce => Box::new(AllAtOnce { interval }),
        StrategyChoice::Canary => Box::new(Canary { increment, interval }),
        StrategyChoice::Linear => Box::new(Linear { increment, interval }),
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

/// The state machine and alias named on the command line, checked.
pub fn target(args: &TargetArgs) -> Result<(StateMachineRef, String)> {
    let state_machine = state_machine_ref(args.state_machine.as_deref().unwrap_or_default())?;
    let alias = args.alias.clone().unwrap_or_default();
    check_alias_name(&alias)?;
    Ok((state_machine, alias))
}

/// `--alarms`, or `SFNDEPLOY_ALARMS` (comma-separated) when the flag is absent; no empty
/// names, no repeats.
pub fn alarm_names(flag: &[String]) -> Result<Vec<String>> {
    let mut alarms = flag.to_vec();
    if alarms.is_empty()
        && let Ok(list) = std::env::var("SFNDEPLOY_ALARMS")
    {
        alarms = list.split(',').map(|s| s.trim().to_string()).collect();
        alarms.retain(|s| !s.is_empty());
    }
    if alarms.iter().any(|a| a.trim().is_empty()) {
        return Err(Failure::usage("--alarms was given an empty alarm name"));
    }
    let mut seen = std::collections::HashSet::new();
    alarms.retain(|a| seen.insert(a.clone()));
    Ok(alarms)
}

fn state_machine_ref(text: &str) -> Result<StateMachineRef> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::usage("--state-machine needs a state machine name or ARN"));
    }
    if text.starts_with("arn:") {
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() != 7 || parts[2] != "states" || parts[5] != "stateMachine" || parts[6].is_empty() {
            return Err(Failure::usage(format!(
                "'{text}' is not a state machine ARN (arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME); \
                 give the state machine itself, not a version or alias"
            )));
        }
        return Ok(StateMachineRef::Arn(text.to_string()));
    }
    if text.len() > 80 || text.chars().any(|c| c.is_whitespace() || c == ':') {
        return Err(Failure::usage(format!(
            "'{text}' is not a valid state machine name (at most 80 characters, no spaces or colons)"
        )));
    }
    Ok(StateMachineRef::Name(text.to_string()))
}

/// Step Functions alias names: 1 to 80 of `A-Z a-z 0-9 _ - .`, not only digits (that would read
/// as a version number).
fn check_alias_name(name: &str) -> Result<()> {
    let valid_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let not_a_number = name.chars().any(|c| !c.is_ascii_digit());
    if name.is_empty() || name.len() > 80 || !valid_chars || !not_a_number {
        return Err(Failure::usage(format!(
            "'{name}' is not a valid alias name: use 1 to 80 letters, digits, '_', '-' or '.', not only digits"
        )));
    }
    Ok(())
}

/// Each `--smoke-input`: a JSON file, or a directory whose `*.json` files are taken in name
/// order. Every one must read and parse now, before anything changes.
fn read_smoke_inputs(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| Failure::usage(format!("cannot read --smoke-input {}: {e}", path.display())))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            if found.is_empty() {
                return Err(Failure::usage(format!("--smoke-input {} has no *.json file", path.display())));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Failure::usage(format!("cannot read --smoke-input {}: {e}", file.display())))?;
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| Failure::usage(format!("--smoke-input {} is not JSON: {e}", file.display())))?;
            Ok((file, text))
        })
        .collect()
}

fn read_definition(path: &PathBuf) -> Result<DefinitionFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read --file {}: {e}", path.display())))?;
    if text.trim().is_empty() {
        return Err(Failure::usage(format!("--file {} is empty", path.display())));
    }
    Ok(DefinitionFile { path: path.clone(), text })
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
        DeployConfig::from_args(&cli.deploy)
    }

    fn weights(cfg: &DeployConfig) -> Vec<u8> {
        cfg.plan.iter().map(|s| s.weight).collect()
    }

    #[test]
    fn defaults_match_the_script() {
        let cfg = parse(&[]).unwrap();
        assert_eq!(cfg.strategy.name(), "allatonce");
        assert_eq!(cfg.plan, [Step { weight: 100, hold: Duration::from_secs(120) }]);
        assert_eq!(cfg.alarm_polling, Duration::from_secs(60));
        assert_eq!(cfg.max_unmonitored, Duration::from_secs(180));
        assert_eq!(cfg.history_max, 0);
        assert!(!cfg.publish_revision && !cfg.force && cfg.alarms.is_empty());
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
        assert!(cfg.publish_revision && cfg.force);
        assert_eq!(cfg.history_max, 5);

        let cfg = parse(&["--strat=canary", "--incr=10", "--inter=2", "--no-publish-revision", "--no-force"])
            .unwrap();
        assert_eq!(weights(&cfg), [10, 100]);
        assert!(!cfg.publish_revision && !cfg.force);

        let cfg = parse(&["--publish-revision", "--no-publish-revision"]).unwrap();
        assert!(!cfg.publish_revision, "the last of a flag pair wins, as in argparse");
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
        let cfg = DeployConfig::from_args(&cli.deploy).unwrap();
        assert_eq!(cfg.alias, "my-alias");
        assert_eq!(cfg.plan, [Step { weight: 100, hold: Duration::from_secs(10) }]);
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
        ];
        for &case in cases {
            let err = parse(case).expect_err(&format!("{case:?} accepted"));
            assert_eq!(exit_code_of(&err), ExitCode::Usage, "{case:?}: {err:#}");
        }
    }

    #[test]
    fn names_and_arns() {
        assert_eq!(state_machine_ref("orders").unwrap(), StateMachineRef::Name("orders".into()));
        let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";
        assert_eq!(state_machine_ref(arn).unwrap(), StateMachineRef::Arn(arn.into()));
        for bad in ["", "my orders", &format!("{arn}:prod"), "arn:aws:lambda:us-east-1:1:function:f"] {
            assert!(state_machine_ref(bad).is_err(), "{bad} accepted");
        }
        for good in ["prod", "PROD-1", "v2.blue", "_x"] {
            assert!(check_alias_name(good).is_ok(), "{good}");
        }
        for bad in ["", "42", "has space", "a:b", &"a".repeat(81)] {
            assert!(check_alias_name(bad).is_err(), "{bad} accepted");
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
            DeployConfig::from_args_in(&cli.deploy, &env)
        };
        let cfg = with_env(&["--no-force"], &[("SFNDEPLOY_FORCE", "true")]).unwrap();
        assert!(!cfg.force);
        let cfg = with_env(&["--no-publish-revision"], &[("SFNDEPLOY_PUBLISH_REVISION", "1")]).unwrap();
        assert!(!cfg.publish_revision);
        let cfg = with_env(&["--force"], &[("SFNDEPLOY_FORCE", "off")]).unwrap();
        assert!(cfg.force);
        for (value, expected) in
            [("1", true), ("yes", true), ("ON", true), ("0", false), ("no", false), ("", false)]
        {
            let cfg = with_env(&[], &[("SFNDEPLOY_DRY_RUN", value), ("SFNDEPLOY_RESUME", value)]).unwrap();
            assert_eq!((cfg.dry_run, cfg.resume), (expected, expected), "{value:?}");
        }
        let err = with_env(&[], &[("SFNDEPLOY_FORCE", "maybe")]).unwrap_err();
        assert_eq!(exit_code_of(&err), ExitCode::Usage);
        assert!(err.to_string().contains("SFNDEPLOY_FORCE=maybe"), "{err}");
    }

    #[test]
    fn pause_and_resume() {
        let cfg =
            parse(&["--strategy", "linear", "--increment", "25", "--pause-at", "50", "--resume"]).unwrap();
        assert_eq!(cfg.pause_at, Some(50));
        assert!(cfg.resume);
        let cfg = parse(&["--strategy", "canary", "--increment", "10", "--pause-at", "10"]).unwrap();
        assert_eq!(cfg.plan_options().pause_at, Some(10));
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
        assert_eq!(cfg.plan.last().map(|s| (s.weight, s.hold)), Some((100, minutes(2))));
        assert_eq!(cfg.planned_duration(), minutes(7));
        let cfg =
            parse(&["--strategy", "linear", "--increment", "50", "--interval", "1m", "--bake", "0"]).unwrap();
        assert_eq!(cfg.planned_duration(), minutes(1));
        let cfg = parse(&["--steps", "5,100", "--interval", "1m", "--bake", "10m"]).unwrap();
        assert_eq!(cfg.planned_duration(), minutes(11));
    }
}
