//! A whole deploy, in order: read-only checks ([`check`]), the planner's decision, publishing
//! ([`publish`]), smoke executions, then creating the alias or shifting it step by step
//! ([`executor`]), then pruning. Nothing is changed until every check has passed; `--dry-run`
//! ([`dry_run`]) stops after the checks and says what would happen.

mod check;
mod dry_run;
pub mod executor;
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
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::gates::alarms::AlarmChecker;
use crate::gates::{self, ExecutionGate, Gate, MetricsGate};
use crate::plan::{self, Decision, Shift, Target};
use crate::report::{Event, Reporter};
use crate::routing::Routing;
use crate::signals::Signals;
use crate::strategy;
use check::Checked;
use executor::{Context, Executor, Job};
pub use outcome::Outcome;

pub struct Deploy<'a> {
    pub clients: &'a Clients,
    pub cfg: &'a DeployConfig,
    pub reporter: &'a Reporter,
    pub signals: Signals,
}

impl Deploy<'_> {
    pub async fn run(mut self) -> Result<Outcome> {
        // The checks retry as every call does; the watch reads at its own pace (see `watch`).
        let alarms = AlarmChecker::new(&self.clients.cloudwatch, &self.cfg.alarms);
        let mut watch = self.signals.clone();
        // Before any change a signal stops at once; `biased` makes one already received win.
        let checked = tokio::select! {
            biased;
            s = watch.next() => return Err(s.stopped("during the checks: nothing was changed")),
            r = self.check(&alarms) => r?,
        };
        let cfg = self.cfg;
        self.warn_if_credentials_expire_first().await;
        // Decided once before any change (a refusal costs nothing), and again once the version
        // is known for sure (publishing an unchanged revision returns an existing version).
        let first = plan::decide(checked.routing(), &checked.target, &cfg.steps, cfg.options);
        if let Decision::Refuse(refusal) = &first {
            return Err(self.refusal(refusal, &checked));
        }
        checked.refuse_firing(matches!(&first, Decision::Shift(s) if s.from_weight > 0))?;
        if cfg.dry_run {
            return self.dry_run(&checked, &first).await;
        }

        let new_version = self.publish(&checked).await?;
        if let Some(s) = self.signals.pending() {
            return Err(s.stopped(format_args!(
                "after publishing {}: the alias was not changed",
                short_version(&new_version)
            )));
        }
        let decision =
            plan::decide(checked.routing(), &Target::Known(new_version.clone()), &cfg.steps, cfg.options);
        // A file uploaded by this run is the current revision now: callers of the unqualified ARN
        // run it. When the deploy ends back on the old version, its definition goes back too.
        let uploaded =
            cfg.file.is_some() && !(cfg.publish_revision && matches!(checked.target, Target::Known(_)));
        let back_to = match &decision {
            Decision::Shift(shift) if uploaded => Some(shift.old.clone()),
            _ => None,
        };
        match self.act(&checked, decision, new_version).await {
            Err(e) if back_to.is_some() && ended_on_old(&e) => {
                Err(self.put_definition_back(e, &checked, back_to.as_deref().unwrap_or_default()).await)
            }
            done => done,
        }
    }

    /// Carries out the decision taken once the version is known.
    async fn act(&mut self, checked: &Checked, decision: Decision, new_version: String) -> Result<Outcome> {
        let cfg = self.cfg;
        let smoke_starts = if matches!(decision, Decision::CreateAlias | Decision::Shift(_)) {
            self.smoke(checked, &new_version).await?
        } else {
            Vec::new()
        };
        match decision {
            Decision::Refuse(refusal) => Err(self.refusal(&refusal, checked)),
            Decision::CreateAlias => {
                let sm_arn = &checked.versions.state_machine_arn;
                alias::create_alias(&self.clients.sfn, sm_arn, &cfg.alias, &new_version).await?;
                self.reporter
                    .emit(Event::AliasCreated { alias: cfg.alias.clone(), version: new_version.clone() });
                let pruned = self.prune(&checked.versions, &[&new_version]).await?;
                Ok(Outcome::Created { alias: cfg.alias.clone(), version: new_version, pruned })
            }
            Decision::NothingToDo { .. } => {
                self.reporter
                    .emit(Event::NothingToDo { alias: cfg.alias.clone(), version: new_version.clone() });
                let pruned = self.prune(&checked.versions, &[&new_version]).await?;
                Ok(Outcome::NothingToDo { alias: cfg.alias.clone(), version: new_version, pruned })
            }
            Decision::AlreadyPaused { old, new, weight } => Ok(self.paused(&old, &new, weight, true)),
            Decision::Shift(shift) => self.shift(checked, shift, new_version, &smoke_starts).await,
        }
    }

    /// Puts the definition of `old` back as the state machine's current revision (not
    /// published), after a deploy that uploaded a file ended back on `old`; the error that ends
    /// the run says so.
    async fn put_definition_back(&self, err: anyhow::Error, checked: &Checked, old: &str) -> anyhow::Error {
        let versions = &checked.versions;
        let put = async {
            let definition = versions.describe_version(old).await?.definition;
            versions.upload(&definition, false, None).await
        };
        let note = match put.await {
            Ok(_) => format!(
                ". The definition of {} is the current revision again (not published): the uploaded file \
                 no longer runs for callers of the unqualified ARN",
                short_version(old)
            ),
            Err(e) => format!(
                ". The uploaded file is still the current revision, which callers of the unqualified ARN run: \
                 putting the definition of {} back failed ({e:#})",
                short_version(old)
            ),
        };
        tracing::warn!("{}", note.trim_start_matches(". "));
        match err.downcast::<Failure>() {
            Ok(f) => Failure::err(f.code, format!("{}{note}", f.message)),
            Err(e) => e,
        }
    }

    /// `--smoke-input`: the new version runs each input before any traffic moves. Returns when
    /// each started (AWS's time).
    async fn smoke(&self, checked: &Checked, new_version: &str) -> Result<Vec<SystemTime>> {
        let cfg = self.cfg;
        if cfg.smoke_inputs.is_empty() {
            return Ok(Vec::new());
        }
        // This run's own: the moment it began, AWS's time, in milliseconds, base 36.
        let mut millis =
            self.clients.clock.now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
        let mut run_id = String::new();
        while millis > 0 {
            run_id.insert(0, char::from_digit((millis % 36) as u32, 36).unwrap_or('0'));
            millis /= 36;
        }
        let smoke = crate::smoke::run(
            &self.clients.sfn,
            new_version,
            &checked.info.kind,
            &cfg.smoke_inputs,
            (cfg.smoke_timeout, &run_id),
        );
        let mut watch = self.signals.clone();
        tokio::select! {
            biased;
            s = watch.next() => Err(s.stopped("during the smoke executions: the alias was not changed")),
            r = smoke => r,
        }
    }

    /// Moves the alias from `shift.old` to `new_version` step by step, watched; then prunes.
    async fn shift(
        &mut self,
        checked: &Checked,
        shift: Shift,
        new_version: String,
        smoke_starts: &[SystemTime],
    ) -> Result<Outcome> {
        let cfg = self.cfg;
        let Some(found) = &checked.alias else {
            unreachable!("the planner shifts only an alias that exists")
        };
        let Shift { old, steps, pauses, from_weight, .. } = shift;
        self.reporter.emit(Event::Started {
            state_machine: checked.versions.state_machine_arn.clone(),
            alias: cfg.alias.clone(),
            old_version: Some(old.clone()),
            new_version: new_version.clone(),
            strategy: cfg.strategy.name().to_string(),
            steps: steps.clone(),
            planned: strategy::total_hold(&steps),
            from_weight,
        });
        let began = Instant::now();
        let gate = self.gate(checked, found, (&old, &new_version), smoke_starts).await;
        let job = Job {
            alias: AliasHandle::new(&self.clients.sfn, found, checked.alias_read_at),
            old_version: old.clone(),
            new_version: new_version.clone(),
            pauses,
            gate,
            // An alarm firing at the checks is read again by the first look, which rolls back.
            alarms_read_at: checked
                .alarm_report
                .as_ref()
                .filter(|_| checked.firing().is_empty())
                .map(|(_, at)| *at),
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
                let running = executor.still_running().await;
                if !running.is_empty() {
                    self.reporter
                        .emit(Event::StillRunning { version: new_version.clone(), executions: running });
                }
            }
            return Err(e);
        }
        if pauses {
            let weight = steps.last().map_or(from_weight, |s| s.weight);
            return Ok(self.paused(&old, &new_version, weight, false));
        }
        let took = began.elapsed();
        self.reporter.emit(Event::Completed { alias: cfg.alias.clone(), version: new_version.clone() });
        let pruned = self.prune(&checked.versions, &[&old, &new_version]).await?;
        Ok(Outcome::Deployed { alias: cfg.alias.clone(), version: new_version, took, pruned })
    }

    /// The health gates, when any is on: by listing executions (STANDARD), or by metrics
    /// (EXPRESS). A STANDARD deploy first looks at who calls the state machine. The window
    /// begins now, AWS's time (a second early: `Date` headers have whole seconds).
    async fn gate(
        &self,
        checked: &Checked,
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
        let sm_arn = &checked.versions.state_machine_arn;
        let since = clock.now() - Duration::from_secs(1);
        if checked.info.kind == StateMachineType::Express {
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
            Ok((through_alias, other)) if other > through_alias => self
                .reporter
                .emit(Event::TrafficBypassesAlias { alias: cfg.alias.clone(), through_alias, other }),
            Ok(_) => {}
            Err(e) => tracing::warn!("could not look at the recent executions: {e:#}"),
        }
        Some(Gate::Executions(ExecutionGate::new(&watch.sfn, clock, &found.arn, versions, cfg.gates, since)))
    }

    /// The deploy stops at `--pause-at` with the alias split on purpose: say so, with the
    /// commands that continue it or roll it back. Versions are not pruned while paused.
    fn paused(&self, old: &str, new: &str, weight: u8, already: bool) -> Outcome {
        let cfg = self.cfg;
        let (sm, flags) = (cfg.state_machine.as_str(), &cfg.invocation.flags);
        let resume_command = command_line::resume(&cfg.invocation.argv, sm, &cfg.alias, flags);
        let rollback_command = command_line::rollback(sm, &cfg.alias, old, flags);
        self.reporter.emit(Event::Paused {
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

/// Whether a deploy that failed with `err` left the alias fully on its old version: rolled back,
/// stopped by a smoke run or by a signal (which rolls back).
fn ended_on_old(err: &anyhow::Error) -> bool {
    matches!(
        exit_code_of(err),
        ExitCode::RolledBack | ExitCode::SmokeFailed | ExitCode::Interrupted | ExitCode::Terminated
    )
}
