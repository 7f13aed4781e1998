//! `sfndeploy status`: what the alias serves, the newest versions, and the alarms' states.
//! Read-only.

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::json;

use crate::alarms::AlarmChecker;
use std::time::{Duration, SystemTime};

use crate::alias::{AliasInfo, Marker, short_version};
use crate::aws::{AwsResultExt, Clients};
use crate::cli::{OutputFormat, StatusArgs};
use crate::plan::{self, Decision, Target};
use crate::versions::VersionManager;
use crate::{commands, config};

pub async fn status(
    clients: &Clients,
    args: &StatusArgs,
    format: OutputFormat,
    global_flags: &[String],
) -> Result<String> {
    let (state_machine, alias_name) = config::target(&args.target)?;
    let alarm_names = config::alarm_names(&args.alarms)?;
    let versions = VersionManager::resolve(clients, &state_machine).await?;
    versions.describe().await?;
    let sm_arn = versions.state_machine_arn.clone();
    let checker = AlarmChecker::new(&clients.cloudwatch, &alarm_names);
    let read_alarms = async { if checker.is_empty() { Ok(None) } else { checker.read().await.map(Some) } };
    let (all, report, aliases) =
        tokio::try_join!(versions.all_versions(), read_alarms, versions.aliases_with_routing())?;
    // Every alias is read anyway (to show which versions they use): the named one is among them.
    let found = aliases.iter().find(|(name, _)| *name == alias_name).map(|(_, alias)| alias);
    let sm_text = args.target.state_machine.as_deref().unwrap_or_default().trim();
    let in_flight =
        found.and_then(|a| InFlight::of(a, SystemTime::now(), sm_text, &alias_name, global_flags));

    let mut shown = Vec::new();
    for arn in all.iter().take(args.versions) {
        let v = clients
            .sfn
            .describe_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .aws_context(|| format!("reading version {arn}"))?;
        let created = v.creation_date().to_string();
        let description = v.description().unwrap_or_default().to_string();
        let used_by: Vec<String> = aliases
            .iter()
            .filter(|(_, alias)| alias.routing.weight_of(arn) > 0)
            .map(|(name, alias)| format!("{name} {}%", alias.routing.weight_of(arn)))
            .collect();
        shown.push((arn.clone(), created, description, used_by));
    }

    if format == OutputFormat::Json {
        let value = json!({
            "state_machine": sm_arn,
            "alias": alias_name,
            "routing": found.map(|a| a.routing.entries().iter()
                .map(|(v, w)| json!({"version": v, "weight": w})).collect::<Vec<_>>()),
            "deploy": in_flight.as_ref().map(InFlight::json),
            "versions_total": all.len(),
            "versions": shown.iter().map(|(arn, created, description, used_by)| json!({
                "version": arn, "created": created, "description": description, "aliases": used_by,
            })).collect::<Vec<_>>(),
            "alarms": report.as_ref().map(|r| r.states.iter()
                .map(|a| json!({"name": a.name, "state": a.state, "composite": a.composite})).collect::<Vec<_>>()),
            "missing_alarms": report.as_ref().map(|r| r.missing.clone()).unwrap_or_default(),
        });
        return Ok(value.to_string());
    }

    let mut out = String::new();
    writeln!(out, "State machine {sm_arn}")?;
    match found {
        Some(alias) => writeln!(out, "Alias {alias_name}: {}", alias.routing)?,
        None => writeln!(out, "Alias {alias_name}: does not exist (a deploy creates it)")?,
    }
    if let Some(in_flight) = &in_flight {
        writeln!(out, "{}", in_flight.text())?;
    }
    writeln!(out, "Versions ({} of {}, newest first):", shown.len(), all.len())?;
    for (arn, created, description, used_by) in &shown {
        let used = if used_by.is_empty() { String::new() } else { format!("  [{}]", used_by.join(", ")) };
        let description = if description.is_empty() { String::new() } else { format!("  {description}") };
        writeln!(out, "  {:>6}  {created}{used}{description}", short_version(arn))?;
    }
    if let Some(report) = &report {
        writeln!(out, "Alarms:")?;
        for a in &report.states {
            let kind = if a.composite { "composite" } else { "metric" };
            writeln!(out, "  {}  {} ({kind})", a.name, a.state)?;
        }
        for name in &report.missing {
            writeln!(out, "  {name}  not found")?;
        }
    }
    Ok(out.trim_end().to_string())
}

/// A deploy whose next step is overdue by more than this is taken as interrupted: gates may hold
/// a step a little past its time (a slow or failed alarm read), a stopped process holds it for
/// ever.
const OVERDUE: Duration = Duration::from_secs(5 * 60);

/// Where a deploy that left the alias split stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeployState {
    /// Its hold is running (or only just overdue).
    InProgress,
    /// Stopped at `--pause-at`, on purpose.
    Paused,
    /// Its next step is long overdue: the process was stopped (a killed CI runner).
    Interrupted,
    /// Split without a marker of ours: by hand, by another tool, or by an older sfndeploy.
    Unknown,
}

