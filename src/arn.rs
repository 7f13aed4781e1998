//! Step Functions names and ARNs: the state machine as the user named it, and the one parser of
//! version numbers and version ARNs. A leaf: it imports nothing of ours.

use std::fmt;

/// A state machine as the user named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateMachineRef {
    Name(String),
    Arn(String),
}

impl StateMachineRef {
    /// A name (at most 80 characters, no spaces or colons) or a state machine ARN; the error is
    /// one sentence for the user.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("--state-machine needs a state machine name or ARN".into());
        }
        if text.starts_with("arn:") {
            let parts: Vec<&str> = text.split(':').collect();
            if parts.len() != 7 || parts[2] != "states" || parts[5] != "stateMachine" || parts[6].is_empty() {
                return Err(format!(
                    "'{text}' is not a state machine ARN (arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME); \
                     give the state machine itself, not a version or alias"
                ));
            }
            return Ok(StateMachineRef::Arn(text.to_string()));
        }
        if text.len() > 80 || text.chars().any(|c| c.is_whitespace() || c == ':') {
            return Err(format!(
                "'{text}' is not a valid state machine name (at most 80 characters, no spaces or colons)"
            ));
        }
        Ok(StateMachineRef::Name(text.to_string()))
    }

    /// The state machine as the user named it.
    pub fn as_str(&self) -> &str {
        match self {
            StateMachineRef::Name(s) | StateMachineRef::Arn(s) => s,
        }
    }

    /// The region an ARN names; None for a name.
    pub fn region(&self) -> Option<&str> {
        match self {
            StateMachineRef::Arn(arn) => arn.split(':').nth(3).filter(|r| !r.is_empty()),
            StateMachineRef::Name(_) => None,
        }
    }
}

impl fmt::Display for StateMachineRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `arn:...:stateMachine:orders:7` -> `7`; None for anything that is not a version ARN.
pub fn version_number(version_arn: &str) -> Option<u64> {
    match last_segment(version_arn) {
        n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
        _ => None,
    }
}

/// `arn:...:stateMachine:orders:7` -> `v7`; anything else as it is.
pub fn short_version(version_arn: &str) -> String {
    match version_number(version_arn) {
        Some(n) => format!("v{n}"),
        None => version_arn.to_string(),
    }
}

/// `us-east-1:123456789012`: the region and account of an ARN, if it has both.
pub fn region_account(arn: &str) -> Option<String> {
    let mut parts = arn.split(':').skip(3);
    match (parts.next(), parts.next()) {
        (Some(region), Some(account)) if !region.is_empty() && !account.is_empty() => {
            Some(format!("{region}:{account}"))
        }
        _ => None,
    }
}

/// The version ARN of number `n` of a state machine.
pub fn version_arn(state_machine_arn: &str, n: u64) -> String {
    format!("{state_machine_arn}:{n}")
}

/// A version of `state_machine_arn` as a person writes it: `7`, `v7` or its ARN.
pub fn parse_version(state_machine_arn: &str, text: &str) -> Result<String, String> {
    let number = match text.strip_prefix(&format!("{state_machine_arn}:")) {
        Some(n) => n,
        None => text.strip_prefix('v').unwrap_or(text),
    };
    match number.parse::<u64>() {
        Ok(n) if number.bytes().all(|b| b.is_ascii_digit()) => Ok(version_arn(state_machine_arn, n)),
        _ => Err(format!(
            "--to-version {text} is not a version of {state_machine_arn}: give its number (7) or its ARN"
        )),
    }
}

/// Whether `value` names `version_arn`: its ARN, or its number alone (as in metric dimensions).
pub fn names_version(value: &str, version_arn: &str) -> bool {
    value == version_arn || version_number(version_arn).is_some_and(|n| value == n.to_string())
}

/// The last `:`-separated part of an ARN: an alias's name, a version's number.
pub fn last_segment(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or_default()
}

/// The state machine of a version's or an alias's ARN (`...:stateMachine:orders:prod` gives
/// `...:stateMachine:orders`).
pub fn state_machine_of(qualified_arn: &str) -> &str {
    qualified_arn.rsplit_once(':').map_or(qualified_arn, |(state_machine, _)| state_machine)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SM: &str = "arn:aws:states:us-east-1:1:stateMachine:sm";

    #[test]
    fn names_and_arns() {
        assert_eq!(StateMachineRef::parse("orders").unwrap(), StateMachineRef::Name("orders".into()));
        let arn = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";
        assert_eq!(StateMachineRef::parse(arn).unwrap(), StateMachineRef::Arn(arn.into()));
        assert_eq!(StateMachineRef::parse(arn).unwrap().region(), Some("us-east-1"));
        for bad in ["", "my orders", &format!("{arn}:prod"), "arn:aws:lambda:us-east-1:1:function:f"] {
            assert!(StateMachineRef::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn versions_parse_one_way() {
        assert_eq!(version_number(&format!("{SM}:7")), Some(7));
        assert_eq!(version_number(&format!("{SM}:prod")), None);
        assert_eq!(short_version(&format!("{SM}:7")), "v7");
        assert_eq!(short_version("odd"), "odd");
        assert_eq!(parse_version(SM, "7").unwrap(), format!("{SM}:7"));
        assert_eq!(parse_version(SM, "v7").unwrap(), format!("{SM}:7"));
        assert_eq!(parse_version(SM, &format!("{SM}:12")).unwrap(), format!("{SM}:12"));
        for bad in ["", "x", "arn:aws:states:us-east-1:1:stateMachine:other:3", "7a", "+7"] {
            assert!(parse_version(SM, bad).is_err(), "{bad}");
        }
        assert!(names_version("7", &format!("{SM}:7")));
        assert!(names_version(&format!("{SM}:7"), &format!("{SM}:7")));
        assert!(!names_version("17", &format!("{SM}:7")));
    }
}
