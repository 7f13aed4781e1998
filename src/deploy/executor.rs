//! Does a plan: for each step, check the health signals, shift the weights, hold while the
//! signals are read ([`super::watch`]); roll back when one says so, the signals go unread too
//! long, a shift fails, or a signal to stop arrives. One loop serves every strategy, and every
//! member of a release: step k's weight is set on each member before step k's hold begins, the
//! hold is one hold, and one rollback puts every member that moved back.

use std::time::Duration;

use anyhow::Result;
use futures_util::future::join_all;
use tokio::time::{Instant, sleep, sleep_until};

use super::hooks::HookResult;
use super::watch::{GateSlot, Look, Scope, Watch};
use crate::alias::AliasHandle;
use crate::arn::short_version;
use crate::aws::AwsFlags;
use crate::clock::ServerClock;
use crate::command_line;
use crate::config::WatchSettings;
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::gates::Gate;
use crate::gates::alarms::AlarmChecker;
use crate::hook::{HookContext, HookKind};
use crate::note::{Marker, Record};
use crate::report::{Event, Reporter};
use crate::rollback::{Reason, Rollback};
use crate::routing::Routing;
use crate::signals::Signals;
use crate::strategy::Step;

/// One member's alias, moved from its old version to its new one.
pub struct Lane {
    /// The state machine as named on the command line.
    pub label: String,
    pub alias: AliasHandle,
    pub old_version: String,
    pub new_version: String,
    /// Health gates on the new version's executions, when any is on.
    pub gate: Option<Gate>,
    /// Events about this member.
    pub reporter: Reporter,
}

/// What the executor moves.
pub struct Job {
    pub lanes: Vec<Lane>,
    /// The last step is a `--pause-at` stop: its marker says so.
    pub pauses: bool,
    /// When the alarms were read (all OK) just before the deploy, if they were: that read
    /// stands in for the first gate while it is fresh.
    pub alarms_read_at: Option<Instant>,
    /// A release of several: the id its markers carry.
    pub release: Option<String>,
    /// `--post-traffic-hook`: run once every new version has 100% (unless the plan pauses).
    pub post_hook: Option<PostHook>,
    /// `--rerun-failed`: at most this many per member, started with this client (it retries).
    pub rerun: Option<(usize, aws_sdk_sfn::Client)>,
}

/// The post-traffic hook.
#[derive(Clone, Debug)]
pub struct PostHook {
    pub command: String,
    pub timeout: Duration,
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

/// A lane as the executor keeps it.
struct Moving {
    lane: Lane,
    /// Whether this run owns the alias's split: it changed a weight, or continued a split
    /// already carrying the new version. Stopping rolls back exactly these.
    owned: bool,
    initial: Routing,
}

pub struct Executor<'a> {
    lanes: Vec<Moving>,
    watch: Watch<'a>,
    settings: WatchSettings,
    reporter: &'a Reporter,
    signals: &'a mut Signals,
    aws_cli: &'a AwsFlags,
    clock: &'a ServerClock,
    /// A read made just before the deploy that the first gate may use instead of its own.
    earlier_read: Option<Instant>,
    pauses: bool,
    release: Option<String>,
    post_hook: Option<PostHook>,
    rerun: Option<(usize, aws_sdk_sfn::Client)>,
}

impl<'a> Executor<'a> {
    pub fn new(job: Job, context: Context<'a>) -> Self {
        let mut gates = Vec::new();
        let lanes: Vec<Moving> = job
            .lanes
            .into_iter()
            .map(|mut lane| {
                let initial = lane.alias.routing().clone();
                gates.push(GateSlot {
                    label: lane.label.clone(),
                    gate: lane.gate.take(),
                    reporter: lane.reporter.clone(),
                });
                // A deploy that continues from a split alias carrying the new version owns that
                // split: any bad signal, from the first look on, puts it back on the old version.
                let owned = initial.weight_of(&lane.new_version) > 0;
                Moving { lane, owned, initial }
            })
            .collect();
        let watch = Watch::new(context.alarms, gates, context.settings, context.reporter, job.alarms_read_at);
        Executor {
            lanes,
            watch,
            settings: context.settings,
            reporter: context.reporter,
            signals: context.signals,
            aws_cli: context.aws_cli,
            clock: context.clock,
            earlier_read: job.alarms_read_at,
            pauses: job.pauses,
            release: job.release,
            post_hook: job.post_hook,
            rerun: job.rerun,
        }
    }

    /// Each member's new version's executions still running, if the gates read them.
    pub async fn still_running(&mut self) -> Vec<(String, String, Vec<String>)> {
        let running = self.watch.still_running().await;
        self.lanes
            .iter()
            .zip(running)
            .map(|(m, running)| (m.lane.label.clone(), m.lane.new_version.clone(), running))
            .collect()
    }

