//! Why a deploy stops early and puts traffic back on the old version.

use std::time::Duration;

use crate::exit_code::ExitCode;
use crate::signals::Signal;
use crate::text::human;

/// Why traffic is going back to the old version.
#[derive(Clone, Debug)]
pub enum Reason {
    Alarms(Vec<String>),
    /// A health gate on the new version's executions failed: the evidence.
    Executions(String),
    /// The gates still lacked evidence (`what`) after the extension (`waited`, besides the
    /// time reads were `throttled`).
    Inconclusive {
        what: String,
        waited: Duration,
        throttled: Duration,
    },
    Unmonitored {
        for_: Duration,
        error: String,
    },
    ShiftFailed(String),
    Signal(Signal),
    /// In a release: another member's alias was changed by someone else (the message).
    Conflict(String),
    /// The post-traffic hook failed: what happened.
    Hook(String),
    /// A smoke run or the pre-traffic hook failed, on a split this run continues: what
    /// happened, and the exit code it ends with.
    Before {
        what: String,
        code: ExitCode,
    },
}

impl Reason {
    pub fn describe(&self) -> String {
        match self {
            Reason::Alarms(names) => format!("alarm(s) in ALARM: {}", names.join(", ")),
            Reason::Executions(evidence) => format!("the new version's executions: {evidence}"),
            Reason::Inconclusive { what, waited, throttled } => format!(
                "inconclusive: {what}, after waiting {} longer (--max-extension{}); too little evidence is \
                 not a pass",
                human(*waited),
                if throttled.is_zero() {
                    String::new()
                } else {
                    format!(", and {} more while reads were throttled", human(*throttled))
                }
            ),
            Reason::Unmonitored { for_, error } => {
                format!("the health signals could not be read for {} ({error})", human(*for_))
            }
            Reason::ShiftFailed(e) => format!("changing the weights failed: {e}"),
            Reason::Signal(s) => format!("stopped by {}", s.name()),
            Reason::Conflict(message) => message.clone(),
            Reason::Hook(text) => text.clone(),
            Reason::Before { what, .. } => what.clone(),
        }
    }

    /// The exit code once the rollback succeeded.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Reason::Signal(s) => s.exit_code(),
            Reason::Conflict(_) => ExitCode::Conflict,
            Reason::Before { code, .. } => *code,
            _ => ExitCode::RolledBack,
        }
    }
}
