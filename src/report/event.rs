//! The deploy's events: every step of a run is one [`Event`], plain data, both `Display` (the log
//! line, [`super::text`]) and `Serialize` (its JSON, shaped by [`super::wire`]). The renderers
//! ([`super::Render`]) turn it into log lines, JSON lines, the live status line and the GitHub
//! summary; the [`super::Reporter`] sends it to each.

use std::time::Duration;

use serde::Serialize;

use super::wire;

use crate::definition::{Changes, Unrollbackable};
use crate::exit_code::ExitCode;
use crate::gates::Reading;
use crate::gates::alarms::AlarmState;
use crate::strategy::Step;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Validation passed and the versions are known; traffic is about to move.
    #[serde(serialize_with = "wire::started")]
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
    /// Paused on purpose (`--pause-at`, `--on-inconclusive pause`, a window closing): the alias
    /// stays split; `why` says which, and the commands go on, promote or roll back.
    #[serde(serialize_with = "wire::paused")]
    Paused {
        alias: String,
        old_version: String,
        new_version: String,
        weight: u8,
        why: String,
        resume_command: String,
        promote_command: String,
        rollback_command: String,
    },
    /// Outside the deploy window (or in a freeze), `--window-wait`: nothing changes until the
    /// next opening where the first hold fits.
    WindowWait {
        why: String,
        /// When the wait ends: RFC 3339, UTC, AWS's time.
        opens: String,
        /// The same moment in the window's time zone.
        opens_local: String,
    },
    /// A release in waves: wave `wave` (1-based) of `waves` starts moving its targets.
    WaveStarted {
        wave: usize,
        waves: usize,
        targets: Vec<String>,
    },
    /// A wave reached 100%: every target moved so far is watched for `bake` before the next.
    WaveBaking {
        wave: usize,
        waves: usize,
        #[serde(rename = "bake_seconds", serialize_with = "wire::secs")]
        bake: Duration,
    },
    /// A wave's alarms (its blockers) are in ALARM, or cannot be read: it waits, or (`waited`
    /// past `--blocker-wait`) the release stops before it.
    WaveBlocked {
        wave: usize,
        why: String,
        #[serde(rename = "waited_seconds", serialize_with = "wire::secs")]
        waited: Duration,
    },
    /// `--stop-after-wave`: the run ends here, wave `wave` baked; `resume_command` goes on.
    WaveDone {
        wave: usize,
        waves: usize,
        resume_command: String,
    },
    /// `--gate-mode observe`: what a health gate would have done, had it been enforced.
    GateObserved {
        /// `roll_back`, or `wait` (for evidence).
        would: String,
        evidence: String,
        /// Since traffic began to move.
        #[serde(rename = "at_seconds", serialize_with = "wire::secs")]
        at: Duration,
    },
    /// `--allow-firing`: an alarm allowed to fire, as first read and at each change of state.
    AllowedAlarm {
        alarm: String,
        state: String,
        /// Since traffic began to move (zero: at the start).
        #[serde(rename = "at_seconds", serialize_with = "wire::secs")]
        at: Duration,
    },
    /// The new version went to 100% by `sfndeploy promote` (`by`: `promote`), or, during a deploy,
    /// by someone's `promote` (`by`: `hand`).
    Promoted {
        alias: String,
        version: String,
        from: String,
        by: String,
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
        #[serde(serialize_with = "wire::steps")]
        steps: Vec<Step>,
        #[serde(rename = "planned_seconds", serialize_with = "wire::secs")]
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
    #[serde(serialize_with = "wire::weights_changed")]
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
        #[serde(rename = "alarms")]
        states: Vec<AlarmState>,
    },
    /// A health signal (alarms, executions, metrics) could not be read.
    SignalReadFailed {
        signal: String,
        cause: ReadCause,
        error: String,
        /// How long the signal has had no answer (throttles are answers).
        #[serde(rename = "unmonitored_seconds", serialize_with = "wire::secs")]
        unmonitored: Duration,
        /// How long it has been throttled without a reading.
        #[serde(rename = "throttled_seconds", serialize_with = "wire::secs")]
        throttled: Duration,
    },
    AlarmFired {
        alarms: Vec<String>,
    },
    /// A read of the health gates: the new and the old version's executions through the alias.
    ExecutionsRead {
        #[serde(flatten)]
        reading: Box<Reading>,
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
    #[serde(serialize_with = "wire::still_running")]
    StillRunning {
        version: String,
        executions: Vec<String>,
    },
    /// Before any change: what the new definition changes from the old version's.
    DefinitionChanged {
        old_version: String,
        #[serde(flatten)]
        changes: Changes,
    },
    /// Before any change: the new definition calls code a rollback does not roll back.
    UnpinnedCall {
        #[serde(flatten)]
        call: Unrollbackable,
    },
    /// `--rerun-failed`, after the rollback: a failed execution of the new version and the one
    /// that does its work again on the old version (none when not started: `outcome` says why).
    Rerun {
        failed: String,
        restarted: Option<String>,
        outcome: String,
    },
    /// A lifecycle hook began (`pre-traffic` or `post-traffic`).
    HookStarted {
        hook: String,
        command: String,
    },
    /// A lifecycle hook ended: `passed`, and how (`end`: its exit status, or why it was cut).
    HookFinished {
        hook: String,
        passed: bool,
        exit_status: Option<i32>,
        end: String,
        #[serde(rename = "seconds", serialize_with = "wire::millis_secs")]
        took: Duration,
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
        #[serde(serialize_with = "wire::skipped")]
        skipped: Vec<(String, String)>,
        stopped_early: bool,
    },
    #[serde(serialize_with = "wire::failed")]
    Failed {
        message: String,
        exit_code: ExitCode,
    },
}

