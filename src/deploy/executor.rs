//! Does a plan: for each step, check the alarms, shift the weights, hold while polling the
//! alarms; roll back when an alarm fires, the alarms go unread too long, a shift fails, or a
//! signal arrives. One loop serves every strategy.

use std::time::{Duration, SystemTime};

use anyhow::Result;
use tokio::time::{Instant, sleep, sleep_until};

use crate::alias::{AliasHandle, Marker};
use crate::arn::short_version;
use crate::aws::AwsFlags;
use crate::command_line;
use crate::config::WatchSettings;
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::gates::alarms::AlarmChecker;
use crate::gates::{Gate, Verdict, judge};
use crate::report::{Event, Reporter};
use crate::rollback::{Reason, Rollback};
use crate::routing::Routing;
use crate::signals::Signals;
use crate::strategy::Step;
use crate::text::quoted_names;

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
}

/// The alarm read made during the pre-deploy checks stands in for the first gate if it is this
/// recent (and younger than a polling interval): traffic has not moved since.
const GATE_FRESH: Duration = Duration::from_secs(1);

pub struct Executor<'a> {
    alias: AliasHandle,
    old_version: String,
    new_version: String,
    alarms: &'a AlarmChecker,
    settings: WatchSettings,
    reporter: &'a Reporter,
    signals: &'a mut Signals,
    aws_cli: &'a AwsFlags,
    /// When the alarms were last read successfully.
    last_read_ok: Instant,
    /// A read made just before the deploy that the first gate may use instead of its own.
    earlier_read: Option<Instant>,
    /// Whether any weight was changed yet; before that, stopping needs no rollback.
    shifted: bool,
    initial: Routing,
    pauses: bool,
    gate: Option<Gate>,
    /// Finished executions of the new version at the last gate read.
    finished: u32,
}

impl<'a> Executor<'a> {
    pub fn new(job: Job, context: Context<'a>) -> Self {
        let initial = job.alias.routing().clone();
        Executor {
            alias: job.alias,
            old_version: job.old_version,
            new_version: job.new_version,
            alarms: context.alarms,
            settings: context.settings,
            reporter: context.reporter,
            signals: context.signals,
            aws_cli: context.aws_cli,
            last_read_ok: job.alarms_read_at.unwrap_or_else(Instant::now),
            earlier_read: job.alarms_read_at,
            shifted: false,
            initial,
            pauses: job.pauses,
            gate: job.gate,
            finished: 0,
        }
    }

    /// `--min-executions` (0 without gates).
    fn min_executions(&self) -> u32 {
        self.gate.as_ref().map_or(0, |g| g.rules().min_executions)
    }

    /// Whether anything is watched: alarms or gates.
    fn watching(&self) -> bool {
        !self.alarms.is_empty() || self.gate.is_some()
    }

    /// The new version's executions still running, if the gates read them.
    pub async fn still_running(&mut self) -> Vec<String> {
        match self.gate.as_mut() {
            Some(gate) => gate.still_running().await,
            None => Vec::new(),
        }
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
            let marker = (step.weight < 100).then(|| {
                Marker {
                    new_version: short_version(&self.new_version),
                    weight: step.weight,
                    pausing: self.pauses && i + 1 == steps.len(),
                    due: SystemTime::now() + step.hold,
                }
                .description(i + 1, steps.len(), self.alias.original_description())
            });
            self.shift(step.weight, marker).await?;
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
        // The last hold ends with one more look before success is declared.
        self.gate().await
    }

    /// Sets the new version's weight (and the alias's marker), guarded against changes by others.
    async fn shift(&mut self, weight: u8, marker: Option<String>) -> Result<()> {
        let target = Routing::shifted(&self.old_version, &self.new_version, weight);
        match self.alias.set(&target, marker).await {
            Ok(()) => {
                self.shifted = true;
                Ok(())
            }
            Err(e) if exit_code_of(&e) == ExitCode::Conflict => {
                let restore =
                    command_line::restore(&self.alias.arn, &Routing::single(&self.old_version), self.aws_cli);
                Err(Failure::err(
                    ExitCode::Conflict,
                    format!(
                        "{e:#}. To route all traffic back to {}: {restore}",
                        short_version(&self.old_version)
                    ),
                ))
            }
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
            let wake = if self.watching() { next_poll.min(until) } else { until };
            tokio::select! {
                _ = sleep_until(wake) => {}
                s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
            }
            if Instant::now() >= until {
                return Ok(());
            }
            self.poll().await?;
            // Reads keep their pace: after a slow one, the missed ticks are skipped, never made
            // up back to back (CloudWatch throttles).
            next_poll += polling;
            let now = Instant::now();
            if next_poll <= now {
                next_poll = now + polling;
            }
        }
    }

