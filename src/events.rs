//! The deploy's event stream. Every step of a deploy is one [`Event`]; the [`Reporter`] renders
//! it as a log line on stderr, and with `--output json` also as one JSON object per line on
//! stdout. Nothing else writes to stdout during a deploy.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::alarms::AlarmState;
use crate::alias::{Routing, short_version};
use crate::cli::OutputFormat;
use crate::exit_code::ExitCode;
use crate::strategy::Step;

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Validation passed and the versions are known; traffic is about to move.
    Started {
        state_machine: String,
        alias: String,
        old_version: Option<String>,
        new_version: String,
        strategy: String,
        /// The steps still to do (a resumed deploy skips those already done).
        steps: Vec<Step>,
        planned: Duration,
        /// The new version's weight at the start: 0, or W when resuming from W.
        from_weight: u8,
    },
    /// `--pause-at`: the pause step's hold is over; the alias stays split on purpose.
    Paused {
        alias: String,
        old_version: String,
        new_version: String,
        weight: u8,
        resume_command: String,
        rollback_command: String,
    },
    /// `--dry-run`: what a real run would do. Nothing was changed.
    Planned {
        state_machine: String,
        alias: String,
        old_version: Option<String>,
        /// None when the run would publish a new version.
        new_version: Option<String>,
        action: String,
        strategy: String,
        steps: Vec<Step>,
        planned: Duration,
        alarms: Vec<String>,
        would_prune: Vec<String>,
    },
    Uploaded {
        file: String,
    },
    Published {
        version: String,
        file: Option<String>,
    },
    AliasCreated {
        alias: String,
        version: String,
    },
    NothingToDo {
        alias: String,
        version: String,
    },
    WeightsChanged {
        step: usize,
        steps: usize,
        old_version: String,
        new_version: String,
        new_weight: u8,
        hold: Duration,
        remaining: Duration,
    },
    AlarmsPolled {
        states: Vec<AlarmState>,
    },
    AlarmReadFailed {
        error: String,
        unmonitored: Duration,
    },
    AlarmFired {
        alarms: Vec<String>,
    },
    /// A read of the health gates: the new and the old version's executions through the alias.
    ExecutionsRead {
        reading: crate::gates::Reading,
    },
    /// A health gate failed: the evidence.
    ExecutionsFailed {
        evidence: String,
    },
    /// Most recent executions did not come through the alias: its weights will not move them.
    TrafficBypassesAlias {
        alias: String,
        through_alias: u32,
        other: u32,
    },
    /// After a rollback: executions of the new version still running (they keep running it).
    StillRunning {
        version: String,
        executions: Vec<String>,
    },
    RollingBack {
        reason: String,
    },
    RolledBack {
        version: String,
        reason: String,
    },
    Completed {
        alias: String,
        version: String,
    },
    Pruned {
        deleted: Vec<String>,
        skipped: Vec<(String, String)>,
        stopped_early: bool,
    },
    Failed {
        message: String,
        exit_code: ExitCode,
    },
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::Paused { .. } => "paused",
            Event::Planned { .. } => "planned",
            Event::Uploaded { .. } => "uploaded",
            Event::Published { .. } => "published",
            Event::AliasCreated { .. } => "alias_created",
            Event::NothingToDo { .. } => "nothing_to_do",
            Event::WeightsChanged { .. } => "weights_changed",
            Event::AlarmsPolled { .. } => "alarms_polled",
            Event::AlarmReadFailed { .. } => "alarm_read_failed",
            Event::AlarmFired { .. } => "alarm_fired",
            Event::ExecutionsRead { .. } => "executions_read",
            Event::ExecutionsFailed { .. } => "executions_failed",
            Event::StillRunning { .. } => "still_running",
            Event::TrafficBypassesAlias { .. } => "traffic_bypasses_alias",
            Event::RollingBack { .. } => "rolling_back",
            Event::RolledBack { .. } => "rolled_back",
            Event::Completed { .. } => "completed",
            Event::Pruned { .. } => "pruned",
            Event::Failed { .. } => "failed",
        }
    }

    /// The event's own fields as JSON (the reporter adds `event`, `timestamp`, `elapsed_seconds`).
    pub fn fields(&self) -> Value {
        let steps_json = |steps: &[Step]| -> Value {
            steps.iter().map(|s| json!({"weight": s.weight, "hold_seconds": s.hold.as_secs_f64()})).collect()
        };
        match self {
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
                "alarms": states.iter().map(|a| json!({"name": a.name, "state": a.state, "composite": a.composite})).collect::<Vec<_>>(),
            }),
            Event::AlarmReadFailed { error, unmonitored } => {
                json!({"error": error, "unmonitored_seconds": unmonitored.as_secs_f64()})
            }
            Event::AlarmFired { alarms } => json!({"alarms": alarms}),
            Event::ExecutionsRead { reading } => {
                let tally = |t: &crate::gates::Tally| {
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

    /// One line for a person reading stderr.
    pub fn text(&self) -> String {
        match self {
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
                steps.iter().map(|s| format!("{}%", s.weight)).collect::<Vec<_>>().join(" → "),
                human(*planned),
            ),
            Event::Planned { action, .. } => format!("dry run: {action}"),
            Event::Paused { alias, old_version, new_version, weight, .. } => format!(
                "paused: alias {alias} routes {} as --pause-at asked",
                Routing::shifted(old_version, new_version, *weight)
            ),
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
                if let Some(warning) = crate::alarms::without_data_warning(states) {
                    text.push_str(&format!(" ({warning})"));
                }
                text
            }
            Event::AlarmReadFailed { error, unmonitored } => {
                format!("could not read alarms ({error}); unmonitored for {}", human(*unmonitored))
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
                if deleted.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", deleted.iter().map(|v| short_version(v)).collect::<Vec<_>>().join(", "))
                },
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(", kept {} an alias took meanwhile", skipped.len())
                },
                if *stopped_early { ", stopped early by a signal" } else { "" },
            ),
            Event::Failed { message, .. } => message.clone(),
        }
    }
}

