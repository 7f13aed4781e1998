//! The alias: finding it, reading and changing its routing, and guarding every change against
//! edits made by someone else since we last set it.

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::RoutingConfigurationListItem;
use tokio::time::Instant;

use crate::arn::last_segment;
use crate::aws::AwsResultExt;
use crate::exit_code::{ExitCode, Failure};
use crate::note::{Marker, own_text};
use crate::pacer::Pacer;
use crate::routing::Routing;

fn routing_from_sdk(items: &[RoutingConfigurationListItem]) -> Routing {
    Routing::from_entries(
        items
            .iter()
            .map(|i| (i.state_machine_version_arn().to_string(), i.weight().clamp(0, 100) as u8))
            .collect(),
    )
}

fn routing_to_sdk(routing: &Routing) -> Result<Vec<RoutingConfigurationListItem>> {
    routing
        .entries()
        .iter()
        .map(|(arn, weight)| {
            RoutingConfigurationListItem::builder()
                .state_machine_version_arn(arn)
                .weight(i32::from(*weight))
                .build()
                .context("building the alias routing")
        })
        .collect()
}

/// An alias of the state machine, as listed.
#[derive(Clone, Debug)]
pub struct AliasSummary {
    pub name: String,
    pub arn: String,
}

/// Every alias of the state machine, all pages.
pub async fn list_aliases(sfn: &Client, state_machine_arn: &str) -> Result<Vec<AliasSummary>> {
    let mut aliases = Vec::new();
    let mut token = None;
    loop {
        let page = sfn
            .list_state_machine_aliases()
            .state_machine_arn(state_machine_arn)
            .set_next_token(token)
            .send()
            .await
            .aws_context(|| format!("listing the aliases of {state_machine_arn}"))?;
        for item in page.state_machine_aliases() {
            let arn = item.state_machine_alias_arn().to_string();
            let name = last_segment(&arn).to_string();
            aliases.push(AliasSummary { name, arn });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(aliases);
        }
    }
}

/// An alias as read: its routing and its description (where sfndeploy keeps a [`Marker`]
/// while the alias is split).
#[derive(Clone, Debug)]
pub struct AliasInfo {
    pub arn: String,
    pub routing: Routing,
    pub description: String,
}

/// The current routing of an alias.
pub async fn read_routing(sfn: &Client, alias_arn: &str) -> Result<Routing> {
    Ok(read_alias(sfn, alias_arn).await?.routing)
}

/// The current routing and description of an alias.
pub async fn read_alias(sfn: &Client, alias_arn: &str) -> Result<AliasInfo> {
    let alias = sfn
        .describe_state_machine_alias()
        .state_machine_alias_arn(alias_arn)
        .send()
        .await
        .aws_context(|| format!("reading the routing of alias {alias_arn}"))?;
    Ok(AliasInfo {
        arn: alias_arn.to_string(),
        routing: routing_from_sdk(alias.routing_configuration()),
        description: alias.description().unwrap_or_default().to_string(),
    })
}

/// Finds the alias by name. Listing (rather than describing a guessed ARN) works the same on AWS
/// and on emulators that answer a missing alias differently.
pub async fn find_alias(sfn: &Client, state_machine_arn: &str, name: &str) -> Result<Option<AliasInfo>> {
    let aliases = list_aliases(sfn, state_machine_arn).await?;
    match aliases.into_iter().find(|a| a.name == name) {
        Some(alias) => Ok(Some(read_alias(sfn, &alias.arn).await?)),
        None => Ok(None),
    }
}

pub async fn create_alias(
    sfn: &Client,
    state_machine_arn: &str,
    name: &str,
    version_arn: &str,
) -> Result<String> {
    let routing = routing_to_sdk(&Routing::single(version_arn))?;
    let out = sfn
        .create_state_machine_alias()
        .name(name)
        .set_routing_configuration(Some(routing))
        .send()
        .await
        .aws_context(|| format!("creating alias {name} of {state_machine_arn}"))?;
    Ok(out.state_machine_alias_arn().to_string())
}

