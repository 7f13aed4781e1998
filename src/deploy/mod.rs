//! A whole deploy, in order: read-only checks ([`check`]) that make each state machine a
//! [`member::Member`], the planner's decision, publishing ([`publish`]), smoke executions and
//! the pre-traffic hook ([`hooks`]), then creating the alias or shifting it step by step
//! ([`executor`], which stops through [`stop`]), then pruning. Nothing is changed until every
//! check has passed; `--dry-run` ([`dry_run`]) stops after the checks and says what would
//! happen. How a deploy that does not succeed ends is an [`ending::Ending`].
//!
//! A release of several state machines goes the same way, as one: every member is checked before
//! anything changes anywhere, their aliases move in lockstep, and one rollback puts every member
//! that moved back.

mod before;
mod calendar;
mod check;
mod dry_run;
mod ending;
pub mod executor;
mod hooks;
mod lane;
mod member;
mod outcome;
mod publish;
mod reason;
mod stop;
mod targets;
mod watch;
mod waves;

use std::time::{Duration, SystemTime};

use anyhow::Result;
use tokio::time::Instant;

use crate::alias;
use crate::arn::short_version;
use crate::aws::Clients;
use crate::config::DeployConfig;
use crate::exit_code::ExitCode;
use crate::gates::alarms::AlarmChecker;
use crate::plan::{Decision, Shift};
use crate::report::{Event, Reporter};
use crate::signals::Signals;
use crate::strategy::Step;
use crate::window::Fit;
use check::AlarmsRead;
use ending::Ending;
use executor::{Context, Executor, Finish, Job};
use member::Member;
pub use outcome::Outcome;

pub struct Deploy<'a> {
    pub clients: &'a Clients,
    pub cfg: &'a DeployConfig,
    pub reporter: &'a Reporter,
    pub signals: Signals,
}

impl<'a> Deploy<'a> {
    pub async fn run(mut self) -> Result<Outcome> {
        let (cfg, clients) = (self.cfg, self.clients);
        let mut signal = self.signals.clone();
        let targets = tokio::select! {
            biased;
            s = signal.next() => return Err(s.stopped("during the checks: nothing was changed")),
            r = targets::connect(cfg, clients) => r?,
        };
        // The checks retry as every call does; the watch reads at its own pace (see `watch`).
        let alarms = targets::alarms(&targets, &cfg.alarms);
        let (mut members, alarms_read, window) = loop {
            let mut signal = self.signals.clone();
            // Before any change a signal stops at once; `biased` makes one already received win.
            let (mut members, mut alarms_read) = tokio::select! {
                biased;
                s = signal.next() => return Err(s.stopped("during the checks: nothing was changed")),
                r = check::check_all(cfg, &targets, self.reporter, &alarms) => r?,
            };
            check::warn_if_credentials_expire_first(clients, cfg).await;
            check::review(&members);
            // Decided once before any change (a refusal costs nothing), and again once the
            // versions are known for sure (publishing an unchanged revision returns an existing
            // version).
            self.decide(&mut members)?;
            let continues = members.iter().any(|m| m.shift().is_some_and(|s| s.from_weight > 0));
            // The alarms of later waves are their blockers, read when each is about to start.
            if cfg.waves.is_some() {
                alarms_read.only(&waves::watched_first(&members, &targets));
            }
            alarms_read.refuse_firing(continues)?;
            // Judged on AWS's time, which the checks' answers have just told.
            let fit = calendar::fit(&members, cfg, clients.clock.now());
            match fit {
                Fit::Later { why, at } if cfg.window.wait && !cfg.dry_run => {
                    calendar::wait(&why, at, cfg, clients, self.reporter, &mut self.signals).await?;
                }
                fit => break (members, alarms_read, fit),
            }
        };
        if cfg.dry_run {
            return dry_run::dry_run(&members, cfg).await.map(|o| calendar::in_dry_run(o, &window, cfg));
        }
        calendar::refuse(&window, cfg)?;
        check::warn_if_unwatched(cfg, &members);
        let result = match self.publish(&mut members).await.and_then(|()| self.decide(&mut members)) {
            Ok(()) => self.act(&mut members, alarms_read).await,
            Err(e) => Err(Ending::from(e)),
        };
        match result {
            Ok(outcome) => Ok(outcome),
            Err(ending) if members.iter().any(|m| m.back_to.is_some()) => {
                Err(publish::put_definitions_back(ending, &members).await.into_error())
            }
            Err(ending) => Err(ending.into_error()),
        }
    }

