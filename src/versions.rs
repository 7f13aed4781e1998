//! State machine versions: resolving the state machine, validating and uploading definitions,
//! publishing, and pruning old versions.

use std::collections::HashSet;

use anyhow::Result;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::types::{
    StateMachineType, ValidateStateMachineDefinitionResultCode, ValidateStateMachineDefinitionSeverity,
};

use crate::alias;
use crate::arn::{StateMachineRef, short_version};
use crate::aws::{AwsResultExt, Clients, sdk_error};
use crate::exit_code::{ExitCode, Failure};
use crate::pacer::Pacer;
use crate::text::human;

/// What we read of the state machine before changing anything.
#[derive(Clone, Debug)]
pub struct StateMachineInfo {
    pub revision_id: Option<String>,
    pub kind: StateMachineType,
    /// The current revision's definition.
    pub definition: String,
}

/// What a published version holds.
#[derive(Clone, Debug)]
pub struct VersionInfo {
    /// None for a version of the state machine's first revision, which has no id.
    pub revision_id: Option<String>,
    pub definition: String,
    /// When it was published, as AWS writes it.
    pub created: String,
    pub description: String,
}

/// Versions and revisions of one state machine.
#[derive(Clone, Debug)]
pub struct VersionManager {
    sfn: aws_sdk_sfn::Client,
    /// The run's pace for changes (publishes, uploads), shared with the alias updates.
    changes: Pacer,
    pub state_machine_arn: String,
}

/// Step Functions refused to publish: the state machine has as many versions as its quota
/// allows (1000 today; the code reacts to the error and never assumes the number).
#[derive(Debug)]
pub struct VersionQuotaExceeded {
    /// What Step Functions said.
    pub message: String,
}

impl std::fmt::Display for VersionQuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceQuotaExceededException: {}", self.message)
    }
}

impl std::error::Error for VersionQuotaExceeded {}

impl VersionQuotaExceeded {
    fn error(message: Option<&str>) -> anyhow::Error {
        VersionQuotaExceeded { message: message.unwrap_or_default().to_string() }.into()
    }
}

/// The revision id AWS documents for a state machine never updated since its creation.
const INITIAL_REVISION: &str = "INITIAL";

/// What pruning did.
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    /// Versions we meant to delete but did not, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Set when a signal stopped pruning before the end.
    pub stopped_early: bool,
}

impl VersionManager {
    /// Finds the state machine's ARN: as given, or built from a name with the caller's account
    /// and partition (from STS) and the region in use.
    pub async fn resolve(clients: &Clients, state_machine: &StateMachineRef) -> Result<Self> {
        let state_machine_arn = match state_machine {
            StateMachineRef::Arn(arn) => arn.clone(),
            StateMachineRef::Name(name) => {
                let me = clients
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .aws_context(|| "finding your AWS account (sts:GetCallerIdentity)")?;
                let account = me.account().unwrap_or_default();
                let partition =
                    me.arn().and_then(|a| a.split(':').nth(1)).filter(|p| !p.is_empty()).unwrap_or("aws");
                format!("arn:{partition}:states:{}:{account}:stateMachine:{name}", clients.region)
            }
        };
        Ok(VersionManager { sfn: clients.sfn.clone(), changes: clients.changes.clone(), state_machine_arn })
    }

