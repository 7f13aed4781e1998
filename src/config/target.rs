//! What every subcommand names and checks the same way: the state machines and the alias, and
//! the alarms.

use anyhow::Result;

use crate::arn::StateMachineRef;
use crate::cli::TargetArgs;
use crate::env::Env;
use crate::exit_code::Failure;

/// A release holds at most this many state machines.
pub const MEMBERS_MAX: usize = 20;

/// The state machines and the alias named on the command line, checked: at least one, at most
/// [`MEMBERS_MAX`], each once, all in one region.
pub fn target(args: &TargetArgs) -> Result<(Vec<StateMachineRef>, String)> {
    let names: Vec<&str> = args.state_machine.iter().map(|s| s.trim()).collect();
    let names = if names.is_empty() { vec![""] } else { names };
    let members: Vec<StateMachineRef> =
        names.iter().map(|n| StateMachineRef::parse(n).map_err(Failure::usage)).collect::<Result<_>>()?;
    if members.len() > MEMBERS_MAX {
        return Err(Failure::usage(format!(
            "--state-machine was given {} times: a release holds at most {MEMBERS_MAX} state machines",
            members.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = members.iter().find(|m| !seen.insert(m.as_str())) {
        return Err(Failure::usage(format!("--state-machine {twice} is named twice")));
    }
    let regions: std::collections::BTreeSet<&str> =
        members.iter().filter_map(StateMachineRef::region).collect();
    if regions.len() > 1 {
        return Err(Failure::usage(format!(
            "the state machines are in different regions ({}): a release is of one region",
            regions.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let alias = args.alias.clone().unwrap_or_default();
    check_alias_name(&alias)?;
    Ok((members, alias))
}

/// `--alarms`, or `SFNDEPLOY_ALARMS` (comma-separated) when the flag is absent; no empty
/// names, no repeats.
pub fn alarm_names(flag: &[String], env: Env) -> Result<Vec<String>> {
    names(flag, env, "SFNDEPLOY_ALARMS", "--alarms")
}

/// Alarm names from `flag`, or from the variable `var` (comma-separated, or one per line) when
/// the flag is absent; no empty names, no repeats.
pub fn names(flag: &[String], env: Env, var: &str, flag_name: &str) -> Result<Vec<String>> {
    let mut alarms = flag.to_vec();
    if alarms.is_empty()
        && let Some(list) = crate::env::env_list(env, var, ',')
    {
        alarms = list;
    }
    if alarms.iter().any(|a| a.trim().is_empty()) {
        return Err(Failure::usage(format!("{flag_name} was given an empty alarm name")));
    }
    let mut seen = std::collections::HashSet::new();
    alarms.retain(|a| seen.insert(a.clone()));
    Ok(alarms)
}

/// Step Functions alias names: 1 to 80 of `A-Z a-z 0-9 _ - .`, not only digits (that would read
/// as a version number).
pub(super) fn check_alias_name(name: &str) -> Result<()> {
    let valid_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let not_a_number = name.chars().any(|c| !c.is_ascii_digit());
    if name.is_empty() || name.len() > 80 || !valid_chars || !not_a_number {
        return Err(Failure::usage(format!(
            "'{name}' is not a valid alias name: use 1 to 80 letters, digits, '_', '-' or '.', not only digits"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names() {
        for good in ["prod", "PROD-1", "v2.blue", "_x"] {
            assert!(check_alias_name(good).is_ok(), "{good}");
        }
        for bad in ["", "42", "has space", "a:b", &"a".repeat(81)] {
            assert!(check_alias_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn alarms_come_from_the_flag_or_the_variable() {
        let env = |name: &str| (name == "SFNDEPLOY_ALARMS").then(|| " a, b ,,a".to_string());
        assert_eq!(alarm_names(&[], &env).unwrap(), ["a", "b"]);
        assert_eq!(alarm_names(&["c".into()], &env).unwrap(), ["c"]);
        assert!(alarm_names(&["".into()], &env).is_err());
    }
}
