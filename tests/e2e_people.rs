//! End to end, people in the loop: promote (a paused deploy, and a running one from outside),
//! a gate that cannot decide pausing, a gate that only observes, per-step holds and the
//! exponential strategy, deploy windows and freezes, the fix deployed while its alarm fires, and
//! notifications read back from an SQS queue subscribed to the SNS topic. The built binary
//! against LocalStack, through the logging proxy.

mod support;

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use support::{FAILING, Machine, deployable, events, run, spawn, traffic};

/// prod on v1; v2 published (from `definition`, or a healthy one).
async fn with_v2(
    prefix: &str,
    definition: Option<&str>,
) -> Option<(support::Aws, support::proxy::Proxy, Machine)> {
    let (aws, proxy, m) = deployable(prefix, 1).await?;
    m.update(definition.unwrap_or(&support::definition("v2")), true).await;
    Some((aws, proxy, m))
}

/// A printed `sfndeploy ...` command line, run with the built binary.
async fn run_printed(endpoint: &str, command: &str) -> support::Finished {
    let words = shell_words::split(command).expect("a shell line");
    assert_eq!(words[0], "sfndeploy", "{command}");
    run(endpoint, &support::refs(&words[1..])).await
}

/// `HH:MM:SS` UTC, `secs` from now.
fn utc_in(secs: i64) -> String {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    let t = (now + secs).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
}

#[tokio::test]
async fn a_paused_deploy_is_promoted_and_rollback_then_returns_to_the_version_before() {
    let Some((aws, proxy, m)) = with_v2("promote-paused", None).await else { return };
    let alarm = format!("{}-errors", m.name);
    aws.metric_alarm(&alarm, "OK").await;
    let args = [
        "--state-machine", &m.name, "--alias", "prod", "--strategy", "linear", "--increment", "25",
        "--interval", "1", "--alarm-polling", "1", "--alarms", &alarm, "--pause-at", "50", "--output",
        "json",
    ];
    let out = run(&proxy.endpoint(), &args).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 50), (2, 50)]);
    let events = events(&out.stdout);
    let paused = events.iter().find(|e| e["event"] == "paused").expect("a paused event");
    let promote = paused["promote_command"].as_str().unwrap();
    assert_eq!(
        promote,
        format!("sfndeploy promote --state-machine {} --alias prod --alarms {alarm}", m.name)
    );
    let promoted = run_printed(&proxy.endpoint(), promote).await;
    assert_eq!(promoted.code, 0, "{promoted:#?}");
    assert!(
        promoted.stdout.starts_with("Promoted alias prod to 100% v2 (was v1 50% / v2 50%)"),
        "{promoted:#?}"
    );
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    let back = run(&proxy.endpoint(), &["rollback", "--state-machine", &m.name, "--alias", "prod"]).await;
    assert_eq!(back.code, 0, "{back:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)], "the version live before the deploy");
}

#[tokio::test]
async fn a_running_deploy_promoted_from_outside_ends_with_exit_0() {
    let Some((_, proxy, m)) = with_v2("promote-running", None).await else { return };
    let args = [
        "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "10",
        "--interval", "300", "--alarm-polling", "1",
    ];
    let started = Instant::now();
    let running = spawn(&proxy.endpoint(), &args, &[]);
    running.wait_for("step 1/2", Duration::from_secs(30)).await;
    let promoted = run(&proxy.endpoint(), &["promote", "--state-machine", &m.name, "--alias", "prod"]).await;
    assert_eq!(promoted.code, 0, "{promoted:#?}");
    let out = running.finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("promoted by hand"), "{out:#?}");
    assert!(
        out.stderr.contains("was promoted by hand") && !out.stderr.contains("rolling back"),
        "{}",
        out.stderr
    );
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    assert!(started.elapsed() < Duration::from_secs(90), "seen within the hold: {:?}", started.elapsed());
}

