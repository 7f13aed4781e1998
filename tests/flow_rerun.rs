//! `--rerun-failed` in-process on virtual time: after a gate rolled the deploy back, each failed
//! execution of the new version that came through the alias is started again through it (on the
//! old version) with its own input, once each, up to `--rerun-max`; a retried call never starts
//! one twice; EXPRESS and a deploy without a gate are refused before any change.

mod fake;

use std::time::Duration;

use clap::Parser;
use fake::{Fake, deploy, standard};
use sfndeploy::cli::Cli;
use sfndeploy::config::{DeployConfig, Invocation};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::report::Event;

const CANARY: [&str; 10] = [
    "--strategy", "canary", "--increment", "50", "--interval", "30", "--alarm-polling", "1",
    "--max-failure-rate", "10",
];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = CANARY.to_vec();
    all.extend_from_slice(extra);
    all
}

/// v3 fails every execution through the alias, v2 succeeds.
fn failing_traffic(fake: &Fake) -> tokio::task::JoinHandle<()> {
    fake.traffic("prod", Duration::from_millis(50), |v| {
        if v == 3 { ("FAILED", Some("Boom")) } else { ("SUCCEEDED", None) }
    })
}

/// A failed execution: (ARN, input).
type Failed = Vec<(String, String)>;
/// A rerun: (ARN, version, input).
type Made = Vec<(String, u32, String)>;

/// The failed v3 executions through the alias, and the reruns.
fn executions(fake: &Fake) -> (Failed, Made) {
    let s = fake.state();
    let failed = s
        .executions
        .iter()
        .filter(|e| e.version == 3 && e.alias.is_some() && e.status == "FAILED")
        .map(|e| (e.arn.clone(), e.input.clone()))
        .collect();
    let reruns = s
        .executions
        .iter()
        .filter(|e| e.arn.contains(":rerun-"))
        .map(|e| (e.arn.clone(), e.version, e.input.clone()))
        .collect();
    (failed, reruns)
}

