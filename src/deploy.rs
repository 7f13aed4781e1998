//! A whole deploy, in order: read-only checks, then publish, then create or shift the alias,
//! then prune. Nothing is changed until every check has passed.

use std::fmt;

use anyhow::Result;
use tokio::time::Instant;

use crate::alarms::{AlarmChecker, AlarmReport};
use crate::alias::{self, AliasHandle, AliasInfo, Routing, short_version};
use crate::aws::Clients;
use crate::config::DeployConfig;
use crate::events::{Event, Reporter, human};
use crate::executor::{Executor, WatchSettings};
use crate::exit_code::{ExitCode, Failure};
use crate::gates::{ExecutionGate, Gate, MetricsGate};
use crate::plan::{self, Decision, Refusal, Shift, Target};
use crate::signals::Signals;
use crate::versions::{PruneReport, StateMachineInfo, VersionManager, VersionQuotaExceeded};
use crate::{commands, strategy};

/// How a successful run ended.
#[derive(Debug)]
pub enum Outcome {
    Deployed {
        alias: String,
        version: String,
        took: std::time::Duration,
        pruned: Option<PruneReport>,
    },
    Created {
        alias: String,
        version: String,
        pruned: Option<PruneReport>,
    },
    NothingToDo {
        alias: String,
        version: String,
        pruned: Option<PruneReport>,
    },
    /// `--pause-at`: the alias is split on purpose (`already`: it was before this run).
    Paused {
        alias: String,
        routing: Routing,
        already: bool,
        resume_command: String,
        rollback_command: String,
    },
    DryRun {
        summary: String,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pruned = |p: &Option<PruneReport>| match p {
            Some(p) if !p.deleted.is_empty() => {
                format!("; pruned {} old version(s)", p.deleted.len())
            }
            _ => String::new(),
        };
        match self {
            Outcome::Deployed { alias, version, took, pruned: p } => write!(
                f,
                "Deployed {} to alias {alias} in {}: it routes 100% to {}{}",
                short_version(version),
                human(*took),
                short_version(version),
                pruned(p)
            ),
            Outcome::Created { alias, version, pruned: p } => {
                write!(f, "Created alias {alias} routing 100% to {}{}", short_version(version), pruned(p))
            }
            Outcome::NothingToDo { alias, version, pruned: p } => write!(
                f,
                "Nothing to do: alias {alias} already routes 100% to {}{}",
                short_version(version),
                pruned(p)
            ),
            Outcome::Paused { alias, routing, already, resume_command, rollback_command } => write!(
                f,
                "Paused{}: alias {alias} routes {routing}, as --pause-at asked. To continue: {resume_command}\n\
                 To roll back: {rollback_command}",
                if *already { " already" } else { "" }
            ),
            Outcome::DryRun { summary } => f.write_str(summary),
        }
    }
}

/// Everything learned by the read-only checks.
struct Checked {
    versions: VersionManager,
    info: StateMachineInfo,
    /// None when the alias does not exist.
    alias: Option<AliasInfo>,
    /// The version to deploy, as far as it is known before any change.
    target: Target,
    alarm_report: Option<(AlarmReport, Instant)>,
    alias_read_at: Instant,
}

impl Checked {
    fn routing(&self) -> Option<&Routing> {
        self.alias.as_ref().map(|a| &a.routing)
    }
}

pub struct Deploy<'a> {
    pub clients: &'a Clients,
    pub cfg: &'a DeployConfig,
    pub reporter: &'a Reporter,
    pub signals: Signals,
}

