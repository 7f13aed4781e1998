//! Does a plan: for each step, check the health signals, shift the weights, hold while the
//! signals are read ([`super::watch`]); roll back when one says so, the signals go unread too
//! long, a shift fails, or a signal to stop arrives. One loop serves every strategy.

use std::time::Duration;

use anyhow::Result;
use tokio::time::{Instant, sleep, sleep_until};

use super::watch::{Look, Watch};
use crate::alias::AliasHandle;
use crate::arn::short_version;
use crate::aws::AwsFlags;
use crate::clock::ServerClock;
use crate::command_line;
use crate::config::WatchSettings;
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::gates::Gate;
use crate::gates::alarms::AlarmChecker;
use crate::note::{Marker, Record};
use crate::report::{Event, Reporter};
use crate::rollback::{Reason, Rollback};
use crate::routing::Routing;
use crate::signals::Signals;
use crate::strategy::Step;

/// What the executor moves: the alias, from the old version to the new one.
pub struct Job {
    pub alias: AliasHandle,
    pub old_version: String,
    pub new_version: String,
    /// The last step is a `--pause-at` stop: its marker says so.
    pub pauses: bool,
    /// Health gates on the new version's executions, when any is on.
    pub gate: Option<Gate>,
    /// When the alarms were read (all OK) just before the deploy, if they were: that read
    /// stands in for the first gate while it is fresh.
    pub alarms_read_at: Option<Instant>,
}

/// What the executor works with.
pub struct Context<'a> {
    pub alarms: &'a AlarmChecker,
    pub settings: WatchSettings,
    pub reporter: &'a Reporter,
    pub signals: &'a mut Signals,
    /// `--region ...` for printed `aws` commands.
    pub aws_cli: &'a AwsFlags,
    /// AWS's time, for the marker's due time.
    pub clock: &'a ServerClock,
}

/// The alarm read made during the pre-deploy checks stands in for the first gate if it is this
/// recent (and younger than a polling interval): traffic has not moved since.
const GATE_FRESH: Duration = Duration::from_secs(1);

pub struct Executor<'a> {
    alias: AliasHandle,
    old_version: String,
    new_version: String,
    watch: Watch<'a>,
    settings: WatchSettings,
    reporter: &'a Reporter,
    signals: &'a mut Signals,
    aws_cli: &'a AwsFlags,
    clock: &'a ServerClock,
    /// A read made just before the deploy that the first gate may use instead of its own.
    earlier_read: Option<Instant>,
    /// Whether any weight was changed yet; before that, stopping needs no rollback.
    shifted: bool,
    initial: Routing,
    pauses: bool,
}

impl<'a> Executor<'a> {
    pub fn new(job: Job, context: Context<'a>) -> Self {
        let initial = job.alias.routing().clone();
        let owned = initial.weight_of(&job.new_version) > 0;
        let watch =
            Watch::new(context.alarms, job.gate, context.settings, context.reporter, job.alarms_read_at);
        Executor {
            alias: job.alias,
            old_version: job.old_version,
            new_version: job.new_version,
            watch,
            settings: context.settings,
            reporter: context.reporter,
            signals: context.signals,
            aws_cli: context.aws_cli,
            clock: context.clock,
            earlier_read: job.alarms_read_at,
            // A deploy that continues from a split alias carrying the new version owns that split:
            // any bad signal, from the first look on, puts the alias back on the old version.
            shifted: owned,
            initial,
            pauses: job.pauses,
        }
    }

    /// The new version's executions still running, if the gates read them.
    pub async fn still_running(&mut self) -> Vec<String> {
        self.watch.still_running().await
    }

    /// Runs the steps the planner left (each weight above the new version's current one): the
    /// alias ends on the last step's weight, 100% on the new version unless the plan pauses
    /// (Ok), or the error says where it is and why.
    pub async fn run(&mut self, steps: &[Step]) -> Result<()> {
        for (i, step) in steps.iter().enumerate() {
            let reuse = i == 0
                && self.earlier_read.is_some_and(|at| at.elapsed() < GATE_FRESH.min(self.settings.polling));
            if !reuse {
                self.gate().await?;
            }
            let description = if step.weight < 100 {
                Marker {
                    new_version: short_version(&self.new_version),
                    weight: step.weight,
                    pausing: self.pauses && i + 1 == steps.len(),
                    due: self.clock.now() + step.hold,
                }
                .description(i + 1, steps.len(), self.alias.own_text())
            } else {
                let record = Record {
                    live: short_version(&self.new_version),
                    before: short_version(&self.old_version),
                };
                record.description(self.alias.own_text())
            };
            self.shift(step.weight, Some(description)).await?;
            let confirmed = Instant::now();
            let remaining: Duration = steps[i..].iter().map(|s| s.hold).sum();
            self.reporter.emit(Event::WeightsChanged {
                step: i + 1,
                steps: steps.len(),
                old_version: self.old_version.clone(),
                new_version: self.new_version.clone(),
                new_weight: step.weight,
                hold: step.hold,
                remaining,
            });
            self.hold(confirmed + step.hold).await?;
        }
        // The last hold ends with one more look, and the alias read back, before success (or
        // a pause) is declared: someone may have changed it meanwhile.
        self.gate().await?;
        match self.alias.confirm().await {
            Ok(_) => Ok(()),
            Err(e) if exit_code_of(&e) == ExitCode::Conflict => Err(self.conflict(e)),
            Err(e) => {
                // The change itself was answered: the alias routes what was set, as far as AWS said.
                tracing::warn!(
                    "could not read alias {} back ({e:#}): it routes {} as far as sfndeploy knows",
                    self.alias.arn,
                    self.alias.routing()
                );
                Ok(())
            }
        }
    }

