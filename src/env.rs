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
