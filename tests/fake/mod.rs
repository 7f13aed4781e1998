//! An in-memory Step Functions + CloudWatch + STS behind real SDK clients with a fake transport,
//! for fast in-process tests of the whole deploy flow on virtual time. It keeps state like the
//! real services (versions, aliases, revisions, alarms), records every call with its virtual
//! time, and lets a test inject faults or change the world at any call.
#![allow(dead_code)]

mod intercept;

use intercept::{FakeInterceptor, Handler, Raw, Reply, route};

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::types::{AlarmType, CompositeAlarm, MetricAlarm, StateValue};
use aws_sdk_sfn::operation::create_state_machine_alias::{
    CreateStateMachineAliasError, CreateStateMachineAliasOutput,
};
use aws_sdk_sfn::operation::delete_state_machine_version::{
    DeleteStateMachineVersionError, DeleteStateMachineVersionOutput,
};
use aws_sdk_sfn::operation::describe_state_machine::{DescribeStateMachineError, DescribeStateMachineOutput};
use aws_sdk_sfn::operation::describe_state_machine_alias::{
    DescribeStateMachineAliasError, DescribeStateMachineAliasOutput,
};
use aws_sdk_sfn::operation::list_state_machine_aliases::{
    ListStateMachineAliasesError, ListStateMachineAliasesOutput,
};
use aws_sdk_sfn::operation::list_state_machine_versions::{
    ListStateMachineVersionsError, ListStateMachineVersionsOutput,
};
use aws_sdk_sfn::operation::publish_state_machine_version::{
    PublishStateMachineVersionError, PublishStateMachineVersionOutput,
};
use aws_sdk_sfn::operation::update_state_machine::{UpdateStateMachineError, UpdateStateMachineOutput};
use aws_sdk_sfn::operation::update_state_machine_alias::{
    UpdateStateMachineAliasError, UpdateStateMachineAliasOutput,
};
use aws_sdk_sfn::operation::validate_state_machine_definition::{
    ValidateStateMachineDefinitionError, ValidateStateMachineDefinitionOutput,
};
use aws_sdk_sfn::types::error::{
    ConflictException, ResourceNotFound, StateMachineDoesNotExist, ValidationException,
};
use aws_sdk_sfn::types::{
    RoutingConfigurationListItem, StateMachineAliasListItem, StateMachineType, StateMachineVersionListItem,
    ValidateStateMachineDefinitionDiagnostic, ValidateStateMachineDefinitionResultCode,
    ValidateStateMachineDefinitionSeverity,
};
use aws_sdk_sts::operation::get_caller_identity::{GetCallerIdentityError, GetCallerIdentityOutput};
use aws_smithy_types::DateTime;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use tokio::time::Instant;

use aws_sdk_sfn::config::retry::RetryPartition;
use clap::Parser;
use sfndeploy::aws::{AwsFlags, Clients, Watchers};
use sfndeploy::cli::Cli;
use sfndeploy::clock::ServerClock;
use sfndeploy::config::{DeployConfig, Invocation};
use sfndeploy::deploy::{Deploy, Outcome};
use sfndeploy::exit_code::{ExitCode, exit_code_of};
use sfndeploy::pacer::{CHANGES, Pacer};
use sfndeploy::report::{Entry, Event, Reporter};
use sfndeploy::signals::{Signal, SignalSender, Signals};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// Operations that change AWS state.
pub const MUTATING: [&str; 5] = [
    "PublishStateMachineVersion", "UpdateStateMachine", "CreateStateMachineAlias", "UpdateStateMachineAlias",
    "DeleteStateMachineVersion",
];

// Running a deploy against the fake.

pub struct Run {
    pub result: anyhow::Result<Outcome>,
    pub events: Vec<Event>,
    /// The events with the state machine each concerns.
    pub entries: Vec<Entry>,
}

impl Run {
    pub fn code(&self) -> ExitCode {
        match &self.result {
            Ok(_) => ExitCode::Success,
            Err(e) => exit_code_of(e),
        }
    }

    pub fn message(&self) -> String {
        match &self.result {
            Ok(o) => o.to_string(),
            Err(e) => format!("{e:#}"),
        }
    }

    /// New-version weights in order, from the events.
    pub fn weights(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::WeightsChanged { new_weight, .. } => Some(*new_weight),
                _ => None,
            })
            .collect()
    }
}

pub fn config(args: &[&str]) -> DeployConfig {
    let mut argv = vec!["sfndeploy", "--state-machine", "orders", "--alias", "prod"];
    argv.extend_from_slice(args);
    DeployConfig::from_args(&Cli::try_parse_from(argv).expect("flags parse").deploy, Invocation::default())
        .expect("flags valid")
}

pub async fn deploy_with(fake: &Fake, args: &[&str], signals: Signals) -> Run {
    let cfg = config(args);
    let clients = fake.clients();
    let reporter = Reporter::recording();
    let result = Deploy { clients: &clients, cfg: &cfg, reporter: &reporter, signals }.run().await;
    Run { result, events: reporter.events(), entries: reporter.entries() }
}

/// Several state machines in one account: one order for all their calls.
pub fn account(fakes: &[Fake]) -> Journal {
    let journal = Journal::default();
    for fake in fakes {
        fake.state().journal = Some(journal.clone());
    }
    journal
}

/// A release of `fakes` (named in this order) to alias prod with `args`, through one set of
/// clients.
pub async fn deploy_release(fakes: &[Fake], args: &[&str], signals: Signals) -> Run {
    let names: Vec<String> = fakes.iter().map(|f| f.state().name.clone()).collect();
    let joined = names.join(",");
    let mut argv = vec!["sfndeploy", "--state-machine", &joined, "--alias", "prod"];
    argv.extend_from_slice(args);
    let cfg = DeployConfig::from_args(
        &Cli::try_parse_from(argv).expect("flags parse").deploy,
        Invocation::default(),
    )
    .expect("flags valid");
    let clients = clients_of(fakes);
    let reporter = Reporter::recording();
    let result = Deploy { clients: &clients, cfg: &cfg, reporter: &reporter, signals }.run().await;
    Run { result, events: reporter.events(), entries: reporter.entries() }
}

/// A 50% canary held `interval` seconds, read every second.
pub fn canary(interval: &'static str, extra: &[&'static str]) -> Vec<&'static str> {
    let mut a =
        vec!["--strategy", "canary", "--increment", "50", "--interval", interval, "--alarm-polling", "1"];
    a.extend_from_slice(extra);
    a
}

pub async fn deploy(fake: &Fake, args: &[&str]) -> Run {
    deploy_with(fake, args, Signals::manual().0).await
}

/// Sets an alarm's state after `after` of virtual time, while the deploy runs.
pub fn fire_alarm_after(fake: &Fake, name: &str, after: Duration) {
    let (fake, name) = (fake.clone(), name.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        fake.set_alarm(&name, "ALARM");
    });
}

pub fn signal_after(sender: SignalSender, after: Duration, signal: Signal) {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        sender.send(signal);
    });
}

