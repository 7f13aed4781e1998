//! Events as the lines a person reads on stderr, and `status` as the text it prints.

use std::fmt;

use super::Event;
use super::event::ReadCause;
use crate::arn::short_version;
use crate::gates::alarms::without_data_warning;
use crate::routing::Routing;
use crate::status::{DeployState, InFlight, StatusReport};
use crate::text::{clock, human, percents, rfc3339_seconds};

/// The steps as a log line gives them: their weights, and with `--steps` of holds of their own,
/// each hold too.
pub fn schedule(strategy: &str, steps: &[crate::strategy::Step]) -> String {
    let own_holds = strategy == "steps" && steps.windows(2).any(|w| w[0].hold != w[1].hold);
    if own_holds { crate::strategy::describe(steps) } else { percents(steps.iter().map(|s| s.weight)) }
}

/// `v3, v4`
pub fn short_versions(arns: &[String]) -> String {
    arns.iter().map(|v| short_version(v)).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Event {
    /// One line for a person reading stderr.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = match self {
            Event::Started { alias, old_version: Some(old), new_version, from_weight: 100, .. } => format!(
                "alias {alias} is on {} already (from {}, an earlier wave of this release): watched again, and \
                 rolled back with the rest",
                short_version(new_version),
                short_version(old)
            ),
            Event::Started {
                alias, old_version, new_version, strategy, steps, planned, from_weight, ..
            } => format!(
                "{} {} to alias {alias}{}: {strategy}, {} step(s) ({}), about {} of holds",
                if *from_weight > 0 { "resuming the deploy of" } else { "deploying" },
                short_version(new_version),
                match (old_version, from_weight) {
                    (Some(o), 0) => format!(" (from {})", short_version(o)),
                    (Some(o), w) => format!(" (from {}, at {w}% now)", short_version(o)),
                    (None, _) => String::new(),
                },
                steps.len(),
                schedule(strategy, steps),
                human(*planned),
            ),
            Event::Planned { action, .. } => format!("dry run: {action}"),
            Event::Paused { alias, old_version, new_version, weight, why, .. } => format!(
                "paused: alias {alias} routes {}, {why}",
                Routing::shifted(old_version, new_version, *weight)
            ),
            Event::WindowWait { why, opens_local, .. } => {
                format!("{why}: waiting for the next opening, {opens_local} (--window-wait)")
            }
            Event::WaveStarted { wave, waves, targets } => {
                format!("wave {wave} of {waves} starts: {}", targets.join(", "))
            }
            Event::WaveBaking { wave, waves, bake } => format!(
                "wave {wave} of {waves} is at 100%: baking {}, watching every target moved so far",
                human(*bake)
            ),
            Event::WaveBlocked { wave, why, waited } if waited.is_zero() => {
                format!("wave {wave} is blocked: {why}; waiting for it to clear (--blocker-wait)")
            }
            Event::WaveBlocked { wave, why, waited } => {
                format!("wave {wave} is still blocked after {}: {why}", human(*waited))
            }
            Event::WaveDone { wave, waves, resume_command } => format!(
                "wave {wave} of {waves} baked: stopping here (--stop-after-wave {wave}). To go on: {resume_command}"
            ),
            Event::GateObserved { would, evidence, at } => match would.as_str() {
                "roll_back" => format!(
                    "gate (observe): would have rolled back at {}: {evidence}; going on (--gate-mode observe)",
                    clock(*at)
                ),
                _ => format!("gate (observe): would have waited for evidence at {}: {evidence}", clock(*at)),
            },
            Event::AllowedAlarm { alarm, state, at } if at.is_zero() => format!(
                "alarm {alarm} is {state} and allowed to fire (--allow-firing): only a new transition into \
                 ALARM rolls back"
            ),
            Event::AllowedAlarm { alarm, state, at } => {
                format!("alarm {alarm} (allowed to fire) is now {state}, at {}", clock(*at))
            }
            Event::Promoted { alias, version, from, by } => match by.as_str() {
                "hand" => format!(
                    "alias {alias} was promoted by hand (sfndeploy promote) to 100% {}: the deploy ends here",
                    short_version(version)
                ),
                _ => format!("promoted alias {alias} to 100% {} (was {from})", short_version(version)),
            },
            Event::Uploaded { file } => format!("uploaded {file} as the latest revision"),
            Event::Published { version, file } => match file {
                Some(f) => format!("published {f} as {}", short_version(version)),
                None => format!("published the current revision as {}", short_version(version)),
            },
            Event::AliasCreated { alias, version } => format!(
                "created alias {alias} routing 100% to {} (first version: nothing to roll back to)",
                short_version(version)
            ),
            Event::NothingToDo { alias, version } => {
                format!("alias {alias} already routes 100% to {}: nothing to do", short_version(version))
            }
            Event::WeightsChanged { step, steps, old_version, new_version, new_weight, hold, remaining } => {
                let routing = Routing::shifted(old_version, new_version, *new_weight).to_string();
                if hold.is_zero() {
                    format!("step {step}/{steps}: {routing}")
                } else {
                    format!(
                        "step {step}/{steps}: {routing}; holding {}, {} left",
                        human(*hold),
                        human(*remaining)
                    )
                }
            }
            Event::AlarmsPolled { states } => {
                let mut text = format!(
                    "alarms: {}",
                    states.iter().map(|a| format!("{} {}", a.name, a.state)).collect::<Vec<_>>().join(", ")
                );
                if let Some(warning) = without_data_warning(states) {
                    text.push_str(&format!(" ({warning})"));
                }
                text
            }
            Event::SignalReadFailed { signal, cause, error, unmonitored, throttled } => {
                let blind = match cause {
                    ReadCause::Throttled => format!("throttled for {}: polling slower", human(*throttled)),
                    _ => format!("unmonitored for {}", human(*unmonitored)),
                };
                format!("could not read {signal} ({}: {error}); {blind}", cause.name())
            }
            Event::AlarmFired { alarms } => format!("alarm in ALARM: {}", alarms.join(", ")),
            Event::ExecutionsRead { reading } => format!("executions through the alias: {reading}"),
            Event::ExecutionsFailed { evidence } => format!("health gate failed: {evidence}"),
            Event::TrafficBypassesAlias { alias, through_alias, other } => format!(
                "of the state machine's {} most recent executions, {other} did not come through alias {alias}: \
                 its weights do not move them, so the gates see only the {through_alias} that did",
                through_alias + other
            ),
            Event::StillRunning { version, executions } => format!(
                "{} execution(s) of {} still running: they keep running it after the rollback",
                executions.len(),
                short_version(version)
            ),
            Event::DefinitionChanged { old_version, changes } if changes.is_empty() => format!(
                "same definition as {}: this deploy changes nothing in the state machine",
                short_version(old_version)
            ),
            Event::DefinitionChanged { old_version, changes } => {
                format!("definition, from {}: {changes}", short_version(old_version))
            }
            Event::UnpinnedCall { call } => call.to_string(),
            Event::Rerun { failed, restarted: Some(restarted), outcome } => {
                format!("rerun ({outcome}): {failed} → {restarted}")
            }
            Event::Rerun { failed, outcome, .. } => format!("not rerun ({outcome}): {failed}"),
            Event::HookStarted { hook, command } => format!("{hook} hook: {command}"),
            Event::HookFinished { hook, passed: true, end, .. } => format!("{hook} hook passed ({end})"),
            Event::HookFinished { hook, end, .. } => format!("{hook} hook failed: {end}"),
            Event::RollingBack { reason } => format!("rolling back: {reason}"),
            Event::RolledBack { version, reason } => {
                format!("rolled back: 100% on {} ({reason})", short_version(version))
            }
            Event::Completed { alias, version } => {
                format!("alias {alias} routes 100% to {}", short_version(version))
            }
            Event::Pruned { deleted, skipped, stopped_early } => format!(
                "pruned {} version(s){}{}{}",
                deleted.len(),
                if deleted.is_empty() { String::new() } else { format!(" ({})", short_versions(deleted)) },
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(", kept {} an alias took meanwhile", skipped.len())
                },
                if *stopped_early { ", stopped early by a signal" } else { "" },
            ),
            Event::Failed { message, .. } => message.clone(),
        };
        f.write_str(&line)
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((wave, waves)) = self.wave {
            let (region, account) = self.region_account();
            writeln!(f, "Wave {wave} of {waves}: region {region}, account {account}")?;
        }
        writeln!(f, "State machine {}", self.state_machine)?;
        match &self.routing {
            Some(routing) => write!(f, "Alias {}: {routing}", self.alias)?,
            None => write!(f, "Alias {}: does not exist (a deploy creates it)", self.alias)?,
        }
        if let Some(deploy) = &self.deploy {
            write!(f, "\n{deploy}")?;
        }
        write!(f, "\nVersions ({} of {}, newest first):", self.versions.len(), self.versions_total)?;
        for v in &self.versions {
            let used =
                if v.aliases.is_empty() { String::new() } else { format!("  [{}]", v.aliases.join(", ")) };
            let description =
                if v.description.is_empty() { String::new() } else { format!("  {}", v.description) };
            write!(f, "\n  {:>6}  {}{used}{description}", short_version(&v.arn), v.created)?;
        }
        if let Some(report) = &self.alarms {
            f.write_str("\nAlarms:")?;
            for a in &report.states {
                let kind = if a.composite { "composite" } else { "metric" };
                write!(f, "\n  {}  {} ({kind})", a.name, a.state)?;
            }
            for name in &report.missing {
                write!(f, "\n  {name}  not found")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for InFlight {
    /// What the deploy is doing, and the two commands that continue it or roll it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (new, weight) = (short_version(&self.new), self.weight);
        let due = self.due.map(rfc3339_seconds).unwrap_or_default();
        match self.state {
            DeployState::InProgress => {
                write!(f, "A deploy of {new} is in progress at {weight}%: its current step ends at {due}.")?
            }
            DeployState::Paused => write!(f, "A deploy of {new} is paused at {weight}% since {due}.")?,
            DeployState::Interrupted => write!(
                f,
                "A deploy of {new} was interrupted at {weight}%: its next step was due at {due} and never came."
            )?,
            DeployState::Unknown => write!(
                f,
                "The alias is split, {new} at {weight}%, but no sfndeploy deploy is recorded on it (changed by \
                 hand or by another tool)."
            )?,
        }
        write!(
            f,
            "\n  To continue (with the deploy's own strategy and alarm flags): {}\n  To roll back to {}: {}",
            self.resume_command,
            short_version(&self.old),
            self.rollback_command
        )
    }
}
