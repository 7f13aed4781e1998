//! End to end, the CI lifecycle: a deploy killed mid-way and resumed, a manual gate
//! (`--pause-at`) and what `status` says of it, and a resume that must change nothing. The
//! built binary against LocalStack, through the logging proxy.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::proxy::Proxy;
use support::{Machine, deployable, run, spawn};

/// The new version's weight in each alias update the proxy forwarded from `since` on.
fn weights_of(proxy: &Proxy, new: u32, since: usize) -> Vec<i64> {
    proxy.forwarded("UpdateStateMachineAlias")[since..]
        .iter()
        .map(|c| c.routing().iter().find(|(v, _)| *v == new).map_or(0, |(_, w)| *w))
        .collect()
}

/// prod on v1, and a new revision that is not published yet.
async fn with_new_revision(prefix: &str) -> Option<(Proxy, Machine)> {
    let (_, proxy, m) = deployable(prefix, 1).await?;
    m.update(&support::definition("second"), false).await;
    Some((proxy, m))
}

#[tokio::test]
async fn a_deploy_killed_mid_linear_is_finished_by_the_same_command_with_resume() {
    let Some((proxy, m)) = with_new_revision("killed").await else { return };
    let args = [
        "--state-machine", &m.name, "--alias", "prod", "--publish-revision", "--strategy", "linear",
        "--increment", "25", "--interval", "3", "--alarm-polling", "1",
    ];
    let running = spawn(&proxy.endpoint(), &args, &[]);
    running.wait_for("step 2/4", Duration::from_secs(30)).await;
    running.signal("KILL");
    let killed = running.finish().await;
    assert_eq!(killed.code, -1, "killed: {killed:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 50), (2, 50)], "left split by the kill");
    let updates_before = proxy.forwarded("UpdateStateMachineAlias").len();

    let mut resumed: Vec<&str> = args.to_vec();
    resumed.push("--resume");
    let out = run(&proxy.endpoint(), &resumed).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    assert_eq!(weights_of(&proxy, 2, updates_before), [75, 100], "from 50%, never back");
    assert_eq!(proxy.forwarded("PublishStateMachineVersion").len(), 1, "published once, by the first run");
    assert_eq!(m.versions().await, [1, 2]);
    assert!(out.stderr.contains("resuming the deploy of v2"), "{}", out.stderr);
}

#[tokio::test]
async fn pause_at_50_leaves_the_alias_split_with_exit_0_and_resume_goes_on_from_there() {
    let Some((proxy, m)) = with_new_revision("paused").await else { return };
    let alarm = format!("{}-errors", m.name);
    m.aws.metric_alarm(&alarm, "OK").await;
    let args = [
        "--state-machine", &m.name, "--alias", "prod", "--publish-revision", "--strategy", "linear",
        "--increment", "25", "--interval", "1", "--alarm-polling", "1", "--alarms", &alarm,
    ];
    let mut paused: Vec<&str> = args.to_vec();
    paused.extend(["--pause-at", "50", "--output", "json"]);
    let out = run(&proxy.endpoint(), &paused).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 50), (2, 50)]);
    let events: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let event = events.iter().find(|e| e["event"] == "paused").expect("a paused event");
    assert_eq!(event["new_weight"], 50);
    let resume_command = event["resume_command"].as_str().unwrap();
    assert!(
        resume_command.ends_with("--resume") && !resume_command.contains("--pause-at"),
        "{resume_command}"
    );
    assert!(resume_command.contains("--alarms"), "the deploy's own flags: {resume_command}");
    assert_eq!(
        event["rollback_command"],
        format!("sfndeploy rollback --state-machine {} --alias prod --to-version 1", m.name)
    );

    // status explains the split: paused, at which weight, and what to run next.
    let status = run(&proxy.endpoint(), &["status", "--state-machine", &m.name, "--alias", "prod"]).await;
    assert_eq!(status.code, 0, "{status:#?}");
    assert!(status.stdout.contains("A deploy of v2 is paused at 50%"), "{}", status.stdout);
    assert!(
        status.stdout.contains("--resume") && status.stdout.contains("--to-version 1"),
        "{}",
        status.stdout
    );
    let status = run(
        &proxy.endpoint(),
        &["status", "--state-machine", &m.name, "--alias", "prod", "--output", "json"],
    )
    .await;
    let status: Value = serde_json::from_str(status.stdout.trim()).unwrap();
    assert_eq!(status["deploy"]["state"], "paused", "{status}");
    assert_eq!(status["deploy"]["new_weight"], 50);

    // The printed command, run as printed, finishes the deploy from the next weight.
    let updates_before = proxy.forwarded("UpdateStateMachineAlias").len();
    let words: Vec<String> =
        resume_command.split(' ').skip(1).map(|w| w.trim_matches('\'').to_string()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let out = run(&proxy.endpoint(), &words).await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(weights_of(&proxy, 2, updates_before), [75, 100]);
    assert_eq!(m.routing("prod").await.unwrap(), [(2, 100)]);
    assert_eq!(proxy.forwarded("PublishStateMachineVersion").len(), 1);
}

#[tokio::test]
async fn resume_of_a_different_revision_on_a_split_alias_changes_nothing() {
    let Some((_, proxy, m)) = deployable("resume-other", 2).await else { return };
    m.set_routing("prod", &[(1, 60), (2, 40)]).await; // as an interrupted deploy of v2 left it
    m.update(&support::definition("third"), false).await; // a revision no deploy has published
    let before = m.snapshot().await;
    let out = run(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--publish-revision", "--strategy", "linear",
            "--resume",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr.contains("neither of them") && out.stderr.contains("nothing was changed"),
        "{}",
        out.stderr
    );
    assert_eq!(m.snapshot().await, before);
    for op in ["PublishStateMachineVersion", "UpdateStateMachine", "UpdateStateMachineAlias"] {
        assert!(proxy.forwarded(op).is_empty(), "{op} was called");
    }
}