/// Why a health signal could not be read (in JSON: `throttled`, `no_answer`, `error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadCause {
    /// The service throttled the read: it is up, and asks for fewer calls.
    Throttled,
    /// No answer in time.
    #[serde(rename = "no_answer")]
    TimedOut,
    /// Any other error.
    Error,
}

impl ReadCause {
    /// `throttled`, `no answer`, `error`
    pub fn name(self) -> &'static str {
        match self {
            ReadCause::Throttled => "throttled",
            ReadCause::TimedOut => "no answer",
            ReadCause::Error => "error",
        }
    }
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::Paused { .. } => "paused",
            Event::WindowWait { .. } => "window_wait",
            Event::WaveStarted { .. } => "wave_started",
            Event::WaveBaking { .. } => "wave_baking",
            Event::WaveBlocked { .. } => "wave_blocked",
            Event::WaveDone { .. } => "wave_done",
            Event::GateObserved { .. } => "gate_observed",
            Event::AllowedAlarm { .. } => "allowed_alarm",
            Event::Promoted { .. } => "promoted",
            Event::Planned { .. } => "planned",
            Event::Uploaded { .. } => "uploaded",
            Event::Published { .. } => "published",
            Event::AliasCreated { .. } => "alias_created",
            Event::NothingToDo { .. } => "nothing_to_do",
            Event::WeightsChanged { .. } => "weights_changed",
            Event::AlarmsPolled { .. } => "alarms_polled",
            Event::SignalReadFailed { .. } => "signal_read_failed",
            Event::AlarmFired { .. } => "alarm_fired",
            Event::ExecutionsRead { .. } => "executions_read",
            Event::ExecutionsFailed { .. } => "executions_failed",
            Event::StillRunning { .. } => "still_running",
            Event::TrafficBypassesAlias { .. } => "traffic_bypasses_alias",
            Event::DefinitionChanged { .. } => "definition_changed",
            Event::UnpinnedCall { .. } => "unpinned_call",
            Event::Rerun { .. } => "rerun",
            Event::HookStarted { .. } => "hook_started",
            Event::HookFinished { .. } => "hook_finished",
            Event::RollingBack { .. } => "rolling_back",
            Event::RolledBack { .. } => "rolled_back",
            Event::Completed { .. } => "completed",
            Event::Pruned { .. } => "pruned",
            Event::Failed { .. } => "failed",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gates::Tally;

    /// One of each kind. `ordinal` matches without a wildcard, so a new kind does not compile
    /// until it is added here too.
    pub(crate) fn one_of_each() -> Vec<Event> {
        let v = |n: u32| format!("arn:aws:states:us-east-1:1:stateMachine:sm:{n}");
        let step = Step { weight: 10, hold: Duration::from_secs(5) };
        let state =
            AlarmState { name: "errors".into(), state: "OK".into(), composite: false, transitioned: None };
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
                why: "as --pause-at asked".into(),
                resume_command: "sfndeploy --resume".into(),
                promote_command: "sfndeploy promote".into(),
                rollback_command: "sfndeploy rollback".into(),
            },
            Event::WindowWait {
                why: "outside the deploy window (Mon-Fri 09:00-16:00)".into(),
                opens: "2026-12-07T09:00:00Z".into(),
                opens_local: "2026-12-07 09:00:00 UTC".into(),
            },
            Event::GateObserved {
                would: "roll_back".into(),
                evidence: "3 of 10 failed".into(),
                at: Duration::from_secs(72),
            },
            Event::AllowedAlarm { alarm: "errors".into(), state: "ALARM".into(), at: Duration::ZERO },
            Event::Promoted {
                alias: "prod".into(),
                version: v(2),
                from: "v1 90% / v2 10%".into(),
                by: "promote".into(),
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
            Event::SignalReadFailed {
                signal: "alarms".into(),
                cause: ReadCause::Throttled,
                error: "HTTP 400".into(),
                unmonitored: Duration::ZERO,
                throttled: Duration::from_secs(2),
            },
            Event::AlarmFired { alarms: vec!["errors".into()] },
            Event::ExecutionsRead {
                reading: Box::new(Reading::of(
                    Tally { version: v(2), finished: 3, failed: 1, ..Default::default() },
                    Tally { version: v(1), finished: 30, ..Default::default() },
                )),
            },
            Event::ExecutionsFailed { evidence: "v2: 1 of 3 failed".into() },
            Event::StillRunning { version: v(2), executions: vec!["arn:exec".into()] },
            Event::TrafficBypassesAlias { alias: "prod".into(), through_alias: 1, other: 9 },
            Event::DefinitionChanged {
                old_version: v(1),
                changes: Changes { added: vec!["Ship".into()], ..Default::default() },
            },
            Event::UnpinnedCall {
                call: Unrollbackable {
                    state: "Charge".into(),
                    resource: "charge".into(),
                    runs: "it runs $LATEST",
                },
            },
            Event::Rerun {
                failed: "arn:exec:1".into(),
                restarted: Some("arn:exec:2".into()),
                outcome: "started".into(),
            },
            Event::HookStarted { hook: "pre-traffic".into(), command: "make it".into() },
            Event::HookFinished {
                hook: "pre-traffic".into(),
                passed: false,
                exit_status: Some(2),
                end: "exit status 2 after 3s".into(),
                took: Duration::from_secs(3),
            },
            Event::RollingBack { reason: "alarm".into() },
            Event::RolledBack { version: v(1), reason: "alarm".into() },
            Event::Completed { alias: "prod".into(), version: v(2) },
            Event::Pruned {
                deleted: vec![v(0)],
                skipped: vec![(v(1), "in use".into())],
                stopped_early: false,
            },
            Event::Failed { message: "m".into(), exit_code: ExitCode::RolledBack },
            Event::WaveStarted { wave: 2, waves: 2, targets: vec!["eu-west-1:111111111111".into()] },
            Event::WaveBaking { wave: 1, waves: 2, bake: Duration::from_secs(3600) },
            Event::WaveBlocked { wave: 2, why: "alarm 'errors' is in ALARM".into(), waited: Duration::ZERO },
            Event::WaveDone { wave: 1, waves: 2, resume_command: "sfndeploy --resume".into() },
        ]
    }

    fn ordinal(e: &Event) -> usize {
        match e {
            Event::Started { .. } => 0,
            Event::Paused { .. } => 1,
            Event::WindowWait { .. } => 2,
            Event::GateObserved { .. } => 3,
            Event::AllowedAlarm { .. } => 4,
            Event::Promoted { .. } => 5,
            Event::Planned { .. } => 6,
            Event::Uploaded { .. } => 7,
            Event::Published { .. } => 8,
            Event::AliasCreated { .. } => 9,
            Event::NothingToDo { .. } => 10,
            Event::WeightsChanged { .. } => 11,
            Event::AlarmsPolled { .. } => 12,
            Event::SignalReadFailed { .. } => 13,
            Event::AlarmFired { .. } => 14,
            Event::ExecutionsRead { .. } => 15,
            Event::ExecutionsFailed { .. } => 16,
            Event::StillRunning { .. } => 17,
            Event::TrafficBypassesAlias { .. } => 18,
            Event::DefinitionChanged { .. } => 19,
            Event::UnpinnedCall { .. } => 20,
            Event::Rerun { .. } => 21,
            Event::HookStarted { .. } => 22,
            Event::HookFinished { .. } => 23,
            Event::RollingBack { .. } => 24,
            Event::RolledBack { .. } => 25,
            Event::Completed { .. } => 26,
            Event::Pruned { .. } => 27,
            Event::Failed { .. } => 28,
            Event::WaveStarted { .. } => 29,
            Event::WaveBaking { .. } => 30,
            Event::WaveBlocked { .. } => 31,
            Event::WaveDone { .. } => 32,
        }
    }

    #[test]
    fn every_event_kind_has_object_fields_a_text_and_a_place_in_the_readme() {
        let events = one_of_each();
        let ordinals: Vec<usize> = events.iter().map(ordinal).collect();
        assert_eq!(ordinals, (0..33).collect::<Vec<_>>(), "one of each kind, in order");
        let readme = include_str!("../../README.md");
        let mut kinds = std::collections::HashSet::new();
        for e in &events {
            let kind = e.kind();
            assert!(kinds.insert(kind), "{kind} twice");
            let fields = super::super::json::fields(e);
            let object = fields.as_object().unwrap_or_else(|| panic!("{kind}: fields are not an object"));
            assert!(!object.is_empty(), "{kind}: no fields");
            for reserved in ["event", "timestamp", "elapsed_seconds"] {
                assert!(!object.contains_key(reserved), "{kind}: its own {reserved} would clash");
            }
            assert!(!e.to_string().is_empty(), "{kind}: no text");
            assert!(readme.contains(&format!("`{kind}`")), "{kind} is not in the README's list of events");
        }
        let failed = super::super::json::fields(&Event::Failed {
            message: "m".into(),
            exit_code: ExitCode::RolledBack,
        });
        assert_eq!(failed["exit_code"], 3);
        assert_eq!(failed["outcome"], "rolled_back");
        let paused = super::super::json::fields(&events[1]);
        assert_eq!(paused["resume_command"], "sfndeploy --resume");
        assert_eq!(paused["rollback_command"], "sfndeploy rollback");
        assert_eq!(paused["promote_command"], "sfndeploy promote");
        assert_eq!(paused["why"], "as --pause-at asked");
    }
}
