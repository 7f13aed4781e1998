//! The statistics behind the verdicts. A gate is read at every poll, and a fixed-level test
//! repeated every second would roll back an equally good version far more often than its level
//! says; so every bound here is a confidence *sequence*: valid at every look at once, however
//! often and whenever the gates look.
//!
//! For a rate (the share of failed executions), Robbins' mixture: with `k` failures in `n`
//! executions, `p` is outside the sequence at level `alpha` when
//! `(n + 1) · C(n, k) · p^k · (1 − p)^(n − k) ≤ alpha`. That is the inverse of a likelihood-ratio
//! martingale (a uniform mixture of alternatives over the likelihood at `p`), so by Ville's
//! inequality the true rate leaves the sequence with probability at most `alpha`, ever. The set is
//! an interval around `k / n`. A version that fails every execution leaves a 10% bound behind at
//! its second failure, a 1% bound at its first.
//!
//! For a median, order statistics: the `j`-th smallest of `m` values bounds the median from above
//! with confidence `1 − P(Binomial(m, ½) ≥ j)`.

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9, 676.520_368_121_885_1, -1_259.139_216_722_402_8, 771.323_428_777_653_1,
        -176.615_029_162_140_6, 12.507_343_278_686_905, -0.138_571_095_265_720_12, 9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let series = G[1..].iter().enumerate().fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// `ln C(n, k)`
fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// How far `p` is inside the sequence: positive inside, zero on a bound, negative outside.
#[cfg(test)]
fn margin(k: u64, n: u64, p: f64, alpha: f64) -> f64 {
    margin_from(constant(k, n, alpha), k, n, p)
}

/// The part of [`margin`] that does not depend on `p`.
fn constant(k: u64, n: u64, alpha: f64) -> f64 {
    ((n + 1) as f64).ln() + ln_choose(n, k) - alpha.ln()
}

fn margin_from(constant: f64, k: u64, n: u64, p: f64) -> f64 {
    let log_likelihood = |q: f64, times: u64| if times == 0 { 0.0 } else { times as f64 * q.ln() };
    constant + log_likelihood(p, k) + log_likelihood(1.0 - p, n - k)
}

/// The confidence sequence for a rate after `k` of `n`, at level `alpha` (0.05 for 95%): the
/// lowest and highest rate it holds. `(0, 1)` with no data.
pub fn rate_interval(k: u64, n: u64, alpha: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let k = k.min(n);
    let centre = k as f64 / n as f64;
    let c = constant(k, n, alpha);
    // The margin rises to its peak at k/n and falls after: one crossing on each side. Forty
    // halvings place it within 1e-12.
    let crossing = |mut outside: f64, mut inside: f64| {
        for _ in 0..40 {
            let mid = (outside + inside) / 2.0;
            if margin_from(c, k, n, mid) > 0.0 { inside = mid } else { outside = mid }
        }
        outside
    };
    let low = if k == 0 { 0.0 } else { crossing(0.0, centre) };
    let high = if k == n { 1.0 } else { crossing(1.0, centre) };
    (low, high)
}

/// Whether the rate is above `limit` with confidence `1 − alpha`, at any look: `limit` lies
/// below `k / n` and outside the sequence (one evaluation, no search).
pub fn rate_above(k: u64, n: u64, limit: f64, alpha: f64) -> bool {
    if limit <= 0.0 {
        // A single failure proves a rate above zero.
        return k > 0;
    }
    if n == 0 || limit >= 1.0 {
        return false;
    }
    let k = k.min(n);
    k as f64 > limit * n as f64 && margin_from(constant(k, n, alpha), k, n, limit) < 0.0
}

