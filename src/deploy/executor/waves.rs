//! A release in waves, in the executor: a wave starts once the one before reached 100% and
//! baked (every target moved so far watched for `--wave-bake`), and once its own alarms, its
//! blockers, are clear (waiting up to `--blocker-wait`). A bad signal anywhere stops the
//! release: every target it moved goes back, in every wave, unless `--on-wave-failure current`
//! keeps the earlier waves where they are.

use std::time::Duration;

use tokio::time::Instant;

use super::{Executor, Finish, Found};
use crate::cli::OnWaveFailure;
use crate::config::Waves;
use crate::deploy::ending::Ending;
use crate::exit_code::{ExitCode, Failure};
use crate::gates::alarms::{AlarmChecker, AlarmReport};
use crate::report::Event;
use crate::text::quoted_names;

/// What the executor knows of the waves.
pub struct WavePlan {
    /// Each lane's wave.
    pub wave_of: Vec<usize>,
    /// Each lane's `started` event, said when its wave starts.
    pub started: Vec<Option<Event>>,
    /// The command that goes on with the release (the same, with `--resume`).
    pub resume_command: String,
    /// Each wave's alarms, read with the watch's clients of its targets.
    pub alarms: Vec<AlarmChecker>,
    /// Each wave's targets (`us-east-1:111111111111`).
    pub places: Vec<Vec<String>>,
    /// How many waves are watched from the start: the waves before (and with) it need no
    /// blocker read (see `deploy::waves::watched_from_start`).
    pub watched: usize,
    pub settings: Waves,
}

impl WavePlan {
    /// The first wave with a lane below 100%, of the lanes' new versions' `weights` (the waves
    /// before it moved in an earlier run).
    pub fn first_moving(&self, weights: impl IntoIterator<Item = u8>) -> usize {
        let below = weights.into_iter().enumerate().filter(|(_, w)| *w < 100);
        below.map(|(l, _)| self.wave_of[l]).min().unwrap_or(0)
    }
}

impl Executor<'_> {
    /// Lane `l`'s wave (0 without waves).
    pub(super) fn wave_of(&self, l: usize) -> usize {
        self.waves.as_ref().map_or(0, |w| w.wave_of[l])
    }

    /// `--on-wave-failure current`: the lanes of the waves before the current one (moving, or
    /// baking) stay where they are when the release stops.
    pub(super) fn kept_on_failure(&self) -> Vec<usize> {
        let Some(plan) = self.waves.as_ref().filter(|w| w.settings.on_failure == OnWaveFailure::Current)
        else {
            return Vec::new();
        };
        (0..self.lanes.len()).filter(|&l| plan.wave_of[l] < self.wave).collect()
    }

    /// Reads wave `wave`'s alarms before it starts: all clear, it may start (the read returned);
    /// one in ALARM, or unreadable, waits up to `--blocker-wait` while every target moved so far
    /// stays watched, then stops the release where it is. The alarms allowed to fire
    /// (`--allow-firing`) do not block.
    pub(super) async fn blockers(
        &mut self,
        wave: usize,
        checker: &AlarmChecker,
        places: &[String],
    ) -> Result<Option<AlarmReport>, Ending> {
        if checker.is_empty() {
            return Ok(None);
        }
        let wait = self.waves.as_ref().map_or(Duration::ZERO, |w| w.settings.blocker_wait);
        let began = Instant::now();
        let mut said = false;
        loop {
            let why = match checker.read().await {
                Ok(report) => {
                    let firing: Vec<String> =
                        report.firing().into_iter().filter(|a| !self.watch.allowed_to_fire(a)).collect();
                    if firing.is_empty() && report.missing.is_empty() {
                        return Ok(Some(report));
                    }
                    if firing.is_empty() {
                        format!("CloudWatch has no alarm named {}", quoted_names(&report.missing))
                    } else {
                        format!("alarm {} is in ALARM", quoted_names(&firing))
                    }
                }
                Err(e) => format!("its alarms could not be read ({e:#})"),
            };
            let waited = began.elapsed();
            if waited >= wait {
                self.reporter.emit(Event::WaveBlocked { wave: wave + 1, why: why.clone(), waited });
                return Err(self.blocked(wave, &why, places));
            }
            if !said {
                said = true;
                self.reporter.emit(Event::WaveBlocked { wave: wave + 1, why, waited: Duration::ZERO });
            }
            // The targets moved so far stay watched meanwhile. (Nothing is split between waves: a
            // promotion by hand has nothing to promote.)
            let next = (Instant::now() + self.settings.polling).min(began + wait);
            self.hold(next).await?;
        }
    }

    /// The release stops before wave `wave`: the waves before it stay on their new versions
    /// (they reached 100% and baked; nothing says they are bad), the rest as they were.
    fn blocked(&self, wave: usize, why: &str, places: &[String]) -> Ending {
        let moved = self.lanes.iter().filter(|l| l.new_weight() == 100).count();
        let resume = self.waves.as_ref().map(|w| w.resume_command.as_str()).unwrap_or_default();
        let message = format!(
            "wave {} ({}) did not start: {why}, past --blocker-wait. The {moved} target alias(es) of the \
             waves before it stay on their new versions; the others were not changed. To go on once it \
             clears: {resume}",
            wave + 1,
            places.join(", ")
        );
        // Nothing is put back: the waves before are on their new versions, and the rest resume.
        Ending::from(Failure::err(ExitCode::Blocked, message)).after_traffic()
    }

    /// Wave `wave` starts: its gates and alarms are watched from now on (the first's are from
    /// the start).
    pub(super) fn start_wave(&mut self, wave: usize, alarms: AlarmChecker, report: Option<&AlarmReport>) {
        self.wave = wave;
        let gates: Vec<usize> = (0..self.lanes.len()).filter(|&l| self.wave_of(l) == wave).collect();
        self.watch.activate(&gates, alarms, report);
        let Some(plan) = &mut self.waves else { return };
        let (waves, targets) = (plan.settings.waves.len(), plan.places[wave].clone());
        self.reporter.emit(Event::WaveStarted { wave: wave + 1, waves, targets });
        // Each member of the waves moved before (a resumed run) and of this one says it starts.
        for l in 0..self.lanes.len() {
            if plan.wave_of[l] <= wave
                && let Some(started) = plan.started[l].take()
            {
                self.lanes[l].reporter.emit(started);
            }
        }
    }

    /// After wave `wave` reached 100%: a watched hold of `--wave-bake`, then one more look with
    /// the evidence the gates ask for, over every target moved so far. Some(finish): the run
    /// ends there (paused, or promoted by hand).
    pub(super) async fn bake(&mut self, wave: usize) -> Result<Option<Finish>, Ending> {
        let Some(plan) = &self.waves else { return Ok(None) };
        let (waves, bake) = (plan.settings.waves.len(), plan.settings.bake);
        self.reporter.emit(Event::WaveBaking { wave: wave + 1, waves, bake });
        self.watch.new_step();
        if self.hold(Instant::now() + bake).await? == Found::Promoted {
            return self.promoted().await.map(Some);
        }
        if let Some(why) = self.gate().await? {
            return self.pause(why, (0, 1)).await.map(Some);
        }
        Ok(None)
    }
}
