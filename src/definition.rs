//! A state machine definition read as a state machine, not as text: what a rollback of the
//! state machine cannot roll back (code it calls unqualified), and what changed between two
//! definitions (states added, removed and changed, `StartAt`, the query language), with a
//! unified diff of the pretty-printed JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};
use similar::TextDiff;

/// A call the definition makes to code a state machine rollback does not roll back.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Unrollbackable {
    /// The state's name (`Branch/State` inside a Parallel or Map state).
    pub state: String,
    /// The Lambda function or state machine, as the definition names it.
    pub resource: String,
    /// What runs instead of a fixed version.
    pub runs: &'static str,
}

impl fmt::Display for Unrollbackable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "state {} calls {} unqualified ({}): rolling back the state machine does not roll it back",
            self.state, self.resource, self.runs
        )
    }
}

/// Every state, nested ones included, by its path (`Parallel/Branch1State`), in order.
fn states(definition: &Value) -> Vec<(String, &Map<String, Value>)> {
    let mut all = Vec::new();
    collect(definition, "", &mut all);
    all
}

fn collect<'v>(machine: &'v Value, prefix: &str, all: &mut Vec<(String, &'v Map<String, Value>)>) {
    let Some(states) = machine.get("States").and_then(Value::as_object) else { return };
    for (name, state) in states {
        let Some(state) = state.as_object() else { continue };
        let path = format!("{prefix}{name}");
        all.push((path.clone(), state));
        for branch in state.get("Branches").and_then(Value::as_array).into_iter().flatten() {
            collect(branch, &format!("{path}/"), all);
        }
        for key in ["ItemProcessor", "Iterator"] {
            if let Some(inner) = state.get(key) {
                collect(inner, &format!("{path}/"), all);
            }
        }
    }
}

/// The calls in `definition` that run whatever version of other code is current: Lambda
/// functions by an unqualified ARN or a bare name (they run `$LATEST`), and state machines
/// started by their unqualified ARN. None for a definition that does not parse.
pub fn unrollbackable(definition: &str) -> Vec<Unrollbackable> {
    let Ok(parsed) = serde_json::from_str::<Value>(definition) else { return Vec::new() };
    let mut found = Vec::new();
    for (name, state) in states(&parsed) {
        if state.get("Type").and_then(Value::as_str) != Some("Task") {
            continue;
        }
        let Some(resource) = state.get("Resource").and_then(Value::as_str) else { continue };
        // Parameters (JSONPath) or Arguments (JSONata) carry the integration's target.
        let argument = |key: &str| {
            ["Parameters", "Arguments"]
                .iter()
                .find_map(|p| state.get(*p).and_then(|a| a.get(key)).and_then(Value::as_str))
        };
        let mut note = |target: &str, runs| {
            found.push(Unrollbackable { state: name.clone(), resource: target.to_string(), runs })
        };
        if resource.contains(":lambda:") && resource.contains(":function:") {
            if lambda_unqualified(resource) {
                note(resource, "it runs $LATEST");
            }
        } else if resource.starts_with("arn:") && resource.contains(":states:::lambda:invoke") {
            let qualified = argument("Qualifier").is_some();
            if let Some(function) = argument("FunctionName")
                && !qualified
                && !function.starts_with("{%")
                && lambda_unqualified(function)
            {
                note(function, "it runs $LATEST");
            }
        } else if resource.contains(":states:::states:startExecution")
            && let Some(target) = argument("StateMachineArn")
            && !target.starts_with("{%")
            && target.split(':').count() == 7
        {
            note(target, "it starts whatever revision is current, not a version");
        }
    }
    found
}

/// Whether a Lambda function named by `name` (a bare name, a partial ARN `123:function:f` or a
/// full ARN) runs `$LATEST`: no version or alias after the function's name, or `$LATEST` itself.
fn lambda_unqualified(name: &str) -> bool {
    let after = match name.split_once(":function:") {
        Some((_, rest)) => rest,
        None if name.starts_with("arn:") => return false,
        None => name,
    };
    match after.split_once(':') {
        None => true,
        Some((_, qualifier)) => qualifier == "$LATEST",
    }
}