/// `P(Binomial(m, ½) ≥ j)`. Past the middle the terms fall fast: the sum stops once they no
/// longer count, so a large `m` costs about its square root.
fn half_binomial_tail(m: u64, j: u64) -> f64 {
    let mut sum = 0.0;
    for i in j..=m {
        let term = (ln_choose(m, i) - m as f64 * std::f64::consts::LN_2).exp();
        sum += term;
        if 2 * i > m && term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// The rank (1-based, ascending) of the order statistic that bounds the median of `m` values
/// from above at level `alpha`: the least `j` with `P(Binomial(m, ½) ≥ j) ≤ alpha`. None when
/// there are too few values for that confidence (fewer than 5 at 95%).
pub fn median_bound_rank(m: u64, alpha: f64) -> Option<u64> {
    if m == 0 || half_binomial_tail(m, m) > alpha {
        return None;
    }
    // The tail falls as j grows: the least j where it is small enough, by halving.
    let (mut low, mut high) = (1, m);
    while low < high {
        let mid = (low + high) / 2;
        if half_binomial_tail(m, mid) <= alpha { high = mid } else { low = mid + 1 }
    }
    Some(low)
}

/// The upper confidence bound of the median of `sorted` (ascending) at level `alpha`, or None
/// when there are too few values for that confidence.
pub fn median_upper_bound<T: Copy>(sorted: &[T], alpha: f64) -> Option<T> {
    let j = median_bound_rank(sorted.len() as u64, alpha)?;
    Some(sorted[j as usize - 1])
}

/// The `q`-quantile (0..=1) of `sorted` (ascending), nearest rank.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials() {
        for (n, fact) in [(1u64, 1f64), (5, 120.0), (10, 3_628_800.0)] {
            assert!((ln_gamma(n as f64 + 1.0) - fact.ln()).abs() < 1e-9, "{n}");
        }
        assert!((ln_choose(50, 25).exp() - 126_410_606_437_752.0).abs() / 1.3e14 < 1e-9);
    }

    #[test]
    fn the_interval_holds_the_rate_and_narrows_with_data() {
        let (lo, hi) = rate_interval(4, 12, 0.05);
        assert!(lo < 4.0 / 12.0 && 4.0 / 12.0 < hi, "{lo} {hi}");
        assert!(lo > 0.05 && hi < 0.8, "{lo} {hi}");
        let (lo2, hi2) = rate_interval(400, 1200, 0.05);
        assert!(lo2 > lo && hi2 < hi, "more data, a narrower interval");
        assert_eq!(rate_interval(0, 0, 0.05), (0.0, 1.0));
        assert_eq!(rate_interval(0, 10, 0.05).0, 0.0);
        assert_eq!(rate_interval(10, 10, 0.05).1, 1.0);
        // On each bound the mixture sits on 1/alpha.
        let (lo, hi) = rate_interval(7, 40, 0.05);
        assert!(margin(7, 40, lo, 0.05).abs() < 1e-6 && margin(7, 40, hi, 0.05).abs() < 1e-6);
    }

    #[test]
    fn above_is_the_lower_bound_over_the_limit() {
        for (k, n) in [(0, 10), (1, 1), (2, 2), (4, 12), (40, 100), (7, 40), (300, 1000)] {
            let low = rate_interval(k, n, 0.05).0;
            for limit in [0.01, 0.05, 0.1, 0.2, 0.3, 0.5] {
                assert_eq!(rate_above(k, n, limit, 0.05), low > limit, "{k} of {n} against {limit}");
            }
        }
    }

    #[test]
    fn a_version_that_fails_everything_is_caught_at_once() {
        // At 95%: a 10% limit falls at the second failure, a 1% limit at the first.
        assert!(!rate_above(1, 1, 0.10, 0.05) && rate_above(2, 2, 0.10, 0.05));
        assert!(rate_above(1, 1, 0.01, 0.05));
        assert!(rate_above(2, 2, 0.05, 0.05));
        // One failure in one execution is not a 100% rate.
        assert!(!rate_above(1, 1, 0.20, 0.05));
        assert!(rate_above(1, 1, 0.0, 0.05), "a zero limit falls at any failure");
    }

    #[test]
    fn the_median_bound_needs_enough_values() {
        let values: Vec<u32> = (1..=20).collect();
        // P(Bin(20, ½) ≥ 15) = 0.0207 ≤ 0.025 < P(≥ 14) = 0.0577.
        assert_eq!(median_upper_bound(&values, 0.025), Some(15));
        assert_eq!(median_upper_bound(&values[..5], 0.05), Some(5));
        assert_eq!(median_upper_bound(&values[..4], 0.05), None);
        assert_eq!(quantile(&values, 0.5), Some(10));
        assert_eq!(quantile(&values, 0.9), Some(18));
        assert_eq!(quantile::<u32>(&[], 0.5), None);
        // Large references cost little, and the bound sits just above the middle.
        let j = median_bound_rank(1_000_000, 0.025).unwrap();
        assert!(j > 500_000 && j < 501_100, "{j}");
    }
}
