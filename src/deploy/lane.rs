//! A member's alias while the executor moves it: the handle that guards every change, the two
//! versions, and whether this run owns its split.

use crate::alias::AliasHandle;
use crate::aws::AwsFlags;
use crate::label::Label;
use crate::report::Reporter;
use crate::routing::Routing;

/// One member's alias, moved from its old version to its new one.
pub struct Lane {
    pub label: Label,
    pub alias: AliasHandle,
    pub old_version: String,
    pub new_version: String,
    /// Events about this member.
    pub reporter: Reporter,
    /// Whether this run owns the alias's split: it changed a weight, or continued a split
    /// already carrying the new version. Stopping rolls back exactly these.
    pub owned: bool,
    /// The routing as the deploy found it.
    pub initial: Routing,
    /// Where a printed `aws` command reaches its alias (`--region` of its target...).
    pub aws_cli: AwsFlags,
}

impl Lane {
    pub fn new(
        alias: AliasHandle,
        (old, new): (&str, &str),
        reporter: &Reporter,
        aws_cli: &AwsFlags,
    ) -> Self {
        let initial = alias.routing().clone();
        // A deploy that continues from a split alias carrying the new version owns that split:
        // any bad signal, from the first look on, puts it back on the old version.
        let owned = initial.weight_of(new) > 0;
        Lane {
            label: reporter.label().clone(),
            alias,
            old_version: old.to_string(),
            new_version: new.to_string(),
            reporter: reporter.clone(),
            owned,
            initial,
            aws_cli: aws_cli.clone(),
        }
    }

    /// The new version's weight, as last set or read.
    pub fn new_weight(&self) -> u8 {
        self.alias.routing().weight_of(&self.new_version)
    }
}
