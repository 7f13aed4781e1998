//! The gates of an EXPRESS workflow, which cannot be listed: its per-version `AWS/States`
//! metrics, best-effort and a minute or more late. No data is never taken for zero failures.
//!
//! The versions' metrics are read with the documented dimensions (`StateMachineArn` and the
//! version's number as `Version`) from the first read. `ListMetrics` can take up to 15 minutes to
//! list a new metric, so it only serves as a fallback, at most once a minute, to find other
//! spellings (a `Version` written as the version's ARN) while a version shows no data.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Metric, MetricDataQuery, MetricStat};

use super::{DurationCheck, REFERENCE_MIN, Reading, Rules, Tally};
use crate::arn::{names_version, version_number};
use crate::aws::AwsResultExt;
use crate::clock::ServerClock;

/// The AWS/States metrics of finished executions, and whether each counts as a failure.
const OUTCOMES: [(&str, &str, bool); 4] = [
    ("ExecutionsSucceeded", "SUCCEEDED", false),
    ("ExecutionsFailed", "FAILED", true),
    ("ExecutionsTimedOut", "TIMED_OUT", true),
    ("ExecutionsAborted", "ABORTED", true),
];

/// How often `ListMetrics` may look for other dimensions while a version has no data.
const DISCOVER_EVERY: Duration = Duration::from_secs(60);

type Dims = Vec<(String, String)>;

/// Whether a metric's dimensions are those of `version_arn` of `state_machine_arn`: a
/// `StateMachineArn` of the state machine and a `Version` that is its number or its ARN.
pub fn dimensions_match(dimensions: &[(String, String)], state_machine_arn: &str, version_arn: &str) -> bool {
    let get = |name: &str| dimensions.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    get("StateMachineArn") == Some(state_machine_arn)
        && get("Version").is_some_and(|v| names_version(v, version_arn))
}

/// The documented dimensions of a version's metrics.
fn documented(state_machine_arn: &str, version_arn: &str) -> Dims {
    let version = version_number(version_arn).map_or_else(|| version_arn.to_string(), |n| n.to_string());
    vec![("StateMachineArn".into(), state_machine_arn.into()), ("Version".into(), version)]
}

/// The gates of one deploy of an EXPRESS state machine, from CloudWatch metrics.
#[derive(Debug)]
pub struct MetricsGate {
    cloudwatch: aws_sdk_cloudwatch::Client,
    clock: ServerClock,
    state_machine_arn: String,
    pub rules: Rules,
    since: SystemTime,
    versions: [String; 2],
    /// The dimension sets to read for [new, old]: the documented one, then any found.
    dimensions: [Vec<Dims>; 2],
    /// When `ListMetrics` last looked for other dimensions.
    discovered_at: Option<tokio::time::Instant>,
    /// Where the window of the metrics read begins: the minute the deploy began, or, when the new
    /// version ran before its traffic (smoke runs, a pre-traffic hook), the next whole minute,
    /// which its runs before traffic cannot fall in.
    window: SystemTime,
    /// The old version's median duration over the hour before and how many it was drawn from.
    reference: Option<(Duration, u32)>,
}

/// One version's sums: per outcome, and its durations when asked.
#[derive(Debug, Default)]
struct Sums {
    outcomes: [f64; 4],
    data: bool,
}

impl MetricsGate {
    /// `ran_before`: the new version ran before its traffic moved (smoke runs, a pre-traffic
    /// hook), up to `since`.
    pub fn new(
        cloudwatch: &aws_sdk_cloudwatch::Client,
        clock: &ServerClock,
        state_machine_arn: &str,
        (old, new): (&str, &str),
        rules: Rules,
        (since, ran_before): (SystemTime, bool),
    ) -> Self {
        let window = window_start(since, ran_before);
        if ran_before {
            tracing::info!(
                "EXPRESS: the gates count the versions' AWS/States metrics from {}: the new version's own runs \
                 before its traffic (smoke runs, the pre-traffic hook) end before it",
                crate::text::rfc3339_seconds(window)
            );
        }
        MetricsGate {
            cloudwatch: cloudwatch.clone(),
            clock: clock.clone(),
            state_machine_arn: state_machine_arn.to_string(),
            rules,
            since,
            dimensions: [vec![documented(state_machine_arn, new)], vec![documented(state_machine_arn, old)]],
            versions: [new.to_string(), old.to_string()],
            discovered_at: None,
            window,
            reference: None,
        }
    }

