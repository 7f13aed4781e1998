//! Many durations in little memory: each value exactly while there are few, then a histogram of
//! logarithmic buckets (each about 1% wide, from 1 ms to 30 days), so a gate that has watched an
//! hour of executions at 500 a second holds a few thousand counts, not 1.8 million values.
//! Quantiles are exact while exact; in buckets they err towards the side a caller asks for.

use std::time::Duration;

/// Values kept exactly before the histogram takes over.
const EXACT_MAX: usize = 4096;
/// Each bucket is this much wider than the one below it.
const GROWTH: f64 = 1.01;
/// Bucket 0 holds 0..1 ms; the last, everything past 30 days.
const BUCKETS: usize = 2030;

/// A multiset of durations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Durations {
    /// Sorted, in milliseconds, while there are at most [`EXACT_MAX`].
    exact: Vec<u64>,
    /// Counts per bucket, once there are more (empty until then).
    buckets: Vec<u32>,
    count: u64,
}

/// The bucket of `ms`: the one whose [`edges`] hold it.
fn bucket(ms: u64) -> usize {
    if ms == 0 {
        return 0;
    }
    let mut b = (1 + ((ms as f64).ln() / GROWTH.ln()) as usize).min(BUCKETS - 1);
    // The logarithm may land a value on the wrong side of an edge: the edges decide.
    while b > 1 && edges(b).0 > ms {
        b -= 1;
    }
    while b < BUCKETS - 1 && edges(b).1 < ms {
        b += 1;
    }
    b
}

/// The lowest and highest value bucket `b` holds, in milliseconds: `GROWTH^(b-1) <= ms <
/// GROWTH^b` (the last bucket has no top). Low buckets may hold no whole number (high < low).
fn edges(b: usize) -> (u64, u64) {
    if b == 0 {
        return (0, 0);
    }
    let low = GROWTH.powi(b as i32 - 1).ceil() as u64;
    let high =
        if b == BUCKETS - 1 { u64::MAX } else { (GROWTH.powi(b as i32).ceil() as u64).saturating_sub(1) };
    (low, high)
}

impl Durations {
    pub fn add(&mut self, d: Duration) {
        let ms = d.as_millis() as u64;
        self.count += 1;
        if self.buckets.is_empty() {
            let at = self.exact.partition_point(|&v| v <= ms);
            self.exact.insert(at, ms);
            if self.exact.len() > EXACT_MAX {
                self.buckets = vec![0; BUCKETS];
                for v in std::mem::take(&mut self.exact) {
                    self.buckets[bucket(v)] += 1;
                }
            }
        } else {
            self.buckets[bucket(ms)] += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `j`-th smallest value (1-based); in buckets, the highest its bucket holds (`high`) or
    /// the lowest.
    pub fn nth(&self, j: usize, high: bool) -> Option<Duration> {
        if j == 0 || j > self.len() {
            return None;
        }
        if self.buckets.is_empty() {
            return Some(Duration::from_millis(self.exact[j - 1]));
        }
        let mut seen = 0usize;
        for (b, &n) in self.buckets.iter().enumerate() {
            seen += n as usize;
            if seen >= j {
                let (low, top) = edges(b);
                return Some(Duration::from_millis(if high { top } else { low }));
            }
        }
        None
    }

    /// The `q`-quantile (0..=1), nearest rank.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let rank = (q * self.len() as f64).ceil().max(1.0) as usize;
        self.nth(rank.min(self.len()), true)
    }

    /// How many values are certainly above `limit` (in buckets: only those whose whole bucket is).
    pub fn count_above(&self, limit: Duration) -> u64 {
        let limit = limit.as_millis() as u64;
        if self.buckets.is_empty() {
            return (self.exact.len() - self.exact.partition_point(|&v| v <= limit)) as u64;
        }
        let counts = self.buckets.iter().enumerate().filter(|(b, _)| edges(*b).0 > limit);
        counts.map(|(_, &n)| u64::from(n)).sum()
    }

    /// Every value of `other` added.
    pub fn merge(&mut self, other: &Durations) {
        if other.buckets.is_empty() {
            for &ms in &other.exact {
                self.add(Duration::from_millis(ms));
            }
            return;
        }
        if self.buckets.is_empty() {
            let mine = std::mem::take(self);
            *self = other.clone();
            for &ms in &mine.exact {
                self.add(Duration::from_millis(ms));
            }
            return;
        }
        for (b, n) in self.buckets.iter_mut().zip(&other.buckets) {
            *b += n;
        }
        self.count += other.count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_while_few_then_within_a_percent() {
        let mut d = Durations::default();
        for ms in [300, 100, 200] {
            d.add(Duration::from_millis(ms));
        }
        assert_eq!(d.nth(2, true), Some(Duration::from_millis(200)));
        assert_eq!(d.quantile(0.5), Some(Duration::from_millis(200)));
        assert_eq!(d.count_above(Duration::from_millis(150)), 2);
        let mut many = Durations::default();
        for i in 0..100_000u64 {
            many.add(Duration::from_millis(i % 1000));
        }
        assert_eq!(many.len(), 100_000);
        let median = many.quantile(0.5).unwrap().as_millis() as f64;
        assert!((median - 499.0).abs() <= 499.0 * 0.011, "{median}");
        let above = many.count_above(Duration::from_millis(900)) as f64;
        assert!((9_900.0 * 0.9..=9_900.0).contains(&above), "never more than the truth: {above}");
        assert!(many.buckets.len() == BUCKETS && many.exact.is_empty());
    }

    #[test]
    fn buckets_cover_every_value_once() {
        let mut next = 1;
        for b in 1..1200 {
            let (low, high) = edges(b);
            if high < low {
                continue;
            }
            assert_eq!(low, next, "bucket {b} starts where the last ended");
            for ms in low..=high {
                assert_eq!(bucket(ms), b, "{ms}");
            }
            next = high + 1;
        }
    }
}
