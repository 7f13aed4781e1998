//! Workflow commands the runner turns into annotations on the run's page: an error for a run
//! that did not succeed, a notice for a pause, a warning for each version pruning kept.

use crate::arn::short_version;
use crate::exit_code::ExitCode;
use crate::report::Event;
use crate::routing::Routing;

/// A workflow command's text: `%`, CR and LF escaped, so that it stays one command.
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
        if let Event::Paused { alias, old_version, new_version, weight, why, .. } = event {
            lines.push(format!(
                "::notice title=sfndeploy paused::{}",
                escape(&format!(
                    "alias {alias} routes {}, {why}; continue with --resume, promote, or roll back",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_and_classify() {
        let lines = annotations(&[], ExitCode::RolledBack, "alarm fired\n100% back");
        assert_eq!(lines, ["::error title=sfndeploy rolled back::alarm fired%0A100%25 back"]);
        assert!(annotations(&[], ExitCode::Success, "ok").is_empty());
    }
}
