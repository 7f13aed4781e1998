//! The read-only checks a deploy makes before it changes anything: the state machine, the
//! definition file, the alarms, the alias and the version to deploy; and what to say when the
//! planner refuses.

use anyhow::Result;
use futures_util::future::join_all;
use tokio::time::Instant;

use super::member::{Checked, Definitions, Member};
use super::targets::Target as Place;
use crate::alias::{self, AliasInfo};
use crate::arn::short_version;
use crate::aws::Clients;
use crate::config::{DeployConfig, MemberConfig};
use crate::definition;
use crate::exit_code::{ExitCode, Failure};
use crate::gates::alarms::{AlarmChecker, AlarmReport, Allowed, without_data_warning};
use crate::label::Label;
use crate::note::Marker;
use crate::plan::Target;
use crate::plan::{Decision, Shift};
use crate::report::Event;
use crate::report::Reporter;
use crate::text::{human, quoted_names, rfc3339_seconds};
use crate::versions::{StateMachineInfo, VersionManager};
use std::collections::BTreeSet;

/// The alarms as the checks read them, once for the whole deploy.
pub struct AlarmsRead {
    pub report: Option<(AlarmReport, Instant)>,
    /// `--allow-firing`, as of this read: the deploy begins here.
    pub allowed: Allowed,
}

impl AlarmsRead {
    /// Keeps only the alarms of `places` (a release in waves: those of the waves watched from
    /// the start; the others are their waves' blockers, read when each is about to start).
    pub fn only(&mut self, places: &[String]) {
        if let Some((report, _)) = &mut self.report {
            let of_place =
                |name: &str| name.rsplit_once('@').is_some_and(|(_, p)| places.iter().any(|x| x == p));
            report.states.retain(|a| of_place(&a.name));
            report.missing.retain(|n| of_place(n));
        }
    }

    /// The alarms in ALARM at the checks, but those allowed to fire.
    pub fn firing(&self) -> Vec<String> {
        self.report.as_ref().map(|(r, _)| self.allowed.firing(r)).unwrap_or_default()
    }

    /// When they were read, if they were and none counted as firing: that read may stand in for
    /// the first gate. (One firing is read again by the first look, which rolls back.)
    pub fn read_ok_at(&self) -> Option<Instant> {
        self.report.as_ref().filter(|_| self.firing().is_empty()).map(|(_, at)| *at)
    }

    /// An alarm already in ALARM refuses a deploy that has moved no traffic yet: it would roll
    /// back at once. A deploy that continues from a split alias already carrying the new version
    /// is not refused: its first look rolls it back.
    pub fn refuse_firing(&self, continues: bool) -> Result<()> {
        let firing = self.firing();
        if firing.is_empty() || continues {
            return Ok(());
        }
        Err(Failure::err(
            ExitCode::Failure,
            format!(
                "alarm {} is already in ALARM: deploying now would roll back at once; nothing was changed. If \
                 this deploy is the fix for what it reports, --allow-firing {} lets it deploy while the alarm \
                 stays in ALARM (a new transition into ALARM still rolls back)",
                quoted_names(&firing),
                crate::text::shell_line(&firing[..1])
            ),
        ))
    }
}

/// Every read-only check, before anything changes: each member's (at once), and the alarms'.
/// One member's failure is the deploy's: nothing has changed anywhere.
pub async fn check_all<'c>(
    cfg: &'c DeployConfig,
    targets: &'c [Place],
    reporter: &Reporter,
    alarms: &AlarmChecker,
) -> Result<(Vec<Member<'c>>, AlarmsRead)> {
    let release = cfg.is_release() || cfg.waves.is_some();
    let read_alarms = async {
        if alarms.is_empty() {
            return Ok(None);
        }
        let report = alarms.read().await?;
        check_alarms_before(&report)?;
        Ok::<_, anyhow::Error>(Some((report, Instant::now())))
    };
    let each = targets.iter().flat_map(|t| cfg.members.iter().map(move |m| (t, m)));
    let checks = join_all(each.map(|(target, member)| async move {
        let label = Label::member(member.state_machine.as_str(), target.place.as_deref(), release);
        let reporter = reporter.for_member(&label);
        (member, target, reporter, check(member, cfg, &target.clients).await)
    }));
    let (report, checked) = tokio::join!(read_alarms, checks);
    // This read is the deploy's start for the alarms allowed to fire.
    let mut allowed = Allowed::new(&super::waves::allowed_names(cfg, targets.iter().map(|t| &t.place)));
    let mut members = Vec::new();
    for (config, target, reporter, checked) in checked {
        let checked = match checked {
            Ok(c) => c,
            Err(e) if release => return Err(e.context(format!("{}: the checks failed", reporter.label()))),
            Err(e) => return Err(e),
        };
        // What is said of it names its region and account, from its ARN (a target's are known
        // already).
        let reporter = match target.place {
            Some(_) => reporter,
            None => {
                let place = crate::arn::region_account(&checked.versions.state_machine_arn);
                reporter.for_member(&reporter.label().at(place))
            }
        };
        members.push(Member::new(config, target, reporter, checked));
    }
    let report = report?;
    if let Some((read, _)) = &report {
        for (alarm, state) in allowed.note(read) {
            reporter.emit(Event::AllowedAlarm { alarm, state, at: std::time::Duration::ZERO });
        }
    }
    Ok((members, AlarmsRead { report, allowed }))
}

