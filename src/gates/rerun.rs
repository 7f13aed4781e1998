//! `--rerun-failed`: after a rollback the new version's executions caused, their work is put
//! back. Each failed execution of the new version that came through the alias is started again
//! through the alias (now 100% on the old version) with its original input, once: the new
//! execution's name is derived from the failed one's, and Step Functions refuses a second
//! STANDARD execution of a name, so a retried call or a second run never starts it twice.

use aws_sdk_sfn::Client;

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
    /// It could not be read or started: why.
    Failed(String),
}

impl RerunOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            RerunOutcome::Started => "started",
            RerunOutcome::AlreadyStarted => "already_started",
            RerunOutcome::OverCap => "over_rerun_max",
            RerunOutcome::Failed(_) => "failed",
        }
    }
}

/// Starts each of `failed` (execution ARNs, oldest first) again through `alias_arn`, at most
/// `max` of them; the rest are listed, not started.
pub async fn rerun(sfn: &Client, alias_arn: &str, failed: &[String], max: usize) -> Vec<Rerun> {
    let mut reruns = Vec::new();
    for (i, arn) in failed.iter().enumerate() {
        let outcome = if i >= max {
            (None, RerunOutcome::OverCap)
        } else {
            match start_again(sfn, alias_arn, arn).await {
                Ok(done) => done,
                Err(e) => (None, RerunOutcome::Failed(format!("{e:#}"))),
            }
        };
        reruns.push(Rerun { failed: arn.clone(), restarted: outcome.0, outcome: outcome.1 });
    }
    reruns
}

async fn start_again(
    sfn: &Client,
    alias_arn: &str,
    failed: &str,
) -> anyhow::Result<(Option<String>, RerunOutcome)> {
    let described = sfn
        .describe_execution()
        .execution_arn(failed)
        .send()
        .await
        .aws_context(|| format!("reading {failed}"))?;
    let name = rerun_name(failed);
    let mut start = sfn.start_execution().state_machine_arn(alias_arn).name(&name);
    if let Some(input) = described.input() {
        start = start.input(input);
    }
    match start.send().await {
        Ok(out) => Ok((Some(out.execution_arn().to_string()), RerunOutcome::Started)),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_execution_already_exists()) => {
            Ok((Some(execution_arn(alias_arn, &name)), RerunOutcome::AlreadyStarted))
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

/// The ARN of execution `name` started through `alias_arn` (`...:stateMachine:sm:alias`).
fn execution_arn(alias_arn: &str, name: &str) -> String {
    format!("{}:{name}", state_machine_of(alias_arn).replacen(":stateMachine:", ":execution:", 1))
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
            execution_arn("arn:aws:states:us-east-1:1:stateMachine:orders:prod", "rerun-1"),
            "arn:aws:states:us-east-1:1:execution:orders:rerun-1"
        );
    }
}
