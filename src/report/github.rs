//! Under GitHub Actions: a markdown summary of the deploy in `$GITHUB_STEP_SUMMARY`, and
//! `::error::`/`::warning::` annotations for rollbacks, failures and skipped work.

use std::io::Write;
use std::time::Duration;

use super::Event;
use super::reporter::Entry;
use super::text::short_versions;
use crate::arn::short_version;
use crate::exit_code::ExitCode;
use crate::routing::Routing;
use crate::text::{capitalized, clock, human, one_line, percents};

/// True when running as a GitHub Actions step.
pub fn active() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Writes the annotations (to stderr, where the runner reads workflow commands too, so that
/// stdout stays clean for `--output json`), appends the step summary, and sets the step's
/// outputs (`outcome`, `version`) for the steps after it.
pub fn report(entries: &[Entry], code: ExitCode, outcome: &str, took: Duration) {
    if !active() {
        return;
    }
    let events: Vec<Event> = entries.iter().map(|e| e.event.clone()).collect();
    for line in annotations(&events, code, outcome) {
        eprintln!("{line}");
    }
    let members = members(entries);
    let text = if members.len() > 1 {
        release_summary(entries, &members, code, outcome, took)
    } else {
        let timeline: Vec<(Duration, Event)> = entries.iter().map(|e| (e.at, e.event.clone())).collect();
        summary(&timeline, code, outcome, took)
    };
    append_to("GITHUB_STEP_SUMMARY", &text);
    append_to("GITHUB_OUTPUT", &outputs(&events, code));
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

/// The summary of a release: the outcome, a row per member (its versions and where it ended),
/// and one chart with a line per member.
pub fn release_summary(
    entries: &[Entry],
    members: &[String],
    code: ExitCode,
    outcome: &str,
    took: Duration,
) -> String {
    let icon = match code {
        ExitCode::Success if entries.iter().any(|e| matches!(e.event, Event::Paused { .. })) => "⏸️",
        ExitCode::Success => "✅",
        _ => "❌",
    };
    let mut md = format!(
        "### {icon} sfndeploy: a release of {} state machines\n\n{}\n\n| State machine | Versions | Ended |\n|---|---|---|\n",
        members.len(),
        one_line(&outcome.replace('\n', " "))
    );
    for member in members {
        let own = entries.iter().filter(|e| e.member.as_ref() == Some(member)).map(|e| &e.event);
        let (mut versions, mut ended) = (String::new(), String::from("unchanged"));
        for event in own {
            match event {
                Event::Started { old_version, new_version, .. } => {
                    versions = format!(
                        "{} → {}",
                        old_version.as_deref().map_or("none".to_string(), short_version),
                        short_version(new_version)
                    )
                }
                Event::WeightsChanged { old_version, new_version, new_weight, .. } => {
                    ended = Routing::shifted(old_version, new_version, *new_weight).to_string()
                }
                Event::RolledBack { version, .. } => {
                    ended = format!("rolled back to {}", short_version(version))
                }
                Event::Completed { version, .. } => ended = format!("100% on {}", short_version(version)),
                Event::AliasCreated { version, .. } => {
                    ended = format!("created on {}", short_version(version))
                }
                Event::NothingToDo { version, .. } => {
                    ended = format!("already on {}", short_version(version))
                }
                Event::Paused { old_version, new_version, weight, .. } => {
                    ended = format!("paused: {}", Routing::shifted(old_version, new_version, *weight))
                }
                _ => {}
            }
        }
        md.push_str(&format!(
            "| `{}` | {versions} | {} |\n",
            one_line(member),
            one_line(&ended).replace('|', "\\|")
        ));
    }
    md.push_str(&format!(
        "\n| | |\n|---|---|\n| Duration | {} |\n| Exit code | {} ({}) |\n\n",
        human(took),
        code.code(),
        code.name()
    ));
    if let Some(chart) = release_chart(entries, members) {
        md.push_str(&chart);
        md.push('\n');
    }
    // Each member's review, hooks and reruns, as a single deploy's summary shows them.
    for member in members {
        let own: Vec<&Event> = entries
            .iter()
            .filter(|e| e.member.as_ref() == Some(member))
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
            continue;
        }
        md.push_str(&format!("#### `{}`\n\n| | |\n|---|---|\n", one_line(member)));
        for (k, v) in rows(&own) {
            md.push_str(&format!("| {k} | {} |\n", v.replace('|', "\\|").replace(['\r', '\n'], " ")));
        }
        md.push('\n');
        for event in own {
            if let Event::DefinitionChanged { changes, .. } = event
                && !changes.is_empty()
            {
                md.push_str(&diff_block(&changes.diff));
            }
        }
    }
    md
}

/// One chart for a release: a line per member (in the order of the table), each its new
/// version's share of traffic at every moment any member's changed.
fn release_chart(entries: &[Entry], members: &[String]) -> Option<String> {
    let mut moments: Vec<(Duration, String)> = Vec::new();
    let mut series: Vec<Vec<u8>> = vec![Vec::new(); members.len()];
    let mut weights = vec![0u8; members.len()];
    for entry in entries {
        let Some(i) = entry.member.as_ref().and_then(|m| members.iter().position(|n| n == m)) else {
            continue;
        };
        let (weight, what) = match &entry.event {
            Event::Started { from_weight, .. } => (*from_weight, "start".to_string()),
            Event::WeightsChanged { step, steps, new_weight, .. } => {
                (*new_weight, format!("step {step}/{steps}"))
            }
            Event::RolledBack { .. } => (0, "rolled back".into()),
            Event::Paused { weight, .. } => (*weight, "paused".into()),
            Event::Completed { .. } => (100, "done".into()),
            _ => continue,
        };
        weights[i] = weight;
        let label = format!("{} {what}", clock(entry.at));
        if moments.last().is_some_and(|(_, l)| *l == label) {
            for (s, w) in series.iter_mut().zip(&weights) {
                *s.last_mut().expect("a point") = *w;
            }
        } else {
            moments.push((entry.at, label));
            for (s, w) in series.iter_mut().zip(&weights) {
                s.push(*w);
            }
        }
    }
    if moments.len() < 2 {
        return None;
    }
    let labels: Vec<String> = moments.iter().map(|(_, l)| format!("\"{l}\"")).collect();
    let lines: Vec<String> = series
        .iter()
        .map(|s| format!("    line [{}]", s.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")))
        .collect();
    Some(format!(
        "```mermaid\nxychart-beta\n    title \"each new version's share of traffic (%)\"\n    x-axis [{}]\n    \
         y-axis \"%\" 0 --> 100\n{}\n```\n\nLines, in order: {}.\n",
        labels.join(", "),
        lines.join("\n"),
        members.iter().map(|m| format!("`{}`", one_line(m))).collect::<Vec<_>>().join(", ")
    ))
}

fn append_to(variable: &str, text: &str) {
    if let Ok(path) = std::env::var(variable)
        && !path.is_empty()
        && let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(&path)
    {
        let _ = file.write_all(text.as_bytes());
    }
}

/// The step outputs: `outcome` (deployed, created, nothing_to_do, paused, dry_run, or the exit
/// code's name: rolled_back, failure...) and `version`, the new version's ARN when known.
pub fn outputs(events: &[Event], code: ExitCode) -> String {
    let has = |f: fn(&Event) -> bool| events.iter().any(f);
    let outcome = match code {
        ExitCode::Success if has(|e| matches!(e, Event::Paused { .. })) => "paused",
        ExitCode::Success if has(|e| matches!(e, Event::Planned { .. })) => "dry_run",
        ExitCode::Success if has(|e| matches!(e, Event::NothingToDo { .. })) => "nothing_to_do",
        ExitCode::Success if has(|e| matches!(e, Event::AliasCreated { .. })) => "created",
        ExitCode::Success => "deployed",
        other => other.name(),
    };
    let version = events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Started { new_version, .. } => Some(new_version.clone()),
            Event::Published { version, .. }
            | Event::AliasCreated { version, .. }
            | Event::NothingToDo { version, .. } => Some(version.clone()),
            Event::Planned { new_version, .. } => new_version.clone(),
            _ => None,
        })
        .unwrap_or_default();
    format!("outcome={outcome}\nversion={version}\n")
}

/// A Mermaid chart (GitHub renders it in summaries) of the new version's share of traffic at
/// each moment it changed, with the rollback or pause marked; None when traffic never moved.
pub fn chart(timeline: &[(Duration, Event)]) -> Option<String> {
    let mut version = String::new();
    let mut points: Vec<(Duration, u8, String)> = Vec::new();
    for (t, e) in timeline {
        match e {
            Event::Started { new_version, from_weight, .. } => {
                version = short_version(new_version);
                points.push((*t, *from_weight, "start".into()));
            }
            Event::WeightsChanged { step, steps, new_weight, .. } => {
                points.push((*t, *new_weight, format!("step {step}/{steps}")))
            }
            Event::RolledBack { .. } => points.push((*t, 0, "rolled back".into())),
            Event::Paused { weight, .. } => points.push((*t, *weight, "paused".into())),
            Event::Completed { .. } => points.push((*t, 100, "done".into())),
            _ => {}
        }
    }
    if points.len() < 2 {
        return None;
    }
    let labels: Vec<String> = points.iter().map(|(t, _, what)| format!("\"{} {what}\"", clock(*t))).collect();
    let weights: Vec<String> = points.iter().map(|(_, w, _)| w.to_string()).collect();
    Some(format!(
        "```mermaid\nxychart-beta\n    title \"{version}: share of traffic (%)\"\n    x-axis [{}]\n    \
         y-axis \"%\" 0 --> 100\n    line [{}]\n```\n",
        labels.join(", "),
        weights.join(", ")
    ))
}

/// Per step: when, the weight, and what the alarms said until the next step (the gate at the end
/// of its hold included).
fn steps_table(timeline: &[(Duration, Event)]) -> Option<String> {
    struct Row {
        at: Duration,
        label: String,
        reads: usize,
        failed: usize,
        last: String,
    }
    let mut rows: Vec<Row> = Vec::new();
    for (t, e) in timeline {
        match e {
            Event::WeightsChanged { step, steps, old_version, new_version, new_weight, .. } => {
                rows.push(Row {
                    at: *t,
                    label: format!(
                        "{step}/{steps}: {}",
                        Routing::shifted(old_version, new_version, *new_weight)
                    ),
                    reads: 0,
                    failed: 0,
                    last: String::new(),
                })
            }
            Event::AlarmsPolled { states } => {
                if let Some(row) = rows.last_mut() {
                    row.reads += 1;
                    row.last = states
                        .iter()
                        .map(|a| format!("{} {}", a.name, a.state))
                        .collect::<Vec<_>>()
                        .join(", ");
                }
            }
            Event::SignalReadFailed { signal, error, .. } if signal == "alarms" => {
                if let Some(row) = rows.last_mut() {
                    row.reads += 1;
                    row.failed += 1;
                    row.last = format!("unread: {error}");
                }
            }
            _ => {}
        }
    }
    if rows.is_empty() {
        return None;
    }
    let mut md = String::from("| Step | At | Alarm reads | Last reading |\n|---|---|---|---|\n");
    for r in rows {
        let reads =
            if r.failed > 0 { format!("{} ({} failed)", r.reads, r.failed) } else { r.reads.to_string() };
        let last = if r.last.is_empty() { "none".to_string() } else { r.last.replace('|', "\\|") };
        md.push_str(&format!("| {} | {} | {reads} | {last} |\n", r.label, clock(r.at)));
    }
    Some(md)
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
                    Routing::shifted(old_version, new_version, *weight)
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

/// The summary table's rows, one or more per event worth a row.
fn rows(events: &[&Event]) -> Vec<(String, String)> {
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
                rows.push((
                    "Strategy".into(),
                    format!("{strategy} ({})", percents(steps.iter().map(|s| s.weight))),
                ));
                if *from_weight > 0 {
                    rows.push(("Resumed from".into(), format!("{from_weight}%")));
                }
            }
            Event::Paused { old_version, new_version, weight, resume_command, rollback_command, .. } => {
                let routing = Routing::shifted(old_version, new_version, *weight);
                rows.push(("Paused at".into(), routing.to_string()));
                rows.push(("Continue".into(), format!("`{resume_command}`")));
                rows.push(("Roll back".into(), format!("`{rollback_command}`")));
            }
            Event::Published { version, .. } => rows.push(("Published".into(), short_version(version))),
            Event::AlarmFired { alarms } => rows.push(("Alarm fired".into(), alarms.join(", "))),
            Event::DefinitionChanged { changes, .. } => rows.push(("Definition".into(), changes.to_string())),
            Event::Rerun { failed, restarted, outcome } => rows.push((
                "Rerun".into(),
                match restarted {
                    Some(r) => format!("`{failed}` → `{r}` ({outcome})"),
                    None => format!("`{failed}`: not started ({outcome})"),
                },
            )),
            Event::UnpinnedCall { call } => rows.push(("Not rolled back".into(), call.to_string())),
            Event::HookFinished { hook, passed, end, .. } => rows.push((
                format!("{} hook", capitalized(hook)),
                format!("{} ({end})", if *passed { "passed" } else { "failed" }),
            )),
            Event::RolledBack { version, reason } => {
                rows.push(("Rolled back".into(), format!("to {} ({reason})", short_version(version))))
            }
            Event::Pruned { deleted, .. } => rows.push((
                "Pruned".into(),
                if deleted.is_empty() { "nothing".into() } else { short_versions(deleted) },
            )),
            _ => {}
        }
    }
    rows
}

