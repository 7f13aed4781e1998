//! The gates of a STANDARD workflow, read by listing executions.
//!
//! On AWS, `ListExecutions` given the alias ARN lists exactly the executions started through the
//! alias, both versions', newest first: one listing serves both versions. Where the service
//! refuses an alias ARN (an emulator), each version's own ARN is listed instead, the old
//! version's less often (its baseline moves slowly).
//!
//! A read costs about one call whatever the traffic. It descends the list from the top (1000 a
//! page, through the SDK's paginator) down to a little below the newest start the last complete
//! descent began from. A descent cut short (a throttle, the read's deadline) goes on next time
//! from the page where it stopped, so no page is skipped; only a complete descent moves the
//! mark. The first descent reads everything since the deploy began, then at most
//! [`BASELINE_PAGES`] of the hour before (the old version's baseline). Executions still running
//! deeper than the top are followed by a sweep that every other read continues from its page
//! token. Every tenth read describes a few of the new version's failures again: a redriven
//! execution (a failed one run again) counts once, by its latest outcome. What is known is kept
//! in a [`Ledger`] that does not grow with the traffic.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::SdkError;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::operation::list_executions::{ListExecutionsError, ListExecutionsOutput};

use super::durations::Durations;
use super::ledger::{Ledger, Side, to_system};
use super::reading::{Baseline, DurationCheck, Reading};
use super::{Rules, reference_needed, stats};
use crate::arn::short_version;
use crate::aws::{AwsResultExt, FailureKind, failure_kind, sdk_error};
use crate::clock::ServerClock;

/// At most this many failed executions are described (for their error and cause).
const DESCRIBE_AT_MOST: usize = 5;
/// When the old version has fewer finished executions than this since the deploy began, its
/// executions of the hour before count too.
const BASELINE_MIN: u32 = 10;
const BASELINE_BEFORE: Duration = Duration::from_secs(3600);
/// The first descent reads the whole deploy, then at most this many pages that reach into the
/// hour before it.
pub const BASELINE_PAGES: u32 = 2;
/// Lists may show an execution a little after one that started later: a descent goes this far
/// below the newest start it began from last time (and always reads a whole page).
const LATE: Duration = Duration::from_secs(2);
/// Succeeded executions this far below every listing's mark are counted, no longer kept.
const FOLD_AFTER: Duration = Duration::from_secs(30);
/// `ListExecutions` allows 1000 a page.
const PAGE: i32 = 1000;
/// A version's own listing (when the alias cannot be listed) is read every this many reads for
/// the old version.
const OLD_EVERY: u32 = 5;
/// The new version's failures are described again for redrives every this many reads...
const REDRIVEN_EVERY: u32 = 10;
/// ...at most this many at a time.
const FOLLOW_AT_MOST: usize = 10;

type Page =
    Result<ListExecutionsOutput, SdkError<ListExecutionsError, aws_sdk_sfn::config::http::HttpResponse>>;

/// A descent under way: where it goes on, down to what, and the newest start it began from.
#[derive(Clone, Debug)]
struct Descent {
    token: Option<String>,
    floor: SystemTime,
    top: Option<SystemTime>,
    /// Pages that reached below the deploy's start (the first descent's baseline).
    before_pages: u32,
}

/// One listing: the alias ARN (both versions), or one version's ARN.
#[derive(Debug)]
struct Listing {
    arn: String,
    /// The version every item of a version's listing belongs to; None for the alias's.
    side: Option<Side>,
    /// The newest start the last complete descent began from.
    newest: Option<SystemTime>,
    descent: Option<Descent>,
    /// The page token where a sweep down to the oldest running execution goes on.
    sweep: Option<String>,
    /// Whether this listing still has the hour before the deploy to read.
    baseline: bool,
    /// The gate's read that last read this listing (0: none yet).
    read_at: u32,
}

impl Listing {
    fn new(arn: &str, side: Option<Side>) -> Self {
        Listing {
            arn: arn.to_string(),
            side,
            newest: None,
            descent: None,
            sweep: None,
            baseline: true,
            read_at: 0,
        }
    }
}

