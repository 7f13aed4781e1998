//! The alias: finding it, reading and changing its routing, and guarding every change against
//! edits made by someone else since we last set it.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::RoutingConfigurationListItem;
use tokio::time::Instant;

use crate::aws::AwsResultExt;
use crate::exit_code::{ExitCode, Failure};

/// An alias's routing: which versions get what percent. Order is not significant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing(Vec<(String, u8)>);

impl Routing {
    /// All traffic to one version: how a deploy starts and ends.
    pub fn single(version_arn: &str) -> Self {
        Routing(vec![(version_arn.to_string(), 100)])
    }

    /// `new_weight`% to the new version, the rest to the old; a single entry at 0 or 100 so that
    /// no version is left referenced at weight 0 (which would block its deletion).
    pub fn shifted(old: &str, new: &str, new_weight: u8) -> Self {
        match new_weight {
            0 => Self::single(old),
            100.. => Self::single(new),
            w => Routing(vec![(old.to_string(), 100 - w), (new.to_string(), w)]),
        }
    }

    /// Entries as given, weights included (tests, and routings read back from AWS).
    pub fn from_entries(entries: Vec<(String, u8)>) -> Self {
        Routing(entries)
    }

    pub fn entries(&self) -> &[(String, u8)] {
        &self.0
    }

    /// The version that takes all traffic, if one does. Entries at weight 0 (which
    /// sfndeploy.py leaves behind) do not make an alias split.
    pub fn full_version(&self) -> Option<&str> {
        let mut live = self.0.iter().filter(|(_, w)| *w > 0);
        match (live.next(), live.next()) {
            (Some((arn, 100)), None) => Some(arn),
            _ => None,
        }
    }

    /// The versions with traffic, heaviest first (the older first at equal weights).
    pub fn live(&self) -> Vec<(String, u8)> {
        let mut live: Vec<(String, u8)> = self.0.iter().filter(|(_, w)| *w > 0).cloned().collect();
        live.sort_by_key(|(arn, w)| (std::cmp::Reverse(*w), version_number(arn)));
        live
    }

    /// The oldest version with traffic: where a split alias goes back to (a deploy moves from
    /// older to newer versions, so the newer one may be the unproven one).
    pub fn oldest_live(&self) -> Option<&str> {
        self.0
            .iter()
            .filter(|(_, w)| *w > 0)
            .min_by_key(|(arn, _)| version_number(arn))
            .map(|(a, _)| a.as_str())
    }

    /// The newest version with traffic: the one a split alias was being deployed to.
    pub fn newest_live(&self) -> Option<&str> {
        self.0
            .iter()
            .filter(|(_, w)| *w > 0)
            .max_by_key(|(arn, _)| version_number(arn))
            .map(|(a, _)| a.as_str())
    }

    pub fn weight_of(&self, version_arn: &str) -> u8 {
        self.0.iter().filter(|(arn, _)| arn == version_arn).map(|(_, w)| *w).sum()
    }

    /// Same versions and weights, in any order.
    pub fn same_as(&self, other: &Routing) -> bool {
        let mut a = self.0.clone();
        let mut b = other.0.clone();
        a.sort();
        b.sort();
        a == b
    }

    fn from_sdk(items: &[RoutingConfigurationListItem]) -> Self {
        Routing(
            items
                .iter()
                .map(|i| (i.state_machine_version_arn().to_string(), i.weight().clamp(0, 100) as u8))
                .collect(),
        )
    }

