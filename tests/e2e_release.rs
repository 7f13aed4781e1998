//! End to end on the emulator with real executions: a release of two state machines shifts in
//! lockstep and ends with both on their new versions; one member's failing executions take both
//! back; a split alias on one member refuses the release with nothing changed on either.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{Machine, deployable, refs, run, spawn, traffic};

const FAILING: &str = r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"PaymentDeclined","Cause":"the new payments broke"}}}"#;

fn release(a: &Machine, b: &Machine, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--state-machine", &a.name, "--state-machine", &b.name, "--alias", "prod", "--strategy", "linear",
        "--increment", "50", "--interval", "2", "--alarm-polling", "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The two members' (v_new weight) after each `weights_changed` event, by member.
fn weights(stdout: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["event"] == "weights_changed")
        .map(|e| {
            (e["state_machine"].as_str().unwrap_or_default().to_string(), e["new_weight"].as_u64().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn two_members_shift_in_lockstep_and_both_end_on_their_new_versions() {
    let Some((aws, proxy, orders)) = deployable("rel-orders", 2).await else { return };
    let payments = Machine::create(&aws, "rel-payments", 2).await;
    payments.create_alias("prod", &[(1, 100)]).await;
    let _a = traffic(&aws, format!("{}:prod", orders.arn), Duration::from_millis(100), |_| "{}");
    let _b = traffic(&aws, format!("{}:prod", payments.arn), Duration::from_millis(100), |_| "{}");
    let alarm = format!("{}-errors", orders.name);
    aws.metric_alarm(&alarm, "OK").await;
    let args =
        release(&orders, &payments, &["--alarms", &alarm, "--max-failure-rate", "20", "--output", "json"]);
    let out = run(&proxy.endpoint(), &refs(&args)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(orders.routing("prod").await.unwrap(), [(2, 100)]);
    assert_eq!(payments.routing("prod").await.unwrap(), [(2, 100)]);
    // Lockstep: each step on both members before the next; every event names its member.
    let w = weights(&out.stdout);
    assert_eq!(
        w,
        [
            (orders.name.clone(), 50),
            (payments.name.clone(), 50),
            (orders.name.clone(), 100),
            (payments.name.clone(), 100)
        ],
        "{}",
        out.stdout
    );
    let events: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(events.iter().all(|e| e.get("state_machine").is_some()), "{}", out.stdout);
    // The alias updates: both at 50, then both at 100, in that order (the proxy saw them).
    let updates: Vec<String> =
        proxy.log().iter().filter(|c| c.op == "UpdateStateMachineAlias").map(|c| c.body.clone()).collect();
    assert_eq!(updates.len(), 4, "{updates:?}");
    assert!(updates[..2].iter().all(|b| b.contains("\"weight\":50")), "both at 50% first: {updates:?}");
    assert!(updates[2..].iter().all(|b| b.contains("\"weight\":100")), "then both at 100%: {updates:?}");
    assert!(updates[0].contains(&orders.name) != updates[1].contains(&orders.name), "one each: {updates:?}");
    // Status shows both members.
    let out = run(
        &proxy.endpoint(),
        &[
            "status", "--state-machine", &orders.name, "--state-machine", &payments.name, "--alias", "prod",
            "--output", "json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let status: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(status.as_array().map(Vec::len), Some(2), "{}", out.stdout);
    // Rollback takes the release back: each member to the version live before it.
    let out = run(
        &proxy.endpoint(),
        &["rollback", "--state-machine", &orders.name, "--state-machine", &payments.name, "--alias", "prod"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(orders.routing("prod").await.unwrap(), [(1, 100)]);
    assert_eq!(payments.routing("prod").await.unwrap(), [(1, 100)]);
}

#[tokio::test]
async fn one_members_failing_executions_take_both_back() {
    let Some((aws, proxy, orders)) = deployable("rel-ok", 2).await else { return };
    let payments = Machine::create(&aws, "rel-bad", 1).await;
    payments.create_alias("prod", &[(1, 100)]).await;
    payments.update(FAILING, true).await; // v2 fails every execution
    let _a = traffic(&aws, format!("{}:prod", orders.arn), Duration::from_millis(50), |_| "{}");
    let _b = traffic(&aws, format!("{}:prod", payments.arn), Duration::from_millis(50), |_| "{}");
    let args = release(&orders, &payments, &["--max-failure-rate", "10"]);
    let out = spawn(&proxy.endpoint(), &refs(&args), &[]).finish().await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(orders.routing("prod").await.unwrap(), [(1, 100)], "the healthy member goes back too");
    assert_eq!(payments.routing("prod").await.unwrap(), [(1, 100)]);
    assert!(out.stderr.contains(&payments.name) && out.stderr.contains("PaymentDeclined"), "{}", out.stderr);
}

#[tokio::test]
async fn a_split_alias_on_one_member_refuses_the_release_and_changes_nothing() {
    let Some((aws, proxy, orders)) = deployable("rel-a", 2).await else { return };
    let payments = Machine::create(&aws, "rel-split", 3).await;
    payments.create_alias("prod", &[(1, 50), (2, 50)]).await;
    let before = (orders.snapshot().await, payments.snapshot().await);
    let args = release(&orders, &payments, &["--publish-revision"]);
    let out = run(&proxy.endpoint(), &refs(&args)).await;
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains(&payments.name) && out.stderr.contains("split"), "{}", out.stderr);
    assert_eq!((orders.snapshot().await, payments.snapshot().await), before, "nothing changed on either");
    let mutating = ["PublishStateMachineVersion", "UpdateStateMachineAlias", "UpdateStateMachine"];
    assert!(proxy.log().iter().all(|c| !mutating.contains(&c.op.as_str())), "not one change was asked");
}
