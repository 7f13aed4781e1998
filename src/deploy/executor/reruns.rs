//! `--rerun-failed`, once every alias is back on its old version: the failed executions of each
//! member's new version started again on its old version, and what the ending says of them.

use super::Executor;
use crate::arn::short_version;
use crate::deploy::lane::Lane;
use crate::gates::rerun::{Rerun, RerunLimits};
use crate::report::Event;

impl Executor<'_> {
    /// `--rerun-failed`, once every alias is back on its old version: each member's failed
    /// executions started again on its old version. Returns what the ending says of them.
    pub(super) async fn rerun_failed(
        &mut self,
        sfn: &[aws_sdk_sfn::Client],
        limits: RerunLimits,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        for (n, reruns) in self.watch.rerun_failed(sfn, limits).await {
            let lane = &self.lanes[n];
            for r in &reruns {
                lane.reporter.emit(Event::Rerun {
                    failed: r.failed.clone(),
                    restarted: r.restarted.clone(),
                    outcome: r.outcome.describe(),
                });
            }
            if !reruns.is_empty() {
                notes.push(lane.label.prefix(rerun_note(&reruns, lane)));
            }
        }
        notes
    }
}

/// `3 failed execution(s) of v7 started again on v6 (...)`: each outcome counted.
fn rerun_note(reruns: &[Rerun], lane: &Lane) -> String {
    let count = |o: &str| reruns.iter().filter(|r| r.outcome.name() == o).count();
    format!(
        "{} failed execution(s) of {} started again on {} ({} already before, {} not started: redriven \
         since, {} not started: stopped by a person (--rerun-aborted), {} over --rerun-max listed, not \
         started, {} could not be started)",
        count("started"),
        short_version(&lane.new_version),
        short_version(&lane.old_version),
        count("already_started"),
        count("skipped_redriven"),
        count("skipped_aborted"),
        count("over_rerun_max"),
        count("failed")
    )
}