    /// Each member's decision, from what is known of it now; the first refusal among them, if
    /// any: then nothing changes anywhere.
    fn decide(&self, members: &mut [Member<'_>]) -> Result<()> {
        for member in members.iter_mut() {
            member.decide(self.cfg);
        }
        waves::resumed(members, self.cfg);
        for member in members.iter() {
            if let Decision::Refuse(refusal) = &member.decision {
                return Err(member.refusal(refusal, self.cfg));
            }
        }
        if members.len() > 1 {
            check::same_release(members)?;
        }
        Ok(())
    }

    /// Publishes each member's version as asked; a signal stops before the next. A file
    /// uploaded is the current revision from then on (callers of the unqualified ARN run it):
    /// what it replaced is noted, to go back should the deploy end on the old version.
    async fn publish(&mut self, members: &mut [Member<'_>]) -> Result<()> {
        for member in members.iter_mut() {
            if member.uploads(self.cfg) {
                member.back_to = member.replaced_definition();
            }
            let version = publish::publish(member, self.cfg, &mut self.signals).await?;
            if let Some(s) = self.signals.pending() {
                return Err(s.stopped(format_args!(
                    "after publishing {}: the alias was not changed",
                    short_version(&version)
                )));
            }
            member.version = Some(version);
        }
        Ok(())
    }

    /// Carries out the decisions taken once the versions are known: smoke runs and the
    /// pre-traffic hook, then the members' aliases moved in lockstep, then the aliases created
    /// and pruning.
    async fn act(&mut self, members: &mut [Member<'_>], alarms_read: AlarmsRead) -> Result<Outcome, Ending> {
        let run_id = run_id(self.clients.clock.now());
        before::before_traffic(members, self.cfg, &mut self.signals, &run_id).await?;
        let members = &*members;
        let began = Instant::now();
        let mut moved = Moved::Done;
        if members.iter().any(|m| m.shift().is_some()) {
            let release = (members.len() > 1).then(|| run_id.clone());
            moved = self.shift(members, alarms_read, release).await?;
        }
        if let Moved::WaveDone(done) = &moved {
            let waves = self.cfg.waves.as_ref().map_or(1, |w| w.waves.len());
            let resume_command = done.resume_command.clone();
            self.reporter.emit(Event::WaveDone { wave: done.wave, waves, resume_command });
        }
        let took = began.elapsed();
        let mut outcomes = Vec::new();
        for member in members {
            let outcome = self.finish(members, member, &moved, took).await;
            outcomes.push((
                member.label.name().to_string(),
                outcome.map_err(|e| Ending::from(e).after_traffic())?,
            ));
        }
        if outcomes.len() == 1 {
            return Ok(outcomes.pop().expect("one member").1);
        }
        Ok(Outcome::Release { alias: self.cfg.alias.clone(), members: outcomes })
    }

    /// How `member` ends once traffic has moved: its alias created, already there, paused, or
    /// deployed; pruned as asked.
    async fn finish(
        &mut self,
        all: &[Member<'_>],
        member: &Member<'_>,
        moved: &Moved,
        took: Duration,
    ) -> Result<Outcome> {
        let (cfg, alias) = (self.cfg, self.cfg.alias.clone());
        let version = member.version().to_string();
        Ok(match &member.decision {
            Decision::Refuse(refusal) => return Err(member.refusal(refusal, cfg)),
            _ if let Moved::WaveDone(done) = moved => return Ok(waves::wave_done(member, cfg, done)),
            Decision::CreateAlias => {
                member.clients.changes.take().await;
                alias::create_alias(&member.clients.sfn, member.state_machine_arn(), &alias, &version)
                    .await?;
                member.reporter.emit(Event::AliasCreated { alias: alias.clone(), version: version.clone() });
                hooks::post_traffic_on_created(member, cfg, &self.signals).await?;
                let pruned = publish::prune(member, &[&version], cfg, &mut self.signals).await?;
                Outcome::Created { alias, version, pruned }
            }
            Decision::NothingToDo { .. } => {
                member.reporter.emit(Event::NothingToDo { alias: alias.clone(), version: version.clone() });
                let pruned = publish::prune(member, &[&version], cfg, &mut self.signals).await?;
                Outcome::NothingToDo { alias, version, pruned }
            }
            Decision::AlreadyPaused { old, new, weight } => {
                outcome::paused(all, member, cfg, (old, new, *weight), ("paused by an earlier run", true))
            }
            Decision::Shift(shift) => match moved {
                Moved::Paused(paused) => {
                    let weight = paused.weight_of(member);
                    outcome::paused(all, member, cfg, (&shift.old, &version, weight), (&paused.why, false))
                }
                Moved::WaveDone(..) => unreachable!("said above"),
                Moved::Done | Moved::Promoted => {
                    member.reporter.emit(Event::Completed { alias: alias.clone(), version: version.clone() });
                    let pruned =
                        publish::prune(member, &[&shift.old, &version], cfg, &mut self.signals).await?;
                    let by_hand = matches!(moved, Moved::Promoted);
                    Outcome::Deployed { alias, version, took, pruned, by_hand }
                }
            },
        })
    }

    /// Moves the members' aliases from their old versions to their new ones in lockstep, step
    /// by step, watched.
    async fn shift(
        &mut self,
        members: &[Member<'_>],
        alarms_read: AlarmsRead,
        release: Option<String>,
    ) -> Result<Moved, Ending> {
        let cfg = self.cfg;
        let mut lanes = Vec::new();
        let mut shifting = Vec::new();
        for member in members {
            let Some(shift) = member.shift() else { continue };
            // In waves, a member's start is said when its wave starts.
            if cfg.waves.is_none() {
                member.started(shift, cfg);
            }
            lanes.push(member.lane(shift, cfg).await);
            shifting.push(member);
        }
        // One schedule for every member: each takes the steps above its own weight.
        let steps = lockstep(shifting.iter().filter_map(|m| m.shift()));
        let (waves, alarms) = match &cfg.waves {
            Some(w) => {
                let (plan, watched) = waves::plan(members, &shifting, w, cfg);
                (Some(plan), watched)
            }
            None => (None, AlarmChecker::new(&self.clients.watch.cloudwatch, &cfg.alarms)),
        };
        let job = Job {
            waves,
            lanes,
            pauses: shifting.iter().any(|m| m.shift().is_some_and(|s| s.pauses)),
            alarms_read_at: alarms_read.read_ok_at(),
            allowed: alarms_read.allowed,
            release,
            rerun: cfg.rerun.map(|limits| (limits, shifting.iter().map(|m| m.clients.sfn.clone()).collect())),
        };
        let context = Context {
            alarms,
            settings: cfg.watch,
            hooks: &cfg.hooks,
            reporter: self.reporter,
            signals: &mut self.signals,
            clock: &self.clients.clock,
            calendar: &cfg.window.calendar,
        };
        let mut executor = Executor::new(job, context);
        let ending = match executor.run(&steps).await {
            Ok(Finish::Done) => return Ok(Moved::Done),
            Ok(Finish::Promoted) => return Ok(Moved::Promoted),
            Ok(Finish::WaveDone(wave)) => {
                let on_new =
                    shifting.iter().zip(executor.weights()).map(|(m, w)| (m.label.clone(), w == 100));
                let resume_command = waves::resume_command(&shifting, cfg);
                return Ok(Moved::WaveDone(waves::WaveDone {
                    wave,
                    on_new: on_new.collect(),
                    resume_command,
                }));
            }
            Ok(Finish::Paused(why)) => {
                let arns = shifting.iter().map(|m| m.state_machine_arn().to_string());
                return Ok(Moved::Paused(Paused { why, weights: arns.zip(executor.weights()).collect() }));
            }
            Err(ending) => ending,
        };
        if ending.code() != ExitCode::RollbackFailed {
            for (l, version, running) in executor.still_running().await {
                if !running.is_empty() {
                    shifting[l].reporter.emit(Event::StillRunning { version, executions: running });
                }
            }
        }
        Err(ending)
    }
}

/// How the aliases moved, when the deploy did not end early.
enum Moved {
    /// As planned.
    Done,
    /// Paused on purpose.
    Paused(Paused),
    /// Promoted by hand (`sfndeploy promote`) during the deploy.
    Promoted,
    /// `--stop-after-wave N`: wave N baked.
    WaveDone(waves::WaveDone),
}

/// A deploy that paused on purpose: why, and each shifting member's weight (by state machine).
struct Paused {
    why: String,
    weights: Vec<(String, u8)>,
}

impl Paused {
    fn weight_of(&self, member: &Member<'_>) -> u8 {
        self.weights.iter().find(|(arn, _)| arn == member.state_machine_arn()).map_or(0, |(_, w)| *w)
    }
}

/// The members' steps as one schedule: every weight any member still takes, each with the
/// longest hold any gives it (they come from the same strategy).
pub(super) fn lockstep<'s>(shifts: impl Iterator<Item = &'s Shift>) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for step in shifts.flat_map(|s| s.steps.iter()) {
        match steps.iter_mut().find(|s| s.weight == step.weight) {
            Some(s) => s.hold = s.hold.max(step.hold),
            None => steps.push(*step),
        }
    }
    steps.sort_by_key(|s| s.weight);
    steps
}

/// This run's own id: the moment it began, AWS's time, in milliseconds, base 36.
fn run_id(now: SystemTime) -> String {
    let mut millis = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
    let mut id = String::new();
    while millis > 0 {
        id.insert(0, char::from_digit((millis % 36) as u32, 36).unwrap_or('0'));
        millis /= 36;
    }
    id
}
