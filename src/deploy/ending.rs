//! How a deploy ends when it does not succeed, as data: what happened, each alias as it was left,
//! and what was done after. Its exit code and its message are decided here, once, from that
//! data; nothing edits a message after it is written.

use std::fmt;
use std::time::Duration;

use super::reason::Reason;
use crate::arn::short_version;
use crate::exit_code::{ExitCode, Failure, exit_code_of};
use crate::label::Label;
use crate::signals::Signal;
use crate::text::{capitalized, human};

/// How a deploy ended, short of success.
#[derive(Debug)]
pub struct Ending {
    what: What,
    /// What was done afterwards (an old definition put back), said after what happened.
    after: Vec<String>,
    /// The new versions had all their traffic when it ended (after success: pruning, a hook on
    /// an alias this run created).
    after_traffic: bool,
}

#[derive(Debug)]
enum What {
    /// An error that carries its own exit code (or exits 1): nothing had moved, or it is not
    /// about traffic.
    Error(anyhow::Error),
    /// The deploy stopped while it moved traffic.
    Stopped(Stopped),
}

impl Ending {
    pub fn code(&self) -> ExitCode {
        match &self.what {
            What::Error(e) => exit_code_of(e),
            What::Stopped(s) => s.code(),
        }
    }

    /// The same ending, come once the new versions had all their traffic.
    pub fn after_traffic(mut self) -> Self {
        self.after_traffic = true;
        self
    }

    /// Whether the alias of the member `label` names ended fully on its old version: stopped
    /// before any traffic moved, or rolled back, or never moved (and not after success).
    pub fn left_on_old(&self, label: &Label) -> bool {
        match &self.what {
            _ if self.after_traffic => false,
            What::Error(_) => true,
            What::Stopped(s) => {
                s.lanes.iter().find(|(l, _)| l == label).is_none_or(|(_, end)| {
                    matches!(end, LaneEnd::RolledBack { .. } | LaneEnd::Untouched { .. })
                })
            }
        }
    }

    /// The same ending, with `note` said after it.
    pub fn with_note(mut self, note: String) -> Self {
        self.after.push(note);
        self
    }

    /// The error the run ends with: its code and its message.
    pub fn into_error(self) -> anyhow::Error {
        match self.what {
            What::Error(e) if self.after.is_empty() => e,
            _ => Failure::err(self.code(), self.to_string()),
        }
    }
}

impl From<anyhow::Error> for Ending {
    fn from(e: anyhow::Error) -> Self {
        Ending { what: What::Error(e), after: Vec::new(), after_traffic: false }
    }
}

impl From<Stopped> for Ending {
    fn from(s: Stopped) -> Self {
        Ending { what: What::Stopped(s), after: Vec::new(), after_traffic: false }
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            What::Error(e) => write!(f, "{e:#}")?,
            What::Stopped(s) => write!(f, "{s}")?,
        }
        if !self.after.is_empty() {
            write!(f, ". {}", capitalized(&self.after.join("; ")))?;
        }
        Ok(())
    }
}

/// A deploy stopped while traffic moved: why, and where each alias was left.
#[derive(Debug)]
pub struct Stopped {
    pub reason: Reason,
    /// Whether the deploy moved several aliases (a release): each is then named.
    pub several: bool,
    /// Each alias the stop concerned, as it was left (in a release, not the one someone else
    /// changed: that one is left as they set it, and the reason says so).
    pub lanes: Vec<(Label, LaneEnd)>,
    /// What `--rerun-failed` did, member by member.
    pub reruns: Vec<String>,
}

impl Stopped {
    pub fn code(&self) -> ExitCode {
        let codes = self.lanes.iter().map(|(_, end)| end.code(&self.reason));
        ExitCode::worst(codes).unwrap_or(self.reason.exit_code())
    }
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.several, self.lanes.as_slice()) {
            (false, [(_, end)]) => f.write_str(&end.message(&self.reason))?,
            (true, lanes) if !lanes.is_empty() => {
                let each: Vec<String> =
                    lanes.iter().map(|(label, end)| format!("{label}: {}", end.own(&self.reason))).collect();
                write!(f, "{}; {}", self.reason.describe(), each.join("; "))?
            }
            _ => f.write_str(&self.reason.describe())?,
        }
        if !self.reruns.is_empty() {
            write!(f, ". --rerun-failed: {}", self.reruns.join("; "))?;
        }
        Ok(())
    }
}

/// Where one alias was left when the deploy stopped.
#[derive(Clone, Debug)]
pub enum LaneEnd {
    /// Back 100% on its old version; `signal`: one that came during the rollback call, which
    /// was let finish.
    RolledBack { alias_arn: String, version: String, signal: Option<Signal> },
    /// The rollback found the alias changed by someone else, and left it.
    ChangedByOthers { error: String, old_version: String, restore: String },
    /// The rollback failed for `--rollback-timeout`.
    RollbackFailed {
        after: Duration,
        error: String,
        alias_arn: String,
        last_known: String,
        old_version: String,
        restore: String,
    },
    /// A second signal cut the rollback short.
    Abandoned { signal: Signal, alias_arn: String, last_known: String, old_version: String, restore: String },
    /// Someone else changed it while this run moved it: left as they set it (the message says
    /// so, with the command that routes it back).
    Changed { message: String },
    /// This run never moved it: as found (and, split, the command that routes it back to its
    /// older version).
    Untouched { alias_arn: String, routing: String, restore: Option<(String, String)> },
    /// An earlier wave's, left on its new version (`--on-wave-failure current`), with the
    /// command that routes it back.
    Kept { alias_arn: String, routing: String, old_version: String, restore: String },
}

