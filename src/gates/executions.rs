//! The gates of a STANDARD workflow, read by listing executions.
//!
//! On AWS, `ListExecutions` given the alias ARN lists exactly the executions started through the
//! alias, both versions', newest first: one listing serves both versions. Where the service
//! refuses an alias ARN (an emulator), each version's own ARN is listed instead, the old
//! version's less often (its baseline moves slowly).
//!
//! A read costs one call whatever the traffic: it pages from the top (1000 a page) only down to
//! what it has already seen. Executions still running are not paged again on every poll: when
//! some lie deeper than the first page, every other read continues a sweep down to the oldest of
//! them instead, from the page token where the last one stopped. So a deploy makes about one
//! `ListExecutions` per read, which the executor paces.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::{ExecutionListItem, ExecutionRedriveFilter, ExecutionStatus};

use super::{DurationCheck, REFERENCE_MIN, Reading, Rules, Tally, stats};
use crate::arn::short_version;
use crate::aws::{AwsResultExt, FailureKind, failure_kind};
use crate::clock::ServerClock;

/// At most this many failed executions are described (for their error and cause).
const DESCRIBE_AT_MOST: usize = 5;
/// When the old version has fewer finished executions than this since the deploy began, its
/// executions of the hour before count too.
const BASELINE_MIN: u32 = 10;
const BASELINE_BEFORE: Duration = Duration::from_secs(3600);
/// The hour before is read once, at most this many pages (the newest executions in it).
const BASELINE_PAGES: u32 = 2;
/// Lists may show an execution a little after one that started later: a top read goes this far
/// below the newest start it has seen.
const LATE: Duration = Duration::from_secs(2);
/// `ListExecutions` allows 1000 a page.
const PAGE: i32 = 1000;
/// A version's own listing (when the alias cannot be listed) is read every this many reads for
/// the old version.
const OLD_EVERY: u32 = 5;
/// Executions redriven since the deploy began are looked for every this many reads.
const REDRIVEN_EVERY: u32 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    New,
    Old,
    Other,
}

#[derive(Clone, Debug)]
struct Seen {
    side: Side,
    start: SystemTime,
    stop: Option<SystemTime>,
    status: ExecutionStatus,
    via_alias: bool,
}

impl Seen {
    fn finished(&self) -> bool {
        !matches!(self.status, ExecutionStatus::Running | ExecutionStatus::PendingRedrive)
    }

    fn failed(&self) -> bool {
        matches!(self.status, ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted)
    }

    fn duration(&self) -> Option<Duration> {
        let stop = self.stop.filter(|_| self.finished())?;
        Some(stop.duration_since(self.start).unwrap_or_default())
    }
}

/// One listing: the alias ARN (both versions), or one version's ARN.
#[derive(Debug)]
struct Listing {
    arn: String,
    /// The version every item of a version's listing belongs to; None for the alias's.
    side: Option<Side>,
    /// The newest start this listing has shown.
    newest: Option<SystemTime>,
    /// The page token where a sweep down to the oldest running execution goes on.
    sweep: Option<String>,
    /// Whether this listing still has the hour before the deploy to read.
    baseline: bool,
    /// The gate's read that last read this listing (0: none yet).
    read_at: u32,
}

impl Listing {
    fn new(arn: &str, side: Option<Side>) -> Self {
        Listing { arn: arn.to_string(), side, newest: None, sweep: None, baseline: true, read_at: 0 }
    }
}

/// The gates of one deploy (STANDARD workflows).
#[derive(Debug)]
pub struct ExecutionGate {
    sfn: Client,
    clock: ServerClock,
    alias_arn: String,
    new: String,
    old: String,
    pub rules: Rules,
    /// When the deploy began, AWS's time.
    since: SystemTime,
    listings: Vec<Listing>,
    /// Whether the alias's listing was refused and each version is listed instead.
    per_version: bool,
    seen: HashMap<String, Seen>,
    described: HashMap<String, (String, String)>,
    /// The old version's durations a duration check compares with, fixed once there are enough.
    reference: Option<Vec<Duration>>,
    reads: u32,
    /// Whether the service takes `redriveFilter` (an emulator may not).
    redriven: bool,
    /// `ListExecutions` calls made so far.
    pub calls: u32,
}