impl Deploy<'_> {
    pub async fn run(mut self) -> Result<Outcome> {
        let alarms = AlarmChecker::new(&self.clients.cloudwatch, &self.cfg.alarms);
        let mut watch = self.signals.clone();
        // Before any change a signal stops at once; `biased` makes one already received win.
        let checked = tokio::select! {
            biased;
            s = watch.next() => return Err(Failure::err(
                s.exit_code(), format!("stopped by {} during the checks: nothing was changed", s.name()))),
            r = self.check(&alarms) => r?,
        };
        let cfg = self.cfg;
        self.warn_if_credentials_expire_first().await;
        let opts = cfg.plan_options();
        // Decided once before any change (a refusal costs nothing), and again once the version
        // is known for sure (publishing an unchanged revision returns an existing version).
        let first = plan::decide(checked.routing(), &checked.target, &cfg.plan, opts);
        if let Decision::Refuse(refusal) = &first {
            return Err(self.refusal(refusal, &checked));
        }
        if cfg.dry_run {
            return self.dry_run(&checked, &first).await;
        }

        let new_version = self.publish(&checked).await?;
        if let Some(s) = self.signals.pending() {
            return Err(Failure::err(
                s.exit_code(),
                format!(
                    "stopped by {} after publishing {}: the alias was not changed",
                    s.name(),
                    short_version(&new_version)
                ),
            ));
        }
        let sm_arn = checked.versions.state_machine_arn.clone();
        let decision = plan::decide(checked.routing(), &Target::Known(new_version.clone()), &cfg.plan, opts);
        if !cfg.smoke_inputs.is_empty() && matches!(decision, Decision::CreateAlias | Decision::Shift(_)) {
            let smoke = crate::smoke::run(
                &self.clients.sfn, &new_version, &checked.info.kind, &cfg.smoke_inputs, cfg.smoke_timeout,
            );
            let mut watch = self.signals.clone();
            tokio::select! {
                biased;
                s = watch.next() => return Err(Failure::err(
                    s.exit_code(),
                    format!("stopped by {} during the smoke executions: the alias was not changed", s.name()),
                )),
                r = smoke => r?,
            }
        }
        let shift = match decision {
            Decision::Refuse(refusal) => return Err(self.refusal(&refusal, &checked)),
            Decision::CreateAlias => {
                alias::create_alias(&self.clients.sfn, &sm_arn, &cfg.alias, &new_version).await?;
                self.reporter
                    .emit(Event::AliasCreated { alias: cfg.alias.clone(), version: new_version.clone() });
                let pruned = self.prune(&checked.versions, &[&new_version]).await?;
                return Ok(Outcome::Created { alias: cfg.alias.clone(), version: new_version, pruned });
            }
            Decision::NothingToDo { .. } => {
                self.reporter
                    .emit(Event::NothingToDo { alias: cfg.alias.clone(), version: new_version.clone() });
                let pruned = self.prune(&checked.versions, &[&new_version]).await?;
                return Ok(Outcome::NothingToDo { alias: cfg.alias.clone(), version: new_version, pruned });
            }
            Decision::AlreadyPaused { old, new, weight } => return Ok(self.paused(&old, &new, weight, true)),
            Decision::Shift(shift) => shift,
        };
        let Some(found) = &checked.alias else {
            unreachable!("the planner shifts only an alias that exists")
        };
        let Shift { old, steps, pauses, from_weight, .. } = shift;
        let planned = strategy::total_hold(&steps);
        self.reporter.emit(Event::Started {
            state_machine: sm_arn.clone(),
            alias: cfg.alias.clone(),
            old_version: Some(old.clone()),
            new_version: new_version.clone(),
            strategy: cfg.strategy.name().to_string(),
            steps: steps.clone(),
            planned,
            from_weight,
        });
        let began = Instant::now();
        let handle = AliasHandle::new(&self.clients.sfn, found, checked.alias_read_at);
        let settings = WatchSettings {
            polling: cfg.alarm_polling,
            max_unmonitored: cfg.max_unmonitored,
            rollback_timeout: cfg.rollback_timeout,
        };
        let mut executor = Executor::new(
            handle, &old, &new_version, &alarms, settings, self.reporter, &mut self.signals,
            &self.clients.aws_cli_flags,
        );
        if let Some((_, at)) = &checked.alarm_report {
            executor.alarms_read_at(*at);
        }
        if pauses {
            executor.pauses_at_end();
        }
        if cfg.gates.any() {
            let sfn = &self.clients.sfn;
            let since = std::time::SystemTime::now();
            let gate = if checked.info.kind == aws_sdk_sfn::types::StateMachineType::Express {
                tracing::info!(
                    "EXPRESS: the gates read the versions' AWS/States metrics, which are best-effort and \
                     arrive a minute or more late"
                );
                Gate::Metrics(MetricsGate::new(
                    &self.clients.cloudwatch, &sm_arn, &old, &new_version, cfg.gates, since,
                ))
            } else {
                match crate::gates::recent_traffic(sfn, &sm_arn, &found.arn).await {
                    Ok((through_alias, other)) if other > through_alias => self
                        .reporter
                        .emit(Event::TrafficBypassesAlias { alias: cfg.alias.clone(), through_alias, other }),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("could not look at the recent executions: {e:#}"),
                }
                Gate::Executions(ExecutionGate::new(sfn, &found.arn, &old, &new_version, cfg.gates, since))
            };
            executor.with_gate(gate);
        }
        if let Err(e) = executor.run(&steps).await {
            if cfg.gates.any() && crate::exit_code::exit_code_of(&e) != ExitCode::RollbackFailed {
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

    /// Credentials that report an expiry before the deploy's planned end (holds, plus the
    /// rollback's own time) are worth a warning before the first change: once they expire,
    /// sfndeploy can neither go on nor roll back. Credentials without an expiry say nothing.
    async fn warn_if_credentials_expire_first(&self) {
        use aws_sdk_sfn::config::ProvideCredentials;
        let Some(provider) = &self.clients.credentials else { return };
        let fetched =
            tokio::time::timeout(std::time::Duration::from_secs(10), provider.provide_credentials()).await;
        let Ok(Ok(credentials)) = fetched else { return };
        let needed = self.cfg.planned_duration() + self.cfg.rollback_timeout;
        if let Some(warning) = credentials_warning(credentials.expiry(), std::time::SystemTime::now(), needed)
        {
            tracing::warn!("{warning}");
        }
    }

    /// The deploy stops at `--pause-at` with the alias split on purpose: say so, with the
    /// commands that continue it or roll it back. Versions are not pruned while paused.
    fn paused(&self, old: &str, new: &str, weight: u8, already: bool) -> Outcome {
        let cfg = self.cfg;
        let resume_command =
            commands::resume_command(&cfg.argv, cfg.state_machine_text(), &cfg.alias, &cfg.global_flags);
        let rollback_command =
            commands::rollback_command(cfg.state_machine_text(), &cfg.alias, old, &cfg.global_flags);
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

    /// The error for a refused deploy: the reason, and for a split alias the commands that
    /// resolve it.
    fn refusal(&self, refusal: &Refusal, checked: &Checked) -> anyhow::Error {
        let cfg = self.cfg;
        let arn = checked.alias.as_ref().map_or(cfg.alias.as_str(), |a| a.arn.as_str());
        let mut message = format!("alias {arn}: {refusal}");
        if let Refusal::Split { routing }
        | Refusal::ResumeOtherVersion { routing, .. }
        | Refusal::ThreeWay { routing } = refusal
            && let Some(oldest) = routing.oldest_live().map(str::to_string)
        {
            if matches!(refusal, Refusal::Split { .. }) {
                message.push_str(&format!(
                    ". To continue the deploy: {}",
                    commands::resume_command(
                        &cfg.argv,
                        cfg.state_machine_text(),
                        &cfg.alias,
                        &cfg.global_flags
                    )
                ));
            }
            message.push_str(&format!(
                ". To route all traffic back to {}: {}",
                short_version(&oldest),
                commands::rollback_command(cfg.state_machine_text(), &cfg.alias, &oldest, &cfg.global_flags)
            ));
        }
        Failure::err(ExitCode::Failure, message)
    }

    /// Every read-only check, before anything changes.
    async fn check(&self, alarms: &AlarmChecker) -> Result<Checked> {
        let cfg = self.cfg;
        let versions = VersionManager::resolve(self.clients, &cfg.state_machine).await?;
        let info = versions.describe().await?;
        let sm_arn = versions.state_machine_arn.clone();

        let validate = async {
            match &cfg.file {
                Some(file) => {
                    let source = file.path.display().to_string();
                    versions.validate_definition(&file.text, &info.kind, &source).await
                }
                None => Ok(()),
            }
        };
        let read_alarms = async {
            if alarms.is_empty() {
                return Ok(None);
            }
            let report = alarms.read().await?;
            Ok::<_, anyhow::Error>(Some((report, Instant::now())))
        };
        let find_alias = alias::find_alias(&self.clients.sfn, &sm_arn, &cfg.alias);
        let latest = async { if cfg.publish_revision { Ok(None) } else { versions.latest_version().await } };
        let ((), alarm_report, found, latest) = tokio::try_join!(validate, read_alarms, find_alias, latest)?;
        let alias_read_at = Instant::now();

        if let Some((report, _)) = &alarm_report {
            let missing = &report.missing;
            if !missing.is_empty() {
                return Err(Failure::err(
                    ExitCode::Failure,
                    format!(
                        "CloudWatch has no alarm named {}: check --alarms and the region; nothing was changed",
                        quoted(missing)
                    ),
                ));
            }
            let firing = report.firing();
            if !firing.is_empty() {
                return Err(Failure::err(
                    ExitCode::Failure,
                    format!(
                        "alarm {} is already in ALARM: deploying now would roll back at once; nothing was changed",
                        quoted(&firing)
                    ),
                ));
            }
            tracing::info!("watching {} alarm(s): {report}", report.states.len());
            if let Some(warning) = crate::alarms::without_data_warning(&report.states) {
                tracing::warn!("{warning}");
            }
        }

        let target = match latest {
            Some(version) => Target::Known(version),
            None if !cfg.publish_revision => {
                return Err(Failure::err(
                    ExitCode::Failure,
                    format!(
                        "{sm_arn} has no published version: use --publish-revision to publish its current revision"
                    ),
                ));
            }
            None if cfg.resume => self.published_already(&versions, &info, found.as_ref()).await?,
            None => Target::ToPublish,
        };
        if let Some(found) = &found
            && found.routing.full_version().is_none()
            && cfg.force
            && !cfg.resume
        {
            tracing::warn!("alias {} is split ({}); --force: deploying anyway", found.arn, found.routing);
        }
        Ok(Checked { versions, info, alias: found, target, alarm_report, alias_read_at })
    }

    /// With `--resume --publish-revision`: the version the alias already routes to that holds
    /// what this run would publish, if any. A resumed deploy must know its version before any
    /// change, and must not publish twice. `PublishStateMachineVersion` is idempotent for a
    /// revision already published, but a call that changes nothing is still a call that can
    /// fail or be refused for the version quota; so we compare instead: the state machine's
    /// current revision id with each routed version's (with `--file`: the file's definition
    /// with the version's, as JSON), and publish nothing when one matches.
    async fn published_already(
        &self,
        versions: &VersionManager,
        info: &StateMachineInfo,
        found: Option<&AliasInfo>,
    ) -> Result<Target> {
        let Some(found) = found else { return Ok(Target::ToPublish) };
        for (arn, weight) in found.routing.entries() {
            if *weight == 0 {
                continue;
            }
            let version = versions.describe_version(arn).await?;
            let same = match &self.cfg.file {
                Some(file) => same_definition(&file.text, &version.definition),
                None => version.revision_id == info.revision_id,
            };
            if same {
                tracing::info!(
                    "{} is already published as {}: resuming its deploy without publishing again",
                    self.cfg
                        .file
                        .as_ref()
                        .map_or("the current revision".to_string(), |f| f.path.display().to_string()),
                    short_version(arn)
                );
                return Ok(Target::Known(arn.clone()));
            }
        }
        Ok(Target::ToPublish)
    }

    /// Uploads and/or publishes as asked, and returns the version to deploy. A publish the
    /// version quota refuses is retried once after pruning to `--history-max`, which would
    /// otherwise never get to run on a full state machine.
    async fn publish(&mut self, checked: &Checked) -> Result<String> {
        let quota = match self.publish_once(checked).await {
            Err(e) => match e.downcast::<VersionQuotaExceeded>() {
                Ok(quota) => quota,
                Err(e) => return Err(e),
            },
            done => return done,
        };
        let cfg = self.cfg;
        let sm_arn = &checked.versions.state_machine_arn;
        let full = format!(
            "Step Functions refused to publish a version of {sm_arn}: it has as many versions as the \
             quota allows ({quota})"
        );
        let keep = usize::from(cfg.history_max);
        if keep == 0 {
            return Err(Failure::err(
                ExitCode::Failure,
                format!(
                    "{full}. Nothing was published and the alias is unchanged: add --history-max N to \
                     delete all but the newest N versions (never one an alias uses) before publishing"
                ),
            ));
        }
        tracing::warn!("{full}: deleting all but the newest {keep} (--history-max), then publishing again");
        let candidates = checked.versions.prune_candidates(keep, &[]).await?;
        if candidates.is_empty() {
            return Err(Failure::err(
                ExitCode::Failure,
                format!(
                    "{full}, and --history-max {keep} leaves none to delete (the others are in use by \
                     an alias). Nothing was published and the alias is unchanged: lower --history-max"
                ),
            ));
        }
        let report = self.delete_versions(&checked.versions, &candidates).await?;
        if report.stopped_early {
            let s = self.signals.pending().expect("a signal stopped pruning");
            return Err(Failure::err(
                s.exit_code(),
                format!(
                    "stopped by {} after deleting {} old version(s) to make room: nothing was published \
                     and the alias is unchanged",
                    s.name(),
                    report.deleted.len()
                ),
            ));
        }
        match self.publish_once(checked).await {
            Err(e) if e.is::<VersionQuotaExceeded>() => Err(Failure::err(
                ExitCode::Failure,
                format!(
                    "{full}; deleting {} old version(s) did not make room. Nothing was published and the \
                     alias is unchanged",
                    report.deleted.len()
                ),
            )),
            done => done,
        }
    }

    /// Deletes `candidates` (paced, stopping at a signal) and reports it.
    async fn delete_versions(
        &mut self,
        versions: &VersionManager,
        candidates: &[String],
    ) -> Result<PruneReport> {
        let signals = &self.signals;
        let report =
            versions.delete_versions(candidates, self.cfg.pacing, || signals.peek().is_some()).await?;
        self.reporter.emit(Event::Pruned {
            deleted: report.deleted.clone(),
            skipped: report.skipped.clone(),
            stopped_early: report.stopped_early,
        });
        Ok(report)
    }

    async fn publish_once(&self, checked: &Checked) -> Result<String> {
        let cfg = self.cfg;
        if cfg.publish_revision
            && let Target::Known(version) = &checked.target
        {
            return Ok(version.clone()); // --resume: published by the run being resumed
        }
        let description = cfg.version_description.as_deref();
        if let Some(file) = &cfg.file {
            let source = file.path.display().to_string();
            let published = checked.versions.upload(&file.text, cfg.publish_revision, description).await?;
            if let Some(version) = published {
                self.reporter.emit(Event::Published { version: version.clone(), file: Some(source) });
                return Ok(version);
            }
            if cfg.publish_revision {
                return Err(anyhow::anyhow!(
                    "Step Functions did not return the version it published from {source}"
                ));
            }
            self.reporter.emit(Event::Uploaded { file: source });
            tracing::warn!(
                "the uploaded revision is not published (no --publish-revision): deploying the latest published version"
            );
        } else if cfg.publish_revision {
            let version = checked.versions.publish(checked.info.revision_id.as_deref(), description).await?;
            self.reporter.emit(Event::Published { version: version.clone(), file: None });
            return Ok(version);
        }
        match &checked.target {
            Target::Known(version) => Ok(version.clone()),
            Target::ToPublish => Err(anyhow::anyhow!("no version to deploy")),
        }
    }

    /// Deletes versions beyond `--history-max`, never one an alias uses or one of `protect`.
    async fn prune(&mut self, versions: &VersionManager, protect: &[&str]) -> Result<Option<PruneReport>> {
        let keep = usize::from(self.cfg.history_max);
        if keep == 0 {
            return Ok(None);
        }
        let result = match versions.prune_candidates(keep, protect).await {
            Ok(candidates) => self.delete_versions(versions, &candidates).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(report) => {
                if report.stopped_early {
                    let s = self.signals.pending().expect("a signal stopped pruning");
                    return Err(Failure::err(
                        s.exit_code(),
                        format!(
                            "the deploy succeeded, then {} stopped pruning after {} deletion(s); re-run with \
                         --history-max to finish",
                            s.name(),
                            report.deleted.len()
                        ),
                    ));
                }
                Ok(Some(report))
            }
            Err(e) => {
                tracing::warn!("the deploy succeeded but pruning failed: {e:#}; re-run to finish pruning");
                Ok(None)
            }
        }
    }

    async fn dry_run(&self, checked: &Checked, decision: &Decision) -> Result<Outcome> {
        let cfg = self.cfg;
        let new = match &checked.target {
            Target::Known(v) => Some(v.clone()),
            Target::ToPublish => None,
        };
        let (old, steps, action) = match decision {
            Decision::CreateAlias => (
                None,
                Vec::new(),
                format!("would create alias {} at 100% on {}", cfg.alias, version_label(&new)),
            ),
            Decision::NothingToDo { version } => (
                Some(version.clone()),
                Vec::new(),
                format!(
                    "nothing to do: alias {} already routes 100% to {}",
                    cfg.alias,
                    short_version(version)
                ),
            ),
            Decision::AlreadyPaused { old, new, weight } => (
                Some(old.clone()),
                Vec::new(),
                format!(
                    "nothing to do: alias {} routes {}, at or past --pause-at",
                    cfg.alias,
                    Routing::shifted(old, new, *weight)
                ),
            ),
            Decision::Shift(shift) => {
                let mut action = format!(
                    "would {} alias {} from {} to {} with {}: {}; {} in all",
                    if shift.from_weight > 0 { "resume shifting" } else { "shift" },
                    cfg.alias,
                    short_version(&shift.old),
                    version_label(&new),
                    cfg.strategy.name(),
                    describe_steps(&shift.steps),
                    human(strategy::total_hold(&shift.steps))
                );
                if shift.from_weight > 0 {
                    action.push_str(&format!(", going on from {}% now", shift.from_weight));
                }
                if let (true, Some(last)) = (shift.pauses, shift.steps.last()) {
                    action.push_str(&format!(", then pause at {}% (--pause-at)", last.weight));
                }
                (Some(shift.old.clone()), shift.steps.clone(), action)
            }
            Decision::Refuse(refusal) => return Err(self.refusal(refusal, checked)),
        };
        let would_prune =
            if cfg.history_max > 0 && !matches!(decision, Decision::Shift(Shift { pauses: true, .. })) {
                // A version to be published takes one of the kept places.
                let keep = usize::from(cfg.history_max) - usize::from(new.is_none());
                let protect: Vec<&str> = old.iter().chain(new.iter()).map(String::as_str).collect();
                checked.versions.prune_candidates(keep, &protect).await?
            } else {
                Vec::new()
            };
        let mut summary = format!("Dry run, nothing changed: {action}");
        if !cfg.alarms.is_empty() {
            summary.push_str(&format!("; watching {}", quoted(&cfg.alarms)));
        }
        if !would_prune.is_empty() {
            summary.push_str(&format!(
                "; would prune {}",
                would_prune.iter().map(|v| short_version(v)).collect::<Vec<_>>().join(", ")
            ));
        }
        self.reporter.emit(Event::Planned {
            state_machine: checked.versions.state_machine_arn.clone(),
            alias: cfg.alias.clone(),
            old_version: old,
            new_version: new,
            action,
            strategy: cfg.strategy.name().to_string(),
            planned: strategy::total_hold(&steps),
            steps,
            alarms: cfg.alarms.clone(),
            would_prune,
        });
        Ok(Outcome::DryRun { summary })
    }
}

/// The warning for credentials that expire within `needed` from `now`, if they do.
fn credentials_warning(
    expiry: Option<std::time::SystemTime>,
    now: std::time::SystemTime,
    needed: std::time::Duration,
) -> Option<String> {
    let left = expiry?.duration_since(now).unwrap_or_default();
    (left < needed).then(|| {
        format!(
            "the AWS credentials in use expire at {} (in {}), before this deploy could end (its holds and \
             --rollback-timeout take up to {}): unless they are refreshed by then, sfndeploy will be able \
             neither to go on nor to roll back. Use credentials that last longer (e.g. a longer role \
             session) or a shorter plan",
            humantime::format_rfc3339_seconds(expiry.unwrap_or(now)),
            human(left),
            human(needed)
        )
    })
}

/// `10% → 100%, holding 5m after each` or `5% (1m) → 50% (10m) → 100% (1m)`.
fn describe_steps(plan: &[crate::strategy::Step]) -> String {
    let uniform = plan.windows(2).all(|w| w[0].hold == w[1].hold);
    match plan.first() {
        Some(first) if uniform => format!(
            "{}, holding {} after each",
            plan.iter().map(|s| format!("{}%", s.weight)).collect::<Vec<_>>().join(" → "),
            human(first.hold)
        ),
        _ => {
            plan.iter().map(|s| format!("{}% ({})", s.weight, human(s.hold))).collect::<Vec<_>>().join(" → ")
        }
    }
}

fn version_label(v: &Option<String>) -> String {
    v.as_deref().map_or_else(|| "a newly published version".to_string(), short_version)
}

/// Two definitions are the same when they parse to the same JSON (whitespace and key order
/// aside), or, failing that, are the same text.
fn same_definition(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn credentials_that_expire_before_the_end_are_worth_a_warning() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let hour = Duration::from_secs(3600);
        let warning = credentials_warning(Some(now + hour), now, hour * 2).expect("a warning");
        assert!(warning.contains("in 1h") && warning.contains("2h"), "{warning}");
        assert!(credentials_warning(Some(now + hour * 3), now, hour * 2).is_none());
        assert!(credentials_warning(None, now, hour * 2).is_none(), "no expiry, nothing to say");
        assert!(credentials_warning(Some(now - hour), now, hour).is_some(), "already expired");
    }
}