    fn to_sdk(&self) -> Result<Vec<RoutingConfigurationListItem>> {
        self.0
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

    /// JSON as the AWS CLI's `--routing-configuration` takes it.
    pub fn to_json(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|(arn, w)| format!(r#"{{"stateMachineVersionArn":"{arn}","weight":{w}}}"#))
            .collect();
        format!("[{}]", items.join(","))
    }
}

impl fmt::Display for Routing {
    /// `v3 90% / v4 10%`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            self.0.iter().map(|(arn, w)| format!("{} {w}%", short_version(arn))).collect();
        f.write_str(&parts.join(" / "))
    }
}

/// `arn:...:stateMachine:orders:7` -> `v7`.
pub fn short_version(version_arn: &str) -> String {
    match version_number(version_arn) {
        Some(n) => format!("v{n}"),
        None => version_arn.to_string(),
    }
}

/// `arn:...:stateMachine:orders:7` -> `7`; None for anything that is not a version ARN.
pub fn version_number(version_arn: &str) -> Option<u64> {
    match version_arn.rsplit(':').next() {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
        _ => None,
    }
}

/// The AWS CLI command that puts `routing` back on the alias, for messages when we cannot.
pub fn restore_command(alias_arn: &str, routing: &Routing, aws_cli_flags: &str) -> String {
    format!(
        "aws stepfunctions update-state-machine-alias {aws_cli_flags} --state-machine-alias-arn {alias_arn} \
         --routing-configuration '{}'",
        routing.to_json()
    )
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
            let name = arn.rsplit(':').next().unwrap_or_default().to_string();
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
        routing: Routing::from_sdk(alias.routing_configuration()),
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
        let due = humantime::format_rfc3339_seconds(self.due);
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
    let routing = Routing::single(version_arn).to_sdk()?;
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
        let routing = target.to_sdk()?;
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

    const OLD: &str = "arn:aws:states:us-east-1:1:stateMachine:sm:3";
    const NEW: &str = "arn:aws:states:us-east-1:1:stateMachine:sm:4";

    #[test]
    fn shifted_routing_never_keeps_a_zero_weight_entry() {
        assert_eq!(Routing::shifted(OLD, NEW, 100), Routing::single(NEW));
        assert_eq!(Routing::shifted(OLD, NEW, 0), Routing::single(OLD));
        let r = Routing::shifted(OLD, NEW, 30);
        assert_eq!(r.entries(), [(OLD.to_string(), 70), (NEW.to_string(), 30)]);
        assert_eq!(r.to_string(), "v3 70% / v4 30%");
        assert_eq!(r.weight_of(NEW), 30);
        assert_eq!(r.full_version(), None);
        assert_eq!(Routing::single(NEW).full_version(), Some(NEW));
    }

    #[test]
    fn a_zero_weight_entry_does_not_split_an_alias() {
        let script_leftover = Routing(vec![(OLD.into(), 0), (NEW.into(), 100)]);
        assert_eq!(script_leftover.full_version(), Some(NEW));
        assert!(!script_leftover.same_as(&Routing::single(NEW)), "still worth normalizing");
        assert_eq!(Routing(vec![(OLD.into(), 50), (NEW.into(), 50)]).full_version(), None);
    }

    #[test]
    fn comparison_ignores_order() {
        let a = Routing(vec![(OLD.into(), 70), (NEW.into(), 30)]);
        let b = Routing(vec![(NEW.into(), 30), (OLD.into(), 70)]);
        assert!(a.same_as(&b));
        assert!(!a.same_as(&Routing::shifted(OLD, NEW, 40)));
    }

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

    #[test]
    fn restore_command_is_valid_cli_json() {
        let cmd = restore_command(
            "arn:aws:states:us-east-1:1:stateMachine:sm:prod",
            &Routing::single(OLD),
            &crate::aws::aws_cli_flags("us-east-1", None, None),
        );
        assert_eq!(
            cmd,
            "aws stepfunctions update-state-machine-alias --region us-east-1 \
             --state-machine-alias-arn arn:aws:states:us-east-1:1:stateMachine:sm:prod \
             --routing-configuration '[{\"stateMachineVersionArn\":\"arn:aws:states:us-east-1:1:stateMachine:sm:3\",\"weight\":100}]'"
        );
        // The quoted argument is the JSON the AWS CLI takes, for one entry or two.
        for routing in [Routing::single(OLD), Routing::shifted(OLD, NEW, 30)] {
            let cmd =
                restore_command("arn:aws:states:us-east-1:1:stateMachine:sm:prod", &routing, "--region x");
            let json = cmd.split('\'').nth(1).expect("a quoted routing");
            let parsed: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
            let entries: Vec<(String, u64)> = parsed
                .as_array()
                .expect("a list")
                .iter()
                .map(|e| {
                    let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
                    assert_eq!(keys, ["stateMachineVersionArn", "weight"], "the API's own field names");
                    (e["stateMachineVersionArn"].as_str().unwrap().to_string(), e["weight"].as_u64().unwrap())
                })
                .collect();
            let expected: Vec<(String, u64)> =
                routing.entries().iter().map(|(a, w)| (a.clone(), u64::from(*w))).collect();
            assert_eq!(entries, expected);
        }
        assert_eq!(short_version(OLD), "v3");
        assert_eq!(short_version("odd"), "odd");
        assert_eq!(
            crate::aws::aws_cli_flags("eu-west-1", Some("prod admin"), Some("http://127.0.0.1:4566")),
            "--region eu-west-1 --profile 'prod admin' --endpoint-url http://127.0.0.1:4566"
        );
    }

    #[test]
    fn a_split_alias_goes_back_to_its_oldest_live_version() {
        let routing = Routing::from_entries(vec![(NEW.into(), 70), (OLD.into(), 30), ("sm:1".into(), 0)]);
        assert_eq!(routing.oldest_live(), Some(OLD));
        assert_eq!(routing.newest_live(), Some(NEW));
        assert_eq!(routing.live(), vec![(NEW.to_string(), 70), (OLD.to_string(), 30)]);
    }
}
