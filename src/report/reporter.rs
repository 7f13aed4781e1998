//! The [`Reporter`]: every event is recorded, with when it came and the state machine it
//! concerns, and handed to each of the run's renderers ([`super::Render`]). Nothing else writes
//! to stdout during a deploy.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::Event;
use super::github::GithubSummary;
use super::json::JsonLines;
use super::log::Log;
use super::notify::Notifier;
use super::progress::Progress;
use super::render::{End, Entry, Render, Said};
use crate::cli::OutputFormat;
use crate::env::Env;
use crate::exit_code::ExitCode;
use crate::label::Label;

/// Where events go.
#[derive(Clone, Debug)]
pub struct Reporter {
    shared: Arc<Shared>,
    /// The member this reporter speaks for, if one.
    label: Option<Label>,
}

#[derive(Debug)]
struct Shared {
    start: tokio::time::Instant,
    renderers: Vec<Box<dyn Render>>,
    /// Each event with when it came, since the start, and its state machine.
    recorded: Mutex<Vec<Entry>>,
    /// The state machine events without a member of their own concern: the one being
    /// deployed, or none (null) for a release of several. Set once the target is known.
    whole: OnceLock<Option<String>>,
    /// `--notify-topic`: a renderer that needs the run's AWS clients, added once they exist.
    notifier: OnceLock<Notifier>,
}

impl Reporter {
    pub fn new(renderers: Vec<Box<dyn Render>>) -> Self {
        let shared = Shared {
            start: tokio::time::Instant::now(),
            renderers,
            recorded: Mutex::default(),
            whole: OnceLock::new(),
            notifier: OnceLock::new(),
        };
        Reporter { shared: Arc::new(shared), label: None }
    }

    /// The reporter of a run with `format` on stdout, and its renderers: the log always; JSON
    /// lines with `--output json`; the live status line on an interactive terminal (not with
    /// `quiet`, not in CI); the step summary under GitHub Actions.
    pub fn for_run(format: OutputFormat, quiet: bool, env: Env) -> Self {
        let mut renderers: Vec<Box<dyn Render>> = vec![Box::new(Log)];
        match format {
            OutputFormat::Json => renderers.push(Box::new(JsonLines)),
            OutputFormat::Text => {
                if let Some(progress) = Progress::start(quiet, env) {
                    renderers.push(Box::new(progress));
                }
            }
        }
        if let Some(github) = GithubSummary::from_env(env) {
            renderers.push(Box::new(github));
        }
        Reporter::new(renderers)
    }

    /// A reporter that logs and records, for tests: [`Reporter::events`] has what it was sent.
    pub fn recording() -> Self {
        Reporter::new(vec![Box::new(Log)])
    }

    /// The state machines this run concerns, as named on the command line: with one, every
    /// event names it; with several, events about the whole release name none.
    pub fn target(&self, members: &[&str]) {
        let _ = self.shared.whole.set(match members {
            [one] => Some(one.to_string()),
            _ => None,
        });
    }

    /// The same reporter, speaking for the member `label` names: its JSON events carry it as
    /// `state_machine`, and in a release its log lines begin with it.
    pub fn for_member(&self, label: &Label) -> Reporter {
        Reporter { shared: self.shared.clone(), label: Some(label.clone()) }
    }

    /// The member this reporter speaks for (none: the whole run).
    pub fn label(&self) -> Label {
        self.label.clone().unwrap_or_default()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.shared.recorded.lock().expect("event log").iter().map(|e| e.event.clone()).collect()
    }

    /// Every event so far with when it came and the state machine it concerns.
    pub fn entries(&self) -> Vec<Entry> {
        self.shared.recorded.lock().expect("event log").clone()
    }

    pub fn elapsed(&self) -> Duration {
        self.shared.start.elapsed()
    }

    pub fn emit(&self, event: Event) {
        let member = self.label.as_ref().map(|l| l.name().to_string());
        let entry = Entry { at: self.elapsed(), member, event };
        let mut recorded = self.shared.recorded.lock().expect("event log");
        let whole = self.shared.whole.get().and_then(|w| w.as_deref());
        let said = Said {
            label: self.label.as_ref(),
            state_machine: entry.member.as_deref().or(whole),
            before: &recorded,
        };
        for renderer in self.renderers() {
            renderer.event(&entry, &said);
        }
        recorded.push(entry);
    }

    /// The run's renderers, the notifier last.
    fn renderers(&self) -> impl Iterator<Item = &dyn Render> {
        let notifier = self.shared.notifier.get().map(|n| n as &dyn Render);
        self.shared.renderers.iter().map(|r| r.as_ref()).chain(notifier)
    }

    /// `--notify-topic`: from now on, events go to these topics too.
    pub fn notify(&self, notifier: Notifier) {
        let _ = self.shared.notifier.set(notifier);
    }

    /// Waits (a little) for the notifications still queued, once the run has ended.
    pub async fn flush(&self) {
        if let Some(notifier) = self.shared.notifier.get() {
            notifier.flush().await;
        }
    }

    /// The run is over: each renderer tells its end.
    pub fn end(&self, code: ExitCode, outcome: &str) {
        let entries = self.entries();
        let end = End { entries: &entries, code, outcome, took: self.elapsed() };
        for renderer in self.renderers() {
            renderer.end(&end);
        }
    }
}