    /// A fresh, successful alarm read with nothing in ALARM, or no going forward. Failed reads
    /// are retried until the alarms have gone unread for `max_unmonitored`, then we roll back.
    async fn gate(&mut self) -> Result<()> {
        if !self.watching() {
            return Ok(());
        }
        let retry = self.settings.polling.min(Duration::from_secs(5));
        let began = Instant::now();
        let extension = self.gate.as_ref().map_or(Duration::ZERO, |g| g.rules().max_extension);
        loop {
            let read = self.poll().await?;
            // --min-executions asks for evidence of the new version once it has traffic: before
            // the first weight change there is none to wait for.
            let has_traffic = self.alias.routing().weight_of(&self.new_version) > 0;
            if read && (self.finished >= self.min_executions() || !has_traffic) {
                return Ok(());
            }
            // Too few executions yet: wait, polling, up to --max-extension; then inconclusive.
            let wait = if read {
                if began.elapsed() >= extension {
                    let (have, need) = (self.finished, self.min_executions());
                    let reason = Reason::Inconclusive { have, need, waited: began.elapsed() };
                    return Err(self.stop(reason).await);
                }
                self.settings.polling.min(extension.saturating_sub(began.elapsed()))
            } else {
                retry
            };
            tokio::select! {
                _ = sleep(wait) => {}
                s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
            }
        }
    }

    /// Reads the alarms once. Ok(true): read, none firing. Ok(false): the read failed but the
    /// unmonitored time is still within bounds. Err: we stopped (and rolled back if needed).
    async fn poll(&mut self) -> Result<bool> {
        // A read that outlives --max-unmonitored is cut there: waiting on it is being blind. (A
        // read that starts past the bound, after a slow weight change, gets one polling interval.)
        let bound = self.settings.max_unmonitored;
        let now = Instant::now();
        let deadline = match self.last_read_ok + bound {
            at if at > now => at,
            _ => now + self.settings.polling.min(bound),
        };
        let alarms = self.alarms;
        let read = async {
            let report = if alarms.is_empty() { Default::default() } else { alarms.read().await? };
            let reading = match self.gate.as_mut() {
                Some(gate) => Some(gate.read().await?),
                None => None,
            };
            Ok::<_, anyhow::Error>((report, reading))
        };
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, read) => r.unwrap_or_else(|_| {
                Err(anyhow::anyhow!("no answer within --max-unmonitored"))
            }),
            s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
        };
        let (report, reading) = match read {
            Ok(read) => read,
            Err(e) => return self.unread(format!("{e:#}")).await,
        };
        if let Some(reading) = reading {
            let verdict = judge(self.gate.as_ref().expect("read").rules(), &reading);
            self.finished = reading.new.finished;
            self.reporter.emit(Event::ExecutionsRead { reading });
            if let Verdict::Fail(evidence) = verdict {
                self.reporter.emit(Event::ExecutionsFailed { evidence: evidence.clone() });
                return Err(self.stop(Reason::Executions(evidence)).await);
            }
        }
        if !self.alarms.is_empty() {
            let firing = report.firing();
            self.reporter.emit(Event::AlarmsPolled { states: report.states });
            if !firing.is_empty() {
                self.reporter.emit(Event::AlarmFired { alarms: firing.clone() });
                return Err(self.stop(Reason::Alarms(firing)).await);
            }
            // An alarm deleted mid-deploy is an alarm we can no longer read: not an all-clear.
            if !report.missing.is_empty() {
                let error = format!(
                    "CloudWatch no longer has {} {}",
                    if report.missing.len() == 1 { "alarm" } else { "alarms" },
                    quoted_names(&report.missing)
                );
                return self.unread(error).await;
            }
        }
        self.last_read_ok = Instant::now();
        Ok(true)
    }

    /// A read that failed or came back incomplete: fine while the alarms have been unread for
    /// less than `--max-unmonitored`, then a rollback.
    async fn unread(&mut self, error: String) -> Result<bool> {
        let unmonitored = self.last_read_ok.elapsed();
        self.reporter.emit(Event::AlarmReadFailed { error: error.clone(), unmonitored });
        if unmonitored >= self.settings.max_unmonitored {
            return Err(self.stop(Reason::Unmonitored { for_: unmonitored, error }).await);
        }
        Ok(false)
    }

    /// Ends the deploy early: rolls back if traffic moved, else leaves the alias as found.
    async fn stop(&mut self, reason: Reason) -> anyhow::Error {
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
