//! The environment a run reads (`SFNDEPLOY_*` variables), injected so tests can give their own,
//! and the yes/no switches that a flag or a variable may set.

use anyhow::Result;

use crate::exit_code::Failure;

/// Where environment variables come from: the process, or a table in tests.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A list variable: one item per line when it has several lines (a CI input written as a YAML
/// block, a release file's list), else separated by `separator`; blank items dropped. None when
/// unset or empty.
pub fn env_list(env: Env, name: &str, separator: char) -> Option<Vec<String>> {
    let value = env(name).filter(|v| !v.trim().is_empty())?;
    let items: Vec<String> = if value.contains('\n') {
        value.lines().map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    } else {
        value.split(separator).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    };
    Some(items)
}

/// A yes/no variable: 1/0, true/false, yes/no, on/off in any case; None when unset or empty.
pub fn env_bool(env: Env, name: &str) -> Result<Option<bool>> {
    let Some(value) = env(name) else { return Ok(None) };
    match value.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(Failure::usage(format!(
            "{name}={value} is not a yes/no value: use 1 or 0, true or false, yes or no, on or off"
        ))),
    }
}

/// A switch with a variable: on the command line it wins (for a `--x`/`--no-x` pair clap keeps
/// the last one given), else the variable decides, else off.
pub fn switch(on: bool, off: bool, env: Env, name: &str) -> Result<bool> {
    Ok(switch_said(on, off, env, name)?.unwrap_or(false))
}

/// [`switch`], or None when neither the command line nor the variable says.
pub fn switch_said(on: bool, off: bool, env: Env, name: &str) -> Result<Option<bool>> {
    if on || off {
        return Ok(Some(on));
    }
    env_bool(env, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_one_per_line_or_separated() {
        let env = |name: &str| match name {
            "A" => Some(" a, b ,,c".to_string()),
            "B" => Some("x, with a comma\n\n  y \n".to_string()),
            "C" => Some("  ".to_string()),
            _ => None,
        };
        assert_eq!(env_list(&env, "A", ',').unwrap(), ["a", "b", "c"]);
        assert_eq!(env_list(&env, "B", ',').unwrap(), ["x, with a comma", "y"]);
        assert_eq!(env_list(&env, "C", ','), None);
        assert_eq!(env_list(&env, "D", ','), None);
    }
}
