//! AWS set-up: region, profile, endpoint, retries and timeouts, from the standard AWS chain with
//! flags on top, and the clients of each target of a release in waves (another region, another
//! account's through an assumed role: [`role`]). The rest of the program takes these clients and
//! never builds its own. What a failed call means is [`error`]'s.

mod error;
mod role;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sfn::config::SharedCredentialsProvider;
use aws_sdk_sfn::config::retry::RetryPartition;
use futures_util::future::join_all;

pub use error::{AwsError, AwsResultExt, FailureKind, failure_kind, sdk_error};
pub use role::{RENEW_BEFORE, RoleCredentials, SESSION};

use crate::arn::StateMachineRef;
use crate::cli::GlobalArgs;
use crate::clock::ServerClock;
use crate::exit_code::Failure;
use crate::pacer::{CHANGES, Pacer};
use crate::place::Place;
use crate::text::shell_line;

/// Where a printed command reaches AWS: `--region`, `--profile` and `--endpoint-url`, each when
/// known. The same three flags serve sfndeploy's commands (as the user gave them) and the AWS
/// CLI's (as this run resolved them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsFlags {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

impl AwsFlags {
    /// The flags as words: `--region`, `R`, ...
    pub fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        for (flag, value) in
            [("--region", &self.region), ("--profile", &self.profile), ("--endpoint-url", &self.endpoint_url)]
        {
            if let Some(v) = value {
                words.extend([flag.to_string(), v.clone()]);
            }
        }
        words
    }
}

impl fmt::Display for AwsFlags {
    /// `--region eu-west-1 --profile 'prod admin'`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_line(&self.words()))
    }
}

/// The AWS clients sfndeploy uses, sharing one configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    pub sfn: aws_sdk_sfn::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sts: aws_sdk_sts::Client,
    /// For reading the health signals while traffic moves (see [`Watchers`]).
    pub watch: Watchers,
    /// AWS's time, from the answers' `Date` headers.
    pub clock: ServerClock,
    /// Paces the changes (alias updates, publishes) inside the account's rate.
    pub changes: Pacer,
    /// The region in use, for messages and the restore command.
    pub region: String,
    /// What points the AWS CLI where this run went: `--region R`, and `--profile P` and
    /// `--endpoint-url U` when this run used them; for every printed `aws` command.
    pub aws_cli: AwsFlags,
    /// Where the credentials come from, to read their expiry (None: none configured).
    pub credentials: Option<aws_sdk_sfn::config::SharedCredentialsProvider>,
    /// The configuration itself, for clients made later (an SNS topic's, in its own region).
    pub sdk: aws_config::SdkConfig,
    /// How the clients of a wave's target are made.
    pub reach: Reach,
}

/// A place a run acts in, reached: the run's own region, or a target of a release in waves.
#[derive(Clone, Debug)]
pub struct Reached {
    /// Its wave (0 without waves).
    pub wave: usize,
    /// In a release in waves, its name: `us-east-1:111111111111` (region and account).
    pub place: Option<String>,
    pub clients: Clients,
}

/// How the clients of a wave's target (another region, or another account's) are made.
#[derive(Clone)]
pub enum Reach {
    /// From the run's own configuration: the target's region and, for another account, the role
    /// assumed from the run's credentials (see [`role`]).
    Sdk { max_attempts: u32 },
    /// By this function, from the run's own clients (tests: a fake AWS per target).
    Given(MakeClients),
}

/// Makes the clients of a target from the run's own.
pub type MakeClients = Arc<dyn Fn(&Place, &Clients) -> Clients + Send + Sync>;

impl fmt::Debug for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reach::Sdk { max_attempts } => write!(f, "Sdk {{ max_attempts: {max_attempts} }}"),
            Reach::Given(_) => f.write_str("Given"),
        }
    }
}

