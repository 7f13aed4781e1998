//! Holes in the lifecycle, in-process on virtual time: a deploy that continues from a split alias
//! owns it; `rollback` goes back to the version that was live; success and a pause are declared
//! only after reading the alias back; a rolled-back file upload takes its definition with it;
//! smoke runs start once; publishing says what it conflicted with.

mod fake;

use std::time::Duration;

use clap::Parser;
use fake::{Fake, Fault, definition, deploy};
use sfndeploy::cli::{Cli, Command};
use sfndeploy::config::RollbackConfig;
use sfndeploy::exit_code::{ExitCode, exit_code_of};
use sfndeploy::note::Marker;
use sfndeploy::report::Reporter;

/// v1..v3, prod split v2 50% / v3 50% as a deploy of v3 paused at 50% left it.
fn paused_at_50() -> Fake {
    let marker = Marker {
        new_version: "v3".into(),
        weight: 50,
        pausing: true,
        due: std::time::SystemTime::now(),
        release: None,
    };
    Fake::new("orders", 3)
        .with_alias("prod", &[(2, 50), (3, 50)])
        .with_alias_description("prod", &marker.description(2, 2, "orders"))
        .with_alarm("errors", "OK", false)
}

const LINEAR25: [&str; 8] =
    ["--strategy", "linear", "--increment", "25", "--interval", "10", "--alarm-polling", "1"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = LINEAR25.to_vec();
    all.extend_from_slice(extra);
    all
}

#[tokio::test(start_paused = true)]
async fn a_resumed_deploy_whose_alarm_is_in_alarm_rolls_back_what_it_continues() {
    let fake = paused_at_50();
    fake.set_alarm("errors", "ALARM");
    let run = deploy(&fake, &args(&["--alarms", "errors", "--resume"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)], "the split it continued is undone");
    assert!(run.message().contains("rolled back") && run.message().contains("errors"), "{}", run.message());
    assert_eq!(fake.alias_description("prod").as_deref(), Some("orders"), "the marker is gone");
}

