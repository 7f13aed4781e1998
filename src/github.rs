//! Under GitHub Actions: a markdown summary of the deploy in `$GITHUB_STEP_SUMMARY`, and
//! `::error::`/`::warning::` annotations for rollbacks, failures and skipped work.

use std::io::Write;

use crate::alias::short_version;
use crate::events::{Event, human};
use crate::exit_code::ExitCode;

/// True when running as a GitHub Actions step.
pub fn active() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Writes the annotations (to stderr, where the runner reads workflow commands too, so that
/// stdout stays clean for `--output json`) and appends the step summary.
pub fn report(events: &[Event], code: ExitCode, outcome: &str, took: std::time::Duration) {
    if !active() {
        return;
    }
    for line in annotations(events, code, outcome) {
        eprintln!("{line}");
    }
    if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY")
        && !path.is_empty()
        && let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(&path)
    {
        let _ = file.write_all(summary(events, code, outcome, took).as_bytes());
    }
}

fn escape(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

pub fn annotations(events: &[Event], code: ExitCode, outcome: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if code != ExitCode::Success {
        let title = match code {
            ExitCode::RolledBack | ExitCode::Interrupted | ExitCode::Terminated => "sfndeploy rolled back",
            ExitCode::RollbackFailed => "sfndeploy could not roll back",
            ExitCode::Conflict => "sfndeploy stopped: alias changed by someone else",
            _ => "sfndeploy failed",
        };
        lines.push(format!("::error title={title}::{}", escape(outcome)));
    }
    for event in events {
        if let Event::Paused { alias, old_version, new_version, weight, .. } = event {
            lines.push(format!(
                "::notice title=sfndeploy paused::{}",
                escape(&format!(
                    "alias {alias} routes {}; continue with --resume or roll back",
                    crate::alias::Routing::shifted(old_version, new_version, *weight)
                ))
            ));
        }
        if let Event::Pruned { skipped, .. } = event {
            for (version, why) in skipped {
                lines.push(format!(
                    "::warning title=sfndeploy pruning::kept {}: {}",
                    short_version(version),
                    escape(why)
                ));
            }
        }
    }
    lines
}

pub fn summary(events: &[Event], code: ExitCode, outcome: &str, took: std::time::Duration) -> String {
    let paused = events.iter().any(|e| matches!(e, Event::Paused { .. }));
    let icon = match code {
        ExitCode::Success if paused => "⏸️",
        ExitCode::Success => "✅",
        _ => "❌",
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    for event in events {
        match event {
            Event::Started {
                state_machine,
                alias,
                old_version,
                new_version,
                strategy,
                steps,
                from_weight,
                ..
            } => {
                rows.push(("State machine".into(), format!("`{state_machine}`")));
                rows.push(("Alias".into(), alias.clone()));
                rows.push((
                    "Versions".into(),
                    format!(
                        "{} → {}",
                        old_version.as_deref().map_or("none".to_string(), short_version),
                        short_version(new_version)
                    ),
                ));
                let weights: Vec<String> = steps.iter().map(|s| format!("{}%", s.weight)).collect();
                rows.push(("Strategy".into(), format!("{strategy} ({})", weights.join(" → "))));
                if *from_weight > 0 {
                    rows.push(("Resumed from".into(), format!("{from_weight}%")));
                }
            }
            Event::Paused { old_version, new_version, weight, resume_command, rollback_command, .. } => {
                let routing = crate::alias::Routing::shifted(old_version, new_version, *weight);
                rows.push(("Paused at".into(), routing.to_string()));
                rows.push(("Continue".into(), format!("`{resume_command}`")));
                rows.push(("Roll back".into(), format!("`{rollback_command}`")));
            }
            Event::Published { version, .. } => rows.push(("Published".into(), short_version(version))),
            Event::AlarmFired { alarms } => rows.push(("Alarm fired".into(), alarms.join(", "))),
            Event::RolledBack { version, reason } => {
                rows.push(("Rolled back".into(), format!("to {} ({reason})", short_version(version))))
            }
            Event::Pruned { deleted, .. } => rows.push((
                "Pruned".into(),
                if deleted.is_empty() {
                    "nothing".into()
                } else {
                    deleted.iter().map(|v| short_version(v)).collect::<Vec<_>>().join(", ")
                },
            )),
            _ => {}
        }
    }
    rows.push(("Duration".into(), human(took)));
    rows.push(("Exit code".into(), format!("{} ({})", code.code(), code.name())));
    let mut md = format!("### {icon} sfndeploy\n\n{}\n\n| | |\n|---|---|\n", outcome.replace('\n', " "));
    for (k, v) in rows {
        md.push_str(&format!("| {k} | {} |\n", v.replace('|', "\\|")));
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_and_classify() {
        let lines = annotations(&[], ExitCode::RolledBack, "alarm fired\n100% back");
        assert_eq!(lines, ["::error title=sfndeploy rolled back::alarm fired%0A100%25 back"]);
        assert!(annotations(&[], ExitCode::Success, "ok").is_empty());
    }

    #[test]
    fn summary_is_a_markdown_table() {
        let events = [Event::AlarmFired { alarms: vec!["errors".into()] }];
        let md = summary(&events, ExitCode::RolledBack, "rolled back", std::time::Duration::from_secs(62));
        assert!(md.starts_with("### ❌ sfndeploy\n\nrolled back\n"));
        assert!(md.contains("| Alarm fired | errors |"));
        assert!(md.contains("| Duration | 1m2s |"));
        assert!(md.contains("| Exit code | 3 (rolled_back) |"));
    }

    #[test]
    fn a_pause_says_what_is_live_and_how_to_go_on() {
        let sm = "arn:aws:states:us-east-1:1:stateMachine:orders";
        let events = [Event::Paused {
            alias: "prod".into(),
            old_version: format!("{sm}:6"),
            new_version: format!("{sm}:7"),
            weight: 50,
            resume_command: "sfndeploy --state-machine orders --alias prod --resume".into(),
            rollback_command: "sfndeploy rollback --state-machine orders --alias prod --to-version 6".into(),
        }];
        let md = summary(&events, ExitCode::Success, "Paused", std::time::Duration::from_secs(60));
        assert!(md.starts_with("### ⏸️ sfndeploy"), "{md}");
        assert!(md.contains("| Paused at | v6 50% / v7 50% |"), "{md}");
        assert!(
            md.contains("| Continue | `sfndeploy --state-machine orders --alias prod --resume` |"),
            "{md}"
        );
        assert!(md.contains(
            "| Roll back | `sfndeploy rollback --state-machine orders --alias prod --to-version 6` |"
        ));
        let notes = annotations(&events, ExitCode::Success, "Paused");
        assert_eq!(
            notes,
            [
                "::notice title=sfndeploy paused::alias prod routes v6 50%25 / v7 50%25; continue with --resume or roll back"
            ]
        );
    }
}
