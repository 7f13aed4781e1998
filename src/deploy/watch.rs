//! The health signals of a deploy (the alarms, and the gates on the new version's executions),
//! each read at its own pace, and the one summary the executor acts on.
//!
//! A read ends three ways. Answered: its verdict counts (an alarm in ALARM, a failed gate).
//! Throttled: the service is up and asks for fewer calls, so that signal's polling backs off
//! (doubling, up to [`BACKOFF_MAX`] polls) and the weights wait; a signal throttled for
//! [`throttle_bound`] is lost monitoring. No answer, or any other error: it counts towards
//! `--max-unmonitored`, past which the deploy rolls back rather than go on blind.

use std::time::Duration;

use anyhow::Result;
use tokio::time::{Instant, timeout_at};

use crate::aws::{FailureKind, failure_kind};
use crate::config::WatchSettings;
use crate::gates::alarms::{AlarmChecker, AlarmReport};
use crate::gates::{Gate, Reading, Verdict, judge};
use crate::report::event::ReadCause;
use crate::report::{Event, Reporter};
use crate::rollback::Reason;
use crate::text::{plural, quoted_names};

/// A throttled signal waits at most this many polling intervals before its next read.
pub const BACKOFF_MAX: u32 = 8;

/// How long a signal may stay throttled before it counts as lost: 5 × `--max-unmonitored`, at
/// least a minute.
pub fn throttle_bound(settings: &WatchSettings) -> Duration {
    (settings.max_unmonitored * 5).max(Duration::from_secs(60))
}

/// What one look at the signals says.
#[derive(Debug)]
pub enum Look {
    /// Every signal was read just now and none says roll back. `missing`: the evidence the gates
    /// still wait for, if any.
    Good { missing: Option<String> },
    /// Some signal has no fresh reading now (throttled, no answer, an error), within bounds.
    Unread,
    /// Roll back.
    Bad(Reason),
}

/// Which signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Alarms,
    Gate,
}

/// How one signal is being read.
#[derive(Debug)]
struct Pace {
    which: Which,
    /// The last read that got an answer (a reading, or a throttle).
    answered: Instant,
    /// The first throttled read since the last reading.
    throttled_since: Option<Instant>,
    /// While throttled: no read before this.
    not_before: Instant,
    /// The current back-off, in polling intervals (0: none).
    backoff: u32,
}

/// The signals of one deploy.
pub struct Watch<'a> {
    alarms: &'a AlarmChecker,
    gate: Option<Gate>,
    settings: WatchSettings,
    reporter: &'a Reporter,
    paces: Vec<Pace>,
    /// The latest reading of the gates.
    reading: Option<Reading>,
}

impl<'a> Watch<'a> {
    /// `read_at`: when the alarms were last read (all OK) before the deploy, if they were.
    pub fn new(
        alarms: &'a AlarmChecker,
        gate: Option<Gate>,
        settings: WatchSettings,
        reporter: &'a Reporter,
        read_at: Option<Instant>,
    ) -> Self {
        let now = Instant::now();
        let pace = |which| Pace {
            which,
            answered: if which == Which::Alarms { read_at.unwrap_or(now) } else { now },
            throttled_since: None,
            not_before: now,
            backoff: 0,
        };
        let mut paces = Vec::new();
        if !alarms.is_empty() {
            paces.push(pace(Which::Alarms));
        }
        if gate.is_some() {
            paces.push(pace(Which::Gate));
        }
        Watch { alarms, gate, settings, reporter, paces, reading: None }
    }

    /// Whether anything is watched.
    pub fn watching(&self) -> bool {
        !self.paces.is_empty()
    }

    /// How long a hold may wait for evidence: `--max-extension`, or by default one hold, and
    /// while the new version's executions still run, the old version's p95 and a poll.
    pub fn extension(&self) -> Duration {
        let Some(rules) = self.gate.as_ref().map(Gate::rules) else { return Duration::ZERO };
        if rules.extension_given {
            return rules.max_extension;
        }
        let running = self.reading.as_ref().filter(|r| r.new.running > 0);
        let slow = running.and_then(|r| r.old_p95).map_or(Duration::ZERO, |p95| p95 + self.settings.polling);
        rules.max_extension.max(slow)
    }

