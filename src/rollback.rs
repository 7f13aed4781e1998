//! Putting the alias back 100% on the old version, during a deploy or on request
//! (`sfndeploy rollback`), and what to say when that cannot be done.
//! A rollback is retried with backoff for `--rollback-timeout`; if it still fails, or a second
//! signal cuts it short, the message states the routing left behind and the AWS CLI command that
//! restores it.

use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use crate::alias::{self, AliasHandle};
use crate::arn::{StateMachineRef, parse_version, short_version};
use crate::aws::AwsFlags;
use crate::aws::Clients;
use crate::cli::RollbackArgs;
use crate::command_line;
use crate::config;
use crate::env::{env_bool, process_env};
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::note::Record;
use crate::report::{Event, Reporter};
use crate::routing::Routing;
use crate::signals::{Signal, Signals};
use crate::text::human;
use crate::versions::VersionManager;

/// Why traffic is going back to the old version.
#[derive(Clone, Debug)]
pub enum Reason {
    Alarms(Vec<String>),
    /// A health gate on the new version's executions failed: the evidence.
    Executions(String),
    /// The gates still lacked evidence (`what`) after the extension.
    Inconclusive {
        what: String,
        waited: Duration,
    },
    Unmonitored {
        for_: Duration,
        error: String,
    },
    ShiftFailed(String),
    Signal(Signal),
    /// In a release: another member's alias was changed by someone else (the message).
    Conflict(String),
    /// The post-traffic hook failed: what happened.
    Hook(String),
}

impl Reason {
    pub fn describe(&self) -> String {
        match self {
            Reason::Alarms(names) => format!("alarm(s) in ALARM: {}", names.join(", ")),
            Reason::Executions(evidence) => format!("the new version's executions: {evidence}"),
            Reason::Inconclusive { what, waited } => format!(
                "inconclusive: {what}, after waiting {} longer (--max-extension); too little evidence is not \
                 a pass",
                human(*waited)
            ),
            Reason::Unmonitored { for_, error } => {
                format!("the health signals could not be read for {} ({error})", human(*for_))
            }
            Reason::ShiftFailed(e) => format!("changing the weights failed: {e}"),
            Reason::Signal(s) => format!("stopped by {}", s.name()),
            Reason::Conflict(message) => message.clone(),
            Reason::Hook(text) => text.clone(),
        }
    }

    /// The exit code once the rollback succeeded.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Reason::Signal(s) => s.exit_code(),
            Reason::Conflict(_) => ExitCode::Conflict,
            _ => ExitCode::RolledBack,
        }
    }
}

/// Where to roll back to and how hard to try.
pub struct Rollback<'a> {
    pub alias: &'a mut AliasHandle,
    pub old_version: &'a str,
    pub timeout: Duration,
    /// `--region ...` for the printed `aws` command.
    pub aws_cli: &'a AwsFlags,
    pub reporter: &'a Reporter,
    pub signals: &'a mut Signals,
}

