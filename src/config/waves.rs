//! A release in waves, checked: the targets of each wave, and how one wave follows another.

use std::time::Duration;

use anyhow::Result;

use crate::arn::StateMachineRef;
use crate::cli::{OnWaveFailure, WaveArgs, WaveTargets};
use crate::env::{Env, env_list};
use crate::exit_code::Failure;
use crate::place::Place;

/// A release in waves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waves {
    /// Each wave's targets, in order.
    pub waves: Vec<Vec<Place>>,
    /// `--wave-bake`: the watched hold after a wave reaches 100%, before the next one starts.
    pub bake: Duration,
    /// `--blocker-wait`: how long a wave whose alarms are in ALARM waits for them.
    pub blocker_wait: Duration,
    pub on_failure: OnWaveFailure,
    /// `--stop-after-wave`: the run ends once this wave (1-based) has baked.
    pub stop_after: Option<usize>,
}

/// `--wave` (or `SFNDEPLOY_WAVE`: one wave per line, or `;`-separated): each wave's targets,
/// each target once in the whole release, and then `state_machines` names, not ARNs. Empty: no
/// waves.
pub fn wave_places(
    args: &WaveTargets,
    state_machines: &[StateMachineRef],
    env: Env,
) -> Result<Vec<Vec<Place>>> {
    let given = if args.wave.is_empty() {
        env_list(env, "SFNDEPLOY_WAVE", ';').unwrap_or_default()
    } else {
        args.wave.clone()
    };
    let waves: Vec<Vec<Place>> =
        given.iter().map(|w| Place::parse_wave(w).map_err(Failure::usage)).collect::<Result<_>>()?;
    let mut seen = std::collections::HashSet::new();
    for place in waves.iter().flatten() {
        let key = (place.region.as_str(), place.role_account());
        if !seen.insert(key) {
            return Err(Failure::usage(format!(
                "wave target {place} is named twice: each region of an account is deployed once in a release"
            )));
        }
    }
    if !waves.is_empty() {
        names_only(state_machines)?;
    }
    Ok(waves)
}

/// With `--wave`, `--state-machine` takes names: each target's ARN is built from its region and
/// account.
fn names_only(state_machines: &[StateMachineRef]) -> Result<()> {
    match state_machines.iter().find(|s| matches!(s, StateMachineRef::Arn(_))) {
        Some(arn) => Err(Failure::usage(format!(
            "with --wave, --state-machine takes names, and {arn} is an ARN: each target's ARN is built from its \
             region and account"
        ))),
        None => Ok(()),
    }
}

/// The waves of a deploy, checked against the rest of its command line: None without `--wave`
/// (and then no flag of waves may be given).
pub fn waves(
    args: &WaveArgs,
    env: Env,
    state_machines: &[StateMachineRef],
    pause_at: Option<u8>,
) -> Result<Option<Waves>> {
    let waves = wave_places(&args.targets, state_machines, env)?;
    if waves.is_empty() {
        let alone = [
            ("--stop-after-wave", args.stop_after_wave.is_some()),
            ("--blocker-wait", args.blocker_wait.is_some()),
            ("--on-wave-failure current", args.on_wave_failure == OnWaveFailure::Current),
        ];
        if let Some((flag, _)) = alone.iter().find(|(_, given)| *given) {
            return Err(Failure::usage(format!("{flag} is about waves: give the waves with --wave")));
        }
        return Ok(None);
    }
    if pause_at.is_some() {
        return Err(Failure::usage(
            "--pause-at and --wave do not go together: --stop-after-wave N ends a run between waves",
        ));
    }
    let stop_after = args.stop_after_wave.map(usize::from);
    if let Some(n) = stop_after
        && n >= waves.len()
    {
        return Err(Failure::usage(format!(
            "--stop-after-wave {n}: the release has {} wave(s), and the run ends after the last one anyway",
            waves.len()
        )));
    }
    Ok(Some(Waves {
        waves,
        bake: args.wave_bake,
        blocker_wait: args.blocker_wait.unwrap_or(Duration::ZERO),
        on_failure: args.on_wave_failure,
        stop_after,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str], env: Env) -> Result<Option<Waves>> {
        let mut argv = vec!["sfndeploy", "--state-machine", "orders", "--alias", "prod"];
        argv.extend_from_slice(args);
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        let sms = [StateMachineRef::parse("orders").unwrap()];
        waves(&cli.deploy.waves, env, &sms, cli.deploy.pause_at)
    }

    #[test]
    fn waves_come_from_the_flag_or_the_variable() {
        let none = |_: &str| None;
        let w = parse(&["--wave", "us-east-1", "--wave", "eu-west-1,us-west-2", "--wave-bake", "2h"], &none)
            .unwrap()
            .unwrap();
        assert_eq!(w.waves.len(), 2);
        assert_eq!(w.waves[1][1].region, "us-west-2");
        assert_eq!(w.bake, Duration::from_secs(7200));
        let env = |n: &str| (n == "SFNDEPLOY_WAVE").then(|| "us-east-1; eu-west-1,us-west-2".to_string());
        assert_eq!(parse(&[], &env).unwrap().unwrap().waves, w.waves);
        assert_eq!(parse(&[], &none).unwrap(), None);
    }

    #[test]
    fn mistakes_are_one_sentence() {
        let none = |_: &str| None;
        let said = |args: &[&str]| format!("{:#}", parse(args, &none).unwrap_err());
        assert!(said(&["--wave", "us-east-1", "--wave", "us-east-1"]).contains("named twice"));
        assert!(said(&["--stop-after-wave", "1"]).contains("give the waves with --wave"));
        assert!(said(&["--wave", "us-east-1", "--stop-after-wave", "1"]).contains("ends after the last one"));
        assert!(said(&["--wave", "us-east-1", "--pause-at", "50"]).contains("--pause-at and --wave"));
        assert!(said(&["--wave", "useast"]).contains("is not a wave target"));
        // The same region in another account is another target.
        let two = ["--wave", "us-east-1", "--wave", "us-east-1@arn:aws:iam::111111111111:role/deploy"];
        assert!(parse(&two, &none).is_ok());
    }
}
