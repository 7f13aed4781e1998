//! The health signals of a deploy (the alarms, and the gates on each member's new version's
//! executions), each read at its own pace, and the one summary the executor acts on.
//!
//! A read ends three ways. Answered: its verdict counts (an alarm in ALARM, a failed gate).
//! Throttled: the service is up and asks for fewer calls, so that signal's polling backs off
//! (doubling, up to [`BACKOFF_MAX`] polls) and the weights wait; a signal throttled for
//! [`throttle_bound`] is lost monitoring. No answer, or any other error: it counts towards
//! `--max-unmonitored`, past which the deploy rolls back rather than go on blind.

mod after;

use std::time::Duration;

use anyhow::Result;
use futures_util::future::join_all;
use tokio::time::{Instant, timeout_at};

use super::reason::Reason;
use crate::aws::{FailureKind, failure_kind};
use crate::cli::GateMode;
use crate::config::WatchSettings;
use crate::gates::alarms::{AlarmChecker, AlarmReport, Allowed};
use crate::gates::{Gate, Reading, Verdict, judge, leans_to_fail};
use crate::label::Label;
use crate::report::event::ReadCause;
use crate::report::{Event, Reporter};
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
    /// The alarms of one place (all of them, without waves): each target's are read, and
    /// throttled, on their own.
    Alarms(usize),
    /// The gates of member `n`.
    Gate(usize),
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

impl Pace {
    /// A signal read from now on, last answered at `answered`.
    fn new(which: Which, answered: Instant) -> Self {
        Pace { which, answered, throttled_since: None, not_before: Instant::now(), backoff: 0 }
    }
}

/// One member's gates, as the watch keeps them.
pub struct GateSlot {
    pub label: Label,
    pub gate: Option<Gate>,
    /// Events about this member.
    pub reporter: Reporter,
}

struct Gated {
    slot: GateSlot,
    /// The latest reading of its gates.
    reading: Option<Reading>,
    /// Whether that reading leans towards failing (see [`leans_to_fail`]).
    leaning: bool,
    /// What that reading still lacks for a verdict, if anything.
    too_few: Option<String>,
    /// `--gate-mode observe`: what it would have done was said in this step.
    observed: bool,
}

/// Which signals a look reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every signal due.
    All,
    /// Only the gates whose last reading leans towards failing.
    Leaning,
}

/// The soonest a gate that leans towards failing is read again.
const SOONEST: Duration = Duration::from_millis(250);

/// The signals of one deploy.
pub struct Watch<'a> {
    /// The alarms, a checker per place.
    alarms: Vec<AlarmChecker>,
    /// `--allow-firing`
    allowed: Allowed,
    gates: Vec<Gated>,
    settings: WatchSettings,
    reporter: &'a Reporter,
    paces: Vec<Pace>,
    /// When traffic began to move.
    began: Instant,
}

/// What the watch starts from: the alarms allowed to fire, and when the alarms were last read
/// (all counting as OK) before the deploy, if they were.
pub struct Before {
    pub allowed: Allowed,
    pub read_at: Option<Instant>,
}

impl<'a> Watch<'a> {
    /// `gates`: each member's, and whether it is read from the start (in waves, a wave's are
    /// read once it starts: see [`Watch::activate`]).
    pub fn new(
        alarms: AlarmChecker,
        (gates, active): (Vec<GateSlot>, Vec<bool>),
        settings: WatchSettings,
        reporter: &'a Reporter,
        before: Before,
    ) -> Self {
        let read_at = before.read_at;
        let now = Instant::now();
        let pace = |which| {
            Pace::new(which, if matches!(which, Which::Alarms(_)) { read_at.unwrap_or(now) } else { now })
        };
        let mut paces = Vec::new();
        let alarms = alarms.split();
        for i in 0..alarms.len() {
            paces.push(pace(Which::Alarms(i)));
        }
        for (n, slot) in gates.iter().enumerate() {
            if slot.gate.is_some() && active.get(n).copied().unwrap_or(true) {
                paces.push(pace(Which::Gate(n)));
            }
        }
        let gates = gates
            .into_iter()
            .map(|slot| Gated { slot, reading: None, leaning: false, too_few: None, observed: false })
            .collect();
        Watch { alarms, allowed: before.allowed, gates, settings, reporter, paces, began: now }
    }

    /// A wave starts: from now on the gates of members `gates` are read, and `alarms` with the
    /// rest; `report` is the read of these alarms just made (the blockers'), the first read for
    /// the alarms allowed to fire.
    pub fn activate(&mut self, gates: &[usize], alarms: AlarmChecker, report: Option<&AlarmReport>) {
        let now = Instant::now();
        let pace = |which| Pace::new(which, now);
        for checker in alarms.split() {
            self.paces.push(pace(Which::Alarms(self.alarms.len())));
            self.alarms.push(checker);
        }
        if let Some(report) = report {
            for (alarm, state) in self.allowed.note(report) {
                self.reporter.emit(Event::AllowedAlarm { alarm, state, at: self.began.elapsed() });
            }
        }
        for &n in gates {
            let watched = self.paces.iter().any(|p| p.which == Which::Gate(n));
            if self.gates.get(n).is_some_and(|g| g.slot.gate.is_some()) && !watched {
                self.paces.push(pace(Which::Gate(n)));
            }
        }
    }

