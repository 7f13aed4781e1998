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
pub mod rerun;
pub mod stats;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use anyhow::Result;

use crate::arn::short_version;
use crate::text::human;

pub use executions::{ExecutionGate, recent_traffic};
pub use metrics::MetricsGate;

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
    /// `--confidence`, percent.
    pub confidence: f64,
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

    /// The chance of a wrong rollback the confidence allows: 0.05 for 95%.
    pub fn alpha(&self) -> f64 {
        (1.0 - self.confidence / 100.0).clamp(1e-9, 0.5)
    }

    /// Whether the gates compare with the old version (and so want its baseline).
    pub fn compares(&self) -> bool {
        self.max_increase.is_some() || self.max_duration_increase.is_some()
    }
}

/// One version's executions through the alias, as counted.
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
    /// The finished executions' durations (stop − start), shortest first; empty when the
    /// gate cannot see them (EXPRESS).
    pub durations: Vec<Duration>,
    /// The failure rate's confidence interval, in percent, with its confidence.
    pub interval: Option<Interval>,
}

/// A confidence interval of a rate, in percent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub confidence: f64,
    pub low: f64,
    pub high: f64,
}

impl Tally {
    /// The failure rate in percent, if anything finished.
    pub fn rate(&self) -> Option<f64> {
        (self.finished > 0).then(|| f64::from(self.failed) * 100.0 / f64::from(self.finished))
    }

    /// The median and 90th percentile duration of the finished executions.
    pub fn spread(&self) -> Option<(Duration, Duration)> {
        Some((stats::quantile(&self.durations, 0.5)?, stats::quantile(&self.durations, 0.9)?))
    }
}

impl fmt::Display for Tally {
    /// `v7: 4 of 12 failed (33%, 95% interval 14-61%): Boom x3, States.Timeout x1 (arn:...: cause)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} of {} failed", short_version(&self.version), self.failed, self.finished)?;
        match (self.rate(), self.interval) {
            (Some(rate), Some(i)) => {
                write!(f, " ({rate:.0}%, {:.0}% interval {:.0}-{:.0}%)", i.confidence, i.low, i.high)?
            }
            (Some(rate), None) => write!(f, " ({rate:.0}%)")?,
            (None, _) => {}
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

/// `--max-duration-increase`: the new version's executions against a limit drawn from the old
/// version's median.
#[derive(Clone, Debug, PartialEq)]
pub struct DurationCheck {
    /// The old median's upper confidence bound, plus the increase allowed.
    pub limit: Duration,
    /// New executions started at least `limit` ago (finished or not): each is known by now to
    /// be within the limit or past it.
    pub settled: u32,
    /// Of those, the ones that took longer (or are still running).
    pub slower: u32,
    /// The old version's reference: (median, p90, how many).
    pub old: (Duration, Duration, usize),
}

impl fmt::Display for DurationCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} took longer than {}", self.slower, self.settled, human(self.limit))
    }
}

/// One read of the gates.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub new: Tally,
    pub old: Tally,
    /// The old version's tally reaches back before the deploy (too few during it).
    pub old_includes_before: bool,
    /// With `--max-duration-increase`, once the old version has a baseline.
    pub durations: Option<DurationCheck>,
    /// The old version's recent 95th percentile duration, when known.
    pub old_p95: Option<Duration>,
}

impl Reading {
    /// A reading of counts alone.
    pub fn of(new: Tally, old: Tally) -> Self {
        Reading { new, old, old_includes_before: false, durations: None, old_p95: None }
    }

    /// Adds each tally's failure-rate interval at the rules' confidence.
    pub fn with_intervals(mut self, rules: &Rules) -> Self {
        for t in [&mut self.new, &mut self.old] {
            let (low, high) = stats::rate_interval(u64::from(t.failed), u64::from(t.finished), rules.alpha());
            t.interval = (t.finished > 0).then_some(Interval {
                confidence: rules.confidence,
                low: low * 100.0,
                high: high * 100.0,
            });
        }
        self
    }

    /// `v7 median 2.1s, p90 2.3s; v6 median 120ms, p90 200ms`
    pub fn spreads(&self) -> String {
        let one = |t: &Tally| match t.spread() {
            Some((median, p90)) => {
                format!("{} median {}, p90 {}", short_version(&t.version), human(median), human(p90))
            }
            None => format!("{} no finished execution", short_version(&t.version)),
        };
        format!("{}; {}", one(&self.new), one(&self.old))
    }
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
    /// Not enough evidence yet to go on: what is missing.
    TooFew(String),
}

