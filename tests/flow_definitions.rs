//! Definitions as teams keep them, in-process: a `--file` in YAML, and `${NAME}` substitutions
//! (given, and the built-ins for the state machine's own region, account and partition) made
//! before anything is uploaded; a placeholder left is refused before any change.

mod fake;

use fake::{Fake, deploy};
use sfndeploy::exit_code::ExitCode;

/// A file of this test's own, holding `text`; its path.
fn file(name: &str, text: &str) -> &'static str {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("flow-definitions");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    Box::leak(path.to_str().unwrap().to_string().into_boxed_str())
}

const YAML: &str = "\
# Workflow Studio keeps definitions like this.
Comment: orders in ${AWS::Region}
StartAt: Store
States:
  Store:
    Type: Pass
    Result:
      bucket: ${Bucket}
      queue: arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:orders
      literal: ${!NotMine}
    End: true
";

#[tokio::test(start_paused = true)]
async fn a_yaml_definition_is_uploaded_as_json_with_its_substitutions_made() {
    let fake = Fake::new_in("aws", "eu-west-1", "orders", 2).with_alias("prod", &[(2, 100)]);
    let path = file("orders.asl.yaml", YAML);
    let args =
        ["--file", path, "--publish-revision", "--substitution", "Bucket=orders-eu", "--interval", "0"];
    let run = deploy(&fake, &args).await;
    assert_eq!(run.code(), ExitCode::Success, "{}", run.message());
    let uploaded: serde_json::Value =
        serde_json::from_str(&fake.state().definition).expect("JSON was uploaded");
    assert_eq!(uploaded["Comment"], "orders in eu-west-1");
    let result = &uploaded["States"]["Store"]["Result"];
    assert_eq!(result["bucket"], "orders-eu");
    assert_eq!(result["queue"], format!("arn:aws:sqs:eu-west-1:{}:orders", fake::ACCOUNT));
    assert_eq!(result["literal"], "${NotMine}");
    // The keys keep the file's order.
    let keys: Vec<&String> = uploaded.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["Comment", "StartAt", "States"]);
    assert_eq!(fake.routing("prod"), [(3, 100)]);
}

#[tokio::test(start_paused = true)]
async fn a_placeholder_left_unreplaced_changes_nothing() {
    let fake = Fake::new("orders", 2).with_alias("prod", &[(2, 100)]);
    let path = file("left.asl.yaml", YAML);
    let run = deploy(&fake, &["--file", path, "--publish-revision"]).await;
    assert_eq!(run.code(), ExitCode::Usage, "{}", run.message());
    let message = run.message();
    assert!(
        message.contains("${Bucket} (line 8) not replaced") && message.contains("--substitution"),
        "{message}"
    );
    assert!(fake.mutating_calls().is_empty(), "{:?}", fake.mutating_calls());
}

#[test]
fn broken_yaml_is_one_sentence_with_its_line() {
    let path = file("broken.asl.yml", "StartAt: P\nStates:\n  P: [\n    Type: Pass\n");
    let argv =
        ["sfndeploy", "--state-machine", "orders", "--alias", "prod", "--file", path, "--publish-revision"];
    let cli = <sfndeploy::cli::Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let err = sfndeploy::config::DeployConfig::from_args(&cli.deploy, Default::default()).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("is not valid YAML: line 3 column 6: unclosed bracket"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}
