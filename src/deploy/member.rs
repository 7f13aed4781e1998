//! One state machine of a deploy (a member of a release) as one value, from the checks to the
//! end: what the read-only checks learned, the planner's decision, the version to deploy, and
//! what this run did to it. The engine iterates members; nothing about one member is kept in a
//! list of its own beside the others.

use std::time::{Duration, SystemTime};

use aws_sdk_sfn::types::StateMachineType;
use tokio::time::Instant;

use super::lane::Lane;
use super::targets::Target;
use crate::alias::{AliasHandle, AliasInfo};
use crate::arn::short_version;
use crate::aws::Clients;
use crate::command_line;
use crate::config::{DeployConfig, MemberConfig};
use crate::exit_code::{ExitCode, Failure};
use crate::gates::{self, ExecutionGate, Gate, MetricsGate};
use crate::label::Label;
use crate::plan::{self, Decision, Refusal, Shift};
use crate::report::{Event, Reporter};
use crate::routing::Routing;
use crate::strategy;
use crate::versions::{StateMachineInfo, VersionManager};

/// Everything learned by the read-only checks of one state machine.
pub struct Checked {
    pub versions: VersionManager,
    pub info: StateMachineInfo,
    /// None when the alias does not exist.
    pub alias: Option<AliasInfo>,
    /// The version to deploy, as far as it is known before any change.
    pub target: plan::Target,
    pub alias_read_at: Instant,
    /// The version the alias serves most and its definition, and the definition to deploy,
    /// when they could be read: for the review before any change.
    pub definitions: Option<Definitions>,
    /// `--file`, its substitutions made: what is uploaded.
    pub file: Option<crate::config::DefinitionFile>,
}

/// The old and new definitions of a member.
pub struct Definitions {
    /// The version the alias serves most and its definition (none for a new alias).
    pub old: Option<(String, String)>,
    pub new: String,
}

/// One state machine of the deploy, as the deploy goes.
pub struct Member<'c> {
    /// As configured: the state machine as named, and its definition file.
    pub config: &'c MemberConfig,
    /// How what is said of it names it.
    pub label: Label,
    /// Events about this state machine.
    pub reporter: Reporter,
    /// The clients that reach it.
    pub clients: &'c Clients,
    /// Its wave (0 without waves).
    pub wave: usize,
    /// In a release in waves, its target: `us-east-1:111111111111`.
    pub place: Option<String>,
    /// Paces its pruning: its target's (every member's of the run's own region share one).
    pub prune: crate::pacer::Pacer,
    pub checked: Checked,
    /// The planner's decision: from what the checks read, then again once the version is known.
    pub decision: Decision,
    /// The version to deploy, once known (published, or found).
    pub version: Option<String>,
    /// When its smoke executions started (AWS's time).
    pub smoke_starts: Vec<SystemTime>,
    /// This run made its file the current revision: what goes back when the deploy ends with
    /// this member's alias on its old version.
    pub back_to: Option<BackTo>,
}

/// The definition a member's file replaced as the current revision.
#[derive(Clone, Debug)]
pub enum BackTo {
    /// The definition of the version the alias served (the version's ARN).
    Version(String),
    /// The state machine had no alias yet: its revision before this run (its definition).
    Revision(String),
}

impl<'c> Member<'c> {
    pub fn new(config: &'c MemberConfig, target: &'c Target, reporter: Reporter, checked: Checked) -> Self {
        let label = reporter.label().clone();
        Member {
            config,
            label,
            reporter,
            clients: &target.clients,
            wave: target.wave,
            place: target.place.clone(),
            prune: target.prune.clone(),
            checked,
            decision: Decision::CreateAlias,
            version: None,
            smoke_starts: Vec::new(),
            back_to: None,
        }
    }

    /// The alias's routing as the checks read it; None when it does not exist.
    pub fn routing(&self) -> Option<&Routing> {
        self.checked.alias.as_ref().map(|a| &a.routing)
    }

    pub fn state_machine_arn(&self) -> &str {
        &self.checked.versions.state_machine_arn
    }

    /// The alias's ARN (built from the state machine's when the alias does not exist yet).
    pub fn alias_arn(&self, alias: &str) -> String {
        match &self.checked.alias {
            Some(found) => found.arn.clone(),
            None => format!("{}:{alias}", self.state_machine_arn()),
        }
    }

    /// The version to deploy, once known.
    pub fn version(&self) -> &str {
        self.version.as_deref().expect("the version is known once published")
    }

    /// Decides what to do: with the target the checks found, or once the version is known.
    pub fn decide(&mut self, cfg: &DeployConfig) {
        let target = match &self.version {
            Some(version) => plan::Target::Known(version.clone()),
            None => self.checked.target.clone(),
        };
        self.decision = plan::decide(self.routing(), &target, &cfg.plan.steps, cfg.plan.options);
        // `--resume` of a release in waves: a target whose wave has not started yet is on its
        // old version, or has no alias yet; it starts afresh when its wave comes.
        if cfg.waves.is_some()
            && let Decision::Refuse(Refusal::ResumeNotInProgress { .. } | Refusal::ResumeNoAlias) =
                self.decision
        {
            let fresh = plan::Options { resume: false, ..cfg.plan.options };
            self.decision = plan::decide(self.routing(), &target, &cfg.plan.steps, fresh);
        }
    }