impl DeployState {
    fn name(self) -> &'static str {
        match self {
            DeployState::InProgress => "in_progress",
            DeployState::Paused => "paused",
            DeployState::Interrupted => "interrupted",
            DeployState::Unknown => "unknown",
        }
    }
}

/// A split alias, explained: which deploy, where it stands, and the commands that resolve it.
#[derive(Debug)]
struct InFlight {
    state: DeployState,
    old: String,
    new: String,
    weight: u8,
    due: Option<SystemTime>,
    resume_command: String,
    rollback_command: String,
}

impl InFlight {
    /// None when the alias is on one version.
    fn of(alias: &AliasInfo, now: SystemTime, sm: &str, alias_name: &str, global: &[String]) -> Option<Self> {
        let routing = &alias.routing;
        if routing.full_version().is_some() {
            return None;
        }
        let marker = Marker::parse(&alias.description);
        // The version being deployed: as the marker says, else the newer one (deploys go forward).
        let new = marker
            .as_ref()
            .and_then(|m| routing.live().into_iter().find(|(a, _)| short_version(a) == m.new_version))
            .map(|(a, _)| a)
            .or_else(|| routing.newest_live().map(str::to_string))?;
        let opts = plan::Options { resume: true, ..Default::default() };
        let Decision::Shift(shift) = plan::decide(Some(routing), &Target::Known(new.clone()), &[], opts)
        else {
            return None;
        };
        let state = match &marker {
            None => DeployState::Unknown,
            Some(m) if m.pausing && now >= m.due => DeployState::Paused,
            Some(m) if now <= m.due + OVERDUE => DeployState::InProgress,
            Some(_) => DeployState::Interrupted,
        };
        Some(InFlight {
            state,
            weight: shift.from_weight,
            due: marker.map(|m| m.due),
            resume_command: commands::resume_command(&[], sm, alias_name, global),
            rollback_command: commands::rollback_command(sm, alias_name, &shift.old, global),
            old: shift.old,
            new,
        })
    }

    fn text(&self) -> String {
        let (new, weight) = (short_version(&self.new), self.weight);
        let due = self.due.map(|d| humantime::format_rfc3339_seconds(d).to_string()).unwrap_or_default();
        let what = match self.state {
            DeployState::InProgress => {
                format!("A deploy of {new} is in progress at {weight}%: its current step ends at {due}.")
            }
            DeployState::Paused => {
                format!("A deploy of {new} is paused at {weight}% (--pause-at) since {due}.")
            }
            DeployState::Interrupted => format!(
                "A deploy of {new} was interrupted at {weight}%: its next step was due at {due} and never came."
            ),
            DeployState::Unknown => format!(
                "The alias is split, {new} at {weight}%, but no sfndeploy deploy is recorded on it (changed by \
                 hand or by another tool)."
            ),
        };
        format!(
            "{what}\n  To continue (with the deploy's own strategy and alarm flags): {}\n  To roll back to {}: {}",
            self.resume_command,
            short_version(&self.old),
            self.rollback_command
        )
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "state": self.state.name(),
            "new_version": self.new,
            "old_version": self.old,
            "new_weight": self.weight,
            "step_ends": self.due.map(|d| humantime::format_rfc3339_seconds(d).to_string()),
            "resume_command": self.resume_command,
            "rollback_command": self.rollback_command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alias::Routing;

    const SM: &str = "arn:aws:states:us-east-1:1:stateMachine:orders";

    fn split(description: &str) -> AliasInfo {
        AliasInfo {
            arn: format!("{SM}:prod"),
            routing: Routing::shifted(&format!("{SM}:6"), &format!("{SM}:7"), 40),
            description: description.to_string(),
        }
    }

    #[test]
    fn a_split_alias_is_in_progress_paused_or_interrupted() {
        let due = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let marker =
            |pausing| Marker { new_version: "v7".into(), weight: 40, pausing, due }.description(2, 3, "");
        let minute = Duration::from_secs(60);
        let cases = [
            (marker(false), due - minute, DeployState::InProgress),
            (marker(false), due + minute, DeployState::InProgress),
            (marker(false), due + 10 * minute, DeployState::Interrupted),
            (marker(true), due - minute, DeployState::InProgress),
            (marker(true), due + 10 * minute, DeployState::Paused),
            ("orders".to_string(), due, DeployState::Unknown),
        ];
        for (description, now, expected) in cases {
            let f = InFlight::of(&split(&description), now, "orders", "prod", &[]).expect("split");
            assert_eq!(f.state, expected, "{description} at {now:?}");
            assert_eq!((short_version(&f.new).as_str(), f.weight), ("v7", 40));
            assert_eq!(
                f.rollback_command,
                "sfndeploy rollback --state-machine orders --alias prod --to-version 6"
            );
            assert_eq!(f.resume_command, "sfndeploy --state-machine orders --alias prod --resume");
            assert!(f.text().contains(&f.resume_command) && f.text().contains(&f.rollback_command));
        }
        let on_one = AliasInfo { routing: Routing::single(&format!("{SM}:7")), ..split("") };
        assert!(InFlight::of(&on_one, due, "orders", "prod", &[]).is_none());
    }
}
