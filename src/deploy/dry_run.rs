//! `--dry-run`: every check a real run makes, then what it would do, printed; nothing changes.

use anyhow::Result;

use super::member::Member;
use super::outcome::Outcome;
use crate::arn::short_version;
use crate::config::DeployConfig;
use crate::plan::{Decision, Shift, Target};
use crate::report::Event;
use crate::report::text::short_versions;
use crate::routing::Routing;
use crate::strategy::{self, Step};
use crate::text::{human, quoted_names};

/// Each member's plan, as one outcome: `Dry run, nothing changed: ...` (for a release, one
/// clause per member, each named).
pub async fn dry_run(members: &[Member<'_>], cfg: &DeployConfig) -> Result<Outcome> {
    let mut clauses = Vec::new();
    for member in members {
        clauses.push(member.label.prefix(plan_one(member, cfg).await?));
    }
    let mut summary = match &cfg.waves {
        None => format!("Dry run, nothing changed: {}", clauses.join("; ")),
        Some(waves) => {
            // Wave by wave, each with its targets, and the bake between.
            let mut text = String::from("Dry run, nothing changed:");
            let first = super::waves::first_moving(members);
            for (w, places) in waves.waves.iter().enumerate() {
                let mine: Vec<&String> =
                    members.iter().zip(&clauses).filter(|(m, _)| m.wave == w).map(|(_, c)| c).collect();
                let names: Vec<String> = places.iter().map(ToString::to_string).collect();
                text.push_str(&format!(
                    "\n  wave {} of {} ({}):",
                    w + 1,
                    waves.waves.len(),
                    names.join(", ")
                ));
                for clause in mine {
                    text.push_str(&format!("\n    {clause}"));
                }
                // A bake follows a wave that moves, when a later one has traffic to move.
                let later =
                    members.iter().any(|m| m.wave > w && m.shift().is_some_and(|s| s.from_weight < 100));
                if later && w >= first {
                    text.push_str(&format!(
                        "\n    then bake {} watching every target moved so far",
                        human(waves.bake)
                    ));
                    if waves.stop_after == Some(w + 1) {
                        text.push_str(&format!(", and stop (--stop-after-wave {})", w + 1));
                    }
                }
            }
            text
        }
    };
    match (cfg.alarms.is_empty(), &cfg.waves) {
        (true, _) => {}
        (false, None) => summary.push_str(&format!("; watching {}", quoted_names(&cfg.alarms))),
        (false, Some(waves)) => summary.push_str(&format!(
            "\n  watching {} in each target (a wave's, read before it starts, are its blockers{})",
            quoted_names(&cfg.alarms),
            if waves.blocker_wait.is_zero() {
                String::new()
            } else {
                format!(", waited for up to {}", human(waves.blocker_wait))
            }
        )),
    }
    Ok(Outcome::DryRun { summary })
}

/// One member's plan: what it would do, and what pruning would delete.
async fn plan_one(member: &Member<'_>, cfg: &DeployConfig) -> Result<String> {
    let checked = &member.checked;
    let new = match &checked.target {
        Target::Known(v) => Some(v.clone()),
        Target::ToPublish => None,
    };
    let decision = &member.decision;
    if let Decision::Refuse(refusal) = decision {
        return Err(member.refusal(refusal, cfg));
    }
    let (old, steps, action) = would(decision, new.as_deref(), cfg);
    let keep = usize::from(cfg.versions.history_max);
    let would_prune = if keep > 0 && !matches!(decision, Decision::Shift(Shift { pauses: true, .. })) {
        // A version to be published takes one of the kept places.
        let protect: Vec<&str> = old.iter().chain(new.iter()).map(String::as_str).collect();
        checked.versions.prune_candidates(keep - usize::from(new.is_none()), &protect).await?
    } else {
        Vec::new()
    };
    let mut summary = action.clone();
    if !would_prune.is_empty() {
        summary.push_str(&format!("; would prune {}", short_versions(&would_prune)));
    }
    member.reporter.emit(Event::Planned {
        state_machine: member.state_machine_arn().to_string(),
        alias: cfg.alias.clone(),
        old_version: old,
        new_version: new,
        action,
        strategy: cfg.plan.strategy.name().to_string(),
        planned: strategy::total_hold(&steps),
        steps,
        alarms: cfg.alarms.clone(),
        would_prune,
    });
    Ok(summary)
}

/// What a decision would do: the old version, the steps, and one sentence.
fn would(decision: &Decision, new: Option<&str>, cfg: &DeployConfig) -> (Option<String>, Vec<Step>, String) {
    let alias = &cfg.alias;
    match decision {
        Decision::CreateAlias => {
            (None, Vec::new(), format!("would create alias {alias} at 100% on {}", version_label(new)))
        }
        Decision::NothingToDo { version } => (
            Some(version.clone()),
            Vec::new(),
            format!("nothing to do: alias {alias} already routes 100% to {}", short_version(version)),
        ),
        Decision::AlreadyPaused { old, new, weight } => (
            Some(old.clone()),
            Vec::new(),
            format!(
                "nothing to do: alias {alias} routes {}, at or past --pause-at",
                Routing::shifted(old, new, *weight)
            ),
        ),
        Decision::Shift(shift) => {
            (Some(shift.old.clone()), shift.steps.clone(), would_shift(shift, new, cfg))
        }
        Decision::Refuse(_) => unreachable!("refusals are errors"),
    }
}

/// What a shift would do, in one sentence.
fn would_shift(shift: &Shift, new: Option<&str>, cfg: &DeployConfig) -> String {
    if shift.from_weight == 100 {
        return format!(
            "alias {} is on {} already (from {}, an earlier wave of this release): would watch it again, and \
             roll it back with the rest",
            cfg.alias,
            version_label(new),
            short_version(&shift.old)
        );
    }
    let mut action = format!(
        "would {} alias {} from {} to {} with {}: {}; {} in all",
        if shift.from_weight > 0 { "resume shifting" } else { "shift" },
        cfg.alias,
        short_version(&shift.old),
        version_label(new),
        cfg.plan.strategy.name(),
        strategy::describe(&shift.steps),
        human(strategy::total_hold(&shift.steps))
    );
    if shift.from_weight > 0 {
        action.push_str(&format!(", going on from {}% now", shift.from_weight));
    }
    if let (true, Some(last)) = (shift.pauses, shift.steps.last()) {
        action.push_str(&format!(", then pause at {}% (--pause-at)", last.weight));
    }
    action
}

fn version_label(v: Option<&str>) -> String {
    v.map_or_else(|| "a newly published version".to_string(), short_version)
}