    /// Someone else changed the alias: the error says so, with the command that puts the old
    /// version back; nothing is touched.
    fn conflict(&self, e: anyhow::Error) -> anyhow::Error {
        let restore =
            command_line::restore(&self.alias.arn, &Routing::single(&self.old_version), self.aws_cli);
        Failure::err(
            ExitCode::Conflict,
            format!("{e:#}. To route all traffic back to {}: {restore}", short_version(&self.old_version)),
        )
    }

    /// Sets the new version's weight (and the alias's marker), guarded against changes by others.
    async fn shift(&mut self, weight: u8, marker: Option<String>) -> Result<()> {
        let target = Routing::shifted(&self.old_version, &self.new_version, weight);
        match self.alias.set(&target, marker).await {
            Ok(()) => {
                self.shifted = true;
                Ok(())
            }
            Err(e) if exit_code_of(&e) == ExitCode::Conflict => Err(self.conflict(e)),
            Err(e) => {
                self.shifted = true; // the change may have gone through
                Err(self.roll_back(Reason::ShiftFailed(format!("{e:#}"))).await)
            }
        }
    }

    /// Waits until `until`, reading the alarms every polling interval. Ends on time: the last
    /// sleep is cut to the deadline, and the check at the deadline is the next gate's.
    async fn hold(&mut self, until: Instant) -> Result<()> {
        let polling = self.settings.polling;
        let mut next_poll = Instant::now() + polling;
        loop {
            let wake = if self.watch.watching() { next_poll.min(until) } else { until };
            tokio::select! {
                _ = sleep_until(wake) => {}
                s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
            }
            if Instant::now() >= until {
                return Ok(());
            }
            self.look().await?;
            // Reads keep their pace: after a slow one, the missed ticks are skipped, never made
            // up back to back (CloudWatch throttles).
            next_poll += polling;
            let now = Instant::now();
            if next_poll <= now {
                next_poll = now + polling;
            }
        }
    }

    /// A fresh reading of every signal with nothing to say against going on, or no going
    /// forward. Unread signals are read again until they have gone unread too long (see
    /// [`Watch`]); too little evidence waits up to the extension, then is inconclusive.
    async fn gate(&mut self) -> Result<()> {
        if !self.watch.watching() {
            return Ok(());
        }
        let began = Instant::now();
        loop {
            let look = self.look().await?;
            // The gates ask for evidence of the new version once it has traffic: before the
            // first weight change there is none to wait for.
            let has_traffic = self.alias.routing().weight_of(&self.new_version) > 0;
            let wait = match look {
                Look::Good { missing: None } => return Ok(()),
                Look::Good { missing: Some(_) } if !has_traffic => return Ok(()),
                Look::Good { missing: Some(what) } => {
                    let extension = self.watch.extension();
                    if began.elapsed() >= extension {
                        let reason = Reason::Inconclusive { what, waited: began.elapsed() };
                        return Err(self.stop(reason).await);
                    }
                    self.settings.polling.min(extension.saturating_sub(began.elapsed()))
                }
                Look::Unread | Look::Bad(_) => self.watch.retry_in(),
            };
            tokio::select! {
                _ = sleep(wait) => {}
                s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
            }
        }
    }

    /// One look at the signals; a signal to stop, or a bad one, ends the deploy.
    async fn look(&mut self) -> Result<Look> {
        let look = tokio::select! {
            look = self.watch.look() => look,
            s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
        };
        match look {
            Look::Bad(reason) => Err(self.stop(reason).await),
            look => Ok(look),
        }
    }

    /// Ends the deploy early: rolls back if traffic moved, else leaves the alias as found. A
    /// failed gate's evidence is completed (failures described) only after the rollback call.
    async fn stop(&mut self, reason: Reason) -> anyhow::Error {
        let evidence = match &reason {
            Reason::Executions(evidence) => Some(evidence.clone()),
            _ => None,
        };
        let err = self.stop_now(reason).await;
        let Some(first) = evidence else { return err };
        let full = self.watch.evidence().await.unwrap_or_else(|| first.clone());
        self.reporter.emit(Event::ExecutionsFailed { evidence: full.clone() });
        match err.downcast::<Failure>() {
            Ok(f) => Failure::err(f.code, f.message.replacen(&first, &full, 1)),
            Err(err) => err,
        }
    }

    async fn stop_now(&mut self, reason: Reason) -> anyhow::Error {
        if self.shifted {
            return self.roll_back(reason).await;
        }
        let routing = self.alias.routing().clone();
        let mut message = format!(
            "{} before any traffic moved; alias {} still routes {}",
            reason.describe(),
            self.alias.arn,
            routing
        );
        if routing.full_version().is_none()
            && routing.same_as(&self.initial)
            && let Some(oldest) = routing.oldest_live()
        {
            message.push_str(&format!(
                ". To route all traffic back to {}: {}",
                short_version(oldest),
                command_line::restore(&self.alias.arn, &Routing::single(oldest), self.aws_cli)
            ));
        }
        Failure::err(reason.exit_code(), message)
    }

    async fn roll_back(&mut self, reason: Reason) -> anyhow::Error {
        Rollback {
            alias: &mut self.alias,
            old_version: &self.old_version,
            timeout: self.settings.rollback_timeout,
            aws_cli: self.aws_cli,
            reporter: self.reporter,
            signals: self.signals,
        }
        .run(reason)
        .await
    }
}
