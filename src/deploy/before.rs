//! What happens after publishing and before any weight changes: each new version's smoke runs,
//! then the pre-traffic hook. When one fails (or a signal comes), nothing moves; but a split
//! this run continues (`--resume`, or `--force` onto a split that already carries the new
//! version) already gives the new version traffic, and goes back to the old version, as any bad
//! signal during the deploy would put it.

use std::time::SystemTime;

use super::ending::Ending;
use super::hooks::{self, HookResult};
use super::lane::Lane;
use super::member::Member;
use super::reason::Reason;
use super::stop::{Effort, stop_lanes};
use crate::alias::AliasHandle;
use crate::config::DeployConfig;
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::plan::Decision;
use crate::signals::{Signal, Signals};

/// Smoke runs, then the pre-traffic hook; `run_id` names the smoke executions of this run.
pub async fn before_traffic(
    members: &mut [Member<'_>],
    cfg: &DeployConfig,
    signals: &mut Signals,
    run_id: &str,
) -> Result<(), Ending> {
    for i in 0..members.len() {
        if !matches!(members[i].decision, Decision::CreateAlias | Decision::Shift(_)) {
            continue;
        }
        match smoke(&members[i], cfg, signals, run_id).await {
            Ok(starts) => members[i].smoke_starts = starts,
            Err(stop) => return Err(stopped(members, cfg, signals, stop).await),
        }
    }
    let result = hooks::pre_traffic(members, cfg, signals).await;
    // The hooks saw a signal through receivers of their own: it is this one's too.
    let _ = signals.pending();
    let stop = match result {
        None | Some(HookResult::Passed) => return Ok(()),
        Some(HookResult::Stopped(s)) => Stop::Signal(s, "during the pre-traffic hook: no traffic moved"),
        Some(HookResult::Failed(text)) => Stop::Failed(text, ExitCode::HookFailed),
    };
    Err(stopped(members, cfg, signals, stop).await)
}

/// Why the deploy stops before traffic moves.
enum Stop {
    /// A signal, and when it came (what the message says after "stopped by SIGTERM").
    Signal(Signal, &'static str),
    /// What failed, and the exit code it ends with.
    Failed(String, ExitCode),
    /// Any other error (a call that failed).
    Error(anyhow::Error),
}

/// The ending of a deploy stopped before traffic moved: nothing changed, and it says so; or the
/// splits this run continues roll back.
async fn stopped(members: &[Member<'_>], cfg: &DeployConfig, signals: &Signals, stop: Stop) -> Ending {
    let owned: Vec<&Member> =
        members.iter().filter(|m| m.shift().is_some_and(|s| s.from_weight > 0)).collect();
    if owned.is_empty() {
        return match stop {
            Stop::Signal(s, when) => Ending::from(s.stopped(when)),
            Stop::Failed(text, ExitCode::SmokeFailed) => {
                Ending::from(Failure::err(ExitCode::SmokeFailed, text))
                    .with_note("no traffic moved; the alias is unchanged".into())
            }
            Stop::Failed(text, code) => {
                Failure::err(code, format!("{text}: no traffic moved, no alias was changed")).into()
            }
            Stop::Error(e) => e.into(),
        };
    }
    let reason = match stop {
        Stop::Signal(s, _) => Reason::Signal(s),
        Stop::Failed(what, code) => Reason::Before { what, code },
        Stop::Error(e) => Reason::Before { what: format!("{e:#}"), code: exit_code_of(&e) },
    };
    let mut lanes: Vec<Lane> = owned.iter().filter_map(|m| owned_lane(m)).collect();
    let effort = Effort { timeout: cfg.watch.rollback_timeout, keep: &[] };
    stop_lanes(&mut lanes, reason, &[], effort, signals).await.into()
}

/// The lane of a member whose split this run continues.
fn owned_lane(member: &Member<'_>) -> Option<Lane> {
    let (found, shift) = (member.checked.alias.as_ref()?, member.shift()?);
    let clients = member.clients;
    let handle = AliasHandle::new(&clients.sfn, &clients.changes, found, member.checked.alias_read_at);
    Some(Lane::new(handle, (&shift.old, member.version()), &member.reporter, &clients.aws_cli))
}

/// `--smoke-input`: the new version runs each input before any traffic moves. Returns when
/// each started (AWS's time).
async fn smoke(
    member: &Member<'_>,
    cfg: &DeployConfig,
    signals: &mut Signals,
    run_id: &str,
) -> Result<Vec<SystemTime>, Stop> {
    let smoke = &cfg.smoke;
    if smoke.inputs.is_empty() {
        return Ok(Vec::new());
    }
    let kind = &member.checked.info.kind;
    let versions = &member.clients.sfn;
    let run = crate::smoke::run(versions, member.version(), kind, &smoke.inputs, (smoke.timeout, run_id));
    let result = tokio::select! {
        biased;
        s = signals.next() => return Err(Stop::Signal(s, "during the smoke executions: the alias was not changed")),
        r = run => r,
    };
    let e = match result {
        Ok(starts) => return Ok(starts),
        Err(e) if member.label.shown() => e.context(member.label.prefix("its smoke run")),
        Err(e) => e,
    };
    Err(match exit_code_of(&e) {
        ExitCode::SmokeFailed => Stop::Failed(format!("{e:#}"), ExitCode::SmokeFailed),
        _ => Stop::Error(e),
    })
}
