//! The gates of an EXPRESS workflow, which cannot be listed: its per-version `AWS/States`
//! metrics, best-effort and a minute or more late. No data is never taken for zero failures.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use super::{Reading, Rules, Tally};
use crate::arn::names_version;
use crate::aws::AwsResultExt;

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
    let get = |name: &str| dimensions.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    get("StateMachineArn") == Some(state_machine_arn)
        && get("Version").is_some_and(|v| names_version(v, version_arn))
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
        self.discover().await?;
        let mut queries = Vec::new();
        // Query id → (version, outcome): where each result's sum goes.
        let mut ids: HashMap<String, (usize, usize)> = HashMap::new();
        for (v, dims) in self.dimensions.iter().enumerate() {
            let Some(dims) = dims else { continue };
            for (m, (metric, _, _)) in OUTCOMES.iter().enumerate() {
                let id = format!("v{v}m{m}");
                ids.insert(id.clone(), (v, m));
                queries.push(sum_query(id, metric, dims));
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

/// The per-minute sum of one `AWS/States` metric with these dimensions.
fn sum_query(id: String, metric: &str, dims: &[(String, String)]) -> MetricDataQuery {
    let dimensions: Vec<Dimension> =
        dims.iter().map(|(n, val)| Dimension::builder().name(n).value(val).build()).collect();
    let metric = Metric::builder()
        .namespace("AWS/States")
        .metric_name(metric)
        .set_dimensions(Some(dimensions))
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(MetricStat::builder().metric(metric).period(60).stat("Sum").build())
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
    }
}
