//! Releases in waves, in-process on virtual time: a target in another account is reached with a
//! role's credentials that are renewed, on AWS's time, before they expire, so a bake of hours
//! never signs a call with an expired session; and each target spends its own account's and
//! region's bucket for changes, not one shared by all.

mod fake;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sfn::config::SharedCredentialsProvider;
use clap::Parser;
use fake::{Fake, Run, clients_of, clients_with};
use sfndeploy::aws::{Clients, Reach, RoleCredentials};
use sfndeploy::cli::Cli;
use sfndeploy::config::{DeployConfig, Invocation};
use sfndeploy::deploy::Deploy;
use sfndeploy::place::Place;
use sfndeploy::report::{Event, Reporter};
use sfndeploy::signals::Signals;

const ROLE: &str = "arn:aws:iam::111111111111:role/deployer";

/// A release of `names` in waves, each target (as `--wave` names it) answered by its own fakes;
/// the run's own account is the fakes of `own`. A target with a role is reached as sfndeploy
/// reaches one: the role's credentials, assumed through the run's own STS.
async fn deploy_waves(own: &[Fake], targets: Vec<(String, Vec<Fake>)>, names: &[&str], args: &[&str]) -> Run {
    let mut base = clients_of(own);
    let issuer = own[0].clone();
    let targets: Vec<(Place, Vec<Fake>)> =
        targets.into_iter().map(|(t, fakes)| (Place::parse(&t).expect("a target"), fakes)).collect();
    base.reach = Reach::Given(Arc::new(move |place: &Place, base: &Clients| {
        let fakes = targets.iter().find(|(p, _)| p == place).map(|(_, f)| f.clone()).expect("known target");
        match &place.role {
            None => clients_of(&fakes),
            Some(role) => {
                let credentials = RoleCredentials::new(base.sts.clone(), role, base.clock.clone());
                clients_with(&fakes, Some((SharedCredentialsProvider::new(credentials), issuer.clone())))
            }
        }
    }));
    let mut argv = vec!["sfndeploy", "--alias", "prod"];
    for name in names {
        argv.extend(["--state-machine", name]);
    }
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("flags parse");
    let cfg = DeployConfig::from_args(&cli.deploy, Invocation::default()).expect("flags valid");
    let reporter = Reporter::recording();
    let result =
        Deploy { clients: &base, cfg: &cfg, reporter: &reporter, signals: Signals::manual().0 }.run().await;
    Run { result, events: reporter.events(), entries: reporter.entries() }
}

#[tokio::test(start_paused = true)]
async fn a_three_hour_bake_renews_the_other_accounts_session_before_it_expires() {
    // Wave 1 is in another account: it is watched through all of wave 2's bake... of 3 hours, three
    // times the hour a chained role's session lasts.
    let other = Fake::in_account("aws", "eu-west-1", "111111111111", "orders", 3)
        .with_alias("prod", &[(2, 100)])
        .with_alarm("errors", "OK", false);
    let own = Fake::new("orders", 3).with_alias("prod", &[(2, 100)]).with_alarm("errors", "OK", false);
    let targets =
        vec![(format!("eu-west-1@{ROLE}"), vec![other.clone()]), ("us-east-1".into(), vec![own.clone()])];
    let args = [
        "--wave",
        &format!("eu-west-1@{ROLE}"),
        "--wave",
        "us-east-1",
        "--wave-bake",
        "3h",
        "--strategy",
        "canary",
        "--increment",
        "50",
        "--interval",
        "60",
        "--alarm-polling",
        "30",
        "--alarms",
        "errors",
    ];
    let run = deploy_waves(std::slice::from_ref(&own), targets, &["orders"], &args).await;
    assert!(run.result.is_ok(), "{}", run.message());
    assert_eq!(other.routing("prod"), [(3, 100)]);
    assert_eq!(own.routing("prod"), [(3, 100)]);
    let sessions = own.sessions();
    let bad = sessions.bad_uses.lock().unwrap().clone();
    assert!(
        bad.is_empty(),
        "{} calls signed with an expired or unknown key, the first {:?}",
        bad.len(),
        bad.first()
    );
    // The bake read the other account's alarms all along, renewing the hour-long session in time.
    let issued = sessions.issued.lock().unwrap().len();
    assert!(issued >= 4, "{issued} sessions for 3 hours and more");
    let alarm_reads = other.calls_of("DescribeAlarms").len();
    assert!(alarm_reads > 300, "{alarm_reads} reads of the other account's alarms");
}

