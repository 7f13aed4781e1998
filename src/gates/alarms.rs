//! CloudWatch alarms watched during a deploy: metric and composite alike, any number of them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::SystemTime;

use anyhow::Result;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};

use crate::aws::AwsResultExt;
use crate::exit_code::{ExitCode, Failure};

/// `DescribeAlarms` takes at most 100 names per call.
const NAMES_PER_CALL: usize = 100;

/// One alarm's state as last read (its JSON: `{"name": ..., "state": "OK", "composite": false}`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AlarmState {
    pub name: String,
    pub state: String,
    pub composite: bool,
    /// When it last changed state (CloudWatch's `StateTransitionedTimestamp`), if said.
    #[serde(skip)]
    pub transitioned: Option<SystemTime>,
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
            "{} {} in INSUFFICIENT_DATA: {} cannot fire until {} metric has data, so {} yet",
            if names.len() == 1 { "alarm" } else { "alarms" },
            names.join(", "),
            if names.len() == 1 { "it" } else { "they" },
            if names.len() == 1 { "its" } else { "their" },
            if names.len() == 1 { "it guards nothing" } else { "none of them guards anything" },
        )
    })
}

/// The alarms named on the command line, read together: in one place, or in each target of a
/// release in waves (each name then carries its target: `errors@us-east-1:111111111111`).
#[derive(Clone, Debug, Default)]
pub struct AlarmChecker {
    sources: Vec<Source>,
}

/// The alarms of one region and account.
#[derive(Clone, Debug)]
struct Source {
    cloudwatch: Client,
    names: Vec<String>,
    /// The target's name (`us-east-1:111111111111`), in a release in waves.
    place: Option<String>,
}

/// The result of one read: every named alarm that exists, with its own state, and the names
/// CloudWatch does not know (deleted, or never created).
#[derive(Clone, Debug, Default)]
pub struct AlarmReport {
    pub states: Vec<AlarmState>,
    pub missing: Vec<String>,
}

impl AlarmReport {
    /// Every alarm named exists, before any change: one CloudWatch does not have refuses.
    pub fn all_found(&self) -> Result<()> {
        if self.missing.is_empty() {
            return Ok(());
        }
        Err(Failure::err(
            ExitCode::Failure,
            format!(
                "CloudWatch has no alarm named {}: check --alarms and the region; nothing was changed",
                crate::text::quoted_names(&self.missing)
            ),
        ))
    }

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

/// `--allow-firing`: alarms that may be in ALARM when the deploy begins (the fix for what they
/// report). One is tolerated while it stays in the ALARM it was in at the first read; once it
/// has been seen out of ALARM, or CloudWatch's `StateTransitionedTimestamp` is later than at
/// that read (it went OK and back between two reads), ALARM is a new transition and counts as
/// any alarm's. AWS's own timestamps against each other: no clock of ours is involved.
#[derive(Clone, Debug, Default)]
pub struct Allowed {
    names: Vec<String>,
    /// Each one's transition time at the first read (None inside: CloudWatch did not say).
    first: HashMap<String, Option<SystemTime>>,
    /// Those seen out of ALARM since the deploy began.
    calm: HashSet<String>,
    /// Each one's state as last read.
    last: HashMap<String, String>,
}

impl Allowed {
    pub fn new(names: &[String]) -> Self {
        Allowed { names: names.to_vec(), ..Default::default() }
    }

    /// Whether `alarm` is one of those allowed to fire.
    pub fn allows(&self, alarm: &str) -> bool {
        self.names.iter().any(|n| n == alarm)
    }

    /// Whether `alarm`, as read, is tolerated: allowed, and in the ALARM it was in at the first
    /// read.
    pub fn tolerates(&self, alarm: &AlarmState) -> bool {
        let Some(first) = self.first.get(&alarm.name) else { return false };
        self.names.contains(&alarm.name)
            && !self.calm.contains(&alarm.name)
            && alarm.transitioned.is_none_or(|t| first.is_none_or(|first| t <= first))
    }

    /// The alarms of `report` in ALARM that count: all but those tolerated.
    pub fn firing(&self, report: &AlarmReport) -> Vec<String> {
        report.states.iter().filter(|a| a.firing() && !self.tolerates(a)).map(|a| a.name.clone()).collect()
    }

    /// Notes a read (the first one is the deploy's start; later ones after [`Allowed::firing`]
    /// judged them): the allowed alarms whose state is new since the last read, with that state.
    pub fn note(&mut self, report: &AlarmReport) -> Vec<(String, String)> {
        let mut changed = Vec::new();
        for a in report.states.iter().filter(|a| self.names.contains(&a.name)) {
            self.first.entry(a.name.clone()).or_insert(a.transitioned);
            if !a.firing() {
                self.calm.insert(a.name.clone());
            }
            if self.last.get(&a.name) != Some(&a.state) {
                self.last.insert(a.name.clone(), a.state.clone());
                changed.push((a.name.clone(), a.state.clone()));
            }
        }
        changed
    }
}

impl AlarmChecker {
    pub fn new(cloudwatch: &Client, names: &[String]) -> Self {
        let source = Source { cloudwatch: cloudwatch.clone(), names: names.to_vec(), place: None };
        AlarmChecker { sources: vec![source] }
    }

