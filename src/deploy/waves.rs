//! A release in waves, as the deploy sees it: which waves are watched from the start, the targets
//! of earlier waves that a resumed run finds on their new versions (moved by this release, so
//! watched and rolled back with it), each wave's alarms for the executor, and how a run that
//! stops after a wave (`--stop-after-wave`) ends.

use super::executor::WavePlan;
use super::member::Member;
use super::outcome::Outcome;
use crate::arn::{short_version, version_arn};
use crate::command_line;
use crate::config::{DeployConfig, Waves};
use crate::gates::alarms::{AlarmChecker, qualified};
use crate::label::Label;
use crate::note::Record;
use crate::plan::{Decision, Shift};

/// `--allow-firing`, each name in each target of a release in waves (`errors@us-east-1:1111...`).
pub fn allowed_names<'p>(
    cfg: &DeployConfig,
    places: impl Iterator<Item = &'p Option<String>>,
) -> Vec<String> {
    if cfg.waves.is_none() {
        return cfg.allow_firing.clone();
    }
    places.flatten().flat_map(|p| cfg.allow_firing.iter().map(move |n| qualified(n, p))).collect()
}

/// The first wave with traffic to move (a member below 100% on its new version); 0 if none.
pub fn first_moving(members: &[Member<'_>]) -> usize {
    members
        .iter()
        .filter(|m| m.shift().is_some_and(|s| s.from_weight < 100))
        .map(|m| m.wave)
        .min()
        .unwrap_or(0)
}

/// How many waves are watched from the start: those already moved (an earlier run's), and the
/// first to move if it is the first wave or has traffic already (a resumed run). A wave that has
/// not started has its alarms read as its blockers when it is about to.
pub fn watched_from_start(members: &[Member<'_>]) -> usize {
    let first = first_moving(members);
    let moved = members.iter().any(|m| m.wave == first && m.shift().is_some_and(|s| s.from_weight > 0));
    if first == 0 || moved { first + 1 } else { first }
}

/// The targets whose alarms are watched from the start (see [`watched_from_start`]).
pub fn watched_first(members: &[Member<'_>], targets: &[super::targets::Target]) -> Vec<String> {
    let watched = watched_from_start(members);
    targets.iter().filter(|t| t.wave < watched).filter_map(|t| t.place.clone()).collect()
}

/// `--resume` of a release in waves: a target of an earlier wave whose alias routes 100% to the
/// version this release deploys, with sfndeploy's record of the version before, was moved by
/// this release (in an earlier job): it is watched again, and rolled back with the rest. Only
/// while some target still has traffic to move.
pub fn resumed(members: &mut [Member<'_>], cfg: &DeployConfig) {
    if cfg.waves.is_none() || !cfg.plan.options.resume {
        return;
    }
    if !members.iter().any(|m| m.shift().is_some_and(|s| s.from_weight < 100)) {
        return;
    }
    let first = first_moving(members);
    for member in members.iter_mut().filter(|m| m.wave < first) {
        let Decision::NothingToDo { version } = &member.decision else { continue };
        let description = member.checked.alias.as_ref().map(|a| a.description.as_str()).unwrap_or_default();
        let Some(record) = Record::parse(description).filter(|r| r.live == short_version(version)) else {
            continue;
        };
        let Some(before) = record.before.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        member.decision = Decision::Shift(Shift {
            old: version_arn(member.state_machine_arn(), before),
            from_weight: 100,
            steps: Vec::new(),
            pauses: false,
            resumed: true,
        });
    }
}

/// What the executor needs of the waves, for the members that shift (`shifting`, as its lanes, of
/// `all`), and the alarms it watches from the start.
pub fn plan(
    all: &[Member<'_>],
    shifting: &[&Member<'_>],
    waves: &Waves,
    cfg: &DeployConfig,
) -> (WavePlan, AlarmChecker) {
    let names = &cfg.alarms;
    let count = waves.waves.len();
    // Each wave's targets, once each (a target holds every state machine), with its watch client.
    let mut each: Vec<Vec<&Member<'_>>> = vec![Vec::new(); count];
    for member in shifting {
        if !each[member.wave].iter().any(|m| m.place == member.place) {
            each[member.wave].push(member);
        }
    }
    let places: Vec<Vec<String>> =
        each.iter().map(|members| members.iter().filter_map(|m| m.place.clone()).collect()).collect();
    let alarms: Vec<AlarmChecker> = each
        .iter()
        .map(|members| {
            AlarmChecker::each(
                members.iter().map(|m| (&m.clients.watch.cloudwatch, m.place.as_deref())),
                names,
            )
        })
        .collect();
    let watched = watched_from_start(all).min(count);
    let from_start = alarms[..watched].iter().cloned().fold(AlarmChecker::default(), AlarmChecker::join);
    let started = shifting.iter().map(|m| m.shift().map(|s| m.started_event(s, cfg))).collect();
    let plan = WavePlan {
        wave_of: shifting.iter().map(|m| m.wave).collect(),
        started,
        resume_command: resume_command(shifting, cfg),
        alarms,
        places,
        watched,
        settings: waves.clone(),
    };
    (plan, from_start)
}

/// The command that goes on with the release: the same, with `--resume`.
pub fn resume_command(shifting: &[&Member<'_>], cfg: &DeployConfig) -> String {
    let sm = shifting.first().map_or("", |m| m.config.state_machine.as_str());
    command_line::resume(&cfg.invocation.argv, sm, &cfg.alias, &cfg.invocation.flags)
}

/// A run that stopped after a wave (`--stop-after-wave`): which wave, which members are on their
/// new versions, and the command that goes on with the next wave.
pub struct WaveDone {
    pub wave: usize,
    pub on_new: Vec<(Label, bool)>,
    pub resume_command: String,
}

/// How `member` ends when the run stopped after a wave: on its new version if its wave has
/// moved, else as it was.
pub fn wave_done(member: &Member<'_>, cfg: &DeployConfig, done: &WaveDone) -> Outcome {
    let on_new = done.on_new.iter().any(|(label, on)| *on && *label == member.label);
    Outcome::WaveDone {
        wave: done.wave,
        waves: cfg.waves.as_ref().map_or(1, |w| w.waves.len()),
        alias: cfg.alias.clone(),
        version: member.version().to_string(),
        on_new,
        resume_command: done.resume_command.clone(),
    }
}
