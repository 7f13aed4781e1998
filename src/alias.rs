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
use crate::routing::Routing;
use crate::text::rfc3339_seconds;

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

/// What sfndeploy writes in the alias description while the alias is split, so that `status`
/// (and a person in the console) can tell a deploy in progress from a paused or an interrupted
/// one: `sfndeploy: deploying v7, 50% (step 2/4), next step due 2026-11-23T14:05:00Z`. The
/// description the alias had before is kept after ` | ` and put back when the deploy ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// `v7`
    pub new_version: String,
    pub weight: u8,
    /// This step is where `--pause-at` stops: at `due` the deploy pauses rather than goes on.
    pub pausing: bool,
    /// When the hold of this step ends.
    pub due: std::time::SystemTime,
}

const MARKER_PREFIX: &str = "sfndeploy: deploying ";
const ORIGINAL_SEPARATOR: &str = " | ";
/// Step Functions' limit on an alias description.
const DESCRIPTION_MAX: usize = 256;

impl Marker {
    /// The description to set: the marker, then the alias's own description.
    pub fn description(&self, step: usize, steps: usize, original: &str) -> String {
        let due = rfc3339_seconds(self.due);
        let what = if self.pausing { "pauses at" } else { "next step due" };
        let mut text = format!(
            "{MARKER_PREFIX}{}, {}% (step {step}/{steps}), {what} {due}",
            self.new_version, self.weight
        );
        if !original.is_empty() {
            text.push_str(ORIGINAL_SEPARATOR);
            text.push_str(original);
        }
        match text.char_indices().nth(DESCRIPTION_MAX) {
            Some((cut, _)) => text[..cut].to_string(),
            None => text,
        }
    }

    /// The marker in a description, if sfndeploy wrote one.
    pub fn parse(description: &str) -> Option<Marker> {
        let rest = description.strip_prefix(MARKER_PREFIX)?;
        let own = rest.split(ORIGINAL_SEPARATOR).next()?;
        let (new_version, rest) = own.split_once(", ")?;
        let (weight, rest) = rest.split_once("% ")?;
        let (pausing, due) = if let Some((_, due)) = rest.split_once("pauses at ") {
            (true, due)
        } else {
            (false, rest.split_once("next step due ")?.1)
        };
        Some(Marker {
            new_version: new_version.to_string(),
            weight: weight.parse().ok()?,
            pausing,
            due: humantime::parse_rfc3339(due.trim()).ok()?,
        })
    }
}

/// The description the alias had before sfndeploy marked it.
pub fn original_description(description: &str) -> &str {
    match description.strip_prefix(MARKER_PREFIX) {
        Some(rest) => rest.split_once(ORIGINAL_SEPARATOR).map_or("", |(_, original)| original),
        None => description,
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
    pub arn: String,
    last_set: Routing,
    /// A routing we asked for without hearing back (the call failed): it may be in place.
    in_flight: Option<Routing>,
    /// When `last_set` was last read back or set.
    confirmed_at: Instant,
    /// The alias's own description (without any marker of ours), put back when it is on one
    /// version again.
    original_description: String,
    /// Whether the alias carries a marker now (found so, or set by us).
    marked: bool,
}

/// A routing read or set this recently is not read again before the next change: between
/// back-to-back changes (no hold between them) nothing new could be learned.
pub const GUARD_FRESH: Duration = Duration::from_secs(1);

impl AliasHandle {
    /// `found` is the alias as read at `read_at`.
    pub fn new(sfn: &Client, found: &AliasInfo, read_at: Instant) -> Self {
        AliasHandle {
            sfn: sfn.clone(),
            arn: found.arn.clone(),
            last_set: found.routing.clone(),
            in_flight: None,
            confirmed_at: read_at,
            original_description: original_description(&found.description).to_string(),
            marked: Marker::parse(&found.description).is_some(),
        }
    }

    /// The alias's description with no marker of ours.
    pub fn original_description(&self) -> &str {
        &self.original_description
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

    /// Sets `target` after checking that the alias still has the routing we last set (or one we
    /// asked for without hearing back, or `target` itself). Someone else's routing is left as
    /// found, with a `Conflict` failure that says what was found.
    /// `description` is the marker to write with a split routing; with None, a marked alias
    /// gets its own description back.
    pub async fn set(&mut self, target: &Routing, description: Option<String>) -> Result<()> {
        let current = if self.in_flight.is_none() && self.confirmed_at.elapsed() < GUARD_FRESH {
            self.last_set.clone()
        } else {
            let current = read_routing(&self.sfn, &self.arn).await?;
            self.confirmed_at = Instant::now();
            current
        };
        if current.same_as(target) {
            self.last_set = target.clone();
            self.in_flight = None;
            return Ok(());
        }
        let ours =
            current.same_as(&self.last_set) || self.in_flight.as_ref().is_some_and(|r| current.same_as(r));
        if !ours {
            return Err(Failure::err(
                ExitCode::Conflict,
                format!(
                    "alias {} was changed by someone else: sfndeploy set {}, but it now routes {}. \
                     Stopped without touching it",
                    self.arn, self.last_set, current
                ),
            ));
        }
        let routing = routing_to_sdk(target)?;
        let marks = description.is_some();
        let description = match description {
            Some(marker) => Some(marker),
            None if self.marked => Some(self.original_description.clone()),
            None => None,
        };
        self.last_set = current;
        self.in_flight = Some(target.clone());
        self.sfn
            .update_state_machine_alias()
            .state_machine_alias_arn(&self.arn)
            .set_routing_configuration(Some(routing))
            .set_description(description)
            .send()
            .await
            .aws_context(|| format!("setting alias {} to {target}", self.arn))?;
        self.last_set = target.clone();
        self.in_flight = None;
        self.confirmed_at = Instant::now();
        self.marked = marks;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_keep_the_original_description() {
        let due = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let marker = Marker { new_version: "v4".into(), weight: 30, pausing: false, due };
        let text = marker.description(2, 4, "orders, production");
        assert_eq!(
            text,
            "sfndeploy: deploying v4, 30% (step 2/4), next step due 2027-01-15T08:00:00Z | orders, production"
        );
        assert_eq!(Marker::parse(&text), Some(marker.clone()));
        assert_eq!(original_description(&text), "orders, production");
        let pausing = Marker { pausing: true, ..marker };
        let text = pausing.description(2, 2, "");
        assert_eq!(text, "sfndeploy: deploying v4, 30% (step 2/2), pauses at 2027-01-15T08:00:00Z");
        assert_eq!(Marker::parse(&text), Some(pausing.clone()));
        assert_eq!(original_description(&text), "");
        assert_eq!(Marker::parse("orders, production"), None);
        assert_eq!(original_description("orders, production"), "orders, production");
        let long = pausing.description(1, 2, &"é".repeat(300));
        assert_eq!(long.chars().count(), 256, "within Step Functions' limit");
    }
}