/// The clients that read the health signals during a deploy. Throttling is back-pressure, not
/// an outage: these use the standard retry (no client-side rate limiter, which after one
/// throttle holds every later call of the process for seconds) on a retry partition of their
/// own, [`WATCH_ATTEMPTS`] attempt, so a throttled read comes back as a throttle at once
/// and the deploy slows its own polling. Changes (publishes, alias updates) keep the adaptive
/// retry of [`Clients::sfn`].
#[derive(Clone, Debug)]
pub struct Watchers {
    pub sfn: aws_sdk_sfn::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

/// Attempts per health-signal read: one. The next poll is the retry, at the pace the deploy
/// chooses; an SDK retry of a throttled read would spend the account's tokens at once.
pub const WATCH_ATTEMPTS: u32 = 1;

impl Clients {
    /// Loads the AWS configuration: `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, credentials
    /// and so on, overridden by `--region`, `--profile` and `--endpoint-url`. A state machine
    /// given by ARN names its own region (and so its partition), for every client.
    /// `env` is where `AWS_PROFILE` and `AWS_ENDPOINT_URL` are read for printed commands (the
    /// SDK reads the process's own environment).
    ///
    /// A release in waves (`first_target`, its first wave's first target) needs no region of its
    /// own: without one from the chain, the run's clients are that target's region's.
    pub async fn connect(
        args: &GlobalArgs,
        state_machine: Option<&StateMachineRef>,
        first_target: Option<&Place>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let mut config = load(args, state_machine).await?;
        if config.region().is_none()
            && let Some(target) = first_target
        {
            config = config.to_builder().region(Region::new(target.region.clone())).build();
        }
        let Some(region) = config.region().map(|r| r.to_string()) else {
            return Err(Failure::usage(
                "no AWS region is set: pass --region, set AWS_REGION, or set a region in your AWS profile",
            ));
        };
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let profile = args.profile.clone().or_else(|| env("AWS_PROFILE"));
        let endpoint = args.endpoint_url.clone().or_else(|| env("AWS_ENDPOINT_URL"));
        let aws_cli = AwsFlags { region: Some(region), profile, endpoint_url: endpoint };
        Ok(Clients::new(&config, aws_cli, args.max_attempts))
    }

    /// The clients of one AWS configuration; `aws_cli` says where it points (its region first).
    pub fn new(config: &aws_config::SdkConfig, aws_cli: AwsFlags, max_attempts: u32) -> Self {
        Clients::in_partition(config, aws_cli, max_attempts, None)
    }

    /// The clients of a wave's target: its region and account, with a pacer and retry partitions
    /// of its own (Step Functions' and CloudWatch's buckets are per account and region: a
    /// throttle in one target slows no other).
    pub fn at(&self, place: &Place) -> Clients {
        let max_attempts = match &self.reach {
            Reach::Given(make) => return make(place, self),
            Reach::Sdk { max_attempts } => *max_attempts,
        };
        let region = Region::new(place.region.clone());
        let mut config = self.sdk.to_builder().region(region.clone());
        let mut aws_cli = AwsFlags { region: Some(place.region.clone()), ..self.aws_cli.clone() };
        if let Some(role) = &place.role {
            let sts = aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&self.sdk)
                    .region(region)
                    .interceptor(self.clock.interceptor())
                    .build(),
            );
            let credentials = RoleCredentials::new(sts, role, self.clock.clone());
            // One cache, ours, judged on AWS's time.
            config = config
                .credentials_provider(SharedCredentialsProvider::new(credentials))
                .identity_cache(IdentityCache::no_cache());
            // The profile is the run's own account's, not the role's.
            aws_cli.profile = None;
        }
        let partition = format!("{}-{}", place.region, place.role_account().unwrap_or("own"));
        Clients::in_partition(&config.build(), aws_cli, max_attempts, Some(&partition))
    }

    /// Where a run acts: the run's own region (no waves), or each target of `waves`, in wave
    /// order, each reached at once (its role assumed, its account confirmed).
    pub async fn targets(&self, waves: &[Vec<Place>]) -> Result<Vec<Reached>> {
        if waves.is_empty() {
            return Ok(vec![Reached { wave: 0, place: None, clients: self.clone() }]);
        }
        let each = waves.iter().enumerate().flat_map(|(w, places)| places.iter().map(move |p| (w, p)));
        let reached = join_all(each.map(|(wave, place)| async move {
            let clients = self.at(place);
            let account = clients.account_at(place).await?;
            Ok(Reached { wave, place: Some(format!("{}:{account}", place.region)), clients })
        }))
        .await;
        reached.into_iter().collect()
    }

    /// The account these clients (made by [`Clients::at`] for `place`) act in, asked of STS:
    /// `place`'s region reached and its role assumed, or a sentence saying why not (exit 1).
    pub async fn account_at(&self, place: &Place) -> Result<String> {
        let me = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .aws_context(|| format!("reaching wave target {place} (sts:GetCallerIdentity)"))
            .map_err(|e| {
                Failure::err(crate::exit_code::ExitCode::Failure, format!("{e:#}: nothing was changed"))
            })?;
        let account = me.account().unwrap_or_default().to_string();
        if let Some(expected) = place.role_account()
            && expected != account
        {
            return Err(Failure::err(
                crate::exit_code::ExitCode::Failure,
                format!(
                    "wave target {place}: the role's credentials act in account {account}, not {expected}: \
                     nothing was changed"
                ),
            ));
        }
        Ok(account)
    }

    fn in_partition(
        config: &aws_config::SdkConfig,
        aws_cli: AwsFlags,
        max_attempts: u32,
        partition: Option<&str>,
    ) -> Self {
        let clock = ServerClock::default();
        let watch_retry = RetryConfig::standard().with_max_attempts(WATCH_ATTEMPTS.min(max_attempts));
        let watch_partition = || match partition {
            Some(p) => RetryPartition::new(format!("sfndeploy-watch-{p}")),
            None => RetryPartition::new("sfndeploy-watch"),
        };
        let mut changes = aws_sdk_sfn::config::Builder::from(config).interceptor(clock.interceptor());
        if let Some(p) = partition {
            changes = changes.retry_partition(RetryPartition::new(format!("sfndeploy-{p}")));
        }
        Clients {
            sfn: aws_sdk_sfn::Client::from_conf(changes.build()),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(config).interceptor(clock.interceptor()).build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(config).interceptor(clock.interceptor()).build(),
            ),
            watch: Watchers {
                sfn: aws_sdk_sfn::Client::from_conf(
                    aws_sdk_sfn::config::Builder::from(config)
                        .retry_config(watch_retry.clone())
                        .retry_partition(watch_partition())
                        .interceptor(clock.interceptor())
                        .build(),
                ),
                cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                    aws_sdk_cloudwatch::config::Builder::from(config)
                        .retry_config(watch_retry)
                        .retry_partition(watch_partition())
                        .interceptor(clock.interceptor())
                        .build(),
                ),
            },
            clock,
            changes: Pacer::new(CHANGES),
            region: aws_cli.region.clone().unwrap_or_default(),
            aws_cli,
            credentials: config.credentials_provider(),
            sdk: config.clone(),
            reach: Reach::Sdk { max_attempts },
        }
    }
}

