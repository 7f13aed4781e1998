//! How a successful deploy ended, as the one line (or two) printed on stdout.

use std::fmt;
use std::time::Duration;

use crate::arn::short_version;
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
