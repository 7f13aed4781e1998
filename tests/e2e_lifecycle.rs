//! End to end on the emulator, the holes in the lifecycle and in what CI reads: a resumed deploy
//! is watched and rolls back what it continues; `rollback` goes back to the version that was live;
//! success waits for the alias read back; AWS text never forges a workflow command; a rolled-back
//! file takes its definition with it; smoke runs have names; a never-updated state machine
//! publishes.

mod support;

use std::time::Duration;

use support::{FAILING, Machine, deployable, refs, spawn, traffic};

fn canary(m: &Machine, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--state-machine", &m.name, "--alias", "prod", "--strategy", "linear", "--increment", "50",
        "--interval", "2", "--alarm-polling", "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[tokio::test]
async fn a_resumed_deploy_is_watched_and_rolls_back_the_split_it_continues() {
    let Some((aws, proxy, m)) = deployable("resume-watched", 2).await else { return };
    let alarm = format!("{}-errors", m.name);
    aws.metric_alarm(&alarm, "OK").await;
    // Paused at 50%, then the alarm fires; the resume rolls back.
    let paused = spawn(&proxy.endpoint(), &refs(&canary(&m, &["--alarms", &alarm, "--pause-at", "50"])), &[]);
    let out = paused.finish().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 50), (2, 50)]);
    aws.set_alarm(&alarm, "ALARM").await;
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("gh-{}", m.name));
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join("output");
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", dir.join("summary").to_str().unwrap().to_string().leak() as &str),
    ];
    let out =
        spawn(&proxy.endpoint(), &refs(&canary(&m, &["--alarms", &alarm, "--resume"])), &env).finish().await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)], "the split it continued is undone");
    assert!(std::fs::read_to_string(&output).unwrap().contains("outcome=rolled_back"));
    assert!(out.stderr.contains("::error title=sfndeploy rolled back::"), "{}", out.stderr);

    // The same with a gate on the new version's executions.
    aws.set_alarm(&alarm, "OK").await;
    m.update(FAILING, true).await; // v3
    let out = spawn(&proxy.endpoint(), &refs(&canary(&m, &["--pause-at", "50"])), &[]).finish().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 50), (3, 50)]);
    let _traffic = traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(50), |_| "{}");
    let out = spawn(&proxy.endpoint(), &refs(&canary(&m, &["--max-failure-rate", "10", "--resume"])), &[])
        .finish()
        .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
}

#[tokio::test]
async fn rollback_goes_back_to_the_version_that_was_live() {
    let Some((_aws, proxy, m)) = deployable("rollback-live", 1).await else { return };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("smoke-{}", m.name));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("order.json");
    std::fs::write(&input, "{}").unwrap();
    // v2 fails its smoke run: published, never routed.
    m.update(FAILING, false).await;
    let out = spawn(
        &proxy.endpoint(),
        &refs(&canary(&m, &["--publish-revision", "--smoke-input", input.to_str().unwrap()])),
        &[],
    )
    .finish()
    .await;
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert_eq!(m.versions().await, [1, 2]);
    // The smoke execution was named for this run: a retried start starts nothing new.
    let listed = m.aws.sfn.list_executions().state_machine_arn(m.version_arn(2)).send().await.unwrap();
    let names: Vec<&str> = listed.executions().iter().map(|e| e.name()).collect();
    assert!(names.len() == 1 && names[0].starts_with("sfndeploy-smoke-v2-1-"), "{names:?}");
    // v3 deploys; rollback goes back to v1, not v2.
    m.update(&support::definition("v3"), false).await;
    let out = spawn(&proxy.endpoint(), &refs(&canary(&m, &["--publish-revision"])), &[]).finish().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(3, 100)]);
    let out = spawn(&proxy.endpoint(), &["rollback", "--state-machine", &m.name, "--alias", "prod"], &[])
        .finish()
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)], "{}", out.stdout);
}

