//! Events as JSON, one object per line on stdout with `--output json` ([`JsonLines`]); and
//! `status` as one object.

use std::io::Write;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use super::Event;
use super::render::{Entry, Render, Said};
use crate::label::Label;
use crate::status::{InFlight, StatusReport};
use crate::text::{rfc3339, rfc3339_seconds};

/// Writes each event as one JSON object on its own line on stdout.
#[derive(Debug)]
pub struct JsonLines;

impl Render for JsonLines {
    fn event(&self, entry: &Entry, said: &Said<'_>) {
        let line = line(&entry.event, SystemTime::now(), entry.at, said);
        let mut out = std::io::stdout().lock();
        // A closed stdout (e.g. `| head`) must not stop a deploy half-way.
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    }
}

/// The line for `event`: its kind, when it came (`timestamp`, and `elapsed_seconds` since the
/// start), the state machine it concerns (`state_machine`: null for an event about a whole
/// release; the event's own when it names one) and, in a release in waves, its target's
/// `region` and `account` (null otherwise), then its own fields.
pub fn line(event: &Event, now: SystemTime, elapsed: Duration, said: &Said<'_>) -> Value {
    let mut line = Map::new();
    line.insert("event".into(), json!(event.kind()));
    line.insert("timestamp".into(), json!(rfc3339(now)));
    line.insert("elapsed_seconds".into(), json!((elapsed.as_millis() as f64) / 1000.0));
    // A target's member is its state machine, as named, and its region and account.
    let place = said.label.and_then(Label::region_account);
    let state_machine = match said.label.filter(|_| place.is_some()) {
        Some(label) => Some(label.as_named()),
        None => said.state_machine,
    };
    line.insert("state_machine".into(), json!(state_machine));
    line.insert("region".into(), json!(place.map(|p| p.0)));
    line.insert("account".into(), json!(place.map(|p| p.1)));
    if let Value::Object(fields) = fields(event) {
        line.extend(fields);
    }
    Value::Object(line)
}

/// The event's own fields as JSON (see [`line`] for the rest).
pub fn fields(event: &Event) -> Value {
    match serde_json::to_value(event) {
        Ok(Value::Object(mut fields)) => {
            fields.shift_remove("event");
            Value::Object(fields)
        }
        // Every event serializes to an object: the derive says so.
        _ => Value::Object(Map::new()),
    }
}

/// `sfndeploy status --output json`
pub fn status(report: &StatusReport) -> Value {
    json!({
        "state_machine": report.state_machine,
        "alias": report.alias,
        "routing": report.routing,
        "deploy": report.deploy.as_ref().map(in_flight),
        "versions_total": report.versions_total,
        "versions": report.versions.iter().map(|v| json!({
            "version": v.arn, "created": v.created, "description": v.description, "aliases": v.aliases,
        })).collect::<Vec<_>>(),
        "alarms": report.alarms.as_ref().map(|r| &r.states),
        "missing_alarms": report.alarms.as_ref().map(|r| r.missing.clone()).unwrap_or_default(),
        "wave": report.wave.map(|(w, _)| w),
        "region": report.region_account().0,
        "account": report.region_account().1,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_is_tagged_with_its_kind() {
        for event in super::super::event::tests::one_of_each() {
            let value = serde_json::to_value(&event).expect("an object");
            assert_eq!(value["event"], event.kind(), "{event:?}");
        }
    }

    #[test]
    fn computed_fields_are_written_as_before() {
        let v = |n: u32| format!("arn:aws:states:us-east-1:1:stateMachine:sm:{n}");
        let changed = Event::WeightsChanged {
            step: 1,
            steps: 2,
            old_version: v(1),
            new_version: v(2),
            new_weight: 10,
            hold: Duration::from_millis(1500),
            remaining: Duration::from_secs(3),
        };
        assert_eq!(
            fields(&changed),
            json!({
                "step": 1, "steps": 2,
                "routing": [{"version": v(1), "weight": 90}, {"version": v(2), "weight": 10}],
                "new_weight": 10, "hold_seconds": 1.5, "remaining_seconds": 3.0,
            })
        );
        let label =
            Label::new("orders@eu-west-1:111111111111", true).at(Some("eu-west-1:111111111111".into()));
        let said = Said { label: Some(&label), state_machine: Some("orders"), before: &[] };
        let line = line(
            &Event::Uploaded { file: "f".into() },
            SystemTime::UNIX_EPOCH,
            Duration::from_millis(1234),
            &said,
        );
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["event", "timestamp", "elapsed_seconds", "state_machine", "region", "account", "file"]
        );
        assert_eq!((&line["region"], &line["account"]), (&json!("eu-west-1"), &json!("111111111111")));
        assert_eq!(line["state_machine"], "orders", "the state machine as named, its target apart");
        assert_eq!(line["elapsed_seconds"], 1.234);
    }
}