impl ExecutionGate {
    /// Gates for a deploy from `old` to `new` through `alias_arn` that began at `since` (AWS's
    /// time).
    pub fn new(
        sfn: &Client,
        clock: &ServerClock,
        alias_arn: &str,
        (old, new): (&str, &str),
        rules: Rules,
        since: SystemTime,
    ) -> Self {
        ExecutionGate {
            sfn: sfn.clone(),
            clock: clock.clone(),
            alias_arn: alias_arn.to_string(),
            new: new.to_string(),
            old: old.to_string(),
            rules,
            since,
            listings: vec![Listing::new(alias_arn, None)],
            per_version: false,
            seen: HashMap::new(),
            described: HashMap::new(),
            reference: None,
            reads: 0,
            redriven: true,
            calls: 0,
        }
    }

    /// Reads what is new (about one call), and tallies both versions.
    pub async fn read(&mut self) -> Result<Reading> {
        self.reads += 1;
        // The alias's listing may give way to the versions' during the first read: count anew.
        let mut i = 0;
        while i < self.listings.len() {
            let listing = &self.listings[i];
            let due = listing.read_at == 0 || self.reads - listing.read_at >= OLD_EVERY;
            if listing.side != Some(Side::Old) || due {
                self.listings[i].read_at = self.reads;
                self.read_listing(i).await?;
            }
            i += 1;
        }
        if self.redriven && self.reads.is_multiple_of(REDRIVEN_EVERY) {
            self.read_redriven().await?;
        }
        Ok(self.reading())
    }

    /// One read of one listing: a sweep page on every other read while a sweep is under way,
    /// else the top, down to what was seen (or, the first time, the hour before).
    async fn read_listing(&mut self, i: usize) -> Result<()> {
        if self.reads.is_multiple_of(2)
            && let Some(token) = self.listings[i].sweep.take()
        {
            let (last, next) = self.page(i, Some(token)).await?;
            if let (Some(last), Some(next)) = (last, next)
                && self.oldest_running().is_some_and(|oldest| oldest < last)
            {
                self.listings[i].sweep = Some(next);
            }
            return Ok(());
        }
        let listing = &self.listings[i];
        // The hour before, once: the old version's baseline, and its recent durations.
        let baseline = listing.baseline;
        let floor = match listing.newest {
            _ if baseline => self.since.checked_sub(BASELINE_BEFORE).unwrap_or(self.since),
            Some(newest) => self.since.max(newest.checked_sub(LATE).unwrap_or(newest)),
            None => self.since,
        };
        let mut token = None;
        let mut pages = 0;
        loop {
            let (last, next) = self.page(i, token).await?;
            pages += 1;
            let reached = last.is_none_or(|last| last < floor) || next.is_none();
            if reached || (baseline && pages >= BASELINE_PAGES) {
                self.listings[i].baseline = false;
                // Executions still running deeper than this read went are a sweep's to follow.
                if let (Some(last), Some(next)) = (last, next)
                    && self.oldest_running().is_some_and(|oldest| oldest < last)
                    && self.listings[i].sweep.is_none()
                {
                    self.listings[i].sweep = Some(next);
                }
                return Ok(());
            }
            token = next;
        }
    }

    /// One page of listing `i`: what it shows is recorded. Returns the start of its last item
    /// and the next page's token.
    async fn page(
        &mut self,
        i: usize,
        token: Option<String>,
    ) -> Result<(Option<SystemTime>, Option<String>)> {
        let arn = self.listings[i].arn.clone();
        self.calls += 1;
        let answer = self
            .sfn
            .list_executions()
            .state_machine_arn(&arn)
            .max_results(PAGE)
            .set_next_token(token)
            .send()
            .await
            .aws_context(|| format!("listing the executions of {}", short_version(&arn)));
        let page = match answer {
            Ok(page) => page,
            Err(e) if self.refused(i, &e) => {
                tracing::info!(
                    "listing executions by alias is not supported here ({e:#}): listing each version's instead"
                );
                self.per_version = true;
                self.listings =
                    vec![Listing::new(&self.new, Some(Side::New)), Listing::new(&self.old, Some(Side::Old))];
                self.listings[0].read_at = self.reads;
                return Box::pin(self.page(i, None)).await;
            }
            Err(e) => return Err(e),
        };
        let side = self.listings[i].side;
        for item in page.executions() {
            self.record(item, side);
        }
        let last = page.executions().last().map(|e| to_system(e.start_date()));
        if let Some(newest) = page.executions().first().map(|e| to_system(e.start_date())) {
            let listing = &mut self.listings[i];
            listing.newest = Some(listing.newest.map_or(newest, |n| n.max(newest)));
        }
        Ok((last, page.next_token().map(str::to_string)))
    }

