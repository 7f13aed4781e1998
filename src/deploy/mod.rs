//! A whole deploy, in order: read-only checks ([`check`]), the planner's decision, publishing
//! ([`publish`]), smoke executions, then creating the alias or shifting it step by step
//! ([`executor`]), then pruning. Nothing is changed until every check has passed; `--dry-run`
//! ([`dry_run`]) stops after the checks and says what would happen.
//!
//! A release of several state machines goes the same way, as one: every member is checked before
//! anything changes anywhere, their aliases move in lockstep, and one rollback puts every member
//! that moved back.

mod check;
mod dry_run;
pub mod executor;
mod hooks;
mod outcome;
mod publish;
mod watch;

use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_sfn::types::StateMachineType;
use tokio::time::Instant;

use crate::alias::{self, AliasHandle, AliasInfo};
use crate::arn::short_version;
use crate::aws::Clients;
use crate::command_line;
use crate::config::DeployConfig;
use crate::definition;
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::gates::alarms::AlarmChecker;
use crate::gates::{self, ExecutionGate, Gate, MetricsGate};
use crate::note::Marker;
use crate::plan::{self, Decision, Shift, Target};
use crate::report::{Event, Reporter};
use crate::routing::Routing;
use crate::signals::Signals;
use crate::strategy::{self, Step};
use crate::text::capitalized;
use check::{AlarmsRead, Part};
use executor::{Context, Executor, Job, Lane, PostHook};
pub use outcome::Outcome;

pub struct Deploy<'a> {
    pub clients: &'a Clients,
    pub cfg: &'a DeployConfig,
    pub reporter: &'a Reporter,
    pub signals: Signals,
}

impl<'a> Deploy<'a> {
    pub async fn run(mut self) -> Result<Outcome> {
        let cfg = self.cfg;
        // The checks retry as every call does; the watch reads at its own pace (see `watch`).
        let alarms = AlarmChecker::new(&self.clients.cloudwatch, &cfg.alarms);
        let mut signal = self.signals.clone();
        // Before any change a signal stops at once; `biased` makes one already received win.
        let (parts, alarms_read) = tokio::select! {
            biased;
            s = signal.next() => return Err(s.stopped("during the checks: nothing was changed")),
            r = self.check_all(&alarms) => r?,
        };
        self.warn_if_credentials_expire_first().await;
        self.review(&parts);
        // Decided once before any change (a refusal costs nothing), and again once the versions
        // are known for sure (publishing an unchanged revision returns an existing version).
        let first: Vec<Decision> = parts
            .iter()
            .map(|p| plan::decide(p.checked.routing(), &p.checked.target, &cfg.steps, cfg.options))
            .collect();
        self.refuse_any(&parts, &first)?;
        alarms_read
            .refuse_firing(first.iter().any(|d| matches!(d, Decision::Shift(s) if s.from_weight > 0)))?;
        if cfg.dry_run {
            return self.dry_run(&parts, &first).await;
        }

        let mut versions = Vec::new();
        for part in &parts {
            let version = self.publish(part).await?;
            if let Some(s) = self.signals.pending() {
                return Err(s.stopped(format_args!(
                    "after publishing {}: the alias was not changed",
                    short_version(&version)
                )));
            }
            versions.push(version);
        }
        let decisions: Vec<Decision> = parts
            .iter()
            .zip(&versions)
            .map(|(p, v)| {
                plan::decide(p.checked.routing(), &Target::Known(v.clone()), &cfg.steps, cfg.options)
            })
            .collect();
        self.refuse_any(&parts, &decisions)?;
        // A file uploaded by this run is the current revision now: callers of the unqualified ARN
        // run it. When the deploy ends back on the old version, its definition goes back too.
        let back_to: Vec<Option<String>> = parts
            .iter()
            .zip(&decisions)
            .map(|(p, d)| match d {
                Decision::Shift(shift) if uploaded(self.cfg, p) => Some(shift.old.clone()),
                _ => None,
            })
            .collect();
        match self.act(&parts, decisions, versions, &alarms_read).await {
            Err(e) if back_to.iter().any(Option::is_some) && ended_on_old(&e) => {
                Err(self.put_definitions_back(e, &parts, &back_to).await)
            }
            done => done,
        }
    }