/// `2m30s`, `45s`, `1.5s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10_000 && !ms.is_multiple_of(1000) {
        return format!("{:.1}s", d.as_secs_f64());
    }
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string().replace(' ', "")
}

/// Time since the start as people read it at a glance: `03:07`, or `1:02:03` past an hour.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s / 3600 {
        0 => format!("{:02}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Where events go.
#[derive(Clone, Debug)]
pub struct Reporter {
    format: OutputFormat,
    start: tokio::time::Instant,
    recorded: Arc<Mutex<Vec<Event>>>,
    /// When each recorded event came, since the start.
    times: Arc<Mutex<Vec<Duration>>>,
}

impl Reporter {
    pub fn new(format: OutputFormat) -> Self {
        Reporter {
            format,
            start: tokio::time::Instant::now(),
            recorded: Arc::default(),
            times: Arc::default(),
        }
    }

    /// A text reporter and its event log, for tests.
    pub fn recording() -> (Self, Arc<Mutex<Vec<Event>>>) {
        let reporter = Reporter::new(OutputFormat::Text);
        let events = reporter.recorded.clone();
        (reporter, events)
    }

    /// Whether `event` differs from the previous event of its kind (or is the first): polls
    /// and readings that changed nothing are detail.
    fn differs_from_last(&self, event: &Event) -> bool {
        let events = self.recorded.lock().expect("event log");
        events.iter().rev().find(|e| e.kind() == event.kind()).is_none_or(|previous| previous != event)
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.recorded.lock().expect("event log").clone()
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn emit(&self, event: Event) {
        match &event {
            Event::AlarmFired { .. }
            | Event::ExecutionsFailed { .. }
            | Event::StillRunning { .. }
            | Event::TrafficBypassesAlias { .. }
            | Event::RollingBack { .. }
            | Event::RolledBack { .. }
            | Event::AlarmReadFailed { .. } => {
                tracing::warn!("{}", event.text())
            }
            Event::Failed { .. } => {}
            // The first poll and every change are progress; an unchanged poll is detail (-v).
            Event::AlarmsPolled { states } if self.differs_from_last(&event) => {
                if states.iter().any(|a| a.without_data()) {
                    tracing::warn!("{}", event.text())
                } else {
                    tracing::info!("{}", event.text())
                }
            }
            Event::AlarmsPolled { .. } => tracing::debug!("{}", event.text()),
            // Each change is progress; an unchanged reading is detail (-v).
            Event::ExecutionsRead { .. } if self.differs_from_last(&event) => {
                tracing::info!("{}", event.text())
            }
            Event::ExecutionsRead { .. } => tracing::debug!("{}", event.text()),
            _ => tracing::info!("{}", event.text()),
        }
        if self.format == OutputFormat::Json {
            let mut line = json!({
                "event": event.kind(),
                "timestamp": rfc3339(SystemTime::now()),
                "elapsed_seconds": (self.elapsed().as_millis() as f64) / 1000.0,
            });
            if let (Value::Object(line), Value::Object(fields)) = (&mut line, event.fields()) {
                line.extend(fields);
            }
            let mut out = std::io::stdout().lock();
            // A closed stdout (e.g. `| head`) must not stop a deploy half-way.
            let _ = writeln!(out, "{line}").and_then(|_| out.flush());
        }
        match &event {
            Event::WeightsChanged { step, steps, old_version, new_version, new_weight, hold, remaining } => {
                let routing = Routing::shifted(old_version, new_version, *new_weight).to_string();
                crate::progress::shifted(*step, *steps, routing, *hold, *remaining);
            }
            Event::AlarmsPolled { states } => {
                let firing = states.iter().filter(|a| a.firing()).count();
                crate::progress::polled(if firing == 0 { "OK".into() } else { format!("{firing} in ALARM") });
            }
            Event::Completed { .. }
            | Event::Paused { .. }
            | Event::RollingBack { .. }
            | Event::Failed { .. } => crate::progress::finish(),
            _ => {}
        }
        self.times.lock().expect("event times").push(self.elapsed());
        self.recorded.lock().expect("event log").push(event);
    }

    /// Every event so far with when it came.
    pub fn timeline(&self) -> Vec<(Duration, Event)> {
        let times = self.times.lock().expect("event times").clone();
        times.into_iter().zip(self.events()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_read_at_a_glance() {
        assert_eq!(clock(Duration::from_millis(59_999)), "00:59");
        assert_eq!(clock(Duration::from_secs(187)), "03:07");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(150)), "2m30s");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::ZERO), "0s");
    }

    #[test]
    fn alarm_polls_are_progress_only_when_something_changed() {
        let (reporter, _) = Reporter::recording();
        let state = |s: &str| vec![AlarmState { name: "errors".into(), state: s.into(), composite: false }];
        let polled = |s: &str| Event::AlarmsPolled { states: state(s) };
        assert!(reporter.differs_from_last(&polled("OK")), "the first poll is shown");
        reporter.emit(Event::AlarmsPolled { states: state("OK") });
        assert!(!reporter.differs_from_last(&polled("OK")), "an unchanged poll is detail");
        assert!(reporter.differs_from_last(&polled("ALARM")));
    }

    /// One of each kind. `ordinal` matches without a wildcard, so a new kind does not compile
    /// until it is added here too.
    fn one_of_each() -> Vec<Event> {
        let v = |n: u32| format!("arn:aws:states:us-east-1:1:stateMachine:sm:{n}");
        let step = Step { weight: 10, hold: Duration::from_secs(5) };
        let state = AlarmState { name: "errors".into(), state: "OK".into(), composite: false };
        vec![
            Event::Started {
                state_machine: "sm".into(),
                alias: "prod".into(),
                old_version: Some(v(1)),
                new_version: v(2),
                strategy: "canary".into(),
                steps: vec![step],
                planned: Duration::from_secs(5),
                from_weight: 0,
            },
            Event::Paused {
                alias: "prod".into(),
                old_version: v(1),
                new_version: v(2),
                weight: 50,
                resume_command: "sfndeploy --resume".into(),
                rollback_command: "sfndeploy rollback".into(),
            },
            Event::Planned {
                state_machine: "sm".into(),
                alias: "prod".into(),
                old_version: Some(v(1)),
                new_version: None,
                action: "would shift".into(),
                strategy: "linear".into(),
                steps: vec![step],
                planned: Duration::from_secs(5),
                alarms: vec!["errors".into()],
                would_prune: vec![v(0)],
            },
            Event::Uploaded { file: "sm.json".into() },
            Event::Published { version: v(2), file: None },
            Event::AliasCreated { alias: "prod".into(), version: v(2) },
            Event::NothingToDo { alias: "prod".into(), version: v(2) },
            Event::WeightsChanged {
                step: 1,
                steps: 2,
                old_version: v(1),
                new_version: v(2),
                new_weight: 10,
                hold: Duration::from_secs(5),
                remaining: Duration::from_secs(5),
            },
            Event::AlarmsPolled { states: vec![state] },
            Event::AlarmReadFailed { error: "HTTP 500".into(), unmonitored: Duration::from_secs(2) },
            Event::AlarmFired { alarms: vec!["errors".into()] },
            Event::ExecutionsRead {
                reading: crate::gates::Reading {
                    new: crate::gates::Tally { version: v(2), finished: 3, failed: 1, ..Default::default() },
                    old: crate::gates::Tally { version: v(1), finished: 30, ..Default::default() },
                    old_includes_before: false,
                },
            },
            Event::ExecutionsFailed { evidence: "v2: 1 of 3 failed".into() },
            Event::StillRunning { version: v(2), executions: vec!["arn:exec".into()] },
            Event::TrafficBypassesAlias { alias: "prod".into(), through_alias: 1, other: 9 },
            Event::RollingBack { reason: "alarm".into() },
            Event::RolledBack { version: v(1), reason: "alarm".into() },
            Event::Completed { alias: "prod".into(), version: v(2) },
            Event::Pruned {
                deleted: vec![v(0)],
                skipped: vec![(v(1), "in use".into())],
                stopped_early: false,
            },
            Event::Failed { message: "m".into(), exit_code: ExitCode::RolledBack },
        ]
    }

    fn ordinal(e: &Event) -> usize {
        match e {
            Event::Started { .. } => 0,
            Event::Paused { .. } => 1,
            Event::Planned { .. } => 2,
            Event::Uploaded { .. } => 3,
            Event::Published { .. } => 4,
            Event::AliasCreated { .. } => 5,
            Event::NothingToDo { .. } => 6,
            Event::WeightsChanged { .. } => 7,
            Event::AlarmsPolled { .. } => 8,
            Event::AlarmReadFailed { .. } => 9,
            Event::AlarmFired { .. } => 10,
            Event::ExecutionsRead { .. } => 11,
            Event::ExecutionsFailed { .. } => 12,
            Event::StillRunning { .. } => 13,
            Event::TrafficBypassesAlias { .. } => 14,
            Event::RollingBack { .. } => 15,
            Event::RolledBack { .. } => 16,
            Event::Completed { .. } => 17,
            Event::Pruned { .. } => 18,
            Event::Failed { .. } => 19,
        }
    }

    #[test]
    fn every_event_kind_has_object_fields_a_text_and_a_place_in_the_readme() {
        let events = one_of_each();
        let ordinals: Vec<usize> = events.iter().map(ordinal).collect();
        assert_eq!(ordinals, (0..20).collect::<Vec<_>>(), "one of each kind, in order");
        let readme = include_str!("../README.md");
        let mut kinds = std::collections::HashSet::new();
        for e in &events {
            let kind = e.kind();
            assert!(kinds.insert(kind), "{kind} twice");
            let fields = e.fields();
            let object = fields.as_object().unwrap_or_else(|| panic!("{kind}: fields are not an object"));
            assert!(!object.is_empty(), "{kind}: no fields");
            for reserved in ["event", "timestamp", "elapsed_seconds"] {
                assert!(!object.contains_key(reserved), "{kind}: its own {reserved} would clash");
            }
            assert!(!e.text().is_empty(), "{kind}: no text");
            assert!(readme.contains(&format!("`{kind}`")), "{kind} is not in the README's list of events");
        }
        let failed = Event::Failed { message: "m".into(), exit_code: ExitCode::RolledBack }.fields();
        assert_eq!(failed["exit_code"], 3);
        assert_eq!(failed["outcome"], "rolled_back");
        let paused = events[1].fields();
        assert_eq!(paused["resume_command"], "sfndeploy --resume");
        assert_eq!(paused["rollback_command"], "sfndeploy rollback");
    }
}
