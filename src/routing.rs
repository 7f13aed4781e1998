//! An alias's routing: which versions get what percent. Pure data, no AWS calls.

use std::fmt;

use crate::arn::{short_version, version_number};

/// An alias's routing. Order is not significant.
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

    /// Entries as given, weights included (routings read back from AWS, and tests).
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

    /// JSON as the AWS CLI's `--routing-configuration` takes it.
    pub fn to_cli_json(&self) -> String {
        let items: Vec<serde_json::Value> = self
            .0
            .iter()
            .map(|(arn, w)| serde_json::json!({"stateMachineVersionArn": arn, "weight": w}))
            .collect();
        serde_json::Value::Array(items).to_string()
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
    fn a_split_alias_goes_back_to_its_oldest_live_version() {
        let routing = Routing::from_entries(vec![(NEW.into(), 70), (OLD.into(), 30), ("sm:1".into(), 0)]);
        assert_eq!(routing.oldest_live(), Some(OLD));
        assert_eq!(routing.newest_live(), Some(NEW));
        assert_eq!(routing.live(), vec![(NEW.to_string(), 70), (OLD.to_string(), 30)]);
    }
}
