//! CloudWatch alarms watched during a deploy: metric and composite alike, any number of them.

use std::collections::HashMap;
use std::fmt;

use anyhow::Result;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

use crate::aws::AwsResultExt;

/// `DescribeAlarms` takes at most 100 names per call.
const NAMES_PER_CALL: usize = 100;

/// One alarm's state as last read (its JSON: `{"name": ..., "state": "OK", "composite": false}`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AlarmState {
    pub name: String,
    pub state: String,
    pub composite: bool,
}

impl AlarmState {
    pub fn firing(&self) -> bool {
        self.state == StateValue::Alarm.as_str()
    }

    /// INSUFFICIENT_DATA: the metric has no data (often: no traffic), so the alarm cannot fire.
    pub fn without_data(&self) -> bool {
        self.state == StateValue::InsufficientData.as_str()
    }
}

/// The warning for alarms that cannot fire for want of data, if any.
pub fn without_data_warning(states: &[AlarmState]) -> Option<String> {
    let names: Vec<String> =
        states.iter().filter(|a| a.without_data()).map(|a| format!("'{}'", a.name)).collect();
    (!names.is_empty()).then(|| {
        format!(
            "{} {} in INSUFFICIENT_DATA: {} cannot fire until {} metric has data, so {} guards nothing yet",
            if names.len() == 1 { "alarm" } else { "alarms" },
            names.join(", "),
            if names.len() == 1 { "it" } else { "they" },
            if names.len() == 1 { "its" } else { "their" },
            if names.len() == 1 { "it" } else { "none of them" },
        )
    })
}

/// The alarms named on the command line, read together.
#[derive(Clone, Debug)]
pub struct AlarmChecker {
    cloudwatch: Client,
    names: Vec<String>,
}

/// The result of one read: every named alarm that exists, with its own state, and the names
/// CloudWatch does not know (deleted, or never created).
#[derive(Clone, Debug, Default)]
pub struct AlarmReport {
    pub states: Vec<AlarmState>,
    pub missing: Vec<String>,
}

impl AlarmReport {
    /// Names of alarms in ALARM.
    pub fn firing(&self) -> Vec<String> {
        self.states.iter().filter(|a| a.firing()).map(|a| a.name.clone()).collect()
    }
}

impl fmt::Display for AlarmReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.states.iter().map(|a| format!("{}={}", a.name, a.state)).collect();
        f.write_str(&parts.join(", "))
    }
}

impl AlarmChecker {
    pub fn new(cloudwatch: &Client, names: &[String]) -> Self {
        AlarmChecker { cloudwatch: cloudwatch.clone(), names: names.to_vec() }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Reads every named alarm: 100 names per call, all pages, both alarm types. Each alarm is
    /// judged by its own state: no server-side `StateValue` filter, which emulators ignore.
    pub async fn read(&self) -> Result<AlarmReport> {
        let mut found: HashMap<String, AlarmState> = HashMap::new();
        for batch in self.names.chunks(NAMES_PER_CALL) {
            let mut pages = self
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(batch.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .max_records(100)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.aws_context(|| "reading CloudWatch alarms")?;
                let metric = page.metric_alarms().iter().map(|a| (a.alarm_name(), a.state_value(), false));
                let composite =
                    page.composite_alarms().iter().map(|a| (a.alarm_name(), a.state_value(), true));
                for (name, state, composite) in metric.chain(composite) {
                    let (Some(name), Some(state)) = (name, state) else {
                        continue;
                    };
                    if batch.iter().any(|n| n == name) {
                        found.insert(
                            name.to_string(),
                            AlarmState {
                                name: name.to_string(),
                                state: state.as_str().to_string(),
                                composite,
                            },
                        );
                    }
                }
            }
        }
        // Report in the order the user named them.
        let mut report = AlarmReport::default();
        for name in &self.names {
            match found.remove(name) {
                Some(state) => report.states.push(state),
                None => report.missing.push(name.clone()),
            }
        }
        Ok(report)
    }
}
