//! Changing versions: uploading and publishing the version to deploy (making room under the
//! version quota when asked), and pruning old versions after a success.

use anyhow::Result;

use super::Deploy;
use super::check::Part;
use crate::exit_code::{ExitCode, Failure};
use crate::plan::Target;
use crate::report::{Event, Reporter};
use crate::versions::{PruneReport, VersionManager, VersionQuotaExceeded};

impl Deploy<'_> {
    /// Uploads and/or publishes as asked, and returns the version to deploy. A publish the
    /// version quota refuses is retried once after pruning to `--history-max`, which would
    /// otherwise never get to run on a full state machine.
    pub(super) async fn publish(&mut self, part: &Part<'_>) -> Result<String> {
        let checked = &part.checked;
        let quota = match self.publish_once(part).await {
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
        let report = self.delete_versions(&checked.versions, &candidates, &part.reporter).await?;
        if report.stopped_early {
            let s = self.signals.pending().expect("a signal stopped pruning");
            return Err(s.stopped(format_args!(
                "after deleting {} old version(s) to make room: nothing was published and the alias is unchanged",
                report.deleted.len()
            )));
        }
        match self.publish_once(part).await {
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
        reporter: &Reporter,
    ) -> Result<PruneReport> {
        let signals = &self.signals;
        let report =
            versions.delete_versions(candidates, &self.cfg.prune, || signals.peek().is_some()).await?;
        reporter.emit(Event::Pruned {
            deleted: report.deleted.clone(),
            skipped: report.skipped.clone(),
            stopped_early: report.stopped_early,
        });
        Ok(report)
    }

    async fn publish_once(&self, part: &Part<'_>) -> Result<String> {
        let cfg = self.cfg;
        let checked = &part.checked;
        if cfg.publish_revision
            && let Target::Known(version) = &checked.target
        {
            return Ok(version.clone()); // --resume: published by the run being resumed
        }
        let description = cfg.version_description.as_deref();
        if let Some(file) = &part.member.file {
            let source = file.path.display().to_string();
            let published = checked.versions.upload(&file.text, cfg.publish_revision, description).await?;
            if let Some(version) = published {
                part.reporter.emit(Event::Published { version: version.clone(), file: Some(source) });
                return Ok(version);
            }
            if cfg.publish_revision {
                return Err(anyhow::anyhow!(
                    "Step Functions did not return the version it published from {source}"
                ));
            }
            part.reporter.emit(Event::Uploaded { file: source });
            tracing::warn!(
                "the uploaded revision is not published (no --publish-revision): deploying the latest published version"
            );
        } else if cfg.publish_revision {
            let version = checked.versions.publish(checked.info.revision_id.as_deref(), description).await?;
            part.reporter.emit(Event::Published { version: version.clone(), file: None });
            return Ok(version);
        }
        match &checked.target {
            Target::Known(version) => Ok(version.clone()),
            Target::ToPublish => Err(anyhow::anyhow!("no version to deploy")),
        }
    }

    /// Deletes versions beyond `--history-max`, never one an alias uses or one of `protect`.
    pub(super) async fn prune(
        &mut self,
        versions: &VersionManager,
        protect: &[&str],
        reporter: &Reporter,
    ) -> Result<Option<PruneReport>> {
        let keep = usize::from(self.cfg.history_max);
        if keep == 0 {
            return Ok(None);
        }
        let result = match versions.prune_candidates(keep, protect).await {
            Ok(candidates) => self.delete_versions(versions, &candidates, reporter).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(report) => {
                if report.stopped_early {
                    let s = self.signals.pending().expect("a signal stopped pruning");
                    return Err(s.stopped(format_args!(
                        "while pruning, after {} deletion(s): the deploy succeeded; re-run with \
                         --history-max to finish",
                        report.deleted.len()
                    )));
                }
                Ok(Some(report))
            }
            Err(e) => {
                tracing::warn!("the deploy succeeded but pruning failed: {e:#}; re-run to finish pruning");
                Ok(None)
            }
        }
    }
}
