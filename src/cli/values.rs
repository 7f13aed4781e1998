//! The values flags take, parsed and checked: durations, percents, weights, strategies. Each
//! mistake is one sentence, which clap prints after the flag's name.

use std::time::Duration;

/// A strategy as named on the command line; presets fix increment and interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrategyChoice {
    AllAtOnce,
    Canary,
    Linear,
    Exponential,
    Preset { name: &'static str, kind: PresetKind, increment: u8, interval: Duration },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresetKind {
    Canary,
    Linear,
}

const PRESETS: [(&str, PresetKind, u64); 8] = [
    ("Canary10Percent5Minutes", PresetKind::Canary, 5),
    ("Canary10Percent10Minutes", PresetKind::Canary, 10),
    ("Canary10Percent15Minutes", PresetKind::Canary, 15),
    ("Canary10Percent30Minutes", PresetKind::Canary, 30),
    ("Linear10PercentEvery1Minute", PresetKind::Linear, 1),
    ("Linear10PercentEvery2Minutes", PresetKind::Linear, 2),
    ("Linear10PercentEvery3Minutes", PresetKind::Linear, 3),
    ("Linear10PercentEvery10Minutes", PresetKind::Linear, 10),
];

pub(super) fn parse_strategy(s: &str) -> Result<StrategyChoice, String> {
    let folded: String =
        s.chars().filter(|c| !matches!(c, '_' | '-' | ' ')).collect::<String>().to_ascii_lowercase();
    match folded.as_str() {
        "allatonce" | "bluegreen" => return Ok(StrategyChoice::AllAtOnce),
        "canary" => return Ok(StrategyChoice::Canary),
        "linear" => return Ok(StrategyChoice::Linear),
        "exponential" => return Ok(StrategyChoice::Exponential),
        _ => {}
    }
    PRESETS
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(&folded))
        .map(|&(name, kind, minutes)| StrategyChoice::Preset {
            name,
            kind,
            increment: 10,
            interval: Duration::from_secs(minutes * 60),
        })
        .ok_or_else(|| {
            "expected allatonce, canary, linear, exponential, or a predefined config such as \
             Canary10Percent5Minutes or Linear10PercentEvery1Minute"
                .to_string()
        })
}

pub(super) fn parse_increment(s: &str) -> Result<u8, String> {
    match s.trim().parse::<i64>() {
        Ok(n @ 1..=100) => Ok(n as u8),
        _ => Err("the increment must be a whole number of percent from 1 to 100".into()),
    }
}

pub(super) fn parse_pause_at(s: &str) -> Result<u8, String> {
    match s.trim().parse::<i64>() {
        Ok(n @ 1..=99) => Ok(n as u8),
        _ => Err("pause at a whole number of percent from 1 to 99 (at 100 the deploy is done)".into()),
    }
}

/// One step of `--steps`: a weight, with its own hold after a colon (`10:15m`) or not (`10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepSpec {
    pub weight: u8,
    pub hold: Option<Duration>,
}

pub(super) fn parse_step(s: &str) -> Result<StepSpec, String> {
    let (weight, hold) = match s.split_once(':') {
        Some((w, h)) => (w, Some(parse_duration(h).map_err(|e| format!("the hold of step {s}: {e}"))?)),
        None => (s, None),
    };
    match weight.trim().parse::<i64>() {
        Ok(n @ 1..=100) => Ok(StepSpec { weight: n as u8, hold }),
        _ => Err("each weight must be a whole number of percent from 1 to 100, with its hold after a colon \
                  if it has its own (10:15m)"
            .into()),
    }
}

pub(super) fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 100.0 => Ok(r),
        _ => Err("use a number of deletions per second above 0 and at most 100, e.g. 1 or 0.5".into()),
    }
}

