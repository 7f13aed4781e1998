//! `sfndeploy rollback`, checked: which state machines and alias, to which version.

use anyhow::Result;

use super::target::target;
use crate::arn::StateMachineRef;
use crate::cli::RollbackArgs;
use crate::env::{Env, switch};
use crate::exit_code::Failure;

/// What `rollback` is asked to do.
#[derive(Clone, Debug)]
pub struct RollbackConfig {
    pub state_machines: Vec<StateMachineRef>,
    pub alias: String,
    /// `--to-version` as given (a number or an ARN); None: the version live before.
    pub to_version: Option<String>,
    pub dry_run: bool,
    /// `--wave`: the release's targets, wave by wave (empty: the run's own region).
    pub waves: Vec<Vec<crate::place::Place>>,
}

impl RollbackConfig {
    pub fn from_args(args: &RollbackArgs, env: Env) -> Result<Self> {
        let (state_machines, alias) = target(&args.target)?;
        if state_machines.len() > 1 && args.to_version.is_some() {
            return Err(Failure::usage(
                "--to-version names one version: with several --state-machine, each goes back to the version \
                 live before its current one",
            ));
        }
        let dry_run = switch(args.dry_run, false, env, "SFNDEPLOY_DRY_RUN")?;
        let waves = super::waves::wave_places(&args.waves, &state_machines, env)?;
        if !waves.is_empty() && args.to_version.is_some() {
            return Err(Failure::usage(
                "--to-version names one version, and with --wave each target has its own numbers: each goes \
                 back to the version live before its current one",
            ));
        }
        Ok(RollbackConfig { state_machines, alias, to_version: args.to_version.clone(), dry_run, waves })
    }

    /// Whether several state machines go back together.
    pub fn is_release(&self) -> bool {
        self.state_machines.len() > 1
    }
}
