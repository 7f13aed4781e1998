//! `sfndeploy promote`: finish a deploy now. An alias that sfndeploy split (a deploy paused, or
//! one still running) goes 100% to the new version its marker names, after one fresh read of the
//! alarms named; the record it writes is the one `rollback` reads, so `rollback` afterwards goes
//! back to the version live before. A running deploy that then finds its version at 100% ends
//! as a success (see `deploy/executor.rs`).

use anyhow::Result;

use crate::alias::AliasHandle;
use crate::arn::{StateMachineRef, short_version};
use crate::aws::{Clients, Reached};
use crate::config::PromoteConfig;
use crate::exit_code::{ExitCode, Failure};
use crate::gates::alarms::AlarmChecker;
use crate::label::Label;
use crate::note::{Marker, Record};
use crate::report::{Event, Reporter};
use crate::rollback::existing_alias;
use crate::routing::Routing;
use crate::text::quoted_names;

/// Promotes each state machine's alias (a release's members together): every alias is checked,
/// and the alarms read, before the first change; each change is refused if its alias moved
/// since it was read.
pub async fn run(clients: &Clients, cfg: &PromoteConfig, reporter: &Reporter) -> Result<String> {
    let mut plans = Vec::new();
    let targets = clients.targets(&cfg.waves).await?;
    for target in &targets {
        for state_machine in &cfg.state_machines {
            let label = Label::member(state_machine.as_str(), target.place.as_deref(), cfg.is_release());
            match plan_one(&target.clients, cfg, state_machine).await {
                Err(e) if label.shown() => return Err(e.context(label.prefix("nothing was changed"))),
                plan => plans.push((label, plan?)),
            }
        }
    }
    same_release(&plans)?;
    if plans.iter().any(|(_, p)| matches!(p, Plan::Change { .. })) {
        check_alarms(&targets, cfg).await?;
    }
    let mut lines = Vec::new();
    for (label, plan) in plans {
        lines.push(label.prefix(carry_out(plan, cfg, reporter.for_member(&label)).await?));
    }
    Ok(lines.join("\n"))
}

/// What `promote` will do to one alias, decided before any change.
enum Plan {
    NothingToDo(String),
    Change { handle: Box<AliasHandle>, routing: Routing, new: String, old: String, release: Option<String> },
}

async fn plan_one(clients: &Clients, cfg: &PromoteConfig, state_machine: &StateMachineRef) -> Result<Plan> {
    let alias_name = cfg.alias.as_str();
    let (_, found, read_at) = existing_alias(clients, state_machine, alias_name, "promote").await?;
    let routing = found.routing.clone();
    if let Some(version) = routing.full_version() {
        return Ok(Plan::NothingToDo(version.to_string()));
    }
    let not_ours = |why: String| {
        Failure::err(
            ExitCode::Failure,
            format!(
                "alias {alias_name} routes {routing}, {why}: promote finishes a deploy sfndeploy split (paused or in \
                 progress); to route all traffic to one version, use sfndeploy rollback --to-version N. Nothing \
                 was changed"
            ),
        )
    };
    let Some(marker) = Marker::parse(&found.description) else {
        return Err(not_ours("and no sfndeploy deploy is recorded on it".into()));
    };
    let new =
        routing.entries().iter().map(|(v, _)| v.clone()).find(|v| short_version(v) == marker.new_version);
    let Some(new) = new else {
        return Err(not_ours(format!(
            "but sfndeploy's marker names {}, which it does not route to",
            marker.new_version
        )));
    };
    let old = routing.entries().iter().map(|(v, _)| v.clone()).find(|v| *v != new).unwrap_or_default();
    let handle = Box::new(AliasHandle::new(&clients.sfn, &clients.changes, &found, read_at));
    Ok(Plan::Change { handle, routing, new, old, release: marker.release })
}

/// Several state machines promoted together are one release's members, or none is changed.
fn same_release(plans: &[(Label, Plan)]) -> Result<()> {
    let releases: std::collections::BTreeSet<Option<&str>> = plans
        .iter()
        .filter_map(|(_, p)| match p {
            Plan::Change { release, .. } => Some(release.as_deref()),
            Plan::NothingToDo(_) => None,
        })
        .collect();
    if releases.len() > 1 {
        return Err(Failure::err(
            ExitCode::Failure,
            "these aliases were split by different deploys, not one release: promote each on its own; nothing \
             was changed",
        ));
    }
    Ok(())
}

/// One fresh read of the alarms named (in each target, with `--wave`): one missing, or one in
/// ALARM (unless `--force`), refuses.
async fn check_alarms(targets: &[Reached], cfg: &PromoteConfig) -> Result<()> {
    if cfg.alarms.is_empty() {
        return Ok(());
    }
    let checker =
        AlarmChecker::each(targets.iter().map(|t| (&t.clients.cloudwatch, t.place.as_deref())), &cfg.alarms);
    let report = checker.read().await?;
    report.all_found()?;
    let firing = report.firing();
    if firing.is_empty() {
        return Ok(());
    }
    if cfg.force {
        tracing::warn!("alarm {} is in ALARM: promoting anyway, as --force asks", quoted_names(&firing));
        return Ok(());
    }
    Err(Failure::err(
        ExitCode::Failure,
        format!(
            "alarm {} is in ALARM: promoting now would give the new version all the traffic while it fires; \
             nothing was changed (--force promotes anyway)",
            quoted_names(&firing)
        ),
    ))
}

/// Does what was planned for one alias (or, in a dry run, says it), and says what was done.
async fn carry_out(plan: Plan, cfg: &PromoteConfig, reporter: Reporter) -> Result<String> {
    let alias = &cfg.alias;
    Ok(match plan {
        Plan::NothingToDo(version) => {
            format!("Nothing to promote: alias {alias} already routes 100% to {}", short_version(&version))
        }
        Plan::Change { routing, new, .. } if cfg.dry_run => format!(
            "Dry run, nothing changed: would route alias {alias} 100% to {} (now {routing})",
            short_version(&new)
        ),
        Plan::Change { mut handle, routing, new, old, .. } => {
            // The record rollback reads: live now, and the version live before the deploy.
            let description = Record { live: short_version(&new), before: short_version(&old) }
                .description(handle.own_text());
            handle.set(&Routing::single(&new), Some(description)).await?;
            reporter.emit(Event::Promoted {
                alias: alias.clone(),
                version: new.clone(),
                from: routing.to_string(),
                by: "promote".into(),
            });
            format!(
                "Promoted alias {alias} to 100% {} (was {routing}); sfndeploy rollback goes back to {}",
                short_version(&new),
                short_version(&old)
            )
        }
    })
}