    pub async fn describe(&self) -> Result<StateMachineInfo> {
        let out = self.sfn.describe_state_machine().state_machine_arn(&self.state_machine_arn).send().await;
        match out {
            Ok(sm) => Ok(StateMachineInfo {
                revision_id: sm.revision_id().map(str::to_string),
                kind: sm.r#type().clone(),
                definition: sm.definition().to_string(),
            }),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_state_machine_does_not_exist()) => {
                Err(Failure::err(
                    ExitCode::Failure,
                    format!(
                        "state machine {} does not exist: check --state-machine and the region",
                        self.state_machine_arn
                    ),
                ))
            }
            Err(e) => Err(sdk_error(e).context(format!("reading state machine {}", self.state_machine_arn))),
        }
    }

    /// Checks a definition with Step Functions' own validator; errors become one message that
    /// lists every diagnostic.
    pub async fn validate_definition(
        &self,
        definition: &str,
        kind: &StateMachineType,
        source: &str,
    ) -> Result<()> {
        let out = self
            .sfn
            .validate_state_machine_definition()
            .definition(definition)
            .r#type(kind.clone())
            // Warnings too: they are shown, and only errors refuse.
            .severity(ValidateStateMachineDefinitionSeverity::Warning)
            .send()
            .await
            .aws_context(|| format!("validating {source}"))?;
        if *out.result() == ValidateStateMachineDefinitionResultCode::Ok {
            for d in out.diagnostics() {
                tracing::warn!("{source}: {} {}{}", d.code(), d.message(), location(d.location()));
            }
            return Ok(());
        }
        let problems: Vec<String> = out
            .diagnostics()
            .iter()
            .map(|d| format!("{} {}{}", d.code(), d.message(), location(d.location())))
            .collect();
        Err(Failure::usage(format!(
            "{source} is not a valid state machine definition: {}",
            problems.join("; ")
        )))
    }

    /// The revision and definition of a published version.
    pub async fn describe_version(&self, version_arn: &str) -> Result<VersionInfo> {
        let out = self
            .sfn
            .describe_state_machine()
            .state_machine_arn(version_arn)
            .send()
            .await
            .aws_context(|| format!("reading version {version_arn}"))?;
        Ok(VersionInfo {
            revision_id: out.revision_id().map(str::to_string),
            definition: out.definition().to_string(),
            created: out.creation_date().to_string(),
            description: out.description().unwrap_or_default().to_string(),
        })
    }

    /// Fails clearly unless `version_arn` is a published version of this state machine.
    pub async fn check_version_exists(&self, version_arn: &str) -> Result<()> {
        match self.sfn.describe_state_machine().state_machine_arn(version_arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_state_machine_does_not_exist()) => {
                Err(Failure::err(ExitCode::Failure, format!("version {version_arn} does not exist")))
            }
            Err(e) => Err(sdk_error(e).context(format!("reading version {version_arn}"))),
        }
    }

    /// The newest published version, if any.
    pub async fn latest_version(&self) -> Result<Option<String>> {
        let out = self
            .sfn
            .list_state_machine_versions()
            .state_machine_arn(&self.state_machine_arn)
            .max_results(1)
            .send()
            .await
            .aws_context(|| format!("listing the versions of {}", self.state_machine_arn))?;
        Ok(out.state_machine_versions().first().map(|v| v.state_machine_version_arn().to_string()))
    }

    /// Every version, newest first, all pages.
    pub async fn all_versions(&self) -> Result<Vec<String>> {
        let mut versions = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sfn
                .list_state_machine_versions()
                .state_machine_arn(&self.state_machine_arn)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .aws_context(|| format!("listing the versions of {}", self.state_machine_arn))?;
            versions.extend(
                page.state_machine_versions().iter().map(|v| v.state_machine_version_arn().to_string()),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(versions);
            }
        }
    }

    /// Publishes the revision we validated. If the definition changed since (another deploy, a
    /// console edit), Step Functions refuses and so do we: we never deploy what we did not check.
    /// A state machine never updated since its creation has no revision id: AWS documents
    /// `INITIAL` for it, so the guard holds there too.
    pub async fn publish(&self, revision_id: Option<&str>, description: Option<&str>) -> Result<String> {
        let revision = revision_id.unwrap_or(INITIAL_REVISION);
        self.changes.take().await;
        let out = self
            .sfn
            .publish_state_machine_version()
            .state_machine_arn(&self.state_machine_arn)
            .revision_id(revision)
            .set_description(description.map(str::to_string))
            .send()
            .await;
        match out {
            Ok(v) => Ok(v.state_machine_version_arn().to_string()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conflict_exception()) => {
                let said = e.as_service_error().and_then(|s| s.message()).unwrap_or_default().to_string();
                // An emulator that does not know `INITIAL`: a state machine that still has no
                // revision has only its first one to publish, so nothing can have changed.
                if revision_id.is_none() && self.describe().await.is_ok_and(|info| info.revision_id.is_none())
                {
                    return self.publish_unguarded(description).await;
                }
                Err(self.publish_conflict(revision, &said).await)
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_service_quota_exceeded_exception()) => {
                Err(VersionQuotaExceeded::error(e.as_service_error().and_then(|s| s.message())))
            }
            Err(e) => {
                Err(sdk_error(e).context(format!("publishing a version of {}", self.state_machine_arn)))
            }
        }
    }

    /// Publishes the current revision without a revision guard: only for a state machine that
    /// has never had a second revision.
    async fn publish_unguarded(&self, description: Option<&str>) -> Result<String> {
        let out = self
            .sfn
            .publish_state_machine_version()
            .state_machine_arn(&self.state_machine_arn)
            .set_description(description.map(str::to_string))
            .send()
            .await;
        match out {
            Ok(v) => Ok(v.state_machine_version_arn().to_string()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_service_quota_exceeded_exception()) => {
                Err(VersionQuotaExceeded::error(e.as_service_error().and_then(|s| s.message())))
            }
            Err(e) => {
                Err(sdk_error(e).context(format!("publishing a version of {}", self.state_machine_arn)))
            }
        }
    }

    /// Why publishing met a `ConflictException`: the definition changed since it was read, or
    /// (the revision unchanged) a publish or a deletion of another process was under way.
    async fn publish_conflict(&self, revision: &str, said: &str) -> anyhow::Error {
        let now = self
            .describe()
            .await
            .ok()
            .map(|info| info.revision_id.unwrap_or_else(|| INITIAL_REVISION.into()));
        let message = match now {
            Some(now) if now == revision => format!(
                "Step Functions refused to publish a version of {} (ConflictException: {said}) while its \
                 definition is unchanged (revision {revision}): another publish or a version deletion was \
                 under way. Nothing was published; re-run once it is done",
                self.state_machine_arn
            ),
            _ => format!(
                "the definition of {} changed after sfndeploy read it (revision {revision}); nothing was \
                 published. Re-run to deploy the current revision",
                self.state_machine_arn
            ),
        };
        Failure::err(ExitCode::Failure, message)
    }

    /// Uploads a definition as the new revision; with `publish`, publishes it in the same call so
    /// the new version is exactly that file. Returns the published version.
    pub async fn upload(
        &self,
        definition: &str,
        publish: bool,
        description: Option<&str>,
    ) -> Result<Option<String>> {
        self.changes.take().await;
        let out = self
            .sfn
            .update_state_machine()
            .state_machine_arn(&self.state_machine_arn)
            .definition(definition)
            .publish(publish)
            .set_version_description(description.filter(|_| publish).map(str::to_string))
            .send()
            .await;
        match out {
            Ok(out) => Ok(out.state_machine_version_arn().map(str::to_string)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_service_quota_exceeded_exception()) => {
                Err(VersionQuotaExceeded::error(e.as_service_error().and_then(|s| s.message())))
            }
            Err(e) => {
                Err(sdk_error(e).context(format!("uploading the definition to {}", self.state_machine_arn)))
            }
        }
    }

    /// Every alias of the state machine with its routing and description.
    pub async fn aliases_with_routing(&self) -> Result<Vec<(String, alias::AliasInfo)>> {
        let mut aliases = Vec::new();
        for a in alias::list_aliases(&self.sfn, &self.state_machine_arn).await? {
            let info = alias::read_alias(&self.sfn, &a.arn).await?;
            aliases.push((a.name, info));
        }
        Ok(aliases)
    }

    /// Every version referenced by any alias of the state machine.
    pub async fn versions_in_use(&self) -> Result<HashSet<String>> {
        Ok(self
            .aliases_with_routing()
            .await?
            .iter()
            .flat_map(|(_, alias)| alias.routing.entries().iter().map(|(arn, _)| arn.clone()))
            .collect())
    }

    /// The versions pruning would delete now, oldest first.
    pub async fn prune_candidates(&self, keep: usize, protect: &[&str]) -> Result<Vec<String>> {
        let versions = self.all_versions().await?;
        let mut protected = self.versions_in_use().await?;
        protected.extend(protect.iter().map(|s| s.to_string()));
        Ok(versions_to_delete(&versions, keep, &protected))
    }

    /// Deletes versions (oldest first, at the pace of `bucket`, which every member's pruning in
    /// a run shares) until done or `stop()` says so. A version an alias took meanwhile is skipped
    /// with a warning, not an error.
    pub async fn delete_versions(
        &self,
        versions: &[String],
        bucket: &Pacer,
        stop: impl Fn() -> bool,
    ) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        let pacing = bucket.pacing();
        if versions.len() > pacing.burst as usize {
            let secs = (versions.len() - pacing.burst as usize) as f64 / pacing.per_second;
            tracing::info!(
                "pruning {} versions, {} per second after the first {}: about {}",
                versions.len(),
                pacing.per_second,
                pacing.burst,
                human(std::time::Duration::from_secs_f64(secs))
            );
        }
        for (i, arn) in versions.iter().enumerate() {
            if stop() {
                report.stopped_early = true;
                break;
            }
            bucket.take().await;
            if stop() {
                report.stopped_early = true;
                break;
            }
            if i > 0 && i % 50 == 0 {
                tracing::info!("pruned {i} of {} versions", versions.len());
            }
            match self.sfn.delete_state_machine_version().state_machine_version_arn(arn).send().await {
                Ok(_) => {
                    tracing::info!("deleted version {}", short_version(arn));
                    report.deleted.push(arn.clone());
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conflict_exception()) => {
                    tracing::warn!("kept version {}: an alias uses it now", short_version(arn));
                    report.skipped.push((arn.clone(), "an alias uses it".into()));
                }
                Err(e) => return Err(sdk_error(e).context(format!("deleting version {arn}"))),
            }
        }
        Ok(report)
    }
}

fn location(loc: Option<&str>) -> String {
    loc.map(|l| format!(" (at {l})")).unwrap_or_default()
}

/// Versions to delete, oldest first: all but the newest `keep`, and never a protected one.
pub fn versions_to_delete(newest_first: &[String], keep: usize, protected: &HashSet<String>) -> Vec<String> {
    newest_first.iter().skip(keep).filter(|v| !protected.contains(*v)).rev().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_newest_and_protected() {
        let versions: Vec<String> = (1..=12).rev().map(|n| format!("sm:{n}")).collect();
        let protected: HashSet<String> = ["sm:2".to_string(), "sm:11".to_string()].into();
        let deleted = versions_to_delete(&versions, 3, &protected);
        let expected: Vec<String> = [1, 3, 4, 5, 6, 7, 8, 9].iter().map(|n| format!("sm:{n}")).collect();
        assert_eq!(deleted, expected);
        assert!(versions_to_delete(&versions, 12, &HashSet::new()).is_empty());
        assert!(versions_to_delete(&versions, 20, &HashSet::new()).is_empty());
    }
}
