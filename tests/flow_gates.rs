//! Health gates on the new version's own executions, in-process on virtual time: a traffic
//! generator starts executions through the alias, shared by its weights.

mod fake;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fake::{deploy, standard};
use sfndeploy::exit_code::ExitCode;
use sfndeploy::report::Event;

/// A canary of 10% for 60 s (or `--interval` in `extra`), polling every second.
fn args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut a = vec!["--strategy", "canary", "--increment", "10", "--alarm-polling", "1"];
    if !extra.contains(&"--interval") {
        a.extend(["--interval", "60"]);
    }
    a.extend_from_slice(extra);
    a
}

#[tokio::test(start_paused = true)]
async fn a_new_version_that_fails_is_rolled_back_within_a_poll_of_its_first_failure() {
    let fake = standard();
    let _traffic = fake.traffic("prod", Duration::from_millis(200), |v| {
        if v == 3 { ("FAILED", Some("Boom")) } else { ("SUCCEEDED", None) }
    });
    let run = deploy(&fake, &args(&["--max-failure-rate", "5"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let message = run.message();
    let failed = message.split("v3: ").nth(1).expect("v3's tally");
    let (n, rest) = failed.split_once(" of ").unwrap();
    let interval = rest.split_once(" 95% interval ").expect("an interval").1;
    assert!(rest.starts_with(&format!("{n} failed (100%,")), "{message}");
    assert!(
        interval.split_once("%): ").expect("the errors").1.starts_with(&format!("Boom x{n}")),
        "{message}"
    );
    assert!(message.contains(":execution:orders:exec-") && message.contains("Boom happened"), "{message}");
    assert!(message.contains("v2: 0 of"), "{message}");
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    let failed_at = fake.state().executions.iter().find(|e| e.version == 3).map(|e| e.at).expect("v3 ran");
    let rolled_back = fake.calls_of("UpdateStateMachineAlias").last().unwrap().at;
    assert!(
        rolled_back <= failed_at + Duration::from_millis(1500),
        "failure at {failed_at:?}, rollback at {rolled_back:?}"
    );
    let reads = run.events.iter().filter(|e| matches!(e, Event::ExecutionsRead { .. })).count();
    assert!(reads >= 10, "every poll's reading is an event: {reads}");
}

#[tokio::test(start_paused = true)]
async fn a_healthy_version_with_enough_executions_passes() {
    let fake = standard();
    let _traffic = fake.traffic("prod", Duration::from_millis(100), |_| ("SUCCEEDED", None));
    let run = deploy(&fake, &args(&["--max-failure-rate", "5", "--min-executions", "20"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}

#[tokio::test(start_paused = true)]
async fn no_traffic_with_min_executions_is_inconclusive_and_rolls_back() {
    let fake = standard();
    let run = deploy(&fake, &args(&["--min-executions", "5", "--max-extension", "20s"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert!(run.message().contains("inconclusive: 0 of the 5"), "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    // The canary hold (60 s), then 20 s more, then the rollback; never 100%.
    let updates: Vec<String> =
        fake.calls_of("UpdateStateMachineAlias").into_iter().map(|c| c.detail).collect();
    assert_eq!(updates, ["v2=90,v3=10", "v2=100"]);
    let back = fake.calls_of("UpdateStateMachineAlias").last().unwrap().at;
    assert!(back >= Duration::from_secs(80) && back <= Duration::from_secs(82), "{back:?}");
}

#[tokio::test(start_paused = true)]
async fn both_versions_failing_alike_is_not_the_new_versions_fault() {
    let fake = standard();
    let n = Arc::new(AtomicU32::new(0));
    let _traffic = fake.traffic("prod", Duration::from_millis(100), move |_| {
        if n.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
            ("FAILED", Some("Dependency"))
        } else {
            ("SUCCEEDED", None)
        }
    });
    let run = deploy(&fake, &args(&["--max-failure-rate-increase", "20", "--min-executions", "4"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    // The same traffic against --max-failure-rate alone rolls back.
    let fake = standard();
    let n = Arc::new(AtomicU32::new(0));
    let _traffic = fake.traffic("prod", Duration::from_millis(100), move |_| {
        if n.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
            ("FAILED", Some("Dependency"))
        } else {
            ("SUCCEEDED", None)
        }
    });
    let run = deploy(&fake, &args(&["--max-failure-rate", "20"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
}

#[tokio::test(start_paused = true)]
async fn traffic_that_skips_the_alias_is_announced() {
    let fake = standard();
    for _ in 0..8 {
        fake.execution(2, None, "SUCCEEDED", None, Duration::from_secs(30));
    }
    fake.execution(2, Some("prod"), "SUCCEEDED", None, Duration::from_secs(30));
    let _traffic = fake.traffic("prod", Duration::from_millis(100), |_| ("SUCCEEDED", None));
    let run = deploy(&fake, &args(&["--max-failure-rate", "5", "--interval", "12"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let bypass = run.events.iter().find_map(|e| match e {
        Event::TrafficBypassesAlias { through_alias, other, .. } => Some((*through_alias, *other)),
        _ => None,
    });
    assert_eq!(bypass, Some((1, 8)));
}

#[tokio::test(start_paused = true)]
async fn after_a_rollback_the_new_versions_running_executions_are_reported() {
    let fake = standard();
    let _traffic = fake.traffic("prod", Duration::from_millis(200), |v| {
        if v == 3 { ("RUNNING", None) } else { ("SUCCEEDED", None) }
    });
    let failer = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        // One failure in one finished execution is not yet proof; two are.
        failer.execution(3, Some("prod"), "FAILED", Some("Boom"), Duration::ZERO);
        failer.execution(3, Some("prod"), "FAILED", Some("Boom"), Duration::ZERO);
    });
    let run = deploy(&fake, &args(&["--max-failure-rate", "5"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    let running = run.events.iter().find_map(|e| match e {
        Event::StillRunning { executions, .. } => Some(executions.len()),
        _ => None,
    });
    let expected = fake.state().executions.iter().filter(|e| e.version == 3 && e.status == "RUNNING").count();
    assert!(expected > 0);
    assert_eq!(running, Some(expected));
}

#[tokio::test(start_paused = true)]
async fn a_read_costs_one_call_for_both_versions() {
    let fake = standard();
    for _ in 0..250 {
        fake.execution(3, Some("prod"), "SUCCEEDED", None, Duration::from_secs(3600 * 2));
    }
    fake.state().page_size = 50;
    let _traffic = fake.traffic("prod", Duration::from_millis(100), |_| ("SUCCEEDED", None));
    let run = deploy(&fake, &args(&["--max-failure-rate", "5", "--interval", "10"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let reads = run.events.iter().filter(|e| matches!(e, Event::ExecutionsRead { .. })).count();
    let lists = fake.calls_of("ListExecutions");
    // The alias's listing holds both versions: one call a read, plus the one look at recent
    // traffic before the first change. (Redrives are looked for among the new version's
    // failures, by themselves: there are none.)
    assert_eq!(lists.len(), reads + 1, "{} calls for {reads} reads", lists.len());
    assert!(fake.calls_of("DescribeExecution").is_empty());
    let alias = fake.alias_arn("prod");
    assert!(lists.iter().skip(1).all(|c| c.detail == alias), "listed through the alias");
}

#[tokio::test(start_paused = true)]
async fn where_the_alias_cannot_be_listed_the_old_version_is_read_less_often() {
    let fake = standard();
    fake.state().alias_listing = false;
    let _traffic = fake.traffic("prod", Duration::from_millis(100), |_| ("SUCCEEDED", None));
    let run = deploy(&fake, &args(&["--max-failure-rate-increase", "5", "--interval", "20"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let lists = fake.calls_of("ListExecutions");
    let (v2, v3) = (fake.version_arn(2), fake.version_arn(3));
    let new = lists.iter().filter(|c| c.detail == v3).count();
    let old = lists.iter().filter(|c| c.detail == v2).count();
    assert!(new >= 20, "the new version every read: {new}");
    assert!(old * 4 <= new + 4, "the old version about every fifth read: {old} against {new}");
}

#[tokio::test(start_paused = true)]
async fn a_failure_rate_gate_without_any_execution_is_not_a_pass() {
    let fake = standard();
    let run = deploy(&fake, &args(&["--max-failure-rate", "5", "--interval", "10"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert!(run.message().contains("inconclusive: 0 of the 1"), "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
}

#[tokio::test(start_paused = true)]
async fn an_express_version_is_smoke_tested_synchronously_before_any_traffic() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flow-smoke-express");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("order.json");
    std::fs::write(&input, r#"{"order": 1}"#).unwrap();
    let smoke: &'static str = Box::leak(input.to_str().unwrap().to_string().into_boxed_str());
    for (outcome, code) in
        [(("FAILED", Some("Boom")), ExitCode::SmokeFailed), (("SUCCEEDED", None), ExitCode::Success)]
    {
        let fake = standard();
        fake.state().kind = aws_sdk_sfn::types::StateMachineType::Express;
        fake.state().sync_outcome.insert(3, (outcome.0.to_string(), outcome.1.map(str::to_string)));
        let run = deploy(&fake, &args(&["--smoke-input", smoke, "--interval", "1"])).await;
        assert_eq!(run.code(), code, "{}", run.message());
        let ops: Vec<&str> = fake.calls().iter().map(|c| c.op).collect();
        let smoked = ops.iter().position(|op| *op == "StartSyncExecution").expect("a synchronous smoke run");
        match code {
            ExitCode::SmokeFailed => {
                assert!(
                    run.message().contains("order.json")
                        && run.message().contains("FAILED, Boom: Boom happened"),
                    "{}",
                    run.message()
                );
                assert!(fake.calls_of("UpdateStateMachineAlias").is_empty(), "no traffic moved");
            }
            _ => {
                let shifted = ops.iter().position(|op| *op == "UpdateStateMachineAlias").unwrap();
                assert!(smoked < shifted, "{ops:?}");
            }
        }
    }
}
