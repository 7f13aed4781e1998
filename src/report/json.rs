//! Events as JSON, one object per line on stdout with `--output json`; and `status` as one object.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::Event;
use crate::gates::Tally;
use crate::gates::alarms::AlarmState;
use crate::routing::Routing;
use crate::status::{InFlight, StatusReport};
use crate::strategy::Step;
use crate::text::{rfc3339, rfc3339_seconds};

/// The line for `event`: its kind, when it came (`timestamp`, and `elapsed_seconds` since the
/// start), the state machine it concerns (`state_machine`: null for an event about a whole
/// release; the event's own when it names one), then its own fields.
pub fn line(event: &Event, now: SystemTime, elapsed: Duration, member: Option<&str>) -> Value {
    let mut line = json!({
        "event": event.kind(),
        "timestamp": rfc3339(now),
        "elapsed_seconds": (elapsed.as_millis() as f64) / 1000.0,
    });
    if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields(event)) {
        line.insert("state_machine".into(), json!(member));
        line.extend(fields);
    }
    line
}

/// `[{"version": ARN, "weight": 90}, ...]`
pub fn routing(routing: &Routing) -> Value {
    routing.entries().iter().map(|(version, weight)| json!({"version": version, "weight": weight})).collect()
}

/// `[{"name": ..., "state": "OK", "composite": false}, ...]`
pub fn alarms(states: &[AlarmState]) -> Value {
    states.iter().map(|a| json!({"name": a.name, "state": a.state, "composite": a.composite})).collect()
}

fn steps_json(steps: &[Step]) -> Value {
    steps.iter().map(|s| json!({"weight": s.weight, "hold_seconds": s.hold.as_secs_f64()})).collect()
}