pub(super) fn parse_history_max(s: &str) -> Result<u16, String> {
    match s.trim().parse::<i64>() {
        Ok(0) => Ok(0),
        Ok(1) => Err("1 would keep no version to roll back to: use 0 (keep all) or at least 2".into()),
        Ok(n @ 2..=1000) => Ok(n as u16),
        _ => Err("use 0 (keep all versions) or a number from 2 to 1000".into()),
    }
}

/// The longest duration any flag takes. Holds, polling and timeouts are added to clock readings
/// and multiplied by up to 100 steps: bounding each keeps every sum far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A bare number is seconds (as in the script); otherwise a duration with units: 500ms, 30s, 5m, 1h30m.
/// At most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let too_long = || format!("'{s}' is too long: at most 30 days (30d)");
    let d = if let Ok(secs) = s.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = s.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return Err("a duration must be a number of seconds of 0 or more".into());
        }
        Duration::try_from_secs_f64(secs).map_err(|_| too_long())?
    } else {
        humantime::parse_duration(s).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(),
            _ => format!("'{s}' is not a duration: use seconds (90) or units (90s, 5m, 1h)"),
        })?
    };
    if d > MAX_DURATION {
        return Err(too_long());
    }
    Ok(d)
}

/// 0 to 100, fractions allowed: `5`, `0.5`.
pub(super) fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("'{s}' is not a percentage from 0 to 100")),
    }
}

/// Above 0, with fractions: `50`, `12.5`.
pub(super) fn parse_increase(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if p.is_finite() && p > 0.0 && p <= 10_000.0 => Ok(p),
        _ => Err(format!("'{s}' is not a percentage above 0 (at most 10000)")),
    }
}

/// 50 to 99.9: how sure a gate must be.
pub(super) fn parse_confidence(s: &str) -> Result<f64, String> {
    match s.trim().trim_end_matches('%').parse::<f64>() {
        Ok(p) if (50.0..=99.9).contains(&p) => Ok(p),
        _ => Err(format!("'{s}' is not a confidence from 50 to 99.9 percent")),
    }
}

pub(super) fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be longer than zero".into()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok: &[(&str, u64)] = &[
            ("120", 120_000),
            ("0", 0),
            ("90s", 90_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("1.5", 1_500),
        ];
        for &(text, ms) in ok {
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        for bad in
            ["", "-1", "abc", "5 parsecs", "1e20", "1e300", "inf", "NaN", "99999999999999999999", "31d"]
        {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(parse_duration("30d"), Ok(MAX_DURATION));
        assert!(parse_positive_duration("0").is_err());
    }

    #[test]
    fn strategies_any_case_and_presets() {
        for (text, expected) in [
            ("allatonce", StrategyChoice::AllAtOnce),
            ("ALLATONCE", StrategyChoice::AllAtOnce),
            ("ALL_AT_ONCE", StrategyChoice::AllAtOnce),
            ("AllAtOnce", StrategyChoice::AllAtOnce),
            ("Canary", StrategyChoice::Canary),
            ("CANARY", StrategyChoice::Canary),
            ("linear", StrategyChoice::Linear),
        ] {
            assert_eq!(parse_strategy(text), Ok(expected), "{text}");
        }
        let Ok(StrategyChoice::Preset { kind, increment, interval, .. }) =
            parse_strategy("Linear10PercentEvery3Minutes")
        else {
            panic!("preset not parsed");
        };
        assert_eq!((kind, increment, interval), (PresetKind::Linear, 10, Duration::from_secs(180)));
        assert!(parse_strategy("bluegreenish").is_err());
    }

    #[test]
    fn numeric_ranges() {
        for bad in ["0", "-1", "101", "500", "x"] {
            assert!(parse_increment(bad).is_err(), "increment {bad} accepted");
        }
        assert_eq!(parse_increment("100"), Ok(100));
        assert_eq!(parse_history_max("0"), Ok(0));
        assert_eq!(parse_history_max("2"), Ok(2));
        for bad in ["1", "-3", "1001"] {
            assert!(parse_history_max(bad).is_err(), "history-max {bad} accepted");
        }
    }
}