    /// The shift decided, if the decision is to move traffic.
    pub fn shift(&self) -> Option<&Shift> {
        match &self.decision {
            Decision::Shift(shift) => Some(shift),
            _ => None,
        }
    }

    /// Whether this run uploads the member's file (and so makes it the current revision).
    pub fn uploads(&self, cfg: &DeployConfig) -> bool {
        self.config.file.is_some()
            && !(cfg.versions.publish_revision && matches!(self.checked.target, plan::Target::Known(_)))
    }

    /// The error for a refused deploy: the reason, and for a split alias the commands that
    /// resolve it.
    pub fn refusal(&self, refusal: &Refusal, cfg: &DeployConfig) -> anyhow::Error {
        let state_machine = self.config.state_machine.as_str();
        let (alias, invocation) = (&cfg.alias, &cfg.invocation);
        let arn = self.checked.alias.as_ref().map_or(alias.as_str(), |a| a.arn.as_str());
        let mut message = format!("alias {arn}: {refusal}");
        if let Refusal::Split { routing }
        | Refusal::ResumeOtherVersion { routing, .. }
        | Refusal::ThreeWay { routing } = refusal
            && let Some(oldest) = routing.oldest_live().map(str::to_string)
        {
            if matches!(refusal, Refusal::Split { .. }) {
                message.push_str(&format!(
                    ". To continue the deploy: {}",
                    command_line::resume(&invocation.argv, state_machine, alias, &invocation.flags)
                ));
            }
            message.push_str(&format!(
                ". To route all traffic back to {}: {}",
                short_version(&oldest),
                command_line::rollback(state_machine, alias, &oldest, &invocation.flags)
            ));
        }
        Failure::err(ExitCode::Failure, message)
    }

    /// Says this member's shift begins.
    pub fn started(&self, shift: &Shift, cfg: &DeployConfig) {
        self.reporter.emit(self.started_event(shift, cfg));
    }

    /// What [`Member::started`] says (in waves, said when the member's wave starts).
    pub fn started_event(&self, shift: &Shift, cfg: &DeployConfig) -> Event {
        Event::Started {
            state_machine: self.state_machine_arn().to_string(),
            alias: cfg.alias.clone(),
            old_version: Some(shift.old.clone()),
            new_version: self.version().to_string(),
            strategy: cfg.plan.strategy.name().to_string(),
            steps: shift.steps.clone(),
            planned: strategy::total_hold(&shift.steps),
            from_weight: shift.from_weight,
        }
    }

    /// This member's alias as the executor moves it, with its health gates.
    pub async fn lane(&self, shift: &Shift, cfg: &DeployConfig) -> (Lane, Option<Gate>) {
        let Some(found) = &self.checked.alias else {
            unreachable!("the planner shifts only an alias that exists")
        };
        let clients = self.clients;
        let handle = AliasHandle::new(&clients.sfn, &clients.changes, found, self.checked.alias_read_at)
            .deploying(self.version());
        let versions = (shift.old.as_str(), self.version());
        let lane = Lane::new(handle, versions, &self.reporter, &clients.aws_cli);
        (lane, self.gate(&found.arn, versions, cfg).await)
    }

    /// The health gates, when any is on: by listing executions (STANDARD), or by metrics
    /// (EXPRESS). A STANDARD deploy first looks at who calls the state machine. The window
    /// begins now, AWS's time (a second early: `Date` headers have whole seconds).
    async fn gate(&self, alias_arn: &str, versions: (&str, &str), cfg: &DeployConfig) -> Option<Gate> {
        if !cfg.gates.any() {
            return None;
        }
        let (watch, clock) = (&self.clients.watch, &self.clients.clock);
        let sm_arn = self.state_machine_arn();
        let since = clock.now() - Duration::from_secs(1);
        if self.checked.info.kind == StateMachineType::Express {
            // The version's own runs before traffic (smoke runs, the pre-traffic hook) are in its
            // metrics too: the window starts past them.
            let ran_before = !self.smoke_starts.is_empty() || cfg.hooks.pre_traffic.is_some();
            let gate =
                MetricsGate::new(&watch.cloudwatch, clock, sm_arn, versions, cfg.gates, (since, ran_before));
            return Some(Gate::Metrics(Box::new(gate)));
        }
        match gates::recent_traffic(&watch.sfn, sm_arn, alias_arn).await {
            Ok((through_alias, other)) if other > through_alias => self
                .reporter
                .emit(Event::TrafficBypassesAlias { alias: cfg.alias.clone(), through_alias, other }),
            Ok(_) => {}
            Err(e) => tracing::warn!("could not look at the recent executions: {e:#}"),
        }
        let gate = ExecutionGate::new(&watch.sfn, clock, alias_arn, versions, cfg.gates, since);
        Some(Gate::Executions(Box::new(gate)))
    }

    /// What the file this run uploads replaces as the current revision: the old version's
    /// definition for a shift, the revision before this run for a new alias.
    pub fn replaced_definition(&self) -> Option<BackTo> {
        match &self.decision {
            Decision::Shift(shift) => Some(BackTo::Version(shift.old.clone())),
            Decision::CreateAlias => Some(BackTo::Revision(self.checked.info.definition.clone())),
            _ => None,
        }
    }
}
