//! Holding while the signals are read, and the looks that decide whether to go on: a hold ends
//! on time (or early, when someone changed an alias), a gate waits for evidence up to the
//! extension, and a bad signal stops the deploy.

use std::time::Duration;

use tokio::time::{Instant, sleep, sleep_until};

use super::{ALIAS_READ_EVERY, Executor, Found};
use crate::cli::OnInconclusive;
use crate::deploy::ending::Ending;
use crate::deploy::reason::Reason;
use crate::deploy::watch::{Look, Scope};

impl Executor<'_> {
    /// Waits until `until`, reading the signals every polling interval. Ends on time: the last
    /// sleep is cut to the deadline, and the check at the deadline is the next gate's.
    /// A gate whose reading leans towards failing is read again sooner, alone (see
    /// [`Watch::sooner`]).
    ///
    /// One alias is read every [`ALIAS_READ_EVERY`], in turn: someone's change ends the hold
    /// early (a conflict, or a promotion by hand).
    pub(super) async fn hold(&mut self, until: Instant) -> Result<Found, Ending> {
        let polling = self.settings.polling;
        let mut next_poll = Instant::now() + polling;
        let mut sooner: Option<Instant> = None;
        let mut next_alias_read = Instant::now() + ALIAS_READ_EVERY;
        let mut turn = 0;
        loop {
            let poll = sooner.map_or(next_poll, |at| at.min(next_poll));
            let wake = if self.watch.watching() { poll.min(until) } else { until };
            let wake = wake.min(next_alias_read);
            tokio::select! {
                _ = sleep_until(wake) => {}
                s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
            }
            if Instant::now() >= until {
                return Ok(Found::Ours);
            }
            if Instant::now() >= next_alias_read {
                next_alias_read = Instant::now() + ALIAS_READ_EVERY;
                turn = (turn + 1) % self.lanes.len();
                if self.read_alias(turn).await? == Found::Promoted {
                    return Ok(Found::Promoted);
                }
                if Instant::now() < poll {
                    continue;
                }
            }
            let scope = if Instant::now() < next_poll { Scope::Leaning } else { Scope::All };
            self.look(scope).await?;
            let now = Instant::now();
            sooner = self.watch.sooner().map(|d| now + d);
            if scope == Scope::Leaning {
                continue;
            }
            // Reads keep their pace: after a slow one, the missed ticks are skipped, never made
            // up back to back (CloudWatch throttles).
            next_poll += polling;
            if next_poll <= now {
                next_poll = now + polling;
            }
        }
    }

    /// A fresh reading of every signal with nothing to say against going on, or no going
    /// forward. Unread signals are read again until they have gone unread too long (see
    /// [`Watch`]); too little evidence waits up to the extension, then is inconclusive. Time
    /// spent while reads are throttled does not count against the extension: a busy account is
    /// not missing evidence (the wait grows, and the log says so).
    ///
    /// Ok(Some(why)): pause here (`--on-inconclusive pause`, with traffic split).
    pub(super) async fn gate(&mut self) -> Result<Option<String>, Ending> {
        if !self.watch.watching() {
            return Ok(None);
        }
        let began = Instant::now();
        let mut busy = Duration::ZERO;
        loop {
            let wait = match self.look(Scope::All).await? {
                Look::Good { missing: None } => return Ok(None),
                Look::Good { missing: Some(what) } => {
                    let extension = self.watch.extension();
                    let waited = began.elapsed().saturating_sub(busy);
                    if waited >= extension {
                        let split = self.lanes.iter().any(|l| (1..100).contains(&l.new_weight()));
                        if self.settings.on_inconclusive == OnInconclusive::Pause && split {
                            return Ok(Some(format!(
                                "the gates could not decide ({what}, after waiting {} longer), and \
                                 --on-inconclusive pause leaves it to a person",
                                crate::text::human(waited)
                            )));
                        }
                        let reason = Reason::Inconclusive { what, waited, throttled: busy };
                        return Err(self.stop(reason).await);
                    }
                    self.settings.polling.min(extension - waited)
                }
                Look::Unread | Look::Bad(_) => self.watch.retry_in(),
            };
            let throttled = self.watch.throttled();
            tokio::select! {
                _ = sleep(wait) => {}
                s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
            }
            if throttled {
                if busy.is_zero() {
                    tracing::info!(
                        "reads are throttled: the wait for evidence is extended by as long as they are"
                    );
                }
                busy += wait;
            }
        }
    }

    /// One look at the signals; a signal to stop, or a bad one, ends the deploy. The gates ask
    /// for evidence of a new version once it has traffic: before its first weight change there
    /// is none to wait for.
    pub(super) async fn look(&mut self, scope: Scope) -> Result<Look, Ending> {
        let traffic: Vec<bool> = self.lanes.iter().map(|lane| lane.new_weight() > 0).collect();
        let look = tokio::select! {
            look = self.watch.look(&traffic, scope) => look,
            s = self.signals.next() => return Err(self.stop(Reason::Signal(s)).await),
        };
        match look {
            Look::Bad(reason) => Err(self.stop(reason).await),
            look => Ok(look),
        }
    }
}
