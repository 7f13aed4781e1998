//! The [`Reporter`]: every event goes to the log on stderr (as text), to stdout as JSON with
//! `--output json`, to the live status line, and into the record the GitHub summary is drawn from.
//! Nothing else writes to stdout during a deploy.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use super::{Event, json, progress};
use crate::cli::OutputFormat;

/// Where events go.
#[derive(Clone, Debug)]
pub struct Reporter {
    format: OutputFormat,
    start: tokio::time::Instant,
    /// Each event with when it came, since the start, and its state machine.
    recorded: Arc<Mutex<Vec<Entry>>>,
    /// The state machine this reporter speaks for, if one.
    member: Option<String>,
    /// Whether log lines name it (a release of several).
    prefix: bool,
    /// The state machine events without a member of their own concern: the one being
    /// deployed, or none (null) for a release of several. Set once the target is known.
    whole: Arc<OnceLock<Option<String>>>,
}

/// One recorded event.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Since the start.
    pub at: Duration,
    /// The state machine it concerns, as named on the command line.
    pub member: Option<String>,
    pub event: Event,
}

/// How loud an event is in the log.
enum Level {
    Warn,
    Info,
    Debug,
    /// Not logged: the caller prints it (the final error).
    Silent,
}

impl Reporter {
    pub fn new(format: OutputFormat) -> Self {
        Reporter {
            format,
            start: tokio::time::Instant::now(),
            recorded: Arc::default(),
            member: None,
            prefix: false,
            whole: Arc::default(),
        }
    }

    /// The state machines this run concerns, as named on the command line: with one, every
    /// event names it; with several, events about the whole release name none.
    pub fn target(&self, members: &[&str]) {
        let _ = self.whole.set(match members {
            [one] => Some(one.to_string()),
            _ => None,
        });
    }

    /// The same reporter, speaking for state machine `member` (as named on the command line):
    /// its JSON events carry it as `state_machine`, and with `prefix` its log lines begin with
    /// it (a release of several).
    pub fn for_member(&self, member: &str, prefix: bool) -> Reporter {
        Reporter { member: Some(member.to_string()), prefix, ..self.clone() }
    }

    /// A text reporter, for tests: [`Reporter::events`] has what it was sent.
    pub fn recording() -> Self {
        Reporter::new(OutputFormat::Text)
    }

    /// Whether `event` differs from the previous event of its kind (or is the first): polls
    /// and readings that changed nothing are detail.
    fn differs_from_last(&self, event: &Event) -> bool {
        let recorded = self.recorded.lock().expect("event log");
        recorded
            .iter()
            .rev()
            .find(|e| e.member == self.member && e.event.kind() == event.kind())
            .is_none_or(|previous| previous.event != *event)
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.recorded.lock().expect("event log").iter().map(|e| e.event.clone()).collect()
    }

    /// Every event so far with when it came and the state machine it concerns.
    pub fn entries(&self) -> Vec<Entry> {
        self.recorded.lock().expect("event log").clone()
    }

    pub fn format(&self) -> OutputFormat {
        self.format
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn emit(&self, event: Event) {
        let name = match (&self.member, self.prefix) {
            (Some(member), true) => format!("[{member}] "),
            _ => String::new(),
        };
        match self.level(&event) {
            Level::Warn => tracing::warn!("{name}{event}"),
            Level::Info => tracing::info!("{name}{event}"),
            Level::Debug => tracing::debug!("{name}{event}"),
            Level::Silent => {}
        }
        if self.format == OutputFormat::Json {
            let member = self.member.as_deref().or_else(|| self.whole.get().and_then(|w| w.as_deref()));
            let line = json::line(&event, SystemTime::now(), self.elapsed(), member);
            let mut out = std::io::stdout().lock();
            // A closed stdout (e.g. `| head`) must not stop a deploy half-way.
            let _ = writeln!(out, "{line}").and_then(|_| out.flush());
        }
        progress::observe(&event);
        let entry = Entry { at: self.elapsed(), member: self.member.clone(), event };
        self.recorded.lock().expect("event log").push(entry);
    }

    fn level(&self, event: &Event) -> Level {
        match event {
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
            Event::AlarmsPolled { states } if self.differs_from_last(event) => {
                if states.iter().any(|a| a.without_data()) { Level::Warn } else { Level::Info }
            }
            // Each change of a reading is progress; an unchanged one is detail (-v).
            Event::AlarmsPolled { .. } | Event::ExecutionsRead { .. } if !self.differs_from_last(event) => {
                Level::Debug
            }
            _ => Level::Info,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::alarms::AlarmState;

    #[test]
    fn alarm_polls_are_progress_only_when_something_changed() {
        let reporter = Reporter::recording();
        let state = |s: &str| vec![AlarmState { name: "errors".into(), state: s.into(), composite: false }];
        let polled = |s: &str| Event::AlarmsPolled { states: state(s) };
        assert!(reporter.differs_from_last(&polled("OK")), "the first poll is shown");
        reporter.emit(Event::AlarmsPolled { states: state("OK") });
        assert!(!reporter.differs_from_last(&polled("OK")), "an unchanged poll is detail");
        assert!(reporter.differs_from_last(&polled("ALARM")));
    }
}