/// One member's read-only checks.
async fn check(member: &MemberConfig, cfg: &DeployConfig, clients: &Clients) -> Result<Checked> {
    let versions = VersionManager::resolve(clients, &member.state_machine).await?;
    let info = versions.describe().await?;
    let sm_arn = versions.state_machine_arn.clone();
    let member = &substituted(member, &sm_arn, &cfg.substitutions)?;
    if cfg.rerun.is_some() && info.kind == aws_sdk_sfn::types::StateMachineType::Express {
        return Err(Failure::usage(format!(
            "--rerun-failed restarts STANDARD executions, and {sm_arn} is EXPRESS (its executions cannot be \
             listed or read back): nothing was changed"
        )));
    }
    let publish = cfg.versions.publish_revision;
    let validate = async {
        match &member.file {
            Some(file) => {
                let source = file.path.display().to_string();
                versions.validate_definition(&file.text, &info.kind, &source).await
            }
            None => Ok(()),
        }
    };
    let find_alias = alias::find_alias(&clients.sfn, &sm_arn, &cfg.alias);
    let latest = async { if publish { Ok(None) } else { versions.latest_version().await } };
    let ((), found, latest) = tokio::try_join!(validate, find_alias, latest)?;
    let alias_read_at = Instant::now();
    let options = cfg.plan.options;
    let target = match latest {
        Some(version) => Target::Known(version),
        None if !publish => {
            return Err(Failure::err(
                ExitCode::Failure,
                format!(
                    "{sm_arn} has no published version: use --publish-revision to publish its current revision"
                ),
            ));
        }
        None if options.resume => published_already(member, &versions, &info, found.as_ref()).await?,
        None => Target::ToPublish,
    };
    if let Some(found) = &found
        && found.routing.full_version().is_none()
        && options.force
        && !options.resume
    {
        tracing::warn!("alias {} is split ({}); --force: deploying anyway", found.arn, found.routing);
    }
    let definitions = definitions(member, &versions, &info, found.as_ref(), &target).await;
    let file = member.file.clone();
    Ok(Checked { versions, info, alias: found, target, alias_read_at, definitions, file })
}

/// `member` with its `--file`'s substitutions made for its own state machine (the built-ins
/// are its region, account and partition); a placeholder left is a usage error.
fn substituted(member: &MemberConfig, sm_arn: &str, given: &[(String, String)]) -> Result<MemberConfig> {
    let Some(file) = &member.file else { return Ok(member.clone()) };
    let Some(target) = crate::substitute::Target::of(sm_arn) else { return Ok(member.clone()) };
    // The member's own (a release file's table) over those given for all.
    let mut all = member.substitutions.clone();
    all.extend(given.iter().filter(|(n, _)| !member.substitutions.iter().any(|(m, _)| m == n)).cloned());
    let text = crate::substitute::substitute(&file.text, &all, &target).map_err(|left| {
        Failure::usage(format!(
            "--file {}: {left} not replaced: add --substitution NAME=VALUE for each (built in: AWS::Region, \
             AWS::AccountId, AWS::Partition; ${{!NAME}} is a literal ${{NAME}}); nothing was changed",
            file.path.display()
        ))
    })?;
    let file = crate::config::DefinitionFile { path: file.path.clone(), text };
    Ok(MemberConfig { file: Some(file), ..member.clone() })
}

