//! The whole deploy flow in-process: mocked AWS clients (tests/fake) and virtual time, so a
//! ten-minute canary runs in milliseconds and every call can be checked.

mod fake;

use std::time::Duration;

use fake::{Fake, deploy, fire_alarm_after, standard};
use sfndeploy::deploy::Outcome;
use sfndeploy::exit_code::ExitCode;
use sfndeploy::report::Event;

#[tokio::test(start_paused = true)]
async fn linear_shifts_in_steps_and_ends_single_entry() {
    let fake = standard();
    let run = deploy(
        &fake,
        &["--strategy", "linear", "--increment", "30", "--interval", "12", "--alarms", "errors"],
    )
    .await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(run.weights(), [30, 60, 90, 100]);
    let updates: Vec<String> =
        fake.calls_of("UpdateStateMachineAlias").into_iter().map(|c| c.detail).collect();
    assert_eq!(updates, ["v2=70,v3=30", "v2=40,v3=60", "v2=10,v3=90", "v3=100"]);
    assert_eq!(fake.routing("prod"), [(3, 100)], "one routing entry at the end");
    // Four holds of 12 s; weight changes at 0, 12, 24, 36 s.
    let at: Vec<u64> = fake.calls_of("UpdateStateMachineAlias").iter().map(|c| c.at.as_secs()).collect();
    assert_eq!(at, [0, 12, 24, 36]);
    assert!(matches!(run.result, Ok(Outcome::Deployed { .. })));
}

#[tokio::test(start_paused = true)]
async fn canary_and_all_at_once_plans() {
    for (args, weights) in [
        (&["--strategy", "canary", "--increment", "10", "--interval", "2"][..], &[10, 100][..]),
        (&["--strategy", "canary", "--increment", "100", "--interval", "2"], &[100]),
        (&["--strategy", "allatonce", "--interval", "5"], &[100]),
        (&["--steps", "5,25,50,100", "--interval", "1"], &[5, 25, 50, 100]),
    ] {
        let fake = standard();
        let run = deploy(&fake, args).await;
        assert_eq!(run.code(), ExitCode::Success, "{args:?}: {}", run.message());
        assert_eq!(run.weights(), weights, "{args:?}");
        assert_eq!(fake.routing("prod"), [(3, 100)]);
    }
}

#[tokio::test(start_paused = true)]
async fn alarm_firing_in_first_middle_or_last_hold_rolls_back_within_one_poll() {
    // linear 50 with 10 s holds: holds are [0,10) and [10,20); the final gate is at 20 s.
    for fire_at in [3.5, 10.5, 19.5] {
        let fake = standard();
        fire_alarm_after(&fake, "errors", Duration::from_secs_f64(fire_at));
        let run = deploy(
            &fake,
            &[
                "--strategy", "linear", "--increment", "50", "--interval", "10", "--alarm-polling", "2",
                "--alarms", "errors",
            ],
        )
        .await;
        assert_eq!(run.code(), ExitCode::RolledBack, "fired at {fire_at}: {}", run.message());
        assert!(run.message().contains("errors"), "names the alarm: {}", run.message());
        assert_eq!(fake.routing("prod"), [(2, 100)], "fired at {fire_at}: back on the old version");
        let rollback = fake.calls_of("UpdateStateMachineAlias").last().cloned().unwrap();
        assert_eq!(rollback.detail, "v2=100");
        let delay = rollback.at.as_secs_f64() - fire_at;
        assert!((0.0..=2.0).contains(&delay), "fired at {fire_at}, rolled back {delay}s later");
        assert!(
            run.events.iter().any(|e| matches!(e, Event::AlarmFired { alarms } if alarms == &["errors"]))
        );
        assert!(run.events.iter().any(|e| matches!(e, Event::RolledBack { .. })));
    }
}

