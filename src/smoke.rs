//! `--smoke-input`: before any traffic moves, the new version runs once per input, started on
//! its version ARN directly (so it never counts in the gates, which watch the alias), and must
//! succeed. STANDARD executions are started and watched; EXPRESS ones run synchronously.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::{ExecutionStatus, StateMachineType, SyncExecutionStatus};

use crate::arn::short_version;
use crate::aws::AwsResultExt;
use crate::exit_code::{ExitCode, Failure};

/// How one smoke execution ended.
struct Ended {
    arn: String,
    /// When it started, AWS's time.
    started: SystemTime,
    status: String,
    error: Option<String>,
    cause: Option<String>,
}

/// Runs every input in order and stops at the first that does not succeed. `run_id` makes the
/// STANDARD executions' names this run's own (`sfndeploy-smoke-v7-1-<run_id>`): a retried
/// StartExecution with the same name and input starts nothing new.
pub async fn run(
    sfn: &Client,
    version_arn: &str,
    kind: &StateMachineType,
    inputs: &[(PathBuf, String)],
    (timeout, run_id): (Duration, &str),
) -> Result<Vec<SystemTime>> {
    let mut starts = Vec::new();
    for (i, (file, input)) in inputs.iter().enumerate() {
        let ended = match kind {
            StateMachineType::Express => sync(sfn, version_arn, input, timeout).await?,
            _ => {
                let name = execution_name(version_arn, i + 1, run_id);
                standard(sfn, version_arn, (&name, input), timeout).await?
            }
        };
        if ended.status != "SUCCEEDED" {
            let mut message =
                format!("smoke input {} on {}: {}", file.display(), short_version(version_arn), ended.status);
            if let Some(error) = &ended.error {
                message.push_str(&format!(", {error}"));
            }
            if let Some(cause) = ended.cause.as_deref().filter(|c| !c.is_empty()) {
                message.push_str(&format!(": {cause}"));
            }
            message.push_str(&format!(" ({})", ended.arn));
            return Err(Failure::err(ExitCode::SmokeFailed, message));
        }
        tracing::info!(
            "smoke input {} succeeded on {} ({})",
            file.display(),
            short_version(version_arn),
            ended.arn
        );
        starts.push(ended.started);
    }
    Ok(starts)
}

/// `sfndeploy-smoke-v7-1-<run_id>`: at most 80 of `A-Z a-z 0-9 - _`.
pub fn execution_name(version_arn: &str, n: usize, run_id: &str) -> String {
    let name = format!("sfndeploy-smoke-{}-{n}-{run_id}", short_version(version_arn));
    name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).take(80).collect()
}

/// Starts the execution and waits for it; one that outlives `timeout` is stopped.
async fn standard(
    sfn: &Client,
    version_arn: &str,
    (name, input): (&str, &str),
    timeout: Duration,
) -> Result<Ended> {
    let started = sfn
        .start_execution()
        .state_machine_arn(version_arn)
        .name(name)
        .input(input)
        .send()
        .await
        .aws_context(|| format!("starting a smoke execution of {}", short_version(version_arn)))?;
    let arn = started.execution_arn().to_string();
    let start = SystemTime::try_from(*started.start_date()).unwrap_or_else(|_| SystemTime::now());
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(200);
    loop {
        let out = sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .aws_context(|| format!("reading smoke execution {arn}"))?;
        if !matches!(out.status(), ExecutionStatus::Running | ExecutionStatus::PendingRedrive) {
            return Ok(Ended {
                arn,
                started: start,
                status: out.status().as_str().to_string(),
                error: out.error().map(str::to_string),
                cause: out.cause().map(str::to_string),
            });
        }
        if tokio::time::Instant::now() + pause > deadline {
            let _ = sfn
                .stop_execution()
                .execution_arn(&arn)
                .error("sfndeploy.SmokeTimeout")
                .cause("stopped by sfndeploy: longer than --smoke-timeout")
                .send()
                .await;
            return Ok(Ended {
                arn,
                started: start,
                status: format!(
                    "still RUNNING after --smoke-timeout {}, stopped",
                    crate::text::human(timeout)
                ),
                error: None,
                cause: None,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// EXPRESS: one synchronous call, bounded by `timeout`.
async fn sync(sfn: &Client, version_arn: &str, input: &str, timeout: Duration) -> Result<Ended> {
    // Never retried: a retry would run the input again (a synchronous execution has no name to
    // make it idempotent). One attempt, bounded by --smoke-timeout, not --call-timeout.
    let once = aws_sdk_sfn::config::Builder::default()
        .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_sfn::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        );
    let call = sfn
        .start_sync_execution()
        .state_machine_arn(version_arn)
        .input(input)
        .customize()
        .config_override(once)
        .send();
    let answer = match tokio::time::timeout(timeout, call).await {
        Ok(Err(aws_sdk_sfn::error::SdkError::TimeoutError(_))) => None,
        Ok(out) => Some(out),
        Err(_) => None,
    };
    let out = match answer {
        Some(out) => {
            out.aws_context(|| format!("running a smoke execution of {}", short_version(version_arn)))?
        }
        None => {
            return Ok(Ended {
                arn: format!("a synchronous execution of {}", short_version(version_arn)),
                started: SystemTime::now(),
                status: format!("no answer within --smoke-timeout {}", crate::text::human(timeout)),
                error: None,
                cause: None,
            });
        }
    };
    let status = match out.status() {
        SyncExecutionStatus::Succeeded => "SUCCEEDED".to_string(),
        other => other.as_str().to_string(),
    };
    Ok(Ended {
        arn: out.execution_arn().to_string(),
        started: SystemTime::try_from(*out.start_date()).unwrap_or_else(|_| SystemTime::now()),
        status,
        error: out.error().map(str::to_string),
        cause: out.cause().map(str::to_string),
    })
}
