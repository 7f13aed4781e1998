//! The flags of a release in waves: where (`--wave`), and how one wave follows another.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::values::parse_duration;

/// The waves, in order.
#[derive(Debug, Args, Clone, Default)]
pub struct WaveTargets {
    /// One wave of a release across regions and accounts, in order: its targets, comma-separated,
    /// each a region or REGION@ROLE_ARN (another account, through that role); repeat for each
    /// wave. --state-machine then takes names [env: SFNDEPLOY_WAVE, one wave per line or
    /// ';'-separated]
    #[arg(long, value_name = "TARGET[,TARGET...]")]
    pub wave: Vec<String>,
}

/// How waves follow each other.
#[derive(Debug, Args, Clone)]
pub struct WaveArgs {
    #[command(flatten)]
    pub targets: WaveTargets,

    /// After a wave reaches 100%, how long every target moved so far is watched before the next
    /// wave starts
    #[arg(long, env = "SFNDEPLOY_WAVE_BAKE", value_name = "DURATION", default_value = "1h",
          value_parser = parse_duration)]
    pub wave_bake: Duration,

    /// How long a wave whose alarms are in ALARM (its blockers) waits for them to clear before
    /// the release stops, exit 9 [default: 0s: stop at once]
    #[arg(long, env = "SFNDEPLOY_BLOCKER_WAIT", value_name = "DURATION", value_parser = parse_duration)]
    pub blocker_wait: Option<Duration>,

    /// all: a bad signal rolls back every target the release moved, in every wave; current:
    /// only the failing wave's (earlier waves stay on their new versions)
    #[arg(long, env = "SFNDEPLOY_ON_WAVE_FAILURE", value_enum, value_name = "WHICH",
          default_value_t = OnWaveFailure::All)]
    pub on_wave_failure: OnWaveFailure,

    /// End the run (exit 0, outcome wave_done) once wave N has reached 100% and baked; the same
    /// command with --resume goes on with the next wave
    #[arg(long, env = "SFNDEPLOY_STOP_AFTER_WAVE", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub stop_after_wave: Option<u16>,
}

/// `--on-wave-failure`
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum OnWaveFailure {
    #[default]
    All,
    Current,
}
