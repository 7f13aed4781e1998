//! Definition substitutions, as SAM's `DefinitionSubstitutions` and CloudFormation's `Fn::Sub`
//! write them: `${Name}` in a `--file` is replaced by the `--substitution Name=VALUE` given, and
//! `${AWS::Region}`, `${AWS::AccountId}` and `${AWS::Partition}` by the state machine's own (its
//! ARN says them). `${!Name}` is a literal `${Name}`. A placeholder left unreplaced is an error
//! before any change: uploaded, it would be a broken definition.

/// The state machine a definition is for: what the built-ins are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub partition: String,
    pub region: String,
    pub account: String,
}

impl Target {
    /// From a state machine ARN: `arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME`.
    pub fn of(state_machine_arn: &str) -> Option<Target> {
        let parts: Vec<&str> = state_machine_arn.split(':').collect();
        match parts.as_slice() {
            ["arn", partition, "states", region, account, ..] => Some(Target {
                partition: partition.to_string(),
                region: region.to_string(),
                account: account.to_string(),
            }),
            _ => None,
        }
    }
}

/// Whether `name` may be a substitution's name: letters, digits and `_`, not starting with a
/// digit (`AWS::...` are the built-ins').
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` with every `${Name}` replaced by its value from `given`, or a built-in's from
/// `target`; Err lists each placeholder left, with its line.
pub fn substitute(text: &str, given: &[(String, String)], target: &Target) -> Result<String, String> {
    let value = |name: &str| -> Option<&str> {
        match name {
            "AWS::Region" => Some(&target.region),
            "AWS::AccountId" => Some(&target.account),
            "AWS::Partition" => Some(&target.partition),
            _ => given.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()),
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut missing: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        let whole = &rest[at..at + 2 + end + 1];
        if let Some(literal) = name.strip_prefix('!') {
            out.push_str("${");
            out.push_str(literal);
            out.push('}');
        } else if let Some(v) = value(name) {
            out.push_str(v);
        } else if placeholder(name) {
            let line = text[..text.len() - rest.len() + at].lines().count().max(1);
            missing.push(format!("${{{name}}} (line {line})"));
            out.push_str(whole);
        } else {
            out.push_str(whole);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if missing.is_empty() { Ok(out) } else { Err(missing.join(", ")) }
}

/// What reads as a placeholder: a name, or `AWS::Name`.
fn placeholder(name: &str) -> bool {
    match name.split_once("::") {
        Some((prefix, rest)) => valid_name(prefix) && valid_name(rest),
        None => valid_name(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::of("arn:aws:states:eu-west-1:123456789012:stateMachine:orders").unwrap()
    }

    #[test]
    fn names_and_built_ins_are_replaced() {
        let given = vec![("Bucket".to_string(), "orders-eu".to_string())];
        let text = r#"{"b": "${Bucket}", "r": "arn:${AWS::Partition}:s3:${AWS::Region}:${AWS::AccountId}"}"#;
        assert_eq!(
            substitute(text, &given, &target()).unwrap(),
            r#"{"b": "orders-eu", "r": "arn:aws:s3:eu-west-1:123456789012"}"#
        );
    }

    #[test]
    fn a_placeholder_left_is_named_with_its_line_and_a_literal_stays() {
        let text = "{\n  \"a\": \"${Table}\",\n  \"b\": \"${!Kept}\",\n  \"c\": \"{% $x %}\", \"d\": \"${AWS::StackName}\"\n}";
        let err = substitute(text, &[], &target()).unwrap_err();
        assert_eq!(err, "${Table} (line 2), ${AWS::StackName} (line 4)");
        let given = vec![("Table".to_string(), "t".to_string()), ("Unused".to_string(), "u".to_string())];
        let err = substitute(text, &given, &target()).unwrap_err();
        assert_eq!(err, "${AWS::StackName} (line 4)");
        let ok = substitute("\"${!Kept}\" ${not a name} $x ${", &[], &target()).unwrap();
        assert_eq!(ok, "\"${Kept}\" ${not a name} $x ${");
        assert!(valid_name("Bucket_2") && !valid_name("2x") && !valid_name("a-b") && !valid_name(""));
    }
}