/// An alias being deployed. It remembers the routing it last set, and refuses to change an
/// alias that someone else has changed since.
#[derive(Debug)]
pub struct AliasHandle {
    sfn: Client,
    pacer: Pacer,
    pub arn: String,
    last_set: Routing,
    /// A routing we asked for without hearing back (the call failed): it may be in place.
    in_flight: Option<Routing>,
    /// When `last_set` was last read back or set.
    confirmed_at: Instant,
    /// The routing our last change replaced, and when: a read may still show it for a while.
    replaced: Option<(Routing, Instant)>,
    /// The description as found, with no deploy marker: what a rollback puts back.
    found_description: String,
    /// The description now, as far as we know.
    description: String,
    /// The version this run deploys: found alone at 100%, someone promoted it
    /// ([`PromotedByHand`]), which is not a conflict.
    promotable: Option<String>,
}

/// The alias was found 100% on the version being deployed, with sfndeploy's record: someone ran
/// `sfndeploy promote` during the deploy. Not a conflict: the deploy's own end, reached by hand.
#[derive(Debug)]
pub struct PromotedByHand {
    pub alias_arn: String,
    pub version: String,
}

impl std::fmt::Display for PromotedByHand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "alias {} was promoted to 100% {} by hand", self.alias_arn, self.version)
    }
}

impl std::error::Error for PromotedByHand {}

/// Whether `err` says the alias was promoted by hand.
pub fn promoted_by_hand(err: &anyhow::Error) -> bool {
    err.downcast_ref::<PromotedByHand>().is_some()
}

/// A routing read or set this recently is not read again before the next change: between
/// back-to-back changes (no hold between them) nothing new could be learned.
pub const GUARD_FRESH: Duration = Duration::from_secs(1);

/// How long after a change of ours a read of the alias may still show the routing it replaced:
/// `DescribeStateMachineAlias` is eventually consistent with `UpdateStateMachineAlias`.
pub const READ_LAG: Duration = Duration::from_secs(30);

impl AliasHandle {
    /// `found` is the alias as read at `read_at`.
    pub fn new(sfn: &Client, pacer: &Pacer, found: &AliasInfo, read_at: Instant) -> Self {
        let found_description = match Marker::parse(&found.description) {
            Some(_) => own_text(&found.description).to_string(),
            None => found.description.clone(),
        };
        AliasHandle {
            sfn: sfn.clone(),
            pacer: pacer.clone(),
            arn: found.arn.clone(),
            last_set: found.routing.clone(),
            in_flight: None,
            confirmed_at: read_at,
            replaced: None,
            found_description,
            description: found.description.clone(),
            promotable: None,
        }
    }

    /// This handle deploys `version`: found alone at 100%, it was promoted by hand.
    pub fn deploying(mut self, version: &str) -> Self {
        self.promotable = Some(version.to_string());
        self
    }

    /// The alias was found promoted by hand: it routes 100% to the version deployed.
    pub fn adopt_promotion(&mut self) {
        if let Some(version) = &self.promotable {
            self.last_set = Routing::single(version);
            self.in_flight = None;
            self.confirmed_at = Instant::now();
        }
    }

    /// One read of the alias during a hold, without waiting out a read that lags our own
    /// change: Err when someone else changed it (a `Conflict`, or [`PromotedByHand`]).
    pub async fn check(&mut self) -> Result<()> {
        self.read_ours(None, false).await.map(|_| ())
    }

    /// The alias's own text: its description without anything of sfndeploy's.
    pub fn own_text(&self) -> &str {
        own_text(&self.found_description)
    }

    /// The description as found, with no deploy marker: what a rollback puts back.
    pub fn found_description(&self) -> &str {
        &self.found_description
    }

    /// The routing as sfndeploy last set or read it.
    pub fn routing(&self) -> &Routing {
        &self.last_set
    }

    /// What the alias routes as far as we know: the last confirmed routing, and one we asked
    /// for without hearing back, if any.
    pub fn last_known(&self) -> String {
        match &self.in_flight {
            Some(pending) => format!("{} (or {}, if the last change went through)", self.last_set, pending),
            None => self.last_set.to_string(),
        }
    }

    /// Reads the alias and fails with a `Conflict` unless it routes what sfndeploy last set (or
    /// a change asked for without hearing back): before every change, and before success or a
    /// pause is declared.
    pub async fn confirm(&mut self) -> Result<Routing> {
        Ok(self.read_ours(None, true).await?.0)
    }