pub fn summary(timeline: &[(Duration, Event)], code: ExitCode, outcome: &str, took: Duration) -> String {
    let events: Vec<&Event> = timeline.iter().map(|(_, e)| e).collect();
    let paused = events.iter().any(|e| matches!(e, Event::Paused { .. }));
    let icon = match code {
        ExitCode::Success if paused => "⏸️",
        ExitCode::Success => "✅",
        _ => "❌",
    };
    let mut rows = rows(&events);
    rows.push(("Duration".into(), human(took)));
    rows.push(("Exit code".into(), format!("{} ({})", code.code(), code.name())));
    let mut md = format!("### {icon} sfndeploy\n\n{}\n\n| | |\n|---|---|\n", outcome.replace('\n', " "));
    for (k, v) in rows {
        md.push_str(&format!("| {k} | {} |\n", v.replace('|', "\\|").replace(['\r', '\n'], " ")));
    }
    md.push('\n');
    if let Some(chart) = chart(timeline) {
        md.push_str(&chart);
        md.push('\n');
    }
    if let Some(table) = steps_table(timeline) {
        md.push_str(&table);
        md.push('\n');
    }
    for event in &events {
        if let Event::DefinitionChanged { changes, .. } = event
            && !changes.is_empty()
        {
            md.push_str(&diff_block(&changes.diff));
        }
    }
    md
}