/// What one page gave.
enum Taken {
    /// The start of its first and last items, and the next page's token.
    Page(Option<SystemTime>, Option<SystemTime>, Option<String>),
    /// The service refused the alias's listing: the versions' are read instead.
    Refused,
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
    /// When the deploy began, AWS's time, and the hour before it.
    since: SystemTime,
    before: SystemTime,
    listings: Vec<Listing>,
    /// Whether the alias's listing was refused and each version is listed instead.
    per_version: bool,
    ledger: Ledger,
    described: HashMap<String, (String, String)>,
    /// The old version's durations a duration check compares with, fixed once there are enough.
    reference: Option<Durations>,
    reads: u32,
    /// When each failure was last described again (the read's number), for redrives.
    rechecked: HashMap<String, u32>,
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
        let before = since.checked_sub(BASELINE_BEFORE).unwrap_or(since);
        ExecutionGate {
            sfn: sfn.clone(),
            clock: clock.clone(),
            alias_arn: alias_arn.to_string(),
            new: new.to_string(),
            old: old.to_string(),
            rules,
            since,
            before,
            listings: vec![Listing::new(alias_arn, None)],
            per_version: false,
            ledger: Ledger::new(alias_arn, (old, new), since, before),
            described: HashMap::new(),
            reference: None,
            reads: 0,
            rechecked: HashMap::new(),
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
        if self.reads.is_multiple_of(REDRIVEN_EVERY) {
            self.follow_redriven().await?;
        }
        self.fold();
        Ok(self.reading())
    }

    /// Succeeded executions well below every listing's mark are counted, no longer kept.
    fn fold(&mut self) {
        let marks: Option<Vec<SystemTime>> = self.listings.iter().map(|l| l.newest).collect();
        if let Some(lowest) = marks.and_then(|m| m.into_iter().min())
            && let Some(horizon) = lowest.checked_sub(LATE + FOLD_AFTER)
        {
            self.ledger.fold(horizon);
        }
    }

    /// The pages of listing `i` from `token` (the top when None), through the SDK's paginator:
    /// nothing is asked until a page is wanted, and dropping it stops.
    fn pages(
        &self,
        i: usize,
        token: Option<String>,
    ) -> aws_smithy_async::future::pagination_stream::PaginationStream<Page> {
        self.sfn
            .list_executions()
            .state_machine_arn(&self.listings[i].arn)
            .max_results(PAGE)
            .set_next_token(token)
            .into_paginator()
            .send()
    }

    /// Records what a page of listing `i` shows.
    fn take_page(&mut self, i: usize, page: Page) -> Result<Taken> {
        self.calls += 1;
        let arn = self.listings[i].arn.clone();
        let page = match page.map_err(sdk_error) {
            Ok(page) => page,
            Err(e) if self.refused(i, &e) => {
                tracing::info!(
                    "listing executions by alias is not supported here ({e:#}): listing each version's instead"
                );
                self.per_version = true;
                self.listings =
                    vec![Listing::new(&self.new, Some(Side::New)), Listing::new(&self.old, Some(Side::Old))];
                self.listings[0].read_at = self.reads;
                return Ok(Taken::Refused);
            }
            Err(e) => return Err(e.context(format!("listing the executions of {}", short_version(&arn)))),
        };
        let side = self.listings[i].side;
        for item in page.executions() {
            self.ledger.record(item, side);
        }
        let start = |e: Option<&aws_sdk_sfn::types::ExecutionListItem>| e.map(|e| to_system(e.start_date()));
        let (first, last) = (start(page.executions().first()), start(page.executions().last()));
        Ok(Taken::Page(first, last, page.next_token().map(str::to_string)))
    }

    /// Whether `err` is the service refusing an alias ARN here (an emulator): only the very
    /// first call on the alias's listing can be, and never for a throttle or a timeout.
    fn refused(&self, i: usize, err: &anyhow::Error) -> bool {
        let listing = &self.listings[i];
        !self.per_version
            && listing.side.is_none()
            && listing.newest.is_none()
            && listing.descent.as_ref().is_none_or(|d| d.top.is_none())
            && failure_kind(err) == Some(FailureKind::Other)
    }

    /// One read of one listing: a sweep page on every other read while a sweep is under way,
    /// else a descent from the top (or the one under way).
    async fn read_listing(&mut self, i: usize) -> Result<()> {
        if self.reads.is_multiple_of(2)
            && let Some(token) = self.listings[i].sweep.take()
        {
            let Some(page) = self.pages(i, Some(token)).next().await else { return Ok(()) };
            if let Taken::Page(_, Some(last), Some(next)) = self.take_page(i, page)?
                && self.oldest_running().is_some_and(|oldest| oldest < last)
            {
                self.listings[i].sweep = Some(next);
            }
            return Ok(());
        }
        self.descend(i).await
    }

