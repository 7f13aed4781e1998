//! End to end, verdicts that hold on a busy account, with real executions on the emulator: many
//! deploys at once under AWS's token buckets, a noisy baseline, executions slower than a hold, a
//! slower version caught by the duration gate, and a runner whose clock runs two minutes ahead.

mod support;

use std::time::{Duration, Instant};

use support::proxy::{Bucket, Proxy, token_buckets};
use support::{Aws, Machine, emulator, refs, spawn, traffic};

/// AWS's refill rates for the calls a deploy makes (Step Functions in most regions; CloudWatch's
/// DescribeAlarms), with bursts cut to 20 so that the refill binds within seconds.
fn aws_buckets() -> Vec<(&'static str, Bucket)> {
    let bucket = |capacity, per_second| Bucket { capacity, per_second };
    vec![
        ("ListExecutions", bucket(20.0, 2.0)),
        ("UpdateStateMachineAlias", bucket(20.0, 1.0)),
        ("PublishStateMachineVersion", bucket(20.0, 1.0)),
        ("DeleteStateMachineVersion", bucket(20.0, 1.0)),
        ("DescribeStateMachineAlias", bucket(20.0, 2.0)),
        ("DescribeAlarms", bucket(9.0, 9.0)),
    ]
}

/// A state machine whose alias `prod` routes v1, with v2 (`new`) published, and `old` as v1.
async fn machine(aws: &Aws, prefix: &str, old: &str, new: &str) -> Machine {
    let m = Machine::create(aws, prefix, 0).await;
    m.update(old, true).await;
    m.create_alias("prod", &[(1, 100)]).await;
    m.update(new, true).await;
    m
}

/// `seconds` of waiting, then success; `tag` makes each version's definition its own.
fn waits(seconds: u32, tag: &str) -> String {
    format!(
        r#"{{"Comment":"{tag}","StartAt":"W","States":{{"W":{{"Type":"Wait","Seconds":{seconds},"Next":"P"}},"P":{{"Type":"Pass","End":true}}}}}}"#
    )
}

/// Fails about one execution in five, whatever the version (a flaky dependency).
fn flaky(tag: &str) -> String {
    format!(
        r#"{{"Comment":"{tag}","StartAt":"R","States":{{"R":{{"Type":"Pass","Parameters":{{"r.$":"States.MathRandom(0, 100)"}},"Next":"C"}},"C":{{"Type":"Choice","Choices":[{{"Variable":"$.r","NumericLessThan":20,"Next":"F"}}],"Default":"P"}},"F":{{"Type":"Fail","Error":"Flaky"}},"P":{{"Type":"Pass","End":true}}}}}}"#
    )
}

fn canary(m: &Machine, interval: &'static str) -> Vec<String> {
    [
        "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
        "--interval", interval, "--alarm-polling", "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_deploys_at_once_under_aws_token_buckets_all_end_on_their_new_versions() {
    let Some(emulator) = emulator() else { return };
    let aws = Aws::new(emulator).await;
    let proxy = Proxy::start(emulator.port).await;
    let mut machines = Vec::new();
    for i in 0..12 {
        let m = machine(&aws, "busy", &support::definition("v1"), &support::definition("v2")).await;
        aws.metric_alarm(&format!("{}-errors", m.name), "OK").await;
        machines.push((m, i));
    }
    let _traffic: Vec<_> = machines
        .iter()
        .map(|(m, _)| traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(500), |_| "{}"))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set_rule(token_buckets(&aws_buckets()));
    let began = Instant::now();
    let runs: Vec<_> = machines
        .iter()
        .map(|(m, _)| {
            let mut args = canary(m, "8");
            let alarm = format!("{}-errors", m.name);
            args.extend(["--max-failure-rate".into(), "10".into(), "--alarms".into(), alarm]);
            spawn(&proxy.endpoint(), &refs(&args), &[])
        })
        .collect();
    let mut failures = Vec::new();
    let mut took = Vec::new();
    for ((m, _), run) in machines.iter().zip(runs) {
        let out = run.finish().await;
        took.push(out.took);
        let routing = m.routing("prod").await;
        if out.code != 0 || routing != Some(vec![(2, 100)]) {
            failures.push(format!("{}: exit {}, routing {routing:?}: {}", m.name, out.code, out.stderr));
        }
    }
    let log = proxy.log();
    let throttled = |op: &str| log.iter().filter(|l| l.op == op && l.fault.is_some()).count();
    let lists = log.iter().filter(|l| l.op == "ListExecutions").count();
    took.sort();
    eprintln!(
        "12 deploys under the buckets: all done in {:?} (nominal 8 s each; median {:?}, slowest {:?}); \
         ListExecutions {lists} ({} throttled), DescribeAlarms throttled {}",
        began.elapsed(),
        took[6],
        took[11],
        throttled("ListExecutions"),
        throttled("DescribeAlarms"),
    );
    assert!(throttled("ListExecutions") + throttled("DescribeAlarms") > 0, "the buckets must bind");
    assert!(failures.is_empty(), "{} of 12 failed:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn a_noisy_baseline_is_not_a_verdict() {
    let Some(emulator) = emulator() else { return };
    let aws = Aws::new(emulator).await;
    let proxy = Proxy::start(emulator.port).await;
    // Both versions fail about 20% at random; three deploys at 10 executions a second each.
    let mut machines = Vec::new();
    for _ in 0..3 {
        machines.push(machine(&aws, "noisy", &flaky("v1"), &flaky("v2")).await);
    }
    let _traffic: Vec<_> = machines
        .iter()
        .map(|m| traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(100), |_| "{}"))
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs: Vec<_> = machines
        .iter()
        .map(|m| {
            let mut args = canary(m, "6");
            args.extend(["--max-failure-rate-increase".into(), "15".into()]);
            spawn(&proxy.endpoint(), &refs(&args), &[])
        })
        .collect();
    for (m, run) in machines.iter().zip(runs) {
        let out = run.finish().await;
        assert_eq!(out.code, 0, "{}: {}", m.name, out.stderr);
        assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
        assert!(out.stderr.contains("Flaky") || out.stderr.contains("95% interval"), "{}", out.stderr);
    }
}

