//! The markdown step summary: the outcome, a table of what happened, the traffic chart, a row
//! per step, and the definition's diff. One summary serves one state machine or many: a release
//! gets a row per member and a chart line per member, then each member's own review, hooks and
//! reruns.

use std::time::Duration;

use super::chart;
use super::rows::{rows, steps_table, transition};
use crate::arn::short_version;
use crate::exit_code::ExitCode;
use crate::report::{Entry, Event};
use crate::routing::Routing;
use crate::text::{human, one_line};

/// The summary of a run: of its one state machine, or of a release of several.
pub fn summary(entries: &[Entry], code: ExitCode, outcome: &str, took: Duration) -> String {
    let members = members(entries);
    if members.len() > 1 {
        return release_summary(entries, &members, code, outcome, took);
    }
    let events: Vec<&Event> = entries.iter().map(|e| &e.event).collect();
    let mut rows = rows(&events);
    rows.extend(end_rows(code, took));
    let mut md = format!("### {} sfndeploy\n\n{}\n\n", icon(code, &events), outcome.replace('\n', " "));
    md.push_str(&table(&rows));
    md.push('\n');
    if let Some(chart) = chart::single(entries) {
        md.push_str(&chart);
        md.push('\n');
    }
    if let Some(table) = steps_table(entries) {
        md.push_str(&table);
        md.push('\n');
    }
    md.push_str(&diff_blocks(&events));
    md
}

