//! Where people come in while the executor runs: a pause on purpose (`--pause-at`,
//! `--on-inconclusive pause`, a deploy window closing), and a promotion by hand
//! (`sfndeploy promote`) that the executor finds at a change or during a hold.

use super::{Executor, Finish, Found};
use crate::arn::short_version;
use crate::deploy::ending::Ending;
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::note::Record;
use crate::report::Event;
use crate::routing::Routing;

impl Executor<'_> {
    /// Pauses on purpose before step `i` of `steps` (`why`): each alias with traffic on its new
    /// version stays where it is, its marker saying it pauses, so that `status` shows it paused
    /// and `--resume` or `promote` continue it. With no traffic moved yet, the deploy window
    /// ends it instead: nothing moved, nothing to pause.
    pub(super) async fn pause(&mut self, why: String, (i, steps): (usize, usize)) -> Result<Finish, Ending> {
        if self.lanes.iter().all(|lane| lane.new_weight() == 0) {
            return Err(Ending::from(Failure::err(
                ExitCode::OutsideWindow,
                format!("{why}: no traffic moved, and the alias is as it was"),
            )));
        }
        let now = self.clock.now();
        let targets = (0..self.lanes.len())
            .map(|l| {
                let weight = self.lanes[l].new_weight();
                (weight > 0)
                    .then(|| (weight, self.description(l, (i.saturating_sub(1), steps), weight, (now, true))))
            })
            .collect();
        if self.shift(targets).await? == Found::Promoted {
            return self.promoted().await;
        }
        Ok(Finish::Paused(why))
    }

    /// Someone promoted (some of) the aliases by hand: the deploy's own end, reached early. Each
    /// alias not yet at 100% on its new version is read again; those still as this run left
    /// them are promoted too (a release goes as one), someone else's change is a conflict.
    /// Nothing is rolled back, and the post-traffic hook does not run: a person decided.
    pub(super) async fn promoted(&mut self) -> Result<Finish, Ending> {
        let mut conflicts = Vec::new();
        for l in 0..self.lanes.len() {
            let before = self.lanes[l].alias.routing().clone();
            let lane = &mut self.lanes[l];
            let found = match lane.alias.check().await {
                Err(e) if crate::alias::promoted_by_hand(&e) => Ok(()),
                Ok(()) => {
                    let record = Record {
                        live: short_version(&lane.new_version),
                        before: short_version(&lane.old_version),
                    };
                    let description = record.description(lane.alias.own_text());
                    lane.alias.set(&Routing::single(&lane.new_version), Some(description)).await
                }
                Err(e) => Err(e),
            };
            match found {
                Ok(()) => {
                    lane.alias.adopt_promotion();
                    lane.reporter.emit(Event::Promoted {
                        alias: lane.alias.arn.rsplit(':').next().unwrap_or_default().to_string(),
                        version: lane.new_version.clone(),
                        from: before.to_string(),
                        by: "hand".into(),
                    });
                }
                Err(e) => conflicts.push((l, e)),
            }
        }
        if conflicts.is_empty() { Ok(Finish::Promoted) } else { Err(self.stop_others(conflicts).await) }
    }

    /// Reads lane `l`'s alias during a hold: someone else's change ends the deploy as a
    /// conflict; a promotion by hand ends it early; a read that fails is left to the next.
    pub(super) async fn read_alias(&mut self, l: usize) -> Result<Found, Ending> {
        match self.lanes[l].alias.check().await {
            Ok(()) => Ok(Found::Ours),
            Err(e) if crate::alias::promoted_by_hand(&e) => Ok(Found::Promoted),
            Err(e) if exit_code_of(&e) == ExitCode::Conflict => Err(self.stop_others(vec![(l, e)]).await),
            Err(e) => {
                tracing::debug!("could not read alias {} during the hold: {e:#}", self.lanes[l].alias.arn);
                Ok(Found::Ours)
            }
        }
    }
}
