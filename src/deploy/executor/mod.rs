//! Does a plan: for each step, check the health signals, shift the weights, hold while the
//! signals are read ([`super::watch`]); stop ([`super::stop`]) when one says so, the signals go
//! unread too long, a shift fails, or a signal to stop arrives. One loop serves every strategy,
//! and every member of a release: step k's weight is set on each member before step k's hold
//! begins, the hold is one hold, and one rollback puts every member that moved back. Where
//! people come in (a pause on purpose, a promotion by hand) is [`people`]; holds and the looks
//! that decide whether to go on, [`watching`]; ending early, [`stopping`]; a release in waves,
//! one wave after another, [`waves`].

mod people;
mod reruns;
mod stopping;
mod watching;
mod waves;

pub use waves::WavePlan;

use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

use super::ending::Ending;
use super::hooks::{self, HookResult};
use super::lane::Lane;
use super::outcome::PAUSE_AT;
use super::reason::Reason;
use super::watch::{Before, GateSlot, Watch};
use crate::arn::short_version;
use crate::clock::ServerClock;
use crate::config::{Hooks, WatchSettings};
use crate::exit_code::{ExitCode, exit_code_of};
use crate::gates::Gate;
use crate::gates::alarms::{AlarmChecker, Allowed};
use crate::gates::rerun::RerunLimits;
use crate::note::{Marker, Record};
use crate::report::{Event, Reporter};
use crate::routing::Routing;
use crate::signals::Signals;
use crate::strategy::Step;
use crate::window::{self, Calendar};

/// How the steps ended, when not early.
#[derive(Debug)]
pub enum Finish {
    /// Every alias on the last step's weight: 100% on its new version, or paused as planned.
    Done,
    /// Paused on purpose where it is: why.
    Paused(String),
    /// Someone ran `sfndeploy promote` meanwhile: every alias is 100% on its new version.
    Promoted,
    /// `--stop-after-wave N`: wave N (1-based) reached 100% and baked.
    WaveDone(usize),
}

/// What a change or a read of the aliases found.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// As this run left them.
    Ours,
    /// Some promoted by hand.
    Promoted,
}

/// During a hold, one alias is read this often (in turn): someone's change, a promotion by hand,
/// is seen without waiting for the end of the hold.
const ALIAS_READ_EVERY: Duration = Duration::from_secs(30);

/// What the executor moves.
pub struct Job {
    /// A release in waves: each lane's wave, each wave's alarms, and how waves follow.
    pub waves: Option<WavePlan>,
    /// Each member's alias, with its health gates when any is on.
    pub lanes: Vec<(Lane, Option<Gate>)>,
    /// The last step is a `--pause-at` stop: its marker says so.
    pub pauses: bool,
    /// When the alarms were read (all OK) just before the deploy, if they were: that read
    /// stands in for the first gate while it is fresh.
    pub alarms_read_at: Option<Instant>,
    /// `--allow-firing`, as the checks found the alarms.
    pub allowed: Allowed,
    /// A release of several: the id its markers carry.
    pub release: Option<String>,
    /// `--rerun-failed`: as these limits say, each lane's started with its target's client (it
    /// retries).
    pub rerun: Option<(RerunLimits, Vec<aws_sdk_sfn::Client>)>,
}

/// What the executor works with.
pub struct Context<'a> {
    /// The alarms watched from the start.
    pub alarms: AlarmChecker,
    pub settings: WatchSettings,
    /// `--post-traffic-hook`: run once every new version has 100% (unless the plan pauses).
    pub hooks: &'a Hooks,
    pub reporter: &'a Reporter,
    pub signals: &'a mut Signals,
    /// AWS's time, for the marker's due time and the deploy window.
    pub clock: &'a ServerClock,
    /// `--window` and `--freeze`: no hold begins that would end after the window closes.
    pub calendar: &'a Calendar,
}

/// The alarm read made during the pre-deploy checks stands in for the first gate if it is this
/// recent (and younger than a polling interval): traffic has not moved since.
const GATE_FRESH: Duration = Duration::from_secs(1);

pub struct Executor<'a> {
    lanes: Vec<Lane>,
    watch: Watch<'a>,
    settings: WatchSettings,
    hooks: &'a Hooks,
    reporter: &'a Reporter,
    signals: &'a mut Signals,
    clock: &'a ServerClock,
    calendar: &'a Calendar,
    /// A read made just before the deploy that the first gate may use instead of its own.
    earlier_read: Option<Instant>,
    pauses: bool,
    release: Option<String>,
    rerun: Option<(RerunLimits, Vec<aws_sdk_sfn::Client>)>,
    waves: Option<WavePlan>,
    /// The wave moving now (0 without waves).
    wave: usize,
}

