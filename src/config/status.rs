//! `sfndeploy status`, checked: which state machines, which alias, which alarms.

use anyhow::Result;

use super::target::{alarm_names, target};
use crate::arn::StateMachineRef;
use crate::aws::AwsFlags;
use crate::cli::StatusArgs;
use crate::env::Env;

/// What `status` is asked about.
#[derive(Clone, Debug)]
pub struct StatusConfig {
    pub state_machines: Vec<StateMachineRef>,
    pub alias: String,
    pub alarms: Vec<String>,
    /// How many of the newest versions to show.
    pub versions: usize,
    /// `--wave`: each wave's targets (empty: the run's own region).
    pub waves: Vec<Vec<crate::place::Place>>,
    /// The `--region`/`--profile`/`--endpoint-url` given, for the commands it prints.
    pub flags: AwsFlags,
}

impl StatusConfig {
    pub fn from_args(args: &StatusArgs, flags: AwsFlags, env: Env) -> Result<Self> {
        let (state_machines, alias) = target(&args.target)?;
        let alarms = alarm_names(&args.alarms, env)?;
        let waves = super::waves::wave_places(&args.waves, &state_machines, env)?;
        Ok(StatusConfig { state_machines, alias, alarms, versions: args.versions, waves, flags })
    }
}
