//! One way of telling a run is a [`Render`]: it sees each event as it comes, then the end. The
//! log on stderr ([`super::log`]), the JSON lines on stdout ([`super::json`]), the live status
//! line ([`super::progress`]) and the GitHub step summary ([`super::github`]) each are one; the
//! [`super::Reporter`] chooses which tell a run, in one place.

use std::time::Duration;

use super::Event;
use crate::exit_code::ExitCode;
use crate::label::Label;

/// One recorded event.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Since the start.
    pub at: Duration,
    /// The state machine it concerns, as named on the command line.
    pub member: Option<String>,
    pub event: Event,
}

/// What a renderer knows of an event besides the event itself.
pub struct Said<'a> {
    /// The member it concerns, if one.
    pub label: Option<&'a Label>,
    /// The state machine it concerns for a reader: the member's, or the run's only one (None:
    /// the whole release).
    pub state_machine: Option<&'a str>,
    /// Every earlier event of the run.
    pub before: &'a [Entry],
}

/// How a run ended, for the renderers that tell it at the end.
pub struct End<'a> {
    /// Every event of the run.
    pub entries: &'a [Entry],
    pub code: ExitCode,
    /// The outcome as printed: the success line, or the error.
    pub outcome: &'a str,
    pub took: Duration,
}

/// One way of telling a run.
pub trait Render: Send + Sync + std::fmt::Debug {
    /// An event, as it comes.
    fn event(&self, _entry: &Entry, _said: &Said<'_>) {}
    /// The run's end.
    fn end(&self, _end: &End<'_>) {}
}
