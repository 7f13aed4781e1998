//! End to end: bad input leaves AWS exactly as it was (versions, aliases, revision), exits
//! non-zero and says why in one line, with no backtrace.

mod support;

use support::{Aws, Machine, emulator, run};

#[tokio::test]
async fn bad_input_changes_nothing_and_says_why_in_one_line() {
    let Some(emulator) = emulator() else { return };
    let aws = Aws::new(emulator).await;
    let m = Machine::create(&aws, "badinput", 2).await;
    m.create_alias("prod", &[(1, 100)]).await;
    // A pending revision: any run that wrongly went ahead would publish it.
    m.update(&support::definition("pending"), false).await;
    let ok_alarm = format!("{}-ok", m.name);
    let hot_alarm = format!("{}-hot", m.name);
    aws.metric_alarm(&ok_alarm, "OK").await;
    aws.metric_alarm(&hot_alarm, "ALARM").await;

    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&m.name);
    std::fs::create_dir_all(&dir).unwrap();
    let invalid = dir.join("invalid.asl.json");
    // LocalStack checks syntax and state types (AWS checks more, e.g. a missing StartAt target).
    std::fs::write(&invalid, r#"{"StartAt": "P", "States": {"P": {"Type": "Bogus", "End": true}}}"#).unwrap();
    let missing = dir.join("missing.asl.json");
    let (invalid, missing) = (invalid.to_str().unwrap().to_string(), missing.to_str().unwrap().to_string());
    let unknown_sm = format!("{}-nope", m.name);
    let unknown_alarm = format!("{}-nope", m.name);

    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--state-machine", &unknown_sm], 1, "does not exist"),
        (vec!["--state-machine", &m.name, "--alarms", &ok_alarm, &unknown_alarm], 1, "no alarm named"),
        (vec!["--state-machine", &m.name, "--alarms", &ok_alarm, &hot_alarm], 1, "already in ALARM"),
        (vec!["--state-machine", &m.name, "--file", &missing], 2, "cannot read --file"),
        (vec!["--state-machine", &m.name, "--file", &invalid], 2, "not a valid state machine definition"),
        (vec!["--state-machine", &m.name, "--history-max", "1"], 2, "--history-max"),
        (vec!["--state-machine", &m.name, "--increment", "0"], 2, "--increment"),
    ];
    let before = m.snapshot().await;
    for (args, code, reason) in cases {
        // LocalStack re-evaluates metric alarms (no data: INSUFFICIENT_DATA), so set it each time.
        aws.set_alarm(&hot_alarm, "ALARM").await;
        let mut argv = args.clone();
        argv.extend(["--alias", "prod", "--publish-revision", "--strategy", "canary", "--interval", "0"]);
        let out = run(&aws.endpoint, &argv).await;
        assert_eq!(out.code, code, "{args:?}: {out:#?}");
        let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: one error line: {}", out.stderr);
        assert!(errors[0].contains(reason), "{args:?}: {}", errors[0]);
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("stack backtrace"),
            "{}",
            out.stderr
        );
        assert_eq!(m.snapshot().await, before, "{args:?} changed AWS");
    }
}

#[tokio::test]
async fn no_region_is_a_clear_usage_error() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sfndeploy"))
        .args(["--state-machine", "orders", "--alias", "prod"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no AWS region"), "{stderr}");
}
