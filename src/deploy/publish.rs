//! Changing versions: uploading and publishing the version to deploy (making room under the
//! version quota when asked), and pruning old versions after a success.

use anyhow::Result;

use super::ending::Ending;
use super::member::{BackTo, Member};
use crate::arn::short_version;
use crate::config::DeployConfig;
use crate::exit_code::{ExitCode, Failure};
use crate::plan::Target;
use crate::report::Event;
use crate::signals::Signals;
use crate::versions::{PruneReport, VersionQuotaExceeded};

/// Uploads and/or publishes as asked, and returns the version to deploy. A publish the version
/// quota refuses is retried once after pruning to `--history-max`, which would otherwise never
/// get to run on a full state machine.
pub async fn publish(member: &Member<'_>, cfg: &DeployConfig, signals: &mut Signals) -> Result<String> {
    let quota = match publish_once(member, cfg).await {
        Err(e) => match e.downcast::<VersionQuotaExceeded>() {
            Ok(quota) => quota,
            Err(e) => return Err(e),
        },
        done => return done,
    };
    let full = format!(
        "Step Functions refused to publish a version of {}: it has as many versions as the quota allows \
         ({quota})",
        member.state_machine_arn()
    );
    let keep = usize::from(cfg.versions.history_max);
    if keep == 0 {
        return Err(Failure::err(
            ExitCode::Failure,
            format!(
                "{full}. Nothing was published and the alias is unchanged: add --history-max N to delete all \
                 but the newest N versions (never one an alias uses) before publishing"
            ),
        ));
    }
    tracing::warn!("{full}: deleting all but the newest {keep} (--history-max), then publishing again");
    let report = make_room(member, keep, &full, signals).await?;
    match publish_once(member, cfg).await {
        Err(e) if e.is::<VersionQuotaExceeded>() => Err(Failure::err(
            ExitCode::Failure,
            format!(
                "{full}; deleting {} old version(s) did not make room. Nothing was published and the alias is \
                 unchanged",
                report.deleted.len()
            ),
        )),
        done => done,
    }
}

/// Deletes all but the newest `keep` versions (never one an alias uses) so that a publish fits.
async fn make_room(
    member: &Member<'_>,
    keep: usize,
    full: &str,
    signals: &mut Signals,
) -> Result<PruneReport> {
    let candidates = member.checked.versions.prune_candidates(keep, &[]).await?;
    if candidates.is_empty() {
        return Err(Failure::err(
            ExitCode::Failure,
            format!(
                "{full}, and --history-max {keep} leaves none to delete (the others are in use by an alias). \
                 Nothing was published and the alias is unchanged: lower --history-max"
            ),
        ));
    }
    let report = delete_versions(member, &candidates, signals).await?;
    if report.stopped_early {
        let s = signals.pending().expect("a signal stopped pruning");
        return Err(s.stopped(format_args!(
            "after deleting {} old version(s) to make room: nothing was published and the alias is unchanged",
            report.deleted.len()
        )));
    }
    Ok(report)
}

/// Deletes `candidates` (paced, stopping at a signal) and reports it.
async fn delete_versions(
    member: &Member<'_>,
    candidates: &[String],
    signals: &Signals,
) -> Result<PruneReport> {
    let versions = &member.checked.versions;
    let report = versions.delete_versions(candidates, &member.prune, || signals.peek().is_some()).await?;
    member.reporter.emit(Event::Pruned {
        deleted: report.deleted.clone(),
        skipped: report.skipped.clone(),
        stopped_early: report.stopped_early,
    });
    Ok(report)
}

async fn publish_once(member: &Member<'_>, cfg: &DeployConfig) -> Result<String> {
    let checked = &member.checked;
    let publish = cfg.versions.publish_revision;
    if publish && let Target::Known(version) = &checked.target {
        return Ok(version.clone()); // --resume: published by the run being resumed
    }
    let description = cfg.versions.description.as_deref();
    if let Some(file) = &checked.file {
        let source = file.path.display().to_string();
        let published = checked.versions.upload(&file.text, publish, description).await?;
        if let Some(version) = published {
            member.reporter.emit(Event::Published { version: version.clone(), file: Some(source) });
            return Ok(version);
        }
        if publish {
            return Err(anyhow::anyhow!(
                "Step Functions did not return the version it published from {source}"
            ));
        }
        member.reporter.emit(Event::Uploaded { file: source });
        tracing::warn!(
            "the uploaded revision is not published (no --publish-revision): deploying the latest published version"
        );
    } else if publish {
        let version = checked.versions.publish(checked.info.revision_id.as_deref(), description).await?;
        member.reporter.emit(Event::Published { version: version.clone(), file: None });
        return Ok(version);
    }
    match &checked.target {
        Target::Known(version) => Ok(version.clone()),
        Target::ToPublish => Err(anyhow::anyhow!("no version to deploy")),
    }
}

/// Deletes versions beyond `--history-max`, never one an alias uses or one of `protect`.
pub async fn prune(
    member: &Member<'_>,
    protect: &[&str],
    cfg: &DeployConfig,
    signals: &mut Signals,
) -> Result<Option<PruneReport>> {
    let keep = usize::from(cfg.versions.history_max);
    if keep == 0 {
        return Ok(None);
    }
    let result = match member.checked.versions.prune_candidates(keep, protect).await {
        Ok(candidates) => delete_versions(member, &candidates, signals).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(report) if report.stopped_early => {
            let s = signals.pending().expect("a signal stopped pruning");
            Err(s.stopped(format_args!(
                "while pruning, after {} deletion(s): the deploy succeeded; re-run with --history-max to finish",
                report.deleted.len()
            )))
        }
        Ok(report) => Ok(Some(report)),
        Err(e) => {
            tracing::warn!("the deploy succeeded but pruning failed: {e:#}; re-run to finish pruning");
            Ok(None)
        }
    }
}

/// Puts the definition each member's file replaced back as its current revision (not
/// published), for each member whose alias the deploy left on its old version; the ending says
/// so. Where the alias moved on, or the deploy succeeded, the file stays.
pub async fn put_definitions_back(mut ending: Ending, members: &[Member<'_>]) -> Ending {
    for member in members {
        let Some(back_to) = &member.back_to else { continue };
        if !ending.left_on_old(&member.label) {
            continue;
        }
        let versions = &member.checked.versions;
        let (what, definition) = match back_to {
            BackTo::Version(old) => (format!("the definition of {}", short_version(old)), None),
            BackTo::Revision(definition) => ("the revision before this run".to_string(), Some(definition)),
        };
        let put = async {
            let definition = match (back_to, definition) {
                (_, Some(definition)) => definition.clone(),
                (BackTo::Version(old), None) => versions.describe_version(old).await?.definition,
                (BackTo::Revision(definition), None) => definition.clone(),
            };
            versions.upload(&definition, false, None).await
        };
        let note = member.label.prefix(match put.await {
            Ok(_) => format!(
                "{what} is the current revision again (not published): the uploaded file no longer runs for \
                 callers of the unqualified ARN"
            ),
            Err(e) => format!(
                "the uploaded file is still the current revision, which callers of the unqualified ARN run: \
                 putting {what} back failed ({e:#})"
            ),
        });
        tracing::warn!("{note}");
        ending = ending.with_note(note);
    }
    ending
}