#[tokio::test(start_paused = true)]
async fn a_resumed_deploy_whose_new_version_fails_rolls_back_what_it_continues() {
    let fake = paused_at_50();
    let _traffic = fake.traffic("prod", Duration::from_millis(20), |v| {
        if v == 3 { ("FAILED", Some("Boom")) } else { ("SUCCEEDED", None) }
    });
    let run = deploy(&fake, &args(&["--max-failure-rate", "10", "--resume"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    // --force onto a split alias that already carries the target owns it just the same.
    let fake = paused_at_50();
    let _traffic = fake.traffic("prod", Duration::from_millis(20), |v| {
        if v == 3 { ("FAILED", Some("Boom")) } else { ("SUCCEEDED", None) }
    });
    let run = deploy(&fake, &args(&["--max-failure-rate", "10", "--force"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
}

async fn rollback(fake: &Fake, extra: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["sfndeploy", "rollback", "--state-machine", "orders", "--alias", "prod"];
    argv.extend_from_slice(extra);
    let Some(Command::Rollback(args)) = Cli::try_parse_from(argv).unwrap().command else { unreachable!() };
    let cfg = RollbackConfig::from_args(&args, &|_: &str| None)?;
    sfndeploy::rollback::run(&fake.clients(), &cfg, &Reporter::recording()).await
}

/// A new revision on the fake, not yet published.
fn new_revision(fake: &Fake, result: &str) {
    let mut s = fake.state();
    s.revision += 1;
    s.definition = definition(result);
}

#[tokio::test(start_paused = true)]
async fn rollback_goes_back_to_the_version_that_was_live_not_one_that_never_had_traffic() {
    // v1 live; v2 fails its smoke run (never routed); v3 deploys.
    let fake = Fake::new("orders", 1).with_alias("prod", &[(1, 100)]);
    fake.state().kind = aws_sdk_sfn::types::StateMachineType::Express;
    fake.state().sync_outcome.insert(2, ("FAILED".into(), Some("Broken".into())));
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flow-lifecycle");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("order.json");
    std::fs::write(&input, "{}").unwrap();
    let smoke: &'static str = Box::leak(input.to_str().unwrap().to_string().into_boxed_str());
    new_revision(&fake, "v2");
    let run = deploy(&fake, &["--publish-revision", "--interval", "1", "--smoke-input", smoke]).await;
    assert_eq!(run.code(), ExitCode::SmokeFailed, "{}", run.message());
    new_revision(&fake, "v3");
    let run = deploy(&fake, &["--publish-revision", "--interval", "1"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    let said = rollback(&fake, &[]).await.unwrap();
    assert_eq!(fake.routing("prod"), [(1, 100)], "{said}");
    // A second rollback undoes the first.
    rollback(&fake, &[]).await.unwrap();
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    // With no record of what was live before: one sentence asking for --to-version.
    let fake = Fake::new("orders", 3).with_alias("prod", &[(3, 100)]);
    let err = rollback(&fake, &[]).await.unwrap_err();
    assert!(format!("{err:#}").contains("--to-version"), "{err:#}");
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    assert!(fake.mutating_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn success_is_declared_only_after_reading_the_alias_back() {
    // Someone puts the alias back on v2 during the final monitored hold.
    let fake = Fake::new("orders", 3).with_alias("prod", &[(2, 100)]);
    let other = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let v2 = other.version_arn(2);
        let mut s = other.state();
        s.aliases[0].1 = vec![(v2, 100)];
    });
    let run = deploy(
        &fake,
        &[
            "--strategy", "canary", "--increment", "10", "--interval", "10", "--bake", "10", "--history-max",
            "2",
        ],
    )
    .await;
    assert_eq!(run.code(), ExitCode::Conflict, "{}", run.message());
    assert!(run.message().contains("changed by someone else"), "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)], "left as found");
    assert!(fake.calls_of("DeleteStateMachineVersion").is_empty(), "nothing pruned");
    let updates = fake.calls_of("UpdateStateMachineAlias").len();
    assert_eq!(updates, 2, "10% and 100%, nothing after");
}

#[tokio::test(start_paused = true)]
async fn a_pause_is_declared_only_after_reading_the_alias_back() {
    let fake = Fake::new("orders", 3).with_alias("prod", &[(2, 100)]);
    let other = fake.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let v2 = other.version_arn(2);
        other.state().aliases[0].1 = vec![(v2, 100)];
    });
    let run = deploy(&fake, &args(&["--pause-at", "50"])).await;
    assert_eq!(run.code(), ExitCode::Conflict, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
}

#[tokio::test(start_paused = true)]
async fn a_rolled_back_file_deploy_puts_the_old_definition_back() {
    let fake = Fake::new("orders", 2).with_alias("prod", &[(2, 100)]).with_alarm("errors", "OK", false);
    fake::fire_alarm_after(&fake, "errors", Duration::from_secs(5));
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flow-lifecycle-file");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("orders.asl.json");
    std::fs::write(&file, definition("bad")).unwrap();
    let path: &'static str = Box::leak(file.to_str().unwrap().to_string().into_boxed_str());
    let run = deploy(&fake, &args(&["--file", path, "--publish-revision", "--alarms", "errors"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    assert!(run.message().contains("definition of v2 is the current revision again"), "{}", run.message());
    let s = fake.state();
    assert_eq!(s.definition, definition("v2"), "the old definition is current again");
    assert_eq!(s.versions.len(), 3, "and nothing more was published");
}

#[tokio::test(start_paused = true)]
async fn a_synchronous_smoke_run_is_never_retried_and_a_timeout_is_a_smoke_failure() {
    let fake = Fake::new("orders", 2).with_alias("prod", &[(1, 100)]);
    fake.state().kind = aws_sdk_sfn::types::StateMachineType::Express;
    fake.hook(|_, op, _| (op == "StartSyncExecution").then_some(Fault::Timeout));
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flow-lifecycle-sync");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("order.json");
    std::fs::write(&input, "{}").unwrap();
    let smoke: &'static str = Box::leak(input.to_str().unwrap().to_string().into_boxed_str());
    let run = deploy(&fake, &["--smoke-input", smoke, "--smoke-timeout", "30s", "--interval", "1"]).await;
    assert_eq!(run.code(), ExitCode::SmokeFailed, "{}", run.message());
    assert_eq!(fake.calls().iter().filter(|c| c.op == "StartSyncExecution").count(), 1, "started once");
    assert_eq!(fake.routing("prod"), [(1, 100)]);
}

#[tokio::test(start_paused = true)]
async fn a_never_updated_state_machine_is_published_with_the_initial_revision() {
    let fake = Fake::new("orders", 0).with_alarm("errors", "OK", false);
    fake.state().never_updated = true;
    let run = deploy(&fake, &["--publish-revision", "--interval", "1"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let publishes = fake.calls_of("PublishStateMachineVersion");
    assert_eq!(publishes.len(), 1);
    assert_eq!(publishes[0].detail, "INITIAL", "the guard holds for a state machine never updated");
}

#[tokio::test(start_paused = true)]
async fn a_conflict_while_publishing_says_what_it_conflicted_with() {
    let fake = Fake::new("orders", 2).with_alias("prod", &[(2, 100)]).with_unpublished_revision();
    fake.state().publish_busy = true;
    let run = deploy(&fake, &["--publish-revision"]).await;
    assert_eq!(run.code(), ExitCode::Failure);
    assert!(run.message().contains("another publish or a version deletion"), "{}", run.message());
    // The definition did change: say so.
    let fake = Fake::new("orders", 2).with_alias("prod", &[(2, 100)]).with_unpublished_revision();
    let changer = fake.clone();
    fake.hook(move |s, op, _| {
        if op == "PublishStateMachineVersion" {
            s.revision += 1;
        }
        let _ = &changer;
        None
    });
    let run = deploy(&fake, &["--publish-revision"]).await;
    assert!(run.message().contains("changed after sfndeploy read it"), "{}", run.message());
    assert_eq!(exit_code_of(run.result.as_ref().unwrap_err()), ExitCode::Failure);
}
