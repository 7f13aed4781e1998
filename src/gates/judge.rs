//! What a reading means: [`judge`] alone decides. Every bound is a confidence sequence (see
//! [`super::stats`]), so the same evidence may be judged at every poll; and the evidence is taken
//! in the order it was made. An execution is placed by its start, not by when it finished:
//! failures usually end first, so a tally by finish time overstates them early and a tally of
//! the finished alone ignores the slow failures still running.
//!
//! - **Roll back** when some prefix of the start order is over the limit with the confidence
//!   asked, every execution in it still running counted as a success. Those counts never
//!   overstate the failures the prefix will hold, and a confidence sequence holds at every
//!   length at once, so however the prefix is chosen, an equally good version is rolled back in
//!   at most the allowed share of deploys. A version that fails at once, every time, is caught
//!   at its second failure (10% limit, 95%), as a tally of the finished would catch it.
//! - **Pass** only on a settled cohort: the first executions to start, every one of them ended,
//!   or run past the old version's usual duration and then taken for a failure. Under steady
//!   traffic some execution is always running; a cohort that has settled still grows.

use super::reading::{Reading, StartOrder, Tally};
use super::{Rules, stats};
use crate::arn::short_version;
use crate::text::human;

/// What a reading says.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Pass,
    /// Roll back: the evidence.
    Fail(String),
    /// Not enough evidence yet to go on: what is missing.
    TooFew(String),
}

/// Judges a reading by the rules. An equally good version rolls back by chance in at most
/// (100 − confidence)% of runs, the confidence shared by every test of the run (see
/// [`Rules::alpha`]). Too little data is never a pass for moving on.
pub fn judge(rules: &Rules, reading: &Reading) -> Verdict {
    let failed = rate_over(rules, reading)
        .or_else(|| increase_over(rules, reading))
        .or_else(|| slower(rules, reading));
    match failed {
        Some(evidence) => Verdict::Fail(evidence),
        None => too_few(rules, reading).map_or(Verdict::Pass, Verdict::TooFew),
    }
}

/// The (failed, started) prefixes a rollback may rest on: the start order's, or, without one
/// (metrics), the finished executions as counted.
fn prefixes(reading: &Reading) -> Vec<(u32, u32)> {
    match &reading.order {
        Some(order) => {
            let mut all = order.prefixes.clone();
            all.push((reading.new.failed, order.started));
            all
        }
        None => vec![(reading.new.failed, reading.new.finished)],
    }
}

/// `2 of the first 3 executions to start failed (those still running counted as successes)`
fn prefix_words(reading: &Reading, (k, n): (u32, u32)) -> String {
    match reading.order {
        Some(_) => format!(
            "{k} of the first {n} of its executions to start failed (those still running counted as successes)"
        ),
        None => format!("{k} of {n} failed"),
    }
}

fn rate(k: u32, n: u32) -> f64 {
    if n == 0 { 0.0 } else { f64::from(k) * 100.0 / f64::from(n) }
}

/// `--max-failure-rate`: the evidence when the new version's rate is over it.
fn rate_over(rules: &Rules, reading: &Reading) -> Option<String> {
    let max = rules.max_failure_rate?;
    let alpha = rules.alpha();
    let (k, n) = prefixes(reading)
        .into_iter()
        .find(|&(k, n)| stats::rate_above(u64::from(k), u64::from(n), max / 100.0, alpha))?;
    Some(format!(
        "failure rate {:.1}% is over --max-failure-rate {max}% with {}% confidence ({}): {reading}",
        rate(k, n),
        rules.confidence,
        prefix_words(reading, (k, n))
    ))
}

/// The old version's highest rate still possible, its running executions counted as failures.
fn old_high(old: &Tally, alpha: f64) -> f64 {
    let (k, n) = (old.failed + old.running, old.finished + old.running);
    stats::rate_interval(u64::from(k), u64::from(n), alpha).1
}

/// `--max-failure-rate-increase`: the evidence when the new version's rate is over the old
/// one's by more. Each side at half the allowance: both bounds hold together with the
/// confidence asked.
fn increase_over(rules: &Rules, reading: &Reading) -> Option<String> {
    let max = rules.max_increase?;
    let old = &reading.old;
    if old.finished == 0 {
        return None;
    }
    let alpha = rules.alpha() / 2.0;
    let high_old = old_high(old, alpha);
    // The new version's lower bound over the old one's upper bound by more than `max` points.
    let (k, n) = prefixes(reading)
        .into_iter()
        .find(|&(k, n)| stats::rate_above(u64::from(k), u64::from(n), high_old + max / 100.0, alpha))?;
    let excess = (stats::rate_interval(u64::from(k), u64::from(n), alpha).0 - high_old) * 100.0;
    Some(format!(
        "failure rate {:.1}% is at least {excess:.1} points over the old version's {:.1}% with {}% \
         confidence, more than --max-failure-rate-increase {max} ({}): {reading}",
        rate(k, n),
        old.rate().unwrap_or(0.0),
        rules.confidence,
        prefix_words(reading, (k, n))
    ))
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
    let counted = reading.order.as_ref().map_or(new.finished, |o| o.settled);
    if counted < rules.min_executions {
        return Some(format!(
            "{counted} of the {} finished executions --min-executions asks for",
            rules.min_executions
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
            reading.baseline.have,
            reading.baseline.need
        ));
    }
    reading.order.as_ref().and_then(|order| still_out(rules, reading, order))
}

