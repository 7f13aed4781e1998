//! Health gates on the new version's own executions: Step Functions records, for every execution
//! started through an alias, the version that ran it. The gates count the new version's finished
//! executions that came through the alias since the deploy began, and their failures, beside
//! the old version's over the same time.
//!
//! STANDARD workflows are listed by version ARN (`ListExecutions`, exact and immediate). Only
//! executions not seen yet are paged through: one call per poll and version when nothing is new.
//! EXPRESS workflows cannot be listed: their per-version `AWS/States` metrics are read instead
//! (best-effort and a minute or more late; no data is never taken for zero failures).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::ExecutionStatus;

use crate::alias::short_version;
use crate::aws::AwsResultExt;

/// The gate flags.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rules {
    /// `--max-failure-rate`, percent.
    pub max_failure_rate: Option<f64>,
    /// `--max-failure-rate-increase`, percentage points over the old version.
    pub max_increase: Option<f64>,
    /// `--min-executions`.
    pub min_executions: u32,
    /// `--max-extension`: how much longer a hold may wait for `min_executions`.
    pub max_extension: Duration,
}

impl Rules {
    /// Whether any gate is on.
    pub fn any(&self) -> bool {
        self.max_failure_rate.is_some() || self.max_increase.is_some() || self.min_executions > 0
    }
}

/// At most this many failed executions are described (for their error and cause) per version.
const DESCRIBE_AT_MOST: usize = 5;

/// When the old version has fewer finished executions than this since the deploy began, its
/// executions of the hour before count too.
const BASELINE_MIN: u32 = 10;
const BASELINE_BEFORE: Duration = Duration::from_secs(3600);

/// One version's finished executions through the alias, as counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub version: String,
    pub finished: u32,
    pub failed: u32,
    pub running: u32,
    /// Error names of the failures described, with counts.
    pub errors: BTreeMap<String, u32>,
    /// One failed execution: its ARN and cause.
    pub example: Option<(String, String)>,
}

impl Tally {
    /// The failure rate in percent, if anything finished.
    pub fn rate(&self) -> Option<f64> {
        (self.finished > 0).then(|| f64::from(self.failed) * 100.0 / f64::from(self.finished))
    }
}

impl fmt::Display for Tally {
    /// `v7: 4 of 12 failed (33%): Boom x3, States.Timeout x1 (arn:...:exec-1: cause)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} of {} failed", short_version(&self.version), self.failed, self.finished)?;
        if let Some(rate) = self.rate() {
            write!(f, " ({rate:.0}%)")?;
        }
        if !self.errors.is_empty() {
            let errors: Vec<String> = self.errors.iter().map(|(e, n)| format!("{e} x{n}")).collect();
            write!(f, ": {}", errors.join(", "))?;
        }
        if let Some((arn, cause)) = &self.example {
            if cause.is_empty() { write!(f, " ({arn})")? } else { write!(f, " ({arn}: {cause})")? }
        }
        Ok(())
    }
}

/// One read of the gates.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub new: Tally,
    pub old: Tally,
    /// The old version's tally reaches back before the deploy (too few during it).
    pub old_includes_before: bool,
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.new, self.old)?;
        if self.old_includes_before {
            f.write_str(" (with the hour before the deploy)")?;
        }
        Ok(())
    }
}

/// What a reading says.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    /// Roll back: the evidence.
    Fail(String),
    /// Not enough finished executions yet to go on.
    TooFew {
        have: u32,
        need: u32,
    },
}

/// Judges a reading by the rules. Failures count at once (a canary that fails every execution
/// rolls back at its first failure); too little data is never a pass for moving on.
pub fn judge(rules: &Rules, reading: &Reading) -> Verdict {
    let new_rate = reading.new.rate();
    if let (Some(max), Some(rate)) = (rules.max_failure_rate, new_rate)
        && rate > max
    {
        return Verdict::Fail(format!(
            "failure rate {rate:.1}% is over --max-failure-rate {max}%: {reading}"
        ));
    }
    if let (Some(max), Some(rate)) = (rules.max_increase, new_rate) {
        let old_rate = reading.old.rate().unwrap_or(0.0);
        if rate - old_rate > max {
            return Verdict::Fail(format!(
                "failure rate {rate:.1}% is {:.1} points over the old version's {old_rate:.1}%, more than \
                 --max-failure-rate-increase {max}: {reading}",
                rate - old_rate
            ));
        }
    }
    if reading.new.finished < rules.min_executions {
        return Verdict::TooFew { have: reading.new.finished, need: rules.min_executions };
    }
    Verdict::Pass
}

