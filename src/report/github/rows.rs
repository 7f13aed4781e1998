//! The rows of the step summary: what each event worth a row says, and a row per step with the
//! alarm reads of its hold.

use std::time::Duration;

use crate::arn::short_version;
use crate::report::text::{schedule, short_versions};
use crate::report::{Entry, Event};
use crate::routing::Routing;
use crate::text::{capitalized, clock};

/// `v6 → v7`, or `none → v7`.
pub fn transition(old: &Option<String>, new: &str) -> String {
    format!("{} → {}", old.as_deref().map_or("none".to_string(), short_version), short_version(new))
}

/// The summary table's rows, one or more per event worth a row.
pub fn rows(events: &[&Event]) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = Vec::new();
    for event in events {
        match event {
            Event::Started {
                state_machine,
                alias,
                old_version,
                new_version,
                strategy,
                steps,
                from_weight,
                ..
            } => {
                rows.push(("State machine".into(), format!("`{state_machine}`")));
                rows.push(("Alias".into(), alias.clone()));
                rows.push(("Versions".into(), transition(old_version, new_version)));
                rows.push(("Strategy".into(), format!("{strategy} ({})", schedule(strategy, steps))));
                if *from_weight > 0 {
                    rows.push(("Resumed from".into(), format!("{from_weight}%")));
                }
            }
            Event::Paused {
                old_version,
                new_version,
                weight,
                why,
                resume_command,
                promote_command,
                rollback_command,
                ..
            } => {
                let routing = Routing::shifted(old_version, new_version, *weight);
                rows.push(("Paused at".into(), format!("{routing}, {why}")));
                rows.push(("Continue".into(), format!("`{resume_command}`")));
                rows.push(("Promote now".into(), format!("`{promote_command}`")));
                rows.push(("Roll back".into(), format!("`{rollback_command}`")));
            }
            Event::WindowWait { why, opens_local, .. } => {
                rows.push(("Waited for the window".into(), format!("{why}; until {opens_local}")));
            }
            Event::WaveStarted { wave, waves, targets } => {
                rows.push((format!("Wave {wave} of {waves}"), targets.join(", ")));
            }
            Event::WaveBaking { wave, bake, .. } => {
                rows.push((format!("Wave {wave} baked"), crate::text::human(*bake)));
            }
            Event::WaveBlocked { wave, why, .. } => rows.push((format!("Wave {wave} blocked"), why.clone())),
            Event::WaveDone { wave, .. } => {
                rows.push(("Stopped after".into(), format!("wave {wave} (--stop-after-wave)")));
            }
            Event::GateObserved { would, evidence, at } => rows.push((
                "Gate (observe)".into(),
                match would.as_str() {
                    "roll_back" => format!("would have rolled back at {}: {evidence}", clock(*at)),
                    _ => format!("would have waited for evidence at {}: {evidence}", clock(*at)),
                },
            )),
            Event::AllowedAlarm { alarm, state, at } => {
                let when =
                    if at.is_zero() { "at the start".to_string() } else { format!("at {}", clock(*at)) };
                match rows
                    .iter_mut()
                    .find(|(k, v)| k == "Allowed to fire" && v.starts_with(&format!("{alarm}:")))
                {
                    Some((_, v)) => v.push_str(&format!(", {state} {when}")),
                    None => rows.push(("Allowed to fire".into(), format!("{alarm}: {state} {when}"))),
                }
            }
            Event::Promoted { version, by, .. } => rows.push((
                "Promoted".into(),
                format!(
                    "{} to 100% {}",
                    short_version(version),
                    if by == "hand" {
                        "by hand (sfndeploy promote), during the deploy"
                    } else {
                        "by sfndeploy promote"
                    }
                ),
            )),
            Event::Published { version, .. } => rows.push(("Published".into(), short_version(version))),
            Event::AlarmFired { alarms } => rows.push(("Alarm fired".into(), alarms.join(", "))),
            Event::DefinitionChanged { changes, .. } => rows.push(("Definition".into(), changes.to_string())),
            Event::Rerun { failed, restarted, outcome } => rows.push((
                "Rerun".into(),
                match restarted {
                    Some(r) => format!("`{failed}` → `{r}` ({outcome})"),
                    None => format!("`{failed}`: not started ({outcome})"),
                },
            )),
            Event::UnpinnedCall { call } => rows.push(("Not rolled back".into(), call.to_string())),
            Event::HookFinished { hook, passed, end, .. } => rows.push((
                format!("{} hook", capitalized(hook)),
                format!("{} ({end})", if *passed { "passed" } else { "failed" }),
            )),
            Event::RolledBack { version, reason } => {
                rows.push(("Rolled back".into(), format!("to {} ({reason})", short_version(version))))
            }
            Event::Pruned { deleted, .. } => rows.push((
                "Pruned".into(),
                if deleted.is_empty() { "nothing".into() } else { short_versions(deleted) },
            )),
            _ => {}
        }
    }
    rows
}

/// Per step: when, the weight, and what the alarms said until the next step (the gate at the end
/// of its hold included).
pub fn steps_table(entries: &[Entry]) -> Option<String> {
    struct Row {
        at: Duration,
        label: String,
        reads: usize,
        failed: usize,
        last: String,
    }
    let mut rows: Vec<Row> = Vec::new();
    for entry in entries {
        let t = &entry.at;
        match &entry.event {
            Event::WeightsChanged { step, steps, old_version, new_version, new_weight, .. } => {
                rows.push(Row {
                    at: *t,
                    label: format!(
                        "{step}/{steps}: {}",
                        Routing::shifted(old_version, new_version, *new_weight)
                    ),
                    reads: 0,
                    failed: 0,
                    last: String::new(),
                })
            }
            Event::AlarmsPolled { states } => {
                if let Some(row) = rows.last_mut() {
                    row.reads += 1;
                    row.last = states
                        .iter()
                        .map(|a| format!("{} {}", a.name, a.state))
                        .collect::<Vec<_>>()
                        .join(", ");
                }
            }
            Event::SignalReadFailed { signal, error, .. } if signal == "alarms" => {
                if let Some(row) = rows.last_mut() {
                    row.reads += 1;
                    row.failed += 1;
                    row.last = format!("unread: {error}");
                }
            }
            _ => {}
        }
    }
    if rows.is_empty() {
        return None;
    }
    let mut md = String::from("| Step | At | Alarm reads | Last reading |\n|---|---|---|---|\n");
    for r in rows {
        let reads =
            if r.failed > 0 { format!("{} ({} failed)", r.reads, r.failed) } else { r.reads.to_string() };
        let last = if r.last.is_empty() { "none".to_string() } else { r.last.replace('|', "\\|") };
        md.push_str(&format!("| {} | {} | {reads} | {last} |\n", r.label, clock(r.at)));
    }
    Some(md)
}
