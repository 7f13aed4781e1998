//! Where a deploy goes: the run's own region, or each target of each wave (`--wave`), with the
//! clients that reach it (its region, its account through an assumed role) and its account. Each
//! target is reached before anything changes anywhere: a role that cannot be assumed, or a region
//! that cannot be reached, stops the run while nothing has moved.

use anyhow::Result;
use futures_util::future::join_all;

use crate::aws::Clients;
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
    let Some(waves) = &cfg.waves else {
        return Ok(vec![Target {
            wave: 0,
            place: None,
            clients: clients.clone(),
            prune: cfg.versions.prune.clone(),
        }]);
    };
    let reached = join_all(waves.places().map(|(wave, place)| async move {
        let clients = clients.at(place);
        let account = clients.account_at(place).await?;
        let prune = Pacer::new(cfg.versions.prune.pacing());
        Ok(Target { wave, place: Some(format!("{}:{account}", place.region)), clients, prune })
    }))
    .await;
    let targets: Vec<Target> = reached.into_iter().collect::<Result<_>>()?;
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

/// The alarms `names` in each of `targets` (read with their watch clients when `watch`), as one
/// checker; in a release in waves each alarm is named with its target.
pub fn alarms<'t>(
    targets: impl IntoIterator<Item = &'t Target>,
    names: &[String],
    watch: bool,
) -> AlarmChecker {
    targets.into_iter().fold(AlarmChecker::default(), |all, t| {
        let cloudwatch = if watch { &t.clients.watch.cloudwatch } else { &t.clients.cloudwatch };
        let one = match &t.place {
            Some(place) => AlarmChecker::at(cloudwatch, names, place),
            None => AlarmChecker::new(cloudwatch, names),
        };
        all.join(one)
    })
}