    /// When to look again after a look without a fresh reading of every signal: at the pace of
    /// the signals not backing off (they must not go unread meanwhile), else when the first
    /// back-off ends.
    pub fn retry_in(&self) -> Duration {
        let now = Instant::now();
        let retry = self.settings.polling.min(Duration::from_secs(5));
        let next = self.paces.iter().map(|p| p.not_before.saturating_duration_since(now).max(retry)).min();
        next.unwrap_or(retry)
    }

    /// Reads the signals due now (with `every`, all of them but those backing off), judges what
    /// came back, and says what it means.
    pub async fn look(&mut self) -> Look {
        let now = Instant::now();
        let due = |p: &Pace| now >= p.not_before;
        let read_alarms = self.paces.iter().any(|p| p.which == Which::Alarms && due(p));
        let read_gate = self.paces.iter().any(|p| p.which == Which::Gate && due(p));
        let waiting = self.paces.len() - usize::from(read_alarms) - usize::from(read_gate);
        // The wait a throttle asked for is the throttle bound's to count, not --max-unmonitored's:
        // a read after it starts that clock afresh.
        for pace in self.paces.iter_mut().filter(|p| p.throttled_since.is_some() && now >= p.not_before) {
            pace.answered = now;
        }
        let (alarms, gate) = self.read(read_alarms, read_gate).await;
        let mut fresh = waiting == 0;
        if let Some(result) = alarms {
            match self.judge_alarms(result) {
                Ok(()) => {}
                Err(Some(reason)) => return Look::Bad(reason),
                Err(None) => fresh = false,
            }
        }
        let mut missing = None;
        if let Some(result) = gate {
            match self.judge_gate(result) {
                Ok(m) => missing = m,
                Err(Some(reason)) => return Look::Bad(reason),
                Err(None) => fresh = false,
            }
        } else if let (Some(gate), Some(reading)) = (&self.gate, &self.reading)
            && let Verdict::TooFew(what) = judge(gate.rules(), reading)
        {
            missing = Some(what);
        }
        if fresh { Look::Good { missing } } else { Look::Unread }
    }

    /// Reads the alarms and the gates (as asked) at once, each cut at its own deadline.
    async fn read(
        &mut self,
        alarms: bool,
        gate: bool,
    ) -> (Option<Result<AlarmReport>>, Option<Result<Reading>>) {
        let deadline = |which| self.deadline(which);
        let (alarm_deadline, gate_deadline) = (deadline(Which::Alarms), deadline(Which::Gate));
        let checker = self.alarms;
        let read_alarms = async {
            if !alarms {
                return None;
            }
            Some(timeout_at(alarm_deadline, checker.read()).await.unwrap_or_else(|_| Err(no_answer())))
        };
        let gate_ref = self.gate.as_mut().filter(|_| gate);
        let read_gate = async move {
            let gate = gate_ref?;
            Some(timeout_at(gate_deadline, gate.read()).await.unwrap_or_else(|_| Err(no_answer())))
        };
        tokio::join!(read_alarms, read_gate)
    }

    /// A read that outlives `--max-unmonitored` is cut there: waiting on it is being blind. (A
    /// read that starts past the bound, after a slow weight change, gets one polling interval.)
    fn deadline(&self, which: Which) -> Instant {
        let now = Instant::now();
        let answered = self.paces.iter().find(|p| p.which == which).map_or(now, |p| p.answered);
        match answered + self.settings.max_unmonitored {
            at if at > now => at,
            _ => now + self.settings.polling.min(self.settings.max_unmonitored),
        }
    }

    /// Ok: all clear. Err(Some): roll back. Err(None): not read, within bounds.
    fn judge_alarms(&mut self, result: Result<AlarmReport>) -> Result<(), Option<Reason>> {
        let report = match result {
            Ok(report) => report,
            Err(e) => return self.unread(Which::Alarms, &e),
        };
        let firing = report.firing();
        self.reporter.emit(Event::AlarmsPolled { states: report.states });
        if !firing.is_empty() {
            self.reporter.emit(Event::AlarmFired { alarms: firing.clone() });
            return Err(Some(Reason::Alarms(firing)));
        }
        // An alarm deleted mid-deploy is an alarm we can no longer read: not an all-clear.
        if !report.missing.is_empty() {
            let error = anyhow::anyhow!(
                "CloudWatch no longer has {} {}",
                plural(report.missing.len(), "alarm"),
                quoted_names(&report.missing)
            );
            return self.unread(Which::Alarms, &error);
        }
        self.answered(Which::Alarms);
        Ok(())
    }