#[tokio::test]
async fn an_inconclusive_gate_pauses_with_on_inconclusive_pause() {
    let Some((_, proxy, m)) = with_v2("inconclusive", None).await else { return };
    // No traffic: the gate never has its 3 executions.
    let out = run(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "linear", "--increment", "50",
            "--interval", "1", "--alarm-polling", "1", "--max-failure-rate", "5", "--min-executions", "3",
            "--max-extension", "2s", "--on-inconclusive", "pause",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 50), (2, 50)]);
    assert!(
        out.stdout.contains("the gates could not decide") && out.stdout.contains("To promote now:"),
        "{out:#?}"
    );
    let status = run(&proxy.endpoint(), &["status", "--state-machine", &m.name, "--alias", "prod"]).await;
    assert!(status.stdout.contains("is paused at 50%"), "{status:#?}");
}

#[tokio::test]
async fn an_observing_gate_lets_a_failing_version_through_and_says_what_it_would_have_done() {
    let Some((aws, proxy, m)) = with_v2("observe", Some(FAILING)).await else { return };
    let _traffic = traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(100), |_| "{}");
    let out = run(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
            "--interval", "6", "--alarm-polling", "1", "--max-failure-rate", "5", "--gate-mode", "observe",
            "--output", "json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    let events = events(&out.stdout);
    let observed = events.iter().find(|e| e["event"] == "gate_observed").expect("a gate_observed event");
    assert_eq!(observed["would"], "roll_back");
    assert!(observed["evidence"].as_str().unwrap().contains("over --max-failure-rate 5%"), "{observed}");
    assert!(out.stderr.contains("gate (observe): would have rolled back at 00:0"), "{}", out.stderr);
    assert!(!events.iter().any(|e| e["event"] == "rolling_back"));
}

#[tokio::test]
async fn per_step_holds_and_the_exponential_strategy_run_as_planned() {
    let Some((_, proxy, m)) = with_v2("holds", None).await else { return };
    let args =
        ["--state-machine", &m.name, "--alias", "prod", "--steps", "10:1s,50:4s,100", "--interval", "0"];
    let out = run(&proxy.endpoint(), &args).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let updates = proxy.forwarded("UpdateStateMachineAlias");
    let weights: Vec<i64> =
        updates.iter().map(|c| c.routing().iter().find(|(v, _)| *v == 2).map_or(0, |(_, w)| *w)).collect();
    assert_eq!(weights, [10, 50, 100]);
    let held = |i: usize| updates[i + 1].at.duration_since(updates[i].at);
    assert!(held(0) >= Duration::from_secs(1) && held(0) < Duration::from_secs(3), "{:?}", held(0));
    assert!(held(1) >= Duration::from_secs(4) && held(1) < Duration::from_secs(6), "{:?}", held(1));
    assert!(out.stderr.contains("10% (1s) → 50% (4s) → 100%"), "the schedule: {}", out.stderr);
    // No alarm, no gate: said before traffic moves.
    let warned = out.stderr.find("nothing watches this deploy").expect("the warning");
    assert!(warned < out.stderr.find("weights").unwrap_or(usize::MAX), "{}", out.stderr);

    let (_, proxy, m) = deployable("exponential", 1).await.unwrap();
    m.update(&support::definition("v2"), true).await;
    let args = [
        "--state-machine", &m.name, "--alias", "prod", "--strategy", "exponential", "--increment", "20",
        "--interval", "0",
    ];
    let out = run(&proxy.endpoint(), &args).await;
    assert_eq!(out.code, 0, "{out:#?}");
    let weights: Vec<i64> = proxy
        .forwarded("UpdateStateMachineAlias")
        .iter()
        .map(|c| c.routing().iter().find(|(v, _)| *v == 2).map_or(0, |(_, w)| *w))
        .collect();
    assert_eq!(weights, [20, 40, 80, 100]);
}