/// Judges a reading by the rules. Every bound is a confidence sequence (see [`stats`]), so the
/// same reading may be judged at every poll: an equally good version rolls back by chance in at
/// most (100 − confidence)% of deploys. Too little data is never a pass for moving on.
pub fn judge(rules: &Rules, reading: &Reading) -> Verdict {
    let failed = rate_over(rules, reading)
        .or_else(|| increase_over(rules, reading))
        .or_else(|| slower(rules, reading));
    match failed {
        Some(evidence) => Verdict::Fail(evidence),
        None => too_few(rules, reading).map_or(Verdict::Pass, Verdict::TooFew),
    }
}

/// `--max-failure-rate`: the evidence when the new version's rate is over it.
fn rate_over(rules: &Rules, reading: &Reading) -> Option<String> {
    let max = rules.max_failure_rate?;
    let new = &reading.new;
    stats::rate_above(u64::from(new.failed), u64::from(new.finished), max / 100.0, rules.alpha()).then(|| {
        format!(
            "failure rate {:.1}% is over --max-failure-rate {max}% with {}% confidence: {reading}",
            new.rate().unwrap_or(0.0),
            rules.confidence
        )
    })
}

/// `--max-failure-rate-increase`: the evidence when the new version's rate is over the old
/// one's by more. Each side at half the allowance: both bounds hold together with the
/// confidence asked.
fn increase_over(rules: &Rules, reading: &Reading) -> Option<String> {
    let max = rules.max_increase?;
    let (new, old) = (&reading.new, &reading.old);
    if old.finished == 0 {
        return None;
    }
    let alpha = rules.alpha();
    let low_new = stats::rate_interval(u64::from(new.failed), u64::from(new.finished), alpha / 2.0).0;
    let high_old = stats::rate_interval(u64::from(old.failed), u64::from(old.finished), alpha / 2.0).1;
    let excess = (low_new - high_old) * 100.0;
    (excess > max).then(|| {
        format!(
            "failure rate {:.1}% is at least {excess:.1} points over the old version's {:.1}% with {}% \
             confidence, more than --max-failure-rate-increase {max}: {reading}",
            new.rate().unwrap_or(0.0),
            old.rate().unwrap_or(0.0),
            rules.confidence
        )
    })
}

/// `--max-duration-increase`: the evidence when most new executions took longer than the limit.
fn slower(rules: &Rules, reading: &Reading) -> Option<String> {
    let (max, d) = (rules.max_duration_increase?, reading.durations.as_ref()?);
    stats::rate_above(u64::from(d.slower), u64::from(d.settled), 0.5, rules.alpha() / 2.0).then(|| {
        format!(
            "the new version is more than {max}% slower with {}% confidence: {d} (the old median's upper \
             bound, plus {max}%), more than half of them: {}",
            rules.confidence,
            reading.spreads()
        )
    })
}

/// What a reading still lacks for a verdict, if anything.
fn too_few(rules: &Rules, reading: &Reading) -> Option<String> {
    let (new, old) = (&reading.new, &reading.old);
    if new.finished < rules.min_executions {
        return Some(format!(
            "{} of the {} finished executions --min-executions asks for",
            new.finished, rules.min_executions
        ));
    }
    if rules.max_increase.is_some() && old.finished == 0 {
        return Some(format!(
            "no finished execution of the old version {} through the alias to compare with \
             (--max-failure-rate-increase)",
            short_version(&old.version)
        ));
    }
    if rules.max_duration_increase.is_some() && reading.durations.is_none() {
        return Some(format!(
            "too few finished executions of the old version {} through the alias for a duration baseline \
             (--max-duration-increase): {}, at least {} needed",
            short_version(&old.version),
            old.durations.len(),
            REFERENCE_MIN
        ));
    }
    None
}

/// Whether a reading leans towards failing without a verdict yet: the new version's failures
/// grew since the `previous` reading, and its failure rate, counted as it stands, is over
/// `--max-failure-rate` or `--max-failure-rate-increase` points over the old version's. The
/// watch reads such a gate again sooner: the evidence a verdict needs is arriving.
pub fn leans_to_fail(rules: &Rules, reading: &Reading, previous: Option<&Reading>) -> bool {
    let grew = reading.new.failed > previous.map_or(0, |p| p.new.failed);
    let Some(rate) = reading.new.rate() else { return false };
    let over_rate = rules.max_failure_rate.is_some_and(|max| rate > max);
    let over_increase = rules.max_increase.is_some_and(|max| rate - reading.old.rate().unwrap_or(0.0) > max);
    grew && (over_rate || over_increase)
}

