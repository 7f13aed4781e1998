//! Under GitHub Actions: at the end of a run, `::error::`/`::notice::`/`::warning::` annotations
//! ([`annotations`]), the markdown step summary ([`summary`], with its [`chart`]) appended to
//! `$GITHUB_STEP_SUMMARY`, and the step's outputs (`outcome`, `version`) in `$GITHUB_OUTPUT`.

pub mod annotations;
pub mod chart;
mod rows;
pub mod summary;

use std::io::Write;
use std::path::PathBuf;

use super::Event;
use super::render::{End, Render};
use crate::env::Env;
use crate::exit_code::ExitCode;

/// The GitHub Actions step this run is, as its environment says.
#[derive(Debug)]
pub struct GithubSummary {
    /// `$GITHUB_STEP_SUMMARY`
    summary: Option<PathBuf>,
    /// `$GITHUB_OUTPUT`
    output: Option<PathBuf>,
}

impl GithubSummary {
    /// Some when running as a GitHub Actions step (`GITHUB_ACTIONS=true`).
    pub fn from_env(env: Env) -> Option<Self> {
        if env("GITHUB_ACTIONS").is_none_or(|v| v != "true") {
            return None;
        }
        let path = |name: &str| env(name).filter(|p| !p.is_empty()).map(PathBuf::from);
        Some(GithubSummary { summary: path("GITHUB_STEP_SUMMARY"), output: path("GITHUB_OUTPUT") })
    }
}

impl Render for GithubSummary {
    /// Writes the annotations (to stderr, where the runner reads workflow commands too, so that
    /// stdout stays clean for `--output json`), appends the step summary, and sets the step's
    /// outputs for the steps after it.
    fn end(&self, end: &End<'_>) {
        let events: Vec<Event> = end.entries.iter().map(|e| e.event.clone()).collect();
        for line in annotations::annotations(&events, end.code, end.outcome) {
            eprintln!("{line}");
        }
        append_to(self.summary.as_ref(), &summary::summary(end.entries, end.code, end.outcome, end.took));
        append_to(self.output.as_ref(), &outputs(&events, end.code));
    }
}

fn append_to(path: Option<&PathBuf>, text: &str) {
    if let Some(path) = path
        && let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path)
    {
        let _ = file.write_all(text.as_bytes());
    }
}

/// The step outputs: `outcome` (deployed, created, nothing_to_do, paused, wave_done, promoted, dry_run, or the exit
/// code's name: rolled_back, failure...) and `version`, the new version's ARN when known.
pub fn outputs(events: &[Event], code: ExitCode) -> String {
    let has = |f: fn(&Event) -> bool| events.iter().any(f);
    let outcome = match code {
        ExitCode::Success if has(|e| matches!(e, Event::Paused { .. })) => "paused",
        ExitCode::Success if has(|e| matches!(e, Event::WaveDone { .. })) => "wave_done",
        ExitCode::Success if has(|e| matches!(e, Event::Promoted { by, .. } if by == "promote")) => {
            "promoted"
        }
        ExitCode::Success if has(|e| matches!(e, Event::Planned { .. })) => "dry_run",
        // A release is what the most of its members did: deployed, else created, else nothing.
        ExitCode::Success if has(|e| matches!(e, Event::Completed { .. })) => "deployed",
        ExitCode::Success if has(|e| matches!(e, Event::AliasCreated { .. })) => "created",
        ExitCode::Success if has(|e| matches!(e, Event::NothingToDo { .. })) => "nothing_to_do",
        ExitCode::Success => "deployed",
        other => other.name(),
    };
    let version = events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Started { new_version, .. } => Some(new_version.clone()),
            Event::Promoted { version, .. } => Some(version.clone()),
            Event::Published { version, .. }
            | Event::AliasCreated { version, .. }
            | Event::NothingToDo { version, .. } => Some(version.clone()),
            Event::Planned { new_version, .. } => new_version.clone(),
            _ => None,
        })
        .unwrap_or_default();
    format!("outcome={outcome}\nversion={version}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_name_the_outcome_and_the_version() {
        let events: Vec<Event> = summary::tests::rolled_back_canary().into_iter().map(|e| e.event).collect();
        assert_eq!(
            outputs(&events, ExitCode::RolledBack),
            "outcome=rolled_back\nversion=arn:aws:states:us-east-1:123456789012:stateMachine:orders:7\n"
        );
        let created = [Event::AliasCreated { alias: "prod".into(), version: "sm:1".into() }];
        assert_eq!(outputs(&created, ExitCode::Success), "outcome=created\nversion=sm:1\n");
        let nothing = [Event::NothingToDo { alias: "prod".into(), version: "sm:1".into() }];
        assert_eq!(outputs(&nothing, ExitCode::Success), "outcome=nothing_to_do\nversion=sm:1\n");
        // A release where one member had nothing to do and another deployed: deployed.
        let mixed = [
            Event::NothingToDo { alias: "prod".into(), version: "a:1".into() },
            Event::Completed { alias: "prod".into(), version: "b:2".into() },
        ];
        assert!(outputs(&mixed, ExitCode::Success).starts_with("outcome=deployed\n"));
        let done = [Event::WaveDone { wave: 1, waves: 2, resume_command: "sfndeploy --resume".into() }];
        assert!(outputs(&done, ExitCode::Success).starts_with("outcome=wave_done\n"));
    }

    #[test]
    fn only_a_github_actions_step_has_a_summary() {
        let env = |name: &str| match name {
            "GITHUB_ACTIONS" => Some("true".to_string()),
            "GITHUB_STEP_SUMMARY" => Some("/tmp/summary.md".to_string()),
            _ => None,
        };
        let github = GithubSummary::from_env(&env).expect("a step");
        assert_eq!(github.summary, Some(PathBuf::from("/tmp/summary.md")));
        assert_eq!(github.output, None);
        assert!(GithubSummary::from_env(&|_: &str| None).is_none());
    }
}
