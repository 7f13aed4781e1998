//! Deploy windows and freezes as a deploy meets them before any change: it begins only where its
//! first hold fits inside an opening; elsewhere it changes nothing and exits 8, or with
//! `--window-wait` waits for that opening (a signal ends the wait). Before each later step the
//! executor asks the same of that step's hold, and pauses where it does not fit.

use std::time::{Duration, SystemTime};

use anyhow::Result;

use super::Outcome;
use super::member::Member;
use crate::aws::Clients;
use crate::config::DeployConfig;
use crate::exit_code::{ExitCode, Failure};
use crate::plan::Decision;
use crate::report::{Event, Reporter};
use crate::signals::Signals;
use crate::text::{human, rfc3339_seconds};
use crate::window::{self, Fit};

/// Whether the deploy may begin at `now` (AWS's time): its first hold must fit in an opening.
/// A deploy that moves no traffic (nothing to do, already paused) needs no window.
pub fn fit(members: &[Member<'_>], cfg: &DeployConfig, now: SystemTime) -> Fit {
    let moves = members.iter().any(|m| matches!(m.decision, Decision::Shift(_) | Decision::CreateAlias));
    if !moves {
        return Fit::Now;
    }
    let first_hold =
        super::lockstep(members.iter().filter_map(|m| m.shift())).first().map_or(Duration::ZERO, |s| s.hold);
    window::first_fit(&cfg.window.calendar, now, first_hold)
}

/// `--window-wait`: waits, on AWS's time, until `at`; a signal ends the wait with nothing changed.
pub async fn wait(
    why: &str,
    at: SystemTime,
    cfg: &DeployConfig,
    clients: &Clients,
    reporter: &Reporter,
    signals: &mut Signals,
) -> Result<()> {
    reporter.emit(Event::WindowWait {
        why: why.to_string(),
        opens: rfc3339_seconds(at),
        opens_local: format!(
            "{} (in {})",
            window::local(&cfg.window.calendar, at),
            human(window::until(clients.clock.now(), at))
        ),
    });
    loop {
        let left = window::until(clients.clock.now(), at);
        if left.is_zero() {
            return Ok(());
        }
        // In slices, so that a long wait follows AWS's time as the clock keeps it.
        tokio::select! {
            _ = tokio::time::sleep(left.min(Duration::from_secs(60))) => {}
            s = signals.next() => return Err(s.stopped("while waiting for the deploy window: nothing was changed")),
        }
    }
}

/// Outside the window (without `--window-wait`): nothing changes, exit 8.
pub fn refuse(fit: &Fit, cfg: &DeployConfig) -> Result<()> {
    match fit {
        Fit::Now => Ok(()),
        Fit::Later { why, at } => Err(Failure::err(
            ExitCode::OutsideWindow,
            format!(
                "{why}: nothing was changed; the next opening is {} (--window-wait waits for it)",
                window::local(&cfg.window.calendar, *at)
            ),
        )),
        Fit::Never { why } => Err(Failure::err(
            ExitCode::OutsideWindow,
            format!(
                "{why}: nothing was changed, and no opening in the next year is long enough for the first hold"
            ),
        )),
    }
}

/// A dry run says what the window would do.
pub fn in_dry_run(outcome: Outcome, fit: &Fit, cfg: &DeployConfig) -> Outcome {
    let Outcome::DryRun { mut summary } = outcome else { return outcome };
    let calendar = &cfg.window.calendar;
    let line = match fit {
        Fit::Now if calendar.is_empty() => return Outcome::DryRun { summary },
        Fit::Now => "Window: open now, for the first hold".to_string(),
        Fit::Later { why, at } if cfg.window.wait => {
            format!("Window: {why}; the deploy would wait until {}", window::local(calendar, *at))
        }
        Fit::Later { why, at } => format!(
            "Window: {why}; the deploy would exit 8 (next opening {}; --window-wait waits)",
            window::local(calendar, *at)
        ),
        Fit::Never { why } => format!("Window: {why}; the deploy would exit 8"),
    };
    summary.push('\n');
    summary.push_str(&line);
    Outcome::DryRun { summary }
}
