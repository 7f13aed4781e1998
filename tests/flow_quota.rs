//! The version quota: a full state machine is rescued by `--history-max` (prune first, then
//! publish once more) and refused in one sentence without it. In-process, virtual time.

mod fake;

use fake::{Fake, deploy};
use sfndeploy::exit_code::ExitCode;

/// Ten versions, all the quota allows; prod on v2; a new revision waiting to be published.
fn full() -> Fake {
    let fake = Fake::new("orders", 10).with_alias("prod", &[(2, 100)]).with_unpublished_revision();
    fake.state().version_quota = 10;
    fake
}

fn numbers(fake: &Fake) -> Vec<u32> {
    fake.state().versions.iter().map(|v| v.number).collect()
}

#[tokio::test(start_paused = true)]
async fn a_full_state_machine_is_pruned_first_then_published_with_history_max() {
    let fake = full();
    let run = deploy(&fake, &["--publish-revision", "--history-max", "5", "--interval", "0"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.routing("prod"), [(11, 100)]);
    let ops: Vec<&str> = fake.calls().iter().map(|c| c.op).collect();
    let publishes: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| **op == "PublishStateMachineVersion")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(publishes.len(), 2, "refused once, then published: {ops:?}");
    let first_delete = ops.iter().position(|op| *op == "DeleteStateMachineVersion").expect("pruned");
    assert!(publishes[0] < first_delete && first_delete < publishes[1], "{ops:?}");
    // Before publishing: the newest 5 (6..10) and the alias's v2 kept. After the deploy: the
    // newest 5 and the version rolled away from (v2), as after any deploy.
    assert_eq!(numbers(&fake), [2, 7, 8, 9, 10, 11]);
}

#[tokio::test(start_paused = true)]
async fn a_file_on_a_full_state_machine_is_uploaded_after_pruning() {
    let fake = full();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flow-quota");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("new.asl.json");
    std::fs::write(&path, fake::definition("from-file")).unwrap();
    let file = path.to_str().unwrap();
    let run =
        deploy(&fake, &["--file", file, "--publish-revision", "--history-max", "3", "--interval", "0"]).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    assert_eq!(fake.calls_of("UpdateStateMachine").len(), 2);
    let s = fake.state();
    assert_eq!(s.versions.last().unwrap().definition, fake::definition("from-file"));
}

#[tokio::test(start_paused = true)]
async fn without_history_max_a_full_state_machine_is_one_sentence_and_nothing_changes() {
    let fake = full();
    let run = deploy(&fake, &["--publish-revision", "--interval", "0"]).await;
    assert_eq!(run.code(), ExitCode::Failure, "{}", run.message());
    let message = run.message();
    assert!(message.contains("quota") && message.contains("--history-max"), "{message}");
    assert!(!message.contains('\n'), "one sentence: {message}");
    assert!(fake.calls_of("DeleteStateMachineVersion").is_empty());
    assert!(fake.calls_of("UpdateStateMachineAlias").is_empty());
    assert_eq!(numbers(&fake), (1..=10).collect::<Vec<_>>());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
}

#[tokio::test(start_paused = true)]
async fn history_max_that_frees_nothing_says_so() {
    let fake = full();
    let run = deploy(&fake, &["--publish-revision", "--history-max", "10", "--interval", "0"]).await;
    assert_eq!(run.code(), ExitCode::Failure, "{}", run.message());
    assert!(run.message().contains("leaves none to delete"), "{}", run.message());
    assert_eq!(fake.routing("prod"), [(2, 100)]);
    assert!(fake.calls_of("DeleteStateMachineVersion").is_empty());
}