    /// Runs the steps the planner left: each member takes the steps above its own current
    /// weight. Every alias ends on the last step's weight, 100% on its new version unless the
    /// plan pauses (Ok), or the error says where each is and why.
    pub async fn run(&mut self, steps: &[Step]) -> Result<()> {
        for (i, step) in steps.iter().enumerate() {
            let reuse = i == 0
                && self.earlier_read.is_some_and(|at| at.elapsed() < GATE_FRESH.min(self.settings.polling));
            if !reuse {
                self.gate().await?;
            }
            let due = self.clock.now() + step.hold;
            let descriptions = (0..self.lanes.len())
                .map(|l| {
                    let lane = &self.lanes[l].lane;
                    (lane.alias.routing().weight_of(&lane.new_version) < step.weight)
                        .then(|| self.description(l, i, steps.len(), step.weight, due))
                })
                .collect();
            self.shift(step.weight, descriptions).await?;
            let confirmed = Instant::now();
            let remaining: Duration = steps[i..].iter().map(|s| s.hold).sum();
            for m in &self.lanes {
                m.lane.reporter.emit(Event::WeightsChanged {
                    step: i + 1,
                    steps: steps.len(),
                    old_version: m.lane.old_version.clone(),
                    new_version: m.lane.new_version.clone(),
                    new_weight: m.lane.alias.routing().weight_of(&m.lane.new_version),
                    hold: step.hold,
                    remaining,
                });
            }
            self.hold(confirmed + step.hold).await?;
        }
        // The last hold ends with one more look, and each alias read back, before success (or
        // a pause) is declared: someone may have changed one meanwhile.
        self.gate().await?;
        for l in 0..self.lanes.len() {
            let lane = &mut self.lanes[l].lane;
            match lane.alias.confirm().await {
                Ok(_) => {}
                Err(e) if exit_code_of(&e) == ExitCode::Conflict => {
                    let err = self.conflict(l, e);
                    return Err(self.stop_others(l, err).await);
                }
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
        match self.post_hook.clone() {
            Some(hook) if !self.pauses => self.post_traffic(&hook).await,
            _ => Ok(()),
        }
    }

    /// `--post-traffic-hook`, once per member, all at once, with every new version at 100%:
    /// a failure or a signal rolls every member back.
    async fn post_traffic(&mut self, hook: &PostHook) -> Result<()> {
        let release = self.lanes.len() > 1;
        let runs = self.lanes.iter().map(|m| {
            let lane = &m.lane;
            let context = HookContext {
                kind: HookKind::PostTraffic,
                alias_arn: lane.alias.arn.clone(),
                new_version: lane.new_version.clone(),
                old_version: Some(lane.old_version.clone()),
                weight: lane.alias.routing().weight_of(&lane.new_version),
                label: release.then(|| lane.label.clone()),
            };
            super::hooks::run(&hook.command, context, hook.timeout, &lane.reporter, self.signals.clone())
        });
        match super::hooks::worst(&join_all(runs).await) {
            None | Some(HookResult::Passed) => Ok(()),
            Some(HookResult::Stopped(s)) => Err(self.stop(Reason::Signal(s)).await),
            Some(HookResult::Failed(text)) => Err(self.stop(Reason::Hook(text)).await),
        }
    }

    /// What lane `l`'s description says at step `i` of `steps`: while split, the marker (with
    /// the release's id); at 100%, the record of the version live before.
    fn description(
        &self,
        l: usize,
        i: usize,
        steps: usize,
        weight: u8,
        due: std::time::SystemTime,
    ) -> String {
        let lane = &self.lanes[l].lane;
        if weight < 100 {
            let marker = Marker {
                new_version: short_version(&lane.new_version),
                weight,
                pausing: self.pauses && i + 1 == steps,
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

    /// Someone else changed lane `l`'s alias: the error says so, with the command that puts its
    /// old version back; it is not touched.
    fn conflict(&self, l: usize, e: anyhow::Error) -> anyhow::Error {
        let lane = &self.lanes[l].lane;
        let restore =
            command_line::restore(&lane.alias.arn, &Routing::single(&lane.old_version), self.aws_cli);
        Failure::err(
            ExitCode::Conflict,
            format!("{e:#}. To route all traffic back to {}: {restore}", short_version(&lane.old_version)),
        )
    }

    /// Sets the new versions' weight (and the aliases' descriptions) on every lane that has a
    /// description to set, all at once, each guarded against changes by others. The first
    /// failure ends the deploy: a conflict leaves that alias alone and rolls the others back.
    async fn shift(&mut self, weight: u8, descriptions: Vec<Option<String>>) -> Result<()> {
        let results = join_all(self.lanes.iter_mut().zip(descriptions).map(|(m, description)| async move {
            let description = description?;
            let target = Routing::shifted(&m.lane.old_version, &m.lane.new_version, weight);
            Some(m.lane.alias.set(&target, Some(description)).await)
        }))
        .await;
        let mut failed = None;
        for (l, result) in results.into_iter().enumerate() {
            match result {
                None => {}
                Some(Ok(())) => self.lanes[l].owned = true,
                Some(Err(e)) if exit_code_of(&e) == ExitCode::Conflict => {
                    failed.get_or_insert((l, e, true));
                }
                Some(Err(e)) => {
                    self.lanes[l].owned = true; // the change may have gone through
                    failed.get_or_insert((l, e, false));
                }
            }
        }
        match failed {
            None => Ok(()),
            Some((l, e, true)) => {
                let err = self.conflict(l, e);
                Err(self.stop_others(l, err).await)
            }
            Some((l, e, false)) => Err(self.stop(Reason::ShiftFailed(self.named(l, format!("{e:#}")))).await),
        }
    }

    /// `payments: ...` in a release, the text alone otherwise.
    fn named(&self, l: usize, text: String) -> String {
        if self.lanes.len() > 1 { format!("{}: {text}", self.lanes[l].lane.label) } else { text }
    }

    /// Waits until `until`, reading the signals every polling interval. Ends on time: the last
    /// sleep is cut to the deadline, and the check at the deadline is the next gate's.
    /// A gate whose reading leans towards failing is read again sooner, alone (see
    /// [`Watch::sooner`]).
    async fn hold(&mut self, until: Instant) -> Result<()> {
        let polling = self.settings.polling;
        let mut next_poll = Instant::now() + polling;
        let mut sooner: Option<Instant> = None;
        loop {
            let poll = sooner.map_or(next_poll, |at| at.min(next_poll));
            let wake = if self.watch.watching() { poll.min(until) } else { until };
            tokio::select! {
                _ = sleep_until(wake) => {}
                s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
            }
            if Instant::now() >= until {
                return Ok(());
            }
            let scope = if Instant::now() < next_poll { Scope::Leaning } else { Scope::All };
            self.look(scope).await?;
            let now = Instant::now();
            sooner = self.watch.sooner().map(|d| now + d);
            if scope == Scope::Leaning {
                continue;
            }
            // Reads keep their pace: after a slow one, the missed ticks are skipped, never made
            // up back to back (CloudWatch throttles).
            next_poll += polling;
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
            let wait = match self.look(Scope::All).await? {
                Look::Good { missing: None } => return Ok(()),
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

    /// One look at the signals; a signal to stop, or a bad one, ends the deploy. The gates ask
    /// for evidence of a new version once it has traffic: before its first weight change there
    /// is none to wait for.
    async fn look(&mut self, scope: Scope) -> Result<Look> {
        let traffic: Vec<bool> =
            self.lanes.iter().map(|m| m.lane.alias.routing().weight_of(&m.lane.new_version) > 0).collect();
        let look = tokio::select! {
            look = self.watch.look(&traffic, scope) => look,
            s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
        };
        match look {
            Look::Bad(reason) => Err(self.stop(reason).await),
            look => Ok(look),
        }
    }

    /// Ends the deploy early: rolls back every member whose split this run owns, else leaves
    /// each alias as found. A failed gate's evidence is completed (failures described) only
    /// after the rollback calls.
    async fn stop(&mut self, reason: Reason) -> anyhow::Error {
        let evidence = match &reason {
            Reason::Executions(evidence) => Some(evidence.clone()),
            _ => None,
        };
        let err = self.stop_lanes(reason, None).await;
        let Some(first) = evidence else { return err };
        let full = self.watch.evidence().await.unwrap_or_else(|| first.clone());
        self.reporter.emit(Event::ExecutionsFailed { evidence: full.clone() });
        let rerun = match self.rerun.clone() {
            Some((max, sfn)) if exit_code_of(&err) == ExitCode::RolledBack => {
                self.rerun_failed(&sfn, max).await
            }
            _ => String::new(),
        };
        match err.downcast::<Failure>() {
            Ok(f) => Failure::err(f.code, format!("{}{rerun}", f.message.replacen(&first, &full, 1))),
            Err(err) => err,
        }
    }

    /// `--rerun-failed`, once every alias is back on its old version: each member's failed
    /// executions started again through its alias. Returns what the error adds.
    async fn rerun_failed(&mut self, sfn: &aws_sdk_sfn::Client, max: usize) -> String {
        let mut notes = Vec::new();
        for (n, reruns) in self.watch.rerun_failed(sfn, max).await {
            let lane = &self.lanes[n].lane;
            let count = |o: &str| reruns.iter().filter(|r| r.outcome.name() == o).count();
            for r in &reruns {
                lane.reporter.emit(Event::Rerun {
                    failed: r.failed.clone(),
                    restarted: r.restarted.clone(),
                    outcome: match &r.outcome {
                        crate::gates::rerun::RerunOutcome::Failed(why) => format!("failed: {why}"),
                        other => other.name().to_string(),
                    },
                });
            }
            if reruns.is_empty() {
                continue;
            }
            let whose = if self.lanes.len() > 1 { format!("{}: ", lane.label) } else { String::new() };
            notes.push(format!(
                "{whose}{} failed execution(s) of {} started again on {} through the alias ({} already before, \
                 {} over --rerun-max listed, not started, {} could not be started)",
                count("started"),
                short_version(&lane.new_version),
                short_version(&lane.old_version),
                count("already_started"),
                count("over_rerun_max"),
                count("failed")
            ));
        }
        if notes.is_empty() { String::new() } else { format!(". --rerun-failed: {}", notes.join("; ")) }
    }

    /// A concurrent change to lane `l`'s alias (`err`): that alias is left alone, the others
    /// that moved go back. The run ends as a conflict.
    async fn stop_others(&mut self, l: usize, err: anyhow::Error) -> anyhow::Error {
        if self.lanes.len() == 1 {
            return err;
        }
        let message = format!("{err:#}");
        let reason = Reason::Conflict(message.clone());
        let others = self.stop_lanes(reason, Some(l)).await;
        Failure::err(ExitCode::Conflict, format!("{message}; {}", others))
    }

    /// Rolls back, in parallel, each lane this run owns (but `except`); says where the others
    /// are. One lane: exactly as a single deploy says it.
    async fn stop_lanes(&mut self, reason: Reason, except: Option<usize>) -> anyhow::Error {
        let (timeout, aws_cli) = (self.settings.rollback_timeout, self.aws_cli);
        let release = self.lanes.len() > 1;
        let signals = self.signals.clone();
        let outcomes = join_all(self.lanes.iter_mut().enumerate().map(|(i, m)| {
            let reason = reason.clone();
            let mut signals = signals.clone();
            async move {
                if Some(i) == except {
                    return None;
                }
                Some(if m.owned {
                    Rollback {
                        alias: &mut m.lane.alias,
                        old_version: &m.lane.old_version,
                        timeout,
                        aws_cli,
                        reporter: &m.lane.reporter,
                        signals: &mut signals,
                    }
                    .run(reason)
                    .await
                } else {
                    untouched(&m.lane.alias, &m.initial, &reason, aws_cli)
                })
            }
        }))
        .await;
        let mut results: Vec<(String, anyhow::Error)> = Vec::new();
        for (m, outcome) in self.lanes.iter().zip(outcomes) {
            if let Some(err) = outcome {
                results.push((m.lane.label.clone(), err));
            }
        }
        if !release {
            return results
                .pop()
                .map(|(_, e)| e)
                .unwrap_or_else(|| Failure::err(reason.exit_code(), reason.describe()));
        }
        // The worst outcome decides the exit code: a failed rollback, a conflict, then the reason.
        let code = results
            .iter()
            .map(|(_, e)| exit_code_of(e))
            .max_by_key(|c| match c {
                ExitCode::RollbackFailed => 3,
                ExitCode::Conflict => 2,
                _ => 1,
            })
            .unwrap_or(reason.exit_code());
        let each: Vec<String> = results
            .iter()
            .map(|(label, e)| {
                let text = format!("{e:#}");
                let own = text.strip_prefix(&format!("{}; ", reason.describe())).unwrap_or(&text).to_string();
                format!("{label}: {own}")
            })
            .collect();
        Failure::err(code, format!("{}; {}", reason.describe(), each.join("; ")))
    }
}

/// The error for a lane that never moved: its alias as found, and for a split alias the command
/// that routes it back to its older version.
fn untouched(alias: &AliasHandle, initial: &Routing, reason: &Reason, aws_cli: &AwsFlags) -> anyhow::Error {
    let routing = alias.routing().clone();
    let mut message = format!(
        "{} before any traffic moved; alias {} still routes {}",
        reason.describe(),
        alias.arn,
        routing
    );
    if routing.full_version().is_none()
        && routing.same_as(initial)
        && let Some(oldest) = routing.oldest_live()
    {
        message.push_str(&format!(
            ". To route all traffic back to {}: {}",
            short_version(oldest),
            command_line::restore(&alias.arn, &Routing::single(oldest), aws_cli)
        ));
    }
    Failure::err(reason.exit_code(), message)
}