/// The state machines the entries concern, in the order they first appear.
fn members(entries: &[Entry]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in entries.iter().filter_map(|e| e.member.as_ref()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// ✅, ❌, or ⏸️ for a run that paused on purpose.
fn icon(code: ExitCode, events: &[&Event]) -> &'static str {
    match code {
        ExitCode::Success if events.iter().any(|e| matches!(e, Event::Paused { .. })) => "⏸️",
        ExitCode::Success => "✅",
        _ => "❌",
    }
}

/// The rows every summary ends with.
fn end_rows(code: ExitCode, took: Duration) -> [(String, String); 2] {
    [("Duration".into(), human(took)), ("Exit code".into(), format!("{} ({})", code.code(), code.name()))]
}

/// A two-column table of `rows`, each cell on one line with its `|` escaped.
fn table(rows: &[(String, String)]) -> String {
    let mut md = String::from("| | |\n|---|---|\n");
    for (k, v) in rows {
        md.push_str(&format!("| {k} | {} |\n", cell(v)));
    }
    md
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// The summary of a release: the outcome, a row per member (its versions and where it ended),
/// one chart with a line per member, then each member's review, hooks and reruns.
fn release_summary(
    entries: &[Entry],
    members: &[String],
    code: ExitCode,
    outcome: &str,
    took: Duration,
) -> String {
    let events: Vec<&Event> = entries.iter().map(|e| &e.event).collect();
    let mut md = format!(
        "### {} sfndeploy: a release of {} state machines\n\n{}\n\n| State machine | Versions | Ended |\n|---|---|---|\n",
        icon(code, &events),
        members.len(),
        one_line(&outcome.replace('\n', " "))
    );
    for member in members {
        let own: Vec<&Event> =
            entries.iter().filter(|e| e.member.as_ref() == Some(member)).map(|e| &e.event).collect();
        let (versions, ended) = where_it_ended(&own);
        md.push_str(&format!("| `{}` | {versions} | {} |\n", one_line(member), cell(&one_line(&ended))));
    }
    md.push('\n');
    // What concerns the whole release (its waves, a wait for the window), then how it ended.
    let whole: Vec<&Event> = entries.iter().filter(|e| e.member.is_none()).map(|e| &e.event).collect();
    let mut rows = rows(&whole);
    rows.extend(end_rows(code, took));
    md.push_str(&table(&rows));
    md.push('\n');
    if let Some(chart) = chart::release(entries, members) {
        md.push_str(&chart);
        md.push('\n');
    }
    for member in members {
        md.push_str(&member_section(entries, member));
    }
    md
}

/// A member's versions (`v1 → v2`) and where its alias ended.
fn where_it_ended(events: &[&Event]) -> (String, String) {
    let (mut versions, mut ended) = (String::new(), String::from("unchanged"));
    for event in events {
        match event {
            Event::Started { old_version, new_version, .. } => {
                versions = transition(old_version, new_version)
            }
            Event::WeightsChanged { old_version, new_version, new_weight, .. } => {
                ended = Routing::shifted(old_version, new_version, *new_weight).to_string()
            }
            Event::RolledBack { version, .. } => ended = format!("rolled back to {}", short_version(version)),
            Event::Completed { version, .. } => ended = format!("100% on {}", short_version(version)),
            Event::AliasCreated { version, .. } => ended = format!("created on {}", short_version(version)),
            Event::NothingToDo { version, .. } => ended = format!("already on {}", short_version(version)),
            Event::Paused { old_version, new_version, weight, .. } => {
                ended = format!("paused: {}", Routing::shifted(old_version, new_version, *weight))
            }
            _ => {}
        }
    }
    (versions, ended)
}

/// A member's review, hooks and reruns, as a single deploy's summary shows them; nothing when
/// there is nothing to say.
fn member_section(entries: &[Entry], member: &str) -> String {
    let own: Vec<&Event> = entries
        .iter()
        .filter(|e| e.member.as_deref() == Some(member))
        .map(|e| &e.event)
        .filter(|e| {
            matches!(
                e,
                Event::DefinitionChanged { .. }
                    | Event::UnpinnedCall { .. }
                    | Event::HookFinished { .. }
                    | Event::Rerun { .. }
            )
        })
        .collect();
    if own.is_empty() {
        return String::new();
    }
    format!("#### `{}`\n\n{}\n{}", one_line(member), table(&rows(&own)), diff_blocks(&own))
}

/// The definition's unified diff, collapsed. A fence longer than any run of backticks in it.
fn diff_block(diff: &str) -> String {
    let longest = diff.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("<details><summary>Definition diff</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>\n\n")
}

/// The diff blocks of the definition changes among `events`.
fn diff_blocks(events: &[&Event]) -> String {
    let mut md = String::new();
    for event in events {
        if let Event::DefinitionChanged { changes, .. } = event
            && !changes.is_empty()
        {
            md.push_str(&diff_block(&changes.diff));
        }
    }
    md
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gates::alarms::AlarmState;
    use crate::report::github::annotations::annotations;

    /// A run's events as the reporter records them, at the times given, about no member in
    /// particular.
    fn timeline(events: impl IntoIterator<Item = (Duration, Event)>) -> Vec<Entry> {
        events.into_iter().map(|(at, event)| Entry { at, member: None, event }).collect()
    }

    #[test]
    fn summary_is_a_markdown_table() {
        let events = timeline([(Duration::ZERO, Event::AlarmFired { alarms: vec!["errors".into()] })]);
        let md = summary(&events, ExitCode::RolledBack, "rolled back", Duration::from_secs(62));
        assert!(md.starts_with("### ❌ sfndeploy\n\nrolled back\n"));
        assert!(md.contains("| Alarm fired | errors |"));
        assert!(md.contains("| Duration | 1m2s |"));
        assert!(md.contains("| Exit code | 3 (rolled_back) |"));
        let hook = Event::HookFinished {
            hook: "pre-traffic".into(),
            passed: false,
            exit_status: Some(1),
            end: "exit status 1 after 2s".into(),
            took: Duration::from_secs(2),
        };
        let md = summary(
            &timeline([(Duration::ZERO, hook)]),
            ExitCode::HookFailed,
            "hook failed",
            Duration::from_secs(3),
        );
        assert!(md.contains("| Pre-traffic hook | failed (exit status 1 after 2s) |"), "{md}");
    }

    #[test]
    fn a_pause_says_what_is_live_and_how_to_go_on() {
        let sm = "arn:aws:states:us-east-1:1:stateMachine:orders";
        let events = [Event::Paused {
            alias: "prod".into(),
            old_version: format!("{sm}:6"),
            new_version: format!("{sm}:7"),
            weight: 50,
            why: "as --pause-at asked".into(),
            resume_command: "sfndeploy --state-machine orders --alias prod --resume".into(),
            promote_command: "sfndeploy promote --state-machine orders --alias prod".into(),
            rollback_command: "sfndeploy rollback --state-machine orders --alias prod --to-version 6".into(),
        }];
        let paused = timeline(events.iter().map(|e| (Duration::ZERO, e.clone())));
        let md = summary(&paused, ExitCode::Success, "Paused", Duration::from_secs(60));
        assert!(md.starts_with("### ⏸️ sfndeploy"), "{md}");
        assert!(md.contains("| Paused at | v6 50% / v7 50%, as --pause-at asked |"), "{md}");
        assert!(
            md.contains("| Promote now | `sfndeploy promote --state-machine orders --alias prod` |"),
            "{md}"
        );
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
                "::notice title=sfndeploy paused::alias prod routes v6 50%25 / v7 50%25, as --pause-at asked; continue with --resume, promote, or roll back"
            ]
        );
    }

    /// A canary that an alarm rolled back, as the reporter records it.
    pub(crate) fn rolled_back_canary() -> Vec<Entry> {
        let v = |n: u32| format!("arn:aws:states:us-east-1:123456789012:stateMachine:orders:{n}");
        let ms = Duration::from_millis;
        let states = |errors: &str| {
            vec![
                AlarmState {
                    name: "orders-errors".into(),
                    state: errors.into(),
                    composite: false,
                    transitioned: None,
                },
                AlarmState {
                    name: "orders-latency".into(),
                    state: "OK".into(),
                    composite: false,
                    transitioned: None,
                },
            ]
        };
        let step = |weight, secs| crate::strategy::Step { weight, hold: Duration::from_secs(secs) };
        timeline(vec![
            (ms(40), Event::Published { version: v(7), file: None }),
            (
                ms(45),
                Event::Started {
                    state_machine: "arn:aws:states:us-east-1:123456789012:stateMachine:orders".into(),
                    alias: "prod".into(),
                    old_version: Some(v(6)),
                    new_version: v(7),
                    strategy: "canary".into(),
                    steps: vec![step(10, 300), step(100, 0)],
                    planned: Duration::from_secs(300),
                    from_weight: 0,
                },
            ),
            (ms(46), Event::AlarmsPolled { states: states("OK") }),
            (
                ms(60),
                Event::WeightsChanged {
                    step: 1,
                    steps: 2,
                    old_version: v(6),
                    new_version: v(7),
                    new_weight: 10,
                    hold: Duration::from_secs(300),
                    remaining: Duration::from_secs(300),
                },
            ),
            (ms(60_060), Event::AlarmsPolled { states: states("OK") }),
            (
                ms(120_070),
                Event::SignalReadFailed {
                    signal: "alarms".into(),
                    cause: crate::report::event::ReadCause::Error,
                    error: "DescribeAlarms: HTTP 503".into(),
                    unmonitored: ms(60_000),
                    throttled: Duration::ZERO,
                },
            ),
            (ms(180_080), Event::AlarmsPolled { states: states("ALARM") }),
            (ms(180_081), Event::AlarmFired { alarms: vec!["orders-errors".into()] }),
            (ms(180_082), Event::RollingBack { reason: "alarm(s) in ALARM: orders-errors".into() }),
            (
                ms(180_300),
                Event::RolledBack { version: v(6), reason: "alarm(s) in ALARM: orders-errors".into() },
            ),
        ])
    }

    /// Compares with the file in tests/snapshots; `UPDATE_SNAPSHOTS=1` rewrites it.
    fn snapshot(name: &str, text: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, text).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            expected == text,
            "{} differs (UPDATE_SNAPSHOTS=1 rewrites it):\n--- expected\n{expected}\n--- got\n{text}",
            path.display()
        );
    }

    #[test]
    fn the_summary_of_a_rollback_has_a_chart_and_a_row_per_step() {
        let md = summary(
            &rolled_back_canary(),
            ExitCode::RolledBack,
            "alarm(s) in ALARM: orders-errors; rolled back alias prod to 100% v6",
            Duration::from_millis(180_310),
        );
        snapshot("summary_rolled_back.md", &md);
        assert!(md.contains("```mermaid\n%%{init:") && md.contains("\nxychart-beta\n"), "{md}");
        assert!(md.contains("title \"v7: share of traffic, rolled back at 03:00\""), "{md}");
        assert!(md.contains("x-axis \"minutes since the start\" 0 --> "), "{md}");
    }

    #[test]
    fn a_release_has_a_row_per_member_and_a_series_per_member() {
        let arn = |sm: &str, n: u32| format!("arn:aws:states:us-east-1:1:stateMachine:{sm}:{n}");
        let at = |s: u64, member: &str, event: Event| Entry {
            at: Duration::from_secs(s),
            member: Some(member.to_string()),
            event,
        };
        let started = |sm: &str| Event::Started {
            state_machine: arn(sm, 0),
            alias: "prod".into(),
            old_version: Some(arn(sm, 1)),
            new_version: arn(sm, 2),
            strategy: "linear".into(),
            steps: Vec::new(),
            planned: Duration::from_secs(20),
            from_weight: 0,
        };
        let step = |sm: &str, weight: u8| Event::WeightsChanged {
            step: 1,
            steps: 2,
            old_version: arn(sm, 1),
            new_version: arn(sm, 2),
            new_weight: weight,
            hold: Duration::from_secs(10),
            remaining: Duration::from_secs(20),
        };
        let rolled =
            |sm: &str| Event::RolledBack { version: arn(sm, 1), reason: "payments: 3 of 4 failed".into() };
        let entries = [
            at(0, "orders", started("orders")),
            at(0, "payments", started("payments")),
            at(1, "orders", step("orders", 50)),
            at(1, "payments", step("payments", 50)),
            at(7, "orders", rolled("orders")),
            at(7, "payments", rolled("payments")),
            at(
                7,
                "payments",
                Event::HookFinished {
                    hook: "post-traffic".into(),
                    passed: false,
                    exit_status: Some(1),
                    end: "exit status 1 after 1s".into(),
                    took: Duration::from_secs(1),
                },
            ),
        ];
        let md = summary(&entries, ExitCode::RolledBack, "rolled back", Duration::from_secs(8));
        assert!(md.starts_with("### ❌ sfndeploy: a release of 2 state machines"), "{md}");
        assert!(md.contains("| `orders` | v1 → v2 | rolled back to v1 |"), "{md}");
        assert!(md.contains("| `payments` | v1 → v2 | rolled back to v1 |"), "{md}");
        assert_eq!(md.matches("    line [").count(), 2, "a line per member: {md}");
        assert!(md.contains("\"plotColorPalette\": \"#2563eb, #ea580c\""), "a color each: {md}");
        assert!(md.contains("Lines: `orders` (#2563eb), `payments` (#ea580c)."), "{md}");
        assert!(
            md.contains(
                "#### `payments`\n\n| | |\n|---|---|\n| Post-traffic hook | failed (exit status 1 after 1s) |"
            ),
            "each member's hooks: {md}"
        );
        assert!(!md.contains("#### `orders`"), "nothing to say of orders: {md}");
    }
}