impl LaneEnd {
    /// The run's exit code for this alias.
    pub fn code(&self, reason: &Reason) -> ExitCode {
        match self {
            LaneEnd::RolledBack { signal, .. } => signal.map_or(reason.exit_code(), |s| s.exit_code()),
            LaneEnd::ChangedByOthers { .. } | LaneEnd::Changed { .. } => ExitCode::Conflict,
            LaneEnd::RollbackFailed { .. } | LaneEnd::Abandoned { .. } => ExitCode::RollbackFailed,
            LaneEnd::Untouched { .. } | LaneEnd::Kept { .. } => reason.exit_code(),
        }
    }

    /// The whole message for a deploy of this alias alone.
    pub fn message(&self, reason: &Reason) -> String {
        match self {
            LaneEnd::RolledBack { .. } => format!("{}; {}", reason.describe(), self.own(reason)),
            _ => self.own(reason),
        }
    }

    /// What is said of this alias after the reason, in a release.
    pub fn own(&self, reason: &Reason) -> String {
        let why = reason.describe();
        match self {
            LaneEnd::RolledBack { alias_arn, version, signal } => {
                let during = signal
                    .map(|s| format!(" ({} came during the rollback call; it was let finish)", s.name()))
                    .unwrap_or_default();
                format!("rolled back alias {alias_arn} to 100% {}{during}", short_version(version))
            }
            LaneEnd::ChangedByOthers { error, old_version, restore } => format!(
                "{error}. Rolling back was wanted because {why}. To route all traffic back to {}: {restore}",
                short_version(old_version)
            ),
            LaneEnd::RollbackFailed { after, error, alias_arn, last_known, old_version, restore } => format!(
                "rolling back failed for {} ({error}); wanted because {why}. Alias {alias_arn} last routed \
                 {last_known}. To route all traffic back to {}: {restore}",
                human(*after),
                short_version(old_version)
            ),
            LaneEnd::Abandoned { signal, alias_arn, last_known, old_version, restore } => format!(
                "{} during the rollback: stopped at once. Alias {alias_arn} last routed {last_known}. To route \
                 all traffic back to {}: {restore}",
                signal.name(),
                short_version(old_version)
            ),
            LaneEnd::Changed { message } => message.clone(),
            LaneEnd::Kept { alias_arn, routing, old_version, restore } => format!(
                "alias {alias_arn} stays as its wave left it, routing {routing} (--on-wave-failure current). To \
                 route all traffic back to {}: {restore}",
                short_version(old_version)
            ),
            LaneEnd::Untouched { alias_arn, routing, restore } => {
                let mut text =
                    format!("{why} before any traffic moved; alias {alias_arn} still routes {routing}");
                if let Some((oldest, command)) = restore {
                    text.push_str(&format!(
                        ". To route all traffic back to {}: {command}",
                        short_version(oldest)
                    ));
                }
                text
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SM: &str = "arn:aws:states:us-east-1:1:stateMachine:orders";

    fn rolled_back(signal: Option<Signal>) -> LaneEnd {
        LaneEnd::RolledBack { alias_arn: format!("{SM}:prod"), version: format!("{SM}:6"), signal }
    }

    #[test]
    fn one_alias_rolled_back_says_why_and_where() {
        let stopped = Stopped {
            reason: Reason::Alarms(vec!["errors".into()]),
            several: false,
            lanes: vec![(Label::default(), rolled_back(None))],
            reruns: Vec::new(),
        };
        assert_eq!(stopped.code(), ExitCode::RolledBack);
        assert_eq!(
            stopped.to_string(),
            format!("alarm(s) in ALARM: errors; rolled back alias {SM}:prod to 100% v6")
        );
        let ending = Ending::from(stopped).with_note("the definition of v6 is back".into());
        assert!(ending.to_string().ends_with(". The definition of v6 is back"), "{ending}");
        assert!(ending.left_on_old(&Label::default()));
        assert!(!ending.after_traffic().left_on_old(&Label::default()));
    }

    #[test]
    fn a_release_names_each_alias_once_and_the_worst_decides() {
        let failed = LaneEnd::RollbackFailed {
            after: Duration::from_secs(300),
            error: "HTTP 500".into(),
            alias_arn: format!("{SM}2:prod"),
            last_known: "v1 50% / v2 50%".into(),
            old_version: format!("{SM}2:1"),
            restore: "aws ...".into(),
        };
        let stopped = Stopped {
            reason: Reason::Conflict("alias m02 was changed by someone else".into()),
            several: true,
            lanes: vec![(Label::new("m01", true), rolled_back(None)), (Label::new("m03", true), failed)],
            reruns: Vec::new(),
        };
        assert_eq!(stopped.code(), ExitCode::RollbackFailed);
        let text = stopped.to_string();
        assert!(text.starts_with("alias m02 was changed by someone else; m01: rolled back"), "{text}");
        assert_eq!(
            text.matches("changed by someone else").count(),
            2,
            "once as the reason, once as m03's cause: {text}"
        );
    }
}
