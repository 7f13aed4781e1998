//! What an execution gate knows of the executions it has listed, in memory that does not grow
//! with the traffic: each execution one by one while it runs, when it failed (for the evidence,
//! reruns and redrives), or while it is recent (a list read again near its top must not count it
//! twice); the succeeded ones older than that, counted ([`Folded`]).
//!
//! From it: each version's tally, the new version's start order, and the duration check.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_sfn::types::{ExecutionListItem, ExecutionStatus};

use super::durations::Durations;
use super::reading::{StartOrder, Tally};

/// How wide the buckets are in which folded executions of the new version keep their start.
const START_BUCKET: Duration = Duration::from_millis(100);
/// At most this many prefixes of the start order are judged: the first failures' (and the last).
const PREFIXES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    New,
    Old,
    Other,
}

/// One execution known by itself.
#[derive(Clone, Debug)]
pub struct Seen {
    pub side: Side,
    pub start: SystemTime,
    pub stop: Option<SystemTime>,
    pub status: ExecutionStatus,
    pub via_alias: bool,
    /// It failed once and is running again (redriven): followed by itself until it ends.
    pub redriving: bool,
}

impl Seen {
    pub fn finished(&self) -> bool {
        !matches!(self.status, ExecutionStatus::Running | ExecutionStatus::PendingRedrive)
    }

    pub fn failed(&self) -> bool {
        matches!(self.status, ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted)
    }

    pub fn duration(&self) -> Option<Duration> {
        let stop = self.stop.filter(|_| self.finished())?;
        Some(stop.duration_since(self.start).unwrap_or_default())
    }
}

/// The succeeded executions through the alias older than the horizon, counted.
#[derive(Debug, Default)]
struct Folded {
    /// New version, since the deploy began.
    new: u32,
    new_durations: Durations,
    /// Their starts, in [`START_BUCKET`]s from the deploy's start.
    new_starts: Vec<u32>,
    /// Old version: since the deploy began, and in the hour before.
    old: u32,
    old_before: u32,
    old_durations: Durations,
    old_durations_before: Durations,
}

/// The executions a gate has listed.
#[derive(Debug)]
pub struct Ledger {
    new: String,
    old: String,
    alias_arn: String,
    /// When the deploy began, and the hour before it (AWS's time).
    since: SystemTime,
    before: SystemTime,
    exact: HashMap<String, Seen>,
    folded: Folded,
    /// Succeeded executions that started before this are folded; it only moves on.
    horizon: SystemTime,
}

impl Ledger {
    pub fn new(alias_arn: &str, (old, new): (&str, &str), since: SystemTime, before: SystemTime) -> Self {
        Ledger {
            new: new.to_string(),
            old: old.to_string(),
            alias_arn: alias_arn.to_string(),
            since,
            before,
            exact: HashMap::new(),
            folded: Folded::default(),
            horizon: SystemTime::UNIX_EPOCH,
        }
    }

    /// Records what a list showed of an execution: the latest it says counts, once.
    pub fn record(&mut self, item: &ExecutionListItem, side: Option<Side>) {
        let start = to_system(item.start_date());
        let status = item.status().clone();
        if let Some(seen) = self.exact.get_mut(item.execution_arn()) {
            seen.redriving |= seen.failed() && status == ExecutionStatus::Running;
            seen.status = status;
            seen.stop = item.stop_date().map(to_system);
            return;
        }
        // Succeeded and older than the horizon: counted already.
        if start < self.horizon && status == ExecutionStatus::Succeeded {
            return;
        }
        let side = side.unwrap_or(match item.state_machine_version_arn() {
            Some(v) if v == self.new => Side::New,
            Some(v) if v == self.old => Side::Old,
            _ => Side::Other,
        });
        let via_alias = item.state_machine_alias_arn() == Some(self.alias_arn.as_str());
        let seen =
            Seen { side, start, stop: item.stop_date().map(to_system), status, via_alias, redriving: false };
        self.exact.insert(item.execution_arn().to_string(), seen);
    }

    /// What a description of an execution said of it (a redriven one, followed by itself).
    pub fn described(&mut self, arn: &str, status: ExecutionStatus, stop: Option<SystemTime>) {
        if let Some(seen) = self.exact.get_mut(arn) {
            seen.redriving = status == ExecutionStatus::Running;
            seen.status = status;
            seen.stop = stop;
        }
    }

    /// The executions known by themselves.
    pub fn exact(&self) -> impl Iterator<Item = (&String, &Seen)> {
        self.exact.iter()
    }

