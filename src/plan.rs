//! What a deploy will do, decided from what was read: the alias routing, the version to deploy
//! and the flags. One pure function, [`decide`], serves the real run (before and after
//! publishing), `--dry-run`, `--resume`, `--pause-at` and `status`; the executor carries out its
//! answer.

use std::fmt;

use crate::arn::short_version;
use crate::routing::Routing;
use crate::strategy::Step;
use crate::text::percents;

/// The version the command line deploys, as far as it is known before any change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An existing version: the latest published one, or (with `--resume`) the one the current
    /// revision or `--file` was already published as.
    Known(String),
    /// A version the run will publish; its ARN is known only afterwards.
    ToPublish,
}

impl Target {
    fn arn(&self) -> Option<&str> {
        match self {
            Target::Known(arn) => Some(arn),
            Target::ToPublish => None,
        }
    }
}

/// The flags that change the decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub force: bool,
    pub resume: bool,
    /// `--pause-at`: stop after the hold of the first step whose weight reaches this.
    pub pause_at: Option<u8>,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The alias does not exist: create it at 100% on the target.
    CreateAlias,
    /// The alias already routes 100% to the target.
    NothingToDo { version: String },
    /// `--pause-at` is already reached: the alias stays split, as paused.
    AlreadyPaused { old: String, new: String, weight: u8 },
    /// Stop before any change.
    Refuse(Refusal),
    /// Move traffic.
    Shift(Shift),
}

/// Moving traffic from `old` to the target: `steps` are what is left of the plan after
/// `from_weight` (the target's current weight), cut after the pause step if there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shift {
    pub old: String,
    /// The target's weight now: 0 for a new deploy, W when resuming (or forcing) from W.
    pub from_weight: u8,
    pub steps: Vec<Step>,
    /// The plan stops at its last step and leaves the alias split there.
    pub pauses: bool,
    /// Continues a deploy of the same version (`--resume`, or `--force` onto a split alias
    /// that already carries the target).
    pub resumed: bool,
}

/// Why a deploy is refused, before any change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The alias is split and neither `--force` nor `--resume` was given.
    Split { routing: Routing },
    /// `--resume`, but there is no alias: nothing was started.
    ResumeNoAlias,
    /// `--resume`, but the alias routes all traffic to one version that is not the target.
    ResumeNotInProgress { on: String },
    /// `--resume`, but the split alias does not carry the version this command line deploys.
    ResumeOtherVersion { routing: Routing, target: Option<String> },
    /// More than two versions take traffic: no deploy of ours left it so.
    ThreeWay { routing: Routing },
}

/// The whole decision. `alias` is None when the alias does not exist.
pub fn decide(alias: Option<&Routing>, target: &Target, plan: &[Step], opts: Options) -> Decision {
    let Some(routing) = alias else {
        return if opts.resume { Decision::Refuse(Refusal::ResumeNoAlias) } else { Decision::CreateAlias };
    };
    let live = routing.live();
    let target_arn = target.arn();
    if let (Some(full), Some(t)) = (routing.full_version(), target_arn)
        && full == t
    {
        return Decision::NothingToDo { version: t.to_string() };
    }
    if live.len() > 2 {
        return Decision::Refuse(Refusal::ThreeWay { routing: routing.clone() });
    }
    let (old, from_weight, resumed) = match (live.as_slice(), opts.resume) {
        ([(only, _)], true) => {
            return Decision::Refuse(Refusal::ResumeNotInProgress { on: only.clone() });
        }
        ([(only, _)], false) => (only.clone(), 0, false),
        ([a, b], true) => match target_arn {
            Some(t) if t == a.0 => (b.0.clone(), a.1, true),
            Some(t) if t == b.0 => (a.0.clone(), b.1, true),
            _ => {
                return Decision::Refuse(Refusal::ResumeOtherVersion {
                    routing: routing.clone(),
                    target: target_arn.map(str::to_string),
                });
            }
        },
        ([a, b], false) if opts.force => {
            // The heavier version is the old one unless it is the target itself.
            match target_arn {
                Some(t) if t == a.0 => (b.0.clone(), a.1, true),
                Some(t) if t == b.0 => (a.0.clone(), b.1, true),
                _ => (a.0.clone(), 0, false),
            }
        }
        ([_, _], false) => return Decision::Refuse(Refusal::Split { routing: routing.clone() }),
        // An alias with no live entry cannot be read from AWS; treat it as on its first entry.
        _ => (routing.entries().first().map(|(a, _)| a.clone()).unwrap_or_default(), 0, false),
    };
    let mut steps: Vec<Step> = plan.iter().copied().filter(|s| s.weight > from_weight).collect();
    let mut pauses = false;
    if let Some(p) = opts.pause_at {
        if from_weight >= p
            && let Some(new) = target_arn
        {
            return Decision::AlreadyPaused { old, new: new.to_string(), weight: from_weight };
        }
        if let Some(i) = steps.iter().position(|s| s.weight >= p)
            && steps[i].weight < 100
        {
            steps.truncate(i + 1);
            pauses = true;
        }
    }
    Decision::Shift(Shift { old, from_weight, steps, pauses, resumed })
}

