//! Putting the alias back 100% on the old version, and what to say when that cannot be done.
//! A rollback is retried with backoff for `--rollback-timeout`; if it still fails, or a second
//! signal cuts it short, the message states the routing left behind and the AWS CLI command that
//! restores it.

use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use crate::alias::{AliasHandle, Routing, restore_command, short_version};
use crate::events::{Event, Reporter};
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::signals::{Signal, Signals};

/// Why traffic is going back to the old version.
#[derive(Clone, Debug)]
pub enum Reason {
    Alarms(Vec<String>),
    Unmonitored { for_: Duration, error: String },
    ShiftFailed(String),
    Signal(Signal),
}

impl Reason {
    pub fn describe(&self) -> String {
        match self {
            Reason::Alarms(names) => format!("alarm(s) in ALARM: {}", names.join(", ")),
            Reason::Unmonitored { for_, error } => format!(
                "the alarms could not be read for {} ({error})",
                crate::events::human(*for_)
            ),
            Reason::ShiftFailed(e) => format!("changing the weights failed: {e}"),
            Reason::Signal(s) => format!("stopped by {}", s.name()),
        }
    }

    /// The exit code once the rollback succeeded.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Reason::Signal(s) => s.exit_code(),
            _ => ExitCode::RolledBack,
        }
    }
}

/// Where to roll back to and how hard to try.
pub struct Rollback<'a> {
    pub alias: &'a mut AliasHandle,
    pub old_version: &'a str,
    pub timeout: Duration,
    pub region: &'a str,
    pub reporter: &'a Reporter,
    pub signals: &'a mut Signals,
}

impl Rollback<'_> {
    /// Rolls back and returns the error that ends the run: the reason's exit code when the
    /// alias is 100% on the old version again, `RollbackFailed` or `Conflict` when it is not.
    pub async fn run(self, reason: Reason) -> anyhow::Error {
        let Rollback {
            alias,
            old_version,
            timeout,
            region,
            reporter,
            signals,
        } = self;
        reporter.emit(Event::RollingBack {
            reason: reason.describe(),
        });
        let target = Routing::single(old_version);
        let restore = restore_command(&alias.arn, &target, region);
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(500);
        loop {
            let attempt: Result<()> = tokio::select! {
                r = alias.set(&target) => r,
                s = signals.next() => return abandoned(s, alias, old_version, &restore),
            };
            let err = match attempt {
                Ok(()) => {
                    reporter.emit(Event::RolledBack {
                        version: old_version.to_string(),
                        reason: reason.describe(),
                    });
                    return Failure::err(
                        reason.exit_code(),
                        format!(
                            "{}; rolled back alias {} to 100% {}",
                            reason.describe(),
                            alias.arn,
                            short_version(old_version)
                        ),
                    );
                }
                Err(e) if exit_code_of(&e) == ExitCode::Conflict => {
                    return Failure::err(
                        ExitCode::Conflict,
                        format!(
                            "{:#}. Rolling back was wanted because {}. To route all traffic back to {}: {restore}",
                            e,
                            reason.describe(),
                            short_version(old_version)
                        ),
                    );
                }
                Err(e) => e,
            };
            if Instant::now() + delay > deadline {
                return Failure::err(
                    ExitCode::RollbackFailed,
                    format!(
                        "rolling back failed for {} ({:#}); wanted because {}. Alias {} last routed {}. \
                     To route all traffic back to {}: {restore}",
                        crate::events::human(timeout),
                        err,
                        reason.describe(),
                        alias.arn,
                        alias.last_known(),
                        short_version(old_version)
                    ),
                );
            }
            tracing::warn!(
                "rollback attempt failed ({err:#}); retrying in {}",
                crate::events::human(delay)
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                s = signals.next() => return abandoned(s, alias, old_version, &restore),
            }
            delay = (delay * 2).min(Duration::from_secs(15));
        }
    }
}

/// A second signal while rolling back: stop at once, saying what we know.
fn abandoned(
    signal: Signal,
    alias: &AliasHandle,
    old_version: &str,
    restore: &str,
) -> anyhow::Error {
    Failure::err(
        ExitCode::RollbackFailed,
        format!(
            "{} during the rollback: stopped at once. Alias {} last routed {}. \
             To route all traffic back to {}: {restore}",
            signal.name(),
            alias.arn,
            alias.last_known(),
            short_version(old_version)
        ),
    )
}