    /// Moves the horizon to `to` (never back) and folds what it passed: the succeeded executions
    /// through the alias are counted; the others that ended (not through the alias) are
    /// forgotten. Running and failed ones stay.
    pub fn fold(&mut self, to: SystemTime) {
        if to <= self.horizon {
            return;
        }
        self.horizon = to;
        let passed: Vec<String> = self
            .exact
            .iter()
            .filter(|(_, s)| s.start < to && s.finished() && !(s.failed() && s.via_alias))
            .map(|(arn, _)| arn.clone())
            .collect();
        for arn in passed {
            let Some(seen) = self.exact.remove(&arn) else { continue };
            if seen.via_alias && !seen.failed() {
                self.fold_one(&seen);
            }
        }
    }

    fn fold_one(&mut self, seen: &Seen) {
        let duration = seen.duration().unwrap_or_default();
        let f = &mut self.folded;
        match seen.side {
            Side::New if seen.start >= self.since => {
                f.new += 1;
                f.new_durations.add(duration);
                let b = start_bucket(self.since, seen.start);
                if f.new_starts.len() <= b {
                    f.new_starts.resize(b + 1, 0);
                }
                f.new_starts[b] += 1;
            }
            Side::Old if seen.start >= self.since => {
                f.old += 1;
                f.old_durations.add(duration);
            }
            Side::Old if seen.start >= self.before => {
                f.old_before += 1;
                f.old_durations_before.add(duration);
            }
            _ => {}
        }
    }

    /// One version's executions through the alias that started at or after `from` (the deploy's
    /// start, or the hour before it), with their durations.
    pub fn tally(&self, side: Side, from: SystemTime) -> (Tally, Durations) {
        let version = if side == Side::New { &self.new } else { &self.old };
        let mut t = Tally { version: version.clone(), ..Tally::default() };
        let mut durations = Durations::default();
        for s in self.exact.values().filter(|s| s.side == side && s.via_alias && s.start >= from) {
            if !s.finished() {
                t.running += 1;
                continue;
            }
            t.finished += 1;
            t.failed += u32::from(s.failed());
            if let Some(d) = s.duration() {
                durations.add(d);
            }
        }
        let f = &self.folded;
        match side {
            Side::New => {
                t.finished += f.new;
                durations.merge(&f.new_durations);
            }
            Side::Old => {
                t.finished += f.old;
                durations.merge(&f.old_durations);
                if from < self.since {
                    t.finished += f.old_before;
                    durations.merge(&f.old_durations_before);
                }
            }
            Side::Other => {}
        }
        t.spread = durations.quantile(0.5).zip(durations.quantile(0.9));
        (t, durations)
    }

    /// The new version's executions through the alias since the deploy began, in start order, at
    /// `now`; one running longer than `usual` counts as settled, and as failed.
    pub fn start_order(&self, now: SystemTime, usual: Option<Duration>) -> StartOrder {
        let mut mine: Vec<&Seen> = self
            .exact
            .values()
            .filter(|s| s.side == Side::New && s.via_alias && s.start >= self.since)
            .collect();
        mine.sort_by_key(|s| s.start);
        let overdue = |s: &Seen| {
            !s.finished() && usual.is_some_and(|u| now.duration_since(s.start).unwrap_or_default() > u)
        };
        let mut order = StartOrder { usual, ..StartOrder::default() };
        let (mut failed, mut settled_failed, mut overdue_seen) = (0, 0, 0);
        let mut unsettled: Option<SystemTime> = None;
        let mut failures: Vec<(u32, u32)> = Vec::new();
        for (i, s) in mine.iter().enumerate() {
            let mine_before = i as u32 + 1;
            if s.failed() {
                failed += 1;
                // Folded ones whose bucket reaches its start are counted before it: more
                // successes than there may be, never fewer.
                let folded = self.folded_through(s.start, true);
                failures.push((failed, mine_before + folded));
            }
            if unsettled.is_none() {
                if s.finished() || overdue(s) {
                    settled_failed += u32::from(s.failed() || overdue(s));
                    overdue_seen += u32::from(overdue(s));
                } else {
                    unsettled = Some(s.start);
                    order.settled = i as u32 + self.folded_through(s.start, false);
                }
            }
        }
        let total = mine.len() as u32 + self.folded.new;
        if unsettled.is_none() {
            order.settled = total;
        }
        order.started = total;
        order.settled_failed = settled_failed;
        order.overdue = overdue_seen;
        order.prefixes = failures.iter().take(PREFIXES).copied().chain(failures.last().copied()).collect();
        order
    }

