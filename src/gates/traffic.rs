//! Who calls a state machine: only the executions started through the alias follow its weights.

use anyhow::Result;
use aws_sdk_sfn::Client;

use crate::aws::AwsResultExt;

/// How the state machine's recent executions were started: (through this alias, otherwise).
/// Only traffic through the alias follows its weights.
pub async fn recent_traffic(sfn: &Client, state_machine_arn: &str, alias_arn: &str) -> Result<(u32, u32)> {
    let page = sfn
        .list_executions()
        .state_machine_arn(state_machine_arn)
        .max_results(100)
        .send()
        .await
        .aws_context(|| format!("listing the recent executions of {state_machine_arn}"))?;
    let through = page.executions().iter().filter(|e| e.state_machine_alias_arn() == Some(alias_arn)).count();
    let total = page.executions().len();
    Ok((through as u32, (total - through) as u32))
}