/// What changed from one definition to another, read as state machines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Each changed state with its changed fields (`Charge: Result, Next`).
    pub changed: Vec<(String, Vec<String>)>,
    /// (old, new) when `StartAt` changed.
    pub start_at: Option<(String, String)>,
    /// (old, new) when the query language changed (JSONPath when unsaid).
    pub query_language: Option<(String, String)>,
    /// Top-level fields other than States, StartAt and QueryLanguage that changed.
    pub other: Vec<String>,
    /// The unified diff of the pretty-printed definitions.
    pub diff: String,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.start_at.is_none()
            && self.query_language.is_none()
            && self.other.is_empty()
    }
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("same definition");
        }
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("states added: {}", self.added.join(", ")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("states removed: {}", self.removed.join(", ")));
        }
        if !self.changed.is_empty() {
            let each: Vec<String> = self
                .changed
                .iter()
                .map(|(state, fields)| format!("{state}: {}", fields.join(", ")))
                .collect();
            parts.push(format!("states changed: {}", each.join("; ")));
        }
        if let Some((old, new)) = &self.start_at {
            parts.push(format!("StartAt {old} → {new}"));
        }
        if let Some((old, new)) = &self.query_language {
            parts.push(format!("QueryLanguage {old} → {new}"));
        }
        if !self.other.is_empty() {
            parts.push(format!("also changed: {}", self.other.join(", ")));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Compares `old` with `new` as state machines. None when either does not parse as JSON.
pub fn changes(old: &str, new: &str) -> Option<Changes> {
    let (old, new): (Value, Value) = (serde_json::from_str(old).ok()?, serde_json::from_str(new).ok()?);
    let old_states: BTreeMap<String, &Map<String, Value>> = states(&old).into_iter().collect();
    let new_states: BTreeMap<String, &Map<String, Value>> = states(&new).into_iter().collect();
    let mut changes = Changes::default();
    for (name, state) in &new_states {
        match old_states.get(name) {
            None => changes.added.push(name.clone()),
            Some(before) => {
                let mut fields: Vec<String> = state
                    .iter()
                    .filter(|(k, v)| before.get(*k) != Some(v))
                    .map(|(k, _)| k.clone())
                    .chain(before.keys().filter(|k| !state.contains_key(*k)).cloned())
                    .collect();
                // A nested state's change shows on its own line, not as its parent's.
                fields.retain(|f| {
                    !["Branches", "ItemProcessor", "Iterator"].contains(&f.as_str()) || {
                        let nested_same = |v: Option<&Value>| v.map(strip_states);
                        nested_same(state.get(f)) != nested_same(before.get(f))
                    }
                });
                if !fields.is_empty() {
                    changes.changed.push((name.clone(), fields));
                }
            }
        }
    }
    changes.removed = old_states.keys().filter(|k| !new_states.contains_key(*k)).cloned().collect();
    let text = |v: &Value, key: &str, default: &str| {
        v.get(key).and_then(Value::as_str).unwrap_or(default).to_string()
    };
    let (a, b) = (text(&old, "StartAt", ""), text(&new, "StartAt", ""));
    if a != b {
        changes.start_at = Some((a, b));
    }
    let (a, b) = (text(&old, "QueryLanguage", "JSONPath"), text(&new, "QueryLanguage", "JSONPath"));
    if a != b {
        changes.query_language = Some((a, b));
    }
    let (o, n) = (old.as_object(), new.as_object());
    let keys: std::collections::BTreeSet<&String> = o.into_iter().chain(n).flat_map(|m| m.keys()).collect();
    changes.other = keys
        .into_iter()
        .filter(|k| !["States", "StartAt", "QueryLanguage"].contains(&k.as_str()))
        .filter(|k| old.get(k.as_str()) != new.get(k.as_str()))
        .cloned()
        .collect();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let (before, after) = (pretty(&old), pretty(&new));
    changes.diff = TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header("old version", "new version")
        .to_string();
    Some(changes)
}

/// A nested machine (Branches, ItemProcessor) without its states: what is its parent's own.
fn strip_states(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(strip_states).collect()),
        Value::Object(map) => Value::Object(
            map.iter().filter(|(k, _)| *k != "States").map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unqualified_lambdas_and_state_machines_are_named() {
        let definition = r#"{
          "StartAt": "Charge",
          "States": {
            "Charge": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:charge", "Next": "Ship"},
            "Ship": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                     "Parameters": {"FunctionName": "ship", "Payload.$": "$"}, "Next": "Pinned"},
            "Pinned": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:charge:7", "Next": "Aliased"},
            "Aliased": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:1:function:ship:prod"}, "Next": "Fan"},
            "Fan": {"Type": "Parallel", "Next": "Child", "Branches": [{"StartAt": "Notify", "States": {
              "Notify": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                         "Parameters": {"FunctionName": "notify:$LATEST"}, "End": true}}}]},
            "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                      "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:refunds"}, "Next": "ChildAlias"},
            "ChildAlias": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
                      "Parameters": {"StateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:refunds:prod"}, "End": true}
          }
        }"#;
        let found: Vec<(String, String)> =
            unrollbackable(definition).into_iter().map(|u| (u.state, u.resource)).collect();
        assert_eq!(
            found,
            [
                ("Charge".to_string(), "arn:aws:lambda:us-east-1:123456789012:function:charge".to_string()),
                ("Ship".into(), "ship".into()),
                ("Fan/Notify".into(), "notify:$LATEST".into()),
                ("Child".into(), "arn:aws:states:us-east-1:1:stateMachine:refunds".into()),
            ]
        );
        assert!(unrollbackable("not json").is_empty());
    }

    #[test]
    fn changes_are_read_as_a_state_machine() {
        let old = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Result":"v1","Next":"B"},"B":{"Type":"Succeed"},"Gone":{"Type":"Succeed"}}}"#;
        let new = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Result":"v2","Next":"C"},"B":{"Type":"Succeed"},"C":{"Type":"Pass","Next":"B"}},"QueryLanguage":"JSONata"}"#;
        let c = changes(old, new).unwrap();
        assert_eq!(c.added, ["C"]);
        assert_eq!(c.removed, ["Gone"]);
        assert_eq!(c.changed, [("A".to_string(), vec!["Result".to_string(), "Next".to_string()])]);
        assert_eq!(c.query_language, Some(("JSONPath".into(), "JSONata".into())));
        assert_eq!(
            c.to_string(),
            "states added: C; states removed: Gone; states changed: A: Result, Next; QueryLanguage JSONPath → JSONata"
        );
        assert!(
            c.diff.contains("-      \"Result\": \"v1\"") && c.diff.contains("+      \"Result\": \"v2\""),
            "{}",
            c.diff
        );
        // Whitespace and key order are not changes.
        let same = changes(old, &old.replace(',', " ,\n ")).unwrap();
        assert!(same.is_empty(), "{same:?}");
        assert_eq!(same.to_string(), "same definition");
        assert!(changes("{", new).is_none());
    }
}
