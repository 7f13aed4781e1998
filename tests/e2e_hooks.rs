//! End to end on the emulator: lifecycle hooks. A failing pre-traffic hook moves no traffic; the
//! hooks see the new version's ARN and run before the first and after the last weight change,
//! their output on stderr only; a failing post-traffic hook rolls back.

mod support;

use serde_json::Value;
use support::{Machine, deployable, refs, run};

fn canary(m: &Machine, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--state-machine", &m.name, "--alias", "prod", "--strategy", "linear", "--increment", "50",
        "--interval", "1", "--alarm-polling", "1", "--output", "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_failing_pre_traffic_hook_moves_no_traffic() {
    let Some((_aws, proxy, m)) = deployable("hook-pre-fails", 2).await else { return };
    let hook = "echo integration tests against $SFNDEPLOY_HOOK_NEW_VERSION; echo 2 failed >&2; exit 2";
    let out = run(&proxy.endpoint(), &refs(&canary(&m, &["--pre-traffic-hook", hook]))).await;
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)], "no traffic moved");
    assert!(proxy.log().iter().all(|c| c.op != "UpdateStateMachineAlias"), "the alias was not touched");
    assert!(out.stderr.contains("pre-traffic hook failed (exit status 2"), "{}", out.stderr);
    // Its output: on stderr, prefixed; never on stdout, which stays JSON.
    assert!(
        out.stderr.contains(&format!("[pre-traffic hook] integration tests against {}", m.version_arn(2))),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("[pre-traffic hook] 2 failed"), "{}", out.stderr);
    let events = events(&out.stdout);
    let finished = events.iter().find(|e| e["event"] == "hook_finished").expect("hook_finished");
    assert_eq!(finished["hook"], "pre-traffic");
    assert_eq!(finished["passed"], false);
    assert_eq!(finished["exit_status"], 2);
    let failed = events.last().unwrap();
    assert_eq!(failed["outcome"], "hook_failed", "{failed}");
}

#[tokio::test]
async fn hooks_run_before_the_first_and_after_the_last_weight_change_and_see_the_versions() {
    let Some((_aws, proxy, m)) = deployable("hook-order", 2).await else { return };
    let seen = dir(&format!("hooks-{}", m.name)).join("seen");
    let record = format!(
        "echo \"$SFNDEPLOY_HOOK $SFNDEPLOY_HOOK_NEW_VERSION $SFNDEPLOY_HOOK_OLD_VERSION $SFNDEPLOY_HOOK_WEIGHT $SFNDEPLOY_HOOK_ALIAS\" >> '{}'",
        seen.display()
    );
    let out = run(
        &proxy.endpoint(),
        &refs(&canary(&m, &["--pre-traffic-hook", &record, "--post-traffic-hook", &record])),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    let lines = std::fs::read_to_string(&seen).unwrap();
    let (v1, v2) = (m.version_arn(1), m.version_arn(2));
    assert_eq!(lines, format!("pre-traffic {v2} {v1} 0 prod\npost-traffic {v2} {v1} 100 prod\n"));
    // In the order of events: the pre-traffic hook ends before the first weight change, the
    // post-traffic hook starts after the last one.
    let kinds: Vec<String> = events(&out.stdout)
        .iter()
        .map(|e| {
            format!(
                "{}{}",
                e["event"].as_str().unwrap(),
                e["hook"].as_str().map_or(String::new(), |h| format!(":{h}"))
            )
        })
        .filter(|k| k.starts_with("hook_") || k == "weights_changed" || k == "completed")
        .collect();
    assert_eq!(
        kinds,
        [
            "hook_started:pre-traffic", "hook_finished:pre-traffic", "weights_changed", "weights_changed",
            "hook_started:post-traffic", "hook_finished:post-traffic", "completed"
        ]
    );
}

#[tokio::test]
async fn a_failing_post_traffic_hook_rolls_back() {
    let Some((_aws, proxy, m)) = deployable("hook-post-fails", 2).await else { return };
    let out = run(&proxy.endpoint(), &refs(&canary(&m, &["--post-traffic-hook", "exit 1"]))).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)], "back on the old version");
    assert!(out.stderr.contains("post-traffic hook failed (exit status 1"), "{}", out.stderr);
}

#[tokio::test]
async fn a_hook_past_its_timeout_is_killed_and_nothing_moves() {
    let Some((_aws, proxy, m)) = deployable("hook-timeout", 2).await else { return };
    let out = run(
        &proxy.endpoint(),
        &refs(&canary(&m, &["--pre-traffic-hook", "sleep 30", "--hook-timeout", "1s"])),
    )
    .await;
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(out.took < std::time::Duration::from_secs(15), "{:?}", out.took);
    assert!(out.stderr.contains("timed out after"), "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
}

#[tokio::test]
async fn rerun_failed_restarts_every_failed_input_on_the_old_version_once() {
    let Some((aws, proxy, m)) = deployable("rerun", 1).await else { return };
    m.update(
        r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"the new version broke"}}}"#,
        true,
    )
    .await; // v2 fails every execution
    let traffic =
        support::traffic(&aws, format!("{}:prod", m.arn), std::time::Duration::from_millis(100), |n| {
            Box::leak(format!("{{\"order\":{n}}}").into_boxed_str())
        });
    let out = run(
        &proxy.endpoint(),
        &refs(
            &[
                "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
                "--interval", "20", "--alarm-polling", "1", "--max-failure-rate", "10", "--rerun-failed",
            ]
            .map(String::from),
        ),
    )
    .await;
    drop(traffic);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("--rerun-failed:"), "{}", out.stderr);
    let list = |arn: String| {
        let sfn = aws.sfn.clone();
        async move { sfn.list_executions().state_machine_arn(arn).max_results(1000).send().await.unwrap() }
    };
    let failed: Vec<String> = list(m.version_arn(2))
        .await
        .executions()
        .iter()
        .filter(|e| *e.status() == aws_sdk_sfn::types::ExecutionStatus::Failed)
        .map(|e| e.execution_arn().to_string())
        .collect();
    let reruns: Vec<String> = list(m.version_arn(1))
        .await
        .executions()
        .iter()
        .filter(|e| e.name().starts_with("rerun-"))
        .map(|e| e.execution_arn().to_string())
        .collect();
    assert!(!failed.is_empty());
    assert_eq!(reruns.len(), failed.len(), "one rerun on v1 per failed execution of v2");
    let input = |arn: String| {
        let sfn = aws.sfn.clone();
        async move {
            sfn.describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .unwrap()
                .input()
                .unwrap_or_default()
                .to_string()
        }
    };
    let mut failed_inputs = Vec::new();
    for arn in failed {
        failed_inputs.push(input(arn).await);
    }
    let mut rerun_inputs = Vec::new();
    for arn in reruns {
        rerun_inputs.push(input(arn).await);
    }
    failed_inputs.sort();
    rerun_inputs.sort();
    assert_eq!(rerun_inputs, failed_inputs, "each input once");
}