#[tokio::test(start_paused = true)]
async fn each_target_spends_its_own_bucket_for_changes() {
    // Three regions of twenty state machines each: sixty alias updates in one step. One bucket of
    // 50 would hold the last ten back a second each; a bucket per target holds none.
    let names: Vec<String> = (1..=20).map(|i| format!("m{i:02}")).collect();
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let fleets: Vec<Vec<Fake>> = regions
        .iter()
        .map(|r| names.iter().map(|n| Fake::new_in("aws", r, n, 3).with_alias("prod", &[(2, 100)])).collect())
        .collect();
    let targets = regions.iter().zip(&fleets).map(|(r, f)| (r.to_string(), f.clone())).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let wave = regions.join(",");
    let args = ["--wave", &wave, "--strategy", "allatonce", "--history-max", "0"];
    let run = deploy_waves(&fleets[0], targets, &refs, &args).await;
    assert!(run.result.is_ok(), "{}", run.message());
    let mut at: Vec<Duration> =
        fleets.iter().flatten().flat_map(|f| f.calls_of("UpdateStateMachineAlias")).map(|c| c.at).collect();
    at.sort();
    assert_eq!(at.len(), 60);
    let spread = at[59] - at[0];
    assert!(spread < Duration::from_millis(500), "the updates spread over {spread:?}: {at:?}");
    let changed = run.events.iter().filter(|e| matches!(e, Event::WeightsChanged { .. })).count();
    assert_eq!(changed, 60);
}

/// `orders` (v1..v3, prod on v2, an OK alarm `errors`) in us-east-1 (wave 1) and eu-west-1
/// (wave 2).
fn two_regions() -> (Fake, Fake) {
    let make = |region: &str| {
        Fake::new_in("aws", region, "orders", 3)
            .with_alias("prod", &[(2, 100)])
            .with_alarm("errors", "OK", false)
    };
    (make("us-east-1"), make("eu-west-1"))
}

async fn two_waves(us: &Fake, eu: &Fake, extra: &[&str]) -> Run {
    let targets =
        vec![("us-east-1".to_string(), vec![us.clone()]), ("eu-west-1".to_string(), vec![eu.clone()])];
    let mut args = vec![
        "--wave", "us-east-1", "--wave", "eu-west-1", "--wave-bake", "10m", "--strategy", "canary",
        "--increment", "50", "--interval", "60", "--alarm-polling", "10", "--alarms", "errors",
    ];
    args.extend_from_slice(extra);
    deploy_waves(std::slice::from_ref(us), targets, &["orders"], &args).await
}

#[tokio::test(start_paused = true)]
async fn on_wave_failure_current_takes_back_only_the_failing_wave() {
    let (us, eu) = two_regions();
    // Wave 2 starts after wave 1's 60 s canary and 10 min bake: its alarm fires half-way in.
    fake::fire_alarm_after(&eu, "errors", Duration::from_secs(60 + 600 + 30));
    let run = two_waves(&us, &eu, &["--on-wave-failure", "current"]).await;
    assert_eq!(run.code(), sfndeploy::exit_code::ExitCode::RolledBack, "{}", run.message());
    assert_eq!(us.routing("prod"), [(3, 100)], "wave 1 stays on its new version");
    assert_eq!(eu.routing("prod"), [(2, 100)], "wave 2 back on its old one");
    let said = run.message();
    assert!(said.contains("errors@eu-west-1:123456789012"), "{said}");
    assert!(said.contains("stays as its wave left it") && said.contains("--region us-east-1"), "{said}");
    // A bad signal while a wave bakes is that wave's: it goes back, the earlier ones stay.
    let (us, eu) = two_regions();
    fake::fire_alarm_after(&us, "errors", Duration::from_secs(60 + 300));
    let run = two_waves(&us, &eu, &["--on-wave-failure", "current"]).await;
    assert_eq!(run.code(), sfndeploy::exit_code::ExitCode::RolledBack, "{}", run.message());
    assert_eq!(us.routing("prod"), [(2, 100)], "the baking wave goes back: {}", run.message());
    assert!(eu.calls_of("UpdateStateMachineAlias").is_empty(), "wave 2 never moved");
    // Without it, both go back.
    let (us, eu) = two_regions();
    fake::fire_alarm_after(&eu, "errors", Duration::from_secs(60 + 600 + 30));
    let run = two_waves(&us, &eu, &[]).await;
    assert_eq!(run.code(), sfndeploy::exit_code::ExitCode::RolledBack, "{}", run.message());
    assert_eq!((us.routing("prod"), eu.routing("prod")), (vec![(2, 100)], vec![(2, 100)]));
}

