//! `sfndeploy rollback`: route all traffic to a chosen version, or the one live before the
//! current, for each state machine named (a release's members together). The rollback during a
//! deploy is the deploy's own (`deploy/stop.rs`).

use anyhow::Result;
use tokio::time::Instant;

use crate::alias::{self, AliasHandle, AliasInfo};
use crate::arn::{StateMachineRef, parse_version, short_version};
use crate::aws::Clients;
use crate::config::RollbackConfig;
use crate::exit_code::{ExitCode, Failure};
use crate::label::Label;
use crate::note::Record;
use crate::report::{Event, Reporter};
use crate::routing::Routing;
use crate::versions::VersionManager;

/// `sfndeploy rollback`: route all traffic to a chosen version, or the one live before the
/// current, for each state machine named (a release's members together). The same checks as a
/// deploy: every member is verified before the first change, and each change is refused if its
/// alias moved since it was read.
pub async fn run(clients: &Clients, cfg: &RollbackConfig, reporter: &Reporter) -> Result<String> {
    let mut plans = Vec::new();
    // A release is taken back in the reverse of the order it went out: the last wave first.
    for target in clients.targets(&cfg.waves).await?.into_iter().rev() {
        for state_machine in &cfg.state_machines {
            let label = Label::member(state_machine.as_str(), target.place.as_deref(), cfg.is_release());
            match plan_one(&target.clients, cfg, state_machine).await {
                Err(e) if label.shown() => return Err(e.context(label.prefix("nothing was changed"))),
                plan => plans.push((label, plan?)),
            }
        }
    }
    let mut lines = Vec::new();
    for (label, plan) in plans {
        lines.push(label.prefix(carry_out(plan, cfg, reporter.for_member(&label)).await?));
    }
    Ok(lines.join("\n"))
}

/// Does what was planned for one alias (or, in a dry run, says it), and says what was done.
async fn carry_out(plan: Plan, cfg: &RollbackConfig, reporter: Reporter) -> Result<String> {
    let alias = &cfg.alias;
    Ok(match plan {
        Plan::NothingToDo(target) => {
            format!("Nothing to do: alias {alias} already routes 100% to {}", short_version(&target))
        }
        Plan::Change { routing, target, .. } if cfg.dry_run => format!(
            "Dry run, nothing changed: would route alias {alias} 100% to {} (now {routing})",
            short_version(&target)
        ),
        Plan::Change { mut handle, routing, target, description } => {
            handle.set(&Routing::single(&target), Some(description)).await?;
            reporter.emit(Event::RolledBack { version: target.clone(), reason: "sfndeploy rollback".into() });
            format!("Rolled back alias {alias} to 100% {} (was {routing})", short_version(&target))
        }
    })
}

/// What `rollback` will do to one state machine's alias, decided before any change.
enum Plan {
    NothingToDo(String),
    Change { handle: Box<AliasHandle>, routing: Routing, target: String, description: String },
}

/// One state machine's alias, read for a subcommand that changes it (`rollback`, `promote`): the
/// state machine (which must exist), the alias as found and when it was read. An alias that
/// does not exist leaves nothing to `verb`.
pub(crate) async fn existing_alias(
    clients: &Clients,
    state_machine: &StateMachineRef,
    alias_name: &str,
    verb: &str,
) -> Result<(VersionManager, AliasInfo, Instant)> {
    let versions = VersionManager::resolve(clients, state_machine).await?;
    versions.describe().await?;
    let sm_arn = &versions.state_machine_arn;
    let found = alias::find_alias(&clients.sfn, sm_arn, alias_name).await?;
    let read_at = Instant::now();
    let Some(found) = found else {
        return Err(Failure::err(
            ExitCode::Failure,
            format!("alias {alias_name} of {sm_arn} does not exist: there is nothing to {verb}"),
        ));
    };
    Ok((versions, found, read_at))
}

async fn plan_one(clients: &Clients, cfg: &RollbackConfig, state_machine: &StateMachineRef) -> Result<Plan> {
    let alias_name = cfg.alias.as_str();
    let (versions, found, read_at) = existing_alias(clients, state_machine, alias_name, "roll back").await?;
    let sm_arn = versions.state_machine_arn.clone();
    let routing = found.routing.clone();
    let target = match &cfg.to_version {
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
    let handle = Box::new(AliasHandle::new(&clients.sfn, &clients.changes, &found, read_at));
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
