//! End to end, health gates with real executions: a traffic generator starts executions through
//! the alias on the emulator, which runs the version its weights pick.

mod support;

use std::time::Duration;

use support::{Aws, FAILING, Machine, deployable, events, fails_on_demand, spawn, traffic};

/// prod on v1; v2 published from `definition`.
async fn with_new_version(prefix: &str, definition: &str) -> Option<(Aws, support::proxy::Proxy, Machine)> {
    let (aws, proxy, m) = deployable(prefix, 1).await?;
    m.update(definition, true).await;
    Some((aws, proxy, m))
}

#[tokio::test]
async fn a_failing_version_is_rolled_back_with_the_error_named() {
    let Some((aws, proxy, m)) = with_new_version("gate-fail", FAILING).await else { return };
    let _traffic = traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(100), |_| "{}");
    let out = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
            "--interval", "60", "--alarm-polling", "1", "--max-failure-rate", "5", "--output", "json",
        ],
        &[],
    )
    .finish()
    .await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stderr.contains("Boom x") && out.stderr.contains("the new version broke"), "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
    let events = events(&out.stdout);
    let first_failure = events
        .iter()
        .find(|e| e["event"] == "executions_read" && e["new"]["failed"].as_u64() > Some(0))
        .expect("a reading with the failure");
    // Rolled back on the first reading that saw a failure, well inside the 60 s hold; the failures
    // are described after the rollback call, and the evidence names them.
    let failed = events.iter().find(|e| e["event"] == "executions_failed").expect("executions_failed");
    assert!(failed["evidence"].as_str().unwrap().contains("Boom x"), "{failed}");
    let rolled_back = events.iter().find(|e| e["event"] == "rolled_back").expect("rolled_back");
    assert!(rolled_back["elapsed_seconds"].as_f64() <= failed["elapsed_seconds"].as_f64(), "{rolled_back}");
    let seen = first_failure["elapsed_seconds"].as_f64().unwrap();
    assert!(failed["elapsed_seconds"].as_f64().unwrap() - seen < 0.5, "{failed}");
    assert!(out.took < Duration::from_secs(20), "{:?}", out.took);
}

#[tokio::test]
async fn a_healthy_version_with_enough_executions_passes_and_bypass_traffic_is_announced() {
    let Some((aws, proxy, m)) = with_new_version("gate-ok", &support::definition("v2")).await else { return };
    // Callers that pin a version skip the alias (the emulator cannot start the bare ARN once an
    // alias exists): most recent executions bypass it.
    for _ in 0..6 {
        aws.sfn.start_execution().state_machine_arn(m.version_arn(1)).input("{}").send().await.unwrap();
    }
    let _traffic = traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(100), |_| "{}");
    let out = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
            "--interval", "3", "--alarm-polling", "1", "--max-failure-rate", "5", "--min-executions", "3",
            "--output", "json",
        ],
        &[],
    )
    .finish()
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    let events = events(&out.stdout);
    let last = events.iter().rev().find(|e| e["event"] == "executions_read").expect("readings");
    assert!(last["new"]["finished"].as_u64().unwrap() >= 3, "{last}");
    assert_eq!(last["new"]["failed"], 0, "{last}");
    let bypass = events.iter().find(|e| e["event"] == "traffic_bypasses_alias").expect("bypass warned");
    assert!(bypass["other"].as_u64() >= Some(6), "{bypass}");
}

#[tokio::test]
async fn no_traffic_with_min_executions_rolls_back_as_inconclusive() {
    let Some((_aws, proxy, m)) = with_new_version("gate-none", &support::definition("v2")).await else {
        return;
    };
    let out = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
            "--interval", "2", "--alarm-polling", "1", "--min-executions", "3", "--max-extension", "2s",
        ],
        &[],
    )
    .finish()
    .await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stderr.contains("inconclusive: 0 of the 3"), "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
}

#[tokio::test]
async fn smoke_inputs_run_before_any_traffic_and_a_failing_one_stops_everything() {
    let Some((_aws, proxy, m)) = with_new_version("smoke", FAILING).await else { return };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&m.name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("order.json"), r#"{"order": 1}"#).unwrap();
    let smoke = dir.to_str().unwrap();
    let args = ["--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--interval", "1"];
    let mut failing = args.to_vec();
    failing.extend(["--smoke-input", smoke]);
    let before = m.snapshot().await;
    let out = spawn(&proxy.endpoint(), &failing, &[]).finish().await;
    assert_eq!(out.code, 6, "{out:#?}");
    let error = out.stderr.lines().find(|l| l.starts_with("error:")).expect("an error line");
    for part in ["order.json", "FAILED", "Boom", "the new version broke", ":execution:", "No traffic moved"] {
        assert!(error.contains(part), "{part}: {error}");
    }
    assert_eq!(m.snapshot().await, before, "nothing changed");

    // A version that succeeds: the smoke execution runs on its ARN before the first weight change.
    m.update(&support::definition("v3"), true).await;
    let one = dir.join("order.json");
    let mut passing = args.to_vec();
    passing.extend(["--smoke-input", one.to_str().unwrap()]);
    let out = spawn(&proxy.endpoint(), &passing, &[]).finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    let log = proxy.log();
    let started = log.iter().position(|l| l.op == "StartExecution" && l.body.contains(&m.version_arn(3)));
    let shifted = log.iter().position(|l| l.op == "UpdateStateMachineAlias");
    assert!(
        started.is_some() && started < shifted,
        "smoke first: {:?}",
        log.iter().map(|l| &l.op).collect::<Vec<_>>()
    );
    assert_eq!(m.routing("prod").await.unwrap(), [(3, 100)]);
}