/// The AWS configuration from the standard chain, with the flags on top.
async fn load(args: &GlobalArgs, state_machine: Option<&StateMachineRef>) -> Result<aws_config::SdkConfig> {
    let region = region_for(args.region.as_deref(), state_machine)?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config(args))
        .timeout_config(timeout_config(args));
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    if let Some(profile) = &args.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &args.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    Ok(loader.load().await)
}

/// Adaptive retry: the standard retry (backoff with jitter for throttling, 5xx and timeouts)
/// plus client-side rate limiting, which slows this process's calls down when the account's
/// API rate is exhausted (many deploys at once) instead of failing them.
fn retry_config(args: &GlobalArgs) -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(args.max_attempts)
}

/// `--call-timeout` for each attempt, and for each call, retries included, at most
/// `--call-timeout` × `--max-attempts`.
fn timeout_config(args: &GlobalArgs) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(args.call_timeout.min(Duration::from_secs(10)))
        .operation_attempt_timeout(args.call_timeout)
        .operation_timeout(args.call_timeout.saturating_mul(args.max_attempts))
        .build()
}

/// The `--region`, `--profile` and `--endpoint-url` the user gave, to repeat in printed
/// sfndeploy commands (values from the environment carry over by themselves).
pub fn given_flags(args: &GlobalArgs) -> AwsFlags {
    AwsFlags {
        region: args.region.clone(),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
    }
}

