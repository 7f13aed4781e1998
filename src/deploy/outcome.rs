//! How a successful deploy ended, as the one line (or two) printed on stdout.

use std::fmt;
use std::time::Duration;

use super::member::Member;
use crate::arn::short_version;
use crate::command_line;
use crate::config::DeployConfig;
use crate::report::Event;
use crate::routing::Routing;
use crate::text::human;
use crate::versions::PruneReport;

/// How a successful run ended.
#[derive(Debug)]
pub enum Outcome {
    Deployed {
        alias: String,
        version: String,
        took: Duration,
        pruned: Option<PruneReport>,
    },
    Created {
        alias: String,
        version: String,
        pruned: Option<PruneReport>,
    },
    NothingToDo {
        alias: String,
        version: String,
        pruned: Option<PruneReport>,
    },
    /// `--pause-at`: the alias is split on purpose (`already`: it was before this run).
    Paused {
        alias: String,
        routing: Routing,
        already: bool,
        resume_command: String,
        rollback_command: String,
    },
    DryRun {
        summary: String,
    },
    /// A release of several state machines: each member's outcome, in the order given.
    Release {
        alias: String,
        members: Vec<(String, Outcome)>,
    },
}

/// A member stops at `--pause-at` with its alias split on purpose: say so, with the commands
/// that continue the deploy or roll it back (for a release, every member). Versions are not
/// pruned while paused.
pub fn paused(
    all: &[Member<'_>],
    member: &Member<'_>,
    cfg: &DeployConfig,
    (old, new, weight): (&str, &str, u8),
    already: bool,
) -> Outcome {
    let (flags, alias) = (&cfg.invocation.flags, &cfg.alias);
    let sm = member.config.state_machine.as_str();
    let resume_command = command_line::resume(&cfg.invocation.argv, sm, alias, flags);
    let rollback_command = if all.len() > 1 {
        let names: Vec<&str> = all.iter().map(|m| m.config.state_machine.as_str()).collect();
        command_line::rollback_release(&names, alias, flags)
    } else {
        command_line::rollback(sm, alias, old, flags)
    };
    member.reporter.emit(Event::Paused {
        alias: alias.clone(),
        old_version: old.to_string(),
        new_version: new.to_string(),
        weight,
        resume_command: resume_command.clone(),
        rollback_command: rollback_command.clone(),
    });
    Outcome::Paused {
        alias: alias.clone(),
        routing: Routing::shifted(old, new, weight),
        already,
        resume_command,
        rollback_command,
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pruned = |p: &Option<PruneReport>| match p {
            Some(p) if !p.deleted.is_empty() => {
                format!("; pruned {} old version(s)", p.deleted.len())
            }
            _ => String::new(),
        };
        match self {
            Outcome::Deployed { alias, version, took, pruned: p } => write!(
                f,
                "Deployed {} to alias {alias} in {}: it routes 100% to {}{}",
                short_version(version),
                human(*took),
                short_version(version),
                pruned(p)
            ),
            Outcome::Created { alias, version, pruned: p } => {
                write!(f, "Created alias {alias} routing 100% to {}{}", short_version(version), pruned(p))
            }
            Outcome::NothingToDo { alias, version, pruned: p } => write!(
                f,
                "Nothing to do: alias {alias} already routes 100% to {}{}",
                short_version(version),
                pruned(p)
            ),
            Outcome::Paused { alias, routing, already, resume_command, rollback_command } => write!(
                f,
                "Paused{}: alias {alias} routes {routing}, as --pause-at asked. To continue: {resume_command}\n\
                 To roll back: {rollback_command}",
                if *already { " already" } else { "" }
            ),
            Outcome::DryRun { summary } => f.write_str(summary),
            Outcome::Release { alias, members } => release(f, alias, members),
        }
    }
}

/// A release: paused as one, or each member's outcome on a line of its own.
fn release(f: &mut fmt::Formatter<'_>, alias: &str, members: &[(String, Outcome)]) -> fmt::Result {
    let paused = members.iter().find_map(|(_, o)| match o {
        Outcome::Paused { resume_command, rollback_command, .. } => Some((resume_command, rollback_command)),
        _ => None,
    });
    if let Some((resume, rollback)) = paused {
        let each: Vec<String> = members
            .iter()
            .map(|(m, o)| match o {
                Outcome::Paused { routing, .. } => format!("{m} {routing}"),
                other => format!("{m}: {other}"),
            })
            .collect();
        return write!(
            f,
            "Paused: alias {alias} routes {}, as --pause-at asked. To continue: {resume}\n\
             To roll back: {rollback}",
            each.join("; ")
        );
    }
    write!(f, "Released {} state machines to alias {alias}:", members.len())?;
    for (member, outcome) in members {
        write!(f, "\n  {member}: {outcome}")?;
    }
    Ok(())
}
