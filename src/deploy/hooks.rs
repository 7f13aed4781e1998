//! A lifecycle hook run for one member, with its events: `hook_started`, then `hook_finished`
//! with how it ended. What a failure means (nothing moved, or a rollback) is the caller's.

use std::time::Duration;

use crate::hook::{self, HookContext, HookEnd};
use crate::report::{Event, Reporter};
use crate::signals::{Signal, Signals};

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