    /// Reads the alias: Ok when it routes what this run set (`last_set`, a change in flight, or
    /// `target`), with whether the read may be a late one. A read may lag our own change (alias
    /// updates are eventually consistent): within [`READ_LAG`] of it, one that still shows the
    /// routing it replaced is read again until it shows ours (`patient`), or, for a rollback,
    /// which goes back that way anyway, taken as it is. Anything else is someone else's change:
    /// a `Conflict`. Only a routing known to be ours counts as confirmed.
    async fn read_ours(&mut self, target: Option<&Routing>, patient: bool) -> Result<(Routing, bool)> {
        let mut wait = Duration::from_millis(500);
        loop {
            let read = read_routing(&self.sfn, &self.arn).await?;
            let ours = read.same_as(&self.last_set)
                || self.in_flight.as_ref().is_some_and(|r| read.same_as(r))
                || target.is_some_and(|t| read.same_as(t));
            if ours {
                self.confirmed_at = Instant::now();
                return Ok((read, false));
            }
            let Some(since) = self.replaced.as_ref().filter(|(r, _)| read.same_as(r)).map(|(_, at)| *at)
            else {
                return Err(self.changed_by_others(&read));
            };
            if since.elapsed() + wait > READ_LAG {
                return Err(self.changed_by_others(&read));
            }
            if !patient {
                return Ok((read, true));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(8));
        }
    }

    /// Sets `target` (and `description`, when given) after checking that the alias still has
    /// the routing we last set (or one we asked for without hearing back, or `target` itself).
    /// Someone else's routing is left as found, with a `Conflict` failure that says what was
    /// found.
    pub async fn set(&mut self, target: &Routing, description: Option<String>) -> Result<()> {
        self.change(target, description, true).await
    }

    /// [`AliasHandle::set`] without waiting for the pacer: a rollback does not queue behind the
    /// changes it undoes (throttling, if it comes, is retried).
    pub async fn restore(&mut self, target: &Routing, description: Option<String>) -> Result<()> {
        self.change(target, description, false).await
    }

    /// The alias routes `current`, which this run did not set: a conflict, left as found; or
    /// the version this run deploys, alone, with sfndeploy's record: promoted by hand.
    fn changed_by_others(&self, current: &Routing) -> anyhow::Error {
        if let Some(version) = self.promotable.as_deref().filter(|v| current.full_version() == Some(*v)) {
            return anyhow::Error::new(PromotedByHand {
                alias_arn: self.arn.clone(),
                version: version.to_string(),
            });
        }
        Failure::err(
            ExitCode::Conflict,
            format!(
                "alias {} was changed by someone else: sfndeploy set {}, but it now routes {current}. Stopped \
                 without touching it",
                self.arn, self.last_set
            ),
        )
    }

    async fn change(&mut self, target: &Routing, description: Option<String>, paced: bool) -> Result<()> {
        let (current, late) = if self.in_flight.is_none() && self.confirmed_at.elapsed() < GUARD_FRESH {
            (self.last_set.clone(), false)
        } else {
            self.read_ours(Some(target), paced).await?
        };
        let description = description.filter(|d| *d != self.description);
        // A late read proves nothing about what is in place: the change is made anyway.
        if current.same_as(target) && !late && description.is_none() {
            self.last_set = target.clone();
            self.in_flight = None;
            return Ok(());
        }
        let routing = routing_to_sdk(target)?;
        if !late {
            self.last_set = current;
        }
        self.in_flight = Some(target.clone());
        if paced {
            self.pacer.take().await;
        }
        self.sfn
            .update_state_machine_alias()
            .state_machine_alias_arn(&self.arn)
            .set_routing_configuration(Some(routing))
            .set_description(description.clone())
            .send()
            .await
            .aws_context(|| format!("setting alias {} to {target}", self.arn))?;
        let before = std::mem::replace(&mut self.last_set, target.clone());
        self.replaced = Some((before, Instant::now()));
        self.in_flight = None;
        self.confirmed_at = Instant::now();
        if let Some(d) = description {
            self.description = d;
        }
        Ok(())
    }
}
