//! Lifecycle hooks in a deploy: a hook run for one member, with its events (`hook_started`,
//! then `hook_finished` with how it ended); the pre-traffic hook before any weight change, and
//! the post-traffic hook after the alias was created. (After a shift, the executor runs the
//! post-traffic hook: a failure there rolls back.)

use std::time::Duration;

use anyhow::Result;
use futures_util::future::join_all;

use super::Deploy;
use super::check::Part;
use crate::arn::short_version;
use crate::exit_code::{ExitCode, Failure};
use crate::hook::{self, HookContext, HookEnd, HookKind};
use crate::plan::Decision;
use crate::report::{Event, Reporter};
use crate::signals::{Signal, Signals};

impl Deploy<'_> {
    /// `--pre-traffic-hook`: once per member whose new version is about to get its first
    /// traffic (a new alias, or a shift from 0%), all at once. Any failure: nothing moves.
    pub(super) async fn pre_traffic(
        &self,
        parts: &[Part<'_>],
        decisions: &[Decision],
        versions: &[String],
    ) -> Result<()> {
        let cfg = self.cfg;
        let Some(command) = &cfg.hooks.pre_traffic else { return Ok(()) };
        let mut runs = Vec::new();
        for ((part, decision), version) in parts.iter().zip(decisions).zip(versions) {
            let old = match decision {
                Decision::CreateAlias => None,
                Decision::Shift(shift) if shift.from_weight == 0 => Some(shift.old.clone()),
                Decision::Shift(shift) => {
                    tracing::info!(
                        "{}the new version already has {}% of the traffic: the pre-traffic hook is not run again",
                        if cfg.is_release() { format!("[{}] ", part.label) } else { String::new() },
                        shift.from_weight
                    );
                    continue;
                }
                _ => continue,
            };
            let context = self.hook_context(part, HookKind::PreTraffic, version, old, 0);
            runs.push(run(command, context, cfg.hooks.timeout, &part.reporter, self.signals.clone()));
        }
        match worst(&join_all(runs).await) {
            None | Some(HookResult::Passed) => Ok(()),
            Some(HookResult::Stopped(s)) => Err(s.stopped("during the pre-traffic hook: no traffic moved")),
            Some(HookResult::Failed(text)) => Err(Failure::err(
                ExitCode::HookFailed,
                format!("{text}: no traffic moved, no alias was changed"),
            )),
        }
    }

    /// `--post-traffic-hook` after this run created the alias at 100%: there is no older
    /// version to go back to, so a failure ends the run (exit 7) and says where the alias is.
    pub(super) async fn post_traffic_on_created(&self, part: &Part<'_>, version: &str) -> Result<()> {
        let cfg = self.cfg;
        let Some(command) = &cfg.hooks.post_traffic else { return Ok(()) };
        let context = self.hook_context(part, HookKind::PostTraffic, version, None, 100);
        let v = short_version(version);
        match run(command, context, cfg.hooks.timeout, &part.reporter, self.signals.clone()).await {
            HookResult::Passed => Ok(()),
            HookResult::Stopped(s) => Err(s.stopped(format_args!(
                "during the post-traffic hook: alias {} was created on {v} (no older version to go back to)",
                cfg.alias
            ))),
            HookResult::Failed(text) => Err(Failure::err(
                ExitCode::HookFailed,
                format!(
                    "{text}: alias {} was created on {v} by this run and has no older version to go back to; \
                     it routes 100% to {v}",
                    cfg.alias
                ),
            )),
        }
    }

    /// What a hook for `part` is told.
    fn hook_context(
        &self,
        part: &Part<'_>,
        kind: HookKind,
        new_version: &str,
        old_version: Option<String>,
        weight: u8,
    ) -> HookContext {
        HookContext {
            kind,
            alias_arn: format!("{}:{}", part.checked.versions.state_machine_arn, self.cfg.alias),
            new_version: new_version.to_string(),
            old_version,
            weight,
            label: self.cfg.is_release().then(|| part.label.clone()),
        }
    }
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

/// Runs `command` as `context` says, reporting to `reporter`.
pub async fn run(
    command: &str,
    context: HookContext,
    timeout: Duration,
    reporter: &Reporter,
    mut signals: Signals,
) -> HookResult {
    let name = context.kind.name();
    let whose = context.label.as_ref().map_or(String::new(), |l| format!("{l}: "));
    reporter.emit(Event::HookStarted { hook: name.to_string(), command: command.to_string() });
    let (end, took) = match hook::run(command, &context, timeout, &mut signals).await {
        Ok(ended) => ended,
        Err(e) => {
            let text = format!("{whose}the {name} hook could not start: {e:#}");
            reporter.emit(Event::HookFinished {
                hook: name.to_string(),
                passed: false,
                exit_status: None,
                end: format!("{e:#}"),
                took: Duration::ZERO,
            });
            return HookResult::Failed(text);
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

/// The first signal among `results`, else the failures joined; None when every hook passed.
pub fn worst(results: &[HookResult]) -> Option<HookResult> {
    if let Some(stopped) = results.iter().find(|r| matches!(r, HookResult::Stopped(_))) {
        return Some(stopped.clone());
    }
    let failed: Vec<&str> = results
        .iter()
        .filter_map(|r| match r {
            HookResult::Failed(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    (!failed.is_empty()).then(|| HookResult::Failed(failed.join("; ")))
}
