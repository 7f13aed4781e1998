//! `sfndeploy status`: what the alias serves, the newest versions, and the alarms' states.
//! Read-only.

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::json;

use crate::alarms::AlarmChecker;
use crate::alias::short_version;
use crate::aws::{AwsResultExt, Clients};
use crate::cli::{OutputFormat, StatusArgs};
use crate::config;
use crate::versions::VersionManager;

pub async fn status(clients: &Clients, args: &StatusArgs, format: OutputFormat) -> Result<String> {
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
    let found = aliases.iter().find(|(name, _)| *name == alias_name).map(|(_, routing)| routing);

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
            .filter(|(_, routing)| routing.weight_of(arn) > 0)
            .map(|(name, routing)| format!("{name} {}%", routing.weight_of(arn)))
            .collect();
        shown.push((arn.clone(), created, description, used_by));
    }

    if format == OutputFormat::Json {
        let value = json!({
            "state_machine": sm_arn,
            "alias": alias_name,
            "routing": found.map(|r| r.entries().iter()
                .map(|(v, w)| json!({"version": v, "weight": w})).collect::<Vec<_>>()),
            "versions_total": all.len(),
            "versions": shown.iter().map(|(arn, created, description, used_by)| json!({
                "version": arn, "created": created, "description": description, "aliases": used_by,
            })).collect::<Vec<_>>(),
            "alarms": report.as_ref().map(|r| r.states.iter()
                .map(|a| json!({"name": a.name, "state": a.state, "composite": a.composite})).collect::<Vec<_>>()),
            "missing_alarms": report.as_ref().map(|r| checker.missing(r)).unwrap_or_default(),
        });
        return Ok(value.to_string());
    }

    let mut out = String::new();
    writeln!(out, "State machine {sm_arn}")?;
    match found {
        Some(routing) => writeln!(out, "Alias {alias_name}: {routing}")?,
        None => writeln!(out, "Alias {alias_name}: does not exist (a deploy creates it)")?,
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
        for name in checker.missing(report) {
            writeln!(out, "  {name}  not found")?;
        }
    }
    Ok(out.trim_end().to_string())
}
