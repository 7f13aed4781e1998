//! `sfndeploy promote`, checked: which state machines and alias, which alarms to read first.

use anyhow::Result;

use super::target::{alarm_names, target};
use crate::arn::StateMachineRef;
use crate::cli::PromoteArgs;
use crate::env::{Env, switch};

/// What `promote` is asked to do.
#[derive(Clone, Debug)]
pub struct PromoteConfig {
    pub state_machines: Vec<StateMachineRef>,
    pub alias: String,
    /// Read once before the change: one in ALARM refuses, unless `force`.
    pub alarms: Vec<String>,
    pub force: bool,
    pub dry_run: bool,
    /// `--wave`: the release's targets, wave by wave (empty: the run's own region).
    pub waves: Vec<Vec<crate::place::Place>>,
}

impl PromoteConfig {
    pub fn from_args(args: &PromoteArgs, env: Env) -> Result<Self> {
        let (state_machines, alias) = target(&args.target)?;
        let waves = super::waves::wave_places(&args.waves, &state_machines, env)?;
        Ok(PromoteConfig {
            waves,
            state_machines,
            alias,
            alarms: alarm_names(&args.alarms, env)?,
            force: switch(args.force, false, env, "SFNDEPLOY_FORCE")?,
            dry_run: switch(args.dry_run, false, env, "SFNDEPLOY_DRY_RUN")?,
        })
    }

    /// Whether several state machines go together.
    pub fn is_release(&self) -> bool {
        self.state_machines.len() > 1
    }
}
