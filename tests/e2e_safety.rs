//! End to end, on a bad day: a cancelled job (SIGTERM) mid-deploy, alarms that stop answering,
//! a throttling API. The fault proxy sits between the binary and the emulator.

mod support;

use std::time::Duration;

use support::proxy::{Proxy, ProxyFault};
use support::{Aws, Machine, deployable, spawn};

/// [`deployable`] with two versions and an alarm that is OK.
async fn setup(prefix: &str) -> Option<(Aws, Proxy, Machine, String)> {
    let (aws, proxy, machine) = deployable(prefix, 2).await?;
    let alarm = format!("{}-errors", machine.name);
    aws.metric_alarm(&alarm, "OK").await;
    Some((aws, proxy, machine, alarm))
}

#[tokio::test]
async fn sigterm_mid_deploy_restores_the_alias() {
    let Some((_, proxy, m, alarm)) = setup("sigterm").await else {
        return;
    };
    let running = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "25",
            "--interval", "30", "--alarm-polling", "1", "--alarms", &alarm,
        ],
        &[],
    );
    running.wait_for("step 1/2", Duration::from_secs(30)).await;
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 75), (2, 25)]);
    running.signal("TERM");
    let out = running.finish().await;
    assert_eq!(out.code, 143, "{out:#?}");
    assert!(out.stderr.contains("SIGTERM") && out.stderr.contains("rolled back"), "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
    assert!(out.took < Duration::from_secs(10), "stopped waiting: {:?}", out.took);
}

#[tokio::test]
async fn alarms_that_stop_answering_mid_canary_lead_to_a_rollback() {
    let Some((_, proxy, m, alarm)) = setup("blind").await else {
        return;
    };
    // The first two reads (the check and the first gate) answer; then CloudWatch is gone.
    proxy.set_rule(|op, n| (op == "DescribeAlarms" && n >= 2).then_some(ProxyFault::Unavailable));
    let out = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "10",
            "--interval", "30", "--alarm-polling", "1", "--max-unmonitored", "3s", "--max-attempts", "2",
            "--alarms", &alarm,
        ],
        &[],
    )
    .finish()
    .await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stderr.contains("could not be read"), "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
    let increases =
        proxy.forwarded("UpdateStateMachineAlias").iter().filter(|c| c.routing() != [(1, 100)]).count();
    assert_eq!(increases, 1, "never went past the canary while blind");
}

#[tokio::test]
async fn a_flaky_api_still_completes() {
    let Some((_, proxy, m, alarm)) = setup("flaky").await else {
        return;
    };
    // Every third alias update is throttled, and so is every third alarm read.
    proxy.set_rule(|op, n| {
        ((op == "UpdateStateMachineAlias" || op == "DescribeAlarms") && n % 3 == 2)
            .then_some(ProxyFault::Throttle)
    });
    let out = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "linear", "--increment", "20",
            "--interval", "1", "--alarm-polling", "1", "--alarms", &alarm,
        ],
        &[],
    )
    .finish()
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    let throttled = proxy.log().iter().filter(|c| c.fault.is_some()).count();
    assert!(throttled >= 3, "faults were injected: {throttled}");
}

#[tokio::test]
async fn a_hanging_call_times_out_and_is_retried() {
    let Some((_, proxy, m, alarm)) = setup("hang").await else {
        return;
    };
    // The first alias update never answers: the per-attempt timeout cuts it and the SDK retries.
    proxy.set_rule(|op, n| {
        (op == "UpdateStateMachineAlias" && n == 0).then_some(ProxyFault::Hang(Duration::from_secs(30)))
    });
    let out = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--interval", "1", "--alarm-polling", "1",
            "--call-timeout", "2s", "--alarms", &alarm,
        ],
        &[],
    )
    .finish()
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    assert!(out.took < Duration::from_secs(15), "{:?}", out.took);
}

#[tokio::test]
async fn a_second_deploy_on_the_same_alias_refuses_while_the_first_runs() {
    let Some((_, proxy, m, alarm)) = setup("twice").await else {
        return;
    };
    m.update(&support::definition("third"), true).await; // v3: what the second run would deploy
    let first = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "30",
            "--interval", "3", "--alarm-polling", "1", "--alarms", &alarm,
        ],
        &[],
    );
    first.wait_for("step 1/2", Duration::from_secs(30)).await;
    let second = spawn(
        &proxy.endpoint(),
        &["--state-machine", &m.name, "--alias", "prod", "--strategy", "linear", "--interval", "1"],
        &[],
    )
    .finish()
    .await;
    assert_eq!(second.code, 1, "{second:#?}");
    assert!(second.stderr.contains("split"), "{}", second.stderr);
    let first = first.finish().await;
    assert_eq!(first.code, 0, "{first:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(3, 100)]);
    // Only the first run's two weight changes ever reached the alias.
    let weights: Vec<Vec<(u32, i64)>> =
        proxy.forwarded("UpdateStateMachineAlias").iter().map(|c| c.routing()).collect();
    assert_eq!(weights, [vec![(1, 70), (3, 30)], vec![(3, 100)]]);
}

#[tokio::test]
async fn a_failed_rollback_prints_an_aws_command_for_where_this_run_went() {
    let Some((aws, proxy, m, alarm)) = setup("restore-flags").await else {
        return;
    };
    // The canary's weight change goes through; every later alias update fails.
    proxy.set_rule(|op, n| (op == "UpdateStateMachineAlias" && n >= 1).then_some(ProxyFault::Unavailable));
    let running = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "25",
            "--interval", "30", "--alarm-polling", "1", "--alarms", &alarm, "--rollback-timeout", "2s",
            "--max-attempts", "1",
        ],
        &[],
    );
    running.wait_for("step 1/2", Duration::from_secs(30)).await;
    aws.set_alarm(&alarm, "ALARM").await;
    let out = running.finish().await;
    assert_eq!(out.code, 5, "rollback failed: {out:#?}");
    let line = out.stderr.lines().find(|l| l.starts_with("error:")).expect("an error line");
    let command = &line[line.find("aws stepfunctions").expect("a restore command")..];
    for flag in ["--region us-east-1", &format!("--endpoint-url {}", proxy.endpoint())] {
        assert!(command.contains(flag), "{flag} missing: {command}");
    }
    assert!(command.contains(&format!("{}:1", m.arn)), "back to v1: {command}");
}
