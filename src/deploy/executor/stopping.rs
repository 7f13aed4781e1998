//! Ending a deploy early from the executor: every member whose split this run owns goes back
//! (but those `--on-wave-failure current` keeps), a concurrent change leaves that alias alone,
//! and a failed gate's evidence is completed after the rollback calls.

use super::Executor;
use crate::deploy::ending::{Ending, LaneEnd, Stopped};
use crate::deploy::reason::Reason;
use crate::deploy::stop::{Effort, changed_by_others, stop_lanes};
use crate::exit_code::ExitCode;
use crate::report::Event;

impl Executor<'_> {
    /// Ends the deploy early: rolls back every member whose split this run owns, else leaves
    /// each alias as found. A failed gate's evidence is completed (failures described) only
    /// after the rollback calls.
    pub(super) async fn stop(&mut self, reason: Reason) -> Ending {
        let gate_failed = matches!(reason, Reason::Executions(_));
        let mut stopped = self.stop_lanes(reason, &[]).await;
        if !gate_failed {
            return stopped.into();
        }
        if let (Some(full), Reason::Executions(evidence)) = (self.watch.evidence().await, &mut stopped.reason)
        {
            *evidence = full;
        }
        if let Reason::Executions(evidence) = &stopped.reason {
            self.reporter.emit(Event::ExecutionsFailed { evidence: evidence.clone() });
        }
        if let Some((limits, sfn)) = self.rerun.clone()
            && stopped.code() == ExitCode::RolledBack
        {
            stopped.reruns = self.rerun_failed(&sfn, limits).await;
        }
        stopped.into()
    }

    /// Concurrent changes to some lanes' aliases (each with its error): those aliases are left
    /// alone, the others that moved go back. The run ends as a conflict.
    pub(super) async fn stop_others(&mut self, conflicts: Vec<(usize, anyhow::Error)>) -> Ending {
        let said: Vec<(usize, String)> =
            conflicts.iter().map(|(l, e)| (*l, changed_by_others(&self.lanes[*l], e))).collect();
        let reason = Reason::Conflict(said[0].1.clone());
        if self.lanes.len() == 1 {
            return Stopped { reason, several: false, lanes: Vec::new(), reruns: Vec::new() }.into();
        }
        let except: Vec<usize> = said.iter().map(|(l, _)| *l).collect();
        let mut stopped = self.stop_lanes(reason, &except).await;
        for (l, message) in said.into_iter().skip(1) {
            stopped.lanes.push((self.lanes[l].label.clone(), LaneEnd::Changed { message }));
        }
        stopped.into()
    }

    /// Rolls back, in parallel, each lane this run owns (but those in `except`).
    async fn stop_lanes(&mut self, reason: Reason, except: &[usize]) -> Stopped {
        let keep = self.kept_on_failure();
        let effort = Effort { timeout: self.settings.rollback_timeout, keep: &keep };
        stop_lanes(&mut self.lanes, reason, except, effort, self.signals).await
    }
}
