//! One state machine of a deploy (a member of a release) as one value, from the checks to the
//! end: what the read-only checks learned, the planner's decision, the version to deploy, and
//! what this run did to it. The engine iterates members; nothing about one member is kept in a
//! list of its own beside the others.

use std::time::SystemTime;

use tokio::time::Instant;

use crate::alias::AliasInfo;
use crate::arn::short_version;
use crate::aws::Clients;
use crate::command_line;
use crate::config::{DeployConfig, MemberConfig};
use crate::exit_code::{ExitCode, Failure};
use crate::label::Label;
use crate::plan::{self, Decision, Refusal, Shift, Target};
use crate::report::Reporter;
use crate::routing::Routing;
use crate::versions::{StateMachineInfo, VersionManager};

/// Everything learned by the read-only checks of one state machine.
pub struct Checked {
    pub versions: VersionManager,
    pub info: StateMachineInfo,
    /// None when the alias does not exist.
    pub alias: Option<AliasInfo>,
    /// The version to deploy, as far as it is known before any change.
    pub target: Target,
    pub alias_read_at: Instant,
    /// The version the alias serves most and its definition, and the definition to deploy,
    /// when they could be read: for the review before any change.
    pub definitions: Option<Definitions>,
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
    pub checked: Checked,
    /// The planner's decision: from what the checks read, then again once the version is known.
    pub decision: Decision,
    /// The version to deploy, once known (published, or found).
    pub version: Option<String>,
    /// When its smoke executions started (AWS's time).
    pub smoke_starts: Vec<SystemTime>,
    /// This run made its file the current revision over this version's definition: put back
    /// when the deploy ends on the old version.
    pub back_to: Option<String>,
}

impl<'c> Member<'c> {
    pub fn new(config: &'c MemberConfig, clients: &'c Clients, reporter: Reporter, checked: Checked) -> Self {
        let label = reporter.label().clone();
        Member {
            config,
            label,
            reporter,
            clients,
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
            Some(version) => Target::Known(version.clone()),
            None => self.checked.target.clone(),
        };
        self.decision = plan::decide(self.routing(), &target, &cfg.plan.steps, cfg.plan.options);
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
            && !(cfg.versions.publish_revision && matches!(self.checked.target, Target::Known(_)))
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
}