/// A deploy that moves traffic with nothing watching it says so before it does: no alarm, no
/// health gate, so nothing but a person rolls a bad version back.
pub fn warn_if_unwatched(cfg: &DeployConfig, members: &[Member<'_>]) {
    let moves = members.iter().any(|m| m.shift().is_some());
    if moves && cfg.alarms.is_empty() && !cfg.gates.any() {
        tracing::warn!(
            "nothing watches this deploy: no --alarms and no health gate (--max-failure-rate, \
             --max-failure-rate-increase, --max-duration-increase), so a bad version keeps its traffic \
             unless a person rolls it back"
        );
    }
}

/// Credentials that report an expiry before the deploy's planned end (holds, plus the
/// rollback's own time) are worth a warning before the first change: once they expire,
/// sfndeploy can neither go on nor roll back. Credentials without an expiry say nothing.
pub async fn warn_if_credentials_expire_first(clients: &Clients, cfg: &DeployConfig) {
    use aws_sdk_sfn::config::ProvideCredentials;
    let Some(provider) = &clients.credentials else { return };
    let fetched =
        tokio::time::timeout(std::time::Duration::from_secs(10), provider.provide_credentials()).await;
    let Ok(Ok(credentials)) = fetched else { return };
    let needed = cfg.planned_duration() + cfg.watch.rollback_timeout;
    if let Some(warning) = credentials_warning(credentials.expiry(), std::time::SystemTime::now(), needed) {
        tracing::warn!("{warning}");
    }
}

/// Before any change: each member's new definition read as a state machine, what it changes
/// from the version the alias serves most, and the calls a rollback would not undo.
pub fn review(members: &[Member<'_>]) {
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
pub fn same_release(members: &[Member<'_>]) -> Result<()> {
    let mut releases = Vec::new();
    for member in members {
        // A target of an earlier wave already on its new version has a record, not a marker.
        if let Decision::Shift(Shift { resumed: true, from_weight: 0..100, .. })
        | Decision::AlreadyPaused { .. } = member.decision
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

/// With `--resume --publish-revision`: the version the alias already routes to that holds
/// what this run would publish, if any. A resumed deploy must know its version before any
/// change, and must not publish twice. `PublishStateMachineVersion` is idempotent for a
/// revision already published, but a call that changes nothing is still a call that can
/// fail or be refused for the version quota; so we compare instead: the state machine's
/// current revision id with each routed version's (with `--file`: the file's definition
/// with the version's, as JSON), and publish nothing when one matches.
async fn published_already(
    member: &MemberConfig,
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
        let same = match &member.file {
            Some(file) => same_definition(&file.text, &version.definition),
            None => version.revision_id == info.revision_id,
        };
        if same {
            tracing::info!(
                "{} is already published as {}: resuming its deploy without publishing again",
                member
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

/// The alarms before any change: every one must exist. (One in ALARM refuses a new deploy, but
/// rolls back one that continues from a split alias: see [`AlarmsRead::refuse_firing`].)
fn check_alarms_before(report: &AlarmReport) -> Result<()> {
    report.all_found()?;
    tracing::info!("watching {} alarm(s): {report}", report.states.len());
    if let Some(warning) = without_data_warning(&report.states) {
        tracing::warn!("{warning}");
    }
    Ok(())
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
            rfc3339_seconds(expiry.unwrap_or(now)),
            human(left),
            human(needed)
        )
    })
}

/// The definitions to review before any change: the file, the current revision (to publish)
/// or the latest version (to deploy), and the version the alias serves most. None when the
/// alias is already on the target, or a read failed (the review is not a check).
async fn definitions(
    member: &MemberConfig,
    versions: &VersionManager,
    info: &StateMachineInfo,
    found: Option<&AliasInfo>,
    target: &Target,
) -> Option<Definitions> {
    let old_version = found.and_then(|a| a.routing.entries().iter().max_by_key(|(_, w)| *w)).map(|(v, _)| v);
    if matches!((&member.file, target), (None, Target::Known(v)) if Some(v) == old_version) {
        return None;
    }
    // The two reads at once: they are on the way to the first change.
    let new = async {
        match (&member.file, target) {
            (Some(file), _) => Some(file.text.clone()),
            (None, Target::Known(v)) => versions.describe_version(v).await.ok().map(|d| d.definition),
            (None, _) => Some(info.definition.clone()),
        }
    };
    let old = async {
        let v = old_version?;
        match versions.describe_version(v).await {
            Ok(described) => Some((v.clone(), described.definition)),
            Err(e) => {
                tracing::debug!("could not read the definition of {v}: {e:#}");
                None
            }
        }
    };
    let (new, old) = tokio::join!(new, old);
    Some(Definitions { old, new: new? })
}

/// Two definitions are the same when they parse to the same JSON (whitespace and key order
/// aside), or, failing that, are the same text.
fn same_definition(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
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