    /// Looks for other spellings of the versions' dimensions (`ListMetrics`).
    async fn discover(&mut self) -> Result<()> {
        self.discovered_at = Some(tokio::time::Instant::now());
        let filter =
            DimensionFilter::builder().name("StateMachineArn").value(&self.state_machine_arn).build();
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
                let dims: Dims = metric
                    .dimensions()
                    .iter()
                    .map(|d| {
                        (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string())
                    })
                    .collect();
                for (i, version) in self.versions.iter().enumerate() {
                    let known = self.dimensions[i].iter().any(|d| same_dims(d, &dims));
                    if !known && dimensions_match(&dims, &self.state_machine_arn, version) {
                        self.dimensions[i].push(dims.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// Sums each outcome metric of both versions since the deploy began (from the start of its
    /// minute: metrics come by the minute).
    pub async fn read(&mut self) -> Result<Reading> {
        let mut sums = self.sums().await?;
        let quiet = sums.iter().any(|s| !s.data);
        if quiet && self.discovered_at.is_none_or(|at| at.elapsed() >= DISCOVER_EVERY) {
            let before = self.dimensions.iter().map(Vec::len).sum::<usize>();
            self.discover().await?;
            if self.dimensions.iter().map(Vec::len).sum::<usize>() > before {
                sums = self.sums().await?;
            }
        }
        let new = tally(&self.versions[0], &sums[0]);
        let mut reading = Reading::of(new, tally(&self.versions[1], &sums[1]));
        if let Some(increase) = self.rules.max_duration_increase {
            reading.durations = self.duration_check(increase).await?;
        }
        Ok(reading.with_intervals(&self.rules))
    }

    /// Per version: the sums of the first dimension set that has data.
    async fn sums(&self) -> Result<[Sums; 2]> {
        let mut queries = Vec::new();
        // Query id → (version, dimension set, outcome): where each result's sum goes.
        let mut ids: HashMap<String, (usize, usize, usize)> = HashMap::new();
        for (v, sets) in self.dimensions.iter().enumerate() {
            for (d, dims) in sets.iter().enumerate() {
                for (m, (metric, _, _)) in OUTCOMES.iter().enumerate() {
                    let id = format!("v{v}d{d}m{m}");
                    ids.insert(id.clone(), (v, d, m));
                    queries.push(query(id, metric, dims, "Sum", 60));
                }
            }
        }
        let results = self.metric_data(queries, self.window).await?;
        let mut by_set: HashMap<(usize, usize), Sums> = HashMap::new();
        for (id, values) in results {
            if let Some(&(v, d, m)) = ids.get(&id) {
                let sums = by_set.entry((v, d)).or_default();
                sums.outcomes[m] += values.iter().sum::<f64>();
                sums.data |= !values.is_empty();
            }
        }
        let mut pick = |v: usize| {
            (0..self.dimensions[v].len())
                .find_map(|d| by_set.remove(&(v, d)).filter(|s| s.data))
                .unwrap_or_default()
        };
        Ok([pick(0), pick(1)])
    }

    /// `GetMetricData` from `start` to a minute past now (AWS's time), every page: each
    /// query's values.
    async fn metric_data(
        &self,
        queries: Vec<MetricDataQuery>,
        start: SystemTime,
    ) -> Result<Vec<(String, Vec<f64>)>> {
        let end = self.clock.now() + Duration::from_secs(60);
        self.metric_data_between(queries, start, end).await
    }

    async fn metric_data_between(
        &self,
        queries: Vec<MetricDataQuery>,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Vec<(String, Vec<f64>)>> {
        use aws_sdk_cloudwatch::primitives::DateTime;
        let mut results = Vec::new();
        if queries.is_empty() {
            return Ok(results);
        }
        let mut pages = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(DateTime::from(start))
            .end_time(DateTime::from(end))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.aws_context(|| "reading the versions' metrics (cloudwatch:GetMetricData)")?;
            for r in page.metric_data_results() {
                results.push((r.id().unwrap_or_default().to_string(), r.values().to_vec()));
            }
        }
        Ok(results)
    }

    /// `--max-duration-increase` from the `ExecutionTime` metric: the old version's median over
    /// the hour before (`p50`), and the share of the new version's executions since the deploy
    /// began above that plus the increase (percentile rank, `PR(:limit)`).
    async fn duration_check(&mut self, increase: f64) -> Result<Option<DurationCheck>> {
        let old_dims = self.dimensions[1][0].clone();
        if self.reference.is_none() {
            let queries = vec![
                query("p50".into(), "ExecutionTime", &old_dims, "p50", 3600),
                query("n".into(), "ExecutionTime", &old_dims, "SampleCount", 3600),
            ];
            let from = self.since.checked_sub(Duration::from_secs(3600)).unwrap_or(self.since);
            let results = self.metric_data_between(queries, from, self.since).await?;
            let value =
                |id: &str| results.iter().find(|(i, _)| i == id).and_then(|(_, v)| v.first().copied());
            if let (Some(median), Some(n)) = (value("p50"), value("n"))
                && n >= REFERENCE_MIN as f64
            {
                self.reference = Some((Duration::from_secs_f64(median.max(0.0) / 1000.0), n as u32));
            }
        }
        let Some((median, n)) = self.reference else { return Ok(None) };
        let limit = median.mul_f64(1.0 + increase / 100.0);
        let new_dims = self.dimensions[0][0].clone();
        let rank = format!("PR(:{})", limit.as_millis());
        let window = self.clock.now().duration_since(self.window).unwrap_or_default();
        let period = (window.as_secs() / 60 + 2) * 60;
        let queries = vec![
            query("pr".into(), "ExecutionTime", &new_dims, &rank, period as i32),
            query("n".into(), "ExecutionTime", &new_dims, "SampleCount", period as i32),
        ];
        let results = self.metric_data(queries, self.window).await?;
        let sum = |id: &str| -> f64 { results.iter().filter(|(i, _)| i == id).flat_map(|(_, v)| v).sum() };
        let settled = sum("n").round() as u32;
        let within = (sum("pr") / 100.0 * f64::from(settled)).round() as u32;
        Ok(Some(DurationCheck {
            limit,
            settled,
            slower: settled.saturating_sub(within),
            old: (median, median, n as usize),
        }))
    }
}

/// A version's tally from its outcome sums.
fn tally(version: &str, sums: &Sums) -> Tally {
    let mut t = Tally { version: version.to_string(), ..Tally::default() };
    for (m, (_, name, failure)) in OUTCOMES.iter().enumerate() {
        let n = sums.outcomes[m].max(0.0).round() as u32;
        t.finished += n;
        if *failure && n > 0 {
            t.failed += n;
            t.errors.insert((*name).to_string(), n);
        }
    }
    t
}

fn same_dims(a: &Dims, b: &Dims) -> bool {
    let mut a = a.clone();
    let mut b = b.clone();
    a.sort();
    b.sort();
    a == b
}

/// Where the metrics window of a deploy that began at `since` starts: its minute, or, when the
/// new version ran before its traffic, the next minute.
fn window_start(since: SystemTime, ran_before: bool) -> SystemTime {
    let floor = minute_floor(since);
    if ran_before && floor < since { floor + Duration::from_secs(60) } else { floor }
}

/// The start of `t`'s minute.
fn minute_floor(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs / 60 * 60)
}

/// One statistic of one `AWS/States` metric with these dimensions, per `period` seconds.
fn query(id: String, metric: &str, dims: &[(String, String)], stat: &str, period: i32) -> MetricDataQuery {
    let dimensions: Vec<Dimension> =
        dims.iter().map(|(n, val)| Dimension::builder().name(n).value(val).build()).collect();
    let metric = Metric::builder()
        .namespace("AWS/States")
        .metric_name(metric)
        .set_dimensions(Some(dimensions))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(MetricStat::builder().metric(metric).period(period).stat(stat).build())
        .build()
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
        assert_eq!(documented(sm, &v7), dims("7"), "read straight away, no ListMetrics first");
    }

    #[test]
    fn windows_start_on_the_minute() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_059);
        assert_eq!(minute_floor(t), SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    }

    #[test]
    fn runs_before_traffic_never_fall_in_the_window() {
        let minute = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let since = minute + Duration::from_secs(30);
        // A pre-traffic hook ran the new version at :20; its traffic begins at :30.
        assert_eq!(window_start(since, false), minute);
        assert_eq!(window_start(since, true), minute + Duration::from_secs(60), "past the hook's runs");
        assert_eq!(window_start(minute, true), minute, "on the minute: nothing before it");
    }
}