/// A settled cohort over the limit as it stands if the executions running past the usual
/// duration failed: not a pass while they might. (A rollback needs proof; holding a pass needs
/// only that the failures still out would put the cohort over the limit.)
fn still_out(rules: &Rules, reading: &Reading, order: &StartOrder) -> Option<String> {
    if order.overdue == 0 || order.settled == 0 {
        return None;
    }
    let pessimistic = rate(order.settled_failed, order.settled);
    let over_rate = rules.max_failure_rate.is_some_and(|max| pessimistic > max);
    let over_increase = rules
        .max_increase
        .is_some_and(|max| reading.old.finished > 0 && pessimistic - reading.old.rate().unwrap_or(0.0) > max);
    (over_rate || over_increase).then(|| {
        format!(
            "{} of the first {} executions of the new version to start are still running past the old \
             version's usual duration ({}): not a pass while they may yet fail",
            order.overdue,
            order.settled,
            order.usual.map_or_else(|| "unknown".to_string(), human)
        )
    })
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

/// The old version's finished executions a duration baseline needs at `alpha` (the duration
/// test's share): at least [`super::REFERENCE_MIN`], and enough that the upper bound of the
/// median lies at or below the reference's 90th percentile (10 at 95%, 14 at 99.81%).
pub fn reference_needed(alpha: f64) -> usize {
    (super::REFERENCE_MIN..)
        .find(|&m| {
            stats::median_bound_rank(m as u64, alpha / 2.0)
                .is_some_and(|j| j as f64 <= (0.9 * m as f64).ceil())
        })
        .unwrap_or(super::REFERENCE_MIN)
}

#[cfg(test)]
mod tests {
    use super::super::reading::DurationCheck;
    use super::*;
    use std::time::Duration;

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
        let mut no_baseline = Reading::of(tally("7", 10, 0), tally("6", 3, 0));
        no_baseline.baseline = super::super::reading::Baseline { have: 3, need: 10 };
        assert!(
            matches!(judge(&rules, &no_baseline), Verdict::TooFew(m) if m.contains("duration baseline") && m.contains("3, at least 10"))
        );
    }

    /// Start order: `pattern` is the new version's executions in the order they started, `F`
    /// failed, `S` succeeded, `R` running, `O` running past the usual duration.
    fn ordered(pattern: &str) -> Reading {
        let mut order = StartOrder::default();
        let (mut failed, mut finished, mut running) = (0, 0, 0);
        let mut settling = true;
        for (i, c) in pattern.chars().enumerate() {
            let n = i as u32 + 1;
            match c {
                'F' => {
                    failed += 1;
                    finished += 1;
                    order.prefixes.push((failed, n));
                }
                'S' => finished += 1,
                _ => running += 1,
            }
            settling &= c != 'R';
            if settling {
                order.settled = n;
                order.settled_failed += u32::from(matches!(c, 'F' | 'O'));
                order.overdue += u32::from(c == 'O');
            }
        }
        order.started = pattern.len() as u32;
        order.usual = Some(Duration::from_secs(1));
        let new = Tally { version: "sm:7".into(), finished, failed, running, ..Tally::default() };
        Reading { order: Some(order), ..Reading::of(new, tally("6", 100, 0)) }
    }

    #[test]
    fn evidence_is_taken_in_the_order_it_was_made() {
        let limit = rules(Some(10.0), None, 1);
        // Failing at once, every time: caught at the second failure, running ones aside.
        assert!(
            matches!(judge(&limit, &ordered("FFRRR")), Verdict::Fail(m) if m.contains("2 of the first 2"))
        );
        assert!(!matches!(judge(&limit, &ordered("FRRRR")), Verdict::Fail(_)));
        // A fast failure among slow successes still running is no proof yet.
        assert!(!matches!(judge(&rules(Some(20.0), None, 1), &ordered("SRRRFRRRRR")), Verdict::Fail(_)));
        // Slow failures still out: the settled cohort is too short to pass...
        let waiting = judge(&rules(Some(10.0), None, 3), &ordered("SSRSSSSSS"));
        assert!(
            matches!(waiting, Verdict::TooFew(m) if m.starts_with("2 of the 3")),
            "a running one holds the cohort"
        );
        // ...and running past the usual duration, they count as failures until they end.
        let overdue = judge(&rules(Some(10.0), None, 3), &ordered("SOSOOSOSOSR"));
        assert!(matches!(&overdue, Verdict::TooFew(m) if m.contains("still running past")), "{overdue:?}");
        assert_eq!(judge(&rules(Some(10.0), None, 3), &ordered("SSSSSSSSSSR")), Verdict::Pass);
    }

    #[test]
    fn the_duration_baseline_grows_with_the_confidence() {
        assert_eq!(reference_needed(0.05), 10);
        assert_eq!(reference_needed(0.0019), 14, "10 give no bound at 99.81%");
        assert!(reference_needed(0.0001) > 14);
    }
}
