//! End to end on the emulator: before any change, the definition is read as a state machine.
//! `--dry-run` and the GitHub summary name an added state and a changed one; a Lambda function
//! called by its unqualified ARN is warned about by name; the same definition says so.

mod support;

use support::{deployable, run, spawn};

const NEW: &str = r#"{"StartAt":"P","States":{
  "P":{"Type":"Pass","Result":"v2","Next":"Charge"},
  "Charge":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:charge","End":true}}}"#;

#[tokio::test]
async fn a_dry_run_and_the_summary_name_what_changed_and_the_unpinned_lambda() {
    let Some((_aws, proxy, m)) = deployable("review", 1).await else { return };
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("review-{}", m.name));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("orders.asl.json");
    std::fs::write(&file, NEW).unwrap();
    let summary = dir.join("summary.md");
    let before = m.snapshot().await;
    let out = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine",
            &m.name,
            "--alias",
            "prod",
            "--file",
            file.to_str().unwrap(),
            "--publish-revision",
            "--dry-run",
        ],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())],
    )
    .finish()
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(m.snapshot().await, before, "a dry run changes nothing");
    assert!(out.stderr.contains("states added: Charge"), "{}", out.stderr);
    assert!(out.stderr.contains("states changed: P: Result, Next, End"), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "state Charge calls arn:aws:lambda:us-east-1:000000000000:function:charge unqualified (it runs $LATEST)"
        ),
        "{}",
        out.stderr
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("| Definition | states added: Charge; states changed: P: Result, Next, End |"),
        "{md}"
    );
    assert!(md.contains("<details><summary>Definition diff</summary>"), "{md}");
    assert!(md.contains("+  \"StartAt\": \"P\"") || md.contains("+      \"Result\": \"v2\""), "{md}");
}

#[tokio::test]
async fn the_same_definition_is_worth_a_second_look() {
    let Some((_aws, proxy, m)) = deployable("review-same", 1).await else { return };
    // A new revision identical to v1, published as v2 by this deploy.
    let out = run(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--publish-revision", "--dry-run", "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let changed = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "definition_changed")
        .expect("a definition_changed event");
    // The current revision is v1's own definition: publishing it changes nothing.
    assert_eq!(changed["same"], true, "{changed}");
    assert_eq!(changed["summary"], "same definition", "{changed}");
    assert!(out.stderr.contains("same definition as v1"), "{}", out.stderr);
}
