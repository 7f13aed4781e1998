//! Deploy strategies describe *what* to do: the sequence of weights for the new version and how
//! long to hold each. `deploy/executor.rs` does them (shift, watch, roll back), the same way for all.

use std::fmt;
use std::time::Duration;

/// One step of a plan: route `weight`% of traffic to the new version, then hold for `hold`
/// while alarms are watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub weight: u8,
    pub hold: Duration,
}

/// A way of moving traffic from the old version to the new one.
pub trait DeployStrategy: fmt::Debug + Send + Sync {
    /// Name shown in logs and events (`allatonce`, `canary`, `linear`, `steps`).
    fn name(&self) -> &'static str;
    /// The steps, with strictly increasing weights ending at 100.
    fn steps(&self) -> Vec<Step>;
}

/// Blue/green: 100% at once, then one monitored hold.
#[derive(Debug)]
pub struct AllAtOnce {
    pub interval: Duration,
}

/// `increment`% for one hold, then 100%: it holds once, as `sfndeploy.py` and CodeDeploy do
/// (a watch after 100% is `--bake`).
#[derive(Debug)]
pub struct Canary {
    pub increment: u8,
    pub interval: Duration,
}

/// `increment`% more after every hold until 100%.
#[derive(Debug)]
pub struct Linear {
    pub increment: u8,
    pub interval: Duration,
}

/// A custom schedule (`--steps 1:5m,10:15m,50:30m,100`): each weight with its own hold, or
/// `interval` when it has none.
#[derive(Debug)]
pub struct Steps {
    pub steps: Vec<(u8, Option<Duration>)>,
    pub interval: Duration,
}

/// Doubling from `increment`% after every hold (5, 10, 20, 40, 80, 100): AppConfig's exponential
/// growth.
#[derive(Debug)]
pub struct Exponential {
    pub increment: u8,
    pub interval: Duration,
}

impl DeployStrategy for AllAtOnce {
    fn name(&self) -> &'static str {
        "allatonce"
    }
    fn steps(&self) -> Vec<Step> {
        vec![Step { weight: 100, hold: self.interval }]
    }
}

impl DeployStrategy for Canary {
    fn name(&self) -> &'static str {
        "canary"
    }
    fn steps(&self) -> Vec<Step> {
        let mut plan = vec![Step { weight: self.increment, hold: self.interval }];
        if self.increment < 100 {
            plan.push(Step { weight: 100, hold: Duration::ZERO });
        }
        plan
    }
}

impl DeployStrategy for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }
    fn steps(&self) -> Vec<Step> {
        let increment = self.increment.max(1);
        let mut weights = Vec::new();
        let mut weight = 0u8;
        while weight < 100 {
            weight = weight.saturating_add(increment).min(100);
            weights.push(weight);
        }
        with_hold(&weights, self.interval)
    }
}

impl DeployStrategy for Steps {
    fn name(&self) -> &'static str {
        "steps"
    }
    fn steps(&self) -> Vec<Step> {
        self.steps
            .iter()
            .map(|&(weight, hold)| Step { weight, hold: hold.unwrap_or(self.interval) })
            .collect()
    }
}

impl DeployStrategy for Exponential {
    fn name(&self) -> &'static str {
        "exponential"
    }
    fn steps(&self) -> Vec<Step> {
        let mut weights = Vec::new();
        let mut weight = u16::from(self.increment.max(1));
        while weight < 100 {
            weights.push(weight as u8);
            weight *= 2;
        }
        weights.push(100);
        with_hold(&weights, self.interval)
    }
}

fn with_hold(weights: &[u8], hold: Duration) -> Vec<Step> {
    weights.iter().map(|&weight| Step { weight, hold }).collect()
}

/// `--bake`: the monitored hold after the new version reaches 100%, in place of the strategy's
/// own (none for a canary; one interval for the others, as in `sfndeploy.py`).
pub fn with_bake(mut plan: Vec<Step>, bake: Option<Duration>) -> Vec<Step> {
    if let (Some(bake), Some(last)) = (bake, plan.last_mut()) {
        last.hold = bake;
    }
    plan
}

/// Total hold time of a plan: how long a deploy that goes to the end takes, API calls aside.
pub fn total_hold(plan: &[Step]) -> Duration {
    plan.iter().map(|s| s.hold).sum()
}

/// `10% → 100%, holding 5m after each` or `5% (1m) → 50% (10m) → 100% (1m)`.
pub fn describe(plan: &[Step]) -> String {
    let uniform = plan.windows(2).all(|w| w[0].hold == w[1].hold);
    match plan.first() {
        Some(first) if uniform => {
            format!(
                "{}, holding {} after each",
                crate::text::percents(plan.iter().map(|s| s.weight)),
                crate::text::human(first.hold)
            )
        }
        _ => plan
            .iter()
            .map(|s| format!("{}% ({})", s.weight, crate::text::human(s.hold)))
            .collect::<Vec<_>>()
            .join(" → "),
    }
}

