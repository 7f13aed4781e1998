//! Lifecycle hooks in a deploy: a hook run for one member, with its events (`hook_started`,
//! then `hook_finished` with how it ended); the pre-traffic hook before any weight change, the
//! post-traffic hook after the alias was created, and after a shift, once every new version has
//! 100% (the executor rolls back when that one fails). The process itself is [`crate::hook`]'s.

use std::time::Duration;

use anyhow::Result;
use futures_util::future::join_all;

use super::lane::Lane;
use super::member::Member;
use crate::arn::short_version;
use crate::config::{DeployConfig, Hooks};
use crate::exit_code::{ExitCode, Failure};
use crate::hook::{self, HookContext, HookEnd, HookKind};
use crate::plan::Decision;
use crate::report::{Event, Reporter};
use crate::signals::{Signal, Signals};

/// `--pre-traffic-hook`: once per member whose new version is about to get its first traffic
/// (a new alias, or a shift from 0%), all at once. The worst of what came back (None: no hook
/// ran).
pub async fn pre_traffic(
    members: &[Member<'_>],
    cfg: &DeployConfig,
    signals: &Signals,
) -> Option<HookResult> {
    let command = cfg.hooks.pre_traffic.as_ref()?;
    let mut runs = Vec::new();
    for member in members {
        let old = match &member.decision {
            Decision::CreateAlias => None,
            Decision::Shift(shift) if shift.from_weight == 0 => Some(shift.old.as_str()),
            Decision::Shift(shift) => {
                tracing::info!(
                    "{}the new version already has {}% of the traffic: the pre-traffic hook is not run again",
                    member.label.tag(),
                    shift.from_weight
                );
                continue;
            }
            _ => continue,
        };
        let alias_arn = member.alias_arn(&cfg.alias);
        let context =
            HookContext::new(HookKind::PreTraffic, &alias_arn, (old, member.version()), 0, &member.label);
        runs.push(run(command, context, cfg.hooks.timeout, &member.reporter, signals.clone()));
    }
    worst(&join_all(runs).await)
}

/// `--post-traffic-hook` after this run created the alias at 100%: there is no older version to
/// go back to, so a failure ends the run (exit 7) and says where the alias is.
pub async fn post_traffic_on_created(
    member: &Member<'_>,
    cfg: &DeployConfig,
    signals: &Signals,
) -> Result<()> {
    let Some(command) = &cfg.hooks.post_traffic else { return Ok(()) };
    let version = member.version();
    let alias_arn = member.alias_arn(&cfg.alias);
    let context = HookContext::new(HookKind::PostTraffic, &alias_arn, (None, version), 100, &member.label);
    let (v, alias) = (short_version(version), &cfg.alias);
    match run(command, context, cfg.hooks.timeout, &member.reporter, signals.clone()).await {
        HookResult::Passed => Ok(()),
        HookResult::Stopped(s) => Err(s.stopped(format_args!(
            "during the post-traffic hook: alias {alias} was created on {v} (no older version to go back to)"
        ))),
        HookResult::Failed(text) => Err(Failure::err(
            ExitCode::HookFailed,
            format!(
                "{text}: alias {alias} was created on {v} by this run and has no older version to go back to; \
                 it routes 100% to {v}"
            ),
        )),
    }
}

/// `--post-traffic-hook` after a shift: once per lane, all at once, with every new version at
/// 100%. The worst of what came back (None: no hook).
pub async fn post_traffic(lanes: &[Lane], hooks: &Hooks, signals: &Signals) -> Option<HookResult> {
    let command = hooks.post_traffic.as_ref()?;
    let runs = lanes.iter().map(|lane| {
        let versions = (Some(lane.old_version.as_str()), lane.new_version.as_str());
        let context = HookContext::new(
            HookKind::PostTraffic,
            &lane.alias.arn,
            versions,
            lane.new_weight(),
            &lane.label,
        );
        run(command, context, hooks.timeout, &lane.reporter, signals.clone())
    });
    worst(&join_all(runs).await)
}

/// How a hook ended, for the deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookResult {
    Passed,
    /// It failed, was cut at `--hook-timeout`, or could not start: what happened.
    Failed(String),
    /// A signal to sfndeploy stopped it.
    Stopped(Signal),
}

impl HookResult {
    fn code(&self) -> ExitCode {
        match self {
            HookResult::Passed => ExitCode::Success,
            HookResult::Failed(_) => ExitCode::HookFailed,
            HookResult::Stopped(s) => s.exit_code(),
        }
    }
}

/// Runs `command` as `context` says, reporting to `reporter`.
async fn run(
    command: &str,
    context: HookContext,
    timeout: Duration,
    reporter: &Reporter,
    mut signals: Signals,
) -> HookResult {
    let name = context.kind.name();
    let whose = context.label.whose();
    reporter.emit(Event::HookStarted { hook: name.to_string(), command: command.to_string() });
    let (end, took) = match hook::run(command, &context, timeout, &mut signals).await {
        Ok(ended) => ended,
        Err(e) => {
            let finished = Event::HookFinished {
                hook: name.to_string(),
                passed: false,
                exit_status: None,
                end: format!("{e:#}"),
                took: Duration::ZERO,
            };
            reporter.emit(finished);
            return HookResult::Failed(format!("{whose}the {name} hook could not start: {e:#}"));
        }
    };
    reporter.emit(Event::HookFinished {
        hook: name.to_string(),
        passed: end.passed(),
        exit_status: end.status(),
        end: end.describe(took),
        took,
    });
    match end {
        _ if end.passed() => HookResult::Passed,
        HookEnd::Stopped(signal) => HookResult::Stopped(signal),
        end => HookResult::Failed(format!("{whose}the {name} hook failed ({})", end.describe(took))),
    }
}

/// The worst of `results` (a signal before a failure); several failures are said together.
/// None when there was none.
fn worst(results: &[HookResult]) -> Option<HookResult> {
    let worst = ExitCode::worst(results.iter().map(HookResult::code))?;
    if worst != ExitCode::HookFailed {
        return results.iter().find(|r| r.code() == worst).cloned();
    }
    let failed: Vec<&str> = results
        .iter()
        .filter_map(|r| match r {
            HookResult::Failed(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    Some(HookResult::Failed(failed.join("; ")))
}
