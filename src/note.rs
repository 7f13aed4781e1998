//! What sfndeploy writes at the front of an alias's description, before the alias's own text
//! (after ` | `), which it never shortens:
//!
//! - while the alias is split, a [`Marker`]: `sfndeploy: deploying v7, 50% (step 2/4), next step
//!   due 2026-11-23T14:05:00Z`, so that `status` (and a person in the console) can tell a deploy
//!   in progress from a paused or an interrupted one;
//! - once a deploy or a rollback has put it on one version, a [`Record`]: `sfndeploy: v7 live,
//!   before it v6`, so that `sfndeploy rollback` knows the version that was live before, even
//!   when a newer one was published and never got traffic.
//!
//! A leaf: it imports nothing of ours but `text`.

use std::time::SystemTime;

use crate::text::rfc3339_seconds;

/// A deploy under way on a split alias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// `v7`
    pub new_version: String,
    pub weight: u8,
    /// This step is where `--pause-at` stops: at `due` the deploy pauses rather than goes on.
    pub pausing: bool,
    /// When the hold of this step ends (AWS's time).
    pub due: SystemTime,
    /// In a release of several state machines: the release's id, the same on each member.
    pub release: Option<String>,
}

/// Which version an alias went to, from which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `v7`
    pub live: String,
    /// `v6`
    pub before: String,
}

const PREFIX: &str = "sfndeploy: ";
const MARKER: &str = "sfndeploy: deploying ";
const SEPARATOR: &str = " | ";
/// Step Functions' limit on an alias description, in characters.
pub const DESCRIPTION_MAX: usize = 256;

impl Marker {
    /// `sfndeploy: deploying v7, 50% (step 2/4), next step due T`, or without the step when
    /// room is short.
    fn render(&self, step: Option<(usize, usize)>) -> String {
        let due = rfc3339_seconds(self.due);
        let what = if self.pausing { "pauses at" } else { "next step due" };
        let step = step.map(|(i, n)| format!(" (step {i}/{n})")).unwrap_or_default();
        let release = self.release.as_ref().map(|r| format!(" (release {r})")).unwrap_or_default();
        format!("{MARKER}{}{release}, {}%{step}, {what} {due}", self.new_version, self.weight)
    }

    /// The description to set: the marker, then the alias's own text, whole. The marker gives
    /// way (its step first, then all of it) when both do not fit.
    pub fn description(&self, step: usize, steps: usize, own: &str) -> String {
        compose([self.render(Some((step, steps))), self.render(None)], own)
    }

    /// The marker in a description, if sfndeploy wrote one.
    pub fn parse(description: &str) -> Option<Marker> {
        let rest = description.strip_prefix(MARKER)?;
        let ours = rest.split(SEPARATOR).next()?;
        let (version, rest) = ours.split_once(", ")?;
        let (new_version, release) = match version.split_once(" (release ") {
            Some((v, r)) => (v, Some(r.strip_suffix(')')?.to_string())),
            None => (version, None),
        };
        let (weight, rest) = rest.split_once('%')?;
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
            release,
        })
    }
}

impl Record {
    /// The description to set: the record, then the alias's own text, whole (the record gives
    /// way when both do not fit).
    pub fn description(&self, own: &str) -> String {
        compose([format!("{PREFIX}{} live, before it {}", self.live, self.before)], own)
    }

    /// The record in a description, if sfndeploy wrote one.
    pub fn parse(description: &str) -> Option<Record> {
        let ours = description.strip_prefix(PREFIX)?.split(SEPARATOR).next()?;
        let (live, before) = ours.split_once(" live, before it ")?;
        fn version(v: &str) -> Option<&str> {
            (v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit())).then_some(v)
        }
        Some(Record { live: version(live)?.to_string(), before: version(before)?.to_string() })
    }
}

/// The alias's own text: its description without anything sfndeploy wrote.
pub fn own_text(description: &str) -> &str {
    if Marker::parse(description).is_none() && Record::parse(description).is_none() {
        return description;
    }
    description.split_once(SEPARATOR).map_or("", |(_, own)| own)
}

/// The first of `forms` that fits before `own` within the limit; `own` alone if none does.
fn compose<const N: usize>(forms: [String; N], own: &str) -> String {
    for ours in forms {
        let text = if own.is_empty() { ours } else { format!("{ours}{SEPARATOR}{own}") };
        if text.chars().count() <= DESCRIPTION_MAX {
            return text;
        }
    }
    own.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn markers_round_trip_and_keep_the_alias_own_text() {
        let due = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let marker = Marker { new_version: "v4".into(), weight: 30, pausing: false, due, release: None };
        let text = marker.description(2, 4, "orders, production");
        assert_eq!(
            text,
            "sfndeploy: deploying v4, 30% (step 2/4), next step due 2027-01-15T08:00:00Z | orders, production"
        );
        assert_eq!(Marker::parse(&text), Some(marker.clone()));
        assert_eq!(own_text(&text), "orders, production");
        let pausing = Marker { pausing: true, ..marker };
        let text = pausing.description(2, 2, "");
        assert_eq!(text, "sfndeploy: deploying v4, 30% (step 2/2), pauses at 2027-01-15T08:00:00Z");
        assert_eq!(Marker::parse(&text), Some(pausing.clone()));
        assert_eq!(own_text(&text), "");
        assert_eq!(Marker::parse("orders, production"), None);
        assert_eq!(own_text("orders, production"), "orders, production");
    }

    #[test]
    fn a_long_description_is_never_cut_the_marker_gives_way() {
        let due = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let marker = Marker { new_version: "v4".into(), weight: 30, pausing: true, due, release: None };
        for len in [150, 190, 200, 250, 256] {
            let own = "é".repeat(len);
            let text = marker.description(1, 2, &own);
            assert!(text.chars().count() <= DESCRIPTION_MAX, "{len}");
            assert!(text.ends_with(&own), "the alias's own text whole at {len}");
            assert_eq!(own_text(&text), own, "{len}");
            if let Some(m) = Marker::parse(&text) {
                assert_eq!(m, marker, "still a marker at {len}");
            }
        }
        let released = Marker { release: Some("k3x9".into()), ..marker.clone() };
        let text = released.description(1, 2, "orders");
        assert_eq!(Marker::parse(&text), Some(released), "{text}");
        let short = marker.description(1, 2, &"x".repeat(190));
        assert!(short.starts_with("sfndeploy: deploying v4, 30%, pauses at"), "the step goes first: {short}");
    }

    #[test]
    fn records_name_the_version_live_before() {
        let record = Record { live: "v7".into(), before: "v6".into() };
        let text = record.description("orders");
        assert_eq!(text, "sfndeploy: v7 live, before it v6 | orders");
        assert_eq!(Record::parse(&text), Some(record));
        assert_eq!(own_text(&text), "orders");
        assert_eq!(Record::parse("sfndeploy: deploying v7, 50%, pauses at x"), None);
        assert_eq!(own_text("sfndeploy: notes of someone"), "sfndeploy: notes of someone");
    }
}
