//! The release file's JSON Schema, from the same flags as the file's keys.

use clap::{ArgAction, Command};

use super::{NOT_IN_A_FILE, many};

/// The file's JSON Schema (draft 2020-12), from the deploy's flags: each key's type and help.
pub fn schema(deploy: &Command) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let mut properties = Map::new();
    for arg in deploy.get_arguments().filter(|a| a.get_long().is_some() && !a.is_hide_set()) {
        let long = arg.get_long().unwrap_or_default();
        if NOT_IN_A_FILE.contains(&long) {
            continue;
        }
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let mut property = match arg.get_action() {
            ArgAction::SetTrue => json!({ "type": "boolean" }),
            ArgAction::Count => json!({ "type": "integer", "minimum": 0 }),
            _ if many(arg) => json!({ "type": ["array", "string"], "items": { "type": "string" } }),
            _ => json!({ "type": ["string", "number"] }),
        };
        let choices: Vec<String> =
            arg.get_possible_values().iter().map(|p| p.get_name().to_string()).collect();
        if !choices.is_empty() && !matches!(arg.get_action(), ArgAction::SetTrue) {
            property = json!({ "enum": choices });
        }
        if long == "state-machine" {
            property = json!({
                "description": "The members: names, or tables with their own file, alarms and substitutions",
                "type": "array",
                "items": { "oneOf": [
                    { "type": "string" },
                    { "type": "object", "additionalProperties": false, "required": ["name"], "properties": {
                        "name": { "type": "string" },
                        "file": { "type": "string" },
                        "alarms": { "type": "array", "items": { "type": "string" } },
                        "substitutions": { "type": "object", "additionalProperties": { "type": "string" } }
                    } }
                ] }
            });
        }
        if long == "wave" {
            property = json!({
                "description": "The waves, in order: each a string of comma-separated targets, or a table of targets",
                "type": "array",
                "items": { "oneOf": [
                    { "type": "string" },
                    { "type": "object", "additionalProperties": false, "required": ["targets"], "properties": {
                        "targets": { "type": "array", "items": { "type": "string" } }
                    } }
                ] }
            });
        }
        if let Value::Object(o) = &mut property
            && !help.is_empty()
            && !o.contains_key("description")
        {
            o.insert(
                "description".into(),
                Value::String(help.split_whitespace().collect::<Vec<_>>().join(" ")),
            );
        }
        properties.insert(long.to_string(), property);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sfndeploy release file",
        "description": "Keys are sfndeploy's flags' long names; the command line and SFNDEPLOY_* variables win over the file",
        "type": "object",
        "additionalProperties": false,
        "properties": properties
    })
}