impl Rollback<'_> {
    /// Rolls back and returns the error that ends the run: the reason's exit code when the
    /// alias is 100% on the old version again, `RollbackFailed` or `Conflict` when it is not.
    pub async fn run(self, reason: Reason) -> anyhow::Error {
        let Rollback { alias, old_version, timeout, aws_cli, reporter, signals } = self;
        reporter.emit(Event::RollingBack { reason: reason.describe() });
        let target = Routing::single(old_version);
        let restore = command_line::restore(&alias.arn, &target, aws_cli);
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(500);
        // A second signal while a rollback call is in flight does not abandon the call: its
        // answer is what tells where the alias is. We stop right after it returns.
        let mut stopping: Option<Signal> = None;
        loop {
            let err = match attempt(alias, &target, deadline, signals, &mut stopping).await {
                Ok(()) => {
                    reporter.emit(Event::RolledBack {
                        version: old_version.to_string(),
                        reason: reason.describe(),
                    });
                    let stopped = stopping
                        .map(|s| format!(" ({} came during the rollback call; it was let finish)", s.name()))
                        .unwrap_or_default();
                    return Failure::err(
                        stopping.map_or(reason.exit_code(), |s| s.exit_code()),
                        format!(
                            "{}; rolled back alias {} to 100% {}{stopped}",
                            reason.describe(),
                            alias.arn,
                            short_version(old_version)
                        ),
                    );
                }
                Err(e) if exit_code_of(&e) == ExitCode::Conflict => {
                    return Failure::err(
                        ExitCode::Conflict,
                        format!(
                            "{:#}. Rolling back was wanted because {}. To route all traffic back to {}: {restore}",
                            e,
                            reason.describe(),
                            short_version(old_version)
                        ),
                    );
                }
                Err(e) => e,
            };
            if let Some(s) = stopping {
                return abandoned(s, alias, old_version, &restore);
            }
            if Instant::now() + delay > deadline {
                return Failure::err(
                    ExitCode::RollbackFailed,
                    format!(
                        "rolling back failed for {} ({:#}); wanted because {}. Alias {} last routed {}. \
                     To route all traffic back to {}: {restore}",
                        human(timeout),
                        err,
                        reason.describe(),
                        alias.arn,
                        alias.last_known(),
                        short_version(old_version)
                    ),
                );
            }
            tracing::warn!("rollback attempt failed ({err:#}); retrying in {}", human(delay));
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                s = signals.next() => return abandoned(s, alias, old_version, &restore),
            }
            delay = (delay * 2).min(Duration::from_secs(15));
        }
    }
}

/// One rollback call, cut at `deadline`. A signal while it is in flight is noted in `stopping`
/// and the call is let finish: its answer is what tells where the alias is.
async fn attempt(
    alias: &mut AliasHandle,
    target: &Routing,
    deadline: Instant,
    signals: &mut Signals,
    stopping: &mut Option<Signal>,
) -> Result<()> {
    let description = alias.found_description().to_string();
    let call = tokio::time::timeout_at(deadline, alias.restore(target, Some(description)));
    tokio::pin!(call);
    loop {
        tokio::select! {
            r = &mut call => return r.unwrap_or_else(|_| Err(anyhow::anyhow!(
                "UpdateStateMachineAlias had no answer by the end of --rollback-timeout"
            ))),
            s = signals.next(), if stopping.is_none() => {
                tracing::warn!("{}: stopping once the rollback call in flight returns", s.name());
                *stopping = Some(s);
            }
        }
    }
}

/// A second signal while rolling back: stop at once, saying what we know.
fn abandoned(signal: Signal, alias: &AliasHandle, old_version: &str, restore: &str) -> anyhow::Error {
    Failure::err(
        ExitCode::RollbackFailed,
        format!(
            "{} during the rollback: stopped at once. Alias {} last routed {}. \
             To route all traffic back to {}: {restore}",
            signal.name(),
            alias.arn,
            alias.last_known(),
            short_version(old_version)
        ),
    )
}

/// `sfndeploy rollback`: route all traffic to a chosen version, or the one live before the
/// current, for each state machine named (a release's members together). The same checks as a
/// deploy: every member is verified before the first change, and each change is refused if its
/// alias moved since it was read.
pub async fn run(clients: &Clients, args: &RollbackArgs, reporter: &Reporter) -> Result<String> {
    let (state_machines, alias_name) = config::target(&args.target)?;
    if state_machines.len() > 1 && args.to_version.is_some() {
        return Err(Failure::usage(
            "--to-version names one version: with several --state-machine, each goes back to the version \
             live before its current one",
        ));
    }
    let mut plans = Vec::new();
    for state_machine in &state_machines {
        let plan = plan_one(clients, args, state_machine, &alias_name).await;
        match plan {
            Err(e) if state_machines.len() > 1 => {
                return Err(e.context(format!("{state_machine}: nothing was changed")));
            }
            plan => plans.push(plan?),
        }
    }
    let dry_run = args.dry_run || env_bool(&process_env, "SFNDEPLOY_DRY_RUN")?.unwrap_or(false);
    let mut lines = Vec::new();
    for (state_machine, plan) in state_machines.iter().zip(plans) {
        let name = if state_machines.len() > 1 { format!("{state_machine}: ") } else { String::new() };
        let line = match plan {
            Plan::NothingToDo(target) => {
                format!(
                    "{name}Nothing to do: alias {alias_name} already routes 100% to {}",
                    short_version(&target)
                )
            }
            Plan::Change { routing, target, .. } if dry_run => format!(
                "{name}Dry run, nothing changed: would route alias {alias_name} 100% to {} (now {routing})",
                short_version(&target)
            ),
            Plan::Change { mut handle, routing, target, description } => {
                handle.set(&Routing::single(&target), Some(description)).await?;
                reporter
                    .for_member(state_machine.as_str(), state_machines.len() > 1)
                    .emit(Event::RolledBack { version: target.clone(), reason: "sfndeploy rollback".into() });
                format!(
                    "{name}Rolled back alias {alias_name} to 100% {} (was {routing})",
                    short_version(&target)
                )
            }
        };
        lines.push(line);
    }
    Ok(lines.join("\n"))
}

