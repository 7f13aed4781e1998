//! The summary's Mermaid chart (GitHub renders it with Mermaid) of the new versions' share of
//! traffic over real time: a numeric axis in minutes since the start, each weight sampled as the
//! step function it is (a one-second step and a ten-minute hold look as long as they were), in
//! colors that show on GitHub's light and dark themes (an init directive; the chart's own
//! background transparent, so the page's is the one they stand on), one line and one color per
//! member of a release. How it ended is in the title.

use std::time::Duration;

use crate::arn::short_version;
use crate::report::{Entry, Event};
use crate::text::{clock, one_line};

/// Samples per line: a step shows as a near-vertical edge, 1/128 of the chart wide. Mermaid
/// spreads a line's values over a numeric axis by adding (max - min) / (values - 1) again and
/// again: with 128 intervals and a round axis end (see [`axis_minutes`]) every sum is exact in
/// floating point, so no value falls off the end.
pub const SAMPLES: usize = 129;

/// Where the time axis may end, in minutes: each a binary fraction of few bits, so that a
/// 128th of it, added up, is exact.
const AXIS_ENDS: [f64; 24] = [
    0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0,
    180.0, 240.0, 360.0, 480.0, 720.0, 1440.0,
];

/// The colors of the first ten lines: saturated, mid-light, apart in hue; each stands out on
/// white and on GitHub's dark background (#0d1117) by a contrast of at least 3:1. Beyond ten,
/// hues go round the golden angle, each as light as gives it the same standing (a relative
/// luminance of 0.2).
const PALETTE: [&str; 10] = [
    "#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#db2777", "#a16207", "#4f46e5",
    "#65a30d",
];

/// Line `n`'s color.
pub fn color(n: usize) -> String {
    if let Some(c) = PALETTE.get(n) {
        return c.to_string();
    }
    let hue = (n as f64 * 137.508) % 360.0;
    let (mut low, mut high) = (0.05, 0.95);
    for _ in 0..30 {
        let mid = (low + high) / 2.0;
        if luminance(&hsl(hue, 0.8, mid)) < 0.2 { low = mid } else { high = mid }
    }
    hsl(hue, 0.8, low)
}

/// WCAG relative luminance of `#rrggbb`.
pub fn luminance(hex: &str) -> f64 {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
}

fn hsl(h: f64, s: f64, l: f64) -> String {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = l - c / 2.0;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", byte(r), byte(g), byte(b))
}

/// The new version's weight an event leaves, and how the deploy stands then.
fn point(event: &Event) -> Option<(u8, Option<String>)> {
    Some(match event {
        Event::Started { from_weight, .. } => (*from_weight, None),
        Event::WeightsChanged { new_weight, .. } => (*new_weight, None),
        Event::RolledBack { .. } => (0, Some("rolled back".into())),
        Event::Paused { weight, .. } => (*weight, Some(format!("paused at {weight}%"))),
        Event::Promoted { .. } => (100, Some("promoted".into())),
        Event::Completed { .. } => (100, Some("done".into())),
        _ => return None,
    })
}

/// A member's weight over time: (when, weight) at each change, in order.
type Steps = Vec<(Duration, u8)>;

/// The axis's end, in minutes: the last moment rounded up to one of [`AXIS_ENDS`] (past a day,
/// to whole 4 hours).
fn axis_minutes(last: Duration) -> f64 {
    let m = last.as_secs_f64() / 60.0;
    AXIS_ENDS.iter().copied().find(|end| *end >= m).unwrap_or_else(|| (m / 240.0).ceil() * 240.0)
}

/// `steps` sampled at [`SAMPLES`] moments evenly spread over `0..=minutes`: the weight in force
/// at each (before the first change: the first weight).
fn sampled(steps: &Steps, minutes: f64) -> Vec<u8> {
    (0..SAMPLES)
        .map(|i| {
            let t = Duration::from_secs_f64(minutes * 60.0 * i as f64 / (SAMPLES - 1) as f64);
            steps.iter().take_while(|(at, _)| *at <= t).last().or(steps.first()).map_or(0, |(_, w)| *w)
        })
        .collect()
}