#[tokio::test(start_paused = true)]
async fn polls_every_alarm_polling_and_gates_every_increase_without_oversleeping() {
    let fake = standard();
    let run = deploy(
        &fake,
        &[
            "--strategy", "linear", "--increment", "50", "--interval", "10", "--alarm-polling", "3",
            "--alarms", "errors",
        ],
    )
    .await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let polls: Vec<u64> = fake.calls_of("DescribeAlarms").iter().map(|c| c.at.as_secs()).collect();
    // the check (standing in for the first gate), polls at 3/6/9 in hold 1, gate at 10,
    // polls at 13/16/19, final gate at 20.
    assert_eq!(polls, [0, 3, 6, 9, 10, 13, 16, 19, 20]);
    let updates: Vec<u64> = fake.calls_of("UpdateStateMachineAlias").iter().map(|c| c.at.as_secs()).collect();
    assert_eq!(updates, [0, 10], "each hold ends on time, not at the next poll");
    let last = fake.calls().last().unwrap().at;
    assert_eq!(last, Duration::from_secs(20), "the deploy ends at the planned time");
}

#[tokio::test(start_paused = true)]
async fn polling_slower_than_the_hold_still_ends_each_hold_on_time() {
    let fake = standard();
    let run = deploy(
        &fake,
        &[
            "--strategy", "canary", "--increment", "10", "--interval", "10", "--alarm-polling", "7",
            "--bake", "10", "--alarms", "errors",
        ],
    )
    .await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let polls: Vec<u64> = fake.calls_of("DescribeAlarms").iter().map(|c| c.at.as_secs()).collect();
    assert_eq!(polls, [0, 7, 10, 17, 20]);
    // Without --bake the canary holds once: 100% is followed by one last read, no hold.
    let fake = standard();
    let run = deploy(
        &fake,
        &[
            "--strategy", "canary", "--increment", "10", "--interval", "10", "--alarm-polling", "7",
            "--alarms", "errors",
        ],
    )
    .await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let polls: Vec<u64> = fake.calls_of("DescribeAlarms").iter().map(|c| c.at.as_secs()).collect();
    assert_eq!(polls, [0, 7, 10, 10]);
}

