//! End to end: the built binary against LocalStack (started by tests/support), judged by the
//! AWS state it leaves behind and by the calls a logging proxy saw.

mod support;

use std::time::Duration;

use support::proxy::Proxy;
use support::{Aws, Machine, deployable, emulator, run, spawn};

/// Weights of the new version (`new`) in each alias update the proxy forwarded.
fn new_weights(proxy: &Proxy, new: u32) -> Vec<i64> {
    proxy
        .forwarded("UpdateStateMachineAlias")
        .iter()
        .map(|c| c.routing().iter().find(|(v, _)| *v == new).map_or(0, |(_, w)| *w))
        .collect()
}

/// Runs one strategy, with or without two alarms that stay OK, and checks the weights the
/// alias went through and where it ended.
async fn strategy_case(strategy: &[&str], expected: &[i64], with_alarms: bool) {
    let Some((aws, proxy, m)) = deployable("strategy", 2).await else {
        return;
    };
    let (errors, health) = (format!("{}-errors", m.name), format!("{}-health", m.name));
    let mut args = vec!["--state-machine", m.name.as_str(), "--alias", "prod", "--alarm-polling", "1"];
    args.extend_from_slice(strategy);
    if with_alarms {
        aws.metric_alarm(&errors, "OK").await;
        aws.composite_alarm(&health, &errors, "OK").await;
        args.extend(["--alarms", errors.as_str(), health.as_str()]);
    }
    let out = run(&proxy.endpoint(), &args).await;
    let case = format!("{strategy:?} alarms={with_alarms}");
    assert_eq!(out.code, 0, "{case}: {out:#?}");
    assert_eq!(new_weights(&proxy, 2), expected, "{case}");
    let first = &proxy.forwarded("UpdateStateMachineAlias")[0];
    if expected[0] < 100 {
        assert_eq!(first.routing(), [(1, 100 - expected[0]), (2, expected[0])], "{case}");
    }
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)], "{case}: a single entry at 100% new");
    assert!(out.stdout.contains("Deployed v2 to alias prod"), "{case}: {}", out.stdout);
    let polls = proxy.forwarded("DescribeAlarms").len();
    if with_alarms {
        assert!(polls > expected.len(), "{case}: monitored ({polls} reads)");
    } else {
        assert_eq!(polls, 0, "{case}");
    }
}

#[tokio::test]
async fn canary_linear_and_all_at_once_with_and_without_alarms() {
    const CANARY: &[&str] = &["--strategy", "canary", "--increment", "10", "--interval", "2"];
    const LINEAR: &[&str] = &["--strategy", "LINEAR", "--increment", "40", "--interval", "1"];
    const ALL_AT_ONCE: &[&str] = &["--interval=2"];
    let cases: [(&[&str], &[i64]); 3] =
        [(CANARY, &[10, 100]), (LINEAR, &[40, 80, 100]), (ALL_AT_ONCE, &[100])];
    // Independent deploys on their own state machines: run all six at once.
    let mut runs = Vec::new();
    for (strategy, weights) in cases {
        for with_alarms in [false, true] {
            runs.push(tokio::spawn(strategy_case(strategy, weights, with_alarms)));
        }
    }
    for run in runs {
        run.await.expect("case passed");
    }
}

/// Fires `alarm` once the first step is live and checks the rollback came within one poll.
async fn fire_mid_deploy(aws: &Aws, proxy: &Proxy, m: &Machine, alarm: &str, watched: &str) {
    let running = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "20",
            "--interval", "20", "--alarm-polling", "1", "--alarms", watched,
        ],
        &[],
    );
    running.wait_for("step 1/2", Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fired = std::time::Instant::now();
    aws.set_alarm(alarm, "ALARM").await;
    let out = running.finish().await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stderr.contains(watched), "names the alarm: {}", out.stderr);
    let updates = proxy.forwarded("UpdateStateMachineAlias");
    assert_eq!(updates.last().unwrap().routing(), [(1, 100)], "rolled back to the old version");
    let reaction = updates.last().unwrap().at.duration_since(fired);
    assert!(reaction <= Duration::from_millis(1800), "rollback {reaction:?} after the alarm, polling 1 s");
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
    assert!(out.took < Duration::from_secs(15), "did not wait out the hold: {:?}", out.took);
}

#[tokio::test]
async fn a_metric_alarm_firing_mid_deploy_rolls_back_within_one_poll() {
    let Some((aws, proxy, m)) = deployable("fire-metric", 2).await else {
        return;
    };
    let alarm = format!("{}-errors", m.name);
    aws.metric_alarm(&alarm, "OK").await;
    fire_mid_deploy(&aws, &proxy, &m, &alarm, &alarm).await;
}

