//! A whole deploy, in order: read-only checks, then publish, then create or shift the alias,
//! then prune. Nothing is changed until every check has passed.

use std::fmt;

use anyhow::Result;
use tokio::time::Instant;

use crate::alarms::{AlarmChecker, AlarmReport};
use crate::alias::{self, AliasHandle, Routing, restore_command, short_version};
use crate::aws::Clients;
use crate::config::DeployConfig;
use crate::events::{Event, Reporter, human};
use crate::executor::{Executor, WatchSettings};
use crate::exit_code::{ExitCode, Failure};
use crate::signals::Signals;
use crate::versions::{PruneReport, StateMachineInfo, VersionManager};

/// How a successful run ended.
#[derive(Debug)]
pub enum Outcome {
    Deployed { alias: String, version: String, took: std::time::Duration, pruned: Option<PruneReport> },
    Created { alias: String, version: String, pruned: Option<PruneReport> },
    NothingToDo { alias: String, version: String, pruned: Option<PruneReport> },
    DryRun { summary: String },
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
            Outcome::DryRun { summary } => f.write_str(summary),
        }
    }
}

/// What the alias looks like before we start.
#[derive(Clone, Debug)]
enum AliasState {
    Missing,
    Found { arn: String, routing: Routing },
}

/// Everything learned by the read-only checks.
struct Checked {
    versions: VersionManager,
    info: StateMachineInfo,
    alias: AliasState,
    /// The version to deploy when nothing is published; None when the run will publish one.
    latest: Option<String>,
    alarm_report: Option<(AlarmReport, Instant)>,
    alias_read_at: Instant,
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
        if self.cfg.dry_run {
            return self.dry_run(&checked).await;
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
        let cfg = self.cfg;
        let sm_arn = checked.versions.state_machine_arn.clone();

        let (alias_arn, routing) = match &checked.alias {
            AliasState::Missing => {
                alias::create_alias(&self.clients.sfn, &sm_arn, &cfg.alias, &new_version).await?;
                self.reporter
                    .emit(Event::AliasCreated { alias: cfg.alias.clone(), version: new_version.clone() });
                let pruned = self.prune(&checked.versions, &[&new_version]).await?;
                return Ok(Outcome::Created { alias: cfg.alias.clone(), version: new_version, pruned });
            }
            AliasState::Found { arn, routing } => (arn.clone(), routing.clone()),
        };
        if routing.full_version() == Some(new_version.as_str()) {
            self.reporter.emit(Event::NothingToDo { alias: cfg.alias.clone(), version: new_version.clone() });
            let pruned = self.prune(&checked.versions, &[&new_version]).await?;
            return Ok(Outcome::NothingToDo { alias: cfg.alias.clone(), version: new_version, pruned });
        }
        let old_version = old_version_of(&routing, &new_version);

        self.reporter.emit(Event::Started {
            state_machine: sm_arn.clone(),
            alias: cfg.alias.clone(),
            old_version: Some(old_version.clone()),
            new_version: new_version.clone(),
            strategy: cfg.strategy.name().to_string(),
            steps: cfg.plan.clone(),
            planned: cfg.planned_duration(),
        });
        let began = Instant::now();
        let handle = AliasHandle::new(&self.clients.sfn, &alias_arn, routing, checked.alias_read_at);
        let settings = WatchSettings {
            polling: cfg.alarm_polling,
            max_unmonitored: cfg.max_unmonitored,
            rollback_timeout: cfg.rollback_timeout,
        };
        let mut executor = Executor::new(
            handle, &old_version, &new_version, &alarms, settings, self.reporter, &mut self.signals,
            &self.clients.region,
        );
        if let Some((_, at)) = &checked.alarm_report {
            executor.alarms_read_at(*at);
        }
        executor.run(&cfg.plan).await?;
        let took = began.elapsed();
        self.reporter.emit(Event::Completed { alias: cfg.alias.clone(), version: new_version.clone() });

        let pruned = self.prune(&checked.versions, &[&old_version, &new_version]).await?;
        Ok(Outcome::Deployed { alias: cfg.alias.clone(), version: new_version, took, pruned })
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
            let missing = alarms.missing(report);
            if !missing.is_empty() {
                return Err(Failure::err(
                    ExitCode::Failure,
                    format!(
                        "CloudWatch has no alarm named {}: check --alarms and the region; nothing was changed",
                        quoted(&missing)
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
        }

        if !cfg.publish_revision && latest.is_none() {
            return Err(Failure::err(
                ExitCode::Failure,
                format!(
                    "{sm_arn} has no published version: use --publish-revision to publish its current revision"
                ),
            ));
        }

        let alias = match found {
            None => AliasState::Missing,
            Some((arn, routing)) => {
                if routing.full_version().is_none() {
                    if !cfg.force {
                        return Err(Failure::err(
                            ExitCode::Failure,
                            format!(
                                "alias {arn} is split ({routing}): a deploy may be in progress, or a previous one \
                             did not finish. Nothing was changed. Re-run with --force to deploy from the version \
                             with the larger weight, or restore it first: {}",
                                restore_command(
                                    &arn,
                                    &Routing::single(&largest(&routing, None)),
                                    &self.clients.region
                                )
                            ),
                        ));
                    }
                    tracing::warn!("alias {arn} is split ({routing}); --force: deploying anyway");
                }
                AliasState::Found { arn, routing }
            }
        };
        Ok(Checked { versions, info, alias, latest, alarm_report, alias_read_at })
    }

    /// Uploads and/or publishes as asked, and returns the version to deploy.
    async fn publish(&self, checked: &Checked) -> Result<String> {
        let cfg = self.cfg;
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
        checked.latest.clone().ok_or_else(|| anyhow::anyhow!("no version to deploy"))
    }

    /// Deletes versions beyond `--history-max`, never one an alias uses or one of `protect`.
    async fn prune(&mut self, versions: &VersionManager, protect: &[&str]) -> Result<Option<PruneReport>> {
        let keep = usize::from(self.cfg.history_max);
        if keep == 0 {
            return Ok(None);
        }
        let result = async {
            let candidates = versions.prune_candidates(keep, protect).await?;
            let signals = &self.signals;
            versions.delete_versions(&candidates, self.cfg.pacing, || signals.peek().is_some()).await
        }
        .await;
        match result {
            Ok(report) => {
                self.reporter.emit(Event::Pruned {
                    deleted: report.deleted.clone(),
                    skipped: report.skipped.clone(),
                    stopped_early: report.stopped_early,
                });
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

    async fn dry_run(&self, checked: &Checked) -> Result<Outcome> {
        let cfg = self.cfg;
        let new = checked.latest.clone();
        let (old, action) = match &checked.alias {
            AliasState::Missing => {
                (None, format!("would create alias {} at 100% on {}", cfg.alias, version_label(&new)))
            }
            AliasState::Found { routing, .. }
                if new.is_some() && routing.full_version() == new.as_deref() =>
            {
                (
                    new.clone(),
                    format!(
                        "nothing to do: alias {} already routes 100% to {}",
                        cfg.alias,
                        version_label(&new)
                    ),
                )
            }
            AliasState::Found { routing, .. } => {
                let old = largest(routing, new.as_deref());
                let action = format!(
                    "would shift alias {} from {} to {} with {}: {}; {} in all",
                    cfg.alias,
                    short_version(&old),
                    version_label(&new),
                    cfg.strategy.name(),
                    describe_steps(&cfg.plan),
                    human(cfg.planned_duration())
                );
                (Some(old), action)
            }
        };
        let would_prune = if cfg.history_max > 0 {
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
            steps: cfg.plan.clone(),
            planned: cfg.planned_duration(),
            alarms: cfg.alarms.clone(),
            would_prune,
        });
        Ok(Outcome::DryRun { summary })
    }
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

/// The version to roll back to: the one with all traffic, or for a split alias the one with the
/// larger weight (other than the new version).
fn old_version_of(routing: &Routing, new_version: &str) -> String {
    largest(routing, Some(new_version))
}

fn largest(routing: &Routing, except: Option<&str>) -> String {
    routing
        .entries()
        .iter()
        .filter(|(arn, _)| Some(arn.as_str()) != except)
        .max_by_key(|(_, w)| *w)
        .or_else(|| routing.entries().first())
        .map(|(arn, _)| arn.clone())
        .unwrap_or_default()
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
}
