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
pub mod executions;
pub mod metrics;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use anyhow::Result;

use crate::arn::short_version;

pub use executions::{ExecutionGate, recent_traffic};
pub use metrics::MetricsGate;

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
