//! The gates of a STANDARD workflow, read by listing executions: by version ARN, exact and
//! immediate. Only executions not seen yet are paged through: one call per poll and version when
//! nothing is new.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::ExecutionStatus;

use super::{Reading, Rules, Tally};
use crate::arn::short_version;
use crate::aws::AwsResultExt;

/// At most this many failed executions are described (for their error and cause) per version.
const DESCRIBE_AT_MOST: usize = 5;

/// When the old version has fewer finished executions than this since the deploy began, its
/// executions of the hour before count too.
const BASELINE_MIN: u32 = 10;
const BASELINE_BEFORE: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug)]
struct Seen {
    start: SystemTime,
    status: ExecutionStatus,
    via_alias: bool,
}

impl Seen {
    fn finished(&self) -> bool {
        !matches!(self.status, ExecutionStatus::Running | ExecutionStatus::PendingRedrive)
    }

    fn failed(&self) -> bool {
        matches!(self.status, ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted)
    }
}

/// The executions of one version seen so far.
#[derive(Debug)]
struct VersionLog {
    version: String,
    /// Executions started before this are not read.
    from: SystemTime,
    seen: HashMap<String, Seen>,
    described: HashMap<String, (String, String)>,
}

impl VersionLog {
    fn new(version: &str, from: SystemTime) -> Self {
        VersionLog { version: version.to_string(), from, seen: HashMap::new(), described: HashMap::new() }
    }

    /// Reads what changed: pages newest first down to the oldest execution still running when
    /// last seen, or to the first already finished one, or to `from`.
    async fn refresh(&mut self, sfn: &Client, alias_arn: &str) -> Result<()> {
        let oldest_running = self.seen.values().filter(|s| !s.finished()).map(|s| s.start).min();
        let mut token = None;
        'pages: loop {
            let page = sfn
                .list_executions()
                .state_machine_arn(&self.version)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .aws_context(|| format!("listing the executions of {}", short_version(&self.version)))?;
            for item in page.executions() {
                let start = SystemTime::try_from(*item.start_date()).unwrap_or(SystemTime::UNIX_EPOCH);
                if start < self.from {
                    break 'pages;
                }
                let arn = item.execution_arn();
                let known_finished = self.seen.get(arn).is_some_and(Seen::finished);
                if known_finished && oldest_running.is_none_or(|r| start < r) {
                    break 'pages;
                }
                self.seen.insert(
                    arn.to_string(),
                    Seen {
                        start,
                        status: item.status().clone(),
                        via_alias: item.state_machine_alias_arn() == Some(alias_arn),
                    },
                );
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Describes a few failed executions through the alias, once each, for their error and cause.
    async fn describe_failures(&mut self, sfn: &Client, since: SystemTime) -> Result<()> {
        let mut failed: Vec<(&String, &Seen)> =
            self.seen.iter().filter(|(_, s)| s.via_alias && s.failed() && s.start >= since).collect();
        failed.sort_by_key(|(_, s)| s.start);
        let wanted: Vec<String> = failed
            .into_iter()
            .map(|(a, _)| a.clone())
            .filter(|a| !self.described.contains_key(a))
            .take(DESCRIBE_AT_MOST.saturating_sub(self.described.len()))
            .collect();
        for arn in wanted {
            let out = sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .aws_context(|| format!("describing execution {arn}"))?;
            let error = out.error().unwrap_or(out.status().as_str()).to_string();
            self.described.insert(arn, (error, out.cause().unwrap_or_default().to_string()));
        }
        Ok(())
    }

    /// The tally of executions through the alias started at or after `since`.
    fn tally(&self, since: SystemTime) -> Tally {
        let mut t = Tally { version: self.version.clone(), ..Tally::default() };
        let mut first_failure: Option<(SystemTime, &String)> = None;
        for (arn, s) in &self.seen {
            if !s.via_alias || s.start < since {
                continue;
            }
            if !s.finished() {
                t.running += 1;
                continue;
            }
            t.finished += 1;
            if s.failed() {
                t.failed += 1;
                if let Some((error, _)) = self.described.get(arn) {
                    *t.errors.entry(error.clone()).or_default() += 1;
                }
                if first_failure.is_none_or(|(at, _)| s.start < at) && self.described.contains_key(arn) {
                    first_failure = Some((s.start, arn));
                }
            }
        }
        t.example = first_failure.map(|(_, arn)| (arn.clone(), self.described[arn].1.clone()));
        t
    }

    /// Executions of this version still running, through the alias or not.
    fn running(&self) -> Vec<String> {
        let mut running: Vec<(&SystemTime, &String)> =
            self.seen.iter().filter(|(_, s)| !s.finished()).map(|(a, s)| (&s.start, a)).collect();
        running.sort();
        running.into_iter().map(|(_, a)| a.clone()).collect()
    }
}

/// The gates of one deploy (STANDARD workflows).
#[derive(Debug)]
pub struct ExecutionGate {
    sfn: Client,
    alias_arn: String,
    pub rules: Rules,
    since: SystemTime,
    new: VersionLog,
    old: VersionLog,
}

impl ExecutionGate {
    /// Gates for a deploy from `old` to `new` through `alias_arn` that began at `since`.
    pub fn new(sfn: &Client, alias_arn: &str, old: &str, new: &str, rules: Rules, since: SystemTime) -> Self {
        let before = since.checked_sub(BASELINE_BEFORE).unwrap_or(since);
        let old = VersionLog::new(old, if rules.max_increase.is_some() { before } else { since });
        ExecutionGate {
            sfn: sfn.clone(),
            alias_arn: alias_arn.to_string(),
            rules,
            since,
            new: VersionLog::new(new, since),
            old,
        }
    }

    /// Reads both versions' executions (only what is new) and tallies them.
    pub async fn read(&mut self) -> Result<Reading> {
        self.new.refresh(&self.sfn, &self.alias_arn).await?;
        self.new.describe_failures(&self.sfn, self.since).await?;
        self.old.refresh(&self.sfn, &self.alias_arn).await?;
        let new = self.new.tally(self.since);
        let mut old = self.old.tally(self.since);
        let mut old_includes_before = false;
        if self.rules.max_increase.is_some() && old.finished < BASELINE_MIN {
            old = self.old.tally(self.old.from);
            old_includes_before = self.old.from < self.since;
        }
        Ok(Reading { new, old, old_includes_before })
    }

    /// The new version's executions still running (after a rollback they keep running it):
    /// read afresh, or as last read when that fails.
    pub async fn still_running(&mut self) -> Vec<String> {
        if let Err(e) = self.new.refresh(&self.sfn, &self.alias_arn).await {
            tracing::warn!("could not read the new version's executions again: {e:#}");
        }
        self.new.running()
    }
}

/// How the state machine's recent executions were started: (through this alias, otherwise).
/// Only traffic through the alias follows its weights.
pub async fn recent_traffic(sfn: &Client, state_machine_arn: &str, alias_arn: &str) -> Result<(u32, u32)> {
    let page = sfn
        .list_executions()
        .state_machine_arn(state_machine_arn)
        .max_results(100)
        .send()
        .await
        .aws_context(|| format!("listing the recent executions of {state_machine_arn}"))?;
    let through = page.executions().iter().filter(|e| e.state_machine_alias_arn() == Some(alias_arn)).count();
    let total = page.executions().len();
    Ok((through as u32, (total - through) as u32))
}