    /// Descends listing `i` from where its descent stands down to its floor, page by page. The
    /// descent is kept before every page is asked for, so a read cut meanwhile goes on from
    /// that page next time.
    async fn descend(&mut self, i: usize) -> Result<()> {
        let mut descent = match self.listings[i].descent.take() {
            Some(d) => d,
            None => self.new_descent(i),
        };
        let mut pages = self.pages(i, descent.token.clone());
        let (mut last, mut next) = (None, None);
        loop {
            self.listings[i].descent = Some(descent.clone());
            let Some(page) = pages.next().await else { break };
            let Taken::Page(first, page_last, page_next) = self.take_page(i, page)? else {
                return Box::pin(self.descend(i)).await;
            };
            (last, next) = (page_last, page_next);
            descent.top = descent.top.or(first);
            descent.token = next.clone();
            if self.reached(i, &mut descent, last, next.is_some()) {
                break;
            }
        }
        let listing = &mut self.listings[i];
        listing.descent = None;
        listing.baseline = false;
        listing.newest = listing.newest.max(descent.top);
        // Executions still running deeper than this read went are a sweep's to follow.
        if let (Some(last), Some(next)) = (last, next)
            && self.oldest_running().is_some_and(|oldest| oldest < last)
            && self.listings[i].sweep.is_none()
        {
            self.listings[i].sweep = Some(next);
        }
        Ok(())
    }

    /// A new descent of listing `i`: down to a little below its mark, or, the first time, to
    /// the deploy's start (and then into the hour before).
    fn new_descent(&self, i: usize) -> Descent {
        let floor = match self.listings[i].newest {
            Some(newest) => self.since.max(newest.checked_sub(LATE).unwrap_or(newest)),
            None => self.since,
        };
        Descent { token: None, floor, top: None, before_pages: 0 }
    }

    /// Whether a descent that just read down to `last` is done: past its floor, or at the end of
    /// the list. The first goes on below the deploy's start for the old version's baseline.
    fn reached(&self, i: usize, descent: &mut Descent, last: Option<SystemTime>, more: bool) -> bool {
        let below = last.is_none_or(|l| l < descent.floor);
        if !below || !more {
            return !more;
        }
        descent.before_pages += 1;
        let baseline = self.listings[i].baseline && last.is_some_and(|l| l >= self.before);
        !(baseline && descent.before_pages < BASELINE_PAGES)
    }

    /// Redriven executions: a failed execution run again keeps its first start, so no list
    /// read near the top shows it, and `ListExecutions` takes no `redriveFilter` with a state
    /// machine's (alias's, version's) ARN. So the new version's failures are described again, a
    /// few at a time, those redriven (running again) first, then the longest unchecked: a
    /// redriven one counts once, by its latest outcome.
    async fn follow_redriven(&mut self) -> Result<()> {
        let mut due: Vec<(bool, u32, SystemTime, String)> = self
            .ledger
            .exact()
            .filter(|(_, s)| {
                s.side == Side::New && s.via_alias && s.start >= self.since && (s.failed() || s.redriving)
            })
            .map(|(arn, s)| {
                (!s.redriving, self.rechecked.get(arn).copied().unwrap_or(0), s.start, arn.clone())
            })
            .collect();
        due.sort();
        for (_, _, _, arn) in due.into_iter().take(FOLLOW_AT_MOST) {
            let out = self.describe(&arn).await?;
            self.ledger.described(&arn, out.status().clone(), out.stop_date().map(to_system));
            self.rechecked.insert(arn, self.reads);
        }
        Ok(())
    }

    /// The start of the oldest execution of the deploy still running (redriven ones aside:
    /// they are followed by themselves).
    fn oldest_running(&self) -> Option<SystemTime> {
        self.ledger
            .exact()
            .filter(|(_, s)| !s.finished() && !s.redriving && s.start >= self.since)
            .map(|(_, s)| s.start)
            .min()
    }

    /// Both versions' tallies, the new version's start order, and the duration check.
    fn reading(&mut self) -> Reading {
        let (mut new, _) = self.ledger.tally(Side::New, self.since);
        self.name_errors(&mut new);
        let (mut old, _) = self.ledger.tally(Side::Old, self.since);
        let (with_before, before_durations) = self.ledger.tally(Side::Old, self.before);
        let mut old_includes_before = false;
        if self.rules.compares() && old.finished < BASELINE_MIN && with_before.finished > old.finished {
            old = with_before;
            old_includes_before = true;
        }
        let old_p95 = before_durations.quantile(0.95);
        let durations =
            self.rules.max_duration_increase.and_then(|x| self.duration_check(x, &before_durations));
        let baseline = Baseline { have: before_durations.len(), need: reference_needed(self.rules.alpha()) };
        let order = Some(self.ledger.start_order(self.clock.now(), usual(&before_durations)));
        Reading { new, old, old_includes_before, durations, baseline, old_p95, order }
            .with_intervals(&self.rules)
    }

