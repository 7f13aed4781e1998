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
        /// Someone ran `sfndeploy promote` during the deploy.
        by_hand: bool,
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
    /// Paused on purpose (`already`: it was before this run; `why`: `as --pause-at asked`...).
    Paused {
        alias: String,
        routing: Routing,
        already: bool,
        why: String,
        resume_command: String,
        promote_command: String,
        rollback_command: String,
    },
    DryRun {
        summary: String,
    },
    /// `--stop-after-wave`: the run ended once `wave` (1-based) of `waves` baked; this member is
    /// on its new version (`on_new`) or has not moved yet.
    WaveDone {
        wave: usize,
        waves: usize,
        alias: String,
        version: String,
        on_new: bool,
        resume_command: String,
    },
    /// A release of several state machines: each member's outcome, in the order given.
    Release {
        alias: String,
        members: Vec<(String, Outcome)>,
    },
}

/// Why a deploy paused when `--pause-at` asked it to.
pub const PAUSE_AT: &str = "as --pause-at asked";

/// A member stops with its alias split on purpose (`why`): say so, with the commands that
/// continue the deploy, promote it now or roll it back (for a release, every member). Versions
/// are not pruned while paused.
pub fn paused(
    all: &[Member<'_>],
    member: &Member<'_>,
    cfg: &DeployConfig,
    (old, new, weight): (&str, &str, u8),
    (why, already): (&str, bool),
) -> Outcome {
    let (flags, alias) = (&cfg.invocation.flags, &cfg.alias);
    let sm = member.config.state_machine.as_str();
    let resume_command = command_line::resume(&cfg.invocation.argv, sm, alias, flags);
    let mut names: Vec<&str> = Vec::new();
    for name in all.iter().map(|m| m.config.state_machine.as_str()) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let waves: Vec<String> = cfg
        .waves
        .iter()
        .flat_map(|w| &w.waves)
        .map(|wave| wave.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
        .collect();
    let rollback_command = if all.len() > 1 {
        command_line::rollback_release(&names, alias, &waves, flags)
    } else {
        command_line::rollback(sm, alias, old, flags)
    };
    let promote_command = command_line::promote(&names, alias, &cfg.alarms, &waves, flags);
    member.reporter.emit(Event::Paused {
        alias: alias.clone(),
        old_version: old.to_string(),
        new_version: new.to_string(),
        weight,
        why: why.to_string(),
        resume_command: resume_command.clone(),
        promote_command: promote_command.clone(),
        rollback_command: rollback_command.clone(),
    });
    Outcome::Paused {
        alias: alias.clone(),
        routing: Routing::shifted(old, new, weight),
        already,
        why: why.to_string(),
        resume_command,
        promote_command,
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
            Outcome::Deployed { alias, version, took, pruned: p, by_hand } => write!(
                f,
                "Deployed {} to alias {alias} in {}: it routes 100% to {}{}{}",
                short_version(version),
                human(*took),
                short_version(version),
                if *by_hand { " (promoted by hand with sfndeploy promote during the deploy)" } else { "" },
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
            Outcome::Paused {
                alias,
                routing,
                already,
                why,
                resume_command,
                promote_command,
                rollback_command,
            } => {
                write!(
                    f,
                    "Paused{}: alias {alias} routes {routing}, {why}. To continue: {resume_command}\n\
                     To promote now: {promote_command}\nTo roll back: {rollback_command}",
                    if *already { " already" } else { "" }
                )
            }
            Outcome::DryRun { summary } => f.write_str(summary),
            Outcome::WaveDone { alias, version, on_new: true, .. } => {
                write!(f, "alias {alias} routes 100% to {}", short_version(version))
            }
            Outcome::WaveDone { alias, version, on_new: false, .. } => {
                write!(f, "alias {alias} not moved yet ({} waits for its wave)", short_version(version))
            }
            Outcome::Release { alias, members } => release(f, alias, members),
        }
    }
}

/// A release: paused as one, or each member's outcome on a line of its own.
fn release(f: &mut fmt::Formatter<'_>, alias: &str, members: &[(String, Outcome)]) -> fmt::Result {
    let paused = members.iter().find_map(|(_, o)| match o {
        Outcome::Paused { why, resume_command, promote_command, rollback_command, .. } => {
            Some((why, resume_command, promote_command, rollback_command))
        }
        _ => None,
    });
    if let Some((why, resume, promote, rollback)) = paused {
        let each: Vec<String> = members
            .iter()
            .map(|(m, o)| match o {
                Outcome::Paused { routing, .. } => format!("{m} {routing}"),
                other => format!("{m}: {other}"),
            })
            .collect();
        return write!(
            f,
            "Paused: alias {alias} routes {}, {why}. To continue: {resume}\nTo promote now: {promote}\n\
             To roll back: {rollback}",
            each.join("; ")
        );
    }
    if let Some((_, Outcome::WaveDone { wave, waves, resume_command, .. })) =
        members.iter().find(|(_, o)| matches!(o, Outcome::WaveDone { .. }))
    {
        write!(
            f,
            "Wave {wave} of {waves} is done and baked; the release stops here, as --stop-after-wave asked:"
        )?;
        for (member, outcome) in members {
            write!(f, "\n  {member}: {outcome}")?;
        }
        return write!(f, "\nTo go on with wave {}: {resume_command}", wave + 1);
    }
    write!(f, "Released {} state machines to alias {alias}:", members.len())?;
    for (member, outcome) in members {
        write!(f, "\n  {member}: {outcome}")?;
    }
    Ok(())
}