    /// Whether `err` is the service refusing an alias ARN here (an emulator): only the very
    /// first call on the alias's listing can be, and never for a throttle or a timeout.
    fn refused(&self, i: usize, err: &anyhow::Error) -> bool {
        !self.per_version
            && self.listings[i].side.is_none()
            && self.listings[i].newest.is_none()
            && failure_kind(err) == Some(FailureKind::Other)
    }

    /// Executions redriven since they were seen: their latest outcome counts, once.
    async fn read_redriven(&mut self) -> Result<()> {
        let arn = self.listings[0].arn.clone();
        let side = self.listings[0].side;
        self.calls += 1;
        let answer = self
            .sfn
            .list_executions()
            .state_machine_arn(&arn)
            .redrive_filter(ExecutionRedriveFilter::Redriven)
            .max_results(PAGE)
            .send()
            .await
            .aws_context(|| format!("listing the redriven executions of {}", short_version(&arn)));
        match answer {
            Ok(page) => page.executions().iter().for_each(|item| self.record(item, side)),
            Err(e) if failure_kind(&e) == Some(FailureKind::Other) => {
                tracing::debug!("no redriven executions here ({e:#})");
                self.redriven = false;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn record(&mut self, item: &ExecutionListItem, side: Option<Side>) {
        let side = side.unwrap_or(match item.state_machine_version_arn() {
            Some(v) if v == self.new => Side::New,
            Some(v) if v == self.old => Side::Old,
            _ => Side::Other,
        });
        self.seen.insert(
            item.execution_arn().to_string(),
            Seen {
                side,
                start: to_system(item.start_date()),
                stop: item.stop_date().map(to_system),
                status: item.status().clone(),
                via_alias: item.state_machine_alias_arn() == Some(self.alias_arn.as_str()),
            },
        );
    }

    /// The start of the oldest execution of the deploy still running, either version.
    fn oldest_running(&self) -> Option<SystemTime> {
        self.seen.values().filter(|s| !s.finished() && s.start >= self.since).map(|s| s.start).min()
    }

    /// Both versions' tallies, and the duration check.
    fn reading(&mut self) -> Reading {
        let new = self.tally(Side::New, self.since);
        let before = self.since.checked_sub(BASELINE_BEFORE).unwrap_or(self.since);
        let mut old = self.tally(Side::Old, self.since);
        let mut old_includes_before = false;
        let with_before = self.tally(Side::Old, before);
        if self.rules.compares() && old.finished < BASELINE_MIN && with_before.finished > old.finished {
            old = with_before.clone();
            old_includes_before = true;
        }
        let durations = self.rules.max_duration_increase.and_then(|x| self.duration_check(x, &with_before));
        let old_p95 = stats::quantile(&with_before.durations, 0.95);
        Reading { new, old, old_includes_before, durations, old_p95 }.with_intervals(&self.rules)
    }

    /// The new version's executions against the old median's upper bound plus `increase`%: the
    /// reference is fixed once the old version has enough finished executions.
    fn duration_check(&mut self, increase: f64, old: &Tally) -> Option<DurationCheck> {
        if self.reference.is_none() && old.durations.len() >= REFERENCE_MIN {
            self.reference = Some(old.durations.clone());
        }
        let reference = self.reference.as_ref()?;
        let bound = stats::median_upper_bound(reference, self.rules.alpha() / 2.0)?;
        let limit = bound.mul_f64(1.0 + increase / 100.0);
        let now = self.clock.now();
        let (mut settled, mut slower) = (0, 0);
        for s in self.seen.values().filter(|s| s.side == Side::New && s.via_alias && s.start >= self.since) {
            if now.duration_since(s.start).unwrap_or_default() < limit {
                continue;
            }
            settled += 1;
            if s.duration().is_none_or(|d| d > limit) {
                slower += 1;
            }
        }
        let spread = (stats::quantile(reference, 0.5)?, stats::quantile(reference, 0.9)?, reference.len());
        Some(DurationCheck { limit, settled, slower, old: spread })
    }

    /// Describes a few failed executions of the new version, once each, for their error and
    /// cause; then reads again as [`ExecutionGate::read`] would, without a call.
    pub async fn describe_failures(&mut self) -> Result<Reading> {
        let mut failed: Vec<(&String, &Seen)> = self
            .seen
            .iter()
            .filter(|(_, s)| s.side == Side::New && s.via_alias && s.failed() && s.start >= self.since)
            .collect();
        failed.sort_by_key(|(_, s)| s.start);
        let wanted: Vec<String> = failed
            .into_iter()
            .map(|(a, _)| a.clone())
            .filter(|a| !self.described.contains_key(a))
            .take(DESCRIBE_AT_MOST.saturating_sub(self.described.len()))
            .collect();
        for arn in wanted {
            let out = self
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .aws_context(|| format!("describing execution {arn}"))?;
            let error = out.error().unwrap_or(out.status().as_str()).to_string();
            self.described.insert(arn, (error, out.cause().unwrap_or_default().to_string()));
        }
        Ok(self.reading())
    }

    /// The new version's failed executions through the alias since the deploy began, oldest
    /// first, after one more read (what failed since the last one counts too).
    pub async fn failed_through_alias(&mut self) -> Vec<String> {
        self.new_since_deploy(|s| s.via_alias && s.failed()).await
    }

    /// The new version's executions since the deploy began that `keep` picks, oldest first:
    /// read afresh, or as last read when that fails.
    async fn new_since_deploy(&mut self, keep: impl Fn(&Seen) -> bool) -> Vec<String> {
        if let Err(e) = self.read_listing(0).await {
            tracing::warn!("could not read the new version's executions again: {e:#}");
        }
        let mut picked: Vec<(&SystemTime, &String)> = self
            .seen
            .iter()
            .filter(|(_, s)| s.side == Side::New && s.start >= self.since && keep(s))
            .map(|(a, s)| (&s.start, a))
            .collect();
        picked.sort();
        picked.into_iter().map(|(_, a)| a.clone()).collect()
    }

    pub fn alias_arn(&self) -> &str {
        &self.alias_arn
    }

    /// The tally of one version's executions through the alias started at or after `from`.
    fn tally(&self, side: Side, from: SystemTime) -> Tally {
        let version = if side == Side::New { &self.new } else { &self.old };
        let mut t = Tally { version: version.clone(), ..Tally::default() };
        let mut first_failure: Option<(SystemTime, &String)> = None;
        for (arn, s) in &self.seen {
            if s.side != side || !s.via_alias || s.start < from {
                continue;
            }
            if !s.finished() {
                t.running += 1;
                continue;
            }
            t.finished += 1;
            t.durations.extend(s.duration());
            if s.failed() {
                t.failed += 1;
                if let Some((error, _)) = self.described.get(arn) {
                    *t.errors.entry(error.clone()).or_default() += 1;
                    if first_failure.is_none_or(|(at, _)| s.start < at) {
                        first_failure = Some((s.start, arn));
                    }
                }
            }
        }
        t.durations.sort();
        t.example = first_failure.map(|(_, arn)| (arn.clone(), self.described[arn].1.clone()));
        t
    }

    /// The new version's executions still running, through the alias or not (after a rollback
    /// they keep running it): read afresh, or as last read when that fails.
    pub async fn still_running(&mut self) -> Vec<String> {
        self.new_since_deploy(|s| !s.finished()).await
    }
}

fn to_system(date: &aws_sdk_sfn::primitives::DateTime) -> SystemTime {
    SystemTime::try_from(*date).unwrap_or(SystemTime::UNIX_EPOCH)
}

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