#[tokio::test(start_paused = true)]
async fn the_next_job_waits_for_its_waves_blocker_then_stops_with_exit_9() {
    let (us, eu) = two_regions();
    let run = two_waves(&us, &eu, &["--stop-after-wave", "1"]).await;
    assert!(run.result.is_ok(), "{}", run.message());
    assert!(run.events.iter().any(|e| matches!(e, Event::WaveDone { wave: 1, .. })), "{:?}", run.events);
    assert_eq!((us.routing("prod"), eu.routing("prod")), (vec![(3, 100)], vec![(2, 100)]));
    // The next job: wave 2's alarm fires; it waits --blocker-wait, then stops, nothing moved.
    eu.set_alarm("errors", "ALARM");
    let started = tokio::time::Instant::now();
    let run = two_waves(&us, &eu, &["--stop-after-wave", "1", "--resume", "--blocker-wait", "5m"]).await;
    assert_eq!(run.code(), sfndeploy::exit_code::ExitCode::Blocked, "{}", run.message());
    assert!(started.elapsed() >= Duration::from_secs(300), "waited {:?}", started.elapsed());
    assert_eq!((us.routing("prod"), eu.routing("prod")), (vec![(3, 100)], vec![(2, 100)]));
    assert!(eu.calls_of("UpdateStateMachineAlias").is_empty(), "wave 2 never moved");
    assert!(run.message().contains("'errors@eu-west-1:123456789012' is in ALARM"), "{}", run.message());
    // Once it clears, the same command goes on, and a failure in wave 2 takes wave 1 back too.
    eu.set_alarm("errors", "OK");
    fake::fire_alarm_after(&eu, "errors", Duration::from_secs(30));
    let run = two_waves(&us, &eu, &["--stop-after-wave", "1", "--resume"]).await;
    assert_eq!(run.code(), sfndeploy::exit_code::ExitCode::RolledBack, "{}", run.message());
    assert_eq!((us.routing("prod"), eu.routing("prod")), (vec![(2, 100)], vec![(2, 100)]));
}