/// A state machine with v1..v3 published, prod on v2 and an OK alarm: deploying the latest
/// (v3) shifts from v2.
pub fn standard() -> Fake {
    Fake::new("orders", 3).with_alias("prod", &[(2, 100)]).with_alarm("errors", "OK", false)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 400 ThrottlingException: retried by the SDK.
    Throttle,
    /// 500: retried by the SDK.
    ServerError,
    /// No answer: the SDK's per-attempt timeout (2 s here) cuts it, then it retries.
    Timeout,
    /// The right answer, after this long.
    Slow(Duration),
}

#[derive(Clone, Debug)]
pub struct Call {
    /// Virtual time since the fake was made.
    pub at: Duration,
    pub op: &'static str,
    /// Short detail: the routing set, the version deleted...
    pub detail: String,
    pub fault: Option<Fault>,
}

#[derive(Clone, Debug)]
pub struct Version {
    pub number: u32,
    pub revision: u64,
    pub definition: String,
}

#[derive(Clone, Debug)]
pub struct Alarm {
    pub name: String,
    pub state: String,
    pub composite: bool,
    /// When it last changed state (AWS's `StateTransitionedTimestamp`).
    pub transitioned: std::time::SystemTime,
}

type Hook = Box<dyn FnMut(&mut State, &'static str, usize) -> Option<Fault> + Send>;

/// An execution the fake knows: which version ran it, and whether it came through an alias.
#[derive(Clone, Debug)]
pub struct Execution {
    pub arn: String,
    pub version: u32,
    pub alias: Option<String>,
    pub status: String,
    /// Wall-clock start: the real clock plus the virtual time since the fake was made, so
    /// that executions started on virtual time are ordered and dated as on AWS.
    pub start: std::time::SystemTime,
    /// Virtual time since the fake was made.
    pub at: Duration,
    /// How long it runs: RUNNING until then, `status` after.
    pub took: Duration,
    /// How often it was redriven.
    pub redrive_count: i32,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// Its input, as started.
    pub input: String,
}

impl Execution {
    /// Its status at virtual time `now`, and when it stopped if it has.
    pub fn status_at(&self, now: Duration) -> (&str, Option<std::time::SystemTime>) {
        if now < self.at + self.took {
            ("RUNNING", None)
        } else {
            (self.status.as_str(), Some(self.start + self.took))
        }
    }
}

pub struct State {
    /// STANDARD unless a test says EXPRESS.
    pub kind: StateMachineType,
    /// How a synchronous (EXPRESS) execution of each version ends: (status, error).
    pub sync_outcome: std::collections::HashMap<u32, (String, Option<String>)>,
    /// Newest last.
    pub executions: Vec<Execution>,
    pub partition: String,
    pub region: String,
    /// Its account (ACCOUNT unless made `in_account`).
    pub account: String,
    /// The sessions its STS issued by AssumeRole (the run's own account's fake).
    pub sessions: Sessions,
    pub name: String,
    pub sm_arn: String,
    pub revision: u64,
    pub definition: String,
    /// Oldest first.
    pub versions: Vec<Version>,
    /// (name, routing), in creation order.
    pub aliases: Vec<(String, Vec<(String, i32)>)>,
    /// Alias descriptions by alias name (absent: none set).
    pub alias_descriptions: std::collections::HashMap<String, String>,
    pub alarms: Vec<Alarm>,
    pub calls: Vec<Call>,
    /// Items per page of the list operations.
    pub page_size: usize,
    /// Versions a state machine may have (AWS: 1000): beyond, publishing is refused.
    pub version_quota: usize,
    /// Called before each call with its op and index among all calls; may change the state and
    /// return a fault to answer with instead.
    pub hook: Option<Hook>,
    start: Instant,
    /// Set by a `Slow` fault for the attempt being answered.
    delay: Option<Duration>,
    /// How far AWS's clock is behind the runner's (the runner's clock runs ahead).
    pub aws_behind: Duration,
    /// Whether `ListExecutions` takes an alias ARN (AWS: yes; the emulator refuses it).
    pub alias_listing: bool,
    /// Never updated since its creation: no revision id (publishing takes `INITIAL`).
    pub never_updated: bool,
    /// Another process publishes or deletes a version all the while: every publish conflicts.
    pub publish_busy: bool,
    /// Every call of every state machine in an [`Account`], in order: (state machine, call).
    pub journal: Option<Journal>,
    /// How many `StartExecution` answers are lost after the execution started.
    pub lose_start_answers: u32,
    /// An alias update is eventually consistent, as on AWS: for this long after one,
    /// `StartExecution` through the alias still follows the routing it replaced...
    pub routing_lag: Duration,
    /// ...and `DescribeStateMachineAlias` still answers it.
    pub alias_read_lag: Duration,
    /// Each alias update: (alias name, when, the routing it replaced).
    pub alias_updates: Vec<(String, Duration, FakeRouting)>,
}

impl State {
    /// The routing of alias `name` as a reader `lag` behind sees it now.
    fn lagging_routing(&self, name: &str, lag: Duration, current: &[(String, i32)]) -> Vec<(String, i32)> {
        let now = self.elapsed();
        // The oldest update still within the lag: what it replaced is what a lagging reader sees.
        self.alias_updates
            .iter()
            .find(|(n, at, _)| n == name && now < *at + lag)
            .map_or_else(|| current.to_vec(), |(_, _, before)| before.clone())
    }
}

/// An alias's routing: (version ARN, weight).
pub type FakeRouting = Vec<(String, i32)>;

/// The calls of several fakes in one order.
pub type Journal = Arc<Mutex<Vec<(String, Call)>>>;

#[derive(Clone)]
pub struct Fake(Arc<Mutex<State>>);

pub fn definition(result: &str) -> String {
    format!(r#"{{"StartAt":"P","States":{{"P":{{"Type":"Pass","Result":"{result}","End":true}}}}}}"#)
}

impl Fake {
    /// A state machine `name` with `versions` published versions (each its own revision) and
    /// the current revision equal to the newest version.
    pub fn new(name: &str, versions: u32) -> Fake {
        Fake::new_in("aws", REGION, name, versions)
    }

    /// `new` in another partition and region (`aws-cn`, `aws-us-gov`...): the caller's identity
    /// and every ARN are in that partition, and the clients use that region.
    pub fn new_in(partition: &str, region: &str, name: &str, versions: u32) -> Fake {
        Fake::in_account(partition, region, ACCOUNT, name, versions)
    }

    /// `new_in` in another account: its ARNs, and the identity its STS answers, are that account's.
    pub fn in_account(partition: &str, region: &str, account: &str, name: &str, versions: u32) -> Fake {
        let sm_arn = format!("arn:{partition}:states:{region}:{account}:stateMachine:{name}");
        let versions: Vec<Version> = (1..=versions)
            .map(|n| Version { number: n, revision: u64::from(n), definition: definition(&format!("v{n}")) })
            .collect();
        let revision = versions.last().map_or(1, |v| v.revision);
        let definition = versions.last().map_or_else(|| definition("v0"), |v| v.definition.clone());
        Fake(Arc::new(Mutex::new(State {
            kind: StateMachineType::Standard,
            sync_outcome: Default::default(),
            executions: Vec::new(),
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            sessions: Sessions::default(),
            name: name.to_string(),
            sm_arn,
            revision,
            definition,
            versions,
            aliases: Vec::new(),
            alias_descriptions: Default::default(),
            alarms: Vec::new(),
            calls: Vec::new(),
            page_size: 100,
            version_quota: 1000,
            hook: None,
            start: Instant::now(),
            delay: None,
            aws_behind: Duration::ZERO,
            alias_listing: true,
            never_updated: false,
            publish_busy: false,
            journal: None,
            lose_start_answers: 0,
            routing_lag: Duration::ZERO,
            alias_read_lag: Duration::ZERO,
            alias_updates: Vec::new(),
        })))
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    pub fn version_arn(&self, n: u32) -> String {
        format!("{}:{n}", self.state().sm_arn)
    }

    pub fn alias_arn(&self, name: &str) -> String {
        format!("{}:{name}", self.state().sm_arn)
    }

    pub fn with_alias(self, name: &str, routing: &[(u32, i32)]) -> Self {
        let routing = routing.iter().map(|&(n, w)| (self.version_arn(n), w)).collect();
        self.state().aliases.push((name.to_string(), routing));
        self
    }

    pub fn with_alias_description(self, name: &str, description: &str) -> Self {
        self.state().alias_descriptions.insert(name.to_string(), description.to_string());
        self
    }

    pub fn alias_description(&self, name: &str) -> Option<String> {
        self.state().alias_descriptions.get(name).cloned()
    }

    pub fn with_alarm(self, name: &str, state: &str, composite: bool) -> Self {
        // Alarms exist before the deploy: in their state for an hour.
        let transitioned = self.state().aws_now() - Duration::from_secs(3600);
        self.state().alarms.push(Alarm { name: name.into(), state: state.into(), composite, transitioned });
        self
    }

    /// A new revision that is not published yet.
    pub fn with_unpublished_revision(self) -> Self {
        {
            let mut s = self.state();
            s.revision += 100;
            s.definition = definition("unpublished");
        }
        self
    }

    /// Records an execution of version `version` (through alias `alias`, if any) that started
    /// `ago` before now and ends as `status` (RUNNING, SUCCEEDED, FAILED...) with `error`.
    pub fn execution(
        &self,
        version: u32,
        alias: Option<&str>,
        status: &str,
        error: Option<&str>,
        ago: Duration,
    ) -> String {
        self.execution_taking(version, alias, (status, error), ago, Duration::ZERO)
    }

    /// [`Fake::execution`] that runs for `took` (from its start `ago` before now).
    pub fn execution_taking(
        &self,
        version: u32,
        alias: Option<&str>,
        (status, error): (&str, Option<&str>),
        ago: Duration,
        took: Duration,
    ) -> String {
        let mut s = self.state();
        let arn = format!(
            "arn:{}:states:{}:{}:execution:{}:exec-{}",
            s.partition,
            s.region,
            s.account,
            s.name,
            s.executions.len() + 1
        );
        let alias = alias.map(|a| format!("{}:{a}", s.sm_arn));
        let elapsed = s.start.elapsed();
        let aws_now = s.aws_now();
        let input = format!("{{\"n\":{}}}", s.executions.len() + 1);
        s.executions.push(Execution {
            arn: arn.clone(),
            version,
            alias,
            status: status.to_string(),
            start: aws_now - ago,
            at: elapsed.saturating_sub(ago),
            took,
            redrive_count: 0,
            error: error.map(str::to_string),
            cause: error.map(|e| format!("{e} happened")),
            input,
        });
        arn
    }

    /// Until the returned handle is dropped: an execution through alias `alias` every `every`,
    /// shared between the versions by the alias's weights (exactly: of each 100, weight go to a
    /// version), ending as `outcome(version)` says.
    pub fn traffic(
        &self,
        alias: &str,
        every: Duration,
        outcome: impl Fn(u32) -> (&'static str, Option<&'static str>) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        self.traffic_taking(alias, every, move |v| {
            let (status, error) = outcome(v);
            (status, error, Duration::ZERO)
        })
    }

    /// [`Fake::traffic`] whose executions each run for as long as `outcome` says.
    pub fn traffic_taking(
        &self,
        alias: &str,
        every: Duration,
        outcome: impl Fn(u32) -> (&'static str, Option<&'static str>, Duration) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let (fake, alias) = (self.clone(), alias.to_string());
        tokio::spawn(async move {
            let mut n: u32 = 0;
            loop {
                tokio::time::sleep(every).await;
                let routing = fake.routing(&alias);
                let slot = (n % 100) as i32;
                n += 1;
                let mut acc = 0;
                let version = routing.iter().find(|(_, w)| {
                    acc += w;
                    slot < acc
                });
                if let Some((version, _)) = version {
                    let (status, error, took) = outcome(*version);
                    fake.execution_taking(*version, Some(&alias), (status, error), Duration::ZERO, took);
                }
            }
        })
    }

    /// Deletes an alarm, as someone might mid-deploy.
    pub fn remove_alarm(&self, name: &str) {
        self.state().alarms.retain(|a| a.name != name);
    }

    pub fn set_alarm(&self, name: &str, state: &str) {
        let mut s = self.state();
        let now = s.aws_now();
        let alarm = s.alarms.iter_mut().find(|a| a.name == name).expect("alarm");
        if alarm.state != state {
            alarm.state = state.to_string();
            alarm.transitioned = now;
        }
    }

    pub fn hook(&self, hook: impl FnMut(&mut State, &'static str, usize) -> Option<Fault> + Send + 'static) {
        self.state().hook = Some(Box::new(hook));
    }

    /// The alias's routing as (version number, weight), sorted.
    pub fn routing(&self, alias: &str) -> Vec<(u32, i32)> {
        let s = self.state();
        let (_, routing) = s.aliases.iter().find(|(n, _)| n == alias).expect("alias exists");
        let mut r: Vec<(u32, i32)> =
            routing.iter().map(|(arn, w)| (arn.rsplit(':').next().unwrap().parse().unwrap(), *w)).collect();
        r.sort();
        r
    }

    pub fn version_numbers(&self) -> Vec<u32> {
        self.state().versions.iter().map(|v| v.number).collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Successful calls of one operation.
    pub fn calls_of(&self, op: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.op == op && c.fault.is_none()).collect()
    }

    pub fn mutating_calls(&self) -> Vec<Call> {
        self.calls().into_iter().filter(|c| MUTATING.contains(&c.op)).collect()
    }

    /// Real SDK clients answered by this fake, with the SDK's standard retry (3 attempts).
    pub fn clients(&self) -> Clients {
        clients_of(std::slice::from_ref(self))
    }
}

/// The sessions a fake STS issued (AssumeRole): each access key and when it expires (AWS's time);
/// and each call signed with a key past its expiry, or with a key it never issued.
#[derive(Clone, Debug, Default)]
pub struct Sessions {
    pub issued: Arc<Mutex<Vec<(String, std::time::SystemTime)>>>,
    pub bad_uses: Arc<Mutex<Vec<String>>>,
}

/// Real SDK clients answered by `fakes`: a Step Functions call goes to the state machine its
/// ARN names; CloudWatch, STS, dates and delays are the first's (the account's).
pub fn clients_of(fakes: &[Fake]) -> Clients {
    clients_with(fakes, None)
}

/// `builder`, signing with a role's credentials and checking each call's key (see
/// [`clients_with`]), when `signed` says so.
macro_rules! as_role {
    ($builder:expr, $signed:expr) => {
        match $signed {
            Some((credentials, check)) => $builder
                .credentials_provider(credentials.clone())
                .identity_cache(IdentityCache::no_cache())
                .interceptor(check.clone()),
            None => $builder,
        }
    };
}

/// [`clients_of`], signing with `role`'s credentials (as sfndeploy signs for a target in another
/// account), each call checked against the sessions `issuer`'s STS issued, on its AWS time.
pub fn clients_with(
    fakes: &[Fake],
    role: Option<(aws_sdk_sfn::config::SharedCredentialsProvider, Fake)>,
) -> Clients {
    let first = &fakes[0];
    let sfn_rules = || -> Vec<Handler> {
        if fakes.len() == 1 {
            return first.sfn_rules();
        }
        fakes.iter().flat_map(|f| f.sfn_rules().into_iter().map(|h| owned_by(f, h))).collect()
    };
    {
        let timeout = TimeoutConfig::builder().operation_attempt_timeout(Duration::from_secs(2)).build();
        let retry =
            RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(100));
        // As sfndeploy's own: the health signals' reads retry once, on a partition of their own.
        let watch_retry = RetryConfig::standard()
            .with_max_attempts(sfndeploy::aws::WATCH_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(100));
        let clock = ServerClock::default();
        // A target in another account: its role's credentials, each call's key checked.
        let signed = role.as_ref().map(|(credentials, issuer)| {
            (credentials.clone(), intercept::SignedBy::new(issuer.sessions(), issuer.date_fn()))
        });
        let sfn_client = |retry: RetryConfig, partition: &'static str| {
            let b = aws_sdk_sfn::Config::builder()
                .with_test_defaults_v2()
                .http_client(intercept::http_client())
                .interceptor(FakeInterceptor::new(sfn_rules(), delays(fakes), first.date_fn()))
                .interceptor(clock.interceptor())
                .retry_config(retry)
                .retry_partition(RetryPartition::new(partition))
                .timeout_config(timeout.clone());
            aws_sdk_sfn::Client::from_conf(as_role!(b, &signed).build())
        };
        let cloudwatch_client = |retry: RetryConfig, partition: &'static str| {
            let b = aws_sdk_cloudwatch::Config::builder()
                .with_test_defaults_v2()
                .http_client(intercept::http_client())
                .interceptor(FakeInterceptor::new(
                    vec![first.cloudwatch_rule()],
                    delays(fakes),
                    first.date_fn(),
                ))
                .interceptor(clock.interceptor())
                .retry_config(retry)
                .retry_partition(RetryPartition::new(partition))
                .timeout_config(timeout.clone());
            aws_sdk_cloudwatch::Client::from_conf(as_role!(b, &signed).build())
        };
        let sfn = sfn_client(retry.clone(), "fake-states");
        let cloudwatch = cloudwatch_client(retry.clone(), "fake-monitoring");
        let watch = Watchers {
            sfn: sfn_client(watch_retry.clone(), "fake-watch"),
            cloudwatch: cloudwatch_client(watch_retry, "fake-watch"),
        };
        let fake = first.clone();
        let identity =
            route(move |_: &aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityInput| {
                if let Some(raw) = fake.begin("GetCallerIdentity", String::new()) {
                    return Reply::Raw(raw);
                }
                let s = fake.state();
                Reply::<_, GetCallerIdentityError>::Output(
                    GetCallerIdentityOutput::builder()
                        .account(&s.account)
                        .arn(format!("arn:{}:iam::{}:user/tester", s.partition, s.account))
                        .user_id("AIDTEST")
                        .build(),
                )
            });
        let issuer = first.clone();
        let assume = route(move |req: &aws_sdk_sts::operation::assume_role::AssumeRoleInput| {
            if let Some(raw) = issuer.begin("AssumeRole", req.role_arn().unwrap_or_default().to_string()) {
                return Reply::Raw(raw);
            }
            let now = issuer.state().aws_now();
            let lasts = Duration::from_secs(req.duration_seconds().unwrap_or(3600) as u64);
            let sessions = issuer.sessions();
            let mut issued = sessions.issued.lock().unwrap();
            let key = format!("ASIAFAKE{}", issued.len() + 1);
            issued.push((key.clone(), now + lasts));
            Reply::<_, aws_sdk_sts::operation::assume_role::AssumeRoleError>::Output(
                aws_sdk_sts::operation::assume_role::AssumeRoleOutput::builder()
                    .credentials(
                        aws_sdk_sts::types::Credentials::builder()
                            .access_key_id(key)
                            .secret_access_key("secret")
                            .session_token("token")
                            .expiration(DateTime::from(now + lasts))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
        });
        let sts = aws_sdk_sts::Config::builder()
            .with_test_defaults_v2()
            .http_client(intercept::http_client())
            .interceptor(FakeInterceptor::new(vec![identity, assume], delays(fakes), first.date_fn()))
            .interceptor(clock.interceptor())
            .retry_config(retry)
            .timeout_config(timeout);
        let sts = aws_sdk_sts::Client::from_conf(as_role!(sts, &signed).build());
        let region = first.state().region.clone();
        let aws_cli = AwsFlags { region: Some(region.clone()), ..AwsFlags::default() };
        Clients {
            sfn,
            cloudwatch,
            sts,
            watch,
            clock,
            changes: Pacer::new(CHANGES),
            region,
            aws_cli,
            credentials: None,
            // Nothing the fake serves is made from it: no --notify-topic here.
            sdk: aws_config::SdkConfig::builder().build(),
            reach: sfndeploy::aws::Reach::Sdk { max_attempts: 3 },
        }
    }
}

/// `handler`, for the calls that name `fake`'s state machine (or its aliases, versions and
/// executions) only.
fn owned_by(fake: &Fake, handler: Handler) -> Handler {
    let name = fake.state().name.clone();
    let marks =
        [format!(":stateMachine:{name}\""), format!(":stateMachine:{name}:"), format!(":execution:{name}:")];
    Arc::new(move |input| {
        let text = format!("{input:?}");
        if marks.iter().any(|m| text.contains(m.as_str())) { handler(input) } else { None }
    })
}

/// A delay a `Slow` fault set on any of `fakes`.
fn delays(fakes: &[Fake]) -> intercept::DelayFn {
    let fakes = fakes.to_vec();
    Arc::new(move || fakes.iter().find_map(|f| f.state().delay.take()))
}

impl Fake {
    /// The sessions its STS issued.
    pub fn sessions(&self) -> Sessions {
        self.state().sessions.clone()
    }

    /// AWS's time, for the answers' `Date` headers.
    fn date_fn(&self) -> intercept::DateFn {
        let fake = self.clone();
        Arc::new(move || fake.state().aws_now())
    }

    /// Takes the delay a `Slow` fault set for the attempt just answered.
    fn delay_fn(&self) -> intercept::DelayFn {
        let fake = self.clone();
        Arc::new(move || fake.state().delay.take())
    }

    /// Records a call and runs the hook; Some((status, body)) means answer with that fault.
    fn begin(&self, op: &'static str, detail: String) -> Option<Raw> {
        let mut s = self.0.lock().unwrap();
        let index = s.calls.len();
        let mut hook = s.hook.take();
        let fault = hook.as_mut().and_then(|h| h(&mut s, op, index));
        if s.hook.is_none() {
            s.hook = hook;
        }
        let at = s.start.elapsed();
        let call = Call { at, op, detail, fault };
        if let Some(journal) = &s.journal {
            journal.lock().unwrap().push((s.name.clone(), call.clone()));
        }
        s.calls.push(call);
        let json_protocol = op != "DescribeAlarms" && op != "GetCallerIdentity";
        if let Some(Fault::Slow(d)) = fault {
            s.delay = Some(d);
            return None;
        }
        fault.map(|f| match f {
            Fault::Throttle if json_protocol => Raw::Status(
                400,
                br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_vec(),
                "application/x-amz-json-1.0",
            ),
            // CloudWatch speaks CBOR (rpc-v2): its throttle is a CBOR map with a __type.
            Fault::Throttle if op == "DescribeAlarms" => {
                Raw::Status(400, cbor_error("Throttling", "Rate exceeded"), "application/cbor")
            }
            Fault::Throttle => Raw::Status(503, Vec::new(), "text/plain"),
            Fault::ServerError => Raw::Status(500, Vec::new(), "text/plain"),
            Fault::Timeout => Raw::Hang,
            Fault::Slow(_) => unreachable!("answered above"),
        })
    }

    fn sfn_rules(&self) -> Vec<Handler> {
        let f = self.clone();
        let describe_sm =
            route(move |req: &aws_sdk_sfn::operation::describe_state_machine::DescribeStateMachineInput| {
                let arn = req.state_machine_arn().unwrap_or_default().to_string();
                if let Some(r) = f.begin("DescribeStateMachine", arn.clone()) {
                    return Reply::Raw(r);
                }
                let s = f.state();
                // A version ARN describes that version: its own definition and revision.
                if let Some(v) = s.versions.iter().find(|v| arn == format!("{}:{}", s.sm_arn, v.number)) {
                    return Reply::Output(
                        DescribeStateMachineOutput::builder()
                            .state_machine_arn(&arn)
                            .name(&s.name)
                            .definition(&v.definition)
                            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/sfn"))
                            .r#type(s.kind.clone())
                            .creation_date(DateTime::from_secs(0))
                            .revision_id(v.revision.to_string())
                            .build()
                            .unwrap(),
                    );
                }
                if arn != s.sm_arn {
                    return Reply::Error(DescribeStateMachineError::StateMachineDoesNotExist(
                        StateMachineDoesNotExist::builder()
                            .message(format!("State Machine Does Not Exist: '{arn}'"))
                            .build(),
                    ));
                }
                Reply::Output(
                    DescribeStateMachineOutput::builder()
                        .state_machine_arn(&s.sm_arn)
                        .name(&s.name)
                        .definition(&s.definition)
                        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/sfn"))
                        .r#type(s.kind.clone())
                        .creation_date(DateTime::from_secs(0))
                        .set_revision_id((!s.never_updated).then(|| s.revision.to_string()))
                        .build()
                        .unwrap(),
                )
            });

        let f = self.clone();
        let validate = route(move |req: &aws_sdk_sfn::operation::validate_state_machine_definition::ValidateStateMachineDefinitionInput| {
                if let Some(r) = f.begin("ValidateStateMachineDefinition", String::new()) {
                    return Reply::Raw(r);
                }
                let text = req.definition().unwrap_or_default();
                let valid = text.contains("\"StartAt\"") && text.contains("\"States\"");
                let mut out =
                    ValidateStateMachineDefinitionOutput::builder().set_diagnostics(Some(vec![]));
                if valid {
                    out = out.result(ValidateStateMachineDefinitionResultCode::Ok);
                } else {
                    out = out
                        .result(ValidateStateMachineDefinitionResultCode::Fail)
                        .diagnostics(
                            ValidateStateMachineDefinitionDiagnostic::builder()
                                .severity(ValidateStateMachineDefinitionSeverity::Error)
                                .code("SCHEMA_VALIDATION_FAILED")
                                .message("These fields are required: [States, StartAt]")
                                .location("/")
                                .build()
                                .unwrap(),
                        );
                }
                Reply::<_, ValidateStateMachineDefinitionError>::Output(out.build().unwrap())
            });

        let f = self.clone();
        let list_versions = route(move |req: &aws_sdk_sfn::operation::list_state_machine_versions::ListStateMachineVersionsInput| {
                if let Some(r) = f.begin(
                    "ListStateMachineVersions",
                    req.next_token().unwrap_or_default().to_string(),
                ) {
                    return Reply::Raw(r);
                }
                let s = f.state();
                let newest_first: Vec<String> = s
                    .versions
                    .iter()
                    .rev()
                    .map(|v| format!("{}:{}", s.sm_arn, v.number))
                    .collect();
                let limit = (req.max_results().unwrap_or(100).max(1) as usize).min(s.page_size);
                let (page, next) = paginate(&newest_first, req.next_token(), limit);
                Reply::<_, ListStateMachineVersionsError>::Output(
                    ListStateMachineVersionsOutput::builder()
                        .set_state_machine_versions(Some(
                            page.iter()
                                .map(|arn| {
                                    StateMachineVersionListItem::builder()
                                        .state_machine_version_arn(arn)
                                        .creation_date(DateTime::from_secs(0))
                                        .build()
                                        .unwrap()
                                })
                                .collect(),
                        ))
                        .set_next_token(next)
                        .build()
                        .unwrap(),
                )
            });

        let f = self.clone();
        let publish = route(move |req: &aws_sdk_sfn::operation::publish_state_machine_version::PublishStateMachineVersionInput| {
                if let Some(r) = f.begin(
                    "PublishStateMachineVersion",
                    req.revision_id().unwrap_or_default().to_string(),
                ) {
                    return Reply::Raw(r);
                }
                let mut s = f.state();
                let current = if s.never_updated { "INITIAL".to_string() } else { s.revision.to_string() };
                if s.publish_busy || req.revision_id().is_some_and(|rev| rev != current) {
                    return Reply::Error(
                        PublishStateMachineVersionError::ConflictException(
                            ConflictException::builder()
                                .message("revisionId does not match the current revision")
                                .build(),
                        ),
                    );
                }
                let Some(arn) = s.publish_current() else {
                    return Reply::Error(PublishStateMachineVersionError::ServiceQuotaExceededException(
                        quota_exceeded(),
                    ));
                };
                Reply::Output(
                    PublishStateMachineVersionOutput::builder()
                        .state_machine_version_arn(arn)
                        .creation_date(DateTime::from_secs(0))
                        .build()
                        .unwrap(),
                )
            });

        let f = self.clone();
        let update_sm =
            route(move |req: &aws_sdk_sfn::operation::update_state_machine::UpdateStateMachineInput| {
                if let Some(r) = f.begin("UpdateStateMachine", format!("publish={:?}", req.publish())) {
                    return Reply::Raw(r);
                }
                let mut s = f.state();
                let publish = req.publish().unwrap_or(false);
                // All or nothing: a publish the quota refuses uploads nothing either.
                if publish && s.versions.len() >= s.version_quota {
                    return Reply::Error(UpdateStateMachineError::ServiceQuotaExceededException(
                        quota_exceeded(),
                    ));
                }
                if let Some(d) = req.definition() {
                    s.revision += 1;
                    s.definition = d.to_string();
                    s.never_updated = false;
                }
                let version = if publish { s.publish_current() } else { None };
                Reply::<_, UpdateStateMachineError>::Output(
                    UpdateStateMachineOutput::builder()
                        .update_date(DateTime::from_secs(0))
                        .revision_id(s.revision.to_string())
                        .set_state_machine_version_arn(version)
                        .build()
                        .unwrap(),
                )
            });

        let f = self.clone();
        let list_aliases = route(
            move |req: &aws_sdk_sfn::operation::list_state_machine_aliases::ListStateMachineAliasesInput| {
                if let Some(r) =
                    f.begin("ListStateMachineAliases", req.next_token().unwrap_or_default().to_string())
                {
                    return Reply::Raw(r);
                }
                let s = f.state();
                let arns: Vec<String> =
                    s.aliases.iter().rev().map(|(n, _)| format!("{}:{n}", s.sm_arn)).collect();
                let (page, next) = paginate(&arns, req.next_token(), s.page_size);
                Reply::<_, ListStateMachineAliasesError>::Output(
                    ListStateMachineAliasesOutput::builder()
                        .set_state_machine_aliases(Some(
                            page.iter()
                                .map(|arn| {
                                    StateMachineAliasListItem::builder()
                                        .state_machine_alias_arn(arn)
                                        .creation_date(DateTime::from_secs(0))
                                        .build()
                                        .unwrap()
                                })
                                .collect(),
                        ))
                        .set_next_token(next)
                        .build()
                        .unwrap(),
                )
            },
        );

        let f = self.clone();
        let describe_alias = route(move |req: &aws_sdk_sfn::operation::describe_state_machine_alias::DescribeStateMachineAliasInput| {
                let arn = req
                    .state_machine_alias_arn()
                    .unwrap_or_default()
                    .to_string();
                if let Some(r) = f.begin("DescribeStateMachineAlias", arn.clone()) {
                    return Reply::Raw(r);
                }
                let s = f.state();
                match s.alias(&arn) {
                    Some((name, routing)) => Reply::Output(
                        DescribeStateMachineAliasOutput::builder()
                            .state_machine_alias_arn(&arn)
                            .name(name)
                            .set_description(s.alias_descriptions.get(name).cloned())
                            .set_routing_configuration(Some(to_items(&s.lagging_routing(name, s.alias_read_lag, routing))))
                            .creation_date(DateTime::from_secs(0))
                            .build(),
                    ),
                    None => Reply::Error(DescribeStateMachineAliasError::ResourceNotFound(
                        ResourceNotFound::builder()
                            .message("alias not found")
                            .build(),
                    )),
                }
            });

        let f = self.clone();
        let create_alias = route(
            move |req: &aws_sdk_sfn::operation::create_state_machine_alias::CreateStateMachineAliasInput| {
                let routing = from_items(req.routing_configuration());
                if let Some(r) = f.begin("CreateStateMachineAlias", format!("{routing:?}")) {
                    return Reply::Raw(r);
                }
                let mut s = f.state();
                if let Some(e) = check_weights(&routing) {
                    return Reply::Error(CreateStateMachineAliasError::ValidationException(e));
                }
                let name = req.name().unwrap_or_default().to_string();
                let arn = format!("{}:{name}", s.sm_arn);
                s.aliases.push((name, routing));
                Reply::Output(
                    CreateStateMachineAliasOutput::builder()
                        .state_machine_alias_arn(arn)
                        .creation_date(DateTime::from_secs(0))
                        .build()
                        .unwrap(),
                )
            },
        );

        let f = self.clone();
        let update_alias = route(
            move |req: &aws_sdk_sfn::operation::update_state_machine_alias::UpdateStateMachineAliasInput| {
                let routing = from_items(req.routing_configuration());
                if let Some(r) = f.begin("UpdateStateMachineAlias", short_routing(&routing)) {
                    return Reply::Raw(r);
                }
                let mut s = f.state();
                if let Some(e) = check_weights(&routing) {
                    return Reply::Error(UpdateStateMachineAliasError::ValidationException(e));
                }
                let arn = req.state_machine_alias_arn().unwrap_or_default().to_string();
                let sm_arn = s.sm_arn.clone();
                let description = req.description().map(str::to_string);
                let now = s.elapsed();
                match s.aliases.iter_mut().find(|(n, _)| format!("{sm_arn}:{n}") == arn) {
                    Some((name, r)) => {
                        let before = std::mem::replace(r, routing);
                        let name = name.clone();
                        s.alias_updates.push((name.clone(), now, before));
                        if let Some(d) = description {
                            s.alias_descriptions.insert(name, d);
                        }
                        Reply::Output(
                            UpdateStateMachineAliasOutput::builder()
                                .update_date(DateTime::from_secs(0))
                                .build()
                                .unwrap(),
                        )
                    }
                    None => Reply::Error(UpdateStateMachineAliasError::ResourceNotFound(
                        ResourceNotFound::builder().message("alias not found").build(),
                    )),
                }
            },
        );

        let f = self.clone();
        let delete_version = route(move |req: &aws_sdk_sfn::operation::delete_state_machine_version::DeleteStateMachineVersionInput| {
                let arn = req
                    .state_machine_version_arn()
                    .unwrap_or_default()
                    .to_string();
                if let Some(r) = f.begin("DeleteStateMachineVersion", arn.clone()) {
                    return Reply::Raw(r);
                }
                let mut s = f.state();
                if s.aliases
                    .iter()
                    .any(|(_, routing)| routing.iter().any(|(v, _)| *v == arn))
                {
                    return Reply::Error(DeleteStateMachineVersionError::ConflictException(
                        ConflictException::builder()
                            .message("Version is referenced by an alias")
                            .build(),
                    ));
                }
                let sm_arn = s.sm_arn.clone();
                s.versions
                    .retain(|v| format!("{sm_arn}:{}", v.number) != arn);
                Reply::Output(DeleteStateMachineVersionOutput::builder().build())
            });

        let f = self.clone();
        let list_executions = route(
            move |req: &aws_sdk_sfn::operation::list_executions::ListExecutionsInput| {
                let arn = req.state_machine_arn().unwrap_or_default().to_string();
                if let Some(r) = f.begin("ListExecutions", arn.clone()) {
                    return Reply::Raw(r);
                }
                let s = f.state();
                let version = |e: &Execution| format!("{}:{}", s.sm_arn, e.version);
                let by_alias = s.aliases.iter().any(|(n, _)| format!("{}:{n}", s.sm_arn) == arn);
                if by_alias && !s.alias_listing {
                    // The emulator's answer to an alias ARN.
                    return Reply::Error(aws_sdk_sfn::operation::list_executions::ListExecutionsError::StateMachineDoesNotExist(
                        StateMachineDoesNotExist::builder().message(format!("State Machine Does Not Exist: '{arn}'")).build(),
                    ));
                }
                // Newest first; by the state machine's ARN (all), a version's, or an alias's (the
                // executions started through it, as AWS lists them).
                // AWS: "If you provide a state machine ARN in redriveFilter, the API returns a
                // validation exception" (it takes one with a Map Run's ARN).
                if req.redrive_filter().is_some() {
                    return Reply::Error(
                        aws_sdk_sfn::operation::list_executions::ListExecutionsError::ValidationException(
                            ValidationException::builder().message("redriveFilter needs a mapRunArn").build(),
                        ),
                    );
                }
                let redriven = false;
                let mut chosen: Vec<&Execution> = s
                    .executions
                    .iter()
                    .filter(|e| {
                        arn == s.sm_arn || arn == version(e) || e.alias.as_deref() == Some(arn.as_str())
                    })
                    .filter(|e| !redriven || e.redrive_count > 0)
                    .collect();
                chosen.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| a.arn.cmp(&b.arn)));
                // Tokens name the next item, so a page is where it was whatever started since.
                let key = |e: &Execution| {
                    format!("{}|{}", e.start.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos(), e.arn)
                };
                let from = match req.next_token() {
                    Some(token) => {
                        let (nanos, arn) = token.split_once('|').expect("a token of ours");
                        let nanos: u128 = nanos.parse().unwrap();
                        chosen
                            .iter()
                            .position(|e| {
                                let n = e.start.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
                                n < nanos || (n == nanos && e.arn.as_str() >= arn)
                            })
                            .unwrap_or(chosen.len())
                    }
                    None => 0,
                };
                let limit = (req.max_results().unwrap_or(100).clamp(1, 1000) as usize).min(s.page_size);
                let end = (from + limit).min(chosen.len());
                let next = chosen.get(end).map(|e| key(e));
                let now = s.elapsed();
                let items = chosen[from..end].iter().map(|e| {
                    let (status, stop) = e.status_at(now);
                    aws_sdk_sfn::types::ExecutionListItem::builder()
                        .execution_arn(&e.arn)
                        .state_machine_arn(&s.sm_arn)
                        .name(e.arn.rsplit(':').next().unwrap_or_default())
                        .status(aws_sdk_sfn::types::ExecutionStatus::from(status))
                        .start_date(DateTime::from(e.start))
                        .set_stop_date(stop.map(DateTime::from))
                        .state_machine_version_arn(version(e))
                        .set_state_machine_alias_arn(e.alias.clone())
                        .set_redrive_count((e.redrive_count > 0).then_some(e.redrive_count))
                        .build()
                        .unwrap()
                });
                Reply::<_, aws_sdk_sfn::operation::list_executions::ListExecutionsError>::Output(
                    aws_sdk_sfn::operation::list_executions::ListExecutionsOutput::builder()
                        .set_executions(Some(items.collect()))
                        .set_next_token(next)
                        .build()
                        .unwrap(),
                )
            },
        );

        let f = self.clone();
        let describe_execution =
            route(move |req: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionInput| {
                let arn = req.execution_arn().unwrap_or_default().to_string();
                if let Some(r) = f.begin("DescribeExecution", arn.clone()) {
                    return Reply::Raw(r);
                }
                let s = f.state();
                let e = s.executions.iter().find(|e| e.arn == arn).expect("a known execution");
                let (status, stop) = e.status_at(s.elapsed());
                Reply::<_, aws_sdk_sfn::operation::describe_execution::DescribeExecutionError>::Output(
                    aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput::builder()
                        .execution_arn(&e.arn)
                        .state_machine_arn(&s.sm_arn)
                        .status(aws_sdk_sfn::types::ExecutionStatus::from(status))
                        .set_stop_date(stop.map(DateTime::from))
                        .start_date(DateTime::from(e.start))
                        .state_machine_version_arn(format!("{}:{}", s.sm_arn, e.version))
                        .set_state_machine_alias_arn(e.alias.clone())
                        .set_error(e.error.clone())
                        .set_cause(e.cause.clone())
                        .input(&e.input)
                        .build()
                        .unwrap(),
                )
            });

        let f = self.clone();
        let start = route(move |req: &aws_sdk_sfn::operation::start_execution::StartExecutionInput| {
            use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
            let target = req.state_machine_arn().unwrap_or_default().to_string();
            let input = req.input().unwrap_or("{}").to_string();
            let name = req.name().map(str::to_string);
            if let Some(r) = f.begin("StartExecution", name.clone().unwrap_or_default()) {
                return Reply::Raw(r);
            }
            let mut s = f.state();
            let name = name.unwrap_or_else(|| format!("auto-{}", s.executions.len() + 1));
            let arn =
                format!("arn:{}:states:{}:{}:execution:{}:{name}", s.partition, s.region, s.account, s.name);
            // As AWS: a name is taken once; the same running execution is answered again.
            if let Some(e) = s.executions.iter().find(|e| e.arn == arn) {
                if e.status_at(s.elapsed()).0 == "RUNNING" && e.input == input {
                    let out = StartExecutionOutput::builder()
                        .execution_arn(&arn)
                        .start_date(DateTime::from(e.start));
                    return Reply::Output(out.build().unwrap());
                }
                return Reply::Error(StartExecutionError::ExecutionAlreadyExists(
                    aws_sdk_sfn::types::error::ExecutionAlreadyExists::builder()
                        .message(format!("Execution Already Exists: '{arn}'"))
                        .build(),
                ));
            }
            let alias = s.aliases.iter().find(|(n, _)| format!("{}:{n}", s.sm_arn) == target).cloned();
            let version = match &alias {
                Some((name, routing)) => s
                    .lagging_routing(name, s.routing_lag, routing)
                    .iter()
                    .max_by_key(|(_, w)| *w)
                    .map(|(v, _)| v.clone())
                    .unwrap_or_default(),
                None => target.clone(),
            };
            let version: u32 = version.rsplit(':').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let (start, at) = (s.aws_now(), s.elapsed());
            s.executions.push(Execution {
                arn: arn.clone(),
                version,
                alias: alias.map(|_| target.clone()),
                status: "SUCCEEDED".into(),
                start,
                at,
                took: Duration::ZERO,
                redrive_count: 0,
                error: None,
                cause: None,
                input,
            });
            // An answer lost after the execution started: the caller retries.
            if s.lose_start_answers > 0 {
                s.lose_start_answers -= 1;
                return Reply::Raw(Raw::Status(500, Vec::new(), "text/plain"));
            }
            Reply::Output(
                StartExecutionOutput::builder()
                    .execution_arn(&arn)
                    .start_date(DateTime::from(start))
                    .build()
                    .unwrap(),
            )
        });

        let f = self.clone();
        let start_sync =
            route(move |req: &aws_sdk_sfn::operation::start_sync_execution::StartSyncExecutionInput| {
                let arn = req.state_machine_arn().unwrap_or_default().to_string();
                if let Some(r) = f.begin("StartSyncExecution", arn.clone()) {
                    return Reply::Raw(r);
                }
                let version: u32 = arn.rsplit(':').next().and_then(|n| n.parse().ok()).unwrap_or(0);
                let (status, error) =
                    f.state().sync_outcome.get(&version).cloned().unwrap_or(("SUCCEEDED".into(), None));
                let execution = f.execution(version, None, &status, error.as_deref(), Duration::ZERO);
                Reply::<_, aws_sdk_sfn::operation::start_sync_execution::StartSyncExecutionError>::Output(
                    aws_sdk_sfn::operation::start_sync_execution::StartSyncExecutionOutput::builder()
                        .execution_arn(&execution)
                        .start_date(DateTime::from_secs(0))
                        .stop_date(DateTime::from_secs(0))
                        .status(aws_sdk_sfn::types::SyncExecutionStatus::from(status.as_str()))
                        .set_error(error.clone())
                        .set_cause(error.map(|e| format!("{e} happened")))
                        .build()
                        .unwrap(),
                )
            });

        vec![
            start, start_sync, list_executions, describe_execution, describe_sm, validate, list_versions,
            publish, update_sm, list_aliases, describe_alias, create_alias, update_alias, delete_version,
        ]
    }

    fn cloudwatch_rule(&self) -> Handler {
        let f = self.clone();
        route(move |req: &aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsInput| {
            let names: Vec<String> = req.alarm_names().to_vec();
            if let Some(r) = f.begin("DescribeAlarms", names.join(",")) {
                return Reply::Raw(r);
            }
            let s = f.state();
            // AWS: without AlarmTypes only metric alarms are returned; at most 100 names.
            if names.len() > 100 {
                return Reply::Error(DescribeAlarmsError::unhandled("more than 100 alarm names"));
            }
            let types = req.alarm_types();
            let want_metric = types.is_empty() || types.contains(&AlarmType::MetricAlarm);
            let want_composite = types.contains(&AlarmType::CompositeAlarm);
            let wanted: Vec<&Alarm> = s
                .alarms
                .iter()
                .filter(|a| names.contains(&a.name) && if a.composite { want_composite } else { want_metric })
                .collect();
            // AWS pages: at most MaxRecords (default 50, at most 100) per answer, and fewer when
            // the fake's page size says so.
            let limit = (req.max_records().unwrap_or(50).clamp(1, 100) as usize).min(s.page_size);
            let keys: Vec<String> = wanted.iter().map(|a| a.name.clone()).collect();
            let (page, next) = paginate(&keys, req.next_token(), limit);
            let chosen = wanted.into_iter().filter(|a| page.contains(&a.name));
            let mut out = DescribeAlarmsOutput::builder().set_next_token(next);
            for a in chosen {
                let state = StateValue::from(a.state.as_str());
                let transitioned = aws_sdk_cloudwatch::primitives::DateTime::from(a.transitioned);
                if a.composite && want_composite {
                    out = out.composite_alarms(
                        CompositeAlarm::builder()
                            .alarm_name(&a.name)
                            .state_value(state)
                            .state_transitioned_timestamp(transitioned)
                            .build(),
                    );
                } else if !a.composite && want_metric {
                    out = out.metric_alarms(
                        MetricAlarm::builder()
                            .alarm_name(&a.name)
                            .state_value(state)
                            .state_transitioned_timestamp(transitioned)
                            .build(),
                    );
                }
            }
            Reply::Output(out.build())
        })
    }
}

impl State {
    /// Virtual time since the fake was made.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// AWS's time: the real clock, plus the virtual time since the fake was made, less how far
    /// AWS is behind the runner.
    pub fn aws_now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now() + self.start.elapsed() - self.aws_behind
    }

    /// Publishes the current revision (an already published one gives its version back), or
    /// None when that would exceed the version quota.
    fn publish_current(&mut self) -> Option<String> {
        let current = self.revision;
        let number = match self.versions.last() {
            Some(v) if v.revision == current => v.number,
            _ if self.versions.len() >= self.version_quota => return None,
            last => {
                let number = last.map_or(1, |v| v.number + 1);
                let definition = self.definition.clone();
                self.versions.push(Version { number, revision: current, definition });
                number
            }
        };
        Some(format!("{}:{number}", self.sm_arn))
    }

    fn alias(&self, arn: &str) -> Option<(&str, &[(String, i32)])> {
        self.aliases
            .iter()
            .find(|(n, _)| format!("{}:{n}", self.sm_arn) == arn)
            .map(|(n, r)| (n.as_str(), r.as_slice()))
    }
}