/// The event's own fields as JSON (see [`line`] for the rest).
pub fn fields(event: &Event) -> Value {
    match event {
        Event::Started {
            state_machine,
            alias,
            old_version,
            new_version,
            strategy,
            steps,
            planned,
            from_weight,
        } => {
            json!({
                "state_machine": state_machine, "alias": alias, "old_version": old_version,
                "new_version": new_version, "strategy": strategy, "steps": steps_json(steps),
                "planned_seconds": planned.as_secs_f64(),
                "planned_end": rfc3339(SystemTime::now() + *planned),
                "from_weight": from_weight,
            })
        }
        Event::Paused { alias, old_version, new_version, weight, resume_command, rollback_command } => {
            json!({
                "alias": alias, "old_version": old_version, "new_version": new_version,
                "new_weight": weight,
                "routing": Routing::shifted(old_version, new_version, *weight).entries().iter()
                    .map(|(version, weight)| json!({"version": version, "weight": weight}))
                    .collect::<Vec<_>>(),
                "resume_command": resume_command, "rollback_command": rollback_command,
            })
        }
        Event::Planned {
            state_machine,
            alias,
            old_version,
            new_version,
            action,
            strategy,
            steps,
            planned,
            alarms,
            would_prune,
        } => json!({
            "state_machine": state_machine, "alias": alias, "old_version": old_version,
            "new_version": new_version, "action": action, "strategy": strategy,
            "steps": steps_json(steps), "planned_seconds": planned.as_secs_f64(),
            "alarms": alarms, "would_prune": would_prune,
        }),
        Event::Uploaded { file } => json!({"file": file}),
        Event::Published { version, file } => json!({"version": version, "file": file}),
        Event::AliasCreated { alias, version }
        | Event::NothingToDo { alias, version }
        | Event::Completed { alias, version } => {
            json!({"alias": alias, "version": version})
        }
        Event::WeightsChanged { step, steps, old_version, new_version, new_weight, hold, remaining } => {
            json!({
                "step": step, "steps": steps,
                "routing": Routing::shifted(old_version, new_version, *new_weight).entries().iter()
                    .map(|(version, weight)| json!({"version": version, "weight": weight}))
                    .collect::<Vec<_>>(),
                "new_weight": new_weight, "hold_seconds": hold.as_secs_f64(),
                "remaining_seconds": remaining.as_secs_f64(),
            })
        }
        Event::AlarmsPolled { states } => json!({
            "alarms": alarms(states),
        }),
        Event::SignalReadFailed { signal, cause, error, unmonitored, throttled } => json!({
            "signal": signal,
            "cause": cause.name().replace(' ', "_"),
            "error": error,
            "unmonitored_seconds": unmonitored.as_secs_f64(),
            "throttled_seconds": throttled.as_secs_f64(),
        }),
        Event::AlarmFired { alarms } => json!({"alarms": alarms}),
        Event::ExecutionsRead { reading } => {
            let tally = |t: &Tally| {
                json!({
                    "version": t.version,
                    "finished": t.finished,
                    "failed": t.failed,
                    "running": t.running,
                    "failure_rate": t.rate(),
                    "errors": t.errors,
                    "example": t.example.as_ref().map(|(arn, cause)| json!({"execution": arn, "cause": cause})),
                })
            };
            json!({"new": tally(&reading.new), "old": tally(&reading.old), "old_includes_before": reading.old_includes_before})
        }
        Event::ExecutionsFailed { evidence } => json!({"evidence": evidence}),
        Event::TrafficBypassesAlias { alias, through_alias, other } => {
            json!({"alias": alias, "through_alias": through_alias, "other": other})
        }
        Event::StillRunning { version, executions } => {
            json!({"version": version, "count": executions.len(), "executions": executions})
        }
        Event::DefinitionChanged { old_version, changes } => json!({
            "old_version": old_version,
            "same": changes.is_empty(),
            "summary": changes.to_string(),
            "added": changes.added,
            "removed": changes.removed,
            "changed": changes.changed.iter().map(|(s, f)| json!({"state": s, "fields": f})).collect::<Vec<_>>(),
            "start_at": changes.start_at.as_ref().map(|(o, n)| json!({"old": o, "new": n})),
            "query_language": changes.query_language.as_ref().map(|(o, n)| json!({"old": o, "new": n})),
            "other": changes.other,
            "diff": changes.diff,
        }),
        Event::UnpinnedCall { call } => {
            json!({"state": call.state, "resource": call.resource, "runs": call.runs})
        }
        Event::Rerun { failed, restarted, outcome } => {
            json!({"failed": failed, "restarted": restarted, "outcome": outcome})
        }
        Event::HookStarted { hook, command } => json!({"hook": hook, "command": command}),
        Event::HookFinished { hook, passed, exit_status, end, took } => json!({
            "hook": hook, "passed": passed, "exit_status": exit_status, "end": end,
            "seconds": (took.as_millis() as f64) / 1000.0,
        }),
        Event::RollingBack { reason } => json!({"reason": reason}),
        Event::RolledBack { version, reason } => json!({"version": version, "reason": reason}),
        Event::Pruned { deleted, skipped, stopped_early } => json!({
            "deleted": deleted,
            "skipped": skipped.iter().map(|(v, why)| json!({"version": v, "reason": why})).collect::<Vec<_>>(),
            "stopped_early": stopped_early,
        }),
        Event::Failed { message, exit_code } => {
            json!({"message": message, "exit_code": exit_code.code(), "outcome": exit_code.name()})
        }
    }
}

/// `sfndeploy status --output json`
pub fn status(report: &StatusReport) -> Value {
    json!({
        "state_machine": report.state_machine,
        "alias": report.alias,
        "routing": report.routing.as_ref().map(routing),
        "deploy": report.deploy.as_ref().map(in_flight),
        "versions_total": report.versions_total,
        "versions": report.versions.iter().map(|v| json!({
            "version": v.arn, "created": v.created, "description": v.description, "aliases": v.aliases,
        })).collect::<Vec<_>>(),
        "alarms": report.alarms.as_ref().map(|r| alarms(&r.states)),
        "missing_alarms": report.alarms.as_ref().map(|r| r.missing.clone()).unwrap_or_default(),
    })
}

fn in_flight(deploy: &InFlight) -> Value {
    json!({
        "state": deploy.state.name(),
        "new_version": deploy.new,
        "old_version": deploy.old,
        "new_weight": deploy.weight,
        "step_ends": deploy.due.map(rfc3339_seconds),
        "resume_command": deploy.resume_command,
        "rollback_command": deploy.rollback_command,
    })
}