/// The region to use: a state machine ARN's own, which `--region` may repeat but not contradict;
/// else `--region`; else None (the AWS chain decides).
pub fn region_for(flag: Option<&str>, state_machine: Option<&StateMachineRef>) -> Result<Option<String>> {
    let from_arn = state_machine.and_then(StateMachineRef::region);
    match (flag, from_arn) {
        (Some(flag), Some(arn)) if flag != arn => Err(Failure::usage(format!(
            "--region {flag} contradicts the state machine ARN, which is in {arn}: drop --region or fix the ARN"
        ))),
        (_, Some(arn)) => Ok(Some(arn.to_string())),
        (flag, None) => Ok(flag.map(str::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_has_an_overall_time_limit_and_adaptive_retry() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "sfndeploy", "--state-machine", "orders", "--alias", "prod", "--region", "us-east-1",
            "--call-timeout", "3s", "--max-attempts", "4",
        ])
        .unwrap();
        let clients = Clients::connect(&cli.global, None, None, &crate::env::process_env).await.unwrap();
        let check = |timeouts: Option<&TimeoutConfig>, retry: Option<&RetryConfig>| {
            let timeouts = timeouts.expect("a timeout config");
            assert_eq!(timeouts.operation_attempt_timeout(), Some(Duration::from_secs(3)));
            assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(12)), "retries included");
            let retry = retry.expect("a retry config");
            assert_eq!(retry.mode(), aws_config::retry::RetryMode::Adaptive);
            assert_eq!(retry.max_attempts(), 4);
        };
        check(clients.sfn.config().timeout_config(), clients.sfn.config().retry_config());
        check(clients.cloudwatch.config().timeout_config(), clients.cloudwatch.config().retry_config());
        check(clients.sts.config().timeout_config(), clients.sts.config().retry_config());
    }

    #[tokio::test]
    async fn each_target_has_its_region_its_bucket_and_its_retry_partitions() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "sfndeploy", "--state-machine", "orders", "--alias", "prod", "--region", "us-east-1",
            "--profile", "ci",
        ])
        .unwrap();
        let env = |_: &str| None;
        let own = Clients::connect(&cli.global, None, None, &env).await.unwrap();
        let eu = own.at(&Place::parse("eu-west-1").unwrap());
        let other = own.at(&Place::parse("eu-west-1@arn:aws:iam::111111111111:role/deploy").unwrap());
        assert_eq!(eu.region, "eu-west-1");
        assert_eq!(eu.sfn.config().region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(eu.cloudwatch.config().region().map(|r| r.as_ref()), Some("eu-west-1"));
        // The printed commands point at the target; a role's account is not the profile's.
        assert_eq!(eu.aws_cli.profile.as_deref(), Some("ci"));
        assert_eq!(other.aws_cli.profile, None);
        assert_eq!(other.aws_cli.region.as_deref(), Some("eu-west-1"));
        // A bucket of changes, and retry partitions, per target: a throttle in one slows no other.
        assert!(!own.changes.shares(&eu.changes) && !eu.changes.shares(&other.changes));
        let partitions: std::collections::HashSet<String> = [&own, &eu, &other]
            .iter()
            .flat_map(|c| [c.sfn.config().retry_partition(), c.watch.sfn.config().retry_partition()])
            .flatten()
            .map(|p| format!("{p:?}"))
            .collect();
        // The run's own changes keep the SDK's partition (its service and region).
        assert_eq!(partitions.len(), 5, "{partitions:?}");
        // The role's session is the one cache, ours (judged on AWS's time).
        assert!(other.sfn.config().identity_cache().is_some());
        assert!(other.credentials.is_some());
    }

    #[test]
    fn a_state_machine_arn_names_the_region() {
        let arn =
            |r: &str| StateMachineRef::Arn(format!("arn:aws:states:{r}:123456789012:stateMachine:orders"));
        let name = StateMachineRef::Name("orders".into());
        let cn = StateMachineRef::Arn("arn:aws-cn:states:cn-north-1:123456789012:stateMachine:orders".into());
        assert_eq!(region_for(None, Some(&arn("eu-west-1"))).unwrap().as_deref(), Some("eu-west-1"));
        assert_eq!(
            region_for(Some("eu-west-1"), Some(&arn("eu-west-1"))).unwrap().as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_for(None, Some(&cn)).unwrap().as_deref(), Some("cn-north-1"));
        assert_eq!(region_for(Some("us-east-1"), Some(&name)).unwrap().as_deref(), Some("us-east-1"));
        assert_eq!(region_for(None, Some(&name)).unwrap(), None);
        assert_eq!(region_for(None, None).unwrap(), None);
        let err = region_for(Some("us-east-1"), Some(&arn("eu-west-1"))).unwrap_err();
        assert_eq!(crate::exit_code::exit_code_of(&err), crate::exit_code::ExitCode::Usage);
        assert!(err.to_string().contains("contradicts"), "{err}");
    }
}