fn reruns(events: &[Event]) -> Vec<(String, Option<String>, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rerun { failed, restarted, outcome } => {
                Some((failed.clone(), restarted.clone(), outcome.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn each_failed_execution_is_started_again_on_the_old_version_with_its_input() {
    let fake = standard();
    let traffic = failing_traffic(&fake);
    let run = deploy(&fake, &args(&["--rerun-failed"])).await;
    traffic.abort();
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    let (failed, reruns_made) = executions(&fake);
    assert!(!failed.is_empty());
    let events = reruns(&run.events);
    assert_eq!(events.len(), failed.len(), "one rerun event per failed execution: {events:?}");
    assert_eq!(reruns_made.len(), failed.len(), "one new execution per failed one");
    for (failed_arn, input) in &failed {
        let (_, restarted, outcome) = events.iter().find(|(f, ..)| f == failed_arn).expect("its event");
        assert_eq!(outcome, "started");
        let made = reruns_made.iter().find(|(arn, ..)| Some(arn) == restarted.as_ref()).expect("started");
        assert_eq!(made.1, 2, "on the old version");
        assert_eq!(&made.2, input, "with its own input");
    }
    let message = run.message();
    assert!(
        message.contains(&format!(
            "--rerun-failed: {} failed execution(s) of v3 started again on v2",
            failed.len()
        )),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_cap_lists_the_rest_and_starts_none_of_them() {
    let fake = standard();
    let traffic = failing_traffic(&fake);
    let run = deploy(&fake, &args(&["--rerun-failed", "--rerun-max", "2"])).await;
    traffic.abort();
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let (failed, made) = executions(&fake);
    assert!(failed.len() > 2, "{failed:?}");
    assert_eq!(made.len(), 2);
    let events = reruns(&run.events);
    assert_eq!(events.iter().filter(|(_, r, o)| r.is_some() && o == "started").count(), 2);
    let listed: Vec<_> = events.iter().filter(|(_, r, o)| r.is_none() && o == "over_rerun_max").collect();
    assert_eq!(listed.len(), failed.len() - 2, "the rest listed: {events:?}");
}

#[tokio::test(start_paused = true)]
async fn a_retried_start_never_starts_an_execution_twice() {
    let fake = standard();
    // The first start's answer is lost after the execution began: the SDK retries the call.
    fake.state().lose_start_answers = 1;
    let traffic = failing_traffic(&fake);
    let run = deploy(&fake, &args(&["--rerun-failed"])).await;
    traffic.abort();
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let (failed, made) = executions(&fake);
    assert_eq!(made.len(), failed.len(), "exactly one rerun each: {made:?}");
    let starts = fake.calls().iter().filter(|c| c.op == "StartExecution").count();
    assert_eq!(starts, failed.len() + 1, "the lost answer was retried once: {:?}", reruns(&run.events));
    let events = reruns(&run.events);
    assert_eq!(events.iter().filter(|(_, _, o)| o == "already_started").count(), 1, "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn express_and_a_deploy_without_gates_are_refused_before_any_change() {
    let fake = standard();
    fake.state().kind = aws_sdk_sfn::types::StateMachineType::Express;
    let run = deploy(&fake, &args(&["--rerun-failed"])).await;
    assert_eq!(run.code(), ExitCode::Usage, "{}", run.message());
    assert!(run.message().contains("EXPRESS"), "{}", run.message());
    assert!(fake.mutating_calls().is_empty());

    let cli =
        Cli::try_parse_from(["sfndeploy", "--state-machine", "orders", "--alias", "prod", "--rerun-failed"])
            .unwrap();
    let err = DeployConfig::from_args(&cli.deploy, Invocation::default()).unwrap_err();
    assert!(format!("{err:#}").contains("--rerun-failed restarts the executions a health gate"), "{err:#}");
}

#[tokio::test(start_paused = true)]
async fn reruns_land_on_the_old_version_whatever_the_routing_lag() {
    // An alias update takes 5 s to reach StartExecution: a rerun through the alias right after
    // the rollback would run the bad version again, under the only name it may have.
    let fake = standard();
    fake.state().routing_lag = Duration::from_secs(5);
    // v3 starts failing 10 s into the canary: at the rollback, the routing 5 s before was 50/50.
    let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flip = failing.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        flip.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let traffic = fake.traffic("prod", Duration::from_millis(50), move |v| {
        if v == 3 && failing.load(std::sync::atomic::Ordering::Relaxed) {
            ("FAILED", Some("Boom"))
        } else {
            ("SUCCEEDED", None)
        }
    });
    let run = deploy(&fake, &args(&["--rerun-failed"])).await;
    traffic.abort();
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let (failed, made) = executions(&fake);
    assert_eq!(made.len(), failed.len());
    assert!(made.iter().all(|(_, version, _)| *version == 2), "every rerun on v2: {made:?}");
}

#[tokio::test(start_paused = true)]
async fn failed_executions_redriven_or_stopped_by_a_person_are_not_started_again() {
    let fake = standard();
    // v3's executions fail, and one in four is stopped by a person (ABORTED).
    let n = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let traffic = fake.traffic("prod", Duration::from_millis(50), move |v| {
        if v != 3 {
            return ("SUCCEEDED", None);
        }
        let k = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if k % 4 == 1 { ("ABORTED", None) } else { ("FAILED", Some("Boom")) }
    });
    // The two newest failed ones are redriven (and succeed) while the reruns start: after the
    // last list was read.
    let redriven = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = redriven.clone();
    fake.hook(move |s, op, _| {
        if op == "StartExecution" && seen.lock().unwrap().is_empty() {
            for e in s.executions.iter_mut().rev().filter(|e| e.version == 3 && e.status == "FAILED").take(2)
            {
                e.status = "SUCCEEDED".into();
                e.redrive_count = 1;
                seen.lock().unwrap().push(e.arn.clone());
            }
        }
        None
    });
    let run = deploy(&fake, &args(&["--rerun-failed"])).await;
    traffic.abort();
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let events = reruns(&run.events);
    let redriven = redriven.lock().unwrap().clone();
    assert_eq!(redriven.len(), 2);
    for arn in &redriven {
        let (_, restarted, outcome) = events.iter().find(|(f, ..)| f == arn).expect("its event");
        assert!(restarted.is_none() && outcome.starts_with("skipped_redriven"), "{outcome}");
    }
    let aborted: Vec<String> = fake
        .state()
        .executions
        .iter()
        .filter(|e| e.version == 3 && e.status == "ABORTED")
        .map(|e| e.arn.clone())
        .collect();
    assert!(!aborted.is_empty());
    for arn in &aborted {
        let (_, restarted, outcome) = events.iter().find(|(f, ..)| f == arn).expect("its event");
        assert!(restarted.is_none() && outcome == "skipped_aborted", "{outcome}");
    }
    let (_, made) = executions(&fake);
    assert_eq!(made.len(), events.iter().filter(|(_, _, o)| o == "started").count());
    assert!(run.message().contains("2 not started: redriven since"), "{}", run.message());
    // Asked for, the stopped ones start again too.
    let fake = standard();
    let traffic = fake.traffic("prod", Duration::from_millis(50), |v| {
        if v == 3 { ("ABORTED", None) } else { ("SUCCEEDED", None) }
    });
    let run = deploy(&fake, &args(&["--rerun-failed", "--rerun-aborted"])).await;
    traffic.abort();
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert!(reruns(&run.events).iter().all(|(_, r, o)| r.is_some() && o == "started"));
}
