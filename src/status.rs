//! `sfndeploy status`: what the alias serves, the newest versions, and the alarms' states, read
//! into a [`StatusReport`] (rendered by `report::text` and `report::json`). Read-only.

use std::time::{Duration, SystemTime};

use anyhow::Result;

use crate::alias::AliasInfo;
use crate::arn::StateMachineRef;
use crate::arn::short_version;
use crate::aws::AwsFlags;
use crate::aws::Clients;
use crate::command_line;
use crate::config::StatusConfig;
use crate::gates::alarms::{AlarmChecker, AlarmReport};
use crate::note::Marker;
use crate::plan::{self, Decision, Target};
use crate::routing::Routing;
use crate::versions::VersionManager;

/// What `status` shows, read.
#[derive(Debug)]
pub struct StatusReport {
    pub state_machine: String,
    pub alias: String,
    /// None when the alias does not exist.
    pub routing: Option<Routing>,
    /// A deploy that left the alias split, explained.
    pub deploy: Option<InFlight>,
    pub versions_total: usize,
    /// The newest versions, newest first.
    pub versions: Vec<VersionRow>,
    /// With `--alarms`: their states.
    pub alarms: Option<AlarmReport>,
    /// With `--wave`: which wave of how many.
    pub wave: Option<(usize, usize)>,
}

impl StatusReport {
    /// The state machine's region and account, from its ARN.
    pub fn region_account(&self) -> (&str, &str) {
        let mut parts = self.state_machine.split(':').skip(3);
        (parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
    }
}

/// One version as `status` lists it.
#[derive(Debug)]
pub struct VersionRow {
    pub arn: String,
    pub created: String,
    pub description: String,
    /// `prod 100%`: the aliases that route to it.
    pub aliases: Vec<String>,
}

/// Reads what `status` shows of each state machine `cfg` names; with `--wave`, in each target,
/// wave by wave.
pub async fn read_all(clients: &Clients, cfg: &StatusConfig) -> Result<Vec<StatusReport>> {
    let mut reports = Vec::new();
    for target in clients.targets(&cfg.waves).await? {
        for state_machine in &cfg.state_machines {
            let read = read(&target.clients, cfg, state_machine).await;
            let mut report = match &target.place {
                Some(place) => read.map_err(|e| e.context(format!("wave target {place}")))?,
                None => read?,
            };
            report.wave = target.place.is_some().then_some((target.wave + 1, cfg.waves.len()));
            reports.push(report);
        }
    }
    Ok(reports)
}

/// Reads what `status` shows of one state machine.
pub async fn read(
    clients: &Clients,
    cfg: &StatusConfig,
    state_machine: &StateMachineRef,
) -> Result<StatusReport> {
    let StatusConfig { alias: alias_name, alarms: alarm_names, flags, .. } = cfg;
    let versions = VersionManager::resolve(clients, state_machine).await?;
    versions.describe().await?;
    let checker = AlarmChecker::new(&clients.cloudwatch, alarm_names);
    let read_alarms = async { if checker.is_empty() { Ok(None) } else { checker.read().await.map(Some) } };
    let (all, alarms, aliases) =
        tokio::try_join!(versions.all_versions(), read_alarms, versions.aliases_with_routing())?;
    // Every alias is read anyway (to show which versions they use): the named one is among them.
    let found = aliases.iter().find(|(name, _)| name == alias_name).map(|(_, alias)| alias);
    let deploy =
        found.and_then(|a| InFlight::of(a, clients.clock.now(), state_machine.as_str(), alias_name, flags));
    let mut shown = Vec::new();
    for arn in all.iter().take(cfg.versions) {
        let v = versions.describe_version(arn).await?;
        let aliases = aliases
            .iter()
            .filter(|(_, alias)| alias.routing.weight_of(arn) > 0)
            .map(|(name, alias)| format!("{name} {}%", alias.routing.weight_of(arn)))
            .collect();
        shown.push(VersionRow { arn: arn.clone(), created: v.created, description: v.description, aliases });
    }
    Ok(StatusReport {
        state_machine: versions.state_machine_arn.clone(),
        alias: alias_name.clone(),
        routing: found.map(|a| a.routing.clone()),
        deploy,
        versions_total: all.len(),
        versions: shown,
        alarms,
        wave: None,
    })
}

/// A deploy whose next step is overdue by more than this is taken as interrupted: gates may hold
/// a step a little past its time (a slow or failed alarm read), a stopped process holds it for
/// ever.
const OVERDUE: Duration = Duration::from_secs(5 * 60);

/// Where a deploy that left the alias split stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployState {
    /// Its hold is running (or only just overdue).
    InProgress,
    /// Stopped at `--pause-at`, on purpose.
    Paused,
    /// Its next step is long overdue: the process was stopped (a killed CI runner).
    Interrupted,
    /// Split without a marker of ours: by hand, by another tool, or by an older sfndeploy.
    Unknown,
}

