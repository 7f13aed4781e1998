//! Turns the parsed command line into the checked configuration of the subcommand it names,
//! each built the same way: [`deploy`], [`status`], [`rollback`], [`promote`]. Every check that needs no AWS
//! call happens here, so a mistake costs nothing and changes nothing. The environment
//! (`SFNDEPLOY_*` variables) is given, never read here directly.

mod controls;
pub mod deploy;
mod files;
pub mod promote;
pub mod rollback;
pub mod status;
mod target;
pub mod waves;

pub use controls::WindowSettings;
pub use deploy::{
    DeployConfig, Hooks, Invocation, MemberConfig, PRUNE_BURST, PlanSettings, SmokeSettings, VersionSettings,
    WatchSettings,
};
pub use files::{DefinitionFile, SMOKE_INPUT_MAX};
pub use promote::PromoteConfig;
pub use rollback::RollbackConfig;
pub use status::StatusConfig;
pub use target::{MEMBERS_MAX, alarm_names, target};
pub use waves::Waves;

use anyhow::Result;

use crate::aws::given_flags;
use crate::cli::{Cli, Command};
use crate::env::Env;
use crate::release_file::ReleaseFile;

/// What the command line asks for, checked.
#[derive(Debug)]
pub enum Job {
    Deploy(Box<DeployConfig>),
    Status(StatusConfig),
    Rollback(RollbackConfig),
    Promote(PromoteConfig),
    Completions(clap_complete::Shell),
    Man,
}

impl Job {
    /// The subcommand `cli` names, with its configuration checked. `release` is the release
    /// file it names, if any; `argv` the command line as run, for the commands a deploy prints.
    pub fn from_cli(cli: &Cli, release: Option<ReleaseFile>, argv: Vec<String>, env: Env) -> Result<Self> {
        let flags = given_flags(&cli.global);
        Ok(match &cli.command {
            Some(Command::Completions { shell }) => Job::Completions(*shell),
            Some(Command::Man) => Job::Man,
            Some(Command::Status(args)) => Job::Status(StatusConfig::from_args(args, flags, env)?),
            Some(Command::Rollback(args)) => Job::Rollback(RollbackConfig::from_args(args, env)?),
            Some(Command::Promote(args)) => Job::Promote(PromoteConfig::from_args(args, env)?),
            Some(Command::Deploy(args)) => Job::Deploy(deploy(args, invocation(cli, release, argv), env)?),
            None => Job::Deploy(deploy(&cli.deploy, invocation(cli, release, argv), env)?),
        })
    }
}

/// How this run was invoked: its command line, the AWS flags given, its release file.
fn invocation(cli: &Cli, release: Option<ReleaseFile>, argv: Vec<String>) -> Invocation {
    Invocation { argv, flags: given_flags(&cli.global), release }
}

fn deploy(args: &crate::cli::DeployArgs, invocation: Invocation, env: Env) -> Result<Box<DeployConfig>> {
    Ok(Box::new(DeployConfig::from_args_in(args, env, invocation)?))
}