impl<'a> Executor<'a> {
    pub fn new(job: Job, context: Context<'a>) -> Self {
        let first = job.waves.as_ref().map(|w| w.first_moving(job.lanes.iter().map(|(l, _)| l.new_weight())));
        let watched = job.waves.as_ref().map(|w| w.watched);
        let (lanes, gates): (Vec<Lane>, Vec<GateSlot>) = job
            .lanes
            .into_iter()
            .map(|(lane, gate)| {
                let slot = GateSlot { label: lane.label.clone(), gate, reporter: lane.reporter.clone() };
                (lane, slot)
            })
            .unzip();
        let before = Before { allowed: job.allowed, read_at: job.alarms_read_at };
        // In waves, the gates of a wave are read once it starts (and those of waves already
        // moved from the start).
        let active: Vec<bool> = match (&job.waves, watched) {
            (Some(w), Some(watched)) => w.wave_of.iter().map(|&wave| wave < watched).collect(),
            _ => vec![true; gates.len()],
        };
        let watch = Watch::new(context.alarms, (gates, active), context.settings, context.reporter, before);
        Executor {
            lanes,
            watch,
            settings: context.settings,
            hooks: context.hooks,
            reporter: context.reporter,
            signals: context.signals,
            clock: context.clock,
            calendar: context.calendar,
            earlier_read: job.alarms_read_at,
            pauses: job.pauses,
            release: job.release,
            rerun: job.rerun,
            waves: job.waves,
            wave: first.unwrap_or(0),
        }
    }

    /// Each member's new version's executions still running, if the gates read them:
    /// (lane, new version, executions).
    pub async fn still_running(&mut self) -> Vec<(usize, String, Vec<String>)> {
        let running = self.watch.still_running().await;
        self.lanes.iter().zip(running).enumerate().map(|(l, (m, r))| (l, m.new_version.clone(), r)).collect()
    }

    /// Each member's new version's weight, as last set or read.
    pub fn weights(&self) -> Vec<u8> {
        self.lanes.iter().map(Lane::new_weight).collect()
    }

    /// Runs the steps the planner left: each member takes the steps above its own current
    /// weight. Every alias ends on the last step's weight, 100% on its new version (Ok(None)),
    /// or paused on purpose where it is (Ok(Some(why))), or the ending says where each is and
    /// why. In waves, each wave takes the steps in turn, once the one before reached 100% and
    /// baked, and once its own alarms (its blockers) are clear.
    pub async fn run(&mut self, steps: &[Step]) -> Result<Finish, Ending> {
        let (first, count) = match &self.waves {
            // Nothing has moved since the executor was made: the wave it starts from.
            Some(w) => (self.wave, w.settings.waves.len()),
            None => (0, 1),
        };
        for wave in first..count {
            let lanes: Vec<usize> = (0..self.lanes.len()).filter(|&l| self.wave_of(l) == wave).collect();
            // A wave watched from the start (the first, or one a resumed run finds with traffic)
            // has no blockers: its alarms roll back, as for any deploy that continues.
            if let Some(plan) = self.waves.as_ref().filter(|w| wave >= w.watched) {
                let (checker, places) = (plan.alarms[wave].clone(), plan.places[wave].clone());
                let report = self.blockers(wave, &checker, &places).await?;
                self.start_wave(wave, checker, report.as_ref());
            } else {
                self.start_wave(wave, AlarmChecker::default(), None);
            }
            let below = lanes.iter().map(|&l| self.lanes[l].new_weight()).min().unwrap_or(100);
            let mine: Vec<Step> = steps.iter().copied().filter(|s| s.weight > below).collect();
            if let Some(finish) = self.steps(&mine, &lanes, wave == first).await? {
                return Ok(finish);
            }
            // A wave with nothing to move here (its targets already on their new versions) has
            // nothing to bake.
            if wave + 1 < count && !lanes.is_empty() {
                if let Some(finish) = self.bake(wave).await? {
                    return Ok(finish);
                }
                if self.waves.as_ref().is_some_and(|w| w.settings.stop_after == Some(wave + 1)) {
                    return Ok(Finish::WaveDone(wave + 1));
                }
            }
        }
        // The last hold ends with one more look, and each alias read back, before success (or
        // a pause) is declared: someone may have changed one meanwhile.
        if let Some(why) = self.gate().await? {
            return self.pause(why, (steps.len(), steps.len())).await;
        }
        if self.confirm_all().await? == Found::Promoted {
            return self.promoted().await;
        }
        if self.pauses {
            return Ok(Finish::Paused(PAUSE_AT.to_string()));
        }
        let result = hooks::post_traffic(&self.lanes, self.hooks, self.signals).await;
        // The hooks saw a signal through receivers of their own: it is the rollback's too, not
        // a second one.
        let _ = self.signals.pending();
        match result {
            None | Some(HookResult::Passed) => Ok(Finish::Done),
            Some(HookResult::Stopped(s)) => Err(self.stop(Reason::Signal(s)).await),
            Some(HookResult::Failed(text)) => Err(self.stop(Reason::Hook(text)).await),
        }
    }