/// The old version's finished executions a duration baseline needs.
pub const REFERENCE_MIN: usize = 10;

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

    /// `--rerun-failed`: the new version's failed executions through the alias started again
    /// through it (see [`rerun`]) with `sfn` (a client that retries: the names make retries
    /// safe), at most `max`. None for EXPRESS (refused before any change).
    pub async fn rerun_failed(&mut self, sfn: &aws_sdk_sfn::Client, max: usize) -> Option<Vec<rerun::Rerun>> {
        match self {
            Gate::Executions(g) => {
                let failed = g.failed_through_alias().await;
                Some(rerun::rerun(sfn, g.alias_arn(), &failed, max).await)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(version: &str, finished: u32, failed: u32) -> Tally {
        Tally { version: format!("sm:{version}"), finished, failed, ..Tally::default() }
    }

    fn rules(rate: Option<f64>, increase: Option<f64>, min: u32) -> Rules {
        Rules { max_failure_rate: rate, max_increase: increase, min_executions: min, ..Rules::default() }
    }

    #[test]
    fn the_rules_judge_rates_increases_and_too_little_data() {
        let r = Reading::of(tally("7", 12, 4), tally("6", 31, 0));
        assert!(matches!(judge(&rules(Some(5.0), None, 0), &r), Verdict::Fail(e) if e.contains("33.3%")));
        assert_eq!(judge(&rules(Some(50.0), None, 0), &r), Verdict::Pass);
        // 4 of 12 is not yet proof of more than 20%: the interval reaches below it.
        assert_eq!(judge(&rules(Some(20.0), None, 0), &r), Verdict::Pass);
        // Both failing alike: no increase.
        let alike = Reading::of(tally("7", 10, 5), tally("6", 40, 20));
        assert_eq!(judge(&rules(None, Some(10.0), 0), &alike), Verdict::Pass);
        let worse = Reading::of(tally("7", 40, 30), tally("6", 200, 10));
        assert!(
            matches!(judge(&rules(None, Some(10.0), 0), &worse), Verdict::Fail(e) if e.contains("points"))
        );
        // Too few: never a pass.
        let few = Reading::of(tally("7", 2, 0), tally("6", 0, 0));
        assert!(
            matches!(judge(&rules(Some(10.0), None, 5), &few), Verdict::TooFew(m) if m.starts_with("2 of the 5"))
        );
        // No data at all is not zero failures, and not a failure either.
        let none = Reading::of(tally("7", 0, 0), tally("6", 0, 0));
        assert!(matches!(judge(&rules(Some(1.0), Some(0.0), 1), &none), Verdict::TooFew(_)));
        // An increase needs the old version to compare with.
        let no_old = Reading::of(tally("7", 20, 0), tally("6", 0, 0));
        assert!(
            matches!(judge(&rules(None, Some(5.0), 1), &no_old), Verdict::TooFew(m) if m.contains("old version"))
        );
    }

    #[test]
    fn a_tally_names_the_evidence_and_its_interval() {
        let mut t = tally("7", 12, 4);
        t.version = "arn:aws:states:us-east-1:1:stateMachine:sm:7".into();
        t.errors.insert("Boom".into(), 3);
        t.errors.insert("States.Timeout".into(), 1);
        t.example = Some(("arn:exec-1".into(), "it broke".into()));
        assert_eq!(
            t.to_string(),
            "v7: 4 of 12 failed (33%): Boom x3, States.Timeout x1 (arn:exec-1: it broke)"
        );
        let reading = Reading::of(t, tally("6", 90, 3)).with_intervals(&Rules::default());
        let text = reading.to_string();
        assert!(text.starts_with("v7: 4 of 12 failed (33%, 95% interval "), "{text}");
        let interval = reading.new.interval.unwrap();
        assert!(interval.low > 5.0 && interval.low < 33.0 && interval.high > 33.0 && interval.high < 80.0);
    }

    #[test]
    fn a_slower_version_is_judged_by_its_share_over_the_limit() {
        let rules = Rules { max_duration_increase: Some(50.0), ..Rules::default() };
        let check = |settled, slower| {
            let mut reading = Reading::of(tally("7", settled, 0), tally("6", 50, 0));
            reading.durations = Some(DurationCheck {
                limit: Duration::from_millis(300),
                settled,
                slower,
                old: (Duration::from_millis(180), Duration::from_millis(250), 50),
            });
            judge(&rules, &reading)
        };
        assert!(matches!(check(10, 10), Verdict::Fail(m) if m.contains("10 of 10 took longer than 0.3s")));
        assert_eq!(check(10, 5), Verdict::Pass);
        assert_eq!(check(3, 3), Verdict::Pass, "three slow executions are not yet proof");
        let no_baseline = Reading::of(tally("7", 10, 0), tally("6", 3, 0));
        assert!(matches!(judge(&rules, &no_baseline), Verdict::TooFew(m) if m.contains("duration baseline")));
    }
}
