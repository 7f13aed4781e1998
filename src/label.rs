//! How a member of a run is named in what the run says: the state machine as the user named
//! it, shown only when the run has several (a release). One value, so that the prefix of a log
//! line, of a message and of a hook's output lines is written in one place. A leaf: it imports
//! nothing of ours.

use std::fmt;

/// A member's name, and whether what is said of it names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Label {
    name: String,
    shown: bool,
    /// In a release in waves, its target: `us-east-1:111111111111` (region and account).
    place: Option<String>,
}

impl Label {
    /// `name` as named on the command line; `shown` in a run of several.
    pub fn new(name: impl Into<String>, shown: bool) -> Self {
        Label { name: name.into(), shown, place: None }
    }

    /// A member of a run: the state machine `name` as named, shown in a run of `several`; in a
    /// release in waves, `name@place` in the target `place` (`us-east-1:111111111111`), always
    /// shown.
    pub fn member(name: &str, place: Option<&str>, several: bool) -> Self {
        match place {
            Some(place) => Label::new(format!("{name}@{place}"), true).at(Some(place.to_string())),
            None => Label::new(name, several),
        }
    }

    /// The same member, in the target `place` (`us-east-1:111111111111`) of a release in waves.
    pub fn at(mut self, place: Option<String>) -> Self {
        self.place = place;
        self
    }

    /// Its target's region and account, in a release in waves.
    pub fn region_account(&self) -> Option<(&str, &str)> {
        self.place.as_deref().and_then(|p| p.split_once(':'))
    }

    /// The state machine as named, without its target (`orders` of `orders@us-east-1:1111...`).
    pub fn as_named(&self) -> &str {
        match &self.place {
            Some(place) => self.name.strip_suffix(&format!("@{place}")).unwrap_or(&self.name),
            None => &self.name,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether what is said of this member names it (a release of several).
    pub fn shown(&self) -> bool {
        self.shown
    }

    /// `payments: TEXT` in a release, `TEXT` alone otherwise.
    pub fn prefix(&self, text: impl fmt::Display) -> String {
        format!("{}{text}", self.whose())
    }

    /// `payments: ` in a release, nothing otherwise.
    pub fn whose(&self) -> String {
        if self.shown { format!("{}: ", self.name) } else { String::new() }
    }

    /// `[payments] ` in a release (the head of a log line), nothing otherwise.
    pub fn tag(&self) -> String {
        if self.shown { format!("[{}] ", self.name) } else { String::new() }
    }

    /// `payments executions` in a release, `executions` otherwise: a signal of this member.
    pub fn signal(&self, kind: &str) -> String {
        if self.shown { format!("{} {kind}", self.name) } else { kind.to_string() }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_is_named_only_in_a_release() {
        let one = Label::new("orders", false);
        assert_eq!(
            (one.prefix("x"), one.tag(), one.signal("executions")),
            ("x".into(), "".into(), "executions".into())
        );
        let member = Label::new("payments", true);
        assert_eq!(member.prefix("x"), "payments: x");
        assert_eq!(member.tag(), "[payments] ");
        assert_eq!(member.signal("metrics"), "payments metrics");
    }
}
