//! Where a deploy goes: the run's own region, or each target of each wave (`--wave`), with the
//! clients that reach it (its region, its account through an assumed role) and its account. Each
//! target is reached before anything changes anywhere: a role that cannot be assumed, or a region
//! that cannot be reached, stops the run while nothing has moved.

use anyhow::Result;

use crate::aws::{Clients, Reached};
use crate::config::DeployConfig;
use crate::exit_code::Failure;
use crate::gates::alarms::AlarmChecker;
use crate::pacer::Pacer;

/// One place a deploy goes.
pub struct Target {
    /// Its wave (0 without waves).
    pub wave: usize,
    /// In a release in waves, its name: `us-east-1:111111111111` (region and account).
    pub place: Option<String>,
    pub clients: Clients,
    /// Paces its pruning (`--prune-rate`): the account's and region's bucket of deletions, its own.
    pub prune: Pacer,
}

/// The run's own region, or every target of every wave, reached and checked at once.
pub async fn connect(cfg: &DeployConfig, clients: &Clients) -> Result<Vec<Target>> {
    let waves = cfg.waves.as_ref().map_or(&[][..], |w| &w.waves[..]);
    let targets: Vec<Target> = clients
        .targets(waves)
        .await?
        .into_iter()
        .map(|Reached { wave, place, clients }| {
            // The run's own region has the run's bucket; each target, its account's and region's.
            let prune = match place {
                Some(_) => Pacer::new(cfg.versions.prune.pacing()),
                None => cfg.versions.prune.clone(),
            };
            Target { wave, place, clients, prune }
        })
        .collect();
    // Two targets may name one place (a role of the run's own account): it is deployed once.
    for (i, t) in targets.iter().enumerate() {
        if let Some(twice) = targets[..i].iter().find(|o| o.place == t.place) {
            return Err(Failure::usage(format!(
                "two wave targets are the same region of the same account ({}), in waves {} and {}: each is \
                 deployed once in a release; nothing was changed",
                t.place.as_deref().unwrap_or_default(),
                twice.wave + 1,
                t.wave + 1,
            )));
        }
    }
    Ok(targets)
}

/// The alarms `names` in each of `targets`, as one checker; in a release in waves each alarm is
/// named with its target.
pub fn alarms<'t>(targets: impl IntoIterator<Item = &'t Target>, names: &[String]) -> AlarmChecker {
    AlarmChecker::each(targets.into_iter().map(|t| (&t.clients.cloudwatch, t.place.as_deref())), names)
}