/// Checks a custom schedule: each weight 1..=100, strictly increasing, ending at 100.
pub fn check_steps(weights: &[u8]) -> Result<(), String> {
    if weights.is_empty() {
        return Err("--steps needs at least one weight, ending with 100".into());
    }
    if let Some(w) = weights.iter().find(|&&w| w == 0 || w > 100) {
        return Err(format!("--steps weight {w} is out of range: each must be 1 to 100"));
    }
    if weights.windows(2).any(|p| p[0] >= p[1]) {
        return Err("--steps weights must increase strictly, e.g. 5,25,50,100".into());
    }
    if weights.last() != Some(&100) {
        return Err("--steps must end with 100 so that the new version takes all traffic".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(s: &dyn DeployStrategy) -> Vec<u8> {
        s.steps().iter().map(|s| s.weight).collect()
    }

    #[test]
    fn linear_plans_match_the_script() {
        let secs = Duration::from_secs;
        let cases: &[(u8, u64, &[u8])] = &[
            (10, 10, &[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]),
            (30, 12, &[30, 60, 90, 100]),
            (90, 0, &[90, 100]),
            (100, 0, &[100]),
            (33, 1, &[33, 66, 99, 100]),
            (1, 1, &(1..=100).collect::<Vec<u8>>()),
            (50, 7, &[50, 100]),
        ];
        for &(increment, interval, expected) in cases {
            let strategy = Linear { increment, interval: secs(interval) };
            let plan = strategy.steps();
            assert_eq!(weights(&strategy), expected, "linear {increment}/{interval}");
            assert!(plan.iter().all(|s| s.hold == secs(interval)));
            assert_eq!(
                total_hold(&plan),
                secs(interval * expected.len() as u64),
                "linear {increment}/{interval} duration"
            );
        }
    }

    #[test]
    fn canary_plans_match_the_script_and_hold_once() {
        let cases: &[(u8, &[u8])] = &[(100, &[100]), (10, &[10, 100]), (1, &[1, 100])];
        for &(increment, expected) in cases {
            let strategy = Canary { increment, interval: Duration::from_secs(2) };
            assert_eq!(weights(&strategy), expected, "canary {increment}/2");
            assert_eq!(total_hold(&strategy.steps()), Duration::from_secs(2), "one hold");
        }
        let baked = with_bake(
            Canary { increment: 10, interval: Duration::from_secs(300) }.steps(),
            Some(Duration::from_secs(60)),
        );
        assert_eq!(
            baked,
            [
                Step { weight: 10, hold: Duration::from_secs(300) },
                Step { weight: 100, hold: Duration::from_secs(60) }
            ]
        );
        let linear = Linear { increment: 50, interval: Duration::from_secs(10) };
        assert_eq!(with_bake(linear.steps(), None), linear.steps(), "no --bake: the strategy's own");
        assert_eq!(with_bake(linear.steps(), Some(Duration::ZERO)).last().unwrap().hold, Duration::ZERO);
    }

    #[test]
    fn all_at_once_is_one_monitored_hold() {
        let plan = AllAtOnce { interval: Duration::from_secs(120) }.steps();
        assert_eq!(plan, [Step { weight: 100, hold: Duration::from_secs(120) }]);
    }

    #[test]
    fn exponential_doubles_from_the_increment() {
        let weights = |increment| weights(&Exponential { increment, interval: Duration::from_secs(60) });
        assert_eq!(weights(5), [5, 10, 20, 40, 80, 100]);
        assert_eq!(weights(1), [1, 2, 4, 8, 16, 32, 64, 100]);
        assert_eq!(weights(50), [50, 100]);
        assert_eq!(weights(100), [100]);
        let custom = Steps {
            steps: vec![(1, Some(Duration::from_secs(300))), (10, None), (100, Some(Duration::ZERO))],
            interval: Duration::from_secs(60),
        };
        let holds: Vec<u64> = custom.steps().iter().map(|s| s.hold.as_secs()).collect();
        assert_eq!(holds, [300, 60, 0], "a bare weight takes the interval");
    }

    #[test]
    fn custom_steps_are_checked() {
        assert!(check_steps(&[5, 25, 50, 100]).is_ok());
        assert!(check_steps(&[100]).is_ok());
        for bad in [&[][..], &[0, 100], &[5, 5, 100], &[50, 10, 100], &[5, 50], &[5, 101]] {
            assert!(check_steps(bad).is_err(), "{bad:?} accepted");
        }
    }
}