/// Puts `value` data points of `metric` for version `version` of `m`, as Step Functions
/// publishes them for executions started with a version or alias ARN.
async fn put_metric(aws: &Aws, m: &Machine, version: &str, metric: &str, value: f64) {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let dims = [("StateMachineArn", m.arn.as_str()), ("Version", version)];
    aws.cloudwatch
        .put_metric_data()
        .namespace("AWS/States")
        .metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .value(value)
                .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(std::time::SystemTime::now()))
                .set_dimensions(Some(
                    dims.iter().map(|(n, v)| Dimension::builder().name(*n).value(*v).build()).collect(),
                ))
                .build(),
        )
        .send()
        .await
        .expect("PutMetricData");
}

#[tokio::test]
async fn an_express_version_is_judged_by_its_metrics() {
    let Some(emulator) = support::emulator() else { return };
    let aws = Aws::new(emulator).await;
    let proxy = support::proxy::Proxy::start(emulator.port).await;
    let m = Machine::create_of(&aws, "express", 2, aws_sdk_sfn::types::StateMachineType::Express).await;
    m.create_alias("prod", &[(1, 100)]).await;
    let args = [
        "--state-machine",
        m.name.as_str(),
        "--alias",
        "prod",
        "--strategy",
        "canary",
        "--increment",
        "50",
        "--alarm-polling",
        "1",
    ];
    // No metrics yet: no data is not zero failures.
    let mut none = args.to_vec();
    none.extend(["--min-executions", "1", "--max-extension", "2s", "--interval", "1"]);
    let out = spawn(&proxy.endpoint(), &none, &[]).finish().await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stderr.contains("inconclusive"), "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);

    // The metrics name v2 by number here; the old version by its ARN.
    put_metric(&aws, &m, "2", "ExecutionsStarted", 4.0).await;
    put_metric(&aws, &m, "2", "ExecutionsFailed", 4.0).await;
    put_metric(&aws, &m, &m.version_arn(1), "ExecutionsStarted", 10.0).await;
    put_metric(&aws, &m, &m.version_arn(1), "ExecutionsSucceeded", 10.0).await;
    let mut gated = args.to_vec();
    gated.extend(["--max-failure-rate", "5", "--interval", "20"]);
    let out = spawn(&proxy.endpoint(), &gated, &[]).finish().await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(
        out.stderr.contains("v2: 4 of 4 failed (100%, 95% interval 32-100%): FAILED x4")
            && out.stderr.contains("v1: 0 of 10"),
        "{}",
        out.stderr
    );
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
    assert!(out.took < Duration::from_secs(15), "{:?}", out.took);
}

#[tokio::test]
async fn both_versions_failing_alike_passes_the_increase_gate() {
    let Some((aws, proxy, m)) = deployable("gate-alike", 1).await else { return };
    // A dependency that fails whatever the version (v3 differs from v2 only in its result).
    let fails = fails_on_demand("Dependency");
    m.update(&fails, true).await; // v2
    m.update(&fails.replace("\"P\":{\"Type\":\"Pass\"", "\"P\":{\"Type\":\"Pass\",\"Result\":2"), true).await; // v3
    m.set_routing("prod", &[(2, 100)]).await;
    // Every other execution fails, on both versions. The emulator picks versions at random, so
    // each version's rate is about 50% give or take ~10 points over ~30 executions: a 45-point
    // allowance is met with room, where --max-failure-rate would roll back.
    let traffic = traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(100), |n| {
        if n % 2 == 0 { r#"{"fail":true}"# } else { "{}" }
    });
    tokio::time::sleep(Duration::from_secs(2)).await; // the old version's baseline
    let out = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
            "--interval", "6", "--alarm-polling", "1", "--max-failure-rate-increase", "45",
            "--min-executions", "6", "--output", "json",
        ],
        &[],
    )
    .finish()
    .await;
    drop(traffic);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(3, 100)]);
    let last =
        events(&out.stdout).into_iter().rev().find(|e| e["event"] == "executions_read").expect("readings");
    assert!(last["new"]["failed"].as_u64() > Some(0) && last["old"]["failed"].as_u64() > Some(0), "{last}");
}