/// What `rollback` will do to one state machine's alias, decided before any change.
enum Plan {
    NothingToDo(String),
    Change { handle: AliasHandle, routing: Routing, target: String, description: String },
}

async fn plan_one(
    clients: &Clients,
    args: &RollbackArgs,
    state_machine: &StateMachineRef,
    alias_name: &str,
) -> Result<Plan> {
    let versions = VersionManager::resolve(clients, state_machine).await?;
    versions.describe().await?;
    let sm_arn = versions.state_machine_arn.clone();
    let found = alias::find_alias(&clients.sfn, &sm_arn, alias_name).await?;
    let read_at = Instant::now();
    let Some(found) = found else {
        return Err(Failure::err(
            ExitCode::Failure,
            format!("alias {alias_name} of {sm_arn} does not exist: there is nothing to roll back"),
        ));
    };
    let routing = found.routing.clone();
    let target = match &args.to_version {
        Some(v) => parse_version(&sm_arn, v).map_err(Failure::usage)?,
        None => previous_version(&routing, &found.description, &sm_arn).ok_or_else(|| {
            Failure::err(
                ExitCode::Failure,
                format!(
                    "alias {alias_name} routes {routing} and sfndeploy has no record of the version live before \
                     it (a deploy by sfndeploy keeps one in the alias description): name the version with \
                     --to-version; nothing was changed"
                ),
            )
        })?,
    };
    versions.check_version_exists(&target).await?;
    if routing.full_version() == Some(target.as_str()) {
        return Ok(Plan::NothingToDo(target));
    }
    let handle = AliasHandle::new(&clients.sfn, &clients.changes, &found, read_at);
    // From one live version to another, the record says which was live before (so a second
    // rollback undoes the first); from a split, no version was: none is named.
    let description = match routing.full_version() {
        Some(current) => Record { live: short_version(&target), before: short_version(current) }
            .description(handle.own_text()),
        None => handle.own_text().to_string(),
    };
    Ok(Plan::Change { handle, routing, target, description })
}

/// The version to go back to: for an alias on one version, the one live before it, as the
/// record sfndeploy keeps in the alias description says (never merely the next older version,
/// which may never have had traffic); for a split alias, the older of its versions (a deploy
/// moves from older to newer).
fn previous_version(routing: &Routing, description: &str, state_machine_arn: &str) -> Option<String> {
    let Some(current) = routing.full_version() else { return routing.oldest_live().map(str::to_string) };
    let record = Record::parse(description).filter(|r| r.live == short_version(current))?;
    parse_version(state_machine_arn, &record.before).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SM: &str = "arn:aws:states:us-east-1:1:stateMachine:sm";

    #[test]
    fn previous_is_the_version_the_record_names() {
        let v = |n: u32| format!("{SM}:{n}");
        let recorded = Record { live: "v7".into(), before: "v4".into() }.description("orders");
        assert_eq!(previous_version(&Routing::single(&v(7)), &recorded, SM), Some(v(4)));
        assert_eq!(
            previous_version(&Routing::single(&v(8)), &recorded, SM),
            None,
            "a record of another version"
        );
        assert_eq!(previous_version(&Routing::single(&v(7)), "orders", SM), None, "no record");
        let split = Routing::shifted(&v(4), &v(9), 30);
        assert_eq!(previous_version(&split, "", SM), Some(v(4)));
    }
}