#[tokio::test]
async fn executions_slower_than_the_hold_are_waited_for() {
    let Some(emulator) = emulator() else { return };
    let aws = Aws::new(emulator).await;
    let proxy = Proxy::start(emulator.port).await;
    // Every execution takes 3 s; the canary holds 2 s.
    let m = machine(&aws, "slowexec", &waits(3, "v1"), &waits(3, "v2")).await;
    let _traffic = traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(200), |_| "{}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut args = canary(&m, "2");
    args.extend(["--max-failure-rate".into(), "5".into()]);
    let out = spawn(&proxy.endpoint(), &refs(&args), &[]).finish().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
}

#[tokio::test]
async fn a_version_two_seconds_slower_is_rolled_back_and_an_equal_one_passes() {
    let Some(emulator) = emulator() else { return };
    let aws = Aws::new(emulator).await;
    let proxy = Proxy::start(emulator.port).await;
    let slower = machine(&aws, "slower", &support::definition("v1"), &waits(2, "v2")).await;
    let equal = machine(&aws, "equal", &support::definition("v1"), &support::definition("v2")).await;
    let _traffic: Vec<_> = [&slower, &equal]
        .iter()
        .map(|m| traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(100), |_| "{}"))
        .collect();
    // The old version's reference: its executions of the seconds before.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let args = |m: &Machine| {
        let mut args = canary(m, "20");
        args.extend(["--max-duration-increase".into(), "50".into()]);
        args
    };
    let (a, b) = (args(&slower), args(&equal));
    let slow_run = spawn(&proxy.endpoint(), &refs(&a), &[]);
    let equal_run = spawn(&proxy.endpoint(), &refs(&b), &[]);
    let out = slow_run.finish().await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("slower") && out.stderr.contains("median"), "{}", out.stderr);
    assert_eq!(slower.routing("prod").await.unwrap(), [(1, 100)]);
    assert!(out.took < Duration::from_secs(15), "caught within seconds: {:?}", out.took);
    let out = equal_run.finish().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(equal.routing("prod").await.unwrap(), [(2, 100)]);
}

#[tokio::test]
async fn a_runner_clock_two_minutes_ahead_changes_nothing() {
    let Some(emulator) = emulator() else { return };
    let Some(faketime) = support::faketime() else { return };
    let aws = Aws::new(emulator).await;
    let proxy = Proxy::start(emulator.port).await;
    let m = machine(&aws, "skewed", &support::definition("v1"), &support::definition("v2")).await;
    let _traffic = traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(100), |_| "{}");
    let mut args = canary(&m, "4");
    args.extend(["--max-failure-rate".into(), "5".into(), "--min-executions".into(), "5".into()]);
    let env = [
        ("LD_PRELOAD", faketime.as_str()),
        ("FAKETIME", "+2m"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ("FAKETIME_NO_CACHE", "1"),
    ];
    let out = spawn(&proxy.endpoint(), &refs(&args), &env).finish().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    // The binary did run two minutes ahead: its log times say so.
    let first = out.stderr.lines().next().unwrap_or_default();
    let logged = humantime::parse_rfc3339_weak(first.split_whitespace().next().unwrap_or_default());
    let ahead = logged.ok().and_then(|t| t.duration_since(std::time::SystemTime::now()).ok());
    assert!(ahead.is_some_and(|d| d > Duration::from_secs(60)), "not skewed: {first}");
}