    /// The steps of one wave (all lanes without waves): `lanes` take each step above their own
    /// weight. Some(finish): the run ends there (paused, or promoted by hand).
    async fn steps(
        &mut self,
        steps: &[Step],
        lanes: &[usize],
        first: bool,
    ) -> Result<Option<Finish>, Ending> {
        for (i, step) in steps.iter().enumerate() {
            // A hold is begun only if it ends before the deploy window closes.
            if let Some(why) = window::stop_before(self.calendar, self.clock.now(), step.hold) {
                return self.pause(why, (i, steps.len())).await.map(Some);
            }
            let reuse = i == 0
                && first
                && self.earlier_read.is_some_and(|at| at.elapsed() < GATE_FRESH.min(self.settings.polling));
            if !reuse && let Some(why) = self.gate().await? {
                return self.pause(why, (i, steps.len())).await.map(Some);
            }
            let due = self.clock.now() + step.hold;
            let pausing = self.pauses && i + 1 == steps.len();
            let targets = (0..self.lanes.len())
                .map(|l| {
                    (lanes.contains(&l) && self.lanes[l].new_weight() < step.weight).then(|| {
                        (step.weight, self.description(l, (i, steps.len()), step.weight, (due, pausing)))
                    })
                })
                .collect();
            if self.shift(targets).await? == Found::Promoted {
                return self.promoted().await.map(Some);
            }
            self.watch.new_step();
            let confirmed = Instant::now();
            let remaining: Duration = steps[i..].iter().map(|s| s.hold).sum();
            for lane in lanes.iter().map(|&l| &self.lanes[l]) {
                lane.reporter.emit(Event::WeightsChanged {
                    step: i + 1,
                    steps: steps.len(),
                    old_version: lane.old_version.clone(),
                    new_version: lane.new_version.clone(),
                    new_weight: lane.new_weight(),
                    hold: step.hold,
                    remaining,
                });
            }
            if self.hold(confirmed + step.hold).await? == Found::Promoted {
                return self.promoted().await.map(Some);
            }
        }
        Ok(None)
    }

    /// Reads each alias back: those someone else changed end the deploy as a conflict, unless
    /// promoted by hand.
    async fn confirm_all(&mut self) -> Result<Found, Ending> {
        let mut conflicts = Vec::new();
        for (l, lane) in self.lanes.iter_mut().enumerate() {
            match lane.alias.confirm().await {
                Ok(_) => {}
                Err(e) if crate::alias::promoted_by_hand(&e) => return Ok(Found::Promoted),
                Err(e) if exit_code_of(&e) == ExitCode::Conflict => conflicts.push((l, e)),
                Err(e) => {
                    // The change itself was answered: the alias routes what was set, as AWS said.
                    tracing::warn!(
                        "could not read alias {} back ({e:#}): it routes {} as far as sfndeploy knows",
                        lane.alias.arn,
                        lane.alias.routing()
                    );
                }
            }
        }
        if conflicts.is_empty() { Ok(Found::Ours) } else { Err(self.stop_others(conflicts).await) }
    }

    /// What lane `l`'s description says at step `i` of `steps`: while split, the marker (with
    /// the release's id: due then, or pausing then); at 100%, the record of the version live
    /// before.
    fn description(
        &self,
        l: usize,
        (i, steps): (usize, usize),
        weight: u8,
        (due, pausing): (std::time::SystemTime, bool),
    ) -> String {
        let lane = &self.lanes[l];
        if weight < 100 {
            let marker = Marker {
                new_version: short_version(&lane.new_version),
                weight,
                pausing,
                due,
                release: self.release.clone(),
            };
            marker.description(i + 1, steps, lane.alias.own_text())
        } else {
            let record =
                Record { live: short_version(&lane.new_version), before: short_version(&lane.old_version) };
            record.description(lane.alias.own_text())
        }
    }

    /// Sets the new versions' weight and the aliases' descriptions on every lane that has a
    /// target, all at once, each guarded against changes by others. The first failure ends the
    /// deploy: a conflict leaves that alias alone and rolls the others back.
    async fn shift(&mut self, targets: Vec<Option<(u8, String)>>) -> Result<Found, Ending> {
        let results = join_all(self.lanes.iter_mut().zip(targets).map(|(lane, target)| async move {
            let (weight, description) = target?;
            let routing = Routing::shifted(&lane.old_version, &lane.new_version, weight);
            Some(lane.alias.set(&routing, Some(description)).await)
        }))
        .await;
        let (mut conflicts, mut failed, mut promoted) = (Vec::new(), None, false);
        for (l, result) in results.into_iter().enumerate() {
            match result {
                None => {}
                Some(Ok(())) => self.lanes[l].owned = true,
                Some(Err(e)) if crate::alias::promoted_by_hand(&e) => promoted = true,
                Some(Err(e)) if exit_code_of(&e) == ExitCode::Conflict => conflicts.push((l, e)),
                Some(Err(e)) => {
                    self.lanes[l].owned = true; // the change may have gone through
                    failed.get_or_insert((l, e));
                }
            }
        }
        if !conflicts.is_empty() {
            return Err(self.stop_others(conflicts).await);
        }
        if promoted {
            return Ok(Found::Promoted);
        }
        match failed {
            None => Ok(Found::Ours),
            Some((l, e)) => {
                let what = self.lanes[l].label.prefix(format_args!("{e:#}"));
                Err(self.stop(Reason::ShiftFailed(what)).await)
            }
        }
    }
}