#[derive(Clone, Debug)]
struct Seen {
    start: SystemTime,
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
}

/// The executions of one version seen so far.
#[derive(Debug)]
struct VersionLog {
    version: String,
    /// Executions started before this are not read.
    from: SystemTime,
    seen: HashMap<String, Seen>,
    described: HashMap<String, (String, String)>,
}

impl VersionLog {
    fn new(version: &str, from: SystemTime) -> Self {
        VersionLog { version: version.to_string(), from, seen: HashMap::new(), described: HashMap::new() }
    }

    /// Reads what changed: pages newest first down to the oldest execution still running when
    /// last seen, or to the first already finished one, or to `from`.
    async fn refresh(&mut self, sfn: &Client, alias_arn: &str) -> Result<()> {
        let oldest_running = self.seen.values().filter(|s| !s.finished()).map(|s| s.start).min();
        let mut token = None;
        'pages: loop {
            let page = sfn
                .list_executions()
                .state_machine_arn(&self.version)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .aws_context(|| format!("listing the executions of {}", short_version(&self.version)))?;
            for item in page.executions() {
                let start = SystemTime::try_from(*item.start_date()).unwrap_or(SystemTime::UNIX_EPOCH);
                if start < self.from {
                    break 'pages;
                }
                let arn = item.execution_arn();
                let known_finished = self.seen.get(arn).is_some_and(Seen::finished);
                if known_finished && oldest_running.is_none_or(|r| start < r) {
                    break 'pages;
                }
                self.seen.insert(
                    arn.to_string(),
                    Seen {
                        start,
                        status: item.status().clone(),
                        via_alias: item.state_machine_alias_arn() == Some(alias_arn),
                    },
                );
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Describes a few failed executions through the alias, once each, for their error and cause.
    async fn describe_failures(&mut self, sfn: &Client, since: SystemTime) -> Result<()> {
        let mut failed: Vec<(&String, &Seen)> =
            self.seen.iter().filter(|(_, s)| s.via_alias && s.failed() && s.start >= since).collect();
        failed.sort_by_key(|(_, s)| s.start);
        let wanted: Vec<String> = failed
            .into_iter()
            .map(|(a, _)| a.clone())
            .filter(|a| !self.described.contains_key(a))
            .take(DESCRIBE_AT_MOST.saturating_sub(self.described.len()))
            .collect();
        for arn in wanted {
            let out = sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .aws_context(|| format!("describing execution {arn}"))?;
            let error = out.error().unwrap_or(out.status().as_str()).to_string();
            self.described.insert(arn, (error, out.cause().unwrap_or_default().to_string()));
        }
        Ok(())
    }

    /// The tally of executions through the alias started at or after `since`.
    fn tally(&self, since: SystemTime) -> Tally {
        let mut t = Tally { version: self.version.clone(), ..Tally::default() };
        let mut first_failure: Option<(SystemTime, &String)> = None;
        for (arn, s) in &self.seen {
            if !s.via_alias || s.start < since {
                continue;
            }
            if !s.finished() {
                t.running += 1;
                continue;
            }
            t.finished += 1;
            if s.failed() {
                t.failed += 1;
                if let Some((error, _)) = self.described.get(arn) {
                    *t.errors.entry(error.clone()).or_default() += 1;
                }
                if first_failure.is_none_or(|(at, _)| s.start < at) && self.described.contains_key(arn) {
                    first_failure = Some((s.start, arn));
                }
            }
        }
        t.example = first_failure.map(|(_, arn)| (arn.clone(), self.described[arn].1.clone()));
        t
    }

    /// Executions of this version still running, through the alias or not.
    fn running(&self) -> Vec<String> {
        let mut running: Vec<(&SystemTime, &String)> =
            self.seen.iter().filter(|(_, s)| !s.finished()).map(|(a, s)| (&s.start, a)).collect();
        running.sort();
        running.into_iter().map(|(_, a)| a.clone()).collect()
    }
}

/// The gates of one deploy (STANDARD workflows).
#[derive(Debug)]
pub struct ExecutionGate {
    sfn: Client,
    alias_arn: String,
    pub rules: Rules,
    since: SystemTime,
    new: VersionLog,
    old: VersionLog,
}

impl ExecutionGate {
    /// Gates for a deploy from `old` to `new` through `alias_arn` that began at `since`.
    pub fn new(sfn: &Client, alias_arn: &str, old: &str, new: &str, rules: Rules, since: SystemTime) -> Self {
        let before = since.checked_sub(BASELINE_BEFORE).unwrap_or(since);
        let old = VersionLog::new(old, if rules.max_increase.is_some() { before } else { since });
        ExecutionGate {
            sfn: sfn.clone(),
            alias_arn: alias_arn.to_string(),
            rules,
            since,
            new: VersionLog::new(new, since),
            old,
        }
    }

    /// Reads both versions' executions (only what is new) and tallies them.
    pub async fn read(&mut self) -> Result<Reading> {
        self.new.refresh(&self.sfn, &self.alias_arn).await?;
        self.new.describe_failures(&self.sfn, self.since).await?;
        self.old.refresh(&self.sfn, &self.alias_arn).await?;
        let new = self.new.tally(self.since);
        let mut old = self.old.tally(self.since);
        let mut old_includes_before = false;
        if self.rules.max_increase.is_some() && old.finished < BASELINE_MIN {
            old = self.old.tally(self.old.from);
            old_includes_before = self.old.from < self.since;
        }
        Ok(Reading { new, old, old_includes_before })
    }

    /// The new version's executions still running (after a rollback they keep running it):
    /// read afresh, or as last read when that fails.
    pub async fn still_running(&mut self) -> Vec<String> {
        if let Err(e) = self.new.refresh(&self.sfn, &self.alias_arn).await {
            tracing::warn!("could not read the new version's executions again: {e:#}");
        }
        self.new.running()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(version: &str, finished: u32, failed: u32) -> Tally {
        Tally { version: format!("sm:{version}"), finished, failed, ..Tally::default() }
    }

    #[test]
    fn the_rules_judge_rates_increases_and_too_little_data() {
        let rules = |rate: Option<f64>, increase: Option<f64>, min: u32| Rules {
            max_failure_rate: rate,
            max_increase: increase,
            min_executions: min,
            max_extension: Duration::ZERO,
        };
        let reading = |new: Tally, old: Tally| Reading { new, old, old_includes_before: false };
        let r = reading(tally("7", 12, 4), tally("6", 31, 0));
        assert!(matches!(judge(&rules(Some(10.0), None, 0), &r), Verdict::Fail(e) if e.contains("33.3%")));
        assert_eq!(judge(&rules(Some(50.0), None, 0), &r), Verdict::Pass);
        // Both failing alike: no increase.
        let alike = reading(tally("7", 10, 5), tally("6", 40, 20));
        assert_eq!(judge(&rules(None, Some(10.0), 0), &alike), Verdict::Pass);
        assert!(matches!(judge(&rules(None, Some(10.0), 0), &r), Verdict::Fail(e) if e.contains("points")));
        // Too few: never a pass.
        let few = reading(tally("7", 2, 0), tally("6", 0, 0));
        assert_eq!(judge(&rules(Some(10.0), None, 5), &few), Verdict::TooFew { have: 2, need: 5 });
        // No data at all is not zero failures, and not a failure either.
        let none = reading(tally("7", 0, 0), tally("6", 0, 0));
        assert_eq!(judge(&rules(Some(0.0), Some(0.0), 1), &none), Verdict::TooFew { have: 0, need: 1 });
    }

    #[test]
    fn a_tally_names_the_evidence() {
        let mut t = tally("arn:aws:states:us-east-1:1:stateMachine:sm:7", 12, 4);
        t.version = "arn:aws:states:us-east-1:1:stateMachine:sm:7".into();
        t.errors.insert("Boom".into(), 3);
        t.errors.insert("States.Timeout".into(), 1);
        t.example = Some(("arn:exec-1".into(), "it broke".into()));
        assert_eq!(
            t.to_string(),
            "v7: 4 of 12 failed (33%): Boom x3, States.Timeout x1 (arn:exec-1: it broke)"
        );
    }
}

/// The AWS/States metrics of finished executions, and whether each counts as a failure.
const OUTCOMES: [(&str, &str, bool); 4] = [
    ("ExecutionsSucceeded", "SUCCEEDED", false),
    ("ExecutionsFailed", "FAILED", true),
    ("ExecutionsTimedOut", "TIMED_OUT", true),
    ("ExecutionsAborted", "ABORTED", true),
];

/// Whether a metric's dimensions are those of `version_arn` of `state_machine_arn`: a
/// `StateMachineArn` of the state machine and a `Version` that is its number or its ARN.
pub fn dimensions_match(dimensions: &[(String, String)], state_machine_arn: &str, version_arn: &str) -> bool {
    let number = version_arn.rsplit(':').next().unwrap_or_default();
    let get = |name: &str| dimensions.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    get("StateMachineArn") == Some(state_machine_arn)
        && get("Version").is_some_and(|v| v == number || v == version_arn)
}

/// The gates of one deploy of an EXPRESS state machine, from CloudWatch metrics.
#[derive(Debug)]
pub struct MetricsGate {
    cloudwatch: aws_sdk_cloudwatch::Client,
    state_machine_arn: String,
    pub rules: Rules,
    since: SystemTime,
    versions: [String; 2],
    /// The exact dimensions found for [new, old], once found.
    dimensions: [Option<Vec<(String, String)>>; 2],
}

impl MetricsGate {
    pub fn new(
        cloudwatch: &aws_sdk_cloudwatch::Client,
        state_machine_arn: &str,
        old: &str,
        new: &str,
        rules: Rules,
        since: SystemTime,
    ) -> Self {
        MetricsGate {
            cloudwatch: cloudwatch.clone(),
            state_machine_arn: state_machine_arn.to_string(),
            rules,
            since,
            versions: [new.to_string(), old.to_string()],
            dimensions: [None, None],
        }
    }

    /// Finds the versions' metric dimensions (`ListMetrics`) until found: a version's metrics
    /// appear only once it has run.
    async fn discover(&mut self) -> Result<()> {
        if self.dimensions.iter().all(Option::is_some) {
            return Ok(());
        }
        let filter = aws_sdk_cloudwatch::types::DimensionFilter::builder()
            .name("StateMachineArn")
            .value(&self.state_machine_arn)
            .build();
        let mut pages = self
            .cloudwatch
            .list_metrics()
            .namespace("AWS/States")
            .metric_name("ExecutionsStarted")
            .dimensions(filter)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.aws_context(|| "finding the versions' metrics (cloudwatch:ListMetrics)")?;
            for metric in page.metrics() {
                let dims: Vec<(String, String)> = metric
                    .dimensions()
                    .iter()
                    .map(|d| {
                        (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string())
                    })
                    .collect();
                for (i, version) in self.versions.iter().enumerate() {
                    if self.dimensions[i].is_none()
                        && dimensions_match(&dims, &self.state_machine_arn, version)
                    {
                        self.dimensions[i] = Some(dims.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// Sums each outcome metric of both versions since the deploy began (from the start of its
    /// minute: metrics come by the minute).
    pub async fn read(&mut self) -> Result<Reading> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        self.discover().await?;
        let mut queries = Vec::new();
        // Query id → (version, outcome): where each result's sum goes.
        let mut ids: HashMap<String, (usize, usize)> = HashMap::new();
        for (v, dims) in self.dimensions.iter().enumerate() {
            let Some(dims) = dims else { continue };
            for (m, (metric, _, _)) in OUTCOMES.iter().enumerate() {
                let dimensions: Vec<Dimension> =
                    dims.iter().map(|(n, val)| Dimension::builder().name(n).value(val).build()).collect();
                let id = format!("v{v}m{m}");
                ids.insert(id.clone(), (v, m));
                queries.push(
                    MetricDataQuery::builder()
                        .id(id)
                        .metric_stat(
                            MetricStat::builder()
                                .metric(
                                    Metric::builder()
                                        .namespace("AWS/States")
                                        .metric_name(*metric)
                                        .set_dimensions(Some(dimensions))
                                        .build(),
                                )
                                .period(60)
                                .stat("Sum")
                                .build(),
                        )
                        .build(),
                );
            }
        }
        let mut sums = [[0.0f64; 4]; 2];
        if !queries.is_empty() {
            let minute =
                self.since.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() / 60 * 60;
            let start = SystemTime::UNIX_EPOCH + Duration::from_secs(minute);
            let end = SystemTime::now() + Duration::from_secs(60);
            let mut pages = self
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries))
                .start_time(aws_sdk_cloudwatch::primitives::DateTime::from(start))
                .end_time(aws_sdk_cloudwatch::primitives::DateTime::from(end))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.aws_context(|| "reading the versions' metrics (cloudwatch:GetMetricData)")?;
                for result in page.metric_data_results() {
                    if let Some(&(v, m)) = ids.get(result.id().unwrap_or_default()) {
                        sums[v][m] += result.values().iter().sum::<f64>();
                    }
                }
            }
        }
        let tally = |v: usize| {
            let mut t = Tally { version: self.versions[v].clone(), ..Tally::default() };
            for (m, (_, name, failure)) in OUTCOMES.iter().enumerate() {
                let n = sums[v][m].max(0.0).round() as u32;
                t.finished += n;
                if *failure && n > 0 {
                    t.failed += n;
                    t.errors.insert((*name).to_string(), n);
                }
            }
            t
        };
        Ok(Reading { new: tally(0), old: tally(1), old_includes_before: false })
    }
}

/// The gates of a deploy: by listing executions (STANDARD) or by metrics (EXPRESS).
#[derive(Debug)]
pub enum Gate {
    Executions(ExecutionGate),
    Metrics(MetricsGate),
}

impl Gate {
    pub fn rules(&self) -> &Rules {
        match self {
            Gate::Executions(g) => &g.rules,
            Gate::Metrics(g) => &g.rules,
        }
    }

    pub async fn read(&mut self) -> Result<Reading> {
        match self {
            Gate::Executions(g) => g.read().await,
            Gate::Metrics(g) => g.read().await,
        }
    }

    /// The new version's executions still running (EXPRESS ones cannot be listed).
    pub async fn still_running(&mut self) -> Vec<String> {
        match self {
            Gate::Executions(g) => g.still_running().await,
            Gate::Metrics(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod metric_tests {
    use super::*;

    #[test]
    fn version_dimensions_are_matched_by_number_or_arn() {
        let sm = "arn:aws:states:us-east-1:1:stateMachine:orders";
        let v7 = format!("{sm}:7");
        let dims = |version: &str| {
            vec![
                ("StateMachineArn".to_string(), sm.to_string()),
                ("Version".to_string(), version.to_string()),
            ]
        };
        assert!(dimensions_match(&dims("7"), sm, &v7));
        assert!(dimensions_match(&dims(&v7), sm, &v7));
        assert!(!dimensions_match(&dims("17"), sm, &v7));
        assert!(
            !dimensions_match(&[("StateMachineArn".into(), sm.into())], sm, &v7),
            "no Version: the whole state machine"
        );
        let other =
            vec![("StateMachineArn".to_string(), format!("{sm}2")), ("Version".to_string(), "7".to_string())];
        assert!(!dimensions_match(&other, sm, &v7));
    }
}
