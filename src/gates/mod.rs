//! Health signals and the verdicts drawn from them: CloudWatch alarms ([`alarms`]), and health
//! gates on the new version's own executions: Step Functions records, for every execution
//! started through an alias, the version that ran it. The gates count the new version's finished
//! executions that came through the alias since the deploy began, and their failures, beside the
//! old version's over the same time.
//!
//! STANDARD workflows are listed ([`executions`]); EXPRESS workflows cannot be, and their
//! per-version `AWS/States` metrics are read instead ([`metrics`]). Either way a reading is a
//! [`Reading`], and [`judge`] alone decides what it means.

pub mod alarms;
pub mod durations;
pub mod executions;
mod judge;
pub mod ledger;
pub mod metrics;
mod reading;
pub mod rerun;
pub mod stats;
mod traffic;

use std::time::Duration;

use anyhow::Result;

pub use executions::ExecutionGate;
pub use judge::{Verdict, judge, leans_to_fail, reference_needed};
pub use metrics::MetricsGate;
pub use reading::{Baseline, DurationCheck, Interval, Reading, StartOrder, Tally};
pub use traffic::recent_traffic;

/// The gate flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rules {
    /// `--max-failure-rate`, percent.
    pub max_failure_rate: Option<f64>,
    /// `--max-failure-rate-increase`, percentage points over the old version.
    pub max_increase: Option<f64>,
    /// `--max-duration-increase`, percent slower than the old version.
    pub max_duration_increase: Option<f64>,
    /// `--min-executions`.
    pub min_executions: u32,
    /// `--max-extension`: how much longer a hold may wait for evidence.
    pub max_extension: Duration,
    /// Whether `--max-extension` was given; if not, the extension also covers the new
    /// version's executions still running (the old version's p95 duration and a poll).
    pub extension_given: bool,
    /// `--confidence`, percent: for the whole run.
    pub confidence: f64,
    /// How many tests share the run's confidence: each gate on, in each member. A wrong
    /// rollback by any of them is a wrong rollback of the run.
    pub split: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            max_failure_rate: None,
            max_increase: None,
            max_duration_increase: None,
            min_executions: 0,
            max_extension: Duration::ZERO,
            extension_given: false,
            confidence: DEFAULT_CONFIDENCE,
            split: 1,
        }
    }
}

/// `--confidence` unless given.
pub const DEFAULT_CONFIDENCE: f64 = 95.0;

impl Rules {
    /// Whether any gate is on.
    pub fn any(&self) -> bool {
        self.max_failure_rate.is_some()
            || self.max_increase.is_some()
            || self.max_duration_increase.is_some()
            || self.min_executions > 0
    }

    /// The chance of a wrong rollback each test may take: the run's (0.05 for 95%) shared by
    /// the tests of the run, so that together they take no more than the run's.
    pub fn alpha(&self) -> f64 {
        (1.0 - self.confidence / 100.0).clamp(1e-9, 0.5) / f64::from(self.split.max(1))
    }

    /// How many tests the gates on make (each is one test of the run's confidence).
    pub fn tests(&self) -> u32 {
        [self.max_failure_rate.is_some(), self.max_increase.is_some(), self.max_duration_increase.is_some()]
            .into_iter()
            .map(u32::from)
            .sum()
    }

    /// Whether the gates compare with the old version (and so want its baseline).
    pub fn compares(&self) -> bool {
        self.max_increase.is_some() || self.max_duration_increase.is_some()
    }
}

/// The least old-version executions a duration baseline rests on (see [`reference_needed`]).
pub const REFERENCE_MIN: usize = 10;

/// The gates of a deploy: by listing executions (STANDARD) or by metrics (EXPRESS).
#[derive(Debug)]
pub enum Gate {
    Executions(Box<ExecutionGate>),
    Metrics(Box<MetricsGate>),
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

    /// `--rerun-failed`: the new version's failed executions through the alias started again on
    /// the old version (see [`rerun`]) with `sfn` (a client that retries: the names make
    /// retries safe), as `limits` allow. None for EXPRESS (refused before any change).
    pub async fn rerun_failed(
        &mut self,
        sfn: &aws_sdk_sfn::Client,
        limits: rerun::RerunLimits,
    ) -> Option<Vec<rerun::Rerun>> {
        match self {
            Gate::Executions(g) => {
                let failed = g.failed_through_alias().await;
                Some(rerun::rerun(sfn, g.old_version(), &failed, limits).await)
            }
            Gate::Metrics(_) => None,
        }
    }

    /// The new version's executions still running (EXPRESS ones cannot be listed).
    pub async fn still_running(&mut self) -> Vec<String> {
        match self {
            Gate::Executions(g) => g.still_running().await,
            Gate::Metrics(_) => Vec::new(),
        }
    }

    /// The reading again, with a few failed executions described (error, cause): the evidence,
    /// gathered once the rollback no longer waits on it. None where there is nothing to
    /// describe (EXPRESS).
    pub async fn describe_failures(&mut self) -> Result<Option<Reading>> {
        match self {
            Gate::Executions(g) => g.describe_failures().await.map(Some),
            Gate::Metrics(_) => Ok(None),
        }
    }
}
