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
mod watch;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_sfn::types::StateMachineType;
use tokio::time::Instant;

use crate::alias::{self, AliasHandle};
use crate::arn::short_version;
use crate::aws::Clients;
use crate::command_line;
use crate::config::DeployConfig;
use crate::definition;
use crate::exit_code::{ExitCode, Failure};
use crate::gates::alarms::AlarmChecker;
use crate::gates::{self, ExecutionGate, Gate, MetricsGate};
use crate::note::Marker;
use crate::plan::{Decision, Shift};
use crate::report::{Event, Reporter};
use crate::routing::Routing;
use crate::signals::Signals;
use crate::strategy::{self, Step};
use check::AlarmsRead;
use ending::Ending;
use executor::{Context, Executor, Job};
use lane::Lane;
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
        // The checks retry as every call does; the watch reads at its own pace (see `watch`).
        let alarms = AlarmChecker::new(&clients.cloudwatch, &cfg.alarms);
        let mut signal = self.signals.clone();
        // Before any change a signal stops at once; `biased` makes one already received win.
        let (mut members, alarms_read) = tokio::select! {
            biased;
            s = signal.next() => return Err(s.stopped("during the checks: nothing was changed")),
            r = check::check_all(cfg, clients, self.reporter, &alarms) => r?,
        };
        check::warn_if_credentials_expire_first(clients, cfg).await;
        review(&members);
        // Decided once before any change (a refusal costs nothing), and again once the versions
        // are known for sure (publishing an unchanged revision returns an existing version).
        self.decide(&mut members)?;
        let continues = members.iter().any(|m| m.shift().is_some_and(|s| s.from_weight > 0));
        alarms_read.refuse_firing(continues)?;
        if cfg.dry_run {
            return dry_run::dry_run(&members, cfg).await;
        }
        self.publish(&mut members).await?;
        self.decide(&mut members)?;
        // A file uploaded by this run is the current revision now: callers of the unqualified ARN
        // run it. When the deploy ends back on the old version, its definition goes back too.
        for member in &mut members {
            if member.uploads(cfg) {
                member.back_to = member.shift().map(|shift| shift.old.clone());
            }
        }
        match self.act(&mut members, &alarms_read).await {
            Ok(outcome) => Ok(outcome),
            Err(ending) if ending.ended_on_old() && members.iter().any(|m| m.back_to.is_some()) => {
                Err(put_definitions_back(ending, &members).await.into_error())
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
        for member in members.iter() {
            if let Decision::Refuse(refusal) = &member.decision {
                return Err(member.refusal(refusal, self.cfg));
            }
        }
        if members.len() > 1 {
            same_release(members)?;
        }
        Ok(())
    }

    /// Publishes each member's version as asked; a signal stops before the next.
    async fn publish(&mut self, members: &mut [Member<'_>]) -> Result<()> {
        for member in members.iter_mut() {
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

    /// Carries out the decisions taken once the versions are known: smoke runs, then the
    /// members' aliases moved in lockstep, then the aliases created and pruning.
    async fn act(&mut self, members: &mut [Member<'_>], alarms_read: &AlarmsRead) -> Result<Outcome, Ending> {
        let run_id = run_id(self.clients.clock.now());
        for member in members.iter_mut() {
            if matches!(member.decision, Decision::CreateAlias | Decision::Shift(_)) {
                member.smoke_starts = self.smoke(member, &run_id).await?;
            }
        }
        hooks::pre_traffic(members, self.cfg, &self.signals).await?;
        let began = Instant::now();
        let pauses = members.iter().any(|m| m.shift().is_some_and(|s| s.pauses));
        if members.iter().any(|m| m.shift().is_some()) {
            let release = (members.len() > 1).then(|| run_id.clone());
            self.shift(members, alarms_read, release).await?;
        }
        let took = began.elapsed();
        let mut outcomes = Vec::new();
        for member in members.iter() {
            let outcome = self.finish(members, member, pauses, took).await?;
            outcomes.push((member.label.name().to_string(), outcome));
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
        pauses: bool,
        took: Duration,
    ) -> Result<Outcome> {
        let (cfg, alias) = (self.cfg, self.cfg.alias.clone());
        let version = member.version().to_string();
        Ok(match &member.decision {
            Decision::Refuse(refusal) => return Err(member.refusal(refusal, cfg)),
            Decision::CreateAlias => {
                self.clients.changes.take().await;
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
                paused(all, member, cfg, (old, new, *weight), true)
            }
            Decision::Shift(shift) if pauses => {
                let weight = shift.steps.last().map_or(shift.from_weight, |s| s.weight);
                paused(all, member, cfg, (&shift.old, &version, weight), false)
            }
            Decision::Shift(shift) => {
                member.reporter.emit(Event::Completed { alias: alias.clone(), version: version.clone() });
                let pruned = publish::prune(member, &[&shift.old, &version], cfg, &mut self.signals).await?;
                Outcome::Deployed { alias, version, took, pruned }
            }
        })
    }

    /// Moves the members' aliases from their old versions to their new ones in lockstep, step
    /// by step, watched.
    async fn shift(
        &mut self,
        members: &[Member<'_>],
        alarms_read: &AlarmsRead,
        release: Option<String>,
    ) -> Result<(), Ending> {
        let cfg = self.cfg;
        let mut lanes = Vec::new();
        let mut shifting = Vec::new();
        for member in members {
            let Some(shift) = member.shift() else { continue };
            started(member, shift, cfg);
            lanes.push(lane(member, shift, cfg).await);
            shifting.push(member);
        }
        // One schedule for every member: each takes the steps above its own weight.
        let steps = lockstep(shifting.iter().filter_map(|m| m.shift()));
        let job = Job {
            lanes,
            pauses: shifting.iter().any(|m| m.shift().is_some_and(|s| s.pauses)),
            alarms_read_at: alarms_read.read_ok_at(),
            release,
            rerun: cfg.rerun.map(|max| (max, self.clients.sfn.clone())),
        };
        let alarms = AlarmChecker::new(&self.clients.watch.cloudwatch, &cfg.alarms);
        let context = Context {
            alarms: &alarms,
            settings: cfg.watch,
            hooks: &cfg.hooks,
            reporter: self.reporter,
            signals: &mut self.signals,
            aws_cli: &self.clients.aws_cli,
            clock: &self.clients.clock,
        };
        let mut executor = Executor::new(job, context);
        let Err(ending) = executor.run(&steps).await else { return Ok(()) };
        if ending.code() != ExitCode::RollbackFailed {
            for (l, version, running) in executor.still_running().await {
                if !running.is_empty() {
                    shifting[l].reporter.emit(Event::StillRunning { version, executions: running });
                }
            }
        }
        Err(ending)
    }

    /// `--smoke-input`: the new version runs each input before any traffic moves. Returns when
    /// each started (AWS's time).
    async fn smoke(&self, member: &Member<'_>, run_id: &str) -> Result<Vec<SystemTime>> {
        let smoke = &self.cfg.smoke;
        if smoke.inputs.is_empty() {
            return Ok(Vec::new());
        }
        let kind = &member.checked.info.kind;
        let run = crate::smoke::run(
            &member.clients.sfn,
            member.version(),
            kind,
            &smoke.inputs,
            (smoke.timeout, run_id),
        );
        let mut signal = self.signals.clone();
        let result = tokio::select! {
            biased;
            s = signal.next() => Err(s.stopped("during the smoke executions: the alias was not changed")),
            r = run => r,
        };
        match result {
            Err(e) if member.label.shown() => Err(e.context(member.label.prefix("its smoke run"))),
            done => done,
        }
    }
}

/// Before any change: each member's new definition read as a state machine, what it changes
/// from the version the alias serves most, and the calls a rollback would not undo.
fn review(members: &[Member<'_>]) {
    for member in members {
        let Some(definitions) = &member.checked.definitions else { continue };
        for call in definition::unrollbackable(&definitions.new) {
            member.reporter.emit(Event::UnpinnedCall { call });
        }
        if let Some((old_version, old)) = &definitions.old
            && let Some(changes) = definition::changes(old, &definitions.new)
        {
            member.reporter.emit(Event::DefinitionChanged { old_version: old_version.clone(), changes });
        }
    }
}

/// A release continues only a release: every member it continues from a split alias must carry
/// the same release's marker.
fn same_release(members: &[Member<'_>]) -> Result<()> {
    let mut releases = Vec::new();
    for member in members {
        if let Decision::Shift(Shift { resumed: true, .. }) | Decision::AlreadyPaused { .. } = member.decision
        {
            let marker = member.checked.alias.as_ref().and_then(|a| Marker::parse(&a.description));
            releases.push((member.label.name(), marker.and_then(|m| m.release)));
        }
    }
    let ids: BTreeSet<Option<&String>> = releases.iter().map(|(_, r)| r.as_ref()).collect();
    if releases.is_empty() || (ids.len() == 1 && !ids.contains(&None)) {
        return Ok(());
    }
    let each: Vec<String> = releases
        .iter()
        .map(|(label, r)| {
            format!("{label}: {}", r.as_deref().map_or("no release".into(), |r| format!("release {r}")))
        })
        .collect();
    Err(Failure::err(
        ExitCode::Failure,
        format!(
            "the split aliases do not belong to one paused or interrupted release ({}): nothing was \
             changed. Resume each deploy with its own command line, or roll back first",
            each.join(", ")
        ),
    ))
}

/// Says a member's shift begins.
fn started(member: &Member<'_>, shift: &Shift, cfg: &DeployConfig) {
    member.reporter.emit(Event::Started {
        state_machine: member.state_machine_arn().to_string(),
        alias: cfg.alias.clone(),
        old_version: Some(shift.old.clone()),
        new_version: member.version().to_string(),
        strategy: cfg.plan.strategy.name().to_string(),
        steps: shift.steps.clone(),
        planned: strategy::total_hold(&shift.steps),
        from_weight: shift.from_weight,
    });
}

/// A member's alias as the executor moves it, with its health gates.
async fn lane(member: &Member<'_>, shift: &Shift, cfg: &DeployConfig) -> (Lane, Option<Gate>) {
    let Some(found) = &member.checked.alias else {
        unreachable!("the planner shifts only an alias that exists")
    };
    let clients = member.clients;
    let handle = AliasHandle::new(&clients.sfn, &clients.changes, found, member.checked.alias_read_at);
    let versions = (shift.old.as_str(), member.version());
    (Lane::new(handle, versions, &member.reporter), gate(member, &found.arn, versions, cfg).await)
}

/// The health gates, when any is on: by listing executions (STANDARD), or by metrics
/// (EXPRESS). A STANDARD deploy first looks at who calls the state machine. The window begins
/// now, AWS's time (a second early: `Date` headers have whole seconds).
async fn gate(
    member: &Member<'_>,
    alias_arn: &str,
    versions: (&str, &str),
    cfg: &DeployConfig,
) -> Option<Gate> {
    if !cfg.gates.any() {
        return None;
    }
    let (watch, clock) = (&member.clients.watch, &member.clients.clock);
    let sm_arn = member.state_machine_arn();
    let since = clock.now() - Duration::from_secs(1);
    if member.checked.info.kind == StateMachineType::Express {
        tracing::info!(
            "EXPRESS: the gates read the versions' AWS/States metrics, which are best-effort and arrive a \
             minute or more late"
        );
        let window = (since, member.smoke_starts.as_slice());
        let gate = MetricsGate::new(&watch.cloudwatch, clock, sm_arn, versions, cfg.gates, window);
        return Some(Gate::Metrics(Box::new(gate)));
    }
    match gates::recent_traffic(&watch.sfn, sm_arn, alias_arn).await {
        Ok((through_alias, other)) if other > through_alias => member
            .reporter
            .emit(Event::TrafficBypassesAlias { alias: cfg.alias.clone(), through_alias, other }),
        Ok(_) => {}
        Err(e) => tracing::warn!("could not look at the recent executions: {e:#}"),
    }
    Some(Gate::Executions(Box::new(ExecutionGate::new(
        &watch.sfn, clock, alias_arn, versions, cfg.gates, since,
    ))))
}

/// A member stops at `--pause-at` with its alias split on purpose: say so, with the commands
/// that continue the deploy or roll it back (for a release, every member). Versions are not
/// pruned while paused.
fn paused(
    all: &[Member<'_>],
    member: &Member<'_>,
    cfg: &DeployConfig,
    (old, new, weight): (&str, &str, u8),
    already: bool,
) -> Outcome {
    let (flags, alias) = (&cfg.invocation.flags, &cfg.alias);
    let sm = member.config.state_machine.as_str();
    let resume_command = command_line::resume(&cfg.invocation.argv, sm, alias, flags);
    let rollback_command = if all.len() > 1 {
        let names: Vec<&str> = all.iter().map(|m| m.config.state_machine.as_str()).collect();
        command_line::rollback_release(&names, alias, flags)
    } else {
        command_line::rollback(sm, alias, old, flags)
    };
    member.reporter.emit(Event::Paused {
        alias: alias.clone(),
        old_version: old.to_string(),
        new_version: new.to_string(),
        weight,
        resume_command: resume_command.clone(),
        rollback_command: rollback_command.clone(),
    });
    Outcome::Paused {
        alias: alias.clone(),
        routing: Routing::shifted(old, new, weight),
        already,
        resume_command,
        rollback_command,
    }
}

/// Puts each uploaded member's old definition back as its current revision (not published),
/// after a deploy that uploaded files ended back on the old versions; the ending says so.
async fn put_definitions_back(mut ending: Ending, members: &[Member<'_>]) -> Ending {
    for member in members {
        let Some(old) = &member.back_to else { continue };
        let versions = &member.checked.versions;
        let put = async {
            let definition = versions.describe_version(old).await?.definition;
            versions.upload(&definition, false, None).await
        };
        let note = member.label.prefix(match put.await {
            Ok(_) => format!(
                "the definition of {} is the current revision again (not published): the uploaded file no \
                 longer runs for callers of the unqualified ARN",
                short_version(old)
            ),
            Err(e) => format!(
                "the uploaded file is still the current revision, which callers of the unqualified ARN run: \
                 putting the definition of {} back failed ({e:#})",
                short_version(old)
            ),
        });
        tracing::warn!("{note}");
        ending = ending.with_note(note);
    }
    ending
}

/// The members' steps as one schedule: every weight any member still takes, each with the
/// longest hold any gives it (they come from the same strategy).
fn lockstep<'s>(shifts: impl Iterator<Item = &'s Shift>) -> Vec<Step> {
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