    /// Whether `alarm` is one `--allow-firing` names.
    pub fn allowed_to_fire(&self, alarm: &str) -> bool {
        self.allowed.allows(alarm)
    }

    /// A new step began: an observing gate says again what it would do.
    pub fn new_step(&mut self) {
        for g in &mut self.gates {
            g.observed = false;
        }
    }

    /// `--gate-mode observe`: says once a step what member `n`'s gates would have done
    /// (`would`: `roll_back` or `wait`), had they been enforced.
    fn observe(&mut self, n: usize, would: &str, evidence: String) {
        let at = self.began.elapsed();
        let g = &mut self.gates[n];
        if !g.observed {
            g.observed = true;
            g.slot.reporter.emit(Event::GateObserved { would: would.into(), evidence, at });
        }
    }

    /// Whether anything is watched.
    pub fn watching(&self) -> bool {
        !self.paces.is_empty()
    }

    /// Whether some signal's reads are being throttled now.
    pub fn throttled(&self) -> bool {
        self.paces.iter().any(|p| p.throttled_since.is_some())
    }

    /// How long a hold may wait for evidence: `--max-extension`, or by default one hold, and
    /// while a new version's executions still run, its old version's p95 and a poll.
    pub fn extension(&self) -> Duration {
        let mut extension = Duration::ZERO;
        for g in &self.gates {
            let Some(rules) = g.slot.gate.as_ref().map(Gate::rules) else { continue };
            if rules.extension_given {
                return rules.max_extension;
            }
            let running = g.reading.as_ref().filter(|r| r.new.running > 0);
            let slow =
                running.and_then(|r| r.old_p95).map_or(Duration::ZERO, |p95| p95 + self.settings.polling);
            extension = extension.max(rules.max_extension.max(slow));
        }
        extension
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

    /// When a gate whose last reading leans towards failing should be read again, sooner than
    /// the next poll: a quarter of a polling interval, at least 250 ms. None when no gate leans.
    pub fn sooner(&self) -> Option<Duration> {
        let soon = (self.settings.polling / 4).max(SOONEST);
        (soon < self.settings.polling && self.gates.iter().any(|g| g.leaning)).then_some(soon)
    }

    /// Reads the signals due now (within `scope`), judges what came back, and says what it
    /// means. `traffic`: which members' new versions have traffic (only those wait for evidence).
    pub async fn look(&mut self, traffic: &[bool], scope: Scope) -> Look {
        let now = Instant::now();
        // The wait a throttle asked for is the throttle bound's to count, not --max-unmonitored's:
        // a read after it starts that clock afresh.
        for pace in self.paces.iter_mut().filter(|p| p.throttled_since.is_some() && now >= p.not_before) {
            pace.answered = now;
        }
        let in_scope = |which: Which| match (scope, which) {
            (Scope::All, _) => true,
            (Scope::Leaning, Which::Gate(n)) => self.gates[n].leaning,
            (Scope::Leaning, Which::Alarms(_)) => false,
        };
        let due: Vec<Which> =
            self.paces.iter().filter(|p| now >= p.not_before && in_scope(p.which)).map(|p| p.which).collect();
        let mut fresh = due.len() == self.paces.len();
        let (alarms, gates) = self.read(&due).await;
        for (i, result) in alarms {
            match self.judge_alarms(i, result) {
                Ok(()) => {}
                Err(Some(reason)) => return Look::Bad(reason),
                Err(None) => fresh = false,
            }
        }
        for (n, result) in gates {
            match self.judge_gate(n, result) {
                Ok(()) => {}
                Err(Some(reason)) => return Look::Bad(reason),
                Err(None) => fresh = false,
            }
        }
        let missing = self.missing(traffic);
        if fresh { Look::Good { missing } } else { Look::Unread }
    }

    /// What the gates of members with traffic still wait for, if anything. Observing gates hold
    /// nothing up: they say they would have waited, and wait for nothing.
    fn missing(&mut self, traffic: &[bool]) -> Option<String> {
        for n in 0..self.gates.len() {
            let g = &self.gates[n];
            let Some(what) = g.too_few.clone().filter(|_| traffic.get(n).copied().unwrap_or(false)) else {
                continue;
            };
            if self.settings.gate_mode == GateMode::Observe {
                self.observe(n, "wait", what);
            } else {
                return Some(g.slot.label.prefix(what));
            }
        }
        None
    }

    /// Reads the signals `due` at once, each cut at its own deadline.
    async fn read(
        &mut self,
        due: &[Which],
    ) -> (Vec<(usize, Result<AlarmReport>)>, Vec<(usize, Result<Reading>)>) {
        let alarm_deadlines: Vec<Instant> =
            (0..self.alarms.len()).map(|i| self.deadline(Which::Alarms(i))).collect();
        let deadlines: Vec<Instant> = (0..self.gates.len()).map(|n| self.deadline(Which::Gate(n))).collect();
        let read_alarms =
            join_all(self.alarms.iter().enumerate().filter(|(i, _)| due.contains(&Which::Alarms(*i))).map(
                |(i, checker)| {
                    let deadline = alarm_deadlines[i];
                    async move {
                        (i, timeout_at(deadline, checker.read()).await.unwrap_or_else(|_| Err(no_answer())))
                    }
                },
            ));
        let read_gates =
            join_all(self.gates.iter_mut().enumerate().filter_map(|(n, g)| {
                let gate = g.slot.gate.as_mut().filter(|_| due.contains(&Which::Gate(n)))?;
                let deadline = deadlines[n];
                Some(async move {
                    (n, timeout_at(deadline, gate.read()).await.unwrap_or_else(|_| Err(no_answer())))
                })
            }));
        tokio::join!(read_alarms, read_gates)
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
    fn judge_alarms(&mut self, i: usize, result: Result<AlarmReport>) -> Result<(), Option<Reason>> {
        let report = match result {
            Ok(report) => report,
            Err(e) => return self.unread(Which::Alarms(i), &e),
        };
        let firing = self.allowed.firing(&report);
        let at = self.began.elapsed();
        for (alarm, state) in self.allowed.note(&report) {
            self.reporter.emit(Event::AllowedAlarm { alarm, state, at });
        }
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
            return self.unread(Which::Alarms(i), &error);
        }
        self.answered(Which::Alarms(i));
        Ok(())
    }

    /// Ok: read and not failed. Err as for the alarms; the evidence names the member in a
    /// release.
    fn judge_gate(&mut self, n: usize, result: Result<Reading>) -> Result<(), Option<Reason>> {
        let reading = match result {
            Ok(reading) => reading,
            Err(e) => return self.unread(Which::Gate(n), &e),
        };
        self.answered(Which::Gate(n));
        let g = &mut self.gates[n];
        let rules = g.slot.gate.as_ref().expect("read").rules();
        let verdict = judge(rules, &reading);
        g.leaning = leans_to_fail(rules, &reading, g.reading.as_ref());
        g.too_few = match &verdict {
            Verdict::TooFew(what) => Some(what.clone()),
            _ => None,
        };
        g.slot.reporter.emit(Event::ExecutionsRead { reading: Box::new(reading.clone()) });
        g.reading = Some(reading);
        match verdict {
            Verdict::Fail(evidence) if self.settings.gate_mode == GateMode::Observe => {
                self.observe(n, "roll_back", evidence);
                Ok(())
            }
            Verdict::Fail(evidence) => Err(Some(Reason::Executions(g.slot.label.prefix(evidence)))),
            _ => Ok(()),
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
        let reporter = match which {
            Which::Alarms(_) => self.reporter.clone(),
            Which::Gate(n) => self.gates[n].slot.reporter.clone(),
        };
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
        reporter.emit(Event::SignalReadFailed {
            signal: signal.to_string(),
            cause,
            error: error_text.clone(),
            unmonitored,
            throttled,
        });
        let lost = |for_| {
            Some(Reason::Unmonitored { for_, error: format!("{signal}: {}: {error_text}", cause.name()) })
        };
        let lost = match () {
            () if unmonitored >= max_unmonitored => lost(unmonitored),
            () if throttled >= bound => lost(throttled),
            () => return Err(None),
        };
        // An observing gate that cannot be read rolls nothing back either: it says so, and its
        // clock starts afresh.
        if let (Which::Gate(n), GateMode::Observe) = (which, self.settings.gate_mode) {
            let evidence = lost.as_ref().map(Reason::describe).unwrap_or_default();
            self.observe(n, "roll_back", evidence);
            let pace = self.pace(which);
            pace.answered = now;
            pace.throttled_since = None;
            return Err(None);
        }
        Err(lost)
    }

    fn pace(&mut self, which: Which) -> &mut Pace {
        self.paces.iter_mut().find(|p| p.which == which).expect("a watched signal")
    }

    /// `alarms`, `executions` or `metrics` (`payments executions` in a release): what a message
    /// calls the signal.
    fn signal_name(&self, which: Which) -> String {
        match which {
            Which::Alarms(i) => match self.alarms[i].place() {
                Some(place) => format!("alarms in {place}"),
                None => "alarms".into(),
            },
            Which::Gate(n) => {
                let g = &self.gates[n];
                let kind = match g.slot.gate {
                    Some(Gate::Metrics(_)) => "metrics",
                    _ => "executions",
                };
                g.slot.label.signal(kind)
            }
        }
    }
}

const NO_ANSWER: &str = "no answer within --max-unmonitored";

fn no_answer() -> anyhow::Error {
    anyhow::anyhow!(NO_ANSWER)
}
