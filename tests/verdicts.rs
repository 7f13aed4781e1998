//! The judge, simulated: hundreds of deploys, the gates read every second as a deploy reads them.
//! An equally good version must be rolled back by chance in at most (100 − confidence)% of
//! deploys, however often the gates look; a bad one must be caught after few executions.

use sfndeploy::gates::{Reading, Rules, Tally, Verdict, judge};

/// splitmix64: a small seeded generator, so every run sees the same deploys.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Deploy {
    /// Failure probability of the new and the old version.
    p_new: f64,
    p_old: f64,
    /// Executions a second through the alias, shared half and half (a 50% canary).
    rate: u32,
    /// Seconds of the hold; the gates are read once a second.
    seconds: u32,
}

/// One simulated deploy: Some(executions of the new version seen) when it rolled back.
fn simulate(deploy: &Deploy, rules: &Rules, random: &mut Random) -> Option<u32> {
    let tally = |v: &str| Tally {
        version: format!("arn:aws:states:us-east-1:1:stateMachine:sm:{v}"),
        ..Tally::default()
    };
    let (mut new, mut old) = (tally("7"), tally("6"));
    for _ in 0..deploy.seconds {
        for i in 0..deploy.rate {
            let (t, p) = if i % 2 == 0 { (&mut new, deploy.p_new) } else { (&mut old, deploy.p_old) };
            t.finished += 1;
            if random.next() < p {
                t.failed += 1;
            }
        }
        if let Verdict::Fail(_) = judge(rules, &Reading::of(new.clone(), old.clone())) {
            return Some(new.finished);
        }
    }
    None
}

/// Over `runs` deploys: the share rolled back, and the median executions of the new version seen
/// at rollback.
fn trial(deploy: &Deploy, rules: &Rules, runs: u32, seed: u64) -> (f64, Option<u32>) {
    let mut random = Random(seed);
    let mut seen: Vec<u32> = (0..runs).filter_map(|_| simulate(deploy, rules, &mut random)).collect();
    seen.sort();
    (seen.len() as f64 / f64::from(runs), seen.get(seen.len() / 2).copied())
}

fn rules(rate: Option<f64>, increase: Option<f64>) -> Rules {
    Rules { max_failure_rate: rate, max_increase: increase, ..Rules::default() }
}

const RUNS: u32 = 400;

#[test]
fn an_equally_good_version_is_rarely_rolled_back_however_often_the_gates_look() {
    // Both versions fail 20% (a flaky dependency); 10 executions a second; read every second
    // for two minutes: 120 looks at a growing sample.
    let equal = Deploy { p_new: 0.2, p_old: 0.2, rate: 10, seconds: 120 };
    let mut report = Vec::new();
    for (name, rules) in [
        ("--max-failure-rate-increase 0", rules(None, Some(0.0))),
        ("--max-failure-rate-increase 15", rules(None, Some(15.0))),
        ("--max-failure-rate 20 (at its limit)", rules(Some(20.0), None)),
    ] {
        let (rolled_back, _) = trial(&equal, &rules, RUNS, 7);
        report.push(format!("{name}: {:.1}% of {RUNS} deploys rolled back", rolled_back * 100.0));
        assert!(rolled_back <= 0.05, "{name}: {:.1}% false rollbacks", rolled_back * 100.0);
    }
    // A fixed-level test read every second would not hold: the same deploys judged by a 95%
    // Wilson-style point check at each look roll back far more often.
    let naive = |new: &Tally, old: &Tally| {
        let rate = |t: &Tally| f64::from(t.failed) / f64::from(t.finished.max(1));
        let se = (0.2 * 0.8 * (1.0 / f64::from(new.finished.max(1)) + 1.0 / f64::from(old.finished.max(1))))
            .sqrt();
        rate(new) - rate(old) > 1.645 * se
    };
    let mut random = Random(7);
    let mut naive_rollbacks = 0;
    for _ in 0..RUNS {
        let (mut new, mut old) = (Tally::default(), Tally::default());
        let mut rolled = false;
        for _ in 0..equal.seconds {
            for i in 0..equal.rate {
                let t = if i % 2 == 0 { &mut new } else { &mut old };
                t.finished += 1;
                t.failed += u32::from(random.next() < 0.2);
            }
            rolled |= naive(&new, &old);
        }
        naive_rollbacks += u32::from(rolled);
    }
    report.push(format!(
        "a fixed 95% test at every look: {:.1}% rolled back",
        f64::from(naive_rollbacks) * 100.0 / f64::from(RUNS)
    ));
    assert!(f64::from(naive_rollbacks) / f64::from(RUNS) > 0.10, "{report:?}");
    println!("{}", report.join("\n"));
}

#[test]
fn a_bad_version_is_caught_after_few_executions() {
    let mut report = Vec::new();
    // Fails everything, against a 5% limit: at its second failure.
    let all = Deploy { p_new: 1.0, p_old: 0.2, rate: 10, seconds: 60 };
    let (share, seen) = trial(&all, &rules(Some(5.0), None), 50, 1);
    assert_eq!((share, seen), (1.0, Some(5)), "caught at the first read with 5 of its executions");
    let slow = Deploy { rate: 2, ..all };
    let (_, seen) = trial(&slow, &rules(Some(5.0), None), 50, 1);
    assert_eq!(seen, Some(2), "at its second failure");
    report.push(format!("100% failing, --max-failure-rate 5: {} executions", seen.unwrap()));
    // Against a 20% baseline with --max-failure-rate-increase 15.
    let (share, seen) = trial(&slow, &rules(None, Some(15.0)), 50, 1);
    assert_eq!(share, 1.0);
    report.push(format!("100% failing, increase 15 over 20%: {} executions", seen.unwrap()));
    assert!(seen.unwrap() <= 25, "{report:?}");
    // Twice the baseline's failures (40% against 20%).
    let twice = Deploy { p_new: 0.4, p_old: 0.2, rate: 10, seconds: 300 };
    let (share, seen) = trial(&twice, &rules(None, Some(0.0)), 100, 3);
    report.push(format!(
        "2x failing (40% against 20%), increase 0: {:.0}% caught, median {} executions",
        share * 100.0,
        seen.unwrap_or(0)
    ));
    assert!(share >= 0.9, "{report:?}");
    let (share, seen) = trial(&twice, &rules(Some(20.0), None), 100, 3);
    report.push(format!(
        "2x failing, --max-failure-rate 20: {:.0}% caught, median {} executions",
        share * 100.0,
        seen.unwrap_or(0)
    ));
    assert!(share >= 0.9, "{report:?}");
    println!("{}", report.join("\n"));
}
