//! The README's IAM policy, pasted as is, grants every AWS operation the code calls, each on a
//! resource it accepts.

use std::collections::BTreeSet;

/// `(service prefix, operation)` for every `sfn.x()`, `cloudwatch.x()` and `sts.x()` call in src/.
fn operations_called() -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    let mut files = Vec::new();
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { dirs.push(path) } else { files.push(path) }
        }
    }
    assert!(files.len() > 20, "every source file of src/ and its folders: {files:?}");
    for path in files {
        let text = std::fs::read_to_string(path).unwrap();
        // The code, not its unit tests.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        // Join method chains split over lines: `sfn\n    .describe_state_machine()`.
        let mut joined = String::new();
        let mut pending_space = false;
        for c in text.chars() {
            if c.is_whitespace() {
                pending_space = true;
                continue;
            }
            if pending_space && c != '.' {
                joined.push(' ');
            }
            pending_space = false;
            joined.push(c);
        }
        for (client, prefix) in [("sfn.", "states"), ("cloudwatch.", "cloudwatch"), ("sts.", "sts")] {
            for (at, _) in joined.match_indices(client) {
                let before = joined[..at].chars().last().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' {
                    continue;
                }
                let rest = &joined[at + client.len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if name.is_empty() || name == "clone" || !rest[name.len()..].starts_with("()") {
                    continue;
                }
                let pascal: String = name.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
                ops.insert((prefix.to_string(), pascal));
            }
        }
    }
    ops
}

/// The first ```json block after the "IAM permissions" heading.
fn readme_policy() -> serde_json::Value {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## IAM permissions").expect("an IAM section")..];
    let start = section.find("```json\n").expect("a json block") + "```json\n".len();
    let end = start + section[start..].find("```").unwrap();
    serde_json::from_str(&section[start..end]).expect("the policy is valid JSON")
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_readme_policy_grants_every_operation_the_code_calls() {
    let ops = operations_called();
    // The scan must see the calls, or this test would pass on nothing.
    for known in ["PublishStateMachineVersion", "UpdateStateMachineAlias", "DeleteStateMachineVersion"] {
        assert!(ops.contains(&("states".into(), known.into())), "scan missed {known}: {ops:?}");
    }
    assert!(ops.contains(&("cloudwatch".into(), "DescribeAlarms".into())), "{ops:?}");

    let policy = readme_policy();
    let statements = policy["Statement"].as_array().expect("Statement is a list");
    let mut missing = Vec::new();
    for (prefix, op) in &ops {
        if (prefix, op.as_str()) == (&"sts".to_string(), "GetCallerIdentity") {
            continue; // needs no permission
        }
        let action = format!("{prefix}:{op}");
        let granting: Vec<&serde_json::Value> = statements
            .iter()
            .filter(|s| s["Effect"] == "Allow" && strings(&s["Action"]).contains(&action))
            .collect();
        if granting.is_empty() {
            missing.push(action);
            continue;
        }
        let resources: Vec<String> = granting.iter().flat_map(|s| strings(&s["Resource"])).collect();
        // These take no resource-level permission: only "*" works.
        let needs_star = matches!(
            (prefix.as_str(), op.as_str()),
            ("states", "ValidateStateMachineDefinition") | ("cloudwatch", "ListMetrics" | "GetMetricData")
        );
        if needs_star {
            assert!(resources.iter().any(|r| r == "*"), "{action} needs Resource \"*\": {resources:?}");
        } else {
            assert!(!resources.is_empty(), "{action} has no resource");
        }
    }
    assert!(missing.is_empty(), "the README's policy does not grant {missing:?}");
}