#[tokio::test(start_paused = true)]
async fn missing_alias_is_created_at_100_percent() {
    let fake = Fake::new("orders", 1).with_unpublished_revision();
    let run = deploy(&fake, &["--publish-revision", "--strategy", "canary"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert!(matches!(run.result, Ok(Outcome::Created { .. })));
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    let ops: Vec<&str> = fake.mutating_calls().iter().map(|c| c.op).collect();
    assert_eq!(ops, ["PublishStateMachineVersion", "CreateStateMachineAlias"]);
}

#[tokio::test(start_paused = true)]
async fn alias_already_on_new_version_is_a_no_op() {
    let fake = Fake::new("orders", 3).with_alias("prod", &[(3, 100)]);
    let run = deploy(&fake, &["--strategy", "linear"]).await;
    assert_eq!(run.code(), ExitCode::Success);
    assert!(matches!(run.result, Ok(Outcome::NothingToDo { .. })), "{}", run.message());
    assert!(fake.mutating_calls().is_empty());
    // Publishing an unchanged revision returns the same version: still nothing to do.
    let run = deploy(&fake, &["--publish-revision"]).await;
    assert!(matches!(run.result, Ok(Outcome::NothingToDo { .. })), "{}", run.message());
    assert_eq!(fake.version_numbers(), [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn split_alias_is_refused_without_force_and_nothing_changes() {
    let fake = Fake::new("orders", 3).with_alias("prod", &[(1, 60), (2, 40)]).with_unpublished_revision();
    let run = deploy(&fake, &["--publish-revision"]).await;
    assert_eq!(run.code(), ExitCode::Failure);
    assert!(run.message().contains("split") && run.message().contains("--force"), "{}", run.message());
    assert!(fake.mutating_calls().is_empty(), "nothing published or shifted: {:?}", fake.mutating_calls());
    assert_eq!(fake.routing("prod"), [(1, 60), (2, 40)]);
}

#[tokio::test(start_paused = true)]
async fn split_alias_with_force_deploys_from_the_heavier_version() {
    let fake =
        Fake::new("orders", 3).with_alias("prod", &[(1, 60), (2, 40)]).with_alarm("errors", "OK", false);
    fire_alarm_after(&fake, "errors", Duration::from_secs(15));
    let run = deploy(
        &fake,
        &[
            "--force", "--strategy", "linear", "--increment", "50", "--interval", "10", "--alarm-polling",
            "1", "--alarms", "errors",
        ],
    )
    .await;
    // It monitored and rolled back to v1, the version with the larger weight.
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(1, 100)]);
    let updates: Vec<String> =
        fake.calls_of("UpdateStateMachineAlias").into_iter().map(|c| c.detail).collect();
    assert_eq!(updates, ["v1=50,v3=50", "v3=100", "v1=100"]);

    let fake = Fake::new("orders", 3).with_alias("prod", &[(1, 60), (2, 40)]);
    let run = deploy(&fake, &["--force", "--strategy", "canary", "--interval", "1"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}

#[tokio::test(start_paused = true)]
async fn an_alias_left_at_old_0_new_100_by_the_script_is_not_split() {
    let fake = Fake::new("orders", 3).with_alias("prod", &[(1, 0), (2, 100)]);
    let run = deploy(&fake, &["--strategy", "canary", "--interval", "1"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(run.weights(), [5, 100]);
    let first = fake.calls_of("UpdateStateMachineAlias")[0].detail.clone();
    assert_eq!(first, "v2=95,v3=5", "shifts from the version with all the traffic");
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}

#[tokio::test(start_paused = true)]
async fn forced_resume_skips_steps_already_reached() {
    // A failed deploy left v1 70% / v3 30%; re-running linear 20 continues from 40%.
    let fake = Fake::new("orders", 3).with_alias("prod", &[(1, 70), (3, 30)]);
    let run =
        deploy(&fake, &["--force", "--strategy", "linear", "--increment", "20", "--interval", "1"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(run.weights(), [40, 60, 80, 100]);
}

#[tokio::test(start_paused = true)]
async fn pruning_reads_every_page_and_keeps_alias_versions() {
    let fake = Fake::new("orders", 12).with_alias("prod", &[(11, 100)]).with_alias("legacy", &[(2, 100)]);
    fake.state().page_size = 5;
    let run = deploy(&fake, &["--history-max", "3", "--interval", "0"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.version_numbers(), [2, 10, 11, 12]);
    let Some(Event::Pruned { deleted, .. }) = run.events.iter().find(|e| matches!(e, Event::Pruned { .. }))
    else {
        panic!("no pruned event");
    };
    assert_eq!(deleted.len(), 8);
    assert!(fake.calls_of("ListStateMachineVersions").len() >= 3, "read every page");
}

#[tokio::test(start_paused = true)]
async fn a_version_taken_by_an_alias_during_pruning_is_skipped() {
    let fake = Fake::new("orders", 6).with_alias("prod", &[(5, 100)]);
    let v1 = fake.version_arn(1);
    fake.hook(move |s, op, _| {
        if op == "DeleteStateMachineVersion" && !s.aliases.iter().any(|(n, _)| n == "sneaky") {
            s.aliases.push(("sneaky".into(), vec![(v1.clone(), 100)]));
        }
        None
    });
    let run = deploy(&fake, &["--history-max", "2", "--interval", "0"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.version_numbers(), [1, 5, 6]);
    let Some(Event::Pruned { skipped, .. }) = run.events.iter().find(|e| matches!(e, Event::Pruned { .. }))
    else {
        panic!("no pruned event");
    };
    assert_eq!(skipped.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn bad_input_makes_no_mutating_call() {
    let cases: Vec<(Fake, Vec<&str>, &str)> = vec![
        (Fake::new("other", 2).with_alias("prod", &[(1, 100)]), vec!["--publish-revision"], "does not exist"),
        (
            standard(),
            vec!["--publish-revision", "--alarms", "errors", "nope", "also nope"],
            "'nope', 'also nope'",
        ),
        (
            standard().with_alarm("hot", "ALARM", true),
            vec!["--publish-revision", "--alarms", "errors", "hot"],
            "already in ALARM",
        ),
        (Fake::new("orders", 0), vec![], "no published version"),
    ];
    for (fake, args, expect) in cases {
        fake.state().revision += 1;
        let run = deploy(&fake, &args).await;
        assert_ne!(run.code(), ExitCode::Success, "{args:?}");
        assert!(run.message().contains(expect), "{args:?}: {}", run.message());
        assert!(fake.mutating_calls().is_empty(), "{args:?}: {:?}", fake.mutating_calls());
    }

    let dir = std::env::temp_dir().join(format!("sfndeploy-flow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.asl.json");
    std::fs::write(&bad, r#"{"Comment": "no states"}"#).unwrap();
    let fake = standard();
    let run = deploy(&fake, &["--file", bad.to_str().unwrap(), "--publish-revision"]).await;
    assert_eq!(run.code(), ExitCode::Usage);
    assert!(run.message().contains("SCHEMA_VALIDATION_FAILED"), "{}", run.message());
    assert!(fake.mutating_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn file_with_publish_revision_deploys_exactly_that_file() {
    let dir = std::env::temp_dir().join(format!("sfndeploy-flow-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("new.asl.json");
    let text = fake::definition("from-file");
    std::fs::write(&path, &text).unwrap();
    let fake = standard();
    let run =
        deploy(&fake, &["--file", path.to_str().unwrap(), "--publish-revision", "--interval", "0"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(4, 100)]);
    assert_eq!(fake.state().versions.last().unwrap().definition, text);
    let ops: Vec<&str> = fake.mutating_calls().iter().map(|c| c.op).collect();
    assert_eq!(ops, ["UpdateStateMachine", "UpdateStateMachineAlias"]);
}

#[tokio::test(start_paused = true)]
async fn composite_alarms_count_and_hundreds_of_names_are_batched() {
    let mut fake = standard().with_alarm("composite", "OK", true);
    let mut names = vec!["errors".to_string(), "composite".to_string()];
    for i in 0..150 {
        let name = format!("alarm {i}");
        fake = fake.with_alarm(&name, "OK", false);
        names.push(name);
    }
    fire_alarm_after(&fake, "composite", Duration::from_secs(5));
    let mut args = vec!["--strategy", "canary", "--interval", "10", "--alarm-polling", "1", "--alarms"];
    args.extend(names.iter().map(String::as_str));
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::RolledBack, "{}", run.message());
    assert!(run.message().contains("composite"));
    assert!(fake.calls_of("DescribeAlarms").iter().all(|c| c.detail.split(',').count() <= 100));
}

#[tokio::test(start_paused = true)]
async fn pruning_is_paced_to_stay_inside_the_api_rate() {
    let fake = Fake::new("orders", 80).with_alias("prod", &[(79, 100)]);
    let run = deploy(&fake, &["--history-max", "3", "--interval", "0"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let deletes: Vec<f64> =
        fake.calls_of("DeleteStateMachineVersion").iter().map(|c| c.at.as_secs_f64()).collect();
    assert_eq!(deletes.len(), 77);
    let start = deletes[0];
    assert!(deletes[49] - start < 0.001, "the first 50 go at once");
    // Then one per second: the 77th is 27 s after the first.
    assert!((deletes[76] - start - 27.0).abs() < 0.01, "last delete at {}", deletes[76] - start);
    for pair in deletes[50..].windows(2) {
        assert!((pair[1] - pair[0] - 1.0).abs() < 0.01, "paced at 1/s: {pair:?}");
    }

    let fake = Fake::new("orders", 80).with_alias("prod", &[(79, 100)]);
    let run = deploy(&fake, &["--history-max", "3", "--interval", "0", "--prune-rate", "4"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let deletes = fake.calls_of("DeleteStateMachineVersion");
    let span = deletes.last().unwrap().at - deletes[0].at;
    assert!((span.as_secs_f64() - 27.0 / 4.0).abs() < 0.01, "{span:?}");
}

#[tokio::test(start_paused = true)]
async fn a_state_machine_in_another_partition_is_found_by_name_and_deployed() {
    let fake = Fake::new_in("aws-cn", "cn-north-1", "orders", 3)
        .with_alias("prod", &[(2, 100)])
        .with_alarm("errors", "OK", false);
    let run = deploy(&fake, &["--strategy", "canary", "--interval", "2", "--alarms", "errors"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(3, 100)]);
    let described = fake.calls_of("DescribeStateMachine");
    assert!(
        described[0].detail.starts_with("arn:aws-cn:states:cn-north-1:123456789012:stateMachine:orders"),
        "{:?}",
        described[0]
    );
}