impl DeployState {
    pub fn name(self) -> &'static str {
        match self {
            DeployState::InProgress => "in_progress",
            DeployState::Paused => "paused",
            DeployState::Interrupted => "interrupted",
            DeployState::Unknown => "unknown",
        }
    }
}

/// A split alias, explained: which deploy, where it stands, and the commands that resolve it.
#[derive(Debug)]
pub struct InFlight {
    pub state: DeployState,
    pub old: String,
    pub new: String,
    pub weight: u8,
    pub due: Option<SystemTime>,
    pub resume_command: String,
    pub rollback_command: String,
}

impl InFlight {
    /// None when the alias is on one version.
    fn of(alias: &AliasInfo, now: SystemTime, sm: &str, alias_name: &str, flags: &AwsFlags) -> Option<Self> {
        let routing = &alias.routing;
        if routing.full_version().is_some() {
            return None;
        }
        let marker = Marker::parse(&alias.description);
        // The version being deployed: as the marker says, else the newer one (deploys go forward).
        let new = marker
            .as_ref()
            .and_then(|m| routing.live().into_iter().find(|(a, _)| short_version(a) == m.new_version))
            .map(|(a, _)| a)
            .or_else(|| routing.newest_live().map(str::to_string))?;
        let opts = plan::Options { resume: true, ..Default::default() };
        let Decision::Shift(shift) = plan::decide(Some(routing), &Target::Known(new.clone()), &[], opts)
        else {
            return None;
        };
        let state = match &marker {
            None => DeployState::Unknown,
            Some(m) if m.pausing && now >= m.due => DeployState::Paused,
            Some(m) if now <= m.due + OVERDUE => DeployState::InProgress,
            Some(_) => DeployState::Interrupted,
        };
        Some(InFlight {
            state,
            weight: shift.from_weight,
            due: marker.map(|m| m.due),
            resume_command: command_line::resume(&[], sm, alias_name, flags),
            rollback_command: command_line::rollback(sm, alias_name, &shift.old, flags),
            old: shift.old,
            new,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SM: &str = "arn:aws:states:us-east-1:1:stateMachine:orders";

    fn split(description: &str) -> AliasInfo {
        AliasInfo {
            arn: format!("{SM}:prod"),
            routing: Routing::shifted(&format!("{SM}:6"), &format!("{SM}:7"), 40),
            description: description.to_string(),
        }
    }

    #[test]
    fn a_split_alias_is_in_progress_paused_or_interrupted() {
        let due = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let marker = |pausing| {
            Marker { new_version: "v7".into(), weight: 40, pausing, due, release: None }.description(2, 3, "")
        };
        let minute = Duration::from_secs(60);
        let cases = [
            (marker(false), due - minute, DeployState::InProgress),
            (marker(false), due + minute, DeployState::InProgress),
            (marker(false), due + 10 * minute, DeployState::Interrupted),
            (marker(true), due - minute, DeployState::InProgress),
            (marker(true), due + 10 * minute, DeployState::Paused),
            ("orders".to_string(), due, DeployState::Unknown),
        ];
        for (description, now, expected) in cases {
            let f = InFlight::of(&split(&description), now, "orders", "prod", &AwsFlags::default())
                .expect("split");
            assert_eq!(f.state, expected, "{description} at {now:?}");
            assert_eq!((short_version(&f.new).as_str(), f.weight), ("v7", 40));
            assert_eq!(
                f.rollback_command,
                "sfndeploy rollback --state-machine orders --alias prod --to-version 6"
            );
            assert_eq!(f.resume_command, "sfndeploy --state-machine orders --alias prod --resume");
            let text = f.to_string();
            assert!(text.contains(&f.resume_command) && text.contains(&f.rollback_command));
        }
        let on_one = AliasInfo { routing: Routing::single(&format!("{SM}:7")), ..split("") };
        assert!(InFlight::of(&on_one, due, "orders", "prod", &AwsFlags::default()).is_none());
    }
}