    /// Folded executions of the new version that started by `t`: with `whole`, every bucket that
    /// `t` reaches (an upper count), else only the buckets wholly before it (a lower count).
    fn folded_through(&self, t: SystemTime, whole: bool) -> u32 {
        let b = start_bucket(self.since, t);
        let upto = if whole { b + 1 } else { b };
        self.folded.new_starts.iter().take(upto).sum()
    }

    /// The new version's executions through the alias since the deploy began that started at
    /// least `limit` before `now` (settled: each is within `limit`, or past it), and of those the
    /// ones that took longer or still run.
    pub fn against(&self, limit: Duration, now: SystemTime) -> (u32, u32) {
        let (mut settled, mut slower) = (0, 0);
        let settled_by = now.checked_sub(limit).unwrap_or(SystemTime::UNIX_EPOCH);
        for s in self.exact.values().filter(|s| s.side == Side::New && s.via_alias && s.start >= self.since) {
            if s.start > settled_by {
                continue;
            }
            settled += 1;
            slower += u32::from(s.duration().is_none_or(|d| d > limit));
        }
        // Folded: a bucket counts once it lies wholly before `settled_by`; one that took longer
        // than the limit has started that long ago anyway.
        let folded_slower = self.folded.new_durations.count_above(limit) as u32;
        let folded_settled = self.folded_through(settled_by, false).max(folded_slower);
        (settled + folded_settled, slower + folded_slower)
    }
}

fn start_bucket(since: SystemTime, t: SystemTime) -> usize {
    (t.duration_since(since).unwrap_or_default().as_millis() / START_BUCKET.as_millis()) as usize
}

pub fn to_system(date: &aws_sdk_sfn::primitives::DateTime) -> SystemTime {
    SystemTime::try_from(*date).unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::primitives::DateTime;

    const SM: &str = "arn:aws:states:us-east-1:1:stateMachine:sm";

    fn item(
        n: u32,
        version: u32,
        status: &str,
        start: SystemTime,
        took: Option<Duration>,
    ) -> ExecutionListItem {
        ExecutionListItem::builder()
            .execution_arn(format!("arn:aws:states:us-east-1:1:execution:sm:e{n}"))
            .state_machine_arn(SM)
            .name(format!("e{n}"))
            .status(ExecutionStatus::from(status))
            .start_date(DateTime::from(start))
            .set_stop_date(took.map(|t| DateTime::from(start + t)))
            .state_machine_version_arn(format!("{SM}:{version}"))
            .state_machine_alias_arn(format!("{SM}:prod"))
            .build()
            .unwrap()
    }

    #[test]
    fn folding_keeps_the_counts_and_the_order() {
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |ms: u64| since + Duration::from_millis(ms);
        let mut ledger = Ledger::new(
            &format!("{SM}:prod"),
            (&format!("{SM}:1"), &format!("{SM}:2")),
            since,
            since - Duration::from_secs(3600),
        );
        let second = Some(Duration::from_secs(1));
        for n in 0..1000 {
            let status = if n % 100 == 99 { "FAILED" } else { "SUCCEEDED" };
            ledger.record(&item(n, 2, status, at(u64::from(n) * 10), second), None);
        }
        ledger.record(&item(5000, 2, "RUNNING", at(10_005), None), None);
        let before = (ledger.tally(Side::New, since).0, ledger.start_order(at(12_000), None));
        ledger.fold(at(9_000));
        assert!(ledger.exact.len() < 200, "most are folded: {}", ledger.exact.len());
        let after = (ledger.tally(Side::New, since).0, ledger.start_order(at(12_000), None));
        assert_eq!((after.0.finished, after.0.failed, after.0.running), (1000, 10, 1));
        assert_eq!(after.0.spread, before.0.spread);
        assert_eq!(after.1.started, before.1.started);
        assert_eq!(after.1.settled, before.1.settled);
        for (a, b) in after.1.prefixes.iter().zip(&before.1.prefixes) {
            assert_eq!(a.0, b.0);
            assert!(a.1 >= b.1 && a.1 <= b.1 + 10, "a bucket at most more: {a:?} {b:?}");
        }
        // Listed again (a list read near its top), a folded execution does not count twice.
        ledger.record(&item(3, 2, "SUCCEEDED", at(30), second), None);
        assert_eq!(ledger.tally(Side::New, since).0.finished, 1000);
    }
}
