//! `--dry-run`: every check a real run makes, then what it would do, printed; nothing changes.

use anyhow::Result;

use super::check::Part;
use super::{Deploy, Outcome};
use crate::arn::short_version;
use crate::plan::{Decision, Shift, Target};
use crate::report::Event;
use crate::report::text::short_versions;
use crate::routing::Routing;
use crate::strategy::{self, Step};
use crate::text::{human, percents, quoted_names};

impl Deploy<'_> {
    /// Each member's plan, as one outcome: `Dry run, nothing changed: ...` (for a release, one
    /// clause per member, each named).
    pub(super) async fn dry_run(&self, parts: &[Part<'_>], decisions: &[Decision]) -> Result<Outcome> {
        let mut clauses = Vec::new();
        for (part, decision) in parts.iter().zip(decisions) {
            let clause = self.dry_run_one(part, decision).await?;
            clauses.push(if parts.len() > 1 { format!("{}: {clause}", part.label) } else { clause });
        }
        let mut summary = format!("Dry run, nothing changed: {}", clauses.join("; "));
        if !self.cfg.alarms.is_empty() {
            summary.push_str(&format!("; watching {}", quoted_names(&self.cfg.alarms)));
        }
        Ok(Outcome::DryRun { summary })
    }

    /// One member's plan: what it would do, and what pruning would delete.
    async fn dry_run_one(&self, part: &Part<'_>, decision: &Decision) -> Result<String> {
        let cfg = self.cfg;
        let checked = &part.checked;
        let new = match &checked.target {
            Target::Known(v) => Some(v.clone()),
            Target::ToPublish => None,
        };
        if let Decision::Refuse(refusal) = decision {
            return Err(self.refusal(refusal, part));
        }
        let (old, steps, action) = self.would(decision, new.as_deref());
        let would_prune =
            if cfg.history_max > 0 && !matches!(decision, Decision::Shift(Shift { pauses: true, .. })) {
                // A version to be published takes one of the kept places.
                let keep = usize::from(cfg.history_max) - usize::from(new.is_none());
                let protect: Vec<&str> = old.iter().chain(new.iter()).map(String::as_str).collect();
                checked.versions.prune_candidates(keep, &protect).await?
            } else {
                Vec::new()
            };
        let mut summary = action.clone();
        if !would_prune.is_empty() {
            summary.push_str(&format!("; would prune {}", short_versions(&would_prune)));
        }
        part.reporter.emit(Event::Planned {
            state_machine: checked.versions.state_machine_arn.clone(),
            alias: cfg.alias.clone(),
            old_version: old,
            new_version: new,
            action,
            strategy: cfg.strategy.name().to_string(),
            planned: strategy::total_hold(&steps),
            steps,
            alarms: cfg.alarms.clone(),
            would_prune,
        });
        Ok(summary)
    }

    /// What a decision would do: the old version, the steps, and one sentence.
    fn would(&self, decision: &Decision, new: Option<&str>) -> (Option<String>, Vec<Step>, String) {
        let cfg = self.cfg;
        match decision {
            Decision::CreateAlias => (
                None,
                Vec::new(),
                format!("would create alias {} at 100% on {}", cfg.alias, version_label(new)),
            ),
            Decision::NothingToDo { version } => (
                Some(version.clone()),
                Vec::new(),
                format!(
                    "nothing to do: alias {} already routes 100% to {}",
                    cfg.alias,
                    short_version(version)
                ),
            ),
            Decision::AlreadyPaused { old, new, weight } => (
                Some(old.clone()),
                Vec::new(),
                format!(
                    "nothing to do: alias {} routes {}, at or past --pause-at",
                    cfg.alias,
                    Routing::shifted(old, new, *weight)
                ),
            ),
            Decision::Shift(shift) => {
                let mut action = format!(
                    "would {} alias {} from {} to {} with {}: {}; {} in all",
                    if shift.from_weight > 0 { "resume shifting" } else { "shift" },
                    cfg.alias,
                    short_version(&shift.old),
                    version_label(new),
                    cfg.strategy.name(),
                    describe_steps(&shift.steps),
                    human(strategy::total_hold(&shift.steps))
                );
                if shift.from_weight > 0 {
                    action.push_str(&format!(", going on from {}% now", shift.from_weight));
                }
                if let (true, Some(last)) = (shift.pauses, shift.steps.last()) {
                    action.push_str(&format!(", then pause at {}% (--pause-at)", last.weight));
                }
                (Some(shift.old.clone()), shift.steps.clone(), action)
            }
            Decision::Refuse(_) => unreachable!("refusals are errors"),
        }
    }
}

/// `10% → 100%, holding 5m after each` or `5% (1m) → 50% (10m) → 100% (1m)`.
fn describe_steps(plan: &[Step]) -> String {
    let uniform = plan.windows(2).all(|w| w[0].hold == w[1].hold);
    match plan.first() {
        Some(first) if uniform => {
            format!("{}, holding {} after each", percents(plan.iter().map(|s| s.weight)), human(first.hold))
        }
        _ => {
            plan.iter().map(|s| format!("{}% ({})", s.weight, human(s.hold))).collect::<Vec<_>>().join(" → ")
        }
    }
}

fn version_label(v: Option<&str>) -> String {
    v.map_or_else(|| "a newly published version".to_string(), short_version)
}
