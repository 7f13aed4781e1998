//! Stopping a deploy early: each alias this run moved goes back 100% to its old version, in
//! parallel, retried with backoff for `--rollback-timeout`; an alias it never moved is left as
//! found; an alias someone else changed is never touched. What became of each is a
//! [`LaneEnd`], and the whole a [`Stopped`].

use std::time::Duration;

use anyhow::Result;
use futures_util::future::join_all;
use tokio::time::Instant;

use super::ending::{LaneEnd, Stopped};
use super::lane::Lane;
use super::reason::Reason;
use crate::alias;
use crate::alias::AliasHandle;
use crate::arn::short_version;
use crate::aws::AwsFlags;
use crate::command_line;
use crate::exit_code::{ExitCode, exit_code_of};
use crate::report::{Event, Reporter};
use crate::routing::Routing;
use crate::signals::{Signal, Signals};
use crate::text::human;

/// How hard a rollback is tried, and which lanes stay on their new versions.
#[derive(Clone, Copy)]
pub struct Effort<'a> {
    pub timeout: Duration,
    /// Lanes this run moved that stay as they are (`--on-wave-failure current`: earlier waves).
    pub keep: &'a [usize],
}

/// Rolls back, in parallel, each lane this run owns (but those in `except`: someone else
/// changed them); says where the others are.
pub async fn stop_lanes(
    lanes: &mut [Lane],
    reason: Reason,
    except: &[usize],
    effort: Effort<'_>,
    signals: &Signals,
) -> Stopped {
    let several = lanes.len() > 1;
    let ends =
        join_all(lanes.iter_mut().enumerate().filter(|(i, _)| !except.contains(i)).map(|(i, lane)| {
            let reason = reason.clone();
            let mut signals = signals.clone();
            async move {
                let end = if lane.owned && effort.keep.contains(&i) {
                    kept(lane)
                } else if lane.owned {
                    roll_back(lane, &reason, effort, &mut signals).await
                } else {
                    untouched(&lane.alias, &lane.initial, &lane.aws_cli)
                };
                (lane.label.clone(), end)
            }
        }))
        .await;
    Stopped { reason, several, lanes: ends, reruns: Vec::new() }
}

/// Someone else changed this lane's alias (`err`): the message says so, with the command that
/// puts its old version back; the alias is not touched.
pub fn changed_by_others(lane: &Lane, err: &anyhow::Error) -> String {
    let restore = command_line::restore(&lane.alias.arn, &Routing::single(&lane.old_version), &lane.aws_cli);
    format!("{err:#}. To route all traffic back to {}: {restore}", short_version(&lane.old_version))
}

/// Puts one lane's alias back 100% on its old version. A second signal while a rollback call
/// is in flight does not abandon the call: its answer is what tells where the alias is; the
/// rollback stops right after it returns.
async fn roll_back(lane: &mut Lane, reason: &Reason, effort: Effort<'_>, signals: &mut Signals) -> LaneEnd {
    lane.reporter.emit(Event::RollingBack { reason: reason.describe() });
    let old = lane.old_version.clone();
    let target = Routing::single(&old);
    let restore = command_line::restore(&lane.alias.arn, &target, &lane.aws_cli);
    let alias = &mut lane.alias;
    let deadline = Instant::now() + effort.timeout;
    let mut delay = Duration::from_millis(500);
    let mut stopping: Option<Signal> = None;
    loop {
        let err = match attempt(alias, &target, deadline, signals, &mut stopping).await {
            Ok(()) => return rolled_back(alias, &old, reason, stopping, &lane.reporter),
            // Promoted by hand while it rolls back: a person's change, left as they set it.
            Err(e) if exit_code_of(&e) == ExitCode::Conflict || alias::promoted_by_hand(&e) => {
                return LaneEnd::ChangedByOthers { error: format!("{e:#}"), old_version: old, restore };
            }
            Err(e) => e,
        };
        if let Some(signal) = stopping {
            return abandoned(signal, alias, old, restore);
        }
        if Instant::now() + delay > deadline {
            return LaneEnd::RollbackFailed {
                after: effort.timeout,
                error: format!("{err:#}"),
                alias_arn: alias.arn.clone(),
                last_known: alias.last_known(),
                old_version: old,
                restore,
            };
        }
        tracing::warn!("rollback attempt failed ({err:#}); retrying in {}", human(delay));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            s = signals.next() => return abandoned(s, alias, old, restore),
        }
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

fn rolled_back(
    alias: &AliasHandle,
    old: &str,
    reason: &Reason,
    signal: Option<Signal>,
    reporter: &Reporter,
) -> LaneEnd {
    reporter.emit(Event::RolledBack { version: old.to_string(), reason: reason.describe() });
    LaneEnd::RolledBack { alias_arn: alias.arn.clone(), version: old.to_string(), signal }
}

/// A second signal while rolling back: stop at once, saying what we know.
fn abandoned(signal: Signal, alias: &AliasHandle, old_version: String, restore: String) -> LaneEnd {
    LaneEnd::Abandoned {
        signal,
        alias_arn: alias.arn.clone(),
        last_known: alias.last_known(),
        old_version,
        restore,
    }
}

/// One rollback call, cut at `deadline`. A signal while it is in flight is noted in `stopping`
/// and the call is let finish: its answer is what tells where the alias is.
async fn attempt(
    alias: &mut AliasHandle,
    target: &Routing,
    deadline: Instant,
    signals: &mut Signals,
    stopping: &mut Option<Signal>,
) -> Result<()> {
    let description = alias.found_description().to_string();
    let call = tokio::time::timeout_at(deadline, alias.restore(target, Some(description)));
    tokio::pin!(call);
    loop {
        tokio::select! {
            r = &mut call => return r.unwrap_or_else(|_| Err(anyhow::anyhow!(
                "UpdateStateMachineAlias had no answer by the end of --rollback-timeout"
            ))),
            s = signals.next(), if stopping.is_none() => {
                tracing::warn!("{}: stopping once the rollback call in flight returns", s.name());
                *stopping = Some(s);
            }
        }
    }
}

/// A lane of an earlier wave that `--on-wave-failure current` leaves on its new version, with
/// the command that routes it back.
fn kept(lane: &Lane) -> LaneEnd {
    let restore = command_line::restore(&lane.alias.arn, &Routing::single(&lane.old_version), &lane.aws_cli);
    LaneEnd::Kept {
        alias_arn: lane.alias.arn.clone(),
        routing: lane.alias.routing().to_string(),
        old_version: lane.old_version.clone(),
        restore,
    }
}

/// A lane that never moved: its alias as found, and for a split alias the command that routes
/// it back to its older version.
fn untouched(alias: &AliasHandle, initial: &Routing, aws_cli: &AwsFlags) -> LaneEnd {
    let routing = alias.routing().clone();
    let restore = if routing.full_version().is_none() && routing.same_as(initial) {
        routing.oldest_live().map(|oldest| {
            (oldest.to_string(), command_line::restore(&alias.arn, &Routing::single(oldest), aws_cli))
        })
    } else {
        None
    };
    LaneEnd::Untouched { alias_arn: alias.arn.clone(), routing: routing.to_string(), restore }
}