fn quota_exceeded() -> aws_sdk_sfn::types::error::ServiceQuotaExceededException {
    aws_sdk_sfn::types::error::ServiceQuotaExceededException::builder()
        .message("Maximum number of versions per state machine reached: 1000")
        .build()
}

/// `{"__type": code, "message": message}` in CBOR, as an rpc-v2 service answers an error.
pub fn cbor_error(code: &str, message: &str) -> Vec<u8> {
    let text = |s: &str| {
        assert!(s.len() < 24, "a short string");
        let mut b = vec![0x60 | s.len() as u8];
        b.extend_from_slice(s.as_bytes());
        b
    };
    let mut out = vec![0xa2];
    for part in ["__type", code, "message", message] {
        out.extend(text(part));
    }
    out
}

fn paginate(items: &[String], token: Option<&str>, limit: usize) -> (Vec<String>, Option<String>) {
    let start: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    (items[start.min(items.len())..end].to_vec(), next)
}

fn to_items(routing: &[(String, i32)]) -> Vec<RoutingConfigurationListItem> {
    routing
        .iter()
        .map(|(arn, w)| {
            RoutingConfigurationListItem::builder().state_machine_version_arn(arn).weight(*w).build().unwrap()
        })
        .collect()
}

fn from_items(items: &[RoutingConfigurationListItem]) -> Vec<(String, i32)> {
    items.iter().map(|i| (i.state_machine_version_arn().to_string(), i.weight())).collect()
}

fn check_weights(routing: &[(String, i32)]) -> Option<ValidationException> {
    let sum: i32 = routing.iter().map(|(_, w)| w).sum();
    (routing.is_empty() || routing.len() > 2 || sum != 100)
        .then(|| ValidationException::builder().message("weights must sum to 100").build())
}

/// `v3=70,v4=30`
pub fn short_routing(routing: &[(String, i32)]) -> String {
    routing
        .iter()
        .map(|(arn, w)| format!("v{}={w}", arn.rsplit(':').next().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}
