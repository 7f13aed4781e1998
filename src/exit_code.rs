//! Process exit codes. Each number has one meaning, so CI scripts can branch on it.

use std::fmt;

/// How a run ended. The numbers are part of the interface (README "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Deployed, created the alias, or nothing to do.
    Success,
    /// Something failed before or without shifting traffic (bad state, AWS error).
    Failure,
    /// A mistake on the command line or in the environment (flags, region, missing file).
    Usage,
    /// An alarm fired (or alarms could not be read) and the alias is back on the old version.
    RolledBack,
    /// Someone else changed the alias while we deployed; we stopped without touching it.
    Conflict,
    /// The rollback itself failed: the alias may be split; the restore command was printed.
    RollbackFailed,
    /// A smoke execution of the new version did not succeed; no traffic moved.
    SmokeFailed,
    /// The pre-traffic hook failed (non-zero exit, killed, timed out); no traffic moved.
    HookFailed,
    /// Outside every --window, or inside a --freeze: nothing was changed.
    OutsideWindow,
    /// A release in waves stopped before a wave: its alarms (blockers) were in ALARM past
    /// --blocker-wait. The waves before it are on their new versions; --resume goes on.
    Blocked,
    /// Stopped by SIGINT (Ctrl-C); any shifted traffic was rolled back.
    Interrupted,
    /// Stopped by SIGTERM (a cancelled CI job); any shifted traffic was rolled back.
    Terminated,
}

impl ExitCode {
    pub const ALL: [ExitCode; 12] = [
        ExitCode::Success,
        ExitCode::Failure,
        ExitCode::Usage,
        ExitCode::RolledBack,
        ExitCode::Conflict,
        ExitCode::RollbackFailed,
        ExitCode::SmokeFailed,
        ExitCode::HookFailed,
        ExitCode::OutsideWindow,
        ExitCode::Blocked,
        ExitCode::Interrupted,
        ExitCode::Terminated,
    ];

    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Usage => 2,
            ExitCode::RolledBack => 3,
            ExitCode::Conflict => 4,
            ExitCode::RollbackFailed => 5,
            ExitCode::SmokeFailed => 6,
            ExitCode::HookFailed => 7,
            ExitCode::OutsideWindow => 8,
            ExitCode::Blocked => 9,
            ExitCode::Interrupted => 130,
            ExitCode::Terminated => 143,
        }
    }

    /// How much an ending outweighs another, for the one a run of several parts reports: a
    /// rollback that failed (an alias may be left split), then someone else's change, then a
    /// signal, then what rolled back or refused, then the rest.
    fn severity(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Usage => 1,
            ExitCode::OutsideWindow | ExitCode::Blocked => 2,
            ExitCode::Failure => 3,
            ExitCode::SmokeFailed => 4,
            ExitCode::HookFailed => 5,
            ExitCode::RolledBack => 6,
            ExitCode::Interrupted | ExitCode::Terminated => 7,
            ExitCode::Conflict => 8,
            ExitCode::RollbackFailed => 9,
        }
    }

    /// The worst of several endings (the first of equals); None for none.
    pub fn worst(codes: impl IntoIterator<Item = ExitCode>) -> Option<ExitCode> {
        codes.into_iter().fold(None, |worst, c| match worst {
            Some(w) if w.severity() >= c.severity() => Some(w),
            _ => Some(c),
        })
    }

    /// Short name used in JSON events.
    pub fn name(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::Failure => "failure",
            ExitCode::Usage => "usage",
            ExitCode::RolledBack => "rolled_back",
            ExitCode::Conflict => "conflict",
            ExitCode::RollbackFailed => "rollback_failed",
            ExitCode::SmokeFailed => "smoke_failed",
            ExitCode::HookFailed => "hook_failed",
            ExitCode::OutsideWindow => "outside_window",
            ExitCode::Blocked => "blocked",
            ExitCode::Interrupted => "interrupted",
            ExitCode::Terminated => "terminated",
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

/// An error that decides the exit code. Anything else that reaches `main` exits 1.
#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
}

impl Failure {
    pub fn err(code: ExitCode, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure { code, message: message.into() })
    }

    /// A user mistake: one sentence, exit 2.
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Self::err(ExitCode::Usage, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code an error stands for: its own if it is a [`Failure`] anywhere in the chain.
pub fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    err.chain().find_map(|e| e.downcast_ref::<Failure>()).map_or(ExitCode::Failure, |f| f.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_documented_values() {
        let codes: Vec<u8> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 130, 143]);
        // Each is in the README's table.
        let readme = include_str!("../README.md");
        for code in codes {
            assert!(readme.contains(&format!("\n| {code} | ")), "exit code {code} is not in the README");
        }
        let mut names: Vec<&str> = ExitCode::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ExitCode::ALL.len());
    }

    #[test]
    fn the_worst_ending_wins() {
        use ExitCode::*;
        assert_eq!(ExitCode::worst([RolledBack, RollbackFailed, Conflict]), Some(RollbackFailed));
        assert_eq!(ExitCode::worst([HookFailed, Terminated, HookFailed]), Some(Terminated));
        assert_eq!(ExitCode::worst([RolledBack, Conflict]), Some(Conflict));
        assert_eq!(ExitCode::worst([]), None);
    }

    #[test]
    fn failure_decides_code_through_context() {
        let err = Failure::err(ExitCode::RolledBack, "alarm").context("deploying");
        assert_eq!(exit_code_of(&err), ExitCode::RolledBack);
        assert_eq!(exit_code_of(&anyhow::anyhow!("plain")), ExitCode::Failure);
    }
}