    /// Before any change: each member's new definition read as a state machine, what it
    /// changes from the version the alias serves most, and the calls a rollback would not undo.
    fn review(&self, parts: &[Part<'_>]) {
        for part in parts {
            let Some(definitions) = &part.checked.definitions else { continue };
            for call in definition::unrollbackable(&definitions.new) {
                part.reporter.emit(Event::UnpinnedCall { call });
            }
            if let Some((old_version, old)) = &definitions.old
                && let Some(changes) = definition::changes(old, &definitions.new)
            {
                part.reporter.emit(Event::DefinitionChanged { old_version: old_version.clone(), changes });
            }
        }
    }

    /// The first refusal among the members', if any: then nothing changes anywhere.
    fn refuse_any(&self, parts: &[Part<'_>], decisions: &[Decision]) -> Result<()> {
        for (part, decision) in parts.iter().zip(decisions) {
            if let Decision::Refuse(refusal) = decision {
                return Err(self.refusal(refusal, part));
            }
        }
        if parts.len() > 1 {
            self.same_release(parts, decisions)?;
        }
        Ok(())
    }

    /// A release continues only a release: every member it continues from a split alias must
    /// carry the same release's marker.
    fn same_release(&self, parts: &[Part<'_>], decisions: &[Decision]) -> Result<()> {
        let mut releases = Vec::new();
        for (part, decision) in parts.iter().zip(decisions) {
            if let Decision::Shift(Shift { resumed: true, .. }) | Decision::AlreadyPaused { .. } = decision {
                let marker = part.checked.alias.as_ref().and_then(|a| Marker::parse(&a.description));
                releases.push((part.label.as_str(), marker.and_then(|m| m.release)));
            }
        }
        let ids: std::collections::BTreeSet<Option<&String>> =
            releases.iter().map(|(_, r)| r.as_ref()).collect();
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

    /// Carries out the decisions taken once the versions are known: smoke runs, then the
    /// members' aliases moved in lockstep, then the aliases created and pruning.
    async fn act(
        &mut self,
        parts: &[Part<'_>],
        decisions: Vec<Decision>,
        versions: Vec<String>,
        alarms_read: &AlarmsRead,
    ) -> Result<Outcome> {
        let cfg = self.cfg;
        let run_id = run_id(self.clients.clock.now());
        let mut smoke_starts = Vec::new();
        for ((part, decision), version) in parts.iter().zip(&decisions).zip(&versions) {
            smoke_starts.push(match decision {
                Decision::CreateAlias | Decision::Shift(_) => self.smoke(part, version, &run_id).await?,
                _ => Vec::new(),
            });
        }
        self.pre_traffic(parts, &decisions, &versions).await?;
        let shifts: Vec<(usize, Shift)> = decisions
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match d {
                Decision::Shift(s) => Some((i, s.clone())),
                _ => None,
            })
            .collect();
        let began = Instant::now();
        let pauses = shifts.iter().any(|(_, s)| s.pauses);
        if !shifts.is_empty() {
            let release = (parts.len() > 1).then(|| run_id.clone());
            self.shift(parts, &shifts, &versions, &smoke_starts, alarms_read, release).await?;
        }
        let took = began.elapsed();
        let mut outcomes = Vec::new();
        for (i, (part, decision)) in parts.iter().zip(decisions).enumerate() {
            let version = versions[i].clone();
            let outcome = match decision {
                Decision::Refuse(refusal) => return Err(self.refusal(&refusal, part)),
                Decision::CreateAlias => {
                    let sm_arn = &part.checked.versions.state_machine_arn;
                    self.clients.changes.take().await;
                    alias::create_alias(&self.clients.sfn, sm_arn, &cfg.alias, &version).await?;
                    part.reporter
                        .emit(Event::AliasCreated { alias: cfg.alias.clone(), version: version.clone() });
                    self.post_traffic_on_created(part, &version).await?;
                    let pruned = self.prune(&part.checked.versions, &[&version], &part.reporter).await?;
                    Outcome::Created { alias: cfg.alias.clone(), version, pruned }
                }
                Decision::NothingToDo { .. } => {
                    part.reporter
                        .emit(Event::NothingToDo { alias: cfg.alias.clone(), version: version.clone() });
                    let pruned = self.prune(&part.checked.versions, &[&version], &part.reporter).await?;
                    Outcome::NothingToDo { alias: cfg.alias.clone(), version, pruned }
                }
                Decision::AlreadyPaused { old, new, weight } => {
                    self.paused(parts, part, (&old, &new, weight), true)
                }
                Decision::Shift(shift) if pauses => {
                    let weight = shift.steps.last().map_or(shift.from_weight, |s| s.weight);
                    self.paused(parts, part, (&shift.old, &version, weight), false)
                }
                Decision::Shift(shift) => {
                    part.reporter
                        .emit(Event::Completed { alias: cfg.alias.clone(), version: version.clone() });
                    let pruned =
                        self.prune(&part.checked.versions, &[&shift.old, &version], &part.reporter).await?;
                    Outcome::Deployed { alias: cfg.alias.clone(), version, took, pruned }
                }
            };
            outcomes.push((part.label.clone(), outcome));
        }
        if outcomes.len() == 1 {
            return Ok(outcomes.pop().expect("one member").1);
        }
        Ok(Outcome::Release { alias: cfg.alias.clone(), members: outcomes })
    }

    /// Moves the members' aliases from their old versions to their new ones in lockstep, step
    /// by step, watched.
    async fn shift(
        &mut self,
        parts: &[Part<'_>],
        shifts: &[(usize, Shift)],
        versions: &[String],
        smoke_starts: &[Vec<SystemTime>],
        alarms_read: &AlarmsRead,
        release: Option<String>,
    ) -> Result<()> {
        let cfg = self.cfg;
        let mut lanes = Vec::new();
        for (i, shift) in shifts {
            let part = &parts[*i];
            let Some(found) = &part.checked.alias else {
                unreachable!("the planner shifts only an alias that exists")
            };
            let new = &versions[*i];
            part.reporter.emit(Event::Started {
                state_machine: part.checked.versions.state_machine_arn.clone(),
                alias: cfg.alias.clone(),
                old_version: Some(shift.old.clone()),
                new_version: new.clone(),
                strategy: cfg.strategy.name().to_string(),
                steps: shift.steps.clone(),
                planned: strategy::total_hold(&shift.steps),
                from_weight: shift.from_weight,
            });
            lanes.push(Lane {
                label: part.label.clone(),
                alias: AliasHandle::new(
                    &self.clients.sfn, &self.clients.changes, found, part.checked.alias_read_at,
                ),
                old_version: shift.old.clone(),
                new_version: new.clone(),
                gate: self.gate(part, found, (&shift.old, new), &smoke_starts[*i]).await,
                reporter: part.reporter.clone(),
            });
        }
        // One schedule for every member: each takes the steps above its own weight.
        let steps = lockstep(shifts);
        let job = Job {
            lanes,
            pauses: shifts.iter().any(|(_, s)| s.pauses),
            alarms_read_at: alarms_read.read_ok_at(),
            release,
            post_hook: cfg
                .hooks
                .post_traffic
                .clone()
                .map(|command| PostHook { command, timeout: cfg.hooks.timeout }),
            rerun: cfg.rerun.map(|max| (max, self.clients.sfn.clone())),
        };
        let alarms = AlarmChecker::new(&self.clients.watch.cloudwatch, &cfg.alarms);
        let context = Context {
            alarms: &alarms,
            settings: cfg.watch,
            reporter: self.reporter,
            signals: &mut self.signals,
            aws_cli: &self.clients.aws_cli,
            clock: &self.clients.clock,
        };
        let mut executor = Executor::new(job, context);
        if let Err(e) = executor.run(&steps).await {
            if exit_code_of(&e) != ExitCode::RollbackFailed {
                for ((_, version, running), (i, _)) in executor.still_running().await.into_iter().zip(shifts)
                {
                    if !running.is_empty() {
                        parts[*i].reporter.emit(Event::StillRunning { version, executions: running });
                    }
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// Puts each uploaded member's old definition back as its current revision (not
    /// published), after a deploy that uploaded files ended back on the old versions; the error
    /// that ends the run says so.
    async fn put_definitions_back(
        &self,
        err: anyhow::Error,
        parts: &[Part<'_>],
        back_to: &[Option<String>],
    ) -> anyhow::Error {
        let mut notes = Vec::new();
        for (part, old) in parts.iter().zip(back_to) {
            let Some(old) = old else { continue };
            let versions = &part.checked.versions;
            let put = async {
                let definition = versions.describe_version(old).await?.definition;
                versions.upload(&definition, false, None).await
            };
            let name = if parts.len() > 1 { format!("{}: ", part.label) } else { String::new() };
            let note = match put.await {
                Ok(_) => format!(
                    "{name}the definition of {} is the current revision again (not published): the uploaded \
                     file no longer runs for callers of the unqualified ARN",
                    short_version(old)
                ),
                Err(e) => format!(
                    "{name}the uploaded file is still the current revision, which callers of the unqualified \
                     ARN run: putting the definition of {} back failed ({e:#})",
                    short_version(old)
                ),
            };
            tracing::warn!("{note}");
            notes.push(note);
        }
        let note = capitalized(&notes.join("; "));
        match err.downcast::<Failure>() {
            Ok(f) => Failure::err(f.code, format!("{}. {note}", f.message)),
            Err(e) => e,
        }
    }

    /// `--smoke-input`: the new version runs each input before any traffic moves. Returns when
    /// each started (AWS's time).
    async fn smoke(&self, part: &Part<'_>, new_version: &str, run_id: &str) -> Result<Vec<SystemTime>> {
        let cfg = self.cfg;
        if cfg.smoke_inputs.is_empty() {
            return Ok(Vec::new());
        }
        let smoke = crate::smoke::run(
            &self.clients.sfn,
            new_version,
            &part.checked.info.kind,
            &cfg.smoke_inputs,
            (cfg.smoke_timeout, run_id),
        );
        let mut signal = self.signals.clone();
        let result = tokio::select! {
            biased;
            s = signal.next() => Err(s.stopped("during the smoke executions: the alias was not changed")),
            r = smoke => r,
        };
        match result {
            Err(e) if self.cfg.is_release() => Err(e.context(format!("{}: its smoke run", part.label))),
            done => done,
        }
    }

    /// The health gates, when any is on: by listing executions (STANDARD), or by metrics
    /// (EXPRESS). A STANDARD deploy first looks at who calls the state machine. The window
    /// begins now, AWS's time (a second early: `Date` headers have whole seconds).
    async fn gate(
        &self,
        part: &Part<'_>,
        found: &AliasInfo,
        versions: (&str, &str),
        smoke_starts: &[SystemTime],
    ) -> Option<Gate> {
        let cfg = self.cfg;
        if !cfg.gates.any() {
            return None;
        }
        let watch = &self.clients.watch;
        let clock = &self.clients.clock;
        let sm_arn = &part.checked.versions.state_machine_arn;
        let since = clock.now() - Duration::from_secs(1);
        if part.checked.info.kind == StateMachineType::Express {
            tracing::info!(
                "EXPRESS: the gates read the versions' AWS/States metrics, which are best-effort and \
                 arrive a minute or more late"
            );
            let window = (since, smoke_starts);
            return Some(Gate::Metrics(MetricsGate::new(
                &watch.cloudwatch, clock, sm_arn, versions, cfg.gates, window,
            )));
        }
        match gates::recent_traffic(&watch.sfn, sm_arn, &found.arn).await {
            Ok((through_alias, other)) if other > through_alias => part
                .reporter
                .emit(Event::TrafficBypassesAlias { alias: cfg.alias.clone(), through_alias, other }),
            Ok(_) => {}
            Err(e) => tracing::warn!("could not look at the recent executions: {e:#}"),
        }
        Some(Gate::Executions(ExecutionGate::new(&watch.sfn, clock, &found.arn, versions, cfg.gates, since)))
    }

    /// A member stops at `--pause-at` with its alias split on purpose: say so, with the
    /// commands that continue the deploy or roll it back (for a release, every member).
    /// Versions are not pruned while paused.
    fn paused(
        &self,
        parts: &[Part<'_>],
        part: &Part<'_>,
        (old, new, weight): (&str, &str, u8),
        already: bool,
    ) -> Outcome {
        let cfg = self.cfg;
        let flags = &cfg.invocation.flags;
        let sm = part.member.state_machine.as_str();
        let resume_command = command_line::resume(&cfg.invocation.argv, sm, &cfg.alias, flags);
        let rollback_command = if parts.len() > 1 {
            let members: Vec<&str> = parts.iter().map(|p| p.member.state_machine.as_str()).collect();
            command_line::rollback_release(&members, &cfg.alias, flags)
        } else {
            command_line::rollback(sm, &cfg.alias, old, flags)
        };
        part.reporter.emit(Event::Paused {
            alias: cfg.alias.clone(),
            old_version: old.to_string(),
            new_version: new.to_string(),
            weight,
            resume_command: resume_command.clone(),
            rollback_command: rollback_command.clone(),
        });
        Outcome::Paused {
            alias: cfg.alias.clone(),
            routing: Routing::shifted(old, new, weight),
            already,
            resume_command,
            rollback_command,
        }
    }
}

/// Whether this run uploads `part`'s file (and so makes it the current revision).
fn uploaded(cfg: &DeployConfig, part: &Part<'_>) -> bool {
    part.member.file.is_some() && !(cfg.publish_revision && matches!(part.checked.target, Target::Known(_)))
}

/// The members' steps as one schedule: every weight any member still takes, each with the
/// longest hold any gives it (they come from the same strategy).
fn lockstep(shifts: &[(usize, Shift)]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for step in shifts.iter().flat_map(|(_, s)| s.steps.iter()) {
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

/// Whether a deploy that failed with `err` left the aliases fully on their old versions: rolled
/// back, stopped by a smoke run or by a signal (which rolls back).
fn ended_on_old(err: &anyhow::Error) -> bool {
    matches!(
        exit_code_of(err),
        ExitCode::RolledBack
            | ExitCode::SmokeFailed
            | ExitCode::HookFailed
            | ExitCode::Interrupted
            | ExitCode::Terminated
    )
}