#[tokio::test(start_paused = true)]
async fn a_role_of_the_runs_own_account_in_the_same_region_is_one_place_deployed_once() {
    let (us, _) = two_regions();
    let own_role = "us-east-1@arn:aws:iam::123456789012:role/deployer";
    let targets = vec![("us-east-1".to_string(), vec![us.clone()]), (own_role.to_string(), vec![us.clone()])];
    let args = ["--wave", "us-east-1", "--wave", own_role, "--alarms", "errors"];
    let run = deploy_waves(std::slice::from_ref(&us), targets, &["orders"], &args).await;
    assert_eq!(run.code(), sfndeploy::exit_code::ExitCode::Usage, "{}", run.message());
    assert!(
        run.message().contains("same region of the same account (us-east-1:123456789012)"),
        "{}",
        run.message()
    );
    let changes = fake::MUTATING.iter().flat_map(|op| us.calls_of(op)).count();
    assert_eq!(changes, 0, "nothing changed");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_region_slows_only_its_own_alarm_reads() {
    // One wave of two regions, a 3-minute canary read every 10 s; eu-west-1's CloudWatch throttles
    // every alarm read for a minute of it. us-east-1's are read on time all along.
    let (us, eu) = two_regions();
    eu.hook(|s, op, _| {
        let t = s.elapsed();
        (op == "DescribeAlarms" && t > Duration::from_secs(60) && t < Duration::from_secs(120))
            .then_some(fake::Fault::Throttle)
    });
    let targets =
        vec![("us-east-1".to_string(), vec![us.clone()]), ("eu-west-1".to_string(), vec![eu.clone()])];
    let args = [
        "--wave", "us-east-1,eu-west-1", "--strategy", "canary", "--increment", "50", "--interval", "180",
        "--alarm-polling", "10", "--alarms", "errors",
    ];
    let run = deploy_waves(std::slice::from_ref(&us), targets, &["orders"], &args).await;
    assert!(run.result.is_ok(), "{}", run.message());
    let reads_in = |fake: &Fake, from: u64, to: u64| {
        let window = Duration::from_secs(from)..Duration::from_secs(to);
        fake.calls_of("DescribeAlarms").iter().filter(|c| window.contains(&c.at)).count()
    };
    // Every 10 s in us-east-1 while eu-west-1 was throttled; eu-west-1 backed off.
    assert!(reads_in(&us, 65, 120) >= 5, "us-east-1: {} reads", reads_in(&us, 65, 120));
    let eu_attempts = eu.calls_of("DescribeAlarms").iter().filter(|c| c.fault.is_some()).count();
    assert!(eu_attempts < 6, "eu-west-1 backed off: {eu_attempts} throttled reads");
}

#[tokio::test(start_paused = true)]
async fn failed_executions_are_started_again_in_their_own_target() {
    // Wave 2's new version fails every execution: its gate rolls both waves back, and its failed
    // executions are started again on its old version, in eu-west-1, not in the run's own region.
    let (us, eu) = two_regions();
    let _us = us.traffic("prod", Duration::from_millis(50), |_| ("SUCCEEDED", None));
    let _eu = eu.traffic("prod", Duration::from_millis(50), |v| {
        if v == 3 { ("FAILED", Some("Boom")) } else { ("SUCCEEDED", None) }
    });
    let run = two_waves(&us, &eu, &["--max-failure-rate", "10", "--rerun-failed"]).await;
    assert_eq!(run.code(), sfndeploy::exit_code::ExitCode::RolledBack, "{}", run.message());
    assert_eq!((us.routing("prod"), eu.routing("prod")), (vec![(2, 100)], vec![(2, 100)]));
    let reruns = eu.state().executions.iter().filter(|e| e.arn.contains(":rerun-")).count();
    assert!(reruns > 0, "{}", run.message());
    assert!(us.state().executions.iter().all(|e| !e.arn.contains(":rerun-")), "none in us-east-1");
    assert!(run.message().contains("started again on v2"), "{}", run.message());
}

#[tokio::test(start_paused = true)]
async fn each_target_prunes_at_its_own_pace() {
    // Two regions, 60 old versions each to delete: each region's bucket of deletions lets its
    // first 50 go at once. One bucket for both would hold half of them back a second each.
    let make = |region: &str| Fake::new_in("aws", region, "orders", 62).with_alias("prod", &[(61, 100)]);
    let (us, eu) = (make("us-east-1"), make("eu-west-1"));
    let targets =
        vec![("us-east-1".to_string(), vec![us.clone()]), ("eu-west-1".to_string(), vec![eu.clone()])];
    let args = [
        "--wave", "us-east-1,eu-west-1", "--strategy", "allatonce", "--history-max", "2", "--prune-rate", "1",
    ];
    let run = deploy_waves(std::slice::from_ref(&us), targets, &["orders"], &args).await;
    assert!(run.result.is_ok(), "{}", run.message());
    for fake in [&us, &eu] {
        let at: Vec<Duration> = fake.calls_of("DeleteStateMachineVersion").iter().map(|c| c.at).collect();
        assert_eq!(at.len(), 60, "{}", fake.state().region);
        assert!(at[49] - at[0] < Duration::from_millis(500), "{}: {at:?}", fake.state().region);
    }
}
