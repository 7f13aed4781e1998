//! How the values events carry are written as JSON (`--output json`, `status --output json`):
//! the [`Serialize`] implementations of the data types events hold, and the shapes the events
//! whose JSON is not their fields (a routing drawn from two versions and a weight, a planned
//! end) take. The wire format is part of the interface (README "Output").

use std::time::{Duration, SystemTime};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::definition::Changes;
use crate::exit_code::ExitCode;
use crate::gates::{Reading, Tally};
use crate::routing::Routing;
use crate::strategy::Step;
use crate::text::rfc3339;

/// A duration as seconds, with fractions.
pub fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A duration as seconds, to the millisecond.
pub fn millis_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_millis() as f64 / 1000.0)
}

/// Steps as `[{"weight": 10, "hold_seconds": 300.0}, ...]`.
pub fn steps<S: Serializer>(steps: &[Step], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct One {
        weight: u8,
        hold_seconds: f64,
    }
    s.collect_seq(steps.iter().map(|step| One { weight: step.weight, hold_seconds: step.hold.as_secs_f64() }))
}

/// Versions kept by pruning, with why: `[{"version": ARN, "reason": "..."}]`.
pub fn skipped<S: Serializer>(skipped: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct One<'a> {
        version: &'a str,
        reason: &'a str,
    }
    s.collect_seq(skipped.iter().map(|(version, reason)| One { version, reason }))
}

/// `started`: its fields, the planned time as seconds and as the moment it ends.
#[allow(clippy::too_many_arguments)]
pub fn started<S: Serializer>(
    state_machine: &str,
    alias: &str,
    old_version: &Option<String>,
    new_version: &str,
    strategy: &str,
    steps: &[Step],
    planned: &Duration,
    from_weight: &u8,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    map.serialize_entry("state_machine", state_machine)?;
    map.serialize_entry("alias", alias)?;
    map.serialize_entry("old_version", old_version)?;
    map.serialize_entry("new_version", new_version)?;
    map.serialize_entry("strategy", strategy)?;
    map.serialize_entry("steps", &Steps(steps))?;
    map.serialize_entry("planned_seconds", &planned.as_secs_f64())?;
    map.serialize_entry("planned_end", &rfc3339(SystemTime::now() + *planned))?;
    map.serialize_entry("from_weight", from_weight)?;
    map.end()
}

/// `paused`: both versions, the new one's weight and the routing they make, and the commands.
#[allow(clippy::too_many_arguments)]
pub fn paused<S: Serializer>(
    alias: &str,
    old_version: &str,
    new_version: &str,
    weight: &u8,
    why: &str,
    resume_command: &str,
    promote_command: &str,
    rollback_command: &str,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    map.serialize_entry("alias", alias)?;
    map.serialize_entry("old_version", old_version)?;
    map.serialize_entry("new_version", new_version)?;
    map.serialize_entry("new_weight", weight)?;
    map.serialize_entry("routing", &Routing::shifted(old_version, new_version, *weight))?;
    map.serialize_entry("why", why)?;
    map.serialize_entry("resume_command", resume_command)?;
    map.serialize_entry("promote_command", promote_command)?;
    map.serialize_entry("rollback_command", rollback_command)?;
    map.end()
}

/// `weights_changed`: the step, the routing it set, and the hold.
#[allow(clippy::too_many_arguments)]
pub fn weights_changed<S: Serializer>(
    step: &usize,
    steps: &usize,
    old_version: &str,
    new_version: &str,
    new_weight: &u8,
    hold: &Duration,
    remaining: &Duration,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    map.serialize_entry("step", step)?;
    map.serialize_entry("steps", steps)?;
    map.serialize_entry("routing", &Routing::shifted(old_version, new_version, *new_weight))?;
    map.serialize_entry("new_weight", new_weight)?;
    map.serialize_entry("hold_seconds", &hold.as_secs_f64())?;
    map.serialize_entry("remaining_seconds", &remaining.as_secs_f64())?;
    map.end()
}

/// `still_running`: the version, how many, and which.
pub fn still_running<S: Serializer>(version: &str, executions: &[String], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    map.serialize_entry("version", version)?;
    map.serialize_entry("count", &executions.len())?;
    map.serialize_entry("executions", executions)?;
    map.end()
}

/// `failed`: the message, and the exit code as its number and its name.
pub fn failed<S: Serializer>(message: &str, exit_code: &ExitCode, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    map.serialize_entry("message", message)?;
    map.serialize_entry("exit_code", &exit_code.code())?;
    map.serialize_entry("outcome", exit_code.name())?;
    map.end()
}

struct Steps<'a>(&'a [Step]);

impl Serialize for Steps<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        steps(self.0, s)
    }
}

impl Serialize for Routing {
    /// `[{"version": ARN, "weight": 90}, ...]`
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.entries().len()))?;
        for (version, weight) in self.entries() {
            seq.serialize_element(&Weighted { version, weight: *weight })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct Weighted<'a> {
    version: &'a str,
    weight: u8,
}

impl Serialize for Reading {
    /// Both versions' tallies, and whether the old one's reaches back before the deploy.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("new", &self.new)?;
        map.serialize_entry("old", &self.old)?;
        map.serialize_entry("old_includes_before", &self.old_includes_before)?;
        map.end()
    }
}

impl Serialize for Tally {
    /// The counts, the failure rate, the errors, and one failed execution with its cause.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Example<'a> {
            execution: &'a str,
            cause: &'a str,
        }
        let mut map = s.serialize_map(Some(7))?;
        map.serialize_entry("version", &self.version)?;
        map.serialize_entry("finished", &self.finished)?;
        map.serialize_entry("failed", &self.failed)?;
        map.serialize_entry("running", &self.running)?;
        map.serialize_entry("failure_rate", &self.rate())?;
        map.serialize_entry("errors", &self.errors)?;
        let example = self.example.as_ref().map(|(execution, cause)| Example { execution, cause });
        map.serialize_entry("example", &example)?;
        map.end()
    }
}

impl Serialize for Changes {
    /// What changed, item by item, with the summary sentence and the unified diff.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Changed<'a> {
            state: &'a str,
            fields: &'a [String],
        }
        #[derive(Serialize)]
        struct Pair<'a> {
            old: &'a str,
            new: &'a str,
        }
        fn pair(p: &Option<(String, String)>) -> Option<Pair<'_>> {
            p.as_ref().map(|(old, new)| Pair { old, new })
        }
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("same", &self.is_empty())?;
        map.serialize_entry("summary", &self.to_string())?;
        map.serialize_entry("added", &self.added)?;
        map.serialize_entry("removed", &self.removed)?;
        let changed: Vec<Changed> =
            self.changed.iter().map(|(state, fields)| Changed { state, fields }).collect();
        map.serialize_entry("changed", &changed)?;
        map.serialize_entry("start_at", &pair(&self.start_at))?;
        map.serialize_entry("query_language", &pair(&self.query_language))?;
        map.serialize_entry("other", &self.other)?;
        map.serialize_entry("diff", &self.diff)?;
        map.end()
    }
}