/// The definition's unified diff, collapsed. A fence longer than any run of backticks in it.
fn diff_block(diff: &str) -> String {
    let longest = diff.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("<details><summary>Definition diff</summary>\n\n{fence}diff\n{diff}{fence}\n\n</details>\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::alarms::AlarmState;

    #[test]
    fn annotations_escape_and_classify() {
        let lines = annotations(&[], ExitCode::RolledBack, "alarm fired\n100% back");
        assert_eq!(lines, ["::error title=sfndeploy rolled back::alarm fired%0A100%25 back"]);
        assert!(annotations(&[], ExitCode::Success, "ok").is_empty());
    }

    #[test]
    fn summary_is_a_markdown_table() {
        let events = [(Duration::ZERO, Event::AlarmFired { alarms: vec!["errors".into()] })];
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
        let md =
            summary(&[(Duration::ZERO, hook)], ExitCode::HookFailed, "hook failed", Duration::from_secs(3));
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
            resume_command: "sfndeploy --state-machine orders --alias prod --resume".into(),
            rollback_command: "sfndeploy rollback --state-machine orders --alias prod --to-version 6".into(),
        }];
        let timeline: Vec<(Duration, Event)> = events.iter().map(|e| (Duration::ZERO, e.clone())).collect();
        let md = summary(&timeline, ExitCode::Success, "Paused", Duration::from_secs(60));
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

    /// A canary that an alarm rolled back, as the reporter records it.
    fn rolled_back_canary() -> Vec<(Duration, Event)> {
        let v = |n: u32| format!("arn:aws:states:us-east-1:123456789012:stateMachine:orders:{n}");
        let ms = Duration::from_millis;
        let states = |errors: &str| {
            vec![
                AlarmState { name: "orders-errors".into(), state: errors.into(), composite: false },
                AlarmState { name: "orders-latency".into(), state: "OK".into(), composite: false },
            ]
        };
        let step = |weight, secs| crate::strategy::Step { weight, hold: Duration::from_secs(secs) };
        vec![
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
        ]
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
        assert!(md.contains("```mermaid\nxychart-beta"), "{md}");
        assert!(md.contains("line [0, 10, 0]"), "{md}");
        assert!(md.contains("\"03:00 rolled back\""), "{md}");
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
        let members = ["orders".to_string(), "payments".to_string()];
        let md =
            release_summary(&entries, &members, ExitCode::RolledBack, "rolled back", Duration::from_secs(8));
        assert!(md.starts_with("### ❌ sfndeploy: a release of 2 state machines"), "{md}");
        assert!(md.contains("| `orders` | v1 → v2 | rolled back to v1 |"), "{md}");
        assert!(md.contains("| `payments` | v1 → v2 | rolled back to v1 |"), "{md}");
        assert!(md.contains("    line [0, 50, 0]\n    line [0, 50, 0]"), "a series per member: {md}");
        assert!(md.contains("Lines, in order: `orders`, `payments`."), "{md}");
        assert!(
            md.contains(
                "#### `payments`\n\n| | |\n|---|---|\n| Post-traffic hook | failed (exit status 1 after 1s) |"
            ),
            "each member's hooks: {md}"
        );
        assert!(!md.contains("#### `orders`"), "nothing to say of orders: {md}");
    }

    #[test]
    fn outputs_name_the_outcome_and_the_version() {
        let events: Vec<Event> = rolled_back_canary().into_iter().map(|(_, e)| e).collect();
        assert_eq!(
            outputs(&events, ExitCode::RolledBack),
            "outcome=rolled_back\nversion=arn:aws:states:us-east-1:123456789012:stateMachine:orders:7\n"
        );
        let created = [Event::AliasCreated { alias: "prod".into(), version: "sm:1".into() }];
        assert_eq!(outputs(&created, ExitCode::Success), "outcome=created\nversion=sm:1\n");
        let nothing = [Event::NothingToDo { alias: "prod".into(), version: "sm:1".into() }];
        assert_eq!(outputs(&nothing, ExitCode::Success), "outcome=nothing_to_do\nversion=sm:1\n");
    }
}
