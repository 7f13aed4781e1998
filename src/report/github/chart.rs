//! The summary's Mermaid chart (GitHub renders it) of the new versions' share of traffic at each
//! moment one changed, with a rollback or a pause marked: one line for a deploy, a line per
//! member for a release.

use std::time::Duration;

use crate::arn::short_version;
use crate::report::{Entry, Event};
use crate::text::{clock, one_line};

/// The new version's weight an event leaves, and what to call that moment.
fn point(event: &Event) -> Option<(u8, String)> {
    Some(match event {
        Event::Started { from_weight, .. } => (*from_weight, "start".to_string()),
        Event::WeightsChanged { step, steps, new_weight, .. } => {
            (*new_weight, format!("step {step}/{steps}"))
        }
        Event::RolledBack { .. } => (0, "rolled back".into()),
        Event::Paused { weight, .. } => (*weight, "paused".into()),
        Event::Completed { .. } => (100, "done".into()),
        _ => return None,
    })
}

/// `"03:00 rolled back"`
fn label(at: Duration, what: &str) -> String {
    format!("{} {what}", clock(at))
}

fn mermaid(title: &str, labels: &[String], lines: &[Vec<u8>]) -> String {
    let labels: Vec<String> = labels.iter().map(|l| format!("\"{l}\"")).collect();
    let lines: Vec<String> = lines
        .iter()
        .map(|s| format!("    line [{}]", s.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")))
        .collect();
    format!(
        "```mermaid\nxychart-beta\n    title \"{title}\"\n    x-axis [{}]\n    y-axis \"%\" 0 --> 100\n{}\n```\n",
        labels.join(", "),
        lines.join("\n")
    )
}

/// One deploy's chart; None when traffic never moved.
pub fn single(entries: &[Entry]) -> Option<String> {
    let version = entries.iter().find_map(|e| match &e.event {
        Event::Started { new_version, .. } => Some(short_version(new_version)),
        _ => None,
    });
    let points: Vec<(String, u8)> =
        entries.iter().filter_map(|e| point(&e.event).map(|(w, what)| (label(e.at, &what), w))).collect();
    if points.len() < 2 {
        return None;
    }
    let (labels, weights): (Vec<String>, Vec<u8>) = points.into_iter().unzip();
    let title = format!("{}: share of traffic (%)", version.unwrap_or_default());
    Some(mermaid(&title, &labels, &[weights]))
}

/// One chart for a release: a line per member (in the order given), each its new version's
/// share of traffic at every moment any member's changed.
pub fn release(entries: &[Entry], members: &[String]) -> Option<String> {
    let mut labels: Vec<String> = Vec::new();
    let mut series: Vec<Vec<u8>> = vec![Vec::new(); members.len()];
    let mut weights = vec![0u8; members.len()];
    for entry in entries {
        let Some(i) = entry.member.as_ref().and_then(|m| members.iter().position(|n| n == m)) else {
            continue;
        };
        let Some((weight, what)) = point(&entry.event) else { continue };
        weights[i] = weight;
        let label = label(entry.at, &what);
        let same_moment = labels.last() == Some(&label);
        if !same_moment {
            labels.push(label);
        }
        for (s, w) in series.iter_mut().zip(&weights) {
            match s.last_mut() {
                Some(last) if same_moment => *last = *w,
                _ => s.push(*w),
            }
        }
    }
    if labels.len() < 2 {
        return None;
    }
    let chart = mermaid("each new version's share of traffic (%)", &labels, &series);
    let names: Vec<String> = members.iter().map(|m| format!("`{}`", one_line(m))).collect();
    Some(format!("{chart}\nLines, in order: {}.\n", names.join(", ")))
}