    /// The alarms `names` in each place (its CloudWatch client, and in a release in waves its
    /// target's name, `us-east-1:111111111111`: then they are reported as `NAME@PLACE`).
    pub fn each<'c>(
        places: impl IntoIterator<Item = (&'c Client, Option<&'c str>)>,
        names: &[String],
    ) -> Self {
        let sources = places
            .into_iter()
            .map(|(cloudwatch, place)| Source {
                cloudwatch: cloudwatch.clone(),
                names: names.to_vec(),
                place: place.map(str::to_string),
            })
            .collect();
        AlarmChecker { sources }
    }

    /// These alarms and `other`'s, read together.
    pub fn join(mut self, other: AlarmChecker) -> Self {
        self.sources.extend(other.sources);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.sources.iter().all(|s| s.names.is_empty())
    }

    /// These alarms, one checker per place (each read, and throttled, on its own).
    pub fn split(self) -> Vec<AlarmChecker> {
        self.sources
            .into_iter()
            .filter(|s| !s.names.is_empty())
            .map(|s| AlarmChecker { sources: vec![s] })
            .collect()
    }

    /// The place of the first source (`us-east-1:111111111111`), in a release in waves.
    pub fn place(&self) -> Option<&str> {
        self.sources.first().and_then(|s| s.place.as_deref())
    }

    /// Reads every named alarm, in each place at once.
    pub async fn read(&self) -> Result<AlarmReport> {
        let reports = futures_util::future::join_all(self.sources.iter().map(Source::read)).await;
        let mut all = AlarmReport::default();
        for report in reports {
            let report = report?;
            all.states.extend(report.states);
            all.missing.extend(report.missing);
        }
        Ok(all)
    }
}

/// `errors@us-east-1:111111111111`: an alarm of a target.
pub fn qualified(name: &str, place: &str) -> String {
    format!("{name}@{place}")
}

impl Source {
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
                let page = page.aws_context(|| match &self.place {
                    Some(place) => format!("reading CloudWatch alarms in {place}"),
                    None => "reading CloudWatch alarms".to_string(),
                })?;
                let metric = page
                    .metric_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value(), a.state_transitioned_timestamp(), false));
                let composite = page
                    .composite_alarms()
                    .iter()
                    .map(|a| (a.alarm_name(), a.state_value(), a.state_transitioned_timestamp(), true));
                for (name, state, transitioned, composite) in metric.chain(composite) {
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
                                transitioned: transitioned.and_then(|t| SystemTime::try_from(*t).ok()),
                            },
                        );
                    }
                }
            }
        }
        // Report in the order the user named them.
        let mut report = AlarmReport::default();
        let named = |name: &str| self.place.as_ref().map_or_else(|| name.to_string(), |p| qualified(name, p));
        for name in &self.names {
            match found.remove(name) {
                Some(state) => report.states.push(AlarmState { name: named(name), ..state }),
                None => report.missing.push(named(name)),
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn alarms_without_data_are_said_plainly() {
        let state = |name: &str| AlarmState {
            name: name.into(),
            state: "INSUFFICIENT_DATA".into(),
            composite: false,
            transitioned: None,
        };
        let one = without_data_warning(&[state("a")]).unwrap();
        assert!(one.ends_with("so it guards nothing yet"), "{one}");
        let two = without_data_warning(&[state("a"), state("b")]).unwrap();
        assert!(two.ends_with("so none of them guards anything yet"), "{two}");
    }

    fn report(state: &str, transitioned: Option<SystemTime>) -> AlarmReport {
        let a = AlarmState { name: "errors".into(), state: state.into(), composite: false, transitioned };
        AlarmReport { states: vec![a], missing: vec![] }
    }

    #[test]
    fn an_allowed_alarm_counts_once_it_fires_anew() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let before = Some(start - Duration::from_secs(600));
        let mut allowed = Allowed::new(&["errors".into()]);
        // Not read yet: not tolerated.
        assert_eq!(allowed.firing(&report("ALARM", before)), ["errors"]);
        // In ALARM since before the deploy: tolerated, read after read.
        allowed.note(&report("ALARM", before));
        for _ in 0..3 {
            let r = report("ALARM", before);
            assert!(allowed.firing(&r).is_empty());
            allowed.note(&r);
        }
        // CloudWatch says it changed state since the deploy began (OK and back between reads).
        assert_eq!(allowed.firing(&report("ALARM", Some(start + Duration::from_secs(5)))), ["errors"]);
        // Seen OK, then ALARM again: a new transition, even without a timestamp.
        assert_eq!(allowed.note(&report("OK", None)), [("errors".to_string(), "OK".to_string())]);
        assert_eq!(allowed.firing(&report("ALARM", None)), ["errors"]);
        // Alarms not allowed always count.
        let mut other = Allowed::new(&["latency".into()]);
        other.note(&report("ALARM", before));
        assert_eq!(other.firing(&report("ALARM", before)), ["errors"]);
    }
}