    /// The errors of the described failures, and the first of them as the example.
    fn name_errors(&self, t: &mut crate::gates::Tally) {
        let mut first: Option<(SystemTime, &String)> = None;
        for (arn, s) in self.ledger.exact() {
            let Some((error, _)) = self.described.get(arn) else { continue };
            if s.side != Side::New || !s.via_alias || !s.failed() || s.start < self.since {
                continue;
            }
            *t.errors.entry(error.clone()).or_default() += 1;
            if first.is_none_or(|(at, _)| s.start < at) {
                first = Some((s.start, arn));
            }
        }
        t.example = first.map(|(_, arn)| (arn.clone(), self.described[arn].1.clone()));
    }

    /// The new version's executions against the old median's upper bound plus `increase`%: the
    /// reference is fixed once the old version has as many finished executions as the
    /// confidence needs ([`reference_needed`]).
    fn duration_check(&mut self, increase: f64, old: &Durations) -> Option<DurationCheck> {
        let alpha = self.rules.alpha();
        if self.reference.is_none() && old.len() >= reference_needed(alpha) {
            self.reference = Some(old.clone());
        }
        let reference = self.reference.as_ref()?;
        let rank = stats::median_bound_rank(reference.len() as u64, alpha / 2.0)?;
        let limit = reference.nth(rank as usize, true)?.mul_f64(1.0 + increase / 100.0);
        let (settled, slower) = self.ledger.against(limit, self.clock.now());
        let spread = (reference.quantile(0.5)?, reference.quantile(0.9)?, reference.len());
        Some(DurationCheck { limit, settled, slower, old: spread })
    }

    /// Describes a few failed executions of the new version, once each, for their error and
    /// cause; then reads again as [`ExecutionGate::read`] would, without a call.
    pub async fn describe_failures(&mut self) -> Result<Reading> {
        let mut failed: Vec<(SystemTime, String)> = self
            .ledger
            .exact()
            .filter(|(_, s)| s.side == Side::New && s.via_alias && s.failed() && s.start >= self.since)
            .map(|(a, s)| (s.start, a.clone()))
            .collect();
        failed.sort();
        let wanted: Vec<String> = failed
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| !self.described.contains_key(a))
            .take(DESCRIBE_AT_MOST.saturating_sub(self.described.len()))
            .collect();
        for arn in wanted {
            let out = self.describe(&arn).await?;
            let error = out.error().unwrap_or(out.status().as_str()).to_string();
            self.described.insert(arn, (error, out.cause().unwrap_or_default().to_string()));
        }
        Ok(self.reading())
    }

    async fn describe(&self, arn: &str) -> Result<DescribeExecutionOutput> {
        let call = self.sfn.describe_execution().execution_arn(arn).send().await;
        call.aws_context(|| format!("describing execution {arn}"))
    }

    /// The new version's failed executions through the alias since the deploy began, oldest
    /// first, after one more read (what failed since the last one counts too).
    pub async fn failed_through_alias(&mut self) -> Vec<String> {
        self.new_since_deploy(|s| s.via_alias && s.failed()).await
    }

    /// The new version's executions since the deploy began that `keep` picks, oldest first:
    /// read afresh, or as last read when that fails.
    async fn new_since_deploy(&mut self, keep: impl Fn(&super::ledger::Seen) -> bool) -> Vec<String> {
        if let Err(e) = self.descend(0).await {
            tracing::warn!("could not read the new version's executions again: {e:#}");
        }
        let mut picked: Vec<(SystemTime, String)> = self
            .ledger
            .exact()
            .filter(|(_, s)| s.side == Side::New && s.start >= self.since && keep(s))
            .map(|(a, s)| (s.start, a.clone()))
            .collect();
        picked.sort();
        picked.into_iter().map(|(_, a)| a).collect()
    }

    pub fn alias_arn(&self) -> &str {
        &self.alias_arn
    }

    /// The old version: reruns start on it.
    pub fn old_version(&self) -> &str {
        &self.old
    }

    /// The new version's executions still running, through the alias or not (after a rollback
    /// they keep running it): read afresh, or as last read when that fails.
    pub async fn still_running(&mut self) -> Vec<String> {
        self.new_since_deploy(|s| !s.finished()).await
    }
}

/// How long the old version's executions usually take, at the most: twice its 99th percentile,
/// at least a second. A new execution running longer is taken for a failure until it ends, for a
/// pass (never for a rollback).
fn usual(old: &Durations) -> Option<Duration> {
    old.quantile(0.99).map(|p99| (p99 * 2).max(Duration::from_secs(1)))
}
