//! `--rerun-failed`: after a rollback the new version's executions caused, their work is put
//! back. Each failed execution of the new version that came through the alias is read again,
//! then started again with its original input on the **old version's ARN**, once:
//!
//! - on the version, not through the alias: an alias update is eventually consistent, and an
//!   execution started through it right after the rollback may still follow the old routing, to
//!   the bad version, with the name that would have made it the only rerun;
//! - once: the new execution's name is derived from the failed one's, and Step Functions refuses
//!   a second STANDARD execution of a name, so a retried call or a second run never starts it
//!   twice;
//! - only when it still needs it: one redriven since (running or succeeded) is not started
//!   again, nor one a person stopped (ABORTED) unless `--rerun-aborted` asks.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::ExecutionStatus;

use crate::arn::state_machine_of;
use crate::aws::{AwsResultExt, sdk_error};

/// What became of one failed execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rerun {
    pub failed: String,
    /// The execution that does its work again, when there is one.
    pub restarted: Option<String>,
    pub outcome: RerunOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RerunOutcome {
    Started,
    /// An earlier attempt (a retried call, a second run) started it already.
    AlreadyStarted,
    /// Past `--rerun-max`: listed, not started.
    OverCap,
    /// Redriven since it failed: running again, or succeeded (its status now).
    Redriven(String),
    /// A person stopped it (StopExecution): not started again without `--rerun-aborted`.
    Aborted,
    /// It could not be read or started: why.
    Failed(String),
}

impl RerunOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            RerunOutcome::Started => "started",
            RerunOutcome::AlreadyStarted => "already_started",
            RerunOutcome::OverCap => "over_rerun_max",
            RerunOutcome::Redriven(_) => "skipped_redriven",
            RerunOutcome::Aborted => "skipped_aborted",
            RerunOutcome::Failed(_) => "failed",
        }
    }

    /// The name, with what happened when there is more to say.
    pub fn describe(&self) -> String {
        match self {
            RerunOutcome::Failed(why) => format!("failed: {why}"),
            RerunOutcome::Redriven(status) => format!("skipped_redriven: {status} now"),
            other => other.name().to_string(),
        }
    }
}

/// How reruns are asked for: at most `max` started, ABORTED ones too with `aborted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RerunLimits {
    pub max: usize,
    pub aborted: bool,
}

/// Starts each of `failed` (execution ARNs, oldest first) again on `old_version` (a version
/// ARN), at most `limits.max` of them; the rest are listed, not started.
pub async fn rerun(sfn: &Client, old_version: &str, failed: &[String], limits: RerunLimits) -> Vec<Rerun> {
    let mut reruns = Vec::new();
    let mut started = 0;
    for arn in failed {
        let (restarted, outcome) = match again(sfn, old_version, arn, limits, started).await {
            Ok(done) => done,
            Err(e) => (None, RerunOutcome::Failed(format!("{e:#}"))),
        };
        started += usize::from(matches!(outcome, RerunOutcome::Started | RerunOutcome::AlreadyStarted));
        reruns.push(Rerun { failed: arn.clone(), restarted, outcome });
    }
    reruns
}

/// Reads `failed` again, and starts it again on `old_version` if it still needs it.
async fn again(
    sfn: &Client,
    old_version: &str,
    failed: &str,
    limits: RerunLimits,
    started: usize,
) -> anyhow::Result<(Option<String>, RerunOutcome)> {
    let described = sfn
        .describe_execution()
        .execution_arn(failed)
        .send()
        .await
        .aws_context(|| format!("reading {failed}"))?;
    match described.status() {
        ExecutionStatus::Aborted if !limits.aborted => return Ok((None, RerunOutcome::Aborted)),
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted => {}
        other => return Ok((None, RerunOutcome::Redriven(other.as_str().to_string()))),
    }
    if started >= limits.max {
        return Ok((None, RerunOutcome::OverCap));
    }
    let name = rerun_name(failed);
    let mut start = sfn.start_execution().state_machine_arn(old_version).name(&name);
    if let Some(input) = described.input() {
        start = start.input(input);
    }
    match start.send().await {
        Ok(out) => Ok((Some(out.execution_arn().to_string()), RerunOutcome::Started)),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_already_exists()) => {
            Ok((Some(execution_arn(old_version, &name)), RerunOutcome::AlreadyStarted))
        }
        Err(e) => Err(sdk_error(e).context(format!("starting {failed} again"))),
    }
}

/// `rerun-<hash of the failed execution's ARN>-<its name>`, at most 80 characters: the same for
/// every attempt, different for every failed execution.
pub fn rerun_name(failed: &str) -> String {
    let name = failed.rsplit(':').next().unwrap_or_default();
    let hash = failed
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("rerun-{hash:016x}-{name}").chars().take(80).collect()
}

/// The ARN of execution `name` started on `qualified` (`...:stateMachine:sm:7` or `...:prod`).
fn execution_arn(qualified: &str, name: &str) -> String {
    format!("{}:{name}", state_machine_of(qualified).replacen(":stateMachine:", ":execution:", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_distinct_and_short() {
        let a = "arn:aws:states:us-east-1:1:execution:orders:0f3c9a7e-1111-2222-3333-444455556666";
        let b = "arn:aws:states:us-east-1:1:execution:orders:0f3c9a7e-1111-2222-3333-444455556667";
        assert_eq!(rerun_name(a), rerun_name(a));
        assert_ne!(rerun_name(a), rerun_name(b));
        assert!(
            rerun_name(a).starts_with("rerun-")
                && rerun_name(a).ends_with("-0f3c9a7e-1111-2222-3333-444455556666")
        );
        assert!(rerun_name(&format!("{a}{}", "x".repeat(80))).len() <= 80);
        assert_eq!(
            execution_arn("arn:aws:states:us-east-1:1:stateMachine:orders:6", "rerun-1"),
            "arn:aws:states:us-east-1:1:execution:orders:rerun-1"
        );
    }
}