#[tokio::test]
async fn a_composite_alarm_firing_mid_deploy_rolls_back_within_one_poll() {
    let Some((aws, proxy, m)) = deployable("fire-composite", 2).await else {
        return;
    };
    let (metric, composite) = (format!("{}-errors", m.name), format!("{}-health", m.name));
    aws.metric_alarm(&metric, "OK").await;
    aws.composite_alarm(&composite, &metric, "OK").await;
    fire_mid_deploy(&aws, &proxy, &m, &composite, &composite).await;
}

#[tokio::test]
async fn first_deploy_creates_the_alias() {
    let Some(emulator) = emulator() else { return };
    let aws = Aws::new(emulator).await;
    let m = Machine::create(&aws, "first", 1).await;
    m.update(&support::definition("second"), false).await;
    let out = run(
        &aws.endpoint,
        &["--state-machine", &m.name, "--alias", "live", "--publish-revision", "--strategy", "canary"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.versions().await, [1, 2]);
    assert_eq!(m.routing("live").await.unwrap(), [(2, 100)]);
    assert!(out.stdout.contains("Created alias live"), "{}", out.stdout);
}

#[tokio::test]
async fn nothing_to_do_when_the_alias_is_already_on_the_new_version() {
    let Some((_, proxy, m)) = deployable("noop", 1).await else {
        return;
    };
    let before = m.snapshot().await;
    let out =
        run(&proxy.endpoint(), &["--state-machine", &m.name, "--alias", "prod", "--publish-revision"]).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("Nothing to do"), "{}", out.stdout);
    assert_eq!(m.snapshot().await, before);
    assert!(proxy.forwarded("UpdateStateMachineAlias").is_empty());
}

#[tokio::test]
async fn a_split_alias_is_refused_and_left_alone_unless_forced() {
    let Some(emulator) = emulator() else { return };
    let aws = Aws::new(emulator).await;
    let m = Machine::create(&aws, "split", 3).await;
    m.create_alias("prod", &[(1, 70), (2, 30)]).await;
    m.update(&support::definition("pending"), false).await;
    let before = m.snapshot().await;
    let out =
        run(&aws.endpoint, &["--state-machine", &m.name, "--alias", "prod", "--publish-revision"]).await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("split") && out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(m.snapshot().await, before, "nothing published, alias untouched");

    let out = run(
        &aws.endpoint,
        &[
            "--state-machine", &m.name, "--alias", "prod", "--publish-revision", "--force", "--strategy",
            "linear", "--increment", "50", "--interval", "1",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.versions().await, [1, 2, 3, 4]);
    assert_eq!(m.routing("prod").await.unwrap(), [(4, 100)]);
}

#[tokio::test]
async fn file_with_publish_revision_becomes_exactly_the_new_version() {
    let Some((_, proxy, m)) = deployable("file", 1).await else {
        return;
    };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&m.name);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("orders.asl.json");
    let text = support::definition("from the file");
    std::fs::write(&file, &text).unwrap();
    let out = run(
        &proxy.endpoint(),
        &[
            "--state-machine",
            &m.name,
            "--alias",
            "prod",
            "--file",
            file.to_str().unwrap(),
            "--publish-revision",
            "--interval",
            "0",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.versions().await, [1, 2]);
    assert_eq!(m.version_definition(2).await, text);
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    assert_eq!(proxy.forwarded("PublishStateMachineVersion").len(), 0, "uploaded and published in one call");
}

#[tokio::test]
async fn pruning_keeps_the_newest_and_alias_referenced_versions() {
    let Some(emulator) = emulator() else { return };
    let aws = Aws::new(emulator).await;
    let m = Machine::create(&aws, "prune", 12).await;
    m.create_alias("prod", &[(11, 100)]).await;
    m.create_alias("legacy", &[(2, 100)]).await;
    let out = run(
        &aws.endpoint,
        &["--state-machine", &m.name, "--alias", "prod", "--history-max", "3", "--interval", "0"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.versions().await, [2, 10, 11, 12]);
    assert_eq!(m.routing("prod").await.unwrap(), [(12, 100)]);
    assert!(out.stdout.contains("pruned 8"), "{}", out.stdout);
}

#[tokio::test]
async fn polling_faster_than_the_interval_polls_on_schedule_and_ends_on_time() {
    let Some((aws, proxy, m)) = deployable("polling", 2).await else {
        return;
    };
    let alarm = format!("{}-errors", m.name);
    aws.metric_alarm(&alarm, "OK").await;
    let out = run(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "linear", "--increment", "50",
            "--interval", "3", "--alarm-polling", "1", "--alarms", &alarm,
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    // The check before any change (it is fresh, so it stands in for the first gate), the gate
    // before step 2 and at the end, and polls at 1 s and 2 s into each 3 s hold: 1 + 2 + 2 * 2.
    assert_eq!(proxy.forwarded("DescribeAlarms").len(), 7);
    let planned = Duration::from_secs(6);
    assert!(out.took >= planned && out.took < planned + Duration::from_millis(2500), "took {:?}", out.took);
}