fn mermaid(title: &str, lines: &[Steps]) -> String {
    let last = lines.iter().filter_map(|s| s.last().map(|(at, _)| *at)).max().unwrap_or_default();
    let minutes = axis_minutes(last);
    let palette: Vec<String> = (0..lines.len()).map(color).collect();
    let lines: Vec<String> = lines
        .iter()
        .map(|s| {
            let values: Vec<String> = sampled(s, minutes).iter().map(u8::to_string).collect();
            format!("    line [{}]", values.join(", "))
        })
        .collect();
    format!(
        "```mermaid\n%%{{init: {{\"themeVariables\": {{\"xyChart\": {{\"backgroundColor\": \"transparent\", \
         \"plotColorPalette\": \"{}\"}}}}}}}}%%\n\
         xychart-beta\n    title \"{title}\"\n    x-axis \"minutes since the start\" 0 --> {minutes}\n    \
         y-axis \"% of traffic\" 0 --> 100\n{}\n```\n",
        palette.join(", "),
        lines.join("\n")
    )
}

/// How the deploy stood at its last point, with when: `rolled back at 03:00`.
fn ending(entries: &[Entry]) -> Option<String> {
    entries.iter().rev().find_map(|e| {
        let (_, what) = point(&e.event)?;
        Some(format!("{} at {}", what?, clock(e.at)))
    })
}

/// One deploy's chart; None when traffic never moved.
pub fn single(entries: &[Entry]) -> Option<String> {
    let version = entries.iter().find_map(|e| match &e.event {
        Event::Started { new_version, .. } => Some(short_version(new_version)),
        _ => None,
    });
    let steps: Steps = entries.iter().filter_map(|e| point(&e.event).map(|(w, _)| (e.at, w))).collect();
    if steps.len() < 2 {
        return None;
    }
    let mut title = format!("{}: share of traffic", version.unwrap_or_default());
    if let Some(end) = ending(entries) {
        title.push_str(&format!(", {end}"));
    }
    Some(mermaid(&title, &[steps]))
}

/// One chart for a release: a line per member (in the order given, each its own color), its
/// new version's share of traffic over time.
pub fn release(entries: &[Entry], members: &[String]) -> Option<String> {
    let mut lines: Vec<Steps> = vec![Vec::new(); members.len()];
    for entry in entries {
        let Some(i) = entry.member.as_ref().and_then(|m| members.iter().position(|n| n == m)) else {
            continue;
        };
        if let Some((weight, _)) = point(&entry.event) {
            lines[i].push((entry.at, weight));
        }
    }
    if lines.iter().map(Vec::len).sum::<usize>() < 2 {
        return None;
    }
    let mut title = "each new version's share of traffic".to_string();
    if let Some(end) = ending(entries) {
        title.push_str(&format!(", {end}"));
    }
    let chart = mermaid(&title, &lines);
    let names: Vec<String> =
        members.iter().enumerate().map(|(n, m)| format!("`{}` ({})", one_line(m), color(n))).collect();
    Some(format!("{chart}\nLines: {}.\n", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_sampled_over_real_time() {
        let s = |secs: u64, w: u8| (Duration::from_secs(secs), w);
        // 10% for a second, then 50% for nine minutes: 1/540 of the time at 10%.
        let steps = vec![s(0, 0), s(1, 10), s(2, 50), s(542, 100)];
        assert_eq!(axis_minutes(Duration::from_secs(542)), 10.0);
        let samples = sampled(&steps, 10.0);
        assert_eq!(samples.len(), SAMPLES);
        // A sample every 4.6875 s: 115 of them between 2 s and 542 s.
        assert_eq!(samples.iter().filter(|w| **w == 50).count(), 115, "{samples:?}");
        assert_eq!(samples[0], 0);
        assert_eq!(*samples.last().unwrap(), 100);
    }

    #[test]
    fn a_128th_of_the_axis_adds_up_exactly_as_mermaid_adds_it() {
        for end in AXIS_ENDS.iter().copied().chain([1680.0, 2400.0]) {
            let step = end / (SAMPLES - 1) as f64;
            let (mut i, mut n) = (0.0, 0);
            while i <= end {
                n += 1;
                i += step;
            }
            assert_eq!(n, SAMPLES, "axis 0 --> {end}");
        }
        assert_eq!(axis_minutes(Duration::from_secs(20)), 0.5);
        assert_eq!(axis_minutes(Duration::from_secs(3 * 86_400)), 4320.0);
    }

    #[test]
    fn twenty_members_have_twenty_distinct_colors() {
        let colors: std::collections::HashSet<String> = (0..20).map(color).collect();
        assert_eq!(colors.len(), 20);
        let contrast = |a: f64, b: f64| (a.max(b) + 0.05) / (a.min(b) + 0.05);
        for c in &colors {
            assert!(c.len() == 7 && c.starts_with('#'), "{c}");
            let l = luminance(c);
            assert!(
                contrast(l, luminance("#ffffff")) >= 3.0 && contrast(l, luminance("#0d1117")) >= 3.0,
                "{c}"
            );
        }
    }
}
