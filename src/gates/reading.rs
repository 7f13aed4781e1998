//! What one read of the gates found: each version's tally, the new version's executions in the
//! order they started, and the duration check.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::{Rules, stats};
use crate::arn::short_version;
use crate::text::human;

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
    /// The median and 90th percentile duration (stop − start) of the finished executions; none
    /// when the gate cannot see them (EXPRESS) or nothing finished.
    pub spread: Option<(Duration, Duration)>,
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
}

impl fmt::Display for Tally {
    /// `v7: 4 of 12 failed (33%, 95% interval 14-61%): Boom x3, States.Timeout x1 (arn:...: cause)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} of {} failed", short_version(&self.version), self.failed, self.finished)?;
        match (self.rate(), self.interval) {
            (Some(rate), Some(i)) => {
                write!(f, " ({rate:.0}%, {} interval {:.0}-{:.0}%)", percent(i.confidence), i.low, i.high)?
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

/// `95%`, `99.75%`: a confidence as people write it.
fn percent(confidence: f64) -> String {
    let text = format!("{confidence:.2}");
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
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

/// The new version's executions through the alias since the deploy began, in the order they
/// started, not the order they finished: failures often end first, and a running execution is
/// not yet an outcome.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StartOrder {
    /// How many started.
    pub started: u32,
    /// Prefixes of the start order that end at a failure, as (failed, started): those of the
    /// first failures and of the last. Executions still running in a prefix count as
    /// successes, so a prefix never overstates the failures it holds.
    pub prefixes: Vec<(u32, u32)>,
    /// The first `settled` to start have each ended, or run past the old version's usual
    /// duration: a cohort whose outcomes are known, or taken for failures.
    pub settled: u32,
    /// Of the settled: failed, or still running past the usual duration.
    pub settled_failed: u32,
    /// Of the settled: still running past the usual duration.
    pub overdue: u32,
    /// The longest the old version usually takes: twice its 99th percentile, at least a second.
    pub usual: Option<Duration>,
}

/// How many old durations a duration baseline has, and needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    pub have: usize,
    pub need: usize,
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
    /// Until then: the old durations known and needed.
    pub baseline: Baseline,
    /// The old version's recent 95th percentile duration, when known.
    pub old_p95: Option<Duration>,
    /// The new version's executions in start order (none from metrics).
    pub order: Option<StartOrder>,
}

impl Reading {
    /// A reading of counts alone.
    pub fn of(new: Tally, old: Tally) -> Self {
        Reading {
            new,
            old,
            old_includes_before: false,
            durations: None,
            baseline: Baseline::default(),
            old_p95: None,
            order: None,
        }
    }

    /// Adds each tally's failure-rate interval at the confidence each test of the rules has.
    pub fn with_intervals(mut self, rules: &Rules) -> Self {
        for t in [&mut self.new, &mut self.old] {
            let (low, high) = stats::rate_interval(u64::from(t.failed), u64::from(t.finished), rules.alpha());
            t.interval = (t.finished > 0).then_some(Interval {
                confidence: (1.0 - rules.alpha()) * 100.0,
                low: low * 100.0,
                high: high * 100.0,
            });
        }
        self
    }

    /// `v7 median 2.1s, p90 2.3s; v6 median 120ms, p90 200ms`
    pub fn spreads(&self) -> String {
        let one = |t: &Tally| match t.spread {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(version: &str, finished: u32, failed: u32) -> Tally {
        Tally { version: format!("sm:{version}"), finished, failed, ..Tally::default() }
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
        let shared = Rules { split: 2, ..Rules::default() };
        let text = Reading::of(tally("7", 12, 4), tally("6", 90, 3)).with_intervals(&shared).to_string();
        assert!(text.contains("(33%, 97.5% interval "), "each test's own confidence: {text}");
    }
}