#[tokio::test]
async fn a_closed_window_and_a_freeze_change_nothing_and_a_window_opening_soon_is_waited_for() {
    let Some((_, proxy, m)) = with_v2("window", None).await else { return };
    let base =
        ["--state-machine", m.name.as_str(), "--alias", "prod", "--strategy", "canary", "--interval", "1"];
    let closed = format!("daily {}-{} UTC", utc_in(3600), utc_in(7200));
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date().to_string();
    let freeze = format!("{today}..{today}");
    for extra in [vec!["--window", closed.as_str()], vec!["--freeze", freeze.as_str()]] {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let out = run(&proxy.endpoint(), &args).await;
        assert_eq!(out.code, 8, "{out:#?}");
        assert_eq!(out.stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("nothing was changed; the next opening is"), "{}", out.stderr);
    }
    assert!(
        proxy.forwarded("UpdateStateMachineAlias").is_empty()
            && proxy.forwarded("PublishStateMachineVersion").is_empty()
    );
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);

    let soon = format!("daily {}-{} UTC", utc_in(6), utc_in(3600));
    let started = Instant::now();
    let args: Vec<&str> = base.iter().copied().chain(["--window", soon.as_str(), "--window-wait"]).collect();
    let out = run(&proxy.endpoint(), &args).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("waiting for the next opening"), "{}", out.stderr);
    let first = proxy.forwarded("UpdateStateMachineAlias")[0].at;
    assert!(first.duration_since(started) >= Duration::from_secs(4), "moved before the window opened");
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
}

#[tokio::test]
async fn the_fix_deploys_while_its_alarm_fires_and_a_second_alarm_rolls_it_back() {
    let Some((aws, proxy, m)) = with_v2("fix", None).await else { return };
    let (errors, latency) = (format!("{}-errors", m.name), format!("{}-latency", m.name));
    aws.metric_alarm(&errors, "ALARM").await;
    aws.metric_alarm(&latency, "OK").await;
    let args = [
        "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
        "--interval", "4", "--alarm-polling", "1", "--alarms", &errors, &latency, "--allow-firing", &errors,
    ];
    let out = run(&proxy.endpoint(), &args).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    assert!(out.stderr.contains(&format!("alarm {errors} is ALARM and allowed to fire")), "{}", out.stderr);

    // The next fix: the second alarm fires during the canary, and it goes back.
    m.update(&support::definition("v3"), true).await;
    let running = spawn(&proxy.endpoint(), &args, &[]);
    running.wait_for("step 1/2", Duration::from_secs(30)).await;
    aws.set_alarm(&latency, "ALARM").await;
    let out = running.finish().await;
    assert_eq!(out.code, 3, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    assert!(out.stderr.contains(&format!("alarm(s) in ALARM: {latency}")), "{}", out.stderr);
}

#[tokio::test]
async fn each_event_is_one_message_on_the_topic_in_order() {
    let Some((aws, proxy, m)) = with_v2("notify", None).await else { return };
    let (topic, queue) = aws.topic_with_queue(&format!("{}.fifo", m.name)).await;
    let out = run(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "10",
            "--interval", "1", "--notify-topic", &topic, "--output", "json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:#?}");
    let told = ["started", "weights_changed", "completed"];
    let expected: Vec<Value> =
        events(&out.stdout).into_iter().filter(|e| told.contains(&e["event"].as_str().unwrap())).collect();
    let messages: Vec<Value> =
        aws.drain(&queue).await.iter().map(|b| serde_json::from_str(b).expect("a JSON body")).collect();
    let kinds = |v: &[Value]| v.iter().map(|e| e["event"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(kinds(&messages), ["started", "weights_changed", "weights_changed", "completed"]);
    assert_eq!(kinds(&messages), kinds(&expected));
    assert_eq!(messages[1]["new_weight"], 10);

    // A topic that does not exist refuses before any change.
    let missing = topic.replace(".fifo", "-missing");
    let out =
        run(&proxy.endpoint(), &["--state-machine", &m.name, "--alias", "prod", "--notify-topic", &missing])
            .await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.contains("does not exist") && out.stderr.contains("nothing was changed"),
        "{}",
        out.stderr
    );
}