#[tokio::test]
async fn success_waits_for_the_alias_read_back() {
    let Some((aws, proxy, m)) = deployable("read-back", 3).await else { return };
    // Someone puts the alias back on v1 during the final monitored hold.
    let sfn = aws.sfn.clone();
    let (arn, v1) = (format!("{}:prod", m.arn), m.version_arn(1));
    let running = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
            "--interval", "1", "--bake", "4", "--history-max", "2", "--alarm-polling", "1",
        ],
        &[],
    );
    running.wait_for("step 2/2", Duration::from_secs(30)).await;
    let item = aws_sdk_sfn::types::RoutingConfigurationListItem::builder()
        .state_machine_version_arn(v1)
        .weight(100)
        .build()
        .unwrap();
    sfn.update_state_machine_alias()
        .state_machine_alias_arn(&arn)
        .routing_configuration(item)
        .send()
        .await
        .unwrap();
    let out = running.finish().await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)], "left as found");
    assert_eq!(m.versions().await, [1, 2, 3], "nothing pruned");
}

#[tokio::test]
async fn text_from_aws_never_starts_a_workflow_command() {
    let forged = r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"broke\n::stop-commands::x\n::error title=forged::pwned"}}}"#;
    let Some((aws, proxy, m)) = deployable("forged", 1).await else { return };
    m.update(forged, true).await;
    let _traffic = traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(50), |_| "{}");
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("gh-{}", m.name));
    std::fs::create_dir_all(&dir).unwrap();
    let (summary, output) = (dir.join("summary"), dir.join("output"));
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ("GITHUB_OUTPUT", output.to_str().unwrap()),
    ];
    let out = spawn(&proxy.endpoint(), &refs(&canary(&m, &["--max-failure-rate", "5"])), &env).finish().await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("stop-commands"), "the cause is shown: {}", out.stderr);
    for line in out.stderr.lines().chain(out.stdout.lines()) {
        let bare = line.trim_start();
        if bare.starts_with("::") {
            assert!(
                bare.starts_with("::error title=sfndeploy") && !bare.contains('\n'),
                "a forged command: {line}"
            );
        }
    }
    let annotation =
        out.stderr.lines().find(|l| l.starts_with("::error title=sfndeploy")).expect("an annotation");
    assert!(
        annotation.contains("%0A::stop-commands") || annotation.contains("\\n::stop-commands"),
        "{annotation}"
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.lines().all(|l| !l.trim_start().starts_with("::")), "{summary}");
}

#[tokio::test]
async fn a_rolled_back_file_takes_its_definition_with_it() {
    let Some((aws, proxy, m)) = deployable("file-back", 1).await else { return };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("file-{}", m.name));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("orders.asl.json");
    std::fs::write(&file, FAILING).unwrap();
    let _traffic = traffic(&aws, format!("{}:prod", m.arn), Duration::from_millis(50), |_| "{}");
    let out = spawn(
        &proxy.endpoint(),
        &refs(&canary(
            &m,
            &["--file", file.to_str().unwrap(), "--publish-revision", "--max-failure-rate", "5"],
        )),
        &[],
    )
    .finish()
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
    let current = aws.sfn.describe_state_machine().state_machine_arn(&m.arn).send().await.unwrap();
    let json = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
    assert_eq!(
        json(current.definition()),
        json(&m.version_definition(1).await),
        "v1's definition is current again"
    );
    assert_eq!(m.versions().await, [1, 2], "nothing more was published");
    assert!(out.stderr.contains("current revision again"), "{}", out.stderr);
}

#[tokio::test]
async fn a_state_machine_never_updated_publishes_its_initial_revision() {
    let Some(emulator) = support::emulator() else { return };
    let aws = support::Aws::new(emulator).await;
    let proxy = support::proxy::Proxy::start(emulator.port).await;
    let m = Machine::create(&aws, "initial", 0).await;
    let out = spawn(&proxy.endpoint(), &refs(&canary(&m, &["--publish-revision"])), &[]).finish().await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(m.routing("prod").await.unwrap(), [(1, 100)]);
    // As AWS documents it: the guard says INITIAL. (LocalStack refuses it, and a state machine
    // that still has no revision is then published without a guard: nothing can have changed.)
    let publish = proxy.forwarded("PublishStateMachineVersion");
    assert!(publish[0].body.contains("\"revisionId\":\"INITIAL\""), "{publish:?}");
}
