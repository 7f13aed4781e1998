//! What the gates are asked once the deploy has stopped: the failed executions to start again
//! (`--rerun-failed`), the new version's executions still running, and a failed gate's evidence
//! with its failures described.

use std::time::Duration;

use super::Watch;
use crate::gates::{Verdict, judge};

impl Watch<'_> {
    /// `--rerun-failed` for every member whose gates read executions, each started with its
    /// own target's client (`sfn[n]` for member `n`): (member, what became of each failed
    /// execution).
    pub async fn rerun_failed(
        &mut self,
        sfn: &[aws_sdk_sfn::Client],
        limits: crate::gates::rerun::RerunLimits,
    ) -> Vec<(usize, Vec<crate::gates::rerun::Rerun>)> {
        let mut all = Vec::new();
        for (n, g) in self.gates.iter_mut().enumerate() {
            if let (Some(gate), Some(sfn)) = (g.slot.gate.as_mut(), sfn.get(n))
                && let Some(reruns) = gate.rerun_failed(sfn, limits).await
            {
                all.push((n, reruns));
            }
        }
        all
    }

    /// Each member's new version's executions still running, if its gates read them.
    pub async fn still_running(&mut self) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        for g in &mut self.gates {
            all.push(match g.slot.gate.as_mut() {
                Some(gate) => gate.still_running().await,
                None => Vec::new(),
            });
        }
        all
    }

    /// The evidence of a failed gate, with failures described (after the rollback, so that it
    /// never waits on these calls): the verdict again, if it still fails.
    pub async fn evidence(&mut self) -> Option<String> {
        for g in &mut self.gates {
            let Some(gate) = g.slot.gate.as_mut() else { continue };
            let reading = match tokio::time::timeout(Duration::from_secs(10), gate.describe_failures()).await
            {
                Ok(Ok(Some(reading))) => reading,
                Ok(Err(e)) => {
                    tracing::warn!("could not describe the failed executions: {e:#}");
                    continue;
                }
                _ => continue,
            };
            if let Verdict::Fail(evidence) = judge(gate.rules(), &reading) {
                return Some(g.slot.label.prefix(evidence));
            }
        }
        None
    }
}
