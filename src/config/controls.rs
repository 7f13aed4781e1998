//! The flags that let people steer a deploy, checked: the alarms allowed to fire, the deploy
//! windows and freezes, and the SNS topics told of it.

use anyhow::Result;

use super::target::names;
use crate::cli::DeployArgs;
use crate::env::{Env, switch};
use crate::exit_code::Failure;
use crate::window::{Calendar, Freeze, Window};

/// `--window`, `--freeze` and `--window-wait`.
#[derive(Clone, Debug, Default)]
pub struct WindowSettings {
    pub calendar: Calendar,
    /// Wait for the next opening rather than exit 8.
    pub wait: bool,
}

/// `--allow-firing` (or `SFNDEPLOY_ALLOW_FIRING`): each one of `--alarms`.
pub(super) fn allowed_to_fire(flag: &[String], alarms: &[String], env: Env) -> Result<Vec<String>> {
    let allowed = names(flag, env, "SFNDEPLOY_ALLOW_FIRING", "--allow-firing")?;
    if let Some(stray) = allowed.iter().find(|a| !alarms.contains(a)) {
        return Err(Failure::usage(format!(
            "--allow-firing '{stray}' is not one of --alarms: an alarm allowed to fire is still watched, so \
             add it to --alarms too"
        )));
    }
    Ok(allowed)
}

/// `--window`, `--freeze` (or `SFNDEPLOY_WINDOW`, ';'-separated, and `SFNDEPLOY_FREEZE`,
/// comma-separated) and `--window-wait`, parsed.
pub(super) fn window_settings(args: &DeployArgs, env: Env) -> Result<WindowSettings> {
    let from_env = |flag: &[String], var: &str, separator: char| -> Vec<String> {
        match crate::env::env_list(env, var, separator) {
            Some(list) if flag.is_empty() => list,
            _ => flag.to_vec(),
        }
    };
    let windows = from_env(&args.window, "SFNDEPLOY_WINDOW", ';')
        .iter()
        .map(|w| Window::parse(w).map_err(Failure::usage))
        .collect::<Result<Vec<_>>>()?;
    let freezes = from_env(&args.freeze, "SFNDEPLOY_FREEZE", ',')
        .iter()
        .map(|f| Freeze::parse(f).map_err(Failure::usage))
        .collect::<Result<Vec<_>>>()?;
    let calendar = Calendar { windows, freezes };
    let wait = switch(args.window_wait, false, env, "SFNDEPLOY_WINDOW_WAIT")?;
    if wait && calendar.is_empty() {
        return Err(Failure::usage("--window-wait waits for a --window or the end of a --freeze: give one"));
    }
    Ok(WindowSettings { calendar, wait })
}

/// `--notify-topic`: SNS topic ARNs, each once.
pub(super) fn topics(flag: &[String]) -> Result<Vec<String>> {
    let mut topics: Vec<String> = Vec::new();
    for topic in flag.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let parts: Vec<&str> = topic.split(':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
            return Err(Failure::usage(format!(
                "--notify-topic '{topic}' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            )));
        }
        if !topics.iter().any(|t| t == topic) {
            topics.push(topic.to_string());
        }
    }
    Ok(topics)
}