    /// Ok: what the gates still wait for, if anything. Err as for the alarms.
    fn judge_gate(&mut self, result: Result<Reading>) -> Result<Option<String>, Option<Reason>> {
        let reading = match result {
            Ok(reading) => reading,
            Err(e) => return self.unread(Which::Gate, &e).map(|()| None),
        };
        self.answered(Which::Gate);
        let verdict = judge(self.gate.as_ref().expect("read").rules(), &reading);
        self.reporter.emit(Event::ExecutionsRead { reading: reading.clone() });
        self.reading = Some(reading);
        match verdict {
            Verdict::Fail(evidence) => Err(Some(Reason::Executions(evidence))),
            Verdict::TooFew(what) => Ok(Some(what)),
            Verdict::Pass => Ok(None),
        }
    }

    fn answered(&mut self, which: Which) {
        let pace = self.pace(which);
        let now = Instant::now();
        pace.answered = now;
        pace.throttled_since = None;
        pace.backoff = 0;
        pace.not_before = now;
    }

    /// A read that came back without a reading: a throttle backs off; anything else counts
    /// towards `--max-unmonitored`.
    fn unread(&mut self, which: Which, error: &anyhow::Error) -> Result<(), Option<Reason>> {
        let (polling, max_unmonitored) = (self.settings.polling, self.settings.max_unmonitored);
        let bound = throttle_bound(&self.settings);
        let now = Instant::now();
        let signal = self.signal_name(which);
        let pace = self.pace(which);
        let cause = match failure_kind(error) {
            Some(FailureKind::Throttled) => ReadCause::Throttled,
            Some(FailureKind::TimedOut) => ReadCause::TimedOut,
            _ if error.to_string() == NO_ANSWER => ReadCause::TimedOut,
            _ => ReadCause::Error,
        };
        if cause == ReadCause::Throttled {
            pace.answered = now;
            pace.throttled_since.get_or_insert(now);
            pace.backoff = (pace.backoff * 2).clamp(1, BACKOFF_MAX);
            pace.not_before = now + polling * pace.backoff;
        }
        let unmonitored = now.saturating_duration_since(pace.answered);
        let throttled = pace.throttled_since.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let error_text = format!("{error:#}");
        self.reporter.emit(Event::SignalReadFailed {
            signal: signal.to_string(),
            cause,
            error: error_text.clone(),
            unmonitored,
            throttled,
        });
        let lost = |for_| {
            Some(Reason::Unmonitored { for_, error: format!("{signal}: {}: {error_text}", cause.name()) })
        };
        if unmonitored >= max_unmonitored {
            return Err(lost(unmonitored));
        }
        if throttled >= bound {
            return Err(lost(throttled));
        }
        Err(None)
    }

    fn pace(&mut self, which: Which) -> &mut Pace {
        self.paces.iter_mut().find(|p| p.which == which).expect("a watched signal")
    }

    /// `alarms`, `executions` or `metrics`: what a message calls the signal.
    fn signal_name(&self, which: Which) -> &'static str {
        match (which, &self.gate) {
            (Which::Alarms, _) => "alarms",
            (Which::Gate, Some(Gate::Metrics(_))) => "metrics",
            (Which::Gate, _) => "executions",
        }
    }

    /// The new version's executions still running, if the gates read them.
    pub async fn still_running(&mut self) -> Vec<String> {
        match self.gate.as_mut() {
            Some(gate) => gate.still_running().await,
            None => Vec::new(),
        }
    }

    /// The evidence of a failed gate, with failures described (after the rollback, so that it
    /// never waits on these calls): the verdict again, if it still fails.
    pub async fn evidence(&mut self) -> Option<String> {
        let gate = self.gate.as_mut()?;
        let reading = match tokio::time::timeout(Duration::from_secs(10), gate.describe_failures()).await {
            Ok(Ok(Some(reading))) => reading,
            Ok(Err(e)) => {
                tracing::warn!("could not describe the failed executions: {e:#}");
                return None;
            }
            _ => return None,
        };
        match judge(gate.rules(), &reading) {
            Verdict::Fail(evidence) => Some(evidence),
            _ => None,
        }
    }
}

const NO_ANSWER: &str = "no answer within --max-unmonitored";

fn no_answer() -> anyhow::Error {
    anyhow::anyhow!(NO_ANSWER)
}
