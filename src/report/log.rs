//! The log on stderr: each event as one line ([`super::text`] writes it), at a level by what it
//! means: warnings for what went wrong or is worth a look, progress at info, polls that changed
//! nothing at debug (`-v`). In a release each line names its member.

use super::Event;
use super::render::{Entry, Render, Said};

/// Logs each event through `tracing`.
#[derive(Debug)]
pub struct Log;

/// How loud an event is in the log.
#[derive(Debug, PartialEq, Eq)]
enum Level {
    Warn,
    Info,
    Debug,
    /// Not logged: the caller prints it (the final error).
    Silent,
}

impl Render for Log {
    fn event(&self, entry: &Entry, said: &Said<'_>) {
        let tag = said.label.map(|l| l.tag()).unwrap_or_default();
        let event = &entry.event;
        match level(entry, said.before) {
            Level::Warn => tracing::warn!("{tag}{event}"),
            Level::Info => tracing::info!("{tag}{event}"),
            Level::Debug => tracing::debug!("{tag}{event}"),
            Level::Silent => {}
        }
    }
}

fn level(entry: &Entry, before: &[Entry]) -> Level {
    match &entry.event {
        Event::AlarmFired { .. }
        | Event::ExecutionsFailed { .. }
        | Event::StillRunning { .. }
        | Event::TrafficBypassesAlias { .. }
        | Event::RollingBack { .. }
        | Event::RolledBack { .. }
        | Event::SignalReadFailed { .. }
        | Event::HookFinished { passed: false, .. }
        | Event::UnpinnedCall { .. } => Level::Warn,
        Event::DefinitionChanged { changes, .. } if changes.is_empty() => Level::Warn,
        Event::Failed { .. } => Level::Silent,
        // The first poll and every change are progress; an unchanged poll is detail (-v).
        Event::AlarmsPolled { states } if differs_from_last(entry, before) => {
            if states.iter().any(|a| a.without_data()) { Level::Warn } else { Level::Info }
        }
        // Each change of a reading is progress; an unchanged one is detail (-v).
        Event::AlarmsPolled { .. } | Event::ExecutionsRead { .. } if !differs_from_last(entry, before) => {
            Level::Debug
        }
        _ => Level::Info,
    }
}

/// Whether `entry` differs from the previous event of its kind about the same member (or is the
/// first): polls and readings that changed nothing are detail.
fn differs_from_last(entry: &Entry, before: &[Entry]) -> bool {
    before
        .iter()
        .rev()
        .find(|e| e.member == entry.member && e.event.kind() == entry.event.kind())
        .is_none_or(|previous| previous.event != entry.event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::alarms::AlarmState;
    use std::time::Duration;

    #[test]
    fn alarm_polls_are_progress_only_when_something_changed() {
        let state = |s: &str| {
            vec![AlarmState { name: "errors".into(), state: s.into(), composite: false, transitioned: None }]
        };
        let polled = |s: &str| Entry {
            at: Duration::ZERO,
            member: None,
            event: Event::AlarmsPolled { states: state(s) },
        };
        assert!(differs_from_last(&polled("OK"), &[]), "the first poll is shown");
        let before = [polled("OK")];
        assert!(!differs_from_last(&polled("OK"), &before), "an unchanged poll is detail");
        assert_eq!(level(&polled("OK"), &before), Level::Debug);
        assert!(differs_from_last(&polled("ALARM"), &before));
    }
}
