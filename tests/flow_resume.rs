//! `--resume` and `--pause-at` in-process, on virtual time: the planner's decisions carried out
//! against the stateful fake AWS, judged by the calls made and the state left behind.

mod fake;

use std::time::Duration;

use fake::{Fake, definition, deploy, fire_alarm_after};
use sfndeploy::deploy::Outcome;
use sfndeploy::exit_code::ExitCode;
use sfndeploy::note::Marker;
use sfndeploy::report::Event;

const LINEAR25: [&str; 6] = ["--strategy", "linear", "--increment", "25", "--interval", "10"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut all: Vec<&str> = LINEAR25.to_vec();
    all.extend_from_slice(&["--alarm-polling", "2", "--alarms", "errors"]);
    all.extend_from_slice(extra);
    all
}

/// v1..v3 published, prod split v2 50% / v3 50% as a deploy of v3 left it.
fn split_fake(description: &str) -> Fake {
    Fake::new("orders", 3)
        .with_alias("prod", &[(2, 50), (3, 50)])
        .with_alias_description("prod", description)
        .with_alarm("errors", "OK", false)
}

#[tokio::test(start_paused = true)]
async fn pause_at_holds_the_step_that_reaches_it_then_stops_split_with_exit_0() {
    let fake = Fake::new("orders", 3).with_alias("prod", &[(2, 100)]).with_alarm("errors", "OK", false);
    fake.state().alias_descriptions.insert("prod".into(), "orders in production".into());
    let run = deploy(&fake, &args(&["--pause-at", "40"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(run.weights(), [25, 50], "the step that reaches 40 is 50");
    assert_eq!(fake.routing("prod"), [(2, 50), (3, 50)]);
    let Ok(Outcome::Paused { resume_command, rollback_command, .. }) = &run.result else {
        panic!("not paused: {}", run.message());
    };
    assert_eq!(resume_command, "sfndeploy --state-machine orders --alias prod --resume");
    assert_eq!(rollback_command, "sfndeploy rollback --state-machine orders --alias prod --to-version 2");
    assert!(run.message().contains(resume_command) && run.message().contains(rollback_command));
    assert!(run.events.iter().any(|e| matches!(e, Event::Paused { weight: 50, .. })));
    // The pause step was held in full and monitored: polls up to its end, then a last gate.
    let last_update = fake.calls_of("UpdateStateMachineAlias").last().unwrap().at;
    assert_eq!(last_update, Duration::from_secs(10));
    let polls: Vec<u64> = fake.calls_of("DescribeAlarms").iter().map(|c| c.at.as_secs()).collect();
    assert_eq!(polls.last(), Some(&20), "a gate at the end of the pause hold: {polls:?}");
    let description = fake.alias_description("prod").unwrap();
    let marker = Marker::parse(&description).expect("marked");
    assert!(marker.pausing && marker.weight == 50 && marker.new_version == "v3", "{description}");
    assert!(description.ends_with(" | orders in production"), "keeps the user's own: {description}");
    assert!(fake.calls_of("DeleteStateMachineVersion").is_empty(), "no pruning while paused");
}

#[tokio::test(start_paused = true)]
async fn resume_goes_on_from_the_current_weight_never_back_and_restores_the_description() {
    let due = std::time::SystemTime::now();
    let marker = Marker { new_version: "v3".into(), weight: 50, pausing: true, due, release: None };
    let fake = split_fake(&marker.description(2, 2, "orders in production"));
    let run = deploy(&fake, &args(&["--resume"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(run.weights(), [75, 100], "from 50%, up only");
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    // The marker gives way to the record of what was live before, ahead of the alias's own text.
    assert_eq!(
        fake.alias_description("prod").as_deref(),
        Some("sfndeploy: v3 live, before it v2 | orders in production")
    );
    let started = run.events.iter().find_map(|e| match e {
        Event::Started { from_weight, steps, .. } => Some((*from_weight, steps.len())),
        _ => None,
    });
    assert_eq!(started, Some((50, 2)));
    // The first step is a gate: the alarms were read before the first weight change.
    let calls = fake.calls();
    let first_update = calls.iter().position(|c| c.op == "UpdateStateMachineAlias").unwrap();
    assert!(calls[..first_update].iter().any(|c| c.op == "DescribeAlarms"));
    assert!(fake.calls_of("PublishStateMachineVersion").is_empty());
}

#[tokio::test(start_paused = true)]
async fn resume_with_publish_revision_publishes_nothing_when_the_revision_is_already_the_new_version() {
    let fake = split_fake("");
    let run = deploy(&fake, &args(&["--resume", "--publish-revision"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(run.weights(), [75, 100]);
    assert!(fake.calls_of("PublishStateMachineVersion").is_empty(), "no second publish");
    assert_eq!(fake.version_numbers(), [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn resume_with_the_same_file_uploads_nothing_and_a_different_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("sfndeploy-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let same = dir.join("same.json");
    // v3's definition, spaced differently: the same definition.
    std::fs::write(&same, definition("v3").replace(',', ", ")).unwrap();
    let fake = split_fake("");
    let run =
        deploy(&fake, &args(&["--resume", "--publish-revision", "--file", same.to_str().unwrap()])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert!(
        fake.calls_of("UpdateStateMachine").is_empty()
            && fake.calls_of("PublishStateMachineVersion").is_empty()
    );
    assert_eq!(fake.routing("prod"), [(3, 100)]);

    let other = dir.join("other.json");
    std::fs::write(&other, definition("something else")).unwrap();
    let fake = split_fake("");
    let run =
        deploy(&fake, &args(&["--resume", "--publish-revision", "--file", other.to_str().unwrap()])).await;
    assert_eq!(run.code(), ExitCode::Failure, "{}", run.message());
    assert!(run.message().contains("neither of them"), "{}", run.message());
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.mutating_calls());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(start_paused = true)]
async fn resume_refuses_anything_but_a_deploy_of_this_version_and_changes_nothing() {
    // A new revision, not published: resuming it on the v2/v3 split would deploy a third version.
    let fake = split_fake("").with_unpublished_revision();
    let run = deploy(&fake, &args(&["--resume", "--publish-revision"])).await;
    assert_eq!(run.code(), ExitCode::Failure, "{}", run.message());
    assert!(run.message().contains("a version not yet published"), "{}", run.message());
    assert!(fake.mutating_calls().is_empty());

    // The alias is on the old version: nothing to resume.
    let fake = Fake::new("orders", 3).with_alias("prod", &[(2, 100)]).with_alarm("errors", "OK", false);
    let run = deploy(&fake, &args(&["--resume"])).await;
    assert_eq!(run.code(), ExitCode::Failure, "{}", run.message());
    assert!(run.message().contains("no deploy of it is in progress"), "{}", run.message());
    assert!(fake.mutating_calls().is_empty());

    // Already fully on the version: a re-run of a finished job has nothing to do.
    let fake = Fake::new("orders", 3).with_alias("prod", &[(3, 100)]).with_alarm("errors", "OK", false);
    let run = deploy(&fake, &args(&["--resume"])).await;
    assert!(matches!(run.result, Ok(Outcome::NothingToDo { .. })), "{}", run.message());
    assert!(fake.mutating_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_plain_run_on_a_split_alias_offers_resume_and_a_rollback_to_the_older_version() {
    let fake =
        Fake::new("orders", 3).with_alias("prod", &[(2, 30), (3, 70)]).with_alarm("errors", "OK", false);
    let run = deploy(&fake, &args(&[])).await;
    assert_eq!(run.code(), ExitCode::Failure);
    let message = run.message();
    assert!(message.contains("--resume"), "{message}");
    assert!(
        message.contains("sfndeploy rollback --state-machine orders --alias prod --to-version 2"),
        "{message}"
    );
    assert!(fake.mutating_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_alarm_during_a_resumed_deploy_rolls_back_to_the_old_version_and_restores_the_description() {
    let fake =
        split_fake("sfndeploy: deploying v3, 50% (step 2/4), next step due 2026-01-01T00:00:00Z | mine");
    fire_alarm_after(&fake, "errors", Duration::from_secs(5));
    let run = deploy(&fake, &args(&["--resume"])).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    assert_eq!(fake.alias_description("prod").as_deref(), Some("mine"));
}

#[tokio::test(start_paused = true)]
async fn dry_run_describes_a_resume_and_a_pause() {
    let fake = split_fake("");
    let run = deploy(&fake, &args(&["--resume", "--dry-run"])).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert!(run.message().contains("would resume shifting alias prod from v2 to v3"), "{}", run.message());
    assert!(run.message().contains("going on from 50% now"), "{}", run.message());
    let fake = Fake::new("orders", 3).with_alias("prod", &[(2, 100)]).with_alarm("errors", "OK", false);
    let run = deploy(&fake, &args(&["--pause-at", "50", "--dry-run"])).await;
    assert!(run.message().contains("then pause at 50% (--pause-at)"), "{}", run.message());
    assert!(fake.mutating_calls().is_empty());
}
