//! Where a wave deploys: a region of the run's own account, or `REGION@ROLE_ARN`, a region of
//! the account whose role the run assumes. A leaf: it imports nothing of ours.

use std::fmt;

/// One target of a wave, as named on the command line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Place {
    pub region: String,
    /// The role assumed to reach another account.
    pub role: Option<String>,
}

impl Place {
    /// `us-east-1` or `eu-west-1@arn:aws:iam::111111111111:role/deploy`: Err(one sentence).
    pub fn parse(text: &str) -> Result<Place, String> {
        let text = text.trim();
        let (region, role) = match text.split_once('@') {
            Some((region, role)) => (region.trim(), Some(role.trim())),
            None => (text, None),
        };
        if !valid_region(region) {
            return Err(format!(
                "'{text}' is not a wave target: give a region (us-east-1), or REGION@ROLE_ARN for another account"
            ));
        }
        if let Some(role) = role
            && role_account(role).is_none()
        {
            return Err(format!(
                "'{role}' in wave target '{text}' is not a role ARN: arn:aws:iam::ACCOUNT:role/NAME"
            ));
        }
        Ok(Place { region: region.to_string(), role: role.map(str::to_string) })
    }

    /// A wave: targets separated by commas.
    pub fn parse_wave(text: &str) -> Result<Vec<Place>, String> {
        let places: Vec<Place> =
            text.split(',').filter(|t| !t.trim().is_empty()).map(Place::parse).collect::<Result<_, _>>()?;
        if places.is_empty() {
            return Err(format!("--wave '{text}' names no target"));
        }
        Ok(places)
    }

    /// The account the role is in, if one is assumed.
    pub fn role_account(&self) -> Option<&str> {
        self.role.as_deref().and_then(role_account)
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.role {
            Some(role) => write!(f, "{}@{role}", self.region),
            None => f.write_str(&self.region),
        }
    }
}

/// Region names as AWS spells them: `us-east-1`, `us-gov-west-1`, `cn-north-1`: lowercase
/// words and a number, joined by hyphens.
fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.last().is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
}

/// `arn:PARTITION:iam::ACCOUNT:role/NAME`: the account.
fn role_account(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [head, partition, service, region, account, resource] = parts.as_slice() else { return None };
    let ok = *head == "arn"
        && partition.starts_with("aws")
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty());
    ok.then_some(*account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_regions_or_regions_with_a_role() {
        assert_eq!(Place::parse("us-east-1").unwrap(), Place { region: "us-east-1".into(), role: None });
        let other = Place::parse("eu-west-1@arn:aws:iam::111111111111:role/deploy").unwrap();
        assert_eq!(other.role_account(), Some("111111111111"));
        assert_eq!(other.to_string(), "eu-west-1@arn:aws:iam::111111111111:role/deploy");
        for good in ["us-gov-west-1", "cn-north-1", "il-central-1"] {
            assert!(Place::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "useast1", "US-EAST-1", "us-east-", "us-east-1@", "us-east-1@arn:aws:iam::1:role/x"] {
            assert!(Place::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(Place::parse_wave("us-east-1, us-west-2").unwrap().len(), 2);
        assert!(Place::parse_wave(" , ").is_err());
    }
}