/// The step of `plan` at which `--pause-at percent` stops, or why there is none.
pub fn pause_step(plan: &[Step], percent: u8) -> Result<u8, String> {
    match plan.iter().find(|s| s.weight >= percent) {
        Some(s) if s.weight < 100 => Ok(s.weight),
        _ => Err(format!(
            "--pause-at {percent}: the plan ({}) has no step from {percent}% up to below 100% to pause at; \
             choose a lower percent or a strategy with more steps",
            percents(plan.iter().map(|s| s.weight))
        )),
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Split { routing } => write!(
                f,
                "the alias is split ({routing}): a deploy may be in progress, paused, or interrupted. \
                 Nothing was changed. Add --resume to continue a deploy of the version this command line \
                 deploys, --force to deploy from the version with the larger weight, or roll back first"
            ),
            Refusal::ResumeNoAlias => {
                f.write_str("--resume: the alias does not exist, so no deploy is in progress; nothing was changed. Drop --resume to create it")
            }
            Refusal::ResumeNotInProgress { on } => write!(
                f,
                "--resume: the alias routes 100% to {}, which is not the version this command line deploys, \
                 so no deploy of it is in progress; nothing was changed. Drop --resume to start a new deploy",
                short_version(on)
            ),
            Refusal::ResumeOtherVersion { routing, target } => write!(
                f,
                "--resume: the alias is split ({routing}) but this command line deploys {}, which is \
                 neither of them; nothing was changed. Resume with the command line of the interrupted \
                 deploy, or roll back first",
                target.as_deref().map_or_else(|| "a version not yet published".to_string(), short_version)
            ),
            Refusal::ThreeWay { routing } => write!(
                f,
                "the alias routes to more than two versions ({routing}): no deploy left it so; nothing was \
                 changed. Roll back to one version first"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SM: &str = "arn:aws:states:us-east-1:1:stateMachine:sm";

    fn v(n: u32) -> String {
        format!("{SM}:{n}")
    }

    fn routing(entries: &[(u32, u8)]) -> Routing {
        match entries {
            [(n, 100)] => Routing::single(&v(*n)),
            [(a, wa), (b, wb)] if wa + wb == 100 => Routing::shifted(&v(*a), &v(*b), *wb),
            _ => Routing::from_entries(entries.iter().map(|&(n, w)| (v(n), w)).collect()),
        }
    }

    fn linear25() -> Vec<Step> {
        [25, 50, 75, 100].iter().map(|&weight| Step { weight, hold: Duration::from_secs(1) }).collect()
    }

    fn shift(old: u32, from: u8, weights: &[u8], pauses: bool, resumed: bool) -> Decision {
        Decision::Shift(Shift {
            old: v(old),
            from_weight: from,
            steps: weights.iter().map(|&weight| Step { weight, hold: Duration::from_secs(1) }).collect(),
            pauses,
            resumed,
        })
    }

    #[test]
    fn one_table_of_cases() {
        let known = |n| Target::Known(v(n));
        let none = Options::default();
        let resume = Options { resume: true, ..none };
        let force = Options { force: true, ..none };
        let pause = |p| Options { pause_at: Some(p), ..none };
        let resume_pause = |p| Options { resume: true, pause_at: Some(p), ..none };
        let split = routing(&[(1, 50), (2, 50)]);
        let cases: Vec<(&str, Option<Routing>, Target, Options, Decision)> = vec![
            ("no alias: create", None, known(2), none, Decision::CreateAlias),
            ("no alias, publishing: create", None, Target::ToPublish, none, Decision::CreateAlias),
            ("no alias, resume: refuse", None, known(2), resume, Decision::Refuse(Refusal::ResumeNoAlias)),
            (
                "on target",
                Some(routing(&[(2, 100)])),
                known(2),
                none,
                Decision::NothingToDo { version: v(2) },
            ),
            (
                "on target, resume: nothing to do",
                Some(routing(&[(2, 100)])),
                known(2),
                resume,
                Decision::NothingToDo { version: v(2) },
            ),
            (
                "script leftover at 0% counts as on target",
                Some(Routing::from_entries(vec![(v(1), 0), (v(2), 100)])),
                known(2),
                none,
                Decision::NothingToDo { version: v(2) },
            ),
            (
                "on old: start from 0",
                Some(routing(&[(1, 100)])),
                known(2),
                none,
                shift(1, 0, &[25, 50, 75, 100], false, false),
            ),
            (
                "on old, to publish: start from 0",
                Some(routing(&[(1, 100)])),
                Target::ToPublish,
                none,
                shift(1, 0, &[25, 50, 75, 100], false, false),
            ),
            (
                "on old, resume: refuse",
                Some(routing(&[(1, 100)])),
                known(2),
                resume,
                Decision::Refuse(Refusal::ResumeNotInProgress { on: v(1) }),
            ),
            (
                "on old, pause at 50",
                Some(routing(&[(1, 100)])),
                known(2),
                pause(50),
                shift(1, 0, &[25, 50], true, false),
            ),
            (
                "pause at 40 stops at 50",
                Some(routing(&[(1, 100)])),
                known(2),
                pause(40),
                shift(1, 0, &[25, 50], true, false),
            ),
            (
                "split: refuse",
                Some(split.clone()),
                known(2),
                none,
                Decision::Refuse(Refusal::Split { routing: split.clone() }),
            ),
            (
                "split, resume from 50",
                Some(split.clone()),
                known(2),
                resume,
                shift(1, 50, &[75, 100], false, true),
            ),
            (
                "split at an odd weight, resume goes up only",
                Some(routing(&[(1, 40), (2, 60)])),
                known(2),
                resume,
                shift(1, 60, &[75, 100], false, true),
            ),
            (
                "split, resume the lighter way round",
                Some(routing(&[(2, 30), (1, 70)])),
                known(2),
                resume,
                shift(1, 30, &[50, 75, 100], false, true),
            ),
            (
                "split, resume another version: refuse",
                Some(split.clone()),
                known(3),
                resume,
                Decision::Refuse(Refusal::ResumeOtherVersion { routing: split.clone(), target: Some(v(3)) }),
            ),
            (
                "split, resume a version still to publish: refuse",
                Some(split.clone()),
                Target::ToPublish,
                resume,
                Decision::Refuse(Refusal::ResumeOtherVersion { routing: split.clone(), target: None }),
            ),
            (
                "split, resume, pause at 75",
                Some(split.clone()),
                known(2),
                resume_pause(75),
                shift(1, 50, &[75], true, true),
            ),
            (
                "split at the pause point, pause again: already paused",
                Some(split.clone()),
                known(2),
                resume_pause(50),
                Decision::AlreadyPaused { old: v(1), new: v(2), weight: 50 },
            ),
            (
                "split, force onto target: resumes",
                Some(split.clone()),
                known(2),
                force,
                shift(1, 50, &[75, 100], false, true),
            ),
            (
                "split, force, another version: heavier is old",
                Some(routing(&[(1, 30), (2, 70)])),
                known(3),
                force,
                shift(2, 0, &[25, 50, 75, 100], false, false),
            ),
            (
                "three versions: refuse",
                Some(routing(&[(1, 40), (2, 30), (3, 30)])),
                known(3),
                resume,
                Decision::Refuse(Refusal::ThreeWay { routing: routing(&[(1, 40), (2, 30), (3, 30)]) }),
            ),
        ];
        for (name, alias, target, opts, expected) in cases {
            assert_eq!(decide(alias.as_ref(), &target, &linear25(), opts), expected, "{name}");
        }
    }

    #[test]
    fn pause_needs_a_step_below_100() {
        assert_eq!(pause_step(&linear25(), 50), Ok(50));
        assert_eq!(pause_step(&linear25(), 1), Ok(25));
        assert_eq!(pause_step(&linear25(), 76).unwrap_err().split(':').next(), Some("--pause-at 76"));
        let canary = [Step { weight: 10, hold: Duration::ZERO }, Step { weight: 100, hold: Duration::ZERO }];
        assert!(pause_step(&canary, 50).is_err());
        assert_eq!(pause_step(&canary, 10), Ok(10));
    }
}
